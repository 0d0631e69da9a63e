//! SMS and MMS through Twilio's Programmable Messaging.
//!
//! - Inbound: Twilio POSTs the message form-encoded to the inbox's webhook
//!   URL and signs it in `X-Twilio-Signature`: HMAC-SHA1, keyed with the
//!   account's auth token, over the full URL followed by every POST field
//!   sorted by name, each name immediately followed by its value; base64.
//! - Status callbacks arrive at the same URL with `MessageStatus`.
//! - Outbound: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`,
//!   form-encoded, HTTP basic auth with the account SID and auth token.
//!
//! Inbox settings: `account_sid`, and `from` (the sending number) or
//! `messaging_service_sid`. Secrets: `auth_token`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha1::Sha1;
use threadline_domain::channel::Channel;
use threadline_domain::message::DeliveryStatus;
use threadline_domain::reply::Capabilities;

use crate::adapter::*;

pub struct TwilioSms;

/// Twilio accepts bodies of up to 1,600 characters (split into segments).
const MAX_BODY_CHARS: usize = 1600;
/// Twilio accepts up to 10 media URLs per MMS.
const MAX_MEDIA: usize = 10;

/// The webhook's fields in arrival order.
fn fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// Twilio's standard opt-out and opt-in keywords: a message that is only
/// one of them changes the sender's consent (Twilio then blocks or allows
/// further messages to them itself).
fn keyword_consent(body: &str) -> Option<bool> {
    match body.trim().to_ascii_uppercase().as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "REVOKE" | "OPTOUT" => Some(false),
        "START" | "UNSTOP" | "YES" => Some(true),
        _ => None,
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The value of `X-Twilio-Signature` for a request to `url` with `params`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // Sorted by name; a repeated name keeps its values in order.
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether two URLs have the same scheme, host and port.
fn same_origin(a: &str, b: &str) -> bool {
    let origin = |u: &str| {
        let uri: http::Uri = u.parse().ok()?;
        Some((uri.scheme_str()?.to_ascii_lowercase(), uri.host()?.to_ascii_lowercase(), uri.port_u16()))
    };
    matches!((origin(a), origin(b)), (Some(x), Some(y)) if x == y)
}

fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// Twilio Voice's request to place a call (`POST …/Calls.json`): `to` is
/// rung first, showing `from`; when it answers, Twilio fetches `twiml_url`
/// for what to do, and reports the call's end to `status_callback`.
pub fn call_request(
    inbox: &InboxConfig<'_>,
    to: &str,
    twiml_url: &str,
    status_callback: &str,
    ring_secs: Option<u32>,
) -> Result<HttpRequest, SendError> {
    let sid = inbox.setting("account_sid")?;
    let token = inbox.secret("auth_token")?;
    let from = inbox.setting("from").map_err(|_| SendError::permanent("the voice inbox has no `from` number to call from"))?;
    let mut form = vec![
        ("To".to_owned(), to.to_owned()),
        ("From".to_owned(), from.to_owned()),
        ("Url".to_owned(), twiml_url.to_owned()),
        ("Method".to_owned(), "POST".to_owned()),
        ("StatusCallback".to_owned(), status_callback.to_owned()),
        ("StatusCallbackMethod".to_owned(), "POST".to_owned()),
    ];
    // How long it rings before Twilio gives up with `no-answer` (default 60 s).
    if let Some(secs) = ring_secs {
        form.push(("Timeout".to_owned(), secs.to_string()));
    }
    Ok(HttpRequest {
        method: http::Method::POST,
        url: format!("{}/2010-04-01/Accounts/{sid}/Calls.json", inbox.endpoints.twilio.trim_end_matches('/')),
        headers: vec![("authorization".into(), basic_auth(sid, token))],
        body: RequestBody::Form(form),
    })
}

/// Stops a call Threadline placed that is still queued or ringing (Twilio's
/// call update with `Status=canceled`, which leaves a call already answered
/// alone).
pub fn cancel_call_request(inbox: &InboxConfig<'_>, call_sid: &str) -> Result<HttpRequest, SendError> {
    update_call_request(inbox, call_sid, vec![("Status".to_owned(), "canceled".to_owned())])
}

/// Moves a live call on to the TwiML at `url` (Twilio's call update with
/// `Url`): a caller waiting in a queue leaves it for what `url` says.
pub fn redirect_call_request(inbox: &InboxConfig<'_>, call_sid: &str, url: &str) -> Result<HttpRequest, SendError> {
    update_call_request(inbox, call_sid, vec![("Url".to_owned(), url.to_owned()), ("Method".to_owned(), "POST".to_owned())])
}

fn update_call_request(inbox: &InboxConfig<'_>, call_sid: &str, form: Vec<(String, String)>) -> Result<HttpRequest, SendError> {
    if call_sid.is_empty() || !call_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(SendError::permanent("not a Twilio call sid"));
    }
    let sid = inbox.setting("account_sid")?;
    let token = inbox.secret("auth_token")?;
    Ok(HttpRequest {
        method: http::Method::POST,
        url: format!("{}/2010-04-01/Accounts/{sid}/Calls/{call_sid}.json", inbox.endpoints.twilio.trim_end_matches('/')),
        headers: vec![("authorization".into(), basic_auth(sid, token))],
        body: RequestBody::Form(form),
    })
}

