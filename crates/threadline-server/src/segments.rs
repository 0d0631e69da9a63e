//! Keeps segments' member lists current, on the job runner.
//!
//! A customer is looked at again when something about them changes: their
//! tracked events (from the `journey.events` job), their record or
//! consents, a conversation begun or resolved (`segments.contact`, queued
//! with the change). Conditions over time windows also lapse with no change
//! at all ("visited pricing in the last 7 days"), so `segments.sweep` looks
//! at every customer of the account every `segment_sweep_secs`. Each change
//! of membership commits with its event and the job that hands it to
//! journeys ([`threadline_store::Store::set_membership`]).

use threadline_domain::contact::Contact;
use threadline_domain::ids::{AccountId, ContactId};
use threadline_store::{ContactQuery, Job, Segment};
use time::{Duration, OffsetDateTime};

use crate::app::AppState;
use crate::jobs::Outcome;

/// Customers read per page during a sweep.
const SWEEP_PAGE: i64 = 200;

/// Looks at one customer against every segment of the account, and
/// records what changed.
pub async fn refresh_contact(
    state: &AppState,
    account_id: AccountId,
    contact: &Contact,
    segments: &[Segment],
    now: OffsetDateTime,
) -> anyhow::Result<usize> {
    if segments.is_empty() {
        return Ok(0);
    }
    let facts = crate::journeys::facts(state, account_id, contact, now).await?;
    let mut changes = 0;
    for segment in segments {
        let member = segment.spec.admits(&facts, now);
        if facts.segments.contains(&segment.id) == member {
            continue;
        }
        if state.store.set_membership(account_id, segment.id, contact.id, member, now).await?.is_some() {
            changes += 1;
        }
    }
    Ok(changes)
}

/// Looks at the customers these events are about (called by the events job).
pub async fn refresh_contacts(state: &AppState, account_id: AccountId, contacts: &[Contact], now: OffsetDateTime) -> anyhow::Result<()> {
    let segments = state.store.segments(account_id).await?;
    for contact in contacts {
        refresh_contact(state, account_id, contact, &segments, now).await?;
    }
    Ok(())
}

/// `segments.contact`: something about one customer changed.
pub async fn on_contact(state: &AppState, job: &Job) -> anyhow::Result<Outcome> {
    let Some(account_id) = job.account_id else { return Ok(Outcome::Done) };
    let Ok(contact_id) = serde_json::from_value::<ContactId>(job.payload["contact_id"].clone()) else { return Ok(Outcome::Done) };
    let contact = match state.store.contact(account_id, contact_id).await {
        Ok(c) => c,
        Err(threadline_store::StoreError::Merged(_) | threadline_store::StoreError::NotFound) => return Ok(Outcome::Done),
        Err(e) => return Err(e.into()),
    };
    let segments = state.store.segments(account_id).await?;
    refresh_contact(state, account_id, &contact, &segments, state.clock.now()).await?;
    Ok(Outcome::Done)
}

/// `segments.sweep`: every customer of the account against every segment;
/// again in `segment_sweep_secs` while the account has segments.
pub async fn sweep(state: &AppState, job: &Job) -> anyhow::Result<Outcome> {
    let Some(account_id) = job.account_id else { return Ok(Outcome::Done) };
    let segments = state.store.segments(account_id).await?;
    if segments.is_empty() {
        return Ok(Outcome::Done);
    }
    let now = state.clock.now();
    let mut after = None;
    let mut seen = 0usize;
    let mut changed = 0usize;
    loop {
        let page = state.store.contacts(account_id, &ContactQuery { search: None, after, limit: SWEEP_PAGE }).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for contact in &page {
            changed += refresh_contact(state, account_id, contact, &segments, now).await?;
        }
        seen += page.len();
    }
    state.store.segments_swept(account_id, now).await?;
    tracing::debug!(account = %account_id, customers = seen, changes = changed, "segments swept");
    Ok(Outcome::Later(now + Duration::seconds(state.settings.segment_sweep_secs.max(10) as i64)))
}
