//! Journeys (supervisors and administrators build them), their runs and
//! funnels, a dry run for one customer, the account's send rules, and the
//! tasks journeys leave for people.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use threadline_domain::ids::{ContactId, JourneyId, JourneyRunId, TaskId, UserId};
use threadline_domain::journey::{Action, Condition, JourneySpec, SendRules, Trigger};
use threadline_domain::role::Permission;
use threadline_domain::validation::{ValidationErrors, bounded_text};
use threadline_store::{Funnel, Journey, JourneyRun, StepRecord, Task};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path, Query, page_limit};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::journeys::dry_run::DryRun;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_journeys, create_journey))
        .routes(routes!(get_journey, update_journey))
        .routes(routes!(set_status))
        .routes(routes!(funnel))
        .routes(routes!(list_runs, enroll))
        .routes(routes!(get_run))
        .routes(routes!(dry_run))
        .routes(routes!(get_send_rules, put_send_rules))
        .routes(routes!(list_tasks, create_task))
        .routes(routes!(update_task))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewJourney {
    pub name: String,
    pub spec: JourneySpec,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JourneyUpdate {
    pub name: Option<String>,
    /// A new version of the steps (runs already going finish on theirs).
    pub spec: Option<JourneySpec>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JourneyDetail {
    #[serde(flatten)]
    pub journey: Journey,
    /// The latest version's spec.
    pub spec: JourneySpec,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JourneyListItem {
    #[serde(flatten)]
    pub journey: Journey,
    pub funnel: Funnel,
}

/// Checks a spec beyond its shape: the teams, people and webhook URLs it
/// names must be the account's and allowed.
async fn check_spec(state: &AppState, caller: &Caller, spec: &JourneySpec) -> ApiResult<()> {
    let prefix = |errors: ValidationErrors| {
        ValidationErrors(
            errors
                .0
                .into_iter()
                .map(|mut e| {
                    e.field = format!("spec.{}", e.field);
                    e
                })
                .collect(),
        )
    };
    spec.validate().map_err(|e| ApiError::Invalid(prefix(e)))?;
    let account_id = caller.account_id();
    let teams = state.store.teams(account_id).await?;
    let users = state.store.users(account_id).await?;
    let mut errors = ValidationErrors::new();
    for step in spec.all_steps() {
        let field = |name: &str| format!("spec.steps[{}].{name}", step.id);
        match &step.action {
            Action::Task(task) => {
                if let Some(team) = task.team_id
                    && !teams.iter().any(|t| t.id == team)
                {
                    errors.push(field("team_id"), "no such team in this account");
                }
                if let Some(user) = task.assignee_id
                    && !users.iter().any(|u| u.id == user)
                {
                    errors.push(field("assignee_id"), "no such user in this account");
                }
            }
            Action::OpenConversation { team_id: Some(team), .. } if !teams.iter().any(|t| t.id == *team) => {
                errors.push(field("team_id"), "no such team in this account");
            }
            Action::Webhook { url } => {
                if let Err(refusal) = state.egress.check_url_resolved(url).await {
                    errors.push(field("url"), refusal.to_string());
                }
            }
            _ => {}
        }
    }
    // Segments named by the trigger or by conditions must be the account's.
    let segments = state.store.segments(account_id).await?;
    let known = |id: &threadline_domain::ids::SegmentId| segments.iter().any(|s| s.id == *id);
    if let Trigger::Segment { segment_id, .. } = &spec.trigger
        && !known(segment_id)
    {
        errors.push("spec.trigger.segment_id", "no such segment in this account");
    }
    let mut conditions: Vec<(String, &Condition)> =
        spec.audience.iter().enumerate().map(|(i, c)| (format!("spec.audience[{i}]"), c)).collect();
    for step in spec.all_steps() {
        if let Action::Branch { branches, .. } = &step.action {
            for (b, arm) in branches.iter().enumerate() {
                for (c, condition) in arm.when.iter().enumerate() {
                    conditions.push((format!("spec.steps[{}].branches[{b}].when[{c}]", step.id), condition));
                }
            }
        }
    }
    for (path, condition) in conditions {
        if let Condition::InSegment { segment_id } = condition
            && !known(segment_id)
        {
            errors.push(format!("{path}.segment_id"), "no such segment in this account");
        }
    }
    Ok(errors.into_result(())?)
}

#[utoipa::path(get, path = "/journeys", tag = "journeys", responses((status = 200, body = Vec<JourneyListItem>)))]
async fn list_journeys(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<JourneyListItem>>> {
    let mut out = Vec::new();
    for journey in state.store.journeys(caller.account_id()).await? {
        let funnel = state.store.journey_funnel(caller.account_id(), journey.id, None).await?;
        out.push(JourneyListItem { journey, funnel });
    }
    Ok(Json(out))
}

/// Creates a journey as a draft; it starts runs once it is `live`.
#[utoipa::path(post, path = "/journeys", tag = "journeys", request_body = NewJourney,
    responses((status = 201, body = JourneyDetail), (status = 422, body = ErrorBody)))]
async fn create_journey(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<NewJourney>,
) -> ApiResult<(StatusCode, Json<JourneyDetail>)> {
    caller.require(Permission::SuperviseContacts)?;
    let mut errors = ValidationErrors::new();
    let name = bounded_text(&req.name, "name", 200, &mut errors);
    errors.into_result(())?;
    check_spec(&state, &caller, &req.spec).await?;
    let journey = state.store.create_journey(caller.account_id(), &name, &req.spec, &caller.actor).await?;
    Ok((StatusCode::CREATED, Json(JourneyDetail { journey, spec: req.spec })))
}

#[utoipa::path(get, path = "/journeys/{id}", tag = "journeys", params(("id" = JourneyId, Path)),
    responses((status = 200, body = JourneyDetail), (status = 404, body = ErrorBody)))]
