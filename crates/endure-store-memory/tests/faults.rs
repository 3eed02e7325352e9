//! Each injected fault does what `Fault` says: a time-out does nothing, a delay waits on tokio's
//! clock and then applies against the state of that moment, a lost answer keeps the write; the
//! policy sees every call with its runs and fences, and belongs to one handle.

mod common;

use common::bare_batch;
use endure_store::*;
use endure_store_memory::{Clock, Fault, Faults, InjectedFault, MemoryStore, Operation};
use parking_lot::Mutex;
use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

fn key(wf: &str) -> RunKey {
    RunKey { namespace_id: "ns".into(), workflow_id: wf.into(), run_id: format!("{wf}-run") }
}

/// A batch creating (`expected: None`) or updating `k`, with one event, one task, the current
/// pointer (on creation) and a visibility row.
fn batch(k: &RunKey, expected: Option<i64>, fence: Option<Fence>) -> WriteBatch {
    let event_id = expected.unwrap_or(0) + 1;
    let mut b = bare_batch(k);
    b.fence = fence;
    b.state = format!("state-{event_id}").into_bytes();
    b.expected_version = expected;
    b.current = expected.is_none().then(|| CurrentWrite {
        condition: CurrentCondition::Absent,
        value: CurrentRun { run_id: k.run_id.clone(), status: 1, start_request_id: "req".into() },
    });
    b.events = vec![EventRow { event_id, data: vec![1] }];
    b.new_tasks = vec![NewTask { fire_at: None, data: b"task".to_vec() }];
    b.visibility = Some(VisibilityRow {
        namespace_id: k.namespace_id.clone(),
        workflow_id: k.workflow_id.clone(),
        run_id: k.run_id.clone(),
        status: 1,
        ..Default::default()
    });
    b
}

/// A policy answering `fault` to calls named `name`, `Proceed` to the rest.
fn on(name: &'static str, fault: Fault) -> Arc<dyn Faults> {
    Arc::new(move |op: &Operation<'_>| if op.name() == name { fault } else { Fault::Proceed })
}

/// The injected cause of an error, if it is an injected `Unavailable`.
fn injected(e: &StoreError) -> Option<InjectedFault> {
    if !matches!(e, StoreError::Unavailable { .. }) || !e.is_retryable() {
        return None;
    }
    e.source()?.downcast_ref::<InjectedFault>().cloned()
}

/// Whether `k` left any trace: its run, events, current pointer, tasks or visibility row.
async fn traces(store: &MemoryStore, k: &RunKey) -> Vec<&'static str> {
    let mut found = Vec::new();
    if store.get_run(k).await.unwrap().is_some() {
        found.push("run");
    }
    if !store.read_events(k, 1, i64::MAX, 10).await.unwrap().is_empty() {
        found.push("events");
    }
    if store.current_run(&k.namespace_id, &k.workflow_id).await.unwrap().is_some() {
        found.push("current");
    }
    if !store.run_tasks(k).await.unwrap().is_empty() {
        found.push("tasks");
    }
    let f = VisibilityFilter { namespace_id: k.namespace_id.clone(), ..Default::default() };
    if store.list_runs(&f, None, 100).await.unwrap().iter().any(|r| r.run_id == k.run_id) {
        found.push("visibility");
    }
    found
}

#[tokio::test]
async fn a_timed_out_commit_wrote_nothing_and_drew_no_task_id() {
    let store = MemoryStore::new().with_faults(on("commit", Fault::TimeOut));
    let clean = store.handle();
    let k = key("wf");
    let e = store.commit(batch(&k, None, None)).await.expect_err("timed out");
    assert_eq!(injected(&e), Some(InjectedFault { operation: "commit", applied: false }), "{e:?}");
    assert!(traces(&clean, &k).await.is_empty());
    let r = clean.commit(batch(&k, None, None)).await.expect("the same create, again, on another handle");
    assert_eq!((r.db_version, r.task_ids), (1, vec![1]), "the time-out drew no task id");
}

