//! Canned responses: saved by supervisors and admins, read by everyone,
//! checked for unknown variables, scoped to their account.

use reqwest::Method;
use serde_json::json;
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(canned_responses_are_saved_checked_and_scoped);

async fn canned_responses_are_saved_checked_and_scoped(app: TestApp) {
    let (status, saved) = app
        .post(
            "/api/v1/canned-responses",
            json!({ "shortcut": "tempi-spedizione", "title": "Tempi di spedizione", "body": "Ciao {{contact.first_name}}, spediamo in 24 ore. {{agent.first_name}}" }),
        )
        .await;
    assert_eq!(status, 201, "{saved}");
    // The same shortcut again replaces it.
    let (status, replaced) =
        app.post("/api/v1/canned-responses", json!({ "shortcut": "tempi-spedizione", "title": "Spedizione", "body": "In 24 ore." })).await;
    assert_eq!(status, 201);
    assert_eq!(replaced["id"], saved["id"]);
    let (_, list) = app.get("/api/v1/canned-responses").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["body"], "In 24 ore.");

    let (status, bad) =
        app.post("/api/v1/canned-responses", json!({ "shortcut": "Bad Shortcut", "title": "", "body": "Ciao {{customer}}" })).await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = bad["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["shortcut", "title", "body"], "{bad}");
    assert!(bad.to_string().contains("customer"), "the unknown variable is named: {bad}");

    // An agent reads them but may not change them.
    let (status, agent) = app
        .post("/api/v1/users", json!({ "email": "agent@acme.example", "name": "Agente", "role": "agent", "password": "agent password 1" }))
        .await;
    assert_eq!(status, 201, "{agent}");
    let (_, token) = app.post("/api/v1/api-tokens", json!({ "name": "agent", "user_id": agent["id"] })).await;
    let token = token["secret"].as_str().unwrap().to_owned();
    let (status, _) = app.call_as(&token, Method::GET, "/api/v1/canned-responses", None).await;
    assert_eq!(status, 200);
    let (status, _) =
        app.call_as(&token, Method::POST, "/api/v1/canned-responses", Some(json!({ "shortcut": "x", "title": "x", "body": "x" }))).await;
    assert_eq!(status, 403);

    // Another account sees none of them, and cannot delete them.
    let (_, _, other) = app.create_account("Altro", "admin@altro.example").await;
    let (_, list) = app.call_as(&other, Method::GET, "/api/v1/canned-responses", None).await;
    assert_eq!(list, json!([]));
    let id = saved["id"].as_str().unwrap();
    let (status, _) = app.call_as(&other, Method::DELETE, &format!("/api/v1/canned-responses/{id}"), None).await;
    assert_eq!(status, 404);
    let (status, _) = app.call(Method::DELETE, &format!("/api/v1/canned-responses/{id}"), None).await;
    assert_eq!(status, 204);
}
