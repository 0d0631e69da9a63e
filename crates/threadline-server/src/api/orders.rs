//! Orders: the shops that send them (`/orders/sources`), the order API for
//! shops without a built-in connection, and a contact's orders. Shops'
//! webhooks arrive at `/hooks/orders/{source_id}` (see [`crate::orders`]).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use threadline_channels::shops::ShopKind;
use threadline_domain::identity::Region;
use threadline_domain::ids::{ContactId, OrderId, OrderSourceId};
use threadline_domain::order::OrderFacts;
use threadline_domain::role::{Permission, Scope};
use threadline_domain::validation::{ValidationErrors, bounded_text};
use threadline_store::{Order, OrderOrigin, OrderRecorded, OrderSource};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path, Query};
use crate::app::AppState;
use crate::auth::{Caller, new_token};
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sources, create_source))
        .routes(routes!(revoke_source))
        .routes(routes!(record_order))
        .routes(routes!(get_order))
        .routes(routes!(contact_orders))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrderSource {
    /// `shopify` or `woocommerce`.
    pub kind: String,
    /// What the shop is called here, e.g. "Online shop".
    pub name: String,
    /// The secret the shop signs its webhooks with: for Shopify the app's
    /// client secret (required); for WooCommerce the webhook's secret —
    /// leave it out and Threadline makes one to paste into WooCommerce.
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedOrderSource {
    #[serde(flatten)]
    pub source: OrderSource,
    /// Where the shop sends its webhooks.
    pub webhook_url: String,
    /// The signing secret, shown only here (the one given, or the one made).
    pub secret: String,
}

#[utoipa::path(get, path = "/orders/sources", tag = "orders", responses((status = 200, body = Vec<OrderSource>)))]
async fn list_sources(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<OrderSource>>> {
    caller.require(Permission::Administer)?;
    Ok(Json(state.store.order_sources(caller.account_id()).await?))
}

/// Connects a shop (admins): its webhooks are accepted from now on.
#[utoipa::path(post, path = "/orders/sources", tag = "orders", request_body = NewOrderSource,
    responses((status = 201, body = CreatedOrderSource), (status = 422, body = ErrorBody)))]
async fn create_source(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<NewOrderSource>,
) -> ApiResult<(StatusCode, Json<CreatedOrderSource>)> {
    caller.require(Permission::Administer)?;
    let mut errors = ValidationErrors::new();
    let name = bounded_text(&req.name, "name", 200, &mut errors);
    let kind = ShopKind::parse(req.kind.trim());
    if kind.is_none() {
        errors.push("kind", "must be `shopify` or `woocommerce`");
    }
    let secret = match (kind, req.secret.as_deref().map(str::trim)) {
        (_, Some(s)) if s.len() < 8 || s.len() > 500 => {
            errors.push("secret", "must be 8 to 500 characters");
            String::new()
        }
        (_, Some(s)) => s.to_owned(),
        (Some(ShopKind::Shopify), None) => {
            errors.push("secret", "Shopify signs webhooks with the app's client secret: give it here");
            String::new()
        }
        (_, None) => new_token("tls_"),
    };
    errors.into_result(())?;
    let kind = kind.ok_or_else(|| ApiError::invalid("kind", "must be `shopify` or `woocommerce`"))?;
    let source =
        state.store.create_order_source(caller.account_id(), kind.as_str(), &name, &state.secrets.seal(&secret), &caller.actor).await?;
    let webhook_url = crate::orders::webhook_url(&state.settings, source.id);
    Ok((StatusCode::CREATED, Json(CreatedOrderSource { source, webhook_url, secret })))
}

/// Disconnects a shop: its webhooks answer 404 from now on; its orders stay.
#[utoipa::path(delete, path = "/orders/sources/{id}", tag = "orders", params(("id" = OrderSourceId, Path)),
    responses((status = 200, body = OrderSource), (status = 404, body = ErrorBody)))]
async fn revoke_source(State(state): State<AppState>, caller: Caller, Path(id): Path<OrderSourceId>) -> ApiResult<Json<OrderSource>> {
    caller.require(Permission::Administer)?;
    Ok(Json(state.store.revoke_order_source(caller.account_id(), id, &caller.actor).await?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordedOrder {
    /// `stored`, `unchanged` (the stored version again) or `stale` (older
    /// than the stored version, by `updated_at`: dropped).
    pub outcome: &'static str,
    pub order: Order,
    /// The customer events the order brought, e.g. `Order Completed`.
    pub events: Vec<String>,
}

/// Records an order as the shop sees it now (integrations): creates it, or
/// updates the one with the same `external_id`. The customer is found by
/// the order's e-mail address or phone number, or created. Answers 201 for
/// a new order, 200 otherwise; sending the same version again changes nothing.
#[utoipa::path(put, path = "/orders", tag = "orders", request_body = OrderFacts,
    responses((status = 201, body = RecordedOrder), (status = 200, body = RecordedOrder), (status = 422, body = ErrorBody)))]
async fn record_order(
    State(state): State<AppState>,
    caller: Caller,
    Body(facts): Body<OrderFacts>,
) -> ApiResult<(StatusCode, Json<RecordedOrder>)> {
    caller.require_scope(Scope::Integration)?;
    facts.check().map_err(ApiError::Invalid)?;
    let account = state.store.account(caller.account_id()).await?;
    let region = Region::parse(&account.default_region).unwrap_or_default();
    let recorded = state.store.record_order(caller.account_id(), OrderOrigin::Api, &facts, region, state.clock.now()).await?;
    answer(recorded)
}

fn answer(recorded: OrderRecorded) -> ApiResult<(StatusCode, Json<RecordedOrder>)> {
    Ok(match recorded {
        OrderRecorded::Stored { order, created, events } => {
            let status = if created { StatusCode::CREATED } else { StatusCode::OK };
            (status, Json(RecordedOrder { outcome: "stored", order: *order, events }))
        }
        OrderRecorded::Unchanged(order) => {
            (StatusCode::OK, Json(RecordedOrder { outcome: "unchanged", order: *order, events: Vec::new() }))
        }
        OrderRecorded::Stale(order) => (StatusCode::OK, Json(RecordedOrder { outcome: "stale", order: *order, events: Vec::new() })),
        // Only a shipment reported on its own names an order not stored.
        OrderRecorded::UnknownOrder => return Err(ApiError::NotFound),
    })
}

#[utoipa::path(get, path = "/orders/{id}", tag = "orders", params(("id" = OrderId, Path)),
    responses((status = 200, body = Order), (status = 404, body = ErrorBody)))]
async fn get_order(State(state): State<AppState>, caller: Caller, Path(id): Path<OrderId>) -> ApiResult<Json<Order>> {
    Ok(Json(state.store.order(caller.account_id(), id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OrderParams {
    /// How many, newest first: 1–200 (default 50).
    pub limit: Option<i64>,
}

/// A contact's orders, newest first.
#[utoipa::path(get, path = "/contacts/{id}/orders", tag = "orders", params(("id" = ContactId, Path), OrderParams),
    responses((status = 200, body = Vec<Order>), (status = 404, body = ErrorBody)))]
async fn contact_orders(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ContactId>,
    Query(p): Query<OrderParams>,
) -> ApiResult<Json<Vec<Order>>> {
    let limit = super::page_limit(p.limit)?;
    // A merged contact answers with its survivor.
    let contact = state.store.contact(caller.account_id(), id).await?;
    Ok(Json(state.store.contact_orders(caller.account_id(), contact.id, limit).await?))
}
