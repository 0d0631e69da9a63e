//! The bot's side of the store: the jobs that tell a bot a customer wrote
//! (written with the message, claimed like the outbox), what a bot
//! remembers of each conversation and how it ended, the handoff to people,
//! and the external agent bots.

use serde::Serialize;
use threadline_domain::bot::{BotMemory, HandoffReason};
use threadline_domain::conversation::{Conversation, ConversationStatus, Handler};
use threadline_domain::event::{ConversationPayload, DomainEvent, HandoffNote, Payload};
use threadline_domain::ids::{AccountId, AgentBotId, ConversationId, InboxId, MessageId};
use threadline_domain::message::{DeliveryStatus, Direction, Message, MessageKind, SenderKind};
use threadline_domain::metrics::Change;
use time::OffsetDateTime;

use crate::conversations::{conversation_event, load_conversation};
use crate::messages::insert_messages;
use crate::{Result, Store, StoreError, WriteTx, found, micros, now, rows};

/// The job kind of a bot's turn: a customer message the conversation's bot
/// must answer (payload: `conversation_id`, `message_id`). A
/// conversation's turns share a lane, so they are answered in order.
pub const BOT_TURN_JOB: &str = "bot.turn";

/// The dedup key of the turn for one message.
fn turn_key(message_id: &str) -> String {
    format!("bot-turn:{message_id}")
}

/// Queues a bot turn for each message, in the message's own transaction.
pub(crate) async fn enqueue_bot_jobs(tx: &mut WriteTx, account_id: AccountId, messages: &[&Message], at: OffsetDateTime) -> Result<()> {
    for m in messages {
        let job = crate::NewJob {
            kind: BOT_TURN_JOB,
            account_id: Some(account_id),
            dedup_key: Some(turn_key(&m.id.to_string())),
            payload: serde_json::json!({ "conversation_id": m.conversation_id, "message_id": m.id }),
            run_at: at,
            lane: Some(m.conversation_id.to_string()),
        };
        crate::jobs::enqueue(tx, &job, at).await?;
    }
    Ok(())
}

/// Removes the bot turns still waiting for these messages (erased).
pub(crate) async fn forget_turns(tx: &mut WriteTx, messages: &[String]) -> Result<()> {
    for chunk in messages.chunks(500) {
        let sql = format!("DELETE FROM jobs WHERE dedup_key IN ({})", rows::list(1, chunk.len()));
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(turn_key(id));
        }
        query.execute(tx.conn()).await?;
    }
    Ok(())
}

/// A customer message a bot must answer: a [`BOT_TURN_JOB`] job, read.
#[derive(Debug, Clone)]
pub struct BotJob {
    pub account_id: AccountId,
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    /// Attempts before this one.
    pub attempts: i64,
}

impl BotJob {
    /// The turn a job holds; `None` for a job that is not a readable turn.
    pub fn from_job(job: &crate::Job) -> Option<BotJob> {
        Some(BotJob {
            account_id: job.account_id?,
            message_id: job.payload.get("message_id")?.as_str()?.parse().ok()?,
            conversation_id: job.payload.get("conversation_id")?.as_str()?.parse().ok()?,
            attempts: (job.attempts - 1).max(0),
        })
    }
}

/// How a bot job went.
#[derive(Debug, Clone)]
pub enum BotJobOutcome {
    Done,
    Retry {
        error: String,
        at: OffsetDateTime,
    },
    /// Given up: the conversation goes to people (see [`Store::hand_off`]).
    Dead {
        error: String,
    },
}

/// A bot's part in a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BotSession {
    pub conversation_id: ConversationId,
    pub inbox_id: Option<InboxId>,
    /// `builtin` or the agent bot's id.
    pub bot: String,
    /// `active`, `resolved` or `handed_off`.
    pub status: String,
    #[serde(skip)]
    pub memory: BotMemory,
    pub category: Option<String>,
    pub handoff_reason: Option<HandoffReason>,
    /// For the agent who takes over.
    pub summary: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_answer_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
}

