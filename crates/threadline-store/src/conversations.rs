//! Conversations: reading, filtering and changing them.

use sqlx::AnyConnection;
use threadline_domain::conversation::{Conversation, ConversationStatus, Priority};
use threadline_domain::event::{ConversationPayload, DomainEvent, Payload};
use threadline_domain::ids::{AccountId, ContactId, ConversationId, InboxId, TeamId, UserId};
use threadline_domain::message::{Message, SenderKind};
use threadline_domain::metrics::Change;
use threadline_domain::timeline::TimelineCursor;
use time::OffsetDateTime;

use crate::audit::audit;
use crate::rows::{CONVERSATION_COLUMNS, MESSAGE_COLUMNS};
use crate::{Result, Store, StoreError, WriteTx, attachments, micros, now, rows};

/// Who a conversation list is filtered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeFilter {
    Unassigned,
    User(UserId),
}

/// Filters for the conversation list; every one is optional.
#[derive(Debug, Clone, Default)]
pub struct ConversationQuery {
    pub status: Option<ConversationStatus>,
    pub priority: Option<Priority>,
    pub assignee: Option<AssigneeFilter>,
    pub team_id: Option<TeamId>,
    pub inbox_id: Option<InboxId>,
    pub contact_id: Option<ContactId>,
    pub label: Option<String>,
    /// Words in the messages, or part of the customer's name or of one of
    /// their identities.
    pub search: Option<String>,
    /// Conversations where a note mentions this user.
    pub mentioning: Option<UserId>,
    /// Conversations with at least one message on this channel.
    pub channel: Option<threadline_domain::channel::Channel>,
    /// Continue after this position (newest activity first).
    pub before: Option<TimelineCursor>,
    pub limit: i64,
}

/// Changes to a conversation. The outer `Option` says whether to change a
/// field; for clearable fields the inner one is the new value or "clear".
#[derive(Debug, Clone, Default)]
pub struct ConversationChanges {
    pub status: Option<ConversationStatus>,
    pub priority: Option<Priority>,
    pub assignee_id: Option<Option<UserId>>,
    pub team_id: Option<Option<TeamId>>,
    pub labels: Option<Vec<String>>,
    pub category: Option<Option<String>>,
    pub snoozed_until: Option<Option<OffsetDateTime>>,
}

pub(crate) async fn load_conversation(conn: &mut AnyConnection, account_id: AccountId, id: ConversationId) -> Result<Conversation> {
    let sql = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 AND account_id = $2");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .bind(account_id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    rows::conversation(&row)
}

/// A `conversation.*` event: `kind` is the payload's variant
/// (`Payload::ConversationUpdated`…), the conversation as it now is.
pub(crate) fn conversation_event(
    account_id: AccountId,
    kind: fn(ConversationPayload) -> Payload,
    conversation: &Conversation,
    at: OffsetDateTime,
) -> DomainEvent {
    DomainEvent::new(account_id, kind(ConversationPayload::of(conversation)), at)
}

impl Store {
    pub async fn conversation(&self, account_id: AccountId, id: ConversationId) -> Result<Conversation> {
        let mut conn = self.pool.acquire().await?;
        load_conversation(&mut conn, account_id, id).await
    }

