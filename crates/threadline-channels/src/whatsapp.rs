//! WhatsApp Business through Meta's Cloud API.
//!
//! - Webhooks: `object = whatsapp_business_account`, `entry[].changes[]`
//!   with `field = messages`; `value.messages[]` are customers' messages,
//!   `value.statuses[]` delivery reports. Signed like every Meta webhook
//!   (see [`crate::meta`]).
//! - Sending: `POST /{phone-number-id}/messages` with a bearer token.
//!   Free-form messages only within 24 hours of the customer's last message;
//!   outside it only approved templates (Meta refuses with error 131047).
//!
//! Inbox settings: `phone_number_id`. Secrets: `access_token`,
//! `app_secret`, `verify_token`.

use serde::Deserialize;
use threadline_domain::channel::Channel;
use threadline_domain::identity::IdentityKind;
use threadline_domain::message::DeliveryStatus;
use threadline_domain::reply::{Capabilities, ReplyWindow};

use crate::adapter::*;
use crate::meta;

pub struct WhatsApp;

// Each level of a webhook is read item by item (`serde_json::Value`
// first): one malformed entry, change, message or status is skipped with a
// warning, and the rest are kept (see `adapter::each`).

#[derive(Deserialize)]
struct Webhook {
    object: String,
    #[serde(default)]
    entry: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Change {
    field: String,
    value: Value,
}

#[derive(Deserialize)]
struct Value {
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<serde_json::Value>,
    #[serde(default)]
    messages: Vec<serde_json::Value>,
    #[serde(default)]
    statuses: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: Option<String>,
}

#[derive(Deserialize)]
struct Profile {
    wa_id: String,
    profile: Option<ProfileName>,
}

#[derive(Deserialize)]
struct ProfileName {
    name: Option<String>,
}

#[derive(Deserialize)]
struct WaMessage {
    from: String,
    id: String,
    #[serde(rename = "type")]
    kind: String,
    text: Option<Text>,
    image: Option<Media>,
    video: Option<Media>,
    audio: Option<Media>,
    document: Option<Media>,
    sticker: Option<Media>,
    location: Option<Location>,
    interactive: Option<Interactive>,
    button: Option<Button>,
    reaction: Option<Reaction>,
}

#[derive(Deserialize)]
struct Text {
    body: String,
}

#[derive(Deserialize)]
struct Media {
    id: String,
    mime_type: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    latitude: f64,
    longitude: f64,
    name: Option<String>,
    address: Option<String>,
}

#[derive(Deserialize)]
struct Interactive {
    button_reply: Option<Choice>,
    list_reply: Option<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    title: String,
    description: Option<String>,
}

#[derive(Deserialize)]
struct Button {
    text: Option<String>,
    payload: Option<String>,
}

#[derive(Deserialize)]
struct Reaction {
    emoji: Option<String>,
}

#[derive(Deserialize)]
struct Status {
    id: String,
    status: String,
    #[serde(default)]
    errors: Vec<StatusError>,
}

#[derive(Deserialize)]
struct StatusError {
    code: Option<i64>,
    title: Option<String>,
    message: Option<String>,
    error_data: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct SendAnswer {
    messages: Vec<SentMessage>,
}

#[derive(Deserialize)]
struct SentMessage {
    id: String,
}

#[derive(Deserialize)]
struct MediaInfo {
    url: String,
}

/// A WhatsApp id is the phone number in international format without `+`.
fn as_phone(wa_id: &str) -> String {
    if wa_id.starts_with('+') { wa_id.to_owned() } else { format!("+{wa_id}") }
}

fn to_incoming(message: WaMessage, name: Option<String>) -> WebhookEvent {
    let mut media = Vec::new();
    let text = match message.kind.as_str() {
        "text" => message.text.map(|t| t.body).unwrap_or_default(),
        "image" | "video" | "audio" | "document" | "sticker" => {
            let item = message.image.or(message.video).or(message.audio).or(message.document).or(message.sticker);
            match item {
                Some(m) => {
                    media.push(MediaRef { locator: m.id, content_type: m.mime_type, filename: m.filename });
                    m.caption.unwrap_or_default()
                }
                None => return WebhookEvent::Ignored(format!("{} message without its media", message.kind)),
            }
        }
        "location" => match message.location {
            Some(l) => {
                let place = [l.name, l.address].into_iter().flatten().collect::<Vec<_>>().join(", ");
                let at = format!("https://www.openstreetmap.org/?mlat={}&mlon={}", l.latitude, l.longitude);
                if place.is_empty() { format!("📍 {at}") } else { format!("📍 {place} {at}") }
            }
            None => return WebhookEvent::Ignored("location message without a location".into()),
        },
        "interactive" => match message.interactive.and_then(|i| i.button_reply.or(i.list_reply)) {
            Some(choice) => match choice.description {
                Some(d) => format!("{} — {d}", choice.title),
                None => choice.title,
            },
            None => return WebhookEvent::Ignored("interactive message of an unhandled kind".into()),
        },
        "button" => match message.button {
            Some(b) => b.text.or(b.payload).unwrap_or_default(),
            None => return WebhookEvent::Ignored("button message without its button".into()),
        },
        "reaction" => match message.reaction.and_then(|r| r.emoji) {
            Some(emoji) => format!("reacted {emoji}"),
            None => return WebhookEvent::Ignored("a reaction was removed".into()),
        },
        other => format!("[a {other} message that Threadline cannot show]"),
    };
    WebhookEvent::Message(IncomingMessage {
        provider_message_id: message.id,
        sender: as_phone(&message.from),
        // The WhatsApp id is the phone number: the same person on SMS.
        other_identities: vec![(IdentityKind::Phone, as_phone(&message.from))],
        sender_name: name,
        sender_language: None,
        text,
        media,
        consent: None,
    })
}

fn status_report(status: Status) -> WebhookEvent {
    let delivery = match status.status.as_str() {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        other => return WebhookEvent::Ignored(format!("status `{other}`")),
    };
    let error = (delivery == DeliveryStatus::Failed).then(|| {
        let parts: Vec<String> = status
            .errors
            .iter()
            .map(|e| {
                let details = e.error_data.as_ref().and_then(|d| d.get("details")).and_then(|d| d.as_str());
                let text = details.or(e.message.as_deref()).or(e.title.as_deref()).unwrap_or("no details");
                format!("WhatsApp error {}: {text}", e.code.unwrap_or_default())
            })
            .collect();
        if parts.is_empty() { "WhatsApp reported the message failed".to_owned() } else { clip(&parts.join("; "), 500) }
    });
    WebhookEvent::Status(StatusReport { provider_message_id: status.id, status: delivery, error })
}

impl ChannelAdapter for WhatsApp {
    fn channel(&self) -> Channel {
        Channel::Whatsapp
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_text_chars: 4096,
            max_attachments: 1,
            text_with_attachment: true,
            max_caption_chars: 1024,
            templates: true,
            reply_window: Some(ReplyWindow { hours: 24, human_agent_hours: None }),
        }
    }

