//! Threadline's storage: one [`Store`] over SQLite (embedded, the default) or
//! PostgreSQL (for more than one node), chosen once at start from the URL.
//!
//! Both backends run the same SQL through sqlx's `Any` driver: the schemas
//! are kept column-for-column identical (`migrations/sqlite`,
//! `migrations/postgres`), ids are UUIDv7 text and times are Unix
//! microseconds, so a query written once means the same on both. Backend
//! specific SQL exists only where the semantics differ (queue claiming).
//!
//! Rows become domain types here; nothing above this crate sees sqlx.
//! Every query that reads or writes tenant data takes the caller's
//! [`AccountId`] and filters on it.

mod accounts;
mod actions;
mod after_sales;
mod attachments;
mod audit;
mod automations;
mod bot;
mod calls;
mod canned;
mod contacts;
mod conversations;
mod email;
mod events;
mod inboxes;
mod ingest;
mod ingest_queue;
mod interactions;
mod jobs;
mod journeys;
mod knowledge;
mod live;
mod mail_addresses;
mod messages;
mod metrics;
mod migrate_sqlite;
mod operations;
mod orders;
mod outbox;
mod portal;
mod privacy;
mod push;
mod relay;
mod retention;
mod rollups;
mod routing;
mod rows;
mod scheduled;
mod search;
mod segments;
mod sla;
mod surveys;
mod teams;
mod templates;
mod tracking;
mod triage;
mod users;
mod views;
mod webhooks;
mod workload;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use threadline_domain::ValidationErrors;
use threadline_domain::ids::ContactId;
use time::OffsetDateTime;
use tokio::sync::Mutex;

pub use accounts::*;
pub use actions::{Applied, Effect, Target};
pub use after_sales::*;
pub use attachments::*;
pub use audit::*;
pub use automations::*;
pub use bot::*;
pub use calls::*;
pub use canned::*;
pub use contacts::*;
pub use conversations::*;
pub use email::*;
pub use events::WEBHOOK_JOB;
pub use inboxes::*;
pub use ingest_queue::{Ingested, MAX_BATCH};
pub use interactions::*;
pub use jobs::{Job, JobStats, Kinds, MAX_ATTEMPTS, NewJob};
pub use journeys::*;
pub use knowledge::*;
pub use live::*;
pub use mail_addresses::*;
pub use messages::*;
pub use metrics::{Backlog, METRICS_JOB, MetricRow, MetricSource, MetricsFilter, QueueNow, Stale};
pub use operations::{Backlog as OperationalBacklog, Backlogs};
pub use orders::*;
pub use outbox::*;
pub use portal::*;
pub use privacy::*;
pub use push::*;
pub use relay::RelayBatch;
pub use retention::*;
pub use rollups::{DayToRoll, ROLLUP_JOB, SpanToRoll, Tallies, Wanted};
pub use routing::*;
pub use scheduled::{NewScheduledMessage, SCHEDULED_JOB, ScheduledMessage};
pub use segments::*;
pub use sla::*;
pub use surveys::{NewSurveyRequest, SURVEY_JOB, Survey, SurveyByToken, SurveyResponse};
pub use teams::*;
pub use templates::*;
pub use tracking::*;
pub use triage::*;
pub use users::*;
pub use views::*;
pub use webhooks::*;

/// Some of the embedded migrations, as a source for a `Migrator`.
#[derive(Debug)]
struct MigrationList(Vec<sqlx::migrate::Migration>);

