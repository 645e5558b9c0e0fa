//! Reactions (contract v1.1): `PUT`/`DELETE` per emoji, idempotent; each change a room
//! event with its own seq (`reaction`), replayed on resume; aggregated on `Message`.

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, id_of, items, type_of};

both_backends!(
    a_reaction_is_a_room_event_and_asking_twice_changes_nothing,
    reactions_are_counted_in_order_of_first_use,
    the_limits_of_reactions,
    the_react_frame_is_answered_with_the_message,
    two_users_adding_the_same_emoji_at_once_are_both_counted,
    resume_replays_reactions,
    reactions_share_the_write_budget with small_write_budget,
);

fn small_write_budget(config: &mut palaver::config::Config) {
    config.limits.writes_per_sec = 0.001;
    config.limits.write_burst = 6.0;
}

async fn room_of_two_with_a_message(app: &TestApp) -> (TestUser, TestUser, String, String) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let message_id = id_of(&app.post_message(&alice, &room_id, "react to me").await);
    (alice, bob, room_id, message_id)
}

fn reactions(message: &Value) -> Vec<(String, i64, usize)> {
    message["reactions"]
        .as_array()
        .expect("reactions")
        .iter()
        .map(|r| {
            let users = r["user_ids"].as_array().map_or(0, Vec::len);
            (r["emoji"].as_str().unwrap_or("").to_owned(), r["count"].as_i64().unwrap_or(-1), users)
        })
        .collect()
}

async fn a_reaction_is_a_room_event_and_asking_twice_changes_nothing(app: TestApp) {
    let (alice, bob, room_id, message_id) = room_of_two_with_a_message(&app).await;
    let mut watcher = app.ws(&alice).await.labelled("alice");
    watcher.subscribe(&room_id, None).await;

    let message = app.react(&bob, &room_id, &message_id, "👍", true).await.expect_status(200);
    assert_eq!(message["id"], message_id.as_str());
    assert_eq!(message["reactions"], json!([{"emoji": "👍", "count": 1, "user_ids": [bob.id]}]));
    let event = watcher.next_of_type("reaction").await;
    assert_eq!(
        event,
        json!({"type": "reaction", "seq": 2, "room_id": room_id, "message_id": message_id, "emoji": "👍",
               "user_id": bob.id, "added": true})
    );
    assert_eq!(message["updated_seq"], 1, "a reaction is not an edit");

    // Again: the same answer, no event, no seq.
    let again = app.react(&bob, &room_id, &message_id, "👍", true).await.expect_status(200);
    assert_eq!(again["reactions"], message["reactions"]);
    assert_eq!(app.last_seq(&alice, &room_id).await, 2);

    let removed = app.react(&bob, &room_id, &message_id, "👍", false).await.expect_status(200);
    assert_eq!(removed["reactions"], json!([]));
    let event = watcher.next_of_type("reaction").await;
    assert_eq!((event["seq"].clone(), event["added"].clone()), (json!(3), json!(false)));
    // Taking back one you do not have: nothing happens.
    app.react(&bob, &room_id, &message_id, "👍", false).await.expect_status(200);
    app.react(&alice, &room_id, &message_id, ":tada:", false).await.expect_status(200);
    assert_eq!(app.last_seq(&alice, &room_id).await, 3);
    watcher.assert_no_room_events(&room_id).await;
    // History shows the reactions too.
    app.react(&alice, &room_id, &message_id, ":tada:", true).await.expect_status(200);
    let shown = &items(&app.history(&bob, &room_id, "").await)[0];
    assert_eq!(shown["reactions"], json!([{"emoji": ":tada:", "count": 1, "user_ids": [alice.id]}]));
}

