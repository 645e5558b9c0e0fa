//! Uploading files as a browser form would, and fetching what an attachment's URLs serve.

use reqwest::header::{HeaderMap, IF_NONE_MATCH};
use serde_json::{Value, json};

use super::{Api, Caller, Reply, TestUser, str_of};

/// A response with its body as bytes (images are not text).
pub struct Fetched {
    pub status: u16,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Fetched {
    #[track_caller]
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name} header"))
    }
}

impl Api {
    /// `POST /uploads` with one part, `file`, named and typed as a client claims.
    pub async fn upload_file(
        &self,
        caller: &(impl Caller + ?Sized),
        file_name: &str,
        declared: &str,
        bytes: Vec<u8>,
    ) -> Reply {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()).mime_str(declared).unwrap();
        let form = reqwest::multipart::Form::new().part("file", part);
        let mut request = self.client.post(self.api("/uploads")).multipart(form);
        if let Some(token) = caller.token() {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        Reply::read("POST /api/v1/uploads".into(), response).await
    }

    /// Uploads `bytes` (as `photo.bin`, declared `application/octet-stream`: the server
    /// must not care) and returns the `Attachment`.
    pub async fn upload(&self, user: &TestUser, bytes: Vec<u8>) -> Value {
        self.upload_file(user, "photo.bin", "application/octet-stream", bytes).await.expect_status(201)
    }

    /// GETs a path from an attachment (`/api/v1/uploads/...?expires=..&signature=..`).
    pub async fn fetch(&self, url: &str, bearer: Option<&str>, if_none_match: Option<&str>) -> Fetched {
        assert!(url.starts_with("/api/v1/uploads/"), "an upload URL: {url}");
        let mut request = self.client.get(format!("{}{url}", self.address));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(tag) = if_none_match {
            request = request.header(IF_NONE_MATCH, tag);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a readable body").to_vec();
        Fetched { status, headers, bytes }
    }

    /// Posts the upload into the room (with optional text).
    pub async fn post_image(&self, user: &TestUser, room_id: &str, upload_id: &str, content: Option<&str>) -> Reply {
        let mut body = json!({"upload_id": upload_id});
        if let Some(content) = content {
            body["content"] = json!(content);
        }
        self.post(user, &format!("/rooms/{room_id}/messages"), body).await
    }
}

/// The path of an attachment's URL without its signature: for bearer access.
pub fn unsigned(url: &Value) -> String {
    str_of(url).split('?').next().unwrap().to_owned()
}
