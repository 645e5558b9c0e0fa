//! Notifications: mentions, DMs and invites; filtering, paging and marking read.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_keys, assert_utc_time, assert_uuid_v7, id_of, items, query_value};

both_backends!(
    a_mention_notifies_a_member,
    mentions_of_non_members_or_oneself_notify_nobody,
    a_dm_notifies_the_other_user,
    being_added_to_a_room_is_an_invite,
    notifications_page_newest_first,
    notifications_are_marked_read_by_id_or_all,
);

#[track_caller]
fn assert_notification(n: &Value, kind: &str, room_id: &str, actor: &TestUser) {
    assert_keys(n, &["id", "kind", "room_id", "message_id", "actor", "created_at", "read_at"]);
    assert_uuid_v7(&n["id"]);
    assert_eq!(n["kind"], kind);
    assert_eq!(n["room_id"], room_id);
    assert_eq!(n["actor"], json!({"id": actor.id, "username": actor.username}));
    assert_utc_time(&n["created_at"]);
    assert_eq!(n["read_at"], json!(null));
}

async fn all_notifications(app: &TestApp, user: &TestUser) -> Vec<Value> {
    items(&app.notifications(user, "").await)
}

async fn a_mention_notifies_a_member(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    app.join(&bob, &room_id).await;

    let message = app.post_message(&alice, &room_id, "hey @bob, look at this").await;

    let bobs = app.notifications_at_least(&bob, 1).await;
    assert_eq!(bobs.len(), 1, "{bobs:?}");
    assert_notification(&bobs[0], "mention", &room_id, &alice);
    assert_eq!(bobs[0]["message_id"], message["id"]);
    assert!(all_notifications(&app, &alice).await.is_empty());
}

async fn mentions_of_non_members_or_oneself_notify_nobody(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    app.join(&bob, &room_id).await;

    app.post_message(&alice, &room_id, "@carol are you there? @alice @nobody").await;
    app.post_message(&bob, &room_id, "talking to myself, @bob").await;
    // A real mention afterwards arrives, so the silence about the others means something.
    let hello = app.post_message(&bob, &room_id, "@alice hi").await;

    let alices = app.notifications_at_least(&alice, 1).await;
    let message_ids: Vec<&Value> = alices.iter().map(|n| &n["message_id"]).collect();
    assert_eq!(message_ids, vec![&hello["id"]], "only bob's mention of alice");
    for user in [&bob, &carol] {
        let theirs = all_notifications(&app, user).await;
        assert!(theirs.is_empty(), "{}: {theirs:?}", user.username);
    }
}

async fn a_dm_notifies_the_other_user(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let dm_id = id_of(&app.open_dm(&alice, &bob).await);

    let message = app.post_message(&alice, &dm_id, "psst").await;

    let bobs = app.notifications_at_least(&bob, 1).await;
    assert_eq!(bobs.len(), 1, "{bobs:?}");
    assert_notification(&bobs[0], "dm", &dm_id, &alice);
    assert_eq!(bobs[0]["message_id"], message["id"]);
    assert!(all_notifications(&app, &alice).await.is_empty(), "not for the sender");
}

async fn being_added_to_a_room_is_an_invite(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let room_id = id_of(&app.create_room(&alice, "secret", "private").await);
    app.add_member(&alice, &room_id, &carol).await;

    let carols = app.notifications_at_least(&carol, 1).await;
    assert_eq!(carols.len(), 1, "{carols:?}");
    assert_notification(&carols[0], "invite", &room_id, &alice);
    assert_eq!(carols[0]["message_id"], json!(null));

    // Joining by oneself is no invitation.
    let public_id = id_of(&app.create_room(&alice, "general", "public").await);
    app.join(&bob, &public_id).await;
    app.add_member(&alice, &room_id, &bob).await;
    let bobs = app.notifications_at_least(&bob, 1).await;
    assert_eq!(bobs.len(), 1, "the invite to the private room only: {bobs:?}");
    assert_eq!(bobs[0]["room_id"], room_id);
}

async fn notifications_page_newest_first(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    app.join(&bob, &room_id).await;
    let mut message_ids = Vec::new();
    for i in 0..5 {
        let message = app.post_message(&alice, &room_id, &format!("@bob number {i}")).await;
        message_ids.push(message["id"].clone());
    }
    message_ids.reverse();
    app.notifications_at_least(&bob, 5).await;

    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    for page_number in 1.. {
        assert!(page_number <= 5, "paging does not end");
        let page = app.notifications(&bob, &query).await;
        let page_items = items(&page);
        assert!(page_items.len() <= 2, "{page}");
        seen.extend(page_items);
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={}", query_value(cursor)),
            None => break,
        }
    }
    let seen_messages: Vec<Value> = seen.iter().map(|n| n["message_id"].clone()).collect();
    assert_eq!(seen_messages, message_ids, "each once, newest first");
    let distinct: HashSet<String> = seen.iter().map(id_of).collect();
    assert_eq!(distinct.len(), 5);
}

async fn notifications_are_marked_read_by_id_or_all(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    app.join(&bob, &room_id).await;
    for i in 0..3 {
        app.post_message(&alice, &room_id, &format!("@bob {i}")).await;
    }
    let before = app.notifications_at_least(&bob, 3).await;
    assert_eq!(before.len(), 3);
    let first_id = id_of(&before[0]);

    app.post(&bob, "/notifications/read", json!({"ids": [first_id]})).await.expect_status(204);
    let after = all_notifications(&app, &bob).await;
    let read: Vec<bool> = after.iter().map(|n| n["read_at"].is_string()).collect();
    assert_eq!(read, vec![true, false, false], "only that one: {after:?}");
    assert_utc_time(&after[0]["read_at"]);

    let unread = items(&app.notifications(&bob, "?unread_only=true").await);
    assert_eq!(unread.len(), 2);
    assert!(unread.iter().all(|n| n["read_at"].is_null() && id_of(n) != first_id));

    app.post(&bob, "/notifications/read", json!({"all": true})).await.expect_status(204);
    assert!(all_notifications(&app, &bob).await.iter().all(|n| n["read_at"].is_string()));
    assert!(items(&app.notifications(&bob, "?unread_only=true").await).is_empty());
    // Reading twice keeps the first time.
    let again = all_notifications(&app, &bob).await;
    app.post(&bob, "/notifications/read", json!({"ids": [first_id]})).await.expect_status(204);
    assert_eq!(all_notifications(&app, &bob).await, again);
}
