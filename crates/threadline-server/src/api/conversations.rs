//! Conversations: listing and filtering, changing status, priority,
//! assignment and labels; their messages, agents' replies and notes;
//! delivery-status reports; attachment downloads.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use threadline_domain::channel::Channel;
use threadline_domain::conversation::{Conversation, ConversationStatus, Priority, normalize_labels};
use threadline_domain::ids::{AttachmentId, ContactId, ConversationId, InboxId, MessageId, TeamId, TemplateId, UserId};
use threadline_domain::mention::{Mentionable, mentioned};
use threadline_domain::message::{DeliveryStatus, Message, MessageKind};
use threadline_domain::reply::ReplyOption;
use threadline_domain::timeline::TimelineCursor;
use threadline_domain::validation::{ValidationErrors, bounded_text};
use threadline_store::{AssigneeFilter, ConversationChanges, ConversationQuery, OutboundMessage};
use time::OffsetDateTime;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::inboxes::{AttachmentUpload, parse_attachments, parse_body};
use super::{Body, Page, PageParams, Path, Query, page_limit, present};
use crate::app::AppState;
use crate::auth::{Caller, IntegrationCaller};
use crate::channels::reply::ReplyContext;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_conversations))
        .routes(routes!(get_conversation, update_conversation))
        .routes(routes!(list_messages, create_message))
        .routes(routes!(reply_options))
        .routes(routes!(typing))
        .routes(routes!(get_message, update_delivery))
        .routes(routes!(retry_message))
        .routes(routes!(download_attachment))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConversationListParams {
    pub status: Option<ConversationStatus>,
    pub priority: Option<Priority>,
    /// `me`, `unassigned` or a user id.
    pub assignee: Option<String>,
    pub team_id: Option<TeamId>,
    /// Conversations with at least one message through this inbox.
    pub inbox_id: Option<InboxId>,
    pub contact_id: Option<ContactId>,
    pub label: Option<String>,
    /// Full-text search: words in the messages (every word must appear), or
    /// part of the customer's name or of one of their identities.
    pub q: Option<String>,
    /// `me` or a user id: conversations where a note mentions them.
    pub mentioning: Option<String>,
    /// Conversations with at least one message on this channel.
    pub channel: Option<Channel>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Conversations of every channel, most recently active first.
#[utoipa::path(get, path = "/conversations", tag = "conversations", params(ConversationListParams),
    responses((status = 200, body = Page<Conversation>), (status = 422, body = ErrorBody)))]
async fn list_conversations(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<ConversationListParams>,
) -> ApiResult<Json<Page<Conversation>>> {
    let limit = page_limit(p.limit)?;
    let assignee = match p.assignee.as_deref() {
        None | Some("all") => None,
        Some("me") => Some(AssigneeFilter::User(caller.user.id)),
        Some("unassigned") => Some(AssigneeFilter::Unassigned),
        Some(id) => Some(AssigneeFilter::User(
            id.parse::<UserId>().map_err(|_| ApiError::invalid("assignee", "is me, unassigned, all or a user id"))?,
        )),
    };
    let before = match p.cursor.as_deref() {
        None => None,
        Some(c) => Some(TimelineCursor::decode(c).ok_or_else(|| ApiError::invalid("cursor", "is not a cursor from this list"))?),
    };
    let label = p.label.map(|l| l.trim().to_lowercase());
    let query = ConversationQuery {
        status: p.status,
        priority: p.priority,
        assignee,
        team_id: p.team_id,
        inbox_id: p.inbox_id,
        contact_id: p.contact_id,
        label,
        search: super::search_text(p.q)?,
        mentioning: match p.mentioning.as_deref() {
            None => None,
            Some("me") => Some(caller.user.id),
            Some(id) => Some(id.parse::<UserId>().map_err(|_| ApiError::invalid("mentioning", "is me or a user id"))?),
        },
        channel: p.channel,
        before,
        limit,
    };
    let conversations = state.store.conversations(caller.account_id(), &query).await?;
    let next_cursor = if conversations.len() as i64 == limit {
        conversations
            .last()
            .map(|c| TimelineCursor { at_micros: (c.last_activity_at.unix_timestamp_nanos() / 1000) as i64, id: c.id.to_string() }.encode())
    } else {
        None
    };
    Ok(Json(Page { data: conversations, next_cursor }))
}

