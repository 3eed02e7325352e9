//! The one place connections are made: the driver settings, the TLS choice (none yet) and the
//! pool. Adding TLS means changing [`tls`] (and its type) here only.

use crate::error::describe;
use crate::{PgError, PostgresConfig};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

/// The TLS connector every connection uses.
fn tls() -> NoTls {
    NoTls
}

/// The driver's settings for `config`.
fn driver_config(config: &PostgresConfig) -> tokio_postgres::Config {
    let mut c = tokio_postgres::Config::new();
    c.host(&config.host)
        .port(config.port)
        .user(&config.user)
        .dbname(&config.database)
        .application_name("endure")
        .connect_timeout(config.connect_timeout)
        .keepalives(true)
        // A replica paused or partitioned inside a transaction would hold its shard locks and
        // block the member taking its shards over; the server ends such a transaction (and
        // the session) after 5 s idle, rolling it back: nothing acknowledged is lost.
        .options("-c idle_in_transaction_session_timeout=5000");
    if let Some(p) = &config.password {
        c.password(p);
    }
    c
}

/// One connection outside the pool (migrations, schema checks, test databases). Its
/// connection task runs on the current tokio runtime until the client is dropped.
pub(crate) async fn connect_one(config: &PostgresConfig) -> Result<tokio_postgres::Client, PgError> {
    let (client, connection) = driver_config(config)
        .connect(tls())
        .await
        .map_err(|e| PgError::Connect { target: config.target(), message: describe(&e) })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("PostgreSQL connection closed: {e}");
        }
    });
    Ok(client)
}

/// The store's bounded pool. Connections are opened on demand and kept; nothing runs in the
/// background while the store is idle.
pub(crate) fn pool(config: &PostgresConfig) -> Result<Pool, PgError> {
    if config.max_connections == 0 {
        return Err(PgError::Config("max_connections must be at least 1".into()));
    }
    let manager = Manager::from_config(
        driver_config(config),
        tls(),
        ManagerConfig { recycling_method: RecyclingMethod::Fast },
    );
    Pool::builder(manager)
        .max_size(config.max_connections)
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(config.connect_timeout))
        .build()
        .map_err(|e| PgError::Config(format!("building the connection pool: {e}")))
}
