//! Transitions of one workflow run. A [`Txn`] wraps the run's [`MutableState`] for the duration of
//! one request and collects the events and tasks the request produced; the caller commits them
//! together with the new state, or drops everything if a method returned an error.

use crate::CoreError;
use crate::api::common::v1::{
    Header, Memo, Payloads, RetryPolicy, SearchAttributes, WorkflowExecution, WorkflowType,
};
use crate::api::enums::v1::{RetryState, TimeoutType, WorkflowExecutionStatus, WorkflowTaskFailedCause};
use crate::api::failure::v1::Failure;
use crate::api::history::v1::{self as h, HistoryEvent, history_event::Attributes};
use crate::api::taskqueue::v1::TaskQueue;
use crate::events::timeout_failure;
use crate::retry;
use crate::state::{ActivityInfo, ActivityState, MutableState, WorkflowTaskInfo};
use crate::task::{DispatchOrder, Task};
use crate::time::{self, Nanos};

/// Default workflow task timeout (10 s), as the real server.
pub const DEFAULT_WORKFLOW_TASK_TIMEOUT: Nanos = 10 * time::SECOND;
/// Maximum workflow task timeout (120 s).
pub const MAX_WORKFLOW_TASK_TIMEOUT: Nanos = 120 * time::SECOND;

/// One in-flight transition of a run.
pub struct Txn<'a> {
    /// The run's state, mutated in place.
    pub ms: &'a mut MutableState,
    /// The time of the transition.
    pub now: Nanos,
    /// Events appended to history by this transition, with ids assigned.
    pub events: Vec<HistoryEvent>,
    /// Tasks produced by this transition.
    pub tasks: Vec<Task>,
    /// Run id to use if this transition starts a successor run (given by the caller).
    pub next_run_id: String,
    /// The successor run this transition created (continue-as-new, retry, cron), if any.
    pub new_run: Option<Box<NewRunOut>>,
    /// The id of the first event this transition appends: every event it writes carries it as
    /// its `task_id`, so history remembers which events were written together (a reset may only
    /// go back to the end of such a batch, as on the real server).
    batch: i64,
    /// The limits the run is held to (Temporal's defaults unless the caller sets others).
    pub limits: crate::limits::Limits,
    /// A command of this transition cancelled an activity that had not started: its workflow
    /// needs a new task to see the cancellation (as the real server gives it one).
    pub(crate) cancelled_unstarted_activity: bool,
    /// Where the run's task queue's routing sends its new tasks now (a versioned completion
    /// tells it): a pinned run continuing as new records the upgrade it declines.
    pub(crate) route_target: Option<(crate::deployment::Version, i64)>,
}

/// A run created by a transition of another run, committed atomically with it.
#[derive(Debug)]
pub struct NewRunOut {
    /// State of the new run.
    pub ms: MutableState,
    /// Its first events.
    pub events: Vec<HistoryEvent>,
    /// Its first tasks.
    pub tasks: Vec<Task>,
}

/// Everything needed to create a new run.
#[derive(Debug, Clone, Default)]
pub struct StartRun {
    /// Namespace id.
    pub namespace_id: String,
    /// Workflow id.
    pub workflow_id: String,
    /// New run id.
    pub run_id: String,
    /// Workflow type.
    pub workflow_type: WorkflowType,
    /// Task queue name.
    pub task_queue: String,
    /// Input.
    pub input: Option<Payloads>,
    /// Execution timeout (0 = none).
    pub execution_timeout: Nanos,
    /// Run timeout (0 = none).
    pub run_timeout: Nanos,
    /// Workflow task timeout (0 = default).
    pub task_timeout: Nanos,
    /// Identity of the starter.
    pub identity: String,
    /// Request id of the start.
    pub request_id: String,
    /// Retry policy.
    pub retry_policy: Option<RetryPolicy>,
    /// Cron schedule (stored only for now).
    pub cron_schedule: String,
    /// Memo.
    pub memo: Option<Memo>,
    /// Header.
    pub header: Option<Header>,
    /// Search attributes.
    pub search_attributes: Option<SearchAttributes>,
    /// Delay before the first workflow task (0 = none).
    pub start_delay: Nanos,
    /// Priority and fairness the run was started with.
    pub priority: Option<crate::api::common::v1::Priority>,
    /// Summary and details (the start request's, or the parent's command's for a child).
    pub user_metadata: Option<crate::api::sdk::v1::UserMetadata>,
    /// A signal delivered with the start (SignalWithStart), recorded before the first task.
    pub initial_signal: Option<InitialSignal>,
    /// Run this one continues (continue-as-new, retry, cron), "" for a fresh start.
    pub continued_execution_run_id: String,
    /// First run of the chain ("" = this run).
    pub first_execution_run_id: String,
    /// `ContinueAsNewInitiator` of a successor run.
    pub initiator: i32,
    /// Failure of the previous run (retry, cron after a failure).
    pub continued_failure: Option<Failure>,
    /// Result of the previous run (cron) or given to continue-as-new.
    pub last_completion_result: Option<Payloads>,
    /// Attempt in the retry chain (0 = 1).
    pub attempt: i32,
    /// Inherited end of the chain (0 = derive from `execution_timeout`).
    pub execution_expiration: Nanos,
    /// The parent, for a child workflow.
    pub parent: Option<crate::state::ParentInfo>,
    /// A versioning override given at the start.
    pub versioning_override: Option<crate::api::workflow::v1::VersioningOverride>,
    /// The version a pinned parent or predecessor passes on: the run starts there.
    pub inherited_pinned: Option<crate::deployment::Version>,
    /// The routing's target a pinned predecessor declined (its version and revision).
    pub declined_upgrade: Option<(crate::deployment::Version, i64)>,
    /// What a predecessor continuing as new tells of its version when the new run is not pinned.
    pub inherited_auto_upgrade: Option<crate::api::deployment::v1::InheritedAutoUpgradeInfo>,
}

/// The signal of a SignalWithStart.
#[derive(Debug, Clone, Default)]
pub struct InitialSignal {
    /// Signal name.
    pub name: String,
    /// Input.
    pub input: Option<Payloads>,
    /// Identity of the sender.
    pub identity: String,
    /// Header.
    pub header: Option<Header>,
    /// Request id (for deduplication of later retries).
    pub request_id: String,
}

/// The worker that polled a task: who it is and which build of its code runs the task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Poller {
    /// The worker's identity.
    pub identity: String,
    /// The worker's build id ("" when it sent none): recorded on the events it causes and in
    /// the run's `BuildIds` search attribute.
    pub build_id: String,
    /// The worker deployment version it polls as (versioned workers only).
    pub deployment: Option<crate::deployment::Version>,
    /// Its task queue's routing now sends the run's new tasks to another version than the one
    /// the run is pinned to (the started event tells the worker).
    pub target_changed: bool,
    /// Its SDK's name and version (`client-name`, `client-version`), when it sent them.
    pub sdk: Option<(String, String)>,
}

impl Poller {
    /// A worker with `identity` and no build id.
    pub fn identity(identity: &str) -> Poller {
        Poller { identity: identity.to_owned(), ..Default::default() }
    }
}

/// The worker version stamp events carry for `build_id` (none for "").
pub fn worker_version(build_id: &str) -> Option<crate::api::common::v1::WorkerVersionStamp> {
    (!build_id.is_empty()).then(|| crate::api::common::v1::WorkerVersionStamp {
        build_id: build_id.to_owned(),
        ..Default::default()
    })
}

/// What a worker needs to run a workflow task it just started.
#[derive(Debug, Clone, PartialEq)]
pub struct StartedWorkflowTask {
    /// Scheduled event id.
    pub scheduled_event_id: i64,
    /// Started event id.
    pub started_event_id: i64,
    /// Attempt.
    pub attempt: i32,
    /// Started event id of the previous completed task.
    pub previous_started_event_id: i64,
    /// Events not in persisted history (transient task) to append to the history sent.
    pub transient_events: Vec<HistoryEvent>,
    /// Scheduled time.
    pub scheduled_time: Nanos,
    /// First event id to send: a sticky worker has everything before it cached.
    pub first_event_id: i64,
    /// Update requests to deliver with the task.
    pub update_requests: Vec<crate::api::update::v1::Request>,
}

/// What a worker needs to run an activity attempt it just started.
#[derive(Debug, Clone, PartialEq)]
pub struct StartedActivity {
    /// The activity with the started attempt recorded.
    pub info: ActivityInfo,
}

