//! Orders: what a customer bought from the business's shop, where it is
//! and what became of it. Orders arrive as the shop's signed webhooks
//! (Shopify, WooCommerce; read in `threadline-channels`) or through the
//! order API, always as the whole order as the shop sees it now
//! ([`OrderFacts`]), except a shipment reported on its own ([`Shipment`]).
//!
//! The rules here decide what an arriving version of an order means:
//! - Shops deliver webhooks at least once and in no guaranteed order, so a
//!   version older than the one stored is dropped and one with the same
//!   time is a redelivery ([`update`]).
//! - What changed becomes the customer's events, named as Segment's
//!   e-commerce spec names them where it has a name (`Order Completed`,
//!   `Order Updated`, `Order Cancelled`, `Order Refunded`) and, for what
//!   the spec leaves out, `Order Shipped` and `Order Delivered`. Each event
//!   carries a key unique to the order and the change, so it is stored once
//!   however often the shop repeats itself. Journeys and segments read
//!   these events like any tracked call: an abandoned-cart journey whose
//!   goal is `Order Completed` is met by a purchase the shop reports.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::conversation::string_enum;
use crate::ids::{ContactId, OrderId, OrderSourceId};
use crate::validation::ValidationErrors;

string_enum! {
    /// Where an order is in its life. Shops name more states; each maps to
    /// the one a customer would recognise.
    OrderStatus {
        /// Placed, awaiting payment.
        Pending => "pending",
        /// Paid, being prepared.
        Processing => "processing",
        /// Held by the shop (e.g. a payment to confirm).
        OnHold => "on_hold",
        /// Handed to the carrier (all or part of it).
        Shipped => "shipped",
        /// The carrier reports it delivered.
        Delivered => "delivered",
        Cancelled => "cancelled",
        Refunded => "refunded",
        /// The payment failed; the order never went ahead.
        Failed => "failed",
    }
}

impl OrderStatus {
    /// Whether the customer has bought (the order went ahead).
    pub fn is_placed(self) -> bool {
        !matches!(self, OrderStatus::Failed | OrderStatus::Cancelled)
    }
}

/// A line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderItem {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    pub quantity: i64,
    /// The unit price, as the shop writes it (a decimal, e.g. "29.95").
    pub price: String,
}

/// A parcel on its way: the carrier and how to follow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Shipment {
    /// The shop's id for the shipment, when it has one (a later report
    /// about the same shipment replaces it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
    /// The carrier's last word, e.g. `in_transit`, `delivered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub shipped_at: Option<OffsetDateTime>,
}

impl Shipment {
    pub fn delivered(&self) -> bool {
        self.status.as_deref() == Some("delivered")
    }

    fn same_as(&self, other: &Shipment) -> bool {
        match (&self.id, &other.id) {
            (Some(a), Some(b)) => a == b,
            _ => self.tracking_number.is_some() && self.tracking_number == other.tracking_number,
        }
    }
}

/// Money given back on an order (all of it, or part).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Refund {
    /// The shop's id for the refund (a later report of the same refund
    /// replaces it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// How much, in the order's currency, as the shop writes it ("75.00").
    pub amount: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub refunded_at: Option<OffsetDateTime>,
}

impl Refund {
    fn same_as(&self, other: &Refund) -> bool {
        match (&self.id, &other.id) {
            (Some(a), Some(b)) => a == b,
            (None, None) => self.amount == other.amount && self.refunded_at == other.refunded_at,
            _ => false,
        }
    }
}

/// The sum of amounts, written with as many decimals as the most precise
/// of them (at least two): "75.00" + "14.5" = "89.50". None if one is not
/// an amount.
pub fn add_amounts(amounts: &[&str]) -> Option<String> {
    let mut sum = 0i128;
    let mut digits = 2;
    for amount in amounts {
        sum += millionths(amount)?;
        digits = digits.max(amount.split_once('.').map_or(0, |(_, f)| f.len()));
    }
    Some(write_millionths(sum, digits))
}

fn write_millionths(value: i128, digits: usize) -> String {
    let digits = digits.min(6);
    let scaled = value.abs() / 10i128.pow(6 - digits as u32);
    let unit = 10i128.pow(digits as u32);
    let sign = if value < 0 { "-" } else { "" };
    format!("{sign}{}.{:0width$}", scaled / unit, scaled % unit, width = digits)
}

/// An amount in millionths (the finest [`is_amount`] allows), to add and compare.
fn millionths(amount: &str) -> Option<i128> {
    if !is_amount(amount) {
        return None;
    }
    let negative = amount.starts_with('-');
    let digits = amount.trim_start_matches('-');
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let value = whole.parse::<i128>().ok()? * 1_000_000 + format!("{fraction:0<6}").parse::<i128>().ok()?;
    Some(if negative { -value } else { value })
}

/// Who placed an order, as the shop knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderCustomer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The shop's id for the customer (absent for a guest checkout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The delivery postcode (what a customer quotes with an order number
    /// to prove it is theirs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
}

