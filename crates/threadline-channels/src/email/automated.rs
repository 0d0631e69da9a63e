//! Mail no person wrote: out-of-office replies, mailing lists, bounces.
//!
//! Threadline stores such mail like any other (an agent may want to read
//! it) but never answers it automatically: two auto-responders answering
//! each other is how mail loops start. The signals are RFC 3834's
//! `Auto-Submitted`, the de-facto `Precedence: bulk/junk/list`, list headers
//! (RFC 2369/2919), the auto-reply headers of common servers
//! (`X-Autoreply`, `X-Autorespond`, Microsoft's `X-Auto-Response-Suppress`),
//! a null return path (`Return-Path: <>`, RFC 5321 §4.5.5), delivery
//! reports, and the system senders `MAILER-DAEMON` and `postmaster`.

/// The headers that tell, as read from the message.
#[derive(Debug, Default, Clone)]
pub struct Signals<'a> {
    pub auto_submitted: Option<&'a str>,
    pub precedence: Option<&'a str>,
    pub list_id: bool,
    pub list_unsubscribe: bool,
    pub x_autoreply: bool,
    pub auto_response_suppress: Option<&'a str>,
    /// `Return-Path: <>`.
    pub null_return_path: bool,
    pub delivery_report: bool,
    pub from_address: Option<&'a str>,
}

/// Why the message was written by a machine, or `None` for a person's mail.
pub fn automated(s: &Signals<'_>) -> Option<String> {
    if let Some(value) = s.auto_submitted {
        let keyword = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if !keyword.is_empty() && keyword != "no" {
            return Some(format!("Auto-Submitted: {keyword}"));
        }
    }
    if let Some(value) = s.precedence {
        let value = value.trim().to_ascii_lowercase();
        if ["bulk", "junk", "list", "auto_reply"].contains(&value.as_str()) {
            return Some(format!("Precedence: {value}"));
        }
    }
    if s.delivery_report {
        return Some("a delivery status report".into());
    }
    if let Some(from) = s.from_address {
        let local = from.rsplit_once('@').map_or(from, |(l, _)| l).to_ascii_lowercase();
        if ["mailer-daemon", "postmaster"].contains(&local.as_str()) {
            return Some(format!("sent by {local}"));
        }
    }
    if s.null_return_path {
        return Some("no return path (Return-Path: <>)".into());
    }
    if s.x_autoreply {
        return Some("marked as an automatic reply (X-Autoreply)".into());
    }
    if let Some(value) = s.auto_response_suppress {
        let lower = value.to_ascii_lowercase();
        if ["all", "oof", "autoreply"].iter().any(|v| lower.split(',').any(|part| part.trim() == *v)) {
            return Some(format!("X-Auto-Response-Suppress: {}", value.trim()));
        }
    }
    if s.list_id || s.list_unsubscribe {
        return Some("sent to a mailing list".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persons_mail_is_not_automated() {
        let s = Signals { auto_submitted: Some("no"), from_address: Some("giulia@example.com"), ..Default::default() };
        assert_eq!(automated(&s), None);
    }

    #[test]
    fn each_signal_is_recognised() {
        let cases = [
            Signals { auto_submitted: Some("auto-replied; owner-email=\"x@example.com\""), ..Default::default() },
            Signals { precedence: Some(" Bulk "), ..Default::default() },
            Signals { precedence: Some("junk"), ..Default::default() },
            Signals { precedence: Some("list"), ..Default::default() },
            Signals { list_id: true, ..Default::default() },
            Signals { x_autoreply: true, ..Default::default() },
            Signals { auto_response_suppress: Some("OOF, AutoReply"), ..Default::default() },
            Signals { null_return_path: true, ..Default::default() },
            Signals { delivery_report: true, ..Default::default() },
            Signals { from_address: Some("MAILER-DAEMON@mx.example.net"), ..Default::default() },
            Signals { from_address: Some("postmaster@example.net"), ..Default::default() },
        ];
        for case in cases {
            assert!(automated(&case).is_some(), "{case:?}");
        }
        assert_eq!(
            automated(&Signals { auto_submitted: Some("auto-replied"), ..Default::default() }).as_deref(),
            Some("Auto-Submitted: auto-replied")
        );
    }
}
