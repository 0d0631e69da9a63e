//! Providers' webhooks: `GET|POST /hooks/{inbox_id}`.
//!
//! The order never changes: find the inbox → check the signature (403 and
//! nothing stored when it is missing or wrong) → parse (400 when malformed)
//! → store every message and delivery report → answer 200 with what the
//! provider expects. A message delivered twice (providers retry on anything
//! but 200) is recognised by its provider id and stored once. Unknown event
//! types are acknowledged and ignored.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use threadline_channels::{ChannelAdapter, IncomingMessage, WebhookError, WebhookEvent, WebhookRequest, adapter_for};
use threadline_domain::identity::{IdentityKind, NormalizedIdentity, Region};
use threadline_domain::ids::InboxId;
use threadline_store::{Account, ConsentChange, InboundMessage, Inbox};

use super::{inbox_config, media, open_secrets, webhook_url};
use crate::app::AppState;
use crate::error::ApiError;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/hooks/{inbox_id}", axum::routing::get(challenge).post(receive))
        .route("/media/{account_id}/{attachment_id}", axum::routing::get(media::serve_signed))
}

/// The inbox a webhook names, its account and its adapter.
async fn resolve(state: &AppState, raw_id: &str) -> Result<(Inbox, Account, &'static dyn ChannelAdapter), ApiError> {
    let inbox_id: InboxId = raw_id.parse().map_err(|_| ApiError::NotFound)?;
    let (inbox, account) = state.inbox_by_id(inbox_id).await?;
    let adapter = adapter_for(inbox.channel).filter(|_| super::provider_connected(&inbox)).ok_or(ApiError::NotFound)?;
    Ok((inbox, account, adapter))
}

fn refuse(inbox: &Inbox, error: WebhookError) -> ApiError {
    match error {
        WebhookError::Signature(reason) => {
            tracing::warn!(inbox = %inbox.id, %reason, "webhook refused: bad signature");
            ApiError::Forbidden(format!("webhook signature check failed: {reason}"))
        }
        WebhookError::Malformed(reason) => {
            tracing::warn!(inbox = %inbox.id, %reason, "webhook refused: malformed payload");
            ApiError::BadRequest(format!("malformed webhook payload: {reason}"))
        }
        WebhookError::Config(e) => {
            tracing::error!(inbox = %inbox.id, error = %e, "webhook cannot be checked: the inbox is not fully configured");
            ApiError::Forbidden(format!("this inbox cannot verify webhooks: {e}"))
        }
    }
}

/// A provider's subscription check (Meta's `hub.challenge`).
async fn challenge(
    State(state): State<AppState>,
    axum::extract::Path(raw_id): axum::extract::Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (inbox, _, adapter) = resolve(&state, &raw_id).await?;
    let secrets = open_secrets(&state, &inbox).map_err(ApiError::Internal)?;
    let url = webhook_url(&state.settings, inbox.id);
    let config = inbox_config(&state, &inbox, &secrets, &url);
    match adapter.challenge(query.as_deref().unwrap_or(""), &config) {
        None => Err(ApiError::BadRequest("this channel has no subscription challenge; providers POST here".into())),
        Some(Err(e)) => Err(refuse(&inbox, e)),
        Some(Ok(answer)) => Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], answer).into_response()),
    }
}

