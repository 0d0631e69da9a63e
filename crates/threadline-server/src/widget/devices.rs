//! An app's devices for push notifications, registered through the chat
//! API of an `in_app` inbox with the visitor's token (`X-Threadline-Visitor`):
//!
//! - `POST /widget/{inbox_id}/devices` `{"platform": "fcm" | "apns", "token": "…"}`:
//!   201; the same token again moves it to this visitor's customer.
//! - `DELETE /widget/{inbox_id}/devices` with the same body: 204 (the
//!   app's user signed out), 404 when this customer had no such device.
//!
//! A visitor who has not written yet becomes a customer here, so a reply
//! or a journey's message can reach the app before the first message.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use threadline_domain::channel::Channel;
use threadline_domain::identity::Region;
use threadline_domain::ids::ContactId;
use threadline_domain::push::{Platform, check_token};
use threadline_store::{Account, NewContact, StoreError};

use super::{Visitor, chat_inbox, spend, visitor_from_headers};
use crate::app::AppState;
use crate::error::ApiError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    pub platform: String,
    pub token: String,
}

fn read(req: &DeviceRequest) -> Result<(Platform, String), ApiError> {
    let platform = Platform::parse(req.platform.trim()).ok_or_else(|| ApiError::invalid("platform", "must be fcm or apns"))?;
    let token = check_token(platform, &req.token).map_err(|e| ApiError::invalid("token", e))?;
    Ok((platform, token))
}

/// A device request, checked: an in-app inbox, its visitor, the client's
/// budget spent, and the device.
struct Checked {
    inbox: threadline_store::Inbox,
    account: Account,
    visitor: Visitor,
    platform: Platform,
    token: String,
}

async fn check(
    state: &AppState,
    raw_id: &str,
    headers: &HeaderMap,
    peer: Option<&ConnectInfo<SocketAddr>>,
    req: &DeviceRequest,
) -> Result<Checked, ApiError> {
    let (inbox, account) = chat_inbox(state, raw_id, headers).await?;
    if inbox.channel != Channel::InApp {
        return Err(ApiError::Refused { code: "not_in_app", message: "devices register with an in_app inbox's chat".into() });
    }
    let visitor = visitor_from_headers(state, inbox.id, headers)?;
    spend(state, headers, peer, inbox.id)?;
    let (platform, token) = read(req)?;
    Ok(Checked { inbox, account, visitor, platform, token })
}

/// The visitor's customer, created when they have not written yet.
async fn customer(state: &AppState, account: &Account, visitor: &Visitor) -> Result<ContactId, ApiError> {
    if let Some(contact) = visitor.contact(state, account).await? {
        return Ok(contact);
    }
    let region = Region::parse(&account.default_region).unwrap_or_default();
    let new = NewContact { identities: visitor.identities(region), ..NewContact::default() };
    match state.store.create_contact(account.id, new, "chat").await {
        Ok(contact) => Ok(contact.id),
        // Their first message made them a customer meanwhile.
        Err(StoreError::Conflict(_)) => visitor.contact(state, account).await?.ok_or(ApiError::Conflict("try again".into())),
        Err(e) => Err(e.into()),
    }
}

pub async fn register(
    State(state): State<AppState>,
    axum::extract::Path(raw_id): axum::extract::Path<String>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    crate::api::Body(req): crate::api::Body<DeviceRequest>,
) -> Result<StatusCode, ApiError> {
    let Checked { inbox, account, visitor, platform, token } = check(&state, &raw_id, &headers, peer.as_ref().map(|p| &p.0), &req).await?;
    let contact = customer(&state, &account, &visitor).await?;
    state.store.register_push_device(account.id, inbox.id, contact, platform, &token, state.clock.now()).await?;
    Ok(StatusCode::CREATED)
}

pub async fn unregister(
    State(state): State<AppState>,
    axum::extract::Path(raw_id): axum::extract::Path<String>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    crate::api::Body(req): crate::api::Body<DeviceRequest>,
) -> Result<StatusCode, ApiError> {
    let Checked { inbox, account, visitor, platform, token } = check(&state, &raw_id, &headers, peer.as_ref().map(|p| &p.0), &req).await?;
    let Some(contact) = visitor.contact(&state, &account).await? else { return Err(ApiError::NotFound) };
    match state.store.unregister_push_device(account.id, inbox.id, contact, platform, &token).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::NotFound),
    }
}
