//! Measurement's storage: the changes a conversation's row forgets
//! (`conversation_changes`), one row of facts per conversation
//! (`conversation_metrics`, see [`threadline_domain::metrics`]), and the
//! conversations whose facts are out of date (`metrics_dirty`).
//!
//! Every commit that touches a conversation marks it out of date in the
//! same transaction (see [`mark_dirty`]); the `metrics.refresh` job reads
//! the marked ones, derives their facts from the history and saves them,
//! clearing a mark only if no change came in meanwhile. Reports then read
//! one row per conversation.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use threadline_domain::backlog::{self, AGE_BUCKETS, DayBacklog};
use threadline_domain::conversation::Conversation;
use threadline_domain::event::{DomainEvent, EventKind};
use threadline_domain::ids::{AccountId, ConversationId};
use threadline_domain::message::{Direction, SenderKind};
use threadline_domain::metrics::{Change, ConversationFacts, DEFLECTION_WINDOW, Entry, FCR_WINDOW, History, Measured};
use threadline_domain::tally;
use time::{Duration, OffsetDateTime};

use crate::{Backend, Result, Store, WriteTx, micros, now, rows};

/// The job kind that brings conversations' facts up to date.
pub const METRICS_JOB: &str = "metrics.refresh";

/// Records a change of state in `tx` (next to the write that made it).
pub(crate) async fn record_change(
    tx: &mut WriteTx,
    account_id: AccountId,
    conversation_id: ConversationId,
    change: Change,
    by: SenderKind,
    at: OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO conversation_changes (id, account_id, conversation_id, change, actor_kind, at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(account_id.to_string())
    .bind(conversation_id.to_string())
    .bind(change.as_str())
    .bind(by.as_str())
    .bind(micros(at))
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The conversation an event is about, if any.
fn touched_conversation(event: &DomainEvent) -> Option<ConversationId> {
    use EventKind as K;
    match event.kind {
        K::ConversationCreated
        | K::ConversationUpdated
        | K::ConversationAssigned
        | K::ConversationResolved
        | K::ConversationHandedOff
        | K::SlaBreached
        | K::MessageCreated
        | K::SurveySent
        | K::SurveyAnswered => event.about().conversation_id,
        _ => None,
    }
}

/// Marks the conversations `events` touch as out of date (called by the
/// commit, so no change escapes measurement).
pub(crate) async fn mark_dirty(conn: &mut sqlx::AnyConnection, backend: Backend, events: &[DomainEvent]) -> Result<()> {
    let touched: std::collections::BTreeSet<(AccountId, ConversationId)> =
        events.iter().filter_map(|e| touched_conversation(e).map(|c| (e.account_id, c))).collect();
    if touched.is_empty() {
        return Ok(());
    }
    let since = micros(now());
    // In (account, conversation) order, which the metrics refresh clears
    // them in too (see `clear_marks_sql`).
    const COLUMNS: &[&str] = &["conversation_id", "account_id", "since", "first_marked"];
    let mut marks = rows::NewRows::new("metrics_dirty", COLUMNS);
    for (account_id, conversation_id) in &touched {
        marks.push([conversation_id.to_string().into(), account_id.to_string().into(), since.into(), since.into()]);
    }
    marks.insert(conn, backend, "ON CONFLICT (conversation_id) DO UPDATE SET since = excluded.since").await?;
    Ok(())
}

/// A conversation whose facts are out of date, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub account_id: AccountId,
    pub conversation_id: ConversationId,
    since: i64,
}

/// What facts are derived from: the conversation as it stands and its history.
#[derive(Debug, Clone)]
pub struct MetricSource {
    pub stale: Stale,
    pub conversation: Conversation,
    /// The inbox of the customer's first message.
    pub inbox_id: Option<String>,
    pub history: History,
}

/// A conversation's facts ready to be saved, with its SLA outcome.
#[derive(Debug, Clone)]
pub struct MetricRow {
    pub source: MetricSource,
    pub facts: ConversationFacts,
    pub sla_clocks: i64,
    pub sla_met: i64,
}

/// Which conversations a report reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsFilter {
    pub channel: Option<String>,
    pub inbox_id: Option<String>,
    pub team_id: Option<String>,
    pub assignee_id: Option<String>,
    pub category: Option<String>,
}

impl MetricsFilter {
    /// The filter as SQL conditions on `conversation_metrics m`, numbered
    /// from `$(after + 1)`, and the values to bind in that order.
    fn conditions(&self, after: usize) -> (String, Vec<String>) {
        let mut conditions = String::new();
        let mut values = Vec::new();
        for (column, value) in [
            ("m.first_channel", &self.channel),
            ("m.inbox_id", &self.inbox_id),
            ("m.team_id", &self.team_id),
            ("m.assignee_id", &self.assignee_id),
            ("m.category", &self.category),
        ] {
            if let Some(value) = value {
                values.push(value.clone());
                conditions.push_str(&format!(" AND {column} = ${}", after + values.len()));
            }
        }
        (conditions, values)
    }
}

