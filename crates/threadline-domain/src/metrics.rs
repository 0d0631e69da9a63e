//! Measurements of the service: what one conversation's history says about
//! how it was answered ([`ConversationFacts`], derived by [`facts`]), and
//! the standard formulas reports use over many of them. `docs/metrics.md`
//! is the written definition of every metric; this module is its
//! executable form, so the two must say the same thing.
//!
//! Who counts as answering: only a person (an agent's reply on the
//! conversation). Bot answers, automatic messages (acknowledgements,
//! journey sends, out-of-office mail) and internal notes never start or
//! stop a clock.

use std::collections::BTreeMap;

use serde::Serialize;
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::message::{Direction, SenderKind};
use crate::sla::{BusinessHours, OffsetAt, business_time_between};

/// Whatever happened in a conversation that a metric looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A message (never a note) on `channel`. `automatic` marks mail a
    /// machine sent (an out-of-office reply from the customer's side).
    Message { at: OffsetDateTime, direction: Direction, sender: SenderKind, automatic: bool, channel: String },
    /// The conversation was resolved, by a person, a bot or the system.
    Resolved { at: OffsetDateTime, by: SenderKind },
    /// A resolved conversation became open again.
    Reopened { at: OffsetDateTime, by: SenderKind },
    /// A bot passed the conversation to people.
    HandedOff { at: OffsetDateTime },
}

impl Entry {
    pub fn at(&self) -> OffsetDateTime {
        match self {
            Entry::Message { at, .. } | Entry::Resolved { at, .. } | Entry::Reopened { at, .. } | Entry::HandedOff { at } => *at,
        }
    }
}

/// One conversation's history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    pub created_at: OffsetDateTime,
    /// A bot answered first (the customer talked to a bot before any person).
    pub bot_started: bool,
    pub entries: Vec<Entry>,
}

/// What one conversation's history says, ready to be summed over many.
/// Durations are whole seconds; `*_business_secs` count only opening hours.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConversationFacts {
    /// The channel of the customer's first message.
    pub first_channel: Option<String>,
    /// The channel of the first reply by a person.
    pub answer_channel: Option<String>,
    pub first_customer_at: Option<OffsetDateTime>,
    pub first_response_at: Option<OffsetDateTime>,
    pub first_response_secs: Option<i64>,
    pub first_response_business_secs: Option<i64>,
    /// Waits that a person's reply ended, and their sums.
    pub reply_waits: i64,
    pub reply_secs: i64,
    pub reply_business_secs: i64,
    pub customer_messages: i64,
    pub agent_messages: i64,
    pub bot_messages: i64,
    pub automatic_messages: i64,
    /// How many times the conversation moved to another channel.
    pub channel_switches: i64,
    /// Set while the conversation stands resolved: its latest resolution.
    pub resolved_at: Option<OffsetDateTime>,
    pub resolution_secs: Option<i64>,
    pub resolution_business_secs: Option<i64>,
    pub first_resolved_at: Option<OffsetDateTime>,
    pub resolutions: i64,
    pub reopens: i64,
    /// The customer wrote again in this conversation after its first resolution.
    pub customer_after_resolution: bool,
    pub bot_involved: bool,
    pub handed_off: bool,
    /// The bot resolved it and no person took part.
    pub resolved_by_bot: bool,
}

