//! Who is calling. Two ways in:
//!
//! - `Authorization: Bearer tl_…` — an API token, for integrations;
//! - the `threadline_session` cookie set by `POST /api/v1/sessions`, for the
//!   web UI. Cookie-authenticated requests that change state must repeat the
//!   session's CSRF token in `X-CSRF-Token` (a cross-site form cannot read it).
//!
//! Either way the caller is a user of one account, and every handler scopes
//! its queries to that account.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use threadline_domain::ids::AccountId;
use threadline_domain::role::{Permission, Scope};
use threadline_store::User;

use crate::app::AppState;
use crate::error::ApiError;

pub mod password;
pub mod throttle;

pub use password::{PasswordHasher, hash_password, verify_password};

pub const SESSION_COOKIE: &str = "threadline_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    /// How the caller is named in the audit log.
    pub actor: String,
    /// What the credential may do beyond acting as the user: a web session
    /// only acts as its user (`api`); an API token has the scopes an
    /// administrator gave it.
    pub scopes: Vec<Scope>,
}

impl Caller {
    pub fn account_id(&self) -> AccountId {
        self.user.account_id
    }

    /// Refuses the request unless the caller's role allows `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.user.role.allows(permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("the {} role may not do this", self.user.role)))
        }
    }

    /// Refuses the request unless the credential has `scope` (see [`Scope`]).
    pub fn require_scope(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("this needs an API token with the `{scope}` scope")))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// A user acting within their role: a web session, or a token with the
    /// `api` scope.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = authenticate(parts, state).await?;
        caller.require_scope(Scope::Api)?;
        Ok(caller)
    }
}

/// An integration speaking for customers and channels: a token with the
/// `integration` scope (never a web session).
pub struct IntegrationCaller(pub Caller);

impl FromRequestParts<AppState> for IntegrationCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = authenticate(parts, state).await?;
        caller.require_scope(Scope::Integration)?;
        Ok(IntegrationCaller(caller))
    }
}

/// The operator of the installation: the bearer token is the configured
/// `admin_token` (creating accounts, assigning domains). Disabled when no
/// token is configured.
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let sent = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let expected = &state.settings.admin_token.0;
        match sent {
            Some(sent) if !expected.is_empty() && constant_time_eq(sent.trim().as_bytes(), expected.as_bytes()) => Ok(Operator),
            _ => Err(ApiError::Unauthorized),
        }
    }
}

/// Who the request's credentials name, whatever they may do.
async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).ok_or(ApiError::Unauthorized)?.trim();
        let hash = hash_token(token);
        let (user, scopes) = match state.token_cache.get(&hash) {
            Some(found) => found,
            None => {
                let found = state.store.user_by_api_token(&hash).await?.ok_or(ApiError::Unauthorized)?;
                state.token_cache.insert(hash, found.clone());
                found
            }
        };
        return Ok(Caller { actor: format!("user:{}", user.id), user, scopes });
    }
    let cookie = session_cookie(&parts.headers).ok_or(ApiError::Unauthorized)?;
    let session = state.store.session(&hash_token(&cookie)).await?.ok_or(ApiError::Unauthorized)?;
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !constant_time_eq(sent.as_bytes(), session.csrf_token.as_bytes()) {
            return Err(ApiError::Forbidden("missing or wrong X-CSRF-Token header".into()));
        }
    }
    Ok(Caller { actor: format!("user:{}", session.user.id), user: session.user, scopes: vec![Scope::Api] })
}

pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
}

/// The value of the cookie `name` in a request's `Cookie` headers.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

/// A new random token with a recognisable prefix: `tl_` + 43 characters
/// (256 bits of entropy, so a plain SHA-256 is a sufficient stored hash).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Passwords: at least 10 characters, at most 1024 (argon2 input bound).
pub fn check_password_strength(password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if n < 10 {
        return Err(ApiError::invalid("password", "must be at least 10 characters"));
    }
    if n > 1024 {
        return Err(ApiError::invalid("password", "must be at most 1024 characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = new_token("tl_");
        assert!(a.starts_with("tl_") && a.len() == 46);
        assert_ne!(a, new_token("tl_"));
        assert_eq!(hash_token(&a).len(), 64);
    }
}
