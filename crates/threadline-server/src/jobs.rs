//! The job runner: claims due jobs from the job table
//! ([`threadline_store::Job`]) — every kind of background work: sends,
//! webhook deliveries, bot turns, journeys, segments, surveys, rules,
//! reports' refresh and the installation's sweeps — runs each with its
//! kind's handler, and records the outcome: done, again at a later time,
//! retried (with backoff, or at the handler's own time), or given up. Two
//! pools share the table: webhook deliveries, and everything else. Each
//! wakes when a commit in this process queues a job, when a job it runs
//! finishes, when the next job falls due, and at least every
//! `job_poll_secs` (jobs queued by other nodes). [`run_due`] runs
//! everything due at once, for tests.

use threadline_store::{Job, Kinds};
use time::{Duration, OffsetDateTime};
use tokio::sync::watch;

use crate::app::AppState;

const BATCH: i64 = 64;

/// What a handler asks for its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Run it again then.
    Later(OffsetDateTime),
    /// This attempt failed; try again then (the handler's own backoff).
    Retry {
        at: OffsetDateTime,
        error: String,
    },
    /// Give up: the job stays, dead, with why, for operators.
    Dead(String),
}

async fn handle(state: &AppState, job: &Job) -> anyhow::Result<Outcome> {
    match job.kind.as_str() {
        crate::journeys::EVENTS_JOB => crate::journeys::on_events(state, job).await,
        threadline_store::RUN_JOB => crate::journeys::advance(state, job).await,
        threadline_store::CONVERSATION_JOB => crate::journeys::on_conversation(state, job).await,
        threadline_store::SEGMENT_JOB => crate::journeys::on_segment(state, job).await,
        threadline_store::DATES_JOB => crate::journeys::on_dates(state, job).await,
        threadline_store::SEGMENTS_CONTACT_JOB => crate::segments::on_contact(state, job).await,
        threadline_store::SEGMENTS_SWEEP_JOB => crate::segments::sweep(state, job).await,
        threadline_store::METRICS_JOB => crate::metrics::on_refresh(state, job).await,
        threadline_store::ROLLUP_JOB => crate::metrics::on_rollup(state, job).await,
        threadline_store::SURVEY_JOB => crate::surveys::on_resolved(state, job).await,
        threadline_store::SCHEDULED_JOB => crate::scheduled::on_due(state, job).await,
        crate::auto_resolve::AUTO_RESOLVE_JOB => crate::auto_resolve::on_due(state, job).await,
        threadline_store::AUTOMATION_JOB => crate::automations::on_events(state, job).await,
        threadline_store::RESOLVE_PENDING_JOB => crate::automations::on_resolve_pending(state, job).await,
        crate::routing::ROUTING_JOB => crate::routing::on_due(state, job).await,
        crate::sla::SLA_JOB => crate::sla::on_due(state, job).await,
        crate::retention::RETENTION_JOB => crate::retention::on_due(state, job).await,
        threadline_store::SEND_JOB => crate::channels::outbox::on_send(state, job).await,
        threadline_store::WEBHOOK_JOB => crate::webhook_dispatcher::on_deliver(state, job).await,
        threadline_store::BOT_TURN_JOB => crate::bot::on_turn(state, job).await,
        crate::bot::RESOLVE_QUIET_JOB => crate::bot::on_resolve_quiet(state, job).await,
        other => {
            tracing::warn!(kind = other, "a job of an unknown kind was dropped");
            Ok(Outcome::Done)
        }
    }
}

/// Claims and runs one batch of due jobs, `job_concurrency` at a time; how
/// many ran. Jobs of one lane (a conversation's bot turns) run one after
/// another in the order they fell due; other jobs are independent (one
/// pending job per run, per customer's segment look…), and each handler is
/// safe to run beside any other.
pub async fn run_once(state: &AppState) -> anyhow::Result<usize> {
    let lease = Duration::seconds(state.settings.job_lease_secs.max(1) as i64);
    let jobs = state.store.claim_jobs(state.clock.now(), BATCH, lease).await?;
    let claimed = jobs.len();
    let concurrency = state.settings.job_concurrency.max(1);
    let mut waiting = in_lanes(jobs).into_iter();
    let mut running = tokio::task::JoinSet::new();
    let mut failure = None;
    loop {
        while running.len() < concurrency {
            let Some(lane) = waiting.next() else { break };
            spawn_lane(&mut running, state, lane);
        }
        let Some(done) = running.join_next().await else { break };
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = Some(e),
            Err(e) => failure = Some(anyhow::anyhow!("a job's task ended abnormally: {e}")),
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(claimed),
    }
}

/// Runs a lane's jobs one after another (a job alone is a lane of one).
fn spawn_lane(running: &mut tokio::task::JoinSet<anyhow::Result<()>>, state: &AppState, lane: Vec<Job>) {
    let state = state.clone();
    running.spawn(async move {
        for job in &lane {
            run_job(&state, job).await?;
        }
        anyhow::Ok(())
    });
}

