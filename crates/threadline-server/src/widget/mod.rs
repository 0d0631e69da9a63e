//! The customer-facing chat: the web widget (`/widget.js`, embedded with
//! one script tag) and the same API for an in-app chat in a mobile app.
//!
//! Endpoints, all under `/widget/{inbox_id}` of a `web_chat` or `in_app`
//! inbox, called from the customer's browser or app (no account token):
//!
//! - `POST /session`: starts or resumes a visitor. The answer's `token` is
//!   the visitor's persistent identity (kept by the widget in
//!   localStorage); it is signed, so a visitor cannot pose as another.
//!   With `user_id` and `user_hash` (hex HMAC-SHA256 of the user id keyed
//!   with the inbox's `identity_secret`) the visitor is a verified user of
//!   the business's site and joins that customer's record.
//! - `GET /messages`, `POST /messages`: the chat's history and a new message.
//! - `POST /devices`, `DELETE /devices` (in-app inboxes): the app's device
//!   for push notifications ([`devices`]).
//! - `GET /live?token=…`: a WebSocket with new messages, the agent's typing
//!   and availability; the visitor sends typing and read receipts.
//!
//! Inbox settings: `title`, `greeting`, `color`, `allowed_origins` (a list;
//! when set, only pages from those origins may use the chat). Secrets:
//! `identity_secret` (for verified users).

pub mod devices;
pub mod live;
pub mod presence;

use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;
use serde::{Deserialize, Serialize};
use threadline_domain::channel::Channel;
use threadline_domain::identity::{IdentityKind, NormalizedIdentity, Region};
use threadline_domain::ids::{AccountId, ContactId, InboxId};
use threadline_domain::message::{Direction, Message};
use threadline_domain::timeline::TimelineCursor;
use threadline_domain::validation::{ValidationErrors, bounded_text};
use threadline_store::{Account, InboundMessage, Inbox};

use crate::api::inboxes::{AttachmentUpload, parse_attachments};
use crate::app::AppState;
use crate::channels::{media, open_secrets};
use crate::error::ApiError;

/// The contact attribute holding the unverified email address a visitor
/// typed into the chat.
pub const CHAT_EMAIL: &str = "chat_email";

/// The widget script, served as is.
const WIDGET_JS: &str = include_str!("../../assets/widget.js");

pub fn router() -> axum::Router<AppState> {
    let api = axum::Router::new()
        .route("/widget/{inbox_id}/session", axum::routing::post(session).options(preflight))
        .route("/widget/{inbox_id}/messages", axum::routing::get(history).post(send).options(preflight))
        .route("/widget/{inbox_id}/pages", axum::routing::post(page_view).options(preflight))
        .route("/widget/{inbox_id}/devices", axum::routing::post(devices::register).delete(devices::unregister).options(preflight))
        .route("/widget/{inbox_id}/live", axum::routing::get(live::socket))
        .layer(axum::middleware::from_fn(cors));
    axum::Router::new()
        .route("/widget.js", axum::routing::get(script))
        .route("/widget/{inbox_id}/try", axum::routing::get(try_page))
        .merge(api)
}

/// A page that embeds the chat, to try it (and to see what the embed looks
/// like) without a site of one's own.
async fn try_page(
    State(state): State<AppState>,
    axum::extract::Path(raw_id): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (inbox, _) = chat_inbox(&state, &raw_id, &headers).await?;
    let snippet =
        format!("<script src=\"{}/widget.js\" data-inbox=\"{}\" async></script>", state.settings.effective_public_url(), inbox.id);
    let escaped = snippet.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let page = format!(
        "<!doctype html><html><head><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>Try the chat</title></head><body style=\"font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem\">\
         <h1>Try the chat</h1><p>This page embeds the web chat of this inbox, as a customer's browser sees it. \
         Open the button at the bottom right and write; the message reaches the inbox's conversations.</p>\
         <p>To embed it on a site, add:</p><pre style=\"white-space:pre-wrap;background:#f3f4f6;padding:1rem\">{escaped}</pre>{snippet}</body></html>"
    );
    Ok(axum::response::Html(page).into_response())
}

