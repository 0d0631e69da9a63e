//! The interface every messaging channel implements.
//!
//! An adapter translates between one provider's wire format and Threadline:
//! it checks a webhook's signature, turns the webhook into messages and
//! delivery reports, and describes the HTTP request that sends a reply and
//! how to read the answer. It performs no I/O itself: the server executes
//! the requests it describes. That keeps every adapter testable against the
//! providers' documented examples, and makes a new channel one module plus
//! one line in [`crate::registry`].

use std::collections::BTreeMap;

use threadline_domain::channel::Channel;
use threadline_domain::identity::IdentityKind;
use threadline_domain::message::DeliveryStatus;
use threadline_domain::reply::Capabilities;

type JsonMap = serde_json::Map<String, serde_json::Value>;

/// Where the providers' APIs live. Configuration, so tests and on-premise
/// gateways can point elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEndpoints {
    /// e.g. `https://api.twilio.com`
    pub twilio: String,
    /// The Graph API with its version, e.g. `https://graph.facebook.com/v21.0`
    pub meta_graph: String,
    /// e.g. `https://api.telegram.org`
    pub telegram: String,
}

impl Default for ProviderEndpoints {
    fn default() -> Self {
        ProviderEndpoints {
            twilio: "https://api.twilio.com".into(),
            meta_graph: "https://graph.facebook.com/v21.0".into(),
            telegram: "https://api.telegram.org".into(),
        }
    }
}

/// One configured inbox, as an adapter sees it.
#[derive(Debug, Clone, Copy)]
pub struct InboxConfig<'a> {
    /// Non-secret settings (phone number id, sender number, page id…).
    pub settings: &'a JsonMap,
    /// Decrypted provider credentials.
    pub secrets: &'a BTreeMap<String, String>,
    pub endpoints: &'a ProviderEndpoints,
    /// The public URL providers call for this inbox's webhook, exactly as
    /// they see it (Twilio signs it).
    pub webhook_url: &'a str,
}

impl<'a> InboxConfig<'a> {
    pub fn setting(&self, name: &str) -> Result<&'a str, ConfigError> {
        self.settings.get(name).and_then(|v| v.as_str()).filter(|v| !v.is_empty()).ok_or(ConfigError::MissingSetting(name.to_owned()))
    }

    pub fn secret(&self, name: &str) -> Result<&'a str, ConfigError> {
        self.secrets.get(name).map(String::as_str).filter(|v| !v.is_empty()).ok_or(ConfigError::MissingSecret(name.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the inbox has no `{0}` setting")]
    MissingSetting(String),
    #[error("the inbox has no `{0}` secret")]
    MissingSecret(String),
}

/// A webhook request as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub headers: &'a http::HeaderMap,
    /// The raw query string, without `?`.
    pub query: &'a str,
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why a webhook was refused. The server answers 403 for signature
/// problems, 400 for malformed payloads, and stores nothing either way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("signature missing or wrong: {0}")]
    Signature(String),
    #[error("malformed payload: {0}")]
    Malformed(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// What a webhook carried.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    Message(IncomingMessage),
    Status(StatusReport),
    /// Acknowledged and ignored (unknown event types, our own echoes…),
    /// with the reason for the log.
    Ignored(String),
    /// One event of the webhook could not be read: logged as a warning and
    /// acknowledged with the rest, so the provider does not redeliver the
    /// whole batch forever and the readable events are kept.
    Skipped(String),
}

/// A customer's message, in Threadline's terms.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IncomingMessage {
    pub provider_message_id: String,
    /// The sender's address on this channel (E.164 phone, PSID, chat id…),
    /// of the channel's identity kind.
    pub sender: String,
    /// Further identities the provider tells us (e.g. a Telegram username is
    /// not one; a WhatsApp profile carries the phone).
    pub other_identities: Vec<(IdentityKind, String)>,
    pub sender_name: Option<String>,
    /// The sender's language as the provider knows it (a language tag,
    /// e.g. Telegram's `language_code`).
    pub sender_language: Option<String>,
    pub text: String,
    pub media: Vec<MediaRef>,
    /// The message itself withdraws (`Some(false)`) or gives back
    /// (`Some(true)`) consent to be written to on this channel: SMS `STOP`
    /// and `START` keywords.
    pub consent: Option<bool>,
}

/// Media a message refers to; fetched by the server through
/// [`ChannelAdapter::media_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    /// A URL, or a provider's media/file id to look up first.
    pub locator: String,
    pub content_type: Option<String>,
    pub filename: Option<String>,
}

/// A delivery report for a message we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub provider_message_id: String,
    pub status: DeliveryStatus,
    pub error: Option<String>,
}

/// An HTTP request for the server to execute.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: http::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: RequestBody,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RequestBody {
    Empty,
    Json(serde_json::Value),
    /// `application/x-www-form-urlencoded`, fields in order (repeats allowed).
    Form(Vec<(String, String)>),
    /// `multipart/form-data`: text fields and one file.
    Multipart {
        fields: Vec<(String, String)>,
        file: FilePart,
    },
}

/// A file uploaded in a multipart request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePart {
    pub field: String,
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

impl HttpRequest {
    pub fn get(url: String) -> Self {
        HttpRequest { method: http::Method::GET, url, headers: Vec::new(), body: RequestBody::Empty }
    }

    pub fn post_json(url: String, body: serde_json::Value) -> Self {
        HttpRequest { method: http::Method::POST, url, headers: Vec::new(), body: RequestBody::Json(body) }
    }

    pub fn bearer(mut self, token: &str) -> Self {
        self.headers.push(("authorization".into(), format!("Bearer {token}")));
        self
    }
}

