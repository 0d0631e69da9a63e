//! Devices that receive the in-app chat's push notifications
//! (`threadline_domain::push`). A token belongs to one customer of one
//! inbox: registering it again from another customer (the phone changed
//! hands, another user signed in) moves it.

use threadline_domain::ids::{AccountId, ContactId, InboxId};
use threadline_domain::push::{MAX_DEVICES, Platform};
use time::OffsetDateTime;

use crate::{Result, Store, micros, rows};

/// A registered device.
#[derive(Debug, Clone, PartialEq)]
pub struct PushDevice {
    pub id: String,
    pub inbox_id: InboxId,
    pub contact_id: ContactId,
    pub platform: Platform,
    pub token: String,
}

fn device_row(row: &sqlx::any::AnyRow) -> Result<PushDevice> {
    Ok(PushDevice {
        id: rows::text(row, "id")?,
        inbox_id: rows::parse(row, "inbox_id")?,
        contact_id: rows::parse(row, "contact_id")?,
        platform: rows::enum_of(row, "platform", Platform::parse)?,
        token: rows::text(row, "token")?,
    })
}

impl Store {
    /// Registers (or moves to this customer) a device; the customer keeps
    /// at most [`MAX_DEVICES`] per inbox, the oldest forgotten first.
    pub async fn register_push_device(
        &self,
        account_id: AccountId,
        inbox_id: InboxId,
        contact_id: ContactId,
        platform: Platform,
        token: &str,
        at: OffsetDateTime,
    ) -> Result<()> {
        let (a, i, c) = (account_id.to_string(), inbox_id.to_string(), contact_id.to_string());
        let mut tx = self.begin_write().await?;
        tx.lock_keys(account_id, &[format!("push:{inbox_id}:{token}")]).await?;
        sqlx::query("DELETE FROM push_devices WHERE inbox_id = $1 AND platform = $2 AND token = $3 AND account_id = $4")
            .bind(&i)
            .bind(platform.as_str())
            .bind(token)
            .bind(&a)
            .execute(tx.conn())
            .await?;
        sqlx::query(
            "INSERT INTO push_devices (id, account_id, inbox_id, contact_id, platform, token, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&a)
        .bind(&i)
        .bind(&c)
        .bind(platform.as_str())
        .bind(token)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        sqlx::query(
            "DELETE FROM push_devices WHERE account_id = $1 AND inbox_id = $2 AND contact_id = $3 AND id NOT IN \
             (SELECT id FROM push_devices WHERE account_id = $1 AND inbox_id = $2 AND contact_id = $3 ORDER BY created_at DESC, id DESC LIMIT $4)",
        )
        .bind(&a)
        .bind(&i)
        .bind(&c)
        .bind(MAX_DEVICES)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets a device the customer unregistered (signing out of the app);
    /// whether there was one.
    pub async fn unregister_push_device(
        &self,
        account_id: AccountId,
        inbox_id: InboxId,
        contact_id: ContactId,
        platform: Platform,
        token: &str,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "DELETE FROM push_devices WHERE inbox_id = $1 AND platform = $2 AND token = $3 AND account_id = $4 AND contact_id = $5",
        )
        .bind(inbox_id.to_string())
        .bind(platform.as_str())
        .bind(token)
        .bind(account_id.to_string())
        .bind(contact_id.to_string())
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// A customer's devices (in every in-app inbox of the account).
    pub async fn push_devices(&self, account_id: AccountId, contact_id: ContactId) -> Result<Vec<PushDevice>> {
        let rows = sqlx::query(
            "SELECT id, inbox_id, contact_id, platform, token FROM push_devices WHERE account_id = $1 AND contact_id = $2 \
             ORDER BY created_at DESC, id DESC",
        )
        .bind(account_id.to_string())
        .bind(contact_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(device_row).collect()
    }

    /// Forgets a device its provider no longer knows.
    pub async fn forget_push_device(&self, account_id: AccountId, id: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM push_devices WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Notes that a device was pushed to.
    pub async fn touch_push_device(&self, account_id: AccountId, id: &str, at: OffsetDateTime) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE push_devices SET last_pushed_at = $3 WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id.to_string())
            .bind(micros(at))
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
