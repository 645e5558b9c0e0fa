//! The `palaver` command line: serve, migrate, and user administration.

use std::io::BufRead;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::{self, Application};
use crate::config::{Config, Settings};
use crate::{fd_limit, telemetry};

#[derive(Debug, Parser)]
#[command(name = "palaver", version, about = "Palaver: a real-time chat server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrations run first).
    Serve,
    /// Run database migrations and exit.
    Migrate,
    /// Manage accounts directly in the database.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. Without --password, the password is read from the first line of stdin.
    Create {
        username: String,
        email: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// List accounts: id, username, email, created, and `active` or `disabled since <time>`.
    List,
    /// Set an account's password. Without --password, it is read from stdin.
    SetPassword {
        username: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Lock an account out (after a leaked password): no login or refresh, its refresh and
    /// access tokens revoked, its open sockets closed within seconds.
    Disable { username: String },
    /// Let a disabled account log in again (the tokens revoked by the disable stay revoked).
    Enable { username: String },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(&cli.settings).context("loading configuration")?;
    config.validate()?;
    telemetry::init(&config.log, config.log_format);
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let services = app::services(&config).await?;
            println!("migrations applied ({})", services.store.backend());
            Ok(())
        }
        Command::User(command) => user(config, command).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    fd_limit::raise_to_hard();
    let app = Application::build(config).await?;
    // Listening for signals before saying we listen: a SIGTERM right after start is a
    // clean stop, not the default action (death by signal).
    let stop = shutdown_signal();
    // Printed on stdout, exactly once, so scripts can read the port when binding to :0.
    println!("listening on http://{}", app.local_addr());
    app.run_until_stopped(stop).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &str| {
            signal(kind).inspect_err(|e| tracing::warn!(error = %e, "cannot listen for {name}")).ok()
        };
        (listen(SignalKind::interrupt(), "SIGINT"), listen(SignalKind::terminate(), "SIGTERM"))
    };
    async move {
        #[cfg(unix)]
        {
            let received = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = received(interrupt) => {},
                () = received(terminate) => {},
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

async fn user(config: Config, command: UserCommand) -> anyhow::Result<()> {
    let services = app::services(&config).await?;
    match command {
        UserCommand::Create { username, email, password } => {
            let password = password_or_stdin(password)?;
            let user = services.accounts.create_user(&username, &email, &password).await.map_err(describe)?;
            println!("created {} ({})", user.username, user.id);
        }
        UserCommand::List => {
            let rfc3339 = &time::format_description::well_known::Rfc3339;
            for u in services.accounts.list_users().await.map_err(describe)? {
                let created = u.created_at.format(rfc3339)?;
                let status = match u.disabled_at {
                    Some(at) => format!("disabled since {}", at.format(rfc3339)?),
                    None => "active".to_owned(),
                };
                println!("{}\t{}\t{}\t{}\t{}", u.id, u.username, u.email, created, status);
            }
        }
        UserCommand::SetPassword { username, password } => {
            let password = password_or_stdin(password)?;
            services.accounts.set_password(&username, &password).await.map_err(describe)?;
            println!("password changed for {username}");
        }
        UserCommand::Disable { username } => {
            let user = services.accounts.disable_user(&username).await.map_err(describe)?;
            println!("disabled {}: tokens revoked; running servers close its sockets within seconds", user.username);
        }
        UserCommand::Enable { username } => {
            let user = services.accounts.enable_user(&username).await.map_err(describe)?;
            println!("enabled {}: it can log in again", user.username);
        }
    }
    Ok(())
}

fn password_or_stdin(given: Option<String>) -> anyhow::Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Service errors as one readable line for the terminal.
fn describe(e: crate::error::Error) -> anyhow::Error {
    match e {
        crate::error::Error::Validation(fields) => {
            let parts: Vec<String> = fields.iter().map(|f| format!("{} {}", f.field, f.message)).collect();
            anyhow::anyhow!(parts.join("; "))
        }
        crate::error::Error::Internal(e) => e,
        other => anyhow::anyhow!(other.to_string()),
    }
}
