//! Bots on the server. A customer message in a conversation a bot handles
//! becomes a turn — a job of the job table, in the conversation's lane, so
//! its turns are answered in order — in the message's own transaction; the
//! job runner gives each to the inbox's bot — Threadline's own
//! ([`builtin`]), or an external one through the Agent Bot API
//! ([`agent_bot`]). Another job, every 30 seconds, sweeps up conversations
//! the bot answered and the customer left quiet (resolved by the bot).
//!
//! Handing off ([`hand_off`]) puts the conversation in its team's queue
//! with a private note at the top of what the agent reads: why, the
//! detected category and a summary of what the customer said and what the
//! bot tried — so the customer never has to say it again.

pub mod agent_bot;
pub mod builtin;

use threadline_domain::bot::{BotMode, HandoffReason, summarize};
use threadline_domain::conversation::Handler;
use threadline_domain::ids::{AccountId, ConversationId};
use threadline_domain::message::{Direction, MessageKind};
use threadline_store::{BotJob, BotJobOutcome, Job, NewJob, StoreError};
use time::OffsetDateTime;

use crate::app::AppState;
use crate::jobs::Outcome;

/// The job kind of the look for conversations the bot resolved.
pub const RESOLVE_QUIET_JOB: &str = "bot.resolve_quiet";

/// How often the bot's quiet conversations are looked at.
const QUIET_EVERY: time::Duration = time::Duration::seconds(30);

/// The look, due at `at` (one pending for the installation).
pub fn resolve_quiet_job(at: OffsetDateTime) -> NewJob {
    NewJob {
        lane: None,
        kind: RESOLVE_QUIET_JOB,
        account_id: None,
        dedup_key: Some("bot-resolve-quiet".into()),
        payload: serde_json::json!({}),
        run_at: at,
    }
}

/// The job: one look, then the next in 30 seconds.
pub async fn on_resolve_quiet(state: &AppState, _job: &Job) -> anyhow::Result<Outcome> {
    resolve_quiet(state).await;
    Ok(Outcome::Later(state.clock.now() + QUIET_EVERY))
}

