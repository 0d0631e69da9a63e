//! Messenger and Instagram: the Send API, the 24-hour window and the
//! human-agent tag, echoes and delivery receipts.

use serde_json::json;

use crate::channel_tests;
use crate::support::*;

channel_tests!(messenger_follows_the_window_and_the_human_agent_tag, instagram_messages_arrive_and_replies_go_out);

async fn messenger_follows_the_window_and_the_human_agent_tag(rig: Rig) {
    let inbox = rig.meta_inbox("messenger").await;
    let message = json!({
        "sender": { "id": "6789012345678901" }, "recipient": { "id": PAGE_ID }, "timestamp": 1_700_000_000_000u64,
        "message": { "mid": "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P", "text": "hello, world!" }
    });
    let (status, answer) = rig.meta_post(&inbox, &meta_messaging("page", message.clone())).await;
    assert_eq!((status, answer.as_str()), (200, "EVENT_RECEIVED"));
    // Our own message echoed back is not stored as the customer's.
    let echo = json!({ "sender": { "id": PAGE_ID }, "recipient": { "id": "6789012345678901" }, "timestamp": 1_700_000_000_001u64,
        "message": { "mid": "m_echo1", "is_echo": true, "app_id": 1517776481860111u64, "text": "an echo" } });
    let (status, _) = rig.meta_post(&inbox, &meta_messaging("page", echo)).await;
    assert_eq!(status, 200);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(rig.messages(&conversation).await.len(), 1, "the echo is ignored");

    let (status, reply) = rig.reply(&conversation, json!({ "text": "Hi! How can we help?" })).await;
    assert_eq!(status, 201, "{reply}");
    let sends = rig.provider.wait_for_sends(1, 10).await;
    assert_eq!(sends[0].path, format!("/v21.0/{PAGE_ID}/messages"));
    assert_eq!(
        sends[0].json(),
        json!({ "recipient": { "id": "6789012345678901" }, "messaging_type": "RESPONSE", "message": { "text": "Hi! How can we help?" } })
    );
    let sent = rig.wait_message(reply["id"].as_str().unwrap(), |m| m["delivery_status"] == "sent").await;
    let mid = sent["provider_message_id"].as_str().unwrap().to_owned();
    let delivery = json!({ "sender": { "id": "6789012345678901" }, "recipient": { "id": PAGE_ID },
        "delivery": { "mids": [mid], "watermark": 1_700_000_100_000u64 } });
    let (status, _) = rig.meta_post(&inbox, &meta_messaging("page", delivery)).await;
    assert_eq!(status, 200);
    let (_, delivered) = rig.app.get(&format!("/api/v1/messages/{}", reply["id"].as_str().unwrap())).await;
    assert_eq!(delivered["delivery_status"], "delivered");

    // Three days on: a person may still answer, with the human-agent tag.
    rig.age_messages(72).await;
    let (status, options) = rig.app.get(&format!("/api/v1/conversations/{conversation}/reply-options")).await;
    assert_eq!(status, 200);
    let messenger = options.as_array().unwrap().iter().find(|o| o["channel"] == "messenger").unwrap().clone();
    assert_eq!(messenger["allowed"], true);
    assert_eq!(messenger["human_agent_tag"], true);
    let (status, _) = rig.reply(&conversation, json!({ "text": "Following up on your question." })).await;
    assert_eq!(status, 201);
    let sends = rig.provider.wait_for_sends(2, 10).await;
    assert_eq!(sends[1].json()["messaging_type"], "MESSAGE_TAG");
    assert_eq!(sends[1].json()["tag"], "HUMAN_AGENT");

    // After seven days nothing free-form may be sent, and Messenger has no templates.
    rig.age_messages(24 * 5).await;
    let (status, refused) = rig.reply(&conversation, json!({ "text": "Still there?" })).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "window_closed");
    assert!(!refused["error"]["message"].as_str().unwrap().contains("template"), "no template to point to: {refused}");
}

async fn instagram_messages_arrive_and_replies_go_out(rig: Rig) {
    let inbox = rig.meta_inbox("instagram").await;
    rig.provider.put_media("ig-photo-1", "image/jpeg", b"jpeg bytes".to_vec());
    let event = json!({
        "sender": { "id": "17841400000000001" }, "recipient": { "id": PAGE_ID }, "timestamp": 1_700_000_000_000u64,
        "message": { "mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAx", "attachments": [{ "type": "image", "payload": { "url": rig.provider.media_url("ig-photo-1") } }] }
    });
    let (status, _) = rig.meta_post(&inbox, &meta_messaging("instagram", event)).await;
    assert_eq!(status, 200);
    // A page webhook posted to the Instagram inbox is ignored, not stored.
    let (status, _) =
        rig.meta_post(&inbox, &meta_messaging("page", json!({ "sender": { "id": "1" }, "message": { "mid": "m_x", "text": "x" } }))).await;
    assert_eq!(status, 200);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    let messages = rig.messages(&conversation).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["channel"], "instagram");
    assert_eq!(messages[0]["attachments"][0]["size"], 10);

    let (status, reply) = rig.reply(&conversation, json!({ "text": "Grazie per la foto!" })).await;
    assert_eq!(status, 201, "{reply}");
    let sends = rig.provider.wait_for_sends(1, 10).await;
    assert_eq!(sends[0].json()["recipient"]["id"], "17841400000000001");
    let long = "x".repeat(1001);
    let (status, refused) = rig.reply(&conversation, json!({ "text": long })).await;
    assert_eq!(status, 422, "Instagram texts are at most 1000 characters: {refused}");
}
