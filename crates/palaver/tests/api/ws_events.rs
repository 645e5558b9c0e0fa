//! WebSocket events: what each action (over REST or over the socket) pushes to whom.
//! The usual scene is two users and three sessions (alice ×2, bob ×1) subscribed to one
//! public room.
//! (Over 400 lines: one scenario per event of the protocol, sharing the scene below.)

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestUser, WsClient, assert_message, assert_room, assert_user, id_of, seqs_and_types, type_of,
};

both_backends!(
    room_events_reach_every_session_in_seq_order,
    send_is_acknowledged_after_the_message_is_stored,
    a_subscribed_senders_event_comes_before_its_ack,
    send_with_a_client_msg_id_is_stored_and_pushed_once,
    typing_reaches_the_rooms_subscribers,
    typing_ends_when_it_expires_or_the_socket_closes,
    read_marker_is_stored_and_pushed,
    notifications_reach_every_session_of_the_target,
    membership_changes_are_pushed,
    room_changes_are_pushed,
    unsubscribe_stops_the_rooms_events,
    subscribing_needs_membership,
    ping_is_answered_with_a_pong_and_its_id,
    frames_take_effect_in_the_order_sent,
    a_burst_of_sends_is_stored_and_answered_in_the_order_sent,
);

struct Scene {
    alice: TestUser,
    bob: TestUser,
    room_id: String,
    alice1: WsClient,
    alice2: WsClient,
    bob1: WsClient,
}

/// alice owns a public room bob has joined; alice has two sessions, bob one; all three
/// are subscribed.
async fn scene(app: &TestApp) -> Scene {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    app.join(&bob, &room_id).await;
    let mut alice1 = app.ws(&alice).await.labelled("alice#1");
    let mut alice2 = app.ws(&alice).await.labelled("alice#2");
    let mut bob1 = app.ws(&bob).await.labelled("bob#1");
    for client in [&mut alice1, &mut alice2, &mut bob1] {
        let subscribed = client.subscribe(&room_id, None).await;
        assert_eq!(subscribed["last_seq"], 0, "{subscribed}");
    }
    Scene { alice, bob, room_id, alice1, alice2, bob1 }
}

fn message_path(room_id: &str, message_id: &str) -> String {
    format!("/rooms/{room_id}/messages/{message_id}")
}

async fn room_events_reach_every_session_in_seq_order(app: TestApp) {
    let mut s = scene(&app).await;
    let room_id = s.room_id.clone();

    let first = app.post_message(&s.alice, &room_id, "first").await;
    let ack = s.bob1.request(json!({"type": "send", "id": "send-1", "room_id": room_id, "content": "second"})).await;
    assert_eq!(type_of(&ack), "ack", "{ack}");
    assert_eq!(ack["id"], "send-1", "{ack}");
    let second = ack["message"].clone();
    assert_message(&second);
    assert_eq!(second["seq"], 2, "{ack}");
    let edited =
        app.patch(&s.alice, &message_path(&room_id, &id_of(&first)), json!({"content": "first, edited"})).await;
    edited.expect_status(200);
    // alice owns the room, so she may delete bob's message.
    app.delete(&s.alice, &message_path(&room_id, &id_of(&second))).await.expect_status(204);

    for client in [&mut s.alice1, &mut s.alice2, &mut s.bob1] {
        let events = client.room_events_until(&room_id, 4).await;
        let expected = [(1, "message"), (2, "message"), (3, "message_updated"), (4, "message_deleted")];
        let expected: Vec<(i64, String)> = expected.iter().map(|(seq, t)| (*seq, t.to_string())).collect();
        assert_eq!(seqs_and_types(&events), expected, "{}: {events:?}", client.label);

        let posted = &events[0]["message"];
        assert_message(posted);
        assert_eq!((&posted["id"], &posted["seq"], &posted["content"]), (&first["id"], &json!(1), &json!("first")));
        assert_eq!(posted["author"]["id"], s.alice.id);
        assert_eq!(events[1]["message"]["id"], second["id"]);
        assert_eq!(events[1]["message"]["author"]["id"], s.bob.id);
        assert_eq!(events[1]["message"]["content"], "second");
        let updated = &events[2]["message"];
        assert_message(updated);
        assert_eq!(updated["id"], first["id"]);
        assert_eq!((&updated["seq"], &updated["updated_seq"]), (&json!(1), &json!(3)), "{updated}");
        assert_eq!(updated["content"], "first, edited");
        assert!(updated["edited_at"].is_string(), "{updated}");
        assert_eq!(events[3]["room_id"], room_id);
        assert_eq!(events[3]["message_id"], second["id"]);

        client.assert_no_room_events(&room_id).await;
    }
}

