//! API integration tests: the real server on a random port, over HTTP, each
//! test once on SQLite and once on PostgreSQL. One test binary keeps link
//! time down.

mod audit;
mod auth;
mod bad_input;
mod bots;
mod canned;
mod checkpoints;
mod conformance;
mod contacts;
mod continuity;
mod conversations;
mod egress;
mod follow_ups;
mod idempotency;
mod jobs;
mod knowledge;
mod mentions;
mod metrics;
mod nul;
mod orders;
mod prometheus;
mod relay;
mod retention;
mod routing;
mod search;
mod settings;
mod sign_in;
mod sla;
mod surveys;
mod tenancy;
mod tracking;
mod triage;
mod views;
mod webhooks;
mod workload;
