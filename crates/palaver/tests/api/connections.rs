//! Connections as a hostile client holds them: half-sent request heads are cut off after the
//! header timeout while others are served, open connections are capped (WebSockets count)
//! and the server recovers when they go, and an upgraded WebSocket is not cut by that timeout.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{PASSWORD, TestApp};

both_backends!(
    half_sent_request_heads_are_closed_after_the_header_timeout with short_header_timeout,
    a_websocket_outlives_the_header_timeout with short_header_timeout,
    at_the_connection_cap_new_connections_wait_until_one_closes with three_connections,
);

fn short_header_timeout(config: &mut palaver::config::Config) {
    config.limits.header_read_timeout_ms = 300;
}

fn three_connections(config: &mut palaver::config::Config) {
    config.limits.max_connections = 3;
    // Idle connections stay open for the whole test unless the client closes them.
    config.limits.header_read_timeout_ms = 120_000;
}

/// A client that opens a connection per request and closes it after the response, so it
/// holds no connection between requests.
fn unpooled() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().pool_max_idle_per_host(0).build().unwrap()
}

fn host(app: &TestApp) -> &str {
    app.address.strip_prefix("http://").expect("the app address is http://")
}

async fn healthz(app: &TestApp, client: &reqwest::Client) -> u16 {
    let response = client.get(format!("{}/healthz", app.address)).send().await.expect("the server answers");
    response.status().as_u16()
}

/// Reads until the server closes the connection; panics if it is still open after `deadline`.
async fn expect_closed_within(stream: &mut TcpStream, deadline: Duration, what: &str) {
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(deadline, stream.read(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("{what}: still open after {deadline:?}"));
    match read {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("{what}: answered {:?} instead of being closed", String::from_utf8_lossy(&buf[..n])),
    }
}

async fn half_sent_request_heads_are_closed_after_the_header_timeout(app: TestApp) {
    let mut half_sent = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(host(&app)).await.unwrap();
        stream.write_all(b"GET /healthz HT").await.unwrap();
        half_sent.push(stream);
    }
    let mut headers_only = TcpStream::connect(host(&app)).await.unwrap();
    headers_only.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();

    assert_eq!(healthz(&app, &unpooled()).await, 200, "others are served meanwhile");
    for (i, stream) in half_sent.iter_mut().enumerate() {
        expect_closed_within(stream, Duration::from_secs(30), &format!("half-sent request line #{i}")).await;
    }
    expect_closed_within(&mut headers_only, Duration::from_secs(30), "unfinished headers").await;
    assert_eq!(healthz(&app, &unpooled()).await, 200);
}

async fn a_websocket_outlives_the_header_timeout(app: TestApp) {
    let alice = app.register("alice").await;
    let mut client = app.ws(&alice).await;
    client.assert_alive().await;
    // Several header timeouts pass with the socket idle: it is not an unfinished request.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    client.assert_alive().await;
}

async fn at_the_connection_cap_new_connections_wait_until_one_closes(app: TestApp) {
    let body = json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD});
    let pair: Value = unpooled()
        .post(app.api("/auth/register"))
        .json(&body)
        .send()
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("a token pair");
    let token = pair["access_token"].as_str().expect("an access token");

    // One WebSocket and two idle connections fill the three places.
    let mut socket = app.ws_connect(&format!("?token={token}"), None, None).await.expect("the socket opens");
    socket.assert_alive().await;
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(host(&app)).await.unwrap());
    }

    let client = unpooled();
    let waiting = tokio::spawn({
        let url = format!("{}/healthz", app.address);
        async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    // The server, free, answers /healthz in milliseconds: a second unanswered means it waits.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!waiting.is_finished(), "a fourth connection was served while three were open");

    // One place frees up: the waiting request is served, and the WebSocket still is.
    drop(idle.pop());
    let status = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the waiting request is served once a connection closes")
        .unwrap()
        .expect("the waiting request gets an answer");
    assert_eq!(status, 200);
    socket.assert_alive().await;

    // Closing the WebSocket gives its place back too.
    socket.close().await;
    drop(idle);
    for _ in 0..3 {
        assert_eq!(healthz(&app, &unpooled()).await, 200);
    }
}
