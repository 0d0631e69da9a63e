//! The email channel, server side.
//!
//! Mail arrives two ways — Threadline's own SMTP listener ([`listener`]) and
//! polling an existing mailbox over IMAP ([`imap`]) — and both hand the raw
//! message to [`receive`], which reads it (`threadline_channels::email`),
//! finds the conversation it answers, and stores it. Replies leave through
//! the outbox and the inbox's SMTP relay ([`send`]).
//!
//! Threading, in the order tried: the reply address's tag (which survives a
//! mail client that drops headers), then `In-Reply-To`, then `References`
//! from the newest id back. A thread is followed only into a conversation
//! of the sender's own contact; otherwise, and for a new mail, the usual
//! continuity rule applies — so an email from a customer with an open
//! WhatsApp conversation continues that conversation.

pub mod addresses;
pub mod imap;
pub mod listener;
pub mod send;

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use threadline_channels::email::{self, ParseLimits, address};
use threadline_domain::channel::Channel;
use threadline_domain::html::RemoteImages;
use threadline_domain::identity::{IdentityKind, NormalizedIdentity, Region};
use threadline_domain::ids::{AccountId, ConversationId, InboxId, MessageId};
use threadline_domain::message::{DeliveryStatus, Direction, MessageKind};
use threadline_store::{Account, InboundMessage, Inbox, NewAttachment, OutboundDelivery, OutboundMessage, StoreError};

use crate::app::AppState;
use crate::secrets::SecretBox;

/// A message as it came off the wire.
#[derive(Debug, Clone, Copy)]
pub struct RawMail<'a> {
    pub raw: &'a [u8],
    /// SMTP `MAIL FROM`; `Some("")` for the null sender `<>`.
    pub envelope_sender: Option<&'a str>,
    /// The recipient address it was delivered to (SMTP `RCPT TO`), which
    /// may carry a conversation's reply tag.
    pub recipient: Option<&'a str>,
}

/// What became of a received mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// Stored (or recognised as stored before).
    Stored { message_id: MessageId, conversation_id: ConversationId, duplicate: bool },
    /// A delivery report about a message we sent; that message was marked
    /// failed when the report says so.
    Report { failed: Option<MessageId> },
    /// One of our own messages came back (a copy, a loop): not stored again.
    OwnMessage,
}

/// Recipient address (without tag, lower-cased) → its inbox.
pub type MailRoutes = Arc<HashMap<String, (AccountId, InboxId)>>;

/// The inbox a recipient address belongs to, across all accounts: only
/// inboxes whose account proved control of the address (see [`addresses`]).
pub async fn route(state: &AppState, recipient: &str) -> Result<Option<(AccountId, InboxId)>, StoreError> {
    let routes = match state.mail_routes.get(&()) {
        Some(routes) => routes,
        None => {
            let domains: HashMap<String, AccountId> = state.store.all_account_domains().await?.into_iter().collect();
            let proven: HashMap<InboxId, String> =
                state.store.verified_mail_addresses().await?.into_iter().map(|(address, _, inbox)| (inbox, address)).collect();
            let mut map = HashMap::new();
            for (account_id, inbox) in state.store.email_inboxes().await? {
                let Some(address) = addresses::inbox_address(&inbox) else { continue };
                let by_code = proven.get(&inbox.id) == Some(&address);
                let by_domain = address.rsplit_once('@').and_then(|(_, d)| domains.get(d)) == Some(&account_id);
                if by_code || by_domain {
                    // Within an account one address has one inbox; across
                    // accounts a domain and a verified address have one owner.
                    map.entry(address).or_insert((account_id, inbox.id));
                }
            }
            let routes: MailRoutes = Arc::new(map);
            state.mail_routes.insert((), routes.clone());
            routes
        }
    };
    Ok(routes.get(&address::base(recipient)).copied())
}

/// The tag of a conversation's reply address: `c` + its id + a signature,
/// so a tag cannot be made up to drop mail into someone's conversation.
pub fn reply_tag(secrets: &SecretBox, conversation: ConversationId) -> String {
    let signature = secrets.sign_link(&format!("reply-address:{conversation}"));
    format!("c{}{}", conversation.0.simple(), &signature[..TAG_SIGNATURE_HEX])
}

