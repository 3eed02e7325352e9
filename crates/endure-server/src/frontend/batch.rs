//! Batch operations: StartBatchOperation, StopBatchOperation, DescribeBatchOperation and
//! ListBatchOperations, and the frontend's side of a job's work ([`BatchTargets`]): listing its
//! targets like ListWorkflowExecutions and acting on each through the same RPC handlers (so
//! forwarding, validation and limits are the same as a client's).
//!
//! A job is a system run named by its job id (`endure_core::batch`); these handlers validate a
//! request as the real server does, create the run, and present it.
#![allow(deprecated)] // `executions` and `reset_reapply_type` are deprecated but still sent by clients.

use super::query_check::check;
use super::{Frontend, WorkflowFrontend};
use crate::batcher::BatchTargets;
use crate::error::{ApiError, ApiResult};
use crate::history::NewRun;
use endure_api::temporal::api::common::v1::{Execution, Payload, WorkflowExecution};
use endure_api::temporal::api::enums::v1::{
    EventType, ExecutionType, ResetReapplyExcludeType, ResetReapplyType, ResetType,
    WorkflowExecutionStatus as Status,
};
use endure_api::temporal::api::history::v1::HistoryEvent;
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_api::temporal::api::workflowservice::v1::start_batch_operation_request::Operation;
use endure_api::workflowservice::workflow_service_server::WorkflowService;
use endure_core::batch::{self, NAMESPACE_DIVISION, Target};
use endure_core::batcher::NewBatch;
use endure_core::schedule::NAMESPACE_DIVISION_ATTR;
use endure_core::time;
use endure_store::visibility::{Attr, FilterExpr, SaType, Scalar};
use endure_store::{CurrentCondition, VisibilityFilter};
use std::sync::OnceLock;
use tonic::Request;

/// The identity the server's own batch client gives the targets it terminates and cancels
/// (`<pid>@<host>@`, as the real server's SDK client names itself).
fn batcher_identity() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "endure".into());
        format!("{}@{host}@", std::process::id())
    })
}

/// The request id of a job's operation on one target: the same on every retry, so a repeated
/// item is deduplicated by the target.
fn request_id(job_id: &str, t: &Target) -> String {
    format!("batch:{job_id}:{}:{}", t.workflow_id, t.run_id)
}

fn missing_job_id() -> ApiError {
    ApiError::InvalidArgument("JobId is not set on request.".into())
}

/// The division filter: a batch job's system run.
fn is_batch_job() -> FilterExpr {
    FilterExpr::eq(
        Attr::Custom { name: NAMESPACE_DIVISION_ATTR.into(), ty: SaType::Keyword },
        Scalar::Str(NAMESPACE_DIVISION.into()),
    )
}

/// The targets a request lists (`executions` or `target_executions`), if it lists them.
fn listed_targets(r: &ws::StartBatchOperationRequest) -> ApiResult<Option<Vec<Target>>> {
    if !r.executions.is_empty() {
        let list = r
            .executions
            .iter()
            .map(|e| Target { workflow_id: e.workflow_id.clone(), run_id: e.run_id.clone() });
        return Ok(Some(list.collect()));
    }
    if r.target_executions.is_empty() {
        return Ok(None);
    }
    let mut out = vec![];
    for (i, e) in r.target_executions.iter().enumerate() {
        if e.r#type != ExecutionType::Workflow as i32 {
            let ty = match ExecutionType::try_from(e.r#type).unwrap_or(ExecutionType::Unspecified) {
                ExecutionType::Activity => "Activity",
                _ => "Unspecified",
            };
            let op = operation_go_name(r.operation.as_ref());
            return Err(ApiError::InvalidArgument(format!(
                "target_executions[{i}] has type {ty}, but operation {op} requires Workflow"
            )));
        }
        out.push(Target { workflow_id: e.business_id.clone(), run_id: e.run_id.clone() });
    }
    Ok(Some(out))
}

