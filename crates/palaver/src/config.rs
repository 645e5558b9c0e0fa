//! Settings: built-in defaults, then an optional TOML file, then `PALAVER_*` environment
//! variables (and the matching command-line flags, which clap reads from the same names).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP and WebSocket server listens on.
    pub bind: SocketAddr,
    /// Directory for the SQLite database, uploads and the generated secret.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; unset means SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Redis for fan-out across instances; unset means in-process fan-out.
    pub redis_url: Option<String>,
    /// HS256 secret for access tokens; unset means one generated and kept in `data_dir`.
    pub jwt_secret: Option<String>,
    /// tracing filter, e.g. `info` or `palaver=debug,info`.
    pub log: String,
    pub log_format: LogFormat,
    pub auth: AuthConfig,
    pub database: DatabaseConfig,
    pub limits: LimitsConfig,
    pub ws: WsConfig,
    pub uploads: UploadsConfig,
    pub llm: LlmConfig,
    pub mcp: McpConfig,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Lifetime of an access token, in seconds.
    pub access_ttl_secs: u64,
    /// Lifetime of a refresh token, in seconds.
    pub refresh_ttl_secs: u64,
    /// How long a login or registration waits for a free password hasher (there is one per
    /// core, as each argon2 hash takes 19 MiB) before answering 503 with `Retry-After`.
    pub hash_wait_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// PostgreSQL pool size, and the SQLite reader pool size.
    pub max_connections: u32,
    /// How long a request waits for a database connection before it answers 503: what a
    /// client waits, at most, to learn that the database is down.
    pub acquire_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest JSON request body, in bytes.
    pub json_body_bytes: usize,
    /// Register/login/refresh attempts per second per client address, on average ...
    pub auth_per_sec: f64,
    /// ... and in a burst; beyond that, 429 with `Retry-After`.
    pub auth_burst: f64,
    /// Reverse proxies whose `X-Forwarded-For` is believed: a request from one of them is
    /// counted against the client address in that header (the nearest hop that is not a
    /// trusted proxy itself). Empty: the header is ignored, every client behind a proxy
    /// shares the proxy's address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Message writes (posts, edits, deletes; REST and WebSocket share them) per second per
    /// user, on average ...
    pub writes_per_sec: f64,
    /// ... and in a burst; beyond that, 429 with `Retry-After` (an `error` frame with code
    /// `rate_limited` on the WebSocket).
    pub write_burst: f64,
    /// Time a client has to send a request's headers; also how long an idle keep-alive
    /// connection stays open. Slower connections are closed.
    pub header_read_timeout_ms: u64,
    /// Open connections (WebSockets included) at most; past that, new ones wait in the
    /// listen backlog. Lowered at start to fit the process's file descriptor limit.
    pub max_connections: usize,
    /// Largest request head (each header's name and value, plus 4 bytes per header);
    /// bigger ones get 431.
    pub max_header_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WsConfig {
    /// Largest client frame; bigger ones close the socket with 1009.
    pub max_frame_bytes: usize,
    /// Frames queued for one socket before it counts as a slow consumer (closed with 1013).
    pub outbox_frames: usize,
    /// Client frames per second a socket may send on average ...
    pub rate_per_sec: f64,
    /// ... and in a burst; past that it is closed with 1008.
    pub rate_burst: f64,
    /// Server pings this often; a socket silent for two intervals is dropped.
    pub ping_interval_secs: u64,
    /// Most room events replayed on subscribe with `since_seq`.
    pub replay_limit: i64,
    /// How long a user stays online after their last socket closed.
    pub presence_grace_ms: u64,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: 64 * 1024,
            outbox_frames: 1024,
            rate_per_sec: 50.0,
            rate_burst: 100.0,
            ping_interval_secs: 30,
            replay_limit: 10_000,
            presence_grace_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadsConfig {
    /// Largest file, in bytes; a bigger one is refused with 413 while it streams in.
    pub max_bytes: u64,
    /// Most pixels (width times height, read from the header before decoding); more is 422.
    pub max_pixels: u64,
    /// Lifetime of the signed URLs in attachments, in seconds.
    pub url_ttl_secs: u64,
    /// Uploads per minute per user; beyond that, 429 with `Retry-After`.
    pub per_minute: f64,
    /// Bytes a user may upload in any 24 hours; beyond that, 429 with `Retry-After`.
    pub bytes_per_day: u64,
    /// Threads that decode images and make thumbnails, at a low scheduling priority;
    /// 0 means half the cores (at least one).
    pub decoders: usize,
    /// Uploads received at once across the server. Each holds up to `max_bytes` in memory
    /// until it is stored; more wait, then get 503.
    pub max_in_flight: usize,
    /// Where the files live: `auto` (in PostgreSQL when the database is PostgreSQL, so
    /// every instance reaches them; else under the data dir), `local` or `database`.
    pub storage: BlobStorage,
    /// Seconds an upload may stay unattached to any message before it is deleted.
    pub unattached_ttl_secs: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BlobStorage {
    Auto,
    Local,
    Database,
}

impl Default for UploadsConfig {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            max_pixels: 40_000_000,
            url_ttl_secs: 3600,
            per_minute: 20.0,
            bytes_per_day: 1024 * 1024 * 1024,
            decoders: 0,
            max_in_flight: 8,
            storage: BlobStorage::Auto,
            unattached_ttl_secs: 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// An OpenAI-compatible API, e.g. `http://127.0.0.1:11434/v1` (Ollama); unset, the
    /// assistant's replies answer 503.
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub model: Option<String>,
    /// The system prompt every conversation starts with.
    pub system_prompt: String,
    /// The most tokens of history sent with a prompt (estimated at 4 characters a token);
    /// the oldest turns are left out first.
    pub max_prompt_tokens: u64,
    /// Seconds to wait for the upstream to accept a connection.
    pub connect_timeout_secs: u64,
    /// Seconds the upstream may send nothing mid-reply before the reply ends in `error`.
    pub stall_timeout_secs: u64,
    /// Rounds of tool calls one reply may make before it must answer.
    pub max_tool_rounds: u32,
    /// Replies one user may have running at once; beyond that, 429.
    pub max_running_per_user: u32,
    /// Messages per minute one user may send to the assistant; beyond that, 429.
    pub sends_per_minute: f64,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            api_key: None,
            model: None,
            system_prompt: "You are a helpful assistant in a team chat. Answer concisely.".into(),
            max_prompt_tokens: 8_000,
            connect_timeout_secs: 10,
            stall_timeout_secs: 60,
            max_tool_rounds: 8,
            max_running_per_user: 3,
            sends_per_minute: 20.0,
        }
    }
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

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            redis_url: None,
            jwt_secret: None,
            log: "info".into(),
            log_format: LogFormat::Text,
            auth: AuthConfig::default(),
            database: DatabaseConfig::default(),
            limits: LimitsConfig::default(),
            ws: WsConfig::default(),
            uploads: UploadsConfig::default(),
            llm: LlmConfig::default(),
            mcp: McpConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { access_ttl_secs: 15 * 60, refresh_ttl_secs: 30 * 24 * 3600, hash_wait_ms: 3_000 }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { max_connections: 10, acquire_timeout_ms: 3_000 }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        // Writes: far above a person typing (a message a second is fast) and above a bot
        // pasting a batch, far below a script flooding a room (thousands a second).
        Self {
            json_body_bytes: 64 * 1024,
            auth_per_sec: 1.0,
            auth_burst: 30.0,
            trusted_proxies: Vec::new(),
            writes_per_sec: 10.0,
            write_burst: 50.0,
            header_read_timeout_ms: 10_000,
            max_connections: 10_000,
            max_header_bytes: 16 * 1024,
        }
    }
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
    /// overflow) before anything starts, naming each as the user wrote it.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let mut rules = Rules::default();
        self.apply_rules(&mut rules);
        rules.finish()
    }

    /// One line per setting: a new setting adds its rule here.
    fn apply_rules(&self, rules: &mut Rules) {
        const TEN_YEARS_SECS: u64 = 10 * 366 * 24 * 3600;
        rules.check("jwt_secret", self.jwt_secret.as_ref().map_or(Ok(()), |s| min_chars(s, 16)));
        rules.check("database_url", self.database_url.as_deref().map_or(Ok(()), database_scheme));
        rules.check(
            "redis_url",
            self.redis_url.as_deref().map_or(Ok(()), |url| redis_url(url, &self.effective_database_url())),
        );
        rules.check("log", log_filter(&self.log));
        rules.check("auth.access_ttl_secs", between(self.auth.access_ttl_secs, 1, TEN_YEARS_SECS));
        rules.check("auth.refresh_ttl_secs", between(self.auth.refresh_ttl_secs, 1, TEN_YEARS_SECS));
        rules.check("auth.hash_wait_ms", between(self.auth.hash_wait_ms, 1, 60_000));
        rules.check("database.max_connections", positive(self.database.max_connections));
        rules.check("database.acquire_timeout_ms", between(self.database.acquire_timeout_ms, 1, 3_600_000));
        rules.check("limits.json_body_bytes", positive(self.limits.json_body_bytes));
        rules.check("limits.auth_per_sec", rate(self.limits.auth_per_sec));
        rules.check("limits.auth_burst", burst(self.limits.auth_burst));
        rules.check("limits.writes_per_sec", rate(self.limits.writes_per_sec));
        rules.check("limits.write_burst", burst(self.limits.write_burst));
        rules.check("limits.header_read_timeout_ms", between(self.limits.header_read_timeout_ms, 1, 3_600_000));
        rules.check("limits.max_connections", positive(self.limits.max_connections));
        // Below hyper's own buffer (about 400 KiB), so our 431 is the one clients get.
        rules.check("limits.max_header_bytes", between(self.limits.max_header_bytes, 1024, 256 * 1024));
        rules.check("ws.max_frame_bytes", positive(self.ws.max_frame_bytes));
        rules.check("ws.outbox_frames", positive(self.ws.outbox_frames));
        rules.check("ws.rate_per_sec", rate(self.ws.rate_per_sec));
        rules.check("ws.rate_burst", burst(self.ws.rate_burst));
        rules.check("ws.ping_interval_secs", between(self.ws.ping_interval_secs, 1, 24 * 3600));
        rules.check("ws.replay_limit", positive(self.ws.replay_limit));
        rules.check("ws.presence_grace_ms", between(self.ws.presence_grace_ms, 0, 3_600_000));
        // An upload is held in memory while it is checked: a gigabyte would be a mistake.
        rules.check("uploads.max_bytes", between(self.uploads.max_bytes, 1024, 1024 * 1024 * 1024));
        rules.check("uploads.max_pixels", between(self.uploads.max_pixels, 1, 1_000_000_000));
        rules.check("uploads.url_ttl_secs", between(self.uploads.url_ttl_secs, 60, TEN_YEARS_SECS));
        rules.check("uploads.per_minute", rate(self.uploads.per_minute).and(burst(self.uploads.per_minute)));
        rules.check("uploads.bytes_per_day", positive(self.uploads.bytes_per_day));
        rules.check("uploads.decoders", between(self.uploads.decoders, 0, 256));
        rules.check("uploads.max_in_flight", between(self.uploads.max_in_flight, 1, 10_000));
        rules.check("uploads.storage", blob_storage(self.uploads.storage, &self.effective_database_url()));
        rules.check("llm.base_url", self.llm.base_url.as_deref().map_or(Ok(()), http_url));
        rules.check("llm.model", llm_model(&self.llm));
        rules.check("llm.max_prompt_tokens", between(self.llm.max_prompt_tokens, 100, 10_000_000));
        rules.check("llm.connect_timeout_secs", between(self.llm.connect_timeout_secs, 1, 600));
        rules.check("llm.stall_timeout_secs", between(self.llm.stall_timeout_secs, 1, 3600));
        rules.check("llm.max_tool_rounds", between(self.llm.max_tool_rounds, 0, 100));
        rules.check("llm.max_running_per_user", between(self.llm.max_running_per_user, 1, 1000));
        rules.check("llm.sends_per_minute", rate(self.llm.sends_per_minute).and(burst(self.llm.sends_per_minute)));
        rules.check_file_only("mcp.servers", mcp_servers(&self.mcp.servers));
        rules.check("uploads.unattached_ttl_secs", between(self.uploads.unattached_ttl_secs, 60, TEN_YEARS_SECS));
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

/// Every setting, as a flag and as a `PALAVER_*` environment variable. Unset ones fall back
/// to the TOML file, then to the defaults shown.
#[derive(Debug, Clone, Default, Args)]
pub struct Settings {
    /// TOML file with the same settings (sections `[auth]`, `[database]`, `[limits]`, `[ws]`, `[uploads]`, `[llm]`, `[mcp]`)
    #[arg(long, env = "PALAVER_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Listen address [default: 127.0.0.1:8080; port 0 picks a free one]
    #[arg(long, env = "PALAVER_BIND", global = true)]
    pub bind: Option<SocketAddr>,
    /// Data directory: SQLite file, uploads, generated secret [default: ./data]
    #[arg(long, env = "PALAVER_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL, `sqlite://path` or `postgres://...` [default: SQLite in the data dir]
    #[arg(long, env = "PALAVER_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Database pool size [default: 10]
    #[arg(long, env = "PALAVER_DATABASE_MAX_CONNECTIONS", global = true)]
    pub database_max_connections: Option<u32>,
    /// Milliseconds to wait for a database connection before answering 503 [default: 3000]
    #[arg(long, env = "PALAVER_DATABASE_ACQUIRE_TIMEOUT_MS", global = true)]
    pub database_acquire_timeout_ms: Option<u64>,
    /// Redis URL for fan-out across instances [default: unset, in-process fan-out]
    #[arg(long, env = "PALAVER_REDIS_URL", global = true, hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Secret for signing access tokens [default: generated and kept in the data dir]
    #[arg(long, env = "PALAVER_JWT_SECRET", global = true, hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Access token lifetime in seconds [default: 900]
    #[arg(long, env = "PALAVER_AUTH_ACCESS_TTL_SECS", global = true)]
    pub auth_access_ttl_secs: Option<u64>,
    /// Refresh token lifetime in seconds [default: 2592000, 30 days]
    #[arg(long, env = "PALAVER_AUTH_REFRESH_TTL_SECS", global = true)]
    pub auth_refresh_ttl_secs: Option<u64>,
    /// Milliseconds a login or registration waits for a free password hasher before 503 [default: 3000]
    #[arg(long, env = "PALAVER_AUTH_HASH_WAIT_MS", global = true)]
    pub auth_hash_wait_ms: Option<u64>,
    /// Largest JSON request body in bytes [default: 65536]
    #[arg(long, env = "PALAVER_LIMITS_JSON_BODY_BYTES", global = true)]
    pub limits_json_body_bytes: Option<usize>,
    /// Register/login/refresh attempts per second per client address [default: 1]
    #[arg(long, env = "PALAVER_LIMITS_AUTH_PER_SEC", global = true)]
    pub limits_auth_per_sec: Option<f64>,
    /// Burst of register/login/refresh attempts per address before 429 [default: 30]
    #[arg(long, env = "PALAVER_LIMITS_AUTH_BURST", global = true)]
    pub limits_auth_burst: Option<f64>,
    /// Reverse proxies (IP addresses, comma-separated) whose X-Forwarded-For names the client for the auth rate limit [default: none]
    #[arg(long, env = "PALAVER_LIMITS_TRUSTED_PROXIES", global = true, value_delimiter = ',')]
    pub limits_trusted_proxies: Option<Vec<std::net::IpAddr>>,
    /// Message writes (posts, edits, deletes) per second per user, REST and WebSocket together [default: 10]
    #[arg(long, env = "PALAVER_LIMITS_WRITES_PER_SEC", global = true)]
    pub limits_writes_per_sec: Option<f64>,
    /// Burst of message writes per user before 429 [default: 50]
    #[arg(long, env = "PALAVER_LIMITS_WRITE_BURST", global = true)]
    pub limits_write_burst: Option<f64>,
    /// Milliseconds a client has to send request headers; also the keep-alive idle time [default: 10000]
    #[arg(long, env = "PALAVER_LIMITS_HEADER_READ_TIMEOUT_MS", global = true)]
    pub limits_header_read_timeout_ms: Option<u64>,
    /// Open connections at most, WebSockets included; more wait to be accepted [default: 10000]
    #[arg(long, env = "PALAVER_LIMITS_MAX_CONNECTIONS", global = true)]
    pub limits_max_connections: Option<usize>,
    /// Largest request head in bytes; bigger ones get 431 [default: 16384]
    #[arg(long, env = "PALAVER_LIMITS_MAX_HEADER_BYTES", global = true)]
    pub limits_max_header_bytes: Option<usize>,
    /// Largest WebSocket frame from a client in bytes [default: 65536]
    #[arg(long, env = "PALAVER_WS_MAX_FRAME_BYTES", global = true)]
    pub ws_max_frame_bytes: Option<usize>,
    /// Frames queued per socket before it is cut off as a slow consumer [default: 1024]
    #[arg(long, env = "PALAVER_WS_OUTBOX_FRAMES", global = true)]
    pub ws_outbox_frames: Option<usize>,
    /// Average client frames per second per socket [default: 50]
    #[arg(long, env = "PALAVER_WS_RATE_PER_SEC", global = true)]
    pub ws_rate_per_sec: Option<f64>,
    /// Burst of client frames per socket before it is closed with 1008 [default: 100]
    #[arg(long, env = "PALAVER_WS_RATE_BURST", global = true)]
    pub ws_rate_burst: Option<f64>,
    /// Seconds between server pings; two silent intervals drop the socket [default: 30]
    #[arg(long, env = "PALAVER_WS_PING_INTERVAL_SECS", global = true)]
    pub ws_ping_interval_secs: Option<u64>,
    /// Most events replayed on subscribe with since_seq [default: 10000]
    #[arg(long, env = "PALAVER_WS_REPLAY_LIMIT", global = true)]
    pub ws_replay_limit: Option<i64>,
    /// Milliseconds a user stays online after their last socket closed [default: 5000]
    #[arg(long, env = "PALAVER_WS_PRESENCE_GRACE_MS", global = true)]
    pub ws_presence_grace_ms: Option<u64>,
    /// Largest uploaded file in bytes; bigger ones get 413 [default: 10485760]
    #[arg(long, env = "PALAVER_UPLOADS_MAX_BYTES", global = true)]
    pub uploads_max_bytes: Option<u64>,
    /// Most pixels an uploaded image may have (read from its header) [default: 40000000]
    #[arg(long, env = "PALAVER_UPLOADS_MAX_PIXELS", global = true)]
    pub uploads_max_pixels: Option<u64>,
    /// Seconds the signed URLs of attachments stay valid [default: 3600]
    #[arg(long, env = "PALAVER_UPLOADS_URL_TTL_SECS", global = true)]
    pub uploads_url_ttl_secs: Option<u64>,
    /// Uploads per minute per user before 429 [default: 20]
    #[arg(long, env = "PALAVER_UPLOADS_PER_MINUTE", global = true)]
    pub uploads_per_minute: Option<f64>,
    /// Bytes a user may upload in any 24 hours before 429 [default: 1073741824]
    #[arg(long, env = "PALAVER_UPLOADS_BYTES_PER_DAY", global = true)]
    pub uploads_bytes_per_day: Option<u64>,
    /// Image decoder threads, at low priority; 0 = half the cores [default: 0]
    #[arg(long, env = "PALAVER_UPLOADS_DECODERS", global = true)]
    pub uploads_decoders: Option<usize>,
    /// Uploads received at once, each held in memory up to max_bytes; more wait, then 503 [default: 8]
    #[arg(long, env = "PALAVER_UPLOADS_MAX_IN_FLIGHT", global = true)]
    pub uploads_max_in_flight: Option<usize>,
    /// Where uploaded files live: auto (PostgreSQL if the database is, else the data dir), local, database [default: auto]
    #[arg(long, env = "PALAVER_UPLOADS_STORAGE", global = true, value_enum)]
    pub uploads_storage: Option<BlobStorage>,
    /// Seconds an upload may stay unattached before it is deleted [default: 86400]
    #[arg(long, env = "PALAVER_UPLOADS_UNATTACHED_TTL_SECS", global = true)]
    pub uploads_unattached_ttl_secs: Option<u64>,
    /// OpenAI-compatible endpoint for the assistant [default: unset, assistant answers 503]
    #[arg(long, env = "PALAVER_LLM_BASE_URL", global = true)]
    pub llm_base_url: Option<String>,
    /// API key for the LLM endpoint [default: unset]
    #[arg(long, env = "PALAVER_LLM_API_KEY", global = true, hide_env_values = true)]
    pub llm_api_key: Option<String>,
    /// Model name for the assistant [default: unset]
    #[arg(long, env = "PALAVER_LLM_MODEL", global = true)]
    pub llm_model: Option<String>,
    /// The assistant's system prompt [default: a short one for a team chat]
    #[arg(long, env = "PALAVER_LLM_SYSTEM_PROMPT", global = true)]
    pub llm_system_prompt: Option<String>,
    /// Most tokens of history sent with a prompt, oldest turns dropped first [default: 8000]
    #[arg(long, env = "PALAVER_LLM_MAX_PROMPT_TOKENS", global = true)]
    pub llm_max_prompt_tokens: Option<u64>,
    /// Seconds to wait for the LLM endpoint to accept a connection [default: 10]
    #[arg(long, env = "PALAVER_LLM_CONNECT_TIMEOUT_SECS", global = true)]
    pub llm_connect_timeout_secs: Option<u64>,
    /// Seconds the LLM may send nothing mid-reply before the reply fails [default: 60]
    #[arg(long, env = "PALAVER_LLM_STALL_TIMEOUT_SECS", global = true)]
    pub llm_stall_timeout_secs: Option<u64>,
    /// Rounds of tool calls one reply may make [default: 8]
    #[arg(long, env = "PALAVER_LLM_MAX_TOOL_ROUNDS", global = true)]
    pub llm_max_tool_rounds: Option<u32>,
    /// Assistant replies one user may have running at once [default: 3]
    #[arg(long, env = "PALAVER_LLM_MAX_RUNNING_PER_USER", global = true)]
    pub llm_max_running_per_user: Option<u32>,
    /// Messages per minute one user may send to the assistant [default: 20]
    #[arg(long, env = "PALAVER_LLM_SENDS_PER_MINUTE", global = true)]
    pub llm_sends_per_minute: Option<f64>,
    /// Log filter in tracing's syntax [default: info]
    #[arg(long, env = "PALAVER_LOG", global = true)]
    pub log: Option<String>,
    /// Log format [default: text]
    #[arg(long, env = "PALAVER_LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormat>,
}

impl Settings {
    /// The explicitly given settings as a partial document for figment to merge on top.
    fn overrides(&self) -> serde_json::Value {
        use serde_json::{Map, Value, json};
        let mut root = Map::new();
        let mut put = |section: Option<&str>, key: &str, value: Option<Value>| {
            let Some(value) = value else { return };
            let target = match section {
                None => &mut root,
                Some(s) => root
                    .entry(s)
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
                    .expect("sections are objects"),
            };
            target.insert(key.to_owned(), value);
        };
        put(None, "bind", self.bind.map(|v| json!(v.to_string())));
        put(None, "data_dir", self.data_dir.as_ref().map(|v| json!(v)));
        put(None, "database_url", self.database_url.as_ref().map(|v| json!(v)));
        put(None, "redis_url", self.redis_url.as_ref().map(|v| json!(v)));
        put(None, "jwt_secret", self.jwt_secret.as_ref().map(|v| json!(v)));
        put(None, "log", self.log.as_ref().map(|v| json!(v)));
        put(None, "log_format", self.log_format.map(|v| json!(v)));
        put(Some("database"), "max_connections", self.database_max_connections.map(|v| json!(v)));
        put(Some("database"), "acquire_timeout_ms", self.database_acquire_timeout_ms.map(|v| json!(v)));
        put(Some("auth"), "access_ttl_secs", self.auth_access_ttl_secs.map(|v| json!(v)));
        put(Some("auth"), "refresh_ttl_secs", self.auth_refresh_ttl_secs.map(|v| json!(v)));
        put(Some("auth"), "hash_wait_ms", self.auth_hash_wait_ms.map(|v| json!(v)));
        put(Some("limits"), "json_body_bytes", self.limits_json_body_bytes.map(|v| json!(v)));
        put(Some("limits"), "auth_per_sec", self.limits_auth_per_sec.map(|v| json!(v)));
        put(Some("limits"), "auth_burst", self.limits_auth_burst.map(|v| json!(v)));
        put(Some("limits"), "trusted_proxies", self.limits_trusted_proxies.as_ref().map(|v| json!(v)));
        put(Some("limits"), "writes_per_sec", self.limits_writes_per_sec.map(|v| json!(v)));
        put(Some("limits"), "write_burst", self.limits_write_burst.map(|v| json!(v)));
        put(Some("limits"), "header_read_timeout_ms", self.limits_header_read_timeout_ms.map(|v| json!(v)));
        put(Some("limits"), "max_connections", self.limits_max_connections.map(|v| json!(v)));
        put(Some("limits"), "max_header_bytes", self.limits_max_header_bytes.map(|v| json!(v)));
        put(Some("ws"), "max_frame_bytes", self.ws_max_frame_bytes.map(|v| json!(v)));
        put(Some("ws"), "outbox_frames", self.ws_outbox_frames.map(|v| json!(v)));
        put(Some("ws"), "rate_per_sec", self.ws_rate_per_sec.map(|v| json!(v)));
        put(Some("ws"), "rate_burst", self.ws_rate_burst.map(|v| json!(v)));
        put(Some("ws"), "ping_interval_secs", self.ws_ping_interval_secs.map(|v| json!(v)));
        put(Some("ws"), "replay_limit", self.ws_replay_limit.map(|v| json!(v)));
        put(Some("ws"), "presence_grace_ms", self.ws_presence_grace_ms.map(|v| json!(v)));
        put(Some("uploads"), "max_bytes", self.uploads_max_bytes.map(|v| json!(v)));
        put(Some("uploads"), "max_pixels", self.uploads_max_pixels.map(|v| json!(v)));
        put(Some("uploads"), "url_ttl_secs", self.uploads_url_ttl_secs.map(|v| json!(v)));
        put(Some("uploads"), "per_minute", self.uploads_per_minute.map(|v| json!(v)));
        put(Some("uploads"), "bytes_per_day", self.uploads_bytes_per_day.map(|v| json!(v)));
        put(Some("uploads"), "decoders", self.uploads_decoders.map(|v| json!(v)));
        put(Some("uploads"), "max_in_flight", self.uploads_max_in_flight.map(|v| json!(v)));
        put(Some("uploads"), "storage", self.uploads_storage.map(|v| json!(v)));
        put(Some("uploads"), "unattached_ttl_secs", self.uploads_unattached_ttl_secs.map(|v| json!(v)));
        put(Some("llm"), "base_url", self.llm_base_url.as_ref().map(|v| json!(v)));
        put(Some("llm"), "api_key", self.llm_api_key.as_ref().map(|v| json!(v)));
        put(Some("llm"), "model", self.llm_model.as_ref().map(|v| json!(v)));
        put(Some("llm"), "system_prompt", self.llm_system_prompt.as_ref().map(|v| json!(v)));
        put(Some("llm"), "max_prompt_tokens", self.llm_max_prompt_tokens.map(|v| json!(v)));
        put(Some("llm"), "connect_timeout_secs", self.llm_connect_timeout_secs.map(|v| json!(v)));
        put(Some("llm"), "stall_timeout_secs", self.llm_stall_timeout_secs.map(|v| json!(v)));
        put(Some("llm"), "max_tool_rounds", self.llm_max_tool_rounds.map(|v| json!(v)));
        put(Some("llm"), "max_running_per_user", self.llm_max_running_per_user.map(|v| json!(v)));
        put(Some("llm"), "sends_per_minute", self.llm_sends_per_minute.map(|v| json!(v)));
        Value::Object(root)
    }
}

/// Settings that cannot work, each named as the user wrote it.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {}", .0.join("; "))]
pub struct InvalidConfig(pub Vec<String>);

/// Collects every broken setting, so an operator fixes them all in one go.
#[derive(Default)]
struct Rules {
    problems: Vec<String>,
    #[cfg(test)]
    checked: Vec<&'static str>,
}

impl Rules {
    /// `key` is the TOML key (`section.name`); its `PALAVER_*` variable is derived from it.
    fn check(&mut self, key: &'static str, verdict: Result<(), String>) {
        #[cfg(test)]
        self.checked.push(key);
        if let Err(rule) = verdict {
            self.problems.push(format!("{key} ({}) {rule}", env_var(key)));
        }
    }

    /// A setting only the TOML file holds (no variable names it).
    fn check_file_only(&mut self, key: &'static str, verdict: Result<(), String>) {
        if let Err(rule) = verdict {
            self.problems.push(format!("{key} {rule}"));
        }
    }

    fn finish(self) -> Result<(), InvalidConfig> {
        if self.problems.is_empty() { Ok(()) } else { Err(InvalidConfig(self.problems)) }
    }
}

/// `ws.rate_per_sec` is set by `PALAVER_WS_RATE_PER_SEC` (and `--ws-rate-per-sec`).
fn env_var(key: &str) -> String {
    format!("PALAVER_{}", key.replace('.', "_").to_ascii_uppercase())
}

fn positive<T: PartialOrd + Default>(value: T) -> Result<(), String> {
    if value > T::default() { Ok(()) } else { Err("must be greater than 0".into()) }
}

fn between<T: PartialOrd + std::fmt::Display>(value: T, min: T, max: T) -> Result<(), String> {
    if min <= value && value <= max { Ok(()) } else { Err(format!("must be between {min} and {max}")) }
}

/// Tokens per second for a rate limit.
fn rate(value: f64) -> Result<(), String> {
    if value.is_finite() && value > 0.0 { Ok(()) } else { Err("must be greater than 0".into()) }
}

/// A bucket that holds less than one token would never let anything through.
fn burst(value: f64) -> Result<(), String> {
    if value.is_finite() && value >= 1.0 { Ok(()) } else { Err("must be at least 1".into()) }
}

fn min_chars(value: &str, min: usize) -> Result<(), String> {
    if value.chars().count() >= min { Ok(()) } else { Err(format!("must be at least {min} characters")) }
}

fn database_scheme(url: &str) -> Result<(), String> {
    let known = ["sqlite:", "postgres:", "postgresql:"].iter().any(|scheme| url.starts_with(scheme));
    if known { Ok(()) } else { Err("must start with sqlite:, postgres: or postgresql:".into()) }
}

/// MCP servers: tools reach the model as `<name>__<tool>`, so names must be short, plain
/// and distinct; each server is either a command (stdio) or a URL (streamable HTTP).
fn mcp_servers(servers: &[McpServerConfig]) -> Result<(), String> {
    let mut problems = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let name = &server.name;
        let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if name.is_empty() || name.len() > 32 || !plain || name.contains("__") {
            problems.push(format!("[{i}] name {name:?} must be 1 to 32 of A-Z a-z 0-9 _ - without \"__\""));
        }
        if servers[..i].iter().any(|other| other.name == *name) {
            problems.push(format!("[{i}] name {name:?} is used twice"));
        }
        if server.command.is_some() == server.url.is_some() {
            problems.push(format!("[{i}] {name:?} needs exactly one of command (stdio) and url (streamable HTTP)"));
        }
        if let Some(url) = &server.url
            && http_url(url).is_err()
        {
            problems.push(format!("[{i}] {name:?} url must start with http:// or https://"));
        }
        if !(1..=3600).contains(&server.timeout_secs) {
            problems.push(format!("[{i}] {name:?} timeout_secs must be between 1 and 3600"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join(", ")) }
}

fn http_url(url: &str) -> Result<(), String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err("must start with http:// or https://".into())
    }
}

