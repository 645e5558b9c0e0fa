//! WebSocket authentication: the token is checked before the upgrade (401 otherwise), by
//! `?token=` or `Authorization: Bearer`, and a socket is closed with 1008 when its token
//! expires.

use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use crate::helpers::{JWT_SECRET, TestApp, query_value, type_of};

both_backends!(
    ws_refuses_a_missing_token,
    ws_refuses_a_bad_token,
    ws_accepts_a_token_in_the_query_or_in_the_header,
    ws_closes_with_1008_when_the_token_expires with short_lived_tokens,
);

fn short_lived_tokens(config: &mut palaver::config::Config) {
    config.auth.access_ttl_secs = 3;
}

/// A token signed with `secret` for `user_id`, expiring at `exp` (unix seconds).
fn forged_token(secret: &str, user_id: &str, username: &str, exp: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"sub": user_id, "name": username, "iat": now.min(exp) - 60, "exp": exp});
    jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(secret.as_bytes()))
        .expect("a token is encoded")
}

async fn ws_refuses_a_missing_token(app: TestApp) {
    app.ws_refused("", None, 401).await;
    app.ws_refused("?token=", None, 401).await;
}

async fn ws_refuses_a_bad_token(app: TestApp) {
    let alice = app.register("alice").await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expired = forged_token(JWT_SECRET, &alice.id, &alice.username, now - 120);
    let other_secret = forged_token("another-secret-that-is-long-enough-for-hs256", &alice.id, "alice", now + 600);
    // The same claims with the right secret are accepted, so the two above fail for the
    // reason they are about.
    let good = forged_token(JWT_SECRET, &alice.id, &alice.username, now + 600);

    for bad in ["garbage", "not.a.jwt", alice.refresh_token.as_str(), expired.as_str(), other_secret.as_str()] {
        app.ws_refused(&format!("?token={}", query_value(bad)), None, 401).await;
        app.ws_refused("", Some(bad), 401).await;
    }
    let mut client = app.ws_connect(&format!("?token={good}"), None, None).await.expect("a well-signed token connects");
    client.assert_alive().await;
}

async fn ws_accepts_a_token_in_the_query_or_in_the_header(app: TestApp) {
    let alice = app.register("alice").await;

    let mut by_query = app.ws(&alice).await;
    let pong = by_query.request(json!({"type": "ping", "id": "q-1"})).await;
    assert_eq!(pong, json!({"type": "pong", "id": "q-1"}));

    let mut by_header = app.ws_with_header(&alice).await;
    let pong = by_header.request(json!({"type": "ping", "id": 42})).await;
    assert_eq!(type_of(&pong), "pong", "{pong}");
    assert_eq!(pong["id"], 42, "a numeric id comes back as a number: {pong}");
}

async fn ws_closes_with_1008_when_the_token_expires(app: TestApp) {
    let alice = app.register("alice").await;
    let mut client = app.ws(&alice).await;
    client.assert_alive().await;
    // The token lives 3 s; the close must come within the helper's 15 s.
    client.expect_close(1008).await;
}
