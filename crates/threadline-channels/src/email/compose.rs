//! Email out: an agent's reply as a MIME message for an SMTP relay.
//!
//! The reply is `multipart/alternative` (the text, and the agent's HTML or
//! the text as simple HTML) inside `multipart/mixed` when it has
//! attachments, with the inbox's signature in both. It carries its own
//! `Message-ID`, `In-Reply-To` naming the customer's last email and
//! `References` with the whole chain, so every mail client threads it, and
//! a `Reply-To` address that names the conversation, so an answer finds its
//! way back even from a client that drops those headers.

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
    /// The agent's formatted reply, already sanitised; without it the text
    /// is sent as simple HTML.
    pub html: Option<&'a str>,
    pub signature: Option<&'a str>,
    /// Where the customer's answer should go (the conversation's reply address).
    pub reply_to: Option<&'a str>,
    /// Without angle brackets, e.g. `0193…@shop.example`.
    pub message_id: &'a str,
    /// The Message-ID (without brackets) of the customer's email this answers.
    pub in_reply_to: Option<&'a str>,
    /// The thread so far, oldest first (without brackets); `in_reply_to` is
    /// added at the end if missing.
    pub references: &'a [String],
    /// Set on messages no person wrote (an automatic acknowledgement), so the
    /// customer's auto-responder does not answer it (RFC 3834).
    pub auto_submitted: bool,
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

