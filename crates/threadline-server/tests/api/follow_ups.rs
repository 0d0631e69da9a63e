//! Follow-ups: pending conversations the customer left unanswered are
//! resolved after the account's `auto_resolve_pending_days`, and not
//! before; accounts without the setting keep theirs. Agents set
//! reminders on customers.

use serde_json::json;
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(quiet_pending_conversations_are_resolved_after_the_accounts_days, an_agent_sets_a_reminder_on_a_customer);

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

/// An agent sets a reminder on a customer; it is theirs, listed with
/// their tasks; a colleague of another account cannot set one here.
async fn an_agent_sets_a_reminder_on_a_customer(app: TestApp) {
    let inbox = app.create_inbox("api", "Shop").await;
    let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": "ada@example.com" }]), "Call me back on Tuesday").await;
    let contact = outcome["conversation"]["contact_id"].as_str().unwrap().to_owned();
    let (agent_id, agent) = app.create_user("ana@acme.example", "Ana", "agent").await;
    let body = json!({ "contact_id": contact, "title": "Call Ada back", "due_at": "2026-12-08T10:00:00+01:00", "kind": "call" });
    let (status, task) = app.call_as(&agent, reqwest::Method::POST, "/api/v1/tasks", Some(body)).await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(
        (task["assignee_id"].as_str(), task["kind"].as_str(), task["status"].as_str()),
        (Some(agent_id.as_str()), Some("call"), Some("open"))
    );
    assert_eq!(task["due_at"], "2026-12-08T09:00:00Z");
    let (_, mine) = app.call_as(&agent, reqwest::Method::GET, "/api/v1/tasks?assignee=me", None).await;
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");

    for (body, field) in [
        (json!({ "contact_id": contact, "title": "", "due_at": "2026-12-08T10:00:00Z" }), "title"),
        (json!({ "contact_id": contact, "title": "x", "due_at": "Tuesday" }), "due_at"),
        (json!({ "contact_id": contact, "title": "x", "due_at": "2026-12-08T10:00:00Z", "kind": "nap" }), "kind"),
        (
            json!({ "contact_id": contact, "title": "x", "due_at": "2026-12-08T10:00:00Z", "assignee_id": "01a2c3d4-0000-7000-8000-000000000000" }),
            "assignee_id",
        ),
    ] {
        let (status, error) = app.post("/api/v1/tasks", body).await;
        assert_eq!(status, 422, "{error}");
        assert_eq!(error["error"]["fields"][0]["field"], field, "{error}");
    }
    let (_, _, other) = app.create_account("Other shop", "boss@other.example").await;
    let body = json!({ "contact_id": contact, "title": "Peek", "due_at": "2026-12-08T10:00:00Z" });
    assert_eq!(app.call_as(&other, reqwest::Method::POST, "/api/v1/tasks", Some(body)).await.0, 404);
}