const SESSION_COLUMNS: &str =
    "conversation_id, inbox_id, bot, status, memory, category, handoff_reason, summary, started_at, last_answer_at, ended_at";

fn session(row: &sqlx::any::AnyRow) -> Result<BotSession> {
    Ok(BotSession {
        conversation_id: rows::parse(row, "conversation_id")?,
        inbox_id: rows::opt_parse(row, "inbox_id")?,
        bot: rows::text(row, "bot")?,
        status: rows::text(row, "status")?,
        memory: rows::json(row, "memory")?,
        category: rows::opt_text(row, "category")?,
        handoff_reason: match rows::opt_text(row, "handoff_reason")? {
            Some(r) => Some(HandoffReason::parse(&r).ok_or_else(|| StoreError::Corrupt(format!("handoff_reason `{r}`")))?),
            None => None,
        },
        summary: rows::opt_text(row, "summary")?,
        started_at: rows::time(row, "started_at")?,
        last_answer_at: rows::opt_time(row, "last_answer_at")?,
        ended_at: rows::opt_time(row, "ended_at")?,
    })
}

/// One bot turn, as recorded.
#[derive(Debug, Clone, Copy)]
pub struct BotTurn<'a> {
    pub conversation_id: ConversationId,
    pub inbox_id: Option<InboxId>,
    /// `builtin` or the agent bot's id.
    pub bot: &'a str,
    /// What the bot remembers after the turn.
    pub memory: &'a BotMemory,
    pub category: Option<&'a str>,
    /// The bot answered with an article (the clock for "resolved by the
    /// bot when the customer goes quiet" starts).
    pub answered: bool,
}

/// How the account's bots did over a period: the input of the deflection rate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BotStats {
    pub conversations: i64,
    pub resolved_by_bot: i64,
    pub handed_off: i64,
    pub active: i64,
    /// resolved ÷ (resolved + handed off); none before any ended.
    pub deflection_rate: Option<f64>,
}

/// An external bot as the API shows it (its secret and token never).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AgentBot {
    pub id: AgentBotId,
    pub name: String,
    /// Where Threadline posts customer messages.
    pub url: String,
    /// The first characters of its token.
    pub token_prefix: String,
    #[serde(skip)]
    pub sealed_secret: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

fn agent_bot(row: &sqlx::any::AnyRow) -> Result<AgentBot> {
    Ok(AgentBot {
        id: rows::parse(row, "id")?,
        name: rows::text(row, "name")?,
        url: rows::text(row, "url")?,
        token_prefix: rows::text(row, "token_prefix")?,
        sealed_secret: rows::text(row, "secret")?,
        created_at: rows::time(row, "created_at")?,
    })
}