impl<'s> sqlx::migrate::MigrationSource<'s> for MigrationList {
    #[allow(clippy::type_complexity)]
    fn resolve(
        self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<sqlx::migrate::Migration>, sqlx::error::BoxDynError>> + Send + 's>>
    {
        Box::pin(async move { Ok(self.0) })
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How hard SQLite works to survive power loss (PRAGMA synchronous).
/// Either way a committed transaction survives a process crash (kill -9):
/// the WAL is written before the commit returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    /// Fsync at checkpoints only: the last transactions before a power cut
    /// may be lost, never corrupted. SQLite's recommended setting with WAL.
    #[default]
    Normal,
    /// Fsync the WAL on every commit: survives power loss, costs throughput.
    Full,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The contact was merged into another one, whose id is given.
    #[error("contact was merged into {0}")]
    Merged(ContactId),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationErrors),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A concurrent writer got there first; the unit of work is retried.
    #[error("concurrent update, try again")]
    Race,
}

impl StoreError {
    /// Whether the database could not be reached at all (stopped,
    /// restarting, network), as opposed to a statement that failed.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_)) => true,
            // PostgreSQL's connection exceptions (08…) and "shutting down",
            // "crash shutdown", "cannot connect now" (57P01-57P03).
            StoreError::Database(sqlx::Error::Database(e)) => e.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
            _ => false,
        }
    }

    pub(crate) fn is_retryable(&self) -> bool {
        // Unique violations, and PostgreSQL's deadlock (40P01) and
        // serialization (40001) failures: the unit of work may simply rerun.
        matches!(self, StoreError::Race)
            || matches!(self, StoreError::Database(sqlx::Error::Database(e))
                if e.is_unique_violation() || matches!(e.code().as_deref(), Some("40P01" | "40001")))
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(e) if e.is_unique_violation())
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The database, whichever engine it is.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// SQLite: the one connection write transactions run on. SQLite drops
    /// a connection's page cache whenever another connection wrote since
    /// its last transaction; with every write on this one, its cache stays
    /// warm from one write to the next (the pool's connections, which
    /// read, start cold after each). PostgreSQL: `None`, writes use `pool`.
    writer: Option<AnyPool>,
    backend: Backend,
    /// SQLite allows one writer at a time. Letting connections race for the
    /// write lock makes a transaction that read first fail with SQLITE_BUSY
    /// when it tries to write (no busy-wait is possible for that upgrade),
    /// so writers queue here instead. PostgreSQL writers never take it.
    write_gate: Arc<Mutex<()>>,
    attachment_storage: AttachmentStorage,
    /// Signalled after a commit that queued webhook deliveries, so the
    /// dispatcher in this process sends them at once instead of at its next poll.
    /// Woken by commits that wrote a relay row (see `relay.rs`).
    events_committed: Arc<tokio::sync::Notify>,
    /// SQLite: the relay's rows up to here are published (deleted lazily).
    relay_mark: Arc<relay::RelayMark>,
    /// Signalled after a commit that may have put a conversation in a
    /// team's queue, so the router looks at once.
    routing_needed: Arc<tokio::sync::Notify>,
    /// The same for the job table and its runner.
    jobs_queued: Arc<tokio::sync::watch::Sender<u64>>,
    /// Whether any segment exists: while none does, changes to customers
    /// queue no segment work (see [`Store::load_segments_exist`]).
    segments_exist: Arc<std::sync::atomic::AtomicBool>,
    /// The group-commit queue for inbound messages (see `ingest_queue`).
    ingest_queue: Option<tokio::sync::mpsc::Sender<ingest_queue::IngestJob>>,
    /// Domain events committed by this process, by kind (for operators).
    event_counts: operations::EventCounts,
    /// Whether an active survey exists: resolutions queue survey work only then.
    surveys_exist: Arc<std::sync::atomic::AtomicBool>,
    /// Whether an enabled automation rule exists: commits queue rule work only then.
    rules_exist: Arc<std::sync::atomic::AtomicBool>,
    /// SQLite: commits leave checkpoints to [`Store::checkpoint`].
    background_checkpoints: bool,
}

/// The bytes a SQLite WAL file is cut back to once its pages are copied
/// into the database (a burst of writes, such as seeding the demo, would
/// otherwise leave it at its high-water mark on disk).
const WAL_SIZE_LIMIT: u64 = 16 * 1024 * 1024;

