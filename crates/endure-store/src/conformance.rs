//! The behaviours every backend must show, as one test per behaviour per backend.
//!
//! Compiled only with the `conformance` feature, which only the backends' dev-dependencies
//! enable. A backend's tests invoke [`conformance_tests!`](crate::conformance_tests) once per
//! configuration, with an expression making a fresh, empty store (and anything that must live
//! as long as it, such as a temporary directory):
//!
//! ```ignore
//! endure_store::conformance_tests!(sqlite_file, async {
//!     let dir = tempfile::tempdir().expect("a temporary directory");
//!     let store = SqliteStore::open(dir.path().join("endure.db")).expect("opening the store");
//!     (store, dir)
//! });
//! ```
//!
//! That expands to `mod sqlite_file` with one `#[tokio::test]` per [`Behaviour`], named after
//! it, so a failure names what broke (`sqlite_file::fenced_writes`) and never hides the
//! others. The calling crate needs `tokio` (with its `macros` and `rt` features) among its
//! (dev-)dependencies, and the names the expression uses in scope.
//!
//! The behaviours are listed once, in `__conformance_behaviours!`: the [`Behaviour`] enum and
//! the generated tests both derive from that list, and a behaviour function left out of it is
//! never called, which the compiler reports as dead code.

use crate::visibility::{Attr, CmpOp, FilterExpr, SaType, SaValue, Scalar};
use crate::*;
use std::future::Future;
use std::sync::Arc;

/// The list of behaviours, stated once. Calls `$crate::$callback! { { args } list }` where the
/// list is `/// doc` comments and a name per behaviour, each followed by a comma.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_behaviours {
    ($callback:ident ! { $($args:tt)* }) => {
        $crate::$callback! { { $($args)* }
            /// Namespaces are unique by name and by id, can be updated, and updating a missing
            /// one is NotFound.
            namespaces,
            /// Runs are created once, updated only at the expected version, and events read
            /// back in order.
            runs_and_optimistic_concurrency,
            /// The current-run pointer is written only when its condition holds.
            current_run_conditions,
            /// Tasks get increasing ids, load back by kind and window, and are deleted by id.
            tasks_round_trip,
            /// Open runs are walked in pages by their current pointer's status, and each run's
            /// own tasks load alone.
            runs_by_status_and_their_tasks,
            /// Visibility rows list in order with stable cursors and filters, and count.
            visibility_listing,
            /// Every filter operator, null semantics and prefix matching.
            visibility_filters,
            /// Registering and removing custom search attributes: all or nothing, per
            /// namespace, AlreadyExists and NotFound naming the attribute.
            search_attribute_registry,
            /// Filters on custom attributes of every type, including lists and absent values.
            custom_attribute_filters,
            /// `commit_all` applies every batch or none.
            multi_run_commits_are_atomic,
            /// `delete_run` removes the run's rows and its current pointer.
            delete_run_removes_everything,
            /// Shard count fixed at creation, member heartbeats with expiry, shard acquisition
            /// by compare-and-set on `range_id`, release.
            cluster_membership_and_leases,
            /// A write (a commit, or deleting tasks as stale) under a superseded lease fails
            /// with ShardOwnershipLost and leaves no trace; tasks carry their shard and load by
            /// shard.
            fenced_writes,
            /// An `Arc<dyn Store>` upcasts to each concern's trait, and every view is the same
            /// store.
            narrow_views_share_one_store,
            /// After `close`, writes fail with Closed, and closing again is harmless.
            closed_store_refuses_writes,
        }
    };
}

/// Defines [`Behaviour`] from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_enum {
    ({} $($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// One behaviour of the suite. Variants are named like the tests
        /// [`conformance_tests!`](crate::conformance_tests) generates.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Behaviour {
            $( $(#[doc = $doc])* $name, )*
        }

        impl Behaviour {
            /// Checks this behaviour on `store`, which must be empty; panics with a message
            /// naming what broke.
            pub async fn run(self, store: &Arc<dyn Store>) {
                match self {
                    $( Behaviour::$name => $name(store).await, )*
                }
            }
        }
    };
}

/// Expands to the test module of one backend configuration.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test_module {
    ({ $module:ident, $make:expr } $($(#[doc = $doc:literal])* $name:ident,)*) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[doc = $doc])*
                #[tokio::test]
                async fn $name() {
                    $crate::conformance::check($crate::conformance::Behaviour::$name, $make).await;
                }
            )*
        }
    };
}

/// One test per [`Behaviour`], in a module named `$module`, each
/// on a fresh store made by `$make`: an expression whose value is a future of `(store, guard)`
/// — the store (any [`Store`]) and whatever must outlive it (a temporary
/// directory, a scratch database; `()` if nothing). See [`conformance`](self).
#[macro_export]
macro_rules! conformance_tests {
    ($module:ident, $make:expr $(,)?) => {
        $crate::__conformance_behaviours!(__conformance_test_module! { $module, $make });
    };
}

__conformance_behaviours!(__conformance_enum! {});

/// Makes a store with `subject`, checks `behaviour` on it, closes it, then drops the guard.
/// What the tests generated by [`conformance_tests!`](crate::conformance_tests) run.
pub async fn check<S, G>(behaviour: Behaviour, subject: impl Future<Output = (S, G)>)
where
    S: Store,
{
    let (store, guard) = subject.await;
    let store: Arc<dyn Store> = Arc::new(store);
    behaviour.run(&store).await;
    store.close().await.expect("closing the store");
    drop(guard);
}

fn key(wf: &str, run: &str) -> RunKey {
    RunKey { namespace_id: "ns".into(), workflow_id: wf.into(), run_id: run.into() }
}

