//! The retention worker: every `retention_interval_secs`, each account's
//! policies are applied (see `threadline_store`'s `retention` module), a
//! batch at a time with a pause between batches, so messages arriving
//! meanwhile are stored without waiting behind a long purge. Every node
//! runs it; batches are small transactions, so two nodes purging at once
//! only share the work.

use std::time::Duration;

use threadline_domain::ids::AccountId;
use threadline_store::RetentionCount;
use tokio::sync::watch;

use crate::app::AppState;

/// Items removed per transaction.
const BATCH: i64 = 500;
/// The pause between batches: ingest gets the writer in between.
const PAUSE: Duration = Duration::from_millis(20);

pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let interval = Duration::from_secs(state.settings.retention_interval_secs);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(interval) => {}
        }
        match run_once(&state, Some(&mut stop)).await {
            Ok(done) => {
                for (account, count) in done.iter().filter(|(_, c)| c.count > 0) {
                    tracing::info!(account = %account, class = %count.policy.data_class, removed = count.count, "retention purge");
                }
            }
            Err(e) => tracing::warn!(error = %e, "retention purge failed; it is tried again at the next interval"),
        }
    }
}

/// Applies every account's policies now; returns what each removed. Tests
/// call it instead of waiting for the interval.
pub async fn run_once(
    state: &AppState,
    mut stop: Option<&mut watch::Receiver<bool>>,
) -> Result<Vec<(AccountId, RetentionCount)>, threadline_store::StoreError> {
    let mut done = Vec::new();
    for account in state.store.accounts_with_retention().await? {
        for count in run_account(state, account, stop.as_deref_mut()).await? {
            done.push((account, count));
        }
    }
    Ok(done)
}

/// Applies one account's policies now; returns what each removed.
pub async fn run_account(
    state: &AppState,
    account: AccountId,
    mut stop: Option<&mut watch::Receiver<bool>>,
) -> Result<Vec<RetentionCount>, threadline_store::StoreError> {
    let policies = state.store.retention_policies(account).await?;
    let mut counts = Vec::with_capacity(policies.len());
    for policy in &policies {
        let mut removed = 0;
        loop {
            if stop.as_mut().is_some_and(|s| *s.borrow()) {
                return Ok(counts);
            }
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
