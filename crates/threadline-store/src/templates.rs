//! Message templates: the approved messages a business may send outside a
//! channel's customer-service window (WhatsApp), with numbered variables.

use serde::Serialize;
use threadline_domain::channel::Channel;
use threadline_domain::ids::{AccountId, TemplateId};
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, found, micros, now, rows};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MessageTemplate {
    pub id: TemplateId,
    pub channel: Channel,
    /// The name the provider approved it under.
    pub name: String,
    /// The provider's language code, e.g. `it` or `en_US`.
    pub language: String,
    /// `utility`, `marketing` or `authentication`.
    pub category: String,
    /// The text, with `{{1}}`, `{{2}}`… where the variables go.
    pub body: String,
    /// How many variables the body has.
    pub variables: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A template to register; validated by the caller.
#[derive(Debug, Clone)]
pub struct NewTemplate {
    pub channel: Channel,
    pub name: String,
    pub language: String,
    pub category: String,
    pub body: String,
    pub variables: i64,
}

const COLUMNS: &str = "id, channel, name, language, category, body, variables, created_at, updated_at";

fn template(row: &sqlx::any::AnyRow) -> Result<MessageTemplate> {
    Ok(MessageTemplate {
        id: rows::parse(row, "id")?,
        channel: rows::parse(row, "channel")?,
        name: rows::text(row, "name")?,
        language: rows::text(row, "language")?,
        category: rows::text(row, "category")?,
        body: rows::text(row, "body")?,
        variables: rows::int(row, "variables")?,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
    })
}

impl Store {
    pub async fn create_template(&self, account_id: AccountId, new: NewTemplate) -> Result<MessageTemplate> {
        let at = now();
        let id = TemplateId::new();
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO message_templates (id, account_id, channel, name, language, category, body, variables, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .bind(new.channel.as_str())
        .bind(&new.name)
        .bind(&new.language)
        .bind(&new.category)
        .bind(&new.body)
        .bind(new.variables)
        .bind(micros(at))
        .execute(tx.conn())
        .await;
        match inserted {
            Err(e) if crate::is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "a {} template named `{}` in `{}` already exists",
                    new.channel, new.name, new.language
                )));
            }
            other => other?,
        };
        tx.commit().await?;
        self.template(account_id, id).await
    }

    pub async fn template(&self, account_id: AccountId, id: TemplateId) -> Result<MessageTemplate> {
        let sql = format!("SELECT {COLUMNS} FROM message_templates WHERE id = $1 AND account_id = $2");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        template(&row)
    }

    pub async fn templates(&self, account_id: AccountId, channel: Option<Channel>) -> Result<Vec<MessageTemplate>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM message_templates WHERE account_id = $1 AND ($2 IS NULL OR channel = $2) ORDER BY channel, name, language"
        );
        let rows =
            sqlx::query(&sql).bind(account_id.to_string()).bind(channel.map(|c| c.as_str().to_owned())).fetch_all(&self.pool).await?;
        rows.iter().map(template).collect()
    }

    /// A channel's template by name, in the customer's language if it has
    /// that variant (`it` matches `it` and `it_IT`), else the first.
    pub async fn template_by_name(
        &self,
        account_id: AccountId,
        channel: Channel,
        name: &str,
        language: Option<&str>,
    ) -> Result<Option<MessageTemplate>> {
        let sql = format!("SELECT {COLUMNS} FROM message_templates WHERE account_id = $1 AND channel = $2 AND name = $3 ORDER BY language");
        let rows = sqlx::query(&sql).bind(account_id.to_string()).bind(channel.as_str()).bind(name).fetch_all(&self.pool).await?;
        let all = rows.iter().map(template).collect::<Result<Vec<_>>>()?;
        let wanted = |t: &&MessageTemplate| language.is_some_and(|l| t.language == l || t.language.split(['_', '-']).next() == Some(l));
        Ok(all.iter().find(wanted).or(all.first()).cloned())
    }

    pub async fn delete_template(&self, account_id: AccountId, id: TemplateId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM message_templates WHERE id = $1 AND account_id = $2")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        found(&done)?;
        tx.commit().await?;
        Ok(())
    }
}
