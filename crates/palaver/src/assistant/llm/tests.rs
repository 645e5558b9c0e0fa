//! The client against the project's one fake upstream (palaver-loadgen's, scripted), over
//! real sockets.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use super::*;
use crate::assistant::tools::{ToolCall, ToolSpec};

use palaver_loadgen::upstream::{FakeLlm, FakeReply, content_chunk, data_line, finish_chunk};

const KEY: &str = "sk-test-0123456789";

fn settings(base_url: String, stall_timeout: Duration) -> LlmSettings {
    LlmSettings {
        base_url,
        api_key: Some(KEY.into()),
        model: "fake-model".into(),
        connect_timeout: Duration::from_secs(5),
        stall_timeout,
    }
}

fn client(fake: &FakeLlm) -> LlmClient {
    LlmClient::new(settings(fake.base_url(), Duration::from_secs(10))).unwrap()
}

fn hello() -> ChatRequest {
    ChatRequest { messages: vec![PromptMessage::User("hello".into())], tools: vec![] }
}

/// Everything the stream yields, to its end (bounded, so a stream that never ends fails).
async fn collect(stream: ChatStream) -> Vec<Result<StreamEvent, LlmError>> {
    tokio::time::timeout(Duration::from_secs(10), stream.collect()).await.expect("the stream ends")
}

/// One round with `reply`, all its events, which must all be `Ok`.
async fn round(reply: FakeReply) -> Vec<StreamEvent> {
    let fake = FakeLlm::scripted().await.unwrap();
    fake.push(reply);
    let stream = client(&fake).stream(hello()).await.unwrap();
    collect(stream).await.into_iter().collect::<Result<_, _>>().unwrap()
}

/// One round with `reply` that must fail: its error, after the events that came before it.
async fn failing_round(reply: FakeReply) -> LlmError {
    let fake = FakeLlm::scripted().await.unwrap();
    fake.push(reply);
    let mut events = collect(client(&fake).stream(hello()).await.unwrap()).await;
    match events.pop() {
        Some(Err(error)) => error,
        other => panic!("the round ends with an error, not {other:?} after {events:?}"),
    }
}

fn delta(text: &str) -> StreamEvent {
    StreamEvent::Delta(text.into())
}

fn done(finish_reason: FinishReason, usage: Option<(i64, i64)>) -> StreamEvent {
    let usage = usage.map(|(prompt_tokens, completion_tokens)| Usage { prompt_tokens, completion_tokens });
    StreamEvent::Done { finish_reason, usage }
}

#[tokio::test]
async fn a_plain_reply_is_its_text_then_done_with_the_usage_of_the_last_chunk() {
    let events = round(FakeReply::text(&["Hel", "lo", " there"]).usage(12, 3)).await;
    assert_eq!(events, [delta("Hel"), delta("lo"), delta(" there"), done(FinishReason::Stop, Some((12, 3)))]);
}

#[tokio::test]
async fn a_reply_without_usage_is_done_without_usage() {
    let events = round(FakeReply::text(&["Hi"]).without_usage()).await;
    assert_eq!(events, [delta("Hi"), done(FinishReason::Stop, None)]);
}

