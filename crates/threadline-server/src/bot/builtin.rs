//! Threadline's own bot: tells customers where their order is (from the
//! shop's orders, `threadline_domain::order::order_reply`), answers from
//! the knowledge base in the customer's language, offers choices when
//! unsure, hands off when it should (the rules are `threadline_domain::bot`).

use threadline_domain::bot::{BotMemory, BotSettings, Candidate, Turn, decide, reply_text};
use threadline_domain::conversation::Conversation;
use threadline_domain::ids::AccountId;
use threadline_domain::message::Message;
use threadline_store::{BotJobOutcome, BotTurn};

use crate::app::AppState;
use crate::channels::reply::{Author, Draft, send};

/// The name built-in bot messages are signed with.
pub const BUILTIN: &str = "builtin";

/// The knowledge base's best matches for `text` as the bot's candidates,
/// with the articles last offered added (so that "2" finds the second).
pub async fn candidates(
    state: &AppState,
    account_id: AccountId,
    text: &str,
    language: Option<&str>,
    memory: &BotMemory,
) -> anyhow::Result<Vec<Candidate>> {
    let hits = state.knowledge.search(&state.store, account_id, text, language, 5).await?;
    let mut out: Vec<Candidate> =
        hits.into_iter().map(|h| Candidate { article_id: h.id, title: h.title, answer: h.body, confidence: h.confidence }).collect();
    for (id, _) in &memory.offered {
        if out.iter().any(|c| c.article_id == *id) {
            continue;
        }
        if let Ok(article) = state.store.article(account_id, *id).await {
            out.push(Candidate { article_id: article.id, title: article.title, answer: article.body, confidence: 0.0 });
        }
    }
    Ok(out)
}

/// One turn of the built-in bot on `message`.
pub async fn turn(
    state: &AppState,
    account_id: AccountId,
    c: &Conversation,
    message: &Message,
    settings: &BotSettings,
) -> anyhow::Result<BotJobOutcome> {
    let session = state.store.bot_session(account_id, c.id).await?;
    let memory = session.as_ref().map(|s| s.memory.clone()).unwrap_or_default();
    let language = message.triage.as_ref().and_then(|t| t.language.clone()).or_else(|| c.language.clone());
    let sentiment = message.triage.as_ref().map(|t| t.sentiment).unwrap_or(0.0);
    // A question about an order is answered from the order — unless the
    // customer wants a person, is upset or has talked long enough.
    if !threadline_domain::bot::asks_for_human(&message.text)
        && sentiment > settings.handoff_sentiment
        && memory.turns < settings.max_turns
        && let Some((text, described)) = order_answer(state, account_id, c, &message.text, language.as_deref()).await?
    {
        let draft = Draft {
            author: Author::Bot(BUILTIN.into()),
            channel: Some(message.channel),
            inbox_id: message.inbox_id,
            text: clip_for(message.channel, &text),
            html: None,
            attachments: Vec::new(),
            template: None,
            subject: None,
        };
        let answered = described.is_some();
        let remembered = memory.after_order(described);
        if let Err(e) = send(state, account_id, c.id, draft).await {
            tracing::warn!(conversation = %c.id, error = ?e, "the bot could not reply; handing off");
            state.store.save_bot_turn(account_id, &bot_turn(c, message, &remembered, false)).await?;
            super::hand_off(state, account_id, c.id, BUILTIN, threadline_domain::bot::HandoffReason::LowConfidence, None).await?;
            return Ok(BotJobOutcome::Done);
        }
        state.store.save_bot_turn(account_id, &bot_turn(c, message, &remembered, answered)).await?;
        return Ok(BotJobOutcome::Done);
    }
    let found = candidates(state, account_id, &message.text, language.as_deref(), &memory).await?;
    let next = decide(settings, &memory, &message.text, sentiment, &found);
    let text = reply_text(&next, language.as_deref());
    // The bot speaks on the channel the customer used.
    let draft = Draft {
        author: Author::Bot(super::builtin::BUILTIN.into()),
        channel: Some(message.channel),
        inbox_id: message.inbox_id,
        text: clip_for(message.channel, &text),
        html: None,
        attachments: Vec::new(),
        template: None,
        subject: None,
    };
    if let Err(e) = send(state, account_id, c.id, draft).await {
        // It cannot answer here (a closed window, no consent): people will.
        tracing::warn!(conversation = %c.id, error = ?e, "the bot could not reply; handing off");
        super::hand_off(state, account_id, c.id, BUILTIN, threadline_domain::bot::HandoffReason::LowConfidence, None).await?;
        return Ok(BotJobOutcome::Done);
    }
    let category = message.triage.as_ref().and_then(|t| t.category.clone());
    let remembered = memory.after(&next);
    let turn = |answered: bool| BotTurn {
        conversation_id: c.id,
        inbox_id: message.inbox_id,
        bot: BUILTIN,
        memory: &remembered,
        category: category.as_deref(),
        answered,
    };
    match next {
        Turn::Handoff(reason) => {
            state.store.save_bot_turn(account_id, &turn(false)).await?;
            super::hand_off(state, account_id, c.id, BUILTIN, reason, None).await?;
        }
        Turn::Resolved => {
            state.store.save_bot_turn(account_id, &turn(false)).await?;
            state.store.bot_resolved(account_id, c.id).await?;
        }
        Turn::Answer(_) | Turn::Offer(_) | Turn::Clarify => {
            let answered = matches!(next, Turn::Answer(_));
            state.store.save_bot_turn(account_id, &turn(answered)).await?;
        }
    }
    Ok(BotJobOutcome::Done)
}

