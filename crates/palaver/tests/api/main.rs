//! Black-box tests of the public contract (`docs/rest.md`, `docs/protocol.md`): the real app on `127.0.0.1:0`, spoken
//! to over HTTP. One binary, so one link step; every behaviour test runs on SQLite and on
//! PostgreSQL (`PALAVER_TEST_DATABASE_URL`).

#[macro_use]
mod helpers;

mod accounts;
mod assistant;
mod auth;
mod bots;
mod browser;
mod cli;
mod cluster;
mod connections;
mod conversations;
mod dms;
mod errors;
mod fuzzed;
mod history;
mod image_messages;
mod members;
mod messages;
mod notifications;
mod openapi;
mod ops;
mod outage;
mod privacy;
mod reactions;
mod rooms;
mod search;
mod seqs;
mod stored_values;
mod text_input;
mod threads;
mod tokens;
mod unread;
mod uploads;
mod users;
mod web_client;
mod web_modules;
mod write_budget;
mod ws_auth;
mod ws_events;
mod ws_presence;
mod ws_resume;
mod ws_robustness;
