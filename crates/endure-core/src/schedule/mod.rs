//! Temporal Schedules: the spec engine ([`spec`]) and what a schedule keeps
//! ([`SchedulerState`]): its schedule, counters, buffer, running workflows and recent actions,
//! and the real server's rules over them (overlap policies, catch-up window default and minimum,
//! buffer limit, recent and future action counts, pause on failure, remaining actions).
//!
//! A schedule lives as a system run (`temporal-sys-scheduler:<id>`) whose mutable state carries a
//! [`SchedulerState`]: it is stored, cached, fenced, owned by one shard and taken over with it
//! like any run, and its wake-ups are timer tasks. It writes no history events. The workflows it
//! starts are ordinary runs; each carries `TemporalScheduledById`, and its close (at the end of
//! its chain of retries and continue-as-new) is reported back to the schedule.
//!
//! This module is data and rules only: it imports no run state, task or transition, so the run
//! state can hold it. The transitions that change it are in [`crate::scheduler`].

pub mod spec;

use crate::api::common::v1::{Payloads, WorkflowExecution};
use crate::api::enums::v1::{ScheduleOverlapPolicy as Overlap, WorkflowExecutionStatus as Status};
use crate::api::failure::v1::Failure;
use crate::api::history::v1::{HistoryEvent, history_event::Attributes};
use crate::api::schedule::v1::{
    BackfillRequest, Schedule, ScheduleActionResult, ScheduleInfo, ScheduleListInfo, schedule_action,
};
use crate::api::workflow::v1::NewWorkflowExecutionInfo;
use crate::error::CoreError;
use crate::protobytes;
use crate::time::{self, Nanos};
use serde::{Deserialize, Serialize};
use spec::CompiledSpec;
use std::collections::BTreeMap;

/// The prefix of a schedule's system run's workflow id (the real server's, so shard placement
/// and any tool that knows the convention agree).
pub const WORKFLOW_ID_PREFIX: &str = "temporal-sys-scheduler:";
/// The workflow type of a schedule's system run.
pub const WORKFLOW_TYPE: &str = "temporal-sys-scheduler-workflow";
/// The task queue of a schedule's system run (nothing polls it: the server runs schedules).
pub const TASK_QUEUE: &str = "temporal-sys-per-ns-tq";
/// `TemporalNamespaceDivision` of a schedule's system run: workflow listings leave it out.
pub const NAMESPACE_DIVISION: &str = "TemporalScheduler";
/// The system search attribute naming the schedule that started a run.
pub const SCHEDULED_BY_ID: &str = "TemporalScheduledById";
/// The system search attribute holding the nominal time a schedule started a run for.
pub const SCHEDULED_START_TIME: &str = "TemporalScheduledStartTime";
/// The system search attribute marking system runs of a division (schedules, batch jobs).
pub const NAMESPACE_DIVISION_ATTR: &str = "TemporalNamespaceDivision";
/// The system search attribute telling whether a schedule is paused.
pub const SCHEDULE_PAUSED: &str = "TemporalSchedulePaused";
/// Most starts a schedule buffers; more are dropped (counted in `buffer_dropped`).
pub const MAX_BUFFERED: usize = 1000;
/// Recent actions Describe reports.
pub const RECENT_ACTIONS: usize = 10;
/// Future action times Describe reports.
pub const FUTURE_ACTIONS: usize = 10;
/// Catch-up window when the schedule gives none: one year.
pub const DEFAULT_CATCHUP_WINDOW: Nanos = 365 * 24 * 3600 * 1_000_000_000;
/// The smallest catch-up window; shorter ones are raised to it.
pub const MIN_CATCHUP_WINDOW: Nanos = 10 * 1_000_000_000;

/// The workflow id of schedule `schedule_id`'s system run.
pub fn workflow_id_of(schedule_id: &str) -> String {
    format!("{WORKFLOW_ID_PREFIX}{schedule_id}")
}

/// The schedule id a system run's workflow id names, if it is one.
pub fn schedule_id_of(workflow_id: &str) -> Option<&str> {
    workflow_id.strip_prefix(WORKFLOW_ID_PREFIX)
}

