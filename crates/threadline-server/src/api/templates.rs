//! Message templates: the approved messages that may be sent outside a
//! channel's customer-service window (WhatsApp). Register the templates
//! approved in the provider's manager here, under the same name and
//! language; agents then send them with their variables filled in.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use threadline_channels::adapter_for;
use threadline_domain::channel::Channel;
use threadline_domain::ids::TemplateId;
use threadline_domain::role::Permission;
use threadline_domain::template::count_variables;
use threadline_domain::validation::ValidationErrors;
use threadline_store::{MessageTemplate, NewTemplate};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path, Query};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_templates, create_template)).routes(routes!(get_template, delete_template))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TemplateListParams {
    pub channel: Option<Channel>,
}

/// Registered templates, by channel, name and language.
#[utoipa::path(get, path = "/templates", tag = "templates", params(TemplateListParams),
    responses((status = 200, body = Vec<MessageTemplate>)))]
async fn list_templates(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<TemplateListParams>,
) -> ApiResult<Json<Vec<MessageTemplate>>> {
    Ok(Json(state.store.templates(caller.account_id(), p.channel).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTemplateRequest {
    pub channel: Channel,
    /// The name approved at the provider: lower-case letters, digits, `_`.
    pub name: String,
    /// The provider's language code, e.g. `it`, `en_US`.
    pub language: String,
    /// `utility` (default), `marketing` or `authentication`.
    pub category: Option<String>,
    /// The approved text, with `{{1}}`, `{{2}}`… for the variables.
    pub body: String,
}

/// Registers an approved template (admins).
#[utoipa::path(post, path = "/templates", tag = "templates", request_body = NewTemplateRequest,
    responses((status = 201, body = MessageTemplate), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_template(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<NewTemplateRequest>,
) -> ApiResult<(StatusCode, Json<MessageTemplate>)> {
    caller.require(Permission::Administer)?;
    let mut errors = ValidationErrors::new();
    if !adapter_for(req.channel).is_some_and(|a| a.capabilities().templates) {
        errors.push("channel", format!("{} has no message templates", req.channel));
    }
    let name = req.name.trim();
    if name.is_empty() || name.len() > 512 || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        errors.push("name", "must be 1–512 lower-case letters, digits or `_`, as approved at the provider");
    }
    let language = req.language.trim();
    if language.len() < 2 || language.len() > 15 || !language.chars().all(|c| c.is_ascii_alphabetic() || c == '_' || c == '-') {
        errors.push("language", "must be a language code such as `it` or `en_US`");
    }
    let category = req.category.as_deref().unwrap_or("utility").trim().to_lowercase();
    if !["utility", "marketing", "authentication"].contains(&category.as_str()) {
        errors.push("category", "must be utility, marketing or authentication");
    }
    let body = req.body.trim();
    let variables = if body.is_empty() || body.chars().count() > 1024 {
        errors.push("body", "must be 1–1024 characters");
        0
    } else {
        count_variables(body).unwrap_or_else(|e| {
            errors.push("body", e);
            0
        })
    };
    errors.into_result(())?;
    let template = state
        .store
        .create_template(
            caller.account_id(),
            NewTemplate {
                channel: req.channel,
                name: name.to_owned(),
                language: language.to_owned(),
                category,
                body: body.to_owned(),
                variables: variables as i64,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(template)))
}

#[utoipa::path(get, path = "/templates/{id}", tag = "templates", params(("id" = TemplateId, Path)),
    responses((status = 200, body = MessageTemplate), (status = 404, body = ErrorBody)))]
async fn get_template(State(state): State<AppState>, caller: Caller, Path(id): Path<TemplateId>) -> ApiResult<Json<MessageTemplate>> {
    Ok(Json(state.store.template(caller.account_id(), id).await?))
}

/// Removes a template (admins). Messages already sent with it keep their text.
#[utoipa::path(delete, path = "/templates/{id}", tag = "templates", params(("id" = TemplateId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_template(State(state): State<AppState>, caller: Caller, Path(id): Path<TemplateId>) -> ApiResult<StatusCode> {
    caller.require(Permission::Administer)?;
    state.store.delete_template(caller.account_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