fn batch(k: &RunKey, expected: Option<i64>, events: std::ops::Range<i64>) -> WriteBatch {
    WriteBatch {
        state: format!("state-{}", events.end).into_bytes(),
        expected_version: expected,
        events: events.map(|i| EventRow { event_id: i, data: vec![i as u8, 0, 255] }).collect(),
        ..WriteBatch::for_run(k.clone())
    }
}

async fn namespaces(store: &Arc<dyn Store>) {
    let ns = NamespaceRow { id: "id-1".into(), name: "alpha".into(), data: vec![1, 2, 3] };
    store.create_namespace(ns.clone()).await.expect("create namespace");
    let dup = store.create_namespace(NamespaceRow { id: "id-2".into(), ..ns.clone() }).await;
    assert!(
        matches!(dup, Err(StoreError::AlreadyExists { .. })),
        "duplicate name must be AlreadyExists: {dup:?}"
    );
    let dup = store.create_namespace(NamespaceRow { name: "beta".into(), ..ns.clone() }).await;
    assert!(
        matches!(dup, Err(StoreError::AlreadyExists { .. })),
        "duplicate id must be AlreadyExists: {dup:?}"
    );
    assert_eq!(store.namespace_by_name("alpha").await.unwrap(), Some(ns.clone()));
    assert_eq!(store.namespace_by_id("id-1").await.unwrap(), Some(ns.clone()));
    store.update_namespace(NamespaceRow { data: vec![9], ..ns.clone() }).await.unwrap();
    assert_eq!(store.namespace_by_name("alpha").await.unwrap().unwrap().data, vec![9]);
    assert!(store.namespace_by_name("missing").await.unwrap().is_none());
    assert_eq!(store.list_namespaces().await.unwrap().len(), 1);
    let missing = store.update_namespace(NamespaceRow { id: "id-9".into(), ..ns.clone() }).await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })), "updating a missing namespace: {missing:?}");
    assert_eq!(store.list_namespaces().await.unwrap(), vec![NamespaceRow { data: vec![9], ..ns }]);
}

async fn runs_and_optimistic_concurrency(store: &Arc<dyn Store>) {
    let k = key("wf-a", "run-1");
    let r = store.commit(batch(&k, None, 1..3)).await.expect("create run");
    assert_eq!(r.db_version, 1);
    let again = store.commit(batch(&k, None, 3..4)).await;
    assert!(matches!(again, Err(StoreError::AlreadyExists { .. })), "second create must fail: {again:?}");
    let stale = store.commit(batch(&k, Some(7), 3..4)).await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })), "stale version must fail: {stale:?}");
    let r = store.commit(batch(&k, Some(1), 3..5)).await.expect("update run");
    assert_eq!(r.db_version, 2);
    let row = store.get_run(&k).await.unwrap().expect("run exists");
    assert_eq!((row.state.as_slice(), row.db_version), (b"state-5".as_slice(), 2));
    let ev = store.read_events(&k, 1, i64::MAX, 100).await.unwrap();
    assert_eq!(ev.iter().map(|e| e.event_id).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(ev[2].data, vec![3, 0, 255], "payload bytes must round-trip exactly");
    let page = store.read_events(&k, 2, i64::MAX, 2).await.unwrap();
    assert_eq!(page.iter().map(|e| e.event_id).collect::<Vec<_>>(), vec![2, 3]);
    let rev = store.read_events_reverse(&k, 4, 2).await.unwrap();
    assert_eq!(rev.iter().map(|e| e.event_id).collect::<Vec<_>>(), vec![3, 2]);
    // A failed batch leaves nothing behind.
    let mut bad = batch(&k, Some(1), 5..6);
    bad.new_tasks.push(NewTask { fire_at: None, data: vec![1] });
    let failed = store.commit(bad).await;
    assert!(matches!(failed, Err(StoreError::Conflict { .. })), "{failed:?}");
    assert_eq!(store.read_events(&k, 1, i64::MAX, 100).await.unwrap().len(), 4);
}

async fn current_run_conditions(store: &Arc<dyn Store>) {
    let k1 = key("wf-c", "run-1");
    let mut b = batch(&k1, None, 1..2);
    let cur =
        |run: &str| CurrentRun { run_id: run.into(), status: 1, start_request_id: format!("req-{run}") };
    b.current = Some(CurrentWrite { condition: CurrentCondition::Absent, value: cur("run-1") });
    store.commit(b).await.expect("first run");
    let k2 = key("wf-c", "run-2");
    let mut b = batch(&k2, None, 1..2);
    b.current = Some(CurrentWrite { condition: CurrentCondition::Absent, value: cur("run-2") });
    let taken = store.commit(b.clone()).await;
    assert!(matches!(taken, Err(StoreError::Conflict { .. })), "{taken:?}");
    assert!(store.get_run(&k2).await.unwrap().is_none(), "a failed condition must not create the run");
    b.current =
        Some(CurrentWrite { condition: CurrentCondition::RunIs("run-1".into()), value: cur("run-2") });
    store.commit(b).await.expect("second run replaces the first");
    assert_eq!(store.current_run("ns", "wf-c").await.unwrap(), Some(cur("run-2")));
}

