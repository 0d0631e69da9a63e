//! Automation rules: a customer's WhatsApp message asking for a refund is
//! labelled, prioritised, given to the billing team and acknowledged with a
//! canned reply — once, whatever runs twice; what rules change does not
//! set off other rules, while an agent's change does; a reply the channel
//! refuses is logged as failed and the rule's other actions still happen;
//! a pending conversation is resolved after the rule's days unless the
//! customer writes; a rule sends a survey; bad rules are refused.

use serde_json::{Value, json};
use time::Duration;

use crate::channel_tests;
use crate::support::*;

channel_tests!(
    a_refund_request_is_labelled_routed_and_acknowledged_once,
    rules_do_not_set_off_rules_but_agents_do,
    a_refused_reply_is_logged_and_the_rest_still_happens,
    a_pending_conversation_is_resolved_after_the_rules_days,
    a_rule_sends_a_survey_and_bad_rules_are_refused,
);

const PHONE: &str = "393471234567";

async fn create_rule(rig: &Rig, body: Value) -> String {
    let (status, rule) = rig.app.post("/api/v1/automation-rules", body).await;
    assert_eq!(status, 201, "{rule}");
    rule["id"].as_str().unwrap().to_owned()
}

async fn runs(rig: &Rig, conversation: &str) -> Vec<Value> {
    let (status, runs) = rig.app.get(&format!("/api/v1/conversations/{conversation}/automation-runs")).await;
    assert_eq!(status, 200, "{runs}");
    runs.as_array().unwrap().clone()
}

async fn conversation(rig: &Rig, id: &str) -> Value {
    rig.app.get(&format!("/api/v1/conversations/{id}")).await.1
}

async fn a_refund_request_is_labelled_routed_and_acknowledged_once(rig: Rig) {
    let whatsapp = rig.whatsapp_inbox().await;
    let (_, team) = rig.app.post("/api/v1/teams", json!({ "name": "Billing" })).await;
    let team_id = team["id"].as_str().unwrap().to_owned();
    let (status, canned) = rig
        .app
        .post(
            "/api/v1/canned-responses",
            json!({ "shortcut": "refund-ack", "title": "Refund received", "body": "Ciao {{contact.first_name}}, abbiamo ricevuto la richiesta di rimborso." }),
        )
        .await;
    assert_eq!(status, 201, "{canned}");
    let rule = create_rule(
        &rig,
        json!({ "name": "Refunds on WhatsApp", "spec": {
            "when": "message_received",
            "conditions": [
                { "field": "message.channel", "op": "equals", "value": "whatsapp" },
                { "field": "message.text", "op": "contains", "value": "rimborso" }
            ],
            "actions": [
                { "type": "add_label", "label": "refund" },
                { "type": "set_priority", "priority": "high" },
                { "type": "assign", "team_id": team_id },
                { "type": "reply", "canned_id": canned["id"] }
            ] } }),
    )
    .await;

    let (status, _) =
        rig.meta_post(&whatsapp, &whatsapp_text(PHONE, "wamid.r1", "Giulia Rossi", "Vorrei un RIMBORSO per l'ordine 1042")).await;
    assert_eq!(status, 200);
    let id = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    run_jobs(&rig).await;
    let sends = rig.provider.wait_for_sends(1, 10).await;
    let body = sends[0].json();
    assert_eq!(body["to"], PHONE);
    assert_eq!(body["text"]["body"], "Ciao Giulia, abbiamo ricevuto la richiesta di rimborso.");
    let c = conversation(&rig, &id).await;
    assert_eq!(c["labels"], json!(["refund"]), "{c}");
    assert_eq!(c["priority"], "high");
    assert_eq!(c["team_id"], team_id.as_str());
    let logged = runs(&rig, &id).await;
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!((logged[0]["rule_id"].as_str(), logged[0]["outcome"].as_str()), (Some(rule.as_str()), Some("done")));

    // A message that does not match starts nothing; running the jobs again repeats nothing.
    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_text(PHONE, "wamid.r2", "Giulia Rossi", "Grazie!")).await;
    assert_eq!(status, 200);
    run_jobs(&rig).await;
    run_jobs(&rig).await;
    assert_eq!(runs(&rig, &id).await.len(), 1);
    assert_eq!(rig.provider.sends().len(), 1, "acknowledged once");
    // The reply is the account's, not an agent's: it does not count as a first response.
    let messages = rig.messages(&id).await;
    let ack = messages.iter().find(|m| m["direction"] == "outbound").unwrap();
    assert!(ack["sender_id"].is_null(), "{ack}");

    // The rule is listed with what it did; disabling it stops it.
    let (_, rule_runs) = rig.app.get(&format!("/api/v1/automation-rules/{rule}/runs")).await;
    assert_eq!(rule_runs.as_array().unwrap().len(), 1);
    let (_, mut current) = rig.app.get(&format!("/api/v1/automation-rules/{rule}")).await;
    current["enabled"] = json!(false);
    let update = json!({ "name": current["name"], "spec": current["spec"], "enabled": false });
    let (status, updated) = rig.app.call(reqwest::Method::PUT, &format!("/api/v1/automation-rules/{rule}"), Some(update)).await;
    assert_eq!((status, updated["enabled"].as_bool()), (200, Some(false)), "{updated}");
    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_text(PHONE, "wamid.r3", "Giulia Rossi", "E il rimborso?")).await;
    assert_eq!(status, 200);
    run_jobs(&rig).await;
    assert_eq!(runs(&rig, &id).await.len(), 1, "a disabled rule does nothing");
}