async fn send_is_acknowledged_after_the_message_is_stored(app: TestApp) {
    let mut s = scene(&app).await;
    let room_id = s.room_id.clone();

    let ack = s.bob1.request(json!({"type": "send", "id": 7, "room_id": room_id, "content": "hello"})).await;
    assert_eq!(type_of(&ack), "ack", "{ack}");
    assert_eq!(ack["id"], 7, "{ack}");
    let message = &ack["message"];
    assert_message(message);
    assert_eq!(message["room_id"], room_id);
    assert_eq!(message["author"]["id"], s.bob.id);
    assert_eq!(message["author"]["username"], "bob");
    assert_eq!(message["content"], "hello");
    assert_eq!(message["kind"], "text");

    // Stored by the time of the ack.
    let history = app.history(&s.alice, &room_id, "").await;
    assert_eq!(history["items"], json!([message]), "history right after the ack");

    // The sender's session also gets the event, as does everyone subscribed.
    for client in [&mut s.alice1, &mut s.alice2, &mut s.bob1] {
        let event = client.next_of_type("message").await;
        assert_eq!(event["seq"], message["seq"], "{}: {event}", client.label);
        assert_eq!(&event["message"], message, "{}: the pushed message is the acknowledged one", client.label);
    }
}

/// The order docs/protocol.md shows: the event is published once the message is committed,
/// the ack written when the send's answer reaches the socket's reader.
async fn a_subscribed_senders_event_comes_before_its_ack(app: TestApp) {
    let mut s = scene(&app).await;
    let room_id = s.room_id.clone();
    s.bob1.barrier().await;
    s.bob1.take_kept();

    for n in 0..5 {
        let id = format!("order-{n}");
        s.bob1.send(json!({"type": "send", "id": id, "room_id": room_id, "content": format!("in order {n}")})).await;
        let frames = s.bob1.collect_until(|f| f["id"] == id.as_str()).await;
        // Presence and the like may come between; the room's event and the ack are what count.
        let frames: Vec<Value> = frames.into_iter().filter(|f| ["message", "ack"].contains(&type_of(f))).collect();
        let kinds: Vec<&str> = frames.iter().map(type_of).collect();
        assert_eq!(kinds, ["message", "ack"], "send {n}: {frames:?}");
        assert_eq!(frames[0]["message"], frames[1]["message"], "the event is the acknowledged message");
    }
}

async fn send_with_a_client_msg_id_is_stored_and_pushed_once(app: TestApp) {
    let mut s = scene(&app).await;
    let room_id = s.room_id.clone();
    let frame = json!({"type": "send", "room_id": room_id, "content": "once", "client_msg_id": "c-1"});

    let first = s.bob1.request(frame.clone()).await;
    let again = s.bob1.request(frame).await;
    assert_eq!(type_of(&first), "ack", "{first}");
    assert_eq!(type_of(&again), "ack", "{again}");
    assert_eq!(first["message"], again["message"], "a retry returns the same message");
    assert_eq!(first["message"]["client_msg_id"], "c-1");

    app.post_message(&s.alice, &room_id, "next").await;
    for client in [&mut s.alice1, &mut s.alice2, &mut s.bob1] {
        let events = client.room_events_until(&room_id, 2).await;
        assert_eq!(
            seqs_and_types(&events),
            vec![(1, "message".to_owned()), (2, "message".to_owned())],
            "{}: {events:?}",
            client.label
        );
    }
    assert_eq!(app.last_seq(&s.alice, &room_id).await, 2);
}

fn is_typing(frame: &Value, room_id: &str, user: &TestUser, active: bool) -> bool {
    type_of(frame) == "typing"
        && frame["room_id"] == room_id
        && frame["user"]["id"] == user.id
        && frame["active"] == active
}

async fn expect_typing(client: &mut WsClient, room_id: &str, user: &TestUser, active: bool) -> Value {
    let what = format!("typing {active} of {} in {room_id}", user.username);
    client.next_matching(&what, |f| is_typing(f, room_id, user, active)).await
}