/// Derives a conversation's facts from its history. Business time follows
/// `hours` in the zone `offset_at` gives (calendar time without hours).
pub fn facts(history: &History, hours: Option<&BusinessHours>, offset_at: OffsetAt<'_>) -> ConversationFacts {
    let mut entries = history.entries.clone();
    entries.sort_by_key(Entry::at);
    let mut f = ConversationFacts { bot_involved: history.bot_started, ..Default::default() };
    let business = |from: OffsetDateTime, to: OffsetDateTime| business_time_between(hours, from, to, offset_at);
    // With a bot, the customer waits for people from the handoff on.
    let mut with_bot = history.bot_started;
    let mut waiting_since: Option<OffsetDateTime> = None;
    let mut last_channel: Option<&str> = None;
    let mut resolved_by: Option<SenderKind> = None;
    for entry in &entries {
        match entry {
            Entry::Message { at, direction, sender, automatic, channel } => {
                if last_channel.is_some_and(|c| c != channel) {
                    f.channel_switches += 1;
                }
                last_channel = Some(channel);
                match (direction, sender) {
                    (Direction::Inbound, _) if *automatic => f.automatic_messages += 1,
                    (Direction::Inbound, _) => {
                        f.customer_messages += 1;
                        if f.first_customer_at.is_none() {
                            f.first_customer_at = Some(*at);
                            f.first_channel = Some(channel.clone());
                        }
                        if f.first_resolved_at.is_some() {
                            f.customer_after_resolution = true;
                        }
                        if !with_bot && waiting_since.is_none() {
                            waiting_since = Some(*at);
                        }
                    }
                    (Direction::Outbound, SenderKind::User) => {
                        f.agent_messages += 1;
                        if f.first_response_at.is_none() {
                            f.first_response_at = Some(*at);
                            f.answer_channel = Some(channel.clone());
                        }
                        if let Some(since) = waiting_since.take() {
                            let (secs, business_secs) = ((*at - since).whole_seconds(), business(since, *at));
                            if f.reply_waits == 0 {
                                f.first_response_secs = Some(secs);
                                f.first_response_business_secs = Some(business_secs);
                            }
                            f.reply_waits += 1;
                            f.reply_secs += secs;
                            f.reply_business_secs += business_secs;
                        }
                        // A person in the conversation ends the bot's part.
                        with_bot = false;
                    }
                    (Direction::Outbound, SenderKind::Bot) => {
                        f.bot_messages += 1;
                        f.bot_involved = true;
                    }
                    (Direction::Outbound, _) => f.automatic_messages += 1,
                }
            }
            Entry::HandedOff { at } => {
                f.handed_off = true;
                f.bot_involved = true;
                if with_bot {
                    with_bot = false;
                    waiting_since = Some(*at);
                }
            }
            Entry::Resolved { at, by } => {
                f.resolutions += 1;
                f.first_resolved_at.get_or_insert(*at);
                f.resolved_at = Some(*at);
                resolved_by = Some(*by);
                // A wait nobody answered before the case closed is not a reply time.
                waiting_since = None;
            }
            Entry::Reopened { .. } => {
                f.reopens += 1;
                f.resolved_at = None;
                resolved_by = None;
            }
        }
    }
    if let Some(at) = f.resolved_at {
        f.resolution_secs = Some((at - history.created_at).whole_seconds().max(0));
        f.resolution_business_secs = Some(business(history.created_at, at));
    }
    f.resolved_by_bot = resolved_by == Some(SenderKind::Bot) && f.agent_messages == 0 && !f.handed_off;
    f
}

/// How long a first-contact resolution, or a bot's deflection, must stand
/// before it counts: the customer did not come back within it.
pub const FCR_WINDOW: Duration = Duration::days(7);
pub const DEFLECTION_WINDOW: Duration = Duration::hours(72);

/// The verdict on one conversation against a window after its resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Settled {
    Yes,
    No,
    /// The window has not passed and nothing has broken it yet.
    Pending,
}

/// First-contact resolution: resolved once, never reopened, and the
/// customer wrote neither here nor anywhere else within [`FCR_WINDOW`]
/// (`came_back` says whether they started another conversation then).
pub fn first_contact_resolution(f: &ConversationFacts, came_back: bool, now: OffsetDateTime) -> Option<Settled> {
    let resolved = f.first_resolved_at?;
    Some(if f.reopens > 0 || f.customer_after_resolution || came_back {
        Settled::No
    } else if now < resolved + FCR_WINDOW {
        Settled::Pending
    } else {
        Settled::Yes
    })
}

/// Bot deflection: the bot resolved it, nobody was handed it, and the
/// customer did not start another conversation within [`DEFLECTION_WINDOW`].
/// None for conversations no bot handled.
pub fn deflected(f: &ConversationFacts, came_back: bool, now: OffsetDateTime) -> Option<Settled> {
    if !f.bot_involved {
        return None;
    }
    Some(match f.resolved_at {
        _ if !f.resolved_by_bot || f.handed_off || f.reopens > 0 || came_back => Settled::No,
        Some(at) if now < at + DEFLECTION_WINDOW => Settled::Pending,
        Some(_) => Settled::Yes,
        None => Settled::No,
    })
}

