//! The web chat: its API (visitors, verification, privacy, origins) on both
//! databases, and the widget itself in real headless Chromium.

use hmac::Mac;
use serde_json::{Value, json};
use threadline_testkit::Backend;

use crate::browser::Browser;
use crate::channel_tests;
use crate::support::*;

channel_tests!(
    a_chat_visitor_answers_a_survey_with_a_tap,
    the_chat_api_verifies_users_and_keeps_chats_private,
    a_flooding_client_is_slowed_down,
    an_offline_visitor_is_answered_by_email
);

async fn an_offline_visitor_is_answered_by_email(rig: Rig) {
    let smtp = threadline_testkit::SmtpSink::start().await;
    let (status, email_inbox) = rig
        .app
        .post(
            "/api/v1/inboxes",
            json!({ "channel": "email", "name": "Assistenza", "settings": {
                "address": "aiuto@bottega.example", "name": "Bottega Aurora", "smtp_host": "127.0.0.1",
                "smtp_port": smtp.addr.port(), "smtp_security": "none", "subject": "La tua domanda a Bottega Aurora",
                "signature": "Bottega Aurora — Via Roma 1, Bologna" } }),
        )
        .await;
    assert_eq!(status, 201, "{email_inbox}");
    assert_eq!(email_inbox["provider_connected"], true);
    assert!(email_inbox["webhook_url"].is_null(), "email has no provider webhook");

    // Nobody is online: the visitor leaves a question and an email address, and goes.
    let chat = chat_inbox(&rig, json!({})).await;
    let base = rig.app.url(&format!("/widget/{chat}"));
    let (_, session) = self::chat(&rig, reqwest::Method::POST, format!("{base}/session"), None, Some(json!({}))).await;
    let token = session["token"].as_str().unwrap().to_owned();
    let (status, _) = self::chat(
        &rig,
        reqwest::Method::POST,
        format!("{base}/messages"),
        Some(&token),
        Some(json!({ "text": "Fate spedizioni in Svizzera?", "name": "Paolo Neri", "email": "paolo@example.com" })),
    )
    .await;
    assert_eq!(status, 201);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();

    // The agent answers later; it goes out by email, into the same conversation.
    let (status, reply) = rig.reply(&conversation, json!({ "text": "Buongiorno Paolo,\nsì, spediamo in Svizzera in 3-5 giorni." })).await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["channel"], "email");
    assert_eq!(reply["conversation_id"], conversation.as_str());
    let mails = smtp.wait_for(1, 10).await;
    assert_eq!(mails.len(), 1, "the relay received the reply");
    let mail = &mails[0];
    let header = |name: &str| {
        mail.lines().find(|l| l.to_ascii_lowercase().starts_with(&format!("{}:", name.to_ascii_lowercase()))).map(|l| l.to_owned())
    };
    assert_eq!(header("To").as_deref(), Some("To: paolo@example.com"), "{mail}");
    assert!(header("From").unwrap().contains("<aiuto@bottega.example>"), "{mail}");
    assert!(header("Subject").is_some());
    let message_id = header("Message-ID").unwrap();
    assert!(message_id.contains(&format!("<{}@bottega.example>", reply["id"].as_str().unwrap())), "{message_id}");
    assert!(mail.contains("multipart/alternative") && mail.contains("text/plain") && mail.contains("text/html"), "{mail}");
    assert!(mail.contains("Svizzera") && mail.contains("Via Roma 1"), "the text and the signature: {mail}");
    let sent = rig.wait_message(reply["id"].as_str().unwrap(), |m| m["delivery_status"] == "sent").await;
    assert_eq!(sent["delivery_status"], "sent", "{sent}");
}

async fn a_flooding_client_is_slowed_down(mut rig: Rig) {
    rig.app
        .restart(|s| {
            s.chat_rate_per_minute = 3;
            s.trust_forwarded_for = true;
        })
        .await;
    let inbox = chat_inbox(&rig, json!({})).await;
    let other = chat_inbox(&rig, json!({})).await;
    let session = |inbox: String, client: &'static str| {
        let http = rig.http.clone();
        let url = rig.app.url(&format!("/widget/{inbox}/session"));
        async move { http.post(url).header("x-forwarded-for", format!("203.0.113.9, {client}")).json(&json!({})).send().await.unwrap() }
    };
    for _ in 0..3 {
        assert_eq!(session(inbox.clone(), "198.51.100.7").await.status(), 200);
    }
    let refused = session(inbox.clone(), "198.51.100.7").await;
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(session(inbox.clone(), "198.51.100.8").await.status(), 200, "another client has its own budget");
    assert_eq!(session(other, "198.51.100.7").await.status(), 200, "and so has another inbox");
}

