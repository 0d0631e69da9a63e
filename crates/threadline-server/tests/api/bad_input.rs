//! Bad input gets a clear JSON error and writes nothing.

use serde_json::{Value, json};
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(malformed_requests_get_clear_errors);

async fn malformed_requests_get_clear_errors(app: TestApp) {
    let inbox = app.create_inbox("api", "x").await;
    let url = app.url(&format!("/api/v1/inboxes/{inbox}/messages"));
    let send = |body: String, content_type: &'static str| {
        app.client.post(&url).bearer_auth(&app.token).header("content-type", content_type).body(body).send()
    };
    let error = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let body: Value = r.json().await.expect("errors are JSON");
        (status, body)
    };

    let (status, body) = error(send("{\"sender\":".into(), "application/json").await.unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "bad_request");

    let (status, body) =
        error(send(json!({ "sender": { "identities": [] }, "text": "x", "colour": "red" }).to_string(), "application/json").await.unwrap())
            .await;
    assert_eq!(status, 422, "unknown fields are refused: {body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("colour"));

    let (status, body) =
        error(send(json!({ "sender": { "identities": "me" }, "text": 5 }).to_string(), "application/json").await.unwrap()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_input");

    let (status, body) = error(
        send(json!({ "sender": { "identities": [{ "kind": "fax", "value": "1" }] }, "text": "x" }).to_string(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["error"]["message"].as_str().unwrap().contains("fax"), "{body}");

    let (status, body) = error(
        send(json!({ "sender": { "identities": [{ "kind": "email", "value": "x@y.z" }] } }).to_string(), "application/json").await.unwrap(),
    )
    .await;
    assert_eq!(status, 422, "an empty message is refused: {body}");

    let (status, _) = error(send("{}".into(), "text/plain").await.unwrap()).await;
    assert_eq!(status, 415);

    let huge = json!({ "sender": { "identities": [{ "kind": "email", "value": "x@y.z" }] }, "text": "x".repeat(3 * 1024 * 1024) });
    let (status, body) = error(send(huge.to_string(), "application/json").await.unwrap()).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");

    let (status, body) = app.get("/api/v1/contacts/not-a-uuid").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = app.get("/api/v1/no-such-route").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = app.get("/api/v1/contacts?limit=100000").await;
    assert_eq!(status, 422);
    let (status, _) = app.get("/api/v1/conversations?status=closed").await;
    assert_eq!(status, 400);

    // Hostile but valid text is stored verbatim, and nothing above wrote anything.
    let evil = "Robert'); DROP TABLE contacts;-- \u{202e} 😀 <script>alert(1)</script>";
    let outcome = app.inbound(&inbox, json!([{ "kind": "external_id", "value": "x'\" OR 1=1" }]), evil).await;
    assert_eq!(outcome["message"]["text"], evil);
    let (_, contacts) = app.get("/api/v1/contacts").await;
    assert_eq!(contacts["data"].as_array().unwrap().len(), 1);
}
