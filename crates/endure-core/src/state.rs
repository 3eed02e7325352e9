//! The mutable state of one workflow run: everything the server needs to decide the next
//! transition without reading history.

use crate::api::common::v1::{
    ActivityType, Header, Memo, Payloads, RetryPolicy, SearchAttributes, WorkflowType,
};
use crate::api::failure::v1::Failure;
use crate::api::history::v1::HistoryEvent;
use crate::protobytes;
use crate::time::Nanos;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The system search attribute holding a run's worker build ids ([`MutableState::build_ids`]).
pub const BUILD_IDS: &str = "BuildIds";
/// The search attribute naming the types of a run's paused activities (the server keeps it).
pub const TEMPORAL_PAUSE_INFO: &str = "TemporalPauseInfo";

/// Most auto-reset points a run keeps (the oldest go first), as the real server's default.
pub const MAX_AUTO_RESET_POINTS: usize = 20;

/// Per-run state, serialized as one row next to the run's history.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MutableState {
    /// Namespace id.
    pub namespace_id: String,
    /// Workflow id.
    pub workflow_id: String,
    /// Run id.
    pub run_id: String,
    /// First run id of the chain (this run's id for a fresh start).
    pub first_execution_run_id: String,
    /// Workflow type.
    #[serde(with = "protobytes::opt")]
    pub workflow_type: Option<WorkflowType>,
    /// Normal task queue of the run.
    pub task_queue: String,
    /// `WorkflowExecutionStatus` as its enum number.
    pub status: i32,
    /// Start time.
    pub start_time: Nanos,
    /// When the first workflow task may run (start + delay).
    pub execution_time: Nanos,
    /// Close time, 0 while open.
    pub close_time: Nanos,
    /// Run timeout (0 = none).
    pub run_timeout: Nanos,
    /// Execution timeout (0 = none).
    pub execution_timeout: Nanos,
    /// Workflow task start-to-close timeout.
    pub task_timeout: Nanos,
    /// Request id of the start, for idempotent starts.
    pub start_request_id: String,
    /// Id of the next event to append.
    pub next_event_id: i64,
    /// Started event id of the last completed workflow task (0 if none).
    pub last_completed_wft_started_id: i64,
    /// Last workflow-task attempt counter: >1 while tasks keep failing (transient tasks).
    pub wft_attempt: i32,
    /// Counter giving every scheduled workflow task a unique stamp.
    pub wft_stamp: i64,
    /// The outstanding workflow task, if any.
    pub workflow_task: Option<WorkflowTaskInfo>,
    /// Events that arrived while a workflow task was started, waiting for it to finish.
    #[serde(with = "protobytes::vec")]
    pub buffered_events: Vec<HistoryEvent>,
    /// Pending activities by scheduled event id.
    pub activities: BTreeMap<i64, ActivityInfo>,
    /// Pending timers by timer id.
    pub timers: BTreeMap<String, TimerInfo>,
    /// Request ids of signals already applied (deduplication).
    pub signal_request_ids: BTreeSet<String>,
    /// Whether cancellation of the run was requested.
    pub cancel_requested: bool,
    /// Memo.
    #[serde(with = "protobytes::opt")]
    pub memo: Option<Memo>,
    /// Search attributes (merged with upserts).
    #[serde(with = "protobytes::opt")]
    pub search_attributes: Option<SearchAttributes>,
    /// Retry policy of the run (stored, used by a later issue).
    #[serde(with = "protobytes::opt")]
    pub retry_policy: Option<RetryPolicy>,
    /// Total encoded size of the history so far.
    pub history_size_bytes: i64,
    /// Number of committed transitions.
    pub state_transition_count: i64,
    /// Points a reset can go back to: the first workflow task each build of the worker code
    /// completed (oldest first, at most [`MAX_AUTO_RESET_POINTS`]).
    #[serde(with = "protobytes::vec")]
    pub auto_reset_points: Vec<crate::api::workflow::v1::ResetPointInfo>,
    /// The `BuildIds` search attribute's values, in the order they were first seen.
    pub build_ids: Vec<String>,
    /// Build id of the worker that completed the last workflow task ("" if it sent none).
    pub most_recent_build_id: String,
    /// Priority and fairness the run was started with.
    #[serde(with = "protobytes::opt")]
    pub priority: Option<crate::api::common::v1::Priority>,
    /// Summary and details the run was started with (shown by Describe and UIs).
    #[serde(with = "protobytes::opt")]
    pub user_metadata: Option<crate::api::sdk::v1::UserMetadata>,
    /// Id of the close event, 0 while open.
    pub completion_event_id: i64,
    /// Attempt of this run in its retry chain (1 for a fresh start).
    pub attempt: i32,
    /// Cron schedule ("" when none).
    pub cron_schedule: String,
    /// Absolute end of the whole chain of runs (execution timeout), 0 = none.
    pub execution_expiration: Nanos,
    /// Input of the run (a retry or cron run starts with the same input).
    #[serde(with = "protobytes::opt")]
    pub input: Option<Payloads>,
    /// Header of the run.
    #[serde(with = "protobytes::opt")]
    pub header: Option<Header>,
    /// The parent, when this run is a child workflow.
    pub parent: Option<ParentInfo>,
    /// Updates admitted or accepted and not yet completed, by update id.
    pub updates: BTreeMap<String, UpdateInfo>,
    /// Completed updates: update id → WorkflowExecutionUpdateCompleted event id.
    pub completed_updates: BTreeMap<String, i64>,
    /// When set, the next workflow task is speculative (scheduled for an update only).
    pub next_wft_speculative: bool,
    /// Sticky queue of the worker that completed the last workflow task ("" = none).
    pub sticky_queue: String,
    /// How long a task waits on the sticky queue before falling back to the normal one.
    pub sticky_timeout: Nanos,
    /// Pending child workflows by initiated event id.
    pub children: BTreeMap<i64, ChildInfo>,
    /// Pending signals to other workflows by initiated event id.
    pub external_signals: BTreeMap<i64, ExternalRequest>,
    /// Pending cancel requests to other workflows by initiated event id.
    pub external_cancels: BTreeMap<i64, ExternalRequest>,
    /// The schedule this run keeps, when it is a schedule's system run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<Box<crate::schedule::SchedulerState>>,
    /// The batch job this run carries out, when it is a batch job's system run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<Box<crate::batch::BatchState>>,
    /// The standalone activity this run is, when it is one (its activity is
    /// `activities[&standalone::ACTIVITY]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standalone: Option<Box<crate::standalone::StandaloneActivity>>,
    /// The Worker Deployment this run keeps, when it is a deployment's system run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Box<crate::deployment::DeploymentState>>,
    /// Worker versioning of this run (its versioned completions, its override).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning: Option<Box<crate::deployment::RunVersioning>>,
}

