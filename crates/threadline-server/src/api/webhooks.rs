//! Outbound webhook subscriptions and their delivery log (admins).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use threadline_domain::event::parse_event_filter;
use threadline_domain::ids::WebhookId;
use threadline_domain::role::Permission;
use threadline_domain::validation::{ValidationErrors, bounded_text};
use threadline_store::{WebhookChanges, WebhookDelivery, WebhookSubscription};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path, Query, page_limit};
use crate::app::AppState;
use crate::auth::{Caller, new_token};
use crate::error::{ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(deliveries))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// An http(s) URL that accepts POSTed JSON.
    pub url: String,
    pub description: Option<String>,
    /// Event types to deliver, or `["*"]` for all.
    pub events: Vec<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookUpdate {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookSubscription,
    /// The signing secret for `Threadline-Signature`. Shown only here.
    pub secret: String,
}

/// An absolute http(s) URL the egress policy lets Threadline deliver to.
async fn check_url(state: &AppState, raw: &str, errors: &mut ValidationErrors) -> String {
    let url = raw.trim();
    if url.len() > 2000 {
        errors.push("url", "must be at most 2,000 characters");
        return String::new();
    }
    match state.egress.check_url_resolved(url).await {
        Ok(_) => url.to_owned(),
        Err(refusal) => {
            errors.push("url", refusal.to_string());
            String::new()
        }
    }
}

#[utoipa::path(get, path = "/webhooks", tag = "webhooks", responses((status = 200, body = Vec<WebhookSubscription>)))]
async fn list_webhooks(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<WebhookSubscription>>> {
    caller.require(Permission::Administer)?;
    Ok(Json(state.store.webhooks(caller.account_id()).await?))
}

/// Subscribes a URL to events. Each delivery is signed:
/// `Threadline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = NewWebhook,
    responses((status = 201, body = CreatedWebhook), (status = 422, body = ErrorBody)))]
async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<NewWebhook>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    caller.require(Permission::Administer)?;
    let mut errors = ValidationErrors::new();
    let url = check_url(&state, &req.url, &mut errors).await;
    let description = req.description.as_deref().map(|d| bounded_text(d, "description", 500, &mut errors));
    let events = parse_event_filter(&req.events).unwrap_or_else(|e| {
        errors.push("events", e);
        Vec::new()
    });
    errors.into_result(())?;
    let secret = new_token("whsec_");
    let webhook =
        state.store.create_webhook(caller.account_id(), &url, description, &events, &state.secrets.seal(&secret), &caller.actor).await?;
    Ok((StatusCode::CREATED, Json(CreatedWebhook { webhook, secret })))
}

#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks", params(("id" = WebhookId, Path)),
    responses((status = 200, body = WebhookSubscription), (status = 404, body = ErrorBody)))]
async fn get_webhook(State(state): State<AppState>, caller: Caller, Path(id): Path<WebhookId>) -> ApiResult<Json<WebhookSubscription>> {
    caller.require(Permission::Administer)?;
    Ok(Json(state.store.webhook(caller.account_id(), id).await?))
}

#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", params(("id" = WebhookId, Path)), request_body = WebhookUpdate,
    responses((status = 200, body = WebhookSubscription), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<WebhookId>,
    Body(req): Body<WebhookUpdate>,
) -> ApiResult<Json<WebhookSubscription>> {
    caller.require(Permission::Administer)?;
    let mut errors = ValidationErrors::new();
    let url = match req.url.as_deref() {
        Some(u) => Some(check_url(&state, u, &mut errors).await),
        None => None,
    };
    let description = req.description.as_deref().map(|d| bounded_text(d, "description", 500, &mut errors));
    let events = req.events.as_deref().map(|e| {
        parse_event_filter(e).unwrap_or_else(|message| {
            errors.push("events", message);
            Vec::new()
        })
    });
    errors.into_result(())?;
    let changes = WebhookChanges { url, description, events, active: req.active };
    Ok(Json(state.store.update_webhook(caller.account_id(), id, changes, &caller.actor).await?))
}

#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", params(("id" = WebhookId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_webhook(State(state): State<AppState>, caller: Caller, Path(id): Path<WebhookId>) -> ApiResult<StatusCode> {
    caller.require(Permission::Administer)?;
    state.store.delete_webhook(caller.account_id(), id, &caller.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryParams {
    pub limit: Option<i64>,
}

/// The delivery log: every event sent to this subscription, its attempts,
/// last answer and status (`pending`, `delivered`, `failed`).
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = WebhookId, Path), DeliveryParams),
    responses((status = 200, body = Vec<WebhookDelivery>), (status = 404, body = ErrorBody)))]
async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<WebhookId>,
    Query(p): Query<DeliveryParams>,
) -> ApiResult<Json<Vec<WebhookDelivery>>> {
    caller.require(Permission::Administer)?;
    let limit = page_limit(p.limit)?;
    Ok(Json(state.store.webhook_deliveries(caller.account_id(), id, limit).await?))
}