async fn rules_do_not_set_off_rules_but_agents_do(rig: Rig) {
    let whatsapp = rig.whatsapp_inbox().await;
    create_rule(
        &rig,
        json!({ "name": "VIPs are urgent", "spec": {
            "when": "conversation_created",
            "conditions": [{ "field": "contact.vip", "op": "equals", "value": true }],
            "actions": [{ "type": "set_priority", "priority": "urgent" }, { "type": "note", "text": "VIP customer: answer first." }] } }),
    )
    .await;
    create_rule(
        &rig,
        json!({ "name": "Mark changed ones", "spec": {
            "when": "conversation_updated",
            "actions": [{ "type": "add_label", "label": "touched" }] } }),
    )
    .await;
    // Giulia is a VIP before she writes.
    let (status, contact) = rig
        .app
        .post(
            "/api/v1/contacts",
            json!({ "name": "Giulia Rossi", "identities": [{ "kind": "whatsapp", "value": PHONE }], "custom_attributes": { "vip": true } }),
        )
        .await;
    assert_eq!(status, 201, "{contact}");
    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_text(PHONE, "wamid.v1", "Giulia Rossi", "Il mio ordine?")).await;
    assert_eq!(status, 200);
    let id = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    run_jobs(&rig).await;
    run_jobs(&rig).await;
    let c = conversation(&rig, &id).await;
    assert_eq!(c["priority"], "urgent", "{c}");
    assert_eq!(c["labels"], json!([]), "the rule's own change sets off no rule: {c}");
    let notes: Vec<Value> = rig.messages(&id).await.into_iter().filter(|m| m["kind"] == "note").collect();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["text"], "VIP customer: answer first.");
    assert!(rig.provider.sends().is_empty(), "a note goes to nobody");

    // An agent's change does.
    let (status, _) = rig.app.patch(&format!("/api/v1/conversations/{id}"), json!({ "priority": "normal" })).await;
    assert_eq!(status, 200);
    run_jobs(&rig).await;
    let c = conversation(&rig, &id).await;
    assert_eq!(c["labels"], json!(["touched"]), "{c}");
    assert_eq!(runs(&rig, &id).await.len(), 2);
}

