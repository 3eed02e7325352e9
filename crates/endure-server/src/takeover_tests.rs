//! A replica paused in the middle of a transition while its shard is taken over and given back
//! (issue 18: a workflow task lost in a shard takeover). Two engines share one store, as two
//! replicas share PostgreSQL; the "paused" engine's store reads or commits are held at a gate
//! and released after the shard has moved away and back.
//!
//! The sequence the chaos run showed: replica A holds the shard (range 1) and is paused; B takes
//! it (range 2), times the workflow task out and schedules a new one (a new task row); A resumes
//! and takes the shard back (range 3), loading that task row. What A read or committed under
//! range 1 before the pause must not stand in for the store afterwards: when it did, A started
//! the new task against the old state, found its stamp unknown, and deleted the task row as
//! stale — the workflow waited forever.

use crate::clock::Clock;
use crate::cluster::{self, Mode, Ownership};
use crate::history::{Engine, EngineParts};
use crate::matching::{Dispatch, Matching, QueueKind, TaskRef};
use crate::namespaces::Namespaces;
use crate::peer::Peers;
use crate::search_attributes::SearchAttributeRegistry;
use crate::starter::{StartFields, Starter};
use crate::timer_queue::TimerQueue;
use endure_api::temporal::api::common::v1::WorkflowType;
use endure_api::temporal::api::enums::v1::{EventType, TimeoutType};
use endure_api::temporal::api::taskqueue::v1::TaskQueue;
use endure_core::Task;
use endure_store::{
    CommitResult, CurrentRun, EventRow, ExecutionStore, RunKey, RunRow, Store, StoreResult, WriteBatch,
};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Which call of the paused replica's store is held.
#[derive(Clone, Copy, PartialEq)]
enum Hold {
    /// `get_run`, after the store answered: the state read is handed back late.
    Read,
    /// `commit`, after the store committed: the result is handed back late.
    Commit,
    /// `get_run` does not answer at all (a time-out).
    FailRead,
}

/// An `ExecutionStore` whose next `hold` call waits, after the store did its part, until
/// `release` is notified ("the process was paused there"). `reached` tells the test it got there.
struct Gate {
    inner: Arc<dyn Store>,
    armed: Mutex<Option<Hold>>,
    reached: Notify,
    release: Notify,
}

impl Gate {
    async fn pass(&self, call: Hold) {
        let hold = { self.armed.lock().take_if(|h| *h == call).is_some() };
        if hold {
            self.reached.notify_one();
            self.release.notified().await;
        }
    }
}

#[async_trait::async_trait]
impl ExecutionStore for Gate {
    async fn current_run(&self, namespace_id: &str, workflow_id: &str) -> StoreResult<Option<CurrentRun>> {
        self.inner.current_run(namespace_id, workflow_id).await
    }
    async fn current_runs_with_status(
        &self,
        status: i32,
        after: Option<(String, String)>,
        limit: usize,
    ) -> StoreResult<Vec<RunKey>> {
        self.inner.current_runs_with_status(status, after, limit).await
    }
    async fn get_run(&self, key: &RunKey) -> StoreResult<Option<RunRow>> {
        if self.armed.lock().take_if(|h| *h == Hold::FailRead).is_some() {
            return Err(endure_store::StoreError::Unavailable { context: "a time-out".into(), source: None });
        }
        let row = self.inner.get_run(key).await;
        self.pass(Hold::Read).await;
        row
    }
    async fn read_events(
        &self,
        key: &RunKey,
        first: i64,
        end: i64,
        limit: usize,
    ) -> StoreResult<Vec<EventRow>> {
        self.inner.read_events(key, first, end, limit).await
    }
    async fn read_events_reverse(
        &self,
        key: &RunKey,
        before: i64,
        limit: usize,
    ) -> StoreResult<Vec<EventRow>> {
        self.inner.read_events_reverse(key, before, limit).await
    }
    async fn commit(&self, batch: WriteBatch) -> StoreResult<CommitResult> {
        let r = self.inner.commit(batch).await;
        self.pass(Hold::Commit).await;
        r
    }
    async fn commit_all(&self, batches: Vec<WriteBatch>) -> StoreResult<Vec<CommitResult>> {
        self.inner.commit_all(batches).await
    }
    async fn delete_run(&self, key: &RunKey) -> StoreResult<()> {
        self.inner.delete_run(key).await
    }
}

/// One replica: an engine, its task queues and its view of the shard.
struct Replica {
    engine: Arc<Engine>,
    matching: Arc<Matching>,
    ownership: Arc<Ownership>,
}

