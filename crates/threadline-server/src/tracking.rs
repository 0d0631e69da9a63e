//! The tracking collector: `POST /v1/track`, `/v1/identify`, `/v1/page`,
//! `/v1/screen`, `/v1/group`, `/v1/alias` and `/v1/batch`, in the shapes of
//! Segment's HTTP Tracking API, so a site or app already sending Segment
//! calls points its library at Threadline's address and keeps working.
//!
//! - Identity: `userId` and `anonymousId` decide whose a call is; the
//!   e-mail address and phone number in identify traits decide too only for
//!   a `server` source (its key is secret), otherwise they enrich.
//! - Authentication: the source's write key as the Basic user name (empty
//!   password), or as `writeKey` in the body, as Segment accepts both.
//! - `/v1/import` takes a batch of past calls (a migration's history):
//!   stored like any other, but journeys do not act on them.
//! - Limits: 32 KB per call, 500 KB per batch (400 beyond, as Segment).
//! - Answers: `200 {"success": true}`. A single call that is not valid
//!   answers 400 with the usual error body naming the field; in a batch,
//!   valid calls are stored and the invalid ones listed under `rejected`
//!   (by index) — the batch is not refused, or the sender's library would
//!   retry it forever.
//! - Browsers: CORS is open (a write key is no secret in a page), and a
//!   body sent as `text/plain` (which avoids the preflight) is read as JSON.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;
use serde_json::Value;
use threadline_domain::identity::Region;
use threadline_domain::tracking::{CallKind, MAX_BATCH_BYTES, MAX_CALL_BYTES, RequestError, parse_batch, parse_call};
use threadline_domain::validation::{FieldError, ValidationErrors};
use threadline_store::SourceContext;

use crate::app::AppState;
use crate::auth::hash_token;
use crate::error::ApiError;

pub fn router() -> axum::Router<AppState> {
    let call = |kind: CallKind| {
        axum::routing::post(move |state: State<AppState>, headers: HeaderMap, body: axum::body::Bytes| single(state, headers, body, kind))
            .options(preflight)
    };
    axum::Router::new()
        .route("/v1/track", call(CallKind::Track))
        .route("/v1/identify", call(CallKind::Identify))
        .route("/v1/page", call(CallKind::Page))
        .route("/v1/screen", call(CallKind::Screen))
        .route("/v1/group", call(CallKind::Group))
        .route("/v1/alias", call(CallKind::Alias))
        .route("/v1/batch", axum::routing::post(batch).options(preflight))
        .route("/v1/import", axum::routing::post(import).options(preflight))
        .layer(axum::middleware::map_response(cors))
}

#[derive(Debug, Serialize)]
struct Accepted {
    success: bool,
    #[serde(skip_serializing_if = "is_zero")]
    duplicates: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rejected: Vec<Rejected>,
}

#[derive(Debug, Serialize)]
struct Rejected {
    index: usize,
    message: String,
    fields: Vec<FieldError>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn cors(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST, OPTIONS"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Authorization, Content-Type"));
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    response
}

/// Reads the body as JSON (whatever its declared type: browsers send
/// `text/plain` to avoid a preflight), within `limit` bytes.
fn read_json(body: &[u8], limit: usize) -> Result<Value, ApiError> {
    if body.len() > limit {
        return Err(ApiError::BadRequest(RequestError::TooLarge(limit).to_string()));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))?;
    if let Some(field) = threadline_domain::validation::nul_in_json(&value) {
        return Err(ApiError::invalid(&field, threadline_domain::validation::NUL_MESSAGE));
    }
    Ok(value)
}

/// The write key: Basic user name, or `writeKey` in the body.
fn write_key(headers: &HeaderMap, body: &Value) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))
        && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim())
        && let Ok(text) = String::from_utf8(decoded)
    {
        // "key:" — an absent colon is accepted too, as Segment does.
        let key = text.split_once(':').map(|(k, _)| k).unwrap_or(&text).trim().to_owned();
        if !key.is_empty() {
            return Some(key);
        }
    }
    body.get("writeKey").and_then(Value::as_str).map(|k| k.trim().to_owned()).filter(|k| !k.is_empty())
}

