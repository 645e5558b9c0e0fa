//! `palaver` as a child process of the test: the real binary, started as an operator
//! starts it, with nothing inherited from the test's `PALAVER_*` environment.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Waits for a start-up line or an exit; generous, as a debug build starts slowly.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// `palaver` run in `dir`, with no `PALAVER_*` variable inherited from the test's environment.
pub fn palaver(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_palaver"));
    command.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PALAVER_") {
            command.env_remove(key);
        }
    }
    command
}

/// A running `palaver serve`, killed if a test ends without stopping it.
pub struct Server {
    child: Child,
    pub port: u16,
    pub stderr: Arc<Mutex<String>>,
}

impl Server {
    pub fn start(mut command: Command) -> Server {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("palaver serve starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let collected = stderr.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            collected.lock().unwrap().push_str(&text);
        });
        // Keep draining stdout after the line we want, so the server never blocks on it.
        let (lines, received) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut server = Server { child, port: 0, stderr };
        let deadline = Instant::now() + PATIENCE;
        let mut seen = Vec::new();
        while server.port == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = listening_port(&line) {
                        server.port = port;
                    }
                    seen.push(line);
                }
                Err(_) => panic!(
                    "no `listening on http://127.0.0.1:<port>` line on stdout\nstdout: {seen:#?}\nstderr: {}",
                    server.stderr.lock().unwrap()
                ),
            }
        }
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("the child can be waited on") {
                return status;
            }
            assert!(Instant::now() < deadline, "palaver did not exit within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash: nothing is closed, flushed or said goodbye to.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The port in a `listening on http://127.0.0.1:<port>` log line, whatever surrounds it.
pub fn listening_port(line: &str) -> Option<u16> {
    let rest = line.split("listening on http://127.0.0.1:").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}
