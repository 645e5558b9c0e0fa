//! "Not yours" is 404: another user's private room, its members and messages, and their
//! notifications are indistinguishable from missing ones.

use serde_json::json;

use crate::helpers::{TestApp, id_of, ids, items};

both_backends!(
    another_users_private_room_is_not_found,
    messages_of_a_private_room_are_not_found,
    another_users_notifications_cannot_be_marked,
);

async fn another_users_private_room_is_not_found(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let room_id = id_of(&app.create_room(&alice, "secret", "private").await);
    app.post_message(&alice, &room_id, "hidden").await;
    let room = format!("/rooms/{room_id}");

    let missing = uuid::Uuid::now_v7();
    let missing_room = format!("/rooms/{missing}");
    for path in [&room, &missing_room] {
        let not_found = [
            app.get(&bob, path).await,
            app.get(&bob, &format!("{path}/members")).await,
            app.get(&bob, &format!("{path}/messages")).await,
            app.post(&bob, &format!("{path}/messages"), json!({"content": "hi"})).await,
            app.patch(&bob, path, json!({"name": "mine"})).await,
            app.delete(&bob, path).await,
            app.post(&bob, &format!("{path}/members"), json!({"user_id": carol.id})).await,
            app.post(&bob, &format!("{path}/read"), json!({"seq": 1})).await,
            app.post(&bob, &format!("{path}/leave"), json!({})).await,
        ];
        for reply in not_found {
            reply.expect_problem(404, Some("not_found"));
        }
    }
    let target = format!("{room}/members/{}", alice.id);
    app.patch(&bob, &target, json!({"role": "member"})).await.expect_problem(404, Some("not_found"));
    app.delete(&bob, &target).await.expect_problem(404, Some("not_found"));

    // Nothing changed, and bob's lists do not mention it.
    let seen = app.room(&alice, &room_id).await;
    assert_eq!(
        (seen["name"].clone(), seen["member_count"].clone(), seen["last_seq"].clone()),
        (json!("secret"), json!(1), json!(1))
    );
    assert!(!ids(&app.get(&bob, "/rooms?scope=public").await.expect_status(200)).contains(&room_id));
    assert!(items(&app.get(&bob, "/rooms").await.expect_status(200)).is_empty());
}

async fn messages_of_a_private_room_are_not_found(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let private_id = id_of(&app.create_room(&alice, "secret", "private").await);
    let message = app.post_message(&alice, &private_id, "hidden").await;
    let bobs_room = id_of(&app.create_room(&bob, "bob's", "public").await);

    // Neither through its own room nor through a room bob owns.
    for room_id in [&private_id, &bobs_room] {
        let path = format!("/rooms/{room_id}/messages/{}", id_of(&message));
        app.patch(&bob, &path, json!({"content": "mine"})).await.expect_problem(404, Some("not_found"));
        app.delete(&bob, &path).await.expect_problem(404, Some("not_found"));
    }
    let history = app.history(&alice, &private_id, "").await;
    assert_eq!(items(&history), vec![message]);
}

async fn another_users_notifications_cannot_be_marked(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    app.join(&bob, &room_id).await;
    app.join(&carol, &room_id).await;
    app.post_message(&alice, &room_id, "@bob ping").await;
    let bobs = app.notifications_at_least(&bob, 1).await;
    assert_eq!(bobs.len(), 1, "bob was mentioned");
    let bobs_id = id_of(&bobs[0]);

    let reply = app.post(&carol, "/notifications/read", json!({"ids": [bobs_id]})).await;
    let status = reply.expect_status_in(&[204, 404]);
    if status == 404 {
        reply.expect_problem(404, Some("not_found"));
    }
    app.post(&carol, "/notifications/read", json!({"all": true})).await.expect_status(204);

    let unread = items(&app.notifications(&bob, "?unread_only=true").await);
    assert_eq!(unread.len(), 1, "carol could not mark bob's notification read");
    assert_eq!(unread[0]["read_at"], json!(null));
    assert!(items(&app.notifications(&carol, "").await).is_empty(), "and she cannot see it");
}
