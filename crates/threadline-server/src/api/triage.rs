//! Triage: the keyword rules administrators edit, the category model they
//! retrain from agents' labels, and a way to see how a text is read.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use threadline_domain::ids::TriageRuleId;
use threadline_domain::role::Permission;
use threadline_domain::triage::Triage;
use threadline_domain::triage::rules::KeywordRule;
use threadline_domain::validation::ValidationErrors;
use threadline_store::{StoreError, TrainingReport, TriageRule, TriageSettings};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(add_rule))
        .routes(routes!(update_rule, delete_rule))
        .routes(routes!(train, model_report))
        .routes(routes!(classify))
}

/// The account's keyword rules (in the order they are read) and the
/// model's confidence threshold.
#[utoipa::path(get, path = "/triage/settings", tag = "triage", responses((status = 200, body = TriageSettings)))]
async fn get_settings(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<TriageSettings>> {
    Ok(Json(state.store.triage_settings(caller.account_id()).await?))
}

/// A keyword rule as written (see `KeywordRule`): unknown fields are
/// refused, so a misspelt one is not silently dropped.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub name: String,
    pub keywords: Vec<String>,
    /// ISO 639-1 code; none for every language.
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub urgency: Option<threadline_domain::conversation::Priority>,
}

impl From<RuleInput> for KeywordRule {
    fn from(r: RuleInput) -> Self {
        KeywordRule { name: r.name, keywords: r.keywords, language: r.language, category: r.category, urgency: r.urgency }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    /// Replaces every rule, in this order.
    pub rules: Vec<RuleInput>,
    /// 0–1; default 0.5.
    pub min_confidence: Option<f32>,
}

fn validated(rules: Vec<KeywordRule>, field: &str) -> Result<Vec<KeywordRule>, ApiError> {
    if rules.len() > 500 {
        return Err(ApiError::invalid(field, "at most 500 rules"));
    }
    let mut errors = ValidationErrors::new();
    let mut out = Vec::with_capacity(rules.len());
    for (i, rule) in rules.into_iter().enumerate() {
        match rule.validated() {
            Ok(rule) => out.push(rule),
            Err(e) => {
                for f in e.0 {
                    errors.push(format!("{field}[{i}].{}", f.field), f.message);
                }
            }
        }
    }
    errors.into_result(out).map_err(ApiError::from)
}

/// Replaces the rules and threshold (administrators).
#[utoipa::path(put, path = "/triage/settings", tag = "triage", request_body = SettingsInput,
    responses((status = 200, body = TriageSettings), (status = 422, body = ErrorBody)))]
async fn put_settings(State(state): State<AppState>, caller: Caller, Body(req): Body<SettingsInput>) -> ApiResult<Json<TriageSettings>> {
    caller.require(Permission::Administer)?;
    let rules = validated(req.rules.into_iter().map(KeywordRule::from).collect(), "rules")?;
    if let Some(c) = req.min_confidence
        && !(0.0..=1.0).contains(&c)
    {
        return Err(ApiError::invalid("min_confidence", "is between 0 and 1"));
    }
    let (settings, ()) = state
        .store
        .update_triage_settings(caller.account_id(), &caller.actor, |s| {
            s.rules = rules.into_iter().map(|rule| TriageRule { id: TriageRuleId::new(), rule }).collect();
            if let Some(c) = req.min_confidence {
                s.min_confidence = c;
            }
            Ok(())
        })
        .await?;
    state.triage.forget(caller.account_id());
    Ok(Json(settings))
}

/// Adds a rule after the others (administrators).
#[utoipa::path(post, path = "/triage/rules", tag = "triage", request_body = RuleInput,
    responses((status = 201, body = TriageRule), (status = 422, body = ErrorBody)))]