/// Options for [`Store::connect`].
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    pub sqlite_sync: SqliteSync,
    /// SQLite: no checkpoint on the committing connection (SQLite's own
    /// every 1,000 pages of WAL); the process calls
    /// [`Store::checkpoint`] in the background instead. A checkpoint
    /// fsyncs the WAL and the database file, and a commit that had to wait
    /// for that waited as long as the disk — behind any other process's
    /// writes, hundreds of milliseconds on a busy machine.
    pub background_checkpoints: bool,
    /// SQLite: the bytes of memory SQLite keeps across all of the
    /// process's connections before it gives back the least recently used
    /// cached pages (its soft heap limit; the connections share one page
    /// cache); 0 for none beyond each connection's `cache_size`. Without
    /// it a pool of 16 connections can hold 16 × 32 MB of pages after a
    /// long report or the year's roll-up.
    pub sqlite_memory_bytes: u64,
}

/// The default [`ConnectOptions::sqlite_memory_bytes`].
pub const SQLITE_MEMORY_BYTES: u64 = 128 * 1024 * 1024;

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            sqlite_sync: SqliteSync::Normal,
            background_checkpoints: false,
            sqlite_memory_bytes: SQLITE_MEMORY_BYTES,
        }
    }
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://…`). SQLite files
    /// are created if missing and run in WAL mode.
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Invalid(ValidationErrors::single("database_url", "must start with sqlite: or postgres:")));
        };
        if backend == Backend::Sqlite {
            private_sqlite_files(url)?;
        }
        let mut connect_options = AnyConnectOptions::from_str(url)?;
        connect_options = sqlx::ConnectOptions::log_statements(connect_options, tracing::log::LevelFilter::Trace);
        let pool_options = AnyPoolOptions::new().max_connections(options.max_connections).acquire_timeout(Duration::from_secs(10));
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                let sync = match options.sqlite_sync {
                    SqliteSync::Normal => "NORMAL",
                    SqliteSync::Full => "FULL",
                };
                // 0: no checkpoint when a commit takes the WAL past 1,000 pages.
                let autocheckpoint = if options.background_checkpoints { 0 } else { 1000 };
                let pragmas = format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA busy_timeout = 10000; \
                     PRAGMA foreign_keys = ON; PRAGMA cache_size = -32000; PRAGMA temp_store = MEMORY; PRAGMA secure_delete = ON; \
                     PRAGMA wal_autocheckpoint = {autocheckpoint}; PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}; \
                     PRAGMA soft_heap_limit = {};",
                    options.sqlite_memory_bytes
                );
                let with_pragmas = |options: AnyPoolOptions| {
                    let pragmas = pragmas.clone();
                    options.after_connect(move |conn, _meta| {
                        let pragmas = pragmas.clone();
                        Box::pin(async move {
                            conn.execute(pragmas.as_str()).await?;
                            Ok(())
                        })
                    })
                };
                let pool = with_pragmas(pool_options).connect_with(connect_options.clone()).await?;
                // Kept open for good (a new connection starts cold) and not
                // pinged before each write: a file, not a network peer.
                let writer_options = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .test_before_acquire(false);
                let writer = with_pragmas(writer_options).connect_with(connect_options).await?;
                (pool, Some(writer))
            }
            Backend::Postgres => (pool_options.connect_with(connect_options).await?, None),
        };
        let store = Store {
            pool,
            writer,
            backend,
            write_gate: Arc::new(Mutex::new(())),
            attachment_storage: AttachmentStorage::Database,
            events_committed: Arc::new(tokio::sync::Notify::new()),
            relay_mark: Default::default(),
            routing_needed: Arc::new(tokio::sync::Notify::new()),
            jobs_queued: Arc::new(tokio::sync::watch::Sender::new(0)),
            segments_exist: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            event_counts: Default::default(),
            surveys_exist: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            rules_exist: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            ingest_queue: None,
            background_checkpoints: backend == Backend::Sqlite && options.background_checkpoints,
        };
        let writer = store.clone();
        Ok(Store { ingest_queue: Some(ingest_queue::start(writer)), ..store })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations. Safe to run on every start.
    /// Whether this process must checkpoint SQLite's WAL itself (see
    /// [`ConnectOptions::background_checkpoints`]).
    pub fn checkpoints_in_background(&self) -> bool {
        self.background_checkpoints
    }

    /// Copies the WAL's committed pages into SQLite's database file without
    /// waiting for readers and without holding up writers (a `PASSIVE`
    /// checkpoint, on one of the pool's connections); the WAL starts over at a
    /// commit once all of it is copied. Returns the WAL's pages and those
    /// copied so far. Nothing to do on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(i64, i64)> {
        if self.backend != Backend::Sqlite {
            return Ok((0, 0));
        }
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&self.pool).await?;
        Ok((rows::int(&row, "log")?, rows::int(&row, "checkpointed")?))
    }

    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => {
                // Migration 14 needs a table rebuilt with foreign keys off,
                // which SQLite allows only outside a transaction — and sqlx
                // runs each SQLite migration in one. So: up to 13, the
                // rebuild in code, then the rest.
                let mut up_to_13 =
                    sqlx::migrate::Migrator::new(MigrationList(SQLITE_MIGRATIONS.iter().filter(|m| m.version <= 13).cloned().collect()))
                        .await?;
                up_to_13.set_ignore_missing(true);
                up_to_13.run(&self.pool).await?;
                migrate_sqlite::rebuild_users_table(&self.pool).await?;
                SQLITE_MIGRATIONS.run(&self.pool).await?
            }
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        self.backfill_name_keys().await?;
        self.chain_unchained_audit_entries().await
    }

    /// A consistent copy of a SQLite database into a new file at `path`,
    /// taken while others keep reading and writing (`VACUUM INTO`).
    pub async fn backup_into(&self, path: &std::path::Path) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Conflict("only SQLite databases are copied this way".into()));
        }
        sqlx::query("VACUUM INTO $1").bind(path.to_string_lossy().into_owned()).execute(&self.pool).await?;
        Ok(())
    }

    /// What is wrong with a SQLite database, if anything: damage SQLite
    /// finds, or migrations newer than this version knows. An error when it
    /// is not a Threadline database at all.
    pub async fn integrity_check(&self) -> Result<Vec<String>> {
        let mut problems: Vec<String> = sqlx::query_scalar::<_, String>("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .filter(|r| r != "ok")
            .collect();
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(&self.pool).await?;
        let known = SQLITE_MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0);
        match newest {
            None => problems.push("it has no migrations: not a Threadline database".into()),
            Some(v) if v > known => {
                problems.push(format!("it was made by a newer Threadline (migration {v}; this one knows up to {known})"))
            }
            Some(_) => {}
        }
        Ok(problems)
    }

    /// Cheap liveness probe.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        self.pool.close().await;
    }

    /// Begins a write transaction, queueing behind other writers on SQLite.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx> {
        let (gate, tx) = match self.backend {
            // IMMEDIATE takes SQLite's write lock at once, waiting for it
            // (busy_timeout) if another process or a connection still
            // rolling back holds it. A deferred transaction that read first
            // and then writes cannot wait: it fails with SQLITE_BUSY.
            Backend::Sqlite => {
                let gate = self.write_gate.clone().lock_owned().await;
                (Some(gate), self.writer.as_ref().unwrap_or(&self.pool).begin_with("BEGIN IMMEDIATE").await?)
            }
            Backend::Postgres => (None, self.pool.begin().await?),
        };
        Ok(WriteTx {
            tx,
            _gate: gate,
            backend: self.backend,
            events: Vec::new(),
            events_committed: self.events_committed.clone(),
            routing_needed: false,
            jobs_queued: false,
            notify_jobs: self.jobs_queued.clone(),
            notify_router: self.routing_needed.clone(),
            segments_exist: self.segments_exist.load(std::sync::atomic::Ordering::Relaxed),
            event_counts: self.event_counts.clone(),
            surveys_exist: self.surveys_exist.load(std::sync::atomic::Ordering::Relaxed),
            rules_exist: self.rules_exist.load(std::sync::atomic::Ordering::Relaxed),
            automated: false,
        })
    }
}

