//! Customer journeys: what Threadline does, on its own, when a customer
//! does something — "visited the pricing page three times this week: ask
//! sales to call", "left a cart: an e-mail after an hour, a WhatsApp
//! template after a day, unless they ordered".
//!
//! A journey is a [`JourneySpec`]: a trigger, a tree of steps (waits,
//! branches, sends, tasks…), a goal and exit rules. Each customer who
//! enters has a run that walks the tree. This module holds the rules — what
//! a spec may say, which step comes next, when a wait ends in the
//! customer's own time zone, whether a send may go now — and does no I/O:
//! the server gathers the facts ([`ContactFacts`]) and performs the
//! effects, one row per (run, step) so each executes once.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::channel::Channel;
use crate::conversation::string_enum;
use crate::ids::{ContactId, JourneyId, JourneyRunId, SegmentId, TeamId, UserId};
use crate::segment::SegmentChange;
use crate::tracking::{CallKind, CustomerEvent};
use crate::validation::ValidationErrors;

/// The most steps one journey may have (all branches counted).
pub const MAX_STEPS: usize = 200;
/// The longest wait: a year.
pub const MAX_WAIT_SECS: u64 = 366 * 86_400;

// ---------------------------------------------------------------------------
// What a journey says
// ---------------------------------------------------------------------------

/// One version of a journey: what starts it, what it does, when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JourneySpec {
    pub trigger: Trigger,
    /// Who may enter, checked when the trigger fires (all must hold).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audience: Vec<Condition>,
    pub steps: Vec<Step>,
    /// What counts as success: the run ends as converted when it happens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<Goal>,
    /// Events that end a run at once, wherever it is (a purchase ends an
    /// abandoned-cart journey even while it waits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exit_when: Vec<EventFilter>,
    #[serde(default)]
    pub reentry: Reentry,
    /// The time zone for customers whose own is unknown (IANA name; default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// What starts a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Trigger {
    /// A tracked event; with `at_least`, only when it is the Nth such event
    /// within the window ("pricing page three times in seven days").
    Event {
        #[serde(flatten)]
        filter: EventFilter,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_least: Option<Frequency>,
    },
    /// Something happened to one of the customer's conversations.
    Conversation { on: ConversationTrigger },
    /// The customer entered (or left) a segment.
    Segment {
        segment_id: SegmentId,
        #[serde(default)]
        on: SegmentChange,
    },
    /// A date in the customer's attributes (`birthday`, `warranty_ends`):
    /// the run starts `days_before` it (negative: after), at `at` local time.
    Date {
        attribute: String,
        #[serde(default)]
        days_before: i32,
        #[serde(default = "nine")]
        at: String,
        /// Every year on the day (birthdays), not only the date itself.
        #[serde(default)]
        yearly: bool,
    },
}

fn nine() -> String {
    "09:00".into()
}

string_enum! {
    /// What happened to a customer's conversation: it was resolved, it
    /// missed an SLA target, or the customer answered its survey.
    ConversationTrigger {
        Resolved => "resolved",
        SlaMissed => "sla_missed",
        SurveyAnswered => "survey_answered",
    }
}

/// "At least `times` within `days` days".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Frequency {
    pub times: u32,
    pub days: u32,
}

/// Which events match: a call type, a name, conditions on properties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// `track` (default), `page` or `screen`.
    #[serde(default = "track")]
    pub kind: CallKind,
    /// The event's name (`Order Completed`) or page name; absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<PropertyCondition>,
}

fn track() -> CallKind {
    CallKind::Track
}

impl EventFilter {
    pub fn matches(&self, event: &CustomerEvent) -> bool {
        event.kind == self.kind
            && self.name.as_deref().is_none_or(|n| event.name.as_deref() == Some(n))
            && self.properties.iter().all(|c| c.op.holds(lookup(&event.properties, &c.property), c.value.as_ref()))
    }
}

/// A condition on a property or attribute: `path` may go into objects
/// with dots (`product.sku`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyCondition {
    pub property: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

string_enum! {
    Op {
        Equals => "equals",
        NotEquals => "not_equals",
        Contains => "contains",
        StartsWith => "starts_with",
        GreaterThan => "greater_than",
        LessThan => "less_than",
        Exists => "exists",
        NotExists => "not_exists",
    }
}

impl Op {
    /// Whether `actual` (absent: `None`) stands in this relation to `expected`.
    pub fn holds(self, actual: Option<&Value>, expected: Option<&Value>) -> bool {
        let as_text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match (self, actual, expected) {
            (Op::Exists, a, _) => a.is_some_and(|v| !v.is_null()),
            (Op::NotExists, a, _) => a.is_none_or(Value::is_null),
            (_, None, _) | (_, _, None) => self == Op::NotEquals && actual.is_none(),
            (Op::Equals, Some(a), Some(e)) => a == e || as_text(a) == as_text(e),
            (Op::NotEquals, Some(a), Some(e)) => !(a == e || as_text(a) == as_text(e)),
            (Op::Contains, Some(Value::Array(items)), Some(e)) => items.iter().any(|i| i == e || as_text(i) == as_text(e)),
            (Op::Contains, Some(a), Some(e)) => as_text(a).to_lowercase().contains(&as_text(e).to_lowercase()),
            (Op::StartsWith, Some(a), Some(e)) => as_text(a).starts_with(&as_text(e)),
            (Op::GreaterThan | Op::LessThan, Some(a), Some(e)) => match (number(a), number(e)) {
                (Some(a), Some(e)) => {
                    if self == Op::GreaterThan {
                        a > e
                    } else {
                        a < e
                    }
                }
                // Dates and other text compare as text (RFC 3339 sorts).
                _ => {
                    let (a, e) = (as_text(a), as_text(e));
                    if self == Op::GreaterThan { a > e } else { a < e }
                }
            },
        }
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A value inside a JSON object by dotted path.
pub fn lookup<'a>(object: &'a serde_json::Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut current = object.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// The run succeeded when this event happens within `within_days` of entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    pub event: EventFilter,
    pub within_days: u32,
}

/// May a customer enter again?
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reentry {
    /// Once ever.
    Never,
    /// Again once the previous run has ended (the default): one run at a time.
    #[default]
    AfterExit,
    /// Again once the previous run has ended and `days` have passed since it began.
    AfterDays { days: u32 },
}

/// A condition on the customer, for branches and the audience.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Condition {
    /// An attribute (custom or built-in: `name`, `language`, `time_zone`…).
    Attribute {
        #[serde(flatten)]
        condition: PropertyCondition,
    },
    /// Did the event at least `times` times in the last `days` days.
    Did {
        event: EventFilter,
        #[serde(default = "one")]
        times: u32,
        days: u32,
    },
    /// Did not do the event in the last `days` days (or since the run began, if sooner).
    DidNot { event: EventFilter, days: u32 },
    /// Did `since` (an `Order Started`) and not `event` after the last one
    /// of them ("started checkout and has not ordered since").
    DidNotSince { event: EventFilter, since: EventFilter },
    /// Consent for a purpose on a channel is granted (not merely unrefused).
    Consent { channel: Channel, purpose: Purpose },
    /// Has a conversation that is not resolved.
    HasOpenConversation,
    /// Started at least `times` conversations (on `channel`, if named) in
    /// the last `days` days.
    Conversations {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<Channel>,
        #[serde(default = "one")]
        times: u32,
        days: u32,
    },
    /// Is a member of a segment now.
    InSegment { segment_id: SegmentId },
}

