//! Inboxes (configured channel instances) and the generic API channel:
//! `POST /inboxes/{id}/messages` lets any integration deliver a customer's
//! message into Threadline, with an idempotency key.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use threadline_channels::adapter_for;
use threadline_domain::channel::Channel;
use threadline_domain::identity::{IdentityKind, NormalizedIdentity, Region};
use threadline_domain::ids::InboxId;
use threadline_domain::message::{MAX_HTML_BYTES, MAX_TEXT_CHARS, safe_content_type, safe_filename};
use threadline_domain::role::Permission;
use threadline_domain::validation::{ValidationErrors, bounded_text};
use threadline_store::{IdempotencyKey, InboundMessage, Inbox, InboxChanges, IngestOutcome, NewAttachment};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path};
use crate::app::AppState;
use crate::auth::{Caller, IntegrationCaller};
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_inboxes, create_inbox))
        .routes(routes!(get_inbox, update_inbox, delete_inbox))
        .routes(routes!(post_inbound_message))
}

type JsonMap = serde_json::Map<String, serde_json::Value>;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInbox {
    pub channel: Channel,
    pub name: String,
    /// Non-secret settings, returned as given.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: JsonMap,
    /// Provider credentials: encrypted at rest, never returned.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboxUpdate {
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<JsonMap>,
    /// Replaces all secrets when present; `{}` removes them.
    pub secrets: Option<BTreeMap<String, String>>,
}

fn seal_secrets(state: &AppState, secrets: &BTreeMap<String, String>) -> Option<String> {
    (!secrets.is_empty()).then(|| state.secrets.seal(&serde_json::to_string(secrets).unwrap_or_default()))
}

/// An inbox as served.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InboxView {
    #[serde(flatten)]
    pub inbox: Inbox,
    /// Threadline talks to the channel's provider itself (the inbox has the
    /// provider's credentials): it receives the provider's webhooks and
    /// sends replies through it. Otherwise an integration delivers the
    /// inbox's messages through the API and sends its replies.
    pub provider_connected: bool,
    /// For a connected inbox: the URL to configure at the provider.
    pub webhook_url: Option<String>,
    /// For an email inbox that reads an IMAP mailbox: how that is going.
    pub mailbox: Option<crate::email::imap::MailboxStatus>,
    /// For an email inbox with an `address`: whether the account proved it
    /// controls the address; the SMTP listener delivers its mail only then.
    pub address: Option<crate::email::addresses::AddressProof>,
}

async fn view(state: &AppState, account_id: threadline_domain::ids::AccountId, inbox: Inbox) -> ApiResult<InboxView> {
    let address = match inbox.channel {
        Channel::Email => crate::email::addresses::proof(state, account_id, &inbox).await?,
        _ => None,
    };
    let connected = crate::channels::provider_connected(&inbox);
    let webhook_url = match inbox.channel {
        Channel::Voice => connected.then(|| crate::voice::voice_url(state, inbox.id)),
        _ => (connected && adapter_for(inbox.channel).is_some()).then(|| crate::channels::webhook_url(&state.settings, inbox.id)),
    };
    let reads_mailbox = inbox.channel == Channel::Email && inbox.settings.get("imap_host").is_some();
    let mailbox = reads_mailbox.then(|| {
        let known = state.mailboxes.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&inbox.id).cloned();
        known.unwrap_or_else(|| crate::email::imap::MailboxStatus { state: "connecting".into(), ..Default::default() })
    });
    Ok(InboxView { inbox, provider_connected: connected, webhook_url, mailbox, address })
}

