//! Starting runs: the id reuse and conflict policies, request-id idempotency and validation,
//! shared by StartWorkflowExecution, SignalWithStartWorkflowExecution and child workflows.
//!
//! It does not know the request's transport: the frontend and the executor (child starts) fill
//! in [`StartFields`].
#![allow(deprecated)] // WorkflowIdReusePolicy::TerminateIfRunning is deprecated but still sent by clients.

use crate::error::{ApiError, ApiResult};
use crate::history::{Engine, NewRun, WorkflowLock};
use crate::namespaces::Namespace;
use crate::search_attributes::SearchAttributeRegistry;
use crate::validate::{check_blob, check_id, check_length};
use endure_api::temporal::api::common::v1::{
    Header, Memo, Payloads, RetryPolicy, SearchAttributes, WorkflowType,
};
use endure_api::temporal::api::enums::v1::{
    WorkflowExecutionStatus as Status, WorkflowIdConflictPolicy as Conflict, WorkflowIdReusePolicy as Reuse,
};
use endure_api::temporal::api::taskqueue::v1::TaskQueue;
use endure_api::temporal::api::update::v1::Request as UpdateRequest;
use endure_core::retry;
use endure_core::state::ParentInfo;
use endure_core::time;
use endure_core::transition::{InitialSignal, StartRun};
use endure_core::updates::Admission;
use endure_core::{MutableState, Txn};
use endure_store::{CurrentCondition, RunKey};
use std::sync::Arc;

/// The fields of StartWorkflowExecution and SignalWithStartWorkflowExecution in one shape.
#[derive(Default, Clone)]
pub struct StartFields {
    /// Workflow id.
    pub workflow_id: String,
    /// Workflow type.
    pub workflow_type: Option<WorkflowType>,
    /// Task queue.
    pub task_queue: Option<TaskQueue>,
    /// Input of the first run.
    pub input: Option<Payloads>,
    /// Execution timeout (the whole chain of runs).
    pub execution_timeout: Option<prost_wkt_types::Duration>,
    /// Run timeout.
    pub run_timeout: Option<prost_wkt_types::Duration>,
    /// Workflow task timeout.
    pub task_timeout: Option<prost_wkt_types::Duration>,
    /// Identity of the caller.
    pub identity: String,
    /// Request id (idempotency).
    pub request_id: String,
    /// `WorkflowIdReusePolicy` number.
    pub reuse: i32,
    /// `WorkflowIdConflictPolicy` number.
    pub conflict: i32,
    /// Workflow retry policy.
    pub retry_policy: Option<RetryPolicy>,
    /// Cron schedule (empty: none).
    pub cron_schedule: String,
    /// Memo.
    pub memo: Option<Memo>,
    /// Header.
    pub header: Option<Header>,
    /// Search attributes.
    pub search_attributes: Option<SearchAttributes>,
    /// Delay before the first workflow task.
    pub start_delay: Option<prost_wkt_types::Duration>,
    /// Priority and fairness.
    pub priority: Option<endure_api::temporal::api::common::v1::Priority>,
    /// Summary and details.
    pub user_metadata: Option<endure_api::temporal::api::sdk::v1::UserMetadata>,
    /// Search attributes the server itself sets (a schedule's `TemporalScheduledById` …):
    /// added to `search_attributes` after validation, which would refuse them from a client.
    pub server_search_attributes: Option<SearchAttributes>,
    /// The failure of the run before (a schedule's last failed run).
    pub continued_failure: Option<endure_api::temporal::api::failure::v1::Failure>,
    /// The result of the run before (a schedule's last successful run).
    pub last_completion_result: Option<Payloads>,
    /// A versioning override given at the start.
    pub versioning_override: Option<endure_api::temporal::api::workflow::v1::VersioningOverride>,
    /// The pinned parent's version a child starts on.
    pub inherited_pinned: Option<endure_core::deployment::Version>,
}

/// Outcome of a start.
pub struct Started {
    /// True if this call created the run (not an idempotent retry or existing run).
    pub fresh: bool,
    /// The run id started, or found.
    pub run_id: String,
    /// True if a run was started (now or by an earlier call with this request id).
    pub started: bool,
    /// With an update (Update-with-Start): how the run found or started took it.
    pub admission: Option<Admission>,
    /// The run's status (`WorkflowExecutionStatus` number): running, unless an update attached
    /// to one that already completed in a closed run.
    pub status: i32,
}

impl Started {
    fn running(run_id: String, started: bool, fresh: bool, admission: Option<Admission>) -> Self {
        Started { run_id, started, fresh, admission, status: Status::Running as i32 }
    }
}