/// Lifecycle of an update inside the server.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum UpdateState {
    /// Received, waiting to be delivered to (and accepted by) a worker.
    #[default]
    Admitted,
    /// Accepted by the workflow's validator; running.
    Accepted,
}

/// An update that is admitted or accepted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateInfo {
    /// State.
    pub state: UpdateState,
    /// The request, delivered to workers as a protocol message.
    #[serde(with = "protobytes::opt")]
    pub request: Option<crate::api::update::v1::Request>,
    /// WorkflowExecutionUpdateAccepted event id once accepted.
    pub accepted_event_id: i64,
}

/// Where a child reports its close.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ParentInfo {
    /// Parent namespace id.
    pub namespace_id: String,
    /// Parent namespace name.
    pub namespace: String,
    /// Parent workflow id.
    pub workflow_id: String,
    /// Parent run id.
    pub run_id: String,
    /// StartChildWorkflowExecutionInitiated event id in the parent.
    pub initiated_event_id: i64,
    /// Workflow id of the root of the parent chain (the top-level workflow).
    pub root_workflow_id: String,
    /// Run id of the root of the parent chain.
    pub root_run_id: String,
}

impl MutableState {
    /// The run's search attributes as listed and described: those set by the start and by
    /// workflows, plus the ones the server keeps itself (`BuildIds`). The server's own are
    /// derived here rather than stored with the others, so each fact is kept once.
    pub fn visible_search_attributes(&self) -> Option<SearchAttributes> {
        let mut paused: Vec<String> = self
            .activities
            .values()
            .filter(|a| a.paused)
            .map(|a| {
                format!("property:activityType={}", a.activity_type.as_ref().map_or("", |t| t.name.as_str()))
            })
            .collect();
        paused.sort();
        paused.dedup();
        if self.build_ids.is_empty()
            && paused.is_empty()
            && self.scheduler.is_none()
            && self.batch.is_none()
            && self.standalone.is_none()
            && self.deployment.is_none()
            && self.versioning.is_none()
        {
            return self.search_attributes.clone();
        }
        let keyword_list = |values: &[String]| crate::api::common::v1::Payload {
            metadata: [
                ("encoding".to_owned(), b"json/plain".to_vec()),
                ("type".to_owned(), b"KeywordList".to_vec()),
            ]
            .into_iter()
            .collect(),
            data: serde_json::to_vec(values).unwrap_or_default(),
            ..Default::default()
        };
        let mut sa = self.search_attributes.clone().unwrap_or_default();
        let mut build_ids = self.build_ids.clone();
        if let Some(v) = self.versioning.as_deref()
            && v.effective_behavior() == crate::api::enums::v1::VersioningBehavior::Pinned as i32
            && let Some(version) = v.effective_version()
        {
            build_ids.insert(0, format!("pinned:{}", version.key()));
        }
        if !build_ids.is_empty() {
            sa.indexed_fields.insert(BUILD_IDS.to_owned(), keyword_list(&build_ids));
        }
        if !paused.is_empty() {
            sa.indexed_fields.insert(TEMPORAL_PAUSE_INFO.to_owned(), keyword_list(&paused));
        }
        use crate::schedule::{NAMESPACE_DIVISION_ATTR, SCHEDULE_PAUSED};
        let json = |ty: &str, data: Vec<u8>| crate::api::common::v1::Payload {
            metadata: [
                ("encoding".to_owned(), b"json/plain".to_vec()),
                ("type".to_owned(), ty.as_bytes().to_vec()),
            ]
            .into_iter()
            .collect(),
            data,
            ..Default::default()
        };
        let keyword = |s: &str| json("Keyword", serde_json::to_vec(s).unwrap_or_default());
        if let Some(s) = &self.scheduler {
            sa.indexed_fields
                .insert(NAMESPACE_DIVISION_ATTR.to_owned(), keyword(crate::schedule::NAMESPACE_DIVISION));
            let paused = if s.paused() { b"true".to_vec() } else { b"false".to_vec() };
            sa.indexed_fields.insert(SCHEDULE_PAUSED.to_owned(), json("Bool", paused));
        }
        if let Some(b) = &self.batch {
            sa.indexed_fields
                .insert(NAMESPACE_DIVISION_ATTR.to_owned(), keyword(crate::batch::NAMESPACE_DIVISION));
            sa.indexed_fields.insert(crate::batch::BATCHER_USER.to_owned(), keyword(b.identity()));
        }
        if self.deployment.is_some() {
            sa.indexed_fields
                .insert(NAMESPACE_DIVISION_ATTR.to_owned(), keyword(crate::deployment::NAMESPACE_DIVISION));
        }
        if let Some(v) = self.versioning.as_deref() {
            use crate::deployment as dep;
            if let Some(version) = v.effective_version() {
                sa.indexed_fields.insert(dep::SA_DEPLOYMENT.to_owned(), keyword(&version.deployment));
                sa.indexed_fields.insert(dep::SA_VERSION.to_owned(), keyword(&version.key()));
            }
            if let Some(b) = dep::behavior_name(v.effective_behavior()) {
                sa.indexed_fields.insert(dep::SA_BEHAVIOR.to_owned(), keyword(b));
            }
            if !v.used.is_empty() {
                let used: Vec<String> = v.used.iter().map(|u| u.key()).collect();
                sa.indexed_fields.insert(dep::SA_USED_VERSIONS.to_owned(), keyword_list(&used));
            }
        }
        if self.standalone.is_some() {
            sa.indexed_fields
                .insert(NAMESPACE_DIVISION_ATTR.to_owned(), keyword(crate::standalone::NAMESPACE_DIVISION));
        }
        Some(sa)
    }

