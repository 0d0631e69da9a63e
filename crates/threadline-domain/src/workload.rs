//! What service takes from people and what it costs (`docs/metrics.md`,
//! *Workload and cost*).
//!
//! **Handle time**: each reply or note a person writes counts the time
//! since the message before it in the conversation (whoever wrote it), at
//! most [`HANDLE_CAP_SECS`] — the time spent reading and writing that
//! answer, without the hours a conversation sits untouched. **Occupancy**:
//! an agent's handle time over their time online. **Cost**: every message
//! (customers', people's, bots', automatic; not notes) at its channel's
//! price per message, plus people's handle time at the channel's price
//! per agent minute, with the account's unit prices.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::distinct::Distinct;
use crate::validation::ValidationErrors;

/// The longest a single reply or note counts as handle time.
pub const HANDLE_CAP_SECS: i64 = 15 * 60;

/// Who wrote a message, as workload sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Author {
    Customer,
    /// A person's reply (their user id).
    Agent(String),
    /// A person's internal note (their user id).
    Note(String),
    /// A bot's or Threadline's own message.
    Machine,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    pub conversation_id: String,
    pub contact_id: String,
    pub at: OffsetDateTime,
    pub channel: String,
    pub author: Author,
}

/// The account's unit prices, per channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitCosts {
    /// ISO 4217 (`EUR`); shown beside amounts.
    #[serde(default = "euro")]
    pub currency: String,
    /// Channel → prices (channels not named cost nothing).
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelRates>,
}

fn euro() -> String {
    "EUR".into()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelRates {
    /// Per message, either way (a provider's price per SMS, per WhatsApp message…).
    #[serde(default)]
    pub message: f64,
    /// Per minute of a person's handle time.
    #[serde(default)]
    pub agent_minute: f64,
}

impl UnitCosts {
    pub fn validate(&self, known_channel: impl Fn(&str) -> bool) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.currency.len() != 3 || !self.currency.chars().all(|c| c.is_ascii_uppercase()) {
            errors.push("currency", "an ISO 4217 code such as EUR");
        }
        for (channel, rates) in &self.channels {
            if !known_channel(channel) {
                errors.push(format!("channels.{channel}"), "no such channel");
            }
            for (name, value) in [("message", rates.message), ("agent_minute", rates.agent_minute)] {
                if !value.is_finite() || !(0.0..=10_000.0).contains(&value) {
                    errors.push(format!("channels.{channel}.{name}"), "a price from 0 to 10,000");
                }
            }
        }
        errors.into_result(())
    }
}

/// One person's work in a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AgentWorkload {
    pub agent_id: String,
    pub replies: i64,
    pub notes: i64,
    /// Conversations they wrote in.
    pub conversations: i64,
    pub handle_secs: i64,
    /// Mean handle time per reply or note.
    pub handle_per_message_secs: Option<f64>,
    /// Time online in the period (from their presence).
    pub online_secs: i64,
    /// Handle time ÷ time online (none without time online).
    pub occupancy: Option<f64>,
}

/// One channel's cost in a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChannelCost {
    pub channel: String,
    pub messages: i64,
    pub handle_secs: i64,
    pub messages_cost: f64,
    pub agents_cost: f64,
    pub total: f64,
    /// Customers with a message on the channel.
    pub contacts: i64,
    pub per_contact: Option<f64>,
}

/// What service cost in a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CostReport {
    pub currency: String,
    pub channels: Vec<ChannelCost>,
    pub messages: i64,
    pub handle_secs: i64,
    pub total: f64,
    /// Customers and conversations with a message in the period.
    pub contacts: i64,
    pub per_contact: Option<f64>,
    pub conversations: i64,
    pub per_conversation: Option<f64>,
}

/// One person's counts in a [`WorkCounts`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentCounts {
    #[serde(default)]
    pub replies: i64,
    #[serde(default)]
    pub notes: i64,
    #[serde(default)]
    pub handle_secs: i64,
    /// The conversations they wrote in.
    #[serde(default)]
    pub conversations: Distinct,
}

