//! Domain events: one for every state change. They are written in the same
//! transaction as the change itself (so an event exists if and only if the
//! change committed), then handed to the event bus by the relay (every
//! node's live pages; NATS's stream) and delivered to webhook subscribers.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::after_sales::{AfterSalesRequest, RequestStatus};
use crate::bot::HandoffReason;
use crate::contact::Contact;
use crate::conversation::{Conversation, ConversationStatus, string_enum};
use crate::identity::NormalizedIdentity;
use crate::ids::{AccountId, ContactId, ConversationId, EventId, InboxId, SegmentId, UserId};
use crate::interaction::Interaction;
use crate::journey::JourneyRun;
use crate::message::Message;
use crate::order::Order;
use crate::routing::Strategy;
use crate::sla::SlaTarget;
use crate::survey::{Sentiment, SurveyResponse};
use crate::task::Task;
use crate::voice::Call;

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
    /// The kind's [`Payload`] as JSON: the changed object as the API would
    /// return it, and what the kind adds (see [`DomainEvent::payload`]).
    pub data: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
}

impl DomainEvent {
    /// The event `payload` makes, its kind and data taken from it.
    pub fn new(account_id: AccountId, payload: Payload, now: OffsetDateTime) -> Self {
        Self { id: EventId::new(), account_id, kind: payload.kind(), data: payload.to_data(), occurred_at: now }
    }

    /// `contact.created`: `{ "contact": … }`.
    pub fn contact_created(account_id: AccountId, contact: &Contact, now: OffsetDateTime) -> Self {
        Self::new(account_id, Payload::ContactCreated(ContactPayload { contact: contact.clone() }), now)
    }

    /// `contact.updated`: `{ "contact": … }`, as it now is.
    pub fn contact_updated(account_id: AccountId, contact: &Contact, now: OffsetDateTime) -> Self {
        Self::new(account_id, Payload::ContactUpdated(ContactPayload { contact: contact.clone() }), now)
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
        let payload = ContactMergedPayload { contact: contact.clone(), merged_contact_id, reason };
        Self::new(account_id, Payload::ContactMerged(payload), now)
    }

    /// `identity.linked`: `{ "contact_id": …, "identity": { "kind", "value" } }`.
    pub fn identity_linked(account_id: AccountId, contact_id: ContactId, identity: &NormalizedIdentity, now: OffsetDateTime) -> Self {
        Self::new(account_id, Payload::IdentityLinked(IdentityLinkedPayload { contact_id, identity: identity.clone() }), now)
    }

    /// `message.created`: `{ "message": …, "conversation": { "id", "contact_id",
    /// "status" }, "mentions": [user ids] }` (`mentions` only on a note that
    /// names colleagues).
    pub fn message_created(
        account_id: AccountId,
        message: &Message,
        conversation: &Conversation,
        mentions: &[UserId],
        now: OffsetDateTime,
    ) -> Self {
        let payload = MessageCreatedPayload {
            message: message.clone(),
            conversation: ConversationRef {
                id: conversation.id,
                contact_id: Some(conversation.contact_id),
                status: Some(conversation.status),
            },
            mentions: mentions.to_vec(),
        };
        Self::new(account_id, Payload::MessageCreated(payload), now)
    }

    /// `message.updated`: `{ "message": …, "conversation_id": … }` — its
    /// delivery status or error changed.
    pub fn message_updated(account_id: AccountId, message: &Message, now: OffsetDateTime) -> Self {
        let payload = MessageUpdatedPayload { message: message.clone(), conversation_id: message.conversation_id };
        Self::new(account_id, Payload::MessageUpdated(payload), now)
    }

    /// `task.created`: `{ "task": … }`, a task made (by a journey, a call,
    /// a rule's action or a survey's follow-up).
    pub fn task_created(account_id: AccountId, task: &Task, now: OffsetDateTime) -> Self {
        Self::new(account_id, Payload::TaskCreated(TaskPayload { task: task.clone() }), now)
    }

    /// `task.updated`: `{ "task": … }`, a task marked done or open again.
    pub fn task_updated(account_id: AccountId, task: &Task, now: OffsetDateTime) -> Self {
        Self::new(account_id, Payload::TaskUpdated(TaskPayload { task: task.clone() }), now)
    }

    /// What this event says, read back into its kind's payload type. An
    /// error names what does not fit (an event stored by another version).
    pub fn payload(&self) -> Result<Payload, serde_json::Error> {
        Payload::read(self.kind, &self.data)
    }