impl Store {
    /// The bot's session of a conversation, if a bot has had it.
    pub async fn bot_session(&self, account_id: AccountId, conversation_id: ConversationId) -> Result<Option<BotSession>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM bot_sessions WHERE conversation_id = $1 AND account_id = $2");
        let row = sqlx::query(&sql).bind(conversation_id.to_string()).bind(account_id.to_string()).fetch_optional(&self.pool).await?;
        row.as_ref().map(session).transpose()
    }

    /// Records what the bot remembers after a turn (starting the session on
    /// its first).
    pub async fn save_bot_turn(&self, account_id: AccountId, turn: &BotTurn<'_>) -> Result<()> {
        let BotTurn { conversation_id, inbox_id, bot, memory, category, answered } = *turn;
        let at = micros(now());
        let memory = serde_json::to_string(memory).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO bot_sessions (conversation_id, account_id, inbox_id, bot, status, memory, category, started_at, updated_at, last_answer_at) \
             VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $7, $8) ON CONFLICT (conversation_id) DO UPDATE SET memory = excluded.memory, \
             category = COALESCE(excluded.category, bot_sessions.category), updated_at = excluded.updated_at, \
             last_answer_at = COALESCE(excluded.last_answer_at, bot_sessions.last_answer_at)",
        )
        .bind(conversation_id.to_string())
        .bind(account_id.to_string())
        .bind(inbox_id.map(|i| i.to_string()))
        .bind(bot)
        .bind(memory)
        .bind(category)
        .bind(at)
        .bind(answered.then_some(at))
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Hands a bot's conversation to people: it enters its team's queue now,
    /// the session records why with a summary, and a private note puts the
    /// reason, the detected category and the summary at the top of what the
    /// agent reads.
    pub async fn hand_off(
        &self,
        account_id: AccountId,
        conversation_id: ConversationId,
        bot: &str,
        reason: HandoffReason,
        category: Option<&str>,
        summary: &str,
    ) -> Result<Conversation> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let mut c = load_conversation(tx.conn(), account_id, conversation_id).await?;
        if c.handler != Handler::Bot {
            return Err(StoreError::Conflict("the conversation is already with people".into()));
        }
        c.handler = Handler::Human;
        c.queued_at = Some(at);
        if c.category.is_none() {
            c.category = category.map(str::to_owned);
        }
        if c.status != ConversationStatus::Open {
            c.status = ConversationStatus::Open;
            c.snoozed_until = None;
            c.resolved_at = None;
        }
        // The wait for a person starts now, whatever the bot said before.
        c.awaiting_since = Some(at);
        c.updated_at = at;
        sqlx::query(
            "UPDATE conversations SET handler = 'human', queued_at = $3, category = $4, status = $5, snoozed_until = $6, resolved_at = $7, \
             awaiting_since = $3, updated_at = $3 WHERE id = $1 AND account_id = $2",
        )
        .bind(c.id.to_string())
        .bind(account_id.to_string())
        .bind(micros(at))
        .bind(c.category.clone())
        .bind(c.status.as_str())
        .bind(c.snoozed_until.map(micros))
        .bind(c.resolved_at.map(micros))
        .execute(tx.conn())
        .await?;
        sqlx::query(
            "INSERT INTO bot_sessions (conversation_id, account_id, bot, status, memory, category, handoff_reason, summary, started_at, updated_at, ended_at) \
             VALUES ($1, $2, $3, 'handed_off', '{}', $4, $5, $6, $7, $7, $7) ON CONFLICT (conversation_id) DO UPDATE SET status = 'handed_off', \
             category = COALESCE(excluded.category, bot_sessions.category), handoff_reason = excluded.handoff_reason, summary = excluded.summary, \
             updated_at = excluded.updated_at, ended_at = excluded.ended_at",
        )
        .bind(c.id.to_string())
        .bind(account_id.to_string())
        .bind(bot)
        .bind(category)
        .bind(reason.as_str())
        .bind(summary)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        // Any bot job still waiting is moot now.
        sqlx::query("DELETE FROM jobs WHERE kind = $1 AND lane = $2 AND lease_until IS NULL")
            .bind(BOT_TURN_JOB)
            .bind(c.id.to_string())
            .execute(tx.conn())
            .await?;
        let note = Message {
            id: MessageId::new(),
            conversation_id: c.id,
            contact_id: c.contact_id,
            kind: MessageKind::Note,
            direction: Direction::Outbound,
            channel: c.channel.unwrap_or(threadline_domain::channel::Channel::Api),
            inbox_id: None,
            sender_kind: SenderKind::Bot,
            sender_id: Some(bot.to_owned()),
            text: summary.to_owned(),
            html: None,
            provider_message_id: None,
            delivery_status: DeliveryStatus::Internal,
            delivery_error: None,
            subject: None,
            quoted_text: None,
            automated: None,
            problems: Vec::new(),
            choices: Vec::new(),
            attachments: Vec::new(),
            triage: None,
            created_at: at,
        };
        insert_messages(&mut tx, account_id, &[&note]).await?;
        tx.emit(DomainEvent::message_created(account_id, &note, &c, &[], at));
        tx.emit(conversation_event(account_id, Payload::ConversationUpdated, &c, at));
        let handoff = HandoffNote { bot: bot.to_owned(), reason, category: category.map(str::to_owned), summary: summary.to_owned() };
        let handed = ConversationPayload { handoff: Some(handoff), ..ConversationPayload::of(&c) };
        tx.emit(DomainEvent::new(account_id, Payload::ConversationHandedOff(handed), at));
        crate::metrics::record_change(&mut tx, account_id, c.id, Change::HandedOff, SenderKind::Bot, at).await?;
        tx.routing_needed = true;
        tx.commit().await?;
        Ok(c)
    }

    /// The bot resolved the conversation: the customer said it helped, or
    /// went quiet after its answer.
    pub async fn bot_resolved(&self, account_id: AccountId, conversation_id: ConversationId) -> Result<Conversation> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let mut c = load_conversation(tx.conn(), account_id, conversation_id).await?;
        if c.handler != Handler::Bot {
            return Err(StoreError::Conflict("the conversation is with people".into()));
        }
        c.status = ConversationStatus::Resolved;
        c.resolved_at = Some(at);
        c.awaiting_since = None;
        c.updated_at = at;
        sqlx::query("UPDATE conversations SET status = 'resolved', resolved_at = $3, awaiting_since = NULL, updated_at = $3 WHERE id = $1 AND account_id = $2")
            .bind(c.id.to_string())
            .bind(account_id.to_string())
            .bind(micros(at))
            .execute(tx.conn())
            .await?;
        let done = sqlx::query(
            "UPDATE bot_sessions SET status = 'resolved', updated_at = $2, ended_at = $2 WHERE conversation_id = $1 AND status = 'active'",
        )
        .bind(c.id.to_string())
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        found(&done)?;
        tx.emit(conversation_event(account_id, Payload::ConversationUpdated, &c, at));
        tx.emit(conversation_event(account_id, Payload::ConversationResolved, &c, at));
        crate::metrics::record_change(&mut tx, account_id, c.id, Change::Resolved, SenderKind::Bot, at).await?;
        tx.commit().await?;
        Ok(c)
    }

    /// Active bot sessions whose last answer is older than `before` and
    /// that the customer has not written to since: resolved by the bot.
    pub async fn quiet_bot_sessions(
        &self,
        before: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<(AccountId, ConversationId, Option<InboxId>)>> {
        let found = sqlx::query(
            "SELECT s.account_id, s.conversation_id, s.inbox_id FROM bot_sessions s JOIN conversations c ON c.id = s.conversation_id \
             WHERE s.status = 'active' AND s.last_answer_at IS NOT NULL AND s.last_answer_at < $1 AND c.handler = 'bot' \
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.lane = s.conversation_id AND j.kind = $3 AND j.dead = 0) \
             ORDER BY s.last_answer_at LIMIT $2",
        )
        .bind(micros(before))
        .bind(limit)
        .bind(BOT_TURN_JOB)
        .fetch_all(&self.pool)
        .await?;
        found
            .iter()
            .map(|r| Ok((rows::parse(r, "account_id")?, rows::parse(r, "conversation_id")?, rows::opt_parse(r, "inbox_id")?)))
            .collect()
    }

    /// When each of `ids` was handed to people by a bot, for those that were.
    pub async fn handoff_times(
        &self,
        account_id: AccountId,
        ids: &[ConversationId],
    ) -> Result<std::collections::HashMap<ConversationId, OffsetDateTime>> {
        let mut out = std::collections::HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let padded = rows::padded(ids);
        let sql = format!(
            "SELECT conversation_id, ended_at FROM bot_sessions WHERE {} AND status = 'handed_off' AND conversation_id IN ({})",
            rows::guard("account_id", "$1"),
            rows::list(2, padded.len())
        );
        let mut query = sqlx::query(&sql).bind(account_id.to_string());
        for id in &padded {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&self.pool).await? {
            if let Some(at) = rows::opt_time(&row, "ended_at")? {
                out.insert(rows::parse(&row, "conversation_id")?, at);
            }
        }
        Ok(out)
    }

    /// How the account's bot conversations started since `since` ended.
    pub async fn bot_stats(&self, account_id: AccountId, since: OffsetDateTime) -> Result<BotStats> {
        let found =
            sqlx::query("SELECT status, COUNT(*) AS n FROM bot_sessions WHERE account_id = $1 AND started_at >= $2 GROUP BY status")
                .bind(account_id.to_string())
                .bind(micros(since))
                .fetch_all(&self.pool)
                .await?;
        let mut stats = BotStats::default();
        for row in &found {
            let n = rows::int(row, "n")?;
            match rows::text(row, "status")?.as_str() {
                "resolved" => stats.resolved_by_bot = n,
                "handed_off" => stats.handed_off = n,
                _ => stats.active += n,
            }
            stats.conversations += n;
        }
        let ended = stats.resolved_by_bot + stats.handed_off;
        stats.deflection_rate = (ended > 0).then(|| stats.resolved_by_bot as f64 / ended as f64);
        Ok(stats)
    }

    // --- agent bots ------------------------------------------------------

    pub async fn create_agent_bot(
        &self,
        account_id: AccountId,
        name: &str,
        url: &str,
        sealed_secret: &str,
        token_hash: &str,
        token_prefix: &str,
    ) -> Result<AgentBot> {
        let bot = AgentBot {
            id: AgentBotId::new(),
            name: name.to_owned(),
            url: url.to_owned(),
            token_prefix: token_prefix.to_owned(),
            sealed_secret: sealed_secret.to_owned(),
            created_at: now(),
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO agent_bots (id, account_id, name, url, secret, token_hash, token_prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(bot.id.to_string())
        .bind(account_id.to_string())
        .bind(name)
        .bind(url)
        .bind(sealed_secret)
        .bind(token_hash)
        .bind(token_prefix)
        .bind(micros(bot.created_at))
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(bot)
    }

    pub async fn agent_bots(&self, account_id: AccountId) -> Result<Vec<AgentBot>> {
        let found = sqlx::query(
            "SELECT id, name, url, token_prefix, secret, created_at FROM agent_bots WHERE account_id = $1 AND deleted_at IS NULL ORDER BY name, id",
        )
        .bind(account_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(agent_bot).collect()
    }

    pub async fn agent_bot(&self, account_id: AccountId, id: AgentBotId) -> Result<AgentBot> {
        let row = sqlx::query(
            "SELECT id, name, url, token_prefix, secret, created_at FROM agent_bots WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        agent_bot(&row)
    }

    /// The agent bot a token belongs to, and its account.
    pub async fn agent_bot_by_token(&self, token_hash: &str) -> Result<Option<(AccountId, AgentBot)>> {
        let row = sqlx::query(
            "SELECT account_id, id, name, url, token_prefix, secret, created_at FROM agent_bots WHERE token_hash = $1 AND deleted_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(|r| Ok((rows::parse(r, "account_id")?, agent_bot(r)?))).transpose()
    }

    /// Removes an agent bot; inboxes that used it go straight to people.
    pub async fn delete_agent_bot(&self, account_id: AccountId, id: AgentBotId) -> Result<()> {
        let at = micros(now());
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE agent_bots SET deleted_at = $3 WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .bind(at)
            .execute(tx.conn())
            .await?;
        found(&done)?;
        let pattern = format!("%{}%", crate::like_literal(&id.to_string()));
        sqlx::query("UPDATE inboxes SET bot = NULL, updated_at = $3 WHERE account_id = $1 AND bot LIKE $2 ESCAPE '\\'")
            .bind(account_id.to_string())
            .bind(pattern)
            .bind(at)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
