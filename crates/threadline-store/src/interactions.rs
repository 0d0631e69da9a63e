//! Non-message interactions and the unified contact timeline.

use threadline_domain::event::{DomainEvent, InteractionPayload, Payload};
use threadline_domain::ids::{AccountId, ContactId, ConversationId, InteractionId};
use threadline_domain::interaction::{Interaction, InteractionKind};
use threadline_domain::timeline::{TimelineCursor, TimelineEntry, TimelineFilter};
use time::OffsetDateTime;

use crate::contacts::load_contact;
use crate::rows::MESSAGE_COLUMNS;
use crate::{Result, Store, StoreError, attachments, micros, now, rows};

/// An interaction to record.
#[derive(Debug, Clone)]
pub struct NewInteraction {
    pub kind: InteractionKind,
    pub conversation_id: Option<ConversationId>,
    pub summary: Option<String>,
    pub data: serde_json::Value,
    pub occurred_at: Option<OffsetDateTime>,
}

/// One page of a timeline and the cursor for the next, if there is more.
#[derive(Debug, Clone)]
pub struct TimelinePage {
    pub entries: Vec<TimelineEntry>,
    pub next: Option<TimelineCursor>,
}

/// Writes an interaction in `tx`, with its `interaction.created` event.
pub(crate) async fn insert_interaction(
    tx: &mut crate::WriteTx,
    account_id: AccountId,
    interaction: &Interaction,
    at: time::OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO interactions (id, account_id, contact_id, conversation_id, kind, summary, data, occurred_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(interaction.id.to_string())
    .bind(account_id.to_string())
    .bind(interaction.contact_id.to_string())
    .bind(interaction.conversation_id.map(|c| c.to_string()))
    .bind(interaction.kind.as_str())
    .bind(interaction.summary.clone())
    .bind(interaction.data.to_string())
    .bind(micros(interaction.occurred_at))
    .bind(micros(at))
    .execute(tx.conn())
    .await?;
    tx.emit(DomainEvent::new(account_id, Payload::InteractionCreated(InteractionPayload { interaction: interaction.clone() }), at));
    Ok(())
}

impl Store {
    #[tracing::instrument(skip_all, fields(account = %account_id, contact = %contact_id))]
    pub async fn record_interaction(&self, account_id: AccountId, contact_id: ContactId, new: NewInteraction) -> Result<Interaction> {
        let at = now();
        let mut tx = self.begin_write().await?;
        load_contact(tx.conn(), account_id, contact_id).await?;
        if let Some(conversation_id) = new.conversation_id {
            let owner: Option<String> = sqlx::query_scalar("SELECT contact_id FROM conversations WHERE id = $1 AND account_id = $2")
                .bind(conversation_id.to_string())
                .bind(account_id.to_string())
                .fetch_optional(tx.conn())
                .await?;
            if owner.as_deref() != Some(contact_id.to_string().as_str()) {
                return Err(threadline_domain::ValidationErrors::single("conversation_id", "no such conversation for this contact").into());
            }
        }
        let interaction = Interaction {
            id: InteractionId::new(),
            contact_id,
            conversation_id: new.conversation_id,
            kind: new.kind,
            summary: new.summary,
            data: new.data,
            occurred_at: new.occurred_at.map(|t| crate::from_micros(micros(t))).unwrap_or(at),
        };
        insert_interaction(&mut tx, account_id, &interaction, at).await?;
        tx.commit().await?;
        Ok(interaction)
    }

    /// The contact's timeline, newest first: messages of every channel and
    /// every other interaction. Each source is read with its own index range
    /// (at most `limit` rows each) and the two are merged here, which keeps a
    /// page cheap however long the history is.
    #[tracing::instrument(skip_all, fields(account = %account_id, contact = %contact_id))]
    pub async fn timeline(
        &self,
        account_id: AccountId,
        contact_id: ContactId,
        before: Option<&TimelineCursor>,
        limit: i64,
        filter: &TimelineFilter,
    ) -> Result<TimelinePage> {
        let mut conn = self.pool.acquire().await?;
        load_contact(&mut conn, account_id, contact_id).await?;
        let (at, id) = match before {
            Some(c) => (Some(c.at_micros), Some(c.id.clone())),
            None => (None, None),
        };
        let fetch = limit + 1;
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE contact_id = $1 AND account_id = $2 \
             AND ($3 IS NULL OR created_at < $3 OR (created_at = $3 AND id < $4)) ORDER BY created_at DESC, id DESC LIMIT $5"
        );
        let message_rows = if filter.messages {
            sqlx::query(&sql)
                .bind(contact_id.to_string())
                .bind(account_id.to_string())
                .bind(at)
                .bind(id.clone())
                .bind(fetch)
                .fetch_all(&mut *conn)
                .await?
        } else {
            Vec::new()
        };
        let event_rows = if filter.events {
            let sql = format!(
                "SELECT {} FROM customer_events WHERE contact_id = $1 AND account_id = $2 \
                 AND ($3 IS NULL OR occurred_at < $3 OR (occurred_at = $3 AND id < $4)) AND ($6 IS NULL OR name = $6) \
                 ORDER BY occurred_at DESC, id DESC LIMIT $5",
                crate::tracking::EVENT_COLUMNS
            );
            sqlx::query(&sql)
                .bind(contact_id.to_string())
                .bind(account_id.to_string())
                .bind(at)
                .bind(id.clone())
                .bind(fetch)
                .bind(filter.event_name.clone())
                .fetch_all(&mut *conn)
                .await?
        } else {
            Vec::new()
        };
        let interaction_rows = if !filter.interactions {
            Vec::new()
        } else {
            sqlx::query(
                "SELECT id, contact_id, conversation_id, kind, summary, data, occurred_at FROM interactions \
             WHERE contact_id = $1 AND account_id = $2 AND ($3 IS NULL OR occurred_at < $3 OR (occurred_at = $3 AND id < $4)) \
             ORDER BY occurred_at DESC, id DESC LIMIT $5",
            )
            .bind(contact_id.to_string())
            .bind(account_id.to_string())
            .bind(at)
            .bind(id)
            .bind(fetch)
            .fetch_all(&mut *conn)
            .await?
        };
        let mut messages = message_rows.iter().map(rows::message).collect::<Result<Vec<_>>>()?;
        attachments::load_attachment_meta(&mut conn, &mut messages).await?;
        let mut entries: Vec<TimelineEntry> = messages.into_iter().map(|m| TimelineEntry::Message(Box::new(m))).collect();
        for row in &interaction_rows {
            entries.push(TimelineEntry::Interaction(interaction(row)?));
        }
        for row in &event_rows {
            entries.push(TimelineEntry::Event(Box::new(crate::tracking::event_row(row)?)));
        }
        entries.sort_by_key(|e| std::cmp::Reverse((e.at(), entry_id(e))));
        let limit = usize::try_from(limit).map_err(|_| StoreError::Corrupt("negative limit".into()))?;
        let next = if entries.len() > limit {
            entries.truncate(limit);
            entries.last().map(|e| TimelineCursor { at_micros: micros(e.at()), id: entry_id(e) })
        } else {
            None
        };
        Ok(TimelinePage { entries, next })
    }
}