async fn runs_by_status_and_their_tasks(store: &Arc<dyn Store>) {
    let mut open = Vec::new();
    for (i, status) in [1, 2, 1, 1, 3, 1].into_iter().enumerate() {
        let k = key(&format!("wf-s{i}"), &format!("run-{i}"));
        let mut b = batch(&k, None, 1..2);
        b.current = Some(CurrentWrite {
            condition: CurrentCondition::Absent,
            value: CurrentRun { run_id: k.run_id.clone(), status, start_request_id: String::new() },
        });
        b.new_tasks = vec![NewTask { fire_at: None, data: format!("task-{i}").into_bytes() }];
        store.commit(b).await.expect("a run");
        if status == 1 {
            open.push(k);
        }
    }
    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let page = store.current_runs_with_status(1, after.clone(), 3).await.unwrap();
        assert!(page.len() <= 3, "a page holds at most the limit: {page:?}");
        let Some(last) = page.last() else { break };
        after = Some((last.namespace_id.clone(), last.workflow_id.clone()));
        walked.extend(page);
    }
    assert_eq!(walked, open, "every Running current run, in key order, once");
    assert!(store.current_runs_with_status(7, None, 10).await.unwrap().is_empty());
    let k = &open[1];
    let mut b = batch(k, Some(1), 2..3);
    b.new_tasks = vec![NewTask { fire_at: Some(5), data: b"timer".to_vec() }];
    store.commit(b).await.unwrap();
    let tasks = store.run_tasks(k).await.unwrap();
    assert_eq!(
        tasks.iter().map(|t| t.data.clone()).collect::<Vec<_>>(),
        vec![b"task-2".to_vec(), b"timer".to_vec()]
    );
    assert!(tasks.iter().all(|t| &t.run == k), "only the run's own tasks: {tasks:?}");
    assert!(store.run_tasks(&key("wf-none", "run-x")).await.unwrap().is_empty());
}

async fn tasks_round_trip(store: &Arc<dyn Store>) {
    let k = key("wf-t", "run-1");
    let mut b = batch(&k, None, 1..2);
    b.new_tasks = vec![
        NewTask { fire_at: None, data: b"transfer".to_vec() },
        NewTask { fire_at: Some(42), data: b"timer".to_vec() },
    ];
    let r = store.commit(b).await.unwrap();
    assert_eq!(r.task_ids.len(), 2);
    assert!(r.task_ids[0] < r.task_ids[1]);
    let all = store.load_tasks().await.unwrap();
    let mine: Vec<_> = all.iter().filter(|t| t.run == k).collect();
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[1].fire_at, Some(42));
    let transfer = store.load_transfer_tasks(&[0]).await.unwrap();
    assert!(transfer.iter().all(|t| t.shard_id == 0), "unfenced writes are shard 0");
    assert!(transfer.iter().any(|t| t.task_id == r.task_ids[0]));
    assert!(transfer.iter().all(|t| t.fire_at.is_none()));
    // Timers load by window: after < fire_at <= until, earliest first.
    let mut more = batch(&key("wf-t2", "run-1"), None, 1..2);
    more.new_tasks = vec![
        NewTask { fire_at: Some(50), data: b"late".to_vec() },
        NewTask { fire_at: Some(10), data: b"early".to_vec() },
    ];
    let r2 = store.commit(more).await.unwrap();
    let window = |after, until| async move {
        store
            .load_timer_tasks(&[0], after, until)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.fire_at.unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(window(i64::MIN, 100).await, vec![10, 42, 50]);
    assert_eq!(window(10, 42).await, vec![42]);
    assert_eq!(window(42, 49).await, Vec::<i64>::new());
    assert_eq!(window(42, i64::MAX).await, vec![50]);
    store.delete_tasks(None, r2.task_ids).await.unwrap();
    let mut b = batch(&k, Some(1), 2..3);
    b.delete_tasks = vec![r.task_ids[0]];
    store.commit(b).await.unwrap();
    store.delete_tasks(None, vec![r.task_ids[1]]).await.unwrap();
    assert!(store.load_tasks().await.unwrap().iter().all(|t| t.run != k));
}

async fn visibility_listing(store: &Arc<dyn Store>) {
    for i in 0..5i64 {
        let k = key(&format!("vis-{i}"), &format!("r{i}"));
        let mut b = batch(&k, None, 1..2);
        b.visibility = Some(VisibilityRow {
            namespace_id: "ns".into(),
            workflow_id: k.workflow_id.clone(),
            run_id: k.run_id.clone(),
            workflow_type: if i % 2 == 0 { "Even".into() } else { "Odd".into() },
            status: if i < 3 { 1 } else { 2 },
            start_time: 1000 + i,
            close_time: if i < 3 { 0 } else { 2000 },
            ..Default::default()
        });
        store.commit(b).await.unwrap();
    }
    let f = VisibilityFilter { namespace_id: "ns".into(), ..Default::default() };
    // Open runs first, newest start first; then closed runs by close time (a tie here), then
    // start time, newest first.
    let page1 = store.list_runs(&f, None, 2).await.unwrap();
    assert_eq!(page1.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), vec!["r2", "r1"]);
    let page2 = store.list_runs(&f, Some(PageCursor::after(page1.last().unwrap())), 2).await.unwrap();
    assert_eq!(page2.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), vec!["r0", "r4"]);
    let page3 = store.list_runs(&f, Some(PageCursor::after(page2.last().unwrap())), 10).await.unwrap();
    assert_eq!(page3.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), vec!["r3"]);
    let even = VisibilityFilter {
        expr: Some(FilterExpr::eq(Attr::WorkflowType, Scalar::Str("Even".into()))),
        ..f.clone()
    };
    assert_eq!(store.count_runs(&even).await.unwrap(), 3);
    let open = VisibilityFilter { open: Some(true), ..f.clone() };
    assert_eq!(store.count_runs(&open).await.unwrap(), 3);
    assert_eq!(store.count_runs_by_status(&f).await.unwrap(), vec![(1, 3), (2, 2)]);
    assert_eq!(store.count_runs(&f).await.unwrap(), 5);
    // Counts follow status changes and deletes.
    let k = key("vis-0", "r0");
    let mut b = batch(&k, Some(1), 2..3);
    b.visibility = Some(VisibilityRow {
        namespace_id: "ns".into(),
        workflow_id: k.workflow_id.clone(),
        run_id: k.run_id.clone(),
        workflow_type: "Even".into(),
        status: 3,
        start_time: 1000,
        close_time: 3000,
        ..Default::default()
    });
    store.commit(b).await.unwrap();
    assert_eq!(store.count_runs_by_status(&f).await.unwrap(), vec![(1, 2), (2, 2), (3, 1)]);
    store.delete_run(&k).await.unwrap();
    assert_eq!(store.count_runs_by_status(&f).await.unwrap(), vec![(1, 2), (2, 2)]);
    assert_eq!(store.count_runs(&f).await.unwrap(), 4);
}

