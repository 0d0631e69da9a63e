//! Delivery status notifications (RFC 3464): a mail server telling us that
//! a message we sent could not be delivered.
//!
//! A DSN is `multipart/report; report-type=delivery-status` with a
//! human-readable part, a `message/delivery-status` part of header-like
//! fields (one block for the message, then one block per recipient), and
//! the original message or its headers. What matters is each recipient's
//! `Action` (`failed` is final; `delayed` is not), its `Status` (`5.1.1`)
//! and `Diagnostic-Code`, and the original `Message-ID`, which names our
//! outbound message.

/// One recipient's fate, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientStatus {
    pub recipient: Option<String>,
    pub action: String,
    pub status: Option<String>,
    pub diagnostic: Option<String>,
}

impl RecipientStatus {
    /// The delivery failed for good (`Action: failed`).
    pub fn failed(&self) -> bool {
        self.action.eq_ignore_ascii_case("failed")
    }

    /// The reason to show on the message, e.g. "550 5.1.1 user unknown
    /// (status 5.1.1, for ana@example.com)".
    pub fn reason(&self) -> String {
        let mut reason = self.diagnostic.clone().unwrap_or_else(|| "the recipient's mail server refused the message".into());
        let mut facts = Vec::new();
        if let Some(status) = &self.status {
            facts.push(format!("status {status}"));
        }
        if let Some(recipient) = &self.recipient {
            facts.push(format!("for {recipient}"));
        }
        if !facts.is_empty() {
            reason = format!("{reason} ({})", facts.join(", "));
        }
        reason
    }
}

/// A report about one of our messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The original message's Message-ID, without brackets.
    pub original_message_id: Option<String>,
    pub recipients: Vec<RecipientStatus>,
}

impl DeliveryReport {
    /// The first recipient whose delivery failed for good.
    pub fn failure(&self) -> Option<&RecipientStatus> {
        self.recipients.iter().find(|r| r.failed())
    }
}

/// Reads the per-recipient blocks of a `message/delivery-status` body.
pub fn recipients(delivery_status: &str) -> Vec<RecipientStatus> {
    let mut out = Vec::new();
    // Blocks are separated by blank lines; fields may be folded.
    let normalized = delivery_status.replace("\r\n", "\n");
    for block in normalized.split("\n\n") {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in block.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = fields.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                fields.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let get = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let Some(action) = get("action") else { continue };
        // "rfc822; ana@example.com" → "ana@example.com"; "smtp; 550 …" → "550 …".
        let after_type = |v: String| v.split_once(';').map(|(_, rest)| rest.trim().to_owned()).unwrap_or(v);
        out.push(RecipientStatus {
            recipient: get("final-recipient").or_else(|| get("original-recipient")).map(after_type),
            action: action.to_ascii_lowercase(),
            status: get("status"),
            diagnostic: get("diagnostic-code").map(after_type),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_recipient_and_its_reason_are_read() {
        let body = "Reporting-MTA: dns; mx.example.net\r\nArrival-Date: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\n\
                    Final-Recipient: rfc822; ana@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\
                    Diagnostic-Code: smtp; 550 5.1.1 <ana@example.com>:\r\n Recipient address rejected: User unknown\r\n";
        let found = recipients(body);
        assert_eq!(found.len(), 1);
        assert!(found[0].failed());
        assert_eq!(found[0].recipient.as_deref(), Some("ana@example.com"));
        assert_eq!(
            found[0].reason(),
            "550 5.1.1 <ana@example.com>: Recipient address rejected: User unknown (status 5.1.1, for ana@example.com)"
        );
    }

    #[test]
    fn delays_are_not_failures() {
        let body = "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; b@example.com\nAction: delayed\nStatus: 4.4.1\n";
        let report = DeliveryReport { original_message_id: None, recipients: recipients(body) };
        assert_eq!(report.recipients.len(), 1);
        assert!(report.failure().is_none());
    }
}