    /// The schedule id this run's search attributes say started it, if any.
    pub fn scheduled_by(&self) -> Option<String> {
        let p = self.search_attributes.as_ref()?.indexed_fields.get(crate::schedule::SCHEDULED_BY_ID)?;
        serde_json::from_slice::<String>(&p.data).ok()
    }

    /// The (workflow id, run id) of the top-level workflow this run descends from.
    pub fn root(&self) -> (String, String) {
        match &self.parent {
            Some(p) if !p.root_workflow_id.is_empty() => (p.root_workflow_id.clone(), p.root_run_id.clone()),
            Some(p) => (p.workflow_id.clone(), p.run_id.clone()),
            None => (self.workflow_id.clone(), self.run_id.clone()),
        }
    }
}

/// A child workflow started by this run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ChildInfo {
    /// Initiated event id.
    pub initiated_event_id: i64,
    /// Started event id (0 until the child started).
    pub started_event_id: i64,
    /// Child namespace name ("" = the parent's).
    pub namespace: String,
    /// Child namespace id ("" when unknown: written before ids were recorded).
    pub namespace_id: String,
    /// Child workflow id.
    pub workflow_id: String,
    /// First run id of the child, once started.
    pub run_id: String,
    /// Workflow type.
    pub workflow_type: String,
    /// `ParentClosePolicy` number.
    pub parent_close_policy: i32,
    /// The command that started it (what the start task needs).
    #[serde(with = "protobytes::opt")]
    pub command: Option<crate::api::command::v1::StartChildWorkflowExecutionCommandAttributes>,
    /// The command's user metadata (summary, details): the child starts with it.
    #[serde(with = "protobytes::opt")]
    pub user_metadata: Option<crate::api::sdk::v1::UserMetadata>,
    /// The pinned parent's version, when the child runs on the parent's task queue: the child
    /// starts on it.
    pub inherited_pinned: Option<crate::deployment::Version>,
}

