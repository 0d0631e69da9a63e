//! Any bytes arriving at the SMTP listener or from an IMAP mailbox go
//! through `email::parse`: it must never panic, and what it keeps must stay
//! within its bounds (text size, no NUL, sanitised HTML).
#![no_main]

use libfuzzer_sys::fuzz_target;
use threadline_channels::email::{ParseLimits, parse};
use threadline_domain::message::MAX_TEXT_CHARS;

fuzz_target!(|raw: &[u8]| {
    let email = parse(raw, &ParseLimits { max_attachment_bytes: 64 * 1024, remote_images: Default::default() });
    assert!(email.text.chars().count() <= MAX_TEXT_CHARS);
    assert!(!email.text.contains('\0'));
    if let Some(html) = &email.html {
        assert!(!html.contains("<script"));
    }
    for attachment in &email.attachments {
        assert!(attachment.data.len() <= 64 * 1024);
    }
});

