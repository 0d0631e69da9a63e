//! Hostile and broken webhooks: wrong signatures store nothing (403),
//! malformed payloads store nothing (400), unknown events are acknowledged,
//! oversized media is refused with a reason and the message kept, and a
//! webhook delivered many times at once is stored once.

use serde_json::json;

use crate::channel_tests;
use crate::support::*;

channel_tests!(
    bad_webhooks_are_refused_and_store_nothing,
    concurrent_redeliveries_store_one_message,
    oversized_media_is_refused_with_a_reason,
    nul_characters_from_providers_are_stripped_not_lost,
    one_malformed_event_does_not_cost_the_others
);

/// A webhook batching a malformed event with good ones: the good ones are
/// stored and the webhook acknowledged (else the provider redelivers the
/// whole batch, failing the same way, forever).
async fn one_malformed_event_does_not_cost_the_others(rig: Rig) {
    let whatsapp = rig.whatsapp_inbox().await;
    let mut body = whatsapp_messages(
        "393471112233",
        "Ada",
        json!([
            { "from": "393471112233", "id": "wamid.good1", "timestamp": "1700000000", "type": "text", "text": { "body": "Primo messaggio" } },
            { "from": 393471112233u64, "id": ["not", "a", "string"], "type": "text" },
            { "from": "393471112233", "id": "wamid.good2", "timestamp": "1700000001", "type": "text", "text": { "body": "Secondo messaggio" } },
        ]),
    );
    // And a second entry that is not an object at all.
    body["entry"].as_array_mut().unwrap().push(json!("garbage"));
    let (status, answer) = rig.meta_post(&whatsapp, &body).await;
    assert_eq!(status, 200, "{answer}");
    let conversations = rig.conversations().await;
    assert_eq!(conversations.len(), 1);
    let texts: Vec<String> =
        rig.messages(conversations[0]["id"].as_str().unwrap()).await.iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect();
    assert_eq!(texts, ["Primo messaggio", "Secondo messaggio"]);

    // The same for Messenger: one unreadable event among readable ones.
    let messenger = rig.meta_inbox("messenger").await;
    let mut body = meta_messaging(
        "page",
        json!({ "sender": { "id": "7001" }, "recipient": { "id": PAGE_ID }, "timestamp": 1_700_000_000_000u64,
                "message": { "mid": "m_good", "text": "Ciao dal Messenger" } }),
    );
    body["entry"][0]["messaging"].as_array_mut().unwrap().insert(0, json!({ "sender": "not an object", "message": 5 }));
    let (status, answer) = rig.meta_post(&messenger, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(rig.conversations().await.len(), 2, "the readable Messenger event was stored");
    // A body that is not JSON at all is still refused: there is nothing to keep.
    let (status, _) = rig.meta_post_raw(&whatsapp, b"{not json".to_vec(), None).await;
    assert!(status == 400 || status == 403, "{status}");
}

/// A provider's webhook cannot be refused for its content (it would be
/// retried forever): U+0000 is dropped and the message kept, on both engines.
async fn nul_characters_from_providers_are_stripped_not_lost(rig: Rig) {
    let telegram = rig.telegram_inbox().await;
    let mut update = telegram_text(77, 515151, 3, "il pacco\u{0} è arrivato rotto");
    update["message"]["from"]["first_name"] = json!("Ma\u{0}rco");
    let (status, body) = rig.telegram_post(&telegram, &update, Some(TELEGRAM_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    let whatsapp = rig.whatsapp_inbox().await;
    let (status, body) = rig.meta_post(&whatsapp, &whatsapp_text("393470000099", "wamid.nul\u{0}", "Ada\u{0}", "ciao\u{0}!")).await;
    assert_eq!(status, 200, "{body}");

    let conversations = rig.conversations().await;
    assert_eq!(conversations.len(), 2, "both messages were stored");
    let mut texts = Vec::new();
    for conversation in &conversations {
        for message in rig.messages(conversation["id"].as_str().unwrap()).await {
            texts.push(message["text"].as_str().unwrap().to_owned());
        }
    }
    texts.sort();
    assert_eq!(texts, ["ciao!", "il pacco è arrivato rotto"]);
}

async fn bad_webhooks_are_refused_and_store_nothing(rig: Rig) {
    let sms = rig.sms_inbox().await;
    let whatsapp = rig.whatsapp_inbox().await;
    let params = [("MessageSid", "SM00000000000000000000000000000001"), ("From", "+393471234567"), ("To", SMS_NUMBER), ("Body", "hi")];

    let (status, body) = rig.twilio_post_signed(&sms, &params, "bm90IGEgc2lnbmF0dXJl").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("signature"), "{body}");
    // Signed for another URL (a replay against another inbox) fails too.
    let other = TestInbox { id: sms.id.clone(), webhook_url: whatsapp.webhook_url.clone() };
    let owned: Vec<(String, String)> = params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let wrong_url = threadline_channels::twilio::signature(TWILIO_TOKEN, &other.webhook_url, &owned);
    let (status, _) = rig.twilio_post_signed(&sms, &params, &wrong_url).await;
    assert_eq!(status, 403);

    let text = whatsapp_text("393471234567", "wamid.bad1", "X", "hello");
    let raw = serde_json::to_vec(&text).unwrap();
    let (status, _) = rig.meta_post_raw(&whatsapp, raw.clone(), None).await;
    assert_eq!(status, 403, "no signature");
    let (status, _) = rig.meta_post_raw(&whatsapp, raw.clone(), Some(threadline_channels::meta::sign("another secret", &raw))).await;
    assert_eq!(status, 403, "signed with another app's secret");
    let mut tampered = raw.clone();
    let signature = threadline_channels::meta::sign(APP_SECRET, &raw);
    tampered.extend_from_slice(b" ");
    let (status, _) = rig.meta_post_raw(&whatsapp, tampered, Some(signature)).await;
    assert_eq!(status, 403, "a body changed after signing");

    // Signed but malformed: 400, with the reason in the error body.
    let broken = b"{\"object\":\"whatsapp_business_account\",\"entry\":[{".to_vec();
    let (status, body) = rig.meta_post_raw(&whatsapp, broken.clone(), Some(threadline_channels::meta::sign(APP_SECRET, &broken))).await;
    assert_eq!(status, 400, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
    let no_sid = [("From", "+393471234567"), ("Body", "hi")];
    let (status, _) = rig.twilio_post(&sms, &no_sid).await;
    assert_eq!(status, 400, "a Twilio webhook without MessageSid");

    // Unknown events are acknowledged and ignored.
    let unknown = json!({ "object": "whatsapp_business_account", "entry": [{ "id": "1", "changes": [{
        "field": "message_template_status_update",
        "value": { "event": "APPROVED", "message_template_id": 12345678, "message_template_name": "restock_notice", "message_template_language": "it" } }] }] });
    let (status, _) = rig.meta_post(&whatsapp, &unknown).await;
    assert_eq!(status, 200);
    let report_for_nothing = whatsapp_status("wamid.unknown", "393471234567", "delivered");
    let (status, _) = rig.meta_post(&whatsapp, &report_for_nothing).await;
    assert_eq!(status, 200, "a report about a message we never sent is acknowledged");

    // Webhooks for an inbox that does not exist, or is not connected.
    let missing = format!("{}/hooks/019a0000-0000-7000-8000-000000000000", rig.app.url(""));
    assert_eq!(rig.http.post(&missing).body("x").send().await.unwrap().status(), 404);
    assert_eq!(rig.http.post(rig.app.url("/hooks/not-an-id")).body("x").send().await.unwrap().status(), 404);
    let plain = rig.app.create_inbox("sms", "integration-served").await;
    assert_eq!(rig.http.post(rig.app.url(&format!("/hooks/{plain}"))).body("x").send().await.unwrap().status(), 404);

    assert!(rig.conversations().await.is_empty(), "nothing above stored anything");

    // A sender the phone rules do not know (an SMS short code) is kept, not lost.
    let short_code = [("MessageSid", "SM00000000000000000000000000000002"), ("From", "72345"), ("To", SMS_NUMBER), ("Body", "STOP")];
    let (status, _) = rig.twilio_post(&sms, &short_code).await;
    assert_eq!(status, 200);
    let conversations = rig.conversations().await;
    assert_eq!(conversations.len(), 1);
    let (_, contact) = rig.app.get(&format!("/api/v1/contacts/{}", conversations[0]["contact_id"].as_str().unwrap())).await;
    assert_eq!(contact["identities"][0]["kind"], "external_id");
    assert_eq!(contact["identities"][0]["value"], "sms:72345");

    // An inbox given credentials must be given all of them.
    let (status, body) = rig
        .app
        .post("/api/v1/inboxes", json!({ "channel": "whatsapp", "name": "half", "settings": {}, "secrets": { "access_token": "x" } }))
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["settings.phone_number_id", "secrets.app_secret", "secrets.verify_token"]);
}

async fn concurrent_redeliveries_store_one_message(rig: Rig) {
    let whatsapp = rig.whatsapp_inbox().await;
    let body = whatsapp_text("393470000001", "wamid.same", "Ada", "Una volta sola");
    let mut deliveries = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (http, url, body) = (rig.http.clone(), whatsapp.webhook_url.clone(), body.clone());
        deliveries.spawn(async move {
            let raw = serde_json::to_vec(&body).unwrap();
            let signature = threadline_channels::meta::sign(APP_SECRET, &raw);
            http.post(url).header("x-hub-signature-256", signature).body(raw).send().await.unwrap().status().as_u16()
        });
    }
    while let Some(status) = deliveries.join_next().await {
        assert_eq!(status.unwrap(), 200, "every delivery is acknowledged");
    }
    let conversations = rig.conversations().await;
    assert_eq!(conversations.len(), 1);
    assert_eq!(rig.messages(conversations[0]["id"].as_str().unwrap()).await.len(), 1, "stored exactly once");
}

async fn oversized_media_is_refused_with_a_reason(rig: Rig) {
    let whatsapp = rig.whatsapp_inbox().await;
    // The test server accepts attachments up to 512 KiB.
    rig.provider.put_media("huge-video", "video/mp4", vec![0u8; 600 * 1024]);
    let video = json!([{ "from": "393470000002", "id": "wamid.big", "timestamp": "1700000000", "type": "video",
        "video": { "caption": "Guardate qui", "mime_type": "video/mp4", "id": "huge-video" } }]);
    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_messages("393470000002", "Bruno", video)).await;
    assert_eq!(status, 200, "the message is kept even if its media is not");
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    let messages = rig.messages(&conversation).await;
    let text = messages[0]["text"].as_str().unwrap();
    assert!(text.starts_with("Guardate qui"), "{text}");
    assert!(text.contains("attachment refused") && text.contains("524288-byte limit"), "the agent sees why: {text}");
    assert_eq!(messages[0]["attachments"].as_array().unwrap().len(), 0);
}
