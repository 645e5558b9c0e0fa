//! One write budget per user (posts, edits, deletes), shared by REST and the WebSocket:
//! past it, REST answers 429 with `Retry-After` and stores nothing, and a WebSocket `send`
//! gets an `error` frame with code `rate_limited` on a socket that stays open.

use serde_json::json;

use crate::helpers::{TestApp, TestUser, id_of, type_of};

both_backends!(
    rest_writes_past_the_budget_are_refused_with_429 with tiny_budget,
    the_websocket_spends_the_same_budget_as_rest with tiny_budget,
);

const BURST: usize = 5;

/// A burst of five writes and, for the length of a test, no refill (one write per 1000 s).
fn tiny_budget(config: &mut palaver::config::Config) {
    config.limits.writes_per_sec = 0.001;
    config.limits.write_burst = BURST as f64;
}

fn messages(room_id: &str) -> String {
    format!("/rooms/{room_id}/messages")
}

/// Asserts a 429 problem whose `Retry-After` is a whole number of seconds, at least 1.
#[track_caller]
fn assert_rate_limited(reply: &crate::helpers::Reply) {
    reply.expect_problem(429, Some("rate_limited"));
    let retry_after = reply.headers.get("retry-after").and_then(|v| v.to_str().ok()).unwrap_or("");
    let secs: u64 = retry_after.parse().unwrap_or_else(|_| panic!("{}: Retry-After {retry_after:?}", reply.what));
    assert!(secs >= 1, "{}: Retry-After {secs}", reply.what);
}

async fn stored(app: &TestApp, user: &TestUser, room_id: &str) -> usize {
    app.history(user, room_id, "").await["items"].as_array().expect("a page of items").len()
}

async fn rest_writes_past_the_budget_are_refused_with_429(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let mut posted = Vec::new();
    for i in 0..BURST {
        posted.push(app.post_message(&alice, &room_id, &format!("burst {i}")).await);
    }
    for i in 0..3 {
        let reply = app.post(&alice, &messages(&room_id), json!({"content": format!("over {i}")})).await;
        assert_rate_limited(&reply);
    }
    // Edits and deletes draw on the same budget.
    let first = format!("{}/{}", messages(&room_id), id_of(&posted[0]));
    assert_rate_limited(&app.patch(&alice, &first, json!({"content": "edited"})).await);
    assert_rate_limited(&app.delete(&alice, &first).await);

    assert_eq!(stored(&app, &alice, &room_id).await, BURST, "nothing past the budget was stored");
    assert_eq!(app.last_seq(&alice, &room_id).await, BURST as i64, "nor took a seq");
    let unchanged = app.history(&alice, &room_id, "").await;
    assert_eq!(unchanged["items"][0]["content"], "burst 0", "the refused edit changed nothing");
    // The budget is alice's, not the room's: bob still writes.
    app.post_message(&bob, &room_id, "my turn").await;
}

async fn the_websocket_spends_the_same_budget_as_rest(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    // alice spends hers over REST; her socket is then refused, and stays open.
    let mut alice1 = app.ws(&alice).await;
    for i in 0..BURST {
        app.post_message(&alice, &room_id, &format!("rest {i}")).await;
    }
    let reply = alice1.request(json!({"type": "send", "room_id": room_id, "content": "over"})).await;
    assert_eq!(type_of(&reply), "error", "a send past the budget: {reply}");
    assert_eq!(reply["code"], "rate_limited", "{reply}");
    alice1.assert_alive().await;

    // bob spends his over the WebSocket; REST is then refused.
    let mut bob1 = app.ws(&bob).await;
    for i in 0..BURST {
        let ack = bob1.request(json!({"type": "send", "room_id": room_id, "content": format!("ws {i}")})).await;
        assert_eq!(type_of(&ack), "ack", "send {i} within the budget: {ack}");
    }
    assert_rate_limited(&app.post(&bob, &messages(&room_id), json!({"content": "over"})).await);
    bob1.assert_alive().await;

    assert_eq!(stored(&app, &alice, &room_id).await, 2 * BURST, "only the writes within budget were stored");
}
