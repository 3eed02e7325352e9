//! Versioned schema migrations: `migrations/NNNN_name.sql`, embedded, applied in order, each
//! in its own transaction and recorded in `schema_migrations`.

use crate::conn::connect_one;
use crate::error::{describe, query_error};
use crate::{PgError, PostgresConfig};

/// One schema migration.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, in order. Never edit a released one: add the next.
const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "init", sql: include_str!("../migrations/0001_init.sql") },
    Migration { version: 2, name: "cluster", sql: include_str!("../migrations/0002_cluster.sql") },
    Migration { version: 3, name: "open_runs", sql: include_str!("../migrations/0003_open_runs.sql") },
];

/// The newest schema version this build knows (the last migration's).
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Key of the session advisory lock that serializes migrators (several replicas may run
/// `endure migrate` at once): "enduremg".
const MIGRATION_LOCK_KEY: i64 = 0x656E_6475_7265_6D67;

/// What [`PostgresStore::migrate`](crate::PostgresStore::migrate) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The versions this call applied, in order (empty: the schema was already current).
    pub applied: Vec<i64>,
    /// The database's schema version afterwards.
    pub schema_version: i64,
}

/// Applies the missing migrations under the migration lock.
pub(crate) async fn migrate(config: &PostgresConfig) -> Result<MigrationReport, PgError> {
    let mut client = connect_one(config).await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await
        .map_err(query_error("taking the migration lock"))?;
    let result = migrate_locked(&mut client).await;
    // The lock is a session lock: it also goes when the connection closes.
    if let Err(e) = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY]).await {
        tracing::warn!("releasing the migration lock: {}", describe(&e));
    }
    result
}

async fn migrate_locked(client: &mut tokio_postgres::Client) -> Result<MigrationReport, PgError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    bigint PRIMARY KEY,
                 name       text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(query_error("creating schema_migrations"))?;
    let applied: Vec<i64> = client
        .query("SELECT version FROM schema_migrations ORDER BY version", &[])
        .await
        .map_err(query_error("reading schema_migrations"))?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(query_error("reading schema_migrations"))?;
    if let Some(&newest) = applied.last()
        && newest > SCHEMA_VERSION
    {
        return Err(PgError::SchemaTooNew { found: newest, supported: SCHEMA_VERSION });
    }
    let mut report = MigrationReport { applied: Vec::new(), schema_version: 0 };
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let failed = |e: tokio_postgres::Error| PgError::Migration {
            version: m.version,
            name: m.name,
            message: describe(&e),
        };
        let tx = client.transaction().await.map_err(failed)?;
        tx.batch_execute(m.sql).await.map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())",
            &[&m.version, &m.name],
        )
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        tracing::info!(version = m.version, name = m.name, "applied schema migration");
        report.applied.push(m.version);
    }
    report.schema_version = applied.iter().chain(&report.applied).copied().max().unwrap_or(0);
    Ok(report)
}

/// Refuses a database whose schema is not exactly [`SCHEMA_VERSION`].
pub(crate) async fn check_schema(client: &tokio_postgres::Client, database: &str) -> Result<(), PgError> {
    let context = "checking the schema version";
    let row = client.query_one("SELECT max(version) FROM schema_migrations", &[]).await;
    let found: Option<i64> = match row {
        Ok(r) => r.try_get(0).map_err(query_error(context))?,
        // Never migrated.
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => None,
        Err(e) => return Err(query_error(context)(e)),
    };
    match found {
        None => Err(PgError::SchemaMissing { database: database.to_owned() }),
        Some(v) if v > SCHEMA_VERSION => Err(PgError::SchemaTooNew { found: v, supported: SCHEMA_VERSION }),
        Some(v) if v < SCHEMA_VERSION => Err(PgError::SchemaTooOld { found: v, required: SCHEMA_VERSION }),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_match_the_schema_version() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }
}
