//! A database outage, for real: the server reaches PostgreSQL through a proxy that the
//! test cuts (every connection dropped, new ones refused) and restores, while a REST writer
//! and a WebSocket writer keep posting. During the outage writes answer 503 / `unavailable`
//! within seconds, open sockets stay served and subscribed, `/readyz` says the database is
//! down; after it, writes recover by themselves and the room's seqs have no gap and no
//! duplicate, with every acknowledged message kept.
//!
//! PostgreSQL only: a SQLite database is a file inside the server's process, with no
//! connection to cut.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

/// A write, a readiness check or a recovery that takes this long never happened.
const NEVER: Duration = Duration::from_secs(60);
/// Between two writes of one writer.
const PACE: Duration = Duration::from_millis(100);
/// Sockets that send at the same moment during the outage, so their sends queue up.
const BURST: usize = 8;

#[derive(Debug, Clone)]
enum Outcome {
    Stored { id: String, seq: i64 },
    Unavailable,
}

#[derive(Debug, Clone)]
struct Write {
    sent: Instant,
    answered: Instant,
    outcome: Outcome,
}

/// What one writer saw, shared with the test while it runs.
#[derive(Default)]
struct Log(Mutex<Vec<Write>>);

impl Log {
    fn push(&self, sent: Instant, outcome: Outcome) {
        self.0.lock().unwrap().push(Write { sent, answered: Instant::now(), outcome });
    }

    fn writes(&self) -> Vec<Write> {
        self.0.lock().unwrap().clone()
    }

    fn stored_since(&self, since: Instant) -> usize {
        self.writes().iter().filter(|w| w.sent >= since && matches!(w.outcome, Outcome::Stored { .. })).count()
    }

    fn unavailable_since(&self, since: Instant) -> usize {
        self.writes().iter().filter(|w| w.sent >= since && matches!(w.outcome, Outcome::Unavailable)).count()
    }
}

/// Polls `done` until it holds; panics with `what` after [`NEVER`].
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + NEVER;
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen within {NEVER:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Posts over REST until `stop`; every answer must be 201 or a 503 problem with `Retry-After`.
async fn rest_writer(app: Arc<TestApp>, user: TestUser, room_id: String, log: Arc<Log>, stop: Arc<AtomicBool>) {
    let path = format!("/rooms/{room_id}/messages");
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let sent = Instant::now();
        let body = json!({"content": format!("rest {n}"), "client_msg_id": format!("rest-{n}")});
        let reply = tokio::time::timeout(NEVER, app.post(&user, &path, body))
            .await
            .unwrap_or_else(|_| panic!("a REST post was not answered within {NEVER:?}"));
        let outcome = match reply.status {
            201 => {
                let message = reply.json();
                Outcome::Stored { id: str_of(&message["id"]), seq: message["seq"].as_i64().expect("a seq") }
            }
            _ => {
                reply.expect_problem(503, Some("unavailable"));
                assert!(reply.headers.contains_key("retry-after"), "a 503 without Retry-After: {}", reply.text);
                Outcome::Unavailable
            }
        };
        log.push(sent, outcome);
        tokio::time::sleep(PACE).await;
    }
}

/// Sends over its WebSocket until `stop`; every answer must be an `ack` or an `unavailable`
/// error, after which the socket must still answer a ping.
async fn ws_writer(mut ws: WsClient, room_id: String, log: Arc<Log>, stop: Arc<AtomicBool>) -> WsClient {
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let id = format!("ws-{n}");
        let sent = Instant::now();
        let frame =
            json!({"type": "send", "id": id, "room_id": room_id, "content": format!("ws {n}"), "client_msg_id": id});
        ws.send(frame).await;
        let reply = ws.next_matching_within(NEVER, "the answer to a send", |f| f["id"] == id).await;
        let outcome = match type_of(&reply) {
            "ack" => Outcome::Stored { id: str_of(&reply["message"]["id"]), seq: seq_of(&reply["message"]) },
            "error" if reply["code"] == "unavailable" => Outcome::Unavailable,
            _ => panic!("a send was answered with {reply}"),
        };
        let unavailable = matches!(outcome, Outcome::Unavailable);
        log.push(sent, outcome);
        if unavailable {
            ws.assert_alive().await;
        }
        ws.take_kept();
        tokio::time::sleep(PACE).await;
    }
    ws
}