/// The operation's name as the real server's messages print it.
fn operation_go_name(op: Option<&Operation>) -> &'static str {
    match op {
        Some(Operation::TerminationOperation(_)) => {
            "*workflowservice.StartBatchOperationRequest_TerminationOperation"
        }
        Some(Operation::SignalOperation(_)) => "*workflowservice.StartBatchOperationRequest_SignalOperation",
        Some(Operation::CancellationOperation(_)) => {
            "*workflowservice.StartBatchOperationRequest_CancellationOperation"
        }
        Some(Operation::DeletionOperation(_)) => {
            "*workflowservice.StartBatchOperationRequest_DeletionOperation"
        }
        Some(Operation::ResetOperation(_)) => "*workflowservice.StartBatchOperationRequest_ResetOperation",
        Some(Operation::UpdateWorkflowOptionsOperation(_)) => {
            "*workflowservice.StartBatchOperationRequest_UpdateWorkflowOptionsOperation"
        }
        _ => "<nil>",
    }
}

/// A ListWorkers syntax error (`malformed query: syntax error at position N …`, positions
/// counted in `select * from table1 where <query>`) as the real batcher words it: its statement
/// prefix is one character shorter (`… from table where `).
fn batch_syntax_error(m: &str) -> String {
    let m = m.replacen("malformed query: ", "invalid visibility query: ", 1);
    let marker = "syntax error at position ";
    let Some(at) = m.find(marker).map(|i| i + marker.len()) else { return m };
    let digits = m[at..].bytes().take_while(u8::is_ascii_digit).count();
    match m[at..at + digits].parse::<usize>() {
        Ok(n) => format!("{}{}{}", &m[..at], n.saturating_sub(1), &m[at + digits..]),
        Err(_) => m,
    }
}

/// Checks what each operation needs, with the real server's messages.
fn check_operation(op: &Operation) -> ApiResult<()> {
    let invalid = |m: &str| Err(ApiError::InvalidArgument(m.into()));
    match op {
        Operation::SignalOperation(s) if s.signal.is_empty() => invalid("must provide signal name"),
        Operation::ResetOperation(r) => {
            let ty = r.reset_type;
            let has_target = r.options.as_ref().is_some_and(|o| o.target.is_some());
            if !has_target && ty == ResetType::Unspecified as i32 {
                return invalid("unknown batch reset type Unspecified");
            }
            Ok(())
        }
        Operation::UpdateWorkflowOptionsOperation(u) => {
            if u.workflow_execution_options.is_none() {
                return invalid("must provide UpdateOptions");
            }
            if u.update_mask.is_none() {
                return invalid("must provide UpdateMask");
            }
            Ok(())
        }
        Operation::TerminationOperation(_)
        | Operation::SignalOperation(_)
        | Operation::CancellationOperation(_)
        | Operation::DeletionOperation(_) => Ok(()),
        _ => Err(ApiError::InvalidArgument("this batch operation is not supported by Endure yet".into())),
    }
}

