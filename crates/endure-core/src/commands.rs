//! Completion of a workflow task: the worker's commands become history events and tasks.
//!
//! Commands are applied in order. A command that is invalid (or one Endure does not support yet)
//! rolls back everything the task produced and fails the workflow task with Temporal's cause, so
//! the worker sees the problem and nothing half-applied is left in history.

use crate::CoreError;
use crate::api::command::v1::{
    Command, ContinueAsNewWorkflowExecutionCommandAttributes, ScheduleActivityTaskCommandAttributes,
    command::Attributes as C,
};
use crate::api::common::v1::MeteringMetadata;
use crate::api::common::v1::{Memo, SearchAttributes};
use crate::api::enums::v1::{WorkflowExecutionStatus, WorkflowTaskFailedCause as Cause};
use crate::api::failure::v1::{Failure, failure::FailureInfo};
use crate::api::history::v1::{self as h, history_event::Attributes};
use crate::api::sdk::v1::WorkflowTaskCompletedMetadata;
use crate::retry;
use crate::state::{ActivityInfo, ActivityState, TimerInfo};
use crate::task::{DispatchOrder, Task};
use crate::time::{self, Nanos};
use crate::transition::{Txn, normal_queue};
use prost::Message as _;

/// The parts of RespondWorkflowTaskCompleted the core needs.
#[derive(Debug, Clone, Default)]
pub struct WorkflowTaskCompletion {
    /// Commands in order.
    pub commands: Vec<Command>,
    /// Worker identity.
    pub identity: String,
    /// Binary checksum.
    pub binary_checksum: String,
    /// The completing worker's build id ("" when it sent none).
    pub build_id: String,
    /// The completing worker uses (build-id based) versioning: only activities that run on the
    /// workflow's build id may then start eagerly, as on the real server.
    pub versioned: bool,
    /// SDK metadata (flags the SDK needs when replaying).
    pub sdk_metadata: Option<WorkflowTaskCompletedMetadata>,
    /// Metering metadata.
    pub metering_metadata: Option<MeteringMetadata>,
    /// Whether the worker asked for a new workflow task even without new events.
    pub force_create_new_workflow_task: bool,
    /// The worker's sticky queue and its schedule-to-start timeout, if it wants stickiness.
    pub sticky: Option<(String, Nanos)>,
    /// Protocol messages (update acceptances, rejections, responses).
    pub messages: Vec<crate::api::protocol::v1::Message>,
    /// Whether the worker wants a new workflow task handed back directly.
    pub return_new_workflow_task: bool,
    /// Request id to record if a new task is started for the worker.
    pub new_task_request_id: String,
    /// Namespace ids by name: the run's own and those its commands name (a command naming no
    /// namespace means the run's own, whose name is `own_namespace`).
    pub namespace_ids: std::collections::BTreeMap<String, String>,
    /// The run's namespace name.
    pub own_namespace: String,
    /// Fresh ids, one per command by index (when short, ids are derived from other ids): the
    /// request id of the command's activity if started eagerly, or of its signal to another
    /// workflow.
    pub eager_request_ids: Vec<String>,
    /// Set by the server when a command's search attributes are not valid for the namespace
    /// (unknown name, wrong type): the task then fails with cause BAD_SEARCH_ATTRIBUTES.
    pub bad_search_attributes: Option<String>,
    /// The worker deployment version of a versioned worker.
    pub deployment: Option<crate::deployment::Version>,
    /// The `VersioningBehavior` a versioned worker reports for the workflow.
    pub versioning_behavior: i32,
    /// The routing revision of the worker's task queue now (what a newly decided version is
    /// recorded under).
    pub route_revision: i64,
    /// Where the routing of the run's task queue sends its new tasks now.
    pub route_target: Option<crate::deployment::Version>,
}

/// Result of a workflow task completion that was applied (possibly as a failure).
#[derive(Debug, Clone, PartialEq)]
pub enum CompletionOutcome {
    /// The commands were applied; what happened to updates.
    Completed(crate::updates::UpdateChanges),
    /// The task was failed with `cause`; `message` explains why. The caller reports an
    /// InvalidArgument for bad commands (as the real server does) after committing.
    Failed {
        /// Failure cause.
        cause: Cause,
        /// Explanation.
        message: String,
    },
}

/// A completion the server refuses: the cause, the message, and whether the run is then
/// terminated (oversized payloads).
struct Rejection(Cause, String, bool);

fn reject<T>(cause: Cause, msg: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection(cause, msg.into(), false))
}

