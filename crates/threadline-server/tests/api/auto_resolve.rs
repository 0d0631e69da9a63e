//! Pending conversations the customer left unanswered are resolved after
//! the account's `auto_resolve_pending_days`, and not before; accounts
//! without the setting keep theirs.

use serde_json::json;
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(quiet_pending_conversations_are_resolved_after_the_accounts_days,);

async fn run_jobs(app: &TestApp) {
    threadline_server::jobs::run_due(&app.server().state, 100).await.unwrap();
}

async fn status_of(app: &TestApp, id: &str) -> String {
    app.get(&format!("/api/v1/conversations/{id}")).await.1["status"].as_str().unwrap().to_owned()
}

async fn quiet_pending_conversations_are_resolved_after_the_accounts_days(app: TestApp) {
    let (status, error) = app.call(reqwest::Method::PATCH, "/api/v1/account", Some(json!({ "auto_resolve_pending_days": 400 }))).await;
    assert_eq!(status, 422, "{error}");
    assert_eq!(error["error"]["fields"][0]["field"], "auto_resolve_pending_days");
    let (status, account) = app.call(reqwest::Method::PATCH, "/api/v1/account", Some(json!({ "auto_resolve_pending_days": 3 }))).await;
    assert_eq!((status, account["auto_resolve_pending_days"].as_i64()), (200, Some(3)), "{account}");

    let inbox = app.create_inbox("api", "Shop").await;
    let mut ids = Vec::new();
    for (who, status) in [("ada@example.com", "pending"), ("bo@example.com", "open")] {
        let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": who }]), "Which size should I take?").await;
        let id = outcome["conversation"]["id"].as_str().unwrap().to_owned();
        assert_eq!(app.post(&format!("/api/v1/conversations/{id}/messages"), json!({ "text": "What is your usual size?" })).await.0, 201);
        assert_eq!(app.patch(&format!("/api/v1/conversations/{id}"), json!({ "status": status })).await.0, 200);
        ids.push(id);
    }

    app.server().state.clock.advance(time::Duration::days(2));
    run_jobs(&app).await;
    assert_eq!(status_of(&app, &ids[0]).await, "pending", "two quiet days are not three");
    app.server().state.clock.advance(time::Duration::days(2));
    run_jobs(&app).await;
    assert_eq!(status_of(&app, &ids[0]).await, "resolved");
    assert_eq!(status_of(&app, &ids[1]).await, "open", "only pending conversations");
    // An ordinary resolution: its event went out.
    let (_, events) = app.get("/api/v1/events?limit=200").await;
    let resolved = events["data"].as_array().unwrap().iter().filter(|e| e["kind"] == "conversation.resolved").count();
    assert_eq!(resolved, 1, "{events}");

    // Turned off: nothing more is resolved.
    let (_, account) = app.call(reqwest::Method::PATCH, "/api/v1/account", Some(json!({ "auto_resolve_pending_days": 0 }))).await;
    assert!(account["auto_resolve_pending_days"].is_null(), "{account}");
    assert_eq!(app.patch(&format!("/api/v1/conversations/{}", ids[1]), json!({ "status": "pending" })).await.0, 200);
    app.server().state.clock.advance(time::Duration::days(10));
    run_jobs(&app).await;
    assert_eq!(status_of(&app, &ids[1]).await, "pending");
}