fn one() -> u32 {
    1
}

string_enum! {
    /// Why a message is sent, for consent and frequency caps.
    Purpose {
        /// Offers and news: needs marketing consent, counts against caps, waits out quiet hours.
        Marketing => "marketing",
        /// Care about something the customer is doing (a cart, a visit).
        Service => "service",
        /// Receipts and notices the customer expects: exempt from caps and quiet hours.
        Transactional => "transactional",
    }
}

string_enum! {
    TaskKind { Call => "call", Reply => "reply", FollowUp => "follow_up" }
}

/// One step and its id (unique in the journey; runs record it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Step {
    pub id: String,
    #[serde(flatten)]
    pub action: Action,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Wait a while.
    Wait { seconds: u64 },
    /// Wait until a time window in the customer's own time zone ("weekdays 9–18").
    WaitWindow(Window),
    /// Wait for an event; `then` if it comes, `timeout` if not within `timeout_seconds`.
    WaitForEvent {
        event: EventFilter,
        timeout_seconds: u64,
        #[serde(default)]
        #[schema(no_recursion)]
        then: Vec<Step>,
        #[serde(default)]
        #[schema(no_recursion)]
        timeout: Vec<Step>,
    },
    /// The first branch whose conditions all hold; else `otherwise`.
    Branch {
        branches: Vec<BranchArm>,
        #[serde(default)]
        #[schema(no_recursion)]
        otherwise: Vec<Step>,
    },
    /// Send a message.
    Send(SendStep),
    /// A task for people: "call this customer".
    Task(TaskStep),
    /// Set (or, with `null`, remove) a custom attribute.
    SetAttribute { key: String, value: Value },
    /// Add a label to the customer (the `labels` custom attribute).
    AddLabel { label: String },
    /// Open a conversation for the team (a note says why).
    OpenConversation {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        team_id: Option<TeamId>,
        note: String,
    },
    /// POST the run and customer to a URL (signed like event webhooks).
    Webhook { url: String },
    /// End the run here.
    Exit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// `monday` … `sunday`; empty: every day.
    #[serde(default)]
    pub days: Vec<String>,
    /// Local time, `HH:MM`.
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BranchArm {
    pub name: String,
    pub when: Vec<Condition>,
    #[serde(default)]
    #[schema(no_recursion)]
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendStep {
    /// A channel, or `preferred`: the customer's preferred channel for `topic`.
    pub channel: ChannelChoice,
    /// For `preferred`: the topic (`orders`, `marketing`…) whose preference counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Channels to try, in order, when the first cannot be used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback: Vec<Channel>,
    pub purpose: Purpose,
    /// The text (with `{{name}}`-style variables from the customer); for
    /// channels with templates outside their window, `template` is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// An approved template's name, for channels that need one (WhatsApp outside 24 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The template's values, with `{{…}}` variables filled in from the customer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<String>,
}

/// `preferred`, or a channel name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelChoice {
    Preferred,
    Channel(Channel),
}

impl utoipa::PartialSchema for ChannelChoice {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("a channel (`email`, `whatsapp`…) or `preferred`"))
            .into()
    }
}
impl utoipa::ToSchema for ChannelChoice {}

impl Serialize for ChannelChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ChannelChoice::Preferred => s.serialize_str("preferred"),
            ChannelChoice::Channel(c) => c.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ChannelChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "preferred" {
            return Ok(ChannelChoice::Preferred);
        }
        text.parse::<Channel>()
            .ok()
            .map(ChannelChoice::Channel)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown channel `{text}` (or `preferred`)")))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskStep {
    /// What to do, with `{{…}}` variables ("Call {{name}}: pricing 3× this week").
    pub title: String,
    pub kind: TaskKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<TeamId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<UserId>,
    /// Due this long after it is created (default: a day).
    #[serde(default = "a_day")]
    pub due_in_seconds: u64,
}

fn a_day() -> u64 {
    86_400
}

// ---------------------------------------------------------------------------
// Checking a spec
// ---------------------------------------------------------------------------

impl JourneySpec {
    /// Every step, depth first, in the order a run could meet them.
    pub fn all_steps(&self) -> Vec<&Step> {
        let mut out = Vec::new();
        fn walk<'a>(steps: &'a [Step], out: &mut Vec<&'a Step>) {
            for step in steps {
                out.push(step);
                for (_, children) in step.children() {
                    walk(children, out);
                }
            }
        }
        walk(&self.steps, &mut out);
        out
    }

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.all_steps().into_iter().find(|s| s.id == id)
    }

    /// Checks everything that does not need the database (teams, templates
    /// and time zones are the caller's to check). Field names point into
    /// the spec (`steps[2].then[0].seconds`).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        match &self.trigger {
            Trigger::Event { filter, at_least } => {
                check_filter(filter, "trigger", &mut errors);
                if let Some(f) = at_least
                    && (f.times == 0 || f.times > 1000 || f.days == 0 || f.days > 366)
                {
                    errors.push("trigger.at_least", "times must be 1–1000 and days 1–366");
                }
            }
            Trigger::Date { attribute, days_before, at, .. } => {
                if attribute.trim().is_empty() || attribute.len() > 100 {
                    errors.push("trigger.attribute", "name the date attribute (1–100 characters)");
                }
                if days_before.unsigned_abs() > 366 {
                    errors.push("trigger.days_before", "must be within a year either way");
                }
                if parse_clock(at).is_none() {
                    errors.push("trigger.at", "must be a local time HH:MM");
                }
            }
            Trigger::Conversation { .. } => {}
            Trigger::Segment { .. } => {}
        }
        for (i, c) in self.audience.iter().enumerate() {
            check_condition(c, &format!("audience[{i}]"), &mut errors);
        }
        if self.steps.is_empty() {
            errors.push("steps", "a journey needs at least one step");
        }
        let mut ids = HashSet::new();
        check_steps(&self.steps, "steps", &mut ids, &mut errors);
        if ids.len() > MAX_STEPS {
            errors.push("steps", format!("at most {MAX_STEPS} steps"));
        }
        if let Some(goal) = &self.goal {
            check_filter(&goal.event, "goal.event", &mut errors);
            if goal.within_days == 0 || goal.within_days > 366 {
                errors.push("goal.within_days", "must be 1–366");
            }
        }
        for (i, f) in self.exit_when.iter().enumerate() {
            check_filter(f, &format!("exit_when[{i}]"), &mut errors);
        }
        if let Reentry::AfterDays { days } = self.reentry
            && (days == 0 || days > 3660)
        {
            errors.push("reentry.days", "must be 1–3660");
        }
        if let Some(zone) = &self.time_zone
            && jiff::tz::TimeZone::get(zone).is_err()
        {
            errors.push("time_zone", format!("unknown time zone `{zone}`"));
        }
        errors.into_result(())
    }
}

