//! Starting the app in-process, sending requests, and the scenario steps.

use std::sync::Once;
use std::time::Duration;

use palaver::app::Application;
use palaver::config::Config;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{Reply, TestDatabase, id_of, items, query_value, str_of};

/// Every user the helpers register has this password.
pub const PASSWORD: &str = "correct horse battery";
pub const JWT_SECRET: &str = "test-secret-that-is-long-enough-for-hs256";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A server the helpers speak to over HTTP and WebSocket: in this process (`TestApp`) or a
/// `palaver serve` child process (`Instance`).
pub struct Api {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(address: String) -> Self {
        let client = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { address, client }
    }
}

pub struct TestApp {
    pub api: Api,
    /// The running server's services, for what has no endpoint (the upload sweep, counters).
    pub services: palaver::service::Services,
    pub config: Config,
    server: Option<RunningServer>,
    _database: Option<TestDatabase>,
    _data_dir: tempfile::TempDir,
}

struct RunningServer {
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

/// Starts the app as `palaver serve` does.
pub async fn spawn_app(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(TestDatabase::create().await),
    };
    start_app(database, configure).await
}

/// Starts the app on `database` (its `url`), or on SQLite in a fresh data dir.
pub async fn start_app(database: Option<TestDatabase>, configure: impl FnOnce(&mut Config)) -> TestApp {
    init_test_logging();
    let data_dir = tempfile::tempdir().expect("a temporary data directory");
    let mut config = Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.path().to_path_buf(),
        database_url: database.as_ref().map(|db| db.url.clone()),
        jwt_secret: Some(JWT_SECRET.into()),
        ..Config::default()
    };
    config.database.max_connections = 4;
    // Scenarios post in bulk as one user (up to 1,500 messages), as a script would; the
    // write budget's own tests set theirs.
    config.limits.write_burst = 1_000_000.0;
    configure(&mut config);

    let (server, address, services) = start_server(config.clone()).await;
    let api = Api::new(address);
    TestApp { api, services, config, server: Some(server), _database: database, _data_dir: data_dir }
}

impl std::ops::Deref for TestApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl std::ops::DerefMut for TestApp {
    fn deref_mut(&mut self) -> &mut Api {
        &mut self.api
    }
}

async fn start_server(config: Config) -> (RunningServer, String, palaver::service::Services) {
    let app = Application::build(config).await.expect("the application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let services = app.services().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    (RunningServer { stop, task }, address, services)
}

fn init_test_logging() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let filter =
                if filter.is_empty() || filter == "1" || filter == "true" { "info".to_owned() } else { filter };
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

impl Api {
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.address)
    }
}

impl TestApp {
    /// Stops the server gracefully and starts a new one on the same data and database.
    pub async fn restart(&mut self) {
        let server = self.server.take().expect("the server is running");
        let _ = server.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), server.task)
            .await
            .expect("the server stops within 10 s of a shutdown signal")
            .expect("the server task does not panic")
            .expect("the server stops cleanly");
        let (server, address, services) = start_server(self.config.clone()).await;
        self.server = Some(server);
        self.address = address;
        self.services = services;
    }
}

impl Api {
    /// Any request under `/api/v1`; `path` may carry a query string.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        caller: &(impl Caller + ?Sized),
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.client.request(method.clone(), self.api(path));
        if let Some(token) = caller.token() {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the server answers");
        Reply::read(format!("{method} /api/v1{path}"), response).await
    }

    /// A POST with a body sent as is, under the given `Content-Type` (none if `None`).
    pub async fn post_raw(
        &self,
        caller: &(impl Caller + ?Sized),
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let mut request = self.client.post(self.api(path)).body(body);
        if let Some(token) = caller.token() {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let response = request.send().await.expect("the server answers");
        Reply::read(format!("POST /api/v1{path}"), response).await
    }

    pub async fn get(&self, caller: &(impl Caller + ?Sized), path: &str) -> Reply {
        self.request(Method::GET, path, caller, None).await
    }

    pub async fn post(&self, caller: &(impl Caller + ?Sized), path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, caller, Some(&body)).await
    }

    pub async fn patch(&self, caller: &(impl Caller + ?Sized), path: &str, body: Value) -> Reply {
        self.request(Method::PATCH, path, caller, Some(&body)).await
    }

    pub async fn delete(&self, caller: &(impl Caller + ?Sized), path: &str) -> Reply {
        self.request(Method::DELETE, path, caller, None).await
    }

    /// A request outside `/api/v1` (health, metrics, OpenAPI).
    pub async fn get_root(&self, path: &str) -> Reply {
        let response = self.client.get(format!("{}{path}", self.address)).send().await.expect("the server answers");
        Reply::read(format!("GET {path}"), response).await
    }

    // Scenario steps. Each asserts the success status, so tests only spell out the
    // requests whose failure they are about.

    pub async fn register(&self, username: &str) -> TestUser {
        let email = format!("{username}@example.com");
        let body = json!({"username": username, "email": email, "password": PASSWORD});
        let pair = self.post(&Anonymous, "/auth/register", body).await.expect_status(201);
        TestUser {
            id: id_of(&pair["user"]),
            username: username.to_owned(),
            email,
            password: PASSWORD.to_owned(),
            access_token: str_of(&pair["access_token"]),
            refresh_token: str_of(&pair["refresh_token"]),
        }
    }

