//! Meta's webhooks, and Messenger and Instagram messaging.
//!
//! Every Meta webhook (WhatsApp, Messenger, Instagram) is signed the same
//! way: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body keyed
//! with the app secret>`, and subscribed with a GET carrying `hub.mode`,
//! `hub.verify_token` and `hub.challenge`, answered by echoing the challenge.
//!
//! Messenger and Instagram share one format: `entry[].messaging[]` events
//! (messages, postbacks, delivery and read receipts) and the Send API
//! (`POST /{page-id}/messages`). Free-form messages are allowed for 24 hours
//! after the customer's last message; with the `HUMAN_AGENT` tag a person
//! may answer for seven days.
//!
//! Inbox settings: `page_id` (the Facebook page, or the page linked to the
//! Instagram account), and for Instagram optionally
//! `instagram_account_id` (events for other accounts are then ignored).
//! Secrets: `access_token` (page token), `app_secret`, `verify_token`.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use threadline_domain::channel::Channel;
use threadline_domain::message::DeliveryStatus;
use threadline_domain::reply::{Capabilities, ReplyWindow};

use crate::adapter::*;

/// Checks `X-Hub-Signature-256` against the app secret.
pub fn verify_signature(request: &WebhookRequest<'_>, app_secret: &str) -> Result<(), WebhookError> {
    let given = request.header("x-hub-signature-256").ok_or_else(|| WebhookError::Signature("no X-Hub-Signature-256 header".into()))?;
    let hex_digest = given.trim().strip_prefix("sha256=").ok_or_else(|| WebhookError::Signature("not a sha256= signature".into()))?;
    let digest = hex::decode(hex_digest).map_err(|_| WebhookError::Signature("signature is not hex".into()))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(request.body);
    mac.verify_slice(&digest).map_err(|_| WebhookError::Signature("X-Hub-Signature-256 does not match the body".into()))
}

/// The signature Meta would send for `body` (for stand-ins and tests).
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Answers the subscription GET: the challenge when the verify token matches.
pub fn challenge(query: &str, inbox: &InboxConfig<'_>) -> Result<String, WebhookError> {
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if get("hub.mode") != Some("subscribe") {
        return Err(WebhookError::Malformed("hub.mode is not subscribe".into()));
    }
    let expected = inbox.secret("verify_token")?;
    let given = get("hub.verify_token").unwrap_or_default();
    if !crate::constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(WebhookError::Signature("hub.verify_token does not match the inbox's verify_token".into()));
    }
    get("hub.challenge").map(str::to_owned).ok_or_else(|| WebhookError::Malformed("no hub.challenge".into()))
}

/// Reads a Graph API error answer into a send error. Codes Meta documents
/// as throttling are worth retrying.
pub fn graph_error(status: u16, body: &[u8]) -> SendError {
    #[derive(Deserialize)]
    struct Envelope {
        error: GraphError,
    }
    #[derive(Deserialize)]
    struct GraphError {
        message: Option<String>,
        code: Option<i64>,
        error_data: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope { error }) => {
            let code = error.code.unwrap_or_default();
            let details = error.error_data.as_ref().and_then(|d| d.get("details")).and_then(|d| d.as_str());
            let reason = match details {
                Some(details) => format!("Meta error {code}: {} ({details})", error.message.unwrap_or_default()),
                None => format!("Meta error {code}: {}", error.message.unwrap_or_default()),
            };
            // 4, 80007, 130429, 131048, 131056: rate limits; 2, 131000,
            // 131016: temporary service trouble.
            let transient = matches!(code, 2 | 4 | 80007 | 130429 | 131000 | 131016 | 131048 | 131056);
            SendError { reason: clip(&reason, 500), retryable: transient || status == 429 || status >= 500 }
        }
        Err(_) => SendError::from_status(status, format!("Meta answered HTTP {status}")),
    }
}

/// Messenger or Instagram.
pub struct MetaMessaging {
    channel: Channel,
    /// The webhook's `object`: `page` or `instagram`.
    object: &'static str,
    max_text_chars: usize,
}

pub static MESSENGER: MetaMessaging = MetaMessaging { channel: Channel::Messenger, object: "page", max_text_chars: 2000 };
pub static INSTAGRAM: MetaMessaging = MetaMessaging { channel: Channel::Instagram, object: "instagram", max_text_chars: 1000 };

