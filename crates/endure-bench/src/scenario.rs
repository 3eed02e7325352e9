//! The scenarios and the worker's decision logic.
//!
//! The worker never uses sticky queues, so every workflow task carries the run's full history and
//! the decision is a pure function of it (and of the workflow type): count what happened, emit the
//! next command. Re-delivered tasks (after a timeout) therefore get the same answer.

use crate::client::{json_payloads, proto_duration, task_queue};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use temporalio_protos::temporal::api::command::v1::{
    Command, CompleteWorkflowExecutionCommandAttributes, FailWorkflowExecutionCommandAttributes,
    ScheduleActivityTaskCommandAttributes, StartChildWorkflowExecutionCommandAttributes,
    StartTimerCommandAttributes, command,
};
use temporalio_protos::temporal::api::common::v1::{ActivityType, Payloads, WorkflowType};
use temporalio_protos::temporal::api::enums::v1::{CommandType, EventType};
use temporalio_protos::temporal::api::failure::v1::Failure;
use temporalio_protos::temporal::api::history::v1::{HistoryEvent, history_event};

/// One kind of workload. Each maps to its own workflow type, so a worker can serve any mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// Only `StartWorkflowExecution`: nobody polls the task queue. Latency is the start RPC's;
    /// the runs are terminated afterwards (untimed) so they do not linger.
    StartOnly,
    /// Start → one activity → complete.
    OneActivity,
    /// Start → ten activities, one after the other → complete.
    TenActivities,
    /// Start → a 1 s timer → complete.
    Timer,
    /// Start, then the starter signals the run; the workflow completes on the signal.
    Signal,
    /// A parent starts one child workflow and completes with the child's result.
    Child,
}

/// Workflow type of the child started by the `child` scenario.
pub const CHILD_WORKFLOW_TYPE: &str = "bench-child";
/// Name of the signal sent in the `signal` scenario.
pub const SIGNAL_NAME: &str = "bench-go";
/// Default length of the timer in the `timer` scenario (`--timer` changes it).
pub const TIMER: Duration = Duration::from_secs(1);
/// Start-to-close timeout given to every activity.
const ACTIVITY_TIMEOUT: Duration = Duration::from_secs(60);

impl Scenario {
    /// Every scenario, in the order `all` runs them.
    pub const ALL: [Scenario; 6] = [
        Scenario::StartOnly,
        Scenario::OneActivity,
        Scenario::TenActivities,
        Scenario::Timer,
        Scenario::Signal,
        Scenario::Child,
    ];

    /// The scenario's command-line name (`one-activity`, …).
    pub fn name(self) -> &'static str {
        match self {
            Scenario::StartOnly => "start-only",
            Scenario::OneActivity => "one-activity",
            Scenario::TenActivities => "ten-activities",
            Scenario::Timer => "timer",
            Scenario::Signal => "signal",
            Scenario::Child => "child",
        }
    }

    /// The workflow type the starter uses for this scenario (`child` starts a `bench-parent`).
    pub fn workflow_type(self) -> &'static str {
        match self {
            Scenario::StartOnly => "bench-start-only",
            Scenario::OneActivity => "bench-one-activity",
            Scenario::TenActivities => "bench-ten-activities",
            Scenario::Timer => "bench-timer",
            Scenario::Signal => "bench-signal",
            Scenario::Child => "bench-parent",
        }
    }

    /// Whether the scenario needs the worker (all but `start-only`).
    pub fn needs_worker(self) -> bool {
        self != Scenario::StartOnly
    }

    /// Whether the scenario schedules activities (so activity pollers are worth running).
    pub fn uses_activities(self) -> bool {
        matches!(self, Scenario::OneActivity | Scenario::TenActivities)
    }

    /// Parses a comma-separated list of names; `all` means every scenario.
    pub fn parse_list(list: &str) -> Result<Vec<Scenario>, String> {
        let mut out = Vec::new();
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "all" {
                out.extend(Scenario::ALL);
            } else {
                out.push(part.parse()?);
            }
        }
        if out.is_empty() {
            return Err("no scenario given".to_owned());
        }
        Ok(out)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL.into_iter().find(|sc| sc.name() == s).ok_or_else(|| {
            let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
            format!("unknown scenario {s:?} (expected one of: {}, all)", names.join(", "))
        })
    }
}

/// What the worker answers to one workflow task.
#[derive(Debug, Default)]
pub struct Decision {
    /// Commands for `RespondWorkflowTaskCompleted` (may be empty: the run keeps waiting).
    pub commands: Vec<Command>,
    /// The commands close the run (complete or fail).
    pub closes: bool,
    /// The run is being failed; the reason, reported as an error.
    pub failure: Option<String>,
}

