//! What the frontend tells metrics (and traces) about a request: its operation's name as the
//! real server spells it, its namespace, which service of the real server's it stands for.
//!
//! This module does not know how metrics are recorded (`crate::metrics`) nor what a handler
//! does; the `rpcs!` shell of `frontend/mod.rs` calls it around every handler.

use super::forward::{Route, Routed};
use crate::matching::TaskRef;
use crate::metrics;
use crate::telemetry;
use endure_api::temporal::api::common::v1::{Header, WorkflowExecution};
use endure_api::temporal::api::history::v1::history_event::Attributes;
use endure_api::temporal::api::taskqueue::v1::TaskQueue;
use endure_api::temporal::api::workflowservice::v1 as ws;
use std::sync::OnceLock;
use tracing::Span;

/// A request's namespace, for labels: empty for the RPCs that name none (`_unknown_` in the
/// metrics, as on the real server).
pub trait Namespaced {
    /// The namespace the request names.
    fn namespace(&self) -> &str;
}

macro_rules! namespaced {
    (with: $($with:ident),* ; without: $($without:ident),* ;) => {
        $(impl Namespaced for ws::$with { fn namespace(&self) -> &str { &self.namespace } })*
        $(impl Namespaced for ws::$without { fn namespace(&self) -> &str { "" } })*
    };
}

namespaced! { with:
    RegisterNamespaceRequest, DescribeNamespaceRequest, UpdateNamespaceRequest,
    StartWorkflowExecutionRequest, SignalWorkflowExecutionRequest,
    SignalWithStartWorkflowExecutionRequest, RequestCancelWorkflowExecutionRequest,
    TerminateWorkflowExecutionRequest, DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryRequest, GetWorkflowExecutionHistoryReverseRequest,
    QueryWorkflowRequest, RespondQueryTaskCompletedRequest, ListWorkflowExecutionsRequest,
    ListOpenWorkflowExecutionsRequest, ListClosedWorkflowExecutionsRequest,
    CountWorkflowExecutionsRequest, ScanWorkflowExecutionsRequest,
    PollWorkflowTaskQueueRequest, RespondWorkflowTaskCompletedRequest,
    RespondWorkflowTaskFailedRequest, PollActivityTaskQueueRequest,
    RecordActivityTaskHeartbeatRequest, RecordActivityTaskHeartbeatByIdRequest,
    RespondActivityTaskCompletedRequest, RespondActivityTaskCompletedByIdRequest,
    RespondActivityTaskFailedRequest, RespondActivityTaskFailedByIdRequest,
    RespondActivityTaskCanceledRequest, RespondActivityTaskCanceledByIdRequest,
    ResetStickyTaskQueueRequest, ShutdownWorkerRequest, DescribeTaskQueueRequest,
    ResetWorkflowExecutionRequest, DeleteWorkflowExecutionRequest, ListTaskQueuePartitionsRequest,
    UpdateWorkflowExecutionRequest, PollWorkflowExecutionUpdateRequest,
    ExecuteMultiOperationRequest, PauseActivityRequest, UnpauseActivityRequest,
    ResetActivityRequest, UpdateActivityOptionsRequest, PauseActivityExecutionRequest,
    UnpauseActivityExecutionRequest, ResetActivityExecutionRequest,
    UpdateActivityExecutionOptionsRequest, RecordWorkerHeartbeatRequest, ListWorkersRequest,
    CountWorkersRequest, DescribeWorkerRequest, PollNexusTaskQueueRequest, CreateScheduleRequest,
    DescribeScheduleRequest, UpdateScheduleRequest, PatchScheduleRequest, DeleteScheduleRequest,
    ListSchedulesRequest, CountSchedulesRequest, ListScheduleMatchingTimesRequest,
    UpdateWorkflowExecutionOptionsRequest,
    StartBatchOperationRequest, StopBatchOperationRequest, DescribeBatchOperationRequest,
    ListBatchOperationsRequest, StartActivityExecutionRequest, DescribeActivityExecutionRequest,
    PollActivityExecutionRequest, RequestCancelActivityExecutionRequest,
    TerminateActivityExecutionRequest, DeleteActivityExecutionRequest,
    ListActivityExecutionsRequest, CountActivityExecutionsRequest, DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentVersionRequest, ListWorkerDeploymentsRequest,
    SetWorkerDeploymentCurrentVersionRequest, SetWorkerDeploymentRampingVersionRequest,
    DeleteWorkerDeploymentVersionRequest, DeleteWorkerDeploymentRequest,
    UpdateWorkerDeploymentVersionMetadataRequest, SetWorkerDeploymentManagerRequest,
    GetWorkerBuildIdCompatibilityRequest, UpdateWorkerBuildIdCompatibilityRequest,
    GetWorkerVersioningRulesRequest, UpdateWorkerVersioningRulesRequest,
    GetWorkerTaskReachabilityRequest;
    without: GetSystemInfoRequest, GetSearchAttributesRequest, GetClusterInfoRequest, ListNamespacesRequest;
}

