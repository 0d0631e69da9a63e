//! The event bus: how committed domain events and live signals (typing)
//! reach every node's open sockets.
//!
//! Events enter the bus one way only: the relay (`relay.rs`) reads the
//! rows each commit leaves in `event_relay` and publishes them here;
//! handlers never publish. Each node listens on its own in-process
//! channels ([`EventBus::subscribe`], [`EventBus::signals`]); a
//! [`Transport`] carries what is published to every node's channels:
//!
//! - [`InProcess`] (the embedded default): this process is the only node.
//! - [`Nats`] (`THREADLINE_NATS_URL`): events are published to a JetStream
//!   stream with `Nats-Msg-Id` = the event's id (so a relay that publishes
//!   twice stores once, and integrators can consume the stream), and every
//!   node reads them back over a plain subscription; live signals go over
//!   plain subjects. The subjects are documented in `docs/operations.md`.
//!
//! Delivery that must not be lost never rides on the bus: webhooks, sends,
//! jobs and reports read the database. A socket that misses a notice (a
//! lagging reader, NATS reconnecting) is told `resync` and reads again.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use threadline_domain::event::DomainEvent;

use threadline_domain::ids::{AccountId, ContactId, InboxId};
use tokio::sync::broadcast;

/// Signals that are not stored: typing indicators, and the bus telling
/// sockets they may have missed something.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveSignal {
    /// An agent is typing to a contact.
    AgentTyping { account_id: AccountId, contact_id: ContactId },
    /// A contact is typing in the chat.
    VisitorTyping { account_id: AccountId, contact_id: ContactId },
    /// Notices may have been missed (the bus reconnected): pages read again.
    Resync,
}

/// What nodes tell each other so that they act as one (never shown on a
/// socket). Each names the node it comes from; a node ignores its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeSignal {
    /// A contact's first chat socket opened on `node`.
    ChatOpened { node: String, contact_id: ContactId },
    /// A contact's last chat socket on `node` closed.
    ChatClosed { node: String, contact_id: ContactId },
    /// Contacts with the chat open on `node` (repeated; see `widget::presence`).
    ChatsOpen { node: String, contacts: Vec<ContactId> },
    /// A password sign-in on `node` (the login as SHA-256 hex), counted
    /// against the same budgets and lockouts everywhere.
    SignIn { node: String, login: String, address: Option<IpAddr>, outcome: SignInOutcome },
    /// A web chat request on `node`, spent from the client's budget everywhere.
    ChatRequest { node: String, address: IpAddr, inbox_id: InboxId },
    /// Users, tokens, inboxes or rules changed on `node`: cached copies go.
    CachesChanged { node: String },
    /// An article of the knowledge base changed on `node`.
    KnowledgeChanged { node: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInOutcome {
    /// An attempt was let through to the password check.
    Attempt,
    Failed,
    Succeeded,
}

impl NodeSignal {
    pub fn node(&self) -> &str {
        match self {
            NodeSignal::ChatOpened { node, .. }
            | NodeSignal::ChatClosed { node, .. }
            | NodeSignal::ChatsOpen { node, .. }
            | NodeSignal::SignIn { node, .. }
            | NodeSignal::ChatRequest { node, .. }
            | NodeSignal::CachesChanged { node }
            | NodeSignal::KnowledgeChanged { node } => node,
        }
    }
}

type Publishing<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// Carries what one node publishes to every node's in-process channels.
pub trait Transport: Send + Sync {
    /// Publishes committed events; resolves once the transport has them
    /// (for NATS: stored in the stream), so the relay may forget them.
    fn publish<'a>(&'a self, events: &'a [DomainEvent]) -> Publishing<'a>;

    /// Sends a live signal to every node, best effort.
    fn signal(&self, signal: LiveSignal);

    /// Tells the other nodes, best effort (nothing to do with one node).
    fn tell_nodes(&self, signal: NodeSignal);

    /// A name for logs and `/metrics`.
    fn name(&self) -> &'static str;

    /// Whether the transport can carry messages now (for `/readyz`).
    fn connected(&self) -> bool {
        true
    }
}

/// This node's listeners.
#[derive(Clone)]
struct Local {
    events: broadcast::Sender<Arc<DomainEvent>>,
    signals: broadcast::Sender<LiveSignal>,
    nodes: broadcast::Sender<NodeSignal>,
}

impl Local {
    fn new(capacity: usize) -> Self {
        Local { events: broadcast::channel(capacity).0, signals: broadcast::channel(1024).0, nodes: broadcast::channel(capacity).0 }
    }

    fn event(&self, event: DomainEvent) {
        // No receiver is not an error: nobody is listening right now.
        let _ = self.events.send(Arc::new(event));
    }

    fn signal(&self, signal: LiveSignal) {
        let _ = self.signals.send(signal);
    }
}

#[derive(Clone)]
pub struct EventBus {
    local: Local,
    transport: Arc<dyn Transport>,
    /// This process, as other nodes know it.
    node: Arc<str>,
}

fn new_node_id() -> Arc<str> {
    uuid::Uuid::now_v7().simple().to_string().into()
}

impl EventBus {
    /// The embedded bus: this process only.
    pub fn in_process(capacity: usize) -> Self {
        let local = Local::new(capacity);
        EventBus { transport: Arc::new(InProcess(local.clone())), local, node: new_node_id() }
    }

    /// The bus the settings ask for: NATS when `nats_url` is set.
    pub async fn from_settings(settings: &crate::config::Settings, capacity: usize) -> anyhow::Result<Self> {
        if settings.nats_url.0.trim().is_empty() {
            return Ok(Self::in_process(capacity));
        }
        let local = Local::new(capacity);
        let nats = Nats::connect(settings, local.clone()).await?;
        Ok(EventBus { transport: Arc::new(nats), local, node: new_node_id() })
    }

    /// This node's id in [`NodeSignal`]s.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Tells the other nodes (nothing happens when this is the only one).
    pub fn tell_nodes(&self, signal: NodeSignal) {
        self.transport.tell_nodes(signal);
    }

    /// What other nodes told (and, on NATS, this node's own words back:
    /// compare [`NodeSignal::node`] with [`Self::node`]).
    pub fn node_signals(&self) -> broadcast::Receiver<NodeSignal> {
        self.local.nodes.subscribe()
    }

    /// Publishes committed events to every node (the relay's job).
    pub async fn publish(&self, events: &[DomainEvent]) -> anyhow::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        self.transport.publish(events).await
    }

    /// Committed events as they reach this node.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<DomainEvent>> {
        self.local.events.subscribe()
    }

    /// Sends a live signal (typing) to every node.
    pub fn signal(&self, signal: LiveSignal) {
        self.transport.signal(signal);
    }

    /// Live signals as they reach this node.
    pub fn signals(&self) -> broadcast::Receiver<LiveSignal> {
        self.local.signals.subscribe()
    }

    pub fn transport(&self) -> &'static str {
        self.transport.name()
    }

    /// Whether the bus reaches the other nodes now.
    pub fn connected(&self) -> bool {
        self.transport.connected()
    }
}

