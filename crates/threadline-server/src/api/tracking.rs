//! Tracking sources (the write keys sites and apps send events with) and a
//! contact's tracked activity. The calls themselves arrive at `/v1/…`
//! (see [`crate::tracking`]).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use threadline_domain::ids::{ContactId, CustomerEventId, TrackingSourceId};
use threadline_domain::role::Permission;
use threadline_domain::tracking::{CallKind, CustomerEvent};
use threadline_domain::validation::{ValidationErrors, bounded_text};
use threadline_store::{EventQuery, TrackingSource};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Page, Path, Query, page_limit};
use crate::app::AppState;
use crate::auth::{Caller, hash_token, new_token};
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_sources, create_source)).routes(routes!(revoke_source)).routes(routes!(contact_events))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTrackingSource {
    /// What sends with this key, e.g. "Shop website".
    pub name: String,
    /// `browser` (default: the key will be public in web pages, so an
    /// e-mail address or phone number in identify traits only enriches a
    /// customer, never identifies one) or `server` (a secret key on the
    /// business's servers: traits may identify a known customer).
    pub kind: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedTrackingSource {
    #[serde(flatten)]
    pub source: TrackingSource,
    /// The write key, shown only here: give it to the site's or app's
    /// Segment library as its write key, with Threadline's address as the host.
    pub write_key: String,
}

#[utoipa::path(get, path = "/tracking/sources", tag = "tracking", responses((status = 200, body = Vec<TrackingSource>)))]
async fn list_sources(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<TrackingSource>>> {
    caller.require(Permission::Administer)?;
    Ok(Json(state.store.tracking_sources(caller.account_id()).await?))
}

/// Creates a write key for a site or app (admins).
#[utoipa::path(post, path = "/tracking/sources", tag = "tracking", request_body = NewTrackingSource,
    responses((status = 201, body = CreatedTrackingSource), (status = 422, body = ErrorBody)))]
async fn create_source(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<NewTrackingSource>,
) -> ApiResult<(StatusCode, Json<CreatedTrackingSource>)> {
    caller.require(Permission::Administer)?;
    let mut errors = ValidationErrors::new();
    let name = bounded_text(&req.name, "name", 200, &mut errors);
    let kind = req.kind.as_deref().unwrap_or("browser");
    if !matches!(kind, "browser" | "server") {
        errors.push("kind", "must be `browser` or `server`");
    }
    errors.into_result(())?;
    let write_key = new_token("tlw_");
    let prefix: String = write_key.chars().take(10).collect();
    let source =
        state.store.create_tracking_source(caller.account_id(), &name, kind, &hash_token(&write_key), &prefix, &caller.actor).await?;
    Ok((StatusCode::CREATED, Json(CreatedTrackingSource { source, write_key })))
}

/// Revokes a write key: calls sent with it answer 401 from now on.
#[utoipa::path(delete, path = "/tracking/sources/{id}", tag = "tracking", params(("id" = TrackingSourceId, Path)),
    responses((status = 200, body = TrackingSource), (status = 404, body = ErrorBody)))]
async fn revoke_source(State(state): State<AppState>, caller: Caller, Path(id): Path<TrackingSourceId>) -> ApiResult<Json<TrackingSource>> {
    caller.require(Permission::Administer)?;
    let source = state.store.revoke_tracking_source(caller.account_id(), id, &caller.actor).await?;
    state.tracking_keys.clear();
    Ok(Json(source))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    /// Only calls of this type: `track`, `page`, `screen`, `identify`, `group`, `alias`.
    pub kind: Option<String>,
    /// Only events (or pages) of this name, e.g. `Order Completed`.
    pub name: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// What the contact did on the site or in the app, newest first.
#[utoipa::path(get, path = "/contacts/{id}/events", tag = "tracking", params(("id" = ContactId, Path), EventParams),
    responses((status = 200, body = Page<CustomerEvent>), (status = 404, body = ErrorBody)))]
async fn contact_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ContactId>,
    Query(p): Query<EventParams>,
) -> ApiResult<Json<Page<CustomerEvent>>> {
    let limit = page_limit(p.limit)?;
    let kind = match p.kind.as_deref() {
        None => None,
        Some(k) => Some(
            CallKind::parse(k).ok_or_else(|| ApiError::invalid("kind", "must be one of track, page, screen, identify, group, alias"))?,
        ),
    };
    let name = match p.name.map(|n| n.trim().to_owned()) {
        Some(n) if n.is_empty() || n.chars().count() > 255 => return Err(ApiError::invalid("name", "must be 1 to 255 characters")),
        other => other,
    };
    let before = match p.cursor.as_deref() {
        None => None,
        Some(c) => Some(c.parse::<CustomerEventId>().map_err(|_| ApiError::invalid("cursor", "is not a cursor from this list"))?),
    };
    // The contact must be the caller's (a merged one answers with its survivor).
    state.store.contact(caller.account_id(), id).await?;
    let data = state.store.customer_events(caller.account_id(), id, &EventQuery { kind, name, before, limit: limit + 1 }).await?;
    Ok(Json(paged(data, limit)))
}

fn paged(mut data: Vec<CustomerEvent>, limit: i64) -> Page<CustomerEvent> {
    let more = data.len() as i64 > limit;
    data.truncate(limit as usize);
    let next_cursor = if more { data.last().map(|e| e.id.to_string()) } else { None };
    Page { data, next_cursor }
}
