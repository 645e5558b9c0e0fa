//! Threads (contract v1.1): a reply is one ordinary room event; its root shows a summary
//! derived from the replies; room history leaves replies out and a thread pages its own;
//! followers get `reply` notifications and list their threads with unread counts.

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_message, id_of, items, seqs, type_of};

both_backends!(
    a_reply_is_one_room_event_and_its_root_sums_it_up,
    room_history_leaves_replies_out_and_a_thread_pages_its_own,
    a_reply_must_be_to_a_live_top_level_message_of_the_room,
    participants_are_the_five_latest_repliers,
    followers_get_reply_notifications_but_not_the_replier,
    followed_threads_are_listed_with_unread_counts_that_agree_on_every_device,
    followed_threads_page_by_newest_activity,
    a_member_removed_mid_thread_stops_following_it,
    a_deleted_root_keeps_its_thread,
    resume_replays_replies_like_any_event,
);

fn thread_path(room_id: &str, root_id: &str) -> String {
    format!("/rooms/{room_id}/threads/{root_id}/messages")
}

async fn thread(app: &TestApp, user: &TestUser, room_id: &str, root_id: &str, query: &str) -> Value {
    app.get(user, &format!("{}{query}", thread_path(room_id, root_id))).await.expect_status(200)
}

async fn followed(app: &TestApp, user: &TestUser) -> Vec<Value> {
    items(&app.get(user, "/threads").await.expect_status(200))
}

async fn mark_thread_read(app: &TestApp, user: &TestUser, room_id: &str, root_id: &str, seq: i64) {
    let path = format!("/rooms/{room_id}/threads/{root_id}/read");
    app.post(user, &path, json!({"seq": seq})).await.expect_status(204);
}

fn usernames(participants: &Value) -> Vec<&str> {
    participants.as_array().expect("participants").iter().map(|p| p["username"].as_str().unwrap_or("")).collect()
}

/// alice, bob and carol in alice's public room.
async fn three_in_a_room(app: &TestApp) -> (TestUser, TestUser, TestUser, String) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    app.join(&bob, &room_id).await;
    app.join(&carol, &room_id).await;
    (alice, bob, carol, room_id)
}

async fn a_reply_is_one_room_event_and_its_root_sums_it_up(app: TestApp) {
    let (alice, bob, carol, room_id) = three_in_a_room(&app).await;
    let mut watcher = app.ws(&alice).await.labelled("alice");
    watcher.subscribe(&room_id, None).await;
    let root = app.post_message(&alice, &room_id, "lunch?").await;
    let root_id = id_of(&root);
    assert_eq!(root["thread_root_id"], Value::Null);
    assert_eq!(root["thread"], Value::Null, "no replies, no summary: {root}");

    let first = app.post_reply(&bob, &room_id, &root_id, "yes").await;
    assert_message(&first);
    assert_eq!(first["thread_root_id"], root_id.as_str());
    assert_eq!(first["seq"], 2, "a reply takes the room's next seq");
    // Over the socket too.
    let mut carols = app.ws(&carol).await.labelled("carol");
    let ack = carols
        .request(json!({"type": "send", "room_id": room_id, "content": "me too", "thread_root_id": root_id}))
        .await;
    assert_eq!(type_of(&ack), "ack", "{ack}");
    let second = ack["message"].clone();
    assert_eq!(second["thread_root_id"], root_id.as_str());
    assert_eq!(second["seq"], 3);

    // Each reply is one `message` event; the root gets none.
    let events = watcher.room_events_until(&room_id, 3).await;
    let kinds: Vec<(i64, &str, &Value)> =
        events.iter().map(|e| (e["seq"].as_i64().unwrap_or(0), type_of(e), &e["message"]["thread_root_id"])).collect();
    assert_eq!(
        kinds,
        vec![(1, "message", &Value::Null), (2, "message", &json!(root_id)), (3, "message", &json!(root_id))]
    );
    watcher.assert_no_room_events(&room_id).await;

    let page = app.history(&alice, &room_id, "").await;
    let shown = &items(&page)[0];
    assert_eq!(shown["id"], root_id.as_str());
    assert_eq!(shown["thread"]["reply_count"], 2, "{shown}");
    assert_eq!(shown["thread"]["last_reply_at"], second["created_at"]);
    assert_eq!(usernames(&shown["thread"]["participants"]), vec!["carol", "bob"], "most recent first");
    assert_eq!(shown["thread"]["participants"][0]["id"], carol.id.as_str());
}

