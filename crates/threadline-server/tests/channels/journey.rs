//! One customer writes by SMS, then WhatsApp, then Telegram; an agent
//! answers on each; every delivery report lands on the right message.

use serde_json::{Value, json};

use crate::channel_tests;
use crate::support::*;

channel_tests!(a_customer_crosses_channels_in_one_conversation, sms_stop_and_start_change_consent);

async fn sms_stop_and_start_change_consent(rig: Rig) {
    let sms = rig.sms_inbox().await;
    let text = |sid: &'static str, body: &'static str| {
        [("MessageSid", sid), ("From", "+393471112233"), ("To", SMS_NUMBER), ("Body", body), ("NumMedia", "0")]
    };
    let (status, _) = rig.twilio_post(&sms, &text("SM00000000000000000000000000000a01", "Quando arriva il pacco?")).await;
    assert_eq!(status, 200);
    let (status, _) = rig.twilio_post(&sms, &text("SM00000000000000000000000000000a02", "STOP")).await;
    assert_eq!(status, 200);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    let (status, refused) = rig.reply(&conversation, json!({ "text": "Domani" })).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "no_consent");
    assert!(rig.provider.sends().is_empty());
    let (_, contact) = rig.app.get(&format!("/api/v1/contacts/{}", rig.conversations().await[0]["contact_id"].as_str().unwrap())).await;
    let sms_service = contact["consents"].as_array().unwrap().iter().find(|c| c["channel"] == "sms" && c["purpose"] == "service").cloned();
    assert_eq!(sms_service.unwrap()["granted"], false, "{contact}");

    let (status, _) = rig.twilio_post(&sms, &text("SM00000000000000000000000000000a03", "START")).await;
    assert_eq!(status, 200);
    let (status, reply) = rig.reply(&conversation, json!({ "text": "Domani, tra le 9 e le 13." })).await;
    assert_eq!(status, 201, "START gives consent back: {reply}");
}