impl Step {
    /// The step's nested lists, with their field names.
    pub fn children(&self) -> Vec<(String, &[Step])> {
        match &self.action {
            Action::WaitForEvent { then, timeout, .. } => vec![("then".into(), then.as_slice()), ("timeout".into(), timeout.as_slice())],
            Action::Branch { branches, otherwise } => {
                let mut out: Vec<(String, &[Step])> =
                    branches.iter().enumerate().map(|(i, b)| (format!("branches[{i}].steps"), b.steps.as_slice())).collect();
                out.push(("otherwise".into(), otherwise.as_slice()));
                out
            }
            _ => Vec::new(),
        }
    }
}

fn check_steps(steps: &[Step], path: &str, ids: &mut HashSet<String>, errors: &mut ValidationErrors) {
    for (i, step) in steps.iter().enumerate() {
        let here = format!("{path}[{i}]");
        if step.id.is_empty() || step.id.len() > 64 || !step.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            errors.push(format!("{here}.id"), "1–64 letters, digits, `_` or `-`");
        } else if !ids.insert(step.id.clone()) {
            errors.push(format!("{here}.id"), format!("`{}` is used by another step", step.id));
        }
        match &step.action {
            Action::Wait { seconds } if *seconds == 0 || *seconds > MAX_WAIT_SECS => {
                errors.push(format!("{here}.seconds"), "must be 1 second to a year");
            }
            Action::WaitWindow(window) => check_window(window, &here, errors),
            Action::WaitForEvent { event, timeout_seconds, .. } => {
                check_filter(event, &format!("{here}.event"), errors);
                if *timeout_seconds == 0 || *timeout_seconds > MAX_WAIT_SECS {
                    errors.push(format!("{here}.timeout_seconds"), "must be 1 second to a year");
                }
            }
            Action::Branch { branches, .. } => {
                if branches.is_empty() {
                    errors.push(format!("{here}.branches"), "a branch needs at least one arm");
                }
                for (b, arm) in branches.iter().enumerate() {
                    if arm.when.is_empty() {
                        errors.push(format!("{here}.branches[{b}].when"), "an arm needs a condition (use `otherwise` for the rest)");
                    }
                    for (c, cond) in arm.when.iter().enumerate() {
                        check_condition(cond, &format!("{here}.branches[{b}].when[{c}]"), errors);
                    }
                }
            }
            Action::Send(send) => {
                let has_text = send.text.as_deref().is_some_and(|t| !t.trim().is_empty());
                if !has_text && send.template.is_none() {
                    errors.push(format!("{here}.text"), "a send needs its text, a template, or both");
                }
                if send.text.as_deref().is_some_and(|t| t.chars().count() > 10_000) {
                    errors.push(format!("{here}.text"), "at most 10,000 characters");
                }
                if send.channel == ChannelChoice::Preferred && send.topic.as_deref().is_none_or(|t| t.trim().is_empty()) {
                    errors.push(format!("{here}.topic"), "the preferred channel is per topic: name it");
                }
            }
            Action::Task(task) => {
                if task.title.trim().is_empty() || task.title.chars().count() > 500 {
                    errors.push(format!("{here}.title"), "1–500 characters");
                }
                if task.due_in_seconds > MAX_WAIT_SECS {
                    errors.push(format!("{here}.due_in_seconds"), "at most a year");
                }
            }
            Action::SetAttribute { key, .. } if key.trim().is_empty() || key.chars().count() > 100 => {
                errors.push(format!("{here}.key"), "1–100 characters");
            }
            Action::AddLabel { label } if label.trim().is_empty() || label.chars().count() > 100 => {
                errors.push(format!("{here}.label"), "1–100 characters");
            }
            Action::OpenConversation { note, .. } if note.trim().is_empty() || note.chars().count() > 2000 => {
                errors.push(format!("{here}.note"), "1–2,000 characters");
            }
            Action::Webhook { url } if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2000 => {
                errors.push(format!("{here}.url"), "an http(s) URL of at most 2,000 characters");
            }
            _ => {}
        }
        for (name, children) in step.children() {
            check_steps(children, &format!("{here}.{name}"), ids, errors);
        }
    }
}

fn check_filter(filter: &EventFilter, path: &str, errors: &mut ValidationErrors) {
    if !matches!(filter.kind, CallKind::Track | CallKind::Page | CallKind::Screen) {
        errors.push(format!("{path}.kind"), "must be track, page or screen");
    }
    if filter.kind == CallKind::Track && filter.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        errors.push(format!("{path}.name"), "name the event");
    }
    for (i, c) in filter.properties.iter().enumerate() {
        if c.property.trim().is_empty() {
            errors.push(format!("{path}.properties[{i}].property"), "name the property");
        }
        if !matches!(c.op, Op::Exists | Op::NotExists) && c.value.is_none() {
            errors.push(format!("{path}.properties[{i}].value"), "this comparison needs a value");
        }
    }
}

pub(crate) fn check_condition(condition: &Condition, path: &str, errors: &mut ValidationErrors) {
    match condition {
        Condition::Attribute { condition } => {
            if condition.property.trim().is_empty() {
                errors.push(format!("{path}.property"), "name the attribute");
            }
            if !matches!(condition.op, Op::Exists | Op::NotExists) && condition.value.is_none() {
                errors.push(format!("{path}.value"), "this comparison needs a value");
            }
        }
        Condition::Did { event, times, days } => {
            check_filter(event, &format!("{path}.event"), errors);
            if *times == 0 || *days == 0 || *days > 366 {
                errors.push(format!("{path}.days"), "times at least 1 and days 1–366");
            }
        }
        Condition::DidNot { event, days } => {
            check_filter(event, &format!("{path}.event"), errors);
            if *days == 0 || *days > 366 {
                errors.push(format!("{path}.days"), "must be 1–366");
            }
        }
        Condition::DidNotSince { event, since } => {
            check_filter(event, &format!("{path}.event"), errors);
            check_filter(since, &format!("{path}.since"), errors);
        }
        Condition::Conversations { times, days, .. } => {
            if *times == 0 || *times > 1000 || *days == 0 || *days > 366 {
                errors.push(format!("{path}.days"), "times 1–1000 and days 1–366");
            }
        }
        Condition::Consent { .. } | Condition::HasOpenConversation | Condition::InSegment { .. } => {}
    }
}

