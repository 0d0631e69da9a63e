//! Click-to-call: an agent calls the customer of a conversation through a
//! voice inbox. Twilio rings the agent's own phone first (`PUT
//! /api/v1/me/phone`); when they answer, the customer is dialled and the
//! two are joined, recorded from the answer (`crate::voice` answers the
//! call's steps and keeps the recording as a note). The call is logged
//! like any: a row, then a `call` interaction in the customer's timeline.
//!
//! A `call` task (a caller's callback request, a journey's "call this
//! customer") is called the same way, in the customer's latest conversation
//! not yet resolved — or a new voice conversation, the agent's.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use threadline_domain::channel::Channel;
use threadline_domain::contact::Contact;
use threadline_domain::identity::{IdentityKind, NormalizedIdentity, Region};
use threadline_domain::ids::{ConversationId, InboxId, TaskId};
use threadline_store::{Account, Call, Inbox, NewCall};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path};
use crate::app::AppState;
use crate::auth::Caller;
use crate::channels::{open_secrets, provider_connected};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::voice::PlaceError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_calls, place_call)).routes(routes!(call_for_task))
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

/// The conversation's calls, oldest first: where each went (queue, agent,
/// the agents who let it ring out), how it ended, a callback's task.
#[utoipa::path(get, path = "/conversations/{id}/calls", tag = "conversations", params(("id" = ConversationId, Path)),
    responses((status = 200, body = Vec<Call>), (status = 404, body = ErrorBody)))]
async fn list_calls(State(state): State<AppState>, caller: Caller, Path(id): Path<ConversationId>) -> ApiResult<Json<Vec<Call>>> {
    let account_id = caller.account_id();
    state.store.conversation(account_id, id).await?;
    Ok(Json(state.store.conversation_calls(account_id, id).await?))
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
    let conversation = state.store.conversation(caller.account_id(), id).await?;
    let dial = prepare(&state, &caller, conversation.contact_id, &req).await?;
    let call = dial_customer(&state, &caller, dial, CallOf::Conversation(conversation.id)).await?;
    Ok((StatusCode::CREATED, Json(call)))
}

/// Calls a task's customer: the agent's phone rings first.
#[utoipa::path(post, path = "/tasks/{id}/calls", tag = "journeys", params(("id" = TaskId, Path)),
    request_body = CallRequest,
    responses((status = 201, body = Call), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 502, body = ErrorBody)))]
async fn call_for_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<TaskId>,
    Body(req): Body<CallRequest>,
) -> ApiResult<(StatusCode, Json<Call>)> {
    let account_id = caller.account_id();
    let task = state.store.task(account_id, id).await?;
    let dial = prepare(&state, &caller, task.contact_id, &req).await?;
    let call = dial_customer(&state, &caller, dial, CallOf::Task(task.team_id)).await?;
    Ok((StatusCode::CREATED, Json(call)))
}

/// Everything a call needs, checked before anything is written.
struct Dial {
    agent_phone: String,
    inbox: Inbox,
    contact: Contact,
    to: String,
}

async fn prepare(state: &AppState, caller: &Caller, contact_id: threadline_domain::ids::ContactId, req: &CallRequest) -> ApiResult<Dial> {
    let account_id = caller.account_id();
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
    let account: Account = state.store.account(account_id).await?;
    let region = Region::parse(&account.default_region).unwrap_or_default();
    let contact = state.store.contact(account_id, contact_id).await?;
    let to = match req.to.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(raw) => NormalizedIdentity::parse(IdentityKind::Phone, raw, region).map_err(|e| ApiError::invalid("to", e.to_string()))?.value,
        None => contact
            .identities
            .iter()
            .find(|i| matches!(i.kind, IdentityKind::Phone | IdentityKind::Whatsapp))
            .map(|i| i.value.clone())
            .ok_or_else(|| ApiError::Refused { code: "no_identity", message: "the customer has no phone number: give `to`".into() })?,
    };
    Ok(Dial { agent_phone, inbox, contact, to })
}

/// Rings the agent, then (when they answer) the customer; the call's row.
/// The conversation a call belongs to: the one it was placed from, or for
/// a task, the customer's latest unresolved one or a new voice
/// conversation of the task's team (made only once the call is placed).
enum CallOf {
    Conversation(ConversationId),
    Task(Option<threadline_domain::ids::TeamId>),
}

async fn dial_customer(state: &AppState, caller: &Caller, dial: Dial, of: CallOf) -> ApiResult<Call> {
    let Dial { agent_phone, inbox, contact, to } = dial;
    let secrets = open_secrets(state, &inbox).map_err(ApiError::Internal)?;
    let step = format!("bridge&lang={}", caller.user.language.as_deref().unwrap_or("en"));
    let sid = crate::voice::place_call(state, &inbox, &secrets, &agent_phone, &step, None).await.map_err(|e| match e {
        PlaceError::Inbox(message) => ApiError::Refused { code: "no_inbox", message },
        PlaceError::Provider(message) => ApiError::Upstream(message),
    })?;
    let from = inbox.settings.get("from").and_then(|f| f.as_str()).unwrap_or_default().to_owned();
    let conversation_id = match of {
        CallOf::Conversation(id) => id,
        CallOf::Task(team) => state.store.conversation_for_call(caller.account_id(), contact.id, team, caller.user.id).await?,
    };
    let new = NewCall {
        inbox_id: inbox.id,
        call_sid: &sid,
        contact_id: contact.id,
        conversation_id,
        direction: "outbound",
        from_number: &from,
        to_number: &to,
        status: "queued",
        agent_id: Some(caller.user.id),
    };
    Ok(state.store.start_call(caller.account_id(), new, state.clock.now()).await?)
}