async fn room_history_leaves_replies_out_and_a_thread_pages_its_own(app: TestApp) {
    let (alice, bob, _carol, room_id) = three_in_a_room(&app).await;
    let root = id_of(&app.post_message(&alice, &room_id, "root").await);
    let mut reply_seqs = Vec::new();
    for n in 0..5 {
        reply_seqs
            .push(app.post_reply(&bob, &room_id, &root, &format!("reply {n}")).await["seq"].as_i64().unwrap_or(0));
        app.post_message(&alice, &room_id, &format!("top {n}")).await;
    }
    let top = app.history(&alice, &room_id, "?limit=200").await;
    assert_eq!(seqs(&top), vec![1, 3, 5, 7, 9, 11], "top-level messages only");
    assert!(items(&top).iter().all(|m| m["thread_root_id"].is_null()));

    let all = thread(&app, &alice, &room_id, &root, "").await;
    assert_eq!(seqs(&all), reply_seqs);
    assert_eq!(all["has_more"], false);
    let newest = thread(&app, &alice, &room_id, &root, "?limit=2").await;
    assert_eq!(seqs(&newest), reply_seqs[3..]);
    assert_eq!(newest["has_more"], true);
    let before = thread(&app, &alice, &room_id, &root, &format!("?before={}&limit=2", reply_seqs[3])).await;
    assert_eq!(seqs(&before), reply_seqs[1..3]);
    let after = thread(&app, &alice, &room_id, &root, &format!("?after={}&limit=2", reply_seqs[0])).await;
    assert_eq!(seqs(&after), reply_seqs[1..3]);
    assert_eq!(after["has_more"], true);

    // Not a thread of this room: 404, as is a non-member's look.
    let other = id_of(&app.create_room(&bob, "other", "public").await);
    let elsewhere = id_of(&app.post_message(&bob, &other, "elsewhere").await);
    app.get(&alice, &thread_path(&room_id, &elsewhere)).await.expect_problem(404, Some("not_found"));
    let a_reply = id_of(&items(&all)[0]);
    app.get(&alice, &thread_path(&room_id, &a_reply)).await.expect_problem(404, Some("not_found"));
    let private = id_of(&app.create_room(&bob, "private", "private").await);
    let secret = id_of(&app.post_message(&bob, &private, "secret").await);
    app.get(&alice, &thread_path(&private, &secret)).await.expect_status_in(&[403, 404]);
    app.get(&alice, &format!("{}?before=3&after=1", thread_path(&room_id, &root))).await.expect_status(422);
}

async fn a_reply_must_be_to_a_live_top_level_message_of_the_room(app: TestApp) {
    let (alice, bob, _carol, room_id) = three_in_a_room(&app).await;
    let root = id_of(&app.post_message(&alice, &room_id, "root").await);
    let reply = id_of(&app.post_reply(&bob, &room_id, &root, "reply").await);
    let other = id_of(&app.create_room(&bob, "other", "public").await);
    let elsewhere = id_of(&app.post_message(&bob, &other, "elsewhere").await);
    let deleted = id_of(&app.post_message(&alice, &room_id, "soon gone").await);
    app.delete(&alice, &format!("/rooms/{room_id}/messages/{deleted}")).await.expect_status(204);
    let last_seq = app.last_seq(&alice, &room_id).await;

    let path = format!("/rooms/{room_id}/messages");
    for (to, why) in [
        (&reply, "a reply"),
        (&elsewhere, "a message of another room"),
        (&deleted, "a deleted message"),
        (&uuid::Uuid::now_v7().to_string(), "no message"),
    ] {
        let body = json!({"content": "hm", "thread_root_id": to});
        let problem = app.post(&bob, &path, body).await.expect_invalid("thread_root_id");
        assert!(problem["errors"][0]["message"].is_string(), "{why}: {problem}");
    }
    // Over the socket, the same refusals.
    let mut bobs = app.ws(&bob).await;
    let refused =
        bobs.request(json!({"type": "send", "room_id": room_id, "content": "hm", "thread_root_id": reply})).await;
    assert_eq!(type_of(&refused), "error", "{refused}");
    assert_eq!(refused["code"], "validation_failed", "{refused}");
    assert_eq!(app.last_seq(&alice, &room_id).await, last_seq, "a refused reply takes no seq");
    app.post(&bob, &path, json!({"content": "ok", "thread_root_id": "not-a-uuid"})).await.expect_status_in(&[400, 422]);
}

