//! The outbound outbox: replies Threadline sends through a provider.
//!
//! A reply, its send's record (`outbound_jobs`: status, attempts, the last
//! error — what the API shows) and a [`SEND_JOB`] job of the job table are
//! written in one transaction ([`crate::Store::create_outbound_message`]),
//! so a reply is never stored without being sent nor sent without being
//! stored. The job runner gives the job to the server's sender, which
//! begins the send here ([`Store::begin_send`]), calls the provider, and
//! records the outcome ([`Store::finish_send`]). A send is attempted at
//! most once per job run: a job run again after its runner died finds its
//! send still `sending` and fails it with that reason instead of sending
//! again, because the provider may already have it.

use serde::{Deserialize, Serialize};
use threadline_domain::event::DomainEvent;
use threadline_domain::ids::{AccountId, InboxId, MessageId};
use threadline_domain::message::{DeliveryStatus, Message};
use threadline_domain::reply::status_advances;

use crate::messages::{load_message, write_delivery_status};
use crate::{Backend, Result, Store, StoreError, WriteTx, micros, now, rows};

/// How a reply is to be sent, decided when it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundDelivery {
    /// The customer's address on the channel.
    pub recipient: String,
    #[serde(default)]
    pub template: Option<TemplateUse>,
    /// Sent past the standard window with Meta's human-agent tag.
    #[serde(default)]
    pub human_agent_tag: bool,
    /// Answers to tap (a survey's scores), on channels with buttons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<threadline_domain::message::Choice>,
    /// The label of the button opening a list of choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices_button: Option<String>,
}

/// An approved template and its variables' values, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateUse {
    pub name: String,
    pub language: String,
    pub parameters: Vec<String>,
}

/// A job the dispatcher holds.
#[derive(Debug, Clone)]
pub struct ClaimedSend {
    pub account_id: AccountId,
    pub message_id: MessageId,
    pub inbox_id: InboxId,
    pub delivery: OutboundDelivery,
    /// Attempts before this one.
    pub attempts: i64,
}

/// The outcome of one attempt.
#[derive(Debug, Clone)]
pub enum SendOutcome {
    Sent {
        provider_message_id: String,
        status: DeliveryStatus,
    },
    /// Try again at `retry_at`; the message stays pending and shows why.
    Retry {
        error: String,
        retry_at: time::OffsetDateTime,
    },
    /// Give up: the message becomes failed with `error`.
    Dead {
        error: String,
    },
}

/// What the API shows of a message's job.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OutboundJob {
    pub message_id: MessageId,
    pub inbox_id: InboxId,
    /// `queued`, `sending`, `sent` or `dead`.
    pub status: String,
    pub attempts: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: time::OffsetDateTime,
    pub last_error: Option<String>,
}

/// The job kind of a send (payload: `message_id`).
pub const SEND_JOB: &str = "message.send";

fn send_key(message_id: MessageId) -> String {
    format!("send:{message_id}")
}

fn send_job(account_id: AccountId, message_id: MessageId, at: time::OffsetDateTime) -> crate::NewJob {
    crate::NewJob {
        kind: SEND_JOB,
        account_id: Some(account_id),
        dedup_key: Some(send_key(message_id)),
        payload: serde_json::json!({ "message_id": message_id }),
        run_at: at,
        lane: None,
    }
}

pub(crate) async fn enqueue(
    tx: &mut WriteTx,
    account_id: AccountId,
    message_id: MessageId,
    inbox_id: InboxId,
    delivery: &OutboundDelivery,
    at: time::OffsetDateTime,
) -> Result<()> {
    let options = serde_json::to_string(delivery).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO outbound_jobs (message_id, account_id, inbox_id, recipient, options, status, attempts, next_attempt_at, \
         last_error, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, NULL, $6, $6)",
    )
    .bind(message_id.to_string())
    .bind(account_id.to_string())
    .bind(inbox_id.to_string())
    .bind(&delivery.recipient)
    .bind(options)
    .bind(micros(at))
    .execute(tx.conn())
    .await?;
    crate::jobs::enqueue(tx, &send_job(account_id, message_id, at), at).await
}

