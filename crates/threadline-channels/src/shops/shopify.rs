//! Shopify's order webhooks (Admin API, HTTPS delivery): the topic in
//! `X-Shopify-Topic`, the body the bare REST resource, signed with the
//! app's client secret (`X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the
//! raw body).
//!
//! Read: `orders/create`, `orders/updated`, `orders/paid`,
//! `orders/fulfilled`, `orders/partially_fulfilled`, `orders/cancelled`
//! (each the whole order) and `fulfillments/create`, `fulfillments/update`
//! (one shipment), `refunds/create` (one refund: the successful refund
//! transactions' amounts, the note as its reason; an order's own `refunds`
//! are read the same way). Acknowledged and left: `orders/delete` (a
//! deleted order stays in the customer's history) and any other topic.

use serde_json::Value;
use threadline_domain::order::{OrderCustomer, OrderFacts, OrderStatus, Refund, Shipment};

use super::{ShopError, ShopEvent, WebhookRequest, amount, body_json, check_hmac, checked, full_name, line_items, note, text, time};

pub const SIGNATURE_HEADER: &str = "X-Shopify-Hmac-Sha256";
pub const TOPIC_HEADER: &str = "X-Shopify-Topic";

pub fn verify(request: &WebhookRequest<'_>, secret: &str) -> Result<(), ShopError> {
    check_hmac(request, SIGNATURE_HEADER, secret)
}

pub fn parse(request: &WebhookRequest<'_>) -> Result<ShopEvent, ShopError> {
    let topic = request.header(TOPIC_HEADER).ok_or_else(|| ShopError::Malformed(format!("no {TOPIC_HEADER} header")))?.trim();
    match topic {
        "orders/create" | "orders/updated" | "orders/paid" | "orders/fulfilled" | "orders/partially_fulfilled" | "orders/cancelled" => {
            checked(order(&body_json(request)?)?)
        }
        "fulfillments/create" | "fulfillments/update" => {
            let body = body_json(request)?;
            let order_external_id = text(body.get("order_id")).ok_or_else(|| ShopError::Malformed("order_id: missing".into()))?;
            match shipment(&body) {
                Some(shipment) => Ok(ShopEvent::Shipment { order_external_id, shipment }),
                None => Ok(ShopEvent::Ignored(format!("{topic}: a cancelled or failed fulfilment"))),
            }
        }
        "refunds/create" => {
            let body = body_json(request)?;
            let order_external_id = text(body.get("order_id")).ok_or_else(|| ShopError::Malformed("order_id: missing".into()))?;
            match refund(&body) {
                Some(refund) => Ok(ShopEvent::Refund { order_external_id, refund }),
                None => Ok(ShopEvent::Ignored("refunds/create: no money given back (a restock only)".into())),
            }
        }
        other => Ok(ShopEvent::Ignored(format!("topic {other} is not read"))),
    }
}

