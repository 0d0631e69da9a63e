//! API integration tests: the real server on a random port, over HTTP, each
//! test once on SQLite and once on PostgreSQL. One test binary keeps link
//! time down.

mod auth;
mod bad_input;
mod canned;
mod contacts;
mod continuity;
mod conversations;
mod idempotency;
mod mentions;
mod search;
mod settings;
mod tenancy;
mod views;
mod webhooks;