#[derive(Deserialize)]
struct Webhook {
    object: String,
    // Read item by item: one malformed entry or event is skipped with a
    // warning, the rest kept (see `adapter::each`).
    #[serde(default)]
    entry: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Entry {
    /// The page (Messenger) or Instagram account the events are for.
    id: Option<String>,
    #[serde(default)]
    messaging: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Messaging {
    sender: Option<Party>,
    message: Option<MessagePayload>,
    postback: Option<Postback>,
    delivery: Option<Delivery>,
    read: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Party {
    id: String,
}

#[derive(Deserialize)]
struct MessagePayload {
    mid: String,
    text: Option<String>,
    #[serde(default)]
    attachments: Vec<Attachment>,
    #[serde(default)]
    is_echo: bool,
    quick_reply: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Attachment {
    #[serde(rename = "type")]
    kind: String,
    payload: Option<AttachmentPayload>,
}

#[derive(Deserialize)]
struct AttachmentPayload {
    url: Option<String>,
    title: Option<String>,
}

#[derive(Deserialize)]
struct Postback {
    mid: Option<String>,
    title: Option<String>,
    payload: Option<String>,
}

#[derive(Deserialize)]
struct Delivery {
    #[serde(default)]
    mids: Vec<String>,
}

#[derive(Deserialize)]
struct SendAnswer {
    message_id: String,
}

fn media_type(kind: &str) -> Option<&'static str> {
    match kind {
        "image" => Some("image/jpeg"),
        "video" => Some("video/mp4"),
        "audio" => Some("audio/mpeg"),
        _ => None,
    }
}

impl ChannelAdapter for MetaMessaging {
    fn channel(&self) -> Channel {
        self.channel
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_text_chars: self.max_text_chars,
            max_attachments: 1,
            text_with_attachment: false,
            max_caption_chars: 0,
            templates: false,
            reply_window: Some(ReplyWindow { hours: 24, human_agent_hours: Some(24 * 7) }),
        }
    }

    fn required_settings(&self) -> &'static [&'static str] {
        &["page_id"]
    }

    fn required_secrets(&self) -> &'static [&'static str] {
        &["access_token", "app_secret", "verify_token"]
    }

    fn challenge(&self, query: &str, inbox: &InboxConfig<'_>) -> Option<Result<String, WebhookError>> {
        Some(challenge(query, inbox))
    }

    fn verify(&self, request: &WebhookRequest<'_>, inbox: &InboxConfig<'_>) -> Result<(), WebhookError> {
        verify_signature(request, inbox.secret("app_secret")?)
    }

