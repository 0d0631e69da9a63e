//! Background work that must survive a restart: one table of jobs, each
//! with a kind, a payload, the time it is due, a lease while a worker holds
//! it, and its attempts.
//!
//! A job with a `dedup_key` exists at most once: enqueueing it again makes
//! it due at the earlier of the two times and bumps its generation, so a
//! worker holding it knows, when it finishes, that it was asked again
//! meanwhile (the job then stays, and runs once more). A worker that dies
//! holding a job loses its lease and the job runs again: handlers must be
//! idempotent (journeys are: each step writes a unique row). On PostgreSQL
//! several nodes claim with `FOR UPDATE SKIP LOCKED`.

use serde_json::Value;
use threadline_domain::ids::AccountId;
use time::{Duration, OffsetDateTime};

use crate::{Backend, Result, Store, WriteTx, micros, rows};

/// A job to add.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: &'static str,
    pub account_id: Option<AccountId>,
    /// At most one pending job per key (e.g. `journey-run:<id>`).
    pub dedup_key: Option<String>,
    pub payload: Value,
    pub run_at: OffsetDateTime,
    /// Jobs of one lane (e.g. a conversation's bot turns) run one after
    /// another, in the order they fell due; none is claimed while another
    /// of its lane is held.
    pub lane: Option<String>,
}

/// A job a worker holds.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub account_id: Option<AccountId>,
    pub payload: Value,
    /// Attempts including this one.
    pub attempts: i64,
    pub generation: i64,
    pub run_at: OffsetDateTime,
    pub lane: Option<String>,
}

/// How the jobs stand, for operators.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct JobStats {
    /// Due now and not held.
    pub due: i64,
    /// Waiting for their time.
    pub scheduled: i64,
    /// Held by a worker.
    pub running: i64,
    /// Given up after too many attempts.
    pub dead: i64,
    /// Seconds the oldest due job has waited past its time.
    pub lag_secs: i64,
}