async fn add_rule(State(state): State<AppState>, caller: Caller, Body(rule): Body<RuleInput>) -> ApiResult<(StatusCode, Json<TriageRule>)> {
    caller.require(Permission::Administer)?;
    let rule = KeywordRule::from(rule).validated()?;
    let (_, added) = state
        .store
        .update_triage_settings(caller.account_id(), &caller.actor, |s| {
            if s.rules.len() >= 500 {
                return Err(StoreError::Invalid(ValidationErrors::single("rules", "at most 500 rules")));
            }
            let added = TriageRule { id: TriageRuleId::new(), rule };
            s.rules.push(added.clone());
            Ok(added)
        })
        .await?;
    state.triage.forget(caller.account_id());
    Ok((StatusCode::CREATED, Json(added)))
}

/// Replaces one rule (administrators).
#[utoipa::path(patch, path = "/triage/rules/{id}", tag = "triage", params(("id" = TriageRuleId, Path)), request_body = RuleInput,
    responses((status = 200, body = TriageRule), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<TriageRuleId>,
    Body(rule): Body<RuleInput>,
) -> ApiResult<Json<TriageRule>> {
    caller.require(Permission::Administer)?;
    let rule = KeywordRule::from(rule).validated()?;
    let (_, updated) = state
        .store
        .update_triage_settings(caller.account_id(), &caller.actor, |s| {
            let slot = s.rules.iter_mut().find(|r| r.id == id).ok_or(StoreError::NotFound)?;
            slot.rule = rule;
            Ok(slot.clone())
        })
        .await?;
    state.triage.forget(caller.account_id());
    Ok(Json(updated))
}

/// Removes one rule (administrators).
#[utoipa::path(delete, path = "/triage/rules/{id}", tag = "triage", params(("id" = TriageRuleId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_rule(State(state): State<AppState>, caller: Caller, Path(id): Path<TriageRuleId>) -> ApiResult<StatusCode> {
    caller.require(Permission::Administer)?;
    state
        .store
        .update_triage_settings(caller.account_id(), &caller.actor, |s| {
            let before = s.rules.len();
            s.rules.retain(|r| r.id != id);
            if s.rules.len() == before { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await?;
    state.triage.forget(caller.account_id());
    Ok(StatusCode::NO_CONTENT)
}

/// Trains the category model again from the categories agents gave
/// resolved conversations (administrators); the report says how many it
/// learnt from and how accurate it was on a held-out fifth. New messages
/// are read with it at once.
#[utoipa::path(post, path = "/triage/model", tag = "triage",
    responses((status = 201, body = TrainingReport), (status = 422, body = ErrorBody)))]
async fn train(State(state): State<AppState>, caller: Caller) -> ApiResult<(StatusCode, Json<TrainingReport>)> {
    caller.require(Permission::Administer)?;
    let report = crate::triage::train(&state.store, caller.account_id()).await.map_err(|e| match e {
        crate::triage::TrainingError::Store(e) => ApiError::from(e),
        crate::triage::TrainingError::TooFew(message) => ApiError::Refused { code: "too_few_examples", message },
    })?;
    state.triage.forget(caller.account_id());
    Ok((StatusCode::CREATED, Json(report)))
}

/// How the current model was trained.
#[utoipa::path(get, path = "/triage/model", tag = "triage", responses((status = 200, body = TrainingReport), (status = 404, body = ErrorBody)))]
async fn model_report(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<TrainingReport>> {
    let (_, report) = state.store.triage_model(caller.account_id()).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(report))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRequest {
    pub text: String,
}

/// How a message would be read now, with the reason for each label.
#[utoipa::path(post, path = "/triage/classify", tag = "triage", request_body = ClassifyRequest,
    responses((status = 200, body = Triage), (status = 422, body = ErrorBody)))]
async fn classify(State(state): State<AppState>, caller: Caller, Body(req): Body<ClassifyRequest>) -> ApiResult<Json<Triage>> {
    if req.text.trim().is_empty() || req.text.chars().count() > 20_000 {
        return Err(ApiError::invalid("text", "must be 1 to 20,000 characters"));
    }
    let triager = state.triage.triager(&state.store, caller.account_id()).await?;
    Ok(Json(triager.triage(&req.text)))
}
