use std::process::ExitCode;

use clap::Parser;
use palaver_loadgen::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let outcome = tokio::select! {
        outcome = palaver_loadgen::run(cli) => outcome,
        // Dropping the run kills a server started here (kill_on_drop) and removes its data dir.
        _ = tokio::signal::ctrl_c() => {
            eprintln!("palaver-loadgen: interrupted");
            return ExitCode::from(130);
        }
    };
    match outcome {
        Ok(report) => {
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{report}");
            }
            if report.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => {
            eprintln!("palaver-loadgen: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