    #[tracing::instrument(skip_all, fields(account = %account_id))]
    pub async fn conversations(&self, account_id: AccountId, q: &ConversationQuery) -> Result<Vec<Conversation>> {
        let label = q.label.as_ref().map(|l| {
            let quoted = serde_json::Value::String(l.clone()).to_string();
            format!("%{}%", crate::like_literal(&quoted))
        });
        // Only the filters asked for are in the SQL, each plainly, so the
        // planner can use the index that fits (`contact_id = $n`, not
        // `($n IS NULL OR contact_id = $n)`).
        let mut optional = OptionalFilters::after(1);
        if let Some(status) = q.status {
            let status = optional.param(status.as_str().to_owned());
            optional.condition(format!("status = ${status}"));
        }
        if let Some(priority) = q.priority {
            let priority = optional.param(priority.as_str().to_owned());
            optional.condition(format!("priority = ${priority}"));
        }
        match q.assignee {
            None => {}
            Some(AssigneeFilter::Unassigned) => optional.condition("assignee_id IS NULL".to_owned()),
            Some(AssigneeFilter::User(u)) => {
                let user = optional.param(u.to_string());
                optional.condition(format!("assignee_id = ${user}"));
            }
        }
        if let Some(team) = q.team_id {
            let team = optional.param(team.to_string());
            optional.condition(format!("team_id = ${team}"));
        }
        if let Some(contact) = q.contact_id {
            let contact = optional.param(contact.to_string());
            optional.condition(format!("contact_id = ${contact}"));
        }
        if let Some(label) = label {
            let label = optional.param(label);
            optional.condition(format!("labels LIKE ${label} ESCAPE '\\'"));
        }
        if let Some(inbox) = q.inbox_id {
            let inbox = optional.param(inbox.to_string());
            optional.condition(format!("EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.inbox_id = ${inbox})"));
        }
        if let Some(before) = &q.before {
            let (at, id) = (optional.param(before.at_micros), optional.param(before.id.clone()));
            optional.condition(format!("(last_activity_at < ${at} OR (last_activity_at = ${at} AND id < ${id}))"));
        }
        if let Some(search) = q.search.as_deref().and_then(|text| crate::search::Search::new(self.backend, text)) {
            let (text, like) = (optional.param(search.text), optional.param(search.like));
            optional.condition(crate::search::Search::condition(self.backend, text, like));
        }
        if let Some(user) = q.mentioning {
            let user = optional.param(user.to_string());
            optional.condition(format!(
                "EXISTS (SELECT 1 FROM mentions x WHERE x.account_id = c.account_id AND x.user_id = ${user} AND x.conversation_id = c.id)"
            ));
        }
        if let Some(channel) = q.channel {
            let channel = optional.param(channel.as_str().to_owned());
            optional.condition(format!("EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.channel = ${channel})"));
        }
        let limit = optional.param(q.limit);
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE account_id = $1 {} ORDER BY last_activity_at DESC, id DESC LIMIT ${limit}",
            optional.sql
        );
        let mut query = sqlx::query(&sql).bind(account_id.to_string());
        for value in optional.values {
            query = match value {
                Param::Text(text) => query.bind(text),
                Param::Int(number) => query.bind(number),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(rows::conversation).collect()
    }

    /// Messages of a conversation, oldest first, after an optional message id.
    pub async fn conversation_messages(
        &self,
        account_id: AccountId,
        id: ConversationId,
        after: Option<&TimelineCursor>,
        limit: i64,
    ) -> Result<Vec<Message>> {
        let mut conn = self.pool.acquire().await?;
        load_conversation(&mut conn, account_id, id).await?;
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND account_id = $2 \
             AND ($3 IS NULL OR created_at > $3 OR (created_at = $3 AND id > $4)) ORDER BY created_at, id LIMIT $5"
        );
        let rows = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(account_id.to_string())
            .bind(after.map(|c| c.at_micros))
            .bind(after.map(|c| c.id.clone()))
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
        let mut messages = rows.iter().map(rows::message).collect::<Result<Vec<_>>>()?;
        attachments::load_attachment_meta(&mut conn, &mut messages).await?;
        Ok(messages)
    }

