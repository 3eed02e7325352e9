//! [`MemoryStore`]: handles on an in-memory database, and the [`Store`] implementation.
//!
//! Every call goes through [`MemoryStore::call`]: the closed check, the fault policy, then the
//! call's work on the tables under the database's one lock, never held across an await. A call
//! is therefore atomic and isolated (serializable): nothing interleaves with it.

use crate::clock::Clock;
use crate::error::{closed, injected};
use crate::faults::{Fault, Faults, Operation};
use crate::tables::Tables;
use crate::{cluster, commit, visibility};
use async_trait::async_trait;
use endure_store::visibility::SaType;
use endure_store::*;
use parking_lot::Mutex;
use std::collections::btree_map::Entry;
use std::fmt;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The data every handle shares: the tables and the clock they expire members by.
struct Database {
    tables: Mutex<Tables>,
    clock: Clock,
}

/// A handle on an in-memory database. [`MemoryStore::new`] makes a database and its first
/// handle; [`MemoryStore::handle`] another handle on the same data — as each replica of a
/// cluster has its own connection pool on the one PostgreSQL database: closing a handle, or
/// giving it a fault policy, concerns that handle alone, and the data lives as long as any
/// handle. Wrap it in an `Arc` to share it.
pub struct MemoryStore {
    db: Arc<Database>,
    faults: Option<Arc<dyn Faults>>,
    closed: AtomicBool,
}

impl MemoryStore {
    /// A new, empty database on the system clock, and a handle on it without faults.
    pub fn new() -> MemoryStore {
        MemoryStore::with_clock(Clock::system())
    }

    /// A new, empty database whose member heartbeats expire by `clock` (simulated time in a
    /// simulation), and a handle on it without faults.
    pub fn with_clock(clock: Clock) -> MemoryStore {
        MemoryStore {
            db: Arc::new(Database { tables: Mutex::new(Tables::new()), clock }),
            faults: None,
            closed: AtomicBool::new(false),
        }
    }

    /// This handle, consulting `faults` at the start of every call from now on (see
    /// [`Faults`]).
    pub fn with_faults(mut self, faults: Arc<dyn Faults>) -> MemoryStore {
        self.faults = Some(faults);
        self
    }

    /// Another handle on the same database: open, without faults.
    pub fn handle(&self) -> MemoryStore {
        MemoryStore { db: self.db.clone(), faults: None, closed: AtomicBool::new(false) }
    }

    /// Whether [`Store::close`] was called on this handle.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Runs one call: fails with `Closed` on a closed handle, asks the fault policy, carries its
    /// answer out around `work` (done on the tables under the lock; see [`Fault`]).
    async fn call<T>(
        &self,
        operation: Operation<'_>,
        work: impl FnOnce(&mut Tables, &Clock) -> StoreResult<T> + Send,
    ) -> StoreResult<T> {
        let name = operation.name();
        if self.is_closed() {
            return Err(closed(name));
        }
        let fault = self.faults.as_ref().map_or(Fault::Proceed, |f| f.decide(&operation));
        match fault {
            Fault::Proceed => {}
            Fault::TimeOut => return Err(injected(name, false)),
            Fault::LoseAck if !operation.is_write() => return Err(injected(name, false)),
            Fault::LoseAck => {}
            Fault::Delay(d) => tokio::time::sleep(d).await,
        }
        let outcome = {
            let mut tables = self.db.tables.lock();
            work(&mut tables, &self.db.clock)
        };
        if fault == Fault::LoseAck {
            return Err(injected(name, true));
        }
        outcome
    }
}

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("faults", &self.faults.is_some())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl NamespaceStore for MemoryStore {
    async fn create_namespace(&self, ns: NamespaceRow) -> StoreResult<()> {
        self.call(Operation::CreateNamespace(&ns), |t, _| {
            if t.namespaces.contains_key(&ns.id) || t.namespaces.values().any(|n| n.name == ns.name) {
                return Err(StoreError::already_exists(format!("namespace {}", ns.name)));
            }
            t.namespaces.insert(ns.id.clone(), ns.clone());
            Ok(())
        })
        .await
    }

    async fn update_namespace(&self, ns: NamespaceRow) -> StoreResult<()> {
        self.call(Operation::UpdateNamespace(&ns), |t, _| {
            if !t.namespaces.contains_key(&ns.id) {
                return Err(StoreError::not_found(format!("namespace {}", ns.id)));
            }
            if t.namespaces.values().any(|n| n.name == ns.name && n.id != ns.id) {
                return Err(StoreError::already_exists(format!("namespace {}", ns.name)));
            }
            t.namespaces.insert(ns.id.clone(), ns.clone());
            Ok(())
        })
        .await
    }

    async fn namespace_by_name(&self, name: &str) -> StoreResult<Option<NamespaceRow>> {
        self.call(Operation::NamespaceByName(name), |t, _| {
            Ok(t.namespaces.values().find(|n| n.name == name).cloned())
        })
        .await
    }

    async fn namespace_by_id(&self, id: &str) -> StoreResult<Option<NamespaceRow>> {
        self.call(Operation::NamespaceById(id), |t, _| Ok(t.namespaces.get(id).cloned())).await
    }

    async fn list_namespaces(&self) -> StoreResult<Vec<NamespaceRow>> {
        self.call(Operation::ListNamespaces, |t, _| {
            let mut all: Vec<NamespaceRow> = t.namespaces.values().cloned().collect();
            all.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(all)
        })
        .await
    }
}

