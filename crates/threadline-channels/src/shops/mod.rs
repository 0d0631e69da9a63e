//! Shops' order webhooks: Shopify and WooCommerce, read into
//! [`ShopEvent`]s. Like the messaging adapters, these do no I/O: they check
//! a delivery's signature and read its body; the server stores what they
//! return (`threadline_domain::order` decides what it means).
//!
//! Both shops sign the raw body with HMAC-SHA256 and send it base64-encoded
//! in a header (`X-Shopify-Hmac-Sha256`, `X-WC-Webhook-Signature`); the key
//! is the app's client secret (Shopify) or the webhook's secret
//! (WooCommerce).

pub mod shopify;
pub mod woocommerce;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use threadline_domain::order::{OrderFacts, OrderItem, Refund, Shipment};
use time::OffsetDateTime;

pub use crate::WebhookRequest;

/// A shop integration's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShopKind {
    Shopify,
    WooCommerce,
}

impl ShopKind {
    pub const ALL: [ShopKind; 2] = [ShopKind::Shopify, ShopKind::WooCommerce];

    pub fn as_str(self) -> &'static str {
        match self {
            ShopKind::Shopify => "shopify",
            ShopKind::WooCommerce => "woocommerce",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Checks a delivery's signature with the shop's secret.
    pub fn verify(self, request: &WebhookRequest<'_>, secret: &str) -> Result<(), ShopError> {
        match self {
            ShopKind::Shopify => shopify::verify(request, secret),
            ShopKind::WooCommerce => woocommerce::verify(request, secret),
        }
    }

    /// Reads a (verified) delivery.
    pub fn parse_delivery(self, request: &WebhookRequest<'_>) -> Result<ShopEvent, ShopError> {
        match self {
            ShopKind::Shopify => shopify::parse(request),
            ShopKind::WooCommerce => woocommerce::parse(request),
        }
    }
}

/// What a shop's webhook said.
#[derive(Debug, Clone, PartialEq)]
pub enum ShopEvent {
    /// The whole order, as the shop sees it now.
    Order(Box<OrderFacts>),
    /// A shipment of an order, reported on its own.
    Shipment { order_external_id: String, shipment: Shipment },
    /// A refund of an order, reported on its own.
    Refund { order_external_id: String, refund: Refund },
    /// Acknowledged, nothing to store (a topic we do not read, a deletion,
    /// the shop's test ping).
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShopError {
    #[error("signature missing or wrong: {0}")]
    Signature(String),
    #[error("malformed payload: {0}")]
    Malformed(String),
}

/// Checks a base64 HMAC-SHA256 of the body, in constant time.
fn check_hmac(request: &WebhookRequest<'_>, header: &str, secret: &str) -> Result<(), ShopError> {
    let given = request.header(header).ok_or_else(|| ShopError::Signature(format!("no {header} header")))?;
    let given = base64::engine::general_purpose::STANDARD
        .decode(given.trim())
        .map_err(|_| ShopError::Signature(format!("{header} is not base64")))?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| ShopError::Signature("the shop's secret is not usable".into()))?;
    mac.update(request.body);
    mac.verify_slice(&given).map_err(|_| ShopError::Signature(format!("{header} does not match the body")))
}

/// The base64 HMAC-SHA256 of `body` under `secret`, as both shops send it
/// (for tests and stand-ins).
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length: the error cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A JSON value as text: strings as they are, numbers written out (shops
/// send ids as numbers larger than 2^53, which must not pass through f64).
fn text(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// A free text a shop writes (a refund's note), cut to what an order may
/// hold, so a long one never makes the order unstorable.
fn note(value: Option<&Value>) -> Option<String> {
    text(value).map(|t| t.chars().take(threadline_domain::order::MAX_TEXT).collect::<String>().trim_end().to_owned())
}

/// An amount: a string as sent, a number written out.
fn amount(value: Option<&Value>) -> Option<String> {
    text(value).filter(|a| threadline_domain::order::is_amount(a))
}

fn time(value: Option<&Value>) -> Option<OffsetDateTime> {
    value.and_then(Value::as_str).and_then(threadline_domain::tracking::parse_time)
}

fn body_json(request: &WebhookRequest<'_>) -> Result<Value, ShopError> {
    let value: Value = serde_json::from_slice(request.body).map_err(|e| ShopError::Malformed(format!("the body is not JSON: {e}")))?;
    if let Some(field) = threadline_domain::validation::nul_in_json(&value) {
        return Err(ShopError::Malformed(format!("{field}: {}", threadline_domain::validation::NUL_MESSAGE)));
    }
    Ok(value)
}

/// "First Last", from whichever parts are there.
fn full_name(first: Option<String>, last: Option<String>) -> Option<String> {
    match (first, last) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (f, l) => f.or(l),
    }
}

/// An order's `line_items`: each line's name from the first of `names`
/// it has, its price from the first of `prices` (a line without a name is
/// skipped; without a quantity it counts once).
fn line_items(body: &Value, names: &[&str], prices: &[&str]) -> Vec<OrderItem> {
    let lines = body.get("line_items").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    lines
        .iter()
        .filter_map(|line| {
            Some(OrderItem {
                name: names.iter().find_map(|k| text(line.get(*k)))?,
                sku: text(line.get("sku")),
                quantity: line.get("quantity").and_then(Value::as_i64).unwrap_or(1),
                price: prices.iter().find_map(|k| amount(line.get(*k))).unwrap_or_else(|| "0".into()),
            })
        })
        .collect()
}

/// Checks what a shop sent like any order, so a bad field is named.
fn checked(order: OrderFacts) -> Result<ShopEvent, ShopError> {
    match order.check() {
        Ok(()) => Ok(ShopEvent::Order(Box::new(order))),
        Err(errors) => {
            Err(ShopError::Malformed(errors.0.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ")))
        }
    }
}
