//! Writing messages: an inbound message in its own transaction (its
//! idempotency key, then the one ingest path of crate::ingest as a batch
//! of one), and agents' outbound messages and notes.

use serde::{Deserialize, Serialize};
use threadline_domain::channel::Channel;
use threadline_domain::conversation::Conversation;
use threadline_domain::event::DomainEvent;
use threadline_domain::ids::{AccountId, ContactId, ConversationId, InboxId, MessageId, UserId};
use threadline_domain::message::{DeliveryStatus, Direction, Message, MessageKind, SenderKind};

use crate::attachments::{NewAttachment, insert_attachments, load_attachment_meta};
use crate::conversations::load_conversation;
use crate::rows::MESSAGE_COLUMNS;
use crate::{Account, Backend, Result, Store, StoreError, WriteTx, found, micros, now, rows};

pub use threadline_domain::ingest::InboundMessage;

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
            if let Some(key) = idempotency
                && !claim(&mut tx, key).await?
            {
                let outcome = replay(&mut tx, key).await;
                tx.rollback().await?;
                return Ok((outcome?, true));
            }
            let stored = match self.ingest_in_tx(&mut tx, account, &[inbound]).await {
                Ok(mut outcomes) => outcomes.pop().ok_or_else(|| StoreError::Corrupt("a message has no outcome".into())),
                Err(e) => Err(e),
            };
            match stored {
                Ok(outcome) => {
                    remember(&mut tx, idempotency, &outcome).await?;
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
        // Who a note mentions: their workspace tells them.
        let mentions = if note { outbound.mentions.as_slice() } else { &[] };
        tx.emit(DomainEvent::message_created(account_id, &message, &conversation, mentions, at));
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
        tx.emit(DomainEvent::message_updated(account_id, &message, at));
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

/// Claims an idempotency key for this request: false when it was seen before.
async fn claim(tx: &mut WriteTx, key: &IdempotencyKey) -> Result<bool> {
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (scope, idem_key, fingerprint, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (scope, idem_key) DO NOTHING",
    )
    .bind(&key.scope)
    .bind(&key.key)
    .bind(&key.fingerprint)
    .bind(micros(now()))
    .execute(tx.conn())
    .await?;
    Ok(claimed.rows_affected() > 0)
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

/// The columns a new message is inserted with.
const NEW_MESSAGE: &[&str] = &[
    "id",
    "account_id",
    "conversation_id",
    "contact_id",
    "kind",
    "direction",
    "channel",
    "inbox_id",
    "sender_kind",
    "sender_id",
    "body_text",
    "body_html",
    "provider_message_id",
    "delivery_status",
    "delivery_error",
    "subject",
    "quoted_text",
    "automated",
    "problems",
    "created_at",
    "language",
    "sentiment",
    "category",
    "triage",
    "choices",
];

/// Inserts messages in one statement (a batch shares one round trip).
pub(crate) async fn insert_messages(tx: &mut WriteTx, account_id: AccountId, messages: &[&Message]) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let account = account_id.to_string();
    let mut rows = rows::NewRows::new("messages", NEW_MESSAGE);
    for m in messages {
        rows.push([
            m.id.to_string().into(),
            account.as_str().into(),
            m.conversation_id.to_string().into(),
            m.contact_id.to_string().into(),
            m.kind.as_str().into(),
            m.direction.as_str().into(),
            m.channel.as_str().into(),
            m.inbox_id.map(|i| i.to_string()).into(),
            m.sender_kind.as_str().into(),
            m.sender_id.clone().into(),
            m.text.clone().into(),
            m.html.clone().into(),
            m.provider_message_id.clone().into(),
            m.delivery_status.as_str().into(),
            m.delivery_error.clone().into(),
            m.subject.clone().into(),
            m.quoted_text.clone().into(),
            m.automated.clone().into(),
            (!m.problems.is_empty()).then(|| serde_json::Value::from(m.problems.clone()).to_string()).into(),
            micros(m.created_at).into(),
            m.triage.as_ref().and_then(|t| t.language.clone()).into(),
            m.triage.as_ref().map(|t| (t.sentiment * 100.0).round() as i64).into(),
            m.triage.as_ref().and_then(|t| t.category.clone()).into(),
            m.triage.as_ref().map(|t| serde_json::to_string(t).unwrap_or_default()).into(),
            (!m.choices.is_empty()).then(|| serde_json::to_string(&m.choices).unwrap_or_default()).into(),
        ]);
    }
    let backend = tx.backend();
    rows.insert(tx.conn(), backend, "").await?;
    Ok(())
}

/// The messages of inbox `$1` (account `$2`) stored under any of `n`
/// provider ids (`$3`…), as `columns`.
///
/// The unique index on `(inbox_id, provider_message_id)` answers each id
/// with one descent; on PostgreSQL the ids are looked up one by one
/// ([`rows::each_key`]) so that it is not walked inbox-wide instead.
pub(crate) fn by_provider_ids(backend: Backend, columns: &str, n: usize) -> String {
    let select = format!("SELECT {columns} FROM messages WHERE inbox_id = $1 AND account_id = $2 AND {{key}}");
    rows::by_keys(backend, 3, n, "provider_message_id", &select)
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

/// The columns a new conversation is inserted with.
const NEW_CONVERSATION: &[&str] = &[
    "id",
    "account_id",
    "contact_id",
    "status",
    "priority",
    "labels",
    "category",
    "team_id",
    "channel",
    "language",
    "handler",
    "queued_at",
    "awaiting_since",
    "last_activity_at",
    "created_at",
    "updated_at",
];

pub(crate) async fn insert_conversations(tx: &mut WriteTx, account_id: AccountId, conversations: &[&Conversation]) -> Result<()> {
    if conversations.is_empty() {
        return Ok(());
    }
    let account = account_id.to_string();
    let mut rows = rows::NewRows::new("conversations", NEW_CONVERSATION);
    for c in conversations {
        rows.push([
            c.id.to_string().into(),
            account.as_str().into(),
            c.contact_id.to_string().into(),
            c.status.as_str().into(),
            c.priority.as_str().into(),
            "[]".into(),
            c.category.clone().into(),
            c.team_id.map(|t| t.to_string()).into(),
            c.channel.map(|ch| ch.as_str()).into(),
            c.language.clone().into(),
            c.handler.as_str().into(),
            c.queued_at.map(micros).into(),
            c.awaiting_since.map(micros).into(),
            micros(c.last_activity_at).into(),
            micros(c.created_at).into(),
            micros(c.updated_at).into(),
        ]);
    }
    let backend = tx.backend();
    rows.insert(tx.conn(), backend, "").await?;
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
