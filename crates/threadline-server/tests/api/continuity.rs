//! One customer, one conversation, every channel.

use serde_json::json;
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(
    a_customer_keeps_one_conversation_across_channels,
    resolved_conversations_are_not_reopened,
    snoozed_conversations_wake_up,
    concurrent_arrivals_keep_one_contact_and_one_conversation_each
);

async fn a_customer_keeps_one_conversation_across_channels(app: TestApp) {
    let email = app.create_inbox("email", "support@acme.example").await;
    let whatsapp = app.create_inbox("whatsapp", "WhatsApp Italia").await;
    let web = app.create_inbox("web_chat", "Sito").await;

    // Unknown address: contact and identities are created.
    let first = app
        .inbound(
            &email,
            json!([{ "kind": "email", "value": "Maria.Rossi@Example.com" }, { "kind": "phone", "value": "333 123 4567" }]),
            "Il mio ordine non è arrivato",
        )
        .await;
    assert_eq!(first["contact_created"], true);
    assert_eq!(first["conversation_created"], true);
    assert_eq!(first["message"]["channel"], "email");
    let contact_id = first["contact_id"].as_str().unwrap();
    let conversation_id = first["conversation"]["id"].as_str().unwrap();

    // The same person on WhatsApp (the id is the number without "+").
    let second = app.inbound(&whatsapp, json!([{ "kind": "whatsapp", "value": "393331234567" }]), "Vi scrivo anche qui").await;
    assert_eq!(second["contact_id"], contact_id, "WhatsApp must reach the same contact through the phone number");
    assert_eq!(second["contact_created"], false);
    assert_eq!(second["conversation"]["id"], conversation_id, "the conversation must follow the customer");
    assert_eq!(second["conversation_created"], false);
    assert_eq!(second["message"]["channel"], "whatsapp");

    // Web chat, identified by email: still the same thread.
    let third = app
        .inbound(
            &web,
            json!([{ "kind": "web_visitor", "value": "v-81" }, { "kind": "email", "value": "maria.rossi@example.com" }]),
            "Sono in chat ora",
        )
        .await;
    assert_eq!(third["conversation"]["id"], conversation_id);

    // The contact now has every identity, normalised.
    let (_, contact) = app.get(&format!("/api/v1/contacts/{contact_id}")).await;
    let mut identities: Vec<String> = contact["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("{}:{}", i["kind"].as_str().unwrap(), i["value"].as_str().unwrap()))
        .collect();
    identities.sort();
    assert_eq!(identities, vec!["email:maria.rossi@example.com", "phone:+393331234567", "web_visitor:v-81", "whatsapp:+393331234567"]);
    assert_eq!(contact["name"], "Maria Rossi");

    // Every message keeps its own channel, in order.
    let (_, messages) = app.get(&format!("/api/v1/conversations/{conversation_id}/messages")).await;
    let channels: Vec<&str> = messages["data"].as_array().unwrap().iter().map(|m| m["channel"].as_str().unwrap()).collect();
    assert_eq!(channels, vec!["email", "whatsapp", "web_chat"]);

    // The agent answers on yet another channel than the last one used.
    let (status, reply) = app
        .post(
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            json!({ "channel": "email", "text": "Gentile Maria, il pacco arriva domani." }),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["channel"], "email");
    assert_eq!(reply["inbox_id"], email.as_str(), "the email inbox the customer used is the default");
    assert_eq!(reply["direction"], "outbound");
    assert_eq!(reply["delivery_status"], "pending");

    // The unified timeline shows all of it, newest first.
    let (_, timeline) = app.get(&format!("/api/v1/contacts/{contact_id}/timeline")).await;
    let texts: Vec<&str> = timeline["data"].as_array().unwrap().iter().map(|e| e["text"].as_str().unwrap_or("")).collect();
    assert_eq!(
        texts,
        vec!["Gentile Maria, il pacco arriva domani.", "Sono in chat ora", "Vi scrivo anche qui", "Il mio ordine non è arrivato"]
    );
}

async fn resolved_conversations_are_not_reopened(app: TestApp) {
    let sms = app.create_inbox("sms", "SMS").await;
    let first = app.inbound(&sms, json!([{ "kind": "phone", "value": "+44 20 7946 0958" }]), "Hello").await;
    let id = first["conversation"]["id"].as_str().unwrap();
    let (status, resolved) = app.patch(&format!("/api/v1/conversations/{id}"), json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);
    assert_eq!(resolved["status"], "resolved");
    let again = app.inbound(&sms, json!([{ "kind": "phone", "value": "+442079460958" }]), "A new question").await;
    assert_eq!(again["contact_id"], first["contact_id"]);
    assert_eq!(again["conversation_created"], true, "a resolved case is not reopened");
    assert_ne!(again["conversation"]["id"], id);
}

async fn snoozed_conversations_wake_up(app: TestApp) {
    let tg = app.create_inbox("telegram", "Bot").await;
    let first = app.inbound(&tg, json!([{ "kind": "telegram", "value": "1234567" }]), "ciao").await;
    let id = first["conversation"]["id"].as_str().unwrap();
    let (status, snoozed) = app.patch(&format!("/api/v1/conversations/{id}"), json!({ "snoozed_until": "2099-01-01T00:00:00Z" })).await;
    assert_eq!(status, 200, "{snoozed}");
    assert_eq!(snoozed["status"], "snoozed");
    let next = app.inbound(&tg, json!([{ "kind": "telegram", "value": "1234567" }]), "ci siete?").await;
    assert_eq!(next["conversation"]["id"], id);
    assert_eq!(next["conversation"]["status"], "open");
    assert_eq!(next["conversation"]["snoozed_until"], serde_json::Value::Null);
}

/// Many messages at once are stored in batches; the rules must hold exactly
/// as for one message at a time.
async fn concurrent_arrivals_keep_one_contact_and_one_conversation_each(app: TestApp) {
    let sms = app.create_inbox("sms", "SMS").await;
    let whatsapp = app.create_inbox("whatsapp", "WA").await;
    // Customer 0 already has a snoozed conversation; it must wake up.
    let before = app.inbound(&sms, json!([{ "kind": "phone", "value": "+39 347 100 0000" }]), "earlier").await;
    let snoozed = before["conversation"]["id"].as_str().unwrap().to_owned();
    app.patch(&format!("/api/v1/conversations/{snoozed}"), json!({ "status": "snoozed" })).await;

    let mut requests = tokio::task::JoinSet::new();
    for round in 0..6 {
        for customer in 0..10 {
            // Alternate SMS and WhatsApp: the same number must be one person.
            let (inbox, kind) = if (round + customer) % 2 == 0 { (&sms, "phone") } else { (&whatsapp, "whatsapp") };
            let body = json!({
                "sender": { "name": format!("Cliente {customer}"), "identities": [{ "kind": kind, "value": format!("+39 347 100 {customer:04}") }] },
                "text": format!("round {round}"),
                "provider_message_id": format!("m-{round}-{customer}"),
            });
            let request = app.client.post(app.url(&format!("/api/v1/inboxes/{inbox}/messages"))).bearer_auth(&app.token).json(&body);
            requests.spawn(async move { request.send().await.unwrap().json::<serde_json::Value>().await.unwrap() });
        }
    }
    let mut outcomes = Vec::new();
    while let Some(done) = requests.join_next().await {
        outcomes.push(done.unwrap());
    }
    assert_eq!(outcomes.len(), 60);
    let mut by_contact: std::collections::HashMap<String, std::collections::HashSet<String>> = Default::default();
    for o in &outcomes {
        assert_eq!(o["duplicate"], false, "{o}");
        by_contact
            .entry(o["contact_id"].as_str().unwrap().to_owned())
            .or_default()
            .insert(o["conversation"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(by_contact.len(), 10, "one contact per phone number, whatever the channel");
    assert!(by_contact.values().all(|c| c.len() == 1), "one conversation per contact: {by_contact:?}");
    assert!(by_contact.values().any(|c| c.contains(&snoozed)), "the snoozed conversation continued");
    let (_, conversation) = app.get(&format!("/api/v1/conversations/{snoozed}")).await;
    assert_eq!(conversation["status"], "open");
    let (_, contacts) = app.get("/api/v1/contacts?limit=200").await;
    assert_eq!(contacts["data"].as_array().unwrap().len(), 10);
    for contact in contacts["data"].as_array().unwrap() {
        let kinds: Vec<&str> = contact["identities"].as_array().unwrap().iter().map(|i| i["kind"].as_str().unwrap()).collect();
        assert!(kinds.contains(&"phone") && kinds.contains(&"whatsapp"), "{contact}");
    }
    let mut total = 0;
    for conversations in by_contact.values() {
        let id = conversations.iter().next().unwrap();
        let (_, messages) = app.get(&format!("/api/v1/conversations/{id}/messages?limit=200")).await;
        total += messages["data"].as_array().unwrap().len();
    }
    assert_eq!(total, 61, "every message stored once");
    let (_, events) = app.get("/api/v1/events?limit=200").await;
    let created = events["data"].as_array().unwrap().iter().filter(|e| e["kind"] == "message.created").count();
    assert_eq!(created, 61, "one message.created event per message");

    // Replaying the whole burst stores nothing new.
    let (status, again) = app
        .post(
            &format!("/api/v1/inboxes/{sms}/messages"),
            json!({ "sender": { "identities": [{ "kind": "phone", "value": "+39 347 100 0000" }] }, "text": "round 0", "provider_message_id": "m-0-0" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["duplicate"], true);
}
