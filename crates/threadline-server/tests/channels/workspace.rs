//! The agent workspace in real headless Chromium: sign in, see a message
//! that arrived through a channel webhook, open the conversation with its
//! cross-channel history, answer on a different channel, resolve — with a
//! hostile sender name and message rendered as text, never run.

use serde_json::json;

use crate::browser::Browser;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_answers_across_channels_in_the_browser() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let sms = rig.sms_inbox().await;
    let whatsapp = rig.whatsapp_inbox().await;

    // The customer writes by SMS, then on WhatsApp, with a hostile name and text.
    let (status, _) = rig
        .twilio_post(
            &sms,
            &[
                ("MessageSid", "SM00000000000000000000000000000b01"),
                ("From", "+393471112233"),
                ("To", SMS_NUMBER),
                ("Body", "Il pacco A-1042 non è arrivato <img src=x onerror=\"window.__xss=1\">"),
                ("NumMedia", "0"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let body = whatsapp_text(
        "393471112233",
        "wamid.HBgLMzkzNDcxMTEyMjMzFQIAEhgUM0VCMEI1",
        "<script>window.__xss=2</script>Giulia",
        "Vi scrivo anche qui",
    );
    let (status, _) = rig.meta_post(&whatsapp, &body).await;
    assert_eq!(status, 200);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();

    let browser = Browser::launch().await;
    let c = &browser.client;
    // Italian is the browser's language here? The page follows Accept-Language;
    // ChromeDriver's default is English.
    c.goto(&rig.app.url("/inbox")).await.unwrap();
    browser.wait_for("the sign-in page", "document.querySelector('input[name=email]')").await;
    browser.screenshot("workspace-1-sign-in").await;
    browser
        .js(r#"document.querySelector('input[name=email]').value = 'admin@acme.example';
              document.querySelector('input[name=password]').value = 'wrong';
              document.querySelector('form').submit();"#)
        .await;
    browser.wait_for("the refusal", "document.querySelector('.error')").await;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;
    browser.wait_for("the inbox", "document.querySelector('.conversations')").await;
    browser.screenshot("workspace-2-inbox").await;
    let row = browser.js("return document.querySelector('.conversation').innerText").await;
    let row = row.as_str().unwrap();
    assert!(row.contains("WhatsApp") && row.contains("Vi scrivo anche qui"), "{row}");
    assert!(row.contains("<script>window.__xss=2</script>Giulia"), "the name is shown as text: {row}");

    // A new customer writes while the inbox is open: it appears without a reload.
    browser.wait_for("the live socket", "document.documentElement.getAttribute('data-live') == 'on'").await;
    browser.js("window.__same_page = true").await;
    let (status, _) = rig
        .twilio_post(
            &sms,
            &[
                ("MessageSid", "SM00000000000000000000000000000b02"),
                ("From", "+393479998877"),
                ("To", SMS_NUMBER),
                ("Body", "Avete il 42?"),
                ("NumMedia", "0"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    browser.wait_for("the new conversation, live", "document.querySelectorAll('.conversation').length == 2").await;
    assert_eq!(browser.js("return window.__same_page === true").await, json!(true), "the page was not reloaded");
    assert!(browser.js("return document.querySelector('.conversations').innerText").await.as_str().unwrap().contains("Avete il 42?"));
    // Filters: by inbox (only Giulia wrote on WhatsApp), by priority (nothing urgent).
    browser.client.goto(&rig.app.url(&format!("/inbox?inbox={}", whatsapp.id))).await.unwrap();
    browser.wait_for("the filtered inbox", "document.querySelectorAll('.conversation').length == 1").await;
    assert!(browser.js("return document.querySelector('.conversation').innerText").await.as_str().unwrap().contains("Vi scrivo"));
    browser.client.goto(&rig.app.url("/inbox?channel=whatsapp")).await.unwrap();
    browser.wait_for("the inbox filtered by channel", "document.querySelectorAll('.conversation').length == 1").await;
    browser.client.goto(&rig.app.url("/inbox?priority=urgent")).await.unwrap();
    browser.wait_for("the empty inbox", "document.querySelector('.empty')").await;
    // Search, as an agent types it into the box.
    browser.client.goto(&rig.app.url("/inbox")).await.unwrap();
    browser.wait_for("the search box", "document.querySelector('input[name=q]')").await;
    browser.js("const q = document.querySelector('input[name=q]'); q.value = 'pacco A-1042'; q.form.submit();").await;
    browser
        .wait_for("the search results", "location.search.includes('q=') && document.querySelectorAll('.conversation').length == 1")
        .await;
    assert!(browser.js("return document.querySelector('.conversation').innerText").await.as_str().unwrap().contains("Giulia"));
    // j moves to a conversation, Enter opens it.
    browser.client.goto(&rig.app.url("/inbox")).await.unwrap();
    browser.wait_for("the inbox", "document.querySelectorAll('.conversation').length == 2").await;
    browser.js("document.dispatchEvent(new KeyboardEvent('keydown', { key: 'j' }))").await;
    assert_eq!(browser.js("return document.querySelectorAll('.conversation.current').length").await, json!(1));
    // Back to the first customer.
    browser.js("[...document.querySelectorAll('.conversation a')].find(a => a.innerText.includes('Vi scrivo')).click()").await;

    // The conversation: both channels' messages, each with its badge.
    browser.wait_for("the conversation", "document.querySelectorAll('.timeline .message').length == 2").await;
    browser.screenshot("workspace-3-conversation").await;
    let badges = browser.js("return [...document.querySelectorAll('.timeline .message .channel')].map(e => e.innerText)").await;
    assert_eq!(badges, json!(["SMS", "WhatsApp"]));
    assert_eq!(browser.js("return window.__xss === undefined").await, json!(true), "no injected script ran");
    let first = browser.js("return document.querySelector('.timeline .message .body').innerText").await;
    assert!(first.as_str().unwrap().contains("<img src=x onerror="), "the hostile text is shown as text: {first}");
    assert_eq!(browser.js("return window.__xss === undefined").await, json!(true), "no injected script ran");

    // The customer writes again while the agent reads: it appears in place.
    browser.js("window.__same_page = true").await;
    let more = whatsapp_text("393471112233", "wamid.HBgLMzkzNDcxMTEyMjMzFQIAEhgUM0VCMEI2", "Giulia", "È urgente, grazie");
    assert_eq!(rig.meta_post(&whatsapp, &more).await.0, 200);
    browser.wait_for("the new message, live", "document.querySelectorAll('.timeline .message').length == 3").await;
    assert_eq!(browser.js("return window.__same_page === true").await, json!(true), "the page was not reloaded");

    // The shop records an order: it takes its place in the timeline and the
    // customer panel, live.
    let contact =
        rig.conversations().await.iter().find(|c| c["id"] == conversation.as_str()).unwrap()["contact_id"].as_str().unwrap().to_owned();
    let (status, _) = rig
        .app
        .post(
            &format!("/api/v1/contacts/{contact}/interactions"),
            json!({ "kind": "order", "summary": "Ordine A-1042, €89,90", "conversation_id": conversation }),
        )
        .await;
    assert_eq!(status, 201);
    browser.js("location.reload()").await;
    browser.wait_for("the order in the timeline", "document.querySelector('.timeline .interaction')").await;
    let order = browser.js("return document.querySelector('.timeline .interaction').innerText").await;
    assert!(order.as_str().unwrap().contains("Ordine A-1042"), "{order}");
    assert!(browser.js("return document.querySelector('.customer').innerText").await.as_str().unwrap().contains("Ordine A-1042"));

    // Assign to the agent (shown with their availability: this page keeps
    // them online), raise the priority, label it: saved at once.
    browser
        .wait_for(
            "the agent online",
            "[...document.querySelectorAll('select[data-field=assignee_id] option')].some(o => o.text === 'Admin · online')",
        )
        .await;
    browser
        .js(r#"const a = document.querySelector('select[data-field=assignee_id]');
              a.value = [...a.options].find(o => o.text.startsWith('Admin')).value; a.dispatchEvent(new Event('change', { bubbles: true }));"#)
        .await;
    rig.wait_conversation(&conversation, |c| c["assignee_id"].is_string()).await;
    browser
        .js(r#"const p = document.querySelector('select[data-field=priority]'); p.value = 'high'; p.dispatchEvent(new Event('change', { bubbles: true }));"#)
        .await;
    rig.wait_conversation(&conversation, |c| c["priority"] == "high").await;
    browser
        .js(r#"const l = document.querySelector('input[data-field=labels]'); l.value = 'spedizione, Urgente'; l.dispatchEvent(new Event('change', { bubbles: true }));"#)
        .await;
    let labelled = rig.wait_conversation(&conversation, |c| c["labels"].as_array().is_some_and(|l| !l.is_empty())).await;
    assert_eq!(labelled["labels"], json!(["spedizione", "urgente"]));
    browser.wait_for("the new priority shown", "document.querySelector('.thread-head .priority').innerText == 'High'").await;
    browser.screenshot("workspace-3b-assigned").await;

    // A canned response goes into the reply box filled in for this customer.
    let (status, _) = rig
        .app
        .post(
            "/api/v1/canned-responses",
            json!({ "shortcut": "spedizione", "title": "Spedizione", "body": "Ciao {{contact.first_name}}, il corriere passa domani. {{agent.name}}" }),
        )
        .await;
    assert_eq!(status, 201);
    browser.js("location.reload()").await;
    browser.wait_for("the canned responses", "document.querySelector('select[name=canned]')").await;
    browser
        .js(r#"const c = document.querySelector('select[name=canned]'); c.value = 'spedizione'; c.dispatchEvent(new Event('change'));"#)
        .await;
    let filled = browser.js("return document.querySelector('textarea[name=text]').value").await;
    assert_eq!(filled, json!("Ciao <script>window.__xss=2</script>Giulia, il corriere passa domani. Admin"), "filled in, as text");
    assert_eq!(browser.js("return window.__xss === undefined").await, json!(true));

    // Answer on SMS, although the customer last wrote on WhatsApp.
    assert_eq!(browser.js("return document.querySelector('select[name=channel]').value").await, json!("whatsapp"));
    browser
        .js(r#"document.querySelector('select[name=channel]').value = 'sms';
              document.querySelector('textarea[name=text]').value = 'Arriva domani tra le 9 e le 13.';
              document.querySelector('#reply button[type=submit]').click();"#)
        .await;
    browser.wait_for("the reply in the timeline", "document.querySelectorAll('.timeline .message:not(.interaction)').length == 4").await;
    let sent = rig.messages(&conversation).await;
    assert_eq!(sent.last().unwrap()["channel"], "sms");
    assert_eq!(sent.last().unwrap()["text"], "Arriva domani tra le 9 e le 13.");

    // Resolve.
    browser.js("document.querySelector('button[data-status=resolved]').click()").await;
    browser.wait_for("the reopen button", "document.querySelector('button[data-status=open]')").await;
    browser.screenshot("workspace-4-resolved").await;
    let (_, c) = rig.app.get(&format!("/api/v1/conversations/{conversation}")).await;
    assert_eq!(c["status"], "resolved");
    assert_eq!(browser.js("return window.__xss === undefined").await, json!(true));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_speak_italian_and_need_a_session() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let inbox = http.get(rig.app.url("/inbox")).send().await.unwrap();
    assert_eq!(inbox.status(), 303, "no session: to the sign-in page");
    assert_eq!(inbox.headers()["location"], "/login");
    let login = http.get(rig.app.url("/login")).header("accept-language", "it-IT,it;q=0.9,en;q=0.5").send().await.unwrap();
    let csp = login.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = login.text().await.unwrap();
    assert!(html.contains("lang=\"it\"") && html.contains("Accedi"), "{html}");
    // A sign-in without the form's token (a cross-site form) is refused.
    let forged = http
        .post(rig.app.url("/login"))
        .form(&[("email", "admin@acme.example"), ("password", "correct horse battery"), ("login_token", "made-up")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert!(forged.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().starts_with("threadline_session=")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_whatsapp_window_the_reply_box_offers_templates() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let whatsapp = rig.whatsapp_inbox().await;
    let body = whatsapp_text("393331112222", "wamid.HBgLMzkzMzMxMTEyMjIyFQIAEhgUM0VCMEI3", "Luca", "Avvisatemi quando torna la 42");
    assert_eq!(rig.meta_post(&whatsapp, &body).await.0, 200);
    rig.age_messages(25).await;
    let (status, _) = rig
        .app
        .post(
            "/api/v1/templates",
            json!({ "channel": "whatsapp", "name": "restock_notice", "language": "it", "body": "Ciao {{1}}, la taglia {{2}} è di nuovo disponibile." }),
        )
        .await;
    assert_eq!(status, 201);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();

    let browser = Browser::launch().await;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;
    browser.client.goto(&rig.app.url(&format!("/conversations/{conversation}"))).await.unwrap();
    browser.wait_for("the template picker", "!document.querySelector('.template-picker').hidden").await;
    let option = browser.js("return document.querySelector('select[name=channel]').selectedOptions[0].innerText").await;
    assert!(option.as_str().unwrap().contains("template only"), "{option}");
    assert_eq!(browser.js("return document.querySelectorAll('input[name=variable]').length").await, json!(2));
    browser
        .js(r#"const v = document.querySelectorAll('input[name=variable]'); v[0].value = 'Luca'; v[1].value = '42';
              document.querySelector('#reply button[type=submit]').click();"#)
        .await;
    browser.screenshot("workspace-5-template").await;
    let sends = rig.provider.wait_for_sends(1, 10).await;
    let sent = sends[0].json();
    assert_eq!(sent["type"], "template");
    assert_eq!(sent["template"]["name"], "restock_notice");
    browser.wait_for("the template message in the timeline", "document.querySelectorAll('.timeline .message').length == 2").await;
    let text = browser.js("return document.querySelectorAll('.timeline .message')[1].innerText").await;
    assert!(text.as_str().unwrap().contains("Ciao Luca, la taglia 42"), "{text}");
    browser.close().await;
}

/// Signs in through the HTML form as a browser would; returns the cookies to send.
async fn form_session(rig: &Rig, email: &str, password: &str) -> String {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(rig.app.url("/login")).send().await.unwrap();
    let login_cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let html = page.text().await.unwrap();
    let token = html.split("name=\"login_token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let signed = http
        .post(rig.app.url("/login"))
        .header("cookie", &login_cookie)
        .form(&[("email", email), ("password", password), ("login_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303, "signing in as {email}");
    signed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_see_how_the_account_is_set_up_and_agents_do_not() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let sms = rig.sms_inbox().await;
    let (status, _) = rig
        .app
        .post(
            "/api/v1/users",
            json!({ "email": "paolo@acme.example", "name": "Paolo Agente", "role": "agent", "password": "agent password 1" }),
        )
        .await;
    assert_eq!(status, 201);
    let http = reqwest::Client::new();
    let admin = form_session(&rig, "admin@acme.example", "correct horse battery").await;
    let page = http.get(rig.app.url("/admin")).header("cookie", &admin).header("accept-language", "it").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Amministrazione") && html.contains("Paolo Agente") && html.contains("agent"), "{html}");
    assert!(html.contains(&sms.webhook_url), "the SMS inbox's webhook URL is shown to configure at Twilio");

    // A chosen language wins over the browser's.
    let (status, me) = rig.app.call(reqwest::Method::PUT, "/api/v1/me/language", Some(json!({ "language": "it" }))).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["language"], "it");
    let inbox = http
        .get(rig.app.url("/inbox"))
        .header("cookie", &admin)
        .header("accept-language", "en-US")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(inbox.contains("Posta in arrivo") && inbox.contains("lang=\"it\""), "the user's choice, not the browser's");
    let (status, _) = rig.app.call(reqwest::Method::PUT, "/api/v1/me/language", Some(json!({ "language": "fr" }))).await;
    assert_eq!(status, 422);
    rig.app.call(reqwest::Method::PUT, "/api/v1/me/language", Some(json!({ "language": null }))).await;
    let inbox = http
        .get(rig.app.url("/inbox"))
        .header("cookie", &admin)
        .header("accept-language", "en-US")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(inbox.contains(">Inbox<"), "back to the browser's language");

    let agent = form_session(&rig, "paolo@acme.example", "agent password 1").await;
    let page = http.get(rig.app.url("/admin")).header("cookie", &agent).send().await.unwrap();
    assert_eq!(page.status(), 403);
    let inbox = http.get(rig.app.url("/inbox")).header("cookie", &agent).send().await.unwrap().text().await.unwrap();
    assert!(!inbox.contains("href=\"/admin\""), "agents are not offered the page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_sees_a_chat_visitor_typing() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let (status, inbox) =
        rig.app.post("/api/v1/inboxes", json!({ "channel": "web_chat", "name": "Sito", "settings": { "title": "Shop" } })).await;
    assert_eq!(status, 201, "{inbox}");
    let base = rig.app.url(&format!("/widget/{}", inbox["id"].as_str().unwrap()));
    let session: serde_json::Value = rig.http.post(format!("{base}/session")).json(&json!({})).send().await.unwrap().json().await.unwrap();
    let token = session["token"].as_str().unwrap().to_owned();
    let sent = rig
        .http
        .post(format!("{base}/messages"))
        .header("x-threadline-visitor", &token)
        .json(&json!({ "text": "C'è qualcuno?", "name": "Marta" }))
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success(), "{}", sent.text().await.unwrap());
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();

    let browser = Browser::launch().await;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;
    browser.client.goto(&rig.app.url(&format!("/conversations/{conversation}"))).await.unwrap();
    browser.wait_for("the live socket", "document.documentElement.getAttribute('data-live') == 'on'").await;
    assert_eq!(browser.js("return document.querySelector('.typing').hidden").await, json!(true));
    // The visitor starts typing in the chat (its own socket, as the widget opens it).
    let live = format!("{}/live?token={token}", base.replacen("http://", "ws://", 1));
    browser.js(&format!("const s = new WebSocket({live:?}); s.onopen = () => s.send(JSON.stringify({{ type: 'typing' }}));")).await;
    browser.wait_for("the typing indicator", "!document.querySelector('.typing').hidden").await;
    browser.screenshot("workspace-6-typing").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_edits_the_customer_and_merges_a_duplicate() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let whatsapp = rig.whatsapp_inbox().await;
    let body = whatsapp_text("393471112233", "wamid.HBgLMzkzNDcxMTEyMjMzFQIAEhgUM0VCMEI4", "Giulia Rossi", "Dov'è il mio ordine?");
    assert_eq!(rig.meta_post(&whatsapp, &body).await.0, 200);
    let conversation = rig.conversations().await[0].clone();
    let contact = conversation["contact_id"].as_str().unwrap().to_owned();
    // The shop created her earlier under her email, with a tier.
    let (status, duplicate) = rig
        .app
        .post(
            "/api/v1/contacts",
            json!({ "name": "giulia  rossi", "identities": [{ "kind": "email", "value": "giulia@example.com" }],
                    "custom_attributes": { "tier": "gold" } }),
        )
        .await;
    assert_eq!(status, 201, "{duplicate}");
    let (status, _) =
        rig.app.call(reqwest::Method::PATCH, &format!("/api/v1/contacts/{contact}"), Some(json!({ "attributes": { "orders": 3 } }))).await;
    assert_eq!(status, 200);

    let browser = Browser::launch().await;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;
    browser.client.goto(&rig.app.url(&format!("/conversations/{}", conversation["id"].as_str().unwrap()))).await.unwrap();
    browser.wait_for("the suggested duplicate", "document.querySelectorAll('.duplicates li').length == 1").await;
    // Times are shown in the browser's time zone and language; the server's UTC text is the tooltip.
    let time = browser.js("const t = document.querySelector('.timeline time'); return [t.innerText, t.title]").await;
    assert!(!time[0].as_str().unwrap().contains("UTC") && time[1].as_str().unwrap().ends_with("UTC"), "{time}");

    let suggestion = browser.js("return document.querySelector('.duplicates li').innerText").await;
    assert!(suggestion.as_str().unwrap().contains("giulia@example.com"), "{suggestion}");

    // An attribute added from the panel, one changed, the name corrected.
    browser
        .js(r#"const f = document.querySelector('form[data-add-attribute]');
              f.elements.key.value = 'city'; f.elements.value.value = 'Torino';
              f.querySelector('button').click();"#)
        .await;
    browser.wait_for("the new attribute", "document.querySelector('input[data-attribute=city]')").await;
    browser
        .js(r#"const i = document.querySelector('input[data-attribute=orders]'); i.value = '4'; i.dataset.typed = '1';
              i.dispatchEvent(new Event('change', { bubbles: true }));"#)
        .await;
    // Saved, the panel is drawn again from the server.
    browser
        .wait_for(
            "the changed attribute",
            "!document.querySelector('input[data-attribute=orders]').dataset.typed && document.querySelector('input[data-attribute=orders]').value == '4'",
        )
        .await;
    let saved = rig.app.get(&format!("/api/v1/contacts/{contact}")).await.1;
    assert_eq!(saved["custom_attributes"]["city"], "Torino", "{saved}");
    assert_eq!(saved["attributes"]["orders"], 4, "a number stays a number: {saved}");
    // Too long a name is refused, shown, and nothing is lost.
    browser
        .js(r#"const n = document.querySelector('form[data-contact-edit] input'); n.removeAttribute('maxlength');
              n.value = 'x'.repeat(400); n.dispatchEvent(new Event('change', { bubbles: true }));"#)
        .await;
    browser.wait_for("the refusal", "!document.querySelector('.contact-error').hidden").await;
    assert_eq!(rig.app.get(&format!("/api/v1/contacts/{contact}")).await.1["name"], "Giulia Rossi");
    browser.js("document.querySelector('button[data-remove-attribute=city]').click()").await;
    browser.wait_for("the removed attribute", "!document.querySelector('input[data-attribute=city]')").await;
    browser.screenshot("workspace-7-customer").await;

    // The duplicate is merged here: its email and tier now belong to her.
    browser.js("window.confirm = () => true; document.querySelector('button[data-merge]').click()").await;
    browser
        .wait_for(
            "the merged identities",
            "document.querySelector('.customer').innerText.includes('giulia@example.com') && !document.querySelector('.duplicates')",
        )
        .await;
    let merged = rig.app.get(&format!("/api/v1/contacts/{contact}")).await.1;
    let identities: Vec<&str> = merged["identities"].as_array().unwrap().iter().map(|i| i["value"].as_str().unwrap()).collect();
    assert!(identities.contains(&"giulia@example.com"), "{merged}");
    let gone = rig.app.get(&format!("/api/v1/contacts/{}", duplicate["id"].as_str().unwrap())).await.1;
    assert_eq!(gone["error"]["code"], "contact_merged", "the duplicate is gone: {gone}");
    // Renamed, she no longer looks like anyone else.
    browser
        .js(r#"const n = document.querySelector('form[data-contact-edit] input'); n.value = 'Giulia Rossi Bianchi';
              n.dispatchEvent(new Event('change', { bubbles: true }));"#)
        .await;
    browser.wait_for("the new name in the heading", "document.querySelector('.thread-head h1').innerText == 'Giulia Rossi Bianchi'").await;

    browser.close().await;

    // Agents see the suggestion but merging is for supervisors.
    let (status, _) = rig
        .app
        .post("/api/v1/users", json!({ "email": "paolo@acme.example", "name": "Paolo", "role": "agent", "password": "agent password 1" }))
        .await;
    assert_eq!(status, 201);
    rig.app
        .post("/api/v1/contacts", json!({ "name": "Giulia Rossi Bianchi", "identities": [{ "kind": "email", "value": "gr@example.org" }] }))
        .await;
    let agent = form_session(&rig, "paolo@acme.example", "agent password 1").await;
    let html = reqwest::Client::new()
        .get(rig.app.url(&format!("/conversations/{}", conversation["id"].as_str().unwrap())))
        .header("cookie", &agent)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("gr@example.org") && !html.contains("data-merge") && !html.contains("data-erase"), "{html}");

    let browser = Browser::launch().await;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;
    browser.client.goto(&rig.app.url(&format!("/conversations/{}", conversation["id"].as_str().unwrap()))).await.unwrap();
    browser.wait_for("the customer panel", "document.querySelector('.privacy')").await;
    // Her data can be downloaded, and an administrator erases her.
    let export = browser.js("return document.querySelector('.privacy a[download]').getAttribute('href')").await;
    assert_eq!(export.as_str(), Some(format!("/api/v1/contacts/{contact}/export").as_str()));
    browser.js("document.querySelector('.privacy').scrollIntoView({ block: 'center' })").await;
    browser.screenshot("workspace-8-privacy").await;
    browser.js("window.confirm = () => true; document.querySelector('button[data-erase]').click()").await;
    browser
        .wait_for(
            "the erased customer",
            "document.readyState == 'complete' && !document.querySelector('.customer').innerText.includes('giulia@example.com')",
        )
        .await;
    let erased = rig.app.get(&format!("/api/v1/contacts/{contact}")).await.1;
    assert!(erased["name"].is_null() && erased["identities"].as_array().unwrap().is_empty(), "{erased}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_saves_the_filters_as_a_view() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let whatsapp = rig.whatsapp_inbox().await;
    let body = whatsapp_text("393331112222", "wamid.HBgLMzkzMzMxMTEyMjIyFQIAEhgUM0VCMEI5", "Luca", "Urgente: ordine bloccato");
    assert_eq!(rig.meta_post(&whatsapp, &body).await.0, 200);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = rig.app.patch(&format!("/api/v1/conversations/{conversation}"), json!({ "priority": "urgent" })).await;
    assert_eq!(status, 200);

    let browser = Browser::launch().await;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;
    browser.client.goto(&rig.app.url("/inbox?priority=urgent&channel=whatsapp&label=")).await.unwrap();
    browser.wait_for("the save button", "document.querySelector('button[data-save-view]')").await;
    browser.js("window.prompt = () => 'Urgenti WhatsApp'; document.querySelector('button[data-save-view]').click()").await;
    browser.wait_for("the saved view, current", "document.querySelector('.views .view.current a')").await;
    assert_eq!(browser.js("return document.querySelector('.views .current a').innerText").await, json!("Urgenti WhatsApp"));
    assert_eq!(browser.js("return document.querySelectorAll('button[data-save-view]').length").await, json!(0), "already saved");
    browser.screenshot("workspace-8-views").await;

    // From the plain inbox, the view is one click away, for this agent only.
    browser.client.goto(&rig.app.url("/inbox")).await.unwrap();
    browser.wait_for("the views", "document.querySelector('.views .view')").await;
    browser.js("document.querySelector('.views .view a').click()").await;
    browser
        .wait_for(
            "the view's filters",
            "location.search.includes('priority=urgent') && document.querySelectorAll('.conversation').length == 1",
        )
        .await;
    let (_, views) = rig.app.get("/api/v1/me/views").await;
    assert_eq!(views[0]["query"], "channel=whatsapp&priority=urgent");
    browser.js("document.querySelector('button[data-delete-view]').click()").await;
    browser.wait_for("the view gone", "!document.querySelector('.views .view')").await;
    assert_eq!(rig.app.get("/api/v1/me/views").await.1, json!([]));

    // In Italian, times read the Italian way too.
    let (status, _) = rig.app.call(reqwest::Method::PUT, "/api/v1/me/language", Some(json!({ "language": "it" }))).await;
    assert_eq!(status, 200);
    browser.client.goto(&rig.app.url(&format!("/conversations/{conversation}"))).await.unwrap();
    browser.wait_for("the localised time", "document.querySelector('.timeline time[data-local]')").await;
    let month = time::OffsetDateTime::now_utc().month() as usize - 1;
    let italian = ["gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"][month];
    let shown = browser.js("return document.querySelector('.timeline time').innerText").await;
    assert!(shown.as_str().unwrap().contains(italian), "{shown}");

    // A colleague mentions her in a note: she is told, wherever she is.
    browser.client.goto(&rig.app.url("/inbox")).await.unwrap();
    browser.wait_for("the live socket", "document.documentElement.getAttribute('data-live') == 'on'").await;
    let (_, paolo) = rig
        .app
        .post("/api/v1/users", json!({ "email": "paolo@acme.example", "name": "Paolo", "role": "agent", "password": "agent password 1" }))
        .await;
    let (_, token) = rig.app.post("/api/v1/api-tokens", json!({ "name": "paolo", "user_id": paolo["id"] })).await;
    let note = json!({ "kind": "note", "text": "@admin puoi richiamare Luca?" });
    let path = format!("/api/v1/conversations/{conversation}/messages");
    let (status, _) = rig.app.call_as(token["secret"].as_str().unwrap(), reqwest::Method::POST, &path, Some(note)).await;
    assert_eq!(status, 201);
    browser.wait_for("the mention notice", "document.querySelector('.toast a')").await;
    let link = browser.js("return document.querySelector('.toast a').getAttribute('href')").await;
    assert_eq!(link, json!(format!("/conversations/{conversation}")));
    assert!(browser.js("return document.querySelector('.toast').innerText").await.as_str().unwrap().contains("menzionato"));
    browser.screenshot("workspace-10-mention").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_sets_up_the_account_from_the_admin_page() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let browser = Browser::launch().await;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;
    browser.client.goto(&rig.app.url("/admin")).await.unwrap();
    browser.wait_for("the admin page", "document.querySelector('form[data-api=\"/users\"]')").await;
    browser.js("window.confirm = () => true").await;
    // Fills the form posting to `api` and submits it.
    let submit = |api: &str, fields: &[(&str, &str)]| {
        let mut script = format!("const f = document.querySelector('form[data-api=\"{api}\"]');");
        for (name, value) in fields {
            script.push_str(&format!("f.elements[{name:?}].value = {value:?};"));
        }
        script.push_str("f.querySelector('button[type=submit]').click();");
        script
    };

    browser.js(&submit("/teams", &[("name", "Resi e rimborsi")])).await;
    browser
        .wait_for("the new team", "[...document.querySelectorAll('#admin-teams input[name=name]')].some(i => i.value == 'Resi e rimborsi')")
        .await;
    browser
        .js(&submit(
            "/users",
            &[("name", "Paolo Neri"), ("email", "paolo@acme.example"), ("role", "agent"), ("password", "agent password 1")],
        ))
        .await;
    browser.wait_for("the new user", "document.querySelector('#admin-users').innerText.includes('paolo@acme.example')").await;
    let (_, users) = rig.app.get("/api/v1/users").await;
    let paolo = users.as_array().unwrap().iter().find(|u| u["email"] == "paolo@acme.example").unwrap()["id"].as_str().unwrap().to_owned();
    // A role changed in place.
    browser
        .js(&format!(
            "const s = document.querySelector('select[data-api=\"/users/{paolo}\"]'); s.value = 'supervisor'; s.dispatchEvent(new Event('change', {{ bubbles: true }}));"
        ))
        .await;
    browser
        .wait_for("the role saved", &format!("document.querySelector('select[data-api=\"/users/{paolo}\"]').value == 'supervisor'"))
        .await;
    let mut role = serde_json::Value::Null;
    for _ in 0..50 {
        role = rig.app.get(&format!("/api/v1/users/{paolo}")).await.1["role"].clone();
        if role == "supervisor" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(role, "supervisor");
    // Into the team.
    browser
        .js(&format!(
            "const s = document.querySelector('select[data-add-member]'); s.value = '{paolo}'; s.dispatchEvent(new Event('change', {{ bubbles: true }}));"
        ))
        .await;
    browser.wait_for("the new member", "document.querySelectorAll('#admin-teams .member').length == 1").await;
    let (_, teams) = rig.app.get("/api/v1/teams").await;
    assert_eq!(teams[0]["member_ids"], json!([paolo]));
    // Renamed in place.
    browser
        .js("const n = document.querySelector('#admin-teams input[name=name]'); n.value = 'Resi'; n.dispatchEvent(new Event('change', { bubbles: true }));")
        .await;
    let mut name = json!(null);
    for _ in 0..50 {
        name = rig.app.get("/api/v1/teams").await.1[0]["name"].clone();
        if name == "Resi" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(name, "Resi");

    // A canned response; a bad shortcut is refused with the reason.
    browser.js("document.querySelector('input[name=shortcut]').removeAttribute('pattern')").await;
    browser
        .js(&submit("/canned-responses", &[("shortcut", "Tempi Spedizione"), ("title", "Tempi"), ("body", "Ciao {{contact.first_name}}")]))
        .await;
    browser
        .wait_for("the refusal", "document.querySelector('form[data-api=\"/canned-responses\"] .result').innerText.includes('shortcut')")
        .await;
    browser
        .js(&submit("/canned-responses", &[("shortcut", "tempi"), ("title", "Tempi"), ("body", "Ciao {{contact.first_name}}, 2 giorni.")]))
        .await;
    browser.wait_for("the canned response", "document.querySelector('#admin-canned').innerText.includes('/tempi')").await;

    // An API token: its secret is shown once, and it works.
    browser.js(&submit("/api-tokens", &[("name", "Shop"), ("user_id", &paolo)])).await;
    browser.wait_for("the secret", "!document.querySelector('.secret-shown').hidden").await;
    let secret = browser.js("return document.querySelector('.secret-shown code').innerText").await;
    let (status, _) = rig.app.call_as(secret.as_str().unwrap(), reqwest::Method::GET, "/api/v1/conversations", None).await;
    assert_eq!(status, 200, "the token shown works");
    browser.wait_for("the token listed", "document.querySelector('#admin-tokens').innerText.includes('Shop')").await;
    let (status, _) = rig
        .app
        .call_as(
            secret.as_str().unwrap(),
            reqwest::Method::POST,
            "/api/v1/inboxes/01a24557-d8d2-77e2-92cc-6a0696f5cc5f/messages",
            Some(json!({ "sender": { "identities": [{ "kind": "email", "value": "x@example.com" }] }, "text": "hi" })),
        )
        .await;
    assert_eq!(status, 403, "a token acts as its user unless given the integration scope");
    // One for the shop's connector, which writes for customers.
    browser.js(&submit("/api-tokens", &[("name", "Connector"), ("user_id", &paolo), ("scopes", "integration")])).await;
    browser.wait_for("the connector listed", "document.querySelector('#admin-tokens').innerText.includes('Connector')").await;
    let (_, tokens) = rig.app.get("/api/v1/api-tokens").await;
    let connector = tokens.as_array().unwrap().iter().find(|t| t["name"] == "Connector").unwrap().clone();
    assert_eq!(connector["scopes"], json!(["integration"]));

    // A webhook, then paused.
    browser
        .js(&submit("/webhooks", &[("url", "https://hooks.example.com/threadline"), ("events", "message.created, conversation.resolved")]))
        .await;
    browser.wait_for("the webhook", "document.querySelector('#admin-webhooks input[name=active]')").await;
    let (_, hooks) = rig.app.get("/api/v1/webhooks").await;
    assert_eq!(hooks[0]["events"], json!(["conversation.resolved", "message.created"]));
    browser.js("const c = document.querySelector('#admin-webhooks input[name=active]'); c.click();").await;
    let mut active = json!(true);
    for _ in 0..50 {
        active = rig.app.get("/api/v1/webhooks").await.1[0]["active"].clone();
        if active == json!(false) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(active, json!(false), "paused from the page");

    // An inbox: created, its settings refused when not JSON, renamed, deleted.
    browser.js(&submit("/inboxes", &[("name", "Negozio"), ("channel", "api"), ("settings", "{\"note\": \"cassa 1\"}")])).await;
    browser.wait_for("the inbox", "document.querySelectorAll('#admin-inboxes tbody tr').length == 1").await;
    browser
        .js("const f = document.querySelector('#admin-inboxes form'); f.elements.settings.value = '{not json'; f.querySelector('button').click();")
        .await;
    browser.wait_for("the JSON refusal", "document.querySelector('#admin-inboxes .result.error')").await;
    browser
        .js("const n = document.querySelector('#admin-inboxes input[name=name]'); n.value = 'Negozio Torino'; n.dispatchEvent(new Event('change', { bubbles: true }));")
        .await;
    browser.wait_for("the new name", "document.querySelector('#admin-inboxes input[name=name]').value == 'Negozio Torino' && !document.querySelector('#admin-inboxes .result.error')").await;
    let (_, inboxes) = rig.app.get("/api/v1/inboxes").await;
    assert_eq!(inboxes[0]["name"], "Negozio Torino");
    assert_eq!(inboxes[0]["settings"]["note"], "cassa 1");
    browser.screenshot("workspace-9-admin").await;
    browser.js("document.querySelector('#admin-inboxes button[data-method=DELETE]').click()").await;
    browser.wait_for("the inbox gone", "document.querySelectorAll('#admin-inboxes tbody tr').length == 0").await;
    browser.close().await;
}