#[tokio::test]
async fn a_lost_ack_commit_happened_and_cannot_happen_twice() {
    let store = MemoryStore::new().with_faults(on("commit", Fault::LoseAck));
    let clean = store.handle();
    let k = key("wf");
    let e = store.commit(batch(&k, None, None)).await.expect_err("the answer is lost");
    assert_eq!(injected(&e), Some(InjectedFault { operation: "commit", applied: true }), "{e:?}");
    assert_eq!(e.to_string(), "storage unavailable: injected fault: commit was carried out, its answer lost");
    assert_eq!(traces(&clean, &k).await, vec!["run", "events", "current", "tasks", "visibility"]);
    assert_eq!(clean.get_run(&k).await.unwrap().map(|r| r.db_version), Some(1));

    let again = clean.commit(batch(&k, None, None)).await;
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "a repeated start finds its pointer: {again:?}"
    );
    let mut bare = batch(&k, None, None);
    bare.current = None;
    let again = clean.commit(bare).await;
    assert!(matches!(again, Err(StoreError::AlreadyExists { .. })), "a repeated create: {again:?}");
    let e = store.commit(batch(&k, Some(1), None)).await.expect_err("an update whose answer is lost");
    assert_eq!(injected(&e).map(|f| f.applied), Some(true));
    let again = clean.commit(batch(&k, Some(1), None)).await;
    assert!(matches!(again, Err(StoreError::Conflict { .. })), "a repeated update: {again:?}");
    assert_eq!(clean.get_run(&k).await.unwrap().map(|r| r.db_version), Some(2), "applied once");
    assert_eq!(clean.read_events(&k, 1, i64::MAX, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_lost_ack_hides_a_failed_write_too() {
    let store = MemoryStore::new().with_faults(on("commit", Fault::LoseAck));
    let clean = store.handle();
    let k = key("wf");
    let e = store.commit(batch(&k, Some(7), None)).await.expect_err("a stale update, its answer lost");
    assert_eq!(injected(&e).map(|f| f.applied), Some(true), "Unavailable, not Conflict: {e:?}");
    assert!(traces(&clean, &k).await.is_empty(), "the write failed on its own condition");
}

#[tokio::test]
async fn a_lost_ack_on_a_read_is_a_time_out() {
    let store = MemoryStore::new().with_faults(on("get_run", Fault::LoseAck));
    let e = store.get_run(&key("wf")).await.expect_err("lost");
    assert_eq!(injected(&e), Some(InjectedFault { operation: "get_run", applied: false }));
}

#[tokio::test]
async fn a_lost_acquisition_moved_the_lease() {
    let store = MemoryStore::new().with_faults(on("acquire_shard", Fault::LoseAck));
    assert_eq!(store.init_shard_count(2).await.unwrap(), 2);
    let e = store.acquire_shard(1, "m-a", 0).await.expect_err("lost");
    assert_eq!(injected(&e).map(|f| f.applied), Some(true));
    let leases = store.shard_leases().await.unwrap();
    assert_eq!(leases[1], ShardLease { shard_id: 1, owner: "m-a".into(), range_id: 1 }, "taken");
    let retry = store.handle().acquire_shard(1, "m-a", 0).await;
    assert!(matches!(retry, Err(StoreError::Conflict { .. })), "a retry at the old range: {retry:?}");
}

#[tokio::test]
async fn time_outs_and_lost_acks_apply_to_every_kind_of_write() {
    let timed_out =
        MemoryStore::new().with_faults(Arc::new(
            |op: &Operation<'_>| {
                if op.is_write() { Fault::TimeOut } else { Fault::Proceed }
            },
        ));
    let clean = timed_out.handle();
    let lost =
        clean.handle().with_faults(Arc::new(
            |op: &Operation<'_>| {
                if op.is_write() { Fault::LoseAck } else { Fault::Proceed }
            },
        ));
    let ns = NamespaceRow { id: "id".into(), name: "name".into(), data: vec![] };
    let sa = || vec![("Region".to_string(), visibility::SaType::Keyword)];

    assert!(timed_out.create_namespace(ns.clone()).await.is_err());
    assert!(timed_out.add_search_attributes("id", sa()).await.is_err());
    assert!(timed_out.init_shard_count(4).await.is_err());
    assert!(timed_out.heartbeat_member("m", "a:1", 60_000).await.is_err());
    assert!(clean.list_namespaces().await.unwrap().is_empty());
    assert!(clean.search_attributes("id").await.unwrap().is_empty());
    assert!(clean.shard_leases().await.unwrap().is_empty());
    assert_eq!(clean.heartbeat_member("n", "a:2", 60_000).await.unwrap().len(), 1, "no member m");

    assert!(lost.create_namespace(ns.clone()).await.is_err());
    assert!(lost.add_search_attributes("id", sa()).await.is_err());
    assert!(lost.init_shard_count(4).await.is_err());
    assert!(lost.heartbeat_member("m", "a:1", 60_000).await.is_err());
    assert_eq!(clean.list_namespaces().await.unwrap(), vec![ns]);
    assert_eq!(clean.search_attributes("id").await.unwrap(), sa());
    assert_eq!(clean.shard_leases().await.unwrap().len(), 4);
    assert_eq!(clean.heartbeat_member("n", "a:2", 60_000).await.unwrap().len(), 2, "m recorded");
}

