//! Errors of connecting and migrating, and the mapping of driver errors to [`StoreError`].

use endure_store::StoreError;
use tokio_postgres::error::SqlState;

/// Errors of connecting to, checking and migrating the database (store operations themselves
/// fail with [`StoreError`]).
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The settings cannot be used.
    #[error("invalid PostgreSQL configuration: {0}")]
    Config(String),
    /// The server could not be reached or refused the connection.
    #[error("connecting to PostgreSQL {target}: {message}")]
    Connect {
        /// `user@host:port/database`.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// The database holds no Endure schema.
    #[error("database {database} has no endure schema; run `endure migrate` to create it")]
    SchemaMissing {
        /// Database name.
        database: String,
    },
    /// The database's schema predates this binary.
    #[error(
        "database schema version {found} is older than this endure binary needs ({required}); run `endure migrate` to upgrade it"
    )]
    SchemaTooOld {
        /// Version found in the database.
        found: i64,
        /// Version this binary needs.
        required: i64,
    },
    /// The database was migrated by a newer Endure.
    #[error(
        "database schema version {found} is newer than this endure binary supports ({supported}); upgrade endure"
    )]
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
        /// Newest version this binary knows.
        supported: i64,
    },
    /// A migration failed (its transaction was rolled back; earlier ones stay applied).
    #[error("applying schema migration {version} ({name}): {message}")]
    Migration {
        /// Migration version.
        version: i64,
        /// Migration name.
        name: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A statement failed.
    #[error("{context}: {message}")]
    Query {
        /// What was being done.
        context: String,
        /// What went wrong.
        message: String,
    },
}

/// A driver error as text: for a server error its severity, message, SQLSTATE and detail.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{}: {} (SQLSTATE {})", db.severity(), db.message(), db.code().code());
            if let Some(d) = db.detail() {
                s.push_str(&format!("; {d}"));
            }
            s
        }
        None => e.to_string(),
    }
}

/// A failed statement as a [`PgError::Query`].
pub(crate) fn query_error(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> PgError {
    let context = context.into();
    move |e| PgError::Query { context, message: describe(&e) }
}

/// A failed statement as a [`StoreError`]: conflicts with a concurrent transaction (deadlock,
/// serialization failure) as `ConditionFailed`, anything else as `Backend`, with context.
pub(crate) fn store_error(context: &str, e: &tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE => {
            StoreError::ConditionFailed(format!(
                "{context}: conflict with a concurrent writer: {}",
                describe(e)
            ))
        }
        _ => StoreError::Backend(format!("PostgreSQL: {context}: {}", describe(e))),
    }
}

/// `map_err` adapter for [`store_error`].
pub(crate) fn backend(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    move |e| store_error(context, &e)
}

/// Whether `e` is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// A pool error as a [`StoreError`].
pub(crate) fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Closed => StoreError::Backend("the PostgreSQL store is closed".into()),
        deadpool_postgres::PoolError::Backend(e) => {
            StoreError::Backend(format!("PostgreSQL: opening a connection: {}", describe(&e)))
        }
        e => StoreError::Backend(format!("PostgreSQL: getting a connection from the pool: {e}")),
    }
}
