//! Click-to-call: an agent calls the customer of a conversation through a
//! voice inbox. Twilio rings the agent's own phone first (`PUT
//! /api/v1/me/phone`); when they answer, the customer is dialled and the
//! two are joined, recorded from the answer (`crate::voice` answers the
//! call's steps and keeps the recording as a note). The call is logged
//! like any: a row, then a `call` interaction in the customer's timeline.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use threadline_domain::channel::Channel;
use threadline_domain::identity::{IdentityKind, NormalizedIdentity, Region};
use threadline_domain::ids::{ConversationId, InboxId};
use threadline_store::{Call, NewCall};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path};
use crate::app::AppState;
use crate::auth::Caller;
use crate::channels::{open_secrets, provider_connected};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::voice::PlaceError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(place_call))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallRequest {
    /// The voice inbox to call through (default: the account's first one
    /// connected to its provider).
    #[serde(default)]
    pub inbox_id: Option<InboxId>,
    /// The number to call (default: the customer's phone number).
    #[serde(default)]
    pub to: Option<String>,
}

/// Calls the conversation's customer: the agent's phone rings first.
#[utoipa::path(post, path = "/conversations/{id}/calls", tag = "conversations", params(("id" = ConversationId, Path)),
    request_body = CallRequest,
    responses((status = 201, body = Call), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 502, body = ErrorBody)))]
async fn place_call(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ConversationId>,
    Body(req): Body<CallRequest>,
) -> ApiResult<(StatusCode, Json<Call>)> {
    let account_id = caller.account_id();
    let conversation = state.store.conversation(account_id, id).await?;
    let Some(agent_phone) = caller.user.phone.clone() else {
        return Err(ApiError::Refused {
            code: "no_phone",
            message: "set the number you answer calls on first (PUT /api/v1/me/phone)".into(),
        });
    };
    let inboxes = state.store.inboxes(account_id).await?;
    let inbox = match req.inbox_id {
        Some(inbox_id) => inboxes.into_iter().find(|i| i.id == inbox_id && i.channel == Channel::Voice),
        None => inboxes.into_iter().find(|i| i.channel == Channel::Voice && provider_connected(i)),
    };
    let Some(inbox) = inbox.filter(provider_connected) else {
        return Err(ApiError::Refused { code: "no_inbox", message: "no voice inbox connected to its provider to call through".into() });
    };
    let account = state.store.account(account_id).await?;
    let region = Region::parse(&account.default_region).unwrap_or_default();
    let contact = state.store.contact(account_id, conversation.contact_id).await?;
    let to = match req.to.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(raw) => NormalizedIdentity::parse(IdentityKind::Phone, raw, region).map_err(|e| ApiError::invalid("to", e.to_string()))?.value,
        None => contact
            .identities
            .iter()
            .find(|i| matches!(i.kind, IdentityKind::Phone | IdentityKind::Whatsapp))
            .map(|i| i.value.clone())
            .ok_or_else(|| ApiError::Refused { code: "no_identity", message: "the customer has no phone number: give `to`".into() })?,
    };
    let secrets = open_secrets(&state, &inbox).map_err(ApiError::Internal)?;
    let step = format!("bridge&lang={}", caller.user.language.as_deref().unwrap_or("en"));
    let sid = crate::voice::place_call(&state, &inbox, &secrets, &agent_phone, &step).await.map_err(|e| match e {
        PlaceError::Inbox(message) => ApiError::Refused { code: "no_inbox", message },
        PlaceError::Provider(message) => ApiError::Upstream(message),
    })?;
    let from = inbox.settings.get("from").and_then(|f| f.as_str()).unwrap_or_default().to_owned();
    let new = NewCall {
        inbox_id: inbox.id,
        call_sid: &sid,
        contact_id: contact.id,
        conversation_id: conversation.id,
        direction: "outbound",
        from_number: &from,
        to_number: &to,
        status: "queued",
    };
    let call = state.store.start_call(account_id, new, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(call)))
}