fn check_window(window: &Window, path: &str, errors: &mut ValidationErrors) {
    for (i, day) in window.days.iter().enumerate() {
        if weekday(day).is_none() {
            errors.push(format!("{path}.days[{i}]"), "monday … sunday");
        }
    }
    match (parse_clock(&window.from), parse_clock(&window.to)) {
        (Some(from), Some(to)) if from != to => {}
        (Some(_), Some(_)) => errors.push(format!("{path}.to"), "the window must not be empty"),
        _ => errors.push(format!("{path}.from"), "times are HH:MM"),
    }
}

fn weekday(name: &str) -> Option<jiff::civil::Weekday> {
    use jiff::civil::Weekday::*;
    Some(match name.to_ascii_lowercase().as_str() {
        "monday" => Monday,
        "tuesday" => Tuesday,
        "wednesday" => Wednesday,
        "thursday" => Thursday,
        "friday" => Friday,
        "saturday" => Saturday,
        "sunday" => Sunday,
        _ => return None,
    })
}

/// `HH:MM` as a civil time.
pub fn parse_clock(text: &str) -> Option<jiff::civil::Time> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    jiff::civil::Time::new(h, m, 0, 0).ok()
}

// ---------------------------------------------------------------------------
// Walking the steps
// ---------------------------------------------------------------------------

/// The step after `id` in the tree: its next sibling, or (when it is the
/// last of its list) the step after the one that holds that list. `None`:
/// the journey is done.
pub fn next_after(spec: &JourneySpec, id: &str) -> Option<String> {
    fn find(steps: &[Step], id: &str, after_list: Option<&str>) -> Option<Option<String>> {
        for (i, step) in steps.iter().enumerate() {
            let following = steps.get(i + 1).map(|s| s.id.as_str()).or(after_list);
            if step.id == id {
                return Some(following.map(str::to_owned));
            }
            for (_, children) in step.children() {
                if let Some(found) = find(children, id, following) {
                    return Some(found);
                }
            }
        }
        None
    }
    find(&spec.steps, id, None).flatten()
}

/// The first step of a nested list, or, when it is empty, the step after
/// the step that holds it.
pub fn enter_list(spec: &JourneySpec, holder: &str, list: &[Step]) -> Option<String> {
    list.first().map(|s| s.id.clone()).or_else(|| next_after(spec, holder))
}

/// What the engine learns about a customer to decide.
#[derive(Debug, Clone, Default)]
pub struct ContactFacts {
    /// Built-in fields (`name`, `language`, `time_zone`) and every attribute.
    pub attributes: serde_json::Map<String, Value>,
    /// Recent events, any order (the engine loads what the conditions need).
    pub events: Vec<CustomerEvent>,
    /// (channel, purpose) → granted.
    pub consents: BTreeMap<(Channel, String), bool>,
    pub has_open_conversation: bool,
    /// When each recent conversation began, and on which channel.
    pub conversations: Vec<(Channel, OffsetDateTime)>,
    /// The segments the customer is a member of.
    pub segments: BTreeSet<SegmentId>,
}

impl ContactFacts {
    /// How many events match `filter` at or after `since`.
    pub fn count(&self, filter: &EventFilter, since: OffsetDateTime) -> usize {
        self.events.iter().filter(|e| e.occurred_at >= since && filter.matches(e)).count()
    }

    pub fn holds(&self, condition: &Condition, now: OffsetDateTime, run_started: Option<OffsetDateTime>) -> bool {
        match condition {
            Condition::Attribute { condition } => {
                condition.op.holds(lookup(&self.attributes, &condition.property), condition.value.as_ref())
            }
            Condition::Did { event, times, days } => self.count(event, now - Duration::days(i64::from(*days))) >= *times as usize,
            Condition::DidNot { event, days } => {
                let mut since = now - Duration::days(i64::from(*days));
                if let Some(started) = run_started {
                    since = since.max(started);
                }
                self.count(event, since) == 0
            }
            Condition::DidNotSince { event, since } => {
                let last = self.events.iter().filter(|e| since.matches(e)).map(|e| e.occurred_at).max();
                last.is_some_and(|last| !self.events.iter().any(|e| e.occurred_at >= last && event.matches(e)))
            }
            Condition::Consent { channel, purpose } => self.consents.get(&(*channel, purpose.as_str().to_owned())).copied() == Some(true),
            Condition::HasOpenConversation => self.has_open_conversation,
            Condition::Conversations { channel, times, days } => {
                let since = now - Duration::days(i64::from(*days));
                let count = self.conversations.iter().filter(|(c, at)| *at >= since && channel.is_none_or(|want| want == *c)).count();
                count >= *times as usize
            }
            Condition::InSegment { segment_id } => self.segments.contains(segment_id),
        }
    }
}

/// Whether `event` starts a run of `spec` for a customer with `facts`
/// (which must hold the events the trigger counts, this one included).
pub fn triggered_by(spec: &JourneySpec, event: &CustomerEvent, facts: &ContactFacts) -> bool {
    let Trigger::Event { filter, at_least } = &spec.trigger else { return false };
    if !filter.matches(event) {
        return false;
    }
    match at_least {
        None => true,
        // Exactly the Nth, counting up to this event (later ones may be
        // known already): a fourth visit does not start another run.
        Some(f) => {
            let since = event.occurred_at - Duration::days(i64::from(f.days));
            let upto = |e: &&CustomerEvent| e.occurred_at < event.occurred_at || (e.occurred_at == event.occurred_at && e.id <= event.id);
            facts.events.iter().filter(|e| e.occurred_at >= since && filter.matches(e)).filter(upto).count() == f.times as usize
        }
    }
}

/// Whether a customer may enter, given their earlier runs' (start, end) times.
pub fn may_enter(reentry: Reentry, earlier: &[(OffsetDateTime, Option<OffsetDateTime>)], now: OffsetDateTime) -> bool {
    if earlier.iter().any(|(_, ended)| ended.is_none()) {
        return false;
    }
    match reentry {
        Reentry::Never => earlier.is_empty(),
        Reentry::AfterExit => true,
        Reentry::AfterDays { days } => earlier.iter().all(|(started, _)| now - *started >= Duration::days(i64::from(days))),
    }
}

// ---------------------------------------------------------------------------
// Time in the customer's zone
// ---------------------------------------------------------------------------

