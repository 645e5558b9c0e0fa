//! The `palaver` binary as an operator runs it: `serve`, `migrate`, `user ...`, `--help`,
//! settings from a TOML file and the environment, and a clean exit on SIGTERM.
//! (Over 400 lines: every command of the binary, each with its process set-up.)

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::helpers::{PATIENCE, Server, TestDatabase, palaver};

/// Runs a command to its end and returns what it printed.
fn run(mut command: Command) -> Output {
    let child =
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("palaver starts");
    let pid = child.id();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(PATIENCE) {
        Ok(output) => output.expect("palaver's output is readable"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("{command:?} did not finish within {PATIENCE:?}");
        }
    }
}

#[track_caller]
fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} exited with {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    (a.local_addr().unwrap().port(), b.local_addr().unwrap().port())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn login(server: &Server, username: &str, password: &str) -> u16 {
    let body = json!({"username": username, "password": password});
    let response =
        client().post(server.url("/api/v1/auth/login")).json(&body).send().await.expect("the server answers");
    response.status().as_u16()
}

async fn healthz(server: &Server) -> u16 {
    let response = client().get(server.url("/healthz")).send().await.expect("the server answers");
    response.status().as_u16()
}

#[tokio::test]
async fn serve_starts_in_an_empty_directory_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = palaver(dir.path());
    command.arg("serve").env("PALAVER_BIND", "127.0.0.1:0");
    let server = Server::start(command);

    assert_eq!(healthz(&server).await, 200);
    assert!(dir.path().join("data/palaver.db").is_file(), "SQLite in ./data by default");
    assert!(dir.path().join("data/secret").is_file(), "a generated secret is kept in ./data");

    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean exit: {status}");
}

#[tokio::test]
async fn migrate_creates_the_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("elsewhere");
    let mut command = palaver(dir.path());
    command.arg("migrate").env("PALAVER_DATA_DIR", &data);
    assert_success(&run(command), "palaver migrate");
    assert!(data.join("palaver.db").is_file(), "the database is in PALAVER_DATA_DIR");

    let mut again = palaver(dir.path());
    again.arg("migrate").env("PALAVER_DATA_DIR", &data);
    assert_success(&run(again), "a second palaver migrate");
}

#[tokio::test]
async fn migrate_creates_the_postgres_schema() {
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    for attempt in ["palaver migrate", "a second palaver migrate"] {
        let mut command = palaver(dir.path());
        command
            .arg("migrate")
            .env("PALAVER_DATA_DIR", dir.path().join("data"))
            .env("PALAVER_DATABASE_URL", &database.url);
        assert_success(&run(command), attempt);
    }
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            .fetch_one(&mut connection)
            .await
            .unwrap();
    assert!(tables >= 3, "users, rooms, messages and more: found {tables} tables");
    let _ = connection.close().await;
    assert!(!dir.path().join("data/palaver.db").exists(), "no SQLite file when PostgreSQL is used");
}

#[tokio::test]
async fn user_commands_manage_accounts_the_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let user = |args: &[&str]| {
        let mut command = palaver(dir.path());
        command.arg("user").args(args);
        run(command)
    };

    let created = user(&["create", "alice", "alice@example.com", "--password", "secret pass 1"]);
    assert_success(&created, "palaver user create");
    let duplicate = user(&["create", "alice", "other@example.com", "--password", "secret pass 1"]);
    assert!(!duplicate.status.success(), "a duplicate username is refused");

    let listed = user(&["list"]);
    assert_success(&listed, "palaver user list");
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(stdout.lines().any(|line| line.contains("alice")), "alice is listed: {stdout}");

    let changed = user(&["set-password", "alice", "--password", "new secret 2"]);
    assert_success(&changed, "palaver user set-password");

    let mut command = palaver(dir.path());
    command.arg("serve").env("PALAVER_BIND", "127.0.0.1:0");
    let server = Server::start(command);
    assert_eq!(login(&server, "alice", "new secret 2").await, 200);
    assert_eq!(login(&server, "alice", "secret pass 1").await, 401);

    // Beside the running server, on the same database.
    assert_success(&user(&["disable", "alice"]), "palaver user disable");
    assert_eq!(login(&server, "alice", "new secret 2").await, 401, "a disabled account cannot log in");
    let listed = user(&["list"]);
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(stdout.lines().any(|l| l.contains("alice") && l.contains("\tdisabled since ")), "{stdout}");
    assert!(!user(&["disable", "nobody"]).status.success(), "an unknown account is an error");
    assert_success(&user(&["enable", "alice"]), "palaver user enable");
    assert_eq!(login(&server, "alice", "new secret 2").await, 200, "enabled again");
    assert_eq!(server.terminate().code(), Some(0));
}

