//! Frontend: the gRPC services. Handlers validate requests, resolve namespaces and call the
//! history engine or matching; they are plain async methods on [`Frontend`] so another
//! transport (the HTTP API, later) can call the same functions.
//!
//! The frontend is the top of the crate: nothing imports it but the server's wiring. It reads
//! storage only for listings (`VisibilityStore`); everything that changes a run goes through
//! the engine or the starter.

mod activity_ops;
mod admin;
mod batch;
mod deadline;
mod deployments;
pub mod forward;
pub mod internal;
mod multi_operation;
mod observe;
mod query_check;
mod schedules;
mod standalone;
mod tasks;
mod updates;
mod visibility;
mod workers;
mod workflows;

use crate::cluster::Ownership;
use crate::error::ApiError;
use crate::executor::cross::CrossWorkflow;
use crate::history::Engine;
use crate::matching::Matching;
use crate::namespaces::Namespaces;
use crate::peer::Peers;
use crate::search_attributes::SearchAttributeRegistry;
use crate::starter::Starter;
use crate::workers::Workers;
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_api::workflowservice::workflow_service_server::WorkflowService;
use endure_store::VisibilityStore;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{oneshot, watch};
use tonic::{Request, Response, Status};
use tracing::Instrument;

pub use admin::{HealthService, OperatorFrontend};

/// The answer of a worker to a query task.
pub type QueryAnswer = ws::RespondQueryTaskCompletedRequest;

/// What the frontend serves requests with, given by whoever builds it.
pub struct Services {
    /// Namespaces.
    pub namespaces: Arc<Namespaces>,
    /// Custom search attributes.
    pub search_attributes: Arc<SearchAttributeRegistry>,
    /// The history engine.
    pub engine: Arc<Engine>,
    /// Starting runs.
    pub starter: Arc<Starter>,
    /// Cross-workflow steps (asked for by other replicas).
    pub cross: Arc<CrossWorkflow>,
    /// Task queues.
    pub matching: Arc<Matching>,
    /// Shard ownership (routing, readiness).
    pub ownership: Arc<Ownership>,
    /// Clients of the other replicas.
    pub peers: Arc<Peers>,
    /// Visibility listings.
    pub visibility: Arc<dyn VisibilityStore>,
    /// Dynamic config values.
    pub dynamic: crate::dynamic_config::DynamicConfig,
    /// The worker registry (heartbeats, ListWorkers).
    pub workers: Arc<Workers>,
    /// Worker deployments (versioned workers' registration, routing).
    pub deployments: Arc<crate::deployments::Deployments>,
}

/// Shared state of the frontend handlers.
pub struct Frontend {
    pub(crate) namespaces: Arc<Namespaces>,
    pub(crate) search_attributes: Arc<SearchAttributeRegistry>,
    pub(crate) engine: Arc<Engine>,
    pub(crate) starter: Arc<Starter>,
    pub(crate) cross: Arc<CrossWorkflow>,
    pub(crate) matching: Arc<Matching>,
    pub(crate) ownership: Arc<Ownership>,
    pub(crate) peers: Arc<Peers>,
    pub(crate) visibility: Arc<dyn VisibilityStore>,
    pub(crate) dynamic: crate::dynamic_config::DynamicConfig,
    pub(crate) workers: Arc<Workers>,
    pub(crate) deployments: Arc<crate::deployments::Deployments>,
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
        !*self.shutdown.borrow() && self.ownership.is_ready()
    }

    /// Creates the frontend.
    pub fn new(s: Services, shutdown: watch::Receiver<bool>) -> Arc<Self> {
        Arc::new(Frontend {
            namespaces: s.namespaces,
            search_attributes: s.search_attributes,
            engine: s.engine,
            starter: s.starter,
            cross: s.cross,
            matching: s.matching,
            ownership: s.ownership,
            peers: s.peers,
            dynamic: s.dynamic,
            workers: s.workers,
            deployments: s.deployments,
            visibility: s.visibility,
            queries: Mutex::new(HashMap::new()),
            update_rejections: Mutex::new(HashMap::new()),
            buffered_queries: Mutex::new(HashMap::new()),
            shutdown,
        })
    }
}

