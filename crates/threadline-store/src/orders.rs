//! Orders from the business's shop and the shops that send them.
//!
//! An arriving order is stored in one transaction with what it means
//! (`threadline_domain::order::update`): the order row (the latest version
//! only: an older one arriving late is dropped), the customer events it
//! brings (`Order Completed`, `Order Shipped`…, each with a message id
//! unique to the order and the change, so a shop's redelivery stores
//! nothing twice), the job that hands those events to journeys, and an
//! `order.created` / `order.updated` domain event.
//!
//! Whose order it is: the order's e-mail address, then its phone number,
//! then the shop's id for the customer (an `external_id` identity, kept
//! under the shop's name for a shop's webhooks, as given for the order
//! API), as the customer's identities — the contact holding the first one found
//! gets the order and the identities nobody holds yet; when none is held, a
//! contact is created with them. A shop's webhook is signed, so its
//! identities are as good as a server's tracking key's. Once stored, an
//! order stays with its contact (merges move it along).

use serde::Serialize;
use threadline_domain::event::{DomainEvent, OrderPayload, Payload};
use threadline_domain::identity::{IdentityKind, NormalizedIdentity, Region};
use threadline_domain::ids::{AccountId, ContactId, CustomerEventId, OrderId, OrderSourceId};
pub use threadline_domain::order::Order;
use threadline_domain::order::{OrderFacts, OrderStatus, Refund, Shipment, Update, update};
use threadline_domain::tracking::{Call, CallKind};
use time::OffsetDateTime;

use crate::audit::audit;
use crate::contacts::{NewContact, identity_owner, insert_contact, insert_identity};
use crate::{Result, Store, StoreError, WriteTx, found, micros, now, rows};

/// A shop allowed to send order webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OrderSource {
    pub id: OrderSourceId,
    /// `shopify` or `woocommerce`.
    pub kind: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A live order source as its webhook needs it.
#[derive(Debug, Clone)]
pub struct OrderSourceSecret {
    pub account_id: AccountId,
    pub source: OrderSource,
    /// The sealed signing secret.
    pub sealed_secret: String,
}

/// Where an order came from: a shop, or the order API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderOrigin<'a> {
    Shop { id: OrderSourceId, kind: &'a str },
    Api,
}

impl OrderOrigin<'_> {
    fn key(&self) -> String {
        match self {
            OrderOrigin::Shop { id, .. } => id.to_string(),
            OrderOrigin::Api => "api".into(),
        }
    }

    /// How the shop's customer id is kept as the customer's `external_id`
    /// identity: the order API's as given (the integrator's own customer
    /// id, the user id its site gives `identify`); a shop's under the
    /// shop's name, so two shops' numbering never meet.
    fn reference(&self, reference: &str) -> String {
        match self {
            OrderOrigin::Shop { id, .. } => format!("shop:{id}:{reference}"),
            OrderOrigin::Api => reference.to_owned(),
        }
    }

    fn kind(&self) -> &str {
        match self {
            OrderOrigin::Shop { kind, .. } => kind,
            OrderOrigin::Api => "api",
        }
    }
}

/// What storing an arriving order did.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderRecorded {
    /// Stored; `created` when it was new, with the customer events it brought.
    Stored { order: Box<Order>, created: bool, events: Vec<String> },
    /// A redelivery, or nothing a customer would notice changed.
    Unchanged(Box<Order>),
    /// Older than the stored version: dropped.
    Stale(Box<Order>),
    /// A shipment for an order not seen yet (the order's own webhook will
    /// carry it).
    UnknownOrder,
}

const SOURCE_COLUMNS: &str = "id, kind, name, created_at, last_used_at, revoked_at";
const ORDER_COLUMNS: &str = "id, contact_id, origin, kind, external_id, number, status, currency, total, details, placed_at, shop_updated_at, created_at, updated_at";

fn source_row(row: &sqlx::any::AnyRow) -> Result<OrderSource> {
    Ok(OrderSource {
        id: rows::parse(row, "id")?,
        kind: rows::text(row, "kind")?,
        name: rows::text(row, "name")?,
        created_at: rows::time(row, "created_at")?,
        last_used_at: rows::opt_time(row, "last_used_at")?,
        revoked_at: rows::opt_time(row, "revoked_at")?,
    })
}