/// What a request tells its RPC's span: the trace context its sender put in its Temporal
/// header, and the workflow and task queue it is about.
pub trait Traced {
    /// The header that may carry `_tracer-data`.
    fn trace_header(&self) -> Option<&Header> {
        None
    }
    /// The header a run's started event will carry (start requests), to pass the server's
    /// context on in.
    fn started_header(&mut self) -> Option<&mut Option<Header>> {
        None
    }
    /// Workflow id, run id and task queue named by the request, where it names them.
    fn subject(&self) -> (&str, &str, &str) {
        ("", "", "")
    }
    /// The real server's name of this call when it differs from the RPC's (a history long
    /// poll is `PollWorkflowExecutionHistory` in its metrics).
    fn operation(&self) -> Option<&'static str> {
        None
    }
}

impl Traced for ws::GetWorkflowExecutionHistoryRequest {
    fn subject(&self) -> (&str, &str, &str) {
        let (w, r) = execution(self.execution.as_ref());
        (w, r, "")
    }
    fn operation(&self) -> Option<&'static str> {
        self.wait_new_event.then_some("PollWorkflowExecutionHistory")
    }
}

macro_rules! traced {
    ($($plain:ident),* $(,)?) => {
        $(impl Traced for ws::$plain {})*
    };
}

traced! {
    RegisterNamespaceRequest, DescribeNamespaceRequest, UpdateNamespaceRequest,
    RequestCancelWorkflowExecutionRequest, TerminateWorkflowExecutionRequest,
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryReverseRequest, RespondQueryTaskCompletedRequest,
    ListWorkflowExecutionsRequest, ListOpenWorkflowExecutionsRequest,
    ListClosedWorkflowExecutionsRequest, CountWorkflowExecutionsRequest,
    ScanWorkflowExecutionsRequest, PollWorkflowTaskQueueRequest,
    RespondWorkflowTaskCompletedRequest, RespondWorkflowTaskFailedRequest,
    PollActivityTaskQueueRequest, RecordActivityTaskHeartbeatRequest,
    RecordActivityTaskHeartbeatByIdRequest, RespondActivityTaskCompletedRequest,
    RespondActivityTaskCompletedByIdRequest, RespondActivityTaskFailedRequest,
    RespondActivityTaskFailedByIdRequest, RespondActivityTaskCanceledRequest,
    RespondActivityTaskCanceledByIdRequest, ResetStickyTaskQueueRequest, ShutdownWorkerRequest,
    DescribeTaskQueueRequest, ResetWorkflowExecutionRequest, DeleteWorkflowExecutionRequest,
    ListTaskQueuePartitionsRequest, PollWorkflowExecutionUpdateRequest,
    ExecuteMultiOperationRequest, PauseActivityRequest, UnpauseActivityRequest,
    ResetActivityRequest, UpdateActivityOptionsRequest, PauseActivityExecutionRequest,
    UnpauseActivityExecutionRequest, ResetActivityExecutionRequest,
    UpdateActivityExecutionOptionsRequest, RecordWorkerHeartbeatRequest, ListWorkersRequest,
    CountWorkersRequest, DescribeWorkerRequest, PollNexusTaskQueueRequest,
    CreateScheduleRequest, DescribeScheduleRequest, UpdateScheduleRequest, PatchScheduleRequest,
    DeleteScheduleRequest, ListSchedulesRequest, CountSchedulesRequest, ListScheduleMatchingTimesRequest,
    UpdateWorkflowExecutionOptionsRequest, StartBatchOperationRequest,
    StopBatchOperationRequest, DescribeBatchOperationRequest, ListBatchOperationsRequest,
    StartActivityExecutionRequest, DescribeActivityExecutionRequest,
    PollActivityExecutionRequest, RequestCancelActivityExecutionRequest,
    TerminateActivityExecutionRequest, DeleteActivityExecutionRequest,
    ListActivityExecutionsRequest, CountActivityExecutionsRequest,
    DescribeWorkerDeploymentRequest, DescribeWorkerDeploymentVersionRequest,
    ListWorkerDeploymentsRequest, SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest, DeleteWorkerDeploymentVersionRequest,
    DeleteWorkerDeploymentRequest, UpdateWorkerDeploymentVersionMetadataRequest,
    SetWorkerDeploymentManagerRequest, GetWorkerBuildIdCompatibilityRequest,
    UpdateWorkerBuildIdCompatibilityRequest, GetWorkerVersioningRulesRequest,
    UpdateWorkerVersioningRulesRequest, GetWorkerTaskReachabilityRequest, GetSystemInfoRequest,
    GetSearchAttributesRequest, GetClusterInfoRequest, ListNamespacesRequest
}

