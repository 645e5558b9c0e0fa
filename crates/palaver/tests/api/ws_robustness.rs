//! What the server does with bad, oversized, too many and unread frames, and with its own
//! shutdown: a bad frame gets an `error` and the socket lives on; flooding closes with 1008,
//! an oversized frame with 1009, a slow consumer with 1013, a shutdown with 1001, text that
//! is not UTF-8 with 1007 and a WebSocket protocol violation with 1002.

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{TestApp, TestUser, WsClient, id_of, long_string, room_events, seq_of, type_of};

both_backends!(
    malformed_frames_get_bad_frame_and_the_socket_stays_usable,
    unknown_types_and_bad_fields_get_bad_frame_with_their_id,
    failing_frames_get_an_error_with_their_id,
    oversized_frame_closes_with_1009 with small_frames,
    flooding_closes_with_1008 with low_rate_limit,
    slow_consumer_is_closed_with_1013 with small_outbox,
    server_shutdown_closes_sockets_with_1001,
    a_removed_member_can_no_longer_send,
    invalid_utf8_closes_with_1007,
    protocol_violations_close_with_1002,
    a_frame_type_must_be_a_string,
    a_removal_racing_the_first_send_still_stops_the_socket,
);

fn small_frames(config: &mut palaver::config::Config) {
    config.ws.max_frame_bytes = 4096;
}

fn low_rate_limit(config: &mut palaver::config::Config) {
    config.ws.rate_burst = 5.0;
    config.ws.rate_per_sec = 1.0;
}

fn small_outbox(config: &mut palaver::config::Config) {
    config.ws.outbox_frames = 8;
    // The slow client reads its close frame only once all 1500 posts are in, which takes
    // far longer than the default 10 s on a loaded machine: it must still find it there.
    config.ws.slow_close_secs = 300;
}

/// The next `error` frame, checked for shape and `code`.
#[track_caller]
fn assert_error(frame: &Value, code: &str) {
    assert_eq!(type_of(frame), "error", "expected an error frame, got {frame}");
    assert_eq!(frame["code"], code, "{frame}");
    assert!(frame["message"].as_str().is_some_and(|m| !m.is_empty()), "an error without a message: {frame}");
}

async fn expect_error_without_id(client: &mut WsClient, code: &str, after: &str) {
    let error = client.next_of_type("error").await;
    assert_error(&error, code);
    assert!(error.get("id").is_none(), "after {after}: an error with an id, though the frame had none: {error}");
}

async fn malformed_frames_get_bad_frame_and_the_socket_stays_usable(app: TestApp) {
    let alice = app.register("alice").await;
    let mut client = app.ws(&alice).await;

    for text in ["{not json", r#"{"type":"ping","id":"cut"#, "[1,2,3]", r#""a string""#, "{}", ""] {
        client.send_text(text).await;
        expect_error_without_id(&mut client, "bad_frame", &format!("{text:?}")).await;
        client.assert_alive().await;
    }
    client.send_message(Message::binary(vec![0u8, 159, 146, 150])).await.expect("a binary frame is sent");
    expect_error_without_id(&mut client, "bad_frame", "a binary frame").await;
    client.assert_alive().await;
}

async fn unknown_types_and_bad_fields_get_bad_frame_with_their_id(app: TestApp) {
    let alice = app.register("alice").await;
    let mut client = app.ws(&alice).await;

    let frames = [
        json!({"type": "dance", "id": "d-1"}),
        json!({"id": "no-type"}),
        json!({"type": "subscribe", "id": "s-1"}),
        json!({"type": "subscribe", "id": 9, "room_id": "not-a-uuid"}),
        json!({"type": "typing", "id": "t-1", "room_id": uuid::Uuid::now_v7(), "active": "yes"}),
        json!({"type": "read", "id": "r-1", "room_id": uuid::Uuid::now_v7(), "seq": "three"}),
    ];
    for frame in frames {
        let reply = client.request(frame.clone()).await;
        assert_error(&reply, "bad_frame");
        assert_eq!(reply["id"], frame["id"], "{reply}");
    }
    client.assert_alive().await;
}

