//! `endure`: the durable-execution server binary.

mod config;
mod debug;
mod metrics;
mod production;
mod telemetry;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use endure_server::search_attributes::schema::{self, SaType};
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
    /// Apply the database schema migrations the configured store needs, then exit.
    Migrate(ConfigArgs),
    /// For tests and tools, not a stable interface: the server's own answers to questions
    /// about its internals.
    Debug {
        #[command(subcommand)]
        what: debug::DebugCommand,
    },
}

#[derive(Subcommand)]
enum ServerMode {
    /// Start a development server on an embedded SQLite file.
    StartDev(StartDev),
    /// Start a production server (one replica of a cluster) from a configuration file and
    /// ENDURE_* environment variables (docs/configuration.md).
    Start(ConfigArgs),
}

#[derive(clap::Args)]
struct ConfigArgs {
    /// Configuration file (TOML); every key can also be set by its ENDURE_* variable.
    #[arg(long, short = 'c', env = "ENDURE_CONFIG")]
    config: Option<PathBuf>,
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
    /// Log lines as `text` or `json` (one object per line, naming the RPC or task and its trace).
    #[arg(long, default_value = "text", value_parser = parse_log_format)]
    log_format: config::LogFormat,
    /// Custom search attribute to register in every start-up namespace, as NAME=TYPE (TYPE:
    /// Text, Keyword, Int, Double, Bool, Datetime, KeywordList); repeatable.
    #[arg(long = "search-attribute", value_parser = parse_search_attribute)]
    search_attributes: Vec<(String, SaType)>,
    /// Port for Prometheus' /metrics on --ip (off unless given).
    #[arg(long)]
    metrics_port: Option<u16>,
    /// Port of Temporal's HTTP API (and the /healthz and /readyz probes) on --ip; default: the
    /// gRPC port + 10 (7243); 0 picks a free port.
    #[arg(long)]
    http_port: Option<u16>,
    /// Port of the Web UI; default: the gRPC port + 1000 (8233); 0 picks a free port.
    #[arg(long)]
    ui_port: Option<u16>,
    /// IP address of the Web UI; default: --ip.
    #[arg(long)]
    ui_ip: Option<IpAddr>,
    /// Turn the Web UI off.
    #[arg(long)]
    headless: bool,
    /// Serve another UI build from this folder instead of the built-in UI (the HTTP API stays
    /// under /api/v1 on the same origin).
    #[arg(long)]
    ui_asset_path: Option<PathBuf>,
    /// Remote codec endpoint the Web UI's browser calls to decode payloads (POST {endpoint}/decode).
    #[arg(long)]
    ui_codec_endpoint: Option<String>,
    /// Dynamic config value, as KEY=JSON_VALUE (string values need quotes); repeatable. The
    /// keys Endure honours are in docs/dynamic-config.md; the others are accepted with a warning.
    #[arg(long = "dynamic-config-value")]
    dynamic_config_values: Vec<String>,
}

/// Parses `NAME=TYPE` for `--search-attribute`.
fn parse_search_attribute(text: &str) -> Result<(String, SaType), String> {
    let (name, ty) = text.split_once('=').ok_or_else(|| format!("expected NAME=TYPE, got {text:?}"))?;
    schema::parse_declaration(name, ty).map_err(|e| e.to_string())
}

/// The one warning naming the dynamic config keys given that Endure accepted without honouring.
fn warn_not_honoured(keys: &[String]) {
    if !keys.is_empty() {
        tracing::warn!(
            keys = %keys.join(", "),
            "dynamic config values accepted but not honoured by Endure (docs/dynamic-config.md lists those it honours)"
        );
    }
}

