//! Sends replies from the outbox through their channel's provider.
//!
//! Each send is a job of the job table ([`on_send`]), sent once per run and
//! its outcome recorded: sent (the
//! provider's id is kept, so its delivery reports find the message), retry
//! later (no connection could be made, rate limits, 5xx: after
//! `send_retry_base_secs · 2^(attempt-1)` seconds ±20%), or dead (a refusal
//! that retrying cannot fix, or `send_max_attempts` reached): the message
//! becomes `failed` with the reason. A send whose answer was lost (a
//! timeout after the request went out, an unreadable success) is not
//! repeated either: the provider may have delivered it, and a customer
//! should never get a message twice; the agent sees why and may retry. See
//! `threadline_store::outbox` for sends interrupted by a crash.

use threadline_channels::{Outgoing, OutgoingMedia, TemplateSend, adapter_for};
use threadline_store::{ClaimedSend, Job, SendOutcome};

use super::{CallError, execute, inbox_config, media, open_secrets, webhook_url};
use crate::app::AppState;
use crate::jobs::Outcome;
use crate::webhook_dispatcher::backoff;

/// The most of a provider's answer read (answers are small JSON).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// A [`threadline_store::SEND_JOB`] job: the send begun, attempted once,
/// and its outcome recorded; a retry is the same job at its later time.
pub async fn on_send(state: &AppState, job: &Job) -> anyhow::Result<Outcome> {
    // The request may take `send_timeout_secs`: the job is held well past it.
    let lease = time::Duration::seconds(state.settings.send_timeout_secs as i64 * 2 + 30);
    let Some(send) = state.store.begin_send(job, lease).await? else { return Ok(Outcome::Done) };
    let outcome = attempt(state, &send).await;
    if let SendOutcome::Retry { error, .. } | SendOutcome::Dead { error } = &outcome {
        tracing::info!(message = %send.message_id, attempt = send.attempts + 1, %error, "sending a reply failed");
    }
    let next = match &outcome {
        SendOutcome::Retry { retry_at, .. } => Outcome::Later(*retry_at),
        SendOutcome::Sent { .. } | SendOutcome::Dead { .. } => Outcome::Done,
    };
    state.store.finish_send(&send, outcome).await?;
    Ok(next)
}

/// One attempt to send one job.
async fn attempt(state: &AppState, job: &ClaimedSend) -> SendOutcome {
    let dead = |error: String| SendOutcome::Dead { error };
    let message = match state.store.message(job.account_id, job.message_id).await {
        Ok(m) => m,
        Err(e) => return retry_or_dead(state, job, format!("cannot read the message: {e}"), true),
    };
    let inbox = match state.store.inbox(job.account_id, job.inbox_id).await {
        Ok(inbox) => inbox,
        Err(threadline_store::StoreError::NotFound) => return dead("the inbox it was to be sent through was removed".into()),
        Err(e) => return retry_or_dead(state, job, format!("cannot read the inbox: {e}"), true),
    };
    let secrets = match open_secrets(state, &inbox) {
        Ok(s) => s,
        Err(e) => return dead(format!("the inbox's credentials cannot be read: {e}")),
    };
    if inbox.channel == threadline_domain::channel::Channel::Email {
        return crate::email::send::send(state, job, &message, &inbox, &secrets).await;
    }
    if inbox.channel == threadline_domain::channel::Channel::InApp {
        return crate::push::send(state, job, &message, &inbox, &secrets).await;
    }
    let Some(adapter) = adapter_for(inbox.channel) else { return dead(format!("Threadline cannot send on {}", inbox.channel)) };
    let url = webhook_url(&state.settings, inbox.id);
    let config = inbox_config(state, &inbox, &secrets, &url);
    let mut outgoing_media = Vec::with_capacity(message.attachments.len());
    for a in &message.attachments {
        let data = if adapter.uploads_media() {
            match state.store.attachment(job.account_id, a.id).await {
                Ok((_, data)) => Some(data),
                Err(e) => return retry_or_dead(state, job, format!("cannot read attachment {}: {e}", a.filename), true),
            }
        } else {
            None
        };
        outgoing_media.push(OutgoingMedia {
            url: media::signed_link(state, job.account_id, a.id),
            content_type: a.content_type.clone(),
            filename: a.filename.clone(),
            data,
        });
    }
    let outgoing = Outgoing {
        to: job.delivery.recipient.clone(),
        text: message.text.clone(),
        media: outgoing_media,
        template: job.delivery.template.as_ref().map(|t| TemplateSend {
            name: t.name.clone(),
            language: t.language.clone(),
            parameters: t.parameters.clone(),
        }),
        human_agent_tag: job.delivery.human_agent_tag,
        status_callback: Some(url.clone()),
        choices: job
            .delivery
            .choices
            .iter()
            .map(|c| threadline_channels::Choice { id: c.id.clone(), title: c.title.clone(), description: c.description.clone() })
            .collect(),
        choices_button: job.delivery.choices_button.clone(),
    };
    let request = match adapter.send_request(&outgoing, &config) {
        Ok(r) => r,
        Err(e) => return dead(e.reason),
    };
    match execute(&state.egress, &state.providers.client, &request, MAX_ANSWER_BYTES).await {
        // Nothing reached the provider: safe to try again.
        Err(e @ CallError::Unreached(_)) => retry_or_dead(state, job, e.to_string(), true),
        // The request went out and its answer was lost: the provider may
        // have sent the message, so sending again could deliver it twice.
        Err(e) => dead(format!("{e} after the request was sent; it may or may not have reached the customer — retry it to send it again")),
        Ok((status, body)) => match adapter.send_result(status, &body) {
            Ok(receipt) => SendOutcome::Sent { provider_message_id: receipt.provider_message_id, status: receipt.status },
            Err(e) => retry_or_dead(state, job, e.reason, e.retryable),
        },
    }
}

pub(crate) fn retry_or_dead(state: &AppState, job: &ClaimedSend, error: String, retryable: bool) -> SendOutcome {
    let attempt = job.attempts + 1;
    let max = i64::from(state.settings.send_max_attempts);
    if retryable && attempt < max {
        SendOutcome::Retry { error, retry_at: threadline_store::now() + backoff(state.settings.send_retry_base_secs, attempt) }
    } else if retryable {
        SendOutcome::Dead { error: format!("gave up after {attempt} attempts; the last: {error}") }
    } else {
        SendOutcome::Dead { error }
    }
}