/// The subject of a reply to `subject`: `Re: ` added once, whatever
/// language's prefix is already there.
pub fn reply_subject(subject: &str) -> String {
    let trimmed = subject.trim();
    let lower = trimmed.to_lowercase();
    if ["re:", "r:", "aw:", "sv:", "antw:", "rif:"].iter().any(|p| lower.starts_with(p)) {
        trimmed.to_owned()
    } else {
        format!("Re: {trimmed}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `Auto-Submitted` (RFC 3834): `auto-replied` for an answer a machine
/// sent to a person's mail, `auto-generated` for a notice of its own.
#[derive(Debug, Clone)]
struct AutoSubmitted(String);

impl lettre::message::header::Header for AutoSubmitted {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(value: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted(value.to_owned()))
    }
    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// A plain-text notice Threadline sends of its own accord (an address
/// verification code), marked `Auto-Submitted: auto-generated` so no one's
/// auto-responder answers it.
pub fn notice(from: &str, to: &str, subject: &str, text: &str) -> Result<Message, SendError> {
    let from: Mailbox = from.parse().map_err(|e: lettre::address::AddressError| SendError::permanent(format!("the sender: {e}")))?;
    let to: Mailbox = to.parse().map_err(|e: lettre::address::AddressError| SendError::permanent(format!("the recipient: {e}")))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .header(AutoSubmitted("auto-generated".into()))
        .body(text.to_owned())
        .map_err(|e| SendError::permanent(e.to_string()))
}

/// The plain-text and HTML bodies of a reply as they go out: the
/// inbox's signature under both (`-- ` and the signature), the HTML being
/// the agent's (already sanitised) or the text made HTML.
pub fn bodies(text: &str, html: Option<&str>, signature: Option<&str>) -> (String, String) {
    let signature = signature.map(str::trim).filter(|s| !s.is_empty());
    let text = match signature {
        Some(signature) => format!("{}\n\n-- \n{}", text.trim_end(), signature),
        None => text.to_owned(),
    };
    let html = match (html, signature) {
        (Some(html), Some(signature)) => format!("{html}\n<p>-- <br>\n{}</p>", escape(signature).replace('\n', "<br>\n")),
        (Some(html), None) => html.to_owned(),
        (None, _) => html_body(&text),
    };
    (text, html)
}

/// The text as simple HTML: escaped, paragraphs and line breaks kept.
pub fn html_body(text: &str) -> String {
    let escaped = escape(text);
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
    let (text, html) = bodies(reply.text, reply.html, reply.signature);
    let mut builder = Message::builder().from(from).to(to).subject(reply.subject).message_id(Some(format!("<{}>", reply.message_id)));
    if let Some(reply_to) = reply.reply_to {
        let reply_to: Mailbox = reply_to.parse().map_err(|e: lettre::address::AddressError| bad("the reply address", e.to_string()))?;
        builder = builder.reply_to(reply_to);
    }
    let mut chain: Vec<&str> = reply.references.iter().map(String::as_str).filter(|r| !r.is_empty()).collect();
    if let Some(parent) = reply.in_reply_to {
        builder = builder.in_reply_to(format!("<{parent}>"));
        if chain.last() != Some(&parent) {
            chain.push(parent);
        }
    }
    if !chain.is_empty() {
        // Long threads keep the first and the latest ids (RFC 5322 §3.6.4
        // lets a client trim the middle); every client threads on those.
        if chain.len() > 20 {
            let tail = chain.split_off(chain.len() - 19);
            chain.truncate(1);
            chain.extend(tail);
        }
        builder = builder.references(chain.iter().map(|id| format!("<{id}>")).collect::<Vec<_>>().join(" "));
    }
    if reply.auto_submitted {
        builder = builder.header(AutoSubmitted("auto-replied".into()));
    }
    let body = MultiPart::alternative_plain_html(text.clone(), html);
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
            html: None,
            signature: Some("Paolo — Bottega Aurora"),
            reply_to: Some("aiuto+c123@bottega.example"),
            message_id: &message_id("0193abcd", "aiuto@bottega.example"),
            in_reply_to: Some("CAF=abc@mail.example.com"),
            references: &["first@mail.example.com".into()],
            auto_submitted: false,
            attachments: vec![EmailAttachment {
                filename: "ricevuta.pdf".into(),
                content_type: "application/pdf".into(),
                data: b"%PDF".to_vec(),
            }],
        };
        let raw = String::from_utf8(compose(&reply).unwrap().formatted()).unwrap();
        assert!(raw.contains("Message-ID: <0193abcd@bottega.example>"), "{raw}");
        assert!(raw.contains("In-Reply-To: <CAF=abc@mail.example.com>"));
        assert!(raw.contains("References: <first@mail.example.com> <CAF=abc@mail.example.com>"), "{raw}");
        assert!(raw.contains("Reply-To: aiuto+c123@bottega.example"), "{raw}");
        assert!(!raw.contains("Auto-Submitted"));
        assert!(raw.contains("multipart/mixed") && raw.contains("multipart/alternative"));
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        assert!(raw.contains("ricevuta.pdf"));
    }

    #[test]
    fn the_agents_html_goes_out_with_the_signature_and_auto_replies_say_so() {
        let reply = EmailReply {
            from_name: None,
            from_address: "aiuto@bottega.example",
            to: "giulia@example.com",
            subject: "Re: ordine",
            text: "Grazie!",
            html: Some("<p><b>Grazie!</b></p>"),
            signature: Some("Paolo <staff>"),
            reply_to: None,
            message_id: "2@bottega.example",
            in_reply_to: None,
            references: &[],
            auto_submitted: true,
            attachments: Vec::new(),
        };
        let raw = String::from_utf8(compose(&reply).unwrap().formatted()).unwrap();
        assert!(raw.contains("<p><b>Grazie!</b></p>"), "{raw}");
        assert!(raw.contains("Paolo &lt;staff&gt;"), "{raw}");
        assert!(raw.contains("Auto-Submitted: auto-replied"), "{raw}");
    }

    #[test]
    fn reply_subjects_get_one_prefix() {
        assert_eq!(reply_subject("Ordine A-1042"), "Re: Ordine A-1042");
        assert_eq!(reply_subject("RE: Ordine"), "RE: Ordine");
        assert_eq!(reply_subject("R: Ordine"), "R: Ordine");
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
            html: None,
            signature: None,
            reply_to: None,
            message_id: "1@bottega.example",
            in_reply_to: None,
            references: &[],
            auto_submitted: true,
            attachments: Vec::new(),
        };
        let error = compose(&reply).unwrap_err();
        assert!(!error.retryable && error.reason.contains("customer's address"), "{error}");
    }
}