/// What a heartbeat's answer tells the running attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeartbeatAnswer {
    /// The workflow asked for the activity's cancellation.
    pub cancel_requested: bool,
    /// An operator paused the activity.
    pub paused: bool,
    /// An operator reset the activity.
    pub reset: bool,
}

impl<'a> Txn<'a> {
    /// Begins a transition of `ms` at time `now`.
    pub fn new(ms: &'a mut MutableState, now: Nanos) -> Self {
        let batch = ms.next_event_id.max(1);
        Txn {
            ms,
            now,
            events: Vec::new(),
            tasks: Vec::new(),
            next_run_id: String::new(),
            new_run: None,
            batch,
            limits: crate::limits::Limits::default(),
            cancelled_unstarted_activity: false,
            route_target: None,
        }
    }

    pub(crate) fn require_open(&self) -> Result<(), CoreError> {
        if self.ms.is_open() { Ok(()) } else { Err(CoreError::AlreadyCompleted) }
    }

    /// Appends an event to history now, assigning its id.
    pub(crate) fn append(&mut self, attrs: Attributes) -> i64 {
        let id = self.ms.next_event_id;
        self.ms.next_event_id += 1;
        let ev = self.make_event(id, attrs);
        self.ms.history_size_bytes += crate::limits::event_size(&ev);
        self.events.push(ev);
        id
    }

    fn make_event(&self, id: i64, attrs: Attributes) -> HistoryEvent {
        // Events only operators cause, that workflow code never sees: the SDKs skip an event
        // marked so (and fail a task on an unknown one that is not), as the real server marks it.
        let worker_may_ignore =
            matches!(attrs, Attributes::WorkflowExecutionOptionsUpdatedEventAttributes(_));
        HistoryEvent {
            event_id: id,
            worker_may_ignore,
            event_time: Some(time::to_timestamp(self.now)),
            event_type: attrs.event_type() as i32,
            attributes: Some(attrs),
            // The real server numbers events with its shard's task sequence, which no client
            // reads into. Endure has no shard-wide sequence; it writes the transition's first
            // event id: set, never decreasing, and the same for the events of one transition.
            task_id: self.batch,
            ..Default::default()
        }
    }

    /// Appends an event, or buffers it while a workflow task is started: a worker must see the
    /// started event last, so events arriving meanwhile wait for the task to finish.
    pub(crate) fn append_or_buffer(&mut self, attrs: Attributes) {
        if self.ms.workflow_task.as_ref().is_some_and(|w| w.is_started()) {
            let ev = self.make_event(0, attrs);
            self.ms.buffered_events.push(ev);
        } else {
            self.append(attrs);
        }
    }

    /// Writes buffered events to history, fixing up activity started-event references.
    pub(crate) fn flush_buffered(&mut self) -> bool {
        let buffered = std::mem::take(&mut self.ms.buffered_events);
        let any = !buffered.is_empty();
        let mut started_ids: std::collections::HashMap<i64, i64> = Default::default();
        let mut child_started: std::collections::HashMap<i64, i64> = Default::default();
        for ev in buffered {
            let Some(mut attrs) = ev.attributes else { continue };
            match &mut attrs {
                Attributes::ActivityTaskCompletedEventAttributes(a) => {
                    a.started_event_id =
                        started_ids.get(&a.scheduled_event_id).copied().unwrap_or(a.started_event_id)
                }
                Attributes::ActivityTaskFailedEventAttributes(a) => {
                    a.started_event_id =
                        started_ids.get(&a.scheduled_event_id).copied().unwrap_or(a.started_event_id)
                }
                Attributes::ActivityTaskTimedOutEventAttributes(a) => {
                    a.started_event_id =
                        started_ids.get(&a.scheduled_event_id).copied().unwrap_or(a.started_event_id)
                }
                Attributes::ActivityTaskCanceledEventAttributes(a) => {
                    a.started_event_id =
                        started_ids.get(&a.scheduled_event_id).copied().unwrap_or(a.started_event_id)
                }
                Attributes::ChildWorkflowExecutionCompletedEventAttributes(a) => {
                    fix_child(&child_started, a.initiated_event_id, &mut a.started_event_id)
                }
                Attributes::ChildWorkflowExecutionFailedEventAttributes(a) => {
                    fix_child(&child_started, a.initiated_event_id, &mut a.started_event_id)
                }
                Attributes::ChildWorkflowExecutionCanceledEventAttributes(a) => {
                    fix_child(&child_started, a.initiated_event_id, &mut a.started_event_id)
                }
                Attributes::ChildWorkflowExecutionTimedOutEventAttributes(a) => {
                    fix_child(&child_started, a.initiated_event_id, &mut a.started_event_id)
                }
                Attributes::ChildWorkflowExecutionTerminatedEventAttributes(a) => {
                    fix_child(&child_started, a.initiated_event_id, &mut a.started_event_id)
                }
                _ => {}
            }
            let sched = match &attrs {
                Attributes::ActivityTaskStartedEventAttributes(a) => Some(a.scheduled_event_id),
                _ => None,
            };
            let child = match &attrs {
                Attributes::ChildWorkflowExecutionStartedEventAttributes(a) => Some(a.initiated_event_id),
                _ => None,
            };
            let id = self.append(attrs);
            if let Some(s) = sched {
                started_ids.insert(s, id);
            }
            if let Some(initiated) = child {
                child_started.insert(initiated, id);
                if let Some(c) = self.ms.children.get_mut(&initiated) {
                    c.started_event_id = id;
                }
            }
        }
        any
    }

    // ---------------------------------------------------------------- start