/// Conversations not resolved yet, by how long they have been waiting.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Backlog {
    pub open: i64,
    pub pending: i64,
    pub snoozed: i64,
    /// Age since creation of the oldest unresolved conversation.
    pub oldest_age_secs: Option<i64>,
    /// `(bucket, conversations)`: under 1 h, 1–4 h, 4–24 h, 1–3 d, 3–7 d, over 7 d.
    pub by_age: Vec<(String, i64)>,
}

/// A team's queue now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct QueueNow {
    pub team_id: String,
    pub team: String,
    pub waiting: i64,
    pub longest_wait_secs: Option<i64>,
}

const METRIC_COLUMNS: &str = "m.conversation_id, m.created_at, m.team_id, m.assignee_id, m.category, m.inbox_id, m.first_channel, \
     m.answer_channel, m.first_customer_at, m.first_response_at, m.first_response_secs, m.first_response_business_secs, m.reply_waits, \
     m.reply_secs, m.reply_business_secs, m.customer_messages, m.agent_messages, m.bot_messages, m.automatic_messages, m.channel_switches, \
     m.resolved_at, m.resolution_secs, m.resolution_business_secs, m.first_resolved_at, m.resolutions, m.reopens, \
     m.customer_after_resolution, m.bot_involved, m.handed_off, m.resolved_by_bot, m.sla_clocks, m.sla_met";

fn measured(row: &AnyRow) -> Result<Measured> {
    let flag = |col: &str| rows::int(row, col).map(|v| v != 0);
    let facts = ConversationFacts {
        first_channel: rows::opt_text(row, "first_channel")?,
        answer_channel: rows::opt_text(row, "answer_channel")?,
        first_customer_at: rows::opt_time(row, "first_customer_at")?,
        first_response_at: rows::opt_time(row, "first_response_at")?,
        first_response_secs: rows::opt_int(row, "first_response_secs")?,
        first_response_business_secs: rows::opt_int(row, "first_response_business_secs")?,
        reply_waits: rows::int(row, "reply_waits")?,
        reply_secs: rows::int(row, "reply_secs")?,
        reply_business_secs: rows::int(row, "reply_business_secs")?,
        customer_messages: rows::int(row, "customer_messages")?,
        agent_messages: rows::int(row, "agent_messages")?,
        bot_messages: rows::int(row, "bot_messages")?,
        automatic_messages: rows::int(row, "automatic_messages")?,
        channel_switches: rows::int(row, "channel_switches")?,
        resolved_at: rows::opt_time(row, "resolved_at")?,
        resolution_secs: rows::opt_int(row, "resolution_secs")?,
        resolution_business_secs: rows::opt_int(row, "resolution_business_secs")?,
        first_resolved_at: rows::opt_time(row, "first_resolved_at")?,
        resolutions: rows::int(row, "resolutions")?,
        reopens: rows::int(row, "reopens")?,
        customer_after_resolution: flag("customer_after_resolution")?,
        bot_involved: flag("bot_involved")?,
        handed_off: flag("handed_off")?,
        resolved_by_bot: flag("resolved_by_bot")?,
    };
    Ok(Measured {
        conversation_id: rows::text(row, "conversation_id")?,
        created_at: rows::time(row, "created_at")?,
        team_id: rows::opt_text(row, "team_id")?,
        assignee_id: rows::opt_text(row, "assignee_id")?,
        category: rows::opt_text(row, "category")?,
        inbox_id: rows::opt_text(row, "inbox_id")?,
        facts,
        sla_clocks: rows::int(row, "sla_clocks")?,
        sla_met: rows::int(row, "sla_met")?,
        came_back_fcr: flag("came_back_fcr")?,
        came_back_deflection: flag("came_back_deflection")?,
    })
}

/// One message of a history as [`Store::metric_sources`] reads it:
/// `created_at,direction,sender_kind,automatic,channel,inbox_id` (no field
/// holds a comma: enum names, ids, a number, `0`/`1`).
const HISTORY_ENTRY: &str = "CAST(created_at AS TEXT) || ',' || direction || ',' || sender_kind || ',' || \
     CASE WHEN automated IS NULL THEN '0' ELSE '1' END || ',' || channel || ',' || COALESCE(inbox_id, '')";

