//! Requests the API fuzzer (schemathesis, `.ci/schemathesis`) found the server answering
//! against its own OpenAPI document.

use serde_json::json;

use crate::helpers::{TestApp, id_of};

both_backends!(
    bodies_are_json_objects_not_arrays_of_fields,
    the_owners_role_cannot_change_is_a_conflict,
    a_read_marker_may_be_written_with_a_zero_fraction,
);

/// serde reads a struct from an array of its fields in order; the contract's bodies are
/// objects, so an array is refused like any other wrong type.
async fn bodies_are_json_objects_not_arrays_of_fields(app: TestApp) {
    let alice = app.register("alice").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);

    let reply = app.patch(&alice, &format!("/rooms/{room_id}"), json!([null, null])).await;
    reply.expect_problem(422, Some("validation_failed"));
    let reply = app.patch(&alice, &format!("/rooms/{room_id}"), json!(["renamed", null])).await;
    reply.expect_problem(422, Some("validation_failed"));
    assert_eq!(app.room(&alice, &room_id).await["name"], "general");

    let reply = app.post(&alice, "/rooms", json!(["random", "a room", "public"])).await;
    reply.expect_problem(422, Some("validation_failed"));
    let rooms = app.get(&alice, "/rooms").await.expect_status(200);
    assert_eq!(rooms["items"].as_array().map(Vec::len), Some(1), "{rooms}");

    let reply = app.post(&alice, &format!("/rooms/{room_id}/messages"), json!(["hello", null, null])).await;
    reply.expect_problem(422, Some("validation_failed"));
    assert_eq!(app.last_seq(&alice, &room_id).await, 0);
}

/// The owner's role is not the request's to change (ownership passes only when the owner
/// leaves): a conflict with the room's state, not an invalid field of the body.
async fn the_owners_role_cannot_change_is_a_conflict(app: TestApp) {
    let alice = app.register("alice").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    for role in ["admin", "member"] {
        let path = format!("/rooms/{room_id}/members/{}", alice.id);
        app.patch(&alice, &path, json!({"role": role})).await.expect_problem(409, Some("conflict"));
    }
    let members = app.members(&alice, &room_id).await;
    assert_eq!(members[0]["role"], "owner", "{members:?}");
}

/// JSON Schema's `integer` (the document's type for `seq`) admits `2.0`; a fraction is still
/// refused.
async fn a_read_marker_may_be_written_with_a_zero_fraction(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    for n in 0..3 {
        app.post_message(&alice, &room_id, &format!("hi {n}")).await;
    }
    let read = format!("/rooms/{room_id}/read");
    app.post(&bob, &read, json!({"seq": 2.0})).await.expect_status(204);
    app.post(&bob, &read, json!({"seq": 2.5})).await.expect_invalid("body");
    let members = app.members(&bob, &room_id).await;
    let marker = members.iter().find(|m| m["user"]["id"] == bob.id).map(|m| m["last_read_seq"].clone());
    assert_eq!(marker, Some(json!(2)), "{members:?}");
}