/// A base URL needs a model to ask for.
fn llm_model(llm: &LlmConfig) -> Result<(), String> {
    match (&llm.base_url, llm.model.as_deref().map(str::trim)) {
        (Some(_), None | Some("")) => Err("must be set when llm.base_url is".into()),
        _ => Ok(()),
    }
}

/// Blobs in the database need the database to be PostgreSQL.
/// Instances that share Redis must share their database: SQLite is one process's file.
fn redis_url(url: &str, database_url: &str) -> Result<(), String> {
    let postgres = database_url.starts_with("postgres:") || database_url.starts_with("postgresql:");
    if !postgres {
        return Err("needs a PostgreSQL database_url: instances sharing Redis share one database".into());
    }
    redis::Client::open(url).map(drop).map_err(|e| format!("is not a Redis URL this build can use ({e})"))
}

fn blob_storage(storage: BlobStorage, database_url: &str) -> Result<(), String> {
    let postgres = database_url.starts_with("postgres:") || database_url.starts_with("postgresql:");
    if storage == BlobStorage::Database && !postgres {
        Err("can be `database` only when the database is PostgreSQL".into())
    } else {
        Ok(())
    }
}

fn log_filter(filter: &str) -> Result<(), String> {
    tracing_subscriber::EnvFilter::try_new(filter).map(drop).map_err(|e| format!("is not a log filter ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_budget_is_checked_at_start() {
        let cases = [
            (Settings { limits_writes_per_sec: Some(0.0), ..Settings::default() }, "limits.writes_per_sec"),
            (Settings { limits_writes_per_sec: Some(-1.0), ..Settings::default() }, "limits.writes_per_sec"),
            (Settings { limits_write_burst: Some(0.5), ..Settings::default() }, "limits.write_burst"),
        ];
        for (settings, named) in cases {
            let config = Config::load(&settings).expect("the settings parse");
            let error = config.validate().expect_err("an unusable budget is refused").to_string();
            assert!(error.contains(named), "the error names {named}: {error}");
        }
    }

    #[test]
    fn mcp_servers_are_checked_at_start() {
        let server = |name: &str, command: Option<&str>, url: Option<&str>| McpServerConfig {
            name: name.into(),
            command: command.map(Into::into),
            args: vec![],
            env: Default::default(),
            url: url.map(Into::into),
            timeout_secs: 30,
        };
        let mut config = Config::default();
        config.mcp.servers =
            vec![server("everything", Some("npx"), None), server("remote", None, Some("http://h/mcp"))];
        config.validate().unwrap();
        config.mcp.servers = vec![
            server("a__b", Some("x"), None),
            server("dup", Some("x"), None),
            server("dup", None, None),
            server("both", Some("x"), Some("http://h")),
            server("ftp", None, Some("ftp://h")),
        ];
        let error = config.validate().unwrap_err().to_string();
        for expected in
            ["\"a__b\"", "used twice", "\"dup\" needs exactly one", "\"both\" needs exactly one", "\"ftp\" url"]
        {
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }

    #[test]
    fn redis_is_for_instances_that_share_postgres() {
        let mut config = Config { redis_url: Some("redis://127.0.0.1:6379".into()), ..Config::default() };
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("redis_url (PALAVER_REDIS_URL) needs a PostgreSQL database_url"), "{error}");
        config.database_url = Some("postgres://postgres@127.0.0.1/test".into());
        config.validate().unwrap();
        config.redis_url = Some("http://127.0.0.1:6379".into());
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("redis_url (PALAVER_REDIS_URL) is not a Redis URL"), "{error}");
    }

    #[test]
    fn trusted_proxies_come_from_the_command_line_or_the_environment() {
        use clap::{Args, Command, FromArgMatches};
        let command = Settings::augment_args(Command::new("palaver"));
        let matches = command.try_get_matches_from(["palaver", "--limits-trusted-proxies", "127.0.0.1,::1"]).unwrap();
        let settings = Settings::from_arg_matches(&matches).unwrap();
        let config = Config::load(&settings).unwrap();
        let expected: Vec<std::net::IpAddr> = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
        assert_eq!(config.limits.trusted_proxies, expected);
    }

    #[test]
    fn the_defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn a_zero_is_refused_with_the_setting_as_the_user_wrote_it() {
        let mut config = Config::default();
        config.ws.rate_per_sec = 0.0;
        config.database.max_connections = 0;
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("ws.rate_per_sec (PALAVER_WS_RATE_PER_SEC) must be"), "{error}");
        assert!(error.contains("database.max_connections (PALAVER_DATABASE_MAX_CONNECTIONS) must be"), "{error}");
    }

    #[test]
    fn every_checked_setting_names_a_variable_that_exists() {
        use clap::{Args, Command};
        let command = Settings::augment_args(Command::new("palaver"));
        let variables: Vec<String> =
            command.get_arguments().filter_map(|a| a.get_env()).map(|e| e.to_string_lossy().into_owned()).collect();
        let mut rules = Rules::default();
        Config::default().apply_rules(&mut rules);
        assert!(rules.checked.len() > 10);
        for key in rules.checked {
            assert!(variables.contains(&env_var(key)), "{key}: no {} in Settings", env_var(key));
        }
    }
}