impl Decision {
    fn wait() -> Self {
        Decision::default()
    }

    fn complete(result: Option<Payloads>) -> Self {
        let attrs = CompleteWorkflowExecutionCommandAttributes { result };
        Decision {
            commands: vec![command_with(CommandType::CompleteWorkflowExecution, attrs.into())],
            closes: true,
            failure: None,
        }
    }

    fn fail(reason: String) -> Self {
        let attrs = FailWorkflowExecutionCommandAttributes {
            failure: Some(Failure { message: reason.clone(), ..Default::default() }),
        };
        Decision {
            commands: vec![command_with(CommandType::FailWorkflowExecution, attrs.into())],
            closes: true,
            failure: Some(reason),
        }
    }

    fn one(command_type: CommandType, attrs: command::Attributes) -> Self {
        Decision { commands: vec![command_with(command_type, attrs)], closes: false, failure: None }
    }
}

fn command_with(command_type: CommandType, attributes: command::Attributes) -> Command {
    Command { command_type: command_type as i32, attributes: Some(attributes), ..Default::default() }
}

/// What the worker knows about the run a workflow task belongs to.
pub struct TaskContext<'a> {
    /// The run's workflow type.
    pub workflow_type: &'a str,
    /// The run's workflow id.
    pub workflow_id: &'a str,
    /// The task queue the run's tasks (and its activities and child) use.
    pub task_queue: &'a str,
    /// The full history, oldest first, up to the task's WorkflowTaskStarted.
    pub events: &'a [HistoryEvent],
    /// Length of the `timer` scenario's timer.
    pub timer: Duration,
}

fn count(events: &[HistoryEvent], kind: EventType) -> usize {
    events.iter().filter(|e| e.event_type == kind as i32).count()
}

fn has(events: &[HistoryEvent], kind: EventType) -> bool {
    events.iter().any(|e| e.event_type == kind as i32)
}

/// The first event of one of `kinds`, if any.
fn first_of(events: &[HistoryEvent], kinds: &[EventType]) -> Option<EventType> {
    events.iter().find_map(|e| kinds.iter().copied().find(|k| *k as i32 == e.event_type))
}

/// The workflow's input, echoed back as results.
fn workflow_input(events: &[HistoryEvent]) -> Option<Payloads> {
    events.iter().find_map(|e| match &e.attributes {
        Some(history_event::Attributes::WorkflowExecutionStartedEventAttributes(a)) => a.input.clone(),
        _ => None,
    })
}

/// Decides the commands for one workflow task from the run's history.
pub fn decide(ctx: &TaskContext<'_>) -> Decision {
    let events = ctx.events;
    if ctx.workflow_type == CHILD_WORKFLOW_TYPE {
        return Decision::complete(Some(json_payloads(&format!("child {}", ctx.workflow_id))));
    }
    match Scenario::ALL.into_iter().find(|s| s.workflow_type() == ctx.workflow_type) {
        // Nobody polls in start-only; should a task reach a worker anyway, just finish.
        Some(Scenario::StartOnly) => Decision::complete(workflow_input(events)),
        Some(Scenario::OneActivity) => activities(ctx, 1),
        Some(Scenario::TenActivities) => activities(ctx, 10),
        Some(Scenario::Timer) => timer(events, ctx.timer),
        Some(Scenario::Signal) => {
            if has(events, EventType::WorkflowExecutionSignaled) {
                Decision::complete(workflow_input(events))
            } else {
                Decision::wait()
            }
        }
        Some(Scenario::Child) => parent(ctx),
        None => Decision::fail(format!("unknown workflow type {:?}", ctx.workflow_type)),
    }
}

/// `n` activities in sequence, then complete with the last result.
fn activities(ctx: &TaskContext<'_>, n: usize) -> Decision {
    let events = ctx.events;
    if let Some(bad) = first_of(
        events,
        &[EventType::ActivityTaskFailed, EventType::ActivityTaskTimedOut, EventType::ActivityTaskCanceled],
    ) {
        return Decision::fail(format!("activity ended with {}", bad.as_str_name()));
    }
    let scheduled = count(events, EventType::ActivityTaskScheduled);
    let completed = count(events, EventType::ActivityTaskCompleted);
    if completed >= n {
        let result = events.iter().rev().find_map(|e| match &e.attributes {
            Some(history_event::Attributes::ActivityTaskCompletedEventAttributes(a)) => a.result.clone(),
            _ => None,
        });
        return Decision::complete(result);
    }
    if scheduled > completed {
        return Decision::wait();
    }
    let attrs = ScheduleActivityTaskCommandAttributes {
        activity_id: (scheduled + 1).to_string(),
        activity_type: Some(ActivityType { name: "bench-activity".to_owned() }),
        task_queue: Some(task_queue(ctx.task_queue)),
        input: Some(json_payloads(&format!("activity {}", scheduled + 1))),
        start_to_close_timeout: Some(proto_duration(ACTIVITY_TIMEOUT)),
        ..Default::default()
    };
    Decision::one(CommandType::ScheduleActivityTask, attrs.into())
}

