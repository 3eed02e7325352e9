//! [`StoreError`]: what went wrong in a store, sorted by what the caller has to decide.
//!
//! Backends classify their driver's errors once, by code, in their own `error.rs` (SQLite
//! result codes, PostgreSQL SQLSTATE classes, pool errors) and keep the driver error as the
//! [`source`](std::error::Error::source). Callers match on the variant, never on the message.

use std::fmt;

/// A boxed error kept as the cause of a [`StoreError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of a storage backend. Each variant is a decision for the caller:
///
/// | variant | what the caller does |
/// |---|---|
/// | [`Unavailable`](Self::Unavailable) | try again later; [`is_retryable`](Self::is_retryable) |
/// | [`Conflict`](Self::Conflict) | re-read, then decide again (a concurrent writer won) |
/// | [`AlreadyExists`](Self::AlreadyExists) | report that the thing exists |
/// | [`NotFound`](Self::NotFound) | report that the thing is missing |
/// | [`ShardOwnershipLost`](Self::ShardOwnershipLost) | stop writing to the shard |
/// | [`Corrupt`](Self::Corrupt) | report an internal error; retrying cannot help |
/// | [`Closed`](Self::Closed) | stop: the store was closed |
/// | [`Backend`](Self::Backend) | report an internal error |
///
/// Every variant carries a context message (what was being done, or which thing) and, where a
/// lower-level error caused it, that error as its `source`. `Display` shows the kind, the
/// context and the cause on one line, so a log line or status message made from it is whole.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot serve the call now, and the same call may succeed later: a connection
    /// could not be had in time, was refused or was lost; the database is busy or locked; the
    /// database aborted the transaction for a serialization failure or a deadlock. A write that
    /// failed this way either wrote nothing or (a commit whose answer was lost) wrote under its
    /// version and fence checks, so repeating it cannot apply it twice.
    #[error("storage unavailable: {context}{}", cause(.source))]
    Unavailable {
        /// What was being done.
        context: String,
        /// The driver's or pool's error.
        #[source]
        source: Option<BoxError>,
    },
    /// A conditional write lost to a concurrent writer: the run is not at the expected
    /// version, the current-run pointer does not match its condition, or a shard's range moved
    /// on before a compare-and-set. Nothing was written; repeating the same call fails the
    /// same way, so the caller reads again first.
    #[error("conflict: {context}{}", cause(.source))]
    Conflict {
        /// Which condition failed.
        context: String,
        /// The driver's error, if the database reported the conflict.
        #[source]
        source: Option<BoxError>,
    },
    /// A create collided with something that exists (a namespace name or id, a run, a search
    /// attribute name).
    #[error("already exists: {context}{}", cause(.source))]
    AlreadyExists {
        /// What exists.
        context: String,
        /// The driver's error (a unique-key violation), if it reported the collision.
        #[source]
        source: Option<BoxError>,
    },
    /// The operation targets something that does not exist (a namespace to update, a search
    /// attribute to remove).
    #[error("not found: {context}{}", cause(.source))]
    NotFound {
        /// What is missing.
        context: String,
        /// The lower-level error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// A fenced write named a shard lease that is no longer current: another member took the
    /// shard (its `range_id` moved on), so this writer must stop writing to it. Nothing was
    /// written.
    #[error("shard ownership lost: {context}{}", cause(.source))]
    ShardOwnershipLost {
        /// Which shard, and the ranges seen.
        context: String,
        /// The lower-level error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// Stored data cannot be read back: a value does not decode, or the rows say something
    /// impossible (an unknown type code, a missing lease row). Retrying cannot help.
    #[error("corrupt stored data: {context}{}", cause(.source))]
    Corrupt {
        /// What could not be read.
        context: String,
        /// The decoding or driver error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The store was closed ([`Store::close`](crate::Store::close)); every later call fails.
    #[error("store closed: {context}{}", cause(.source))]
    Closed {
        /// What was being done.
        context: String,
        /// The lower-level error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// Any other failure of the backend: I/O, a full disk, a refused statement, an invalid
    /// argument, a bug.
    #[error("storage backend error: {context}{}", cause(.source))]
    Backend {
        /// What was being done.
        context: String,
        /// The driver's error, if any.
        #[source]
        source: Option<BoxError>,
    },
}

/// `": <source>"`, or nothing without a source.
fn cause(source: &Option<BoxError>) -> impl fmt::Display + '_ {
    struct Cause<'a>(&'a Option<BoxError>);
    impl fmt::Display for Cause<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                Some(e) => write!(f, ": {e}"),
                None => Ok(()),
            }
        }
    }
    Cause(source)
}

