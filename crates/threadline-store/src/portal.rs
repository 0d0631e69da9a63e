//! The customer portal's sign-in codes and sessions
//! (`threadline_domain::portal` holds the rules). Codes are kept as hashes
//! and never read back; issuing one counts the address's recent codes in
//! the same transaction, so the limit holds across nodes; a right code is
//! spent and its session opened in one transaction.

use threadline_domain::identity::{IdentityKind, NormalizedIdentity};
use threadline_domain::ids::{AccountId, ContactId};
use threadline_domain::portal::{CODE_TTL, CODE_WINDOW, CODES_PER_WINDOW, CodeCheck, SESSION_TTL, check_code};
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, micros, rows};

/// A signed-in customer.
#[derive(Debug, Clone, PartialEq)]
pub struct PortalSession {
    pub account_id: AccountId,
    pub contact_id: ContactId,
    /// The address they proved they own.
    pub identity: NormalizedIdentity,
    /// Repeated by the portal's forms.
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

/// What became of a request for a code.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeIssue {
    /// The code is stored for this customer; send it.
    Issued(ContactId),
    /// No customer of the account has this address: nothing is sent.
    Unknown,
    /// The address was sent [`CODES_PER_WINDOW`] codes lately.
    TooMany,
}

/// What became of a try at a code.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeTry {
    SignedIn(PortalSession),
    Refused(CodeCheck),
}

fn kinds(kind: IdentityKind) -> Vec<String> {
    let mut kinds: Vec<String> = kind.equivalents().iter().map(|k| k.as_str().to_owned()).collect();
    if !kinds.contains(&kind.as_str().to_owned()) {
        kinds.push(kind.as_str().to_owned());
    }
    kinds
}

impl Store {
    /// Stores a code for the customer who owns `identity` (or an
    /// equivalent identity: a WhatsApp number is a phone number), unless
    /// the address had too many lately; earlier codes stop working.
    pub async fn issue_portal_code(
        &self,
        account_id: AccountId,
        identity: &NormalizedIdentity,
        code_hash: &str,
        at: OffsetDateTime,
    ) -> Result<CodeIssue> {
        let a = account_id.to_string();
        let mut tx = self.begin_write().await?;
        tx.lock_keys(account_id, &[format!("portal:{}", identity.value)]).await?;
        let kinds = kinds(identity.kind);
        let sql = format!(
            "SELECT i.contact_id FROM identities i JOIN contacts c ON c.id = i.contact_id \
             WHERE i.account_id = $1 AND i.value = $2 AND c.merged_into IS NULL AND c.erased_at IS NULL AND i.kind IN ({}) \
             ORDER BY i.created_at, i.id LIMIT 1",
            rows::list(3, kinds.len())
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql).bind(&a).bind(&identity.value);
        for kind in &kinds {
            query = query.bind(kind);
        }
        let Some(contact) = query.fetch_optional(tx.conn()).await? else {
            tx.rollback().await?;
            return Ok(CodeIssue::Unknown);
        };
        let contact_id: ContactId = contact.parse().map_err(|_| StoreError::Corrupt(contact))?;
        let recent: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM portal_codes WHERE account_id = $1 AND identity_kind = $2 AND identity_value = $3 AND created_at > $4",
        )
        .bind(&a)
        .bind(identity.kind.as_str())
        .bind(&identity.value)
        .bind(micros(at - CODE_WINDOW))
        .fetch_one(tx.conn())
        .await?;
        if recent >= CODES_PER_WINDOW {
            tx.rollback().await?;
            return Ok(CodeIssue::TooMany);
        }
        // Codes past their window are of no more use, to anyone.
        sqlx::query("DELETE FROM portal_codes WHERE account_id = $1 AND expires_at < $2")
            .bind(&a)
            .bind(micros(at - CODE_WINDOW))
            .execute(tx.conn())
            .await?;
        sqlx::query(
            "UPDATE portal_codes SET spent_at = $4 WHERE account_id = $1 AND identity_kind = $2 AND identity_value = $3 AND spent_at IS NULL",
        )
        .bind(&a)
        .bind(identity.kind.as_str())
        .bind(&identity.value)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        sqlx::query(
            "INSERT INTO portal_codes (id, account_id, contact_id, identity_kind, identity_value, code_hash, tries, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&a)
        .bind(contact_id.to_string())
        .bind(identity.kind.as_str())
        .bind(&identity.value)
        .bind(code_hash)
        .bind(micros(at))
        .bind(micros(at + CODE_TTL))
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(CodeIssue::Issued(contact_id))
    }

