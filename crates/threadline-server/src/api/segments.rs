//! Segments: saved conditions over customers, with their live member
//! lists (supervisors and administrators define them; everyone reads).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use threadline_domain::ids::{ContactId, SegmentId};
use threadline_domain::role::Permission;
use threadline_domain::segment::SegmentSpec;
use threadline_domain::validation::{ValidationErrors, bounded_text};
use threadline_store::{Segment, SegmentMember};
use time::OffsetDateTime;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path, Query, page_limit};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_segments, create_segment))
        .routes(routes!(get_segment, update_segment, delete_segment))
        .routes(routes!(list_members))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSegment {
    pub name: String,
    pub spec: SegmentSpec,
}

fn check(name: &str, spec: &SegmentSpec) -> ApiResult<String> {
    let mut errors = ValidationErrors::new();
    let name = bounded_text(name, "name", 200, &mut errors);
    if let Err(spec_errors) = spec.validate() {
        for mut e in spec_errors.0 {
            e.field = format!("spec.{}", e.field);
            errors.0.push(e);
        }
    }
    errors.into_result(())?;
    Ok(name)
}

#[utoipa::path(get, path = "/segments", tag = "segments", responses((status = 200, body = Vec<Segment>)))]
async fn list_segments(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Segment>>> {
    Ok(Json(state.store.segments(caller.account_id()).await?))
}

/// Creates a segment; its member list fills within moments (a sweep over
/// every customer starts at once) and then follows the customers.
#[utoipa::path(post, path = "/segments", tag = "segments", request_body = NewSegment,
    responses((status = 201, body = Segment), (status = 422, body = ErrorBody)))]
async fn create_segment(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<NewSegment>,
) -> ApiResult<(StatusCode, Json<Segment>)> {
    caller.require(Permission::SuperviseContacts)?;
    let name = check(&req.name, &req.spec)?;
    let segment = state.store.create_segment(caller.account_id(), &name, &req.spec, &caller.actor).await?;
    state.engagement_active.clear();
    Ok((StatusCode::CREATED, Json(segment)))
}

#[utoipa::path(get, path = "/segments/{id}", tag = "segments", params(("id" = SegmentId, Path)),
    responses((status = 200, body = Segment), (status = 404, body = ErrorBody)))]
async fn get_segment(State(state): State<AppState>, caller: Caller, Path(id): Path<SegmentId>) -> ApiResult<Json<Segment>> {
    Ok(Json(state.store.segment(caller.account_id(), id).await?))
}

/// Renames or redefines it; every customer is looked at again at once, and
/// members who no longer qualify leave (with `segment.exited` events).
#[utoipa::path(put, path = "/segments/{id}", tag = "segments", params(("id" = SegmentId, Path)), request_body = NewSegment,
    responses((status = 200, body = Segment), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_segment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<SegmentId>,
    Body(req): Body<NewSegment>,
) -> ApiResult<Json<Segment>> {
    caller.require(Permission::SuperviseContacts)?;
    let name = check(&req.name, &req.spec)?;
    Ok(Json(state.store.update_segment(caller.account_id(), id, &name, &req.spec, &caller.actor).await?))
}

/// Deletes it; refused while a journey that is live or paused starts on it.
#[utoipa::path(delete, path = "/segments/{id}", tag = "segments", params(("id" = SegmentId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_segment(State(state): State<AppState>, caller: Caller, Path(id): Path<SegmentId>) -> ApiResult<StatusCode> {
    caller.require(Permission::SuperviseContacts)?;
    let account_id = caller.account_id();
    state.store.segment(account_id, id).await?;
    for journey in state.store.journeys(account_id).await? {
        if !matches!(journey.status.as_str(), "live" | "paused") {
            continue;
        }
        let spec = state.store.journey_spec(account_id, journey.id, journey.live_version).await?;
        if matches!(spec.trigger, threadline_domain::journey::Trigger::Segment { segment_id, .. } if segment_id == id) {
            return Err(ApiError::Conflict(format!("the journey “{}” starts on this segment; stop it first", journey.name)));
        }
    }
    state.store.delete_segment(account_id, id, &caller.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MemberParams {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// At most this many (default 50, at most 200).
    pub limit: Option<i64>,
}

/// A page of members, like every list in the API, with the segment's count.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberPage {
    pub data: Vec<SegmentMember>,
    /// How many are in the segment now.
    pub total: i64,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Who is in the segment now, the most recent to enter first.
#[utoipa::path(get, path = "/segments/{id}/members", tag = "segments", params(("id" = SegmentId, Path), MemberParams),
    responses((status = 200, body = MemberPage), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<SegmentId>,
    Query(p): Query<MemberParams>,
) -> ApiResult<Json<MemberPage>> {
    let segment = state.store.segment(caller.account_id(), id).await?;
    let limit = page_limit(p.limit)?;
    let before = match p.cursor.as_deref() {
        None => None,
        Some(cursor) => Some(parse_cursor(cursor).ok_or_else(|| ApiError::invalid("cursor", "not a cursor this list gave"))?),
    };
    let members = state.store.segment_members(caller.account_id(), id, before, limit).await?;
    let next_cursor = (members.len() as i64 == limit)
        .then(|| members.last().map(|m| format!("{}_{}", m.entered_at.unix_timestamp_nanos() / 1000, m.contact_id)))
        .flatten();
    Ok(Json(MemberPage { data: members, total: segment.members, next_cursor }))
}

fn parse_cursor(cursor: &str) -> Option<(OffsetDateTime, ContactId)> {
    let (micros, contact) = cursor.split_once('_')?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros.parse::<i64>().ok()?) * 1000).ok()?;
    Some((at, contact.parse().ok()?))
}
