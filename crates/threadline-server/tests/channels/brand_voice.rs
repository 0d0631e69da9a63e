//! One brand voice: a canned response written once, in English and
//! Italian, with a WhatsApp template mapped to it, rendered per channel —
//! the email as sent (HTML under the inbox's signature), the SMS with its
//! segments, WhatsApp as text within 24 hours and as the approved template
//! after; a rule answering with it outside the window sends the template
//! through the provider; the preview page shows every channel.

use serde_json::{Value, json};
use time::Duration;

use crate::browser::Browser;
use crate::channel_tests;
use crate::support::*;

channel_tests!(one_message_is_rendered_per_channel_and_language, a_rule_sends_the_mapped_template_after_the_window);

const PHONE: &str = "393471234567";

async fn setup(rig: &Rig) -> String {
    let (status, inbox) = rig
        .app
        .post(
            "/api/v1/inboxes",
            json!({ "channel": "email", "name": "Assistenza", "settings": {
                "address": "aiuto@bottega.example", "name": "Bottega Aurora", "smtp_host": "127.0.0.1",
                "smtp_port": 2525, "smtp_security": "none", "signature": "Bottega Aurora <assistenza>\nVia Roma 1, Bologna" } }),
        )
        .await;
    assert_eq!(status, 201, "{inbox}");
    let (status, template) = rig
        .app
        .post(
            "/api/v1/templates",
            json!({ "channel": "whatsapp", "name": "order_shipped", "language": "it", "body": "Ciao {{1}}, il tuo ordine è partito. {{2}}" }),
        )
        .await;
    assert_eq!(status, 201, "{template}");
    let (status, canned) = rig
        .app
        .post(
            "/api/v1/canned-responses",
            json!({
                "shortcut": "shipped", "title": "Order shipped",
                "body": "Hi {{contact.first_name}}, your order has left our workshop & is on its way. {{agent.name}}",
                "translations": { "it": "Ciao {{contact.first_name}}, il tuo ordine è partito dal laboratorio ed è in viaggio: arriverà in 2-3 giorni lavorativi. Per qualsiasi domanda rispondi pure a questo messaggio. Grazie! {{agent.name}}" },
                "whatsapp_template": { "name": "order_shipped", "variables": ["contact.first_name", "agent.name"] }
            }),
        )
        .await;
    assert_eq!(status, 201, "{canned}");
    canned["id"].as_str().unwrap().to_owned()
}

fn channel<'a>(preview: &'a Value, name: &str) -> &'a Value {
    preview["channels"].as_array().unwrap().iter().find(|c| c["channel"] == name).unwrap_or_else(|| panic!("no {name} in {preview}"))
}

async fn one_message_is_rendered_per_channel_and_language(rig: Rig) {
    let canned = setup(&rig).await;

    // For anyone, in the default language: every usual channel.
    let (status, preview) = rig.app.get(&format!("/api/v1/canned-responses/{canned}/preview")).await;
    assert_eq!(status, 200, "{preview}");
    assert!(preview["language"].is_null());
    let channels: Vec<&str> = preview["channels"].as_array().unwrap().iter().map(|c| c["channel"].as_str().unwrap()).collect();
    assert_eq!(channels, ["email", "sms", "whatsapp", "web_chat", "telegram"]);
    let email = channel(&preview, "email");
    let html = email["html"].as_str().unwrap();
    assert!(html.contains("your order has left our workshop &amp; is on its way."), "escaped: {html}");
    assert!(html.contains("Bottega Aurora &lt;assistenza&gt;<br>"), "the inbox's signature, escaped, lines kept: {html}");
    let sms = channel(&preview, "sms");
    assert_eq!(sms["sms"]["encoding"], "gsm7");
    assert_eq!(sms["sms"]["segments"], 1);

    // In Italian: longer than one SMS; the accents are GSM's own.
    let (_, italian) = rig.app.get(&format!("/api/v1/canned-responses/{canned}/preview?language=it-IT")).await;
    assert_eq!(italian["language"], "it");
    let sms = channel(&italian, "sms");
    assert!(sms["text"].as_str().unwrap().starts_with("Ciao, il tuo ordine è partito"), "no customer: no name: {sms}");
    assert_eq!(sms["sms"]["encoding"], "gsm7", "{sms}");
    let units = sms["sms"]["units"].as_u64().unwrap();
    assert!(units > 160, "{sms}");
    assert_eq!(sms["sms"]["segments"].as_u64().unwrap(), units.div_ceil(153));

    // For a WhatsApp customer who writes in Italian: their name, their channels, the window.
    let whatsapp = rig.whatsapp_inbox().await;
    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_text(PHONE, "wamid.bv1", "Giulia Rossi", "Dov'è il mio ordine?")).await;
    assert_eq!(status, 200);
    let conversation = rig.conversations().await[0].clone();
    let id = conversation["id"].as_str().unwrap();
    let contact = conversation["contact_id"].as_str().unwrap();
    let (status, _) = rig.app.patch(&format!("/api/v1/contacts/{contact}"), json!({ "language": "it" })).await;
    assert_eq!(status, 200);
    let (_, preview) = rig.app.get(&format!("/api/v1/canned-responses/{canned}/preview?conversation_id={id}")).await;
    assert_eq!(preview["language"], "it");
    let w = channel(&preview, "whatsapp");
    assert!(w["text"].as_str().unwrap().starts_with("Ciao Giulia, il tuo ordine"), "{w}");
    assert_eq!((w["whatsapp"]["sends"].as_str(), w["whatsapp"]["window_open"].as_bool()), (Some("text"), Some(true)), "{w}");
    // A day later the window has closed: the template goes, filled in.
    later(&rig, Duration::hours(25));
    rig.age_messages(25).await;
    let (_, preview) = rig.app.get(&format!("/api/v1/canned-responses/{canned}/preview?conversation_id={id}")).await;
    let w = channel(&preview, "whatsapp");
    assert_eq!(w["whatsapp"]["sends"], "template", "{w}");
    assert_eq!(w["whatsapp"]["template"], "order_shipped");
    assert_eq!(w["whatsapp"]["variables"], json!(["Giulia", "Admin"]), "{w}");

    // Refused at the door.
    for (body, field) in [
        (json!({ "shortcut": "x", "title": "X", "body": "Hi", "translations": { "it": "Ciao {{customer}}" } }), "translations.it"),
        (json!({ "shortcut": "x", "title": "X", "body": "Hi", "translations": { "it italiano": "Ciao" } }), "translations.it italiano"),
        (
            json!({ "shortcut": "x", "title": "X", "body": "Hi", "whatsapp_template": { "name": "t", "variables": ["order.id"] } }),
            "whatsapp_template.variables",
        ),
        (
            json!({ "shortcut": "x", "title": "X", "body": "Hi", "whatsapp_template": { "name": " ", "variables": ["agent.name"] } }),
            "whatsapp_template.name",
        ),
    ] {
        let (status, error) = rig.app.post("/api/v1/canned-responses", body).await;
        assert_eq!(status, 422, "{error}");
        assert_eq!(error["error"]["fields"][0]["field"], field, "{error}");
    }
    // Another account's canned response is not there.
    let (_, _, other_token) = rig.app.create_account("Other shop", "boss@other.example").await;
    let (status, _) =
        rig.app.call_as(&other_token, reqwest::Method::GET, &format!("/api/v1/canned-responses/{canned}/preview"), None).await;
    assert_eq!(status, 404);
}