async fn failing_frames_get_an_error_with_their_id(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let private_id = id_of(&app.create_room(&bob, "bob's", "private").await);
    let public_id = id_of(&app.create_room(&bob, "bob's public", "public").await);
    let own_id = id_of(&app.create_room(&alice, "alice's", "public").await);
    let mut client = app.ws(&alice).await;

    let cases = [
        (json!({"type": "send", "id": "x-1", "room_id": private_id, "content": "hi"}), "not_found"),
        (json!({"type": "send", "id": "x-2", "room_id": public_id, "content": "hi"}), "forbidden"),
        (json!({"type": "send", "id": "x-3", "room_id": uuid::Uuid::now_v7(), "content": "hi"}), "not_found"),
        (json!({"type": "send", "id": "x-4", "room_id": own_id, "content": "   "}), "validation_failed"),
        (json!({"type": "send", "id": "x-5", "room_id": own_id, "content": long_string(4001)}), "validation_failed"),
        (json!({"type": "typing", "id": "x-6", "room_id": private_id, "active": true}), "not_found"),
        (json!({"type": "read", "id": "x-7", "room_id": private_id, "seq": 1}), "not_found"),
        (json!({"type": "read", "id": "x-8", "room_id": own_id, "seq": -1}), "validation_failed"),
    ];
    for (frame, code) in cases {
        let reply = client.request(frame.clone()).await;
        assert_error(&reply, code);
        assert_eq!(reply["id"], frame["id"], "{reply}");
    }
    client.assert_alive().await;
    assert_eq!(app.last_seq(&bob, &private_id).await, 0, "nothing was posted");
    assert_eq!(app.last_seq(&bob, &public_id).await, 0, "nothing was posted");
    assert_eq!(app.last_seq(&alice, &own_id).await, 0, "nothing was posted");
}

async fn oversized_frame_closes_with_1009(app: TestApp) {
    let alice = app.register("alice").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    let mut client = app.ws(&alice).await;

    // Under the 4096-byte limit: served.
    let reply = client.request(json!({"type": "send", "room_id": room_id, "content": long_string(3000)})).await;
    assert_eq!(type_of(&reply), "ack", "{reply}");

    let frame = json!({"type": "send", "room_id": room_id, "content": long_string(5000)}).to_string();
    assert!(frame.len() > 4096);
    client.send_text(frame).await;
    client.expect_close(1009).await;

    assert_eq!(app.last_seq(&alice, &room_id).await, 1, "the oversized message was not stored");
    app.ws(&alice).await.assert_alive().await;
}

async fn flooding_closes_with_1008(app: TestApp) {
    let alice = app.register("alice").await;
    let mut client = app.ws(&alice).await;

    for i in 0..20 {
        // Once the server has closed, later sends may fail: that is the point.
        if client.send_message(Message::text(json!({"type": "ping", "id": i}).to_string())).await.is_err() {
            break;
        }
    }
    let (frames, code, ended) = client.frames_until_close().await;
    assert_eq!(code, Some(1008), "closed with {code:?} ({ended:?}); frames before: {frames:?}");
    let pongs = frames.iter().filter(|f| type_of(f) == "pong").count();
    assert!(pongs < 20, "every one of 20 pings was answered before the close: {frames:?}");

    // The limit is per socket: a new one is served.
    app.ws(&alice).await.assert_alive().await;
}

