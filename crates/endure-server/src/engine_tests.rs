//! Engine-level tests that need control of the clock (no gRPC, an in-memory store).

use crate::clock::Clock;
use crate::executor::Executor;
use crate::executor::cross::CrossWorkflow;
use crate::history::{Engine, EngineParts};
use crate::matching::Matching;
use crate::namespaces::Namespaces;
use crate::peer::Peers;
use crate::search_attributes::SearchAttributeRegistry;
use crate::starter::{StartFields, Starter};
use crate::timer_queue::TimerQueue;
use endure_api::temporal::api::common::v1::WorkflowType;
use endure_api::temporal::api::taskqueue::v1::TaskQueue;
use endure_core::Task;
use endure_core::time::SECOND;
use endure_store::visibility::{Attr, FilterExpr, Scalar};
use endure_store::{RunKey, Store, VisibilityFilter};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

struct Setup {
    engine: Arc<Engine>,
    starter: Arc<Starter>,
    namespaces: Arc<Namespaces>,
    executor: Arc<Executor>,
    store: Arc<dyn Store>,
    timers: Arc<TimerQueue>,
    offset: Arc<AtomicI64>,
    namespace_id: String,
}

async fn setup(retention: i64) -> Setup {
    let store: Arc<dyn Store> = Arc::new(endure_store_sqlite::SqliteStore::open(":memory:").unwrap());
    let offset = Arc::new(AtomicI64::new(0));
    let namespaces = Arc::new(Namespaces::new(store.clone(), crate::ids::Ids::random()));
    let ns = namespaces.ensure("default", retention).await.unwrap();
    let timers = TimerQueue::new();
    let ownership = crate::cluster::Ownership::new("test");
    let peers = Arc::new(Peers::default());
    let search_attributes = SearchAttributeRegistry::new(store.clone());
    let clock = Clock::offset(offset.clone());
    let engine = Engine::new(EngineParts {
        limits: Default::default(),
        executions: store.clone(),
        tasks: store.clone(),
        namespaces: namespaces.clone(),
        search_attributes: search_attributes.clone(),
        matching: Matching::new(clock.clone()),
        versions: crate::versioning::VersionRouting::new(),
        timers: timers.clone(),
        peers: peers.clone(),
        clock: clock.clone(),
        ids: crate::ids::Ids::random(),
        ownership: ownership.clone(),
    });
    let starter = Starter::new(engine.clone(), search_attributes);
    let cross =
        CrossWorkflow::new(engine.clone(), starter.clone(), namespaces.clone(), ownership.clone(), peers);
    let batcher = crate::batcher::Batcher::new(engine.clone(), namespaces.clone());
    let executor = Executor::new(
        engine.clone(),
        cross,
        batcher,
        timers.clone(),
        store.clone(),
        ownership.clone(),
        clock,
    );
    crate::cluster::join(store.clone(), engine.clone(), ownership, crate::cluster::Mode::Exclusive, 1)
        .await
        .unwrap();
    executor.scan().await.unwrap();
    Setup { engine, starter, namespaces, executor, store, timers, offset, namespace_id: ns.id }
}

async fn start_and_terminate(s: &Setup, workflow_id: &str) -> RunKey {
    let ns = s.namespaces.by_id(&s.namespace_id).await.unwrap();
    let fields = StartFields {
        workflow_id: workflow_id.into(),
        workflow_type: Some(WorkflowType { name: "W".into() }),
        task_queue: Some(TaskQueue { name: "q".into(), ..Default::default() }),
        request_id: format!("start-{workflow_id}"),
        ..Default::default()
    };
    let started = s.starter.start_workflow(&ns, fields, None, None).await.unwrap();
    let key = RunKey {
        namespace_id: s.namespace_id.clone(),
        workflow_id: workflow_id.into(),
        run_id: started.run_id,
    };
    s.engine.update(&key, None, |t| t.terminate("done", None, "test")).await.unwrap();
    key
}

fn visible(s: &Setup, workflow_id: &str) -> VisibilityFilter {
    VisibilityFilter {
        namespace_id: s.namespace_id.clone(),
        expr: Some(FilterExpr::eq(Attr::WorkflowId, Scalar::Str(workflow_id.into()))),
        open: None,
    }
}

#[tokio::test]
async fn closed_runs_are_deleted_when_retention_runs_out() {
    let s = setup(3600 * SECOND).await;
    let key = start_and_terminate(&s, "retained").await;
    let closed = s.engine.load(&key).await.unwrap().ms.close_time;

    // The close wrote a durable retention task for close + 1 h, far beyond the timer window:
    // it is in the store, not in memory.
    let tasks = s.store.load_tasks().await.unwrap();
    let deletes: Vec<_> = tasks
        .iter()
        .filter(|t| t.run == key)
        .filter_map(|t| serde_json::from_slice::<Task>(&t.data).ok())
        .filter(|t| matches!(t, Task::DeleteClosedRun { .. }))
        .collect();
    assert_eq!(deletes, vec![Task::DeleteClosedRun { fire_at: closed + 3600 * SECOND }]);
    assert_eq!(s.timers.len(), 0, "a timer an hour away is not held in memory");

    // An hour and a bit later the scanner reads it in and the timer loop deletes the run.
    s.offset.store(3601 * SECOND, Ordering::Relaxed);
    let stop = Arc::new(Notify::new());
    let timer_loop = tokio::spawn(s.executor.clone().run(stop.clone()));
    s.executor.scan().await.unwrap();
    let mut gone = false;
    for _ in 0..200 {
        if s.store.get_run(&key).await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.notify_one();
    timer_loop.await.unwrap();
    assert!(gone, "the run is deleted once its retention ran out");
    assert!(s.store.read_events(&key, 1, i64::MAX, 10).await.unwrap().is_empty(), "history deleted");
    assert_eq!(s.store.count_runs(&visible(&s, "retained")).await.unwrap(), 0, "visibility deleted");
    assert!(s.store.current_run(&key.namespace_id, "retained").await.unwrap().is_none());
    assert!(s.store.load_tasks().await.unwrap().iter().all(|t| t.run != key), "its tasks deleted");
}

#[tokio::test]
async fn runs_inside_retention_are_kept() {
    let s = setup(3600 * SECOND).await;
    let key = start_and_terminate(&s, "kept").await;
    // 59 minutes later the retention task is still beyond the window's reach … almost.
    s.offset.store(59 * 60 * SECOND - 61 * SECOND, Ordering::Relaxed);
    s.executor.scan().await.unwrap();
    assert_eq!(s.timers.len(), 0);
    // … and once inside the window it is held, but not yet due.
    s.offset.store(59 * 60 * SECOND + 30 * SECOND, Ordering::Relaxed);
    s.executor.scan().await.unwrap();
    assert_eq!(s.timers.len(), 1);
    assert!(s.store.get_run(&key).await.unwrap().is_some());
    assert_eq!(s.store.count_runs(&visible(&s, "kept")).await.unwrap(), 1);
}
