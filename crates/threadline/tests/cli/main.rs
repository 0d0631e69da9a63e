//! Tests of the `threadline` binary as a user runs it: its commands, and
//! durability when the process is killed under load, and several nodes
//! behind a load balancer.

mod backup;
mod cluster;
mod commands;
mod durability;
mod hardening;
mod journey_chaos;
mod package;
