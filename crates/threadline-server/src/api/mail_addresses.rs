//! Proving an email inbox's address before mail is routed to it (see
//! `email::addresses`): a code mailed to the address and typed back, or a
//! domain the operator assigned to the account.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use threadline_domain::channel::Channel;
use threadline_domain::ids::{AccountId, InboxId};
use threadline_domain::role::Permission;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path};
use crate::app::AppState;
use crate::auth::{Caller, Operator};
use crate::email::addresses::{self, AddressProof};
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(address_proof))
        .routes(routes!(send_code))
        .routes(routes!(confirm_code))
        .routes(routes!(own_domains))
        .routes(routes!(list_domains, assign_domain))
        .routes(routes!(unassign_domain))
}

async fn email_inbox(state: &AppState, caller: &Caller, id: InboxId) -> ApiResult<threadline_store::Inbox> {
    caller.require(Permission::Administer)?;
    let inbox = state.store.inbox(caller.account_id(), id).await?;
    if inbox.channel != Channel::Email {
        return Err(ApiError::invalid("id", "only email inboxes have an address to verify"));
    }
    Ok(inbox)
}

/// Whether the inbox's address is proven (admins): mail reaches it only then.
#[utoipa::path(get, path = "/inboxes/{id}/address", tag = "inboxes", params(("id" = InboxId, Path)),
    responses((status = 200, body = AddressProof), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn address_proof(State(state): State<AppState>, caller: Caller, Path(id): Path<InboxId>) -> ApiResult<Json<AddressProof>> {
    let inbox = email_inbox(&state, &caller, id).await?;
    let proof = addresses::proof(&state, caller.account_id(), &inbox).await?;
    proof.map(Json).ok_or_else(|| ApiError::invalid("settings.address", "the inbox has no address"))
}

/// Mails a verification code to the inbox's address through the operator's
/// relay (admins). At most one a minute and five a day; a new code voids
/// the last.
#[utoipa::path(post, path = "/inboxes/{id}/address/code", tag = "inboxes", params(("id" = InboxId, Path)),
    responses((status = 202, body = AddressProof), (status = 404, body = ErrorBody),
        (status = 422, description = "no address, not verifiable here, or the server sends no mail (`system_smtp_url`)", body = ErrorBody),
        (status = 429, body = ErrorBody)))]
async fn send_code(State(state): State<AppState>, caller: Caller, Path(id): Path<InboxId>) -> ApiResult<(StatusCode, Json<AddressProof>)> {
    let inbox = email_inbox(&state, &caller, id).await?;
    let proof = addresses::send_code(&state, caller.account_id(), &inbox).await?;
    let status = if proof.status == "verified" { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((status, Json(proof)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeInput {
    /// The code from the mail.
    pub code: String,
}

/// Confirms the code from the mail; the address then receives mail (admins).
/// Five wrong tries void the code.
#[utoipa::path(post, path = "/inboxes/{id}/address/confirm", tag = "inboxes", params(("id" = InboxId, Path)), request_body = CodeInput,
    responses((status = 200, body = AddressProof), (status = 404, body = ErrorBody),
        (status = 409, description = "another inbox proved the address first", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn confirm_code(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<InboxId>,
    Body(req): Body<CodeInput>,
) -> ApiResult<Json<AddressProof>> {
    let inbox = email_inbox(&state, &caller, id).await?;
    if req.code.trim().is_empty() || req.code.len() > 32 {
        return Err(ApiError::invalid("code", "must be the code from the mail"));
    }
    Ok(Json(addresses::confirm(&state, caller.account_id(), &inbox, &req.code, &caller.actor).await?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Domains {
    /// Domains whose addresses the account's inboxes receive mail for
    /// without a code.
    pub domains: Vec<String>,
}

/// The domains the operator assigned to the caller's account.
#[utoipa::path(get, path = "/account/domains", tag = "accounts", responses((status = 200, body = Domains)))]
async fn own_domains(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Domains>> {
    caller.require(Permission::Administer)?;
    Ok(Json(Domains { domains: state.store.account_domains(caller.account_id()).await? }))
}

/// An account's assigned domains (operator token).
#[utoipa::path(get, path = "/accounts/{id}/domains", tag = "accounts", params(("id" = AccountId, Path)),
    responses((status = 200, body = Domains), (status = 401, body = ErrorBody)))]
async fn list_domains(State(state): State<AppState>, _operator: Operator, Path(id): Path<AccountId>) -> ApiResult<Json<Domains>> {
    state.store.account(id).await?;
    Ok(Json(Domains { domains: state.store.account_domains(id).await? }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainInput {
    /// e.g. `bottega-aurora.example`
    pub domain: String,
}

/// A valid domain name, lower case.
pub fn parse_domain(raw: &str) -> Result<String, ApiError> {
    let domain = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if domain.len() > 253 || !domain.contains('.') || !domain.split('.').all(label_ok) {
        return Err(ApiError::invalid("domain", "must be a domain name such as shop.example"));
    }
    Ok(domain)
}

/// Assigns a domain to an account (operator token): its inboxes receive
/// mail for addresses at it without a code. A domain has one account.
#[utoipa::path(post, path = "/accounts/{id}/domains", tag = "accounts", params(("id" = AccountId, Path)), request_body = DomainInput,
    responses((status = 201, body = Domains), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the domain is assigned to another account", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn assign_domain(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<AccountId>,
    Body(req): Body<DomainInput>,
) -> ApiResult<(StatusCode, Json<Domains>)> {
    let domain = parse_domain(&req.domain)?;
    state.store.account(id).await?;
    state.store.assign_domain(id, &domain, "operator").await?;
    state.mail_routes.clear();
    Ok((StatusCode::CREATED, Json(Domains { domains: state.store.account_domains(id).await? })))
}

/// Takes a domain back from an account (operator token).
#[utoipa::path(delete, path = "/accounts/{id}/domains/{domain}", tag = "accounts", params(("id" = AccountId, Path), ("domain" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn unassign_domain(
    State(state): State<AppState>,
    _operator: Operator,
    Path((id, domain)): Path<(AccountId, String)>,
) -> ApiResult<StatusCode> {
    state.store.unassign_domain(id, &domain.to_ascii_lowercase(), "operator").await?;
    state.mail_routes.clear();
    Ok(StatusCode::NO_CONTENT)
}
