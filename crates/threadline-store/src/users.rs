//! Users (agents, supervisors, admins), their web sessions and API tokens.
//!
//! Secrets are never stored: sessions and API tokens are kept as SHA-256
//! hashes of high-entropy random values (a hash lookup, so authenticating a
//! request is one indexed read), passwords as argon2 hashes made by the caller.

use serde::Serialize;
use sqlx::any::AnyRow;
use threadline_domain::ids::{AccountId, ApiTokenId, UserId};
use threadline_domain::role::{Role, Scope};
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, found, micros, now, rows};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub account_id: AccountId,
    pub email: String,
    pub name: String,
    pub role: Role,
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// The workspace language the user chose (`en`, `it`); none follows the browser.
    pub language: Option<String>,
    /// Skills and capacity, for routing.
    pub routing: crate::routing::AgentRouting,
    /// The number (E.164) or SIP address they answer calls on.
    pub phone: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub user_id: UserId,
    pub name: String,
    /// What the token may do beyond acting as its user.
    pub scopes: Vec<Scope>,
    /// The first characters of the token, to recognise it in a list.
    pub prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// A signed-in browser session.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub password_hash: Option<String>,
}

const USER_COLUMNS: &str = "u.id, u.account_id, u.email, u.name, u.role, u.password_hash, u.language, u.routing, u.phone, u.created_at";

fn user(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: rows::parse(row, "id")?,
        account_id: rows::parse(row, "account_id")?,
        email: rows::text(row, "email")?,
        name: rows::text(row, "name")?,
        role: rows::enum_of(row, "role", Role::parse)?,
        password_hash: rows::opt_text(row, "password_hash")?,
        language: rows::opt_text(row, "language")?,
        routing: match rows::opt_text(row, "routing")? {
            Some(raw) => serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("user routing: {e}")))?,
            None => Default::default(),
        },
        phone: rows::opt_text(row, "phone")?,
        created_at: rows::time(row, "created_at")?,
    })
}

