//! Segments and their live member lists ([`threadline_domain::segment`]).
//!
//! Whether a customer belongs is decided by the domain; this module keeps
//! the list. Each change of membership is one transaction that writes the
//! member row (or removes it), a `segment.entered`/`segment.exited` event
//! and the job that hands the change to journeys — so a journey that
//! starts on entering a segment never misses an entry, and never starts
//! twice for one.

use std::collections::BTreeSet;

use serde::Serialize;
use threadline_domain::channel::Channel;
use threadline_domain::event::{DomainEvent, EventKind, Payload, SegmentPayload};
use threadline_domain::ids::{AccountId, ContactId, SegmentId};
use threadline_domain::segment::{SegmentChange, SegmentSpec};
use time::OffsetDateTime;

use crate::audit::audit;
use crate::{Result, Store, StoreError, micros, now, rows};

/// The job kind that hands a change of membership to journeys.
pub const SEGMENT_JOB: &str = "journey.segment";
/// The job kind that looks at one customer against every segment again.
pub const SEGMENTS_CONTACT_JOB: &str = "segments.contact";
/// The job kind that sweeps an account's customers against its segments.
pub const SEGMENTS_SWEEP_JOB: &str = "segments.sweep";

/// A saved segment with how many customers are in it now.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Segment {
    pub id: SegmentId,
    pub name: String,
    pub spec: SegmentSpec,
    pub members: i64,
    /// When the last sweep over every customer finished.
    #[serde(with = "time::serde::rfc3339::option")]
    pub refreshed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// One customer in a segment.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SegmentMember {
    pub contact_id: ContactId,
    pub name: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub entered_at: OffsetDateTime,
}

const SEGMENT_COLUMNS: &str = "s.id, s.name, s.spec, s.refreshed_at, s.created_at, s.updated_at, \
     (SELECT COUNT(*) FROM segment_members m WHERE m.segment_id = s.id) AS members";

fn segment_row(row: &sqlx::any::AnyRow) -> Result<Segment> {
    Ok(Segment {
        id: rows::parse(row, "id")?,
        name: rows::text(row, "name")?,
        spec: serde_json::from_str(&rows::text(row, "spec")?).map_err(|e| StoreError::Corrupt(format!("segment spec: {e}")))?,
        members: rows::int(row, "members")?,
        refreshed_at: rows::opt_time(row, "refreshed_at")?,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
    })
}

fn sweep_job(account_id: AccountId, at: OffsetDateTime) -> crate::NewJob {
    crate::NewJob {
        lane: None,
        kind: SEGMENTS_SWEEP_JOB,
        account_id: Some(account_id),
        dedup_key: Some(format!("segments-sweep:{account_id}")),
        payload: serde_json::json!({}),
        run_at: at,
    }
}

/// The job that looks at one customer against the account's segments again
/// (one pending per customer, however many changes come in meanwhile).
pub(crate) fn contact_job(account_id: AccountId, contact_id: ContactId, at: OffsetDateTime) -> crate::NewJob {
    crate::NewJob {
        lane: None,
        kind: SEGMENTS_CONTACT_JOB,
        account_id: Some(account_id),
        dedup_key: Some(format!("segments-contact:{contact_id}")),
        payload: serde_json::json!({ "contact_id": contact_id }),
        run_at: at,
    }
}

/// The customer a change is about, when it may change what segments they
/// are in (their record, consents, a conversation begun or ended).
pub(crate) fn affected_contact(event: &DomainEvent) -> Option<ContactId> {
    match event.kind {
        EventKind::ContactUpdated | EventKind::ConversationCreated | EventKind::ConversationResolved => event.about().contact_id,
        _ => None,
    }
}