#[tokio::test(start_paused = true)]
async fn a_delay_waits_on_tokios_clock_then_proceeds() {
    let store = MemoryStore::new().with_faults(on("commit", Fault::Delay(Duration::from_secs(5))));
    let k = key("wf");
    let started = tokio::time::Instant::now();
    let r = store.commit(batch(&k, None, None)).await.expect("a delayed commit commits");
    assert_eq!(started.elapsed(), Duration::from_secs(5), "exactly the delay, on the paused clock");
    assert_eq!(r.db_version, 1);
    let started = tokio::time::Instant::now();
    store.get_run(&k).await.unwrap().expect("the run");
    assert_eq!(started.elapsed(), Duration::ZERO, "other calls are not delayed");
}

#[tokio::test(start_paused = true)]
async fn a_delayed_fenced_commit_is_judged_when_its_delay_ends() {
    let store = Arc::new(MemoryStore::new().with_faults(on("commit", Fault::Delay(Duration::from_secs(5)))));
    let other = store.handle();
    other.init_shard_count(1).await.unwrap();
    let old = other.acquire_shard(0, "m-old", 0).await.unwrap();
    let fence = Some(Fence { shard_id: 0, range_id: old.range_id });
    let k = key("wf");
    let in_flight = tokio::spawn({
        let store = store.clone();
        let b = batch(&k, None, fence);
        async move { store.commit(b).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    other.acquire_shard(0, "m-new", old.range_id).await.expect("taken while the commit is delayed");
    let outcome = in_flight.await.expect("the commit task");
    assert!(matches!(outcome, Err(StoreError::ShardOwnershipLost { .. })), "{outcome:?}");
    assert!(traces(&other, &k).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_during_its_delay_never_applies() {
    let store = MemoryStore::new().with_faults(on("commit", Fault::Delay(Duration::from_secs(5))));
    let k = key("wf");
    let crashed = tokio::time::timeout(Duration::from_secs(1), store.commit(batch(&k, None, None))).await;
    assert!(crashed.is_err(), "dropped at its await point");
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(traces(&store.handle(), &k).await.is_empty());
}

/// A policy that records every call it is asked about.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Faults for Recorder {
    fn decide(&self, op: &Operation<'_>) -> Fault {
        let runs: Vec<&str> = op.runs().iter().map(|k| k.workflow_id.as_str()).collect();
        let fences: Vec<String> =
            op.fences().iter().map(|f| format!("{}@{}", f.shard_id, f.range_id)).collect();
        let kind = if op.is_write() { "w" } else { "r" };
        self.0.lock().push(format!("{} {kind} {runs:?} {fences:?}", op.name()));
        Fault::Proceed
    }
}

#[tokio::test]
async fn the_policy_sees_every_call_with_its_runs_and_fences() {
    let recorder = Arc::new(Recorder::default());
    let store = MemoryStore::new().with_faults(recorder.clone());
    store.init_shard_count(2).await.unwrap();
    let lease = store.acquire_shard(1, "m", 0).await.unwrap();
    let fence = Some(Fence { shard_id: 1, range_id: lease.range_id });
    let r = store.commit(batch(&key("a"), None, fence)).await.unwrap();
    store.commit_all(vec![batch(&key("b"), None, None), batch(&key("a"), Some(1), fence)]).await.unwrap();
    store.delete_tasks(fence, r.task_ids).await.unwrap();
    store.load_transfer_tasks(&[1]).await.unwrap();
    store.delete_run(&key("b")).await.unwrap();
    store.close().await.unwrap();
    assert!(store.shard_leases().await.is_err(), "closed");
    assert_eq!(
        *recorder.0.lock(),
        vec![
            "init_shard_count w [] []",
            "acquire_shard w [] []",
            "commit w [\"a\"] [\"1@1\"]",
            "commit_all w [\"b\", \"a\"] [\"1@1\"]",
            "delete_tasks w [] [\"1@1\"]",
            "load_transfer_tasks r [] []",
            "delete_run w [\"b\"] []",
        ],
        "in call order; neither close nor a closed handle's calls ask the policy"
    );
}

#[tokio::test]
async fn faults_and_closing_belong_to_one_handle() {
    let calls = Arc::new(AtomicUsize::new(0));
    let broken = MemoryStore::new().with_faults(Arc::new({
        let calls = calls.clone();
        move |_: &Operation<'_>| {
            calls.fetch_add(1, Ordering::SeqCst);
            Fault::TimeOut
        }
    }));
    let healthy = broken.handle();
    let k = key("wf");
    healthy.commit(batch(&k, None, None)).await.expect("another handle is not faulty");
    assert!(broken.get_run(&k).await.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    broken.close().await.unwrap();
    assert!(broken.is_closed() && !healthy.is_closed());
    let after = broken.get_run(&k).await;
    assert!(matches!(after, Err(StoreError::Closed { .. })), "Closed before any fault: {after:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a closed handle does not ask its policy");
    assert!(healthy.get_run(&k).await.unwrap().is_some(), "the data outlives a closed handle");
    let third = healthy.handle();
    drop(healthy);
    assert!(third.get_run(&k).await.unwrap().is_some(), "and the handle it was made from");
}

#[tokio::test]
async fn members_expire_by_the_injected_clock() {
    let now = Arc::new(AtomicI64::new(1_000_000_000));
    let store = MemoryStore::with_clock(Clock::from_fn({
        let now = now.clone();
        move || now.load(Ordering::SeqCst)
    }));
    let ids = |ms: Vec<Member>| ms.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(store.heartbeat_member("a", "x:1", 1_000).await.unwrap()), vec!["a"]);
    now.fetch_add(999_000_000, Ordering::SeqCst);
    assert_eq!(ids(store.heartbeat_member("b", "x:2", 1_000).await.unwrap()), vec!["a", "b"]);
    now.fetch_add(1_000_000, Ordering::SeqCst);
    assert_eq!(ids(store.heartbeat_member("b", "x:2", 1_000).await.unwrap()), vec!["b"], "a lapsed at 1 s");
    assert_eq!(ids(store.heartbeat_member("a", "x:1", 1_000).await.unwrap()), vec!["a", "b"], "a is back");
}
