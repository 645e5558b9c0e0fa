//! Bots and API tokens: a user makes a bot and gets its token once; the token works for
//! REST and the WebSocket like an access token and does not expire; rotating it or deleting
//! the bot refuses the old token from the next request on and closes its sockets with 1008
//! (on every instance); a bot cannot log in or make bots; its messages say `via: "bot"`.

use serde_json::{Value, json};

use crate::helpers::*;

both_backends!(
    a_bot_is_made_listed_and_shown_as_a_bot,
    a_token_works_for_rest_and_the_websocket,
    rotating_refuses_the_old_token_and_closes_its_sockets,
    deleting_a_bot_stops_its_token_and_keeps_its_messages,
    a_bot_cannot_log_in_or_make_bots,
    bot_usernames_share_the_users_namespace,
    only_the_owner_rotates_or_deletes_a_bot,
);

/// A bot of `owner` and its token.
async fn make_bot(app: &TestApp, owner: &TestUser, username: &str) -> (Value, String) {
    let made = app.post(owner, "/bots", json!({"username": username, "display_name": "CI"})).await.expect_status(201);
    assert_keys(&made, &["bot", "token"]);
    (made["bot"].clone(), str_of(&made["token"]))
}

async fn a_bot_is_made_listed_and_shown_as_a_bot(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let (bot, token) = make_bot(&app, &alice, "ci-bot").await;
    assert_user(&bot, false);
    assert_eq!((bot["username"].as_str(), bot["kind"].as_str()), (Some("ci-bot"), Some("bot")), "{bot}");
    assert!(token.starts_with("plv_") && token.len() > 40, "a long random token: {token}");

    let mine = app.get(&alice, "/bots").await.expect_status(200);
    assert_eq!(ids(&mine), vec![id_of(&bot)], "alice's bots");
    let theirs = app.get(&bob, "/bots").await.expect_status(200);
    assert!(items(&theirs).is_empty(), "bob made none: {theirs}");

    // Everyone else sees a bot as a bot; people stay people.
    let seen = app.get(&bob, &format!("/users/{}", id_of(&bot))).await.expect_status(200);
    assert_eq!(seen["kind"], "bot", "{seen}");
    let me = app.get(&alice, "/users/me").await.expect_status(200);
    assert_eq!(me["kind"], "user", "{me}");
    // The bot itself, with its token: no placeholder address shown as an email.
    let itself = app.get(&token, "/users/me").await.expect_status(200);
    assert_eq!((itself["id"].as_str(), itself["kind"].as_str()), (bot["id"].as_str(), Some("bot")), "{itself}");
    assert!(itself.get("email").is_none(), "a bot has no email: {itself}");
}

async fn a_token_works_for_rest_and_the_websocket(app: TestApp) {
    let alice = app.register("alice").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    let (bot, token) = make_bot(&app, &alice, "deploy-bot").await;

    // Joins and posts like a user.
    app.post(&token, &format!("/rooms/{room_id}/join"), json!({})).await.expect_status(200);
    let members = app.members(&alice, &room_id).await;
    let member = members.iter().find(|m| m["user"]["id"] == bot["id"]).expect("the bot is a member");
    assert_eq!(member["user"]["kind"], "bot", "{member}");
    let mut alice_ws = app.ws(&alice).await;
    alice_ws.subscribe(&room_id, None).await;
    let posted = app
        .post(&token, &format!("/rooms/{room_id}/messages"), json!({"content": "deployed v1.2"}))
        .await
        .expect_status(201);
    assert_message(&posted);
    assert_eq!((posted["via"].as_str(), posted["author"]["username"].as_str()), (Some("bot"), Some("deploy-bot")));
    let seen = alice_ws.next_of_type("message").await;
    assert_eq!(seen["message"]["via"], "bot", "{seen}");
    // A person's message says nothing of the kind.
    let own = app.post_message(&alice, &room_id, "thanks").await;
    assert!(own["via"].is_null(), "{own}");
    let page = app.history(&alice, &room_id, "").await;
    let vias: Vec<&Value> = items_ref(&page).iter().map(|m| &m["via"]).collect();
    assert_eq!(vias, vec![&json!("bot"), &Value::Null], "history keeps how each came");

    // The WebSocket, by header and by query: subscribe and send as the bot.
    for query in [format!("?token={token}"), String::new()] {
        let bearer = query.is_empty().then_some(token.as_str());
        let mut ws = app.ws_connect(&query, bearer, None).await.expect("the bot's token opens a socket");
        ws.subscribe(&room_id, None).await;
        let ack = ws.request(json!({"type": "send", "room_id": room_id, "content": "over ws"})).await;
        assert_eq!(type_of(&ack), "ack", "{ack}");
        assert_eq!(ack["message"]["via"], "bot", "{ack}");
        ws.close().await;
    }
}

