//! Cross-workflow work: child workflows, signals and cancel requests to other workflows.
//!
//! A command records an *initiated* event and a task; the server runs the task against the
//! other workflow and then reports the outcome back to this run through one of the recorder
//! methods below, which append the result event and schedule a workflow task. Request ids are
//! derived from the run id and the initiated event id, so a retried task is idempotent.
// `namespace` and `control` are deprecated in the API but SDKs still send and read them.
#![allow(deprecated)]

use crate::CoreError;
use crate::api::command::v1::{
    RequestCancelExternalWorkflowExecutionCommandAttributes,
    SignalExternalWorkflowExecutionCommandAttributes, StartChildWorkflowExecutionCommandAttributes,
};
use crate::api::common::v1::{WorkflowExecution, WorkflowType};
use crate::api::enums::v1::{
    CancelExternalWorkflowExecutionFailedCause, ParentClosePolicy,
    SignalExternalWorkflowExecutionFailedCause, StartChildWorkflowExecutionFailedCause,
};
use crate::api::history::v1::{self as h, HistoryEvent, history_event::Attributes};
use crate::state::{ChildInfo, ExternalRequest};
use crate::task::Task;
use crate::transition::{Txn, normal_queue};
use prost::Message;

/// Why a cross-workflow command was rejected (becomes a workflow-task failure).
pub(crate) type CommandRejection = String;

/// The deterministic request id of the cross-workflow request initiated by `initiated`.
pub fn request_id(run_id: &str, initiated: i64) -> String {
    format!("{run_id}:{initiated}")
}

/// The namespaces a workflow task's commands may name: the run's own (a command naming none
/// means it) and the ids of those named, as the frontend resolved them.
pub(crate) struct NamespaceNames<'a> {
    pub(crate) own: &'a str,
    pub(crate) ids: &'a std::collections::BTreeMap<String, String>,
    /// A fresh id the frontend made for this command (a signal's request id, random as the real
    /// server's); without one the id is derived from the run and the initiated event.
    pub(crate) fresh_id: Option<&'a str>,
}

impl NamespaceNames<'_> {
    /// The name a command means (its own, or the run's when empty) and that namespace's id
    /// ("" if unknown).
    fn resolve(&self, named: &str) -> (String, String) {
        let name = if named.is_empty() { self.own } else { named };
        (name.to_owned(), self.ids.get(name).cloned().unwrap_or_default())
    }
}

/// The request id a child is started with, as the real server makes it (the parent run, the
/// initiated event and its failover version, always 0 here).
pub fn child_request_id(run_id: &str, initiated: i64) -> String {
    format!("{run_id}:{initiated}:0")
}

