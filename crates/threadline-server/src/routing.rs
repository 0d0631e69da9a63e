//! Routing on the server: which team a new message goes to (the account's
//! routing rules, cached briefly), and the router — a worker on every node
//! that assigns the queues of teams set to auto-assign, at once when a
//! conversation joins a queue on this node and every few seconds anyway
//! (for what arrived on other nodes, agents coming online, capacity freed),
//! and puts offline agents' conversations back in their queues.
//!
//! The decisions are `threadline_domain::routing`; the race-free writing
//! of them is `threadline_store`'s routing pass.

use std::sync::Arc;
use std::time::Duration;

use threadline_domain::channel::Channel;
use threadline_domain::ids::{AccountId, InboxId, TeamId};
use threadline_domain::triage::{Reason, Triage, rank};
use threadline_store::RoutingRule;
use tokio::sync::watch;

use crate::app::AppState;

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

/// The router: until `stop`. A wake-up (a conversation joined a queue, an
/// agent came online) routes the queues; at each interval it also looks for
/// offline agents' conversations, which only the clock reveals.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let interval = Duration::from_secs(state.settings.routing_interval_secs);
    let mut last_requeue: Option<std::time::Instant> = None;
    loop {
        if last_requeue.is_none_or(|at| at.elapsed() >= interval) {
            requeue_stranded(&state).await;
            last_requeue = Some(std::time::Instant::now());
        }
        sweep(&state).await;
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = state.store.routing_needed() => {}
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
