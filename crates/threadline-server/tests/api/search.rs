//! Searching conversations by their messages' words (the full-text index of
//! each engine), and by the customer's name or identities; combined with the
//! other filters and scoped to the account.

use reqwest::Method;
use serde_json::{Value, json};
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(conversations_are_found_by_words_names_and_addresses);

async fn ids(app: &TestApp, query: &str) -> Vec<String> {
    let (status, page) = app.get(&format!("/api/v1/conversations?{query}")).await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}

fn conversation(outcome: &Value) -> String {
    outcome["conversation"]["id"].as_str().unwrap().to_owned()
}

async fn conversations_are_found_by_words_names_and_addresses(app: TestApp) {
    let inbox = app.create_inbox("api", "Sito").await;
    let refund =
        app.inbound(&inbox, json!([{ "kind": "email", "value": "giulia@example.com" }]), "Vorrei il rimborso dell'ordine A-1042").await;
    let shipping = app.inbound(&inbox, json!([{ "kind": "phone", "value": "+393471112233" }]), "When does the parcel ship?").await;
    let (refund, shipping) = (conversation(&refund), conversation(&shipping));

    assert_eq!(ids(&app, "q=rimborso").await, vec![refund.clone()], "a word of a message");
    assert_eq!(ids(&app, "q=rimb").await, vec![refund.clone()], "words match by their beginning");
    assert_eq!(ids(&app, "q=parcel%20ship").await, vec![shipping.clone()], "every word must appear");
    assert!(ids(&app, "q=parcel%20rimborso").await.is_empty());
    assert_eq!(ids(&app, "q=A-1042").await, vec![refund.clone()], "an order number");
    assert_eq!(ids(&app, "q=giulia%40example").await, vec![refund.clone()], "part of an identity");
    assert_eq!(ids(&app, "q=3471112233").await, vec![shipping.clone()], "part of a phone number");
    assert_eq!(ids(&app, "q=maria%20rossi").await.len(), 2, "the customers' name (the test kit names them Maria Rossi)");

    // By channel: both came through the API channel, none by SMS.
    assert_eq!(ids(&app, "channel=api").await.len(), 2);
    assert!(ids(&app, "channel=sms").await.is_empty());
    assert_eq!(ids(&app, "channel=api&q=parcel").await, vec![shipping.clone()], "with a search");

    // With the other filters.
    app.patch(&format!("/api/v1/conversations/{refund}"), json!({ "status": "resolved" })).await;
    assert!(ids(&app, "q=rimborso&status=open").await.is_empty());
    assert_eq!(ids(&app, "q=rimborso&status=resolved").await, vec![refund.clone()]);
    // A query of punctuation only searches for nothing and filters nothing out.
    assert_eq!(ids(&app, "q=%22%2A%22").await.len(), 2);

    // Another account finds nothing of these.
    let (_, _, other) = app.create_account("Altro", "admin@altro.example").await;
    let (status, page) = app.call_as(&other, Method::GET, "/api/v1/conversations?q=rimborso", None).await;
    assert_eq!(status, 200);
    assert_eq!(page["data"], json!([]));
}