fn execution(e: Option<&WorkflowExecution>) -> (&str, &str) {
    e.map_or(("", ""), |e| (e.workflow_id.as_str(), e.run_id.as_str()))
}

fn queue(q: Option<&TaskQueue>) -> &str {
    q.map_or("", |q| q.name.as_str())
}

/// The requests that start a run: their header becomes its started event's.
macro_rules! traced_starts {
    ($($req:ident),*) => {
        $(impl Traced for ws::$req {
            fn trace_header(&self) -> Option<&Header> {
                self.header.as_ref()
            }
            fn started_header(&mut self) -> Option<&mut Option<Header>> {
                Some(&mut self.header)
            }
            fn subject(&self) -> (&str, &str, &str) {
                (&self.workflow_id, "", queue(self.task_queue.as_ref()))
            }
        })*
    };
}

traced_starts!(StartWorkflowExecutionRequest, SignalWithStartWorkflowExecutionRequest);

impl Traced for ws::SignalWorkflowExecutionRequest {
    fn trace_header(&self) -> Option<&Header> {
        self.header.as_ref()
    }
    fn subject(&self) -> (&str, &str, &str) {
        let (w, r) = execution(self.workflow_execution.as_ref());
        (w, r, "")
    }
}

impl Traced for ws::QueryWorkflowRequest {
    fn trace_header(&self) -> Option<&Header> {
        self.query.as_ref().and_then(|q| q.header.as_ref())
    }
    fn subject(&self) -> (&str, &str, &str) {
        let (w, r) = execution(self.execution.as_ref());
        (w, r, "")
    }
}

impl Traced for ws::UpdateWorkflowExecutionRequest {
    fn trace_header(&self) -> Option<&Header> {
        self.request.as_ref().and_then(|r| r.input.as_ref()).and_then(|i| i.header.as_ref())
    }
    fn subject(&self) -> (&str, &str, &str) {
        let (w, r) = execution(self.workflow_execution.as_ref());
        (w, r, "")
    }
}

