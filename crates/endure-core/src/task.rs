//! Tasks a transition produces: transfer tasks (hand work to matching) and timer tasks (fire at a
//! time). They are written in the same transaction as the events that caused them.

use crate::api::common::v1::Priority;
use crate::time::Nanos;
use serde::{Deserialize, Serialize};

/// One durable task of a workflow run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Task {
    /// Dispatch a workflow task to a task queue.
    WorkflowTask {
        /// Task queue name.
        task_queue: String,
        /// The stamp of the workflow task this dispatches (see [`crate::WorkflowTaskInfo`]).
        stamp: i64,
        /// True when `task_queue` is a worker's sticky queue.
        #[serde(default)]
        sticky: bool,
        /// Its place in the queue's backlog (the run's priority).
        #[serde(default, skip_serializing_if = "DispatchOrder::is_default")]
        order: DispatchOrder,
        /// The worker deployment version it must run on (`dep:build`, a pinned run's), or ""
        /// when its queue's routing decides.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        version: String,
    },
    /// Dispatch an activity attempt to a task queue.
    ActivityTask {
        /// Task queue name.
        task_queue: String,
        /// Scheduled event id of the activity.
        scheduled_event_id: i64,
        /// Attempt being dispatched.
        attempt: i32,
        /// The activity's dispatch stamp when this task was made (see [`crate::ActivityInfo::stamp`]).
        #[serde(default, skip_serializing_if = "is_zero")]
        stamp: i32,
        /// Its place in the queue's backlog (the activity's priority over the run's).
        #[serde(default, skip_serializing_if = "DispatchOrder::is_default")]
        order: DispatchOrder,
        /// The worker deployment version it must run on (its pinned workflow's), or "".
        #[serde(default, skip_serializing_if = "String::is_empty")]
        version: String,
    },
    /// A user timer fires.
    UserTimer {
        /// Fire time.
        fire_at: Nanos,
        /// Timer id.
        timer_id: String,
        /// TimerStarted event id.
        started_event_id: i64,
    },
    /// An activity timeout of one attempt.
    ActivityTimeout {
        /// Fire time.
        fire_at: Nanos,
        /// Scheduled event id of the activity.
        scheduled_event_id: i64,
        /// Attempt the timeout belongs to.
        attempt: i32,
        /// `TimeoutType` as its enum number.
        timeout_type: i32,
    },
    /// The backoff before an activity retry has elapsed: dispatch the next attempt.
    ActivityRetry {
        /// Fire time.
        fire_at: Nanos,
        /// Scheduled event id of the activity.
        scheduled_event_id: i64,
        /// Attempt to dispatch.
        attempt: i32,
    },
    /// A workflow task timeout (start-to-close, or schedule-to-start on a sticky queue).
    WorkflowTaskTimeout {
        /// Fire time.
        fire_at: Nanos,
        /// The workflow task's stamp.
        stamp: i64,
        /// `TimeoutType` as its enum number.
        timeout_type: i32,
    },
    /// The start delay (or another first-workflow-task backoff) has elapsed.
    WorkflowBackoff {
        /// Fire time.
        fire_at: Nanos,
    },
    /// The run timeout of this run.
    WorkflowRunTimeout {
        /// Fire time.
        fire_at: Nanos,
    },
    /// The execution timeout of the whole chain of runs.
    WorkflowExecutionTimeout {
        /// Fire time.
        fire_at: Nanos,
    },
    /// Start the child initiated by event `initiated_event_id` (cross-workflow work runs from
    /// the timer queue at `fire_at` = the transition's time, i.e. at once).
    StartChild {
        /// When to run.
        fire_at: Nanos,
        /// Initiated event id.
        initiated_event_id: i64,
    },
    /// Deliver the signal initiated by event `initiated_event_id`.
    SignalExternal {
        /// When to run.
        fire_at: Nanos,
        /// Initiated event id.
        initiated_event_id: i64,
    },
    /// Deliver the cancel request initiated by event `initiated_event_id`.
    CancelExternal {
        /// When to run.
        fire_at: Nanos,
        /// Initiated event id.
        initiated_event_id: i64,
    },
    /// This (child) run closed: report it to the parent.
    RecordChildClosed {
        /// When to run.
        fire_at: Nanos,
        /// The parent to tell.
        parent: crate::state::ParentInfo,
        /// Workflow id of this child.
        child_workflow_id: String,
        /// The close event, protobuf-encoded.
        #[serde(with = "crate::protobytes::raw")]
        close_event: Vec<u8>,
    },
    /// The parent closed: apply a child's parent close policy.
    ParentClosePolicy {
        /// When to run.
        fire_at: Nanos,
        /// Child namespace id.
        namespace_id: String,
        /// Child workflow id.
        workflow_id: String,
        /// Child's first run id.
        run_id: String,
        /// `ParentClosePolicy` number.
        policy: i32,
    },
    /// The namespace's retention period after this closed run's close time ran out: delete
    /// the run (history, state, visibility).
    DeleteClosedRun {
        /// When to run.
        fire_at: Nanos,
    },
    /// A schedule's wake-up: take the actions due (a schedule's system run).
    ScheduleWake {
        /// The next action time.
        fire_at: Nanos,
    },
    /// Start the workflow of a schedule's pending start `seq` (a cross-workflow step).
    ScheduleStart {
        /// When to run.
        fire_at: Nanos,
        /// The pending start.
        seq: i64,
    },
    /// Cancel or terminate a workflow the schedule started (its overlap policy).
    ScheduleStopRun {
        /// When to run.
        fire_at: Nanos,
        /// The workflow.
        workflow_id: String,
        /// The run the schedule started.
        run_id: String,
        /// Terminate (else request cancellation).
        terminate: bool,
    },
    /// A batch job's step: work the next items (a batch job's system run).
    BatchStep {
        /// When to run.
        fire_at: Nanos,
    },
    /// This run, started by a schedule, closed at the end of its chain: tell the schedule.
    ScheduleWorkflowClosed {
        /// When to run.
        fire_at: Nanos,
        /// The schedule's id.
        schedule_id: String,
        /// The close event, protobuf-encoded.
        #[serde(with = "crate::protobytes::raw")]
        close_event: Vec<u8>,
    },
}