async fn get_journey(State(state): State<AppState>, caller: Caller, Path(id): Path<JourneyId>) -> ApiResult<Json<JourneyDetail>> {
    let journey = state.store.journey(caller.account_id(), id).await?;
    let spec = state.store.journey_spec(caller.account_id(), id, None).await?;
    Ok(Json(JourneyDetail { journey, spec }))
}

/// Renames it or gives it new steps (a new version).
#[utoipa::path(patch, path = "/journeys/{id}", tag = "journeys", params(("id" = JourneyId, Path)), request_body = JourneyUpdate,
    responses((status = 200, body = JourneyDetail), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_journey(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<JourneyId>,
    Body(req): Body<JourneyUpdate>,
) -> ApiResult<Json<JourneyDetail>> {
    caller.require(Permission::SuperviseContacts)?;
    let mut errors = ValidationErrors::new();
    let name = req.name.as_deref().map(|n| bounded_text(n, "name", 200, &mut errors));
    errors.into_result(())?;
    if let Some(spec) = &req.spec {
        check_spec(&state, &caller, spec).await?;
    }
    let journey = state.store.update_journey(caller.account_id(), id, name.as_deref(), req.spec.as_ref(), &caller.actor).await?;
    let spec = state.store.journey_spec(caller.account_id(), id, None).await?;
    Ok(Json(JourneyDetail { journey, spec }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// `live`, `paused`, `draft` or `archived` (the last two end running runs).
    pub status: String,
}

#[utoipa::path(post, path = "/journeys/{id}/status", tag = "journeys", params(("id" = JourneyId, Path)), request_body = StatusChange,
    responses((status = 200, body = Journey), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<JourneyId>,
    Body(req): Body<StatusChange>,
) -> ApiResult<Json<Journey>> {
    caller.require(Permission::SuperviseContacts)?;
    if !threadline_store::JOURNEY_STATUSES.contains(&req.status.as_str()) {
        return Err(ApiError::invalid("status", "must be live, paused, draft or archived"));
    }
    let journey = state.store.set_journey_status(caller.account_id(), id, &req.status, &caller.actor).await?;
    state.engagement_active.clear();
    Ok(Json(journey))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FunnelParams {
    /// One version's runs only.
    pub version: Option<i64>,
}

/// Runs by outcome, and what happened at each step (where customers drop off).
#[utoipa::path(get, path = "/journeys/{id}/funnel", tag = "journeys", params(("id" = JourneyId, Path), FunnelParams),
    responses((status = 200, body = Funnel), (status = 404, body = ErrorBody)))]
async fn funnel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<JourneyId>,
    Query(p): Query<FunnelParams>,
) -> ApiResult<Json<Funnel>> {
    state.store.journey(caller.account_id(), id).await?;
    Ok(Json(state.store.journey_funnel(caller.account_id(), id, p.version).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RunParams {
    /// `active`, `waiting`, `completed`, `converted`, `exited` or `failed`.
    pub status: Option<String>,
    /// 1–200 (default 50).
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/journeys/{id}/runs", tag = "journeys", params(("id" = JourneyId, Path), RunParams),
    responses((status = 200, body = Vec<JourneyRun>), (status = 404, body = ErrorBody)))]
async fn list_runs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<JourneyId>,
    Query(p): Query<RunParams>,
) -> ApiResult<Json<Vec<JourneyRun>>> {
    let limit = page_limit(p.limit)?;
    if let Some(status) = &p.status
        && !["active", "waiting", "completed", "converted", "exited", "failed"].contains(&status.as_str())
    {
        return Err(ApiError::invalid("status", "must be active, waiting, completed, converted, exited or failed"));
    }
    state.store.journey(caller.account_id(), id).await?;
    Ok(Json(state.store.journey_runs(caller.account_id(), id, p.status.as_deref(), limit).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    pub contact_id: ContactId,
}

/// Puts a customer into a live journey now, whatever its trigger (the
/// audience and re-entry rules still apply): 201 with the run, or 409
/// when they may not enter.
#[utoipa::path(post, path = "/journeys/{id}/runs", tag = "journeys", params(("id" = JourneyId, Path)), request_body = Enrollment,
    responses((status = 201, body = JourneyRun), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn enroll(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<JourneyId>,
    Body(req): Body<Enrollment>,
) -> ApiResult<(StatusCode, Json<JourneyRun>)> {
    caller.require(Permission::SuperviseContacts)?;
    let account_id = caller.account_id();
    let journey = state.store.journey(account_id, id).await?;
    if journey.status != "live" {
        return Err(ApiError::Conflict("the journey is not live".into()));
    }
    let spec = state.store.journey_spec(account_id, id, journey.live_version).await?;
    let contact = state.store.contact(account_id, req.contact_id).await.map_err(|e| match e {
        threadline_store::StoreError::NotFound => ApiError::invalid("contact_id", "no such contact in this account"),
        other => other.into(),
    })?;
    let now = state.clock.now();
    let facts = crate::journeys::facts(&state, account_id, &contact, now).await.map_err(ApiError::Internal)?;
    match crate::journeys::enter(&state, account_id, &journey, &spec, &contact, &facts, None, now).await.map_err(ApiError::Internal)? {
        Some(run) => Ok((StatusCode::CREATED, Json(run))),
        None => Err(ApiError::Conflict("the customer may not enter: the audience or re-entry rules keep them out".into())),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: JourneyRun,
    /// The steps it took, in order.
    pub steps: Vec<StepRecord>,
}

#[utoipa::path(get, path = "/journeys/{id}/runs/{run_id}", tag = "journeys", params(("id" = JourneyId, Path), ("run_id" = JourneyRunId, Path)),
    responses((status = 200, body = RunDetail), (status = 404, body = ErrorBody)))]
async fn get_run(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, run_id)): Path<(JourneyId, JourneyRunId)>,
) -> ApiResult<Json<RunDetail>> {
    let run = state.store.journey_run(caller.account_id(), run_id).await?;
    if run.journey_id != id {
        return Err(ApiError::NotFound);
    }
    let steps = state.store.run_steps(caller.account_id(), run_id).await?;
    Ok(Json(RunDetail { run, steps }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunRequest {
    pub contact_id: ContactId,
    /// A version to try (default: the latest, live or not).
    pub version: Option<i64>,
}

/// What the journey would do for this customer now, without doing it.
#[utoipa::path(post, path = "/journeys/{id}/dry-run", tag = "journeys", params(("id" = JourneyId, Path)), request_body = DryRunRequest,
    responses((status = 200, body = DryRun), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn dry_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<JourneyId>,
    Body(req): Body<DryRunRequest>,
) -> ApiResult<Json<DryRun>> {
    let account_id = caller.account_id();
    let spec = state.store.journey_spec(account_id, id, req.version).await?;
    state.store.contact(account_id, req.contact_id).await.map_err(|e| match e {
        threadline_store::StoreError::NotFound => ApiError::invalid("contact_id", "no such contact in this account"),
        other => other.into(),
    })?;
    Ok(Json(crate::journeys::dry_run::dry_run(&state, account_id, id, &spec, req.contact_id).await.map_err(ApiError::Internal)?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SendRulesView {
    #[serde(flatten)]
    pub rules: SendRules,
    /// The key journey webhooks are signed with (`Threadline-Signature`).
    pub webhook_secret: String,
}

/// Quiet hours and frequency caps for every journey's sends (admins).
#[utoipa::path(get, path = "/journey-settings", tag = "journeys", responses((status = 200, body = SendRulesView)))]
async fn get_send_rules(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<SendRulesView>> {
    caller.require(Permission::Administer)?;
    let rules = state.store.journey_send_rules(caller.account_id()).await?;
    Ok(Json(SendRulesView { rules, webhook_secret: crate::journeys::webhook_secret(&state, caller.account_id()) }))
}

#[utoipa::path(put, path = "/journey-settings", tag = "journeys", request_body = SendRules,
    responses((status = 200, body = SendRules), (status = 422, body = ErrorBody)))]
async fn put_send_rules(State(state): State<AppState>, caller: Caller, Body(rules): Body<SendRules>) -> ApiResult<Json<SendRules>> {
    caller.require(Permission::Administer)?;
    rules.validate()?;
    state.store.set_journey_send_rules(caller.account_id(), &rules, &caller.actor).await?;
    Ok(Json(rules))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TaskParams {
    /// `open` (default) or `all`.
    pub status: Option<String>,
    /// `me`, or a user id.
    pub assignee: Option<String>,
    pub contact_id: Option<ContactId>,
    pub limit: Option<i64>,
}

/// Tasks for people (from journeys), soonest due first.
#[utoipa::path(get, path = "/tasks", tag = "journeys", params(TaskParams), responses((status = 200, body = Vec<Task>)))]
async fn list_tasks(State(state): State<AppState>, caller: Caller, Query(p): Query<TaskParams>) -> ApiResult<Json<Vec<Task>>> {
    let limit = page_limit(p.limit)?;
    let open_only = match p.status.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(_) => return Err(ApiError::invalid("status", "must be open or all")),
    };
    let assignee = match p.assignee.as_deref() {
        None => None,
        Some("me") => Some(caller.user.id),
        Some(id) => Some(id.parse::<UserId>().map_err(|_| ApiError::invalid("assignee", "`me` or a user id"))?),
    };
    Ok(Json(state.store.tasks(caller.account_id(), open_only, assignee, p.contact_id, limit).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTaskBody {
    pub contact_id: ContactId,
    pub title: String,
    /// When it is due (RFC 3339).
    pub due_at: String,
    /// `reminder` (default), `call`, `reply` or `follow_up`.
    pub kind: Option<String>,
    /// Default: the caller (a reminder to themselves), unless `team_id` is given.
    pub assignee_id: Option<UserId>,
    pub team_id: Option<threadline_domain::ids::TeamId>,
}

/// Sets a task on a customer: a reminder to oneself ("call Ada back on
/// Tuesday"), or work for a colleague or a team; it shows at the top of
/// their inbox when due.
#[utoipa::path(post, path = "/tasks", tag = "journeys", request_body = NewTaskBody,
    responses((status = 201, body = Task), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_task(State(state): State<AppState>, caller: Caller, Body(req): Body<NewTaskBody>) -> ApiResult<(StatusCode, Json<Task>)> {
    let mut errors = ValidationErrors::new();
    let title = bounded_text(&req.title, "title", 200, &mut errors);
    let kind = req.kind.clone().unwrap_or_else(|| "reminder".into());
    if !["reminder", "call", "reply", "follow_up"].contains(&kind.as_str()) {
        errors.push("kind", "is reminder, call, reply or follow_up");
    }
    let due_at = time::OffsetDateTime::parse(req.due_at.trim(), &time::format_description::well_known::Rfc3339);
    if due_at.is_err() {
        errors.push("due_at", "is an RFC 3339 time, e.g. 2026-12-08T10:00:00+01:00");
    }
    errors.into_result(())?;
    let assignee_id = req.assignee_id.or(req.team_id.is_none().then_some(caller.user.id));
    let new = threadline_store::NewTask {
        contact_id: req.contact_id,
        kind,
        title,
        team_id: req.team_id,
        assignee_id,
        due_at: due_at.map_err(|_| ApiError::invalid("due_at", "is an RFC 3339 time"))?,
    };
    let task = state.store.create_task(caller.account_id(), &new, &caller.actor).await?;
    Ok((StatusCode::CREATED, Json(task)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskUpdate {
    pub done: bool,
}

#[utoipa::path(patch, path = "/tasks/{id}", tag = "journeys", params(("id" = TaskId, Path)), request_body = TaskUpdate,
    responses((status = 200, body = Task), (status = 404, body = ErrorBody)))]
async fn update_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<TaskId>,
    Body(req): Body<TaskUpdate>,
) -> ApiResult<Json<Task>> {
    let task = state.store.set_task_done(caller.account_id(), id, req.done, &caller.actor).await?;
    Ok(Json(task))
}