impl Frontend {
    pub(crate) async fn start_batch_operation(
        &self,
        r: Request<ws::StartBatchOperationRequest>,
    ) -> ApiResult<ws::StartBatchOperationResponse> {
        let r = r.into_inner();
        if r.namespace.is_empty() {
            return Err(ApiError::InvalidArgument("Namespace is empty.".into()));
        }
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let has_targets =
            !r.visibility_query.is_empty() || !r.executions.is_empty() || !r.target_executions.is_empty();
        let Some(op) = r.operation.clone().filter(|_| !r.reason.is_empty() && has_targets) else {
            return Err(ApiError::InvalidArgument(
                "must provide required parameters: BatchType,Reason,Namespace, AND one of (Query OR Executions OR TargetExecutions)"
                    .into(),
            ));
        };
        if r.job_id.is_empty() {
            return Err(missing_job_id());
        }
        let given =
            [!r.visibility_query.is_empty(), !r.executions.is_empty(), !r.target_executions.is_empty()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(ApiError::InvalidArgument(
                "visibility query, executions, and target executions are mutually exclusive".into(),
            ));
        }
        if !r.visibility_query.is_empty() {
            // The real server's SQL parser judges the syntax (and words its errors) here; the
            // job checks attributes when it lists.
            crate::workers::query::WorkerQuery::parse(&r.visibility_query).map_err(|e| match e {
                ApiError::InvalidArgument(m) => ApiError::InvalidArgument(batch_syntax_error(&m)),
                e => e,
            })?;
        }
        check_operation(&op)?;
        let executions = listed_targets(&r)?;
        // One job at a time per namespace, as the real dev server.
        let running = FilterExpr::and_opt(
            Some(is_batch_job()),
            Some(FilterExpr::eq(Attr::ExecutionStatus, Scalar::Int(Status::Running as i64))),
        );
        let filter = VisibilityFilter { namespace_id: ns.id.clone(), expr: running, open: None };
        if self.visibility.count_runs(&filter).await? > 0 {
            return Err(ApiError::ConcurrentLimit("Max concurrent batch operations is reached".into()));
        }
        let total = match &executions {
            Some(list) => list.len() as i64,
            None => {
                let query = batch::target_query(&r.visibility_query, &op);
                let custom = self.search_attributes.of(&ns.id).await?;
                // A query naming an unknown attribute is accepted here; the job then fails.
                match check(&query, true, &custom) {
                    Ok(q) => {
                        let expr = super::visibility::hide_system_runs(&query, q.expr);
                        self.visibility
                            .count_runs(&VisibilityFilter { namespace_id: ns.id.clone(), expr, open: None })
                            .await?
                    }
                    Err(_) => 0,
                }
            }
        };
        let rps = match r.max_operations_per_second {
            x if x > 0.0 => (x as f64).min(self.dynamic.batcher_rps),
            _ => self.dynamic.batcher_rps,
        };
        let _lock = self.engine.lock(&ns.id, &r.job_id).await;
        let condition = match self.engine.current_run(&ns.id, &r.job_id).await? {
            None => CurrentCondition::Absent,
            Some(cur) => {
                let message = if cur.status == Status::Running as i32 {
                    format!(
                        "Workflow execution is already running. WorkflowId: {}, RunId: {}.",
                        r.job_id, cur.run_id
                    )
                } else {
                    format!(
                        "Workflow execution already finished. WorkflowId: {}, RunId: {}. Workflow Id reuse policy: reject duplicate workflow Id.",
                        r.job_id, cur.run_id
                    )
                };
                return Err(ApiError::WorkflowAlreadyStarted {
                    message,
                    start_request_id: cur.start_request_id,
                    first_execution_run_id: cur.run_id.clone(),
                    run_id: cur.run_id,
                });
            }
        };
        let (ms, events, tasks) = endure_core::batcher::new_batch(
            NewBatch {
                namespace_id: ns.id.clone(),
                job_id: r.job_id.clone(),
                run_id: self.engine.new_run_id(),
                request: r,
                total,
                rps,
                executions,
            },
            self.engine.now(),
        );
        self.engine.create_run(NewRun { ms: &ms, events, tasks, condition }).await?;
        Ok(ws::StartBatchOperationResponse {})
    }

    pub(crate) async fn stop_batch_operation(
        &self,
        r: Request<ws::StopBatchOperationRequest>,
    ) -> ApiResult<ws::StopBatchOperationResponse> {
        let r = r.into_inner();
        if r.job_id.is_empty() {
            return Err(missing_job_id());
        }
        if r.reason.is_empty() {
            return Err(ApiError::InvalidArgument("Reason is not set on request.".into()));
        }
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let key = self.engine.resolve_run(&ns.id, &r.job_id, "").await?;
        let ms = self.engine.load(&key).await?.ms;
        if ms.batch.is_none() {
            return Err(crate::history::workflow_not_found(&r.job_id));
        }
        self.engine.update(&key, None, |x| x.batch_stop(&r.reason, &r.identity)).await?;
        Ok(ws::StopBatchOperationResponse {})
    }

    pub(crate) async fn describe_batch_operation(
        &self,
        r: Request<ws::DescribeBatchOperationRequest>,
    ) -> ApiResult<ws::DescribeBatchOperationResponse> {
        let r = r.into_inner();
        if r.job_id.is_empty() {
            return Err(missing_job_id());
        }
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let key = self.engine.resolve_run(&ns.id, &r.job_id, "").await?;
        let ms = self.engine.load(&key).await?.ms;
        let Some(b) = ms.batch.as_deref() else {
            return Err(crate::history::workflow_not_found(&r.job_id));
        };
        let request = b.request.clone().unwrap_or_default();
        let mut executions: Vec<Execution> = request
            .executions
            .iter()
            .map(|e| Execution {
                r#type: ExecutionType::Workflow as i32,
                business_id: e.workflow_id.clone(),
                run_id: e.run_id.clone(),
            })
            .collect();
        executions.extend(request.target_executions.iter().cloned());
        Ok(ws::DescribeBatchOperationResponse {
            operation_type: b.operation_type() as i32,
            job_id: r.job_id,
            state: batch::job_state(ms.status) as i32,
            start_time: Some(time::to_timestamp(ms.start_time)),
            close_time: (ms.close_time > 0).then(|| time::to_timestamp(ms.close_time)),
            total_operation_count: b.total.max(b.succeeded + b.failed),
            complete_operation_count: b.succeeded,
            failure_operation_count: b.failed,
            identity: b.identity().to_owned(),
            reason: request.reason.clone(),
            query: request.visibility_query.clone(),
            executions,
        })
    }