/// A signal or cancel request this run sends to another workflow.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExternalRequest {
    /// Initiated event id.
    pub initiated_event_id: i64,
    /// Target namespace name ("" = this run's).
    pub namespace: String,
    /// Target namespace id ("" when unknown: written before ids were recorded).
    pub namespace_id: String,
    /// Target workflow id.
    pub workflow_id: String,
    /// Target run id ("" = current run).
    pub run_id: String,
    /// Signal name (signals only).
    pub signal_name: String,
    /// Signal input.
    #[serde(with = "protobytes::opt")]
    pub input: Option<Payloads>,
    /// Signal header.
    #[serde(with = "protobytes::opt")]
    pub header: Option<Header>,
    /// Control string echoed in the result event.
    pub control: String,
    /// Cancel reason (cancels only).
    pub reason: String,
    /// Deduplication id, stable across retries of the delivery.
    pub request_id: String,
}

/// The single outstanding workflow task of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct WorkflowTaskInfo {
    /// Unique stamp; dispatch and timeout tasks carry it so stale ones are dropped.
    pub stamp: i64,
    /// Attempt number; attempts > 1 are transient (not in history until completed).
    pub attempt: i32,
    /// Scheduled event id (for transient tasks: assigned when started).
    pub scheduled_event_id: i64,
    /// Started event id, 0 until started.
    pub started_event_id: i64,
    /// When it was scheduled.
    pub scheduled_time: Nanos,
    /// When it was started (0 until started).
    pub started_time: Nanos,
    /// Task queue it was dispatched to.
    pub task_queue: String,
    /// Start-to-close timeout.
    pub timeout: Nanos,
    /// Request id of the poll that started it.
    pub request_id: String,
    /// Identity of the worker that started it.
    pub identity: String,
    /// Build id of the worker that started it ("" when it sent none).
    pub build_id: String,
    /// True when dispatched to the sticky queue (the worker gets only new events).
    pub sticky: bool,
    /// True for a task scheduled only to deliver an update: it leaves no trace in history if
    /// the worker rejects every update and issues no commands.
    pub speculative: bool,
    /// `next_event_id` when it was scheduled (a speculative task is discarded only if nothing
    /// happened since).
    pub next_event_id_at_schedule: i64,
}

impl WorkflowTaskInfo {
    /// True for a retried task whose events are not yet written to history.
    pub fn is_transient(&self) -> bool {
        self.attempt > 1 || self.speculative
    }

    /// True once a worker has picked the task up.
    pub fn is_started(&self) -> bool {
        self.started_time > 0
    }
}

/// Lifecycle of a pending activity.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum ActivityState {
    /// Waiting in a task queue (or for its retry backoff to elapse).
    #[default]
    Scheduled,
    /// Picked up by a worker.
    Started,
}

