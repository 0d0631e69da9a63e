//! The workspace's live socket (`GET /live`, WebSocket, session cookie).
//!
//! It tells the open pages *that* something changed — a message arrived or
//! changed, a conversation was updated, assigned or resolved — with the
//! conversation's id, never the content. The page then fetches its own
//! server-rendered HTML again, so what it shows is always what the server
//! renders, with the same escaping and the same permissions. After a lost
//! connection, or when this socket fell behind the event bus (`resync`),
//! the page refreshes once and so catches up on whatever it missed.
//!
//! A note that mentions the agent arrives as `{"type":"mention",
//! "conversation_id":…}`, which the page shows as a notice with a link;
//! supervisors and administrators get `{"type":"sla.breached", …}` the same
//! way when a conversation misses an SLA target, and an agent offered a
//! waiting call `{"type":"call", …}` (the screen pop) while their phone rings.
//!
//! It also carries a web chat visitor's typing (`{"type":"typing",
//! "contact_id":…}`), which the conversation page shows for a few seconds.

use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use threadline_domain::event::{DomainEvent, EventKind};
use threadline_domain::ids::{AccountId, UserId};
use tokio::sync::broadcast;

use crate::app::AppState;
use crate::auth::{hash_token, session_cookie};
use crate::error::ApiError;
use crate::widget::live::LiveSignal;

pub async fn socket(State(state): State<AppState>, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    // A page of another site must not open a socket with our cookie.
    if !same_origin(&headers) {
        return ApiError::Forbidden("the live socket is for Threadline's own pages".into()).into_response();
    }
    let session = match session_cookie(&headers) {
        Some(cookie) => state.store.session(&hash_token(&cookie)).await.ok().flatten(),
        None => None,
    };
    let Some(session) = session else { return ApiError::Unauthorized.into_response() };
    let (account_id, user_id) = (session.user.account_id, session.user.id);
    let supervisor = session.user.role.allows(threadline_domain::role::Permission::ManageTeams);
    upgrade.max_message_size(4 * 1024).on_upgrade(move |socket| serve(state, account_id, user_id, supervisor, socket))
}

/// The `Origin` of the handshake is this server (`Host`).
fn same_origin(headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host)),
        _ => false,
    }
}

