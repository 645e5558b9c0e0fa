//! Direct messages: one room of kind `dm` per pair of users, private to the two.

use std::collections::HashSet;

use serde_json::json;

use crate::helpers::{TestApp, assert_room, id_of, ids};

both_backends!(a_pair_always_gets_the_same_dm, dms_need_another_existing_user, a_dm_is_private_to_its_pair,);

async fn a_pair_always_gets_the_same_dm(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;

    let dm = app.open_dm(&alice, &bob).await;
    assert_room(&dm);
    assert_eq!(dm["kind"], "dm");
    assert_eq!(dm["member_count"], 2);
    assert_eq!(dm["last_seq"], 0);
    assert_eq!(dm["unread_count"], 0);

    let again = app.open_dm(&alice, &bob).await;
    assert_eq!(again["id"], dm["id"]);
    let from_bob = app.open_dm(&bob, &alice).await;
    assert_eq!(from_bob["id"], dm["id"]);

    let other = app.open_dm(&alice, &carol).await;
    assert_ne!(other["id"], dm["id"], "another pair, another room");

    let alices: HashSet<String> = ids(&app.get(&alice, "/rooms").await.expect_status(200)).into_iter().collect();
    assert_eq!(alices, [id_of(&dm), id_of(&other)].into());
    let bobs = app.get(&bob, "/rooms").await.expect_status(200);
    assert_eq!(ids(&bobs), vec![id_of(&dm)]);

    let message = app.post_message(&bob, &id_of(&dm), "hi alice").await;
    assert_eq!(message["seq"], 1);
    assert_eq!(app.room(&alice, &id_of(&dm)).await["unread_count"], 1);
}

async fn dms_need_another_existing_user(app: TestApp) {
    let alice = app.register("alice").await;
    app.post(&alice, "/dms", json!({"user_id": alice.id})).await.expect_invalid("user_id");
    let unknown = uuid::Uuid::now_v7();
    let reply = app.post(&alice, "/dms", json!({"user_id": unknown})).await;
    reply.expect_problem(404, Some("not_found"));
    let rooms = app.get(&alice, "/rooms").await.expect_status(200);
    assert!(ids(&rooms).is_empty(), "{rooms}");
}

async fn a_dm_is_private_to_its_pair(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let dm_id = id_of(&app.open_dm(&alice, &bob).await);
    let message = app.post_message(&alice, &dm_id, "just between us").await;

    let room = format!("/rooms/{dm_id}");
    app.get(&carol, &room).await.expect_problem(404, Some("not_found"));
    app.get(&carol, &format!("{room}/messages")).await.expect_problem(404, Some("not_found"));
    app.get(&carol, &format!("{room}/members")).await.expect_problem(404, Some("not_found"));
    let post = app.post(&carol, &format!("{room}/messages"), json!({"content": "hi"})).await;
    post.expect_problem(404, Some("not_found"));
    let delete = app.delete(&carol, &format!("{room}/messages/{}", id_of(&message))).await;
    delete.expect_problem(404, Some("not_found"));

    let join = app.post(&carol, &format!("{room}/join"), json!({})).await;
    let status = join.expect_status_in(&[403, 404]);
    join.expect_problem(status, None);
    let add = app.post(&alice, &format!("{room}/members"), json!({"user_id": carol.id})).await;
    let status = add.expect_status_in(&[400, 403, 409, 422]);
    add.expect_problem(status, None);
    assert_eq!(app.room(&alice, &dm_id).await["member_count"], 2, "a DM stays a pair");

    let public = app.get(&carol, "/rooms?scope=public").await.expect_status(200);
    assert!(!ids(&public).contains(&dm_id), "DMs are not listed publicly");
    assert_eq!(app.history(&bob, &dm_id, "").await["items"][0]["id"], message["id"]);
}
