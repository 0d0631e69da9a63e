//! Push notifications for the in-app chat, on both databases, against a
//! stand-in for Google's token endpoint, FCM HTTP v1 and APNs (HTTP/2)
//! that checks the signatures and speaks their documented formats: the app
//! registers its devices through the chat API; an agent's reply to a user
//! whose chat is closed reaches every device; an open chat gets none; a
//! token the service no longer knows is forgotten; a busy service is
//! retried.

use futures_util::StreamExt;
use serde_json::{Value, json};
use threadline_testkit::{APNS_KEY_ID, APNS_TEAM, APNS_TOPIC, FCM_PROJECT, PushStandIn};

use crate::channel_tests;
use crate::support::*;

channel_tests!(an_agents_reply_reaches_a_closed_app_on_every_device, an_open_chat_is_not_notified_and_bad_settings_are_refused);

const FCM_TOKEN: &str = "eHcy9Xk1Sb6fXZ0tI9Nq1R:APA91bGz2lP3ZqWmN4vKx8";
const APNS_TOKEN: &str = "5f0e9c3a1b2d4e6f80716253a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7";

async fn push_rig(mut rig: Rig) -> (Rig, PushStandIn) {
    let push = PushStandIn::start().await;
    rig.app.restart(|s| push.configure(s)).await;
    (rig, push)
}

async fn app_inbox(rig: &Rig, push: &PushStandIn) -> String {
    let (status, inbox) = rig
        .app
        .post(
            "/api/v1/inboxes",
            json!({ "channel": "in_app", "name": "App", "settings": {
                        "title": "Bottega Aurora", "apns_key_id": APNS_KEY_ID, "apns_team_id": APNS_TEAM, "apns_topic": APNS_TOPIC,
                        "apns_environment": "sandbox" },
                    "secrets": { "fcm_service_account": push.service_account(), "apns_key": push.apns_key() } }),
        )
        .await;
    assert_eq!(status, 201, "{inbox}");
    assert_eq!(inbox["provider_connected"], true, "{inbox}");
    assert_eq!(inbox["settings"]["fcm_project_id"], FCM_PROJECT, "the key file's project shows: {inbox}");
    assert!(!inbox.to_string().contains("PRIVATE KEY"), "secrets are never returned: {inbox}");
    inbox["id"].as_str().unwrap().to_owned()
}

