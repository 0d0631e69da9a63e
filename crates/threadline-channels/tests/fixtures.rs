//! Every example payload from the providers' documentation kept in
//! `fixtures/` (see its README for where each came from) is read by its
//! adapter here, and what Threadline makes of it is checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use threadline_channels::adapter::ChannelAdapter;
use threadline_channels::meta::{INSTAGRAM, MESSENGER};
use threadline_channels::telegram::Telegram;
use threadline_channels::twilio::{self, TwilioSms};
use threadline_channels::whatsapp::WhatsApp;
use threadline_channels::{InboxConfig, IncomingMessage, ProviderEndpoints, StatusReport, WebhookEvent, WebhookRequest};
use threadline_domain::identity::IdentityKind;
use threadline_domain::message::DeliveryStatus;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn read(name: &str) -> Vec<u8> {
    let bytes = std::fs::read(fixtures().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    // Form fixtures end with a newline that is not part of the body.
    if name.ends_with(".form") { String::from_utf8(bytes).unwrap().trim_end().as_bytes().to_vec() } else { bytes }
}

struct Inbox {
    settings: serde_json::Map<String, serde_json::Value>,
    secrets: BTreeMap<String, String>,
    endpoints: ProviderEndpoints,
}

impl Inbox {
    fn new(settings: serde_json::Value) -> Self {
        Inbox { settings: settings.as_object().unwrap().clone(), secrets: BTreeMap::new(), endpoints: ProviderEndpoints::default() }
    }

    fn config(&self) -> InboxConfig<'_> {
        InboxConfig {
            settings: &self.settings,
            secrets: &self.secrets,
            endpoints: &self.endpoints,
            webhook_url: "https://example.com/hooks/x",
        }
    }
}