/// A conversation's messages from their [`HISTORY_ENTRY`] list, and the
/// inbox of its first inbound message.
fn history_messages(list: &str) -> Result<(Vec<Entry>, Option<String>)> {
    let corrupt = || crate::StoreError::Corrupt(format!("message history: {list}"));
    let mut entries = Vec::new();
    let mut inbox = None;
    for entry in list.split(';') {
        let mut fields = entry.split(',');
        let mut next = || fields.next().ok_or_else(corrupt);
        let at = crate::from_micros(next()?.parse().map_err(|_| corrupt())?);
        let direction = Direction::parse(next()?).ok_or_else(corrupt)?;
        let sender = SenderKind::parse(next()?).ok_or_else(corrupt)?;
        let automatic = next()? == "1";
        let channel = next()?.to_string();
        let inbox_id = next()?;
        if direction == Direction::Inbound && !inbox_id.is_empty() && inbox.is_none() {
            inbox = Some(inbox_id.to_string());
        }
        entries.push(Entry::Message { at, direction, sender, automatic, channel });
    }
    Ok((entries, inbox))
}

/// Deletes `n` marks `(conversation_id, since)` (`$1, $2`, `$3, $4`…)
/// that have not moved on. On PostgreSQL each is found and locked key by
/// key in the list's order first: deleting straight from the list would
/// lock them in whatever order the plan reads them, and a commit marking
/// the same conversations in its own order could then wait for this
/// transaction while this one waits for it.
fn clear_marks_sql(backend: Backend, n: usize) -> String {
    let pairs = rows::placeholders(backend, n, 2);
    match backend {
        Backend::Sqlite => format!("DELETE FROM metrics_dirty WHERE (conversation_id, since) IN (VALUES {pairs})"),
        Backend::Postgres => format!(
            "DELETE FROM metrics_dirty WHERE (conversation_id, since) IN (SELECT found.conversation_id, found.since \
             FROM (VALUES {pairs}) AS wanted(key, since) CROSS JOIN LATERAL (SELECT conversation_id, since FROM metrics_dirty \
             WHERE conversation_id = wanted.key AND since = wanted.since OFFSET 0 FOR UPDATE) found)"
        ),
    }
}

/// The [`HISTORY_ENTRY`] lists of `n` conversations (`$1`…), one row each.
pub(crate) fn history_sql(backend: Backend, n: usize) -> String {
    let select = format!(
        "SELECT conversation_id, string_agg({HISTORY_ENTRY}, ';' ORDER BY created_at, id) AS entries FROM messages \
         WHERE {{key}} AND kind = 'message' \
         AND NOT EXISTS (SELECT 1 FROM survey_requests s WHERE s.answer_message_id = messages.id) GROUP BY conversation_id"
    );
    rows::by_keys(backend, 1, n, "conversation_id", &select)
}

