//! The audit log records every change of users, roles, tokens, inboxes
//! (never a secret's value), webhooks and settings, as a hash chain that
//! shows where it was tampered with.

use serde_json::{Value, json};
use threadline_store::{ConnectOptions, Store};
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(every_change_is_audited_without_secrets, tampering_breaks_the_chain);

async fn actions(app: &TestApp) -> Vec<Value> {
    let (status, log) = app.get("/api/v1/audit-log?limit=200").await;
    assert_eq!(status, 200, "{log}");
    log["data"].as_array().unwrap().clone()
}

async fn every_change_is_audited_without_secrets(app: TestApp) {
    let (user_id, _) = app.create_user("luca@acme.example", "Luca", "agent").await;
    app.patch(&format!("/api/v1/users/{user_id}"), json!({ "role": "supervisor", "password": "a new long password" })).await;
    let (_, token) = app.post("/api/v1/api-tokens", json!({ "name": "shop", "scopes": ["integration"] })).await;
    app.call(reqwest::Method::DELETE, &format!("/api/v1/api-tokens/{}", token["id"].as_str().unwrap()), None).await;
    let (_, inbox) = app
        .post(
            "/api/v1/inboxes",
            json!({ "channel": "telegram", "name": "Bot", "secrets": { "bot_token": "123:TOPSECRET", "webhook_secret": "HOOKSECRET" } }),
        )
        .await;
    let inbox = inbox["id"].as_str().unwrap().to_owned();
    app.patch(&format!("/api/v1/inboxes/{inbox}"), json!({ "secrets": { "bot_token": "456:ALSOSECRET", "webhook_secret": "X2" } })).await;
    let (_, hook) = app.post("/api/v1/webhooks", json!({ "url": "https://hooks.example.com/t/PATHSECRET", "events": ["*"] })).await;
    app.patch(&format!("/api/v1/webhooks/{}", hook["id"].as_str().unwrap()), json!({ "active": false })).await;
    app.call(reqwest::Method::DELETE, &format!("/api/v1/webhooks/{}", hook["id"].as_str().unwrap()), None).await;
    app.patch("/api/v1/account", json!({ "continuity_window_secs": 86400 })).await;
    app.post("/api/v1/triage/rules", json!({ "name": "resi", "keywords": ["reso"], "category": "returns" })).await;
    app.call(reqwest::Method::DELETE, &format!("/api/v1/users/{user_id}"), None).await;

    let log = actions(&app).await;
    let names: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in [
        "user.create",
        "user.update",
        "api_token.create",
        "api_token.revoke",
        "inbox.create",
        "inbox.update",
        "webhook.create",
        "webhook.update",
        "webhook.delete",
        "account.update",
        "triage.settings",
        "user.deactivate",
    ] {
        assert!(names.contains(&action), "{action} not audited: {names:?}");
    }
    let role_change = log.iter().find(|e| e["action"] == "user.update").unwrap();
    assert_eq!(role_change["data"]["role"], "supervisor");
    assert_eq!(role_change["data"]["password"], true, "that the password changed, not what to");
    assert!(log.iter().all(|e| e["actor"] == format!("user:{}", app.user_id) || e["actor"] == "operator"), "who did it: {log:?}");
    let text = serde_json::to_string(&log).unwrap();
    for secret in ["TOPSECRET", "ALSOSECRET", "HOOKSECRET", "PATHSECRET", "a new long password", "whsec_"] {
        assert!(!text.contains(secret), "{secret} is in the audit log");
    }
    let (_, verified) = app.get("/api/v1/audit-log/verify").await;
    assert_eq!(verified["intact"], true, "{verified}");
    assert_eq!(verified["entries"].as_u64().unwrap() as usize, log.len());
}

async fn tampering_breaks_the_chain(app: TestApp) {
    for i in 0..5 {
        app.post("/api/v1/teams", json!({ "name": format!("team {i}") })).await;
        app.create_user(&format!("u{i}@acme.example"), &format!("User {i}"), "agent").await;
    }
    let (_, verified) = app.get("/api/v1/audit-log/verify").await;
    assert_eq!(verified["intact"], true, "{verified}");
    let entries = verified["entries"].as_i64().unwrap();
    assert!(entries >= 10, "{verified}");

    // The database refuses to change an entry…
    let store = Store::connect(&app.database_url, &ConnectOptions { max_connections: 1, ..Default::default() }).await.unwrap();
    let refused = store.execute_raw("UPDATE audit_log SET actor = 'user:someone-else'").await;
    assert!(refused.is_err(), "an audit entry was changed in place");
    // …and one removed from the middle (by someone with the database's
    // keys) is found, and named.
    store.execute_raw(&format!("DELETE FROM audit_log WHERE seq = {}", entries / 2)).await.unwrap();
    store.close().await;
    let (_, verified) = app.get("/api/v1/audit-log/verify").await;
    assert_eq!(verified["intact"], false, "{verified}");
    assert!(verified["problem"].as_str().unwrap().contains("missing"), "{verified}");
}
