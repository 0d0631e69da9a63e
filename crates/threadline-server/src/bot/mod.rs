//! Bots on the server. A customer message in a conversation a bot handles
//! becomes a bot job in the message's own transaction; the bot worker
//! claims due jobs and gives each to the inbox's bot — Threadline's own
//! ([`builtin`]), or an external one through the Agent Bot API
//! ([`agent_bot`]) — and sweeps up conversations the bot answered and the
//! customer left quiet (resolved by the bot).
//!
//! Handing off ([`hand_off`]) puts the conversation in its team's queue
//! with a private note at the top of what the agent reads: why, the
//! detected category and a summary of what the customer said and what the
//! bot tried — so the customer never has to say it again.

pub mod agent_bot;
pub mod builtin;

use std::time::Duration;

use threadline_domain::bot::{BotMode, HandoffReason, summarize};
use threadline_domain::conversation::Handler;
use threadline_domain::ids::{AccountId, ConversationId};
use threadline_domain::message::{Direction, MessageKind};
use threadline_store::{BotJob, BotJobOutcome, StoreError};
use tokio::sync::watch;

use crate::app::AppState;

/// How many jobs one claim takes.
const BATCH: i64 = 32;

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
    let tried = session.as_ref().map(|s| s.memory.tried.clone()).unwrap_or_default();
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
                Some(s) if !s.trim().is_empty() => format!("{} Handed over because {}.", s.trim(), reason.describe("en")),
                _ => summarize(&said, category.as_deref(), &tried, reason),
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

async fn handle(state: &AppState, job: &BotJob) -> BotJobOutcome {
    match handle_inner(state, job).await {
        Ok(outcome) => outcome,
        Err(e) => {
            BotJobOutcome::Retry { error: e.to_string(), at: threadline_store::now() + time::Duration::seconds(10 * (job.attempts + 1)) }
        }
    }
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

/// Runs every due job once; how many.
pub async fn run_once(state: &AppState) -> usize {
    let lease = time::Duration::seconds(state.settings.agent_bot_timeout_secs as i64 * 2 + 30);
    let jobs = match state.store.claim_bot_jobs(BATCH, lease).await {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::error!(error = %e, "could not claim bot jobs");
            return 0;
        }
    };
    let count = jobs.len();
    let mut running = tokio::task::JoinSet::new();
    // One conversation's jobs in order; different conversations at once.
    let mut by_conversation: std::collections::BTreeMap<ConversationId, Vec<BotJob>> = Default::default();
    for job in jobs {
        by_conversation.entry(job.conversation_id).or_default().push(job);
    }
    for (_, jobs) in by_conversation {
        let state = state.clone();
        running.spawn(async move {
            for job in jobs {
                let outcome = handle(&state, &job).await;
                if let BotJobOutcome::Retry { error, .. } | BotJobOutcome::Dead { error } = &outcome {
                    tracing::warn!(conversation = %job.conversation_id, attempt = job.attempts + 1, %error, "bot turn failed");
                }
                if let Err(e) = state.store.finish_bot_job(&job, &outcome).await {
                    tracing::error!(error = %e, "could not record a bot job");
                }
            }
        });
    }
    while running.join_next().await.is_some() {}
    count
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
        if waited < time::Duration::seconds(settings.resolve_after_secs as i64) || session.memory.answered.is_none() {
            continue;
        }
        match state.store.bot_resolved(account_id, conversation_id).await {
            Ok(_) => {}
            Err(e) => tracing::debug!(conversation = %conversation_id, error = %e, "not resolved by the bot"),
        }
    }
}

/// The bot worker: until `stop`.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut last_sweep = std::time::Instant::now();
    loop {
        while run_once(&state).await > 0 {}
        if last_sweep.elapsed() > Duration::from_secs(30) {
            resolve_quiet(&state).await;
            last_sweep = std::time::Instant::now();
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = state.store.bot_jobs_queued() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
