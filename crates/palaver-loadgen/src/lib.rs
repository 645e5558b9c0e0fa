//! `palaver-loadgen`: load scenarios for the Palaver server, each a bounded run that reports
//! rates and latency percentiles and checks the server's delivery guarantees on the way.
//!
//! Layout: `cli` (flags), `server` (start/stop the server, RSS), `client` (REST and
//! WebSocket helpers), `subscriber` / `publisher` (the long-lived socket roles), `mix` (a
//! publisher's replies and reactions beside its posts), `uploader`
//! (photo uploads and image messages over REST), `photo` (the JPEG it sends), `upstream`
//! (the fake OpenAI-compatible LLM the assistant is pointed at, also palaver's tests' and
//! CI's), `replier` (one streamed
//! reply of the assistant, read and checked), `checker` (exactly-once, in-order by seq),
//! `seed` (bulk history and the search corpus), `corpus` (the search scenario's
//! multilingual Zipf text), `stats` (percentiles, report), and one module per scenario under
//! `scenario`.

pub mod checker;
pub mod cli;
pub mod client;
pub mod corpus;
pub mod mix;
pub mod photo;
pub mod publisher;
pub mod replier;
pub mod scenario;
pub mod seed;
pub mod server;
pub mod stats;
pub mod subscriber;
pub mod uploader;
pub mod upstream;

pub use cli::{Cli, Command};
pub use stats::Report;

/// Runs one scenario to its end and returns its report.
pub async fn run(cli: Cli) -> anyhow::Result<Report> {
    // Every scenario opens sockets; the server started here inherits the raised limit too.
    if let Err(e) = client::raise_open_file_limit() {
        eprintln!("palaver-loadgen: could not raise the open-file limit: {e}");
    }
    match cli.command {
        Command::Connections(args) => scenario::connections::run(args).await,
        Command::Fanout(args) => scenario::fanout::run(args).await,
        Command::Throughput(args) => scenario::throughput::run(args).await,
        Command::History(args) => scenario::history::run(args).await,
        Command::Resume(args) => scenario::resume::run(args).await,
        Command::Uploads(args) => scenario::uploads::run(args).await,
        Command::Assistant(args) => scenario::assistant::run(args).await,
        Command::Search(args) => scenario::search::run(args).await,
        Command::Upstream(args) => upstream::serve_forever(args).await,
    }
}
