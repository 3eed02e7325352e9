//! Rebuilding mutable state from history, and ResetWorkflowExecution on top of it.
//!
//! A reset copies the base run's history up to a workflow task, rebuilds the state that
//! history implies, fails that workflow task with cause ResetWorkflow, re-applies the signals
//! that arrived after the reset point, and regenerates the tasks of everything still pending.

use crate::api::command::v1::StartChildWorkflowExecutionCommandAttributes;
use crate::api::common::v1::{Memo, SearchAttributes};
use crate::api::enums::v1::{TimeoutType, WorkflowExecutionStatus, WorkflowTaskFailedCause};
use crate::api::failure::v1::Failure;
use crate::api::history::v1::{self as h, HistoryEvent, history_event::Attributes as A};
use crate::state::{
    ActivityInfo, ActivityState, ChildInfo, ExternalRequest, MutableState, ParentInfo, TimerInfo, UpdateInfo,
    UpdateState, WorkflowTaskInfo,
};
use crate::task::{DispatchOrder, Task};
use crate::time::{self, Nanos};
use crate::transition::Txn;

fn at(e: &HistoryEvent) -> Nanos {
    e.event_time.as_ref().map(time::from_timestamp).unwrap_or(0)
}

/// Rebuilds the state a run would have after `events`, as run `run_id` of `namespace_id`.
pub fn rebuild(namespace_id: &str, run_id: &str, events: &[HistoryEvent]) -> MutableState {
    let mut ms =
        MutableState { namespace_id: namespace_id.into(), run_id: run_id.into(), ..Default::default() };
    for e in events {
        apply(&mut ms, e);
        ms.next_event_id = e.event_id + 1;
        ms.history_size_bytes += crate::limits::event_size(e);
    }
    ms
}

fn merge(
    into: &mut std::collections::HashMap<String, crate::api::common::v1::Payload>,
    from: &std::collections::HashMap<String, crate::api::common::v1::Payload>,
) {
    for (k, v) in from {
        if v.data.is_empty() || v.data.as_slice() == b"null" {
            into.remove(k);
        } else {
            into.insert(k.clone(), v.clone());
        }
    }
}

