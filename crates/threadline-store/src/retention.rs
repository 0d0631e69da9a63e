//! Retention: each account's policies (`threadline_domain::retention`), what
//! they would remove now (a dry run), and the purge itself, in small
//! batches — each its own short transaction — so that storing new messages
//! never waits long behind it. Contacts on legal hold keep their messages
//! and attachments whatever the policies say.

use std::path::PathBuf;

use serde::Serialize;
use threadline_domain::audit::PURGED;
use threadline_domain::channel::Channel;
use threadline_domain::ids::AccountId;
use threadline_domain::retention::{DataClass, RetentionPolicy};

use crate::audit::audit;
use crate::{Result, Store, StoreError, micros, now, rows};

/// What one policy would remove (or removed).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RetentionCount {
    #[serde(flatten)]
    pub policy: RetentionPolicy,
    pub count: u64,
}

/// The condition selecting a policy's messages or attachments (`m` is the
/// message): older than the cutoff, of the policy's channel — or, for the
/// all-channels policy, of a channel without its own — and not of a
/// contact on legal hold. Binds: $1 account, $2 cutoff, then channels.
fn message_condition(policy: &RetentionPolicy, others: &[Channel], time_column: &str) -> (String, Vec<String>) {
    let mut sql = format!("{time_column} < $2 AND NOT EXISTS (SELECT 1 FROM contacts k WHERE k.id = m.contact_id AND k.legal_hold <> 0)");
    let mut binds = Vec::new();
    match policy.channel {
        Some(channel) => {
            sql.push_str(" AND m.channel = $3");
            binds.push(channel.as_str().to_owned());
        }
        None if !others.is_empty() => {
            sql.push_str(&format!(" AND m.channel NOT IN ({})", rows::list(3, others.len())));
            binds.extend(others.iter().map(|c| c.as_str().to_owned()));
        }
        None => {}
    }
    (sql, binds)
}

/// The channels with a policy of their own for `class`.
fn own_channels(policies: &[RetentionPolicy], class: DataClass) -> Vec<Channel> {
    policies.iter().filter(|p| p.data_class == class).filter_map(|p| p.channel).collect()
}

impl Store {
    pub async fn retention_policies(&self, account_id: AccountId) -> Result<Vec<RetentionPolicy>> {
        let found =
            sqlx::query("SELECT data_class, channel, days FROM retention_policies WHERE account_id = $1 ORDER BY data_class, channel")
                .bind(account_id.to_string())
                .fetch_all(&self.pool)
                .await?;
        found
            .iter()
            .map(|row| {
                let channel = rows::text(row, "channel")?;
                Ok(RetentionPolicy {
                    data_class: rows::enum_of(row, "data_class", DataClass::parse)?,
                    channel: if channel.is_empty() {
                        None
                    } else {
                        Some(channel.parse::<Channel>().map_err(|_| StoreError::Corrupt(format!("retention channel {channel}")))?)
                    },
                    days: rows::int(row, "days")?,
                })
            })
            .collect()
    }

