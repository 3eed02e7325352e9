//! [`PostgresStore`]: opening, and the [`Store`] implementation.

use crate::commit::{DELETE_TASKS_SQL, commit_batches};
use crate::conn::{connect_one, pool};
use crate::error::{backend, describe, is_unique_violation, pool_error, store_error};
use crate::fence::{self, FENCE_LOCK_SQL, FENCE_SQL, SHARD_LOCK_CLASS};
use crate::filter::{self, Query};
use crate::migrate::{self, MigrationReport};
use crate::pipeline::{Outcome, PgFuture, run_in_order};
use crate::rows::{TASK_COLUMNS, VIS_COLUMNS, event_row, get, ns_row, task_row, vis_row};
use crate::{PgError, PostgresConfig};
use async_trait::async_trait;
use deadpool_postgres::Pool;
use endure_store::visibility::SaType;
use endure_store::*;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// The PostgreSQL store: a bounded connection pool on a migrated database. Share it in an
/// `Arc`; every method takes a pooled connection for its duration.
pub struct PostgresStore {
    pool: Pool,
    writes: WriteStats,
}

/// What commits report to the store's [`WriteObserver`]: each commit's round trip (one
/// transaction per commit: PostgreSQL groups fsyncs itself), and the commits waiting for a
/// pooled connection.
#[derive(Default)]
struct WriteStats {
    observer: std::sync::OnceLock<std::sync::Arc<dyn WriteObserver>>,
    waiting: std::sync::atomic::AtomicUsize,
}

impl WriteStats {
    fn report_waiting(&self, change: isize) {
        use std::sync::atomic::Ordering;
        let now = if change >= 0 {
            self.waiting.fetch_add(change as usize, Ordering::Relaxed) + change as usize
        } else {
            self.waiting.fetch_sub(change.unsigned_abs(), Ordering::Relaxed) - change.unsigned_abs()
        };
        if let Some(o) = self.observer.get() {
            o.waiting("postgres", now);
        }
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("pool", &self.pool.status()).finish()
    }
}

impl PostgresStore {
    /// Connects to the database of `config` and checks its schema: refuses one that was never
    /// migrated or is older than this build ([`PgError::SchemaMissing`],
    /// [`PgError::SchemaTooOld`]: run `endure migrate`) or newer ([`PgError::SchemaTooNew`]:
    /// upgrade Endure).
    pub async fn connect(config: &PostgresConfig) -> Result<PostgresStore, PgError> {
        let pool = pool(config)?;
        let client = pool.get().await.map_err(|e| PgError::Connect {
            target: config.target(),
            message: match e {
                deadpool_postgres::PoolError::Backend(e) => describe(&e),
                e => e.to_string(),
            },
        })?;
        migrate::check_schema(&client, &config.database).await?;
        let sync: String = client
            .query_one("SELECT current_setting('synchronous_commit')", &[])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(crate::error::query_error("reading synchronous_commit"))?;
        if sync == "off" {
            tracing::warn!(
                "PostgreSQL synchronous_commit is off: commits are acknowledged before they are durable, \
                 so a database crash can lose acknowledged workflow progress"
            );
        }
        drop(client);
        Ok(PostgresStore { pool, writes: WriteStats::default() })
    }

    /// Applies every migration the database lacks, in order, each in its own transaction
    /// (recorded in `schema_migrations`). Safe to run from several replicas at once: migrators
    /// take turns on an advisory lock, and a later one finds nothing left to do. Refuses a
    /// database with a newer schema than this build knows.
    pub async fn migrate(config: &PostgresConfig) -> Result<MigrationReport, PgError> {
        migrate::migrate(config).await
    }

    /// [`migrate`](Self::migrate), then [`connect`](Self::connect).
    pub async fn connect_and_migrate(config: &PostgresConfig) -> Result<PostgresStore, PgError> {
        let report = Self::migrate(config).await?;
        if !report.applied.is_empty() {
            tracing::info!(applied = ?report.applied, "migrated the PostgreSQL schema to version {}", report.schema_version);
        }
        Self::connect(config).await
    }