/// Where a dispatch task goes in its queue's backlog, from Temporal's `Priority`: tasks of a
/// lower priority key first (1 is the highest; unset is [`DEFAULT_PRIORITY_KEY`]), and within a
/// key, fairness keys served in proportion to their weights (unset weight: 1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DispatchOrder {
    /// Priority key as sent (0: unset).
    pub priority_key: i32,
    /// Fairness key ("" : unset).
    pub fairness_key: String,
    /// Fairness weight as sent (0: unset).
    pub fairness_weight: f32,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// The priority key of a task that has none, as the real server's default of five levels.
pub const DEFAULT_PRIORITY_KEY: i32 = 3;

impl DispatchOrder {
    /// The order of a task with `own` priority in a run whose priority is `run`: each field the
    /// task leaves unset comes from the run, as Temporal's activities and children inherit.
    pub fn of(run: Option<&Priority>, own: Option<&Priority>) -> Self {
        let pick = |f: fn(&Priority) -> bool| own.filter(|p| f(p)).or(run.filter(|p| f(p)));
        DispatchOrder {
            priority_key: pick(|p| p.priority_key != 0).map_or(0, |p| p.priority_key),
            fairness_key: pick(|p| !p.fairness_key.is_empty())
                .map_or(String::new(), |p| p.fairness_key.clone()),
            fairness_weight: pick(|p| p.fairness_weight != 0.0).map_or(0.0, |p| p.fairness_weight),
        }
    }

    /// True when nothing is set (the task is ordered as any other).
    pub fn is_default(&self) -> bool {
        *self == DispatchOrder::default()
    }

