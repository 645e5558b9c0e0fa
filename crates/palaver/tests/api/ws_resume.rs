//! Resume: `subscribe` with `since_seq` replays every room event after it, then live ones,
//! with no gap and no duplicate across the switch, even while others keep posting.

use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::helpers::{TestApp, WsClient, assert_message, id_of, seq_of, seqs_and_types, type_of};

both_backends!(
    resume_while_others_post_has_no_gap_and_no_duplicate,
    replay_carries_the_messages_as_they_are_now,
    truncated_replay_sends_the_newest_events_then_live_ones with replay_five,
    subscribe_without_since_seq_is_live_only,
    subscribing_twice_delivers_each_event_once,
    resuming_a_large_gap_into_a_busy_room_is_not_cut with busy_resume,
);

fn replay_five(config: &mut palaver::config::Config) {
    config.ws.replay_limit = 5;
}

fn message_path(room_id: &str, message: &Value) -> String {
    format!("/rooms/{room_id}/messages/{}", id_of(message))
}

fn typed(list: &[(i64, &str)]) -> Vec<(i64, String)> {
    list.iter().map(|(seq, kind)| (*seq, kind.to_string())).collect()
}

const POSTS: usize = 100;

/// bob's actions while alice is away: 100 posts, every 10th followed by an edit of an
/// earlier post, every 25th by a delete of the one before it.
fn planned_events() -> usize {
    POSTS + POSTS / 10 + POSTS / 25
}

async fn resume_while_others_post_has_no_gap_and_no_duplicate(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let mut alice1 = app.ws(&alice).await;
    alice1.subscribe(&room_id, None).await;
    for i in 1..=5 {
        app.post_message(&bob, &room_id, &format!("before {i}")).await;
    }
    let seen = alice1.room_events_until(&room_id, 5).await;
    let since = seq_of(seen.last().expect("events were received"));
    alice1.close().await;

    let final_seq = since + planned_events() as i64;
    let (reconnect, reconnect_now) = oneshot::channel::<()>();
    let (subscribed, resumed) = oneshot::channel::<()>();

    // bob posts, edits and deletes; alice reconnects after 20 posts, and bob holds the
    // last 50 until she has resubscribed, so the switch happens mid-stream.
    let poster = async {
        let mut reconnect = Some(reconnect);
        let mut resumed = Some(resumed);
        let mut expected: Vec<(i64, String)> = Vec::new();
        let mut posts: Vec<Value> = Vec::new();
        for i in 1..=POSTS {
            if i == 21 {
                let _ = reconnect.take().unwrap().send(());
            }
            if i == 51 {
                resumed.take().unwrap().await.expect("alice resubscribes");
            }
            let message = app.post_message(&bob, &room_id, &format!("during {i}")).await;
            expected.push((seq_of(&message), "message".into()));
            posts.push(message);
            if i % 10 == 0 {
                let target = &posts[i - 6];
                let body = json!({"content": format!("during {} (edited)", i - 5)});
                let edited = app.patch(&bob, &message_path(&room_id, target), body).await.expect_status(200);
                expected.push((edited["updated_seq"].as_i64().unwrap(), "message_updated".into()));
            }
            if i % 25 == 0 {
                let target = &posts[i - 2];
                app.delete(&bob, &message_path(&room_id, target)).await.expect_status(204);
                let seq = expected.last().unwrap().0 + 1;
                expected.push((seq, "message_deleted".into()));
            }
        }
        expected
    };
    let resumer = async {
        reconnect_now.await.expect("the poster says when");
        let mut alice2 = app.ws(&alice).await.labelled("alice (resumed)");
        let reply = alice2.subscribe(&room_id, Some(since)).await;
        assert!(reply.get("truncated").is_none_or(|t| t == false), "nothing is truncated here: {reply}");
        let _ = subscribed.send(());
        let events = alice2.room_events_until(&room_id, final_seq).await;
        (alice2, events)
    };
    let (expected, (mut alice2, events)) = tokio::join!(poster, resumer);

    assert_eq!(app.last_seq(&bob, &room_id).await, final_seq, "bob was the only writer");
    let wanted: Vec<i64> = (since + 1..=final_seq).collect();
    assert_eq!(expected.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), wanted, "the seqs bob's actions took");
    let got = seqs_and_types(&events);
    assert_eq!(got.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), wanted, "seqs after resubscribing");
    assert_eq!(got, expected, "each seq is the event bob caused");
    for event in events.iter().filter(|e| e["type"] == "message") {
        assert_eq!(event["seq"], event["message"]["seq"], "a `message` event's seq is the message's: {event}");
    }
    alice2.assert_no_room_events(&room_id).await;
}