/// The placed call's `sid` from Twilio's answer, or Twilio's reason.
pub fn call_result(status: u16, body: &[u8]) -> Result<String, SendError> {
    TwilioSms.send_result(status, body).map(|receipt| receipt.provider_message_id)
}

/// Twilio's message statuses, in Threadline's terms. `None`: a status that
/// changes nothing we show (accepted, queued, sending…).
fn delivery_status(status: &str) -> Option<DeliveryStatus> {
    match status {
        "sent" => Some(DeliveryStatus::Sent),
        "delivered" => Some(DeliveryStatus::Delivered),
        "read" => Some(DeliveryStatus::Read),
        "undelivered" | "failed" => Some(DeliveryStatus::Failed),
        "accepted" | "scheduled" | "queued" | "sending" => Some(DeliveryStatus::Pending),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn opt_out_keywords_change_consent() {
        assert_eq!(super::keyword_consent(" stop "), Some(false));
        assert_eq!(super::keyword_consent("UNSUBSCRIBE"), Some(false));
        assert_eq!(super::keyword_consent("start"), Some(true));
        assert_eq!(super::keyword_consent("stop sending me the wrong size"), None);
    }

    #[test]
    fn credentials_go_only_to_twilios_own_host() {
        assert!(same_origin("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "https://api.twilio.com"));
        assert!(!same_origin("https://api.twilio.com.evil.example/x", "https://api.twilio.com"));
        assert!(!same_origin("http://api.twilio.com/x", "https://api.twilio.com"));
        assert!(!same_origin("not a url", "https://api.twilio.com"));
    }
}

#[derive(Deserialize)]
struct MessageResource {
    sid: String,
    status: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResource {
    code: Option<i64>,
    message: Option<String>,
}

impl ChannelAdapter for TwilioSms {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_text_chars: MAX_BODY_CHARS,
            max_attachments: MAX_MEDIA,
            text_with_attachment: true,
            max_caption_chars: MAX_BODY_CHARS,
            templates: false,
            reply_window: None,
        }
    }

    fn required_settings(&self) -> &'static [&'static str] {
        &["account_sid"]
    }

    fn required_secrets(&self) -> &'static [&'static str] {
        &["auth_token"]
    }

    fn verify(&self, request: &WebhookRequest<'_>, inbox: &InboxConfig<'_>) -> Result<(), WebhookError> {
        let token = inbox.secret("auth_token")?;
        let given = request.header("x-twilio-signature").ok_or_else(|| WebhookError::Signature("no X-Twilio-Signature header".into()))?;
        let url = if request.query.is_empty() { inbox.webhook_url.to_owned() } else { format!("{}?{}", inbox.webhook_url, request.query) };
        let expected = signature(token, &url, &fields(request.body));
        if crate::constant_time_eq(expected.as_bytes(), given.trim().as_bytes()) {
            Ok(())
        } else {
            Err(WebhookError::Signature(format!("X-Twilio-Signature does not match a request to {url}")))
        }
    }

    fn parse(&self, request: &WebhookRequest<'_>, _inbox: &InboxConfig<'_>) -> Result<Vec<WebhookEvent>, WebhookError> {
        let fields = fields(request.body);
        let sid = field(&fields, "MessageSid")
            .or_else(|| field(&fields, "SmsSid"))
            .filter(|s| !s.is_empty())
            .ok_or_else(|| WebhookError::Malformed("no MessageSid".into()))?;
        let status = field(&fields, "MessageStatus").or_else(|| field(&fields, "SmsStatus"));
        let inbound = matches!(status, None | Some("received" | "receiving")) && field(&fields, "From").is_some();
        if !inbound {
            let Some(raw) = status else { return Ok(vec![WebhookEvent::Ignored("neither a message nor a status callback".into())]) };
            let Some(status) = delivery_status(raw) else { return Ok(vec![WebhookEvent::Ignored(format!("status `{raw}`"))]) };
            let error = (status == DeliveryStatus::Failed).then(|| match field(&fields, "ErrorCode").filter(|c| !c.is_empty()) {
                Some(code) => format!("Twilio reported {raw}, error {code}"),
                None => format!("Twilio reported {raw}"),
            });
            return Ok(vec![WebhookEvent::Status(StatusReport { provider_message_id: sid.to_owned(), status, error })]);
        }
        let from = field(&fields, "From").unwrap_or_default();
        let count: usize = field(&fields, "NumMedia").and_then(|n| n.parse().ok()).unwrap_or(0);
        let media = (0..count.min(MAX_MEDIA))
            .filter_map(|i| {
                let url = field(&fields, &format!("MediaUrl{i}"))?;
                Some(MediaRef {
                    locator: url.to_owned(),
                    content_type: field(&fields, &format!("MediaContentType{i}")).map(str::to_owned),
                    filename: None,
                })
            })
            .collect();
        let text = field(&fields, "Body").unwrap_or_default().to_owned();
        Ok(vec![WebhookEvent::Message(IncomingMessage {
            provider_message_id: sid.to_owned(),
            sender: from.to_owned(),
            other_identities: Vec::new(),
            sender_name: None,
            sender_language: None,
            consent: keyword_consent(&text),
            text,
            media,
        })])
    }

    fn acknowledgement(&self) -> Acknowledgement {
        // An empty TwiML document: no automatic reply.
        Acknowledgement { content_type: "text/xml", body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>" }
    }

    fn send_request(&self, message: &Outgoing, inbox: &InboxConfig<'_>) -> Result<HttpRequest, SendError> {
        let sid = inbox.setting("account_sid")?;
        let token = inbox.secret("auth_token")?;
        let mut form = vec![("To".to_owned(), message.to.clone())];
        match (inbox.setting("messaging_service_sid"), inbox.setting("from")) {
            (Ok(service), _) => form.push(("MessagingServiceSid".into(), service.to_owned())),
            (_, Ok(from)) => form.push(("From".into(), from.to_owned())),
            _ => return Err(SendError::permanent("the inbox has neither a `from` number nor a `messaging_service_sid` setting")),
        }
        if !message.text.is_empty() {
            form.push(("Body".into(), message.text.clone()));
        }
        for media in &message.media {
            form.push(("MediaUrl".into(), media.url.clone()));
        }
        if let Some(callback) = &message.status_callback {
            form.push(("StatusCallback".into(), callback.clone()));
        }
        Ok(HttpRequest {
            method: http::Method::POST,
            url: format!("{}/2010-04-01/Accounts/{sid}/Messages.json", inbox.endpoints.twilio.trim_end_matches('/')),
            headers: vec![("authorization".into(), basic_auth(sid, token))],
            body: RequestBody::Form(form),
        })
    }

    fn send_result(&self, status: u16, body: &[u8]) -> Result<SendReceipt, SendError> {
        if (200..300).contains(&status) {
            let resource: MessageResource = serde_json::from_slice(body).map_err(|e| {
                SendError::permanent(format!(
                    "{} accepted the request but its answer could not be read ({e}); it may have been sent",
                    "Twilio"
                ))
            })?;
            let status = resource.status.as_deref().and_then(delivery_status).unwrap_or(DeliveryStatus::Pending);
            return Ok(SendReceipt { provider_message_id: resource.sid, status });
        }
        let error: Option<ErrorResource> = serde_json::from_slice(body).ok();
        let detail = match error {
            Some(ErrorResource { code: Some(code), message }) => format!("Twilio error {code}: {}", message.unwrap_or_default()),
            Some(ErrorResource { message: Some(message), .. }) => format!("Twilio: {message}"),
            _ => format!("Twilio answered HTTP {status}"),
        };
        Err(SendError::from_status(status, clip(&detail, 500)))
    }

    fn media_request(&self, media: &MediaRef, inbox: &InboxConfig<'_>) -> Result<HttpRequest, ConfigError> {
        let mut request = HttpRequest::get(media.locator.clone());
        // Media may be protected with HTTP basic auth; the credentials go
        // only to Twilio's own API host (compared exactly, not by prefix).
        if same_origin(&media.locator, &inbox.endpoints.twilio) {
            request.headers.push(("authorization".into(), basic_auth(inbox.setting("account_sid")?, inbox.secret("auth_token")?)));
        }
        Ok(request)
    }
}