async fn slow_consumer_is_closed_with_1013(app: TestApp) {
    // What a client that stops reading can hold back is its receive buffer (4 KiB here)
    // plus the server's send buffer, which Linux grows to about 2.5 MiB on loopback (at most
    // `net.ipv4.tcp_wmem`, 4 MiB by default), plus the server's WebSocket write buffer. So
    // well over 4 MiB is posted: 1500 messages of about 4 KiB.
    const POSTS: i64 = 1500;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let room_id = id_of(&app.create_room(&bob, "busy", "public").await);
    app.join(&alice, &room_id).await;
    app.join(&carol, &room_id).await;

    let mut slow = app.ws_with_recv_buffer(&alice, 4096).await.labelled("alice (slow)");
    slow.subscribe(&room_id, None).await;
    let mut carol1 = app.ws(&carol).await;
    carol1.subscribe(&room_id, None).await;

    // alice stops reading; carol reads all along.
    let filler = long_string(3900);
    let poster = async {
        for i in 1..=POSTS {
            app.post_message(&bob, &room_id, &format!("{i} {filler}")).await;
        }
    };
    let ((), carol_events) = tokio::join!(poster, carol1.room_events_until(&room_id, POSTS));
    let carol_seqs: Vec<i64> = carol_events.iter().map(seq_of).collect();
    assert_eq!(carol_seqs, (1..=POSTS).collect::<Vec<_>>(), "the reading subscriber gets every message");

    let (frames, code, ended) = slow.frames_until_close().await;
    let alice_seqs: Vec<i64> = room_events(&frames, &room_id).iter().map(seq_of).collect();
    assert_eq!(
        code,
        Some(1013),
        "the slow client closed with {code:?} ({ended:?}) after {} of {POSTS} messages",
        alice_seqs.len()
    );
    let received = alice_seqs.len() as i64;
    assert!(received < POSTS, "a client cut off as slow did not get everything");
    assert_eq!(alice_seqs, (1..=received).collect::<Vec<_>>(), "what the slow client got is in order, with no gap");

    // The server still serves, and alice resumes by seq.
    let mut again = app.ws(&alice).await.labelled("alice (resumed)");
    again.subscribe(&room_id, Some(received)).await;
    let rest: Vec<i64> = again.room_events_until(&room_id, POSTS).await.iter().map(seq_of).collect();
    assert_eq!(rest, (received + 1..=POSTS).collect::<Vec<_>>());
    carol1.assert_alive().await;
}

async fn connect_subscribed(app: &TestApp, user: &TestUser, room_id: &str) -> WsClient {
    let mut client = app.ws(user).await;
    client.subscribe(room_id, None).await;
    client
}