    /// Creates a new run: the started event, the first workflow task (or its start-delay timer)
    /// and the run/execution timeout timers.
    pub fn start(ms: &'a mut MutableState, now: Nanos, req: StartRun) -> Self {
        let task_timeout = match req.task_timeout {
            0 => DEFAULT_WORKFLOW_TASK_TIMEOUT,
            t => t.min(MAX_WORKFLOW_TASK_TIMEOUT),
        };
        let execution_expiration = match (req.execution_expiration, req.execution_timeout) {
            (0, 0) => 0,
            (0, e) => now + req.start_delay + e,
            (x, _) => x,
        };
        let remaining =
            if execution_expiration > 0 { (execution_expiration - now - req.start_delay).max(0) } else { 0 };
        let run_timeout = match (req.run_timeout, remaining) {
            (0, e) => e,
            (r, 0) => r,
            (r, e) => r.min(e),
        };
        let first_run = if req.first_execution_run_id.is_empty() {
            req.run_id.clone()
        } else {
            req.first_execution_run_id.clone()
        };
        let attempt = req.attempt.max(1);
        *ms = MutableState {
            namespace_id: req.namespace_id.clone(),
            workflow_id: req.workflow_id.clone(),
            run_id: req.run_id.clone(),
            first_execution_run_id: first_run.clone(),
            workflow_type: Some(req.workflow_type.clone()),
            task_queue: req.task_queue.clone(),
            status: WorkflowExecutionStatus::Running as i32,
            start_time: now,
            execution_time: now + req.start_delay,
            run_timeout,
            execution_timeout: req.execution_timeout,
            task_timeout,
            start_request_id: req.request_id.clone(),
            priority: req.priority.clone(),
            user_metadata: req.user_metadata.clone(),
            next_event_id: 1,
            // The start is the run's first state transition, as the real server counts them.
            state_transition_count: 1,
            wft_attempt: 1,
            memo: req.memo.clone(),
            search_attributes: req.search_attributes.clone(),
            retry_policy: req.retry_policy.clone(),
            attempt,
            cron_schedule: req.cron_schedule.clone(),
            execution_expiration,
            input: req.input.clone(),
            header: req.header.clone(),
            parent: req.parent.clone(),
            ..Default::default()
        };
        let versioning_override = req.versioning_override.clone().map(crate::deployment::normalize_override);
        if versioning_override.is_some()
            || req.inherited_pinned.is_some()
            || req.inherited_auto_upgrade.is_some()
        {
            ms.versioning = Some(Box::new(crate::deployment::RunVersioning {
                override_: versioning_override.clone(),
                inherited: req.inherited_pinned.clone(),
                can_initial_behavior: req
                    .inherited_auto_upgrade
                    .as_ref()
                    .map_or(0, |i| i.continue_as_new_initial_versioning_behavior),
                ..Default::default()
            }));
        }
        let mut txn = Txn::new(ms, now);
        txn.append(Attributes::WorkflowExecutionStartedEventAttributes(
            h::WorkflowExecutionStartedEventAttributes {
                workflow_type: Some(req.workflow_type),
                task_queue: Some(normal_queue(&req.task_queue)),
                input: req.input,
                workflow_execution_timeout: time::to_opt_duration(req.execution_timeout),
                // A successor's or a child's run timeout is written even when zero, as the real
                // server does.
                workflow_run_timeout: if req.continued_execution_run_id.is_empty() && req.parent.is_none() {
                    time::to_opt_duration(run_timeout)
                } else {
                    Some(time::to_duration(run_timeout))
                },
                workflow_task_timeout: Some(time::to_duration(task_timeout)),
                continued_execution_run_id: req.continued_execution_run_id,
                initiator: req.initiator,
                continued_failure: req.continued_failure,
                last_completion_result: req.last_completion_result,
                original_execution_run_id: req.run_id.clone(),
                identity: req.identity,
                first_execution_run_id: first_run,
                retry_policy: req.retry_policy,
                attempt,
                workflow_execution_expiration_time: (execution_expiration > 0)
                    .then(|| time::to_timestamp(execution_expiration)),
                cron_schedule: req.cron_schedule,
                priority: req.priority.clone(),
                // Zero when the first workflow task starts at once, as the real server writes it.
                first_workflow_task_backoff: Some(time::to_duration(req.start_delay)),
                memo: req.memo,
                search_attributes: req.search_attributes,
                header: req.header,
                workflow_id: req.workflow_id,
                parent_workflow_namespace: req
                    .parent
                    .as_ref()
                    .map(|p| p.namespace.clone())
                    .unwrap_or_default(),
                parent_workflow_namespace_id: req
                    .parent
                    .as_ref()
                    .map(|p| p.namespace_id.clone())
                    .unwrap_or_default(),
                parent_workflow_execution: req.parent.as_ref().map(|p| WorkflowExecution {
                    workflow_id: p.workflow_id.clone(),
                    run_id: p.run_id.clone(),
                }),
                parent_initiated_event_id: req
                    .parent
                    .as_ref()
                    .map(|p| p.initiated_event_id)
                    .unwrap_or_default(),
                root_workflow_execution: req.parent.as_ref().map(|p| {
                    let (workflow_id, run_id) = if p.root_workflow_id.is_empty() {
                        (p.workflow_id.clone(), p.run_id.clone())
                    } else {
                        (p.root_workflow_id.clone(), p.root_run_id.clone())
                    };
                    WorkflowExecution { workflow_id, run_id }
                }),
                versioning_override,
                inherited_pinned_version: req.inherited_pinned.as_ref().map(|v| v.wire()),
                declined_target_version_upgrade: req.declined_upgrade.as_ref().map(|(v, revision)| {
                    h::DeclinedTargetVersionUpgrade {
                        deployment_version: Some(v.wire()),
                        revision_number: *revision,
                    }
                }),
                inherited_auto_upgrade_info: req.inherited_auto_upgrade,
                ..Default::default()
            },
        ));
        if let Some(md) = &req.user_metadata
            && let Some(started) = txn.events.first_mut()
        {
            started.user_metadata = Some(md.clone());
        }
        if let Some(sig) = req.initial_signal {
            if !sig.request_id.is_empty() {
                txn.ms.signal_request_ids.insert(sig.request_id.clone());
            }
            txn.append(Attributes::WorkflowExecutionSignaledEventAttributes(
                h::WorkflowExecutionSignaledEventAttributes {
                    signal_name: sig.name,
                    input: sig.input,
                    identity: sig.identity,
                    header: sig.header,
                    request_id: sig.request_id,
                    ..Default::default()
                },
            ));
        }
        if req.start_delay > 0 {
            txn.tasks.push(Task::WorkflowBackoff { fire_at: now + req.start_delay });
        } else {
            txn.schedule_workflow_task();
        }
        if run_timeout > 0 {
            txn.tasks.push(Task::WorkflowRunTimeout { fire_at: now + req.start_delay + run_timeout });
        }
        if execution_expiration > 0 {
            txn.tasks.push(Task::WorkflowExecutionTimeout { fire_at: execution_expiration });
        }
        txn
    }

    /// The start delay elapsed: schedule the first workflow task.
    pub fn workflow_backoff_fired(&mut self) -> Result<(), CoreError> {
        self.require_open()?;
        if self.ms.workflow_task.is_none() && self.ms.last_completed_wft_started_id == 0 {
            self.schedule_workflow_task();
        }
        Ok(())
    }

    // ------------------------------------------------------- workflow tasks

    /// Schedules a workflow task unless one is outstanding. Attempt > 1 tasks are transient.
    pub fn schedule_workflow_task(&mut self) {
        if self.ms.workflow_task.is_some() || !self.ms.is_open() {
            return;
        }
        if self.ms.execution_time > self.now && self.ms.last_completed_wft_started_id == 0 {
            // Still inside the start delay; the backoff timer schedules the first task.
            return;
        }
        self.ms.wft_stamp += 1;
        let attempt = self.ms.wft_attempt.max(1);
        let sticky = !self.ms.sticky_queue.is_empty();
        let speculative = std::mem::take(&mut self.ms.next_wft_speculative);
        let mut info = WorkflowTaskInfo {
            stamp: self.ms.wft_stamp,
            attempt,
            scheduled_time: self.now,
            task_queue: if sticky { self.ms.sticky_queue.clone() } else { self.ms.task_queue.clone() },
            timeout: workflow_task_timeout(self.ms.task_timeout, attempt),
            sticky,
            speculative,
            next_event_id_at_schedule: self.ms.next_event_id,
            ..Default::default()
        };
        if attempt == 1 && !speculative {
            info.scheduled_event_id = self.append(Attributes::WorkflowTaskScheduledEventAttributes(
                h::WorkflowTaskScheduledEventAttributes {
                    task_queue: Some(self.dispatch_queue(&info)),
                    start_to_close_timeout: Some(time::to_duration(self.ms.task_timeout)),
                    attempt,
                },
            ));
        }
        self.tasks.push(Task::WorkflowTask {
            task_queue: info.task_queue.clone(),
            stamp: info.stamp,
            sticky,
            order: DispatchOrder::of(self.ms.priority.as_ref(), None),
            version: self.ms.pinned_version_key(),
        });
        if sticky {
            self.tasks.push(Task::WorkflowTaskTimeout {
                fire_at: self.now + self.ms.sticky_timeout,
                stamp: info.stamp,
                timeout_type: TimeoutType::ScheduleToStart as i32,
            });
        }
        self.ms.workflow_task = Some(info);
    }

    // worker_version is deprecated in the API; the real server still writes it.
    #[allow(deprecated)]
    /// A worker polled the task with `stamp`: record it as started.
    pub fn start_workflow_task(
        &mut self,
        stamp: i64,
        request_id: &str,
        poller: &Poller,
    ) -> Result<StartedWorkflowTask, CoreError> {
        let identity = poller.identity.as_str();
        self.require_open()?;
        let Some(wt) = self.ms.workflow_task.clone() else {
            return Err(CoreError::NotFound("Workflow task not found.".into()));
        };
        if wt.stamp != stamp {
            return Err(CoreError::NotFound("Workflow task not found.".into()));
        }
        if wt.is_started() {
            // The same poll request retried: hand out the same task again.
            if wt.request_id == request_id {
                return Ok(self.started_view(&wt));
            }
            return Err(CoreError::FailedPrecondition("Workflow task already started.".into()));
        }
        let mut wt = wt;
        wt.started_time = self.now;
        wt.request_id = request_id.to_string();
        wt.identity = identity.to_string();
        wt.build_id = poller.build_id.clone();
        if wt.is_transient() {
            wt.scheduled_event_id = self.ms.next_event_id;
            wt.started_event_id = self.ms.next_event_id + 1;
        } else {
            wt.started_event_id = self.append(Attributes::WorkflowTaskStartedEventAttributes(
                h::WorkflowTaskStartedEventAttributes {
                    scheduled_event_id: wt.scheduled_event_id,
                    identity: identity.to_string(),
                    request_id: request_id.to_string(),
                    history_size_bytes: self.ms.history_size_bytes,
                    suggest_continue_as_new: !self.limits.suggest_continue_as_new(self.ms).is_empty(),
                    suggest_continue_as_new_reasons: self.limits.suggest_continue_as_new(self.ms),
                    worker_version: worker_version(&poller.build_id),
                    target_worker_deployment_version_changed: poller.target_changed,
                    ..Default::default()
                },
            ));
        }
        self.tasks.push(Task::WorkflowTaskTimeout {
            fire_at: self.now + wt.timeout,
            stamp: wt.stamp,
            timeout_type: TimeoutType::StartToClose as i32,
        });
        self.ms.workflow_task = Some(wt.clone());
        Ok(self.started_view(&wt))
    }

