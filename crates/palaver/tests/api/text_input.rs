//! Text every endpoint takes: NUL is refused with 422 naming the field, on both backends
//! alike (PostgreSQL cannot store it, SQLite can), over REST and WebSocket `send`; text made
//! only of invisible characters is empty.

use serde_json::{Value, json};

use crate::helpers::{Anonymous, PASSWORD, TestApp, id_of, type_of};

both_backends!(
    nul_in_any_text_field_is_refused_with_422,
    nul_in_a_websocket_send_is_a_validation_error,
    invisible_only_text_is_empty,
);

const NUL: &str = "a\u{0}b";

/// Zero-width space, joiner and non-joiner, word joiner, BOM, and a space between.
const INVISIBLE: &str = "\u{200B}\u{200C}\u{200D} \u{2060}\u{FEFF}";

async fn nul_in_any_text_field_is_refused_with_422(app: TestApp) {
    let alice = app.register("alice").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    let messages = format!("/rooms/{room_id}/messages");
    let message_id = id_of(&app.post_message(&alice, &room_id, "hello").await);
    let message = format!("{messages}/{message_id}");

    let register = |username: &str, email: &str, password: &str| json!({"username": username, "email": email, "password": password});
    let cases: Vec<(&str, String, Value, &str)> = vec![
        ("POST", "/auth/register".into(), register(NUL, "x@example.com", PASSWORD), "username"),
        ("POST", "/auth/register".into(), register("carol", "x\u{0}@example.com", PASSWORD), "email"),
        ("POST", "/auth/register".into(), register("carol", "x@example.com", "pass\u{0}word"), "password"),
        ("POST", "/auth/login".into(), json!({"username": "ali\u{0}ce", "password": PASSWORD}), "username"),
        ("POST", "/auth/login".into(), json!({"email": "alice@example.com\u{0}", "password": PASSWORD}), "email"),
        ("POST", "/auth/refresh".into(), json!({"refresh_token": NUL}), "refresh_token"),
        ("POST", "/auth/logout".into(), json!({"refresh_token": NUL}), "refresh_token"),
        ("POST", "/rooms".into(), json!({"name": NUL, "visibility": "public"}), "name"),
        ("POST", "/rooms".into(), json!({"name": "ok", "description": NUL, "visibility": "public"}), "description"),
        ("PATCH", format!("/rooms/{room_id}"), json!({"name": NUL}), "name"),
        ("PATCH", format!("/rooms/{room_id}"), json!({"description": NUL}), "description"),
        ("POST", messages.clone(), json!({"content": NUL}), "content"),
        ("POST", messages.clone(), json!({"content": "hi", "client_msg_id": NUL}), "client_msg_id"),
        ("PATCH", message.clone(), json!({"content": NUL}), "content"),
    ];
    for (method, path, body, field) in cases {
        let reply = app.request(method.parse().unwrap(), &path, &alice, Some(&body)).await;
        reply.expect_invalid(field);
    }

    // Nothing was stored, and the refused login did not count against anyone.
    let room = app.room(&alice, &room_id).await;
    assert_eq!(room["name"], "general");
    assert_eq!(room["last_seq"], 1);
    let history = app.history(&alice, &room_id, "").await;
    assert_eq!(history["items"][0]["content"], "hello", "the edit was refused: {history}");
    let rooms = app.get(&alice, "/rooms").await.expect_status(200);
    assert_eq!(rooms["items"].as_array().map(Vec::len), Some(1), "no room was created: {rooms}");
    let login = json!({"username": "alice", "password": PASSWORD});
    app.post(&Anonymous, "/auth/login", login).await.expect_status(200);
}

async fn nul_in_a_websocket_send_is_a_validation_error(app: TestApp) {
    let alice = app.register("alice").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    let mut client = app.ws(&alice).await;

    let frames = [
        (json!({"type": "send", "room_id": room_id, "content": NUL}), "content"),
        (json!({"type": "send", "room_id": room_id, "content": "hi", "client_msg_id": NUL}), "client_msg_id"),
        (json!({"type": "send", "room_id": room_id, "content": INVISIBLE}), "content"),
    ];
    for (frame, field) in frames {
        let reply = client.request(frame).await;
        assert_eq!(type_of(&reply), "error", "{reply}");
        assert_eq!(reply["code"], "validation_failed", "{reply}");
        let text = reply["message"].as_str().unwrap_or_default();
        assert!(text.contains(field), "the error names `{field}`: {reply}");
    }
    client.assert_alive().await;
    assert_eq!(app.last_seq(&alice, &room_id).await, 0, "nothing was posted");
}

async fn invisible_only_text_is_empty(app: TestApp) {
    let alice = app.register("alice").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    let messages = format!("/rooms/{room_id}/messages");

    app.post(&alice, "/rooms", json!({"name": INVISIBLE, "visibility": "public"})).await.expect_invalid("name");
    app.patch(&alice, &format!("/rooms/{room_id}"), json!({"name": INVISIBLE})).await.expect_invalid("name");
    app.post(&alice, &messages, json!({"content": INVISIBLE})).await.expect_invalid("content");
    let message_id = id_of(&app.post_message(&alice, &room_id, "hello").await);
    let edit = format!("{messages}/{message_id}");
    app.patch(&alice, &edit, json!({"content": INVISIBLE})).await.expect_invalid("content");

    // Around visible text they are trimmed; inside it (an emoji sequence) they are kept.
    let kept = app.post_message(&alice, &room_id, "\u{200B} 👩\u{200D}💻 \u{FEFF}").await;
    assert_eq!(kept["content"], "👩\u{200D}💻");
    assert_eq!(app.room(&alice, &room_id).await["name"], "general");
}
