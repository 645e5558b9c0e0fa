//! One configured MCP server: started on first need, its tool list cached until the server
//! says it changed, restarted after a crash once its backoff has passed.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, JsonObject, PaginatedRequestParams, Tool};
use rmcp::{Peer, RoleClient, ServiceError};
use tokio::sync::Mutex;
use tokio::time::{Instant, timeout};

use super::connect::{Session, connect};
use super::{content, names};
use crate::assistant::tools::{ToolOutcome, ToolSpec};
use crate::backoff::Backoff;
use crate::config::McpServerConfig;

/// Bounds on what one server may offer, so a runaway listing cannot grow without end.
const MAX_TOOLS: usize = 256;
const MAX_PAGES: usize = 32;
/// Starting may take longer than a call: `npx` may first download the server.
const MIN_STARTUP: Duration = Duration::from_secs(10);
/// How long a server is given to exit after its stdin closes, before it is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub(super) struct McpServer {
    config: McpServerConfig,
    timeout: Duration,
    /// Held while starting or listing, so concurrent first uses wait for one start; never
    /// across a tool call.
    slot: Mutex<Slot>,
}

struct Slot {
    live: Option<Live>,
    /// Restarts after a failure: 1 s, doubling to 60 s.
    backoff: Backoff,
    /// When the next start may be tried, after a failure.
    retry_at: Option<Instant>,
    shut_down: bool,
}

impl Default for Slot {
    fn default() -> Self {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        Self { live: None, backoff, retry_at: None, shut_down: false }
    }
}

impl Slot {
    /// Records a failure; returns the delay before the next start.
    fn failed(&mut self, now: Instant) -> Duration {
        let delay = self.backoff.failed();
        self.retry_at = Some(now + delay);
        delay
    }

    /// How long until the next start is allowed, if it is not yet.
    fn wait(&self, now: Instant) -> Option<Duration> {
        let retry_at = self.retry_at?;
        (retry_at > now).then(|| retry_at - now)
    }

    /// A connection was made; the streak goes on until it proves stable.
    fn connected(&mut self) {
        self.retry_at = None;
    }

    /// A connection that had been up since `since` ended at `now`. One that stayed up for the
    /// longest delay ends the streak, so a server that crashes on every call still backs off
    /// while one that crashes once a day restarts after a second.
    fn ended(&mut self, since: Instant, now: Instant) {
        if now.saturating_duration_since(since) >= self.backoff.max() {
            self.backoff.reset();
        }
    }
}

struct Live {
    session: Session,
    pid: Option<u32>,
    since: Instant,
    tools_changed: Arc<AtomicBool>,
    tools: Arc<[RemoteTool]>,
}

/// A tool as the server names it and as the model is offered it.
#[derive(Debug)]
pub(super) struct RemoteTool {
    pub name: String,
    pub spec: ToolSpec,
}

/// Why a server cannot be used right now.
#[derive(Debug)]
pub(super) enum Unavailable {
    Backoff(Duration),
    ShutDown,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Rounded up: "retrying in 0 s" would be a lie.
            Self::Backoff(wait) => {
                write!(f, "server unavailable, retrying in {} s", wait.as_millis().div_ceil(1000).max(1))
            }
            Self::ShutDown => f.write_str("server unavailable, the assistant's tools are shut down"),
        }
    }
}

impl McpServer {
    pub(super) fn new(config: McpServerConfig) -> Self {
        let timeout = Duration::from_secs(config.timeout_secs.max(1));
        Self { config, timeout, slot: Mutex::default() }
    }

    pub(super) fn name(&self) -> &str {
        &self.config.name
    }

    /// The server's tools, starting it or listing them again if needed.
    pub(super) async fn tools(&self) -> Result<Arc<[RemoteTool]>, Unavailable> {
        self.ready().await.map(|(_, tools)| tools)
    }