    /// Replaces the account's policies (validated by the caller); audited.
    pub async fn set_retention_policies(&self, account_id: AccountId, policies: &[RetentionPolicy], actor: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM retention_policies WHERE account_id = $1").bind(account_id.to_string()).execute(tx.conn()).await?;
        for p in policies {
            sqlx::query("INSERT INTO retention_policies (account_id, data_class, channel, days, updated_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(account_id.to_string())
                .bind(p.data_class.as_str())
                .bind(p.channel.map(|c| c.as_str()).unwrap_or(""))
                .bind(p.days)
                .bind(micros(now()))
                .execute(tx.conn())
                .await?;
        }
        let data = serde_json::json!({ "policies": policies });
        audit(&mut tx, account_id, actor, "retention.policies", "account", &account_id.to_string(), data, now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Accounts with at least one policy.
    pub async fn accounts_with_retention(&self) -> Result<Vec<AccountId>> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT DISTINCT account_id FROM retention_policies").fetch_all(&self.pool).await?;
        ids.iter().map(|id| id.parse().map_err(|_| StoreError::Corrupt("account id".into()))).collect()
    }

    /// How much each policy would remove now: the dry run.
    pub async fn retention_preview(&self, account_id: AccountId, policies: &[RetentionPolicy]) -> Result<Vec<RetentionCount>> {
        let now = micros(now());
        let mut out = Vec::with_capacity(policies.len());
        for policy in policies {
            let cutoff = policy.cutoff(now);
            let others = own_channels(policies, policy.data_class);
            let (sql, binds) = match policy.data_class {
                DataClass::Messages => {
                    let (condition, binds) = message_condition(policy, &others, "m.created_at");
                    (format!("SELECT COUNT(*) FROM messages m WHERE m.account_id = $1 AND {condition}"), binds)
                }
                DataClass::Attachments => {
                    let (condition, binds) = message_condition(policy, &others, "a.created_at");
                    (
                        format!(
                            "SELECT COUNT(*) FROM attachments a JOIN messages m ON m.id = a.message_id WHERE a.account_id = $1 AND {condition}"
                        ),
                        binds,
                    )
                }
                DataClass::Events => ("SELECT COUNT(*) FROM events WHERE account_id = $1 AND occurred_at < $2".to_owned(), Vec::new()),
                DataClass::Audit => {
                    ("SELECT COUNT(*) FROM audit_log WHERE account_id = $1 AND created_at < $2 AND seq IS NOT NULL".to_owned(), Vec::new())
                }
            };
            let mut query = sqlx::query_scalar::<_, i64>(&sql).bind(account_id.to_string()).bind(cutoff);
            for b in &binds {
                query = query.bind(b.clone());
            }
            let count = query.fetch_one(&self.pool).await?;
            out.push(RetentionCount { policy: policy.clone(), count: count.max(0) as u64 });
        }
        Ok(out)
    }

    /// Removes at most `batch` items of one policy in one short transaction;
    /// returns how many. The caller repeats until it gets 0.
    pub async fn purge_batch(
        &self,
        account_id: AccountId,
        policy: &RetentionPolicy,
        policies: &[RetentionPolicy],
        batch: i64,
    ) -> Result<u64> {
        let cutoff = policy.cutoff(micros(now()));
        let others = own_channels(policies, policy.data_class);
        let a = account_id.to_string();
        let mut tx = self.begin_write().await?;
        let (removed, files): (u64, Vec<PathBuf>) = match policy.data_class {
            DataClass::Messages => {
                let (condition, binds) = message_condition(policy, &others, "m.created_at");
                let sql =
                    format!("SELECT m.id FROM messages m WHERE m.account_id = $1 AND {condition} ORDER BY m.created_at LIMIT {batch}");
                let ids = select_ids(&mut tx, &sql, &a, cutoff, &binds).await?;
                let (_, files) = self.delete_message_rows(&mut tx, &a, &ids).await?;
                (ids.len() as u64, files)
            }
            DataClass::Attachments => {
                let (condition, binds) = message_condition(policy, &others, "a.created_at");
                let sql = format!(
                    "SELECT DISTINCT a.message_id AS id FROM attachments a JOIN messages m ON m.id = a.message_id \
                     WHERE a.account_id = $1 AND {condition} LIMIT {batch}"
                );
                let messages = select_ids(&mut tx, &sql, &a, cutoff, &binds).await?;
                self.delete_attachments(&mut tx, &a, &messages).await?
            }
            DataClass::Events => {
                let sql = format!("SELECT id FROM events WHERE account_id = $1 AND occurred_at < $2 ORDER BY occurred_at LIMIT {batch}");
                let ids = select_ids(&mut tx, &sql, &a, cutoff, &[]).await?;
                for chunk in ids.chunks(500) {
                    let list = rows::list(2, chunk.len());
                    for table_column in [("webhook_deliveries", "event_id"), ("events", "id")] {
                        let sql = format!("DELETE FROM {} WHERE account_id = $1 AND {} IN ({list})", table_column.0, table_column.1);
                        let mut query = sqlx::query(&sql).bind(&a);
                        for id in chunk {
                            query = query.bind(id.as_str());
                        }
                        query.execute(tx.conn()).await?;
                    }
                }
                (ids.len() as u64, Vec::new())
            }
            DataClass::Audit => (self.purge_audit(&mut tx, account_id, cutoff).await?, Vec::new()),
        };
        tx.commit().await?;
        if !files.is_empty() {
            self.finish_removal(account_id, files).await;
        }
        Ok(removed)
    }

    /// Removes the account's audit entries older than `cutoff` — always the
    /// oldest block of the chain — and appends the record verification
    /// starts from.
    async fn purge_audit(&self, tx: &mut crate::WriteTx, account_id: AccountId, cutoff: i64) -> Result<u64> {
        let a = account_id.to_string();
        let through: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_log WHERE account_id = $1 AND created_at < $2")
            .bind(&a)
            .bind(cutoff)
            .fetch_one(tx.conn())
            .await?;
        let Some(through) = through else { return Ok(0) };
        let last_hash: String = sqlx::query_scalar("SELECT hash FROM audit_log WHERE account_id = $1 AND seq = $2")
            .bind(&a)
            .bind(through)
            .fetch_one(tx.conn())
            .await?;
        let done =
            sqlx::query("DELETE FROM audit_log WHERE account_id = $1 AND seq <= $2").bind(&a).bind(through).execute(tx.conn()).await?;
        let data = serde_json::json!({ "through_seq": through, "last_hash": last_hash, "count": done.rows_affected() });
        audit(tx, account_id, "system", PURGED, "audit_log", &a, data, now()).await?;
        Ok(done.rows_affected())
    }
}

async fn select_ids(tx: &mut crate::WriteTx, sql: &str, a: &str, cutoff: i64, binds: &[String]) -> Result<Vec<String>> {
    let mut query = sqlx::query(sql).bind(a).bind(cutoff);
    for b in binds {
        query = query.bind(b.as_str());
    }
    query.fetch_all(tx.conn()).await?.iter().map(|r| rows::text(r, "id")).collect()
}