impl Store {
    /// Begins the send a [`SEND_JOB`] job names: `None` if there is
    /// nothing to send (sent, failed or withdrawn meanwhile — or found
    /// still `sending`, which means an earlier run died mid-request: that
    /// send is failed, saying so, rather than risk a double). Otherwise the
    /// send is `sending` and the job's lease covers `lease`.
    pub async fn begin_send(&self, job: &crate::Job, lease: time::Duration) -> Result<Option<ClaimedSend>> {
        let at = now();
        let message_id: MessageId = job
            .payload
            .get("message_id")
            .and_then(|v| v.as_str())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("a send job names no message: {}", job.payload)))?;
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE",
            Backend::Sqlite => "",
        };
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT account_id, inbox_id, options, attempts, status FROM outbound_jobs WHERE message_id = $1 {lock}");
        let Some(row) = sqlx::query(&sql).bind(message_id.to_string()).fetch_optional(tx.conn()).await? else {
            // Erased meanwhile.
            tx.rollback().await?;
            return Ok(None);
        };
        let account_id: AccountId = rows::parse(&row, "account_id")?;
        match rows::text(&row, "status")?.as_str() {
            "queued" => {}
            "sending" => {
                let reason = "sending was interrupted (the server stopped mid-request); it may or may not have reached the customer, \
                              so it is not sent again automatically — retry it to send it again";
                let message = mark_dead(&mut tx, account_id, message_id, reason, at).await?;
                tx.emit(DomainEvent::message_updated(account_id, &message, at));
                tx.commit().await?;
                return Ok(None);
            }
            _ => {
                tx.rollback().await?;
                return Ok(None);
            }
        }
        sqlx::query("UPDATE outbound_jobs SET status = 'sending', updated_at = $2 WHERE message_id = $1")
            .bind(message_id.to_string())
            .bind(micros(at))
            .execute(tx.conn())
            .await?;
        sqlx::query("UPDATE jobs SET lease_until = $2 WHERE id = $1").bind(&job.id).bind(micros(at + lease)).execute(tx.conn()).await?;
        let claimed = ClaimedSend {
            account_id,
            message_id,
            inbox_id: rows::parse(&row, "inbox_id")?,
            delivery: rows::json(&row, "options")?,
            attempts: rows::int(&row, "attempts")?,
        };
        tx.commit().await?;
        Ok(Some(claimed))
    }

    /// Records the outcome of one attempt and updates the message.
    pub async fn finish_send(&self, job: &ClaimedSend, outcome: SendOutcome) -> Result<Message> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let id = job.message_id.to_string();
        // The claim may have been taken away meanwhile (its lease expired
        // and the job was failed as interrupted): then this late outcome
        // changes nothing, so the job and its message never disagree.
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE",
            Backend::Sqlite => "",
        };
        let current: Option<String> = sqlx::query_scalar(&format!("SELECT status FROM outbound_jobs WHERE message_id = $1 {lock}"))
            .bind(&id)
            .fetch_optional(tx.conn())
            .await?;
        if current.as_deref() != Some("sending") {
            let message = load_message(tx.conn(), job.account_id, job.message_id).await?;
            tx.rollback().await?;
            return Ok(message);
        }
        let message = match outcome {
            SendOutcome::Sent { provider_message_id, status } => {
                sqlx::query(
                    "UPDATE outbound_jobs SET status = 'sent', attempts = attempts + 1, last_error = NULL, \
                     updated_at = $2 WHERE message_id = $1",
                )
                .bind(&id)
                .bind(micros(at))
                .execute(tx.conn())
                .await?;
                let current = load_message(tx.conn(), job.account_id, job.message_id).await?;
                let mut status = if status_advances(current.delivery_status, status) { status } else { current.delivery_status };
                // Delivery reports may have overtaken the send's answer.
                let early =
                    sqlx::query("SELECT status, error FROM early_delivery_reports WHERE inbox_id = $1 AND provider_message_id = $2")
                        .bind(job.inbox_id.to_string())
                        .bind(&provider_message_id)
                        .fetch_all(tx.conn())
                        .await?;
                let mut error = None;
                for row in &early {
                    let reported = rows::enum_of(row, "status", DeliveryStatus::parse)?;
                    if status_advances(status, reported) {
                        status = reported;
                        error = rows::opt_text(row, "error")?;
                    }
                }
                if !early.is_empty() {
                    sqlx::query("DELETE FROM early_delivery_reports WHERE inbox_id = $1 AND provider_message_id = $2")
                        .bind(job.inbox_id.to_string())
                        .bind(&provider_message_id)
                        .execute(tx.conn())
                        .await?;
                }
                sqlx::query(
                    "UPDATE messages SET provider_message_id = $3, delivery_status = $4, delivery_error = $5 \
                     WHERE id = $1 AND account_id = $2",
                )
                .bind(&id)
                .bind(job.account_id.to_string())
                .bind(provider_message_id)
                .bind(status.as_str())
                .bind(error)
                .execute(tx.conn())
                .await?;
                load_message(tx.conn(), job.account_id, job.message_id).await?
            }
            SendOutcome::Retry { error, retry_at } => {
                sqlx::query(
                    "UPDATE outbound_jobs SET status = 'queued', attempts = attempts + 1, last_error = $2, \
                     next_attempt_at = $3, updated_at = $4 WHERE message_id = $1",
                )
                .bind(&id)
                .bind(&error)
                .bind(micros(retry_at))
                .bind(micros(at))
                .execute(tx.conn())
                .await?;
                let attempt = job.attempts + 1;
                let shown = format!("attempt {attempt} failed: {error}; trying again");
                sqlx::query("UPDATE messages SET delivery_error = $3 WHERE id = $1 AND account_id = $2")
                    .bind(&id)
                    .bind(job.account_id.to_string())
                    .bind(shown)
                    .execute(tx.conn())
                    .await?;
                load_message(tx.conn(), job.account_id, job.message_id).await?
            }
            SendOutcome::Dead { error } => {
                sqlx::query("UPDATE outbound_jobs SET attempts = attempts + 1 WHERE message_id = $1").bind(&id).execute(tx.conn()).await?;
                mark_dead(&mut tx, job.account_id, job.message_id, &error, at).await?
            }
        };
        tx.emit(DomainEvent::message_updated(job.account_id, &message, at));
        tx.commit().await?;
        Ok(message)
    }

    /// Queues a failed outbound message again (the agent's "retry").
    pub async fn retry_send(&self, account_id: AccountId, message_id: MessageId) -> Result<Message> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE outbound_jobs SET status = 'queued', attempts = 0, next_attempt_at = $3, last_error = NULL, \
             updated_at = $3 WHERE message_id = $1 AND account_id = $2 AND status = 'dead'",
        )
        .bind(message_id.to_string())
        .bind(account_id.to_string())
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        if done.rows_affected() == 0 {
            load_message(tx.conn(), account_id, message_id).await?;
            return Err(StoreError::Conflict("only a message that failed to send can be retried".into()));
        }
        sqlx::query("UPDATE messages SET delivery_status = 'pending', delivery_error = NULL WHERE id = $1 AND account_id = $2")
            .bind(message_id.to_string())
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        crate::jobs::enqueue(&mut tx, &send_job(account_id, message_id, at), at).await?;
        let message = load_message(tx.conn(), account_id, message_id).await?;
        tx.emit(DomainEvent::message_updated(account_id, &message, at));
        tx.commit().await?;
        Ok(message)
    }

    /// Whether this inbox already stored a message with this provider id.
    pub async fn provider_message_known(&self, inbox_id: InboxId, provider_message_id: &str) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar("SELECT id FROM messages WHERE inbox_id = $1 AND provider_message_id = $2")
            .bind(inbox_id.to_string())
            .bind(provider_message_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// The outbox job of a message, if Threadline sends it.
    pub async fn outbound_job(&self, account_id: AccountId, message_id: MessageId) -> Result<Option<OutboundJob>> {
        let row = sqlx::query(
            "SELECT message_id, inbox_id, status, attempts, next_attempt_at, last_error FROM outbound_jobs \
             WHERE message_id = $1 AND account_id = $2",
        )
        .bind(message_id.to_string())
        .bind(account_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(OutboundJob {
                message_id: rows::parse(&row, "message_id")?,
                inbox_id: rows::parse(&row, "inbox_id")?,
                status: rows::text(&row, "status")?,
                attempts: rows::int(&row, "attempts")?,
                next_attempt_at: rows::time(&row, "next_attempt_at")?,
                last_error: rows::opt_text(&row, "last_error")?,
            })
        })
        .transpose()
    }

    /// Applies a provider's delivery report to the message it sent through
    /// `inbox_id`. Reports only move a message forward (a late `sent` does
    /// not undo `delivered`). `None` when no message has that provider id
    /// yet: the report is kept and applied when the send is recorded.
    pub async fn apply_delivery_report(
        &self,
        inbox_id: InboxId,
        provider_message_id: &str,
        status: DeliveryStatus,
        error: Option<String>,
    ) -> Result<Option<Message>> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT id, account_id, delivery_status FROM messages WHERE inbox_id = $1 AND provider_message_id = $2 \
             AND direction = 'outbound'",
        )
        .bind(inbox_id.to_string())
        .bind(provider_message_id)
        .fetch_optional(tx.conn())
        .await?;
        let Some(row) = row else {
            // Perhaps the send's answer has not been recorded yet: keep the
            // report for it (see `finish_send`), and forget stale ones.
            sqlx::query("DELETE FROM early_delivery_reports WHERE received_at < $1")
                .bind(micros(at - time::Duration::days(1)))
                .execute(tx.conn())
                .await?;
            sqlx::query(
                "INSERT INTO early_delivery_reports (inbox_id, provider_message_id, status, error, received_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(inbox_id.to_string())
            .bind(provider_message_id)
            .bind(status.as_str())
            .bind(error)
            .bind(micros(at))
            .execute(tx.conn())
            .await?;
            tx.commit().await?;
            return Ok(None);
        };
        let id: MessageId = rows::parse(&row, "id")?;
        let account_id: AccountId = rows::parse(&row, "account_id")?;
        let current = rows::enum_of(&row, "delivery_status", DeliveryStatus::parse)?;
        if !status_advances(current, status) {
            let message = load_message(tx.conn(), account_id, id).await?;
            tx.rollback().await?;
            return Ok(Some(message));
        }
        let message = write_delivery_status(&mut tx, account_id, id, status, error.as_deref()).await?;
        tx.emit(DomainEvent::message_updated(account_id, &message, at));
        tx.commit().await?;
        Ok(Some(message))
    }
}

