//! Triage on arrival: each customer message is read for its language,
//! sentiment, category and urgency with the reason for each; the
//! conversation takes the category and the urgency; administrators edit
//! the keyword rules and retrain the model from agents' labels.

use reqwest::Method;
use serde_json::{Value, json};
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(
    an_angry_message_about_a_failed_payment_is_urgent_billing,
    administrators_edit_the_keyword_rules,
    the_model_learns_from_resolved_conversations,
    an_llm_endpoint_can_read_messages_instead
);

fn reasons(message: &Value) -> Vec<(String, String)> {
    message["triage"]["reasons"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|r| (r["label"].as_str().unwrap_or_default().to_owned(), r["source"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

async fn an_angry_message_about_a_failed_payment_is_urgent_billing(app: TestApp) {
    let inbox = app.create_inbox("api", "App").await;
    let outcome = app
        .inbound(
            &inbox,
            json!([{ "kind": "email", "value": "maria@example.com" }]),
            "Sono furiosa: il pagamento è fallito di nuovo e nessuno risponde!",
        )
        .await;
    let triage = &outcome["message"]["triage"];
    assert_eq!(triage["language"], "it", "{triage}");
    assert!(triage["sentiment"].as_f64().unwrap() <= -0.5, "{triage}");
    assert_eq!(triage["category"], "billing");
    assert_eq!(triage["urgency"], "high");
    assert_eq!(
        reasons(&outcome["message"]),
        [("language", "words"), ("sentiment", "lexicon"), ("category", "rule"), ("urgency", "lexicon")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let category_reason = triage["reasons"].as_array().unwrap().iter().find(|r| r["label"] == "category").unwrap();
    assert!(category_reason["why"].as_str().unwrap().contains("pagamento"), "{category_reason}");
    // The conversation takes them.
    assert_eq!(outcome["conversation"]["category"], "billing");
    assert_eq!(outcome["conversation"]["priority"], "high");
    assert_eq!(outcome["conversation"]["language"], "it");

    // A calm follow-up never lowers the priority; the category stays.
    let next = app.inbound(&inbox, json!([{ "kind": "email", "value": "maria@example.com" }]), "Where can I find my order number?").await;
    assert_eq!(next["conversation"]["id"], outcome["conversation"]["id"]);
    assert_eq!(next["conversation"]["priority"], "high");
    assert_eq!(next["conversation"]["category"], "billing");
    assert_eq!(next["message"]["triage"]["language"], "en");
    assert_eq!(next["conversation"]["language"], "en", "the customer's latest language");

    // The reasons are kept with the message.
    let id = outcome["conversation"]["id"].as_str().unwrap();
    let (_, routing) = app.get(&format!("/api/v1/conversations/{id}/routing")).await;
    assert_eq!(routing["triage"].as_array().unwrap().len(), 2, "{routing}");
    let (status, read) = app.post("/api/v1/triage/classify", json!({ "text": "I'll call my lawyer about this fraud" })).await;
    assert_eq!(status, 200);
    assert_eq!(read["urgency"], "urgent", "{read}");
    let (status, _) = app.post("/api/v1/triage/classify", json!({ "text": "  " })).await;
    assert_eq!(status, 422);
}

async fn administrators_edit_the_keyword_rules(app: TestApp) {
    let (_, settings) = app.get("/api/v1/triage/settings").await;
    let defaults = settings["rules"].as_array().unwrap().len();
    assert!(defaults >= 5, "the default rules: {settings}");
    let (status, rule) =
        app.post("/api/v1/triage/rules", json!({ "name": "Garanzia", "keywords": ["garanzia", "warranty"], "category": "Warranty" })).await;
    assert_eq!(status, 201, "{rule}");
    assert_eq!(rule["category"], "warranty");
    let inbox = app.create_inbox("api", "App").await;
    let outcome = app.inbound(&inbox, json!([{ "kind": "phone", "value": "+393471112233" }]), "La GARANZIA copre lo schermo?").await;
    assert_eq!(outcome["conversation"]["category"], "warranty");

    // Bad rules are refused with every reason.
    let (status, bad) = app.post("/api/v1/triage/rules", json!({ "name": "", "keywords": [], "language": "italian" })).await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = bad["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "keywords", "language", "category"], "{bad}");
    let (status, bad) = app
        .call(Method::PUT, "/api/v1/triage/settings", Some(json!({ "rules": [{ "name": "x", "keywords": ["y"] }], "min_confidence": 2 })))
        .await;
    assert_eq!(status, 422, "{bad}");

    // Removed: read as before.
    let id = rule["id"].as_str().unwrap();
    let (status, _) = app.call(Method::DELETE, &format!("/api/v1/triage/rules/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, _) = app.call(Method::DELETE, &format!("/api/v1/triage/rules/{id}"), None).await;
    assert_eq!(status, 404);
    let (_, read) = app.post("/api/v1/triage/classify", json!({ "text": "La garanzia copre lo schermo?" })).await;
    assert_eq!(read["category"], Value::Null);

    // Agents read the rules, but do not change them.
    let (_, agent) = app.create_user("agent@acme.example", "Agente", "agent").await;
    let (status, _) = app.call_as(&agent, Method::GET, "/api/v1/triage/settings", None).await;
    assert_eq!(status, 200);
    let (status, _) =
        app.call_as(&agent, Method::POST, "/api/v1/triage/rules", Some(json!({ "name": "x", "keywords": ["y"], "urgency": "high" }))).await;
    assert_eq!(status, 403);
    // Another account has its own rules.
    let (_, _, other) = app.create_account("Altro", "admin@altro.example").await;
    let (_, theirs) = app.call_as(&other, Method::GET, "/api/v1/triage/settings", None).await;
    assert_eq!(theirs["rules"].as_array().unwrap().len(), defaults);
}

async fn the_model_learns_from_resolved_conversations(app: TestApp) {
    // Without rules, only the model can give a category.
    let (status, _) = app.call(Method::PUT, "/api/v1/triage/settings", Some(json!({ "rules": [] }))).await;
    assert_eq!(status, 200);
    let (status, refused) = app.post("/api/v1/triage/model", json!({})).await;
    assert_eq!(status, 422, "nothing labelled yet: {refused}");
    assert_eq!(refused["error"]["code"], "too_few_examples");

    let inbox = app.create_inbox("api", "App").await;
    let labelled = [
        ("sizes", "Che taglia mi consigliate per le scarpe? Porto il 42"),
        ("sizes", "Do these trainers run small or large?"),
        ("sizes", "La giacca veste grande o piccola?"),
        ("sizes", "Which size should I take, I am 1.80 m tall"),
        ("sizes", "taglia della camicia, collo 41"),
        ("store", "A che ora apre il negozio di Milano sabato?"),
        ("store", "Is the Turin store open on Sunday?"),
        ("store", "Orari del negozio di via Roma"),
        ("store", "Where is your shop in Bologna?"),
        ("store", "il negozio di Firenze è aperto a pranzo?"),
    ];
    for (i, (category, text)) in labelled.iter().enumerate() {
        let outcome = app.inbound(&inbox, json!([{ "kind": "external_id", "value": format!("c{i}") }]), text).await;
        let id = outcome["conversation"]["id"].as_str().unwrap();
        let (status, _) = app.patch(&format!("/api/v1/conversations/{id}"), json!({ "category": category, "status": "resolved" })).await;
        assert_eq!(status, 200);
    }
    let (status, report) = app.post("/api/v1/triage/model", json!({})).await;
    assert_eq!(status, 201, "{report}");
    assert_eq!(report["examples"], 10);
    assert_eq!(report["categories"], json!(["sizes", "store"]));
    let (_, stored) = app.get("/api/v1/triage/model").await;
    assert_eq!(stored["examples"], 10);

    let outcome = app.inbound(&inbox, json!([{ "kind": "external_id", "value": "new" }]), "Il negozio di Roma apre la domenica?").await;
    assert_eq!(outcome["conversation"]["category"], "store", "{outcome}");
    let reason = outcome["message"]["triage"]["reasons"].as_array().unwrap().iter().find(|r| r["label"] == "category").unwrap().clone();
    assert_eq!(reason["source"], "model");
    assert!(reason["why"].as_str().unwrap().contains("negozio"), "the words behind it: {reason}");
}

async fn an_llm_endpoint_can_read_messages_instead(app: TestApp) {
    let mut app = app;
    let llm = threadline_testkit::LlmStandIn::start().await;
    let base = llm.base();
    app.restart(move |s| {
        s.llm_url = base;
        s.llm_model = "test-model".into();
        s.llm_api_key = threadline_server::config::Secret("sk-test".into());
    })
    .await;
    llm.answer(Some(r#"{"language":"it","sentiment":-0.9,"category":"billing","urgency":"urgent","why":"a double charge, very angry"}"#));
    let inbox = app.create_inbox("api", "App").await;
    let outcome = app.inbound(&inbox, json!([{ "kind": "external_id", "value": "x" }]), "Mi avete preso i soldi due volte").await;
    let triage = &outcome["message"]["triage"];
    assert_eq!((triage["category"].as_str(), triage["urgency"].as_str()), (Some("billing"), Some("urgent")), "{triage}");
    assert!(triage["reasons"].as_array().unwrap().iter().all(|r| r["source"] == "llm"), "{triage}");
    let (headers, request) = llm.requests().pop().unwrap();
    assert_eq!(request["model"], "test-model");
    assert_eq!(headers.get("authorization").unwrap(), "Bearer sk-test");
    assert!(request["messages"][1]["content"].as_str().unwrap().contains("due volte"));

    // It fails: the built-in reading stands, and the message is stored.
    llm.answer(None);
    let outcome = app.inbound(&inbox, json!([{ "kind": "external_id", "value": "y" }]), "Il pagamento è stato rifiutato").await;
    assert_eq!(outcome["message"]["triage"]["category"], "billing");
    assert_eq!(outcome["message"]["triage"]["reasons"][0]["source"], "words");
    // Nonsense is not believed either.
    llm.answer(Some("I think it is about billing"));
    let outcome = app.inbound(&inbox, json!([{ "kind": "external_id", "value": "z" }]), "Il pagamento è stato rifiutato").await;
    assert_eq!(outcome["message"]["triage"]["reasons"][0]["source"], "words");
}