/// What `details` holds: the parts of [`OrderFacts`] without columns of their own.
#[derive(serde::Serialize, serde::Deserialize)]
struct Details {
    customer: threadline_domain::order::OrderCustomer,
    items: Vec<threadline_domain::order::OrderItem>,
    shipments: Vec<Shipment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    refunds: Vec<Refund>,
}

fn order_row(row: &sqlx::any::AnyRow) -> Result<Order> {
    let details: Details = rows::json(row, "details")?;
    let origin = rows::text(row, "origin")?;
    Ok(Order {
        id: rows::parse(row, "id")?,
        contact_id: rows::parse(row, "contact_id")?,
        source: rows::text(row, "kind")?,
        source_id: origin.parse().ok(),
        facts: OrderFacts {
            external_id: rows::text(row, "external_id")?,
            number: rows::text(row, "number")?,
            status: rows::enum_of(row, "status", OrderStatus::parse)?,
            currency: rows::text(row, "currency")?,
            total: rows::text(row, "total")?,
            customer: details.customer,
            items: details.items,
            shipments: details.shipments,
            refunds: details.refunds,
            placed_at: rows::time(row, "placed_at")?,
            updated_at: rows::time(row, "shop_updated_at")?,
        },
        created_at: rows::time(row, "created_at")?,
        stored_at: rows::time(row, "updated_at")?,
    })
}

fn details_text(facts: &OrderFacts) -> Result<String> {
    let details = Details {
        customer: facts.customer.clone(),
        items: facts.items.clone(),
        shipments: facts.shipments.clone(),
        refunds: facts.refunds.clone(),
    };
    serde_json::to_string(&details).map_err(|e| StoreError::Corrupt(format!("order details: {e}")))
}

