//! Automation rules at work: `automation.events` (written with the commit
//! that made the events) finds the rules waiting for each event, checks
//! their conditions against the conversation as it stands now, turns their
//! actions into effects and hands them to the shared executor
//! ([`threadline_store::Store::apply_rule`]) — once per (rule, event).
//! `automation.resolve_pending` is the later half of a
//! `resolve_if_pending` action.

use serde_json::Value;
use threadline_domain::automation::{RuleAction, RuleFacts, RuleTrigger};
use threadline_domain::conversation::{Conversation, ConversationStatus};
use threadline_domain::ids::{AccountId, AutomationRuleId, ConversationId};
use threadline_domain::journey::TaskKind;
use threadline_store::{AutomationRule, ConversationChanges, Effect, Job, NewJob, RESOLVE_PENDING_JOB};
use time::{Duration, OffsetDateTime};

use crate::app::AppState;
use crate::channels::reply::{Author, Draft, ReplyContext, compose};
use crate::jobs::Outcome;

/// `automation.events`: the rules on a commit's events.
pub async fn on_events(state: &AppState, job: &Job) -> anyhow::Result<Outcome> {
    let Some(account_id) = job.account_id else { return Ok(Outcome::Done) };
    let items = job.payload.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
    for item in items {
        let on = item.get("on").and_then(Value::as_str).and_then(RuleTrigger::parse);
        let conversation_id = item.get("conversation_id").and_then(Value::as_str).and_then(|c| c.parse::<ConversationId>().ok());
        let event_id = item.get("event_id").and_then(Value::as_str).unwrap_or_default();
        let (Some(on), Some(conversation_id)) = (on, conversation_id) else { continue };
        let rules = state.store.rules_for(account_id, on).await?;
        if rules.is_empty() {
            continue;
        }
        // Rules change conversations, never customers: the customer is read once.
        let contact = match state.store.conversation(account_id, conversation_id).await {
            Ok(c) => match state.store.contact(account_id, c.contact_id).await {
                Ok(contact) => contact,
                Err(threadline_store::StoreError::Merged(_) | threadline_store::StoreError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            },
            Err(threadline_store::StoreError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        for rule in rules {
            // Read again for each rule: the one before may have changed it.
            let conversation = match state.store.conversation(account_id, conversation_id).await {
                Ok(c) => c,
                Err(threadline_store::StoreError::NotFound) => break,
                Err(e) => return Err(e.into()),
            };
            let mut facts = RuleFacts::new(&conversation, &contact);
            for key in ["message", "survey", "sla"] {
                if let Some(value) = item.get(key) {
                    facts = facts.with(key, value.clone());
                }
            }
            if !rule.spec.holds(&facts) {
                continue;
            }
            let now = state.clock.now();
            let (effects, failures) = plan(state, account_id, &rule, event_id, &conversation, now).await?;
            let _ = state
                .store
                .apply_rule(account_id, rule.id, event_id, conversation_id, conversation.contact_id, effects, &failures, now)
                .await?;
        }
    }
    Ok(Outcome::Done)
}

/// A rule's actions as effects, in order; actions that cannot be carried
/// out (a reply the channel refuses now) are reported, not fatal.
#[allow(clippy::too_many_arguments)]
async fn plan(
    state: &AppState,
    account_id: AccountId,
    rule: &AutomationRule,
    event_id: &str,
    conversation: &Conversation,
    now: OffsetDateTime,
) -> anyhow::Result<(Vec<Effect>, Vec<String>)> {
    let mut effects = Vec::new();
    let mut failures = Vec::new();
    let change =
        |changes: ConversationChanges| Effect::Change { changes: Box::new(changes), add_labels: Vec::new(), remove_labels: Vec::new() };
    for action in &rule.spec.actions {
        // A team or agent removed since the rule was written: that action is
        // reported, the others still happen.
        if let RuleAction::Assign { team_id, assignee_id } | RuleAction::Notify { team_id, assignee_id, .. } = action {
            if let Some(team) = team_id
                && let Err(threadline_store::StoreError::NotFound) = state.store.team(account_id, *team).await
            {
                failures.push(format!("the team {team} no longer exists"));
                continue;
            }
            if let Some(user) = assignee_id
                && let Err(threadline_store::StoreError::NotFound) = state.store.user(account_id, *user).await
            {
                failures.push(format!("the agent {user} no longer exists"));
                continue;
            }
        }
        match action {
            RuleAction::Assign { team_id, assignee_id } => effects.push(change(ConversationChanges {
                team_id: team_id.map(Some),
                assignee_id: assignee_id.map(Some),
                ..Default::default()
            })),
            RuleAction::AddLabel { label } => effects.push(Effect::Change {
                changes: Box::default(),
                add_labels: vec![label.trim().to_owned()],
                remove_labels: Vec::new(),
            }),
            RuleAction::RemoveLabel { label } => effects.push(Effect::Change {
                changes: Box::default(),
                add_labels: Vec::new(),
                remove_labels: vec![label.trim().to_owned()],
            }),
            RuleAction::SetPriority { priority } => {
                effects.push(change(ConversationChanges { priority: Some(*priority), ..Default::default() }))
            }
            RuleAction::Snooze { hours } => effects.push(change(ConversationChanges {
                snoozed_until: Some(Some(now + Duration::hours(i64::from(*hours)))),
                ..Default::default()
            })),
            RuleAction::Resolve => {
                effects.push(change(ConversationChanges { status: Some(ConversationStatus::Resolved), ..Default::default() }))
            }
            RuleAction::ResolveIfPending { days } => effects.push(Effect::Later {
                job: NewJob {
                    lane: None,
                    kind: RESOLVE_PENDING_JOB,
                    account_id: Some(account_id),
                    dedup_key: None,
                    payload: serde_json::json!({
                        "conversation_id": conversation.id,
                        "since": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                        "rule_id": rule.id,
                        "event_id": event_id,
                    }),
                    run_at: now + Duration::days(i64::from(*days)),
                },
            }),
            RuleAction::Note { text } => effects.push(Effect::Note { text: text.clone(), author: format!("rule: {}", rule.name) }),
            RuleAction::Notify { team_id, assignee_id, title, due_in_minutes } => effects.push(Effect::Task {
                kind: TaskKind::FollowUp,
                title: title.clone(),
                team_id: *team_id,
                assignee_id: *assignee_id,
                due_at: now + Duration::minutes(i64::from(*due_in_minutes)),
            }),
            RuleAction::SendSurvey { survey_id } => effects
                .push(Effect::Later { job: crate::surveys::send_job(account_id, conversation.id, *survey_id, threadline_store::now()) }),
            RuleAction::Reply { text, canned_id, template, variables } => {
                match reply(state, account_id, conversation, text, *canned_id, template.as_deref(), variables).await {
                    Ok(outbound) => effects.push(Effect::Send { outbound: Box::new(outbound) }),
                    Err(e) => failures.push(format!("reply: {e}")),
                }
            }
        }
    }
    Ok((effects, failures))
}

/// The rule's reply, checked against the conversation's channel's rules
/// as an agent's would be.
#[allow(clippy::too_many_arguments)]
async fn reply(
    state: &AppState,
    account_id: AccountId,
    conversation: &Conversation,
    text: &Option<String>,
    canned_id: Option<threadline_domain::ids::CannedResponseId>,
    template: Option<&str>,
    variables: &[String],
) -> Result<threadline_store::OutboundMessage, String> {
    let context = ReplyContext::load(state, account_id, conversation.id).await.map_err(|e| e.to_string())?;
    let channel = context.default_channel();
    let agent_name = match conversation.assignee_id {
        Some(id) => state.store.user(account_id, id).await.map(|u| u.name).unwrap_or_default(),
        None => String::new(),
    };
    let language = context.contact.language.as_deref().or(conversation.language.as_deref());
    let latest = state.store.contact_orders(account_id, context.contact.id, 1).await.map_err(|e| e.to_string())?;
    let values = threadline_domain::canned::Values {
        contact_name: context.contact.name.as_deref(),
        agent_name: &agent_name,
        order: latest.first().map(|o| &o.facts),
        language,
    };
    let mut draft = Draft {
        author: Author::System,
        channel,
        inbox_id: None,
        text: String::new(),
        html: None,
        attachments: Vec::new(),
        template: None,
        subject: None,
    };
    if let Some(text) = text {
        draft.text = threadline_domain::canned::fill(text, &values);
    } else if let Some(id) = canned_id {
        // One source: the customer's language, and on WhatsApp outside the
        // 24 hours the approved template mapped to it.
        let canned = state.store.canned_response(account_id, id).await.map_err(|_| "the canned response no longer exists")?;
        let (_, body) = threadline_domain::canned::variant(&canned.body, &canned.translations, language);
        draft.text = threadline_domain::canned::fill(body, &values);
        if channel == Some(threadline_domain::channel::Channel::Whatsapp)
            && !context.judge(threadline_domain::channel::Channel::Whatsapp, state.clock.now()).allowed
            && let Some(mapping) = &canned.whatsapp_template
        {
            let found = state
                .store
                .template_by_name(account_id, threadline_domain::channel::Channel::Whatsapp, &mapping.name, language)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no approved whatsapp template `{}`", mapping.name))?;
            draft.template = Some((found.id, mapping.values(&values)));
            draft.text = String::new();
        }
    } else if let Some(name) = template {
        let channel = channel.ok_or("the conversation has no channel to send a template on")?;
        let found = state
            .store
            .template_by_name(account_id, channel, name, language)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no approved {channel} template `{name}`"))?;
        draft.template = Some((found.id, variables.to_vec()));
    }
    compose(state, account_id, &context, Some(conversation.id), draft).await.map_err(|e| e.to_string())
}

/// `automation.resolve_pending`: resolves the conversation if it is still
/// pending and the customer has not written since the rule fired.
pub async fn on_resolve_pending(state: &AppState, job: &Job) -> anyhow::Result<Outcome> {
    let Some(account_id) = job.account_id else { return Ok(Outcome::Done) };
    let id = job.payload.get("conversation_id").and_then(Value::as_str).and_then(|c| c.parse::<ConversationId>().ok());
    let since = job
        .payload
        .get("since")
        .and_then(Value::as_str)
        .and_then(|s| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok());
    let (Some(id), Some(since)) = (id, since) else { return Ok(Outcome::Done) };
    let conversation = match state.store.conversation(account_id, id).await {
        Ok(c) => c,
        Err(threadline_store::StoreError::NotFound) => return Ok(Outcome::Done),
        Err(e) => return Err(e.into()),
    };
    if conversation.status != ConversationStatus::Pending {
        return Ok(Outcome::Done);
    }
    if let Some(last) = state.store.last_inbound_message(account_id, id, None).await?
        && last.created_at > since
    {
        return Ok(Outcome::Done);
    }
    let rule_id = job.payload.get("rule_id").and_then(Value::as_str).and_then(|r| r.parse::<AutomationRuleId>().ok());
    let Some(rule_id) = rule_id else { return Ok(Outcome::Done) };
    // Logged as the rule's second run on the event; once, like the first.
    let event_id = format!("{}/resolve_if_pending", job.payload.get("event_id").and_then(Value::as_str).unwrap_or_default());
    let resolve = Effect::Change {
        changes: Box::new(ConversationChanges { status: Some(ConversationStatus::Resolved), ..Default::default() }),
        add_labels: Vec::new(),
        remove_labels: Vec::new(),
    };
    let now = state.clock.now();
    state.store.apply_rule(account_id, rule_id, &event_id, id, conversation.contact_id, vec![resolve], &[], now).await?;
    Ok(Outcome::Done)
}