impl Txn<'_> {
    pub(crate) fn start_child_command(
        &mut self,
        a: &StartChildWorkflowExecutionCommandAttributes,
        completed_id: i64,
        ns: &NamespaceNames<'_>,
    ) -> Result<(), CommandRejection> {
        if a.workflow_id.is_empty() {
            return Err("WorkflowId is not set on StartChildWorkflowExecutionCommand.".into());
        }
        let ty = a.workflow_type.clone().filter(|t| !t.name.is_empty());
        let Some(ty) = ty else {
            return Err("WorkflowType is not set on StartChildWorkflowExecutionCommand.".into());
        };
        if let Some(p) = &a.retry_policy {
            crate::retry::validate(p)?;
        }
        let mut a = a.clone();
        if a.task_queue.as_ref().is_none_or(|q| q.name.is_empty()) {
            a.task_queue = Some(normal_queue(&self.ms.task_queue));
        }
        if a.workflow_task_timeout.is_none() {
            a.workflow_task_timeout = Some(crate::time::to_duration(self.ms.task_timeout));
        }
        // What the real server writes for what the command left unset.
        let (namespace, namespace_id) = ns.resolve(&a.namespace);
        a.namespace = namespace;
        if let Some(q) = a.task_queue.as_mut().filter(|q| q.kind == 0) {
            q.kind = crate::api::enums::v1::TaskQueueKind::Normal as i32;
        }
        if a.workflow_run_timeout.is_none() {
            a.workflow_run_timeout = Some(crate::time::to_duration(0));
        }
        if a.parent_close_policy == 0 {
            a.parent_close_policy = ParentClosePolicy::Terminate as i32;
        }
        if a.workflow_id_reuse_policy == 0 {
            a.workflow_id_reuse_policy = crate::api::enums::v1::WorkflowIdReusePolicy::AllowDuplicate as i32;
        }
        let id = self.append(Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(
            h::StartChildWorkflowExecutionInitiatedEventAttributes {
                namespace: a.namespace.clone(),
                namespace_id: namespace_id.clone(),
                workflow_id: a.workflow_id.clone(),
                workflow_type: Some(ty.clone()),
                task_queue: a.task_queue.clone(),
                input: a.input.clone(),
                workflow_execution_timeout: a.workflow_execution_timeout,
                workflow_run_timeout: a.workflow_run_timeout,
                workflow_task_timeout: a.workflow_task_timeout,
                parent_close_policy: a.parent_close_policy,
                control: a.control.clone(),
                workflow_task_completed_event_id: completed_id,
                workflow_id_reuse_policy: a.workflow_id_reuse_policy,
                retry_policy: a.retry_policy.clone(),
                cron_schedule: a.cron_schedule.clone(),
                header: a.header.clone(),
                memo: a.memo.clone(),
                search_attributes: a.search_attributes.clone(),
                ..Default::default()
            },
        ));
        // A pinned parent's child on the parent's task queue starts on the parent's version.
        let same_queue =
            a.task_queue.as_ref().is_none_or(|q| q.name.is_empty() || q.name == self.ms.task_queue);
        let inherited_pinned = self
            .ms
            .versioning
            .as_deref()
            .filter(|v| v.effective_behavior() == crate::api::enums::v1::VersioningBehavior::Pinned as i32)
            .and_then(|v| v.effective_version())
            .filter(|_| same_queue);
        self.ms.children.insert(
            id,
            ChildInfo {
                initiated_event_id: id,
                started_event_id: 0,
                namespace: a.namespace.clone(),
                namespace_id,
                workflow_id: a.workflow_id.clone(),
                run_id: String::new(),
                workflow_type: ty.name,
                parent_close_policy: a.parent_close_policy,
                inherited_pinned,
                command: Some(a),
                user_metadata: None,
            },
        );
        self.tasks.push(Task::StartChild { fire_at: self.now, initiated_event_id: id });
        Ok(())
    }

    pub(crate) fn signal_external_command(
        &mut self,
        a: &SignalExternalWorkflowExecutionCommandAttributes,
        completed_id: i64,
        ns: &NamespaceNames<'_>,
    ) -> Result<(), CommandRejection> {
        // The initiated event keeps the name as the command gave it, the outcome's carries the
        // resolved one, both the id (the real server's way).
        let (namespace, namespace_id) = ns.resolve(&a.namespace);
        let exec = a.execution.clone().unwrap_or_default();
        if exec.workflow_id.is_empty() {
            return Err("WorkflowId is not set on SignalExternalWorkflowExecutionCommand.".into());
        }
        if a.signal_name.is_empty() {
            return Err("SignalName is not set on SignalExternalWorkflowExecutionCommand.".into());
        }
        let id = self.append(Attributes::SignalExternalWorkflowExecutionInitiatedEventAttributes(
            h::SignalExternalWorkflowExecutionInitiatedEventAttributes {
                workflow_task_completed_event_id: completed_id,
                namespace: a.namespace.clone(),
                namespace_id: namespace_id.clone(),
                workflow_execution: Some(exec.clone()),
                signal_name: a.signal_name.clone(),
                input: a.input.clone(),
                control: a.control.clone(),
                child_workflow_only: a.child_workflow_only,
                header: a.header.clone(),
            },
        ));
        let request_id = ns.fresh_id.map_or_else(|| request_id(&self.ms.run_id, id), str::to_owned);
        self.ms.external_signals.insert(
            id,
            ExternalRequest {
                initiated_event_id: id,
                namespace,
                namespace_id,
                workflow_id: exec.workflow_id,
                run_id: exec.run_id,
                signal_name: a.signal_name.clone(),
                input: a.input.clone(),
                header: a.header.clone(),
                control: a.control.clone(),
                reason: String::new(),
                request_id,
            },
        );
        self.tasks.push(Task::SignalExternal { fire_at: self.now, initiated_event_id: id });
        Ok(())
    }

    pub(crate) fn cancel_external_command(
        &mut self,
        a: &RequestCancelExternalWorkflowExecutionCommandAttributes,
        completed_id: i64,
        ns: &NamespaceNames<'_>,
    ) -> Result<(), CommandRejection> {
        let (namespace, namespace_id) = ns.resolve(&a.namespace);
        if a.workflow_id.is_empty() {
            return Err("WorkflowId is not set on RequestCancelExternalWorkflowExecutionCommand.".into());
        }
        let exec = WorkflowExecution { workflow_id: a.workflow_id.clone(), run_id: a.run_id.clone() };
        let id = self.append(Attributes::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(
            h::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes {
                workflow_task_completed_event_id: completed_id,
                namespace: a.namespace.clone(),
                namespace_id: namespace_id.clone(),
                workflow_execution: Some(exec),
                control: a.control.clone(),
                child_workflow_only: a.child_workflow_only,
                reason: a.reason.clone(),
            },
        ));
        let request_id = request_id(&self.ms.run_id, id);
        self.ms.external_cancels.insert(
            id,
            ExternalRequest {
                initiated_event_id: id,
                namespace,
                namespace_id,
                workflow_id: a.workflow_id.clone(),
                run_id: a.run_id.clone(),
                control: a.control.clone(),
                reason: a.reason.clone(),
                request_id,
                ..Default::default()
            },
        );
        self.tasks.push(Task::CancelExternal { fire_at: self.now, initiated_event_id: id });
        Ok(())
    }

    // ------------------------------------------------------------- recorders

    /// The child of `initiated` started as `run_id`.
    pub fn record_child_started(&mut self, initiated: i64, run_id: &str) -> Result<(), CoreError> {
        self.require_open()?;
        let Some(c) = self.ms.children.get(&initiated).cloned() else { return Ok(()) };
        if c.started_event_id != 0 {
            return Ok(());
        }
        let header = c.command.as_ref().and_then(|a| a.header.clone());
        self.append_or_buffer(Attributes::ChildWorkflowExecutionStartedEventAttributes(
            h::ChildWorkflowExecutionStartedEventAttributes {
                namespace: c.namespace.clone(),
                namespace_id: c.namespace_id.clone(),
                initiated_event_id: initiated,
                workflow_execution: Some(WorkflowExecution {
                    workflow_id: c.workflow_id.clone(),
                    run_id: run_id.to_string(),
                }),
                workflow_type: Some(WorkflowType { name: c.workflow_type.clone() }),
                header,
            },
        ));
        // A buffered event gets its id when flushed (see `flush_buffered`); -1 means "started,
        // id pending".
        let buffered = self.ms.workflow_task.as_ref().is_some_and(|w| w.is_started());
        let started_id = if buffered { -1 } else { self.ms.next_event_id - 1 };
        if let Some(c) = self.ms.children.get_mut(&initiated) {
            c.started_event_id = started_id;
            c.run_id = run_id.to_string();
        }
        self.schedule_workflow_task();
        Ok(())
    }

    /// The child of `initiated` could not start.
    pub fn record_child_start_failed(
        &mut self,
        initiated: i64,
        cause: StartChildWorkflowExecutionFailedCause,
    ) -> Result<(), CoreError> {
        self.require_open()?;
        let Some(c) = self.ms.children.remove(&initiated) else { return Ok(()) };
        let control = c.command.as_ref().map(|a| a.control.clone()).unwrap_or_default();
        self.append_or_buffer(Attributes::StartChildWorkflowExecutionFailedEventAttributes(
            h::StartChildWorkflowExecutionFailedEventAttributes {
                namespace: c.namespace,
                namespace_id: c.namespace_id,
                workflow_id: c.workflow_id,
                workflow_type: Some(WorkflowType { name: c.workflow_type }),
                cause: cause as i32,
                control,
                initiated_event_id: initiated,
                ..Default::default()
            },
        ));
        self.schedule_workflow_task();
        Ok(())
    }

    /// The child of `initiated` closed with `close_event` (its last event).
    pub fn record_child_closed(
        &mut self,
        initiated: i64,
        close_event: &HistoryEvent,
    ) -> Result<bool, CoreError> {
        self.require_open()?;
        let Some(c) = self.ms.children.get(&initiated).cloned() else { return Ok(true) };
        if c.started_event_id == 0 {
            return Ok(false); // the started record has not landed yet: try again later
        }
        self.ms.children.remove(&initiated);
        let started_event_id = c.started_event_id;
        let exec = Some(WorkflowExecution { workflow_id: c.workflow_id.clone(), run_id: c.run_id.clone() });
        let ty = Some(WorkflowType { name: c.workflow_type.clone() });
        let (ns, ns_id) = (c.namespace.clone(), c.namespace_id.clone());
        use Attributes as A;
        let attrs = match &close_event.attributes {
            Some(A::WorkflowExecutionCompletedEventAttributes(x)) => {
                A::ChildWorkflowExecutionCompletedEventAttributes(
                    h::ChildWorkflowExecutionCompletedEventAttributes {
                        result: x.result.clone(),
                        namespace: ns,
                        namespace_id: ns_id,
                        workflow_execution: exec,
                        workflow_type: ty,
                        initiated_event_id: initiated,
                        started_event_id,
                    },
                )
            }
            Some(A::WorkflowExecutionFailedEventAttributes(x)) => {
                A::ChildWorkflowExecutionFailedEventAttributes(
                    h::ChildWorkflowExecutionFailedEventAttributes {
                        failure: x.failure.clone(),
                        namespace: ns,
                        namespace_id: ns_id,
                        workflow_execution: exec,
                        workflow_type: ty,
                        initiated_event_id: initiated,
                        started_event_id,
                        retry_state: x.retry_state,
                    },
                )
            }
            Some(A::WorkflowExecutionCanceledEventAttributes(x)) => {
                A::ChildWorkflowExecutionCanceledEventAttributes(
                    h::ChildWorkflowExecutionCanceledEventAttributes {
                        details: x.details.clone(),
                        namespace: ns,
                        namespace_id: ns_id,
                        workflow_execution: exec,
                        workflow_type: ty,
                        initiated_event_id: initiated,
                        started_event_id,
                    },
                )
            }
            Some(A::WorkflowExecutionTimedOutEventAttributes(x)) => {
                A::ChildWorkflowExecutionTimedOutEventAttributes(
                    h::ChildWorkflowExecutionTimedOutEventAttributes {
                        namespace: ns,
                        namespace_id: ns_id,
                        workflow_execution: exec,
                        workflow_type: ty,
                        initiated_event_id: initiated,
                        started_event_id,
                        retry_state: x.retry_state,
                    },
                )
            }
            _ => A::ChildWorkflowExecutionTerminatedEventAttributes(
                h::ChildWorkflowExecutionTerminatedEventAttributes {
                    namespace: ns,
                    namespace_id: ns_id,
                    workflow_execution: exec,
                    workflow_type: ty,
                    initiated_event_id: initiated,
                    started_event_id,
                },
            ),
        };
        self.append_or_buffer(attrs);
        self.schedule_workflow_task();
        Ok(true)
    }

    /// The signal initiated by `initiated` was delivered (`Ok`) or could not be (`Err(cause)`).
    pub fn record_external_signal(
        &mut self,
        initiated: i64,
        outcome: Result<(), SignalExternalWorkflowExecutionFailedCause>,
    ) -> Result<(), CoreError> {
        self.require_open()?;
        let Some(r) = self.ms.external_signals.remove(&initiated) else { return Ok(()) };
        let exec = Some(WorkflowExecution { workflow_id: r.workflow_id.clone(), run_id: r.run_id.clone() });
        let attrs = match outcome {
            Ok(()) => Attributes::ExternalWorkflowExecutionSignaledEventAttributes(
                h::ExternalWorkflowExecutionSignaledEventAttributes {
                    initiated_event_id: initiated,
                    namespace: r.namespace,
                    namespace_id: r.namespace_id,
                    workflow_execution: exec,
                    control: r.control,
                },
            ),
            Err(cause) => Attributes::SignalExternalWorkflowExecutionFailedEventAttributes(
                h::SignalExternalWorkflowExecutionFailedEventAttributes {
                    cause: cause as i32,
                    namespace: r.namespace,
                    namespace_id: r.namespace_id,
                    workflow_execution: exec,
                    initiated_event_id: initiated,
                    control: r.control,
                    ..Default::default()
                },
            ),
        };
        self.append_or_buffer(attrs);
        self.schedule_workflow_task();
        Ok(())
    }

    /// The cancel request initiated by `initiated` was delivered or failed.
    pub fn record_external_cancel(
        &mut self,
        initiated: i64,
        outcome: Result<(), CancelExternalWorkflowExecutionFailedCause>,
    ) -> Result<(), CoreError> {
        self.require_open()?;
        let Some(r) = self.ms.external_cancels.remove(&initiated) else { return Ok(()) };
        let exec = Some(WorkflowExecution { workflow_id: r.workflow_id.clone(), run_id: r.run_id.clone() });
        let attrs = match outcome {
            Ok(()) => Attributes::ExternalWorkflowExecutionCancelRequestedEventAttributes(
                h::ExternalWorkflowExecutionCancelRequestedEventAttributes {
                    initiated_event_id: initiated,
                    namespace: r.namespace,
                    namespace_id: r.namespace_id,
                    workflow_execution: exec,
                },
            ),
            Err(cause) => Attributes::RequestCancelExternalWorkflowExecutionFailedEventAttributes(
                h::RequestCancelExternalWorkflowExecutionFailedEventAttributes {
                    cause: cause as i32,
                    namespace: r.namespace,
                    namespace_id: r.namespace_id,
                    workflow_execution: exec,
                    initiated_event_id: initiated,
                    control: r.control,
                    ..Default::default()
                },
            ),
        };
        self.append_or_buffer(attrs);
        self.schedule_workflow_task();
        Ok(())
    }

    /// Tasks a closing run owes others: the close report to its parent (unless a successor
    /// continues the chain) and its children's parent close policies.
    pub(crate) fn close_side_effects(&mut self, close_event_id: i64, has_successor: bool) {
        if !has_successor
            && let Some(parent) = self.ms.parent.clone()
            && let Some(ev) = self.events.iter().find(|e| e.event_id == close_event_id)
        {
            self.tasks.push(Task::RecordChildClosed {
                fire_at: self.now,
                parent,
                child_workflow_id: self.ms.workflow_id.clone(),
                close_event: ev.encode_to_vec(),
            });
        }
        if !has_successor
            && let Some(schedule_id) = self.ms.scheduled_by()
            && let Some(ev) = self.events.iter().find(|e| e.event_id == close_event_id)
        {
            self.tasks.push(Task::ScheduleWorkflowClosed {
                fire_at: self.now,
                schedule_id,
                close_event: ev.encode_to_vec(),
            });
        }
        let children: Vec<ChildInfo> = std::mem::take(&mut self.ms.children).into_values().collect();
        for c in children {
            let policy =
                ParentClosePolicy::try_from(c.parent_close_policy).unwrap_or(ParentClosePolicy::Unspecified);
            if c.run_id.is_empty() || policy == ParentClosePolicy::Abandon {
                continue;
            }
            self.tasks.push(Task::ParentClosePolicy {
                fire_at: self.now,
                namespace_id: String::new(),
                workflow_id: c.workflow_id,
                run_id: c.run_id,
                // Unspecified means Terminate, as on the real server.
                policy: if policy == ParentClosePolicy::Unspecified {
                    ParentClosePolicy::Terminate as i32
                } else {
                    policy as i32
                },
            });
        }
    }
}
