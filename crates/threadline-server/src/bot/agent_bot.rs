//! The Agent Bot API, Threadline's side: an external bot (Rasa, Botpress,
//! a custom service) takes the built-in bot's place for an inbox.
//!
//! Each customer message is POSTed to the bot's URL as JSON, signed with
//! `Threadline-Signature` like webhooks (HMAC-SHA256 of `timestamp.body`
//! with the bot's secret). The bot may answer in its response —
//! `{"messages": [{"text": "…"}], "handoff": {"reason": "…", "summary": "…"},
//! "resolve": true}`, every part optional — or later through
//! `/api/v1/agent-bot/conversations/{id}/…` with its token. A bot that
//! cannot be reached is retried, then the conversation goes to people.

use serde::Deserialize;
use threadline_domain::bot::HandoffReason;
use threadline_domain::conversation::Conversation;
use threadline_domain::ids::{AccountId, AgentBotId, ConversationId};
use threadline_domain::message::Message;
use threadline_domain::webhook;
use threadline_store::{BotJob, BotJobOutcome, BotTurn, StoreError};

use crate::app::AppState;
use crate::channels::reply::{Author, Draft, send};
use crate::error::ApiResult;

/// The most of a bot's answer that is read; the rest is ignored.
const MAX_BOT_ANSWER_BYTES: usize = 1024 * 1024;

/// At most `max` bytes of a response's body (nothing if it is larger).
async fn read_bounded(mut response: reqwest::Response, max: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if body.len() + chunk.len() > max {
            return Vec::new();
        }
        body.extend_from_slice(&chunk);
    }
    body
}