const TAG_SIGNATURE_HEX: usize = 12;

/// The conversation a reply tag names, if its signature holds.
pub fn conversation_from_tag(secrets: &SecretBox, tag: &str) -> Option<ConversationId> {
    let tag = tag.to_ascii_lowercase();
    let rest = tag.strip_prefix('c')?;
    if rest.len() != 32 + TAG_SIGNATURE_HEX || !rest.is_ascii() {
        return None;
    }
    let (id, signature) = rest.split_at(32);
    let conversation: ConversationId = id.parse().ok()?;
    secrets.verify_link_prefix(&format!("reply-address:{conversation}"), signature).then_some(conversation)
}

/// The address a reply in `conversation` asks the customer to answer to.
pub fn reply_address(secrets: &SecretBox, inbox_address: &str, conversation: ConversationId) -> Option<String> {
    address::with_tag(inbox_address, &reply_tag(secrets, conversation))
}

fn setting<'a>(inbox: &'a Inbox, name: &str) -> Option<&'a str> {
    inbox.settings.get(name).and_then(|v| v.as_str()).map(str::trim).filter(|v| !v.is_empty())
}

/// The subject of an email reply in `conversation`: "Re: " and the
/// customer's last subject, else the inbox's `subject` setting.
pub async fn reply_subject(
    state: &AppState,
    account_id: AccountId,
    conversation: ConversationId,
    inbox: Option<&Inbox>,
) -> Result<String, StoreError> {
    let last = state.store.last_inbound_message(account_id, conversation, Some(Channel::Email)).await?;
    if let Some(subject) = last.and_then(|m| m.subject) {
        return Ok(email::reply_subject(&subject));
    }
    let name = inbox.and_then(|i| setting(i, "name")).or(inbox.map(|i| i.name.as_str())).unwrap_or("Support");
    Ok(inbox.and_then(|i| setting(i, "subject")).map(str::to_owned).unwrap_or_else(|| format!("{name}: reply to your message")))
}