#[tokio::test]
async fn help_lists_commands_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let mut top = palaver(dir.path());
    top.arg("--help");
    let output = run(top);
    assert_success(&output, "palaver --help");
    let text = String::from_utf8_lossy(&output.stdout);
    for command in ["serve", "migrate", "user"] {
        assert!(text.contains(command), "`{command}` in palaver --help:\n{text}");
    }

    let mut serve = palaver(dir.path());
    serve.args(["serve", "--help"]);
    let output = run(serve);
    assert_success(&output, "palaver serve --help");
    let text = String::from_utf8_lossy(&output.stdout);
    for setting in ["PALAVER_DATABASE_URL", "PALAVER_BIND", "PALAVER_DATA_DIR", "PALAVER_JWT_SECRET"] {
        assert!(text.contains(setting), "{setting} in palaver serve --help:\n{text}");
    }
    // Every setting's help ends with the default it falls back to, derived from the code.
    for default in ["[default: 127.0.0.1:8080]", "[default: 10485760]", "[default: unset]"] {
        assert!(text.contains(default), "{default} in palaver serve --help:\n{text}");
    }
    assert!(!dir.path().join("data").exists(), "--help touches nothing");
}

#[tokio::test]
async fn bind_comes_from_the_config_file_unless_the_environment_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let (file_port, env_port) = free_ports();
    let config = dir.path().join("palaver.toml");
    std::fs::write(&config, format!("bind = \"127.0.0.1:{file_port}\"\n")).unwrap();

    let mut command = palaver(dir.path());
    command.arg("serve").arg("--config").arg(&config);
    let server = Server::start(command);
    assert_eq!(server.port, file_port, "the file's bind is used");
    assert_eq!(healthz(&server).await, 200);
    assert_eq!(server.terminate().code(), Some(0));

    let mut command = palaver(dir.path());
    command.arg("serve").arg("--config").arg(&config).env("PALAVER_BIND", format!("127.0.0.1:{env_port}"));
    let server = Server::start(command);
    assert_eq!(server.port, env_port, "PALAVER_BIND overrides the file");
    assert_eq!(healthz(&server).await, 200);
    assert_eq!(server.terminate().code(), Some(0));
}

#[tokio::test]
async fn a_setting_that_cannot_work_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("PALAVER_WS_RATE_PER_SEC", "0", "ws.rate_per_sec (PALAVER_WS_RATE_PER_SEC) must be greater than 0"),
        (
            "PALAVER_LIMITS_AUTH_PER_SEC",
            "0",
            "limits.auth_per_sec (PALAVER_LIMITS_AUTH_PER_SEC) must be greater than 0",
        ),
        ("PALAVER_LIMITS_AUTH_BURST", "0.5", "limits.auth_burst (PALAVER_LIMITS_AUTH_BURST) must be at least 1"),
        ("PALAVER_WS_OUTBOX_FRAMES", "0", "ws.outbox_frames (PALAVER_WS_OUTBOX_FRAMES) must be greater than 0"),
        ("PALAVER_WS_PING_INTERVAL_SECS", "0", "ws.ping_interval_secs (PALAVER_WS_PING_INTERVAL_SECS) must be between"),
        ("PALAVER_WS_REPLAY_LIMIT", "0", "ws.replay_limit (PALAVER_WS_REPLAY_LIMIT) must be greater than 0"),
        ("PALAVER_DATABASE_MAX_CONNECTIONS", "0", "database.max_connections (PALAVER_DATABASE_MAX_CONNECTIONS) must"),
        ("PALAVER_JWT_SECRET", "short", "jwt_secret (PALAVER_JWT_SECRET) must be at least 16 characters"),
    ];
    for (variable, value, expected) in cases {
        let mut command = palaver(dir.path());
        command.arg("serve").env("PALAVER_BIND", "127.0.0.1:0").env(variable, value);
        let output = run(command);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{variable}={value} was accepted: {stderr}");
        assert!(stderr.contains(expected), "{variable}={value}: expected {expected:?} in\n{stderr}");
    }

    // From the file too, all at once, and for every command.
    let config = dir.path().join("palaver.toml");
    std::fs::write(&config, "[ws]\nrate_per_sec = 0\n\n[limits]\nauth_per_sec = 0\n").unwrap();
    let mut command = palaver(dir.path());
    command.arg("migrate").arg("--config").arg(&config);
    let output = run(command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "migrate accepted a broken file: {stderr}");
    for key in ["ws.rate_per_sec", "limits.auth_per_sec"] {
        assert!(stderr.contains(key), "{key} is named: {stderr}");
    }
    assert!(!dir.path().join("data").exists(), "nothing starts before the settings are checked");
}

/// Permission bits of every entry of `dir` (and of `dir` itself, as "."), for messages.
#[cfg(unix)]
fn modes(dir: &Path) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut found = vec![(".".to_owned(), mode(dir))];
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        found.push((entry.file_name().to_string_lossy().into_owned(), mode(&entry.path())));
    }
    found
}