impl Txn<'_> {
    /// Applies a workflow task completion for the started task `stamp`.
    pub fn complete_workflow_task(
        &mut self,
        stamp: i64,
        c: WorkflowTaskCompletion,
    ) -> Result<CompletionOutcome, CoreError> {
        let wt = self.started_workflow_task(stamp)?;
        self.route_target = c.route_target.clone().map(|v| (v, c.route_revision));
        if let Some(msg) = &c.bad_search_attributes {
            self.fail_workflow_task(
                stamp,
                Cause::BadSearchAttributes,
                Some(server_failure(msg)),
                &c.identity,
                false,
            )?;
            return Ok(CompletionOutcome::Failed { cause: Cause::BadSearchAttributes, message: msg.clone() });
        }
        let closes = c.commands.iter().any(is_close_command);
        if closes && !self.ms.buffered_events.is_empty() {
            let msg = "UnhandledCommand: new events arrived while the workflow task was running";
            self.fail_workflow_task(
                stamp,
                Cause::UnhandledCommand,
                Some(server_failure(msg)),
                &c.identity,
                false,
            )?;
            return Ok(CompletionOutcome::Failed { cause: Cause::UnhandledCommand, message: msg.into() });
        }
        if wt.speculative
            && c.commands.is_empty()
            && !c.force_create_new_workflow_task
            && self.ms.buffered_events.is_empty()
            && wt.scheduled_event_id == wt.next_event_id_at_schedule
            && crate::updates::only_rejections(&c.messages)
        {
            // Nothing but rejected updates: the speculative task leaves no trace in history.
            let mut changes = crate::updates::UpdateChanges {
                discarded: true,
                reset_history_event_id: self.ms.last_completed_wft_started_id,
                ..Default::default()
            };
            for m in &c.messages {
                let _ = self.apply_update_message(m, &mut changes);
            }
            self.ms.workflow_task = None;
            if self.ms.updates.values().any(|u| u.state == crate::state::UpdateState::Admitted) {
                self.ms.next_wft_speculative = true;
                self.schedule_workflow_task();
                self.ms.next_wft_speculative = false;
            }
            return Ok(CompletionOutcome::Completed(changes));
        }
        let snapshot = self.ms.clone();
        let (n_events, n_tasks) = (self.events.len(), self.tasks.len());
        let mut changes = crate::updates::UpdateChanges::default();
        match self.apply_commands(&wt, &c, &mut changes) {
            Ok(()) => Ok(CompletionOutcome::Completed(changes)),
            Err(Rejection(cause, message, terminate)) => {
                *self.ms = snapshot;
                self.events.truncate(n_events);
                self.tasks.truncate(n_tasks);
                let message = with_cause_name(cause, message);
                if wt.is_transient() && !terminate {
                    // As the real server: a retried (transient) task whose commands are rejected
                    // again stays started; its timeout schedules the next attempt.
                    return Ok(CompletionOutcome::Failed { cause, message });
                }
                self.fail_workflow_task(stamp, cause, Some(server_failure(&message)), &c.identity, false)?;
                if terminate {
                    self.terminate(&message, None, "history-service")?;
                }
                Ok(CompletionOutcome::Failed { cause, message })
            }
        }
    }

    // worker_version is deprecated in the API; the real server still writes it.
    #[allow(deprecated)]
    fn apply_commands(
        &mut self,
        wt: &crate::WorkflowTaskInfo,
        c: &WorkflowTaskCompletion,
        changes: &mut crate::updates::UpdateChanges,
    ) -> Result<(), Rejection> {
        self.materialize_transient(wt);
        let completed_id = self.append(Attributes::WorkflowTaskCompletedEventAttributes(
            h::WorkflowTaskCompletedEventAttributes {
                scheduled_event_id: wt.scheduled_event_id,
                started_event_id: wt.started_event_id,
                identity: c.identity.clone(),
                sdk_metadata: c.sdk_metadata.clone(),
                metering_metadata: c.metering_metadata,
                worker_version: crate::transition::worker_version(&c.build_id),
                versioning_behavior: if c.deployment.is_some() { c.versioning_behavior } else { 0 },
                worker_deployment_name: c
                    .deployment
                    .as_ref()
                    .map(|d| d.deployment.clone())
                    .unwrap_or_default(),
                deployment_version: c.deployment.as_ref().map(|d| d.wire()),
                ..Default::default()
            },
        ));
        self.record_completing_worker(completed_id, &c.build_id, c.deployment.is_some());
        if let Some(version) = &c.deployment {
            self.record_versioned_completion(version, c.versioning_behavior, c.route_revision);
        }
        self.ms.workflow_task = None;
        self.ms.wft_attempt = 1;
        self.ms.last_completed_wft_started_id = wt.started_event_id;
        match &c.sticky {
            Some((queue, timeout)) if !queue.is_empty() => {
                self.ms.sticky_queue = queue.clone();
                self.ms.sticky_timeout = if *timeout > 0 { *timeout } else { 10 * time::SECOND };
            }
            _ => self.clear_sticky(),
        }
        for (i, cmd) in c.commands.iter().enumerate() {
            if !self.ms.is_open() {
                return reject(
                    Cause::UnhandledCommand,
                    format!("command {i} follows a command that closed the workflow"),
                );
            }
            if let Some(C::ProtocolMessageCommandAttributes(p)) = &cmd.attributes {
                let Some(m) = c.messages.iter().find(|m| m.id == p.message_id) else {
                    return reject(
                        Cause::BadUpdateWorkflowExecutionMessage,
                        format!("no message {} for ProtocolMessageCommand", p.message_id),
                    );
                };
                self.apply_update_message(m, changes)
                    .map_err(|e| Rejection(Cause::BadUpdateWorkflowExecutionMessage, e, false))?;
                continue;
            }
            let first_event = self.events.len();
            self.apply_command(cmd, completed_id, c, c.eager_request_ids.get(i).map(String::as_str))?;
            if let Some(md) = &cmd.user_metadata {
                // The command's summary and details go on the event it made, as the real
                // server writes them (and a child starts with them).
                if let Some(ev) = self.events.get_mut(first_event) {
                    let before = crate::limits::event_size(ev);
                    ev.user_metadata = Some(md.clone());
                    self.ms.history_size_bytes += crate::limits::event_size(ev) - before;
                    let id = ev.event_id;
                    if let Some(child) = self.ms.children.get_mut(&id) {
                        child.user_metadata = Some(md.clone());
                    }
                }
            }
        }
        let referenced: Vec<&str> = c
            .commands
            .iter()
            .filter_map(|cmd| match &cmd.attributes {
                Some(C::ProtocolMessageCommandAttributes(p)) => Some(p.message_id.as_str()),
                _ => None,
            })
            .collect();
        for m in c.messages.iter().filter(|m| !referenced.contains(&m.id.as_str())) {
            if !self.ms.is_open() {
                break;
            }
            self.apply_update_message(m, changes)
                .map_err(|e| Rejection(Cause::BadUpdateWorkflowExecutionMessage, e, false))?;
        }
        let pending_updates =
            self.ms.updates.values().any(|u| u.state == crate::state::UpdateState::Admitted);
        if self.ms.is_open() {
            let flushed = self.flush_buffered();
            if flushed
                || c.force_create_new_workflow_task
                || pending_updates
                || self.cancelled_unstarted_activity
            {
                self.schedule_workflow_task();
            }
            self.start_eager_activities(c, changes);
            if c.return_new_workflow_task
                && let Some(wt) = self.ms.workflow_task.clone().filter(|w| !w.is_started())
            {
                // Start the new task for this worker right here, so no other poller (not even
                // the worker's own sticky poller) can take it first.
                self.tasks.retain(|t| match t {
                    Task::WorkflowTask { stamp, .. } => *stamp != wt.stamp,
                    Task::WorkflowTaskTimeout { stamp, timeout_type, .. } => {
                        *stamp != wt.stamp
                            || *timeout_type != crate::api::enums::v1::TimeoutType::ScheduleToStart as i32
                    }
                    _ => true,
                });
                let poller = crate::transition::Poller {
                    identity: c.identity.clone(),
                    build_id: c.build_id.clone(),
                    ..Default::default()
                };
                let started = self
                    .start_workflow_task(wt.stamp, &c.new_task_request_id, &poller)
                    .map_err(|e| Rejection(Cause::Unspecified, e.to_string(), false))?;
                changes.inline_task = Some((wt.stamp, started));
            }
        }
        Ok(())
    }

    // worker_version is deprecated in the API; the real server still writes it.
    #[allow(deprecated)]
    /// What the real server records of the worker that completed a workflow task: an
    /// auto-reset point for the first task each build completed, the `BuildIds` search attribute
    /// (`unversioned`, and `unversioned:<build id>` for each build seen; versioned workers come
    /// with worker versioning) and the most recent build id.
    fn record_completing_worker(&mut self, completed_id: i64, build_id: &str, versioned: bool) {
        let known = self.ms.auto_reset_points.iter().any(|p| p.build_id == build_id);
        if !known {
            // A reset cannot go back past work in flight to other workflows.
            let resettable = self.ms.children.values().all(|c| c.started_event_id > 0)
                && self.ms.external_signals.is_empty()
                && self.ms.external_cancels.is_empty();
            self.ms.auto_reset_points.push(crate::api::workflow::v1::ResetPointInfo {
                build_id: build_id.to_owned(),
                run_id: self.ms.run_id.clone(),
                first_workflow_task_completed_id: completed_id,
                create_time: Some(time::to_timestamp(self.now)),
                resettable,
                ..Default::default()
            });
            let excess = self.ms.auto_reset_points.len().saturating_sub(crate::state::MAX_AUTO_RESET_POINTS);
            self.ms.auto_reset_points.drain(..excess);
        }
        // A versioned worker's build shows as `unversioned:<build>` (its version stamp says
        // no build-id versioning) without the bare `unversioned`, as on the real server.
        let seen = (!versioned)
            .then(|| "unversioned".to_owned())
            .into_iter()
            .chain((!build_id.is_empty()).then(|| format!("unversioned:{build_id}")));
        for id in seen {
            if !self.ms.build_ids.contains(&id) {
                self.ms.build_ids.push(id);
            }
        }
        self.ms.most_recent_build_id = build_id.to_owned();
    }

    /// What a versioned worker's completion says of the run: its behavior, the version that
    /// ran it (decided at `revision` when it changed), every version used. A one-time override
    /// is spent once its target ran a task.
    fn record_versioned_completion(
        &mut self,
        version: &crate::deployment::Version,
        behavior: i32,
        revision: i64,
    ) {
        use crate::api::workflow::v1::versioning_override::Override;
        let v = self.ms.versioning.get_or_insert_with(Default::default);
        if v.version.as_ref() != Some(version) {
            v.revision = revision;
        }
        v.behavior = behavior;
        v.version = Some(version.clone());
        v.inherited = None;
        if !v.used.contains(version) {
            v.used.push(version.clone());
        }
        let spent = matches!(
            v.override_.as_ref().and_then(|o| o.r#override.as_ref()),
            Some(Override::OneTime(o)) if o.target_deployment_version.as_ref().and_then(crate::deployment::Version::of_wire).as_ref() == Some(version)
        );
        if spent {
            v.override_ = None;
        }
    }

    fn apply_command(
        &mut self,
        cmd: &Command,
        completed_id: i64,
        c: &WorkflowTaskCompletion,
        fresh_id: Option<&str>,
    ) -> Result<(), Rejection> {
        let ns = crate::children::NamespaceNames { own: &c.own_namespace, ids: &c.namespace_ids, fresh_id };
        let Some(attrs) = &cmd.attributes else {
            return reject(Cause::UnhandledCommand, "command has no attributes");
        };
        if let Some((cause, what)) = oversized_payload(attrs, &self.limits) {
            // As the real server: the task fails and the run is terminated.
            return Err(Rejection(cause, format!("{what} exceeds size limit."), true));
        }
        if let Some((cause, what, n, max)) = self.pending_limit(attrs) {
            return reject(
                cause,
                format!(
                    "{what}: the number of pending {n}, {max}, has reached the per-workflow limit of {max}"
                ),
            );
        }
        match attrs {
            C::ScheduleActivityTaskCommandAttributes(a) => self.schedule_activity(a, completed_id),
            C::RequestCancelActivityTaskCommandAttributes(a) => {
                self.request_cancel_activity(a.scheduled_event_id, completed_id)
            }
            C::StartTimerCommandAttributes(a) => {
                if a.timer_id.is_empty() {
                    return reject(Cause::BadStartTimerAttributes, "TimerId is not set on command.");
                }
                let fire = time::opt_duration(&a.start_to_fire_timeout);
                if fire <= 0 {
                    return reject(
                        Cause::BadStartTimerAttributes,
                        "A valid StartToFireTimeout is not set on command.",
                    );
                }
                if self.ms.timers.contains_key(&a.timer_id) {
                    return reject(
                        Cause::StartTimerDuplicateId,
                        format!(
                            "invalid history builder state for action: add-timer-started-event, TimerId {} is already in use",
                            a.timer_id
                        ),
                    );
                }
                let id =
                    self.append(Attributes::TimerStartedEventAttributes(h::TimerStartedEventAttributes {
                        timer_id: a.timer_id.clone(),
                        start_to_fire_timeout: a.start_to_fire_timeout,
                        workflow_task_completed_event_id: completed_id,
                    }));
                let expiry = self.now + fire;
                self.ms.timers.insert(
                    a.timer_id.clone(),
                    TimerInfo { timer_id: a.timer_id.clone(), started_event_id: id, expiry_time: expiry },
                );
                self.tasks.push(Task::UserTimer {
                    fire_at: expiry,
                    timer_id: a.timer_id.clone(),
                    started_event_id: id,
                });
                Ok(())
            }
            C::CancelTimerCommandAttributes(a) => {
                let started_event_id = if let Some(t) = self.ms.timers.remove(&a.timer_id) {
                    t.started_event_id
                } else if let Some(pos) = self.buffered_timer_fired(&a.timer_id) {
                    // The timer fired while the task ran: the cancel wins, drop the fired event.
                    let ev = self.ms.buffered_events.remove(pos);
                    match ev.attributes {
                        Some(Attributes::TimerFiredEventAttributes(f)) => f.started_event_id,
                        _ => 0,
                    }
                } else {
                    return reject(
                        Cause::BadCancelTimerAttributes,
                        format!(
                            "invalid history builder state for action: add-timer-canceled-event, TimerId {} not found",
                            a.timer_id
                        ),
                    );
                };
                self.append(Attributes::TimerCanceledEventAttributes(h::TimerCanceledEventAttributes {
                    timer_id: a.timer_id.clone(),
                    started_event_id,
                    workflow_task_completed_event_id: completed_id,
                    identity: String::new(),
                }));
                Ok(())
            }
            C::CompleteWorkflowExecutionCommandAttributes(a) => {
                let successor = self.cron_successor().map(|mut s| {
                    s.last_completion_result = a.result.clone();
                    s
                });
                let id = self.append(Attributes::WorkflowExecutionCompletedEventAttributes(
                    h::WorkflowExecutionCompletedEventAttributes {
                        result: a.result.clone(),
                        workflow_task_completed_event_id: completed_id,
                        new_execution_run_id: successor
                            .as_ref()
                            .map(|s| s.run_id.clone())
                            .unwrap_or_default(),
                    },
                ));
                self.close(WorkflowExecutionStatus::Completed, id);
                if let Some(s) = successor {
                    self.start_successor(s);
                }
                Ok(())
            }
            C::FailWorkflowExecutionCommandAttributes(a) => {
                let failure = a.failure.clone().unwrap_or_default();
                let (retry_state, successor) = self.plan_after_failure(&failure);
                let id = self.append(Attributes::WorkflowExecutionFailedEventAttributes(
                    h::WorkflowExecutionFailedEventAttributes {
                        failure: a.failure.clone(),
                        retry_state: retry_state as i32,
                        workflow_task_completed_event_id: completed_id,
                        new_execution_run_id: successor
                            .as_ref()
                            .map(|s| s.run_id.clone())
                            .unwrap_or_default(),
                    },
                ));
                self.close(WorkflowExecutionStatus::Failed, id);
                if let Some(s) = successor {
                    self.start_successor(s);
                }
                Ok(())
            }
            C::CancelWorkflowExecutionCommandAttributes(a) => {
                let id = self.append(Attributes::WorkflowExecutionCanceledEventAttributes(
                    h::WorkflowExecutionCanceledEventAttributes {
                        workflow_task_completed_event_id: completed_id,
                        details: a.details.clone(),
                    },
                ));
                self.close(WorkflowExecutionStatus::Canceled, id);
                Ok(())
            }
            C::RecordMarkerCommandAttributes(a) => {
                if a.marker_name.is_empty() {
                    return reject(Cause::BadRecordMarkerAttributes, "MarkerName is not set on command.");
                }
                self.append(Attributes::MarkerRecordedEventAttributes(h::MarkerRecordedEventAttributes {
                    marker_name: a.marker_name.clone(),
                    details: a.details.clone(),
                    workflow_task_completed_event_id: completed_id,
                    header: a.header.clone(),
                    failure: a.failure.clone(),
                }));
                Ok(())
            }
            C::UpsertWorkflowSearchAttributesCommandAttributes(a) => {
                let Some(sa) = &a.search_attributes else {
                    return reject(Cause::BadSearchAttributes, "SearchAttributes is not set on command.");
                };
                let merged = self.ms.search_attributes.get_or_insert_with(SearchAttributes::default);
                for (k, v) in &sa.indexed_fields {
                    if v.data.is_empty() || v.data.as_slice() == b"null" {
                        merged.indexed_fields.remove(k);
                    } else {
                        merged.indexed_fields.insert(k.clone(), v.clone());
                    }
                }
                self.append(Attributes::UpsertWorkflowSearchAttributesEventAttributes(
                    h::UpsertWorkflowSearchAttributesEventAttributes {
                        workflow_task_completed_event_id: completed_id,
                        search_attributes: Some(sa.clone()),
                    },
                ));
                Ok(())
            }
            C::ModifyWorkflowPropertiesCommandAttributes(a) => {
                let Some(memo) = &a.upserted_memo else {
                    return reject(
                        Cause::BadModifyWorkflowPropertiesAttributes,
                        "UpsertedMemo is not set on command.",
                    );
                };
                let merged = self.ms.memo.get_or_insert_with(Memo::default);
                for (k, v) in &memo.fields {
                    if v.data.is_empty() || v.data.as_slice() == b"null" {
                        merged.fields.remove(k);
                    } else {
                        merged.fields.insert(k.clone(), v.clone());
                    }
                }
                self.append(Attributes::WorkflowPropertiesModifiedEventAttributes(
                    h::WorkflowPropertiesModifiedEventAttributes {
                        workflow_task_completed_event_id: completed_id,
                        upserted_memo: Some(memo.clone()),
                    },
                ));
                Ok(())
            }
            C::ContinueAsNewWorkflowExecutionCommandAttributes(a) => self.continue_as_new(a, completed_id),
            C::StartChildWorkflowExecutionCommandAttributes(a) => self
                .start_child_command(a, completed_id, &ns)
                .map_err(|m| Rejection(Cause::BadStartChildExecutionAttributes, m, false)),
            C::SignalExternalWorkflowExecutionCommandAttributes(a) => self
                .signal_external_command(a, completed_id, &ns)
                .map_err(|m| Rejection(Cause::BadSignalWorkflowExecutionAttributes, m, false)),
            C::RequestCancelExternalWorkflowExecutionCommandAttributes(a) => self
                .cancel_external_command(a, completed_id, &ns)
                .map_err(|m| Rejection(Cause::BadRequestCancelExternalWorkflowExecutionAttributes, m, false)),
            C::ProtocolMessageCommandAttributes(_) => Ok(()), // handled in apply_commands
            C::ScheduleNexusOperationCommandAttributes(_) => {
                unsupported(Cause::BadScheduleNexusOperationAttributes, "ScheduleNexusOperation")
            }
            C::RequestCancelNexusOperationCommandAttributes(_) => {
                unsupported(Cause::BadRequestCancelNexusOperationAttributes, "RequestCancelNexusOperation")
            }
        }
    }

    fn continue_as_new(
        &mut self,
        a: &ContinueAsNewWorkflowExecutionCommandAttributes,
        completed_id: i64,
    ) -> Result<(), Rejection> {
        let bad = Cause::BadContinueAsNewAttributes;
        if let Some(p) = &a.retry_policy
            && let Err(m) = retry::validate(p)
        {
            return reject(bad, m);
        }
        for d in [&a.workflow_run_timeout, &a.workflow_task_timeout, &a.backoff_start_interval] {
            if time::is_negative(d) {
                return reject(bad, "Invalid timeout or backoff on ContinueAsNewWorkflowExecutionCommand.");
            }
        }
        if !a.cron_schedule.is_empty()
            && let Err(m) = crate::successor::cron_delay(&a.cron_schedule, self.now)
        {
            return reject(bad, m);
        }
        let mut spec = self.continue_as_new_spec(a);
        self.pass_on_version(&mut spec, a.initial_versioning_behavior);
        let id = self.append(Attributes::WorkflowExecutionContinuedAsNewEventAttributes(
            h::WorkflowExecutionContinuedAsNewEventAttributes {
                new_execution_run_id: spec.run_id.clone(),
                workflow_type: Some(spec.workflow_type.clone()),
                task_queue: Some(normal_queue(&spec.task_queue)),
                input: spec.input.clone(),
                // The run timeout explicitly, zero too, as the real server writes it.
                workflow_run_timeout: Some(time::to_duration(spec.run_timeout)),
                workflow_task_timeout: time::to_opt_duration(spec.task_timeout),
                workflow_task_completed_event_id: completed_id,
                // What the command asked for: the throttle of tight loops (in the successor's
                // first-task backoff) is not written here.
                backoff_start_interval: a.backoff_start_interval,
                last_completion_result: a.last_completion_result.clone(),
                header: spec.header.clone(),
                memo: spec.memo.clone(),
                search_attributes: spec.search_attributes.clone(),
                #[allow(deprecated)]
                inherit_build_id: a.inherit_build_id,
                ..Default::default()
            },
        ));
        self.close(WorkflowExecutionStatus::ContinuedAsNew, id);
        self.start_successor(spec);
        Ok(())
    }

    /// What a versioned run passes to the run it continues as: a pinned run its version (and
    /// the routing's target it declines), unless the command asks to auto-upgrade; any other
    /// versioned run what its version was.
    fn pass_on_version(&self, spec: &mut crate::transition::StartRun, initial_behavior: i32) {
        use crate::api::enums::v1::{ContinueAsNewVersioningBehavior, VersioningBehavior};
        let Some(v) = self.ms.versioning.as_deref() else { return };
        let upgrade = initial_behavior == ContinueAsNewVersioningBehavior::AutoUpgrade as i32;
        if v.effective_behavior() == VersioningBehavior::Pinned as i32
            && !upgrade
            && let Some(version) = v.effective_version()
        {
            spec.declined_upgrade = self.route_target.clone().filter(|(target, _)| *target != version);
            spec.inherited_pinned = Some(version);
        } else if let Some(version) = v.version.as_ref() {
            spec.inherited_auto_upgrade = Some(crate::api::deployment::v1::InheritedAutoUpgradeInfo {
                source_deployment_version: Some(version.wire()),
                source_deployment_revision_number: v.revision,
                continue_as_new_initial_versioning_behavior: initial_behavior,
            });
        }
    }

    /// The limit a command would exceed: (cause, cause name, what is counted, the limit).
    fn pending_limit(&self, attrs: &C) -> Option<(Cause, &'static str, &'static str, usize)> {
        let l = &self.limits;
        let (pending, max, cause, name, what) = match attrs {
            C::ScheduleActivityTaskCommandAttributes(_) => (
                self.ms.activities.len(),
                l.pending_activities,
                Cause::PendingActivitiesLimitExceeded,
                "PendingActivitiesLimitExceeded",
                "activities",
            ),
            C::StartChildWorkflowExecutionCommandAttributes(_) => (
                self.ms.children.len(),
                l.pending_children,
                Cause::PendingChildWorkflowsLimitExceeded,
                "PendingChildWorkflowsLimitExceeded",
                "child workflow executions",
            ),
            C::SignalExternalWorkflowExecutionCommandAttributes(_) => (
                self.ms.external_signals.len(),
                l.pending_signals,
                Cause::PendingSignalsLimitExceeded,
                "PendingSignalsLimitExceeded",
                "signals to external workflows",
            ),
            C::RequestCancelExternalWorkflowExecutionCommandAttributes(_) => (
                self.ms.external_cancels.len(),
                l.pending_cancels,
                Cause::PendingRequestCancelLimitExceeded,
                "PendingRequestCancelLimitExceeded",
                "requests to cancel external workflows",
            ),
            _ => return None,
        };
        (pending >= max).then_some((cause, name, what, max))
    }

    /// Starts, for the completing worker, the activities it asked to run eagerly, instead of
    /// queueing them: done inside the transition so no other poller can take them first. As the
    /// real server: any task queue and any number (the SDK asks only for what it can run), not
    /// for a versioned worker unless the activity runs on the workflow's build id.
    fn start_eager_activities(
        &mut self,
        c: &WorkflowTaskCompletion,
        changes: &mut crate::updates::UpdateChanges,
    ) {
        // (command index, activity id) of the activities the worker asks to run eagerly.
        #[allow(deprecated)] // use_workflow_build_id: deprecated, still sent by SDKs
        let wanted: Vec<(usize, String)> = c
            .commands
            .iter()
            .enumerate()
            .filter_map(|(i, cmd)| match &cmd.attributes {
                Some(C::ScheduleActivityTaskCommandAttributes(a))
                    if a.request_eager_execution && (!c.versioned || a.use_workflow_build_id) =>
                {
                    Some((i, a.activity_id.clone()))
                }
                _ => None,
            })
            .collect();
        for (n, (command_index, id)) in wanted.iter().enumerate() {
            let Some(a) = self.ms.activities.values().find(|a| &a.activity_id == id) else {
                continue;
            };
            let sched = a.scheduled_event_id;
            self.tasks.retain(|t| match t {
                Task::ActivityTask { scheduled_event_id, .. } => *scheduled_event_id != sched,
                Task::ActivityTimeout { scheduled_event_id, timeout_type, .. } => {
                    *scheduled_event_id != sched
                        || *timeout_type != crate::api::enums::v1::TimeoutType::ScheduleToStart as i32
                }
                _ => true,
            });
            let request_id = c
                .eager_request_ids
                .get(*command_index)
                .cloned()
                .unwrap_or_else(|| format!("{}-{n}", c.new_task_request_id));
            let poller = crate::transition::Poller {
                identity: c.identity.clone(),
                build_id: c.build_id.clone(),
                ..Default::default()
            };
            if let Ok(started) = self.start_activity(sched, 1, None, &request_id, &poller) {
                changes.eager_activities.push(started);
            }
        }
    }

    fn buffered_timer_fired(&self, timer_id: &str) -> Option<usize> {
        self.ms.buffered_events.iter().position(|e| {
            matches!(&e.attributes, Some(Attributes::TimerFiredEventAttributes(f)) if f.timer_id == timer_id)
        })
    }

    fn schedule_activity(
        &mut self,
        a: &ScheduleActivityTaskCommandAttributes,
        completed_id: i64,
    ) -> Result<(), Rejection> {
        let bad = Cause::BadScheduleActivityAttributes;
        if a.activity_id.is_empty() {
            return reject(bad, "ActivityId is not set on command.");
        }
        if a.activity_id.len() > 1000 {
            return reject(bad, "ActivityId exceeds length limit.");
        }
        let Some(activity_type) = a.activity_type.clone().filter(|t| !t.name.is_empty()) else {
            return reject(bad, "ActivityType is not set on command.");
        };
        match &a.task_queue {
            None => return reject(bad, "taskQueue is not set"),
            Some(q) if q.name.is_empty() => return reject(bad, "missing task queue name"),
            Some(_) => {}
        }
        if let Some(p) = &a.retry_policy
            && let Err(msg) = retry::validate(p)
        {
            return reject(bad, msg);
        }
        if [
            &a.schedule_to_close_timeout,
            &a.schedule_to_start_timeout,
            &a.start_to_close_timeout,
            &a.heartbeat_timeout,
        ]
        .into_iter()
        .any(time::is_negative)
        {
            return reject(bad, "Invalid timeout is set on ScheduleActivityTaskCommand.");
        }
        if self.ms.activities.values().any(|x| x.activity_id == a.activity_id) {
            return reject(
                Cause::ScheduleActivityDuplicateId,
                format!("Duplicate ActivityId: {}", a.activity_id),
            );
        }
        let (s2c, s2s, stc, hb) = activity_timeouts(
            time::opt_duration(&a.schedule_to_close_timeout),
            time::opt_duration(&a.schedule_to_start_timeout),
            time::opt_duration(&a.start_to_close_timeout),
            time::opt_duration(&a.heartbeat_timeout),
            self.ms.run_timeout,
        )
        .map_err(|m| Rejection(bad, m, false))?;
        let task_queue = a
            .task_queue
            .as_ref()
            .map(|t| t.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.ms.task_queue.clone());
        let policy = retry::with_defaults(a.retry_policy.clone());
        let id = self.append(Attributes::ActivityTaskScheduledEventAttributes(
            h::ActivityTaskScheduledEventAttributes {
                activity_id: a.activity_id.clone(),
                activity_type: Some(activity_type.clone()),
                task_queue: Some(normal_queue(&task_queue)),
                header: a.header.clone(),
                input: a.input.clone(),
                // Unset timeouts are written as explicit zeros, as the real server does: SDKs
                // read them as durations (the TypeScript worker refuses a task without them).
                schedule_to_close_timeout: Some(time::to_duration(s2c)),
                schedule_to_start_timeout: Some(time::to_duration(s2s)),
                start_to_close_timeout: Some(time::to_duration(stc)),
                heartbeat_timeout: Some(time::to_duration(hb)),
                workflow_task_completed_event_id: completed_id,
                retry_policy: Some(policy.clone()),
                priority: a.priority.clone(),
                #[allow(deprecated)]
                use_workflow_build_id: a.use_workflow_build_id,
            },
        ));
        let info = ActivityInfo {
            scheduled_event_id: id,
            activity_id: a.activity_id.clone(),
            activity_type: Some(activity_type),
            task_queue: task_queue.clone(),
            header: a.header.clone(),
            input: a.input.clone(),
            retry_policy: Some(policy),
            schedule_to_close_timeout: s2c,
            schedule_to_start_timeout: s2s,
            start_to_close_timeout: stc,
            heartbeat_timeout: hb,
            first_scheduled_time: self.now,
            scheduled_time: self.now,
            attempt: 1,
            state: ActivityState::Scheduled,
            priority: a.priority.clone(),
            ..Default::default()
        };
        let order = DispatchOrder::of(self.ms.priority.as_ref(), info.priority.as_ref());
        self.ms.activities.insert(id, info);
        self.tasks.push(Task::ActivityTask {
            task_queue,
            scheduled_event_id: id,
            attempt: 1,
            stamp: 0,
            order,
            version: self.ms.pinned_version_key(),
        });
        if s2s > 0 && (s2c == 0 || s2s < s2c) {
            self.tasks.push(Task::ActivityTimeout {
                fire_at: self.now + s2s,
                scheduled_event_id: id,
                attempt: 1,
                timeout_type: crate::api::enums::v1::TimeoutType::ScheduleToStart as i32,
            });
        }
        if s2c > 0 {
            self.tasks.push(Task::ActivityTimeout {
                fire_at: self.now + s2c,
                scheduled_event_id: id,
                attempt: 1,
                timeout_type: crate::api::enums::v1::TimeoutType::ScheduleToClose as i32,
            });
        }
        Ok(())
    }

    fn request_cancel_activity(
        &mut self,
        scheduled_event_id: i64,
        completed_id: i64,
    ) -> Result<(), Rejection> {
        let Some(ai) = self.ms.activities.get(&scheduled_event_id).cloned() else {
            // Already closed (its close event may be buffered): nothing left to cancel.
            return Ok(());
        };
        let req_id = self.append(Attributes::ActivityTaskCancelRequestedEventAttributes(
            h::ActivityTaskCancelRequestedEventAttributes {
                scheduled_event_id,
                workflow_task_completed_event_id: completed_id,
            },
        ));
        if ai.state == ActivityState::Scheduled {
            self.cancelled_unstarted_activity = true;
            self.ms.activities.remove(&scheduled_event_id);
            self.append(Attributes::ActivityTaskCanceledEventAttributes(
                h::ActivityTaskCanceledEventAttributes {
                    latest_cancel_requested_event_id: req_id,
                    scheduled_event_id,
                    ..Default::default()
                },
            ));
        } else if let Some(a) = self.ms.activities.get_mut(&scheduled_event_id) {
            a.cancel_requested = true;
            a.cancel_request_event_id = req_id;
        }
        Ok(())
    }
}

