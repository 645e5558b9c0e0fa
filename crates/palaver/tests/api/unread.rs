//! Read markers and `unread_count`: messages by others, not deleted, above the marker.

use serde_json::json;

use crate::helpers::{TestApp, TestUser, id_of, items};

both_backends!(unread_counts_messages_by_others_above_the_marker, read_markers_only_move_forward);

async fn unread(app: &TestApp, user: &TestUser, room_id: &str) -> serde_json::Value {
    app.room(user, room_id).await["unread_count"].clone()
}

async fn mark_read(app: &TestApp, user: &TestUser, room_id: &str, seq: i64) {
    let path = format!("/rooms/{room_id}/read");
    app.post(user, &path, json!({"seq": seq})).await.expect_status(204);
}

async fn last_read_seq(app: &TestApp, viewer: &TestUser, room_id: &str, user: &TestUser) -> serde_json::Value {
    let members = app.members(viewer, room_id).await;
    let member = members.iter().find(|m| m["user"]["id"] == user.id).expect("a member");
    member["last_read_seq"].clone()
}

async fn unread_counts_messages_by_others_above_the_marker(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    app.join(&bob, &room_id).await;

    let m1 = app.post_message(&bob, &room_id, "one").await;
    let m2 = app.post_message(&bob, &room_id, "two").await;
    app.post_message(&bob, &room_id, "three").await;
    assert_eq!(unread(&app, &alice, &room_id).await, 3);

    app.post_message(&alice, &room_id, "my own does not count").await;
    assert_eq!(unread(&app, &alice, &room_id).await, 3);
    assert_eq!(unread(&app, &bob, &room_id).await, 1, "alice's message counts for bob");

    // The list shows the same count as the room.
    let alices = app.get(&alice, "/rooms").await.expect_status(200);
    assert_eq!(items(&alices)[0]["unread_count"], 3);

    let path = format!("/rooms/{room_id}/messages/{}", id_of(&m2));
    app.delete(&bob, &path).await.expect_status(204);
    assert_eq!(unread(&app, &alice, &room_id).await, 2, "deleted messages do not count");

    // An edit is an event, not a new message.
    let path = format!("/rooms/{room_id}/messages/{}", id_of(&m1));
    app.patch(&bob, &path, json!({"content": "one!"})).await.expect_status(200);
    assert_eq!(unread(&app, &alice, &room_id).await, 2);

    mark_read(&app, &alice, &room_id, 1).await;
    assert_eq!(unread(&app, &alice, &room_id).await, 1);
    mark_read(&app, &alice, &room_id, app.last_seq(&alice, &room_id).await).await;
    assert_eq!(unread(&app, &alice, &room_id).await, 0);
    assert_eq!(unread(&app, &bob, &room_id).await, 1, "alice's marker is hers alone");
}

async fn read_markers_only_move_forward(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    app.join(&bob, &room_id).await;
    for text in ["a", "b", "c", "d"] {
        app.post_message(&bob, &room_id, text).await;
    }

    mark_read(&app, &alice, &room_id, 3).await;
    assert_eq!(unread(&app, &alice, &room_id).await, 1);
    assert_eq!(last_read_seq(&app, &bob, &room_id, &alice).await, 3);

    mark_read(&app, &alice, &room_id, 1).await;
    mark_read(&app, &alice, &room_id, 0).await;
    assert_eq!(unread(&app, &alice, &room_id).await, 1, "the marker does not move back");
    assert_eq!(last_read_seq(&app, &alice, &room_id, &alice).await, 3);
    assert_eq!(last_read_seq(&app, &alice, &room_id, &bob).await, 0);

    let path = format!("/rooms/{room_id}/read");
    app.post(&alice, &path, json!({"seq": "three"})).await.expect_status_in(&[400, 422]);
    app.post(&alice, &path, json!({"seq": -1})).await.expect_status_in(&[400, 422]);
    assert_eq!(last_read_seq(&app, &alice, &room_id, &alice).await, 3);

    mark_read(&app, &alice, &room_id, 4).await;
    assert_eq!(unread(&app, &alice, &room_id).await, 0);
    assert_eq!(last_read_seq(&app, &bob, &room_id, &alice).await, 4);
}
