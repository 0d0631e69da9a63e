//! Password sign-in for the web UI, sign-out, and "who am I".

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use threadline_domain::ids::AccountId;
use threadline_store::User;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::Body;
use crate::app::AppState;
use crate::auth::{Caller, SESSION_COOKIE, hash_token, new_token};
use crate::error::{AccountChoice, ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sign_in, sign_out)).routes(routes!(me))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
    /// Which account to sign in to, when the same e-mail and password are
    /// a user of several (the answer is then 409 `choose_account` listing them).
    #[serde(default)]
    pub account_id: Option<AccountId>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    pub user: User,
    /// Send back in `X-CSRF-Token` on every state-changing request made with
    /// the session cookie.
    pub csrf_token: String,
}

/// Signs in with e-mail and password; sets the `threadline_session` cookie.
///
/// Attempts are budgeted per client address (`sign_in_rate_per_minute`)
/// and a login is locked for a while after repeated wrong passwords: both
/// answer 429 with `Retry-After`, before any password is checked. When the
/// server is already hashing as many passwords as it allows and the wait
/// is too long, 503 with `Retry-After`.
#[utoipa::path(post, path = "/sessions", tag = "sessions", request_body = SignIn, security(()),
    responses((status = 200, body = SignedIn), (status = 401, body = ErrorBody),
        (status = 409, description = "the e-mail and password match users of several accounts: `error.accounts` lists them; send `account_id`", body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    Body(req): Body<SignIn>,
) -> ApiResult<Response> {
    let client = crate::rate_limit::client_ip(&state.settings, &headers, peer.as_deref());
    let (user, csrf_token, cookie) = open_session(&state, &req.email, &req.password, req.account_id, client).await?;
    let mut response = Json(SignedIn { user, csrf_token }).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// At most this many accounts' users are tried for one e-mail: each costs
/// a password hash.
const MAX_ACCOUNTS_PER_LOGIN: i64 = 5;

/// Checks a password and opens a session: the user, the session's CSRF
/// token, and the `Set-Cookie` value. Shared by the API and the web pages.
pub(crate) async fn open_session(
    state: &AppState,
    email: &str,
    password: &str,
    account_id: Option<AccountId>,
    client: Option<IpAddr>,
) -> ApiResult<(User, String, HeaderValue)> {
    if password.len() > 4096 || email.len() > 320 {
        return Err(ApiError::Unauthorized);
    }
    for (field, text) in [("email", email), ("password", password)] {
        if text.contains('\0') {
            return Err(ApiError::invalid(field, threadline_domain::validation::NUL_MESSAGE));
        }
    }
    let email = email.trim().to_lowercase();
    state.sign_in.check(&email, client).map_err(|refused| ApiError::RateLimited(refused.retry_after_secs))?;
    let mut candidates = state.store.users_by_email(&email, MAX_ACCOUNTS_PER_LOGIN).await?;
    candidates.retain(|(user, _)| user.password_hash.is_some() && account_id.is_none_or(|id| user.account_id == id));
    let mut matches = Vec::new();
    if candidates.is_empty() {
        // The same work as for a real user, so the answer's timing does
        // not tell who has an account.
        state.passwords.verify(password, None).await?;
    }
    for (user, account_name) in candidates {
        if state.passwords.verify(password, user.password_hash.as_deref()).await? {
            matches.push((user, account_name));
        }
    }
    let user = match matches.len() {
        0 => {
            state.sign_in.failed(&email, client);
            return Err(ApiError::Unauthorized);
        }
        1 => matches.remove(0).0,
        _ => {
            state.sign_in.succeeded(&email, client);
            let accounts = matches.into_iter().map(|(u, name)| AccountChoice { id: u.account_id, name }).collect();
            return Err(ApiError::ChooseAccount(accounts));
        }
    };
    state.sign_in.succeeded(&email, client);
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