#[utoipa::path(get, path = "/conversations/{id}", tag = "conversations", params(("id" = ConversationId, Path)),
    responses((status = 200, body = Conversation), (status = 404, body = ErrorBody)))]
async fn get_conversation(State(state): State<AppState>, caller: Caller, Path(id): Path<ConversationId>) -> ApiResult<Json<Conversation>> {
    Ok(Json(state.store.conversation(caller.account_id(), id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationUpdate {
    pub status: Option<ConversationStatus>,
    pub priority: Option<Priority>,
    /// A user id, or null to unassign.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<UserId>)]
    pub assignee_id: Option<Option<UserId>>,
    /// A team id, or null to clear.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<TeamId>)]
    pub team_id: Option<Option<TeamId>>,
    /// Replaces the labels.
    pub labels: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    /// Snoozes until then (sets status `snoozed`); null clears.
    #[serde(default, deserialize_with = "present_time")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub snoozed_until: Option<Option<OffsetDateTime>>,
}

fn present_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<OffsetDateTime>>, D::Error> {
    time::serde::rfc3339::option::deserialize(d).map(Some)
}

/// Changes status, priority, assignee, team, labels, category or snooze.
#[utoipa::path(patch, path = "/conversations/{id}", tag = "conversations", params(("id" = ConversationId, Path)), request_body = ConversationUpdate,
    responses((status = 200, body = Conversation), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_conversation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ConversationId>,
    Body(req): Body<ConversationUpdate>,
) -> ApiResult<Json<Conversation>> {
    let mut errors = ValidationErrors::new();
    let labels = match req.labels.as_deref().map(normalize_labels) {
        Some(Err(e)) => {
            errors.push("labels", e);
            None
        }
        Some(Ok(l)) => Some(l),
        None => None,
    };
    let category = req.category.map(|c| c.map(|c| bounded_text(&c, "category", 100, &mut errors)));
    if let Some(Some(until)) = req.snoozed_until
        && until <= OffsetDateTime::now_utc()
    {
        errors.push("snoozed_until", "must be in the future");
    }
    errors.into_result(())?;
    let changes = ConversationChanges {
        status: req.status,
        priority: req.priority,
        assignee_id: req.assignee_id,
        team_id: req.team_id,
        labels,
        category,
        snoozed_until: req.snoozed_until,
    };
    let conversation = state.store.update_conversation(caller.account_id(), id, changes, &caller.actor).await?;
    Ok(Json(conversation))
}

/// Messages and notes of a conversation, oldest first.
#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "conversations", params(("id" = ConversationId, Path), PageParams),
    responses((status = 200, body = Page<Message>), (status = 404, body = ErrorBody)))]
async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ConversationId>,
    Query(p): Query<PageParams>,
) -> ApiResult<Json<Page<Message>>> {
    let limit = page_limit(p.limit)?;
    let after = match p.cursor.as_deref() {
        None => None,
        Some(c) => Some(TimelineCursor::decode(c).ok_or_else(|| ApiError::invalid("cursor", "is not a cursor from this list"))?),
    };
    let messages = state.store.conversation_messages(caller.account_id(), id, after.as_ref(), limit).await?;
    let next_cursor = (messages.len() as i64 == limit)
        .then(|| {
            messages
                .last()
                .map(|m| TimelineCursor { at_micros: (m.created_at.unix_timestamp_nanos() / 1000) as i64, id: m.id.to_string() }.encode())
        })
        .flatten();
    Ok(Json(Page { data: messages, next_cursor }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// `message` (to the customer) or `note` (agents only). Default `message`.
    #[serde(default = "default_kind")]
    pub kind: MessageKind,
    /// The channel to answer on; may differ from the one the customer used.
    /// Default: the channel of the last inbound message.
    pub channel: Option<Channel>,
    /// The inbox to send through (must be of that channel). Default: the
    /// inbox of the last inbound message on that channel.
    pub inbox_id: Option<InboxId>,
    #[serde(default)]
    pub text: String,
    pub html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentUpload>,
    /// Send an approved template instead of free text (the way to reach a
    /// customer on WhatsApp after the 24-hour window). `text` is then
    /// filled from the template.
    pub template: Option<TemplateChoice>,
    /// An email's subject. Default: `Re: ` and the customer's last subject.
    pub subject: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateChoice {
    pub template_id: TemplateId,
    /// The values of `{{1}}`, `{{2}}`…, in order.
    #[serde(default)]
    pub variables: Vec<String>,
}

fn default_kind() -> MessageKind {
    MessageKind::Message
}

/// An agent's reply or private note.
///
/// A reply goes out on the chosen channel (default: the one the customer
/// last wrote on) if the channel's rules allow it now — see
/// `GET /conversations/{id}/reply-options`; otherwise it is refused with 422
/// and a code naming the reason (`window_closed`, `no_identity`,
/// `no_inbox`, `no_consent`). On channels Threadline sends through a
/// provider, the reply and its send job are stored together and the reply
/// starts `pending`; its `delivery_status` then follows the provider's
/// reports (`sent`, `delivered`, `read`, or `failed` with the reason).
#[utoipa::path(post, path = "/conversations/{id}/messages", tag = "conversations", params(("id" = ConversationId, Path)), request_body = NewMessage,
    responses((status = 201, body = Message), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_message(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ConversationId>,
    Body(req): Body<NewMessage>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    let account_id = caller.account_id();
    let mut errors = ValidationErrors::new();
    let (text, html) = parse_body(&req.text, req.html.as_deref(), &mut errors);
    let attachments = parse_attachments(&state, &req.attachments, &mut errors);
    if text.trim().is_empty() && html.is_none() && attachments.is_empty() && req.template.is_none() {
        errors.push("text", "a message needs text, html or an attachment");
    }
    errors.into_result(())?;

    if req.kind == MessageKind::Note {
        if req.template.is_some() {
            return Err(ApiError::invalid("template", "a note is never sent, so it cannot be a template"));
        }
        let channel = req.channel.unwrap_or(Channel::Api);
        // `@paolo` in a note: the colleague finds it under "Mentioning me".
        let users = state.store.users(account_id).await?;
        let mentionable: Vec<Mentionable<'_>> = users.iter().map(|u| Mentionable { id: u.id, name: &u.name, email: &u.email }).collect();
        let mentions = mentioned(&text, &mentionable);
        let outbound = OutboundMessage {
            kind: req.kind,
            channel,
            inbox_id: None,
            sender: Some(caller.user.id),
            bot: None,
            delivery: None,
            text,
            html,
            subject: None,
            attachments,
            mentions,
            choices: Vec::new(),
        };
        let message = state.store.create_outbound_message(account_id, id, &outbound).await?;
        return Ok((StatusCode::CREATED, Json(message)));
    }

    let draft = crate::channels::reply::Draft {
        author: crate::channels::reply::Author::User(caller.user.id),
        channel: req.channel,
        inbox_id: req.inbox_id,
        text,
        html,
        attachments,
        template: req.template.map(|t| (t.template_id, t.variables)),
        subject: req.subject,
    };
    let message = crate::channels::reply::send(&state, account_id, id, draft).await?;
    Ok((StatusCode::CREATED, Json(message)))
}

/// The channels a reply to this conversation could go out on, whether each
/// is allowed now and why not (no identity, no inbox, consent withdrawn,
/// customer-service window closed), with the default marked.
#[utoipa::path(get, path = "/conversations/{id}/reply-options", tag = "conversations", params(("id" = ConversationId, Path)),
    responses((status = 200, body = Vec<ReplyOption>), (status = 404, body = ErrorBody)))]
async fn reply_options(State(state): State<AppState>, caller: Caller, Path(id): Path<ConversationId>) -> ApiResult<Json<Vec<ReplyOption>>> {
    let context = ReplyContext::load(&state, caller.account_id(), id).await?;
    Ok(Json(context.options(state.clock.now())))
}

/// Tells the customer an agent is typing (shown in the web chat for a few
/// seconds; send again while typing continues).
#[utoipa::path(post, path = "/conversations/{id}/typing", tag = "conversations", params(("id" = ConversationId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn typing(State(state): State<AppState>, caller: Caller, Path(id): Path<ConversationId>) -> ApiResult<StatusCode> {
    let conversation = state.store.conversation(caller.account_id(), id).await?;
    state.bus.signal(crate::bus::LiveSignal::AgentTyping { account_id: caller.account_id(), contact_id: conversation.contact_id });
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a reply that failed again, from the first attempt.
#[utoipa::path(post, path = "/messages/{id}/retry", tag = "conversations", params(("id" = MessageId, Path)),
    responses((status = 200, body = Message), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn retry_message(State(state): State<AppState>, caller: Caller, Path(id): Path<MessageId>) -> ApiResult<Json<Message>> {
    let message = state.store.retry_send(caller.account_id(), id).await?;
    Ok(Json(message))
}

#[utoipa::path(get, path = "/messages/{id}", tag = "conversations", params(("id" = MessageId, Path)),
    responses((status = 200, body = Message), (status = 404, body = ErrorBody)))]
async fn get_message(State(state): State<AppState>, caller: Caller, Path(id): Path<MessageId>) -> ApiResult<Json<Message>> {
    Ok(Json(state.store.message(caller.account_id(), id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryUpdate {
    /// `sent`, `delivered`, `read` or `failed`.
    pub delivery_status: DeliveryStatus,
    /// Why it failed, for `failed`.
    pub error: Option<String>,
}

/// Reports how far an outbound message got (for API-channel integrations
/// that deliver replies themselves; needs a token with the `integration`
/// scope).
#[utoipa::path(patch, path = "/messages/{id}", tag = "conversations", params(("id" = MessageId, Path)), request_body = DeliveryUpdate,
    responses((status = 200, body = Message), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_delivery(
    State(state): State<AppState>,
    IntegrationCaller(caller): IntegrationCaller,
    Path(id): Path<MessageId>,
    Body(req): Body<DeliveryUpdate>,
) -> ApiResult<Json<Message>> {
    if matches!(req.delivery_status, DeliveryStatus::Received | DeliveryStatus::Internal | DeliveryStatus::Pending) {
        return Err(ApiError::invalid("delivery_status", "must be sent, delivered, read or failed"));
    }
    let mut errors = ValidationErrors::new();
    let error = req.error.as_deref().map(|e| bounded_text(e, "error", 1000, &mut errors));
    errors.into_result(())?;
    let message = state.store.update_delivery_status(caller.account_id(), id, req.delivery_status, error).await?;
    Ok(Json(message))
}

/// Downloads an attachment. Served as a download with a fixed content type
/// policy so a hostile file cannot run as a page of this site.
#[utoipa::path(get, path = "/attachments/{id}", tag = "conversations", params(("id" = AttachmentId, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = ErrorBody)))]
async fn download_attachment(State(state): State<AppState>, caller: Caller, Path(id): Path<AttachmentId>) -> ApiResult<Response> {
    let (meta, data) = state.store.attachment(caller.account_id(), id).await?;
    let mut response = data.into_response();
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&meta.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    let disposition = format!("attachment; filename=\"{}\"", meta.filename.replace(['"', '\\'], "_"));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")));
    Ok(response)
}