#[cfg(unix)]
#[track_caller]
fn assert_private(dir: &Path, expected_files: &[&str]) {
    let found = modes(dir);
    let listing: Vec<String> = found.iter().map(|(name, mode)| format!("{name} {mode:o}")).collect();
    for name in expected_files {
        assert!(found.iter().any(|(n, _)| n == name), "{name} is in the data dir: {listing:?}");
    }
    for (name, mode) in &found {
        // Directories (the data dir, `uploads/`) are 0700, files 0600.
        let wanted = if name == "." || dir.join(name).is_dir() { 0o700 } else { 0o600 };
        assert_eq!(*mode, wanted, "{name} has mode {mode:o}, not {wanted:o}: {listing:?}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_dir_and_the_sqlite_files_are_private_to_the_server() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let files = ["palaver.db", "palaver.db-wal", "palaver.db-shm", "secret"];
    let serve = || {
        let mut command = palaver(dir.path());
        command.arg("serve").env("PALAVER_BIND", "127.0.0.1:0");
        Server::start(command)
    };

    let server = serve();
    let body = json!({"username": "alice", "email": "alice@example.com", "password": "secret pass 1"});
    let response = client().post(server.url("/api/v1/auth/register")).json(&body).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_private(&data, &files);
    assert_eq!(server.terminate().code(), Some(0));

    // A data dir left open (by an older version, or by hand) is made private at start.
    for (name, _) in modes(&data) {
        let (path, mode) = match name.as_str() {
            "." => (data.clone(), 0o755),
            _ if data.join(&name).is_dir() => (data.join(&name), 0o755),
            _ => (data.join(&name), 0o644),
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let server = serve();
    assert_eq!(login(&server, "alice", "secret pass 1").await, 200);
    assert_private(&data, &files);
    assert_eq!(server.terminate().code(), Some(0));
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_dir_is_private_with_postgres_too() {
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = palaver(dir.path());
    command.arg("migrate").env("PALAVER_DATABASE_URL", &database.url);
    assert_success(&run(command), "palaver migrate");
    let mut command = palaver(dir.path());
    command.arg("serve").env("PALAVER_BIND", "127.0.0.1:0").env("PALAVER_DATABASE_URL", &database.url);
    let server = Server::start(command);
    assert_eq!(healthz(&server).await, 200);
    assert_private(&dir.path().join("data"), &["secret"]);
    assert_eq!(server.terminate().code(), Some(0));
}

/// `palaver serve` started by a shell that first sets the open file limit with `ulimit`
/// (`-S` soft only, `-H` hard and so soft too).
#[cfg(unix)]
fn serve_with_file_limit(dir: &Path, ulimit: &str, env: &[(&str, &str)]) -> Server {
    let mut command = palaver(dir);
    let program = command.get_program().to_owned();
    let mut shell = Command::new("sh");
    shell.current_dir(dir).arg("-c").arg(format!("ulimit {ulimit} && exec \"$0\" serve")).arg(program);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PALAVER_") {
            shell.env_remove(key);
        }
    }
    shell.env("PALAVER_BIND", "127.0.0.1:0").envs(env.iter().copied());
    command = shell;
    Server::start(command)
}

/// The server's log once it contains `last` (it is read by a thread, so it may lag the exit).
fn wait_for_log(stderr: &Mutex<String>, last: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = stderr.lock().unwrap().clone();
        if log.contains(last) || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (soft, hard) open file limits of a running process, from `/proc`.
#[cfg(target_os = "linux")]
fn file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("a Max open files line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[3].to_owned(), fields[4].to_owned())
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn serve_raises_its_soft_open_file_limit_to_the_hard_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_with_file_limit(dir.path(), "-Sn 256", &[]);
    let (soft, hard) = file_limits(server.pid());
    assert_eq!(soft, hard, "the soft limit (was 256) is raised to the hard limit");
    assert_eq!(healthz(&server).await, 200);
    assert_eq!(server.terminate().code(), Some(0));
}

#[cfg(unix)]
#[tokio::test]
async fn slowloris_past_the_descriptor_limit_does_not_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let timeout = [("PALAVER_LIMITS_HEADER_READ_TIMEOUT_MS", "1000")];
    let server = serve_with_file_limit(dir.path(), "-n 512", &timeout);
    let address = format!("127.0.0.1:{}", server.port);

    // More half-sent request lines than the server has descriptors. Past the connection cap
    // and the listen backlog, connecting waits until header timeouts free places.
    let mut held = Vec::new();
    for _ in 0..600 {
        let connect = tokio::net::TcpStream::connect(&address);
        let Ok(Ok(mut stream)) = tokio::time::timeout(Duration::from_secs(30), connect).await else { break };
        use tokio::io::AsyncWriteExt;
        let _ = stream.write_all(b"GET /healthz HT").await;
        held.push(stream);
    }
    assert_eq!(held.len(), 600, "every connection is eventually accepted");

    // Health is answered (the held connections are cut off after the header timeout and
    // those waiting in the backlog are accepted), with the held ones still open on our side.
    let health = tokio::time::timeout(Duration::from_secs(60), healthz(&server)).await;
    assert_eq!(health.ok(), Some(200), "/healthz answered within 60 s");
    drop(held);
    assert_eq!(healthz(&server).await, 200);
    let stderr = server.stderr.clone();
    assert_eq!(server.terminate().code(), Some(0));
    let log = wait_for_log(&stderr, "stopped");
    let accept_errors = log.lines().filter(|l| l.contains("accept error") || l.contains("cannot accept")).count();
    assert!(accept_errors <= 1, "accept errors are logged once per burst, not per error:\n{log}");
    assert!(!log.contains("panicked"), "{log}");
}