impl StoreError {
    /// [`StoreError::Unavailable`] caused by `source`.
    pub fn unavailable(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        StoreError::Unavailable { context: context.into(), source: Some(source.into()) }
    }

    /// [`StoreError::Conflict`] without a lower-level cause.
    pub fn conflict(context: impl Into<String>) -> Self {
        StoreError::Conflict { context: context.into(), source: None }
    }

    /// [`StoreError::AlreadyExists`] without a lower-level cause.
    pub fn already_exists(context: impl Into<String>) -> Self {
        StoreError::AlreadyExists { context: context.into(), source: None }
    }

    /// [`StoreError::NotFound`] without a lower-level cause.
    pub fn not_found(context: impl Into<String>) -> Self {
        StoreError::NotFound { context: context.into(), source: None }
    }

    /// [`StoreError::ShardOwnershipLost`] without a lower-level cause.
    pub fn ownership_lost(context: impl Into<String>) -> Self {
        StoreError::ShardOwnershipLost { context: context.into(), source: None }
    }

    /// [`StoreError::Corrupt`] without a lower-level cause.
    pub fn corrupt(context: impl Into<String>) -> Self {
        StoreError::Corrupt { context: context.into(), source: None }
    }

    /// [`StoreError::Closed`] without a lower-level cause.
    pub fn closed(context: impl Into<String>) -> Self {
        StoreError::Closed { context: context.into(), source: None }
    }

    /// [`StoreError::Backend`] without a lower-level cause.
    pub fn backend(context: impl Into<String>) -> Self {
        StoreError::Backend { context: context.into(), source: None }
    }

    /// The same error with `source` as its cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        *self.source_mut() = Some(source.into());
        self
    }

    /// Whether repeating the same call later may succeed (only [`StoreError::Unavailable`]).
    /// A [`StoreError::Conflict`] is not: the caller must read again and decide anew.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }

    /// The context message: what was being done, or which thing exists, is missing or
    /// conflicted (without the kind or the cause).
    pub fn context(&self) -> &str {
        match self {
            StoreError::Unavailable { context, .. }
            | StoreError::Conflict { context, .. }
            | StoreError::AlreadyExists { context, .. }
            | StoreError::NotFound { context, .. }
            | StoreError::ShardOwnershipLost { context, .. }
            | StoreError::Corrupt { context, .. }
            | StoreError::Closed { context, .. }
            | StoreError::Backend { context, .. } => context,
        }
    }

    fn source_mut(&mut self) -> &mut Option<BoxError> {
        match self {
            StoreError::Unavailable { source, .. }
            | StoreError::Conflict { source, .. }
            | StoreError::AlreadyExists { source, .. }
            | StoreError::NotFound { source, .. }
            | StoreError::ShardOwnershipLost { source, .. }
            | StoreError::Corrupt { source, .. }
            | StoreError::Closed { source, .. }
            | StoreError::Backend { source, .. } => source,
        }
    }
}

/// Result alias for storage operations.
pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn display_shows_kind_context_and_cause_and_the_source_is_kept() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let e = StoreError::unavailable("reading a run", io);
        assert_eq!(e.to_string(), "storage unavailable: reading a run: connection refused");
        let source = e.source().expect("the cause is kept");
        let io = source.downcast_ref::<std::io::Error>().expect("as the driver's own type");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
        assert_eq!(e.context(), "reading a run");

        let e = StoreError::conflict("run r1 changed concurrently");
        assert_eq!(e.to_string(), "conflict: run r1 changed concurrently");
        assert!(e.source().is_none());
        let e = e.with_source(std::fmt::Error);
        assert!(e.source().is_some_and(|s| s.is::<std::fmt::Error>()));
    }

    #[test]
    fn only_unavailable_is_retryable() {
        let cases = [
            (StoreError::unavailable("x", std::fmt::Error), true),
            (StoreError::conflict("x"), false),
            (StoreError::already_exists("x"), false),
            (StoreError::not_found("x"), false),
            (StoreError::ownership_lost("x"), false),
            (StoreError::corrupt("x"), false),
            (StoreError::closed("x"), false),
            (StoreError::backend("x"), false),
        ];
        for (e, retryable) in cases {
            assert_eq!(e.is_retryable(), retryable, "{e:?}");
            assert_eq!(e.context(), "x");
        }
    }
}
