//! What the frontend tells metrics (and traces) about a request: its operation's name as the
//! real server spells it, its namespace, which service of the real server's it stands for.
//!
//! This module does not know how metrics are recorded (`crate::metrics`) nor what a handler
//! does; the `rpcs!` shell of `frontend/mod.rs` calls it around every handler.

use crate::metrics;
use endure_api::temporal::api::workflowservice::v1 as ws;
use std::sync::OnceLock;

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
    ListSchedulesRequest, ListScheduleMatchingTimesRequest, UpdateWorkflowExecutionOptionsRequest,
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