/// One timer of `length`, then complete.
fn timer(events: &[HistoryEvent], length: Duration) -> Decision {
    if has(events, EventType::TimerFired) {
        return Decision::complete(workflow_input(events));
    }
    if has(events, EventType::TimerStarted) {
        return Decision::wait();
    }
    let attrs = StartTimerCommandAttributes {
        timer_id: "1".to_owned(),
        start_to_fire_timeout: Some(proto_duration(length)),
    };
    Decision::one(CommandType::StartTimer, attrs.into())
}

/// How late the server fired the first timer of a history, by its own event times:
/// `TimerFired.event_time − TimerStarted.event_time − start_to_fire_timeout` (floored at 0).
/// `None` until the timer has fired.
pub fn timer_lateness(events: &[HistoryEvent]) -> Option<Duration> {
    let micros = |e: &HistoryEvent| {
        e.event_time.as_ref().map(|t| t.seconds as i128 * 1_000_000 + t.nanos as i128 / 1000)
    };
    let (started_at, length) = events.iter().find_map(|e| match &e.attributes {
        Some(history_event::Attributes::TimerStartedEventAttributes(a)) => {
            let d = a.start_to_fire_timeout.as_ref()?;
            Some((micros(e)?, d.seconds as i128 * 1_000_000 + d.nanos as i128 / 1000))
        }
        _ => None,
    })?;
    let fired_at = events.iter().find(|e| e.event_type == EventType::TimerFired as i32).and_then(micros)?;
    Some(Duration::from_micros((fired_at - started_at - length).max(0) as u64))
}

