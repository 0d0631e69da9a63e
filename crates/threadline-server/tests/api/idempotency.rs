//! The generic API channel's idempotency: one key, one message, however
//! many times and however concurrently it is sent.

use serde_json::{Value, json};
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(same_key_concurrently_stores_one_message, provider_ids_deduplicate);

async fn same_key_concurrently_stores_one_message(app: TestApp) {
    let inbox = app.create_inbox("api", "integration").await;
    let url = app.url(&format!("/api/v1/inboxes/{inbox}/messages"));
    let body =
        json!({ "sender": { "name": "Ada", "identities": [{ "kind": "email", "value": "ada@example.com" }] }, "text": "una volta sola" });
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let request = app.client.post(&url).bearer_auth(&app.token).header("Idempotency-Key", "order-42-msg-1").json(&body);
        requests.spawn(async move {
            let response = request.send().await.unwrap();
            let replayed = response.headers().get("idempotent-replayed").is_some();
            (response.status().as_u16(), replayed, response.json::<Value>().await.unwrap())
        });
    }
    let mut results = Vec::new();
    while let Some(done) = requests.join_next().await {
        results.push(done.unwrap());
    }
    assert!(results.iter().all(|(status, _, _)| *status == 201), "{results:?}");
    assert_eq!(results.iter().filter(|(_, replayed, _)| !replayed).count(), 1, "exactly one request did the work");
    let first = &results[0].2;
    assert!(results.iter().all(|(_, _, body)| body == first), "every answer is the same result");

    let conversation = first["conversation"]["id"].as_str().unwrap();
    let (_, messages) = app.get(&format!("/api/v1/conversations/{conversation}/messages")).await;
    assert_eq!(messages["data"].as_array().unwrap().len(), 1);

    // The same key with a different body is a client bug: refused.
    let response = app
        .client
        .post(&url)
        .bearer_auth(&app.token)
        .header("Idempotency-Key", "order-42-msg-1")
        .json(&json!({ "sender": { "identities": [{ "kind": "email", "value": "ada@example.com" }] }, "text": "altro" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let bad = app.client.post(&url).bearer_auth(&app.token).header("Idempotency-Key", "").json(&body).send().await.unwrap();
    assert_eq!(bad.status(), 422);
}

async fn provider_ids_deduplicate(app: TestApp) {
    let inbox = app.create_inbox("sms", "sms").await;
    let body = json!({ "sender": { "identities": [{ "kind": "phone", "value": "+39 320 111 2233" }] }, "text": "ciao", "provider_message_id": "SM123" });
    let url = format!("/api/v1/inboxes/{inbox}/messages");
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let request = app.client.post(app.url(&url)).bearer_auth(&app.token).json(&body);
        requests.spawn(async move { request.send().await.unwrap().json::<Value>().await.unwrap() });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = requests.join_next().await {
        outcomes.push(done.unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| o["duplicate"] == false).count(), 1, "{outcomes:?}");
    let id = &outcomes[0]["message"]["id"];
    assert!(outcomes.iter().all(|o| &o["message"]["id"] == id));
    let (status, again) = app.post(&url, body).await;
    assert_eq!(status, 200);
    assert_eq!(again["duplicate"], true);
    let (_, contacts) = app.get("/api/v1/contacts").await;
    assert_eq!(contacts["data"].as_array().unwrap().len(), 1, "one contact despite concurrent first messages");
}