    /// Calls the tool offered as `exposed`. Every failure is an `is_error` outcome.
    pub(super) async fn call(&self, exposed: &str, arguments: Option<JsonObject>) -> ToolOutcome {
        let (peer, tools) = match self.ready().await {
            Ok(ready) => ready,
            Err(unavailable) => return content::error(format!("`{exposed}`: {unavailable}")),
        };
        let Some(tool) = tools.iter().find(|tool| tool.spec.name == exposed) else {
            return content::error(format!("unknown tool `{exposed}`"));
        };
        let mut params = CallToolRequestParams::new(tool.name.clone());
        if let Some(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        // A call cut short by the timeout is dropped, and rmcp tells the server it is cancelled.
        match timeout(self.timeout, peer.call_tool(params)).await {
            Ok(Ok(result)) => content::outcome(&result),
            Ok(Err(ServiceError::McpError(error))) => content::error(format!("`{exposed}` failed: {}", error.message)),
            Ok(Err(error)) => {
                tracing::warn!(server = %self.name(), tool = %tool.name, "MCP call failed: {error}");
                content::error(format!("`{exposed}` failed: {error}"))
            }
            Err(_) => content::error(format!("`{exposed}` did not answer within {} s", self.timeout.as_secs())),
        }
    }

    /// Ends the connection (and the child, for stdio) and refuses to start again.
    pub(super) async fn shutdown(&self) {
        let live = {
            let mut slot = self.slot.lock().await;
            slot.shut_down = true;
            slot.live.take()
        };
        if let Some(mut live) = live {
            // Past the grace the session is dropped, and that kills the child.
            let _ = live.session.close_with_timeout(SHUTDOWN_GRACE).await;
        }
    }

    #[cfg(test)]
    pub(super) async fn pid(&self) -> Option<u32> {
        self.slot.lock().await.live.as_ref().and_then(|live| live.pid)
    }

    async fn ready(&self) -> Result<(Peer<RoleClient>, Arc<[RemoteTool]>), Unavailable> {
        let mut slot = self.slot.lock().await;
        if slot.shut_down {
            return Err(Unavailable::ShutDown);
        }
        if let Some(live) = slot.live.take_if(|live| is_gone(&live.session)) {
            slot.ended(live.since, Instant::now());
            let why = match live.pid {
                Some(pid) => format!("process {pid} ended"),
                None => "the connection ended".to_owned(),
            };
            return Err(self.failed(&mut slot, &why));
        }
        if let Some(live) = &mut slot.live {
            if live.tools_changed.swap(false, Ordering::AcqRel) {
                match self.list(&live.session).await {
                    Ok(tools) => live.tools = tools,
                    Err(why) => {
                        let since = live.since;
                        slot.live = None;
                        slot.ended(since, Instant::now());
                        return Err(self.failed(&mut slot, &why));
                    }
                }
            }
            return Ok((live.session.peer().clone(), live.tools.clone()));
        }
        if let Some(wait) = slot.wait(Instant::now()) {
            return Err(Unavailable::Backoff(wait));
        }
        match self.start().await {
            Ok(live) => {
                if slot.backoff.streak() > 0 {
                    tracing::info!(server = %self.name(), "MCP server is back");
                }
                slot.connected();
                let ready = (live.session.peer().clone(), live.tools.clone());
                slot.live = Some(live);
                Ok(ready)
            }
            Err(why) => Err(self.failed(&mut slot, &why)),
        }
    }

    async fn start(&self) -> Result<Live, String> {
        let tools_changed = Arc::new(AtomicBool::new(false));
        let allowed = self.timeout.max(MIN_STARTUP);
        let connected = timeout(allowed, connect(&self.config, tools_changed.clone()))
            .await
            .map_err(|_| format!("no handshake within {} s", allowed.as_secs()))??;
        let tools = self.list(&connected.session).await?;
        tracing::info!(server = %self.name(), tools = tools.len(), "MCP server started");
        Ok(Live { session: connected.session, pid: connected.pid, since: Instant::now(), tools_changed, tools })
    }

    async fn list(&self, session: &Session) -> Result<Arc<[RemoteTool]>, String> {
        let offers_tools = session.peer().peer_info().is_some_and(|i| i.capabilities.tools.is_some());
        if !offers_tools {
            return Ok(Arc::new([]));
        }
        timeout(self.timeout, self.list_pages(session.peer()))
            .await
            .map_err(|_| format!("tools/list not answered within {} s", self.timeout.as_secs()))?
    }

    async fn list_pages(&self, peer: &Peer<RoleClient>) -> Result<Arc<[RemoteTool]>, String> {
        let mut tools = Vec::new();
        let mut seen = HashSet::new();
        let mut cursor = None;
        for _ in 0..MAX_PAGES {
            let params = cursor.take().map(|c| PaginatedRequestParams::default().with_cursor(Some(c)));
            let page = peer.list_tools(params).await.map_err(|e| format!("tools/list: {e}"))?;
            for tool in page.tools {
                if tools.len() == MAX_TOOLS {
                    tracing::warn!(server = %self.name(), "MCP server offers over {MAX_TOOLS} tools; the rest are ignored");
                    return Ok(tools.into());
                }
                tools.extend(self.remote(tool, &mut seen));
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(tools.into()),
            }
        }
        tracing::warn!(server = %self.name(), "MCP server lists over {MAX_PAGES} pages of tools; the rest are ignored");
        Ok(tools.into())
    }

    fn remote(&self, tool: Tool, seen: &mut HashSet<String>) -> Option<RemoteTool> {
        let Some(exposed) = names::exposed(self.name(), &tool.name).filter(|n| seen.insert(n.clone())) else {
            tracing::warn!(server = %self.name(), tool = %tool.name, "MCP tool skipped: its name is too long or clashes once rewritten");
            return None;
        };
        let description = tool.description.map(|d| d.into_owned()).or(tool.title).unwrap_or_default();
        let parameters = serde_json::Value::Object(tool.input_schema.as_ref().clone());
        Some(RemoteTool { name: tool.name.into_owned(), spec: ToolSpec { name: exposed, description, parameters } })
    }

    /// Records a failure; the first of a streak is a warning, the repeats are not.
    fn failed(&self, slot: &mut Slot, why: &str) -> Unavailable {
        let delay = slot.failed(Instant::now());
        let attempt = slot.backoff.streak();
        if attempt == 1 {
            tracing::warn!(server = %self.name(), "MCP server unavailable: {why}; retrying in {} s, backing off to 60 s", delay.as_secs());
        } else {
            tracing::debug!(server = %self.name(), attempt, "MCP server still unavailable: {why}; retrying in {} s", delay.as_secs());
        }
        Unavailable::Backoff(delay)
    }
}

fn is_gone(session: &Session) -> bool {
    session.is_closed() || session.peer().is_transport_closed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_holds_the_next_start_back_for_its_delay() {
        let now = Instant::now();
        let mut slot = Slot::default();
        assert_eq!(slot.wait(now), None);
        let delays: Vec<u64> = (0..8).map(|_| slot.failed(now).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(slot.wait(now), Some(Duration::from_secs(60)));
        assert_eq!(slot.wait(now + Duration::from_secs(60)), None);
    }

    #[test]
    fn a_short_lived_connection_keeps_the_streak_a_long_one_ends_it() {
        let start = Instant::now();
        let mut slot = Slot::default();
        slot.failed(start);
        slot.connected();
        assert_eq!(slot.wait(start), None);
        slot.ended(start, start + Duration::from_secs(5));
        assert_eq!(slot.failed(start).as_secs(), 2);
        slot.connected();
        slot.ended(start, start + Duration::from_secs(60));
        assert_eq!(slot.failed(start).as_secs(), 1);
    }
}