async fn typing_reaches_the_rooms_subscribers(app: TestApp) {
    let mut s = scene(&app).await;
    let room_id = s.room_id.clone();

    s.alice1.send(json!({"type": "typing", "room_id": room_id, "active": true})).await;
    for client in [&mut s.bob1, &mut s.alice2, &mut s.alice1] {
        let typing = expect_typing(client, &room_id, &s.alice, true).await;
        assert_eq!(typing["user"], json!({"id": s.alice.id, "username": "alice"}), "{typing}");
    }
    s.alice1.send(json!({"type": "typing", "room_id": room_id, "active": false})).await;
    for client in [&mut s.bob1, &mut s.alice2] {
        expect_typing(client, &room_id, &s.alice, false).await;
    }

    // Someone outside the room hears nothing of it.
    let carol = app.register("carol").await;
    let mut carol1 = app.ws(&carol).await;
    s.bob1.send(json!({"type": "typing", "room_id": room_id, "active": true})).await;
    expect_typing(&mut s.alice1, &room_id, &s.bob, true).await;
    // Once bob's socket has answered a later ping, his typing frame has been handled and
    // published; carol's own barrier then shows whether it reached her.
    s.bob1.barrier().await;
    carol1.assert_none_matching("typing", |f| type_of(f) == "typing").await;
}

async fn typing_ends_when_it_expires_or_the_socket_closes(app: TestApp) {
    let mut s = scene(&app).await;
    let room_id = s.room_id.clone();

    // Not renewed: active false within the 6 s expiry (given 10 s).
    s.alice1.send(json!({"type": "typing", "room_id": room_id, "active": true})).await;
    expect_typing(&mut s.bob1, &room_id, &s.alice, true).await;
    let what = "typing false after the expiry";
    s.bob1.next_matching_within(Duration::from_secs(10), what, |f| is_typing(f, &room_id, &s.alice, false)).await;

    // The socket closes while typing: active false at once (well before the 6 s expiry).
    s.bob1.send(json!({"type": "typing", "room_id": room_id, "active": true})).await;
    expect_typing(&mut s.alice2, &room_id, &s.bob, true).await;
    s.bob1.close().await;
    let what = "typing false when the socket closed";
    s.alice2.next_matching_within(Duration::from_secs(3), what, |f| is_typing(f, &room_id, &s.bob, false)).await;
}

async fn read_marker_is_stored_and_pushed(app: TestApp) {
    let mut s = scene(&app).await;
    let room_id = s.room_id.clone();
    app.post_message(&s.alice, &room_id, "one").await;
    app.post_message(&s.alice, &room_id, "two").await;

    s.bob1.send(json!({"type": "read", "room_id": room_id, "seq": 2})).await;
    for client in [&mut s.alice1, &mut s.alice2, &mut s.bob1] {
        let read = client.next_of_type("read").await;
        assert_eq!(
            read,
            json!({"type": "read", "room_id": room_id, "user_id": s.bob.id, "seq": 2}),
            "{}",
            client.label
        );
    }
    let members = app.members(&s.alice, &room_id).await;
    let bob = members.iter().find(|m| m["user"]["id"] == s.bob.id).expect("bob is a member");
    assert_eq!(bob["last_read_seq"], 2, "{bob}");
    assert_eq!(app.room(&s.bob, &room_id).await["unread_count"], 0);
}

fn is_notification(frame: &Value, kind: &str, room_id: &str) -> bool {
    type_of(frame) == "notification"
        && frame["notification"]["kind"] == kind
        && frame["notification"]["room_id"] == room_id
}

async fn notifications_reach_every_session_of_the_target(app: TestApp) {
    let mut s = scene(&app).await;
    let room_id = s.room_id.clone();
    // A second session of bob, subscribed to nothing.
    let mut bob2 = app.ws(&s.bob).await.labelled("bob#2");

    let message = app.post_message(&s.alice, &room_id, "hello @bob").await;
    for client in [&mut s.bob1, &mut bob2] {
        let frame = client.next_matching("a mention", |f| is_notification(f, "mention", &room_id)).await;
        let notification = &frame["notification"];
        assert_eq!(notification["message_id"], message["id"], "{frame}");
        assert_eq!(notification["actor"]["id"], s.alice.id, "{frame}");
        assert_eq!(notification["actor"]["username"], "alice", "{frame}");
        assert!(notification["id"].is_string() && notification["read_at"].is_null(), "{frame}");
    }
    // Only the mentioned user is notified.
    for client in [&mut s.alice1, &mut s.alice2] {
        client.assert_none_matching("notification", |f| type_of(f) == "notification").await;
    }

    let dm_id = id_of(&app.open_dm(&s.alice, &s.bob).await);
    let dm_message = app.post_message(&s.alice, &dm_id, "psst").await;
    for client in [&mut s.bob1, &mut bob2] {
        let frame = client.next_matching("a dm notification", |f| is_notification(f, "dm", &dm_id)).await;
        assert_eq!(frame["notification"]["message_id"], dm_message["id"], "{frame}");
    }

    let private_id = id_of(&app.create_room(&s.alice, "secret", "private").await);
    app.add_member(&s.alice, &private_id, &s.bob).await;
    for client in [&mut s.bob1, &mut bob2] {
        let frame = client.next_matching("an invite", |f| is_notification(f, "invite", &private_id)).await;
        assert_eq!(frame["notification"]["actor"]["id"], s.alice.id, "{frame}");
        let joined = client
            .next_matching("member_joined of the invite", |f| {
                type_of(f) == "member_joined" && f["room_id"] == private_id.as_str()
            })
            .await;
        assert_eq!(joined["user"]["id"], s.bob.id, "{joined}");
    }
}

