//! Register, login, refresh (rotation and reuse detection) and logout.

use serde_json::{Value, json};

use crate::helpers::{Anonymous, PASSWORD, TestApp, TestUser, assert_user, long_string, str_of};

both_backends!(
    register_returns_a_token_pair,
    register_rejects_each_invalid_field,
    register_accepts_the_boundary_lengths,
    username_is_unique_case_insensitively,
    email_is_unique_case_insensitively,
    login_by_email_or_by_username,
    login_failures_do_not_reveal_whether_the_user_exists,
    login_needs_an_email_or_a_username,
    refresh_rotates_the_pair,
    reusing_a_refresh_token_revokes_its_family,
    logout_revokes_the_refresh_token,
    repeated_login_attempts_are_rate_limited with two_attempts,
    behind_a_trusted_proxy_each_client_has_its_own_budget with two_attempts_behind_a_proxy,
    a_login_storm_beyond_the_hashers_gets_503_not_500 with impatient_hashing,
);

/// Password checks wait at most 1 ms for a free hasher; the per-address limit is out of the way.
fn impatient_hashing(config: &mut palaver::config::Config) {
    config.auth.hash_wait_ms = 1;
    config.limits.auth_burst = 10_000.0;
    config.limits.auth_per_sec = 10_000.0;
}

fn two_attempts(config: &mut palaver::config::Config) {
    config.limits.auth_burst = 2.0;
    config.limits.auth_per_sec = 0.01;
}

/// The test client connects from 127.0.0.1: as a reverse proxy on the same machine would.
fn two_attempts_behind_a_proxy(config: &mut palaver::config::Config) {
    two_attempts(config);
    config.limits.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
}

#[track_caller]
fn assert_token_pair(pair: &Value, username: &str) {
    assert!(pair["access_token"].as_str().is_some_and(|t| !t.is_empty()), "{pair}");
    assert!(pair["refresh_token"].as_str().is_some_and(|t| !t.is_empty()), "{pair}");
    assert_ne!(pair["access_token"], pair["refresh_token"]);
    assert_eq!(pair["token_type"], "Bearer");
    assert!(pair["expires_in"].as_u64().is_some_and(|s| s > 0), "{pair}");
    assert_user(&pair["user"], true);
    assert_eq!(pair["user"]["username"], username);
}

async fn refresh(app: &TestApp, refresh_token: &str) -> crate::helpers::Reply {
    app.post(&Anonymous, "/auth/refresh", json!({"refresh_token": refresh_token})).await
}

async fn register_reply(app: &TestApp, username: &str, email: &str, password: &str) -> crate::helpers::Reply {
    let body = json!({"username": username, "email": email, "password": password});
    app.post(&Anonymous, "/auth/register", body).await
}

async fn register_returns_a_token_pair(app: TestApp) {
    let reply = register_reply(&app, "alice", "alice@example.com", PASSWORD).await;
    let pair = reply.expect_status(201);
    assert_token_pair(&pair, "alice");
    assert_eq!(pair["user"]["email"], "alice@example.com");
    assert_eq!(pair["expires_in"], 900, "access tokens last 15 minutes by default");

    let token = str_of(&pair["access_token"]);
    let me = app.get(&token, "/users/me").await.expect_status(200);
    assert_eq!(me["id"], pair["user"]["id"]);
}

async fn register_rejects_each_invalid_field(app: TestApp) {
    let cases = [
        ("ab", "ab@example.com", PASSWORD, "username"),
        (&long_string(33), "long@example.com", PASSWORD, "username"),
        ("bad name", "bad1@example.com", PASSWORD, "username"),
        ("bad!name", "bad2@example.com", PASSWORD, "username"),
        ("héllo", "bad3@example.com", PASSWORD, "username"),
        ("", "bad4@example.com", PASSWORD, "username"),
        ("dave", "not-an-email", PASSWORD, "email"),
        ("dave", "dave@", PASSWORD, "email"),
        ("dave", "", PASSWORD, "email"),
        ("dave", "dave@example.com", "seven77", "password"),
        ("dave", "dave@example.com", &long_string(257), "password"),
    ];
    for (username, email, password, field) in cases {
        register_reply(&app, username, email, password).await.expect_invalid(field);
    }
    // None of them created an account.
    register_reply(&app, "dave", "dave@example.com", PASSWORD).await.expect_status(201);
}

