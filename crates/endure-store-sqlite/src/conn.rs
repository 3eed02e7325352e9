//! The one place connections are opened (flags, busy timeout, SQL functions, WAL and
//! durability pragmas), and the pool of read connections.
//!
//! Reads run on the blocking thread pool, each on an idle read-only connection or a new one;
//! WAL lets them run beside the writer. Up to [`MAX_IDLE_READERS`] idle connections are kept.
//! A connection loads the planner's statistics when it opens, so the writer bumps a
//! *statistics generation* after each `ANALYZE` (see `writer.rs`) and connections opened
//! before it are retired instead of reused.

use crate::error::{backend, poisoned, store_error};
use crate::filter;
use endure_store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Read connections kept open for reuse when load spikes (more are opened on demand).
const MAX_IDLE_READERS: usize = 16;

/// An idle read connection and the statistics generation it was opened at.
type Reader = (u64, Connection);

/// Opens a connection to `path` (`":memory:"`: a private in-memory database). The write
/// connection also sets WAL mode and `synchronous=FULL`.
pub(crate) fn open(path: &str, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = if path == ":memory:" {
        Connection::open_in_memory()
    } else {
        Connection::open_with_flags(path, flags)
    }
    .map_err(|e| store_error(format!("opening SQLite database {path}"), e))?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(backend("setting the busy timeout"))?;
    filter::register_functions(&conn).map_err(backend("registering SQL functions"))?;
    if !read_only {
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;")
            .map_err(|e| store_error(format!("configuring {path}"), e))?;
    }
    Ok(conn)
}

/// The read connections of a database file.
pub(crate) struct ReadPool {
    path: String,
    /// Idle read connections, each with the statistics generation it was opened at.
    idle: Arc<Mutex<Vec<Reader>>>,
    /// Bumped by the writer after each ANALYZE.
    generation: Arc<AtomicU64>,
}

impl ReadPool {
    /// A pool for the database at `path`; connections are opened on first use (start-up stays
    /// a few milliseconds).
    pub(crate) fn new(path: String, generation: Arc<AtomicU64>) -> ReadPool {
        ReadPool { path, idle: Arc::new(Mutex::new(Vec::with_capacity(MAX_IDLE_READERS))), generation }
    }

    /// Runs `f` on a read connection on the blocking thread pool.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (pool, path, generation) = (self.idle.clone(), self.path.clone(), self.generation.clone());
        tokio::task::spawn_blocking(move || {
            // Take an idle read connection opened since the last statistics refresh, or open
            // another; at most MAX_IDLE_READERS are kept for reuse.
            let current = generation.load(Ordering::Acquire);
            let idle = {
                let mut p = pool.lock().map_err(|_| poisoned("the read connections"))?;
                p.retain(|(g, _)| *g == current);
                p.pop()
            };
            let (opened_at, conn) = match idle {
                Some(c) => c,
                None => (current, open(&path, true)?),
            };
            let r = f(&conn);
            if let Ok(mut p) = pool.lock()
                && p.len() < MAX_IDLE_READERS
            {
                p.push((opened_at, conn));
            }
            r
        })
        .await
        .map_err(|e| StoreError::backend("running a read").with_source(e))?
    }

    /// Closes the idle connections.
    pub(crate) fn clear(&self) {
        if let Ok(mut p) = self.idle.lock() {
            p.clear();
        }
    }
}