/// Makes the SQLite database file readable by its owner only (0600), like
/// the secret key beside it: it holds every customer's messages. A new file
/// is created with that mode before SQLite opens it, and SQLite gives its
/// `-wal` and `-shm` files the database file's mode; files from before are
/// narrowed at start.
fn private_sqlite_files(url: &str) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path == ":memory:" || path.starts_with("file:") {
        return Ok(());
    }
    let private = |e: std::io::Error| StoreError::Invalid(ValidationErrors::single("database_url", format!("{path}: {e}")));
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        // A folder that does not exist yet is the connect's error to report.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(private(e)),
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = format!("{path}{suffix}");
        if let Ok(meta) = std::fs::metadata(&file)
            && meta.permissions().mode() & 0o077 != 0
        {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(private)?;
        }
    }
    Ok(())
}

/// An open write transaction and the domain events it emits. Events are
/// inserted in the same transaction (they exist if and only if the change
/// does), fanned out to webhook subscriptions there too, and named in a
/// relay row: the relay hands them to the bus after the commit. Writes
/// return what they changed, never the events.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
    backend: Backend,
    events: Vec<threadline_domain::event::DomainEvent>,
    /// Woken by commits that wrote a relay row (see `relay.rs`).
    events_committed: Arc<tokio::sync::Notify>,
    /// Set by writes that queue bot jobs / may fill a team's queue; the
    /// commit wakes the bot worker / the router.
    /// Set by writes that add or wake jobs; the commit wakes the job runner.
    pub(crate) jobs_queued: bool,
    notify_jobs: Arc<tokio::sync::watch::Sender<u64>>,
    pub(crate) routing_needed: bool,
    notify_router: Arc<tokio::sync::Notify>,
    /// Changes to customers queue a look at their segments.
    segments_exist: bool,
    event_counts: operations::EventCounts,
    /// Resolutions queue a look at the account's surveys.
    surveys_exist: bool,
    /// Commits queue a look at the account's automation rules…
    rules_exist: bool,
    /// …unless a rule made them.
    pub(crate) automated: bool,
}