/// An order as the shop sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderFacts {
    /// The shop's id for the order (unique per shop).
    pub external_id: String,
    /// The number the customer knows it by, e.g. "#1001".
    pub number: String,
    pub status: OrderStatus,
    /// ISO 4217, e.g. "EUR".
    pub currency: String,
    /// The order's total, as the shop writes it (a decimal, e.g. "59.90").
    pub total: String,
    #[serde(default)]
    pub customer: OrderCustomer,
    #[serde(default)]
    pub items: Vec<OrderItem>,
    #[serde(default)]
    pub shipments: Vec<Shipment>,
    /// Money given back, refund by refund.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunds: Vec<Refund>,
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
    /// When the shop last changed it: a version older than the stored one
    /// is ignored.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Text fields: at most this many characters.
pub const MAX_TEXT: usize = 500;
/// At most this many lines and shipments in one order.
pub const MAX_LINES: usize = 500;

/// Whether `text` is a plain decimal amount ("59.90", "-3", "0.5").
pub fn is_amount(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.len() <= 15
        && fraction.len() <= 6
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

impl OrderFacts {
    /// Checks what an order says before it is stored, naming each bad field.
    pub fn check(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut text = |value: &str, field: &str, required: bool| {
            if required && value.trim().is_empty() {
                errors.push(field, "must not be empty");
            } else if value.chars().count() > MAX_TEXT {
                errors.push(field, format!("must be at most {MAX_TEXT} characters"));
            } else if value.contains('\0') {
                errors.push(field, crate::validation::NUL_MESSAGE);
            }
        };
        text(&self.external_id, "external_id", true);
        text(&self.number, "number", true);
        let optional = [
            (&self.customer.email, "customer.email"),
            (&self.customer.phone, "customer.phone"),
            (&self.customer.name, "customer.name"),
            (&self.customer.reference, "customer.reference"),
            (&self.customer.postcode, "customer.postcode"),
        ];
        for (value, field) in optional {
            if let Some(v) = value {
                text(v, field, false);
            }
        }
        for (i, item) in self.items.iter().enumerate() {
            text(&item.name, &format!("items[{i}].name"), true);
            if let Some(sku) = &item.sku {
                text(sku, &format!("items[{i}].sku"), false);
            }
        }
        for (i, shipment) in self.shipments.iter().enumerate() {
            for (value, name) in [
                (&shipment.id, "id"),
                (&shipment.carrier, "carrier"),
                (&shipment.tracking_number, "tracking_number"),
                (&shipment.tracking_url, "tracking_url"),
                (&shipment.status, "status"),
            ] {
                if let Some(v) = value {
                    text(v, &format!("shipments[{i}].{name}"), false);
                }
            }
        }
        if !(self.currency.len() == 3 && self.currency.bytes().all(|b| b.is_ascii_uppercase())) {
            errors.push("currency", "must be an ISO 4217 code in capitals, e.g. EUR");
        }
        if !is_amount(&self.total) {
            errors.push("total", "must be a decimal amount, e.g. 59.90");
        }
        for (i, item) in self.items.iter().enumerate() {
            if !is_amount(&item.price) {
                errors.push(format!("items[{i}].price"), "must be a decimal amount, e.g. 29.95");
            }
            if !(0..=1_000_000).contains(&item.quantity) {
                errors.push(format!("items[{i}].quantity"), "must be between 0 and 1000000");
            }
        }
        if self.items.len() > MAX_LINES {
            errors.push("items", format!("at most {MAX_LINES} lines"));
        }
        if self.shipments.len() > MAX_LINES {
            errors.push("shipments", format!("at most {MAX_LINES} shipments"));
        }
        if self.refunds.len() > MAX_LINES {
            errors.push("refunds", format!("at most {MAX_LINES} refunds"));
        }
        for (i, refund) in self.refunds.iter().enumerate() {
            if !is_amount(&refund.amount) || refund.amount.starts_with('-') {
                errors.push(format!("refunds[{i}].amount"), "must be a decimal amount, e.g. 75.00");
            }
            for (value, name) in [(&refund.id, "id"), (&refund.reason, "reason")] {
                if let Some(v) = value
                    && (v.chars().count() > MAX_TEXT || v.contains('\0'))
                {
                    errors.push(format!("refunds[{i}].{name}"), format!("at most {MAX_TEXT} characters of text"));
                }
            }
        }
        for shipment in &self.shipments {
            if let Some(url) = &shipment.tracking_url
                && !(url.starts_with("https://") || url.starts_with("http://"))
            {
                errors.push("shipments.tracking_url", "must be an http(s) address");
                break;
            }
        }
        errors.into_result(())
    }

    /// How much has been refunded, as a decimal ("75.00"); none when nothing.
    pub fn refunded(&self) -> Option<String> {
        let amounts: Vec<&str> = self.refunds.iter().map(|r| r.amount.as_str()).collect();
        add_amounts(&amounts).filter(|sum| millionths(sum).is_some_and(|v| v > 0))
    }

    /// Adds a refund reported on its own, or replaces the report it
    /// updates; once refunds reach the order's total, the order is
    /// refunded. True if anything changed.
    pub fn merge_refund(&mut self, refund: Refund) -> bool {
        match self.refunds.iter_mut().find(|r| r.same_as(&refund)) {
            Some(existing) if *existing == refund => return false,
            Some(existing) => *existing = refund,
            None => self.refunds.push(refund),
        }
        let refunded: i128 = self.refunds.iter().filter_map(|r| millionths(&r.amount)).sum();
        if self.status.is_placed() && millionths(&self.total).is_some_and(|total| refunded >= total) {
            self.status = OrderStatus::Refunded;
        }
        true
    }

    /// Adds a shipment reported on its own, or replaces the report it
    /// updates; the status follows (shipped, or delivered when every
    /// parcel is). True if anything changed.
    pub fn merge_shipment(&mut self, shipment: Shipment) -> bool {
        match self.shipments.iter_mut().find(|s| s.same_as(&shipment)) {
            Some(existing) if *existing == shipment => return false,
            Some(existing) => *existing = shipment,
            None => self.shipments.push(shipment),
        }
        if matches!(self.status, OrderStatus::Pending | OrderStatus::Processing | OrderStatus::OnHold | OrderStatus::Shipped) {
            self.status = if self.shipments.iter().all(Shipment::delivered) { OrderStatus::Delivered } else { OrderStatus::Shipped };
        }
        true
    }
}

/// One thing that happened to an order, as a customer event.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderEvent {
    /// The event's name, e.g. `Order Completed`.
    pub name: &'static str,
    /// Unique to the order and this change: stored once, however often the
    /// shop repeats it.
    pub key: String,
    pub properties: Map<String, Value>,
    pub occurred_at: OffsetDateTime,
}