async fn receive(
    State(state): State<AppState>,
    axum::extract::Path(raw_id): axum::extract::Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (inbox, account, adapter) = resolve(&state, &raw_id).await?;
    let secrets = open_secrets(&state, &inbox).map_err(ApiError::Internal)?;
    let url = webhook_url(&state.settings, inbox.id);
    let config = inbox_config(&state, &inbox, &secrets, &url);
    let request = WebhookRequest { headers: &headers, query: query.as_deref().unwrap_or(""), body: &body };
    adapter.verify(&request, &config).map_err(|e| refuse(&inbox, e))?;
    let events = adapter.parse(&request, &config).map_err(|e| refuse(&inbox, e))?;

    let region = Region::parse(&account.default_region).unwrap_or_default();
    for event in events {
        match event {
            WebhookEvent::Message(message) => {
                // One unusable event does not cost the others: it is logged
                // and skipped, and the webhook is still acknowledged.
                let consent = message.consent;
                let Some(inbound) = to_inbound(&state, adapter, &inbox, &config, region, message).await else { continue };
                let (provider_id, keyword) = (inbound.provider_message_id.clone(), inbound.text.trim().to_owned());
                let (outcome, _) = crate::inbound::receive(&state, &account, &inbox, inbound, None).await?;
                if outcome.duplicate {
                    tracing::debug!(inbox = %inbox.id, ?provider_id, "webhook redelivered a stored message");
                }
                if let (Some(granted), false) = (consent, outcome.duplicate) {
                    // STOP withdraws consent on this channel for every purpose
                    // we write for; START gives it back.
                    let source = Some(format!("{} keyword: {keyword}", inbox.channel));
                    let changes = ["service", "marketing"]
                        .into_iter()
                        .map(|purpose| ConsentChange { channel: inbox.channel, purpose: purpose.into(), granted, source: source.clone() })
                        .collect();
                    state.store.set_consents(account.id, outcome.contact_id, changes, "sms keyword").await?;
                }
            }
            WebhookEvent::Status(mut report) => {
                threadline_domain::validation::strip_nul(&mut report.provider_message_id);
                if let Some(error) = &mut report.error {
                    threadline_domain::validation::strip_nul(error);
                }
                let message = state.store.apply_delivery_report(inbox.id, &report.provider_message_id, report.status, report.error).await?;
                if message.is_none() {
                    tracing::info!(inbox = %inbox.id, provider_id = %report.provider_message_id, "delivery report for a message we do not know");
                }
            }
            WebhookEvent::Ignored(reason) => tracing::debug!(inbox = %inbox.id, %reason, "webhook event ignored"),
            WebhookEvent::Skipped(reason) => {
                tracing::warn!(inbox = %inbox.id, reason = %crate::error::bounded(&reason, 500), "webhook event unreadable; skipped, the rest kept")
            }
        }
    }
    let ack = adapter.acknowledgement();
    let mut response = (StatusCode::OK, ack.body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ack.content_type));
    Ok(response)
}

/// A parsed provider message as Threadline's inbound message: identities
/// normalised in the account's region, media fetched.
async fn to_inbound(
    state: &AppState,
    adapter: &dyn ChannelAdapter,
    inbox: &Inbox,
    config: &threadline_channels::InboxConfig<'_>,
    region: Region,
    message: IncomingMessage,
) -> Option<InboundMessage> {
    let mut message = message;
    for text in [&mut message.provider_message_id, &mut message.sender, &mut message.text] {
        threadline_domain::validation::strip_nul(text);
    }
    if let Some(name) = &mut message.sender_name {
        threadline_domain::validation::strip_nul(name);
    }
    let skip = |reason: String| {
        tracing::warn!(inbox = %inbox.id, provider_id = %message.provider_message_id, %reason, "webhook message skipped");
        None
    };
    if message.provider_message_id.is_empty() || message.provider_message_id.len() > 255 {
        return skip("no usable provider message id".into());
    }
    let kind = inbox.channel.identity_kind()?;
    let sender = match NormalizedIdentity::parse(kind, &message.sender, region) {
        Ok(sender) => sender,
        // A sender the channel's rules do not recognise (an SMS short code,
        // a number from a range newer than the phone-number rules) is still
        // someone: kept under an external id naming the channel.
        Err(e) if !message.sender.trim().is_empty() => {
            tracing::info!(sender = %message.sender, error = %e, "sender kept as an external id");
            match NormalizedIdentity::parse(IdentityKind::ExternalId, &format!("{}:{}", inbox.channel, message.sender.trim()), region) {
                Ok(fallback) => fallback,
                Err(e) => return skip(format!("sender `{}`: {e}", message.sender)),
            }
        }
        Err(_) => return skip("the event names no sender".into()),
    };
    let mut identities = vec![sender];
    for (kind, value) in &message.other_identities {
        match NormalizedIdentity::parse(*kind, value, region) {
            Ok(identity) if !identities.contains(&identity) => identities.push(identity),
            Ok(_) => {}
            Err(e) => tracing::debug!(%e, "an extra identity from a webhook was not usable"),
        }
    }
    // A redelivered message is already stored with its media: do not fetch
    // it again just to find that out (the ingest recognises the duplicate).
    let known =
        !message.media.is_empty() && state.store.provider_message_known(inbox.id, &message.provider_message_id).await.unwrap_or(false);
    let (attachments, refused) =
        if known { (Vec::new(), Vec::new()) } else { media::fetch_all(state, adapter, config, &message.media).await };
    let mut text = message.text;
    for line in refused {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&line);
    }
    if text.trim().is_empty() && attachments.is_empty() {
        text = "[empty message]".into();
    }
    Some(InboundMessage {
        inbox_id: inbox.id,
        channel: inbox.channel,
        sender_name: message.sender_name.map(|n| n.chars().take(200).collect()),
        sender_language: message.sender_language,
        identities,
        text: text.chars().take(threadline_domain::message::MAX_TEXT_CHARS).collect(),
        html: None,
        provider_message_id: Some(message.provider_message_id),
        attachments,
        ..InboundMessage::new(inbox.id, inbox.channel)
    })
}