async fn a_refused_reply_is_logged_and_the_rest_still_happens(rig: Rig) {
    let whatsapp = rig.whatsapp_inbox().await;
    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_text(PHONE, "wamid.o1", "Giulia Rossi", "Ordine 1042 non arrivato")).await;
    assert_eq!(status, 200);
    let id = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    create_rule(
        &rig,
        json!({ "name": "Nudge when pending", "spec": {
            "when": "conversation_updated",
            "conditions": [{ "field": "conversation.status", "op": "equals", "value": "pending" }],
            "actions": [{ "type": "reply", "text": "Ci fa sapere?" }, { "type": "add_label", "label": "nudged" }] } }),
    )
    .await;
    // Two days later, outside WhatsApp's 24 hours, the conversation is set pending.
    later(&rig, Duration::hours(49));
    rig.age_messages(49).await;
    let (status, _) = rig.app.patch(&format!("/api/v1/conversations/{id}"), json!({ "status": "pending" })).await;
    assert_eq!(status, 200);
    run_jobs(&rig).await;
    let logged = runs(&rig, &id).await;
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0]["outcome"], "failed");
    assert!(logged[0]["detail"].as_str().unwrap().contains("customer-service window is closed"), "{logged:?}");
    assert!(rig.provider.sends().is_empty());
    let c = conversation(&rig, &id).await;
    assert_eq!(c["labels"], json!(["nudged"]), "the rule's other action happened: {c}");

    // A team removed after the rule was written: the assignment is reported, the label still goes on.
    let (_, team) = rig.app.post("/api/v1/teams", json!({ "name": "Gone soon" })).await;
    let team_id = team["id"].as_str().unwrap().to_owned();
    create_rule(
        &rig,
        json!({ "name": "Route reopened ones", "spec": {
            "when": "conversation_updated",
            "conditions": [{ "field": "conversation.status", "op": "equals", "value": "open" }],
            "actions": [{ "type": "assign", "team_id": team_id }, { "type": "add_label", "label": "reopened" }] } }),
    )
    .await;
    let (status, _) = rig.app.call(reqwest::Method::DELETE, &format!("/api/v1/teams/{team_id}"), None).await;
    assert_eq!(status, 204);
    let (status, _) = rig.app.patch(&format!("/api/v1/conversations/{id}"), json!({ "status": "open" })).await;
    assert_eq!(status, 200);
    run_jobs(&rig).await;
    let logged = runs(&rig, &id).await;
    let latest = logged.iter().find(|r| r["detail"].as_str().is_some_and(|d| d.contains("no longer exists"))).cloned();
    assert_eq!(latest.map(|r| r["outcome"].clone()), Some(json!("failed")), "{logged:?}");
    let c = conversation(&rig, &id).await;
    assert!(c["labels"].as_array().unwrap().contains(&json!("reopened")), "{c}");
    assert!(c["team_id"].is_null(), "{c}");
}

async fn a_pending_conversation_is_resolved_after_the_rules_days(rig: Rig) {
    let sms = rig.sms_inbox().await;
    create_rule(
        &rig,
        json!({ "name": "Close quiet pending ones", "spec": {
            "when": "conversation_updated",
            "conditions": [{ "field": "conversation.status", "op": "equals", "value": "pending" }],
            "actions": [{ "type": "resolve_if_pending", "days": 3 }] } }),
    )
    .await;
    let mut ids = Vec::new();
    for (sid, from) in [("SM00000000000000000000000000000c01", "+393471112233"), ("SM00000000000000000000000000000c02", "+393479998877")] {
        let inbound = [("MessageSid", sid), ("From", from), ("To", SMS_NUMBER), ("Body", "Vi mando la foto domani"), ("NumMedia", "0")];
        assert_eq!(rig.twilio_post(&sms, &inbound).await.0, 200);
    }
    for c in rig.conversations().await {
        let id = c["id"].as_str().unwrap().to_owned();
        let (status, _) = rig.app.patch(&format!("/api/v1/conversations/{id}"), json!({ "status": "pending" })).await;
        assert_eq!(status, 200);
        ids.push((id, c["contact_id"].as_str().unwrap().to_owned()));
    }
    run_jobs(&rig).await;
    // One customer writes back the next day and is set pending no more.
    later(&rig, Duration::days(1));
    let back = [
        ("MessageSid", "SM00000000000000000000000000000c03"),
        ("From", "+393479998877"),
        ("To", SMS_NUMBER),
        ("Body", "Ecco la foto"),
        ("NumMedia", "0"),
    ];
    assert_eq!(rig.twilio_post(&sms, &back).await.0, 200);
    run_jobs(&rig).await;
    later(&rig, Duration::days(3));
    run_jobs(&rig).await;
    let statuses: Vec<String> = statuses(&rig, &ids.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>()).await;
    let quiet = statuses.iter().filter(|s| *s == "resolved").count();
    assert_eq!(quiet, 1, "only the quiet one is resolved: {statuses:?}");
    assert!(statuses.contains(&"open".to_owned()), "{statuses:?}");
}

