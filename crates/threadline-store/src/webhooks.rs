//! Webhook subscriptions and their delivery queue.
//!
//! Deliveries are rows written with the event (see `events.rs`), each with
//! a job on the job table that schedules it: the job's lease is the claim
//! (a crashed node's deliveries are taken up again when it lapses, and on
//! PostgreSQL nodes claim disjoint jobs); these rows are the delivery log.

use serde::Serialize;
use sqlx::any::AnyRow;
use threadline_domain::event::{DomainEvent, EventKind};
use threadline_domain::ids::{AccountId, WebhookId};
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, found, micros, now, rows};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WebhookSubscription {
    pub id: WebhookId,
    pub url: String,
    pub description: Option<String>,
    /// `["*"]` or the event kinds delivered.
    pub events: Vec<String>,
    pub active: bool,
    /// The signing secret, sealed; never serialised.
    #[serde(skip)]
    pub sealed_secret: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// One attempt log line of the delivery log.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WebhookDelivery {
    pub id: String,
    pub subscription_id: WebhookId,
    pub event_id: String,
    pub event_kind: String,
    /// `pending`, `delivered` or `failed` (gave up after the last attempt).
    pub status: String,
    pub attempts: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
}

/// A delivery a worker has claimed: what to send, where, with which secret.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: String,
    pub url: String,
    pub sealed_secret: String,
    pub attempts: i64,
    pub event: DomainEvent,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone)]
pub enum DeliveryResult {
    Delivered {
        status_code: i64,
    },
    /// Try again at `retry_at`, or give up (`retry_at: None`).
    Failed {
        status_code: Option<i64>,
        error: String,
        retry_at: Option<OffsetDateTime>,
    },
}

fn filter_column(events: &[String]) -> String {
    if events.iter().any(|e| e == "*") { "*".into() } else { format!(",{},", events.join(",")) }
}

fn filter_list(column: &str) -> Vec<String> {
    if column == "*" { vec!["*".into()] } else { column.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect() }
}

fn subscription(row: &AnyRow) -> Result<WebhookSubscription> {
    Ok(WebhookSubscription {
        id: rows::parse(row, "id")?,
        url: rows::text(row, "url")?,
        description: rows::opt_text(row, "description")?,
        events: filter_list(&rows::text(row, "event_filter")?),
        active: rows::int(row, "active")? != 0,
        sealed_secret: rows::text(row, "secret")?,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
    })
}

const SUBSCRIPTION_COLUMNS: &str = "id, url, description, event_filter, secret, active, created_at, updated_at";

/// A URL's host, for the audit log: the rest of a webhook URL may carry a
/// secret (many receivers put their token in the path).
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.rsplit('@').next().unwrap_or_default().to_owned()
}

impl Store {
    pub async fn create_webhook(
        &self,
        account_id: AccountId,
        url: &str,
        description: Option<String>,
        events: &[String],
        sealed_secret: &str,
        actor: &str,
    ) -> Result<WebhookSubscription> {
        let at = now();
        let hook = WebhookSubscription {
            id: WebhookId::new(),
            url: url.to_owned(),
            description,
            events: filter_list(&filter_column(events)),
            active: true,
            sealed_secret: sealed_secret.to_owned(),
            created_at: at,
            updated_at: at,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO webhook_subscriptions (id, account_id, url, description, event_filter, secret, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)",
        )
        .bind(hook.id.to_string())
        .bind(account_id.to_string())
        .bind(url)
        .bind(hook.description.clone())
        .bind(filter_column(events))
        .bind(sealed_secret)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        crate::audit::audit(
            &mut tx,
            account_id,
            actor,
            "webhook.create",
            "webhook",
            &hook.id.to_string(),
            serde_json::json!({ "host": url_host(url), "events": hook.events }),
            now(),
        )
        .await?;
        tx.commit().await?;
        Ok(hook)
    }

    pub async fn webhook(&self, account_id: AccountId, id: WebhookId) -> Result<WebhookSubscription> {
        let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE id = $1 AND account_id = $2");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        subscription(&row)
    }

    pub async fn webhooks(&self, account_id: AccountId) -> Result<Vec<WebhookSubscription>> {
        let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE account_id = $1 ORDER BY created_at, id");
        let rows = sqlx::query(&sql).bind(account_id.to_string()).fetch_all(&self.pool).await?;
        rows.iter().map(subscription).collect()
    }

    pub async fn update_webhook(
        &self,
        account_id: AccountId,
        id: WebhookId,
        changes: WebhookChanges,
        actor: &str,
    ) -> Result<WebhookSubscription> {
        let changed = serde_json::json!({
            "host": changes.url.as_deref().map(url_host),
            "description": changes.description.is_some(),
            "events": changes.events.clone(),
            "active": changes.active,
        });
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE webhook_subscriptions SET url = COALESCE($3, url), description = COALESCE($4, description), \
             event_filter = COALESCE($5, event_filter), active = COALESCE($6, active), updated_at = $7 WHERE id = $1 AND account_id = $2",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .bind(changes.url)
        .bind(changes.description)
        .bind(changes.events.as_deref().map(filter_column))
        .bind(changes.active.map(i64::from))
        .bind(micros(now()))
        .execute(tx.conn())
        .await?;
        found(&done)?;
        crate::audit::audit(&mut tx, account_id, actor, "webhook.update", "webhook", &id.to_string(), changed, now()).await?;
        tx.commit().await?;
        self.webhook(account_id, id).await
    }

