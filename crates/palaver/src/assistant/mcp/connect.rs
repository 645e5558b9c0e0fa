//! Opening one connection to an MCP server: a child process over stdio, or streamable HTTP.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ServerNotification, SubscriptionFilter};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use tokio::process::{ChildStderr, Command};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

use super::content::MAX_OUTPUT_BYTES;
use crate::config::McpServerConfig;

/// What a child inherits from our environment, as the MCP SDKs do: enough to find programs
/// and a home, and none of our secrets. The server's configured `env` comes on top.
const INHERITED_ENV: &[&str] = &["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"];
/// A longer stderr line is dropped, not buffered.
const MAX_STDERR_LINE: usize = 8 * 1024;
/// A JSON response over HTTP is refused past this; a result past `MAX_OUTPUT_BYTES` would be
/// cut anyway, the headroom is for JSON escaping and base64 images we only name.
const MAX_HTTP_RESPONSE: usize = 16 * MAX_OUTPUT_BYTES;

pub(super) type Session = RunningService<RoleClient, ClientEvents>;

pub(super) struct Connected {
    pub session: Session,
    /// The child's pid, for stdio servers.
    pub pid: Option<u32>,
}

/// Connects and completes the MCP handshake. `tools_changed` is set whenever the server says
/// its tool list changed.
pub(super) async fn connect(config: &McpServerConfig, tools_changed: Arc<AtomicBool>) -> Result<Connected, String> {
    let events = ClientEvents { tools_changed };
    let connected = match (&config.command, &config.url) {
        (Some(command), None) => {
            let (transport, stderr) = TokioChildProcess::builder(child_command(config, command))
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start `{command}`: {e}"))?;
            let pid = transport.id();
            if let Some(stderr) = stderr {
                tokio::spawn(forward_stderr(config.name.clone(), stderr));
            }
            let session = events.serve(transport).await.map_err(|e| e.to_string())?;
            Connected { session, pid }
        }
        (None, Some(url)) => {
            let transport = StreamableHttpClientTransport::from_config(
                StreamableHttpClientTransportConfig::with_uri(url.as_str()).max_json_response_size(MAX_HTTP_RESPONSE),
            );
            let session = events.serve(transport).await.map_err(|e| e.to_string())?;
            Connected { session, pid: None }
        }
        _ => return Err("needs exactly one of `command` and `url`".into()),
    };
    listen_for_tool_changes(&connected.session);
    Ok(connected)
}

fn child_command(config: &McpServerConfig, command: &str) -> process_wrap::tokio::CommandWrap {
    let mut cmd = Command::new(command);
    cmd.args(&config.args).env_clear();
    for key in INHERITED_ENV {
        if let Some(value) = std::env::var_os(key) {
            cmd.env(key, value);
        }
    }
    cmd.envs(&config.env).kill_on_drop(true);
    let mut wrapped = process_wrap::tokio::CommandWrap::from(cmd);
    // Its own process group: killing it also ends what it started (`npx` runs node under
    // it), and a Ctrl-C meant for us is not delivered to it first.
    #[cfg(unix)]
    wrapped.wrap(process_wrap::tokio::ProcessGroup::leader());
    wrapped.wrap(process_wrap::tokio::KillOnDrop);
    wrapped
}

/// A child's stderr is its log: into ours, line by line, never onto the terminal.
async fn forward_stderr(server: String, stderr: ChildStderr) {
    let mut lines = FramedRead::new(stderr, LinesCodec::new_with_max_length(MAX_STDERR_LINE));
    while let Some(line) = lines.next().await {
        match line {
            Ok(line) if looks_like_trouble(&line) => tracing::warn!(%server, "stderr: {line}"),
            Ok(line) => tracing::debug!(%server, "stderr: {line}"),
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                tracing::debug!(%server, "stderr: line over {MAX_STDERR_LINE} bytes dropped");
            }
            Err(LinesCodecError::Io(e)) => {
                tracing::debug!(%server, "stderr unreadable: {e}");
                break;
            }
        }
    }
}

fn looks_like_trouble(line: &str) -> bool {
    let line = line.to_ascii_lowercase();
    ["error", "panic", "fatal", "exception"].iter().any(|word| line.contains(word))
}

/// Servers on protocol 2026-07-28 send list changes only on a stream asked for by name;
/// older ones send them unasked, to `ClientEvents`.
fn listen_for_tool_changes(session: &Session) {
    let Some(info) = session.peer().peer_info() else { return };
    let announces = info.capabilities.tools.as_ref().and_then(|t| t.list_changed);
    if info.protocol_version.has_initialize() || announces != Some(true) {
        return;
    }
    let peer = session.peer().clone();
    let flag = session.service().tools_changed.clone();
    tokio::spawn(async move {
        let filter = SubscriptionFilter::builder().tools_list_changed().build();
        let Ok(mut subscription) = peer.listen(filter).await else { return };
        // Ends with the connection.
        while let Ok(Some(notification)) = subscription.next().await {
            if matches!(notification, ServerNotification::ToolListChangedNotification(_)) {
                flag.store(true, Ordering::Release);
            }
        }
    });
}

/// How we present ourselves, and what we do with the server's notifications.
pub(super) struct ClientEvents {
    tools_changed: Arc<AtomicBool>,
}

impl ClientHandler for ClientEvents {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tools_changed.store(true, Ordering::Release);
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(ClientCapabilities::default(), Implementation::new("palaver", env!("CARGO_PKG_VERSION")))
    }
}
