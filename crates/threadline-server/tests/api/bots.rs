//! Bots through real HTTP: the built-in bot answering from the knowledge
//! base and resolving on a "yes"; handing off — when asked for a person,
//! when unsure — with the whole story for the agent and the conversation
//! in its team's queue; an external bot through the Agent Bot API (signed
//! posts, replies, handoff, a synchronous answer, an unreachable bot); and
//! agent assist's suggestions.

use reqwest::Method;
use serde_json::{Value, json};
use threadline_testkit::{TestApp, WebhookReceiver, backend_tests};

backend_tests!(
    the_bot_answers_from_the_knowledge_base_and_a_yes_resolves,
    the_bot_hands_off_with_the_whole_story,
    an_unsure_bot_asks_once_then_hands_off,
    the_bot_tells_customers_where_their_order_is_and_only_them,
    an_external_bot_works_through_the_agent_bot_api,
    agents_are_offered_similar_cases_and_articles
);

async fn bot_inbox(app: &TestApp) -> String {
    let inbox = app.create_inbox("api", "Chat app").await;
    let (status, body) = app.put(&format!("/api/v1/inboxes/{inbox}/bot"), json!({ "mode": "builtin" })).await;
    assert_eq!(status, 200, "{body}");
    for (language, title, text) in [
        (
            "it",
            "Tempi e costi di spedizione",
            "Spediamo entro 24 ore; la consegna richiede 2-3 giorni lavorativi ed è gratuita sopra i 50 euro.",
        ),
        ("it", "Come fare un reso", "Hai 30 giorni per restituire un articolo: stampa l'etichetta dalla pagina dell'ordine."),
        ("en", "Shipping times and costs", "We ship within 24 hours; delivery takes 2-3 working days and is free over 50 euros."),
    ] {
        let (status, body) = app.post("/api/v1/articles", json!({ "language": language, "title": title, "body": text })).await;
        assert_eq!(status, 201, "{body}");
    }
    inbox
}

/// A team with one online agent, and a rule sending `inbox` to it.
async fn staffed(app: &TestApp, inbox: &str) -> String {
    let (_, team) = app.post("/api/v1/teams", json!({ "name": "Assistenza" })).await;
    let team_id = team["id"].as_str().unwrap().to_owned();
    let (agent, token) = app.create_user("anna@acme.example", "Anna", "agent").await;
    app.call(Method::PUT, &format!("/api/v1/teams/{team_id}/members/{agent}"), None).await;
    app.call_as(&token, Method::PUT, "/api/v1/me/presence", Some(json!({ "status": "online" }))).await;
    app.post("/api/v1/routing/rules", json!({ "name": "Chat", "conditions": { "inbox_id": inbox }, "team_id": team_id })).await;
    let (status, _) = app.put(&format!("/api/v1/teams/{team_id}/routing"), json!({ "auto_assign": true })).await;
    assert_eq!(status, 200);
    agent
}

async fn say(app: &TestApp, inbox: &str, who: &str, text: &str) -> String {
    let outcome = app.inbound(inbox, json!([{ "kind": "external_id", "value": who }]), text).await;
    outcome["conversation"]["id"].as_str().unwrap().to_owned()
}

/// Waits until the conversation has `count` messages written by a bot; returns them.
async fn bot_messages(app: &TestApp, conversation: &str, count: usize) -> Vec<Value> {
    let page = app
        .wait_for(&format!("/api/v1/conversations/{conversation}/messages"), 15, |page| {
            page["data"]
                .as_array()
                .is_some_and(|m| m.iter().filter(|m| m["sender_kind"] == "bot" && m["kind"] == "message").count() >= count)
        })
        .await;
    page["data"].as_array().unwrap().iter().filter(|m| m["sender_kind"] == "bot" && m["kind"] == "message").cloned().collect()
}