macro_rules! rpcs {
    ($($name:ident($req:ident) -> $resp:ident => $handler:ident;)*) => {
        #[tonic::async_trait]
        impl WorkflowService for WorkflowFrontend {
        $(
            async fn $name(&self, mut request: Request<ws::$req>) -> Result<Response<ws::$resp>, Status> {
                static OPERATION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
                let operation = observe::Traced::operation(request.get_ref())
                    .unwrap_or_else(|| observe::operation(stringify!($name), &OPERATION));
                let span = observe::rpc_span(
                    operation,
                    observe::Namespaced::namespace(request.get_ref()),
                    request.metadata(),
                    request.get_ref(),
                );
                if let Some(header) = observe::Traced::started_header(request.get_mut()) {
                    crate::telemetry::pass_on(header, &span);
                }
                let outcome = span.clone();
                let r = async move {
                    tracing::debug!(rpc = operation, "request");
                    let forwarded = request.metadata().contains_key(forward::FORWARDED);
                    let rpc = crate::metrics::rpc(
                        observe::service_name(forwarded),
                        operation,
                        observe::Namespaced::namespace(request.get_ref()),
                    );
                    let target = match self.0.forward_target(&request).await {
                        Ok(t) => t,
                        Err(e) => {
                            rpc.finish(Some(e.type_name()));
                            return Err(e.into());
                        }
                    };
                    if let Some(addr) = target {
                        tracing::debug!(rpc = operation, to = %addr, "forwarding to the shard owner");
                        let mut peer = match self.0.peers.workflow(&addr) {
                            Ok(p) => p,
                            Err(e) => {
                                rpc.finish(Some(e.type_name()));
                                return Err(e.into());
                            }
                        };
                        let long_poll = forward::Routed::is_long_poll(request.get_ref());
                        let call = peer.$name(forward::onward(request));
                        let r = forward::unless_shutting_down(call, long_poll, self.0.shutdown.clone()).await;
                        rpc.finish(r.as_ref().err().map(crate::error::status_type_name));
                        return r;
                    }
                    let r = Frontend::$handler(&self.0, request).await;
                    if let Err(e) = &r {
                        tracing::debug!(rpc = operation, "error: {e}");
                    }
                    rpc.finish(r.as_ref().err().map(ApiError::type_name));
                    r.map(Response::new).map_err(Status::from)
                }
                .instrument(span)
                .await;
                observe::rpc_done(&outcome, r.as_ref().err().map_or(tonic::Code::Ok, Status::code));
                r
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
        execute_multi_operation(ExecuteMultiOperationRequest) -> ExecuteMultiOperationResponse => execute_multi_operation;
        pause_activity(PauseActivityRequest) -> PauseActivityResponse => pause_activity;
        unpause_activity(UnpauseActivityRequest) -> UnpauseActivityResponse => unpause_activity;
        reset_activity(ResetActivityRequest) -> ResetActivityResponse => reset_activity;
        update_activity_options(UpdateActivityOptionsRequest) -> UpdateActivityOptionsResponse => update_activity_options;
        pause_activity_execution(PauseActivityExecutionRequest) -> PauseActivityExecutionResponse => pause_activity_execution;
        unpause_activity_execution(UnpauseActivityExecutionRequest) -> UnpauseActivityExecutionResponse => unpause_activity_execution;
        reset_activity_execution(ResetActivityExecutionRequest) -> ResetActivityExecutionResponse => reset_activity_execution;
        update_activity_execution_options(UpdateActivityExecutionOptionsRequest) -> UpdateActivityExecutionOptionsResponse => update_activity_execution_options;
        record_worker_heartbeat(RecordWorkerHeartbeatRequest) -> RecordWorkerHeartbeatResponse => record_worker_heartbeat;
        list_workers(ListWorkersRequest) -> ListWorkersResponse => list_workers;
        count_workers(CountWorkersRequest) -> CountWorkersResponse => count_workers;
        describe_worker(DescribeWorkerRequest) -> DescribeWorkerResponse => describe_worker;
        poll_nexus_task_queue(PollNexusTaskQueueRequest) -> PollNexusTaskQueueResponse => poll_nexus_task_queue;
        create_schedule(CreateScheduleRequest) -> CreateScheduleResponse => create_schedule;
        describe_schedule(DescribeScheduleRequest) -> DescribeScheduleResponse => describe_schedule;
        update_schedule(UpdateScheduleRequest) -> UpdateScheduleResponse => update_schedule;
        patch_schedule(PatchScheduleRequest) -> PatchScheduleResponse => patch_schedule;
        delete_schedule(DeleteScheduleRequest) -> DeleteScheduleResponse => delete_schedule;
        list_schedules(ListSchedulesRequest) -> ListSchedulesResponse => list_schedules;
        count_schedules(CountSchedulesRequest) -> CountSchedulesResponse => count_schedules;
        list_schedule_matching_times(ListScheduleMatchingTimesRequest) -> ListScheduleMatchingTimesResponse => list_schedule_matching_times;
        update_workflow_execution_options(UpdateWorkflowExecutionOptionsRequest) -> UpdateWorkflowExecutionOptionsResponse => update_workflow_execution_options;
        start_batch_operation(StartBatchOperationRequest) -> StartBatchOperationResponse => start_batch_operation;
        stop_batch_operation(StopBatchOperationRequest) -> StopBatchOperationResponse => stop_batch_operation;
        describe_batch_operation(DescribeBatchOperationRequest) -> DescribeBatchOperationResponse => describe_batch_operation;
        list_batch_operations(ListBatchOperationsRequest) -> ListBatchOperationsResponse => list_batch_operations;
        start_activity_execution(StartActivityExecutionRequest) -> StartActivityExecutionResponse => start_activity_execution;
        describe_activity_execution(DescribeActivityExecutionRequest) -> DescribeActivityExecutionResponse => describe_activity_execution;
        poll_activity_execution(PollActivityExecutionRequest) -> PollActivityExecutionResponse => poll_activity_execution;
        request_cancel_activity_execution(RequestCancelActivityExecutionRequest) -> RequestCancelActivityExecutionResponse => request_cancel_activity_execution;
        terminate_activity_execution(TerminateActivityExecutionRequest) -> TerminateActivityExecutionResponse => terminate_activity_execution;
        delete_activity_execution(DeleteActivityExecutionRequest) -> DeleteActivityExecutionResponse => delete_activity_execution;
        list_activity_executions(ListActivityExecutionsRequest) -> ListActivityExecutionsResponse => list_activity_executions;
        count_activity_executions(CountActivityExecutionsRequest) -> CountActivityExecutionsResponse => count_activity_executions;
        describe_worker_deployment(DescribeWorkerDeploymentRequest) -> DescribeWorkerDeploymentResponse => describe_worker_deployment;
        describe_worker_deployment_version(DescribeWorkerDeploymentVersionRequest) -> DescribeWorkerDeploymentVersionResponse => describe_worker_deployment_version;
        list_worker_deployments(ListWorkerDeploymentsRequest) -> ListWorkerDeploymentsResponse => list_worker_deployments;
        set_worker_deployment_current_version(SetWorkerDeploymentCurrentVersionRequest) -> SetWorkerDeploymentCurrentVersionResponse => set_worker_deployment_current_version;
        set_worker_deployment_ramping_version(SetWorkerDeploymentRampingVersionRequest) -> SetWorkerDeploymentRampingVersionResponse => set_worker_deployment_ramping_version;
        delete_worker_deployment_version(DeleteWorkerDeploymentVersionRequest) -> DeleteWorkerDeploymentVersionResponse => delete_worker_deployment_version;
        delete_worker_deployment(DeleteWorkerDeploymentRequest) -> DeleteWorkerDeploymentResponse => delete_worker_deployment;
        update_worker_deployment_version_metadata(UpdateWorkerDeploymentVersionMetadataRequest) -> UpdateWorkerDeploymentVersionMetadataResponse => update_worker_deployment_version_metadata;
        set_worker_deployment_manager(SetWorkerDeploymentManagerRequest) -> SetWorkerDeploymentManagerResponse => set_worker_deployment_manager;
        get_worker_build_id_compatibility(GetWorkerBuildIdCompatibilityRequest) -> GetWorkerBuildIdCompatibilityResponse => get_worker_build_id_compatibility;
        update_worker_build_id_compatibility(UpdateWorkerBuildIdCompatibilityRequest) -> UpdateWorkerBuildIdCompatibilityResponse => update_worker_build_id_compatibility;
        get_worker_versioning_rules(GetWorkerVersioningRulesRequest) -> GetWorkerVersioningRulesResponse => get_worker_versioning_rules;
        update_worker_versioning_rules(UpdateWorkerVersioningRulesRequest) -> UpdateWorkerVersioningRulesResponse => update_worker_versioning_rules;
        get_worker_task_reachability(GetWorkerTaskReachabilityRequest) -> GetWorkerTaskReachabilityResponse => get_worker_task_reachability;
}
