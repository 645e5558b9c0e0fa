//! Several instances on one PostgreSQL and one Redis behave as one server: the real
//! `palaver serve` binary as child processes, a Redis the test starts (and stops, and
//! starts again), and the instances killed for real. PostgreSQL only: instances that share
//! Redis share a database, which SQLite cannot be.
//! (Over 400 lines: each outage scenario needs its own choreography of instances and Redis.)

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;

use crate::assistant::{SseEvent, conversation, open_stream, parse_sse, stored, text_of};
use crate::helpers::*;

/// Users of a killed instance go offline within this (docs/deployment.md): an instance is
/// dead after 20 s without a heartbeat, and heartbeats (which also reap) come every 5 s, so
/// 25 s after its last beat at most, plus the reaping and the announcement themselves.
const OFFLINE_AFTER_A_CRASH: Duration = Duration::from_secs(30);
/// After Redis is back, every subscriber has what it missed within this.
const CATCH_UP: Duration = Duration::from_secs(5);

fn content_of(frame: &Value) -> &str {
    frame["message"]["content"].as_str().unwrap_or_default()
}

/// alice on instance 0 and bob on instance 1, both in alice's public room, each with a
/// socket subscribed to it on their own instance.
async fn alice_and_bob_apart(cluster: &Cluster) -> (TestUser, TestUser, String, WsClient, WsClient) {
    let alice = cluster[0].register("alice").await;
    let bob = cluster[1].register("bob").await;
    let room_id = id_of(&cluster[0].create_room(&alice, "general", "public").await);
    cluster[1].join(&bob, &room_id).await;
    let mut alice_ws = cluster[0].ws(&alice).await.labelled("alice@0");
    let mut bob_ws = cluster[1].ws(&bob).await.labelled("bob@1");
    alice_ws.subscribe(&room_id, None).await;
    bob_ws.subscribe(&room_id, None).await;
    (alice, bob, room_id, alice_ws, bob_ws)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_events_typing_and_receipts_cross_instances_postgres() {
    let Some(cluster) = Cluster::start("room_events_typing_and_receipts_cross_instances", 2, &[]).await else {
        return;
    };
    let (alice, bob, room_id, mut alice_ws, mut bob_ws) = alice_and_bob_apart(&cluster).await;

    // REST on one instance, WebSocket on the other.
    let posted = cluster[0].post_message(&alice, &room_id, "hello from 0").await;
    let seen = bob_ws.next_of_type("message").await;
    assert_eq!((content_of(&seen), seq_of(&seen)), ("hello from 0", posted["seq"].as_i64().unwrap()), "{seen}");
    let echoed = alice_ws.next_of_type("message").await;
    assert_eq!(content_of(&echoed), "hello from 0");

    // A WebSocket send the other way.
    let ack = bob_ws.request(json!({"type": "send", "room_id": room_id, "content": "hi from 1"})).await;
    assert_eq!(type_of(&ack), "ack", "{ack}");
    let seen = alice_ws.next_of_type("message").await;
    assert_eq!((content_of(&seen), seq_of(&seen)), ("hi from 1", 2), "{seen}");

    // Edits and deletes are room events too.
    let path = format!("/rooms/{room_id}/messages/{}", str_of(&posted["id"]));
    cluster[0].patch(&alice, &path, json!({"content": "hello, edited"})).await.expect_status(200);
    let updated = bob_ws.next_of_type("message_updated").await;
    assert_eq!((content_of(&updated), seq_of(&updated)), ("hello, edited", 3), "{updated}");
    cluster[1].delete(&alice, &path).await.expect_status(204);
    let deleted = bob_ws.next_of_type("message_deleted").await;
    assert_eq!(seq_of(&deleted), 4, "{deleted}");
    let deleted = alice_ws.next_of_type("message_deleted").await;
    assert_eq!(seq_of(&deleted), 4, "{deleted}");

    // Typing and read receipts.
    bob_ws.send(json!({"type": "typing", "room_id": room_id, "active": true})).await;
    let typing = alice_ws.next_of_type("typing").await;
    assert_eq!((typing["user"]["id"].as_str(), typing["active"].as_bool()), (Some(bob.id.as_str()), Some(true)));
    alice_ws.send(json!({"type": "read", "room_id": room_id, "seq": 2})).await;
    let read = bob_ws.next_matching("alice's read receipt", |f| type_of(f) == "read" && f["user_id"] == alice.id).await;
    assert_eq!(read["seq"], 2, "{read}");

    // Every instance tells the same history.
    let from = |i: usize| {
        let (cluster, bob, room_id) = (&cluster, &bob, &room_id);
        async move { cluster[i].history(bob, room_id, "").await }
    };
    assert_eq!(items(&from(0).await), items(&from(1).await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_reaches_the_users_sessions_on_another_instance_postgres() {
    let Some(cluster) = Cluster::start("a_notification_reaches_the_users_sessions_on_another_instance", 2, &[]).await
    else {
        return;
    };
    let alice = cluster[0].register("alice").await;
    let bob = cluster[1].register("bob").await;
    let mut bob_ws = cluster[1].ws(&bob).await.labelled("bob@1");
    let room_id = id_of(&cluster[0].create_room(&alice, "general", "private").await);
    cluster[0].add_member(&alice, &room_id, &bob).await;
    let invite = bob_ws.next_of_type("notification").await;
    assert_eq!(invite["notification"]["kind"], "invite", "{invite}");
    cluster[0].post_message(&alice, &room_id, "hey @bob").await;
    let mention = bob_ws.next_matching("a mention", |f| f["notification"]["kind"] == "mention").await;
    assert_eq!(mention["notification"]["room_id"], room_id.as_str(), "{mention}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_reactions_and_thread_markers_cross_instances_postgres() {
    let Some(cluster) = Cluster::start("replies_reactions_and_thread_markers_cross_instances", 2, &[]).await else {
        return;
    };
    let (alice, bob, room_id, mut alice_ws, mut bob_ws) = alice_and_bob_apart(&cluster).await;
    let root = id_of(&cluster[0].post_message(&alice, &room_id, "root").await);
    let reply = cluster[1].post_reply(&bob, &room_id, &root, "a reply from instance 1").await;
    let event = alice_ws.next_of_type("message").await;
    assert_eq!(event["message"]["seq"], 1);
    let event = alice_ws.next_of_type("message").await;
    assert_eq!(event["message"]["id"], reply["id"]);
    assert_eq!(event["message"]["thread_root_id"], root.as_str());
    let notified = alice_ws.next_of_type("notification").await;
    assert_eq!(notified["notification"]["kind"], "reply", "{notified}");

    cluster[0].react(&alice, &room_id, &root, "👍", true).await.expect_status(200);
    let reacted = bob_ws.next_matching("alice's reaction", |f| type_of(f) == "reaction").await;
    assert_eq!((reacted["seq"].as_i64(), reacted["user_id"].as_str()), (Some(3), Some(alice.id.as_str())));

    // alice reads the thread on instance 1; her socket on instance 0 hears of it.
    let path = format!("/rooms/{room_id}/threads/{root}/read");
    cluster[1].post(&alice, &path, json!({"seq": 2})).await.expect_status(204);
    let read = alice_ws.next_of_type("thread_read").await;
    assert_eq!(read["seq"], 2, "{read}");
    let threads = cluster[0].get(&alice, "/threads").await.expect_status(200);
    assert_eq!(items(&threads)[0]["unread_count"], 0);
}

fn is_presence(frame: &Value, user: &TestUser, online: bool) -> bool {
    type_of(frame) == "presence" && frame["user_id"] == user.id && frame["online"] == online
}

async fn online_says(instance: &Instance, asking: &TestUser, user: &TestUser) -> bool {
    let found = instance.get(asking, &format!("/users/{}", user.id)).await.expect_status(200);
    found["online"].as_bool().expect("online is a boolean")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_one_for_the_cluster_and_a_killed_instances_users_go_offline_postgres() {
    let grace = [("PALAVER_WS_PRESENCE_GRACE_MS", "500")];
    let Some(mut cluster) = Cluster::start("presence_is_one_for_the_cluster", 3, &grace).await else { return };
    let alice = cluster[0].register("alice").await;
    let bob = cluster[1].register("bob").await;
    let carol = cluster[1].register("carol").await;
    let room_id = id_of(&cluster[0].create_room(&alice, "general", "public").await);
    cluster[0].join(&bob, &room_id).await;
    cluster[0].join(&carol, &room_id).await;
    let mut alice_ws = cluster[0].ws(&alice).await.labelled("alice@0");

    // bob and carol connect on instance 1: alice, on instance 0, hears it, and every
    // instance says they are online.
    let bob_ws = cluster[1].ws(&bob).await.labelled("bob@1");
    let carol_ws = cluster[1].ws(&carol).await.labelled("carol@1");
    alice_ws.next_matching("bob online", |f| is_presence(f, &bob, true)).await;
    alice_ws.next_matching("carol online", |f| is_presence(f, &carol, true)).await;
    for i in 0..3 {
        assert!(online_says(&cluster[i], &alice, &bob).await, "instance {i} says bob is offline");
    }
    // A second socket elsewhere is not news; closing it while the first stays is not either.
    let bob_elsewhere = cluster[2].ws(&bob).await.labelled("bob@2");
    bob_elsewhere.close().await;
    alice_ws
        .assert_none_matching_for(Duration::from_secs(2), "bob's presence", |f| {
            type_of(f) == "presence" && f["user_id"] == bob.id
        })
        .await;
    assert!(online_says(&cluster[2], &alice, &bob).await, "bob's other socket keeps him online");

    // Instance 1 crashes. carol reconnects to instance 2 at once; bob does not come back.
    cluster[1].kill();
    drop((bob_ws, carol_ws));
    let crashed = Instant::now();
    let _carol_again = cluster[2].ws(&carol).await.labelled("carol@2");
    let offline = alice_ws
        .next_matching_within(OFFLINE_AFTER_A_CRASH + Duration::from_secs(5), "bob offline", |f| {
            is_presence(f, &bob, false) || is_presence(f, &carol, false)
        })
        .await;
    let took = crashed.elapsed();
    assert!(is_presence(&offline, &bob, false), "carol, who reconnected elsewhere, went offline: {offline}");
    assert!(took <= OFFLINE_AFTER_A_CRASH, "bob went offline {took:?} after the crash");
    assert!(offline["last_seen"].is_string(), "{offline}");
    assert!(!online_says(&cluster[0], &alice, &bob).await);
    assert!(online_says(&cluster[0], &alice, &carol).await, "carol is online on instance 2");
    // Redis was never touched: in all this time (many of its 5 s pings) no instance lost it.
    let metrics = cluster[0].get_root("/metrics").await.text;
    let reconnects = metrics.lines().find(|l| l.starts_with("palaver_broker_reconnects_total "));
    assert_eq!(reconnects, None, "instance 0 reconnected to Redis: {reconnects:?}");
}

/// Instances beat every 5 s (`service/presence/instances.rs`, `HEARTBEAT`).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

async fn all_ready(cluster: &Cluster) -> bool {
    for i in 0..cluster.instances.len() {
        if cluster[i].get_root("/readyz").await.status != 200 {
            return false;
        }
    }
    true
}

/// Stops the cluster's Redis (every key lost) until every instance reports it, then starts
/// it again and waits until every instance is ready and has beaten again (`alice`, on
/// instance 0, is registered in Redis again).
async fn restart_redis(cluster: &mut Cluster, alice: &TestUser) {
    cluster.redis.stop();
    eventually(Duration::from_secs(10), "every instance reports Redis down", || async {
        for i in 0..cluster.instances.len() {
            if cluster[i].get_root("/readyz").await.json()["checks"]["broker"] != "unavailable" {
                return false;
            }
        }
        true
    })
    .await;
    // Long enough for a heartbeat to fail on every instance.
    tokio::time::sleep(HEARTBEAT_EVERY + Duration::from_secs(1)).await;
    cluster.redis.start_again();
    eventually(Duration::from_secs(10), "every instance ready again", || all_ready(cluster)).await;
    eventually(HEARTBEAT_EVERY * 3, "alice registered in Redis again", || online_says(&cluster[2], alice, alice)).await;
}

/// The instance ids that have `user` in Redis.
fn instances_of(redis: &TestRedis, user: &TestUser) -> Vec<String> {
    let mut ids: Vec<String> =
        redis.cli(&["SMEMBERS", &format!("palaver:online:{}", user.id)]).lines().map(str::to_owned).collect();
    ids.retain(|id| !id.is_empty());
    ids
}

/// The acceptance scenario of issue 23: Redis restarts twice under three instances, then
/// the instance of bob's only socket is killed; alice, on another instance, sees him go
/// offline within `OFFLINE_AFTER_A_CRASH`.
///
/// `bob_before`: bob's socket is open on instance 1 through both restarts (it registers him
/// again each time). Otherwise he connects after the second restart, which comes right
/// after instance 1 beat, so he arrives in a Redis that has not heard from his instance yet
/// (it is killed before its next beat).
async fn killed_after_two_redis_restarts(test: &str, bob_before: bool) {
    let grace = [("PALAVER_WS_PRESENCE_GRACE_MS", "500")];
    let Some(mut cluster) = Cluster::start(test, 3, &grace).await else { return };
    let alice = cluster[0].register("alice").await;
    let bob = cluster[1].register("bob").await;
    let room_id = id_of(&cluster[0].create_room(&alice, "general", "public").await);
    cluster[0].join(&bob, &room_id).await;
    let mut alice_ws = cluster[0].ws(&alice).await.labelled("alice@0");
    // bob's first socket on instance 1 tells which instance id that is.
    let mut bob_ws = Some(cluster[1].ws(&bob).await.labelled("bob@1"));
    alice_ws.next_matching("bob online", |f| is_presence(f, &bob, true)).await;
    let instance_1 = instances_of(&cluster.redis, &bob);
    assert_eq!(instance_1.len(), 1, "bob is on one instance: {instance_1:?}");
    let instance_1 = instance_1[0].clone();
    if !bob_before {
        bob_ws.take().expect("bob's socket").close().await;
        alice_ws.next_matching("bob offline", |f| is_presence(f, &bob, false)).await;
    }

    restart_redis(&mut cluster, &alice).await;
    let mut beat = None;
    if bob_before {
        restart_redis(&mut cluster, &alice).await;
        eventually(HEARTBEAT_EVERY * 3, "bob registered in Redis again", || online_says(&cluster[0], &alice, &bob))
            .await;
    } else {
        eventually(HEARTBEAT_EVERY * 2, "instance 1 beats", || async {
            !cluster.redis.cli(&["ZSCORE", "palaver:instances", &instance_1]).is_empty()
        })
        .await;
        beat = Some(Instant::now());
        cluster.redis.stop();
        cluster.redis.start_again();
        // A command on instance 1's connection finds it broken and has it reconnect, so
        // bob's arrival below reaches Redis.
        cluster[1].get(&alice, &format!("/users/{}", alice.id)).await.expect_status(200);
        tokio::time::sleep(Duration::from_millis(500)).await;
        bob_ws = Some(cluster[1].ws(&bob).await.labelled("bob@1"));
        alice_ws.next_matching("bob online", |f| is_presence(f, &bob, true)).await;
        assert_eq!(
            instances_of(&cluster.redis, &bob),
            std::slice::from_ref(&instance_1),
            "bob registered on instance 1"
        );
    }
    for i in 0..3 {
        // (The other instances' connections find Redis restarted at their first command.)
        eventually(Duration::from_secs(2), &format!("instance {i} says bob is online"), || {
            online_says(&cluster[i], &alice, &bob)
        })
        .await;
    }
    if let Some(beat) = beat {
        assert!(beat.elapsed() < HEARTBEAT_EVERY - Duration::from_millis(300), "instance 1 may have beaten since");
    }

    cluster[1].kill();
    drop(bob_ws);
    let crashed = Instant::now();
    let offline = alice_ws
        .next_matching_within(OFFLINE_AFTER_A_CRASH + Duration::from_secs(5), "bob offline", |f| {
            is_presence(f, &bob, false)
        })
        .await;
    let took = crashed.elapsed();
    assert!(took <= OFFLINE_AFTER_A_CRASH, "bob went offline {took:?} after the crash");
    assert!(offline["last_seen"].is_string(), "{offline}");
    for i in [0, 2] {
        assert!(!online_says(&cluster[i], &alice, &bob).await, "instance {i} says bob is online");
    }
    assert_eq!(instances_of(&cluster.redis, &bob), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instances_users_go_offline_after_two_redis_restarts_postgres() {
    killed_after_two_redis_restarts("a_killed_instances_users_go_offline_after_two_redis_restarts", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instances_users_online_through_two_redis_restarts_go_offline_postgres() {
    killed_after_two_redis_restarts("a_killed_instances_users_online_through_two_redis_restarts", true).await;
}

/// Redis refuses every write (over `maxmemory`, with the default `noeviction`) until
/// `allow_writes`: scripts fail at once with an error, reads still work.
fn refuse_writes(redis: &TestRedis) {
    assert_eq!(redis.cli(&["CONFIG", "SET", "maxmemory", "1"]), "OK");
}

fn allow_writes(redis: &TestRedis) {
    assert_eq!(redis.cli(&["CONFIG", "SET", "maxmemory", "0"]), "OK");
}

/// A user's arrival that Redis refused (it answered, but with an error) leaves them online
/// on their instance only; the instance notes it, and its next beat registers them, so
/// every instance sees them online and a crash of theirs is reaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_arrival_redis_refused_is_registered_at_the_next_beat_postgres() {
    let grace = [("PALAVER_WS_PRESENCE_GRACE_MS", "500")];
    let Some(cluster) = Cluster::start("an_arrival_redis_refused", 2, &grace).await else { return };
    let alice = cluster[0].register("alice").await;
    let bob = cluster[1].register("bob").await;
    let room_id = id_of(&cluster[0].create_room(&alice, "general", "public").await);
    cluster[0].join(&bob, &room_id).await;
    let _alice_ws = cluster[0].ws(&alice).await.labelled("alice@0");
    // Both instances have beaten, and registered: their marks are there.
    eventually(HEARTBEAT_EVERY * 2, "both instances registered", || async {
        cluster.redis.cli(&["KEYS", "palaver:instance:*:registered"]).lines().count() == 2
    })
    .await;

    refuse_writes(&cluster.redis);
    let mut bob_ws = cluster[1].ws(&bob).await.labelled("bob@1");
    // His own presence comes once his arrival was tried (and refused).
    bob_ws.next_matching("bob online", |f| is_presence(f, &bob, true)).await;
    assert_eq!(instances_of(&cluster.redis, &bob), Vec::<String>::new(), "Redis took bob's arrival");
    allow_writes(&cluster.redis);

    // Instance 1's next beat finds its mark (Redis lost nothing) but registers bob anyway.
    eventually(HEARTBEAT_EVERY * 2 + Duration::from_secs(1), "bob registered on instance 1", || async {
        instances_of(&cluster.redis, &bob).len() == 1
    })
    .await;
    assert!(online_says(&cluster[0], &alice, &bob).await, "instance 0 says bob is offline");
}

/// A reply started on an instance that Redis does not know yet (Redis restarted since its
/// last beat) puts the instance among the beats, as an arrival does: killed before its next
/// beat, the instance is still reaped and its reply stored as interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_started_after_a_redis_restart_is_interrupted_when_its_instance_is_killed_postgres() {
    let fake = FakeLlm::scripted().await.expect("the fake upstream starts");
    let llm = [("PALAVER_LLM_BASE_URL", fake.base_url()), ("PALAVER_LLM_MODEL", "fake-model".to_owned())];
    let llm: Vec<(&str, &str)> = llm.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let Some(mut cluster) = Cluster::start("a_reply_started_after_a_redis_restart", 2, &llm).await else { return };
    let alice = cluster[0].register("alice").await;
    let id = conversation(&cluster[0], &alice).await;
    // alice's socket on instance 0 tells its id; she leaves again, so no arrival of hers
    // puts instance 0 among the beats below.
    let alice_ws = cluster[0].ws(&alice).await.labelled("alice@0");
    eventually(Duration::from_secs(5), "alice registered", || async {
        instances_of(&cluster.redis, &alice).len() == 1
    })
    .await;
    let instance_0 = instances_of(&cluster.redis, &alice)[0].clone();
    alice_ws.close().await;
    eventually(Duration::from_secs(10), "alice gone from Redis", || async {
        instances_of(&cluster.redis, &alice).is_empty()
    })
    .await;

    let beats = |redis: &TestRedis| redis.cli(&["ZSCORE", "palaver:instances", &instance_0]);
    let before = beats(&cluster.redis);
    eventually(HEARTBEAT_EVERY * 2, "instance 0 beats", || async { beats(&cluster.redis) != before }).await;
    let beat = Instant::now();
    cluster.redis.stop();
    cluster.redis.start_again();
    // A command on instance 0's connection finds it broken and has it reconnect, so the
    // reply's own commands reach Redis.
    cluster[0].get(&alice, &format!("/users/{}", alice.id)).await.expect_status(200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pieces = words(200, "w");
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    fake.push(FakeReply::text(&pieces).delay(Duration::from_millis(50)));
    let first = first_events(open_stream(&cluster[0], &alice, &id, "a long one").await, 3).await;
    let message_id = str_of(&first[0].data["assistant_message_id"]);
    assert!(!beats(&cluster.redis).is_empty(), "the reply put instance 0 among the beats");
    assert!(beat.elapsed() < HEARTBEAT_EVERY - Duration::from_millis(300), "instance 0 may have beaten since");

    kill_0_and_follow_on_1(&mut cluster, &alice, &id, &message_id).await;
    let messages = stored(&cluster[1], &alice, &id).await;
    assert_eq!(messages[1]["status"], "interrupted", "{}", messages[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_loses_nothing_and_catches_up_without_new_posts_postgres() {
    let Some(mut cluster) = Cluster::start("a_redis_outage_loses_nothing", 2, &[]).await else { return };
    let (alice, _bob, room_id, mut alice_ws, mut bob_ws) = alice_and_bob_apart(&cluster).await;
    cluster[0].post_message(&alice, &room_id, "before").await;
    bob_ws.next_of_type("message").await;
    alice_ws.next_of_type("message").await;

    cluster.redis.stop();
    // Writes still persist and answer; alice's own instance still delivers to her.
    let mut sent = Vec::new();
    for i in 0..5 {
        let posted = cluster[0].post_message(&alice, &room_id, &format!("during {i}")).await;
        sent.push(posted["seq"].as_i64().unwrap());
    }
    for seq in &sent {
        let frame = alice_ws.next_of_type("message").await;
        assert_eq!(seq_of(&frame), *seq, "local delivery goes on: {frame}");
    }
    eventually(Duration::from_secs(10), "instance 0's /readyz reports the broker", || async {
        let ready = cluster[0].get_root("/readyz").await;
        ready.status == 503 && ready.json()["checks"]["broker"] == "unavailable"
    })
    .await;

    // Down long enough for the reconnect attempts to back off to their longest wait.
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.redis.start_again();
    let back = Instant::now();
    // Nothing new is posted: bob gets the five from the catch-up, in order, once each.
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let left = CATCH_UP.saturating_sub(back.elapsed()).max(Duration::from_millis(1));
        let frame = bob_ws.next_matching_within(left, "a missed message", |f| type_of(f) == "message").await;
        got.push(seq_of(&frame));
    }
    assert_eq!(got, sent);
    assert!(back.elapsed() <= CATCH_UP, "caught up {:?} after Redis returned", back.elapsed());
    // From the store, not from late publishes (the publisher drops what it could not send).
    let metrics = cluster[1].get_root("/metrics").await.text;
    let caught_up = metrics.lines().find_map(|l| l.strip_prefix("palaver_broker_caught_up_total "));
    let caught_up: u64 = caught_up.and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    assert!(caught_up >= sent.len() as u64, "instance 1 caught up {caught_up} events from the store");
    bob_ws.barrier().await;
    assert!(bob_ws.take_kept().iter().all(|f| type_of(f) != "message"), "nothing delivered twice");
    eventually(Duration::from_secs(10), "both instances ready again", || async {
        cluster[0].get_root("/readyz").await.status == 200 && cluster[1].get_root("/readyz").await.status == 200
    })
    .await;

    // And live delivery across works again.
    let posted = cluster[0].post_message(&alice, &room_id, "after").await;
    let frame = bob_ws.next_of_type("message").await;
    assert_eq!(seq_of(&frame), posted["seq"].as_i64().unwrap());
}

/// Posts to the room through `instance` every few milliseconds until told to stop; returns
/// the seqs acknowledged.
fn keep_posting(
    instance: Api,
    alice: TestUser,
    room_id: String,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Vec<i64>> {
    tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut n = 0;
        while !*stop.borrow() {
            n += 1;
            let posted = instance.post_message(&alice, &room_id, &format!("m{n}")).await;
            acked.push(posted["seq"].as_i64().expect("a seq"));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        acked
    })
}

/// The room's message seqs that arrive on `client` until the server closes it with 1001.
async fn seqs_until_going_away(client: &mut WsClient, room_id: &str) -> Vec<i64> {
    let (frames, code, ended) = client.frames_until_close().await;
    assert_eq!(code, Some(1001), "closed without 1001 ({ended:?})");
    room_events(&frames, room_id).iter().map(seq_of).collect()
}

/// One step of a rolling restart: SIGTERM to the first instance while alice posts through
/// the second; bob's socket on the first is closed with 1001 (its seqs go to `seen`) and he
/// resumes on the second. `replace`: start another instance meanwhile. Returns bob's new
/// socket and the seqs alice had acknowledged.
async fn stop_the_first(
    cluster: &mut Cluster,
    alice: &TestUser,
    bob: &TestUser,
    room_id: &str,
    mut bob_ws: WsClient,
    seen: &mut Vec<i64>,
    replace: bool,
) -> (WsClient, Vec<i64>) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let writer = keep_posting(Api::new(cluster[1].address.clone()), alice.clone(), room_id.to_owned(), stopped);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let first = cluster.instances.remove(0);
    let status = tokio::task::spawn_blocking(move || first.terminate()).await.unwrap();
    assert!(status.success(), "the instance exits cleanly on SIGTERM: {status}");
    seen.extend(seqs_until_going_away(&mut bob_ws, room_id).await);
    let mut bob_ws = cluster[0].ws(bob).await.labelled("bob, resumed");
    bob_ws.subscribe(room_id, seen.last().copied()).await;
    if replace {
        tokio::task::block_in_place(|| cluster.add(&[]));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true).unwrap();
    (bob_ws, writer.await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_loses_duplicates_and_reorders_nothing_postgres() {
    let Some(mut cluster) = Cluster::start("a_rolling_restart", 2, &[]).await else { return };
    let alice = cluster[1].register("alice").await;
    let bob = cluster[0].register("bob").await;
    let room_id = id_of(&cluster[1].create_room(&alice, "general", "public").await);
    cluster[0].join(&bob, &room_id).await;
    let mut bob_ws = cluster[0].ws(&bob).await.labelled("bob@0");
    bob_ws.subscribe(&room_id, None).await;
    let mut seen = Vec::new();

    // Instance 0 restarts (a new one takes its place) while alice posts through the other;
    // bob resumes there. Then the other one stops, alice posting through the new one.
    let (bob_ws, mut acked) = stop_the_first(&mut cluster, &alice, &bob, &room_id, bob_ws, &mut seen, true).await;
    let (mut bob_ws, more) = stop_the_first(&mut cluster, &alice, &bob, &room_id, bob_ws, &mut seen, false).await;
    acked.extend(more);

    let last = *acked.last().expect("something was posted");
    let rest = bob_ws.room_events_until(&room_id, last).await;
    seen.extend(rest.iter().map(seq_of));
    let expected: Vec<i64> = (1..=last).collect();
    assert_eq!(seen, expected, "bob saw every seq once, in order ({} acknowledged)", acked.len());
    assert!(acked.windows(2).all(|w| w[0] < w[1]), "acks in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_shared_by_the_instances_postgres() {
    let limits = [("PALAVER_LIMITS_AUTH_PER_SEC", "0.05"), ("PALAVER_LIMITS_AUTH_BURST", "4")];
    let Some(cluster) = Cluster::start("rate_limits_are_shared_by_the_instances", 2, &limits).await else { return };
    let alice = cluster[0].register("alice").await;
    // (Both started at once: their migrations took turns, each applied once.)
    let mut db = sqlx::PgConnection::connect(&cluster.database.url).await.unwrap();
    let counts: Vec<(i64, i64)> = sqlx::query_as("SELECT version, count(*) FROM _sqlx_migrations GROUP BY version")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert!(!counts.is_empty() && counts.iter().all(|(_, n)| *n == 1), "{counts:?}");
    let login = json!({"username": alice.username, "password": alice.password});
    for _ in 0..3 {
        cluster[0].post(&Anonymous, "/auth/login", login.clone()).await.expect_status(200);
    }
    // Instance 1 has seen none of these four, but the budget is the cluster's.
    let refused = cluster[1].post(&Anonymous, "/auth/login", login).await;
    refused.expect_problem(429, Some("rate_limited"));
    let retry_after: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "Retry-After: {retry_after}");
}

/// Reads a reply's stream until it holds at least `count` events, then hangs up.
/// Kills instance 0 while it runs `message_id`'s reply and follows that reply on instance 1:
/// the reply must end there (with an `error` event) soon after the crash is noticed.
async fn kill_0_and_follow_on_1(cluster: &mut Cluster, user: &TestUser, id: &str, message_id: &str) -> Vec<SseEvent> {
    cluster[0].kill();
    let crashed = Instant::now();
    let rest = tokio::time::timeout(OFFLINE_AFTER_A_CRASH + Duration::from_secs(10), async {
        resume(&cluster[1], user, id, message_id, None).await
    })
    .await
    .expect("the follower on instance 1 sees the end of the dead instance's reply");
    assert_eq!(rest.last().expect("events after the crash").data["type"], "error", "{:?}", rest.last());
    assert!(crashed.elapsed() <= OFFLINE_AFTER_A_CRASH + Duration::from_secs(6), "{:?}", crashed.elapsed());
    rest
}

async fn first_events(mut response: reqwest::Response, count: usize) -> Vec<SseEvent> {
    let mut seen = String::new();
    while parse_sse(&seen).len() < count {
        let chunk = response.chunk().await.unwrap().expect("more of the stream");
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    parse_sse(&seen)
}

async fn resume(instance: &Instance, user: &TestUser, id: &str, message_id: &str, after: Option<u64>) -> Vec<SseEvent> {
    let url = instance.api(&format!("/chat/conversations/{id}/messages/{message_id}/stream"));
    let mut request = instance.client.get(&url).bearer_auth(&user.access_token);
    if let Some(after) = after {
        request = request.header("last-event-id", after.to_string());
    }
    parse_sse(&request.send().await.unwrap().text().await.unwrap())
}

fn words(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i} ")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_running_on_one_instance_is_followed_resumed_and_cancelled_through_another_postgres() {
    let fake = FakeLlm::scripted().await.unwrap();
    let llm = [
        ("PALAVER_LLM_BASE_URL", fake.base_url()),
        ("PALAVER_LLM_MODEL", "fake-model".to_owned()),
        ("PALAVER_LLM_MAX_RUNNING_PER_USER", "1".to_owned()),
    ];
    let llm: Vec<(&str, &str)> = llm.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let Some(mut cluster) = Cluster::start("a_reply_running_on_one_instance", 2, &llm).await else { return };
    let alice = cluster[0].register("alice").await;
    let id = conversation(&cluster[0], &alice).await;
    let mut watcher = cluster[1].ws(&alice).await.labelled("alice@1");

    // Started on instance 0, dropped after a few events, resumed on instance 1.
    let pieces = words(30, "p");
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    fake.push(FakeReply::text(&pieces).delay(Duration::from_millis(40)));
    let first = first_events(open_stream(&cluster[0], &alice, &id, "a long answer").await, 4).await;
    let last_id = first.iter().filter_map(|e| e.id).max().unwrap();
    let message_id = str_of(&first[0].data["assistant_message_id"]);
    let rest = resume(&cluster[1], &alice, &id, &message_id, Some(last_id)).await;
    assert_eq!(rest.first().unwrap().id, Some(last_id + 1), "no event missed or repeated");
    assert_eq!(rest.last().unwrap().data["type"], "complete", "{:?}", rest.last());
    let whole: String = text_of(&first) + &text_of(&rest);
    assert_eq!(whole, pieces.concat());
    // Watched live over the other instance's WebSocket too.
    let frames = watcher.collect_until(|f| type_of(f) == "assistant.complete").await;
    let streamed: String = frames
        .iter()
        .filter(|f| type_of(f) == "assistant.chunk")
        .map(|f| f["content"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(streamed, pieces.concat());

    // Cancelled through instance 1 while it runs on instance 0.
    let pieces = words(200, "c");
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    fake.push(FakeReply::text(&pieces).delay(Duration::from_millis(50)));
    let response = open_stream(&cluster[0], &alice, &id, "talk for a while").await;
    fake.wait_for_requests(2).await;
    // One running reply per user is the cluster's cap, not each instance's.
    let other = conversation(&cluster[1], &alice).await;
    let path = format!("/chat/conversations/{other}/messages");
    cluster[1].post(&alice, &path, json!({"message": "meanwhile"})).await.expect_problem(429, Some("rate_limited"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cancel = format!("/chat/conversations/{id}/cancel");
    cluster[1].post(&alice, &cancel, json!({})).await.expect_status(204);
    fake.wait_for_disconnects(1).await;
    let events = parse_sse(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap().data, json!({"type": "error", "status": "cancelled", "error": "cancelled"}));
    let messages = stored(&cluster[1], &alice, &id).await;
    assert_eq!(messages[3]["status"], "cancelled", "{}", messages[3]);
    cluster[1].post(&alice, &cancel, json!({})).await.expect_problem(409, None);

    // Instance 0 dies mid-reply: instance 1 ends it as interrupted (a follower there sees the
    // end), and the conversation takes a new send.
    fake.push(FakeReply::text(&pieces).delay(Duration::from_millis(50)));
    let first = first_events(open_stream(&cluster[0], &alice, &id, "and again").await, 3).await;
    let message_id = str_of(&first[0].data["assistant_message_id"]);
    let rest = kill_0_and_follow_on_1(&mut cluster, &alice, &id, &message_id).await;
    assert_eq!(rest.last().expect("events after the crash").data["status"], "interrupted", "{:?}", rest.last());
    let messages = stored(&cluster[1], &alice, &id).await;
    assert_eq!(messages[5]["status"], "interrupted", "{}", messages[5]);
    fake.push(FakeReply::text(&["fine"]));
    let path = format!("/chat/conversations/{id}/messages");
    cluster[1].post(&alice, &path, json!({"message": "still there?"})).await.expect_status(201);
    drop(cluster.instances.remove(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_to_one_instance_is_served_by_every_instance_postgres() {
    let Some(cluster) = Cluster::start("an_upload_to_one_instance_is_served_by_every_instance", 2, &[]).await else {
        return;
    };
    let (alice, bob, room_id, _alice_ws, mut bob_ws) = alice_and_bob_apart(&cluster).await;
    let bytes = png(64, 48);
    let attachment = cluster[0].upload(&alice, bytes.clone()).await;
    cluster[0].post_image(&alice, &room_id, &str_of(&attachment["id"]), None).await.expect_status(201);
    let frame = bob_ws.next_of_type("message").await;
    let seen = &frame["message"]["attachment"];
    let original = cluster[1].fetch(seen["url"].as_str().unwrap(), None, None).await;
    assert_eq!((original.status, original.bytes.len()), (200, bytes.len()));
    let thumb = cluster[1].fetch(seen["thumbnail_url"].as_str().unwrap(), None, None).await;
    assert_eq!(thumb.status, 200);
    let by_bearer = cluster[1].fetch(&unsigned(&seen["url"]), Some(&bob.access_token), None).await;
    assert_eq!(by_bearer.bytes, original.bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_cut_under_one_instance_is_a_quick_503_there_and_heals_postgres() {
    let Some(mut cluster) = Cluster::start("a_database_cut_under_one_instance", 1, &[]).await else { return };
    let (mut proxy, through_proxy) = DbProxy::in_front_of(&cluster.database.url).await;
    let redis = cluster.redis.url();
    let settings = [("PALAVER_DATABASE_ACQUIRE_TIMEOUT_MS", "1000")];
    let cut = tokio::task::block_in_place(|| Instance::start(&through_proxy, &redis, &settings));
    cluster.instances.push(cut);
    let (alice, bob, room_id, _alice_ws, mut bob_ws) = alice_and_bob_apart(&cluster).await;
    let path = format!("/rooms/{room_id}/messages");

    proxy.cut().await;
    let asked = Instant::now();
    let refused = cluster[1].post(&bob, &path, json!({"content": "while cut"})).await;
    refused.expect_problem(503, Some("unavailable"));
    assert!(refused.headers.contains_key("retry-after"), "{}", refused.text);
    assert!(asked.elapsed() < Duration::from_secs(10), "the 503 took {:?}", asked.elapsed());
    let ready = cluster[1].get_root("/readyz").await;
    assert_eq!(
        (ready.status, ready.json()["checks"]["database"].clone()),
        (503, json!("unavailable")),
        "{}",
        ready.text
    );
    // The other instance writes on; the cut one's socket stays open and gets it live.
    let posted = cluster[0].post_message(&alice, &room_id, "from the other side").await;
    let seen = bob_ws.next_of_type("message").await;
    assert_eq!(seq_of(&seen), posted["seq"].as_i64().unwrap());
    bob_ws.assert_alive().await;

    proxy.restore().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let last = loop {
        let reply = cluster[1].post(&bob, &path, json!({"content": "back"})).await;
        if reply.status == 201 {
            break reply.json()["seq"].as_i64().unwrap();
        }
        reply.expect_problem(503, Some("unavailable"));
        assert!(Instant::now() < deadline, "the cut instance does not write again within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Every seq once, from both instances' writes, with nothing acknowledged lost.
    let history = items(&cluster[1].history(&bob, &room_id, "?limit=100").await);
    let mut seqs: Vec<i64> = history.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
}
