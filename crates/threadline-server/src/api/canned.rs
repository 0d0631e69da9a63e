//! Canned responses: answers agents reuse, with variables filled in for the
//! conversation (`{{contact.first_name}}`, `{{agent.name}}`…). Everyone reads
//! them; supervisors and admins write them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use threadline_domain::canned::{VARIABLES, unknown_variable};
use threadline_domain::ids::CannedResponseId;
use threadline_domain::role::Permission;
use threadline_domain::validation::ValidationErrors;
use threadline_store::CannedResponse;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_canned, save_canned)).routes(routes!(delete_canned))
}

#[utoipa::path(get, path = "/canned-responses", tag = "canned responses", responses((status = 200, body = Vec<CannedResponse>)))]
async fn list_canned(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<CannedResponse>>> {
    Ok(Json(state.store.canned_responses(caller.account_id()).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedRequest {
    /// 1–64 lower-case letters, digits, `-` or `_`; saving the same shortcut again replaces it.
    pub shortcut: String,
    pub title: String,
    /// Up to 10,000 characters; variables: `{{contact.name}}`, `{{contact.first_name}}`,
    /// `{{agent.name}}`, `{{agent.first_name}}`.
    pub body: String,
}

/// Saves a canned response (supervisors and admins).
#[utoipa::path(post, path = "/canned-responses", tag = "canned responses", request_body = CannedRequest,
    responses((status = 201, body = CannedResponse), (status = 422, body = ErrorBody)))]
async fn save_canned(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<CannedRequest>,
) -> ApiResult<(StatusCode, Json<CannedResponse>)> {
    caller.require(Permission::ManageTeams)?;
    let mut errors = ValidationErrors::new();
    let shortcut = req.shortcut.trim();
    if shortcut.is_empty()
        || shortcut.len() > 64
        || !shortcut.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        errors.push("shortcut", "must be 1–64 lower-case letters, digits, `-` or `_`");
    }
    let title = req.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        errors.push("title", "must be 1–200 characters");
    }
    let body = req.body.trim();
    if body.is_empty() || body.chars().count() > 10_000 {
        errors.push("body", "must be 1–10,000 characters");
    } else if let Some(unknown) = unknown_variable(body) {
        errors.push("body", format!("unknown variable `{{{{{unknown}}}}}`; known: {}", VARIABLES.join(", ")));
    }
    errors.into_result(())?;
    let saved = state.store.save_canned_response(caller.account_id(), shortcut, title, body).await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Removes a canned response (supervisors and admins).
#[utoipa::path(delete, path = "/canned-responses/{id}", tag = "canned responses", params(("id" = CannedResponseId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_canned(State(state): State<AppState>, caller: Caller, Path(id): Path<CannedResponseId>) -> ApiResult<StatusCode> {
    caller.require(Permission::ManageTeams)?;
    state.store.delete_canned_response(caller.account_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
