//! Surveys: what the account asks after conversations (supervisors and
//! administrators define them; everyone reads), and the surveys sent with
//! their answers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use threadline_domain::ids::SurveyId;
use threadline_domain::role::Permission;
use threadline_domain::survey::SurveySpec;
use threadline_domain::validation::{ValidationErrors, bounded_text};
use threadline_store::{Survey, SurveyResponse};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path, Query};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_surveys, create_survey))
        .routes(routes!(get_survey, update_survey, delete_survey))
        .routes(routes!(list_responses))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSurvey {
    pub name: String,
    pub spec: SurveySpec,
    /// Default true.
    #[serde(default)]
    pub active: Option<bool>,
}

fn check(survey: &NewSurvey) -> ApiResult<String> {
    let mut errors = ValidationErrors::new();
    let name = bounded_text(&survey.name, "name", 200, &mut errors);
    if let Err(spec_errors) = survey.spec.validate() {
        for mut e in spec_errors.0 {
            e.field = format!("spec.{}", e.field);
            errors.0.push(e);
        }
    }
    errors.into_result(())?;
    Ok(name)
}

#[utoipa::path(get, path = "/surveys", tag = "surveys", responses((status = 200, body = Vec<Survey>)))]
async fn list_surveys(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Survey>>> {
    Ok(Json(state.store.surveys(caller.account_id()).await?))
}

/// Defines a survey: sent after conversations are resolved (its inboxes
/// and teams, after `delay_hours`), at most once per customer in
/// `throttle_days`, answered within `expiry_hours`.
#[utoipa::path(post, path = "/surveys", tag = "surveys", request_body = NewSurvey,
    responses((status = 201, body = Survey), (status = 422, body = ErrorBody)))]
async fn create_survey(State(state): State<AppState>, caller: Caller, Body(req): Body<NewSurvey>) -> ApiResult<(StatusCode, Json<Survey>)> {
    caller.require(Permission::SuperviseContacts)?;
    let name = check(&req)?;
    let mut survey = state.store.create_survey(caller.account_id(), &name, &req.spec, &caller.actor).await?;
    if req.active == Some(false) {
        survey = state.store.update_survey(caller.account_id(), survey.id, &name, &req.spec, false, &caller.actor).await?;
    }
    Ok((StatusCode::CREATED, Json(survey)))
}

#[utoipa::path(get, path = "/surveys/{id}", tag = "surveys", params(("id" = SurveyId, Path)),
    responses((status = 200, body = Survey), (status = 404, body = ErrorBody)))]
async fn get_survey(State(state): State<AppState>, caller: Caller, Path(id): Path<SurveyId>) -> ApiResult<Json<Survey>> {
    Ok(Json(state.store.survey(caller.account_id(), id).await?))
}

#[utoipa::path(put, path = "/surveys/{id}", tag = "surveys", params(("id" = SurveyId, Path)), request_body = NewSurvey,
    responses((status = 200, body = Survey), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_survey(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<SurveyId>,
    Body(req): Body<NewSurvey>,
) -> ApiResult<Json<Survey>> {
    caller.require(Permission::SuperviseContacts)?;
    let name = check(&req)?;
    Ok(Json(state.store.update_survey(caller.account_id(), id, &name, &req.spec, req.active.unwrap_or(true), &caller.actor).await?))
}

/// Deletes a survey never sent; one that was sent is set inactive instead (409).
#[utoipa::path(delete, path = "/surveys/{id}", tag = "surveys", params(("id" = SurveyId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_survey(State(state): State<AppState>, caller: Caller, Path(id): Path<SurveyId>) -> ApiResult<StatusCode> {
    caller.require(Permission::SuperviseContacts)?;
    state.store.delete_survey(caller.account_id(), id, &caller.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Surveys sent in a period (default the last 30 days), newest first,
/// with their answers; an agent's own conversations for agents.
#[utoipa::path(get, path = "/surveys/responses", tag = "surveys", params(super::reports::ReportParams),
    responses((status = 200, body = Vec<SurveyResponse>), (status = 422, body = ErrorBody)))]
async fn list_responses(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<super::reports::ReportParams>,
) -> ApiResult<Json<Vec<SurveyResponse>>> {
    let r = super::reports::request(&state, &caller, &p)?;
    Ok(Json(state.store.survey_responses(caller.account_id(), r.period.from, r.period.to, &r.filter, 1000).await?))
}