async fn visibility_filters(store: &Arc<dyn Store>) {
    use Attr as A;
    use Scalar::{Int, Str};
    let s = |v: &str| Str(v.to_owned());
    // f0 … f5: f0–f2 open; f3 a child of f0; ids with LIKE metacharacters.
    let ids = ["order-1", "order-2", "invoice-1", "order_%x", "orderXY", "ORDER-3"];
    for (i, id) in ids.iter().enumerate() {
        let i = i as i64;
        let k = RunKey { namespace_id: "vf".into(), workflow_id: (*id).into(), run_id: format!("run{i}") };
        let mut b = batch(&k, None, 1..2);
        let closed = i >= 3;
        b.visibility = Some(VisibilityRow {
            namespace_id: "vf".into(),
            workflow_id: (*id).into(),
            run_id: k.run_id.clone(),
            workflow_type: if i % 2 == 0 { "Even".into() } else { "Odd".into() },
            task_queue: "q".into(),
            status: if closed { 2 + (i as i32 - 3) } else { 1 },
            start_time: 1_000 + i,
            execution_time: 1_000 + i,
            close_time: if closed { 2_000 + 10 * i } else { 0 },
            history_length: 10 * i,
            parent_workflow_id: if i == 3 { "order-1".into() } else { String::new() },
            parent_run_id: if i == 3 { "run0".into() } else { String::new() },
            root_workflow_id: if i == 3 { "order-1".into() } else { (*id).into() },
            root_run_id: if i == 3 { "run0".into() } else { k.run_id.clone() },
            ..Default::default()
        });
        store.commit(b).await.unwrap();
    }
    let ids_of = |expr: FilterExpr| async move {
        let f = VisibilityFilter { namespace_id: "vf".into(), expr: Some(expr), open: None };
        let mut v: Vec<String> =
            store.list_runs(&f, None, 100).await.unwrap().into_iter().map(|r| r.workflow_id).collect();
        v.sort();
        let n = store.count_runs(&f).await.unwrap();
        assert_eq!(n as usize, v.len(), "count and list agree");
        v
    };
    let cmp = |attr: Attr, op: CmpOp, value: Scalar| FilterExpr::Cmp { attr, op, value };
    let sorted = |mut v: Vec<&str>| {
        v.sort();
        v.into_iter().map(String::from).collect::<Vec<_>>()
    };

    assert_eq!(
        ids_of(cmp(A::WorkflowType, CmpOp::Eq, s("Odd"))).await,
        sorted(vec!["order-2", "order_%x", "ORDER-3"])
    );
    assert_eq!(
        ids_of(cmp(A::WorkflowType, CmpOp::Ne, s("Odd"))).await,
        sorted(vec!["order-1", "invoice-1", "orderXY"])
    );
    // HistoryLength is recorded at close: open runs have none.
    assert_eq!(ids_of(cmp(A::HistoryLength, CmpOp::Lt, Int(40))).await, sorted(vec!["order_%x"]));
    assert_eq!(ids_of(cmp(A::HistoryLength, CmpOp::Le, Int(40))).await, sorted(vec!["order_%x", "orderXY"]));
    assert_eq!(
        ids_of(FilterExpr::IsNull { attr: A::HistoryLength, negated: false }).await,
        sorted(vec!["order-1", "order-2", "invoice-1"])
    );
    assert_eq!(ids_of(cmp(A::HistoryLength, CmpOp::Gt, Int(40))).await, sorted(vec!["ORDER-3"]));
    assert_eq!(ids_of(cmp(A::HistoryLength, CmpOp::Ge, Int(40))).await, sorted(vec!["orderXY", "ORDER-3"]));
    assert_eq!(
        ids_of(FilterExpr::In { attr: A::ExecutionStatus, values: vec![Int(2), Int(4)], negated: false })
            .await,
        sorted(vec!["order_%x", "ORDER-3"])
    );
    assert_eq!(
        ids_of(FilterExpr::In { attr: A::ExecutionStatus, values: vec![Int(1)], negated: true }).await,
        sorted(vec!["order_%x", "orderXY", "ORDER-3"])
    );
    assert_eq!(
        ids_of(FilterExpr::Between { attr: A::StartTime, low: Int(1_001), high: Int(1_003), negated: false })
            .await,
        sorted(vec!["order-2", "invoice-1", "order_%x"])
    );
    assert_eq!(
        ids_of(FilterExpr::Between { attr: A::StartTime, low: Int(1_001), high: Int(1_003), negated: true })
            .await,
        sorted(vec!["order-1", "orderXY", "ORDER-3"])
    );
    // Prefixes are literal (no LIKE wildcards) and case-sensitive.
    let starts = |p: &str| FilterExpr::StartsWith { attr: A::WorkflowId, prefix: p.into() };
    assert_eq!(ids_of(starts("order-")).await, sorted(vec!["order-1", "order-2"]));
    assert_eq!(ids_of(starts("order_%")).await, sorted(vec!["order_%x"]));
    assert_eq!(ids_of(starts("order")).await, sorted(vec!["order-1", "order-2", "order_%x", "orderXY"]));
    assert_eq!(ids_of(starts("")).await.len(), 6);
    // Null semantics: open runs have no close time or duration; only the child has a parent.
    let null = |attr: Attr, negated| FilterExpr::IsNull { attr, negated };
    assert_eq!(ids_of(null(A::CloseTime, false)).await, sorted(vec!["order-1", "order-2", "invoice-1"]));
    assert_eq!(ids_of(null(A::CloseTime, true)).await, sorted(vec!["order_%x", "orderXY", "ORDER-3"]));
    assert_eq!(ids_of(null(A::ParentWorkflowId, true)).await, sorted(vec!["order_%x"]));
    assert_eq!(ids_of(null(A::ParentRunId, false)).await.len(), 5);
    assert_eq!(
        ids_of(cmp(A::RootWorkflowId, CmpOp::Eq, s("order-1"))).await,
        sorted(vec!["order-1", "order_%x"])
    );
    assert_eq!(ids_of(cmp(A::RootRunId, CmpOp::Eq, s("run4"))).await, sorted(vec!["orderXY"]));
    // A comparison with a null attribute does not hold, either way.
    assert_eq!(ids_of(cmp(A::ParentWorkflowId, CmpOp::Ne, s("x"))).await, sorted(vec!["order_%x"]));
    assert!(ids_of(cmp(A::CloseTime, CmpOp::Lt, Int(i64::MAX))).await.iter().all(|id| id != "order-1"));
    // ExecutionDuration = close − execution time: 1 027 (f3), 1 036 (f4), 1 045 (f5).
    assert_eq!(ids_of(cmp(A::ExecutionDuration, CmpOp::Gt, Int(1_036))).await, sorted(vec!["ORDER-3"]));
    assert_eq!(
        ids_of(cmp(A::ExecutionDuration, CmpOp::Ge, Int(1_036))).await,
        sorted(vec!["orderXY", "ORDER-3"])
    );
    assert_eq!(ids_of(cmp(A::CloseTime, CmpOp::Eq, Int(2_040))).await, sorted(vec!["orderXY"]));
    assert_eq!(ids_of(cmp(A::ExecutionTime, CmpOp::Eq, Int(1_002))).await, sorted(vec!["invoice-1"]));
    assert_eq!(ids_of(cmp(A::RunId, CmpOp::Eq, s("run1"))).await, sorted(vec!["order-2"]));
    assert_eq!(ids_of(cmp(A::TaskQueue, CmpOp::Eq, s("q"))).await.len(), 6);
    assert_eq!(ids_of(cmp(A::HistorySizeBytes, CmpOp::Eq, Int(0))).await.len(), 3, "closed runs only");
    assert_eq!(ids_of(cmp(A::StateTransitionCount, CmpOp::Gt, Int(0))).await.len(), 0);
    // AND binds as built; OR unions.
    let odd = cmp(A::WorkflowType, CmpOp::Eq, s("Odd"));
    let open = null(A::CloseTime, false);
    assert_eq!(ids_of(odd.clone().and(open.clone())).await, sorted(vec!["order-2"]));
    assert_eq!(
        ids_of(FilterExpr::Or(Box::new(odd.clone()), Box::new(open.clone()))).await,
        sorted(vec!["order-1", "order-2", "invoice-1", "order_%x", "ORDER-3"])
    );
    // NOT follows SQL: a missing value is neither equal nor unequal.
    let not = |e: FilterExpr| FilterExpr::Not(Box::new(e));
    assert_eq!(ids_of(not(cmp(A::ParentWorkflowId, CmpOp::Eq, s("x")))).await, sorted(vec!["order_%x"]));
    assert_eq!(ids_of(not(starts("order"))).await, sorted(vec!["invoice-1", "ORDER-3"]));
    assert_eq!(ids_of(not(odd.clone()).and(not(open.clone()))).await, sorted(vec!["orderXY"]));
    // The open flag combines with the expression.
    let f = VisibilityFilter { namespace_id: "vf".into(), expr: Some(odd), open: Some(false) };
    assert_eq!(store.count_runs(&f).await.unwrap(), 2);
    assert_eq!(store.count_runs_by_status(&f).await.unwrap(), vec![(2, 1), (4, 1)]);
}