/// A pending activity.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ActivityInfo {
    /// ActivityTaskScheduled event id.
    pub scheduled_event_id: i64,
    /// Activity id.
    pub activity_id: String,
    /// Activity type.
    #[serde(with = "protobytes::opt")]
    pub activity_type: Option<ActivityType>,
    /// Task queue.
    pub task_queue: String,
    /// Header.
    #[serde(with = "protobytes::opt")]
    pub header: Option<Header>,
    /// Input.
    #[serde(with = "protobytes::opt")]
    pub input: Option<Payloads>,
    /// Retry policy with defaults filled in.
    #[serde(with = "protobytes::opt")]
    pub retry_policy: Option<RetryPolicy>,
    /// Schedule-to-close timeout (0 = none).
    pub schedule_to_close_timeout: Nanos,
    /// Schedule-to-start timeout (0 = none).
    pub schedule_to_start_timeout: Nanos,
    /// Start-to-close timeout.
    pub start_to_close_timeout: Nanos,
    /// Heartbeat timeout (0 = none).
    pub heartbeat_timeout: Nanos,
    /// Time of the first scheduling.
    pub first_scheduled_time: Nanos,
    /// Time the current attempt was scheduled.
    pub scheduled_time: Nanos,
    /// Time the current attempt was started (0 if not started).
    pub started_time: Nanos,
    /// Current attempt.
    pub attempt: i32,
    /// State of the current attempt.
    pub state: ActivityState,
    /// Whether cancellation was requested by the workflow.
    pub cancel_requested: bool,
    /// Event id of the cancel request.
    pub cancel_request_event_id: i64,
    /// Identity of the worker running the current attempt.
    pub started_identity: String,
    /// Request id of the poll that started the current attempt.
    pub started_request_id: String,
    /// Build id of the worker that started the current attempt ("" when it sent none).
    pub started_build_id: String,
    /// Last heartbeat time (0 if none this attempt).
    pub last_heartbeat_time: Nanos,
    /// Last heartbeat details, carried to the next attempt.
    #[serde(with = "protobytes::opt")]
    pub heartbeat_details: Option<Payloads>,
    /// Failure of the previous attempt.
    #[serde(with = "protobytes::opt")]
    pub last_failure: Option<Failure>,
    /// Identity of the worker of the previous attempt.
    pub last_worker_identity: String,
    /// True while waiting for a retry backoff to elapse.
    pub in_backoff: bool,
    /// Priority and fairness the activity was scheduled with (unset fields: the run's).
    #[serde(with = "protobytes::opt")]
    pub priority: Option<crate::api::common::v1::Priority>,
    /// Which dispatch of the current attempt is valid: pausing, unpausing, resetting or moving
    /// an activity makes the task already queued for it stale.
    pub stamp: i32,
    /// Paused by an operator (PauseActivity): not dispatched, its timeouts suspended.
    pub paused: bool,
    /// When it was paused, by whom and why.
    pub pause_time: Nanos,
    /// Identity of the pauser.
    pub pause_identity: String,
    /// Reason given for the pause.
    pub pause_reason: String,
    /// The running attempt was reset by an operator (its heartbeats are told so).
    pub reset_requested: bool,
    /// The reset asked for the heartbeat details to go: the next attempt starts without them.
    pub reset_heartbeat_pending: bool,
    /// When the last attempt ended (0: none has).
    pub last_attempt_complete_time: Nanos,
    /// The schedule-to-close, start-to-close and heartbeat timeouts it was scheduled with, kept
    /// once an operator changes its options: the real server's poll responses go on showing
    /// these (while it enforces the new ones), and SDK workers read them.
    pub scheduled_timeouts: Option<[Nanos; 3]>,
}

/// A pending user timer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TimerInfo {
    /// Timer id.
    pub timer_id: String,
    /// TimerStarted event id.
    pub started_event_id: i64,
    /// Fire time.
    pub expiry_time: Nanos,
}

impl ActivityInfo {
    /// The current attempt ended at `now` with `failure` (reported by `identity`): the next
    /// attempt is scheduled, not yet dispatched (the caller decides when).
    pub(crate) fn end_attempt(&mut self, now: Nanos, failure: Failure, identity: &str) {
        self.last_attempt_complete_time = now;
        self.attempt += 1;
        self.state = ActivityState::Scheduled;
        self.last_failure = Some(failure);
        if std::mem::take(&mut self.reset_heartbeat_pending) {
            self.heartbeat_details = None;
        }
        self.last_worker_identity = identity.to_owned();
        self.started_time = 0;
        self.started_identity.clear();
        self.started_request_id.clear();
        self.started_build_id.clear();
        self.last_heartbeat_time = 0;
    }
}

impl MutableState {
    /// Finds a pending activity by its activity id (for the ById RPCs).
    pub fn activity_by_id(&self, activity_id: &str) -> Result<&ActivityInfo, crate::CoreError> {
        if !self.is_open() {
            return Err(crate::CoreError::AlreadyCompleted);
        }
        self.activities
            .values()
            .find(|a| a.activity_id == activity_id)
            .ok_or_else(|| crate::CoreError::NotFound(format!("activity {activity_id} not found")))
    }

    /// The worker deployment version (`dep:build`) the run's tasks must go to, or "" when their
    /// queues' routing decides.
    pub fn pinned_version_key(&self) -> String {
        self.versioning.as_ref().and_then(|v| v.pinned()).map(|v| v.key()).unwrap_or_default()
    }

    /// True while the run is open.
    pub fn is_open(&self) -> bool {
        self.close_time == 0 && self.completion_event_id == 0
    }
}
