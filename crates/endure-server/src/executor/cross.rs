//! Cross-workflow tasks: start children, deliver signals and cancel requests to other
//! workflows, report a child's close to its parent and apply parent close policies.
//!
//! Each runs from the timer queue as soon as it is due. A task touches two workflows in two
//! commits; every step is idempotent (deterministic request ids, state checks), so a task that
//! is retried after a crash between the two commits completes without duplicating anything.

use crate::cluster::Ownership;
use crate::error::{ApiError, ApiResult};
use crate::history::Engine;
use crate::matching::TaskRef;
use crate::namespaces::Namespaces;
use crate::peer::Peers;
use crate::starter::{StartFields, Starter};
use crate::telemetry;
use endure_api::temporal::api::enums::v1::{
    CancelExternalWorkflowExecutionFailedCause as CancelCause, ParentClosePolicy,
    SignalExternalWorkflowExecutionFailedCause as SignalCause,
    StartChildWorkflowExecutionFailedCause as ChildCause, WorkflowIdConflictPolicy,
};
use endure_api::temporal::api::history::v1::HistoryEvent;
use endure_core::Task;
use endure_core::state::ParentInfo;
use endure_store::RunKey;
use prost::Message;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tracing::Instrument;

mod schedules;

/// What the target-side step of a cross-workflow task found or did; the source-side step
/// records it on the source run. Travels between replicas as JSON (causes as their numbers).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Outcome {
    /// Nothing to do any more (the source run is gone or closed, or the step already happened):
    /// drop the task.
    Stale,
    /// The child started (its run id) or could not start (`StartChildWorkflowExecutionFailedCause`).
    Child(Result<String, i32>),
    /// The signal was delivered, or not (`SignalExternalWorkflowExecutionFailedCause`).
    Signal(Result<(), i32>),
    /// The cancel request was delivered, or not (`CancelExternalWorkflowExecutionFailedCause`).
    Cancel(Result<(), i32>),
    /// A task that only changes its target (a child's close reported to the parent, a parent
    /// close policy applied) is done.
    Done,
    /// Not possible yet (the parent has not recorded the child's start): retry later.
    Retry,
    /// A schedule's start ran (the run it made) or could not (why).
    ScheduleStart(endure_core::schedule::StartOutcome),
}

/// Runs cross-workflow tasks: the source-side step on this replica (the owner of the task's
/// run), the target-side step here or on the target's owner.
pub struct CrossWorkflow {
    engine: Arc<Engine>,
    starter: Arc<Starter>,
    namespaces: Arc<Namespaces>,
    ownership: Arc<Ownership>,
    peers: Arc<Peers>,
}

impl CrossWorkflow {
    /// A runner of cross-workflow tasks.
    pub fn new(
        engine: Arc<Engine>,
        starter: Arc<Starter>,
        namespaces: Arc<Namespaces>,
        ownership: Arc<Ownership>,
        peers: Arc<Peers>,
    ) -> Arc<Self> {
        Arc::new(CrossWorkflow { engine, starter, namespaces, ownership, peers })
    }

    /// Runs one cross-workflow task; `Err` means "retry later". The task belongs to the source
    /// run (held here); its target may be held by another replica, which then runs the target-side
    /// step through the internal API.
    pub async fn run(&self, t: TaskRef) -> ApiResult<()> {
        use crate::peer::{WireTask, json, parse};
        let outcome = match self.target_of(&t).await? {
            Some((ns_id, workflow_id))
                if !self.ownership.holds(self.ownership.shard_of(&ns_id, &workflow_id)) =>
            {
                let addr = self.engine.owner_of(&ns_id, &workflow_id)?;
                let body = json(&WireTask::from(&t))?;
                let mut client = self.peers.cluster(&addr)?;
                let reply = client.cross_step(body).await.map_err(ApiError::from_peer)?;
                parse::<Outcome>(reply.get_ref())?
            }
            _ => self.target_step(&t).await?,
        };
        self.source_step(&t, outcome).await
    }

