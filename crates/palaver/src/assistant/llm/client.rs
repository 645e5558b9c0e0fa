//! [`LlmClient`]: the settings, one HTTP client, and the start of a round.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderValue};
use reqwest::{Client, Url};

use super::error::{describe, sanitize};
use super::request::{self, ChatRequest};
use super::{ChatStream, LlmError};

/// The upstream's error body is read up to this many bytes, then let go.
const ERROR_BODY_READ: usize = 8 * 1024;

#[derive(Clone)]
pub struct LlmSettings {
    /// Up to the version, e.g. `http://127.0.0.1:11434/v1`; `/chat/completions` is appended.
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    pub connect_timeout: Duration,
    /// How long the upstream may send nothing: before the response head ([`LlmError::Timeout`])
    /// and between any two reads of the body ([`LlmError::Stalled`]).
    pub stall_timeout: Duration,
}

impl std::fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmSettings")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("model", &self.model)
            .field("connect_timeout", &self.connect_timeout)
            .field("stall_timeout", &self.stall_timeout)
            .finish()
    }
}

/// Cheap to clone: every clone shares one connection pool.
#[derive(Clone)]
pub struct LlmClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: Client,
    endpoint: Url,
    model: String,
    api_key: Option<String>,
    stall_timeout: Duration,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("model", &self.inner.model)
            .finish_non_exhaustive()
    }
}

impl LlmClient {
    pub fn new(settings: LlmSettings) -> anyhow::Result<Self> {
        let endpoint = endpoint(&settings.base_url)?;
        anyhow::ensure!(!settings.model.trim().is_empty(), "the LLM model is empty");
        let http = Client::builder()
            .connect_timeout(settings.connect_timeout)
            // A redirected POST would turn into a GET; a redirect is an answer to report.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("palaver/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("building the LLM's HTTP client: {}", describe(e)))?;
        let api_key = settings.api_key.filter(|key| !key.is_empty());
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                endpoint,
                model: settings.model,
                api_key,
                stall_timeout: settings.stall_timeout,
            }),
        })
    }

    pub fn model(&self) -> &str {
        &self.inner.model
    }

    /// Starts a round: sends the request and waits for the response head. A non-2xx answer
    /// is [`LlmError::Status`]; otherwise the events follow on the returned stream.
    pub async fn stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        let inner = &*self.inner;
        let mut post = inner
            .http
            .post(inner.endpoint.clone())
            .header(ACCEPT, HeaderValue::from_static("text/event-stream"))
            .json(&request::body(&inner.model, &request));
        if let Some(key) = &inner.api_key {
            // reqwest marks the header sensitive, so it is never in a Debug output.
            post = post.bearer_auth(key);
        }
        let response = match tokio::time::timeout(inner.stall_timeout, post.send()).await {
            Err(_) => return Err(LlmError::Timeout),
            Ok(Err(error)) if error.is_timeout() => return Err(LlmError::Timeout),
            Ok(Err(error)) => return Err(LlmError::Connect(describe(error))),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if !status.is_success() {
            let body = error_body(response, inner.stall_timeout).await;
            return Err(LlmError::Status { status: status.as_u16(), body: sanitize(&body, inner.api_key.as_deref()) });
        }
        Ok(ChatStream::new(response, inner.stall_timeout, inner.api_key.clone()))
    }
}

fn endpoint(base_url: &str) -> anyhow::Result<Url> {
    let endpoint = format!("{}/chat/completions", base_url.trim().trim_end_matches('/'));
    let url = Url::parse(&endpoint).map_err(|e| anyhow::anyhow!("the LLM base URL {base_url:?} is not a URL: {e}"))?;
    anyhow::ensure!(matches!(url.scheme(), "http" | "https"), "the LLM base URL {base_url:?} is not http or https");
    Ok(url)
}

/// The start of an error body: enough to say what went wrong, never all of a large one,
/// and never waiting longer than the stall timeout for it.
async fn error_body(mut response: reqwest::Response, stall_timeout: Duration) -> String {
    let mut body = Vec::new();
    let reading = async {
        while body.len() < ERROR_BODY_READ {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(ERROR_BODY_READ - body.len())]),
                Ok(None) | Err(_) => break,
            }
        }
    };
    let _ = tokio::time::timeout(stall_timeout, reading).await;
    String::from_utf8_lossy(&body).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_the_base_url_and_chat_completions() {
        assert_eq!(
            endpoint("http://127.0.0.1:11434/v1").unwrap().as_str(),
            "http://127.0.0.1:11434/v1/chat/completions"
        );
        assert_eq!(
            endpoint("https://api.openai.com/v1/").unwrap().as_str(),
            "https://api.openai.com/v1/chat/completions"
        );
        assert!(endpoint("127.0.0.1:11434").is_err());
        assert!(endpoint("ftp://example.com/v1").is_err());
    }

    #[test]
    fn the_key_is_never_in_a_debug_output() {
        let settings = LlmSettings {
            base_url: "https://api.openai.com/v1".into(),
            api_key: Some("sk-very-secret".into()),
            model: "gpt-4o-mini".into(),
            connect_timeout: Duration::from_secs(5),
            stall_timeout: Duration::from_secs(60),
        };
        let client = LlmClient::new(settings.clone()).unwrap();
        let shown = format!("{settings:?} {client:?}");
        assert!(!shown.contains("sk-very-secret"), "{shown}");
        assert!(shown.contains("gpt-4o-mini"), "{shown}");
    }
}
