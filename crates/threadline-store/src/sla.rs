//! SLA policies and breaches. The clocks themselves are computed from a
//! conversation's own columns (`threadline_domain::sla::clocks`); this
//! module stores the policies, finds the open conversations to check, and
//! records each missed target exactly once.

use serde::Serialize;
use threadline_domain::conversation::Conversation;
use threadline_domain::event::{DomainEvent, Payload, SlaBreachedPayload};
use threadline_domain::ids::{AccountId, ConversationId, SlaPolicyId};
use threadline_domain::sla::{SlaPolicy, SlaTarget};
use time::OffsetDateTime;

use crate::rows::CONVERSATION_COLUMNS;
use crate::{Result, Store, StoreError, found, micros, now, rows};

/// A stored policy.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StoredSlaPolicy {
    pub id: SlaPolicyId,
    pub name: String,
    pub policy: SlaPolicy,
    /// Applies to conversations whose team names no policy.
    pub is_default: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A missed target.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SlaBreach {
    pub conversation_id: ConversationId,
    pub target: SlaTarget,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub breached_at: OffsetDateTime,
}

/// An open conversation to check, with when its clocks started: its
/// creation, or its handoff if a bot had it first.
#[derive(Debug, Clone)]
pub struct SlaCandidate {
    pub account_id: AccountId,
    pub conversation: Conversation,
    pub started_at: OffsetDateTime,
}

fn policy_row(row: &sqlx::any::AnyRow) -> Result<StoredSlaPolicy> {
    Ok(StoredSlaPolicy {
        id: rows::parse(row, "id")?,
        name: rows::text(row, "name")?,
        policy: rows::json(row, "policy")?,
        is_default: rows::int(row, "is_default")? != 0,
        updated_at: rows::time(row, "updated_at")?,
    })
}

impl Store {
    pub async fn sla_policies(&self, account_id: AccountId) -> Result<Vec<StoredSlaPolicy>> {
        let found =
            sqlx::query("SELECT id, name, policy, is_default, updated_at FROM sla_policies WHERE account_id = $1 ORDER BY name, id")
                .bind(account_id.to_string())
                .fetch_all(&self.pool)
                .await?;
        found.iter().map(policy_row).collect()
    }