/// Derives an activity's effective (schedule-to-close, schedule-to-start, start-to-close,
/// heartbeat) timeouts from what the command set and the run timeout, as Temporal does.
pub fn activity_timeouts(
    mut s2c: Nanos,
    mut s2s: Nanos,
    mut stc: Nanos,
    mut hb: Nanos,
    run_timeout: Nanos,
) -> Result<(Nanos, Nanos, Nanos, Nanos), String> {
    if s2c > 0 {
        if run_timeout > 0 {
            s2c = s2c.min(run_timeout);
        }
        s2s = if s2s > 0 { s2s.min(s2c) } else { s2c };
        stc = if stc > 0 { stc.min(s2c) } else { s2c };
    } else if stc > 0 {
        s2c = run_timeout;
        if s2c > 0 {
            stc = stc.min(s2c);
            s2s = if s2s > 0 { s2s.min(s2c) } else { s2c };
        }
    } else {
        return Err(
            "A valid StartToClose or ScheduleToCloseTimeout is not set on ScheduleActivityTaskCommand."
                .into(),
        );
    }
    if hb > stc {
        hb = stc;
    }
    Ok((s2c, s2s, stc, hb))
}

/// The cause and field of a command whose payload is over the blob size limit, if any (the
/// real server reports BadScheduleActivityAttributes for every command kind).
fn oversized_payload(attrs: &C, limits: &crate::limits::Limits) -> Option<(Cause, &'static str)> {
    use crate::limits::payloads_size;
    let (size, cause, what) = match attrs {
        C::ScheduleActivityTaskCommandAttributes(a) => (
            payloads_size(&a.input),
            Cause::BadScheduleActivityAttributes,
            "ScheduleActivityTaskCommandAttributes.Input",
        ),
        C::CompleteWorkflowExecutionCommandAttributes(a) => (
            payloads_size(&a.result),
            Cause::BadScheduleActivityAttributes,
            "CompleteWorkflowExecutionCommandAttributes.Result",
        ),
        C::FailWorkflowExecutionCommandAttributes(a) => (
            a.failure.as_ref().map(|f| f.encoded_len()).unwrap_or(0),
            Cause::BadScheduleActivityAttributes,
            "FailWorkflowExecutionCommandAttributes.Failure",
        ),
        C::CancelWorkflowExecutionCommandAttributes(a) => (
            payloads_size(&a.details),
            Cause::BadScheduleActivityAttributes,
            "CancelWorkflowExecutionCommandAttributes.Details",
        ),
        C::ContinueAsNewWorkflowExecutionCommandAttributes(a) => (
            payloads_size(&a.input),
            Cause::BadScheduleActivityAttributes,
            "ContinueAsNewWorkflowExecutionCommandAttributes.Input",
        ),
        C::StartChildWorkflowExecutionCommandAttributes(a) => (
            payloads_size(&a.input),
            Cause::BadScheduleActivityAttributes,
            "StartChildWorkflowExecutionCommandAttributes.Input",
        ),
        C::SignalExternalWorkflowExecutionCommandAttributes(a) => (
            payloads_size(&a.input),
            Cause::BadScheduleActivityAttributes,
            "SignalExternalWorkflowExecutionCommandAttributes.Input",
        ),
        C::RecordMarkerCommandAttributes(a) => (
            a.details.values().map(|p| p.encoded_len()).sum(),
            Cause::BadScheduleActivityAttributes,
            "RecordMarkerCommandAttributes.Details",
        ),
        _ => (0, Cause::Unspecified, ""),
    };
    limits.blob_too_large(size).then_some((cause, what))
}