/// One process: publishing is handing over.
struct InProcess(Local);

impl Transport for InProcess {
    fn publish<'a>(&'a self, events: &'a [DomainEvent]) -> Publishing<'a> {
        for event in events {
            self.0.event(event.clone());
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn signal(&self, signal: LiveSignal) {
        self.0.signal(signal);
    }

    fn tell_nodes(&self, _: NodeSignal) {}

    fn name(&self) -> &'static str {
        "in-process"
    }
}

/// NATS: JetStream for events, plain subjects for signals; every node
/// (this one included) reads both back into its in-process channels.
pub struct Nats {
    client: async_nats::Client,
    jetstream: async_nats::jetstream::Context,
    prefix: String,
}

/// How long a publish waits for JetStream's acknowledgement.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

impl Nats {
    async fn connect(settings: &crate::config::Settings, local: Local) -> anyhow::Result<Self> {
        use anyhow::Context;
        let prefix = settings.nats_prefix.clone();
        let url = settings.nats_url.0.trim().to_owned();
        // After a reconnect the sockets are told to read again: what was
        // published while this node was away reached nobody here.
        let on_event = {
            let local = local.clone();
            move |event: async_nats::Event| {
                let local = local.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            tracing::info!("connected to NATS again");
                            local.signal(LiveSignal::Resync);
                        }
                        async_nats::Event::Disconnected => tracing::warn!("lost the connection to NATS; reconnecting"),
                        other => tracing::debug!(event = %other, "NATS"),
                    }
                }
            }
        };
        let client = async_nats::ConnectOptions::new()
            .name("threadline")
            .connection_timeout(Duration::from_secs(5))
            .event_callback(on_event)
            .connect(url.as_str())
            .await
            .with_context(|| format!("while connecting to NATS at {}", crate::config::mask_url(&url)))?;
        let mut jetstream = async_nats::jetstream::new(client.clone());
        jetstream.set_timeout(ACK_TIMEOUT);
        let config = async_nats::jetstream::stream::Config {
            name: settings.nats_stream.clone(),
            subjects: vec![format!("{prefix}.events.>")],
            max_age: Duration::from_secs(settings.nats_stream_max_age_hours.max(1) * 3600),
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        jetstream.get_or_create_stream(config).await.with_context(|| {
            format!("while creating the JetStream stream {} (is JetStream enabled: nats-server -js?)", settings.nats_stream)
        })?;
        let events = client.subscribe(format!("{prefix}.events.>")).await.context("while subscribing to the events on NATS")?;
        let signals = client.subscribe(format!("{prefix}.live.>")).await.context("while subscribing to live signals on NATS")?;
        let nodes = client.subscribe(format!("{prefix}.nodes")).await.context("while subscribing to the nodes' subject on NATS")?;
        tokio::spawn(read_events(events, local.clone()));
        tokio::spawn(read_signals(signals, local.clone()));
        tokio::spawn(read_node_signals(nodes, local));
        Ok(Nats { client, jetstream, prefix })
    }
}