async fn search_attribute_registry(store: &Arc<dyn Store>) {
    assert!(store.search_attributes("sa").await.unwrap().is_empty());
    store
        .add_search_attributes("sa", vec![("B".into(), SaType::Int), ("A".into(), SaType::KeywordList)])
        .await
        .unwrap();
    let listed = store.search_attributes("sa").await.unwrap();
    assert_eq!(listed, vec![("A".into(), SaType::KeywordList), ("B".into(), SaType::Int)]);
    // One existing name refuses the whole request.
    let dup =
        store.add_search_attributes("sa", vec![("C".into(), SaType::Bool), ("A".into(), SaType::Int)]).await;
    assert!(
        matches!(&dup, Err(StoreError::AlreadyExists { context, .. }) if context == "search attribute A already exists"),
        "{dup:?}"
    );
    assert_eq!(store.search_attributes("sa").await.unwrap().len(), 2);
    assert!(store.search_attributes("other").await.unwrap().is_empty());
    let missing = store.remove_search_attributes("sa", vec!["B".into(), "Z".into()]).await;
    assert!(
        matches!(&missing, Err(StoreError::NotFound { context, .. }) if context == "search attribute Z does not exist"),
        "{missing:?}"
    );
    assert_eq!(store.search_attributes("sa").await.unwrap().len(), 2);
    store.remove_search_attributes("sa", vec!["B".into()]).await.unwrap();
    assert_eq!(store.search_attributes("sa").await.unwrap(), vec![("A".into(), SaType::KeywordList)]);
}

