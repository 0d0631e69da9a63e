//! Push notifications for the in-app chat: an agent's reply to an app user
//! whose chat is closed is a send job of the outbox like any provider's
//! (`channels::outbox`), and this is its attempt — one notification to
//! each of the customer's devices registered in the inbox, through
//! Firebase Cloud Messaging or APNs (`threadline_channels::push` builds the
//! requests, `threadline_domain::push` reads the answers).
//!
//! The reply counts as sent when a device took it. A device whose token
//! the provider no longer knows is forgotten. A refused access token is
//! fetched again once; a busy provider is retried with the outbox's
//! back-off. FCM access tokens (an hour) and APNs provider tokens (renewed
//! every 30 minutes, as Apple asks) are kept per inbox.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use threadline_channels::push::{APNS_PRODUCTION, APNS_SANDBOX, ApnsKey, ServiceAccount, apns_request, fcm_request, read_access_token};
use threadline_domain::ids::InboxId;
use threadline_domain::message::{DeliveryStatus, Message};
use threadline_domain::push::{Notification, Platform, PushOutcome, apns_outcome, fcm_outcome, notification};
use threadline_store::{ClaimedSend, Inbox, PushDevice, SendOutcome};

use crate::app::AppState;
use crate::channels::execute;
use crate::channels::outbox::retry_or_dead;

/// How long an APNs provider token is used before a new one is signed.
const PROVIDER_TOKEN_FOR: Duration = Duration::from_secs(30 * 60);
/// The most of a provider's answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Access and provider tokens, per inbox and platform.
#[derive(Default)]
pub struct PushTokens {
    tokens: Mutex<HashMap<(InboxId, Platform), (String, Instant)>>,
}

impl PushTokens {
    fn get(&self, inbox: InboxId, platform: Platform) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.get(&(inbox, platform)).filter(|(_, until)| *until > Instant::now()).map(|(t, _)| t.clone())
    }

    fn put(&self, inbox: InboxId, platform: Platform, token: String, valid_for: Duration) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.insert((inbox, platform), (token, Instant::now() + valid_for));
    }

    fn forget(&self, inbox: InboxId, platform: Platform) {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).remove(&(inbox, platform));
    }
}

/// One attempt at a reply's push notifications.
pub async fn send(
    state: &AppState,
    job: &ClaimedSend,
    message: &Message,
    inbox: &Inbox,
    secrets: &BTreeMap<String, String>,
) -> SendOutcome {
    let devices = match state.store.push_devices(job.account_id, message.contact_id).await {
        Ok(devices) => devices.into_iter().filter(|d| d.inbox_id == inbox.id).collect::<Vec<_>>(),
        Err(e) => return retry_or_dead(state, job, format!("cannot read the customer's devices: {e}"), true),
    };
    if devices.is_empty() {
        return SendOutcome::Dead { error: "the customer has no device registered for notifications any more".into() };
    }
    let title = match inbox.settings.get("title").and_then(|t| t.as_str()).filter(|t| !t.trim().is_empty()) {
        Some(title) => title.to_owned(),
        None => match state.store.account(job.account_id).await {
            Ok(account) => account.name,
            Err(e) => return retry_or_dead(state, job, format!("cannot read the account: {e}"), true),
        },
    };
    let language = match state.store.contact(job.account_id, message.contact_id).await {
        Ok(contact) => contact.language,
        Err(e) => return retry_or_dead(state, job, format!("cannot read the customer: {e}"), true),
    };
    let note = notification(&title, &message.text, message.attachments.len(), language.as_deref());
    let data = [
        ("conversation_id", message.conversation_id.to_string()),
        ("message_id", message.id.to_string()),
        ("inbox_id", inbox.id.to_string()),
    ];
    let (mut sent, mut retry, mut refused) = (None, Vec::new(), Vec::new());
    for device in &devices {
        let mut outcome = push_one(state, inbox, secrets, device, &note, &data, &message.id.to_string()).await;
        if let PushOutcome::Unauthorized(_) = outcome {
            // A token revoked or expired early: once more with a new one.
            state.push_tokens.forget(inbox.id, device.platform);
            outcome = push_one(state, inbox, secrets, device, &note, &data, &message.id.to_string()).await;
        }
        match outcome {
            PushOutcome::Sent(id) => {
                if let Err(e) = state.store.touch_push_device(job.account_id, &device.id, state.clock.now()).await {
                    tracing::info!(error = %e, "a pushed device could not be noted");
                }
                sent.get_or_insert(id);
            }
            PushOutcome::Gone(reason) => {
                tracing::info!(device = %device.id, %reason, "a device the push service no longer knows is forgotten");
                if let Err(e) = state.store.forget_push_device(job.account_id, &device.id).await {
                    tracing::warn!(error = %e, "an unregistered device could not be forgotten");
                }
                refused.push(format!("{}: {reason} (device forgotten)", device.platform));
            }
            PushOutcome::Retry(reason) => retry.push(format!("{}: {reason}", device.platform)),
            PushOutcome::Unauthorized(reason) | PushOutcome::Refused(reason) => refused.push(format!("{}: {reason}", device.platform)),
        }
    }
    match sent {
        Some(id) => SendOutcome::Sent { provider_message_id: id, status: DeliveryStatus::Sent },
        None if !retry.is_empty() => retry_or_dead(state, job, retry.join("; "), true),
        None => SendOutcome::Dead { error: refused.join("; ") },
    }
}