/// Claimed jobs (in the order they fell due) grouped to run: each job
/// without a lane alone, each lane's jobs together in order.
fn in_lanes(jobs: Vec<Job>) -> Vec<Vec<Job>> {
    let mut groups: Vec<Vec<Job>> = Vec::with_capacity(jobs.len());
    let mut lanes: std::collections::HashMap<String, usize> = Default::default();
    for job in jobs {
        match job.lane.clone() {
            Some(lane) => match lanes.get(&lane) {
                Some(&i) => groups[i].push(job),
                None => {
                    lanes.insert(lane, groups.len());
                    groups.push(vec![job]);
                }
            },
            None => groups.push(vec![job]),
        }
    }
    groups
}

/// Runs one claimed job and records its outcome.
async fn run_job(state: &AppState, job: &Job) -> anyhow::Result<()> {
    match handle(state, job).await {
        Ok(Outcome::Done) => state.store.finish_job(job).await?,
        Ok(Outcome::Later(at)) => state.store.reschedule_job(job, at).await?,
        Ok(Outcome::Retry { at, error }) => {
            tracing::info!(kind = %job.kind, attempts = job.attempts, error = %crate::error::bounded(&error, 2048), "job will be tried again");
            state.store.retry_job(job, at, &error).await?
        }
        Ok(Outcome::Dead(error)) => {
            tracing::warn!(kind = %job.kind, attempts = job.attempts, error = %crate::error::bounded(&error, 2048), "job given up");
            state.store.bury_job(job, &error).await?
        }
        Err(e) => {
            let error = format!("{e:#}");
            tracing::warn!(kind = %job.kind, attempts = job.attempts, error = %crate::error::bounded(&error, 2048), "job failed");
            state.store.fail_job(job, &error, state.clock.now()).await?;
        }
    }
    Ok(())
}

/// Runs every job due now, and those they make due, until none is left
/// and no other worker holds one (at most `limit` batches): what a test
/// calls instead of waiting for the runner.
pub async fn run_due(state: &AppState, limit: usize) -> anyhow::Result<usize> {
    let mut total = 0;
    for _ in 0..limit {
        let n = run_once(state).await?;
        total += n;
        if n == 0 {
            // The background runner may hold one; wait for it to finish.
            let stats = state.store.job_stats(state.clock.now()).await?;
            if stats.running == 0 && stats.due == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    Ok(total)
}

/// The runner: until `shutdown`, two pools over the one job table —
/// webhook deliveries (`webhook_concurrency` at a time) and every other job
/// (`job_concurrency`) — so endpoints that do not answer never hold up a
/// send or a bot's turn. At shutdown the jobs running are let finish.
pub async fn run(state: AppState, shutdown: watch::Receiver<bool>) {
    let webhooks = Kinds::Only(threadline_store::WEBHOOK_JOB);
    let others = Kinds::AllBut(threadline_store::WEBHOOK_JOB);
    tokio::join!(
        run_pool(&state, shutdown.clone(), webhooks, state.settings.webhook_concurrency),
        run_pool(&state, shutdown, others, state.settings.job_concurrency),
    );
}

/// One pool: keeps up to `concurrency` jobs (or lanes) of `kinds` running,
/// taking more as soon as one finishes, so a slow job holds one place, not
/// the others'.
async fn run_pool(state: &AppState, mut shutdown: watch::Receiver<bool>, kinds: Kinds, concurrency: usize) {
    let poll = std::time::Duration::from_secs(state.settings.job_poll_secs.max(1));
    let lease = Duration::seconds(state.settings.job_lease_secs.max(1) as i64);
    let concurrency = concurrency.max(1);
    let mut wakeups = state.store.job_wakeups();
    let mut running: tokio::task::JoinSet<anyhow::Result<()>> = tokio::task::JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        while let Some(done) = running.try_join_next() {
            report(done);
        }
        wakeups.mark_unchanged();
        let free = concurrency.saturating_sub(running.len());
        let mut full = free == 0;
        if free > 0 {
            match state.store.claim_jobs_of(kinds, state.clock.now(), free as i64, lease).await {
                Ok(jobs) => {
                    full = jobs.len() == free;
                    for lane in in_lanes(jobs) {
                        spawn_lane(&mut running, state, lane);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "the job runner could not claim jobs"),
            }
        }
        // Nothing more due now: sleep until the next job is due (or a
        // commit queues one, or a running job finishes).
        let wait = if full {
            poll
        } else {
            match state.store.next_job_at_of(kinds).await {
                Ok(Some(at)) => poll.min(std::time::Duration::from_secs_f64((at - state.clock.now()).as_seconds_f64().max(0.0))),
                _ => poll,
            }
        };
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(done) = running.join_next(), if !running.is_empty() => report(done),
            _ = wakeups.changed() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    while let Some(done) = running.join_next().await {
        report(done);
    }
}

fn report(done: Result<anyhow::Result<()>, tokio::task::JoinError>) {
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not record a job's outcome"),
        Err(e) => tracing::warn!(error = %e, "a job's task ended abnormally"),
    }
}
