//! A customer's mail, read for an agent.
//!
//! MIME parsing is `mail-parser`'s (every charset through `encoding_rs`,
//! RFC 2047/2231 words and names, nested messages); this module decides what
//! Threadline keeps: the new text apart from the quoted history, the HTML
//! sanitised, attachments and inline images within the size limit, the
//! threading headers, whether a machine wrote it, and — instead of failing
//! — a list of what could not be read. The caller keeps the raw message when
//! that list is not empty, so nothing is lost.

use std::borrow::Cow;

use mail_parser::{HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType};
use threadline_domain::html::RemoteImages;
use threadline_domain::message::{MAX_HTML_BYTES, MAX_TEXT_CHARS, safe_filename};

use super::automated::{Signals, automated};
use super::bounce::{DeliveryReport, recipients};
use super::quote;

/// The most attachments kept from one message.
pub const MAX_ATTACHMENTS: usize = 100;
/// Longest subject and header value kept, in characters.
const MAX_HEADER_CHARS: usize = 998;
/// How much of a forwarded message's text is copied into the body.
const MAX_FORWARDED_CHARS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// Larger attachments are not kept (and reported in `problems`).
    pub max_attachment_bytes: usize,
    /// Remote images are removed from HTML unless the inbox allows them.
    pub remote_images: RemoteImages,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAttachment {
    pub filename: String,
    pub content_type: String,
    /// The `Content-ID` an HTML body refers to as `cid:…`, without brackets.
    pub content_id: Option<String>,
    /// Shown in the body (an inline image) rather than offered as a file.
    pub inline: bool,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedEmail {
    /// Without angle brackets.
    pub message_id: Option<String>,
    /// Lower-cased.
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    /// `To` and `Cc`, lower-cased.
    pub recipients: Vec<String>,
    pub subject: Option<String>,
    /// Without angle brackets.
    pub in_reply_to: Vec<String>,
    /// Without angle brackets, oldest first.
    pub references: Vec<String>,
    /// What the sender wrote now, without the quoted history.
    pub text: String,
    pub quoted_text: Option<String>,
    /// Sanitised for display (no scripts, handlers, remote images).
    pub html: Option<String>,
    pub attachments: Vec<ParsedAttachment>,
    /// Why a machine wrote it (see [`super::automated`]).
    pub automated: Option<String>,
    /// Set when the mail is a delivery status notification.
    pub report: Option<DeliveryReport>,
    /// What could not be read; empty for a clean message.
    pub problems: Vec<String>,
}

/// Reads `raw`. Never fails and never panics: anything unreadable is
/// reported in `problems`, with as much as could be recovered kept.
pub fn parse(raw: &[u8], limits: &ParseLimits) -> ParsedEmail {
    // Header blocks that run into their body are ended where a lenient
    // reader would end them; the caller keeps the original as it arrived.
    let repaired = super::repair::restore_header_separators(raw);
    let raw = repaired.as_deref().unwrap_or(raw);
    // Text without a single well-formed `Name: value` line is not a mail
    // (the parser would take its first line for a header name).
    let well_formed = |m: &Message<'_>| {
        m.headers().iter().any(|h| {
            let name = h.name.as_str();
            !name.is_empty() && !name.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        })
    };
    let parsed = MessageParser::default().parse(raw).filter(well_formed);
    let Some(message) = parsed else {
        let (text, cut) = capped(&clean(&String::from_utf8_lossy(raw)));
        let mut problems = vec!["no mail headers could be read; the message is kept as it arrived".to_owned()];
        if cut {
            problems.push(format!("the text is longer than {MAX_TEXT_CHARS} characters and was cut"));
        }
        return ParsedEmail { text, problems, ..Default::default() };
    };
    let mut email = ParsedEmail::default();
    read_headers(&message, &mut email);
    read_bodies(&message, limits, &mut email);
    read_attachments(&message, limits, &mut email);
    read_report(&message, &mut email);
    check_encodings(&message, &mut email.problems);
    check_structure(&message, raw, &email.text, email.html.is_some(), &mut email.problems);
    if repaired.is_some() {
        email.problems.push(
            "a header block ran straight into its text without the empty line between them; the text after it was read as the body".into(),
        );
    }
    let has_text = !email.text.trim().is_empty() || email.quoted_text.is_some() || email.html.is_some();
    if !has_text && email.attachments.is_empty() && !email.problems.iter().any(|p| p.starts_with("no readable text")) {
        // Even an empty mail says so: the agent sees why, and the original
        // is kept in case something in it was meant to be read.
        email.problems.push("no readable text was found in the message; it is kept as it arrived".into());
    }

    email.automated = automated(&Signals {
        auto_submitted: text_header(&message, "Auto-Submitted").as_deref(),
        precedence: text_header(&message, "Precedence").as_deref(),
        list_id: message.header("List-Id").is_some(),
        list_unsubscribe: message.header("List-Unsubscribe").is_some(),
        x_autoreply: message.header("X-Autoreply").is_some() || message.header("X-Autorespond").is_some(),
        auto_response_suppress: text_header(&message, "X-Auto-Response-Suppress").as_deref(),
        null_return_path: matches!(message.header("Return-Path"), Some(HeaderValue::Empty)),
        delivery_report: email.report.is_some(),
        from_address: email.from_address.as_deref(),
    });
    if email.from_address.is_none() {
        email.problems.push("the message has no readable sender address (From)".into());
    }
    email
}