/// A reply to send.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outgoing {
    /// The recipient's address on this channel.
    pub to: String,
    pub text: String,
    /// At most [`Capabilities::max_attachments`], by public URL.
    pub media: Vec<OutgoingMedia>,
    pub template: Option<TemplateSend>,
    /// Send with the human-agent tag (past the standard window).
    pub human_agent_tag: bool,
    /// Where the provider should report delivery, for providers that take a
    /// per-message callback (Twilio).
    pub status_callback: Option<String>,
    /// Answers the customer can tap (a survey's scores), on channels that
    /// have buttons; the others send the text alone, which asks them to type.
    pub choices: Vec<Choice>,
    /// The label of the button that opens a list of choices (WhatsApp).
    pub choices_button: Option<String>,
}

/// One answer to tap. Its `title` is what comes back as the customer's
/// message (with the description after ` — ` on WhatsApp lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMedia {
    pub url: String,
    pub content_type: String,
    pub filename: String,
    /// The file itself, for adapters that upload media
    /// ([`ChannelAdapter::uploads_media`]) instead of giving a link.
    pub data: Option<Vec<u8>>,
}

/// An approved template and the values of its variables, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSend {
    pub name: String,
    pub language: String,
    pub parameters: Vec<String>,
}

/// The provider accepted a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    pub provider_message_id: String,
    /// The status the provider reported right away (`sent` unless it says
    /// otherwise).
    pub status: DeliveryStatus,
}

/// Why a send failed, and whether trying again could help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SendError {
    pub reason: String,
    /// Network trouble, rate limits and 5xx are worth retrying; a refused
    /// recipient or a closed window is not.
    pub retryable: bool,
}

impl SendError {
    pub fn permanent(reason: impl Into<String>) -> Self {
        SendError { reason: reason.into(), retryable: false }
    }

    pub fn transient(reason: impl Into<String>) -> Self {
        SendError { reason: reason.into(), retryable: true }
    }

    /// The usual reading of an HTTP status: 408, 429 and 5xx are transient.
    pub fn from_status(status: u16, reason: impl Into<String>) -> Self {
        SendError { reason: reason.into(), retryable: status == 408 || status == 429 || status >= 500 }
    }
}

impl From<ConfigError> for SendError {
    fn from(e: ConfigError) -> Self {
        SendError::permanent(e.to_string())
    }
}

/// The next step in fetching a media file.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaStep {
    /// The body just received is the file.
    Done,
    /// The body was a lookup; fetch this next.
    Fetch(HttpRequest),
}

/// What a provider expects as the answer to a webhook it delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acknowledgement {
    pub content_type: &'static str,
    pub body: &'static str,
}

/// One messaging channel.
pub trait ChannelAdapter: Send + Sync {
    fn channel(&self) -> Channel;

    fn capabilities(&self) -> Capabilities;

    /// Settings and secrets an inbox of this channel needs, checked when the
    /// inbox is created.
    fn required_settings(&self) -> &'static [&'static str];
    fn required_secrets(&self) -> &'static [&'static str];

    /// Answers a provider's subscription challenge (a GET on the webhook
    /// URL). `None`: this channel has no challenge.
    fn challenge(&self, _query: &str, _inbox: &InboxConfig<'_>) -> Option<Result<String, WebhookError>> {
        None
    }

    /// Checks the webhook's signature (or secret) before anything is parsed.
    fn verify(&self, request: &WebhookRequest<'_>, inbox: &InboxConfig<'_>) -> Result<(), WebhookError>;

    /// Reads a verified webhook.
    fn parse(&self, request: &WebhookRequest<'_>, inbox: &InboxConfig<'_>) -> Result<Vec<WebhookEvent>, WebhookError>;

    /// The answer the provider expects once the webhook is stored.
    fn acknowledgement(&self) -> Acknowledgement {
        Acknowledgement { content_type: "text/plain; charset=utf-8", body: "OK" }
    }

    /// Whether replies' files are uploaded with the send (filled into
    /// [`OutgoingMedia::data`]) rather than fetched by the provider from a link.
    fn uploads_media(&self) -> bool {
        false
    }

    /// The request that sends `message`.
    fn send_request(&self, message: &Outgoing, inbox: &InboxConfig<'_>) -> Result<HttpRequest, SendError>;

    /// Reads the provider's answer to [`Self::send_request`].
    fn send_result(&self, status: u16, body: &[u8]) -> Result<SendReceipt, SendError>;

    /// The first request that fetches a media file.
    fn media_request(&self, media: &MediaRef, inbox: &InboxConfig<'_>) -> Result<HttpRequest, ConfigError>;

    /// What to do with the answer to a media request.
    fn media_step(&self, _body: &[u8], _inbox: &InboxConfig<'_>) -> Result<MediaStep, WebhookError> {
        Ok(MediaStep::Done)
    }
}

/// Parses a JSON webhook body, naming the problem for the log.
/// Reads each item of a JSON array on its own: a provider batching many
/// events in one webhook must not lose them all to one malformed event.
/// Items that do not read become [`WebhookEvent::Skipped`] in `skipped`.
pub(crate) fn each<T: serde::de::DeserializeOwned>(items: Vec<serde_json::Value>, what: &str, skipped: &mut Vec<WebhookEvent>) -> Vec<T> {
    items
        .into_iter()
        .filter_map(|item| match serde_json::from_value(item) {
            Ok(read) => Some(read),
            Err(e) => {
                skipped.push(WebhookEvent::Skipped(format!("a malformed {what}: {e}")));
                None
            }
        })
        .collect()
}

pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, WebhookError> {
    serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))
}

/// Takes `max` characters of a provider's error text for the message's
/// failure reason.
pub(crate) fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
