//! HTTP tests: the real application over real HTTP, on SQLite and on
//! PostgreSQL. One binary keeps link time down.

mod helpers;

mod accounts;
mod availability;
mod bookings;
mod branding;
mod browser;
mod browser_axe;
mod browser_console;
mod browser_csp;
mod browser_grid;
mod browser_guarantee;
mod browser_reports;
mod browser_rules;
mod browser_sessions;
mod browser_webhooks;
mod browser_widget;
mod calendar_files;
mod catalog;
mod console_api;
mod contract;
mod email;
mod extras;
mod foundation;
mod fuzz;
mod guarantee;
mod interleave;
mod operator_rules;
mod race;
mod reports;
mod retention;
mod security;
mod sessions;
mod snapshots;
mod storage;
mod waitlist;
mod webhooks;
mod writepath;
mod xss;

/// A real HTTP server receiving signed webhooks (shared with the process tests).
#[path = "../support/webhook_receiver.rs"]
mod webhook_receiver;

/// An SMTP server receiving email (shared with the process tests).
#[path = "../support/smtp_sink.rs"]
mod smtp_sink;