async fn the_bot_answers_from_the_knowledge_base_and_a_yes_resolves(app: TestApp) {
    let inbox = bot_inbox(&app).await;
    staffed(&app, &inbox).await;
    let c = say(&app, &inbox, "giulia", "Quanto costa la spedizione?").await;
    let answer = &bot_messages(&app, &c, 1).await[0];
    let text = answer["text"].as_str().unwrap();
    assert!(text.starts_with("Tempi e costi di spedizione"), "the Italian article: {text}");
    assert!(text.contains("gratuita sopra i 50 euro") && text.ends_with("Rispondi sì o no."), "{text}");
    let (_, conversation) = app.get(&format!("/api/v1/conversations/{c}")).await;
    assert_eq!(conversation["handler"], "bot");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (_, conversation) = app.get(&format!("/api/v1/conversations/{c}")).await;
    assert!(conversation["assignee_id"].is_null(), "nobody is given a conversation the bot has: {conversation}");

    say(&app, &inbox, "giulia", "Sì, grazie!").await;
    let resolved = app.wait_for(&format!("/api/v1/conversations/{c}"), 10, |c| c["status"] == "resolved").await;
    assert_eq!(resolved["status"], "resolved", "{resolved}");
    let (_, session) = app.get(&format!("/api/v1/conversations/{c}/bot")).await;
    assert_eq!(session["status"], "resolved", "{session}");
    assert!(bot_messages(&app, &c, 2).await[1]["text"].as_str().unwrap().contains("felice"));
    let (_, stats) = app.get("/api/v1/stats/bots").await;
    assert_eq!((stats["conversations"].as_i64(), stats["resolved_by_bot"].as_i64()), (Some(1), Some(1)), "{stats}");
    assert_eq!(stats["deflection_rate"], 1.0);

    // An English customer gets the English article.
    let en = say(&app, &inbox, "oliver", "How much is shipping?").await;
    assert!(bot_messages(&app, &en, 1).await[0]["text"].as_str().unwrap().starts_with("Shipping times and costs"));
}

async fn the_bot_hands_off_with_the_whole_story(app: TestApp) {
    let receiver = WebhookReceiver::start(0).await;
    app.post("/api/v1/webhooks", json!({ "url": receiver.url(), "events": ["conversation.handed_off"] })).await;
    let inbox = bot_inbox(&app).await;
    let agent = staffed(&app, &inbox).await;
    let c = say(&app, &inbox, "marco", "Il mio ordine A-10042 non è ancora arrivato, è passata una settimana").await;
    bot_messages(&app, &c, 1).await;
    say(&app, &inbox, "marco", "Voglio parlare con un operatore").await;
    let taken = app.wait_for(&format!("/api/v1/conversations/{c}"), 15, |c| c["assignee_id"].is_string()).await;
    assert_eq!(taken["handler"], "human", "{taken}");
    assert_eq!(taken["assignee_id"], agent.as_str(), "into the team's queue, then to the agent");
    // The customer is told, once, that nothing needs repeating.
    let told = bot_messages(&app, &c, 2).await;
    assert!(told[1]["text"].as_str().unwrap().contains("non dovrai ripeterlo"), "{told:?}");
    // The agent reads why, the category and what the customer said.
    let (_, session) = app.get(&format!("/api/v1/conversations/{c}/bot")).await;
    assert_eq!(session["status"], "handed_off");
    assert_eq!(session["handoff_reason"], "asked_for_human");
    let summary = session["summary"].as_str().unwrap();
    assert!(summary.contains("A-10042") && summary.contains("asked for a person"), "{summary}");
    let (_, messages) = app.get(&format!("/api/v1/conversations/{c}/messages")).await;
    let note = messages["data"].as_array().unwrap().iter().find(|m| m["kind"] == "note").expect("a note for the agent").clone();
    assert_eq!(note["sender_kind"], "bot");
    assert_eq!(note["text"], summary);
    let hooks = receiver.wait_for(10, |got| !got.is_empty()).await;
    let event: Value = serde_json::from_slice(&hooks[0].body).unwrap();
    assert_eq!(event["data"]["handoff"]["reason"], "asked_for_human", "{event}");
    // The bot says nothing more.
    say(&app, &inbox, "marco", "Pronto?").await;
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    assert_eq!(bot_messages(&app, &c, 0).await.len(), 2);
    let (_, stats) = app.get("/api/v1/stats/bots").await;
    assert_eq!((stats["handed_off"].as_i64(), stats["deflection_rate"].as_f64()), (Some(1), Some(0.0)), "{stats}");
}

