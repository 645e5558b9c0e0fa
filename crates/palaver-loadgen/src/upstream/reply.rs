//! The scripted answers of [`FakeLlm::scripted`](super::FakeLlm::scripted), and the chunk
//! shapes of OpenAI's streaming API that every answer of the fake is made of.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::WriteHalf;

use super::{LAST_CHUNK, SSE_HEAD, write_chunk};

/// One scripted answer. An SSE reply is its parts (each written in one piece, after
/// `delay`), then a usage chunk and `data: [DONE]` unless turned off.
#[derive(Debug, Clone)]
pub struct FakeReply {
    status: u16,
    error_body: String,
    parts: Vec<String>,
    usage: Option<(i64, i64)>,
    done: bool,
    delay: Duration,
    keep_alive: bool,
    hang_after: Option<usize>,
    answer: bool,
}

impl FakeReply {
    /// Raw bytes of the body, written as given: for tests of the SSE reading itself.
    pub fn raw<S: Into<String>>(parts: impl IntoIterator<Item = S>) -> Self {
        Self {
            status: 200,
            error_body: String::new(),
            parts: parts.into_iter().map(Into::into).collect(),
            usage: None,
            done: false,
            delay: Duration::ZERO,
            keep_alive: false,
            hang_after: None,
            answer: true,
        }
    }

    /// A data line per chunk, then usage (10 prompt tokens, a completion token per chunk)
    /// and `[DONE]`.
    pub fn chunks(chunks: impl IntoIterator<Item = Value>) -> Self {
        let parts: Vec<String> = chunks.into_iter().map(|chunk| data_line(&chunk)).collect();
        let completion = parts.len() as i64;
        Self { usage: Some((10, completion)), done: true, ..Self::raw(parts) }
    }

    /// The model says `pieces`, one per chunk, and stops.
    pub fn text(pieces: &[&str]) -> Self {
        let role =
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]});
        let content = pieces.iter().map(|piece| content_chunk(piece));
        let mut reply = Self::chunks(std::iter::once(role).chain(content).chain([finish_chunk("stop")]));
        reply.usage = Some((10, pieces.len() as i64));
        reply
    }

    /// The model asks for `calls` (id, name, arguments), streamed as OpenAI does: the first
    /// delta of each has the id, the name and half the arguments, the second the rest, with
    /// the calls' deltas interleaved so only the index tells them apart.
    pub fn tool_calls(calls: &[(&str, &str, &str)]) -> Self {
        let halves = |arguments: &str| {
            let mut at = arguments.len() / 2;
            while !arguments.is_char_boundary(at) {
                at -= 1;
            }
            (arguments[..at].to_owned(), arguments[at..].to_owned())
        };
        let firsts = calls
            .iter()
            .enumerate()
            .map(|(index, (id, name, arguments))| tool_call_chunk(index, Some(id), Some(name), &halves(arguments).0));
        let seconds = calls
            .iter()
            .enumerate()
            .map(|(index, (_, _, arguments))| tool_call_chunk(index, None, None, &halves(arguments).1));
        let chunks: Vec<Value> = firsts.chain(seconds).chain([finish_chunk("tool_calls")]).collect();
        Self::chunks(chunks)
    }

    /// A non-2xx answer with `body` as `application/json` (or text, if it is not JSON).
    pub fn status(status: u16, body: &str) -> Self {
        Self { status, error_body: body.to_owned(), ..Self::raw(Vec::<String>::new()) }
    }

    /// Reads the request and never answers, not even the response head.
    pub fn no_answer() -> Self {
        Self { answer: false, ..Self::raw(Vec::<String>::new()) }
    }

    /// Usage in a last chunk with empty `choices`, as OpenAI sends it.
    pub fn usage(mut self, prompt_tokens: i64, completion_tokens: i64) -> Self {
        self.usage = Some((prompt_tokens, completion_tokens));
        self
    }

    /// As Ollama and llama.cpp: no usage chunk.
    pub fn without_usage(mut self) -> Self {
        self.usage = None;
        self
    }

    /// The body just ends, without `data: [DONE]`.
    pub fn without_done(mut self) -> Self {
        self.done = false;
        self
    }

    /// Waits this long before each part.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// A `: keep-alive` comment before each part.
    pub fn keep_alive(mut self) -> Self {
        self.keep_alive = true;
        self
    }

    /// Sends the first `parts` parts, then nothing more, keeping the connection open until
    /// the client closes it.
    pub fn hang_after(mut self, parts: usize) -> Self {
        self.hang_after = Some(parts);
        self
    }

    /// The body's pieces in order; `None` stands for "hang here".
    fn script(&self) -> Vec<Option<String>> {
        let mut script = Vec::new();
        for (index, part) in self.parts.iter().enumerate() {
            if self.hang_after == Some(index) {
                script.push(None);
                return script;
            }
            if self.keep_alive {
                script.push(Some(": keep-alive\n\n".to_owned()));
            }
            script.push(Some(part.clone()));
        }
        if self.hang_after.is_some() {
            script.push(None);
            return script;
        }
        if let Some((prompt, completion)) = self.usage {
            script.push(Some(data_line(&usage_chunk(prompt, completion))));
        }
        if self.done {
            script.push(Some("data: [DONE]\n\n".to_owned()));
        }
        script
    }

    /// The whole answer: the response head, then the body as scripted.
    pub(super) async fn write(&self, writer: &mut WriteHalf<'_>) -> std::io::Result<()> {
        if !self.answer {
            return std::future::pending().await;
        }
        if self.status != 200 {
            let kind =
                if serde_json::from_str::<Value>(&self.error_body).is_ok() { "application/json" } else { "text/plain" };
            let head = format!(
                "HTTP/1.1 {} Fake\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n\r\n",
                self.status,
                self.error_body.len()
            );
            writer.write_all(head.as_bytes()).await?;
            return writer.write_all(self.error_body.as_bytes()).await;
        }
        writer.write_all(SSE_HEAD).await?;
        for part in self.script() {
            let Some(part) = part else {
                return std::future::pending().await;
            };
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            write_chunk(writer, &part).await?;
        }
        writer.write_all(LAST_CHUNK).await
    }
}

pub fn data_line(chunk: &Value) -> String {
    format!("data: {chunk}\n\n")
}

pub fn content_chunk(text: &str) -> Value {
    json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "fake",
           "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
}

pub fn finish_chunk(reason: &str) -> Value {
    json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "fake",
           "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})
}

/// Usage in a last chunk with empty `choices`, as OpenAI sends it.
pub fn usage_chunk(prompt_tokens: i64, completion_tokens: i64) -> Value {
    let usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                       "total_tokens": prompt_tokens + completion_tokens});
    json!({"id": "chatcmpl-fake", "choices": [], "usage": usage})
}

pub fn tool_call_chunk(index: usize, id: Option<&str>, name: Option<&str>, arguments: &str) -> Value {
    let mut call = json!({"index": index, "function": {"arguments": arguments}});
    if let Some(id) = id {
        call["id"] = json!(id);
        call["type"] = json!("function");
    }
    if let Some(name) = name {
        call["function"]["name"] = json!(name);
    }
    json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "fake",
           "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_call_chunks_have_the_openai_shape() {
        // The fake is the tests' only model of a real server: keep it honest.
        let chunk = tool_call_chunk(1, Some("call_x"), Some("a__b"), "{");
        assert_eq!(
            chunk["choices"][0]["delta"]["tool_calls"][0],
            json!({"index": 1, "id": "call_x", "type": "function", "function": {"name": "a__b", "arguments": "{"}})
        );
    }
}
