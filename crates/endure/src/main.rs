//! `endure`: the durable-execution server binary.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use endure_server::{Server, ServerConfig};
use endure_store_sqlite::SqliteStore;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "endure", version, about = "A durable-execution server that speaks Temporal's gRPC API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Server {
        #[command(subcommand)]
        mode: ServerMode,
    },
}

#[derive(Subcommand)]
enum ServerMode {
    /// Start a development server on an embedded SQLite file.
    StartDev(StartDev),
}

#[derive(clap::Args)]
struct StartDev {
    /// IP address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    ip: IpAddr,
    /// gRPC port.
    #[arg(long, short = 'p', default_value_t = 7233)]
    port: u16,
    /// SQLite database file (":memory:" keeps everything in memory). Defaults to a file in the
    /// user's data directory so state survives restarts.
    #[arg(long, short = 'f')]
    db_filename: Option<PathBuf>,
    /// Namespace to create at start-up (repeatable); "default" always exists.
    #[arg(long = "namespace", short = 'n')]
    namespaces: Vec<String>,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, default_value = "info")]
    log_level: String,
}

fn default_db_path() -> PathBuf {
    dirs::data_dir()
        .or_else(dirs::home_dir)
        .unwrap_or_else(|| PathBuf::from("."))
        .join("endure")
        .join("endure.db")
}

async fn start_dev(args: StartDev) -> Result<()> {
    let began = Instant::now();
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "warn,endure={0},endure_server={0},endure_store_sqlite={0}",
        args.log_level
    ))
    .with_context(|| format!("invalid --log-level {}", args.log_level))?;
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let db = args.db_filename.unwrap_or_else(default_db_path);
    let store = SqliteStore::open(&db).with_context(|| format!("opening database {}", db.display()))?;
    let config = ServerConfig { listen: SocketAddr::new(args.ip, args.port), namespaces: args.namespaces };
    let server = Server::start(config, Arc::new(store)).await.context("starting the server")?;
    println!("Endure server listening on {} (gRPC, Temporal API)", server.local_addr);
    println!("Data: {}", db.display());
    println!("Started in {} ms", began.elapsed().as_millis());
    wait_for_signal().await?;
    println!("Shutting down");
    server.shutdown().await.context("shutting down")?;
    Ok(())
}

async fn wait_for_signal() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Server { mode: ServerMode::StartDev(args) } => start_dev(args).await,
    }
}
