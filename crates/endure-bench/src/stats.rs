//! Counters shared by the starter and the worker, latency percentiles and the per-scenario
//! report (human-readable table and JSON).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Live counters of one scenario run, updated from many tasks at once.
#[derive(Default)]
pub struct Counters {
    /// Top-level workflows whose StartWorkflowExecution succeeded.
    pub started: AtomicU64,
    /// Top-level workflows that closed successfully (for `start-only`: were started).
    pub completed: AtomicU64,
    /// Top-level workflows the worker had to fail (an activity or child went wrong).
    pub failed: AtomicU64,
    /// History events of every run the worker closed (children included).
    pub events: AtomicU64,
    /// Workflow tasks completed (RespondWorkflowTaskCompleted answered OK).
    pub workflow_tasks: AtomicU64,
    /// Activity tasks completed (RespondActivityTaskCompleted answered OK).
    pub activity_tasks: AtomicU64,
    /// Failed RPCs and other errors (see [`ErrorLog`]).
    pub errors: AtomicU64,
    /// WorkflowTaskTimedOut events in the histories of closed runs: tasks the server handed out
    /// (or lost) that were not completed in time and had to be scheduled again.
    pub workflow_task_timeouts: AtomicU64,
}

impl Counters {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads `counter`.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Errors by kind ("<operation>: <gRPC code>"), with the first message seen for each.
#[derive(Default)]
pub struct ErrorLog {
    kinds: Mutex<BTreeMap<String, ErrorKind>>,
}

/// How often one kind of error happened, and an example.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorKind {
    /// Occurrences.
    pub count: u64,
    /// The first message seen.
    pub example: String,
}

impl ErrorLog {
    /// Records one error of `kind` with `message`.
    pub fn record(&self, kind: String, message: String) {
        let mut kinds = self.kinds.lock().unwrap();
        kinds.entry(kind).or_insert_with(|| ErrorKind { count: 0, example: message }).count += 1;
    }

    /// A copy of everything recorded so far.
    pub fn snapshot(&self) -> BTreeMap<String, ErrorKind> {
        self.kinds.lock().unwrap().clone()
    }
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Number of samples.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

impl Latency {
    /// Percentiles (nearest rank) of `samples`, given in microseconds.
    pub fn from_micros(mut samples: Vec<u64>) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort_unstable();
        let rank = |p: f64| {
            let idx = ((p / 100.0) * samples.len() as f64).ceil() as usize;
            samples[idx.clamp(1, samples.len()) - 1] as f64 / 1000.0
        };
        let sum: u128 = samples.iter().map(|&s| s as u128).sum();
        Latency {
            count: samples.len(),
            p50_ms: rank(50.0),
            p90_ms: rank(90.0),
            p99_ms: rank(99.0),
            max_ms: *samples.last().unwrap() as f64 / 1000.0,
            mean_ms: sum as f64 / samples.len() as f64 / 1000.0,
        }
    }
}

/// The result of one scenario run against one server.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// Scenario name.
    pub scenario: String,
    /// Server address.
    pub address: String,
    /// Task queue used (unique per run).
    pub task_queue: String,
    /// Workflow limit asked for (`null`: until `duration`).
    pub workflows_requested: Option<u64>,
    /// In-flight limit.
    pub concurrency: usize,
    /// Workflow-task pollers (and as many activity-task pollers when the scenario has activities).
    pub pollers: usize,
    /// Top-level workflows started.
    pub started: u64,
    /// Top-level workflows that completed (for `start-only`: were started).
    pub completed: u64,
    /// Top-level workflows failed by the worker (counted in `errors` too).
    pub failed: u64,
    /// Started workflows not closed when the drain timeout ran out (counted in `errors` too).
    pub unfinished: u64,
    /// Completed workflows whose DescribeWorkflowExecution did not say COMPLETED
    /// (only with `--verify`; counted in `errors` too).
    pub verify_failures: u64,
    /// All errors: failed RPCs, failed and unfinished workflows, verify failures.
    pub errors: u64,
    /// Errors by kind.
    pub error_kinds: BTreeMap<String, ErrorKind>,
    /// From the first start to the last close, in seconds.
    pub wall_seconds: f64,
    /// `completed / wall_seconds`.
    pub workflows_per_sec: f64,
    /// History events of all runs the worker closed (children included); for `start-only`,
    /// two per start (WorkflowExecutionStarted, WorkflowTaskScheduled).
    pub events: u64,
    /// State transitions per second, counted as history events: `events / wall_seconds`.
    pub events_per_sec: f64,
    /// Workflow tasks completed.
    pub workflow_tasks: u64,
    /// `workflow_tasks / wall_seconds`.
    pub workflow_tasks_per_sec: f64,
    /// Activity tasks completed.
    pub activity_tasks: u64,
    /// WorkflowTaskTimedOut events in the histories of closed runs (each one a task that was
    /// lost or late, costing a workflow-task timeout, 10 s by default).
    pub workflow_task_timeouts: u64,
    /// What the latency measures.
    pub latency_measures: String,
    /// Latency percentiles over completed workflows.
    pub latency: Latency,
    /// `timer` scenario: how late the timers fired by the server's own event times
    /// (TimerFired − TimerStarted − the timer's length).
    pub timer_lateness: Option<Latency>,
    /// `timer` scenario: lateness as the worker saw it (arrival of the task carrying TimerFired −
    /// acknowledgement of its StartTimer − the timer's length).
    pub timer_lateness_seen: Option<Latency>,
}