    /// Creates (`id` none) or replaces a policy. Making one the default
    /// makes the others not.
    pub async fn save_sla_policy(
        &self,
        account_id: AccountId,
        id: Option<SlaPolicyId>,
        name: &str,
        policy: &SlaPolicy,
        is_default: bool,
        actor: &str,
    ) -> Result<StoredSlaPolicy> {
        let at = micros(now());
        let json = serde_json::to_string(policy).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.begin_write().await?;
        if is_default {
            sqlx::query("UPDATE sla_policies SET is_default = 0 WHERE account_id = $1")
                .bind(account_id.to_string())
                .execute(tx.conn())
                .await?;
        }
        let id = match id {
            Some(id) => {
                let done = sqlx::query(
                    "UPDATE sla_policies SET name = $3, policy = $4, is_default = $5, updated_at = $6 WHERE id = $1 AND account_id = $2",
                )
                .bind(id.to_string())
                .bind(account_id.to_string())
                .bind(name)
                .bind(&json)
                .bind(i64::from(is_default))
                .bind(at)
                .execute(tx.conn())
                .await;
                match done {
                    Ok(done) => found(&done)?,
                    Err(e) if crate::is_unique_violation(&e) => return Err(StoreError::Conflict(format!("a policy named {name} exists"))),
                    Err(e) => return Err(e.into()),
                }
                id
            }
            None => {
                let id = SlaPolicyId::new();
                let done = sqlx::query(
                    "INSERT INTO sla_policies (id, account_id, name, policy, is_default, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                )
                .bind(id.to_string())
                .bind(account_id.to_string())
                .bind(name)
                .bind(&json)
                .bind(i64::from(is_default))
                .bind(at)
                .execute(tx.conn())
                .await;
                match done {
                    Ok(_) => {}
                    Err(e) if crate::is_unique_violation(&e) => return Err(StoreError::Conflict(format!("a policy named {name} exists"))),
                    Err(e) => return Err(e.into()),
                }
                id
            }
        };
        crate::audit::audit(
            &mut tx,
            account_id,
            actor,
            "sla_policy.save",
            "sla_policy",
            &id.to_string(),
            serde_json::json!({ "name": name, "policy": policy, "is_default": is_default }),
            now(),
        )
        .await?;
        tx.commit().await?;
        self.sla_policies(account_id).await?.into_iter().find(|p| p.id == id).ok_or(StoreError::NotFound)
    }

    pub async fn delete_sla_policy(&self, account_id: AccountId, id: SlaPolicyId, actor: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM sla_policies WHERE id = $1 AND account_id = $2")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        found(&done)?;
        crate::audit::audit(&mut tx, account_id, actor, "sla_policy.delete", "sla_policy", &id.to_string(), serde_json::json!({}), now())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Accounts with at least one SLA policy.
    pub async fn accounts_with_sla(&self) -> Result<Vec<AccountId>> {
        let found = sqlx::query("SELECT DISTINCT account_id FROM sla_policies").fetch_all(&self.pool).await?;
        found.iter().map(|r| rows::parse(r, "account_id")).collect()
    }

    /// An account's open conversations handled by people, in pages after
    /// `after` (by id).
    pub async fn sla_candidates(&self, account_id: AccountId, after: Option<ConversationId>, limit: i64) -> Result<Vec<SlaCandidate>> {
        let columns = CONVERSATION_COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {columns}, s.ended_at AS handed_off_at FROM conversations c LEFT JOIN bot_sessions s ON s.conversation_id = c.id \
             AND s.status = 'handed_off' WHERE c.account_id = $1 AND c.status = 'open' AND c.handler = 'human' AND ($2 IS NULL OR c.id > $2) \
             ORDER BY c.id LIMIT $3"
        );
        let found =
            sqlx::query(&sql).bind(account_id.to_string()).bind(after.map(|a| a.to_string())).bind(limit).fetch_all(&self.pool).await?;
        found
            .iter()
            .map(|r| {
                let conversation = rows::conversation(r)?;
                let started_at = rows::opt_time(r, "handed_off_at")?.unwrap_or(conversation.created_at);
                Ok(SlaCandidate { account_id, conversation, started_at })
            })
            .collect()
    }

    /// Records a missed target; `None` if it was recorded before (by
    /// another pass or node), else the `sla.breached` event to publish.
    pub async fn record_breach(
        &self,
        account_id: AccountId,
        conversation: &Conversation,
        target: SlaTarget,
        due_at: OffsetDateTime,
    ) -> Result<bool> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO sla_breaches (conversation_id, target, due_at, account_id, breached_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(conversation.id.to_string())
        .bind(target.as_str())
        .bind(micros(due_at))
        .bind(account_id.to_string())
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let breached = SlaBreachedPayload { conversation: conversation.clone(), target, due_at };
        tx.emit(DomainEvent::new(account_id, Payload::SlaBreached(breached), at));
        tx.commit().await?;
        Ok(true)
    }

    pub async fn sla_breaches(&self, account_id: AccountId, conversation_id: ConversationId) -> Result<Vec<SlaBreach>> {
        let found = sqlx::query(
            "SELECT conversation_id, target, due_at, breached_at FROM sla_breaches WHERE conversation_id = $1 AND account_id = $2 ORDER BY breached_at",
        )
        .bind(conversation_id.to_string())
        .bind(account_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        found
            .iter()
            .map(|r| {
                Ok(SlaBreach {
                    conversation_id: rows::parse(r, "conversation_id")?,
                    target: rows::enum_of(r, "target", SlaTarget::parse)?,
                    due_at: rows::time(r, "due_at")?,
                    breached_at: rows::time(r, "breached_at")?,
                })
            })
            .collect()
    }

    /// Raises a conversation's priority one step (an SLA escalation).
    pub async fn raise_priority(&self, account_id: AccountId, conversation_id: ConversationId, actor: &str) -> Result<Conversation> {
        use threadline_domain::conversation::Priority;
        let c = self.conversation(account_id, conversation_id).await?;
        let next = match c.priority {
            Priority::Low => Priority::Normal,
            Priority::Normal => Priority::High,
            Priority::High | Priority::Urgent => Priority::Urgent,
        };
        self.update_conversation(
            account_id,
            conversation_id,
            crate::ConversationChanges { priority: Some(next), ..Default::default() },
            actor,
        )
        .await
    }
}
