//! The outbox: retries with backoff, dead letters with the reason, retry on
//! demand, and restarts that neither lose nor repeat a send.

use serde_json::json;

use crate::channel_tests;
use crate::support::*;

channel_tests!(
    transient_failures_are_retried,
    refusals_fail_the_message_with_the_reason,
    a_restart_neither_loses_nor_repeats_a_send,
    a_report_that_overtakes_the_send_is_kept,
    a_lost_answer_is_not_sent_again,
    webhook_endpoints_that_never_answer_do_not_hold_up_replies
);

async fn a_report_that_overtakes_the_send_is_kept(rig: Rig) {
    let inbox = rig.whatsapp_inbox().await;
    let (status, _) = rig.meta_post(&inbox, &whatsapp_text("393475550001", "wamid.early", "Rita", "Ciao")).await;
    assert_eq!(status, 200);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    // WhatsApp is slow to answer the send, and reports delivery meanwhile.
    rig.provider.hold_next_send(std::time::Duration::from_millis(700));
    let (_, reply) = rig.reply(&conversation, json!({ "text": "Buongiorno" })).await;
    let id = reply["id"].as_str().unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while rig.provider.issued_ids().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let wamid = rig.provider.issued_ids()[0].clone();
    let (status, _) = rig.meta_post(&inbox, &whatsapp_status(&wamid, "393475550001", "delivered")).await;
    assert_eq!(status, 200);
    let (_, before) = rig.app.get(&format!("/api/v1/messages/{id}")).await;
    assert_eq!(before["delivery_status"], "pending", "the send's answer has not arrived yet: {before}");
    let delivered = rig.wait_message(id, |m| m["delivery_status"] == "delivered").await;
    assert_eq!(delivered["delivery_status"], "delivered", "the early report was applied once the send was recorded: {delivered}");
}

async fn a_lost_answer_is_not_sent_again(mut rig: Rig) {
    let (_, conversation) = conversation_on_telegram(&rig).await;
    // The provider answers after the send timeout: it may have sent it.
    rig.app.restart(|s| s.send_timeout_secs = 1).await;
    rig.provider.hold_next_send(std::time::Duration::from_millis(2500));
    let (_, reply) = rig.reply(&conversation, json!({ "text": "Solo una volta" })).await;
    let id = reply["id"].as_str().unwrap();
    let failed = rig.wait_message(id, |m| m["delivery_status"] == "failed").await;
    let reason = failed["delivery_error"].as_str().unwrap();
    assert!(reason.contains("may or may not have reached"), "{reason}");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(rig.provider.sends().len(), 1, "sent once, never repeated by itself");
}

async fn conversation_on_telegram(rig: &Rig) -> (TestInbox, String) {
    let inbox = rig.telegram_inbox().await;
    let (status, _) = rig.telegram_post(&inbox, &telegram_text(1, 55501, 1, "Ciao"), Some(TELEGRAM_SECRET)).await;
    assert_eq!(status, 200);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    (inbox, conversation)
}

async fn transient_failures_are_retried(rig: Rig) {
    let (_, conversation) = conversation_on_telegram(&rig).await;
    rig.provider.fail_next(2, 502, json!({ "ok": false, "error_code": 502, "description": "Bad Gateway" }));
    let (status, reply) = rig.reply(&conversation, json!({ "text": "Arrivo" })).await;
    assert_eq!(status, 201);
    let id = reply["id"].as_str().unwrap();
    let sent = rig.wait_message(id, |m| m["delivery_status"] == "sent").await;
    assert_eq!(sent["delivery_status"], "sent", "{sent}");
    assert!(sent["delivery_error"].is_null(), "a success clears the earlier failure: {sent}");
    let sends = rig.provider.sends();
    assert_eq!(sends.len(), 3, "two failures, then one success");
    assert!(sends.iter().all(|s| s.json()["text"] == "Arrivo"));

    // Past the attempt limit (3 in these tests) the message is dead.
    rig.provider.fail_next(3, 500, json!({ "ok": false, "error_code": 500, "description": "Internal Server Error" }));
    let (_, reply) = rig.reply(&conversation, json!({ "text": "Secondo messaggio" })).await;
    let id = reply["id"].as_str().unwrap();
    let failed = rig.wait_message(id, |m| m["delivery_status"] == "failed").await;
    assert_eq!(failed["delivery_status"], "failed", "{failed}");
    let reason = failed["delivery_error"].as_str().unwrap();
    assert!(reason.contains("gave up after 3 attempts") && reason.contains("Internal Server Error"), "{reason}");

    // The agent retries it; this time the provider accepts it.
    let (status, retried) = rig.app.post(&format!("/api/v1/messages/{id}/retry"), json!({})).await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["delivery_status"], "pending");
    let sent = rig.wait_message(id, |m| m["delivery_status"] == "sent").await;
    assert_eq!(sent["delivery_status"], "sent");
    let (status, again) = rig.app.post(&format!("/api/v1/messages/{id}/retry"), json!({})).await;
    assert_eq!(status, 409, "a sent message cannot be retried: {again}");
}