    /// The schema version recorded in the database of `config` (`None`: never migrated).
    pub async fn schema_version(config: &PostgresConfig) -> Result<Option<i64>, PgError> {
        let client = connect_one(config).await?;
        match client.query_one("SELECT max(version) FROM schema_migrations", &[]).await {
            Ok(r) => r.try_get(0).map_err(crate::error::query_error("reading the schema version")),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => Ok(None),
            Err(e) => Err(crate::error::query_error("reading the schema version")(e)),
        }
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Runs a cached prepared statement returning rows.
    async fn query(
        &self,
        context: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        let client = self.client().await?;
        let st = client.prepare_cached(sql).await.map_err(backend(context))?;
        client.query(&st, params).await.map_err(backend(context))
    }

    /// Runs a cached prepared statement, returning the number of rows changed.
    async fn execute(
        &self,
        context: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<u64> {
        let client = self.client().await?;
        let st = client.prepare_cached(sql).await.map_err(backend(context))?;
        client.execute(&st, params).await.map_err(backend(context))
    }

    /// Runs a compiled filter query (not cached: its text varies with the filter), in one
    /// round trip.
    async fn query_filter(&self, context: &'static str, q: &Query) -> StoreResult<Vec<Row>> {
        let client = self.client().await?;
        client.query_typed(&q.sql, &q.typed_params()).await.map_err(backend(context))
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl NamespaceStore for PostgresStore {
    async fn create_namespace(&self, ns: NamespaceRow) -> StoreResult<()> {
        let client = self.client().await?;
        let st = client
            .prepare_cached("INSERT INTO namespaces (id, name, data) VALUES ($1, $2, $3)")
            .await
            .map_err(backend("preparing a namespace insert"))?;
        match client.execute(&st, &[&ns.id, &ns.name, &ns.data]).await {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::already_exists(format!("namespace {}", ns.name)).with_source(e))
            }
            Err(e) => Err(store_error("creating a namespace", e)),
        }
    }

    async fn update_namespace(&self, ns: NamespaceRow) -> StoreResult<()> {
        let n = self
            .execute(
                "updating a namespace",
                "UPDATE namespaces SET name = $2, data = $3 WHERE id = $1",
                &[&ns.id, &ns.name, &ns.data],
            )
            .await?;
        if n == 1 { Ok(()) } else { Err(StoreError::not_found(format!("namespace {}", ns.id))) }
    }

    async fn namespace_by_name(&self, name: &str) -> StoreResult<Option<NamespaceRow>> {
        let rows = self
            .query("reading a namespace", "SELECT id, name, data FROM namespaces WHERE name = $1", &[&name])
            .await?;
        rows.first().map(ns_row).transpose()
    }

    async fn namespace_by_id(&self, id: &str) -> StoreResult<Option<NamespaceRow>> {
        let rows = self
            .query("reading a namespace", "SELECT id, name, data FROM namespaces WHERE id = $1", &[&id])
            .await?;
        rows.first().map(ns_row).transpose()
    }

    async fn list_namespaces(&self) -> StoreResult<Vec<NamespaceRow>> {
        let rows = self
            .query("listing namespaces", "SELECT id, name, data FROM namespaces ORDER BY name", &[])
            .await?;
        rows.iter().map(ns_row).collect()
    }
}

#[async_trait]
impl ExecutionStore for PostgresStore {
    async fn current_runs_with_status(
        &self,
        status: i32,
        after: Option<(String, String)>,
        limit: usize,
    ) -> StoreResult<Vec<RunKey>> {
        let (ns, wf) = after.unwrap_or_default();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .query(
                "listing current runs",
                "SELECT namespace_id, workflow_id, run_id FROM current_runs \
                 WHERE status = $1 AND (namespace_id, workflow_id) > ($2, $3) \
                 ORDER BY namespace_id, workflow_id LIMIT $4",
                &[&status, &ns, &wf, &limit],
            )
            .await?;
        let w = "a current run";
        rows.iter()
            .map(|r| {
                Ok(RunKey { namespace_id: get(r, 0, w)?, workflow_id: get(r, 1, w)?, run_id: get(r, 2, w)? })
            })
            .collect()
    }

    async fn current_run(&self, namespace_id: &str, workflow_id: &str) -> StoreResult<Option<CurrentRun>> {
        let rows = self
            .query(
                "reading a current run",
                "SELECT run_id, status, start_request_id FROM current_runs WHERE namespace_id = $1 AND workflow_id = $2",
                &[&namespace_id, &workflow_id],
            )
            .await?;
        rows.first()
            .map(|r| {
                let w = "a current run";
                Ok(CurrentRun {
                    run_id: get(r, 0, w)?,
                    status: get(r, 1, w)?,
                    start_request_id: get(r, 2, w)?,
                })
            })
            .transpose()
    }

    async fn get_run(&self, key: &RunKey) -> StoreResult<Option<RunRow>> {
        let rows = self
            .query(
                "reading a run",
                "SELECT state, db_version FROM runs WHERE namespace_id = $1 AND workflow_id = $2 AND run_id = $3",
                &[&key.namespace_id, &key.workflow_id, &key.run_id],
            )
            .await?;
        rows.first()
            .map(|r| Ok(RunRow { state: get(r, 0, "a run")?, db_version: get(r, 1, "a run")? }))
            .transpose()
    }

    async fn read_events(
        &self,
        key: &RunKey,
        first: i64,
        end: i64,
        limit_n: usize,
    ) -> StoreResult<Vec<EventRow>> {
        let rows = self
            .query(
                "reading history",
                "SELECT event_id, data FROM events WHERE namespace_id = $1 AND workflow_id = $2 AND run_id = $3 \
                 AND event_id >= $4 AND event_id < $5 ORDER BY event_id LIMIT $6",
                &[&key.namespace_id, &key.workflow_id, &key.run_id, &first, &end, &limit(limit_n)],
            )
            .await?;
        rows.iter().map(event_row).collect()
    }

    async fn read_events_reverse(
        &self,
        key: &RunKey,
        before: i64,
        limit_n: usize,
    ) -> StoreResult<Vec<EventRow>> {
        let rows = self
            .query(
                "reading history",
                "SELECT event_id, data FROM events WHERE namespace_id = $1 AND workflow_id = $2 AND run_id = $3 \
                 AND event_id < $4 ORDER BY event_id DESC LIMIT $5",
                &[&key.namespace_id, &key.workflow_id, &key.run_id, &before, &limit(limit_n)],
            )
            .await?;
        rows.iter().map(event_row).collect()
    }

    async fn commit(&self, batch: WriteBatch) -> StoreResult<CommitResult> {
        let mut results = self.commit_all(vec![batch]).await?;
        results.pop().ok_or_else(|| StoreError::backend("the commit returned no result"))
    }

    async fn commit_all(&self, batches: Vec<WriteBatch>) -> StoreResult<Vec<CommitResult>> {
        self.writes.report_waiting(1);
        let client = self.client().await;
        self.writes.report_waiting(-1);
        let mut client = client?;
        let started = std::time::Instant::now();
        let results = commit_batches(&mut client, &batches).await?;
        if let Some(o) = self.writes.observer.get() {
            o.group_committed("postgres", batches.len(), started.elapsed());
        }
        Ok(results)
    }

    async fn delete_run(&self, key: &RunKey) -> StoreResult<()> {
        const DELETES: [&str; 5] = [
            "DELETE FROM events WHERE namespace_id = $1 AND workflow_id = $2 AND run_id = $3",
            "DELETE FROM runs WHERE namespace_id = $1 AND workflow_id = $2 AND run_id = $3",
            "DELETE FROM tasks WHERE namespace_id = $1 AND workflow_id = $2 AND run_id = $3",
            "DELETE FROM visibility WHERE namespace_id = $1 AND workflow_id = $2 AND run_id = $3",
            "DELETE FROM current_runs WHERE namespace_id = $1 AND workflow_id = $2 AND run_id = $3",
        ];
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend("beginning a transaction"))?;
        let mut statements = Vec::with_capacity(DELETES.len());
        for sql in DELETES {
            statements.push(tx.prepare_cached(sql).await.map_err(backend("preparing a run deletion"))?);
        }
        let params: [&(dyn ToSql + Sync); 3] = [&key.namespace_id, &key.workflow_id, &key.run_id];
        let outcomes = {
            let tx = &tx;
            let futures: Vec<PgFuture<'_>> = statements
                .iter()
                .map(|st| -> PgFuture<'_> {
                    Box::pin(async move { tx.execute(st, &params).await.map(Outcome::Count) })
                })
                .collect();
            run_in_order(futures).await
        };
        for o in outcomes {
            if let Err(e) = o {
                if let Err(re) = tx.rollback().await {
                    tracing::debug!("rolling back a failed run deletion: {}", describe(&re));
                }
                return Err(store_error("deleting a run", e));
            }
        }
        tx.commit().await.map_err(backend("committing a run deletion"))
    }
}