async fn participants_are_the_five_latest_repliers(app: TestApp) {
    let owner = app.register("owner").await;
    let room_id = id_of(&app.create_room(&owner, "general", "public").await);
    let root = id_of(&app.post_message(&owner, &room_id, "root").await);
    let mut users = Vec::new();
    for n in 0..7 {
        let user = app.register(&format!("user{n}")).await;
        app.join(&user, &room_id).await;
        app.post_reply(&user, &room_id, &root, "hi").await;
        users.push(user);
    }
    // user2 again: the latest, so first.
    app.post_reply(&users[2], &room_id, &root, "again").await;
    let shown = &items(&app.history(&owner, &room_id, "").await)[0];
    assert_eq!(shown["thread"]["reply_count"], 8);
    assert_eq!(usernames(&shown["thread"]["participants"]), vec!["user2", "user6", "user5", "user4", "user3"]);
}

async fn followers_get_reply_notifications_but_not_the_replier(app: TestApp) {
    let (alice, bob, carol, room_id) = three_in_a_room(&app).await;
    let dave = app.register("dave").await;
    app.join(&dave, &room_id).await;
    let mut alices = app.ws(&alice).await.labelled("alice");
    let root = id_of(&app.post_message(&alice, &room_id, "plan?").await);

    // bob replies: alice (who started it) is notified, live and in the list.
    let first = app.post_reply(&bob, &room_id, &root, "sure").await;
    let pushed = alices.next_of_type("notification").await;
    assert_eq!(pushed["notification"]["kind"], "reply", "{pushed}");
    assert_eq!(pushed["notification"]["thread_root_id"], root.as_str());
    assert_eq!(pushed["notification"]["message_id"], first["id"]);
    assert_eq!(pushed["notification"]["actor"]["username"], "bob");
    let listed = items(&app.notifications(&alice, "").await);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["kind"], "reply");
    assert_eq!(listed[0]["thread_root_id"], root.as_str());
    assert!(items(&app.notifications(&bob, "").await).is_empty(), "never to the one who replied");

    // bob mentions carol in the thread: a mention (with the thread), not also a reply; she follows now.
    app.post_reply(&bob, &room_id, &root, "@carol what do you think?").await;
    let carols = items(&app.notifications(&carol, "").await);
    assert_eq!(carols.len(), 1, "{carols:?}");
    assert_eq!(carols[0]["kind"], "mention");
    assert_eq!(carols[0]["thread_root_id"], root.as_str());

    // dave replies: alice, bob (replied) and carol (mentioned) follow; dave does not hear himself.
    app.post_reply(&dave, &room_id, &root, "count me in").await;
    for (user, expected) in [(&alice, 3), (&bob, 1), (&carol, 2), (&dave, 0)] {
        let replies = items(&app.notifications(user, "").await);
        assert_eq!(replies.len(), expected, "{}: {replies:?}", user.username);
        if expected > 0 {
            assert_eq!(replies[0]["kind"], "reply", "{}: {replies:?}", user.username);
            assert_eq!(replies[0]["actor"]["username"], "dave");
        }
    }
    // A top-level message notifies no follower.
    app.post_message(&dave, &room_id, "unrelated").await;
    assert_eq!(items(&app.notifications(&alice, "").await).len(), 3);
}

