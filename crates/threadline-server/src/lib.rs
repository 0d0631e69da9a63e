//! Threadline's server: the REST API (`/api/v1`, described by an OpenAPI 3.1
//! document generated from these handlers), authentication, configuration
//! and the background workers, over one [`threadline_store::Store`].
//!
//! The path of an inbound message through this crate: `api::inboxes`
//! validates the request → `threadline_store::Store::ingest_inbound` commits
//! it with its events → `bus::EventBus` publishes them → the
//! `webhook_dispatcher` delivers them from its durable queue.

pub mod api;
pub mod app;
pub mod auth;
pub mod bus;
pub mod cache;
pub mod channels;
pub mod config;
pub mod email;
pub mod error;
pub mod rate_limit;
pub mod secrets;
pub mod web;
pub mod webhook_dispatcher;
pub mod widget;

pub use app::{AppState, Running, start};
pub use config::Settings;
