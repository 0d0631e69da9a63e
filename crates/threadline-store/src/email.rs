//! What the email channel needs beyond messages: finding the inbox a
//! recipient address belongs to, finding the conversation an email answers
//! by its Message-IDs, and remembering how far an IMAP mailbox was read.

use threadline_domain::channel::Channel;
use threadline_domain::ids::{AccountId, ContactId, ConversationId, InboxId, MessageId};
use threadline_domain::message::{Direction, Message};

use crate::inboxes::{INBOX_COLUMNS, inbox};
use crate::rows::MESSAGE_COLUMNS;
use crate::{Inbox, Result, Store, micros, now, rows};

/// A stored message found by its `Message-ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailHit {
    /// As stored: with angle brackets.
    pub provider_message_id: String,
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    pub contact_id: ContactId,
    pub direction: Direction,
}

/// How far an IMAP mailbox was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImapCursor {
    pub uid_validity: u32,
    pub last_uid: u32,
}

impl Store {
    /// Every email inbox of every account: the listener maps recipient
    /// addresses to them. Like a provider's webhook, mail names no account;
    /// the recipient address decides it.
    pub async fn email_inboxes(&self) -> Result<Vec<(AccountId, Inbox)>> {
        let sql =
            format!("SELECT account_id, {INBOX_COLUMNS} FROM inboxes WHERE channel = $1 AND deleted_at IS NULL ORDER BY created_at, id");
        let found = sqlx::query(&sql).bind(Channel::Email.as_str()).fetch_all(&self.pool).await?;
        found.iter().map(|row| Ok((rows::parse(row, "account_id")?, inbox(row)?))).collect()
    }

    /// The messages of `inbox` whose Message-ID is one of `ids` (as stored,
    /// with angle brackets), in no particular order.
    pub async fn email_messages_by_id(&self, account_id: AccountId, inbox_id: InboxId, ids: &[String]) -> Result<Vec<EmailHit>> {
        let mut hits = Vec::new();
        for chunk in ids.chunks(64) {
            let chunk = rows::padded(chunk);
            let sql = crate::messages::by_provider_ids(
                self.backend,
                "id, conversation_id, contact_id, direction, provider_message_id",
                chunk.len(),
            );
            let mut query = sqlx::query(&sql).bind(inbox_id.to_string()).bind(account_id.to_string());
            for id in &chunk {
                query = query.bind(id.clone());
            }
            for row in query.fetch_all(&self.pool).await? {
                hits.push(EmailHit {
                    provider_message_id: rows::text(&row, "provider_message_id")?,
                    message_id: rows::parse(&row, "id")?,
                    conversation_id: rows::parse(&row, "conversation_id")?,
                    contact_id: rows::parse(&row, "contact_id")?,
                    direction: rows::enum_of(&row, "direction", Direction::parse)?,
                });
            }
        }
        hits.sort_by(|a, b| a.provider_message_id.cmp(&b.provider_message_id));
        hits.dedup_by(|a, b| a.message_id == b.message_id);
        Ok(hits)
    }

    /// The customers' mails in `inbox` stored under any of `ids` (a
    /// Message-ID with angle brackets, and the same id with a content
    /// suffix, `<id>#…`, that a different mail reusing it is stored under),
    /// oldest first, with their text and attachments: to tell a redelivery
    /// from a reuse. Each id is one descent of the unique index on the
    /// inbox's provider ids, however many mails the inbox holds.
    pub async fn inbound_emails_with_ids(&self, account_id: AccountId, inbox_id: InboxId, ids: &[String]) -> Result<Vec<Message>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = rows::padded(ids);
        let sql = crate::messages::by_provider_ids(self.backend, MESSAGE_COLUMNS, ids.len());
        let mut query = sqlx::query(&sql).bind(inbox_id.to_string()).bind(account_id.to_string());
        for id in &ids {
            query = query.bind(id.clone());
        }
        let found = query.fetch_all(&self.pool).await?;
        let mut messages = found.iter().map(rows::message).collect::<Result<Vec<_>>>()?;
        messages.retain(|m| m.direction == Direction::Inbound);
        // Oldest first, each once (a padded id is looked up again).
        messages.sort_by_key(|m| (m.created_at, m.id));
        messages.dedup_by_key(|m| m.id);
        let mut conn = self.pool.acquire().await?;
        crate::attachments::load_attachment_meta(&mut conn, &mut messages).await?;
        Ok(messages)
    }

    /// The Message-IDs of a conversation's emails, both ways, oldest first:
    /// a reply's `References`.
    pub async fn email_thread_ids(&self, account_id: AccountId, conversation: ConversationId) -> Result<Vec<String>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT provider_message_id FROM messages WHERE conversation_id = $1 AND account_id = $2 AND channel = $3 \
             AND provider_message_id IS NOT NULL ORDER BY created_at, id",
        )
        .bind(conversation.to_string())
        .bind(account_id.to_string())
        .bind(Channel::Email.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(ids)
    }

    /// Whether `conversation` belongs to `account` (a reply address names it).
    pub async fn conversation_exists(&self, account_id: AccountId, conversation: ConversationId) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar("SELECT id FROM conversations WHERE id = $1 AND account_id = $2")
            .bind(conversation.to_string())
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    pub async fn imap_cursor(&self, account_id: AccountId, inbox_id: InboxId, mailbox: &str) -> Result<Option<ImapCursor>> {
        let row = sqlx::query("SELECT uid_validity, last_uid FROM imap_cursors WHERE inbox_id = $1 AND account_id = $2 AND mailbox = $3")
            .bind(inbox_id.to_string())
            .bind(account_id.to_string())
            .bind(mailbox)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(ImapCursor {
                uid_validity: u32::try_from(rows::int(&row, "uid_validity")?).unwrap_or(0),
                last_uid: u32::try_from(rows::int(&row, "last_uid")?).unwrap_or(0),
            })
        })
        .transpose()
    }

    /// Records that every message up to `cursor.last_uid` is stored.
    pub async fn set_imap_cursor(&self, account_id: AccountId, inbox_id: InboxId, mailbox: &str, cursor: ImapCursor) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO imap_cursors (inbox_id, account_id, mailbox, uid_validity, last_uid, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (inbox_id) DO UPDATE SET mailbox = $3, uid_validity = $4, last_uid = $5, updated_at = $6",
        )
        .bind(inbox_id.to_string())
        .bind(account_id.to_string())
        .bind(mailbox)
        .bind(i64::from(cursor.uid_validity))
        .bind(i64::from(cursor.last_uid))
        .bind(micros(now()))
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
