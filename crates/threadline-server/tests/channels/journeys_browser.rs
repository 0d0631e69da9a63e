//! A supervisor builds a journey in real headless Chromium — from the
//! seeds' pricing-page starter, editing a step and adding one — puts it
//! live, sees customers go through it in its funnel, and an agent finds
//! the task it made at the top of the inbox. In English and Italian. And
//! a segment defined from a starter, its members seen, its definition
//! edited and the segment deleted.

use serde_json::json;

use crate::browser::Browser;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_builds_a_journey_and_sees_its_funnel() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let (status, source) = rig.app.post("/api/v1/tracking/sources", json!({ "name": "Site", "kind": "server" })).await;
    assert_eq!(status, 201);
    let key = source["write_key"].as_str().unwrap().to_owned();

    let browser = Browser::launch().await;
    let c = &browser.client;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;
    browser.js("window.confirm = () => true").await;

    // New, from the pricing-page starter.
    c.goto(&rig.app.url("/journeys")).await.unwrap();
    browser.wait_for("the journeys page", "document.querySelector('form[data-api=\"/journeys\"]')").await;
    browser
        .js(r#"const f = document.querySelector('form[data-api="/journeys"]');
              f.elements.name.value = 'Pricing page → call';
              f.elements.spec.selectedIndex = 1;
              f.querySelector('button[type=submit]').click();"#)
        .await;
    browser.wait_for("the builder", "document.querySelector('[data-journey-builder]')").await;
    assert!(browser.js("return document.querySelector('h1').innerText").await.as_str().unwrap().contains("Pricing page"));

    // Edit the task's title, and add a label step after it.
    browser
        .js(r#"const t = document.querySelector('[data-step="call"] [data-field="title"]');
              t.value = 'Call {{name}} today: pricing 3× this week';
              const s = document.querySelector('select[data-add-step="top"]');
              s.value = 'add_label';
              s.dispatchEvent(new Event('change', { bubbles: true }));"#)
        .await;
    browser.wait_for("the added step", "document.querySelector('[data-step=\"add-label-1\"]')").await;
    let journeys = rig.app.get("/api/v1/journeys").await.1;
    let id = journeys[0]["id"].as_str().unwrap().to_owned();
    let (_, detail) = rig.app.get(&format!("/api/v1/journeys/{id}")).await;
    assert_eq!(detail["version"], 2, "saving made a new version: {detail}");
    assert_eq!(detail["spec"]["steps"][0]["title"], "Call {{name}} today: pricing 3× this week");
    assert_eq!(detail["spec"]["steps"][1]["type"], "add_label");

    // Live.
    browser.js("document.querySelector('button[data-body*=live]').click()").await;
    browser.wait_for("live", "document.querySelector('#journey-head button[data-body*=paused]')").await;
    assert_eq!(rig.app.get(&format!("/api/v1/journeys/{id}")).await.1["status"], "live");

    // A customer visits pricing three times: the journey runs.
    for (i, path) in ["/pricing", "/pricing/teams", "/pricing"].iter().enumerate() {
        let body = json!({ "userId": "u-ada", "properties": { "path": path }, "messageId": format!("v{i}") });
        let response = rig.http.post(rig.app.url("/v1/page")).basic_auth(&key, Some("")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    rig.http
        .post(rig.app.url("/v1/identify"))
        .basic_auth(&key, Some(""))
        .json(&json!({ "userId": "u-ada", "traits": { "name": "Ada Lovelace", "phone": "+393331234567" } }))
        .send()
        .await
        .unwrap();
    threadline_server::jobs::run_due(&rig.app.server().state, 100).await.unwrap();
    c.goto(&rig.app.url(&format!("/journeys/{id}"))).await.unwrap();
    browser.wait_for("the funnel", "document.querySelector('#journey-funnel dd')").await;
    let entered = browser.js("return document.querySelector('#journey-funnel dd').innerText").await;
    assert_eq!(entered, "1");
    let reached = browser.js("return document.querySelector('[data-step=\"call\"] .counts strong').innerText").await;
    assert_eq!(reached, "1", "the call step shows who reached it");
    browser.screenshot("journeys-1-builder-en").await;

    c.goto(&rig.app.url("/journeys")).await.unwrap();
    browser.wait_for("the list", "document.querySelector('.journey-table')").await;
    assert!(browser.js("return document.querySelector('.journey-table').innerText").await.as_str().unwrap().contains("Pricing page"));
    browser.screenshot("journeys-2-list-en").await;

    // The task is at the top of the inbox, with a call link; done, it goes.
    c.goto(&rig.app.url("/inbox")).await.unwrap();
    browser.wait_for("the tasks", "document.querySelector('.tasks')").await;
    let task = browser.js("return document.querySelector('.tasks li').innerText").await;
    assert!(task.as_str().unwrap().contains("Call Ada Lovelace today"), "{task}");
    assert_eq!(browser.js("return document.querySelector('.tasks a[href^=\"tel:\"]').getAttribute('href')").await, "tel:+393331234567");
    browser.screenshot("journeys-3-inbox-task").await;
    browser.js("document.querySelector('[data-task-done]').click()").await;
    browser.wait_for("the task done", "!document.querySelector('.tasks')").await;
    assert!(rig.app.get("/api/v1/tasks").await.1.as_array().unwrap().is_empty());

    // In Italian.
    let (status, _) = rig.app.put("/api/v1/me/language", json!({ "language": "it" })).await;
    assert_eq!(status, 200);
    c.goto(&rig.app.url(&format!("/journeys/{id}"))).await.unwrap();
    browser.wait_for("the builder in Italian", "document.querySelector('[data-save-journey]')").await;
    let save = browser.js("return document.querySelector('[data-save-journey]').innerText").await;
    assert_eq!(save, "Salva come nuova versione");
    browser.screenshot("journeys-4-builder-it").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_defines_a_segment_and_sees_who_is_in_it() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let (status, source) = rig.app.post("/api/v1/tracking/sources", json!({ "name": "Site", "kind": "server" })).await;
    assert_eq!(status, 201);
    let key = source["write_key"].as_str().unwrap().to_owned();
    // Ada wrote to the shop too: her conversation's panel will show her segments.
    let inbox = rig.app.create_inbox("api", "Shop API").await;
    let outcome = rig.app.inbound(&inbox, json!([{ "kind": "email", "value": "ada@example.com" }]), "Is the annual plan cheaper?").await;
    let conversation = outcome["conversation"]["id"].as_str().unwrap().to_owned();
    for (user, name, visits) in [("u-ada", "Ada Lovelace", 2), ("u-alan", "Alan Turing", 1)] {
        let email = if user == "u-ada" { "ada@example.com" } else { "alan@example.com" };
        let body = json!({ "userId": user, "traits": { "name": name, "email": email } });
        rig.http.post(rig.app.url("/v1/identify")).basic_auth(&key, Some("")).json(&body).send().await.unwrap();
        for i in 0..visits {
            let body = json!({ "userId": user, "properties": { "path": "/pricing" }, "messageId": format!("{user}-{i}") });
            let response = rig.http.post(rig.app.url("/v1/page")).basic_auth(&key, Some("")).json(&body).send().await.unwrap();
            assert_eq!(response.status(), 200);
        }
    }

    let browser = Browser::launch().await;
    let c = &browser.client;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;
    browser.js("window.confirm = () => true").await;

    // From the "pricing twice in 7 days" starter.
    c.goto(&rig.app.url("/segments")).await.unwrap();
    browser.wait_for("the segments page", "document.querySelector('form[data-api=\"/segments\"]')").await;
    browser
        .js(r#"const f = document.querySelector('form[data-api="/segments"]');
              f.elements.name.value = 'Keen on pricing';
              f.elements.spec.selectedIndex = 0;
              f.querySelector('button[type=submit]').click();"#)
        .await;
    browser.wait_for("the segment's page", "document.querySelector('#segment-view')").await;
    threadline_server::jobs::run_due(&rig.app.server().state, 100).await.unwrap();
    c.refresh().await.unwrap();
    browser.wait_for("its members", "document.querySelector('.segment-members')").await;
    let members = browser.js("return document.querySelector('.segment-members tbody').innerText").await;
    assert!(members.as_str().unwrap().contains("Ada Lovelace") && !members.as_str().unwrap().contains("Alan"), "{members}");
    assert!(browser.js("return document.querySelector('.conditions').innerText").await.as_str().unwrap().contains("2"));
    browser.screenshot("segments-1-detail-en").await;

    // Once is enough now: Alan joins.
    browser
        .js(r#"const t = document.querySelector('textarea[name=spec]');
              const spec = JSON.parse(t.value); spec.conditions[0].times = 1; t.value = JSON.stringify(spec);
              t.form.querySelector('button[type=submit]').click();"#)
        .await;
    browser.wait_for("saved", "document.querySelector('output.result.ok')").await;
    threadline_server::jobs::run_due(&rig.app.server().state, 100).await.unwrap();
    c.goto(&rig.app.url("/segments")).await.unwrap();
    browser.wait_for("the list", "document.querySelector('.segment-table')").await;
    assert_eq!(browser.js("return document.querySelector('.segment-count').innerText").await, "2");
    browser.screenshot("segments-2-list-en").await;
    c.goto(&rig.app.url(&format!("/conversations/{conversation}"))).await.unwrap();
    browser.wait_for("her segments in the panel", "document.querySelector('ul.segments')").await;
    assert_eq!(browser.js("return document.querySelector('ul.segments').innerText").await, "Keen on pricing");

    // In Italian; then deleted.
    let (status, _) = rig.app.put("/api/v1/me/language", json!({ "language": "it" })).await;
    assert_eq!(status, 200);
    let id = rig.app.get("/api/v1/segments").await.1[0]["id"].as_str().unwrap().to_owned();
    c.goto(&rig.app.url(&format!("/segments/{id}"))).await.unwrap();
    browser.wait_for("the page in Italian", "document.querySelector('button.danger')").await;
    assert_eq!(browser.js("return document.querySelector('button.danger').innerText").await, "Elimina");
    browser.screenshot("segments-3-detail-it").await;
    browser.js("window.confirm = () => true; document.querySelector('button.danger').click()").await;
    browser.wait_for("back on the list", "location.pathname === '/segments' && document.querySelector('.hint')").await;
    assert!(rig.app.get("/api/v1/segments").await.1.as_array().unwrap().is_empty());
    browser.close().await;
}
