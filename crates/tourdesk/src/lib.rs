//! The `tourdesk` binary's library: HTTP, jobs, CLI and web assets around the
//! service layer. `main.rs` only parses the command line and calls in here,
//! and tests start the application exactly as production does.

pub mod cli;
pub mod config;
pub mod demo;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod server;
pub mod startup;
pub mod telemetry;
pub mod web;
pub mod webhooks;