pub const ORDER_COMPLETED: &str = crate::tracking::ORDER_COMPLETED;
pub const ORDER_UPDATED: &str = "Order Updated";
pub const ORDER_CANCELLED: &str = "Order Cancelled";
pub const ORDER_REFUNDED: &str = "Order Refunded";
pub const ORDER_SHIPPED: &str = "Order Shipped";
pub const ORDER_DELIVERED: &str = "Order Delivered";

/// What an arriving version of an order means.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// Older than the stored version: dropped.
    Stale,
    /// The stored version again (a redelivery), or nothing a customer
    /// would notice changed.
    Unchanged,
    /// Store it; these events happened.
    Changed(Vec<OrderEvent>),
}

/// Decides what `next` means after `previous` (the stored version, if any).
pub fn update(previous: Option<&OrderFacts>, next: &OrderFacts) -> Update {
    if let Some(previous) = previous {
        if next.updated_at < previous.updated_at {
            return Update::Stale;
        }
        if next == previous || (next.updated_at == previous.updated_at && same_for_customer(previous, next)) {
            return Update::Unchanged;
        }
    }
    Update::Changed(events(previous, next))
}

/// Whether two versions differ only in what nobody sees (the shop's clock).
fn same_for_customer(a: &OrderFacts, b: &OrderFacts) -> bool {
    a.status == b.status
        && a.total == b.total
        && a.items == b.items
        && a.shipments == b.shipments
        && a.refunds == b.refunds
        && a.customer == b.customer
}

/// The events `next` brings after `previous`.
pub fn events(previous: Option<&OrderFacts>, next: &OrderFacts) -> Vec<OrderEvent> {
    let at = next.updated_at;
    let mut out = Vec::new();
    let was_placed = previous.is_some_and(|p| p.status.is_placed());
    if next.status.is_placed() && !was_placed {
        out.push(event(ORDER_COMPLETED, "completed".into(), next, next.placed_at, None));
    }
    let before = previous.map(|p| p.status);
    for shipment in &next.shipments {
        let known = previous.is_some_and(|p| p.shipments.iter().any(|s| s.same_as(shipment)));
        if !known {
            let key = format!("shipped:{}", shipment_key(shipment, next));
            out.push(event(ORDER_SHIPPED, key, next, shipment.shipped_at.unwrap_or(at), Some(shipment)));
        }
    }
    for refund in &next.refunds {
        let known = previous.is_some_and(|p| p.refunds.iter().any(|r| r.same_as(refund)));
        if !known {
            let key = match &refund.id {
                Some(id) => format!("refunded:{id}"),
                None => format!("refunded:{}@{}", refund.amount, refund.refunded_at.map_or(0, |t| t.unix_timestamp())),
            };
            let mut refunded = event(ORDER_REFUNDED, key, next, refund.refunded_at.unwrap_or(at), None);
            refunded.properties.insert("refund_amount".into(), json!(refund.amount));
            if let Some(reason) = &refund.reason {
                refunded.properties.insert("reason".into(), json!(reason));
            }
            out.push(refunded);
        }
    }
    if next.status != before.unwrap_or(next.status) || previous.is_none() {
        match next.status {
            OrderStatus::Cancelled if before.is_some() => out.push(event(ORDER_CANCELLED, "cancelled".into(), next, at, None)),
            // Said once: by the refund that made it, when the shop reported one.
            OrderStatus::Refunded if !out.iter().any(|e| e.name == ORDER_REFUNDED) => {
                out.push(event(ORDER_REFUNDED, "refunded".into(), next, at, None))
            }
            OrderStatus::Delivered => out.push(event(ORDER_DELIVERED, "delivered".into(), next, at, None)),
            OrderStatus::Shipped if previous.is_some() && !out.iter().any(|e| e.name == ORDER_SHIPPED) && next.shipments.is_empty() => {
                // Marked shipped without a tracked parcel.
                out.push(event(ORDER_SHIPPED, "shipped".into(), next, at, None));
            }
            _ => {}
        }
    }
    if out.is_empty() && previous.is_some() {
        let key = format!("updated:{}", next.updated_at.unix_timestamp_nanos() / 1000);
        out.push(event(ORDER_UPDATED, key, next, at, None));
    }
    out
}

