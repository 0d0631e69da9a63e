//! The server side of messaging channels: providers' webhooks in
//! ([`hooks`]), replies out through the outbox ([`outbox`], and
//! `crate::email::send` for email), media both ways ([`media`]), and which channels an agent may
//! answer on ([`reply`]).
//! What each provider's wire format means lives in `threadline-channels`;
//! this module runs the HTTP requests its adapters describe.

pub mod hooks;
pub mod media;
pub mod outbox;
pub mod render;
pub mod reply;

use std::collections::BTreeMap;
use std::time::Duration;

use threadline_channels::{HttpRequest, InboxConfig, ProviderEndpoints, RequestBody};
use threadline_domain::ids::InboxId;
use threadline_store::Inbox;

use crate::app::AppState;
use crate::config::Settings;

/// The HTTP client and endpoints every provider call goes through.
pub struct Providers {
    pub endpoints: ProviderEndpoints,
    pub client: reqwest::Client,
    /// For media named by webhooks: follows redirects only to providers'
    /// media hosts (see [`media_host_allowed`]).
    pub media_client: reqwest::Client,
    /// HTTP/2 only, for APNs (which speaks nothing else).
    pub http2_client: reqwest::Client,
}

/// Hosts providers serve media from, by domain (and their subdomains).
const MEDIA_DOMAINS: &[&str] =
    &["twilio.com", "twiliocdn.com", "amazonaws.com", "fbcdn.net", "fbsbx.com", "cdninstagram.com", "whatsapp.net", "telegram.org"];