    pub async fn delete_webhook(&self, account_id: AccountId, id: WebhookId, actor: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE subscription_id = $1 AND account_id = $2")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        let done = sqlx::query("DELETE FROM webhook_subscriptions WHERE id = $1 AND account_id = $2")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        found(&done)?;
        crate::audit::audit(&mut tx, account_id, actor, "webhook.delete", "webhook", &id.to_string(), serde_json::json!({}), now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The delivery log of a subscription, newest first.
    pub async fn webhook_deliveries(&self, account_id: AccountId, id: WebhookId, limit: i64) -> Result<Vec<WebhookDelivery>> {
        self.webhook(account_id, id).await?;
        let rows = sqlx::query(
            "SELECT d.id, d.subscription_id, d.event_id, e.kind, d.status, d.attempts, d.next_attempt_at, d.last_status_code, \
             d.last_error, d.created_at, d.completed_at FROM webhook_deliveries d JOIN events e ON e.id = d.event_id \
             WHERE d.subscription_id = $1 AND d.account_id = $2 ORDER BY d.created_at DESC, d.id DESC LIMIT $3",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(WebhookDelivery {
                    id: rows::text(row, "id")?,
                    subscription_id: rows::parse(row, "subscription_id")?,
                    event_id: rows::text(row, "event_id")?,
                    event_kind: rows::text(row, "kind")?,
                    status: rows::text(row, "status")?,
                    attempts: rows::int(row, "attempts")?,
                    next_attempt_at: rows::time(row, "next_attempt_at")?,
                    last_status_code: rows::opt_int(row, "last_status_code")?,
                    last_error: rows::opt_text(row, "last_error")?,
                    created_at: rows::time(row, "created_at")?,
                    completed_at: rows::opt_time(row, "completed_at")?,
                })
            })
            .collect()
    }

    /// The delivery a [`crate::WEBHOOK_JOB`] job names, if it is still to
    /// be delivered (`None` once delivered, failed, or erased); the job is
    /// held for `lease` (a receiver may take the whole timeout to answer).
    pub async fn claim_webhook_delivery(&self, job: &crate::Job, lease: time::Duration) -> Result<Option<ClaimedDelivery>> {
        let at = now();
        let Some(id) = job.payload.get("delivery_id").and_then(|v| v.as_str()) else {
            return Err(StoreError::Corrupt(format!("a webhook job names no delivery: {}", job.payload)));
        };
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT d.id, d.attempts, s.url, s.secret, e.id AS event_id, e.account_id, e.kind, e.data, e.occurred_at \
             FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id JOIN events e ON e.id = d.event_id \
             WHERE d.id = $1 AND d.status = 'pending'",
        )
        .bind(id)
        .fetch_optional(tx.conn())
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        sqlx::query("UPDATE jobs SET lease_until = $2 WHERE id = $1").bind(&job.id).bind(micros(at + lease)).execute(tx.conn()).await?;
        let claimed = ClaimedDelivery {
            id: id.to_owned(),
            url: rows::text(&row, "url")?,
            sealed_secret: rows::text(&row, "secret")?,
            attempts: rows::int(&row, "attempts")?,
            event: DomainEvent {
                id: rows::parse(&row, "event_id")?,
                account_id: rows::parse(&row, "account_id")?,
                kind: rows::enum_of(&row, "kind", EventKind::parse)?,
                data: rows::json(&row, "data")?,
                occurred_at: rows::time(&row, "occurred_at")?,
            },
        };
        tx.commit().await?;
        Ok(Some(claimed))
    }

    /// Records the outcome of one attempt and releases the claim.
    pub async fn finish_webhook_delivery(&self, id: &str, result: DeliveryResult) -> Result<()> {
        let at = micros(now());
        let mut tx = self.begin_write().await?;
        match result {
            DeliveryResult::Delivered { status_code } => {
                sqlx::query(
                    "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, last_status_code = $2, \
                     last_error = NULL, completed_at = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(status_code)
                .bind(at)
                .execute(tx.conn())
                .await?;
            }
            DeliveryResult::Failed { status_code, error, retry_at } => {
                sqlx::query(
                    "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, last_status_code = $3, last_error = $4, \
                     next_attempt_at = COALESCE($5, next_attempt_at), completed_at = $6 WHERE id = $1",
                )
                .bind(id)
                .bind(if retry_at.is_some() { "pending" } else { "failed" })
                .bind(status_code)
                .bind(error)
                .bind(retry_at.map(micros))
                .bind(retry_at.is_none().then_some(at))
                .execute(tx.conn())
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
