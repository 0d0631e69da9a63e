//! Threadline's server: the REST API (`/api/v1`, described by an OpenAPI 3.1
//! document generated from these handlers), authentication, configuration
//! and the background workers, over one [`threadline_store::Store`].
//!
//! The path of an inbound message through this crate: a channel
//! (`api::inboxes`, `channels::hooks`, `email`, `widget`) verifies and
//! parses it → `inbound::receive` reads it (`triage`) and picks its team
//! (`routing`) → `threadline_store::Store::ingest_inbound` commits it with
//! its events and any bot job → the `relay` hands the committed events to
//! the `bus::EventBus` (live pages on every node) → the
//! `webhook_dispatcher` delivers them from its durable queue, the router
//! assigns the team's queue, the `bot` worker answers if a bot has the
//! conversation, and the `sla` worker watches its clocks.

pub mod after_sales;
pub mod api;
pub mod app;
pub mod auth;
pub mod auto_resolve;
pub mod automations;
pub mod bot;
pub mod bus;
pub mod cache;
pub mod channels;
pub mod checkpoints;
pub mod clock;
pub mod config;
pub mod csv;
pub mod egress;
pub mod email;
pub mod error;
pub mod inbound;
pub mod jobs;
pub mod journeys;
pub mod knowledge;
pub mod metrics;
pub mod nodes;
pub mod orders;
pub mod portal;
pub mod privacy;
pub mod push;
pub mod rate_limit;
pub mod relay;
pub mod retention;
pub mod routing;
pub mod scheduled;
pub mod secrets;
pub mod segments;
pub mod sla;
pub mod surveys;
pub mod telemetry;
pub mod tracking;
pub mod triage;
pub mod voice;
pub mod web;
pub mod webhook_dispatcher;
pub mod widget;

pub use app::{AppState, Running, start};
pub use config::Settings;