/// Starts runs on the engine.
pub struct Starter {
    engine: Arc<Engine>,
    search_attributes: Arc<SearchAttributeRegistry>,
}

impl Starter {
    /// A starter over `engine`, checking search attributes against `search_attributes`.
    pub fn new(engine: Arc<Engine>, search_attributes: Arc<SearchAttributeRegistry>) -> Arc<Self> {
        Arc::new(Starter { engine, search_attributes })
    }

    /// Checks a start request, its search attributes against the namespace's.
    pub async fn validate(&self, ns: &Namespace, f: &StartFields) -> ApiResult<()> {
        self.validate_start(f)?;
        if let Some(sa) = f.search_attributes.as_ref().filter(|s| !s.indexed_fields.is_empty()) {
            let types = self.search_attributes.of(&ns.id).await?;
            crate::search_attributes::validate(&ns.name, &types, sa, false, self.engine.limits())
                .map_err(ApiError::InvalidArgument)?;
        }
        Ok(())
    }

    fn validate_start(&self, f: &StartFields) -> ApiResult<()> {
        check_id(&f.workflow_id, "WorkflowId")?;
        let ty = f.workflow_type.as_ref().map(|t| t.name.as_str()).unwrap_or_default();
        if ty.is_empty() {
            return Err(ApiError::InvalidArgument("WorkflowType is not set on request.".into()));
        }
        check_length(ty, "WorkflowType exceeds length limit.")?;
        let tq = f.task_queue.as_ref().map(|t| t.name.as_str()).unwrap_or_default();
        if tq.is_empty() {
            return Err(ApiError::InvalidArgument("TaskQueue is not set on request.".into()));
        }
        check_length(tq, "TaskQueue length exceeds limit.")?;
        check_length(&f.request_id, "RequestId length exceeds limit.")?;
        for (d, name) in [
            (&f.execution_timeout, "WorkflowExecutionTimeout"),
            (&f.run_timeout, "WorkflowRunTimeout"),
            (&f.task_timeout, "WorkflowTaskTimeout"),
            (&f.start_delay, "WorkflowStartDelay"),
        ] {
            if time::is_negative(d) {
                return Err(ApiError::InvalidArgument(format!("Invalid {name}.")));
            }
        }
        if let Some(p) = &f.retry_policy {
            retry::validate(p).map_err(ApiError::InvalidArgument)?;
        }
        check_blob(&f.input, self.engine.limits())?;
        if self.engine.limits().memo_too_large(endure_core::limits::memo_size(&f.memo)) {
            return Err(ApiError::InvalidArgument("Memo size exceeds limit.".into()));
        }
        if !f.cron_schedule.is_empty() {
            endure_core::successor::cron_delay(&f.cron_schedule, self.engine.now())
                .map_err(ApiError::InvalidArgument)?;
            if time::opt_duration(&f.start_delay) > 0 {
                return Err(ApiError::InvalidArgument(
                    "CronSchedule and WorkflowStartDelay may not be used together.".into(),
                ));
            }
        }
        if f.reuse == Reuse::TerminateIfRunning as i32 && f.conflict != Conflict::Unspecified as i32 {
            return Err(ApiError::InvalidArgument(
                "Invalid WorkflowIDReusePolicy: WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING cannot be used together with a WorkflowIDConflictPolicy"
                    .into(),
            ));
        }
        if f.reuse == Reuse::RejectDuplicate as i32 && f.conflict == Conflict::TerminateExisting as i32 {
            return Err(ApiError::InvalidArgument(
                "Invalid WorkflowIDReusePolicy: WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE cannot be used together with WorkflowIdConflictPolicy WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Starts a run (or returns the existing one per the id policies). With `signal`, a
    /// running workflow is signalled instead and a new run starts with the signal recorded.
    /// `parent` makes the run a child workflow.
    pub async fn start_workflow(
        &self,
        ns: &Namespace,
        f: StartFields,
        signal: Option<InitialSignal>,
        parent: Option<ParentInfo>,
    ) -> ApiResult<Started> {
        Ok(self.start_workflow_holding_lock(ns, f, signal, parent).await?.0)
    }

    /// [`Starter::start_workflow`], returning with the workflow id still locked: an eager start
    /// records its first workflow task as started before any poller can take it.
    pub async fn start_workflow_holding_lock(
        &self,
        ns: &Namespace,
        f: StartFields,
        signal: Option<InitialSignal>,
        parent: Option<ParentInfo>,
    ) -> ApiResult<(Started, WorkflowLock<'_>)> {
        self.validate(ns, &f).await?;
        let lock = self.engine.lock(&ns.id, &f.workflow_id).await;
        let started = self.start_locked(ns, f, signal, None, parent).await?;
        Ok((started, lock))
    }

    /// Update-with-Start: starts a run (or finds the running one, per the id policies) and
    /// admits `update` into it, in the same transaction as the start when the run is new, so a
    /// worker's first task carries the update. As the real server: an update the current run
    /// (open or closed) already completed is its answer; the same start again, or an update the
    /// running run already has, attaches to that run whatever the conflict policy. The caller
    /// has validated `f` ([`Starter::validate`]).
    pub async fn start_with_update(
        &self,
        ns: &Namespace,
        f: StartFields,
        update: UpdateRequest,
    ) -> ApiResult<Started> {
        let engine = &self.engine;
        let _lock = engine.lock(&ns.id, &f.workflow_id).await;
        let update_id = update.meta.as_ref().map(|m| m.update_id.clone()).unwrap_or_default();
        if let Some(cur) = engine.current_run(&ns.id, &f.workflow_id).await? {
            let key = RunKey {
                namespace_id: ns.id.clone(),
                workflow_id: f.workflow_id.clone(),
                run_id: cur.run_id.clone(),
            };
            let ms = engine.load(&key).await?.ms;
            // An update this run already completed is answered, whatever the policies say.
            if let Some(ev) = ms.completed_updates.get(&update_id) {
                let admission = Some(Admission::Completed(*ev));
                return Ok(Started {
                    run_id: cur.run_id,
                    started: false,
                    fresh: false,
                    admission,
                    status: ms.status,
                });
            }
            let same_start = !f.request_id.is_empty() && cur.start_request_id == f.request_id;
            if cur.status == Status::Running as i32 {
                // The same start again, an update it already has, or a start that uses the
                // running run: the update goes to that run.
                if same_start
                    || ms.updates.contains_key(&update_id)
                    || f.conflict == Conflict::UseExisting as i32
                {
                    let admission = engine.update_locked(&key, None, |t| t.admit_update(update)).await?;
                    return Ok(Started::running(cur.run_id, false, false, Some(admission)));
                }
            } else if same_start {
                // The start this request repeats made a run that has closed since: no new run
                // for it, and the caller may retry (as the real server answers).
                return Err(ApiError::Unavailable("Workflow was not started: StartDeduped".into()));
            }
        }
        self.start_locked(ns, f, None, Some(update), None).await
    }

    async fn start_locked(
        &self,
        ns: &Namespace,
        f: StartFields,
        signal: Option<InitialSignal>,
        update: Option<UpdateRequest>,
        parent: Option<ParentInfo>,
    ) -> ApiResult<Started> {
        let mut f = f;
        if let Some(sa) = f.search_attributes.as_mut().filter(|s| !s.indexed_fields.is_empty()) {
            // Stored with their types, as the real server stores a start's search attributes.
            let types = self.search_attributes.of(&ns.id).await?;
            crate::search_attributes::values::add_types(&types, sa);
        }
        let engine = &self.engine;
        let run_id = self.engine.new_run_id();
        let current = engine.current_run(&ns.id, &f.workflow_id).await?;
        let mut condition = CurrentCondition::Absent;
        if let Some(cur) = current {
            let key = RunKey {
                namespace_id: ns.id.clone(),
                workflow_id: f.workflow_id.clone(),
                run_id: cur.run_id.clone(),
            };
            let first_run = match engine.load(&key).await {
                Ok(l) => l.ms.first_execution_run_id,
                Err(_) => cur.run_id.clone(),
            };
            let already = |msg: String| ApiError::WorkflowAlreadyStarted {
                message: msg,
                start_request_id: cur.start_request_id.clone(),
                run_id: cur.run_id.clone(),
                first_execution_run_id: first_run.clone(),
            };
            if cur.status == Status::Running as i32 {
                let terminate = f.conflict == Conflict::TerminateExisting as i32
                    || f.reuse == Reuse::TerminateIfRunning as i32;
                // Signal-with-start signals the running run, unless its policy says to replace
                // it (then the new run gets the signal), as the real server does.
                if let Some(sig) = signal.clone().filter(|_| !terminate) {
                    engine
                        .update_locked(&key, None, |t| {
                            t.signal(
                                &sig.name,
                                sig.input.clone(),
                                &sig.identity,
                                sig.header.clone(),
                                &sig.request_id,
                            )
                        })
                        .await?;
                    return Ok(Started::running(cur.run_id, false, false, None));
                }
                if !f.request_id.is_empty() && cur.start_request_id == f.request_id {
                    return Ok(Started::running(cur.run_id, true, false, None));
                }
                if f.conflict == Conflict::UseExisting as i32 {
                    return Ok(Started::running(cur.run_id, false, false, None));
                } else if terminate {
                    // As the real server words it, naming the run that replaces it.
                    let details = json_payloads(&format!("terminated by new runID: {run_id}"));
                    let reason = "TerminateIfRunning WorkflowIdReusePolicy";
                    engine
                        .update_locked(&key, None, |t| t.terminate(reason, details, "history-service"))
                        .await?;
                } else {
                    return Err(already(format!(
                        "Workflow execution is already running. WorkflowId: {}, RunId: {}.",
                        f.workflow_id, cur.run_id
                    )));
                }
            } else {
                if !f.request_id.is_empty()
                    && cur.start_request_id == f.request_id
                    && signal.is_none()
                    && update.is_none()
                {
                    return Ok(Started::running(cur.run_id, true, false, None));
                }
                let failed = [Status::Failed, Status::Canceled, Status::Terminated, Status::TimedOut]
                    .iter()
                    .any(|s| *s as i32 == cur.status);
                let reuse = Reuse::try_from(f.reuse).unwrap_or(Reuse::Unspecified);
                match reuse {
                    Reuse::RejectDuplicate => {
                        return Err(already(format!(
                            "Workflow execution already finished. WorkflowId: {}, RunId: {}. Workflow Id reuse policy: reject duplicate workflow Id.",
                            f.workflow_id, cur.run_id
                        )));
                    }
                    Reuse::AllowDuplicateFailedOnly if !failed => {
                        return Err(already(format!(
                            "Workflow execution already finished successfully. WorkflowId: {}, RunId: {}. Workflow Id reuse policy: allow duplicate workflow Id if last run failed.",
                            f.workflow_id, cur.run_id
                        )));
                    }
                    _ => {}
                }
            }
            condition = CurrentCondition::RunIs(cur.run_id);
        }
        let start_delay = match f.cron_schedule.as_str() {
            "" => time::opt_duration(&f.start_delay),
            cron => {
                endure_core::successor::cron_delay(cron, engine.now()).map_err(ApiError::InvalidArgument)?
            }
        };
        // The first run of a cron schedule already counts as started by the schedule.
        let initiator = if f.cron_schedule.is_empty() {
            0
        } else {
            endure_api::temporal::api::enums::v1::ContinueAsNewInitiator::CronSchedule as i32
        };
        let start = StartRun {
            namespace_id: ns.id.clone(),
            workflow_id: f.workflow_id.clone(),
            run_id: run_id.clone(),
            workflow_type: f.workflow_type.unwrap_or_default(),
            task_queue: f.task_queue.map(|t| t.name).unwrap_or_default(),
            input: f.input,
            execution_timeout: time::opt_duration(&f.execution_timeout),
            run_timeout: time::opt_duration(&f.run_timeout),
            task_timeout: time::opt_duration(&f.task_timeout),
            identity: f.identity,
            request_id: f.request_id,
            retry_policy: f.retry_policy,
            cron_schedule: f.cron_schedule,
            memo: f.memo,
            header: f.header,
            search_attributes: merge_search_attributes(f.search_attributes, f.server_search_attributes),
            continued_failure: f.continued_failure,
            last_completion_result: f.last_completion_result,
            priority: f.priority,
            user_metadata: f.user_metadata,
            versioning_override: f.versioning_override,
            inherited_pinned: f.inherited_pinned,
            start_delay,
            initial_signal: signal,
            parent,
            // The first run of a cron schedule already counts as started by the schedule.
            initiator,
            ..Default::default()
        };
        let mut ms = MutableState::default();
        let mut txn = Txn::start(&mut ms, engine.now(), start);
        txn.limits = *engine.limits();
        let admission = match update {
            Some(u) => Some(txn.admit_update(u)?),
            None => None,
        };
        let (events, tasks) = (txn.events, txn.tasks);
        engine.create_run(NewRun { ms: &ms, events, tasks, condition }).await?;
        Ok(Started::running(run_id, true, true, admission))
    }
}

/// A client's search attributes with the server's own added.
fn merge_search_attributes(
    client: Option<SearchAttributes>,
    server: Option<SearchAttributes>,
) -> Option<SearchAttributes> {
    match (client, server) {
        (Some(mut c), Some(s)) => {
            c.indexed_fields.extend(s.indexed_fields);
            Some(c)
        }
        (c, s) => c.or(s),
    }
}

/// A JSON string as Temporal payloads (the details the server itself writes).
fn json_payloads(text: &str) -> Option<Payloads> {
    let data = serde_json::to_vec(text).ok()?;
    Some(Payloads {
        payloads: vec![endure_api::temporal::api::common::v1::Payload {
            metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into_iter().collect(),
            data,
            ..Default::default()
        }],
    })
}