#[async_trait]
impl TaskStore for PostgresStore {
    async fn delete_tasks(&self, fence: Option<Fence>, task_ids: Vec<i64>) -> StoreResult<()> {
        if task_ids.is_empty() {
            return Ok(());
        }
        let Some(f) = fence else {
            return self.execute("deleting tasks", DELETE_TASKS_SQL, &[&task_ids]).await.map(|_| ());
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend("beginning a transaction"))?;
        let shards = vec![f.shard_id];
        tx.execute(FENCE_LOCK_SQL, &[&SHARD_LOCK_CLASS, &shards])
            .await
            .map_err(backend("locking a shard lease"))?;
        let leases = tx.query(FENCE_SQL, &[&shards]).await.map_err(backend("reading a shard lease"))?;
        fence::check([f], &leases)?;
        tx.execute(DELETE_TASKS_SQL, &[&task_ids]).await.map_err(backend("deleting tasks"))?;
        tx.commit().await.map_err(backend("committing a task deletion"))
    }

    async fn load_tasks(&self) -> StoreResult<Vec<TaskRow>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks ORDER BY task_id");
        self.query("loading tasks", &sql, &[]).await?.iter().map(task_row).collect()
    }

    async fn run_tasks(&self, key: &RunKey) -> StoreResult<Vec<TaskRow>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE namespace_id = $1 AND workflow_id = $2 AND run_id = $3 \
             ORDER BY task_id"
        );
        let params: [&(dyn ToSql + Sync); 3] = [&key.namespace_id, &key.workflow_id, &key.run_id];
        self.query("loading a run's tasks", &sql, &params).await?.iter().map(task_row).collect()
    }

    async fn load_transfer_tasks(&self, shards: &[i32]) -> StoreResult<Vec<TaskRow>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE fire_at IS NULL AND shard_id = ANY($1::integer[]) ORDER BY task_id"
        );
        self.query("loading transfer tasks", &sql, &[&shards]).await?.iter().map(task_row).collect()
    }

    async fn load_timer_tasks(&self, shards: &[i32], after: i64, until: i64) -> StoreResult<Vec<TaskRow>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE fire_at IS NOT NULL AND shard_id = ANY($1::integer[]) \
             AND fire_at > $2 AND fire_at <= $3 ORDER BY fire_at, task_id"
        );
        self.query("loading timer tasks", &sql, &[&shards, &after, &until])
            .await?
            .iter()
            .map(task_row)
            .collect()
    }
}