fn replica(member: &str, store: &Arc<dyn Store>, executions: Arc<dyn ExecutionStore>) -> Replica {
    let namespaces = Arc::new(Namespaces::new(store.clone(), crate::ids::Ids::random()));
    let clock = Clock::system();
    let matching = Matching::new(clock.clone());
    let ownership = Ownership::new(member);
    let engine = Engine::new(EngineParts {
        limits: Default::default(),
        executions,
        tasks: store.clone(),
        namespaces,
        search_attributes: SearchAttributeRegistry::new(store.clone()),
        matching: matching.clone(),
        versions: crate::versioning::VersionRouting::new(),
        timers: TimerQueue::new(),
        peers: Arc::new(Peers::default()),
        clock,
        ids: crate::ids::Ids::random(),
        ownership: ownership.clone(),
    });
    Replica { engine, matching, ownership }
}

impl Replica {
    /// Takes the shard (a higher range than any before), as an acquisition after a takeover.
    async fn take_shard(&self, store: &Arc<dyn Store>) {
        cluster::join(store.clone(), self.engine.clone(), self.ownership.clone(), Mode::Exclusive, 1)
            .await
            .expect("taking the shard");
    }

    /// The next workflow task offered to queue `q`.
    async fn next_workflow_task(&self, namespace_id: &str) -> TaskRef {
        let deadline = crate::clock::monotonic() + Duration::from_secs(5);
        match self
            .matching
            .poll(namespace_id, "q", QueueKind::Workflow, "worker", deadline)
            .await
            .map(|(d, _)| d)
        {
            Some(Dispatch::Task(t)) => t,
            other => panic!("expected a workflow task, got {other:?}"),
        }
    }

    /// What a poller does with a workflow task: record it started on the workflow's owner.
    async fn start(&self, t: &TaskRef) -> crate::error::ApiResult<i64> {
        let Task::WorkflowTask { stamp, .. } = t.task else { panic!("not a workflow task: {t:?}") };
        self.engine
            .update(&t.run, Some(t.task_id), |x| {
                Ok(x.start_workflow_task(
                    stamp,
                    "poll",
                    &endure_core::transition::Poller::identity("worker"),
                )?
                .started_event_id)
            })
            .await
    }
}

struct Cluster {
    store: Arc<dyn Store>,
    gate: Arc<Gate>,
    /// The replica that is paused.
    a: Replica,
    /// The replica that takes the shard over meanwhile.
    b: Replica,
    namespace_id: String,
    run: RunKey,
    /// The first workflow task, taken from A's queue by a poller that never started it.
    first_task: TaskRef,
}

/// A holds the shard and starts a workflow; its first workflow task is scheduled.
async fn cluster() -> Cluster {
    let store: Arc<dyn Store> =
        Arc::new(endure_store_sqlite::SqliteStore::open(":memory:").expect("a store"));
    let ns = Namespaces::new(store.clone(), crate::ids::Ids::random())
        .ensure("default", 3600 * endure_core::time::SECOND)
        .await
        .expect("ns");
    let gate = Arc::new(Gate {
        inner: store.clone(),
        armed: Mutex::new(None),
        reached: Notify::new(),
        release: Notify::new(),
    });
    let a = replica("a", &store, gate.clone());
    let b = replica("b", &store, store.clone());
    a.take_shard(&store).await;
    let starter = Starter::new(a.engine.clone(), SearchAttributeRegistry::new(store.clone()));
    let fields = StartFields {
        workflow_id: "wf".into(),
        workflow_type: Some(WorkflowType { name: "W".into() }),
        task_queue: Some(TaskQueue { name: "q".into(), ..Default::default() }),
        request_id: "start".into(),
        ..Default::default()
    };
    let started = starter.start_workflow(&ns, fields, None, None).await.expect("started");
    let run = RunKey { namespace_id: ns.id.clone(), workflow_id: "wf".into(), run_id: started.run_id };
    // A poller takes the first workflow task from A's queue; it is never started (the poller
    // goes down with A).
    let first_task = a.next_workflow_task(&ns.id).await;
    Cluster { store, gate, a, b, namespace_id: ns.id, run, first_task }
}

