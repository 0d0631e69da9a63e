//! WooCommerce's order webhooks (REST API v3): the topic in
//! `X-WC-Webhook-Topic` (`order.created`, `order.updated`, …), the body the
//! order as `GET /wc/v3/orders/<id>` returns it, signed with the webhook's
//! secret (`X-WC-Webhook-Signature`: base64 HMAC-SHA256 of the raw body).
//!
//! When a webhook is saved, WooCommerce first sends an unsigned ping whose
//! body is `webhook_id=<n>` and refuses to save it unless the answer is
//! 200: the ping is recognised (no topic header, that body) and answered
//! without storing anything. Read: `order.created`, `order.updated`,
//! `order.restored`; `order.deleted` (only `{"id": n}`) is acknowledged and
//! the order stays in the customer's history.
//!
//! WooCommerce itself records no parcels; the widely used Shipment Tracking
//! extension keeps them in the order's `meta_data` under
//! `_wc_shipment_tracking_items`, read when present.

use serde_json::Value;
use threadline_domain::order::{OrderCustomer, OrderFacts, OrderStatus, Refund, Shipment};

use super::{ShopError, ShopEvent, WebhookRequest, amount, body_json, check_hmac, checked, full_name, line_items, note, text, time};

pub const SIGNATURE_HEADER: &str = "X-WC-Webhook-Signature";
pub const TOPIC_HEADER: &str = "X-WC-Webhook-Topic";

/// Whether a request is WooCommerce's ping on saving a webhook.
pub fn is_ping(request: &WebhookRequest<'_>) -> bool {
    request.header(TOPIC_HEADER).is_none()
        && std::str::from_utf8(request.body)
            .ok()
            .and_then(|b| b.trim().strip_prefix("webhook_id="))
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|c| c.is_ascii_digit()))
}

pub fn verify(request: &WebhookRequest<'_>, secret: &str) -> Result<(), ShopError> {
    if is_ping(request) {
        return Ok(());
    }
    check_hmac(request, SIGNATURE_HEADER, secret)
}

pub fn parse(request: &WebhookRequest<'_>) -> Result<ShopEvent, ShopError> {
    if is_ping(request) {
        return Ok(ShopEvent::Ignored("WooCommerce's ping on saving the webhook".into()));
    }
    let topic = request.header(TOPIC_HEADER).ok_or_else(|| ShopError::Malformed(format!("no {TOPIC_HEADER} header")))?.trim();
    match topic {
        "order.created" | "order.updated" | "order.restored" => checked(order(&body_json(request)?)?),
        other => Ok(ShopEvent::Ignored(format!("topic {other} is not read"))),
    }
}

/// A WooCommerce order as [`OrderFacts`].
pub fn order(body: &Value) -> Result<OrderFacts, ShopError> {
    let missing = |field: &str| ShopError::Malformed(format!("{field}: missing"));
    let external_id = text(body.get("id")).ok_or_else(|| missing("id"))?;
    let number = text(body.get("number")).unwrap_or_else(|| external_id.clone());
    let billing = body.get("billing").filter(|b| b.is_object());
    let shipping = body.get("shipping").filter(|s| s.is_object());
    let from = |address: Option<&Value>, key: &str| address.and_then(|a| text(a.get(key)));
    let customer = OrderCustomer {
        email: from(billing, "email"),
        phone: from(billing, "phone").or_else(|| from(shipping, "phone")),
        name: full_name(from(billing, "first_name"), from(billing, "last_name"))
            .or_else(|| full_name(from(shipping, "first_name"), from(shipping, "last_name"))),
        // 0 is a guest checkout.
        reference: text(body.get("customer_id")).filter(|id| id != "0"),
        postcode: from(shipping, "postcode").or_else(|| from(billing, "postcode")),
    };
    let items = line_items(body, &["name"], &["price", "total"]);
    let shipments = tracking_items(body);
    // `_gmt` times are UTC without a zone; the others are the site's local time.
    let utc = |key: &str| body.get(key).and_then(Value::as_str).and_then(|t| time(Some(&Value::String(format!("{t}Z")))));
    let placed_at = utc("date_created_gmt").or_else(|| time(body.get("date_created"))).ok_or_else(|| missing("date_created_gmt"))?;
    let updated_at = utc("date_modified_gmt").unwrap_or(placed_at);
    let status = match body.get("status").and_then(Value::as_str).unwrap_or("pending") {
        "processing" if !shipments.is_empty() => OrderStatus::Shipped,
        "processing" => OrderStatus::Processing,
        "on-hold" => OrderStatus::OnHold,
        // Completed: "order fulfilled and complete".
        "completed" if !shipments.is_empty() && shipments.iter().all(Shipment::delivered) => OrderStatus::Delivered,
        "completed" => OrderStatus::Shipped,
        "cancelled" | "trash" => OrderStatus::Cancelled,
        "refunded" => OrderStatus::Refunded,
        "failed" => OrderStatus::Failed,
        _ => OrderStatus::Pending,
    };
    Ok(OrderFacts {
        external_id,
        number,
        status,
        currency: text(body.get("currency")).ok_or_else(|| missing("currency"))?,
        total: amount(body.get("total")).ok_or_else(|| ShopError::Malformed("total: not an amount".into()))?,
        customer,
        items,
        shipments,
        refunds: refunds(body),
        placed_at,
        updated_at,
    })
}

/// The order's refunds (`refunds`: id, reason, and the total as a
/// negative amount).
fn refunds(body: &Value) -> Vec<Refund> {
    let Some(list) = body.get("refunds").and_then(Value::as_array) else { return Vec::new() };
    list.iter()
        .filter_map(|r| {
            let total = amount(r.get("total"))?;
            let amount = total.trim_start_matches('-').to_owned();
            Some(Refund { id: text(r.get("id")), amount, reason: note(r.get("reason")), refunded_at: None })
        })
        .collect()
}

/// Parcels the Shipment Tracking extension recorded in `meta_data`.
fn tracking_items(body: &Value) -> Vec<Shipment> {
    let Some(meta) = body.get("meta_data").and_then(Value::as_array) else { return Vec::new() };
    meta.iter()
        .filter(|m| m.get("key").and_then(Value::as_str) == Some("_wc_shipment_tracking_items"))
        .filter_map(|m| m.get("value").and_then(Value::as_array))
        .flatten()
        .map(|item| Shipment {
            id: text(item.get("tracking_id")),
            carrier: text(item.get("tracking_provider")).or_else(|| text(item.get("custom_tracking_provider"))),
            tracking_number: text(item.get("tracking_number")),
            tracking_url: text(item.get("custom_tracking_link")).filter(|u| u.starts_with("https://") || u.starts_with("http://")),
            status: None,
            shipped_at: text(item.get("date_shipped"))
                .and_then(|t| t.parse::<i64>().ok())
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok()),
        })
        .collect()
}
