//! Teams and their members (supervisors and admins manage them).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use threadline_domain::ids::{TeamId, UserId};
use threadline_domain::role::Permission;
use threadline_domain::validation::{ValidationErrors, bounded_text};
use threadline_store::Team;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(get_team, update_team, delete_team))
        .routes(routes!(add_member, remove_member))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamInput {
    pub name: Option<String>,
    pub description: Option<String>,
}

#[utoipa::path(get, path = "/teams", tag = "teams", responses((status = 200, body = Vec<Team>)))]
async fn list_teams(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Team>>> {
    Ok(Json(state.store.teams(caller.account_id()).await?))
}

#[utoipa::path(post, path = "/teams", tag = "teams", request_body = TeamInput,
    responses((status = 201, body = Team), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_team(State(state): State<AppState>, caller: Caller, Body(req): Body<TeamInput>) -> ApiResult<(StatusCode, Json<Team>)> {
    caller.require(Permission::ManageTeams)?;
    let mut errors = ValidationErrors::new();
    let name = bounded_text(req.name.as_deref().unwrap_or(""), "name", 100, &mut errors);
    let description = req.description.as_deref().map(|d| bounded_text(d, "description", 1000, &mut errors));
    errors.into_result(())?;
    Ok((StatusCode::CREATED, Json(state.store.create_team(caller.account_id(), &name, description).await?)))
}

#[utoipa::path(get, path = "/teams/{id}", tag = "teams", params(("id" = TeamId, Path)),
    responses((status = 200, body = Team), (status = 404, body = ErrorBody)))]
async fn get_team(State(state): State<AppState>, caller: Caller, Path(id): Path<TeamId>) -> ApiResult<Json<Team>> {
    Ok(Json(state.store.team(caller.account_id(), id).await?))
}

#[utoipa::path(patch, path = "/teams/{id}", tag = "teams", params(("id" = TeamId, Path)), request_body = TeamInput,
    responses((status = 200, body = Team), (status = 404, body = ErrorBody)))]
async fn update_team(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<TeamId>,
    Body(req): Body<TeamInput>,
) -> ApiResult<Json<Team>> {
    caller.require(Permission::ManageTeams)?;
    let mut errors = ValidationErrors::new();
    let name = req.name.as_deref().map(|n| bounded_text(n, "name", 100, &mut errors));
    let description = req.description.as_deref().map(|d| bounded_text(d, "description", 1000, &mut errors));
    errors.into_result(())?;
    Ok(Json(state.store.update_team(caller.account_id(), id, name, description).await?))
}

#[utoipa::path(delete, path = "/teams/{id}", tag = "teams", params(("id" = TeamId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_team(State(state): State<AppState>, caller: Caller, Path(id): Path<TeamId>) -> ApiResult<StatusCode> {
    caller.require(Permission::ManageTeams)?;
    state.store.delete_team(caller.account_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/teams/{id}/members/{user_id}", tag = "teams", params(("id" = TeamId, Path), ("user_id" = UserId, Path)),
    responses((status = 200, body = Team), (status = 404, body = ErrorBody)))]
async fn add_member(State(state): State<AppState>, caller: Caller, Path((id, user_id)): Path<(TeamId, UserId)>) -> ApiResult<Json<Team>> {
    caller.require(Permission::ManageTeams)?;
    Ok(Json(state.store.set_team_member(caller.account_id(), id, user_id, true).await?))
}

#[utoipa::path(delete, path = "/teams/{id}/members/{user_id}", tag = "teams", params(("id" = TeamId, Path), ("user_id" = UserId, Path)),
    responses((status = 200, body = Team), (status = 404, body = ErrorBody)))]
async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(TeamId, UserId)>,
) -> ApiResult<Json<Team>> {
    caller.require(Permission::ManageTeams)?;
    Ok(Json(state.store.set_team_member(caller.account_id(), id, user_id, false).await?))
}
