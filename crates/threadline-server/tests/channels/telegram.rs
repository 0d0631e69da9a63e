//! Telegram: the secret-token header, photos through getFile, edits and
//! group chats ignored, replies with media.

use serde_json::json;

use crate::channel_tests;
use crate::support::*;

channel_tests!(telegram_updates_are_checked_and_stored, providers_profiles_fill_what_the_contact_lacks);

async fn telegram_updates_are_checked_and_stored(rig: Rig) {
    let inbox = rig.telegram_inbox().await;
    let update = telegram_text(10, 424242, 7, "Ciao!");
    let (status, _) = rig.telegram_post(&inbox, &update, None).await;
    assert_eq!(status, 403, "no secret token");
    let (status, _) = rig.telegram_post(&inbox, &update, Some("wrong")).await;
    assert_eq!(status, 403, "wrong secret token");
    assert!(rig.conversations().await.is_empty(), "a refused webhook stores nothing");
    let (status, _) = rig.telegram_post(&inbox, &update, Some(TELEGRAM_SECRET)).await;
    assert_eq!(status, 200);

    rig.provider.put_media("AgACAgQAAxkBAAIBZ2", "image/jpeg", b"the big photo".to_vec());
    let photo = json!({
        "update_id": 11,
        "message": {
            "message_id": 8,
            "from": { "id": 424242, "is_bot": false, "first_name": "Marco" },
            "chat": { "id": 424242, "first_name": "Marco", "type": "private" },
            "date": 1_700_000_010,
            "photo": [
                { "file_id": "AgACAgQAAxkBAAIBZ1", "file_unique_id": "AQADs", "file_size": 1200, "width": 90, "height": 67 },
                { "file_id": "AgACAgQAAxkBAAIBZ2", "file_unique_id": "AQADm", "file_size": 50000, "width": 1280, "height": 960 }
            ],
            "caption": "La scatola era rotta"
        }
    });
    let (status, _) = rig.telegram_post(&inbox, &photo, Some(TELEGRAM_SECRET)).await;
    assert_eq!(status, 200);
    let edited = json!({ "update_id": 12, "edited_message": update["message"].clone() });
    let (status, _) = rig.telegram_post(&inbox, &edited, Some(TELEGRAM_SECRET)).await;
    assert_eq!(status, 200, "edits are acknowledged");
    let mut group = telegram_text(13, -100123, 9, "hello group");
    group["message"]["chat"] = json!({ "id": -100123, "title": "Fans", "type": "supergroup" });
    let (status, _) = rig.telegram_post(&inbox, &group, Some(TELEGRAM_SECRET)).await;
    assert_eq!(status, 200, "group chats are acknowledged and ignored");

    let conversations = rig.conversations().await;
    assert_eq!(conversations.len(), 1);
    let conversation = conversations[0]["id"].as_str().unwrap().to_owned();
    let messages = rig.messages(&conversation).await;
    assert_eq!(messages.len(), 2, "the edit and the group message were not stored");
    assert_eq!(messages[1]["text"], "La scatola era rotta");
    assert_eq!(messages[1]["provider_message_id"], "424242:8");
    assert_eq!(messages[1]["attachments"][0]["size"], 13, "the largest photo size was fetched");
    let (_, contact) = rig.app.get(&format!("/api/v1/contacts/{}", messages[0]["contact_id"].as_str().unwrap())).await;
    assert_eq!(contact["name"], "Marco Bianchi");

    use base64::Engine;
    let image = base64::engine::general_purpose::STANDARD.encode(b"png bytes");
    let (status, reply) = rig
        .reply(
            &conversation,
            json!({ "text": "Ecco l'etichetta di reso", "attachments": [{ "filename": "reso.png", "content_type": "image/png", "data_base64": image }] }),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    let sends = rig.provider.wait_for_sends(1, 10).await;
    assert_eq!(sends[0].path, format!("/bot{BOT_TOKEN}/sendPhoto"));
    // Files are uploaded: by URL Telegram takes only some document types.
    assert_eq!(sends[0].multipart_field("chat_id").as_deref(), Some("424242"));
    assert_eq!(sends[0].multipart_field("caption").as_deref(), Some("Ecco l'etichetta di reso"));
    let file = sends[0].multipart().into_iter().find(|p| p.name == "photo").expect("the photo part");
    assert_eq!(file.filename.as_deref(), Some("reso.png"));
    assert_eq!(file.content_type.as_deref(), Some("image/png"));
    assert_eq!(file.data, b"png bytes");

    // A Word document goes as a document, which Telegram would not fetch by URL.
    let docx = base64::engine::general_purpose::STANDARD.encode(b"PK docx bytes");
    let (status, reply) = rig
        .reply(
            &conversation,
            json!({ "attachments": [{ "filename": "modulo.docx",
                "content_type": "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "data_base64": docx }] }),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    let sends = rig.provider.wait_for_sends(2, 10).await;
    assert_eq!(sends[1].path, format!("/bot{BOT_TOKEN}/sendDocument"));
    let file = sends[1].multipart().into_iter().find(|p| p.name == "document").expect("the document part");
    assert_eq!(file.filename.as_deref(), Some("modulo.docx"));
    assert_eq!(file.data, b"PK docx bytes");
    rig.wait_message(reply["id"].as_str().unwrap(), |m| m["delivery_status"] == "sent").await;
}

/// Telegram's `language_code` sets a new contact's language; a contact
/// without a name or language gets them from the provider's profile, and
/// one with them keeps its own.
async fn providers_profiles_fill_what_the_contact_lacks(rig: Rig) {
    let inbox = rig.telegram_inbox().await;
    let (status, _) = rig.telegram_post(&inbox, &telegram_text(30, 818181, 1, "Ciao"), Some(TELEGRAM_SECRET)).await;
    assert_eq!(status, 200);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    let contact_id = rig.messages(&conversation).await[0]["contact_id"].as_str().unwrap().to_owned();
    let (_, contact) = rig.app.get(&format!("/api/v1/contacts/{contact_id}")).await;
    assert_eq!((contact["name"].as_str(), contact["language"].as_str()), (Some("Marco Bianchi"), Some("it")), "{contact}");

    // A customer first known without a profile (no names, no language)…
    let mut bare = telegram_text(31, 828282, 1, "hello");
    bare["message"]["from"] = json!({ "id": 828282, "is_bot": false });
    bare["message"]["chat"] = json!({ "id": 828282, "type": "private" });
    rig.telegram_post(&inbox, &bare, Some(TELEGRAM_SECRET)).await;
    let mut later = telegram_text(32, 828282, 2, "hello again");
    later["message"]["from"] = json!({ "id": 828282, "is_bot": false, "first_name": "Jane", "last_name": "Doe", "language_code": "en-GB" });
    rig.telegram_post(&inbox, &later, Some(TELEGRAM_SECRET)).await;
    let (_, contacts) = rig.app.get("/api/v1/contacts?q=Jane").await;
    let jane = &contacts["data"][0];
    assert_eq!((jane["name"].as_str(), jane["language"].as_str()), (Some("Jane Doe"), Some("en-GB")), "{contacts}");

    // …while what the business set is never overwritten.
    let (status, _) = rig.app.patch(&format!("/api/v1/contacts/{contact_id}"), json!({ "name": "Marco B.", "language": "en" })).await;
    assert_eq!(status, 200);
    let mut other = telegram_text(33, 818181, 2, "Sono ancora io");
    other["message"]["from"]["language_code"] = json!("de");
    rig.telegram_post(&inbox, &other, Some(TELEGRAM_SECRET)).await;
    let (_, contact) = rig.app.get(&format!("/api/v1/contacts/{contact_id}")).await;
    assert_eq!((contact["name"].as_str(), contact["language"].as_str()), (Some("Marco B."), Some("en")));
}