fn read_headers(message: &Message<'_>, email: &mut ParsedEmail) {
    email.message_id = message.message_id().map(clean_id).filter(|id| !id.is_empty());
    // The first From: a second one added further down is a forgery's usual shape.
    let first_from = message.header_values("From").next().and_then(|v| v.as_address()).or_else(|| message.from());
    if let Some(from) = first_from.and_then(|a| a.first()) {
        email.from_address = from.address().map(|a| clean(a).trim().to_lowercase()).filter(|a| a.contains('@'));
        email.from_name = from.name().map(|n| capped_chars(&clean(n), 200).trim().to_owned()).filter(|n| !n.is_empty());
    }
    for list in [message.to(), message.cc()].into_iter().flatten() {
        for addr in list.iter() {
            if let Some(address) = addr.address() {
                email.recipients.push(clean(address).trim().to_lowercase());
            }
        }
    }
    email.subject = message.subject().map(|s| capped_chars(&clean(s), MAX_HEADER_CHARS).trim().to_owned()).filter(|s| !s.is_empty());
    let ids = |value: &HeaderValue<'_>| -> Vec<String> {
        value.as_text_list().unwrap_or_default().iter().map(|id| clean_id(id)).filter(|id| !id.is_empty()).take(100).collect()
    };
    email.in_reply_to = ids(message.in_reply_to());
    email.references = ids(message.references());
}

fn read_bodies(message: &Message<'_>, limits: &ParseLimits, email: &mut ParsedEmail) {
    let texts: Vec<String> = (0..message.text_body.len()).filter_map(|i| message.body_text(i)).map(|t| clean(&t)).collect();
    let text = texts.join("\n\n");
    let (new, quoted) = quote::split(&text);
    let (new, cut) = capped(&new);
    if cut {
        email.problems.push(format!("the text is longer than {MAX_TEXT_CHARS} characters and was cut"));
    }
    email.text = new;
    email.quoted_text = quoted.map(|q| capped(&q).0);

    let real_html = message.html_body.iter().any(|&id| matches!(message.parts.get(id as usize).map(|p| &p.body), Some(PartType::Html(_))));
    if real_html {
        let html: String =
            (0..message.html_body.len()).filter_map(|i| message.body_html(i)).map(|h| clean(&h)).collect::<Vec<_>>().join("\n");
        if html.len() > MAX_HTML_BYTES {
            email.problems.push(format!("the HTML body is larger than {MAX_HTML_BYTES} bytes and is not shown; its text is"));
        } else {
            email.html = Some(threadline_domain::html::sanitize_with(&html, limits.remote_images));
        }
    }
}

