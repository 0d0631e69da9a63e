//! Contacts: the unified customer record, its identities, consents and
//! timeline; merging and duplicate suggestions.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use threadline_domain::channel::Channel;
use threadline_domain::contact::{Contact, MAX_NAME_CHARS, parse_language, parse_topic};
use threadline_domain::identity::Region;
use threadline_domain::ids::{ContactId, ConversationId, IdentityId};
use threadline_domain::interaction::{Interaction, InteractionKind};
use threadline_domain::role::Permission;
use threadline_domain::timeline::{TimelineCursor, TimelineEntry, TimelineFilter};
use threadline_domain::validation::{ValidationErrors, bounded_text};
use threadline_store::{ConsentChange, ContactChanges, ContactQuery, DuplicateSuggestion, JsonMap, NewContact, NewInteraction};
use time::OffsetDateTime;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::inboxes::{IdentityInput, parse_identities};
use super::{Body, Page, Path, Query, page_limit};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_contacts, create_contact))
        .routes(routes!(duplicates))
        .routes(routes!(duplicates_of))
        .routes(routes!(get_contact, update_contact))
        .routes(routes!(link_identity))
        .routes(routes!(unlink_identity))
        .routes(routes!(set_consents))
        .routes(routes!(merge))
        .routes(routes!(timeline))
        .routes(routes!(record_interaction))
}

