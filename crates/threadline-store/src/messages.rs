//! Writing messages: the inbound path (identity resolution, conversation
//! continuity, idempotency) and agents' outbound messages and notes.
//!
//! The inbound path reads top to bottom in one transaction:
//! idempotency key → provider-id dedup → resolve or create the contact →
//! continue or open the conversation (the domain rule) → insert the message
//! → events. Nothing is acknowledged before it commits.

use serde::{Deserialize, Serialize};
use threadline_domain::channel::Channel;
use threadline_domain::conversation::{
    Continuity, Conversation, ConversationStatus, Handler, LatestConversation, continue_or_open, follow_thread,
};
use threadline_domain::event::{DomainEvent, EventKind};
use threadline_domain::identity::NormalizedIdentity;
use threadline_domain::ids::{AccountId, ContactId, ConversationId, InboxId, MessageId, UserId};
use threadline_domain::message::{DeliveryStatus, Direction, Message, MessageKind, SenderKind};
use threadline_domain::metrics::Change;

use crate::attachments::{NewAttachment, insert_attachments, load_attachment_meta};
use crate::contacts::{NewContact, insert_contact, insert_identity};
use crate::conversations::{conversation_event, load_conversation};
use crate::rows::MESSAGE_COLUMNS;
use crate::{Account, Result, Store, StoreError, WriteTx, found, micros, now, rows};

pub use threadline_domain::ingest::InboundMessage;
use threadline_domain::ingest::{continue_with, new_conversation, reopen, stored_message};

/// A client's idempotency key: the same key in the same scope returns the
/// first result instead of writing again.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// What the key is unique within, e.g. the inbox.
    pub scope: String,
    pub key: String,
    /// A hash of the request, to refuse the same key with a different body.
    pub fingerprint: String,
}

/// What happened to an inbound message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IngestOutcome {
    pub message: Message,
    pub conversation: Conversation,
    pub contact_id: ContactId,
    pub contact_created: bool,
    pub conversation_created: bool,
    /// The message had been stored before (same provider message id).
    pub duplicate: bool,
}

/// An agent's reply or note.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    pub kind: MessageKind,
    pub channel: Channel,
    pub inbox_id: Option<InboxId>,
    /// The agent who wrote it; `None` for a bot's messages (`bot` names it)
    /// and Threadline's own (an automatic acknowledgement), sent as `system`.
    pub sender: Option<UserId>,
    /// The bot that wrote it: `builtin`, or an agent bot's id.
    pub bot: Option<String>,
    /// Set when Threadline sends the reply through a provider: the send job
    /// is written with the message (needs `inbox_id`).
    pub delivery: Option<crate::OutboundDelivery>,
    pub text: String,
    pub html: Option<String>,
    /// The subject line (email).
    pub subject: Option<String>,
    pub attachments: Vec<NewAttachment>,
    /// Colleagues a note mentions (ignored for messages to the customer).
    pub mentions: Vec<UserId>,
    /// Answers the message offers to tap (kept on the message: the chat
    /// shows them as buttons).
    pub choices: Vec<threadline_domain::message::Choice>,
}