/// A start waiting for its turn (the overlap policy) in the buffer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BufferedStart {
    /// The spec's time (or the trigger's).
    pub nominal: Nanos,
    /// The nominal time with jitter.
    pub actual: Nanos,
    /// `ScheduleOverlapPolicy` number for this start (0: the schedule's).
    pub overlap: i32,
    /// Asked for (trigger, backfill): taken even while paused or out of actions.
    pub manual: bool,
}

/// A start handed to the server, not yet reported back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PendingStart {
    /// The buffered start it carries out.
    pub start: BufferedStart,
    /// It does not overlap (not ALLOW_ALL): its run is watched as running.
    pub tracked: bool,
    /// The workflow id it starts.
    pub workflow_id: String,
    /// The start's request id (the same on every retry of the task).
    pub request_id: String,
    /// Its run closed before the start was recorded: `(status, result, failure)` kept until then.
    pub closed_early: Option<ClosedEarly>,
}

/// A close reported before the start that made the run was recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClosedEarly {
    /// The run that closed.
    pub run_id: String,
    /// `WorkflowExecutionStatus` number.
    pub status: i32,
    /// Its result, when it completed.
    #[serde(with = "protobytes::opt")]
    pub result: Option<Payloads>,
    /// Its failure, when it failed.
    #[serde(with = "protobytes::opt")]
    pub failure: Option<Failure>,
}

/// A workflow the schedule started that has not closed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunningWorkflow {
    /// Workflow id.
    pub workflow_id: String,
    /// The run id the start made.
    pub run_id: String,
    /// A cancel or terminate was already sent to it (the overlap policy).
    pub stop_sent: bool,
}

/// One action taken, as Describe reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecentAction {
    /// The time it was due (with jitter).
    pub schedule_time: Nanos,
    /// When it was taken.
    pub actual_time: Nanos,
    /// The workflow started.
    pub workflow_id: String,
    /// Its run.
    pub run_id: String,
    /// Its status as last heard (`WorkflowExecutionStatus` number).
    pub status: i32,
    /// The start's sequence number: actions are listed in the order the schedule took them,
    /// whichever start was recorded first.
    pub seq: i64,
}

/// What a schedule's system run holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SchedulerState {
    /// The schedule's id.
    pub schedule_id: String,
    /// Seed of the spec's jitter.
    pub jitter_seed: String,
    /// The schedule (spec in canonical form, policies with their defaults filled).
    #[serde(with = "protobytes::opt")]
    pub schedule: Option<Schedule>,
    /// Counts updates and pauses; an update naming another token changes nothing.
    pub conflict_token: i64,
    /// Created.
    pub create_time: Nanos,
    /// Last updated (0: never).
    pub update_time: Nanos,
    /// Spec times up to here have been taken.
    pub last_processed: Nanos,
    /// Actions taken.
    pub action_count: i64,
    /// Spec times that were older than the catch-up window when seen.
    pub missed_catchup_window: i64,
    /// Starts skipped by the overlap policy.
    pub overlap_skipped: i64,
    /// Starts dropped because the buffer was full.
    pub buffer_dropped: i64,
    /// Starts waiting for the overlap policy.
    pub buffer: Vec<BufferedStart>,
    /// Starts handed out, by sequence number.
    pub starts: BTreeMap<i64, PendingStart>,
    /// Sequence number of the next start.
    pub next_seq: i64,
    /// Workflows started and not closed.
    pub running: Vec<RunningWorkflow>,
    /// The last actions, oldest first.
    pub recent_actions: Vec<RecentAction>,
    /// When the outstanding wake-up timer fires (0: none outstanding).
    pub wake_at: Nanos,
    /// The last successful run's result, given to the next start.
    #[serde(with = "protobytes::opt")]
    pub last_completion_result: Option<Payloads>,
    /// The last failed run's failure, given to the next start.
    #[serde(with = "protobytes::opt")]
    pub last_failure: Option<Failure>,
    /// Request ids of the last patches applied: a patch repeated with one is dropped.
    pub patch_request_ids: Vec<String>,
}

/// Patch request ids a schedule remembers.
pub const PATCH_REQUEST_IDS: usize = 100;
/// Recent actions and future action times a ListSchedules entry shows.
pub const LIST_ACTIONS: usize = 5;