async fn refusals_fail_the_message_with_the_reason(rig: Rig) {
    let inbox = rig.whatsapp_inbox().await;
    let (status, _) = rig.meta_post(&inbox, &whatsapp_text("393475550000", "wamid.r1", "Anna", "Salve")).await;
    assert_eq!(status, 200);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    // Meta's documented answer to a free-form message outside the window.
    rig.provider.fail_next(
        1,
        400,
        json!({ "error": { "message": "(#131047) Re-engagement message", "type": "OAuthException", "code": 131047,
            "error_data": { "messaging_product": "whatsapp", "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number." },
            "fbtrace_id": "AbCdEfGhIjK" } }),
    );
    let (_, reply) = rig.reply(&conversation, json!({ "text": "Buongiorno" })).await;
    let id = reply["id"].as_str().unwrap();
    let failed = rig.wait_message(id, |m| m["delivery_status"] == "failed").await;
    let reason = failed["delivery_error"].as_str().unwrap();
    assert!(reason.contains("131047") && reason.contains("24 hours"), "the provider's reason is shown: {reason}");
    assert_eq!(rig.provider.sends().len(), 1, "a refusal is not retried");

    // A failed delivery reported later by webhook also shows its reason.
    let (_, reply) = rig.reply(&conversation, json!({ "text": "Riprovo" })).await;
    let id = reply["id"].as_str().unwrap();
    let sent = rig.wait_message(id, |m| m["delivery_status"] == "sent").await;
    let wamid = sent["provider_message_id"].as_str().unwrap();
    let (status, _) = rig.meta_post(&inbox, &whatsapp_status(wamid, "393475550000", "failed")).await;
    assert_eq!(status, 200);
    let (_, failed) = rig.app.get(&format!("/api/v1/messages/{id}")).await;
    assert_eq!(failed["delivery_status"], "failed");
    assert!(failed["delivery_error"].as_str().unwrap().contains("131026"), "{failed}");
}

