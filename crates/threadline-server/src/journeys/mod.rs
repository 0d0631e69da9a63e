//! The journey engine: starts runs when customers do what a live journey
//! waits for, and walks each run through its steps on the job runner.
//!
//! Two kinds of job drive it. `journey.events` is written in the same
//! transaction as tracked events; it starts the runs those events trigger
//! and wakes the customer's open runs (whose goal, exit rules or
//! `wait_for_event` may now be met). `journey.run` (one per run, deduplicated)
//! moves one run as far as it can go now: each step is written with its
//! effect in one transaction keyed by (run, step) — see
//! [`threadline_store::Store::apply_step`] — so a restart, a crash or two
//! nodes never do a step twice.

pub mod dry_run;

use std::collections::BTreeMap;

use serde_json::Value;
use threadline_domain::channel::Channel;
use threadline_domain::contact::Contact;
use threadline_domain::ids::{AccountId, ContactId, CustomerEventId, JourneyId, JourneyRunId, SegmentId};
use threadline_domain::journey::{
    self, Action, ContactFacts, Gate, JourneySpec, Purpose, SendStep, Trigger, channel_order, enter_list, fill, gate, next_after,
    next_in_window, triggered_by, zone_for,
};
use threadline_domain::segment::SegmentChange;
use threadline_domain::tracking::CustomerEvent;
use threadline_store::{Effect, Job, JourneyRun, Next};
use time::{Duration, OffsetDateTime};

use crate::app::AppState;
use crate::channels::reply::{Author, Draft, ReplyContext, compose};
use crate::jobs::Outcome;

pub use threadline_store::EVENTS_JOB;

/// How far back the engine reads a customer's events (the longest window a
/// condition may name).
pub const FACTS_DAYS: i64 = 366;
/// Steps one job may take for a run before it yields to other work.
const STEPS_PER_JOB: usize = 50;

/// Everything the engine reads about a customer.
pub async fn facts(state: &AppState, account_id: AccountId, contact: &Contact, now: OffsetDateTime) -> anyhow::Result<ContactFacts> {
    let mut attributes = contact.custom_attributes.clone();
    for (k, v) in &contact.attributes {
        attributes.insert(k.clone(), v.clone());
    }
    if let Some(name) = &contact.name {
        attributes.insert("name".into(), Value::String(name.clone()));
    }
    if let Some(language) = &contact.language {
        attributes.insert("language".into(), Value::String(language.clone()));
    }
    // The latest order from the shop: `{{order.tracking_url}}` in a send,
    // `order.status` in a condition (a custom attribute of that name wins).
    if let Some(order) = state.store.contact_orders(account_id, contact.id, 1).await?.first() {
        attributes.entry("order").or_insert_with(|| threadline_domain::order::as_attribute(&order.facts));
    }
    let events = state.store.customer_events_since(account_id, contact.id, now - Duration::days(FACTS_DAYS), 5000).await?;
    let consents = contact.consents.iter().map(|c| ((c.channel, c.purpose.clone()), c.granted)).collect();
    let has_open_conversation = state.store.has_open_conversation(account_id, contact.id).await?;
    let conversations = state.store.conversations_begun_since(account_id, contact.id, now - Duration::days(FACTS_DAYS)).await?;
    let segments = state.store.contact_segments(account_id, contact.id).await?;
    Ok(ContactFacts { attributes, events, consents, has_open_conversation, conversations, segments })
}

