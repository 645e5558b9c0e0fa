//! Against a real MCP server: `@modelcontextprotocol/server-everything`, installed by
//! `.ci/mcp-servers`, which prints the `PALAVER_TEST_MCP_EVERYTHING` these tests read.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::McpHub;
use crate::config::McpServerConfig;

#[path = "../../../tests/api/helpers/mcp_server.rs"]
mod mcp_server;

fn everything_entry() -> String {
    mcp_server::mcp_everything_entry()
}

fn stdio(name: &str, timeout_secs: u64) -> McpServerConfig {
    McpServerConfig {
        name: name.into(),
        command: Some("node".into()),
        args: vec![everything_entry(), "stdio".into()],
        env: BTreeMap::new(),
        url: None,
        timeout_secs,
    }
}

fn everything(timeout_secs: u64) -> McpHub {
    McpHub::new(vec![stdio("everything", timeout_secs)])
}

#[tokio::test]
async fn tools_are_listed_under_the_server_name() {
    let hub = everything(10);
    let tools = hub.tools().await;
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"everything__echo"), "{names:?}");
    assert!(names.contains(&"everything__get-sum"), "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("everything__")), "{names:?}");
    let sum = tools.iter().find(|t| t.name == "everything__get-sum").unwrap();
    assert_eq!(sum.description, "Returns the sum of two numbers");
    assert_eq!(sum.parameters["type"], "object");
    assert!(sum.parameters["properties"]["a"].is_object(), "{}", sum.parameters);
    hub.shutdown().await;
}

/// A server whose tool list grows when its `grow` tool is called (a fixture on the official
/// TypeScript SDK, which `.ci/mcp-servers` installs with the `everything` server).
fn growing() -> McpHub {
    let everything = everything_entry();
    // <cache>/node_modules/@modelcontextprotocol/server-everything/dist/index.js -> .../sdk
    let sdk = std::path::Path::new(&everything).ancestors().nth(3).map(|scope| scope.join("sdk"));
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mcp_growing.mjs");
    McpHub::new(vec![McpServerConfig {
        name: "growing".into(),
        command: Some("node".into()),
        args: vec![fixture.into(), sdk.unwrap_or_default().display().to_string()],
        env: BTreeMap::new(),
        url: None,
        timeout_secs: 10,
    }])
}

#[tokio::test]
async fn a_changed_tool_list_is_picked_up_without_a_restart() {
    let hub = growing();
    let names = |tools: Vec<crate::assistant::tools::ToolSpec>| tools.into_iter().map(|t| t.name).collect::<Vec<_>>();
    assert_eq!(names(hub.tools().await), ["growing__grow"]);
    let grew = hub.call("growing__grow", "{}").await;
    assert!(!grew.is_error, "{grew:?}");
    // The server announces the change; the cached list is refreshed from it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut now = names(hub.tools().await);
    while now.len() < 2 && Instant::now() < deadline {
        sleep(Duration::from_millis(50)).await;
        now = names(hub.tools().await);
    }
    assert_eq!(now, ["growing__grow", "growing__grown"]);
    let grown = hub.call("growing__grown", "{}").await;
    assert_eq!((grown.is_error, grown.content.as_str()), (false, "I am new"));
    hub.shutdown().await;
}

