//! Routing, the knowledge base and the bot in real headless Chromium: a
//! supervisor writes an article and sets up the bot and routing from the
//! pages; a customer writes on WhatsApp, the bot answers there from the
//! article, then hands over when asked for a person; the agent it is
//! routed to sees why, the summary and a suggestion to use; the customer's
//! help page finds the article.

use serde_json::json;

use crate::browser::Browser;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_answers_hands_over_and_the_agent_sees_why() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let whatsapp = rig.whatsapp_inbox().await;
    let (_, team) = rig.app.post("/api/v1/teams", json!({ "name": "Logistica" })).await;
    let team_id = team["id"].as_str().unwrap().to_owned();
    let (paolo, paolo_token) = rig.app.create_user("paolo@acme.example", "Paolo Neri", "agent").await;
    rig.app.call(reqwest::Method::PUT, &format!("/api/v1/teams/{team_id}/members/{paolo}"), None).await;
    rig.app.call_as(&paolo_token, reqwest::Method::PUT, "/api/v1/me/presence", Some(json!({ "status": "online" }))).await;

    let browser = Browser::launch().await;
    let c = &browser.client;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;
    browser.js("window.confirm = () => true").await;

    // The knowledge base: an article, and the bot on the WhatsApp inbox.
    c.goto(&rig.app.url("/admin/knowledge")).await.unwrap();
    browser.wait_for("the knowledge page", "document.querySelector('form[data-api=\"/articles\"]')").await;
    browser
        .js(r#"const f = document.querySelector('form[data-api="/articles"]');
              f.elements.language.value = 'it';
              f.elements.title.value = 'Dov\'è il mio pacco?';
              f.elements.body.value = 'Il numero di tracciamento è nell\'email di spedizione. Se il pacco non è arrivato dopo 5 giorni lavorativi scrivici il numero d\'ordine.';
              f.elements.keywords.value = 'spedizione, consegna';
              f.querySelector('button[type=submit]').click();"#)
        .await;
    browser.wait_for("the new article", "document.querySelector('#kb-articles').innerText.includes('il mio pacco')").await;
    browser
        .js(&format!(
            "const s = document.querySelector('select[data-inbox-bot=\"/inboxes/{}/bot\"]'); s.value = 'builtin'; s.dispatchEvent(new Event('change', {{ bubbles: true }}));",
            whatsapp.id
        ))
        .await;
    let inbox = rig.app.wait_for(&format!("/api/v1/inboxes/{}", whatsapp.id), 10, |i| i["bot"]["mode"] == "builtin").await;
    assert_eq!(inbox["bot"]["mode"], "builtin", "{inbox}");
    browser.screenshot("automation-1-knowledge").await;

    // Routing: shipping goes to Logistica, whose queue is assigned automatically.
    c.goto(&rig.app.url("/admin/routing")).await.unwrap();
    browser.wait_for("the routing page", "document.querySelector('form[data-api=\"/routing/rules\"]')").await;
    browser
        .js(r#"const f = document.querySelector('form[data-api="/routing/rules"]');
              f.elements.name.value = 'Spedizioni';
              f.elements['conditions.category'].value = 'shipping';
              f.querySelector('button[type=submit]').click();"#)
        .await;
    browser.wait_for("the rule", "document.querySelector('#routing-rules').innerText.includes('Spedizioni')").await;
    browser
        .js(&format!(
            "const f = document.querySelector('form[data-api=\"/teams/{team_id}/routing\"]'); f.elements.auto_assign.checked = true; f.querySelector('button[type=submit]').click();"
        ))
        .await;
    let teams = rig.app.wait_for("/api/v1/teams", 10, |t| t[0]["routing"]["auto_assign"] == true).await;
    assert_eq!(teams[0]["routing"]["auto_assign"], true, "{teams}");
    // Agents' skills, typed as name:level.
    browser
        .js(&format!(
            "const f = document.querySelector('form[data-api=\"/users/{paolo}/routing\"]'); f.elements.skills.value = 'language:it:4, category:shipping:3'; f.elements.capacity.value = 'whatsapp:2'; f.querySelector('button[type=submit]').click();"
        ))
        .await;
    let user = rig.app.wait_for(&format!("/api/v1/users/{paolo}"), 10, |u| u["routing"]["skills"]["language:it"] == 4).await;
    assert_eq!(user["routing"]["capacity"], json!({ "whatsapp": 2 }), "{user}");
    // How a message would be read, with the reasons.
    browser
        .js(r#"const f = document.querySelector('form[data-api="/triage/classify"]');
              f.elements.text.value = 'Sono furioso, il pacco non è mai arrivato!';
              f.querySelector('button[type=submit]').click();"#)
        .await;
    browser.wait_for("the reasons", "document.querySelectorAll('ul.shown li').length >= 3").await;
    let shown = browser.js("return document.querySelector('ul.shown').innerText").await;
    assert!(shown.as_str().unwrap().contains("shipping"), "{shown}");
    browser.screenshot("automation-2-routing").await;

    // The customer writes on WhatsApp: the bot answers there, from the article.
    let (status, _) = rig
        .meta_post(&whatsapp, &whatsapp_text("393471112233", "wamid.bot1", "Giulia Rossi", "Buongiorno, il mio pacco non è arrivato"))
        .await;
    assert_eq!(status, 200);
    let sends = rig.provider.wait_for_sends(1, 15).await;
    let answer = sends[0].json();
    let text = answer["text"]["body"].as_str().unwrap_or_default().to_owned();
    assert!(text.contains("tracciamento"), "the bot's answer went out on WhatsApp: {answer}");
    let (status, _) =
        rig.meta_post(&whatsapp, &whatsapp_text("393471112233", "wamid.bot2", "Giulia Rossi", "Voglio parlare con un operatore")).await;
    assert_eq!(status, 200);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    let routed = rig.app.wait_for(&format!("/api/v1/conversations/{conversation}"), 15, |c| c["assignee_id"] == paolo.as_str()).await;
    assert_eq!(routed["assignee_id"], paolo.as_str(), "handed over, then routed to Paolo: {routed}");

    // The agent reads why, the summary, and a suggestion to use.
    c.goto(&rig.app.url(&format!("/conversations/{conversation}"))).await.unwrap();
    browser.wait_for("the handoff note", "document.querySelector('.handoff')").await;
    let note = browser.js("return document.querySelector('.handoff').innerText").await;
    let note = note.as_str().unwrap();
    assert!(note.contains("asked for a person") && note.contains("il mio pacco non è arrivato"), "{note}");
    assert!(browser.js("return document.querySelectorAll('details.why').length").await.as_u64().unwrap() >= 2);
    let why = browser.js("const d = document.querySelector('details.why'); d.open = true; return d.innerText").await;
    assert!(why.as_str().unwrap().contains("shipping"), "{why}");
    browser.wait_for("the suggestions", "document.querySelector('#assist button[data-insert]')").await;
    browser.js("document.querySelector('#assist button[data-insert]').click()").await;
    let reply = browser.js("return document.querySelector('#reply textarea[name=text]').value").await;
    assert!(reply.as_str().unwrap().contains("tracciamento"), "{reply}");
    let routing = browser.js("return document.querySelector('.routing').innerText").await;
    assert!(routing.as_str().unwrap().contains("Paolo Neri"), "{routing}");
    browser.screenshot("automation-3-handoff").await;
    c.goto(&rig.app.url("/inbox")).await.unwrap();
    browser.wait_for("the inbox", "document.querySelector('.conversations')").await;
    browser.screenshot("automation-4-inbox").await;

    // The customer's help page finds the article.
    c.goto(&rig.app.url(&format!("/help/{}?q=pacco%20arrivato", whatsapp.id))).await.unwrap();
    browser.wait_for("the help page", "document.querySelector('.help-articles')").await;
    assert!(browser.js("return document.querySelector('.help-articles').innerText").await.as_str().unwrap().contains("il mio pacco"));
    browser.js("document.querySelector('.help-articles a').click()").await;
    browser.wait_for("the article", "document.querySelector('article')").await;
    assert!(browser.js("return document.querySelector('article').innerText").await.as_str().unwrap().contains("5 giorni lavorativi"));
    browser.screenshot("automation-5-help").await;
    browser.close().await;
}