/// Reads, threads and stores one mail for `inbox`. Returns after the
/// message is committed: only then may the sender be told it was accepted.
pub async fn receive(state: &AppState, account: &Account, inbox: &Inbox, mail: RawMail<'_>) -> Result<Receipt, StoreError> {
    // Remote images stay blocked unless the inbox's owner chose to see them.
    let remote_images = match inbox.settings.get("remote_images").and_then(|v| v.as_str()) {
        Some("allow") => RemoteImages::Allow,
        _ => RemoteImages::Block,
    };
    let limits = ParseLimits { max_attachment_bytes: state.settings.max_attachment_bytes, remote_images };
    let mut parsed = email::parse(mail.raw, &limits);

    // A report about one of our messages updates that message.
    if let Some(report) = &parsed.report
        && let Some(original) = &report.original_message_id
    {
        let hits = state.store.email_messages_by_id(account.id, inbox.id, &[format!("<{original}>")]).await?;
        if let Some(sent) = hits.iter().find(|h| h.direction == Direction::Outbound) {
            let mut failed = None;
            if let Some(failure) = report.failure() {
                let _ =
                    state.store.update_delivery_status(account.id, sent.message_id, DeliveryStatus::Failed, Some(failure.reason())).await?;
                failed = Some(sent.message_id);
            }
            return Ok(Receipt::Report { failed });
        }
    }

    // Our own message coming back (Cc'd to the inbox, or looping).
    if let Some(id) = &parsed.message_id {
        let hits = state.store.email_messages_by_id(account.id, inbox.id, &[format!("<{id}>")]).await?;
        if hits.iter().any(|h| h.direction == Direction::Outbound) {
            return Ok(Receipt::OwnMessage);
        }
    }

    let region = Region::parse(&account.default_region).unwrap_or_default();
    let sender = parsed.from_address.clone().or_else(|| mail.envelope_sender.filter(|s| s.contains('@')).map(str::to_lowercase));
    let identity = sender
        .as_deref()
        .and_then(|address| NormalizedIdentity::parse(IdentityKind::Email, address, region).ok())
        .or_else(|| {
            // No usable sender address: kept under one "unknown sender"
            // contact per inbox rather than lost.
            NormalizedIdentity::parse(IdentityKind::ExternalId, &format!("email-unknown-sender:{}", inbox.id), region).ok()
        })
        .ok_or_else(|| StoreError::Corrupt("no identity for an unknown sender".into()))?;
    let answerable = (identity.kind == IdentityKind::Email).then(|| identity.value.clone());
    if sender.is_some() && identity.kind != IdentityKind::Email {
        parsed.problems.push(format!("the sender address {:?} is not a valid email address", sender.as_deref().unwrap_or_default()));
    }

    let thread = find_thread(state, account.id, inbox, &parsed, mail.recipient).await?;

    // A Message-ID names one mail. The same id with the same content is a
    // redelivery (stored once); with other content, a sender reused it:
    // that is a new message, stored under the id and its content's digest,
    // and said so.
    let provider_message_id = match &parsed.message_id {
        Some(id) => {
            let base = format!("<{id}>");
            let digest = content_digest(
                parsed.subject.as_deref(),
                &parsed.text,
                parsed.quoted_text.as_deref(),
                parsed.attachments.iter().map(|a| (a.filename.as_str(), a.data.len() as i64)),
            );
            // A mail with this content was stored under the bare id, or as
            // a reuse under the id and this digest: only those two are read
            // (not every reuse of the id, which would be a prefix search).
            let reused = format!("{base}#{}", &digest[..16]);
            let earlier = state.store.inbound_emails_with_ids(account.id, inbox.id, &[base.clone(), reused.clone()]).await?;
            let same = earlier.iter().find(|m| {
                let files = m.attachments.iter().filter(|a| !is_kept_original(a)).map(|a| (a.filename.as_str(), a.size));
                content_digest(m.subject.as_deref(), &m.text, m.quoted_text.as_deref(), files) == digest
            });
            match (earlier.is_empty(), same) {
                (true, _) => base,
                (false, Some(same)) => same.provider_message_id.clone().unwrap_or(base),
                (false, None) => {
                    parsed.problems.push(format!(
                        "this mail reuses the Message-ID {base} of an earlier mail with different content; it is stored as a new message"
                    ));
                    reused
                }
            }
        }
        // Without a Message-ID the content names it, so a redelivery is
        // still recognised.
        None => format!("<{}@sha256.invalid>", &hex::encode(Sha256::digest(mail.raw))[..40]),
    };
    let automated = parsed.automated.clone().or_else(|| (mail.envelope_sender == Some("")).then(|| "no return path (MAIL FROM:<>)".into()));

    let mut attachments: Vec<NewAttachment> = parsed
        .attachments
        .drain(..)
        .map(|a| NewAttachment { filename: a.filename, content_type: a.content_type, data: a.data, content_id: a.content_id })
        .collect();
    if !parsed.problems.is_empty() {
        if mail.raw.len() <= state.settings.max_attachment_bytes {
            attachments.push(NewAttachment {
                filename: "original.eml".into(),
                content_type: "message/rfc822".into(),
                data: mail.raw.to_vec(),
                content_id: None,
            });
        } else {
            parsed
                .problems
                .push(format!("the original message ({} bytes) is larger than the attachment limit and was not kept", mail.raw.len()));
        }
    }
    let inbound = InboundMessage {
        sender_name: parsed.from_name.clone(),
        identities: vec![identity],
        text: parsed.text.clone(),
        html: parsed.html.clone(),
        provider_message_id: Some(provider_message_id),
        attachments,
        thread,
        subject: parsed.subject.clone(),
        quoted_text: parsed.quoted_text.clone(),
        automated: automated.clone(),
        problems: parsed.problems.clone(),
        ..InboundMessage::new(inbox.id, Channel::Email)
    };
    let (outcome, _) = crate::inbound::receive(state, account, inbox, inbound, None).await?;

    if outcome.conversation_created && !outcome.duplicate && automated.is_none() {
        acknowledge(state, account, inbox, outcome.conversation.id, answerable.as_deref(), parsed.subject.as_deref()).await;
    }
    Ok(Receipt::Stored { message_id: outcome.message.id, conversation_id: outcome.conversation.id, duplicate: outcome.duplicate })
}

