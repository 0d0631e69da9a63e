//! WhatsApp's rules: the subscription challenge, the 24-hour window and
//! templates, media both ways.

use serde_json::json;

use crate::channel_tests;
use crate::support::*;

channel_tests!(the_subscription_challenge_needs_the_verify_token, the_window_closes_and_templates_reopen_it, media_travels_both_ways);

async fn the_subscription_challenge_needs_the_verify_token(rig: Rig) {
    let inbox = rig.whatsapp_inbox().await;
    let get = |query: String| {
        let url = format!("{}?{query}", inbox.webhook_url);
        let http = rig.http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, body) = get(format!("hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444")).await;
    assert_eq!((status, body.as_str()), (200, "1158201444"));
    let (status, _) = get("hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444".into()).await;
    assert_eq!(status, 403);
    let (status, _) = get("hub.verify_token=x".into()).await;
    assert_eq!(status, 400);
}

async fn the_window_closes_and_templates_reopen_it(rig: Rig) {
    let inbox = rig.whatsapp_inbox().await;
    let (status, _) = rig.meta_post(&inbox, &whatsapp_text("393331112222", "wamid.window1", "Luca", "Avete la taglia 42?")).await;
    assert_eq!(status, 200);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();

    // A day and a bit later the free-form window is closed.
    rig.age_messages(25).await;
    let (status, options) = rig.app.get(&format!("/api/v1/conversations/{conversation}/reply-options")).await;
    assert_eq!(status, 200);
    let whatsapp = options.as_array().unwrap().iter().find(|o| o["channel"] == "whatsapp").unwrap().clone();
    assert_eq!(whatsapp["allowed"], false);
    assert_eq!(whatsapp["blocker"], "window_closed");
    assert_eq!(whatsapp["template_allowed"], true);
    let (status, refused) = rig.reply(&conversation, json!({ "text": "Sì, arrivata oggi!" })).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "window_closed");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("template") && message.contains("/api/v1/templates"), "the agent is pointed to templates: {message}");
    assert!(rig.provider.sends().is_empty(), "nothing was sent");
    assert_eq!(rig.messages(&conversation).await.len(), 1, "nothing was stored");

    // Register the approved template; bad ones are refused clearly.
    let (status, bad) = rig
        .app
        .post("/api/v1/templates", json!({ "channel": "whatsapp", "name": "Restock", "language": "it", "body": "Ciao {{1}}, {{3}}" }))
        .await;
    assert_eq!(status, 422, "{bad}");
    let fields: Vec<&str> = bad["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "body"]);
    let (status, bad) = rig.app.post("/api/v1/templates", json!({ "channel": "sms", "name": "x", "language": "it", "body": "x" })).await;
    assert_eq!(status, 422, "SMS has no templates: {bad}");
    let (status, template) = rig
        .app
        .post(
            "/api/v1/templates",
            json!({ "channel": "whatsapp", "name": "restock_notice", "language": "it", "body": "Ciao {{1}}, la taglia {{2}} è di nuovo disponibile." }),
        )
        .await;
    assert_eq!(status, 201, "{template}");
    assert_eq!(template["variables"], 2);
    let (status, _) = rig
        .app
        .post("/api/v1/templates", json!({ "channel": "whatsapp", "name": "restock_notice", "language": "it", "body": "again" }))
        .await;
    assert_eq!(status, 409, "one template per name and language");
    let template_id = template["id"].as_str().unwrap();

    let (status, bad) = rig.reply(&conversation, json!({ "template": { "template_id": template_id, "variables": ["Luca"] } })).await;
    assert_eq!(status, 422, "{bad}");
    assert!(bad["error"]["message"].as_str().unwrap().contains("2 variables"), "{bad}");

    let (status, sent) = rig.reply(&conversation, json!({ "template": { "template_id": template_id, "variables": ["Luca", "42"] } })).await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["text"], "Ciao Luca, la taglia 42 è di nuovo disponibile.", "the stored text is the filled-in template");
    let sends = rig.provider.wait_for_sends(1, 10).await;
    let body = sends[0].json();
    assert_eq!(body["type"], "template");
    assert_eq!(body["to"], "393331112222");
    assert_eq!(body["template"]["name"], "restock_notice");
    assert_eq!(body["template"]["language"]["code"], "it");
    assert_eq!(
        body["template"]["components"],
        json!([{ "type": "body", "parameters": [{ "type": "text", "text": "Luca" }, { "type": "text", "text": "42" }] }])
    );

    // The customer answers: the window is open again for free text.
    let (status, _) = rig.meta_post(&inbox, &whatsapp_text("393331112222", "wamid.window2", "Luca", "Perfetto, la prendo")).await;
    assert_eq!(status, 200);
    let (status, reply) = rig.reply(&conversation, json!({ "text": "Gliela teniamo da parte." })).await;
    assert_eq!(status, 201, "{reply}");
}

