//! Presence: online from a user's first socket, offline a grace period after the last one
//! closed (a reconnect meanwhile is not seen), told to the user's own sessions and to the
//! sessions of everyone sharing a room with them, and nobody else.

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::helpers::{TestApp, TestUser, WsClient, assert_keys, assert_utc_time, type_of};

both_backends!(
    presence_follows_the_first_and_the_last_socket with short_grace,
    reconnecting_within_the_grace_period_does_not_flap with longer_grace,
    presence_goes_only_to_users_sharing_a_room with short_grace,
);

/// How long a presence that must not come is watched for. Presence is announced by a timer
/// (the grace period) or by another user's socket opening, not by anything the watching
/// socket sends, so a ping barrier cannot tell it will not come: the wait is bounded.
const QUIET: Duration = Duration::from_millis(500);

fn short_grace(config: &mut palaver::config::Config) {
    config.ws.presence_grace_ms = 300;
}

/// Long enough for a reconnect on a busy machine to fall well inside it.
fn longer_grace(config: &mut palaver::config::Config) {
    config.ws.presence_grace_ms = 1500;
}

fn is_presence(frame: &Value, user: &TestUser, online: bool) -> bool {
    type_of(frame) == "presence" && frame["user_id"] == user.id && frame["online"] == online
}

async fn expect_presence(client: &mut WsClient, user: &TestUser, online: bool) -> Value {
    let what = format!("presence of {} online={online}", user.username);
    let frame = client.next_matching(&what, |f| is_presence(f, user, online)).await;
    assert_keys(&frame, &["user_id", "online", "last_seen"]);
    frame
}

async fn assert_no_presence_of(client: &mut WsClient, user: &TestUser, duration: Duration) {
    let what = format!("presence of {}", user.username);
    let about = |f: &Value| type_of(f) == "presence" && f["user_id"] == user.id;
    client.assert_none_matching_for(duration, &what, about).await;
}

fn time_of(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().expect("a time string"), &Rfc3339).expect("an RFC 3339 time")
}

async fn presence_follows_the_first_and_the_last_socket(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    // bob has two sessions: one subscribed to the room, one not.
    let mut bob1 = app.ws(&bob).await.labelled("bob#1");
    let mut bob2 = app.ws(&bob).await.labelled("bob#2");
    bob2.subscribe(&room_id, None).await;
    expect_presence(&mut bob1, &bob, true).await;

    let before = app.get(&bob, &format!("/users/{}", alice.id)).await.expect_status(200);
    assert_eq!(before["online"], false, "{before}");

    let mut alice1 = app.ws(&alice).await;
    expect_presence(&mut alice1, &alice, true).await;
    for client in [&mut bob1, &mut bob2] {
        let online = expect_presence(client, &alice, true).await;
        assert!(online["last_seen"].is_null() || online["last_seen"].is_string(), "{online}");
    }
    let user = app.get(&bob, &format!("/users/{}", alice.id)).await.expect_status(200);
    assert_eq!(user["online"], true, "{user}");

    alice1.close().await;
    let mut offline_at = Vec::new();
    for client in [&mut bob1, &mut bob2] {
        let offline = expect_presence(client, &alice, false).await;
        assert_utc_time(&offline["last_seen"]);
        offline_at.push(time_of(&offline["last_seen"]));
    }
    let user = app.get(&bob, &format!("/users/{}", alice.id)).await.expect_status(200);
    assert_eq!(user["online"], false, "{user}");
    assert_utc_time(&user["last_seen"]);
    let stored = time_of(&user["last_seen"]);
    assert!(
        (stored - offline_at[0]).abs() < time::Duration::seconds(1),
        "the stored last_seen {stored} is the one announced {}",
        offline_at[0]
    );
    // alice's going offline was announced once.
    assert_no_presence_of(&mut bob1, &alice, QUIET).await;
}

async fn reconnecting_within_the_grace_period_does_not_flap(app: TestApp) {
    let (alice, bob, _room_id) = app.room_of_two().await;
    let mut bob1 = app.ws(&bob).await;
    let alice1 = app.ws(&alice).await.labelled("alice#1");
    expect_presence(&mut bob1, &alice, true).await;

    // The only socket closes and another opens at once; a third comes and goes meanwhile.
    alice1.close().await;
    let mut alice2 = app.ws(&alice).await.labelled("alice#2");
    let alice3 = app.ws(&alice).await.labelled("alice#3");
    alice3.close().await;
    alice2.assert_alive().await;

    // Watched for longer than the 1.5 s grace period: no offline, no second online.
    assert_no_presence_of(&mut bob1, &alice, Duration::from_millis(2500)).await;
    let user = app.get(&bob, &format!("/users/{}", alice.id)).await.expect_status(200);
    assert_eq!(user["online"], true, "{user}");

    // The last socket closing does make alice offline.
    alice2.close().await;
    let offline = expect_presence(&mut bob1, &alice, false).await;
    assert_utc_time(&offline["last_seen"]);
}

async fn presence_goes_only_to_users_sharing_a_room(app: TestApp) {
    let (alice, bob, _room_id) = app.room_of_two().await;
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;
    // carol has a room of her own, without alice; dave shares only a DM with alice.
    app.create_room(&carol, "elsewhere", "public").await;
    app.open_dm(&dave, &alice).await;

    let mut bob1 = app.ws(&bob).await;
    let mut carol1 = app.ws(&carol).await;
    let mut dave1 = app.ws(&dave).await;

    let alice1 = app.ws(&alice).await;
    expect_presence(&mut bob1, &alice, true).await;
    expect_presence(&mut dave1, &alice, true).await;
    alice1.close().await;
    expect_presence(&mut bob1, &alice, false).await;
    expect_presence(&mut dave1, &alice, false).await;

    // By now carol would have heard both, had they been sent to her.
    assert_no_presence_of(&mut carol1, &alice, QUIET).await;
}