    fn required_settings(&self) -> &'static [&'static str] {
        &["phone_number_id"]
    }

    fn required_secrets(&self) -> &'static [&'static str] {
        &["access_token", "app_secret", "verify_token"]
    }

    fn challenge(&self, query: &str, inbox: &InboxConfig<'_>) -> Option<Result<String, WebhookError>> {
        Some(meta::challenge(query, inbox))
    }

    fn verify(&self, request: &WebhookRequest<'_>, inbox: &InboxConfig<'_>) -> Result<(), WebhookError> {
        meta::verify_signature(request, inbox.secret("app_secret")?)
    }

    fn parse(&self, request: &WebhookRequest<'_>, inbox: &InboxConfig<'_>) -> Result<Vec<WebhookEvent>, WebhookError> {
        let webhook: Webhook = json_body(request.body)?;
        if webhook.object != "whatsapp_business_account" {
            return Ok(vec![WebhookEvent::Ignored(format!("object `{}`", webhook.object))]);
        }
        let ours = inbox.setting("phone_number_id").ok();
        let mut events = Vec::new();
        let entries: Vec<Entry> = each(webhook.entry, "entry", &mut events);
        let changes: Vec<Change> = each(entries.into_iter().flat_map(|e| e.changes).collect(), "change", &mut events);
        for change in changes {
            if change.field != "messages" {
                events.push(WebhookEvent::Ignored(format!("field `{}`", change.field)));
                continue;
            }
            let value = change.value;
            let number = value.metadata.and_then(|m| m.phone_number_id);
            if let (Some(ours), Some(number)) = (ours, number.as_deref())
                && ours != number
            {
                events.push(WebhookEvent::Ignored(format!("for phone number id {number}, not this inbox's")));
                continue;
            }
            let contacts: Vec<Profile> = each(value.contacts, "contact", &mut events);
            for message in each::<WaMessage>(value.messages, "message", &mut events) {
                let name = contacts.iter().find(|c| c.wa_id == message.from).and_then(|c| c.profile.as_ref()?.name.clone());
                events.push(to_incoming(message, name));
            }
            let statuses: Vec<Status> = each(value.statuses, "status", &mut events);
            events.extend(statuses.into_iter().map(status_report));
        }
        Ok(events)
    }

    fn acknowledgement(&self) -> Acknowledgement {
        Acknowledgement { content_type: "text/plain; charset=utf-8", body: "EVENT_RECEIVED" }
    }

    fn send_request(&self, message: &Outgoing, inbox: &InboxConfig<'_>) -> Result<HttpRequest, SendError> {
        let number = inbox.setting("phone_number_id")?;
        let token = inbox.secret("access_token")?;
        let to = message.to.trim_start_matches('+');
        let mut body = serde_json::json!({ "messaging_product": "whatsapp", "recipient_type": "individual", "to": to });
        if let Some(template) = &message.template {
            let parameters: Vec<serde_json::Value> =
                template.parameters.iter().map(|p| serde_json::json!({ "type": "text", "text": p })).collect();
            let mut spec = serde_json::json!({ "name": template.name, "language": { "code": template.language } });
            if !parameters.is_empty() {
                spec["components"] = serde_json::json!([{ "type": "body", "parameters": parameters }]);
            }
            body["type"] = "template".into();
            body["template"] = spec;
        } else if let Some(media) = message.media.first() {
            // Only the types WhatsApp plays inline go as image or video;
            // anything else (webp, gif, audio with a caption…) as a document.
            let kind = match media.content_type.as_str() {
                "image/jpeg" | "image/png" => "image",
                "video/mp4" | "video/3gpp" => "video",
                _ => "document",
            };
            let mut spec = serde_json::json!({ "link": media.url });
            if !message.text.is_empty() {
                spec["caption"] = message.text.clone().into();
            }
            if kind == "document" {
                spec["filename"] = media.filename.clone().into();
            }
            body["type"] = kind.into();
            body[kind] = spec;
        } else if !message.choices.is_empty() && message.choices.len() <= MAX_LIST_ROWS && message.text.chars().count() <= 1024 {
            body["type"] = "interactive".into();
            body["interactive"] = interactive(message);
        } else {
            body["type"] = "text".into();
            body["text"] = serde_json::json!({ "preview_url": false, "body": message.text });
        }
        Ok(HttpRequest::post_json(format!("{}/{number}/messages", inbox.endpoints.meta_graph.trim_end_matches('/')), body).bearer(token))
    }

    fn send_result(&self, status: u16, body: &[u8]) -> Result<SendReceipt, SendError> {
        if !(200..300).contains(&status) {
            return Err(meta::graph_error(status, body));
        }
        let answer: SendAnswer = serde_json::from_slice(body).map_err(|e| {
            SendError::permanent(format!(
                "{} accepted the request but its answer could not be read ({e}); it may have been sent",
                "WhatsApp"
            ))
        })?;
        let id = answer
            .messages
            .into_iter()
            .next()
            .map(|m| m.id)
            .ok_or_else(|| SendError::permanent("WhatsApp accepted the request but returned no message id; it may have been sent"))?;
        Ok(SendReceipt { provider_message_id: id, status: DeliveryStatus::Sent })
    }

    fn media_request(&self, media: &MediaRef, inbox: &InboxConfig<'_>) -> Result<HttpRequest, ConfigError> {
        // First the media id is looked up; the answer holds a short-lived URL.
        let url = format!("{}/{}", inbox.endpoints.meta_graph.trim_end_matches('/'), media.locator);
        Ok(HttpRequest::get(url).bearer(inbox.secret("access_token")?))
    }

    fn media_step(&self, body: &[u8], inbox: &InboxConfig<'_>) -> Result<MediaStep, WebhookError> {
        match serde_json::from_slice::<MediaInfo>(body) {
            Ok(info) => Ok(MediaStep::Fetch(HttpRequest::get(info.url).bearer(inbox.secret("access_token")?))),
            // Not a lookup answer: the file itself.
            Err(_) => Ok(MediaStep::Done),
        }
    }
}