fn zoned(at: OffsetDateTime, zone: &jiff::tz::TimeZone) -> jiff::ZonedDateTime {
    let ts = jiff::Timestamp::new(at.unix_timestamp(), at.nanosecond() as i32).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.to_zoned_datetime(zone.clone())
}

fn to_offset(z: &jiff::ZonedDateTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(z.timestamp().as_second()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The time zone to use: the customer's, else the journey's, else UTC.
pub fn zone_for(contact_zone: Option<&str>, journey_zone: Option<&str>) -> jiff::tz::TimeZone {
    contact_zone
        .and_then(|z| jiff::tz::TimeZone::get(z).ok())
        .or_else(|| journey_zone.and_then(|z| jiff::tz::TimeZone::get(z).ok()))
        .unwrap_or(jiff::tz::TimeZone::UTC)
}

/// The first instant at or after `now` inside `window` in `zone`. Local
/// times are read in the zone's rules of that day, so "9:00" is 9:00 on
/// both sides of a daylight-saving change; a local time inside a skipped
/// hour is read with the offset before the change, as RFC 5545 and most
/// calendars do (02:30 on the night clocks jump 02:00→03:00 is 03:30). A window whose end is before
/// its start runs past midnight (22:00–06:00).
pub fn next_in_window(window: &Window, zone: &jiff::tz::TimeZone, now: OffsetDateTime) -> OffsetDateTime {
    let (Some(from), Some(to)) = (parse_clock(&window.from), parse_clock(&window.to)) else { return now };
    let days: Vec<jiff::civil::Weekday> = window.days.iter().filter_map(|d| weekday(d)).collect();
    let allowed = |d: jiff::civil::Date| days.is_empty() || days.contains(&d.weekday());
    let local = zoned(now, zone);
    let today = local.date();
    let overnight = to < from;
    // Inside the window now? (An overnight window that began yesterday counts for yesterday.)
    let t = local.time();
    let inside_today = if overnight { t >= from && allowed(today) } else { t >= from && t < to && allowed(today) };
    let yesterday = today.yesterday().ok();
    let inside_from_yesterday = overnight && t < to && yesterday.is_some_and(allowed);
    if inside_today || inside_from_yesterday {
        return now;
    }
    for offset in 0..8 {
        let Ok(date) = today.checked_add(jiff::Span::new().days(offset)) else { break };
        if !allowed(date) {
            continue;
        }
        let Ok(start) = date.to_datetime(from).to_zoned_datetime(zone.clone()) else { continue };
        let start = to_offset(&start);
        if start >= now {
            return start;
        }
    }
    now
}

/// Whether `now` falls in quiet hours (`from`–`to` local, overnight allowed)
/// and, if so, when they end.
pub fn quiet_until(quiet: &QuietHours, zone: &jiff::tz::TimeZone, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let window = Window { days: Vec::new(), from: quiet.from.clone(), to: quiet.to.clone() };
    if next_in_window(&window, zone, now) != now {
        return None;
    }
    // Inside: quiet ends at the next `to`.
    let end = Window { days: Vec::new(), from: quiet.to.clone(), to: quiet.from.clone() };
    Some(next_in_window(&end, zone, now))
}

// ---------------------------------------------------------------------------
// Sends: consent, caps, quiet hours
// ---------------------------------------------------------------------------

/// An account's rules for every journey's sends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRules {
    /// No marketing or service sends in these local hours (transactional ones go).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    /// At most this many journey messages per customer per local calendar day, all channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_cap: Option<u32>,
    /// At most this many per channel per local day.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub channel_caps: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub from: String,
    pub to: String,
}

impl SendRules {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Some(q) = &self.quiet_hours {
            check_window(&Window { days: Vec::new(), from: q.from.clone(), to: q.to.clone() }, "quiet_hours", &mut errors);
        }
        for channel in self.channel_caps.keys() {
            if channel.parse::<Channel>().is_err() {
                errors.push(format!("channel_caps.{channel}"), "unknown channel");
            }
        }
        errors.into_result(())
    }
}

/// What may happen to a send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Go,
    /// Quiet hours: try again then.
    Defer(OffsetDateTime),
    /// The cap for the day is reached on this channel (try another, or skip).
    Capped,
}

/// When a date trigger fires for a customer whose `attribute` holds
/// `value`, if that falls in `(after, upto]`: `at` local time (in the
/// customer's zone) `days_before` days before the date — for `yearly`,
/// before each anniversary (29 February falls on the 28th in other years).
/// Gives the instant and the date it fired for, which keys the run so a
/// customer enters once per date however often the scheduler looks.
/// Values are ISO dates (`1990-04-12`) or timestamps whose date counts.
#[allow(clippy::too_many_arguments)]
pub fn date_fires(
    value: &Value,
    days_before: i32,
    at: &str,
    yearly: bool,
    zone: &jiff::tz::TimeZone,
    after: OffsetDateTime,
    upto: OffsetDateTime,
) -> Option<(OffsetDateTime, jiff::civil::Date)> {
    let text = value.as_str()?;
    let date: jiff::civil::Date = text.get(..10)?.parse().ok()?;
    let clock = parse_clock(at)?;
    let fire = |day: jiff::civil::Date| -> Option<OffsetDateTime> {
        let when = day.checked_sub(jiff::Span::new().days(i64::from(days_before))).ok()?.to_datetime(clock);
        // A local time skipped by a DST change fires just after it.
        let z = when.to_zoned_datetime(zone.clone()).ok()?;
        Some(to_offset(&z))
    };
    let in_range = |t: OffsetDateTime| t > after && t <= upto;
    if !yearly {
        return fire(date).filter(|t| in_range(*t)).map(|t| (t, date));
    }
    let first = zoned(after, zone).year() - 2;
    let last = zoned(upto, zone).year() + 2;
    (first..=last).find_map(|year| {
        let day = jiff::civil::Date::new(year, date.month(), date.day())
            .or_else(|_| jiff::civil::Date::new(year, date.month(), date.day() - 1))
            .ok()?;
        fire(day).filter(|t| in_range(*t)).map(|t| (t, day))
    })
}

/// The start of the customer's local calendar day containing `now`.
pub fn local_day_start(zone: &jiff::tz::TimeZone, now: OffsetDateTime) -> OffsetDateTime {
    let local = zoned(now, zone);
    local.start_of_day().map(|z| to_offset(&z)).unwrap_or(now)
}