async fn a_customer_crosses_channels_in_one_conversation(rig: Rig) {
    let sms = rig.sms_inbox().await;
    let whatsapp = rig.whatsapp_inbox().await;
    let telegram = rig.telegram_inbox().await;

    // 1. An SMS from an unknown number: a contact and a conversation.
    let inbound = [
        ("MessageSid", "SM1f0e6a3c2b8d4e5f6a7b8c9d0e1f2a3b"),
        ("SmsSid", "SM1f0e6a3c2b8d4e5f6a7b8c9d0e1f2a3b"),
        ("AccountSid", TWILIO_SID),
        ("From", "+393471234567"),
        ("To", SMS_NUMBER),
        ("Body", "Buongiorno, il mio ordine A-1042 non è arrivato"),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("SmsStatus", "received"),
        ("ApiVersion", "2010-04-01"),
    ];
    let (status, answer) = rig.twilio_post(&sms, &inbound).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("<Response>"), "Twilio gets TwiML back: {answer}");
    // Twilio retries: the same message again is stored once.
    let (status, _) = rig.twilio_post(&sms, &inbound).await;
    assert_eq!(status, 200);
    let conversations = rig.conversations().await;
    assert_eq!(conversations.len(), 1);
    let conversation = conversations[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(rig.messages(&conversation).await.len(), 1, "a redelivered webhook is stored once");

    // 2. The same person on WhatsApp (same number): same contact, same conversation.
    let (status, answer) = rig
        .meta_post(&whatsapp, &whatsapp_text("393471234567", "wamid.HBgLMzkzNDcxMjM0NTY3FQIAEhggQ0E", "Giulia Rossi", "Ci siete?"))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(rig.conversations().await.len(), 1, "WhatsApp continues the SMS conversation");
    let messages = rig.messages(&conversation).await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["channel"], "sms");
    assert_eq!(messages[1]["channel"], "whatsapp");
    assert_eq!(messages[1]["text"], "Ci siete?");
    let (_, contact) = rig.app.get(&format!("/api/v1/contacts/{}", messages[0]["contact_id"].as_str().unwrap())).await;
    assert_eq!(contact["name"], "Giulia Rossi", "the WhatsApp profile name names the contact");

    // 3. The reply options: WhatsApp is the default (the last message came
    //    from there), its window is open; Messenger has no identity.
    let (status, options) = rig.app.get(&format!("/api/v1/conversations/{conversation}/reply-options")).await;
    assert_eq!(status, 200, "{options}");
    let option = |channel: &str| options.as_array().unwrap().iter().find(|o| o["channel"] == channel).cloned().unwrap();
    assert_eq!(options[0]["channel"], "whatsapp", "the default comes first: {options}");
    assert_eq!(option("whatsapp")["default"], true);
    assert_eq!(option("whatsapp")["sent_by_threadline"], true, "the inbox is connected to WhatsApp");
    assert_eq!(option("whatsapp")["allowed"], true);
    assert!(option("whatsapp")["window_closes_at"].is_string());
    assert_eq!(option("sms")["allowed"], true);
    assert_eq!(option("sms")["recipient"], "+393471234567");
    assert_eq!(option("messenger")["allowed"], false);
    assert_eq!(option("messenger")["blocker"], "no_identity");
    assert_eq!(option("telegram")["blocker"], "no_identity");

    // 4. The agent answers without choosing: it goes out on WhatsApp.
    let (status, reply) = rig.reply(&conversation, json!({ "text": "Buongiorno Giulia, controllo subito." })).await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["channel"], "whatsapp");
    assert_eq!(reply["delivery_status"], "pending");
    let sends = rig.provider.wait_for_sends(1, 10).await;
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].path, format!("/v21.0/{PHONE_NUMBER_ID}/messages"));
    assert_eq!(sends[0].header("authorization"), Some(format!("Bearer {ACCESS_TOKEN}").as_str()));
    let body = sends[0].json();
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(body["to"], "393471234567");
    assert_eq!(body["type"], "text");
    assert_eq!(body["text"]["body"], "Buongiorno Giulia, controllo subito.");
    let reply_id = reply["id"].as_str().unwrap();
    let sent = rig.wait_message(reply_id, |m| m["delivery_status"] == "sent").await;
    assert_eq!(sent["delivery_status"], "sent", "{sent}");
    let wamid = sent["provider_message_id"].as_str().unwrap().to_owned();
    assert!(wamid.starts_with("wamid."));

    // 5. WhatsApp reports delivered, then read; a late `sent` changes nothing.
    for report in ["delivered", "read", "sent"] {
        let (status, _) = rig.meta_post(&whatsapp, &whatsapp_status(&wamid, "393471234567", report)).await;
        assert_eq!(status, 200);
    }
    let (_, read) = rig.app.get(&format!("/api/v1/messages/{reply_id}")).await;
    assert_eq!(read["delivery_status"], "read", "reports only move forward: {read}");

    // 6. The agent answers on SMS instead.
    let (status, reply) =
        rig.reply(&conversation, json!({ "channel": "sms", "text": "Le scrivo anche per SMS: il corriere consegna domani." })).await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["inbox_id"].as_str(), Some(sms.id.as_str()));
    let sends = rig.provider.wait_for_sends(2, 10).await;
    let twilio = &sends[1];
    assert_eq!(twilio.path, format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"));
    assert!(twilio.header("authorization").unwrap().starts_with("Basic "));
    assert_eq!(twilio.field("To").as_deref(), Some("+393471234567"));
    assert_eq!(twilio.field("From").as_deref(), Some(SMS_NUMBER));
    assert_eq!(twilio.field("Body").as_deref(), Some("Le scrivo anche per SMS: il corriere consegna domani."));
    assert_eq!(twilio.field("StatusCallback").as_deref(), Some(sms.webhook_url.as_str()));
    let sms_reply_id = reply["id"].as_str().unwrap();
    let queued = rig.wait_message(sms_reply_id, |m| m["provider_message_id"].is_string()).await;
    assert_eq!(queued["delivery_status"], "pending", "Twilio queued it; not sent yet: {queued}");
    let message_sid = queued["provider_message_id"].as_str().unwrap().to_owned();

    // Twilio's status callbacks: sent, then undelivered with an error code.
    let callback = |status: &'static str, error: Option<&'static str>| {
        let mut params =
            vec![("MessageSid", message_sid.as_str()), ("MessageStatus", status), ("AccountSid", TWILIO_SID), ("ApiVersion", "2010-04-01")];
        if let Some(code) = error {
            params.push(("ErrorCode", code));
        }
        params
    };
    let (status, _) = rig.twilio_post(&sms, &callback("sent", None)).await;
    assert_eq!(status, 200);
    let (_, m) = rig.app.get(&format!("/api/v1/messages/{sms_reply_id}")).await;
    assert_eq!(m["delivery_status"], "sent");
    let (status, _) = rig.twilio_post(&sms, &callback("undelivered", Some("30003"))).await;
    assert_eq!(status, 200);
    let (_, m) = rig.app.get(&format!("/api/v1/messages/{sms_reply_id}")).await;
    assert_eq!(m["delivery_status"], "failed");
    assert!(m["delivery_error"].as_str().unwrap().contains("30003"), "{m}");

    // 7. On Telegram the customer shares their phone number: the same
    //    contact, the same conversation; the agent answers there.
    let share = json!({
        "update_id": 500001,
        "message": {
            "message_id": 41,
            "from": { "id": 912345678, "is_bot": false, "first_name": "Giulia", "language_code": "it" },
            "chat": { "id": 912345678, "first_name": "Giulia", "type": "private" },
            "date": 1_700_000_500,
            "contact": { "phone_number": "393471234567", "first_name": "Giulia", "user_id": 912345678 },
        }
    });
    let (status, answer) = rig.telegram_post(&telegram, &share, Some(TELEGRAM_SECRET)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(rig.conversations().await.len(), 1, "Telegram continues the same conversation");
    let (status, reply) = rig.reply(&conversation, json!({ "text": "Eccomi anche qui su Telegram." })).await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["channel"], "telegram", "the default follows the customer's last channel");
    let sends = rig.provider.wait_for_sends(3, 10).await;
    assert_eq!(sends[2].path, format!("/bot{BOT_TOKEN}/sendMessage"));
    assert_eq!(sends[2].json(), json!({ "chat_id": 912345678, "text": "Eccomi anche qui su Telegram." }));
    let sent = rig.wait_message(reply["id"].as_str().unwrap(), |m| m["delivery_status"] == "sent").await;
    assert!(sent["provider_message_id"].as_str().unwrap().starts_with("912345678:"), "{sent}");

    // The whole story is in one conversation, each message on its channel.
    let channels: Vec<Value> = rig.messages(&conversation).await.iter().map(|m| m["channel"].clone()).collect();
    assert_eq!(channels, ["sms", "whatsapp", "whatsapp", "sms", "telegram", "telegram"]);
}
