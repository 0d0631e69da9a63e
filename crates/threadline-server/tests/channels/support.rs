//! A server wired to the provider stand-in, inboxes of every provider
//! channel, and signed webhooks in each provider's format.

use std::time::Duration;

use serde_json::{Value, json};
use threadline_channels::{meta, twilio};
use threadline_testkit::{Backend, ProviderStandIn, TestApp, spawn_app_with};

pub const TWILIO_SID: &str = "ACae1f3a5b7c9d0e2f4a6b8c0d2e4f6a8b";
pub const TWILIO_TOKEN: &str = "twilio-auth-token-for-tests";
pub const SMS_NUMBER: &str = "+15005550006";
pub const APP_SECRET: &str = "meta-app-secret-for-tests";
pub const VERIFY_TOKEN: &str = "meta-verify-token";
pub const ACCESS_TOKEN: &str = "EAAG-access-token";
pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const PAGE_ID: &str = "103512345678901";
pub const BOT_TOKEN: &str = "7000000001:AAF-test-bot-token";
pub const TELEGRAM_SECRET: &str = "telegram-webhook-secret_1";

/// Runs a test body against both databases, with the provider stand-in.
#[macro_export]
macro_rules! channel_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::rig(threadline_testkit::Backend::Sqlite).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::rig(threadline_testkit::Backend::Postgres).await).await;
            }
        }
    )*};
}

pub struct Rig {
    pub app: TestApp,
    pub provider: ProviderStandIn,
    pub http: reqwest::Client,
}

pub struct TestInbox {
    pub id: String,
    pub webhook_url: String,
}

pub async fn rig(backend: Backend) -> Rig {
    let provider = ProviderStandIn::start().await;
    let app = spawn_app_with(backend, |s| {
        provider.configure(s);
        s.send_max_attempts = 3;
    })
    .await;
    Rig { app, provider, http: reqwest::Client::new() }
}

impl Rig {
    pub async fn inbox(&self, channel: &str, settings: Value, secrets: Value) -> TestInbox {
        let (status, body) = self
            .app
            .post("/api/v1/inboxes", json!({ "channel": channel, "name": channel, "settings": settings, "secrets": secrets }))
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["provider_connected"], true, "{body}");
        assert!(body.get("secrets").is_none(), "secrets are never returned: {body}");
        TestInbox { id: body["id"].as_str().unwrap().to_owned(), webhook_url: body["webhook_url"].as_str().unwrap().to_owned() }
    }

    pub async fn sms_inbox(&self) -> TestInbox {
        self.inbox("sms", json!({ "account_sid": TWILIO_SID, "from": SMS_NUMBER }), json!({ "auth_token": TWILIO_TOKEN })).await
    }

    pub async fn whatsapp_inbox(&self) -> TestInbox {
        self.inbox(
            "whatsapp",
            json!({ "phone_number_id": PHONE_NUMBER_ID }),
            json!({ "access_token": ACCESS_TOKEN, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN }),
        )
        .await
    }

    pub async fn meta_inbox(&self, channel: &str) -> TestInbox {
        self.inbox(
            channel,
            json!({ "page_id": PAGE_ID }),
            json!({ "access_token": ACCESS_TOKEN, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN }),
        )
        .await
    }

    pub async fn telegram_inbox(&self) -> TestInbox {
        self.inbox("telegram", json!({}), json!({ "bot_token": BOT_TOKEN, "webhook_secret": TELEGRAM_SECRET })).await
    }

    /// POSTs a Twilio webhook signed as Twilio signs it.
    pub async fn twilio_post(&self, inbox: &TestInbox, params: &[(&str, &str)]) -> (u16, String) {
        let owned: Vec<(String, String)> = params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let signature = twilio::signature(TWILIO_TOKEN, &inbox.webhook_url, &owned);
        self.twilio_post_signed(inbox, params, &signature).await
    }

    pub async fn twilio_post_signed(&self, inbox: &TestInbox, params: &[(&str, &str)], signature: &str) -> (u16, String) {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            form.append_pair(k, v);
        }
        let response = self
            .http
            .post(&inbox.webhook_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(form.finish())
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// POSTs a Meta webhook (WhatsApp, Messenger, Instagram) signed with the app secret.
    pub async fn meta_post(&self, inbox: &TestInbox, body: &Value) -> (u16, String) {
        let raw = serde_json::to_vec(body).unwrap();
        self.meta_post_raw(inbox, raw.clone(), Some(meta::sign(APP_SECRET, &raw))).await
    }

    pub async fn meta_post_raw(&self, inbox: &TestInbox, raw: Vec<u8>, signature: Option<String>) -> (u16, String) {
        let mut request = self.http.post(&inbox.webhook_url).header("content-type", "application/json").body(raw);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    pub async fn telegram_post(&self, inbox: &TestInbox, update: &Value, secret: Option<&str>) -> (u16, String) {
        let mut request = self.http.post(&inbox.webhook_url).json(update);
        if let Some(secret) = secret {
            request = request.header("x-telegram-bot-api-secret-token", secret);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Polls a message until `predicate` holds (at most 10 s); returns it.
    pub async fn wait_message(&self, id: &str, predicate: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (status, message) = self.app.get(&format!("/api/v1/messages/{id}")).await;
            assert_eq!(status, 200, "{message}");
            if predicate(&message) || tokio::time::Instant::now() > deadline {
                return message;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The messages of a conversation, oldest first.
    pub async fn messages(&self, conversation: &str) -> Vec<Value> {
        let (status, page) = self.app.get(&format!("/api/v1/conversations/{conversation}/messages?limit=200")).await;
        assert_eq!(status, 200, "{page}");
        page["data"].as_array().unwrap().clone()
    }

    /// Every conversation of the account.
    pub async fn conversations(&self) -> Vec<Value> {
        let (status, page) = self.app.get("/api/v1/conversations?limit=200").await;
        assert_eq!(status, 200, "{page}");
        page["data"].as_array().unwrap().clone()
    }

    pub async fn reply(&self, conversation: &str, body: Value) -> (u16, Value) {
        self.app.post(&format!("/api/v1/conversations/{conversation}/messages"), body).await
    }

    /// Moves every message of the account `hours` into the past, as if the
    /// conversation had happened then.
    /// Waits (up to 10 s) until the conversation satisfies `predicate`.
    pub async fn wait_conversation(&self, id: &str, predicate: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..200 {
            let (_, conversation) = self.app.get(&format!("/api/v1/conversations/{id}")).await;
            if predicate(&conversation) {
                return conversation;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for conversation {id}");
    }

    pub async fn age_messages(&self, hours: i64) {
        let micros = hours * 3_600_000_000;
        self.app.sql(&format!("UPDATE messages SET created_at = created_at - {micros} WHERE account_id = '{}'", self.app.account_id)).await;
    }
}

/// A WhatsApp Cloud API webhook carrying one text message, shaped as in
/// Meta's documentation.
pub fn whatsapp_text(wa_id: &str, message_id: &str, name: &str, text: &str) -> Value {
    whatsapp_messages(
        wa_id,
        name,
        json!([{ "from": wa_id, "id": message_id, "timestamp": "1700000000", "type": "text", "text": { "body": text } }]),
    )
}

pub fn whatsapp_messages(wa_id: &str, name: &str, messages: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
                    "contacts": [{ "profile": { "name": name }, "wa_id": wa_id }],
                    "messages": messages,
                },
                "field": "messages"
            }]
        }]
    })
}

