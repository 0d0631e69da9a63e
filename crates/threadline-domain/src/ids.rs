//! Identifiers. Every id is a UUIDv7: unique without coordination between
//! nodes, and ordered by creation time, which keeps timelines and cursors
//! simple (sorting by id is sorting by age).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    )*};
}

id_type! {
    /// A tenant: one business using Threadline. Every row belongs to one.
    AccountId;
    UserId;
    TeamId;
    ApiTokenId;
    InboxId;
    ContactId;
    IdentityId;
    ConversationId;
    MessageId;
    AttachmentId;
    InteractionId;
    EventId;
    WebhookId;
    AuditEntryId;
    TemplateId;
    CannedResponseId;
    SavedViewId;
    /// A knowledge-base article or FAQ.
    ArticleId;
    /// An administrator's keyword rule for triage.
    TriageRuleId;
    /// A routing rule: which team a conversation goes to.
    RoutingRuleId;
    SlaPolicyId;
    /// An external bot plugged in through the Agent Bot API.
    AgentBotId;
    RoutingDecisionId;
    /// A site or app sending tracking calls, with its write key.
    TrackingSourceId;
    /// One tracking call stored: something a customer did.
    CustomerEventId;
    JourneyId;
    /// One customer's way through one journey.
    JourneyRunId;
    /// Work for people: "call this customer".
    TaskId;
    /// Saved conditions with a live list of the customers who meet them.
    SegmentId;
    /// A survey an account asks after conversations (CSAT, NPS, CES).
    SurveyId;
    /// A message an agent wrote to be sent later.
    ScheduledMessageId;
    /// "When this happens to a conversation and these hold, do that."
    AutomationRuleId;
    /// An order from the business's shop (or its order API).
    OrderId;
    /// A shop sending signed order webhooks (Shopify, WooCommerce).
    OrderSourceId;
    /// A return, exchange or warranty claim.
    AfterSalesId;
}
