//! Bots: an inbox's bot (Threadline's own or an external one), the
//! external agent bots, a conversation's bot session, how often bots
//! resolve conversations themselves — and the Agent Bot API, where an
//! external bot answers, hands over or resolves with its own token.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use threadline_domain::bot::InboxBot;
use threadline_domain::conversation::Handler;
use threadline_domain::ids::{AccountId, AgentBotId, ConversationId, InboxId};
use threadline_domain::message::Message;
use threadline_domain::role::Permission;
use threadline_store::{AgentBot, BotSession, BotStats, Inbox};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path, Query};
use crate::app::AppState;
use crate::auth::{Caller, hash_token, new_token};
use crate::bot::agent_bot::{BotHandoff, BotText};
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_agent_bots, create_agent_bot))
        .routes(routes!(delete_agent_bot))
        .routes(routes!(set_inbox_bot))
        .routes(routes!(conversation_bot))
        .routes(routes!(take_over))
        .routes(routes!(bot_stats))
        .routes(routes!(bot_transcript, bot_reply))
        .routes(routes!(bot_handoff))
        .routes(routes!(bot_resolve))
}

#[utoipa::path(get, path = "/agent-bots", tag = "bots", responses((status = 200, body = Vec<AgentBot>)))]
async fn list_agent_bots(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<AgentBot>>> {
    caller.require(Permission::Administer)?;
    Ok(Json(state.store.agent_bots(caller.account_id()).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentBotInput {
    pub name: String,
    /// Where Threadline POSTs customer messages (http or https).
    pub url: String,
}

/// A new agent bot, with its token and signing secret — shown only now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedAgentBot {
    pub agent_bot: AgentBot,
    /// `Authorization: Bearer …` for the Agent Bot API.
    pub token: String,
    /// Verifies `Threadline-Signature` on Threadline's posts.
    pub secret: String,
}

/// Registers an external bot (administrators).
#[utoipa::path(post, path = "/agent-bots", tag = "bots", request_body = AgentBotInput,
    responses((status = 201, body = CreatedAgentBot), (status = 422, body = ErrorBody)))]
async fn create_agent_bot(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<AgentBotInput>,
) -> ApiResult<(StatusCode, Json<CreatedAgentBot>)> {
    caller.require(Permission::Administer)?;
    let mut errors = threadline_domain::ValidationErrors::new();
    let name = threadline_domain::validation::bounded_text(&req.name, "name", 100, &mut errors);
    if req.url.len() > 2000 {
        errors.push("url", "must be at most 2,000 characters");
    } else if let Err(refusal) = state.egress.check_url_resolved(&req.url).await {
        errors.push("url", refusal.to_string());
    }
    errors.into_result(())?;
    let token = new_token("tlb_");
    let secret = new_token("whsec_");
    let bot = state
        .store
        .create_agent_bot(caller.account_id(), &name, req.url.trim(), &state.secrets.seal(&secret), &hash_token(&token), &token[..12])
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedAgentBot { agent_bot: bot, token, secret })))
}

/// Removes an agent bot (administrators); inboxes that used it send new
/// conversations straight to people.
#[utoipa::path(delete, path = "/agent-bots/{id}", tag = "bots", params(("id" = AgentBotId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_agent_bot(State(state): State<AppState>, caller: Caller, Path(id): Path<AgentBotId>) -> ApiResult<StatusCode> {
    caller.require(Permission::Administer)?;
    state.store.delete_agent_bot(caller.account_id(), id).await?;
    state.invalidate_caches();
    Ok(StatusCode::NO_CONTENT)
}

/// Sets the bot that answers an inbox's new conversations first, or with
/// `null` removes it (administrators).
#[utoipa::path(put, path = "/inboxes/{id}/bot", tag = "bots", params(("id" = InboxId, Path)), request_body = Option<InboxBot>,
    responses((status = 200, body = Inbox), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_inbox_bot(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<InboxId>,
    Body(bot): Body<Option<InboxBot>>,
) -> ApiResult<Json<Inbox>> {
    caller.require(Permission::Administer)?;
    if let Some(bot) = &bot {
        bot.validate()?;
    }
    let inbox = state.store.set_inbox_bot(caller.account_id(), id, bot.as_ref(), &caller.actor).await?;
    state.invalidate_caches();
    Ok(Json(inbox))
}

/// What the bot did in a conversation: its status, and on handoff why,
/// the category and the summary for the agent.
#[utoipa::path(get, path = "/conversations/{id}/bot", tag = "bots", params(("id" = ConversationId, Path)),
    responses((status = 200, body = BotSession), (status = 404, body = ErrorBody)))]
async fn conversation_bot(State(state): State<AppState>, caller: Caller, Path(id): Path<ConversationId>) -> ApiResult<Json<BotSession>> {
    state.store.conversation(caller.account_id(), id).await?;
    Ok(Json(state.store.bot_session(caller.account_id(), id).await?.ok_or(ApiError::NotFound)?))
}