fn shipment_key(shipment: &Shipment, order: &OrderFacts) -> String {
    shipment
        .id
        .clone()
        .or_else(|| shipment.tracking_number.clone())
        .unwrap_or_else(|| order.shipments.iter().position(|s| s == shipment).unwrap_or(0).to_string())
}

/// An event's properties, as Segment's e-commerce spec names them
/// (`order_id`, `total`, `currency`, `products`), with the order's number
/// and status, and the parcel for a shipment.
fn event(name: &'static str, key: String, order: &OrderFacts, at: OffsetDateTime, shipment: Option<&Shipment>) -> OrderEvent {
    let products: Vec<Value> =
        order.items.iter().map(|i| json!({ "name": i.name, "sku": i.sku, "quantity": i.quantity, "price": i.price })).collect();
    let mut properties = Map::new();
    properties.insert("order_id".into(), json!(order.external_id));
    properties.insert("order_number".into(), json!(order.number));
    properties.insert("status".into(), json!(order.status));
    properties.insert("total".into(), json!(order.total));
    properties.insert("currency".into(), json!(order.currency));
    properties.insert("products".into(), Value::Array(products));
    if let Some(s) = shipment {
        for (k, v) in [("carrier", &s.carrier), ("tracking_number", &s.tracking_number), ("tracking_url", &s.tracking_url)] {
            if let Some(v) = v {
                properties.insert(k.into(), json!(v));
            }
        }
    }
    OrderEvent { name, key, properties, occurred_at: at }
}

/// The status a customer reads, in Italian or English.
pub fn status_label(status: OrderStatus, language: &str) -> &'static str {
    let italian = language.starts_with("it");
    match (status, italian) {
        (OrderStatus::Pending, false) => "awaiting payment",
        (OrderStatus::Pending, true) => "in attesa di pagamento",
        (OrderStatus::Processing, false) => "being prepared",
        (OrderStatus::Processing, true) => "in preparazione",
        (OrderStatus::OnHold, false) => "on hold",
        (OrderStatus::OnHold, true) => "in sospeso",
        (OrderStatus::Shipped, false) => "shipped",
        (OrderStatus::Shipped, true) => "spedito",
        (OrderStatus::Delivered, false) => "delivered",
        (OrderStatus::Delivered, true) => "consegnato",
        (OrderStatus::Cancelled, false) => "cancelled",
        (OrderStatus::Cancelled, true) => "annullato",
        (OrderStatus::Refunded, false) => "refunded",
        (OrderStatus::Refunded, true) => "rimborsato",
        (OrderStatus::Failed, false) => "payment failed",
        (OrderStatus::Failed, true) => "pagamento non riuscito",
    }
}

/// An order as the customer's `order` attribute for journeys: its number,
/// status, total, currency, when it was placed, and the latest parcel's
/// carrier, tracking number and link.
pub fn as_attribute(order: &OrderFacts) -> Value {
    let parcel = order.shipments.last();
    json!({
        "number": order.number,
        "status": order.status,
        "total": order.total,
        "currency": order.currency,
        "placed_at": order.placed_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "carrier": parcel.and_then(|p| p.carrier.clone()),
        "tracking_number": parcel.and_then(|p| p.tracking_number.clone()),
        "tracking_url": parcel.and_then(|p| p.tracking_url.clone()),
    })
}

/// "Where is my order?" — the question a shop's customers ask most, and
/// one the bot answers from the order itself, on any channel. An order is
/// described only to its own customer: the one it is stored on, or
/// someone who quotes its number with the e-mail address or postcode it
/// was placed with ([`proves_ownership`]). A number that matches no order
/// and one that matches an order not proven theirs get the same answer, so
/// nobody learns which order numbers exist.
const ASKS_WHERE: &[&str] = &[
    "where is my order",
    "where s my order",
    "where is my package",
    "where is my parcel",
    "order status",
    "status of my order",
    "track my order",
    "tracking number",
    "has my order shipped",
    "has my order been shipped",
    "when will my order arrive",
    "when will i get my order",
    "my order hasn t arrived",
    "my order has not arrived",
    "haven t received my order",
    "not received my order",
    "dov e il mio ordine",
    "dove e il mio ordine",
    "dov e il mio pacco",
    "dove e il mio pacco",
    "stato dell ordine",
    "stato del mio ordine",
    "il mio ordine",
    "il mio pacco",
    "la mia spedizione",
    "numero di tracciamento",
    "quando arriva",
    "non e ancora arrivato",
    "non ho ricevuto",
    "e stato spedito",
];

/// Whether the customer asks where their order is.
pub fn asks_where(text: &str) -> bool {
    let folded = crate::text::padded(text);
    ASKS_WHERE.iter().any(|p| crate::text::contains_phrase(&folded, p))
}