    /// Tries a code for `identity`: a right one is spent and opens a
    /// session (its cookie's hash `token_hash`); a wrong one uses a try.
    pub async fn try_portal_code(
        &self,
        account_id: AccountId,
        identity: &NormalizedIdentity,
        code_hash: &str,
        token_hash: &str,
        csrf_token: &str,
        at: OffsetDateTime,
    ) -> Result<CodeTry> {
        let a = account_id.to_string();
        let mut tx = self.begin_write().await?;
        tx.lock_keys(account_id, &[format!("portal:{}", identity.value)]).await?;
        let row = sqlx::query(
            "SELECT id, contact_id, code_hash, tries FROM portal_codes \
             WHERE account_id = $1 AND identity_kind = $2 AND identity_value = $3 AND spent_at IS NULL AND expires_at > $4 \
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(&a)
        .bind(identity.kind.as_str())
        .bind(&identity.value)
        .bind(micros(at))
        .fetch_optional(tx.conn())
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(CodeTry::Refused(CodeCheck::NoCode));
        };
        let id = rows::text(&row, "id")?;
        let contact_id: ContactId = rows::parse(&row, "contact_id")?;
        let check = check_code(&rows::text(&row, "code_hash")?, rows::int(&row, "tries")?, code_hash);
        match check {
            CodeCheck::Right => {
                sqlx::query("UPDATE portal_codes SET spent_at = $2 WHERE id = $1").bind(&id).bind(micros(at)).execute(tx.conn()).await?;
                let expires_at = at + SESSION_TTL;
                sqlx::query(
                    "INSERT INTO portal_sessions (token_hash, account_id, contact_id, identity_kind, identity_value, csrf_token, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(token_hash)
                .bind(&a)
                .bind(contact_id.to_string())
                .bind(identity.kind.as_str())
                .bind(&identity.value)
                .bind(csrf_token)
                .bind(micros(at))
                .bind(micros(expires_at))
                .execute(tx.conn())
                .await?;
                // Expired codes and sessions of the account go on the way.
                sqlx::query("DELETE FROM portal_codes WHERE account_id = $1 AND expires_at < $2")
                    .bind(&a)
                    .bind(micros(at - CODE_WINDOW))
                    .execute(tx.conn())
                    .await?;
                sqlx::query("DELETE FROM portal_sessions WHERE account_id = $1 AND expires_at < $2")
                    .bind(&a)
                    .bind(micros(at))
                    .execute(tx.conn())
                    .await?;
                tx.commit().await?;
                let identity = identity.clone();
                Ok(CodeTry::SignedIn(PortalSession { account_id, contact_id, identity, csrf_token: csrf_token.to_owned(), expires_at }))
            }
            CodeCheck::Wrong { .. } => {
                sqlx::query("UPDATE portal_codes SET tries = tries + 1 WHERE id = $1").bind(&id).execute(tx.conn()).await?;
                tx.commit().await?;
                Ok(CodeTry::Refused(check))
            }
            CodeCheck::NoCode => {
                tx.rollback().await?;
                Ok(CodeTry::Refused(check))
            }
        }
    }

    /// The session a portal cookie names, if it is still open and its
    /// customer still there (an erased or merged record signs them out).
    pub async fn portal_session(&self, account_id: AccountId, token_hash: &str, at: OffsetDateTime) -> Result<Option<PortalSession>> {
        let row = sqlx::query(
            "SELECT s.contact_id, s.identity_kind, s.identity_value, s.csrf_token, s.expires_at FROM portal_sessions s \
             JOIN contacts c ON c.id = s.contact_id \
             WHERE s.token_hash = $1 AND s.account_id = $2 AND s.expires_at > $3 AND c.merged_into IS NULL AND c.erased_at IS NULL",
        )
        .bind(token_hash)
        .bind(account_id.to_string())
        .bind(micros(at))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let kind = rows::enum_of(&row, "identity_kind", |s| s.parse::<IdentityKind>().ok())?;
        Ok(Some(PortalSession {
            account_id,
            contact_id: rows::parse(&row, "contact_id")?,
            identity: NormalizedIdentity { kind, value: rows::text(&row, "identity_value")? },
            csrf_token: rows::text(&row, "csrf_token")?,
            expires_at: rows::time(&row, "expires_at")?,
        }))
    }

    /// Signs a portal session out.
    pub async fn close_portal_session(&self, account_id: AccountId, token_hash: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM portal_sessions WHERE token_hash = $1 AND account_id = $2")
            .bind(token_hash)
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