/// The span of one RPC: named as gRPC's semantic conventions name it, with the namespace and
/// what the request names (workflow, run, task queue). While tracing is on, its parent is the
/// caller's context: a `traceparent` in the metadata, else the `_tracer-data` of the request's
/// header.
pub fn rpc_span<T: Traced + Routed>(
    operation: &'static str,
    namespace: &str,
    metadata: &tonic::metadata::MetadataMap,
    request: &T,
) -> Span {
    let span = tracing::info_span!(
        "rpc",
        "otel.name" = %format_args!("{SERVICE}/{operation}"),
        "otel.kind" = "server",
        "rpc.system" = "grpc",
        "rpc.service" = SERVICE,
        "rpc.method" = operation,
        "rpc.grpc.status_code" = tracing::field::Empty,
        "temporal.namespace" = namespace,
        "temporal.workflow_id" = tracing::field::Empty,
        "temporal.run_id" = tracing::field::Empty,
        "temporal.task_queue" = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    if span.is_disabled() {
        return span;
    }
    let (mut workflow_id, run_id, mut task_queue) = request.subject();
    let route = request.route();
    match &route {
        Route::Workflow { workflow_id: w, .. } if workflow_id.is_empty() => workflow_id = w,
        Route::Queue { queue, .. } if task_queue.is_empty() => task_queue = queue,
        _ => {}
    }
    for (field, value) in [
        ("temporal.workflow_id", workflow_id),
        ("temporal.run_id", run_id),
        ("temporal.task_queue", task_queue),
    ] {
        if !value.is_empty() {
            span.record(field, value);
        }
    }
    if telemetry::enabled() {
        let parent =
            telemetry::from_metadata(metadata).or_else(|| telemetry::from_header(request.trace_header()));
        telemetry::adopt(&span, parent);
        telemetry::record_ids(&span);
    }
    span
}

/// A span for a task handed to a worker (`dispatch workflow task`, `dispatch activity task`),
/// with what it is about. Disabled unless tracing is on.
fn dispatch_span(
    name: &'static str,
    namespace: &str,
    run: &endure_store::RunKey,
    queue: &str,
    event_id: i64,
) -> Span {
    if !telemetry::enabled() {
        return Span::none();
    }
    tracing::info_span!(
        "dispatch",
        "otel.name" = name,
        "otel.kind" = "producer",
        "temporal.namespace" = namespace,
        "temporal.workflow_id" = run.workflow_id.as_str(),
        "temporal.run_id" = run.run_id.as_str(),
        "temporal.task_queue" = queue,
        "temporal.event_id" = event_id,
    )
}

/// Traces a workflow task handed to a worker: a span in the run's trace (the context its
/// started event carries, when the task's history starts there).
pub fn workflow_task_dispatched(namespace: &str, t: &TaskRef, resp: &ws::PollWorkflowTaskQueueResponse) {
    let queue = resp.workflow_execution_task_queue.as_ref().map_or("", |q| q.name.as_str());
    let span = dispatch_span("dispatch workflow task", namespace, &t.run, queue, resp.started_event_id);
    if span.is_disabled() {
        return;
    }
    let started = resp.history.as_ref().and_then(|h| h.events.first()).and_then(|e| match &e.attributes {
        Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => {
            telemetry::from_header(a.header.as_ref())
        }
        _ => None,
    });
    telemetry::adopt(&span, started);
    let _ = span.enter();
}

/// Traces an activity task handed to a worker: a span under the context the workflow put in
/// the activity's header, which the task then carries instead, so the worker's activity span
/// is its child.
pub fn activity_task_dispatched(
    namespace: &str,
    run: &endure_store::RunKey,
    queue: &str,
    scheduled_event_id: i64,
    resp: &mut ws::PollActivityTaskQueueResponse,
) {
    let span = dispatch_span("dispatch activity task", namespace, run, queue, scheduled_event_id);
    if span.is_disabled() {
        return;
    }
    telemetry::adopt(&span, telemetry::from_header(resp.header.as_ref()));
    telemetry::pass_on(&mut resp.header, &span);
}

/// Records an RPC's outcome on its span.
pub fn rpc_done(span: &Span, code: tonic::Code) {
    span.record("rpc.grpc.status_code", code as i32);
}

const SERVICE: &str = "temporal.api.workflowservice.v1.WorkflowService";

/// The real server's name of an RPC (`StartWorkflowExecution`) from its Rust method name
/// (`start_workflow_execution`), made once per RPC.
pub fn operation(method: &'static str, cell: &'static OnceLock<String>) -> &'static str {
    cell.get_or_init(|| {
        method
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
            })
            .collect()
    })
}

/// The `service_name` a request is counted under: `frontend` as a client sent it, `history`
/// when another replica forwarded it to the owner of its run or queue (the real server's
/// frontend → history hop).
pub fn service_name(forwarded: bool) -> &'static str {
    if forwarded { metrics::service::HISTORY } else { metrics::service::FRONTEND }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_spelled_as_the_real_server_spells_them() {
        static A: OnceLock<String> = OnceLock::new();
        static B: OnceLock<String> = OnceLock::new();
        assert_eq!(operation("start_workflow_execution", &A), "StartWorkflowExecution");
        assert_eq!(operation("get_system_info", &B), "GetSystemInfo");
    }
}
