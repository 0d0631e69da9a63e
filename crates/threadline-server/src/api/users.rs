//! Users of the account and their roles (admins manage them).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use threadline_domain::identity::{IdentityKind, NormalizedIdentity, Region};
use threadline_domain::ids::UserId;
use threadline_domain::role::{Permission, Role};
use threadline_domain::validation::{ValidationErrors, bounded_text};
use threadline_store::{User, UserChanges};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path};
use crate::app::AppState;
use crate::auth::{Caller, check_password_strength};
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(set_presence))
        .routes(routes!(set_language))
        .routes(routes!(set_phone))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LanguageUpdate {
    /// `en` or `it`; null to follow the browser's preference.
    pub language: Option<String>,
}

/// Sets the caller's workspace language.
#[utoipa::path(put, path = "/me/language", tag = "users", request_body = LanguageUpdate,
    responses((status = 200, body = User), (status = 422, body = ErrorBody)))]
async fn set_language(State(state): State<AppState>, caller: Caller, Body(req): Body<LanguageUpdate>) -> ApiResult<Json<User>> {
    let language = req.language.as_deref().map(str::trim).filter(|l| !l.is_empty());
    if language.is_some_and(|l| !["en", "it"].contains(&l)) {
        return Err(ApiError::invalid("language", "must be en, it or null"));
    }
    let user = state.store.set_user_language(caller.account_id(), caller.user.id, language).await?;
    // API tokens' cached users see the change at once.
    state.invalidate_caches();
    Ok(Json(user))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneUpdate {
    /// The number calls ring (read in the account's region when written
    /// without a country code), or a `sip:` address; null to clear it.
    pub phone: Option<String>,
}

/// Sets the number the caller answers click-to-call calls on.
#[utoipa::path(put, path = "/me/phone", tag = "users", request_body = PhoneUpdate,
    responses((status = 200, body = User), (status = 422, body = ErrorBody)))]
async fn set_phone(State(state): State<AppState>, caller: Caller, Body(req): Body<PhoneUpdate>) -> ApiResult<Json<User>> {
    let phone = match req.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => None,
        Some(sip) if sip.starts_with("sip:") => {
            if sip.len() > 200 || sip.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>') || !sip.contains('@') {
                return Err(ApiError::invalid("phone", "is not a SIP address (sip:user@host)"));
            }
            Some(sip.to_owned())
        }
        Some(number) => {
            let account = state.store.account(caller.account_id()).await?;
            let region = Region::parse(&account.default_region).unwrap_or_default();
            let parsed =
                NormalizedIdentity::parse(IdentityKind::Phone, number, region).map_err(|e| ApiError::invalid("phone", e.to_string()))?;
            Some(parsed.value)
        }
    };
    let user = state.store.set_user_phone(caller.account_id(), caller.user.id, phone.as_deref()).await?;
    state.invalidate_caches();
    Ok(Json(user))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceUpdate {
    /// `online`, `away` or `offline`.
    pub status: String,
}

/// Sets the caller's availability. `online` lasts ten minutes unless
/// refreshed (the workspace refreshes it while open); the web chat asks
/// visitors for an email address when no agent is online.
#[utoipa::path(put, path = "/me/presence", tag = "users", request_body = PresenceUpdate,
    responses((status = 204), (status = 422, body = ErrorBody)))]
async fn set_presence(State(state): State<AppState>, caller: Caller, Body(req): Body<PresenceUpdate>) -> ApiResult<StatusCode> {
    if !["online", "away", "offline"].contains(&req.status.as_str()) {
        return Err(ApiError::invalid("status", "must be online, away or offline"));
    }
    state.store.set_presence(caller.account_id(), caller.user.id, &req.status).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Optional: a user without a password signs in only with API tokens.
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub password: Option<String>,
    /// Required when users change their own password.
    pub current_password: Option<String>,
}

pub(crate) async fn password_hash(state: &AppState, password: Option<String>) -> ApiResult<Option<String>> {
    match password {
        None => Ok(None),
        Some(password) => {
            check_password_strength(&password)?;
            Ok(Some(state.passwords.hash(&password).await?))
        }
    }
}

/// Users of the account.
#[utoipa::path(get, path = "/users", tag = "users", responses((status = 200, body = Vec<User>)))]
async fn list_users(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(state.store.users(caller.account_id()).await?))
}

/// Adds a user (admins).
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = User), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_user(State(state): State<AppState>, caller: Caller, Body(req): Body<NewUser>) -> ApiResult<(StatusCode, Json<User>)> {
    caller.require(Permission::Administer)?;
    let mut errors = ValidationErrors::new();
    let name = bounded_text(&req.name, "name", 200, &mut errors);
    let region = Region::default();
    let email = NormalizedIdentity::parse(IdentityKind::Email, &req.email, region).map(|e| e.value).unwrap_or_else(|e| {
        errors.push("email", e.to_string());
        String::new()
    });
    errors.into_result(())?;
    let hash = password_hash(&state, req.password).await?;
    let user = state.store.create_user(caller.account_id(), &email, &name, req.role, hash, &caller.actor).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = UserId, Path)),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
async fn get_user(State(state): State<AppState>, caller: Caller, Path(id): Path<UserId>) -> ApiResult<Json<User>> {
    Ok(Json(state.store.user(caller.account_id(), id).await?))
}

/// Changes a user. Admins may change anyone; users may change their own
/// name and password but not their role.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = UserId, Path)), request_body = UserUpdate,
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<UserId>,
    Body(req): Body<UserUpdate>,
) -> ApiResult<Json<User>> {
    if id != caller.user.id || req.role.is_some() {
        caller.require(Permission::Administer)?;
    }
    let mut errors = ValidationErrors::new();
    let name = req.name.as_deref().map(|n| bounded_text(n, "name", 200, &mut errors));
    errors.into_result(())?;
    if id == caller.user.id && req.password.is_some() {
        let current = req.current_password.clone().unwrap_or_default();
        let stored = caller.user.password_hash.clone();
        let ok = match stored {
            None => true, // no password yet: nothing to prove
            Some(hash) => state.passwords.verify(&current, Some(&hash)).await?,
        };
        if !ok {
            return Err(ApiError::invalid("current_password", "does not match"));
        }
    }
    let password_hash = password_hash(&state, req.password).await?;
    let user = state.store.update_user(caller.account_id(), id, UserChanges { name, role: req.role, password_hash }, &caller.actor).await?;
    state.invalidate_caches();
    Ok(Json(user))
}

/// Deactivates a user (admins): sessions and tokens stop working.
#[utoipa::path(delete, path = "/users/{id}", tag = "users", params(("id" = UserId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_user(State(state): State<AppState>, caller: Caller, Path(id): Path<UserId>) -> ApiResult<StatusCode> {
    caller.require(Permission::Administer)?;
    if id == caller.user.id {
        return Err(ApiError::Conflict("you cannot deactivate yourself".into()));
    }
    state.store.deactivate_user(caller.account_id(), id, &caller.actor).await?;
    state.invalidate_caches();
    Ok(StatusCode::NO_CONTENT)
}
