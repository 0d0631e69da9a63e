//! Which email inboxes may receive mail through the SMTP listener.
//!
//! An inbox's `address` is only a claim: any account could type another
//! company's address. Mail is routed to it once the account has *proven*
//! control of the address, one of two ways:
//!
//! - **an assigned domain**: the operator assigned the address's domain to
//!   the account (`POST /api/v1/accounts/{id}/domains` with the operator
//!   token, or `threadline domain assign`) — the way for domains whose MX
//!   points at Threadline;
//! - **a code**: Threadline mails a code to the address through the
//!   operator's relay (`system_smtp_url`, never the account's own relay,
//!   which the claimant controls), and someone who reads that mailbox
//!   types it back — the way for a mailbox kept elsewhere that forwards
//!   to Threadline.
//!
//! Unproven addresses receive nothing (the listener answers 550), and a
//! proven address belongs to one inbox in the whole installation. Mailboxes
//! read over IMAP need no proof: their credentials are it.

use lettre::{AsyncTransport, Message};
use rand::Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};
use threadline_channels::email::address;
use threadline_domain::ids::{AccountId, InboxId};
use threadline_store::{CodeOutcome, Inbox, MailAddress};

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};

/// How long a mailed code stays valid.
const CODE_VALID: time::Duration = time::Duration::hours(24);
/// Codes may be mailed for one inbox at most this often…
const RESEND_AFTER: time::Duration = time::Duration::seconds(60);
/// …and this many times a day (a code mail is mail to someone else's
/// mailbox: it must not become a way to flood it).
const SENDS_PER_DAY: i64 = 5;

/// Where an inbox's address stands, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AddressProof {
    /// The address as compared (lower case, no `+tag`).
    pub address: String,
    /// `verified`, `pending` (a code is out) or `unverified`.
    pub status: &'static str,
    /// `domain` (assigned by the operator) or `code`, once verified.
    pub method: Option<&'static str>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub code_expires_at: Option<time::OffsetDateTime>,
}

/// The inbox's address, as compared.
pub fn inbox_address(inbox: &Inbox) -> Option<String> {
    inbox.settings.get("address").and_then(|a| a.as_str()).map(str::trim).filter(|a| !a.is_empty()).map(address::base)
}

fn domain_of(address: &str) -> Option<&str> {
    address.rsplit_once('@').map(|(_, domain)| domain)
}

/// Where `inbox`'s address stands; `None` for an inbox without one.
pub async fn proof(state: &AppState, account_id: AccountId, inbox: &Inbox) -> ApiResult<Option<AddressProof>> {
    let Some(address) = inbox_address(inbox) else { return Ok(None) };
    if let Some(domain) = domain_of(&address)
        && state.store.domain_owner(domain).await? == Some(account_id)
    {
        return Ok(Some(AddressProof { address, status: "verified", method: Some("domain"), code_expires_at: None }));
    }
    let record = state.store.mail_address(account_id, inbox.id).await?.filter(|r| r.address == address);
    Ok(Some(match record {
        Some(r) if r.status == "verified" => AddressProof { address, status: "verified", method: Some("code"), code_expires_at: None },
        Some(r) if r.code_expires_at.is_some_and(|at| at > threadline_store::now()) => {
            AddressProof { address, status: "pending", method: None, code_expires_at: r.code_expires_at }
        }
        _ => AddressProof { address, status: "unverified", method: None, code_expires_at: None },
    }))
}

/// The hash a code is kept as: bound to the inbox, so a code for one
/// inbox proves nothing for another.
fn code_hash(inbox_id: InboxId, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{inbox_id}:{}", code.trim()).as_bytes()))
}

/// Mails a new code to the inbox's address through the operator's relay.
pub async fn send_code(state: &AppState, account_id: AccountId, inbox: &Inbox) -> ApiResult<AddressProof> {
    let Some(current) = proof(state, account_id, inbox).await? else {
        return Err(ApiError::invalid("settings.address", "the inbox has no address to verify"));
    };
    if current.status == "verified" {
        return Ok(current);
    }
    if let Some(domain) = domain_of(&current.address)
        && state.store.domain_owner(domain).await?.is_some()
    {
        return Err(ApiError::Refused {
            code: "address_not_verifiable",
            message: format!("{} cannot be verified by this account; ask the operator", current.address),
        });
    }
    let relay = SystemRelay::from_settings(state)?;
    let now = threadline_store::now();
    let record: Option<MailAddress> = state.store.mail_address(account_id, inbox.id).await?;
    let sends_today = match &record {
        Some(r) if r.last_sent_at.is_some_and(|at| now - at < time::Duration::days(1)) => r.sends,
        _ => 0,
    };
    if let Some(at) = record.as_ref().and_then(|r| r.last_sent_at) {
        let wait = RESEND_AFTER - (now - at);
        if wait.is_positive() {
            return Err(ApiError::RateLimited(wait.whole_seconds().max(1) as u64));
        }
    }
    if sends_today >= SENDS_PER_DAY {
        return Err(ApiError::RateLimited(3600));
    }
    let code = format!("{:08}", rand::thread_rng().gen_range(0..100_000_000u32));
    let mail = verification_mail(state, &relay, &current.address, &inbox.name, &code)?;
    let transport = match crate::email::send::transport(state, &relay.relay()).await {
        Ok(t) => t,
        Err(crate::email::send::RelayError::Refused(reason) | crate::email::send::RelayError::Unreachable(reason)) => {
            return Err(ApiError::Refused { code: "mail_not_sent", message: format!("the code could not be mailed: {reason}") });
        }
    };
    if let Err(e) = transport.send(mail).await {
        return Err(ApiError::Refused { code: "mail_not_sent", message: format!("the operator's mail relay did not take the code: {e}") });
    }
    let expires = now + CODE_VALID;
    state
        .store
        .mail_address_code_sent(account_id, inbox.id, &current.address, &code_hash(inbox.id, &code), expires, sends_today + 1)
        .await?;
    tracing::info!(account = %account_id, inbox = %inbox.id, "address verification code mailed");
    Ok(AddressProof { address: current.address, status: "pending", method: None, code_expires_at: Some(expires) })
}

