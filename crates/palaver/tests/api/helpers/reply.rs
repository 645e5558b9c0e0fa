//! A response read to the end, and the assertions on its status and problem details.

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

/// A response read to the end, so assertions can show the body when they fail.
pub struct Reply {
    pub what: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub async fn read(what: String, response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a readable body");
        Reply { what, status, headers, text }
    }

    pub fn content_type(&self) -> &str {
        self.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("{} answered a body that is not JSON ({e}): {:?}", self.what, self.text))
    }

    /// Asserts the status (and `application/json` for a 2xx body); returns the body,
    /// `Null` when empty.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{} answered {} instead of {status}: {}", self.what, self.status, self.text);
        if self.text.is_empty() {
            return Value::Null;
        }
        if (200..300).contains(&status) {
            assert!(
                self.content_type().starts_with("application/json"),
                "{} answered content-type {:?}",
                self.what,
                self.content_type()
            );
        }
        self.json()
    }

    #[track_caller]
    pub fn expect_status_in(&self, statuses: &[u16]) -> u16 {
        assert!(
            statuses.contains(&self.status),
            "{} answered {} instead of one of {statuses:?}: {}",
            self.what,
            self.status,
            self.text
        );
        self.status
    }

    /// Asserts an RFC 9457 problem with this status (and `code`, when given).
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: Option<&str>) -> Value {
        assert_eq!(self.status, status, "{} answered {} instead of {status}: {}", self.what, self.status, self.text);
        assert!(
            self.content_type().starts_with("application/problem+json"),
            "{} answered {status} with content-type {:?} instead of application/problem+json: {}",
            self.what,
            self.content_type(),
            self.text
        );
        let problem = self.json();
        for key in ["type", "title", "code"] {
            assert!(
                problem[key].as_str().is_some_and(|s| !s.is_empty()),
                "{}: problem without a `{key}` string: {problem}",
                self.what
            );
        }
        assert_eq!(problem["status"], json!(status), "{}: problem `status`: {problem}", self.what);
        if let Some(code) = code {
            assert_eq!(problem["code"], json!(code), "{}: problem `code`: {problem}", self.what);
        }
        problem
    }

    /// Asserts a 422 problem whose `errors` name `field`.
    #[track_caller]
    pub fn expect_invalid(&self, field: &str) -> Value {
        let problem = self.expect_problem(422, None);
        let errors = problem["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: a 422 problem without an `errors` array: {problem}", self.what));
        for error in errors {
            assert!(error["field"].is_string(), "{}: error without `field`: {error}", self.what);
            assert!(error["message"].is_string(), "{}: error without `message`: {error}", self.what);
        }
        assert!(
            errors.iter().any(|e| e["field"] == field),
            "{}: expected an error on `{field}`, got {problem}",
            self.what
        );
        problem
    }
}
