//! Tools from MCP servers (Model Context Protocol), through the `rmcp` client.
//!
//! `hub` offers every server's tools under one name space and routes calls; `server` keeps one
//! server's connection (lazy start, tool cache, restart with the crate's `Backoff`); `connect` opens it
//! over stdio or streamable HTTP; `content` turns results into bounded text for the model.

mod connect;
mod content;
mod hub;
mod names;
mod server;
#[cfg(test)]
mod tests;

pub use hub::McpHub;