/// One channel's counts in a [`WorkCounts`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelCounts {
    #[serde(default)]
    pub messages: i64,
    #[serde(default)]
    pub handle_secs: i64,
    /// The customers with a message on it.
    #[serde(default)]
    pub contacts: Distinct,
}

/// What a stretch of time's messages add up to, in a form that adds up
/// again: a day's counts are stored once the day is over
/// (`metrics_rollups`), and a year's report is its days' counts merged
/// (sums; distinct customers and conversations as [`Distinct`] counts,
/// exact while small, within about 1.6% beyond).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkCounts {
    #[serde(default)]
    pub agents: BTreeMap<String, AgentCounts>,
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelCounts>,
    /// Customers and conversations with a message (notes aside).
    #[serde(default)]
    pub contacts: Distinct,
    #[serde(default)]
    pub conversations: Distinct,
}

impl WorkCounts {
    pub fn merge(&mut self, other: &WorkCounts) {
        for (id, theirs) in &other.agents {
            let mine = self.agents.entry(id.clone()).or_default();
            mine.replies += theirs.replies;
            mine.notes += theirs.notes;
            mine.handle_secs += theirs.handle_secs;
            mine.conversations.merge(&theirs.conversations);
        }
        for (channel, theirs) in &other.channels {
            let mine = self.channels.entry(channel.clone()).or_default();
            mine.messages += theirs.messages;
            mine.handle_secs += theirs.handle_secs;
            mine.contacts.merge(&theirs.contacts);
        }
        self.contacts.merge(&other.contacts);
        self.conversations.merge(&other.conversations);
    }

    /// Each person's replies, notes, handle time and occupancy; `online`
    /// is their time online in the period (user id → seconds).
    pub fn workload(&self, online: &BTreeMap<String, i64>) -> Vec<AgentWorkload> {
        let mut by_agent: BTreeMap<&str, AgentWorkload> = BTreeMap::new();
        for (agent, c) in &self.agents {
            by_agent.insert(
                agent,
                AgentWorkload {
                    agent_id: agent.clone(),
                    replies: c.replies,
                    notes: c.notes,
                    conversations: c.conversations.count(),
                    handle_secs: c.handle_secs,
                    ..Default::default()
                },
            );
        }
        for agent in online.keys() {
            by_agent.entry(agent).or_insert_with(|| AgentWorkload { agent_id: agent.clone(), ..Default::default() });
        }
        by_agent
            .into_values()
            .map(|mut w| {
                let written = w.replies + w.notes;
                w.handle_per_message_secs = (written > 0).then(|| w.handle_secs as f64 / written as f64);
                w.online_secs = online.get(&w.agent_id).copied().unwrap_or(0);
                w.occupancy = (w.online_secs > 0).then(|| w.handle_secs as f64 / w.online_secs as f64);
                w
            })
            .collect()
    }

    /// What the messages and handle time cost at `rates`.
    pub fn costs(&self, rates: &UnitCosts) -> CostReport {
        let mut report = CostReport { currency: rates.currency.clone(), ..Default::default() };
        for (channel, counts) in &self.channels {
            let rate = rates.channels.get(channel).cloned().unwrap_or_default();
            let mut c = ChannelCost {
                channel: channel.clone(),
                messages: counts.messages,
                handle_secs: counts.handle_secs,
                contacts: counts.contacts.count(),
                ..Default::default()
            };
            c.messages_cost = c.messages as f64 * rate.message;
            c.agents_cost = c.handle_secs as f64 / 60.0 * rate.agent_minute;
            c.total = c.messages_cost + c.agents_cost;
            c.per_contact = (c.contacts > 0).then(|| c.total / c.contacts as f64);
            report.messages += c.messages;
            report.handle_secs += c.handle_secs;
            report.total += c.total;
            report.channels.push(c);
        }
        report.contacts = self.contacts.count();
        report.per_contact = (report.contacts > 0).then(|| report.total / report.contacts as f64);
        report.conversations = self.conversations.count();
        report.per_conversation = (report.conversations > 0).then(|| report.total / report.conversations as f64);
        report
    }
}