async fn followed_threads_are_listed_with_unread_counts_that_agree_on_every_device(app: TestApp) {
    let (alice, bob, _carol, room_id) = three_in_a_room(&app).await;
    let root = id_of(&app.post_message(&alice, &room_id, "root").await);
    assert!(followed(&app, &alice).await.is_empty(), "no replies yet, no thread to follow");
    let unread_before = app.room(&alice, &room_id).await["unread_count"].clone();
    let mut phone = app.ws(&alice).await.labelled("alice's phone");

    for n in 0..3 {
        app.post_reply(&bob, &room_id, &root, &format!("reply {n}")).await;
    }
    assert_eq!(app.room(&alice, &room_id).await["unread_count"], unread_before, "replies are not room unread");
    assert_eq!(app.room(&bob, &room_id).await["unread_count"], 1, "the root counts for bob");

    let list = followed(&app, &alice).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["room_id"], room_id.as_str());
    assert_eq!(list[0]["root"]["id"], root.as_str());
    assert_eq!(list[0]["root"]["thread"]["reply_count"], 3);
    assert_eq!(list[0]["unread_count"], 3);
    assert_eq!(list[0]["last_read_seq"], 0);
    let bobs = followed(&app, &bob).await;
    assert_eq!(bobs[0]["unread_count"], 0, "his own replies are read");

    // Read on the laptop (REST): the phone hears of it, and both devices list the same.
    mark_thread_read(&app, &alice, &room_id, &root, 3).await;
    let moved = phone.next_of_type("thread_read").await;
    assert_eq!(moved, json!({"type": "thread_read", "room_id": room_id, "root_id": root, "seq": 3}));
    assert_eq!(followed(&app, &alice).await[0]["unread_count"], 1);
    // Reading back to an earlier seq changes nothing; past the end stops at the last seq.
    mark_thread_read(&app, &alice, &room_id, &root, 2).await;
    assert_eq!(followed(&app, &alice).await[0]["unread_count"], 1);
    mark_thread_read(&app, &alice, &room_id, &root, 1_000).await;
    let list = followed(&app, &alice).await;
    assert_eq!(list[0]["unread_count"], 0);
    assert_eq!(list[0]["last_read_seq"], app.last_seq(&alice, &room_id).await);
    // Replying reads the thread up to one's reply; a deleted reply does not count.
    app.post_reply(&bob, &room_id, &root, "late").await;
    app.post_reply(&alice, &room_id, &root, "mine").await;
    assert_eq!(followed(&app, &alice).await[0]["unread_count"], 0, "her own reply moved her marker past bob's");
    app.post_reply(&bob, &room_id, &root, "later").await;
    let latest = id_of(&app.post_reply(&bob, &room_id, &root, "latest").await);
    assert_eq!(followed(&app, &alice).await[0]["unread_count"], 2);
    app.delete(&bob, &format!("/rooms/{room_id}/messages/{latest}")).await.expect_status(204);
    assert_eq!(followed(&app, &alice).await[0]["unread_count"], 1);

    let path = format!("/rooms/{room_id}/threads/{root}/read");
    app.post(&alice, &path, json!({"seq": -1})).await.expect_status(422);
    let elsewhere = uuid::Uuid::now_v7();
    app.post(&alice, &format!("/rooms/{room_id}/threads/{elsewhere}/read"), json!({"seq": 1})).await.expect_status(404);
    app.get(&alice, "/threads?limit=0").await.expect_status(422);
    app.get(&alice, "/threads?cursor=nope").await.expect_status(422);
}

async fn followed_threads_page_by_newest_activity(app: TestApp) {
    let (alice, bob, _carol, room_id) = three_in_a_room(&app).await;
    let other = id_of(&app.create_room(&alice, "other", "public").await);
    app.join(&bob, &other).await;
    let a = id_of(&app.post_message(&alice, &room_id, "a").await);
    let b = id_of(&app.post_message(&alice, &other, "b").await);
    let c = id_of(&app.post_message(&alice, &room_id, "c").await);
    app.post_reply(&bob, &room_id, &a, "1").await;
    app.post_reply(&bob, &other, &b, "2").await;
    app.post_reply(&bob, &room_id, &c, "3").await;
    app.post_reply(&bob, &room_id, &a, "4").await;

    let roots = |page: &Value| {
        items(page).iter().map(|t| t["root"]["id"].as_str().unwrap_or("").to_owned()).collect::<Vec<_>>()
    };
    let first = app.get(&alice, "/threads?limit=2").await.expect_status(200);
    assert_eq!(roots(&first), vec![a.clone(), c.clone()]);
    let cursor = first["next_cursor"].as_str().expect("a next page").to_owned();
    let second = app.get(&alice, &format!("/threads?limit=2&cursor={cursor}")).await.expect_status(200);
    assert_eq!(roots(&second), vec![b.clone()]);
    assert_eq!(second["next_cursor"], Value::Null);
    assert_eq!(items(&second)[0]["room_id"], other.as_str());
}