/// Sends one message and returns its answer, however long it takes up to [`NEVER`].
async fn send_once(ws: &mut WsClient, room_id: &str, id: String) -> Value {
    ws.send(json!({"type": "send", "id": id, "room_id": room_id, "content": id})).await;
    ws.next_matching_within(NEVER, "the answer to a send", |f| f["id"] == id).await
}

async fn readiness(app: &TestApp) -> (u16, Value) {
    let reply = tokio::time::timeout(NEVER, app.get_root("/readyz"))
        .await
        .unwrap_or_else(|_| panic!("/readyz did not answer within {NEVER:?}"));
    assert!(reply.content_type().starts_with("application/json"), "/readyz: {:?}", reply.content_type());
    (reply.status, reply.json())
}

/// Every message of the room, oldest first.
async fn whole_history(app: &TestApp, user: &TestUser, room_id: &str) -> Vec<Value> {
    let mut messages = Vec::new();
    loop {
        let after = messages.last().map_or(0, |m: &Value| m["seq"].as_i64().unwrap());
        let page = app.history(user, room_id, &format!("?after={after}&limit=100")).await;
        messages.extend(items(&page));
        if page["has_more"] != true {
            return messages;
        }
    }
}

/// "n, median m, slowest s" of how long the writes answered `unavailable` in the outage took.
fn unavailable_latencies(writes: &[Write], cut: Instant, restored: Instant) -> String {
    let mut waits: Vec<Duration> = writes
        .iter()
        .filter(|w| w.sent >= cut && w.sent < restored && matches!(w.outcome, Outcome::Unavailable))
        .map(|w| w.answered - w.sent)
        .collect();
    waits.sort();
    format!("{} answered, median {:?}, slowest {:?}", waits.len(), waits[waits.len() / 2], waits[waits.len() - 1])
}