/// An inbox of a provider channel given credentials must have all its
/// provider needs; one without credentials is served by an integration.
fn check_channel_config(channel: Channel, settings: &JsonMap, secrets: &BTreeMap<String, String>, errors: &mut ValidationErrors) {
    if channel == Channel::Email {
        check_email_config(settings, secrets, errors);
        return;
    }
    if channel == Channel::InApp {
        check_push_config(settings, secrets, errors);
        return;
    }
    if channel == Channel::Voice {
        check_voice_config(settings, secrets, errors);
        return;
    }
    let Some(adapter) = adapter_for(channel) else { return };
    if secrets.is_empty() {
        return;
    }
    for name in adapter.required_settings() {
        if settings.get(*name).and_then(|v| v.as_str()).is_none_or(|v| v.trim().is_empty()) {
            errors.push(format!("settings.{name}"), format!("a {channel} inbox needs this setting"));
        }
    }
    for name in adapter.required_secrets() {
        if secrets.get(*name).is_none_or(|v| v.trim().is_empty()) {
            errors.push(format!("secrets.{name}"), format!("a {channel} inbox needs this secret"));
        }
    }
    if channel == Channel::Sms && !settings.contains_key("from") && !settings.contains_key("messaging_service_sid") {
        errors.push("settings.from", "an SMS inbox needs the number it sends from (`from`) or a `messaging_service_sid`");
    }
}

/// An in-app inbox's push credentials, each checked when given: a Firebase
/// service account's key file (`secrets.fcm_service_account`), and an APNs
/// key (`secrets.apns_key`, the `.p8` file's text) with `settings.apns_key_id`,
/// `apns_team_id` and `apns_topic` (the app's bundle id).
fn check_push_config(settings: &JsonMap, secrets: &BTreeMap<String, String>, errors: &mut ValidationErrors) {
    use threadline_channels::push::{ApnsKey, ServiceAccount};
    let text = |name: &str| settings.get(name).and_then(|v| v.as_str()).map(str::trim).filter(|v| !v.is_empty());
    if let Some(json) = secrets.get("fcm_service_account")
        && let Err(e) = ServiceAccount::parse(json)
    {
        errors.push("secrets.fcm_service_account", e.0);
    }
    if let Some(pem) = secrets.get("apns_key") {
        for name in ["apns_key_id", "apns_team_id", "apns_topic"] {
            if text(name).is_none() {
                errors.push(format!("settings.{name}"), "an in-app inbox with an APNs key needs this setting");
            }
        }
        let key = ApnsKey { key_pem: pem.clone(), key_id: String::new(), team_id: String::new() };
        if let Err(e) = key.check() {
            errors.push("secrets.apns_key", e.0);
        }
    }
    if let Some(environment) = settings.get("apns_environment")
        && !matches!(environment.as_str(), Some("production" | "sandbox"))
    {
        errors.push("settings.apns_environment", "must be production or sandbox");
    }
}

/// A voice inbox: Twilio's account and its token (to check signatures and
/// fetch recordings) when credentials are given, and its IVR when set.
fn check_voice_config(settings: &JsonMap, secrets: &BTreeMap<String, String>, errors: &mut ValidationErrors) {
    if !secrets.is_empty() {
        if settings.get("account_sid").and_then(|v| v.as_str()).is_none_or(|v| v.trim().is_empty()) {
            errors.push("settings.account_sid", "a voice inbox needs this setting");
        }
        if secrets.get("auth_token").is_none_or(|v| v.trim().is_empty()) {
            errors.push("secrets.auth_token", "a voice inbox needs this secret");
        }
    }
    if let Some(ivr) = settings.get("ivr") {
        match serde_json::from_value::<threadline_domain::voice::Ivr>(ivr.clone()) {
            Ok(ivr) => {
                if let Err(e) = ivr.validate() {
                    errors.0.extend(e.0.into_iter().map(|mut f| {
                        f.field = format!("settings.{}", f.field);
                        f
                    }));
                }
                if let Some(hours) = &ivr.hours
                    && !crate::sla::known_time_zone(&hours.time_zone)
                {
                    errors.push("settings.ivr.hours.time_zone", format!("unknown time zone `{}`", hours.time_zone));
                }
            }
            Err(e) => errors.push("settings.ivr", format!("is not an IVR: {e}")),
        }
    }
}