impl Cluster {
    /// While A is paused: B takes the shard, times the scheduled workflow task out (a new task,
    /// a new row), drops the old task's row as stale when a poller takes it, and A takes the
    /// shard back, loading the new task's row into its queue.
    async fn take_over_and_back(&self) {
        self.b.take_shard(&self.store).await;
        let stamp =
            self.b.engine.load(&self.run).await.expect("state").ms.workflow_task.expect("a task").stamp;
        self.b
            .engine
            .update(&self.run, None, |x| x.workflow_task_timed_out(stamp, TimeoutType::ScheduleToStart))
            .await
            .expect("timed out on B");
        let old = self.b.next_workflow_task(&self.namespace_id).await;
        let refused = self.b.start(&old).await;
        assert!(matches!(refused, Err(crate::error::ApiError::NotFound(_))), "{refused:?}");
        self.a.take_shard(&self.store).await;
    }

    /// Starts the workflow task A's queue holds; returns the started event id.
    async fn start_pending_task_on_a(&self) -> i64 {
        let t = self.a.next_workflow_task(&self.namespace_id).await;
        match self.a.start(&t).await {
            Ok(id) => id,
            Err(e) => {
                let rows = self.store.load_tasks().await.expect("tasks");
                panic!("the workflow task B scheduled did not start on A: {e}; task rows left: {rows:?}")
            }
        }
    }

    async fn event_types(&self) -> Vec<EventType> {
        let events = self.b.engine.read_events(&self.run, 1, i64::MAX, 1000).await.expect("history");
        events.iter().map(|e| EventType::try_from(e.event_type).unwrap_or(EventType::Unspecified)).collect()
    }
}

#[tokio::test]
async fn a_state_read_before_the_pause_is_not_used_after_the_shard_came_back() {
    let c = cluster().await;
    // A forgot the run (LRU eviction); an update reads it from the store and is paused right
    // after the read.
    c.a.engine.evict(&c.run);
    *c.gate.armed.lock() = Some(Hold::Read);
    let engine = c.a.engine.clone();
    let run = c.run.clone();
    let paused = tokio::spawn(async move {
        // A stale task whose stamp is unknown: the transition fails after the read.
        engine
            .update(&run, None, |x| {
                x.start_workflow_task(-1, "stale", &endure_core::transition::Poller::identity("worker"))
            })
            .await
    });
    c.gate.reached.notified().await;
    c.take_over_and_back().await;
    c.gate.release.notify_one();
    assert!(paused.await.expect("joined").is_err(), "the stale task does not start");

    assert_eq!(c.start_pending_task_on_a().await, 5, "the task B scheduled (event 4) starts");
    use EventType as E;
    assert_eq!(
        c.event_types().await,
        [
            E::WorkflowExecutionStarted,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskTimedOut,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted
        ]
    );
}

#[tokio::test]
async fn a_commit_published_after_the_shard_came_back_is_not_used() {
    let c = cluster().await;
    // A commits a signal under its first lease and is paused before publishing it.
    *c.gate.armed.lock() = Some(Hold::Commit);
    let engine = c.a.engine.clone();
    let run = c.run.clone();
    let paused = tokio::spawn(async move {
        engine.update(&run, None, |x| x.signal("go", None, "client", None, "signal-1")).await
    });
    c.gate.reached.notified().await;
    c.take_over_and_back().await;
    c.gate.release.notify_one();
    paused.await.expect("joined").expect("the signal was committed before the takeover");

    assert_eq!(c.start_pending_task_on_a().await, 6, "the task B scheduled (event 5) starts");
    use EventType as E;
    assert_eq!(
        c.event_types().await,
        [
            E::WorkflowExecutionStarted,
            E::WorkflowTaskScheduled,
            E::WorkflowExecutionSignaled,
            E::WorkflowTaskTimedOut,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted
        ]
    );
}

#[tokio::test]
async fn a_replica_that_lost_the_shard_does_not_delete_its_tasks() {
    let c = cluster().await;
    // B takes the shard over and reschedules the workflow task; A, paused, does not know.
    c.b.take_shard(&c.store).await;
    let stamp = c.b.engine.load(&c.run).await.expect("state").ms.workflow_task.expect("a task").stamp;
    c.b.engine
        .update(&c.run, None, |x| x.workflow_task_timed_out(stamp, TimeoutType::ScheduleToStart))
        .await
        .expect("timed out on B");
    let _old = c.b.next_workflow_task(&c.namespace_id).await;
    let new = c.b.next_workflow_task(&c.namespace_id).await;
    // The new task reaches A (a poller there took it), which still believes it holds the shard
    // and judges the task on its cached state: stale. It must not delete it.
    assert!(c.a.start(&new).await.is_err(), "A cannot start a task of a shard it lost");
    let rows = c.store.load_tasks().await.expect("tasks");
    assert!(rows.iter().any(|r| r.task_id == new.task_id), "the task's row survives: {rows:?}");
    assert!(c.a.ownership.owned_shards().is_empty(), "A learnt that it lost the shard");
    assert_eq!(c.b.start(&new).await.expect("B starts it"), 5);
}

