//! What the customer-facing chat needs: a visitor's contact, the chat's
//! messages as the visitor may see them, and whether any agent is online.

use threadline_domain::identity::NormalizedIdentity;
use threadline_domain::ids::{AccountId, ContactId, UserId};
use threadline_domain::message::Message;
use threadline_domain::timeline::TimelineCursor;

use crate::attachments::load_attachment_meta;
use crate::contacts::identity_owner;
use crate::rows::MESSAGE_COLUMNS;
use crate::{Result, Store, micros, now, rows};

/// How long an `online` presence lasts without a refresh.
pub const PRESENCE_TTL: time::Duration = time::Duration::minutes(10);

impl Store {
    /// The contact an identity belongs to, if any.
    pub async fn contact_by_identity(&self, account_id: AccountId, identity: &NormalizedIdentity) -> Result<Option<ContactId>> {
        let mut conn = self.pool.acquire().await?;
        identity_owner(&mut conn, account_id, identity).await
    }

    /// The chat messages a visitor may see: messages (not notes) of the
    /// contact on the web chat and in-app channels, oldest first, after
    /// `after`. Messages on other channels stay out of the widget: an
    /// unverified visitor must not read the rest of a customer's history.
    pub async fn chat_messages(
        &self,
        account_id: AccountId,
        contact_id: ContactId,
        after: Option<&TimelineCursor>,
        limit: i64,
    ) -> Result<Vec<Message>> {
        let (at, id) = after.map_or((i64::MIN, String::new()), |c| (c.at_micros, c.id.clone()));
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE account_id = $1 AND contact_id = $2 AND kind = 'message' \
             AND channel IN ('web_chat', 'in_app') AND (created_at > $3 OR (created_at = $3 AND id > $4)) \
             ORDER BY created_at, id LIMIT $5"
        );
        let found = sqlx::query(&sql)
            .bind(account_id.to_string())
            .bind(contact_id.to_string())
            .bind(at)
            .bind(id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut messages = found.iter().map(rows::message).collect::<Result<Vec<_>>>()?;
        let mut conn = self.pool.acquire().await?;
        load_attachment_meta(&mut conn, &mut messages).await?;
        Ok(messages)
    }

    /// Records an agent's availability: `online`, `away` or `offline`.
    pub async fn set_presence(&self, account_id: AccountId, user_id: UserId, status: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO agent_presence (user_id, account_id, status, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at",
        )
        .bind(user_id.to_string())
        .bind(account_id.to_string())
        .bind(status)
        .bind(micros(now()))
        .execute(tx.conn())
        .await?;
        // The stretch of this status goes on while heartbeats keep it fresh.
        let at = micros(now());
        let extended = sqlx::query(
            "UPDATE presence_spans SET last_seen_at = $4 WHERE id = (SELECT id FROM presence_spans WHERE user_id = $1 \
             ORDER BY last_seen_at DESC LIMIT 1) AND account_id = $2 AND status = $3 AND last_seen_at > $5",
        )
        .bind(user_id.to_string())
        .bind(account_id.to_string())
        .bind(status)
        .bind(at)
        .bind(at - PRESENCE_TTL.whole_microseconds() as i64)
        .execute(tx.conn())
        .await?;
        if extended.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO presence_spans (id, account_id, user_id, status, started_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(account_id.to_string())
            .bind(user_id.to_string())
            .bind(status)
            .bind(at)
            .execute(tx.conn())
            .await?;
        }
        // An agent coming online may take what waits.
        tx.routing_needed = true;
        tx.commit().await?;
        Ok(())
    }

    /// Each user's time online within `from..to`, in seconds (stretches
    /// of `online` presence, each ending at its last heartbeat).
    pub async fn online_secs(
        &self,
        account_id: AccountId,
        from: time::OffsetDateTime,
        to: time::OffsetDateTime,
    ) -> Result<std::collections::BTreeMap<String, i64>> {
        let (f, t) = (micros(from), micros(to));
        let found = sqlx::query(
            "SELECT user_id, started_at, last_seen_at FROM presence_spans \
             WHERE account_id = $1 AND status = 'online' AND last_seen_at > $2 AND started_at < $3",
        )
        .bind(account_id.to_string())
        .bind(f)
        .bind(t)
        .fetch_all(&self.pool)
        .await?;
        let mut out = std::collections::BTreeMap::new();
        for row in &found {
            let (start, end) = (crate::rows::int(row, "started_at")?.max(f), crate::rows::int(row, "last_seen_at")?.min(t));
            *out.entry(crate::rows::text(row, "user_id")?).or_insert(0) += ((end - start) / 1_000_000).max(0);
        }
        Ok(out)
    }

    /// How many agents of the account are online now.
    pub async fn agents_online(&self, account_id: AccountId) -> Result<i64> {
        let since = micros(now() - PRESENCE_TTL);
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM agent_presence p JOIN users u ON u.id = p.user_id \
             WHERE p.account_id = $1 AND p.status = 'online' AND p.updated_at > $2 AND u.deleted_at IS NULL",
        )
        .bind(account_id.to_string())
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok(count)
    }

    /// Each user's availability now: `online` or `away` as last set within
    /// [`PRESENCE_TTL`], `offline` otherwise (or never set).
    pub async fn presences(&self, account_id: AccountId) -> Result<std::collections::HashMap<UserId, String>> {
        let since = micros(now() - PRESENCE_TTL);
        let found = sqlx::query("SELECT user_id, status, updated_at FROM agent_presence WHERE account_id = $1")
            .bind(account_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        let mut out = std::collections::HashMap::new();
        for row in found {
            let status = if crate::rows::int(&row, "updated_at")? > since { crate::rows::text(&row, "status")? } else { "offline".into() };
            out.insert(crate::rows::parse(&row, "user_id")?, status);
        }
        Ok(out)
    }
}