/// What a bot may say in its response.
#[derive(Debug, Default, Deserialize)]
pub struct BotAnswer {
    #[serde(default)]
    pub messages: Vec<BotText>,
    #[serde(default)]
    pub handoff: Option<BotHandoff>,
    #[serde(default)]
    pub resolve: bool,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotText {
    pub text: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotHandoff {
    /// Why, in the bot's words.
    #[serde(default)]
    pub reason: Option<String>,
    /// The category the bot recognised.
    #[serde(default)]
    pub category: Option<String>,
    /// For the agent; default: Threadline's own summary of the chat.
    #[serde(default)]
    pub summary: Option<String>,
}

/// Sends the bot's text to the customer, on the channel they last used.
pub async fn reply(
    state: &AppState,
    account_id: AccountId,
    conversation_id: ConversationId,
    bot: AgentBotId,
    text: &str,
) -> ApiResult<Message> {
    let draft = Draft {
        author: Author::Bot(bot.to_string()),
        channel: None,
        inbox_id: None,
        text: text.to_owned(),
        html: None,
        attachments: Vec::new(),
        template: None,
        subject: None,
    };
    let message = send(state, account_id, conversation_id, draft).await?;
    let (name, memory) = (bot.to_string(), Default::default());
    let turn = BotTurn { conversation_id, inbox_id: message.inbox_id, bot: &name, memory: &memory, category: None, answered: true };
    state.store.save_bot_turn(account_id, &turn).await?;
    Ok(message)
}

/// The bot hands over, with its reason and summary if it gave them.
pub async fn handoff(
    state: &AppState,
    account_id: AccountId,
    conversation_id: ConversationId,
    bot: AgentBotId,
    handoff: BotHandoff,
) -> Result<(), StoreError> {
    if let Some(category) = handoff.category.as_deref().map(str::trim).filter(|c| !c.is_empty() && c.chars().count() <= 100) {
        let changes = threadline_store::ConversationChanges { category: Some(Some(category.to_lowercase())), ..Default::default() };
        state.store.update_conversation(account_id, conversation_id, changes, &format!("agent_bot:{bot}")).await?;
    }
    let summary = handoff.summary.map(|s| {
        let reason = handoff.reason.as_deref().map(|r| format!(" ({})", threadline_domain::text::clip(r, 200))).unwrap_or_default();
        format!("{}{reason}", threadline_domain::text::clip(s.trim(), 2_000))
    });
    super::hand_off(state, account_id, conversation_id, &bot.to_string(), HandoffReason::External, summary).await
}

/// Posts a customer message to the inbox's agent bot.
pub async fn deliver(
    state: &AppState,
    job: &BotJob,
    c: &Conversation,
    message: &Message,
    bot_id: Option<AgentBotId>,
) -> anyhow::Result<BotJobOutcome> {
    let account_id = job.account_id;
    let bot = match bot_id {
        Some(id) => match state.store.agent_bot(account_id, id).await {
            Ok(bot) => Some(bot),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let Some(bot) = bot else {
        super::hand_off(
            state,
            account_id,
            c.id,
            "agent_bot",
            HandoffReason::External,
            Some("The inbox's agent bot no longer exists.".into()),
        )
        .await?;
        return Ok(BotJobOutcome::Done);
    };
    let secret = state.secrets.open(&bot.sealed_secret)?;
    let contact = state.store.contact(account_id, c.contact_id).await?;
    let api = format!("{}/api/v1/agent-bot/conversations/{}", state.settings.effective_public_url(), c.id);
    let body = serde_json::to_vec(&serde_json::json!({
        "event": "message.created",
        "account_id": account_id,
        "conversation": c,
        "message": message,
        "contact": { "id": contact.id, "name": contact.name, "language": contact.language },
        "reply_url": format!("{api}/messages"),
        "handoff_url": format!("{api}/handoff"),
        "resolve_url": format!("{api}/resolve"),
    }))?;
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = webhook::sign(secret.as_bytes(), timestamp, &body);
    // The provider client: under the egress policy, never following a
    // redirect (a bot answering 302 to an internal address would otherwise
    // have that address's answer posted to the customer).
    if let Err(refusal) = state.egress.check_url(&bot.url) {
        let failure = format!("the agent bot's address is refused by the egress policy: {refusal}");
        super::hand_off(
            state,
            account_id,
            c.id,
            &bot.id.to_string(),
            HandoffReason::External,
            Some(format!("The bot could not be reached ({failure}).")),
        )
        .await?;
        return Ok(BotJobOutcome::Dead { error: failure });
    }
    let sent = state
        .providers
        .client
        .post(&bot.url)
        .timeout(std::time::Duration::from_secs(state.settings.agent_bot_timeout_secs))
        .header("content-type", "application/json")
        .header(webhook::SIGNATURE_HEADER, signature)
        .header("Threadline-Event", "message.created")
        .body(body)
        .send()
        .await;
    let failure = match sent {
        Ok(r) if r.status().is_success() => {
            let (name, memory) = (bot.id.to_string(), Default::default());
            let turn =
                BotTurn { conversation_id: c.id, inbox_id: message.inbox_id, bot: &name, memory: &memory, category: None, answered: false };
            state.store.save_bot_turn(account_id, &turn).await?;
            let bytes = read_bounded(r, MAX_BOT_ANSWER_BYTES).await;
            let answer: BotAnswer = if bytes.iter().all(u8::is_ascii_whitespace) {
                BotAnswer::default()
            } else {
                match serde_json::from_slice(&bytes) {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(bot = %bot.id, error = %e, "the agent bot's answer is not the documented JSON; ignored");
                        BotAnswer::default()
                    }
                }
            };
            for text in answer.messages.iter().map(|m| m.text.replace('\0', "")).filter(|t| !t.trim().is_empty()) {
                if let Err(e) = reply(state, account_id, c.id, bot.id, text.trim()).await {
                    tracing::warn!(bot = %bot.id, error = ?e, "the agent bot's reply could not be sent");
                }
            }
            if let Some(mut h) = answer.handoff {
                for text in [&mut h.reason, &mut h.category, &mut h.summary].into_iter().flatten() {
                    threadline_domain::validation::strip_nul(text);
                }
                handoff(state, account_id, c.id, bot.id, h).await?;
            } else if answer.resolve {
                state.store.bot_resolved(account_id, c.id).await?;
            }
            return Ok(BotJobOutcome::Done);
        }
        Ok(r) => format!("the agent bot answered {}", r.status()),
        Err(e) => format!("the agent bot could not be reached: {}", crate::egress::describe(&e)),
    };
    if job.attempts + 1 >= i64::from(state.settings.agent_bot_max_attempts) {
        let summary = format!("The bot could not be reached ({failure}).");
        super::hand_off(state, account_id, c.id, &bot.id.to_string(), HandoffReason::External, Some(summary)).await?;
        return Ok(BotJobOutcome::Dead { error: failure });
    }
    let delay = time::Duration::seconds(2i64.pow((job.attempts as u32).min(8)));
    Ok(BotJobOutcome::Retry { error: failure, at: threadline_store::now() + delay })
}
