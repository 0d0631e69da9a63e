//! Delivers webhook events from the durable queue: each delivery is a job
//! of the job table ([`on_deliver`]), written with its event.
//!
//! Each delivery is POSTed as JSON with `Threadline-Signature` (see
//! `threadline_domain::webhook`), `Threadline-Event` and
//! `Threadline-Delivery` headers. A 2xx answer delivers it; anything else
//! (or no answer within the timeout) schedules a retry after
//! `webhook_retry_base_secs · 2^(attempt-1)` seconds, ±20% jitter, capped at
//! one hour, until `webhook_max_attempts` is reached and it is marked failed.
//! The delivery log keeps every outcome.

use std::time::Duration;

use rand::Rng;
use threadline_domain::webhook;
use threadline_store::{ClaimedDelivery, DeliveryResult, Job};

use crate::app::AppState;
use crate::jobs::Outcome;

/// The client deliveries go out with: under the egress policy (no internal
/// addresses, no redirects), with the webhook timeout; an error if the TLS
/// backend cannot start.
pub fn client(
    settings: &crate::config::Settings,
    egress: &std::sync::Arc<crate::egress::EgressPolicy>,
) -> reqwest::Result<reqwest::Client> {
    egress
        .http_client()
        .timeout(Duration::from_secs(settings.webhook_timeout_secs))
        .user_agent(concat!("Threadline-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A [`threadline_store::WEBHOOK_JOB`] job: one attempt at its delivery; a
/// retry is the same job at its later time.
pub async fn on_deliver(state: &AppState, job: &Job) -> anyhow::Result<Outcome> {
    let lease = time::Duration::seconds(state.settings.webhook_timeout_secs as i64 * 2 + 30);
    let Some(delivery) = state.store.claim_webhook_delivery(job, lease).await? else { return Ok(Outcome::Done) };
    let result = attempt(state, &state.webhook_client, delivery).await?;
    Ok(match result {
        Some(at) => Outcome::Later(at),
        None => Outcome::Done,
    })
}

/// One attempt, recorded in the delivery log; when to try again, if at all.
async fn attempt(state: &AppState, client: &reqwest::Client, delivery: ClaimedDelivery) -> anyhow::Result<Option<time::OffsetDateTime>> {
    // A delivery that cannot even be prepared still counts as an attempt,
    // so it ends in the log as failed instead of being claimed forever.
    let secret = match state.secrets.open(&delivery.sealed_secret) {
        Ok(secret) => secret,
        Err(e) => {
            let result = failure(state, delivery.attempts + 1, None, format!("cannot sign: {e}"));
            return finish(state, &delivery, result).await;
        }
    };
    let body = serde_json::to_vec(&serde_json::json!({
        "id": delivery.event.id,
        "type": delivery.event.kind,
        "account_id": delivery.event.account_id,
        "occurred_at": delivery.event.occurred_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "data": delivery.event.data,
    }))?;
    let attempt_number = delivery.attempts + 1;
    if let Err(refusal) = state.egress.check_url(&delivery.url) {
        let result = failure(state, attempt_number, None, format!("refused by the egress policy: {refusal}"));
        return finish(state, &delivery, result).await;
    }
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = webhook::sign(secret.as_bytes(), timestamp, &body);
    let response = client
        .post(&delivery.url)
        .header("content-type", "application/json")
        .header(webhook::SIGNATURE_HEADER, signature)
        .header("Threadline-Event", delivery.event.kind.as_str())
        .header("Threadline-Delivery", &delivery.id)
        .body(body)
        .send()
        .await;
    let result = match response {
        Ok(r) if r.status().is_success() => DeliveryResult::Delivered { status_code: i64::from(r.status().as_u16()) },
        Ok(r) => failure(state, attempt_number, Some(i64::from(r.status().as_u16())), format!("endpoint answered {}", r.status())),
        Err(e) => failure(state, attempt_number, None, describe(&e)),
    };
    if let DeliveryResult::Failed { error, retry_at, .. } = &result {
        tracing::info!(delivery = %delivery.id, attempt = attempt_number, %error, will_retry = retry_at.is_some(), "webhook delivery failed");
    }
    finish(state, &delivery, result).await
}

async fn finish(state: &AppState, delivery: &ClaimedDelivery, result: DeliveryResult) -> anyhow::Result<Option<time::OffsetDateTime>> {
    let again = match &result {
        DeliveryResult::Failed { retry_at, .. } => *retry_at,
        DeliveryResult::Delivered { .. } => None,
    };
    state.store.finish_webhook_delivery(&delivery.id, result).await?;
    Ok(again)
}

fn failure(state: &AppState, attempt: i64, status_code: Option<i64>, error: String) -> DeliveryResult {
    let retry_at = (attempt < i64::from(state.settings.webhook_max_attempts))
        .then(|| threadline_store::now() + backoff(state.settings.webhook_retry_base_secs, attempt));
    DeliveryResult::Failed { status_code, error, retry_at }
}

/// Exponential backoff with ±20% jitter, so receivers that come back are not
/// hit by every queued delivery in the same second.
pub fn backoff(base_secs: u64, attempt: i64) -> time::Duration {
    let exp = attempt.clamp(1, 20) - 1;
    let secs = (base_secs as f64 * 2f64.powi(exp as i32)).min(3600.0);
    let jitter = rand::thread_rng().gen_range(0.8..=1.2);
    time::Duration::milliseconds((secs * jitter * 1000.0) as i64)
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        format!("could not connect: {}", crate::egress::describe(e))
    } else {
        crate::egress::describe(e)
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_grows_and_is_capped() {
        let first = backoff(10, 1).whole_milliseconds();
        assert!((8_000..=12_000).contains(&first), "{first}");
        let fourth = backoff(10, 4).whole_milliseconds();
        assert!((64_000..=96_000).contains(&fourth), "{fourth}");
        assert!(backoff(10, 30).whole_milliseconds() <= 4_320_000);
    }
}
