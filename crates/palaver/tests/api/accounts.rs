//! `palaver user disable|enable` run as an operator runs it: a separate process on the
//! running server's database. A disabled account is locked out at once (login, refresh,
//! every access token, new sockets) and its open sockets are closed with 1008; enabling it
//! lets it log in again while the tokens revoked by the disable stay revoked.

use std::process::{Output, Stdio};

use serde_json::json;
use tokio::process::Command;

use crate::helpers::{Anonymous, JWT_SECRET, TestApp, TestUser};

both_backends!(a_disabled_account_is_locked_out_at_once, an_enabled_account_logs_in_again_with_fresh_tokens_only);

/// Generous: a debug build on a loaded machine starts slowly.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// `palaver user <args>` on the app's database and data directory, to its end.
async fn palaver_user(app: &TestApp, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_palaver"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PALAVER_") {
            command.env_remove(key);
        }
    }
    let output = command
        .arg("user")
        .args(args)
        .env("PALAVER_DATA_DIR", &app.config.data_dir)
        .env("PALAVER_DATABASE_URL", app.config.effective_database_url())
        .env("PALAVER_JWT_SECRET", JWT_SECRET)
        .env("PALAVER_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(PATIENCE, output)
        .await
        .unwrap_or_else(|_| panic!("palaver user {args:?} did not finish within {PATIENCE:?}"))
        .expect("palaver runs");
    assert!(
        output.status.success(),
        "palaver user {args:?} exited with {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The status column `palaver user list` shows for `username`.
async fn listed_status(app: &TestApp, username: &str) -> String {
    let output = palaver_user(app, &["list"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let line = stdout
        .lines()
        .find(|line| line.split('\t').nth(1) == Some(username))
        .unwrap_or_else(|| panic!("{username} is not listed: {stdout}"));
    line.split('\t').nth(4).unwrap_or_else(|| panic!("no status column: {line}")).to_owned()
}

async fn login(app: &TestApp, user: &TestUser) -> crate::helpers::Reply {
    app.post(&Anonymous, "/auth/login", json!({"username": user.username, "password": user.password})).await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> crate::helpers::Reply {
    app.post(&Anonymous, "/auth/refresh", json!({"refresh_token": refresh_token})).await
}

async fn a_disabled_account_is_locked_out_at_once(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let mut bob1 = app.ws(&bob).await;
    bob1.subscribe(&room_id, None).await;
    let mut alice1 = app.ws(&alice).await;
    alice1.subscribe(&room_id, None).await;
    // A second login: a second refresh family, which the disable must revoke too.
    let second = login(&app, &bob).await.expect_status(200);
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    let conversation = app.post(&bob, "/chat/conversations", json!({})).await.expect_status(201);
    let stream = format!("/chat/conversations/{}/stream", conversation["id"].as_str().unwrap());
    assert_eq!(listed_status(&app, "bob").await, "active");

    palaver_user(&app, &["disable", "bob"]).await;

    // The server is told nothing: it notices by itself, well within the helper's 15 s.
    bob1.expect_close(1008).await;
    // The access token is refused from the next request on, reads and writes alike.
    app.get(&bob, "/users/me").await.expect_problem(401, Some("unauthorized"));
    let path = format!("/rooms/{room_id}/messages");
    app.post(&bob, &path, json!({"content": "still here?"})).await.expect_problem(401, Some("unauthorized"));
    app.ws_refused(&format!("?token={}", bob.access_token), None, 401).await;
    // The assistant's send checks the account beside its reads: refused all the same.
    app.post(&bob, &stream, json!({"message": "hello?"})).await.expect_problem(401, Some("unauthorized"));
    app.get(&bob, &format!("{stream}?message=hello")).await.expect_problem(401, Some("unauthorized"));
    let send = stream.replace("/stream", "/messages");
    app.post(&bob, &send, json!({"message": "hello?"})).await.expect_problem(401, Some("unauthorized"));
    for token in [&bob.refresh_token, &second_refresh] {
        refresh(&app, token).await.expect_problem(401, Some("unauthorized"));
    }
    login(&app, &bob).await.expect_problem(401, Some("unauthorized"));
    assert!(listed_status(&app, "bob").await.starts_with("disabled since "), "bob is listed as disabled");

    // Nobody else is touched.
    alice1.assert_alive().await;
    app.post_message(&alice, &room_id, "bob is gone").await;
    assert_eq!(listed_status(&app, "alice").await, "active");
}

async fn an_enabled_account_logs_in_again_with_fresh_tokens_only(app: TestApp) {
    let bob = app.register("bob").await;
    palaver_user(&app, &["disable", "bob"]).await;
    login(&app, &bob).await.expect_problem(401, Some("unauthorized"));

    palaver_user(&app, &["enable", "bob"]).await;
    assert_eq!(listed_status(&app, "bob").await, "active");
    // Possibly within the second of the disable: the new token must still be accepted.
    let pair = login(&app, &bob).await.expect_status(200);
    let fresh = pair["access_token"].as_str().unwrap().to_owned();
    app.get(&fresh, "/users/me").await.expect_status(200);
    app.ws_connect(&format!("?token={fresh}"), None, None).await.expect("a fresh token connects").assert_alive().await;
    let rotated = refresh(&app, pair["refresh_token"].as_str().unwrap()).await.expect_status(200);
    app.get(rotated["access_token"].as_str().unwrap(), "/users/me").await.expect_status(200);

    // What the disable revoked stays revoked.
    app.get(&bob, "/users/me").await.expect_problem(401, Some("unauthorized"));
    refresh(&app, &bob.refresh_token).await.expect_problem(401, Some("unauthorized"));
}