#[allow(deprecated)]
fn apply(ms: &mut MutableState, e: &HistoryEvent) {
    let Some(attrs) = &e.attributes else { return };
    let now = at(e);
    match attrs {
        A::WorkflowExecutionStartedEventAttributes(a) => {
            let delay = time::opt_duration(&a.first_workflow_task_backoff);
            ms.workflow_id = a.workflow_id.clone();
            ms.first_execution_run_id = a.first_execution_run_id.clone();
            ms.workflow_type = a.workflow_type.clone();
            ms.task_queue = a.task_queue.as_ref().map(|q| q.name.clone()).unwrap_or_default();
            ms.status = WorkflowExecutionStatus::Running as i32;
            ms.start_time = now;
            ms.execution_time = now + delay;
            ms.run_timeout = time::opt_duration(&a.workflow_run_timeout);
            ms.execution_timeout = time::opt_duration(&a.workflow_execution_timeout);
            ms.task_timeout = time::opt_duration(&a.workflow_task_timeout);
            ms.retry_policy = a.retry_policy.clone();
            ms.cron_schedule = a.cron_schedule.clone();
            ms.memo = a.memo.clone();
            ms.search_attributes = a.search_attributes.clone();
            ms.input = a.input.clone();
            ms.header = a.header.clone();
            ms.attempt = a.attempt.max(1);
            ms.wft_attempt = 1;
            ms.execution_expiration =
                a.workflow_execution_expiration_time.as_ref().map(time::from_timestamp).unwrap_or(0);
            ms.parent = a.parent_workflow_execution.as_ref().map(|p| ParentInfo {
                namespace_id: a.parent_workflow_namespace_id.clone(),
                namespace: a.parent_workflow_namespace.clone(),
                workflow_id: p.workflow_id.clone(),
                run_id: p.run_id.clone(),
                initiated_event_id: a.parent_initiated_event_id,
                root_workflow_id: a
                    .root_workflow_execution
                    .as_ref()
                    .map(|r| r.workflow_id.clone())
                    .unwrap_or_default(),
                root_run_id: a.root_workflow_execution.as_ref().map(|r| r.run_id.clone()).unwrap_or_default(),
            });
        }
        A::WorkflowTaskScheduledEventAttributes(a) => {
            ms.wft_stamp += 1;
            ms.workflow_task = Some(WorkflowTaskInfo {
                stamp: ms.wft_stamp,
                attempt: a.attempt.max(1),
                scheduled_event_id: e.event_id,
                scheduled_time: now,
                task_queue: ms.task_queue.clone(),
                timeout: time::opt_duration(&a.start_to_close_timeout),
                ..Default::default()
            });
        }
        A::WorkflowTaskStartedEventAttributes(a) => {
            if let Some(w) = ms.workflow_task.as_mut() {
                w.started_event_id = e.event_id;
                w.started_time = now;
                w.request_id = a.request_id.clone();
                w.identity = a.identity.clone();
            }
        }
        A::WorkflowTaskCompletedEventAttributes(a) => {
            ms.workflow_task = None;
            ms.last_completed_wft_started_id = a.started_event_id;
        }
        A::WorkflowTaskFailedEventAttributes(_) | A::WorkflowTaskTimedOutEventAttributes(_) => {
            ms.workflow_task = None
        }
        A::ActivityTaskScheduledEventAttributes(a) => {
            ms.activities.insert(
                e.event_id,
                ActivityInfo {
                    scheduled_event_id: e.event_id,
                    activity_id: a.activity_id.clone(),
                    activity_type: a.activity_type.clone(),
                    task_queue: a.task_queue.as_ref().map(|q| q.name.clone()).unwrap_or_default(),
                    header: a.header.clone(),
                    input: a.input.clone(),
                    retry_policy: a.retry_policy.clone(),
                    schedule_to_close_timeout: time::opt_duration(&a.schedule_to_close_timeout),
                    schedule_to_start_timeout: time::opt_duration(&a.schedule_to_start_timeout),
                    start_to_close_timeout: time::opt_duration(&a.start_to_close_timeout),
                    heartbeat_timeout: time::opt_duration(&a.heartbeat_timeout),
                    first_scheduled_time: now,
                    scheduled_time: now,
                    attempt: 1,
                    state: ActivityState::Scheduled,
                    priority: a.priority.clone(),
                    ..Default::default()
                },
            );
        }
        A::ActivityTaskCancelRequestedEventAttributes(a) => {
            if let Some(x) = ms.activities.get_mut(&a.scheduled_event_id) {
                x.cancel_requested = true;
                x.cancel_request_event_id = e.event_id;
            }
        }
        A::ActivityTaskCompletedEventAttributes(a) => drop(ms.activities.remove(&a.scheduled_event_id)),
        A::ActivityTaskFailedEventAttributes(a) => drop(ms.activities.remove(&a.scheduled_event_id)),
        A::ActivityTaskTimedOutEventAttributes(a) => drop(ms.activities.remove(&a.scheduled_event_id)),
        A::ActivityTaskCanceledEventAttributes(a) => drop(ms.activities.remove(&a.scheduled_event_id)),
        A::TimerStartedEventAttributes(a) => {
            ms.timers.insert(
                a.timer_id.clone(),
                TimerInfo {
                    timer_id: a.timer_id.clone(),
                    started_event_id: e.event_id,
                    expiry_time: now + time::opt_duration(&a.start_to_fire_timeout),
                },
            );
        }
        A::TimerFiredEventAttributes(a) => drop(ms.timers.remove(&a.timer_id)),
        A::TimerCanceledEventAttributes(a) => drop(ms.timers.remove(&a.timer_id)),
        A::WorkflowExecutionSignaledEventAttributes(a) if !a.request_id.is_empty() => {
            ms.signal_request_ids.insert(a.request_id.clone());
        }
        A::WorkflowExecutionCancelRequestedEventAttributes(_) => ms.cancel_requested = true,
        A::UpsertWorkflowSearchAttributesEventAttributes(a) => {
            if let Some(sa) = &a.search_attributes {
                merge(
                    &mut ms.search_attributes.get_or_insert_with(SearchAttributes::default).indexed_fields,
                    &sa.indexed_fields,
                );
            }
        }
        A::WorkflowPropertiesModifiedEventAttributes(a) => {
            if let Some(m) = &a.upserted_memo {
                merge(&mut ms.memo.get_or_insert_with(Memo::default).fields, &m.fields);
            }
        }
        A::StartChildWorkflowExecutionInitiatedEventAttributes(a) => {
            let ty = a.workflow_type.clone().unwrap_or_default();
            let command = StartChildWorkflowExecutionCommandAttributes {
                namespace: a.namespace.clone(),
                workflow_id: a.workflow_id.clone(),
                workflow_type: a.workflow_type.clone(),
                task_queue: a.task_queue.clone(),
                input: a.input.clone(),
                workflow_execution_timeout: a.workflow_execution_timeout,
                workflow_run_timeout: a.workflow_run_timeout,
                workflow_task_timeout: a.workflow_task_timeout,
                parent_close_policy: a.parent_close_policy,
                control: a.control.clone(),
                workflow_id_reuse_policy: a.workflow_id_reuse_policy,
                retry_policy: a.retry_policy.clone(),
                cron_schedule: a.cron_schedule.clone(),
                header: a.header.clone(),
                memo: a.memo.clone(),
                search_attributes: a.search_attributes.clone(),
                ..Default::default()
            };
            ms.children.insert(
                e.event_id,
                ChildInfo {
                    initiated_event_id: e.event_id,
                    namespace_id: a.namespace_id.clone(),
                    user_metadata: e.user_metadata.clone(),
                    started_event_id: 0,
                    namespace: a.namespace.clone(),
                    workflow_id: a.workflow_id.clone(),
                    run_id: String::new(),
                    workflow_type: ty.name,
                    parent_close_policy: a.parent_close_policy,
                    command: Some(command),
                    inherited_pinned: None,
                },
            );
        }
        A::ChildWorkflowExecutionStartedEventAttributes(a) => {
            if let Some(c) = ms.children.get_mut(&a.initiated_event_id) {
                c.started_event_id = e.event_id;
                c.run_id = a.workflow_execution.as_ref().map(|x| x.run_id.clone()).unwrap_or_default();
            }
        }
        A::StartChildWorkflowExecutionFailedEventAttributes(a) => {
            drop(ms.children.remove(&a.initiated_event_id))
        }
        A::ChildWorkflowExecutionCompletedEventAttributes(a) => {
            drop(ms.children.remove(&a.initiated_event_id))
        }
        A::ChildWorkflowExecutionFailedEventAttributes(a) => drop(ms.children.remove(&a.initiated_event_id)),
        A::ChildWorkflowExecutionCanceledEventAttributes(a) => {
            drop(ms.children.remove(&a.initiated_event_id))
        }
        A::ChildWorkflowExecutionTimedOutEventAttributes(a) => {
            drop(ms.children.remove(&a.initiated_event_id))
        }
        A::ChildWorkflowExecutionTerminatedEventAttributes(a) => {
            drop(ms.children.remove(&a.initiated_event_id))
        }
        A::SignalExternalWorkflowExecutionInitiatedEventAttributes(a) => {
            let x = a.workflow_execution.clone().unwrap_or_default();
            ms.external_signals.insert(
                e.event_id,
                ExternalRequest {
                    initiated_event_id: e.event_id,
                    namespace_id: a.namespace_id.clone(),
                    namespace: a.namespace.clone(),
                    workflow_id: x.workflow_id,
                    run_id: x.run_id,
                    signal_name: a.signal_name.clone(),
                    input: a.input.clone(),
                    header: a.header.clone(),
                    control: a.control.clone(),
                    reason: String::new(),
                    request_id: crate::children::request_id(&ms.run_id, e.event_id),
                },
            );
        }
        A::ExternalWorkflowExecutionSignaledEventAttributes(a) => {
            drop(ms.external_signals.remove(&a.initiated_event_id))
        }
        A::SignalExternalWorkflowExecutionFailedEventAttributes(a) => {
            drop(ms.external_signals.remove(&a.initiated_event_id))
        }
        A::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(a) => {
            let x = a.workflow_execution.clone().unwrap_or_default();
            ms.external_cancels.insert(
                e.event_id,
                ExternalRequest {
                    initiated_event_id: e.event_id,
                    namespace_id: a.namespace_id.clone(),
                    namespace: a.namespace.clone(),
                    workflow_id: x.workflow_id,
                    run_id: x.run_id,
                    control: a.control.clone(),
                    reason: a.reason.clone(),
                    request_id: crate::children::request_id(&ms.run_id, e.event_id),
                    ..Default::default()
                },
            );
        }
        A::ExternalWorkflowExecutionCancelRequestedEventAttributes(a) => {
            drop(ms.external_cancels.remove(&a.initiated_event_id))
        }
        A::RequestCancelExternalWorkflowExecutionFailedEventAttributes(a) => {
            drop(ms.external_cancels.remove(&a.initiated_event_id))
        }
        A::WorkflowExecutionUpdateAcceptedEventAttributes(a) => {
            ms.updates.insert(
                a.protocol_instance_id.clone(),
                UpdateInfo {
                    state: UpdateState::Accepted,
                    request: a.accepted_request.clone(),
                    accepted_event_id: e.event_id,
                },
            );
        }
        A::WorkflowExecutionUpdateCompletedEventAttributes(a) => {
            let id = a.meta.as_ref().map(|m| m.update_id.clone()).unwrap_or_default();
            ms.updates.remove(&id);
            ms.completed_updates.insert(id, e.event_id);
        }
        _ => {}
    }
}

