//! The scheduler's and the batcher's transitions as data: steps in (wake-ups, triggers, start
//! outcomes, closes, patches), counters, buffer and outbox tasks out. The server carries the
//! tasks out; here each start is answered by hand, as the server would after its cross step.

use endure_core::api::common::v1::WorkflowType;
use endure_core::api::enums::v1::ScheduleOverlapPolicy as Overlap;
use endure_core::api::history::v1::{HistoryEvent, history_event::Attributes};
use endure_core::api::schedule::v1::{
    IntervalSpec, Schedule, ScheduleAction, SchedulePatch, SchedulePolicies, ScheduleSpec, ScheduleState,
    TriggerImmediatelyRequest, schedule_action,
};
use endure_core::api::taskqueue::v1::TaskQueue;
use endure_core::api::workflow::v1::NewWorkflowExecutionInfo;
use endure_core::batch::Target;
use endure_core::batcher::{NewBatch, new_batch};
use endure_core::schedule::StartOutcome;
use endure_core::scheduler::{NewSchedule, new_schedule};
use endure_core::time::{self, SECOND};
use endure_core::{MutableState, Task, Txn};

const T0: i64 = 1_700_000_000 * SECOND;

fn schedule(every_secs: i64, policy: Overlap, state: ScheduleState) -> Schedule {
    Schedule {
        spec: Some(ScheduleSpec {
            interval: vec![IntervalSpec {
                interval: Some(time::to_duration(every_secs * SECOND)),
                phase: None,
            }],
            ..Default::default()
        }),
        action: Some(ScheduleAction {
            action: Some(schedule_action::Action::StartWorkflow(NewWorkflowExecutionInfo {
                workflow_id: "wf".into(),
                workflow_type: Some(WorkflowType { name: "W".into() }),
                task_queue: Some(TaskQueue { name: "q".into(), ..Default::default() }),
                ..Default::default()
            })),
        }),
        policies: Some(SchedulePolicies { overlap_policy: policy as i32, ..Default::default() }),
        state: Some(state),
    }
}

fn create(s: Schedule, now: i64) -> (MutableState, Vec<Task>) {
    let n = NewSchedule {
        namespace_id: "ns".into(),
        schedule_id: "s".into(),
        run_id: "r".into(),
        schedule: s,
        ..Default::default()
    };
    new_schedule(n, now).expect("a valid schedule")
}

