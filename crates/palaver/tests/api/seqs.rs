//! Room seqs: every posted, edited or deleted message takes the next one, with no gap and
//! no reuse, under concurrency and across restarts.

use std::sync::Arc;

use serde_json::json;

use crate::helpers::{TestApp, id_of, items, seqs};

both_backends!(
    posts_edits_and_deletes_each_take_the_next_seq,
    concurrent_posts_get_gapless_seqs,
    seqs_survive_a_restart,
    each_room_counts_its_own_seqs,
    concurrent_retries_store_one_message,
);

async fn posts_edits_and_deletes_each_take_the_next_seq(app: TestApp) {
    let alice = app.register("alice").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);

    let a = app.post_message(&alice, &room_id, "A").await;
    let b = app.post_message(&alice, &room_id, "B").await;
    let path_a = format!("/rooms/{room_id}/messages/{}", id_of(&a));
    let edited = app.patch(&alice, &path_a, json!({"content": "A2"})).await.expect_status(200);
    app.delete(&alice, &format!("/rooms/{room_id}/messages/{}", id_of(&b))).await.expect_status(204);
    let c = app.post_message(&alice, &room_id, "C").await;

    assert_eq!((a["seq"].clone(), b["seq"].clone(), c["seq"].clone()), (json!(1), json!(2), json!(5)));
    assert_eq!(edited["updated_seq"], 3);
    assert_eq!(app.last_seq(&alice, &room_id).await, 5);

    let history = app.history(&alice, &room_id, "").await;
    assert_eq!(seqs(&history), vec![1, 2, 5]);
    let updated: Vec<_> = items(&history).iter().map(|m| m["updated_seq"].as_i64().unwrap()).collect();
    assert_eq!(updated, vec![3, 4, 5]);
}

async fn concurrent_posts_get_gapless_seqs(app: TestApp) {
    const TASKS: usize = 20;
    const EACH: usize = 5;
    let alice = app.register("alice").await;
    let room_id = id_of(&app.create_room(&alice, "busy", "public").await);
    let mut posters = Vec::new();
    for i in 0..TASKS {
        let user = app.register(&format!("user{i}")).await;
        app.join(&user, &room_id).await;
        posters.push(user);
    }

    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for user in posters {
        let (app, room_id) = (app.clone(), room_id.clone());
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in 0..EACH {
                let message = app.post_message(&user, &room_id, &format!("{} #{n}", user.username)).await;
                seqs.push(message["seq"].as_i64().unwrap());
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let mine = task.await.expect("a poster task does not panic");
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "one user's posts keep their order: {mine:?}");
        all.extend(mine);
    }
    all.sort_unstable();
    let total = (TASKS * EACH) as i64;
    assert_eq!(all, (1..=total).collect::<Vec<_>>(), "every seq once, no gap");

    assert_eq!(app.last_seq(&alice, &room_id).await, total);
    let history = app.history(&alice, &room_id, "?limit=200").await;
    assert_eq!(seqs(&history), (1..=total).collect::<Vec<_>>());
    assert_eq!(history["has_more"], false);
}

async fn seqs_survive_a_restart(mut app: TestApp) {
    let alice = app.register("alice").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    let first = app.post_message(&alice, &room_id, "before").await;
    app.patch(&alice, &format!("/rooms/{room_id}/messages/{}", id_of(&first)), json!({"content": "edited"}))
        .await
        .expect_status(200);

    app.restart().await;

    // The access token and the data outlive the process.
    assert_eq!(app.last_seq(&alice, &room_id).await, 2);
    let after = app.post_message(&alice, &room_id, "after").await;
    assert_eq!(after["seq"], 3);
    let history = app.history(&alice, &room_id, "").await;
    assert_eq!(seqs(&history), vec![1, 3]);
    assert_eq!(history["items"][0]["content"], "edited");
}

async fn each_room_counts_its_own_seqs(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let one = id_of(&app.create_room(&alice, "one", "public").await);
    let two = id_of(&app.create_room(&alice, "two", "private").await);
    let dm = id_of(&app.open_dm(&alice, &bob).await);

    for (room_id, count) in [(&one, 3), (&two, 2), (&dm, 1)] {
        for i in 1..=count {
            assert_eq!(app.post_message(&alice, room_id, "x").await["seq"], i);
        }
    }
    assert_eq!(app.last_seq(&alice, &one).await, 3);
    assert_eq!(app.last_seq(&alice, &two).await, 2);
    assert_eq!(app.last_seq(&bob, &dm).await, 1);
}

/// Retries racing each other (and other posts, so they share write batches) still store
/// one message, and every retry is answered with it.
async fn concurrent_retries_store_one_message(app: TestApp) {
    const RETRIES: usize = 12;
    const OTHERS: usize = 12;
    let alice = app.register("alice").await;
    let room_id = id_of(&app.create_room(&alice, "retries", "public").await);
    let app = Arc::new(app);
    let alice = Arc::new(alice);
    let mut tasks = Vec::new();
    for i in 0..RETRIES + OTHERS {
        let (app, alice, room_id) = (app.clone(), alice.clone(), room_id.clone());
        tasks.push(tokio::spawn(async move {
            let key = if i % 2 == 0 { "the-one".to_owned() } else { format!("other-{i}") };
            let body = json!({"content": format!("try {i}"), "client_msg_id": key});
            let reply = app.post(&*alice, &format!("/rooms/{room_id}/messages"), body).await;
            let status = reply.expect_status_in(&[200, 201]);
            (key, reply.expect_status(status))
        }));
    }
    let mut the_one = Vec::new();
    let mut others = Vec::new();
    for task in tasks {
        let (key, message) = task.await.expect("a poster task does not panic");
        if key == "the-one" { the_one.push(message) } else { others.push(message) }
    }
    assert_eq!(the_one.len(), RETRIES);
    assert!(the_one.iter().all(|m| *m == the_one[0]), "every retry got the same message: {the_one:?}");
    let total = (1 + OTHERS) as i64;
    assert_eq!(app.last_seq(&alice, &room_id).await, total, "retries took no seq");
    let history = app.history(&alice, &room_id, "?limit=200").await;
    assert_eq!(seqs(&history), (1..=total).collect::<Vec<_>>());
    let stored = items(&history).iter().filter(|m| m["client_msg_id"] == "the-one").count();
    assert_eq!(stored, 1, "one message for the key");
}