fn items_ref(page: &Value) -> &Vec<Value> {
    page["items"].as_array().expect("items is an array")
}

async fn rotating_refuses_the_old_token_and_closes_its_sockets(app: TestApp) {
    let alice = app.register("alice").await;
    let (bot, old) = make_bot(&app, &alice, "rotating-bot").await;
    let mut old_ws = app.ws_connect(&format!("?token={old}"), None, None).await.expect("a socket");
    old_ws.request(json!({"type": "ping"})).await;

    let rotated = app.post(&alice, &format!("/bots/{}/token", id_of(&bot)), json!({})).await.expect_status(200);
    let new = str_of(&rotated["token"]);
    assert_ne!(new, old);

    // The very next request with the old token is refused; its socket is closed with 1008.
    app.get(&old, "/users/me").await.expect_problem(401, Some("unauthorized"));
    old_ws.expect_close(1008).await;
    app.ws_refused(&format!("?token={old}"), None, 401).await;
    // The new one works, and a socket opened with it is not closed by the old one's revocation.
    app.get(&new, "/users/me").await.expect_status(200);
    let mut new_ws = app.ws_connect(&format!("?token={new}"), None, None).await.expect("a socket");
    new_ws.assert_alive().await;
    // A second rotation closes the socket of the second token, not only the first's.
    let again = app.post(&alice, &format!("/bots/{}/token", id_of(&bot)), json!({})).await.expect_status(200);
    new_ws.expect_close(1008).await;
    app.get(&new, "/users/me").await.expect_problem(401, Some("unauthorized"));
    app.get(&str_of(&again["token"]), "/users/me").await.expect_status(200);
}

async fn deleting_a_bot_stops_its_token_and_keeps_its_messages(app: TestApp) {
    let alice = app.register("alice").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    let (bot, token) = make_bot(&app, &alice, "old-bot").await;
    app.post(&token, &format!("/rooms/{room_id}/join"), json!({})).await.expect_status(200);
    app.post(&token, &format!("/rooms/{room_id}/messages"), json!({"content": "still here later"}))
        .await
        .expect_status(201);
    let mut ws = app.ws_connect(&format!("?token={token}"), None, None).await.expect("a socket");
    ws.request(json!({"type": "ping"})).await;

    app.delete(&alice, &format!("/bots/{}", id_of(&bot))).await.expect_status(204);

    ws.expect_close(1008).await;
    app.get(&token, "/users/me").await.expect_problem(401, Some("unauthorized"));
    app.ws_refused(&format!("?token={token}"), None, 401).await;
    let listed = app.get(&alice, "/bots").await.expect_status(200);
    assert!(items(&listed).is_empty(), "a deleted bot is not listed: {listed}");
    let page = app.history(&alice, &room_id, "").await;
    let kept = &items_ref(&page)[0];
    assert_eq!((kept["content"].as_str(), kept["via"].as_str()), (Some("still here later"), Some("bot")), "{kept}");
    // Deleting or rotating it again: there is no such bot any more.
    app.delete(&alice, &format!("/bots/{}", id_of(&bot))).await.expect_problem(404, Some("not_found"));
    app.post(&alice, &format!("/bots/{}/token", id_of(&bot)), json!({})).await.expect_problem(404, Some("not_found"));
}

