//! Retention policies: how long the account keeps messages, attachments,
//! events and audit entries — per channel where it makes sense — with a
//! dry run that counts what a policy would remove now.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use threadline_domain::retention::{RetentionPolicy, validate_set};
use threadline_domain::role::Permission;
use threadline_store::RetentionCount;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::Body;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_policies, put_policies)).routes(routes!(preview)).routes(routes!(run_now))
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicies {
    /// At most one per data class and channel; a channel's own policy
    /// decides for that channel instead of the all-channels one.
    pub policies: Vec<RetentionPolicy>,
}

/// The account's retention policies (administrators).
#[utoipa::path(get, path = "/retention", tag = "privacy", responses((status = 200, body = RetentionPolicies)))]
async fn get_policies(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<RetentionPolicies>> {
    caller.require(Permission::Administer)?;
    Ok(Json(RetentionPolicies { policies: state.store.retention_policies(caller.account_id()).await? }))
}

/// Replaces the account's retention policies (administrators; audited).
/// Data older than a policy's days is purged by the retention worker.
#[utoipa::path(put, path = "/retention", tag = "privacy", request_body = RetentionPolicies,
    responses((status = 200, body = RetentionPolicies), (status = 422, body = ErrorBody)))]
async fn put_policies(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<RetentionPolicies>,
) -> ApiResult<Json<RetentionPolicies>> {
    caller.require(Permission::Administer)?;
    let policies = validate_set(req.policies)?;
    state.store.set_retention_policies(caller.account_id(), &policies, &caller.actor).await?;
    Ok(Json(RetentionPolicies { policies }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RetentionPreview {
    /// What each policy would remove if applied now (contacts on legal
    /// hold excluded).
    pub counts: Vec<RetentionCount>,
}

/// The dry run: what the given policies (or, with `{}`, the account's
/// current ones) would remove now, without removing anything.
#[utoipa::path(post, path = "/retention/preview", tag = "privacy", request_body = PreviewRequest,
    responses((status = 200, body = RetentionPreview), (status = 422, body = ErrorBody)))]
async fn preview(State(state): State<AppState>, caller: Caller, Body(req): Body<PreviewRequest>) -> ApiResult<Json<RetentionPreview>> {
    caller.require(Permission::Administer)?;
    let policies = match req.policies {
        Some(policies) => validate_set(policies)?,
        None => state.store.retention_policies(caller.account_id()).await?,
    };
    Ok(Json(RetentionPreview { counts: state.store.retention_preview(caller.account_id(), &policies).await? }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// Policies to try; absent: the account's.
    #[serde(default)]
    pub policies: Option<Vec<RetentionPolicy>>,
}

/// Applies the policies now instead of at the worker's next interval
/// (administrators); returns what each removed.
#[utoipa::path(post, path = "/retention/run", tag = "privacy", responses((status = 200, body = RetentionPreview)))]
async fn run_now(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<RetentionPreview>> {
    caller.require(Permission::Administer)?;
    let counts = crate::retention::run_account(&state, caller.account_id()).await?;
    Ok(Json(RetentionPreview { counts }))
}
