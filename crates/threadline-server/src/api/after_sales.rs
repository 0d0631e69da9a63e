//! Returns, exchanges and warranty claims (`/after-sales`): opened for a
//! customer (and one of their orders), moved along the workflow by agents,
//! the customer told at each step (see [`crate::after_sales`]).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use threadline_domain::after_sales::{RequestKind, RequestStatus};
use threadline_domain::ids::{AfterSalesId, ContactId, OrderId};
use threadline_domain::validation::{ValidationErrors, bounded_text};
use threadline_store::{AfterSalesRequest, NewAfterSales};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path, Query, page_limit};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, open)).routes(routes!(get_one)).routes(routes!(move_request))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    pub contact_id: ContactId,
    /// The order it is about (one of the customer's).
    pub order_id: Option<OrderId>,
    /// `return`, `exchange` or `warranty`.
    pub kind: RequestKind,
    /// Why, in the customer's words.
    pub reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToldRequest {
    pub request: AfterSalesRequest,
    /// Whether the customer was told of this step on their channel.
    pub customer_told: bool,
    /// Why not, when they were not (reach them another way).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_told_because: Option<String>,
}

fn told(t: crate::after_sales::Told) -> ToldRequest {
    ToldRequest { request: t.request, customer_told: t.not_told.is_none(), not_told_because: t.not_told }
}

/// Opens a return, exchange or warranty claim: a new conversation with the
/// customer (routed like any), and the customer told it was received.
#[utoipa::path(post, path = "/after-sales", tag = "orders", request_body = NewRequest,
    responses((status = 201, body = ToldRequest), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn open(State(state): State<AppState>, caller: Caller, Body(req): Body<NewRequest>) -> ApiResult<(StatusCode, Json<ToldRequest>)> {
    let mut errors = ValidationErrors::new();
    let reason = bounded_text(&req.reason, "reason", 2000, &mut errors);
    errors.into_result(())?;
    let new = NewAfterSales { contact_id: req.contact_id, order_id: req.order_id, kind: req.kind, reason };
    Ok((StatusCode::CREATED, Json(told(crate::after_sales::open(&state, &caller, new).await?))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only requests in this status.
    pub status: Option<RequestStatus>,
    /// Only this customer's.
    pub contact_id: Option<ContactId>,
    /// 1–200 (default 50).
    pub limit: Option<i64>,
}

/// Requests, most recently moved first.
#[utoipa::path(get, path = "/after-sales", tag = "orders", params(ListParams), responses((status = 200, body = Vec<AfterSalesRequest>)))]
async fn list(State(state): State<AppState>, caller: Caller, Query(p): Query<ListParams>) -> ApiResult<Json<Vec<AfterSalesRequest>>> {
    let limit = page_limit(p.limit)?;
    Ok(Json(state.store.after_sales_requests(caller.account_id(), p.status, p.contact_id, limit).await?))
}

#[utoipa::path(get, path = "/after-sales/{id}", tag = "orders", params(("id" = AfterSalesId, Path)),
    responses((status = 200, body = AfterSalesRequest), (status = 404, body = ErrorBody)))]
async fn get_one(State(state): State<AppState>, caller: Caller, Path(id): Path<AfterSalesId>) -> ApiResult<Json<AfterSalesRequest>> {
    Ok(Json(state.store.after_sales_request(caller.account_id(), id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Move {
    pub status: RequestStatus,
    /// Added to what the customer is told (e.g. the return label's link).
    pub note: Option<String>,
}

/// Moves a request along its workflow and tells the customer; 409 names
/// the moves the workflow allows from here.
#[utoipa::path(post, path = "/after-sales/{id}/status", tag = "orders", params(("id" = AfterSalesId, Path)), request_body = Move,
    responses((status = 200, body = ToldRequest), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn move_request(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<AfterSalesId>,
    Body(req): Body<Move>,
) -> ApiResult<Json<ToldRequest>> {
    let note = match req.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) if n.chars().count() > 1000 => return Err(ApiError::invalid("note", "must be at most 1000 characters")),
        other => other,
    };
    Ok(Json(told(crate::after_sales::move_to(&state, &caller, id, req.status, note).await?)))
}
