//! Several instances as one server: `palaver serve` child processes on one PostgreSQL
//! database and on a Redis of the test's own (a `redis-server` on a spare port, which the
//! test can stop and start again, or kill).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{Api, JWT_SECRET, Server, TestDatabase, palaver};

/// A `redis-server` for one test. Nothing is saved to disk: a restart loses every key, as
/// a crashed cache would.
pub struct TestRedis {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl TestRedis {
    /// Starts one on a free port. Without `redis-server` installed: with `CI=true` the test
    /// fails; elsewhere it says loudly that it did not run, and `None` ends it.
    pub fn start(test: &str) -> Option<TestRedis> {
        let installed = Command::new("redis-server").arg("--version").output().is_ok_and(|o| o.status.success());
        if !installed {
            super::not_run(test, "redis-server is not installed (apt install redis-server; .ci/run installs it)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = TestRedis { port, child: None, dir: tempfile::tempdir().expect("a directory for Redis") };
        redis.start_again();
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (as a crash or a restart would): every connection drops, every key is lost.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and waits until it answers.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "Redis is already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers() {
            assert!(Instant::now() < deadline, "redis-server on port {} did not answer within 10 s", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One command through `redis-cli`; its reply as the tool prints it (one line per item).
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs (it comes with redis-server)");
        assert!(out.status.success(), "redis-cli {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One `palaver serve` of a cluster, spoken to like any server (`Deref` to [`Api`]).
pub struct Instance {
    pub api: Api,
    server: Server,
    _data_dir: tempfile::TempDir,
}

impl Instance {
    /// Starts `palaver serve` on `database_url` and `redis_url`, with `env` on top of the
    /// test settings; returns once it listens.
    pub fn start(database_url: &str, redis_url: &str, env: &[(&str, &str)]) -> Instance {
        let data_dir = tempfile::tempdir().expect("a data directory");
        let mut command = palaver(data_dir.path());
        command
            .arg("serve")
            .env("PALAVER_BIND", "127.0.0.1:0")
            .env("PALAVER_DATA_DIR", data_dir.path())
            .env("PALAVER_DATABASE_URL", database_url)
            .env("PALAVER_DATABASE_MAX_CONNECTIONS", "4")
            .env("PALAVER_REDIS_URL", redis_url)
            .env("PALAVER_JWT_SECRET", JWT_SECRET)
            // Scenarios post in bulk as one user.
            .env("PALAVER_LIMITS_WRITE_BURST", "1000000")
            .env("PALAVER_LOG", std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()));
        for (key, value) in env {
            command.env(key, value);
        }
        let server = Server::start(command);
        let api = Api::new(format!("http://127.0.0.1:{}", server.port));
        Instance { api, server, _data_dir: data_dir }
    }

    /// SIGKILL: its sockets drop without a close frame, it says goodbye to nobody.
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// SIGTERM, then its exit status.
    pub fn terminate(self) -> ExitStatus {
        self.server.terminate()
    }
}

impl std::ops::Deref for Instance {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

/// Instances on one database and one Redis. Fields drop in order: the instances stop
/// before their Redis and their database go.
pub struct Cluster {
    pub instances: Vec<Instance>,
    pub redis: TestRedis,
    pub database: TestDatabase,
}

impl Cluster {
    /// `count` instances started together (their migrations take a lock, so they do not
    /// race); `None` when Redis is not installed and the test did not run (see `TestRedis`).
    pub async fn start(test: &str, count: usize, env: &[(&str, &str)]) -> Option<Cluster> {
        let redis = TestRedis::start(test)?;
        let database = TestDatabase::create().await;
        let (db, url) = (database.url.clone(), redis.url());
        let instances = std::thread::scope(|scope| {
            let starting: Vec<_> = (0..count).map(|_| scope.spawn(|| Instance::start(&db, &url, env))).collect();
            starting.into_iter().map(|s| s.join().expect("an instance starts")).collect()
        });
        Some(Cluster { instances, redis, database })
    }

    /// Another instance on the same database and Redis.
    pub fn add(&mut self, env: &[(&str, &str)]) -> usize {
        self.instances.push(Instance::start(&self.database.url, &self.redis.url(), env));
        self.instances.len() - 1
    }
}

impl std::ops::Index<usize> for Cluster {
    type Output = Instance;
    fn index(&self, i: usize) -> &Instance {
        &self.instances[i]
    }
}

impl std::ops::IndexMut<usize> for Cluster {
    fn index_mut(&mut self, i: usize) -> &mut Instance {
        &mut self.instances[i]
    }
}

/// Waits (polling) until `check` holds, or fails naming `what` after `within`.
pub async fn eventually<F: std::future::Future<Output = bool>>(
    within: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
