//! SLA policies, and where a conversation's clocks stand.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use threadline_domain::ids::{ConversationId, SlaPolicyId};
use threadline_domain::role::Permission;
use threadline_domain::sla::{Clock, SlaPolicy};
use threadline_store::{SlaBreach, StoredSlaPolicy};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(update_policy, delete_policy))
        .routes(routes!(conversation_sla))
}

#[utoipa::path(get, path = "/sla/policies", tag = "sla", responses((status = 200, body = Vec<StoredSlaPolicy>)))]
async fn list_policies(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<StoredSlaPolicy>>> {
    Ok(Json(state.store.sla_policies(caller.account_id()).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    pub name: String,
    pub policy: SlaPolicy,
    /// The policy of conversations whose team names none.
    #[serde(default)]
    pub is_default: bool,
}

async fn check(state: &AppState, account_id: threadline_domain::ids::AccountId, req: &PolicyInput) -> Result<String, ApiError> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "must be 1 to 100 characters"));
    }
    req.policy.validate().map_err(|e| {
        ApiError::Invalid(threadline_domain::ValidationErrors(
            e.0.into_iter().map(|f| threadline_domain::FieldError { field: format!("policy.{}", f.field), ..f }).collect(),
        ))
    })?;
    if let Some(hours) = &req.policy.business_hours
        && !crate::sla::known_time_zone(&hours.time_zone)
    {
        return Err(ApiError::invalid(
            "policy.business_hours.time_zone",
            format!("`{}` is not a known time zone (e.g. Europe/Rome)", hours.time_zone),
        ));
    }
    let teams = state.store.teams(account_id).await?;
    for (i, e) in req.policy.escalations.iter().enumerate() {
        if let Some(team) = e.team_id
            && !teams.iter().any(|t| t.id == team)
        {
            return Err(ApiError::invalid(&format!("policy.escalations[{i}].team_id"), "no such team in this account"));
        }
    }
    Ok(name.to_owned())
}

/// Adds a policy (supervisors and admins): targets per priority for the
/// first response, the next response and the resolution, counted in the
/// business hours given (24/7 without them), and what happens on a breach
/// (`reassign`, `raise_priority`, `notify_supervisors`).
#[utoipa::path(post, path = "/sla/policies", tag = "sla", request_body = PolicyInput,
    responses((status = 201, body = StoredSlaPolicy), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_policy(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<PolicyInput>,
) -> ApiResult<(StatusCode, Json<StoredSlaPolicy>)> {
    caller.require(Permission::ManageTeams)?;
    let name = check(&state, caller.account_id(), &req).await?;
    let saved = state.store.save_sla_policy(caller.account_id(), None, &name, &req.policy, req.is_default, &caller.actor).await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

#[utoipa::path(put, path = "/sla/policies/{id}", tag = "sla", params(("id" = SlaPolicyId, Path)), request_body = PolicyInput,
    responses((status = 200, body = StoredSlaPolicy), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<SlaPolicyId>,
    Body(req): Body<PolicyInput>,
) -> ApiResult<Json<StoredSlaPolicy>> {
    caller.require(Permission::ManageTeams)?;
    let name = check(&state, caller.account_id(), &req).await?;
    Ok(Json(state.store.save_sla_policy(caller.account_id(), Some(id), &name, &req.policy, req.is_default, &caller.actor).await?))
}

#[utoipa::path(delete, path = "/sla/policies/{id}", tag = "sla", params(("id" = SlaPolicyId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_policy(State(state): State<AppState>, caller: Caller, Path(id): Path<SlaPolicyId>) -> ApiResult<StatusCode> {
    caller.require(Permission::ManageTeams)?;
    state.store.delete_sla_policy(caller.account_id(), id, &caller.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationSla {
    /// The policy it is under (its team's, or the default); none: no targets.
    pub policy: Option<String>,
    pub clocks: Vec<Clock>,
    /// Targets missed so far.
    pub breaches: Vec<SlaBreach>,
}

/// A conversation's SLA clocks now, and the targets it missed.
#[utoipa::path(get, path = "/conversations/{id}/sla", tag = "sla", params(("id" = ConversationId, Path)),
    responses((status = 200, body = ConversationSla), (status = 404, body = ErrorBody)))]
async fn conversation_sla(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ConversationId>,
) -> ApiResult<Json<ConversationSla>> {
    let account_id = caller.account_id();
    let conversation = state.store.conversation(account_id, id).await?;
    let policies = state.store.sla_policies(account_id).await?;
    let teams = state.store.teams(account_id).await?;
    let breaches = state.store.sla_breaches(account_id, id).await?;
    let Some(policy) = crate::sla::policy_for(&policies, &teams, &conversation) else {
        return Ok(Json(ConversationSla { policy: None, clocks: Vec::new(), breaches }));
    };
    let started = match state.store.bot_session(account_id, id).await? {
        Some(s) if s.status == "handed_off" => s.ended_at.unwrap_or(conversation.created_at),
        _ => conversation.created_at,
    };
    let clocks = crate::sla::conversation_clocks(&policy.policy, &conversation, started, threadline_store::now());
    Ok(Json(ConversationSla { policy: Some(policy.name.clone()), clocks, breaches }))
}