async fn reactions_are_counted_in_order_of_first_use(app: TestApp) {
    let (alice, bob, room_id, message_id) = room_of_two_with_a_message(&app).await;
    let carol = app.register("carol").await;
    app.join(&carol, &room_id).await;
    app.react(&bob, &room_id, &message_id, "🎉", true).await.expect_status(200);
    app.react(&alice, &room_id, &message_id, "👍", true).await.expect_status(200);
    app.react(&carol, &room_id, &message_id, "👍", true).await.expect_status(200);
    let message = app.react(&carol, &room_id, &message_id, "🎉", true).await.expect_status(200);
    assert_eq!(reactions(&message), vec![("🎉".to_owned(), 2, 2), ("👍".to_owned(), 2, 2)]);
    assert_eq!(message["reactions"][0]["user_ids"], json!([bob.id, carol.id]), "oldest first");
    assert_eq!(message["reactions"][1]["user_ids"], json!([alice.id, carol.id]));

    // bob takes his back and adds it again: 🎉's first use is now carol's, after alice's 👍.
    app.react(&bob, &room_id, &message_id, "🎉", false).await.expect_status(200);
    let message = app.react(&bob, &room_id, &message_id, "🎉", true).await.expect_status(200);
    assert_eq!(reactions(&message), vec![("👍".to_owned(), 2, 2), ("🎉".to_owned(), 2, 2)]);
    assert_eq!(message["reactions"][1]["user_ids"], json!([carol.id, bob.id]));

    // 25 users on one emoji: all counted, the first 20 listed.
    for n in 0..25 {
        let user = app.register(&format!("fan{n}")).await;
        app.join(&user, &room_id).await;
        app.react(&user, &room_id, &message_id, "❤️", true).await.expect_status(200);
    }
    let shown = &items(&app.history(&alice, &room_id, "").await)[0];
    assert_eq!(reactions(shown)[2], ("❤️".to_owned(), 25, 20));
    assert_eq!(shown["reactions"][1]["emoji"], "🎉");
}

async fn the_limits_of_reactions(app: TestApp) {
    let (alice, bob, room_id, message_id) = room_of_two_with_a_message(&app).await;
    for bad in ["a", "👍👍", ":Bad:", "::", "thumbs up", ":a:b:", " 👍"] {
        let problem = app.react(&bob, &room_id, &message_id, bad, true).await.expect_invalid("emoji");
        assert_eq!(problem["status"], 422, "{bad:?}");
    }
    let long = format!(":{}:", "a".repeat(33));
    app.react(&bob, &room_id, &message_id, &long, true).await.expect_invalid("emoji");

    // 20 distinct, then a 21st is a conflict; an emoji already there still takes more people.
    for n in 0..20 {
        app.react(&bob, &room_id, &message_id, &format!(":e{n}:"), true).await.expect_status(200);
    }
    app.react(&alice, &room_id, &message_id, ":e20:", true).await.expect_problem(409, Some("too_many_reactions"));
    let message = app.react(&alice, &room_id, &message_id, ":e0:", true).await.expect_status(200);
    assert_eq!(message["reactions"].as_array().map(Vec::len), Some(20));
    assert_eq!(message["reactions"][0]["count"], 2);

    // None on a deleted message; its reactions are gone from view.
    app.delete(&alice, &format!("/rooms/{room_id}/messages/{message_id}")).await.expect_status(204);
    app.react(&bob, &room_id, &message_id, "👍", true).await.expect_problem(409, Some("message_deleted"));
    let shown = &items(&app.history(&alice, &room_id, "").await)[0];
    assert_eq!(shown["reactions"], json!([]));

    // Members only, messages of the room only.
    let stranger = app.register("stranger").await;
    let live = id_of(&app.post_message(&alice, &room_id, "live").await);
    app.react(&stranger, &room_id, &live, "👍", true).await.expect_status_in(&[403, 404]);
    let missing = uuid::Uuid::now_v7().to_string();
    app.react(&bob, &room_id, &missing, "👍", true).await.expect_problem(404, Some("not_found"));
    let other = id_of(&app.create_room(&bob, "other", "public").await);
    let elsewhere = id_of(&app.post_message(&bob, &other, "elsewhere").await);
    app.react(&bob, &room_id, &elsewhere, "👍", true).await.expect_problem(404, Some("not_found"));
}