fn read_attachments(message: &Message<'_>, limits: &ParseLimits, email: &mut ParsedEmail) {
    let mut too_many = 0usize;
    for (n, part) in message.attachments().enumerate() {
        if let Some(nested) = part.message() {
            forwarded_text(nested, email);
        }
        if email.attachments.len() >= MAX_ATTACHMENTS {
            too_many += 1;
            continue;
        }
        let content_type = content_type(part);
        let filename = match part.attachment_name() {
            Some(name) => safe_filename(&clean(name)),
            None if part.is_message() => format!("forwarded-message-{}.eml", n + 1),
            None => format!("attachment-{}.{}", n + 1, extension(&content_type)),
        };
        let data = part.contents();
        if data.len() > limits.max_attachment_bytes {
            email.problems.push(format!(
                "attachment {filename} ({} bytes) is larger than the {}-byte limit and was not kept",
                data.len(),
                limits.max_attachment_bytes
            ));
            continue;
        }
        let inline = matches!(part.body, PartType::InlineBinary(_)) || part.content_disposition().is_some_and(|d| d.is_inline());
        email.attachments.push(ParsedAttachment {
            filename,
            content_type,
            content_id: part.content_id().map(clean_id).filter(|c| !c.is_empty()),
            inline,
            data: data.to_vec(),
        });
    }
    if too_many > 0 {
        email.problems.push(format!("{too_many} attachments beyond the first {MAX_ATTACHMENTS} were not kept"));
    }
}

/// A forwarded message attached whole: its sender, subject and text are
/// added to the body so the agent reads them without opening a file.
fn forwarded_text(nested: &Message<'_>, email: &mut ParsedEmail) {
    let from = nested.from().and_then(|a| a.first()).map(|a| match (a.name(), a.address()) {
        (Some(name), Some(address)) => format!("{name} <{address}>"),
        (None, Some(address)) => address.to_owned(),
        (Some(name), None) => name.to_owned(),
        (None, None) => String::new(),
    });
    let mut block = String::from("---------- Forwarded message ----------");
    if let Some(from) = from.filter(|f| !f.is_empty()) {
        block.push_str(&format!("\nFrom: {from}"));
    }
    if let Some(subject) = nested.subject() {
        block.push_str(&format!("\nSubject: {subject}"));
    }
    let text = nested.body_text(0).map(|t| capped_chars(&clean(&t), MAX_FORWARDED_CHARS)).unwrap_or_default();
    block.push_str(&format!("\n\n{}", text.trim()));
    let joined = if email.text.trim().is_empty() { block } else { format!("{}\n\n{block}", email.text) };
    email.text = capped(&clean(&joined)).0;
}

fn read_report(message: &Message<'_>, email: &mut ParsedEmail) {
    let is_dsn = message.is_content_type("multipart", "report")
        && message.content_type().and_then(|c| c.attribute("report-type")).is_some_and(|v| v.eq_ignore_ascii_case("delivery-status"));
    if !is_dsn {
        return;
    }
    let status = message
        .parts
        .iter()
        .find(|p| p.is_content_type("message", "delivery-status") || p.is_content_type("message", "global-delivery-status"))
        .map(|p| String::from_utf8_lossy(p.contents()).into_owned())
        .unwrap_or_default();
    let original_message_id = message.parts.iter().find_map(|p| {
        if let Some(original) = p.message() {
            return original.message_id().map(clean_id);
        }
        if p.is_content_type("text", "rfc822-headers") || p.is_content_type("message", "global-headers") {
            return MessageParser::default().parse_headers(p.contents()).and_then(|h| h.message_id().map(clean_id));
        }
        None
    });
    email.report = Some(DeliveryReport { original_message_id, recipients: recipients(&status) });
}

/// Reports broken transfer encodings and charsets that could not be decoded.
fn check_encodings(message: &Message<'_>, problems: &mut Vec<String>) {
    let mut broken = 0;
    for (i, part) in message.parts.iter().enumerate() {
        if part.is_encoding_problem && !(i == 0 && message.parts.len() == 1 && part.contents().is_empty()) {
            broken += 1;
        }
        if !matches!(part.body, PartType::Text(_) | PartType::Html(_)) {
            continue;
        }
        if let Some(charset) = part.content_type().and_then(|c| c.attribute("charset")) {
            let known = encoding_rs::Encoding::for_label(charset.trim().as_bytes()).is_some()
                || ["utf-7", "unicode-1-1-utf-7", "csunicode11utf7"].contains(&charset.trim().to_ascii_lowercase().as_str());
            if !known {
                problems.push(format!("unknown charset {:?}: the text was read as UTF-8", capped_chars(charset, 40)));
                continue;
            }
        }
        let decoded = match &part.body {
            PartType::Text(t) | PartType::Html(t) => t,
            _ => continue,
        };
        if decoded.contains('\u{FFFD}') {
            problems.push("some characters could not be decoded in their declared charset".into());
        }
    }
    if broken > 0 {
        problems
            .push(format!("{broken} part(s) had a broken transfer encoding (base64 or quoted-printable) and were kept as they arrived"));
    }
    problems.dedup();
}