/// The schedule with the real server's defaults filled in, its spec in canonical form.
pub fn canonical_schedule(mut schedule: Schedule) -> Result<Schedule, CoreError> {
    let spec = schedule.spec.take().unwrap_or_default();
    schedule.spec = Some(spec::canonicalize(&spec).map_err(CoreError::InvalidArgument)?);
    let policies = schedule.policies.get_or_insert_with(Default::default);
    if policies.overlap_policy == Overlap::Unspecified as i32 {
        policies.overlap_policy = Overlap::Skip as i32;
    }
    let window = catchup_window_of(policies.catchup_window.as_ref());
    policies.catchup_window = Some(time::to_duration(window));
    schedule.state.get_or_insert_with(Default::default);
    if let Some(schedule_action::Action::StartWorkflow(w)) =
        schedule.action.as_mut().and_then(|a| a.action.as_mut())
        && let Some(q) = w.task_queue.as_mut()
    {
        q.kind = crate::api::enums::v1::TaskQueueKind::Normal as i32;
    }
    Ok(schedule)
}

fn catchup_window_of(d: Option<&prost_wkt_types::Duration>) -> Nanos {
    match d.map(time::from_duration) {
        None | Some(0) => DEFAULT_CATCHUP_WINDOW,
        Some(n) => n.max(MIN_CATCHUP_WINDOW),
    }
}

pub(crate) fn compile(schedule: &Schedule) -> Result<CompiledSpec, CoreError> {
    CompiledSpec::compile(schedule.spec.as_ref().unwrap_or(&Default::default()))
        .map_err(CoreError::InvalidArgument)
}

impl SchedulerState {
    fn policy(&self) -> Overlap {
        let p = self.schedule.as_ref().and_then(|s| s.policies.as_ref()).map_or(0, |p| p.overlap_policy);
        match Overlap::try_from(p).unwrap_or(Overlap::Unspecified) {
            Overlap::Unspecified => Overlap::Skip,
            p => p,
        }
    }

    pub(crate) fn resolve(&self, overlap: i32) -> Overlap {
        match Overlap::try_from(overlap).unwrap_or(Overlap::Unspecified) {
            Overlap::Unspecified => self.policy(),
            p => p,
        }
    }

    fn catchup_window(&self) -> Nanos {
        catchup_window_of(
            self.schedule.as_ref().and_then(|s| s.policies.as_ref()).and_then(|p| p.catchup_window.as_ref()),
        )
    }

    /// Whether the schedule is paused.
    pub fn paused(&self) -> bool {
        self.schedule.as_ref().and_then(|s| s.state.as_ref()).is_some_and(|s| s.paused)
    }

    /// Whether a start may be taken now; a scheduled one uses up one of limited actions.
    pub(crate) fn take_action(&mut self, manual: bool) -> bool {
        if manual {
            return true;
        }
        let Some(state) = self.schedule.as_mut().and_then(|s| s.state.as_mut()) else { return true };
        if state.paused {
            return false;
        }
        if !state.limited_actions {
            return true;
        }
        if state.remaining_actions > 0 {
            state.remaining_actions -= 1;
            self.conflict_token += 1;
            return true;
        }
        false
    }

    /// The start-workflow action, if the schedule has one.
    pub fn start_workflow_info(&self) -> Option<&NewWorkflowExecutionInfo> {
        match self.schedule.as_ref()?.action.as_ref()?.action.as_ref()? {
            schedule_action::Action::StartWorkflow(w) => Some(w),
        }
    }

    /// Whether the schedule's starts keep the action's workflow id as it is.
    fn keep_original_id(&self) -> bool {
        self.schedule.as_ref().and_then(|s| s.policies.as_ref()).is_some_and(|p| p.keep_original_workflow_id)
    }

    /// The workflow id a start for `nominal` uses: the action's, plus `-` and the nominal time
    /// in whole UTC seconds.
    pub fn workflow_id_for(&self, nominal: Nanos) -> String {
        let base = self.start_workflow_info().map_or("", |w| w.workflow_id.as_str());
        if self.keep_original_id() {
            return base.to_owned();
        }
        let secs = nominal.div_euclid(1_000_000_000);
        let when = chrono::DateTime::<chrono::Utc>::from_timestamp(secs, 0)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        format!("{base}-{when}")
    }

