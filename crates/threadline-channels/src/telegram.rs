//! Telegram through the Bot API.
//!
//! - Webhook: Telegram POSTs one `Update` per request and, when the webhook
//!   was set with a `secret_token`, sends it back in
//!   `X-Telegram-Bot-Api-Secret-Token`.
//! - Sending: `POST /bot{token}/sendMessage`, `sendPhoto`, `sendDocument`;
//!   files are uploaded (multipart), since by URL Telegram takes only some
//!   document types.
//!   Answers are `{ "ok": true, "result": Message }` or `{ "ok": false,
//!   "error_code", "description" }`.
//! - Files: `getFile` gives a `file_path`, downloaded from
//!   `/file/bot{token}/{file_path}`.
//!
//! Message ids are unique within a chat only, so Threadline's provider id
//! is `{chat_id}:{message_id}`. Private chats only: the chat id is the user.
//!
//! Secrets: `bot_token`, `webhook_secret` (the `secret_token` given to
//! `setWebhook`).

use serde::Deserialize;
use threadline_domain::channel::Channel;
use threadline_domain::identity::IdentityKind;
use threadline_domain::message::DeliveryStatus;
use threadline_domain::reply::Capabilities;

use crate::adapter::*;

pub struct Telegram;

#[derive(Deserialize)]
struct Update {
    update_id: i64,
    message: Option<TgMessage>,
    edited_message: Option<TgMessage>,
    callback_query: Option<CallbackQuery>,
}

#[derive(Deserialize)]
struct TgMessage {
    message_id: i64,
    from: Option<User>,
    chat: Chat,
    text: Option<String>,
    caption: Option<String>,
    #[serde(default)]
    photo: Vec<PhotoSize>,
    document: Option<File>,
    video: Option<File>,
    voice: Option<File>,
    audio: Option<File>,
    location: Option<Location>,
    contact: Option<SharedContact>,
}

#[derive(Deserialize)]
struct User {
    id: i64,
    first_name: Option<String>,
    last_name: Option<String>,
    /// The IETF language tag of the user's Telegram client, when known.
    language_code: Option<String>,
}

#[derive(Deserialize)]
struct Chat {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct PhotoSize {
    file_id: String,
    width: i64,
    height: i64,
}

#[derive(Deserialize)]
struct File {
    file_id: String,
    file_name: Option<String>,
    mime_type: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    latitude: f64,
    longitude: f64,
}

#[derive(Deserialize)]
struct SharedContact {
    phone_number: String,
    user_id: Option<i64>,
}

#[derive(Deserialize)]
struct CallbackQuery {
    id: String,
    from: User,
    data: Option<String>,
}

#[derive(Deserialize)]
struct Answer<T> {
    ok: bool,
    result: Option<T>,
    error_code: Option<i64>,
    description: Option<String>,
}

#[derive(Deserialize)]
struct SentMessage {
    message_id: i64,
    chat: Chat,
}

#[derive(Deserialize)]
struct FileInfo {
    file_path: Option<String>,
}

fn full_name(user: &User) -> Option<String> {
    let name = [user.first_name.as_deref(), user.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    (!name.trim().is_empty()).then_some(name)
}

fn api(inbox: &InboxConfig<'_>, method: &str) -> Result<String, ConfigError> {
    Ok(format!("{}/bot{}/{method}", inbox.endpoints.telegram.trim_end_matches('/'), inbox.secret("bot_token")?))
}

fn incoming(update_id: i64, message: TgMessage) -> WebhookEvent {
    if message.chat.kind != "private" {
        return WebhookEvent::Ignored(format!("update {update_id} from a {} chat; only private chats are served", message.chat.kind));
    }
    let mut media = Vec::new();
    if let Some(largest) = message.photo.iter().max_by_key(|p| p.width * p.height) {
        media.push(MediaRef { locator: largest.file_id.clone(), content_type: Some("image/jpeg".into()), filename: None });
    }
    for file in [message.document, message.video, message.voice, message.audio].into_iter().flatten() {
        media.push(MediaRef { locator: file.file_id, content_type: file.mime_type, filename: file.file_name });
    }
    let mut text = message.text.or(message.caption).unwrap_or_default();
    if let Some(l) = message.location {
        text = format!("📍 https://www.openstreetmap.org/?mlat={}&mlon={}", l.latitude, l.longitude);
    }
    let mut other_identities = Vec::new();
    let sender_id = message.from.as_ref().map_or(message.chat.id, |u| u.id);
    if let Some(contact) = message.contact {
        // A phone number the customer shared about themselves links them.
        if contact.user_id == Some(sender_id) {
            let phone = if contact.phone_number.starts_with('+') { contact.phone_number } else { format!("+{}", contact.phone_number) };
            text = format!("shared their phone number {phone}");
            other_identities.push((IdentityKind::Phone, phone));
        } else {
            text = format!("shared a contact: {}", contact.phone_number);
        }
    }
    if text.is_empty() && media.is_empty() {
        return WebhookEvent::Ignored(format!("update {update_id} carries nothing Threadline shows (sticker, poll…)"));
    }
    WebhookEvent::Message(IncomingMessage {
        provider_message_id: format!("{}:{}", message.chat.id, message.message_id),
        sender: message.chat.id.to_string(),
        other_identities,
        sender_name: message.from.as_ref().and_then(full_name),
        sender_language: message
            .from
            .as_ref()
            .and_then(|u| u.language_code.as_deref())
            .and_then(threadline_domain::contact::parse_language),
        text,
        media,
        consent: None,
    })
}

impl ChannelAdapter for Telegram {
    fn channel(&self) -> Channel {
        Channel::Telegram
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_text_chars: 4096,
            max_attachments: 1,
            text_with_attachment: true,
            max_caption_chars: 1024,
            templates: false,
            reply_window: None,
        }
    }

    fn required_settings(&self) -> &'static [&'static str] {
        &[]
    }