/// One notification to one device.
async fn push_one(
    state: &AppState,
    inbox: &Inbox,
    secrets: &BTreeMap<String, String>,
    device: &PushDevice,
    note: &Notification,
    data: &[(&str, String)],
    message_id: &str,
) -> PushOutcome {
    match device.platform {
        Platform::Fcm => {
            let Some(account) = secrets.get("fcm_service_account").and_then(|json| ServiceAccount::parse(json).ok()) else {
                return PushOutcome::Refused("the inbox has no usable Firebase service account key".into());
            };
            let access = match fcm_access_token(state, inbox.id, &account).await {
                Ok(token) => token,
                Err(outcome) => return outcome,
            };
            let request = fcm_request(&state.settings.fcm_api_url, &account.project_id, &access, &device.token, note, data);
            match execute(&state.egress, &state.providers.client, &request, MAX_ANSWER_BYTES).await {
                Ok((status, body)) => fcm_outcome(status, &body),
                Err(e) => PushOutcome::Retry(e.to_string()),
            }
        }
        Platform::Apns => {
            let setting = |name: &str| inbox.settings.get(name).and_then(|v| v.as_str()).map(str::trim).unwrap_or("").to_owned();
            let Some(pem) = secrets.get("apns_key") else { return PushOutcome::Refused("the inbox has no APNs key".into()) };
            let key = ApnsKey { key_pem: pem.clone(), key_id: setting("apns_key_id"), team_id: setting("apns_team_id") };
            let token = match state.push_tokens.get(inbox.id, Platform::Apns) {
                Some(token) => token,
                None => match key.provider_token(state.clock.now().unix_timestamp()) {
                    Ok(token) => {
                        state.push_tokens.put(inbox.id, Platform::Apns, token.clone(), PROVIDER_TOKEN_FOR);
                        token
                    }
                    Err(e) => return PushOutcome::Refused(format!("the APNs key {e}")),
                },
            };
            let base = if !state.settings.apns_api_url.trim().is_empty() {
                state.settings.apns_api_url.trim().to_owned()
            } else if setting("apns_environment") == "sandbox" {
                APNS_SANDBOX.to_owned()
            } else {
                APNS_PRODUCTION.to_owned()
            };
            // The reply's id makes the notification's: a retry is recognisably the same one.
            let apns_id = apns_uuid(message_id, &device.id);
            let request = apns_request(&base, &token, &setting("apns_topic"), &device.token, &apns_id, note, data);
            match execute(&state.egress, &state.providers.http2_client, &request, MAX_ANSWER_BYTES).await {
                Ok((status, body)) => apns_outcome(status, &body, Some(&apns_id)),
                Err(e) => PushOutcome::Retry(e.to_string()),
            }
        }
    }
}

/// A canonical UUID for one reply to one device.
fn apns_uuid(message_id: &str, device_id: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(format!("{message_id}:{device_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid().hyphenated().to_string().to_ascii_uppercase()
}

/// FCM's access token for an inbox: kept, or fetched with a signed assertion.
async fn fcm_access_token(state: &AppState, inbox: InboxId, account: &ServiceAccount) -> Result<String, PushOutcome> {
    if let Some(token) = state.push_tokens.get(inbox, Platform::Fcm) {
        return Ok(token);
    }
    let assertion = account
        .assertion(state.clock.now().unix_timestamp())
        .map_err(|e| PushOutcome::Refused(format!("the Firebase service account key {e}")))?;
    let request = account.token_request(&assertion);
    let (status, body) =
        execute(&state.egress, &state.providers.client, &request, MAX_ANSWER_BYTES).await.map_err(|e| PushOutcome::Retry(e.to_string()))?;
    match read_access_token(status, &body) {
        Ok((token, expires_in)) => {
            // A minute's margin before Google's own expiry.
            let valid = Duration::from_secs(expires_in.saturating_sub(60).max(0) as u64);
            state.push_tokens.put(inbox, Platform::Fcm, token.clone(), valid);
            Ok(token)
        }
        Err(reason) if status >= 500 || status == 429 => Err(PushOutcome::Retry(reason)),
        Err(reason) => Err(PushOutcome::Refused(reason)),
    }
}
