//! Email replies through the inbox's SMTP relay (see
//! `threadline_channels::email` for the message and the inbox settings).
//!
//! Each reply names the customer's last email (`In-Reply-To`), carries the
//! conversation's mail thread (`References`) and a `Reply-To` with the
//! conversation's tag, so the answer comes back to the same conversation.
//!
//! A relay's 4xx answer or a failed connection is retried like any send; a
//! 5xx answer (unknown mailbox, refused sender) fails the reply with the
//! relay's words. A connection lost after the message was handed over is not
//! retried: the relay may have accepted it.

use std::collections::BTreeMap;
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use threadline_channels::email::{self, EmailAttachment, EmailReply};
use threadline_domain::channel::Channel;
use threadline_domain::message::{DeliveryStatus, Message, SenderKind};
use threadline_store::{ClaimedSend, Inbox, SendOutcome};

use crate::app::AppState;
use crate::channels::outbox::retry_or_dead;

/// An SMTP relay to hand mail to.
pub struct Relay<'a> {
    pub host: &'a str,
    /// Default: 465 with `tls`, 587 with `starttls`, 25 with `none`.
    pub port: Option<u16>,
    /// `starttls` (the default), `tls` or `none`.
    pub security: &'a str,
    pub credentials: Option<(String, String)>,
    /// The name given in EHLO.
    pub hello: &'a str,
}

pub enum RelayError {
    /// The settings cannot work (the egress policy refuses the host, a bad
    /// name): retrying will not help.
    Refused(String),
    /// The host could not be resolved now.
    Unreachable(String),
}

/// A transport to `relay` under the egress policy: the host is resolved
/// and checked here, and the connection goes to the checked address (TLS
/// still verifies the relay's name), so DNS cannot send it elsewhere.
pub async fn transport(state: &AppState, relay: &Relay<'_>) -> Result<AsyncSmtpTransport<Tokio1Executor>, RelayError> {
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    let port = relay.port.unwrap_or(match relay.security {
        "tls" => 465,
        "none" => 25,
        _ => 587,
    });
    let addresses = state.egress.resolve(relay.host, port).await.map_err(|e| match e {
        crate::egress::EgressError::Unresolvable { .. } => RelayError::Unreachable(format!("the SMTP relay: {e}")),
        other => RelayError::Refused(format!("the SMTP relay is refused by the egress policy: {other}")),
    })?;
    let address = addresses[0].ip().to_string();
    let name = relay.host.trim().to_owned();
    let tls =
        |name: String| TlsParameters::new(name).map_err(|e| RelayError::Refused(format!("the SMTP relay settings are not usable: {e}")));
    let tls = match relay.security {
        "none" => Tls::None,
        "tls" => Tls::Wrapper(tls(name)?),
        _ => Tls::Required(tls(name)?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(address).port(port).tls(tls);
    if let Some((user, password)) = &relay.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder
        .hello_name(ClientId::Domain(relay.hello.to_owned()))
        .timeout(Some(Duration::from_secs(state.settings.send_timeout_secs)))
        .build())
}

pub(crate) fn setting<'a>(inbox: &'a Inbox, name: &str) -> Option<&'a str> {
    inbox.settings.get(name).and_then(|v| v.as_str()).map(str::trim).filter(|v| !v.is_empty())
}

/// An email inbox's relay and its sending address; why not, when its
/// settings name no relay or address.
pub(crate) fn relay_of<'a>(inbox: &'a Inbox, secrets: &BTreeMap<String, String>) -> Result<(Relay<'a>, &'a str), String> {
    let (Some(host), Some(from)) = (setting(inbox, "smtp_host"), setting(inbox, "address")) else {
        return Err("the email inbox has no smtp_host or address to send with".into());
    };
    let relay = Relay {
        host,
        port: inbox.settings.get("smtp_port").and_then(|p| p.as_u64()).and_then(|p| u16::try_from(p).ok()),
        security: setting(inbox, "smtp_security").unwrap_or("starttls"),
        credentials: secrets.get("smtp_username").cloned().zip(secrets.get("smtp_password").cloned()),
        hello: from.rsplit_once('@').map_or("localhost", |(_, d)| d),
    };
    Ok((relay, from))
}

