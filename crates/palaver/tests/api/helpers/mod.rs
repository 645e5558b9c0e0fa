//! The harness: one app per test on a fresh SQLite file or a fresh PostgreSQL database
//! (`app`, `database`), a request helper that returns a [`Reply`] to assert on (`reply`),
//! the scenario steps (`register`, `create_room`, `post_message`, ...) the tests are
//! written in, checks of the contract's JSON shapes (`body`), a WebSocket client (`ws`), and
//! a TCP proxy in front of PostgreSQL that a test can cut (`proxy`).

mod app;
mod body;
mod cluster;
mod database;
mod images;
mod mcp_server;
mod process;
mod proxy;
mod reply;
mod uploads;
mod ws;

pub use app::*;
pub use body::*;
pub use cluster::*;
pub use database::*;
pub use images::*;
pub use mcp_server::*;
// The one fake OpenAI-compatible upstream, shared with the load generator and CI.
pub use palaver_loadgen::upstream::{FakeLlm, FakeReply, content_chunk};
pub use process::*;
pub use proxy::*;
pub use reply::*;
pub use uploads::*;
pub use ws::*;

/// Whether this is a CI run (`CI` set, and not `false` or `0`): there a test whose service or
/// tool is missing fails, where elsewhere it says loudly that it did not run.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "false" && value != "0")
}

/// For a test whose service or tool is missing, before it returns: with `CI` set it fails;
/// elsewhere it says loudly, in a line that stands out in the output, that it did not run.
pub fn not_run(test: &str, why: &str) {
    assert!(!in_ci(), "{test} cannot run in CI: {why}");
    eprintln!("\n*** NOT RUN: {test}: {why} (with CI=true this fails) ***\n");
}

/// Writes `mod name { sqlite(), postgres() }` for each scenario `async fn name(app: TestApp)`,
/// optionally with a `fn(&mut Config)` that adjusts the app's settings first.
macro_rules! both_backends {
    (@configure) => {
        |_: &mut palaver::config::Config| {}
    };
    (@configure $configure:ident) => {
        super::$configure
    };
    ($($name:ident $(with $configure:ident)?),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let configure = both_backends!(@configure $($configure)?);
                let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite, configure).await;
                super::$name(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let configure = both_backends!(@configure $($configure)?);
                let app = crate::helpers::spawn_app(crate::helpers::Backend::Postgres, configure).await;
                super::$name(app).await;
            }
        }
    )+};
}
