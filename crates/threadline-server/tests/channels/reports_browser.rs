//! A supervisor reads the report pages in real headless Chromium — the
//! overview with its numbers and daily chart, channels with their bars,
//! flow and hour-of-week heat map, teams, agents and bot — in English and
//! Italian, each chart with its table; an agent sees their own
//! conversations only. Screenshots of every dashboard in both languages.

use serde_json::json;

use crate::browser::Browser;
use crate::support::*;

const VIEWS: [&str; 7] = ["overview", "channels", "teams", "agents", "surveys", "bot", "journeys"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_reads_the_reports_and_an_agent_their_own() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let app = &rig.app;
    let (agent_id, _) = app.create_user("ana@acme.example", "Ana Agent", "agent").await;
    let (status, team) = app.post("/api/v1/teams", json!({ "name": "Billing" })).await;
    assert_eq!(status, 201, "{team}");
    let inbox = app.create_inbox("api", "Shop API").await;
    assert_eq!(app.post("/api/v1/surveys", json!({ "name": "CSAT", "spec": { "kind": "csat" } })).await.0, 201);
    // Three customers: two answered and resolved (one by Ana, for Billing), one waiting.
    for (n, who) in ["ada@example.com", "bo@example.com", "cy@example.com"].iter().enumerate() {
        let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": who }]), "Where is my order?").await;
        let conversation = outcome["conversation"]["id"].as_str().unwrap().to_owned();
        if n < 2 {
            let (status, _) = app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({ "text": "On its way." })).await;
            assert_eq!(status, 201);
            let changes = if n == 0 {
                json!({ "status": "resolved", "assignee_id": agent_id, "team_id": team["id"] })
            } else {
                json!({ "status": "resolved" })
            };
            assert_eq!(app.patch(&format!("/api/v1/conversations/{conversation}"), changes).await.0, 200);
            // Each asked in turn: Ada's survey first, Bo's the newest.
            threadline_server::jobs::run_due(&app.server().state, 100).await.unwrap();
        }
    }
    // Ada rates her case 5.
    app.inbound(&inbox, json!([{ "kind": "email", "value": "ada@example.com" }]), "5").await;
    threadline_server::metrics::refresh(&app.server().state).await.unwrap();
    // A journey one customer entered.
    let (_, source) = app.post("/api/v1/tracking/sources", json!({ "name": "Site", "kind": "server" })).await;
    let key = source["write_key"].as_str().unwrap().to_owned();
    let (_, journey) = app
        .post(
            "/api/v1/journeys",
            json!({ "name": "Checkout follow-up", "spec": { "trigger": { "type": "event", "name": "Checkout Started" },
                "goal": { "event": { "name": "Order Completed" }, "within_days": 3 },
                "steps": [ { "id": "wait-1h", "type": "wait", "seconds": 3600 } ] } }),
        )
        .await;
    let id = journey["id"].as_str().unwrap();
    assert_eq!(app.post(&format!("/api/v1/journeys/{id}/status"), json!({ "status": "live" })).await.0, 200);
    let event = json!({ "userId": "u-ada", "event": "Checkout Started" });
    let response = rig.http.post(app.url("/v1/track")).basic_auth(&key, Some("")).json(&event).send().await.unwrap();
    assert_eq!(response.status(), 200);
    threadline_server::jobs::run_due(&app.server().state, 100).await.unwrap();

    let browser = Browser::launch().await;
    let c = &browser.client;
    browser.sign_in(&app.url(""), "admin@acme.example", "correct horse battery").await;
    c.goto(&app.url("/reports")).await.unwrap();
    browser.wait_for("the overview", "document.querySelector('.kpis')").await;
    let first = browser.js("return document.querySelector('.kpi strong').innerText").await;
    assert_eq!(first, "3", "three conversations in the last 30 days");
    let resolved = browser
        .js("return [...document.querySelectorAll('.kpi')].find(k => k.innerText.startsWith('Resolved')).querySelector('strong').innerText")
        .await;
    assert_eq!(resolved, "2");
    // The daily chart: a column per day with its tooltip, and the same numbers as a table.
    let columns = browser.js("return document.querySelectorAll('svg.series rect.col').length").await;
    assert_eq!(columns, 30);
    let tip = browser.js("return [...document.querySelectorAll('svg.series rect.col title')].map(t => t.textContent).pop()").await;
    assert!(tip.as_str().unwrap().contains("3 created"), "{tip}");
    let today = browser
        .js("return [...[...document.querySelectorAll('details table tbody tr')].pop().cells].map(c => c.textContent).join(',')")
        .await;
    assert!(today.as_str().unwrap().ends_with(",3,2"), "{today}");
    assert!(browser.js("return document.querySelector('.backlog-counts').innerText").await.as_str().unwrap().contains("Open: 1"));
    // The CSV behind the numbers downloads with the session.
    let csv = browser.js("return fetch(document.querySelector('.kpis .downloads a').href).then(r => r.text())").await;
    assert!(csv.as_str().unwrap().starts_with("metric,current,previous\r\nconversations,3,0"), "{csv}");

    for (lang, language) in [("en", None), ("it", Some("it"))] {
        if let Some(language) = language {
            assert_eq!(app.put("/api/v1/me/language", json!({ "language": language })).await.0, 200);
        }
        for (i, view) in VIEWS.iter().enumerate() {
            c.goto(&app.url(&format!("/reports?view={view}"))).await.unwrap();
            browser.wait_for("the report", "document.querySelector('.tabs a[aria-current=page]')").await;
            browser.screenshot(&format!("reports-{}-{view}-{lang}", i + 1)).await;
        }
    }
    // Channels (still in Italian): bars, flow and a week of hours, each with its table.
    c.goto(&app.url("/reports?view=channels")).await.unwrap();
    browser.wait_for("the channels", "document.querySelector('svg.heat-map')").await;
    assert_eq!(browser.js("return document.querySelector('h1').innerText").await, "Report");
    assert_eq!(browser.js("return document.querySelectorAll('svg.heat-map rect.heat').length").await, 168);
    assert_eq!(browser.js("return document.querySelectorAll('table.hours tbody tr').length").await, 7);
    let bar = browser.js("return document.querySelector('svg.bars rect title').textContent").await;
    assert_eq!(bar, "api: 3 conversazioni");
    assert_eq!(browser.js("return document.querySelectorAll('svg.flow path.link').length").await, 1);
    // What it cost: no prices yet, said so; every message counts (three questions, two answers, two surveys, one score).
    let costs = browser.js("return document.querySelector('section.costs').innerText").await;
    assert!(costs.as_str().unwrap().contains("Nessun prezzo unitario"), "{costs}");
    assert_eq!(browser.js("return document.querySelector('.cost-table tbody td:nth-child(2)').innerText").await, "8");
    c.goto(&app.url("/reports?view=agents")).await.unwrap();
    browser.wait_for("the workload", "document.querySelector('.workload-table')").await;
    let admin = browser.js("return [...document.querySelectorAll('.workload-table tbody tr')].map(r => r.cells[0].innerText + ':' + r.cells[1].innerText).join(' ')").await;
    assert_eq!(admin, "Admin:2", "the two answers");
    c.goto(&app.url("/reports?view=surveys")).await.unwrap();
    browser.wait_for("the surveys", "document.querySelector('table.answers')").await;
    assert_eq!(browser.js("return document.querySelector('.kpi strong').innerText").await, "100,0 %");
    let rows = browser
        .js("return [...document.querySelectorAll('table.answers tbody tr')].map(r => [...r.cells].map(c => c.textContent).slice(1, 4).join(','))")
        .await;
    assert_eq!(rows, json!(["CSAT,nessuna risposta,api", "CSAT,5,api"]), "Bo's survey (newest) is not answered yet");
    c.goto(&app.url("/reports?view=journeys")).await.unwrap();
    browser.wait_for("the journeys", "document.querySelector('.journey-report')").await;
    let kpis = browser.js("return document.querySelector('.journey-kpis').innerText").await;
    assert!(kpis.as_str().unwrap().contains("Entrati\n1"), "{kpis}");
    c.goto(&app.url("/reports?view=teams")).await.unwrap();
    browser.wait_for("the teams", "document.querySelector('svg.bars')").await;
    let teams = browser.js("return document.querySelector('details table tbody').innerText").await;
    assert!(teams.as_str().unwrap().contains("Billing\t1"), "{teams}");
    browser.close().await;

    // Ana signs in and sees her own conversation only.
    let browser = Browser::launch().await;
    let c = &browser.client;
    browser.sign_in(&app.url(""), "ana@acme.example", "a long enough password").await;
    c.goto(&app.url("/reports")).await.unwrap();
    browser.wait_for("her report", "document.querySelector('.kpis')").await;
    assert_eq!(browser.js("return document.querySelector('h1').innerText").await, "Reports · Your conversations");
    assert_eq!(browser.js("return document.querySelector('.kpi strong').innerText").await, "1");
    assert_eq!(browser.js("return document.querySelectorAll('select[name=team_id]').length").await, 0);
    assert_eq!(browser.js("return document.querySelectorAll('.tabs a[href*=journeys]').length").await, 0, "journeys are the account's");
    c.goto(&app.url("/reports?view=channels")).await.unwrap();
    browser.wait_for("her channels", "document.querySelector('.tabs a[aria-current=page]')").await;
    assert_eq!(browser.js("return document.querySelectorAll('section.costs').length").await, 0, "costs are the account's");
    browser.screenshot("reports-7-agent-own-en").await;
    browser.close().await;
}