#[async_trait]
impl ExecutionStore for MemoryStore {
    async fn current_run(&self, namespace_id: &str, workflow_id: &str) -> StoreResult<Option<CurrentRun>> {
        self.call(Operation::CurrentRun { namespace_id, workflow_id }, |t, _| {
            Ok(t.current.get(&(namespace_id.to_owned(), workflow_id.to_owned())).cloned())
        })
        .await
    }

    async fn current_runs_with_status(
        &self,
        status: i32,
        after: Option<(String, String)>,
        limit: usize,
    ) -> StoreResult<Vec<RunKey>> {
        self.call(Operation::CurrentRunsWithStatus { status, limit }, |t, _| {
            // Strictly after `after`, which defaults to ("", ""), as the SQL row comparison.
            let after = after.unwrap_or_default();
            Ok(t.current
                .range((Bound::Excluded(after), Bound::Unbounded))
                .filter(|(_, c)| c.status == status)
                .take(limit)
                .map(|((ns, wf), c)| RunKey {
                    namespace_id: ns.clone(),
                    workflow_id: wf.clone(),
                    run_id: c.run_id.clone(),
                })
                .collect())
        })
        .await
    }

    async fn get_run(&self, key: &RunKey) -> StoreResult<Option<RunRow>> {
        self.call(Operation::GetRun(key), |t, _| Ok(t.runs.get(key).cloned())).await
    }

    async fn read_events(
        &self,
        key: &RunKey,
        first: i64,
        end: i64,
        limit: usize,
    ) -> StoreResult<Vec<EventRow>> {
        self.call(Operation::ReadEvents(key), |t, _| {
            let Some(events) = t.events.get(key).filter(|_| first < end) else {
                return Ok(Vec::new());
            };
            Ok(events
                .range(first..end)
                .take(limit)
                .map(|(&event_id, data)| EventRow { event_id, data: data.clone() })
                .collect())
        })
        .await
    }

    async fn read_events_reverse(
        &self,
        key: &RunKey,
        before: i64,
        limit: usize,
    ) -> StoreResult<Vec<EventRow>> {
        self.call(Operation::ReadEventsReverse(key), |t, _| {
            let Some(events) = t.events.get(key) else {
                return Ok(Vec::new());
            };
            Ok(events
                .range(..before)
                .rev()
                .take(limit)
                .map(|(&event_id, data)| EventRow { event_id, data: data.clone() })
                .collect())
        })
        .await
    }

    async fn commit(&self, batch: WriteBatch) -> StoreResult<CommitResult> {
        self.call(Operation::Commit(&batch), |t, _| {
            let mut results = commit::commit_batches(t, std::slice::from_ref(&batch))?;
            results.pop().ok_or_else(|| StoreError::backend("the commit returned no result"))
        })
        .await
    }

    async fn commit_all(&self, batches: Vec<WriteBatch>) -> StoreResult<Vec<CommitResult>> {
        self.call(Operation::CommitAll(&batches), |t, _| commit::commit_batches(t, &batches)).await
    }