async fn a_rule_sends_the_mapped_template_after_the_window(rig: Rig) {
    let canned = setup(&rig).await;
    let whatsapp = rig.whatsapp_inbox().await;
    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_text(PHONE, "wamid.bv2", "Giulia Rossi", "Mi avvisate quando parte?")).await;
    assert_eq!(status, 200);
    let conversation = rig.conversations().await[0].clone();
    let id = conversation["id"].as_str().unwrap().to_owned();
    let (status, rule) = rig
        .app
        .post(
            "/api/v1/automation-rules",
            json!({ "name": "Tell them it shipped", "spec": {
                "when": "conversation_updated",
                "conditions": [{ "field": "conversation.labels", "op": "contains", "value": "shipped" }],
                "actions": [{ "type": "reply", "canned_id": canned }] } }),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    // Two days on, the order ships and an agent labels the conversation.
    later(&rig, Duration::hours(48));
    rig.age_messages(48).await;
    let (status, _) = rig.app.patch(&format!("/api/v1/conversations/{id}"), json!({ "labels": ["shipped"] })).await;
    assert_eq!(status, 200);
    run_jobs(&rig).await;
    let sends = rig.provider.wait_for_sends(1, 10).await;
    let body = sends[0].json();
    assert_eq!(body["type"], "template", "{body}");
    assert_eq!(body["template"]["name"], "order_shipped");
    assert_eq!(
        body["template"]["components"],
        json!([{ "type": "body", "parameters": [{ "type": "text", "text": "Giulia" }, { "type": "text", "text": "" }] }]),
        "nobody is assigned: the agent's place is empty"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_page_shows_every_channel() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let canned = setup(&rig).await;
    let browser = Browser::launch().await;
    let c = &browser.client;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;
    c.goto(&rig.app.url("/admin")).await.unwrap();
    browser.wait_for("the canned responses", &format!("document.querySelector('a[href=\"/canned/{canned}\"]')")).await;
    browser.js(&format!("document.querySelector('a[href=\"/canned/{canned}\"]').click()")).await;
    browser.wait_for("the preview", "document.querySelector('.channel-preview[data-channel=sms] .sms-cost')").await;
    let cost = browser.js("return document.querySelector('.channel-preview[data-channel=sms] .sms-cost').innerText").await;
    assert!(cost.as_str().unwrap().starts_with("1 SMS"), "{cost}");
    assert!(cost.as_str().unwrap().contains("GSM-7"), "{cost}");
    let template = browser.js("return document.querySelector('.whatsapp-template').innerText").await;
    assert!(template.as_str().unwrap().contains("order_shipped"), "{template}");
    browser.screenshot("canned-1-preview-en").await;
    browser.js("[...document.querySelectorAll('nav.languages a')].find(a => a.innerText === 'it').click()").await;
    browser.wait_for("Italian", "location.search.includes('language=it')").await;
    browser.wait_for("the preview", "document.querySelector('.channel-preview[data-channel=sms] .sms-cost')").await;
    let cost = browser.js("return document.querySelector('.channel-preview[data-channel=sms] .sms-cost').innerText").await;
    assert!(cost.as_str().unwrap().starts_with("2 SMS"), "{cost}");
    browser.screenshot("canned-2-preview-it").await;
}
