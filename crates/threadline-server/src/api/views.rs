//! Saved inbox views: each agent keeps their own named filter sets, shown
//! above the inbox (`/me/views`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use threadline_domain::ids::SavedViewId;
use threadline_domain::validation::ValidationErrors;
use threadline_store::SavedView;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Path};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};

/// The inbox filters a view may hold, in the order a saved query lists them.
pub const VIEW_FILTERS: [&str; 8] = ["q", "status", "assignee", "channel", "inbox", "team", "label", "priority"];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_views, save_view)).routes(routes!(delete_view))
}

#[utoipa::path(get, path = "/me/views", tag = "users", responses((status = 200, body = Vec<SavedView>)))]
async fn list_views(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<SavedView>>> {
    Ok(Json(state.store.saved_views(caller.account_id(), caller.user.id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewRequest {
    /// 1–80 characters; saving a name again replaces its filters.
    pub name: String,
    /// The inbox's filters as a URL query (`status=open&assignee=mine`), with
    /// or without the leading `?`. Keys: q, status, assignee, channel, inbox,
    /// team, label, priority; empty values are dropped.
    pub query: String,
}

/// A view's query with only the known filters, each once, in a fixed order;
/// or what is wrong with it.
pub fn normalize_query(raw: &str) -> Result<String, String> {
    let raw = raw.trim().trim_start_matches('?');
    if raw.len() > 2000 {
        return Err("must be at most 2,000 characters".into());
    }
    let mut values: [Option<String>; VIEW_FILTERS.len()] = Default::default();
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        let Some(slot) = VIEW_FILTERS.iter().position(|k| *k == key) else {
            return Err(format!("`{key}` is not an inbox filter; filters: {}", VIEW_FILTERS.join(", ")));
        };
        let value = value.trim();
        if !value.is_empty() {
            values[slot] = Some(value.to_owned());
        }
    }
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in VIEW_FILTERS.iter().zip(&values) {
        if let Some(value) = value {
            out.append_pair(key, value);
        }
    }
    Ok(out.finish())
}

/// Saves an inbox view for the caller (at most 50).
#[utoipa::path(post, path = "/me/views", tag = "users", request_body = ViewRequest,
    responses((status = 201, body = SavedView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn save_view(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<ViewRequest>,
) -> ApiResult<(StatusCode, Json<SavedView>)> {
    let mut errors = ValidationErrors::new();
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        errors.push("name", "must be 1–80 characters");
    }
    let query = normalize_query(&req.query).unwrap_or_else(|message| {
        errors.push("query", message);
        String::new()
    });
    errors.into_result(())?;
    let saved = state.store.save_view(caller.account_id(), caller.user.id, name, &query).await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Deletes one of the caller's views.
#[utoipa::path(delete, path = "/me/views/{id}", tag = "users", params(("id" = SavedViewId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_view(State(state): State<AppState>, caller: Caller, Path(id): Path<SavedViewId>) -> ApiResult<StatusCode> {
    state.store.delete_view(caller.account_id(), caller.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::normalize_query;

    #[test]
    fn queries_keep_known_filters_in_order() {
        assert_eq!(normalize_query("?priority=urgent&status=open&label=").unwrap(), "status=open&priority=urgent");
        assert_eq!(normalize_query("q=pacco+A-1042&assignee=mine").unwrap(), "q=pacco+A-1042&assignee=mine");
        assert_eq!(normalize_query("").unwrap(), "");
        assert!(normalize_query("status=open&sort=asc").unwrap_err().contains("`sort`"));
    }
}