/// The work of a period added up message by message, in conversation
/// then time order (as a database hands them over), so that a year of
/// messages is never held at once: only the [`WorkCounts`].
#[derive(Debug, Clone)]
pub struct WorkTally {
    from: OffsetDateTime,
    to: OffsetDateTime,
    /// The message before (for time), and the last one with a channel of its own, with its time (for notes).
    previous: Option<(String, OffsetDateTime)>,
    channelled: Option<(String, OffsetDateTime)>,
    counts: WorkCounts,
}

impl WorkTally {
    /// Counts the messages of `from..to`; those before `from` (up to
    /// [`HANDLE_CAP_SECS`] earlier) only give context.
    pub fn new(from: OffsetDateTime, to: OffsetDateTime) -> Self {
        WorkTally { from, to, previous: None, channelled: None, counts: WorkCounts::default() }
    }

    /// The next message, in conversation then time order.
    pub fn push(&mut self, item: WorkItem) {
        if self.previous.as_ref().is_some_and(|(conversation, _)| *conversation != item.conversation_id) {
            (self.previous, self.channelled) = (None, None);
        }
        if item.at >= self.from && item.at < self.to {
            let (agent, secs) = match &item.author {
                Author::Agent(id) | Author::Note(id) => {
                    let since = self.previous.as_ref().map_or(HANDLE_CAP_SECS, |(_, at)| (item.at - *at).whole_seconds());
                    (Some(id.clone()), since.clamp(0, HANDLE_CAP_SECS))
                }
                _ => (None, 0),
            };
            // A note is charged to the channel of the message before it
            // within the quarter hour (the context a day read on its own has).
            let channel = match (&item.author, &self.channelled) {
                (Author::Note(_), Some((c, at))) if (item.at - *at).whole_seconds() <= HANDLE_CAP_SECS => c.clone(),
                _ => item.channel.clone(),
            };
            let note = matches!(item.author, Author::Note(_));
            let counts = &mut self.counts;
            if let Some(agent) = agent {
                let a = counts.agents.entry(agent).or_default();
                if note {
                    a.notes += 1;
                } else {
                    a.replies += 1;
                }
                a.handle_secs += secs;
                a.conversations.insert(&item.conversation_id);
            }
            let c = counts.channels.entry(channel).or_default();
            if !note {
                c.messages += 1;
                c.contacts.insert(&item.contact_id);
                counts.contacts.insert(&item.contact_id);
                counts.conversations.insert(&item.conversation_id);
            }
            c.handle_secs += secs;
        }
        if !matches!(item.author, Author::Note(_)) {
            self.channelled = Some((item.channel.clone(), item.at));
        }
        self.previous = Some((item.conversation_id, item.at));
    }

    /// What was counted.
    pub fn counts(&self) -> &WorkCounts {
        &self.counts
    }

    pub fn into_counts(self) -> WorkCounts {
        self.counts
    }

    pub fn workload(&self, online: &BTreeMap<String, i64>) -> Vec<AgentWorkload> {
        self.counts.workload(online)
    }

    pub fn costs(&self, rates: &UnitCosts) -> CostReport {
        self.counts.costs(rates)
    }
}

fn tally(items: &[WorkItem], from: OffsetDateTime, to: OffsetDateTime) -> WorkTally {
    let mut t = WorkTally::new(from, to);
    for item in items {
        t.push(item.clone());
    }
    t
}