fn unsupported(cause: Cause, what: &str) -> Result<(), Rejection> {
    reject(cause, format!("Endure does not support the {what} command yet"))
}

fn is_close_command(c: &Command) -> bool {
    matches!(
        c.attributes,
        Some(
            C::CompleteWorkflowExecutionCommandAttributes(_)
                | C::FailWorkflowExecutionCommandAttributes(_)
                | C::CancelWorkflowExecutionCommandAttributes(_)
                | C::ContinueAsNewWorkflowExecutionCommandAttributes(_)
        )
    )
}

fn server_failure(message: &str) -> Failure {
    Failure {
        message: message.to_string(),
        failure_info: Some(FailureInfo::ServerFailureInfo(crate::api::failure::v1::ServerFailureInfo {
            non_retryable: false,
        })),
        ..Default::default()
    }
}

/// "BadScheduleActivityAttributes: <message>", as the real server words task failures.
fn with_cause_name(cause: Cause, message: String) -> String {
    let name: String = cause
        .as_str_name()
        .trim_start_matches("WORKFLOW_TASK_FAILED_CAUSE_")
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_string() + &c.as_str().to_ascii_lowercase()).unwrap_or_default()
        })
        .collect();
    if message.starts_with(&format!("{name}:")) { message } else { format!("{name}: {message}") }
}

#[cfg(test)]
mod tests {
    use super::activity_timeouts;
    const S: i64 = crate::time::SECOND;

    #[test]
    fn start_to_close_only_inherits_run_timeout() {
        assert_eq!(activity_timeouts(0, 0, 5 * S, 0, 0), Ok((0, 0, 5 * S, 0)));
        assert_eq!(activity_timeouts(0, 0, 5 * S, 0, 60 * S), Ok((60 * S, 60 * S, 5 * S, 0)));
    }

    #[test]
    fn schedule_to_close_fills_the_rest() {
        assert_eq!(activity_timeouts(10 * S, 0, 0, 20 * S, 0), Ok((10 * S, 10 * S, 10 * S, 10 * S)));
    }

    #[test]
    fn neither_is_an_error() {
        assert!(activity_timeouts(0, 3 * S, 0, 0, 0).is_err());
    }
}