#[async_trait]
impl VisibilityStore for PostgresStore {
    async fn list_runs(
        &self,
        f: &VisibilityFilter,
        cursor: Option<PageCursor>,
        limit_n: usize,
    ) -> StoreResult<Vec<VisibilityRow>> {
        let mut q = filter::where_clause(f);
        let mut sql = format!("SELECT {VIS_COLUMNS} FROM visibility WHERE {}", q.sql);
        if let Some(c) = cursor {
            let key = if c.close_time == 0 { i64::MAX } else { c.close_time };
            let (k, s, r) = (
                q.bind(filter::Param::Int(key)),
                q.bind(filter::Param::Int(c.start_time)),
                q.bind(filter::Param::Text(c.run_id)),
            );
            sql.push_str(&format!(" AND (close_key, start_time, run_id) < ({k}, {s}, {r})"));
        }
        let l = q.bind(filter::Param::Int(limit(limit_n)));
        sql.push_str(&format!(" ORDER BY close_key DESC, start_time DESC, run_id DESC LIMIT {l}"));
        q.sql = sql;
        self.query_filter("listing runs", &q).await?.iter().map(vis_row).collect()
    }

    async fn count_runs(&self, f: &VisibilityFilter) -> StoreResult<i64> {
        let mut q = filter::where_clause(f);
        q.sql = format!("SELECT count(*) FROM visibility WHERE {}", q.sql);
        let rows = self.query_filter("counting runs", &q).await?;
        match rows.first() {
            Some(r) => get(r, 0, "a count"),
            None => Ok(0),
        }
    }