/// Each person's replies, notes, handle time and occupancy in `from..to`
/// (`items` sorted by conversation then time); `online` is their time
/// online in the period (user id → seconds).
pub fn workload(items: &[WorkItem], from: OffsetDateTime, to: OffsetDateTime, online: &BTreeMap<String, i64>) -> Vec<AgentWorkload> {
    tally(items, from, to).workload(online)
}

/// Whole days a stored span of workload holds: UTC day numbers
/// `8k..8k + 8`. Each day's counts hold distinct-count sketches of some
/// kilobytes, so a year's report merging 365 days reads megabytes; with
/// each span's days stored merged as well, it reads some 45 spans and the
/// days at its edges instead.
pub const SPAN_DAYS: i64 = 8;

/// The first day of the span `day` falls in.
pub fn span_start(day: i64) -> i64 {
    day.div_euclid(SPAN_DAYS) * SPAN_DAYS
}

/// The spans whose every day is among `days` (ascending), by their first
/// days, and the days of `days` no such span holds.
pub fn spans_among(days: &[i64]) -> (Vec<i64>, Vec<i64>) {
    let mut spans = Vec::new();
    let mut rest = Vec::new();
    let mut i = 0;
    while i < days.len() {
        let day = days[i];
        let whole = day == span_start(day)
            && days.get(i + SPAN_DAYS as usize - 1) == Some(&(day + SPAN_DAYS - 1))
            && days[i..i + SPAN_DAYS as usize].windows(2).all(|w| w[1] == w[0] + 1);
        if whole {
            spans.push(day);
            i += SPAN_DAYS as usize;
        } else {
            rest.push(day);
            i += 1;
        }
    }
    (spans, rest)
}

/// `days` (ascending) as runs of consecutive days, first and last of each.
pub fn runs(days: &[i64]) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for &day in days {
        match out.last_mut() {
            Some(run) if run.1 + 1 == day => run.1 = day,
            _ => out.push((day, day)),
        }
    }
    out
}

