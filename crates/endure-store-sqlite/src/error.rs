//! The one place SQLite's errors become [`StoreError`]s, classified by result code and kept as
//! the source:
//!
//! | SQLite | [`StoreError`] |
//! |---|---|
//! | `SQLITE_BUSY`, `SQLITE_LOCKED` (another connection holds the lock past the busy timeout) | `Unavailable` |
//! | `SQLITE_CONSTRAINT_UNIQUE`, `SQLITE_CONSTRAINT_PRIMARYKEY` | `AlreadyExists` |
//! | `SQLITE_CORRUPT`, `SQLITE_NOTADB`; a stored value of the wrong type or out of range | `Corrupt` |
//! | anything else (`SQLITE_IOERR`, `SQLITE_FULL`, `SQLITE_CANTOPEN`, `SQLITE_READONLY` …) | `Backend` |

use endure_store::{BoxError, StoreError};
use rusqlite::{ErrorCode, ffi};
use std::sync::Arc;

/// Builds a [`StoreError`] of one kind from a context and a source.
type Kind = fn(String, Option<BoxError>) -> StoreError;

/// The kind of `e`, by its result code (see the module docs).
fn kind(e: &rusqlite::Error) -> Kind {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                |context, source| StoreError::Unavailable { context, source }
            }
            ErrorCode::ConstraintViolation
                if matches!(
                    f.extended_code,
                    ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
            {
                |context, source| StoreError::AlreadyExists { context, source }
            }
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => {
                |context, source| StoreError::Corrupt { context, source }
            }
            _ => |context, source| StoreError::Backend { context, source },
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::Utf8Error(..) => |context, source| StoreError::Corrupt { context, source },
        _ => |context, source| StoreError::Backend { context, source },
    }
}

/// A failed SQLite call as a [`StoreError`] of its kind, with context.
pub(crate) fn store_error(context: impl Into<String>, e: rusqlite::Error) -> StoreError {
    kind(&e)(context.into(), Some(Box::new(e)))
}

/// `map_err` adapter for [`store_error`].
pub(crate) fn backend(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| store_error(context, e)
}

/// A failure shared by several callers (the `BEGIN` or `COMMIT` of a group commit) as a
/// [`StoreError`] of its kind for one of them.
pub(crate) fn shared_error(context: &str, e: &Arc<rusqlite::Error>) -> StoreError {
    kind(e)(context.to_owned(), Some(Box::new(e.clone())))
}

/// A lock poisoned by a thread that panicked while holding it.
pub(crate) fn poisoned(what: &str) -> StoreError {
    StoreError::backend(format!("{what}: a thread panicked while holding its lock"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use endure_store::StoreError as E;
    use rusqlite::Connection;

    fn failure(conn: &Connection, sql: &str) -> rusqlite::Error {
        conn.execute_batch(sql).expect_err(sql)
    }

    #[test]
    fn driver_errors_are_classified_by_code_and_kept_as_the_source() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER NOT NULL)")
            .unwrap();
        conn.execute_batch("INSERT INTO t VALUES (1, 'a', 1)").unwrap();

        let e = store_error("inserting", failure(&conn, "INSERT INTO t VALUES (2, 'a', 1)"));
        assert!(matches!(e, E::AlreadyExists { .. }), "unique: {e:?}");
        let e = store_error("inserting", failure(&conn, "INSERT INTO t VALUES (1, 'b', 1)"));
        assert!(matches!(e, E::AlreadyExists { .. }), "primary key: {e:?}");
        let e = store_error("inserting", failure(&conn, "INSERT INTO t VALUES (3, 'c', NULL)"));
        assert!(matches!(e, E::Backend { .. }), "other constraints are not AlreadyExists: {e:?}");
        let e = store_error("reading", failure(&conn, "SELECT * FROM missing"));
        assert!(matches!(e, E::Backend { .. }), "{e:?}");
        assert!(e.to_string().starts_with("storage backend error: reading: no such table"), "{e}");
        let source = std::error::Error::source(&e).expect("the driver error is kept");
        assert!(source.downcast_ref::<rusqlite::Error>().is_some());

        let wrong_type = conn.query_row("SELECT name FROM t", [], |r| r.get::<_, i64>(0)).unwrap_err();
        assert!(matches!(store_error("reading", wrong_type), E::Corrupt { .. }));
    }

    #[test]
    fn a_busy_database_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.db");
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("CREATE TABLE t (x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);").unwrap();
        let other = Connection::open(&path).unwrap();
        other.busy_timeout(std::time::Duration::ZERO).unwrap();
        let e = store_error("writing", failure(&other, "BEGIN IMMEDIATE"));
        assert!(matches!(e, E::Unavailable { .. }) && e.is_retryable(), "{e:?}");
        let shared = shared_error("committing", &Arc::new(failure(&other, "INSERT INTO t VALUES (2)")));
        assert!(shared.is_retryable(), "{shared:?}");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let conn = Connection::open(&path).unwrap();
        let e = store_error("reading", failure(&conn, "SELECT * FROM sqlite_master"));
        assert!(matches!(e, E::Corrupt { .. }), "{e:?}");
    }
}