    async fn count_runs_by_status(&self, f: &VisibilityFilter) -> StoreResult<Vec<(i32, i64)>> {
        let mut q = filter::where_clause(f);
        q.sql = format!(
            "SELECT status, count(*) FROM visibility WHERE {} GROUP BY status ORDER BY status",
            q.sql
        );
        let rows = self.query_filter("counting runs by status", &q).await?;
        rows.iter().map(|r| Ok((get(r, 0, "a status")?, get(r, 1, "a count")?))).collect()
    }
}

#[async_trait]
impl SearchAttributeStore for PostgresStore {
    async fn search_attributes(&self, namespace_id: &str) -> StoreResult<Vec<(String, SaType)>> {
        let rows = self
            .query(
                "reading search attributes",
                "SELECT name, type FROM search_attributes WHERE namespace_id = $1 ORDER BY name",
                &[&namespace_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let name: String = get(r, 0, "a search attribute")?;
                let code: i32 = get(r, 1, "a search attribute")?;
                let ty = SaType::from_code(code).ok_or_else(|| {
                    StoreError::corrupt(format!("search attribute {name} has unknown type {code}"))
                })?;
                Ok((name, ty))
            })
            .collect()
    }

    async fn add_search_attributes(
        &self,
        namespace_id: &str,
        attrs: Vec<(String, SaType)>,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend("beginning a transaction"))?;
        let st = tx
            .prepare_cached(
                "INSERT INTO search_attributes (namespace_id, name, type) VALUES ($1, $2, $3) \
                 ON CONFLICT (namespace_id, name) DO NOTHING",
            )
            .await
            .map_err(backend("preparing a search attribute insert"))?;
        for (name, ty) in &attrs {
            let n = tx
                .execute(&st, &[&namespace_id, name, &ty.code()])
                .await
                .map_err(backend("registering a search attribute"))?;
            if n == 0 {
                if let Err(e) = tx.rollback().await {
                    tracing::debug!("rolling back a search attribute registration: {}", describe(&e));
                }
                return Err(StoreError::already_exists(format!("search attribute {name} already exists")));
            }
        }
        tx.commit().await.map_err(backend("committing search attributes"))?;
        for (name, ty) in &attrs {
            ensure_custom_index(&client, name, *ty).await;
        }
        Ok(())
    }

    async fn remove_search_attributes(&self, namespace_id: &str, names: Vec<String>) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend("beginning a transaction"))?;
        let st = tx
            .prepare_cached("DELETE FROM search_attributes WHERE namespace_id = $1 AND name = $2")
            .await
            .map_err(backend("preparing a search attribute removal"))?;
        for name in &names {
            let n = tx
                .execute(&st, &[&namespace_id, name])
                .await
                .map_err(backend("removing a search attribute"))?;
            if n == 0 {
                if let Err(e) = tx.rollback().await {
                    tracing::debug!("rolling back a search attribute removal: {}", describe(&e));
                }
                return Err(StoreError::not_found(format!("search attribute {name} does not exist")));
            }
        }
        tx.commit().await.map_err(backend("committing search attribute removal"))
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn close(&self) -> StoreResult<()> {
        self.pool.close();
        Ok(())
    }

    fn observe_writes(&self, observer: std::sync::Arc<dyn WriteObserver>) {
        let _ = self.writes.observer.set(observer);
    }
}

/// Creates the expression index serving filters on a custom attribute, without blocking
/// writers (`CREATE INDEX CONCURRENTLY`, outside any transaction). Best effort: the attribute
/// is registered either way, and filters work without the index, only slower; a failure is
/// logged, and an invalid index left by an interrupted build is dropped so the next
/// registration of the name builds it again.
async fn ensure_custom_index(client: &deadpool_postgres::Client, name: &str, ty: SaType) {
    let (index, create) = filter::custom_index(name, ty);
    let invalid = client
        .query_opt("SELECT NOT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)", &[&index])
        .await
        .ok()
        .flatten()
        .and_then(|r| r.try_get::<_, bool>(0).ok())
        .unwrap_or(false);
    if invalid
        && let Err(e) = client.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {index}")).await
    {
        tracing::warn!("dropping the invalid index {index} of search attribute {name}: {}", describe(&e));
        return;
    }
    if let Err(e) = client.batch_execute(&create).await {
        tracing::warn!("creating the index {index} of search attribute {name}: {}", describe(&e));
    }
}