async fn media_travels_both_ways(rig: Rig) {
    let inbox = rig.whatsapp_inbox().await;
    let photo = b"\xff\xd8\xff\xe0 a small jpeg".to_vec();
    rig.provider.put_media("1037543291543636", "image/jpeg", photo.clone());
    let image = json!([{
        "from": "393339998888", "id": "wamid.image1", "timestamp": "1700000000", "type": "image",
        "image": { "caption": "Lo scontrino", "mime_type": "image/jpeg", "sha256": "abc", "id": "1037543291543636" }
    }]);
    let webhook = whatsapp_messages("393339998888", "Sara", image);
    let (status, answer) = rig.meta_post(&inbox, &webhook).await;
    assert_eq!(status, 200, "{answer}");
    // WhatsApp delivers it again: it is recognised without downloading the media again.
    let (status, _) = rig.meta_post(&inbox, &webhook).await;
    assert_eq!(status, 200);
    let lookups = rig.provider.requests().iter().filter(|r| r.path == "/v21.0/1037543291543636").count();
    assert_eq!(lookups, 1, "the media was fetched once");
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    let messages = rig.messages(&conversation).await;
    assert_eq!(messages[0]["text"], "Lo scontrino");
    let attachment = &messages[0]["attachments"][0];
    assert_eq!(attachment["content_type"], "image/jpeg");
    let response = rig
        .http
        .get(rig.app.url(&format!("/api/v1/attachments/{}", attachment["id"].as_str().unwrap())))
        .bearer_auth(&rig.app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.bytes().await.unwrap().to_vec(), photo, "the media was downloaded from the provider");

    // A reply with a PDF: WhatsApp is given a signed link it can fetch.
    use base64::Engine;
    let pdf = b"%PDF-1.4 receipt".to_vec();
    let data = base64::engine::general_purpose::STANDARD.encode(&pdf);
    let (status, reply) = rig
        .reply(
            &conversation,
            json!({ "text": "Ecco la ricevuta", "attachments": [{ "filename": "ricevuta.pdf", "content_type": "application/pdf", "data_base64": data }] }),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    let sends = rig.provider.wait_for_sends(1, 10).await;
    let body = sends[0].json();
    assert_eq!(body["type"], "document");
    assert_eq!(body["document"]["caption"], "Ecco la ricevuta");
    assert_eq!(body["document"]["filename"], "ricevuta.pdf");
    let link = body["document"]["link"].as_str().unwrap().to_owned();
    let fetched = rig.http.get(&link).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), pdf, "the signed link serves the attachment, without a token");
    let tampered = link.replace("signature=", "signature=00");
    assert_eq!(rig.http.get(&tampered).send().await.unwrap().status(), 403);

    // Two attachments do not fit one WhatsApp message.
    let two = json!({ "text": "x", "attachments": [
        { "filename": "a.pdf", "content_type": "application/pdf", "data_base64": data },
        { "filename": "b.pdf", "content_type": "application/pdf", "data_base64": data } ] });
    let (status, refused) = rig.reply(&conversation, two).await;
    assert_eq!(status, 422, "{refused}");
}
