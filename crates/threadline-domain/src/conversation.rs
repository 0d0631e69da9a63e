//! Conversations, and the rule at the heart of Threadline: a customer's new
//! message, on any channel, continues their open conversation.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::ids::{ContactId, ConversationId, TeamId, UserId};

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                $name::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "unknown value `{}`, expected one of: {}",
                        text,
                        [$($text),*].join(", ")
                    ))
                })
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),*]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}
pub(crate) use string_enum;

string_enum! {
    /// Where a conversation stands.
    ConversationStatus {
        Open => "open",
        /// Waiting on something other than the agent (e.g. the customer).
        Pending => "pending",
        /// Hidden until `snoozed_until`, or until the customer writes.
        Snoozed => "snoozed",
        Resolved => "resolved",
    }
}

string_enum! {
    Priority { Low => "low", Normal => "normal", High => "high", Urgent => "urgent" }
}

string_enum! {
    /// Who is answering a conversation now.
    Handler {
        Human => "human",
        /// A bot, until it resolves the conversation or hands it to people.
        Bot => "bot",
    }
}

impl ConversationStatus {
    /// Statuses in which a conversation can still be continued by the
    /// customer's next message.
    pub fn is_active(self) -> bool {
        !matches!(self, ConversationStatus::Resolved)
    }
}

/// A conversation as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Conversation {
    pub id: ConversationId,
    pub contact_id: ContactId,
    pub status: ConversationStatus,
    pub priority: Priority,
    pub assignee_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub labels: Vec<String>,
    pub category: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub snoozed_until: Option<OffsetDateTime>,
    /// The channel the customer last wrote on.
    #[serde(default)]
    pub channel: Option<crate::channel::Channel>,
    /// The language the customer last wrote in (ISO 639-1).
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default = "human")]
    pub handler: Handler,
    /// Since when it has waited in its team's queue.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub queued_at: Option<OffsetDateTime>,
    /// The first reply an agent sent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub first_response_at: Option<OffsetDateTime>,
    /// Since when the customer has waited for an answer, if they are.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub awaiting_since: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub last_activity_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

fn human() -> Handler {
    Handler::Human
}

/// How long a customer's silence may last before their next message starts a
/// new conversation instead of continuing the open one. Configured per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContinuityWindow(Duration);

impl ContinuityWindow {
    /// Seven days: long enough that a customer who answers next week is still
    /// in context, short enough that an unrelated request a month later is
    /// a new case.
    pub const DEFAULT_SECS: i64 = 7 * 24 * 3600;
    pub const MAX_SECS: i64 = 365 * 24 * 3600;

    pub fn from_secs(secs: i64) -> Option<Self> {
        (60..=Self::MAX_SECS).contains(&secs).then(|| Self(Duration::seconds(secs)))
    }

    pub fn secs(self) -> i64 {
        self.0.whole_seconds()
    }
}

impl Default for ContinuityWindow {
    fn default() -> Self {
        Self(Duration::seconds(Self::DEFAULT_SECS))
    }
}

/// What the continuity rule needs to know of a contact's latest conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatestConversation {
    pub id: ConversationId,
    pub status: ConversationStatus,
    pub last_activity_at: OffsetDateTime,
}

/// The continuity rule's verdict for an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuity {
    /// Append to this conversation. `reopen` is set when it was pending or
    /// snoozed: the customer wrote, so it needs an agent again.
    Continue { id: ConversationId, reopen: bool },
    /// Start a new conversation for the contact.
    OpenNew,
}

/// Decides where a contact's inbound message goes, whatever channel it came
/// on: the latest conversation if it is still active and was touched within
/// the window, a new one otherwise. Resolved conversations are not reopened:
/// a customer writing after resolution starts a new case, and the agent still
/// sees the old one in the contact's timeline.
pub fn continue_or_open(latest: Option<LatestConversation>, now: OffsetDateTime, window: ContinuityWindow) -> Continuity {
    match latest {
        Some(c) if c.status.is_active() && now - c.last_activity_at <= window.0 => {
            Continuity::Continue { id: c.id, reopen: c.status != ConversationStatus::Open }
        }
        _ => Continuity::OpenNew,
    }
}