/// Headers that may appear once (RFC 5322 §3.6) but came twice — how a
/// forged sender is often slipped in — and a body that produced no text at
/// all although it has content (a broken MIME structure).
fn check_structure(message: &Message<'_>, raw: &[u8], text: &str, has_html: bool, problems: &mut Vec<String>) {
    let mut repeated = Vec::new();
    for name in ["From", "Sender", "To", "Subject", "Message-ID", "Date", "In-Reply-To", "References"] {
        if message.header_values(name).nth(1).is_some() {
            repeated.push(name);
        }
    }
    if !repeated.is_empty() {
        problems.push(format!("headers that may appear once appear more than once: {} (the first From is used)", repeated.join(", ")));
    }
    let body_start = message.parts.first().map_or(raw.len(), |p| (p.offset_body as usize).min(raw.len()));
    let body_has_content = raw[body_start..].iter().any(|b| !b.is_ascii_whitespace());
    if text.trim().is_empty() && !has_html && body_has_content {
        problems.push("no readable text was found in the body (broken MIME structure?); the message is kept as it arrived".into());
    }
}

fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => {
            let main = ct.ctype().to_ascii_lowercase();
            let sub = ct.subtype().map(str::to_ascii_lowercase).unwrap_or_else(|| "octet-stream".into());
            let valid =
                |s: &str| !s.is_empty() && s.len() <= 100 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
            if valid(&main) && valid(&sub) { format!("{main}/{sub}") } else { "application/octet-stream".into() }
        }
        None if part.is_message() => "message/rfc822".into(),
        None => "application/octet-stream".into(),
    }
}

fn extension(content_type: &str) -> &str {
    match content_type {
        "message/rfc822" => "eml",
        "text/plain" => "txt",
        "text/html" => "html",
        "image/jpeg" => "jpg",
        ct => ct
            .rsplit_once('/')
            .map(|(_, sub)| sub)
            .filter(|s| s.len() <= 10 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
            .unwrap_or("bin"),
    }
}

fn text_header(message: &Message<'_>, name: &str) -> Option<String> {
    message.header(name).and_then(|v| v.as_text()).map(|v| capped_chars(&clean(v), MAX_HEADER_CHARS))
}

/// No NUL or other C0 control characters (bar tab and newline): PostgreSQL
/// refuses NUL in text, and the others only confuse display.
/// Line ends become `\n`.
fn clean(text: &str) -> String {
    let text = if text.contains('\r') { Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n")) } else { Cow::Borrowed(text) };
    if !text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t')) {
        return text.into_owned();
    }
    text.chars().filter(|c| !c.is_control() || matches!(c, '\n' | '\t')).collect()
}

fn clean_id(id: &str) -> String {
    capped_chars(&clean(id), MAX_HEADER_CHARS).trim().trim_matches(['<', '>']).to_owned()
}

fn capped_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text.to_owned(),
    }
}

