//! The audit log and the event feed.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use threadline_domain::event::DomainEvent;
use threadline_domain::ids::{AuditEntryId, EventId};
use threadline_domain::role::Permission;
use threadline_store::AuditEntry;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Page, Query, page_limit};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_log)).routes(routes!(verify_audit_log)).routes(routes!(events))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only entries about this subject (a contact id, a conversation id…).
    pub subject_id: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Who did what, newest first (supervisors).
#[utoipa::path(get, path = "/audit-log", tag = "audit", params(AuditParams), responses((status = 200, body = Page<AuditEntry>)))]
async fn audit_log(State(state): State<AppState>, caller: Caller, Query(p): Query<AuditParams>) -> ApiResult<Json<Page<AuditEntry>>> {
    caller.require(Permission::SuperviseContacts)?;
    let limit = page_limit(p.limit)?;
    let before = match p.cursor.as_deref() {
        None => None,
        Some(c) => Some(c.parse::<AuditEntryId>().map_err(|_| ApiError::invalid("cursor", "is not a cursor from this list"))?),
    };
    let entries = state.store.audit_log(caller.account_id(), p.subject_id.as_deref(), before, limit).await?;
    let next_cursor = (entries.len() as i64 == limit).then(|| entries.last().map(|e| e.id.to_string())).flatten();
    Ok(Json(Page { data: entries, next_cursor }))
}

/// What checking the audit log's hash chain found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditVerification {
    /// Every entry matches its hash and links to the one before it.
    pub intact: bool,
    pub entries: u64,
    /// The oldest entry's number (above 1 when retention removed older ones).
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    /// Where the chain breaks, when it does.
    pub problem: Option<String>,
}

/// Checks the account's audit log (administrators): every entry's hash, and
/// that each links to the one before it (`threadline audit verify` does the
/// same from the command line).
#[utoipa::path(get, path = "/audit-log/verify", tag = "audit", responses((status = 200, body = AuditVerification)))]
async fn verify_audit_log(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<AuditVerification>> {
    caller.require(Permission::Administer)?;
    Ok(Json(match state.store.verify_audit_chain(caller.account_id()).await? {
        Ok(report) => AuditVerification {
            intact: true,
            entries: report.entries,
            first_seq: report.first_seq,
            last_seq: report.last_seq,
            problem: None,
        },
        Err(broken) => AuditVerification { intact: false, entries: 0, first_seq: None, last_seq: None, problem: Some(broken.to_string()) },
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    /// Events after this event id (oldest first).
    pub after: Option<EventId>,
    pub limit: Option<i64>,
}

/// Domain events in order, to catch up after being away.
#[utoipa::path(get, path = "/events", tag = "audit", params(EventParams), responses((status = 200, body = Page<DomainEvent>)))]
async fn events(State(state): State<AppState>, caller: Caller, Query(p): Query<EventParams>) -> ApiResult<Json<Page<DomainEvent>>> {
    let limit = page_limit(p.limit)?;
    let events = state.store.events_after(caller.account_id(), p.after, limit).await?;
    let next_cursor = (events.len() as i64 == limit).then(|| events.last().map(|e| e.id.to_string())).flatten();
    Ok(Json(Page { data: events, next_cursor }))
}
