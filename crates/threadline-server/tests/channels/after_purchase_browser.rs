//! After the purchase in real headless Chromium: shop staff at the counter
//! find a customer on the in-store page and record a return (the shop is
//! remembered on the device); an agent opens a return request from the
//! customer panel of their conversation, lands on the request's
//! conversation and moves it along, the customer told each time.

use serde_json::json;

use crate::browser::Browser;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_record_a_return_in_the_shop_and_an_agent_moves_a_return_request() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let whatsapp = rig.whatsapp_inbox().await;
    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_text("393471112233", "wamid.ap1", "Giulia Rossi", "Le scarpe sono strette")).await;
    assert_eq!(status, 200);
    let conversation = rig.conversations().await[0].clone();
    let giulia = conversation["contact_id"].as_str().unwrap().to_owned();
    let order = json!({ "external_id": "A-1001", "number": "#1001", "status": "delivered", "currency": "EUR", "total": "64.00",
                        "customer": { "phone": "+39 347 111 2233", "name": "Giulia Rossi" },
                        "items": [{ "name": "Sandali Riva", "quantity": 1, "price": "64.00" }],
                        "placed_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-03T10:00:00Z" });
    let (status, recorded) = rig.app.put("/api/v1/orders", order).await;
    assert_eq!(status, 201, "{recorded}");
    assert_eq!(recorded["order"]["contact_id"], giulia.as_str(), "her order, by her WhatsApp number");

    let browser = Browser::launch().await;
    let c = &browser.client;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;

    // At the counter: find her by phone, record the return.
    c.goto(&rig.app.url("/store?q=3471112233")).await.unwrap();
    browser.wait_for("the search result", "document.querySelector('.store-results a')").await;
    browser.js("document.querySelector('.store-results a').click()").await;
    browser.wait_for("her page", "document.querySelector('form.store-visit input[name=contact_id]')").await;
    let page = browser.js("return document.querySelector('.store-customer').innerText").await;
    assert!(page.as_str().unwrap().contains("#1001"), "her latest order is shown: {page}");
    browser
        .js(r#"const f = document.querySelector('form.store-visit');
              f.elements.kind.value = 'return';
              f.elements.store.value = 'Milano Centro';
              f.elements.store.dispatchEvent(new Event('change'));
              f.elements.order_number.value = '#1001';
              f.elements.note.value = 'taglia sbagliata';
              f.querySelector('button[type=submit]').click();"#)
        .await;
    browser
        .wait_for(
            "the recorded visit",
            "document.querySelector('.store-visits') && document.querySelector('.store-visits').innerText.includes('Milano Centro')",
        )
        .await;
    let remembered = browser.js("return document.querySelector('form.store-visit').elements.store.value").await;
    assert_eq!(remembered, "Milano Centro", "the shop is remembered on this device");
    browser.screenshot("after-purchase-1-store").await;
    let (_, timeline) = rig.app.get(&format!("/api/v1/contacts/{giulia}/timeline?types=interaction")).await;
    assert!(timeline["data"][0]["summary"].as_str().unwrap().contains("Milano Centro, order #1001: taglia sbagliata"), "{timeline}");

    // In the workspace: a return request from her conversation's panel.
    c.goto(&rig.app.url(&format!("/conversations/{}", conversation["id"].as_str().unwrap()))).await.unwrap();
    browser.wait_for("the request form", "document.querySelector('details.after-sales-open form')").await;
    browser
        .js(r#"const d = document.querySelector('details.after-sales-open'); d.open = true;
              const f = d.querySelector('form');
              f.elements.order_id.selectedIndex = 1;
              f.elements.kind.value = 'return';
              f.elements.reason.value = 'Taglia sbagliata';
              f.querySelector('button[type=submit]').click();"#)
        .await;
    browser.wait_for("the request's conversation", "document.querySelector('#after-sales form.after-sales-move')").await;
    let head = browser.js("return document.querySelector('#after-sales').innerText").await;
    assert!(head.as_str().unwrap().contains("#1001"), "{head}");
    browser
        .js(r#"const f = document.querySelector('form.after-sales-move');
              f.elements.status.value = 'approved';
              f.elements.note.value = 'Ti mandiamo l\'etichetta domani.';
              f.querySelector('button[type=submit]').click();"#)
        .await;
    browser.wait_for("the approved request", "document.querySelector('#after-sales .order-status').innerText === 'approved'").await;
    browser.screenshot("after-purchase-2-request").await;
    browser.close().await;

    // She was told on WhatsApp, in Italian, both times (no subject line there).
    let (_, messages) = rig.app.get(&format!("/api/v1/conversations/{}/messages", head_conversation(&rig, &giulia).await)).await;
    assert!(messages["data"].as_array().unwrap().iter().all(|m| m["subject"].is_null()), "{messages}");
    let sends = rig.provider.wait_for_sends(2, 15).await;
    let texts: Vec<String> = sends.iter().map(|s| s.json()["text"]["body"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(texts[0], "La tua richiesta di reso per l'ordine #1001 ci è arrivata: ti scriveremo qui appena sarà approvata.");
    assert_eq!(
        texts[1],
        "La tua richiesta di reso per l'ordine #1001 è stata approvata. Il prossimo passo è in arrivo. Ti mandiamo l'etichetta domani."
    );
}

/// The conversation of Giulia's return request.
async fn head_conversation(rig: &Rig, giulia: &str) -> String {
    let (_, requests) = rig.app.get(&format!("/api/v1/after-sales?contact_id={giulia}")).await;
    requests[0]["conversation_id"].as_str().unwrap().to_owned()
}

/// The customer portal in Chromium, as a customer uses it: from the help
/// pages to a code by e-mail, her order, and a return with a photo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_signs_in_to_the_portal_and_asks_for_a_return_with_a_photo() {
    use fantoccini::Locator;
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    let smtp = threadline_testkit::SmtpSink::start().await;
    let inbox = crate::portal::email_inbox(&rig, &smtp).await;
    let order = json!({ "external_id": "A-1001", "number": "#1001", "status": "delivered", "currency": "EUR", "total": "64.00",
                        "customer": { "email": "giulia.rossi@example.it", "name": "Giulia Rossi" },
                        "items": [{ "name": "Sandali Riva", "quantity": 1, "price": "64.00" }],
                        "placed_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-03T10:00:00Z" });
    let (status, recorded) = rig.app.put("/api/v1/orders", order).await;
    assert_eq!(status, 201, "{recorded}");
    let photo = std::env::temp_dir().join(format!("threadline-sandalo-{}.png", uuid::Uuid::now_v7().simple()));
    std::fs::write(&photo, crate::portal::png()).unwrap();

    let browser = Browser::launch().await;
    let c = &browser.client;
    c.goto(&rig.app.url(&format!("/help/{inbox}"))).await.unwrap();
    browser.wait_for("the help page", "document.querySelector('.help-account a')").await;
    browser.js("document.querySelector('.help-account a').click()").await;
    browser.wait_for("the sign-in form", "document.querySelector('form.portal-form input[name=address]')").await;
    browser
        .js(r#"const f = document.querySelector('form.portal-form');
              f.elements.address.value = 'giulia.rossi@example.it';
              f.querySelector('button[type=submit]').click();"#)
        .await;
    browser.wait_for("the code step", "document.querySelector('form.portal-form input[name=code]')").await;
    browser.screenshot("portal-1-code").await;
    let mails = smtp.wait_for(1, 10).await;
    let mail = mails[0].replace("=\r\n", "").replace("=\n", "");
    let code: String = mail.split(" is ").nth(1).unwrap().chars().take(6).collect();
    assert!(code.chars().all(|c| c.is_ascii_digit()), "{mail}");
    browser
        .js(&format!(
            r#"const f = document.querySelector('form.portal-form');
              f.elements.code.value = '{code}';
              f.querySelector('button[type=submit]').click();"#
        ))
        .await;
    browser.wait_for("her page", "document.querySelector('.portal-orders')").await;
    let page = browser.js("return document.querySelector('main').innerText").await;
    let page = page.as_str().unwrap();
    assert!(page.contains("Hello Giulia Rossi") && page.contains("#1001") && page.contains("Sandali Riva"), "{page}");

    browser
        .js(r#"const f = document.querySelector('form[enctype="multipart/form-data"]');
              f.elements.kind.value = 'return';
              f.elements.reason.value = 'La suola si è staccata dopo due giorni';"#)
        .await;
    c.find(Locator::Css("input[type=file][name=photos]")).await.unwrap().send_keys(photo.to_str().unwrap()).await.unwrap();
    browser.screenshot("portal-2-request").await;
    browser.js(r#"document.querySelector('form[enctype="multipart/form-data"] button[type=submit]').click()"#).await;
    browser.wait_for("the confirmation", "document.querySelector('.portal .notice')").await;
    browser.wait_for("her request listed", "document.querySelector('.portal-requests')").await;
    let listed = browser.js("return document.querySelector('.portal-requests').innerText").await;
    assert!(listed.as_str().unwrap().contains("#1001"), "{listed}");
    browser.screenshot("portal-3-received").await;
    browser.close().await;
    let _ = std::fs::remove_file(&photo);

    let (_, requests) = rig.app.get("/api/v1/after-sales").await;
    assert_eq!(requests[0]["kind"], "return", "{requests}");
    let conversation = requests[0]["conversation_id"].as_str().unwrap();
    let messages = rig.messages(conversation).await;
    let hers = messages.iter().find(|m| m["direction"] == "inbound").unwrap();
    assert_eq!(hers["text"], "La suola si è staccata dopo due giorni");
    assert_eq!(hers["attachments"][0]["content_type"], "image/png", "{hers}");
}
