//! Proof that an account controls an email address, before Threadline's
//! SMTP listener routes mail for it to the account: a domain the operator
//! assigned to the account, or a code mailed to the address and typed back.
//! Without either, an account could claim another company's address and
//! read its mail.

use serde::Serialize;
use threadline_domain::ids::{AccountId, InboxId};
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, found, is_unique_violation, micros, now, rows};

/// Wrong codes allowed before the code is void and a new one must be sent.
pub const MAX_CODE_ATTEMPTS: i64 = 5;

/// Where an inbox's address stands.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MailAddress {
    /// The address the record is about (the inbox's address may since have
    /// changed, which makes it unverified again).
    pub address: String,
    /// `pending` (a code is out) or `verified`.
    pub status: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub code_expires_at: Option<OffsetDateTime>,
    #[serde(skip)]
    pub code_hash: Option<String>,
    #[serde(skip)]
    pub attempts: i64,
    /// Codes sent since `last_sent_at`'s day began counting (see the server's limits).
    #[serde(skip)]
    pub sends: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_sent_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub verified_at: Option<OffsetDateTime>,
}

/// What typing a code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeOutcome {
    Verified,
    /// Wrong; this many tries are left before the code is void.
    Wrong {
        attempts_left: i64,
    },
    /// No code is out, it expired, or too many wrong tries voided it.
    NoValidCode,
}

fn mail_address(row: &sqlx::any::AnyRow) -> Result<MailAddress> {
    Ok(MailAddress {
        address: rows::text(row, "address")?,
        status: rows::text(row, "status")?,
        code_expires_at: rows::opt_time(row, "code_expires_at")?,
        code_hash: rows::opt_text(row, "code_hash")?,
        attempts: rows::int(row, "attempts")?,
        sends: rows::int(row, "sends")?,
        last_sent_at: rows::opt_time(row, "last_sent_at")?,
        verified_at: rows::opt_time(row, "verified_at")?,
    })
}

