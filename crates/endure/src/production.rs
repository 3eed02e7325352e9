//! `endure server start` and `endure migrate`: the production server, configured by a file and
//! ENDURE_* variables (see docs/configuration.md), on PostgreSQL shared by every replica (or on
//! SQLite for a single process).

use crate::config::{Backend, Config};
use anyhow::{Context, Result, bail};
use endure_server::cluster::{Membership, Mode};
use endure_server::{Server, ServerConfig};
use endure_store::Store;
use endure_store_postgres::{PostgresConfig, PostgresStore};
use endure_store_sqlite::SqliteStore;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

fn load(path: Option<&Path>) -> Result<Config> {
    Config::load(path, crate::config::process_env()).context("invalid configuration")
}

/// Logs to stderr as text or as one JSON object per line; exports traces when configured
/// (`[tracing]`, the `OTEL_*` variables: `crate::telemetry`).
fn init_logging(config: &Config, traces: bool) -> Result<crate::telemetry::Telemetry> {
    let level = config.log.level.as_str();
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "warn,endure={level},endure_server={level},endure_store_sqlite={level},endure_store_postgres={level}"
    ))
    .context("log.level")?;
    let export = if traces {
        crate::telemetry::export_from(|k| std::env::var(k).ok(), &config.tracing)?
    } else {
        None
    };
    crate::telemetry::init(filter, config.log.format, export)
}

fn postgres_config(config: &Config) -> PostgresConfig {
    let pg = &config.storage.postgres;
    PostgresConfig {
        host: pg.host.clone(),
        port: pg.port,
        user: pg.user.clone(),
        password: pg.password.expose().map(str::to_owned),
        database: pg.database.clone(),
        max_connections: pg.max_connections as usize,
        connect_timeout: pg.connect_timeout(),
    }
}

/// Opens the configured store; PostgreSQL is migrated first if `storage.auto_migrate` is set.
async fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    Ok(match config.storage.backend {
        Backend::Sqlite => {
            let path = &config.storage.sqlite.path;
            Arc::new(SqliteStore::open(path).with_context(|| format!("opening database {}", path.display()))?)
        }
        Backend::Postgres => {
            let pg = postgres_config(config);
            let target = format!("{}:{}/{}", pg.host, pg.port, pg.database);
            let store = if config.storage.auto_migrate {
                PostgresStore::connect_and_migrate(&pg).await
            } else {
                PostgresStore::connect(&pg).await
            };
            Arc::new(store.with_context(|| format!("opening PostgreSQL database {target}"))?)
        }
    })
}

/// `endure server start`: one replica of a cluster, until SIGTERM/SIGINT (which hands its
/// shards over to the other replicas before exiting).
pub async fn start(path: Option<&Path>) -> Result<()> {
    let began = Instant::now();
    let config = load(path)?;
    let telemetry = init_logging(&config, true)?;
    let store = open_store(&config).await?;
    let cluster = match config.storage.backend {
        // A SQLite file serves one process: it holds every shard.
        Backend::Sqlite => Mode::Exclusive,
        Backend::Postgres => Mode::Shared(Membership {
            // The advertise address names the member: a replica restarted at the same address
            // (the same pod) takes its shards back at once instead of waiting for its old
            // heartbeat to lapse. Its acquisitions fence out anything the old process left.
            member_id: config.server.advertise_address.clone(),
            advertise_address: config.server.advertise_address.clone(),
            heartbeat_interval: config.cluster.heartbeat_interval(),
            member_ttl: config.cluster.member_ttl(),
        }),
    };
    if matches!(cluster, Mode::Shared(_)) && config.server.advertise_address.is_empty() {
        bail!("server.advertise_address: other replicas need an address to reach this one");
    }
    let (dynamic, not_honoured) =
        config.server.dynamic().map_err(|e| anyhow::anyhow!("server.dynamic_config: {e}"))?;
    crate::warn_not_honoured(&not_honoured);
    let server_config = ServerConfig {
        listen: config.server.listen,
        namespaces: config.server.namespaces.clone(),
        search_attributes: config.server.search_attributes.clone(),
        cluster,
        shards: config.cluster.shards,
        internal_listen: Some(config.server.internal_listen),
        http_listen: config.server.http_listen,
        ui_listen: config.ui.listen,
        ui: endure_server::ui::UiConfig {
            codec_endpoint: Some(config.ui.codec_endpoint.clone()).filter(|e| !e.is_empty()),
            asset_path: Some(config.ui.asset_path.clone()).filter(|p| !p.is_empty()).map(Into::into),
            default_namespace: config.server.namespaces.first().cloned().unwrap_or_else(|| "default".into()),
        },
        dynamic,
    };
    if let Some(addr) = config.metrics.listen {
        crate::metrics::serve(addr).await?;
    }
    let server = Server::start(server_config, store).await.context("starting the server")?;
    tracing::info!(
        grpc = %server.local_addr,
        internal = ?server.internal_addr,
        http = ?server.http_addr,
        ui = ?server.ui_addr,
        metrics = ?config.metrics.listen,
        advertise = %config.server.advertise_address,
        shards = ?server.owned_shards(),
        started_ms = began.elapsed().as_millis() as u64,
        "Endure server started"
    );
    crate::wait_for_signal().await?;
    tracing::info!("shutting down: handing shards over");
    server.shutdown().await.context("shutting down")?;
    telemetry.shutdown();
    Ok(())
}

/// `endure migrate`: applies the schema migrations the configured database lacks.
pub async fn migrate(path: Option<&Path>) -> Result<()> {
    let config = load(path)?;
    let _logging = init_logging(&config, false)?;
    match config.storage.backend {
        Backend::Sqlite => {
            // Opening a SQLite file applies its migrations.
            let path = &config.storage.sqlite.path;
            let store = SqliteStore::open(path).with_context(|| format!("migrating {}", path.display()))?;
            store.close().await.context("closing the database")?;
            println!("{}: schema up to date", path.display());
        }
        Backend::Postgres => {
            let pg = postgres_config(&config);
            let report = PostgresStore::migrate(&pg).await.with_context(|| {
                format!("migrating PostgreSQL database {}:{}/{}", pg.host, pg.port, pg.database)
            })?;
            if report.applied.is_empty() {
                println!("schema up to date (version {})", report.schema_version);
            } else {
                println!("applied migrations {:?}; schema version {}", report.applied, report.schema_version);
            }
        }
    }
    Ok(())
}
