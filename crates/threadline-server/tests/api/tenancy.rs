//! Tenant isolation: another account's ids answer 404 on every route, as if
//! they did not exist.

use reqwest::Method;
use serde_json::json;
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(other_accounts_see_nothing);

async fn other_accounts_see_nothing(app: TestApp) {
    // Account A's data.
    let inbox = app.create_inbox("email", "A mail").await;
    let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": "secret@a.example" }]), "A's private message").await;
    let contact = outcome["contact_id"].as_str().unwrap().to_owned();
    let conversation = outcome["conversation"]["id"].as_str().unwrap().to_owned();
    let message = outcome["message"]["id"].as_str().unwrap().to_owned();
    let (_, with_file) = app
        .post(
            &format!("/api/v1/inboxes/{inbox}/messages"),
            json!({ "sender": { "identities": [{ "kind": "email", "value": "secret@a.example" }] }, "attachments": [{ "filename": "a.txt", "content_type": "text/plain", "data_base64": "c2VjcmV0" }] }),
        )
        .await;
    let attachment = with_file["message"]["attachments"][0]["id"].as_str().unwrap().to_owned();
    let identity = {
        let (_, c) = app.get(&format!("/api/v1/contacts/{contact}")).await;
        c["identities"][0]["id"].as_str().unwrap().to_owned()
    };
    let (_, team) = app.post("/api/v1/teams", json!({ "name": "A team" })).await;
    let team = team["id"].as_str().unwrap().to_owned();
    let (_, hook) = app.post("/api/v1/webhooks", json!({ "url": "http://127.0.0.1:9/hook", "events": ["*"] })).await;
    let hook = hook["id"].as_str().unwrap().to_owned();
    let (_, token) = app.post("/api/v1/api-tokens", json!({ "name": "a" })).await;
    let token_id = token["id"].as_str().unwrap().to_owned();

    // Account B, with its own contact to use as a merge target.
    let (_, _, b) = app.create_account("Other Co", "admin@other.example").await;
    let (_, own) = app.call_as(&b, Method::POST, "/api/v1/contacts", Some(json!({ "name": "B's contact" }))).await;
    let own = own["id"].as_str().unwrap().to_owned();

    let routes: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/api/v1/contacts/{contact}"), None),
        (Method::PATCH, format!("/api/v1/contacts/{contact}"), Some(json!({ "name": "pwned" }))),
        (Method::POST, format!("/api/v1/contacts/{contact}/identities"), Some(json!({ "kind": "email", "value": "x@b.example" }))),
        (Method::DELETE, format!("/api/v1/contacts/{contact}/identities/{identity}"), None),
        (
            Method::PUT,
            format!("/api/v1/contacts/{contact}/consents"),
            Some(json!({ "consents": [{ "channel": "email", "purpose": "marketing", "granted": true }] })),
        ),
        (Method::GET, format!("/api/v1/contacts/{contact}/timeline"), None),
        (Method::POST, format!("/api/v1/contacts/{contact}/interactions"), Some(json!({ "kind": "order" }))),
        (Method::POST, format!("/api/v1/contacts/{contact}/merge"), Some(json!({ "contact_id": own }))),
        (Method::POST, format!("/api/v1/contacts/{own}/merge"), Some(json!({ "contact_id": contact }))),
        (Method::GET, format!("/api/v1/conversations/{conversation}"), None),
        (Method::PATCH, format!("/api/v1/conversations/{conversation}"), Some(json!({ "status": "resolved" }))),
        (Method::GET, format!("/api/v1/conversations/{conversation}/messages"), None),
        (Method::POST, format!("/api/v1/conversations/{conversation}/messages"), Some(json!({ "text": "hi" }))),
        (Method::GET, format!("/api/v1/messages/{message}"), None),
        (Method::PATCH, format!("/api/v1/messages/{message}"), Some(json!({ "delivery_status": "read" }))),
        (Method::GET, format!("/api/v1/attachments/{attachment}"), None),
        (Method::GET, format!("/api/v1/inboxes/{inbox}"), None),
        (Method::PATCH, format!("/api/v1/inboxes/{inbox}"), Some(json!({ "name": "x" }))),
        (Method::DELETE, format!("/api/v1/inboxes/{inbox}"), None),
        (
            Method::POST,
            format!("/api/v1/inboxes/{inbox}/messages"),
            Some(json!({ "sender": { "identities": [{ "kind": "email", "value": "x@b.example" }] }, "text": "x" })),
        ),
        (Method::GET, format!("/api/v1/teams/{team}"), None),
        (Method::PATCH, format!("/api/v1/teams/{team}"), Some(json!({ "name": "x" }))),
        (Method::DELETE, format!("/api/v1/teams/{team}"), None),
        (Method::GET, format!("/api/v1/users/{}", app.user_id), None),
        (Method::PATCH, format!("/api/v1/users/{}", app.user_id), Some(json!({ "name": "x" }))),
        (Method::DELETE, format!("/api/v1/users/{}", app.user_id), None),
        (Method::DELETE, format!("/api/v1/api-tokens/{token_id}"), None),
        (Method::GET, format!("/api/v1/webhooks/{hook}"), None),
        (Method::PATCH, format!("/api/v1/webhooks/{hook}"), Some(json!({ "active": false }))),
        (Method::GET, format!("/api/v1/webhooks/{hook}/deliveries"), None),
        (Method::DELETE, format!("/api/v1/webhooks/{hook}"), None),
    ];
    for (method, path, body) in routes {
        let (status, response) = app.call_as(&b, method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path} leaked across accounts: {response}");
        assert_eq!(response["error"]["code"], "not_found", "{method} {path}");
    }

    // Lists show only B's own data.
    for path in ["/api/v1/contacts", "/api/v1/conversations", "/api/v1/events", "/api/v1/audit-log"] {
        let (status, page) = app.call_as(&b, Method::GET, path, None).await;
        assert_eq!(status, 200);
        assert!(!page.to_string().contains(&contact), "{path} leaked A's contact");
        assert!(!page.to_string().contains("private message"), "{path} leaked A's message");
    }
    for path in
        ["/api/v1/inboxes", "/api/v1/teams", "/api/v1/webhooks", "/api/v1/users", "/api/v1/api-tokens", "/api/v1/contacts/duplicates"]
    {
        let (status, list) = app.call_as(&b, Method::GET, path, None).await;
        assert_eq!(status, 200);
        let text = list.to_string();
        assert!(
            !text.contains(&inbox) && !text.contains(&team) && !text.contains(&hook) && !text.contains(&app.user_id),
            "{path} leaked: {text}"
        );
    }

    // And A's data is untouched.
    let (status, c) = app.get(&format!("/api/v1/contacts/{contact}")).await;
    assert_eq!(status, 200);
    assert_eq!(c["identities"].as_array().unwrap().len(), 1);
    let (_, conv) = app.get(&format!("/api/v1/conversations/{conversation}")).await;
    assert_eq!(conv["status"], "open");
}