async fn serve(state: AppState, account_id: AccountId, user_id: UserId, supervisor: bool, mut socket: WebSocket) {
    let _open = crate::telemetry::SocketGuard::new(&state.telemetry.agent_sockets);
    let mut events = state.bus.subscribe();
    let mut signals = state.bus.signals();
    loop {
        tokio::select! {
            signal = signals.recv() => {
                let text = match signal {
                    Ok(LiveSignal::VisitorTyping { account_id: account, contact_id }) if account == account_id => {
                        serde_json::json!({ "type": "typing", "contact_id": contact_id }).to_string()
                    }
                    // The bus may have missed events: the page reads again.
                    Ok(LiveSignal::Resync) => r#"{"type":"resync"}"#.to_owned(),
                    _ => continue,
                };
                if socket.send(WsMessage::Text(text.into())).await.is_err() {
                    return;
                }
            }
            event = events.recv() => {
                let text = match event {
                    Ok(event) => match notice(&event, account_id, user_id, supervisor) {
                        Some(text) => text,
                        None => continue,
                    },
                    Err(broadcast::error::RecvError::Lagged(_)) => r#"{"type":"resync"}"#.to_owned(),
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if socket.send(WsMessage::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// What `user`'s page needs to know of an event of their account, if
/// anything. Supervisors and administrators are told of missed SLA targets.
fn notice(event: &DomainEvent, account_id: AccountId, user: UserId, supervisor: bool) -> Option<String> {
    if event.account_id != account_id {
        return None;
    }
    let about = match event.kind {
        EventKind::SlaBreached
        | EventKind::CallOffered
        | EventKind::MessageCreated
        | EventKind::MessageUpdated
        | EventKind::ConversationCreated
        | EventKind::ConversationUpdated
        | EventKind::ConversationAssigned
        | EventKind::ConversationResolved => event.about(),
        _ => return None,
    };
    let conversation = about.conversation_id?;
    let addressed = about.addressed_to.contains(&user);
    let kind = match event.kind {
        EventKind::SlaBreached if supervisor => "sla.breached",
        EventKind::SlaBreached => return None,
        // The screen pop: only the agent whose phone rings.
        EventKind::CallOffered if addressed => "call",
        EventKind::CallOffered => return None,
        EventKind::MessageCreated if addressed => "mention",
        kind => kind.as_str(),
    };
    Some(serde_json::json!({ "type": kind, "conversation_id": conversation }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use threadline_domain::ids::ConversationId;

    /// An event as the relay reads it back: only what the test needs of its data.
    fn stored(account_id: AccountId, kind: EventKind, data: serde_json::Value, occurred_at: time::OffsetDateTime) -> DomainEvent {
        DomainEvent { id: threadline_domain::ids::EventId::new(), account_id, kind, data, occurred_at }
    }

    #[test]
    fn only_this_accounts_conversation_events_are_told_without_content() {
        let (account, c1) = (AccountId::new(), ConversationId::new());
        let message = stored(
            account,
            EventKind::MessageCreated,
            serde_json::json!({ "message": { "conversation_id": c1, "text": "secret" } }),
            time::OffsetDateTime::UNIX_EPOCH,
        );
        let user = UserId::new();
        let text = notice(&message, account, user, false).unwrap();
        assert_eq!(text, format!(r#"{{"conversation_id":"{c1}","type":"message.created"}}"#));
        assert_eq!(notice(&message, AccountId::new(), user, false), None);
        let contact = stored(account, EventKind::ContactCreated, serde_json::json!({}), time::OffsetDateTime::UNIX_EPOCH);
        assert_eq!(notice(&contact, account, user, false), None);
    }

    #[test]
    fn only_the_agent_offered_a_call_is_shown_it() {
        let (account, c9) = (AccountId::new(), ConversationId::new());
        let (giulia, other) = (UserId::new(), UserId::new());
        let offered = stored(
            account,
            EventKind::CallOffered,
            serde_json::json!({ "call": { "from_number": "+393471112233", "conversation_id": c9 }, "agent_id": giulia, "conversation_id": c9 }),
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(notice(&offered, account, giulia, false).unwrap(), format!(r#"{{"conversation_id":"{c9}","type":"call"}}"#));
        assert_eq!(notice(&offered, account, other, true), None);
    }

    #[test]
    fn a_mentioned_agent_is_told_so() {
        let (account, paolo, emma, c1) = (AccountId::new(), UserId::new(), UserId::new(), ConversationId::new());
        let note = stored(
            account,
            EventKind::MessageCreated,
            serde_json::json!({ "message": { "conversation_id": c1 }, "mentions": [paolo] }),
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(notice(&note, account, paolo, false).unwrap(), format!(r#"{{"conversation_id":"{c1}","type":"mention"}}"#));
        assert!(notice(&note, account, emma, false).unwrap().contains("message.created"));
    }

    #[test]
    fn supervisors_are_told_of_missed_targets() {
        let (account, c9) = (AccountId::new(), ConversationId::new());
        let breach = stored(
            account,
            EventKind::SlaBreached,
            serde_json::json!({ "conversation": { "id": c9 }, "target": "first_response" }),
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(
            notice(&breach, account, UserId::new(), true).unwrap(),
            format!(r#"{{"conversation_id":"{c9}","type":"sla.breached"}}"#)
        );
        assert_eq!(notice(&breach, account, UserId::new(), false), None);
    }

    #[test]
    fn other_sites_cannot_open_the_socket() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "support.example.com".parse().unwrap());
        headers.insert(header::ORIGIN, "https://support.example.com".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!same_origin(&headers));
        headers.remove(header::ORIGIN);
        assert!(!same_origin(&headers));
    }
}
