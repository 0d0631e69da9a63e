//! Accounts: the tenants. Each business is one account; every other row
//! belongs to exactly one.

use serde::Serialize;
use threadline_domain::conversation::ContinuityWindow;
use threadline_domain::ids::AccountId;
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, found, micros, now, rows};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    /// ISO 3166 region used to read phone numbers written without a country code.
    pub default_region: String,
    /// How long a customer's silence may last before their next message, on
    /// any channel, opens a new conversation instead of continuing the last.
    pub continuity_window_secs: i64,
    /// Pending conversations (waiting on the customer) with no message for
    /// this many days are resolved by Threadline; none: never.
    pub auto_resolve_pending_days: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Account {
    pub fn continuity_window(&self) -> ContinuityWindow {
        ContinuityWindow::from_secs(self.continuity_window_secs).unwrap_or_default()
    }
}

/// Changes to an account's settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountChanges {
    pub name: Option<String>,
    pub default_region: Option<String>,
    pub continuity_window_secs: Option<i64>,
    /// `Some(0)` turns auto-resolving off.
    pub auto_resolve_pending_days: Option<i64>,
}

impl Store {
    #[tracing::instrument(skip_all)]
    pub async fn create_account(&self, name: &str, default_region: &str) -> Result<Account> {
        let account = Account {
            id: AccountId::new(),
            name: name.to_owned(),
            default_region: default_region.to_owned(),
            continuity_window_secs: ContinuityWindow::DEFAULT_SECS,
            auto_resolve_pending_days: None,
            created_at: now(),
        };
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO accounts (id, name, default_region, continuity_window_secs, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(account.id.to_string())
            .bind(&account.name)
            .bind(&account.default_region)
            .bind(account.continuity_window_secs)
            .bind(micros(account.created_at))
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(account)
    }

    #[tracing::instrument(skip_all, fields(account = %id))]
    pub async fn account(&self, id: AccountId) -> Result<Account> {
        let row = sqlx::query(
            "SELECT id, name, default_region, continuity_window_secs, auto_resolve_pending_days, created_at FROM accounts WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(Account {
            id: rows::parse(&row, "id")?,
            name: rows::text(&row, "name")?,
            default_region: rows::text(&row, "default_region")?,
            continuity_window_secs: rows::int(&row, "continuity_window_secs")?,
            auto_resolve_pending_days: rows::opt_int(&row, "auto_resolve_pending_days")?,
            created_at: rows::time(&row, "created_at")?,
        })
    }

    /// Pending conversations whose account resolves them after its
    /// `auto_resolve_pending_days` without a message, as of `now` (at most `limit`).
    pub async fn pending_to_resolve(
        &self,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<(AccountId, threadline_domain::ids::ConversationId)>> {
        let rows = sqlx::query(
            "SELECT c.account_id, c.id FROM conversations c JOIN accounts a ON a.id = c.account_id \
             WHERE a.auto_resolve_pending_days IS NOT NULL AND c.status = 'pending' \
             AND c.last_activity_at < $1 - a.auto_resolve_pending_days * 86400000000 LIMIT $2",
        )
        .bind(micros(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok((rows::parse(row, "account_id")?, rows::parse(row, "id")?))).collect()
    }

    /// The first account by creation, if any (the CLI's default tenant).
    pub async fn first_account(&self) -> Result<Option<Account>> {
        let id: Option<String> =
            sqlx::query_scalar("SELECT id FROM accounts ORDER BY created_at, id LIMIT 1").fetch_optional(&self.pool).await?;
        match id {
            Some(id) => Ok(Some(self.account(id.parse().map_err(|_| StoreError::Corrupt(id))?).await?)),
            None => Ok(None),
        }
    }

    #[tracing::instrument(skip_all, fields(account = %id))]
    pub async fn update_account(&self, id: AccountId, changes: AccountChanges, actor: &str) -> Result<Account> {
        let mut tx = self.begin_write().await?;
        let changed = serde_json::json!({
            "name": changes.name.is_some(),
            "default_region": changes.default_region.clone(),
            "continuity_window_secs": changes.continuity_window_secs,
            "auto_resolve_pending_days": changes.auto_resolve_pending_days,
        });
        let done = sqlx::query(
            "UPDATE accounts SET name = COALESCE($2, name), default_region = COALESCE($3, default_region), \
             continuity_window_secs = COALESCE($4, continuity_window_secs), \
             auto_resolve_pending_days = CASE WHEN $5 IS NULL THEN auto_resolve_pending_days WHEN $5 = 0 THEN NULL ELSE $5 END WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(changes.name)
        .bind(changes.default_region)
        .bind(changes.continuity_window_secs)
        .bind(changes.auto_resolve_pending_days)
        .execute(tx.conn())
        .await?;
        found(&done)?;
        crate::audit::audit(&mut tx, id, actor, "account.update", "account", &id.to_string(), changed, now()).await?;
        tx.commit().await?;
        self.account(id).await
    }
}