fn is_membership(frame: &Value, kind: &str, room_id: &str, user: &TestUser) -> bool {
    type_of(frame) == kind && frame["room_id"] == room_id && frame["user"]["id"] == user.id
}

async fn membership_changes_are_pushed(app: TestApp) {
    let mut s = scene(&app).await;
    let room_id = s.room_id.clone();
    let carol = app.register("carol").await;
    let mut carol1 = app.ws(&carol).await;

    app.join(&carol, &room_id).await;
    for client in [&mut s.alice1, &mut s.alice2, &mut s.bob1, &mut carol1] {
        let joined = client
            .next_matching("carol's member_joined", |f| is_membership(f, "member_joined", &room_id, &carol))
            .await;
        assert_user(&joined["user"], false);
        assert_eq!(joined["user"]["username"], "carol", "{joined}");
    }

    carol1.subscribe(&room_id, None).await;
    app.post_message(&s.bob, &room_id, "welcome").await;
    assert_eq!(carol1.next_of_type("message").await["seq"], 1);

    app.post(&carol, &format!("/rooms/{room_id}/leave"), json!({})).await.expect_status(204);
    for client in [&mut s.alice1, &mut s.alice2, &mut s.bob1, &mut carol1] {
        let left =
            client.next_matching("carol's member_left", |f| is_membership(f, "member_left", &room_id, &carol)).await;
        assert_eq!(left["user"]["username"], "carol", "{left}");
    }

    // After leaving, carol hears nothing more of the room.
    app.post_message(&s.bob, &room_id, "bye").await;
    s.alice1.room_events_until(&room_id, 2).await;
    carol1.assert_no_room_events(&room_id).await;
    s.bob1.send(json!({"type": "typing", "room_id": room_id, "active": true})).await;
    expect_typing(&mut s.alice1, &room_id, &s.bob, true).await;
    // Once bob's socket has answered a later ping, his typing frame has been handled and
    // published; carol's own barrier then shows whether it reached her.
    s.bob1.barrier().await;
    carol1.assert_none_matching("typing", |f| type_of(f) == "typing").await;
}

async fn room_changes_are_pushed(app: TestApp) {
    let mut s = scene(&app).await;
    let room_id = s.room_id.clone();

    let body = json!({"name": "renamed", "description": "new words"});
    app.patch(&s.alice, &format!("/rooms/{room_id}"), body).await.expect_status(200);
    for client in [&mut s.alice1, &mut s.alice2, &mut s.bob1] {
        let updated = client.next_of_type("room_updated").await;
        let room = &updated["room"];
        assert_room(room);
        assert_eq!(room["id"], room_id, "{updated}");
        assert_eq!(room["name"], "renamed", "{updated}");
        assert_eq!(room["description"], "new words", "{updated}");
        assert!(room["unread_count"].is_null(), "unread_count is per caller, so null: {updated}");
        assert!(room["my_role"].is_null(), "my_role is per caller, so null: {updated}");
    }

    app.delete(&s.alice, &format!("/rooms/{room_id}")).await.expect_status(204);
    for client in [&mut s.alice1, &mut s.alice2, &mut s.bob1] {
        let deleted = client.next_of_type("room_deleted").await;
        assert_eq!(deleted, json!({"type": "room_deleted", "room_id": room_id}), "{}", client.label);
    }
}