/// Where a message that names the conversation it answers goes (an email
/// reply found by its `In-Reply-To`, `References` or reply address): into
/// that conversation, even when it is not the contact's latest or was quiet
/// longer than the continuity window. A reply to a resolved conversation
/// reopens it — the customer is answering that case, not starting one.
pub fn follow_thread(thread: LatestConversation) -> Continuity {
    Continuity::Continue { id: thread.id, reopen: thread.status != ConversationStatus::Open }
}

/// Labels are short tags: trimmed, lower-cased, deduplicated, sorted.
pub fn normalize_labels(raw: &[String]) -> Result<Vec<String>, String> {
    let mut labels = Vec::with_capacity(raw.len());
    for label in raw {
        let label = label.trim().to_lowercase();
        if label.is_empty() || label.chars().count() > 64 {
            return Err("labels must be 1 to 64 characters".into());
        }
        if label.chars().any(|c| c.is_control() || c == ',') {
            return Err("labels must not contain commas or control characters".into());
        }
        labels.push(label);
    }
    labels.sort();
    labels.dedup();
    if labels.len() > 50 {
        return Err("at most 50 labels".into());
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn latest(status: ConversationStatus, last: OffsetDateTime) -> LatestConversation {
        LatestConversation { id: ConversationId::new(), status, last_activity_at: last }
    }

    #[test]
    fn an_open_conversation_within_the_window_continues() {
        let now = datetime!(2026-03-10 12:00 UTC);
        let c = latest(ConversationStatus::Open, datetime!(2026-03-09 12:00 UTC));
        assert_eq!(continue_or_open(Some(c), now, ContinuityWindow::default()), Continuity::Continue { id: c.id, reopen: false });
    }

    #[test]
    fn pending_and_snoozed_conversations_are_reopened() {
        let now = datetime!(2026-03-10 12:00 UTC);
        for status in [ConversationStatus::Pending, ConversationStatus::Snoozed] {
            let c = latest(status, datetime!(2026-03-10 11:00 UTC));
            assert_eq!(continue_or_open(Some(c), now, ContinuityWindow::default()), Continuity::Continue { id: c.id, reopen: true });
        }
    }

    #[test]
    fn a_threaded_reply_reaches_its_conversation_even_resolved_and_old() {
        let resolved = latest(ConversationStatus::Resolved, datetime!(2025-01-01 00:00 UTC));
        assert_eq!(follow_thread(resolved), Continuity::Continue { id: resolved.id, reopen: true });
        let open = latest(ConversationStatus::Open, datetime!(2025-01-01 00:00 UTC));
        assert_eq!(follow_thread(open), Continuity::Continue { id: open.id, reopen: false });
    }

    #[test]
    fn resolved_or_stale_conversations_are_not_continued() {
        let now = datetime!(2026-03-10 12:00 UTC);
        let window = ContinuityWindow::from_secs(3600).unwrap();
        let resolved = latest(ConversationStatus::Resolved, datetime!(2026-03-10 11:59 UTC));
        assert_eq!(continue_or_open(Some(resolved), now, window), Continuity::OpenNew);
        let stale = latest(ConversationStatus::Open, datetime!(2026-03-10 10:59 UTC));
        assert_eq!(continue_or_open(Some(stale), now, window), Continuity::OpenNew);
        let edge = latest(ConversationStatus::Open, datetime!(2026-03-10 11:00 UTC));
        assert!(matches!(continue_or_open(Some(edge), now, window), Continuity::Continue { .. }));
        assert_eq!(continue_or_open(None, now, window), Continuity::OpenNew);
    }

    #[test]
    fn windows_are_bounded() {
        assert!(ContinuityWindow::from_secs(59).is_none());
        assert!(ContinuityWindow::from_secs(ContinuityWindow::MAX_SECS + 1).is_none());
        assert_eq!(ContinuityWindow::from_secs(3600).unwrap().secs(), 3600);
    }

    #[test]
    fn labels_are_normalised() {
        let labels = normalize_labels(&["  VIP".into(), "billing".into(), "vip".into()]).unwrap();
        assert_eq!(labels, vec!["billing", "vip"]);
        assert!(normalize_labels(&["".into()]).is_err());
        assert!(normalize_labels(&["a,b".into()]).is_err());
    }

    #[test]
    fn statuses_parse() {
        for s in ConversationStatus::ALL {
            assert_eq!(ConversationStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(ConversationStatus::parse("closed"), None);
        assert_eq!(Priority::parse("urgent"), Some(Priority::Urgent));
    }
}
