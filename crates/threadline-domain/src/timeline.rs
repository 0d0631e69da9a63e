//! The unified contact timeline: messages, other interactions and what the
//! customer did on the site or in the app (tracked events) in one list,
//! newest first, read page by page with an opaque cursor.

use serde::Serialize;
use time::OffsetDateTime;

use crate::interaction::Interaction;
use crate::message::Message;
use crate::tracking::CustomerEvent;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TimelineEntry {
    Message(Box<Message>),
    Interaction(Interaction),
    /// A tracked call: a page or screen seen, a `track` event.
    Event(Box<CustomerEvent>),
}

impl TimelineEntry {
    pub fn at(&self) -> OffsetDateTime {
        match self {
            TimelineEntry::Message(m) => m.created_at,
            TimelineEntry::Interaction(i) => i.occurred_at,
            TimelineEntry::Event(e) => e.occurred_at,
        }
    }
}

/// Which entries a timeline page holds: the kinds, and for events one name
/// (`Order Completed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineFilter {
    pub messages: bool,
    pub interactions: bool,
    pub events: bool,
    pub event_name: Option<String>,
}

impl Default for TimelineFilter {
    fn default() -> Self {
        Self { messages: true, interactions: true, events: true, event_name: None }
    }
}

impl TimelineFilter {
    /// `message,interaction,event` (any of them, in any order).
    pub fn parse(types: &str) -> Result<Self, String> {
        let mut filter = Self { messages: false, interactions: false, events: false, event_name: None };
        for kind in types.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            match kind {
                "message" => filter.messages = true,
                "interaction" => filter.interactions = true,
                "event" => filter.events = true,
                other => return Err(format!("`{other}` is not message, interaction or event")),
            }
        }
        if !(filter.messages || filter.interactions || filter.events) {
            return Err("name at least one of message, interaction, event".into());
        }
        Ok(filter)
    }
}

/// A position in a timeline: strictly before (`at`, `id`). Entries are
/// ordered by time then id, so two entries in the same microsecond still page
/// deterministically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineCursor {
    pub at_micros: i64,
    pub id: String,
}

impl TimelineCursor {
    pub fn encode(&self) -> String {
        format!("{}_{}", self.at_micros, self.id)
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let (at, id) = raw.split_once('_')?;
        let at_micros = at.parse().ok()?;
        let valid_id = id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        valid_id.then(|| Self { at_micros, id: id.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = TimelineCursor { at_micros: 1_700_000_000_000_000, id: uuid::Uuid::now_v7().to_string() };
        assert_eq!(TimelineCursor::decode(&c.encode()), Some(c));
        for bad in ["", "abc", "12_", "x_0190a1b2-0000-7000-8000-000000000000", "1_'; drop table--"] {
            assert_eq!(TimelineCursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn filters_name_kinds() {
        let only_events = TimelineFilter::parse("event").unwrap();
        assert!(only_events.events && !only_events.messages && !only_events.interactions);
        let two = TimelineFilter::parse(" message , interaction").unwrap();
        assert!(two.messages && two.interactions && !two.events);
        assert!(TimelineFilter::parse("messages").is_err());
        assert!(TimelineFilter::parse(",").is_err());
    }
}
