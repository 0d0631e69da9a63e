//! `@mentions` in private notes: the colleague named finds the conversation
//! with `mentioning=me`; replies to the customer and other accounts' users
//! mention nobody.

use reqwest::Method;
use serde_json::json;
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(a_note_mentions_a_colleague);

async fn a_note_mentions_a_colleague(app: TestApp) {
    let mut tokens = Vec::new();
    for (email, name) in [("paolo@acme.example", "Paolo Neri"), ("emma@acme.example", "Emma Bianchi")] {
        let (status, user) =
            app.post("/api/v1/users", json!({ "email": email, "name": name, "role": "agent", "password": "agent password 1" })).await;
        assert_eq!(status, 201, "{user}");
        let (_, token) = app.post("/api/v1/api-tokens", json!({ "name": name, "user_id": user["id"] })).await;
        tokens.push(token["secret"].as_str().unwrap().to_owned());
    }
    let (paolo, emma) = (&tokens[0], &tokens[1]);
    let inbox = app.create_inbox("api", "Sito").await;
    let first = app.inbound(&inbox, json!([{ "kind": "email", "value": "a@example.com" }]), "Il reso non è arrivato").await;
    let second = app.inbound(&inbox, json!([{ "kind": "email", "value": "b@example.com" }]), "Fattura sbagliata").await;
    let (first, second) =
        (first["conversation"]["id"].as_str().unwrap().to_owned(), second["conversation"]["id"].as_str().unwrap().to_owned());

    let (status, _) = app
        .post(&format!("/api/v1/conversations/{first}/messages"), json!({ "kind": "note", "text": "@paolo puoi controllare il reso?" }))
        .await;
    assert_eq!(status, 201);
    // A reply to the customer that happens to contain "@paolo" mentions nobody.
    let (status, _) = app.post(&format!("/api/v1/conversations/{second}/messages"), json!({ "text": "Ne parlo con @paolo" })).await;
    assert_eq!(status, 201);

    let listed = |token: &str, query: &'static str| {
        let token = token.to_owned();
        let app = &app;
        async move {
            let (status, page) = app.call_as(&token, Method::GET, &format!("/api/v1/conversations?{query}"), None).await;
            assert_eq!(status, 200, "{page}");
            page["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(paolo, "mentioning=me").await, vec![first.clone()]);
    assert!(listed(emma, "mentioning=me").await.is_empty());
    assert_eq!(listed(paolo, "mentioning=me&q=reso").await, vec![first.clone()], "with a search too");
    assert!(listed(paolo, "mentioning=me&q=fattura").await.is_empty());
    let (status, _) = app.get("/api/v1/conversations?mentioning=someone").await;
    assert_eq!(status, 422);
}
