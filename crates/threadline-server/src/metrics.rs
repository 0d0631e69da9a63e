//! Keeps every conversation's facts ([`threadline_domain::metrics`]) up
//! to date: the `metrics.refresh` job measures the conversations that
//! commits marked as changed, every `metrics_refresh_secs`, so reports lag
//! ingest by about that much and read one row per conversation; and the
//! `metrics.rollup` job stores each day's tallies once it is over
//! ([`threadline_store::Tallies`]), so long periods read few rows.

use std::collections::BTreeMap;

use threadline_domain::ids::AccountId;
use threadline_domain::metrics::{Entry, facts};
use threadline_domain::sla::{ClockState, SlaTarget};
use threadline_store::{Job, METRICS_JOB, MetricRow, NewJob, ROLLUP_JOB, StoredSlaPolicy, Team};
use time::{Duration, OffsetDateTime};

use crate::app::AppState;
use crate::jobs::Outcome;
use crate::sla::{conversation_clocks, offset_in, policy_for};

/// Conversations measured per round.
const ROUND: i64 = 500;

/// The refresh job, queued at start (one for the whole installation).
pub fn job(at: OffsetDateTime) -> NewJob {
    NewJob {
        lane: None,
        kind: METRICS_JOB,
        account_id: None,
        dedup_key: Some("metrics-refresh".into()),
        payload: serde_json::json!({}),
        run_at: at,
    }
}

/// The job storing the days over, queued at start (one for the whole installation).
pub fn rollup_job(at: OffsetDateTime) -> NewJob {
    NewJob {
        lane: None,
        kind: ROLLUP_JOB,
        account_id: None,
        dedup_key: Some("metrics-rollup".into()),
        payload: serde_json::json!({}),
        run_at: at,
    }
}

/// Days stored per round of the roll-up job.
const DAYS_PER_ROUND: i64 = 50;

/// `metrics.rollup`: store the tallies of the days over that changed (or
/// whose pending verdicts' windows ended), then again in
/// `metrics_rollup_secs`. Until a day is stored, reports read its
/// conversations, so this sets how much work a report does, never what it says.
pub async fn on_rollup(state: &AppState, _job: &Job) -> anyhow::Result<Outcome> {
    roll(state).await?;
    Ok(Outcome::Later(state.clock.now() + Duration::seconds(state.settings.metrics_rollup_secs.max(1) as i64)))
}

/// Stores every day over that needs it (tests and tools call it to have
/// reports read stored days at once); how many days.
pub async fn roll(state: &AppState) -> anyhow::Result<usize> {
    let mut total = 0;
    // A bounded number of rounds: a year of history is stored over a few runs.
    for _ in 0..20 {
        let now = state.clock.now();
        let days = state.store.days_to_roll(threadline_domain::tally::day_number(now), now, DAYS_PER_ROUND).await?;
        for day in &days {
            state.store.roll_day(day, now).await?;
        }
        total += days.len();
        if (days.len() as i64) < DAYS_PER_ROUND {
            break;
        }
    }
    // Then the spans whose days are all stored: a long report's workload
    // reads them instead of their days.
    for _ in 0..20 {
        let today = threadline_domain::tally::day_number(state.clock.now());
        let spans = state.store.spans_to_roll(today, DAYS_PER_ROUND).await?;
        let mut stored = 0;
        for span in &spans {
            stored += usize::from(state.store.roll_span(span).await?);
        }
        // Spans left unstored (a day unreadable, changed meanwhile) would come back each round.
        if (spans.len() as i64) < DAYS_PER_ROUND || stored == 0 {
            break;
        }
    }
    Ok(total)
}

/// `metrics.refresh`: measure what changed and has settled (no change for
/// `metrics_quiet_secs`, or marked `metrics_max_lag_secs` ago), then again
/// in `metrics_refresh_secs`.
pub async fn on_refresh(state: &AppState, _job: &Job) -> anyhow::Result<Outcome> {
    // Marks are written by the wall clock (the commit's).
    let wall = threadline_store::now();
    let quiet = Duration::seconds(state.settings.metrics_quiet_secs as i64);
    let max_lag = Duration::seconds(state.settings.metrics_max_lag_secs.max(1) as i64);
    measure(state, Some((wall - quiet, wall - max_lag))).await?;
    Ok(Outcome::Later(state.clock.now() + Duration::seconds(state.settings.metrics_refresh_secs.max(1) as i64)))
}

/// Measures every conversation marked as changed, settled or not (tests
/// and tools call it to see the numbers at once); how many.
pub async fn refresh(state: &AppState) -> anyhow::Result<usize> {
    measure(state, None).await
}

/// Measures the conversations marked as changed (those settled, with
/// `settle`), in a bounded number of rounds so a flood of changes cannot
/// hold the job forever; how many.
async fn measure(state: &AppState, settle: Option<(OffsetDateTime, OffsetDateTime)>) -> anyhow::Result<usize> {
    let mut total = 0;
    let mut settings: BTreeMap<AccountId, (Vec<StoredSlaPolicy>, Vec<Team>)> = BTreeMap::new();
    for _ in 0..40 {
        let stale = state.store.stale_metrics(ROUND, settle).await?;
        if stale.is_empty() {
            break;
        }
        let sources = state.store.metric_sources(&stale).await?;
        let now = state.clock.now();
        let mut rows = Vec::with_capacity(sources.len());
        for source in sources {
            let account_id = source.stale.account_id;
            if let std::collections::btree_map::Entry::Vacant(slot) = settings.entry(account_id) {
                slot.insert((state.store.sla_policies(account_id).await?, state.store.teams(account_id).await?));
            }
            let (policies, teams) = &settings[&account_id];
            let policy = policy_for(policies, teams, &source.conversation).map(|p| &p.policy);
            let hours = policy.and_then(|p| p.business_hours.as_ref());
            let offset_at = offset_in(hours.map(|h| h.time_zone.as_str()));
            let f = facts(&source.history, hours, &offset_at);
            // SLA clocks run from the handoff for conversations a bot began.
            let started_at = source
                .history
                .entries
                .iter()
                .find_map(|e| match e {
                    Entry::HandedOff { at } => Some(*at),
                    _ => None,
                })
                .unwrap_or(source.conversation.created_at);
            let (mut sla_clocks, mut sla_met) = (0, 0);
            // A conversation the bot kept never waited for people.
            let reached_people = !f.bot_involved || f.handed_off || f.agent_messages > 0;
            if let Some(policy) = policy.filter(|_| reached_people) {
                let resolved_at = source.conversation.resolved_at;
                for clock in conversation_clocks(policy, &source.conversation, started_at, now) {
                    // Resolved in time without a reply: nobody owed one.
                    let moot = clock.target != SlaTarget::Resolution && resolved_at.is_some_and(|r| r <= clock.due_at);
                    match clock.state {
                        ClockState::Met => (sla_clocks, sla_met) = (sla_clocks + 1, sla_met + 1),
                        ClockState::Breached if moot => {}
                        ClockState::MetLate | ClockState::Breached => sla_clocks += 1,
                        ClockState::Running | ClockState::Warning => {}
                    }
                }
            }
            rows.push(MetricRow { source, facts: f, sla_clocks, sla_met });
        }
        state.store.save_metrics(&rows, &stale).await?;
        total += stale.len();
        if (stale.len() as i64) < ROUND {
            break;
        }
    }
    Ok(total)
}
