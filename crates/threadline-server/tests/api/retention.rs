//! Retention policies: a dry run counts what would go, the purge removes it
//! in batches, a channel's own policy wins for that channel, a contact on
//! legal hold keeps everything, and the audit chain still verifies after
//! its oldest entries are gone.

use serde_json::{Value, json};
use threadline_store::{ConnectOptions, Store};
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(old_data_is_purged_by_policy_except_on_legal_hold);

const DAY_MICROS: i64 = 86_400_000_000;

async fn raw(app: &TestApp, sql: &str) {
    let store = Store::connect(&app.database_url, &ConnectOptions { max_connections: 1, ..Default::default() }).await.unwrap();
    store.execute_raw(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    store.close().await;
}

fn count_of(preview: &Value, class: &str, channel: Option<&str>) -> u64 {
    preview["counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["data_class"] == class && c["channel"].as_str() == channel)
        .unwrap_or_else(|| panic!("{class} {channel:?} in {preview}"))["count"]
        .as_u64()
        .unwrap()
}

async fn old_data_is_purged_by_policy_except_on_legal_hold(app: TestApp) {
    let api = app.create_inbox("api", "shop").await;
    let mut held = String::new();
    for (who, n) in [("ada@example.com", 3), ("bea@example.com", 2)] {
        for i in 0..n {
            let outcome = app.inbound(&api, json!([{ "kind": "email", "value": who }]), &format!("message {i}")).await;
            held = outcome["message"]["contact_id"].as_str().unwrap().to_owned();
        }
    }
    // Bea is on legal hold; then everything so far is 40 days old.
    app.put(&format!("/api/v1/contacts/{held}/legal-hold"), json!({ "hold": true })).await;
    let old = format!("created_at - {}", 40 * DAY_MICROS);
    raw(&app, &format!("UPDATE messages SET created_at = {old}")).await;
    raw(&app, &format!("UPDATE events SET occurred_at = occurred_at - {}", 40 * DAY_MICROS)).await;
    // The oldest audit entries too (the database refuses changes to them,
    // so the guard is lifted for the test — as an attacker with its keys
    // could; what is aged here is removed below, so the rest verifies).
    let trigger = match app.backend {
        threadline_testkit::Backend::Sqlite => "DROP TRIGGER audit_log_append_only",
        threadline_testkit::Backend::Postgres => "DROP TRIGGER audit_log_append_only ON audit_log",
    };
    raw(&app, trigger).await;
    raw(&app, &format!("UPDATE audit_log SET created_at = created_at - {} WHERE seq <= 2", 40 * DAY_MICROS)).await;
    // Fresh messages, which every policy keeps.
    app.inbound(&api, json!([{ "kind": "email", "value": "ada@example.com" }]), "a new one").await;

    let policies = json!({ "policies": [
        { "data_class": "messages", "days": 365 },
        { "data_class": "messages", "channel": "api", "days": 30 },
        { "data_class": "events", "days": 30 },
        { "data_class": "audit", "days": 30 },
    ] });
    let (status, body) =
        app.post("/api/v1/retention/preview", json!({ "policies": [{ "data_class": "audit", "channel": "sms", "days": 0 }] })).await;
    assert_eq!(status, 422, "{body}");
    let (status, preview) = app.post("/api/v1/retention/preview", policies.clone()).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(count_of(&preview, "messages", Some("api")), 3, "Ada's three old messages; Bea's are on hold: {preview}");
    assert_eq!(count_of(&preview, "messages", None), 0, "a year for the other channels");
    assert!(count_of(&preview, "events", None) >= 5);
    assert_eq!(count_of(&preview, "audit", None), 2);
    let (_, conversations) = app.get("/api/v1/conversations").await;
    let total = |conversations: &Value| conversations["data"].as_array().unwrap().len();
    assert_eq!(total(&conversations), 2, "the dry run removed nothing");

    let (status, _) = app.put("/api/v1/retention", policies).await;
    assert_eq!(status, 200);
    let (status, run) = app.post("/api/v1/retention/run", json!({})).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(count_of(&run, "messages", Some("api")), 3);
    assert_eq!(count_of(&run, "audit", None), 2);

    let (_, conversations) = app.get("/api/v1/conversations").await;
    assert_eq!(total(&conversations), 2, "conversations stay, for reports");
    let mut texts = Vec::new();
    for c in conversations["data"].as_array().unwrap() {
        let (_, messages) = app.get(&format!("/api/v1/conversations/{}/messages", c["id"].as_str().unwrap())).await;
        texts.extend(messages["data"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_owned()));
    }
    texts.sort();
    assert_eq!(texts, ["a new one", "message 0", "message 1"], "Ada's old messages went; Bea's (on hold) and the new one stayed");
    let (_, events) = app.get("/api/v1/events?limit=200").await;
    assert!(!events["data"].as_array().unwrap().is_empty(), "recent events stay");
    let (_, verified) = app.get("/api/v1/audit-log/verify").await;
    assert_eq!(verified["intact"], true, "{verified}");
    assert_eq!(verified["first_seq"], 3, "{verified}");
    let (_, log) = app.get("/api/v1/audit-log").await;
    assert!(log.to_string().contains("audit.purged"));

    // Nothing more is due: a second run removes nothing.
    let again = threadline_server::retention::run_once(&app.server().state).await.unwrap();
    assert!(again.iter().all(|(_, c)| c.count == 0), "{again:?}");
}
