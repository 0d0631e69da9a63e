//! Inboxes: configured instances of a channel (a mailbox, a WhatsApp number,
//! an API integration). Provider secrets arrive here already encrypted by the
//! caller and are stored as opaque text.

use serde::Serialize;
use sqlx::any::AnyRow;
use threadline_domain::channel::Channel;
use threadline_domain::ids::{AccountId, InboxId};
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, found, micros, now, rows};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Inbox {
    pub id: InboxId,
    pub channel: Channel,
    pub name: String,
    /// Non-secret settings (sender address, phone number id, …).
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// The encrypted secrets blob; never serialised.
    #[serde(skip)]
    pub sealed_secrets: Option<String>,
    /// The bot that answers new conversations first, if any.
    pub bot: Option<threadline_domain::bot::InboxBot>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Default)]
pub struct InboxChanges {
    pub name: Option<String>,
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
    /// `Some(None)` removes the secrets.
    pub sealed_secrets: Option<Option<String>>,
}

pub(crate) fn inbox(row: &AnyRow) -> Result<Inbox> {
    Ok(Inbox {
        id: rows::parse(row, "id")?,
        channel: rows::parse(row, "channel")?,
        name: rows::text(row, "name")?,
        settings: rows::json(row, "settings")?,
        sealed_secrets: rows::opt_text(row, "secrets")?,
        bot: match rows::opt_text(row, "bot")? {
            Some(raw) => Some(serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("inbox bot: {e}")))?),
            None => None,
        },
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
    })
}

pub(crate) const INBOX_COLUMNS: &str = "id, channel, name, settings, secrets, bot, created_at, updated_at";

impl Store {
    pub async fn create_inbox(
        &self,
        account_id: AccountId,
        channel: Channel,
        name: &str,
        settings: serde_json::Map<String, serde_json::Value>,
        sealed_secrets: Option<String>,
        actor: &str,
    ) -> Result<Inbox> {
        let at = now();
        let inbox = Inbox {
            id: InboxId::new(),
            channel,
            name: name.to_owned(),
            settings,
            sealed_secrets,
            bot: None,
            created_at: at,
            updated_at: at,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO inboxes (id, account_id, channel, name, settings, secrets, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(inbox.id.to_string())
        .bind(account_id.to_string())
        .bind(channel.as_str())
        .bind(name)
        .bind(serde_json::Value::Object(inbox.settings.clone()).to_string())
        .bind(inbox.sealed_secrets.clone())
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        crate::audit::audit(&mut tx, account_id, actor, "inbox.create", "inbox", &inbox.id.to_string(), serde_json::json!({ "channel": channel, "settings": inbox.settings.keys().collect::<Vec<_>>(), "secrets": inbox.sealed_secrets.is_some() }), now()).await?;
        tx.commit().await?;
        Ok(inbox)
    }

    pub async fn inbox(&self, account_id: AccountId, id: InboxId) -> Result<Inbox> {
        let sql = format!("SELECT {INBOX_COLUMNS} FROM inboxes WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        inbox(&row)
    }

    /// The inbox a provider's webhook names, with its account: the one
    /// lookup not scoped by a caller's account, because the caller is the
    /// provider. The webhook's signature is checked against this inbox's
    /// secrets before anything else happens.
    pub async fn inbox_for_webhook(&self, id: InboxId) -> Result<(AccountId, Inbox)> {
        let sql = format!("SELECT account_id, {INBOX_COLUMNS} FROM inboxes WHERE id = $1 AND deleted_at IS NULL");
        let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(&self.pool).await?.ok_or(StoreError::NotFound)?;
        Ok((rows::parse(&row, "account_id")?, inbox(&row)?))
    }

    pub async fn inboxes(&self, account_id: AccountId) -> Result<Vec<Inbox>> {
        let sql = format!("SELECT {INBOX_COLUMNS} FROM inboxes WHERE account_id = $1 AND deleted_at IS NULL ORDER BY name, id");
        let rows = sqlx::query(&sql).bind(account_id.to_string()).fetch_all(&self.pool).await?;
        rows.iter().map(inbox).collect()
    }

    pub async fn update_inbox(&self, account_id: AccountId, id: InboxId, changes: InboxChanges, actor: &str) -> Result<Inbox> {
        let mut tx = self.begin_write().await?;
        // Which settings were given and whether the secrets were replaced;
        // never a secret's value.
        let changed = serde_json::json!({
            "name": changes.name.is_some(),
            "settings": changes.settings.as_ref().map(|s| s.keys().cloned().collect::<Vec<_>>()),
            "secrets_replaced": changes.sealed_secrets.is_some(),
        });
        let done = sqlx::query(
            "UPDATE inboxes SET name = COALESCE($3, name), settings = COALESCE($4, settings), \
             secrets = CASE WHEN $5 = 1 THEN $6 ELSE secrets END, updated_at = $7 WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .bind(changes.name)
        .bind(changes.settings.map(|s| serde_json::Value::Object(s).to_string()))
        .bind(i64::from(changes.sealed_secrets.is_some()))
        .bind(changes.sealed_secrets.flatten())
        .bind(micros(now()))
        .execute(tx.conn())
        .await?;
        found(&done)?;
        crate::audit::audit(&mut tx, account_id, actor, "inbox.update", "inbox", &id.to_string(), changed, now()).await?;
        tx.commit().await?;
        self.inbox(account_id, id).await
    }

    /// Removes an inbox from use. Its messages stay in their conversations.
    pub async fn delete_inbox(&self, account_id: AccountId, id: InboxId, actor: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE inboxes SET deleted_at = $3, secrets = NULL WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL")
                .bind(id.to_string())
                .bind(account_id.to_string())
                .bind(micros(now()))
                .execute(tx.conn())
                .await?;
        found(&done)?;
        // Its address is free for another inbox to prove.
        sqlx::query("DELETE FROM mail_addresses WHERE inbox_id = $1").bind(id.to_string()).execute(tx.conn()).await?;
        crate::audit::audit(&mut tx, account_id, actor, "inbox.delete", "inbox", &id.to_string(), serde_json::json!({}), now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets (or with `None` removes) the bot that answers an inbox's new conversations.
    pub async fn set_inbox_bot(
        &self,
        account_id: AccountId,
        id: InboxId,
        bot: Option<&threadline_domain::bot::InboxBot>,
        actor: &str,
    ) -> Result<Inbox> {
        let mut tx = self.begin_write().await?;
        if let Some(agent_bot) = bot.and_then(|b| b.agent_bot_id) {
            let exists: Option<String> =
                sqlx::query_scalar("SELECT id FROM agent_bots WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL")
                    .bind(agent_bot.to_string())
                    .bind(account_id.to_string())
                    .fetch_optional(tx.conn())
                    .await?;
            if exists.is_none() {
                return Err(threadline_domain::ValidationErrors::single("agent_bot_id", "no such agent bot in this account").into());
            }
        }
        let done = sqlx::query("UPDATE inboxes SET bot = $3, updated_at = $4 WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .bind(bot.map(|b| serde_json::to_string(b).unwrap_or_default()))
            .bind(micros(now()))
            .execute(tx.conn())
            .await?;
        found(&done)?;
        crate::audit::audit(
            &mut tx,
            account_id,
            actor,
            "inbox.bot",
            "inbox",
            &id.to_string(),
            serde_json::json!({ "bot": bot.map(|b| serde_json::to_value(b).unwrap_or_default()) }),
            now(),
        )
        .await?;
        tx.commit().await?;
        self.inbox(account_id, id).await
    }
}