fn first_stored_after(writes: &[Write], since: Instant) -> Option<Duration> {
    writes
        .iter()
        .filter(|w| w.sent >= since && matches!(w.outcome, Outcome::Stored { .. }))
        .map(|w| w.answered - since)
        .min()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writes_answer_503_during_a_database_outage_and_recover_after_it() {
    let (app, mut proxy) = spawn_app_behind_proxy(|_| {}).await;
    let app = Arc::new(app);
    let (alice, bob, room_id) = app.room_of_two().await;
    let mut watcher = app.ws(&bob).await.labelled("bob (watching)");
    watcher.subscribe(&room_id, None).await;

    let stop = Arc::new(AtomicBool::new(false));
    let (rest_log, ws_log) = (Arc::new(Log::default()), Arc::new(Log::default()));
    let rest = tokio::spawn(rest_writer(app.clone(), bob.clone(), room_id.clone(), rest_log.clone(), stop.clone()));
    // The WebSocket client's futures are not `Send`: this writer runs beside the test's
    // own steps on this task.
    let ws = ws_writer(app.ws(&alice).await, room_id.clone(), ws_log.clone(), stop.clone());
    let mut burst = Vec::with_capacity(BURST);
    for i in 0..BURST {
        let mut socket = app.ws(&alice).await.labelled(&format!("alice#{i}"));
        // One send first, so the socket knows the room and later sends go straight to the writer.
        let reply = send_once(&mut socket, &room_id, format!("before-{i}")).await;
        assert_eq!(type_of(&reply), "ack", "{reply}");
        burst.push(socket);
    }
    let outage = async {
        let started = Instant::now();
        until("three posts by each writer", || {
            rest_log.stored_since(started) >= 3 && ws_log.stored_since(started) >= 3
        })
        .await;

        proxy.cut().await;
        let cut = Instant::now();
        until("a 503 to the REST writer and an `unavailable` to the WebSocket writer", || {
            rest_log.unavailable_since(cut) >= 2 && ws_log.unavailable_since(cut) >= 2
        })
        .await;
        // Sends that arrive together queue at the writer: each is answered within the
        // acquire timeout, not one timeout after another.
        let sent = Instant::now();
        let answers = futures_util::future::join_all(
            burst.iter_mut().enumerate().map(|(i, ws)| send_once(ws, &room_id, format!("burst-{i}"))),
        )
        .await;
        let burst_answered = sent.elapsed();
        for answer in &answers {
            assert_eq!((type_of(answer), &answer["code"]), ("error", &json!("unavailable")), "{answer}");
        }
        // Open sockets are served and stay subscribed while the database is away.
        watcher.assert_alive().await;
        for ws in &mut burst {
            ws.assert_alive().await;
        }
        let asked = Instant::now();
        let (status, report) = readiness(&app).await;
        let readyz_down = asked.elapsed();
        assert_eq!(status, 503, "/readyz during the outage: {report}");
        assert_eq!(
            report,
            json!({"status": "degraded", "checks": {"database": "unavailable", "broker": "ok", "writers": "ok"}})
        );

        proxy.restore().await;
        let restored = Instant::now();
        until("three posts by each writer after the database is back", || {
            rest_log.stored_since(restored) >= 3 && ws_log.stored_since(restored) >= 3
        })
        .await;
        stop.store(true, Ordering::SeqCst);
        (cut, restored, readyz_down, burst_answered)
    };
    let (ws, (cut, restored, readyz_down, burst_answered)) = tokio::join!(ws, outage);
    rest.await.expect("the REST writer does not panic");
    ws.close().await;

    let (status, report) = readiness(&app).await;
    assert_eq!(status, 200, "/readyz after the outage: {report}");
    assert_eq!(report, json!({"status": "ok", "checks": {"database": "ok", "broker": "ok", "writers": "ok"}}));

    // Gapless seqs, no duplicate, every acknowledged message kept with its seq. A write
    // answered 503 may still have been committed (the connection died after COMMIT went
    // out), so the history may hold more than was acknowledged, never less.
    let history = whole_history(&app, &alice, &room_id).await;
    let seqs: Vec<i64> = history.iter().map(seq_of).collect();
    let last_seq = app.last_seq(&alice, &room_id).await;
    assert_eq!(seqs, (1..=last_seq).collect::<Vec<_>>(), "the room's seqs after the outage");
    let (rest_writes, ws_writes) = (rest_log.writes(), ws_log.writes());
    for write in rest_writes.iter().chain(&ws_writes) {
        if let Outcome::Stored { id, seq } = &write.outcome {
            let kept = history.iter().find(|m| m["id"] == id.as_str());
            assert_eq!(kept.map(seq_of), Some(*seq), "acknowledged message {id} (seq {seq}) in the history");
        }
    }
    // The subscription survived: every seq reached the watcher once, in order.
    let events = watcher.room_events_until(&room_id, last_seq).await;
    let delivered: Vec<i64> = events.iter().map(seq_of).collect();
    assert_eq!(delivered, seqs, "the events the watcher's socket delivered");

    println!(
        "database outage (acquire timeout {} ms): REST 503s: {}; WebSocket `unavailable`s: {}; \
         {BURST} sends at once all answered in {burst_answered:?}; /readyz 503 in {readyz_down:?}; \
         after restore, first REST post stored in {:?}, first WebSocket send in {:?}",
        app.config.database.acquire_timeout_ms,
        unavailable_latencies(&rest_writes, cut, restored),
        unavailable_latencies(&ws_writes, cut, restored),
        first_stored_after(&rest_writes, restored).unwrap(),
        first_stored_after(&ws_writes, restored).unwrap(),
    );
}

/// A zero timeout would fail every request at once: refused at start, naming the setting.
#[tokio::test]
async fn an_acquire_timeout_of_zero_is_refused_at_start() {
    let data_dir = tempfile::tempdir().expect("a temporary data directory");
    let mut config = palaver::config::Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.path().to_path_buf(),
        jwt_secret: Some(JWT_SECRET.into()),
        ..Default::default()
    };
    config.database.acquire_timeout_ms = 0;
    let Err(e) = palaver::app::Application::build(config).await else { panic!("the app started") };
    assert!(format!("{e:#}").contains("acquire_timeout_ms"), "{e:#}");
}
