//! The relay: the one way committed events reach the bus.
//!
//! Each commit that emits events leaves a row in `event_relay` (see the
//! store's `relay.rs`). This task wakes when a commit in this process did
//! so, and every `relay_poll_ms` for rows other processes left (another
//! node that died before relaying, a CLI command), claims the oldest rows,
//! publishes their events and deletes the rows. When the bus cannot take
//! them (NATS away), the rows stay and are tried again, backing off up to
//! a few seconds: nothing is lost, live pages are late.

use std::time::Duration;

use tokio::sync::watch;

use crate::app::AppState;

/// Commits' rows claimed at once.
const BATCH: i64 = 256;

/// The longest wait between tries while the bus refuses.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let poll = Duration::from_millis(state.settings.relay_poll_ms.max(10));
    let mut backoff = Duration::ZERO;
    loop {
        let wait = if backoff.is_zero() { poll } else { backoff };
        let stopping = tokio::select! {
            _ = stop.wait_for(|s| *s) => true,
            _ = state.store.events_committed(), if backoff.is_zero() => false,
            _ = tokio::time::sleep(wait) => false,
        };
        if stopping {
            // What committed before the stop still goes out.
            if relay_all(&state).await.is_ok() {
                let _ = state.store.relay_forget_published().await;
            }
            return;
        }
        match relay_all(&state).await {
            Ok(()) => backoff = Duration::ZERO,
            Err(e) => {
                backoff = (backoff * 2).clamp(Duration::from_millis(100), MAX_BACKOFF);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "could not relay committed events; they wait in event_relay");
            }
        }
    }
}

/// Relays until no row waits.
pub async fn relay_all(state: &AppState) -> anyhow::Result<()> {
    loop {
        let batch = state.store.relay_claim(BATCH).await?;
        if batch.is_empty() {
            return Ok(());
        }
        let full = batch.commits() as i64 == BATCH;
        state.bus.publish(&batch.events).await?;
        state.store.relay_done(batch).await?;
        if !full {
            return Ok(());
        }
    }
}