async fn unsubscribe_stops_the_rooms_events(app: TestApp) {
    let mut s = scene(&app).await;
    let room_id = s.room_id.clone();

    let reply = s.alice1.request(json!({"type": "unsubscribe", "id": "u", "room_id": room_id})).await;
    assert_eq!(reply, json!({"type": "unsubscribed", "id": "u", "room_id": room_id}));
    app.post_message(&s.bob, &room_id, "anyone?").await;
    s.alice2.room_events_until(&room_id, 1).await;
    s.alice1.assert_no_room_events(&room_id).await;

    // Subscribing again (with since_seq) brings back what was missed, then live events.
    s.alice1.subscribe(&room_id, Some(0)).await;
    app.post_message(&s.bob, &room_id, "again").await;
    let events = s.alice1.room_events_until(&room_id, 2).await;
    assert_eq!(seqs_and_types(&events), vec![(1, "message".to_owned()), (2, "message".to_owned())]);
}

async fn subscribing_needs_membership(app: TestApp) {
    let alice = app.register("alice").await;
    let dave = app.register("dave").await;
    let public_id = id_of(&app.create_room(&alice, "open", "public").await);
    let private_id = id_of(&app.create_room(&alice, "closed", "private").await);
    let mut dave1 = app.ws(&dave).await;

    let cases = [(&public_id, "forbidden"), (&private_id, "not_found")];
    for (room_id, code) in cases {
        let reply = dave1.request(json!({"type": "subscribe", "id": "s", "room_id": room_id, "since_seq": 0})).await;
        assert_eq!(type_of(&reply), "error", "{reply}");
        assert_eq!(reply["code"], code, "{reply}");
        assert!(reply["message"].as_str().is_some_and(|m| !m.is_empty()), "{reply}");
    }
    let unknown = uuid::Uuid::now_v7().to_string();
    let reply = dave1.request(json!({"type": "subscribe", "id": "s", "room_id": unknown})).await;
    assert_eq!((type_of(&reply), &reply["code"]), ("error", &json!("not_found")), "{reply}");

    // Nothing of those rooms reaches dave afterwards.
    let mut alice1 = app.ws(&alice).await;
    alice1.subscribe(&public_id, None).await;
    alice1.subscribe(&private_id, None).await;
    app.post_message(&alice, &public_id, "public news").await;
    app.post_message(&alice, &private_id, "private news").await;
    alice1.room_events_until(&public_id, 1).await;
    alice1.room_events_until(&private_id, 1).await;
    for room_id in [&public_id, &private_id] {
        dave1.assert_no_room_events(room_id).await;
    }
    dave1.assert_alive().await;
}

async fn ping_is_answered_with_a_pong_and_its_id(app: TestApp) {
    let alice = app.register("alice").await;
    let mut client = app.ws(&alice).await;
    assert_eq!(client.request(json!({"type": "ping", "id": "p-1"})).await, json!({"type": "pong", "id": "p-1"}));
    assert_eq!(client.request(json!({"type": "ping", "id": 12})).await, json!({"type": "pong", "id": 12}));
    client.send(json!({"type": "ping"})).await;
    let pong = client.next_of_type("pong").await;
    assert_eq!(pong, json!({"type": "pong"}), "a ping without an id gets a pong without one");
}

/// `subscribe` then `send` (or `typing`) sent together, without waiting for the replies:
/// the subscription is in place when the next frame acts, so the client gets its own
/// `message` (and `typing`) event, and `last_seq` is the seq before the message. The socket
/// first resumes another room with a backlog of about 4 MB, over a small receive buffer, so
/// the server is still writing that replay when the frames arrive: a server that handles the
/// `send` without waiting for the subscription then gets it wrong every time, not only when
/// the timing is unlucky.
async fn frames_take_effect_in_the_order_sent(app: TestApp) {
    const BACKLOG: i64 = 1000;
    let (alice, bob, room_id) = app.room_of_two().await;
    let backlog_id = id_of(&app.create_room(&bob, "backlog", "public").await);
    app.join(&alice, &backlog_id).await;
    let filler = crate::helpers::long_string(3900);
    for i in 1..=BACKLOG {
        app.post_message(&bob, &backlog_id, &format!("{i} {filler}")).await;
    }
    for round in 1..=2 {
        let mut client = app.ws_with_recv_buffer(&alice, 4096).await.labelled(&format!("alice (round {round})"));
        client.send(json!({"type": "subscribe", "id": "backlog", "room_id": backlog_id, "since_seq": 0})).await;
        client.send(json!({"type": "subscribe", "id": "sub", "room_id": room_id})).await;
        client.send(json!({"type": "send", "id": "post", "room_id": room_id, "content": format!("{round}")})).await;
        client.send(json!({"type": "typing", "room_id": room_id, "active": true})).await;
        let subscribed = client.next_matching("the `subscribed` reply", |f| f["id"] == "sub").await;
        let ack = client.next_matching("the `ack`", |f| f["id"] == "post").await;
        assert_eq!(type_of(&ack), "ack", "{ack}");
        let seq = ack["message"]["seq"].as_i64().expect("an acked message has a seq");
        assert_eq!(subscribed["last_seq"], seq - 1, "subscribed before the send was handled: {subscribed}");
        let what = "the message's event";
        let event = client.next_matching(what, |f| type_of(f) == "message" && f["message"]["room_id"] == room_id).await;
        assert_eq!(event["seq"], seq, "{event}");
        expect_typing(&mut client, &room_id, &alice, true).await;
        let replayed = client.room_events_until(&backlog_id, BACKLOG).await;
        assert_eq!(replayed.len() as i64, BACKLOG, "the backlog was replayed whole");
        client.close().await;
    }
}