/// The `child` scenario's parent: start one child, complete with its result.
fn parent(ctx: &TaskContext<'_>) -> Decision {
    let events = ctx.events;
    let result = events.iter().find_map(|e| match &e.attributes {
        Some(history_event::Attributes::ChildWorkflowExecutionCompletedEventAttributes(a)) => {
            Some(a.result.clone())
        }
        _ => None,
    });
    if let Some(result) = result {
        return Decision::complete(result);
    }
    if let Some(bad) = first_of(
        events,
        &[
            EventType::StartChildWorkflowExecutionFailed,
            EventType::ChildWorkflowExecutionFailed,
            EventType::ChildWorkflowExecutionTimedOut,
            EventType::ChildWorkflowExecutionCanceled,
            EventType::ChildWorkflowExecutionTerminated,
        ],
    ) {
        return Decision::fail(format!("child ended with {}", bad.as_str_name()));
    }
    if has(events, EventType::StartChildWorkflowExecutionInitiated) {
        return Decision::wait();
    }
    let attrs = StartChildWorkflowExecutionCommandAttributes {
        workflow_id: format!("{}/child", ctx.workflow_id),
        workflow_type: Some(WorkflowType { name: CHILD_WORKFLOW_TYPE.to_owned() }),
        task_queue: Some(task_queue(ctx.task_queue)),
        input: workflow_input(events),
        ..Default::default()
    };
    Decision::one(CommandType::StartChildWorkflowExecution, attrs.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_protos::temporal::api::history::v1::{
        ActivityTaskCompletedEventAttributes, ChildWorkflowExecutionCompletedEventAttributes,
    };

    fn ev(kind: EventType) -> HistoryEvent {
        HistoryEvent { event_type: kind as i32, ..Default::default() }
    }

    fn decide_for(workflow_type: &str, events: &[HistoryEvent]) -> Decision {
        decide(&TaskContext { workflow_type, workflow_id: "wf", task_queue: "tq", events, timer: TIMER })
    }

    fn kinds(d: &Decision) -> Vec<i32> {
        d.commands.iter().map(|c| c.command_type).collect()
    }

    fn start() -> Vec<HistoryEvent> {
        vec![
            ev(EventType::WorkflowExecutionStarted),
            ev(EventType::WorkflowTaskScheduled),
            ev(EventType::WorkflowTaskStarted),
        ]
    }

    #[test]
    fn ten_activities_run_in_sequence() {
        let mut h = start();
        for i in 0..10 {
            let d = decide_for("bench-ten-activities", &h);
            assert_eq!(kinds(&d), vec![CommandType::ScheduleActivityTask as i32], "step {i}");
            assert!(!d.closes);
            h.push(ev(EventType::WorkflowTaskCompleted));
            h.push(ev(EventType::ActivityTaskScheduled));
            // A task while the activity runs (e.g. a re-delivery) waits.
            assert!(decide_for("bench-ten-activities", &h).commands.is_empty());
            h.push(ev(EventType::ActivityTaskStarted));
            let mut done = ev(EventType::ActivityTaskCompleted);
            done.attributes = Some(
                ActivityTaskCompletedEventAttributes {
                    result: Some(json_payloads("r")),
                    ..Default::default()
                }
                .into(),
            );
            h.push(done);
        }
        let d = decide_for("bench-ten-activities", &h);
        assert_eq!(kinds(&d), vec![CommandType::CompleteWorkflowExecution as i32]);
        assert!(d.closes && d.failure.is_none());
    }

    #[test]
    fn failed_activity_fails_the_run() {
        let mut h = start();
        h.push(ev(EventType::ActivityTaskScheduled));
        h.push(ev(EventType::ActivityTaskTimedOut));
        let d = decide_for("bench-one-activity", &h);
        assert_eq!(kinds(&d), vec![CommandType::FailWorkflowExecution as i32]);
        assert!(d.failure.is_some());
    }

    #[test]
    fn timer_then_complete() {
        let mut h = start();
        assert_eq!(kinds(&decide_for("bench-timer", &h)), vec![CommandType::StartTimer as i32]);
        h.push(ev(EventType::TimerStarted));
        assert!(decide_for("bench-timer", &h).commands.is_empty());
        h.push(ev(EventType::TimerFired));
        assert!(decide_for("bench-timer", &h).closes);
    }

    #[test]
    fn timer_lateness_comes_from_the_event_times() {
        use temporalio_protos::temporal::api::history::v1::TimerStartedEventAttributes;
        let at = |seconds, nanos| Some(prost_wkt_types::Timestamp { seconds, nanos });
        let mut started = ev(EventType::TimerStarted);
        started.event_time = at(100, 500_000_000);
        started.attributes = Some(
            TimerStartedEventAttributes {
                start_to_fire_timeout: Some(proto_duration(Duration::from_secs(1))),
                ..Default::default()
            }
            .into(),
        );
        let mut h = start();
        h.push(started);
        assert_eq!(timer_lateness(&h), None);
        let mut fired = ev(EventType::TimerFired);
        fired.event_time = at(101, 512_000_000);
        h.push(fired);
        assert_eq!(timer_lateness(&h), Some(Duration::from_millis(12)));
        // A clock step backwards never gives a negative lateness.
        h.last_mut().unwrap().event_time = at(101, 0);
        assert_eq!(timer_lateness(&h), Some(Duration::ZERO));
    }

    #[test]
    fn signal_waits_for_the_signal() {
        let mut h = start();
        assert!(decide_for("bench-signal", &h).commands.is_empty());
        h.push(ev(EventType::WorkflowExecutionSignaled));
        assert!(decide_for("bench-signal", &h).closes);
    }

    #[test]
    fn parent_starts_child_and_returns_its_result() {
        let parent = Scenario::Child.workflow_type();
        assert_ne!(parent, CHILD_WORKFLOW_TYPE);
        let mut h = start();
        let d = decide_for(parent, &h);
        assert_eq!(kinds(&d), vec![CommandType::StartChildWorkflowExecution as i32]);
        h.push(ev(EventType::WorkflowTaskCompleted));
        h.push(ev(EventType::StartChildWorkflowExecutionInitiated));
        h.push(ev(EventType::ChildWorkflowExecutionStarted));
        assert!(decide_for(parent, &h).commands.is_empty());
        let mut done = ev(EventType::ChildWorkflowExecutionCompleted);
        done.attributes = Some(
            ChildWorkflowExecutionCompletedEventAttributes {
                result: Some(json_payloads("c")),
                ..Default::default()
            }
            .into(),
        );
        h.push(done);
        let d = decide_for(parent, &h);
        assert_eq!(kinds(&d), vec![CommandType::CompleteWorkflowExecution as i32]);
        assert!(d.closes && d.failure.is_none());
    }

    #[test]
    fn child_completes_at_once_and_unknown_types_fail() {
        assert!(decide_for(CHILD_WORKFLOW_TYPE, &start()).closes);
        assert!(decide_for("something-else", &start()).failure.is_some());
    }

    #[test]
    fn scenario_lists_parse() {
        assert_eq!(Scenario::parse_list("all").unwrap().len(), 6);
        assert_eq!(Scenario::parse_list("timer,signal").unwrap(), vec![Scenario::Timer, Scenario::Signal]);
        assert!(Scenario::parse_list("nope").is_err());
    }
}