/// Checks a typed code; the address is verified when it matches.
pub async fn confirm(state: &AppState, account_id: AccountId, inbox: &Inbox, code: &str, actor: &str) -> ApiResult<AddressProof> {
    let Some(current) = proof(state, account_id, inbox).await? else {
        return Err(ApiError::invalid("settings.address", "the inbox has no address to verify"));
    };
    if current.status == "verified" {
        return Ok(current);
    }
    if current.status != "pending" {
        return Err(ApiError::invalid("code", "no code is waiting for this address; send one first"));
    }
    match state.store.confirm_mail_address(account_id, inbox.id, &code_hash(inbox.id, code), actor).await? {
        CodeOutcome::Verified => {
            state.mail_routes.clear();
            tracing::info!(account = %account_id, inbox = %inbox.id, "email address verified by code");
            Ok(AddressProof { address: current.address, status: "verified", method: Some("code"), code_expires_at: None })
        }
        CodeOutcome::Wrong { attempts_left } if attempts_left > 0 => {
            Err(ApiError::invalid("code", format!("is not the code that was mailed; {attempts_left} tries left")))
        }
        CodeOutcome::Wrong { .. } | CodeOutcome::NoValidCode => {
            Err(ApiError::invalid("code", "the code is no longer valid (expired, or too many wrong tries); send a new one"))
        }
    }
}

/// The operator's relay for Threadline's own mail (`system_smtp_url`).
struct SystemRelay {
    host: String,
    port: Option<u16>,
    security: &'static str,
    credentials: Option<(String, String)>,
    from: String,
}

impl SystemRelay {
    fn from_settings(state: &AppState) -> ApiResult<SystemRelay> {
        let raw = state.settings.system_smtp_url.0.trim();
        let unavailable = || {
            ApiError::Refused {
            code: "system_mail_unavailable",
            message: "this server sends no mail of its own (system_smtp_url is not set): ask the operator to assign the address's domain to the account".into(),
        }
        };
        if raw.is_empty() {
            return Err(unavailable());
        }
        let url = url::Url::parse(raw).map_err(|_| unavailable())?;
        let security = match url.scheme() {
            "smtp" => "starttls",
            "smtps" => "tls",
            "smtp+plain" => "none",
            _ => return Err(unavailable()),
        };
        let host = url.host_str().ok_or_else(unavailable)?.trim_start_matches('[').trim_end_matches(']').to_owned();
        let credentials = (!url.username().is_empty()).then(|| {
            let decode = |s: &str| percent_decode(s);
            (decode(url.username()), decode(url.password().unwrap_or("")))
        });
        let from = if state.settings.system_mail_from.is_empty() {
            let public = state.settings.effective_public_url();
            let host = url::Url::parse(&public).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_else(|| "localhost".into());
            format!("threadline@{host}")
        } else {
            state.settings.system_mail_from.clone()
        };
        Ok(SystemRelay { host, port: url.port(), security, credentials, from })
    }

    fn relay(&self) -> crate::email::send::Relay<'_> {
        crate::email::send::Relay {
            host: &self.host,
            port: self.port,
            security: self.security,
            credentials: self.credentials.clone(),
            hello: domain_of(&self.from).unwrap_or("localhost"),
        }
    }
}

fn percent_decode(text: &str) -> String {
    form_urlencoded::parse(format!("x={text}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

fn verification_mail(state: &AppState, relay: &SystemRelay, to: &str, inbox_name: &str, code: &str) -> ApiResult<Message> {
    let text = format!(
        "Someone set up a Threadline inbox (\"{inbox_name}\") at {server} to receive the mail of this address.\n\
         If that was you or your team, enter this code in the inbox's settings:\n\n    {code}\n\n\
         The code is valid for 24 hours. If you did not expect this, ignore this message: no mail will reach them.\n\n\
         ---\n\n\
         Qualcuno ha configurato una casella Threadline (\"{inbox_name}\") su {server} per ricevere la posta di questo indirizzo.\n\
         Se siete stati voi, inserite questo codice nelle impostazioni della casella:\n\n    {code}\n\n\
         Il codice vale 24 ore. Se non ve lo aspettavate, ignorate questo messaggio: nessuna posta arriverà loro.\n",
        server = state.settings.effective_public_url(),
    );
    threadline_channels::email::notice(&relay.from, to, &format!("Threadline verification code {code}"), &text)
        .map_err(|e| ApiError::Refused { code: "mail_not_sent", message: e.reason })
}