/// What an in-app inbox's push credentials say, kept with its settings so
/// it shows (the secrets never do): `fcm_project_id` from the service
/// account's key file; without a key file, none.
fn derive_push_settings(channel: Channel, settings: &mut JsonMap, secrets: &BTreeMap<String, String>) {
    if channel != Channel::InApp {
        return;
    }
    match secrets.get("fcm_service_account").and_then(|json| threadline_channels::push::ServiceAccount::parse(json).ok()) {
        Some(account) => {
            settings.insert("fcm_project_id".into(), account.project_id.into());
        }
        None => {
            settings.remove("fcm_project_id");
        }
    }
}

/// An email inbox: its address (which receives mail and sends replies),
/// its SMTP relay and its IMAP mailbox, each checked when given.
fn check_email_config(settings: &JsonMap, secrets: &BTreeMap<String, String>, errors: &mut ValidationErrors) {
    let text = |name: &str| settings.get(name).and_then(|v| v.as_str()).map(str::trim).filter(|v| !v.is_empty());
    let sends = text("smtp_host").is_some();
    let reads = text("imap_host").is_some();
    match text("address") {
        Some(address) if !email_address::EmailAddress::is_valid(address) => errors.push("settings.address", "is not a valid email address"),
        Some(address) if address.contains('+') => {
            errors.push("settings.address", "must not contain '+': Threadline adds +tags to it for reply addresses")
        }
        None if sends => errors.push("settings.address", "an email inbox that sends needs its From address"),
        _ => {}
    }
    for (name, allowed) in [
        ("smtp_security", &["starttls", "tls", "none"][..]),
        ("imap_security", &["tls", "starttls", "none"][..]),
        ("remote_images", &["block", "allow"][..]),
    ] {
        if let Some(value) = settings.get(name)
            && !value.as_str().is_some_and(|v| allowed.contains(&v))
        {
            errors.push(format!("settings.{name}"), format!("must be {}", allowed.join(", ")));
        }
    }
    for name in ["smtp_port", "imap_port"] {
        if let Some(port) = settings.get(name)
            && !port.as_u64().is_some_and(|p| (1..=65535).contains(&p))
        {
            errors.push(format!("settings.{name}"), "must be a port number");
        }
    }
    if reads {
        for name in ["imap_username", "imap_password"] {
            if secrets.get(name).is_none_or(|v| v.is_empty()) {
                errors.push(format!("secrets.{name}"), "an email inbox that reads an IMAP mailbox needs this secret");
            }
        }
    }
    if let Some(reply) = settings.get("auto_reply")
        && reply.as_str().is_none_or(|r| r.chars().count() > 10_000)
    {
        errors.push("settings.auto_reply", "must be text of at most 10,000 characters");
    }
}

/// An email inbox's SMTP relay and IMAP server must be places the egress
/// policy lets Threadline connect to (checked again at every connection).
async fn check_mail_hosts(state: &AppState, channel: Channel, settings: &JsonMap, errors: &mut ValidationErrors) {
    if channel != Channel::Email {
        return;
    }
    for (name, default_port) in [("smtp_host", 587), ("imap_host", 993)] {
        let Some(host) = settings.get(name).and_then(|v| v.as_str()).map(str::trim).filter(|h| !h.is_empty()) else { continue };
        if let Err(refusal) = state.egress.check_host(host, default_port).await {
            errors.push(format!("settings.{name}"), refusal.to_string());
        }
    }
}