/// Words that come before an order number ("order 1001", "ordine n. 1001").
const NUMBER_WORDS: &[&str] = &["order", "orders", "ordine", "ordini", "ordinazione"];
const CONNECTIVES: &[&str] = &["n", "no", "nr", "n°", "num", "number", "numero", "is", "e", "#"];

/// The order numbers a message quotes, as the store may hold them: "#1001"
/// and "1001" for each (shops write them either way). At most three.
pub fn order_numbers_in(text: &str) -> Vec<String> {
    let tokens: Vec<String> = text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '(' | ')' | '?' | '!' | '"' | '\''))
        .map(|t| t.trim_end_matches('.').to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let looks_like_number = |t: &str| {
        let t = t.trim_start_matches('#');
        (3..=30).contains(&t.len())
            && t.bytes().any(|b| b.is_ascii_digit())
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !t.contains('@')
    };
    let mut found: Vec<String> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let candidate = if token.starts_with('#') && looks_like_number(token) {
            Some(token.clone())
        } else if NUMBER_WORDS.contains(&token.as_str()) {
            tokens[i + 1..].iter().take(3).find(|t| !CONNECTIVES.contains(&t.as_str())).filter(|t| looks_like_number(t)).cloned()
        } else {
            None
        };
        if let Some(c) = candidate {
            let bare = c.trim_start_matches('#').to_uppercase();
            for form in [format!("#{bare}"), bare] {
                if !found.contains(&form) {
                    found.push(form);
                }
            }
        }
        if found.len() >= 6 {
            break;
        }
    }
    found
}

/// Whether `text` quotes the e-mail address or the postcode `order` was
/// placed with.
pub fn proves_ownership(order: &OrderFacts, text: &str) -> bool {
    let lower = text.to_lowercase();
    if let Some(email) = &order.customer.email
        && email.len() >= 3
        && lower
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '<' | '>'))
            .any(|w| w.trim_end_matches(['.', ':']).eq_ignore_ascii_case(email.trim()))
    {
        return true;
    }
    let Some(postcode) = &order.customer.postcode else { return false };
    let wanted: String = postcode.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_uppercase();
    if wanted.len() < 3 {
        return false;
    }
    let tokens: Vec<String> = text.split(|c: char| !c.is_ascii_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_uppercase).collect();
    // A postcode written in two parts ("SW1A 1AA") is two tokens.
    tokens.contains(&wanted) || tokens.windows(2).any(|w| format!("{}{}", w[0], w[1]) == wanted)
}

/// Where an order is, for its customer, in Italian or English.
pub fn where_is(order: &OrderFacts, language: Option<&str>) -> String {
    let italian = language == Some("it");
    let date = format!("{}-{:02}-{:02}", order.placed_at.year(), u8::from(order.placed_at.month()), order.placed_at.day());
    let parcel = order.shipments.last().map(|s| {
        let carrier = s.carrier.as_deref();
        let number = s.tracking_number.as_deref();
        let text = match (carrier, number, italian) {
            (Some(c), Some(n), false) => format!(" with {c} (tracking number {n})"),
            (Some(c), Some(n), true) => format!(" con {c} (numero di tracciamento {n})"),
            (Some(c), None, false) => format!(" with {c}"),
            (Some(c), None, true) => format!(" con {c}"),
            (None, Some(n), false) => format!(" (tracking number {n})"),
            (None, Some(n), true) => format!(" (numero di tracciamento {n})"),
            (None, None, _) => String::new(),
        };
        let follow = match &s.tracking_url {
            Some(url) if italian => format!(" Puoi seguirlo qui: {url}"),
            Some(url) => format!(" You can follow it here: {url}"),
            None => String::new(),
        };
        (text, follow)
    });
    let (parcel, follow) = parcel.unwrap_or_default();
    let state = match (order.status, italian) {
        (OrderStatus::Pending, false) => "is awaiting payment.".to_owned(),
        (OrderStatus::Pending, true) => "è in attesa del pagamento.".to_owned(),
        (OrderStatus::Processing, false) => "is being prepared: you will get the tracking number as soon as it ships.".to_owned(),
        (OrderStatus::Processing, true) => "è in preparazione: riceverai il numero di tracciamento appena partirà.".to_owned(),
        (OrderStatus::OnHold, false) => "is on hold: a colleague will look into it.".to_owned(),
        (OrderStatus::OnHold, true) => "è in sospeso: un collega se ne occuperà.".to_owned(),
        (OrderStatus::Shipped, false) => format!("has shipped{parcel}."),
        (OrderStatus::Shipped, true) => format!("è stato spedito{parcel}."),
        (OrderStatus::Delivered, false) => format!("was delivered{parcel}."),
        (OrderStatus::Delivered, true) => format!("è stato consegnato{parcel}."),
        (OrderStatus::Cancelled, false) => "was cancelled.".to_owned(),
        (OrderStatus::Cancelled, true) => "è stato annullato.".to_owned(),
        (OrderStatus::Refunded, false) => "was refunded.".to_owned(),
        (OrderStatus::Refunded, true) => "è stato rimborsato.".to_owned(),
        (OrderStatus::Failed, false) => "was not placed: the payment did not go through.".to_owned(),
        (OrderStatus::Failed, true) => "non è stato completato: il pagamento non è andato a buon fine.".to_owned(),
    };
    // The link only where the parcel is news (not for a cancelled order).
    let mut follow = if matches!(order.status, OrderStatus::Shipped | OrderStatus::Delivered) { follow } else { String::new() };
    // Part of it given back.
    if order.status != OrderStatus::Refunded
        && let Some(refunded) = order.refunded()
    {
        follow.push_str(&if italian {
            format!(" Ti abbiamo rimborsato {refunded} {}.", order.currency)
        } else {
            format!(" {refunded} {} of it has been refunded to you.", order.currency)
        });
    }
    if italian {
        format!("Il tuo ordine {} del {date} ({} {}) {state}{follow}", order.number, order.total, order.currency)
    } else {
        format!("Your order {} of {date} ({} {}) {state}{follow}", order.number, order.total, order.currency)
    }
}

