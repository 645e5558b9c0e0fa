//! Palaver: a real-time chat server. `main.rs` parses the command line; everything else
//! lives here so the tests start the app exactly as the binary does.

pub mod app;
pub mod assistant;
pub mod auth;
pub mod backoff;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod fd_limit;
pub mod http;
pub mod private_fs;
pub mod ratelimit;
pub mod realtime;
pub mod search;
pub mod server;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod uploads;
pub mod workers;
pub mod ws;
