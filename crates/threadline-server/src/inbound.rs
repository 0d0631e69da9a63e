//! Receiving a customer's message, whatever channel brought it. Every
//! channel calls [`receive`] once it has verified and parsed its input:
//!
//! triage (language, sentiment, category, urgency — the built-in reading,
//! or the configured LLM's) → routing rules (which team) → whether the
//! inbox's bot answers first → the store commits the message, its
//! conversation's changes, its events and any bot job in one transaction →
//! the events are published; the router and the bot worker wake up.

use threadline_store::{Account, IdempotencyKey, InboundMessage, Inbox, Ingested, StoreError};

use crate::app::AppState;

/// Reads, routes and stores an inbound message; publishes its events.
pub async fn receive(
    state: &AppState,
    account: &Account,
    inbox: &Inbox,
    mut inbound: InboundMessage,
    idempotency: Option<&IdempotencyKey>,
) -> Result<Ingested, StoreError> {
    inbound.strip_nul();
    prepare(state, account, inbox, &mut inbound).await;
    state.store.ingest_inbound(account, &inbound, idempotency).await
}

/// Triage, team and bot for a message about to be stored.
async fn prepare(state: &AppState, account: &Account, inbox: &Inbox, inbound: &mut InboundMessage) {
    let mut text = inbound.subject.clone().unwrap_or_default();
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(&inbound.text);
    let mut triage = match state.triage.triager(&state.store, account.id).await {
        Ok(triager) => {
            let builtin = triager.triage(&text);
            if state.settings.llm_url.is_empty() {
                builtin
            } else {
                let categories = crate::triage::known_categories(&triager);
                crate::triage::llm_triage(&state.settings, &state.egress, &state.providers.client, &text, &categories, &builtin)
                    .await
                    .unwrap_or(builtin)
            }
        }
        Err(e) => {
            tracing::error!(account = %account.id, error = %e, "triage settings unreadable; the message is stored unread");
            return;
        }
    };
    inbound.team_id = crate::routing::choose_team(state, account.id, inbox.id, inbound.channel, &mut triage).await;
    // Threadline never lets a bot answer a machine (an auto-reply, a bounce).
    inbound.bot_first = inbox.bot.is_some() && inbound.automated.is_none();
    inbound.triage = Some(triage);
}