/// The wallboard shows a team's queue growing as a conversation joins it,
/// without reloading the page (the live socket), in English and Italian.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallboard_follows_the_queues_live() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let app = &rig.app;
    let (status, team) = app.post("/api/v1/teams", json!({ "name": "Billing" })).await;
    assert_eq!(status, 201, "{team}");
    let browser = Browser::launch().await;
    let c = &browser.client;
    browser.sign_in(&app.url(""), "admin@acme.example", "correct horse battery").await;
    c.goto(&app.url("/wallboard")).await.unwrap();
    browser.wait_for("the wallboard", "document.querySelector('table.queues')").await;
    let row = "return [...document.querySelector('table.queues tbody tr').cells].map(c => c.textContent).join(',')";
    assert_eq!(browser.js(row).await, "Billing,0,—");
    assert_eq!(browser.js("return document.querySelector('[data-tile=online]').textContent").await, "1", "this supervisor, online");

    // A customer writes; the conversation goes to Billing's queue.
    let inbox = app.create_inbox("api", "Shop API").await;
    let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": "ada@example.com" }]), "I was charged twice").await;
    let id = outcome["conversation"]["id"].as_str().unwrap();
    assert_eq!(app.patch(&format!("/api/v1/conversations/{id}"), json!({ "team_id": team["id"] })).await.0, 200);
    browser.wait_for("the queue to grow", "document.querySelector('table.queues tbody tr').cells[1].textContent === '1'").await;
    assert_eq!(browser.js("return document.querySelector('[data-tile=open]').textContent").await, "1");
    browser.screenshot("wallboard-1-en").await;

    assert_eq!(app.put("/api/v1/me/language", json!({ "language": "it" })).await.0, 200);
    c.refresh().await.unwrap();
    browser.wait_for("the wallboard in Italian", "document.querySelector('h1').textContent === 'Situazione in tempo reale'").await;
    browser.screenshot("wallboard-2-it").await;
    browser.close().await;

    // Agents do not get it.
    app.create_user("ana@acme.example", "Ana", "agent").await;
    let browser = Browser::launch().await;
    browser.sign_in(&app.url(""), "ana@acme.example", "a long enough password").await;
    assert_eq!(browser.js("return !!document.querySelector('a[href=\"/wallboard\"]')").await, false, "not in her menu");
    browser.client.goto(&app.url("/wallboard")).await.unwrap();
    let body = browser.js("return document.body.textContent").await;
    assert!(body.as_str().unwrap().contains("\"code\":\"forbidden\""), "{body}");
    browser.close().await;
}