/// Seconds of `d` as a float (for rates).
pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// `n / seconds`, 0 when no time passed.
pub fn rate(n: u64, seconds: f64) -> f64 {
    if seconds > 0.0 { n as f64 / seconds } else { 0.0 }
}

/// Prints reports as an aligned table, then any errors, to stdout.
pub fn print_reports(reports: &[ScenarioReport]) {
    println!(
        "{:<15} {:>9} {:>7} {:>8} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "scenario",
        "completed",
        "errors",
        "wall s",
        "wf/s",
        "events/s",
        "wft/s",
        "p50 ms",
        "p90 ms",
        "p99 ms"
    );
    for r in reports {
        println!(
            "{:<15} {:>9} {:>7} {:>8.2} {:>10.1} {:>10.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            r.scenario,
            r.completed,
            r.errors,
            r.wall_seconds,
            r.workflows_per_sec,
            r.events_per_sec,
            r.workflow_tasks_per_sec,
            r.latency.p50_ms,
            r.latency.p90_ms,
            r.latency.p99_ms
        );
    }
    for r in reports.iter().filter(|r| r.errors > 0) {
        println!("\n{}: {} error(s)", r.scenario, r.errors);
        if r.failed > 0 {
            println!("  {} workflow(s) failed by the worker", r.failed);
        }
        if r.unfinished > 0 {
            println!("  {} workflow(s) not closed before the drain timeout", r.unfinished);
        }
        if r.verify_failures > 0 {
            println!(
                "  {} workflow(s) not COMPLETED according to DescribeWorkflowExecution",
                r.verify_failures
            );
        }
        for (kind, e) in &r.error_kinds {
            println!("  {kind} ×{}: {}", e.count, e.example);
        }
    }
    for r in reports.iter().filter(|r| r.workflow_task_timeouts > 0) {
        println!(
            "\n{}: {} workflow task(s) timed out (WorkflowTaskTimedOut in the histories)",
            r.scenario, r.workflow_task_timeouts
        );
    }
    println!(
        "\nevents/s counts history events (state transitions) of every run the worker closed, children \
         included; latency is start request → the worker's closing RespondWorkflowTaskCompleted \
         acknowledged (start-only: the StartWorkflowExecution round trip)."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let l = Latency::from_micros((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!(l.count, 100);
        assert_eq!(l.p50_ms, 50.0);
        assert_eq!(l.p90_ms, 90.0);
        assert_eq!(l.p99_ms, 99.0);
        assert_eq!(l.max_ms, 100.0);
        assert_eq!(l.mean_ms, 50.5);
        let one = Latency::from_micros(vec![2500]);
        assert_eq!((one.p50_ms, one.p99_ms), (2.5, 2.5));
        assert_eq!(Latency::from_micros(vec![]).count, 0);
    }

    #[test]
    fn errors_are_grouped_by_kind() {
        let log = ErrorLog::default();
        log.record("start: Unavailable".into(), "first".into());
        log.record("start: Unavailable".into(), "second".into());
        let s = log.snapshot();
        assert_eq!(s["start: Unavailable"].count, 2);
        assert_eq!(s["start: Unavailable"].example, "first");
    }
}