async fn chat(rig: &Rig, method: reqwest::Method, url: String, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut request = rig.http.request(method, url);
    if let Some(token) = token {
        request = request.header("x-threadline-visitor", token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A visitor of the app's chat: their token.
async fn visitor(rig: &Rig, inbox: &str) -> String {
    let (status, session) = chat(rig, reqwest::Method::POST, rig.app.url(&format!("/widget/{inbox}/session")), None, Some(json!({}))).await;
    assert_eq!(status, 200, "{session}");
    session["token"].as_str().unwrap().to_owned()
}

async fn device(rig: &Rig, inbox: &str, token: &str, method: reqwest::Method, platform: &str, device: &str) -> (u16, Value) {
    let url = rig.app.url(&format!("/widget/{inbox}/devices"));
    chat(rig, method, url, Some(token), Some(json!({ "platform": platform, "token": device }))).await
}

async fn write(rig: &Rig, inbox: &str, token: &str, text: &str) -> String {
    let url = rig.app.url(&format!("/widget/{inbox}/messages"));
    let (status, body) = chat(rig, reqwest::Method::POST, url, Some(token), Some(json!({ "text": text }))).await;
    assert_eq!(status, 201, "{body}");
    rig.conversations().await[0]["id"].as_str().unwrap().to_owned()
}

async fn reply(rig: &Rig, conversation: &str, text: &str) -> Value {
    let (status, reply) = rig.reply(conversation, json!({ "text": text })).await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["channel"], "in_app", "{reply}");
    reply
}

async fn an_agents_reply_reaches_a_closed_app_on_every_device(rig: Rig) {
    let (rig, push) = push_rig(rig).await;
    let inbox = app_inbox(&rig, &push).await;
    let token = visitor(&rig, &inbox).await;

    // The app registers its devices; bad ones are refused field by field.
    assert_eq!(device(&rig, &inbox, &token, reqwest::Method::POST, "fcm", FCM_TOKEN).await.0, 201);
    assert_eq!(device(&rig, &inbox, &token, reqwest::Method::POST, "apns", &APNS_TOKEN.to_uppercase()).await.0, 201);
    let (status, body) = device(&rig, &inbox, &token, reqwest::Method::POST, "pager", FCM_TOKEN).await;
    assert_eq!((status, body["error"]["fields"][0]["field"].as_str()), (422, Some("platform")), "{body}");
    let (status, body) = device(&rig, &inbox, &token, reqwest::Method::POST, "apns", "not-hex").await;
    assert_eq!((status, body["error"]["fields"][0]["field"].as_str()), (422, Some("token")), "{body}");
    let (status, _) = chat(
        &rig,
        reqwest::Method::POST,
        rig.app.url(&format!("/widget/{inbox}/devices")),
        None,
        Some(json!({ "platform": "fcm", "token": FCM_TOKEN })),
    )
    .await;
    assert_eq!(status, 401, "no visitor, no device");

    let conversation = write(&rig, &inbox, &token, "Il mio ordine è partito?").await;
    // The app is closed: the reply goes to both devices.
    let first = reply(&rig, &conversation, "Ciao Giulia,\nsì: parte oggi con BRT.").await;
    let pushes = push.wait_for_pushes(2, 10).await;
    assert_eq!(pushes.len(), 2, "{:?}", push.refusals());
    let fcm = pushes.iter().find(|p| p.platform == "fcm").unwrap();
    assert_eq!(fcm.device, FCM_TOKEN);
    assert_eq!((fcm.title.as_str(), fcm.body.as_str()), ("Bottega Aurora", "Ciao Giulia, sì: parte oggi con BRT."));
    assert_eq!(fcm.payload["data"]["conversation_id"], conversation.as_str());
    assert_eq!(fcm.payload["data"]["message_id"], first["id"]);
    let apns = pushes.iter().find(|p| p.platform == "apns").unwrap();
    assert_eq!(apns.device, APNS_TOKEN, "registered in one spelling");
    assert_eq!(apns.payload["aps"]["alert"]["body"], "Ciao Giulia, sì: parte oggi con BRT.");
    assert_eq!(apns.payload["aps"]["thread-id"], conversation.as_str());
    let header = |name: &str| apns.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(header("apns-push-type").as_deref(), Some("alert"));
    assert_eq!(header("apns-topic").as_deref(), Some(APNS_TOPIC));
    assert_eq!(header("apns-id").map(|id| id.len()), Some(36), "a canonical UUID");
    let sent = rig.wait_message(first["id"].as_str().unwrap(), |m| m["delivery_status"] == "sent").await;
    assert_eq!(sent["delivery_status"], "sent", "{sent}");

    // The access token is kept: a second reply asks Google for none.
    reply(&rig, &conversation, "Ecco il tracking: 0123").await;
    assert_eq!(push.wait_for_pushes(4, 10).await.len(), 4);
    assert_eq!(push.access_tokens_issued(), 1);

    // FCM no longer knows the phone: it is forgotten; the iPad still gets it.
    push.unregister(FCM_TOKEN);
    let third = reply(&rig, &conversation, "Arriva domani.").await;
    let third = rig.wait_message(third["id"].as_str().unwrap(), |m| m["delivery_status"] != "pending").await;
    assert_eq!(third["delivery_status"], "sent", "{third}");
    assert_eq!(push.pushes().len(), 5);
    reply(&rig, &conversation, "Buona giornata!").await;
    let pushes = push.wait_for_pushes(6, 10).await;
    assert_eq!(pushes.len(), 6);
    assert_eq!(pushes[5].platform, "apns", "the forgotten phone is not tried again");
    assert_eq!(push.refusals().iter().filter(|r| *r == "unregistered FCM token").count(), 1);

    // A busy service is tried again.
    push.fail_next(1);
    let retried = reply(&rig, &conversation, "Ci sei?").await;
    let retried = rig.wait_message(retried["id"].as_str().unwrap(), |m| m["delivery_status"] != "pending").await;
    assert_eq!(retried["delivery_status"], "sent", "{retried}");
    assert_eq!(push.pushes().len(), 7);

    // Signed out of the app: its device is unregistered, and nothing is pushed.
    let (status, _) = device(&rig, &inbox, &token, reqwest::Method::DELETE, "apns", APNS_TOKEN).await;
    assert_eq!(status, 204);
    assert_eq!(device(&rig, &inbox, &token, reqwest::Method::DELETE, "apns", APNS_TOKEN).await.0, 404);
    let quiet = reply(&rig, &conversation, "Ti scriviamo qui quando arriva.").await;
    assert!(quiet["delivery_status"] != "failed", "{quiet}");
    run_jobs(&rig).await;
    assert_eq!(push.pushes().len(), 7, "no device, no push");
}

async fn an_open_chat_is_not_notified_and_bad_settings_are_refused(rig: Rig) {
    let (rig, push) = push_rig(rig).await;
    // Keys that are not keys, and an APNs key without its ids, are refused.
    let (status, body) = rig
        .app
        .post(
            "/api/v1/inboxes",
            json!({ "channel": "in_app", "name": "App", "settings": {},
                    "secrets": { "fcm_service_account": "{\"project_id\": \"x\"}", "apns_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----" } }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        ["secrets.fcm_service_account", "settings.apns_key_id", "settings.apns_team_id", "settings.apns_topic", "secrets.apns_key"]
    );

    let inbox = app_inbox(&rig, &push).await;
    let token = visitor(&rig, &inbox).await;
    // Registering before writing makes the app's user a customer.
    assert_eq!(device(&rig, &inbox, &token, reqwest::Method::POST, "fcm", FCM_TOKEN).await.0, 201);
    let conversation = write(&rig, &inbox, &token, "Avete la taglia 38?").await;

    // The chat is open in the app: the reply shows there, and no push goes.
    let live = rig.app.url(&format!("/widget/{inbox}/live?token={token}")).replacen("http://", "ws://", 1);
    let (mut socket, _) = tokio_tungstenite::connect_async(live).await.unwrap();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), socket.next()).await;
    let open = reply(&rig, &conversation, "Sì, la 38 c'è.").await;
    let heard = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(Ok(frame)) = socket.next().await {
            if frame.to_text().unwrap_or_default().contains("la 38 c'è") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(heard, Ok(true), "the open chat shows the reply");
    run_jobs(&rig).await;
    assert!(push.pushes().is_empty(), "an open chat is not notified: {:?}", push.pushes());
    assert_ne!(open["delivery_status"], "failed");

    // Closed again: the next reply is pushed.
    drop(socket);
    let mut closed = false;
    for _ in 0..50 {
        reply(&rig, &conversation, "Te la teniamo da parte.").await;
        if !push.wait_for_pushes(1, 1).await.is_empty() {
            closed = true;
            break;
        }
    }
    assert!(closed, "a reply after the chat closed is pushed");
    assert_eq!(push.pushes()[0].body, "Te la teniamo da parte.");
}