async fn region(state: &AppState, caller: &Caller) -> ApiResult<Region> {
    let account = state.store.account(caller.account_id()).await?;
    Ok(Region::parse(&account.default_region).unwrap_or_default())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ContactListParams {
    /// Matches names and identity values (case-insensitive substring).
    pub q: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/contacts", tag = "contacts", params(ContactListParams), responses((status = 200, body = Page<Contact>)))]
async fn list_contacts(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<ContactListParams>,
) -> ApiResult<Json<Page<Contact>>> {
    let limit = page_limit(p.limit)?;
    let after = match p.cursor.as_deref() {
        None => None,
        Some(c) => Some(c.parse::<ContactId>().map_err(|_| ApiError::invalid("cursor", "is not a cursor from this list"))?),
    };
    let search = super::search_text(p.q)?;
    if search.as_ref().is_some_and(|q| q.len() > 200) {
        return Err(ApiError::invalid("q", "must be at most 200 characters"));
    }
    let contacts = state.store.contacts(caller.account_id(), &ContactQuery { search, after, limit }).await?;
    let next_cursor = (contacts.len() as i64 == limit).then(|| contacts.last().map(|c| c.id.to_string())).flatten();
    Ok(Json(Page { data: contacts, next_cursor }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContactRequest {
    pub name: Option<String>,
    pub language: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: JsonMap,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_attributes: JsonMap,
    #[serde(default)]
    pub preferred_channels: BTreeMap<String, Channel>,
    #[serde(default)]
    pub identities: Vec<IdentityInput>,
}

fn check_attributes(map: &JsonMap, field: &str, errors: &mut ValidationErrors) {
    if map.len() > 200 {
        errors.push(field, "at most 200 attributes");
    }
    if serde_json::to_vec(map).map(|v| v.len()).unwrap_or(0) > 64 * 1024 {
        errors.push(field, "at most 64 KiB of attributes");
    }
    for key in map.keys() {
        if key.is_empty() || key.len() > 100 {
            errors.push(format!("{field}.{key}"), "attribute names must be 1 to 100 characters");
        }
    }
}

fn check_preferences(prefs: &BTreeMap<String, Channel>, errors: &mut ValidationErrors) -> BTreeMap<String, Channel> {
    let mut out = BTreeMap::new();
    for (topic, channel) in prefs {
        match parse_topic(topic) {
            Some(t) => {
                out.insert(t, *channel);
            }
            None => errors.push(format!("preferred_channels.{topic}"), "topics are 1 to 64 letters, digits, - or _"),
        }
    }
    out
}

fn check_language(raw: Option<&str>, errors: &mut ValidationErrors) -> Option<String> {
    raw.and_then(|l| {
        let parsed = parse_language(l);
        if parsed.is_none() {
            errors.push("language", "must be a language tag such as it or en-GB");
        }
        parsed
    })
}

#[utoipa::path(post, path = "/contacts", tag = "contacts", request_body = NewContactRequest,
    responses((status = 201, body = Contact), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_contact(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<NewContactRequest>,
) -> ApiResult<(StatusCode, Json<Contact>)> {
    let region = region(&state, &caller).await?;
    let mut errors = ValidationErrors::new();
    let name = req.name.as_deref().map(|n| bounded_text(n, "name", MAX_NAME_CHARS, &mut errors));
    let language = check_language(req.language.as_deref(), &mut errors);
    check_attributes(&req.attributes, "attributes", &mut errors);
    check_attributes(&req.custom_attributes, "custom_attributes", &mut errors);
    let preferred_channels = check_preferences(&req.preferred_channels, &mut errors);
    let identities = parse_identities(&req.identities, region, "identities", &mut errors);
    errors.into_result(())?;
    let new =
        NewContact { name, language, attributes: req.attributes, custom_attributes: req.custom_attributes, preferred_channels, identities };
    let contact = state.store.create_contact(caller.account_id(), new, &caller.actor).await?;
    Ok((StatusCode::CREATED, Json(contact)))
}

#[utoipa::path(get, path = "/contacts/{id}", tag = "contacts", params(("id" = ContactId, Path)),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)))]
async fn get_contact(State(state): State<AppState>, caller: Caller, Path(id): Path<ContactId>) -> ApiResult<Json<Contact>> {
    Ok(Json(state.store.contact(caller.account_id(), id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactUpdate {
    pub name: Option<String>,
    pub language: Option<String>,
    /// Merged key by key; a key set to null is removed.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<JsonMap>,
    #[schema(value_type = Option<Object>)]
    pub custom_attributes: Option<JsonMap>,
    pub preferred_channels: Option<BTreeMap<String, Channel>>,
}

#[utoipa::path(patch, path = "/contacts/{id}", tag = "contacts", params(("id" = ContactId, Path)), request_body = ContactUpdate,
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_contact(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ContactId>,
    Body(req): Body<ContactUpdate>,
) -> ApiResult<Json<Contact>> {
    let mut errors = ValidationErrors::new();
    let name = req.name.as_deref().map(|n| bounded_text(n, "name", MAX_NAME_CHARS, &mut errors));
    let language = check_language(req.language.as_deref(), &mut errors);
    if let Some(a) = &req.attributes {
        check_attributes(a, "attributes", &mut errors);
    }
    if let Some(a) = &req.custom_attributes {
        check_attributes(a, "custom_attributes", &mut errors);
    }
    let preferred_channels = req.preferred_channels.as_ref().map(|p| check_preferences(p, &mut errors));
    errors.into_result(())?;
    let changes =
        ContactChanges { name, language, attributes: req.attributes, custom_attributes: req.custom_attributes, preferred_channels };
    let contact = state.store.update_contact(caller.account_id(), id, changes).await?;
    Ok(Json(contact))
}

/// Links an identity to the contact. If another contact already has it, the
/// answer is 409 naming that contact: merge them instead.
#[utoipa::path(post, path = "/contacts/{id}/identities", tag = "contacts", params(("id" = ContactId, Path)), request_body = IdentityInput,
    responses((status = 200, body = Contact), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn link_identity(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ContactId>,
    Body(req): Body<IdentityInput>,
) -> ApiResult<Json<Contact>> {
    let region = region(&state, &caller).await?;
    let mut errors = ValidationErrors::new();
    let mut parsed = parse_identities(std::slice::from_ref(&req), region, "identity", &mut errors);
    errors.into_result(())?;
    let identity = parsed.pop().ok_or_else(|| ApiError::invalid("value", "is required"))?;
    let contact = state.store.link_identity(caller.account_id(), id, identity, &caller.actor).await?;
    Ok(Json(contact))
}

#[utoipa::path(delete, path = "/contacts/{id}/identities/{identity_id}", tag = "contacts",
    params(("id" = ContactId, Path), ("identity_id" = IdentityId, Path)),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)))]
async fn unlink_identity(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, identity_id)): Path<(ContactId, IdentityId)>,
) -> ApiResult<Json<Contact>> {
    let contact = state.store.unlink_identity(caller.account_id(), id, identity_id, &caller.actor).await?;
    Ok(Json(contact))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentsUpdate {
    pub consents: Vec<ConsentInput>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    pub channel: Channel,
    /// e.g. `marketing`, `service`, `surveys`.
    pub purpose: String,
    pub granted: bool,
    /// Where the consent was given or withdrawn (form, call, shop…).
    pub source: Option<String>,
}

/// Records consents per channel and purpose; each change is audited.
#[utoipa::path(put, path = "/contacts/{id}/consents", tag = "contacts", params(("id" = ContactId, Path)), request_body = ConsentsUpdate,
    responses((status = 200, body = Contact), (status = 422, body = ErrorBody)))]
async fn set_consents(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ContactId>,
    Body(req): Body<ConsentsUpdate>,
) -> ApiResult<Json<Contact>> {
    let mut errors = ValidationErrors::new();
    let mut changes = Vec::new();
    for (i, c) in req.consents.iter().enumerate() {
        let Some(purpose) = parse_topic(&c.purpose) else {
            errors.push(format!("consents[{i}].purpose"), "is 1 to 64 letters, digits, - or _");
            continue;
        };
        let source = c.source.as_deref().map(|s| bounded_text(s, &format!("consents[{i}].source"), 200, &mut errors));
        changes.push(ConsentChange { channel: c.channel, purpose, granted: c.granted, source });
    }
    if req.consents.is_empty() {
        errors.push("consents", "must list at least one consent");
    }
    errors.into_result(())?;
    let contact = state.store.set_consents(caller.account_id(), id, changes, &caller.actor).await?;
    Ok(Json(contact))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The duplicate to merge into this contact; it stops existing on its own.
    pub contact_id: ContactId,
}

/// Merges another contact into this one (supervisors): identities,
/// conversations and timeline move here; recorded in the audit log.
#[utoipa::path(post, path = "/contacts/{id}/merge", tag = "contacts", params(("id" = ContactId, Path)), request_body = MergeRequest,
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn merge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ContactId>,
    Body(req): Body<MergeRequest>,
) -> ApiResult<Json<Contact>> {
    caller.require(Permission::SuperviseContacts)?;
    let contact = state.store.merge_contacts(caller.account_id(), id, req.contact_id, &caller.actor).await?;
    Ok(Json(contact))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DuplicateParams {
    /// At most this many suggestions (1–200, default 50).
    pub limit: Option<i64>,
}

/// Pairs of contacts that are probably the same person, with the reason.
#[utoipa::path(get, path = "/contacts/duplicates", tag = "contacts", params(DuplicateParams),
    responses((status = 200, body = Vec<DuplicateSuggestion>)))]
async fn duplicates(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<DuplicateParams>,
) -> ApiResult<Json<Vec<DuplicateSuggestion>>> {
    let limit = page_limit(p.limit)? as usize;
    Ok(Json(state.store.duplicate_suggestions(caller.account_id(), limit).await?))
}

/// A contact that is probably the same person as another, and why.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LikelyDuplicate {
    pub contact: Contact,
    pub reason: String,
}

/// The contacts that are probably the same person as this one (same phone
/// number under another channel, the same mailbox with a `+tag`, a
/// near-identical name), to merge.
#[utoipa::path(get, path = "/contacts/{id}/duplicates", tag = "contacts", params(("id" = ContactId, Path)),
    responses((status = 200, body = Vec<LikelyDuplicate>), (status = 404, body = ErrorBody)))]
