//! Routing: the rules that send conversations to teams, each team's and
//! agent's routing settings, the queues, and why each conversation went
//! where it did.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use threadline_domain::ids::{ConversationId, RoutingRuleId, TeamId, UserId};
use threadline_domain::role::Permission;
use threadline_domain::routing::MAX_LEVEL;
use threadline_domain::triage::Reason;
use threadline_domain::validation::ValidationErrors;
use threadline_store::{AgentRouting, NewRoutingRule, QueueStats, RoutingDecision, RoutingRule, RuleConditions, Team, TeamRouting, User};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(update_rule, delete_rule))
        .routes(routes!(set_team_routing))
        .routes(routes!(set_agent_routing))
        .routes(routes!(queues))
        .routes(routes!(conversation_routing))
}

#[utoipa::path(get, path = "/routing/rules", tag = "routing", responses((status = 200, body = Vec<RoutingRule>)))]
async fn list_rules(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<RoutingRule>>> {
    Ok(Json(state.store.routing_rules(caller.account_id()).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub name: String,
    /// Every condition given must hold; none given: every message.
    #[serde(default)]
    pub conditions: RuleConditions,
    pub team_id: TeamId,
    /// Raise the conversation's priority to this (never lowers it).
    pub priority: Option<threadline_domain::conversation::Priority>,
    /// Where it is tried among the rules (lower first), 0–1,000,000;
    /// default: after the others.
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub position: Option<i64>,
}

/// Positions stay in a range where "after the others" (the last one + 10)
/// can never overflow and wrap to the front.
pub const MAX_RULE_POSITION: i64 = 1_000_000;

async fn check_rule(
    state: &AppState,
    account_id: threadline_domain::ids::AccountId,
    input: RuleInput,
) -> Result<(NewRoutingRule, Option<i64>), ApiError> {
    let mut errors = ValidationErrors::new();
    if let Some(position) = input.position
        && !(0..=MAX_RULE_POSITION).contains(&position)
    {
        errors.push("position", format!("must be between 0 and {MAX_RULE_POSITION}"));
    }
    // An inbox condition names one of the account's own inboxes.
    if let Some(inbox) = input.conditions.inbox_id
        && matches!(state.store.inbox(account_id, inbox).await, Err(threadline_store::StoreError::NotFound))
    {
        errors.push("conditions.inbox_id", "is not an inbox of this account");
    }
    let mut rule = NewRoutingRule {
        name: input.name.trim().to_owned(),
        conditions: input.conditions,
        team_id: input.team_id,
        priority: input.priority,
    };
    if rule.name.is_empty() || rule.name.chars().count() > 100 {
        errors.push("name", "must be 1 to 100 characters");
    }
    let c = &mut rule.conditions;
    if let Some(category) = &c.category {
        c.category = Some(category.trim().to_lowercase()).filter(|c| !c.is_empty());
    }
    if let Some(language) = &c.language {
        let language = language.trim().to_ascii_lowercase();
        if language.len() != 2 || !language.bytes().all(|b| b.is_ascii_lowercase()) {
            errors.push("conditions.language", "is a two-letter ISO 639-1 code");
        }
        c.language = Some(language);
    }
    errors.into_result((rule, input.position)).map_err(ApiError::from)
}

/// Adds a rule (supervisors and admins). The first rule, in position
/// order, whose conditions all hold for a new message sends its
/// conversation to the rule's team (if it has none yet) and may raise its
/// priority.
#[utoipa::path(post, path = "/routing/rules", tag = "routing", request_body = RuleInput,
    responses((status = 201, body = RoutingRule), (status = 422, body = ErrorBody)))]
async fn create_rule(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<RuleInput>,
) -> ApiResult<(StatusCode, Json<RoutingRule>)> {
    caller.require(Permission::ManageTeams)?;
    let (rule, position) = check_rule(&state, caller.account_id(), req).await?;
    let rule = state.store.create_routing_rule(caller.account_id(), &rule, position, &caller.actor).await?;
    state.routing_rules.clear();
    Ok((StatusCode::CREATED, Json(rule)))
}

#[utoipa::path(put, path = "/routing/rules/{id}", tag = "routing", params(("id" = RoutingRuleId, Path)), request_body = RuleInput,
    responses((status = 200, body = RoutingRule), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<RoutingRuleId>,
    Body(req): Body<RuleInput>,
) -> ApiResult<Json<RoutingRule>> {
    caller.require(Permission::ManageTeams)?;
    let (rule, position) = check_rule(&state, caller.account_id(), req).await?;
    let rule = state.store.update_routing_rule(caller.account_id(), id, &rule, position, &caller.actor).await?;
    state.routing_rules.clear();
    Ok(Json(rule))
}

#[utoipa::path(delete, path = "/routing/rules/{id}", tag = "routing", params(("id" = RoutingRuleId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_rule(State(state): State<AppState>, caller: Caller, Path(id): Path<RoutingRuleId>) -> ApiResult<StatusCode> {
    caller.require(Permission::ManageTeams)?;
    state.store.delete_routing_rule(caller.account_id(), id, &caller.actor).await?;
    state.routing_rules.clear();
    Ok(StatusCode::NO_CONTENT)
}