impl Store {
    /// Every interaction of a contact, oldest first (for export).
    pub async fn all_interactions(&self, account_id: AccountId, contact_id: ContactId) -> Result<Vec<Interaction>> {
        let found = sqlx::query(
            "SELECT id, contact_id, conversation_id, kind, summary, data, occurred_at FROM interactions \
             WHERE contact_id = $1 AND account_id = $2 ORDER BY occurred_at, id",
        )
        .bind(contact_id.to_string())
        .bind(account_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(interaction).collect()
    }
}

fn interaction(row: &sqlx::any::AnyRow) -> Result<Interaction> {
    Ok(Interaction {
        id: rows::parse(row, "id")?,
        contact_id: rows::parse(row, "contact_id")?,
        conversation_id: rows::opt_parse(row, "conversation_id")?,
        kind: rows::enum_of(row, "kind", InteractionKind::parse)?,
        summary: rows::opt_text(row, "summary")?,
        data: rows::json(row, "data")?,
        occurred_at: rows::time(row, "occurred_at")?,
    })
}

fn entry_id(entry: &TimelineEntry) -> String {
    match entry {
        TimelineEntry::Message(m) => m.id.to_string(),
        TimelineEntry::Interaction(i) => i.id.to_string(),
        TimelineEntry::Event(e) => e.id.to_string(),
    }
}