/// Hands a bot's conversation to people: a summary (the LLM's if one is
/// configured, the built-in one otherwise), the note, the queue.
pub async fn hand_off(
    state: &AppState,
    account_id: AccountId,
    conversation_id: ConversationId,
    bot: &str,
    reason: HandoffReason,
    given_summary: Option<String>,
) -> Result<(), StoreError> {
    let conversation = state.store.conversation(account_id, conversation_id).await?;
    if conversation.handler != Handler::Bot {
        return Ok(());
    }
    let session = state.store.bot_session(account_id, conversation_id).await?;
    let messages = state.store.conversation_messages(account_id, conversation_id, None, 200).await?;
    let said: Vec<&str> =
        messages.iter().filter(|m| m.kind == MessageKind::Message && m.direction == Direction::Inbound).map(|m| m.text.as_str()).collect();
    let category = conversation.category.clone().or_else(|| session.as_ref().and_then(|s| s.category.clone()));
    let memory = session.as_ref().map(|s| s.memory.clone()).unwrap_or_default();
    let summary = match given_summary {
        Some(s) => s,
        None => {
            let transcript: String = messages
                .iter()
                .filter(|m| m.kind == MessageKind::Message)
                .map(|m| format!("{}: {}\n", if m.direction == Direction::Inbound { "Customer" } else { "Bot" }, m.text))
                .collect();
            let system = "Summarise this customer-service chat between a customer and a bot for the human agent taking over, \
                          in two or three sentences of English: what the customer wants, facts they gave (order numbers, dates), \
                          what the bot already tried. No greeting.";
            match crate::triage::chat(
                &state.settings,
                &state.egress,
                &state.providers.client,
                system,
                threadline_domain::text::clip(&transcript, 8_000),
            )
            .await
            {
                Some(s) if !s.trim().is_empty() => format!(
                    "{} {}Handed over because {}.",
                    s.trim(),
                    threadline_domain::bot::orders_looked_up(&memory),
                    reason.describe("en")
                ),
                _ => summarize(&said, category.as_deref(), &memory, reason),
            }
        }
    };
    let _ = match state.store.hand_off(account_id, conversation_id, bot, reason, category.as_deref(), &summary).await {
        Ok(done) => done,
        // Someone (an agent, another node) took it meanwhile.
        Err(StoreError::Conflict(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    tracing::info!(account = %account_id, conversation = %conversation_id, reason = %reason, "bot handed off");
    Ok(())
}

/// The job of one turn: the message given to the inbox's bot.
pub async fn on_turn(state: &AppState, job: &Job) -> anyhow::Result<Outcome> {
    let Some(turn) = BotJob::from_job(job) else {
        return Ok(Outcome::Dead("not a bot turn: its payload names no conversation and message".into()));
    };
    let outcome = match handle_inner(state, &turn).await {
        Ok(outcome) => outcome,
        // The message or its conversation was erased meanwhile.
        Err(e) if matches!(e.downcast_ref::<StoreError>(), Some(StoreError::NotFound)) => BotJobOutcome::Done,
        Err(e) => BotJobOutcome::Retry { error: e.to_string(), at: state.clock.now() + time::Duration::seconds(10 * (turn.attempts + 1)) },
    };
    Ok(match outcome {
        BotJobOutcome::Done => Outcome::Done,
        BotJobOutcome::Retry { error, at } => Outcome::Retry { at, error: format!("bot turn for message {}: {error}", turn.message_id) },
        BotJobOutcome::Dead { error } => Outcome::Dead(format!("bot turn for message {}: {error}", turn.message_id)),
    })
}

async fn handle_inner(state: &AppState, job: &BotJob) -> anyhow::Result<BotJobOutcome> {
    let conversation = state.store.conversation(job.account_id, job.conversation_id).await?;
    if conversation.handler != Handler::Bot {
        return Ok(BotJobOutcome::Done);
    }
    let message = state.store.message(job.account_id, job.message_id).await?;
    // A machine's message (an auto-reply, a bounce) is never answered.
    if message.automated.is_some() {
        return Ok(BotJobOutcome::Done);
    }
    let bot = match message.inbox_id {
        Some(inbox_id) => state.inbox_and_account(job.account_id, inbox_id).await.ok().and_then(|(inbox, _)| inbox.bot),
        None => None,
    };
    let Some(bot) = bot else {
        // The inbox's bot was removed: people take over.
        hand_off(state, job.account_id, job.conversation_id, "builtin", HandoffReason::LowConfidence, None).await?;
        return Ok(BotJobOutcome::Done);
    };
    match bot.mode {
        BotMode::Builtin => builtin::turn(state, job.account_id, &conversation, &message, &bot.settings).await,
        BotMode::External => agent_bot::deliver(state, job, &conversation, &message, bot.agent_bot_id).await,
    }
}

/// Bot conversations whose answer met with silence for long enough:
/// resolved by the bot.
pub async fn resolve_quiet(state: &AppState) {
    // The shortest setting decides which sessions to look at; each is then
    // held to its own inbox's setting.
    let now = threadline_store::now();
    let Ok(quiet) = state.store.quiet_bot_sessions(now - time::Duration::seconds(60), 200).await else { return };
    for (account_id, conversation_id, inbox_id) in quiet {
        let settings = match inbox_id {
            Some(id) => state.inbox_and_account(account_id, id).await.ok().and_then(|(i, _)| i.bot).map(|b| b.settings),
            None => None,
        }
        .unwrap_or_default();
        let Ok(Some(session)) = state.store.bot_session(account_id, conversation_id).await else { continue };
        let waited = session.last_answer_at.map(|at| now - at).unwrap_or_default();
        if waited < time::Duration::seconds(settings.resolve_after_secs as i64) || !session.memory.awaits_confirmation() {
            continue;
        }
        match state.store.bot_resolved(account_id, conversation_id).await {
            Ok(_) => {}
            Err(e) => tracing::debug!(conversation = %conversation_id, error = %e, "not resolved by the bot"),
        }
    }
}