#[tokio::test]
async fn two_tool_calls_split_across_chunks_are_assembled_by_index() {
    let events = round(FakeReply::tool_calls(&[
        ("call_a", "weather__now", r#"{"city":"Oslo","unit":"C"}"#),
        ("call_b", "clock__time", r#"{"tz":"Europe/Oslo"}"#),
    ]))
    .await;
    let call = |id: &str, name: &str, arguments: &str| ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
    };
    assert_eq!(
        events,
        [
            StreamEvent::ToolCalls(vec![
                call("call_a", "weather__now", r#"{"city":"Oslo","unit":"C"}"#),
                call("call_b", "clock__time", r#"{"tz":"Europe/Oslo"}"#),
            ]),
            done(FinishReason::ToolCalls, Some((10, 5))),
        ]
    );
}

#[tokio::test]
async fn calls_said_to_stop_without_index_id_or_string_arguments_are_still_calls() {
    // Ollama's shape: the whole call in one delta, no index, arguments an object; and
    // `stop` for a reason. Then a second call whose id is repeated in its next delta.
    let whole = json!({"choices": [{"delta": {"content": null, "tool_calls": [
        {"function": {"name": "clock__time", "arguments": {"tz": "UTC"}}}]}}]});
    let second = |arguments: &str, name: Option<&str>| {
        let mut call = json!({"id": "c2", "function": {"arguments": arguments}});
        if let Some(name) = name {
            call["function"]["name"] = json!(name);
        }
        json!({"choices": [{"delta": {"tool_calls": [call]}}]})
    };
    let events = round(
        FakeReply::chunks([
            whole,
            second("{\"q\":", Some("search__web")),
            second("\"x\"}", None),
            finish_chunk("stop"),
        ])
        .without_usage(),
    )
    .await;
    let calls = vec![
        ToolCall { id: "call_0".into(), name: "clock__time".into(), arguments: r#"{"tz":"UTC"}"#.into() },
        ToolCall { id: "c2".into(), name: "search__web".into(), arguments: r#"{"q":"x"}"#.into() },
    ];
    assert_eq!(events, [StreamEvent::ToolCalls(calls), done(FinishReason::ToolCalls, None)]);
}

#[tokio::test]
async fn keep_alives_other_fields_crlf_and_lines_split_across_writes_are_read_as_sse() {
    let first = content_chunk("one").to_string();
    let (head, tail) = first.split_at(first.len() / 2);
    let events = round(FakeReply::raw([
        ": keep-alive\r\n\r\n".to_owned(),
        format!("event: message\r\nid: 1\r\ndata: {head}"),
        format!("{tail}\r\n\r\n: ping\n\n"),
        data_line(&content_chunk("two")) + &data_line(&finish_chunk("length")),
        "data: [DONE]\n\n".to_owned(),
    ]))
    .await;
    assert_eq!(events, [delta("one"), delta("two"), done(FinishReason::Length, None)]);
}

#[tokio::test]
async fn keep_alive_comments_between_chunks_change_nothing() {
    let events = round(FakeReply::text(&["a", "b"]).keep_alive()).await;
    assert_eq!(events, round(FakeReply::text(&["a", "b"])).await);
    assert_eq!(events.len(), 3);
}

#[tokio::test]
async fn unknown_fields_nulls_reasoning_and_odd_finish_reasons_are_tolerated() {
    let events = round(
        FakeReply::chunks([
            json!({"id": "x", "system_fingerprint": "fp", "usage": null, "choices": [{"index": 0, "logprobs": null,
                   "delta": {"role": "assistant", "content": null, "reasoning_content": "thinking..."},
                   "finish_reason": null}]}),
            json!({"choices": [{"index": 0, "delta": {"content": "ok", "refusal": null}, "finish_reason": ""}],
                   "x_groq": {"id": "q"}}),
            json!({"choices": [{"index": 1, "delta": {"content": "another choice"}}]}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "eos_token", "stop_reason": 128009}]}),
        ])
        .usage(7, 1),
    )
    .await;
    assert_eq!(events, [delta("ok"), done(FinishReason::Other("eos_token".into()), Some((7, 1)))]);
}

#[tokio::test]
async fn done_without_a_finish_reason_and_a_finish_reason_without_done_both_end_the_round() {
    let events = round(FakeReply::chunks([content_chunk("a")]).without_usage()).await;
    assert_eq!(events, [delta("a"), done(FinishReason::Other("none".into()), None)]);
    let events = round(FakeReply::text(&["b"]).without_done()).await;
    assert_eq!(events, [delta("b"), done(FinishReason::Stop, Some((10, 1)))]);
}

#[tokio::test]
async fn a_stream_that_ends_before_finishing_is_a_protocol_error() {
    let error = failing_round(FakeReply::chunks([content_chunk("half")]).without_usage().without_done()).await;
    assert!(matches!(&error, LlmError::Protocol(m) if m.contains("ended before")), "{error:?}");
}

#[tokio::test]
async fn a_line_over_the_limit_is_a_protocol_error() {
    let error = failing_round(FakeReply::raw([format!("data: {}", "x".repeat(sse::MAX_LINE))])).await;
    assert!(matches!(&error, LlmError::Protocol(m) if m.contains("line of the stream is over")), "{error:?}");
}

#[tokio::test]
async fn an_error_answer_is_a_status_error_with_a_short_body_without_the_key() {
    let body =
        format!(r#"{{"error":{{"message":"Incorrect API key provided: {KEY}","padding":"{}"}}}}"#, "z".repeat(20_000));
    let fake = FakeLlm::scripted().await.unwrap();
    fake.push(FakeReply::status(401, &body)).push(FakeReply::status(500, "upstream exploded"));
    let client = client(&fake);
    let Err(LlmError::Status { status, body }) = client.stream(hello()).await else {
        panic!("a 401 is a status error")
    };
    assert_eq!(status, 401);
    assert!(body.starts_with(r#"{"error":{"message":"Incorrect API key provided: [redacted]"#), "{body}");
    assert!(body.len() < 1000, "{} bytes", body.len());
    let error = client.stream(hello()).await.unwrap_err();
    assert_eq!(error, LlmError::Status { status: 500, body: "upstream exploded".into() });
}

#[tokio::test]
async fn an_error_object_in_the_stream_is_an_error() {
    // OpenAI's shape after a first chunk, with an HTTP code: a status error.
    let error = failing_round(FakeReply::chunks([
        content_chunk("a"),
        json!({"error": {"message": "overloaded", "type": "server_error", "code": 503}}),
    ]))
    .await;
    assert_eq!(error, LlmError::Status { status: 503, body: "overloaded".into() });
    // vLLM's top-level shape.
    let error =
        failing_round(FakeReply::chunks([json!({"object": "error", "message": "context too long", "code": 400})]))
            .await;
    assert_eq!(error, LlmError::Status { status: 400, body: "context too long".into() });
    // A code that is not HTTP's.
    let error = failing_round(FakeReply::chunks([json!({"error": {"message": "bad", "code": "invalid_tool"}})])).await;
    assert!(matches!(&error, LlmError::Protocol(m) if m.contains("bad")), "{error:?}");
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let client = LlmClient::new(settings(format!("http://{address}/v1"), Duration::from_secs(5))).unwrap();
    let error = client.stream(hello()).await.unwrap_err();
    assert!(matches!(&error, LlmError::Connect(m) if !m.contains(KEY)), "{error:?}");
}

#[tokio::test]
async fn an_upstream_that_never_answers_is_a_timeout() {
    let fake = FakeLlm::scripted().await.unwrap();
    fake.push(FakeReply::no_answer());
    let client = LlmClient::new(settings(fake.base_url(), Duration::from_millis(200))).unwrap();
    assert_eq!(client.stream(hello()).await.unwrap_err(), LlmError::Timeout);
}

#[tokio::test]
async fn a_hang_mid_stream_is_stalled_then_the_stream_ends_and_the_connection_closes() {
    let fake = FakeLlm::scripted().await.unwrap();
    fake.push(FakeReply::text(&["a", "b"]).hang_after(2));
    // Long enough that a busy machine does not stall before "a", short for the test.
    let client = LlmClient::new(settings(fake.base_url(), Duration::from_secs(1))).unwrap();
    let mut stream = client.stream(hello()).await.unwrap();
    assert_eq!(stream.next().await, Some(Ok(delta("a"))));
    assert_eq!(stream.next().await, Some(Err(LlmError::Stalled)));
    assert_eq!(stream.next().await, None);
    drop(stream);
    fake.wait_for_disconnects(1).await;
}

#[tokio::test]
async fn dropping_the_stream_mid_reply_closes_the_upstream_connection() {
    let fake = FakeLlm::scripted().await.unwrap();
    fake.push(FakeReply::text(&["a"])).push(FakeReply::text(&["a", "b"]).hang_after(2));
    let client = client(&fake);
    // A reply read to its end is no hang-up: the fake can tell the two apart.
    collect(client.stream(hello()).await.unwrap()).await;
    let mut stream = client.stream(hello()).await.unwrap();
    assert_eq!(stream.next().await, Some(Ok(delta("a"))));
    assert_eq!(fake.disconnects(), 0);
    drop(stream);
    fake.wait_for_disconnects(1).await;
}

#[tokio::test]
async fn the_request_has_the_model_streaming_with_usage_the_tools_and_the_key() {
    let fake = FakeLlm::scripted().await.unwrap();
    fake.always(FakeReply::text(&["ok"]));
    let client = client(&fake);
    let tool = ToolSpec {
        name: "clock__now".into(),
        description: "The time now".into(),
        parameters: json!({"type": "object", "properties": {"tz": {"type": "string"}}}),
    };
    let request = ChatRequest {
        messages: vec![PromptMessage::System("be brief".into()), PromptMessage::User("time?".into())],
        tools: vec![tool],
    };
    collect(client.stream(request).await.unwrap()).await;
    collect(client.stream(hello()).await.unwrap()).await;

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!((first.method.as_str(), first.path.as_str()), ("POST", "/v1/chat/completions"));
    assert_eq!(first.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(first.header("accept"), Some("text/event-stream"));
    assert_eq!(
        first.body,
        json!({
            "model": "fake-model",
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "time?"}],
            "stream": true,
            "stream_options": {"include_usage": true},
            "tools": [{"type": "function", "function": {"name": "clock__now", "description": "The time now",
                       "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}],
        })
    );
    assert!(requests[1].body.get("tools").is_none(), "{}", requests[1].body);
}

#[tokio::test]
async fn without_a_key_there_is_no_authorization_header() {
    let fake = FakeLlm::scripted().await.unwrap();
    fake.push(FakeReply::text(&["ok"]));
    let client =
        LlmClient::new(LlmSettings { api_key: None, ..settings(fake.base_url(), Duration::from_secs(10)) }).unwrap();
    collect(client.stream(hello()).await.unwrap()).await;
    assert_eq!(fake.requests()[0].header("authorization"), None);
}
