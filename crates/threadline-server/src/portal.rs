//! The customer portal's sign-in: a one-time code sent to an e-mail
//! address or phone number the account already knows, outside any
//! conversation (it is no conversation's business, and must not open one).
//!
//! An e-mail code goes through the account's first e-mail inbox with an
//! SMTP relay, a phone code as an SMS through its first SMS inbox connected
//! to its provider; both at once, in the request, so the customer learns
//! at once if it could not be sent. Whether an address is known is never
//! told: an unknown one gets the same page and no message. Rules (code
//! length, lifetime, tries, how many codes an address may be sent) are in
//! `threadline_domain::portal`; codes and sessions in `threadline_store`.

use lettre::AsyncTransport;
use sha2::{Digest, Sha256};
use threadline_channels::{Outgoing, adapter_for};
use threadline_domain::channel::Channel;
use threadline_domain::identity::{IdentityKind, NormalizedIdentity};
use threadline_domain::ids::AccountId;
use threadline_domain::portal::{code_from, code_message};
use threadline_store::{Account, CodeIssue, Inbox};

use crate::app::AppState;
use crate::channels::{CallError, execute, inbox_config, open_secrets, provider_connected, webhook_url};

/// The portal session's cookie.
pub const COOKIE: &str = "threadline_portal";

/// What became of a request for a code, as the page tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Sent — or the address is unknown and nothing was: the customer is
    /// told the same either way.
    AsFarAsTold,
    /// The address was sent enough codes lately.
    TooMany,
    /// The account has no inbox to send this kind of code through.
    NoWay,
    /// The provider or relay refused or could not be reached.
    Failed(String),
}

/// The stored hash of a code: bound to the account and the address, so a
/// hash is worth nothing elsewhere.
pub fn code_hash(account_id: AccountId, identity: &NormalizedIdentity, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{account_id}:{}:{}:{code}", identity.kind.as_str(), identity.value).as_bytes()))
}

/// The inbox of the account that speaks to `identity`: its first e-mail
/// inbox for an address, SMS inbox for a number — connected to its
/// provider (codes are sent through it), or with `any`, the first of the
/// channel (the customer's words are recorded through it).
pub fn inbox_for(inboxes: &[Inbox], identity: &NormalizedIdentity, any: bool) -> Option<Inbox> {
    let channel = match identity.kind {
        IdentityKind::Email => Channel::Email,
        _ => Channel::Sms,
    };
    let of_channel = || inboxes.iter().filter(|i| i.channel == channel);
    of_channel().find(|i| provider_connected(i)).or_else(|| if any { of_channel().next() } else { None }).cloned()
}

/// Issues a code for `identity` and sends it, in `language`.
pub async fn send_code(state: &AppState, account: &Account, identity: &NormalizedIdentity, language: &str) -> Sent {
    let inboxes = match state.store.inboxes(account.id).await {
        Ok(inboxes) => inboxes,
        Err(e) => return Sent::Failed(e.to_string()),
    };
    let Some(inbox) = inbox_for(&inboxes, identity, false) else { return Sent::NoWay };
    let code = code_from(rand::random());
    let issued = state.store.issue_portal_code(account.id, identity, &code_hash(account.id, identity, &code), state.clock.now()).await;
    match issued {
        Ok(CodeIssue::Issued(_)) => {}
        Ok(CodeIssue::Unknown) => return Sent::AsFarAsTold,
        Ok(CodeIssue::TooMany) => return Sent::TooMany,
        Err(e) => return Sent::Failed(e.to_string()),
    }
    let (subject, text) = code_message(&code, &account.name, Some(language));
    let outcome = match inbox.channel {
        Channel::Email => by_email(state, &inbox, &identity.value, &subject, &text).await,
        _ => by_sms(state, &inbox, &identity.value, &text).await,
    };
    match outcome {
        Ok(()) => Sent::AsFarAsTold,
        Err(reason) => {
            tracing::warn!(account = %account.id, inbox = %inbox.id, %reason, "a portal sign-in code could not be sent");
            Sent::Failed(reason)
        }
    }
}

async fn by_email(state: &AppState, inbox: &Inbox, to: &str, subject: &str, text: &str) -> Result<(), String> {
    use crate::email::send::{RelayError, relay_of, setting, transport};
    use threadline_channels::email::{EmailReply, compose, message_id};
    let secrets = open_secrets(state, inbox).map_err(|e| format!("the inbox's credentials cannot be read: {e}"))?;
    let (relay, from) = relay_of(inbox, &secrets)?;
    let id = message_id(&uuid::Uuid::now_v7().to_string(), from);
    let mail = compose(&EmailReply {
        from_name: setting(inbox, "name").or(Some(inbox.name.as_str())),
        from_address: from,
        to,
        subject,
        text,
        html: None,
        signature: setting(inbox, "signature"),
        reply_to: None,
        message_id: &id,
        in_reply_to: None,
        references: &[],
        auto_submitted: true,
        attachments: Vec::new(),
    })
    .map_err(|e| e.reason)?;
    let transport = match transport(state, &relay).await {
        Ok(transport) => transport,
        Err(RelayError::Refused(reason) | RelayError::Unreachable(reason)) => return Err(reason),
    };
    transport.send(mail).await.map(|_| ()).map_err(|e| format!("the mail relay did not take it: {e}"))
}

async fn by_sms(state: &AppState, inbox: &Inbox, to: &str, text: &str) -> Result<(), String> {
    let adapter = adapter_for(inbox.channel).ok_or_else(|| format!("Threadline cannot send on {}", inbox.channel))?;
    let secrets = open_secrets(state, inbox).map_err(|e| format!("the inbox's credentials cannot be read: {e}"))?;
    let url = webhook_url(&state.settings, inbox.id);
    let config = inbox_config(state, inbox, &secrets, &url);
    let outgoing = Outgoing {
        to: to.to_owned(),
        text: text.to_owned(),
        media: Vec::new(),
        template: None,
        human_agent_tag: false,
        // Its delivery reports would name no message of ours.
        status_callback: None,
        choices: Vec::new(),
        choices_button: None,
    };
    let request = adapter.send_request(&outgoing, &config).map_err(|e| e.reason)?;
    match execute(&state.egress, &state.providers.client, &request, 1024 * 1024).await {
        Err(e @ (CallError::Unreached(_) | CallError::Network(_) | CallError::TooLarge(_))) => Err(e.to_string()),
        Ok((status, body)) => adapter.send_result(status, &body).map(|_| ()).map_err(|e| e.reason),
    }
}