impl Store {
    /// Assigns `domain` (lower-case) to an account (operators). Assigning it
    /// again to the same account does nothing; another account's domain is
    /// a conflict.
    pub async fn assign_domain(&self, account_id: AccountId, domain: &str, actor: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("INSERT INTO account_domains (domain, account_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (domain) DO NOTHING")
                .bind(domain)
                .bind(account_id.to_string())
                .bind(micros(now()))
                .execute(tx.conn())
                .await?;
        if done.rows_affected() == 0 {
            let owner: String =
                sqlx::query_scalar("SELECT account_id FROM account_domains WHERE domain = $1").bind(domain).fetch_one(tx.conn()).await?;
            if owner != account_id.to_string() {
                return Err(StoreError::Conflict(format!("the domain {domain} is assigned to another account")));
            }
        }
        crate::audit::audit(&mut tx, account_id, actor, "domain.assign", "domain", domain, serde_json::json!({}), now()).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn unassign_domain(&self, account_id: AccountId, domain: &str, actor: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM account_domains WHERE domain = $1 AND account_id = $2")
            .bind(domain)
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        found(&done)?;
        crate::audit::audit(&mut tx, account_id, actor, "domain.unassign", "domain", domain, serde_json::json!({}), now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The domains assigned to an account, sorted.
    pub async fn account_domains(&self, account_id: AccountId) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT domain FROM account_domains WHERE account_id = $1 ORDER BY domain")
            .bind(account_id.to_string())
            .fetch_all(&self.pool)
            .await?)
    }

    /// Which account a domain is assigned to, if any.
    pub async fn domain_owner(&self, domain: &str) -> Result<Option<AccountId>> {
        let owner: Option<String> =
            sqlx::query_scalar("SELECT account_id FROM account_domains WHERE domain = $1").bind(domain).fetch_optional(&self.pool).await?;
        owner.map(|o| o.parse().map_err(|_| StoreError::Corrupt("account id of a domain".into()))).transpose()
    }

    /// Every assigned domain and its account (to route mail).
    pub async fn all_account_domains(&self) -> Result<Vec<(String, AccountId)>> {
        let found = sqlx::query("SELECT domain, account_id FROM account_domains").fetch_all(&self.pool).await?;
        found.iter().map(|row| Ok((rows::text(row, "domain")?, rows::parse(row, "account_id")?))).collect()
    }

    pub async fn mail_address(&self, account_id: AccountId, inbox_id: InboxId) -> Result<Option<MailAddress>> {
        let row = sqlx::query("SELECT * FROM mail_addresses WHERE inbox_id = $1 AND account_id = $2")
            .bind(inbox_id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(mail_address).transpose()
    }

    /// Records that a new code (kept as `code_hash`) was mailed to
    /// `address`: earlier codes are void, the tries start again. `sends` is
    /// what the caller counted, this one included.
    pub async fn mail_address_code_sent(
        &self,
        account_id: AccountId,
        inbox_id: InboxId,
        address: &str,
        code_hash: &str,
        expires_at: OffsetDateTime,
        sends: i64,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO mail_addresses (inbox_id, account_id, address, status, code_hash, code_expires_at, attempts, sends, last_sent_at) \
             VALUES ($1, $2, $3, 'pending', $4, $5, 0, $6, $7) \
             ON CONFLICT (inbox_id) DO UPDATE SET address = excluded.address, status = 'pending', code_hash = excluded.code_hash, \
             code_expires_at = excluded.code_expires_at, attempts = 0, sends = excluded.sends, last_sent_at = excluded.last_sent_at, \
             verified_at = NULL",
        )
        .bind(inbox_id.to_string())
        .bind(account_id.to_string())
        .bind(address)
        .bind(code_hash)
        .bind(micros(expires_at))
        .bind(sends)
        .bind(micros(now()))
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks a typed code (its hash) against the one out for the inbox.
    /// A verified address is unique in the installation: if another inbox
    /// has proven it first, the answer is a conflict.
    pub async fn confirm_mail_address(
        &self,
        account_id: AccountId,
        inbox_id: InboxId,
        code_hash: &str,
        actor: &str,
    ) -> Result<CodeOutcome> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT * FROM mail_addresses WHERE inbox_id = $1 AND account_id = $2")
            .bind(inbox_id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(tx.conn())
            .await?;
        let Some(record) = row.as_ref().map(mail_address).transpose()? else { return Ok(CodeOutcome::NoValidCode) };
        let (Some(expected), Some(expires)) = (&record.code_hash, record.code_expires_at) else { return Ok(CodeOutcome::NoValidCode) };
        if record.status != "pending" || expires <= now() || record.attempts >= MAX_CODE_ATTEMPTS {
            return Ok(CodeOutcome::NoValidCode);
        }
        if !crate::constant_time_eq(expected.as_bytes(), code_hash.as_bytes()) {
            sqlx::query("UPDATE mail_addresses SET attempts = attempts + 1 WHERE inbox_id = $1")
                .bind(inbox_id.to_string())
                .execute(tx.conn())
                .await?;
            tx.commit().await?;
            return Ok(CodeOutcome::Wrong { attempts_left: MAX_CODE_ATTEMPTS - record.attempts - 1 });
        }
        let verified = sqlx::query(
            "UPDATE mail_addresses SET status = 'verified', code_hash = NULL, code_expires_at = NULL, verified_at = $2 WHERE inbox_id = $1",
        )
        .bind(inbox_id.to_string())
        .bind(micros(now()))
        .execute(tx.conn())
        .await;
        match verified {
            Err(e) if is_unique_violation(&e) => {
                tx.rollback().await?;
                Err(StoreError::Conflict(format!("{} is already verified by another inbox", record.address)))
            }
            Err(e) => Err(e.into()),
            Ok(_) => {
                let data = serde_json::json!({ "method": "code" });
                crate::audit::audit(&mut tx, account_id, actor, "inbox.address_verified", "inbox", &inbox_id.to_string(), data, now())
                    .await?;
                tx.commit().await?;
                Ok(CodeOutcome::Verified)
            }
        }
    }

    /// Every inbox whose address was verified by a code: (address, account, inbox).
    pub async fn verified_mail_addresses(&self) -> Result<Vec<(String, AccountId, InboxId)>> {
        let found = sqlx::query(
            "SELECT m.address, m.account_id, m.inbox_id FROM mail_addresses m JOIN inboxes i ON i.id = m.inbox_id \
             WHERE m.status = 'verified' AND i.deleted_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(|row| Ok((rows::text(row, "address")?, rows::parse(row, "account_id")?, rows::parse(row, "inbox_id")?))).collect()
    }
}
