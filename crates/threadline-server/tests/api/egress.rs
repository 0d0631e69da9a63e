//! Server-side request forgery: addresses account admins choose (webhooks,
//! agent bots, mail servers) may not point Threadline at itself or the
//! network behind it — refused when registered (422) and again when used.

use serde_json::{Value, json};
use threadline_testkit::{Backend, TestApp, WebhookReceiver, spawn_app_with};

/// Every spelling of an internal address an attacker tried.
const INTERNAL: &[&str] = &[
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/hook",
    "http://[::1]/hook",
    "http://localhost/hook",
    "http://0.0.0.0/hook",
    "http://2130706433/hook",
    "http://127.1/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://user:pass@hooks.example.com/hook",
    "http://100.64.0.1/hook",
];

/// The test suite lets Threadline reach its stand-ins on 127.0.0.1; these
/// tests run with the production default, which allows nothing internal.
async fn strict(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| s.egress_allow.clear()).await
}

mod registration {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        internal_addresses_are_refused_at_registration(strict(Backend::Sqlite).await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        internal_addresses_are_refused_at_registration(strict(Backend::Postgres).await).await;
    }
}

mod delivery {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        internal_addresses_are_refused_at_delivery(threadline_testkit::spawn_app(Backend::Sqlite).await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        internal_addresses_are_refused_at_delivery(threadline_testkit::spawn_app(Backend::Postgres).await).await;
    }
}

mod redirects {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        an_agent_bot_redirect_is_not_followed(threadline_testkit::spawn_app(Backend::Sqlite).await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        an_agent_bot_redirect_is_not_followed(threadline_testkit::spawn_app(Backend::Postgres).await).await;
    }
}

fn field(body: &Value) -> &str {
    body["error"]["fields"][0]["field"].as_str().unwrap_or_default()
}

async fn internal_addresses_are_refused_at_registration(app: TestApp) {
    for url in INTERNAL {
        let (status, body) = app.post("/api/v1/webhooks", json!({ "url": url, "events": ["message.created"] })).await;
        assert_eq!((status, field(&body)), (422, "url"), "webhook {url}: {body}");
        let (status, body) = app.post("/api/v1/agent-bots", json!({ "name": "bot", "url": url })).await;
        assert_eq!((status, field(&body)), (422, "url"), "agent bot {url}: {body}");
    }
    let (status, hook) = app.post("/api/v1/webhooks", json!({ "url": "https://93.184.216.34/hook", "events": ["*"] })).await;
    assert_eq!(status, 201, "a public address is fine: {hook}");
    let (status, body) =
        app.patch(&format!("/api/v1/webhooks/{}", hook["id"].as_str().unwrap()), json!({ "url": "http://127.0.0.1:8080/" })).await;
    assert_eq!((status, field(&body)), (422, "url"), "changing the URL is checked too: {body}");

    for (host, field_name) in
        [("127.0.0.1", "settings.smtp_host"), ("localhost", "settings.smtp_host"), ("169.254.169.254", "settings.imap_host")]
    {
        let server = if field_name.contains("smtp") { "smtp_host" } else { "imap_host" };
        let (status, body) = app
            .post(
                "/api/v1/inboxes",
                json!({
                    "channel": "email", "name": "mail",
                    "settings": { "address": "help@shop.example", server: host },
                    "secrets": { "imap_username": "u", "imap_password": "p" },
                }),
            )
            .await;
        assert_eq!((status, field(&body)), (422, field_name), "{host}: {body}");
    }
}

async fn internal_addresses_are_refused_at_delivery(app: TestApp) {
    // Registered while the operator allowed 127.0.0.1 (or while its name
    // resolved elsewhere); then the policy no longer allows it.
    let mut app = app;
    let receiver = WebhookReceiver::start(0).await;
    let (status, hook) = app.post("/api/v1/webhooks", json!({ "url": receiver.url(), "events": ["message.created"] })).await;
    assert_eq!(status, 201, "{hook}");
    app.restart(|s| s.egress_allow.clear()).await;
    let inbox = app.create_inbox("api", "x").await;
    app.inbound(&inbox, json!([{ "kind": "email", "value": "w@example.com" }]), "hello").await;
    let log = app
        .wait_for(&format!("/api/v1/webhooks/{}/deliveries", hook["id"].as_str().unwrap()), 10, |log| {
            log.as_array().is_some_and(|l| l.iter().any(|d| d["last_error"].is_string()))
        })
        .await;
    let error = log[0]["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("egress policy") && error.contains("loopback"), "{log}");
    assert!(receiver.received().is_empty(), "nothing reached the internal address");
}

async fn an_agent_bot_redirect_is_not_followed(app: TestApp) {
    // The bot (allowed, on 127.0.0.1) answers with a redirect to an
    // internal service (127.0.0.2, not allowed) whose answer must never
    // reach the customer.
    let internal = WebhookReceiver::start_at("127.0.0.2", 0).await;
    internal.answer_with(Some(json!({ "messages": [{ "text": "SECRET FROM THE INTERNAL SERVICE" }] })));
    let bot = WebhookReceiver::start(0).await;
    bot.redirect_to(Some(internal.url()));
    let mut app = app;
    app.restart(|s| s.agent_bot_max_attempts = 2).await;
    let (status, created) = app.post("/api/v1/agent-bots", json!({ "name": "Rasa", "url": bot.url() })).await;
    assert_eq!(status, 201, "{created}");
    let inbox = app.create_inbox("api", "App").await;
    app.put(&format!("/api/v1/inboxes/{inbox}/bot"), json!({ "mode": "external", "agent_bot_id": created["agent_bot"]["id"] })).await;
    let outcome = app.inbound(&inbox, json!([{ "kind": "external_id", "value": "mallory" }]), "hello bot").await;
    let conversation = outcome["conversation"]["id"].as_str().unwrap().to_owned();

    // The bot is given up on and the conversation goes to people…
    let handed =
        app.wait_for(&format!("/api/v1/conversations/{conversation}"), 20, |c| c["handler"] == "human" && bot.received().len() >= 2).await;
    assert_eq!(handed["handler"], "human", "{handed}");
    // …and the internal service was never asked, nor its answer posted.
    assert!(internal.received().is_empty(), "the redirect was followed");
    let (_, messages) = app.get(&format!("/api/v1/conversations/{conversation}/messages")).await;
    assert!(!messages.to_string().contains("SECRET"), "{messages}");
}
