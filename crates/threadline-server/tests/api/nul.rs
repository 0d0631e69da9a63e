//! U+0000 in any text: PostgreSQL cannot store it, so every engine refuses
//! it at the edge with 422 naming the field — never a 500, never a lost
//! message.

use serde_json::{Value, json};
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(nul_characters_are_refused_naming_the_field);

async fn field_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON error");
    (status, body["error"]["fields"][0]["field"].as_str().unwrap_or_default().to_owned())
}

async fn nul_characters_are_refused_naming_the_field(app: TestApp) {
    let inbox = app.create_inbox("api", "api").await;
    let cases: Vec<(&str, String, Value, &str)> = vec![
        ("POST", "/api/v1/sessions".into(), json!({ "email": "admin@acme.example\u{0}", "password": "x" }), "email"),
        (
            "POST",
            format!("/api/v1/inboxes/{inbox}/messages"),
            json!({ "sender": { "name": "Ana", "identities": [{ "kind": "email", "value": "ana@example.com" }] }, "text": "ciao\u{0}" }),
            "text",
        ),
        (
            "POST",
            format!("/api/v1/inboxes/{inbox}/messages"),
            json!({ "sender": { "name": "A\u{0}na", "identities": [{ "kind": "email", "value": "ana@example.com" }] }, "text": "ciao" }),
            "sender.name",
        ),
        ("POST", "/api/v1/contacts".into(), json!({ "name": "Giulia\u{0}" }), "name"),
    ];
    for (method, path, body, field) in cases {
        let response =
            app.client.request(method.parse().unwrap(), app.url(&path)).bearer_auth(&app.token).json(&body).send().await.unwrap();
        assert_eq!(field_of(response).await, (422, field.to_owned()), "{method} {path} {body}");
    }
    let response = app.client.get(app.url("/api/v1/conversations?q=abc%00def")).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(field_of(response).await, (422, "q".to_owned()));
    // Escaped, it is only text: a backslash and "u0000".
    let (status, contact) = app.post("/api/v1/contacts", json!({ "name": "back\\u0000slash" })).await;
    assert_eq!(status, 201, "{contact}");
    assert_eq!(contact["name"], "back\\u0000slash");

    // A web chat visitor's message is refused the same way, and the chat
    // still works after it.
    let chat = app.create_inbox("web_chat", "chat").await;
    let base = app.url(&format!("/widget/{chat}"));
    let session: Value = app.client.post(format!("{base}/session")).json(&json!({})).send().await.unwrap().json().await.unwrap();
    let token = session["token"].as_str().unwrap();
    let send = |text: &str| {
        app.client
            .post(format!("{base}/messages"))
            .header("x-threadline-visitor", token)
            .json(&json!({ "text": text, "name": "Visitor", "email": "visitor@example.com" }))
            .send()
    };
    assert_eq!(field_of(send("hi\u{0}").await.unwrap()).await, (422, "text".to_owned()));
    let response = send("hi there").await.unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    let (_, conversations) = app.get("/api/v1/conversations").await;
    assert_eq!(conversations["data"].as_array().unwrap().len(), 1, "the message after it was stored: {conversations}");
}
