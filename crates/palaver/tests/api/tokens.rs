//! Every protected endpoint refuses a missing, malformed, forged or expired access token
//! with a 401 problem, and so does it a well-signed token whose user does not exist.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{Anonymous, Caller, JWT_SECRET, TestApp, id_of};

both_backends!(
    requests_without_a_token_are_unauthorized,
    garbage_tokens_are_unauthorized,
    tokens_signed_with_another_secret_are_unauthorized,
    expired_tokens_are_unauthorized with short_access_ttl,
    tokens_of_users_that_do_not_exist_are_unauthorized,
);

fn short_access_ttl(config: &mut palaver::config::Config) {
    config.auth.access_ttl_secs = 1;
}

/// One endpoint of each protected kind, with a body where it needs one.
fn protected_endpoints(room_id: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/users/me".into(), None),
        (Method::GET, "/rooms".into(), None),
        (Method::POST, "/rooms".into(), Some(json!({"name": "x", "visibility": "public"}))),
        (Method::GET, format!("/rooms/{room_id}/messages"), None),
        (Method::GET, "/notifications".into(), None),
    ]
}

async fn assert_all_unauthorized(app: &TestApp, room_id: &str, caller: &(impl Caller + ?Sized)) {
    for (method, path, body) in protected_endpoints(room_id) {
        let reply = app.request(method, &path, caller, body.as_ref()).await;
        reply.expect_problem(401, Some("unauthorized"));
    }
}

/// A room that exists, so a 401 cannot be a 404 in disguise.
async fn existing_room(app: &TestApp) -> (crate::helpers::TestUser, String) {
    let alice = app.register("alice").await;
    let room = app.create_room(&alice, "general", "public").await;
    (alice, id_of(&room))
}

async fn requests_without_a_token_are_unauthorized(app: TestApp) {
    let (alice, room_id) = existing_room(&app).await;
    assert_all_unauthorized(&app, &room_id, &Anonymous).await;

    // A scheme other than Bearer is no token either.
    let reply =
        app.client.get(app.api("/users/me")).basic_auth(&alice.username, Some(&alice.password)).send().await.unwrap();
    assert_eq!(reply.status(), 401);
}

async fn garbage_tokens_are_unauthorized(app: TestApp) {
    let (alice, room_id) = existing_room(&app).await;
    for token in ["garbage", "a.b.c", "", alice.refresh_token.as_str()] {
        assert_all_unauthorized(&app, &room_id, token).await;
    }
    // A valid token with its payload swapped for another keeps nothing of its signature.
    let bob = app.register("bob").await;
    let forged = splice_payload(&bob.access_token, &alice.access_token);
    assert_all_unauthorized(&app, &room_id, &forged).await;
}

async fn tokens_signed_with_another_secret_are_unauthorized(app: TestApp) {
    let (alice, room_id) = existing_room(&app).await;
    let forged = resign(&alice.access_token, b"not-the-server-secret");
    assert_ne!(forged, alice.access_token);
    assert_all_unauthorized(&app, &room_id, &forged).await;
    // The original still works, so the 401 above is about the signature.
    app.get(&alice, "/users/me").await.expect_status(200);
}

async fn expired_tokens_are_unauthorized(app: TestApp) {
    let (alice, room_id) = existing_room(&app).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_all_unauthorized(&app, &room_id, &alice).await;

    // The refresh token outlives the access token and gets a fresh one.
    let body = json!({"refresh_token": alice.refresh_token});
    let pair = app.post(&Anonymous, "/auth/refresh", body).await.expect_status(200);
    let token = pair["access_token"].as_str().unwrap();
    app.get(token, "/users/me").await.expect_status(200);
}

async fn tokens_of_users_that_do_not_exist_are_unauthorized(app: TestApp) {
    let (alice, room_id) = existing_room(&app).await;
    // Signed with the server's own secret, for an id no account has.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"sub": uuid::Uuid::now_v7(), "name": "ghost", "iat": now, "exp": now + 600});
    let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes());
    let ghost = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap();
    // And a real token whose account was deleted since.
    let carol = app.register("carol").await;
    delete_user_row(&app, &carol.id).await;

    for token in [&ghost, &carol.access_token] {
        assert_all_unauthorized(&app, &room_id, token).await;
        // The writes that reached the database with a user id nobody has (500 before).
        let writes = [
            ("/rooms".to_owned(), json!({"name": "haunted", "visibility": "public"})),
            ("/dms".to_owned(), json!({"user_id": alice.id})),
            (format!("/rooms/{room_id}/join"), json!({})),
            (format!("/rooms/{room_id}/messages"), json!({"content": "boo"})),
        ];
        for (path, body) in writes {
            app.post(token, &path, body).await.expect_problem(401, Some("unauthorized"));
        }
        // Refused before the upgrade, so no session (and no presence) for nobody.
        app.ws_refused(&format!("?token={token}"), None, 401).await;
        app.ws_refused("", Some(token), 401).await;
    }
    // The same requests with a real account's token work, so the 401s are about the user.
    app.post(&alice, &format!("/rooms/{room_id}/messages"), json!({"content": "hi"})).await.expect_status(201);
    app.ws(&alice).await.assert_alive().await;
}

/// Deletes the account's row behind the server's back, as an operator's SQL would.
async fn delete_user_row(app: &TestApp, user_id: &str) {
    use sqlx::Connection;
    let id = uuid::Uuid::parse_str(user_id).unwrap();
    let url = app.config.effective_database_url();
    let deleted = if url.starts_with("sqlite:") {
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut db).await.unwrap().rows_affected()
    } else {
        let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut db).await.unwrap().rows_affected()
    };
    assert_eq!(deleted, 1, "the account's row was deleted");
}

/// The JWT's header and payload signed with `secret` (HS256).
fn resign(token: &str, secret: &[u8]) -> String {
    let (signed_part, _) = token.rsplit_once('.').expect("a JWT has three parts");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(signed_part.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signed_part}.{signature}")
}

/// `victim`'s header and signature around `payload_from`'s payload.
fn splice_payload(victim: &str, payload_from: &str) -> String {
    let parts: Vec<&str> = victim.split('.').collect();
    let payload = payload_from.split('.').nth(1).expect("a JWT has a payload");
    assert_eq!(parts.len(), 3, "a JWT has three parts");
    format!("{}.{payload}.{}", parts[0], parts[2])
}
