//! Settings: built-in defaults, then an optional TOML file, then `PALAVER_*` environment
//! variables (and the matching command-line flags, which clap reads from the same names).
//!
//! Each setting is declared once, in the `settings!` table below: its TOML key, type,
//! default, rule and doc. The section structs, `--help`, the variables, validation and the
//! table in docs/configuration.md are all derived from it. `ws.rate_per_sec` is the key
//! `rate_per_sec` of the TOML table `[ws]`, the variable `PALAVER_WS_RATE_PER_SEC` and the
//! flag `--ws-rate-per-sec`.

mod declare;
#[cfg(test)]
mod docs;
mod rules;
mod settings;
mod value;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use declare::{Setting, Visit, env_var, settings};
use rules::{
    Rule, any, between, blob_storage, burst, database_scheme, http_url, llm_model, log_filter, mcp_servers, min_chars,
    optional, positive, rate, rate_and_burst, redis_url,
};
pub use settings::Settings;
use value::Value;

const TEN_YEARS_SECS: u64 = 10 * 366 * 24 * 3600;

settings! {
    top {
        /// Listen address; port 0 picks a free one.
        ///
        /// The server prints `listening on http://...` once it listens.
        bind: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080)), any();
        /// Data directory: SQLite file, uploads, generated secret.
        ///
        /// Uploads are under `uploads/` unless they are stored in PostgreSQL. Private to the
        /// server's user whatever the umask (directory 0700, files 0600, tightened at every
        /// start), as is a SQLite file elsewhere with its `-wal` and `-shm`.
        data_dir: PathBuf = PathBuf::from("./data"), any();
        /// Database URL, `sqlite://path` or `postgres://user@host:5432/db`; unset means SQLite
        /// at `<data_dir>/palaver.db`.
        database_url: Option<String> = None, optional(database_scheme()), secret;
        /// Redis shared by instances on one PostgreSQL database; unset means in-process
        /// fan-out.
        ///
        /// Carries fan-out, presence, rate limits and the assistant across instances (see
        /// [deployment.md](deployment.md)); `redis://[:password@]host:port[/db]`.
        redis_url: Option<String> = None, redis_url(), secret;
        /// HS256 secret for signing access tokens; unset means one generated and kept in
        /// `<data_dir>/secret`.
        jwt_secret: Option<String> = None, optional(min_chars(16)), secret;
        /// Log filter in tracing's syntax, e.g. `palaver=debug,info`.
        log: String = "info".to_owned(), log_filter();
        /// Log format, `text` or `json` (logs go to stderr).
        log_format: LogFormat = LogFormat::Text, any();
    }

    /// Accounts: token lifetimes, the password-hashing wait.
    [auth] AuthConfig {
        /// Access token lifetime in seconds.
        access_ttl_secs: u64 = 15 * 60, between(1, TEN_YEARS_SECS);
        /// Refresh token lifetime in seconds.
        refresh_ttl_secs: u64 = 30 * 24 * 3600, between(1, TEN_YEARS_SECS);
        /// Milliseconds a login or registration waits for a free password hasher before 503
        /// with `Retry-After`.
        ///
        /// There is one hasher per core, as each argon2 hash takes 19 MiB.
        hash_wait_ms: u64 = 3_000, between(1, 60_000);
    }

    /// The database pool.
    [database] DatabaseConfig {
        /// PostgreSQL pool size; SQLite reader pool size.
        max_connections: u32 = 10, positive();
        /// Milliseconds a request waits for a database connection before it answers 503 with
        /// `Retry-After`.
        ///
        /// The longest a client waits to learn the database is down.
        acquire_timeout_ms: u64 = 3_000, between(1, 3_600_000);
    }

    /// Request sizes, connections and the auth and write budgets.
    [limits] LimitsConfig {
        /// Largest JSON request body in bytes; 413 beyond.
        json_body_bytes: usize = 64 * 1024, positive();
        /// Register/login/refresh attempts per second per client address.
        auth_per_sec: f64 = 1.0, rate();
        /// Burst of register/login/refresh attempts per address before 429 with
        /// `Retry-After`.
        ///
        /// Behind a proxy all clients share one address, unless it is trusted (next setting).
        auth_burst: f64 = 30.0, burst();
        /// Reverse proxies (IP addresses, comma-separated) whose `X-Forwarded-For` names the
        /// client for the auth rate limit.
        ///
        /// A list in TOML. The client is the nearest hop that is not itself trusted. Only list
        /// proxies that set the header themselves, or clients could pick their own address.
        trusted_proxies: Vec<IpAddr> = Vec::new(), any();
        // Writes: far above a person typing (a message a second is fast) and above a bot
        // pasting a batch, far below a script flooding a room (thousands a second).
        /// Message writes (posts, edits, deletes) per second per user, REST and WebSocket
        /// `send` drawing on one budget.
        writes_per_sec: f64 = 10.0, rate();
        /// Burst of message writes per user before 429 with `Retry-After`.
        ///
        /// On the WebSocket, an `error` frame with code `rate_limited` (the socket stays open).
        write_burst: f64 = 50.0, burst();
        /// Milliseconds a client has to send a request's headers; also how long an idle
        /// keep-alive connection stays open.
        header_read_timeout_ms: u64 = 10_000, between(1, 3_600_000);
        /// Open connections at most, WebSockets included; more wait in the listen backlog.
        ///
        /// Lowered at start to fit the file descriptor limit (the server raises its soft limit
        /// to the hard one).
        max_connections: usize = 10_000, positive();
        // Below hyper's own buffer (about 400 KiB), so our 431 is the one clients get.
        /// Largest request head in bytes (names and values, plus 4 bytes per header, at most
        /// 100 headers); 431 beyond.
        max_header_bytes: usize = 16 * 1024, between(1024, 256 * 1024);
    }

    /// WebSocket sessions.
    [ws] WsConfig {
        /// Largest WebSocket frame from a client in bytes; close 1009 beyond.
        max_frame_bytes: usize = 64 * 1024, positive();
        /// Frames queued per socket before it is cut off as a slow consumer (1013).
        ///
        /// A queue costs memory only while it holds frames, and the frames are shared with the
        /// room's other subscribers.
        outbox_frames: usize = 1024, positive();
        /// Average client frames per second per socket.
        rate_per_sec: f64 = 50.0, rate();
        /// Burst of client frames per socket before it is closed with 1008.
        rate_burst: f64 = 100.0, burst();
        /// Seconds between server pings; two silent intervals drop the socket.
        ping_interval_secs: u64 = 30, between(1, 24 * 3600);
        /// Seconds a socket cut off as too slow (1013) gets to read its close frame before it
        /// is dropped; it holds no queue meanwhile.
        slow_close_secs: u64 = 10, between(1, 600);
        /// Most events replayed on `subscribe` with `since_seq`.
        replay_limit: i64 = 10_000, positive();
        /// Milliseconds a user stays online after their last socket closed.
        presence_grace_ms: u64 = 5_000, between(0, 3_600_000);
    }

    /// Uploaded files; see uploads.md.
    [uploads] UploadsConfig {
        // An upload is held in memory while it is checked: a gigabyte would be a mistake.
        /// Largest uploaded file in bytes; 413 beyond, decided while the body streams in.
        max_bytes: u64 = 10 * 1024 * 1024, between(1024, 1024 * 1024 * 1024);
        /// Most pixels an uploaded image may have (width x height, read from its header
        /// before decoding); 422 beyond.
        max_pixels: u64 = 40_000_000, between(1, 1_000_000_000);
        /// Seconds the signed URLs of attachments stay valid.
        url_ttl_secs: u64 = 3600, between(60, TEN_YEARS_SECS);
        /// Uploads per minute per user; 429 with `Retry-After` beyond.
        per_minute: f64 = 20.0, rate_and_burst();
        /// Bytes a user may upload in any 24 hours; 429 with `Retry-After` beyond.
        bytes_per_day: u64 = 1024 * 1024 * 1024, positive();
        /// Image decoder threads, at a lowered priority; 0 means half the cores (at least one).
        decoders: usize = 0, between(0, 256);
        /// Uploads received and checked at once, each held in memory up to `max_bytes`; more
        /// wait up to 10 s, then 503.
        max_in_flight: usize = 8, between(1, 10_000);
        /// Where uploaded files live: `auto` (PostgreSQL when the database is, else the data
        /// dir), `local` or `database`.
        ///
        /// In PostgreSQL every instance reaches them.
        storage: BlobStorage = BlobStorage::Auto, blob_storage();
        /// Seconds an upload may stay unattached to any message before the sweep deletes it.
        unattached_ttl_secs: u64 = 24 * 3600, between(60, TEN_YEARS_SECS);
    }

    /// The assistant; see assistant.md.
    [llm] LlmConfig {
        /// An OpenAI-compatible endpoint for the assistant, e.g. `http://127.0.0.1:11434/v1`
        /// (Ollama); unset, the assistant's replies answer 503 ([assistant.md](assistant.md)).
        base_url: Option<String> = None, optional(http_url());
        /// API key for the LLM endpoint, sent as `Authorization: Bearer`.
        api_key: Option<String> = None, any(), secret;
        /// Model name for the assistant.
        model: Option<String> = None, llm_model();
        /// The system prompt every conversation starts with.
        system_prompt: String = "You are a helpful assistant in a team chat. Answer concisely.".to_owned(), any();
        /// Most tokens of history sent with a prompt (estimated at 4 characters a token),
        /// oldest turns dropped first.
        max_prompt_tokens: u64 = 8_000, between(100, 10_000_000);
        /// Seconds to wait for the LLM endpoint to accept a connection.
        connect_timeout_secs: u64 = 10, between(1, 600);
        /// Seconds the LLM endpoint may send nothing mid-reply before the reply ends as
        /// `error`.
        stall_timeout_secs: u64 = 60, between(1, 3600);
        /// Rounds of tool calls one reply may make; the last round offers no tools.
        max_tool_rounds: u32 = 8, between(0, 100);
        /// Assistant replies one user may have running at once; 429 beyond.
        max_running_per_user: u32 = 3, between(1, 1000);
        /// Messages per minute one user may send to the assistant; 429 beyond.
        sends_per_minute: f64 = 20.0, rate_and_burst();
    }

    file_only {
        /// The assistant's tool servers.
        mcp: McpConfig,
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BlobStorage {
    Auto,
    Local,
    Database,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpConfig {
    pub servers: Vec<McpServerConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    pub name: String,
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    pub url: Option<String>,
    #[serde(default = "default_mcp_timeout")]
    pub timeout_secs: u64,
}

fn default_mcp_timeout() -> u64 {
    30
}

impl Config {
    /// The database URL in effect: the configured one, or SQLite inside `data_dir`.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("palaver.db").display()),
        }
    }

    /// Refuses settings that cannot work (a rate of 0, an empty pool, a timer that would
    /// overflow) before anything starts, naming each as the user wrote it, all in one go.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let mut checks = Checks { config: self, problems: Vec::new() };
        self.visit(&mut checks);
        let mut problems = checks.problems;
        if let Err(rule) = mcp_servers(&self.mcp.servers) {
            problems.push(format!("mcp.servers {rule}"));
        }
        if problems.is_empty() { Ok(()) } else { Err(InvalidConfig(problems)) }
    }

    pub fn load(settings: &Settings) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = &settings.config {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Serialized::defaults(settings.overrides()));
        figment.extract().map_err(Box::new)
    }
}

/// Settings that cannot work, each named as the user wrote it.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {}", .0.join("; "))]
pub struct InvalidConfig(pub Vec<String>);

struct Checks<'a> {
    config: &'a Config,
    problems: Vec<String>,
}

impl Visit for Checks<'_> {
    fn setting<T: Value>(&mut self, setting: &Setting, value: &T, rule: Rule<T>) {
        if let Err(rule) = (rule.check)(value, self.config) {
            self.problems.push(format!("{} ({}) {rule}", setting.key, env_var(setting.key)));
        }
    }
}

#[cfg(test)]
mod tests;
