//! Interactions that are not messages: a phone call, a shop visit, an order, a
//! page view, a survey answer. They sit in the contact's timeline beside the
//! messages, so whoever answers sees the whole relationship.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::conversation::string_enum;
use crate::ids::{ContactId, ConversationId, InteractionId};

string_enum! {
    InteractionKind {
        Call => "call",
        ShopVisit => "shop_visit",
        Order => "order",
        PageView => "page_view",
        AppEvent => "app_event",
        SurveyAnswer => "survey_answer",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Interaction {
    pub id: InteractionId,
    pub contact_id: ContactId,
    pub conversation_id: Option<ConversationId>,
    pub kind: InteractionKind,
    /// A one-line human summary ("Order #1042, €89.90").
    pub summary: Option<String>,
    /// Whatever the source recorded: order lines, call duration, page URL…
    pub data: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
}
