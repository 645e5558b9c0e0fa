//! Assistant replies against the fake OpenAI-compatible upstream (the one fake allowed: no
//! LLM runs here): streamed over SSE and the WebSocket, stored however they end, cancelled,
//! resumed by `Last-Event-ID`, refused while one runs.
//! (Over 400 lines: one scenario per behaviour of the contract's assistant section.)

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

/// Writes `mod name { sqlite(), postgres() }` for each `async fn name(app, fake)`, the app
/// configured to use a fresh fake upstream.
macro_rules! with_fake_llm {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (app, fake) = super::start(crate::helpers::Backend::Sqlite).await;
                super::$name(app, fake).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let (app, fake) = super::start(crate::helpers::Backend::Postgres).await;
                super::$name(app, fake).await;
            }
        }
    )+};
}

with_fake_llm!(
    a_reply_streams_over_sse_and_is_stored_with_its_usage,
    a_reply_is_sent_and_answered_whole,
    a_running_reply_refuses_a_second_send_and_cancels_at_once,
    a_dropped_stream_is_resumed_from_its_last_event,
    upstream_failures_end_the_reply_with_an_error,
    replies_reach_every_session_of_their_owner_only,
    the_model_calls_mcp_tools_and_sees_their_errors,
    a_reply_running_when_the_server_stops_is_stored_as_interrupted,
);

async fn start(backend: Backend) -> (TestApp, FakeLlm) {
    let fake = FakeLlm::scripted().await.unwrap();
    let base_url = fake.base_url();
    // The real MCP `everything` server, over stdio, as an operator would configure it.
    let everything = palaver::config::McpServerConfig {
        name: "everything".into(),
        command: Some("node".into()),
        args: vec![mcp_everything_entry(), "stdio".into()],
        env: Default::default(),
        url: None,
        timeout_secs: 10,
    };
    let app = spawn_app(backend, move |config| {
        config.llm.base_url = Some(base_url);
        config.llm.model = Some("fake-model".into());
        config.llm.stall_timeout_secs = 1;
        config.llm.system_prompt = "You are a test.".into();
        config.mcp.servers = vec![everything];
    })
    .await;
    (app, fake)
}

/// A server-sent event: its `id:` and its `data:` as JSON.
#[derive(Debug)]
pub struct SseEvent {
    pub id: Option<u64>,
    pub data: Value,
}

pub fn parse_sse(text: &str) -> Vec<SseEvent> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut id = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("id:") {
                    id = value.trim().parse().ok();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            (!data.is_empty()).then(|| SseEvent { id, data: serde_json::from_str(&data).expect("SSE data is JSON") })
        })
        .collect()
}

fn kinds(events: &[SseEvent]) -> Vec<String> {
    events.iter().map(|e| str_of(&e.data["type"])).collect()
}

pub fn text_of(events: &[SseEvent]) -> String {
    events.iter().filter(|e| e.data["type"] == "chunk").map(|e| str_of(&e.data["content"])).collect()
}

pub async fn conversation(app: &Api, user: &TestUser) -> String {
    str_of(&app.post(user, "/chat/conversations", json!({})).await.expect_status(201)["id"])
}

pub async fn stored(app: &Api, user: &TestUser, id: &str) -> Vec<Value> {
    items(&app.get(user, &format!("/chat/conversations/{id}/messages")).await.expect_status(200))
}

/// POST `.../stream` and the response, unread.
pub async fn open_stream(app: &Api, user: &TestUser, id: &str, message: &str) -> reqwest::Response {
    let url = app.api(&format!("/chat/conversations/{id}/stream"));
    app.client.post(url).bearer_auth(&user.access_token).json(&json!({"message": message})).send().await.unwrap()
}

