//! Click-to-call in real headless Chromium: an agent without a number of
//! their own is asked for it in the customer panel; then one click rings
//! their phone through the voice inbox (Twilio's Calls API, on the stand-in).

use serde_json::json;

use crate::browser::Browser;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_calls_the_customer_from_the_panel() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let whatsapp = rig.whatsapp_inbox().await;
    assert_eq!(rig.meta_post(&whatsapp, &whatsapp_text("393471112233", "wamid.vb1", "Giulia Rossi", "Mi chiamate?")).await.0, 200);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    let (status, inbox) = rig
        .app
        .post(
            "/api/v1/inboxes",
            json!({ "channel": "voice", "name": "Telefono", "settings": { "account_sid": TWILIO_SID, "from": "+390212345678" },
                    "secrets": { "auth_token": TWILIO_TOKEN } }),
        )
        .await;
    assert_eq!(status, 201, "{inbox}");

    let browser = Browser::launch().await;
    let c = &browser.client;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;
    c.goto(&rig.app.url(&format!("/conversations/{conversation}"))).await.unwrap();
    browser.wait_for("the phone form", "document.querySelector('.call-box input[name=phone]')").await;
    browser
        .js(r#"const f = document.querySelector('.call-box form');
              f.elements.phone.value = '347 000 1111';
              f.querySelector('button[type=submit]').click();"#)
        .await;
    browser.wait_for("the call button", "document.querySelector('.call-box form[data-done] button')").await;
    let button = browser.js("return document.querySelector('.call-box form[data-done] button').innerText").await;
    assert!(button.as_str().unwrap().contains("+393471112233"), "{button}");
    let hint = browser.js("return document.querySelector('.call-box .hint').innerText").await;
    assert!(hint.as_str().unwrap().contains("+393470001111"), "{hint}");
    browser.js("document.querySelector('.call-box form[data-done] button').click()").await;
    browser.wait_for("the ringing note", "document.querySelector('.call-box .result').innerText.includes('ringing')").await;
    browser.screenshot("voice-1-click-to-call").await;
    browser.close().await;

    let placed = rig.provider.requests().into_iter().find(|r| r.path.ends_with("/Calls.json")).expect("a call placed");
    assert_eq!(placed.field("To").as_deref(), Some("+393470001111"), "the agent's phone rings first");
    let calls = rig.app.sql_integers("SELECT COUNT(*) FROM calls WHERE direction = 'outbound'").await;
    assert_eq!(calls, [1]);
}