async fn a_member_removed_mid_thread_stops_following_it(app: TestApp) {
    // A private room: to one not in it, it does not exist (a public one would be 403, "join first").
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let room_id = id_of(&app.create_room(&alice, "private", "private").await);
    app.add_member(&alice, &room_id, &bob).await;
    app.add_member(&alice, &room_id, &carol).await;
    let root = id_of(&app.post_message(&alice, &room_id, "root").await);
    app.post_reply(&carol, &room_id, &root, "carol was here").await;
    let mut carols = app.ws(&carol).await.labelled("carol");
    carols.subscribe(&room_id, None).await;
    app.delete(&alice, &format!("/rooms/{room_id}/members/{}", carol.id)).await.expect_status(204);
    carols.next_of_type("member_left").await;

    app.post_reply(&bob, &room_id, &root, "after carol left").await;
    carols.assert_no_room_events(&room_id).await;
    let carols_notes = items(&app.notifications(&carol, "").await);
    assert!(carols_notes.iter().all(|n| n["kind"] == "invite"), "no reply notification once removed: {carols_notes:?}");
    assert!(followed(&app, &carol).await.is_empty(), "not listed once removed");
    let body = json!({"content": "let me back", "thread_root_id": root});
    app.post(&carol, &format!("/rooms/{room_id}/messages"), body).await.expect_status(404);
    app.get(&carol, &thread_path(&room_id, &root)).await.expect_status(404);
}

async fn a_deleted_root_keeps_its_thread(app: TestApp) {
    let (alice, bob, _carol, room_id) = three_in_a_room(&app).await;
    let root = id_of(&app.post_message(&alice, &room_id, "root").await);
    app.post_reply(&bob, &room_id, &root, "one").await;
    app.delete(&alice, &format!("/rooms/{room_id}/messages/{root}")).await.expect_status(204);
    let shown = &items(&app.history(&bob, &room_id, "").await)[0];
    assert_eq!(shown["deleted"], true);
    assert_eq!(shown["content"], "");
    assert_eq!(shown["thread"]["reply_count"], 1, "{shown}");
    let replies = thread(&app, &bob, &room_id, &root, "").await;
    assert_eq!(items(&replies)[0]["content"], "one");
    assert_eq!(followed(&app, &alice).await.len(), 1);
}

async fn resume_replays_replies_like_any_event(app: TestApp) {
    let (alice, bob, _carol, room_id) = three_in_a_room(&app).await;
    let root = id_of(&app.post_message(&alice, &room_id, "root").await);
    app.post_reply(&bob, &room_id, &root, "r1").await;
    app.post_message(&alice, &room_id, "top").await;
    app.post_reply(&alice, &room_id, &root, "r2").await;

    let mut resumed = app.ws(&bob).await;
    resumed.subscribe(&room_id, Some(1)).await;
    let events = resumed.room_events_until(&room_id, 4).await;
    let replayed: Vec<(i64, Value)> =
        events.iter().map(|e| (e["seq"].as_i64().unwrap_or(0), e["message"]["thread_root_id"].clone())).collect();
    assert_eq!(replayed, vec![(2, json!(root)), (3, Value::Null), (4, json!(root))]);
    let mut from_start = app.ws(&bob).await;
    from_start.subscribe(&room_id, Some(0)).await;
    let events = from_start.room_events_until(&room_id, 4).await;
    assert_eq!(events[0]["message"]["thread"]["reply_count"], 2, "replayed as it is now: {}", events[0]);
    assert_eq!(usernames(&events[0]["message"]["thread"]["participants"]), vec!["alice", "bob"]);
}