async fn custom_attribute_filters(store: &Arc<dyn Store>) {
    let kw = |n: &str| Attr::Custom { name: n.into(), ty: SaType::Keyword };
    let attr = |n: &str, ty| Attr::Custom { name: n.into(), ty };
    // c0: everything set; c1: other values; c2: nothing set.
    let values: [Vec<(String, SaValue)>; 3] = [
        vec![
            ("Customer".into(), SaValue::Str("acme".into())),
            ("Priority".into(), SaValue::Int(5)),
            ("Score".into(), SaValue::Float(0.75)),
            ("Urgent".into(), SaValue::Int(1)),
            ("Due".into(), SaValue::Int(2_000)),
            ("Tags".into(), SaValue::List(vec!["red".into(), "blue".into()])),
            ("Odd \"name\"".into(), SaValue::Str("q".into())),
        ],
        vec![
            ("Customer".into(), SaValue::Str("globex".into())),
            ("Priority".into(), SaValue::Int(1)),
            ("Score".into(), SaValue::Float(-2.5)),
            ("Urgent".into(), SaValue::Int(0)),
            ("Due".into(), SaValue::Int(1_000)),
            ("Tags".into(), SaValue::List(vec!["green".into()])),
        ],
        vec![],
    ];
    for (i, custom) in values.into_iter().enumerate() {
        let k = RunKey { namespace_id: "cf".into(), workflow_id: format!("c{i}"), run_id: format!("r{i}") };
        let mut b = batch(&k, None, 1..2);
        b.visibility = Some(VisibilityRow {
            namespace_id: "cf".into(),
            workflow_id: k.workflow_id.clone(),
            run_id: k.run_id.clone(),
            start_time: i as i64,
            custom,
            ..Default::default()
        });
        store.commit(b).await.unwrap();
    }
    let ids_of = |expr: FilterExpr| async move {
        let f = VisibilityFilter { namespace_id: "cf".into(), expr: Some(expr), open: None };
        let mut v: Vec<String> =
            store.list_runs(&f, None, 100).await.unwrap().into_iter().map(|r| r.workflow_id).collect();
        v.sort();
        assert_eq!(store.count_runs(&f).await.unwrap() as usize, v.len(), "count and list agree");
        v.join(",")
    };
    let cmp = |attr: Attr, op: CmpOp, value: Scalar| FilterExpr::Cmp { attr, op, value };
    let s = |v: &str| Scalar::Str(v.into());
    assert_eq!(ids_of(cmp(kw("Customer"), CmpOp::Eq, s("acme"))).await, "c0");
    assert_eq!(ids_of(cmp(kw("Customer"), CmpOp::Ne, s("acme"))).await, "c1", "absent is not 'not acme'");
    assert_eq!(ids_of(FilterExpr::StartsWith { attr: kw("Customer"), prefix: "glo".into() }).await, "c1");
    assert_eq!(ids_of(cmp(attr("Priority", SaType::Int), CmpOp::Gt, Scalar::Int(2))).await, "c0");
    assert_eq!(ids_of(cmp(attr("Score", SaType::Double), CmpOp::Lt, Scalar::Float(0.0))).await, "c1");
    assert_eq!(ids_of(cmp(attr("Score", SaType::Double), CmpOp::Ge, Scalar::Int(0))).await, "c0");
    assert_eq!(ids_of(cmp(attr("Urgent", SaType::Bool), CmpOp::Eq, Scalar::Int(1))).await, "c0");
    assert_eq!(
        ids_of(FilterExpr::Between {
            attr: attr("Due", SaType::Datetime),
            low: Scalar::Int(500),
            high: Scalar::Int(1_500),
            negated: false
        })
        .await,
        "c1"
    );
    assert_eq!(ids_of(FilterExpr::IsNull { attr: kw("Customer"), negated: false }).await, "c2");
    assert_eq!(ids_of(FilterExpr::IsNull { attr: kw("Customer"), negated: true }).await, "c0,c1");
    assert_eq!(ids_of(cmp(kw("Odd \"name\""), CmpOp::Eq, s("q"))).await, "c0", "names are quoted in paths");
    let tags = || attr("Tags", SaType::KeywordList);
    assert_eq!(ids_of(cmp(tags(), CmpOp::Eq, s("blue"))).await, "c0", "= on a list: contains");
    assert_eq!(
        ids_of(cmp(tags(), CmpOp::Ne, s("blue"))).await,
        "c1",
        "!= on a list: has it, without that value"
    );
    assert_eq!(
        ids_of(FilterExpr::In { attr: tags(), values: vec![s("green"), s("red")], negated: false }).await,
        "c0,c1"
    );
    assert_eq!(ids_of(FilterExpr::In { attr: tags(), values: vec![s("red")], negated: true }).await, "c1");
    assert_eq!(ids_of(FilterExpr::StartsWith { attr: tags(), prefix: "gr".into() }).await, "c1");
    assert_eq!(ids_of(FilterExpr::IsNull { attr: tags(), negated: false }).await, "c2");
    // Combined with system attributes.
    let both = cmp(kw("Customer"), CmpOp::Eq, s("acme")).and(cmp(Attr::WorkflowId, CmpOp::Eq, s("c0")));
    assert_eq!(ids_of(both).await, "c0");
    // Values round-trip through the row.
    let f = VisibilityFilter {
        namespace_id: "cf".into(),
        expr: Some(cmp(Attr::WorkflowId, CmpOp::Eq, s("c1"))),
        open: None,
    };
    let row = store.list_runs(&f, None, 1).await.unwrap().remove(0);
    assert!(
        row.custom.contains(&("Tags".to_string(), SaValue::List(vec!["green".into()]))),
        "{:?}",
        row.custom
    );
    assert!(row.custom.contains(&("Score".to_string(), SaValue::Float(-2.5))));
}

