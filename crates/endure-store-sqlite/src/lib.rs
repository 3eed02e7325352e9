//! Embedded SQLite backend for Endure's [`Store`] trait.
//!
//! One writer thread owns the write connection and applies batches with *group commit*: every
//! batch waiting when a transaction begins joins it, each inside its own savepoint (so one failed
//! batch does not abort the others), and one `COMMIT` (one fsync, `synchronous=FULL` in WAL
//! mode) makes them all durable before any caller is answered. Reads use a small pool of
//! read-only connections on the blocking thread pool; WAL lets them run beside the writer.

mod cluster;
mod filter;

use async_trait::async_trait;
use endure_store::*;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::oneshot;

/// The schema migrations, in order: (version, SQL). A database records the versions applied in
/// `schema_version`; opening applies the missing ones, each in its own transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_runs_rowid.sql")),
    (3, include_str!("../migrations/0003_visibility_lineage.sql")),
    (4, include_str!("../migrations/0004_custom_search_attributes.sql")),
    (5, include_str!("../migrations/0005_timer_index.sql")),
    (6, include_str!("../migrations/0006_visibility_close_order.sql")),
    (7, include_str!("../migrations/0007_visibility_filter_indexes.sql")),
    (8, include_str!("../migrations/0008_visibility_counts.sql")),
    (9, include_str!("../migrations/0009_cluster.sql")),
];
/// The newest schema version this build knows.
const SCHEMA_VERSION: i64 = 9;
/// Read connections kept open for reuse when load spikes (more are opened on demand).
const MAX_IDLE_READERS: usize = 16;
const MAX_GROUP: usize = 512;

/// An idle read connection and the statistics generation it was opened at.
type Reader = (u64, Connection);
type Finisher = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Finisher + Send>;

/// The SQLite store. Cheap to clone handles are not needed: wrap it in an `Arc`.
pub struct SqliteStore {
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Idle read connections, each with the statistics generation it was opened at.
    readers: Option<Arc<Mutex<Vec<Reader>>>>,
    /// Bumped by the writer after each ANALYZE.
    stats_generation: Arc<AtomicU64>,
    path: String,
}

