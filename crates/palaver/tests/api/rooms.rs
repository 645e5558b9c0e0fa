//! Creating, listing, reading, updating, deleting, joining and leaving rooms.

use std::collections::HashSet;

use serde_json::json;

use crate::helpers::{TestApp, assert_room, id_of, ids, items, long_string, query_value};

both_backends!(
    creating_a_room_makes_the_caller_owner,
    room_fields_are_validated,
    anyone_can_read_a_public_room,
    joined_is_the_default_scope,
    public_scope_pages_with_a_cursor,
    owner_can_update_a_room_but_a_member_cannot,
    only_the_owner_can_delete_a_room,
    joining_a_public_room_twice_is_a_no_op,
    joining_a_private_room_needs_an_invitation,
    leaving_a_room,
);

async fn creating_a_room_makes_the_caller_owner(app: TestApp) {
    let alice = app.register("alice").await;
    let body = json!({"name": "  General  ", "description": "Talk", "visibility": "public"});
    let room = app.post(&alice, "/rooms", body).await.expect_status(201);
    assert_room(&room);
    assert_eq!(room["kind"], "room");
    assert_eq!(room["name"], "General", "the name is trimmed");
    assert_eq!(room["description"], "Talk");
    assert_eq!(room["visibility"], "public");
    assert_eq!(room["created_by"], alice.id);
    assert_eq!(room["member_count"], 1);
    assert_eq!(room["last_seq"], 0);
    assert_eq!(room["unread_count"], 0);
    assert_eq!(room["my_role"], "owner");

    let read = app.room(&alice, &id_of(&room)).await;
    assert_eq!(read, room);
}

async fn room_fields_are_validated(app: TestApp) {
    let alice = app.register("alice").await;
    let invalid = [
        (json!({"name": "", "visibility": "public"}), "name"),
        (json!({"name": "   ", "visibility": "public"}), "name"),
        (json!({"name": long_string(101), "visibility": "public"}), "name"),
        (json!({"name": "ok", "description": long_string(1001), "visibility": "public"}), "description"),
    ];
    for (body, field) in invalid {
        app.post(&alice, "/rooms", body).await.expect_invalid(field);
    }
    let bad_visibility = app.post(&alice, "/rooms", json!({"name": "ok", "visibility": "secret"})).await;
    let status = bad_visibility.expect_status_in(&[400, 422]);
    bad_visibility.expect_problem(status, None);

    let padded = format!("  {}  ", "é".repeat(100));
    let body = json!({"name": padded, "description": long_string(1000), "visibility": "private"});
    let room = app.post(&alice, "/rooms", body).await.expect_status(201);
    assert_eq!(room["name"], "é".repeat(100), "100 characters after trimming is the limit");
    assert_eq!(room["visibility"], "private");

    let rooms = app.get(&alice, "/rooms").await.expect_status(200);
    assert_eq!(ids(&rooms), vec![id_of(&room)], "no invalid room was created");
}

async fn anyone_can_read_a_public_room(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let room = app.create_room(&alice, "general", "public").await;

    let seen = app.room(&bob, &id_of(&room)).await;
    assert_room(&seen);
    assert_eq!(seen["id"], room["id"]);
    assert_eq!(seen["my_role"], json!(null), "bob is not a member");
    assert_eq!(seen["unread_count"], json!(null), "bob is not a member");

    let unknown = uuid::Uuid::now_v7();
    app.get(&bob, &format!("/rooms/{unknown}")).await.expect_problem(404, Some("not_found"));
    app.get(&bob, "/rooms/not-a-uuid").await.expect_problem(404, Some("not_found"));
}

async fn joined_is_the_default_scope(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let public = app.create_room(&alice, "public one", "public").await;
    let private = app.create_room(&alice, "private one", "private").await;
    let bobs = app.create_room(&bob, "bob's", "public").await;

    let expected: HashSet<String> = [id_of(&public), id_of(&private)].into();
    for path in ["/rooms", "/rooms?scope=joined"] {
        let page = app.get(&alice, path).await.expect_status(200);
        assert_eq!(ids(&page).into_iter().collect::<HashSet<_>>(), expected, "{path}");
        assert_eq!(page["next_cursor"], json!(null));
        items(&page).iter().for_each(assert_room);
    }
    let page = app.get(&bob, "/rooms").await.expect_status(200);
    assert_eq!(ids(&page), vec![id_of(&bobs)]);
}

async fn public_scope_pages_with_a_cursor(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let mut expected = HashSet::new();
    for i in 0..5 {
        expected.insert(id_of(&app.create_room(&alice, &format!("room {i}"), "public").await));
    }
    app.create_room(&alice, "alice's secret", "private").await;
    app.create_room(&bob, "bob's secret", "private").await;

    let mut seen = Vec::new();
    let mut path = "/rooms?scope=public&limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = app.get(&carol, &path).await.expect_status(200);
        pages += 1;
        assert!(pages <= 5, "paging does not end: {page}");
        let page_items = items(&page);
        assert!(page_items.len() <= 2, "limit=2 is honoured: {page}");
        for room in &page_items {
            assert_room(room);
            assert_eq!(room["visibility"], "public");
            assert_eq!(room["my_role"], json!(null));
            seen.push(id_of(room));
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/rooms?scope=public&limit=2&cursor={}", query_value(cursor)),
            None => break,
        }
    }
    assert!(pages >= 3, "five rooms two at a time take three pages");
    assert_eq!(seen.len(), 5, "each public room exactly once: {seen:?}");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), expected);
}