/// The source a write key belongs to (cached briefly); 401 for none.
async fn source(state: &AppState, headers: &HeaderMap, body: &Value) -> Result<SourceContext, ApiError> {
    let key = write_key(headers, body).ok_or(ApiError::Unauthorized)?;
    let hash = hash_token(&key);
    if let Some(hit) = state.tracking_keys.get(&hash) {
        return Ok(hit);
    }
    let (account_id, source_id, trusted) = state.store.tracking_source_by_key(&hash).await?.ok_or(ApiError::Unauthorized)?;
    let account = state.store.account(account_id).await?;
    let found = SourceContext { account_id, source_id, region: Region::parse(&account.default_region).unwrap_or_default(), trusted };
    state.tracking_keys.insert(hash, found);
    // Note the use at most once per cache period, off the request's path.
    let store = state.store.clone();
    tokio::spawn(async move {
        if let Err(e) = store.touch_tracking_source(source_id).await {
            tracing::debug!(error = %e, "could not note a tracking source's use");
        }
    });
    Ok(found)
}

async fn single(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes, kind: CallKind) -> Response {
    let result = async {
        let value = read_json(&body, MAX_CALL_BYTES)?;
        let source = source(&state, &headers, &value).await?;
        let received_at = state.clock.now();
        let call = parse_call(value, Some(kind), None, received_at).map_err(ApiError::Invalid)?;
        let recorded = state.store.record_calls(&source, &[call], received_at, engagement_active(&state, source.account_id).await?).await?;
        Ok::<_, ApiError>(Accepted { success: true, duplicates: recorded.duplicates, rejected: Vec::new() })
    }
    .await;
    respond(result)
}

async fn batch(state: State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    calls(state, headers, body, true).await
}

/// `/v1/import`: a batch of past calls, stored without journeys acting on them.
async fn import(state: State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    calls(state, headers, body, false).await
}

async fn calls(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes, live: bool) -> Response {
    let result = async {
        let value = read_json(&body, MAX_BATCH_BYTES)?;
        let source = source(&state, &headers, &value).await?;
        let received_at = state.clock.now();
        let parsed = parse_batch(value, received_at).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let mut calls = Vec::with_capacity(parsed.len());
        let mut rejected = Vec::new();
        for (index, item) in parsed.into_iter().enumerate() {
            match item {
                Ok(call) => calls.push(call),
                Err(ValidationErrors(fields)) => {
                    let message = fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ");
                    rejected.push(Rejected { index, message, fields });
                }
            }
        }
        if !rejected.is_empty() {
            tracing::info!(account = %source.account_id, rejected = rejected.len(), accepted = calls.len(), "tracking batch had invalid calls");
        }
        let recorded = state.store.record_calls(&source, &calls, received_at, live && engagement_active(&state, source.account_id).await?).await?;
        Ok::<_, ApiError>(Accepted { success: true, duplicates: recorded.duplicates, rejected })
    }
    .await;
    respond(result)
}

/// Whether journeys or segments need to see this account's events (a
/// journey live or paused, or a segment), cached briefly; a journey's status
/// change and a new segment clear the cache.
pub async fn engagement_active(state: &AppState, account_id: threadline_domain::ids::AccountId) -> Result<bool, ApiError> {
    if let Some(hit) = state.engagement_active.get(&account_id) {
        return Ok(hit);
    }
    let active = state.store.engagement_active(account_id).await?;
    state.engagement_active.insert(account_id, active);
    Ok(active)
}

fn respond(result: Result<Accepted, ApiError>) -> Response {
    match result {
        Ok(accepted) => (StatusCode::OK, Json(accepted)).into_response(),
        // Segment answers 400 for what it cannot take; so do we (with
        // the field named), except for authentication and overload.
        Err(ApiError::Invalid(errors)) => {
            let mut response = ApiError::Invalid(errors).into_response();
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
        Err(e) => e.into_response(),
    }
}
