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

/// The phone menu builder: from the administration page, an administrator
/// writes the greeting in two languages and a menu whose options lead to
/// teams; a key used twice is refused and said so; the line then answers
/// with the menu.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_builds_the_phone_menu() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let (_, team) = rig.app.post("/api/v1/teams", json!({ "name": "Ordini" })).await;
    let orders = team["id"].as_str().unwrap().to_owned();
    let (status, inbox) = rig
        .app
        .post(
            "/api/v1/inboxes",
            json!({ "channel": "voice", "name": "Telefono", "settings": { "account_sid": TWILIO_SID, "from": "+390212345678" },
                    "secrets": { "auth_token": TWILIO_TOKEN } }),
        )
        .await;
    assert_eq!(status, 201, "{inbox}");
    let id = inbox["id"].as_str().unwrap().to_owned();

    let browser = Browser::launch().await;
    let c = &browser.client;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;
    c.goto(&rig.app.url("/admin")).await.unwrap();
    browser.wait_for("the phone menu link", "document.querySelector('a.ivr-link')").await;
    browser.js("document.querySelector('a.ivr-link').click()").await;
    browser.wait_for("the builder", "document.querySelector('form.ivr-builder')").await;
    browser
        .js(&format!(
            r#"const f = document.querySelector('form.ivr-builder');
              f.elements.lang_it.checked = true;
              f.elements.greeting_it.value = 'Benvenuto da Bottega Aurora.';
              f.elements.greeting_en.value = 'Welcome to Bottega Aurora.';
              f.querySelector('[data-add-option]').click();
              f.querySelector('[data-add-option]').click();
              const rows = f.querySelectorAll('tr.ivr-option');
              const fill = (row, values) => Object.entries(values).forEach(([name, value]) => row.querySelector('[name=' + name + ']').value = value);
              fill(rows[0], {{ digit: '1', label_it: 'Per gli ordini', label_en: 'For orders', words_it: 'ordine, ordini', team_id: '{orders}' }});
              fill(rows[1], {{ digit: '1', label_it: 'Per tutto il resto', label_en: 'For anything else' }});
              f.querySelector('button[type=submit]').click();"#
        ))
        .await;
    browser.wait_for("the refusal", "document.querySelector('form.ivr-builder .result.error')").await;
    let refusal = browser.js("return document.querySelector('form.ivr-builder .result').innerText").await;
    assert!(refusal.as_str().unwrap().contains("settings.ivr.menu[1].digit"), "{refusal}");
    browser
        .js(r#"const f = document.querySelector('form.ivr-builder');
              f.querySelectorAll('tr.ivr-option')[1].querySelector('[name=digit]').value = '2';
              f.querySelector('button[type=submit]').click();"#)
        .await;
    browser.wait_for("the saved menu", "document.querySelector('form.ivr-builder .result.ok')").await;
    browser.screenshot("voice-2-ivr-builder").await;
    browser.close().await;

    let (_, saved) = rig.app.get(&format!("/api/v1/inboxes/{id}")).await;
    let ivr = &saved["settings"]["ivr"];
    assert_eq!(ivr["languages"], json!(["it", "en"]), "{saved}");
    assert_eq!(ivr["menu"][0]["team_id"], orders.as_str());
    assert_eq!(ivr["menu"][0]["words"]["it"], json!(["ordine", "ordini"]));
    assert_eq!(saved["settings"]["account_sid"], TWILIO_SID, "the other settings are kept");
    // The line answers with it.
    let url = saved["webhook_url"].as_str().unwrap().to_owned();
    let caller = threadline_testkit::VoiceCaller::new(TWILIO_SID, TWILIO_TOKEN);
    let log = caller
        .call(
            &url,
            threadline_testkit::CallScript::new(
                "CA7777",
                "+393471112233",
                "+390212345678",
                vec![threadline_testkit::Input::Digits("1".into())],
            ),
        )
        .await;
    assert!(log.heard("Benvenuto da Bottega Aurora.") && log.heard("Per gli ordini, premi 1 oppure di' \"ordine\"."), "{log:?}");
}
