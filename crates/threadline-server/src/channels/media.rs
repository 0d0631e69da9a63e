//! Media in both directions.
//!
//! Inbound: a provider's webhook names media by URL or id; the adapter says
//! how to fetch it and the bytes become the message's attachments, within
//! `max_attachment_bytes`. Media that cannot be stored (too large, gone)
//! does not lose the message: the message keeps a line saying what was
//! refused and why.
//!
//! Outbound: providers fetch a reply's attachments from Threadline by URL.
//! `/media/{account}/{attachment}?expires=…&signature=…` serves one
//! attachment to whoever holds an unexpired link signed with the
//! installation key, and nothing else.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use threadline_channels::{ChannelAdapter, InboxConfig, MediaRef, MediaStep};
use threadline_domain::ids::{AccountId, AttachmentId};
use threadline_domain::message::{safe_content_type, safe_filename};
use threadline_store::NewAttachment;

use super::{CallError, execute};
use crate::api::Path;
use crate::app::AppState;
use crate::error::ApiError;

/// How long a signed media link stays valid: long enough for a provider
/// that retries its download over a day.
const LINK_LIFETIME_SECS: i64 = 7 * 24 * 3600;

/// A signed link to an attachment, for a provider to fetch.
pub fn signed_link(state: &AppState, account_id: AccountId, attachment_id: AttachmentId) -> String {
    let expires = time::OffsetDateTime::now_utc().unix_timestamp() + LINK_LIFETIME_SECS;
    let signature = state.secrets.sign_link(&format!("{account_id}/{attachment_id}/{expires}"));
    format!("{}/media/{account_id}/{attachment_id}?expires={expires}&signature={signature}", state.settings.effective_public_url())
}

#[derive(Deserialize)]
pub struct LinkParams {
    expires: i64,
    signature: String,
}

/// Serves an attachment through a signed link.
pub async fn serve_signed(
    State(state): State<AppState>,
    Path((account_id, attachment_id)): Path<(AccountId, AttachmentId)>,
    Query(link): Query<LinkParams>,
) -> Result<Response, ApiError> {
    let data = format!("{account_id}/{attachment_id}/{}", link.expires);
    if !state.secrets.verify_link(&data, &link.signature) {
        return Err(ApiError::Forbidden("this media link is not valid".into()));
    }
    if link.expires < time::OffsetDateTime::now_utc().unix_timestamp() {
        return Err(ApiError::Forbidden("this media link has expired".into()));
    }
    let (meta, bytes) = state.store.attachment(account_id, attachment_id).await?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&meta.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    Ok(response)
}

/// Fetches the media of an inbound message. Returns the attachments stored
/// and, for each one that was not, a line for the message saying why.
pub async fn fetch_all(
    state: &AppState,
    adapter: &dyn ChannelAdapter,
    inbox: &InboxConfig<'_>,
    media: &[MediaRef],
) -> (Vec<NewAttachment>, Vec<String>) {
    let max = state.settings.max_attachment_bytes;
    let mut stored = Vec::new();
    let mut refused = Vec::new();
    for (i, item) in media.iter().enumerate() {
        let kind = item.content_type.as_deref().unwrap_or("file");
        match fetch_one(state, adapter, inbox, item, max).await {
            Ok((bytes, served_type)) => {
                let content_type = safe_content_type(item.content_type.as_deref().or(served_type.as_deref()).unwrap_or(""));
                let filename = safe_filename(item.filename.as_deref().unwrap_or(&default_name(i, &content_type)));
                stored.push(NewAttachment { filename, content_type, data: bytes, content_id: None });
            }
            Err(FetchError::TooLarge) => refused.push(format!("[attachment refused: the {kind} is larger than the {max}-byte limit]")),
            Err(FetchError::Failed(reason)) => {
                tracing::warn!(%reason, "inbound media could not be fetched");
                refused.push(format!("[attachment not stored: the {kind} could not be downloaded: {reason}]"))
            }
        }
    }
    (stored, refused)
}

enum FetchError {
    TooLarge,
    Failed(String),
}

impl From<CallError> for FetchError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::TooLarge(_) => FetchError::TooLarge,
            CallError::Network(reason) | CallError::Unreached(reason) => FetchError::Failed(reason),
        }
    }
}

/// Refuses media URLs outside the providers' media hosts.
fn check_host(state: &AppState, request: &threadline_channels::HttpRequest) -> Result<(), FetchError> {
    match reqwest::Url::parse(&request.url) {
        Ok(url) if super::media_host_allowed(&url, &state.providers.endpoints) => Ok(()),
        Ok(url) => Err(FetchError::Failed(format!("{} is not a media host of the provider", url.host_str().unwrap_or("the address")))),
        Err(_) => Err(FetchError::Failed("the media address is not a URL".into())),
    }
}

async fn fetch_one(
    state: &AppState,
    adapter: &dyn ChannelAdapter,
    inbox: &InboxConfig<'_>,
    media: &MediaRef,
    max: usize,
) -> Result<(Vec<u8>, Option<String>), FetchError> {
    let client = &state.providers.media_client;
    let first = adapter.media_request(media, inbox).map_err(|e| FetchError::Failed(e.to_string()))?;
    check_host(state, &first)?;
    // A lookup answer is small; the file itself may be up to `max`.
    let (status, body) = execute(&state.egress, client, &first, max.max(64 * 1024)).await?;
    if !(200..300).contains(&status) {
        return Err(FetchError::Failed(format!("the provider answered HTTP {status}")));
    }
    match adapter.media_step(&body, inbox).map_err(|e| FetchError::Failed(e.to_string()))? {
        MediaStep::Done if body.len() > max => Err(FetchError::TooLarge),
        MediaStep::Done => Ok((body, None)),
        MediaStep::Fetch(next) => {
            check_host(state, &next)?;
            let (status, body) = execute(&state.egress, client, &next, max).await?;
            if !(200..300).contains(&status) {
                return Err(FetchError::Failed(format!("the provider answered HTTP {status}")));
            }
            Ok((body, None))
        }
    }
}

fn default_name(i: usize, content_type: &str) -> String {
    let extension = match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "application/pdf" => "pdf",
        _ => "bin",
    };
    format!("media-{}.{extension}", i + 1)
}
