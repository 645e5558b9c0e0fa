//! What each setting accepts: checked before anything starts, and described in
//! docs/configuration.md.

use std::fmt::Display;

use super::{BlobStorage, Config, McpServerConfig};

type Check<T> = Box<dyn Fn(&T, &Config) -> Result<(), String>>;

/// A setting's rule: `check` answers `Err("must be ...")` for a value that cannot work
/// (other settings at hand, for the rules that depend on them); `accepts` says, for the
/// docs, what can.
pub(super) struct Rule<T> {
    pub accepts: String,
    pub check: Check<T>,
}

impl<T: 'static> Rule<T> {
    fn new(accepts: impl Into<String>, check: impl Fn(&T, &Config) -> Result<(), String> + 'static) -> Self {
        Self { accepts: accepts.into(), check: Box::new(check) }
    }
}

pub(super) fn any<T: 'static>() -> Rule<T> {
    Rule::new("", |_, _| Ok(()))
}

/// The rule applied to the value when there is one; unset is always fine.
pub(super) fn optional<T: 'static>(rule: Rule<T>) -> Rule<Option<T>> {
    Rule::new(rule.accepts, move |value: &Option<T>, config| value.as_ref().map_or(Ok(()), |v| (rule.check)(v, config)))
}

pub(super) fn positive<T: PartialOrd + Default + 'static>() -> Rule<T> {
    Rule::new("> 0", |value: &T, _| if *value > T::default() { Ok(()) } else { Err("must be greater than 0".into()) })
}

pub(super) fn between<T: PartialOrd + Display + 'static>(min: T, max: T) -> Rule<T> {
    Rule::new(format!("{min} to {max}"), move |value: &T, _| {
        if min <= *value && *value <= max { Ok(()) } else { Err(format!("must be between {min} and {max}")) }
    })
}

/// Tokens per second for a rate limit.
pub(super) fn rate() -> Rule<f64> {
    Rule::new(
        "> 0",
        |value: &f64, _| {
            if value.is_finite() && *value > 0.0 { Ok(()) } else { Err("must be greater than 0".into()) }
        },
    )
}

/// A bucket that holds less than one token would never let anything through.
pub(super) fn burst() -> Rule<f64> {
    Rule::new(
        ">= 1",
        |value: &f64, _| {
            if value.is_finite() && *value >= 1.0 { Ok(()) } else { Err("must be at least 1".into()) }
        },
    )
}

/// A per-minute budget is both the rate and the burst of its bucket.
pub(super) fn rate_and_burst() -> Rule<f64> {
    let (rate, burst) = (rate(), burst());
    Rule::new(">= 1", move |value, config| (rate.check)(value, config).and((burst.check)(value, config)))
}

pub(super) fn min_chars(min: usize) -> Rule<String> {
    Rule::new(format!("at least {min} characters"), move |value: &String, _| {
        if value.chars().count() >= min { Ok(()) } else { Err(format!("must be at least {min} characters")) }
    })
}

pub(super) fn database_scheme() -> Rule<String> {
    Rule::new("`sqlite:`, `postgres:` or `postgresql:`", |url: &String, _| {
        let known = ["sqlite:", "postgres:", "postgresql:"].iter().any(|scheme| url.starts_with(scheme));
        if known { Ok(()) } else { Err("must start with sqlite:, postgres: or postgresql:".into()) }
    })
}

pub(super) fn http_url() -> Rule<String> {
    Rule::new("`http://` or `https://`", |url: &String, _| check_http_url(url))
}

fn check_http_url(url: &str) -> Result<(), String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err("must start with http:// or https://".into())
    }
}

/// Instances that share Redis must share their database: SQLite is one process's file.
pub(super) fn redis_url() -> Rule<Option<String>> {
    optional(Rule::new("a Redis URL, with a PostgreSQL `database_url`", |url: &String, config: &Config| {
        if !is_postgres(&config.effective_database_url()) {
            return Err("needs a PostgreSQL database_url: instances sharing Redis share one database".into());
        }
        redis::Client::open(url.as_str()).map(drop).map_err(|e| format!("is not a Redis URL this build can use ({e})"))
    }))
}

/// A base URL needs a model to ask for.
pub(super) fn llm_model() -> Rule<Option<String>> {
    Rule::new("required with `llm.base_url`", |model: &Option<String>, config: &Config| {
        match (&config.llm.base_url, model.as_deref().map(str::trim)) {
            (Some(_), None | Some("")) => Err("must be set when llm.base_url is".into()),
            _ => Ok(()),
        }
    })
}

/// Blobs in the database need the database to be PostgreSQL.
pub(super) fn blob_storage() -> Rule<BlobStorage> {
    Rule::new("`database` with PostgreSQL only", |storage: &BlobStorage, config: &Config| {
        if *storage == BlobStorage::Database && !is_postgres(&config.effective_database_url()) {
            Err("can be `database` only when the database is PostgreSQL".into())
        } else {
            Ok(())
        }
    })
}

pub(super) fn log_filter() -> Rule<String> {
    Rule::new("a tracing filter", |filter: &String, _| {
        tracing_subscriber::EnvFilter::try_new(filter).map(drop).map_err(|e| format!("is not a log filter ({e})"))
    })
}

fn is_postgres(database_url: &str) -> bool {
    database_url.starts_with("postgres:") || database_url.starts_with("postgresql:")
}

/// MCP servers: tools reach the model as `<name>__<tool>`, so names must be short, plain
/// and distinct; each server is either a command (stdio) or a URL (streamable HTTP).
pub(super) fn mcp_servers(servers: &[McpServerConfig]) -> Result<(), String> {
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
            && check_http_url(url).is_err()
        {
            problems.push(format!("[{i}] {name:?} url must start with http:// or https://"));
        }
        if !(1..=3600).contains(&server.timeout_secs) {
            problems.push(format!("[{i}] {name:?} timeout_secs must be between 1 and 3600"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join(", ")) }
}
