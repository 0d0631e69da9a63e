//! Saved inbox views: each agent's own, with their filters normalised.

use reqwest::Method;
use serde_json::json;
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(each_agent_keeps_their_own_views);

async fn each_agent_keeps_their_own_views(app: TestApp) {
    let (status, saved) =
        app.post("/api/v1/me/views", json!({ "name": "Urgenti miei", "query": "?priority=urgent&assignee=mine&label=" })).await;
    assert_eq!(status, 201, "{saved}");
    assert_eq!(saved["query"], "assignee=mine&priority=urgent", "known filters, in order, empty ones dropped");
    // Saving the same name again replaces its filters.
    let (status, again) = app.post("/api/v1/me/views", json!({ "name": "Urgenti miei", "query": "priority=urgent&status=all" })).await;
    assert_eq!(status, 201);
    assert_eq!(again["id"], saved["id"]);
    let (_, listed) = app.get("/api/v1/me/views").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["query"], "status=all&priority=urgent");

    let (status, err) = app.post("/api/v1/me/views", json!({ "name": "x", "query": "status=open&sort=asc" })).await;
    assert_eq!(status, 422);
    assert_eq!(err["error"]["fields"][0]["field"], "query", "{err}");
    assert!(err["error"]["fields"][0]["message"].as_str().unwrap().contains("sort"), "{err}");
    let (status, err) = app.post("/api/v1/me/views", json!({ "name": " ", "query": "" })).await;
    assert_eq!(status, 422, "{err}");
    let (status, _) = app.post("/api/v1/me/views", json!({ "name": "n".repeat(81), "query": "" })).await;
    assert_eq!(status, 422);

    // A colleague sees none of them and cannot delete them.
    let (_, user) = app
        .post("/api/v1/users", json!({ "email": "paolo@acme.example", "name": "Paolo", "role": "agent", "password": "agent password 1" }))
        .await;
    let (_, token) = app.post("/api/v1/api-tokens", json!({ "name": "paolo", "user_id": user["id"] })).await;
    let paolo = token["secret"].as_str().unwrap();
    let (status, theirs) = app.call_as(paolo, Method::GET, "/api/v1/me/views", None).await;
    assert_eq!((status, theirs), (200, json!([])));
    let path = format!("/api/v1/me/views/{}", saved["id"].as_str().unwrap());
    let (status, _) = app.call_as(paolo, Method::DELETE, &path, None).await;
    assert_eq!(status, 404);
    // Fifty views at most, each.
    for i in 0..50 {
        let (status, body) =
            app.call_as(paolo, Method::POST, "/api/v1/me/views", Some(json!({ "name": format!("v{i}"), "query": "" }))).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, err) = app.call_as(paolo, Method::POST, "/api/v1/me/views", Some(json!({ "name": "one more", "query": "" }))).await;
    assert_eq!(status, 409, "{err}");

    let (status, _) = app.call(Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (_, listed) = app.get("/api/v1/me/views").await;
    assert_eq!(listed, json!([]));
}