impl Store {
    /// Adds a shop whose order webhooks are accepted, with its sealed secret.
    pub async fn create_order_source(
        &self,
        account_id: AccountId,
        kind: &str,
        name: &str,
        sealed_secret: &str,
        actor: &str,
    ) -> Result<OrderSource> {
        let at = now();
        let source = OrderSource {
            id: OrderSourceId::new(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            created_at: at,
            last_used_at: None,
            revoked_at: None,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO order_sources (id, account_id, kind, name, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(source.id.to_string())
            .bind(account_id.to_string())
            .bind(kind)
            .bind(name)
            .bind(sealed_secret)
            .bind(micros(at))
            .execute(tx.conn())
            .await?;
        let data = serde_json::json!({ "name": name, "kind": kind });
        audit(&mut tx, account_id, actor, "order_source.create", "order_source", &source.id.to_string(), data, at).await?;
        tx.commit().await?;
        Ok(source)
    }

    pub async fn order_sources(&self, account_id: AccountId) -> Result<Vec<OrderSource>> {
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM order_sources WHERE account_id = $1 ORDER BY created_at, id");
        let rows = sqlx::query(&sql).bind(account_id.to_string()).fetch_all(&self.pool).await?;
        rows.iter().map(source_row).collect()
    }

    /// Stops accepting a shop's webhooks (they answer 404 from now on).
    pub async fn revoke_order_source(&self, account_id: AccountId, id: OrderSourceId, actor: &str) -> Result<OrderSource> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE order_sources SET revoked_at = $3 WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .bind(micros(at))
            .execute(tx.conn())
            .await?;
        found(&done)?;
        audit(&mut tx, account_id, actor, "order_source.revoke", "order_source", &id.to_string(), serde_json::json!({}), at).await?;
        tx.commit().await?;
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM order_sources WHERE id = $1 AND account_id = $2");
        source_row(&sqlx::query(&sql).bind(id.to_string()).bind(account_id.to_string()).fetch_one(&self.pool).await?)
    }

    /// A live (not revoked) order source, for its webhook.
    pub async fn order_source_for_webhook(&self, id: OrderSourceId) -> Result<Option<OrderSourceSecret>> {
        let sql = format!("SELECT {SOURCE_COLUMNS}, account_id, secret FROM order_sources WHERE id = $1 AND revoked_at IS NULL");
        let Some(row) = sqlx::query(&sql).bind(id.to_string()).fetch_optional(&self.pool).await? else { return Ok(None) };
        Ok(Some(OrderSourceSecret {
            account_id: rows::parse(&row, "account_id")?,
            source: source_row(&row)?,
            sealed_secret: rows::text(&row, "secret")?,
        }))
    }

    /// Notes when a shop last delivered.
    pub async fn touch_order_source(&self, id: OrderSourceId) -> Result<()> {
        sqlx::query("UPDATE order_sources SET last_used_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(micros(now()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores an arriving order (see the module documentation). `live`:
    /// journeys act on the events it brings.
    pub async fn record_order(
        &self,
        account_id: AccountId,
        origin: OrderOrigin<'_>,
        facts: &OrderFacts,
        region: Region,
        at: OffsetDateTime,
    ) -> Result<OrderRecorded> {
        match self.record_order_once(account_id, origin, Arrival::Order(facts), region, at).await {
            Err(StoreError::Race) => self.record_order_once(account_id, origin, Arrival::Order(facts), region, at).await,
            other => other,
        }
    }

    /// Stores a refund reported on its own, on the order it belongs to
    /// (refunding the whole total refunds the order).
    pub async fn record_refund(
        &self,
        account_id: AccountId,
        origin: OrderOrigin<'_>,
        order_external_id: &str,
        refund: &Refund,
        at: OffsetDateTime,
    ) -> Result<OrderRecorded> {
        let arrival = Arrival::Refund { order_external_id, refund };
        self.record_order_once(account_id, origin, arrival, Region::default(), at).await
    }

    /// Stores a shipment reported on its own, on the order it belongs to.
    pub async fn record_shipment(
        &self,
        account_id: AccountId,
        origin: OrderOrigin<'_>,
        order_external_id: &str,
        shipment: &Shipment,
        at: OffsetDateTime,
    ) -> Result<OrderRecorded> {
        let arrival = Arrival::Shipment { order_external_id, shipment };
        self.record_order_once(account_id, origin, arrival, Region::default(), at).await
    }

    async fn record_order_once(
        &self,
        account_id: AccountId,
        origin: OrderOrigin<'_>,
        arrival: Arrival<'_>,
        region: Region,
        at: OffsetDateTime,
    ) -> Result<OrderRecorded> {
        let origin_key = origin.key();
        let external_id = match arrival {
            Arrival::Order(facts) => facts.external_id.as_str(),
            Arrival::Shipment { order_external_id, .. } | Arrival::Refund { order_external_id, .. } => order_external_id,
        };
        let mut tx = self.begin_write().await?;
        tx.lock_keys(account_id, &[format!("order:{origin_key}:{external_id}")]).await?;
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE account_id = $1 AND origin = $2 AND external_id = $3");
        let stored = sqlx::query(&sql)
            .bind(account_id.to_string())
            .bind(&origin_key)
            .bind(external_id)
            .fetch_optional(tx.conn())
            .await?
            .map(|row| order_row(&row))
            .transpose()?;
        let next = match (arrival, &stored) {
            (Arrival::Order(facts), _) => facts.clone(),
            (Arrival::Shipment { shipment, .. }, Some(order)) => {
                let mut next = order.facts.clone();
                if !next.merge_shipment(shipment.clone()) {
                    return Ok(OrderRecorded::Unchanged(Box::new(order.clone())));
                }
                next.updated_at = next.updated_at.max(shipment.shipped_at.unwrap_or(next.updated_at));
                next
            }
            (Arrival::Refund { refund, .. }, Some(order)) => {
                let mut next = order.facts.clone();
                if !next.merge_refund(refund.clone()) {
                    return Ok(OrderRecorded::Unchanged(Box::new(order.clone())));
                }
                next.updated_at = next.updated_at.max(refund.refunded_at.unwrap_or(next.updated_at));
                next
            }
            (Arrival::Shipment { .. } | Arrival::Refund { .. }, None) => return Ok(OrderRecorded::UnknownOrder),
        };
        let (events, stored) = match (update(stored.as_ref().map(|o| &o.facts), &next), stored) {
            (Update::Stale, Some(order)) => return Ok(OrderRecorded::Stale(Box::new(order))),
            (Update::Unchanged, Some(order)) => return Ok(OrderRecorded::Unchanged(Box::new(order))),
            (Update::Changed(events), stored) => (events, stored),
            (Update::Stale | Update::Unchanged, None) => (threadline_domain::order::events(None, &next), None),
        };
        let created = stored.is_none();
        let contact_id = match &stored {
            Some(order) => order.contact_id,
            None => {
                let reference = next.customer.reference.as_deref().map(|r| origin.reference(r));
                owner(&mut tx, account_id, &next.customer, reference.as_deref(), region, at).await?
            }
        };
        let order = Order {
            id: stored.as_ref().map(|o| o.id).unwrap_or_default(),
            contact_id,
            source: origin.kind().to_owned(),
            source_id: match origin {
                OrderOrigin::Shop { id, .. } => Some(id),
                OrderOrigin::Api => None,
            },
            facts: next,
            created_at: stored.as_ref().map(|o| o.created_at).unwrap_or(at),
            stored_at: at,
        };
        write_order(&mut tx, account_id, &origin_key, &order).await?;

        // What happened, as the customer's events (journeys and segments read them).
        let mut context = serde_json::Map::new();
        context.insert("source".into(), serde_json::json!(order.source));
        let calls: Vec<Call> = events
            .iter()
            .map(|e| Call {
                kind: CallKind::Track,
                message_id: format!("order:{origin_key}:{}:{}", order.facts.external_id, e.key),
                message_id_given: true,
                anonymous_id: None,
                user_id: None,
                previous_id: None,
                group_id: None,
                name: Some(e.name.to_owned()),
                properties: e.properties.clone(),
                context: context.clone(),
                occurred_at: e.occurred_at,
            })
            .collect();
        let rows: Vec<(CustomerEventId, ContactId, &Call)> = calls.iter().map(|c| (CustomerEventId::new(), contact_id, c)).collect();
        let inserted = crate::tracking::insert_events(&mut tx, account_id, &rows, at).await?;
        let new_events: Vec<(CustomerEventId, ContactId)> =
            rows.iter().filter(|(id, _, _)| inserted.contains(id)).map(|(id, contact, _)| (*id, *contact)).collect();
        crate::tracking::hand_to_journeys(&mut tx, account_id, &new_events, at).await?;
        let payload = OrderPayload { order: order.clone(), events: events.iter().map(|e| e.name.to_owned()).collect() };
        let payload = if created { Payload::OrderCreated(payload) } else { Payload::OrderUpdated(payload) };
        tx.emit(DomainEvent::new(account_id, payload, at));
        tx.commit().await?;
        let events = rows.iter().filter(|(id, _, _)| inserted.contains(id)).filter_map(|(_, _, c)| c.name.clone()).collect();
        Ok(OrderRecorded::Stored { order: Box::new(order), created, events })
    }

    /// The customer an e-mail address or phone number names, by the same
    /// rule as an order's (the first held identity wins, the others are
    /// linked to it if nobody holds them), created with them and `name`
    /// when nobody holds either: how shop staff find or add a customer.
    pub async fn customer_by_identities(
        &self,
        account_id: AccountId,
        customer: &threadline_domain::order::OrderCustomer,
        region: Region,
    ) -> Result<ContactId> {
        let at = now();
        let attempt = || async {
            let mut tx = self.begin_write().await?;
            let id = owner(&mut tx, account_id, customer, None, region, at).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(id)
        };
        match attempt().await {
            Err(StoreError::Race) => attempt().await,
            other => other,
        }
    }

    /// Whether the account has any order at all (a shop or the order API
    /// sends them).
    pub async fn has_orders(&self, account_id: AccountId) -> Result<bool> {
        let found = sqlx::query("SELECT 1 FROM orders WHERE account_id = $1 LIMIT 1")
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// A contact's orders, newest first.
    pub async fn contact_orders(&self, account_id: AccountId, contact_id: ContactId, limit: i64) -> Result<Vec<Order>> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE account_id = $1 AND contact_id = $2 ORDER BY placed_at DESC, id DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql).bind(account_id.to_string()).bind(contact_id.to_string()).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(order_row).collect()
    }

    pub async fn order(&self, account_id: AccountId, id: OrderId) -> Result<Order> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE account_id = $1 AND id = $2");
        let row = sqlx::query(&sql).bind(account_id.to_string()).bind(id.to_string()).fetch_optional(&self.pool).await?;
        order_row(&row.ok_or(StoreError::NotFound)?)
    }

    /// Orders with this number (as the customer knows it), newest first:
    /// usually one; two shops may each have a "#1001".
    pub async fn orders_by_number(&self, account_id: AccountId, number: &str) -> Result<Vec<Order>> {
        let sql =
            format!("SELECT {ORDER_COLUMNS} FROM orders WHERE account_id = $1 AND number = $2 ORDER BY placed_at DESC, id DESC LIMIT 10");
        let rows = sqlx::query(&sql).bind(account_id.to_string()).bind(number).fetch_all(&self.pool).await?;
        rows.iter().map(order_row).collect()
    }
}

/// What arrived: a whole order, or one shipment of one.
#[derive(Clone, Copy)]
enum Arrival<'a> {
    Order(&'a OrderFacts),
    Shipment { order_external_id: &'a str, shipment: &'a Shipment },
    Refund { order_external_id: &'a str, refund: &'a Refund },
}

/// Writes an order: a new row, or the stored one (same id) with the new
/// version. Two first deliveries of one order racing on two nodes meet on
/// the unique (account, origin, external id): the loser starts again.
async fn write_order(tx: &mut WriteTx, account_id: AccountId, origin_key: &str, order: &Order) -> Result<()> {
    let f = &order.facts;
    sqlx::query(
        "INSERT INTO orders (id, account_id, contact_id, origin, kind, external_id, number, status, currency, total, details, \
         placed_at, shop_updated_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (id) DO UPDATE SET number = excluded.number, status = excluded.status, currency = excluded.currency, \
         total = excluded.total, details = excluded.details, placed_at = excluded.placed_at, \
         shop_updated_at = excluded.shop_updated_at, updated_at = excluded.updated_at",
    )
    .bind(order.id.to_string())
    .bind(account_id.to_string())
    .bind(order.contact_id.to_string())
    .bind(origin_key)
    .bind(&order.source)
    .bind(&f.external_id)
    .bind(&f.number)
    .bind(f.status.as_str())
    .bind(&f.currency)
    .bind(&f.total)
    .bind(details_text(f)?)
    .bind(micros(f.placed_at))
    .bind(micros(f.updated_at))
    .bind(micros(order.created_at))
    .bind(micros(order.stored_at))
    .execute(tx.conn())
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Race,
        other => other,
    })?;
    Ok(())
}