/// The text within [`MAX_TEXT_CHARS`], and whether it was cut.
fn capped(text: &str) -> (String, bool) {
    let cut = capped_chars(text, MAX_TEXT_CHARS);
    let was_cut = cut.len() < text.len();
    (cut, was_cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ParseLimits = ParseLimits { max_attachment_bytes: 1024 * 1024, remote_images: RemoteImages::Block };

    #[test]
    fn a_reply_is_read_with_its_thread_and_without_its_history() {
        let raw = b"From: Giulia Bianchi <Giulia@Example.com>\r\nTo: aiuto@bottega.example\r\nSubject: Re: ordine A-1042\r\n\
Message-ID: <reply-1@example.com>\r\nIn-Reply-To: <sent-1@bottega.example>\r\nReferences: <first@example.com> <sent-1@bottega.example>\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nPerfetto, grazie!\r\n\r\nIl giorno lun 2 nov 2026 alle ore 10:00 Bottega <aiuto@bottega.example> ha scritto:\r\n> Il pacco arriva domani.\r\n";
        let email = parse(raw, &LIMITS);
        assert_eq!(email.message_id.as_deref(), Some("reply-1@example.com"));
        assert_eq!(email.from_address.as_deref(), Some("giulia@example.com"));
        assert_eq!(email.from_name.as_deref(), Some("Giulia Bianchi"));
        assert_eq!(email.subject.as_deref(), Some("Re: ordine A-1042"));
        assert_eq!(email.in_reply_to, vec!["sent-1@bottega.example"]);
        assert_eq!(email.references, vec!["first@example.com", "sent-1@bottega.example"]);
        assert_eq!(email.text, "Perfetto, grazie!");
        assert!(email.quoted_text.unwrap().contains("Il pacco arriva domani."));
        assert!(email.problems.is_empty(), "{:?}", email.problems);
        assert_eq!(email.automated, None);
    }

    #[test]
    fn html_is_sanitised_and_inline_images_kept() {
        let raw = b"From: a@example.com\r\nSubject: html\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p onclick=x()>Ciao <img src=\"cid:logo@x\"><img src=\"https://t.example/p.gif\"></p><script>alert(1)</script>\r\n\
--b\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n";
        let email = parse(raw, &LIMITS);
        let html = email.html.unwrap();
        assert!(
            html.contains("cid:logo@x") && !html.contains("<script") && !html.contains("onclick") && !html.contains("t.example"),
            "{html}"
        );
        assert_eq!(email.text.trim(), "Ciao");
        assert_eq!(email.attachments.len(), 1);
        assert_eq!(email.attachments[0].content_id.as_deref(), Some("logo@x"));
        assert!(email.attachments[0].inline);
        assert_eq!(email.attachments[0].data, b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn large_attachments_are_reported_not_kept() {
        let raw =
            b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n\
--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"big.pdf\"\r\n\r\n0123456789\r\n--b--\r\n";
        let email = parse(raw, &ParseLimits { max_attachment_bytes: 4, remote_images: RemoteImages::Block });
        assert!(email.attachments.is_empty());
        assert!(email.problems.iter().any(|p| p.contains("big.pdf")), "{:?}", email.problems);
    }

    #[test]
    fn a_delivery_report_names_the_original_and_the_failure() {
        let raw = b"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\nTo: aiuto@bottega.example\r\nSubject: Undelivered Mail\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; ana@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n--r\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: aiuto@bottega.example\r\nMessage-ID: <sent-9@bottega.example>\r\n\r\n--r--\r\n";
        let email = parse(raw, &LIMITS);
        let report = email.report.expect("a report");
        assert_eq!(report.original_message_id.as_deref(), Some("sent-9@bottega.example"));
        assert_eq!(report.failure().unwrap().reason(), "550 5.1.1 User unknown (status 5.1.1, for ana@example.com)");
        assert!(email.automated.is_some());
    }

    #[test]
    fn latin1_and_encoded_words_are_decoded() {
        let mut raw = b"From: =?iso-8859-1?q?Nicol=F2?= <n@example.com>\r\nSubject: =?utf-8?b?Q2l0dMOg?=\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n".to_vec();
        raw.extend_from_slice(b"perch\xe9 citt\xe0\r\n");
        let email = parse(&raw, &LIMITS);
        assert_eq!(email.from_name.as_deref(), Some("Nicolò"));
        assert_eq!(email.subject.as_deref(), Some("Città"));
        assert_eq!(email.text, "perché città");
        assert!(email.problems.is_empty(), "{:?}", email.problems);
    }

    #[test]
    fn unreadable_input_is_reported_and_kept_as_text() {
        let email = parse(b"just some words, no headers", &LIMITS);
        assert!(!email.problems.is_empty());
        assert!(email.text.contains("just some words"));
        let email = parse(b"From: a@example.com\r\nContent-Type: text/plain; charset=x-unknown-123\r\n\r\nciao\0 mondo", &LIMITS);
        assert!(email.problems.iter().any(|p| p.contains("unknown charset")), "{:?}", email.problems);
        assert_eq!(email.text, "ciao mondo");
    }
}
