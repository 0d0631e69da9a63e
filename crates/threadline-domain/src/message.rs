//! Messages: what was said, by whom, on which channel and inbox.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::channel::Channel;
use crate::conversation::string_enum;
use crate::ids::{AttachmentId, ContactId, ConversationId, InboxId, MessageId};

string_enum! {
    Direction { Inbound => "inbound", Outbound => "outbound" }
}

string_enum! {
    /// Who wrote a message.
    SenderKind { Contact => "contact", User => "user", Bot => "bot", System => "system" }
}

string_enum! {
    /// Where an outbound message is on its way to the customer. Inbound
    /// messages are `received`.
    DeliveryStatus {
        Received => "received",
        Pending => "pending",
        Sent => "sent",
        Delivered => "delivered",
        Read => "read",
        Failed => "failed",
        /// Notes are never sent anywhere.
        Internal => "internal",
    }
}

string_enum! {
    /// A note is visible to agents only and is never sent to the customer.
    MessageKind { Message => "message", Note => "note" }
}

/// The longest message text accepted, in characters (64 KiB of text is far
/// beyond any channel's limit; email bodies larger than that are attachments).
pub const MAX_TEXT_CHARS: usize = 65_536;
/// The longest HTML body accepted before sanitising, in bytes.
pub const MAX_HTML_BYTES: usize = 1_048_576;

/// An answer a message offers to tap (a survey's scores): its id, the
/// title that comes back as the customer's message, and a description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Choice {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A message as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub contact_id: ContactId,
    pub kind: MessageKind,
    pub direction: Direction,
    pub channel: Channel,
    pub inbox_id: Option<InboxId>,
    pub sender_kind: SenderKind,
    /// The user id, contact id or bot name, per `sender_kind`.
    pub sender_id: Option<String>,
    pub text: String,
    /// Sanitised HTML (see [`crate::html::sanitize`]); never raw customer HTML.
    pub html: Option<String>,
    pub provider_message_id: Option<String>,
    pub delivery_status: DeliveryStatus,
    pub delivery_error: Option<String>,
    /// The subject line (email).
    pub subject: Option<String>,
    /// The history the customer's mail client quoted below their new text,
    /// kept apart from `text` so the new words stand on their own.
    pub quoted_text: Option<String>,
    /// Why this message was written by a machine rather than a person (an
    /// auto-reply, a mailing list, a bounce); Threadline never answers
    /// such a message automatically.
    pub automated: Option<String>,
    /// What could not be read in the message as it arrived. When this is
    /// not empty the original is kept as an attachment.
    pub problems: Vec<String>,
    pub attachments: Vec<AttachmentMeta>,
    /// The answers it offers to tap (buttons in the chat, a list on
    /// WhatsApp, a keyboard on Telegram).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    /// What Threadline understood of a customer's message — language,
    /// sentiment, category, urgency — and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triage: Option<Box<crate::triage::Triage>>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What is known of an attachment without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttachmentMeta {
    pub id: AttachmentId,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    /// For an email's inline image: the Content-ID its HTML body refers to
    /// as `cid:…`. Such attachments are shown in the body, not as files.
    pub content_id: Option<String>,
}

/// Makes a client-supplied file name safe to store and to offer for download:
/// no directories, no control characters, bounded length.
pub fn safe_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| !c.is_control() && *c != '"').take(200).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() { "attachment".to_owned() } else { cleaned }
}

/// A MIME type is `type/subtype` with token characters only; anything else is
/// stored as the safe default.
pub fn safe_content_type(raw: &str) -> String {
    let raw = raw.trim().to_ascii_lowercase();
    let token = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c));
    match raw.split_once('/') {
        Some((kind, sub)) if token(kind) && token(sub) && raw.len() <= 127 => raw,
        _ => "application/octet-stream".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_paths_and_control_characters() {
        assert_eq!(safe_filename("../../etc/passwd"), "passwd");
        assert_eq!(safe_filename("C:\\Users\\x\\fattura.pdf"), "fattura.pdf");
        assert_eq!(safe_filename("a\u{0}b\r\n.txt"), "ab.txt");
        assert_eq!(safe_filename("..."), "attachment");
        assert_eq!(safe_filename(".htaccess"), "htaccess");
        assert_eq!(safe_filename("ricevuta \"2026\".pdf"), "ricevuta 2026.pdf");
    }

    #[test]
    fn content_types_are_checked() {
        assert_eq!(safe_content_type("Image/PNG"), "image/png");
        assert_eq!(safe_content_type("text/html; charset=utf-8"), "application/octet-stream");
        assert_eq!(safe_content_type("nonsense"), "application/octet-stream");
    }
}