#[tokio::test]
async fn the_outbox_check_recreates_a_missing_task_row_and_only_that() {
    let c = cluster().await;
    let healthy = c.a.engine.check_outbox(&c.run, None).await.expect("checked");
    assert_eq!(healthy, crate::history::RunCheck::default(), "a run with its row needs nothing");
    // The workflow task's row disappears (as the bug above made it): the run would wait forever.
    let rows = c.store.run_tasks(&c.run).await.expect("rows");
    let fence = c.a.ownership.fence(0);
    c.store.delete_tasks(fence, rows.iter().map(|r| r.task_id).collect()).await.expect("deleted");
    assert!(c.store.run_tasks(&c.run).await.expect("rows").is_empty());
    // Taking the shard runs the check over its open runs: the row is back, and a poller gets it.
    c.a.take_shard(&c.store).await;
    let t = c.a.next_workflow_task(&c.namespace_id).await;
    assert_eq!(c.a.start(&t).await.expect("started"), 3, "the first workflow task starts");
    assert_eq!(c.a.engine.outbox_repairs(), 1, "one repair counted");
    let again = c.a.engine.check_outbox(&c.run, None).await.expect("checked");
    assert_eq!(again.recreated, 0, "a started task needs no row");
}

#[tokio::test]
async fn a_replica_that_lost_the_shard_counts_no_repair() {
    let c = cluster().await;
    // A holds the run's state with its first workflow task pending. B takes the shard while A
    // sleeps and starts that task: its row is gone, rightly.
    c.a.engine.load(&c.run).await.expect("A caches the state");
    c.b.take_shard(&c.store).await;
    let t = c.b.next_workflow_task(&c.namespace_id).await;
    assert_eq!(c.b.start(&t).await.expect("B starts it"), 3);
    let rows = c.store.run_tasks(&c.run).await.expect("rows");
    // A wakes up and checks the run: its view waits for a task the store has no row for. That
    // is no loss, its re-creation is refused by the fence, and nothing is counted or written.
    assert!(c.a.engine.check_outbox(&c.run, None).await.is_err(), "A's commit is refused");
    assert_eq!(c.a.engine.outbox_repairs(), 0, "a refused repair is not counted");
    assert_eq!(c.store.run_tasks(&c.run).await.expect("rows"), rows, "no row re-created");
}

#[tokio::test]
async fn the_sweep_offers_again_a_task_lost_in_memory() {
    let c = cluster().await;
    // The first workflow task was taken from A's queue and never started (cluster()): its row is
    // there, but no queue holds it. The periodic sweep offers long-waiting rows again.
    let now = c.a.engine.now();
    let early = c.a.engine.sweep_outbox(|_| true, Duration::ZERO, Some(now - 60_000_000_000)).await;
    assert_eq!(early.expect("swept"), crate::history::RunCheck::default(), "not waiting long enough yet");
    let late = c.a.engine.sweep_outbox(|_| true, Duration::ZERO, Some(now + 1)).await.expect("swept");
    assert_eq!(late, crate::history::RunCheck { recreated: 0, reoffered: 1 });
    let t = c.a.next_workflow_task(&c.namespace_id).await;
    assert_eq!(c.a.start(&t).await.expect("started"), 3);
    assert_eq!(c.a.engine.outbox_repairs(), 0, "a re-offer is not a repair");
}

#[tokio::test]
async fn a_task_is_not_dropped_when_its_run_cannot_be_read() {
    let c = cluster().await;
    let t = c.first_task.clone();
    // The run cannot be read (the store timed out): that says nothing about the task.
    c.a.engine.evict(&c.run);
    *c.gate.armed.lock() = Some(Hold::FailRead);
    assert!(matches!(c.a.start(&t).await, Err(crate::error::ApiError::Unavailable(_))));
    let rows = c.store.run_tasks(&c.run).await.expect("rows");
    assert!(rows.iter().any(|r| r.task_id == t.task_id), "the task's row stays: {rows:?}");
    assert_eq!(c.a.start(&t).await.expect("started once the store answers"), 3);
}