impl Store {
    /// Up to `limit` conversations whose facts are out of date, oldest mark
    /// first; with `settle`, only those unchanged since `settle.0` or first
    /// marked before `settle.1` (a busy conversation waits for a pause, at most that long).
    pub async fn stale_metrics(&self, limit: i64, settle: Option<(OffsetDateTime, OffsetDateTime)>) -> Result<Vec<Stale>> {
        let rows = match settle {
            None => {
                sqlx::query("SELECT conversation_id, account_id, since FROM metrics_dirty ORDER BY since LIMIT $1")
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            Some((quiet_since, marked_before)) => {
                sqlx::query(
                    "SELECT conversation_id, account_id, since FROM metrics_dirty \
                     WHERE since <= $2 OR COALESCE(first_marked, since) <= $3 ORDER BY since LIMIT $1",
                )
                .bind(limit)
                .bind(micros(quiet_since))
                .bind(micros(marked_before))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter()
            .map(|row| {
                Ok(Stale {
                    conversation_id: rows::parse(row, "conversation_id")?,
                    account_id: rows::parse(row, "account_id")?,
                    since: rows::int(row, "since")?,
                })
            })
            .collect()
    }

    /// The conversations and histories behind `stale` (those deleted since
    /// are left out; saving clears their marks).
    pub async fn metric_sources(&self, stale: &[Stale]) -> Result<Vec<MetricSource>> {
        let mut out = Vec::with_capacity(stale.len());
        // One read transaction: on SQLite one snapshot for every statement
        // and a page cache that lasts through them (a statement outside a
        // transaction finds the database changed and starts cold).
        let mut conn = self.pool.begin().await?;
        for chunk in stale.chunks(64) {
            let ids: Vec<String> = rows::padded(&chunk.iter().map(|s| s.conversation_id.to_string()).collect::<Vec<_>>());
            // Each statement finds the conversations by their ids: on
            // PostgreSQL id by id ([`rows::by_keys`]), so that tables younger
            // than their statistics are not read whole on every refresh.
            let by_ids = |column: &str, select: &str| rows::by_keys(self.backend, 1, ids.len(), column, select);
            fn bind_all<'q>(sql: &'q str, ids: &[String]) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
                let mut q = sqlx::query(sql);
                for id in ids {
                    q = q.bind(id.clone());
                }
                q
            }
            let sql = by_ids("id", &format!("SELECT {} FROM conversations WHERE {{key}}", rows::CONVERSATION_COLUMNS));
            let mut conversations: BTreeMap<String, Conversation> = BTreeMap::new();
            for row in bind_all(&sql, &ids).fetch_all(&mut *conn).await? {
                let c = rows::conversation(&row)?;
                conversations.insert(c.id.to_string(), c);
            }
            // A conversation's messages come as one row, a list in time
            // order (the index `messages_conversation` holds every column
            // read): a row costs far more to fetch than its text to split.
            let sql = history_sql(self.backend, ids.len());
            let mut entries: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
            let mut inboxes: BTreeMap<String, String> = BTreeMap::new();
            for row in bind_all(&sql, &ids).fetch_all(&mut *conn).await? {
                let id = rows::text(&row, "conversation_id")?;
                let (history, inbox) = history_messages(&rows::text(&row, "entries")?)?;
                if let Some(inbox) = inbox {
                    inboxes.insert(id.clone(), inbox);
                }
                entries.insert(id, history);
            }
            // In time order within each conversation (the order entries keep).
            let sql = by_ids(
                "conversation_id",
                "SELECT conversation_id, change, actor_kind, at FROM conversation_changes WHERE {key} ORDER BY at, id",
            );
            for row in bind_all(&sql, &ids).fetch_all(&mut *conn).await? {
                let at = rows::time(&row, "at")?;
                let by = rows::enum_of(&row, "actor_kind", SenderKind::parse)?;
                let entry = match rows::enum_of(&row, "change", Change::parse)? {
                    Change::Resolved => Entry::Resolved { at, by },
                    Change::Reopened => Entry::Reopened { at, by },
                    Change::HandedOff => Entry::HandedOff { at },
                };
                entries.entry(rows::text(&row, "conversation_id")?).or_default().push(entry);
            }
            let sql = by_ids("conversation_id", "SELECT conversation_id FROM bot_sessions WHERE {key}");
            let with_bot: std::collections::BTreeSet<String> = bind_all(&sql, &ids)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|row| rows::text(row, "conversation_id"))
                .collect::<Result<_>>()?;
            for s in chunk {
                let id = s.conversation_id.to_string();
                let Some(conversation) = conversations.remove(&id) else {
                    // Gone (erased): nothing to measure; the mark is cleared on save.
                    continue;
                };
                let history = History {
                    created_at: conversation.created_at,
                    bot_started: with_bot.contains(&id),
                    entries: entries.remove(&id).unwrap_or_default(),
                };
                out.push(MetricSource { stale: s.clone(), inbox_id: inboxes.remove(&id), conversation, history });
            }
        }
        conn.commit().await?;
        Ok(out)
    }

