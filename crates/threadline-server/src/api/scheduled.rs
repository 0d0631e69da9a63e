//! Messages agents schedule ("send tomorrow at 9:00 on WhatsApp"): listed
//! on their conversation, cancellable until they go.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use threadline_domain::channel::Channel;
use threadline_domain::ids::{ConversationId, InboxId, ScheduledMessageId};
use threadline_domain::message::MAX_TEXT_CHARS;
use threadline_store::{NewScheduledMessage, ScheduledMessage};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_scheduled, schedule)).routes(routes!(get_scheduled, cancel_scheduled))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScheduled {
    pub text: String,
    /// When to send it (RFC 3339, with the agent's offset: `2026-12-07T09:00:00+01:00`).
    pub send_at: String,
    /// Default: the channel the customer last wrote on, when it is sent.
    pub channel: Option<Channel>,
    pub inbox_id: Option<InboxId>,
}

#[utoipa::path(get, path = "/conversations/{id}/scheduled-messages", tag = "conversations", params(("id" = ConversationId, Path)),
    responses((status = 200, body = Vec<ScheduledMessage>), (status = 404, body = ErrorBody)))]
async fn list_scheduled(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ConversationId>,
) -> ApiResult<Json<Vec<ScheduledMessage>>> {
    state.store.conversation(caller.account_id(), id).await?;
    Ok(Json(state.store.scheduled_messages(caller.account_id(), id).await?))
}

/// Schedules a message to the customer, sent at `send_at` under the
/// channel's rules then (outside WhatsApp's window it fails, with the reason).
#[utoipa::path(post, path = "/conversations/{id}/scheduled-messages", tag = "conversations", params(("id" = ConversationId, Path)),
    request_body = NewScheduled, responses((status = 201, body = ScheduledMessage), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ConversationId>,
    Body(req): Body<NewScheduled>,
) -> ApiResult<(StatusCode, Json<ScheduledMessage>)> {
    let text = req.text.trim();
    if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::invalid("text", format!("is 1 to {MAX_TEXT_CHARS} characters")));
    }
    let send_at = OffsetDateTime::parse(req.send_at.trim(), &Rfc3339)
        .map_err(|_| ApiError::invalid("send_at", "is an RFC 3339 time, e.g. 2026-12-07T09:00:00+01:00"))?;
    let now = state.clock.now();
    if send_at <= now {
        return Err(ApiError::invalid("send_at", "is in the future"));
    }
    if send_at > now + time::Duration::days(366) {
        return Err(ApiError::invalid("send_at", "is within a year"));
    }
    let new = NewScheduledMessage {
        conversation_id: id,
        author_id: caller.user.id,
        channel: req.channel,
        inbox_id: req.inbox_id,
        text: text.to_owned(),
        send_at,
    };
    let scheduled = state.store.schedule_message(caller.account_id(), &new, &caller.actor).await?;
    Ok((StatusCode::CREATED, Json(scheduled)))
}

#[utoipa::path(get, path = "/scheduled-messages/{id}", tag = "conversations", params(("id" = ScheduledMessageId, Path)),
    responses((status = 200, body = ScheduledMessage), (status = 404, body = ErrorBody)))]
async fn get_scheduled(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ScheduledMessageId>,
) -> ApiResult<Json<ScheduledMessage>> {
    Ok(Json(state.store.scheduled_message(caller.account_id(), id).await?))
}

/// Cancels it while it waits (409 once it has gone).
#[utoipa::path(delete, path = "/scheduled-messages/{id}", tag = "conversations", params(("id" = ScheduledMessageId, Path)),
    responses((status = 200, body = ScheduledMessage), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel_scheduled(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ScheduledMessageId>,
) -> ApiResult<Json<ScheduledMessage>> {
    Ok(Json(state.store.cancel_scheduled_message(caller.account_id(), id, &caller.actor).await?))
}