/// Events published by any node, into this node's channel.
async fn read_events(mut subscriber: async_nats::Subscriber, local: Local) {
    use futures_util::StreamExt;
    while let Some(message) = subscriber.next().await {
        match serde_json::from_slice::<DomainEvent>(&message.payload) {
            Ok(event) => local.event(event),
            Err(e) => tracing::warn!(subject = %message.subject, error = %e, "unreadable event on NATS ignored"),
        }
    }
}

async fn read_signals(mut subscriber: async_nats::Subscriber, local: Local) {
    use futures_util::StreamExt;
    while let Some(message) = subscriber.next().await {
        match serde_json::from_slice::<LiveSignal>(&message.payload) {
            Ok(LiveSignal::Resync) => {} // a node's own business
            Ok(signal) => local.signal(signal),
            Err(e) => tracing::debug!(error = %e, "unreadable live signal on NATS ignored"),
        }
    }
}

async fn read_node_signals(mut subscriber: async_nats::Subscriber, local: Local) {
    use futures_util::StreamExt;
    while let Some(message) = subscriber.next().await {
        match serde_json::from_slice::<NodeSignal>(&message.payload) {
            Ok(signal) => {
                let _ = local.nodes.send(signal);
            }
            Err(e) => tracing::debug!(error = %e, "unreadable node signal on NATS ignored"),
        }
    }
}

impl Nats {
    /// Publishes a small message on a plain subject, without waiting.
    fn send(&self, subject: String, payload: Vec<u8>) {
        let client = self.client.clone();
        tokio::spawn(async move {
            if let Err(e) = client.publish(subject, payload.into()).await {
                tracing::debug!(error = %e, "a signal to the other nodes was not sent");
            }
        });
    }
}

impl Transport for Nats {
    fn publish<'a>(&'a self, events: &'a [DomainEvent]) -> Publishing<'a> {
        Box::pin(async move {
            // All sent, then all acknowledged: one round trip per batch.
            let mut acks = Vec::with_capacity(events.len());
            for event in events {
                let subject = format!("{}.events.{}.{}", self.prefix, event.account_id, event.kind.as_str());
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(async_nats::header::NATS_MESSAGE_ID, event.id.to_string().as_str());
                let payload = bytes::Bytes::from(serde_json::to_vec(event)?);
                acks.push(self.jetstream.publish_with_headers(subject, headers, payload).await?);
            }
            for ack in acks {
                ack.await?;
            }
            Ok(())
        })
    }

    fn signal(&self, signal: LiveSignal) {
        let account = match &signal {
            LiveSignal::AgentTyping { account_id, .. } | LiveSignal::VisitorTyping { account_id, .. } => *account_id,
            LiveSignal::Resync => return,
        };
        let Ok(payload) = serde_json::to_vec(&signal) else { return };
        self.send(format!("{}.live.{account}", self.prefix), payload);
    }

    fn tell_nodes(&self, signal: NodeSignal) {
        let Ok(payload) = serde_json::to_vec(&signal) else { return };
        self.send(format!("{}.nodes", self.prefix), payload);
    }

    fn name(&self) -> &'static str {
        "nats"
    }

    fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_process_publishing_reaches_this_nodes_listeners() {
        let bus = EventBus::in_process(16);
        let mut events = bus.subscribe();
        let mut signals = bus.signals();
        let account = AccountId::new();
        let segment =
            threadline_domain::event::SegmentPayload { segment_id: threadline_domain::ids::SegmentId::new(), contact_id: ContactId::new() };
        let payload = threadline_domain::event::Payload::SegmentEntered(segment);
        let event = DomainEvent::new(account, payload, time::OffsetDateTime::UNIX_EPOCH);
        bus.publish(std::slice::from_ref(&event)).await.unwrap();
        assert_eq!(*events.recv().await.unwrap(), event);
        let typing = LiveSignal::AgentTyping { account_id: account, contact_id: ContactId::new() };
        bus.signal(typing.clone());
        assert_eq!(signals.recv().await.unwrap(), typing);
    }

    #[test]
    fn signals_travel_as_tagged_json() {
        let account = AccountId::new();
        let contact = ContactId::new();
        let text = serde_json::to_string(&LiveSignal::VisitorTyping { account_id: account, contact_id: contact }).unwrap();
        assert!(text.contains(r#""type":"visitor_typing""#), "{text}");
        assert_eq!(
            serde_json::from_str::<LiveSignal>(&text).unwrap(),
            LiveSignal::VisitorTyping { account_id: account, contact_id: contact }
        );
    }
}
