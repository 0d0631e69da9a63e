//! SQLite's WAL checkpoints, beside the commits rather than in one of them.
//!
//! A checkpoint copies the WAL's pages into the database file and fsyncs
//! both. Left to SQLite, it runs inside the commit that takes the WAL past
//! 1,000 pages, and that commit — with every request queued behind the
//! single writer — waits as long as the disk takes, which on a machine busy
//! writing something else is hundreds of milliseconds. The server instead
//! checkpoints every `sqlite_checkpoint_ms` on a connection of the pool,
//! passively (it neither waits for readers nor holds up writers), and the
//! store's connections leave it alone (`ConnectOptions::background_checkpoints`).

use std::time::Duration;

use tokio::sync::watch;

use crate::app::AppState;

pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    if !state.store.checkpoints_in_background() {
        return;
    }
    let every = Duration::from_millis(state.settings.sqlite_checkpoint_ms.max(10));
    let mut failing = false;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(every) => {}
        }
        match state.store.checkpoint().await {
            Ok((wal, copied)) => {
                failing = false;
                tracing::trace!(wal, copied, "WAL checkpoint");
            }
            // Said once per run of failures: the next try is a moment away.
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "could not checkpoint SQLite's WAL; it grows until the next try succeeds");
            }
            Err(_) => {}
        }
    }
}
