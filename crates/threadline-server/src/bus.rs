//! The in-process event bus: committed domain events fan out to whoever is
//! listening in this process (the webhook dispatcher's wake-up, live UI
//! sockets). Delivery to the outside world never depends on it: webhooks
//! read their durable queue, so a missed broadcast only delays them.

use std::sync::Arc;

use threadline_domain::event::DomainEvent;
use tokio::sync::broadcast;

#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<DomainEvent>>,
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        Self { sender: broadcast::channel(capacity).0 }
    }

    /// Publishes events that have committed.
    pub fn publish(&self, events: Vec<DomainEvent>) {
        for event in events {
            // No receiver is not an error: nobody is listening right now.
            let _ = self.sender.send(Arc::new(event));
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<DomainEvent>> {
        self.sender.subscribe()
    }
}