async fn a_restart_neither_loses_nor_repeats_a_send(mut rig: Rig) {
    let (_, conversation) = conversation_on_telegram(&rig).await;
    // The first attempt fails; the retry is due much later.
    rig.provider.fail_next(1, 503, json!({ "ok": false, "error_code": 503, "description": "Service Unavailable" }));
    let provider_settings = |s: &mut threadline_server::Settings, base_secs| {
        s.twilio_api_url = rig.provider.base();
        s.meta_graph_url = format!("{}/{}", rig.provider.base(), threadline_testkit::GRAPH_VERSION);
        s.telegram_api_url = rig.provider.base();
        s.send_retry_base_secs = base_secs;
    };
    rig.app.restart(|s| provider_settings(s, 3600)).await;
    let (_, reply) = rig.reply(&conversation, json!({ "text": "Dopo il riavvio" })).await;
    let id = reply["id"].as_str().unwrap().to_owned();
    let waiting = rig.wait_message(&id, |m| m["delivery_error"].is_string()).await;
    assert_eq!(waiting["delivery_status"], "pending", "{waiting}");
    assert!(waiting["delivery_error"].as_str().unwrap().contains("trying again"), "{waiting}");

    // Restart; make the retry due now: the new server sends it, once.
    rig.app.restart(|s| provider_settings(s, 0)).await;
    rig.app.sql(&format!("UPDATE jobs SET run_at = 0 WHERE dedup_key = 'send:{id}'")).await;
    let sent = rig.wait_message(&id, |m| m["delivery_status"] == "sent").await;
    assert_eq!(sent["delivery_status"], "sent", "{sent}");
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(rig.provider.sends().len(), 2, "one failed attempt and one send, nothing more");

    // A crash in the middle of a send: the send is still `sending` and the
    // job its node held has lapsed. It is not sent again (the provider may
    // have it); it fails, saying so, and the agent can retry it.
    let (_, reply) = rig.reply(&conversation, json!({ "text": "Interrotto" })).await;
    let interrupted = reply["id"].as_str().unwrap().to_owned();
    rig.wait_message(&interrupted, |m| m["delivery_status"] == "sent").await;
    let before = rig.provider.sends().len();
    rig.app.sql(&format!("UPDATE outbound_jobs SET status = 'sending' WHERE message_id = '{interrupted}'")).await;
    rig.app
        .sql(&format!(
            "INSERT INTO jobs (id, kind, account_id, dedup_key, payload, run_at, attempts, generation, lease_until, dead, created_at) \
             VALUES ('send:{interrupted}', 'message.send', '{account}', 'send:{interrupted}', '{{\"message_id\":\"{interrupted}\"}}', 0, 1, 0, 1, 0, 0)",
            account = rig.app.account_id
        ))
        .await;
    rig.app.sql(&format!("UPDATE messages SET delivery_status = 'pending' WHERE id = '{interrupted}'")).await;
    rig.app.restart(|s| provider_settings(s, 0)).await;
    let failed = rig.wait_message(&interrupted, |m| m["delivery_status"] == "failed").await;
    assert!(failed["delivery_error"].as_str().unwrap().contains("interrupted"), "{failed}");
    assert_eq!(rig.provider.sends().len(), before, "an interrupted send is not repeated by itself");
}

async fn webhook_endpoints_that_never_answer_do_not_hold_up_replies(mut rig: Rig) {
    // An integrator's endpoint that takes connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", silent.local_addr().unwrap());
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            open.push(socket);
        }
    });
    let base = rig.provider.base();
    rig.app
        .restart(|s| {
            s.telegram_api_url = base;
            s.webhook_timeout_secs = 120;
            s.webhook_concurrency = 2;
            s.job_concurrency = 2;
        })
        .await;
    let (status, hook) = rig
        .app
        .post("/api/v1/webhooks", json!({ "url": url, "events": ["message.created", "conversation.created", "contact.created"] }))
        .await;
    assert_eq!(status, 201, "{hook}");
    let (_, conversation) = conversation_on_telegram(&rig).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while connections.load(std::sync::atomic::Ordering::SeqCst) < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 2, "two deliveries wait on the endpoint, as many as may at once");

    // Every place for webhooks is taken, waiting; a reply still goes out.
    let (_, reply) = rig.reply(&conversation, json!({ "text": "Subito" })).await;
    let id = reply["id"].as_str().unwrap();
    let sent = rig.wait_message(id, |m| m["delivery_status"] == "sent").await;
    assert_eq!(sent["delivery_status"], "sent", "the send was held up behind webhook deliveries: {sent}");

    // The deliveries are not lost: they wait their turn.
    let (_, deliveries) = rig.app.get(&format!("/api/v1/webhooks/{}/deliveries", hook["id"].as_str().unwrap())).await;
    let pending = deliveries.as_array().unwrap().iter().filter(|d| d["status"] == "pending").count();
    assert!(pending >= 3, "{deliveries}");
    // The endpoint goes away (its connections close): the deliveries fail
    // fast and are retried later, and the server stops without waiting.
    held.abort();
    let _ = held.await;
}