async fn the_react_frame_is_answered_with_the_message(app: TestApp) {
    let (alice, bob, room_id, message_id) = room_of_two_with_a_message(&app).await;
    let mut bobs = app.ws(&bob).await.labelled("bob");
    bobs.subscribe(&room_id, None).await;
    let frame = json!({"type": "react", "room_id": room_id, "message_id": message_id, "emoji": "🚀", "added": true});
    let ack = bobs.request(frame).await;
    assert_eq!(type_of(&ack), "ack", "{ack}");
    assert_eq!(ack["message"]["reactions"][0]["emoji"], "🚀");
    let event = bobs.next_of_type("reaction").await;
    assert_eq!(event["seq"], 2);
    let bad = json!({"type": "react", "room_id": room_id, "message_id": message_id, "emoji": "nope", "added": true});
    let refused = bobs.request(bad).await;
    assert_eq!((type_of(&refused), refused["code"].as_str()), ("error", Some("validation_failed")), "{refused}");
    let _ = alice;
}

async fn two_users_adding_the_same_emoji_at_once_are_both_counted(app: TestApp) {
    let (alice, bob, room_id, message_id) = room_of_two_with_a_message(&app).await;
    let mut watcher = app.ws(&alice).await;
    watcher.subscribe(&room_id, None).await;
    let (a, b) = tokio::join!(
        app.react(&alice, &room_id, &message_id, "🔥", true),
        app.react(&bob, &room_id, &message_id, "🔥", true)
    );
    a.expect_status(200);
    b.expect_status(200);
    let events = watcher.room_events_until(&room_id, 3).await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap_or(0)).collect();
    assert_eq!(seqs, vec![2, 3], "each its own seq");
    let shown = &items(&app.history(&alice, &room_id, "").await)[0];
    assert_eq!(reactions(shown), vec![("🔥".to_owned(), 2, 2)]);
}

async fn resume_replays_reactions(app: TestApp) {
    let (alice, bob, room_id, message_id) = room_of_two_with_a_message(&app).await;
    app.react(&bob, &room_id, &message_id, "👀", true).await.expect_status(200);
    app.react(&alice, &room_id, &message_id, "👀", true).await.expect_status(200);
    app.react(&bob, &room_id, &message_id, "👀", false).await.expect_status(200);
    let mut resumed = app.ws(&alice).await;
    resumed.subscribe(&room_id, Some(0)).await;
    let events = resumed.room_events_until(&room_id, 4).await;
    let replayed: Vec<(String, i64, Value, Value)> = events
        .iter()
        .map(|e| (type_of(e).to_owned(), e["seq"].as_i64().unwrap_or(0), e["user_id"].clone(), e["added"].clone()))
        .collect();
    assert_eq!(
        replayed,
        vec![
            ("message".into(), 1, Value::Null, Value::Null),
            ("reaction".into(), 2, json!(bob.id), json!(true)),
            ("reaction".into(), 3, json!(alice.id), json!(true)),
            ("reaction".into(), 4, json!(bob.id), json!(false)),
        ]
    );
    assert_eq!(events[0]["message"]["reactions"], json!([{"emoji": "👀", "count": 1, "user_ids": [alice.id]}]));
    assert_eq!(events[1]["emoji"], "👀");
}

async fn reactions_share_the_write_budget(app: TestApp) {
    // room_of_two and the message spend none of bob's budget: alice posts.
    let (_alice, bob, room_id, message_id) = room_of_two_with_a_message(&app).await;
    let mut limited = None;
    for n in 0..10 {
        let reply = app.react(&bob, &room_id, &message_id, &format!(":s{n}:"), true).await;
        if reply.status == 429 {
            limited = Some(n);
            break;
        }
        reply.expect_status(200);
    }
    assert_eq!(limited, Some(6), "the burst is 6 writes");
    // The same budget as messages.
    let reply = app.post(&bob, &format!("/rooms/{room_id}/messages"), json!({"content": "hi"})).await;
    reply.expect_problem(429, Some("rate_limited"));
}