    /// Whom and what this event is about, without reading the rest of it:
    /// cheap enough for every live socket to ask of every event.
    pub fn about(&self) -> About {
        // Only the ids are read; every other field is skipped.
        let shape = Shape::deserialize(&self.data).unwrap_or_default();
        shape.about(self.kind)
    }
}

/// Whom and what an event is about: what consumers route it by.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct About {
    /// The conversation it is about (a conversation's change, a message, an
    /// SLA miss, a survey, an after-sales request, an offered call).
    pub conversation_id: Option<ConversationId>,
    /// The customer it is about.
    pub contact_id: Option<ContactId>,
    /// The inbox a message came through or went out of.
    pub inbox_id: Option<InboxId>,
    /// The people it is addressed to: colleagues a note mentions, the agent
    /// a call is offered to.
    pub addressed_to: Vec<UserId>,
}

/// The ids of an event's data, whatever its kind (see [`DomainEvent::about`]).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Shape {
    contact: Option<Ids>,
    conversation: Option<Ids>,
    message: Option<Ids>,
    interaction: Option<Ids>,
    run: Option<Ids>,
    task: Option<Ids>,
    order: Option<Ids>,
    request: Option<Ids>,
    call: Option<Ids>,
    survey_response: Option<Ids>,
    contact_id: Option<ContactId>,
    conversation_id: Option<ConversationId>,
    agent_id: Option<UserId>,
    mentions: Vec<UserId>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Ids {
    id: Option<Value>,
    contact_id: Option<ContactId>,
    conversation_id: Option<ConversationId>,
    inbox_id: Option<InboxId>,
}

impl Shape {
    fn about(self, kind: EventKind) -> About {
        use EventKind as K;
        let id_of = |ids: &Option<Ids>| ids.as_ref().and_then(|i| i.id.as_ref()?.as_str()?.parse().ok());
        let object = match kind {
            K::MessageCreated | K::MessageUpdated => self.message,
            K::InteractionCreated => self.interaction,
            K::JourneyEntered | K::JourneyEnded => self.run,
            K::TaskCreated | K::TaskUpdated => self.task,
            K::OrderCreated | K::OrderUpdated => self.order,
            K::AfterSalesUpdated => self.request,
            K::CallOffered => self.call,
            K::SurveySent | K::SurveyAnswered => self.survey_response,
            _ => None,
        }
        .unwrap_or_default();
        let conversation_id = match kind {
            K::ConversationCreated
            | K::ConversationUpdated
            | K::ConversationAssigned
            | K::ConversationResolved
            | K::ConversationHandedOff
            | K::SlaBreached => id_of(&self.conversation),
            _ => object.conversation_id.or(self.conversation_id),
        };
        let contact_id = match kind {
            K::ContactCreated | K::ContactUpdated | K::ContactMerged => {
                self.contact.as_ref().and_then(|c| c.id.as_ref()?.as_str()?.parse().ok())
            }
            K::IdentityLinked | K::SegmentEntered | K::SegmentExited => self.contact_id,
            _ => object.contact_id.or(self.conversation.and_then(|c| c.contact_id)),
        };
        let addressed_to = match kind {
            K::MessageCreated => self.mentions,
            K::CallOffered => self.agent_id.into_iter().collect(),
            _ => Vec::new(),
        };
        About { conversation_id, contact_id, inbox_id: object.inbox_id, addressed_to }
    }
}

/// Declares [`Payload`]: one variant per event kind, named as the kind,
/// holding the type its data has.
macro_rules! payloads {
    ($($kind:ident($ty:ident)),* $(,)?) => {
        /// What an event says, by kind: the one place each kind's data is
        /// given its shape. Events are made from a payload
        /// ([`DomainEvent::new`]) and read back into one
        /// ([`DomainEvent::payload`]); webhooks and the NATS stream carry
        /// the same data as JSON.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Payload {
            $($kind($ty)),*
        }

        impl Payload {
            pub fn kind(&self) -> EventKind {
                match self {
                    $(Payload::$kind(_) => EventKind::$kind),*
                }
            }

            fn to_data(&self) -> Value {
                // Plain structs with string keys: serialising them into a
                // JSON value has nothing that can fail (every kind's fixture
                // is written back in the tests).
                let data = match self {
                    $(Payload::$kind(payload) => serde_json::to_value(payload)),*
                };
                debug_assert!(data.is_ok(), "{:?}", data);
                data.unwrap_or(Value::Null)
            }

            /// `data` of an event of `kind`, as that kind's payload.
            pub fn read(kind: EventKind, data: &Value) -> Result<Self, serde_json::Error> {
                match kind {
                    $(EventKind::$kind => $ty::deserialize(data).map(Payload::$kind)),*
                }
            }
        }
    };
}