/// A distribution of durations: count, mean, median and 90th percentile
/// (nearest rank, from a [`crate::tally::Histogram`]), in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Durations {
    pub count: i64,
    pub mean_secs: Option<f64>,
    pub median_secs: Option<i64>,
    pub p90_secs: Option<i64>,
}

/// `part / whole`, none of nothing.
pub fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Hour of the week in local time: 0 is Monday 00:00–01:00, 167 Sunday 23:00.
pub fn hour_of_week(at: OffsetDateTime, offset: UtcOffset) -> u8 {
    let local = at.to_offset(offset);
    local.weekday().number_days_from_monday() * 24 + local.hour()
}

/// The period of the same length just before `from..to`.
pub fn previous_period(from: OffsetDateTime, to: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    (from - (to - from), from)
}

crate::conversation::string_enum! {
    /// A change of a conversation's state that its row does not keep.
    Change {
        Resolved => "resolved",
        Reopened => "reopened",
        HandedOff => "handed_off",
    }
}

/// One conversation as reports read it: its facts, where it belongs, and
/// what the customer did afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub conversation_id: String,
    pub created_at: OffsetDateTime,
    pub team_id: Option<String>,
    pub assignee_id: Option<String>,
    pub category: Option<String>,
    pub inbox_id: Option<String>,
    pub facts: ConversationFacts,
    /// SLA clocks decided (met, or missed) and those met.
    pub sla_clocks: i64,
    pub sla_met: i64,
    /// The customer started another conversation within [`FCR_WINDOW`] of
    /// the first resolution / within [`DEFLECTION_WINDOW`] of the latest.
    pub came_back_fcr: bool,
    pub came_back_deflection: bool,
}

/// Counts behind a rate, so a reader sees what it is made of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Rate {
    pub rate: Option<f64>,
    pub part: i64,
    pub whole: i64,
}

impl Rate {
    pub fn new(part: i64, whole: i64) -> Self {
        Self { rate: rate(part, whole), part, whole }
    }
}

/// The mean of waits summed per conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MeanWait {
    pub waits: i64,
    pub mean_secs: Option<f64>,
    pub mean_business_secs: Option<f64>,
}

/// First-contact resolution or deflection: the settled verdicts and those
/// still inside their window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SettledRate {
    pub rate: Option<f64>,
    pub yes: i64,
    pub no: i64,
    pub pending: i64,
}

/// What the bot did with the conversations it took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BotSummary {
    pub conversations: i64,
    /// Never handed to a person.
    pub containment: Rate,
    pub deflection: SettledRate,
}

/// The headline numbers of a period (see `docs/metrics.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Summary {
    /// Conversations created in the period.
    pub conversations: i64,
    pub customer_messages: i64,
    pub agent_messages: i64,
    pub first_response: Durations,
    pub first_response_business: Durations,
    pub reply: MeanWait,
    /// Conversations created in the period that a person answered.
    pub response_rate: Rate,
    /// Conversations whose latest resolution fell in the period.
    pub resolved: i64,
    pub resolution: Durations,
    pub resolution_business: Durations,
    /// Over conversations first resolved in the period.
    pub first_contact_resolution: SettledRate,
    pub reopen_rate: Rate,
    pub bot: BotSummary,
    pub sla_attainment: Rate,
    /// Conversations that moved between channels, and the moves.
    pub channel_switching: Rate,
    pub channel_switches: i64,
}

impl Summary {
    /// The period `from..to` (end excluded) over `rows`, as of `now`. Rows
    /// may include conversations outside the period; each metric takes the
    /// ones its definition names.
    pub fn of(rows: &[Measured], from: OffsetDateTime, to: OffsetDateTime, now: OffsetDateTime) -> Self {
        crate::tally::Tally::of(rows, from, to, now).summary()
    }
}

/// What conversations are grouped by in a volume report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Channel,
    Inbox,
    Team,
    Agent,
    Category,
    /// 0 (Monday 00:00) … 167 (Sunday 23:00), local time.
    HourOfWeek,
}

/// One group of a volume report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct VolumeRow {
    /// The channel, id, category or hour; `null` for conversations without one.
    pub key: Option<String>,
    pub conversations: i64,
    pub resolved: i64,
    pub first_response: Durations,
}