async fn the_bot_tells_customers_where_their_order_is_and_only_them(app: TestApp) {
    let inbox = bot_inbox(&app).await;
    staffed(&app, &inbox).await;
    let order = json!({
        "external_id": "A-1001", "number": "1001", "status": "shipped", "currency": "EUR", "total": "59.90",
        "customer": { "email": "maria.rossi@example.it", "name": "Maria Rossi", "postcode": "20121" },
        "items": [{ "name": "Tazza", "quantity": 2, "price": "29.95" }],
        "shipments": [{ "carrier": "BRT", "tracking_number": "0123", "tracking_url": "https://vas.brt.it/vas/sped_det_show.hsm?Nspediz=0123" }],
        "placed_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-02T09:00:00Z"
    });
    let (status, body) = app.put("/api/v1/orders", order).await;
    assert_eq!(status, 201, "{body}");

    // Maria asks in her words; the bot knows her by her address.
    let maria = json!([{ "kind": "email", "value": "maria.rossi@example.it" }]);
    let outcome = app.inbound(&inbox, maria.clone(), "Ciao, dov'è il mio ordine?").await;
    let c = outcome["conversation"]["id"].as_str().unwrap().to_owned();
    let text = bot_messages(&app, &c, 1).await[0]["text"].as_str().unwrap().to_owned();
    assert!(
        text.starts_with("Il tuo ordine 1001 del 2026-12-01 (59.90 EUR) è stato spedito con BRT (numero di tracciamento 0123).")
            && text.contains("https://vas.brt.it/vas/sped_det_show.hsm?Nspediz=0123")
            && text.ends_with("Rispondi sì o no."),
        "{text}"
    );
    app.inbound(&inbox, maria, "Sì, grazie!").await;
    let resolved = app.wait_for(&format!("/api/v1/conversations/{c}"), 10, |c| c["status"] == "resolved").await;
    assert_eq!(resolved["status"], "resolved", "a yes to the order's status resolves, as to an article: {resolved}");

    // Someone else quoting her order number is asked to prove it, with the
    // words a number that does not exist gets.
    let c = say(&app, &inbox, "luca", "Where is order 1001?").await;
    let asked = bot_messages(&app, &c, 1).await[0]["text"].as_str().unwrap().to_owned();
    assert!(asked.starts_with("I could not match that order to you."), "{asked}");
    let other = say(&app, &inbox, "pietro", "Where is order 9998?").await;
    assert_eq!(bot_messages(&app, &other, 1).await[0]["text"], asked.as_str());
    // With the postcode it was placed with, the order is theirs to read.
    say(&app, &inbox, "luca", "Order 1001, postcode 20121").await;
    let told = bot_messages(&app, &c, 2).await[1]["text"].as_str().unwrap().to_owned();
    assert!(told.starts_with("Your order 1001 of 2026-12-01 (59.90 EUR) has shipped with BRT"), "{told}");
    // The agent who takes over sees the order the bot looked up.
    say(&app, &inbox, "luca", "I want to talk to a person").await;
    let handed = app.wait_for(&format!("/api/v1/conversations/{c}"), 15, |c| c["handler"] == "human").await;
    assert_eq!(handed["handler"], "human");
    let (_, session) = app.get(&format!("/api/v1/conversations/{c}/bot")).await;
    let summary = session["summary"].as_str().unwrap();
    assert!(summary.contains("Orders looked up: 1001: shipped (BRT 0123)."), "{summary}");
}