async fn replay_carries_the_messages_as_they_are_now(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let one = app.post_message(&bob, &room_id, "one").await;
    let two = app.post_message(&bob, &room_id, "two").await;
    app.patch(&bob, &message_path(&room_id, &one), json!({"content": "one, edited"})).await.expect_status(200);
    app.delete(&bob, &message_path(&room_id, &two)).await.expect_status(204);

    let mut client = app.ws(&alice).await;
    let reply = client.subscribe(&room_id, Some(0)).await;
    assert_eq!(reply["last_seq"], 4, "{reply}");
    // What came before the reply (alice's own presence) is not ours; what follows it is
    // the replay, right away and in order.
    client.take_kept();
    let mut events = Vec::new();
    for kind in ["message", "message", "message_updated", "message_deleted"] {
        events.push(client.expect_type(kind).await);
    }
    let expected = typed(&[(1, "message"), (2, "message"), (3, "message_updated"), (4, "message_deleted")]);
    assert_eq!(seqs_and_types(&events), expected, "{events:?}");

    let first = &events[0]["message"];
    assert_message(first);
    assert_eq!((&first["id"], &first["seq"]), (&one["id"], &json!(1)));
    assert_eq!(first["content"], "one, edited", "a replayed message is as it is now: {first}");
    assert_eq!(first["updated_seq"], 3, "{first}");
    let second = &events[1]["message"];
    assert_message(second);
    assert_eq!(second["id"], two["id"]);
    assert_eq!(second["deleted"], true, "a replayed deleted message shows deleted: {second}");
    assert_eq!(second["content"], "", "{second}");
    assert_eq!(events[2]["message"]["id"], one["id"]);
    assert_eq!(events[3]["message_id"], two["id"]);
    assert_eq!(events[3]["room_id"], room_id);

    // From the middle: only what follows.
    let mut again = app.ws(&alice).await;
    again.subscribe(&room_id, Some(2)).await;
    let events = again.room_events_until(&room_id, 4).await;
    assert_eq!(seqs_and_types(&events), typed(&[(3, "message_updated"), (4, "message_deleted")]));
    again.assert_no_room_events(&room_id).await;
}

async fn truncated_replay_sends_the_newest_events_then_live_ones(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    for i in 1..=12 {
        app.post_message(&bob, &room_id, &format!("m{i}")).await;
    }

    let mut client = app.ws(&alice).await;
    let reply = client.subscribe(&room_id, Some(0)).await;
    assert_eq!(reply["last_seq"], 12, "{reply}");
    assert_eq!(reply["truncated"], true, "12 missed events, 5 replayed: {reply}");
    app.post_message(&bob, &room_id, "live").await;
    let events = client.room_events_until(&room_id, 13).await;
    let seqs: Vec<i64> = events.iter().map(seq_of).collect();
    assert_eq!(seqs, (8..=13).collect::<Vec<_>>(), "the 5 newest, then live: {events:?}");
    assert_eq!(events[0]["message"]["content"], "m8");
    client.assert_no_room_events(&room_id).await;

    // Exactly the limit missed: not truncated.
    let mut other = app.ws(&alice).await;
    let reply = other.subscribe(&room_id, Some(8)).await;
    assert!(reply.get("truncated").is_none_or(|t| t == false), "5 missed, 5 replayed: {reply}");
    let events = other.room_events_until(&room_id, 13).await;
    assert_eq!(events.iter().map(seq_of).collect::<Vec<_>>(), (9..=13).collect::<Vec<_>>());
    other.assert_no_room_events(&room_id).await;
}

async fn subscribe_without_since_seq_is_live_only(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    app.post_message(&bob, &room_id, "old 1").await;
    app.post_message(&bob, &room_id, "old 2").await;

    let mut client = app.ws(&alice).await;
    let reply = client.subscribe(&room_id, None).await;
    assert_eq!(reply["last_seq"], 2, "{reply}");
    app.post_message(&bob, &room_id, "new").await;
    let events = client.room_events_until(&room_id, 3).await;
    assert_eq!(seqs_and_types(&events), typed(&[(3, "message")]), "no replay without since_seq: {events:?}");

    // since_seq at the room's last seq: nothing to replay either.
    let mut current = app.ws(&alice).await;
    let reply = current.subscribe(&room_id, Some(3)).await;
    assert_eq!(reply["last_seq"], 3, "{reply}");
    current.assert_no_room_events(&room_id).await;
}