    /// The priority key the backlog orders by.
    pub fn effective_priority_key(&self) -> i32 {
        if self.priority_key > 0 { self.priority_key } else { DEFAULT_PRIORITY_KEY }
    }

    /// The fairness weight the backlog shares by.
    pub fn effective_fairness_weight(&self) -> f32 {
        if self.fairness_weight > 0.0 { self.fairness_weight } else { 1.0 }
    }
}

impl Task {
    /// The task with its dispatch order cleared: what identifies a dispatch (the order may be
    /// written differently by older versions, or changed since).
    pub fn without_order(&self) -> Task {
        let mut t = self.clone();
        if let Task::WorkflowTask { order, version, .. } | Task::ActivityTask { order, version, .. } = &mut t
        {
            *order = DispatchOrder::default();
            version.clear();
        }
        t
    }

    /// Where a dispatch task goes in its queue's backlog (the default for others).
    pub fn order(&self) -> DispatchOrder {
        match self {
            Task::WorkflowTask { order, .. } | Task::ActivityTask { order, .. } => order.clone(),
            _ => DispatchOrder::default(),
        }
    }

    /// When a timer task fires, or `None` for a transfer task (ready now).
    pub fn fire_at(&self) -> Option<Nanos> {
        match self {
            Task::WorkflowTask { .. } | Task::ActivityTask { .. } => None,
            Task::UserTimer { fire_at, .. }
            | Task::ActivityTimeout { fire_at, .. }
            | Task::ActivityRetry { fire_at, .. }
            | Task::WorkflowTaskTimeout { fire_at, .. }
            | Task::WorkflowBackoff { fire_at }
            | Task::WorkflowRunTimeout { fire_at }
            | Task::WorkflowExecutionTimeout { fire_at }
            | Task::StartChild { fire_at, .. }
            | Task::SignalExternal { fire_at, .. }
            | Task::CancelExternal { fire_at, .. }
            | Task::RecordChildClosed { fire_at, .. }
            | Task::ParentClosePolicy { fire_at, .. }
            | Task::DeleteClosedRun { fire_at }
            | Task::ScheduleWake { fire_at }
            | Task::BatchStep { fire_at }
            | Task::ScheduleStart { fire_at, .. }
            | Task::ScheduleStopRun { fire_at, .. }
            | Task::ScheduleWorkflowClosed { fire_at, .. } => Some(*fire_at),
        }
    }

    /// The task queue a transfer task goes to.
    pub fn task_queue(&self) -> Option<&str> {
        match self {
            Task::WorkflowTask { task_queue, .. } | Task::ActivityTask { task_queue, .. } => Some(task_queue),
            _ => None,
        }
    }
}

/// The dispatch tasks a run's state says its outbox must hold: its workflow task while scheduled
/// and not started, and each activity attempt waiting in a task queue (not started, not waiting
/// out a retry backoff). A closed run has none. The server checks the outbox against this.
pub fn pending_dispatch(ms: &crate::MutableState) -> Vec<Task> {
    if !ms.is_open() {
        return vec![];
    }
    let workflow_task = ms.workflow_task.iter().filter(|w| !w.is_started()).map(|w| Task::WorkflowTask {
        task_queue: w.task_queue.clone(),
        stamp: w.stamp,
        sticky: w.sticky,
        order: DispatchOrder::of(ms.priority.as_ref(), None),
        version: ms.pinned_version_key(),
    });
    let activities = ms
        .activities
        .values()
        .filter(|a| a.state == crate::state::ActivityState::Scheduled && !a.in_backoff && !a.paused)
        .map(|a| Task::ActivityTask {
            task_queue: a.task_queue.clone(),
            scheduled_event_id: a.scheduled_event_id,
            attempt: a.attempt,
            stamp: a.stamp,
            order: DispatchOrder::of(ms.priority.as_ref(), a.priority.as_ref()),
            version: ms.pinned_version_key(),
        });
    workflow_task.chain(activities).collect()
}