fn parse_log_format(s: &str) -> Result<config::LogFormat, String> {
    match s.to_ascii_lowercase().as_str() {
        "text" | "pretty" => Ok(config::LogFormat::Text),
        "json" => Ok(config::LogFormat::Json),
        other => Err(format!("{other:?}: text or json")),
    }
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
    let export = telemetry::export_from(|k| std::env::var(k).ok(), &config::TracingSection::default())?;
    let telemetry = telemetry::init(filter, args.log_format, export)?;
    let db = args.db_filename.unwrap_or_else(default_db_path);
    let store = SqliteStore::open(&db).with_context(|| format!("opening database {}", db.display()))?;
    let mut dynamic = endure_server::dynamic_config::DynamicConfig::default();
    let mut not_honoured = Vec::new();
    for pair in &args.dynamic_config_values {
        let (key, honoured) =
            dynamic.set_pair(pair).map_err(|e| anyhow::anyhow!("--dynamic-config-value {e}"))?;
        if !honoured {
            not_honoured.push(key);
        }
    }
    warn_not_honoured(&not_honoured);
    if let Some(dir) = &args.ui_asset_path
        && !dir.join("index.html").is_file()
    {
        anyhow::bail!("--ui-asset-path {}: no index.html in that folder", dir.display());
    }
    let http_port = args.http_port.unwrap_or_else(|| args.port.checked_add(10).unwrap_or(0));
    let ui_port = args.ui_port.unwrap_or_else(|| args.port.checked_add(1000).unwrap_or(0));
    let config = ServerConfig {
        dynamic,
        namespaces: args.namespaces,
        search_attributes: args.search_attributes,
        http_listen: Some(SocketAddr::new(args.ip, http_port)),
        ui_listen: (!args.headless).then(|| SocketAddr::new(args.ui_ip.unwrap_or(args.ip), ui_port)),
        ui: endure_server::ui::UiConfig {
            codec_endpoint: args.ui_codec_endpoint.filter(|e| !e.trim().is_empty()),
            asset_path: args.ui_asset_path,
            default_namespace: "default".into(),
        },
        ..ServerConfig::single(SocketAddr::new(args.ip, args.port))
    };
    // As `temporal server start-dev`: port 0, the default there, means off.
    let metrics = args.metrics_port.filter(|port| *port != 0).map(|port| SocketAddr::new(args.ip, port));
    if let Some(addr) = metrics {
        metrics::serve(addr).await?;
    }
    let server = Server::start(config, Arc::new(store)).await.context("starting the server")?;
    println!("Endure server listening on {} (gRPC, Temporal API)", server.local_addr);
    if let Some(addr) = server.http_addr {
        println!("HTTP API: http://{addr}/api/v1");
    }
    if let Some(addr) = server.ui_addr {
        println!("Web UI: http://{addr}");
    }
    if let Some(addr) = metrics {
        println!("Metrics: http://{addr}/metrics");
    }
    println!("Data: {}", db.display());
    println!("Started in {} ms", began.elapsed().as_millis());
    wait_for_signal().await?;
    println!("Shutting down");
    server.shutdown().await.context("shutting down")?;
    telemetry.shutdown();
    Ok(())
}

pub(crate) async fn wait_for_signal() -> Result<()> {
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
        Command::Server { mode: ServerMode::Start(args) } => production::start(args.config.as_deref()).await,
        Command::Migrate(args) => production::migrate(args.config.as_deref()).await,
        Command::Debug { what } => debug::run(what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_attribute_flags_parse() {
        assert_eq!(
            parse_search_attribute("CustomKeywordField=Keyword"),
            Ok(("CustomKeywordField".into(), SaType::Keyword))
        );
        assert_eq!(parse_search_attribute("Due=datetime"), Ok(("Due".into(), SaType::Datetime)));
        assert!(parse_search_attribute("NoType").unwrap_err().contains("NAME=TYPE"));
        assert!(parse_search_attribute("X=Float").unwrap_err().contains("unknown search attribute type"));
        assert!(parse_search_attribute("1x=Int").unwrap_err().contains("name \"1x\" is invalid"));
        assert!(parse_search_attribute("WorkflowId=Keyword").unwrap_err().contains("reserved by system"));
        let cli = Cli::try_parse_from([
            "endure",
            "server",
            "start-dev",
            "--search-attribute",
            "A=Int",
            "--search-attribute",
            "B=KeywordList",
        ])
        .unwrap();
        let Command::Server { mode: ServerMode::StartDev(args) } = cli.command else {
            panic!("parsed as another command");
        };
        assert_eq!(
            args.search_attributes,
            vec![("A".into(), SaType::Int), ("B".into(), SaType::KeywordList)]
        );
    }
}