async fn an_unsure_bot_asks_once_then_hands_off(app: TestApp) {
    let inbox = bot_inbox(&app).await;
    let c = say(&app, &inbox, "luca", "Non capisco il colore della luna").await;
    assert!(bot_messages(&app, &c, 1).await[0]["text"].as_str().unwrap().contains("altre parole"), "asks to say it again");
    say(&app, &inbox, "luca", "E il giallo del sole?").await;
    let handed = app.wait_for(&format!("/api/v1/conversations/{c}"), 15, |c| c["handler"] == "human").await;
    assert_eq!(handed["handler"], "human");
    let (_, session) = app.get(&format!("/api/v1/conversations/{c}/bot")).await;
    assert_eq!(session["handoff_reason"], "low_confidence", "{session}");
    // An angry customer goes to people at once.
    let angry = say(&app, &inbox, "sara", "Siete dei truffatori, è una vergogna, servizio pessimo!").await;
    let handed = app.wait_for(&format!("/api/v1/conversations/{angry}"), 15, |c| c["handler"] == "human").await;
    assert_eq!(handed["handler"], "human");
    let (_, session) = app.get(&format!("/api/v1/conversations/{angry}/bot")).await;
    assert_eq!(session["handoff_reason"], "negative_sentiment");
}

async fn an_external_bot_works_through_the_agent_bot_api(app: TestApp) {
    let mut app = app;
    let receiver = WebhookReceiver::start(0).await;
    let (status, created) = app.post("/api/v1/agent-bots", json!({ "name": "Rasa", "url": receiver.url() })).await;
    assert_eq!(status, 201, "{created}");
    let (token, secret, bot_id) =
        (created["token"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned(), created["agent_bot"]["id"].clone());
    let inbox = app.create_inbox("api", "App").await;
    let (status, _) = app.put(&format!("/api/v1/inboxes/{inbox}/bot"), json!({ "mode": "external", "agent_bot_id": bot_id })).await;
    assert_eq!(status, 200);
    let (status, bad) = app.put(&format!("/api/v1/inboxes/{inbox}/bot"), json!({ "mode": "external" })).await;
    assert_eq!(status, 422, "{bad}");

    let c = say(&app, &inbox, "elena", "Vorrei un rimborso per l'ordine 42").await;
    let posts = receiver.wait_for(10, |got| !got.is_empty()).await;
    let post = &posts[0];
    let signature = post.headers.get("threadline-signature").unwrap().to_str().unwrap();
    assert!(threadline_domain::webhook::verify(
        secret.as_bytes(),
        signature,
        &post.body,
        time::OffsetDateTime::now_utc().unix_timestamp(),
        300
    ));
    let payload: Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(payload["message"]["text"], "Vorrei un rimborso per l'ordine 42");
    assert_eq!(payload["conversation"]["id"], c.as_str());
    let reply_url = payload["reply_url"].as_str().unwrap().to_owned();
    let handoff_url = payload["handoff_url"].as_str().unwrap().to_owned();

    // The bot answers with its token.
    let client = app.client.clone();
    let send = move |url: String, body: Value, token: String| {
        let client = client.clone();
        async move {
            let r = client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, message) = send(reply_url.clone(), json!({ "text": "Ciao! Controllo subito l'ordine 42." }), token.clone()).await;
    assert_eq!(status, 201, "{message}");
    assert_eq!((message["sender_kind"].as_str(), message["sender_id"].as_str()), (Some("bot"), bot_id.as_str()));
    let (status, _) = send(reply_url.clone(), json!({ "text": "x" }), app.token.clone()).await;
    assert_eq!(status, 401, "a user's token is not a bot's");
    let (status, transcript) = app.call_as(&token, Method::GET, &format!("/api/v1/agent-bot/conversations/{c}/messages"), None).await;
    assert_eq!((status, transcript.as_array().unwrap().len()), (200, 2));

    // It hands over with its own summary.
    let (status, _) =
        send(handoff_url, json!({ "reason": "refund", "category": "billing", "summary": "Wants a refund for order 42." }), token.clone())
            .await;
    assert_eq!(status, 204);
    let (_, conversation) = app.get(&format!("/api/v1/conversations/{c}")).await;
    assert_eq!((conversation["handler"].as_str(), conversation["category"].as_str()), (Some("human"), Some("billing")));
    let (_, session) = app.get(&format!("/api/v1/conversations/{c}/bot")).await;
    assert_eq!(session["handoff_reason"], "external");
    assert!(session["summary"].as_str().unwrap().starts_with("Wants a refund for order 42."), "{session}");
    let (status, _) = send(reply_url, json!({ "text": "ancora io" }), token.clone()).await;
    assert_eq!(status, 409, "the conversation is with people now");

    // A bot may answer in its response.
    receiver.answer_with(Some(json!({ "messages": [{ "text": "Risposta immediata" }], "resolve": true })));
    let quick = say(&app, &inbox, "franco", "Ciao").await;
    assert_eq!(bot_messages(&app, &quick, 1).await[0]["text"], "Risposta immediata");
    let resolved = app.wait_for(&format!("/api/v1/conversations/{quick}"), 10, |c| c["status"] == "resolved").await;
    assert_eq!(resolved["status"], "resolved");
    // Not this bot's conversation: not found.
    let other = app.create_inbox("api", "Altro").await;
    let theirs = say(&app, &other, "gino", "salve").await;
    let (status, _) = app
        .call_as(&token, Method::POST, &format!("/api/v1/agent-bot/conversations/{theirs}/messages"), Some(json!({ "text": "x" })))
        .await;
    assert_eq!(status, 404);

    // A bot that cannot be reached: retried, then people take over.
    app.restart(|s| s.agent_bot_max_attempts = 2).await;
    let (_, gone) = app.post("/api/v1/agent-bots", json!({ "name": "Spento", "url": "http://127.0.0.1:9/bot" })).await;
    app.put(&format!("/api/v1/inboxes/{inbox}/bot"), json!({ "mode": "external", "agent_bot_id": gone["agent_bot"]["id"] })).await;
    let lost = say(&app, &inbox, "irene", "C'è qualcuno?").await;
    let handed = app.wait_for(&format!("/api/v1/conversations/{lost}"), 20, |c| c["handler"] == "human").await;
    assert_eq!(handed["handler"], "human", "{handed}");
    let (_, session) = app.get(&format!("/api/v1/conversations/{lost}/bot")).await;
    assert!(session["summary"].as_str().is_some_and(|s| s.contains("could not be reached")), "{session}");
    // Operators see the turn that was given up, and why.
    let failing = app.server().state.store.failing_jobs(10).await.unwrap();
    assert!(failing.iter().any(|(kind, _, error)| kind == "bot.turn" && error.contains("could not be reached")), "{failing:?}");
}

async fn agents_are_offered_similar_cases_and_articles(app: TestApp) {
    let inbox = app.create_inbox("api", "App").await;
    app.post("/api/v1/articles", json!({ "language": "it", "title": "Pacco in ritardo", "body": "Se il pacco non è arrivato dopo 5 giorni, scrivici il numero d'ordine." })).await;
    let old = say(&app, &inbox, "a", "Il mio pacco non è arrivato e il corriere non risponde").await;
    app.post(&format!("/api/v1/conversations/{old}/messages"), json!({ "text": "L'abbiamo rispedito oggi con corriere espresso." })).await;
    app.patch(&format!("/api/v1/conversations/{old}"), json!({ "status": "resolved" })).await;
    let unrelated = say(&app, &inbox, "b", "Come cambio la password del mio account?").await;
    app.post(&format!("/api/v1/conversations/{unrelated}/messages"), json!({ "text": "Dalla pagina del profilo." })).await;
    app.patch(&format!("/api/v1/conversations/{unrelated}"), json!({ "status": "resolved" })).await;

    let new = say(&app, &inbox, "c", "Buongiorno, il pacco non è ancora arrivato").await;
    let (status, suggestions) = app.get(&format!("/api/v1/conversations/{new}/suggestions")).await;
    assert_eq!(status, 200, "{suggestions}");
    assert_eq!(suggestions["similar"][0]["conversation_id"], old.as_str(), "{suggestions}");
    assert!(suggestions["similar"][0]["answer"].as_str().unwrap().contains("rispedito"));
    assert!(suggestions["similar"].as_array().unwrap().iter().all(|s| s["conversation_id"] != unrelated.as_str()), "{suggestions}");
    assert_eq!(suggestions["articles"][0]["title"], "Pacco in ritardo");
    // Another account's conversation is not ours to suggest for.
    let (_, _, other) = app.create_account("Altro", "admin@altro.example").await;
    let (status, _) = app.call_as(&other, Method::GET, &format!("/api/v1/conversations/{new}/suggestions"), None).await;
    assert_eq!(status, 404);
}
