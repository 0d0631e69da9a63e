//! A person's data through the API: export (a zip of JSON and files),
//! erasure, deletion of a contact or a conversation, and legal hold.

use axum::Json;
use axum::body::Body as ResponseBody;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use threadline_domain::ids::{ContactId, ConversationId};
use threadline_domain::role::Permission;
use threadline_store::PrivacyReport;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export_contact))
        .routes(routes!(erase_contact))
        .routes(routes!(delete_contact))
        .routes(routes!(delete_conversation))
        .routes(routes!(legal_hold))
}

/// Everything stored about a customer, as a zip: `contact.json`,
/// `conversations.json`, `messages.json`, `interactions.json`,
/// `survey_answers.json`, `audit.json` and `attachments/` (supervisors and
/// administrators; recorded in the audit log).
#[utoipa::path(get, path = "/contacts/{id}/export", tag = "privacy", params(("id" = ContactId, Path)),
    responses((status = 200, description = "a zip archive", content_type = "application/zip"), (status = 404, body = ErrorBody)))]
async fn export_contact(State(state): State<AppState>, caller: Caller, Path(id): Path<ContactId>) -> ApiResult<Response> {
    caller.require(Permission::SuperviseContacts)?;
    let path = crate::privacy::export(&state, caller.account_id(), id, &caller.actor).await?;
    let file = tokio::fs::File::open(&path).await.map_err(|e| ApiError::Internal(e.into()))?;
    let length = file.metadata().await.map_err(|e| ApiError::Internal(e.into()))?.len();
    let stream = futures_util::stream::unfold((file, RemoveOnDrop(path)), |(mut file, guard)| async move {
        use tokio::io::AsyncReadExt;
        let mut chunk = vec![0u8; 64 * 1024];
        match file.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(chunk)), (file, guard)))
            }
            Err(e) => Some((Err(e), (file, guard))),
        }
    });
    let mut response = ResponseBody::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"contact-{id}.zip\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Deletes the export file once it has been sent (or the client left).
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Erases a customer (administrators): every trace of the person — name,
/// identities, attributes, consents, message text and files, interaction
/// data, event payloads, queued sends — is removed; what happened stays
/// (conversations, message times and channels), so reports keep their
/// counts; the audit log records who erased whom and when. Refused with 409
/// while the customer is on legal hold.
#[utoipa::path(post, path = "/contacts/{id}/erase", tag = "privacy", params(("id" = ContactId, Path)),
    responses((status = 200, body = PrivacyReport), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn erase_contact(State(state): State<AppState>, caller: Caller, Path(id): Path<ContactId>) -> ApiResult<Json<PrivacyReport>> {
    caller.require(Permission::Administer)?;
    Ok(Json(crate::privacy::erase(&state, caller.account_id(), id, &caller.actor).await?))
}

/// Deletes a customer and everything of theirs — conversations, messages,
/// files — rows and all (administrators). Unlike erasure, reports lose
/// what is deleted.
#[utoipa::path(delete, path = "/contacts/{id}", tag = "privacy", params(("id" = ContactId, Path)),
    responses((status = 200, body = PrivacyReport), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_contact(State(state): State<AppState>, caller: Caller, Path(id): Path<ContactId>) -> ApiResult<Json<PrivacyReport>> {
    caller.require(Permission::Administer)?;
    Ok(Json(crate::privacy::delete_contact(&state, caller.account_id(), id, &caller.actor).await?))
}

/// Deletes one conversation with its messages and files (administrators).
#[utoipa::path(delete, path = "/conversations/{id}", tag = "privacy", params(("id" = ConversationId, Path)),
    responses((status = 200, body = PrivacyReport), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_conversation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ConversationId>,
) -> ApiResult<Json<PrivacyReport>> {
    caller.require(Permission::Administer)?;
    let report = state.store.delete_conversation(caller.account_id(), id, &caller.actor).await?;
    state.invalidate_caches();
    Ok(Json(report))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalHold {
    /// On hold: exempt from retention, and neither erased nor deleted.
    pub hold: bool,
    /// Why (a case reference); kept with the hold, not in the audit log.
    pub reason: Option<String>,
}

/// Puts a customer on legal hold, or lifts it (administrators; audited).
#[utoipa::path(put, path = "/contacts/{id}/legal-hold", tag = "privacy", params(("id" = ContactId, Path)), request_body = LegalHold,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn legal_hold(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ContactId>,
    Body(req): Body<LegalHold>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::Administer)?;
    if req.reason.as_deref().is_some_and(|r| r.chars().count() > 500) {
        return Err(ApiError::invalid("reason", "must be at most 500 characters"));
    }
    state.store.set_legal_hold(caller.account_id(), id, req.hold, req.reason.as_deref().map(str::trim), &caller.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}