payloads! {
    ContactCreated(ContactPayload),
    ContactUpdated(ContactPayload),
    ContactMerged(ContactMergedPayload),
    IdentityLinked(IdentityLinkedPayload),
    ConversationCreated(ConversationPayload),
    ConversationUpdated(ConversationPayload),
    ConversationAssigned(ConversationPayload),
    ConversationResolved(ConversationPayload),
    ConversationHandedOff(ConversationPayload),
    SlaBreached(SlaBreachedPayload),
    MessageCreated(MessageCreatedPayload),
    MessageUpdated(MessageUpdatedPayload),
    InteractionCreated(InteractionPayload),
    JourneyEntered(JourneyRunPayload),
    JourneyEnded(JourneyRunPayload),
    TaskCreated(TaskPayload),
    TaskUpdated(TaskPayload),
    SegmentEntered(SegmentPayload),
    SegmentExited(SegmentPayload),
    SurveySent(SurveyPayload),
    SurveyAnswered(SurveyPayload),
    OrderCreated(OrderPayload),
    OrderUpdated(OrderPayload),
    AfterSalesUpdated(AfterSalesPayload),
    CallOffered(CallOfferedPayload),
}

/// `contact.created`, `contact.updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactPayload {
    pub contact: Contact,
}

/// `contact.merged`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactMergedPayload {
    /// The contact that remains, as it now is.
    pub contact: Contact,
    /// The contact folded into it (gone now).
    pub merged_contact_id: ContactId,
    pub reason: MergeReason,
}

/// `identity.linked`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityLinkedPayload {
    pub contact_id: ContactId,
    pub identity: NormalizedIdentity,
}

/// `conversation.created`, `.updated`, `.assigned`, `.resolved`,
/// `.handed_off`: the conversation as it now is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationPayload {
    pub conversation: Conversation,
    /// On an assignment routing made: how it chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<RoutingNote>,
    /// On a bot's handoff: why, and what the agent reads first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<HandoffNote>,
}

impl ConversationPayload {
    /// The conversation as it now is, with no routing or handoff note.
    pub fn of(conversation: &Conversation) -> Self {
        Self { conversation: conversation.clone(), routing: None, handoff: None }
    }
}

/// Why routing gave a conversation to its agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingNote {
    pub strategy: Strategy,
    pub reason: String,
}

/// A bot's handoff to people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffNote {
    /// The bot that handed over.
    pub bot: String,
    pub reason: HandoffReason,
    /// The category it understood, if any.
    pub category: Option<String>,
    /// The summary at the top of what the agent reads.
    pub summary: String,
}

/// `sla.breached`: a target missed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaBreachedPayload {
    pub conversation: Conversation,
    pub target: SlaTarget,
    /// When it was due.
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
}

/// A conversation as the events of what happens in it name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationRef {
    pub id: ConversationId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<ContactId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ConversationStatus>,
}

/// `message.created`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageCreatedPayload {
    pub message: Message,
    /// Its conversation (with its status after the message).
    pub conversation: ConversationRef,
    /// Colleagues a note names (only on such a note).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<UserId>,
}

/// `message.updated`: a message's delivery status or error changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageUpdatedPayload {
    pub message: Message,
    pub conversation_id: ConversationId,
}

/// `interaction.created`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractionPayload {
    pub interaction: Interaction,
}

/// `journey.entered`, `journey.ended`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JourneyRunPayload {
    pub run: JourneyRun,
}

/// `task.created`, `task.updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskPayload {
    pub task: Task,
}

/// `segment.entered`, `segment.exited`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentPayload {
    pub segment_id: SegmentId,
    pub contact_id: ContactId,
}

/// `survey.sent`, `survey.answered`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyPayload {
    pub survey_response: SurveyResponse,
    /// The conversation it asks about.
    pub conversation: ConversationRef,
    /// Where the answer stands on its scale (on `survey.answered`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<Sentiment>,
}

/// `order.created`, `order.updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderPayload {
    pub order: Order,
    /// The customer events this version brought (`Order Completed`,
    /// `Order Shipped`…).
    pub events: Vec<String>,
}

/// `after_sales.updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AfterSalesPayload {
    pub request: AfterSalesRequest,
    /// The status it moved from (none when it was just opened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<RequestStatus>,
}

/// `call.offered`: a waiting caller offered to an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallOfferedPayload {
    pub call: Call,
    pub agent_id: UserId,
    pub conversation_id: ConversationId,
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
