//! Test support for Threadline: [`spawn_app`] starts the real server on a
//! random port with a fresh database — a temporary SQLite file, or a new
//! uniquely named PostgreSQL database on the server named by
//! `THREADLINE_TEST_DATABASE_URL` — and [`WebhookReceiver`] stands in for an
//! integrator's endpoint.

mod imap_server;
mod llm;
mod providers;
mod push;
mod smtp_sink;
mod voice;
mod webhook_receiver;

use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::{Value, json};
use threadline_server::Settings;
use threadline_server::config::Secret;
use threadline_server::secrets::SecretBox;
use threadline_store::{ConnectOptions, Store};

pub use imap_server::ImapServer;
pub use llm::LlmStandIn;
pub use providers::{GRAPH_VERSION, MultipartPart, ProviderRequest, ProviderStandIn};
pub use push::{APNS_KEY_ID, APNS_TEAM, APNS_TOPIC, FCM_PROJECT, Push, PushStandIn};
pub use smtp_sink::SmtpSink;
pub use voice::{CallLog, CallScript, Input, VoiceCaller};
pub use webhook_receiver::{ReceivedWebhook, WebhookReceiver};

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per backend: `backend_tests!(name, body_fn)` makes
/// `name::sqlite` and `name::postgres`. The PostgreSQL one fails (never
/// skips) when `THREADLINE_TEST_DATABASE_URL` is not set.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::spawn_app($crate::Backend::Sqlite).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::spawn_app($crate::Backend::Postgres).await).await;
            }
        }
    )*};
}

/// A running server with a fresh account and its admin's API token.
pub struct TestApp {
    pub addr: SocketAddr,
    pub backend: Backend,
    pub client: reqwest::Client,
    /// Operator token for `POST /api/v1/accounts`.
    pub admin_token: String,
    /// API token of the first account's admin.
    pub token: String,
    pub account_id: String,
    pub user_id: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    running: Option<threadline_server::Running>,
}

/// Settings for tests: random port, quick webhook retries.
pub fn test_settings(data_dir: PathBuf, database_url: String) -> Settings {
    Settings {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        data: data_dir,
        database_url: Secret(database_url),
        admin_token: Secret(format!("operator-{}", uuid::Uuid::now_v7().simple())),
        webhook_max_attempts: 3,
        webhook_retry_base_secs: 1,
        webhook_timeout_secs: 2,
        max_body_bytes: 2 * 1024 * 1024,
        max_attachment_bytes: 512 * 1024,
        // Workers look often, so tests need not wait.
        routing_interval_secs: 1,
        sla_interval_secs: 1,
        agent_bot_timeout_secs: 2,
        // The stand-ins for providers, receivers and mail servers listen on
        // 127.0.0.1; everything else internal stays refused, as in production.
        egress_allow: vec!["127.0.0.1/32".into()],
        ..Settings::default()
    }
}

/// A fresh database URL for `backend`.
pub async fn fresh_database(backend: Backend, data_dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", data_dir.join("threadline.db").display()),
        Backend::Postgres => {
            let base = std::env::var("THREADLINE_TEST_DATABASE_URL").expect(
                "THREADLINE_TEST_DATABASE_URL is not set: the PostgreSQL tests need a server \
                 (e.g. postgres://postgres@127.0.0.1:5432/postgres); `scripts/test` sets it up",
            );
            let name = format!("threadline_test_{}", uuid::Uuid::now_v7().simple());
            let admin = Store::connect(&base, &ConnectOptions { max_connections: 1, ..Default::default() })
                .await
                .expect("cannot reach THREADLINE_TEST_DATABASE_URL");
            admin.execute_raw(&format!("CREATE DATABASE \"{name}\"")).await.expect("creating the test database");
            admin.close().await;
            replace_database_name(&base, &name)
        }
    }
}