/// What a mail says, as one hash: its subject, text, quoted history and
/// files (names and sizes). The same mail delivered twice has the same
/// digest whatever route it took (the headers differ, the content does not).
fn content_digest<'a>(subject: Option<&str>, text: &str, quoted: Option<&str>, files: impl Iterator<Item = (&'a str, i64)>) -> String {
    let mut hash = Sha256::new();
    for part in [subject.unwrap_or_default(), text.trim(), quoted.unwrap_or_default().trim()] {
        hash.update(part.as_bytes());
        hash.update([0u8]);
    }
    let mut files: Vec<(&str, i64)> = files.collect();
    files.sort_unstable();
    for (name, size) in files {
        hash.update(format!("{name}\0{size}\0").as_bytes());
    }
    hex::encode(hash.finalize())
}

/// The copy of the raw message Threadline keeps when a mail had problems:
/// not part of what the sender wrote.
fn is_kept_original(attachment: &threadline_domain::message::AttachmentMeta) -> bool {
    attachment.filename == "original.eml" && attachment.content_type == "message/rfc822"
}

/// The conversation a mail answers, by its reply tag or its headers.
async fn find_thread(
    state: &AppState,
    account_id: AccountId,
    inbox: &Inbox,
    parsed: &email::ParsedEmail,
    recipient: Option<&str>,
) -> Result<Option<ConversationId>, StoreError> {
    let inbox_address = setting(inbox, "address").map(address::base);
    let tagged = recipient.into_iter().chain(parsed.recipients.iter().map(String::as_str)).find_map(|r| {
        (Some(address::base(r)) == inbox_address).then(|| address::tag(r)).flatten().and_then(|t| conversation_from_tag(&state.secrets, t))
    });
    if let Some(conversation) = tagged
        && state.store.conversation_exists(account_id, conversation).await?
    {
        return Ok(Some(conversation));
    }
    // In-Reply-To first, then References from the newest back.
    let wanted: Vec<String> = parsed.in_reply_to.iter().chain(parsed.references.iter().rev()).map(|id| format!("<{id}>")).collect();
    if wanted.is_empty() {
        return Ok(None);
    }
    let hits = state.store.email_messages_by_id(account_id, inbox.id, &wanted).await?;
    Ok(wanted.iter().find_map(|id| hits.iter().find(|h| &h.provider_message_id == id)).map(|h| h.conversation_id))
}

/// The inbox's automatic acknowledgement (`auto_reply` setting), sent once
/// when a person's mail opens a conversation. Never sent to automated mail
/// (the caller checks), and marked `Auto-Submitted` so the customer's own
/// auto-responder stays quiet.
async fn acknowledge(
    state: &AppState,
    account: &Account,
    inbox: &Inbox,
    conversation: ConversationId,
    sender: Option<&str>,
    subject: Option<&str>,
) {
    let (Some(text), Some(recipient)) = (setting(inbox, "auto_reply"), sender) else { return };
    if !crate::channels::provider_connected(inbox) {
        return;
    }
    let subject = subject.map(email::reply_subject).or_else(|| setting(inbox, "subject").map(str::to_owned));
    let outbound = OutboundMessage {
        kind: MessageKind::Message,
        channel: Channel::Email,
        inbox_id: Some(inbox.id),
        sender: None,
        bot: None,
        delivery: Some(OutboundDelivery {
            recipient: recipient.to_owned(),
            template: None,
            human_agent_tag: false,
            choices: Vec::new(),
            choices_button: None,
        }),
        text: text.to_owned(),
        html: None,
        subject,
        attachments: Vec::new(),
        mentions: Vec::new(),
        choices: Vec::new(),
    };
    match state.store.create_outbound_message(account.id, conversation, &outbound).await {
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, inbox = %inbox.id, "could not queue the automatic acknowledgement"),
    }
}