pub fn whatsapp_status(message_id: &str, recipient: &str, status: &str) -> Value {
    let mut entry = json!({ "id": message_id, "status": status, "timestamp": "1700000100", "recipient_id": recipient });
    if status == "failed" {
        entry["errors"] = json!([{ "code": 131026, "title": "Message undeliverable", "message": "Message undeliverable",
            "error_data": { "details": "Message Undeliverable." } }]);
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
            "statuses": [entry],
        }, "field": "messages" }] }]
    })
}

/// A Messenger (`page`) or Instagram (`instagram`) webhook with one event.
pub fn meta_messaging(object: &str, event: Value) -> Value {
    json!({ "object": object, "entry": [{ "id": PAGE_ID, "time": 1_700_000_000_000u64, "messaging": [event] }] })
}

/// A Telegram `Update` with a private text message.
pub fn telegram_text(update_id: i64, chat_id: i64, message_id: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": { "id": chat_id, "is_bot": false, "first_name": "Marco", "last_name": "Bianchi", "language_code": "it" },
            "chat": { "id": chat_id, "first_name": "Marco", "last_name": "Bianchi", "type": "private" },
            "date": 1_700_000_000,
            "text": text,
        }
    })
}

/// A server-side tracking key (its identify calls may name known customers).
pub async fn tracking_key(rig: &Rig) -> String {
    let (status, source) = rig.app.post("/api/v1/tracking/sources", json!({ "name": "Shop backend", "kind": "server" })).await;
    assert_eq!(status, 201, "{source}");
    source["write_key"].as_str().unwrap().to_owned()
}

/// Sends a tracking call (`/v1/track`, `/v1/identify`…) with the key.
pub async fn track(rig: &Rig, key: &str, path: &str, body: Value) {
    let response = rig.http.post(rig.app.url(path)).basic_auth(key, Some("")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
}

/// Runs every job due by the server's clock; none may fail.
pub async fn run_jobs(rig: &Rig) {
    let state = &rig.app.server().state;
    threadline_server::jobs::run_due(state, 200).await.unwrap();
    let failing = state.store.failing_jobs(10).await.unwrap();
    assert!(failing.is_empty(), "jobs failed: {failing:?}");
}

/// Moves the server's clock forward.
pub fn later(rig: &Rig, by: time::Duration) {
    rig.app.server().state.clock.advance(by);
}