#[tokio::test]
async fn echo_and_sum_answer_through_call() {
    let hub = everything(10);
    // No tools() first: a call starts the server too.
    let echo = hub.call("everything__echo", r#"{"message":"hello, palaver"}"#).await;
    assert!(!echo.is_error, "{echo:?}");
    assert_eq!(echo.content, "Echo: hello, palaver");
    let sum = hub.call("everything__get-sum", r#"{"a": 2, "b": 40}"#).await;
    assert!(!sum.is_error, "{sum:?}");
    assert_eq!(sum.content, "The sum of 2 and 40 is 42.");
    hub.shutdown().await;
}

#[tokio::test]
async fn images_are_named_not_pasted() {
    let hub = everything(10);
    let outcome = hub.call("everything__get-tiny-image", "{}").await;
    assert!(!outcome.is_error, "{outcome:?}");
    assert!(outcome.content.contains("[image: image/png]"), "{outcome:?}");
    assert!(outcome.content.len() < 1024, "base64 leaked into the text: {outcome:?}");
    hub.shutdown().await;
}

#[tokio::test]
async fn a_huge_result_is_truncated_and_says_so() {
    let hub = everything(10);
    let message = "x".repeat(200 * 1024);
    let arguments = serde_json::json!({ "message": message }).to_string();
    let outcome = hub.call("everything__echo", &arguments).await;
    assert!(!outcome.is_error, "{:?}", &outcome.content[..200]);
    let (kept, note) = outcome.content.split_once("\n[output truncated: ").unwrap();
    assert_eq!(kept.len(), super::content::MAX_OUTPUT_BYTES);
    assert!(kept.starts_with("Echo: xxx"));
    assert_eq!(note, format!("65536 of {} bytes shown]", "Echo: ".len() + message.len()));
    hub.shutdown().await;
}

#[tokio::test]
async fn bad_arguments_are_errors_the_model_can_read() {
    let hub = everything(10);
    let wrong_type = hub.call("everything__get-sum", r#"{"a": "two", "b": 1}"#).await;
    assert!(wrong_type.is_error, "{wrong_type:?}");
    assert!(!wrong_type.content.is_empty());
    let not_json = hub.call("everything__get-sum", r#"{"a": 2,"#).await;
    assert!(not_json.is_error, "{not_json:?}");
    assert!(not_json.content.contains("not valid JSON"), "{not_json:?}");
    let not_object = hub.call("everything__get-sum", "[2, 3]").await;
    assert!(not_object.is_error && not_object.content.contains("JSON object"), "{not_object:?}");
    // The server is still fine after all that.
    let sum = hub.call("everything__get-sum", r#"{"a": 1, "b": 1}"#).await;
    assert_eq!(sum.content, "The sum of 1 and 1 is 2.");
    hub.shutdown().await;
}

#[tokio::test]
async fn unknown_tools_are_errors() {
    let hub = everything(10);
    for name in ["everything__no-such-tool", "nobody__echo", "echo", ""] {
        let outcome = hub.call(name, "{}").await;
        assert!(outcome.is_error, "{name}: {outcome:?}");
        assert!(outcome.content.contains("unknown tool"), "{name}: {outcome:?}");
    }
    hub.shutdown().await;
}

#[tokio::test]
async fn a_call_past_the_timeout_is_an_error_and_the_server_stays_usable() {
    let hub = everything(1);
    assert!(!hub.tools().await.is_empty());
    let started = Instant::now();
    let slow = hub.call("everything__trigger-long-running-operation", r#"{"duration": 5, "steps": 1}"#).await;
    let waited = started.elapsed();
    assert!(slow.is_error, "{slow:?}");
    assert!(slow.content.contains("did not answer within 1 s"), "{slow:?}");
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(3), "{waited:?}");
    let echo = hub.call("everything__echo", r#"{"message":"still here"}"#).await;
    assert_eq!(echo.content, "Echo: still here");
    hub.shutdown().await;
}

#[tokio::test]
async fn a_killed_server_is_restarted_after_its_backoff() {
    let hub = everything(10);
    assert!(!hub.tools().await.is_empty());
    let pid = hub.pid("everything").await.expect("a stdio server has a pid");
    let killed_at = Instant::now();
    let raw = i32::try_from(pid).unwrap();
    rustix::process::kill_process(rustix::process::Pid::from_raw(raw).unwrap(), rustix::process::Signal::KILL).unwrap();

    let mut saw_backoff = false;
    let recovered = loop {
        let outcome = hub.call("everything__echo", r#"{"message":"again"}"#).await;
        if !outcome.is_error {
            break outcome;
        }
        if outcome.content.contains("server unavailable, retrying in") {
            saw_backoff = true;
            // While it backs off, its tools are not offered.
            assert!(hub.tools().await.is_empty());
        }
        assert!(killed_at.elapsed() < Duration::from_secs(15), "not restarted: {outcome:?}");
        sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(recovered.content, "Echo: again");
    assert!(saw_backoff, "no call was told the server is backing off");
    assert!(killed_at.elapsed() >= Duration::from_millis(900), "restarted before its backoff");
    let new_pid = hub.pid("everything").await.unwrap();
    assert_ne!(new_pid, pid);
    hub.shutdown().await;
}

#[tokio::test]
async fn a_server_that_cannot_start_is_skipped_and_its_calls_fail() {
    let missing = McpServerConfig {
        command: Some("/nonexistent/palaver-test-no-such-mcp-server".into()),
        args: vec![],
        ..stdio("ghost", 10)
    };
    let hub = McpHub::new(vec![missing, stdio("everything", 10)]);
    for _ in 0..2 {
        let tools = hub.tools().await;
        assert!(tools.iter().any(|t| t.name == "everything__echo"));
        assert!(tools.iter().all(|t| !t.name.starts_with("ghost__")), "{tools:?}");
    }
    let outcome = hub.call("ghost__echo", r#"{"message":"boo"}"#).await;
    assert!(outcome.is_error, "{outcome:?}");
    assert!(outcome.content.contains("server unavailable, retrying in"), "{outcome:?}");
    hub.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_the_child_and_nothing_starts_after() {
    let hub = everything(10);
    assert!(!hub.tools().await.is_empty());
    let pid = hub.pid("everything").await.unwrap();
    hub.shutdown().await;
    let proc_dir = format!("/proc/{pid}");
    let gone = Instant::now();
    // The process is reaped by its wrapper once it exits; give that a moment.
    while std::path::Path::new(&proc_dir).exists() {
        assert!(gone.elapsed() < Duration::from_secs(5), "child {pid} outlived shutdown");
        sleep(Duration::from_millis(50)).await;
    }
    assert!(hub.tools().await.is_empty());
    let outcome = hub.call("everything__echo", r#"{"message":"late"}"#).await;
    assert!(outcome.is_error && outcome.content.contains("shut down"), "{outcome:?}");
}

/// Loaded into node before the server: binds whatever it listens on to loopback, and reports
/// the port it got (the server itself only listens on every address, on `PORT`).
const LOOPBACK_PRELOAD: &str = r#"
import net from "node:net";
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (port, ...rest) {
  this.once("listening", () => console.error(`PALAVER_TEST_PORT=${this.address().port}`));
  const callback = rest.find((arg) => typeof arg === "function");
  return listen.call(this, Number(port), "127.0.0.1", callback);
};
"#;

/// The `everything` server in streamable-HTTP mode on a loopback port, killed on drop.
async fn everything_over_http() -> (tokio::process::Child, u16) {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let preload = tempfile::Builder::new().suffix(".mjs").tempfile().unwrap();
    std::fs::write(preload.path(), LOOPBACK_PRELOAD).unwrap();
    let mut child = tokio::process::Command::new("node")
        .arg("--import")
        .arg(preload.path())
        .arg(everything_entry())
        .arg("streamableHttp")
        .env("PORT", "0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(port) = line.strip_prefix("PALAVER_TEST_PORT=") {
                return port.parse::<u16>().unwrap();
            }
        }
        panic!("the HTTP server exited before listening");
    })
    .await
    .expect("the HTTP server did not listen within 10 s");
    // Keep reading so a chatty server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, port)
}

#[tokio::test]
async fn streamable_http_servers_work_like_stdio_ones() {
    let (_server, port) = everything_over_http().await;
    let config = McpServerConfig {
        name: "web".into(),
        command: None,
        args: vec![],
        env: BTreeMap::new(),
        url: Some(format!("http://127.0.0.1:{port}/mcp")),
        timeout_secs: 10,
    };
    let hub = McpHub::new(vec![config]);
    let tools = hub.tools().await;
    assert!(tools.iter().any(|t| t.name == "web__get-sum"), "{tools:?}");
    let sum = hub.call("web__get-sum", r#"{"a": 20, "b": 22}"#).await;
    assert_eq!(sum.content, "The sum of 20 and 22 is 42.");
    assert!(!sum.is_error);
    let bad = hub.call("web__get-sum", r#"{"a": []}"#).await;
    assert!(bad.is_error, "{bad:?}");
    hub.shutdown().await;
}