    fn started_view(&self, wt: &WorkflowTaskInfo) -> StartedWorkflowTask {
        StartedWorkflowTask {
            scheduled_event_id: wt.scheduled_event_id,
            started_event_id: wt.started_event_id,
            attempt: wt.attempt,
            previous_started_event_id: self.ms.last_completed_wft_started_id,
            transient_events: if wt.is_transient() { self.transient_events(wt) } else { vec![] },
            scheduled_time: wt.scheduled_time,
            first_event_id: if wt.sticky { self.ms.last_completed_wft_started_id + 1 } else { 1 },
            update_requests: self
                .ms
                .updates
                .values()
                .filter(|u| u.state == crate::state::UpdateState::Admitted)
                .filter_map(|u| u.request.clone())
                .collect(),
        }
    }

    // worker_version is deprecated in the API; the real server still writes it.
    #[allow(deprecated)]
    /// The Scheduled/Started events of a transient task, as sent to the worker (and written to
    /// history when the task completes).
    fn transient_events(&self, wt: &WorkflowTaskInfo) -> Vec<HistoryEvent> {
        let mut sched = self.make_event(
            wt.scheduled_event_id,
            Attributes::WorkflowTaskScheduledEventAttributes(h::WorkflowTaskScheduledEventAttributes {
                task_queue: Some(self.dispatch_queue(wt)),
                start_to_close_timeout: Some(time::to_duration(wt.timeout)),
                attempt: wt.attempt,
            }),
        );
        sched.event_time = Some(time::to_timestamp(wt.scheduled_time));
        let mut started = self.make_event(
            wt.started_event_id,
            Attributes::WorkflowTaskStartedEventAttributes(h::WorkflowTaskStartedEventAttributes {
                scheduled_event_id: wt.scheduled_event_id,
                identity: wt.identity.clone(),
                request_id: wt.request_id.clone(),
                history_size_bytes: self.ms.history_size_bytes,
                suggest_continue_as_new: !self.limits.suggest_continue_as_new(self.ms).is_empty(),
                suggest_continue_as_new_reasons: self.limits.suggest_continue_as_new(self.ms),
                worker_version: worker_version(&wt.build_id),
                ..Default::default()
            }),
        );
        started.event_time = Some(time::to_timestamp(wt.started_time));
        vec![sched, started]
    }

    /// Validates that `stamp`/`attempt` name the started workflow task and returns it.
    pub fn started_workflow_task(&self, stamp: i64) -> Result<WorkflowTaskInfo, CoreError> {
        self.require_open()?;
        match &self.ms.workflow_task {
            Some(wt) if wt.stamp == stamp && wt.is_started() => Ok(wt.clone()),
            _ => Err(CoreError::NotFound("Workflow task not found.".into())),
        }
    }

    /// Writes a transient task's Scheduled/Started events for real (on completion).
    pub(crate) fn materialize_transient(&mut self, wt: &WorkflowTaskInfo) {
        if !wt.is_transient() {
            return;
        }
        for ev in self.transient_events(wt) {
            let mut ev = ev;
            let attrs = ev.attributes.take().expect("built with attributes");
            let t = ev.event_time;
            let id = self.append(attrs);
            debug_assert_eq!(id, ev.event_id);
            if let Some(last) = self.events.last_mut() {
                last.event_time = t;
            }
        }
    }

    /// Fails the started workflow task (worker report, bad command, or timeout) and schedules
    /// the next attempt. Failures of transient attempts leave no trace in history.
    pub fn fail_workflow_task(
        &mut self,
        stamp: i64,
        cause: WorkflowTaskFailedCause,
        failure: Option<Failure>,
        identity: &str,
        timed_out: bool,
    ) -> Result<(), CoreError> {
        let wt = self.started_workflow_task(stamp)?;
        if !wt.is_transient() {
            if timed_out {
                self.append(Attributes::WorkflowTaskTimedOutEventAttributes(
                    h::WorkflowTaskTimedOutEventAttributes {
                        scheduled_event_id: wt.scheduled_event_id,
                        started_event_id: wt.started_event_id,
                        timeout_type: TimeoutType::StartToClose as i32,
                    },
                ));
            } else {
                self.append(Attributes::WorkflowTaskFailedEventAttributes(
                    h::WorkflowTaskFailedEventAttributes {
                        scheduled_event_id: wt.scheduled_event_id,
                        started_event_id: wt.started_event_id,
                        cause: cause as i32,
                        failure,
                        identity: identity.to_string(),
                        ..Default::default()
                    },
                ));
            }
        }
        self.ms.workflow_task = None;
        self.clear_sticky();
        let flushed = self.flush_buffered();
        // New events since the task started reset the attempt count: the worker has new input.
        self.ms.wft_attempt = if flushed { 1 } else { wt.attempt + 1 };
        self.schedule_workflow_task();
        Ok(())
    }

    /// A workflow task's start-to-close timer fired.
    pub fn workflow_task_timed_out(
        &mut self,
        stamp: i64,
        timeout_type: TimeoutType,
    ) -> Result<(), CoreError> {
        if timeout_type != TimeoutType::ScheduleToStart {
            return self.fail_workflow_task(stamp, WorkflowTaskFailedCause::Unspecified, None, "", true);
        }
        // The sticky worker did not pick the task up in time: fall back to the normal queue
        // (full history), without counting an attempt, as Temporal does.
        self.require_open()?;
        let Some(wt) = self.ms.workflow_task.clone().filter(|w| w.stamp == stamp && !w.is_started()) else {
            return Ok(());
        };
        if !wt.is_transient() {
            self.append(Attributes::WorkflowTaskTimedOutEventAttributes(
                h::WorkflowTaskTimedOutEventAttributes {
                    scheduled_event_id: wt.scheduled_event_id,
                    started_event_id: 0,
                    timeout_type: TimeoutType::ScheduleToStart as i32,
                },
            ));
        }
        self.ms.workflow_task = None;
        self.clear_sticky();
        self.schedule_workflow_task();
        Ok(())
    }

    /// The task queue a workflow task went to, as history shows it (sticky queues name their
    /// normal queue).
    fn dispatch_queue(&self, wt: &WorkflowTaskInfo) -> TaskQueue {
        if wt.sticky {
            TaskQueue {
                name: wt.task_queue.clone(),
                kind: crate::api::enums::v1::TaskQueueKind::Sticky as i32,
                normal_name: self.ms.task_queue.clone(),
            }
        } else {
            normal_queue(&self.ms.task_queue)
        }
    }

    /// Stops routing this run's workflow tasks to a sticky queue.
    pub fn clear_sticky(&mut self) {
        self.ms.sticky_queue.clear();
        self.ms.sticky_timeout = 0;
    }

    /// ResetStickyTaskQueue: later tasks go to the normal queue, and a task still waiting on
    /// the sticky queue is re-dispatched there at once (the sticky copy goes stale).
    pub fn reset_sticky(&mut self) -> Result<(), CoreError> {
        self.require_open()?;
        self.clear_sticky();
        if let Some(mut wt) = self.ms.workflow_task.clone().filter(|w| w.sticky && !w.is_started()) {
            self.ms.wft_stamp += 1;
            wt.stamp = self.ms.wft_stamp;
            wt.sticky = false;
            wt.task_queue = self.ms.task_queue.clone();
            self.tasks.push(Task::WorkflowTask {
                task_queue: wt.task_queue.clone(),
                stamp: wt.stamp,
                sticky: false,
                order: DispatchOrder::of(self.ms.priority.as_ref(), None),
                version: self.ms.pinned_version_key(),
            });
            self.ms.workflow_task = Some(wt);
        }
        Ok(())
    }