pub async fn send(
    state: &AppState,
    job: &ClaimedSend,
    message: &Message,
    inbox: &Inbox,
    secrets: &BTreeMap<String, String>,
) -> SendOutcome {
    let dead = |error: String| SendOutcome::Dead { error };
    let (relay, from) = match relay_of(inbox, secrets) {
        Ok(found) => found,
        Err(reason) => return dead(reason),
    };
    let mut attachments = Vec::with_capacity(message.attachments.len());
    for a in &message.attachments {
        match state.store.attachment(job.account_id, a.id).await {
            Ok((meta, data)) => attachments.push(EmailAttachment { filename: meta.filename, content_type: meta.content_type, data }),
            Err(e) => return retry_or_dead(state, job, format!("cannot read attachment {}: {e}", a.filename), true),
        }
    }
    // Thread under the customer's last email in this conversation.
    let parent = match state.store.last_inbound_message(job.account_id, message.conversation_id, Some(Channel::Email)).await {
        Ok(last) => last.and_then(|m| m.provider_message_id).map(|id| id.trim_matches(['<', '>']).to_owned()),
        Err(e) => return retry_or_dead(state, job, format!("cannot read the conversation: {e}"), true),
    };
    let references = match state.store.email_thread_ids(job.account_id, message.conversation_id).await {
        Ok(ids) => ids.into_iter().map(|id| id.trim_matches(['<', '>']).to_owned()).collect::<Vec<_>>(),
        Err(e) => return retry_or_dead(state, job, format!("cannot read the conversation: {e}"), true),
    };
    let subject = match &message.subject {
        Some(subject) => subject.clone(),
        None => match super::reply_subject(state, job.account_id, message.conversation_id, Some(inbox)).await {
            Ok(subject) => subject,
            Err(e) => return retry_or_dead(state, job, format!("cannot read the conversation: {e}"), true),
        },
    };
    let message_id = email::message_id(&message.id.to_string(), from);
    let reply_to = super::reply_address(&state.secrets, from, message.conversation_id);
    let reply = EmailReply {
        from_name: setting(inbox, "name").or(Some(inbox.name.as_str())),
        from_address: from,
        to: &job.delivery.recipient,
        subject: &subject,
        text: &message.text,
        html: message.html.as_deref(),
        signature: setting(inbox, "signature"),
        reply_to: reply_to.as_deref(),
        message_id: &message_id,
        in_reply_to: parent.as_deref(),
        references: &references,
        auto_submitted: message.sender_kind == SenderKind::System,
        attachments,
    };
    let mail = match email::compose(&reply) {
        Ok(mail) => mail,
        Err(e) => return dead(e.reason),
    };

    let transport = match transport(state, &relay).await {
        Ok(transport) => transport,
        Err(RelayError::Refused(reason)) => return dead(reason),
        Err(RelayError::Unreachable(reason)) => return retry_or_dead(state, job, reason, true),
    };
    match transport.send(mail).await {
        Ok(_) => SendOutcome::Sent { provider_message_id: format!("<{message_id}>"), status: DeliveryStatus::Sent },
        Err(e) if e.is_permanent() => dead(format!("the mail relay refused it: {e}")),
        Err(e) if e.is_transient() => retry_or_dead(state, job, format!("the mail relay deferred it: {e}"), true),
        Err(e) if e.is_timeout() => {
            dead(format!("the mail relay stopped answering ({e}); it may or may not have accepted the message — retry it to send it again"))
        }
        Err(e) => retry_or_dead(state, job, format!("could not hand the message to the mail relay: {e}"), true),
    }
}
