//! Email out: an agent's reply as a MIME message for an SMTP relay.
//!
//! The reply is `multipart/alternative` (the text, and the same text as
//! simple HTML) inside `multipart/mixed` when it has attachments, with the
//! inbox's signature. It carries its own `Message-ID`, and `In-Reply-To` and
//! `References` naming the customer's last email so their mail client
//! threads it.
//!
//! Inbox settings for sending: `address` (the From address), `name` (its
//! display name), `smtp_host`, `smtp_port` (default 587), `smtp_security`
//! (`starttls`, the default; `tls`; or `none` for a relay on a trusted
//! network), `subject`, `signature`. Secrets: `smtp_username`,
//! `smtp_password` when the relay needs them.

use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use threadline_domain::message::MAX_TEXT_CHARS;
use threadline_domain::reply::Capabilities;

use crate::adapter::SendError;

/// Email carries long text and several files, and has no reply window.
pub const CAPABILITIES: Capabilities = Capabilities {
    max_text_chars: MAX_TEXT_CHARS,
    max_attachments: 10,
    text_with_attachment: true,
    max_caption_chars: MAX_TEXT_CHARS,
    templates: false,
    reply_window: None,
};

/// A reply to compose.
#[derive(Debug, Clone)]
pub struct EmailReply<'a> {
    pub from_name: Option<&'a str>,
    pub from_address: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub signature: Option<&'a str>,
    /// Without angle brackets, e.g. `0193…@shop.example`.
    pub message_id: &'a str,
    /// The Message-ID (without brackets) of the customer's email this answers.
    pub in_reply_to: Option<&'a str>,
    pub attachments: Vec<EmailAttachment>,
}

#[derive(Debug, Clone)]
pub struct EmailAttachment {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// The Message-ID of a reply: its message id at the sender's domain.
pub fn message_id(message_uuid: &str, from_address: &str) -> String {
    let domain = from_address.rsplit_once('@').map_or("threadline.invalid", |(_, d)| d);
    format!("{message_uuid}@{domain}")
}

/// The text as simple HTML: escaped, paragraphs and line breaks kept.
pub fn html_body(text: &str) -> String {
    let escaped = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let paragraphs: Vec<String> =
        escaped.split("\n\n").filter(|p| !p.trim().is_empty()).map(|p| format!("<p>{}</p>", p.trim().replace('\n', "<br>\n"))).collect();
    format!("<!doctype html><html><body style=\"font-family:sans-serif\">{}</body></html>", paragraphs.join("\n"))
}

/// Builds the MIME message.
pub fn compose(reply: &EmailReply<'_>) -> Result<Message, SendError> {
    let bad = |what: &str, e: String| SendError::permanent(format!("{what}: {e}"));
    let from = Mailbox::new(
        reply.from_name.map(str::to_owned),
        reply.from_address.parse().map_err(|e: lettre::address::AddressError| bad("the inbox's address", e.to_string()))?,
    );
    let to: Mailbox = reply.to.parse().map_err(|e: lettre::address::AddressError| bad("the customer's address", e.to_string()))?;
    let text = match reply.signature.filter(|s| !s.trim().is_empty()) {
        Some(signature) => format!("{}\n\n-- \n{}", reply.text.trim_end(), signature.trim()),
        None => reply.text.to_owned(),
    };
    let mut builder = Message::builder().from(from).to(to).subject(reply.subject).message_id(Some(format!("<{}>", reply.message_id)));
    if let Some(parent) = reply.in_reply_to {
        builder = builder.in_reply_to(format!("<{parent}>")).references(format!("<{parent}>"));
    }
    let body = MultiPart::alternative_plain_html(text.clone(), html_body(&text));
    let message = if reply.attachments.is_empty() {
        builder.multipart(body)
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for a in &reply.attachments {
            let content_type =
                ContentType::parse(&a.content_type).unwrap_or(ContentType::parse("application/octet-stream").expect("valid"));
            let part: SinglePart = Attachment::new(a.filename.clone()).body(a.data.clone(), content_type);
            mixed = mixed.singlepart(part);
        }
        builder.multipart(mixed)
    };
    message.map_err(|e| bad("the message could not be built", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_threads_and_carries_both_bodies() {
        let reply = EmailReply {
            from_name: Some("Bottega Aurora"),
            from_address: "aiuto@bottega.example",
            to: "giulia@example.com",
            subject: "Re: ordine A-1042",
            text: "Ciao Giulia,\nil pacco arriva domani.\n\nA presto",
            signature: Some("Paolo — Bottega Aurora"),
            message_id: &message_id("0193abcd", "aiuto@bottega.example"),
            in_reply_to: Some("CAF=abc@mail.example.com"),
            attachments: vec![EmailAttachment {
                filename: "ricevuta.pdf".into(),
                content_type: "application/pdf".into(),
                data: b"%PDF".to_vec(),
            }],
        };
        let raw = String::from_utf8(compose(&reply).unwrap().formatted()).unwrap();
        assert!(raw.contains("Message-ID: <0193abcd@bottega.example>"), "{raw}");
        assert!(raw.contains("In-Reply-To: <CAF=abc@mail.example.com>"));
        assert!(raw.contains("References: <CAF=abc@mail.example.com>"));
        assert!(raw.contains("multipart/mixed") && raw.contains("multipart/alternative"));
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        assert!(raw.contains("ricevuta.pdf"));
    }

    #[test]
    fn html_is_escaped() {
        let html = html_body("<script>alert(1)</script>\n\nfine & dandy");
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
        assert!(html.contains("<p>fine &amp; dandy</p>"));
    }

    #[test]
    fn bad_addresses_are_refused_not_sent() {
        let reply = EmailReply {
            from_name: None,
            from_address: "aiuto@bottega.example",
            to: "not an address",
            subject: "x",
            text: "x",
            signature: None,
            message_id: "1@bottega.example",
            in_reply_to: None,
            attachments: Vec::new(),
        };
        let error = compose(&reply).unwrap_err();
        assert!(!error.retryable && error.reason.contains("customer's address"), "{error}");
    }
}
