//! Sends the messages agents scheduled, when they fall due: through the
//! same rules as a reply written then (the channel, consent, WhatsApp's
//! window — outside it the message is marked failed with the reason, for
//! the agent to send a template instead).

use threadline_domain::ids::ScheduledMessageId;
use threadline_store::Job;

use crate::app::AppState;
use crate::channels::reply::{Author, Draft};
use crate::jobs::Outcome;

/// `message.scheduled`.
pub async fn on_due(state: &AppState, job: &Job) -> anyhow::Result<Outcome> {
    let Some(account_id) = job.account_id else { return Ok(Outcome::Done) };
    let Some(id) = job.payload.get("id").and_then(|v| v.as_str()).and_then(|v| v.parse::<ScheduledMessageId>().ok()) else {
        return Ok(Outcome::Done);
    };
    // Cancelled, or sent by another worker: nothing to do.
    let Some(message) = state.store.claim_scheduled_message(account_id, id).await? else { return Ok(Outcome::Done) };
    let draft = Draft {
        author: Author::User(message.author_id),
        channel: message.channel,
        inbox_id: message.inbox_id,
        text: message.text,
        html: None,
        attachments: Vec::new(),
        template: None,
        subject: None,
    };
    let outcome = match crate::channels::reply::send(state, account_id, message.conversation_id, draft).await {
        Ok(sent) => Ok(sent.id),
        Err(e) => Err(e.to_string()),
    };
    state.store.finish_scheduled_message(account_id, id, outcome).await?;
    Ok(Outcome::Done)
}