async fn server_shutdown_closes_sockets_with_1001(mut app: TestApp) {
    let alice = app.register("alice").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    let mut subscribed = connect_subscribed(&app, &alice, &room_id).await;
    let mut idle = app.ws(&alice).await.labelled("alice (idle)");
    idle.assert_alive().await;

    app.restart().await;
    subscribed.expect_close(1001).await;
    idle.expect_close(1001).await;

    // The restarted server serves sockets with the same token.
    let mut client = connect_subscribed(&app, &alice, &room_id).await;
    app.post_message(&alice, &room_id, "after the restart").await;
    let events = client.room_events_until(&room_id, 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    client.assert_alive().await;
}

/// A socket remembers rooms it has sent to; leaving or being removed must end that.
async fn a_removed_member_can_no_longer_send(app: TestApp) {
    let alice = app.register("alice").await;
    let carol = app.register("carol").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    app.join(&carol, &room_id).await;
    let mut socket = app.ws(&carol).await;
    let send = |text: &str| json!({"type": "send", "room_id": room_id, "content": text});

    assert_eq!(type_of(&socket.request(send("first")).await), "ack");
    app.delete(&alice, &format!("/rooms/{room_id}/members/{}", carol.id)).await.expect_status(204);
    let refused = socket.request(send("after removal")).await;
    assert_eq!(type_of(&refused), "error", "{refused}");
    assert_eq!(refused["code"], "forbidden", "a public room not joined: {refused}");

    app.join(&carol, &room_id).await;
    assert_eq!(type_of(&socket.request(send("back again")).await), "ack");
    app.post(&carol, &format!("/rooms/{room_id}/leave"), json!({})).await.expect_status(204);
    let refused = socket.request(send("after leaving")).await;
    assert_eq!(type_of(&refused), "error", "{refused}");
    let history = app.history(&alice, &room_id, "").await;
    let messages = crate::helpers::items(&history);
    let contents: Vec<&str> = messages.iter().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(contents, ["first", "back again"]);
}

/// FIN and the text opcode: a whole text frame.
const TEXT: u8 = 0x81;

async fn invalid_utf8_closes_with_1007(app: TestApp) {
    let alice = app.register("alice").await;
    let mut client = app.ws(&alice).await;
    client.assert_alive().await;

    client.send_raw_frame(TEXT, true, &[b'"', 0xff, 0xfe, b'"']).await;
    client.expect_close(1007).await;
    app.ws(&alice).await.assert_alive().await;
}

async fn protocol_violations_close_with_1002(app: TestApp) {
    let alice = app.register("alice").await;
    let ping = br#"{"type":"ping"}"#;
    let cases: [(&str, u8, bool, &[u8]); 4] = [
        ("an unmasked frame", TEXT, false, ping),
        ("a reserved bit set (no extension was negotiated)", TEXT | 0x40, true, ping),
        ("an unknown data opcode", 0x83, true, ping),
        ("an unknown control opcode", 0x8b, true, b""),
    ];
    for (what, head, masked, payload) in cases {
        let mut client = app.ws(&alice).await.labelled(&format!("alice ({what})"));
        client.assert_alive().await;
        client.send_raw_frame(head, masked, payload).await;
        client.expect_close(1002).await;
    }
    app.ws(&alice).await.assert_alive().await;
}

/// serde reads a number where an internally tagged enum's tag goes as the variant's index:
/// `{"type": 2}` was `send`, `0` `subscribe`.
async fn a_frame_type_must_be_a_string(app: TestApp) {
    let alice = app.register("alice").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    let mut client = app.ws(&alice).await;

    let tags =
        [json!(2), json!(0), json!(5), json!(2.0), json!(true), json!(null), json!(["send"]), json!({"send": {}})];
    for (i, tag) in tags.into_iter().enumerate() {
        let frame = json!({"type": tag, "id": format!("tag-{i}"), "room_id": room_id, "content": "by index"});
        let reply = client.request(frame.clone()).await;
        assert_error(&reply, "bad_frame");
        assert_eq!(reply["id"], frame["id"], "{reply}");
    }
    client.assert_alive().await;
    assert_eq!(app.last_seq(&alice, &room_id).await, 0, "nothing was posted");
}

/// The first send to a room checks membership and the socket remembers the answer; a
/// removal whose `member_left` lands while that check is in flight must not be forgotten.
/// The two race on purpose, round after round: whichever wins, once the removal has been
/// answered the socket must refuse to post.
async fn a_removal_racing_the_first_send_still_stops_the_socket(app: TestApp) {
    let alice = app.register("alice").await;
    let carol = app.register("carol").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    let mut socket = app.ws(&carol).await;
    let removal = format!("/rooms/{room_id}/members/{}", carol.id);
    for round in 0..40 {
        app.join(&carol, &room_id).await;
        let first = json!({"type": "send", "id": format!("first-{round}"), "room_id": room_id, "content": "racing"});
        let (_, removed) = tokio::join!(socket.send(first), app.delete(&alice, &removal));
        removed.expect_status(204);
        let after = json!({"type": "send", "id": format!("after-{round}"), "room_id": room_id, "content": "late"});
        let refused = socket.request(after).await;
        assert_eq!(type_of(&refused), "error", "round {round}: posted after the removal was answered: {refused}");
        assert_eq!(refused["code"], "forbidden", "{refused}");
        let first = socket.next_matching("the racing send's reply", |f| f["id"] == format!("first-{round}")).await;
        assert!(["ack", "error"].contains(&type_of(&first)), "{first}");
    }
}
