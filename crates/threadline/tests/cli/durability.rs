//! Acknowledged means committed: kill -9 the server while 16 clients post
//! messages, restart it, and every message that got a 2xx is there.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use threadline_testkit::{Backend, fresh_database};

pub(crate) struct Server {
    pub child: Child,
    pub base: String,
}

/// A test that fails midway does not leave its server running.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &std::path::Path, database_url: &str, operator: &str) -> Server {
    start_server(data, database_url, operator, &[])
}

/// Starts `threadline serve` on a free port with `env` set; returns once
/// it prints its address.
pub(crate) fn start_server(data: &std::path::Path, database_url: &str, operator: &str, env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_threadline"))
        .args(["--data", data.to_str().unwrap(), "serve", "--bind", "127.0.0.1:0"])
        .env("DATABASE_URL", database_url)
        .env("THREADLINE_ADMIN_TOKEN", operator)
        .env("THREADLINE_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting threadline serve");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(base.starts_with("http://"), "unexpected first line: {line}");
    Server { child, base }
}

/// Creates an account on a running server, its admin `admin` with the
/// password "correct horse battery", and an API-channel inbox; returns the
/// admin's token and the inbox's id.
pub(crate) async fn account_with_inbox(base: &str, operator: &str, admin: &str) -> (String, String) {
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{base}/api/v1/accounts"))
        .bearer_auth(operator)
        .json(&json!({ "name": "Bottega", "admin": { "email": admin, "name": "Admin", "password": "correct horse battery" } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().expect("the account's token").to_owned();
    let inbox: Value = client
        .post(format!("{base}/api/v1/inboxes"))
        .bearer_auth(&token)
        .json(&json!({ "channel": "api", "name": "load" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (token, inbox["id"].as_str().expect("the inbox's id").to_owned())
}

async fn kill_minus_nine_loses_nothing_acknowledged(backend: Backend) {
    let data = std::env::temp_dir().join(format!("threadline-durability-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&data).unwrap();
    let database_url = match backend {
        Backend::Sqlite => String::new(),
        Backend::Postgres => fresh_database(backend, &data).await,
    };
    let operator = "operator-durability";
    let mut server = start(&data, &database_url, operator);
    let client = reqwest::Client::new();
    let (token, inbox) = account_with_inbox(&server.base, operator, "d@example.com").await;
    let url = format!("{}/api/v1/inboxes/{inbox}/messages", server.base);

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let (client, url, token, acknowledged) = (client.clone(), url.clone(), token.clone(), acknowledged.clone());
        clients.spawn(async move {
            for n in 0.. {
                let id = format!("SM-{worker}-{n}");
                let body = json!({ "sender": { "identities": [{ "kind": "phone", "value": format!("+39 347 {:03} {:04}", worker, n % 10000) }] }, "text": "durable?", "provider_message_id": id });
                match client.post(&url).bearer_auth(&token).json(&body).send().await {
                    Ok(r) if r.status().is_success() => acknowledged.lock().unwrap().push(id),
                    _ => return, // the server is gone
                }
            }
        });
    }
    // Let the load run, then kill the server without warning.
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if acknowledged.lock().unwrap().len() >= 400 {
            break;
        }
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    while clients.join_next().await.is_some() {}
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 400);

    let mut server = start(&data, &database_url, operator);
    let url = url.replacen(&url[..url.find("/api").unwrap()], &server.base, 1);
    let mut missing = Vec::new();
    for id in &acknowledged {
        let (worker, n) = {
            let mut parts = id.trim_start_matches("SM-").split('-');
            (parts.next().unwrap().parse::<u32>().unwrap(), parts.next().unwrap().parse::<u32>().unwrap())
        };
        let body = json!({ "sender": { "identities": [{ "kind": "phone", "value": format!("+39 347 {:03} {:04}", worker, n % 10000) }] }, "text": "durable?", "provider_message_id": id });
        let response = client.post(&url).bearer_auth(&token).json(&body).send().await.unwrap();
        // 200 + duplicate: it was stored before the kill.
        let status = response.status().as_u16();
        let outcome: Value = response.json().await.unwrap();
        if status != 200 || outcome["duplicate"] != true {
            missing.push(id.clone());
        }
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged messages lost: {:?}",
        missing.len(),
        acknowledged.len(),
        &missing[..missing.len().min(10)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_minus_nine_on_sqlite() {
    kill_minus_nine_loses_nothing_acknowledged(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_minus_nine_on_postgres() {
    kill_minus_nine_loses_nothing_acknowledged(Backend::Postgres).await;
}
