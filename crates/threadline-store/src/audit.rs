//! The audit log: who changed what, append-only, one hash chain per account
//! (`threadline_domain::audit`).
//!
//! Entries are written in the transaction of the change they record, and
//! never carry secrets or a customer's personal data — ids, field names,
//! roles, counts — so erasing a person never has to touch the chain. Each
//! account's chain head (`audit_heads`) is locked while an entry is appended
//! (`FOR UPDATE` on PostgreSQL; SQLite's writer is one already), so
//! concurrent writers number entries without gaps.

use serde::Serialize;
use threadline_domain::audit::{AuditRecord, ChainBreak, ChainReport, ChainVerifier, GENESIS, StoredAuditEntry};
use threadline_domain::ids::{AccountId, AuditEntryId};
use time::OffsetDateTime;

use crate::{Backend, Result, Store, StoreError, WriteTx, micros, rows};

/// One audited action.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: AuditEntryId,
    /// The entry's number in the account's chain.
    pub seq: Option<i64>,
    /// `user:<id>`, `operator`, `cli` or `system`.
    pub actor: String,
    pub action: String,
    pub subject_type: String,
    pub subject_id: String,
    pub data: serde_json::Value,
    /// SHA-256 of the entry and the hash before it (see `GET /audit-log/verify`).
    pub hash: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Appends an entry to the account's chain, in the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn audit(
    tx: &mut WriteTx,
    account_id: AccountId,
    actor: &str,
    action: &str,
    subject_type: &str,
    subject_id: &str,
    data: serde_json::Value,
    at: OffsetDateTime,
) -> Result<()> {
    let (record, prev_hash, hash) = link(
        tx,
        AuditRecord {
            id: AuditEntryId::new().to_string(),
            account_id: account_id.to_string(),
            seq: 0,
            actor: actor.to_owned(),
            action: action.to_owned(),
            subject_type: subject_type.to_owned(),
            subject_id: subject_id.to_owned(),
            data: data.to_string(),
            created_at: micros(at),
        },
    )
    .await?;
    sqlx::query(
        "INSERT INTO audit_log (id, account_id, actor, action, subject_type, subject_id, data, created_at, seq, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&record.id)
    .bind(&record.account_id)
    .bind(&record.actor)
    .bind(&record.action)
    .bind(&record.subject_type)
    .bind(&record.subject_id)
    .bind(&record.data)
    .bind(record.created_at)
    .bind(record.seq)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(tx.conn())
    .await?;
    advance_head(tx, account_id, record.seq, &hash).await
}

/// Numbers `record` after the account's chain head and hashes it; returns
/// it with the hash it links to and its own.
async fn link(tx: &mut WriteTx, mut record: AuditRecord) -> Result<(AuditRecord, String, String)> {
    let account_id: AccountId = record.account_id.parse().map_err(|_| StoreError::Corrupt("audit account id".into()))?;
    let (seq, prev_hash) = chain_head(tx, account_id).await?;
    record.seq = seq + 1;
    let hash = record.hash(&prev_hash);
    Ok((record, prev_hash, hash))
}

/// Moves the account's chain head to the entry just written.
async fn advance_head(tx: &mut WriteTx, account_id: AccountId, seq: i64, hash: &str) -> Result<()> {
    sqlx::query("UPDATE audit_heads SET seq = $2, hash = $3 WHERE account_id = $1")
        .bind(account_id.to_string())
        .bind(seq)
        .bind(hash)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The account's last entry number and hash, locked for this transaction
/// (created at the beginning of the chain the first time).
async fn chain_head(tx: &mut WriteTx, account_id: AccountId) -> Result<(i64, String)> {
    sqlx::query("INSERT INTO audit_heads (account_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT (account_id) DO NOTHING")
        .bind(account_id.to_string())
        .bind(GENESIS)
        .execute(tx.conn())
        .await?;
    let lock = if tx.backend == Backend::Postgres { " FOR UPDATE" } else { "" };
    let row = sqlx::query(&format!("SELECT seq, hash FROM audit_heads WHERE account_id = $1{lock}"))
        .bind(account_id.to_string())
        .fetch_one(tx.conn())
        .await?;
    Ok((rows::int(&row, "seq")?, rows::text(&row, "hash")?))
}

pub(crate) fn entry(row: &sqlx::any::AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: rows::parse(row, "id")?,
        seq: rows::opt_int(row, "seq")?,
        actor: rows::text(row, "actor")?,
        action: rows::text(row, "action")?,
        subject_type: rows::text(row, "subject_type")?,
        subject_id: rows::text(row, "subject_id")?,
        data: rows::json(row, "data")?,
        hash: rows::opt_text(row, "hash")?,
        created_at: rows::time(row, "created_at")?,
    })
}

/// Keys an entry written before the chain existed may carry a customer's
/// personal data under (an identity's value, a consent's free-text source):
/// dropped when the entry is chained, so that erasing a person never needs
/// to touch the chain.
const PERSONAL_KEYS: &[&str] = &["value", "source"];

