//! SQLite's WAL checkpoints, beside the commits: a server's store leaves
//! them out of its commits (no commit waits for the disk's fsyncs) and the
//! server makes them every `sqlite_checkpoint_ms`; any other process keeps
//! SQLite's own, on the commit that takes the WAL past 1,000 pages.

use std::path::{Path, PathBuf};
use std::time::Duration;

use threadline_store::{ConnectOptions, Store};
use threadline_testkit::{Backend, spawn_app_with};

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Writes about 8 MB (2,000 pages of WAL) in one commit.
async fn fill(store: &Store) {
    store.execute_raw("CREATE TABLE filler (b BLOB)").await.unwrap();
    store
        .execute_raw(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO filler SELECT randomblob(4000) FROM n",
        )
        .await
        .unwrap();
}

fn database(name: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("threadline-checkpoints-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let url = format!("sqlite://{}?mode=rwc", path.display());
    (path, url)
}

#[tokio::test]
async fn a_servers_commits_leave_the_checkpoint_to_it() {
    // The server's store: the commit leaves its pages in the WAL.
    let (path, url) = database("background.db");
    let store = Store::connect(&url, &ConnectOptions { background_checkpoints: true, ..Default::default() }).await.unwrap();
    assert!(store.checkpoints_in_background());
    fill(&store).await;
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    assert!(file_size(&wal) > 8_000_000, "the pages are in the WAL: {}", file_size(&wal));
    assert!(file_size(&path) < 1_000_000, "and not yet in the database file: {}", file_size(&path));
    let (pages, copied) = store.checkpoint().await.unwrap();
    assert!(pages >= 2000 && copied == pages, "{pages} {copied}");
    assert!(file_size(&path) > 8_000_000, "the checkpoint copied them: {}", file_size(&path));
    // Once all of it is copied, the next commit starts the WAL over.
    store.execute_raw("INSERT INTO filler VALUES (x'00')").await.unwrap();
    let (pages, _) = store.checkpoint().await.unwrap();
    assert!(pages < 10, "{pages}");
    store.close().await;

    // Any other process: SQLite checkpoints on the commit itself.
    let (path, url) = database("inline.db");
    let store = Store::connect(&url, &ConnectOptions::default()).await.unwrap();
    assert!(!store.checkpoints_in_background());
    fill(&store).await;
    assert!(file_size(&path) > 8_000_000, "copied by the commit: {}", file_size(&path));
    store.close().await;
}

#[tokio::test]
async fn the_server_checkpoints_every_few_milliseconds() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.sqlite_checkpoint_ms = 50).await;
    let store = &app.server().state.store;
    assert!(store.checkpoints_in_background());
    let path = PathBuf::from(app.database_url.trim_start_matches("sqlite://").split('?').next().unwrap());
    let before = file_size(&path);
    fill(store).await;
    for _ in 0..100 {
        if file_size(&path) > before + 8_000_000 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no checkpoint copied the WAL into {} ({} bytes)", path.display(), file_size(&path));
}