/// Decides a send on `channel`: transactional sends always go; others wait
/// out quiet hours and respect the caps, counted over the customer's local
/// day (`sent_today`: journey sends since [`local_day_start`], by channel).
pub fn gate(
    rules: &SendRules,
    purpose: Purpose,
    channel: Channel,
    sent_today: &BTreeMap<Channel, u32>,
    zone: &jiff::tz::TimeZone,
    now: OffsetDateTime,
) -> Gate {
    if purpose == Purpose::Transactional {
        return Gate::Go;
    }
    if let Some(until) = rules.quiet_hours.as_ref().and_then(|q| quiet_until(q, zone, now)) {
        return Gate::Defer(until);
    }
    let total: u32 = sent_today.values().sum();
    if rules.daily_cap.is_some_and(|cap| total >= cap) {
        return Gate::Capped;
    }
    let on_channel = sent_today.get(&channel).copied().unwrap_or(0);
    if rules.channel_caps.get(channel.as_str()).is_some_and(|cap| on_channel >= *cap) {
        return Gate::Capped;
    }
    Gate::Go
}

/// The channels to try for a send, in order, without repeats: the chosen
/// one (the customer's preference for the topic, if `preferred`; the
/// channel they last wrote on when they have no preference), then the
/// fallbacks.
pub fn channel_order(send: &SendStep, preferred: &BTreeMap<String, Channel>, last_used: Option<Channel>) -> Vec<Channel> {
    let first = match send.channel {
        ChannelChoice::Channel(c) => Some(c),
        ChannelChoice::Preferred => send.topic.as_ref().and_then(|t| preferred.get(t).copied()).or(last_used),
    };
    let mut out: Vec<Channel> = Vec::new();
    for c in first.into_iter().chain(send.fallback.iter().copied()) {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// Fills `{{key}}` in `text` from the customer's attributes (dotted paths
/// allowed); unknown keys become empty.
pub fn fill(text: &str, attributes: &serde_json::Map<String, Value>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = rest[start + 2..start + end].trim();
        match lookup(attributes, key) {
            Some(Value::String(s)) => out.push_str(s),
            Some(Value::Null) | None => {}
            Some(other) => out.push_str(&other.to_string()),
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JourneyRun {
    pub id: JourneyRunId,
    pub journey_id: JourneyId,
    pub version: i64,
    pub contact_id: ContactId,
    /// `active`, `waiting`, `completed`, `converted`, `exited` or `failed`.
    pub status: String,
    /// Where it stands (the step it waits at or does next).
    pub step_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub wake_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub entered_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// Why it ended.
    pub outcome: Option<String>,
    /// What started it: a customer event's id, or a conversation event's.
    pub trigger_event_id: Option<String>,
}

impl JourneyRun {
    pub fn is_open(&self) -> bool {
        self.ended_at.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ContactId, CustomerEventId};
    use serde_json::json;
    use time::macros::datetime;

    fn spec(value: Value) -> JourneySpec {
        serde_json::from_value(value).unwrap()
    }

    /// The abandoned-cart journey of the seeds: an e-mail after an hour,
    /// a WhatsApp template after a day, unless the customer orders.
    fn abandoned_cart() -> JourneySpec {
        spec(json!({
            "trigger": { "type": "event", "name": "Checkout Started" },
            "steps": [
                { "id": "wait-1h", "type": "wait", "seconds": 3600 },
                { "id": "email", "type": "send", "channel": "email", "purpose": "service",
                  "subject": "Your cart", "text": "Hi {{name}}, your cart is waiting." },
                { "id": "wait-order", "type": "wait_for_event", "event": { "name": "Order Completed" }, "timeout_seconds": 82800,
                  "then": [ { "id": "thanks", "type": "add_label", "label": "recovered" } ],
                  "timeout": [ { "id": "whatsapp", "type": "send", "channel": "whatsapp", "purpose": "service",
                                 "template": "cart_reminder", "variables": ["{{name}}"] } ] },
                { "id": "done", "type": "set_attribute", "key": "cart_journey", "value": "finished" }
            ],
            "goal": { "event": { "name": "Order Completed" }, "within_days": 3 },
            "exit_when": [ { "name": "Order Completed" } ]
        }))
    }

    #[test]
    fn the_seed_journey_reads_and_checks() {
        let s = abandoned_cart();
        s.validate().unwrap();
        assert_eq!(s.all_steps().len(), 6);
        assert!(matches!(s.step("whatsapp").unwrap().action, Action::Send(_)));
        // Round trip: what the API stores is what it was given.
        let again: JourneySpec = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn steps_continue_after_their_list_ends() {
        let s = abandoned_cart();
        assert_eq!(next_after(&s, "wait-1h").as_deref(), Some("email"));
        assert_eq!(next_after(&s, "thanks").as_deref(), Some("done"), "a branch's last step continues after the branch");
        assert_eq!(next_after(&s, "whatsapp").as_deref(), Some("done"));
        assert_eq!(next_after(&s, "done"), None);
        assert_eq!(next_after(&s, "nowhere"), None);
        assert_eq!(enter_list(&s, "wait-order", &[]).as_deref(), Some("done"));
    }

    #[test]
    fn bad_specs_are_refused_with_paths() {
        let mut bad = abandoned_cart();
        bad.steps[0].action = Action::Wait { seconds: 0 };
        if let Action::WaitForEvent { then, .. } = &mut bad.steps[2].action {
            then[0].id = "email".into();
        }
        bad.time_zone = Some("Mars/Olympus".into());
        let errors = bad.validate().unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"steps[0].seconds"), "{fields:?}");
        assert!(fields.contains(&"steps[2].then[0].id"), "{fields:?}");
        assert!(fields.contains(&"time_zone"), "{fields:?}");
        let unknown = serde_json::from_value::<JourneySpec>(json!({
            "trigger": { "type": "event", "name": "X" }, "steps": [ { "id": "a", "type": "teleport" } ]
        }));
        assert!(unknown.is_err());
        let empty = spec(json!({ "trigger": { "type": "event", "kind": "page" }, "steps": [] }));
        assert_eq!(empty.validate().unwrap_err().0[0].field, "steps");
    }

    fn event(kind: CallKind, name: Option<&str>, properties: Value, at: OffsetDateTime) -> CustomerEvent {
        CustomerEvent {
            id: CustomerEventId::new(),
            contact_id: ContactId::new(),
            kind,
            name: name.map(str::to_owned),
            properties: properties.as_object().cloned().unwrap_or_default(),
            context: Default::default(),
            message_id: String::new(),
            occurred_at: at,
            received_at: at,
        }
    }

    #[test]
    fn the_third_pricing_visit_in_a_week_triggers_once() {
        let s = spec(json!({
            "trigger": { "type": "event", "kind": "page", "properties": [ { "property": "path", "op": "starts_with", "value": "/pricing" } ],
                         "at_least": { "times": 3, "days": 7 } },
            "steps": [ { "id": "call", "type": "task", "kind": "call", "title": "Call {{name}}: pricing 3× this week" } ]
        }));
        s.validate().unwrap();
        let now = datetime!(2026-12-05 10:00 UTC);
        let visit = |days_ago: i64, path: &str| event(CallKind::Page, None, json!({ "path": path }), now - Duration::days(days_ago));
        let mut facts = ContactFacts { events: vec![visit(20, "/pricing"), visit(3, "/pricing"), visit(1, "/blog")], ..Default::default() };
        let second = visit(0, "/pricing/teams");
        facts.events.push(second.clone());
        assert!(!triggered_by(&s, &second, &facts), "two in a week (the third is 20 days old)");
        let third = visit(0, "/pricing");
        facts.events.push(third.clone());
        assert!(triggered_by(&s, &third, &facts));
        let fourth = visit(0, "/pricing");
        facts.events.push(fourth.clone());
        assert!(!triggered_by(&s, &fourth, &facts), "the fourth does not start another");
        assert!(!triggered_by(&s, &visit(0, "/blog"), &facts));
    }

    #[test]
    fn conditions_read_attributes_events_and_consent() {
        let now = datetime!(2026-12-05 10:00 UTC);
        let mut facts = ContactFacts::default();
        facts.attributes.insert("plan".into(), json!("pro"));
        facts.attributes.insert("spent".into(), json!(120.5));
        facts.attributes.insert("address".into(), json!({ "city": "Milano" }));
        facts.consents.insert((Channel::Whatsapp, "marketing".into()), true);
        facts.events.push(event(CallKind::Track, Some("Order Completed"), json!({ "total": 40 }), now - Duration::days(2)));
        let attr = |property: &str, op: Op, value: Value| Condition::Attribute {
            condition: PropertyCondition { property: property.into(), op, value: Some(value) },
        };
        assert!(facts.holds(&attr("plan", Op::Equals, json!("pro")), now, None));
        assert!(facts.holds(&attr("spent", Op::GreaterThan, json!(100)), now, None));
        assert!(!facts.holds(&attr("spent", Op::LessThan, json!("100")), now, None));
        assert!(facts.holds(&attr("address.city", Op::Contains, json!("mil")), now, None));
        assert!(facts.holds(&attr("missing", Op::NotEquals, json!("x")), now, None));
        let order = EventFilter { kind: CallKind::Track, name: Some("Order Completed".into()), properties: Vec::new() };
        assert!(facts.holds(&Condition::Did { event: order.clone(), times: 1, days: 7 }, now, None));
        assert!(!facts.holds(&Condition::DidNot { event: order.clone(), days: 7 }, now, None));
        // "Did not, since the run began": an order before the run does not count.
        assert!(facts.holds(&Condition::DidNot { event: order, days: 7 }, now, Some(now - Duration::days(1))));
        assert!(facts.holds(&Condition::Consent { channel: Channel::Whatsapp, purpose: Purpose::Marketing }, now, None));
        assert!(!facts.holds(&Condition::Consent { channel: Channel::Sms, purpose: Purpose::Marketing }, now, None));
    }

    #[test]
    fn reentry_rules() {
        let now = datetime!(2026-12-05 10:00 UTC);
        let ended = [(now - Duration::days(10), Some(now - Duration::days(9)))];
        let running = [(now - Duration::days(1), None)];
        assert!(may_enter(Reentry::AfterExit, &[], now));
        assert!(may_enter(Reentry::AfterExit, &ended, now));
        assert!(!may_enter(Reentry::AfterExit, &running, now), "one run at a time");
        assert!(!may_enter(Reentry::Never, &ended, now));
        assert!(may_enter(Reentry::AfterDays { days: 7 }, &ended, now));
        assert!(!may_enter(Reentry::AfterDays { days: 30 }, &ended, now));
    }

    fn weekdays_9_to_18() -> Window {
        Window {
            days: ["monday", "tuesday", "wednesday", "thursday", "friday"].map(String::from).to_vec(),
            from: "09:00".into(),
            to: "18:00".into(),
        }
    }

    #[test]
    fn windows_follow_daylight_saving_in_rome() {
        let rome = jiff::tz::TimeZone::get("Europe/Rome").unwrap();
        // Saturday 28 March 2026, 20:00 in Rome (UTC+1). Summer time starts
        // on Sunday 29 March at 02:00; the next window opens on Monday 30
        // March at 09:00 CEST, which is 07:00 UTC, not 08:00.
        let saturday_evening = datetime!(2026-03-28 19:00 UTC);
        assert_eq!(next_in_window(&weekdays_9_to_18(), &rome, saturday_evening), datetime!(2026-03-30 07:00 UTC));
        // And back: Friday 23 October 2026 at 19:00 CEST; winter time from
        // Sunday 25 October; Monday 26 October 09:00 CET is 08:00 UTC.
        assert_eq!(next_in_window(&weekdays_9_to_18(), &rome, datetime!(2026-10-23 17:00 UTC)), datetime!(2026-10-26 08:00 UTC));
        // Inside the window: now.
        let tuesday_ten = datetime!(2026-03-31 08:00 UTC);
        assert_eq!(next_in_window(&weekdays_9_to_18(), &rome, tuesday_ten), tuesday_ten);
        // A window that opens in the skipped hour (02:30 on 29 March) is
        // read with the offset before the change: 02:30+01:00, i.e. 03:30 CEST.
        let night = Window { days: Vec::new(), from: "02:30".into(), to: "04:00".into() };
        assert_eq!(next_in_window(&night, &rome, datetime!(2026-03-28 23:00 UTC)), datetime!(2026-03-29 01:30 UTC));
    }

    #[test]
    fn windows_follow_daylight_saving_in_new_york() {
        let ny = jiff::tz::TimeZone::get("America/New_York").unwrap();
        // Summer time starts Sunday 8 March 2026. Friday 6 March 18:30 EST
        // (23:30 UTC) → Monday 9 March 09:00 EDT = 13:00 UTC (not 14:00).
        assert_eq!(next_in_window(&weekdays_9_to_18(), &ny, datetime!(2026-03-06 23:30 UTC)), datetime!(2026-03-09 13:00 UTC));
        // It ends Sunday 1 November 2026: Monday 2 November 09:00 EST = 14:00 UTC.
        assert_eq!(next_in_window(&weekdays_9_to_18(), &ny, datetime!(2026-10-30 23:00 UTC)), datetime!(2026-11-02 14:00 UTC));
        // A one-hour wait across the change is an hour of real time; the
        // calendar day for caps is New York's.
        assert_eq!(local_day_start(&ny, datetime!(2026-03-09 03:00 UTC)), datetime!(2026-03-08 05:00 UTC));
    }

    #[test]
    fn quiet_hours_defer_and_caps_stop_all_but_transactional_sends() {
        let rome = jiff::tz::TimeZone::get("Europe/Rome").unwrap();
        let rules = SendRules {
            quiet_hours: Some(QuietHours { from: "21:00".into(), to: "08:00".into() }),
            daily_cap: Some(2),
            channel_caps: [("whatsapp".to_owned(), 1)].into(),
        };
        rules.validate().unwrap();
        let late = datetime!(2026-12-05 22:30 UTC); // 23:30 in Rome
        assert_eq!(
            gate(&rules, Purpose::Service, Channel::Email, &BTreeMap::new(), &rome, late),
            Gate::Defer(datetime!(2026-12-06 07:00 UTC))
        );
        assert_eq!(gate(&rules, Purpose::Transactional, Channel::Email, &BTreeMap::new(), &rome, late), Gate::Go);
        let noon = datetime!(2026-12-05 11:00 UTC);
        let one_whatsapp = [(Channel::Whatsapp, 1)].into();
        assert_eq!(gate(&rules, Purpose::Marketing, Channel::Whatsapp, &one_whatsapp, &rome, noon), Gate::Capped);
        assert_eq!(gate(&rules, Purpose::Marketing, Channel::Email, &one_whatsapp, &rome, noon), Gate::Go);
        let two = [(Channel::Whatsapp, 1), (Channel::Email, 1)].into();
        assert_eq!(gate(&rules, Purpose::Marketing, Channel::Sms, &two, &rome, noon), Gate::Capped);
        assert_eq!(gate(&rules, Purpose::Transactional, Channel::Sms, &two, &rome, noon), Gate::Go);
    }

    #[test]
    fn preferred_channels_and_fallbacks_in_order() {
        let send: SendStep = serde_json::from_value(json!({
            "channel": "preferred", "topic": "orders", "fallback": ["email", "sms", "email"], "purpose": "service", "text": "x"
        }))
        .unwrap();
        let preferred = [("orders".to_owned(), Channel::Whatsapp)].into();
        assert_eq!(channel_order(&send, &preferred, Some(Channel::Sms)), [Channel::Whatsapp, Channel::Email, Channel::Sms]);
        assert_eq!(channel_order(&send, &BTreeMap::new(), Some(Channel::Telegram)), [Channel::Telegram, Channel::Email, Channel::Sms]);
        assert_eq!(channel_order(&send, &BTreeMap::new(), None), [Channel::Email, Channel::Sms]);
    }

    #[test]
    fn variables_are_filled_from_the_customer() {
        let attributes = json!({ "name": "Ada", "cart": { "total": 27.5 } }).as_object().cloned().unwrap();
        assert_eq!(fill("Hi {{name}}, {{ cart.total }} € left; {{missing}}.", &attributes), "Hi Ada, 27.5 € left; .");
        assert_eq!(fill("broken {{name", &attributes), "broken {{name");
    }

    #[test]
    fn date_triggers_fire_at_local_time_across_daylight_saving() {
        let rome = jiff::tz::TimeZone::get("Europe/Rome").unwrap();
        let ny = jiff::tz::TimeZone::get("America/New_York").unwrap();
        let birthday = json!("1990-03-29");
        // 29 March 2026 is the day summer time starts in Rome: 09:00 CEST is 07:00 UTC.
        let (at, day) = date_fires(&birthday, 0, "09:00", true, &rome, datetime!(2026-03-28 00:00 UTC), datetime!(2026-03-30 00:00 UTC))
            .expect("the birthday falls in the range");
        assert_eq!(at, datetime!(2026-03-29 07:00 UTC));
        assert_eq!(day.to_string(), "2026-03-29");
        // 02:30 does not exist that night: it fires at 03:30 CEST (01:30 UTC).
        let (at, _) =
            date_fires(&birthday, 0, "02:30", true, &rome, datetime!(2026-03-28 00:00 UTC), datetime!(2026-03-30 00:00 UTC)).unwrap();
        assert_eq!(at, datetime!(2026-03-29 01:30 UTC));
        // The range is (after, upto]: a scan that ends before 09:00 finds nothing, the next one does, once.
        assert!(date_fires(&birthday, 0, "09:00", true, &rome, datetime!(2026-03-29 06:00 UTC), datetime!(2026-03-29 06:59 UTC)).is_none());
        assert!(date_fires(&birthday, 0, "09:00", true, &rome, datetime!(2026-03-29 07:00 UTC), datetime!(2026-03-29 08:00 UTC)).is_none());
        // A warranty that ends on 5 November 2026, a week before at 10:00 in
        // New York: 29 October is still summer time (EDT, UTC−4).
        let warranty = json!("2026-11-05T00:00:00Z");
        let (at, _) =
            date_fires(&warranty, 7, "10:00", false, &ny, datetime!(2026-10-29 00:00 UTC), datetime!(2026-10-30 00:00 UTC)).unwrap();
        assert_eq!(at, datetime!(2026-10-29 14:00 UTC));
        // Two days after it ended (after the change back): 10:00 EST is 15:00 UTC.
        let (at, _) =
            date_fires(&warranty, -2, "10:00", false, &ny, datetime!(2026-11-06 00:00 UTC), datetime!(2026-11-08 00:00 UTC)).unwrap();
        assert_eq!(at, datetime!(2026-11-07 15:00 UTC));
        // Not yearly: once only.
        assert!(date_fires(&warranty, 7, "10:00", false, &ny, datetime!(2027-10-28 00:00 UTC), datetime!(2027-10-30 00:00 UTC)).is_none());
        // A leap-day birthday falls on 28 February in other years.
        let (at, day) = date_fires(
            &json!("2000-02-29"),
            0,
            "09:00",
            true,
            &jiff::tz::TimeZone::UTC,
            datetime!(2027-02-27 00:00 UTC),
            datetime!(2027-03-02 00:00 UTC),
        )
        .unwrap();
        assert_eq!((at, day.to_string()), (datetime!(2027-02-28 09:00 UTC), "2027-02-28".to_owned()));
        // A week before a 3 January birthday is in the year before.
        let (at, _) = date_fires(
            &json!("1985-01-03"),
            7,
            "09:00",
            true,
            &jiff::tz::TimeZone::UTC,
            datetime!(2026-12-26 00:00 UTC),
            datetime!(2026-12-28 00:00 UTC),
        )
        .unwrap();
        assert_eq!(at, datetime!(2026-12-27 09:00 UTC));
        // Not a date: nothing.
        assert!(
            date_fires(&json!("soon"), 0, "09:00", true, &rome, datetime!(2026-01-01 00:00 UTC), datetime!(2027-01-01 00:00 UTC)).is_none()
        );
        assert!(
            date_fires(&json!(19900329), 0, "09:00", true, &rome, datetime!(2026-01-01 00:00 UTC), datetime!(2027-01-01 00:00 UTC))
                .is_none()
        );
    }
}