async fn script() -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
        (header::CACHE_CONTROL, "public, max-age=300"),
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
    ];
    (headers, WIDGET_JS).into_response()
}

/// Answered by [`cors`], which adds the headers.
async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// The chat is called from the business's pages, on another origin: answer
/// preflights and allow the origin (each handler checks it against the
/// inbox's `allowed_origins`). No cookies are involved.
async fn cors(request: axum::extract::Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.unwrap_or(HeaderValue::from_static("*")));
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, DELETE, OPTIONS"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("content-type, x-threadline-visitor"));
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    headers.insert(header::VARY, HeaderValue::from_static("origin"));
    response
}

/// A chat inbox, its account, and the visitor's page origin checked.
pub(crate) async fn chat_inbox(state: &AppState, raw_id: &str, headers: &HeaderMap) -> Result<(Inbox, Account), ApiError> {
    let inbox_id: InboxId = raw_id.parse().map_err(|_| ApiError::NotFound)?;
    let (inbox, account) = state.inbox_by_id(inbox_id).await?;
    if !matches!(inbox.channel, Channel::WebChat | Channel::InApp) {
        return Err(ApiError::NotFound);
    }
    if let Some(allowed) = inbox.settings.get("allowed_origins").and_then(|v| v.as_array()) {
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        // Apps (no Origin header) are allowed; pages only from the list.
        if let Some(origin) = origin
            && !allowed.iter().any(|a| a.as_str() == Some(origin))
        {
            return Err(ApiError::Forbidden(format!("the chat is not enabled on {origin}")));
        }
    }
    Ok((inbox, account))
}

/// Who a visitor is, as carried in their signed token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visitor {
    /// The persistent visitor id: the `web_visitor` identity.
    #[serde(rename = "v")]
    pub id: String,
    /// The verified user id of the business's site, if any: the
    /// `external_id` identity.
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

impl Visitor {
    fn token(&self, state: &AppState, inbox_id: InboxId) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default());
        let signature = state.secrets.sign_link(&format!("visitor:{inbox_id}:{payload}"));
        format!("{payload}.{signature}")
    }

    pub(crate) fn from_token(state: &AppState, inbox_id: InboxId, token: &str) -> Option<Visitor> {
        let (payload, signature) = token.split_once('.')?;
        if !state.secrets.verify_link(&format!("visitor:{inbox_id}:{payload}"), signature) {
            return None;
        }
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }

    /// The identities a message from this visitor carries, the most certain first.
    pub(crate) fn identities(&self, region: Region) -> Vec<NormalizedIdentity> {
        let mut out = Vec::new();
        if let Some(user) = &self.user_id
            && let Ok(identity) = NormalizedIdentity::parse(IdentityKind::ExternalId, user, region)
        {
            out.push(identity);
        }
        if let Ok(identity) = NormalizedIdentity::parse(IdentityKind::WebVisitor, &self.id, region) {
            out.push(identity);
        }
        out
    }

    /// The contact this visitor is, once they have written.
    pub(crate) async fn contact(&self, state: &AppState, account: &Account) -> Result<Option<ContactId>, ApiError> {
        let region = Region::parse(&account.default_region).unwrap_or_default();
        for identity in self.identities(region) {
            if let Some(contact) = state.store.contact_by_identity(account.id, &identity).await? {
                return Ok(Some(contact));
            }
        }
        Ok(None)
    }
}

/// Spends one of the client's chat requests for this inbox (429 when none are left).
pub(crate) fn spend(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<&ConnectInfo<SocketAddr>>,
    inbox_id: InboxId,
) -> Result<(), ApiError> {
    let Some(ip) = crate::rate_limit::client_ip(&state.settings, headers, peer) else { return Ok(()) };
    state.bus.tell_nodes(crate::bus::NodeSignal::ChatRequest { node: state.bus.node().to_owned(), address: ip, inbox_id });
    state.chat_limiter.check((ip, inbox_id)).map_err(ApiError::RateLimited)
}

type Peer = Option<axum::Extension<ConnectInfo<SocketAddr>>>;

