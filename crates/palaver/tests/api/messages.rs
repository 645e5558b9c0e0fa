//! Posting, retrying, editing and deleting messages, and who may do each.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_message, id_of, items, long_string};

both_backends!(
    posting_returns_the_message,
    message_fields_are_validated,
    a_retry_with_the_same_client_msg_id_stores_one_message,
    authors_edit_their_own_messages,
    deleting_a_message_keeps_its_seq,
    owners_and_admins_delete_messages_of_others,
    only_members_post_and_read,
    messages_are_found_only_in_their_room,
);

fn messages_path(room_id: &str) -> String {
    format!("/rooms/{room_id}/messages")
}

fn message_path(room_id: &str, message: &Value) -> String {
    format!("/rooms/{room_id}/messages/{}", id_of(message))
}

async fn posting_returns_the_message(app: TestApp) {
    let (alice, _bob, room_id) = app.room_of_two().await;
    let body = json!({"content": "hello world", "client_msg_id": "c-1"});
    let message = app.post(&alice, &messages_path(&room_id), body).await.expect_status(201);
    assert_message(&message);
    assert_eq!(message["room_id"], room_id);
    assert_eq!(message["seq"], 1);
    assert_eq!(message["updated_seq"], 1);
    assert_eq!(message["author"], json!({"id": alice.id, "username": "alice"}));
    assert_eq!(message["kind"], "text");
    assert_eq!(message["content"], "hello world");
    assert_eq!(message["attachment"], json!(null));
    assert_eq!(message["client_msg_id"], "c-1");
    assert_eq!(message["edited_at"], json!(null));
    assert_eq!(message["deleted"], false);

    let plain = app.post_message(&alice, &room_id, "no client id").await;
    assert_eq!(plain["seq"], 2);
    assert_eq!(plain["client_msg_id"], json!(null));
    assert_eq!(app.last_seq(&alice, &room_id).await, 2);
    let history = app.history(&alice, &room_id, "").await;
    assert_eq!(items(&history), vec![message, plain]);
}

async fn message_fields_are_validated(app: TestApp) {
    let (alice, _bob, room_id) = app.room_of_two().await;
    let path = messages_path(&room_id);
    let invalid = [
        (json!({"content": ""}), "content"),
        (json!({"content": " \n\t "}), "content"),
        (json!({"content": long_string(4001)}), "content"),
        (json!({}), "content"),
        (json!({"content": "ok", "client_msg_id": long_string(65)}), "client_msg_id"),
    ];
    for (body, field) in invalid {
        app.post(&alice, &path, body).await.expect_invalid(field);
    }
    assert_eq!(app.last_seq(&alice, &room_id).await, 0, "nothing was stored");

    let valid = [
        json!({"content": long_string(4000)}),
        json!({"content": "é".repeat(4000)}),
        json!({"content": format!("  {}  ", long_string(4000))}),
        json!({"content": "ok", "client_msg_id": long_string(64)}),
    ];
    for body in valid {
        app.post(&alice, &path, body).await.expect_status(201);
    }
}

async fn a_retry_with_the_same_client_msg_id_stores_one_message(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let other_room = id_of(&app.create_room(&alice, "other", "public").await);
    let body = json!({"content": "only once", "client_msg_id": "retry-me"});

    let first = app.post(&alice, &messages_path(&room_id), body.clone()).await.expect_status(201);
    let retry = app.post(&alice, &messages_path(&room_id), body.clone()).await;
    let retry_status = retry.expect_status_in(&[200, 201]);
    let retry = retry.expect_status(retry_status);
    assert_eq!(retry["id"], first["id"]);
    assert_eq!(retry["seq"], first["seq"]);
    assert_eq!(retry, first, "the same Message both times");
    assert_eq!(app.last_seq(&alice, &room_id).await, 1, "the retry took no seq");

    // The key is per user and per room.
    let bobs = app.post(&bob, &messages_path(&room_id), body.clone()).await.expect_status(201);
    assert_ne!(bobs["id"], first["id"]);
    assert_eq!(bobs["seq"], 2);
    let elsewhere = app.post(&alice, &messages_path(&other_room), body).await.expect_status(201);
    assert_ne!(elsewhere["id"], first["id"]);
    assert_eq!(items(&app.history(&alice, &room_id, "").await).len(), 2);
}

async fn authors_edit_their_own_messages(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let message = app.post_message(&bob, &room_id, "helo").await;
    let path = message_path(&room_id, &message);

    let edited = app.patch(&bob, &path, json!({"content": "hello"})).await.expect_status(200);
    assert_message(&edited);
    assert_eq!(edited["id"], message["id"]);
    assert_eq!(edited["content"], "hello");
    assert_eq!(edited["seq"], 1, "an edit keeps the message's seq");
    assert_eq!(edited["updated_seq"], 2, "an edit takes the room's next seq");
    assert!(edited["edited_at"].is_string(), "{edited}");
    assert_eq!(edited["created_at"], message["created_at"]);
    assert_eq!(app.last_seq(&bob, &room_id).await, 2);

    // Not even the room owner edits someone else's words.
    app.patch(&alice, &path, json!({"content": "hijacked"})).await.expect_problem(403, None);
    app.patch(&bob, &path, json!({"content": "   "})).await.expect_invalid("content");
    app.patch(&bob, &path, json!({"content": long_string(4001)})).await.expect_invalid("content");

    let history = app.history(&alice, &room_id, "").await;
    assert_eq!(items(&history), vec![edited]);
    assert_eq!(app.last_seq(&bob, &room_id).await, 2, "refused edits take no seq");
}