async fn multi_run_commits_are_atomic(store: &Arc<dyn Store>) {
    let old = key("wf-m", "old");
    store.commit(batch(&old, None, 1..2)).await.unwrap();
    let new = key("wf-m", "new");
    let good = vec![batch(&old, Some(1), 2..3), batch(&new, None, 1..2)];
    let r = store.commit_all(good).await.expect("both runs written");
    assert_eq!(r.len(), 2);
    let newer = key("wf-m", "newer");
    let bad = vec![batch(&newer, None, 1..2), batch(&old, Some(1), 3..4)];
    let failed = store.commit_all(bad).await;
    assert!(
        matches!(failed, Err(StoreError::Conflict { .. })),
        "stale version must fail the whole group: {failed:?}"
    );
    assert!(store.get_run(&newer).await.unwrap().is_none(), "no part of a failed group may land");
}

async fn delete_run_removes_everything(store: &Arc<dyn Store>) {
    let k = key("wf-del", "r1");
    let mut b = batch(&k, None, 1..3);
    b.current = Some(CurrentWrite {
        condition: CurrentCondition::Absent,
        value: CurrentRun { run_id: "r1".into(), status: 2, start_request_id: String::new() },
    });
    b.new_tasks = vec![NewTask { fire_at: Some(1), data: vec![] }];
    b.visibility = Some(VisibilityRow {
        namespace_id: "ns".into(),
        workflow_id: "wf-del".into(),
        run_id: "r1".into(),
        ..Default::default()
    });
    store.commit(b).await.unwrap();
    store.delete_run(&k).await.unwrap();
    assert!(store.get_run(&k).await.unwrap().is_none());
    assert!(store.read_events(&k, 1, i64::MAX, 10).await.unwrap().is_empty());
    assert!(store.current_run("ns", "wf-del").await.unwrap().is_none());
    assert!(store.load_tasks().await.unwrap().iter().all(|t| t.run != k));
    let f = VisibilityFilter {
        namespace_id: "ns".into(),
        expr: Some(FilterExpr::eq(Attr::WorkflowId, Scalar::Str("wf-del".into()))),
        ..Default::default()
    };
    assert_eq!(store.count_runs(&f).await.unwrap(), 0);
}

async fn cluster_membership_and_leases(store: &Arc<dyn Store>) {
    assert_eq!(store.init_shard_count(4).await.unwrap(), 4, "first count is stored");
    assert_eq!(store.init_shard_count(8).await.unwrap(), 4, "the stored count wins");
    let leases = store.shard_leases().await.unwrap();
    assert_eq!(leases.iter().map(|l| l.shard_id).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert!(leases.iter().all(|l| l.owner.is_empty() && l.range_id == 0), "{leases:?}");

    let ids = |ms: Vec<Member>| ms.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(store.heartbeat_member("m-a", "10.0.0.1:7234", 60_000).await.unwrap()), vec!["m-a"]);
    let live = store.heartbeat_member("m-b", "10.0.0.2:7234", 60_000).await.unwrap();
    assert_eq!(live[1], Member { id: "m-b".into(), address: "10.0.0.2:7234".into() });
    assert_eq!(ids(live), vec!["m-a", "m-b"]);
    // A lapsed heartbeat is not live (a negative ttl has already expired).
    let live = store.heartbeat_member("m-c", "10.0.0.3:7234", -1_000).await.unwrap();
    assert_eq!(ids(live), vec!["m-a", "m-b"], "an expired member is not listed");
    // A heartbeat refreshes the address.
    let live = store.heartbeat_member("m-a", "10.0.0.9:7234", 60_000).await.unwrap();
    assert_eq!(live[0].address, "10.0.0.9:7234");
    store.remove_member("m-b").await.unwrap();
    store.remove_member("no-such-member").await.unwrap();
    assert_eq!(ids(store.heartbeat_member("m-a", "10.0.0.9:7234", 60_000).await.unwrap()), vec!["m-a"]);

    let a = store.acquire_shard(2, "m-a", 0).await.unwrap();
    assert_eq!(a, ShardLease { shard_id: 2, owner: "m-a".into(), range_id: 1 });
    match store.acquire_shard(2, "m-b", 0).await {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("a stale acquisition must fail with Conflict, got {other:?}"),
    }
    match store.acquire_shard(99, "m-b", 0).await {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("acquiring a shard that does not exist must fail with Conflict, got {other:?}"),
    }
    let b = store.acquire_shard(2, "m-b", 1).await.unwrap();
    assert_eq!(b, ShardLease { shard_id: 2, owner: "m-b".into(), range_id: 2 });
    store.release_shard(2, "m-a", 1).await.unwrap();
    assert_eq!(store.shard_leases().await.unwrap()[2], b, "a stale release changes nothing");
    store.release_shard(2, "m-b", 2).await.unwrap();
    assert_eq!(
        store.shard_leases().await.unwrap()[2],
        ShardLease { shard_id: 2, owner: String::new(), range_id: 2 },
        "release clears the owner and keeps the range"
    );
}