/// The contact an order belongs to (see the module documentation): the
/// customer an order's e-mail address, phone number or shop customer
/// id (`reference`, as an `external_id` identity) names, in that order.
async fn owner(
    tx: &mut WriteTx,
    account_id: AccountId,
    customer: &threadline_domain::order::OrderCustomer,
    reference: Option<&str>,
    region: Region,
    at: OffsetDateTime,
) -> Result<ContactId> {
    let mut identities = Vec::new();
    let given = [
        (IdentityKind::Email, customer.email.as_deref()),
        (IdentityKind::Phone, customer.phone.as_deref()),
        (IdentityKind::ExternalId, reference),
    ];
    for (kind, raw) in given {
        if let Some(identity) = raw.and_then(|r| NormalizedIdentity::parse(kind, r, region).ok()) {
            identities.push(identity);
        }
    }
    let keys: Vec<String> = identities.iter().map(|i| format!("identity:{}", i.value)).collect();
    tx.lock_keys(account_id, &keys).await?;
    let mut holder = None;
    let mut unheld = Vec::new();
    for identity in identities {
        // A phone number is also known as a WhatsApp id.
        let mut found = identity_owner(tx.conn(), account_id, &identity).await?;
        for kind in identity.kind.equivalents() {
            if found.is_none() {
                let sibling = NormalizedIdentity { kind: *kind, value: identity.value.clone() };
                found = identity_owner(tx.conn(), account_id, &sibling).await?;
            }
        }
        match found {
            None => unheld.push(identity),
            Some(contact_id) if holder.is_none() => holder = Some(contact_id),
            Some(_) => {}
        }
    }
    if let Some(contact_id) = holder {
        for identity in &unheld {
            if insert_identity(tx, account_id, contact_id, identity, at).await?.is_some() {
                tx.emit(DomainEvent::identity_linked(account_id, contact_id, identity, at));
            }
        }
        return Ok(contact_id);
    }
    let new = NewContact { name: customer.name.clone(), identities: unheld, ..NewContact::default() };
    let contact = insert_contact(tx, account_id, new, at).await.map_err(|e| match e {
        StoreError::Conflict(_) => StoreError::Race,
        other => other,
    })?;
    tx.emit(DomainEvent::contact_created(account_id, &contact, at));
    Ok(contact.id)
}