impl Store {
    /// The per-message path: one transaction for one message. Used for
    /// messages with an idempotency key or attachments, for batches of one,
    /// and to retry a batch that failed as a whole.
    #[tracing::instrument(skip_all, fields(account = %account.id, inbox = %inbound.inbox_id))]
    pub(crate) async fn ingest_one(
        &self,
        account: &Account,
        inbound: &InboundMessage,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<(IngestOutcome, bool)> {
        // A unique-constraint race with a concurrent writer (PostgreSQL: two
        // first messages from one new address) retries the whole unit, which
        // then sees the winner's rows.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tx = self.begin_write().await?;
            match self.ingest_in_tx(&mut tx, account, inbound, idempotency).await {
                Ok(Ingested::Replayed(outcome)) => {
                    tx.rollback().await?;
                    return Ok((outcome, true));
                }
                Ok(Ingested::Stored(outcome)) => {
                    tx.commit().await?;
                    return Ok((outcome, false));
                }
                Err(e) if e.is_retryable() && attempt < 5 => {
                    tx.rollback().await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub(crate) async fn ingest_in_tx(
        &self,
        tx: &mut WriteTx,
        account: &Account,
        inbound: &InboundMessage,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<Ingested> {
        let at = now();
        let account_id = account.id;
        if let Some(key) = idempotency {
            let claimed = sqlx::query(
                "INSERT INTO idempotency_keys (scope, idem_key, fingerprint, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (scope, idem_key) DO NOTHING",
            )
            .bind(&key.scope)
            .bind(&key.key)
            .bind(&key.fingerprint)
            .bind(micros(at))
            .execute(tx.conn())
            .await?;
            if claimed.rows_affected() == 0 {
                return replay(tx, key).await.map(Ingested::Replayed);
            }
        }

        if let Some(provider_id) = &inbound.provider_message_id {
            let existing: Option<String> =
                sqlx::query_scalar("SELECT id FROM messages WHERE inbox_id = $1 AND provider_message_id = $2 AND account_id = $3")
                    .bind(inbound.inbox_id.to_string())
                    .bind(provider_id)
                    .bind(account_id.to_string())
                    .fetch_optional(tx.conn())
                    .await?;
            if let Some(id) = existing {
                let id: MessageId = id.parse().map_err(|_| StoreError::Corrupt(id))?;
                let message = load_message(tx.conn(), account_id, id).await?;
                let conversation = load_conversation(tx.conn(), account_id, message.conversation_id).await?;
                let outcome = IngestOutcome {
                    contact_id: message.contact_id,
                    message,
                    conversation,
                    contact_created: false,
                    conversation_created: false,
                    duplicate: true,
                };
                remember(tx, idempotency, &outcome).await?;
                return Ok(Ingested::Stored(outcome));
            }
        }

        let values: Vec<String> = inbound.identities.iter().map(|i| format!("identity:{}", i.value)).collect();
        tx.lock_keys(account_id, &values).await?;
        let (contact_id, contact_created) = resolve_contact(tx, account_id, inbound, at).await?;
        tx.lock_keys(account_id, &[format!("contact:{contact_id}")]).await?;

        // A bare score from a customer with a survey waiting is their
        // answer: kept in the survey's conversation, which stays as it is.
        if threadline_domain::survey::looks_like_answer(&inbound.text)
            && inbound.attachments.is_empty()
            && let Some(open) = crate::surveys::open_request(tx, account_id, contact_id, at).await?
            && let Some(score) = threadline_domain::survey::parse_answer(open.kind, &inbound.text)
        {
            let conversation = load_conversation(tx.conn(), account_id, open.conversation_id).await?;
            let message = stored_message(inbound, conversation.id, contact_id, at);
            insert_messages(tx, account_id, &[&message]).await?;
            crate::surveys::answer_from_message(tx, account_id, &open, score, message.id, at).await?;
            tx.emit(message_event(account_id, &message, &conversation, at));
            let outcome =
                IngestOutcome { message, conversation, contact_id, contact_created, conversation_created: false, duplicate: false };
            remember(tx, idempotency, &outcome).await?;
            return Ok(Ingested::Stored(outcome));
        }

        let latest = sqlx::query(
            "SELECT id, status, last_activity_at FROM conversations WHERE account_id = $1 AND contact_id = $2 \
             ORDER BY last_activity_at DESC, id DESC LIMIT 1",
        )
        .bind(account_id.to_string())
        .bind(contact_id.to_string())
        .fetch_optional(tx.conn())
        .await?
        .map(|row| latest_conversation(&row))
        .transpose()?;

        // A reply that names its conversation goes there, if the conversation
        // is this contact's; anything else follows the continuity rule.
        let thread = match inbound.thread {
            Some(id) => {
                sqlx::query("SELECT id, status, last_activity_at FROM conversations WHERE id = $1 AND account_id = $2 AND contact_id = $3")
                    .bind(id.to_string())
                    .bind(account_id.to_string())
                    .bind(contact_id.to_string())
                    .fetch_optional(tx.conn())
                    .await?
                    .map(|row| latest_conversation(&row))
                    .transpose()?
            }
            None => None,
        };
        let continuity = match thread {
            Some(thread) => follow_thread(thread),
            None => continue_or_open(latest, at, account.continuity_window()),
        };
        let previous_status = thread.or(latest).map(|c| c.status);
        let (mut conversation, conversation_created, changed) = match continuity {
            Continuity::Continue { id, reopen } => {
                let mut conversation = load_conversation(tx.conn(), account_id, id).await?;
                if reopen {
                    self::reopen(&mut conversation);
                }
                let changed = continue_with(&mut conversation, inbound, reopen, at);
                (conversation, false, changed)
            }
            Continuity::OpenNew => {
                let conversation = new_conversation(contact_id, inbound, at);
                insert_conversations(tx, account_id, &[&conversation]).await?;
                (conversation, true, false)
            }
        };
        let reopened = !conversation_created && previous_status.is_some_and(|status| status != conversation.status);
        if !conversation_created
            && previous_status == Some(ConversationStatus::Resolved)
            && conversation.status != ConversationStatus::Resolved
        {
            crate::metrics::record_change(tx, account_id, conversation.id, Change::Reopened, SenderKind::Contact, at).await?;
        }
        conversation.last_activity_at = at;
        conversation.updated_at = at;
        if !conversation_created {
            update_continued(tx, account_id, &conversation).await?;
        }

        let mut message = stored_message(inbound, conversation.id, contact_id, at);
        insert_messages(tx, account_id, &[&message]).await?;
        message.attachments = insert_attachments(self, tx, account_id, message.id, &inbound.attachments, at).await?;
        if conversation.handler == Handler::Bot {
            crate::bot::enqueue_bot_jobs(tx, account_id, &[&message], at).await?;
        } else if conversation.assignee_id.is_none() && conversation.team_id.is_some() {
            tx.routing_needed = true;
        }

        if conversation_created {
            tx.emit(conversation_event(account_id, EventKind::ConversationCreated, &conversation, at));
        } else if reopened || changed {
            tx.emit(conversation_event(account_id, EventKind::ConversationUpdated, &conversation, at));
        }
        tx.emit(message_event(account_id, &message, &conversation, at));

        let outcome = IngestOutcome { message, conversation, contact_id, contact_created, conversation_created, duplicate: false };
        remember(tx, idempotency, &outcome).await?;
        Ok(Ingested::Stored(outcome))
    }

    /// Stores an agent's outbound message or private note in a conversation.
    /// Outbound messages start `pending`; the channel that delivers them
    /// moves them on.
    #[tracing::instrument(skip_all, fields(account = %account_id, conversation = %conversation_id))]
    pub async fn create_outbound_message(
        &self,
        account_id: AccountId,
        conversation_id: ConversationId,
        outbound: &OutboundMessage,
    ) -> Result<Message> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let message = self.write_outbound(&mut tx, account_id, conversation_id, outbound, at).await?;
        tx.commit().await?;
        Ok(message)
    }

    /// Writes an outbound message (and its send job) in `tx`.
    pub(crate) async fn write_outbound(
        &self,
        tx: &mut WriteTx,
        account_id: AccountId,
        conversation_id: ConversationId,
        outbound: &OutboundMessage,
        at: time::OffsetDateTime,
    ) -> Result<Message> {
        let mut conversation = load_conversation(tx.conn(), account_id, conversation_id).await?;
        if let Some(inbox_id) = outbound.inbox_id {
            let channel: Option<String> =
                sqlx::query_scalar("SELECT channel FROM inboxes WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL")
                    .bind(inbox_id.to_string())
                    .bind(account_id.to_string())
                    .fetch_optional(tx.conn())
                    .await?;
            match channel {
                None => return Err(threadline_domain::ValidationErrors::single("inbox_id", "no such inbox in this account").into()),
                Some(c) if c != outbound.channel.as_str() => {
                    return Err(threadline_domain::ValidationErrors::single(
                        "inbox_id",
                        format!("inbox is a {c} inbox, not {}", outbound.channel),
                    )
                    .into());
                }
                Some(_) => {}
            }
        }
        let note = outbound.kind == MessageKind::Note;
        let mut message = Message {
            id: MessageId::new(),
            conversation_id,
            contact_id: conversation.contact_id,
            kind: outbound.kind,
            direction: Direction::Outbound,
            channel: outbound.channel,
            inbox_id: outbound.inbox_id,
            sender_kind: match (&outbound.sender, &outbound.bot) {
                (Some(_), _) => SenderKind::User,
                (None, Some(_)) => SenderKind::Bot,
                (None, None) => SenderKind::System,
            },
            sender_id: outbound.sender.map(|u| u.to_string()).or_else(|| outbound.bot.clone()),
            text: outbound.text.clone(),
            html: outbound.html.clone(),
            provider_message_id: None,
            delivery_status: if note { DeliveryStatus::Internal } else { DeliveryStatus::Pending },
            delivery_error: None,
            subject: outbound.subject.clone(),
            quoted_text: None,
            automated: None,
            problems: Vec::new(),
            choices: outbound.choices.clone(),
            attachments: Vec::new(),
            triage: None,
            created_at: at,
        };
        insert_messages(tx, account_id, &[&message]).await?;
        message.attachments = insert_attachments(self, tx, account_id, message.id, &outbound.attachments, at).await?;
        if note {
            for user in &outbound.mentions {
                // Only colleagues of this account can be mentioned.
                sqlx::query(
                    "INSERT INTO mentions (message_id, user_id, conversation_id, account_id, created_at) \
                     SELECT $1, u.id, $3, $4, $5 FROM users u WHERE u.id = $2 AND u.account_id = $4",
                )
                .bind(message.id.to_string())
                .bind(user.to_string())
                .bind(conversation_id.to_string())
                .bind(account_id.to_string())
                .bind(micros(at))
                .execute(tx.conn())
                .await?;
            }
        }
        if !note {
            conversation.last_activity_at = at;
            conversation.updated_at = at;
            // An agent's answer: the first response, and the customer no
            // longer waiting (the SLA clocks). A bot's or Threadline's own
            // message is not an agent's answer.
            if outbound.sender.is_some() {
                conversation.first_response_at = conversation.first_response_at.or(Some(at));
                conversation.awaiting_since = None;
            }
            sqlx::query(
                "UPDATE conversations SET last_activity_at = $3, updated_at = $3, first_response_at = $4, awaiting_since = $5 \
                 WHERE id = $1 AND account_id = $2",
            )
            .bind(conversation_id.to_string())
            .bind(account_id.to_string())
            .bind(micros(at))
            .bind(conversation.first_response_at.map(micros))
            .bind(conversation.awaiting_since.map(micros))
            .execute(tx.conn())
            .await?;
        }
        match (&outbound.delivery, outbound.inbox_id) {
            (Some(delivery), Some(inbox_id)) if !note => {
                crate::outbox::enqueue(tx, account_id, message.id, inbox_id, delivery, at).await?;
            }
            (Some(_), None) if !note => {
                return Err(threadline_domain::ValidationErrors::single("inbox_id", "a sent message needs an inbox to go through").into());
            }
            _ => {}
        }
        let mut event = message_event(account_id, &message, &conversation, at);
        if note && !outbound.mentions.is_empty() {
            // Who the note mentions: their workspace tells them.
            event.data["mentions"] = serde_json::json!(outbound.mentions);
        }
        tx.emit(event);
        Ok(message)
    }

    /// How the customer has felt lately: the sentiment of their latest
    /// `limit` messages that triage read, newest first.
    pub async fn sentiment_trend(
        &self,
        account_id: AccountId,
        contact_id: ContactId,
        limit: i64,
    ) -> Result<Vec<(time::OffsetDateTime, f32)>> {
        let found = sqlx::query(
            "SELECT created_at, sentiment FROM messages WHERE contact_id = $1 AND account_id = $2 AND direction = 'inbound' \
             AND sentiment IS NOT NULL ORDER BY created_at DESC LIMIT $3",
        )
        .bind(contact_id.to_string())
        .bind(account_id.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(|r| Ok((rows::time(r, "created_at")?, rows::int(r, "sentiment")? as f32 / 100.0))).collect()
    }

    pub async fn message(&self, account_id: AccountId, id: MessageId) -> Result<Message> {
        let mut conn = self.pool.acquire().await?;
        load_message(&mut conn, account_id, id).await
    }

    /// Records how far an outbound message got (reported by its channel).
    pub async fn update_delivery_status(
        &self,
        account_id: AccountId,
        id: MessageId,
        status: DeliveryStatus,
        error: Option<String>,
    ) -> Result<Message> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let message = write_delivery_status(&mut tx, account_id, id, status, error.as_deref()).await?;
        tx.emit(message_updated_event(account_id, &message, at));
        tx.commit().await?;
        Ok(message)
    }
}

/// Sets an outbound message's delivery status and error (`NotFound` for any
/// other message) and returns it. The caller emits `message.updated`.
pub(crate) async fn write_delivery_status(
    tx: &mut WriteTx,
    account_id: AccountId,
    id: MessageId,
    status: DeliveryStatus,
    error: Option<&str>,
) -> Result<Message> {
    let done = sqlx::query(
        "UPDATE messages SET delivery_status = $3, delivery_error = $4 WHERE id = $1 AND account_id = $2 AND direction = 'outbound' AND kind = 'message'",
    )
    .bind(id.to_string())
    .bind(account_id.to_string())
    .bind(status.as_str())
    .bind(error)
    .execute(tx.conn())
    .await?;
    found(&done)?;
    load_message(tx.conn(), account_id, id).await
}

/// `message.updated`: a message's delivery status or error changed.
pub(crate) fn message_updated_event(account_id: AccountId, message: &Message, at: time::OffsetDateTime) -> DomainEvent {
    DomainEvent::new(
        account_id,
        EventKind::MessageUpdated,
        serde_json::json!({ "message": message, "conversation_id": message.conversation_id }),
        at,
    )
}

pub(crate) enum Ingested {
    Stored(IngestOutcome),
    Replayed(IngestOutcome),
}

async fn replay(tx: &mut WriteTx, key: &IdempotencyKey) -> Result<IngestOutcome> {
    let row = sqlx::query("SELECT fingerprint, response FROM idempotency_keys WHERE scope = $1 AND idem_key = $2")
        .bind(&key.scope)
        .bind(&key.key)
        .fetch_one(tx.conn())
        .await?;
    if rows::text(&row, "fingerprint")? != key.fingerprint {
        return Err(StoreError::Conflict("this Idempotency-Key was already used with a different request".into()));
    }
    let response = rows::opt_text(&row, "response")?
        .ok_or_else(|| StoreError::Conflict("a request with this Idempotency-Key is still in progress".into()))?;
    serde_json::from_str(&response).map_err(|e| StoreError::Corrupt(format!("stored idempotent response: {e}")))
}

async fn remember(tx: &mut WriteTx, key: Option<&IdempotencyKey>, outcome: &IngestOutcome) -> Result<()> {
    let Some(key) = key else { return Ok(()) };
    let response = serde_json::to_string(outcome).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query("UPDATE idempotency_keys SET response = $3 WHERE scope = $1 AND idem_key = $2")
        .bind(&key.scope)
        .bind(&key.key)
        .bind(response)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Finds the contact the sender's identities point to, or creates one.
/// The first identity that is known decides; identities not yet known are
/// linked to that contact. An identity known for a *different* contact is
/// left where it is: joining two people is a merge, an explicit decision.
async fn resolve_contact(
    tx: &mut WriteTx,
    account_id: AccountId,
    inbound: &InboundMessage,
    at: time::OffsetDateTime,
) -> Result<(ContactId, bool)> {
    // Who owns each identity, and each under its equivalent kinds.
    let mut owners: Vec<Option<ContactId>> = Vec::with_capacity(inbound.identities.len());
    let mut known: std::collections::HashMap<(threadline_domain::IdentityKind, String), ContactId> = Default::default();
    for identity in &inbound.identities {
        let owner = crate::contacts::identity_owner(tx.conn(), account_id, identity).await?;
        if let Some(owner) = owner {
            known.insert((identity.kind, identity.value.clone()), owner);
        }
        owners.push(owner);
        for kind in identity.kind.equivalents() {
            let sibling = NormalizedIdentity { kind: *kind, value: identity.value.clone() };
            if let Some(owner) = crate::contacts::identity_owner(tx.conn(), account_id, &sibling).await? {
                known.insert((*kind, identity.value.clone()), owner);
            }
        }
    }
    let found = threadline_domain::ingest::sender(&inbound.identities, |i| known.get(&(i.kind, i.value.clone())).copied());
    let Some(contact_id) = found else {
        let new = NewContact {
            name: inbound.sender_name.clone(),
            language: inbound.sender_language.clone(),
            identities: inbound.identities.clone(),
            ..NewContact::default()
        };
        // Identities were all unknown a moment ago; a conflict now means a
        // concurrent message from the same sender created them: retry.
        let contact = insert_contact(tx, account_id, new, at).await.map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Race,
            other => other,
        })?;
        tx.emit(DomainEvent::new(account_id, EventKind::ContactCreated, serde_json::json!({ "contact": contact }), at));
        return Ok((contact.id, true));
    };
    for (identity, owner) in inbound.identities.iter().zip(&owners) {
        if owner.is_none() && insert_identity(tx, account_id, contact_id, identity, at).await?.is_some() {
            tx.emit(DomainEvent::new(
                account_id,
                EventKind::IdentityLinked,
                serde_json::json!({ "contact_id": contact_id, "identity": identity }),
                at,
            ));
        }
    }
    if let Some(language) = &inbound.sender_language {
        enrich_language(tx, account_id, contact_id, language, at).await?;
    }
    if let Some(name) = &inbound.sender_name {
        sqlx::query("UPDATE contacts SET name = $3, updated_at = $4, name_key = $5 WHERE id = $1 AND account_id = $2 AND name IS NULL")
            .bind(contact_id.to_string())
            .bind(account_id.to_string())
            .bind(name)
            .bind(micros(at))
            .bind(crate::contacts::stored_name_key(Some(name)))
            .execute(tx.conn())
            .await?;
    }
    Ok((contact_id, false))
}

/// Gives a contact that has no language the one a provider told us.
pub(crate) async fn enrich_language(
    tx: &mut WriteTx,
    account_id: AccountId,
    contact_id: ContactId,
    language: &str,
    at: time::OffsetDateTime,
) -> Result<()> {
    sqlx::query("UPDATE contacts SET language = $3, updated_at = $4 WHERE id = $1 AND account_id = $2 AND language IS NULL")
        .bind(contact_id.to_string())
        .bind(account_id.to_string())
        .bind(language)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Inserts messages in one statement (a batch shares one round trip).
/// A conversation row read for the continuity rule (`id, status, last_activity_at`).
fn latest_conversation(row: &sqlx::any::AnyRow) -> Result<LatestConversation> {
    Ok(LatestConversation {
        id: rows::parse(row, "id")?,
        status: rows::enum_of(row, "status", ConversationStatus::parse)?,
        last_activity_at: rows::time(row, "last_activity_at")?,
    })
}

pub(crate) async fn insert_messages(tx: &mut WriteTx, account_id: AccountId, messages: &[&Message]) -> Result<()> {
    for chunk in rows::fixed_chunks(messages) {
        let sql = format!(
            "INSERT INTO messages (id, account_id, conversation_id, contact_id, kind, direction, channel, inbox_id, sender_kind, sender_id, \
             body_text, body_html, provider_message_id, delivery_status, delivery_error, subject, quoted_text, automated, problems, created_at, \
             language, sentiment, category, triage, choices) VALUES {}",
            rows::placeholders(tx.backend(), chunk.len(), 25)
        );
        let mut query = sqlx::query(&sql);
        for m in chunk {
            query = query
                .bind(m.id.to_string())
                .bind(account_id.to_string())
                .bind(m.conversation_id.to_string())
                .bind(m.contact_id.to_string())
                .bind(m.kind.as_str())
                .bind(m.direction.as_str())
                .bind(m.channel.as_str())
                .bind(m.inbox_id.map(|i| i.to_string()))
                .bind(m.sender_kind.as_str())
                .bind(m.sender_id.clone())
                .bind(m.text.clone())
                .bind(m.html.clone())
                .bind(m.provider_message_id.clone())
                .bind(m.delivery_status.as_str())
                .bind(m.delivery_error.clone())
                .bind(m.subject.clone())
                .bind(m.quoted_text.clone())
                .bind(m.automated.clone())
                .bind((!m.problems.is_empty()).then(|| serde_json::Value::from(m.problems.clone()).to_string()))
                .bind(micros(m.created_at))
                .bind(m.triage.as_ref().and_then(|t| t.language.clone()))
                .bind(m.triage.as_ref().map(|t| (t.sentiment * 100.0).round() as i64))
                .bind(m.triage.as_ref().and_then(|t| t.category.clone()))
                .bind(m.triage.as_ref().map(|t| serde_json::to_string(t).unwrap_or_default()))
                .bind((!m.choices.is_empty()).then(|| serde_json::to_string(&m.choices).unwrap_or_default()));
        }
        query.execute(tx.conn()).await?;
    }
    Ok(())
}

pub(crate) async fn load_message(conn: &mut sqlx::AnyConnection, account_id: AccountId, id: MessageId) -> Result<Message> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND account_id = $2");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .bind(account_id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let mut messages = [rows::message(&row)?];
    load_attachment_meta(conn, &mut messages).await?;
    let [message] = messages;
    Ok(message)
}

pub(crate) fn message_event(
    account_id: AccountId,
    message: &Message,
    conversation: &Conversation,
    at: time::OffsetDateTime,
) -> DomainEvent {
    DomainEvent::new(
        account_id,
        EventKind::MessageCreated,
        serde_json::json!({
            "message": message,
            "conversation": { "id": conversation.id, "status": conversation.status, "contact_id": conversation.contact_id },
        }),
        at,
    )
}

pub(crate) async fn insert_conversations(tx: &mut WriteTx, account_id: AccountId, conversations: &[&Conversation]) -> Result<()> {
    for chunk in rows::fixed_chunks(conversations) {
        let sql = format!(
            "INSERT INTO conversations (id, account_id, contact_id, status, priority, labels, category, team_id, channel, language, handler, \
             queued_at, awaiting_since, last_activity_at, created_at, updated_at) VALUES {}",
            rows::placeholders(tx.backend(), chunk.len(), 16)
        );
        let mut query = sqlx::query(&sql);
        for c in chunk {
            query = query
                .bind(c.id.to_string())
                .bind(account_id.to_string())
                .bind(c.contact_id.to_string())
                .bind(c.status.as_str())
                .bind(c.priority.as_str())
                .bind("[]")
                .bind(c.category.clone())
                .bind(c.team_id.map(|t| t.to_string()))
                .bind(c.channel.map(|ch| ch.as_str().to_owned()))
                .bind(c.language.clone())
                .bind(c.handler.as_str())
                .bind(c.queued_at.map(micros))
                .bind(c.awaiting_since.map(micros))
                .bind(micros(c.last_activity_at))
                .bind(micros(c.created_at))
                .bind(micros(c.updated_at));
        }
        query.execute(tx.conn()).await?;
    }
    Ok(())
}

/// Writes what an inbound message changed on a conversation it continues.
pub(crate) async fn update_continued(tx: &mut WriteTx, account_id: AccountId, c: &Conversation) -> Result<()> {
    sqlx::query(
        "UPDATE conversations SET status = $3, snoozed_until = $4, last_activity_at = $5, updated_at = $5, channel = $6, language = $7, \
         category = $8, priority = $9, team_id = $10, queued_at = $11, awaiting_since = $12, resolved_at = $13 WHERE id = $1 AND account_id = $2",
    )
    .bind(c.id.to_string())
    .bind(account_id.to_string())
    .bind(c.status.as_str())
    .bind(c.snoozed_until.map(micros))
    .bind(micros(c.last_activity_at))
    .bind(c.channel.map(|ch| ch.as_str().to_owned()))
    .bind(c.language.clone())
    .bind(c.category.clone())
    .bind(c.priority.as_str())
    .bind(c.team_id.map(|t| t.to_string()))
    .bind(c.queued_at.map(micros))
    .bind(c.awaiting_since.map(micros))
    .bind(c.resolved_at.map(micros))
    .execute(tx.conn())
    .await?;
    Ok(())
}