/// Reply buttons hold at most three choices; a list at most ten rows.
const MAX_BUTTONS: usize = 3;
const MAX_LIST_ROWS: usize = 10;

fn clip_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// An interactive message (Cloud API `interactive`): reply buttons for up
/// to three choices (titles of at most 20 characters), a list otherwise
/// (rows of at most 24 characters, descriptions 72, the list's button 20).
fn interactive(message: &Outgoing) -> serde_json::Value {
    let body = serde_json::json!({ "text": message.text });
    if message.choices.len() <= MAX_BUTTONS {
        let buttons: Vec<serde_json::Value> = message
            .choices
            .iter()
            .map(|c| serde_json::json!({ "type": "reply", "reply": { "id": clip_chars(&c.id, 256), "title": clip_chars(&c.title, 20) } }))
            .collect();
        return serde_json::json!({ "type": "button", "body": body, "action": { "buttons": buttons } });
    }
    let rows: Vec<serde_json::Value> = message
        .choices
        .iter()
        .map(|c| {
            let mut row = serde_json::json!({ "id": clip_chars(&c.id, 200), "title": clip_chars(&c.title, 24) });
            if let Some(d) = &c.description {
                row["description"] = clip_chars(d, 72).into();
            }
            row
        })
        .collect();
    let button = clip_chars(message.choices_button.as_deref().unwrap_or("Choose"), 20);
    serde_json::json!({ "type": "list", "body": body, "action": { "button": button, "sections": [{ "rows": rows }] } })
}
