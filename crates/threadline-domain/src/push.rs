//! Push notifications for the in-app chat: an agent's reply to an app user
//! whose chat is closed goes to their devices through Firebase Cloud
//! Messaging (HTTP v1) or the Apple Push Notification service.
//!
//! The rules here hold without I/O: which device tokens are accepted, what
//! a notification says, and what each provider's answer means — sent, try
//! again later, or a token the provider no longer knows (the device is
//! forgotten).

use crate::conversation::string_enum;

string_enum! {
    /// The push service a device is reached through.
    Platform {
        /// Firebase Cloud Messaging (Android, and iOS apps that use it).
        Fcm => "fcm",
        /// Apple Push Notification service.
        Apns => "apns",
    }
}

/// The longest token accepted (FCM's are about 160 characters; APNs's are
/// 64 hexadecimal digits today, and Apple says they may grow).
pub const MAX_TOKEN_CHARS: usize = 4096;
/// The most devices one customer keeps per inbox; registering another
/// forgets the least recently registered.
pub const MAX_DEVICES: i64 = 10;
/// The notification's body is the reply's beginning, at most this long.
pub const MAX_BODY_CHARS: usize = 180;

/// Checks a device token as an app hands it over: the token, trimmed.
pub fn check_token(platform: Platform, raw: &str) -> Result<String, String> {
    let token = raw.trim();
    if token.is_empty() {
        return Err("is empty".into());
    }
    if token.chars().count() > MAX_TOKEN_CHARS {
        return Err(format!("is longer than {MAX_TOKEN_CHARS} characters"));
    }
    let ok = match platform {
        Platform::Apns => token.len().is_multiple_of(2) && token.chars().all(|c| c.is_ascii_hexdigit()),
        Platform::Fcm => token.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.')),
    };
    if !ok {
        let what = match platform {
            Platform::Apns => "an APNs device token is hexadecimal digits",
            Platform::Fcm => "an FCM registration token is letters, digits and _-:.",
        };
        return Err(what.into());
    }
    // APNs tokens are case-insensitive hex: one spelling, so a device registers once.
    Ok(if platform == Platform::Apns { token.to_ascii_lowercase() } else { token.to_owned() })
}

/// What a notification shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Who writes: the chat's title, or the business's name.
    pub title: String,
    pub body: String,
}

/// The notification for a reply: its text's beginning, or a word for an
/// attachment sent alone.
pub fn notification(title: &str, text: &str, attachments: usize, language: Option<&str>) -> Notification {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let body = if text.is_empty() && attachments > 0 {
        if language == Some("it") { "📎 Allegato".to_owned() } else { "📎 Attachment".to_owned() }
    } else if text.chars().count() > MAX_BODY_CHARS {
        let mut clipped: String = text.chars().take(MAX_BODY_CHARS - 1).collect();
        clipped.push('…');
        clipped
    } else {
        text
    };
    Notification { title: title.trim().to_owned(), body }
}

/// What a provider's answer to one push means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// Accepted; the provider's id for it.
    Sent(String),
    /// The provider no longer knows this token (the app was removed, or
    /// the token belongs to another app): forget the device.
    Gone(String),
    /// Threadline's credentials were refused: a new access token may help
    /// once; otherwise the inbox's settings need fixing.
    Unauthorized(String),
    /// Busy or failing now: try again later.
    Retry(String),
    /// Refused for a reason retrying will not fix.
    Refused(String),
}

/// Reads FCM HTTP v1's answer to `messages:send`.
pub fn fcm_outcome(status: u16, body: &[u8]) -> PushOutcome {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if (200..300).contains(&status) {
        return PushOutcome::Sent(json["name"].as_str().unwrap_or_default().to_owned());
    }
    let error = &json["error"];
    let message = error["message"].as_str().unwrap_or("no message").to_owned();
    // The FCM error code is in `details` (`google.firebase.fcm.v1.FcmError`); the status is the fallback.
    let code = error["details"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|d| d["errorCode"].as_str())
        .or_else(|| error["status"].as_str())
        .unwrap_or("")
        .to_owned();
    let reason =
        if code.is_empty() { format!("FCM answered {status}: {message}") } else { format!("FCM answered {status} {code}: {message}") };
    match (status, code.as_str()) {
        (_, "UNREGISTERED" | "SENDER_ID_MISMATCH") | (404, _) => PushOutcome::Gone(reason),
        // INVALID_ARGUMENT is about the token only when the message says so.
        (_, "INVALID_ARGUMENT") if message.contains("registration token") => PushOutcome::Gone(reason),
        (401, _) | (_, "THIRD_PARTY_AUTH_ERROR" | "UNAUTHENTICATED") => PushOutcome::Unauthorized(reason),
        (429 | 500..=599, _) | (_, "QUOTA_EXCEEDED" | "UNAVAILABLE" | "INTERNAL") => PushOutcome::Retry(reason),
        _ => PushOutcome::Refused(reason),
    }
}