async fn owner_can_update_a_room_but_a_member_cannot(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    let path = format!("/rooms/{room_id}");
    app.join(&bob, &room_id).await;

    let body = json!({"name": " Lobby ", "description": "All welcome"});
    let updated = app.patch(&alice, &path, body).await.expect_status(200);
    assert_room(&updated);
    assert_eq!(updated["name"], "Lobby");
    assert_eq!(updated["description"], "All welcome");
    assert_eq!(updated["my_role"], "owner");
    assert_eq!(app.room(&bob, &room_id).await["name"], "Lobby");

    let renamed = app.patch(&alice, &path, json!({"description": "Only this"})).await.expect_status(200);
    assert_eq!(renamed["name"], "Lobby", "fields left out stay as they are");

    app.patch(&alice, &path, json!({"name": "  "})).await.expect_invalid("name");
    app.patch(&bob, &path, json!({"name": "mine"})).await.expect_problem(403, None);
    app.patch(&carol, &path, json!({"name": "mine"})).await.expect_problem(403, None);
    assert_eq!(app.room(&alice, &room_id).await["name"], "Lobby");
}

async fn only_the_owner_can_delete_a_room(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    let path = format!("/rooms/{room_id}");
    app.join(&bob, &room_id).await;
    app.post_message(&bob, &room_id, "hello").await;

    app.delete(&bob, &path).await.expect_problem(403, None);
    app.room(&bob, &room_id).await;

    app.delete(&alice, &path).await.expect_status(204);
    app.get(&alice, &path).await.expect_problem(404, Some("not_found"));
    app.get(&bob, &path).await.expect_problem(404, Some("not_found"));
    let messages = format!("/rooms/{room_id}/messages");
    app.get(&bob, &messages).await.expect_problem(404, Some("not_found"));
    let bobs_rooms = app.get(&bob, "/rooms").await.expect_status(200);
    assert!(items(&bobs_rooms).is_empty(), "{bobs_rooms}");
}

async fn joining_a_public_room_twice_is_a_no_op(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);

    let joined = app.join(&bob, &room_id).await;
    assert_room(&joined);
    assert_eq!(joined["my_role"], "member");
    assert_eq!(joined["member_count"], 2);
    assert_eq!(joined["unread_count"], 0);

    let again = app.join(&bob, &room_id).await;
    assert_eq!(again["member_count"], 2);
    assert_eq!(again["my_role"], "member");
    assert_eq!(app.members(&alice, &room_id).await.len(), 2);
    // The owner joining their own room changes nothing either.
    assert_eq!(app.join(&alice, &room_id).await["my_role"], "owner");

    let bobs_rooms = app.get(&bob, "/rooms").await.expect_status(200);
    assert_eq!(ids(&bobs_rooms), vec![room_id]);
}

async fn joining_a_private_room_needs_an_invitation(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let room_id = id_of(&app.create_room(&alice, "secret", "private").await);

    // The contract's one exception to "not yours is 404": joining says it needs an invitation.
    let reply = app.post(&bob, &format!("/rooms/{room_id}/join"), json!({})).await;
    reply.expect_problem(403, Some("forbidden"));
    assert_eq!(app.members(&alice, &room_id).await.len(), 1, "bob did not get in");
    app.get(&bob, &format!("/rooms/{room_id}")).await.expect_problem(404, Some("not_found"));

    app.add_member(&alice, &room_id, &bob).await;
    let joined = app.join(&bob, &room_id).await;
    assert_eq!(joined["my_role"], "member");
    assert_eq!(joined["member_count"], 2);
}

async fn leaving_a_room(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let public_id = id_of(&app.create_room(&alice, "general", "public").await);
    let private_id = id_of(&app.create_room(&alice, "secret", "private").await);
    app.join(&bob, &public_id).await;
    app.add_member(&alice, &private_id, &bob).await;

    for room_id in [&public_id, &private_id] {
        let path = format!("/rooms/{room_id}/leave");
        app.post(&bob, &path, json!({})).await.expect_status(204);
    }
    let public = app.room(&bob, &public_id).await;
    assert_eq!(public["my_role"], json!(null));
    assert_eq!(public["member_count"], 1);
    let path = format!("/rooms/{private_id}");
    app.get(&bob, &path).await.expect_problem(404, Some("not_found"));
    assert_eq!(app.room(&alice, &private_id).await["member_count"], 1);

    let bobs_rooms = app.get(&bob, "/rooms").await.expect_status(200);
    assert!(items(&bobs_rooms).is_empty(), "{bobs_rooms}");
    let messages = format!("/rooms/{public_id}/messages");
    let post = app.post(&bob, &messages, json!({"content": "still here?"})).await;
    post.expect_problem(403, None);
}