async fn a_reply_streams_over_sse_and_is_stored_with_its_usage(app: TestApp, fake: FakeLlm) {
    fake.push(FakeReply::text(&["Hel", "lo ", "there"]).usage(12, 3));
    let alice = app.register("alice").await;
    let id = conversation(&app, &alice).await;
    let response = open_stream(&app, &alice, &id, "  hi  ").await;
    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    assert!(header("content-type").starts_with("text/event-stream"));
    assert_eq!(header("cache-control"), "no-cache");
    assert_eq!(header("x-accel-buffering"), "no");
    let events = parse_sse(&response.text().await.unwrap());
    assert_eq!(kinds(&events), ["start", "chunk", "chunk", "chunk", "complete"], "{events:?}");
    let ids: Vec<Option<u64>> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids, [Some(1), Some(2), Some(3), Some(4), Some(5)], "an id on every event");
    assert_eq!(text_of(&events), "Hello there");
    let start = &events[0].data;
    let complete = &events[4].data;
    assert_eq!(complete["message_id"], start["assistant_message_id"]);
    assert_eq!(complete["usage"], json!({"prompt_tokens": 12, "completion_tokens": 3}));

    let messages = stored(&app, &alice, &id).await;
    assert_eq!(messages.len(), 2);
    assert_eq!((messages[0]["role"].clone(), messages[0]["content"].clone()), (json!("user"), json!("hi")));
    assert_eq!(messages[0]["id"], start["user_message_id"]);
    let reply = &messages[1];
    assert_keys(
        reply,
        &[
            "id",
            "role",
            "status",
            "content",
            "created_at",
            "model_used",
            "prompt_tokens",
            "completion_tokens",
            "tool_calls",
        ],
    );
    assert_eq!(reply["role"], "assistant");
    assert_eq!(reply["status"], "complete");
    assert_eq!(reply["content"], "Hello there");
    assert_eq!(reply["model_used"], "fake-model");
    assert_eq!((reply["prompt_tokens"].as_i64(), reply["completion_tokens"].as_i64()), (Some(12), Some(3)));
    let listed = app.get(&alice, "/chat/conversations").await.expect_status(200);
    assert_eq!(listed["items"][0]["total_tokens_used"], 15);
    assert_eq!(listed["items"][0]["total_messages"], 2);

    // What the upstream was asked: the model, streaming with usage, the system prompt first.
    let request = &fake.requests()[0];
    assert_eq!(request.body["model"], "fake-model");
    assert_eq!(request.body["stream"], true);
    assert_eq!(request.body["stream_options"]["include_usage"], true);
    let sent = request.body["messages"].as_array().unwrap();
    assert_eq!(sent[0], json!({"role": "system", "content": "You are a test."}));
    assert_eq!(sent.last().unwrap()["content"], "hi");

    // The next turn carries the history.
    fake.push(FakeReply::text(&["again"]));
    let again = parse_sse(&open_stream(&app, &alice, &id, "more").await.text().await.unwrap());
    assert_eq!(text_of(&again), "again");
    let history: Vec<Value> = fake.requests()[1].body["messages"].as_array().unwrap().clone();
    let roles: Vec<String> = history.iter().map(|m| str_of(&m["role"])).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(history[2]["content"], "Hello there");
}

async fn a_reply_is_sent_and_answered_whole(app: TestApp, fake: FakeLlm) {
    fake.push(FakeReply::text(&["Four", "."]).without_usage());
    let alice = app.register("alice").await;
    let id = conversation(&app, &alice).await;
    let answer = app
        .post(&alice, &format!("/chat/conversations/{id}/messages"), json!({"message": "2+2?"}))
        .await
        .expect_status(201);
    assert_eq!(answer["user_message"]["content"], "2+2?");
    assert_eq!(answer["assistant_message"]["content"], "Four.");
    assert_eq!(answer["assistant_message"]["status"], "complete");
    // No usage from the upstream (Ollama, llama.cpp): none recorded, nothing counted.
    assert_eq!(answer["assistant_message"]["prompt_tokens"], Value::Null);
    // Validation happens before anything is stored.
    let path = format!("/chat/conversations/{id}/messages");
    app.post(&alice, &path, json!({"message": "   "})).await.expect_invalid("message");
    app.post(&alice, &path, json!({"message": "x".repeat(10_001)})).await.expect_invalid("message");
    assert_eq!(stored(&app, &alice, &id).await.len(), 2);
}