async fn a_bot_cannot_log_in_or_make_bots(app: TestApp) {
    let alice = app.register("alice").await;
    let (_bot, token) = make_bot(&app, &alice, "lonely-bot").await;
    // No password works: the same 401 as a wrong password (and no 500 for its empty hash).
    for password in ["", "password123", "correct horse battery staple"] {
        let reply = app.post(&Anonymous, "/auth/login", json!({"username": "lonely-bot", "password": password})).await;
        reply.expect_problem(401, Some("unauthorized"));
    }
    app.post(&token, "/bots", json!({"username": "child-bot"})).await.expect_problem(403, Some("forbidden"));
    app.get(&token, "/bots").await.expect_status(200);
    // A made-up token of the right shape is just a bad token.
    let forged = format!("plv_{}", "A".repeat(43));
    app.get(&forged, "/users/me").await.expect_problem(401, Some("unauthorized"));
    app.ws_refused("", Some(&forged), 401).await;
}

async fn bot_usernames_share_the_users_namespace(app: TestApp) {
    let alice = app.register("alice").await;
    app.post(&alice, "/bots", json!({"username": "ALICE"})).await.expect_problem(409, Some("username_taken"));
    make_bot(&app, &alice, "build-bot").await;
    app.post(&alice, "/bots", json!({"username": "Build-Bot"})).await.expect_problem(409, Some("username_taken"));
    let body = json!({"username": "build-bot", "email": "b@example.com", "password": "password123"});
    app.post(&Anonymous, "/auth/register", body).await.expect_problem(409, Some("username_taken"));
    app.post(&alice, "/bots", json!({"username": "x"})).await.expect_invalid("username");
}

async fn only_the_owner_rotates_or_deletes_a_bot(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let (bot, token) = make_bot(&app, &alice, "alices-bot").await;
    let path = format!("/bots/{}", id_of(&bot));
    app.delete(&bob, &path).await.expect_problem(404, Some("not_found"));
    app.post(&bob, &format!("{path}/token"), json!({})).await.expect_problem(404, Some("not_found"));
    // A person is no bot either.
    app.delete(&alice, &format!("/bots/{}", bob.id)).await.expect_problem(404, Some("not_found"));
    app.get(&token, "/users/me").await.expect_status(200);
}

/// Rotating on one instance closes the old token's socket on another, and a socket opened
/// there with the new token right after is left open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_closes_sockets_on_other_instances_postgres() {
    let Some(cluster) = Cluster::start("rotation_closes_sockets_on_other_instances", 2, &[]).await else {
        return;
    };
    let alice = cluster[0].register("alice").await;
    let made = cluster[0].post(&alice, "/bots", json!({"username": "far-bot"})).await.expect_status(201);
    let (bot_id, old) = (id_of(&made["bot"]), str_of(&made["token"]));
    let mut far =
        cluster[1].ws_connect(&format!("?token={old}"), None, None).await.expect("a socket").labelled("old@1");
    far.request(json!({"type": "ping"})).await;

    let rotated = cluster[0].post(&alice, &format!("/bots/{bot_id}/token"), json!({})).await.expect_status(200);
    let new = str_of(&rotated["token"]);
    let mut renewed =
        cluster[1].ws_connect(&format!("?token={new}"), None, None).await.expect("a socket").labelled("new@1");

    far.expect_close(1008).await;
    cluster[1].get(&old, "/users/me").await.expect_problem(401, Some("unauthorized"));
    renewed.assert_alive().await;
    let pong = renewed.request(json!({"type": "ping"})).await;
    assert_eq!(type_of(&pong), "pong", "{pong}");
}