    /// The next `n` action times (with jitter) after the last processed time, as Describe
    /// reports them (no more than the remaining actions of a limited schedule).
    pub fn future_action_times(&self, n: usize) -> Vec<Nanos> {
        let Some(schedule) = &self.schedule else { return vec![] };
        let Ok(spec) = compile(schedule) else { return vec![] };
        let mut n = n;
        if let Some(state) = &schedule.state
            && state.limited_actions
        {
            n = n.min(state.remaining_actions.max(0) as usize);
        }
        let mut out = Vec::with_capacity(n);
        let mut t = self.last_processed;
        while out.len() < n {
            let Some((_, actual)) = spec.next(&self.jitter_seed, t) else { break };
            out.push(actual);
            t = actual;
        }
        out
    }

    /// The start a pending start asks for: what the server passes to the starter.
    pub fn start_of(&self, seq: i64) -> Option<ScheduledStart> {
        let p = self.starts.get(&seq)?;
        let info = self.start_workflow_info()?.clone();
        let sequential = self.resolve(p.start.overlap) != Overlap::AllowAll;
        Some(ScheduledStart {
            workflow_id: p.workflow_id.clone(),
            request_id: p.request_id.clone(),
            nominal: p.start.nominal,
            manual: p.start.manual,
            info,
            last_completion_result: self.last_completion_result.clone().filter(|_| sequential),
            last_failure: self.last_failure.clone().filter(|_| sequential),
        })
    }

    /// The info Describe reports (no state size: the real server's v1 scheduler reports none).
    pub fn info(&self) -> ScheduleInfo {
        ScheduleInfo {
            action_count: self.action_count,
            missed_catchup_window: self.missed_catchup_window,
            overlap_skipped: self.overlap_skipped,
            buffer_dropped: self.buffer_dropped,
            buffer_size: self.buffer.len() as i64,
            running_workflows: self
                .running
                .iter()
                .map(|r| WorkflowExecution { workflow_id: r.workflow_id.clone(), run_id: r.run_id.clone() })
                .collect(),
            recent_actions: self.recent_actions.iter().map(action_result).collect(),
            future_action_times: self.future_timestamps(FUTURE_ACTIONS),
            create_time: Some(time::to_timestamp(self.create_time)),
            update_time: (self.update_time > 0).then(|| time::to_timestamp(self.update_time)),
            ..Default::default()
        }
    }

    /// The abbreviated info ListSchedules reports (the latest five actions, the next five times).
    pub fn list_info(&self) -> ScheduleListInfo {
        let schedule = self.schedule.clone().unwrap_or_default();
        let state = schedule.state.clone().unwrap_or_default();
        let spec = spec::list_info_spec(&schedule.spec.clone().unwrap_or_default());
        let skip = self.recent_actions.len().saturating_sub(LIST_ACTIONS);
        ScheduleListInfo {
            spec: Some(spec),
            workflow_type: self.start_workflow_info().and_then(|w| w.workflow_type.clone()),
            notes: state.notes,
            paused: state.paused,
            recent_actions: self.recent_actions[skip..].iter().map(action_result).collect(),
            future_action_times: self.future_timestamps(LIST_ACTIONS),
            state_size_bytes: 0,
        }
    }

    fn future_timestamps(&self, n: usize) -> Vec<prost_wkt_types::Timestamp> {
        self.future_action_times(n).into_iter().map(time::to_timestamp).collect()
    }
}

fn action_result(a: &RecentAction) -> ScheduleActionResult {
    ScheduleActionResult {
        schedule_time: Some(time::to_timestamp(a.schedule_time)),
        actual_time: Some(time::to_timestamp(a.actual_time)),
        start_workflow_result: Some(WorkflowExecution {
            workflow_id: a.workflow_id.clone(),
            run_id: a.run_id.clone(),
        }),
        start_workflow_status: a.status,
    }
}

/// A workflow start a schedule asks the server for.
#[derive(Debug, Clone)]
pub struct ScheduledStart {
    /// The workflow id (the action's, suffixed with the nominal time).
    pub workflow_id: String,
    /// The start's request id.
    pub request_id: String,
    /// The nominal time (`TemporalScheduledStartTime`).
    pub nominal: Nanos,
    /// Asked for (trigger, backfill): it may reuse a closed run's id.
    pub manual: bool,
    /// The action.
    pub info: NewWorkflowExecutionInfo,
    /// The last successful run's result (not for overlapping starts).
    pub last_completion_result: Option<Payloads>,
    /// The last failed run's failure (not for overlapping starts).
    pub last_failure: Option<Failure>,
}