    /// Saves facts and clears the marks of `done` (conversations whose
    /// mark moved on meanwhile stay marked and are measured again).
    pub async fn save_metrics(&self, rows_in: &[MetricRow], done: &[Stale]) -> Result<()> {
        let at = micros(now());
        let mut tx = self.begin_write().await?;
        tx.by_key_only().await?;
        // The days the facts leave and the days they come to are stored again.
        let ids: Vec<String> = rows_in.iter().map(|r| r.source.conversation.id.to_string()).collect();
        crate::rollups::mark_days(&mut tx, &ids).await?;
        crate::rollups::mark_new_message_days(&mut tx, &ids).await?;
        // Many rows per statement: each statement is a round trip (on SQLite
        // a hop to its connection's thread) while the write lock is held.
        const COLUMNS: &[&str] = &[
            "conversation_id",
            "account_id",
            "contact_id",
            "created_at",
            "status",
            "priority",
            "team_id",
            "assignee_id",
            "category",
            "inbox_id",
            "first_channel",
            "answer_channel",
            "first_customer_at",
            "first_response_at",
            "first_response_secs",
            "first_response_business_secs",
            "reply_waits",
            "reply_secs",
            "reply_business_secs",
            "customer_messages",
            "agent_messages",
            "bot_messages",
            "automatic_messages",
            "channel_switches",
            "resolved_at",
            "resolution_secs",
            "resolution_business_secs",
            "first_resolved_at",
            "resolutions",
            "reopens",
            "customer_after_resolution",
            "bot_involved",
            "handed_off",
            "resolved_by_bot",
            "sla_clocks",
            "sla_met",
            "refreshed_at",
        ];
        let mut facts = rows::NewRows::new("conversation_metrics", COLUMNS);
        for r in rows_in {
            let (c, f) = (&r.source.conversation, &r.facts);
            facts.push([
                c.id.to_string().into(),
                r.source.stale.account_id.to_string().into(),
                c.contact_id.to_string().into(),
                micros(c.created_at).into(),
                c.status.as_str().into(),
                c.priority.as_str().into(),
                c.team_id.map(|t| t.to_string()).into(),
                c.assignee_id.map(|u| u.to_string()).into(),
                c.category.clone().into(),
                r.source.inbox_id.clone().into(),
                f.first_channel.clone().into(),
                f.answer_channel.clone().into(),
                f.first_customer_at.map(micros).into(),
                f.first_response_at.map(micros).into(),
                f.first_response_secs.into(),
                f.first_response_business_secs.into(),
                f.reply_waits.into(),
                f.reply_secs.into(),
                f.reply_business_secs.into(),
                f.customer_messages.into(),
                f.agent_messages.into(),
                f.bot_messages.into(),
                f.automatic_messages.into(),
                f.channel_switches.into(),
                f.resolved_at.map(micros).into(),
                f.resolution_secs.into(),
                f.resolution_business_secs.into(),
                f.first_resolved_at.map(micros).into(),
                f.resolutions.into(),
                f.reopens.into(),
                i64::from(f.customer_after_resolution).into(),
                i64::from(f.bot_involved).into(),
                i64::from(f.handed_off).into(),
                i64::from(f.resolved_by_bot).into(),
                r.sla_clocks.into(),
                r.sla_met.into(),
                at.into(),
            ]);
        }
        let refreshed = COLUMNS
            .iter()
            .filter(|c| !matches!(**c, "conversation_id" | "account_id" | "contact_id"))
            .map(|c| format!("{c} = excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let backend = tx.backend();
        facts.insert(tx.conn(), backend, &format!("ON CONFLICT (conversation_id) DO UPDATE SET {refreshed}")).await?;
        crate::rollups::mark_days(&mut tx, &ids).await?;
        crate::rollups::mark_return_days(&mut tx, &ids).await?;
        // In the order commits mark them (see `mark_dirty`), so that a
        // commit marking some of the same conversations waits for this one
        // or this one for it, and neither for the other in turn.
        let mut done: Vec<&Stale> = done.iter().collect();
        done.sort_by_key(|s| (s.account_id, s.conversation_id));
        for chunk in rows::fixed_chunks(&done) {
            let sql = clear_marks_sql(tx.backend(), chunk.len());
            let mut query = sqlx::query(&sql);
            for s in chunk {
                query = query.bind(s.conversation_id.to_string()).bind(s.since);
            }
            query.execute(tx.conn()).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Moves a conversation into the past, as if it had happened then (for
    /// importing history and for demo data): customer messages move by
    /// `created_at - started_at`, everything else (replies, resolutions,
    /// reopenings, handoffs, the row's own times) by that less
    /// `answered_after`, so answers come that long after the customer
    /// wrote. Marks it for measuring again.
    pub async fn backdate_conversation(
        &self,
        account_id: AccountId,
        conversation_id: ConversationId,
        started_at: OffsetDateTime,
        answered_after: Duration,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let created: i64 = sqlx::query_scalar("SELECT created_at FROM conversations WHERE id = $1 AND account_id = $2")
            .bind(conversation_id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(tx.conn())
            .await?
            .ok_or(crate::StoreError::NotFound)?;
        let shift = created - micros(started_at);
        let later = shift - answered_after.whole_microseconds() as i64;
        let (a, c) = (account_id.to_string(), conversation_id.to_string());
        // The days its messages leave and come to: their workload changes.
        crate::rollups::mark_message_days(&mut tx, crate::rollups::MessagesOf::Conversations, std::slice::from_ref(&c)).await?;
        let statements: [(&str, i64); 8] = [
            (
                "UPDATE messages SET created_at = created_at - $3 WHERE account_id = $1 AND conversation_id = $2 AND direction = 'inbound'",
                shift,
            ),
            (
                "UPDATE messages SET created_at = created_at - $3 WHERE account_id = $1 AND conversation_id = $2 AND direction = 'outbound'",
                later,
            ),
            ("UPDATE conversation_changes SET at = at - $3 WHERE account_id = $1 AND conversation_id = $2", later),
            ("UPDATE routing_decisions SET created_at = created_at - $3 WHERE account_id = $1 AND conversation_id = $2", later),
            (
                "UPDATE survey_requests SET sent_at = sent_at - $3, expires_at = expires_at - $3, answered_at = answered_at - $3 \
                 WHERE account_id = $1 AND conversation_id = $2",
                later,
            ),
            (
                "UPDATE interactions SET occurred_at = occurred_at - $3 WHERE account_id = $1 AND conversation_id = $2 AND kind = 'survey_answer'",
                later,
            ),
            (
                "UPDATE conversations SET created_at = created_at - $3, queued_at = queued_at - $3, awaiting_since = awaiting_since - $3 \
                 WHERE account_id = $1 AND id = $2",
                shift,
            ),
            (
                "UPDATE conversations SET updated_at = updated_at - $3, last_activity_at = last_activity_at - $3, \
                 first_response_at = first_response_at - $3, resolved_at = resolved_at - $3, snoozed_until = snoozed_until - $3 \
                 WHERE account_id = $1 AND id = $2",
                later,
            ),
        ];
        for (sql, by) in statements {
            sqlx::query(sql).bind(&a).bind(&c).bind(by).execute(tx.conn()).await?;
        }
        crate::rollups::mark_message_days(&mut tx, crate::rollups::MessagesOf::Conversations, std::slice::from_ref(&c)).await?;
        sqlx::query(
            "INSERT INTO metrics_dirty (conversation_id, account_id, since, first_marked) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (conversation_id) DO UPDATE SET since = excluded.since",
        )
        .bind(&c)
        .bind(&a)
        .bind(micros(now()))
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many conversations wait to be measured, and the oldest mark's age.
    pub async fn metrics_lag(&self, now: OffsetDateTime) -> Result<(i64, Option<i64>)> {
        let row = sqlx::query("SELECT COUNT(*) AS n, MIN(since) AS oldest FROM metrics_dirty").fetch_one(&self.pool).await?;
        let oldest = rows::opt_int(&row, "oldest")?.map(|since| ((micros(now) - since) / 1_000_000).max(0));
        Ok((rows::int(&row, "n")?, oldest))
    }

    /// The measured conversations a report of `from..to` needs: created,
    /// first resolved or resolved in the period, and matching `filter`.
    pub async fn measured(
        &self,
        account_id: AccountId,
        from: OffsetDateTime,
        to: OffsetDateTime,
        filter: &MetricsFilter,
    ) -> Result<Vec<Measured>> {
        let mut out = Vec::new();
        self.each_measured(account_id, from, to, filter, |m| out.push(m)).await?;
        Ok(out)
    }

    /// The same conversations as [`Store::measured`], handed to `each` one
    /// by one as they stream from the database: however long the period,
    /// no more than one is held.
    pub async fn each_measured(
        &self,
        account_id: AccountId,
        from: OffsetDateTime,
        to: OffsetDateTime,
        filter: &MetricsFilter,
        mut each: impl FnMut(Measured),
    ) -> Result<()> {
        use futures_util::TryStreamExt;
        let (conditions, extra) = filter.conditions(5);
        // Another conversation of the same customer started within the
        // window, through `conversation_metrics_contact` (on PostgreSQL led
        // by the customer, the account a filter: see `rollups::return_days`).
        let same_account = match self.backend {
            Backend::Sqlite => "o.account_id = m.account_id".to_owned(),
            Backend::Postgres => rows::guard("o.account_id", "m.account_id"),
        };
        let came_back = |col: &str, param: usize| {
            format!(
                "CASE WHEN m.{col} IS NOT NULL AND EXISTS (SELECT 1 FROM conversation_metrics o WHERE o.contact_id = m.contact_id \
                 AND {same_account} AND o.conversation_id <> m.conversation_id AND o.first_customer_at > m.{col} \
                 AND o.first_customer_at <= m.{col} + ${param}) THEN 1 ELSE 0 END"
            )
        };
        let sql = format!(
            "SELECT {METRIC_COLUMNS}, {} AS came_back_fcr, {} AS came_back_deflection FROM conversation_metrics m \
             WHERE m.account_id = $1 AND ((m.created_at >= $2 AND m.created_at < $3) OR (m.first_resolved_at >= $2 AND m.first_resolved_at < $3) \
             OR (m.resolved_at >= $2 AND m.resolved_at < $3)){conditions}",
            came_back("first_resolved_at", 4),
            came_back("resolved_at", 5),
        );
        let mut query = sqlx::query(&sql)
            .bind(account_id.to_string())
            .bind(micros(from))
            .bind(micros(to))
            .bind(FCR_WINDOW.whole_microseconds() as i64)
            .bind(DEFLECTION_WINDOW.whole_microseconds() as i64);
        for value in extra {
            query = query.bind(value);
        }
        let mut rows = query.fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            each(measured(&row)?);
        }
        Ok(())
    }

    /// One page of the conversations created in `from..to` (matching
    /// `filter`), oldest first, after the `(created_at, id)` of the last
    /// row of the page before: an export reads page after page, so its
    /// memory stays bounded however many rows there are.
    pub async fn measured_page(
        &self,
        account_id: AccountId,
        from: OffsetDateTime,
        to: OffsetDateTime,
        filter: &MetricsFilter,
        after: Option<(OffsetDateTime, String)>,
        limit: i64,
    ) -> Result<Vec<(Measured, String, String)>> {
        let (conditions, extra) = filter.conditions(7);
        let sql = format!(
            "SELECT {METRIC_COLUMNS}, m.status, m.priority, 0 AS came_back_fcr, 0 AS came_back_deflection FROM conversation_metrics m \
             WHERE m.account_id = $1 AND m.created_at >= $2 AND m.created_at < $3 \
             AND ($4 = 0 OR m.created_at > $5 OR (m.created_at = $5 AND m.conversation_id > $6)){conditions} \
             ORDER BY m.created_at, m.conversation_id LIMIT $7"
        );
        let (has_after, after_at, after_id) = match &after {
            Some((at, id)) => (1i64, micros(*at), id.clone()),
            None => (0, 0, String::new()),
        };
        let mut query = sqlx::query(&sql)
            .bind(account_id.to_string())
            .bind(micros(from))
            .bind(micros(to))
            .bind(has_after)
            .bind(after_at)
            .bind(after_id)
            .bind(limit);
        for value in extra {
            query = query.bind(value);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| Ok((measured(row)?, rows::text(row, "status")?, rows::text(row, "priority")?)))
            .collect()
    }

    /// Each team's queue now: conversations waiting for an agent, and since
    /// when the longest has waited; plus how many agents are online.
    pub async fn queues_now(&self, account_id: AccountId, now: OffsetDateTime) -> Result<(Vec<QueueNow>, i64)> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, COUNT(c.id) AS waiting, MIN(c.queued_at) AS oldest FROM teams t \
             LEFT JOIN conversations c ON c.team_id = t.id AND c.account_id = t.account_id AND c.status = 'open' \
             AND c.assignee_id IS NULL AND c.handler = 'human' WHERE t.account_id = $1 GROUP BY t.id, t.name ORDER BY t.name, t.id",
        )
        .bind(account_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        let queues = rows
            .iter()
            .map(|row| {
                Ok(QueueNow {
                    team_id: rows::text(row, "id")?,
                    team: rows::text(row, "name")?,
                    waiting: rows::int(row, "waiting")?,
                    longest_wait_secs: rows::opt_time(row, "oldest")?.map(|at| (now - at).whole_seconds().max(0)),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let online: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM agent_presence p JOIN users u ON u.id = p.user_id WHERE p.account_id = $1 AND p.status = 'online' \
             AND p.updated_at > $2 AND u.deleted_at IS NULL",
        )
        .bind(account_id.to_string())
        .bind(micros(now - crate::PRESENCE_TTL))
        .fetch_one(&self.pool)
        .await?;
        Ok((queues, online))
    }

    /// The account's unresolved conversations by status and age, now.
    /// The backlog now: the stored days older than a week (unchanged since
    /// they were stored) as stored, the rest counted from the conversations
    /// ([`threadline_domain::backlog`]).
    pub async fn backlog(&self, account_id: AccountId, now: OffsetDateTime) -> Result<Backlog> {
        let recent = tally::day_number(now - Duration::days(backlog::RECENT_DAYS));
        let stored = self.stored_backlogs(account_id, recent).await?;
        let days: Vec<i64> = stored.keys().copied().collect();
        let (stretches, stored) = match backlog::live_stretches(&days) {
            Some(stretches) => (stretches, stored),
            None => (vec![(None, None)], BTreeMap::new()),
        };
        let live = self.unresolved(account_id, &stretches, now).await?;
        let mut counts = live.counts;
        for day in stored.values() {
            counts.open += day.open;
            counts.pending += day.pending;
            counts.snoozed += day.snoozed;
            counts.oldest = match (counts.oldest, day.oldest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        // Stored days are all over 7 days old: the younger buckets are the live ones'.
        let mut cumulative = live.younger.to_vec();
        cumulative.push(counts.total());
        let mut below = 0;
        let by_age = AGE_BUCKETS
            .iter()
            .zip(cumulative)
            .map(|((name, _), total)| {
                let n = total - below;
                below = total;
                ((*name).to_owned(), n)
            })
            .collect();
        Ok(Backlog {
            open: counts.open,
            pending: counts.pending,
            snoozed: counts.snoozed,
            oldest_age_secs: counts.oldest.map(|at| ((micros(now) - at) / 1_000_000).max(0)),
            by_age,
        })
    }

    /// Counts the unresolved conversations created in `stretches` (UTC
    /// creation days `from..to`, `None` unbounded; disjoint), by status,
    /// and how many were created after each age bucket's bound before `now`.
    pub(crate) async fn unresolved(
        &self,
        account_id: AccountId,
        stretches: &[(Option<i64>, Option<i64>)],
        now: OffsetDateTime,
    ) -> Result<Unresolved> {
        let younger: Vec<String> = AGE_BUCKETS[..AGE_BUCKETS.len() - 1]
            .iter()
            .enumerate()
            .map(|(i, _)| format!("SUM(CASE WHEN created_at > ${} THEN 1 ELSE 0 END) AS y{i}", i + 2))
            .collect();
        // One branch per stretch, each a range of the index on
        // (account_id, status, created_at).
        let mut next = AGE_BUCKETS.len() + 1;
        let mut bounds = Vec::new();
        let branches: Vec<String> = stretches
            .iter()
            .map(|(from, to)| {
                let mut sql = "SELECT status, created_at FROM conversations WHERE account_id = $1 \
                               AND status IN ('open', 'pending', 'snoozed')"
                    .to_owned();
                for (bound, op) in [(from, ">="), (to, "<")] {
                    if let Some(day) = bound {
                        sql.push_str(&format!(" AND created_at {op} ${next}"));
                        bounds.push(micros(tally::day_start(*day)));
                        next += 1;
                    }
                }
                sql
            })
            .collect();
        let sql = format!(
            "SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest, {} FROM ({}) AS live GROUP BY status",
            younger.join(", "),
            branches.join(" UNION ALL ")
        );
        let mut query = sqlx::query(&sql).bind(account_id.to_string());
        for (_, hours) in &AGE_BUCKETS[..AGE_BUCKETS.len() - 1] {
            query = query.bind(micros(now - Duration::hours(*hours)));
        }
        for bound in bounds {
            query = query.bind(bound);
        }
        let mut out = Unresolved::default();
        for row in query.fetch_all(&self.pool).await? {
            let n = rows::int(&row, "n")?;
            match rows::text(&row, "status")?.as_str() {
                "open" => out.counts.open += n,
                "pending" => out.counts.pending += n,
                _ => out.counts.snoozed += n,
            }
            if let Some(oldest) = rows::opt_int(&row, "oldest")? {
                out.counts.oldest = Some(out.counts.oldest.map_or(oldest, |o| o.min(oldest)));
            }
            for (i, total) in out.younger.iter_mut().enumerate() {
                *total += rows::opt_int(&row, &format!("y{i}"))?.unwrap_or(0);
            }
        }
        Ok(out)
    }
}

/// Unresolved conversations counted from their rows: by status, and how
/// many are younger than each age bucket's bound but the last.
#[derive(Debug, Default)]
pub(crate) struct Unresolved {
    pub(crate) counts: DayBacklog,
    younger: [i64; AGE_BUCKETS.len() - 1],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_list_reads_back_in_order_with_the_first_inbound_inbox() {
        let list = "1700000000000000,outbound,system,1,email,;1700000060000000,inbound,contact,0,whatsapp,inbox-a;\
                    1700000120000000,inbound,contact,0,sms,inbox-b;1700000180000000,outbound,user,0,sms,inbox-b";
        let (entries, inbox) = history_messages(list).unwrap();
        assert_eq!(inbox.as_deref(), Some("inbox-a"));
        assert_eq!(entries.len(), 4);
        let Entry::Message { at, direction, sender, automatic, channel } = &entries[0] else { panic!("{entries:?}") };
        assert_eq!(
            (*at, *direction, *sender, *automatic, channel.as_str()),
            (crate::from_micros(1_700_000_000_000_000), Direction::Outbound, SenderKind::System, true, "email")
        );
        let Entry::Message { direction, sender, automatic, channel, .. } = &entries[3] else { panic!("{entries:?}") };
        assert_eq!((*direction, *sender, *automatic, channel.as_str()), (Direction::Outbound, SenderKind::User, false, "sms"));
    }

    #[test]
    fn a_damaged_history_list_is_an_error_not_a_guess() {
        for list in
            ["", "12,inbound,contact,0,email", "x,inbound,contact,0,email,", "12,sideways,contact,0,email,", "12,inbound,nobody,0,email,"]
        {
            assert!(matches!(history_messages(list), Err(crate::StoreError::Corrupt(_))), "{list}");
        }
    }
}