/// The caller takes a conversation over from the bot: it is handed to
/// people (with the bot's summary) and assigned to the caller.
#[utoipa::path(post, path = "/conversations/{id}/take-over", tag = "bots", params(("id" = ConversationId, Path)),
    responses((status = 200, body = threadline_domain::conversation::Conversation), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn take_over(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ConversationId>,
) -> ApiResult<Json<threadline_domain::conversation::Conversation>> {
    let account_id = caller.account_id();
    let conversation = state.store.conversation(account_id, id).await?;
    if conversation.handler != Handler::Bot {
        return Err(ApiError::Conflict("the conversation is already with people".into()));
    }
    let bot = state.store.bot_session(account_id, id).await?.map(|s| s.bot).unwrap_or_else(|| crate::bot::builtin::BUILTIN.to_owned());
    crate::bot::hand_off(&state, account_id, id, &bot, threadline_domain::bot::HandoffReason::AgentTookOver, None).await?;
    let changes = threadline_store::ConversationChanges { assignee_id: Some(Some(caller.user.id)), ..Default::default() };
    let conversation = state.store.update_conversation(account_id, id, changes, &caller.actor).await?;
    Ok(Json(conversation))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatsParams {
    /// The last this many days (1–365, default 30).
    pub days: Option<i64>,
}

/// Bot conversations started in the period and how they ended: the bot
/// deflection rate is those the bot resolved over those that ended.
#[utoipa::path(get, path = "/stats/bots", tag = "bots", params(StatsParams), responses((status = 200, body = BotStats), (status = 422, body = ErrorBody)))]
async fn bot_stats(State(state): State<AppState>, caller: Caller, Query(p): Query<StatsParams>) -> ApiResult<Json<BotStats>> {
    let days = p.days.unwrap_or(30);
    if !(1..=365).contains(&days) {
        return Err(ApiError::invalid("days", "is between 1 and 365"));
    }
    let since = threadline_store::now() - time::Duration::days(days);
    Ok(Json(state.store.bot_stats(caller.account_id(), since).await?))
}

// --- the Agent Bot API ------------------------------------------------------

/// An external bot calling with its token (`Authorization: Bearer tlb_…`).
pub struct BotCaller {
    pub account_id: AccountId,
    pub bot: AgentBot,
}

impl FromRequestParts<AppState> for BotCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| t.starts_with("tlb_"))
            .ok_or(ApiError::Unauthorized)?;
        let (account_id, bot) = state.store.agent_bot_by_token(&hash_token(token)).await?.ok_or(ApiError::Unauthorized)?;
        Ok(BotCaller { account_id, bot })
    }
}

/// The bot may act only on conversations it has: with the bot now, and
/// given to this bot.
async fn bot_conversation(state: &AppState, caller: &BotCaller, id: ConversationId) -> ApiResult<()> {
    let conversation = state.store.conversation(caller.account_id, id).await?;
    let session = state.store.bot_session(caller.account_id, id).await?;
    if session.is_none_or(|s| s.bot != caller.bot.id.to_string()) {
        return Err(ApiError::NotFound);
    }
    if conversation.handler != Handler::Bot {
        return Err(ApiError::Conflict("the conversation is with people now".into()));
    }
    Ok(())
}

/// The conversation so far (messages, not agents' notes), oldest first.
#[utoipa::path(get, path = "/agent-bot/conversations/{id}/messages", tag = "agent bot API", params(("id" = ConversationId, Path)),
    security(("token" = [])), responses((status = 200, body = Vec<Message>), (status = 404, body = ErrorBody)))]
async fn bot_transcript(State(state): State<AppState>, caller: BotCaller, Path(id): Path<ConversationId>) -> ApiResult<Json<Vec<Message>>> {
    let session = state.store.bot_session(caller.account_id, id).await?;
    if session.is_none_or(|s| s.bot != caller.bot.id.to_string()) {
        return Err(ApiError::NotFound);
    }
    let messages = state.store.conversation_messages(caller.account_id, id, None, 200).await?;
    Ok(Json(messages.into_iter().filter(|m| m.kind == threadline_domain::message::MessageKind::Message).collect()))
}

/// The bot answers the customer, on the channel they last wrote on.
#[utoipa::path(post, path = "/agent-bot/conversations/{id}/messages", tag = "agent bot API", params(("id" = ConversationId, Path)),
    request_body = BotText, security(("token" = [])),
    responses((status = 201, body = Message), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn bot_reply(
    State(state): State<AppState>,
    caller: BotCaller,
    Path(id): Path<ConversationId>,
    Body(req): Body<BotText>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    bot_conversation(&state, &caller, id).await?;
    let text = req.text.trim();
    if text.is_empty() || text.chars().count() > threadline_domain::message::MAX_TEXT_CHARS {
        return Err(ApiError::invalid("text", "must be 1 to 65,536 characters"));
    }
    let message = crate::bot::agent_bot::reply(&state, caller.account_id, id, caller.bot.id, text).await?;
    Ok((StatusCode::CREATED, Json(message)))
}

/// The bot hands the conversation to people; its reason, category and
/// summary travel with it (a summary is written for the agent if it gives none).
#[utoipa::path(post, path = "/agent-bot/conversations/{id}/handoff", tag = "agent bot API", params(("id" = ConversationId, Path)),
    request_body = BotHandoff, security(("token" = [])),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn bot_handoff(
    State(state): State<AppState>,
    caller: BotCaller,
    Path(id): Path<ConversationId>,
    Body(req): Body<BotHandoff>,
) -> ApiResult<StatusCode> {
    bot_conversation(&state, &caller, id).await?;
    crate::bot::agent_bot::handoff(&state, caller.account_id, id, caller.bot.id, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The bot resolved the conversation (counted for the deflection rate).
#[utoipa::path(post, path = "/agent-bot/conversations/{id}/resolve", tag = "agent bot API", params(("id" = ConversationId, Path)),
    security(("token" = [])), responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn bot_resolve(State(state): State<AppState>, caller: BotCaller, Path(id): Path<ConversationId>) -> ApiResult<StatusCode> {
    bot_conversation(&state, &caller, id).await?;
    state.store.bot_resolved(caller.account_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
