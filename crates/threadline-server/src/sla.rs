//! SLA on the server: the clocks of a conversation under its policy (its
//! team's, or the account's default), with time zones from the bundled
//! time-zone database, and the check that records missed targets and runs
//! their escalations — a job ([`SLA_JOB`]), one for the installation, every
//! `sla_interval_secs`, taken by whichever node's runner is free.

use threadline_domain::conversation::Conversation;
use threadline_domain::ids::AccountId;
use threadline_domain::sla::{Clock, ClockState, EscalationAction, SlaFacts, SlaPolicy, clocks};
use threadline_store::{Job, NewJob, StoredSlaPolicy, Team};
use time::{OffsetDateTime, UtcOffset};

use crate::app::AppState;
use crate::jobs::Outcome;

/// The job kind of the check.
pub const SLA_JOB: &str = "sla.check";

/// The check, due at `at` (one pending for the installation).
pub fn job(at: OffsetDateTime) -> NewJob {
    NewJob { lane: None, kind: SLA_JOB, account_id: None, dedup_key: Some("sla-check".into()), payload: serde_json::json!({}), run_at: at }
}

/// Whether `name` is a time zone the database knows.
pub fn known_time_zone(name: &str) -> bool {
    jiff::tz::TimeZone::get(name).is_ok()
}

/// The UTC offset of the time zone `name` at an instant (UTC for none, or
/// for a zone the database does not know).
pub fn offset_in(name: Option<&str>) -> impl Fn(OffsetDateTime) -> UtcOffset + use<> {
    let zone = name.and_then(|n| jiff::tz::TimeZone::get(n).ok());
    move |at: OffsetDateTime| -> UtcOffset {
        let Some(zone) = &zone else { return UtcOffset::UTC };
        let Ok(ts) = jiff::Timestamp::from_second(at.unix_timestamp()) else { return UtcOffset::UTC };
        UtcOffset::from_whole_seconds(zone.to_offset(ts).seconds()).unwrap_or(UtcOffset::UTC)
    }
}

/// The clocks of `conversation` under `policy`, measured from `started_at`
/// (its creation, or its handoff from a bot).
pub fn conversation_clocks(policy: &SlaPolicy, c: &Conversation, started_at: OffsetDateTime, now: OffsetDateTime) -> Vec<Clock> {
    let offset_at = offset_in(policy.business_hours.as_ref().map(|h| h.time_zone.as_str()));
    let facts = SlaFacts {
        priority: c.priority,
        created_at: started_at,
        first_response_at: c.first_response_at.filter(|at| *at >= started_at),
        awaiting_since: c.awaiting_since,
        resolved_at: c.resolved_at,
    };
    clocks(policy, &facts, now, &offset_at)
}

/// The policy a conversation is under: its team's, else the default.
pub fn policy_for<'a>(policies: &'a [StoredSlaPolicy], teams: &[Team], c: &Conversation) -> Option<&'a StoredSlaPolicy> {
    let team_policy = c.team_id.and_then(|t| teams.iter().find(|team| team.id == t)).and_then(|t| t.routing.sla_policy_id);
    match team_policy {
        Some(id) => policies.iter().find(|p| p.id == id),
        None => policies.iter().find(|p| p.is_default),
    }
}

/// Checks every open conversation of one account; missed targets are
/// recorded once and escalated.
async fn check_account(state: &AppState, account_id: AccountId) -> Result<usize, threadline_store::StoreError> {
    let policies = state.store.sla_policies(account_id).await?;
    let teams = state.store.teams(account_id).await?;
    let mut after = None;
    let mut breaches = 0;
    loop {
        let page = state.store.sla_candidates(account_id, after, 500).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.conversation.id);
        let now = threadline_store::now();
        for candidate in &page {
            let c = &candidate.conversation;
            let Some(policy) = policy_for(&policies, &teams, c) else { continue };
            for clock in conversation_clocks(&policy.policy, c, candidate.started_at, now) {
                if clock.state != ClockState::Breached {
                    continue;
                }
                if !state.store.record_breach(account_id, c, clock.target, clock.due_at).await? {
                    continue;
                }
                breaches += 1;
                tracing::info!(account = %account_id, conversation = %c.id, target = %clock.target, "SLA target missed");
                for escalation in policy.policy.escalations_for(clock.target) {
                    let actor = format!("sla:{}", policy.name);
                    let result = match escalation.action {
                        EscalationAction::Reassign => {
                            let reason = format!(
                                "SLA “{}”: {} target missed; back in the queue",
                                policy.name,
                                clock.target.as_str().replace('_', " ")
                            );
                            state.store.requeue(account_id, c.id, escalation.team_id, &reason).await.map(|_| ())
                        }
                        EscalationAction::RaisePriority => state.store.raise_priority(account_id, c.id, &actor).await.map(|_| ()),
                        // The `sla.breached` event is the notice: supervisors'
                        // workspaces show it, and webhooks carry it.
                        EscalationAction::NotifySupervisors => Ok(()),
                    };
                    if let Err(e) = result {
                        tracing::warn!(conversation = %c.id, error = %e, "SLA escalation failed");
                    }
                }
            }
        }
        if page.len() < 500 {
            break;
        }
    }
    Ok(breaches)
}

/// One check of every account with a policy; the breaches recorded.
pub async fn sweep(state: &AppState) -> usize {
    let accounts = match state.store.accounts_with_sla().await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "could not read SLA policies");
            return 0;
        }
    };
    let mut total = 0;
    for account_id in accounts {
        match check_account(state, account_id).await {
            Ok(n) => total += n,
            Err(e) => tracing::error!(account = %account_id, error = %e, "SLA check failed"),
        }
    }
    total
}

/// The job: one check, then the next in `sla_interval_secs`.
pub async fn on_due(state: &AppState, _job: &Job) -> anyhow::Result<Outcome> {
    sweep(state).await;
    Ok(Outcome::Later(state.clock.now() + time::Duration::seconds(state.settings.sla_interval_secs.max(1) as i64)))
}