pub(crate) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn open_conn(path: &str, read_only: bool) -> Result<Connection, StoreError> {
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
    .map_err(|e| StoreError::Backend(format!("opening SQLite database {path}: {e}")))?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(backend)?;
    filter::register_functions(&conn).map_err(backend)?;
    if !read_only {
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;")
            .map_err(|e| StoreError::Backend(format!("configuring {path}: {e}")))?;
    }
    Ok(conn)
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);")
        .map_err(backend)?;
    let current: Option<i64> =
        conn.query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0)).map_err(backend)?;
    match current {
        Some(v) if v > SCHEMA_VERSION => Err(StoreError::Backend(format!(
            "database schema version {v} is newer than this server understands ({SCHEMA_VERSION}); upgrade Endure"
        ))),
        current => {
            // Every missing migration in one transaction (one fsync): all or nothing.
            let applied = current.unwrap_or(0);
            let pending: Vec<_> = MIGRATIONS.iter().filter(|(v, _)| *v > applied).collect();
            if pending.is_empty() {
                return Ok(());
            }
            let mut batch = String::from("BEGIN;");
            for (version, sql) in &pending {
                batch.push_str(sql);
                batch.push_str(&format!("\nINSERT INTO schema_version (version) VALUES ({version});"));
            }
            batch.push_str("COMMIT;");
            conn.execute_batch(&batch).map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK;");
                let versions: Vec<String> = pending.iter().map(|(v, _)| v.to_string()).collect();
                StoreError::Backend(format!("applying schema migrations {}: {e}", versions.join(", ")))
            })
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`; `":memory:"` keeps it in memory.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into().to_string_lossy().to_string();
        if path != ":memory:"
            && let Some(dir) = std::path::Path::new(&path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Backend(format!("creating {}: {e}", dir.display())))?;
        }
        let conn = open_conn(&path, false)?;
        migrate(&conn)?;
        let readers = if path == ":memory:" {
            None
        } else {
            // Read connections are opened on first use (start-up stays a few milliseconds).
            Some(Arc::new(Mutex::new(Vec::with_capacity(MAX_IDLE_READERS))))
        };
        let stats_generation = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel::<Job>();
        let handle = std::thread::Builder::new()
            .name("endure-sqlite-writer".into())
            .spawn({
                let generation = stats_generation.clone();
                move || writer_loop(conn, rx, generation)
            })
            .map_err(backend)?;
        Ok(SqliteStore {
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(handle)),
            readers,
            stats_generation,
            path,
        })
    }

    /// The database path this store was opened with.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Runs `f` inside the next group-commit transaction and returns its result once committed.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn: &Connection| {
            let r = in_savepoint(conn, f);
            Box::new(move |committed: Result<(), String>| {
                let _ = tx.send(match committed {
                    Ok(()) => r,
                    Err(e) => Err(StoreError::Backend(format!("commit failed: {e}"))),
                });
            })
        });
        let sender = self
            .writer
            .lock()
            .map_err(backend)?
            .clone()
            .ok_or_else(|| StoreError::Backend("store is closed".into()))?;
        sender.send(job).map_err(|_| StoreError::Backend("store writer stopped".into()))?;
        rx.await.map_err(|_| StoreError::Backend("store writer dropped the request".into()))?
    }

    /// Runs a read on a pooled read connection (or on the writer for in-memory databases).
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let Some(pool) = self.readers.clone() else {
            return self.write(f).await;
        };
        let path = self.path.clone();
        let generation = self.stats_generation.clone();
        tokio::task::spawn_blocking(move || {
            // Take an idle read connection opened since the last statistics refresh, or open
            // another; at most MAX_IDLE_READERS are kept for reuse.
            let current = generation.load(Ordering::Acquire);
            let idle = {
                let mut p = pool.lock().map_err(backend)?;
                p.retain(|(g, _)| *g == current);
                p.pop()
            };
            let (opened_at, conn) = match idle {
                Some(c) => c,
                None => (current, open_conn(&path, true)?),
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
        .map_err(backend)?
    }
}

fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
    conn.execute_batch("SAVEPOINT job").map_err(backend)?;
    let r = f(conn);
    let end = if r.is_ok() { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" };
    conn.execute_batch(end).map_err(backend)?;
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

/// How often (in committed jobs) the writer checks whether statistics need a refresh.
const ANALYZE_CHECK_EVERY_COMMITS: u64 = 10_000;

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>, generation: Arc<AtomicU64>) {
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
        let begun = conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| e.to_string());
        if let Err(e) = begun {
            for j in jobs {
                j(&conn)(Err(e.clone()));
            }
            continue;
        }
        since_analyze += jobs.len() as u64;
        let finishers: Vec<Finisher> = jobs.into_iter().map(|j| j(&conn)).collect();
        let committed = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
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

fn ns_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NamespaceRow> {
    Ok(NamespaceRow { id: r.get(0)?, name: r.get(1)?, data: r.get(2)? })
}

fn vis_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VisibilityRow> {
    Ok(VisibilityRow {
        namespace_id: r.get(0)?,
        run_id: r.get(1)?,
        workflow_id: r.get(2)?,
        workflow_type: r.get(3)?,
        task_queue: r.get(4)?,
        status: r.get(5)?,
        start_time: r.get(6)?,
        execution_time: r.get(7)?,
        close_time: r.get(8)?,
        history_length: r.get(9)?,
        history_size_bytes: r.get(10)?,
        state_transition_count: r.get(11)?,
        memo: r.get(12)?,
        search_attributes: r.get(13)?,
        parent_workflow_id: r.get(14)?,
        parent_run_id: r.get(15)?,
        root_workflow_id: r.get(16)?,
        root_run_id: r.get(17)?,
        custom: filter::custom_from_json(&r.get::<_, String>(18)?),
    })
}

/// The first sort key of listings: close time, open runs (0) sorting after every closed one.
/// The same expression as in the `visibility_by_close` index.
const CLOSE_KEY: &str = "(CASE WHEN close_time = 0 THEN 9223372036854775807 ELSE close_time END)";

const VIS_COLUMNS: &str = "namespace_id, run_id, workflow_id, workflow_type, task_queue, status, start_time, \
     execution_time, close_time, history_length, history_size_bytes, state_transition_count, memo, search_attributes, \
     parent_workflow_id, parent_run_id, root_workflow_id, root_run_id, custom";

/// Task rows matching `tail` (a WHERE/ORDER BY clause) with its parameters.
fn task_rows<P: rusqlite::Params>(c: &Connection, tail: &str, params: P) -> StoreResult<Vec<TaskRow>> {
    let mut s = c
        .prepare_cached(&format!(
            "SELECT task_id, namespace_id, workflow_id, run_id, fire_at, data, shard_id FROM tasks {tail}"
        ))
        .map_err(backend)?;
    let rows = s
        .query_map(params, |r| {
            Ok(TaskRow {
                task_id: r.get(0)?,
                shard_id: r.get(6)?,
                run: RunKey { namespace_id: r.get(1)?, workflow_id: r.get(2)?, run_id: r.get(3)? },
                fire_at: r.get(4)?,
                data: r.get(5)?,
            })
        })
        .map_err(backend)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(backend)
}

/// `shard_id IN (…)` for a list of shard ids (integers, so inlined safely).
fn shard_list(shards: &[i32]) -> String {
    let ids: Vec<String> = shards.iter().map(|s| s.to_string()).collect();
    format!("shard_id IN ({})", ids.join(", "))
}

/// Fails unless the batch's lease is still the shard's current one. The writer thread runs one
/// job at a time, so nothing can take the shard between this check and the commit.
fn check_fence(conn: &Connection, fence: &Fence) -> StoreResult<()> {
    let stored: Option<i64> = conn
        .prepare_cached("SELECT range_id FROM shards WHERE shard_id = ?1")
        .and_then(|mut s| s.query_row(params![fence.shard_id], |r| r.get(0)).optional())
        .map_err(backend)?;
    if stored != Some(fence.range_id) {
        return Err(StoreError::ShardOwnershipLost(format!(
            "shard {} is at range {stored:?}, this writer holds range {}",
            fence.shard_id, fence.range_id
        )));
    }
    Ok(())
}

fn apply_batch(conn: &Connection, b: &WriteBatch) -> StoreResult<CommitResult> {
    let k = &b.run;
    if let Some(f) = &b.fence {
        check_fence(conn, f)?;
    }
    if let Some(cur) = &b.current {
        let existing: Option<String> = conn
            .prepare_cached("SELECT run_id FROM current_runs WHERE namespace_id = ?1 AND workflow_id = ?2")
            .and_then(|mut s| s.query_row(params![k.namespace_id, k.workflow_id], |r| r.get(0)).optional())
            .map_err(backend)?;
        match (&cur.condition, existing) {
            (CurrentCondition::Absent, None) => {}
            (CurrentCondition::RunIs(want), Some(have)) if *want == have => {}
            (_, have) => {
                return Err(StoreError::ConditionFailed(format!(
                    "current run of {} is {have:?}, expected {:?}",
                    k.workflow_id, cur.condition
                )));
            }
        }
        conn.prepare_cached(
            "INSERT INTO current_runs (namespace_id, workflow_id, run_id, status, start_request_id) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (namespace_id, workflow_id) DO UPDATE SET \
             run_id = excluded.run_id, status = excluded.status, start_request_id = excluded.start_request_id",
        )
        .and_then(|mut s| {
            s.execute(params![
                k.namespace_id,
                k.workflow_id,
                cur.value.run_id,
                cur.value.status,
                cur.value.start_request_id
            ])
        })
        .map_err(backend)?;
    }
    let db_version = match b.expected_version {
        None => {
            conn.prepare_cached(
                "INSERT INTO runs (namespace_id, workflow_id, run_id, state, db_version) VALUES (?1, ?2, ?3, ?4, 1)",
            )
            .and_then(|mut s| s.execute(params![k.namespace_id, k.workflow_id, k.run_id, b.state]))
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                    StoreError::AlreadyExists(format!("run {}", k.run_id))
                }
                e => backend(e),
            })?;
            1
        }
        Some(v) => {
            let n = conn
                .prepare_cached(
                    "UPDATE runs SET state = ?1, db_version = ?2 WHERE namespace_id = ?3 AND workflow_id = ?4 \
                     AND run_id = ?5 AND db_version = ?6",
                )
                .and_then(|mut s| s.execute(params![b.state, v + 1, k.namespace_id, k.workflow_id, k.run_id, v]))
                .map_err(backend)?;
            if n != 1 {
                return Err(StoreError::ConditionFailed(format!("run {} changed concurrently", k.run_id)));
            }
            v + 1
        }
    };
    {
        let mut s = conn
            .prepare_cached(
                "INSERT INTO events (namespace_id, workflow_id, run_id, event_id, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(backend)?;
        for e in &b.events {
            s.execute(params![k.namespace_id, k.workflow_id, k.run_id, e.event_id, e.data])
                .map_err(backend)?;
        }
    }
    let mut task_ids = Vec::with_capacity(b.new_tasks.len());
    {
        let mut s = conn
            .prepare_cached(
                "INSERT INTO tasks (namespace_id, workflow_id, run_id, fire_at, data, shard_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(backend)?;
        let shard = b.fence.map(|f| f.shard_id).unwrap_or(0);
        for t in &b.new_tasks {
            s.execute(params![k.namespace_id, k.workflow_id, k.run_id, t.fire_at, t.data, shard])
                .map_err(backend)?;
            task_ids.push(conn.last_insert_rowid());
        }
    }
    delete_tasks(conn, &b.delete_tasks)?;
    if let Some(v) = &b.visibility {
        conn.prepare_cached(&format!(
            // An upsert, not INSERT OR REPLACE: the status counters' triggers must see an
            // UPDATE (a REPLACE deletes without firing delete triggers).
            "INSERT INTO visibility ({VIS_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19) \
             ON CONFLICT (namespace_id, run_id) DO UPDATE SET workflow_id = excluded.workflow_id, \
             workflow_type = excluded.workflow_type, task_queue = excluded.task_queue, status = excluded.status, \
             start_time = excluded.start_time, execution_time = excluded.execution_time, \
             close_time = excluded.close_time, history_length = excluded.history_length, \
             history_size_bytes = excluded.history_size_bytes, \
             state_transition_count = excluded.state_transition_count, memo = excluded.memo, \
             search_attributes = excluded.search_attributes, parent_workflow_id = excluded.parent_workflow_id, \
             parent_run_id = excluded.parent_run_id, root_workflow_id = excluded.root_workflow_id, \
             root_run_id = excluded.root_run_id, custom = excluded.custom"
        ))
        .and_then(|mut s| {
            s.execute(params![
                v.namespace_id,
                v.run_id,
                v.workflow_id,
                v.workflow_type,
                v.task_queue,
                v.status,
                v.start_time,
                v.execution_time,
                v.close_time,
                v.history_length,
                v.history_size_bytes,
                v.state_transition_count,
                v.memo,
                v.search_attributes,
                v.parent_workflow_id,
                v.parent_run_id,
                v.root_workflow_id,
                v.root_run_id,
                filter::custom_to_json(&v.custom)
            ])
        })
        .map_err(backend)?;
    }
    Ok(CommitResult { db_version, task_ids })
}

fn delete_tasks(conn: &Connection, ids: &[i64]) -> StoreResult<()> {
    let mut s = conn.prepare_cached("DELETE FROM tasks WHERE task_id = ?1").map_err(backend)?;
    for id in ids {
        s.execute(params![id]).map_err(backend)?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_namespace(&self, ns: NamespaceRow) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO namespaces (id, name, data) VALUES (?1, ?2, ?3)",
                params![ns.id, ns.name, ns.data],
            )
            .map(|_| ())
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    StoreError::AlreadyExists(format!("namespace {}", ns.name))
                }
                e => backend(e),
            })
        })
        .await
    }

    async fn update_namespace(&self, ns: NamespaceRow) -> StoreResult<()> {
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE namespaces SET name = ?2, data = ?3 WHERE id = ?1",
                    params![ns.id, ns.name, ns.data],
                )
                .map_err(backend)?;
            if n == 1 {
                Ok(())
            } else {
                Err(StoreError::ConditionFailed(format!("namespace {} missing", ns.id)))
            }
        })
        .await
    }

    async fn namespace_by_name(&self, name: &str) -> StoreResult<Option<NamespaceRow>> {
        let name = name.to_string();
        self.read(move |c| {
            c.prepare_cached("SELECT id, name, data FROM namespaces WHERE name = ?1")
                .and_then(|mut s| s.query_row(params![name], ns_row).optional())
                .map_err(backend)
        })
        .await
    }

    async fn namespace_by_id(&self, id: &str) -> StoreResult<Option<NamespaceRow>> {
        let id = id.to_string();
        self.read(move |c| {
            c.prepare_cached("SELECT id, name, data FROM namespaces WHERE id = ?1")
                .and_then(|mut s| s.query_row(params![id], ns_row).optional())
                .map_err(backend)
        })
        .await
    }

    async fn list_namespaces(&self) -> StoreResult<Vec<NamespaceRow>> {
        self.read(|c| {
            let mut s =
                c.prepare_cached("SELECT id, name, data FROM namespaces ORDER BY name").map_err(backend)?;
            let rows = s.query_map([], ns_row).map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn current_run(&self, namespace_id: &str, workflow_id: &str) -> StoreResult<Option<CurrentRun>> {
        let (ns, wf) = (namespace_id.to_string(), workflow_id.to_string());
        self.read(move |c| {
            c.prepare_cached(
                "SELECT run_id, status, start_request_id FROM current_runs WHERE namespace_id = ?1 AND workflow_id = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![ns, wf], |r| {
                    Ok(CurrentRun { run_id: r.get(0)?, status: r.get(1)?, start_request_id: r.get(2)? })
                })
                .optional()
            })
            .map_err(backend)
        })
        .await
    }

    async fn get_run(&self, key: &RunKey) -> StoreResult<Option<RunRow>> {
        let k = key.clone();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT state, db_version FROM runs WHERE namespace_id = ?1 AND workflow_id = ?2 AND run_id = ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![k.namespace_id, k.workflow_id, k.run_id], |r| {
                    Ok(RunRow { state: r.get(0)?, db_version: r.get(1)? })
                })
                .optional()
            })
            .map_err(backend)
        })
        .await
    }

    async fn read_events(
        &self,
        key: &RunKey,
        first: i64,
        end: i64,
        limit: usize,
    ) -> StoreResult<Vec<EventRow>> {
        let k = key.clone();
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT event_id, data FROM events WHERE namespace_id = ?1 AND workflow_id = ?2 AND run_id = ?3 \
                     AND event_id >= ?4 AND event_id < ?5 ORDER BY event_id LIMIT ?6",
                )
                .map_err(backend)?;
            let rows = s
                .query_map(params![k.namespace_id, k.workflow_id, k.run_id, first, end, limit as i64], |r| {
                    Ok(EventRow { event_id: r.get(0)?, data: r.get(1)? })
                })
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn read_events_reverse(
        &self,
        key: &RunKey,
        before: i64,
        limit: usize,
    ) -> StoreResult<Vec<EventRow>> {
        let k = key.clone();
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT event_id, data FROM events WHERE namespace_id = ?1 AND workflow_id = ?2 AND run_id = ?3 \
                     AND event_id < ?4 ORDER BY event_id DESC LIMIT ?5",
                )
                .map_err(backend)?;
            let rows = s
                .query_map(params![k.namespace_id, k.workflow_id, k.run_id, before, limit as i64], |r| {
                    Ok(EventRow { event_id: r.get(0)?, data: r.get(1)? })
                })
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn commit(&self, batch: WriteBatch) -> StoreResult<CommitResult> {
        self.write(move |c| apply_batch(c, &batch)).await
    }

    async fn commit_all(&self, batches: Vec<WriteBatch>) -> StoreResult<Vec<CommitResult>> {
        self.write(move |c| batches.iter().map(|b| apply_batch(c, b)).collect()).await
    }

    async fn delete_run(&self, key: &RunKey) -> StoreResult<()> {
        let k = key.clone();
        self.write(move |c| {
            let p = params![k.namespace_id, k.workflow_id, k.run_id];
            for sql in [
                "DELETE FROM events WHERE namespace_id = ?1 AND workflow_id = ?2 AND run_id = ?3",
                "DELETE FROM runs WHERE namespace_id = ?1 AND workflow_id = ?2 AND run_id = ?3",
                "DELETE FROM tasks WHERE namespace_id = ?1 AND workflow_id = ?2 AND run_id = ?3",
                "DELETE FROM visibility WHERE namespace_id = ?1 AND workflow_id = ?2 AND run_id = ?3",
                "DELETE FROM current_runs WHERE namespace_id = ?1 AND workflow_id = ?2 AND run_id = ?3",
            ] {
                c.prepare_cached(sql).and_then(|mut s| s.execute(p)).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_tasks(&self, task_ids: Vec<i64>) -> StoreResult<()> {
        self.write(move |c| delete_tasks(c, &task_ids)).await
    }

    async fn load_tasks(&self) -> StoreResult<Vec<TaskRow>> {
        self.read(|c| task_rows(c, "ORDER BY task_id", [])).await
    }

    async fn load_transfer_tasks(&self, shards: &[i32]) -> StoreResult<Vec<TaskRow>> {
        let tail = format!("WHERE fire_at IS NULL AND {} ORDER BY task_id", shard_list(shards));
        self.read(move |c| task_rows(c, &tail, [])).await
    }

    async fn load_timer_tasks(&self, shards: &[i32], after: i64, until: i64) -> StoreResult<Vec<TaskRow>> {
        let tail = format!(
            "WHERE fire_at > ?1 AND fire_at <= ?2 AND {} ORDER BY fire_at, task_id",
            shard_list(shards)
        );
        self.read(move |c| task_rows(c, &tail, [after, until])).await
    }

    async fn list_runs(
        &self,
        filter: &VisibilityFilter,
        cursor: Option<PageCursor>,
        limit: usize,
    ) -> StoreResult<Vec<VisibilityRow>> {
        let (mut sql, mut args) = filter::where_clause(filter);
        if let Some(c) = cursor {
            let key = if c.close_time == 0 { i64::MAX } else { c.close_time };
            sql.push_str(&format!(
                " AND ({CLOSE_KEY} < ? OR ({CLOSE_KEY} = ? AND (start_time < ? OR (start_time = ? AND run_id < ?))))"
            ));
            args.extend([key.into(), key.into(), c.start_time.into(), c.start_time.into(), c.run_id.into()]);
        }
        args.push((limit as i64).into());
        self.read(move |c| {
            let q = format!(
                "SELECT {VIS_COLUMNS} FROM visibility WHERE {sql} \
                 ORDER BY {CLOSE_KEY} DESC, start_time DESC, run_id DESC LIMIT ?"
            );
            let mut s = c.prepare_cached(&q).map_err(backend)?;
            let rows = s.query_map(rusqlite::params_from_iter(args), vis_row).map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn count_runs(&self, filter: &VisibilityFilter) -> StoreResult<i64> {
        if filter.expr.is_none() && filter.open.is_none() {
            return Ok(self.count_runs_by_status(filter).await?.iter().map(|(_, n)| n).sum());
        }
        let (sql, args) = filter::where_clause(filter);
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT COUNT(*) FROM visibility WHERE {sql}"))
                .and_then(|mut s| s.query_row(rusqlite::params_from_iter(args), |r| r.get(0)))
                .map_err(backend)
        })
        .await
    }

    async fn count_runs_by_status(&self, filter: &VisibilityFilter) -> StoreResult<Vec<(i32, i64)>> {
        if filter.expr.is_none() && filter.open.is_none() {
            // A whole namespace: the trigger-kept counters.
            let ns = filter.namespace_id.clone();
            return self
                .read(move |c| {
                    let mut s = c
                        .prepare_cached(
                            "SELECT status, n FROM visibility_counts WHERE namespace_id = ?1 AND n > 0 ORDER BY status",
                        )
                        .map_err(backend)?;
                    let rows = s.query_map(params![ns], |r| Ok((r.get(0)?, r.get(1)?))).map_err(backend)?;
                    rows.collect::<Result<Vec<_>, _>>().map_err(backend)
                })
                .await;
        }
        let (sql, args) = filter::where_clause(filter);
        self.read(move |c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT status, COUNT(*) FROM visibility WHERE {sql} GROUP BY status ORDER BY status"
                ))
                .map_err(backend)?;
            let rows = s
                .query_map(rusqlite::params_from_iter(args), |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn search_attributes(
        &self,
        namespace_id: &str,
    ) -> StoreResult<Vec<(String, endure_store::visibility::SaType)>> {
        let ns = namespace_id.to_owned();
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT name, type FROM search_attributes WHERE namespace_id = ?1 ORDER BY name",
                )
                .map_err(backend)?;
            let rows = s
                .query_map(params![ns], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i32>(1)?)))
                .map_err(backend)?;
            let mut out = Vec::new();
            for row in rows {
                let (name, code) = row.map_err(backend)?;
                let ty = endure_store::visibility::SaType::from_code(code).ok_or_else(|| {
                    StoreError::Backend(format!("search attribute {name} has unknown type {code}"))
                })?;
                out.push((name, ty));
            }
            Ok(out)
        })
        .await
    }

    async fn add_search_attributes(
        &self,
        namespace_id: &str,
        attrs: Vec<(String, endure_store::visibility::SaType)>,
    ) -> StoreResult<()> {
        let ns = namespace_id.to_owned();
        self.write(move |c| {
            for (name, ty) in &attrs {
                let inserted = c
                    .prepare_cached(
                        "INSERT OR IGNORE INTO search_attributes (namespace_id, name, type) VALUES (?1, ?2, ?3)",
                    )
                    .and_then(|mut s| s.execute(params![ns, name, ty.code()]))
                    .map_err(backend)?;
                if inserted == 0 {
                    return Err(StoreError::ConditionFailed(format!("search attribute {name} already exists")));
                }
                c.execute_batch(&filter::custom_index_sql(name)).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn remove_search_attributes(&self, namespace_id: &str, names: Vec<String>) -> StoreResult<()> {
        let ns = namespace_id.to_owned();
        self.write(move |c| {
            for name in &names {
                let removed = c
                    .prepare_cached("DELETE FROM search_attributes WHERE namespace_id = ?1 AND name = ?2")
                    .and_then(|mut s| s.execute(params![ns, name]))
                    .map_err(backend)?;
                if removed == 0 {
                    return Err(StoreError::ConditionFailed(format!(
                        "search attribute {name} does not exist"
                    )));
                }
            }
            Ok(())
        })
        .await
    }

    async fn init_shard_count(&self, requested: u32) -> StoreResult<u32> {
        self.write(move |c| cluster::init_shard_count(c, requested)).await
    }

    async fn heartbeat_member(&self, id: &str, address: &str, ttl_ms: i64) -> StoreResult<Vec<Member>> {
        let (id, address) = (id.to_owned(), address.to_owned());
        self.write(move |c| cluster::heartbeat(c, &id, &address, ttl_ms)).await
    }

    async fn remove_member(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |c| {
            c.execute("DELETE FROM cluster_members WHERE id = ?1", params![id]).map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn shard_leases(&self) -> StoreResult<Vec<ShardLease>> {
        self.read(cluster::leases).await
    }

    async fn acquire_shard(
        &self,
        shard_id: i32,
        owner: &str,
        expected_range_id: i64,
    ) -> StoreResult<ShardLease> {
        let owner = owner.to_owned();
        self.write(move |c| cluster::acquire(c, shard_id, &owner, expected_range_id)).await
    }

    async fn release_shard(&self, shard_id: i32, owner: &str, range_id: i64) -> StoreResult<()> {
        let owner = owner.to_owned();
        self.write(move |c| {
            c.execute(
                "UPDATE shards SET owner = '' WHERE shard_id = ?1 AND owner = ?2 AND range_id = ?3",
                params![shard_id, owner, range_id],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn close(&self) -> StoreResult<()> {
        let sender = self.writer.lock().map_err(backend)?.take();
        drop(sender);
        if let Some(pool) = &self.readers
            && let Ok(mut p) = pool.lock()
        {
            p.clear();
        }
        let handle = self.writer_thread.lock().map_err(backend)?.take();
        if let Some(h) = handle {
            tokio::task::spawn_blocking(move || h.join())
                .await
                .map_err(backend)?
                .map_err(|_| StoreError::Backend("SQLite writer thread panicked".into()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