    pub(crate) async fn list_batch_operations(
        &self,
        r: Request<ws::ListBatchOperationsRequest>,
    ) -> ApiResult<ws::ListBatchOperationsResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let filter = VisibilityFilter { namespace_id: ns.id, expr: Some(is_batch_job()), open: None };
        let (runs, next_page_token) = self.list(filter, r.page_size, &r.next_page_token).await?;
        let operation_info = runs
            .into_iter()
            .map(|run| {
                let job_id = run.execution.map(|e| e.workflow_id).unwrap_or_default();
                let ty = run
                    .memo
                    .and_then(|m| m.fields.get("batch_operation_type").cloned())
                    .and_then(|p: Payload| serde_json::from_slice::<String>(&p.data).ok())
                    .map_or(batch::type_of_memo_name(""), |n| batch::type_of_memo_name(&n));
                let start = run.start_time.as_ref().map_or(0, time::from_timestamp);
                let close = run.close_time.as_ref().map_or(0, time::from_timestamp);
                batch::list_info(&job_id, run.status, ty, start, close)
            })
            .collect();
        Ok(ws::ListBatchOperationsResponse { operation_info, next_page_token })
    }
}

/// The reset point a batch reset chooses in a run's history: the first or last completed
/// workflow task, a given event, or the first task a build id completed.
fn reset_point(
    events: &[HistoryEvent],
    op: &endure_api::temporal::api::batch::v1::BatchOperationReset,
) -> Option<i64> {
    use endure_api::temporal::api::common::v1::reset_options::Target as T;
    use endure_api::temporal::api::history::v1::history_event::Attributes as A;
    let completed = || events.iter().filter(|e| e.event_type == EventType::WorkflowTaskCompleted as i32);
    #[allow(deprecated)]
    let target = match op.options.as_ref().and_then(|o| o.target.clone()) {
        Some(t) => t,
        None if op.reset_type == ResetType::LastWorkflowTask as i32 => T::LastWorkflowTask(()),
        None => T::FirstWorkflowTask(()),
    };
    match target {
        T::FirstWorkflowTask(_) => completed().next().map(|e| e.event_id),
        T::LastWorkflowTask(_) => completed().next_back().map(|e| e.event_id),
        T::WorkflowTaskId(id) => Some(id),
        T::BuildId(build) => completed()
            .find(|e| match &e.attributes {
                Some(A::WorkflowTaskCompletedEventAttributes(a)) => {
                    let stamp = a.worker_version.as_ref().map(|v| v.build_id.as_str());
                    stamp == Some(build.as_str())
                        || a.deployment_version.as_ref().is_some_and(|d| d.build_id == build)
                }
                _ => false,
            })
            .map(|e| e.event_id),
    }
}

fn status_error(s: tonic::Status) -> ApiError {
    ApiError::from_peer(s)
}

#[tonic::async_trait]
impl BatchTargets for WorkflowFrontend {
    async fn list(
        &self,
        namespace: &str,
        query: &str,
        token: &[u8],
        page_size: usize,
    ) -> ApiResult<(Vec<Target>, Vec<u8>)> {
        let (runs, next) = self.list_query(namespace, query, page_size as i32, token).await?;
        let targets = runs
            .into_iter()
            .filter_map(|r| r.execution)
            .map(|e| Target { workflow_id: e.workflow_id, run_id: e.run_id })
            .collect();
        Ok((targets, next))
    }

