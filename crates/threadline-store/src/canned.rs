//! Canned responses: answers agents reuse (see `threadline_domain::canned`).

use std::collections::BTreeMap;

use serde::Serialize;
use threadline_domain::canned::WhatsappMapping;
use threadline_domain::ids::{AccountId, CannedResponseId};
use time::OffsetDateTime;

use crate::{Result, Store, found, micros, now, rows};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CannedResponse {
    pub id: CannedResponseId,
    /// How agents find it, e.g. `shipping-times`; unique in the account.
    pub shortcut: String,
    pub title: String,
    /// The text, with variables such as `{{contact.first_name}}`: the
    /// default, for customers whose language has no translation.
    pub body: String,
    /// The text in other languages (language tag → text).
    pub translations: BTreeMap<String, String>,
    /// The approved WhatsApp template sent instead outside the 24 hours.
    pub whatsapp_template: Option<WhatsappMapping>,
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
        translations: rows::json(row, "translations")?,
        whatsapp_template: match rows::opt_text(row, "whatsapp_template")? {
            Some(json) => Some(serde_json::from_str(&json).map_err(|e| crate::StoreError::Corrupt(e.to_string()))?),
            None => None,
        },
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
    })
}

const COLUMNS: &str = "id, shortcut, title, body, translations, whatsapp_template, created_at, updated_at";

/// A canned response to save.
#[derive(Debug, Clone)]
pub struct NewCanned<'a> {
    pub shortcut: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub translations: &'a BTreeMap<String, String>,
    pub whatsapp_template: Option<&'a WhatsappMapping>,
}

impl Store {
    /// Creates a canned response, or replaces the one with the same shortcut.
    pub async fn save_canned_response(&self, account_id: AccountId, new: NewCanned<'_>) -> Result<CannedResponse> {
        let at = micros(now());
        let translations = serde_json::to_string(new.translations).map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
        let whatsapp = new.whatsapp_template.map(|m| serde_json::to_string(m).unwrap_or_default());
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO canned_responses (id, account_id, shortcut, title, body, translations, whatsapp_template, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
             ON CONFLICT (account_id, shortcut) DO UPDATE SET title = $4, body = $5, translations = $6, whatsapp_template = $7, updated_at = $8",
        )
        .bind(CannedResponseId::new().to_string())
        .bind(account_id.to_string())
        .bind(new.shortcut)
        .bind(new.title)
        .bind(new.body)
        .bind(translations)
        .bind(whatsapp)
        .bind(at)
        .execute(tx.conn())
        .await?;
        let sql = format!("SELECT {COLUMNS} FROM canned_responses WHERE account_id = $1 AND shortcut = $2");
        let row = sqlx::query(&sql).bind(account_id.to_string()).bind(new.shortcut).fetch_one(tx.conn()).await?;
        let saved = canned(&row)?;
        tx.commit().await?;
        Ok(saved)
    }

    pub async fn canned_response(&self, account_id: AccountId, id: CannedResponseId) -> Result<CannedResponse> {
        let sql = format!("SELECT {COLUMNS} FROM canned_responses WHERE id = $1 AND account_id = $2");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(crate::StoreError::NotFound)?;
        canned(&row)
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
