//! Domain events: one for every state change. They are written in the same
//! transaction as the change itself (so an event exists if and only if the
//! change committed), then handed to the event bus by the relay (every
//! node's live pages; NATS's stream) and delivered to webhook subscribers.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::contact::Contact;
use crate::conversation::string_enum;
use crate::identity::NormalizedIdentity;
use crate::ids::{AccountId, ContactId, EventId};

string_enum! {
    EventKind {
        ContactCreated => "contact.created",
        ContactUpdated => "contact.updated",
        ContactMerged => "contact.merged",
        IdentityLinked => "identity.linked",
        ConversationCreated => "conversation.created",
        ConversationUpdated => "conversation.updated",
        ConversationAssigned => "conversation.assigned",
        ConversationResolved => "conversation.resolved",
        /// A bot passed the conversation to people (with reason and summary).
        ConversationHandedOff => "conversation.handed_off",
        /// An SLA target was missed.
        SlaBreached => "sla.breached",
        MessageCreated => "message.created",
        MessageUpdated => "message.updated",
        InteractionCreated => "interaction.created",
        /// A customer entered a journey.
        JourneyEntered => "journey.entered",
        /// A run ended: completed, converted (its goal happened) or exited.
        JourneyEnded => "journey.ended",
        TaskCreated => "task.created",
        TaskUpdated => "task.updated",
        /// A customer now meets a segment's conditions.
        SegmentEntered => "segment.entered",
        /// A customer no longer meets them.
        SegmentExited => "segment.exited",
        /// A survey was sent to a customer after their conversation.
        SurveySent => "survey.sent",
        /// A customer answered a survey.
        SurveyAnswered => "survey.answered",
        /// An order from the shop was seen for the first time.
        OrderCreated => "order.created",
        /// A known order changed (paid, shipped, delivered, cancelled…).
        OrderUpdated => "order.updated",
        /// A return, exchange or warranty claim was opened, or moved along
        /// its workflow.
        AfterSalesUpdated => "after_sales.updated",
        /// A waiting caller was offered to an agent (their phone rings; their
        /// workspace shows the caller).
        CallOffered => "call.offered",
    }
}

/// A committed state change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DomainEvent {
    pub id: EventId,
    pub account_id: AccountId,
    pub kind: EventKind,
    /// The changed object as the API would return it.
    pub data: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
}

impl DomainEvent {
    pub fn new(account_id: AccountId, kind: EventKind, data: serde_json::Value, now: OffsetDateTime) -> Self {
        Self { id: EventId::new(), account_id, kind, data, occurred_at: now }
    }

    /// `contact.created`: `{ "contact": … }`.
    pub fn contact_created(account_id: AccountId, contact: &Contact, now: OffsetDateTime) -> Self {
        Self::new(account_id, EventKind::ContactCreated, serde_json::json!({ "contact": contact }), now)
    }

    /// `contact.updated`: `{ "contact": … }`, as it now is.
    pub fn contact_updated(account_id: AccountId, contact: &Contact, now: OffsetDateTime) -> Self {
        Self::new(account_id, EventKind::ContactUpdated, serde_json::json!({ "contact": contact }), now)
    }

    /// `contact.merged`: `{ "contact": …, "merged_contact_id": …, "reason": … }`
    /// — the contact that remains, as it now is, and the one folded into it.
    pub fn contact_merged(
        account_id: AccountId,
        contact: &Contact,
        merged_contact_id: ContactId,
        reason: MergeReason,
        now: OffsetDateTime,
    ) -> Self {
        let data = serde_json::json!({ "contact": contact, "merged_contact_id": merged_contact_id, "reason": reason.as_str() });
        Self::new(account_id, EventKind::ContactMerged, data, now)
    }

    /// `identity.linked`: `{ "contact_id": …, "identity": { "kind", "value" } }`.
    pub fn identity_linked(account_id: AccountId, contact_id: ContactId, identity: &NormalizedIdentity, now: OffsetDateTime) -> Self {
        Self::new(account_id, EventKind::IdentityLinked, serde_json::json!({ "contact_id": contact_id, "identity": identity }), now)
    }
}

string_enum! {
    /// Why two contacts became one.
    MergeReason {
        /// An agent merged them.
        Manual => "manual",
        /// A tracked visitor identified themselves as a known customer.
        Identified => "identified",
    }
}

/// A webhook subscription's event filter: `*` for everything, or a list of
/// event kinds.
pub fn parse_event_filter(raw: &[String]) -> Result<Vec<String>, String> {
    if raw.is_empty() {
        return Err("list at least one event type, or \"*\" for all".into());
    }
    let mut kinds = Vec::new();
    for item in raw {
        if item == "*" {
            return Ok(vec!["*".into()]);
        }
        match EventKind::parse(item) {
            Some(kind) => kinds.push(kind.as_str().to_owned()),
            None => return Err(format!("unknown event type `{item}`")),
        }
    }
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}