fn replace_database_name(url: &str, name: &str) -> String {
    let (without_query, query) = match url.split_once('?') {
        Some((u, q)) => (u, Some(q)),
        None => (url, None),
    };
    let scheme_end = without_query.find("://").map_or(0, |i| i + 3);
    let base = match without_query[scheme_end..].find('/') {
        Some(slash) => &without_query[..scheme_end + slash],
        None => without_query,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Starts a server on a fresh database with one account.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], adjusting settings first.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = std::env::temp_dir().join(format!("threadline-test-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&data_dir).expect("creating a temp folder");
    let database_url = fresh_database(backend, &data_dir).await;
    let running = start_server(&data_dir, &database_url, adjust).await;
    let admin_token = running.state.settings.admin_token.0.clone();
    let mut app = TestApp {
        addr: running.addr,
        backend,
        client: reqwest::Client::new(),
        admin_token,
        token: String::new(),
        account_id: String::new(),
        user_id: String::new(),
        data_dir,
        database_url,
        running: Some(running),
    };
    let (account_id, user_id, token) = app.create_account("Acme Italia", "admin@acme.example").await;
    app.account_id = account_id;
    app.user_id = user_id;
    app.token = token;
    app
}

/// Starts a server on an existing database and data folder.
async fn start_server(data_dir: &std::path::Path, database_url: &str, adjust: impl FnOnce(&mut Settings)) -> threadline_server::Running {
    let mut settings = test_settings(data_dir.to_path_buf(), database_url.to_owned());
    adjust(&mut settings);
    let options = ConnectOptions { background_checkpoints: settings.sqlite_checkpoint_ms > 0, ..Default::default() };
    let store = Store::connect(database_url, &options).await.expect("connecting");
    store.migrate().await.expect("migrating");
    let store = match settings.attachment_store {
        threadline_server::config::AttachmentStore::Database => store,
        threadline_server::config::AttachmentStore::Disk => {
            store.with_attachment_storage(threadline_store::AttachmentStorage::Disk(data_dir.join("attachments")))
        }
    };
    let secrets = SecretBox::from_key_file(&data_dir.join("secret.key")).expect("secret key");
    threadline_server::start(settings, store, secrets).await.expect("starting the server")
}

impl TestApp {
    /// Stops the server and starts a new one on the same database with the
    /// same settings, changed by `adjust`, as after a restart (it listens on
    /// a new port).
    pub async fn restart(&mut self, adjust: impl FnOnce(&mut Settings)) {
        let mut previous = None;
        if let Some(running) = self.running.take() {
            previous = Some(running.state.settings.clone());
            running.shutdown().await;
        }
        let admin_token = self.admin_token.clone();
        let running = start_server(&self.data_dir, &self.database_url, |s| {
            if let Some(previous) = previous {
                *s = previous;
                s.bind = SocketAddr::from(([127, 0, 0, 1], 0));
                // It named the old port.
                s.public_url = String::new();
            }
            s.admin_token = Secret(admin_token);
            adjust(s);
        })
        .await;
        self.addr = running.addr;
        self.running = Some(running);
    }

    /// Runs SQL on the test's database directly (to age data, or to put it
    /// in a state the API cannot, such as a crash mid-send).
    pub async fn sql(&self, statement: &str) {
        let store =
            Store::connect(&self.database_url, &ConnectOptions { max_connections: 1, ..Default::default() }).await.expect("connecting");
        store.execute_raw(statement).await.expect("running SQL");
        store.close().await;
    }

    /// Reads integers from the test's database directly (the first column
    /// of each row).
    pub async fn sql_integers(&self, query: &str) -> Vec<i64> {
        let store =
            Store::connect(&self.database_url, &ConnectOptions { max_connections: 1, ..Default::default() }).await.expect("connecting");
        let found = store.integers_raw(query).await.expect("running SQL");
        store.close().await;
        found
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Creates another account; returns (account id, admin user id, admin token).
    pub async fn create_account(&self, name: &str, admin_email: &str) -> (String, String, String) {
        let body = json!({
            "name": name,
            "default_region": "IT",
            "admin": { "email": admin_email, "name": "Admin", "password": "correct horse battery" },
        });
        let response =
            self.client.post(self.url("/api/v1/accounts")).bearer_auth(&self.admin_token).json(&body).send().await.expect("request");
        assert_eq!(response.status(), 201, "creating an account: {}", response.text().await.unwrap_or_default());
        let created: Value = response.json().await.expect("json");
        (
            created["account"]["id"].as_str().expect("account id").to_owned(),
            created["admin"]["id"].as_str().expect("user id").to_owned(),
            created["token"].as_str().expect("token").to_owned(),
        )
    }

    /// Assigns a mail domain to the test account, as the operator does, so
    /// its email inboxes receive mail at that domain.
    pub async fn assign_domain(&self, domain: &str) {
        let response = self
            .client
            .post(self.url(&format!("/api/v1/accounts/{}/domains", self.account_id)))
            .bearer_auth(&self.admin_token)
            .json(&json!({ "domain": domain }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201, "assigning {domain}: {}", response.text().await.unwrap_or_default());
    }

    /// Sends a request with the admin token; returns status and JSON body
    /// (`Value::Null` when the body is empty or not JSON).
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(&self.token, method, path, body).await
    }

    pub async fn call_as(&self, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    /// Creates a user with `role` and an API token for them; returns
    /// (user id, token).
    pub async fn create_user(&self, email: &str, name: &str, role: &str) -> (String, String) {
        let (status, user) =
            self.post("/api/v1/users", json!({ "email": email, "name": name, "role": role, "password": "a long enough password" })).await;
        assert_eq!(status, 201, "{user}");
        let id = user["id"].as_str().expect("user id").to_owned();
        let (status, token) = self.post("/api/v1/api-tokens", json!({ "name": name, "user_id": id })).await;
        assert_eq!(status, 201, "{token}");
        (id, token["secret"].as_str().expect("token").to_owned())
    }

    /// Polls `path` until `done` holds for its JSON (at most `secs`);
    /// returns the last answer.
    pub async fn wait_for(&self, path: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let (_, body) = self.get(path).await;
            if done(&body) || tokio::time::Instant::now() > deadline {
                return body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Creates an inbox of `channel`; returns its id.
    pub async fn create_inbox(&self, channel: &str, name: &str) -> String {
        let (status, body) = self.post("/api/v1/inboxes", json!({ "channel": channel, "name": name })).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("inbox id").to_owned()
    }

    /// Posts an inbound message through the API channel; returns the outcome.
    pub async fn inbound(&self, inbox_id: &str, identities: Value, text: &str) -> Value {
        let body = json!({ "sender": { "name": "Maria Rossi", "identities": identities }, "text": text });
        let (status, outcome) = self.post(&format!("/api/v1/inboxes/{inbox_id}/messages"), body).await;
        assert_eq!(status, 201, "{outcome}");
        outcome
    }

    /// The running server's state (store, bus) for assertions beyond HTTP.
    pub fn server(&self) -> &threadline_server::Running {
        self.running.as_ref().expect("server running")
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database_name;

    #[test]
    fn database_names_are_replaced() {
        assert_eq!(replace_database_name("postgres://postgres@127.0.0.1:5432/postgres", "t1"), "postgres://postgres@127.0.0.1:5432/t1");
        assert_eq!(replace_database_name("postgres://u:p@h/db?sslmode=disable", "t1"), "postgres://u:p@h/t1?sslmode=disable");
        assert_eq!(replace_database_name("postgres://h", "t1"), "postgres://h/t1");
    }
}
