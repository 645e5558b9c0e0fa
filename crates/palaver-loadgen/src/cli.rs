//! The command line: one subcommand per scenario, each with the options that say which
//! server to load (start one, or target a running one).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use reqwest::Url;
use serde::Serialize;

use crate::scenario;

#[derive(Debug, Parser)]
#[command(
    name = "palaver-loadgen",
    version,
    about = "Load generator for the Palaver chat server",
    long_about = "Load generator for the Palaver chat server. Each scenario either starts a server \
                  (--server-bin) on a fresh data directory (and, for PostgreSQL, a fresh database it \
                  drops afterwards), or targets a running one on a loopback address (--url). Every \
                  loop is bounded in count and time. Exit status: 0 when every correctness check \
                  passed, 1 when one failed, 2 on an error."
)]
pub struct Cli {
    /// Print one JSON object instead of the table
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open N authenticated idle WebSocket connections, hold them, report the server's RSS per connection
    Connections(scenario::connections::Args),
    /// R rooms x S subscribers, P publishers at a total rate: deliveries/s, end-to-end latency, exactly-once check
    Fanout(scenario::fanout::Args),
    /// C senders over R rooms, each sending the next message when the previous ack arrives
    Throughput(scenario::throughput::Args),
    /// Seed a room with M messages, then page its history concurrently
    History(scenario::history::Args),
    /// Subscribers that disconnect and resume with since_seq at random while publishers run
    Resume(scenario::resume::Args),
    /// Fan-out without, then with, concurrent 12-megapixel photo uploads: upload rate and latency, chat p99 ratio
    Uploads(scenario::uploads::Args),
    /// N concurrent streamed assistant replies from an in-process fake upstream: added time to first chunk, chunk latency, RSS per reply
    Assistant(scenario::assistant::Args),
    /// Seed N messages over 1,000 rooms (Zipf words, several languages) into the database, then search at a fixed rate as a user in 50 of them: latency per class of query, every hit checked
    Search(scenario::search::Args),
    /// Only the fake OpenAI-compatible upstream of the assistant scenario, on 127.0.0.1 until killed: prints `listening on <base url>`
    Upstream(UpstreamArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct UpstreamArgs {
    /// Port on 127.0.0.1 (0: any)
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Content chunks streamed per answer
    #[arg(long, default_value_t = 3)]
    pub tokens: u64,
    /// Chunks per second of each answer
    #[arg(long, default_value_t = 1000.0)]
    pub tokens_per_sec: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// Which server to load. Exactly one of `--server-bin` and `--url`.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// A running server to load, on a loopback address (e.g. http://127.0.0.1:8080)
    #[arg(long, required_unless_present = "server_bin", conflicts_with = "server_bin")]
    pub url: Option<Url>,
    /// The pid of the --url server, to read its resident memory from /proc
    #[arg(long, requires = "url")]
    pub server_pid: Option<u32>,
    /// Start this `palaver` binary (`palaver serve` on 127.0.0.1:0, fresh data directory)
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Database of the started server
    #[arg(long, value_enum, default_value = "sqlite", requires = "server_bin")]
    pub db: DbKind,
    /// PostgreSQL URL (loopback) on which a fresh database is created and dropped afterwards; for --db postgres
    #[arg(long, requires = "server_bin")]
    pub database_url: Option<String>,
    /// Extra environment for the started server, KEY=VALUE (repeatable; wins over the loadgen's defaults)
    #[arg(long = "server-env", value_parser = parse_key_value)]
    pub server_env: Vec<(String, String)>,
    /// Log filter of the started server (its log goes to a file; errors in it are reported)
    #[arg(long, default_value = "warn")]
    pub server_log: String,
    /// Instances to start, on one PostgreSQL database and one Redis (--redis-url): publishers
    /// use the first, subscribers the second (fanout) or any one at random (resume)
    #[arg(long, default_value_t = 1, requires = "server_bin")]
    pub instances: usize,
    /// Redis the started instances share (PALAVER_REDIS_URL); needed for --instances > 1
    #[arg(long, requires = "server_bin")]
    pub redis_url: Option<String>,
    /// Users registered over REST; connections share their tokens round-robin
    #[arg(long, default_value_t = 4)]
    pub users: usize,
    /// WebSocket connections opened at once while ramping up
    #[arg(long, default_value_t = 128)]
    pub connect_concurrency: usize,
    /// Source addresses 127.0.0.K the client sockets are spread over, so ephemeral ports are no limit
    #[arg(long, default_value_t = 8)]
    pub source_addrs: usize,
}

fn parse_key_value(raw: &str) -> Result<(String, String), String> {
    let (key, value) = raw.split_once('=').ok_or_else(|| format!("expected KEY=VALUE, got {raw:?}"))?;
    if key.is_empty() {
        return Err(format!("empty key in {raw:?}"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_url_and_server_bin() {
        assert!(Cli::try_parse_from(["palaver-loadgen", "connections"]).is_err());
        assert!(
            Cli::try_parse_from(["palaver-loadgen", "connections", "--url", "http://127.0.0.1:1", "--server-bin", "x"])
                .is_err()
        );
        let cli = Cli::try_parse_from([
            "palaver-loadgen",
            "fanout",
            "--server-bin",
            "palaver",
            "--server-env",
            "PALAVER_WS_OUTBOX_FRAMES=4096",
            "--json",
        ])
        .unwrap();
        assert!(cli.json);
        let Command::Fanout(args) = cli.command else { panic!("fanout") };
        assert_eq!(args.target.server_env, vec![("PALAVER_WS_OUTBOX_FRAMES".into(), "4096".into())]);
    }
}
