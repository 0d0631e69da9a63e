//! Accounts (tenants): creating one (operator only) and the caller's
//! account settings.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use threadline_domain::conversation::ContinuityWindow;
use threadline_domain::identity::{IdentityKind, NormalizedIdentity, Region};
use threadline_domain::role::{Permission, Role};
use threadline_domain::validation::{ValidationErrors, bounded_text};
use threadline_store::{Account, AccountChanges, User};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::Body;
use crate::app::AppState;
use crate::auth::{Caller, Operator, check_password_strength, hash_token, new_token};
use crate::error::{ApiError, ApiResult, ErrorBody};
use threadline_domain::role::Scope;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_account)).routes(routes!(get_account, update_account))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountRequest {
    pub name: String,
    /// ISO 3166 region for phone numbers without a country code (default `IT`).
    pub default_region: Option<String>,
    pub admin: NewAdmin,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdmin {
    pub email: String,
    pub name: String,
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewAccountResponse {
    pub account: Account,
    pub admin: User,
    /// An API token for the admin. Shown once: it is stored hashed.
    pub token: String,
}

/// Creates an account with its first admin and an API token. Requires the
/// operator's `admin_token` (configuration) as the bearer token.
#[utoipa::path(post, path = "/accounts", tag = "accounts", request_body = NewAccountRequest,
    responses((status = 201, body = NewAccountResponse), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_account(
    State(state): State<AppState>,
    _operator: Operator,
    Body(req): Body<NewAccountRequest>,
) -> ApiResult<(StatusCode, Json<NewAccountResponse>)> {
    let mut errors = ValidationErrors::new();
    let name = bounded_text(&req.name, "name", 200, &mut errors);
    let region = req.default_region.as_deref().unwrap_or("IT");
    let region = match Region::parse(region) {
        Some(r) => r.code(),
        None => {
            errors.push("default_region", "must be an ISO 3166 two-letter region such as IT or GB");
            String::new()
        }
    };
    let admin_name = bounded_text(&req.admin.name, "admin.name", 200, &mut errors);
    let email = match NormalizedIdentity::parse(IdentityKind::Email, &req.admin.email, Region::default()) {
        Ok(e) => e.value,
        Err(e) => {
            errors.push("admin.email", e.to_string());
            String::new()
        }
    };
    if let Err(ApiError::Invalid(e)) = check_password_strength(&req.admin.password) {
        errors.push("admin.password", e.0[0].message.clone());
    }
    errors.into_result(())?;
    let hash = state.passwords.hash(&req.admin.password).await?;
    let account = state.store.create_account(&name, &region).await?;
    let admin = state.store.create_user(account.id, &email, &admin_name, Role::Admin, Some(hash), "operator").await?;
    let token = new_token("tl_");
    state
        .store
        .create_api_token(&admin, "initial admin token", &hash_token(&token), &token[..10], &[Scope::Api, Scope::Integration], "operator")
        .await?;
    Ok((StatusCode::CREATED, Json(NewAccountResponse { account, admin, token })))
}

/// The caller's account.
#[utoipa::path(get, path = "/account", tag = "accounts", responses((status = 200, body = Account)))]
async fn get_account(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Account>> {
    Ok(Json(state.store.account(caller.account_id()).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    pub name: Option<String>,
    pub default_region: Option<String>,
    /// Seconds of customer silence after which a new message opens a new
    /// conversation (60 s to 365 days; default 7 days).
    pub continuity_window_secs: Option<i64>,
    /// Resolve pending conversations (waiting on the customer) after this
    /// many days without a message (1–365; 0 turns it off, the default).
    pub auto_resolve_pending_days: Option<i64>,
}

/// Changes the account's settings (admins).
#[utoipa::path(patch, path = "/account", tag = "accounts", request_body = AccountUpdate,
    responses((status = 200, body = Account), (status = 422, body = ErrorBody)))]
async fn update_account(State(state): State<AppState>, caller: Caller, Body(req): Body<AccountUpdate>) -> ApiResult<Json<Account>> {
    caller.require(Permission::Administer)?;
    let mut errors = ValidationErrors::new();
    let name = req.name.as_deref().map(|n| bounded_text(n, "name", 200, &mut errors));
    let default_region = req.default_region.as_deref().map(|r| match Region::parse(r) {
        Some(r) => r.code(),
        None => {
            errors.push("default_region", "must be an ISO 3166 two-letter region such as IT or GB");
            String::new()
        }
    });
    if let Some(secs) = req.continuity_window_secs
        && ContinuityWindow::from_secs(secs).is_none()
    {
        errors.push("continuity_window_secs", format!("must be between 60 and {}", ContinuityWindow::MAX_SECS));
    }
    if req.auto_resolve_pending_days.is_some_and(|d| !(0..=365).contains(&d)) {
        errors.push("auto_resolve_pending_days", "is between 1 and 365 days, or 0 for never");
    }
    errors.into_result(())?;
    let changes = AccountChanges {
        name,
        default_region,
        continuity_window_secs: req.continuity_window_secs,
        auto_resolve_pending_days: req.auto_resolve_pending_days,
    };
    let account = state.store.update_account(caller.account_id(), changes, &caller.actor).await?;
    state.invalidate_caches();
    Ok(Json(account))
}