/// Reads APNs's answer: the status, the JSON body of an error (`reason`),
/// and the `apns-id` header.
pub fn apns_outcome(status: u16, body: &[u8], apns_id: Option<&str>) -> PushOutcome {
    if status == 200 {
        return PushOutcome::Sent(apns_id.unwrap_or_default().to_owned());
    }
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let code = json["reason"].as_str().unwrap_or("").to_owned();
    let reason = format!("APNs answered {status} {code}").trim_end().to_owned();
    match (status, code.as_str()) {
        (410, _) | (_, "BadDeviceToken" | "DeviceTokenNotForTopic" | "Unregistered") => PushOutcome::Gone(reason),
        (403, "ExpiredProviderToken" | "InvalidProviderToken" | "MissingProviderToken") => PushOutcome::Unauthorized(reason),
        (429 | 500..=599, _) => PushOutcome::Retry(reason),
        _ => PushOutcome::Refused(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_per_platform() {
        assert_eq!(check_token(Platform::Apns, " 7A3F00 ").unwrap(), "7a3f00");
        assert!(check_token(Platform::Apns, "xyz").unwrap_err().contains("hexadecimal"));
        assert!(check_token(Platform::Apns, "abc").is_err(), "an odd number of hex digits is no byte string");
        assert_eq!(check_token(Platform::Fcm, "dQw4:APA91b-x_Y.z").unwrap(), "dQw4:APA91b-x_Y.z");
        assert!(check_token(Platform::Fcm, "a b").is_err());
        assert!(check_token(Platform::Fcm, "").unwrap_err().contains("empty"));
        assert!(check_token(Platform::Fcm, &"a".repeat(MAX_TOKEN_CHARS + 1)).is_err());
    }

    #[test]
    fn a_notification_shows_the_replys_beginning() {
        let n = notification("Bottega Aurora", "Ciao Giulia,\n  il pacco parte domani.", 0, Some("it"));
        assert_eq!(n, Notification { title: "Bottega Aurora".into(), body: "Ciao Giulia, il pacco parte domani.".into() });
        let long = notification("Shop", &"word ".repeat(100), 0, None);
        assert_eq!(long.body.chars().count(), MAX_BODY_CHARS);
        assert!(long.body.ends_with('…'));
        assert_eq!(notification("Shop", "", 1, Some("it")).body, "📎 Allegato");
        assert_eq!(notification("Shop", " ", 1, None).body, "📎 Attachment");
    }

    #[test]
    fn fcm_answers_are_read() {
        let sent = br#"{"name":"projects/myproject-b5ae1/messages/0:1500415314455276%31bd1c9631bd1c96"}"#;
        assert_eq!(
            fcm_outcome(200, sent),
            PushOutcome::Sent("projects/myproject-b5ae1/messages/0:1500415314455276%31bd1c9631bd1c96".into())
        );
        let gone = br#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND",
            "details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#;
        assert!(matches!(fcm_outcome(404, gone), PushOutcome::Gone(r) if r.contains("UNREGISTERED")));
        let bad_token =
            br#"{"error":{"code":400,"message":"The registration token is not a valid FCM registration token","status":"INVALID_ARGUMENT",
            "details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}"#;
        assert!(matches!(fcm_outcome(400, bad_token), PushOutcome::Gone(_)));
        let bad_data =
            br#"{"error":{"code":400,"message":"Invalid value at 'message.data[0].value' (TYPE_STRING), 12","status":"INVALID_ARGUMENT",
            "details":[{"@type":"type.googleapis.com/google.rpc.BadRequest"}]}}"#;
        assert!(matches!(fcm_outcome(400, bad_data), PushOutcome::Refused(_)), "a bad payload is not the device's fault");
        assert!(matches!(fcm_outcome(503, b"{}"), PushOutcome::Retry(_)));
        assert!(matches!(fcm_outcome(429, br#"{"error":{"status":"RESOURCE_EXHAUSTED"}}"#), PushOutcome::Retry(_)));
        assert!(matches!(fcm_outcome(401, br#"{"error":{"status":"UNAUTHENTICATED"}}"#), PushOutcome::Unauthorized(_)));
    }

    #[test]
    fn apns_answers_are_read() {
        assert_eq!(
            apns_outcome(200, b"", Some("EC1BF194-B3B2-424A-89A9-5A918A6E6B5D")),
            PushOutcome::Sent("EC1BF194-B3B2-424A-89A9-5A918A6E6B5D".into())
        );
        assert!(matches!(apns_outcome(400, br#"{"reason":"BadDeviceToken"}"#, None), PushOutcome::Gone(_)));
        assert!(matches!(apns_outcome(410, br#"{"reason":"Unregistered","timestamp":1733500000000}"#, None), PushOutcome::Gone(_)));
        assert!(matches!(apns_outcome(403, br#"{"reason":"ExpiredProviderToken"}"#, None), PushOutcome::Unauthorized(_)));
        assert!(matches!(apns_outcome(429, br#"{"reason":"TooManyRequests"}"#, None), PushOutcome::Retry(_)));
        assert!(matches!(apns_outcome(503, br#"{"reason":"ServiceUnavailable"}"#, None), PushOutcome::Retry(_)));
        assert!(
            matches!(apns_outcome(413, br#"{"reason":"PayloadTooLarge"}"#, None), PushOutcome::Refused(r) if r == "APNs answered 413 PayloadTooLarge")
        );
    }
}