/// Runs a step at `now`; returns the tasks it made.
fn step(ms: &mut MutableState, now: i64, f: impl FnOnce(&mut Txn<'_>)) -> Vec<Task> {
    let mut t = Txn::new(ms, now);
    f(&mut t);
    std::mem::take(&mut t.tasks)
}

/// Answers every start in `tasks` as started (run ids `run-<seq>`).
fn start_all(ms: &mut MutableState, now: i64, tasks: &[Task]) -> Vec<Task> {
    let mut out = vec![];
    for t in tasks {
        if let Task::ScheduleStart { seq, .. } = t {
            let seq = *seq;
            out.extend(step(ms, now, |x| {
                x.schedule_start_recorded(seq, StartOutcome::Started(format!("run-{seq}"))).expect("recorded")
            }));
        }
    }
    out
}

fn counts(ms: &MutableState) -> (i64, i64, usize, usize) {
    let s = ms.scheduler.as_ref().expect("a schedule");
    (s.action_count, s.overlap_skipped, s.buffer.len(), s.running.len())
}

fn trigger(ms: &mut MutableState, now: i64) -> Vec<Task> {
    let patch = SchedulePatch {
        trigger_immediately: Some(TriggerImmediatelyRequest::default()),
        ..Default::default()
    };
    let tasks = step(ms, now, |x| x.schedule_patch(&patch, "").expect("patched"));
    let more = start_all(ms, now, &tasks);
    tasks.into_iter().chain(more).collect()
}

fn close_event(completed: bool) -> HistoryEvent {
    let attrs = if completed {
        Attributes::WorkflowExecutionCompletedEventAttributes(Default::default())
    } else {
        Attributes::WorkflowExecutionFailedEventAttributes(Default::default())
    };
    HistoryEvent { attributes: Some(attrs), ..Default::default() }
}

#[test]
fn overlap_policies_with_three_triggers_match_the_real_server() {
    // (action_count, overlap_skipped, buffer_size, running) after each trigger, as observed on
    // the real dev server (tests/python/test_schedules.py pins the same table end to end).
    let cases = [
        (Overlap::Skip, [(1, 0, 0, 1), (1, 1, 0, 1), (1, 2, 0, 1)]),
        (Overlap::BufferOne, [(1, 0, 0, 1), (1, 0, 1, 1), (1, 1, 1, 1)]),
        (Overlap::BufferAll, [(1, 0, 0, 1), (1, 0, 1, 1), (1, 0, 2, 1)]),
        (Overlap::AllowAll, [(1, 0, 0, 0), (2, 0, 0, 0), (3, 0, 0, 0)]),
    ];
    for (policy, expected) in cases {
        let paused = ScheduleState { paused: true, ..Default::default() };
        let (mut ms, _) = create(schedule(3600, policy, paused), T0);
        for (i, want) in expected.iter().enumerate() {
            trigger(&mut ms, T0 + (i as i64 + 1) * SECOND);
            assert_eq!(counts(&ms), *want, "{policy:?} after trigger {}", i + 1);
        }
    }
}

#[test]
fn cancel_and_terminate_other_stop_the_running_workflow_and_start_after_its_close() {
    for (policy, terminate) in [(Overlap::CancelOther, false), (Overlap::TerminateOther, true)] {
        let paused = ScheduleState { paused: true, ..Default::default() };
        let (mut ms, _) = create(schedule(3600, policy, paused), T0);
        trigger(&mut ms, T0 + SECOND);
        let tasks = trigger(&mut ms, T0 + 2 * SECOND);
        let stops: Vec<_> = tasks
            .iter()
            .filter(|t| matches!(t, Task::ScheduleStopRun { terminate: x, .. } if *x == terminate))
            .collect();
        assert_eq!(stops.len(), 1, "{policy:?}: one stop of the running workflow");
        assert_eq!(counts(&ms), (1, 0, 1, 1), "{policy:?}: the new start waits for the close");
        let first = ms.scheduler.as_ref().expect("a schedule").running[0].workflow_id.clone();
        let tasks = step(&mut ms, T0 + 3 * SECOND, |x| {
            x.schedule_workflow_closed(&first, "run-0", &close_event(false)).expect("closed")
        });
        start_all(&mut ms, T0 + 3 * SECOND, &tasks);
        assert_eq!(counts(&ms), (2, 0, 0, 1), "{policy:?}: the buffered start ran");
    }
}

#[test]
fn a_wake_up_after_a_gap_counts_what_the_catch_up_window_missed() {
    let mut s = schedule(1, Overlap::AllowAll, ScheduleState::default());
    s.policies.as_mut().expect("policies").catchup_window = Some(time::to_duration(10 * SECOND));
    let (mut ms, tasks) = create(s, T0);
    assert!(matches!(tasks[..], [Task::ScheduleWake { fire_at }] if fire_at == T0 + SECOND));
    // Down for 60 s: the times older than 10 s are missed, the last 10 are started.
    let tasks = step(&mut ms, T0 + 60 * SECOND, |x| x.schedule_wake(T0 + SECOND).expect("woke"));
    let starts = tasks.iter().filter(|t| matches!(t, Task::ScheduleStart { .. })).count();
    let s = ms.scheduler.as_ref().expect("a schedule");
    assert_eq!((s.missed_catchup_window, starts), (49, 11));
    assert!(
        tasks.iter().any(|t| matches!(t, Task::ScheduleWake { fire_at } if *fire_at == T0 + 61 * SECOND))
    );
    // A wake-up timer the schedule no longer waits for is stale.
    assert!(step_result(&mut ms, T0 + 61 * SECOND, T0 + SECOND).is_err());
}

fn step_result(ms: &mut MutableState, now: i64, fire_at: i64) -> Result<(), endure_core::CoreError> {
    Txn::new(ms, now).schedule_wake(fire_at)
}

#[test]
fn limited_actions_count_down_and_bump_the_token_and_pause_on_failure_pauses() {
    let state = ScheduleState { limited_actions: true, remaining_actions: 2, ..Default::default() };
    let mut s = schedule(1, Overlap::Skip, state);
    s.policies.as_mut().expect("policies").pause_on_failure = true;
    let (mut ms, _) = create(s, T0);
    let tasks = step(&mut ms, T0 + SECOND, |x| x.schedule_wake(T0 + SECOND).expect("woke"));
    start_all(&mut ms, T0 + SECOND, &tasks);
    let s = ms.scheduler.as_ref().expect("a schedule");
    let remaining = s.schedule.as_ref().and_then(|x| x.state.as_ref()).map(|x| x.remaining_actions);
    assert_eq!((s.action_count, remaining, s.conflict_token), (1, Some(1), 2));
    let wf = s.running[0].workflow_id.clone();
    assert_eq!(wf, "wf-2023-11-14T22:13:21Z", "the id carries the nominal time");
    step(&mut ms, T0 + 2 * SECOND, |x| {
        x.schedule_workflow_closed(&wf, "run-0", &close_event(false)).expect("closed")
    });
    let s = ms.scheduler.as_ref().expect("a schedule");
    let state = s.schedule.as_ref().and_then(|x| x.state.clone()).unwrap_or_default();
    assert!(state.paused);
    assert_eq!(state.notes, format!("paused due to workflow failure: {wf}"), "a failure without a message");
    assert_eq!(s.conflict_token, 3);
}

#[test]
fn a_stale_conflict_token_changes_nothing_and_a_repeated_patch_is_dropped() {
    let (mut ms, _) = create(schedule(3600, Overlap::Skip, ScheduleState::default()), T0);
    let applied = Txn::new(&mut ms, T0 + SECOND)
        .schedule_update(schedule(60, Overlap::Skip, ScheduleState::default()), Some(7), None)
        .expect("update");
    assert!(!applied);
    let pause = SchedulePatch { pause: "p".into(), ..Default::default() };
    step(&mut ms, T0 + SECOND, |x| x.schedule_patch(&pause, "req").expect("patched"));
    step(&mut ms, T0 + SECOND, |x| x.schedule_patch(&pause, "req").expect("patched"));
    assert_eq!(ms.scheduler.as_ref().expect("a schedule").conflict_token, 2);
}

#[test]
fn a_batch_job_checkpoints_each_item_and_completes_after_the_last() {
    let targets = vec![
        Target { workflow_id: "a".into(), run_id: String::new() },
        Target { workflow_id: "b".into(), run_id: String::new() },
    ];
    let b = NewBatch {
        namespace_id: "ns".into(),
        job_id: "job".into(),
        run_id: "r".into(),
        total: 2,
        rps: 50.0,
        executions: Some(targets),
        ..Default::default()
    };
    let (mut ms, events, tasks) = new_batch(b, T0);
    assert_eq!(events.len(), 1, "a started event");
    assert!(matches!(tasks[..], [Task::BatchStep { .. }]));
    step(&mut ms, T0, |x| x.batch_item_done(0, true).expect("item 0"));
    // The same item again (a step redone after a crash) is refused: it counts once.
    assert!(Txn::new(&mut ms, T0).batch_item_done(0, true).is_err());
    let tasks = step(&mut ms, T0, |x| x.batch_continue().expect("continue"));
    assert!(matches!(tasks[..], [Task::BatchStep { .. }]), "more to do: another step");
    step(&mut ms, T0, |x| x.batch_item_done(1, false).expect("item 1"));
    let tasks = step(&mut ms, T0 + SECOND, |x| x.batch_continue().expect("continue"));
    assert!(tasks.is_empty());
    let b = ms.batch.as_ref().expect("a batch");
    assert_eq!((b.succeeded, b.failed, ms.is_open()), (1, 1, false));
}

#[test]
fn the_buffer_holds_a_thousand_starts_and_drops_the_rest() {
    use endure_core::api::schedule::v1::BackfillRequest;
    let paused = ScheduleState { paused: true, ..Default::default() };
    let (mut ms, _) = create(schedule(1, Overlap::BufferAll, paused), T0);
    trigger(&mut ms, T0 + SECOND);
    // 1,200 one-second times while a run is open: 1,000 wait, 200 are dropped.
    let patch = SchedulePatch {
        backfill_request: vec![BackfillRequest {
            start_time: Some(time::to_timestamp(T0 - 1_200 * SECOND)),
            end_time: Some(time::to_timestamp(T0 - SECOND)),
            overlap_policy: 0,
        }],
        ..Default::default()
    };
    step(&mut ms, T0 + 2 * SECOND, |x| x.schedule_patch(&patch, "").expect("patched"));
    let s = ms.scheduler.as_ref().expect("a schedule");
    assert_eq!((s.buffer.len(), s.buffer_dropped), (endure_core::schedule::MAX_BUFFERED, 200));
}
