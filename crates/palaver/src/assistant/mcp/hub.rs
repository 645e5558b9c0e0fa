//! Every configured MCP server behind one name space of tools.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::future::join_all;
use rmcp::model::JsonObject;
use serde_json::Value;

use super::server::McpServer;
use super::{content, names};
use crate::assistant::tools::{ToolOutcome, ToolSpec};
use crate::config::McpServerConfig;

/// The assistant's MCP servers. Cheap to clone; clones share the servers.
#[derive(Clone)]
pub struct McpHub {
    servers: Arc<[McpServer]>,
}

impl McpHub {
    /// Takes the configuration only: servers start on first need.
    pub fn new(servers: Vec<McpServerConfig>) -> Self {
        let mut seen = HashSet::new();
        let mut kept = Vec::with_capacity(servers.len());
        for config in servers {
            if let Some(problem) = names::server_name_problem(&config.name) {
                tracing::error!(server = %config.name, "MCP server ignored: its name {problem}");
            } else if !seen.insert(config.name.clone()) {
                tracing::error!(server = %config.name, "MCP server ignored: the name is used twice");
            } else {
                kept.push(McpServer::new(config));
            }
        }
        Self { servers: kept.into() }
    }

    /// Every tool of every server that is up, named `<server>__<tool>`. A server that cannot
    /// be started is left out until its backoff has passed.
    pub async fn tools(&self) -> Vec<ToolSpec> {
        let lists = join_all(self.servers.iter().map(McpServer::tools)).await;
        lists
            .iter()
            .filter_map(|list| list.as_ref().ok())
            .flat_map(|tools| tools.iter().map(|tool| tool.spec.clone()))
            .collect()
    }

    /// Runs a tool the model asked for. `arguments` is the model's JSON text. Never fails:
    /// whatever goes wrong is an `is_error` outcome the model can read.
    pub async fn call(&self, name: &str, arguments: &str) -> ToolOutcome {
        let server = names::split(name).and_then(|(server, _)| self.servers.iter().find(|s| s.name() == server));
        let Some(server) = server else {
            return content::error(format!("unknown tool `{name}`"));
        };
        match parse_arguments(arguments) {
            Ok(arguments) => server.call(name, arguments).await,
            Err(why) => content::error(format!("`{name}` was not called: {why}")),
        }
    }

    /// Ends every connection and child process; the hub starts nothing afterwards.
    pub async fn shutdown(&self) {
        join_all(self.servers.iter().map(McpServer::shutdown)).await;
    }

    #[cfg(test)]
    pub(super) async fn pid(&self, server: &str) -> Option<u32> {
        self.servers.iter().find(|s| s.name() == server)?.pid().await
    }
}

impl std::fmt::Debug for McpHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.servers.iter().map(McpServer::name)).finish()
    }
}

/// Models send `""` or `{}` for a tool without parameters; anything but an object is refused
/// here rather than by the server.
fn parse_arguments(text: &str) -> Result<Option<JsonObject>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    match serde_json::from_str(text) {
        Ok(Value::Object(arguments)) => Ok(Some(arguments)),
        Ok(Value::Null) => Ok(None),
        Ok(_) => Err("the arguments must be a JSON object".into()),
        Err(e) => Err(format!("the arguments are not valid JSON ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_must_be_an_object_or_nothing() {
        assert_eq!(parse_arguments(" ").unwrap(), None);
        assert_eq!(parse_arguments("null").unwrap(), None);
        assert_eq!(parse_arguments(r#"{"a":1}"#).unwrap().unwrap()["a"], 1);
        assert!(parse_arguments("[1]").unwrap_err().contains("object"));
        assert!(parse_arguments(r#"{"a":"#).unwrap_err().contains("not valid JSON"));
    }
}
