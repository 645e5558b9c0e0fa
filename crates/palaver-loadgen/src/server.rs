//! The server under load: one started here (`palaver serve` on a fresh data directory and,
//! for PostgreSQL, a fresh database dropped afterwards), or a running one on loopback. Also
//! its resident memory, read from /proc.
//! (Over 400 lines: starting, waiting for and stopping either backend's server in one place.)

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::Url;
use sqlx::{Connection, Executor, PgConnection};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::cli::{DbKind, TargetArgs};

/// Migrations on a fresh PostgreSQL database can take a while on a loaded machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);
/// The contract: SIGTERM finishes in-flight work, closes sockets with 1001 and exits 0.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Target {
    /// `http://127.0.0.1:<port>`
    pub base: Url,
    /// Where WebSocket clients connect.
    pub addr: SocketAddr,
    pub pid: Option<u32>,
    owned: Option<OwnedServer>,
    /// The other instances of a cluster started here (`--instances`), on fixed ports so a
    /// killed one comes back where clients look for it.
    others: tokio::sync::Mutex<Vec<Instance>>,
    other_addrs: Vec<SocketAddr>,
}

/// A server this process started, and everything to clean up after it.
struct OwnedServer {
    child: Child,
    db: DbKind,
    database_url: String,
    log_path: PathBuf,
    pg: Option<PgDatabase>,
    // Dropped last: the SQLite file and the server log live here.
    _data_dir: TempDir,
}

/// Another instance of a started cluster: how to start it again, and the running process.
struct Instance {
    command: std::sync::Arc<dyn Fn() -> Command + Send + Sync>,
    child: Option<Child>,
    log_path: PathBuf,
    _data_dir: TempDir,
}

impl Target {
    pub async fn open(args: &TargetArgs) -> anyhow::Result<Target> {
        match (&args.url, &args.server_bin) {
            (Some(url), _) => Self::running(url, args.server_pid).await,
            (None, Some(bin)) => Self::start(args, bin).await,
            (None, None) => bail!("give --server-bin to start a server, or --url to target a running one"),
        }
    }

    async fn running(url: &Url, pid: Option<u32>) -> anyhow::Result<Target> {
        let others = tokio::sync::Mutex::new(vec![]);
        let addr = loopback_addr(url)?;
        let health = url.join("/healthz")?;
        let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build()?;
        let status = client.get(health.clone()).send().await.with_context(|| format!("GET {health}"))?.status();
        if !status.is_success() {
            bail!("GET {health} answered {status}");
        }
        if let Some(pid) = pid {
            rss_kib(pid).with_context(|| format!("no process {pid} to read VmRSS from (--server-pid)"))?;
        }
        Ok(Target { base: url.clone(), addr, pid, owned: None, others, other_addrs: vec![] })
    }

    async fn start(args: &TargetArgs, bin: &Path) -> anyhow::Result<Target> {
        anyhow::ensure!(args.instances >= 1, "--instances must be at least 1");
        if args.instances > 1 {
            anyhow::ensure!(
                args.db == DbKind::Postgres,
                "--instances > 1 needs --db postgres: instances share one database"
            );
            anyhow::ensure!(args.redis_url.is_some(), "--instances > 1 needs --redis-url");
        }
        let data_dir = tempfile::Builder::new().prefix("palaver-loadgen-").tempdir()?;
        let pg = match args.db {
            DbKind::Sqlite => None,
            DbKind::Postgres => {
                let admin = args.database_url.as_deref().context("--db postgres needs --database-url")?;
                Some(PgDatabase::create(admin).await?)
            }
        };
        let database_url = match &pg {
            Some(db) => db.url.clone(),
            None => format!("sqlite://{}", data_dir.path().join("palaver.db").display()),
        };
        // One secret for every instance, or each would refuse the others' tokens.
        let secret = format!("loadgen-{}", uuid::Uuid::now_v7().simple());
        let log_path = data_dir.path().join("server.log");
        let command = server_command(args, bin, data_dir.path(), &database_url, "127.0.0.1:0", &secret);
        let launched = launch(command, &log_path).await;
        let (child, base) = match launched {
            Ok(launched) => launched,
            Err(e) => {
                if let Some(pg) = pg {
                    pg.drop_database().await.ok();
                }
                return Err(e);
            }
        };
        let pid = child.id();
        let addr = loopback_addr(&base)?;
        let owned =
            OwnedServer { child, db: args.db, database_url: database_url.clone(), log_path, pg, _data_dir: data_dir };
        let mut target = Target {
            base,
            addr,
            pid,
            owned: Some(owned),
            others: tokio::sync::Mutex::new(vec![]),
            other_addrs: vec![],
        };
        for _ in 1..args.instances {
            let dir = tempfile::Builder::new().prefix("palaver-loadgen-").tempdir()?;
            let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let bind = format!("127.0.0.1:{port}");
            let (args, bin, dir_path, url, secret) =
                (args.clone(), bin.to_owned(), dir.path().to_owned(), database_url.clone(), secret.clone());
            let command: std::sync::Arc<dyn Fn() -> Command + Send + Sync> =
                std::sync::Arc::new(move || server_command(&args, &bin, &dir_path, &url, &bind, &secret));
            let log_path = dir.path().join("server.log");
            let (child, base) = launch(command(), &log_path).await?;
            target.other_addrs.push(loopback_addr(&base)?);
            target.others.get_mut().push(Instance { command, child: Some(child), log_path, _data_dir: dir });
        }
        Ok(target)
    }

