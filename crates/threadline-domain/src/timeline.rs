//! The unified contact timeline: messages and other interactions in one list,
//! newest first, read page by page with an opaque cursor.

use serde::Serialize;
use time::OffsetDateTime;

use crate::interaction::Interaction;
use crate::message::Message;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TimelineEntry {
    Message(Box<Message>),
    Interaction(Interaction),
}

impl TimelineEntry {
    pub fn at(&self) -> OffsetDateTime {
        match self {
            TimelineEntry::Message(m) => m.created_at,
            TimelineEntry::Interaction(i) => i.occurred_at,
        }
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
}
