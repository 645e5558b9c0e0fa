//! The scenarios, and what they share: the target server, users, rooms, and the wait for
//! subscribers to catch up.

pub mod assistant;
pub mod connections;
pub mod fanout;
pub mod history;
mod pubsub;
pub mod resume;
pub mod search;
pub mod throughput;
pub mod uploads;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use crate::cli::TargetArgs;
use crate::client::{Account, Api, WsConnector};
use crate::server::Target;
use crate::stats::{Report, Tally};
use crate::subscriber::{Board, SubscriberOutcome};

/// Read buffer of sockets that take a stream of frames.
pub const ACTIVE_READ_BUFFER: usize = 16 * 1024;

/// The server and the fixtures every scenario starts from.
pub struct Fixture {
    pub api: Api,
    pub accounts: Vec<Account>,
    pub rooms: Vec<Uuid>,
    pub connector: Arc<WsConnector>,
    /// Where subscribers connect: `connector` unless a scenario spreads them over a cluster.
    pub subscriber_connector: Arc<WsConnector>,
    /// For CPU and memory readings, when known.
    pub server_pid: Option<u32>,
}

impl Fixture {
    pub async fn new(
        target: &Target,
        args: &TargetArgs,
        rooms: usize,
        label: &str,
        read_buffer: usize,
    ) -> anyhow::Result<Fixture> {
        let api = Api::new(&target.base, 64)?;
        progress(format_args!("registering {} users", args.users.max(1)));
        let accounts = api.register_users(args.users).await?;
        let rooms = api.create_rooms(&accounts, rooms, label).await?;
        let connector =
            Arc::new(WsConnector::new(vec![target.addr], args.source_addrs, args.connect_concurrency, read_buffer));
        let subscriber_connector = connector.clone();
        Ok(Fixture { api, accounts, rooms, connector, subscriber_connector, server_pid: target.pid })
    }

    /// Subscribers connect to these instances (one picked at random per connection).
    pub fn subscribers_on(mut self, servers: Vec<std::net::SocketAddr>, args: &TargetArgs) -> Fixture {
        self.subscriber_connector = Arc::new(self.connector.to_servers(servers, args.connect_concurrency));
        self
    }

    /// The same server, users and connector on other rooms: for a scenario whose phases each
    /// need fresh rooms (a subscriber replays its room from seq 0).
    pub fn on_rooms(&self, rooms: Vec<Uuid>) -> Fixture {
        Fixture {
            api: self.api.clone(),
            accounts: self.accounts.clone(),
            rooms,
            connector: self.connector.clone(),
            subscriber_connector: self.subscriber_connector.clone(),
            server_pid: self.server_pid,
        }
    }

    /// Connections share the users' tokens round-robin.
    pub fn account(&self, i: usize) -> &Account {
        &self.accounts[i % self.accounts.len()]
    }
}

/// Opens the target, runs the scenario body, and always stops a server it started (adding
/// what its shutdown revealed to the report).
pub async fn with_target<F, Fut>(args: &TargetArgs, body: F) -> anyhow::Result<Report>
where
    F: FnOnce(Arc<Target>) -> Fut,
    Fut: Future<Output = anyhow::Result<Report>>,
{
    let target = Arc::new(Target::open(args).await?);
    progress(format_args!("target: {}", target.describe()));
    let result = body(target.clone()).await;
    let target = Arc::try_unwrap(target).map_err(|_| anyhow::anyhow!("the target is still in use"))?;
    let notes = target.close().await;
    let mut report = result?;
    if !args.server_env.is_empty() && args.server_bin.is_some() {
        let env: Vec<String> = args.server_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        report.add("server_env", env.join(" "));
    }
    report.notes.extend(notes);
    Ok(report)
}

/// Waits (bounded) until `ready` reaches `want`. Returns whether it did.
pub async fn wait_until(deadline: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + deadline;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (bounded) until every subscriber has seen its room's last seq.
pub async fn drain(board: &Board, rooms_of: &[usize], targets: &[i64], deadline: Duration) -> bool {
    wait_until(deadline, || rooms_of.iter().enumerate().all(|(i, &room)| board.progress(i) >= targets[room])).await
}

/// Counters summed over subscribers, for the report.
#[derive(Default)]
pub struct SubscriberTotals {
    pub connects: u64,
    pub voluntary_disconnects: u64,
    pub server_closes: Tally,
    pub dropped: u64,
    pub connect_failures: Tally,
    pub truncated: u64,
    pub errors: Tally,
    pub gave_up: u64,
}

impl SubscriberTotals {
    pub fn add(&mut self, o: &SubscriberOutcome) {
        self.connects += o.connects;
        self.voluntary_disconnects += o.voluntary_disconnects;
        self.server_closes.merge(&o.server_closes);
        self.dropped += o.dropped;
        self.connect_failures.merge(&o.connect_failures);
        self.truncated += o.truncated;
        self.errors.merge(&o.errors);
        self.gave_up += u64::from(o.gave_up);
    }
}

/// Explains close codes a `--url` server may use against load.
pub fn explain_closes(report: &mut Report, closes: &Tally) {
    if closes.get("1008") > 0 {
        report.note(format!(
            "{} sockets were closed with 1008 (policy): the server's per-socket rate limit or token expiry; \
             start it with higher PALAVER_WS_RATE_PER_SEC / PALAVER_WS_RATE_BURST / PALAVER_AUTH_ACCESS_TTL_SECS",
            closes.get("1008")
        ));
    }
    if closes.get("1013") > 0 {
        report.note(format!(
            "{} sockets were closed with 1013 (slow consumer) and resumed by seq; PALAVER_WS_OUTBOX_FRAMES raises the queue",
            closes.get("1013")
        ));
    }
}

/// A progress line on stderr, so long runs show what they are doing without touching the
/// report on stdout.
pub fn progress(message: std::fmt::Arguments<'_>) {
    eprintln!("palaver-loadgen: {message}");
}