    fn parse(&self, request: &WebhookRequest<'_>, inbox: &InboxConfig<'_>) -> Result<Vec<WebhookEvent>, WebhookError> {
        let webhook: Webhook = json_body(request.body)?;
        if webhook.object != self.object {
            return Ok(vec![WebhookEvent::Ignored(format!("object `{}` on a {} inbox", webhook.object, self.channel))]);
        }
        // One app's webhooks carry every page it serves: only this inbox's
        // page (Messenger) or account (Instagram, when configured) counts.
        let ours = match self.channel {
            Channel::Instagram => inbox.setting("instagram_account_id").ok(),
            _ => inbox.setting("page_id").ok(),
        };
        let mut events = Vec::new();
        let mut messagings = Vec::new();
        for entry in each::<Entry>(webhook.entry, "entry", &mut events) {
            match (ours, entry.id.as_deref()) {
                (Some(ours), Some(id)) if ours != id => events.push(WebhookEvent::Ignored(format!("events for {id}, not this inbox's"))),
                _ => messagings.extend(entry.messaging),
            }
        }
        for messaging in each::<Messaging>(messagings, "messaging event", &mut events) {
            let Some(sender) = messaging.sender.map(|s| s.id).filter(|s| !s.is_empty()) else {
                events.push(WebhookEvent::Ignored("messaging event without a sender".into()));
                continue;
            };
            if let Some(message) = messaging.message {
                if message.is_echo {
                    events.push(WebhookEvent::Ignored(format!("echo of our own message {}", message.mid)));
                    continue;
                }
                let mut text = message.text.unwrap_or_default();
                let mut media = Vec::new();
                for attachment in message.attachments {
                    let url = attachment.payload.as_ref().and_then(|p| p.url.clone());
                    match (media_type(&attachment.kind), url) {
                        (_, Some(url)) if attachment.kind != "fallback" => media.push(MediaRef {
                            locator: url,
                            content_type: media_type(&attachment.kind).map(str::to_owned),
                            filename: None,
                        }),
                        _ => {
                            let title = attachment.payload.and_then(|p| p.title).unwrap_or_else(|| attachment.kind.clone());
                            if !text.is_empty() {
                                text.push('\n');
                            }
                            text.push_str(&format!("[{}] {title}", attachment.kind));
                        }
                    }
                }
                if text.is_empty() && media.is_empty() && message.quick_reply.is_some() {
                    text = "[quick reply]".into();
                }
                events.push(WebhookEvent::Message(IncomingMessage {
                    provider_message_id: message.mid,
                    sender,
                    text,
                    media,
                    ..Default::default()
                }));
            } else if let Some(postback) = messaging.postback {
                let text = postback.title.or(postback.payload).unwrap_or_default();
                let Some(mid) = postback.mid else {
                    events.push(WebhookEvent::Ignored("postback without a message id".into()));
                    continue;
                };
                events.push(WebhookEvent::Message(IncomingMessage { provider_message_id: mid, sender, text, ..Default::default() }));
            } else if let Some(delivery) = messaging.delivery {
                for mid in delivery.mids {
                    events.push(WebhookEvent::Status(StatusReport {
                        provider_message_id: mid,
                        status: DeliveryStatus::Delivered,
                        error: None,
                    }));
                }
            } else if messaging.read.is_some() {
                events.push(WebhookEvent::Ignored("read receipt (by watermark)".into()));
            } else {
                events.push(WebhookEvent::Ignored("messaging event of an unhandled kind".into()));
            }
        }
        Ok(events)
    }

    fn acknowledgement(&self) -> Acknowledgement {
        Acknowledgement { content_type: "text/plain; charset=utf-8", body: "EVENT_RECEIVED" }
    }

    fn send_request(&self, message: &Outgoing, inbox: &InboxConfig<'_>) -> Result<HttpRequest, SendError> {
        if message.template.is_some() {
            return Err(SendError::permanent(format!("{} has no message templates", self.channel)));
        }
        let page = inbox.setting("page_id")?;
        let token = inbox.secret("access_token")?;
        let content = match message.media.first() {
            Some(media) => {
                let kind = media.content_type.split('/').next().filter(|k| matches!(*k, "image" | "video" | "audio")).unwrap_or("file");
                serde_json::json!({ "attachment": { "type": kind, "payload": { "url": media.url, "is_reusable": false } } })
            }
            None => serde_json::json!({ "text": message.text }),
        };
        let mut body = serde_json::json!({ "recipient": { "id": message.to }, "message": content });
        if message.human_agent_tag {
            body["messaging_type"] = "MESSAGE_TAG".into();
            body["tag"] = "HUMAN_AGENT".into();
        } else {
            body["messaging_type"] = "RESPONSE".into();
        }
        Ok(HttpRequest::post_json(format!("{}/{page}/messages", inbox.endpoints.meta_graph.trim_end_matches('/')), body).bearer(token))
    }

    fn send_result(&self, status: u16, body: &[u8]) -> Result<SendReceipt, SendError> {
        if !(200..300).contains(&status) {
            return Err(graph_error(status, body));
        }
        let answer: SendAnswer = serde_json::from_slice(body).map_err(|e| {
            SendError::permanent(format!("{} accepted the request but its answer could not be read ({e}); it may have been sent", "Meta"))
        })?;
        Ok(SendReceipt { provider_message_id: answer.message_id, status: DeliveryStatus::Sent })
    }

    fn media_request(&self, media: &MediaRef, _inbox: &InboxConfig<'_>) -> Result<HttpRequest, ConfigError> {
        // Attachment URLs are signed CDN links; they need no token.
        Ok(HttpRequest::get(media.locator.clone()))
    }
}
