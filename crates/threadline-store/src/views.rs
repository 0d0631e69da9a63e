//! Inbox views each agent saves for themselves: a name and a filter query.

use serde::Serialize;
use threadline_domain::ids::{AccountId, SavedViewId, UserId};
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, found, micros, now, rows};

/// How many views one agent may keep.
pub const MAX_SAVED_VIEWS: i64 = 50;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SavedView {
    pub id: SavedViewId,
    pub name: String,
    /// The inbox filters as a URL query, e.g. `status=open&assignee=mine`.
    pub query: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

fn view(row: &sqlx::any::AnyRow) -> Result<SavedView> {
    Ok(SavedView {
        id: rows::parse(row, "id")?,
        name: rows::text(row, "name")?,
        query: rows::text(row, "query")?,
        created_at: rows::time(row, "created_at")?,
    })
}

impl Store {
    /// Saves a view for the user; saving a name again replaces its filters.
    pub async fn save_view(&self, account_id: AccountId, user_id: UserId, name: &str, query: &str) -> Result<SavedView> {
        let mut tx = self.begin_write().await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM saved_views WHERE account_id = $1 AND user_id = $2 AND name <> $3")
            .bind(account_id.to_string())
            .bind(user_id.to_string())
            .bind(name)
            .fetch_one(tx.conn())
            .await?;
        if count >= MAX_SAVED_VIEWS {
            return Err(StoreError::Conflict(format!("at most {MAX_SAVED_VIEWS} saved views; delete one first")));
        }
        sqlx::query(
            "INSERT INTO saved_views (id, account_id, user_id, name, query, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (user_id, name) DO UPDATE SET query = $5",
        )
        .bind(SavedViewId::new().to_string())
        .bind(account_id.to_string())
        .bind(user_id.to_string())
        .bind(name)
        .bind(query)
        .bind(micros(now()))
        .execute(tx.conn())
        .await?;
        let row = sqlx::query("SELECT id, name, query, created_at FROM saved_views WHERE account_id = $1 AND user_id = $2 AND name = $3")
            .bind(account_id.to_string())
            .bind(user_id.to_string())
            .bind(name)
            .fetch_one(tx.conn())
            .await?;
        let saved = view(&row)?;
        tx.commit().await?;
        Ok(saved)
    }

    /// The user's views, by name.
    pub async fn saved_views(&self, account_id: AccountId, user_id: UserId) -> Result<Vec<SavedView>> {
        let found = sqlx::query("SELECT id, name, query, created_at FROM saved_views WHERE account_id = $1 AND user_id = $2 ORDER BY name")
            .bind(account_id.to_string())
            .bind(user_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(view).collect()
    }

    /// Deletes one of the user's views (another user's is not found).
    pub async fn delete_view(&self, account_id: AccountId, user_id: UserId, id: SavedViewId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM saved_views WHERE id = $1 AND account_id = $2 AND user_id = $3")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .bind(user_id.to_string())
            .execute(tx.conn())
            .await?;
        found(&done)?;
        tx.commit().await?;
        Ok(())
    }
}
