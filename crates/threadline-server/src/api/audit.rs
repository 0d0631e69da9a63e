//! The audit log and the event feed.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
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
    OpenApiRouter::new().routes(routes!(audit_log)).routes(routes!(events))
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
