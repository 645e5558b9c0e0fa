//! Bad requests get problem+json with the right status, never a framework's plain text.

use serde_json::json;

use crate::helpers::{Anonymous, PASSWORD, Reply, TestApp, id_of};

both_backends!(
    malformed_json_is_a_bad_request,
    wrong_field_types_are_rejected,
    json_endpoints_need_a_json_content_type,
    oversized_bodies_are_refused,
    oversized_request_heads_get_431_as_problem_json,
    unknown_routes_are_not_found,
);

async fn malformed_json_is_a_bad_request(app: TestApp) {
    let alice = app.register("alice").await;
    let json = Some("application/json");
    for body in [r#"{"name": "#, "not json", r#"{"name": "x", "visibility": "public"}}"#] {
        let reply = app.post_raw(&alice, "/rooms", json, body).await;
        reply.expect_problem(400, Some("bad_request"));
    }
    let reply = app.post_raw(&Anonymous, "/auth/login", json, "{").await;
    reply.expect_problem(400, Some("bad_request"));
    assert!(app.get(&alice, "/rooms").await.expect_status(200)["items"].as_array().unwrap().is_empty());
}

async fn wrong_field_types_are_rejected(app: TestApp) {
    let alice = app.register("alice").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    let messages = format!("/rooms/{room_id}/messages");
    let read = format!("/rooms/{room_id}/read");
    let cases = [
        ("/rooms", json!({"name": 5, "visibility": "public"})),
        ("/rooms", json!(["general", "public"])),
        ("/auth/register", json!({"username": "bob", "email": "bob@example.com", "password": 12345678})),
        ("/auth/register", json!({"username": "bob", "email": "bob@example.com"})),
        (messages.as_str(), json!({"content": {"text": "hi"}})),
        (read.as_str(), json!({"seq": "1"})),
    ];
    for (path, body) in cases {
        let reply = app.post(&alice, path, body).await;
        let status = reply.expect_status_in(&[400, 422]);
        reply.expect_problem(status, None);
    }
    assert_eq!(app.last_seq(&alice, &room_id).await, 0);
}

async fn json_endpoints_need_a_json_content_type(app: TestApp) {
    let alice = app.register("alice").await;
    let body = json!({"name": "general", "visibility": "public"}).to_string();
    for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let reply = app.post_raw(&alice, "/rooms", content_type, body.clone()).await;
        reply.expect_problem(415, None);
    }
    let register = json!({"username": "bob", "email": "bob@example.com", "password": PASSWORD});
    let reply = app.post_raw(&Anonymous, "/auth/register", None, register.to_string()).await;
    reply.expect_problem(415, None);

    // The charset parameter the contract names is fine.
    let with_charset = Some("application/json; charset=utf-8");
    app.post_raw(&alice, "/rooms", with_charset, body).await.expect_status(201);
}

async fn oversized_bodies_are_refused(app: TestApp) {
    let alice = app.register("alice").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    let path = format!("/rooms/{room_id}/messages");
    let body = json!({"content": "x".repeat(70 * 1024)});
    app.post(&alice, &path, body).await.expect_problem(413, None);

    let padding = " ".repeat(65 * 1024);
    let padded = format!(r#"{{"username": "bob",{padding} "email": "bob@example.com", "password": "{PASSWORD}"}}"#);
    let reply = app.post_raw(&Anonymous, "/auth/register", Some("application/json"), padded).await;
    reply.expect_problem(413, None);

    assert_eq!(app.last_seq(&alice, &room_id).await, 0);
    // Just under the limit is parsed (and then judged on its content).
    let under = json!({"content": "x".repeat(60 * 1024)});
    app.post(&alice, &path, under).await.expect_invalid("content");
}

async fn unknown_routes_are_not_found(app: TestApp) {
    let alice = app.register("alice").await;
    for path in ["/nope", "/rooms/x/y/z", "/users/me/secret"] {
        app.get(&alice, path).await.expect_problem(404, Some("not_found"));
        app.get(&Anonymous, path).await.expect_status_in(&[401, 404]);
    }
}

async fn oversized_request_heads_get_431_as_problem_json(app: TestApp) {
    let alice = app.register("alice").await;
    let me = |headers: Vec<(String, String)>| {
        let mut request = app.client.get(app.api("/users/me")).bearer_auth(&alice.access_token);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        async move { Reply::read("GET /api/v1/users/me".into(), request.send().await.expect("the server answers")).await }
    };
    let padding = |bytes: usize| vec![("x-padding".to_owned(), "p".repeat(bytes))];
    let many = |count: usize| (0..count).map(|i| (format!("x-h{i}"), "v".to_owned())).collect::<Vec<_>>();

    // Within the limits (16 KiB, 100 fields): served.
    me(padding(12 * 1024)).await.expect_status(200);
    me(many(80)).await.expect_status(200);
    // Beyond them: 431 with a problem body, whether it is bytes (a big cookie, a huge value
    // that would have fitted hyper's buffer) or fields (past hyper's own default of 100).
    for (what, headers) in [("20 KiB", padding(20 * 1024)), ("300 KiB", padding(300 * 1024)), ("150 fields", many(150))]
    {
        let reply = me(headers).await;
        let problem = reply.expect_problem(431, Some("request_header_fields_too_large"));
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}: {problem}");
    }
    app.get(&alice, "/users/me").await.expect_status(200);
}