/// How a start the server tried ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StartOutcome {
    /// The run it made (or an earlier try of it made).
    Started(String),
    /// It could not start (e.g. the workflow id is in use); nothing was started.
    Failed(String),
}

/// A started run's close, from its close event.
pub fn close_of(ev: &HistoryEvent) -> (Status, Option<Payloads>, Option<Failure>) {
    match &ev.attributes {
        Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => {
            (Status::Completed, a.result.clone(), None)
        }
        Some(Attributes::WorkflowExecutionFailedEventAttributes(a)) => {
            (Status::Failed, None, a.failure.clone())
        }
        Some(Attributes::WorkflowExecutionTimedOutEventAttributes(_)) => (Status::TimedOut, None, None),
        Some(Attributes::WorkflowExecutionCanceledEventAttributes(_)) => (Status::Canceled, None, None),
        Some(Attributes::WorkflowExecutionTerminatedEventAttributes(_)) => (Status::Terminated, None, None),
        Some(Attributes::WorkflowExecutionContinuedAsNewEventAttributes(_)) => {
            (Status::ContinuedAsNew, None, None)
        }
        _ => (Status::Unspecified, None, None),
    }
}

pub(crate) fn push_start(s: &mut SchedulerState, b: BufferedStart) {
    if s.buffer.len() >= MAX_BUFFERED {
        s.buffer_dropped += 1;
    } else {
        s.buffer.push(b);
    }
}

/// Buffers the spec's times in `(from, to]`; scheduled (not manual) times older than the
/// catch-up window at `to` are counted as missed.
pub(crate) fn take_times(
    s: &mut SchedulerState,
    spec: &CompiledSpec,
    from: Nanos,
    to: Nanos,
    manual: bool,
    overlap: i32,
) {
    let window = s.catchup_window();
    // A paused schedule takes no scheduled action: its times pass without waiting in the
    // buffer (where they would hold the place of triggers and backfills).
    let skip = !manual && s.paused();
    let mut t = from;
    while let Some((nominal, actual)) = spec.next(&s.jitter_seed, t) {
        if actual > to {
            break;
        }
        t = actual;
        if skip {
            continue;
        }
        if !manual && to - actual > window {
            s.missed_catchup_window += 1;
            continue;
        }
        push_start(s, BufferedStart { nominal, actual, overlap, manual });
    }
}

/// A backfill: the spec's times in `[start, end]`, taken as if they were due now.
pub(crate) fn backfill(s: &mut SchedulerState, spec: &CompiledSpec, b: &BackfillRequest) {
    let start = b.start_time.as_ref().map(time::from_timestamp).unwrap_or(0);
    let end = b.end_time.as_ref().map(time::from_timestamp).unwrap_or(0);
    take_times(s, spec, start - 1, end, true, b.overlap_policy);
}

pub(crate) fn closed(
    s: &mut SchedulerState,
    workflow_id: &str,
    status: i32,
    result: Option<Payloads>,
    failure: Option<Failure>,
) {
    s.running.retain(|r| r.workflow_id != workflow_id);
    for a in s.recent_actions.iter_mut().filter(|a| a.workflow_id == workflow_id) {
        a.status = status;
    }
    let status = Status::try_from(status).unwrap_or(Status::Unspecified);
    match status {
        Status::Completed => {
            s.last_completion_result = result;
            s.last_failure = None;
        }
        Status::Failed | Status::TimedOut => {
            let notes = match (&failure, status) {
                (Some(f), Status::Failed) => {
                    format!("paused due to workflow failure: {workflow_id}: {}", f.message)
                }
                (None, Status::Failed) => format!("paused due to workflow failure: {workflow_id}"),
                _ => format!("paused due to workflow timeout: {workflow_id}"),
            };
            s.last_failure = failure;
            let pause =
                s.schedule.as_ref().and_then(|x| x.policies.as_ref()).is_some_and(|p| p.pause_on_failure);
            if pause {
                let state = s
                    .schedule
                    .get_or_insert_with(Default::default)
                    .state
                    .get_or_insert_with(Default::default);
                state.paused = true;
                state.notes = notes;
                s.conflict_token += 1;
            }
        }
        _ => {}
    }
}