async fn register_accepts_the_boundary_lengths(app: TestApp) {
    let cases = [
        ("abc", "abc@example.com", "eight888".to_owned()),
        (&long_string(32), "long@example.com", long_string(256)),
        ("A.b-c_9", "mixed@example.com", PASSWORD.to_owned()),
    ];
    for (username, email, password) in cases {
        let pair = register_reply(&app, username, email, &password).await.expect_status(201);
        assert_eq!(pair["user"]["username"], username);
    }
}

async fn username_is_unique_case_insensitively(app: TestApp) {
    app.register("alice").await;
    register_reply(&app, "alice", "other1@example.com", PASSWORD).await.expect_problem(409, Some("username_taken"));
    register_reply(&app, "Alice", "other2@example.com", PASSWORD).await.expect_problem(409, Some("username_taken"));
    register_reply(&app, "ALICE", "other3@example.com", PASSWORD).await.expect_problem(409, Some("username_taken"));
}

async fn email_is_unique_case_insensitively(app: TestApp) {
    register_reply(&app, "carol", "Carol@Example.com", PASSWORD).await.expect_status(201);
    register_reply(&app, "carol2", "carol@example.com", PASSWORD).await.expect_problem(409, Some("email_taken"));
    register_reply(&app, "carol3", "CAROL@EXAMPLE.COM", PASSWORD).await.expect_problem(409, Some("email_taken"));
}

async fn login_by_email_or_by_username(app: TestApp) {
    let alice = app.register("alice").await;

    let by_email = json!({"email": alice.email, "password": alice.password});
    let pair = app.post(&Anonymous, "/auth/login", by_email).await.expect_status(200);
    assert_token_pair(&pair, "alice");
    assert_eq!(pair["user"]["id"], alice.id);

    let by_username = json!({"username": "alice", "password": alice.password});
    let pair = app.post(&Anonymous, "/auth/login", by_username).await.expect_status(200);
    assert_token_pair(&pair, "alice");

    let token = str_of(&pair["access_token"]);
    let me = app.get(&token, "/users/me").await.expect_status(200);
    assert_eq!(me["id"], alice.id);
}

async fn login_failures_do_not_reveal_whether_the_user_exists(app: TestApp) {
    app.register("alice").await;
    let attempts = [
        json!({"username": "alice", "password": "wrong password"}),
        json!({"username": "nobody", "password": PASSWORD}),
        json!({"email": "alice@example.com", "password": "wrong password"}),
        json!({"email": "nobody@example.com", "password": PASSWORD}),
    ];
    let mut details = Vec::new();
    for body in attempts {
        let problem = app.post(&Anonymous, "/auth/login", body).await.expect_problem(401, None);
        details.push(problem["detail"].clone());
    }
    assert!(details[0].is_string(), "a 401 explains itself in `detail`: {}", details[0]);
    assert!(details.iter().all(|d| *d == details[0]), "the same message for every mismatch: {details:?}");
}

async fn login_needs_an_email_or_a_username(app: TestApp) {
    app.register("alice").await;
    let reply = app.post(&Anonymous, "/auth/login", json!({"password": PASSWORD})).await;
    reply.expect_problem(422, None);
}

async fn refresh_rotates_the_pair(app: TestApp) {
    let alice = app.register("alice").await;

    let pair = refresh(&app, &alice.refresh_token).await.expect_status(200);
    assert_token_pair(&pair, "alice");
    let new_refresh = str_of(&pair["refresh_token"]);
    assert_ne!(new_refresh, alice.refresh_token, "refresh tokens rotate");
    let me = app.get(&str_of(&pair["access_token"]), "/users/me").await.expect_status(200);
    assert_eq!(me["id"], alice.id);

    // The new one works once more; the first one is spent.
    refresh(&app, &new_refresh).await.expect_status(200);
    refresh(&app, &alice.refresh_token).await.expect_problem(401, Some("unauthorized"));
}

