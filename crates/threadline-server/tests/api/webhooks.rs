//! Outbound webhooks: signed, delivered from the durable queue, retried with
//! backoff, logged.

use serde_json::{Value, json};
use threadline_domain::webhook;
use threadline_testkit::{TestApp, WebhookReceiver, backend_tests};

backend_tests!(deliveries_are_signed_filtered_and_logged, failures_are_retried_then_given_up);

async fn deliveries_are_signed_filtered_and_logged(app: TestApp) {
    let receiver = WebhookReceiver::start(0).await;
    let (status, hook) =
        app.post("/api/v1/webhooks", json!({ "url": receiver.url(), "events": ["message.created", "conversation.created"] })).await;
    assert_eq!(status, 201, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let (_, listed) = app.get("/api/v1/webhooks").await;
    assert!(!listed.to_string().contains(&secret), "the secret is shown once");

    let inbox = app.create_inbox("api", "x").await;
    let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": "w@example.com" }]), "hello hooks").await;
    let received = receiver.wait_for(10, |r| r.len() >= 2).await;
    assert_eq!(
        received.len(),
        2,
        "contact.created is filtered out: {:?}",
        received.iter().map(|r| r.headers["threadline-event"].clone()).collect::<Vec<_>>()
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for delivery in &received {
        let signature = delivery.headers[webhook::SIGNATURE_HEADER].to_str().unwrap();
        assert!(webhook::verify(secret.as_bytes(), signature, &delivery.body, now, 300), "bad signature {signature}");
        assert!(!webhook::verify(b"whsec_wrong", signature, &delivery.body, now, 300));
    }
    let message = received.iter().find(|r| r.headers["threadline-event"] == "message.created").expect("message.created delivered");
    let payload: Value = serde_json::from_slice(&message.body).unwrap();
    assert_eq!(payload["type"], "message.created");
    assert_eq!(payload["data"]["message"]["id"], outcome["message"]["id"]);
    assert_eq!(payload["account_id"], app.account_id.as_str());

    // The log is written once the receiver's answer is back, which can be a
    // moment after the receiver saw the request.
    let deliveries = format!("/api/v1/webhooks/{}/deliveries", hook["id"].as_str().unwrap());
    let mut log = Vec::new();
    for _ in 0..100 {
        log = app.get(&deliveries).await.1.as_array().cloned().unwrap_or_default();
        if log.len() == 2 && log.iter().all(|d| d["status"] != "pending") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|d| d["status"] == "delivered" && d["attempts"] == 1 && d["last_status_code"] == 200), "{log:?}");

    // Paused subscriptions receive nothing new.
    app.patch(&format!("/api/v1/webhooks/{}", hook["id"].as_str().unwrap()), json!({ "active": false })).await;
    app.inbound(&inbox, json!([{ "kind": "email", "value": "w@example.com" }]), "quiet").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 2);

    let (status, err) = app.post("/api/v1/webhooks", json!({ "url": "ftp://x", "events": ["message.sent"] })).await;
    assert_eq!(status, 422);
    assert_eq!(err["error"]["fields"].as_array().unwrap().len(), 2, "{err}");
}

async fn failures_are_retried_then_given_up(app: TestApp) {
    // Fails twice, then accepts: the third attempt (max 3 in tests) delivers.
    let flaky = WebhookReceiver::start(2).await;
    let (_, hook) = app.post("/api/v1/webhooks", json!({ "url": flaky.url(), "events": ["message.created"] })).await;
    let inbox = app.create_inbox("api", "x").await;
    app.inbound(&inbox, json!([{ "kind": "email", "value": "r@example.com" }]), "retry me").await;
    let received = flaky.wait_for(20, |r| r.iter().any(|d| d.answered == 200)).await;
    let answers: Vec<u16> = received.iter().map(|r| r.answered).collect();
    assert_eq!(answers, vec![500, 500, 200]);
    let ids: Vec<_> = received.iter().map(|r| r.headers["threadline-delivery"].clone()).collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "one delivery retried, not three");
    // The receiver answered 200; the dispatcher records it a moment later.
    let path = format!("/api/v1/webhooks/{}/deliveries", hook["id"].as_str().unwrap());
    let log = app.wait_for(&path, 10, |log| log[0]["status"] == "delivered").await;
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["attempts"], 3);

    // An endpoint that never answers well is given up after the last attempt.
    let (_, dead) =
        app.post("/api/v1/webhooks", json!({ "url": "http://127.0.0.1:9/nothing-listens", "events": ["contact.created"] })).await;
    app.inbound(&inbox, json!([{ "kind": "email", "value": "new@example.com" }]), "x").await;
    let path = format!("/api/v1/webhooks/{}/deliveries", dead["id"].as_str().unwrap());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, log) = app.get(&path).await;
        if log[0]["status"] == "failed" {
            assert_eq!(log[0]["attempts"], 3);
            assert_eq!(log[0]["last_error"], "could not connect: Connection refused (os error 111)");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never gave up: {log}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
