//! A standalone activity's transitions as data: a start, then worker reports, timers and client
//! requests in; the run's status, outcome and outbox tasks out. The attempts go through the same
//! transitions as a workflow's activities; what is pinned here is what differs: no events, and
//! the run closes with the outcome.

use endure_core::api::activity::v1::activity_execution_outcome::Value;
use endure_core::api::common::v1::{ActivityType, Payloads, RetryPolicy};
use endure_core::api::enums::v1::{RetryState, TimeoutType, WorkflowExecutionStatus as Status};
use endure_core::api::failure::v1::{ApplicationFailureInfo, Failure, failure::FailureInfo};
use endure_core::standalone::ACTIVITY;
use endure_core::standalone_runner::{NewStandalone, new_standalone};
use endure_core::time::SECOND;
use endure_core::transition::Poller;
use endure_core::{CoreError, MutableState, Task, Txn};

const T0: i64 = 1_700_000_000 * SECOND;

fn start(f: impl FnOnce(&mut NewStandalone)) -> (MutableState, Vec<Task>) {
    let mut n = NewStandalone {
        namespace_id: "ns".into(),
        run_id: "run".into(),
        request_id: "req".into(),
        activity_id: "a".into(),
        activity_type: ActivityType { name: "T".into() },
        task_queue: "q".into(),
        start_to_close: 10 * SECOND,
        ..Default::default()
    };
    f(&mut n);
    new_standalone(n, T0).expect("a valid start")
}

