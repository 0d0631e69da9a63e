//! A supervisor sets up an automation rule in real headless Chromium —
//! from a starter, then edited on its page — and sees it at work: a
//! customer's WhatsApp message sets it off, the rule's page shows what it
//! did, and pausing it from the page stops it. In English and Italian.

use serde_json::json;

use crate::browser::Browser;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_sets_up_a_rule_and_sees_it_work() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let whatsapp = rig.whatsapp_inbox().await;
    let browser = Browser::launch().await;
    let c = &browser.client;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;
    browser.js("window.confirm = () => true").await;

    // New, from the refunds starter.
    c.goto(&rig.app.url("/rules")).await.unwrap();
    browser.wait_for("the rules page", "document.querySelector('form[data-api=\"/automation-rules\"]')").await;
    assert!(browser.js("return document.querySelector('#rule-list').innerText").await.as_str().unwrap().contains("No rules yet"));
    browser
        .js(r#"const f = document.querySelector('form[data-api="/automation-rules"]');
              f.elements.name.value = 'Refunds first';
              f.elements.spec.selectedIndex = 0;
              f.querySelector('button[type=submit]').click();"#)
        .await;
    browser.wait_for("the rule's page", "document.querySelector('#rule-view h1')").await;
    let words = browser.js("return document.querySelector('.rule-words').innerText").await;
    let words = words.as_str().unwrap();
    assert!(words.contains("a customer writes"), "{words}");
    assert!(words.contains("message.text contains \"refund\""), "{words}");
    assert!(words.contains("add label “refund”"), "{words}");

    // Edited: the word is Italian too.
    browser
        .js(r#"const f = document.querySelector('form[data-method="PUT"]');
              const spec = JSON.parse(f.elements.spec.value);
              spec.matching = 'any';
              spec.conditions.push({ field: 'message.text', op: 'contains', value: 'rimborso' });
              f.elements.spec.value = JSON.stringify(spec, null, 2);
              f.querySelector('button[type=submit]').click();"#)
        .await;
    browser.wait_for("saved", "document.querySelector('form[data-method=\"PUT\"] .result.ok')").await;
    let (_, rules) = rig.app.get("/api/v1/automation-rules").await;
    assert_eq!(rules[0]["spec"]["conditions"].as_array().unwrap().len(), 2, "{rules}");
    let id = rules[0]["id"].as_str().unwrap().to_owned();

    // A customer asks for a refund in Italian: the rule acts, and its page says so.
    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_text("393471234567", "wamid.b1", "Giulia Rossi", "Vorrei il rimborso")).await;
    assert_eq!(status, 200);
    run_jobs(&rig).await;
    let conversation = rig.conversations().await[0].clone();
    assert_eq!(conversation["labels"], json!(["refund"]));
    assert_eq!(conversation["priority"], "urgent");
    c.goto(&rig.app.url(&format!("/rules/{id}"))).await.unwrap();
    browser.wait_for("the run", "document.querySelector('.rule-runs tbody tr')").await;
    let run = browser.js("return document.querySelector('.rule-runs tbody tr').innerText").await;
    assert!(run.as_str().unwrap().contains("done"), "{run}");
    browser.screenshot("rules-1-rule-en").await;
    c.goto(&rig.app.url("/rules")).await.unwrap();
    browser.wait_for("the list", "document.querySelector('.rule-table .rule-fired')").await;
    let fired = browser.js("return document.querySelector('.rule-table .rule-fired').innerText").await;
    assert!(fired.as_str().unwrap().starts_with('1'), "{fired}");
    browser.screenshot("rules-2-list-en").await;

    // Paused from its page: the next refund request is left alone.
    c.goto(&rig.app.url(&format!("/rules/{id}"))).await.unwrap();
    browser.wait_for("the form", "document.querySelector('form[data-method=\"PUT\"]')").await;
    browser
        .js(r#"const f = document.querySelector('form[data-method="PUT"]');
              f.elements.enabled.checked = false;
              f.querySelector('button[type=submit]').click();"#)
        .await;
    browser.wait_for("saved", "document.querySelector('form[data-method=\"PUT\"] .result.ok')").await;
    assert_eq!(rig.app.get(&format!("/api/v1/automation-rules/{id}")).await.1["enabled"], false);
    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_text("393479998877", "wamid.b2", "Marco Bianchi", "Rimborso per favore")).await;
    assert_eq!(status, 200);
    run_jobs(&rig).await;
    let (_, runs) = rig.app.get(&format!("/api/v1/automation-rules/{id}/runs")).await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "paused: {runs}");

    // In Italian.
    let (status, _) = rig.app.put("/api/v1/me/language", json!({ "language": "it" })).await;
    assert_eq!(status, 200);
    c.goto(&rig.app.url("/rules")).await.unwrap();
    browser.wait_for("the list in Italian", "document.querySelector('.rule-table')").await;
    let list = browser.js("return document.querySelector('main').innerText").await;
    let list = list.as_str().unwrap();
    assert!(list.contains("Regole") && list.contains("un cliente scrive") && list.contains("In pausa"), "{list}");
    browser.screenshot("rules-3-list-it").await;

    // Deleted from its page.
    c.goto(&rig.app.url(&format!("/rules/{id}"))).await.unwrap();
    browser.wait_for("the delete button", "document.querySelector('button.danger')").await;
    browser.js("window.confirm = () => true; document.querySelector('button.danger').click()").await;
    browser.wait_for("the list again", "location.pathname === '/rules'").await;
    assert_eq!(rig.app.get("/api/v1/automation-rules").await.1, json!([]));
}