    async fn delete_run(&self, key: &RunKey) -> StoreResult<()> {
        self.call(Operation::DeleteRun(key), |t, _| {
            commit::delete_run(t, key);
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl TaskStore for MemoryStore {
    async fn delete_tasks(&self, fence: Option<Fence>, task_ids: Vec<i64>) -> StoreResult<()> {
        self.call(Operation::DeleteTasks { fence, task_ids: &task_ids }, |t, _| {
            commit::delete_tasks(t, fence.as_ref(), &task_ids)
        })
        .await
    }

    async fn run_tasks(&self, key: &RunKey) -> StoreResult<Vec<TaskRow>> {
        self.call(Operation::RunTasks(key), |t, _| {
            Ok(t.tasks.values().filter(|task| task.run == *key).cloned().collect())
        })
        .await
    }

    async fn load_tasks(&self) -> StoreResult<Vec<TaskRow>> {
        self.call(Operation::LoadTasks, |t, _| Ok(t.tasks.values().cloned().collect())).await
    }

    async fn load_transfer_tasks(&self, shards: &[i32]) -> StoreResult<Vec<TaskRow>> {
        self.call(Operation::LoadTransferTasks { shards }, |t, _| {
            Ok(t.tasks
                .values()
                .filter(|task| task.fire_at.is_none() && shards.contains(&task.shard_id))
                .cloned()
                .collect())
        })
        .await
    }

    async fn load_timer_tasks(&self, shards: &[i32], after: i64, until: i64) -> StoreResult<Vec<TaskRow>> {
        self.call(Operation::LoadTimerTasks { shards, after, until }, |t, _| {
            let mut due: Vec<TaskRow> = t
                .tasks
                .values()
                .filter(|task| {
                    task.fire_at.is_some_and(|at| after < at && at <= until)
                        && shards.contains(&task.shard_id)
                })
                .cloned()
                .collect();
            // Task ids are the map's order, so a stable sort by fire time ties by id.
            due.sort_by_key(|task| task.fire_at);
            Ok(due)
        })
        .await
    }
}

#[async_trait]
impl VisibilityStore for MemoryStore {
    async fn list_runs(
        &self,
        filter: &VisibilityFilter,
        cursor: Option<PageCursor>,
        limit: usize,
    ) -> StoreResult<Vec<VisibilityRow>> {
        self.call(Operation::ListRuns(filter), |t, _| Ok(visibility::list(t, filter, cursor.as_ref(), limit)))
            .await
    }

    async fn count_runs(&self, filter: &VisibilityFilter) -> StoreResult<i64> {
        self.call(Operation::CountRuns(filter), |t, _| Ok(visibility::count(t, filter))).await
    }

    async fn count_runs_by_status(&self, filter: &VisibilityFilter) -> StoreResult<Vec<(i32, i64)>> {
        self.call(Operation::CountRunsByStatus(filter), |t, _| Ok(visibility::count_by_status(t, filter)))
            .await
    }
}

#[async_trait]
impl SearchAttributeStore for MemoryStore {
    async fn search_attributes(&self, namespace_id: &str) -> StoreResult<Vec<(String, SaType)>> {
        self.call(Operation::SearchAttributes { namespace_id }, |t, _| {
            Ok(t.search_attributes
                .get(namespace_id)
                .map(|attrs| attrs.iter().map(|(name, ty)| (name.clone(), *ty)).collect())
                .unwrap_or_default())
        })
        .await
    }

    async fn add_search_attributes(
        &self,
        namespace_id: &str,
        attrs: Vec<(String, SaType)>,
    ) -> StoreResult<()> {
        self.call(Operation::AddSearchAttributes { namespace_id, attrs: &attrs }, |t, _| {
            // All or none: build the new registry, then swap it in.
            let mut registry = t.search_attributes.get(namespace_id).cloned().unwrap_or_default();
            for (name, ty) in &attrs {
                match registry.entry(name.clone()) {
                    Entry::Occupied(_) => {
                        return Err(StoreError::already_exists(format!(
                            "search attribute {name} already exists"
                        )));
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(*ty);
                    }
                }
            }
            if !registry.is_empty() {
                t.search_attributes.insert(namespace_id.to_owned(), registry);
            }
            Ok(())
        })
        .await
    }

    async fn remove_search_attributes(&self, namespace_id: &str, names: Vec<String>) -> StoreResult<()> {
        self.call(Operation::RemoveSearchAttributes { namespace_id, names: &names }, |t, _| {
            let mut registry = t.search_attributes.get(namespace_id).cloned().unwrap_or_default();
            for name in &names {
                if registry.remove(name).is_none() {
                    return Err(StoreError::not_found(format!("search attribute {name} does not exist")));
                }
            }
            if registry.is_empty() {
                t.search_attributes.remove(namespace_id);
            } else {
                t.search_attributes.insert(namespace_id.to_owned(), registry);
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl ClusterStore for MemoryStore {
    async fn init_shard_count(&self, requested: u32) -> StoreResult<u32> {
        self.call(Operation::InitShardCount { requested }, |t, _| cluster::init_shard_count(t, requested))
            .await
    }

    async fn heartbeat_member(&self, id: &str, address: &str, ttl_ms: i64) -> StoreResult<Vec<Member>> {
        self.call(Operation::HeartbeatMember { id, address, ttl_ms }, |t, clock| {
            Ok(cluster::heartbeat(t, clock.now(), id, address, ttl_ms))
        })
        .await
    }

    async fn remove_member(&self, id: &str) -> StoreResult<()> {
        self.call(Operation::RemoveMember { id }, |t, _| {
            t.members.remove(id);
            Ok(())
        })
        .await
    }

    async fn shard_leases(&self) -> StoreResult<Vec<ShardLease>> {
        self.call(Operation::ShardLeases, |t, _| Ok(cluster::leases(t))).await
    }

    async fn acquire_shard(
        &self,
        shard_id: i32,
        owner: &str,
        expected_range_id: i64,
    ) -> StoreResult<ShardLease> {
        self.call(Operation::AcquireShard { shard_id, owner, expected_range_id }, |t, _| {
            cluster::acquire(t, shard_id, owner, expected_range_id)
        })
        .await
    }

    async fn release_shard(&self, shard_id: i32, owner: &str, range_id: i64) -> StoreResult<()> {
        self.call(Operation::ReleaseShard { shard_id, owner, range_id }, |t, _| {
            cluster::release(t, shard_id, owner, range_id);
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl Store for MemoryStore {
    /// Closes this handle: every later call on it fails with `Closed`. Other handles on the
    /// database, and the data, are untouched (nothing needs flushing). Closing again does
    /// nothing. Never consults the fault policy.
    async fn close(&self) -> StoreResult<()> {
        self.closed.store(true, Ordering::SeqCst);
        Ok(())
    }
}