    /// Every instance's address, the first one first.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        std::iter::once(self.addr).chain(self.other_addrs.iter().copied()).collect()
    }

    /// Kills (SIGKILL) the `i`th other instance; `false` if there is none running.
    pub async fn kill_other(&self, i: usize) -> bool {
        let mut others = self.others.lock().await;
        let Some(child) = others.get_mut(i).and_then(|o| o.child.as_mut()) else { return false };
        let _ = child.kill().await;
        others[i].child = None;
        true
    }

    /// Starts the `i`th other instance again, on its port.
    pub async fn restart_other(&self, i: usize) -> anyhow::Result<()> {
        let mut others = self.others.lock().await;
        let other = others.get_mut(i).context("no such instance")?;
        anyhow::ensure!(other.child.is_none(), "the instance is running");
        let (child, _) = launch((other.command)(), &other.log_path.with_extension("restarted.log")).await?;
        other.child = Some(child);
        Ok(())
    }

    /// The database URL, known only for a server started here (for seeding it directly).
    pub fn database_url(&self) -> Option<&str> {
        self.owned.as_ref().map(|o| o.database_url.as_str())
    }

    pub fn rss_kib(&self) -> Option<u64> {
        self.pid.and_then(rss_kib)
    }

    /// For report titles.
    pub fn describe(&self) -> String {
        let pid = self.pid.map_or("pid unknown".to_owned(), |p| format!("pid {p}"));
        let more = if self.other_addrs.is_empty() {
            String::new()
        } else {
            format!(" and {} more instance(s) on Redis", self.other_addrs.len())
        };
        match &self.owned {
            Some(o) => format!("palaver ({}) started at {}, {pid}{more}", db_name(o.db), self.base),
            None => format!("{} ({pid})", self.base),
        }
    }

    pub fn backend(&self) -> &'static str {
        self.owned.as_ref().map_or("unknown", |o| db_name(o.db))
    }

    /// Stops a server started here with SIGTERM and drops its database. Returns notes for the
    /// report: an unclean exit or errors in the server's log are findings, not noise.
    pub async fn close(self) -> Vec<String> {
        let Some(mut owned) = self.owned else { return vec![] };
        let mut notes = vec![];
        for (i, mut other) in self.others.into_inner().into_iter().enumerate() {
            if let Some(child) = other.child.as_mut() {
                if let Some(pid) = child.id() {
                    // SAFETY: as below, our own unreaped child.
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
                }
                if !matches!(tokio::time::timeout(STOP_TIMEOUT, child.wait()).await, Ok(Ok(s)) if s.success()) {
                    notes.push(format!("instance {} did not exit cleanly after SIGTERM", i + 2));
                }
            }
            notes.extend(log_findings(&other.log_path).into_iter().map(|n| format!("instance {}: {n}", i + 2)));
        }
        if let Some(pid) = self.pid {
            // SAFETY: kill(2) on our own child's pid; it has not been reaped yet, so the pid
            // cannot belong to another process.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        match tokio::time::timeout(STOP_TIMEOUT, owned.child.wait()).await {
            Ok(Ok(status)) if status.success() => {}
            Ok(Ok(status)) => notes.push(format!("the server exited with {status} after SIGTERM, expected 0")),
            Ok(Err(e)) => notes.push(format!("waiting for the server: {e}")),
            Err(_) => {
                let _ = owned.child.kill().await;
                notes.push(format!("the server did not exit within {STOP_TIMEOUT:?} of SIGTERM; killed"));
            }
        }
        notes.extend(log_findings(&owned.log_path));
        if let Some(pg) = owned.pg.take()
            && let Err(e) = pg.drop_database().await
        {
            notes.push(format!("could not drop the run's PostgreSQL database: {e:#}"));
        }
        notes
    }
}