/// How the bot answers a message about an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderReply {
    /// Where this order (by its number) is.
    Status { number: String, text: String },
    /// Ask for the order's number with the e-mail address or postcode it
    /// was placed with.
    AskForDetails(String),
}

/// Decides the bot's answer to `text` about an order, if it is about one.
/// `named`: the orders whose number the text quotes, each with whether it
/// is the asking customer's own; `own`: the customer's latest orders,
/// newest first; `orders_known`: whether the account has any order at all
/// — without a shop sending orders there is nothing to look up, and the
/// question is left to the knowledge base.
pub fn order_reply(
    text: &str,
    language: Option<&str>,
    named: &[(&OrderFacts, bool)],
    own: &[&OrderFacts],
    orders_known: bool,
) -> Option<OrderReply> {
    if !orders_known && named.is_empty() && own.is_empty() {
        return None;
    }
    let italian = language == Some("it");
    let quoted = !order_numbers_in(text).is_empty();
    let ask = |unmatched: bool| {
        OrderReply::AskForDetails(
            match (unmatched, italian) {
                (true, false) => "I could not match that order to you. Please write the order number together with the e-mail address or the postcode it was placed with.",
                (true, true) => "Non riesco ad abbinare quell'ordine a te. Scrivimi il numero dell'ordine insieme all'indirizzo e-mail o al CAP con cui è stato fatto.",
                (false, false) => "I can check that for you: please write the order number together with the e-mail address or the postcode it was placed with.",
                (false, true) => "Posso controllare subito: scrivimi il numero dell'ordine insieme all'indirizzo e-mail o al CAP con cui è stato fatto.",
            }
            .to_owned(),
        )
    };
    let status = |o: &OrderFacts| OrderReply::Status { number: o.number.clone(), text: where_is(o, language) };
    if quoted {
        return Some(match named.iter().find(|(o, mine)| *mine || proves_ownership(o, text)) {
            Some((o, _)) => status(o),
            None => ask(true),
        });
    }
    if !asks_where(text) {
        return None;
    }
    Some(match own.first() {
        Some(o) => status(o),
        None => ask(false),
    })
}