async fn reusing_a_refresh_token_revokes_its_family(app: TestApp) {
    let alice = app.register("alice").await;
    let first = refresh(&app, &alice.refresh_token).await.expect_status(200);
    let newest = str_of(&first["refresh_token"]);

    // Someone replays the spent token: treat the family as stolen.
    refresh(&app, &alice.refresh_token).await.expect_problem(401, Some("unauthorized"));
    refresh(&app, &newest).await.expect_problem(401, Some("unauthorized"));

    // Another login starts a new family that works.
    let login = json!({"username": "alice", "password": PASSWORD});
    let pair = app.post(&Anonymous, "/auth/login", login).await.expect_status(200);
    refresh(&app, &str_of(&pair["refresh_token"])).await.expect_status(200);
}

async fn logout_revokes_the_refresh_token(app: TestApp) {
    let alice = app.register("alice").await;
    let other_session = login_again(&app, &alice).await;
    let body = json!({"refresh_token": alice.refresh_token});

    app.post(&Anonymous, "/auth/logout", body.clone()).await.expect_problem(401, Some("unauthorized"));
    app.post(&alice, "/auth/logout", body).await.expect_status(204);

    refresh(&app, &alice.refresh_token).await.expect_problem(401, Some("unauthorized"));
    // Only that session ends.
    refresh(&app, &other_session).await.expect_status(200);
}

/// A second session of the same user; returns its refresh token.
async fn login_again(app: &TestApp, user: &TestUser) -> String {
    let body = json!({"username": user.username, "password": user.password});
    let pair = app.post(&Anonymous, "/auth/login", body).await.expect_status(200);
    str_of(&pair["refresh_token"])
}

async fn repeated_login_attempts_are_rate_limited(app: TestApp) {
    let alice = app.register("alice").await;
    let wrong = json!({"username": alice.username, "password": "not the password"});
    app.post(&Anonymous, "/auth/login", wrong.clone()).await.expect_problem(401, Some("unauthorized"));
    let limited = app.post(&Anonymous, "/auth/login", wrong).await;
    let problem = limited.expect_problem(429, Some("rate_limited"));
    let retry_after: u64 = limited
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("429 without a numeric Retry-After: {problem}"));
    assert!(retry_after >= 1, "{retry_after}");
    // The right password is refused too while the address is limited, and nothing else is.
    let right = json!({"username": alice.username, "password": PASSWORD});
    app.post(&Anonymous, "/auth/login", right).await.expect_problem(429, Some("rate_limited"));
    app.get(&alice, "/users/me").await.expect_status(200);
}

async fn behind_a_trusted_proxy_each_client_has_its_own_budget(app: TestApp) {
    let wrong = json!({"username": "nobody", "password": "not the password"});
    let login = |forwarded: &'static str| {
        let request = app.client.post(app.api("/auth/login")).header("x-forwarded-for", forwarded).json(&wrong);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    // A client may put anything on the left; the proxy's hop (the last) is what counts.
    assert_eq!(login("198.51.100.9, 203.0.113.1").await, 401);
    assert_eq!(login("203.0.113.1").await, 401);
    assert_eq!(login("192.0.2.77, 203.0.113.1").await, 429, "203.0.113.1 spent its two attempts");
    assert_eq!(login("203.0.113.2").await, 401, "another client behind the proxy is not held back");
}

async fn a_login_storm_beyond_the_hashers_gets_503_not_500(app: TestApp) {
    let alice = app.register("alice").await;
    let wrong = json!({"username": alice.username, "password": "not the password"});
    let storm = (0..64).map(|_| app.post(&Anonymous, "/auth/login", wrong.clone()));
    let replies = futures_util::future::join_all(storm).await;

    let mut refused = 0;
    for reply in &replies {
        if reply.expect_status_in(&[401, 503]) == 503 {
            let problem = reply.expect_problem(503, Some("unavailable"));
            let retry_after: u64 = reply
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("503 without a numeric Retry-After: {problem}"));
            assert!(retry_after >= 1, "{retry_after}");
            refused += 1;
        }
    }
    assert!(refused > 0, "64 logins at once, hashers for a few: some must wait too long and get 503");
    assert!(refused < replies.len(), "the hashers served some of the storm");
    // Once the storm has passed, logging in works.
    let right = json!({"username": alice.username, "password": PASSWORD});
    app.post(&Anonymous, "/auth/login", right).await.expect_status(200);
}