/// Checks that `finish_event_id` can be a reset point, with the real server's rules and words:
/// the events before it must end a transition (history is rebuilt only to such a boundary) and
/// leave a workflow task in flight that it finishes — the id is its scheduled event's + 1 or its
/// started event's + 1.
pub fn check_reset_point(history: &[HistoryEvent], finish_event_id: i64) -> Result<(), crate::CoreError> {
    let invalid = |m: String| Err(crate::CoreError::InvalidArgument(m));
    let last = history.last().map_or(0, |e| e.event_id);
    if finish_event_id <= 1 || finish_event_id > last {
        return invalid("Workflow task finish ID must be > 1 && <= workflow last event ID.".into());
    }
    let rebuild_to = finish_event_id - 1;
    if !ends_a_transition(history, rebuild_to) {
        return invalid(format!(
            "StateRebuilder unable to Rebuild mutable state to event ID: {rebuild_to}, version: 0, this event must be at the boundary"
        ));
    }
    let prefix: Vec<HistoryEvent> = history.iter().filter(|e| e.event_id <= rebuild_to).cloned().collect();
    let ms = rebuild("", "", &prefix);
    let in_range = ms.workflow_task.as_ref().is_some_and(|w| {
        let last_allowed = if w.started_event_id > 0 { w.started_event_id } else { w.scheduled_event_id };
        w.scheduled_event_id < finish_event_id && finish_event_id <= last_allowed + 1
    });
    if !in_range {
        return invalid(format!(
            "Can only reset workflow to event ID in range [WorkflowTaskScheduled +1, WorkflowTaskStarted + 1]: {finish_event_id}"
        ));
    }
    Ok(())
}