impl WriteTx {
    pub(crate) fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// Serialises concurrent writers that touch the same keys (identity
    /// values, contact ids) until this transaction ends. On SQLite the write
    /// gate already serialises every writer; on PostgreSQL this takes
    /// transaction-scoped advisory locks in sorted order (so two writers
    /// cannot deadlock on them). Unique constraints cannot do this job: a
    /// phone identity and a WhatsApp identity with the same number are
    /// different rows, yet must resolve to one contact.
    pub(crate) async fn lock_keys(&mut self, account_id: threadline_domain::ids::AccountId, keys: &[String]) -> Result<()> {
        if self.backend != Backend::Postgres || keys.is_empty() {
            return Ok(());
        }
        let mut keys: Vec<&String> = keys.iter().collect();
        keys.sort_unstable();
        keys.dedup();
        // One statement, taking them in the sorted array's order.
        let keys = serde_json::to_string(&keys).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1 || ':' || k.key)) FROM json_array_elements_text($2::json) AS k(key)")
            .bind(account_id.to_string())
            .bind(keys)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Declares that this transaction reaches every row it reads or
    /// writes by a key an index holds (ids, provider ids, identities), as
    /// the ingest and the metrics refresh do. On PostgreSQL it plans the
    /// rest of the transaction without sequential scans: a table younger
    /// than its statistics (a new database, the first minutes of a busy
    /// one: autovacuum analyzes a growing table only now and then) looks a
    /// few pages long, so the planner reads it whole to find a few dozen
    /// rows, and a prepared statement keeps that plan while the table
    /// grows. (A prepared statement keeps the plan it made under the
    /// setting of its first generic planning; the statements these
    /// transactions share with other writes — events, dirty marks, loading
    /// a conversation — are look-ups by key too, so such a plan serves
    /// both.)
    pub(crate) async fn by_key_only(&mut self) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SET LOCAL enable_seqscan = off").execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    pub(crate) fn emit(&mut self, event: threadline_domain::event::DomainEvent) {
        self.events.push(event);
    }

    pub(crate) async fn commit(mut self) -> Result<()> {
        // Conversation events journeys start on reach them through a job
        // written with the change itself.
        let for_journeys: Vec<jobs::NewJob> = self.events.iter().filter_map(journeys::conversation_trigger_job).collect();
        for job in &for_journeys {
            jobs::enqueue(&mut self, job, job.run_at).await?;
        }
        // Customers whose record or conversations changed are looked at
        // against the segments again (one pending job per customer).
        if self.segments_exist {
            let touched: std::collections::BTreeSet<_> =
                self.events.iter().filter_map(|e| segments::affected_contact(e).map(|c| (e.account_id, c))).collect();
            let at = now();
            for (account_id, contact_id) in touched {
                jobs::enqueue(&mut self, &segments::contact_job(account_id, contact_id, at), at).await?;
            }
        }
        if self.surveys_exist {
            let for_surveys: Vec<jobs::NewJob> = self.events.iter().filter_map(surveys::survey_job).collect();
            for job in &for_surveys {
                jobs::enqueue(&mut self, job, job.run_at).await?;
            }
        }
        if self.rules_exist && !self.automated {
            for job in automations::rule_jobs(&self.events) {
                jobs::enqueue(&mut self, &job, job.run_at).await?;
            }
        }
        let queued = events::persist_events(&mut self.tx, self.backend, &self.events).await?;
        metrics::mark_dirty(&mut self.tx, self.backend, &self.events).await?;
        self.tx.commit().await?;
        self.event_counts.add(&self.events);
        if queued > 0 {
            self.notify_jobs.send_modify(|n| *n = n.wrapping_add(1));
        }
        if !self.events.is_empty() {
            self.events_committed.notify_one();
        }
        if self.routing_needed {
            self.notify_router.notify_one();
        }
        if self.jobs_queued {
            self.notify_jobs.send_modify(|n| *n = n.wrapping_add(1));
        }
        Ok(())
    }

    pub(crate) async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

/// `NotFound` when a targeted UPDATE or DELETE matched no row (the id does
/// not exist in the caller's account).
pub(crate) fn found(done: &sqlx::any::AnyQueryResult) -> Result<()> {
    if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// Unix microseconds, the stored form of every instant.
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

pub(crate) fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(us as i128 * 1_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Compares two secrets' hashes in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `text` inside a LIKE pattern with its wildcards taken literally; the
/// query says `ESCAPE '\\'`.
pub(crate) fn like_literal(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// The current time, truncated to the microseconds we store, so a value
/// returned by a write equals the value read back later.
pub fn now() -> OffsetDateTime {
    from_micros(micros(OffsetDateTime::now_utc()))
}

impl Store {
    /// Runs a statement outside any transaction (administration: creating
    /// databases for tests, maintenance). Not for tenant data.
    pub async fn execute_raw(&self, sql: &str) -> Result<()> {
        sqlx::query(sql).execute(&self.pool).await?;
        Ok(())
    }

    /// The first column of each row a query returns, as integers
    /// (administration and tests). Not for tenant data.
    pub async fn integers_raw(&self, sql: &str) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(sql).fetch_all(&self.pool).await?)
    }
}
