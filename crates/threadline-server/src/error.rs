//! The API's one error type. Every failure becomes an HTTP status and the
//! body `{ "error": { "code", "message", "fields"? } }`. Internal causes are
//! logged with their detail and answered with an opaque 500.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use threadline_domain::{FieldError, ValidationErrors};
use threadline_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("invalid input")]
    Invalid(ValidationErrors),
    /// A well-formed request the rules refuse (e.g. a free-form WhatsApp
    /// reply after the 24-hour window), with its own stable code.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("too many requests; try again in {0} seconds")]
    RateLimited(u64),
    /// The server is saturated (e.g. password hashing); the client should
    /// retry after the given seconds.
    #[error("the server is busy; try again in {0} seconds")]
    Busy(u64),
    /// The database cannot be reached (stopped, restarting, network): nothing
    /// was stored; the client should retry after the given seconds.
    #[error("the database is unavailable; nothing was stored; try again in {0} seconds")]
    Unavailable(u64),
    /// The e-mail and password are a user of several accounts: the client
    /// must say which (sign-in).
    #[error("this e-mail and password sign in to several accounts; choose one with account_id")]
    ChooseAccount(Vec<AccountChoice>),
    /// A provider Threadline called for the request refused it or could
    /// not be reached (its words in the message).
    #[error("{0}")]
    Upstream(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// An account a person may sign in to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountChoice {
    pub id: threadline_domain::ids::AccountId,
    pub name: String,
}

/// The error body, as documented in the OpenAPI document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `invalid_input`.
    pub code: &'static str,
    pub message: String,
    /// For `invalid_input`: each invalid field and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub fields: Option<Vec<FieldError>>,
    /// For `choose_account`: the accounts to choose from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<AccountChoice>>,
}

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid(ValidationErrors::single(field, message))
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Gone(_) => (StatusCode::NOT_FOUND, "contact_merged"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
            ApiError::Refused { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::ChooseAccount(_) => (StatusCode::CONFLICT, "choose_account"),
            ApiError::Upstream(_) => (StatusCode::BAD_GATEWAY, "provider_error"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = %bounded(&format!("{cause:#}"), LOGGED_ERROR_BYTES), "request failed");
        }
        let fields = match &self {
            ApiError::Invalid(errors) => Some(errors.0.clone()),
            _ => None,
        };
        let accounts = match &self {
            ApiError::ChooseAccount(accounts) => Some(accounts.clone()),
            _ => None,
        };
        let message = match &self {
            ApiError::Invalid(errors) => format!("invalid input: {errors}"),
            other => other.to_string(),
        };
        let mut response = (status, Json(ErrorBody { error: ErrorDetail { code, message, fields, accounts } })).into_response();
        if let ApiError::RateLimited(seconds) | ApiError::Busy(seconds) | ApiError::Unavailable(seconds) = &self
            && let Ok(value) = axum::http::HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, value);
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the oversized body is never read, so this connection
            // cannot carry another request; say so, or a client that pools
            // connections sends its next request into a socket we are closing.
            response.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Merged(target) => ApiError::Gone(format!("this contact was merged into {target}")),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::Race => ApiError::Conflict("a concurrent request changed the same data; try again".into()),
            StoreError::Invalid(errors) => ApiError::Invalid(errors),
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "the database is unavailable");
                ApiError::Unavailable(5)
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        ApiError::Invalid(e)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => {
                // serde's message names the field path and what was wrong.
                ApiError::Invalid(ValidationErrors::single(json_path(&e.body_text()), e.body_text()))
            }
            JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(format!("malformed JSON: {}", e.body_text())),
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::UnsupportedMediaType("expected a body with Content-Type: application/json".into())
            }
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

/// Pulls the field path out of serde's "Failed to deserialize the JSON body
/// into the target type: sender.name: invalid type…" message.
fn json_path(message: &str) -> String {
    let rest = message.split_once("target type: ").map(|(_, r)| r).unwrap_or(message);
    match rest.split_once(": ") {
        Some((path, _)) if !path.contains(' ') => path.to_owned(),
        _ => "body".to_owned(),
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(format!("invalid query string: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        // A malformed id cannot name anything that exists.
        ApiError::NotFound
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// How much of an internal error is logged: a database error can quote
/// the statement and its input, and a hostile request must not be able to
/// write megabytes of log per call.
const LOGGED_ERROR_BYTES: usize = 2048;

/// `text` cut to at most `max` bytes on a character boundary, saying so.
pub fn bounded(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}… ({} bytes cut)", &text[..end], text.len() - end))
}