/// One address, one inbox within the account: mail to it must have one
/// place to go. (Across accounts, only a *proven* address counts, and
/// proving it is what settles who owns it: see `email::addresses`. Saying
/// here that another account uses it would tell who Threadline's other
/// customers are.)
async fn check_address_free(
    state: &AppState,
    account_id: threadline_domain::ids::AccountId,
    channel: Channel,
    settings: &JsonMap,
    this: Option<InboxId>,
) -> ApiResult<()> {
    let Some(address) = settings.get("address").and_then(|a| a.as_str()).filter(|_| channel == Channel::Email) else { return Ok(()) };
    let wanted = threadline_channels::email::address::base(address);
    for (_, inbox) in state.store.email_inboxes().await?.into_iter().filter(|(a, _)| *a == account_id) {
        let theirs = inbox.settings.get("address").and_then(|a| a.as_str()).map(threadline_channels::email::address::base);
        if Some(inbox.id) != this && theirs.as_deref() == Some(wanted.as_str()) {
            return Err(ApiError::Conflict(format!("the address {wanted} is already used by another email inbox")));
        }
    }
    Ok(())
}

#[utoipa::path(get, path = "/inboxes", tag = "inboxes", responses((status = 200, body = Vec<InboxView>)))]
async fn list_inboxes(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<InboxView>>> {
    let inboxes = state.store.inboxes(caller.account_id()).await?;
    let mut views = Vec::with_capacity(inboxes.len());
    for inbox in inboxes {
        views.push(view(&state, caller.account_id(), inbox).await?);
    }
    Ok(Json(views))
}

/// Configures a channel instance (admins). Channels Threadline talks to a
/// provider for name the settings and secrets they need (see the README's
/// channel table); the answer carries the `webhook_url` to configure at the
/// provider.
#[utoipa::path(post, path = "/inboxes", tag = "inboxes", request_body = NewInbox,
    responses((status = 201, body = InboxView), (status = 422, body = ErrorBody)))]
async fn create_inbox(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<NewInbox>,
) -> ApiResult<(StatusCode, Json<InboxView>)> {
    caller.require(Permission::Administer)?;
    let mut errors = ValidationErrors::new();
    let name = bounded_text(&req.name, "name", 200, &mut errors);
    check_channel_config(req.channel, &req.settings, &req.secrets, &mut errors);
    check_mail_hosts(&state, req.channel, &req.settings, &mut errors).await;
    errors.into_result(())?;
    check_address_free(&state, caller.account_id(), req.channel, &req.settings, None).await?;
    let sealed = seal_secrets(&state, &req.secrets);
    let mut settings = req.settings;
    derive_push_settings(req.channel, &mut settings, &req.secrets);
    let inbox = state.store.create_inbox(caller.account_id(), req.channel, &name, settings, sealed, &caller.actor).await?;
    state.invalidate_caches();
    Ok((StatusCode::CREATED, Json(view(&state, caller.account_id(), inbox).await?)))
}

#[utoipa::path(get, path = "/inboxes/{id}", tag = "inboxes", params(("id" = InboxId, Path)),
    responses((status = 200, body = InboxView), (status = 404, body = ErrorBody)))]
async fn get_inbox(State(state): State<AppState>, caller: Caller, Path(id): Path<InboxId>) -> ApiResult<Json<InboxView>> {
    Ok(Json(view(&state, caller.account_id(), state.store.inbox(caller.account_id(), id).await?).await?))
}

#[utoipa::path(patch, path = "/inboxes/{id}", tag = "inboxes", params(("id" = InboxId, Path)), request_body = InboxUpdate,
    responses((status = 200, body = InboxView), (status = 404, body = ErrorBody)))]
