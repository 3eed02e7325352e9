//! Scratch databases for tests against a real PostgreSQL server.
//!
//! Tests read the server's URL from [`URL_ENV`] (`ENDURE_TEST_POSTGRES_URL`, e.g.
//! `postgres://postgres@127.0.0.1:55432/postgres`; `scripts/postgres.sh start` starts a
//! throwaway server and prints the `export` line) and create a database of their own with
//! [`scratch_database`], so they can run in parallel:
//!
//! ```no_run
//! # async fn demo() -> Result<(), endure_store_postgres::PgError> {
//! use endure_store_postgres::{PostgresStore, testing};
//! let (config, db) = testing::scratch_database(&testing::server_url()).await?;
//! let store = PostgresStore::connect_and_migrate(&config).await?;
//! // … use the store …
//! drop(store);
//! db.drop_db().await?; // or just let `db` drop
//! # Ok(()) }
//! ```

use crate::conn::connect_one;
use crate::error::query_error;
use crate::{PgError, PostgresConfig};

/// The environment variable naming the test server.
pub const URL_ENV: &str = "ENDURE_TEST_POSTGRES_URL";

/// Prefix of scratch database names.
pub const SCRATCH_PREFIX: &str = "endure_t_";

/// The test server's URL from [`URL_ENV`].
///
/// # Panics
///
/// If the variable is unset or empty, with instructions to start a server: tests that need
/// PostgreSQL fail rather than pass without running.
pub fn server_url() -> String {
    match std::env::var(URL_ENV) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{URL_ENV} is not set: the PostgreSQL tests need a server. Start a throwaway one with\n\n    \
             eval \"$(scripts/postgres.sh start)\"\n\n\
             (it prints `export {URL_ENV}=postgres://postgres@127.0.0.1:55432/postgres`), then run the tests again."
        ),
    }
}

/// A database created for one test. Dropping it (or [`drop_db`](Self::drop_db)) removes the
/// database, ending any connection still open to it.
#[derive(Debug)]
pub struct ScratchDb {
    admin: PostgresConfig,
    name: String,
    dropped: bool,
}

/// Creates a fresh, empty database `endure_t_<random>` on the server at `url` (a superuser or
/// a user with `CREATEDB`) and returns the settings to reach it (pool of 16 connections) and
/// its guard.
pub async fn scratch_database(url: &str) -> Result<(PostgresConfig, ScratchDb), PgError> {
    let admin = PostgresConfig::from_url(url)?;
    let name = format!("{SCRATCH_PREFIX}{}", uuid::Uuid::new_v4().simple());
    let client = connect_one(&admin).await?;
    client
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .map_err(query_error(format!("creating the scratch database {name}")))?;
    let config = PostgresConfig { database: name.clone(), ..admin.clone() };
    Ok((config, ScratchDb { admin, name, dropped: false }))
}

impl ScratchDb {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database now, ending the connections still open to it.
    pub async fn drop_db(mut self) -> Result<(), PgError> {
        self.dropped = true;
        drop_database(&self.admin, &self.name).await
    }
}

async fn drop_database(admin: &PostgresConfig, name: &str) -> Result<(), PgError> {
    let client = connect_one(admin).await?;
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .map_err(query_error(format!("dropping the scratch database {name}")))
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        self.dropped = true;
        // Drop may run inside or outside a runtime (or while a test unwinds): use a thread of
        // its own with a runtime of its own.
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(drop_database(&admin, &name)).map_err(|e| e.to_string())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop scratch database {}: {e}", self.name),
            Err(_) => eprintln!("warning: dropping scratch database {} panicked", self.name),
        }
    }
}
