//! Domain events: written in the transaction of the change they describe.
//!
//! Events are inserted in the transaction that made the change, and in the
//! same statement batch each one is fanned out into `webhook_deliveries` for
//! every active subscription that wants it, with a [`WEBHOOK_JOB`] job each
//! on the job table: the delivery queue is a transactional outbox, so a
//! committed change is always delivered and a rolled-back one never is. The commit also leaves a row for the relay
//! (`relay.rs`), the one way events reach the bus.

use sqlx::AnyConnection;
use threadline_domain::event::{DomainEvent, EventKind};
use threadline_domain::ids::{AccountId, EventId};

use crate::{Backend, Result, Store, micros, rows};

/// The job kind of a webhook delivery (payload: `delivery_id`).
pub const WEBHOOK_JOB: &str = "webhook.deliver";

/// Inserts the events, their webhook deliveries and the deliveries' jobs;
/// returns how many deliveries were queued.
pub(crate) async fn persist_events(conn: &mut AnyConnection, backend: Backend, events: &[DomainEvent]) -> Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    const COLUMNS: &[&str] = &["id", "account_id", "kind", "data", "occurred_at"];
    let mut rows = crate::rows::NewRows::new("events", COLUMNS);
    for e in events {
        rows.push([
            e.id.to_string().into(),
            e.account_id.to_string().into(),
            e.kind.as_str().into(),
            e.data.to_string().into(),
            micros(e.occurred_at).into(),
        ]);
    }
    rows.insert(&mut *conn, backend, "").await?;

    // Fan out to subscriptions. The filter column is "*" or ",kind,kind,",
    // so one LIKE matches without JSON operators that differ by backend.
    let ids = crate::rows::padded(&events.iter().map(|e| e.id.to_string()).collect::<Vec<_>>());
    let placeholders = crate::rows::list(2, ids.len());
    let sql = format!(
        "INSERT INTO webhook_deliveries (id, account_id, subscription_id, event_id, status, attempts, next_attempt_at, created_at) \
         SELECT e.id || ':' || s.id, e.account_id, s.id, e.id, 'pending', 0, e.occurred_at, e.occurred_at \
         FROM events e JOIN webhook_subscriptions s ON s.account_id = e.account_id AND s.active = 1 \
         WHERE {} AND e.id IN ({placeholders}) \
           AND (s.event_filter = '*' OR s.event_filter LIKE '%,' || e.kind || ',%')",
        crate::rows::guard("e.account_id", "$1")
    );
    let mut query = sqlx::query(&sql).bind(events[0].account_id.to_string());
    for id in &ids {
        query = query.bind(id.clone());
    }
    let queued = query.execute(&mut *conn).await?.rows_affected();
    if queued > 0 {
        // A job per delivery just written. Delivery ids are `<event
        // id>:<subscription id>` (UUIDs: safe to put in the payload's JSON
        // as they are), so each is found through its primary key from the
        // batch's events; `webhook_deliveries` has no index to find a
        // batch's rows by event.
        let sql = format!(
            "INSERT INTO jobs (id, kind, account_id, dedup_key, payload, run_at, attempts, generation, created_at, lane) \
             SELECT 'webhook:' || d.id, $2, d.account_id, 'webhook:' || d.id, '{{\"delivery_id\":\"' || d.id || '\"}}', \
                    d.next_attempt_at, 0, 0, d.created_at, NULL \
             FROM events e JOIN webhook_subscriptions s ON s.account_id = e.account_id \
             JOIN webhook_deliveries d ON d.id = e.id || ':' || s.id AND d.status = 'pending' \
             WHERE {} AND e.id IN ({})",
            crate::rows::guard("e.account_id", "$1"),
            crate::rows::list(3, ids.len())
        );
        let mut query = sqlx::query(&sql).bind(events[0].account_id.to_string()).bind(WEBHOOK_JOB);
        for id in ids {
            query = query.bind(id);
        }
        query.execute(&mut *conn).await?;
    }
    crate::relay::queue(conn, events).await?;
    Ok(queued)
}

impl Store {
    /// Events after `after` (oldest first): lets a client that was away catch up.
    pub async fn events_after(&self, account_id: AccountId, after: Option<EventId>, limit: i64) -> Result<Vec<DomainEvent>> {
        let rows = sqlx::query(
            "SELECT id, account_id, kind, data, occurred_at FROM events WHERE account_id = $1 AND ($2 IS NULL OR id > $2) \
             ORDER BY id LIMIT $3",
        )
        .bind(account_id.to_string())
        .bind(after.map(|a| a.to_string()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DomainEvent {
                    id: rows::parse(row, "id")?,
                    account_id: rows::parse(row, "account_id")?,
                    kind: rows::enum_of(row, "kind", EventKind::parse)?,
                    data: rows::json(row, "data")?,
                    occurred_at: rows::time(row, "occurred_at")?,
                })
            })
            .collect()
    }
}
