//! Password sign-in for the web UI, sign-out, and "who am I".

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use threadline_store::User;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::Body;
use crate::app::AppState;
use crate::auth::{Caller, SESSION_COOKIE, hash_token, new_token, verify_password};
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sign_in, sign_out)).routes(routes!(me))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    pub user: User,
    /// Send back in `X-CSRF-Token` on every state-changing request made with
    /// the session cookie.
    pub csrf_token: String,
}

/// A hash to verify against when the e-mail is unknown, so the answer takes
/// as long either way and does not reveal who has an account.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| crate::auth::hash_password("no such user, no such password").unwrap_or_default());

/// Signs in with e-mail and password; sets the `threadline_session` cookie.
#[utoipa::path(post, path = "/sessions", tag = "sessions", request_body = SignIn, security(()),
    responses((status = 200, body = SignedIn), (status = 401, body = ErrorBody)))]
async fn sign_in(State(state): State<AppState>, Body(req): Body<SignIn>) -> ApiResult<Response> {
    let (user, csrf_token, cookie) = open_session(&state, &req.email, &req.password).await?;
    let mut response = Json(SignedIn { user, csrf_token }).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// Checks a password and opens a session: the user, the session's CSRF
/// token, and the `Set-Cookie` value. Shared by the API and the web pages.
pub(crate) async fn open_session(state: &AppState, email: &str, password: &str) -> ApiResult<(User, String, HeaderValue)> {
    if password.len() > 4096 || email.len() > 320 {
        return Err(ApiError::Unauthorized);
    }
    let email = email.trim().to_lowercase();
    let user = state.store.user_by_email(&email).await?;
    let hash = user.as_ref().and_then(|u| u.password_hash.clone()).unwrap_or_else(|| DUMMY_HASH.clone());
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash)).await.map_err(|e| ApiError::Internal(e.into()))?;
    let user = match user {
        Some(user) if ok && user.password_hash.is_some() => user,
        _ => return Err(ApiError::Unauthorized),
    };
    let token = new_token("");
    let csrf_token = new_token("");
    let hours = state.settings.session_hours;
    let expires_at = threadline_store::now() + time::Duration::hours(hours as i64);
    state.store.create_session(user.id, &hash_token(&token), &csrf_token, expires_at).await?;
    let cookie = format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}", hours * 3600);
    let cookie = HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.into()))?;
    Ok((user, csrf_token, cookie))
}

/// Signs out: ends the session and clears the cookie.
#[utoipa::path(delete, path = "/sessions", tag = "sessions", responses((status = 204)))]
async fn sign_out(State(state): State<AppState>, headers: HeaderMap, _caller: Caller) -> ApiResult<Response> {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, close_session(&state, &headers).await?);
    Ok(response)
}

/// Ends the request's session; returns the `Set-Cookie` value that clears it.
pub(crate) async fn close_session(state: &AppState, headers: &HeaderMap) -> ApiResult<HeaderValue> {
    if let Some(token) = crate::auth::session_cookie(headers) {
        state.store.delete_session(&hash_token(&token)).await?;
    }
    Ok(HeaderValue::from_static("threadline_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"))
}

/// The signed-in user.
#[utoipa::path(get, path = "/me", tag = "sessions", responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
async fn me(caller: Caller) -> Json<User> {
    Json(caller.user)
}