/// How a team's queue is routed (supervisors and admins): automatically
/// or not, by which strategy (`round_robin`, `least_busy`, `skills`),
/// which facts become required skills, what happens when nobody
/// qualifies, when an offline agent's conversations go back to the queue,
/// and the team's SLA policy.
#[utoipa::path(put, path = "/teams/{id}/routing", tag = "routing", params(("id" = TeamId, Path)), request_body = TeamRouting,
    responses((status = 200, body = Team), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_team_routing(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<TeamId>,
    Body(req): Body<TeamRouting>,
) -> ApiResult<Json<Team>> {
    caller.require(Permission::ManageTeams)?;
    let mut errors = ValidationErrors::new();
    if !(1..=MAX_LEVEL).contains(&req.skills.min_level) {
        errors.push("skills.min_level", format!("is 1 to {MAX_LEVEL}"));
    }
    if req.skills.attributes.len() > 10 || req.skills.attributes.iter().any(|a| a.trim().is_empty() || a.len() > 64) {
        errors.push("skills.attributes", "up to 10 attribute names of 1 to 64 characters");
    }
    if req.reassign_offline_after_secs.is_some_and(|s| !(60..=7 * 24 * 3600).contains(&s)) {
        errors.push("reassign_offline_after_secs", "is between a minute and a week, or null to keep them");
    }
    errors.into_result(())?;
    Ok(Json(state.store.set_team_routing(caller.account_id(), id, &req, &caller.actor).await?))
}

/// An agent's skills (name → level 1–5) and capacity per channel
/// (supervisors and admins).
#[utoipa::path(put, path = "/users/{id}/routing", tag = "routing", params(("id" = UserId, Path)), request_body = AgentRouting,
    responses((status = 200, body = User), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_agent_routing(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<UserId>,
    Body(req): Body<AgentRouting>,
) -> ApiResult<Json<User>> {
    caller.require(Permission::ManageTeams)?;
    let mut errors = ValidationErrors::new();
    let mut skills = std::collections::BTreeMap::new();
    for (name, level) in &req.skills {
        let name = name.trim().to_lowercase();
        let ok = !name.is_empty() && name.len() <= 100 && name.chars().all(|c| c.is_alphanumeric() || matches!(c, ':' | '-' | '_' | '.'));
        if !ok {
            errors.push(format!("skills.{name}"), "a skill is a name like language:it or category:billing (letters, digits, : - _ .)");
        }
        if !(1..=MAX_LEVEL).contains(level) {
            errors.push(format!("skills.{name}"), format!("levels are 1 to {MAX_LEVEL}"));
        }
        skills.insert(name, *level);
    }
    if skills.len() > 100 {
        errors.push("skills", "at most 100 skills");
    }
    if req.capacity.values().any(|c| *c > 1000) {
        errors.push("capacity", "at most 1000 conversations per channel");
    }
    errors.into_result(())?;
    let routing = AgentRouting { skills, capacity: req.capacity };
    Ok(Json(state.store.set_agent_routing(caller.account_id(), id, &routing).await?))
}

/// Each team's queue: how many conversations wait and since when.
#[utoipa::path(get, path = "/routing/queues", tag = "routing", responses((status = 200, body = Vec<QueueStats>)))]
async fn queues(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<QueueStats>>> {
    Ok(Json(state.store.queue_stats(caller.account_id()).await?))
}

/// Why a conversation is where it is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationRouting {
    /// Why its messages were given their language, sentiment, category,
    /// urgency and team, newest message first.
    pub triage: Vec<MessageReasons>,
    /// Every assignment routing made or undid, oldest first.
    pub decisions: Vec<RoutingDecision>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageReasons {
    pub message_id: threadline_domain::ids::MessageId,
    pub reasons: Vec<Reason>,
}

#[utoipa::path(get, path = "/conversations/{id}/routing", tag = "routing", params(("id" = ConversationId, Path)),
    responses((status = 200, body = ConversationRouting), (status = 404, body = ErrorBody)))]
async fn conversation_routing(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ConversationId>,
) -> ApiResult<Json<ConversationRouting>> {
    let account_id = caller.account_id();
    let messages = state.store.conversation_messages(account_id, id, None, 200).await?;
    let triage = messages
        .iter()
        .rev()
        .filter_map(|m| m.triage.as_ref().map(|t| MessageReasons { message_id: m.id, reasons: t.reasons.clone() }))
        .collect();
    let decisions = state.store.routing_decisions(account_id, id).await?;
    Ok(Json(ConversationRouting { triage, decisions }))
}
