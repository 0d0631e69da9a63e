//! Working a conversation: assignment, labels, filters, notes, attachments,
//! delivery status.

use base64::Engine;
use serde_json::{Value, json};
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(assign_label_filter_and_resolve, replies_notes_attachments_and_delivery);

async fn assign_label_filter_and_resolve(app: TestApp) {
    let inbox = app.create_inbox("whatsapp", "WA").await;
    let other_inbox = app.create_inbox("email", "mail").await;
    let a = app.inbound(&inbox, json!([{ "kind": "whatsapp", "value": "+39 347 000 0001" }]), "pagamento fallito").await;
    let b = app.inbound(&other_inbox, json!([{ "kind": "email", "value": "b@example.com" }]), "reso").await;
    let a_id = a["conversation"]["id"].as_str().unwrap();
    let (_, team) = app.post("/api/v1/teams", json!({ "name": "Billing" })).await;
    let (status, updated) = app
        .patch(
            &format!("/api/v1/conversations/{a_id}"),
            json!({ "assignee_id": app.user_id, "team_id": team["id"], "priority": "high", "labels": ["Payments", " payments ", "VIP"], "category": "billing" }),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["labels"], json!(["payments", "vip"]));
    assert_eq!(updated["priority"], "high");

    let ids = |v: &Value| v["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let (_, mine) = app.get("/api/v1/conversations?assignee=me").await;
    assert_eq!(ids(&mine), vec![a_id]);
    let (_, unassigned) = app.get("/api/v1/conversations?assignee=unassigned").await;
    assert_eq!(ids(&unassigned), vec![b["conversation"]["id"].as_str().unwrap()]);
    let (_, by_label) = app.get("/api/v1/conversations?label=vip").await;
    assert_eq!(ids(&by_label), vec![a_id]);
    let (_, by_inbox) = app.get(&format!("/api/v1/conversations?inbox_id={other_inbox}")).await;
    assert_eq!(ids(&by_inbox), vec![b["conversation"]["id"].as_str().unwrap()]);
    let (_, by_team) = app.get(&format!("/api/v1/conversations?team_id={}&priority=high&status=open", team["id"].as_str().unwrap())).await;
    assert_eq!(ids(&by_team), vec![a_id]);
    let (_, all) = app.get("/api/v1/conversations?limit=1").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    let (_, rest) = app.get(&format!("/api/v1/conversations?limit=1&cursor={}", all["next_cursor"].as_str().unwrap())).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_ne!(all["data"][0]["id"], rest["data"][0]["id"]);

    // Unassign with null; unknown users are refused by name.
    let (status, err) =
        app.patch(&format!("/api/v1/conversations/{a_id}"), json!({ "assignee_id": "01900000-0000-7000-8000-000000000000" })).await;
    assert_eq!(status, 422);
    assert_eq!(err["error"]["fields"][0]["field"], "assignee_id");
    let (_, cleared) = app.patch(&format!("/api/v1/conversations/{a_id}"), json!({ "assignee_id": null, "status": "resolved" })).await;
    assert_eq!(cleared["assignee_id"], Value::Null);
    assert_eq!(cleared["status"], "resolved");
    assert_eq!(cleared["team_id"], team["id"], "fields not sent are kept");

    let (_, events) = app.get("/api/v1/events?limit=200").await;
    let kinds: Vec<&str> = events["data"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for kind in ["contact.created", "conversation.created", "message.created", "conversation.assigned", "conversation.resolved"] {
        assert!(kinds.contains(&kind), "{kind} not among {kinds:?}");
    }
}

async fn replies_notes_attachments_and_delivery(app: TestApp) {
    let inbox = app.create_inbox("api", "integration").await;
    let pdf = b"%PDF-1.4 fattura".to_vec();
    let body = json!({
        "sender": { "identities": [{ "kind": "external_id", "value": "c-1" }] },
        "text": "ecco la fattura",
        "html": "<p onclick=\"x()\">ecco <b>la fattura</b></p><script>alert(1)</script>",
        "attachments": [{ "filename": "../../fattura.pdf", "content_type": "application/pdf", "data_base64": base64::engine::general_purpose::STANDARD.encode(&pdf) }],
    });
    let (status, outcome) = app.post(&format!("/api/v1/inboxes/{inbox}/messages"), body).await;
    assert_eq!(status, 201, "{outcome}");
    let html = outcome["message"]["html"].as_str().unwrap();
    assert!(!html.contains("script") && !html.contains("onclick"), "{html}");
    assert!(html.contains("<b>la fattura</b>"));
    let attachment = &outcome["message"]["attachments"][0];
    assert_eq!(attachment["filename"], "fattura.pdf");
    let download = app
        .client
        .get(app.url(&format!("/api/v1/attachments/{}", attachment["id"].as_str().unwrap())))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "application/pdf");
    assert!(download.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(download.bytes().await.unwrap().to_vec(), pdf);

    let too_big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 600 * 1024]);
    let (status, err) = app
        .post(&format!("/api/v1/inboxes/{inbox}/messages"), json!({ "sender": { "identities": [{ "kind": "external_id", "value": "c-1" }] }, "attachments": [{ "filename": "big.bin", "content_type": "application/octet-stream", "data_base64": too_big }] }))
        .await;
    assert_eq!(status, 422);
    assert_eq!(err["error"]["fields"][0]["field"], "attachments[0].data_base64");

    let conversation = outcome["conversation"]["id"].as_str().unwrap();
    let (status, note) = app
        .post(&format!("/api/v1/conversations/{conversation}/messages"), json!({ "kind": "note", "text": "@luca can you check?" }))
        .await;
    assert_eq!(status, 201);
    assert_eq!(note["delivery_status"], "internal");
    let (status, reply) = app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({ "text": "Grazie!" })).await;
    assert_eq!(status, 201);
    assert_eq!(reply["channel"], "api", "default channel is the one the customer used");
    assert_eq!(reply["inbox_id"], inbox.as_str());
    let (status, err) = app
        .post(&format!("/api/v1/conversations/{conversation}/messages"), json!({ "channel": "sms", "inbox_id": inbox, "text": "x" }))
        .await;
    assert_eq!(status, 422, "an api inbox cannot send sms: {err}");

    let reply_id = reply["id"].as_str().unwrap();
    let (status, delivered) =
        app.patch(&format!("/api/v1/messages/{reply_id}"), json!({ "delivery_status": "failed", "error": "recipient unreachable" })).await;
    assert_eq!(status, 200, "{delivered}");
    let (_, fetched) = app.get(&format!("/api/v1/messages/{reply_id}")).await;
    assert_eq!(fetched["delivery_status"], "failed");
    assert_eq!(fetched["delivery_error"], "recipient unreachable");
    let inbound_id = outcome["message"]["id"].as_str().unwrap();
    let (status, _) = app.patch(&format!("/api/v1/messages/{inbound_id}"), json!({ "delivery_status": "read" })).await;
    assert_eq!(status, 404, "inbound messages have no delivery to report");
}