/// A refund resource as a [`Refund`]: the money its successful refund
/// transactions gave back (none: nothing was given back — a restock, or
/// a failed transaction).
fn refund(body: &Value) -> Option<Refund> {
    let amounts: Vec<String> = body
        .get("transactions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| t.get("kind").and_then(Value::as_str) == Some("refund") && t.get("status").and_then(Value::as_str) == Some("success"))
        .filter_map(|t| amount(t.get("amount")))
        .collect();
    if amounts.is_empty() {
        return None;
    }
    let amount = threadline_domain::order::add_amounts(&amounts.iter().map(String::as_str).collect::<Vec<_>>())?;
    Some(Refund {
        id: text(body.get("id")),
        amount,
        reason: note(body.get("note")),
        refunded_at: time(body.get("processed_at")).or_else(|| time(body.get("created_at"))),
    })
}

/// A Shopify order resource as [`OrderFacts`].
pub fn order(body: &Value) -> Result<OrderFacts, ShopError> {
    let missing = |field: &str| ShopError::Malformed(format!("{field}: missing"));
    let external_id = text(body.get("id")).ok_or_else(|| missing("id"))?;
    let number =
        text(body.get("name")).or_else(|| text(body.get("order_number")).map(|n| format!("#{n}"))).ok_or_else(|| missing("name"))?;
    let customer = body.get("customer").filter(|c| c.is_object());
    let shipping = body.get("shipping_address").filter(|a| a.is_object());
    let billing = body.get("billing_address").filter(|a| a.is_object());
    let from_customer = |key: &str| customer.and_then(|c| text(c.get(key)));
    let from_addresses = |key: &str| shipping.and_then(|a| text(a.get(key))).or_else(|| billing.and_then(|a| text(a.get(key))));
    let name = full_name(from_customer("first_name"), from_customer("last_name"))
        .or_else(|| from_addresses("name"))
        .or_else(|| full_name(from_addresses("first_name"), from_addresses("last_name")));
    let customer = OrderCustomer {
        // The order's own address is what the customer gave at checkout.
        email: text(body.get("email")).or_else(|| text(body.get("contact_email"))).or_else(|| from_customer("email")),
        phone: text(body.get("phone")).or_else(|| from_customer("phone")),
        name,
        reference: from_customer("id"),
        postcode: from_addresses("zip"),
    };
    let items = line_items(body, &["name", "title"], &["price"]);
    let shipments: Vec<Shipment> = body.get("fulfillments").and_then(Value::as_array).into_iter().flatten().filter_map(shipment).collect();
    let placed_at = time(body.get("created_at")).or_else(|| time(body.get("processed_at"))).ok_or_else(|| missing("created_at"))?;
    let updated_at = time(body.get("updated_at")).unwrap_or(placed_at);
    let status = status(body, &shipments);
    let refunds = body.get("refunds").and_then(Value::as_array).into_iter().flatten().filter_map(refund).collect();
    Ok(OrderFacts {
        external_id,
        number,
        status,
        currency: text(body.get("currency")).ok_or_else(|| missing("currency"))?,
        total: amount(body.get("total_price")).ok_or_else(|| ShopError::Malformed("total_price: not an amount".into()))?,
        customer,
        items,
        shipments,
        refunds,
        placed_at,
        updated_at,
    })
}

/// The order's status from Shopify's cancellation, financial and
/// fulfilment statuses.
fn status(body: &Value, shipments: &[Shipment]) -> OrderStatus {
    let financial = body.get("financial_status").and_then(Value::as_str).unwrap_or("");
    let fulfilment = body.get("fulfillment_status").and_then(Value::as_str).unwrap_or("");
    if !body.get("cancelled_at").is_none_or(Value::is_null) || financial == "voided" {
        OrderStatus::Cancelled
    } else if financial == "refunded" {
        OrderStatus::Refunded
    } else if !shipments.is_empty() && shipments.iter().all(Shipment::delivered) && fulfilment == "fulfilled" {
        OrderStatus::Delivered
    } else if matches!(fulfilment, "fulfilled" | "partial") || !shipments.is_empty() {
        OrderStatus::Shipped
    } else if financial == "pending" {
        OrderStatus::Pending
    } else {
        // paid, authorized, partially_paid, partially_refunded
        OrderStatus::Processing
    }
}

/// A fulfilment as a shipment (none for a cancelled or failed one).
fn shipment(fulfilment: &Value) -> Option<Shipment> {
    let state = fulfilment.get("status").and_then(Value::as_str).unwrap_or("");
    if matches!(state, "cancelled" | "error" | "failure") {
        return None;
    }
    let first = |single: &str, list: &str| {
        text(fulfilment.get(single)).or_else(|| fulfilment.get(list).and_then(Value::as_array).and_then(|l| text(l.first())))
    };
    Some(Shipment {
        id: text(fulfilment.get("id")),
        carrier: text(fulfilment.get("tracking_company")),
        tracking_number: first("tracking_number", "tracking_numbers"),
        tracking_url: first("tracking_url", "tracking_urls").filter(|u| u.starts_with("https://") || u.starts_with("http://")),
        status: text(fulfilment.get("shipment_status")),
        shipped_at: time(fulfilment.get("created_at")),
    })
}
