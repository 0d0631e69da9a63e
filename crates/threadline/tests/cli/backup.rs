//! `threadline backup` while the server runs, and `threadline restore`
//! into a data folder: the customers' messages come back with the key
//! that reads the installation's secrets.

use serde_json::{Value, json};

use crate::commands::{run, threadline};
use crate::durability::{account_with_inbox, start_server};

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("threadline-{name}-{}", uuid::Uuid::now_v7()))
}

async fn conversations(base: &str, token: &str) -> Vec<Value> {
    let body: Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/conversations?limit=50"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_into_a_new_data_folder() {
    let data = temp("backup-data");
    std::fs::create_dir_all(&data).unwrap();
    let operator = "operator-backup";
    let server = start_server(&data, "", operator, &[]);
    let client = reqwest::Client::new();
    let (token, inbox) = account_with_inbox(&server.base, operator, "b@example.com").await;
    let post = |text: &'static str| {
        let (client, url, token) = (client.clone(), format!("{}/api/v1/inboxes/{inbox}/messages", server.base), token.clone());
        async move {
            let body = json!({ "sender": { "identities": [{ "kind": "phone", "value": "+39 347 000 1111" }] }, "text": text });
            assert_eq!(client.post(url).bearer_auth(token).json(&body).send().await.unwrap().status(), 201);
        }
    };
    post("Before the backup").await;

    // Taken while the server runs.
    let backup = temp("backup");
    let (ok, out, err) = run(threadline(&data).arg("backup").arg(&backup));
    assert!(ok, "{err}");
    assert!(out.contains("threadline.db") && out.contains("secret.key"), "{out}");
    assert!(backup.join("threadline.db").is_file() && backup.join("secret.key").is_file());
    let (ok, _, err) = run(threadline(&data).arg("backup").arg(&backup));
    assert!(!ok && err.contains("not empty"), "a backup never overwrites another: {err}");
    post("After the backup").await;

    // Restoring over a running server is refused.
    let (ok, _, err) = run(threadline(&data).arg("restore").arg(&backup).arg("--force"));
    assert!(!ok && err.contains("stop the server"), "{err}");
    drop(server);

    // Into a new folder: the server starts on it with what the backup held.
    let fresh = temp("restored");
    let (ok, out, err) = run(threadline(&fresh).arg("restore").arg(&backup));
    assert!(ok, "{err}");
    assert!(out.contains("restored"), "{out}");
    let restored = start_server(&fresh, "", operator, &[]);
    let listed = conversations(&restored.base, &token).await;
    assert_eq!(listed.len(), 1, "the token and the conversation came back: {listed:?}");
    drop(restored);

    // Over the old folder only with --force, keeping what it replaces.
    let (ok, _, err) = run(threadline(&data).arg("restore").arg(&backup));
    assert!(!ok && err.contains("--force"), "{err}");
    let (ok, _, err) = run(threadline(&data).arg("restore").arg(&backup).arg("--force"));
    assert!(ok, "{err}");
    assert!(data.join("threadline.db.before-restore").is_file());

    // Not a backup: refused before anything is touched.
    let junk = temp("junk");
    std::fs::create_dir_all(&junk).unwrap();
    std::fs::write(junk.join("threadline.db"), b"not a database at all").unwrap();
    let (ok, _, err) = run(threadline(&fresh).arg("restore").arg(&junk).arg("--force"));
    assert!(!ok && (err.contains("not a threadline database") || err.contains("cannot be opened")), "{err}");
}

#[test]
fn postgresql_installations_are_told_to_use_pg_dump() {
    let (ok, _, err) = run(threadline(&temp("pg")).arg("backup").arg(temp("pg-backup")).env("DATABASE_URL", "postgres://u@127.0.0.1:1/x"));
    assert!(!ok);
    assert!(err.contains("pg_dump"), "{err}");
}
