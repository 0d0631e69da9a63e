//! Voice in real headless Chromium: click-to-call (an agent without a
//! number of their own is asked for it in the customer panel; then one
//! click rings their phone through the voice inbox — Twilio's Calls API, on
//! the stand-in), the screen pop of a ringing call, a callback task called
//! back from the inbox, and the phone menu builder.

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

/// A caller waits for the agent's line: while the agent's phone rings, the
/// workspace shows who calls — the caller's panel in the notice; after the
/// longest wait the caller asks to be called back, and the agent calls
/// back from the task at the top of the inbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ringing_call_shows_the_caller_and_a_callback_is_called_back_from_the_inbox() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let whatsapp = rig.whatsapp_inbox().await;
    assert_eq!(rig.meta_post(&whatsapp, &whatsapp_text("393471112233", "wamid.vb2", "Giulia Rossi", "Il mio ordine?")).await.0, 200);
    let ivr = json!({ "languages": ["en"], "greeting": { "en": "Welcome to Bottega Aurora." }, "max_wait_secs": 60, "callback": true });
    let (status, inbox) = rig
        .app
        .post(
            "/api/v1/inboxes",
            json!({ "channel": "voice", "name": "Telefono", "settings": { "account_sid": TWILIO_SID, "from": "+390212345678", "ivr": ivr },
                    "secrets": { "auth_token": TWILIO_TOKEN } }),
        )
        .await;
    assert_eq!(status, 201, "{inbox}");
    let url = inbox["webhook_url"].as_str().unwrap().to_owned();
    assert_eq!(rig.app.put("/api/v1/me/phone", json!({ "phone": "+39 347 000 1111" })).await.0, 200);

    let browser = Browser::launch().await;
    let c = &browser.client;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;
    c.goto(&rig.app.url("/inbox")).await.unwrap();
    // The open workspace puts the agent online.
    for _ in 0..100 {
        if rig.app.sql_integers("SELECT COUNT(*) FROM agent_presence WHERE status = 'online'").await == [1] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Giulia calls and is queued: the agent's phone rings, and the workspace shows her.
    let caller = threadline_testkit::VoiceCaller::new(TWILIO_SID, TWILIO_TOKEN);
    let giulia = threadline_testkit::CallScript::new("CA4242", "+393471112233", "+390212345678", vec![]);
    let (code, twiml) = caller.post(&url, &giulia, "ringing", &[]).await;
    assert!(code == 200 && twiml.contains("<Enqueue"), "{twiml}");
    browser.wait_for("the screen pop", "document.querySelector('.toast .screen-pop')").await;
    let pop = browser.js("return document.querySelector('.toast').innerText").await;
    let pop = pop.as_str().unwrap();
    assert!(pop.contains("your phone is ringing") && pop.contains("Giulia Rossi") && pop.contains("393471112233"), "{pop}");
    let editable =
        browser.js("return document.querySelectorAll('.toast .screen-pop form, .toast .screen-pop input:not([disabled])').length").await;
    assert_eq!(editable, json!(0), "the panel in the notice is to read");
    browser.screenshot("voice-3-screen-pop").await;

    // Nobody answers; after the longest wait she asks to be called back.
    let wait = [("QueuePosition", "1".to_owned()), ("QueueTime", "60".to_owned())];
    assert!(caller.post(&format!("{url}?step=wait&lang=en"), &giulia, "in-progress", &wait).await.1.contains("<Leave/>"));
    let left = [("QueueResult", "leave".to_owned()), ("QueueTime", "60".to_owned())];
    assert_eq!(caller.post(&format!("{url}?step=left&lang=en"), &giulia, "in-progress", &left).await.0, 200);
    let yes = [("SpeechResult", "Yes, please.".to_owned()), ("Confidence", "0.9".to_owned())];
    let (_, twiml) = caller.post(&format!("{url}?step=callback&lang=en"), &giulia, "in-progress", &yes).await;
    assert!(twiml.contains("We will call you back"), "{twiml}");
    assert_eq!(caller.post(&format!("{url}?step=status"), &giulia, "completed", &[("CallDuration", "70".into())]).await.0, 200);

    // The task is at the top of the inbox; one click calls her back through the line.
    c.goto(&rig.app.url("/inbox")).await.unwrap();
    browser.wait_for("the callback task", "document.querySelector('.tasks form[data-api] button')").await;
    let title = browser.js("return document.querySelector('.tasks .title').innerText").await;
    assert_eq!(title.as_str(), Some("Call back +393471112233 (waited 1:00 in the queue)"));
    let before = rig.provider.requests().iter().filter(|r| r.path.ends_with("/Calls.json")).count();
    browser.js("document.querySelector('.tasks form[data-api] button').click()").await;
    browser.wait_for("the ringing note", "document.querySelector('.tasks .result').innerText.includes('ringing')").await;
    browser.screenshot("voice-4-callback-task").await;
    browser.close().await;
    let placed: Vec<_> = rig.provider.requests().into_iter().filter(|r| r.path.ends_with("/Calls.json")).collect();
    assert_eq!(placed.len(), before + 1);
    assert!(placed[before].field("Url").unwrap().contains("step=bridge"), "the agent's phone, then hers");
    assert_eq!(rig.app.sql_integers("SELECT COUNT(*) FROM calls WHERE direction = 'outbound' AND to_number = '+393471112233'").await, [1]);
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
              f.elements.callback.checked = true;
              f.elements.record.checked = true;
              f.elements.ring_secs.value = '25';
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
    assert_eq!(
        (ivr["callback"].as_bool(), ivr["ring_secs"].as_u64(), ivr["record"].as_bool()),
        (Some(true), Some(25), Some(true)),
        "{ivr}"
    );
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
