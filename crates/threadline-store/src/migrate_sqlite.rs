//! Schema changes SQLite cannot make inside a migration's transaction.
//!
//! Rebuilding a table that other tables reference needs foreign keys
//! switched off (`PRAGMA foreign_keys` is ignored inside a transaction,
//! and with them on, dropping the old table would cascade and renaming
//! would rewrite the other tables' references). Each change here runs on
//! a connection of its own, which is closed afterwards so that no pooled
//! connection is ever left with foreign keys off; the change itself is one
//! transaction, checked with `foreign_key_check` before it commits.

use sqlx::{AnyPool, Connection, Executor, Row};

use crate::{Result, StoreError};

/// Migration 14: user e-mails unique per account instead of across the
/// installation. Does nothing when the table already has that shape.
pub(crate) async fn rebuild_users_table(pool: &AnyPool) -> Result<()> {
    let sql: String =
        sqlx::query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'").fetch_one(pool).await?.try_get("sql")?;
    if sql.contains("users_account_email_unique") {
        return Ok(());
    }
    let mut conn = pool.acquire().await?.detach();
    conn.execute("PRAGMA foreign_keys = OFF").await?;
    let outcome = async {
        let mut tx = conn.begin().await?;
        tx.execute(
            "CREATE TABLE users_new (
                id TEXT PRIMARY KEY,
                account_id TEXT NOT NULL REFERENCES accounts(id),
                email TEXT NOT NULL,
                name TEXT NOT NULL,
                role TEXT NOT NULL,
                password_hash TEXT,
                created_at BIGINT NOT NULL,
                deleted_at BIGINT,
                language TEXT,
                routing TEXT,
                last_assigned_at BIGINT,
                CONSTRAINT users_account_email_unique UNIQUE (account_id, email)
            )",
        )
        .await?;
        tx.execute(
            "INSERT INTO users_new (id, account_id, email, name, role, password_hash, created_at, deleted_at, language, routing, last_assigned_at) \
             SELECT id, account_id, email, name, role, password_hash, created_at, deleted_at, language, routing, last_assigned_at FROM users",
        )
        .await?;
        tx.execute("DROP TABLE users").await?;
        tx.execute("ALTER TABLE users_new RENAME TO users").await?;
        tx.execute("CREATE INDEX users_account ON users(account_id)").await?;
        let broken = sqlx::query("PRAGMA foreign_key_check").fetch_all(&mut *tx).await?;
        if !broken.is_empty() {
            return Err(StoreError::Corrupt(format!("{} rows would lose their user after rebuilding users", broken.len())));
        }
        tx.commit().await?;
        Ok(())
    }
    .await;
    // Never hand this connection back with foreign keys off.
    let _ = conn.close().await;
    outcome
}