/// Parses a fixture with `adapter` (signatures are checked elsewhere).
fn parse(adapter: &dyn ChannelAdapter, name: &str, settings: serde_json::Value) -> Vec<WebhookEvent> {
    let headers = http::HeaderMap::new();
    let body = read(name);
    let inbox = Inbox::new(settings);
    adapter.parse(&WebhookRequest { headers: &headers, query: "", body: &body }, &inbox.config()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn message(events: Vec<WebhookEvent>) -> IncomingMessage {
    match events.as_slice() {
        [WebhookEvent::Message(m)] => m.clone(),
        other => panic!("expected one message, got {other:?}"),
    }
}

fn status(events: Vec<WebhookEvent>) -> StatusReport {
    match events.as_slice() {
        [WebhookEvent::Status(s)] => s.clone(),
        other => panic!("expected one status report, got {other:?}"),
    }
}

fn ignored(events: Vec<WebhookEvent>) {
    assert!(matches!(events.as_slice(), [WebhookEvent::Ignored(_)]), "expected the event to be ignored, got {events:?}");
}

const WHATSAPP_INBOX: &str = "106540352242922";

fn wa(name: &str) -> Vec<WebhookEvent> {
    parse(&WhatsApp, &format!("whatsapp/{name}"), serde_json::json!({ "phone_number_id": WHATSAPP_INBOX }))
}

#[test]
fn twilio_signature_matches_the_documented_example() {
    for name in ["twilio/signature.json", "twilio/signature_legacy_mycompany.json"] {
        let vector: serde_json::Value = serde_json::from_slice(&read(name)).unwrap();
        let params: Vec<(String, String)> =
            vector["params"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())).collect();
        let signature = twilio::signature(vector["auth_token"].as_str().unwrap(), vector["url"].as_str().unwrap(), &params);
        assert_eq!(signature, vector["expected_signature"].as_str().unwrap(), "{name}");
    }
}

#[test]
fn twilio_webhooks() {
    let sms = message(parse(&TwilioSms, "twilio/inbound_sms.form", serde_json::json!({})));
    assert_eq!(sms.provider_message_id, "SM0d5f293afb227eebbf90bd9626bf8840");
    assert_eq!(sms.sender, "+14017122661");
    assert_eq!(sms.text, "Ahoy! Let's build something amazing.");
    assert!(sms.media.is_empty());

    let mms = message(parse(&TwilioSms, "twilio/inbound_mms.form", serde_json::json!({})));
    assert_eq!(mms.text, "Two photos of the damaged box");
    assert_eq!(mms.media.len(), 2);
    assert!(mms.media[0].locator.starts_with("https://api.twilio.com/2010-04-01/Accounts/"));
    assert_eq!(mms.media[0].content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(mms.media[1].content_type.as_deref(), Some("image/png"));

    let delivered = status(parse(&TwilioSms, "twilio/status_delivered.form", serde_json::json!({})));
    assert_eq!(delivered.status, DeliveryStatus::Delivered);
    assert_eq!(delivered.error, None);
    for (name, code) in [("twilio/status_undelivered.form", "30003"), ("twilio/status_failed.form", "30001")] {
        let failed = status(parse(&TwilioSms, name, serde_json::json!({})));
        assert_eq!(failed.provider_message_id, "SM1342fe1b2c904d1ab04f0fc7a58abca9");
        assert_eq!(failed.status, DeliveryStatus::Failed);
        assert!(failed.error.unwrap().contains(code), "{name}");
    }

    let receipt = TwilioSms.send_result(201, &read("twilio/send_response.json")).unwrap();
    assert_eq!(receipt.provider_message_id, "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_eq!(receipt.status, DeliveryStatus::Pending, "queued is not sent yet");
    let error = TwilioSms.send_result(400, &read("twilio/error_response.json")).unwrap_err();
    assert!(error.reason.contains("21201") && error.reason.contains("No to number"), "{error}");
    assert!(!error.retryable);
}

#[test]
fn whatsapp_webhooks() {
    let text = message(wa("text.json"));
    assert_eq!(text.sender, "+16505551234");
    assert_eq!(text.sender_name.as_deref(), Some("Sheena Nelson"));
    assert_eq!(text.text, "Does it come in another color?");
    assert_eq!(text.other_identities, [(IdentityKind::Phone, "+16505551234".to_owned())], "a WhatsApp id is a phone number");

    let image = message(wa("image.json"));
    assert_eq!(image.text, "Taj Mahal");
    assert_eq!(image.media[0].locator, "1003383421387256", "media is fetched by id");
    assert_eq!(image.media[0].content_type.as_deref(), Some("image/jpeg"));

    let location = message(wa("location.json"));
    assert!(location.text.contains("Philz Coffee, 101 Forest Ave, Palo Alto, CA 94301"), "{}", location.text);
    assert!(location.text.contains("37.44221496582"));

    assert_eq!(message(wa("interactive_button_reply.json")).text, "Change");
    assert_eq!(message(wa("interactive_list_reply.json")).text, "Priority Mail Express — Next Day to 2 Days");
    assert_eq!(message(wa("button.json")).text, "Unsubscribe");

    for (name, expected) in [
        ("status_sent.json", DeliveryStatus::Sent),
        ("status_delivered.json", DeliveryStatus::Delivered),
        ("status_read.json", DeliveryStatus::Read),
    ] {
        let report = status(wa(name));
        assert_eq!(report.status, expected, "{name}");
        assert_eq!(report.provider_message_id, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=");
    }
    let failed = status(wa("status_failed.json"));
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert!(failed.error.unwrap().contains("131049"));
    ignored(wa("unknown_field.json"));

    // A webhook for another number of the same app is not this inbox's.
    let other = parse(&WhatsApp, "whatsapp/text.json", serde_json::json!({ "phone_number_id": "999" }));
    ignored(other);

    let receipt = WhatsApp.send_result(200, &read("whatsapp/send_response.json")).unwrap();
    assert_eq!(receipt.provider_message_id, "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA");
    let refused = WhatsApp.send_result(400, &read("whatsapp/error_re_engagement.json")).unwrap_err();
    assert!(refused.reason.contains("131047") && refused.reason.contains("24 hours"), "{refused}");
    assert!(!refused.retryable, "outside the window, retrying cannot help");
}

#[test]
fn messenger_and_instagram_webhooks() {
    let page = serde_json::json!({ "page_id": "682498302938465" });
    let text = message(parse(&MESSENGER, "messenger/text.json", page.clone()));
    assert_eq!(text.sender, "1254477777772919");
    assert_eq!(text.provider_message_id, "mid.1457764197618:41d102a3e1ae206a38");
    assert_eq!(text.text, "hello, world!");

    let image = message(parse(&MESSENGER, "messenger/attachment_image.json", page.clone()));
    assert!(image.media[0].locator.starts_with("https://scontent.xx.fbcdn.net/"));
    assert_eq!(image.media[0].content_type.as_deref(), Some("image/jpeg"));

    let postback = message(parse(&MESSENGER, "messenger/postback.json", page.clone()));
    assert_eq!(postback.text, "Get Started", "a button press reads as what the button said");

    let delivery = status(parse(&MESSENGER, "messenger/delivery.json", page.clone()));
    assert_eq!(delivery.provider_message_id, "mid.1458668856218:ed81099e15d3f4f233");
    assert_eq!(delivery.status, DeliveryStatus::Delivered);
    ignored(parse(&MESSENGER, "messenger/read.json", page.clone()));
    ignored(parse(&MESSENGER, "messenger/echo.json", page.clone()));

    let receipt = MESSENGER.send_result(200, &read("messenger/send_response.json")).unwrap();
    assert_eq!(receipt.provider_message_id, "AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P");

    let ig = message(parse(&INSTAGRAM, "instagram/text.json", page.clone()));
    assert_eq!(ig.sender, "7654321098765432");
    assert_eq!(ig.text, "Hi! Is the blue jacket still available in size M?");
    let ig_image = message(parse(&INSTAGRAM, "instagram/image.json", page.clone()));
    assert!(ig_image.media[0].locator.starts_with("https://lookaside.fbsbx.com/ig_messaging_cdn/"));
    // Each adapter takes only its own object.
    ignored(parse(&MESSENGER, "instagram/text.json", page.clone()));
    ignored(parse(&INSTAGRAM, "messenger/text.json", page));
}

#[test]
fn telegram_updates() {
    let none = serde_json::json!({});
    let text = message(parse(&Telegram, "telegram/text.json", none.clone()));
    assert_eq!(text.sender, "1111111");
    assert_eq!(text.provider_message_id, "1111111:1365", "message ids are unique per chat");
    assert_eq!(text.sender_name.as_deref(), Some("Test Test Lastname"));
    assert_eq!(text.text, "/start");

    let photo = message(parse(&Telegram, "telegram/photo.json", none.clone()));
    assert_eq!(photo.text, "The box arrived like this");
    assert_eq!(photo.media.len(), 1, "one file: the largest size");
    assert!(photo.media[0].locator.ends_with("AgADeAADMwQ"), "{}", photo.media[0].locator);

    let document = message(parse(&Telegram, "telegram/document.json", none.clone()));
    assert_eq!(document.media[0].filename.as_deref(), Some("invoice-2024-031.pdf"));
    assert_eq!(document.media[0].content_type.as_deref(), Some("application/pdf"));
    assert_eq!(document.text, "Invoice attached");

    ignored(parse(&Telegram, "telegram/edited_message.json", none.clone()));
    let pressed = message(parse(&Telegram, "telegram/callback_query.json", none));
    assert_eq!(pressed.text, "Data from button callback");
    assert_eq!(pressed.sender, "1111111");

    let receipt = Telegram.send_result(200, &read("telegram/send_message_response.json")).unwrap();
    assert_eq!(receipt.provider_message_id, "1111111:1369");
    let blocked = Telegram.send_result(403, &read("telegram/error_response.json")).unwrap_err();
    assert!(blocked.reason.contains("blocked by the user"));
    assert!(!blocked.retryable);
}

/// Every fixture file is exercised by a test above (or, for the shops'
/// order webhooks, in `shops.rs`; for the push services, in `push.rs`; for
/// voice calls, in the server's voice tests).
#[test]
fn every_fixture_is_used() {
    // Voice calls are answered by the server: its voice tests read theirs.
    let source = [
        include_str!("fixtures.rs"),
        include_str!("shops.rs"),
        include_str!("push.rs"),
        include_str!("../../threadline-server/tests/channels/voice.rs"),
    ]
    .concat();
    let mut unused = BTreeSet::new();
    for provider in std::fs::read_dir(fixtures()).unwrap() {
        let provider = provider.unwrap().path();
        if !provider.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&provider).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_name().unwrap().to_str().unwrap().to_owned();
            let dir = provider.file_name().unwrap().to_str().unwrap();
            let used = source.contains(&format!("\"{dir}/{name}\""))
                || (dir == "whatsapp" && source.contains(&format!("wa(\"{name}\")")))
                || source.contains(&format!("(\"{name}\","));
            if !used {
                unused.insert(format!("{dir}/{name}"));
            }
        }
    }
    assert!(unused.is_empty(), "fixtures no test reads: {unused:?}");
}
