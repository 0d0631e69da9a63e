//! Canned responses: answers agents reuse (see `threadline_domain::canned`).

use serde::Serialize;
use threadline_domain::ids::{AccountId, CannedResponseId};
use time::OffsetDateTime;

use crate::{Result, Store, found, micros, now, rows};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CannedResponse {
    pub id: CannedResponseId,
    /// How agents find it, e.g. `shipping-times`; unique in the account.
    pub shortcut: String,
    pub title: String,
    /// The text, with variables such as `{{contact.first_name}}`.
    pub body: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

fn canned(row: &sqlx::any::AnyRow) -> Result<CannedResponse> {
    Ok(CannedResponse {
        id: rows::parse(row, "id")?,
        shortcut: rows::text(row, "shortcut")?,
        title: rows::text(row, "title")?,
        body: rows::text(row, "body")?,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
    })
}

const COLUMNS: &str = "id, shortcut, title, body, created_at, updated_at";

impl Store {
    /// Creates a canned response, or replaces the one with the same shortcut.
    pub async fn save_canned_response(&self, account_id: AccountId, shortcut: &str, title: &str, body: &str) -> Result<CannedResponse> {
        let at = micros(now());
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO canned_responses (id, account_id, shortcut, title, body, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (account_id, shortcut) DO UPDATE SET title = $4, body = $5, updated_at = $6",
        )
        .bind(CannedResponseId::new().to_string())
        .bind(account_id.to_string())
        .bind(shortcut)
        .bind(title)
        .bind(body)
        .bind(at)
        .execute(tx.conn())
        .await?;
        let sql = format!("SELECT {COLUMNS} FROM canned_responses WHERE account_id = $1 AND shortcut = $2");
        let row = sqlx::query(&sql).bind(account_id.to_string()).bind(shortcut).fetch_one(tx.conn()).await?;
        let saved = canned(&row)?;
        tx.commit().await?;
        Ok(saved)
    }

    pub async fn canned_responses(&self, account_id: AccountId) -> Result<Vec<CannedResponse>> {
        let sql = format!("SELECT {COLUMNS} FROM canned_responses WHERE account_id = $1 ORDER BY shortcut");
        let found = sqlx::query(&sql).bind(account_id.to_string()).fetch_all(&self.pool).await?;
        found.iter().map(canned).collect()
    }

    pub async fn delete_canned_response(&self, account_id: AccountId, id: CannedResponseId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM canned_responses WHERE id = $1 AND account_id = $2")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        found(&done)?;
        tx.commit().await?;
        Ok(())
    }
}
