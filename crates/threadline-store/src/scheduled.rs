//! Messages scheduled by agents ("send tomorrow at 9:00 on WhatsApp"):
//! a row and a job due at `send_at`, written together. When the job runs
//! it claims the row (scheduled → sending) before sending, so a message
//! goes out at most once, under the channel's rules at that moment.

use serde::Serialize;
use threadline_domain::channel::Channel;
use threadline_domain::ids::{AccountId, ConversationId, InboxId, MessageId, ScheduledMessageId, UserId};
use time::OffsetDateTime;

use crate::audit::audit;
use crate::{Result, Store, StoreError, micros, now, rows};

/// The job kind that sends a scheduled message.
pub const SCHEDULED_JOB: &str = "message.scheduled";

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ScheduledMessage {
    pub id: ScheduledMessageId,
    pub conversation_id: ConversationId,
    pub author_id: UserId,
    /// None: the channel the customer last wrote on, when it is sent.
    pub channel: Option<Channel>,
    pub inbox_id: Option<InboxId>,
    pub text: String,
    #[serde(with = "time::serde::rfc3339")]
    pub send_at: OffsetDateTime,
    /// `scheduled`, `sending`, `sent`, `failed` (see `failure`) or `cancelled`.
    pub status: String,
    pub message_id: Option<MessageId>,
    pub failure: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

const COLUMNS: &str = "id, conversation_id, author_id, channel, inbox_id, text, send_at, status, message_id, failure, created_at";

fn scheduled(row: &sqlx::any::AnyRow) -> Result<ScheduledMessage> {
    Ok(ScheduledMessage {
        id: rows::parse(row, "id")?,
        conversation_id: rows::parse(row, "conversation_id")?,
        author_id: rows::parse(row, "author_id")?,
        channel: rows::opt_parse(row, "channel")?,
        inbox_id: rows::opt_parse(row, "inbox_id")?,
        text: rows::text(row, "text")?,
        send_at: rows::time(row, "send_at")?,
        status: rows::text(row, "status")?,
        message_id: rows::opt_parse(row, "message_id")?,
        failure: rows::opt_text(row, "failure")?,
        created_at: rows::time(row, "created_at")?,
    })
}

/// What an agent asks to send later.
#[derive(Debug, Clone)]
pub struct NewScheduledMessage {
    pub conversation_id: ConversationId,
    pub author_id: UserId,
    pub channel: Option<Channel>,
    pub inbox_id: Option<InboxId>,
    pub text: String,
    pub send_at: OffsetDateTime,
}

impl Store {
    /// Schedules a message on one of the account's conversations.
    pub async fn schedule_message(&self, account_id: AccountId, new: &NewScheduledMessage, actor: &str) -> Result<ScheduledMessage> {
        let at = now();
        let id = ScheduledMessageId::new();
        let mut tx = self.begin_write().await?;
        crate::conversations::load_conversation(tx.conn(), account_id, new.conversation_id).await?;
        sqlx::query(
            "INSERT INTO scheduled_messages (id, account_id, conversation_id, author_id, channel, inbox_id, text, send_at, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'scheduled', $9, $9)",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .bind(new.conversation_id.to_string())
        .bind(new.author_id.to_string())
        .bind(new.channel.map(|c| c.as_str().to_owned()))
        .bind(new.inbox_id.map(|i| i.to_string()))
        .bind(&new.text)
        .bind(micros(new.send_at))
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        let job = crate::NewJob {
            lane: None,
            kind: SCHEDULED_JOB,
            account_id: Some(account_id),
            dedup_key: Some(format!("scheduled:{id}")),
            payload: serde_json::json!({ "id": id }),
            run_at: new.send_at,
        };
        crate::jobs::enqueue(&mut tx, &job, at).await?;
        let data = serde_json::json!({ "conversation_id": new.conversation_id, "send_at": micros(new.send_at) });
        audit(&mut tx, account_id, actor, "message.schedule", "scheduled_message", &id.to_string(), data, at).await?;
        tx.commit().await?;
        self.scheduled_message(account_id, id).await
    }

    pub async fn scheduled_message(&self, account_id: AccountId, id: ScheduledMessageId) -> Result<ScheduledMessage> {
        let sql = format!("SELECT {COLUMNS} FROM scheduled_messages WHERE id = $1 AND account_id = $2");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        scheduled(&row)
    }

    /// A conversation's scheduled messages, soonest first.
    pub async fn scheduled_messages(&self, account_id: AccountId, conversation_id: ConversationId) -> Result<Vec<ScheduledMessage>> {
        let sql = format!("SELECT {COLUMNS} FROM scheduled_messages WHERE conversation_id = $1 AND account_id = $2 ORDER BY send_at, id");
        let rows = sqlx::query(&sql).bind(conversation_id.to_string()).bind(account_id.to_string()).fetch_all(&self.pool).await?;
        rows.iter().map(scheduled).collect()
    }

    /// Cancels a message not sent yet (409 once it is on its way or sent).
    pub async fn cancel_scheduled_message(&self, account_id: AccountId, id: ScheduledMessageId, actor: &str) -> Result<ScheduledMessage> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE scheduled_messages SET status = 'cancelled', updated_at = $3 WHERE id = $1 AND account_id = $2 AND status = 'scheduled'")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .bind(micros(at))
            .execute(tx.conn())
            .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            let current = self.scheduled_message(account_id, id).await?;
            return Err(StoreError::Conflict(format!("this message is {} and can no longer be cancelled", current.status)));
        }
        audit(&mut tx, account_id, actor, "message.unschedule", "scheduled_message", &id.to_string(), serde_json::json!({}), at).await?;
        tx.commit().await?;
        self.scheduled_message(account_id, id).await
    }

    /// Takes a due message for sending (scheduled → sending); none when it
    /// was cancelled or taken before.
    pub async fn claim_scheduled_message(&self, account_id: AccountId, id: ScheduledMessageId) -> Result<Option<ScheduledMessage>> {
        let done = sqlx::query(
            "UPDATE scheduled_messages SET status = 'sending', updated_at = $3 WHERE id = $1 AND account_id = $2 AND status = 'scheduled'",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .bind(micros(now()))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        Ok(Some(self.scheduled_message(account_id, id).await?))
    }

    /// Records how the send went.
    /// Records how the send went. A failure also leaves its author a task
    /// on the customer, due now, saying why (in their language), so the
    /// message is not silently lost: it tops their inbox.
    pub async fn finish_scheduled_message(
        &self,
        account_id: AccountId,
        id: ScheduledMessageId,
        outcome: std::result::Result<MessageId, String>,
    ) -> Result<()> {
        let at = now();
        let (status, message, failure) = match outcome {
            Ok(message) => ("sent", Some(message.to_string()), None),
            Err(reason) => ("failed", None, Some(reason)),
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE scheduled_messages SET status = $3, message_id = $4, failure = $5, updated_at = $6 WHERE id = $1 AND account_id = $2",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .bind(status)
        .bind(message)
        .bind(failure.clone())
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        if let Some(reason) = failure {
            let row = sqlx::query(
                "SELECT s.author_id, c.id AS conversation_id, c.contact_id, u.language FROM scheduled_messages s \
                 JOIN conversations c ON c.id = s.conversation_id JOIN users u ON u.id = s.author_id \
                 WHERE s.id = $1 AND s.account_id = $2",
            )
            .bind(id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(tx.conn())
            .await?;
            if let Some(row) = row {
                let italian = rows::opt_text(&row, "language")?.as_deref() == Some("it");
                let lead = if italian { "Messaggio programmato non inviato" } else { "Scheduled message not sent" };
                let title: String = format!("{lead}: {reason}").chars().take(500).collect();
                let target = crate::actions::Target {
                    contact_id: rows::parse(&row, "contact_id")?,
                    conversation_id: Some(rows::parse(&row, "conversation_id")?),
                    journey: None,
                };
                let effect = crate::actions::Effect::Task {
                    kind: threadline_domain::journey::TaskKind::Reply,
                    title,
                    team_id: None,
                    assignee_id: Some(rows::parse(&row, "author_id")?),
                    due_at: at,
                };
                self.apply_effect(&mut tx, account_id, target, effect, "system", at).await?;
            }
        }
        tx.commit().await
    }
}
