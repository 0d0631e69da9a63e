//! API tokens: created for a user, shown once, stored hashed.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use threadline_domain::ids::{ApiTokenId, UserId};
use threadline_domain::role::{Permission, Scope};
use threadline_domain::validation::{ValidationErrors, bounded_text};
use threadline_store::ApiToken;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path};
use crate::app::AppState;
use crate::auth::{Caller, hash_token, new_token};
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_tokens, create_token)).routes(routes!(revoke_token))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    /// The user the token acts as (default: the caller). Its role applies.
    pub user_id: Option<UserId>,
    /// What it may do: `api` (act as its user; the default) and
    /// `integration` (post customers' messages into API-channel inboxes and
    /// report delivery of replies).
    #[serde(default)]
    pub scopes: Option<Vec<Scope>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: ApiToken,
    /// The secret. Shown only in this response.
    pub secret: String,
}

#[utoipa::path(get, path = "/api-tokens", tag = "api tokens", responses((status = 200, body = Vec<ApiToken>)))]
async fn list_tokens(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<ApiToken>>> {
    caller.require(Permission::Administer)?;
    Ok(Json(state.store.api_tokens(caller.account_id()).await?))
}

/// Creates an API token (admins). The secret is in the response only.
#[utoipa::path(post, path = "/api-tokens", tag = "api tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 422, body = ErrorBody)))]
async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<NewToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    caller.require(Permission::Administer)?;
    let mut errors = ValidationErrors::new();
    let name = bounded_text(&req.name, "name", 200, &mut errors);
    errors.into_result(())?;
    let user = match req.user_id {
        Some(id) => match state.store.user(caller.account_id(), id).await {
            Err(threadline_store::StoreError::NotFound) => return Err(ApiError::invalid("user_id", "is not a user of this account")),
            found => found?,
        },
        None => caller.user.clone(),
    };
    let scopes = req.scopes.unwrap_or_else(|| vec![Scope::Api]);
    if scopes.is_empty() {
        return Err(ApiError::invalid("scopes", "must name at least one scope"));
    }
    let secret = new_token("tl_");
    let token = state.store.create_api_token(&user, &name, &hash_token(&secret), &secret[..10], &scopes, &caller.actor).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, secret })))
}

#[utoipa::path(delete, path = "/api-tokens/{id}", tag = "api tokens", params(("id" = ApiTokenId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_token(State(state): State<AppState>, caller: Caller, Path(id): Path<ApiTokenId>) -> ApiResult<StatusCode> {
    caller.require(Permission::Administer)?;
    state.store.revoke_api_token(caller.account_id(), id, &caller.actor).await?;
    state.invalidate_caches();
    Ok(StatusCode::NO_CONTENT)
}
