//! The chat's live connection: `GET /widget/{inbox}/live?token=…`.
//!
//! Server → visitor: `{"type":"message","message":…}` for each new chat
//! message of the visitor's contact (theirs from another tab, the agents'
//! replies), `{"type":"typing"}` while an agent types, and
//! `{"type":"presence","agents_online":n}` when that changes.
//! Visitor → server: `{"type":"typing"}` and `{"type":"read","id":…}`.
//!
//! A reply pushed to the socket becomes `delivered`; a reply the visitor
//! has seen becomes `read`. A socket that drops loses nothing: the widget
//! fetches `GET /messages?after=` with its last cursor when it reconnects.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use threadline_domain::event::{DomainEvent, EventKind, Payload};
use threadline_domain::ids::{AccountId, ContactId, InboxId, MessageId};
use threadline_domain::message::{DeliveryStatus, Direction, Message, MessageKind};
use threadline_store::Account;
use tokio::sync::broadcast;

use super::{Visitor, chat_inbox, chat_message};
use crate::app::AppState;
use crate::error::ApiError;

pub use crate::bus::LiveSignal;

#[derive(Debug, Deserialize)]
pub struct LiveParams {
    token: String,
}

pub async fn socket(
    State(state): State<AppState>,
    axum::extract::Path(raw_id): axum::extract::Path<String>,
    Query(p): Query<LiveParams>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let (inbox, account) = chat_inbox(&state, &raw_id, &headers).await?;
    let visitor = Visitor::from_token(&state, inbox.id, &p.token).ok_or(ApiError::Unauthorized)?;
    let inbox_id = inbox.id;
    Ok(upgrade.max_message_size(64 * 1024).on_upgrade(move |socket| serve(state, account, inbox_id, visitor, socket)))
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FromVisitor {
    Typing,
    Read { id: MessageId },
}

/// How often the agents' availability is looked at again.
const PRESENCE_EVERY: Duration = Duration::from_secs(15);

async fn serve(state: AppState, account: Account, inbox_id: InboxId, visitor: Visitor, mut socket: WebSocket) {
    let _open = crate::telemetry::SocketGuard::new(&state.telemetry.chat_sockets);
    let mut events = state.bus.subscribe();
    let mut signals = state.bus.signals();
    // The visitor may write their first message after connecting: the
    // contact is looked up again until it exists.
    let mut contact = visitor.contact(&state, &account).await.ok().flatten();
    let mut _connected = contact.map(|c| state.chat_presence.connect(c));
    let mut online = state.store.agents_online(account.id).await.unwrap_or(0);
    let mut presence = tokio::time::interval(PRESENCE_EVERY);
    presence.tick().await;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    // Until the visitor has written, their contact does not
                    // exist; look again only when a chat message arrives in
                    // this inbox (not on every event of the installation).
                    if contact.is_none() && is_chat_message_in(&event, account.id, inbox_id) {
                        contact = visitor.contact(&state, &account).await.ok().flatten();
                        _connected = contact.map(|c| state.chat_presence.connect(c));
                    }
                    if let Some(message) = chat_message_for(&event, account.id, contact)
                        && !push(&state, &account, &mut socket, &message).await
                    {
                        return;
                    }
                }
                // Fell behind: the widget catches up from its cursor.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if socket.send(WsMessage::Text(r#"{"type":"resync"}"#.into())).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            signal = signals.recv() => {
                let text = match signal {
                    Ok(LiveSignal::AgentTyping { account_id, contact_id }) if account_id == account.id && Some(contact_id) == contact => {
                        r#"{"type":"typing"}"#
                    }
                    // The bus may have missed messages: the widget catches up from its cursor.
                    Ok(LiveSignal::Resync) => r#"{"type":"resync"}"#,
                    _ => continue,
                };
                if socket.send(WsMessage::Text(text.into())).await.is_err() {
                    return;
                }
            }
            _ = presence.tick() => {
                let now_online = state.store.agents_online(account.id).await.unwrap_or(online);
                if now_online != online {
                    online = now_online;
                    let text = serde_json::json!({ "type": "presence", "agents_online": online }).to_string();
                    if socket.send(WsMessage::Text(text.into())).await.is_err() {
                        return;
                    }
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Text(text))) => {
                    match serde_json::from_str::<FromVisitor>(&text) {
                        Ok(FromVisitor::Typing) => {
                            if let Some(contact_id) = contact {
                                state.bus.signal(LiveSignal::VisitorTyping { account_id: account.id, contact_id });
                            }
                        }
                        Ok(FromVisitor::Read { id }) => mark_read(&state, &account, contact, id).await,
                        Err(_) => tracing::debug!("unreadable message on a chat socket"),
                    }
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Whether an event is a new inbound message in this chat inbox.
fn is_chat_message_in(event: &DomainEvent, account_id: AccountId, inbox_id: InboxId) -> bool {
    event.account_id == account_id && matches!(event.kind, EventKind::MessageCreated) && event.about().inbox_id == Some(inbox_id)
}

/// The chat message an event carries, if it belongs in this visitor's chat.
fn chat_message_for(event: &Arc<DomainEvent>, account_id: AccountId, contact: Option<ContactId>) -> Option<Message> {
    if event.account_id != account_id || !matches!(event.kind, EventKind::MessageCreated) {
        return None;
    }
    // Every socket sees every event: compare the contact before reading the message.
    if contact.is_none() || event.about().contact_id != contact {
        return None;
    }
    let Ok(Payload::MessageCreated(created)) = event.payload() else { return None };
    let message = created.message;
    let in_chat = matches!(message.channel, threadline_domain::channel::Channel::WebChat | threadline_domain::channel::Channel::InApp);
    (Some(message.contact_id) == contact && message.kind == MessageKind::Message && in_chat).then_some(message)
}

/// Sends a message to the socket; an agent's reply becomes `delivered`.
async fn push(state: &AppState, account: &Account, socket: &mut WebSocket, message: &Message) -> bool {
    let text = serde_json::json!({ "type": "message", "message": chat_message(state, account.id, message) }).to_string();
    if socket.send(WsMessage::Text(text.into())).await.is_err() {
        return false;
    }
    if message.direction == Direction::Outbound && message.delivery_status == DeliveryStatus::Pending {
        match state.store.update_delivery_status(account.id, message.id, DeliveryStatus::Delivered, None).await {
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "marking a chat reply delivered failed"),
        }
    }
    true
}

/// The visitor saw an agent's reply.
async fn mark_read(state: &AppState, account: &Account, contact: Option<ContactId>, id: MessageId) {
    let Ok(message) = state.store.message(account.id, id).await else { return };
    let in_chat = matches!(message.channel, threadline_domain::channel::Channel::WebChat | threadline_domain::channel::Channel::InApp);
    if Some(message.contact_id) != contact
        || message.direction != Direction::Outbound
        || !in_chat
        || !threadline_domain::reply::status_advances(message.delivery_status, DeliveryStatus::Read)
    {
        return;
    }
    match state.store.update_delivery_status(account.id, id, DeliveryStatus::Read, None).await {
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "marking a chat reply read failed"),
    }
}
