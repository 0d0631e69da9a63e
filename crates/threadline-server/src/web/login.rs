//! Signing in and out of the workspace.
//!
//! The form posts e-mail and password with a double-submit token against
//! login CSRF. A wrong password, a throttled attempt (the same budgets and
//! lockouts as `POST /api/v1/sessions`) and an e-mail that signs in to
//! several accounts each come back as the form, saying why.

use std::net::SocketAddr;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use threadline_domain::ids::AccountId;

use super::i18n::{Lang, Texts};
use super::{lang, page, signed_in};
use crate::app::AppState;
use crate::auth::{constant_time_eq, new_token};
use crate::error::{AccountChoice, ApiError};

/// The login form's double-submit token (against logging a victim into
/// someone else's account).
const LOGIN_COOKIE: &str = "threadline_login";

/// Why the form is shown again.
#[derive(Debug, Default)]
enum Problem {
    #[default]
    None,
    WrongCredentials,
    /// Too many attempts: try again in this many seconds.
    Throttled(u64),
    /// The e-mail and password sign in to several accounts.
    ChooseAccount(Vec<AccountChoice>),
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    t: &'a Texts,
    lang: &'a str,
    login_token: String,
    error: Option<String>,
    email: String,
    accounts: Vec<AccountChoice>,
}

pub(super) async fn login_page(headers: HeaderMap) -> Response {
    login_form(lang(&headers), Problem::None, String::new())
}

fn login_form(lang: Lang, problem: Problem, email: String) -> Response {
    let t = lang.texts();
    let login_token = new_token("");
    let retry_after = match problem {
        Problem::Throttled(secs) => Some(secs),
        _ => None,
    };
    let (status, error, accounts) = match problem {
        Problem::None => (StatusCode::OK, None, Vec::new()),
        Problem::WrongCredentials => (StatusCode::UNAUTHORIZED, Some(t.wrong_credentials.to_owned()), Vec::new()),
        Problem::Throttled(secs) => {
            (StatusCode::TOO_MANY_REQUESTS, Some(t.too_many_sign_ins.replace("{seconds}", &secs.to_string())), Vec::new())
        }
        Problem::ChooseAccount(accounts) => (StatusCode::CONFLICT, Some(t.choose_account.to_owned()), accounts),
    };
    let mut response = page(&LoginPage { t, lang: lang.code(), login_token: login_token.clone(), error, email, accounts });
    *response.status_mut() = status;
    if let Some(secs) = retry_after
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    let cookie = format!("{LOGIN_COOKIE}={login_token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    email: String,
    password: String,
    login_token: String,
    /// Chosen when the e-mail signs in to several accounts.
    #[serde(default)]
    account_id: Option<String>,
}

pub(super) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = lang(&headers);
    let cookie = crate::auth::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if cookie.is_empty() || !constant_time_eq(cookie.as_bytes(), form.login_token.as_bytes()) {
        return login_form(lang, Problem::WrongCredentials, form.email);
    }
    let account_id = form.account_id.as_deref().filter(|a| !a.is_empty()).and_then(|a| a.parse::<AccountId>().ok());
    let client = crate::rate_limit::client_ip(&state.settings, &headers, peer.as_deref());
    match crate::api::sessions::open_session(&state, &form.email, &form.password, account_id, client).await {
        Ok((_, _, cookie)) => {
            let mut response = Redirect::to("/inbox").into_response();
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        Err(ApiError::Unauthorized) => login_form(lang, Problem::WrongCredentials, form.email),
        Err(ApiError::RateLimited(secs)) => login_form(lang, Problem::Throttled(secs), form.email),
        Err(ApiError::ChooseAccount(accounts)) => login_form(lang, Problem::ChooseAccount(accounts), form.email),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub(super) struct LogoutForm {
    csrf: String,
}

pub(super) async fn logout(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<LogoutForm>) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    if !constant_time_eq(form.csrf.as_bytes(), session.csrf_token.as_bytes()) {
        return ApiError::Forbidden("the form's CSRF token is missing or wrong".into()).into_response();
    }
    match crate::api::sessions::close_session(&state, &headers).await {
        Ok(clear) => {
            let mut response = Redirect::to("/login").into_response();
            response.headers_mut().append(header::SET_COOKIE, clear);
            response
        }
        Err(e) => e.into_response(),
    }
}
