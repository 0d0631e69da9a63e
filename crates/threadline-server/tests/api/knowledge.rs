//! The knowledge base through real HTTP: articles written by supervisors,
//! searched in the customer's language with stemming, scoped to their
//! account, gone from search when deleted or unpublished.

use reqwest::Method;
use serde_json::{Value, json};
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(articles_are_written_found_in_their_language_and_scoped);

async fn article(app: &TestApp, body: Value) -> Value {
    let (status, saved) = app.post("/api/v1/articles", body).await;
    assert_eq!(status, 201, "{saved}");
    saved
}

async fn articles_are_written_found_in_their_language_and_scoped(app: TestApp) {
    let shipping = article(&app, json!({ "language": "it", "title": "Tempi e costi di spedizione", "body": "Spediamo in 24 ore; la consegna richiede 2-3 giorni lavorativi. Sopra i 50 euro la spedizione è gratuita.", "keywords": ["corriere"] })).await;
    let returns = article(&app, json!({ "kind": "faq", "language": "en", "title": "How do I return an item?", "body": "Returns are free within 30 days: print the label from your order page." })).await;
    article(&app, json!({ "language": "it", "title": "Bozza", "body": "spedizioni segrete", "published": false })).await;

    let (status, hits) = app.get("/api/v1/articles/search?q=quanto%20costano%20le%20spedizioni%3F").await;
    assert_eq!(status, 200);
    assert_eq!(hits[0]["id"], shipping["id"], "Italian stemming finds spedizione from spedizioni: {hits}");
    assert!(hits.as_array().unwrap().iter().all(|h| h["title"] != "Bozza"), "unpublished articles are not found: {hits}");
    let (_, hits) = app.get("/api/v1/articles/search?q=returning%20items").await;
    assert_eq!(hits[0]["id"], returns["id"], "{hits}");
    assert!(hits[0]["confidence"].as_f64().unwrap() > 0.3, "{hits}");
    let (_, hits) = app.get("/api/v1/articles/search?q=corriere&language=it").await;
    assert_eq!(hits[0]["id"], shipping["id"], "keywords find it too");

    // Edited: found by its new words; deleted: gone.
    let id = shipping["id"].as_str().unwrap();
    let (status, edited) = app
        .call(
            Method::PUT,
            &format!("/api/v1/articles/{id}"),
            Some(json!({ "language": "it", "title": "Spedizioni", "body": "Consegna express in un giorno." })),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    let (_, hits) = app.get("/api/v1/articles/search?q=express").await;
    assert_eq!(hits[0]["id"], shipping["id"]);
    let (status, _) = app.call(Method::DELETE, &format!("/api/v1/articles/{id}"), None).await;
    assert_eq!(status, 204);
    let (_, hits) = app.get("/api/v1/articles/search?q=express").await;
    assert_eq!(hits, json!([]));
    let (status, _) = app.get(&format!("/api/v1/articles/{id}")).await;
    assert_eq!(status, 404);
    let (_, list) = app.get("/api/v1/articles").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");

    // Bad input names every field.
    let (status, bad) = app.post("/api/v1/articles", json!({ "language": "italiano", "title": "", "body": "" })).await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = bad["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["language", "title", "body"]);
    let (status, _) = app.get("/api/v1/articles/search?q=").await;
    assert_eq!(status, 422);

    // Agents search but do not write; other accounts find nothing of ours.
    let (_, agent) = app.create_user("agent@acme.example", "Agente", "agent").await;
    let (status, _) = app.call_as(&agent, Method::GET, "/api/v1/articles/search?q=return", None).await;
    assert_eq!(status, 200);
    let (status, _) =
        app.call_as(&agent, Method::POST, "/api/v1/articles", Some(json!({ "language": "en", "title": "x", "body": "y" }))).await;
    assert_eq!(status, 403);
    let (_, _, other) = app.create_account("Altro", "admin@altro.example").await;
    let (_, theirs) = app.call_as(&other, Method::GET, "/api/v1/articles/search?q=return%20item", None).await;
    assert_eq!(theirs, json!([]));
    let (status, _) = app.call_as(&other, Method::GET, &format!("/api/v1/articles/{}", returns["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 404);
}
