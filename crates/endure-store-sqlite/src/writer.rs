//! The writer thread and group commit.
//!
//! One thread owns the write connection. Every write is a job sent to it over a channel; the
//! thread takes the first waiting job and every other job already queued (up to
//! [`MAX_GROUP`]), begins one transaction (`BEGIN IMMEDIATE`), runs each job inside its own
//! savepoint (so one failed job does not abort the others), and makes them all durable with
//! one `COMMIT` (one fsync, `synchronous=FULL` in WAL mode) before any caller is answered. A
//! failed `BEGIN` or `COMMIT` fails every job of the group.
//!
//! Every [`ANALYZE_CHECK_EVERY_COMMITS`] jobs, and at start, the thread refreshes the
//! planner's statistics on the visibility table if the table has outgrown them.
//!
//! The thread reports each group (its size, the time from `BEGIN` to the end of `COMMIT`) and
//! the jobs waiting for it to the store's [`WriteObserver`], once one is set.

use crate::error::{backend, poisoned, shared_error};
use endure_store::{StoreError, StoreResult, WriteObserver};
use rusqlite::{Connection, OptionalExtension};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Instant;
use tokio::sync::oneshot;

/// Most jobs one transaction takes.
const MAX_GROUP: usize = 512;

/// How often (in committed jobs) the writer checks whether statistics need a refresh.
const ANALYZE_CHECK_EVERY_COMMITS: u64 = 10_000;

/// A failed `BEGIN` or `COMMIT`: what failed, and the error, shared by the group's jobs.
type GroupFailure = (&'static str, Arc<rusqlite::Error>);
/// Answers a job's caller once its group's `COMMIT` (or `BEGIN`) is known.
type Finisher = Box<dyn FnOnce(Result<(), GroupFailure>) + Send>;
/// A write, run inside the group's transaction; returns how to answer its caller.
type Job = Box<dyn FnOnce(&Connection) -> Finisher + Send>;

/// The writer thread and the channel to it.
pub(crate) struct Writer {
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    stats: Arc<Stats>,
}

/// What the writer reports, and to whom.
#[derive(Default)]
struct Stats {
    observer: OnceLock<Arc<dyn WriteObserver>>,
    /// Jobs sent and not yet taken by the thread.
    waiting: AtomicUsize,
}

impl Stats {
    fn report_waiting(&self) {
        if let Some(o) = self.observer.get() {
            o.waiting("sqlite", self.waiting.load(Ordering::Relaxed));
        }
    }
}

impl Writer {
    /// Starts the writer thread on `conn`; it bumps `generation` after each `ANALYZE`.
    pub(crate) fn start(conn: Connection, generation: Arc<AtomicU64>) -> StoreResult<Writer> {
        let (tx, rx) = mpsc::channel::<Job>();
        let stats = Arc::new(Stats::default());
        let thread_stats = stats.clone();
        let handle = std::thread::Builder::new()
            .name("endure-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, generation, &thread_stats))
            .map_err(|e| StoreError::backend("starting the SQLite writer thread").with_source(e))?;
        Ok(Writer { sender: Mutex::new(Some(tx)), thread: Mutex::new(Some(handle)), stats })
    }

    /// Reports group commits and waiting jobs to `observer` from now on (the first one set
    /// stays).
    pub(crate) fn observe(&self, observer: Arc<dyn WriteObserver>) {
        let _ = self.stats.observer.set(observer);
    }

    /// Runs `f` inside the next group-commit transaction and returns its result once committed.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn: &Connection| {
            let r = in_savepoint(conn, f);
            Box::new(move |committed: Result<(), GroupFailure>| {
                let _ = tx.send(match committed {
                    Ok(()) => r,
                    Err((what, e)) => Err(shared_error(what, &e)),
                });
            })
        });
        let sender = self
            .sender
            .lock()
            .map_err(|_| poisoned("the writer's channel"))?
            .clone()
            .ok_or_else(|| StoreError::closed("the SQLite store takes no more writes"))?;
        self.stats.waiting.fetch_add(1, Ordering::Relaxed);
        if sender.send(job).is_err() {
            self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(StoreError::closed("the SQLite writer thread has stopped"));
        }
        self.stats.report_waiting();
        rx.await.map_err(|_| StoreError::backend("the SQLite writer thread dropped the request"))?
    }

    /// Stops taking jobs: the thread finishes the queued ones, checkpoints the WAL, closes the
    /// connection and ends (see [`join`](Self::join)).
    pub(crate) fn hang_up(&self) -> StoreResult<()> {
        let sender = self.sender.lock().map_err(|_| poisoned("the writer's channel"))?.take();
        drop(sender);
        Ok(())
    }

    /// Waits for the thread to end (after [`hang_up`](Self::hang_up)).
    pub(crate) async fn join(&self) -> StoreResult<()> {
        let handle = self.thread.lock().map_err(|_| poisoned("the writer thread's handle"))?.take();
        if let Some(h) = handle {
            tokio::task::spawn_blocking(move || h.join())
                .await
                .map_err(|e| StoreError::backend("waiting for the SQLite writer thread").with_source(e))?
                .map_err(|_| StoreError::backend("the SQLite writer thread panicked"))?;
        }
        Ok(())
    }
}

fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
    conn.execute_batch("SAVEPOINT job").map_err(backend("opening the write's savepoint"))?;
    let r = f(conn);
    let end = if r.is_ok() { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" };
    conn.execute_batch(end).map_err(backend("closing the write's savepoint"))?;
    r
}

/// Refreshes the query planner's statistics on the visibility table when they are missing or
/// the table has more than doubled since they were taken. Without them SQLite walks the
/// listing-order index and filters, which is slow for a selective filter on a big table; with
/// sampled ones (`analysis_limit`) it underestimates common values. A full pass costs about
/// 2 µs a row, and doubling keeps the total over the table's life to twice that.
fn analyze_if_grown(conn: &Connection, generation: &AtomicU64) {
    let stats: Option<i64> = conn
        .query_row("SELECT stat FROM sqlite_stat1 WHERE idx = 'visibility_by_close'", [], |r| {
            r.get::<_, String>(0)
        })
        .optional()
        .ok()
        .flatten()
        .and_then(|s| s.split(' ').next()?.parse().ok());
    let rows: i64 =
        conn.query_row("SELECT COALESCE(MAX(rowid), 0) FROM visibility", [], |r| r.get(0)).unwrap_or(0);
    let stale = match stats {
        None => true,
        Some(n) => rows > 2 * n.max(500),
    };
    if !stale {
        return;
    }
    if let Err(e) = conn.execute_batch("ANALYZE visibility;") {
        tracing::warn!("refreshing SQLite statistics: {e}");
        return;
    }
    // Read connections load statistics when they open: retire the ones opened before.
    generation.fetch_add(1, Ordering::Release);
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>, generation: Arc<AtomicU64>, stats: &Stats) {
    analyze_if_grown(&conn, &generation);
    let mut since_analyze = 0u64;
    while let Ok(first) = rx.recv() {
        if since_analyze >= ANALYZE_CHECK_EVERY_COMMITS {
            analyze_if_grown(&conn, &generation);
            since_analyze = 0;
        }
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        stats.waiting.fetch_sub(jobs.len(), Ordering::Relaxed);
        stats.report_waiting();
        let started = Instant::now();
        let begun =
            conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| ("beginning a transaction", Arc::new(e)));
        if let Err(e) = begun {
            for j in jobs {
                j(&conn)(Err(e.clone()));
            }
            continue;
        }
        since_analyze += jobs.len() as u64;
        let finishers: Vec<Finisher> = jobs.into_iter().map(|j| j(&conn)).collect();
        let committed = conn.execute_batch("COMMIT").map_err(|e| ("committing", Arc::new(e)));
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        } else if let Some(o) = stats.observer.get() {
            o.group_committed("sqlite", finishers.len(), started.elapsed());
        }
        for f in finishers {
            f(committed.clone());
        }
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    if let Err((_, e)) = conn.close() {
        tracing::warn!("closing SQLite database: {e}");
    }
}