async fn fenced_writes(store: &Arc<dyn Store>) {
    assert_eq!(store.init_shard_count(4).await.unwrap(), 4);
    let lease = store.shard_leases().await.unwrap()[3].clone();
    let old = store.acquire_shard(3, "m-old", lease.range_id).await.unwrap();
    let fence = |l: &ShardLease| Some(Fence { shard_id: l.shard_id, range_id: l.range_id });
    let k = key("wf-fenced", "r1");
    let mut b = batch(&k, None, 1..3);
    b.fence = fence(&old);
    b.new_tasks =
        vec![NewTask { fire_at: None, data: b"t1".to_vec() }, NewTask { fire_at: Some(7), data: vec![] }];
    let first = store.commit(b).await.expect("a write under the current lease commits");
    let transfer = store.load_transfer_tasks(&[3]).await.unwrap();
    assert!(transfer.iter().any(|t| t.task_id == first.task_ids[0] && t.shard_id == 3), "{transfer:?}");
    assert!(store.load_transfer_tasks(&[0, 1]).await.unwrap().iter().all(|t| t.run != k), "other shards");
    let timers = store.load_timer_tasks(&[3], i64::MIN, i64::MAX).await.unwrap();
    assert!(timers.iter().any(|t| t.task_id == first.task_ids[1] && t.shard_id == 3));
    assert!(store.load_timer_tasks(&[0], i64::MIN, i64::MAX).await.unwrap().iter().all(|t| t.run != k));

    let new = store.acquire_shard(3, "m-new", old.range_id).await.unwrap();
    let mut stale = batch(&k, Some(first.db_version), 3..4);
    stale.fence = fence(&old);
    stale.new_tasks = vec![NewTask { fire_at: None, data: b"stale".to_vec() }];
    match store.commit(stale.clone()).await {
        Err(StoreError::ShardOwnershipLost { .. }) => {}
        other => panic!("a write under a superseded lease must fail, got {other:?}"),
    }
    let k2 = key("wf-fenced-2", "r1");
    let mut other = batch(&k2, None, 1..2);
    other.fence = fence(&old);
    match store.commit_all(vec![other, stale.clone()]).await {
        Err(StoreError::ShardOwnershipLost { .. }) => {}
        other => panic!("a multi-run write under a superseded lease must fail, got {other:?}"),
    }
    assert_eq!(store.get_run(&k).await.unwrap().unwrap().db_version, first.db_version, "state untouched");
    assert_eq!(store.read_events(&k, 1, i64::MAX, 10).await.unwrap().len(), 2, "no event appended");
    assert!(store.get_run(&k2).await.unwrap().is_none(), "no run created");
    assert_eq!(store.load_transfer_tasks(&[3]).await.unwrap().iter().filter(|t| t.run == k).count(), 1);

    // Deleting a task as stale is judged only under the current lease.
    let doomed = vec![first.task_ids[0]];
    match store.delete_tasks(fence(&old), doomed.clone()).await {
        Err(StoreError::ShardOwnershipLost { .. }) => {}
        other => panic!("a deletion under a superseded lease must fail, got {other:?}"),
    }
    let transfer = store.load_transfer_tasks(&[3]).await.unwrap();
    assert!(transfer.iter().any(|t| t.task_id == first.task_ids[0]), "the task survives: {transfer:?}");
    store.delete_tasks(fence(&new), doomed).await.expect("the new owner deletes");
    let transfer = store.load_transfer_tasks(&[3]).await.unwrap();
    assert!(transfer.iter().all(|t| t.task_id != first.task_ids[0]), "the task is gone: {transfer:?}");

    stale.fence = fence(&new);
    store.commit(stale).await.expect("the new owner writes");
    assert_eq!(store.read_events(&k, 1, i64::MAX, 10).await.unwrap().len(), 3);
    store.delete_run(&k).await.unwrap();
}

async fn narrow_views_share_one_store(store: &Arc<dyn Store>) {
    let namespaces: Arc<dyn NamespaceStore> = store.clone();
    let executions: Arc<dyn ExecutionStore> = store.clone();
    let tasks: Arc<dyn TaskStore> = store.clone();
    let visibility: Arc<dyn VisibilityStore> = store.clone();
    let search_attributes: Arc<dyn SearchAttributeStore> = store.clone();
    let cluster: Arc<dyn ClusterStore> = store.clone();

    let ns = NamespaceRow { id: "id-v".into(), name: "views".into(), data: vec![7] };
    namespaces.create_namespace(ns.clone()).await.expect("create through the namespace view");
    assert_eq!(store.namespace_by_id("id-v").await.unwrap(), Some(ns));

    let k = key("wf-views", "r1");
    let mut b = batch(&k, None, 1..2);
    b.new_tasks = vec![NewTask { fire_at: None, data: b"t".to_vec() }];
    b.visibility = Some(VisibilityRow {
        namespace_id: "ns".into(),
        workflow_id: k.workflow_id.clone(),
        run_id: k.run_id.clone(),
        ..Default::default()
    });
    let committed = executions.commit(b).await.expect("commit through the execution view");
    assert_eq!(store.get_run(&k).await.unwrap().map(|r| r.db_version), Some(committed.db_version));
    let loaded = tasks.load_transfer_tasks(&[0]).await.unwrap();
    assert_eq!(loaded.iter().map(|t| t.task_id).collect::<Vec<_>>(), committed.task_ids);
    let f = VisibilityFilter { namespace_id: "ns".into(), ..Default::default() };
    assert_eq!(visibility.count_runs(&f).await.unwrap(), 1);

    search_attributes.add_search_attributes("ns", vec![("Region".into(), SaType::Keyword)]).await.unwrap();
    assert_eq!(store.search_attributes("ns").await.unwrap(), vec![("Region".into(), SaType::Keyword)]);
    assert_eq!(cluster.init_shard_count(2).await.unwrap(), 2);
    assert_eq!(store.shard_leases().await.unwrap().len(), 2);
}

async fn closed_store_refuses_writes(store: &Arc<dyn Store>) {
    store.close().await.expect("closing");
    let k = key("wf-closed", "r1");
    let after = store.commit(batch(&k, None, 1..2)).await;
    assert!(matches!(after, Err(StoreError::Closed { .. })), "a commit after close: {after:?}");
    let ns = NamespaceRow { id: "id-c".into(), name: "closed".into(), data: vec![] };
    let after = store.create_namespace(ns).await;
    assert!(matches!(after, Err(StoreError::Closed { .. })), "a namespace write after close: {after:?}");
    assert!(!after.is_err_and(|e| e.is_retryable()), "a closed store is not worth retrying");
    store.close().await.expect("closing twice");
}