async fn mark_dead(
    tx: &mut WriteTx,
    account_id: AccountId,
    message_id: MessageId,
    error: &str,
    at: time::OffsetDateTime,
) -> Result<Message> {
    sqlx::query("UPDATE outbound_jobs SET status = 'dead', last_error = $2, updated_at = $3 WHERE message_id = $1")
        .bind(message_id.to_string())
        .bind(error)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
    write_delivery_status(tx, account_id, message_id, DeliveryStatus::Failed, Some(error)).await
}

/// Withdraws a message whose send has not begun (a journey that
/// ended before its send went out): it fails with `reason` and is never sent.
pub(crate) async fn cancel_queued(
    tx: &mut WriteTx,
    account_id: AccountId,
    message_id: MessageId,
    reason: &str,
    at: time::OffsetDateTime,
) -> Result<Message> {
    sqlx::query(
        "UPDATE outbound_jobs SET status = 'cancelled', last_error = $2, updated_at = $3 \
         WHERE message_id = $1 AND status = 'queued'",
    )
    .bind(message_id.to_string())
    .bind(reason)
    .bind(micros(at))
    .execute(tx.conn())
    .await?;
    sqlx::query("DELETE FROM jobs WHERE dedup_key = $1 AND lease_until IS NULL").bind(send_key(message_id)).execute(tx.conn()).await?;
    write_delivery_status(tx, account_id, message_id, DeliveryStatus::Failed, Some(reason)).await
}