/// Sends are pipelined (the next is read while the earlier ones are stored): a burst written
/// without waiting is stored in the order sent, every frame is answered in that order (a
/// refused send in its turn, a send to another room after the earlier ones), and a frame of
/// another kind is answered after the sends before it.
async fn a_burst_of_sends_is_stored_and_answered_in_the_order_sent(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let other_id = id_of(&app.create_room(&bob, "other", "public").await);
    app.join(&alice, &other_id).await;
    let mut client = app.ws(&alice).await.labelled("alice");
    // (frame id, room, content); an empty content is refused.
    let mut burst: Vec<(String, &str, String)> = Vec::new();
    for i in 0..30 {
        burst.push((format!("a{i}"), room_id.as_str(), format!("first {i}")));
    }
    burst.push(("bad".into(), room_id.as_str(), String::new()));
    burst.push(("b0".into(), other_id.as_str(), "elsewhere".into()));
    for i in 30..38 {
        burst.push((format!("a{i}"), room_id.as_str(), format!("then {i}")));
    }
    for (id, room, content) in &burst {
        client.send(json!({"type": "send", "id": id, "room_id": room, "content": content})).await;
        if id == "a9" {
            // Not a client frame: its error, too, comes after the acks before it.
            client.send(json!({"type": "no such frame", "id": "junk"})).await;
        }
    }
    client.send(json!({"type": "ping", "id": "last"})).await;

    let replies = client.collect_until(|f| f["id"] == "last").await;
    let answered: Vec<&Value> = replies.iter().filter(|f| f.get("id").is_some()).collect();
    let ids: Vec<&str> = answered.iter().map(|f| f["id"].as_str().unwrap_or("?")).collect();
    let mut expected: Vec<&str> = Vec::new();
    for (id, _, _) in &burst {
        expected.push(id);
        if id == "a9" {
            expected.push("junk");
        }
    }
    expected.push("last");
    assert_eq!(ids, expected, "every frame is answered, in the order sent");
    let (junk, replies): (Vec<&Value>, Vec<&Value>) = answered.into_iter().partition(|f| f["id"] == "junk");
    assert_eq!(junk[0]["code"], "bad_frame", "{}", junk[0]);
    for (reply, (id, room, content)) in replies.iter().zip(&burst) {
        if content.is_empty() {
            assert_eq!(type_of(reply), "error", "{reply}");
            continue;
        }
        assert_eq!(type_of(reply), "ack", "{id}: {reply}");
        assert_eq!(reply["message"]["room_id"], *room, "{reply}");
        assert_eq!(reply["message"]["content"], *content, "{reply}");
    }
    assert_eq!(type_of(replies[replies.len() - 1]), "pong");

    let seqs: Vec<i64> = replies
        .iter()
        .filter(|f| type_of(f) == "ack" && f["message"]["room_id"] == room_id)
        .map(|f| f["message"]["seq"].as_i64().expect("an acked message has a seq"))
        .collect();
    assert_eq!(seqs, (1..=38).collect::<Vec<i64>>(), "seqs follow the order sent, with no gap");
    let history = app.history(&bob, &room_id, "?limit=100").await;
    let stored: Vec<&str> =
        history["items"].as_array().expect("items").iter().filter_map(|m| m["content"].as_str()).collect();
    let sent: Vec<&str> = burst
        .iter()
        .filter(|(_, room, content)| *room == room_id && !content.is_empty())
        .map(|(_, _, c)| c.as_str())
        .collect();
    assert_eq!(stored, sent, "stored in the order sent");
}