/// What the messages and handle time of `from..to` cost at `rates`.
pub fn costs(items: &[WorkItem], from: OffsetDateTime, to: OffsetDateTime, rates: &UnitCosts) -> CostReport {
    tally(items, from, to).costs(rates)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn whole_spans_are_found_among_days_and_the_rest_left() {
        assert_eq!(span_start(16), 16);
        assert_eq!(span_start(23), 16);
        assert_eq!(span_start(-1), -8);
        // 13..=40: the spans 16..24 and 24..32 and 32..40 are whole; 13–15 and 40 are left.
        let days: Vec<i64> = (13..=40).collect();
        let (spans, rest) = spans_among(&days);
        assert_eq!(spans, [16, 24, 32]);
        assert_eq!(rest, [13, 14, 15, 40]);
        // A day missing (marked, today) breaks its span into days.
        let gap: Vec<i64> = (16..32).filter(|d| *d != 27).collect();
        let (spans, rest) = spans_among(&gap);
        assert_eq!(spans, [16]);
        assert_eq!(rest, [24, 25, 26, 28, 29, 30, 31]);
        assert_eq!(spans_among(&[]), (vec![], vec![]));
        assert_eq!(runs(&[1, 2, 3, 7, 9, 10]), [(1, 3), (7, 7), (9, 10)]);
        assert!(runs(&[]).is_empty());
    }

    #[test]
    fn days_merged_by_spans_give_what_they_give_one_by_one() {
        // Thirty days of 300 customers each, some returning: large enough
        // for sketches. Merged day by day or span by span, the same counts.
        let days: Vec<WorkCounts> = (0..30)
            .map(|d| {
                let mut w = WorkCounts::default();
                for c in 0..300 {
                    let who = format!("c{}", (d * 97 + c) % 4000);
                    w.contacts.insert(&who);
                    let ch = w.channels.entry(if c % 3 == 0 { "sms" } else { "email" }.into()).or_default();
                    ch.messages += 1;
                    ch.contacts.insert(&who);
                }
                w
            })
            .collect();
        let mut one_by_one = WorkCounts::default();
        for w in &days {
            one_by_one.merge(w);
        }
        let mut by_spans = WorkCounts::default();
        for chunk in days.chunks(SPAN_DAYS as usize) {
            let mut span = WorkCounts::default();
            for w in chunk {
                span.merge(w);
            }
            by_spans.merge(&span);
        }
        assert_eq!(by_spans, one_by_one);
        assert!(matches!(one_by_one.contacts, Distinct::Sketch(_)));
        assert_eq!(one_by_one.channels["sms"].messages, 3000);
    }

    fn item(conversation: &str, contact: &str, at: OffsetDateTime, channel: &str, author: Author) -> WorkItem {
        WorkItem { conversation_id: conversation.into(), contact_id: contact.into(), at, channel: channel.into(), author }
    }

    fn day() -> Vec<WorkItem> {
        let paolo = || Author::Agent("paolo".into());
        vec![
            // A: the customer writes at 9:00, Paolo answers at 9:04 (4 min), notes at 9:05 (1 min), answers at 9:40 (35 min since the note: 15).
            item("a", "ada", datetime!(2026-03-02 09:00 UTC), "sms", Author::Customer),
            item("a", "ada", datetime!(2026-03-02 09:04 UTC), "sms", paolo()),
            item("a", "ada", datetime!(2026-03-02 09:05 UTC), "api", Author::Note("paolo".into())),
            item("a", "ada", datetime!(2026-03-02 09:40 UTC), "sms", paolo()),
            // B: yesterday's message gives the context; the bot answers, Giulia takes over on WhatsApp 2 min later.
            item("b", "bo", datetime!(2026-03-01 23:59 UTC), "whatsapp", Author::Customer),
            item("b", "bo", datetime!(2026-03-02 00:00 UTC), "whatsapp", Author::Machine),
            item("b", "bo", datetime!(2026-03-02 00:02 UTC), "whatsapp", Author::Agent("giulia".into())),
        ]
    }

    #[test]
    fn handle_time_is_the_time_since_the_message_before_at_most_a_quarter_hour() {
        let online: BTreeMap<String, i64> = [("paolo".to_owned(), 8 * 3600), ("luca".to_owned(), 3600)].into();
        let w = workload(&day(), datetime!(2026-03-02 00:00 UTC), datetime!(2026-03-03 00:00 UTC), &online);
        let find = |id: &str| w.iter().find(|a| a.agent_id == id).unwrap().clone();
        let paolo = find("paolo");
        assert_eq!((paolo.replies, paolo.notes, paolo.conversations), (2, 1, 1));
        assert_eq!(paolo.handle_secs, 4 * 60 + 60 + 15 * 60);
        assert_eq!(paolo.handle_per_message_secs, Some(400.0));
        assert_eq!(paolo.occupancy, Some(1200.0 / 28800.0));
        let giulia = find("giulia");
        assert_eq!((giulia.handle_secs, giulia.online_secs, giulia.occupancy), (120, 0, None), "never online: no occupancy");
        let luca = find("luca");
        assert_eq!((luca.replies, luca.occupancy), (0, Some(0.0)), "online and idle");
    }

    #[test]
    fn costs_charge_messages_and_minutes_per_channel() {
        let rates = UnitCosts {
            currency: "EUR".into(),
            channels: [
                ("sms".to_owned(), ChannelRates { message: 0.08, agent_minute: 0.5 }),
                ("whatsapp".to_owned(), ChannelRates { message: 0.05, agent_minute: 0.5 }),
            ]
            .into(),
        };
        let r = costs(&day(), datetime!(2026-03-02 00:00 UTC), datetime!(2026-03-03 00:00 UTC), &rates);
        let sms = r.channels.iter().find(|c| c.channel == "sms").unwrap();
        // Three SMS; 20 minutes of Paolo's time, the note's minute charged to SMS (the message before it).
        assert_eq!((sms.messages, sms.handle_secs), (3, 20 * 60));
        assert!((sms.total - (3.0 * 0.08 + 20.0 * 0.5)).abs() < 1e-9, "{sms:?}");
        let whatsapp = r.channels.iter().find(|c| c.channel == "whatsapp").unwrap();
        // Yesterday's message is context, not cost: the bot's and Giulia's.
        assert_eq!((whatsapp.messages, whatsapp.handle_secs), (2, 120));
        assert!((whatsapp.total - (2.0 * 0.05 + 2.0 * 0.5)).abs() < 1e-9);
        assert_eq!((r.contacts, r.conversations), (2, 2));
        assert!((r.per_contact.unwrap() - r.total / 2.0).abs() < 1e-9);
        assert!(r.channels.iter().all(|c| c.channel != "api"), "notes are not messages");
        assert!(UnitCosts { currency: "euro".into(), ..Default::default() }.validate(|_| true).is_err());
        let bad =
            UnitCosts { currency: "EUR".into(), channels: [("fax".to_owned(), ChannelRates { message: -1.0, agent_minute: 0.0 })].into() };
        assert_eq!(bad.validate(|c| c != "fax").unwrap_err().0.len(), 2);
    }

    #[test]
    fn days_counted_apart_and_merged_are_the_period_counted_at_once() {
        // Three days: the same customers come back, a reply at 00:02 answers yesterday's message.
        let mut items = day();
        items.push(item("a", "ada", datetime!(2026-03-03 10:00 UTC), "sms", Author::Customer));
        items.push(item("a", "ada", datetime!(2026-03-03 10:03 UTC), "sms", Author::Agent("paolo".into())));
        items.push(item("c", "bo", datetime!(2026-03-03 23:58 UTC), "email", Author::Customer));
        items.push(item("c", "bo", datetime!(2026-03-04 00:02 UTC), "email", Author::Agent("paolo".into())));
        // An hour after the customer's email, past midnight: a note with no message in the quarter hour before it.
        items.push(item("d", "cy", datetime!(2026-03-03 23:30 UTC), "email", Author::Customer));
        items.push(item("d", "cy", datetime!(2026-03-04 00:30 UTC), "api", Author::Note("paolo".into())));
        items.sort_by(|x, y| (&x.conversation_id, x.at).cmp(&(&y.conversation_id, y.at)));
        let (from, to) = (datetime!(2026-03-02 00:00 UTC), datetime!(2026-03-05 00:00 UTC));
        let whole = tally(&items, from, to).into_counts();
        let mut days = WorkCounts::default();
        for d in 0..3 {
            let day = tally(&items, from + time::Duration::days(d), from + time::Duration::days(d + 1)).into_counts();
            // Stored and read back, as the roll-up does.
            days.merge(&serde_json::from_str(&serde_json::to_string(&day).unwrap()).unwrap());
        }
        assert_eq!(days, whole);
        let paolo = &whole.workload(&BTreeMap::new())[1];
        assert_eq!((paolo.agent_id.as_str(), paolo.replies, paolo.notes, paolo.conversations), ("paolo", 4, 2, 3));
        assert_eq!(
            paolo.handle_secs,
            4 * 60 + 60 + 15 * 60 + 3 * 60 + 4 * 60 + 15 * 60,
            "the reply after midnight counts its 4 minutes, the late note a quarter hour"
        );
        let r = whole.costs(&UnitCosts::default());
        assert_eq!((r.contacts, r.conversations), (3, 4), "Bo wrote on two days and two channels: one customer");
        let contacts: Vec<_> = r.channels.iter().map(|c| (c.channel.as_str(), c.contacts, c.handle_secs)).collect();
        assert_eq!(
            contacts,
            [("api", 0, 15 * 60), ("email", 2, 4 * 60), ("sms", 1, 23 * 60), ("whatsapp", 1, 120)],
            "the late note is charged to its own channel"
        );
    }
}