async fn statuses(rig: &Rig, ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        out.push(conversation(rig, id).await["status"].as_str().unwrap().to_owned());
    }
    out
}

async fn a_rule_sends_a_survey_and_bad_rules_are_refused(rig: Rig) {
    let whatsapp = rig.whatsapp_inbox().await;
    let (_, vip_team) = rig.app.post("/api/v1/teams", json!({ "name": "VIP" })).await;
    // The survey by itself goes only after the VIP team's conversations; the rule sends it after WhatsApp ones.
    let (status, survey) =
        rig.app.post("/api/v1/surveys", json!({ "name": "CSAT", "spec": { "kind": "csat", "team_ids": [vip_team["id"]] } })).await;
    assert_eq!(status, 201, "{survey}");
    create_rule(
        &rig,
        json!({ "name": "Ask WhatsApp customers", "spec": {
            "when": "conversation_resolved",
            "conditions": [{ "field": "conversation.channel", "op": "equals", "value": "whatsapp" }],
            "actions": [{ "type": "send_survey", "survey_id": survey["id"] }] } }),
    )
    .await;
    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_text(PHONE, "wamid.q1", "Giulia Rossi", "Tutto risolto, grazie")).await;
    assert_eq!(status, 200);
    let id = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = rig.app.patch(&format!("/api/v1/conversations/{id}"), json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);
    run_jobs(&rig).await;
    run_jobs(&rig).await;
    let sends = rig.provider.wait_for_sends(1, 10).await;
    assert!(
        sends[0].json()["interactive"]["body"]["text"].as_str().unwrap().contains("da 1 (per niente soddisfatto) a 5"),
        "{:?}",
        sends[0].json()
    );
    assert_eq!(rig.provider.sends().len(), 1);

    // Refused at the door, each problem named.
    let (_, _, other_token) = rig.app.create_account("Other shop", "boss@other.example").await;
    let (_, other_team) = rig.app.call_as(&other_token, reqwest::Method::POST, "/api/v1/teams", Some(json!({ "name": "Theirs" }))).await;
    let (status, error) = rig
        .app
        .post(
            "/api/v1/automation-rules",
            json!({ "name": "Bad", "spec": {
                "when": "message_received",
                "conditions": [{ "field": "customer.vip", "op": "equals", "value": true }],
                "actions": [{ "type": "assign", "team_id": other_team["id"] }, { "type": "snooze", "hours": 0 }] } }),
        )
        .await;
    assert_eq!(status, 422, "{error}");
    let fields: Vec<&str> = error["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["spec.conditions[0].field", "spec.actions[1].hours", "spec.actions[0].team_id"], "{error}");
    let (status, error) =
        rig.app.post("/api/v1/automation-rules", json!({ "name": "x", "spec": { "when": "someday", "actions": [] } })).await;
    assert_eq!(status, 422, "{error}");
    // Another account sees none of this account's rules; an agent may read but not write them.
    let (_, rules) = rig.app.call_as(&other_token, reqwest::Method::GET, "/api/v1/automation-rules", None).await;
    assert_eq!(rules, json!([]));
    let (_, mine) = rig.app.get("/api/v1/automation-rules").await;
    let rule_id = mine[0]["id"].as_str().unwrap();
    let (status, _) = rig.app.call_as(&other_token, reqwest::Method::GET, &format!("/api/v1/automation-rules/{rule_id}"), None).await;
    assert_eq!(status, 404);
    let (_, agent_token) = rig.app.create_user("luca@acme.example", "Luca", "agent").await;
    let (status, _) = rig.app.call_as(&agent_token, reqwest::Method::GET, "/api/v1/automation-rules", None).await;
    assert_eq!(status, 200);
    let (status, _) = rig.app.call_as(&agent_token, reqwest::Method::DELETE, &format!("/api/v1/automation-rules/{rule_id}"), None).await;
    assert_eq!(status, 403);
}