/// Conversations created in `from..to`, grouped by `by`; hours of the week
/// in `offset`. Ordered by volume (hours in order, all 168 of them).
pub fn volume(rows: &[Measured], by: Dimension, from: OffsetDateTime, to: OffsetDateTime, offset: UtcOffset) -> Vec<VolumeRow> {
    // Volume counts nothing that depends on the time of asking.
    match by {
        Dimension::HourOfWeek => crate::tally::hour_of_week_rows(&crate::tally::by_hour(rows, from, to, to), offset),
        _ => crate::tally::volume_rows(&crate::tally::by_group(rows, by, from, to, to)),
    }
}

/// How conversations crossed channels: the channel a customer first wrote
/// on against the one a person answered on, and which channels customers
/// choose for each category.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChannelFlow {
    /// `(first channel, answering channel, conversations)`, largest first.
    pub first_to_answer: Vec<(String, String, i64)>,
    /// `(category, channel, conversations)`, by category then largest first.
    pub channel_by_category: Vec<(String, String, i64)>,
}

pub fn channel_flow(rows: &[Measured], from: OffsetDateTime, to: OffsetDateTime) -> ChannelFlow {
    crate::tally::Tally::of(rows, from, to, to).flow()
}

/// One local day of a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Day {
    /// `YYYY-MM-DD`, local.
    pub date: String,
    pub created: i64,
    pub resolved: i64,
}

