//! [`SqliteStore`]: opening, and the [`Store`] implementation.

use crate::cluster;
use crate::commit::{apply_batch, check_fence, delete_tasks};
use crate::conn::{self, ReadPool};
use crate::error::{backend, store_error};
use crate::filter;
use crate::migrate::migrate;
use crate::rows::{VIS_COLUMNS, ns_row, task_rows, vis_row};
use crate::writer::Writer;
use async_trait::async_trait;
use endure_store::*;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// The SQLite store: a writer thread with group commit, and read connections opened on demand.
/// Wrap it in an `Arc` to share it.
pub struct SqliteStore {
    writer: Writer,
    /// Read connections of a database file (`None` in memory: reads go through the writer,
    /// the only connection that sees the database).
    readers: Option<ReadPool>,
    path: String,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`; `":memory:"` keeps it in memory.
    /// Applies the missing schema migrations; refuses a database with a newer schema.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into().to_string_lossy().to_string();
        if path != ":memory:"
            && let Some(dir) = std::path::Path::new(&path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::backend(format!("creating {}", dir.display())).with_source(e))?;
        }
        let conn = conn::open(&path, false)?;
        migrate(&conn)?;
        let stats_generation = Arc::new(AtomicU64::new(0));
        let readers = if path == ":memory:" {
            None
        } else {
            Some(ReadPool::new(path.clone(), stats_generation.clone()))
        };
        let writer = Writer::start(conn, stats_generation)?;
        Ok(SqliteStore { writer, readers, path })
    }

    /// The database path this store was opened with.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Runs `f` inside the next group-commit transaction and returns its result once committed.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.writer.run(f).await
    }

    /// Runs a read on a pooled read connection (or on the writer for in-memory databases).
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        match &self.readers {
            Some(pool) => pool.run(f).await,
            None => self.write(f).await,
        }
    }
}

/// The first sort key of listings: close time, open runs (0) sorting after every closed one.
/// The same expression as in the `visibility_by_close` index.
const CLOSE_KEY: &str = "(CASE WHEN close_time = 0 THEN 9223372036854775807 ELSE close_time END)";

/// `shard_id IN (…)` for a list of shard ids (integers, so inlined safely).
fn shard_list(shards: &[i32]) -> String {
    let ids: Vec<String> = shards.iter().map(|s| s.to_string()).collect();
    format!("shard_id IN ({})", ids.join(", "))
}

#[async_trait]
impl NamespaceStore for SqliteStore {
    async fn create_namespace(&self, ns: NamespaceRow) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO namespaces (id, name, data) VALUES (?1, ?2, ?3)",
                params![ns.id, ns.name, ns.data],
            )
            .map(|_| ())
            .map_err(|e| store_error(format!("creating namespace {}", ns.name), e))
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
                .map_err(backend("updating a namespace"))?;
            if n == 1 { Ok(()) } else { Err(StoreError::not_found(format!("namespace {}", ns.id))) }
        })
        .await
    }

    async fn namespace_by_name(&self, name: &str) -> StoreResult<Option<NamespaceRow>> {
        let name = name.to_string();
        self.read(move |c| {
            c.prepare_cached("SELECT id, name, data FROM namespaces WHERE name = ?1")
                .and_then(|mut s| s.query_row(params![name], ns_row).optional())
                .map_err(backend("reading a namespace"))
        })
        .await
    }

    async fn namespace_by_id(&self, id: &str) -> StoreResult<Option<NamespaceRow>> {
        let id = id.to_string();
        self.read(move |c| {
            c.prepare_cached("SELECT id, name, data FROM namespaces WHERE id = ?1")
                .and_then(|mut s| s.query_row(params![id], ns_row).optional())
                .map_err(backend("reading a namespace"))
        })
        .await
    }

    async fn list_namespaces(&self) -> StoreResult<Vec<NamespaceRow>> {
        self.read(|c| {
            let mut s = c
                .prepare_cached("SELECT id, name, data FROM namespaces ORDER BY name")
                .map_err(backend("listing namespaces"))?;
            let rows = s.query_map([], ns_row).map_err(backend("listing namespaces"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend("listing namespaces"))
        })
        .await
    }
}

#[async_trait]
impl ExecutionStore for SqliteStore {
    async fn current_runs_with_status(
        &self,
        status: i32,
        after: Option<(String, String)>,
        limit: usize,
    ) -> StoreResult<Vec<RunKey>> {
        let (ns, wf) = after.unwrap_or_default();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT namespace_id, workflow_id, run_id FROM current_runs \
                     WHERE status = ?1 AND (namespace_id, workflow_id) > (?2, ?3) \
                     ORDER BY namespace_id, workflow_id LIMIT ?4",
                )
                .map_err(backend("listing current runs"))?;
            let rows = s
                .query_map(params![status, ns, wf, limit], |r| {
                    Ok(RunKey { namespace_id: r.get(0)?, workflow_id: r.get(1)?, run_id: r.get(2)? })
                })
                .map_err(backend("listing current runs"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend("listing current runs"))
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
            .map_err(backend("reading a current run"))
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
            .map_err(backend("reading a run"))
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
                .map_err(backend("reading history"))?;
            let rows = s
                .query_map(params![k.namespace_id, k.workflow_id, k.run_id, first, end, limit as i64], |r| {
                    Ok(EventRow { event_id: r.get(0)?, data: r.get(1)? })
                })
                .map_err(backend("reading history"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend("reading history"))
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
                .map_err(backend("reading history"))?;
            let rows = s
                .query_map(params![k.namespace_id, k.workflow_id, k.run_id, before, limit as i64], |r| {
                    Ok(EventRow { event_id: r.get(0)?, data: r.get(1)? })
                })
                .map_err(backend("reading history"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend("reading history"))
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
                c.prepare_cached(sql).and_then(|mut s| s.execute(p)).map_err(backend("deleting a run"))?;
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl TaskStore for SqliteStore {
    async fn delete_tasks(&self, fence: Option<Fence>, task_ids: Vec<i64>) -> StoreResult<()> {
        self.write(move |c| {
            if let Some(f) = &fence {
                check_fence(c, f)?;
            }
            delete_tasks(c, &task_ids)
        })
        .await
    }

    async fn load_tasks(&self) -> StoreResult<Vec<TaskRow>> {
        self.read(|c| task_rows(c, "ORDER BY task_id", [])).await
    }

    async fn run_tasks(&self, key: &RunKey) -> StoreResult<Vec<TaskRow>> {
        let k = key.clone();
        let tail = "WHERE namespace_id = ?1 AND workflow_id = ?2 AND run_id = ?3 ORDER BY task_id";
        self.read(move |c| task_rows(c, tail, params![k.namespace_id, k.workflow_id, k.run_id])).await
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
}

#[async_trait]
impl VisibilityStore for SqliteStore {
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
            let mut s = c.prepare_cached(&q).map_err(backend("listing runs"))?;
            let rows =
                s.query_map(rusqlite::params_from_iter(args), vis_row).map_err(backend("listing runs"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend("listing runs"))
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
                .map_err(backend("counting runs"))
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
                        .map_err(backend("counting runs by status"))?;
                    let rows = s.query_map(params![ns], |r| Ok((r.get(0)?, r.get(1)?))).map_err(backend("counting runs by status"))?;
                    rows.collect::<Result<Vec<_>, _>>().map_err(backend("counting runs by status"))
                })
                .await;
        }
        let (sql, args) = filter::where_clause(filter);
        self.read(move |c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT status, COUNT(*) FROM visibility WHERE {sql} GROUP BY status ORDER BY status"
                ))
                .map_err(backend("counting runs by status"))?;
            let rows = s
                .query_map(rusqlite::params_from_iter(args), |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(backend("counting runs by status"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend("counting runs by status"))
        })
        .await
    }
}

#[async_trait]
impl SearchAttributeStore for SqliteStore {
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
                .map_err(backend("reading search attributes"))?;
            let rows = s
                .query_map(params![ns], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i32>(1)?)))
                .map_err(backend("reading search attributes"))?;
            let mut out = Vec::new();
            for row in rows {
                let (name, code) = row.map_err(backend("reading search attributes"))?;
                let ty = endure_store::visibility::SaType::from_code(code).ok_or_else(|| {
                    StoreError::corrupt(format!("search attribute {name} has unknown type {code}"))
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
                    .map_err(backend("registering a search attribute"))?;
                if inserted == 0 {
                    return Err(StoreError::already_exists(format!("search attribute {name} already exists")));
                }
                c.execute_batch(&filter::custom_index_sql(name)).map_err(backend("creating a search attribute index"))?;
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
                    .map_err(backend("removing a search attribute"))?;
                if removed == 0 {
                    return Err(StoreError::not_found(format!("search attribute {name} does not exist")));
                }
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl ClusterStore for SqliteStore {
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
            c.execute("DELETE FROM cluster_members WHERE id = ?1", params![id])
                .map_err(backend("removing a member"))?;
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
            .map_err(backend("releasing a shard"))?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn close(&self) -> StoreResult<()> {
        self.writer.hang_up()?;
        if let Some(pool) = &self.readers {
            pool.clear();
        }
        self.writer.join().await
    }

    fn observe_writes(&self, observer: Arc<dyn endure_store::WriteObserver>) {
        self.writer.observe(observer);
    }
}