async fn subscribing_twice_delivers_each_event_once(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let mut client = app.ws(&alice).await;
    client.subscribe(&room_id, None).await;
    client.subscribe(&room_id, None).await;
    client.subscribe(&room_id, Some(0)).await;

    for i in 1..=3 {
        app.post_message(&bob, &room_id, &format!("m{i}")).await;
    }
    let events = client.room_events_until(&room_id, 3).await;
    assert_eq!(seqs_and_types(&events), typed(&[(1, "message"), (2, "message"), (3, "message")]), "{events:?}");
    client.assert_silent().await;
}

/// A small outbox, so the live events queued during a replay overflow it soon if the writer
/// does not keep draining; a rate limit the seeding does not hit.
fn busy_resume(config: &mut palaver::config::Config) {
    config.ws.outbox_frames = 32;
    config.ws.rate_per_sec = 100_000.0;
    config.ws.rate_burst = 100_000.0;
}

/// Posts `count` messages over `client`, pipelined a window at a time (the window stays
/// well under the 32 frames the outbox holds, since every send gets an ack).
async fn seed(client: &mut WsClient, room_id: &str, first: i64, count: i64) {
    let ids: Vec<i64> = (first..first + count).collect();
    for window in ids.chunks(8) {
        for i in window {
            client.send(json!({"type": "send", "id": i, "room_id": room_id, "content": format!("missed {i}")})).await;
        }
        for i in window {
            let ack = client.next_matching("a seeding ack", |f| f["id"] == *i).await;
            assert_eq!(type_of(&ack), "ack", "{ack}");
        }
    }
}

/// The replay of a large gap takes a while; live events keep coming meanwhile and must
/// neither fill the outbox (1013) nor be lost, duplicated or reordered.
async fn resuming_a_large_gap_into_a_busy_room_is_not_cut(app: TestApp) {
    const GAP: i64 = 6000;
    const WRITERS: i64 = 4;
    let (alice, bob, room_id) = app.room_of_two().await;
    let mut seeders = Vec::new();
    for i in 0..WRITERS {
        seeders.push(app.ws(&bob).await.labelled(&format!("bob (seeding #{i})")));
    }
    let per_seeder = GAP / WRITERS;
    let seeding = seeders.iter_mut().zip(0..).map(|(s, i)| seed(s, &room_id, i * per_seeder, per_seeder));
    futures_util::future::join_all(seeding).await;
    assert_eq!(app.last_seq(&bob, &room_id).await, GAP);

    // Live posts all along the replay, until alice has the whole gap.
    let caught_up = tokio::sync::watch::channel(false);
    let poster = |n: i64| {
        let mut stop = caught_up.1.clone();
        let (app, bob, room_id) = (&app, &bob, &room_id);
        async move {
            let mut posted = 0;
            while posted < 10 || !*stop.borrow_and_update() {
                app.post_message(bob, room_id, &format!("live {n}.{posted}")).await;
                posted += 1;
            }
            posted
        }
    };
    let posters = futures_util::future::join_all((0..WRITERS).map(poster));
    let resumer = async {
        let mut client = app.ws(&alice).await.labelled("alice (resuming)");
        let reply = client.subscribe(&room_id, Some(0)).await;
        assert!(reply.get("truncated").is_none_or(|t| t == false), "{reply}");
        let events = client.room_events_until(&room_id, GAP).await;
        caught_up.0.send_replace(true);
        (client, events)
    };
    let (posted, (mut client, mut events)) = tokio::join!(posters, resumer);
    let last = GAP + posted.iter().sum::<i64>();
    assert_eq!(app.last_seq(&bob, &room_id).await, last, "bob was the only writer");
    events.extend(client.room_events_until(&room_id, last).await);
    let seqs: Vec<i64> = events.iter().map(seq_of).collect();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "every event once, in order, across replay and live");
    client.assert_no_room_events(&room_id).await;
    client.assert_alive().await;
}