/// Conversations created and resolved per local day of `from..to` (every
/// day listed, empty ones too; at most 400).
pub fn daily(rows: &[Measured], from: OffsetDateTime, to: OffsetDateTime, offset: UtcOffset) -> Vec<Day> {
    crate::tally::days_of(&crate::tally::by_hour(rows, from, to, to), from, to, offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sla::Opening;
    use time::macros::{datetime, offset};

    fn msg(at: OffsetDateTime, direction: Direction, sender: SenderKind, channel: &str) -> Entry {
        Entry::Message { at, direction, sender, automatic: false, channel: channel.into() }
    }
    fn customer(at: OffsetDateTime, channel: &str) -> Entry {
        msg(at, Direction::Inbound, SenderKind::Contact, channel)
    }
    fn agent(at: OffsetDateTime, channel: &str) -> Entry {
        msg(at, Direction::Outbound, SenderKind::User, channel)
    }
    fn utc(_: OffsetDateTime) -> UtcOffset {
        UtcOffset::UTC
    }
    fn history(entries: Vec<Entry>) -> History {
        History { created_at: entries[0].at(), bot_started: false, entries }
    }

    #[test]
    fn first_response_and_reply_times_count_only_people() {
        let h = history(vec![
            customer(datetime!(2026-03-02 09:00 UTC), "email"),
            // An automatic acknowledgement is no answer.
            msg(datetime!(2026-03-02 09:00:05 UTC), Direction::Outbound, SenderKind::System, "email"),
            customer(datetime!(2026-03-02 09:10 UTC), "email"),
            agent(datetime!(2026-03-02 09:30 UTC), "whatsapp"),
            customer(datetime!(2026-03-02 10:00 UTC), "whatsapp"),
            agent(datetime!(2026-03-02 10:05 UTC), "whatsapp"),
            Entry::Resolved { at: datetime!(2026-03-02 11:00 UTC), by: SenderKind::User },
        ]);
        let f = facts(&h, None, &utc);
        assert_eq!(f.first_response_secs, Some(30 * 60), "from the first customer message");
        assert_eq!((f.reply_waits, f.reply_secs), (2, 30 * 60 + 5 * 60));
        assert_eq!((f.customer_messages, f.agent_messages, f.automatic_messages), (3, 2, 1));
        assert_eq!((f.first_channel.as_deref(), f.answer_channel.as_deref()), (Some("email"), Some("whatsapp")));
        assert_eq!(f.channel_switches, 1);
        assert_eq!(f.resolution_secs, Some(2 * 3600));
        assert_eq!((f.resolutions, f.reopens), (1, 0));
    }

    #[test]
    fn business_hours_stop_the_clock_overnight() {
        let hours = BusinessHours {
            time_zone: "Europe/Rome".into(),
            openings: ["monday", "tuesday", "wednesday", "thursday", "friday"]
                .iter()
                .map(|d| Opening { day: (*d).into(), open: "09:00".into(), close: "18:00".into() })
                .collect(),
        };
        let cet = |_: OffsetDateTime| offset!(+1);
        // Friday 17:00 Rome → Monday 10:00 Rome: one hour Friday, one Monday.
        let h = history(vec![customer(datetime!(2026-03-13 16:00 UTC), "sms"), agent(datetime!(2026-03-16 09:00 UTC), "sms")]);
        let f = facts(&h, Some(&hours), &cet);
        assert_eq!(f.first_response_business_secs, Some(2 * 3600));
        assert_eq!(f.first_response_secs, Some(65 * 3600));
    }

    #[test]
    fn bot_conversations_wait_for_people_from_the_handoff() {
        let start = datetime!(2026-03-02 09:00 UTC);
        let h = History {
            created_at: start,
            bot_started: true,
            entries: vec![
                customer(start, "web_chat"),
                msg(start + Duration::seconds(2), Direction::Outbound, SenderKind::Bot, "web_chat"),
                customer(start + Duration::minutes(1), "web_chat"),
                Entry::HandedOff { at: start + Duration::minutes(2) },
                agent(start + Duration::minutes(7), "web_chat"),
            ],
        };
        let f = facts(&h, None, &utc);
        assert_eq!(f.first_response_secs, Some(5 * 60));
        assert!(f.bot_involved && f.handed_off && !f.resolved_by_bot);

        let solo = History {
            created_at: start,
            bot_started: true,
            entries: vec![
                customer(start, "web_chat"),
                msg(start + Duration::seconds(2), Direction::Outbound, SenderKind::Bot, "web_chat"),
                Entry::Resolved { at: start + Duration::minutes(3), by: SenderKind::Bot },
            ],
        };
        let f = facts(&solo, None, &utc);
        assert!(f.resolved_by_bot && f.first_response_secs.is_none());
        let now = start + Duration::hours(1);
        assert_eq!(deflected(&f, false, now), Some(Settled::Pending));
        assert_eq!(deflected(&f, false, start + Duration::days(4)), Some(Settled::Yes));
        assert_eq!(deflected(&f, true, start + Duration::days(4)), Some(Settled::No), "the customer came back");
    }

    #[test]
    fn reopening_breaks_first_contact_resolution() {
        let t = datetime!(2026-03-02 09:00 UTC);
        let h = history(vec![
            customer(t, "email"),
            agent(t + Duration::minutes(10), "email"),
            Entry::Resolved { at: t + Duration::hours(1), by: SenderKind::User },
            customer(t + Duration::days(2), "email"),
            Entry::Reopened { at: t + Duration::days(2), by: SenderKind::Contact },
            agent(t + Duration::days(2) + Duration::hours(1), "email"),
            Entry::Resolved { at: t + Duration::days(3), by: SenderKind::User },
        ]);
        let f = facts(&h, None, &utc);
        assert_eq!((f.resolutions, f.reopens), (2, 1));
        assert_eq!(f.resolution_secs, Some(3 * 86_400), "to the latest resolution");
        assert_eq!(f.first_resolved_at, Some(t + Duration::hours(1)));
        assert_eq!(first_contact_resolution(&f, false, t + Duration::days(30)), Some(Settled::No));

        let once = history(vec![customer(t, "email"), Entry::Resolved { at: t + Duration::hours(1), by: SenderKind::User }]);
        let f = facts(&once, None, &utc);
        assert_eq!(first_contact_resolution(&f, false, t + Duration::days(1)), Some(Settled::Pending));
        assert_eq!(first_contact_resolution(&f, false, t + Duration::days(8)), Some(Settled::Yes));
        assert_eq!(first_contact_resolution(&f, true, t + Duration::days(8)), Some(Settled::No));
        // A reopened conversation that is open now has no resolution time.
        let open = history(vec![
            customer(t, "sms"),
            Entry::Resolved { at: t + Duration::hours(1), by: SenderKind::User },
            Entry::Reopened { at: t + Duration::hours(2), by: SenderKind::User },
        ]);
        assert_eq!(facts(&open, None, &utc).resolution_secs, None);
    }

    #[test]
    fn distributions_use_nearest_rank() {
        let mut h = crate::tally::Histogram::default();
        for v in [50, 10, 40, 30, 20] {
            h.add(v);
        }
        let d = h.durations();
        assert_eq!((d.count, d.median_secs, d.p90_secs), (5, Some(30), Some(50)));
        assert_eq!(d.mean_secs, Some(30.0));
        assert_eq!(rate(1, 4), Some(0.25));
        assert_eq!(rate(0, 0), None);
    }

    #[test]
    fn hours_of_the_week_are_local() {
        // Sunday 23:30 UTC is Monday 00:30 in Rome (winter).
        assert_eq!(hour_of_week(datetime!(2026-03-15 23:30 UTC), offset!(+1)), 0);
        assert_eq!(hour_of_week(datetime!(2026-03-15 23:30 UTC), UtcOffset::UTC), 167);
        let (from, to) = previous_period(datetime!(2026-03-08 0:00 UTC), datetime!(2026-03-15 0:00 UTC));
        assert_eq!((from, to), (datetime!(2026-03-01 0:00 UTC), datetime!(2026-03-08 0:00 UTC)));
    }

    #[test]
    fn days_are_local_and_all_listed() {
        let at = datetime!(2026-03-02 23:30 UTC);
        let row = Measured {
            conversation_id: "c".into(),
            created_at: at,
            team_id: None,
            assignee_id: None,
            category: None,
            inbox_id: None,
            facts: ConversationFacts { resolved_at: Some(at + Duration::hours(1)), ..Default::default() },
            sla_clocks: 0,
            sla_met: 0,
            came_back_fcr: false,
            came_back_deflection: false,
        };
        let days = daily(&[row], datetime!(2026-03-01 0:00 +1), datetime!(2026-03-05 0:00 +1), offset!(+1));
        assert_eq!(days.len(), 4);
        // 23:30 UTC is 00:30 on the 3rd in Rome.
        assert_eq!((days[2].date.as_str(), days[2].created, days[2].resolved), ("2026-03-03", 1, 1));
        assert_eq!(days.iter().map(|d| d.created).sum::<i64>(), 1);
    }
}

/// How the runs that entered a journey in a period did: where they are,
/// how many reached the goal, how far they got step by step (drop-off),
/// and conversion by the channel their messages went on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct JourneyConversion {
    pub entered: i64,
    /// Still running (waiting or about to move).
    pub running: i64,
    pub completed: i64,
    pub converted: i64,
    pub exited: i64,
    pub failed: i64,
    /// Converted of the runs that entered.
    pub conversion: Rate,
    /// Each step in the journey's order: how many runs reached it, the
    /// share of those that entered, and how many stopped between the step
    /// before and this one.
    pub steps: Vec<StepReach>,
    pub channels: Vec<ChannelConversion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StepReach {
    pub step_id: String,
    pub reached: i64,
    pub of_entered: Rate,
    /// Runs that reached the step before (or entered, for the first) and not this one.
    pub dropped: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChannelConversion {
    pub channel: String,
    /// Runs with a message sent on the channel.
    pub runs: i64,
    pub converted: Rate,
}

/// What the store counts for one journey's runs entered in a period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JourneyCounts {
    /// Run status → runs.
    pub statuses: BTreeMap<String, i64>,
    /// Step id → runs that took it.
    pub reached: BTreeMap<String, i64>,
    /// Channel → (runs sent on it, of which converted).
    pub channels: BTreeMap<String, (i64, i64)>,
}

/// Each step of a journey in order with the step runs reach it from: the
/// one before it in its list, or the branch (or wait) holding the list;
/// `None` for the journey's first step.
pub fn step_order(spec: &crate::journey::JourneySpec) -> Vec<(String, Option<String>)> {
    fn walk(list: &[crate::journey::Step], holder: Option<&str>, out: &mut Vec<(String, Option<String>)>) {
        let mut before = holder.map(str::to_owned);
        for step in list {
            out.push((step.id.clone(), before.clone()));
            for (_, children) in step.children() {
                walk(children, Some(&step.id), out);
            }
            before = Some(step.id.clone());
        }
    }
    let mut out = Vec::new();
    walk(&spec.steps, None, &mut out);
    out
}

/// The conversion report of one journey, its steps in `order` (see
/// [`step_order`]; steps no longer in the journey follow, by id). A
/// step's `dropped` are the runs that reached the step it follows and not
/// it — for the first step of a branch's arm, those that took another arm.
pub fn journey_conversion(counts: &JourneyCounts, order: &[(String, Option<String>)]) -> JourneyConversion {
    let status = |s: &str| counts.statuses.get(s).copied().unwrap_or(0);
    let entered: i64 = counts.statuses.values().sum();
    let running = status("active") + status("waiting");
    let converted = status("converted");
    let reached = |id: &str| counts.reached.get(id).copied().unwrap_or(0);
    let mut ids: Vec<(String, Option<String>)> = order.to_vec();
    let mut gone: Vec<&String> = counts.reached.keys().filter(|id| !order.iter().any(|(o, _)| o == *id)).collect();
    gone.sort();
    ids.extend(gone.into_iter().map(|id| (id.clone(), None)));
    let steps = ids
        .into_iter()
        .map(|(id, after)| {
            let n = reached(&id);
            let before = after.as_deref().map_or(entered, reached);
            StepReach { of_entered: Rate::new(n, entered), dropped: (before - n).max(0), reached: n, step_id: id }
        })
        .collect();
    let channels = counts
        .channels
        .iter()
        .map(|(channel, (runs, converted))| ChannelConversion {
            channel: channel.clone(),
            runs: *runs,
            converted: Rate::new(*converted, *runs),
        })
        .collect();
    JourneyConversion {
        entered,
        running,
        completed: status("completed"),
        converted,
        exited: status("exited"),
        failed: status("failed"),
        conversion: Rate::new(converted, entered),
        steps,
        channels,
    }
}

#[cfg(test)]
mod journey_conversion_tests {
    use super::*;

    #[test]
    fn runs_are_followed_step_by_step_and_by_channel() {
        let spec: crate::journey::JourneySpec = serde_json::from_value(serde_json::json!({
            "trigger": { "type": "event", "name": "Checkout Started" },
            "goal": { "event": { "name": "Order Completed" }, "within_days": 3 },
            "steps": [
                { "id": "wait", "type": "wait", "seconds": 3600 },
                { "id": "which", "type": "branch", "branches": [
                    { "name": "vip", "when": [ { "type": "attribute", "property": "vip", "op": "equals", "value": true } ],
                      "steps": [ { "id": "call", "type": "task", "kind": "call", "title": "Call", "due_in_seconds": 60 } ] } ],
                  "otherwise": [ { "id": "nudge", "type": "send", "channel": "sms", "purpose": "service", "text": "Hi" } ] },
                { "id": "bye", "type": "exit" }
            ]
        }))
        .unwrap();
        let order = step_order(&spec);
        let ids: Vec<&str> = order.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["wait", "which", "call", "nudge", "bye"]);
        assert_eq!(order[2].1.as_deref(), Some("which"), "an arm's first step follows its branch");
        assert_eq!(order[4].1.as_deref(), Some("which"), "after the branch");

        let counts = JourneyCounts {
            statuses: [("converted".to_owned(), 3), ("exited".to_owned(), 4), ("waiting".to_owned(), 3)].into(),
            reached: [
                ("wait".to_owned(), 7),
                ("which".to_owned(), 6),
                ("call".to_owned(), 2),
                ("nudge".to_owned(), 4),
                ("bye".to_owned(), 4),
                ("old-step".to_owned(), 1),
            ]
            .into(),
            channels: [("sms".to_owned(), (4, 1))].into(),
        };
        let report = journey_conversion(&counts, &order);
        assert_eq!((report.entered, report.running, report.converted), (10, 3, 3));
        assert_eq!(report.conversion.rate, Some(0.3));
        let dropped: Vec<(&str, i64, i64)> = report.steps.iter().map(|s| (s.step_id.as_str(), s.reached, s.dropped)).collect();
        assert_eq!(dropped, [("wait", 7, 3), ("which", 6, 1), ("call", 2, 4), ("nudge", 4, 2), ("bye", 4, 2), ("old-step", 1, 9)]);
        assert_eq!(report.channels[0].converted.rate, Some(0.25));
    }
}
