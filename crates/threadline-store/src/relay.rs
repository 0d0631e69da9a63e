//! The event relay's queue: how committed events leave for the bus.
//!
//! Every commit that emits events also writes one `event_relay` row naming
//! them, in the same transaction. A relay (one per node) claims the oldest
//! rows, reads their events from `events`, hands them to the bus and
//! deletes the rows. On PostgreSQL the claim is `FOR UPDATE SKIP LOCKED`
//! inside a transaction that stays open until the bus has them: several
//! nodes share the queue, each row goes to one of them, and rows a node
//! held when it died are free again when its connection drops. On SQLite
//! one process serves: the claim reads past the last row published (kept
//! in memory), and published rows are deleted at most once a second, so
//! the relay does not queue behind ingest for the write lock after every
//! batch (after a crash, the rows not deleted yet are published again).
//!
//! Publishing happens at least once: a relay that dies after publishing
//! and before deleting publishes those events again (the bus deduplicates
//! by event id where it keeps them).

use sqlx::{AnyConnection, Row};
use threadline_domain::event::{DomainEvent, EventKind};

use crate::{Backend, Result, Store, micros, now, rows};

/// Writes the relay row of a commit's events (inside that commit).
pub(crate) async fn queue(conn: &mut AnyConnection, events: &[DomainEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let ids = events.iter().map(|e| e.id.to_string()).collect::<Vec<_>>().join(",");
    sqlx::query("INSERT INTO event_relay (event_ids, created_at) VALUES ($1, $2)").bind(ids).bind(micros(now())).execute(conn).await?;
    Ok(())
}

/// SQLite: the last relay row published, and when published rows were
/// last deleted.
#[derive(Default)]
pub(crate) struct RelayMark {
    published: std::sync::atomic::AtomicI64,
    deleted_at: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How often SQLite's published relay rows are deleted.
const SQLITE_DELETE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Claimed relay rows and their events, oldest first. Hand the events on,
/// then [`Store::relay_done`]; dropping the batch instead leaves the rows
/// for the next claim.
pub struct RelayBatch {
    pub events: Vec<DomainEvent>,
    seqs: Vec<i64>,
    /// PostgreSQL: the transaction holding the rows' locks.
    tx: Option<sqlx::Transaction<'static, sqlx::Any>>,
}

impl RelayBatch {
    /// Whether no relay row was waiting.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// How many commits' rows the batch holds.
    pub fn commits(&self) -> usize {
        self.seqs.len()
    }
}

impl Store {
    /// Claims up to `limit` of the oldest relay rows with their events.
    pub async fn relay_claim(&self, limit: i64) -> Result<RelayBatch> {
        let (mut tx, sql) = match self.backend {
            Backend::Postgres => {
                (Some(self.pool.begin().await?), "SELECT seq, event_ids FROM event_relay ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED")
            }
            Backend::Sqlite => (None, "SELECT seq, event_ids FROM event_relay WHERE seq > $2 ORDER BY seq LIMIT $1"),
        };
        let published = self.relay_mark.published.load(std::sync::atomic::Ordering::Acquire);
        let query = sqlx::query(sql).bind(limit).bind(published);
        let claimed = match tx.as_mut() {
            Some(tx) => query.fetch_all(&mut **tx).await?,
            None => query.fetch_all(&self.pool).await?,
        };
        let mut seqs = Vec::with_capacity(claimed.len());
        let mut ids = Vec::new();
        for row in &claimed {
            seqs.push(row.try_get::<i64, _>("seq")?);
            ids.extend(row.try_get::<String, _>("event_ids")?.split(',').filter(|id| !id.is_empty()).map(str::to_owned));
        }
        let mut found = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(1024) {
            let padded = rows::padded(chunk);
            let sql = format!("SELECT id, account_id, kind, data, occurred_at FROM events WHERE id IN ({})", rows::list(1, padded.len()));
            let mut query = sqlx::query(&sql);
            for id in padded {
                query = query.bind(id);
            }
            let read = match tx.as_mut() {
                Some(tx) => query.fetch_all(&mut **tx).await?,
                None => query.fetch_all(&self.pool).await?,
            };
            for row in read {
                let event = DomainEvent {
                    id: rows::parse(&row, "id")?,
                    account_id: rows::parse(&row, "account_id")?,
                    kind: rows::enum_of(&row, "kind", EventKind::parse)?,
                    data: rows::json(&row, "data")?,
                    occurred_at: rows::time(&row, "occurred_at")?,
                };
                found.insert(event.id.to_string(), event);
            }
        }
        // In commit order, and within a commit in the order emitted; an
        // event erased since its commit is not sent.
        let events = ids.iter().filter_map(|id| found.remove(id)).collect();
        Ok(RelayBatch { events, seqs, tx })
    }

    /// Deletes a batch's rows once the bus has its events.
    pub async fn relay_done(&self, batch: RelayBatch) -> Result<()> {
        if batch.seqs.is_empty() {
            return Ok(());
        }
        let RelayBatch { seqs, tx, .. } = batch;
        match tx {
            Some(mut tx) => {
                delete(&mut tx, &seqs).await?;
                tx.commit().await?;
            }
            None => {
                let last = seqs.iter().copied().max().unwrap_or(0);
                self.relay_mark.published.fetch_max(last, std::sync::atomic::Ordering::AcqRel);
                let due = {
                    let mut deleted_at = self.relay_mark.deleted_at.lock().unwrap_or_else(|e| e.into_inner());
                    let due = deleted_at.is_none_or(|at| at.elapsed() >= SQLITE_DELETE_EVERY);
                    if due {
                        *deleted_at = Some(std::time::Instant::now());
                    }
                    due
                };
                if due {
                    self.relay_forget_published().await?;
                }
            }
        }
        Ok(())
    }

    /// The last relay row published (SQLite; 0 on PostgreSQL, which
    /// deletes rows as it publishes them).
    pub(crate) fn relay_published(&self) -> i64 {
        self.relay_mark.published.load(std::sync::atomic::Ordering::Acquire)
    }

    /// SQLite: deletes the relay rows already published.
    pub async fn relay_forget_published(&self) -> Result<()> {
        let published = self.relay_mark.published.load(std::sync::atomic::Ordering::Acquire);
        if self.backend != Backend::Sqlite || published == 0 {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM event_relay WHERE seq <= $1").bind(published).execute(tx.conn()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Relay rows waiting (for `/metrics`); on SQLite, rows published and
    /// not deleted yet do not count.
    pub async fn relay_backlog(&self) -> Result<i64> {
        let published = self.relay_mark.published.load(std::sync::atomic::Ordering::Acquire);
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM event_relay WHERE seq > $1").bind(published).fetch_one(&self.pool).await?)
    }

    /// Resolves when a commit in this process has written a relay row.
    pub async fn events_committed(&self) {
        self.events_committed.notified().await;
    }
}

async fn delete(conn: &mut AnyConnection, seqs: &[i64]) -> Result<()> {
    for chunk in seqs.chunks(1024) {
        let padded = rows::padded(chunk);
        let sql = format!("DELETE FROM event_relay WHERE seq IN ({})", rows::list(1, padded.len()));
        let mut query = sqlx::query(&sql);
        for seq in padded {
            query = query.bind(seq);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
