//! Automation rules: supervisors and administrators define them, everyone
//! reads them and what they did (`/automation-rules/{id}/runs`, or a
//! conversation's `/conversations/{id}/automation-runs`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use threadline_domain::automation::{RuleAction, RuleSpec};
use threadline_domain::ids::{AutomationRuleId, ConversationId};
use threadline_domain::role::Permission;
use threadline_domain::validation::{ValidationErrors, bounded_text};
use threadline_store::{AutomationRule, RuleRun, StoreError};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(get_rule, update_rule, delete_rule))
        .routes(routes!(rule_runs))
        .routes(routes!(conversation_runs))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    pub name: String,
    pub spec: RuleSpec,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Where it runs among rules on the same event (lowest first); new
    /// rules go last.
    #[serde(default)]
    pub position: Option<i64>,
}

/// Checks the rule, and that the teams, agents, surveys and canned
/// responses it names are this account's.
async fn check(state: &AppState, caller: &Caller, rule: &NewRule) -> ApiResult<String> {
    let account_id = caller.account_id();
    let mut errors = ValidationErrors::new();
    let name = bounded_text(&rule.name, "name", 200, &mut errors);
    if let Err(spec_errors) = rule.spec.validate() {
        for mut e in spec_errors.0 {
            e.field = format!("spec.{}", e.field);
            errors.0.push(e);
        }
    }
    let missing = |result: Result<(), StoreError>| -> ApiResult<bool> {
        match result {
            Ok(()) => Ok(false),
            Err(StoreError::NotFound) => Ok(true),
            Err(e) => Err(e.into()),
        }
    };
    for (i, action) in rule.spec.actions.iter().enumerate() {
        let at = |field: &str| format!("spec.actions[{i}].{field}");
        let (team_id, assignee_id) = match action {
            RuleAction::Assign { team_id, assignee_id } | RuleAction::Notify { team_id, assignee_id, .. } => (*team_id, *assignee_id),
            _ => (None, None),
        };
        if let Some(team_id) = team_id
            && missing(state.store.team(account_id, team_id).await.map(|_| ()))?
        {
            errors.push(at("team_id"), "no such team in this account");
        }
        if let Some(user_id) = assignee_id
            && missing(state.store.user(account_id, user_id).await.map(|_| ()))?
        {
            errors.push(at("assignee_id"), "no such user in this account");
        }
        if let RuleAction::SendSurvey { survey_id } = action
            && missing(state.store.survey(account_id, *survey_id).await.map(|_| ()))?
        {
            errors.push(at("survey_id"), "no such survey in this account");
        }
        if let RuleAction::Reply { canned_id: Some(canned_id), .. } = action
            && !state.store.canned_responses(account_id).await?.iter().any(|c| c.id == *canned_id)
        {
            errors.push(at("canned_id"), "no such canned response in this account");
        }
    }
    errors.into_result(())?;
    Ok(name)
}

/// The account's rules in the order they run.
#[utoipa::path(get, path = "/automation-rules", tag = "automation", responses((status = 200, body = Vec<AutomationRule>)))]
async fn list_rules(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<AutomationRule>>> {
    Ok(Json(state.store.rules(caller.account_id()).await?))
}

/// Defines a rule: when (`spec.when`) something happens to a conversation
/// and its conditions hold, its actions are carried out in order, once
/// per event. What rules change does not trigger rules.
#[utoipa::path(post, path = "/automation-rules", tag = "automation", request_body = NewRule,
    responses((status = 201, body = AutomationRule), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_rule(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<NewRule>,
) -> ApiResult<(StatusCode, Json<AutomationRule>)> {
    caller.require(Permission::SuperviseContacts)?;
    let name = check(&state, &caller, &req).await?;
    let account_id = caller.account_id();
    let mut rule = state.store.create_rule(account_id, &name, &req.spec, req.enabled.unwrap_or(true), &caller.actor).await?;
    if let Some(position) = req.position {
        rule = state.store.update_rule(account_id, rule.id, &name, &req.spec, rule.enabled, Some(position), &caller.actor).await?;
    }
    Ok((StatusCode::CREATED, Json(rule)))
}

#[utoipa::path(get, path = "/automation-rules/{id}", tag = "automation", params(("id" = AutomationRuleId, Path)),
    responses((status = 200, body = AutomationRule), (status = 404, body = ErrorBody)))]
async fn get_rule(State(state): State<AppState>, caller: Caller, Path(id): Path<AutomationRuleId>) -> ApiResult<Json<AutomationRule>> {
    Ok(Json(state.store.rule(caller.account_id(), id).await?))
}

/// Replaces a rule (set `enabled: false` to pause it).
#[utoipa::path(put, path = "/automation-rules/{id}", tag = "automation", params(("id" = AutomationRuleId, Path)), request_body = NewRule,
    responses((status = 200, body = AutomationRule), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<AutomationRuleId>,
    Body(req): Body<NewRule>,
) -> ApiResult<Json<AutomationRule>> {
    caller.require(Permission::SuperviseContacts)?;
    let name = check(&state, &caller, &req).await?;
    let enabled = req.enabled.unwrap_or(true);
    Ok(Json(state.store.update_rule(caller.account_id(), id, &name, &req.spec, enabled, req.position, &caller.actor).await?))
}

#[utoipa::path(delete, path = "/automation-rules/{id}", tag = "automation", params(("id" = AutomationRuleId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_rule(State(state): State<AppState>, caller: Caller, Path(id): Path<AutomationRuleId>) -> ApiResult<StatusCode> {
    caller.require(Permission::SuperviseContacts)?;
    state.store.delete_rule(caller.account_id(), id, &caller.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a rule did, newest first (the last 200 times it fired).
#[utoipa::path(get, path = "/automation-rules/{id}/runs", tag = "automation", params(("id" = AutomationRuleId, Path)),
    responses((status = 200, body = Vec<RuleRun>), (status = 404, body = ErrorBody)))]
async fn rule_runs(State(state): State<AppState>, caller: Caller, Path(id): Path<AutomationRuleId>) -> ApiResult<Json<Vec<RuleRun>>> {
    state.store.rule(caller.account_id(), id).await?;
    Ok(Json(state.store.rule_runs(caller.account_id(), Some(id), None, 200).await?))
}

/// What rules did to a conversation, newest first.
#[utoipa::path(get, path = "/conversations/{id}/automation-runs", tag = "automation", params(("id" = ConversationId, Path)),
    responses((status = 200, body = Vec<RuleRun>), (status = 404, body = ErrorBody)))]
async fn conversation_runs(State(state): State<AppState>, caller: Caller, Path(id): Path<ConversationId>) -> ApiResult<Json<Vec<RuleRun>>> {
    state.store.conversation(caller.account_id(), id).await?;
    Ok(Json(state.store.rule_runs(caller.account_id(), None, Some(id), 200).await?))
}
