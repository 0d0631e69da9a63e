//! What operators watch (`/metrics`): domain events committed by this
//! process, by kind, and the backlogs read from the database — jobs,
//! outbox, webhook deliveries, team queues, measurement.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use threadline_domain::event::{DomainEvent, EventKind};
use time::OffsetDateTime;

use crate::{JobStats, Result, Store, micros, rows};

/// Events committed by this process since it started, by kind.
#[derive(Debug, Clone)]
pub(crate) struct EventCounts(Arc<Vec<AtomicU64>>);

impl Default for EventCounts {
    fn default() -> Self {
        Self(Arc::new(EventKind::ALL.iter().map(|_| AtomicU64::new(0)).collect()))
    }
}

impl EventCounts {
    pub(crate) fn add(&self, events: &[DomainEvent]) {
        for event in events {
            if let Some(i) = EventKind::ALL.iter().position(|k| *k == event.kind) {
                self.0[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A backlog: how many wait, and how long the oldest has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub waiting: i64,
    pub oldest_secs: Option<i64>,
}

/// The database's backlogs, now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlogs {
    pub jobs: JobStats,
    /// Outbound messages queued or being sent.
    pub outbox: Backlog,
    /// Outbound messages given up on.
    pub outbox_dead: i64,
    /// Webhook deliveries not done yet.
    pub webhooks: Backlog,
    /// Conversations waiting in a team's queue for an agent.
    pub queues: Backlog,
    /// Conversations changed and not measured for reports yet.
    pub measurement: Backlog,
    /// Commits whose events have not reached the bus yet.
    pub relay: Backlog,
}

impl Store {
    /// Domain events this process committed, by kind.
    pub fn committed_events(&self) -> Vec<(&'static str, u64)> {
        EventKind::ALL.iter().zip(self.event_counts.0.iter()).map(|(k, n)| (k.as_str(), n.load(Ordering::Relaxed))).collect()
    }

    /// Connections the pool holds, and how many of them are idle (on
    /// SQLite with the writers' own connection).
    pub fn pool_connections(&self) -> (u32, usize) {
        let (writer_size, writer_idle) = self.writer.as_ref().map_or((0, 0), |w| (w.size(), w.num_idle()));
        (self.pool.size() + writer_size, self.pool.num_idle() + writer_idle)
    }

    pub async fn backlogs(&self, now: OffsetDateTime) -> Result<Backlogs> {
        let backlog = |row: &sqlx::any::AnyRow| -> Result<Backlog> {
            let oldest = rows::opt_int(row, "oldest")?.map(|at| ((micros(now) - at) / 1_000_000).max(0));
            Ok(Backlog { waiting: rows::int(row, "n")?, oldest_secs: oldest })
        };
        let outbox =
            sqlx::query("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbound_jobs WHERE status IN ('queued', 'sending')")
                .fetch_one(&self.pool)
                .await?;
        let outbox_dead: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbound_jobs WHERE status = 'dead'").fetch_one(&self.pool).await?;
        let webhooks = sqlx::query("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM webhook_deliveries WHERE status = 'pending'")
            .fetch_one(&self.pool)
            .await?;
        let queues = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(queued_at) AS oldest FROM conversations \
             WHERE status = 'open' AND assignee_id IS NULL AND handler = 'human' AND team_id IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        let relay = sqlx::query("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM event_relay WHERE seq > $1")
            .bind(self.relay_published())
            .fetch_one(&self.pool)
            .await?;
        let (waiting, oldest_secs) = self.metrics_lag(now).await?;
        Ok(Backlogs {
            jobs: self.job_stats(now).await?,
            outbox: backlog(&outbox)?,
            outbox_dead,
            webhooks: backlog(&webhooks)?,
            queues: backlog(&queues)?,
            measurement: Backlog { waiting, oldest_secs },
            relay: backlog(&relay)?,
        })
    }
}