async fn update_inbox(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<InboxId>,
    Body(req): Body<InboxUpdate>,
) -> ApiResult<Json<InboxView>> {
    caller.require(Permission::Administer)?;
    let mut errors = ValidationErrors::new();
    let name = req.name.as_deref().map(|n| bounded_text(n, "name", 200, &mut errors));
    let current = state.store.inbox(caller.account_id(), id).await?;
    if let Some(secrets) = &req.secrets {
        check_channel_config(current.channel, req.settings.as_ref().unwrap_or(&current.settings), secrets, &mut errors);
    } else if let Some(settings) = &req.settings
        && current.channel == Channel::Voice
    {
        // A new IVR is checked even when the credentials stay as they are.
        check_voice_config(settings, &BTreeMap::new(), &mut errors);
    }
    if let Some(settings) = &req.settings {
        check_mail_hosts(&state, current.channel, settings, &mut errors).await;
    }
    errors.into_result(())?;
    if let Some(settings) = &req.settings {
        check_address_free(&state, caller.account_id(), current.channel, settings, Some(id)).await?;
    }
    let sealed_secrets = req.secrets.as_ref().map(|s| seal_secrets(&state, s));
    let mut settings = req.settings;
    if let Some(secrets) = &req.secrets
        && current.channel == Channel::InApp
    {
        let mut derived = settings.clone().unwrap_or_else(|| current.settings.clone());
        derive_push_settings(current.channel, &mut derived, secrets);
        settings = Some(derived);
    } else if let Some(given) = settings.as_mut()
        && let Some(project) = current.settings.get("fcm_project_id")
    {
        // New settings keep what the stored key file says.
        given.insert("fcm_project_id".into(), project.clone());
    }
    let inbox = state.store.update_inbox(caller.account_id(), id, InboxChanges { name, settings, sealed_secrets }, &caller.actor).await?;
    state.invalidate_caches();
    Ok(Json(view(&state, caller.account_id(), inbox).await?))
}