    fn uploads_media(&self) -> bool {
        true
    }

    fn required_secrets(&self) -> &'static [&'static str] {
        &["bot_token", "webhook_secret"]
    }

    fn verify(&self, request: &WebhookRequest<'_>, inbox: &InboxConfig<'_>) -> Result<(), WebhookError> {
        let expected = inbox.secret("webhook_secret")?;
        let given = request
            .header("x-telegram-bot-api-secret-token")
            .ok_or_else(|| WebhookError::Signature("no X-Telegram-Bot-Api-Secret-Token header".into()))?;
        if crate::constant_time_eq(expected.as_bytes(), given.as_bytes()) {
            Ok(())
        } else {
            Err(WebhookError::Signature("X-Telegram-Bot-Api-Secret-Token does not match the inbox's webhook_secret".into()))
        }
    }

    fn parse(&self, request: &WebhookRequest<'_>, _inbox: &InboxConfig<'_>) -> Result<Vec<WebhookEvent>, WebhookError> {
        let update: Update = json_body(request.body)?;
        let event = if let Some(message) = update.message {
            incoming(update.update_id, message)
        } else if update.edited_message.is_some() {
            WebhookEvent::Ignored(format!("update {}: an edit of an earlier message", update.update_id))
        } else if let Some(query) = update.callback_query {
            // A button press: what the customer chose, as their message.
            WebhookEvent::Message(IncomingMessage {
                provider_message_id: format!("callback:{}", query.id),
                sender: query.from.id.to_string(),
                sender_name: full_name(&query.from),
                text: query.data.unwrap_or_default(),
                ..Default::default()
            })
        } else {
            WebhookEvent::Ignored(format!("update {} of an unhandled kind", update.update_id))
        };
        Ok(vec![event])
    }

    fn send_request(&self, message: &Outgoing, inbox: &InboxConfig<'_>) -> Result<HttpRequest, SendError> {
        if message.template.is_some() {
            return Err(SendError::permanent("Telegram has no message templates"));
        }
        let chat_id: i64 = message.to.parse().map_err(|_| SendError::permanent(format!("`{}` is not a Telegram chat id", message.to)))?;
        let request = match message.media.first() {
            Some(media) => {
                // Photos Telegram shows inline; anything else as a document.
                let photo = matches!(media.content_type.as_str(), "image/jpeg" | "image/png");
                let (method, field) = if photo { ("sendPhoto", "photo") } else { ("sendDocument", "document") };
                let mut fields = vec![("chat_id".to_owned(), chat_id.to_string())];
                if !message.text.is_empty() {
                    fields.push(("caption".to_owned(), message.text.clone()));
                }
                match &media.data {
                    // Uploaded: by URL Telegram accepts only some document
                    // types (GIF, PDF, ZIP) and smaller photos.
                    Some(data) => HttpRequest {
                        method: http::Method::POST,
                        url: api(inbox, method)?,
                        headers: Vec::new(),
                        body: RequestBody::Multipart {
                            fields,
                            file: FilePart {
                                field: field.to_owned(),
                                filename: media.filename.clone(),
                                content_type: media.content_type.clone(),
                                data: data.clone(),
                            },
                        },
                    },
                    None => {
                        let mut body = serde_json::json!({ "chat_id": chat_id, field: media.url });
                        if !message.text.is_empty() {
                            body["caption"] = message.text.clone().into();
                        }
                        HttpRequest::post_json(api(inbox, method)?, body)
                    }
                }
            }
            None => {
                let mut body = serde_json::json!({ "chat_id": chat_id, "text": message.text });
                if !message.choices.is_empty() {
                    body["reply_markup"] = inline_keyboard(&message.choices);
                }
                HttpRequest::post_json(api(inbox, "sendMessage")?, body)
            }
        };
        Ok(request)
    }

    fn send_result(&self, status: u16, body: &[u8]) -> Result<SendReceipt, SendError> {
        let answer: Answer<SentMessage> = serde_json::from_slice(body).map_err(|_| match status {
            200..=299 => SendError::permanent("Telegram accepted the request but its answer could not be read; it may have been sent"),
            _ => SendError::from_status(status, format!("Telegram answered HTTP {status}")),
        })?;
        match answer {
            Answer { ok: true, result: Some(sent), .. } => Ok(SendReceipt {
                provider_message_id: format!("{}:{}", sent.chat.id, sent.message_id),
                // Telegram reports no delivery; accepted is as far as we know.
                status: DeliveryStatus::Sent,
            }),
            Answer { error_code, description, .. } => {
                let code = error_code.unwrap_or(i64::from(status));
                let reason = format!("Telegram error {code}: {}", description.unwrap_or_default());
                Err(SendError::from_status(u16::try_from(code).unwrap_or(status), clip(&reason, 500)))
            }
        }
    }

    fn media_request(&self, media: &MediaRef, inbox: &InboxConfig<'_>) -> Result<HttpRequest, ConfigError> {
        let mut url = api(inbox, "getFile")?;
        url.push_str("?file_id=");
        url.extend(form_urlencoded::byte_serialize(media.locator.as_bytes()));
        Ok(HttpRequest::get(url))
    }

    fn media_step(&self, body: &[u8], inbox: &InboxConfig<'_>) -> Result<MediaStep, WebhookError> {
        let answer: Answer<FileInfo> = json_body(body)?;
        let path = answer
            .result
            .and_then(|f| f.file_path)
            .ok_or_else(|| WebhookError::Malformed(format!("Telegram gave no file path: {}", answer.description.unwrap_or_default())))?;
        let token = inbox.secret("bot_token")?;
        Ok(MediaStep::Fetch(HttpRequest::get(format!("{}/file/bot{token}/{path}", inbox.endpoints.telegram.trim_end_matches('/')))))
    }
}

/// An inline keyboard (Bot API `InlineKeyboardMarkup`): the choices in
/// rows of at most six, each pressing back its title as `callback_data`
/// (at most 64 bytes), which arrives as the customer's message.
fn inline_keyboard(choices: &[crate::adapter::Choice]) -> serde_json::Value {
    let per_row = if choices.len() > 6 { choices.len().div_ceil(2) } else { choices.len() };
    let rows: Vec<Vec<serde_json::Value>> = choices
        .chunks(per_row.clamp(1, 6))
        .map(|row| {
            row.iter()
                .map(|c| {
                    let mut data = c.title.clone();
                    while data.len() > 64 {
                        data.pop();
                    }
                    serde_json::json!({ "text": c.title, "callback_data": data })
                })
                .collect()
        })
        .collect();
    serde_json::json!({ "inline_keyboard": rows })
}