impl Store {
    /// Creates a segment; a sweep fills its member list at once.
    pub async fn create_segment(&self, account_id: AccountId, name: &str, spec: &SegmentSpec, actor: &str) -> Result<Segment> {
        let at = now();
        let id = SegmentId::new();
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO segments (id, account_id, name, spec, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .bind(name)
            .bind(serde_json::to_string(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            .bind(micros(at))
            .execute(tx.conn())
            .await?;
        crate::jobs::enqueue(&mut tx, &sweep_job(account_id, at), at).await?;
        audit(&mut tx, account_id, actor, "segment.create", "segment", &id.to_string(), serde_json::json!({ "name": name }), at).await?;
        tx.commit().await?;
        self.segments_exist.store(true, std::sync::atomic::Ordering::Relaxed);
        self.segment(account_id, id).await
    }

    pub async fn segments(&self, account_id: AccountId) -> Result<Vec<Segment>> {
        let sql = format!("SELECT {SEGMENT_COLUMNS} FROM segments s WHERE s.account_id = $1 ORDER BY s.created_at, s.id");
        let rows = sqlx::query(&sql).bind(account_id.to_string()).fetch_all(&self.pool).await?;
        rows.iter().map(segment_row).collect()
    }

    pub async fn segment(&self, account_id: AccountId, id: SegmentId) -> Result<Segment> {
        let sql = format!("SELECT {SEGMENT_COLUMNS} FROM segments s WHERE s.id = $1 AND s.account_id = $2");
        let row = sqlx::query(&sql).bind(id.to_string()).bind(account_id.to_string()).fetch_optional(&self.pool).await?;
        segment_row(&row.ok_or(StoreError::NotFound)?)
    }

    /// Renames or redefines a segment; members are looked at again at once
    /// (those who no longer qualify leave, with their exit events).
    pub async fn update_segment(
        &self,
        account_id: AccountId,
        id: SegmentId,
        name: &str,
        spec: &SegmentSpec,
        actor: &str,
    ) -> Result<Segment> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE segments SET name = $1, spec = $2, updated_at = $3 WHERE id = $4 AND account_id = $5")
            .bind(name)
            .bind(serde_json::to_string(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            .bind(micros(at))
            .bind(id.to_string())
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        crate::jobs::enqueue(&mut tx, &sweep_job(account_id, at), at).await?;
        audit(&mut tx, account_id, actor, "segment.update", "segment", &id.to_string(), serde_json::json!({ "name": name }), at).await?;
        tx.commit().await?;
        self.segment(account_id, id).await
    }

    /// Deletes a segment and its member list (no exit events: the list is gone).
    pub async fn delete_segment(&self, account_id: AccountId, id: SegmentId, actor: &str) -> Result<()> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let (s, a) = (id.to_string(), account_id.to_string());
        sqlx::query("DELETE FROM segment_members WHERE segment_id = $1 AND account_id = $2").bind(&s).bind(&a).execute(tx.conn()).await?;
        let done = sqlx::query("DELETE FROM segments WHERE id = $1 AND account_id = $2").bind(&s).bind(&a).execute(tx.conn()).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        audit(&mut tx, account_id, actor, "segment.delete", "segment", &s, serde_json::json!({}), at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A page of a segment's members, newest first.
    pub async fn segment_members(
        &self,
        account_id: AccountId,
        id: SegmentId,
        before: Option<(OffsetDateTime, ContactId)>,
        limit: i64,
    ) -> Result<Vec<SegmentMember>> {
        let rows = sqlx::query(
            "SELECT m.contact_id, m.entered_at, c.name FROM segment_members m JOIN contacts c ON c.id = m.contact_id \
             WHERE m.segment_id = $1 AND m.account_id = $2 \
               AND ($3 IS NULL OR m.entered_at < $3 OR (m.entered_at = $3 AND m.contact_id < $4)) \
             ORDER BY m.entered_at DESC, m.contact_id DESC LIMIT $5",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .bind(before.map(|(at, _)| micros(at)))
        .bind(before.map(|(_, c)| c.to_string()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SegmentMember {
                    contact_id: rows::parse(row, "contact_id")?,
                    name: rows::opt_text(row, "name")?,
                    entered_at: rows::time(row, "entered_at")?,
                })
            })
            .collect()
    }

    /// The segments a customer is in now.
    pub async fn contact_segments(&self, account_id: AccountId, contact_id: ContactId) -> Result<BTreeSet<SegmentId>> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT segment_id FROM segment_members WHERE account_id = $1 AND contact_id = $2")
            .bind(account_id.to_string())
            .bind(contact_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        ids.iter().map(|id| id.parse().map_err(|_| StoreError::Corrupt(id.clone()))).collect()
    }

    /// Puts a customer in a segment or takes them out. When that changes
    /// anything, the change, its event and the job that tells journeys
    /// commit together; otherwise nothing is written.
    pub async fn set_membership(
        &self,
        account_id: AccountId,
        segment_id: SegmentId,
        contact_id: ContactId,
        member: bool,
        at: OffsetDateTime,
    ) -> Result<Option<SegmentChange>> {
        let mut tx = self.begin_write().await?;
        let (s, c, a) = (segment_id.to_string(), contact_id.to_string(), account_id.to_string());
        let changed = if member {
            // Only into a segment that still exists, for a customer of the account.
            sqlx::query(
                "INSERT INTO segment_members (segment_id, contact_id, account_id, entered_at) \
                 SELECT s.id, c.id, s.account_id, $4 FROM segments s, contacts c \
                 WHERE s.id = $1 AND s.account_id = $3 AND c.id = $2 AND c.account_id = $3 AND c.merged_into IS NULL \
                 ON CONFLICT (segment_id, contact_id) DO NOTHING",
            )
            .bind(&s)
            .bind(&c)
            .bind(&a)
            .bind(micros(at))
            .execute(tx.conn())
            .await?
            .rows_affected()
                > 0
        } else {
            sqlx::query("DELETE FROM segment_members WHERE segment_id = $1 AND contact_id = $2 AND account_id = $3")
                .bind(&s)
                .bind(&c)
                .bind(&a)
                .execute(tx.conn())
                .await?
                .rows_affected()
                > 0
        };
        if !changed {
            tx.rollback().await?;
            return Ok(None);
        }
        let change = if member { SegmentChange::Entered } else { SegmentChange::Exited };
        let payload = SegmentPayload { segment_id, contact_id };
        let payload = if member { Payload::SegmentEntered(payload) } else { Payload::SegmentExited(payload) };
        let event = DomainEvent::new(account_id, payload, at);
        let job = crate::NewJob {
            lane: None,
            kind: SEGMENT_JOB,
            account_id: Some(account_id),
            dedup_key: None,
            payload: serde_json::json!({
                "event_id": event.id,
                "segment_id": segment_id,
                "contact_id": contact_id,
                "on": change.as_str(),
            }),
            run_at: at,
        };
        crate::jobs::enqueue(&mut tx, &job, at).await?;
        tx.emit(event);
        tx.commit().await?;
        Ok(Some(change))
    }

    /// Notes that a sweep of the account's customers finished; the next is due at `next`.
    pub async fn segments_swept(&self, account_id: AccountId, at: OffsetDateTime) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE segments SET refreshed_at = $1 WHERE account_id = $2")
            .bind(micros(at))
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether any account has a segment (read at start; a segment created
    /// since sets it). While none does, changes to customers queue no
    /// segment work.
    pub async fn load_segments_exist(&self) -> Result<bool> {
        let any: Option<String> = sqlx::query_scalar("SELECT id FROM segments LIMIT 1").fetch_optional(&self.pool).await?;
        self.segments_exist.store(any.is_some(), std::sync::atomic::Ordering::Relaxed);
        Ok(any.is_some())
    }

    /// The customer's conversations begun since `since`: the channel of
    /// each one's first message, and when it began.
    pub async fn conversations_begun_since(
        &self,
        account_id: AccountId,
        contact_id: ContactId,
        since: OffsetDateTime,
    ) -> Result<Vec<(Channel, OffsetDateTime)>> {
        let rows = sqlx::query(
            "SELECT c.created_at, (SELECT m.channel FROM messages m WHERE m.conversation_id = c.id ORDER BY m.created_at, m.id LIMIT 1) AS channel \
             FROM conversations c WHERE c.account_id = $1 AND c.contact_id = $2 AND c.created_at >= $3 ORDER BY c.created_at LIMIT 1000",
        )
        .bind(account_id.to_string())
        .bind(contact_id.to_string())
        .bind(micros(since))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for row in &rows {
            let Some(channel) = rows::opt_text(row, "channel")?.and_then(|c| c.parse::<Channel>().ok()) else { continue };
            out.push((channel, rows::time(row, "created_at")?));
        }
        Ok(out)
    }

    /// Queues a sweep of the account's customers at `at` (or sooner if one is queued).
    pub async fn queue_segment_sweep(&self, account_id: AccountId, at: OffsetDateTime) -> Result<()> {
        let mut tx = self.begin_write().await?;
        crate::jobs::enqueue(&mut tx, &sweep_job(account_id, at), now()).await?;
        tx.commit().await?;
        Ok(())
    }
}