async fn duplicates_of(State(state): State<AppState>, caller: Caller, Path(id): Path<ContactId>) -> ApiResult<Json<Vec<LikelyDuplicate>>> {
    let found = state.store.duplicates_of(caller.account_id(), id).await?;
    Ok(Json(found.into_iter().map(|(contact, reason)| LikelyDuplicate { contact, reason }).collect()))
}

/// Everything that happened with this contact, newest first: messages on
/// every channel, calls, orders, visits, survey answers.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TimelineParams {
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Which entries: `message`, `interaction`, `event`, comma-separated
    /// (default all; with `event` alone, events only).
    pub types: Option<String>,
    /// Tracked events of this name only (`Order Completed`, a page's name).
    pub event: Option<String>,
}

#[utoipa::path(get, path = "/contacts/{id}/timeline", tag = "contacts", params(("id" = ContactId, Path), TimelineParams),
    responses((status = 200, body = Page<TimelineEntry>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn timeline(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ContactId>,
    Query(p): Query<TimelineParams>,
) -> ApiResult<Json<Page<TimelineEntry>>> {
    let limit = page_limit(p.limit)?;
    let mut filter = match (p.types.as_deref(), p.event.is_some()) {
        (Some(types), _) => TimelineFilter::parse(types).map_err(|e| ApiError::invalid("types", e))?,
        (None, true) => TimelineFilter { messages: false, interactions: false, ..Default::default() },
        (None, false) => TimelineFilter::default(),
    };
    if let Some(name) = p.event {
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(ApiError::invalid("event", "1–200 characters"));
        }
        filter.event_name = Some(name);
    }
    let cursor = match p.cursor.as_deref() {
        None => None,
        Some(c) => Some(TimelineCursor::decode(c).ok_or_else(|| ApiError::invalid("cursor", "is not a cursor from this timeline"))?),
    };
    let page = state.store.timeline(caller.account_id(), id, cursor.as_ref(), limit, &filter).await?;
    Ok(Json(Page { data: page.entries, next_cursor: page.next.map(|c| c.encode()) }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractionRequest {
    pub kind: InteractionKind,
    pub conversation_id: Option<ConversationId>,
    /// One line for people, e.g. "Order #1042, €89.90".
    pub summary: Option<String>,
    /// Anything the source wants to keep (order lines, call duration…).
    #[serde(default)]
    pub data: serde_json::Value,
    /// When it happened (default: now).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub occurred_at: Option<OffsetDateTime>,
}

/// Records a call, shop visit, order, page view, app event or survey answer
/// in the contact's timeline.
#[utoipa::path(post, path = "/contacts/{id}/interactions", tag = "contacts", params(("id" = ContactId, Path)), request_body = InteractionRequest,
    responses((status = 201, body = Interaction), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn record_interaction(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ContactId>,
    Body(req): Body<InteractionRequest>,
) -> ApiResult<(StatusCode, Json<Interaction>)> {
    let mut errors = ValidationErrors::new();
    let summary = req.summary.as_deref().map(|s| bounded_text(s, "summary", 500, &mut errors));
    if serde_json::to_vec(&req.data).map(|v| v.len()).unwrap_or(0) > 64 * 1024 {
        errors.push("data", "at most 64 KiB");
    }
    errors.into_result(())?;
    let data = if req.data.is_null() { serde_json::json!({}) } else { req.data };
    let new = NewInteraction { kind: req.kind, conversation_id: req.conversation_id, summary, data, occurred_at: req.occurred_at };
    let interaction = state.store.record_interaction(caller.account_id(), id, new).await?;
    Ok((StatusCode::CREATED, Json(interaction)))
}