fn bot_turn<'a>(c: &Conversation, message: &'a Message, memory: &'a BotMemory, answered: bool) -> BotTurn<'a> {
    BotTurn {
        conversation_id: c.id,
        inbox_id: message.inbox_id,
        bot: BUILTIN,
        memory,
        category: message.triage.as_ref().and_then(|t| t.category.as_deref()),
        answered,
    }
}

/// The bot's answer to a message about an order, if it is about one: the
/// text, and the order it described for the agent ("#1001: shipped (BRT
/// 0123)"). The orders the message quotes by number are looked up, and the
/// customer's own latest when it quotes none.
async fn order_answer(
    state: &AppState,
    account_id: AccountId,
    c: &Conversation,
    text: &str,
    language: Option<&str>,
) -> anyhow::Result<Option<(String, Option<String>)>> {
    use threadline_domain::order::{OrderReply, asks_where, order_numbers_in, order_reply, status_label};
    let numbers = order_numbers_in(text);
    if numbers.is_empty() && !asks_where(text) {
        return Ok(None);
    }
    let mut named: Vec<threadline_store::Order> = Vec::new();
    for number in &numbers {
        for order in state.store.orders_by_number(account_id, number).await? {
            if !named.iter().any(|o| o.id == order.id) {
                named.push(order);
            }
        }
    }
    let own = if numbers.is_empty() { state.store.contact_orders(account_id, c.contact_id, 1).await? } else { Vec::new() };
    let named_facts: Vec<(&threadline_domain::order::OrderFacts, bool)> =
        named.iter().map(|o| (&o.facts, o.contact_id == c.contact_id)).collect();
    let own_facts: Vec<&threadline_domain::order::OrderFacts> = own.iter().map(|o| &o.facts).collect();
    let language = if language == Some("it") { Some("it") } else { None };
    let orders_known = !named.is_empty() || !own.is_empty() || state.store.has_orders(account_id).await?;
    Ok(order_reply(text, language, &named_facts, &own_facts, orders_known).map(|reply| match reply {
        OrderReply::Status { number, text } => {
            let order = named.iter().chain(&own).find(|o| o.facts.number == number);
            let line = order.map(|o| {
                let parcel = o.facts.shipments.last().map(|s| {
                    let parts: Vec<&str> = [s.carrier.as_deref(), s.tracking_number.as_deref()].into_iter().flatten().collect();
                    if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(" ")) }
                });
                format!("{number}: {}{}", status_label(o.facts.status, "en"), parcel.unwrap_or_default())
            });
            let asked = threadline_domain::bot::phrases(language).did_it_help;
            (format!("{text}\n\n{asked}"), line.or(Some(number)))
        }
        OrderReply::AskForDetails(text) => (text, None),
    }))
}

/// The bot's text cut to what the channel carries in one message.
fn clip_for(channel: threadline_domain::channel::Channel, text: &str) -> String {
    match threadline_channels::capabilities_for(channel) {
        Some(c) if text.chars().count() > c.max_text_chars => {
            let mut clipped: String = text.chars().take(c.max_text_chars.saturating_sub(1)).collect();
            clipped.push('…');
            clipped
        }
        _ => text.to_owned(),
    }
}
