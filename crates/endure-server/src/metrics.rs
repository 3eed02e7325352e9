//! The metrics Endure records, each named, typed and labelled once here ([`ALL`]); the rest of
//! the server records through the functions below, never through the `metrics` macros.
//!
//! Names, types, units and labels are the real Temporal server's wherever Endure has the same
//! thing (checked by scraping `temporal server start-dev --metrics-port`), so Temporal's
//! dashboards and alerts apply: the namespace label is `namespace`, the task queue label
//! `taskqueue` (sticky queues as `__sticky__`), latencies are histograms in seconds with
//! Temporal's buckets. What only Endure has carries the `endure_` prefix.
//!
//! This module deliberately does not know how (or whether) metrics are exported: the binary
//! installs a recorder (the Prometheus endpoint of `--metrics-port` / `metrics.listen`) and asks
//! [`Buckets::bounds`] for each histogram's buckets; tests and the simulation run without one and
//! every recording is then a no-op. It does not know errors or requests either: callers give it
//! Temporal's error type name (`error.rs` decides it) and the operation's name.

use metrics::Unit;
use std::sync::Arc;
use std::time::Duration;

/// A metric: its name, kind, unit, labels and what it measures.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// The exported name.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// The unit of its values.
    pub unit: Unit,
    /// Its labels, in the order the docs list them.
    pub labels: &'static [&'static str],
    /// What it measures (the exporter's help text).
    pub help: &'static str,
}

/// How a metric's values behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// A current value.
    Gauge,
    /// A distribution over buckets.
    Histogram(Buckets),
}

impl Kind {
    /// The Prometheus type name (`# TYPE`), as the docs' table lists it.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram(_) => "histogram",
        }
    }
}

/// A histogram's buckets: Temporal's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buckets {
    /// Latencies in seconds, 1 ms to 1000 s.
    Seconds,
    /// Dimensionless counts, 1 to 100,000.
    Count,
}

impl Buckets {
    /// The upper bounds, as the real server exports them.
    pub fn bounds(self) -> &'static [f64] {
        match self {
            Buckets::Seconds => &[
                0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0,
                200.0, 500.0, 1000.0,
            ],
            Buckets::Count => &[
                1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0,
                20000.0, 50000.0, 100000.0,
            ],
        }
    }
}

const RPC: &[&str] = &["namespace", "operation", "service_name"];
const RPC_ERROR: &[&str] = &["namespace", "operation", "service_name", "error_type"];
const PERSISTENCE: &[&str] = &["operation", "service_name"];
const PERSISTENCE_ERROR: &[&str] = &["operation", "service_name", "error_type"];
const COMPLETION: &[&str] =
    &["namespace", "namespace_state", "operation", "service_name", "taskqueue", "workflowType"];
const QUEUE: &[&str] = &["namespace", "operation", "partition", "service_name", "task_type", "taskqueue"];
const SCHEDULE_TO_START: &[&str] = &["namespace", "operation", "service_name", "task_type", "taskqueue"];
const WORKFLOW_CONTEXT: &[&str] = &["namespace", "operation", "service_name"];
const TASK: &[&str] = &["namespace", "operation", "service_name", "task_type"];
const CACHE: &[&str] = &["cache_type", "operation", "service_name"];
const SHARDS: &[&str] = &["operation", "service_name"];
const STORE: &[&str] = &["store"];