    /// Sends a scheduled, not yet started workflow task out again (its queued copy goes stale):
    /// where it must run changed.
    pub(crate) fn redispatch_workflow_task(&mut self) {
        if let Some(mut wt) = self.ms.workflow_task.clone().filter(|w| !w.is_started()) {
            self.ms.wft_stamp += 1;
            wt.stamp = self.ms.wft_stamp;
            self.tasks.push(Task::WorkflowTask {
                task_queue: wt.task_queue.clone(),
                stamp: wt.stamp,
                sticky: wt.sticky,
                order: DispatchOrder::of(self.ms.priority.as_ref(), None),
                version: self.ms.pinned_version_key(),
            });
            self.ms.workflow_task = Some(wt);
        }
    }

    // ------------------------------------------------------------ activities

    /// Records the start of activity attempt `attempt` by a worker.
    /// `stamp`: the dispatch's (see [`ActivityInfo::stamp`]); `None` when not taken from a
    /// queue (eager start).
    pub fn start_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        stamp: Option<i32>,
        request_id: &str,
        poller: &Poller,
    ) -> Result<StartedActivity, CoreError> {
        let identity = poller.identity.as_str();
        self.require_open()?;
        let now = self.now;
        let ai = self
            .ms
            .activities
            .get_mut(&scheduled_event_id)
            .filter(|a| a.attempt == attempt && !a.in_backoff)
            .filter(|a| {
                a.state == ActivityState::Started || (!a.paused && stamp.is_none_or(|s| s == a.stamp))
            })
            .ok_or_else(|| CoreError::NotFound("Activity task not found.".into()))?;
        if ai.state == ActivityState::Started {
            if ai.started_request_id == request_id {
                return Ok(StartedActivity { info: ai.clone() });
            }
            return Err(CoreError::FailedPrecondition("Activity task already started.".into()));
        }
        ai.state = ActivityState::Started;
        ai.started_time = now;
        ai.started_identity = identity.to_string();
        ai.started_request_id = request_id.to_string();
        ai.started_build_id = poller.build_id.clone();
        ai.last_heartbeat_time = 0;
        ai.reset_requested = false;
        let info = ai.clone();
        if let Some(s) = self.ms.standalone.as_mut() {
            s.last_started_time = now;
            if let Some((name, version)) = &poller.sdk {
                s.sdk_name = name.clone();
                s.sdk_version = version.clone();
            }
        }
        self.tasks.push(Task::ActivityTimeout {
            fire_at: now + info.start_to_close_timeout,
            scheduled_event_id,
            attempt,
            timeout_type: TimeoutType::StartToClose as i32,
        });
        if info.heartbeat_timeout > 0 {
            self.tasks.push(Task::ActivityTimeout {
                fire_at: now + info.heartbeat_timeout,
                scheduled_event_id,
                attempt,
                timeout_type: TimeoutType::Heartbeat as i32,
            });
        }
        Ok(StartedActivity { info })
    }

    fn started_activity(
        &self,
        scheduled_event_id: i64,
        attempt: Option<i32>,
    ) -> Result<ActivityInfo, CoreError> {
        self.require_open()?;
        match self.ms.activities.get(&scheduled_event_id) {
            Some(a)
                if a.state == ActivityState::Started
                    && !a.in_backoff
                    && attempt.is_none_or(|n| n == a.attempt) =>
            {
                Ok(a.clone())
            }
            _ => Err(CoreError::NotFound(
                "invalid activityID or activity already timed out or invoking workflow is completed".into(),
            )),
        }
    }

    /// Records a heartbeat; returns what the worker is told (cancellation, pause, reset).
    pub fn heartbeat_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: Option<i32>,
        details: Option<Payloads>,
    ) -> Result<HeartbeatAnswer, CoreError> {
        let ai = self.started_activity(scheduled_event_id, attempt)?;
        if let Some(s) = self.ms.standalone.as_mut() {
            s.heartbeat_count += 1;
            s.last_heartbeat_time = self.now;
        }
        let a = self.ms.activities.get_mut(&ai.scheduled_event_id).expect("checked above");
        a.last_heartbeat_time = self.now;
        if details.is_some() {
            a.heartbeat_details = details;
        }
        Ok(HeartbeatAnswer {
            cancel_requested: a.cancel_requested,
            paused: a.paused,
            reset: a.reset_requested,
        })
    }

    // worker_version is deprecated in the API; the real server still writes it.
    #[allow(deprecated)]
    fn activity_started_event(&self, ai: &ActivityInfo) -> Attributes {
        Attributes::ActivityTaskStartedEventAttributes(h::ActivityTaskStartedEventAttributes {
            scheduled_event_id: ai.scheduled_event_id,
            identity: ai.started_identity.clone(),
            request_id: ai.started_request_id.clone(),
            attempt: ai.attempt,
            last_failure: ai.last_failure.clone(),
            worker_version: worker_version(&ai.started_build_id),
            ..Default::default()
        })
    }

    /// Writes the (lazily recorded) started event of an activity's final attempt plus its close
    /// event, removes the activity and schedules a workflow task.
    fn close_activity(&mut self, ai: &ActivityInfo, close: impl FnOnce(i64) -> Attributes) {
        if self.ms.standalone.is_some() {
            let attrs = close(0);
            self.close_standalone(attrs);
            return;
        }
        self.ms.activities.remove(&ai.scheduled_event_id);
        let started = if ai.state == ActivityState::Started && !ai.in_backoff {
            let ev = self.activity_started_event(ai);
            let buffered = self.ms.workflow_task.as_ref().is_some_and(|w| w.is_started());
            self.append_or_buffer(ev);
            // When buffered the id is fixed at flush time; when appended it is the last event.
            if buffered { 0 } else { self.ms.next_event_id - 1 }
        } else {
            0
        };
        self.append_or_buffer(close(started));
        self.schedule_workflow_task();
    }

    /// A standalone activity's last attempt ended as `attrs` (the close event a workflow's
    /// activity would write): its outcome is recorded and its run closed. The activity stays in
    /// the state as it ended, for Describe.
    fn close_standalone(&mut self, attrs: Attributes) {
        use crate::api::activity::v1::{ActivityExecutionOutcome, activity_execution_outcome::Value};
        // The attempt ended now; whoever closed it (a worker, or a client by id) is its last
        // worker, as the real server shows it.
        let closer = match &attrs {
            Attributes::ActivityTaskCompletedEventAttributes(a) => Some(a.identity.clone()),
            Attributes::ActivityTaskFailedEventAttributes(a) => Some(a.identity.clone()),
            Attributes::ActivityTaskCanceledEventAttributes(a) => Some(a.identity.clone()),
            _ => None,
        };
        let now = self.now;
        // A final failure (or retried timeout running out) is the last failure too.
        let last_failure = match &attrs {
            Attributes::ActivityTaskFailedEventAttributes(a) => a.failure.clone(),
            Attributes::ActivityTaskTimedOutEventAttributes(a) => a.failure.clone().filter(|f| {
                use crate::api::failure::v1::failure::FailureInfo;
                matches!(&f.failure_info, Some(FailureInfo::TimeoutFailureInfo(t))
                    if t.timeout_type == TimeoutType::StartToClose as i32 || t.timeout_type == TimeoutType::Heartbeat as i32)
            }),
            _ => None,
        };
        if let Some(a) = self.ms.activities.get_mut(&crate::standalone::ACTIVITY) {
            a.last_attempt_complete_time = now;
            if last_failure.is_some() {
                a.last_failure = last_failure;
            }
            if let Some(identity) = closer.filter(|i| !i.is_empty()) {
                a.started_identity = identity.clone();
                a.last_worker_identity = identity;
            }
        }
        let (status, value, retry_state) = match attrs {
            Attributes::ActivityTaskCompletedEventAttributes(a) => {
                (WorkflowExecutionStatus::Completed, Value::Result(a.result.unwrap_or_default()), 0)
            }
            Attributes::ActivityTaskFailedEventAttributes(a) => (
                WorkflowExecutionStatus::Failed,
                Value::Failure(a.failure.unwrap_or_default()),
                a.retry_state,
            ),
            Attributes::ActivityTaskTimedOutEventAttributes(a) => (
                WorkflowExecutionStatus::TimedOut,
                Value::Failure(a.failure.unwrap_or_default()),
                a.retry_state,
            ),
            Attributes::ActivityTaskCanceledEventAttributes(a) => {
                // The failure names who asked for the cancel, as the real server's does.
                let identity = self.ms.standalone.as_ref().map_or(a.identity, |s| s.cancel_identity.clone());
                let outcome = crate::standalone::canceled(a.details, &identity);
                self.finish_standalone(WorkflowExecutionStatus::Canceled, outcome);
                return;
            }
            _ => return,
        };
        let outcome = ActivityExecutionOutcome { value: Some(value), retry_state };
        self.finish_standalone(status, outcome);
    }

    /// Closes a standalone activity's run with `status` and `outcome`.
    pub(crate) fn finish_standalone(
        &mut self,
        status: WorkflowExecutionStatus,
        outcome: crate::api::activity::v1::ActivityExecutionOutcome,
    ) {
        if let Some(s) = self.ms.standalone.as_mut() {
            s.outcome = Some(outcome);
        }
        self.ms.status = status as i32;
        self.ms.close_time = self.now;
    }

    /// The worker completed the activity.
    pub fn complete_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: Option<i32>,
        result: Option<Payloads>,
        identity: &str,
    ) -> Result<(), CoreError> {
        if attempt.is_none() && self.ms.standalone.is_some() && self.ms.is_open() {
            // A standalone activity may be completed by id before any worker took it, as on
            // the real server: its attempt starts and ends now.
            let now = self.now;
            if let Some(a) = self
                .ms
                .activities
                .get_mut(&scheduled_event_id)
                .filter(|a| a.state == ActivityState::Scheduled)
            {
                a.state = ActivityState::Started;
                a.in_backoff = false;
                a.started_time = now;
                a.started_identity = identity.to_owned();
                if let Some(s) = self.ms.standalone.as_mut() {
                    s.last_started_time = now;
                }
            }
        }
        let ai = self.started_activity(scheduled_event_id, attempt)?;
        let identity = identity.to_string();
        self.close_activity(&ai, |started| {
            Attributes::ActivityTaskCompletedEventAttributes(h::ActivityTaskCompletedEventAttributes {
                result,
                scheduled_event_id: ai.scheduled_event_id,
                started_event_id: started,
                identity,
                ..Default::default()
            })
        });
        Ok(())
    }

    /// The worker reported the activity canceled.
    pub fn cancel_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: Option<i32>,
        details: Option<Payloads>,
        identity: &str,
    ) -> Result<(), CoreError> {
        let ai = self.started_activity(scheduled_event_id, attempt)?;
        let identity = identity.to_string();
        self.close_activity(&ai, |started| {
            Attributes::ActivityTaskCanceledEventAttributes(h::ActivityTaskCanceledEventAttributes {
                details,
                latest_cancel_requested_event_id: ai.cancel_request_event_id,
                scheduled_event_id: ai.scheduled_event_id,
                started_event_id: started,
                identity,
                ..Default::default()
            })
        });
        Ok(())
    }

    /// The worker failed the attempt: retry per policy or record the final failure.
    pub fn fail_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: Option<i32>,
        failure: Failure,
        last_heartbeat_details: Option<Payloads>,
        identity: &str,
    ) -> Result<(), CoreError> {
        let ai = self.started_activity(scheduled_event_id, attempt)?;
        if last_heartbeat_details.is_some() {
            if let Some(s) = self.ms.standalone.as_mut() {
                // A failure carrying heartbeat details counts as a heartbeat, as on the real server.
                s.heartbeat_count += 1;
                s.last_heartbeat_time = self.now;
            }
            if let Some(a) = self.ms.activities.get_mut(&scheduled_event_id) {
                a.heartbeat_details = last_heartbeat_details;
            }
        }
        if ai.paused {
            // As the real server: the attempt counts, the next waits for the unpause (even past
            // the policy's last attempt).
            self.park_paused_attempt(scheduled_event_id, failure, identity);
            return Ok(());
        }
        match self.activity_retry(&ai, &failure) {
            Ok(delay) => {
                // A standalone activity failed by id and retried keeps its poller as last worker.
                let identity =
                    if self.ms.standalone.is_some() && attempt.is_none() && !ai.started_identity.is_empty() {
                        ai.started_identity.as_str()
                    } else {
                        identity
                    };
                self.retry_activity(scheduled_event_id, failure, identity, delay);
            }
            Err(state) => {
                let ai = self.ms.activities.get(&scheduled_event_id).cloned().unwrap_or(ai);
                let identity = identity.to_string();
                self.close_activity(&ai, |started| {
                    Attributes::ActivityTaskFailedEventAttributes(h::ActivityTaskFailedEventAttributes {
                        failure: Some(failure),
                        scheduled_event_id: ai.scheduled_event_id,
                        started_event_id: started,
                        identity,
                        retry_state: state as i32,
                        ..Default::default()
                    })
                });
            }
        }
        Ok(())
    }

    fn activity_retry(&self, ai: &ActivityInfo, failure: &Failure) -> Result<Nanos, RetryState> {
        if ai.cancel_requested {
            return Err(RetryState::CancelRequested);
        }
        let policy = ai.retry_policy.clone().unwrap_or_default();
        let expiration = if ai.schedule_to_close_timeout > 0 {
            ai.first_scheduled_time + ai.schedule_to_close_timeout
        } else {
            0
        };
        retry::next_backoff(&policy, ai.attempt, failure, self.now, expiration)
    }

    fn retry_activity(&mut self, scheduled_event_id: i64, failure: Failure, identity: &str, delay: Nanos) {
        let now = self.now;
        let Some(a) = self.ms.activities.get_mut(&scheduled_event_id) else { return };
        a.end_attempt(now, failure, identity);
        a.scheduled_time = now + delay;
        a.in_backoff = delay > 0;
        let (attempt, queue, s2s) = (a.attempt, a.task_queue.clone(), a.schedule_to_start_timeout);
        if delay > 0 {
            self.tasks.push(Task::ActivityRetry { fire_at: now + delay, scheduled_event_id, attempt });
        } else {
            self.dispatch_activity(scheduled_event_id, attempt, queue, s2s, now);
        }
    }

    pub(crate) fn dispatch_activity(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        queue: String,
        s2s: Nanos,
        at: Nanos,
    ) {
        let own = self.ms.activities.get(&scheduled_event_id);
        let order = DispatchOrder::of(self.ms.priority.as_ref(), own.and_then(|a| a.priority.as_ref()));
        let stamp = own.map_or(0, |a| a.stamp);
        let version = self.ms.pinned_version_key();
        self.tasks.push(Task::ActivityTask {
            task_queue: queue,
            scheduled_event_id,
            attempt,
            stamp,
            order,
            version,
        });
        if s2s > 0 {
            self.tasks.push(Task::ActivityTimeout {
                fire_at: at + s2s,
                scheduled_event_id,
                attempt,
                timeout_type: TimeoutType::ScheduleToStart as i32,
            });
        }
    }

    /// The retry backoff of an activity elapsed: dispatch the attempt.
    pub fn activity_retry_fired(&mut self, scheduled_event_id: i64, attempt: i32) -> Result<(), CoreError> {
        self.require_open()?;
        let now = self.now;
        // A retry moved since (its options changed) waits for its own timer.
        let Some(a) = self
            .ms
            .activities
            .get_mut(&scheduled_event_id)
            .filter(|a| a.attempt == attempt && a.in_backoff && !a.paused && a.scheduled_time <= now)
        else {
            return Ok(());
        };
        a.in_backoff = false;
        a.scheduled_time = now;
        let (queue, s2s) = (a.task_queue.clone(), a.schedule_to_start_timeout);
        self.dispatch_activity(scheduled_event_id, attempt, queue, s2s, now);
        Ok(())
    }

    /// An activity timeout timer fired; stale timers are ignored.
    pub fn activity_timeout_fired(
        &mut self,
        scheduled_event_id: i64,
        attempt: i32,
        timeout_type: TimeoutType,
    ) -> Result<(), CoreError> {
        self.require_open()?;
        let Some(ai) = self.ms.activities.get(&scheduled_event_id).cloned() else { return Ok(()) };
        // A standalone activity no worker took by its schedule-to-close deadline times out as
        // schedule-to-start when that timeout is as long (it defaults to it), as on the real
        // server.
        let timeout_type = if self.ms.standalone.is_some()
            && timeout_type == TimeoutType::ScheduleToClose
            && ai.state == ActivityState::Scheduled
            && !ai.in_backoff
            && ai.schedule_to_start_timeout > 0
            && self.now >= ai.scheduled_time + ai.schedule_to_start_timeout
        {
            TimeoutType::ScheduleToStart
        } else {
            timeout_type
        };
        // A paused activity's timeouts wait (its unpause arms them again).
        let applies = !ai.paused
            && match timeout_type {
                TimeoutType::ScheduleToClose => {
                    ai.schedule_to_close_timeout > 0
                        && self.now >= ai.first_scheduled_time + ai.schedule_to_close_timeout
                }
                TimeoutType::ScheduleToStart => {
                    ai.attempt == attempt
                        && ai.state == ActivityState::Scheduled
                        && !ai.in_backoff
                        && ai.schedule_to_start_timeout > 0
                        && self.now >= ai.scheduled_time + ai.schedule_to_start_timeout
                }
                TimeoutType::StartToClose => {
                    ai.attempt == attempt
                        && ai.state == ActivityState::Started
                        && !ai.in_backoff
                        && self.now >= ai.started_time + ai.start_to_close_timeout
                }
                TimeoutType::Heartbeat => {
                    ai.attempt == attempt && ai.state == ActivityState::Started && !ai.in_backoff
                }
                TimeoutType::Unspecified => false,
            };
        if !applies {
            return Ok(());
        }
        if timeout_type == TimeoutType::Heartbeat {
            let last = ai.last_heartbeat_time.max(ai.started_time);
            let deadline = last + ai.heartbeat_timeout;
            if deadline > self.now {
                self.tasks.push(Task::ActivityTimeout {
                    fire_at: deadline,
                    scheduled_event_id,
                    attempt,
                    timeout_type: TimeoutType::Heartbeat as i32,
                });
                return Ok(());
            }
        }
        let failure = timeout_failure("activity", timeout_type, ai.heartbeat_details.clone(), None);
        let retryable = matches!(timeout_type, TimeoutType::StartToClose | TimeoutType::Heartbeat);
        let decision = if retryable { self.activity_retry(&ai, &failure) } else { Err(RetryState::Timeout) };
        match decision {
            Ok(delay) => {
                // A standalone activity's retried timeout keeps no heartbeat details.
                let failure = if self.ms.standalone.is_some() {
                    timeout_failure("activity", timeout_type, None, None)
                } else {
                    failure
                };
                self.retry_activity(scheduled_event_id, failure, "", delay);
            }
            Err(state) => {
                let mut failure = failure;
                failure.cause = if self.ms.standalone.is_some() && retryable {
                    // A standalone activity's final start-to-close or heartbeat timeout repeats
                    // itself, without details, as its cause (the real server's shape).
                    Some(Box::new(timeout_failure("activity", timeout_type, None, None)))
                } else {
                    ai.last_failure.clone().map(Box::new)
                };
                self.close_activity(&ai, |started| {
                    Attributes::ActivityTaskTimedOutEventAttributes(h::ActivityTaskTimedOutEventAttributes {
                        failure: Some(failure),
                        scheduled_event_id: ai.scheduled_event_id,
                        started_event_id: started,
                        retry_state: state as i32,
                    })
                });
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- timers

    /// A user timer fired; stale timers are ignored.
    pub fn timer_fired(&mut self, timer_id: &str, started_event_id: i64) -> Result<(), CoreError> {
        self.require_open()?;
        match self.ms.timers.get(timer_id) {
            Some(t) if t.started_event_id == started_event_id => {}
            _ => return Ok(()),
        }
        self.ms.timers.remove(timer_id);
        self.append_or_buffer(Attributes::TimerFiredEventAttributes(h::TimerFiredEventAttributes {
            timer_id: timer_id.to_string(),
            started_event_id,
        }));
        self.schedule_workflow_task();
        Ok(())
    }

    // ------------------------------------------------------ external inputs

    /// Delivers a signal. Returns false if `request_id` was already applied (deduplicated).
    pub fn signal(
        &mut self,
        name: &str,
        input: Option<Payloads>,
        identity: &str,
        header: Option<Header>,
        request_id: &str,
    ) -> Result<bool, CoreError> {
        self.signal_from(name, input, identity, header, request_id, None)
    }

    /// Delivers a signal sent by another workflow (`from`), recorded in the event.
    pub fn signal_from(
        &mut self,
        name: &str,
        input: Option<Payloads>,
        identity: &str,
        header: Option<Header>,
        request_id: &str,
        from: Option<WorkflowExecution>,
    ) -> Result<bool, CoreError> {
        self.require_open()?;
        if !request_id.is_empty() && !self.ms.signal_request_ids.insert(request_id.to_string()) {
            return Ok(false);
        }
        self.append_or_buffer(Attributes::WorkflowExecutionSignaledEventAttributes(
            h::WorkflowExecutionSignaledEventAttributes {
                signal_name: name.to_string(),
                input,
                identity: identity.to_string(),
                header,
                request_id: request_id.to_string(),
                external_workflow_execution: from,
                ..Default::default()
            },
        ));
        self.schedule_workflow_task();
        Ok(true)
    }

    /// Requests cancellation of the run (idempotent).
    pub fn request_cancel(&mut self, cause: &str, identity: &str) -> Result<(), CoreError> {
        self.request_cancel_from(cause, identity, None)
    }

    /// Requests cancellation on behalf of another workflow: `from` is (its execution, the id of
    /// its initiated event, 0 for a parent close policy).
    pub fn request_cancel_from(
        &mut self,
        cause: &str,
        identity: &str,
        from: Option<(WorkflowExecution, i64)>,
    ) -> Result<(), CoreError> {
        self.require_open()?;
        if self.ms.cancel_requested {
            return Ok(());
        }
        self.ms.cancel_requested = true;
        let (external_workflow_execution, external_initiated_event_id) = match from {
            Some((e, id)) => (Some(e), id),
            None => (None, 0),
        };
        self.append_or_buffer(Attributes::WorkflowExecutionCancelRequestedEventAttributes(
            h::WorkflowExecutionCancelRequestedEventAttributes {
                cause: cause.to_string(),
                identity: identity.to_string(),
                external_initiated_event_id,
                external_workflow_execution,
            },
        ));
        self.schedule_workflow_task();
        Ok(())
    }

    /// Terminates the run.
    pub fn terminate(
        &mut self,
        reason: &str,
        details: Option<Payloads>,
        identity: &str,
    ) -> Result<(), CoreError> {
        self.require_open()?;
        if self.ms.standalone.is_some() {
            self.finish_standalone(
                WorkflowExecutionStatus::Terminated,
                crate::standalone::terminated(reason, identity),
            );
            return Ok(());
        }
        self.force_fail_started_task(identity);
        self.flush_buffered();
        let id = self.append(Attributes::WorkflowExecutionTerminatedEventAttributes(
            h::WorkflowExecutionTerminatedEventAttributes {
                reason: reason.to_string(),
                details,
                identity: identity.to_string(),
            },
        ));
        self.close(WorkflowExecutionStatus::Terminated, id);
        Ok(())
    }

    fn force_fail_started_task(&mut self, identity: &str) {
        if let Some(wt) = self.ms.workflow_task.clone()
            && wt.is_started()
            && !wt.is_transient()
        {
            self.append(Attributes::WorkflowTaskFailedEventAttributes(
                h::WorkflowTaskFailedEventAttributes {
                    scheduled_event_id: wt.scheduled_event_id,
                    started_event_id: wt.started_event_id,
                    cause: WorkflowTaskFailedCause::ForceCloseCommand as i32,
                    identity: identity.to_string(),
                    ..Default::default()
                },
            ));
        }
        self.ms.workflow_task = None;
    }

    /// The run timeout (`execution == false`) or the execution timeout of the chain fired. A run
    /// timeout is retried per the workflow's retry policy (or followed by the next cron run).
    pub fn workflow_timed_out(&mut self, execution: bool) -> Result<(), CoreError> {
        self.require_open()?;
        self.force_fail_started_task("");
        self.flush_buffered();
        let (retry_state, successor) = if execution {
            (RetryState::Timeout, None)
        } else {
            let failure = timeout_failure("workflow", TimeoutType::StartToClose, None, None);
            self.plan_after_failure(&failure)
        };
        let new_run_id = successor.as_ref().map(|s| s.run_id.clone()).unwrap_or_default();
        let id = self.append(Attributes::WorkflowExecutionTimedOutEventAttributes(
            h::WorkflowExecutionTimedOutEventAttributes {
                retry_state: retry_state as i32,
                new_execution_run_id: new_run_id,
            },
        ));
        self.close(WorkflowExecutionStatus::TimedOut, id);
        if let Some(s) = successor {
            self.start_successor(s);
        }
        Ok(())
    }

    /// Marks the run closed with `status`; pending work is dropped (its timers become stale).
    pub(crate) fn close(&mut self, status: WorkflowExecutionStatus, close_event_id: i64) {
        let has_successor = self.ms.status == WorkflowExecutionStatus::Running as i32
            && self
                .events
                .iter()
                .find(|e| e.event_id == close_event_id)
                .is_some_and(|e| successor_run_id(e).is_some_and(|r| !r.is_empty()));
        self.close_side_effects(close_event_id, has_successor);
        self.ms.status = status as i32;
        self.ms.close_time = self.now;
        self.ms.completion_event_id = close_event_id;
        self.ms.workflow_task = None;
        // Activities pending at the close stay in the state (nothing acts on a closed run's):
        // Describe lists them, as the real server's does.
        self.ms.timers.clear();
        self.ms.buffered_events.clear();
    }
}

/// The events of a transient (retried or speculative) workflow task, as history readers see
/// them after the last written event: Scheduled, and Started once a worker took it. They are
/// not stored until the task completes.
pub fn transient_history(ms: &MutableState) -> Vec<HistoryEvent> {
    let Some(mut wt) = ms.workflow_task.clone().filter(|w| w.is_transient() && !w.speculative) else {
        return vec![];
    };
    if !wt.is_started() {
        wt.scheduled_event_id = ms.next_event_id;
    }
    let mut copy = ms.clone();
    let txn = Txn::new(&mut copy, wt.scheduled_time);
    let mut events = txn.transient_events(&wt);
    if !wt.is_started() {
        events.truncate(1);
    }
    events
}

/// Attempts after which a retried workflow task gets a growing timeout.
const WFT_RETRY_BACKOFF_MIN_ATTEMPTS: i32 = 3;
/// First extension of the timeout of a repeatedly failing workflow task.
const WFT_RETRY_INITIAL_INTERVAL: Nanos = 5 * time::SECOND;
/// Largest extension of the timeout of a repeatedly failing workflow task.
const WFT_RETRY_MAX_INTERVAL: Nanos = 600 * time::SECOND;

/// The start-to-close timeout of a workflow task attempt. As in Temporal, attempts after the
/// third get an exponentially growing extension so a stuck worker is not hammered.
pub fn workflow_task_timeout(base: Nanos, attempt: i32) -> Nanos {
    if attempt <= WFT_RETRY_BACKOFF_MIN_ATTEMPTS {
        return base;
    }
    let n = (attempt - WFT_RETRY_BACKOFF_MIN_ATTEMPTS - 1).min(30) as u32;
    base + WFT_RETRY_INITIAL_INTERVAL.saturating_mul(1i64 << n).min(WFT_RETRY_MAX_INTERVAL)
}

/// The successor run named by a close event, if any.
fn successor_run_id(e: &HistoryEvent) -> Option<&str> {
    match &e.attributes {
        Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => Some(&a.new_execution_run_id),
        Some(Attributes::WorkflowExecutionFailedEventAttributes(a)) => Some(&a.new_execution_run_id),
        Some(Attributes::WorkflowExecutionTimedOutEventAttributes(a)) => Some(&a.new_execution_run_id),
        Some(Attributes::WorkflowExecutionContinuedAsNewEventAttributes(a)) => Some(&a.new_execution_run_id),
        _ => None,
    }
}

/// Replaces a pending (-1) child started-event reference with the id assigned at flush.
fn fix_child(started: &std::collections::HashMap<i64, i64>, initiated: i64, started_event_id: &mut i64) {
    if *started_event_id <= 0
        && let Some(id) = started.get(&initiated)
    {
        *started_event_id = *id;
    }
}

/// A normal-kind task queue message.
pub fn normal_queue(name: &str) -> TaskQueue {
    TaskQueue {
        name: name.to_string(),
        kind: crate::api::enums::v1::TaskQueueKind::Normal as i32,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::enums::v1::EventType;

    fn started(now: Nanos) -> MutableState {
        let mut ms = MutableState::default();
        let req = StartRun {
            namespace_id: "ns".into(),
            workflow_id: "wf".into(),
            run_id: "run".into(),
            workflow_type: WorkflowType { name: "T".into() },
            task_queue: "q".into(),
            ..Default::default()
        };
        let txn = Txn::start(&mut ms, now, req);
        assert_eq!(txn.events.len(), 2);
        assert!(matches!(txn.tasks[0], Task::WorkflowTask { stamp: 1, .. }));
        ms
    }

    fn types(events: &[HistoryEvent]) -> Vec<EventType> {
        events.iter().map(|e| EventType::try_from(e.event_type).unwrap()).collect()
    }

    #[test]
    fn signal_during_started_task_is_buffered_then_flushed() {
        let mut ms = started(1);
        let mut t = Txn::new(&mut ms, 2);
        let s = t.start_workflow_task(1, "req", &Poller::identity("me")).unwrap();
        assert_eq!((s.scheduled_event_id, s.started_event_id), (2, 3));
        let mut t = Txn::new(&mut ms, 3);
        t.signal("sig", None, "me", None, "r1").unwrap();
        assert!(t.events.is_empty(), "signal must be buffered while the task runs");
        assert!(!t.signal("sig", None, "me", None, "r1").unwrap(), "same request id is deduplicated");
        let mut t = Txn::new(&mut ms, 4);
        t.complete_workflow_task(1, Default::default()).unwrap();
        assert_eq!(
            types(&t.events),
            vec![
                EventType::WorkflowTaskCompleted,
                EventType::WorkflowExecutionSignaled,
                EventType::WorkflowTaskScheduled
            ]
        );
        assert_eq!(ms.next_event_id, 7);
    }

    #[test]
    fn failed_attempts_after_the_first_are_transient() {
        let mut ms = started(1);
        Txn::new(&mut ms, 2).start_workflow_task(1, "a", &Poller::identity("me")).unwrap();
        let mut t = Txn::new(&mut ms, 3);
        t.fail_workflow_task(1, WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure, None, "me", false)
            .unwrap();
        assert_eq!(types(&t.events), vec![EventType::WorkflowTaskFailed], "attempt 2 is not written yet");
        let mut t = Txn::new(&mut ms, 4);
        let s = t.start_workflow_task(2, "b", &Poller::identity("me")).unwrap();
        assert!(t.events.is_empty());
        assert_eq!(s.attempt, 2);
        assert_eq!(
            types(&s.transient_events),
            vec![EventType::WorkflowTaskScheduled, EventType::WorkflowTaskStarted]
        );
        assert_eq!(s.transient_events[0].event_id, 5);
        let mut t = Txn::new(&mut ms, 5);
        t.fail_workflow_task(2, WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure, None, "me", false)
            .unwrap();
        assert!(t.events.is_empty(), "a transient failure leaves no trace");
        Txn::new(&mut ms, 6).start_workflow_task(3, "c", &Poller::identity("me")).unwrap();
        let mut t = Txn::new(&mut ms, 7);
        t.complete_workflow_task(3, Default::default()).unwrap();
        assert_eq!(
            types(&t.events),
            vec![
                EventType::WorkflowTaskScheduled,
                EventType::WorkflowTaskStarted,
                EventType::WorkflowTaskCompleted
            ]
        );
        assert_eq!(t.events.iter().map(|e| e.event_id).collect::<Vec<_>>(), vec![5, 6, 7]);
    }

    #[test]
    fn workflow_task_timeout_grows_after_three_attempts() {
        let base = 10 * time::SECOND;
        assert_eq!(workflow_task_timeout(base, 3), base);
        assert_eq!(workflow_task_timeout(base, 4), base + 5 * time::SECOND);
        assert_eq!(workflow_task_timeout(base, 5), base + 10 * time::SECOND);
        assert_eq!(workflow_task_timeout(base, 60), base + 600 * time::SECOND);
    }

    #[test]
    fn terminate_closes_and_drops_pending_work() {
        let mut ms = started(1);
        Txn::new(&mut ms, 2).start_workflow_task(1, "a", &Poller::identity("me")).unwrap();
        let mut t = Txn::new(&mut ms, 3);
        t.terminate("bye", None, "op").unwrap();
        assert_eq!(
            types(&t.events),
            vec![EventType::WorkflowTaskFailed, EventType::WorkflowExecutionTerminated]
        );
        assert!(!ms.is_open());
        assert!(matches!(
            Txn::new(&mut ms, 4).signal("s", None, "", None, ""),
            Err(CoreError::AlreadyCompleted)
        ));
    }
}