/// `palaver serve` as a run starts it: only the settings this run sets.
fn server_command(
    args: &TargetArgs,
    bin: &Path,
    data_dir: &Path,
    database_url: &str,
    bind: &str,
    secret: &str,
) -> Command {
    let mut command = Command::new(bin);
    command.arg("serve");
    // Only what this run sets: a PALAVER_* variable of the caller's shell must not
    // change the server under test behind the report's back.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PALAVER_") {
            command.env_remove(key);
        }
    }
    command
        .env("PALAVER_BIND", bind)
        .env("PALAVER_DATA_DIR", data_dir)
        .env("PALAVER_DATABASE_URL", database_url)
        .env("PALAVER_JWT_SECRET", secret)
        .env("PALAVER_LOG", &args.server_log)
        .env("PALAVER_LOG_FORMAT", "text")
        .env("NO_COLOR", "1")
        // The load is deliberate: per-socket flood limits would refuse it.
        .env("PALAVER_WS_RATE_PER_SEC", "1000000")
        .env("PALAVER_WS_RATE_BURST", "1000000")
        // ... and so would the per-user write budget: benchmarks measure the server.
        .env("PALAVER_LIMITS_WRITES_PER_SEC", "1000000")
        .env("PALAVER_LIMITS_WRITE_BURST", "1000000")
        // ... and the auth budget per address (a run registers thousands of users).
        .env("PALAVER_LIMITS_AUTH_PER_SEC", "1000000")
        .env("PALAVER_LIMITS_AUTH_BURST", "1000000")
        // ... and the per-user upload quotas (a run uploads gigabytes).
        .env("PALAVER_UPLOADS_PER_MINUTE", "1000000")
        .env("PALAVER_UPLOADS_BYTES_PER_DAY", "1099511627776")
        // ... and the per-user assistant limits (1,000 running replies is the most it takes).
        .env("PALAVER_LLM_MAX_RUNNING_PER_USER", "1000")
        .env("PALAVER_LLM_SENDS_PER_MINUTE", "1000000")
        // Long runs must not see their tokens expire (that closes sockets with 1008).
        .env("PALAVER_AUTH_ACCESS_TTL_SECS", "86400");
    if let Some(redis) = &args.redis_url {
        command.env("PALAVER_REDIS_URL", redis);
    }
    for (key, value) in &args.server_env {
        command.env(key, value);
    }
    command
}

/// Starts the server and waits for its `listening on` line; its log goes to `log_path`.
async fn launch(mut command: Command, log_path: &Path) -> anyhow::Result<(Child, Url)> {
    let log = std::fs::File::create(log_path)?;
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log).kill_on_drop(true);
    let mut child = command.spawn().context("starting palaver serve")?;
    let stdout = child.stdout.take().context("the server's stdout is piped")?;
    let mut lines = BufReader::new(stdout).lines();
    let listening = tokio::time::timeout(STARTUP_TIMEOUT, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.trim().strip_prefix("listening on ") {
                return Url::parse(url).with_context(|| format!("parsing {line:?}"));
            }
        }
        bail!("the server exited before printing `listening on`")
    })
    .await
    .unwrap_or_else(|_| Err(anyhow::anyhow!("no `listening on` line within {STARTUP_TIMEOUT:?}")));
    match listening {
        Ok(base) => {
            // Keep reading stdout: a full pipe would block the server's next println.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            Ok((child, base))
        }
        Err(e) => {
            let _ = child.kill().await;
            let tail = log_tail(log_path, 20);
            Err(e.context(format!("starting the server; its log ends with:\n{tail}")))
        }
    }
}

fn db_name(db: DbKind) -> &'static str {
    match db {
        DbKind::Sqlite => "sqlite",
        DbKind::Postgres => "postgres",
    }
}

/// Only loopback targets: this tool must never send load anywhere else.
pub fn loopback_addr(url: &Url) -> anyhow::Result<SocketAddr> {
    let addrs = url.socket_addrs(|| Some(80)).with_context(|| format!("resolving {url}"))?;
    if addrs.is_empty() || !addrs.iter().all(|a| a.ip().is_loopback()) {
        bail!("{url} is not a loopback address; palaver-loadgen only loads servers on this machine");
    }
    // Prefer IPv4: client sockets are spread over 127.0.0.K source addresses.
    Ok(addrs.iter().find(|a| a.is_ipv4()).copied().unwrap_or(addrs[0]))
}

