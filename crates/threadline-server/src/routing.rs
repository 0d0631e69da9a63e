//! Routing on the server: which team a new message goes to (the account's
//! routing rules, cached briefly), and the router — a job ([`ROUTING_JOB`],
//! one for the installation) that assigns the queues of teams set to
//! auto-assign and puts offline agents' conversations back in their queues.
//! It runs every `routing_interval_secs` (for what arrived on other nodes,
//! agents coming online, capacity freed) and at once when a commit on this
//! node puts a conversation in a queue ([`wake`]).
//!
//! The decisions are `threadline_domain::routing`; the race-free writing
//! of them is `threadline_store`'s routing pass.

use std::sync::Arc;

use threadline_domain::channel::Channel;
use threadline_domain::ids::{AccountId, InboxId, TeamId};
use threadline_domain::triage::{Reason, Triage, rank};
use threadline_store::{Job, NewJob, RoutingRule};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::app::AppState;
use crate::jobs::Outcome;

/// The job kind of the router.
pub const ROUTING_JOB: &str = "routing.sweep";

/// The router's pass, due at `at` (one pending for the installation).
pub fn job(at: OffsetDateTime) -> NewJob {
    NewJob {
        lane: None,
        kind: ROUTING_JOB,
        account_id: None,
        dedup_key: Some("routing-sweep".into()),
        payload: serde_json::json!({}),
        run_at: at,
    }
}

/// The team a routing rule gives a message, with the rule's reason; a rule
/// that raises the priority raises the triage's urgency.
pub async fn choose_team(state: &AppState, account_id: AccountId, inbox: InboxId, channel: Channel, triage: &mut Triage) -> Option<TeamId> {
    let rules = match state.routing_rules.get(&account_id) {
        Some(rules) => rules,
        None => match state.store.routing_rules(account_id).await {
            Ok(rules) => {
                let rules = Arc::new(rules);
                state.routing_rules.insert(account_id, rules.clone());
                rules
            }
            Err(e) => {
                tracing::error!(account = %account_id, error = %e, "routing rules unreadable; the message goes to no team");
                return None;
            }
        },
    };
    let rule: &RoutingRule = rules.iter().find(|r| r.matches(inbox, channel, Some(triage)))?;
    triage.reasons.push(Reason { label: "team".into(), value: rule.team_id.to_string(), source: "rule".into(), why: rule.describe() });
    if let Some(p) = rule.priority
        && rank(p) > rank(triage.urgency)
    {
        triage.urgency = p;
        triage.reasons.push(Reason { label: "urgency".into(), value: p.as_str().into(), source: "rule".into(), why: rule.describe() });
    }
    Some(rule.team_id)
}

/// Puts offline agents' conversations back in their queues.
pub async fn requeue_stranded(state: &AppState) {
    match state.store.stranded_conversations(200).await {
        Ok(stranded) => {
            for (account_id, conversation_id, reason) in stranded {
                match state.store.requeue(account_id, conversation_id, None, &reason).await {
                    Ok(_) => {}
                    Err(e) => tracing::warn!(conversation = %conversation_id, error = %e, "could not put a conversation back in its queue"),
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "could not look for offline agents' conversations"),
    }
}

/// Routes every waiting queue once; how many conversations it assigned.
pub async fn sweep(state: &AppState) -> usize {
    let teams = match state.store.teams_to_route().await {
        Ok(teams) => teams,
        Err(e) => {
            tracing::error!(error = %e, "could not read the queues");
            return 0;
        }
    };
    let mut assigned = 0;
    for (account_id, team_id) in teams {
        // A full pass may leave more: go on while passes assign.
        for _ in 0..50 {
            match state.store.route_team(account_id, team_id).await {
                Ok(pass) => {
                    assigned += pass.assigned.len();
                    for (conversation, agent, reason) in &pass.assigned {
                        tracing::info!(account = %account_id, %conversation, %agent, %reason, "assigned");
                    }
                    if pass.assigned.is_empty() || pass.skipped {
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(account = %account_id, team = %team_id, error = %e, "routing pass failed");
                    break;
                }
            }
        }
    }
    assigned
}

/// The job: offline agents' conversations back in their queues, every
/// queue routed, and the next pass in `routing_interval_secs`.
pub async fn on_due(state: &AppState, _job: &Job) -> anyhow::Result<Outcome> {
    requeue_stranded(state).await;
    sweep(state).await;
    Ok(Outcome::Later(state.clock.now() + time::Duration::seconds(state.settings.routing_interval_secs.max(1) as i64)))
}

/// Until `stop`: makes the router's job due now whenever a commit on this
/// node put a conversation in a queue or an agent came online (wake-ups
/// arriving while one is being queued count as one).
pub async fn wake(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = state.store.routing_needed() => {}
        }
        if let Err(e) = state.store.enqueue_job(job(state.clock.now())).await {
            tracing::warn!(error = %e, "could not ask the router to run; it runs at its next interval");
        }
    }
}