/// `journey.events`: starts the runs new events trigger, and wakes the
/// open runs of the customers they are about.
pub async fn on_events(state: &AppState, job: &Job) -> anyhow::Result<Outcome> {
    let Some(account_id) = job.account_id else { return Ok(Outcome::Done) };
    let ids: Vec<CustomerEventId> = serde_json::from_value(job.payload["event_ids"].clone()).unwrap_or_default();
    let events = state.store.customer_events_by_id(account_id, &ids).await?;
    let live = state.store.live_journeys(account_id).await?;
    let mut by_contact: BTreeMap<ContactId, Vec<CustomerEvent>> = BTreeMap::new();
    for event in events {
        by_contact.entry(event.contact_id).or_default().push(event);
    }
    let now = state.clock.now();
    for (contact_id, events) in by_contact {
        // A contact folded into another since: its events moved with it.
        let contact = match state.store.contact(account_id, contact_id).await {
            Ok(c) => c,
            Err(threadline_store::StoreError::Merged(_) | threadline_store::StoreError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        let has_event_triggers = live.iter().any(|(_, spec)| matches!(spec.trigger, Trigger::Event { .. }));
        if has_event_triggers {
            let facts = facts(state, account_id, &contact, now).await?;
            for event in &events {
                for (journey, spec) in &live {
                    if triggered_by(spec, event, &facts) {
                        enter(state, account_id, journey, spec, &contact, &facts, Some(event.id.to_string()), now).await?;
                    }
                }
            }
        }
        // What they did may put them in a segment or take them out.
        crate::segments::refresh_contacts(state, account_id, std::slice::from_ref(&contact), now).await?;
        for run in state.store.open_runs(account_id, contact_id).await? {
            state.store.wake_run(account_id, run.id, now).await?;
        }
    }
    Ok(Outcome::Done)
}

/// `journey.segment`: a customer entered or left a segment; journeys that
/// start on that start for them (once per change).
pub async fn on_segment(state: &AppState, job: &Job) -> anyhow::Result<Outcome> {
    let Some(account_id) = job.account_id else { return Ok(Outcome::Done) };
    let on = job.payload["on"].as_str().and_then(SegmentChange::parse);
    let segment_id = serde_json::from_value::<SegmentId>(job.payload["segment_id"].clone()).ok();
    let contact_id = serde_json::from_value::<ContactId>(job.payload["contact_id"].clone()).ok();
    let (Some(on), Some(segment_id), Some(contact_id)) = (on, segment_id, contact_id) else { return Ok(Outcome::Done) };
    let event_id = job.payload["event_id"].as_str().unwrap_or_default().to_owned();
    let live = state.store.live_journeys(account_id).await?;
    let matching: Vec<_> = live
        .iter()
        .filter(|(_, spec)| matches!(spec.trigger, Trigger::Segment { segment_id: s, on: o } if s == segment_id && o == on))
        .collect();
    start_for(state, account_id, contact_id, &matching, &event_id).await
}

/// How late a date-triggered run may start after downtime: dates further
/// back are let go rather than greeted days late.
const DATES_CATCH_UP: Duration = Duration::days(1);

/// `journey.dates`: starts the runs of a date-triggered journey whose
/// moment (`days_before` the customer's date, at `at` in their zone) came
/// since the last look; again in `date_scan_secs` while it is live. Each
/// run is keyed by the customer and the date, so looking twice starts one.
pub async fn on_dates(state: &AppState, job: &Job) -> anyhow::Result<Outcome> {
    let Some(account_id) = job.account_id else { return Ok(Outcome::Done) };
    let Ok(journey_id) = serde_json::from_value::<JourneyId>(job.payload["journey_id"].clone()) else { return Ok(Outcome::Done) };
    let journey = match state.store.journey(account_id, journey_id).await {
        Ok(j) => j,
        Err(threadline_store::StoreError::NotFound) => return Ok(Outcome::Done),
        Err(e) => return Err(e.into()),
    };
    if journey.status != "live" {
        return Ok(Outcome::Done);
    }
    let spec = state.store.journey_spec(account_id, journey_id, journey.live_version).await?;
    let Trigger::Date { attribute, days_before, at, yearly } = &spec.trigger else { return Ok(Outcome::Done) };
    let now = state.clock.now();
    // The first look only marks the start: dates before the journey went live start nothing.
    if let Some(scanned) = state.store.journey_dates_scanned(account_id, journey_id).await? {
        let after = scanned.max(now - DATES_CATCH_UP);
        let mut page_after = None;
        loop {
            let query = threadline_store::ContactQuery { search: None, after: page_after, limit: 200 };
            let page = state.store.contacts(account_id, &query).await?;
            let Some(last) = page.last() else { break };
            page_after = Some(last.id);
            for contact in &page {
                let Some(value) = contact.custom_attributes.get(attribute).or_else(|| contact.attributes.get(attribute)) else { continue };
                let zone = zone_for(contact.attributes.get("time_zone").and_then(Value::as_str), spec.time_zone.as_deref());
                let Some((_, day)) = journey::date_fires(value, *days_before, at, *yearly, &zone, after, now) else { continue };
                let facts = facts(state, account_id, contact, now).await?;
                let key = format!("date:{}:{attribute}:{day}", contact.id);
                enter(state, account_id, &journey, &spec, contact, &facts, Some(key), now).await?;
            }
        }
    }
    state.store.set_journey_dates_scanned(account_id, journey_id, now).await?;
    Ok(Outcome::Later(now + Duration::seconds(state.settings.date_scan_secs.max(10) as i64)))
}

/// `journey.conversation`: a conversation was resolved or missed its SLA;
/// journeys that start on that start for its customer (once per event).
pub async fn on_conversation(state: &AppState, job: &Job) -> anyhow::Result<Outcome> {
    let Some(account_id) = job.account_id else { return Ok(Outcome::Done) };
    let on = job.payload["on"].as_str().and_then(journey::ConversationTrigger::parse);
    let contact_id = serde_json::from_value::<ContactId>(job.payload["contact_id"].clone()).ok();
    let (Some(on), Some(contact_id)) = (on, contact_id) else { return Ok(Outcome::Done) };
    let event_id = job.payload["event_id"].as_str().unwrap_or_default().to_owned();
    let live = state.store.live_journeys(account_id).await?;
    let matching: Vec<_> = live.iter().filter(|(_, spec)| matches!(spec.trigger, Trigger::Conversation { on: o } if o == on)).collect();
    start_for(state, account_id, contact_id, &matching, &event_id).await
}

/// Starts `journeys` for one customer, keyed by the event that triggered
/// them (a customer merged away or removed since starts nothing).
async fn start_for(
    state: &AppState,
    account_id: AccountId,
    contact_id: ContactId,
    journeys: &[&(threadline_store::Journey, JourneySpec)],
    event_id: &str,
) -> anyhow::Result<Outcome> {
    if journeys.is_empty() {
        return Ok(Outcome::Done);
    }
    let contact = match state.store.contact(account_id, contact_id).await {
        Ok(c) => c,
        Err(threadline_store::StoreError::Merged(_) | threadline_store::StoreError::NotFound) => return Ok(Outcome::Done),
        Err(e) => return Err(e.into()),
    };
    let now = state.clock.now();
    let facts = facts(state, account_id, &contact, now).await?;
    for (journey, spec) in journeys {
        enter(state, account_id, journey, spec, &contact, &facts, Some(event_id.to_owned()), now).await?;
    }
    Ok(Outcome::Done)
}

/// Starts a run if the audience conditions hold (and re-entry allows).
#[allow(clippy::too_many_arguments)]
pub async fn enter(
    state: &AppState,
    account_id: AccountId,
    journey: &threadline_store::Journey,
    spec: &JourneySpec,
    contact: &Contact,
    facts: &ContactFacts,
    trigger: Option<String>,
    now: OffsetDateTime,
) -> anyhow::Result<Option<JourneyRun>> {
    if !spec.audience.iter().all(|c| facts.holds(c, now, None)) {
        return Ok(None);
    }
    let Some(first) = spec.steps.first() else { return Ok(None) };
    let run = state.store.start_run(account_id, journey, spec.reentry, &first.id, contact.id, trigger, now).await?;
    Ok(run)
}

/// `journey.run`: moves one run as far as it can go now.
pub async fn advance(state: &AppState, job: &Job) -> anyhow::Result<Outcome> {
    let Some(account_id) = job.account_id else { return Ok(Outcome::Done) };
    let Ok(run_id) = serde_json::from_value::<JourneyRunId>(job.payload["run_id"].clone()) else { return Ok(Outcome::Done) };
    for _ in 0..STEPS_PER_JOB {
        let run = match state.store.journey_run(account_id, run_id).await {
            Ok(run) => run,
            Err(threadline_store::StoreError::NotFound) => return Ok(Outcome::Done),
            Err(e) => return Err(e.into()),
        };
        match step(state, account_id, &run).await? {
            Progress::Moved => continue,
            Progress::Stopped => return Ok(Outcome::Done),
            Progress::Until(at) => return Ok(Outcome::Later(at)),
        }
    }
    Ok(Outcome::Later(state.clock.now()))
}

enum Progress {
    /// The run moved on; look again.
    Moved,
    /// Nothing more to do (it ended, or its journey is paused).
    Stopped,
    /// Look again then.
    Until(OffsetDateTime),
}

/// One decision for a run: end it (goal, exit rule), wait, or do its step.
async fn step(state: &AppState, account_id: AccountId, run: &JourneyRun) -> anyhow::Result<Progress> {
    if !run.is_open() {
        return Ok(Progress::Stopped);
    }
    let journey = state.store.journey(account_id, run.journey_id).await?;
    if journey.status == "paused" {
        return Ok(Progress::Stopped);
    }
    let spec = state.store.journey_spec(account_id, run.journey_id, Some(run.version)).await?;
    let now = state.clock.now();
    let contact = match state.store.contact(account_id, run.contact_id).await {
        Ok(c) => c,
        Err(threadline_store::StoreError::Merged(_)) | Err(threadline_store::StoreError::NotFound) => {
            end(state, account_id, run, "exited", "the customer's record was merged or removed").await?;
            return Ok(Progress::Stopped);
        }
        Err(e) => return Err(e.into()),
    };
    let facts = facts(state, account_id, &contact, now).await?;

    // Goal and exit rules first, wherever the run stands.
    if let Some(goal) = &spec.goal {
        let deadline = run.entered_at + Duration::days(i64::from(goal.within_days));
        if facts.events.iter().any(|e| e.occurred_at >= run.entered_at && e.occurred_at <= deadline && goal.event.matches(e)) {
            end(state, account_id, run, "converted", &format!("goal reached: {}", describe(&goal.event))).await?;
            return Ok(Progress::Stopped);
        }
    }
    if let Some(rule) = spec.exit_when.iter().find(|f| facts.events.iter().any(|e| e.occurred_at >= run.entered_at && f.matches(e))) {
        end(state, account_id, run, "exited", &format!("exit rule: {}", describe(rule))).await?;
        return Ok(Progress::Stopped);
    }

    let Some(step_id) = run.step_id.clone() else {
        end(state, account_id, run, "completed", "completed its steps").await?;
        return Ok(Progress::Stopped);
    };
    let Some(step) = spec.step(&step_id).cloned() else {
        end(state, account_id, run, "failed", &format!("step `{step_id}` is not in version {}", run.version)).await?;
        return Ok(Progress::Stopped);
    };
    let next = || match next_after(&spec, &step_id) {
        Some(s) => Next::Step(s),
        None => Next::Complete,
    };
    let into = |list: &[journey::Step]| match enter_list(&spec, &step_id, list) {
        Some(s) => Next::Step(s),
        None => Next::Complete,
    };
    let waiting = run.status == "waiting" && run.wake_at.is_some();
    let zone = zone_for(contact.attributes.get("time_zone").and_then(Value::as_str), spec.time_zone.as_deref());

    // Whether the step was applied does not matter here: if not, it was
    // done already or the run moved meanwhile (an event and a timeout
    // raced), and the next look sees where it stands.
    match &step.action {
        Action::Wait { seconds } => {
            if !waiting {
                return park(state, account_id, run, &step_id, now + Duration::seconds(*seconds as i64)).await;
            }
            let wake = run.wake_at.unwrap_or(now);
            if now < wake {
                return Ok(Progress::Until(wake));
            }
            apply(state, account_id, run, &step_id, "done", None, Effect::None, next(), now).await?
        }
        Action::WaitWindow(window) => {
            let open = next_in_window(window, &zone, now);
            if open > now {
                return park(state, account_id, run, &step_id, open).await;
            }
            apply(state, account_id, run, &step_id, "done", None, Effect::None, next(), now).await?
        }
        Action::WaitForEvent { event, timeout_seconds, then, timeout } => {
            if !waiting {
                return park(state, account_id, run, &step_id, now + Duration::seconds(*timeout_seconds as i64)).await;
            }
            let wake = run.wake_at.unwrap_or(now);
            let since = wake - Duration::seconds(*timeout_seconds as i64);
            if facts.events.iter().any(|e| e.occurred_at >= since && event.matches(e)) {
                apply(state, account_id, run, &step_id, "event", None, Effect::None, into(then), now).await?
            } else if now >= wake {
                apply(state, account_id, run, &step_id, "timeout", None, Effect::None, into(timeout), now).await?
            } else {
                return Ok(Progress::Until(wake));
            }
        }
        Action::Branch { branches, otherwise } => {
            let arm = branches.iter().find(|b| b.when.iter().all(|c| facts.holds(c, now, Some(run.entered_at))));
            let (detail, list) = match arm {
                Some(arm) => (arm.name.clone(), arm.steps.as_slice()),
                None => ("otherwise".to_owned(), otherwise.as_slice()),
            };
            apply(state, account_id, run, &step_id, "branch", Some(&detail), Effect::None, into(list), now).await?
        }
        Action::Send(send) => match plan_send(state, account_id, &contact, &facts, send, &zone, now).await? {
            SendPlan::Defer(until) => return park(state, account_id, run, &step_id, until).await,
            SendPlan::Send { outbound, detail } => {
                apply(state, account_id, run, &step_id, "sent", detail.as_deref(), Effect::Send { outbound }, next(), now).await?
            }
            SendPlan::Skip(reason) => apply(state, account_id, run, &step_id, "skipped", Some(&reason), Effect::None, next(), now).await?,
        },
        Action::Task(task) => {
            let effect = Effect::Task {
                kind: task.kind,
                title: fill(&task.title, &facts.attributes).chars().take(500).collect(),
                team_id: task.team_id,
                assignee_id: task.assignee_id,
                due_at: now + Duration::seconds(task.due_in_seconds as i64),
            };
            apply(state, account_id, run, &step_id, "done", None, effect, next(), now).await?
        }
        Action::SetAttribute { key, value } => {
            let value = match value {
                Value::String(s) => Value::String(fill(s, &facts.attributes)),
                other => other.clone(),
            };
            apply(state, account_id, run, &step_id, "done", None, Effect::SetAttribute { key: key.clone(), value }, next(), now).await?
        }
        Action::AddLabel { label } => {
            apply(state, account_id, run, &step_id, "done", None, Effect::AddLabel { label: label.clone() }, next(), now).await?
        }
        Action::OpenConversation { team_id, note } => {
            let effect = Effect::OpenConversation { team_id: *team_id, note: fill(note, &facts.attributes) };
            apply(state, account_id, run, &step_id, "done", None, effect, next(), now).await?
        }
        Action::Webhook { url } => {
            let (outcome, detail) = match call_webhook(state, account_id, run, &contact, url).await {
                Ok(status) => ("done", format!("answered {status}")),
                Err(e) => ("failed", e),
            };
            apply(state, account_id, run, &step_id, outcome, Some(&detail), Effect::None, next(), now).await?
        }
        Action::Exit => {
            let end = Next::End { status: "exited", outcome: format!("reached the exit step `{step_id}`") };
            apply(state, account_id, run, &step_id, "done", None, Effect::None, end, now).await?
        }
    };
    Ok(Progress::Moved)
}

#[allow(clippy::too_many_arguments)]
async fn apply(
    state: &AppState,
    account_id: AccountId,
    run: &JourneyRun,
    step_id: &str,
    outcome: &str,
    detail: Option<&str>,
    effect: Effect,
    next: Next,
    now: OffsetDateTime,
) -> anyhow::Result<bool> {
    let applied = state.store.apply_step(account_id, run, step_id, outcome, detail, None, effect, next, now).await?;
    Ok(applied)
}

async fn park(state: &AppState, account_id: AccountId, run: &JourneyRun, step_id: &str, until: OffsetDateTime) -> anyhow::Result<Progress> {
    if state.store.park_run(account_id, run, step_id, until).await? { Ok(Progress::Until(until)) } else { Ok(Progress::Moved) }
}

async fn end(state: &AppState, account_id: AccountId, run: &JourneyRun, status: &str, outcome: &str) -> anyhow::Result<()> {
    state.store.end_run(account_id, run.id, status, outcome).await?;
    Ok(())
}

fn describe(filter: &journey::EventFilter) -> String {
    match &filter.name {
        Some(name) => format!("{} `{name}`", filter.kind),
        None => filter.kind.to_string(),
    }
}

enum SendPlan {
    Send {
        outbound: Box<threadline_store::OutboundMessage>,
        detail: Option<String>,
    },
    /// Quiet hours: try again then.
    Defer(OffsetDateTime),
    Skip(String),
}

/// Chooses the channel and the message for a send step: the customer's
/// preferred channel for the topic (or the chosen one), then the
/// fallbacks, skipping channels without consent for the purpose, past the
/// day's cap, or where the channel's rules forbid it now (outside
/// WhatsApp's 24 hours only an approved template goes).
#[allow(clippy::too_many_arguments)]
async fn plan_send(
    state: &AppState,
    account_id: AccountId,
    contact: &Contact,
    facts: &ContactFacts,
    send: &SendStep,
    zone: &jiff::tz::TimeZone,
    now: OffsetDateTime,
) -> anyhow::Result<SendPlan> {
    let context = ReplyContext::for_contact(state, account_id, contact.id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let last_used = context.last_inbound.first().map(|(c, _, _)| *c);
    let rules = state.store.journey_send_rules(account_id).await?;
    let sent_today = state.store.journey_sends_since(account_id, contact.id, journey::local_day_start(zone, now)).await?;
    let mut reasons = Vec::new();
    for channel in channel_order(send, &contact.preferred_channels, last_used) {
        // Marketing needs consent given; any purpose stops at consent withdrawn.
        let consent = facts.consents.get(&(channel, send.purpose.as_str().to_owned())).copied();
        if send.purpose == Purpose::Marketing && consent != Some(true) {
            reasons.push(format!("{channel}: no marketing consent"));
            continue;
        }
        if consent == Some(false) {
            reasons.push(format!("{channel}: consent withdrawn"));
            continue;
        }
        match gate(&rules, send.purpose, channel, &sent_today, zone, now) {
            Gate::Defer(until) => return Ok(SendPlan::Defer(until)),
            Gate::Capped => {
                reasons.push(format!("{channel}: the day's cap is reached"));
                continue;
            }
            Gate::Go => {}
        }
        let option = context.judge(channel, now);
        let template = match (&send.template, option.allowed) {
            // Free text where the window is open and text was given.
            (_, true) if send.text.as_deref().is_some_and(|t| !t.trim().is_empty()) => None,
            (Some(name), _) => match state.store.template_by_name(account_id, channel, name, contact.language.as_deref()).await? {
                Some(t) => Some(t),
                None => {
                    reasons.push(format!("{channel}: no approved template `{name}`"));
                    continue;
                }
            },
            (None, _) => {
                reasons.push(format!("{channel}: {}", option.reason.clone().unwrap_or_else(|| "not allowed now".into())));
                continue;
            }
        };
        let draft = Draft {
            author: Author::System,
            channel: Some(channel),
            inbox_id: None,
            text: if template.is_some() { String::new() } else { fill(send.text.as_deref().unwrap_or(""), &facts.attributes) },
            html: None,
            attachments: Vec::new(),
            template: template.map(|t| (t.id, send.variables.iter().map(|v| fill(v, &facts.attributes)).collect())),
            subject: send.subject.as_ref().map(|s| fill(s, &facts.attributes)),
        };
        match compose(state, account_id, &context, None, draft).await {
            Ok(outbound) => {
                let detail = (!reasons.is_empty()).then(|| format!("fell back: {}", reasons.join("; ")));
                return Ok(SendPlan::Send { outbound: Box::new(outbound), detail });
            }
            Err(e) => reasons.push(format!("{channel}: {e}")),
        }
    }
    if reasons.is_empty() {
        reasons.push("no channel to send on".into());
    }
    Ok(SendPlan::Skip(reasons.join("; ")))
}

/// POSTs the run and the customer to a journey's webhook, through the
/// egress policy, signed like event webhooks, with the (run, step) as the
/// idempotency key (a crash between the call and its record may repeat it).
async fn call_webhook(state: &AppState, account_id: AccountId, run: &JourneyRun, contact: &Contact, url: &str) -> Result<u16, String> {
    state.egress.check_url_resolved(url).await.map_err(|e| e.to_string())?;
    let body = serde_json::json!({
        "account_id": account_id,
        "journey_id": run.journey_id,
        "run_id": run.id,
        "step_id": run.step_id,
        "contact": contact,
    })
    .to_string();
    let timestamp = state.clock.now().unix_timestamp();
    let signature = threadline_domain::webhook::sign(webhook_secret(state, account_id).as_bytes(), timestamp, body.as_bytes());
    let client = state
        .egress
        .http_client()
        .timeout(std::time::Duration::from_secs(state.settings.webhook_timeout_secs))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("Threadline-Signature", signature)
        .header("Idempotency-Key", format!("{}:{}", run.id, run.step_id.clone().unwrap_or_default()))
        .body(body)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("could not reach it: {e}"))?;
    let status = response.status().as_u16();
    if response.status().is_success() { Ok(status) } else { Err(format!("answered {status}")) }
}

/// The key journey webhooks are signed with (`Threadline-Signature`, as
/// event webhooks), one per account, derived from the server's secret key.
pub fn webhook_secret(state: &AppState, account_id: AccountId) -> String {
    format!("jwhsec_{}", state.secrets.sign_link(&format!("journey-webhook:{account_id}")))
}

/// Which channels a customer could be reached on, for the dry run.
pub fn reachable(context: &ReplyContext, now: OffsetDateTime) -> Vec<(Channel, bool, Option<String>)> {
    context.options(now).into_iter().map(|o| (o.channel, o.allowed || o.template_allowed, o.reason)).collect()
}