/// Whether event `event_id` is the last one its transition wrote: the next event carries
/// another transition's mark (`task_id`, see [`Txn`]). Histories written before the mark
/// existed (task id 0) count every event as a boundary.
fn ends_a_transition(history: &[HistoryEvent], event_id: i64) -> bool {
    let mark = |id: i64| history.iter().find(|e| e.event_id == id).map(|e| e.task_id);
    match (mark(event_id), mark(event_id + 1)) {
        (Some(0), _) | (_, Some(0)) | (_, None) => true,
        (Some(this), Some(next)) => this != next,
        (None, _) => false,
    }
}

/// What a reset to the workflow task finished by `finish_event_id` starts from: the events
/// before it (the new run is rebuilt from them) and, if `reapply_signals`, the signals the base
/// run received after it (re-applied by [`Txn::finish_reset`]).
pub fn split_for_reset(
    history: &[HistoryEvent],
    finish_event_id: i64,
    reapply_signals: bool,
) -> (Vec<HistoryEvent>, Vec<HistoryEvent>) {
    let prefix = history.iter().filter(|e| e.event_id < finish_event_id).cloned().collect();
    let signals = history
        .iter()
        .filter(|e| reapply_signals && e.event_id > finish_event_id)
        .filter(|e| matches!(e.attributes, Some(A::WorkflowExecutionSignaledEventAttributes(_))))
        .cloned()
        .collect();
    (prefix, signals)
}

