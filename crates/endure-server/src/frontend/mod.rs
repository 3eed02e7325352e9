//! Frontend: the gRPC services. Handlers validate requests, resolve namespaces and call the
//! history engine or matching; they are plain async methods on [`Frontend`] so another
//! transport (the HTTP API, later) can call the same functions.

mod admin;
pub mod forward;
pub mod internal;
mod query_check;
mod tasks;
mod updates;
mod visibility;
mod workflows;

use crate::error::{ApiError, ApiResult};
use crate::history::Engine;
use crate::matching::Matching;
use crate::namespaces::Namespaces;
use endure_api::temporal::api::common::v1::Payloads;
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_api::workflowservice::workflow_service_server::WorkflowService;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};
use tonic::{Request, Response, Status};

pub use admin::{HealthService, OperatorFrontend};

/// Maximum size of one payload set (Temporal's default blob size limit, 2 MB).
pub const BLOB_SIZE_LIMIT: usize = endure_core::limits::BLOB_SIZE_ERROR;
/// Maximum length of ids (workflow id, activity id, signal name …).
pub const MAX_ID_LENGTH: usize = 1000;

/// The answer of a worker to a query task.
pub type QueryAnswer = ws::RespondQueryTaskCompletedRequest;

/// Shared state of the frontend handlers.
pub struct Frontend {
    pub(crate) namespaces: Arc<Namespaces>,
    pub(crate) engine: Arc<Engine>,
    pub(crate) matching: Arc<Matching>,
    pub(crate) queries: Mutex<HashMap<String, oneshot::Sender<QueryAnswer>>>,
    pub(crate) buffered_queries: Mutex<
        HashMap<endure_store::RunKey, Vec<(String, endure_api::temporal::api::query::v1::WorkflowQuery)>>,
    >,
    pub(crate) update_rejections:
        Mutex<HashMap<(endure_store::RunKey, String), endure_api::temporal::api::failure::v1::Failure>>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl Frontend {
    /// Whether this replica should receive traffic: not shutting down, and ready in the
    /// cluster (see [`crate::cluster::Ownership::is_ready`]).
    pub fn is_ready(&self) -> bool {
        !*self.shutdown.borrow() && self.engine.ownership().is_ready()
    }

    /// Creates the frontend.
    pub fn new(
        namespaces: Arc<Namespaces>,
        engine: Arc<Engine>,
        matching: Arc<Matching>,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Self> {
        Arc::new(Frontend {
            namespaces,
            engine,
            matching,
            queries: Mutex::new(HashMap::new()),
            update_rejections: Mutex::new(HashMap::new()),
            buffered_queries: Mutex::new(HashMap::new()),
            shutdown,
        })
    }
}

/// Checks an id's presence and length.
pub(crate) fn check_id(value: &str, what: &str) -> ApiResult<()> {
    if value.is_empty() {
        return Err(ApiError::InvalidArgument(format!("{what} is not set on request.")));
    }
    if value.len() > MAX_ID_LENGTH {
        return Err(ApiError::InvalidArgument(format!(
            "{what} exceeds maximum allowed length ({}/{MAX_ID_LENGTH})",
            value.len()
        )));
    }
    Ok(())
}

/// Checks a payload set against the blob size limit.
pub(crate) fn check_blob(p: &Option<Payloads>) -> ApiResult<()> {
    use prost::Message;
    if p.as_ref().is_some_and(|p| p.encoded_len() > BLOB_SIZE_LIMIT) {
        return Err(ApiError::InvalidArgument("Blob data size exceeds limit.".into()));
    }
    Ok(())
}

/// When a long poll must answer: 60 s, or shortly before the client's own deadline.
pub(crate) fn poll_deadline<T>(req: &Request<T>, max: Duration) -> Instant {
    let client = req
        .metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
        .map(|d| d.saturating_sub(Duration::from_millis(500)).max(Duration::from_millis(100)));
    Instant::now() + client.map_or(max, |c| c.min(max))
}

fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    let (num, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = num.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

macro_rules! rpcs {
    ($($name:ident($req:ident) -> $resp:ident => $handler:ident;)*) => {
        #[tonic::async_trait]
        impl WorkflowService for WorkflowFrontend {
        $(
            async fn $name(&self, request: Request<ws::$req>) -> Result<Response<ws::$resp>, Status> {
                tracing::debug!(rpc = stringify!($name), "request");
                if let Some(addr) = self.0.forward_target(&request).await.map_err(Status::from)? {
                    tracing::debug!(rpc = stringify!($name), to = %addr, "forwarding to the shard owner");
                    let mut peer = self.0.engine.peers().workflow(&addr).map_err(Status::from)?;
                    let long_poll = forward::Routed::is_long_poll(request.get_ref());
                    let call = peer.$name(forward::onward(request));
                    return forward::unless_shutting_down(call, long_poll, self.0.shutdown.clone()).await;
                }
                let r = Frontend::$handler(&self.0, request).await;
                if let Err(e) = &r {
                    tracing::debug!(rpc = stringify!($name), "error: {e}");
                }
                r.map(Response::new).map_err(Status::from)
            }
        )*
        }
    };
}

/// The WorkflowService implementation, a thin shell over [`Frontend`].
#[derive(Clone)]
pub struct WorkflowFrontend(pub Arc<Frontend>);

impl std::ops::Deref for WorkflowFrontend {
    type Target = Frontend;
    fn deref(&self) -> &Frontend {
        &self.0
    }
}

rpcs! {
        get_system_info(GetSystemInfoRequest) -> GetSystemInfoResponse => get_system_info;
        get_cluster_info(GetClusterInfoRequest) -> GetClusterInfoResponse => get_cluster_info;
        register_namespace(RegisterNamespaceRequest) -> RegisterNamespaceResponse => register_namespace;
        describe_namespace(DescribeNamespaceRequest) -> DescribeNamespaceResponse => describe_namespace;
        list_namespaces(ListNamespacesRequest) -> ListNamespacesResponse => list_namespaces;
        update_namespace(UpdateNamespaceRequest) -> UpdateNamespaceResponse => update_namespace;
        start_workflow_execution(StartWorkflowExecutionRequest) -> StartWorkflowExecutionResponse => start_workflow_execution;
        signal_workflow_execution(SignalWorkflowExecutionRequest) -> SignalWorkflowExecutionResponse => signal_workflow_execution;
        signal_with_start_workflow_execution(SignalWithStartWorkflowExecutionRequest) -> SignalWithStartWorkflowExecutionResponse => signal_with_start_workflow_execution;
        request_cancel_workflow_execution(RequestCancelWorkflowExecutionRequest) -> RequestCancelWorkflowExecutionResponse => request_cancel_workflow_execution;
        terminate_workflow_execution(TerminateWorkflowExecutionRequest) -> TerminateWorkflowExecutionResponse => terminate_workflow_execution;
        describe_workflow_execution(DescribeWorkflowExecutionRequest) -> DescribeWorkflowExecutionResponse => describe_workflow_execution;
        get_workflow_execution_history(GetWorkflowExecutionHistoryRequest) -> GetWorkflowExecutionHistoryResponse => get_workflow_execution_history;
        get_workflow_execution_history_reverse(GetWorkflowExecutionHistoryReverseRequest) -> GetWorkflowExecutionHistoryReverseResponse => get_workflow_execution_history_reverse;
        query_workflow(QueryWorkflowRequest) -> QueryWorkflowResponse => query_workflow;
        respond_query_task_completed(RespondQueryTaskCompletedRequest) -> RespondQueryTaskCompletedResponse => respond_query_task_completed;
        list_workflow_executions(ListWorkflowExecutionsRequest) -> ListWorkflowExecutionsResponse => list_workflow_executions;
        list_open_workflow_executions(ListOpenWorkflowExecutionsRequest) -> ListOpenWorkflowExecutionsResponse => list_open_workflow_executions;
        list_closed_workflow_executions(ListClosedWorkflowExecutionsRequest) -> ListClosedWorkflowExecutionsResponse => list_closed_workflow_executions;
        count_workflow_executions(CountWorkflowExecutionsRequest) -> CountWorkflowExecutionsResponse => count_workflow_executions;
        scan_workflow_executions(ScanWorkflowExecutionsRequest) -> ScanWorkflowExecutionsResponse => scan_workflow_executions;
        get_search_attributes(GetSearchAttributesRequest) -> GetSearchAttributesResponse => get_search_attributes;
        poll_workflow_task_queue(PollWorkflowTaskQueueRequest) -> PollWorkflowTaskQueueResponse => poll_workflow_task_queue;
        respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest) -> RespondWorkflowTaskCompletedResponse => respond_workflow_task_completed;
        respond_workflow_task_failed(RespondWorkflowTaskFailedRequest) -> RespondWorkflowTaskFailedResponse => respond_workflow_task_failed;
        poll_activity_task_queue(PollActivityTaskQueueRequest) -> PollActivityTaskQueueResponse => poll_activity_task_queue;
        record_activity_task_heartbeat(RecordActivityTaskHeartbeatRequest) -> RecordActivityTaskHeartbeatResponse => record_activity_task_heartbeat;
        record_activity_task_heartbeat_by_id(RecordActivityTaskHeartbeatByIdRequest) -> RecordActivityTaskHeartbeatByIdResponse => record_activity_task_heartbeat_by_id;
        respond_activity_task_completed(RespondActivityTaskCompletedRequest) -> RespondActivityTaskCompletedResponse => respond_activity_task_completed;
        respond_activity_task_completed_by_id(RespondActivityTaskCompletedByIdRequest) -> RespondActivityTaskCompletedByIdResponse => respond_activity_task_completed_by_id;
        respond_activity_task_failed(RespondActivityTaskFailedRequest) -> RespondActivityTaskFailedResponse => respond_activity_task_failed;
        respond_activity_task_failed_by_id(RespondActivityTaskFailedByIdRequest) -> RespondActivityTaskFailedByIdResponse => respond_activity_task_failed_by_id;
        respond_activity_task_canceled(RespondActivityTaskCanceledRequest) -> RespondActivityTaskCanceledResponse => respond_activity_task_canceled;
        respond_activity_task_canceled_by_id(RespondActivityTaskCanceledByIdRequest) -> RespondActivityTaskCanceledByIdResponse => respond_activity_task_canceled_by_id;
        reset_sticky_task_queue(ResetStickyTaskQueueRequest) -> ResetStickyTaskQueueResponse => reset_sticky_task_queue;
        shutdown_worker(ShutdownWorkerRequest) -> ShutdownWorkerResponse => shutdown_worker;
        describe_task_queue(DescribeTaskQueueRequest) -> DescribeTaskQueueResponse => describe_task_queue;
        reset_workflow_execution(ResetWorkflowExecutionRequest) -> ResetWorkflowExecutionResponse => reset_workflow_execution;
        delete_workflow_execution(DeleteWorkflowExecutionRequest) -> DeleteWorkflowExecutionResponse => delete_workflow_execution;
        list_task_queue_partitions(ListTaskQueuePartitionsRequest) -> ListTaskQueuePartitionsResponse => list_task_queue_partitions;
        update_workflow_execution(UpdateWorkflowExecutionRequest) -> UpdateWorkflowExecutionResponse => update_workflow_execution;
        poll_workflow_execution_update(PollWorkflowExecutionUpdateRequest) -> PollWorkflowExecutionUpdateResponse => poll_workflow_execution_update;
}