/// Runs a step at `now`; returns its result, the tasks it made and whether it wrote events.
fn step<R>(
    ms: &mut MutableState,
    now: i64,
    f: impl FnOnce(&mut Txn<'_>) -> Result<R, CoreError>,
) -> (Result<R, CoreError>, Vec<Task>) {
    let mut t = Txn::new(ms, now);
    let r = f(&mut t);
    assert!(t.events.is_empty(), "a standalone activity writes no history");
    (r, std::mem::take(&mut t.tasks))
}

fn kinds(tasks: &[Task]) -> Vec<String> {
    tasks
        .iter()
        .map(|t| match t {
            Task::ActivityTask { attempt, .. } => format!("dispatch#{attempt}"),
            Task::ActivityRetry { fire_at, attempt, .. } => {
                format!("retry#{attempt}@{}s", (fire_at - T0) / SECOND)
            }
            Task::ActivityTimeout { fire_at, timeout_type, .. } => format!(
                "{}@{}s",
                TimeoutType::try_from(*timeout_type).map_or("?", |t| t.as_str_name()),
                (fire_at - T0) / SECOND
            ),
            other => format!("{other:?}"),
        })
        .collect()
}

fn take(ms: &mut MutableState, now: i64, attempt: i32) {
    let (r, _) =
        step(ms, now, |x| x.start_activity(ACTIVITY, attempt, Some(0), "poll", &Poller::identity("w")));
    r.expect("started");
}

fn failure(msg: &str, non_retryable: bool) -> Failure {
    Failure {
        message: msg.into(),
        failure_info: Some(FailureInfo::ApplicationFailureInfo(ApplicationFailureInfo {
            non_retryable,
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn outcome(ms: &MutableState) -> Option<Value> {
    ms.standalone.as_ref()?.outcome.clone()?.value
}

#[test]
fn a_start_dispatches_the_first_attempt_with_its_timers() {
    let (ms, tasks) = start(|n| {
        n.schedule_to_close = 60 * SECOND;
        n.schedule_to_start = 5 * SECOND;
    });
    assert_eq!(
        kinds(&tasks),
        ["dispatch#1", "TIMEOUT_TYPE_SCHEDULE_TO_START@5s", "TIMEOUT_TYPE_SCHEDULE_TO_CLOSE@60s"]
    );
    assert_eq!(ms.status, Status::Running as i32);
    assert_eq!(ms.workflow_id, "temporal-sys-activity:a");
    assert_eq!(ms.activities[&ACTIVITY].retry_policy.as_ref().map(|p| p.backoff_coefficient), Some(2.0));
    let (_, delayed) = start(|n| n.start_delay = Some(3 * SECOND));
    assert_eq!(kinds(&delayed), ["retry#1@3s"], "a start delay waits like a retry backoff");
}

#[test]
fn no_start_to_close_or_schedule_to_close_timeout_is_refused() {
    let mut n = NewStandalone { activity_id: "a".into(), task_queue: "q".into(), ..Default::default() };
    n.activity_type.name = "T".into();
    assert!(matches!(new_standalone(n, T0), Err(CoreError::InvalidArgument(_))));
}

#[test]
fn a_completion_closes_the_run_with_its_result() {
    let (mut ms, _) = start(|_| {});
    take(&mut ms, T0 + SECOND, 1);
    let result = Payloads { payloads: vec![Default::default()] };
    let (r, tasks) =
        step(&mut ms, T0 + 2 * SECOND, |x| x.complete_activity(ACTIVITY, Some(1), Some(result.clone()), "w"));
    r.expect("completed");
    assert!(tasks.is_empty());
    assert_eq!(ms.status, Status::Completed as i32);
    assert_eq!(ms.close_time, T0 + 2 * SECOND);
    assert_eq!(outcome(&ms), Some(Value::Result(result)));
    let (again, _) = step(&mut ms, T0 + 3 * SECOND, |x| x.complete_activity(ACTIVITY, Some(1), None, "w"));
    assert!(matches!(again, Err(CoreError::AlreadyCompleted)), "a closed activity takes no more reports");
}

#[test]
fn failures_retry_with_backoff_until_the_policy_gives_up() {
    let (mut ms, _) =
        start(|n| n.retry_policy = Some(RetryPolicy { maximum_attempts: 2, ..Default::default() }));
    take(&mut ms, T0, 1);
    let (r, tasks) =
        step(&mut ms, T0, |x| x.fail_activity(ACTIVITY, Some(1), failure("one", false), None, "w"));
    r.expect("failed");
    assert_eq!(kinds(&tasks), ["retry#2@1s"]);
    assert_eq!(ms.status, Status::Running as i32);
    let (_, tasks) = step(&mut ms, T0 + SECOND, |x| x.activity_retry_fired(ACTIVITY, 2));
    assert_eq!(kinds(&tasks), ["dispatch#2"]);
    take(&mut ms, T0 + SECOND, 2);
    let (r, _) =
        step(&mut ms, T0 + SECOND, |x| x.fail_activity(ACTIVITY, Some(2), failure("two", false), None, "w"));
    r.expect("failed");
    assert_eq!(ms.status, Status::Failed as i32);
    let o = ms.standalone.as_ref().and_then(|s| s.outcome.clone()).expect("an outcome");
    assert_eq!(o.retry_state, RetryState::MaximumAttemptsReached as i32);
    assert!(matches!(o.value, Some(Value::Failure(f)) if f.message == "two"));
}

#[test]
fn cancel_closes_a_queued_activity_at_once_and_a_running_one_when_its_worker_says_so() {
    let (mut queued, _) = start(|_| {});
    let (r, _) = step(&mut queued, T0, |x| x.standalone_cancel("enough", "client", "c1"));
    r.expect("canceled");
    assert_eq!(queued.status, Status::Canceled as i32);

    let (mut running, _) = start(|_| {});
    take(&mut running, T0, 1);
    let (r, _) = step(&mut running, T0, |x| x.standalone_cancel("enough", "client", "c1"));
    r.expect("requested");
    assert_eq!(running.status, Status::Running as i32);
    let (again, _) = step(&mut running, T0, |x| x.standalone_cancel("enough", "client", "c1"));
    again.expect("the same request again changes nothing");
    let (hb, _) = step(&mut running, T0, |x| x.heartbeat_activity(ACTIVITY, Some(1), None));
    assert!(hb.expect("heartbeat").cancel_requested, "the worker learns of it by heartbeat");
    let (r, _) = step(&mut running, T0, |x| x.cancel_activity(ACTIVITY, Some(1), None, "w"));
    r.expect("canceled");
    assert_eq!(running.status, Status::Canceled as i32);
    match outcome(&running) {
        Some(Value::Failure(Failure { failure_info: Some(FailureInfo::CanceledFailureInfo(c)), .. })) => {
            assert_eq!(c.identity, "client", "the failure names who asked for the cancel")
        }
        other => panic!("not a canceled failure: {other:?}"),
    }
    let (closed, _) = step(&mut running, T0, |x| x.standalone_cancel("", "client", "c2"));
    assert!(
        matches!(closed, Err(CoreError::FailedPrecondition(m)) if m == "activity is in terminal state Canceled")
    );
}

#[test]
fn terminate_closes_at_once_and_the_worker_finds_it_gone() {
    let (mut ms, _) = start(|_| {});
    take(&mut ms, T0, 1);
    let (r, _) = step(&mut ms, T0, |x| x.standalone_terminate("stop", "ops", "t1"));
    r.expect("terminated");
    assert_eq!(ms.status, Status::Terminated as i32);
    assert!(matches!(outcome(&ms), Some(Value::Failure(f)) if f.message == "stop"));
    let (hb, _) = step(&mut ms, T0, |x| x.heartbeat_activity(ACTIVITY, Some(1), None));
    assert!(matches!(hb, Err(CoreError::AlreadyCompleted)));
    let (again, _) = step(&mut ms, T0, |x| x.standalone_terminate("stop", "ops", "t1"));
    again.expect("the same request again changes nothing");
    let (other, _) = step(&mut ms, T0, |x| x.standalone_terminate("stop", "ops", "t2"));
    assert!(
        matches!(other, Err(CoreError::FailedPrecondition(m)) if m == "already terminated with request ID t1")
    );
}

#[test]
fn a_schedule_to_close_timeout_times_the_activity_out() {
    let (mut ms, _) = start(|n| n.schedule_to_close = 30 * SECOND);
    take(&mut ms, T0, 1);
    let (r, _) = step(&mut ms, T0 + 30 * SECOND, |x| {
        x.activity_timeout_fired(ACTIVITY, 1, TimeoutType::ScheduleToClose)
    });
    r.expect("fired");
    assert_eq!(ms.status, Status::TimedOut as i32);
    let o = ms.standalone.as_ref().and_then(|s| s.outcome.clone()).expect("an outcome");
    assert_eq!(o.retry_state, RetryState::Timeout as i32);
}
