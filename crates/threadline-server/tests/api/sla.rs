//! SLA through real HTTP: a conversation's clocks under its policy, a
//! missed target recorded once and escalated once (priority raised, an
//! `sla.breached` webhook), an answer in time keeping the promise, and
//! policies checked before they are saved.

use reqwest::Method;
use serde_json::json;
use threadline_testkit::{TestApp, WebhookReceiver, backend_tests};

backend_tests!(a_missed_target_is_recorded_and_escalated_once, policies_are_checked_before_they_are_saved);

async fn a_missed_target_is_recorded_and_escalated_once(app: TestApp) {
    let receiver = WebhookReceiver::start(0).await;
    let (status, hook) = app.post("/api/v1/webhooks", json!({ "url": receiver.url(), "events": ["sla.breached"] })).await;
    assert_eq!(status, 201, "{hook}");
    let policy = json!({
        // The same target after the escalation raises the priority: the
        // same missed due time, so it is not escalated again.
        "targets": { "normal": { "first_response_secs": 2, "resolution_secs": 86400 }, "high": { "first_response_secs": 2 } },
        "escalations": [{ "target": "first_response", "action": "raise_priority" }, { "action": "notify_supervisors" }],
    });
    let (status, saved) = app.post("/api/v1/sla/policies", json!({ "name": "Standard", "policy": policy, "is_default": true })).await;
    assert_eq!(status, 201, "{saved}");

    let inbox = app.create_inbox("api", "App").await;
    let late = app.inbound(&inbox, json!([{ "kind": "external_id", "value": "late" }]), "Avete ricevuto il mio ordine?").await;
    let late = late["conversation"]["id"].as_str().unwrap().to_owned();
    let on_time = app.inbound(&inbox, json!([{ "kind": "external_id", "value": "soon" }]), "Una domanda veloce").await;
    let on_time = on_time["conversation"]["id"].as_str().unwrap().to_owned();
    let (_, sla) = app.get(&format!("/api/v1/conversations/{late}/sla")).await;
    assert_eq!(sla["policy"], "Standard");
    let targets: Vec<&str> = sla["clocks"].as_array().unwrap().iter().map(|c| c["target"].as_str().unwrap()).collect();
    assert_eq!(targets, ["first_response", "resolution"], "{sla}");
    assert!(["running", "warning"].contains(&sla["clocks"][0]["state"].as_str().unwrap()), "{sla}");

    // One is answered in time.
    let (status, _) = app.post(&format!("/api/v1/conversations/{on_time}/messages"), json!({ "text": "Certo, eccomi." })).await;
    assert_eq!(status, 201);
    let (_, sla) = app.get(&format!("/api/v1/conversations/{on_time}/sla")).await;
    assert_eq!(sla["clocks"][0]["state"], "met", "{sla}");

    // The other is not: recorded, escalated, told — once.
    let sla = app.wait_for(&format!("/api/v1/conversations/{late}/sla"), 15, |s| !s["breaches"].as_array().unwrap().is_empty()).await;
    assert_eq!(sla["breaches"].as_array().unwrap().len(), 1, "{sla}");
    assert_eq!(sla["breaches"][0]["target"], "first_response");
    let raised = app.wait_for(&format!("/api/v1/conversations/{late}"), 10, |c| c["priority"] == "high").await;
    assert_eq!(raised["priority"], "high", "raised one step: {raised}");
    let hooks = receiver.wait_for(10, |got| !got.is_empty()).await;
    tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
    let (_, again) = app.get(&format!("/api/v1/conversations/{late}")).await;
    assert_eq!(again["priority"], "high", "later sweeps do not escalate again");
    let (_, sla) = app.get(&format!("/api/v1/conversations/{late}/sla")).await;
    assert_eq!(sla["clocks"][0]["state"], "breached", "{sla}");
    assert_eq!(sla["breaches"].as_array().unwrap().len(), 1, "{sla}");
    let hooks_now = receiver.received();
    assert_eq!(hooks_now.len(), 1, "one webhook for one breach");
    let event: serde_json::Value = serde_json::from_slice(&hooks[0].body).unwrap();
    assert_eq!(event["type"], "sla.breached");
    assert_eq!(event["data"]["conversation"]["id"], late.as_str());
    assert_eq!(event["data"]["target"], "first_response");
    let (_, sla) = app.get(&format!("/api/v1/conversations/{on_time}/sla")).await;
    assert!(sla["breaches"].as_array().unwrap().is_empty(), "{sla}");
}

async fn policies_are_checked_before_they_are_saved(app: TestApp) {
    let (status, bad) = app
        .post(
            "/api/v1/sla/policies",
            json!({ "name": "Rotta", "policy": {
                "targets": { "sometimes": { "first_response_secs": 0 } },
                "business_hours": { "time_zone": "Europe/Atlantis", "openings": [{ "day": "monday", "open": "18:00", "close": "09:00" }] },
            } }),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    let fields: Vec<&str> = bad["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        ["policy.targets.sometimes", "policy.targets.sometimes.first_response_secs", "policy.business_hours.openings[0]"],
        "{bad}"
    );
    let good = json!({
        "targets": { "high": { "first_response_secs": 1800 } },
        "business_hours": { "time_zone": "Europe/Atlantis", "openings": [{ "day": "monday", "open": "09:00", "close": "18:00" }] },
    });
    let (status, bad) = app.post("/api/v1/sla/policies", json!({ "name": "Fuso", "policy": good })).await;
    assert_eq!(status, 422);
    assert_eq!(bad["error"]["fields"][0]["field"], "policy.business_hours.time_zone", "{bad}");
    let mut rome = good.clone();
    rome["business_hours"]["time_zone"] = json!("Europe/Rome");
    rome["escalations"] = json!([{ "action": "reassign", "team_id": "0193b0a0-0000-7000-8000-000000000000" }]);
    let (status, bad) = app.post("/api/v1/sla/policies", json!({ "name": "Roma", "policy": rome })).await;
    assert_eq!(status, 422, "{bad}");
    rome["escalations"] = json!([]);
    let (status, saved) = app.post("/api/v1/sla/policies", json!({ "name": "Roma", "policy": rome })).await;
    assert_eq!(status, 201, "{saved}");
    let (status, _) = app.post("/api/v1/sla/policies", json!({ "name": "Roma", "policy": rome })).await;
    assert_eq!(status, 409, "names are unique");
    // Agents read policies but do not write them.
    let (_, agent) = app.create_user("agent@acme.example", "Agente", "agent").await;
    let (status, list) = app.call_as(&agent, Method::GET, "/api/v1/sla/policies", None).await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 1));
    let (status, _) = app.call_as(&agent, Method::DELETE, &format!("/api/v1/sla/policies/{}", saved["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 403);
}
