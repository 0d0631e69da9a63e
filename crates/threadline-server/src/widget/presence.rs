//! Which chat visitors have the chat open right now, on any node.
//!
//! A reply to a visitor who has left the chat goes by email (when they gave
//! an address), so the node composing a reply must know whether the
//! visitor's socket is open — on whichever node holds it. Each node counts
//! its own sockets and tells the others over the bus: when a contact's
//! first socket opens or last one closes on it, and every
//! [`HEARTBEAT`] the whole list (in parts). What another node said lapses
//! after [`LAPSE`] without a word, so a node that died stops counting.
//! With the in-process bus this node is the only one and only its own
//! sockets count.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use threadline_domain::ids::ContactId;
use tokio::sync::watch;

use crate::app::AppState;
use crate::bus::{EventBus, NodeSignal};

/// How often a node repeats which contacts have the chat open on it.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// How long another node's word counts without being repeated.
pub const LAPSE: Duration = Duration::from_secs(50);

/// Contacts per heartbeat message (NATS messages stay well under 1 MB).
const PART: usize = 2_000;

#[derive(Clone)]
pub struct ChatPresence {
    bus: EventBus,
    /// Contacts with an open chat socket on this node, and how many.
    here: Arc<Mutex<HashMap<ContactId, usize>>>,
    /// Other nodes → their contacts with the chat open, as last told.
    elsewhere: Arc<Mutex<HashMap<String, HashMap<ContactId, Instant>>>>,
}

/// Counts a contact as connected while it lives.
pub struct Connected {
    presence: ChatPresence,
    contact_id: ContactId,
}

impl Drop for Connected {
    fn drop(&mut self) {
        let closed = {
            let mut here = self.presence.here.lock().unwrap_or_else(|e| e.into_inner());
            match here.get_mut(&self.contact_id) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    here.remove(&self.contact_id);
                    true
                }
                None => false,
            }
        };
        if closed {
            let node = self.presence.bus.node().to_owned();
            self.presence.bus.tell_nodes(NodeSignal::ChatClosed { node, contact_id: self.contact_id });
        }
    }
}

impl ChatPresence {
    pub fn new(bus: EventBus) -> Self {
        ChatPresence { bus, here: Default::default(), elsewhere: Default::default() }
    }

    /// Whether the contact has the chat open, on this node or another.
    pub fn is_connected(&self, contact_id: ContactId) -> bool {
        if self.here.lock().unwrap_or_else(|e| e.into_inner()).contains_key(&contact_id) {
            return true;
        }
        let now = Instant::now();
        self.elsewhere
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .any(|contacts| contacts.get(&contact_id).is_some_and(|seen| now.duration_since(*seen) < LAPSE))
    }

    /// Counts a socket of the contact on this node until the guard drops.
    pub fn connect(&self, contact_id: ContactId) -> Connected {
        let opened = {
            let mut here = self.here.lock().unwrap_or_else(|e| e.into_inner());
            let n = here.entry(contact_id).or_default();
            *n += 1;
            *n == 1
        };
        if opened {
            self.bus.tell_nodes(NodeSignal::ChatOpened { node: self.bus.node().to_owned(), contact_id });
        }
        Connected { presence: self.clone(), contact_id }
    }

    /// Takes in what another node said.
    fn heard(&self, signal: &NodeSignal, now: Instant) {
        if signal.node() == self.bus.node() {
            return;
        }
        let mut elsewhere = self.elsewhere.lock().unwrap_or_else(|e| e.into_inner());
        match signal {
            NodeSignal::ChatOpened { node, contact_id } => {
                elsewhere.entry(node.clone()).or_default().insert(*contact_id, now);
            }
            NodeSignal::ChatClosed { node, contact_id } => {
                if let Some(contacts) = elsewhere.get_mut(node) {
                    contacts.remove(contact_id);
                }
            }
            NodeSignal::ChatsOpen { node, contacts } => {
                let known = elsewhere.entry(node.clone()).or_default();
                for contact_id in contacts {
                    known.insert(*contact_id, now);
                }
            }
            _ => {}
        }
    }

    /// Forgets what lapsed.
    fn forget_lapsed(&self, now: Instant) {
        let mut elsewhere = self.elsewhere.lock().unwrap_or_else(|e| e.into_inner());
        for contacts in elsewhere.values_mut() {
            contacts.retain(|_, seen| now.duration_since(*seen) < LAPSE);
        }
        elsewhere.retain(|_, contacts| !contacts.is_empty());
    }

    /// Tells the other nodes every contact with the chat open here.
    fn announce(&self) {
        let contacts: Vec<ContactId> = self.here.lock().unwrap_or_else(|e| e.into_inner()).keys().copied().collect();
        for part in contacts.chunks(PART) {
            self.bus.tell_nodes(NodeSignal::ChatsOpen { node: self.bus.node().to_owned(), contacts: part.to_vec() });
        }
    }
}

/// Listens to the other nodes and repeats this node's list.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let presence = state.chat_presence.clone();
    let mut signals = state.bus.node_signals();
    let mut resync = state.bus.signals();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = heartbeat.tick() => {
                presence.announce();
                presence.forget_lapsed(Instant::now());
            }
            // Back on NATS after a break: the others may have forgotten us.
            signal = resync.recv() => if let Ok(crate::bus::LiveSignal::Resync) = signal {
                presence.announce();
            },
            signal = signals.recv() => match signal {
                Ok(signal) => presence.heard(&signal, Instant::now()),
                // Missed some: the next heartbeats fill in.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn another_nodes_open_chats_count_until_closed_or_lapsed() {
        let presence = ChatPresence::new(EventBus::in_process(16));
        let (maria, luca) = (ContactId::new(), ContactId::new());
        let t0 = Instant::now();
        presence.heard(&NodeSignal::ChatOpened { node: "b".into(), contact_id: maria }, t0);
        presence.heard(&NodeSignal::ChatsOpen { node: "c".into(), contacts: vec![luca] }, t0);
        assert!(presence.is_connected(maria) && presence.is_connected(luca));
        presence.heard(&NodeSignal::ChatClosed { node: "b".into(), contact_id: maria }, t0);
        assert!(!presence.is_connected(maria), "closed on the node that had it");
        // Node c says nothing more: its word lapses.
        presence.forget_lapsed(t0 + LAPSE);
        assert!(!presence.is_connected(luca));
        // What this node said of itself is not taken as another node's.
        presence.heard(&NodeSignal::ChatOpened { node: presence.bus.node().to_owned(), contact_id: maria }, t0);
        assert!(!presence.is_connected(maria));
    }

    #[tokio::test]
    async fn this_nodes_sockets_count_while_open() {
        let presence = ChatPresence::new(EventBus::in_process(16));
        let maria = ContactId::new();
        let first = presence.connect(maria);
        let second = presence.connect(maria);
        assert!(presence.is_connected(maria));
        drop(first);
        assert!(presence.is_connected(maria), "another tab is still open");
        drop(second);
        assert!(!presence.is_connected(maria));
    }
}
