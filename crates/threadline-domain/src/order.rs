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
    a.status == b.status && a.total == b.total && a.items == b.items && a.shipments == b.shipments && a.customer == b.customer
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
    if next.status != before.unwrap_or(next.status) || previous.is_none() {
        match next.status {
            OrderStatus::Cancelled if before.is_some() => out.push(event(ORDER_CANCELLED, "cancelled".into(), next, at, None)),
            OrderStatus::Refunded => out.push(event(ORDER_REFUNDED, "refunded".into(), next, at, None)),
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
}