async fn a_running_reply_refuses_a_second_send_and_cancels_at_once(app: TestApp, fake: FakeLlm) {
    let pieces: Vec<String> = (0..100).map(|i| format!("w{i} ")).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    fake.push(FakeReply::text(&pieces).delay(Duration::from_millis(50)));
    let alice = app.register("alice").await;
    let mut tab = app.ws(&alice).await;
    let id = conversation(&app, &alice).await;
    let response = open_stream(&app, &alice, &id, "talk for a while").await;
    fake.wait_for_requests(1).await;
    let path = format!("/chat/conversations/{id}/messages");
    app.post(&alice, &path, json!({"message": "and another"})).await.expect_problem(409, Some("reply_running"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.post(&alice, &format!("/chat/conversations/{id}/cancel"), json!({})).await.expect_status(204);
    // The upstream request is aborted: the fake sees its client go.
    fake.wait_for_disconnects(1).await;
    let events = parse_sse(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap().data, json!({"type": "error", "status": "cancelled", "error": "cancelled"}));
    let ended = tab.next_of_type("assistant.error").await;
    assert_eq!((&ended["conversation_id"], &ended["status"]), (&json!(id), &json!("cancelled")), "{ended}");
    let messages = stored(&app, &alice, &id).await;
    assert_eq!(messages[1]["status"], "cancelled");
    let kept = str_of(&messages[1]["content"]);
    assert!(!kept.is_empty() && kept.len() < pieces.concat().len(), "the part so far is kept: {kept:?}");
    assert_eq!(kept, text_of(&events));
    // Nothing runs now: cancel again is 409, and a new send goes.
    app.post(&alice, &format!("/chat/conversations/{id}/cancel"), json!({}))
        .await
        .expect_problem(409, Some("conflict"));
    fake.push(FakeReply::text(&["ok"]));
    app.post(&alice, &path, json!({"message": "short one"})).await.expect_status(201);
}

async fn a_dropped_stream_is_resumed_from_its_last_event(app: TestApp, fake: FakeLlm) {
    let pieces: Vec<String> = (0..20).map(|i| format!("p{i} ")).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    fake.push(FakeReply::text(&pieces).delay(Duration::from_millis(40)));
    let alice = app.register("alice").await;
    let id = conversation(&app, &alice).await;
    // Read a few events, then hang up mid-reply.
    let mut response = open_stream(&app, &alice, &id, "long answer please").await;
    let mut seen = String::new();
    while parse_sse(&seen).len() < 4 {
        let chunk = response.chunk().await.unwrap().expect("more of the stream");
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    drop(response);
    let first = parse_sse(&seen);
    let last_id = first.iter().filter_map(|e| e.id).max().unwrap();
    let message_id = str_of(&first[0].data["assistant_message_id"]);
    // Resume from the last event received: the rest, then `complete`.
    let url = app.api(&format!("/chat/conversations/{id}/messages/{message_id}/stream"));
    let resumed = app.client.get(&url).bearer_auth(&alice.access_token).header("last-event-id", last_id.to_string());
    let rest = parse_sse(&resumed.send().await.unwrap().text().await.unwrap());
    assert_eq!(rest.first().unwrap().id, Some(last_id + 1), "no event missed or repeated");
    assert_eq!(rest.last().unwrap().data["type"], "complete");
    let whole: String =
        first.iter().chain(&rest).filter(|e| e.data["type"] == "chunk").map(|e| str_of(&e.data["content"])).collect();
    assert_eq!(whole, pieces.concat());
    // The client went away, the reply did not: it is stored whole.
    let messages = stored(&app, &alice, &id).await;
    assert_eq!(
        (messages[1]["status"].clone(), messages[1]["content"].clone()),
        (json!("complete"), json!(pieces.concat()))
    );
    // Once done, a resume without an id replays it all, and with the last id ends at once.
    let all =
        parse_sse(&app.client.get(&url).bearer_auth(&alice.access_token).send().await.unwrap().text().await.unwrap());
    assert_eq!(text_of(&all), pieces.concat());
    let end = all.last().unwrap().id.unwrap();
    let request = app.client.get(&url).bearer_auth(&alice.access_token).header("last-event-id", end.to_string());
    assert!(parse_sse(&request.send().await.unwrap().text().await.unwrap()).is_empty());
    // An id this stream never gave is refused, not taken for "from the start".
    let request = app.client.get(&url).bearer_auth(&alice.access_token).header("last-event-id", "Bj:{<b");
    let refused = Reply::read("GET .../stream with a bad Last-Event-ID".into(), request.send().await.unwrap()).await;
    refused.expect_invalid("Last-Event-ID");
}

async fn upstream_failures_end_the_reply_with_an_error(app: TestApp, fake: FakeLlm) {
    let alice = app.register("alice").await;
    let id = conversation(&app, &alice).await;
    fake.push(FakeReply::status(500, r#"{"error": {"message": "model exploded"}}"#));
    let events = parse_sse(&open_stream(&app, &alice, &id, "hello").await.text().await.unwrap());
    assert_eq!(kinds(&events), ["start", "error"]);
    assert!(str_of(&events[1].data["error"]).contains("500"), "{events:?}");
    assert_eq!(events[1].data["status"], "error", "{events:?}");
    assert_eq!(stored(&app, &alice, &id).await[1]["status"], "error");
    // Stalls mid-reply past `stall_timeout_secs` (1 s here): the part so far is kept.
    fake.push(FakeReply::text(&["partial ", "never"]).hang_after(2));
    let events = parse_sse(&open_stream(&app, &alice, &id, "again").await.text().await.unwrap());
    assert_eq!(events.last().unwrap().data["type"], "error", "{events:?}");
    let messages = stored(&app, &alice, &id).await;
    assert_eq!((messages[3]["status"].clone(), messages[3]["content"].clone()), (json!("error"), json!("partial ")));
    fake.wait_for_disconnects(1).await;
}

async fn replies_reach_every_session_of_their_owner_only(app: TestApp, fake: FakeLlm) {
    fake.push(FakeReply::text(&["one ", "two"]));
    let alice = app.register("alice").await;
    let mallory = app.register("mallory").await;
    let id = conversation(&app, &alice).await;
    let (mut tab1, mut tab2, mut other) = (app.ws(&alice).await, app.ws(&alice).await, app.ws(&mallory).await);
    // Someone else's conversation is not there, over the socket too.
    let refused = other.request(json!({"type": "assistant.send", "conversation_id": id, "message": "hi"})).await;
    assert_eq!((type_of(&refused), refused["code"].as_str()), ("error", Some("not_found")), "{refused}");
    tab1.send(json!({"type": "assistant.send", "conversation_id": id, "message": "count"})).await;
    for tab in [&mut tab1, &mut tab2] {
        let start = tab.next_of_type("assistant.start").await;
        assert_eq!(start["conversation_id"], json!(id));
        let mut text = String::new();
        loop {
            let frame = tab.next_matching("assistant frame", |f| type_of(f).starts_with("assistant.")).await;
            match type_of(&frame) {
                "assistant.chunk" => text.push_str(frame["content"].as_str().unwrap()),
                "assistant.complete" => break,
                other => panic!("unexpected {other}: {frame}"),
            }
        }
        assert_eq!(text, "one two");
    }
    other.assert_none_matching("assistant frames", |f| type_of(f).starts_with("assistant.")).await;
    // Cancel over the socket: nothing runs, so 409 as an error frame.
    let cancel = tab2.request(json!({"type": "assistant.cancel", "conversation_id": id})).await;
    assert_eq!((type_of(&cancel), cancel["code"].as_str()), ("error", Some("conflict")), "{cancel}");
}

async fn the_model_calls_mcp_tools_and_sees_their_errors(app: TestApp, fake: FakeLlm) {
    // Round one: two calls (split across chunks, as OpenAI streams them), one of a tool that
    // does not exist; round two: the answer.
    fake.push(FakeReply::tool_calls(&[
        ("call_1", "everything__get-sum", r#"{"a": 2, "b": 40}"#),
        ("call_2", "everything__no-such-tool", "{}"),
    ]));
    fake.push(FakeReply::text(&["It is ", "42."]));
    let alice = app.register("alice").await;
    let id = conversation(&app, &alice).await;
    let events = parse_sse(&open_stream(&app, &alice, &id, "what is 2 + 40?").await.text().await.unwrap());
    assert_eq!(
        kinds(&events),
        ["start", "tool_call", "tool_result", "tool_call", "tool_result", "chunk", "chunk", "complete"],
        "{events:?}"
    );
    assert_eq!(
        events[1].data,
        json!({"type": "tool_call", "name": "everything__get-sum", "arguments": {"a": 2, "b": 40}})
    );
    let sum = &events[2].data;
    assert_eq!((sum["name"].clone(), sum["is_error"].clone()), (json!("everything__get-sum"), json!(false)));
    assert!(str_of(&sum["content"]).contains("42"), "{sum}");
    assert_eq!(events[4].data["is_error"], true, "an unknown tool is an error the model sees: {:?}", events[4]);
    assert_eq!(text_of(&events), "It is 42.");
    // The tools were offered namespaced, and the results went back to the model.
    let requests = fake.requests();
    let offered: Vec<String> =
        requests[0].body["tools"].as_array().unwrap().iter().map(|t| str_of(&t["function"]["name"])).collect();
    assert!(offered.contains(&"everything__echo".to_owned()) && offered.contains(&"everything__get-sum".to_owned()));
    let second = requests[1].body["messages"].as_array().unwrap();
    let results: Vec<&Value> = second.iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["tool_call_id"], "call_1");
    assert!(str_of(&results[0]["content"]).contains("42"));
    // Stored on the reply.
    let reply = &stored(&app, &alice, &id).await[1];
    assert_eq!(reply["status"], "complete");
    let calls = reply["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["name"], "everything__get-sum");
    assert_eq!(calls[0]["arguments"], json!({"a": 2, "b": 40}));
    assert!(str_of(&calls[0]["result"]).contains("42"));
    assert_eq!((calls[0]["is_error"].clone(), calls[1]["is_error"].clone()), (json!(false), json!(true)));
}

async fn a_reply_running_when_the_server_stops_is_stored_as_interrupted(mut app: TestApp, fake: FakeLlm) {
    let pieces: Vec<String> = (0..200).map(|i| format!("w{i} ")).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    fake.push(FakeReply::text(&pieces).delay(Duration::from_millis(30)));
    let alice = app.register("alice").await;
    let id = conversation(&app, &alice).await;
    let mut response = open_stream(&app, &alice, &id, "talk until I stop you").await;
    let mut seen = String::new();
    while parse_sse(&seen).len() < 5 {
        seen.push_str(std::str::from_utf8(&response.chunk().await.unwrap().expect("more")).unwrap());
    }
    // A graceful stop: the part so far is stored, marked interrupted, before the server exits.
    app.restart().await;
    let messages = stored(&app, &alice, &id).await;
    assert_eq!(messages[1]["status"], "interrupted", "{}", messages[1]);
    let kept = str_of(&messages[1]["content"]);
    assert!(kept.starts_with("w0 w1 w2 ") && kept.len() < pieces.concat().len(), "{kept:?}");

    // A crash leaves a reply `running` with nobody writing it; the next start ends it.
    let row = |role, status| palaver::store::ChatMessageRow {
        id: palaver::domain::ChatMessageId::generate(),
        conversation_id: palaver::domain::ConversationId::from_uuid(id.parse().unwrap()),
        role,
        status,
        content: String::new(),
        created_at: time::OffsetDateTime::now_utc(),
        model_used: None,
        prompt_tokens: None,
        completion_tokens: None,
        tool_calls: "[]".into(),
    };
    use palaver::domain::{ChatRole, ChatStatus};
    let (user, orphan) = (row(ChatRole::User, ChatStatus::Complete), row(ChatRole::Assistant, ChatStatus::Running));
    app.services.store.start_reply(&user, &orphan).await.unwrap();
    assert_eq!(stored(&app, &alice, &id).await[3]["status"], "running");
    app.restart().await;
    assert_eq!(stored(&app, &alice, &id).await[3]["status"], "interrupted");
    // And the conversation takes new messages again.
    fake.push(FakeReply::text(&["back"]));
    let path = format!("/chat/conversations/{id}/messages");
    app.post(&alice, &path, json!({"message": "still there?"})).await.expect_status(201);
}

mod per_user_limits {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run(Backend::Postgres).await;
    }

    /// One running reply per user and three sends a minute: the fourth send, and a second
    /// reply while one runs, are 429 with `Retry-After`; other users are not held back.
    async fn run(backend: Backend) {
        let fake = FakeLlm::scripted().await.unwrap();
        let base_url = fake.base_url();
        let app = spawn_app(backend, move |config| {
            config.llm.base_url = Some(base_url);
            config.llm.model = Some("fake-model".into());
            config.llm.max_running_per_user = 1;
            config.llm.sends_per_minute = 3.0;
        })
        .await;
        let (alice, bob) = (app.register("alice").await, app.register("bob").await);
        let (first, second) = (conversation(&app, &alice).await, conversation(&app, &alice).await);
        let slow: Vec<String> = (0..100).map(|i| format!("s{i} ")).collect();
        let slow: Vec<&str> = slow.iter().map(String::as_str).collect();
        fake.push(FakeReply::text(&slow).delay(Duration::from_millis(30)));
        let running = open_stream(&app, &alice, &first, "a long one").await;
        fake.wait_for_requests(1).await;
        let busy =
            app.post(&alice, &format!("/chat/conversations/{second}/messages"), json!({"message": "and this"})).await;
        busy.expect_problem(429, Some("rate_limited"));
        assert!(busy.headers.contains_key("retry-after"));
        // Bob is not alice.
        fake.push(FakeReply::text(&["hi bob"]));
        let bobs = conversation(&app, &bob).await;
        app.post(&bob, &format!("/chat/conversations/{bobs}/messages"), json!({"message": "hello"}))
            .await
            .expect_status(201);
        app.post(&alice, &format!("/chat/conversations/{first}/cancel"), json!({})).await.expect_status(204);
        let ended = parse_sse(&running.text().await.unwrap());
        assert_eq!(ended.last().unwrap().data["status"], "cancelled");
        // Alice has sent twice (the refused send counts: it was a send); the third of the
        // minute goes, the fourth and fifth are over the three a minute.
        fake.always(FakeReply::text(&["ok"]));
        let path = format!("/chat/conversations/{second}/messages");
        let mut statuses = vec![];
        for _ in 0..3 {
            statuses.push(app.post(&alice, &path, json!({"message": "quick"})).await.status);
        }
        assert_eq!(statuses, [201, 429, 429], "three sends a minute");
    }
}

/// An idle stream carries a `: keep-alive` comment every 15 s, so proxies keep it open. The
/// SSE layer is not storage: one backend is enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stream_is_kept_alive_every_15_seconds() {
    let fake = FakeLlm::scripted().await.unwrap();
    let base_url = fake.base_url();
    let app = spawn_app(Backend::Sqlite, move |config| {
        config.llm.base_url = Some(base_url);
        config.llm.model = Some("fake-model".into());
        // Longer than the keep-alive interval: the silent upstream is not a stall yet.
        config.llm.stall_timeout_secs = 60;
    })
    .await;
    // The upstream answers its head, then says nothing.
    fake.push(FakeReply::text(&["never"]).hang_after(0));
    let alice = app.register("alice").await;
    let id = conversation(&app, &alice).await;
    let mut response = open_stream(&app, &alice, &id, "think hard").await;
    let opened = std::time::Instant::now();
    let mut seen = String::new();
    while !seen.contains(": keep-alive\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(30), response.chunk())
            .await
            .expect("a keep-alive within 30 s")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let waited = opened.elapsed();
    assert!(waited >= Duration::from_secs(14), "the comment comes after the interval, not at once: {waited:?}");
    assert_eq!(kinds(&parse_sse(&seen)), ["start"], "nothing but the start before it: {seen:?}");
    app.post(&alice, &format!("/chat/conversations/{id}/cancel"), json!({})).await.expect_status(204);
    fake.wait_for_disconnects(1).await;
}
