//! What workload and cost reports read: a period's messages, in
//! conversation order, with the one before each conversation's first in
//! the period (a reply's handle time runs from the message it answers),
//! and the account's unit prices.

use threadline_domain::ids::AccountId;
use threadline_domain::workload::{Author, HANDLE_CAP_SECS, UnitCosts, WorkItem, WorkTally};
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, micros, rows};

impl Store {
    /// The work of `from..to` read from its messages (and those of the
    /// quarter hour before, for context), added up as they stream from the
    /// database in conversation then time order: a year of messages is
    /// never held at once. Reports read [`Store::work`], which reads stored
    /// days instead where it can.
    pub async fn work_tally(&self, account_id: AccountId, from: OffsetDateTime, to: OffsetDateTime) -> Result<WorkTally> {
        use futures_util::TryStreamExt;
        let mut tally = WorkTally::new(from, to);
        let mut found = sqlx::query(
            "SELECT conversation_id, contact_id, created_at, channel, kind, direction, sender_kind, sender_id FROM messages \
             WHERE account_id = $1 AND created_at >= $2 AND created_at < $3 \
             ORDER BY conversation_id, created_at, id",
        )
        .bind(account_id.to_string())
        .bind(micros(from) - HANDLE_CAP_SECS * 1_000_000)
        .bind(micros(to))
        .fetch(&self.pool);
        while let Some(row) = found.try_next().await? {
            let row = &row;
            let sender_id = rows::opt_text(row, "sender_id")?;
            let person = rows::text(row, "sender_kind")? == "user";
            let author = match (rows::text(row, "kind")?.as_str(), rows::text(row, "direction")?.as_str(), sender_id) {
                ("note", _, Some(id)) if person => Author::Note(id),
                ("note", _, _) => Author::Machine,
                (_, "inbound", _) => Author::Customer,
                (_, _, Some(id)) if person => Author::Agent(id),
                _ => Author::Machine,
            };
            tally.push(WorkItem {
                conversation_id: rows::text(row, "conversation_id")?,
                contact_id: rows::text(row, "contact_id")?,
                at: rows::time(row, "created_at")?,
                channel: rows::text(row, "channel")?,
                author,
            });
        }
        Ok(tally)
    }

    /// The account's unit prices (none set: nothing costs anything).
    pub async fn unit_costs(&self, account_id: AccountId) -> Result<UnitCosts> {
        let raw: Option<String> = sqlx::query_scalar("SELECT unit_costs FROM accounts WHERE id = $1")
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        match raw {
            Some(json) => serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string())),
            None => Ok(UnitCosts { currency: "EUR".into(), ..Default::default() }),
        }
    }

    pub async fn set_unit_costs(&self, account_id: AccountId, costs: &UnitCosts, actor: &str) -> Result<UnitCosts> {
        let at = crate::now();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE accounts SET unit_costs = $2 WHERE id = $1")
            .bind(account_id.to_string())
            .bind(serde_json::to_string(costs).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            .execute(tx.conn())
            .await?;
        crate::found(&done)?;
        let data = serde_json::to_value(costs).unwrap_or_default();
        crate::audit::audit(&mut tx, account_id, actor, "account.unit_costs", "account", &account_id.to_string(), data, at).await?;
        tx.commit().await?;
        Ok(costs.clone())
    }
}
