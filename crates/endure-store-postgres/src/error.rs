//! Errors of connecting and migrating, and the mapping of driver errors to [`StoreError`].

use endure_store::{BoxError, StoreError};
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

/// Builds a [`StoreError`] of one kind from a context and a source.
type Kind = fn(String, Option<BoxError>) -> StoreError;

/// The kind of `e`: by SQLSTATE for an error the server reported, else by whether the
/// connection failed (see [`store_error`]).
fn kind(e: &tokio_postgres::Error) -> Kind {
    let unavailable: Kind = |context, source| StoreError::Unavailable { context, source };
    let Some(code) = e.code() else {
        // Not the server's answer: the connection could not be made or was lost, or the
        // driver failed (a protocol or conversion error).
        return if e.is_closed() || has_io_source(e) {
            unavailable
        } else {
            |context, source| StoreError::Backend { context, source }
        };
    };
    match code {
        // Class 08: connection exception.
        c if c.code().starts_with("08") => unavailable,
        c if *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::LOCK_NOT_AVAILABLE
            || *c == SqlState::TOO_MANY_CONNECTIONS
            || *c == SqlState::ADMIN_SHUTDOWN
            || *c == SqlState::CRASH_SHUTDOWN
            || *c == SqlState::CANNOT_CONNECT_NOW
            || *c == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT =>
        {
            unavailable
        }
        c if *c == SqlState::UNIQUE_VIOLATION => {
            |context, source| StoreError::AlreadyExists { context, source }
        }
        c if *c == SqlState::DATA_CORRUPTED || *c == SqlState::INDEX_CORRUPTED => {
            |context, source| StoreError::Corrupt { context, source }
        }
        _ => |context, source| StoreError::Backend { context, source },
    }
}

/// Whether an I/O error caused `e` (a refused, reset or timed-out connection).
fn has_io_source(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// A failed statement as a [`StoreError`] of its kind, with context, keeping the driver error
/// as the source:
///
/// | driver error | [`StoreError`] |
/// |---|---|
/// | SQLSTATE class 08 (connection exception), 40001 serialization failure, 40P01 deadlock, 55P03 lock not available, 53300 too many connections, 57P01–57P03 shutdown / cannot connect now, 25P03 idle-in-transaction timeout; no SQLSTATE and the connection closed or failed with an I/O error | `Unavailable` |
/// | 23505 unique violation | `AlreadyExists` |
/// | XX001 data corrupted, XX002 index corrupted | `Corrupt` |
/// | anything else | `Backend` |
///
/// The context ends with the SQLSTATE, when there is one (the driver's message does not show it).
pub(crate) fn store_error(context: impl Into<String>, e: tokio_postgres::Error) -> StoreError {
    let mut context = context.into();
    if let Some(code) = e.code() {
        context.push_str(&format!(" (SQLSTATE {})", code.code()));
    }
    kind(&e)(context, Some(Box::new(e)))
}

/// `map_err` adapter for [`store_error`].
pub(crate) fn backend(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    move |e| store_error(context, e)
}

/// A column that cannot be read as its type: [`StoreError::Corrupt`].
pub(crate) fn unreadable(what: &str, e: tokio_postgres::Error) -> StoreError {
    StoreError::corrupt(format!("reading {what}")).with_source(e)
}

/// Whether `e` is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// A pool error as a [`StoreError`]: a time-out is `Unavailable`, a failed connection is
/// classified like any driver error, a closed pool is `Closed`.
pub(crate) fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Closed => StoreError::closed("the PostgreSQL store is closed"),
        deadpool_postgres::PoolError::Backend(e) => store_error("opening a connection", e),
        e @ deadpool_postgres::PoolError::Timeout(_) => {
            StoreError::unavailable("waiting for a connection from the pool", e)
        }
        e => StoreError::backend("getting a connection from the pool").with_source(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A driver error carrying `sqlstate`, raised by the test server.
    async fn raised(client: &tokio_postgres::Client, sqlstate: &str) -> tokio_postgres::Error {
        let sql = format!("DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '{sqlstate}'; END $$");
        client.batch_execute(&sql).await.expect_err("the statement raises")
    }

    #[tokio::test]
    async fn server_errors_are_classified_by_sqlstate() {
        let config = crate::PostgresConfig::from_url(&crate::testing::server_url()).unwrap();
        let client = crate::conn::connect_one(&config).await.unwrap();
        let kind = |e: &StoreError| match e {
            StoreError::Unavailable { .. } => "Unavailable",
            StoreError::AlreadyExists { .. } => "AlreadyExists",
            StoreError::Corrupt { .. } => "Corrupt",
            StoreError::Backend { .. } => "Backend",
            _ => "other",
        };
        let cases = [
            ("08006", "Unavailable"),
            ("40001", "Unavailable"),
            ("40P01", "Unavailable"),
            ("55P03", "Unavailable"),
            ("53300", "Unavailable"),
            ("57P03", "Unavailable"),
            ("23505", "AlreadyExists"),
            ("XX001", "Corrupt"),
            ("XX002", "Corrupt"),
            ("23502", "Backend"),
            ("22012", "Backend"),
        ];
        for (sqlstate, expected) in cases {
            let e = store_error("running a statement", raised(&client, sqlstate).await);
            assert_eq!(kind(&e), expected, "{sqlstate}: {e:?}");
            assert!(e.to_string().contains(&format!("(SQLSTATE {sqlstate})")), "{e}");
            let source = std::error::Error::source(&e).expect("the driver error is kept");
            assert!(source.downcast_ref::<tokio_postgres::Error>().is_some(), "{sqlstate}");
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_unavailable() {
        let refused = tokio_postgres::connect("host=127.0.0.1 port=1 user=postgres", tokio_postgres::NoTls)
            .await
            .err()
            .expect("nothing listens on port 1");
        let e = store_error("connecting", refused);
        assert!(matches!(e, StoreError::Unavailable { .. }) && e.is_retryable(), "{e:?}");
    }

    #[test]
    fn pool_errors_say_what_to_decide() {
        use deadpool_postgres::{PoolError, TimeoutType};
        let e = pool_error(PoolError::Timeout(TimeoutType::Wait));
        assert!(matches!(e, StoreError::Unavailable { .. }) && e.is_retryable(), "{e:?}");
        assert!(std::error::Error::source(&e).is_some(), "the pool's error is kept");
        assert!(matches!(pool_error(PoolError::Closed), StoreError::Closed { .. }));
        let e = pool_error(PoolError::NoRuntimeSpecified);
        assert!(matches!(e, StoreError::Backend { .. }) && !e.is_retryable(), "{e:?}");
    }
}