/// Resident memory of a process in KiB (`VmRSS` of /proc/<pid>/status).
pub fn rss_kib(pid: u32) -> Option<u64> {
    parse_vm_rss(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// This process's own resident memory in KiB.
pub fn own_rss_kib() -> Option<u64> {
    parse_vm_rss(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// CPU time (user + system) of a process so far, from /proc/<pid>/stat.
pub fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_sec > 0).then(|| ticks as f64 / per_sec as f64)
}

/// CPU used by the server and by this process over a measured phase: on a 2-core machine it
/// tells whether the server or the load generator was the bottleneck.
pub struct CpuMeter {
    pid: Option<u32>,
    server: Option<f64>,
    own: Option<f64>,
    start: std::time::Instant,
}

impl CpuMeter {
    pub fn start(pid: Option<u32>) -> CpuMeter {
        let server = pid.and_then(|p| cpu_secs(&p.to_string()));
        CpuMeter { pid, server, own: cpu_secs("self"), start: std::time::Instant::now() }
    }

    /// `{wall_secs, server_secs, loadgen_secs}`, CPU-seconds (2.0 over 1 s = two cores busy).
    pub fn finish(&self) -> serde_json::Value {
        let round = |x: f64| (x * 100.0).round() / 100.0;
        let delta = |before: Option<f64>, after: Option<f64>| before.zip(after).map(|(b, a)| round(a - b));
        serde_json::json!({
            "wall_secs": round(self.start.elapsed().as_secs_f64()),
            "server_secs": delta(self.server, self.pid.and_then(|p| cpu_secs(&p.to_string()))),
            "loadgen_secs": delta(self.own, cpu_secs("self")),
        })
    }
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn log_tail(path: &Path, lines: usize) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Errors and panics in the server's log, as report notes.
fn log_findings(path: &Path) -> Vec<String> {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ") || l.contains("panicked")).collect();
    let warnings = log.lines().filter(|l| l.contains(" WARN ")).count();
    let mut notes = vec![];
    if !errors.is_empty() {
        notes.push(format!("the server logged {} error lines; the first: {}", errors.len(), errors[0].trim()));
    }
    if warnings > 0 {
        let first = log.lines().find(|l| l.contains(" WARN ")).unwrap_or_default();
        notes.push(format!("the server logged {warnings} warnings; the first: {}", first.trim()));
    }
    notes
}

/// A PostgreSQL database of this run's own, on the server behind `admin_url`.
pub struct PgDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgDatabase {
    pub async fn create(admin_url: &str) -> anyhow::Result<PgDatabase> {
        let parsed = Url::parse(admin_url).context("--database-url is not a URL")?;
        if let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) {
            let port = parsed.port().unwrap_or(5432);
            let probe = Url::parse(&format!("tcp://{host}:{port}")).context("--database-url host")?;
            loopback_addr(&probe).context("--database-url")?;
        }
        let mut admin = PgConnection::connect(admin_url).await.context("connecting to --database-url")?;
        let name = format!("palaver_loadgen_{}", uuid::Uuid::now_v7().simple());
        admin.execute(format!(r#"CREATE DATABASE "{name}""#).as_str()).await.context("creating the run's database")?;
        let _ = admin.close().await;
        let mut url = parsed;
        url.set_path(&format!("/{name}"));
        Ok(PgDatabase { url: url.to_string(), admin_url: admin_url.to_owned(), name })
    }

    pub async fn drop_database(self) -> anyhow::Result<()> {
        let mut admin = PgConnection::connect(&self.admin_url).await?;
        admin.execute(format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name).as_str()).await?;
        admin.close().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets() {
        assert!(loopback_addr(&Url::parse("http://127.0.0.1:8080").unwrap()).is_ok());
        assert!(loopback_addr(&Url::parse("http://[::1]:8080").unwrap()).is_ok());
        assert!(loopback_addr(&Url::parse("http://10.0.0.1:8080").unwrap()).is_err());
        assert!(loopback_addr(&Url::parse("http://192.168.1.1").unwrap()).is_err());
    }

    #[test]
    fn reads_vm_rss() {
        assert_eq!(parse_vm_rss("Name:\tx\nVmRSS:\t   1234 kB\n"), Some(1234));
        assert!(own_rss_kib().is_some_and(|kib| kib > 0));
        assert!(cpu_secs("self").is_some_and(|secs| secs >= 0.0));
    }
}