impl Store {
    /// Records an action in its own transaction (for actions that change
    /// nothing else, such as an export).
    pub async fn record_audit(
        &self,
        account_id: AccountId,
        actor: &str,
        action: &str,
        subject: (&str, &str),
        data: serde_json::Value,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        audit(&mut tx, account_id, actor, action, subject.0, subject.1, data, crate::now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The audit log, newest first, optionally for one subject.
    pub async fn audit_log(
        &self,
        account_id: AccountId,
        subject_id: Option<&str>,
        before: Option<AuditEntryId>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, seq, actor, action, subject_type, subject_id, data, hash, created_at FROM audit_log \
             WHERE account_id = $1 AND ($2 IS NULL OR subject_id = $2) AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
        )
        .bind(account_id.to_string())
        .bind(subject_id.map(str::to_owned))
        .bind(before.map(|b| b.to_string()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry).collect()
    }

    /// Walks the account's whole chain in order and checks every link.
    pub async fn verify_audit_chain(&self, account_id: AccountId) -> Result<Result<ChainReport, ChainBreak>> {
        let mut verifier = ChainVerifier::new();
        let mut after = i64::MIN;
        loop {
            let page = sqlx::query(
                "SELECT id, account_id, seq, actor, action, subject_type, subject_id, data, created_at, prev_hash, hash FROM audit_log \
                 WHERE account_id = $1 AND seq > $2 ORDER BY seq LIMIT 1000",
            )
            .bind(account_id.to_string())
            .bind(after)
            .fetch_all(&self.pool)
            .await?;
            let Some(last) = page.last() else { break };
            after = rows::int(last, "seq")?;
            for row in &page {
                let stored = StoredAuditEntry {
                    record: AuditRecord {
                        id: rows::text(row, "id")?,
                        account_id: rows::text(row, "account_id")?,
                        seq: rows::int(row, "seq")?,
                        actor: rows::text(row, "actor")?,
                        action: rows::text(row, "action")?,
                        subject_type: rows::text(row, "subject_type")?,
                        subject_id: rows::text(row, "subject_id")?,
                        data: rows::text(row, "data")?,
                        created_at: rows::int(row, "created_at")?,
                    },
                    prev_hash: rows::text(row, "prev_hash")?,
                    hash: rows::text(row, "hash")?,
                };
                if let Err(broken) = verifier.push(&stored) {
                    return Ok(Err(broken));
                }
            }
        }
        // The head must name the last entry: removing the newest entries
        // would otherwise go unnoticed.
        let head = sqlx::query("SELECT seq FROM audit_heads WHERE account_id = $1")
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let report = match verifier.finish() {
            Ok(report) => report,
            Err(broken) => return Ok(Err(broken)),
        };
        if let Some(head) = head {
            let head_seq = rows::int(&head, "seq")?;
            if report.last_seq.unwrap_or(0) != head_seq {
                return Ok(Err(ChainBreak::Gap { previous: report.last_seq.unwrap_or(0), seq: head_seq }));
            }
        }
        Ok(Ok(report))
    }

    /// Chains the entries written before the chain existed (once, at start),
    /// dropping personal data they may hold.
    pub(crate) async fn chain_unchained_audit_entries(&self) -> Result<()> {
        loop {
            let page = sqlx::query(
                "SELECT id, account_id, actor, action, subject_type, subject_id, data, created_at FROM audit_log \
                 WHERE hash IS NULL ORDER BY account_id, created_at, id LIMIT 500",
            )
            .fetch_all(&self.pool)
            .await?;
            if page.is_empty() {
                return Ok(());
            }
            let mut tx = self.begin_write().await?;
            for row in &page {
                let account_id: AccountId = rows::parse(row, "account_id")?;
                let mut data: serde_json::Value = rows::json(row, "data")?;
                if let Some(map) = data.as_object_mut() {
                    for key in PERSONAL_KEYS {
                        map.remove(*key);
                    }
                }
                let (record, prev_hash, hash) = link(
                    &mut tx,
                    AuditRecord {
                        id: rows::text(row, "id")?,
                        account_id: account_id.to_string(),
                        seq: 0,
                        actor: rows::text(row, "actor")?,
                        action: rows::text(row, "action")?,
                        subject_type: rows::text(row, "subject_type")?,
                        subject_id: rows::text(row, "subject_id")?,
                        data: data.to_string(),
                        created_at: rows::int(row, "created_at")?,
                    },
                )
                .await?;
                let done =
                    sqlx::query("UPDATE audit_log SET data = $2, seq = $3, prev_hash = $4, hash = $5 WHERE id = $1 AND hash IS NULL")
                        .bind(&record.id)
                        .bind(&record.data)
                        .bind(record.seq)
                        .bind(&prev_hash)
                        .bind(&hash)
                        .execute(tx.conn())
                        .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Race);
                }
                advance_head(&mut tx, account_id, record.seq, &hash).await?;
            }
            tx.commit().await?;
        }
    }
}
