//! Shops' order webhooks: `POST /hooks/orders/{source_id}`.
//!
//! The order never changes: find the shop (404 for none, or one
//! disconnected) → check the signature with its secret (401 and nothing
//! stored when it is missing or wrong) → read the delivery (400 when
//! malformed) → store it → 200. Shops deliver at least once and out of
//! order; storing is idempotent (see `threadline_store::orders`), so a
//! redelivery answers 200 and changes nothing. Topics Threadline does not
//! read, WooCommerce's ping and a shipment for an order not seen yet are
//! acknowledged with 200 and nothing stored, or the shop would retry them
//! (and WooCommerce disables a webhook after five failures).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use threadline_channels::WebhookRequest;
use threadline_channels::shops::{ShopError, ShopEvent, ShopKind};
use threadline_domain::identity::Region;
use threadline_domain::ids::OrderSourceId;
use threadline_store::{OrderOrigin, OrderRecorded};

use crate::app::AppState;
use crate::config::Settings;
use crate::error::ApiError;

/// The largest delivery accepted (an order with hundreds of lines is a few
/// hundred KB).
pub const MAX_DELIVERY_BYTES: usize = 2 * 1024 * 1024;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/hooks/orders/{source_id}", axum::routing::post(receive))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_DELIVERY_BYTES))
}

/// The address a shop is configured to send its webhooks to.
pub fn webhook_url(settings: &Settings, source_id: OrderSourceId) -> String {
    format!("{}/hooks/orders/{source_id}", settings.effective_public_url())
}

async fn receive(
    State(state): State<AppState>,
    axum::extract::Path(raw_id): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let source_id: OrderSourceId = raw_id.parse().map_err(|_| ApiError::NotFound)?;
    let found = state.store.order_source_for_webhook(source_id).await?.ok_or(ApiError::NotFound)?;
    let kind = ShopKind::parse(&found.source.kind).ok_or(ApiError::NotFound)?;
    let secret = state.secrets.open(&found.sealed_secret).map_err(|e| ApiError::Internal(e.into()))?;
    let request = WebhookRequest { headers: &headers, query: "", body: &body };
    let refuse = |error: ShopError| match error {
        ShopError::Signature(reason) => {
            tracing::warn!(source = %source_id, %reason, "order webhook refused: bad signature");
            ApiError::Unauthorized
        }
        ShopError::Malformed(reason) => {
            tracing::warn!(source = %source_id, %reason, "order webhook refused: malformed payload");
            ApiError::BadRequest(format!("malformed order webhook: {reason}"))
        }
    };
    kind.verify(&request, &secret).map_err(refuse)?;
    let event = kind.parse_delivery(&request).map_err(refuse)?;
    let account_id = found.account_id;
    let origin = OrderOrigin::Shop { id: source_id, kind: kind.as_str() };
    let at = state.clock.now();
    let recorded = match event {
        ShopEvent::Order(facts) => {
            let account = state.store.account(account_id).await?;
            let region = Region::parse(&account.default_region).unwrap_or_default();
            Some(state.store.record_order(account_id, origin, &facts, region, at).await?)
        }
        ShopEvent::Shipment { order_external_id, shipment } => {
            Some(state.store.record_shipment(account_id, origin, &order_external_id, &shipment, at).await?)
        }
        ShopEvent::Refund { order_external_id, refund } => {
            Some(state.store.record_refund(account_id, origin, &order_external_id, &refund, at).await?)
        }
        ShopEvent::Ignored(reason) => {
            tracing::debug!(source = %source_id, %reason, "order webhook acknowledged, nothing to store");
            None
        }
    };
    if found.source.last_used_at.is_none_or(|t| at - t > time::Duration::minutes(1)) {
        state.store.touch_order_source(source_id).await?;
    }
    let outcome = match &recorded {
        None => "ignored",
        Some(OrderRecorded::Stored { .. }) => "stored",
        Some(OrderRecorded::Unchanged(_)) => "unchanged",
        Some(OrderRecorded::Stale(_)) => "stale",
        Some(OrderRecorded::UnknownOrder) => "unknown_order",
    };
    Ok(Json(serde_json::json!({ "ok": true, "outcome": outcome })))
}
