//! Retention: every `retention_interval_secs` a job ([`RETENTION_JOB`], one
//! for the installation) applies each account's policies (see
//! `threadline_store`'s `retention` module), a batch at a time with a pause
//! between batches, so messages arriving meanwhile are stored without
//! waiting behind a long purge. Batches are small transactions: a purge
//! taken over by another node after a crash only goes on where it stopped.

use std::time::Duration;

use threadline_domain::ids::AccountId;
use threadline_store::{Job, NewJob, RetentionCount};
use time::OffsetDateTime;

use crate::app::AppState;
use crate::jobs::Outcome;

/// The job kind of the purge.
pub const RETENTION_JOB: &str = "retention.purge";

/// The purge, due at `at` (one pending for the installation).
pub fn job(at: OffsetDateTime) -> NewJob {
    NewJob {
        lane: None,
        kind: RETENTION_JOB,
        account_id: None,
        dedup_key: Some("retention-purge".into()),
        payload: serde_json::json!({}),
        run_at: at,
    }
}

/// The job: one purge of every account, then the next in
/// `retention_interval_secs`.
pub async fn on_due(state: &AppState, _job: &Job) -> anyhow::Result<Outcome> {
    let done = run_once(state).await?;
    for (account, count) in done.iter().filter(|(_, c)| c.count > 0) {
        tracing::info!(account = %account, class = %count.policy.data_class, removed = count.count, "retention purge");
    }
    Ok(Outcome::Later(state.clock.now() + time::Duration::seconds(state.settings.retention_interval_secs.max(1) as i64)))
}

/// Items removed per transaction.
const BATCH: i64 = 500;
/// The pause between batches: ingest gets the writer in between.
const PAUSE: Duration = Duration::from_millis(20);

/// Applies every account's policies now; returns what each removed. Tests
/// call it instead of waiting for the interval.
pub async fn run_once(state: &AppState) -> Result<Vec<(AccountId, RetentionCount)>, threadline_store::StoreError> {
    let mut done = Vec::new();
    for account in state.store.accounts_with_retention().await? {
        for count in run_account(state, account).await? {
            done.push((account, count));
        }
    }
    Ok(done)
}

/// Applies one account's policies now; returns what each removed.
pub async fn run_account(state: &AppState, account: AccountId) -> Result<Vec<RetentionCount>, threadline_store::StoreError> {
    let policies = state.store.retention_policies(account).await?;
    let mut counts = Vec::with_capacity(policies.len());
    for policy in &policies {
        let mut removed = 0;
        loop {
            let n = state.store.purge_batch(account, policy, &policies, BATCH).await?;
            removed += n;
            if n < BATCH as u64 {
                break;
            }
            tokio::time::sleep(PAUSE).await;
        }
        counts.push(RetentionCount { policy: policy.clone(), count: removed });
    }
    Ok(counts)
}