/// A stored order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Order {
    pub id: OrderId,
    pub contact_id: ContactId,
    /// `shopify`, `woocommerce` or `api`.
    pub source: String,
    /// The shop it came from (none for the order API).
    pub source_id: Option<OrderSourceId>,
    #[serde(flatten)]
    pub facts: OrderFacts,
    /// When Threadline first stored it.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When Threadline last stored a newer version (`updated_at` is the
    /// shop's own time of that version).
    #[serde(with = "time::serde::rfc3339")]
    pub stored_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn order() -> OrderFacts {
        OrderFacts {
            external_id: "820982911946154508".into(),
            number: "#9999".into(),
            status: OrderStatus::Processing,
            currency: "EUR".into(),
            total: "59.90".into(),
            customer: OrderCustomer { email: Some("jon@example.com".into()), ..OrderCustomer::default() },
            items: vec![OrderItem { name: "Tazza".into(), sku: Some("T-1".into()), quantity: 2, price: "29.95".into() }],
            shipments: Vec::new(),
            refunds: Vec::new(),
            placed_at: datetime!(2026-12-01 10:00 UTC),
            updated_at: datetime!(2026-12-01 10:00 UTC),
        }
    }

    fn names(update: Update) -> Vec<&'static str> {
        match update {
            Update::Changed(events) => events.iter().map(|e| e.name).collect(),
            other => panic!("expected a change, got {other:?}"),
        }
    }

    #[test]
    fn a_new_order_is_completed_once_and_a_redelivery_changes_nothing() {
        let first = order();
        let Update::Changed(events) = update(None, &first) else { panic!() };
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].name, events[0].key.as_str()), (ORDER_COMPLETED, "completed"));
        assert_eq!(events[0].occurred_at, first.placed_at);
        assert_eq!(events[0].properties["total"], "59.90");
        assert_eq!(events[0].properties["products"][0]["quantity"], 2);
        assert_eq!(update(Some(&first), &first.clone()), Update::Unchanged);
    }

    #[test]
    fn an_older_version_arriving_late_is_dropped() {
        let mut shipped = order();
        shipped.updated_at = datetime!(2026-12-02 09:00 UTC);
        shipped.status = OrderStatus::Shipped;
        assert_eq!(update(Some(&shipped), &order()), Update::Stale);
    }

    #[test]
    fn refunds_are_events_and_refunding_the_total_refunds_the_order() {
        let placed = order();
        let refund = |id: &str, amount: &str| Refund {
            id: Some(id.into()),
            amount: amount.into(),
            reason: Some("Things were damaged".into()),
            refunded_at: Some(datetime!(2026-12-03 10:00 UTC)),
        };
        // Part of it: an event with the amount; the order stays as it was.
        let mut partly = placed.clone();
        assert!(partly.merge_refund(refund("890088186047892319", "20.00")));
        assert!(!partly.merge_refund(refund("890088186047892319", "20.00")), "the same report again changes nothing");
        assert_eq!(partly.status, placed.status);
        assert_eq!(partly.refunded().as_deref(), Some("20.00"));
        let Update::Changed(events) = update(Some(&placed), &partly) else { panic!() };
        assert_eq!(names(Update::Changed(events.clone())), [ORDER_REFUNDED]);
        assert_eq!(events[0].key, "refunded:890088186047892319");
        assert_eq!(
            (events[0].properties["refund_amount"].as_str(), events[0].properties["reason"].as_str()),
            (Some("20.00"), Some("Things were damaged"))
        );
        assert!(where_is(&partly, Some("en")).contains("20.00 EUR of it has been refunded to you."), "{}", where_is(&partly, Some("en")));
        // The rest: one event for that refund, and the order is refunded (no second event for the status).
        let mut fully = partly.clone();
        assert!(fully.merge_refund(refund("890088186047892320", &format!("{:.2}", 59.90 - 20.00))));
        assert_eq!(fully.status, OrderStatus::Refunded);
        assert_eq!(fully.refunded().as_deref(), Some("59.90"));
        let Update::Changed(events) = update(Some(&partly), &fully) else { panic!() };
        assert_eq!(events.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["refunded:890088186047892320"]);
        // A refund must be an amount.
        let mut bad = placed.clone();
        bad.refunds.push(refund("x", "-5"));
        assert!(bad.check().unwrap_err().0.iter().any(|f| f.field == "refunds[0].amount"));
        assert_eq!(millionths("59.9"), Some(59_900_000));
        assert_eq!(add_amounts(&["75.00", "14.5"]).as_deref(), Some("89.50"));
        assert_eq!(add_amounts(&["1.125", "2"]).as_deref(), Some("3.125"));
        assert_eq!(add_amounts(&["1", "x"]), None);
    }

    #[test]
    fn shipping_cancelling_and_refunding_are_their_own_events() {
        let placed = order();
        let mut shipped = placed.clone();
        shipped.updated_at += time::Duration::hours(20);
        shipped.status = OrderStatus::Shipped;
        shipped.shipments.push(Shipment {
            id: Some("255858046".into()),
            carrier: Some("UPS".into()),
            tracking_number: Some("1Z2345".into()),
            tracking_url: Some("https://www.ups.com/WebTracking?loc=en&track=yes&trackNums=1Z2345".into()),
            status: None,
            shipped_at: None,
        });
        let Update::Changed(events) = update(Some(&placed), &shipped) else { panic!() };
        assert_eq!(events.iter().map(|e| e.name).collect::<Vec<_>>(), [ORDER_SHIPPED]);
        assert_eq!(events[0].properties["tracking_number"], "1Z2345");
        assert_eq!(events[0].key, "shipped:255858046");

        let mut delivered = shipped.clone();
        delivered.updated_at += time::Duration::days(1);
        assert!(delivered.merge_shipment(Shipment { status: Some("delivered".into()), ..shipped.shipments[0].clone() }));
        assert_eq!(delivered.status, OrderStatus::Delivered);
        assert_eq!(names(update(Some(&shipped), &delivered)), [ORDER_DELIVERED]);

        let mut cancelled = placed.clone();
        cancelled.updated_at += time::Duration::hours(1);
        cancelled.status = OrderStatus::Cancelled;
        assert_eq!(names(update(Some(&placed), &cancelled)), [ORDER_CANCELLED]);
        let mut refunded = placed.clone();
        refunded.updated_at += time::Duration::hours(1);
        refunded.status = OrderStatus::Refunded;
        assert_eq!(names(update(Some(&placed), &refunded)), [ORDER_REFUNDED]);
    }

    #[test]
    fn an_order_first_seen_failed_is_completed_only_when_paid() {
        let mut failed = order();
        failed.status = OrderStatus::Failed;
        assert_eq!(update(None, &failed), Update::Changed(Vec::new()));
        let mut paid = order();
        paid.updated_at += time::Duration::minutes(5);
        assert_eq!(names(update(Some(&failed), &paid)), [ORDER_COMPLETED]);
    }

    #[test]
    fn other_changes_are_an_order_update_keyed_by_version() {
        let placed = order();
        let mut more = placed.clone();
        more.updated_at += time::Duration::minutes(5);
        more.items[0].quantity = 3;
        more.total = "89.85".into();
        let Update::Changed(events) = update(Some(&placed), &more) else { panic!() };
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].name, ORDER_UPDATED);
        assert!(events[0].key.starts_with("updated:"));
    }

    #[test]
    fn a_merged_shipment_report_replaces_the_earlier_one() {
        let mut o = order();
        let parcel = Shipment {
            id: Some("1".into()),
            carrier: Some("BRT".into()),
            tracking_number: Some("A1".into()),
            tracking_url: None,
            status: Some("in_transit".into()),
            shipped_at: None,
        };
        assert!(o.merge_shipment(parcel.clone()));
        assert!(!o.merge_shipment(parcel.clone()), "the same report twice changes nothing");
        assert_eq!(o.status, OrderStatus::Shipped);
        assert!(o.merge_shipment(Shipment { status: Some("delivered".into()), ..parcel }));
        assert_eq!((o.shipments.len(), o.status), (1, OrderStatus::Delivered));
    }

    #[test]
    fn bad_orders_are_refused_field_by_field() {
        let mut bad = order();
        bad.currency = "euro".into();
        bad.total = "59,90".into();
        bad.items[0].quantity = -1;
        bad.external_id = " ".into();
        let fields: Vec<String> = bad.check().unwrap_err().0.into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["external_id", "currency", "total", "items[0].quantity"]);
        assert!(order().check().is_ok());
        assert!(is_amount("0.5") && is_amount("-3") && !is_amount("1e3") && !is_amount(".5") && !is_amount(""));
    }

    #[test]
    fn customers_ask_where_their_order_is_in_their_words() {
        for text in
            ["Where is my order?", "where's my order", "Dov'è il mio ordine?", "il mio pacco non è ancora arrivato", "Order status please"]
        {
            assert!(asks_where(text), "{text}");
        }
        for text in ["Do you ship to Kentucky?", "Vorrei cambiare la password", "I want to place an order"] {
            assert!(!asks_where(text), "{text}");
        }
    }

    #[test]
    fn order_numbers_are_found_however_they_are_written() {
        assert_eq!(order_numbers_in("Where is #9999?"), ["#9999", "9999"]);
        assert_eq!(order_numbers_in("il mio ordine n. 1001 non arriva"), ["#1001", "1001"]);
        assert_eq!(order_numbers_in("order number A-1001, email maria@example.it"), ["#A-1001", "A-1001"]);
        assert!(order_numbers_in("I ordered 2 mugs").is_empty());
        assert!(order_numbers_in("my order is late").is_empty());
        assert!(order_numbers_in("call me on 3331234567").is_empty());
    }

    #[test]
    fn an_order_is_described_only_to_its_customer() {
        let mut o = order();
        o.customer.postcode = Some("SW1A 1AA".into());
        assert!(proves_ownership(&o, "order #9999, my email is JON@example.com."));
        assert!(proves_ownership(&o, "#9999 postcode sw1a 1aa"));
        assert!(!proves_ownership(&o, "#9999 please"));
        assert!(!proves_ownership(&o, "#9999 jon@example.community"));

        let stranger = "where is order #9999?";
        let theirs = order_reply(stranger, None, &[(&o, false)], &[], true).unwrap();
        let none = order_reply(stranger, None, &[], &[], true).unwrap();
        assert!(matches!(theirs, OrderReply::AskForDetails(_)));
        assert_eq!(theirs, none, "a number not proven theirs reads like one that does not exist");
        let OrderReply::Status { number, text } = order_reply("order #9999, jon@example.com", None, &[(&o, false)], &[], true).unwrap()
        else {
            panic!()
        };
        assert_eq!(number, "#9999");
        assert!(text.starts_with("Your order #9999 of 2026-12-01 (59.90 EUR) is being prepared"), "{text}");
        // Their own latest order, when they name none.
        assert!(matches!(order_reply("where is my order?", Some("it"), &[], &[&o], true), Some(OrderReply::Status { .. })));
        assert_eq!(order_reply("Do you ship to Kentucky?", None, &[], &[&o], true), None);
        // A business with no orders at all (no shop connected): the
        // knowledge base answers instead of asking for an order number.
        assert_eq!(order_reply("il mio pacco non è arrivato", Some("it"), &[], &[], false), None);
        assert!(order_reply("il mio pacco non è arrivato", Some("it"), &[], &[], true).is_some());
    }

    #[test]
    fn where_an_order_is_reads_naturally_in_both_languages() {
        let mut o = order();
        o.status = OrderStatus::Shipped;
        o.shipments.push(Shipment {
            id: None,
            carrier: Some("BRT".into()),
            tracking_number: Some("0123".into()),
            tracking_url: Some("https://vas.brt.it/vas/sped_det_show.hsm?Nspediz=0123".into()),
            status: None,
            shipped_at: None,
        });
        assert_eq!(
            where_is(&o, Some("it")),
            "Il tuo ordine #9999 del 2026-12-01 (59.90 EUR) è stato spedito con BRT (numero di tracciamento 0123). \
             Puoi seguirlo qui: https://vas.brt.it/vas/sped_det_show.hsm?Nspediz=0123"
        );
        o.status = OrderStatus::Cancelled;
        assert_eq!(where_is(&o, None), "Your order #9999 of 2026-12-01 (59.90 EUR) was cancelled.");
    }
}