const IDENTITY_SECRET: &str = "chat-identity-secret";

async fn chat_inbox(rig: &Rig, settings: Value) -> String {
    let (status, inbox) = rig
        .app
        .post(
            "/api/v1/inboxes",
            json!({ "channel": "web_chat", "name": "Sito", "settings": settings, "secrets": { "identity_secret": IDENTITY_SECRET } }),
        )
        .await;
    assert_eq!(status, 201, "{inbox}");
    inbox["id"].as_str().unwrap().to_owned()
}

fn user_hash(user_id: &str) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(IDENTITY_SECRET.as_bytes()).unwrap();
    mac.update(user_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn chat(rig: &Rig, method: reqwest::Method, url: String, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut request = rig.http.request(method, url);
    if let Some(token) = token {
        request = request.header("x-threadline-visitor", token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Resolves the only conversation and lets the survey go out.
async fn resolve_the_conversation(rig: &Rig) -> String {
    let conversations = rig.conversations().await;
    assert_eq!(conversations.len(), 1);
    let id = conversations[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = rig.app.patch(&format!("/api/v1/conversations/{id}"), json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);
    run_jobs(rig).await;
    id
}

async fn a_chat_visitor_answers_a_survey_with_a_tap(rig: Rig) {
    let inbox = chat_inbox(&rig, json!({ "title": "Bottega Aurora" })).await;
    let (status, _) = rig.app.post("/api/v1/surveys", json!({ "name": "CSAT", "spec": { "kind": "csat" } })).await;
    assert_eq!(status, 201);
    let base = rig.app.url(&format!("/widget/{inbox}"));
    let (post, get) = (reqwest::Method::POST, reqwest::Method::GET);
    let (_, session) = chat(&rig, post.clone(), format!("{base}/session"), None, Some(json!({}))).await;
    let token = session["token"].as_str().unwrap().to_owned();
    let (status, _) =
        chat(&rig, post.clone(), format!("{base}/messages"), Some(&token), Some(json!({ "text": "Il vaso è arrivato intero, grazie" })))
            .await;
    assert_eq!(status, 201);
    let conversation = resolve_the_conversation(&rig).await;

    // The survey is in the chat with its five scores to tap, highest last.
    let (_, history) = chat(&rig, get.clone(), format!("{base}/messages"), Some(&token), None).await;
    let asked = history["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(asked["from"], "agent", "{history}");
    assert!(asked["text"].as_str().unwrap().starts_with("Quanto è soddisfatto"), "{asked}");
    let titles: Vec<&str> = asked["choices"].as_array().unwrap().iter().map(|c| c["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["1", "2", "3", "4", "5"], "{asked}");
    assert_eq!(asked["choices"][3]["description"], "Soddisfatto");
    // Agents see what was offered too.
    let messages = rig.messages(&conversation).await;
    assert_eq!(messages.last().unwrap()["choices"].as_array().map(Vec::len), Some(5), "{messages:?}");

    // A tap sends the choice's title: the answer, not a new request.
    let (status, _) = chat(&rig, post.clone(), format!("{base}/messages"), Some(&token), Some(json!({ "text": "4" }))).await;
    assert_eq!(status, 201);
    run_jobs(&rig).await;
    let (_, answered) = rig.app.get("/api/v1/surveys/responses").await;
    assert_eq!((answered[0]["score"].as_i64(), answered[0]["channel"].as_str()), (Some(4), Some("web_chat")), "{answered}");
    let conversations = rig.conversations().await;
    assert_eq!(conversations.len(), 1, "the answer is no new case");
    let (_, after) = rig.app.get(&format!("/api/v1/conversations/{conversation}")).await;
    assert_eq!(after["status"], "resolved", "nor does it reopen this one: {after}");
}

async fn the_chat_api_verifies_users_and_keeps_chats_private(rig: Rig) {
    let inbox = chat_inbox(&rig, json!({ "title": "Bottega Aurora" })).await;
    let base = rig.app.url(&format!("/widget/{inbox}"));
    let post = reqwest::Method::POST;

    // An anonymous visitor.
    let (status, anonymous) = chat(&rig, post.clone(), format!("{base}/session"), None, Some(json!({}))).await;
    assert_eq!(status, 200, "{anonymous}");
    assert_eq!(anonymous["verified"], false);
    assert_eq!(anonymous["agents_online"], 0);
    assert_eq!(anonymous["title"], "Bottega Aurora");
    let anonymous = anonymous["token"].as_str().unwrap().to_owned();
    // Resuming keeps the same visitor.
    let (_, resumed) = chat(&rig, post.clone(), format!("{base}/session"), None, Some(json!({ "token": anonymous }))).await;
    assert_eq!(resumed["token"], anonymous.as_str());

    // A signed-in user of the shop, proven by the HMAC of their id.
    let (status, _) =
        chat(&rig, post.clone(), format!("{base}/session"), None, Some(json!({ "user_id": "cust-42", "user_hash": "00ff" }))).await;
    assert_eq!(status, 403, "a wrong hash is refused");
    let (status, _) = chat(&rig, post.clone(), format!("{base}/session"), None, Some(json!({ "user_id": "cust-42" }))).await;
    assert_eq!(status, 422, "an id without its hash is refused");
    let (status, verified) =
        chat(&rig, post.clone(), format!("{base}/session"), None, Some(json!({ "user_id": "cust-42", "user_hash": user_hash("cust-42") })))
            .await;
    assert_eq!(status, 200);
    assert_eq!(verified["verified"], true);
    let verified = verified["token"].as_str().unwrap().to_owned();
    // After the user signs out, the saved token does not make the next
    // person at that browser them.
    let (_, signed_out) = chat(&rig, post.clone(), format!("{base}/session"), None, Some(json!({ "token": verified }))).await;
    assert_eq!(signed_out["verified"], false);
    assert_ne!(signed_out["token"], verified.as_str());

    // The same customer, known to the shop's integration by that id, wrote
    // about an order on another channel.
    let api = rig.app.create_inbox("api", "shop backend").await;
    rig.app.inbound(&api, json!([{ "kind": "external_id", "value": "cust-42" }]), "Order 1042: card ending 4242").await;

    let (status, sent) =
        chat(&rig, post.clone(), format!("{base}/messages"), Some(&verified), Some(json!({ "text": "Ciao, sono io", "name": "Giulia" })))
            .await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["from"], "visitor");
    let conversations = rig.conversations().await;
    assert_eq!(conversations.len(), 1, "the verified user continues their own conversation");
    let first = conversations[0]["id"].clone();

    // The chat shows only the chat: not what the customer said elsewhere.
    let (status, history) = chat(&rig, reqwest::Method::GET, format!("{base}/messages"), Some(&verified), None).await;
    assert_eq!(status, 200);
    let texts: Vec<&str> = history["data"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Ciao, sono io"]);
    // Another visitor sees nothing of it.
    let (_, other) = chat(&rig, reqwest::Method::GET, format!("{base}/messages"), Some(&anonymous), None).await;
    assert_eq!(other["data"], json!([]));
    // A forged token (someone else's visitor id) is refused.
    let (payload, signature) = anonymous.split_once('.').unwrap();
    let forged = format!("{}x.{signature}", payload);
    let (status, _) = chat(&rig, reqwest::Method::GET, format!("{base}/messages"), Some(&forged), None).await;
    assert_eq!(status, 401);
    let (status, _) = chat(&rig, reqwest::Method::GET, format!("{base}/messages"), None, None).await;
    assert_eq!(status, 401);

    // Bad input is refused with reasons; nothing is stored.
    let (status, bad) = chat(&rig, post.clone(), format!("{base}/messages"), Some(&anonymous), Some(json!({ "text": "  " }))).await;
    assert_eq!(status, 422, "{bad}");
    let (status, bad) =
        chat(&rig, post.clone(), format!("{base}/messages"), Some(&anonymous), Some(json!({ "text": "hi", "email": "not-an-email" })))
            .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(rig.conversations().await.len(), 1);

    // A visitor who leaves an email while nobody is online, then closes the
    // chat: the agent's answer goes out by email by default.
    rig.app.create_inbox("email", "support@").await;
    let (status, _) = chat(
        &rig,
        post.clone(),
        format!("{base}/messages"),
        Some(&anonymous),
        Some(json!({ "text": "Quando riaprite?", "name": "Paolo", "email": "paolo@example.com" })),
    )
    .await;
    assert_eq!(status, 201);
    let paolo = rig.conversations().await.into_iter().find(|c| c["id"] != first).expect("Paolo's conversation");
    let (status, reply) = rig.reply(paolo["id"].as_str().unwrap(), json!({ "text": "Domani alle 9." })).await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["channel"], "email", "the visitor left the chat and gave an email: {reply}");

    // Pages from origins the inbox does not allow cannot use the chat.
    let (status, _) =
        rig.app.patch(&format!("/api/v1/inboxes/{inbox}"), json!({ "settings": { "allowed_origins": ["https://shop.example"] } })).await;
    assert_eq!(status, 200);
    let from = |origin: &'static str| {
        let http = rig.http.clone();
        let url = format!("{base}/session");
        async move { http.post(url).header("origin", origin).json(&json!({})).send().await.unwrap() }
    };
    // The inbox cache may hold the old settings for a moment.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(from("https://evil.example").await.status(), 403);
    let allowed = from("https://shop.example").await;
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://shop.example");
    let preflight = rig
        .http
        .request(reqwest::Method::OPTIONS, format!("{base}/messages"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert!(preflight.headers()["access-control-allow-headers"].to_str().unwrap().contains("x-threadline-visitor"));
}

/// Serves a page of "the shop's site" that embeds the widget, on its own origin.
async fn host_page(threadline: &str, inbox: &str) -> String {
    let html = format!(
        "<!doctype html><html lang=it><head><meta charset=utf-8><title>Bottega Aurora</title></head>\
         <body style=\"font-family:sans-serif;background:#fafaf7\"><h1>Bottega Aurora</h1><p>Ceramiche fatte a mano.</p>\
         <script src=\"{threadline}/widget.js\" data-inbox=\"{inbox}\" async></script></body></html>"
    );
    let app = axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(html) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

const ROOT: &str = "document.querySelector('#threadline-chat').shadowRoot";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_chats_live_in_a_real_browser() {
    let rig = rig(Backend::Sqlite).await;
    let inbox =
        chat_inbox(&rig, json!({ "title": "Bottega Aurora", "greeting": "Ciao! Come possiamo aiutarti?", "color": "#0b7a5c" })).await;
    let page = host_page(&rig.app.url(""), &inbox).await;
    let browser = Browser::launch().await;
    browser.client.goto(&page).await.unwrap();
    browser.wait_for("the launcher", &format!("document.querySelector('#threadline-chat') && {ROOT}.querySelector('.launcher')")).await;
    browser.wait_for("the session", &format!("{ROOT}.querySelector('.head b').textContent === 'Bottega Aurora'")).await;

    // Nobody is online: the chat asks for an email address.
    browser.js(&format!("{ROOT}.querySelector('.launcher').click()")).await;
    browser.wait_for("the open panel", &format!("{ROOT}.querySelector('.panel').classList.contains('open')")).await;
    let intro = browser
        .js(&format!("const i = {ROOT}.querySelector('.intro'); return getComputedStyle(i).display === 'none' ? null : i.querySelector('p').textContent"))
        .await;
    assert!(intro.as_str().unwrap().contains("non siamo online"), "the page is Italian, so is the chat: {intro}");
    browser.screenshot("widget-1-offline-asks-email").await;
    browser.js(&format!("{ROOT}.querySelector('textarea').value = 'Vorrei un vaso blu'; {ROOT}.querySelector('.send').click()")).await;
    browser.wait_for("the email warning", &format!("{ROOT}.querySelector('.error').textContent.includes('email')")).await;
    assert!(rig.conversations().await.is_empty(), "nothing is sent without the email");

    browser
        .js(&format!(
            "{ROOT}.querySelector('input[name=name]').value = 'Giulia Rossi';\
             {ROOT}.querySelector('input[name=email]').value = 'giulia@example.com';\
             {ROOT}.querySelector('.send').click()"
        ))
        .await;
    browser
        .wait_for(
            "the visitor's message",
            &format!("[...{ROOT}.querySelectorAll('.msg.visitor')].some(m => m.textContent === 'Vorrei un vaso blu')"),
        )
        .await;
    let intro_shown = browser.js(&format!("return getComputedStyle({ROOT}.querySelector('.intro')).display")).await;
    assert_eq!(intro_shown, "none", "once they have written, the form goes away");
    let conversations = rig.conversations().await;
    assert_eq!(conversations.len(), 1);
    let conversation = conversations[0]["id"].as_str().unwrap().to_owned();
    let (_, contact) = rig.app.get(&format!("/api/v1/contacts/{}", conversations[0]["contact_id"].as_str().unwrap())).await;
    assert_eq!(contact["name"], "Giulia Rossi");
    let kinds: Vec<&str> = contact["identities"].as_array().unwrap().iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["web_visitor"], "an email typed into the chat is not proof of identity: {contact}");
    assert_eq!(contact["attributes"]["chat_email"], "giulia@example.com", "but it is kept for answering: {contact}");

    // The agent types, then answers: both appear live. Hostile text stays text.
    let (status, _) = rig.app.post(&format!("/api/v1/conversations/{conversation}/typing"), json!({})).await;
    assert_eq!(status, 204);
    browser.wait_for("the typing indicator", &format!("{ROOT}.querySelector('.typing').textContent.includes('sta scrivendo')")).await;
    let hostile = "Ciao Giulia! <img src=x onerror=\"window.__xss=1\"> Sì, il vaso blu è disponibile.";
    let (status, reply) = rig.reply(&conversation, json!({ "text": hostile })).await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["channel"], "web_chat");
    let hostile_js = serde_json::to_string(hostile).unwrap();
    browser
        .wait_for("the agent's reply", &format!("[...{ROOT}.querySelectorAll('.msg.agent')].some(m => m.textContent === {hostile_js})"))
        .await;
    let injected = browser.js(&format!("return [window.__xss === undefined, {ROOT}.querySelectorAll('.list img').length]")).await;
    assert_eq!(injected, json!([true, 0]), "no markup from a message is ever interpreted");
    let read = rig.wait_message(reply["id"].as_str().unwrap(), |m| m["delivery_status"] == "read").await;
    assert_eq!(read["delivery_status"], "read", "the open chat showed it: {read}");
    browser.screenshot("widget-2-conversation").await;

    // With the chat closed, a new answer shows as an unread badge.
    browser.js(&format!("{ROOT}.querySelector('.launcher').click()")).await;
    let (_, second) = rig.reply(&conversation, json!({ "text": "Vuole che glielo teniamo da parte?" })).await;
    browser
        .wait_for(
            "the unread badge",
            &format!("!{ROOT}.querySelector('.badge').hidden && {ROOT}.querySelector('.badge').textContent === '1'"),
        )
        .await;
    let delivered = rig.wait_message(second["id"].as_str().unwrap(), |m| m["delivery_status"] == "delivered").await;
    assert_eq!(delivered["delivery_status"], "delivered", "pushed but not yet seen: {delivered}");
    browser.screenshot("widget-3-unread-badge").await;

    // A file from the visitor.
    browser.js(&format!("{ROOT}.querySelector('.launcher').click()")).await;
    browser
        .js(&format!(
            "const input = {ROOT}.querySelector('input[type=file]'); const dt = new DataTransfer();\
             dt.items.add(new File(['misure: 30x12 cm'], 'misure.txt', {{ type: 'text/plain' }}));\
             input.files = dt.files; input.dispatchEvent(new Event('change'));"
        ))
        .await;
    browser
        .wait_for(
            "the attachment",
            &format!("[...{ROOT}.querySelectorAll('.msg.visitor a')].some(a => a.textContent.includes('misure.txt'))"),
        )
        .await;
    let messages = rig.messages(&conversation).await;
    let upload = messages.iter().find(|m| !m["attachments"].as_array().unwrap().is_empty()).expect("the file was stored");
    assert_eq!(upload["attachments"][0]["filename"], "misure.txt");
    assert_eq!(upload["attachments"][0]["size"], 16);

    // Coming back later, the visitor is still the same person with the same history.
    browser.client.refresh().await.unwrap();
    browser
        .wait_for(
            "the restored history",
            &format!("document.querySelector('#threadline-chat') && {ROOT}.querySelectorAll('.msg').length === 4"),
        )
        .await;
    browser.js(&format!("{ROOT}.querySelector('.launcher').click()")).await;
    browser.wait_for("the open panel", &format!("{ROOT}.querySelector('.panel').classList.contains('open')")).await;
    let intro_shown = browser.js(&format!("return getComputedStyle({ROOT}.querySelector('.intro')).display")).await;
    assert_eq!(intro_shown, "none", "a returning visitor who left an email is not asked who they are again");
    browser.screenshot("widget-4-returning-visitor").await;
    assert_eq!(rig.conversations().await.len(), 1);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_shows_a_surveys_scores_as_buttons() {
    let rig = rig(Backend::Sqlite).await;
    let inbox = chat_inbox(&rig, json!({ "title": "Bottega Aurora", "color": "#0b7a5c" })).await;
    let (status, _) = rig.app.post("/api/v1/surveys", json!({ "name": "CSAT", "spec": { "kind": "csat" } })).await;
    assert_eq!(status, 201);
    let page = host_page(&rig.app.url(""), &inbox).await;
    let browser = Browser::launch().await;
    browser.client.goto(&page).await.unwrap();
    browser.wait_for("the session", &format!("document.querySelector('#threadline-chat') && {ROOT}.querySelector('.head b')")).await;
    browser.js(&format!("{ROOT}.querySelector('.launcher').click()")).await;
    browser
        .js(&format!(
            "{ROOT}.querySelector('input[name=name]').value = 'Giulia Rossi';\
             {ROOT}.querySelector('input[name=email]').value = 'giulia@example.com';\
             {ROOT}.querySelector('textarea').value = 'Il vaso è arrivato intero, grazie';\
             {ROOT}.querySelector('.send').click()"
        ))
        .await;
    browser.wait_for("the visitor's message", &format!("{ROOT}.querySelectorAll('.msg.visitor').length === 1")).await;
    let conversation = resolve_the_conversation(&rig).await;

    browser.wait_for("the survey's buttons", &format!("{ROOT}.querySelectorAll('.choices button').length === 5")).await;
    let labels =
        browser.js(&format!("return [...{ROOT}.querySelectorAll('.choices button')].map(b => b.getAttribute('aria-label'))")).await;
    assert_eq!(labels[4], "5 Molto soddisfatto", "{labels}");
    browser.screenshot("widget-5-survey-buttons").await;
    browser.js(&format!("[...{ROOT}.querySelectorAll('.choices button')].find(b => b.firstChild.textContent === '4').click()")).await;
    browser
        .wait_for(
            "the answer sent and the buttons gone",
            &format!("[...{ROOT}.querySelectorAll('.msg.visitor')].some(m => m.textContent === '4') && !{ROOT}.querySelector('.choices')"),
        )
        .await;
    browser.screenshot("widget-6-survey-answered").await;
    run_jobs(&rig).await;
    let (_, answered) = rig.app.get("/api/v1/surveys/responses").await;
    assert_eq!(
        (answered[0]["score"].as_i64(), answered[0]["conversation_id"].as_str()),
        (Some(4), Some(conversation.as_str())),
        "{answered}"
    );
    assert_eq!(rig.conversations().await.len(), 1, "the tap is no new case");

    // Reloaded, the answered survey offers nothing to tap any more.
    browser.client.refresh().await.unwrap();
    browser
        .wait_for(
            "the restored history",
            &format!("document.querySelector('#threadline-chat') && {ROOT}.querySelectorAll('.msg').length === 3"),
        )
        .await;
    let buttons = browser.js(&format!("return {ROOT}.querySelectorAll('.choices button').length")).await;
    assert_eq!(buttons, 0);
    browser.close().await;
}