/// Whether a media URL from a webhook may be fetched: http(s) to a
/// provider's media host or to a configured provider endpoint — never an
/// arbitrary (internal) address a payload names.
pub fn media_host_allowed(url: &reqwest::Url, endpoints: &ProviderEndpoints) -> bool {
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    let Some(host) = url.host_str().map(str::to_ascii_lowercase) else { return false };
    let configured =
        [&endpoints.twilio, &endpoints.meta_graph, &endpoints.telegram].into_iter().filter_map(|e| reqwest::Url::parse(e).ok()).any(|e| {
            e.host_str().map(str::to_ascii_lowercase).as_deref() == Some(host.as_str())
                && e.port_or_known_default() == url.port_or_known_default()
        });
    configured || MEDIA_DOMAINS.iter().any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

impl Providers {
    /// The clients, under the egress policy; an error if the TLS backend
    /// cannot start.
    pub fn new(settings: &Settings, egress: &std::sync::Arc<crate::egress::EgressPolicy>) -> Result<Self, reqwest::Error> {
        let client = egress
            .http_client()
            .timeout(Duration::from_secs(settings.send_timeout_secs))
            .connect_timeout(Duration::from_secs(settings.send_timeout_secs.min(10)))
            .build()?;
        let endpoints = ProviderEndpoints {
            twilio: settings.twilio_api_url.trim_end_matches('/').to_owned(),
            meta_graph: settings.meta_graph_url.trim_end_matches('/').to_owned(),
            telegram: settings.telegram_api_url.trim_end_matches('/').to_owned(),
        };
        // Providers serve media through redirects (Twilio to its CDN), so
        // the media client alone follows them: at most three, only to the
        // providers' media hosts, and each hop under the egress policy.
        let (allowed, policy) = (endpoints.clone(), egress.clone());
        let media_client = egress
            .http_client()
            .timeout(Duration::from_secs(settings.send_timeout_secs))
            .connect_timeout(Duration::from_secs(settings.send_timeout_secs.min(10)))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                let url = attempt.url();
                if attempt.previous().len() < 3 && media_host_allowed(url, &allowed) && policy.check_url(url.as_str()).is_ok() {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .build()?;
        let http2_client = egress
            .http_client()
            .http2_prior_knowledge()
            .timeout(Duration::from_secs(settings.send_timeout_secs))
            .connect_timeout(Duration::from_secs(settings.send_timeout_secs.min(10)))
            .build()?;
        Ok(Providers { endpoints, client, media_client, http2_client })
    }
}

/// Whether Threadline talks to this inbox's provider itself: a provider
/// channel with credentials, or an email inbox with an SMTP relay. Without
/// them an integration serves the inbox through the API.
pub fn provider_connected(inbox: &Inbox) -> bool {
    match inbox.channel {
        threadline_domain::channel::Channel::Email => {
            inbox.settings.get("smtp_host").and_then(|h| h.as_str()).is_some_and(|h| !h.trim().is_empty())
        }
        // A voice inbox answers Twilio's calls once it has the account's credentials.
        threadline_domain::channel::Channel::Voice => {
            inbox.sealed_secrets.is_some()
                && inbox.settings.get("account_sid").and_then(|v| v.as_str()).is_some_and(|v| !v.trim().is_empty())
        }
        // An in-app inbox pushes to app users' devices once it has an FCM or APNs key.
        threadline_domain::channel::Channel::InApp => {
            inbox.sealed_secrets.is_some() && (inbox.settings.contains_key("fcm_project_id") || inbox.settings.contains_key("apns_topic"))
        }
        channel => threadline_channels::adapter_for(channel).is_some() && inbox.sealed_secrets.is_some(),
    }
}

/// The URL a provider is configured to call for an inbox's webhooks.
pub fn webhook_url(settings: &Settings, inbox_id: InboxId) -> String {
    format!("{}/hooks/{inbox_id}", settings.effective_public_url())
}

/// An inbox's decrypted secrets (empty when it has none).
pub fn open_secrets(state: &AppState, inbox: &Inbox) -> anyhow::Result<BTreeMap<String, String>> {
    match &inbox.sealed_secrets {
        None => Ok(BTreeMap::new()),
        Some(sealed) => {
            let json = state.secrets.open(sealed)?;
            Ok(serde_json::from_str(&json)?)
        }
    }
}

/// Builds the adapter's view of an inbox; `secrets` and `url` must outlive it.
pub fn inbox_config<'a>(state: &'a AppState, inbox: &'a Inbox, secrets: &'a BTreeMap<String, String>, url: &'a str) -> InboxConfig<'a> {
    InboxConfig { settings: &inbox.settings, secrets, endpoints: &state.providers.endpoints, webhook_url: url }
}

/// Why a provider request failed before an answer arrived.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No connection was made: the request certainly did not arrive.
    #[error("{0}")]
    Unreached(String),
    /// The request went out but its answer was lost (a timeout, a broken
    /// connection): the provider may have acted on it.
    #[error("{0}")]
    Network(String),
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
}

/// Runs a request an adapter described, under the egress policy; returns
/// the status and at most `max_bytes` of body. Errors never include the URL
/// (Telegram's carries the bot token).
pub async fn execute(
    egress: &crate::egress::EgressPolicy,
    client: &reqwest::Client,
    request: &HttpRequest,
    max_bytes: usize,
) -> Result<(u16, Vec<u8>), CallError> {
    egress.check_url(&request.url).map_err(|e| CallError::Unreached(format!("refused by the egress policy: {e}")))?;
    let mut builder = client.request(request.method.clone(), &request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    builder = match &request.body {
        RequestBody::Empty => builder,
        RequestBody::Json(json) => builder.json(json),
        RequestBody::Form(fields) => {
            let body = form_body(fields);
            builder.header("content-type", "application/x-www-form-urlencoded").body(body)
        }
        RequestBody::Multipart { fields, file } => {
            let mut form = reqwest::multipart::Form::new();
            for (name, value) in fields {
                form = form.text(name.clone(), value.clone());
            }
            let part = reqwest::multipart::Part::bytes(file.data.clone())
                .file_name(file.filename.clone())
                .mime_str(&file.content_type)
                .unwrap_or_else(|_| reqwest::multipart::Part::bytes(file.data.clone()).file_name(file.filename.clone()));
            builder.multipart(form.part(file.field.clone(), part))
        }
    };
    let describe = |e: reqwest::Error| {
        if e.is_connect() {
            return CallError::Unreached(format!("could not connect: {}", crate::egress::describe(&e)));
        }
        let kind = if e.is_timeout() { "timed out" } else { "request failed" };
        CallError::Network(format!("{kind}: {}", e.without_url()))
    };
    let mut response = builder.send().await.map_err(describe)?;
    let status = response.status().as_u16();
    if response.content_length().is_some_and(|n| n > max_bytes as u64) {
        return Err(CallError::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(describe)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(CallError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body))
}

fn form_body(fields: &[(String, String)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}
