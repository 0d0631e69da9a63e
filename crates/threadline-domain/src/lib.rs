//! Threadline's domain core: the types and rules of a customer-engagement
//! platform where the conversation belongs to the customer, not to a channel.
//!
//! This crate does no I/O: no database, no network, no clock it reads by
//! itself (callers pass `now`). Everything here is plain data and pure
//! functions, so the rules that matter most — identity normalisation,
//! conversation continuity across channels, permissions, webhook signatures —
//! are tested in isolation and fast.

pub mod after_sales;
pub mod audit;
pub mod automation;
pub mod backlog;
pub mod bot;
pub mod canned;
pub mod channel;
pub mod contact;
pub mod conversation;
pub mod distinct;
pub mod event;
pub mod html;
pub mod identity;
pub mod ids;
pub mod ingest;
pub mod interaction;
pub mod journey;
pub mod knowledge;
pub mod mention;
pub mod message;
pub mod metrics;
pub mod order;
pub mod portal;
pub mod push;
pub mod reply;
pub mod retention;
pub mod role;
pub mod routing;
pub mod segment;
pub mod sla;
pub mod sms;
pub mod survey;
pub mod tally;
pub mod task;
pub mod template;
pub mod text;
pub mod timeline;
pub mod tracking;
pub mod triage;
pub mod validation;
pub mod voice;
pub mod webhook;
pub mod workload;

pub use channel::Channel;
pub use identity::{IdentityKind, NormalizedIdentity};
pub use ids::*;
pub use validation::{FieldError, ValidationErrors};