/// 128 random bits: unguessable, and never reused.
fn new_visitor_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

pub(crate) fn visitor_from_headers(state: &AppState, inbox_id: InboxId, headers: &HeaderMap) -> Result<Visitor, ApiError> {
    let token = headers.get("x-threadline-visitor").and_then(|v| v.to_str().ok()).ok_or(ApiError::Unauthorized)?;
    Visitor::from_token(state, inbox_id, token).ok_or(ApiError::Unauthorized)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// The token from an earlier session, to resume it.
    pub token: Option<String>,
    /// A logged-in user of the business's site…
    pub user_id: Option<String>,
    /// …and the proof: hex HMAC-SHA256 of `user_id` with the inbox's `identity_secret`.
    pub user_hash: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SessionAnswer {
    pub token: String,
    pub verified: bool,
    pub agents_online: i64,
    pub title: String,
    pub greeting: String,
    pub color: String,
    /// The inbox reports page views (its `track_pages` setting); the script
    /// sends them only when the site says the visitor consented.
    pub track_pages: bool,
}

fn setting(inbox: &Inbox, name: &str, default: &str) -> String {
    inbox.settings.get(name).and_then(|v| v.as_str()).unwrap_or(default).to_owned()
}

async fn session(
    State(state): State<AppState>,
    axum::extract::Path(raw_id): axum::extract::Path<String>,
    peer: Peer,
    headers: HeaderMap,
    crate::api::Body(req): crate::api::Body<SessionRequest>,
) -> Result<Json<SessionAnswer>, ApiError> {
    let (inbox, account) = chat_inbox(&state, &raw_id, &headers).await?;
    spend(&state, &headers, peer.as_ref().map(|p| &p.0), inbox.id)?;
    let mut visitor = req
        .token
        .as_deref()
        .and_then(|t| Visitor::from_token(&state, inbox.id, t))
        .unwrap_or_else(|| Visitor { id: new_visitor_id(), user_id: None });
    match (req.user_id.as_deref().map(str::trim), req.user_hash.as_deref()) {
        // No signed-in user (any more): a verified visitor's token is not
        // resumed, or the next person at a shared computer would be them.
        (None, _) if visitor.user_id.is_some() => visitor = Visitor { id: new_visitor_id(), user_id: None },
        (None, _) => {}
        (Some(user_id), Some(hash)) if !user_id.is_empty() && user_id.len() <= 255 => {
            let secrets = open_secrets(&state, &inbox).map_err(ApiError::Internal)?;
            let secret = secrets.get("identity_secret").ok_or_else(|| ApiError::Refused {
                code: "verification_disabled",
                message: "this chat has no identity_secret to verify users with".into(),
            })?;
            let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
            mac.update(user_id.as_bytes());
            let given = hex::decode(hash.trim()).map_err(|_| ApiError::Forbidden("user_hash does not verify user_id".into()))?;
            mac.verify_slice(&given).map_err(|_| ApiError::Forbidden("user_hash does not verify user_id".into()))?;
            if visitor.user_id.as_deref() != Some(user_id) {
                // A different user on this browser: a fresh visitor, so one
                // person's chat is never shown to the next.
                visitor = Visitor { id: new_visitor_id(), user_id: Some(user_id.to_owned()) };
            }
        }
        _ => return Err(ApiError::invalid("user_hash", "a user_id (1–255 characters) needs its user_hash")),
    }
    Ok(Json(SessionAnswer {
        token: visitor.token(&state, inbox.id),
        verified: visitor.user_id.is_some(),
        agents_online: state.store.agents_online(account.id).await?,
        title: setting(&inbox, "title", &inbox.name),
        greeting: setting(&inbox, "greeting", "Hi! How can we help?"),
        color: setting(&inbox, "color", "#2f5bea"),
        track_pages: tracks_pages(&inbox),
    }))
}

fn tracks_pages(inbox: &Inbox) -> bool {
    inbox.settings.get("track_pages").and_then(|v| v.as_bool()).unwrap_or(false)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageView {
    /// The page's address (http or https).
    pub url: String,
    pub title: Option<String>,
    pub referrer: Option<String>,
}

/// A page the visitor opened, reported by the chat script when the inbox
/// tracks pages (`track_pages`) and the site says the visitor consented.
/// Stored as a `page` event of the visitor's contact (created if need be,
/// with the chat's own identities), where journeys see it like any other.
async fn page_view(
    State(state): State<AppState>,
    axum::extract::Path(raw_id): axum::extract::Path<String>,
    peer: Peer,
    headers: HeaderMap,
    crate::api::Body(req): crate::api::Body<PageView>,
) -> Result<StatusCode, ApiError> {
    let (inbox, account) = chat_inbox(&state, &raw_id, &headers).await?;
    let visitor = visitor_from_headers(&state, inbox.id, &headers)?;
    if !tracks_pages(&inbox) {
        return Err(ApiError::Refused {
            code: "tracking_off",
            message: "this chat does not report page views (its track_pages setting)".into(),
        });
    }
    spend(&state, &headers, peer.as_ref().map(|p| &p.0), inbox.id)?;
    let url = req.url.trim();
    let parsed = url::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https") && url.len() <= 2000);
    let Some(parsed) = parsed else { return Err(ApiError::invalid("url", "an http(s) address of at most 2,000 characters")) };
    let mut errors = ValidationErrors::new();
    let title = req.title.as_deref().map(|t| bounded_text(t, "title", 500, &mut errors)).filter(|t| !t.is_empty());
    let referrer = req.referrer.as_deref().map(|r| bounded_text(r, "referrer", 2000, &mut errors)).filter(|r| !r.is_empty());
    errors.into_result(())?;
    let mut properties = serde_json::Map::new();
    properties.insert("url".into(), url.into());
    properties.insert("path".into(), parsed.path().into());
    if let Some(title) = &title {
        properties.insert("title".into(), title.clone().into());
    }
    if let Some(referrer) = referrer {
        properties.insert("referrer".into(), referrer.into());
    }
    let now = state.clock.now();
    let call = threadline_domain::tracking::Call {
        kind: threadline_domain::tracking::CallKind::Page,
        message_id: uuid::Uuid::now_v7().to_string(),
        message_id_given: false,
        anonymous_id: None,
        user_id: visitor.user_id.clone(),
        previous_id: None,
        group_id: None,
        name: title,
        properties,
        context: serde_json::Map::from_iter([("source".to_owned(), serde_json::Value::String("web_chat".into()))]),
        occurred_at: now,
    };
    let region = Region::parse(&account.default_region).unwrap_or_default();
    state.store.record_visitor_pages(account.id, &visitor.identities(region), &[call], now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A message as the visitor sees it.
#[derive(Debug, Serialize)]
pub struct ChatMessage {
    pub id: String,
    /// `visitor` or `agent` (or `bot`).
    pub from: &'static str,
    pub text: String,
    pub attachments: Vec<ChatAttachment>,
    /// Answers to tap (a survey's scores): the chat shows them as buttons
    /// under the latest message, and a tap sends the choice's title.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<threadline_domain::message::Choice>,
    pub created_at: String,
    pub cursor: String,
}

#[derive(Debug, Serialize)]
pub struct ChatAttachment {
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub url: String,
}

pub(crate) fn chat_message(state: &AppState, account_id: AccountId, m: &Message) -> ChatMessage {
    ChatMessage {
        id: m.id.to_string(),
        from: match (m.direction, m.sender_kind) {
            (Direction::Inbound, _) => "visitor",
            (_, threadline_domain::message::SenderKind::Bot) => "bot",
            _ => "agent",
        },
        text: m.text.clone(),
        attachments: m
            .attachments
            .iter()
            .map(|a| ChatAttachment {
                filename: a.filename.clone(),
                content_type: a.content_type.clone(),
                size: a.size,
                url: media::signed_link(state, account_id, a.id),
            })
            .collect(),
        choices: m.choices.clone(),
        created_at: m.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        cursor: TimelineCursor { at_micros: (m.created_at.unix_timestamp_nanos() / 1000) as i64, id: m.id.to_string() }.encode(),
    }
}

#[derive(Debug, Deserialize)]
pub struct HistoryParams {
    /// The `cursor` of the last message the visitor has.
    pub after: Option<String>,
}

async fn history(
    State(state): State<AppState>,
    axum::extract::Path(raw_id): axum::extract::Path<String>,
    Query(p): Query<HistoryParams>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (inbox, account) = chat_inbox(&state, &raw_id, &headers).await?;
    let visitor = visitor_from_headers(&state, inbox.id, &headers)?;
    let after = match p.after.as_deref() {
        Some(c) => Some(TimelineCursor::decode(c).ok_or_else(|| ApiError::invalid("after", "is not a cursor from this chat"))?),
        None => None,
    };
    let messages = match visitor.contact(&state, &account).await? {
        Some(contact) => state.store.chat_messages(account.id, contact, after.as_ref(), 200).await?,
        None => Vec::new(),
    };
    let data: Vec<ChatMessage> = messages.iter().map(|m| chat_message(&state, account.id, m)).collect();
    Ok(Json(serde_json::json!({ "data": data })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSend {
    #[serde(default)]
    pub text: String,
    /// From the pre-chat form.
    pub name: Option<String>,
    /// From the pre-chat form, or left for an answer by email when no
    /// agent is online.
    pub email: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentUpload>,
}

/// The longest chat message, in characters.
const MAX_CHAT_CHARS: usize = 10_000;

async fn send(
    State(state): State<AppState>,
    axum::extract::Path(raw_id): axum::extract::Path<String>,
    peer: Peer,
    headers: HeaderMap,
    crate::api::Body(req): crate::api::Body<ChatSend>,
) -> Result<(StatusCode, Json<ChatMessage>), ApiError> {
    let (inbox, account) = chat_inbox(&state, &raw_id, &headers).await?;
    spend(&state, &headers, peer.as_ref().map(|p| &p.0), inbox.id)?;
    let visitor = visitor_from_headers(&state, inbox.id, &headers)?;
    let region = Region::parse(&account.default_region).unwrap_or_default();
    let mut errors = ValidationErrors::new();
    if req.text.chars().count() > MAX_CHAT_CHARS {
        errors.push("text", format!("must be at most {MAX_CHAT_CHARS} characters"));
    }
    if req.attachments.len() > 5 {
        errors.push("attachments", "at most 5 files per message");
    }
    let attachments = parse_attachments(&state, &req.attachments, &mut errors);
    if req.text.trim().is_empty() && attachments.is_empty() {
        errors.push("text", "a message needs text or a file");
    }
    let name = req.name.as_deref().map(|n| bounded_text(n, "name", 200, &mut errors)).filter(|n| !n.is_empty());
    let email = match req.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        Some(raw) => match NormalizedIdentity::parse(IdentityKind::Email, raw, region) {
            Ok(email) => Some(email),
            Err(e) => {
                errors.push("email", e.to_string());
                None
            }
        },
        None => None,
    };
    errors.into_result(())?;

    let inbound = InboundMessage {
        inbox_id: inbox.id,
        channel: inbox.channel,
        sender_name: name,
        identities: visitor.identities(region),
        text: req.text,
        html: None,
        provider_message_id: None,
        attachments,
        ..InboundMessage::new(inbox.id, inbox.channel)
    };
    let (outcome, _) = crate::inbound::receive(&state, &account, &inbox, inbound, None).await?;
    if let Some(email) = email {
        // An address typed into the chat is a claim, not a proof. It is kept
        // on the contact as `chat_email`, where an agent's answer by email
        // can go, but it is not an identity: mail from that address does not
        // join this visitor's record (a visitor could type anyone's address).
        let mut attributes = serde_json::Map::new();
        attributes.insert(CHAT_EMAIL.into(), serde_json::Value::String(email.value));
        let changes = threadline_store::ContactChanges { attributes: Some(attributes), ..Default::default() };
        state.store.update_contact(account.id, outcome.contact_id, changes).await?;
    }
    Ok((StatusCode::CREATED, Json(chat_message(&state, account.id, &outcome.message))))
}