fn scopes_text(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

/// Unknown words (from a newer version) are ignored: a token never gains a
/// right by being read.
fn parse_scopes(text: &str) -> Vec<Scope> {
    text.split(',').filter_map(|s| Scope::parse(s.trim())).collect()
}

impl Store {
    /// Creates a user. The e-mail address is the login and is unique within
    /// the account (the same person may be a user of several accounts): a
    /// conflict names it.
    #[tracing::instrument(skip_all, fields(account = %account_id))]
    pub async fn create_user(
        &self,
        account_id: AccountId,
        email: &str,
        name: &str,
        role: Role,
        password_hash: Option<String>,
        actor: &str,
    ) -> Result<User> {
        let user = User {
            id: UserId::new(),
            account_id,
            email: email.to_owned(),
            name: name.to_owned(),
            role,
            password_hash,
            language: None,
            routing: Default::default(),
            phone: None,
            created_at: now(),
        };
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, account_id, email, name, role, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id, email) DO NOTHING",
        )
        .bind(user.id.to_string())
        .bind(account_id.to_string())
        .bind(&user.email)
        .bind(&user.name)
        .bind(role.as_str())
        .bind(user.password_hash.clone())
        .bind(micros(user.created_at))
        .execute(tx.conn())
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("a user with email {email} already exists")));
        }
        crate::audit::audit(
            &mut tx,
            account_id,
            actor,
            "user.create",
            "user",
            &user.id.to_string(),
            serde_json::json!({ "role": role }),
            now(),
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn user(&self, account_id: AccountId, id: UserId) -> Result<User> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1 AND u.account_id = $2 AND u.deleted_at IS NULL");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        user(&row)
    }

    /// The active users with this login e-mail, across accounts (for
    /// sign-in), oldest first, at most `limit`, each with its account's name.
    pub async fn users_by_email(&self, email: &str, limit: i64) -> Result<Vec<(User, String)>> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, a.name AS account_name FROM users u JOIN accounts a ON a.id = u.account_id \
             WHERE u.email = $1 AND u.deleted_at IS NULL ORDER BY u.created_at, u.id LIMIT $2"
        );
        let rows = sqlx::query(&sql).bind(email).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(|row| Ok((user(row)?, rows::text(row, "account_name")?))).collect()
    }

    pub async fn users(&self, account_id: AccountId) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.account_id = $1 AND u.deleted_at IS NULL ORDER BY u.name, u.id");
        let rows = sqlx::query(&sql).bind(account_id.to_string()).fetch_all(&self.pool).await?;
        rows.iter().map(user).collect()
    }

    /// Sets (or with `None` clears) the workspace language a user chose.
    pub async fn set_user_language(&self, account_id: AccountId, id: UserId, language: Option<&str>) -> Result<User> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE users SET language = $3 WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .bind(language)
            .execute(tx.conn())
            .await?;
        found(&done)?;
        tx.commit().await?;
        self.user(account_id, id).await
    }

    /// Sets (or with `None` clears) the number a user answers calls on.
    pub async fn set_user_phone(&self, account_id: AccountId, id: UserId, phone: Option<&str>) -> Result<User> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE users SET phone = $3 WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .bind(phone)
            .execute(tx.conn())
            .await?;
        found(&done)?;
        tx.commit().await?;
        self.user(account_id, id).await
    }

    /// Changes a user. A new password ends every web session of the user.
    pub async fn update_user(&self, account_id: AccountId, id: UserId, changes: UserChanges, actor: &str) -> Result<User> {
        let mut tx = self.begin_write().await?;
        let password_changed = changes.password_hash.is_some();
        // What changed, never to what (a password is only "changed").
        let changed = serde_json::json!({
            "name": changes.name.is_some(),
            "role": changes.role.map(|r| r.as_str()),
            "password": password_changed,
        });
        let done = sqlx::query(
            "UPDATE users SET name = COALESCE($3, name), role = COALESCE($4, role), \
             password_hash = COALESCE($5, password_hash) WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .bind(changes.name)
        .bind(changes.role.map(|r| r.as_str().to_owned()))
        .bind(changes.password_hash)
        .execute(tx.conn())
        .await?;
        found(&done)?;
        if password_changed {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id.to_string()).execute(tx.conn()).await?;
        }
        crate::audit::audit(&mut tx, account_id, actor, "user.update", "user", &id.to_string(), changed, now()).await?;
        tx.commit().await?;
        self.user(account_id, id).await
    }

    /// Deactivates a user: they can no longer sign in and their sessions and
    /// tokens stop working; their past messages keep their name.
    pub async fn deactivate_user(&self, account_id: AccountId, id: UserId, actor: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let at = micros(now());
        let done = sqlx::query("UPDATE users SET deleted_at = $3 WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .bind(at)
            .execute(tx.conn())
            .await?;
        found(&done)?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id.to_string()).execute(tx.conn()).await?;
        sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(id.to_string())
            .bind(at)
            .execute(tx.conn())
            .await?;
        crate::audit::audit(&mut tx, account_id, actor, "user.deactivate", "user", &id.to_string(), serde_json::json!({}), now()).await?;
        tx.commit().await?;
        Ok(())
    }

    // --- sessions -------------------------------------------------------

    pub async fn create_session(&self, user_id: UserId, token_hash: &str, csrf_token: &str, expires_at: OffsetDateTime) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash)
            .bind(user_id.to_string())
            .bind(csrf_token)
            .bind(micros(now()))
            .bind(micros(expires_at))
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live session with this token hash, if any.
    pub async fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, s.csrf_token, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.deleted_at IS NULL"
        );
        let row = sqlx::query(&sql).bind(token_hash).bind(micros(now())).fetch_optional(&self.pool).await?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some(Session {
                user: user(&row)?,
                csrf_token: rows::text(&row, "csrf_token")?,
                expires_at: rows::time(&row, "expires_at")?,
            })),
        }
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1 OR expires_at < $2")
            .bind(token_hash)
            .bind(micros(now()))
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // --- API tokens -----------------------------------------------------

    pub async fn create_api_token(
        &self,
        user: &User,
        name: &str,
        token_hash: &str,
        prefix: &str,
        scopes: &[Scope],
        actor: &str,
    ) -> Result<ApiToken> {
        let mut scopes = scopes.to_vec();
        scopes.sort_by_key(|s| s.as_str());
        scopes.dedup();
        let token = ApiToken {
            id: ApiTokenId::new(),
            user_id: user.id,
            name: name.to_owned(),
            scopes,
            prefix: prefix.to_owned(),
            created_at: now(),
            last_used_at: None,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, account_id, user_id, name, token_hash, prefix, created_at, scopes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(token.id.to_string())
        .bind(user.account_id.to_string())
        .bind(user.id.to_string())
        .bind(name)
        .bind(token_hash)
        .bind(prefix)
        .bind(micros(token.created_at))
        .bind(scopes_text(&token.scopes))
        .execute(tx.conn())
        .await?;
        crate::audit::audit(
            &mut tx,
            user.account_id,
            actor,
            "api_token.create",
            "api_token",
            &token.id.to_string(),
            serde_json::json!({ "user_id": user.id, "scopes": token.scopes, "prefix": token.prefix }),
            now(),
        )
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The user an unrevoked API token with this hash belongs to, and the
    /// token's scopes.
    pub async fn user_by_api_token(&self, token_hash: &str) -> Result<Option<(User, Vec<Scope>)>> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, t.scopes FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.deleted_at IS NULL"
        );
        let row = sqlx::query(&sql).bind(token_hash).fetch_optional(&self.pool).await?;
        row.as_ref().map(|row| Ok((user(row)?, parse_scopes(&rows::text(row, "scopes")?)))).transpose()
    }

    pub async fn api_tokens(&self, account_id: AccountId) -> Result<Vec<ApiToken>> {
        let rows = sqlx::query(
            "SELECT id, user_id, name, prefix, created_at, last_used_at, scopes FROM api_tokens \
             WHERE account_id = $1 AND revoked_at IS NULL ORDER BY created_at, id",
        )
        .bind(account_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ApiToken {
                    id: rows::parse(row, "id")?,
                    user_id: rows::parse(row, "user_id")?,
                    name: rows::text(row, "name")?,
                    scopes: parse_scopes(&rows::text(row, "scopes")?),
                    prefix: rows::text(row, "prefix")?,
                    created_at: rows::time(row, "created_at")?,
                    last_used_at: rows::opt_time(row, "last_used_at")?,
                })
            })
            .collect()
    }

    pub async fn revoke_api_token(&self, account_id: AccountId, id: ApiTokenId, actor: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .bind(micros(now()))
            .execute(tx.conn())
            .await?;
        found(&done)?;
        crate::audit::audit(&mut tx, account_id, actor, "api_token.revoke", "api_token", &id.to_string(), serde_json::json!({}), now())
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
