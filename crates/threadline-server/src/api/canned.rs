//! Canned responses: answers agents reuse, with variables filled in for the
//! conversation (`{{contact.first_name}}`, `{{agent.name}}`…). Everyone reads
//! them; supervisors and admins write them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use std::collections::BTreeMap;

use threadline_domain::canned::{VARIABLES, WhatsappMapping, unknown_variable};
use threadline_domain::ids::{CannedResponseId, ConversationId};
use threadline_domain::role::Permission;
use threadline_domain::validation::ValidationErrors;
use threadline_store::{CannedResponse, NewCanned};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path, Query};
use crate::app::AppState;
use crate::auth::Caller;
use crate::channels::render::Rendering;
use crate::error::{ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_canned, save_canned)).routes(routes!(delete_canned)).routes(routes!(preview_canned))
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
    /// `{{agent.name}}`, `{{agent.first_name}}`. The default text, for
    /// customers whose language has no translation.
    pub body: String,
    /// The text in other languages: language tag (`it`, `en-GB`) → text, same variables.
    #[serde(default)]
    pub translations: BTreeMap<String, String>,
    /// The approved WhatsApp template sent instead outside the 24 hours,
    /// and the variables that fill its `{{1}}`, `{{2}}`…
    #[serde(default)]
    pub whatsapp_template: Option<WhatsappMapping>,
}

fn check_text(field: &str, text: &str, errors: &mut ValidationErrors) {
    if text.is_empty() || text.chars().count() > 10_000 {
        errors.push(field, "must be 1–10,000 characters");
    } else if let Some(unknown) = unknown_variable(text) {
        errors.push(field, format!("unknown variable `{{{{{unknown}}}}}`; known: {}", VARIABLES.join(", ")));
    }
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
    check_text("body", body, &mut errors);
    let mut translations = BTreeMap::new();
    if req.translations.len() > 20 {
        errors.push("translations", "at most 20 languages");
    }
    for (tag, text) in &req.translations {
        let field = format!("translations.{tag}");
        if tag.is_empty() || tag.len() > 35 || !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            errors.push(&field, "a language tag such as `it` or `en-GB`");
        }
        check_text(&field, text.trim(), &mut errors);
        translations.insert(tag.clone(), text.trim().to_owned());
    }
    // A form's empty fields: no mapping.
    let whatsapp_template = req
        .whatsapp_template
        .map(|m| WhatsappMapping { name: m.name.trim().to_owned(), variables: m.variables.iter().map(|v| v.trim().to_owned()).collect() })
        .filter(|m| !(m.name.is_empty() && m.variables.is_empty()));
    if let Some(mapping) = &whatsapp_template {
        let name = mapping.name.trim();
        if name.is_empty() || name.len() > 512 {
            errors.push("whatsapp_template.name", "the approved template's name, 1–512 characters");
        }
        if let Some(unknown) = mapping.variables.iter().find(|v| !VARIABLES.contains(&v.as_str())) {
            errors.push("whatsapp_template.variables", format!("unknown variable `{unknown}`; known: {}", VARIABLES.join(", ")));
        }
    }
    errors.into_result(())?;
    let new = NewCanned { shortcut, title, body, translations: &translations, whatsapp_template: whatsapp_template.as_ref() };
    let saved = state.store.save_canned_response(caller.account_id(), new).await?;
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PreviewParams {
    /// Render for this conversation's customer: their language, name and
    /// the channels that can reach them now.
    pub conversation_id: Option<ConversationId>,
    /// A language instead of the customer's (`it`, `en-GB`).
    pub language: Option<String>,
}

/// A canned response as each channel would carry it: email as HTML under
/// the inbox's signature, SMS with its segments (GSM-7 or UCS-2),
/// WhatsApp as text inside the 24 hours or its mapped template outside.
#[utoipa::path(get, path = "/canned-responses/{id}/preview", tag = "canned responses", params(("id" = CannedResponseId, Path), PreviewParams),
    responses((status = 200, body = Rendering), (status = 404, body = ErrorBody)))]
async fn preview_canned(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CannedResponseId>,
    Query(p): Query<PreviewParams>,
) -> ApiResult<Json<Rendering>> {
    let account_id = caller.account_id();
    let canned = state.store.canned_response(account_id, id).await?;
    Ok(Json(preview(&state, account_id, &canned, p.conversation_id, p.language.as_deref(), &caller.user.name).await?))
}

/// The rendering for a conversation's customer, or without one.
pub async fn preview(
    state: &AppState,
    account_id: threadline_domain::ids::AccountId,
    canned: &CannedResponse,
    conversation_id: Option<ConversationId>,
    language: Option<&str>,
    agent_name: &str,
) -> ApiResult<Rendering> {
    let inboxes = state.store.inboxes(account_id).await?;
    let now = state.clock.now();
    let context = match conversation_id {
        Some(id) => Some(crate::channels::reply::ReplyContext::load(state, account_id, id).await?),
        None => None,
    };
    let contact_name = context.as_ref().and_then(|c| c.contact.name.clone());
    let language = language.map(str::to_owned).or_else(|| context.as_ref().and_then(|c| c.contact.language.clone()));
    let latest = match &context {
        Some(c) => state.store.contact_orders(account_id, c.contact.id, 1).await?,
        None => Vec::new(),
    };
    let values = threadline_domain::canned::Values {
        contact_name: contact_name.as_deref(),
        agent_name,
        order: latest.first().map(|o| &o.facts),
        language: language.as_deref(),
    };
    Ok(crate::channels::render::render(canned, language.as_deref(), &values, context.as_ref(), &inboxes, now))
}