impl Txn<'_> {
    /// Finishes a reset on a freshly rebuilt run whose last event is the WorkflowTaskStarted of
    /// the reset point: fails that task with cause ResetWorkflow, re-applies `signals`, schedules
    /// a new workflow task and recreates the tasks of pending work.
    pub fn finish_reset(
        &mut self,
        base_run_id: &str,
        reason: &str,
        signals: Vec<HistoryEvent>,
    ) -> Result<(), crate::CoreError> {
        let Some(mut wt) = self.ms.workflow_task.clone() else {
            return Err(crate::CoreError::InvalidArgument(
                "reset point is not a workflow task in flight".into(),
            ));
        };
        if wt.started_event_id == 0 {
            // Reset to a task that was scheduled but not started: it is recorded as started
            // (by the resetter) and then failed, as the real server does.
            wt.started_event_id =
                self.append(A::WorkflowTaskStartedEventAttributes(h::WorkflowTaskStartedEventAttributes {
                    scheduled_event_id: wt.scheduled_event_id,
                    identity: "history-service".to_string(),
                    // The real server's literal placeholder.
                    request_id: "emptyUuid".to_string(),
                    history_size_bytes: self.ms.history_size_bytes,
                    ..Default::default()
                }));
        }
        self.append(A::WorkflowTaskFailedEventAttributes(h::WorkflowTaskFailedEventAttributes {
            scheduled_event_id: wt.scheduled_event_id,
            started_event_id: wt.started_event_id,
            cause: WorkflowTaskFailedCause::ResetWorkflow as i32,
            failure: Some(Failure {
                message: reason.to_string(),
                failure_info: Some(crate::api::failure::v1::failure::FailureInfo::ResetWorkflowFailureInfo(
                    crate::api::failure::v1::ResetWorkflowFailureInfo::default(),
                )),
                ..Default::default()
            }),
            identity: "history-service".to_string(),
            base_run_id: base_run_id.to_string(),
            new_run_id: self.ms.run_id.clone(),
            ..Default::default()
        }));
        self.ms.workflow_task = None;
        self.ms.wft_attempt = 1;
        for s in signals {
            if let Some(A::WorkflowExecutionSignaledEventAttributes(a)) = s.attributes {
                self.append(A::WorkflowExecutionSignaledEventAttributes(a));
            }
        }
        self.regenerate_tasks();
        self.schedule_workflow_task();
        Ok(())
    }

    /// Recreates the timer and transfer tasks of everything pending in a rebuilt state.
    fn regenerate_tasks(&mut self) {
        let now = self.now;
        for a in self.ms.activities.values_mut() {
            a.first_scheduled_time = now;
            a.scheduled_time = now;
        }
        let activities: Vec<ActivityInfo> = self.ms.activities.values().cloned().collect();
        for a in activities {
            self.tasks.push(Task::ActivityTask {
                task_queue: a.task_queue.clone(),
                scheduled_event_id: a.scheduled_event_id,
                attempt: a.attempt,
                stamp: a.stamp,
                order: DispatchOrder::of(self.ms.priority.as_ref(), a.priority.as_ref()),
                version: self.ms.pinned_version_key(),
            });
            if a.schedule_to_start_timeout > 0 {
                self.tasks.push(Task::ActivityTimeout {
                    fire_at: now + a.schedule_to_start_timeout,
                    scheduled_event_id: a.scheduled_event_id,
                    attempt: a.attempt,
                    timeout_type: TimeoutType::ScheduleToStart as i32,
                });
            }
            if a.schedule_to_close_timeout > 0 {
                self.tasks.push(Task::ActivityTimeout {
                    fire_at: now + a.schedule_to_close_timeout,
                    scheduled_event_id: a.scheduled_event_id,
                    attempt: a.attempt,
                    timeout_type: TimeoutType::ScheduleToClose as i32,
                });
            }
        }
        let timers: Vec<TimerInfo> = self.ms.timers.values().cloned().collect();
        for t in timers {
            self.tasks.push(Task::UserTimer {
                fire_at: t.expiry_time.max(now),
                timer_id: t.timer_id,
                started_event_id: t.started_event_id,
            });
        }
        let unstarted: Vec<i64> = self
            .ms
            .children
            .values()
            .filter(|c| c.started_event_id == 0)
            .map(|c| c.initiated_event_id)
            .collect();
        for id in unstarted {
            self.tasks.push(Task::StartChild { fire_at: now, initiated_event_id: id });
        }
        let signals: Vec<i64> = self.ms.external_signals.keys().copied().collect();
        for id in signals {
            self.tasks.push(Task::SignalExternal { fire_at: now, initiated_event_id: id });
        }
        let cancels: Vec<i64> = self.ms.external_cancels.keys().copied().collect();
        for id in cancels {
            self.tasks.push(Task::CancelExternal { fire_at: now, initiated_event_id: id });
        }
        if self.ms.run_timeout > 0 {
            self.tasks.push(Task::WorkflowRunTimeout {
                fire_at: (self.ms.execution_time + self.ms.run_timeout).max(now),
            });
        }
        if self.ms.execution_expiration > 0 {
            self.tasks
                .push(Task::WorkflowExecutionTimeout { fire_at: self.ms.execution_expiration.max(now) });
        }
    }
}