#[utoipa::path(delete, path = "/inboxes/{id}", tag = "inboxes", params(("id" = InboxId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_inbox(State(state): State<AppState>, caller: Caller, Path(id): Path<InboxId>) -> ApiResult<StatusCode> {
    caller.require(Permission::Administer)?;
    state.store.delete_inbox(caller.account_id(), id, &caller.actor).await?;
    state.invalidate_caches();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundRequest {
    pub sender: Sender,
    #[serde(default)]
    pub text: String,
    /// HTML body; sanitised before it is stored.
    pub html: Option<String>,
    /// The message's id at the provider: a second message with the same id
    /// in this inbox is recognised as a duplicate and stored once.
    pub provider_message_id: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentUpload>,
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sender {
    pub name: Option<String>,
    /// How to reach the sender; at least one. Phone numbers without a
    /// country code are read in the account's default region.
    pub identities: Vec<IdentityInput>,
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityInput {
    pub kind: IdentityKind,
    pub value: String,
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentUpload {
    pub filename: String,
    pub content_type: String,
    /// The file, base64-encoded.
    pub data_base64: String,
}

/// The most identities one request may name (a person has a handful).
pub(crate) const MAX_IDENTITIES: usize = 20;

pub(crate) fn parse_identities(
    raw: &[IdentityInput],
    region: Region,
    field: &str,
    errors: &mut ValidationErrors,
) -> Vec<NormalizedIdentity> {
    if raw.len() > MAX_IDENTITIES {
        // Said, not silently cut: the caller would believe all were kept.
        errors.push(field.to_owned(), format!("must list at most {MAX_IDENTITIES} identities"));
        return Vec::new();
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, identity) in raw.iter().enumerate() {
        match NormalizedIdentity::parse(identity.kind, &identity.value, region) {
            Ok(parsed) if !out.contains(&parsed) => out.push(parsed),
            Ok(_) => {}
            Err(e) => errors.push(format!("{field}[{i}].value"), e.to_string()),
        }
    }
    out
}

pub(crate) fn parse_attachments(state: &AppState, raw: &[AttachmentUpload], errors: &mut ValidationErrors) -> Vec<NewAttachment> {
    let max = state.settings.max_attachment_bytes;
    let mut out = Vec::with_capacity(raw.len());
    for (i, a) in raw.iter().enumerate() {
        match STANDARD.decode(a.data_base64.trim()) {
            Ok(data) if data.len() > max => {
                errors.push(format!("attachments[{i}].data_base64"), format!("is larger than the {max}-byte limit"))
            }
            Ok(data) => out.push(NewAttachment {
                filename: safe_filename(&a.filename),
                content_type: safe_content_type(&a.content_type),
                data,
                content_id: None,
            }),
            Err(_) => errors.push(format!("attachments[{i}].data_base64"), "is not valid base64"),
        }
    }
    out
}

pub(crate) fn parse_body(text: &str, html: Option<&str>, errors: &mut ValidationErrors) -> (String, Option<String>) {
    if text.chars().count() > MAX_TEXT_CHARS {
        errors.push("text", format!("must be at most {MAX_TEXT_CHARS} characters"));
    }
    let html = match html {
        Some(h) if h.len() > MAX_HTML_BYTES => {
            errors.push("html", format!("must be at most {MAX_HTML_BYTES} bytes"));
            None
        }
        Some(h) if !h.trim().is_empty() => Some(threadline_domain::html::sanitize(h)),
        _ => None,
    };
    (text.to_owned(), html)
}

/// Delivers a customer's message through this inbox (the generic API
/// channel). The sender is resolved to a contact by their identities (created
/// if unknown), and the message continues the contact's open conversation
/// whatever channel it was on. Send `Idempotency-Key` to make retries safe:
/// the same key returns the first result, with `Idempotent-Replayed: true`.
#[utoipa::path(post, path = "/inboxes/{id}/messages", tag = "inboxes", params(("id" = InboxId, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters")),
    request_body = InboundRequest,
    responses((status = 201, body = IngestOutcome), (status = 200, description = "duplicate provider_message_id", body = IngestOutcome),
        (status = 403, description = "the token lacks the `integration` scope", body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_inbound_message(
    State(state): State<AppState>,
    IntegrationCaller(caller): IntegrationCaller,
    Path(id): Path<InboxId>,
    headers: HeaderMap,
    Body(req): Body<InboundRequest>,
) -> ApiResult<Response> {
    let account_id = caller.account_id();
    let (inbox, account) = state.inbox_and_account(account_id, id).await?;
    let region = Region::parse(&account.default_region).unwrap_or_default();

    let idempotency = match headers.get("idempotency-key") {
        None => None,
        Some(value) => {
            let key = value.to_str().ok().filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..0x7f).contains(&b)));
            let key = key.ok_or_else(|| ApiError::invalid("Idempotency-Key", "must be 1 to 255 visible ASCII characters"))?;
            let fingerprint = hex::encode(Sha256::digest(serde_json::to_vec(&req).unwrap_or_default()));
            Some(IdempotencyKey { scope: format!("inbox:{id}"), key: key.to_owned(), fingerprint })
        }
    };

    let mut errors = ValidationErrors::new();
    let mut identities = parse_identities(&req.sender.identities, region, "sender.identities", &mut errors);
    if req.sender.identities.is_empty() {
        errors.push("sender.identities", "at least one identity is needed to know who wrote");
    }
    if req.sender.identities.len() > MAX_IDENTITIES {
        errors.push("sender.identities", format!("at most {MAX_IDENTITIES} identities"));
    }
    // The channel's own identity decides who the sender is.
    let own = inbox.channel.identity_kind();
    identities.sort_by_key(|i| Some(i.kind) != own);
    let sender_name = req.sender.name.as_deref().map(|n| bounded_text(n, "sender.name", 200, &mut errors)).filter(|n| !n.is_empty());
    let (text, html) = parse_body(&req.text, req.html.as_deref(), &mut errors);
    let attachments = parse_attachments(&state, &req.attachments, &mut errors);
    if text.trim().is_empty() && html.is_none() && attachments.is_empty() {
        errors.push("text", "a message needs text, html or an attachment");
    }
    let provider_message_id = req.provider_message_id.as_deref().map(|p| bounded_text(p, "provider_message_id", 255, &mut errors));
    errors.into_result(())?;

    let inbound =
        InboundMessage { sender_name, identities, text, html, provider_message_id, attachments, ..InboundMessage::new(id, inbox.channel) };
    let (outcome, replayed) = crate::inbound::receive(&state, &account, &inbox, inbound, idempotency.as_ref()).await?;
    let status = if outcome.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    let mut response = (status, Json(outcome)).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}