async fn deleting_a_message_keeps_its_seq(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let message = app.post_message(&bob, &room_id, "oops").await;
    let after = app.post_message(&alice, &room_id, "still here").await;
    let path = message_path(&room_id, &message);

    app.delete(&bob, &path).await.expect_status(204);
    assert_eq!(app.last_seq(&alice, &room_id).await, 3, "a delete takes the room's next seq");

    let history = items(&app.history(&alice, &room_id, "").await);
    assert_eq!(history.len(), 2, "a deleted message keeps its place: {history:?}");
    let deleted = &history[0];
    assert_message(deleted);
    assert_eq!(deleted["id"], message["id"]);
    assert_eq!(deleted["seq"], 1);
    assert_eq!(deleted["updated_seq"], 3);
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted["content"], "");
    assert_eq!(deleted["attachment"], json!(null));
    assert_eq!(history[1], after);

    let again = app.delete(&bob, &path).await;
    let status = again.expect_status_in(&[204, 404]);
    if status == 404 {
        again.expect_problem(404, Some("not_found"));
    }
    let edit = app.patch(&bob, &path, json!({"content": "back"})).await;
    assert!(edit.status >= 400, "a deleted message cannot be edited back: {}", edit.text);
    assert_eq!(app.last_seq(&alice, &room_id).await, 3, "nothing more happened");
}

async fn owners_and_admins_delete_messages_of_others(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;
    app.join(&carol, &room_id).await;
    app.join(&dave, &room_id).await;
    let role = json!({"role": "admin"});
    let role_path = format!("/rooms/{room_id}/members/{}", carol.id);
    app.patch(&alice, &role_path, role).await.expect_status(200);

    let first = app.post_message(&bob, &room_id, "one").await;
    let second = app.post_message(&bob, &room_id, "two").await;
    let third = app.post_message(&alice, &room_id, "three").await;

    app.delete(&dave, &message_path(&room_id, &first)).await.expect_problem(403, None);
    app.delete(&bob, &message_path(&room_id, &third)).await.expect_problem(403, None);
    app.delete(&alice, &message_path(&room_id, &first)).await.expect_status(204);
    app.delete(&carol, &message_path(&room_id, &second)).await.expect_status(204);

    let history = items(&app.history(&dave, &room_id, "").await);
    let deleted: Vec<&Value> = history.iter().map(|m| &m["deleted"]).collect();
    assert_eq!(deleted, vec![&json!(true), &json!(true), &json!(false)]);
}

async fn only_members_post_and_read(app: TestApp) {
    let (alice, _bob, room_id) = app.room_of_two().await;
    let carol = app.register("carol").await;
    app.post_message(&alice, &room_id, "members only").await;
    let path = messages_path(&room_id);

    // The room is public, so it exists for carol; she is just not in it.
    app.post(&carol, &path, json!({"content": "let me in"})).await.expect_problem(403, None);
    app.get(&carol, &path).await.expect_problem(403, None);
    app.post(&carol, &format!("/rooms/{room_id}/read"), json!({"seq": 1})).await.expect_problem(403, None);
    assert_eq!(app.last_seq(&alice, &room_id).await, 1);

    app.join(&carol, &room_id).await;
    assert_eq!(items(&app.history(&carol, &room_id, "").await).len(), 1);
    app.post_message(&carol, &room_id, "thanks").await;
}

async fn messages_are_found_only_in_their_room(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let other_room = id_of(&app.create_room(&alice, "other", "public").await);
    let message = app.post_message(&bob, &room_id, "here").await;

    let wrong_room = message_path(&other_room, &message);
    app.patch(&alice, &wrong_room, json!({"content": "x"})).await.expect_problem(404, Some("not_found"));
    app.delete(&alice, &wrong_room).await.expect_problem(404, Some("not_found"));

    let unknown = format!("/rooms/{room_id}/messages/{}", uuid::Uuid::now_v7());
    app.patch(&bob, &unknown, json!({"content": "x"})).await.expect_problem(404, Some("not_found"));
    app.delete(&bob, &unknown).await.expect_problem(404, Some("not_found"));

    let no_room = messages_path(&uuid::Uuid::now_v7().to_string());
    app.post(&bob, &no_room, json!({"content": "x"})).await.expect_problem(404, Some("not_found"));
    app.get(&bob, &no_room).await.expect_problem(404, Some("not_found"));
    assert_eq!(items(&app.history(&bob, &room_id, "").await), vec![message]);
}
