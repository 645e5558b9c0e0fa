//! What can go wrong talking to the LLM. Messages name the failure, never the API key.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The upstream could not be reached, or the connection broke mid-reply.
    #[error("cannot reach the LLM: {0}")]
    Connect(String),
    /// A non-2xx answer, or an `error` object with an HTTP code in the stream. `body` is
    /// cut to a few hundred bytes and has the API key blanked out.
    #[error("the LLM answered {status}: {body}")]
    Status { status: u16, body: String },
    /// Connecting, or waiting for the response head, took too long.
    #[error("the LLM did not answer in time")]
    Timeout,
    /// The reply had started, then nothing arrived for the stall timeout.
    #[error("the LLM stopped sending mid-reply")]
    Stalled,
    /// The upstream sent something that is not an OpenAI-style stream.
    #[error("unexpected answer from the LLM: {0}")]
    Protocol(String),
}

/// The most an error body from the upstream keeps, in bytes.
const BODY_KEPT: usize = 512;

/// An upstream's words made fit for logs and for users: the key blanked out, control
/// characters gone, cut after [`BODY_KEPT`] bytes on a character boundary.
pub(super) fn sanitize(text: &str, api_key: Option<&str>) -> String {
    let text = match api_key {
        Some(key) if !key.is_empty() => text.replace(key, "[redacted]"),
        _ => text.to_owned(),
    };
    let mut kept = String::with_capacity(text.len().min(BODY_KEPT + 3));
    for c in text.trim().chars() {
        let c = if c.is_control() { ' ' } else { c };
        if kept.len() + c.len_utf8() > BODY_KEPT {
            kept.push_str("...");
            break;
        }
        kept.push(c);
    }
    kept
}

/// A reqwest error with its causes ("error sending request: ... Connection refused"), and
/// without the URL, which may carry credentials in its userinfo.
pub(super) fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