    pub async fn create_room(&self, user: &TestUser, name: &str, visibility: &str) -> Value {
        let body = json!({"name": name, "visibility": visibility});
        self.post(user, "/rooms", body).await.expect_status(201)
    }

    pub async fn room(&self, user: &TestUser, room_id: &str) -> Value {
        self.get(user, &format!("/rooms/{room_id}")).await.expect_status(200)
    }

    /// alice owns a public room, "general", that bob has joined.
    pub async fn room_of_two(&self) -> (TestUser, TestUser, String) {
        let alice = self.register("alice").await;
        let bob = self.register("bob").await;
        let room_id = id_of(&self.create_room(&alice, "general", "public").await);
        self.join(&bob, &room_id).await;
        (alice, bob, room_id)
    }

    pub async fn join(&self, user: &TestUser, room_id: &str) -> Value {
        let path = format!("/rooms/{room_id}/join");
        self.post(user, &path, json!({})).await.expect_status(200)
    }

    pub async fn add_member(&self, actor: &TestUser, room_id: &str, user: &TestUser) -> Value {
        let path = format!("/rooms/{room_id}/members");
        self.post(actor, &path, json!({"user_id": user.id})).await.expect_status(201)
    }

    pub async fn members(&self, user: &TestUser, room_id: &str) -> Vec<Value> {
        let page = self.get(user, &format!("/rooms/{room_id}/members")).await.expect_status(200);
        items(&page)
    }

    pub async fn open_dm(&self, user: &TestUser, other: &TestUser) -> Value {
        self.post(user, "/dms", json!({"user_id": other.id})).await.expect_status(200)
    }

    pub async fn post_message(&self, user: &TestUser, room_id: &str, content: &str) -> Value {
        let path = format!("/rooms/{room_id}/messages");
        self.post(user, &path, json!({"content": content})).await.expect_status(201)
    }

    /// `query` is appended as is, e.g. `"?before=10&limit=5"` or `""`.
    pub async fn history(&self, user: &TestUser, room_id: &str, query: &str) -> Value {
        let path = format!("/rooms/{room_id}/messages{query}");
        self.get(user, &path).await.expect_status(200)
    }

    /// A reply in `root_id`'s thread, over REST.
    pub async fn post_reply(&self, user: &TestUser, room_id: &str, root_id: &str, content: &str) -> Value {
        let body = json!({"content": content, "thread_root_id": root_id});
        self.post(user, &format!("/rooms/{room_id}/messages"), body).await.expect_status(201)
    }

    /// `PUT` (`added`) or `DELETE` of the user's reaction `emoji` to a message.
    pub async fn react(&self, user: &TestUser, room_id: &str, message_id: &str, emoji: &str, added: bool) -> Reply {
        let method = if added { Method::PUT } else { Method::DELETE };
        let path = format!("/rooms/{room_id}/messages/{message_id}/reactions/{}", query_value(emoji));
        self.request(method, &path, user, None).await
    }

    pub async fn last_seq(&self, user: &TestUser, room_id: &str) -> i64 {
        self.room(user, room_id).await["last_seq"].as_i64().expect("last_seq is an integer")
    }

    pub async fn notifications(&self, user: &TestUser, query: &str) -> Value {
        self.get(user, &format!("/notifications{query}")).await.expect_status(200)
    }

    /// All of the user's notifications once there are at least `count`: they may be written
    /// just after the message is acknowledged. Gives up after a few seconds and returns
    /// what there is, for the caller to assert on.
    pub async fn notifications_at_least(&self, user: &TestUser, count: usize) -> Vec<Value> {
        for _ in 0..50 {
            let found = items(&self.notifications(user, "").await);
            if found.len() >= count {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        items(&self.notifications(user, "").await)
    }
}

/// Who sends a request: a registered user, a raw token string, or nobody.
pub trait Caller {
    fn token(&self) -> Option<&str>;
}

pub struct Anonymous;

impl Caller for Anonymous {
    fn token(&self) -> Option<&str> {
        None
    }
}

impl Caller for str {
    fn token(&self) -> Option<&str> {
        Some(self)
    }
}

impl Caller for String {
    fn token(&self) -> Option<&str> {
        Some(self)
    }
}

#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub username: String,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl Caller for TestUser {
    fn token(&self) -> Option<&str> {
        Some(&self.access_token)
    }
}

/// Runs `statement` with `$1` bound to the UUID `id`, straight on the app's database (behind
/// the server's back, as an operator's SQL or a newer version's rows would).
pub async fn write_behind(app: &TestApp, statement: &str, id: &str) {
    use sqlx::Connection;
    let id = uuid::Uuid::parse_str(id).unwrap();
    let url = app.config.effective_database_url();
    let changed = if url.starts_with("sqlite:") {
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(statement).bind(id).execute(&mut db).await.unwrap().rows_affected()
    } else {
        let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(statement).bind(id).execute(&mut db).await.unwrap().rows_affected()
    };
    assert_eq!(changed, 1, "{statement} changed one row");
}