    async fn apply(
        &self,
        namespace: &str,
        job_id: &str,
        reason: &str,
        op: &Operation,
        target: &Target,
    ) -> ApiResult<()> {
        let namespace = namespace.to_owned();
        let execution = Some(WorkflowExecution {
            workflow_id: target.workflow_id.clone(),
            run_id: target.run_id.clone(),
        });
        let request_id = request_id(job_id, target);
        match op {
            Operation::TerminationOperation(_) => {
                let req = ws::TerminateWorkflowExecutionRequest {
                    namespace,
                    workflow_execution: execution,
                    reason: reason.to_owned(),
                    identity: batcher_identity().to_owned(),
                    ..Default::default()
                };
                self.terminate_workflow_execution(Request::new(req)).await.map_err(status_error)?;
            }
            Operation::CancellationOperation(_) => {
                let req = ws::RequestCancelWorkflowExecutionRequest {
                    namespace,
                    workflow_execution: execution,
                    identity: batcher_identity().to_owned(),
                    request_id,
                    ..Default::default()
                };
                self.request_cancel_workflow_execution(Request::new(req)).await.map_err(status_error)?;
            }
            Operation::SignalOperation(s) => {
                let req = ws::SignalWorkflowExecutionRequest {
                    namespace,
                    workflow_execution: execution,
                    signal_name: s.signal.clone(),
                    input: s.input.clone(),
                    identity: s.identity.clone(),
                    request_id,
                    header: s.header.clone(),
                    ..Default::default()
                };
                self.signal_workflow_execution(Request::new(req)).await.map_err(status_error)?;
            }
            Operation::DeletionOperation(_) => {
                let req = ws::DeleteWorkflowExecutionRequest { namespace, workflow_execution: execution };
                self.delete_workflow_execution(Request::new(req)).await.map_err(status_error)?;
            }
            Operation::ResetOperation(r) => {
                let history = ws::GetWorkflowExecutionHistoryRequest {
                    namespace: namespace.clone(),
                    execution: execution.clone(),
                    maximum_page_size: 0,
                    ..Default::default()
                };
                let mut events = vec![];
                let mut req = history;
                loop {
                    let page = self
                        .get_workflow_execution_history(Request::new(req.clone()))
                        .await
                        .map_err(|s| match status_error(s) {
                            // As the real server: a target it cannot read counts as failed.
                            ApiError::NotFound(m) => ApiError::FailedPrecondition(format!(
                                "failed to get workflow execution history: {m}"
                            )),
                            e => e,
                        })?
                        .into_inner();
                    events.extend(page.history.map(|h| h.events).unwrap_or_default());
                    if page.next_page_token.is_empty() {
                        break;
                    }
                    req.next_page_token = page.next_page_token;
                }
                let point = reset_point(&events, r).ok_or_else(|| {
                    ApiError::InvalidArgument("the workflow has no workflow task to reset to".into())
                })?;
                let (reapply, exclude) = match &r.options {
                    Some(o) => (o.reset_reapply_type, o.reset_reapply_exclude_types.clone()),
                    None => (r.reset_reapply_type, vec![]),
                };
                let exclude = if reapply == ResetReapplyType::None as i32 {
                    vec![ResetReapplyExcludeType::Signal as i32]
                } else {
                    exclude
                };
                let req = ws::ResetWorkflowExecutionRequest {
                    namespace,
                    workflow_execution: execution,
                    reason: reason.to_owned(),
                    workflow_task_finish_event_id: point,
                    request_id,
                    reset_reapply_type: reapply,
                    reset_reapply_exclude_types: exclude,
                    identity: r.identity.clone(),
                    ..Default::default()
                };
                self.reset_workflow_execution(Request::new(req)).await.map_err(status_error)?;
            }
            Operation::UpdateWorkflowOptionsOperation(u) => {
                let req = ws::UpdateWorkflowExecutionOptionsRequest {
                    namespace,
                    workflow_execution: execution,
                    workflow_execution_options: u.workflow_execution_options.clone(),
                    update_mask: u.update_mask.clone(),
                    identity: u.identity.clone(),
                };
                self.update_workflow_execution_options(Request::new(req)).await.map_err(status_error)?;
            }
            _ => {
                return Err(ApiError::InvalidArgument(
                    "this batch operation is not supported by Endure yet".into(),
                ));
            }
        }
        Ok(())
    }
}