    /// The customer's latest message in a conversation, optionally on one
    /// channel: where a reply goes by default.
    /// When the contact last wrote on each channel, and through which inbox,
    /// newest first: what the channels' reply windows are measured from.
    pub async fn last_inbound_by_channel(
        &self,
        account_id: AccountId,
        contact_id: ContactId,
    ) -> Result<Vec<(threadline_domain::channel::Channel, Option<InboxId>, OffsetDateTime)>> {
        let rows = sqlx::query(
            "SELECT m.channel, m.inbox_id, m.created_at FROM messages m JOIN (                SELECT channel, MAX(created_at) AS at FROM messages                WHERE contact_id = $1 AND account_id = $2 AND direction = 'inbound' GROUP BY channel              ) last ON last.channel = m.channel AND last.at = m.created_at              WHERE m.contact_id = $1 AND m.account_id = $2 AND m.direction = 'inbound' ORDER BY m.created_at DESC",
        )
        .bind(contact_id.to_string())
        .bind(account_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(threadline_domain::channel::Channel, Option<InboxId>, OffsetDateTime)> = Vec::new();
        for row in &rows {
            let channel = rows::parse(row, "channel")?;
            if !out.iter().any(|(c, _, _)| *c == channel) {
                out.push((channel, rows::opt_parse(row, "inbox_id")?, rows::time(row, "created_at")?));
            }
        }
        Ok(out)
    }

    pub async fn last_inbound_message(
        &self,
        account_id: AccountId,
        id: ConversationId,
        channel: Option<threadline_domain::channel::Channel>,
    ) -> Result<Option<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND account_id = $2 AND direction = 'inbound' \
             AND ($3 IS NULL OR channel = $3) ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(account_id.to_string())
            .bind(channel.map(|c| c.as_str().to_owned()))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::message).transpose()
    }

    #[tracing::instrument(skip_all, fields(account = %account_id, conversation = %id))]
    pub async fn update_conversation(
        &self,
        account_id: AccountId,
        id: ConversationId,
        changes: ConversationChanges,
        actor: &str,
    ) -> Result<Conversation> {
        let mut tx = self.begin_write().await?;
        let (c, changed) = change_conversation(&mut tx, account_id, id, changes, actor, now()).await?;
        if !changed {
            tx.rollback().await?;
            return Ok(c);
        }
        tx.commit().await?;
        Ok(c)
    }
}