    /// The workflow a cross-workflow task changes, as (namespace id, workflow id); `None` when
    /// there is none to reach (the step then finds the task stale or the target missing here).
    async fn target_of(&self, t: &TaskRef) -> ApiResult<Option<(String, String)>> {
        let source = || async {
            match self.engine.load(&t.run).await {
                Ok(l) => Ok(Some(l.ms)),
                Err(ApiError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        };
        let namespace_id = |ms_ns: String, name: String| async move {
            if name.is_empty() {
                return Ok(Some(ms_ns));
            }
            match self.namespaces.by_name(&name).await {
                Ok(ns) => Ok(Some(ns.id)),
                Err(ApiError::NamespaceNotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        };
        Ok(match &t.task {
            Task::StartChild { initiated_event_id, .. } => {
                let Some(ms) = source().await? else { return Ok(None) };
                let Some(c) = ms.children.get(initiated_event_id) else { return Ok(None) };
                let workflow_id = c.command.as_ref().map(|c| c.workflow_id.clone()).unwrap_or_default();
                let parent_ns = self.namespaces.by_id(&ms.namespace_id).await?;
                let name = if c.namespace == parent_ns.name { String::new() } else { c.namespace.clone() };
                namespace_id(ms.namespace_id.clone(), name).await?.map(|ns| (ns, workflow_id))
            }
            Task::SignalExternal { initiated_event_id, .. } => {
                let Some(ms) = source().await? else { return Ok(None) };
                let Some(r) = ms.external_signals.get(initiated_event_id) else { return Ok(None) };
                namespace_id(ms.namespace_id.clone(), r.namespace.clone())
                    .await?
                    .map(|ns| (ns, r.workflow_id.clone()))
            }
            Task::CancelExternal { initiated_event_id, .. } => {
                let Some(ms) = source().await? else { return Ok(None) };
                let Some(r) = ms.external_cancels.get(initiated_event_id) else { return Ok(None) };
                namespace_id(ms.namespace_id.clone(), r.namespace.clone())
                    .await?
                    .map(|ns| (ns, r.workflow_id.clone()))
            }
            Task::RecordChildClosed { parent, .. } => {
                Some((parent.namespace_id.clone(), parent.workflow_id.clone()))
            }
            Task::ParentClosePolicy { namespace_id, workflow_id, .. } => {
                let ns =
                    if namespace_id.is_empty() { t.run.namespace_id.clone() } else { namespace_id.clone() };
                Some((ns, workflow_id.clone()))
            }
            Task::ScheduleStart { seq, .. } => {
                let Some(ms) = source().await? else { return Ok(None) };
                let workflow_id =
                    ms.scheduler.as_ref().and_then(|s| s.starts.get(seq)).map(|p| p.workflow_id.clone());
                workflow_id.map(|w| (ms.namespace_id.clone(), w))
            }
            Task::ScheduleStopRun { workflow_id, .. } => {
                Some((t.run.namespace_id.clone(), workflow_id.clone()))
            }
            Task::ScheduleWorkflowClosed { schedule_id, .. } => {
                Some((t.run.namespace_id.clone(), endure_core::schedule::workflow_id_of(schedule_id)))
            }
            _ => None,
        })
    }

    /// Records a target-side outcome on the source run (or drops the task).
    async fn source_step(&self, t: &TaskRef, outcome: Outcome) -> ApiResult<()> {
        let initiated = match &t.task {
            Task::StartChild { initiated_event_id, .. }
            | Task::SignalExternal { initiated_event_id, .. }
            | Task::CancelExternal { initiated_event_id, .. } => *initiated_event_id,
            _ => 0,
        };
        let r = match outcome {
            Outcome::Stale | Outcome::Done => return self.engine.drop_task(&t.run, t.task_id).await,
            Outcome::Retry => {
                return Err(ApiError::Unavailable(
                    "the parent has not recorded the child's start yet".into(),
                ));
            }
            Outcome::Child(Ok(run_id)) => {
                self.engine
                    .update(&t.run, Some(t.task_id), |x| x.record_child_started(initiated, &run_id))
                    .await
            }
            Outcome::Child(Err(cause)) => {
                let cause = ChildCause::try_from(cause).unwrap_or(ChildCause::Unspecified);
                self.engine
                    .update(&t.run, Some(t.task_id), |x| x.record_child_start_failed(initiated, cause))
                    .await
            }
            Outcome::Signal(result) => {
                let result = result.map_err(|c| SignalCause::try_from(c).unwrap_or(SignalCause::Unspecified));
                self.engine
                    .update(&t.run, Some(t.task_id), |x| x.record_external_signal(initiated, result))
                    .await
            }
            Outcome::ScheduleStart(outcome) => {
                let Task::ScheduleStart { seq, .. } = &t.task else {
                    return Err(ApiError::Internal("a schedule start's outcome for another task".into()));
                };
                let seq = *seq;
                self.engine.update(&t.run, Some(t.task_id), |x| x.schedule_start_recorded(seq, outcome)).await
            }
            Outcome::Cancel(result) => {
                let result = result.map_err(|c| CancelCause::try_from(c).unwrap_or(CancelCause::Unspecified));
                self.engine
                    .update(&t.run, Some(t.task_id), |x| x.record_external_cancel(initiated, result))
                    .await
            }
        };
        match r {
            Err(ApiError::NotFound(_)) => Ok(()),
            r => r,
        }
    }

    /// The target-side step of a cross-workflow task, on the replica holding the target. Reads the
    /// source run's state (a snapshot: only its owner writes it).
    pub async fn target_step(&self, t: &TaskRef) -> ApiResult<Outcome> {
        let id = t.task_id;
        match t.task.clone() {
            Task::StartChild { initiated_event_id, .. } => self.start_child(t, initiated_event_id).await,
            Task::SignalExternal { initiated_event_id, .. } => {
                self.signal_external(t, initiated_event_id).await
            }
            Task::CancelExternal { initiated_event_id, .. } => {
                self.cancel_external(t, initiated_event_id).await
            }
            Task::RecordChildClosed { parent, close_event, .. } => {
                let ev = HistoryEvent::decode(close_event.as_slice())
                    .map_err(|e| ApiError::Internal(format!("corrupt close event in task {id}: {e}")))?;
                let key = RunKey {
                    namespace_id: parent.namespace_id,
                    workflow_id: parent.workflow_id,
                    run_id: parent.run_id,
                };
                match self
                    .engine
                    .update(&key, None, |x| x.record_child_closed(parent.initiated_event_id, &ev))
                    .await
                {
                    Ok(true) | Err(ApiError::NotFound(_)) => Ok(Outcome::Done),
                    Ok(false) => Ok(Outcome::Retry),
                    Err(e) => Err(e),
                }
            }
            Task::ParentClosePolicy { namespace_id, workflow_id, run_id, policy, .. } => {
                let ns = if namespace_id.is_empty() { t.run.namespace_id.clone() } else { namespace_id };
                let r = match self.engine.resolve_run(&ns, &workflow_id, "").await {
                    Ok(key) => {
                        let reason = "by parent close policy";
                        let policy =
                            ParentClosePolicy::try_from(policy).unwrap_or(ParentClosePolicy::Terminate);
                        self.engine
                            .update(&key, None, |x| {
                                if x.ms.first_execution_run_id != run_id {
                                    return Ok(()); // a different chain now owns the id
                                }
                                match policy {
                                    ParentClosePolicy::RequestCancel => {
                                        let parent =
                                            endure_api::temporal::api::common::v1::WorkflowExecution {
                                                workflow_id: t.run.workflow_id.clone(),
                                                run_id: t.run.run_id.clone(),
                                            };
                                        x.request_cancel_from("", "", Some((parent, 0)))
                                    }
                                    _ => x.terminate(reason, None, ""),
                                }
                            })
                            .await
                    }
                    Err(e) => Err(e),
                };
                match r {
                    Ok(()) | Err(ApiError::NotFound(_)) => Ok(Outcome::Done),
                    Err(e) => Err(e),
                }
            }
            Task::ScheduleStart { seq, .. } => self.schedule_start(t, seq).await,
            Task::ScheduleStopRun { workflow_id, run_id, terminate, .. } => {
                self.schedule_stop(t, &workflow_id, &run_id, terminate).await
            }
            Task::ScheduleWorkflowClosed { schedule_id, close_event, .. } => {
                let ev = HistoryEvent::decode(close_event.as_slice())
                    .map_err(|e| ApiError::Internal(format!("corrupt close event in task {id}: {e}")))?;
                self.schedule_closed(t, &schedule_id, &ev).await
            }
            other => Err(ApiError::Internal(format!("not a cross-workflow task: {other:?}"))),
        }
    }

    async fn start_child(&self, t: &TaskRef, initiated: i64) -> ApiResult<Outcome> {
        let parent = match self.engine.load(&t.run).await {
            Ok(p) => p.ms,
            Err(ApiError::NotFound(_)) => return Ok(Outcome::Stale),
            Err(e) => return Err(e),
        };
        let Some(child) =
            parent.children.get(&initiated).cloned().filter(|c| c.started_event_id == 0 && parent.is_open())
        else {
            return Ok(Outcome::Stale);
        };
        let cmd = child.command.clone().unwrap_or_default();
        let parent_ns = self.namespaces.by_id(&parent.namespace_id).await?;
        let ns = if child.namespace.is_empty() || child.namespace == parent_ns.name {
            Ok(parent_ns.clone())
        } else {
            self.namespaces.by_name(&child.namespace).await
        };
        let span = telemetry::step_span(
            "start child workflow",
            &parent_ns.name,
            &parent.workflow_id,
            &parent.run_id,
            initiated,
            cmd.header.as_ref(),
        );
        let mut header = cmd.header.clone();
        telemetry::pass_on(&mut header, &span);
        let outcome = match ns {
            Ok(ns) => {
                let fields = StartFields {
                    workflow_id: cmd.workflow_id.clone(),
                    workflow_type: cmd.workflow_type.clone(),
                    task_queue: cmd.task_queue.clone(),
                    input: cmd.input.clone(),
                    execution_timeout: cmd.workflow_execution_timeout,
                    run_timeout: cmd.workflow_run_timeout,
                    task_timeout: cmd.workflow_task_timeout,
                    identity: String::new(),
                    request_id: endure_core::children::child_request_id(&parent.run_id, initiated),
                    reuse: cmd.workflow_id_reuse_policy,
                    conflict: WorkflowIdConflictPolicy::Fail as i32,
                    retry_policy: cmd.retry_policy.clone(),
                    cron_schedule: cmd.cron_schedule.clone(),
                    memo: cmd.memo.clone(),
                    header,
                    search_attributes: cmd.search_attributes.clone(),
                    start_delay: None,
                    priority: cmd.priority.clone(),
                    user_metadata: child.user_metadata.clone(),
                    inherited_pinned: child.inherited_pinned.clone(),
                    ..Default::default()
                };
                let (root_workflow_id, root_run_id) = parent.root();
                let info = ParentInfo {
                    root_workflow_id,
                    root_run_id,
                    namespace_id: parent_ns.id.clone(),
                    namespace: parent_ns.name.clone(),
                    workflow_id: parent.workflow_id.clone(),
                    run_id: parent.run_id.clone(),
                    initiated_event_id: initiated,
                };
                match self.starter.start_workflow(&ns, fields, None, Some(info)).instrument(span).await {
                    Ok(s) => Ok(s.run_id),
                    // Started by this very task before an upgrade, under the request id's
                    // older form: that is the child, not a conflict.
                    Err(ApiError::WorkflowAlreadyStarted { start_request_id, run_id, .. })
                        if start_request_id
                            == endure_core::children::request_id(&parent.run_id, initiated) =>
                    {
                        Ok(run_id)
                    }
                    Err(ApiError::WorkflowAlreadyStarted { .. }) => Err(ChildCause::WorkflowAlreadyExists),
                    Err(e) => return Err(e),
                }
            }
            Err(ApiError::NamespaceNotFound(_)) => Err(ChildCause::NamespaceNotFound),
            Err(e) => return Err(e),
        };
        Ok(Outcome::Child(outcome.map_err(|c| c as i32)))
    }

    /// Resolves the target of a signal or cancel request; `None` if it does not exist.
    async fn target(
        &self,
        ns_id: &str,
        ns_name: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> ApiResult<Option<RunKey>> {
        let ns_id = if ns_name.is_empty() {
            ns_id.to_string()
        } else {
            match self.namespaces.by_name(ns_name).await {
                Ok(ns) => ns.id,
                Err(ApiError::NamespaceNotFound(_)) => return Ok(None),
                Err(e) => return Err(e),
            }
        };
        match self.engine.resolve_run(&ns_id, workflow_id, run_id).await {
            Ok(k) => Ok(Some(k)),
            Err(ApiError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn signal_external(&self, t: &TaskRef, initiated: i64) -> ApiResult<Outcome> {
        let ms = match self.engine.load(&t.run).await {
            Ok(l) => l.ms,
            Err(ApiError::NotFound(_)) => return Ok(Outcome::Stale),
            Err(e) => return Err(e),
        };
        let Some(r) = ms.external_signals.get(&initiated).cloned().filter(|_| ms.is_open()) else {
            return Ok(Outcome::Stale);
        };
        let sender = endure_api::temporal::api::common::v1::WorkflowExecution {
            workflow_id: t.run.workflow_id.clone(),
            run_id: t.run.run_id.clone(),
        };
        let span = telemetry::step_span(
            "signal external workflow",
            &self.engine.namespace_name(&ms.namespace_id),
            &t.run.workflow_id,
            &t.run.run_id,
            initiated,
            r.header.as_ref(),
        );
        let mut header = r.header.clone();
        telemetry::pass_on(&mut header, &span);
        let outcome = match self.target(&ms.namespace_id, &r.namespace, &r.workflow_id, &r.run_id).await? {
            None => Err(SignalCause::ExternalWorkflowExecutionNotFound),
            Some(key) => match self
                .engine
                .update(&key, None, |x| {
                    x.signal_from(
                        &r.signal_name,
                        r.input.clone(),
                        "history-service",
                        header.clone(),
                        &r.request_id,
                        Some(sender.clone()),
                    )
                })
                .instrument(span)
                .await
            {
                Ok(_) => Ok(()),
                Err(ApiError::NotFound(_)) => Err(SignalCause::ExternalWorkflowExecutionNotFound),
                Err(e) => return Err(e),
            },
        };
        Ok(Outcome::Signal(outcome.map_err(|c| c as i32)))
    }

    async fn cancel_external(&self, t: &TaskRef, initiated: i64) -> ApiResult<Outcome> {
        let ms = match self.engine.load(&t.run).await {
            Ok(l) => l.ms,
            Err(ApiError::NotFound(_)) => return Ok(Outcome::Stale),
            Err(e) => return Err(e),
        };
        let Some(r) = ms.external_cancels.get(&initiated).cloned().filter(|_| ms.is_open()) else {
            return Ok(Outcome::Stale);
        };
        let sender = endure_api::temporal::api::common::v1::WorkflowExecution {
            workflow_id: t.run.workflow_id.clone(),
            run_id: t.run.run_id.clone(),
        };
        let outcome = match self.target(&ms.namespace_id, &r.namespace, &r.workflow_id, &r.run_id).await? {
            None => Err(CancelCause::ExternalWorkflowExecutionNotFound),
            Some(key) => match self
                .engine
                .update(&key, None, |x| {
                    x.request_cancel_from(&r.reason, "", Some((sender.clone(), initiated)))
                })
                .await
            {
                Ok(()) => Ok(()),
                Err(ApiError::NotFound(_)) => Err(CancelCause::ExternalWorkflowExecutionNotFound),
                Err(e) => return Err(e),
            },
        };
        Ok(Outcome::Cancel(outcome.map_err(|c| c as i32)))
    }
}
