//! The REST API, `/api/v1`. One module per resource, each exposing
//! `router()`; the OpenAPI 3.1 document is assembled from the handlers'
//! annotations and served at `/api/v1/openapi.json`.

mod accounts;
mod after_sales;
mod audit;
mod automations;
mod bots;
mod calls;
mod canned;
mod contacts;
mod conversations;
pub(crate) mod inboxes;
mod journeys;
pub mod knowledge;
pub(crate) mod mail_addresses;
mod orders;
mod privacy;
pub mod reports;
mod retention;
mod routing;
mod scheduled;
mod segments;
pub(crate) mod sessions;
mod sla;
pub mod spec;
mod store_visits;
pub(crate) mod suggestions;
mod surveys;
mod teams;
mod templates;
mod tokens;
mod tracking;
mod triage;
mod users;
pub mod views;
mod webhooks;

use axum::extract::{FromRequest, FromRequestParts};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::error::ApiError;

/// A JSON request body; malformed or mistyped input becomes an [`ApiError`].
/// Text with U+0000 anywhere in it is refused with 422 naming the field
/// (PostgreSQL cannot store it; both engines answer alike).
pub struct Body<T>(pub T);

impl<T, S> FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType("expected a body with Content-Type: application/json".into()));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest(e.body_text())
            }
        })?;
        // A NUL can only be written `\u0000` in JSON; look closer only then.
        if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"))
            && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && let Some(field) = threadline_domain::validation::nul_in_json(&value)
        {
            return Err(ApiError::invalid(&field, threadline_domain::validation::NUL_MESSAGE));
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Body(value))
    }
}

/// `application/json`, or any `application/*+json`.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Query-string parameters, with errors as [`ApiError`]; a parameter with
/// U+0000 in it is refused with 422 naming it.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or("");
        if raw.contains("%00")
            && let Some((name, _)) = form_urlencoded::parse(raw.as_bytes()).find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(ApiError::invalid(&name.replace('\0', "\\u0000"), threadline_domain::validation::NUL_MESSAGE));
        }
        let axum::extract::Query(value) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(value))
    }
}

/// Path parameters; an id that does not parse answers 404.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// A page of results and the cursor for the next one.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A search text (`q`): 1–200 characters once trimmed; absent means no search.
pub fn search_text(q: Option<String>) -> Result<Option<String>, ApiError> {
    match q.map(|q| q.trim().to_owned()) {
        None => Ok(None),
        Some(q) if q.is_empty() || q.chars().count() > spec::MAX_QUERY_CHARS => {
            Err(ApiError::invalid("q", format!("must be 1 to {} characters", spec::MAX_QUERY_CHARS)))
        }
        Some(q) => Ok(Some(q)),
    }
}

pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=200).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid("limit", "must be between 1 and 200")),
    }
}

/// Deserialises a present field, `null` included, as `Some(value)`, so that
/// `Option<Option<T>>` tells "absent" (leave as is) from `null` (clear).
pub fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Threadline API",
        description = "One customer, one conversation, every channel. All routes are scoped to the caller's account; \
                       errors are `{ \"error\": { \"code\", \"message\", \"fields\"? } }`.",
    ),
    modifiers(&Security),
    components(schemas(crate::error::ErrorBody)),
    security(("token" = []), ("session" = [])),
)]
pub struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("token", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "web session; state-changing requests also need the X-CSRF-Token header",
            ))),
        );
    }
}

fn resources() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(accounts::router())
        .merge(sessions::router())
        .merge(users::router())
        .merge(tokens::router())
        .merge(teams::router())
        .merge(inboxes::router())
        .merge(mail_addresses::router())
        .merge(contacts::router())
        .merge(conversations::router())
        .merge(calls::router())
        .merge(templates::router())
        .merge(canned::router())
        .merge(views::router())
        .merge(webhooks::router())
        .merge(audit::router())
        .merge(privacy::router())
        .merge(retention::router())
        .merge(triage::router())
        .merge(routing::router())
        .merge(sla::router())
        .merge(knowledge::router())
        .merge(bots::router())
        .merge(suggestions::router())
        .merge(tracking::router())
        .merge(orders::router())
        .merge(store_visits::router())
        .merge(after_sales::router())
        .merge(journeys::router())
        .merge(segments::router())
        .merge(reports::router())
        .merge(surveys::router())
        .merge(scheduled::router())
        .merge(automations::router())
}

/// The whole API, with its OpenAPI document served at `/api/v1/openapi.json`.
pub fn router() -> axum::Router<AppState> {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", resources()).split_for_parts();
    utoipa::Modify::modify(&spec::ErrorResponses, &mut doc);
    let doc = std::sync::Arc::new(doc);
    router.route("/api/v1/openapi.json", axum::routing::get(move || std::future::ready(axum::Json(doc.as_ref().clone()))))
}

pub use canned::preview as preview_canned;
pub use mail_addresses::parse_domain;

/// The OpenAPI document (for `threadline openapi`).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut doc = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi()).nest("/api/v1", resources()).split_for_parts().1;
    utoipa::Modify::modify(&spec::ErrorResponses, &mut doc);
    doc
}