macro_rules! metrics {
    ($($(#[$doc:meta])* $id:ident = $name:literal, $kind:expr, $unit:expr, $labels:expr, $help:literal;)*) => {
        $(
            $(#[$doc])*
            pub const $id: Metric = Metric { name: $name, kind: $kind, unit: $unit, labels: $labels, help: $help };
        )*
        /// Every metric Endure records, in the order docs/metrics.md lists them.
        pub const ALL: &[Metric] = &[$($id),*];
    };
}

use Kind::{Counter, Gauge, Histogram};

metrics! {
    /// Requests received, per RPC.
    SERVICE_REQUESTS = "service_requests", Counter, Unit::Count, RPC,
        "gRPC requests received, per RPC (operation)";
    /// Time to answer, per RPC (long polls included: they wait by design).
    SERVICE_LATENCY = "service_latency", Histogram(Buckets::Seconds), Unit::Seconds, RPC,
        "Time to answer a gRPC request, long polls included";
    /// Requests being served.
    SERVICE_PENDING_REQUESTS = "service_pending_requests", Gauge, Unit::Count, RPC,
        "gRPC requests being served now";
    /// Every error answered, by Temporal's error type.
    SERVICE_ERROR_WITH_TYPE = "service_error_with_type", Counter, Unit::Count, RPC_ERROR,
        "Errors answered, by Temporal's error type (error_type)";
    /// Errors the server did not mean: internal, unavailable.
    SERVICE_ERRORS = "service_errors", Counter, Unit::Count, RPC,
        "Unexpected errors answered (internal, unavailable, unknown): alert on these";
    /// InvalidArgument answers.
    SERVICE_ERRORS_INVALID_ARGUMENT = "service_errors_invalid_argument", Counter, Unit::Count, RPC,
        "InvalidArgument errors answered";
    /// NotFound answers.
    SERVICE_ERRORS_ENTITY_NOT_FOUND = "service_errors_entity_not_found", Counter, Unit::Count, RPC,
        "NotFound errors answered (workflow, run, activity, namespace)";
    /// Starts refused because the workflow is already started.
    SERVICE_ERRORS_EXECUTION_ALREADY_STARTED = "service_errors_execution_already_started", Counter, Unit::Count, RPC,
        "Starts refused because the workflow id is in use";
    /// ResourceExhausted answers.
    SERVICE_ERRORS_RESOURCE_EXHAUSTED = "service_errors_resource_exhausted", Counter, Unit::Count, RPC,
        "ResourceExhausted errors answered (busy workflow, limits)";
    /// Requests that ran out of their deadline.
    SERVICE_ERRORS_CONTEXT_TIMEOUT = "service_errors_context_timeout", Counter, Unit::Count, RPC,
        "Requests that ran past their deadline";
    /// Store calls.
    PERSISTENCE_REQUESTS = "persistence_requests", Counter, Unit::Count, PERSISTENCE,
        "Calls to the store, per store operation";
    /// Store calls that failed.
    PERSISTENCE_ERRORS = "persistence_errors", Counter, Unit::Count, PERSISTENCE,
        "Calls to the store that failed (not-found answers excluded)";
    /// Store failures by kind.
    PERSISTENCE_ERROR_WITH_TYPE = "persistence_error_with_type", Counter, Unit::Count, PERSISTENCE_ERROR,
        "Calls to the store that failed, by kind (error_type)";
    /// Store call latency.
    PERSISTENCE_LATENCY = "persistence_latency", Histogram(Buckets::Seconds), Unit::Seconds, PERSISTENCE,
        "Time a store call took";
    /// Runs closed completed.
    WORKFLOW_SUCCESS = "workflow_success", Counter, Unit::Count, COMPLETION,
        "Workflow runs that completed";
    /// Runs closed failed.
    WORKFLOW_FAILED = "workflow_failed", Counter, Unit::Count, COMPLETION,
        "Workflow runs that failed";
    /// Runs timed out.
    WORKFLOW_TIMEOUT = "workflow_timeout", Counter, Unit::Count, COMPLETION,
        "Workflow runs that timed out";
    /// Runs closed canceled.
    WORKFLOW_CANCEL = "workflow_cancel", Counter, Unit::Count, COMPLETION,
        "Workflow runs that were canceled";
    /// Runs terminated.
    WORKFLOW_TERMINATE = "workflow_terminate", Counter, Unit::Count, COMPLETION,
        "Workflow runs that were terminated";
    /// Runs continued as new.
    WORKFLOW_CONTINUED_AS_NEW = "workflow_continued_as_new", Counter, Unit::Count, COMPLETION,
        "Workflow runs that continued as new";
    /// Polls answered with a task.
    POLL_SUCCESS = "poll_success", Counter, Unit::Count, QUEUE,
        "Polls answered with a task";
    /// Polls answered with a task handed over at once (sync match).
    POLL_SUCCESS_SYNC = "poll_success_sync", Counter, Unit::Count, QUEUE,
        "Polls answered with a task that was handed over as it was offered (sync match)";
    /// Polls that ended empty at their deadline.
    POLL_TIMEOUTS = "poll_timeouts", Counter, Unit::Count, QUEUE,
        "Polls that ended empty at their deadline";
    /// Tasks waiting in a queue.
    APPROXIMATE_BACKLOG_COUNT = "approximate_backlog_count", Gauge, Unit::Count, QUEUE,
        "Tasks waiting in a task queue for a poller";
    /// Schedule-to-start latency of started tasks.
    TASK_SCHEDULE_TO_START_LATENCY = "task_schedule_to_start_latency", Histogram(Buckets::Seconds), Unit::Seconds,
        SCHEDULE_TO_START, "Time from a task's scheduling to a worker starting it";
    /// A run's state transitions, at each commit.
    STATE_TRANSITION_COUNT = "state_transition_count", Histogram(Buckets::Count), Unit::Count, WORKFLOW_CONTEXT,
        "A run's state transitions so far, recorded at each of its commits";
    /// Internal tasks run (timers, transfers, cross-workflow steps).
    TASK_REQUESTS = "task_requests", Counter, Unit::Count, TASK,
        "History tasks processed (timers, transfers, cross-workflow steps), per task type";
    /// Time an internal task took.
    TASK_LATENCY = "task_latency", Histogram(Buckets::Seconds), Unit::Seconds, TASK,
        "Time a history task took: timers and cross-workflow steps from firing to done; workflow and activity task transfers from the start of their commit to their hand-over to matching";
    /// Mutable state cache lookups.
    CACHE_REQUESTS = "cache_requests", Counter, Unit::Count, CACHE,
        "Lookups in the mutable state cache";
    /// Mutable state cache misses.
    CACHE_MISS = "cache_miss", Counter, Unit::Count, CACHE,
        "Lookups in the mutable state cache that had to read the store";
    /// Shard acquisition rounds.
    ACQUIRE_SHARDS_COUNT = "acquire_shards_count", Counter, Unit::Count, SHARDS,
        "Rounds of shard acquisition";
    /// Shards taken.
    SHARDITEM_CREATED_COUNT = "sharditem_created_count", Counter, Unit::Count, SHARDS,
        "Shards this replica took";
    /// Shards lost or handed over.
    SHARDITEM_REMOVED_COUNT = "sharditem_removed_count", Counter, Unit::Count, SHARDS,
        "Shards this replica lost or handed over";
    /// Membership changes seen.
    MEMBERSHIP_CHANGED_COUNT = "membership_changed_count", Counter, Unit::Count, SHARDS,
        "Changes of the cluster's membership this replica saw";
    /// Shards held.
    NUMSHARDS_GAUGE = "numshards_gauge", Gauge, Unit::Count, SHARDS,
        "Shards this replica holds";
    /// Transactions per group commit.
    ENDURE_COMMIT_BATCH_SIZE = "endure_commit_batch_size", Histogram(Buckets::Count), Unit::Count, STORE,
        "Transactions written by one group commit (one fsync on SQLite, one round trip on PostgreSQL)";
    /// One group commit, fsync included.
    ENDURE_COMMIT_LATENCY = "endure_commit_latency", Histogram(Buckets::Seconds), Unit::Seconds, STORE,
        "Time one group commit took, its fsync included";
    /// Commits waiting for the writer.
    ENDURE_WRITER_QUEUE_DEPTH = "endure_writer_queue_depth", Gauge, Unit::Count, STORE,
        "Commits waiting for the writer";
    /// How late timers fire.
    ENDURE_TIMER_LATENESS = "endure_timer_lateness", Histogram(Buckets::Seconds), Unit::Seconds, &[],
        "How late timer tasks fire: from their due time to the start of their processing";
    /// Outbox repairs (each one a bug).
    OUTBOX_REPAIRS = "outbox_repairs", Counter, Unit::Count, &[],
        "Task rows the outbox check re-created for open runs that waited for a task no row \
         would dispatch (each one is a bug in Endure; the server logs the run)";
}

/// Describes every metric to the installed recorder and makes each unlabelled counter visible
/// at zero before its first increment (an alert on `increase(outbox_repairs[…]) > 0` needs the
/// series). Called once, by whoever installed the recorder.
pub fn describe() {
    for m in ALL {
        match m.kind {
            Kind::Counter => {
                metrics::describe_counter!(m.name, m.unit, m.help);
                if m.labels.is_empty() {
                    metrics::counter!(m.name).absolute(0);
                }
            }
            Kind::Gauge => metrics::describe_gauge!(m.name, m.unit, m.help),
            Kind::Histogram(_) => metrics::describe_histogram!(m.name, m.unit, m.help),
        }
    }
}

/// Adds `n` to the unlabelled counter `m`.
pub fn count(m: &Metric, n: u64) {
    debug_assert!(m.kind == Kind::Counter && m.labels.is_empty(), "{} is not an unlabelled counter", m.name);
    metrics::counter!(m.name).increment(n);
}

/// The `service_name` label of the real server's services Endure's parts stand for.
pub mod service {
    /// The frontend: requests from clients.
    pub const FRONTEND: &str = "frontend";
    /// The history service: requests another replica forwarded to a run's owner, runs, tasks,
    /// the store, shards.
    pub const HISTORY: &str = "history";
    /// Matching: task queues.
    pub const MATCHING: &str = "matching";
}

/// A handle's cache: registering a series (building its key, hashing it, finding it in the
/// recorder) costs far more than recording into it, so the hot paths keep their handles here,
/// made at their first recording. Handles made before the binary installs its recorder would
/// record nowhere: the binary installs it before the server starts.
type Cache<K, V> = parking_lot::RwLock<std::collections::HashMap<K, V>>;

fn cached<K, Q, V>(cache: &Cache<K, V>, key: &Q, make: impl FnOnce() -> (K, V)) -> V
where
    K: std::hash::Hash + Eq + std::borrow::Borrow<Q>,
    Q: std::hash::Hash + Eq + ?Sized,
    V: Clone,
{
    if let Some(v) = cache.read().get(key) {
        return v.clone();
    }
    let (k, v) = make();
    cache.write().entry(k).or_insert(v).clone()
}

/// The series of one RPC, namespace and service.
struct RpcSeries {
    labels: [(&'static str, String); 3],
    requests: metrics::Counter,
    latency: metrics::Histogram,
    pending: metrics::Gauge,
}

type RpcKey = (&'static str, &'static str);
type RpcCache = Cache<RpcKey, std::collections::HashMap<String, Arc<RpcSeries>>>;

static RPC_SERIES: std::sync::LazyLock<RpcCache> = std::sync::LazyLock::new(Default::default);

fn rpc_series(service_name: &'static str, operation: &'static str, namespace: &str) -> Arc<RpcSeries> {
    let key = (service_name, operation);
    if let Some(s) = RPC_SERIES.read().get(&key).and_then(|by_ns| by_ns.get(namespace)) {
        return s.clone();
    }
    let labels = [
        ("namespace", namespace.to_owned()),
        ("operation", operation.to_owned()),
        ("service_name", service_name.to_owned()),
    ];
    let series = Arc::new(RpcSeries {
        requests: metrics::counter!(SERVICE_REQUESTS.name, &labels),
        latency: metrics::histogram!(SERVICE_LATENCY.name, &labels),
        pending: metrics::gauge!(SERVICE_PENDING_REQUESTS.name, &labels),
        labels,
    });
    RPC_SERIES.write().entry(key).or_default().entry(namespace.to_owned()).or_insert(series).clone()
}

/// One RPC being served: counted as pending until [`Rpc::finish`] (or drop) records it.
pub struct Rpc {
    series: Arc<RpcSeries>,
    started: tokio::time::Instant,
    done: bool,
}

/// Starts recording an RPC: counts the request and raises the pending gauge.
pub fn rpc(service_name: &'static str, operation: &'static str, namespace: &str) -> Rpc {
    let namespace = if namespace.is_empty() { "_unknown_" } else { namespace };
    let series = rpc_series(service_name, operation, namespace);
    series.requests.increment(1);
    series.pending.increment(1.0);
    Rpc { series, started: crate::clock::monotonic(), done: false }
}

impl Rpc {
    /// Records the RPC's latency and, if it failed, its error by Temporal's type name
    /// (`serviceerror_NotFound`, …; see `ApiError::type_name`).
    pub fn finish(mut self, error: Option<&'static str>) {
        self.done = true;
        self.series.pending.decrement(1.0);
        self.series.latency.record(crate::clock::since(self.started).as_secs_f64());
        let Some(error_type) = error else { return };
        let labels = &self.series.labels;
        let [ns, op, service] = labels.clone();
        metrics::counter!(
            SERVICE_ERROR_WITH_TYPE.name,
            &[ns, op, service, ("error_type", error_type.to_owned())]
        )
        .increment(1);
        let class = match error_type {
            "serviceerror_InvalidArgument" => Some(&SERVICE_ERRORS_INVALID_ARGUMENT),
            "serviceerror_NotFound" | "serviceerror_NamespaceNotFound" => {
                Some(&SERVICE_ERRORS_ENTITY_NOT_FOUND)
            }
            "serviceerror_WorkflowExecutionAlreadyStarted" => Some(&SERVICE_ERRORS_EXECUTION_ALREADY_STARTED),
            "serviceerror_ResourceExhausted" => Some(&SERVICE_ERRORS_RESOURCE_EXHAUSTED),
            "serviceerror_DeadlineExceeded" => Some(&SERVICE_ERRORS_CONTEXT_TIMEOUT),
            "serviceerror_Internal"
            | "serviceerror_Unavailable"
            | "serviceerror_DataLoss"
            | "serviceerror_Unknown" => Some(&SERVICE_ERRORS),
            _ => None,
        };
        if let Some(m) = class {
            metrics::counter!(m.name, labels).increment(1);
        }
    }
}

impl Drop for Rpc {
    fn drop(&mut self) {
        if !self.done {
            // The caller went away mid-request (cancelled): no longer pending, and no answer.
            self.series.pending.decrement(1.0);
        }
    }
}

/// Records one store call: its latency and, if it failed, its kind (`None` for success or a
/// not-found answer).
pub fn persistence(operation: &'static str, elapsed: Duration, error: Option<&'static str>) {
    static SERIES: std::sync::LazyLock<Cache<&'static str, (metrics::Counter, metrics::Histogram)>> =
        std::sync::LazyLock::new(Default::default);
    let labels = [("operation", operation), ("service_name", service::HISTORY)];
    let (requests, latency) = cached(&SERIES, operation, || {
        let handles = (
            metrics::counter!(PERSISTENCE_REQUESTS.name, &labels),
            metrics::histogram!(PERSISTENCE_LATENCY.name, &labels),
        );
        (operation, handles)
    });
    requests.increment(1);
    latency.record(elapsed.as_secs_f64());
    if let Some(error_type) = error {
        metrics::counter!(PERSISTENCE_ERRORS.name, &labels).increment(1);
        let [op, service] = labels;
        metrics::counter!(PERSISTENCE_ERROR_WITH_TYPE.name, &[op, service, ("error_type", error_type)])
            .increment(1);
    }
}

/// How a run closed, for the `workflow_*` counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Completed.
    Success,
    /// Failed.
    Failed,
    /// Timed out.
    Timeout,
    /// Canceled.
    Cancel,
    /// Terminated.
    Terminate,
    /// Continued as new.
    ContinuedAsNew,
}

/// Counts a run's close.
pub fn workflow_closed(outcome: Outcome, namespace: &str, task_queue: &str, workflow_type: &str) {
    let m = match outcome {
        Outcome::Success => &WORKFLOW_SUCCESS,
        Outcome::Failed => &WORKFLOW_FAILED,
        Outcome::Timeout => &WORKFLOW_TIMEOUT,
        Outcome::Cancel => &WORKFLOW_CANCEL,
        Outcome::Terminate => &WORKFLOW_TERMINATE,
        Outcome::ContinuedAsNew => &WORKFLOW_CONTINUED_AS_NEW,
    };
    let labels = [
        ("namespace", namespace.to_owned()),
        ("namespace_state", "active".to_owned()),
        ("operation", "CompletionStats".to_owned()),
        ("service_name", service::HISTORY.to_owned()),
        ("taskqueue", task_queue.to_owned()),
        ("workflowType", workflow_type.to_owned()),
    ];
    metrics::counter!(m.name, &labels).increment(1);
}

/// Records a run's state transition count at a commit.
pub fn state_transitions(namespace: &str, count: i64) {
    static SERIES: std::sync::LazyLock<Cache<String, metrics::Histogram>> =
        std::sync::LazyLock::new(Default::default);
    let h = cached(&SERIES, namespace, || {
        let labels = [
            ("namespace", namespace.to_owned()),
            ("operation", "WorkflowContext".to_owned()),
            ("service_name", service::HISTORY.to_owned()),
        ];
        (namespace.to_owned(), metrics::histogram!(STATE_TRANSITION_COUNT.name, &labels))
    });
    h.record(count as f64);
}

/// The kind of a task queue's tasks, as the `task_type` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueKind {
    /// Workflow tasks.
    Workflow,
    /// Activity tasks.
    Activity,
}

impl QueueKind {
    fn label(self) -> &'static str {
        match self {
            QueueKind::Workflow => "Workflow",
            QueueKind::Activity => "Activity",
        }
    }
}

/// The `taskqueue` label of a queue: sticky queues (one per worker) are `__sticky__`, as on the
/// real server, so a fleet's sticky queues do not make a series each.
pub fn queue_label(name: &str, sticky: bool) -> &str {
    if sticky { "__sticky__" } else { name }
}

fn queue_labels(namespace: &str, kind: QueueKind, queue: &str) -> [(&'static str, String); 6] {
    [
        ("namespace", namespace.to_owned()),
        ("operation", "TaskQueueMgr".to_owned()),
        ("partition", "0".to_owned()),
        ("service_name", service::MATCHING.to_owned()),
        ("task_type", kind.label().to_owned()),
        ("taskqueue", queue.to_owned()),
    ]
}

/// How a poll ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollEnd {
    /// With a task that was waiting in the queue.
    Task,
    /// With a task handed over as it was offered.
    SyncMatch,
    /// Empty at its deadline.
    Timeout,
}

/// A task queue's poll series.
#[derive(Clone)]
struct QueueSeries {
    success: metrics::Counter,
    sync: metrics::Counter,
    timeouts: metrics::Counter,
    schedule_to_start: metrics::Histogram,
}

fn queue_series(namespace: &str, kind: QueueKind, queue: &str) -> QueueSeries {
    static WORKFLOW: std::sync::LazyLock<Cache<String, QueueSeries>> =
        std::sync::LazyLock::new(Default::default);
    static ACTIVITY: std::sync::LazyLock<Cache<String, QueueSeries>> =
        std::sync::LazyLock::new(Default::default);
    let (cache, operation) = match kind {
        QueueKind::Workflow => (&WORKFLOW, "RecordWorkflowTaskStarted"),
        QueueKind::Activity => (&ACTIVITY, "RecordActivityTaskStarted"),
    };
    let key = format!("{namespace}\u{1f}{queue}");
    cached(cache, key.as_str(), || {
        let labels = queue_labels(namespace, kind, queue);
        let started = [
            ("namespace", namespace.to_owned()),
            ("operation", operation.to_owned()),
            ("service_name", service::HISTORY.to_owned()),
            ("task_type", kind.label().to_owned()),
            ("taskqueue", queue.to_owned()),
        ];
        let series = QueueSeries {
            success: metrics::counter!(POLL_SUCCESS.name, &labels),
            sync: metrics::counter!(POLL_SUCCESS_SYNC.name, &labels),
            timeouts: metrics::counter!(POLL_TIMEOUTS.name, &labels),
            schedule_to_start: metrics::histogram!(TASK_SCHEDULE_TO_START_LATENCY.name, &started),
        };
        (key.clone(), series)
    })
}

/// Counts a poll's end.
pub fn poll(namespace: &str, kind: QueueKind, queue: &str, end: PollEnd) {
    let s = queue_series(namespace, kind, queue);
    match end {
        PollEnd::Timeout => s.timeouts.increment(1),
        PollEnd::Task => s.success.increment(1),
        PollEnd::SyncMatch => {
            s.success.increment(1);
            s.sync.increment(1);
        }
    }
}

/// Sets a queue's backlog.
pub fn backlog(namespace: &str, kind: QueueKind, queue: &str, waiting: usize) {
    metrics::gauge!(APPROXIMATE_BACKLOG_COUNT.name, &queue_labels(namespace, kind, queue))
        .set(waiting as f64);
}

/// Records a task's schedule-to-start latency when a worker starts it.
pub fn schedule_to_start(namespace: &str, kind: QueueKind, queue: &str, latency: Duration) {
    queue_series(namespace, kind, queue).schedule_to_start.record(latency.as_secs_f64());
}

/// Records one history task processed (`task_type` as the real server names it, e.g.
/// `TimerActiveTaskUserTimer`) and how long it took.
pub fn task(namespace: &str, task_type: &'static str, latency: Duration) {
    type TaskCache =
        Cache<&'static str, std::collections::HashMap<String, (metrics::Counter, metrics::Histogram)>>;
    static SERIES: std::sync::LazyLock<TaskCache> = std::sync::LazyLock::new(Default::default);
    let hit = SERIES.read().get(task_type).and_then(|by_ns| by_ns.get(namespace)).cloned();
    let (requests, latency_of) = hit.unwrap_or_else(|| {
        let labels = [
            ("namespace", namespace.to_owned()),
            ("operation", task_type.to_owned()),
            ("service_name", service::HISTORY.to_owned()),
            ("task_type", task_type.to_owned()),
        ];
        let handles =
            (metrics::counter!(TASK_REQUESTS.name, &labels), metrics::histogram!(TASK_LATENCY.name, &labels));
        SERIES.write().entry(task_type).or_default().entry(namespace.to_owned()).or_insert(handles).clone()
    });
    requests.increment(1);
    latency_of.record(latency.as_secs_f64());
}

/// Records a timer task's lateness (from its due time to the start of its processing).
pub fn timer_lateness(late: Duration) {
    metrics::histogram!(ENDURE_TIMER_LATENESS.name).record(late.as_secs_f64());
}

/// Counts a mutable state cache lookup.
pub fn cache_lookup(hit: bool) {
    static SERIES: std::sync::OnceLock<(metrics::Counter, metrics::Counter)> = std::sync::OnceLock::new();
    let (requests, misses) = SERIES.get_or_init(|| {
        let labels = [
            ("cache_type", "mutablestate"),
            ("operation", "HistoryCacheGetOrCreate"),
            ("service_name", service::HISTORY),
        ];
        (metrics::counter!(CACHE_REQUESTS.name, &labels), metrics::counter!(CACHE_MISS.name, &labels))
    });
    requests.increment(1);
    if !hit {
        misses.increment(1);
    }
}

const SHARD_LABELS: [(&str, &str); 2] =
    [("operation", "ShardController"), ("service_name", service::HISTORY)];

/// What happened to this replica's shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardEvent {
    /// A round of acquisition ran.
    AcquireRound,
    /// A shard was taken.
    Taken,
    /// A shard was lost or handed over.
    Removed,
    /// The membership changed.
    MembershipChanged,
}

/// Counts a shard event.
pub fn shard_event(event: ShardEvent, n: u64) {
    let m = match event {
        ShardEvent::AcquireRound => &ACQUIRE_SHARDS_COUNT,
        ShardEvent::Taken => &SHARDITEM_CREATED_COUNT,
        ShardEvent::Removed => &SHARDITEM_REMOVED_COUNT,
        ShardEvent::MembershipChanged => &MEMBERSHIP_CHANGED_COUNT,
    };
    metrics::counter!(m.name, &SHARD_LABELS).increment(n);
}

/// Sets the number of shards held.
pub fn shards_held(n: usize) {
    metrics::gauge!(NUMSHARDS_GAUGE.name, &SHARD_LABELS).set(n as f64);
}

/// Records what a store reports of its writes (`endure_commit_*`, `endure_writer_queue_depth`);
/// the server gives it to the store it is started on.
pub struct WriteMetrics;

/// A store's write series.
#[derive(Clone)]
struct WriteSeries {
    batch_size: metrics::Histogram,
    latency: metrics::Histogram,
    waiting: metrics::Gauge,
}

fn write_series(store: &'static str) -> WriteSeries {
    static SERIES: std::sync::LazyLock<Cache<&'static str, WriteSeries>> =
        std::sync::LazyLock::new(Default::default);
    cached(&SERIES, store, || {
        let labels = [("store", store)];
        let series = WriteSeries {
            batch_size: metrics::histogram!(ENDURE_COMMIT_BATCH_SIZE.name, &labels),
            latency: metrics::histogram!(ENDURE_COMMIT_LATENCY.name, &labels),
            waiting: metrics::gauge!(ENDURE_WRITER_QUEUE_DEPTH.name, &labels),
        };
        (store, series)
    })
}

impl endure_store::WriteObserver for WriteMetrics {
    fn group_committed(&self, store: &'static str, transactions: usize, elapsed: Duration) {
        let s = write_series(store);
        s.batch_size.record(transactions as f64);
        s.latency.record(elapsed.as_secs_f64());
    }

    fn waiting(&self, store: &'static str, writes: usize) {
        write_series(store).waiting.set(writes as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS: &str = include_str!("../../../docs/metrics.md");

    /// The rows of docs/metrics.md's table: name, type column, labels column.
    fn documented() -> Vec<(String, String, String)> {
        DOCS.lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| {
                let (name, rest) = l.split_once('`')?;
                let mut cols = rest.split('|').skip(1).map(str::trim);
                let kind = cols.next()?.to_owned();
                let _unit = cols.next()?;
                let labels = cols.next()?.replace('`', "");
                Some((name.to_owned(), kind, labels))
            })
            .collect()
    }

    #[test]
    fn the_docs_list_every_metric_once_with_its_type_and_labels() {
        let expected: Vec<(String, String, String)> = ALL
            .iter()
            .map(|m| (m.name.to_owned(), m.kind.type_name().to_owned(), m.labels.join(", ")))
            .collect();
        assert_eq!(documented(), expected, "docs/metrics.md lists endure_server::metrics::ALL, in order");
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = ALL.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len(), "a metric is listed twice");
    }
}