/// Applies `changes` to a conversation in `tx` (checking the assignee and
/// team belong to the account), with its events, audit and measurement
/// records; false when nothing changed.
pub(crate) async fn change_conversation(
    tx: &mut WriteTx,
    account_id: AccountId,
    id: ConversationId,
    changes: ConversationChanges,
    actor: &str,
    at: OffsetDateTime,
) -> Result<(Conversation, bool)> {
    let before = load_conversation(tx.conn(), account_id, id).await?;
    let mut c = before.clone();
    if let Some(Some(user_id)) = changes.assignee_id {
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL")
            .bind(user_id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(tx.conn())
            .await?;
        if exists.is_none() {
            return Err(threadline_domain::ValidationErrors::single("assignee_id", "no such user in this account").into());
        }
    }
    if let Some(Some(team_id)) = changes.team_id {
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM teams WHERE id = $1 AND account_id = $2")
            .bind(team_id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(tx.conn())
            .await?;
        if exists.is_none() {
            return Err(threadline_domain::ValidationErrors::single("team_id", "no such team in this account").into());
        }
    }
    if let Some(status) = changes.status {
        c.status = status;
        if status != ConversationStatus::Snoozed {
            c.snoozed_until = None;
        }
    }
    if let Some(snoozed_until) = changes.snoozed_until {
        c.snoozed_until = snoozed_until;
        if snoozed_until.is_some() {
            c.status = ConversationStatus::Snoozed;
        }
    }
    if let Some(priority) = changes.priority {
        c.priority = priority;
    }
    if let Some(assignee) = changes.assignee_id {
        c.assignee_id = assignee;
    }
    if let Some(team) = changes.team_id {
        c.team_id = team;
    }
    if let Some(labels) = changes.labels {
        c.labels = labels;
    }
    if let Some(category) = changes.category {
        c.category = category;
    }
    if c == before {
        return Ok((before, false));
    }
    c.updated_at = at;
    if c.status == ConversationStatus::Resolved && before.status != ConversationStatus::Resolved {
        c.resolved_at = Some(at);
        c.awaiting_since = None;
    } else if c.status != ConversationStatus::Resolved {
        c.resolved_at = None;
    }
    // Back in the queue: unassigned, moved to another team, or reopened
    // with nobody on it.
    let requeued = c.assignee_id.is_none()
        && c.status == ConversationStatus::Open
        && (before.assignee_id.is_some() || c.team_id != before.team_id || before.status != ConversationStatus::Open);
    if requeued {
        c.queued_at = Some(at);
        tx.routing_needed = true;
    }
    sqlx::query(
            "UPDATE conversations SET status = $3, priority = $4, assignee_id = $5, team_id = $6, labels = $7, category = $8, \
             snoozed_until = $9, updated_at = $10, queued_at = $11, resolved_at = $12, awaiting_since = $13 WHERE id = $1 AND account_id = $2",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .bind(c.status.as_str())
        .bind(c.priority.as_str())
        .bind(c.assignee_id.map(|u| u.to_string()))
        .bind(c.team_id.map(|t| t.to_string()))
        .bind(serde_json::to_string(&c.labels).unwrap_or_else(|_| "[]".into()))
        .bind(c.category.clone())
        .bind(c.snoozed_until.map(micros))
        .bind(micros(at))
        .bind(c.queued_at.map(micros))
        .bind(c.resolved_at.map(micros))
        .bind(c.awaiting_since.map(micros))
        .execute(tx.conn())
        .await?;
    tx.emit(conversation_event(account_id, Payload::ConversationUpdated, &c, at));
    if c.assignee_id != before.assignee_id || c.team_id != before.team_id {
        tx.emit(conversation_event(account_id, Payload::ConversationAssigned, &c, at));
        let data = serde_json::json!({ "assignee_id": c.assignee_id, "team_id": c.team_id });
        audit(tx, account_id, actor, "conversation.assign", "conversation", &id.to_string(), data, at).await?;
    }
    // Agent bots (an integration's bot) and Threadline itself act through this path too.
    let by = if actor.starts_with("agent_bot:") {
        SenderKind::Bot
    } else if actor.starts_with("system") || actor.starts_with("automation") {
        SenderKind::System
    } else {
        SenderKind::User
    };
    if c.status == ConversationStatus::Resolved && before.status != ConversationStatus::Resolved {
        tx.emit(conversation_event(account_id, Payload::ConversationResolved, &c, at));
        crate::metrics::record_change(tx, account_id, id, Change::Resolved, by, at).await?;
    } else if before.status == ConversationStatus::Resolved && c.status != ConversationStatus::Resolved {
        crate::metrics::record_change(tx, account_id, id, Change::Reopened, by, at).await?;
    }
    Ok((c, true))
}

/// Conditions added to a query only when asked for, each with its
/// parameters numbered after the fixed ones.
struct OptionalFilters {
    fixed: usize,
    values: Vec<Param>,
    sql: String,
}

enum Param {
    Text(String),
    Int(i64),
}

impl From<String> for Param {
    fn from(text: String) -> Self {
        Param::Text(text)
    }
}

impl From<i64> for Param {
    fn from(number: i64) -> Self {
        Param::Int(number)
    }
}

impl OptionalFilters {
    fn after(fixed: usize) -> Self {
        OptionalFilters { fixed, values: Vec::new(), sql: String::new() }
    }

    /// Adds a parameter; returns its number.
    fn param(&mut self, value: impl Into<Param>) -> usize {
        self.values.push(value.into());
        self.fixed + self.values.len()
    }

    fn condition(&mut self, condition: String) {
        self.sql.push_str(" AND ");
        self.sql.push_str(&condition);
    }
}

/// What an inbox list shows of a conversation beyond its own fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationSummary {
    pub contact_name: Option<String>,
    /// The newest message (not a note): its text, channel and direction.
    pub last_text: Option<String>,
    pub last_channel: Option<threadline_domain::channel::Channel>,
    pub last_inbound: bool,
    /// When the customer last wrote, if the newest message is theirs: how
    /// long they have been waiting.
    pub waiting_since: Option<time::OffsetDateTime>,
}

impl Store {
    /// Summaries of `ids` for an inbox list, in two queries whatever their number.
    pub async fn conversation_summaries(
        &self,
        account_id: AccountId,
        ids: &[ConversationId],
    ) -> Result<std::collections::HashMap<ConversationId, ConversationSummary>> {
        let mut out: std::collections::HashMap<ConversationId, ConversationSummary> = std::collections::HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let padded = rows::padded(ids);
        let sql = format!(
            "SELECT c.id, k.name FROM conversations c JOIN contacts k ON k.id = c.contact_id \
             WHERE {} AND c.id IN ({})",
            rows::guard("c.account_id", "$1"),
            rows::list(2, padded.len())
        );
        let mut query = sqlx::query(&sql).bind(account_id.to_string());
        for id in &padded {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&self.pool).await? {
            out.entry(rows::parse(&row, "id")?).or_default().contact_name = rows::opt_text(&row, "name")?;
        }
        let sql = format!(
            "SELECT m.conversation_id, m.body_text, m.subject, m.channel, m.direction, m.created_at FROM messages m \
             WHERE m.account_id = $1 AND m.kind = 'message' AND m.conversation_id IN ({}) \
             AND m.created_at = (SELECT MAX(l.created_at) FROM messages l WHERE l.conversation_id = m.conversation_id AND l.kind = 'message')",
            rows::list(2, padded.len())
        );
        let mut query = sqlx::query(&sql).bind(account_id.to_string());
        for id in &padded {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&self.pool).await? {
            let summary = out.entry(rows::parse(&row, "conversation_id")?).or_default();
            let text = rows::text(&row, "body_text")?;
            summary.last_text = Some(if text.trim().is_empty() { rows::opt_text(&row, "subject")?.unwrap_or_default() } else { text });
            summary.last_channel = Some(rows::parse(&row, "channel")?);
            summary.last_inbound = rows::text(&row, "direction")? == "inbound";
            summary.waiting_since = summary.last_inbound.then(|| rows::time(&row, "created_at")).transpose()?;
        }
        Ok(out)
    }
}

/// A resolved conversation, as agent assist shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ResolvedCase {
    pub conversation_id: ConversationId,
    pub contact_name: Option<String>,
    pub category: Option<String>,
    /// What the customer wrote first.
    pub question: String,
    /// The last answer an agent sent.
    pub answer: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
}

impl Store {
    /// The most recently resolved conversations (of `category`, if given),
    /// other than `except`, with their first question and last answer.
    pub async fn resolved_cases(
        &self,
        account_id: AccountId,
        category: Option<&str>,
        except: ConversationId,
        limit: i64,
    ) -> Result<Vec<ResolvedCase>> {
        let found = sqlx::query(
            "SELECT c.id, c.category, c.resolved_at, k.name, \
             (SELECT m.body_text FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'inbound' AND m.kind = 'message' \
              ORDER BY m.created_at LIMIT 1) AS question, \
             (SELECT m.body_text FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'outbound' AND m.kind = 'message' \
              AND m.sender_kind = 'user' ORDER BY m.created_at DESC LIMIT 1) AS answer \
             FROM conversations c JOIN contacts k ON k.id = c.contact_id \
             WHERE c.account_id = $1 AND c.status = 'resolved' AND ($2 IS NULL OR c.category = $2) AND c.id <> $3 \
             ORDER BY c.last_activity_at DESC LIMIT $4",
        )
        .bind(account_id.to_string())
        .bind(category)
        .bind(except.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        found
            .iter()
            .map(|r| {
                Ok(ResolvedCase {
                    conversation_id: rows::parse(r, "id")?,
                    contact_name: rows::opt_text(r, "name")?,
                    category: rows::opt_text(r, "category")?,
                    question: rows::opt_text(r, "question")?.unwrap_or_default(),
                    answer: rows::opt_text(r, "answer")?,
                    resolved_at: rows::opt_time(r, "resolved_at")?,
                })
            })
            .collect()
    }
}
