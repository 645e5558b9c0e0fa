//! The web client in a real browser: `web/tests/browser.mjs` drives Debian's chromium
//! through playwright-core against the real `palaver serve` on SQLite, with the fake LLM
//! and the MCP `everything` server behind the assistant. The script exits non-zero when a
//! scenario fails; its output is printed here.
//!
//! Needs `chromium` (`.ci/run` installs it) and playwright-core (`.ci/playwright`, run by
//! `.ci/test`). With `CI=true` a missing one fails the test; elsewhere it is skipped, loudly.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{FakeLlm, FakeReply, Server, content_chunk, mcp_everything_entry, not_run, palaver};

/// The whole browser suite; generous, as a debug build on two shared cores is slow.
const SUITE_LIMIT: Duration = Duration::from_secs(300);

/// The access-token lifetime the server runs with: short, so that every page outlives
/// several tokens (silent refreshes, sockets closed with 1008 and reopened) and one
/// scenario waits past an expiry; long enough that a refresh, due at 80 %, is never late.
const ACCESS_TTL_SECS: u64 = 30;

/// What the suite needs, or why it cannot run.
fn tools() -> Result<(PathBuf, PathBuf), String> {
    let chromium = PathBuf::from(std::env::var("PALAVER_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if !chromium.exists() {
        return Err(format!("no chromium at {} (apt-get install chromium, as .ci/run does)", chromium.display()));
    }
    let playwright = std::env::var("PALAVER_TEST_PLAYWRIGHT").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/palaver-playwright/node_modules/playwright-core")
    });
    if !playwright.join("package.json").exists() {
        return Err(format!(
            "no playwright-core at {} (.ci/playwright installs it; .ci/test runs that)",
            playwright.display()
        ));
    }
    Ok((chromium, playwright))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_client_works_in_a_real_browser() {
    let (chromium, playwright) = match tools() {
        Ok(found) => found,
        Err(missing) => {
            not_run("the_web_client_works_in_a_real_browser", &missing);
            return;
        }
    };

    // The assistant's replies, in the order the script asks: a tool call then a long slow
    // answer that gets stopped; then a slow answer the page reloads in the middle of.
    let llm = FakeLlm::scripted().await.unwrap();
    llm.push(FakeReply::tool_calls(&[("call_1", "everything__get-sum", r#"{"a": 2, "b": 40}"#)]));
    let mut stopped = vec![
        "**The sum** is 42. ".to_owned(),
        "Unsafe: <img src=x onerror=alert(1)> <script>alert(2)</script> ".to_owned(),
        "\n\n```js\nconst answer = 2 + 40;\n```\n\n".to_owned(),
    ];
    stopped.extend((0..200).map(|n| format!("word{n} ")));
    let pieces: Vec<&str> = stopped.iter().map(String::as_str).collect();
    llm.push(FakeReply::text(&pieces).delay(Duration::from_millis(60)));
    let mut resumed: Vec<String> = (0..40).map(|n| format!("part{n} ")).collect();
    resumed.push("THE END.".to_owned());
    let pieces: Vec<&str> = resumed.iter().map(String::as_str).collect();
    llm.push(FakeReply::text(&pieces).delay(Duration::from_millis(100)));
    llm.always(FakeReply::chunks([content_chunk("ok")]));

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("palaver.toml");
    let mcp = mcp_everything_entry();
    std::fs::write(
        &config,
        format!(
            "[limits]\nwrites_per_sec = 1000\nwrite_burst = 1000\nauth_per_sec = 100\nauth_burst = 1000\n\n\
             [llm]\nbase_url = {:?}\nmodel = \"fake\"\nsends_per_minute = 100\n\n\
             [[mcp.servers]]\nname = \"everything\"\ncommand = \"node\"\nargs = [{mcp:?}, \"stdio\"]\n",
            llm.base_url()
        ),
    )
    .unwrap();
    let mut command = palaver(dir.path());
    command
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .env("PALAVER_BIND", "127.0.0.1:0")
        .env("PALAVER_AUTH_ACCESS_TTL_SECS", ACCESS_TTL_SECS.to_string());
    let server = Server::start(command);

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web/tests/browser.mjs");
    let mut node = Command::new("node");
    node.arg(&script)
        .env("PALAVER_URL", server.url(""))
        .env("CHROMIUM", &chromium)
        .env("PLAYWRIGHT", &playwright)
        .env("ACCESS_TTL_SECS", ACCESS_TTL_SECS.to_string());
    if let Ok(dir) = std::env::var("PALAVER_TEST_SCREENSHOTS") {
        // Relative to the repository root, as the docs give it.
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(dir);
        node.env("SCREENSHOTS", dir);
    }
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || run_with_limit(node, SUITE_LIMIT)).await.unwrap();
    let took = started.elapsed();
    let (status, stdout, stderr) = output;
    println!("browser suite ({took:.1?}):\n{stdout}\n{stderr}");
    if !status.is_some_and(|status| status.success()) {
        let log = server.stderr.lock().unwrap().clone();
        let tail: String =
            log.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        panic!(
            "the browser suite failed ({status:?}; None: killed at the time limit) after {took:.1?}\n{stdout}\n{stderr}\nserver log (end):\n{tail}"
        );
    }
    // The fake saw the tool round and the answers: the assistant really went through it.
    assert!(llm.request_count() >= 3, "the fake LLM saw {} requests", llm.request_count());
    assert!(stdout.contains("all browser scenarios passed"), "{stdout}");
    assert_eq!(server.terminate().code(), Some(0));
}

/// Runs `command` to its end, or kills it at `limit` (exit status `None`); its stdout and stderr.
fn run_with_limit(mut command: Command, limit: Duration) -> (Option<std::process::ExitStatus>, String, String) {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("node runs");
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("the script can be waited on") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (status, stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default())
}
