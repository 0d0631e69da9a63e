//! Triage settings and models: an account's keyword rules and threshold,
//! the category model learnt from its agents' labels, and the examples it
//! learns from.

use serde::{Deserialize, Serialize};
use threadline_domain::ids::{AccountId, TriageRuleId};
use threadline_domain::triage::intent::Example;
use threadline_domain::triage::rules::{KeywordRule, default_rules};
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, micros, now, rows};

/// A keyword rule with its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TriageRule {
    pub id: TriageRuleId,
    #[serde(flatten)]
    pub rule: KeywordRule,
}

/// An account's triage settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TriageSettings {
    /// Read in order; the first rule that gives a category decides it.
    pub rules: Vec<TriageRule>,
    /// The model's category is used from this probability up (0–1).
    pub min_confidence: f32,
}

impl Default for TriageSettings {
    fn default() -> Self {
        TriageSettings {
            rules: default_rules().into_iter().map(|rule| TriageRule { id: TriageRuleId::new(), rule }).collect(),
            min_confidence: threadline_domain::triage::DEFAULT_MIN_CONFIDENCE,
        }
    }
}

/// How training went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrainingReport {
    /// Labelled conversations learnt from.
    pub examples: usize,
    pub categories: Vec<String>,
    /// Accuracy on the fifth of the examples held out while a first model
    /// was trained on the rest (the stored model learnt from all of them);
    /// none with too few examples to hold any out.
    pub holdout_accuracy: Option<f32>,
    pub holdout_examples: usize,
    #[serde(with = "time::serde::rfc3339")]
    pub trained_at: OffsetDateTime,
}

impl Store {
    /// The account's triage settings; the first time, the default rules,
    /// stored so that their ids stay.
    pub async fn triage_settings(&self, account_id: AccountId) -> Result<TriageSettings> {
        let row = sqlx::query("SELECT settings FROM triage_settings WHERE account_id = $1")
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = row {
            return rows::json(&row, "settings");
        }
        let defaults = TriageSettings::default();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO triage_settings (account_id, settings, updated_at) VALUES ($1, $2, $3) ON CONFLICT (account_id) DO NOTHING",
        )
        .bind(account_id.to_string())
        .bind(serde_json::to_string(&defaults).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .bind(micros(now()))
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        let row = sqlx::query("SELECT settings FROM triage_settings WHERE account_id = $1")
            .bind(account_id.to_string())
            .fetch_one(&self.pool)
            .await?;
        rows::json(&row, "settings")
    }

    /// Changes the settings with `change`, in one transaction (two
    /// administrators' edits do not undo each other).
    pub async fn update_triage_settings<T>(
        &self,
        account_id: AccountId,
        actor: &str,
        change: impl FnOnce(&mut TriageSettings) -> Result<T>,
    ) -> Result<(TriageSettings, T)> {
        // Make sure the row exists before taking the write lock.
        self.triage_settings(account_id).await?;
        let mut tx = self.begin_write().await?;
        let lock = match self.backend {
            crate::Backend::Postgres => "FOR UPDATE",
            crate::Backend::Sqlite => "",
        };
        let row = sqlx::query(&format!("SELECT settings FROM triage_settings WHERE account_id = $1 {lock}"))
            .bind(account_id.to_string())
            .fetch_one(tx.conn())
            .await?;
        let mut settings: TriageSettings = rows::json(&row, "settings")?;
        let out = change(&mut settings)?;
        sqlx::query("UPDATE triage_settings SET settings = $2, updated_at = $3 WHERE account_id = $1")
            .bind(account_id.to_string())
            .bind(serde_json::to_string(&settings).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            .bind(micros(now()))
            .execute(tx.conn())
            .await?;
        let data = serde_json::json!({ "rules": settings.rules.len(), "min_confidence": settings.min_confidence });
        crate::audit::audit(&mut tx, account_id, actor, "triage.settings", "account", &account_id.to_string(), data, now()).await?;
        tx.commit().await?;
        Ok((settings, out))
    }

    /// Forgets the account's category model (it was learnt from texts that
    /// are no longer stored).
    pub async fn delete_triage_model(&self, account_id: AccountId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM triage_models WHERE account_id = $1").bind(account_id.to_string()).execute(tx.conn()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// When the settings and the model last changed: what a cache compares.
    pub async fn triage_versions(&self, account_id: AccountId) -> Result<(Option<i64>, Option<i64>)> {
        let settings: Option<i64> = sqlx::query_scalar("SELECT updated_at FROM triage_settings WHERE account_id = $1")
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let model: Option<i64> = sqlx::query_scalar("SELECT trained_at FROM triage_models WHERE account_id = $1")
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok((settings, model))
    }

    /// What the model learns from: resolved conversations an agent gave a
    /// category, with what the customer wrote first (subject and text).
    /// The newest `limit`.
    pub async fn training_examples(&self, account_id: AccountId, limit: i64) -> Result<Vec<Example>> {
        let found = sqlx::query(
            "SELECT c.category, m.subject, m.body_text FROM conversations c JOIN messages m ON m.conversation_id = c.id \
             WHERE c.account_id = $1 AND c.status = 'resolved' AND c.category IS NOT NULL AND m.direction = 'inbound' AND m.kind = 'message' \
             AND m.created_at = (SELECT MIN(f.created_at) FROM messages f WHERE f.conversation_id = c.id AND f.direction = 'inbound' AND f.kind = 'message') \
             ORDER BY c.updated_at DESC LIMIT $2",
        )
        .bind(account_id.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(found.len());
        for row in &found {
            let mut text = rows::opt_text(row, "subject")?.unwrap_or_default();
            text.push(' ');
            text.push_str(&rows::text(row, "body_text")?);
            let category = rows::text(row, "category")?.trim().to_lowercase();
            if !text.trim().is_empty() && !category.is_empty() {
                out.push(Example { text, category });
            }
        }
        Ok(out)
    }

    pub async fn save_triage_model(&self, account_id: AccountId, model: &str, report: &TrainingReport) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO triage_models (account_id, model, report, trained_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id) DO UPDATE SET model = excluded.model, report = excluded.report, trained_at = excluded.trained_at",
        )
        .bind(account_id.to_string())
        .bind(model)
        .bind(serde_json::to_string(report).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .bind(micros(report.trained_at))
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The stored model (JSON) and its report.
    pub async fn triage_model(&self, account_id: AccountId) -> Result<Option<(String, TrainingReport)>> {
        let row = sqlx::query("SELECT model, report FROM triage_models WHERE account_id = $1")
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((rows::text(&r, "model")?, rows::json(&r, "report")?))).transpose()
    }

    /// Every account (for training them all from the command line).
    pub async fn account_ids(&self) -> Result<Vec<AccountId>> {
        let found = sqlx::query("SELECT id FROM accounts ORDER BY created_at, id").fetch_all(&self.pool).await?;
        found.iter().map(|r| rows::parse(r, "id")).collect()
    }
}