/// Which kinds of job a runner takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kinds {
    All,
    Only(&'static str),
    AllBut(&'static str),
}

impl Kinds {
    /// `(mode, kind)` for [`kinds_condition`]'s two placeholders.
    fn binds(self) -> (&'static str, &'static str) {
        match self {
            Kinds::All => ("all", ""),
            Kinds::Only(kind) => ("only", kind),
            Kinds::AllBut(kind) => ("but", kind),
        }
    }
}

/// The condition on `kind` for [`Kinds`], bound at `$n` and `$n+1`.
fn kinds_condition(n: usize) -> String {
    let (mode, kind) = (format!("${n}"), format!("${}", n + 1));
    format!("({mode} = 'all' OR ({mode} = 'only' AND kind = {kind}) OR ({mode} = 'but' AND kind <> {kind}))")
}

/// Jobs failing this many times stop and wait for an operator.
pub const MAX_ATTEMPTS: i64 = 10;

/// Adds (or, for a key already pending, moves earlier and bumps) a job in `tx`.
pub(crate) async fn enqueue(tx: &mut WriteTx, job: &NewJob, at: OffsetDateTime) -> Result<()> {
    sqlx::query(
        "INSERT INTO jobs (id, kind, account_id, dedup_key, payload, run_at, attempts, generation, created_at, lane) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7, $8) \
         ON CONFLICT (dedup_key) DO UPDATE SET \
           run_at = CASE WHEN jobs.run_at < excluded.run_at THEN jobs.run_at ELSE excluded.run_at END, \
           generation = jobs.generation + 1, dead = 0, attempts = CASE WHEN jobs.dead = 1 THEN 0 ELSE jobs.attempts END",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(job.kind)
    .bind(job.account_id.map(|a| a.to_string()))
    .bind(job.dedup_key.clone())
    .bind(job.payload.to_string())
    .bind(micros(job.run_at))
    .bind(micros(at))
    .bind(job.lane.clone())
    .execute(tx.conn())
    .await?;
    tx.jobs_queued = true;
    Ok(())
}

fn job_row(row: &sqlx::any::AnyRow) -> Result<Job> {
    Ok(Job {
        id: rows::text(row, "id")?,
        kind: rows::text(row, "kind")?,
        account_id: rows::opt_parse(row, "account_id")?,
        payload: rows::json(row, "payload")?,
        attempts: rows::int(row, "attempts")?,
        generation: rows::int(row, "generation")?,
        run_at: rows::time(row, "run_at")?,
        lane: rows::opt_text(row, "lane")?,
    })
}

impl Store {
    pub async fn enqueue_job(&self, job: NewJob) -> Result<()> {
        let mut tx = self.begin_write().await?;
        enqueue(&mut tx, &job, crate::now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes each time a commit in this process has queued a job (every
    /// runner holding one is woken).
    pub fn job_wakeups(&self) -> tokio::sync::watch::Receiver<u64> {
        self.jobs_queued.subscribe()
    }

    /// Claims up to `limit` jobs due at `now`, for `lease`.
    pub async fn claim_jobs(&self, now: OffsetDateTime, limit: i64, lease: Duration) -> Result<Vec<Job>> {
        self.claim_jobs_of(Kinds::All, now, limit, lease).await
    }

    /// Claims up to `limit` jobs of `kinds` due at `now`, for `lease`.
    pub async fn claim_jobs_of(&self, kinds: Kinds, now: OffsetDateTime, limit: i64, lease: Duration) -> Result<Vec<Job>> {
        let (mode, kind) = kinds.binds();
        // Look before taking the write lock: most of the time nothing is due.
        let due: Option<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM jobs WHERE run_at <= $1 AND dead = 0 AND (lease_until IS NULL OR lease_until < $1) AND {} LIMIT 1",
            kinds_condition(2)
        ))
        .bind(micros(now))
        .bind(mode)
        .bind(kind)
        .fetch_optional(&self.pool)
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "SELECT id FROM jobs WHERE run_at <= $1 AND dead = 0 AND (lease_until IS NULL OR lease_until < $1) AND {} \
             AND (lane IS NULL OR NOT EXISTS (SELECT 1 FROM jobs held WHERE held.lane = jobs.lane AND held.lease_until >= $1)) \
             ORDER BY run_at, id LIMIT $2 {lock}",
            kinds_condition(3)
        );
        let ids: Vec<String> = sqlx::query_scalar(&sql).bind(micros(now)).bind(limit).bind(mode).bind(kind).fetch_all(tx.conn()).await?;
        let mut jobs = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query(
                "UPDATE jobs SET lease_until = $2, attempts = attempts + 1 WHERE id = $1 \
                 RETURNING id, kind, account_id, payload, attempts, generation, run_at, lane",
            )
            .bind(&id)
            .bind(micros(now + lease))
            .fetch_one(tx.conn())
            .await?;
            jobs.push(job_row(&row)?);
        }
        tx.commit().await?;
        Ok(jobs)
    }

    /// A job is done: removed — unless it was enqueued again while held,
    /// in which case it is released to run again.
    pub async fn finish_job(&self, job: &Job) -> Result<()> {
        let mut tx = self.begin_write().await?;
        finish_in(&mut tx, job).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Runs the job again at `at` (its handler's own next time), unless it
    /// was enqueued again while held (then it stays due at that time).
    pub async fn reschedule_job(&self, job: &Job, at: OffsetDateTime) -> Result<()> {
        let mut tx = self.begin_write().await?;
        reschedule_in(&mut tx, job, at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The attempt failed: try again later (backing off), or, after
    /// [`MAX_ATTEMPTS`], stop and keep the job with its error.
    pub async fn fail_job(&self, job: &Job, error: &str, now: OffsetDateTime) -> Result<()> {
        let dead = job.attempts >= MAX_ATTEMPTS;
        let backoff = Duration::seconds(2_i64.saturating_pow(job.attempts.clamp(0, 12) as u32).min(3600));
        let error: String = error.chars().take(2000).collect();
        sqlx::query("UPDATE jobs SET lease_until = NULL, run_at = $2, last_error = $3, dead = $4 WHERE id = $1")
            .bind(&job.id)
            .bind(micros(now + backoff))
            .bind(error)
            .bind(i64::from(dead))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The attempt failed and its handler chose when to try again (its own
    /// backoff); the attempt counts, and the error is kept for operators.
    pub async fn retry_job(&self, job: &Job, at: OffsetDateTime, error: &str) -> Result<()> {
        let error: String = error.chars().take(2000).collect();
        sqlx::query("UPDATE jobs SET lease_until = NULL, run_at = $2, last_error = $3 WHERE id = $1")
            .bind(&job.id)
            .bind(micros(at))
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The handler gave up on the job: kept, dead, with why, for operators.
    pub async fn bury_job(&self, job: &Job, error: &str) -> Result<()> {
        let error: String = error.chars().take(2000).collect();
        sqlx::query("UPDATE jobs SET lease_until = NULL, last_error = $2, dead = 1 WHERE id = $1")
            .bind(&job.id)
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// When the next job is due (held ones, and those waiting behind a held
    /// one of their lane, excluded), if any.
    pub async fn next_job_at(&self) -> Result<Option<OffsetDateTime>> {
        self.next_job_at_of(Kinds::All).await
    }

    /// When the next job of `kinds` is due, as [`Self::next_job_at`].
    pub async fn next_job_at_of(&self, kinds: Kinds) -> Result<Option<OffsetDateTime>> {
        let (mode, kind) = kinds.binds();
        let next: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT MIN(run_at) FROM jobs WHERE dead = 0 AND lease_until IS NULL AND {} \
             AND (lane IS NULL OR NOT EXISTS (SELECT 1 FROM jobs held WHERE held.lane = jobs.lane AND held.lease_until IS NOT NULL))",
            kinds_condition(1)
        ))
        .bind(mode)
        .bind(kind)
        .fetch_one(&self.pool)
        .await?;
        Ok(next.map(crate::from_micros))
    }

    /// Jobs whose last attempt failed, newest first: (kind, attempts, error).
    pub async fn failing_jobs(&self, limit: i64) -> Result<Vec<(String, i64, String)>> {
        let rows =
            sqlx::query("SELECT kind, attempts, last_error FROM jobs WHERE last_error IS NOT NULL ORDER BY created_at DESC LIMIT $1")
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok((rows::text(r, "kind")?, rows::int(r, "attempts")?, rows::text(r, "last_error")?))).collect()
    }

    pub async fn job_stats(&self, now: OffsetDateTime) -> Result<JobStats> {
        let row = sqlx::query(
            "SELECT \
               COALESCE(SUM(CASE WHEN dead = 0 AND run_at <= $1 AND (lease_until IS NULL OR lease_until < $1) THEN 1 ELSE 0 END), 0) AS due, \
               COALESCE(SUM(CASE WHEN dead = 0 AND run_at > $1 AND lease_until IS NULL THEN 1 ELSE 0 END), 0) AS scheduled, \
               COALESCE(SUM(CASE WHEN dead = 0 AND lease_until >= $1 THEN 1 ELSE 0 END), 0) AS running, \
               COALESCE(SUM(CASE WHEN dead = 1 THEN 1 ELSE 0 END), 0) AS dead, \
               MIN(CASE WHEN dead = 0 AND run_at <= $1 AND (lease_until IS NULL OR lease_until < $1) THEN run_at END) AS oldest \
             FROM jobs",
        )
        .bind(micros(now))
        .fetch_one(&self.pool)
        .await?;
        let oldest = rows::opt_int(&row, "oldest")?;
        Ok(JobStats {
            due: rows::int(&row, "due")?,
            scheduled: rows::int(&row, "scheduled")?,
            running: rows::int(&row, "running")?,
            dead: rows::int(&row, "dead")?,
            lag_secs: oldest.map(|o| (micros(now) - o).max(0) / 1_000_000).unwrap_or(0),
        })
    }
}

pub(crate) async fn finish_in(tx: &mut WriteTx, job: &Job) -> Result<()> {
    let done =
        sqlx::query("DELETE FROM jobs WHERE id = $1 AND generation = $2").bind(&job.id).bind(job.generation).execute(tx.conn()).await?;
    if done.rows_affected() == 0 {
        sqlx::query("UPDATE jobs SET lease_until = NULL, attempts = 0 WHERE id = $1").bind(&job.id).execute(tx.conn()).await?;
        tx.jobs_queued = true;
    }
    Ok(())
}

pub(crate) async fn reschedule_in(tx: &mut WriteTx, job: &Job, at: OffsetDateTime) -> Result<()> {
    let done = sqlx::query("UPDATE jobs SET lease_until = NULL, attempts = 0, run_at = $3 WHERE id = $1 AND generation = $2")
        .bind(&job.id)
        .bind(job.generation)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
    if done.rows_affected() == 0 {
        sqlx::query("UPDATE jobs SET lease_until = NULL, attempts = 0 WHERE id = $1").bind(&job.id).execute(tx.conn()).await?;
        tx.jobs_queued = true;
    }
    Ok(())
}
