//! Routing in a cluster: an RPC about one workflow runs on the replica that holds the workflow's
//! history shard. Any replica accepts it; if the shard is held elsewhere the request is sent on,
//! unchanged, to the owner's internal endpoint (which serves the same WorkflowService), and the
//! owner's answer — response or status with its details — goes back to the caller as is.
//!
//! A forwarded request carries the [`FORWARDED`] header; a replica that receives one for a shard
//! it no longer holds answers UNAVAILABLE (the SDKs retry) instead of forwarding again, so a
//! request never loops while ownership moves.

use super::Frontend;
use crate::error::{ApiError, ApiResult};
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_core::token::TaskToken;
use tonic::Request;

/// Metadata key marking a request forwarded by another replica.
pub const FORWARDED: &str = "endure-forwarded";

/// Where an RPC must run.
pub enum Route {
    /// On any replica (namespaces, visibility, system info …).
    Any,
    /// On the owner of this workflow id's shard (namespace by name).
    Workflow {
        /// Namespace name.
        namespace: String,
        /// Workflow id.
        workflow_id: String,
    },
    /// On the owner of the shard of the workflow a task token names.
    Token(Vec<u8>),
    /// On the owner of a task queue (its pollers, backlog and sticky tasks live there).
    Queue {
        /// Namespace name.
        namespace: String,
        /// Task queue name.
        queue: String,
    },
}

/// Requests that name the workflow they act on.
pub trait Routed {
    /// Where this request must run.
    fn route(&self) -> Route;

    /// Whether the call may wait a long time for something to happen (a long poll): at
    /// shutdown it is cut at once rather than given time to finish.
    fn is_long_poll(&self) -> bool {
        false
    }
}

fn wf(namespace: &str, workflow_id: &str) -> Route {
    Route::Workflow { namespace: namespace.to_owned(), workflow_id: workflow_id.to_owned() }
}

macro_rules! routed {
    (any: $($any:ident),* ;) => {
        $(impl Routed for ws::$any { fn route(&self) -> Route { Route::Any } })*
    };
}

routed! { any:
    GetSystemInfoRequest, GetClusterInfoRequest, RegisterNamespaceRequest, DescribeNamespaceRequest,
    ListNamespacesRequest, UpdateNamespaceRequest, ListWorkflowExecutionsRequest,
    ListOpenWorkflowExecutionsRequest, ListClosedWorkflowExecutionsRequest,
    CountWorkflowExecutionsRequest, ScanWorkflowExecutionsRequest, GetSearchAttributesRequest,
    ListTaskQueuePartitionsRequest, ListSchedulesRequest, CountSchedulesRequest, ListBatchOperationsRequest,
    ListActivityExecutionsRequest, CountActivityExecutionsRequest, ListWorkerDeploymentsRequest,
    GetWorkerBuildIdCompatibilityRequest, UpdateWorkerBuildIdCompatibilityRequest,
    GetWorkerVersioningRulesRequest, UpdateWorkerVersioningRulesRequest,
    GetWorkerTaskReachabilityRequest;
}

/// Schedule RPCs run on the owner of the schedule's system run.
macro_rules! routed_by_schedule {
    ($($req:ident),* $(,)?) => {
        $(impl Routed for ws::$req {
            fn route(&self) -> Route {
                wf(&self.namespace, &endure_core::schedule::workflow_id_of(&self.schedule_id))
            }
        })*
    };
}

/// Batch job RPCs run on the owner of the job's system run (named by the job id).
macro_rules! routed_by_job {
    ($($req:ident),* $(,)?) => {
        $(impl Routed for ws::$req {
            fn route(&self) -> Route { wf(&self.namespace, &self.job_id) }
        })*
    };
}

routed_by_job! { StartBatchOperationRequest, StopBatchOperationRequest, DescribeBatchOperationRequest }

routed_by_schedule! {
    CreateScheduleRequest, DescribeScheduleRequest, UpdateScheduleRequest, PatchScheduleRequest,
    DeleteScheduleRequest, ListScheduleMatchingTimesRequest,
}

macro_rules! routed_by_queue {
    ($($req:ident . $field:ident, long poll: $long:expr);* $(;)?) => {
        $(impl Routed for ws::$req {
            fn route(&self) -> Route {
                let queue = self.$field.as_ref().map(|q| q.name.clone()).unwrap_or_default();
                Route::Queue { namespace: self.namespace.clone(), queue }
            }
            fn is_long_poll(&self) -> bool {
                $long
            }
        })*
    };
}

routed_by_queue! {
    PollWorkflowTaskQueueRequest.task_queue, long poll: true;
    PollActivityTaskQueueRequest.task_queue, long poll: true;
    DescribeTaskQueueRequest.task_queue, long poll: false;
}

/// The pseudo task queue whose owner holds a namespace's worker registry
/// ([`crate::workers`]): RecordWorkerHeartbeat, ListWorkers, CountWorkers and DescribeWorker
/// run there, so every replica answers from the same registry. No worker polls it (a user's
/// queue of the same name would only share its shard).
pub const WORKER_REGISTRY_QUEUE: &str = "/endure/worker-registry";

macro_rules! routed_to_worker_registry {
    ($($req:ident),* $(,)?) => {
        $(impl Routed for ws::$req {
            fn route(&self) -> Route {
                Route::Queue { namespace: self.namespace.clone(), queue: WORKER_REGISTRY_QUEUE.to_owned() }
            }
        })*
    };
}

routed_to_worker_registry! {
    RecordWorkerHeartbeatRequest, ListWorkersRequest, CountWorkersRequest, DescribeWorkerRequest,
}

/// Nexus polls are answered where they arrive (no replica holds Nexus tasks).
impl Routed for ws::PollNexusTaskQueueRequest {
    fn route(&self) -> Route {
        Route::Any
    }
    fn is_long_poll(&self) -> bool {
        true
    }
}

/// On the owner of the sticky queue it drains; the heartbeat it carries is sent on to the
/// namespace's worker registry from there.
impl Routed for ws::ShutdownWorkerRequest {
    fn route(&self) -> Route {
        Route::Queue { namespace: self.namespace.clone(), queue: self.sticky_task_queue.clone() }
    }
}

macro_rules! routed_by_execution {
    ($($req:ident . $field:ident),* $(,)?) => {
        $(impl Routed for ws::$req {
            fn route(&self) -> Route {
                wf(&self.namespace, self.$field.as_ref().map(|e| e.workflow_id.as_str()).unwrap_or_default())
            }
        })*
    };
}

impl Routed for ws::GetWorkflowExecutionHistoryRequest {
    fn route(&self) -> Route {
        wf(&self.namespace, self.execution.as_ref().map(|e| e.workflow_id.as_str()).unwrap_or_default())
    }
    fn is_long_poll(&self) -> bool {
        self.wait_new_event
    }
}

routed_by_execution! {
    SignalWorkflowExecutionRequest.workflow_execution,
    RequestCancelWorkflowExecutionRequest.workflow_execution,
    TerminateWorkflowExecutionRequest.workflow_execution,
    DescribeWorkflowExecutionRequest.execution,
    GetWorkflowExecutionHistoryReverseRequest.execution,
    QueryWorkflowRequest.execution,
    ResetWorkflowExecutionRequest.workflow_execution,
    DeleteWorkflowExecutionRequest.workflow_execution,
    UpdateWorkflowExecutionRequest.workflow_execution,
    ResetStickyTaskQueueRequest.execution,
    UpdateWorkflowExecutionOptionsRequest.workflow_execution,
}

macro_rules! routed_by_id {
    ($($req:ident),* $(,)?) => {
        $(impl Routed for ws::$req {
            fn route(&self) -> Route { wf(&self.namespace, &self.workflow_id) }
        })*
    };
}

routed_by_id! { StartWorkflowExecutionRequest, SignalWithStartWorkflowExecutionRequest }

/// Requests naming an activity by id: a workflow's (with its workflow id), or a standalone
/// activity (no workflow id), which runs where its system run lives.
macro_rules! routed_by_activity {
    ($($req:ident),* $(,)?) => {
        $(impl Routed for ws::$req {
            fn route(&self) -> Route {
                if self.workflow_id.is_empty() {
                    wf(&self.namespace, &endure_core::standalone::workflow_id_of(&self.activity_id))
                } else {
                    wf(&self.namespace, &self.workflow_id)
                }
            }
        })*
    };
}

routed_by_activity! {
    RecordActivityTaskHeartbeatByIdRequest, RespondActivityTaskCompletedByIdRequest,
    RespondActivityTaskFailedByIdRequest, RespondActivityTaskCanceledByIdRequest,
    PauseActivityExecutionRequest, UnpauseActivityExecutionRequest, ResetActivityExecutionRequest,
    UpdateActivityExecutionOptionsRequest,
}

/// Worker Deployment RPCs run on the owner of the deployment's system run.
macro_rules! routed_by_deployment {
    ($($req:ident),* $(,)?) => {
        $(impl Routed for ws::$req {
            fn route(&self) -> Route {
                wf(&self.namespace, &endure_core::deployment::workflow_id_of(&self.deployment_name))
            }
        })*
    };
}

routed_by_deployment! {
    DescribeWorkerDeploymentRequest, SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest, DeleteWorkerDeploymentRequest,
    SetWorkerDeploymentManagerRequest,
}

/// Requests naming a deployment version.
macro_rules! routed_by_deployment_version {
    ($($req:ident),* $(,)?) => {
        $(impl Routed for ws::$req {
            #[allow(deprecated)]
            fn route(&self) -> Route {
                let name = self
                    .deployment_version
                    .as_ref()
                    .map(|v| v.deployment_name.clone())
                    .filter(|n| !n.is_empty())
                    .or_else(|| self.version.split_once('.').map(|(d, _)| d.to_owned()))
                    .unwrap_or_default();
                wf(&self.namespace, &endure_core::deployment::workflow_id_of(&name))
            }
        })*
    };
}

routed_by_deployment_version! {
    DescribeWorkerDeploymentVersionRequest, DeleteWorkerDeploymentVersionRequest,
    UpdateWorkerDeploymentVersionMetadataRequest,
}

/// Standalone activity RPCs run on the owner of the activity's system run.
macro_rules! routed_by_standalone_activity {
    ($($req:ident $(, long poll: $long:expr)?);* $(;)?) => {
        $(impl Routed for ws::$req {
            fn route(&self) -> Route {
                wf(&self.namespace, &endure_core::standalone::workflow_id_of(&self.activity_id))
            }
            $(fn is_long_poll(&self) -> bool {
                $long(self)
            })?
        })*
    };
}

routed_by_standalone_activity! {
    StartActivityExecutionRequest;
    DescribeActivityExecutionRequest, long poll: |r: &ws::DescribeActivityExecutionRequest| !r.long_poll_token.is_empty();
    PollActivityExecutionRequest, long poll: |_| true;
    RequestCancelActivityExecutionRequest;
    TerminateActivityExecutionRequest;
    DeleteActivityExecutionRequest;
}

macro_rules! routed_by_token {
    ($($req:ident),* $(,)?) => {
        $(impl Routed for ws::$req {
            fn route(&self) -> Route { Route::Token(self.task_token.clone()) }
        })*
    };
}

routed_by_token! {
    RespondQueryTaskCompletedRequest, RespondWorkflowTaskCompletedRequest,
    RespondWorkflowTaskFailedRequest, RecordActivityTaskHeartbeatRequest,
    RespondActivityTaskCompletedRequest, RespondActivityTaskFailedRequest,
    RespondActivityTaskCanceledRequest,
}

impl Routed for ws::PollWorkflowExecutionUpdateRequest {
    fn is_long_poll(&self) -> bool {
        true
    }
    fn route(&self) -> Route {
        let id = self
            .update_ref
            .as_ref()
            .and_then(|u| u.workflow_execution.as_ref())
            .map(|e| e.workflow_id.as_str())
            .unwrap_or_default();
        wf(&self.namespace, id)
    }
}

/// The activity operations run where their workflow lives.
macro_rules! routed_by_workflow_execution {
    ($($req:ident),* $(,)?) => {
        $(impl Routed for ws::$req {
            fn route(&self) -> Route {
                wf(&self.namespace, self.execution.as_ref().map(|e| e.workflow_id.as_str()).unwrap_or_default())
            }
        })*
    };
}

routed_by_workflow_execution! {
    PauseActivityRequest, UnpauseActivityRequest, ResetActivityRequest, UpdateActivityOptionsRequest,
}

/// Update-with-Start runs where its workflow id lives (the start names it; a request naming
/// two ids is refused wherever it lands).
impl Routed for ws::ExecuteMultiOperationRequest {
    fn route(&self) -> Route {
        use ws::execute_multi_operation_request::operation::Operation;
        let id = self
            .operations
            .iter()
            .find_map(|o| match &o.operation {
                Some(Operation::StartWorkflow(s)) => Some(s.workflow_id.as_str()),
                _ => None,
            })
            .unwrap_or_default();
        wf(&self.namespace, id)
    }
}

/// Metadata a forwarded request keeps (the caller's headers, not the transport's own).
fn keep_header(name: &str) -> bool {
    !matches!(
        name,
        "grpc-timeout" | "content-type" | "te" | "user-agent" | "grpc-encoding" | "grpc-accept-encoding"
    ) && !name.starts_with(':')
}

/// The request to send on to another replica: the same message and caller headers, the
/// remaining deadline, and the [`FORWARDED`] mark.
pub fn onward<T>(req: Request<T>) -> Request<T> {
    let timeout = req
        .metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(super::deadline::parse_grpc_timeout);
    let (meta, _ext, msg) = req.into_parts();
    let mut out = Request::new(msg);
    for kv in meta.iter() {
        if let tonic::metadata::KeyAndValueRef::Ascii(k, v) = kv
            && keep_header(k.as_str())
        {
            out.metadata_mut().insert(k.clone(), v.clone());
        }
    }
    out.metadata_mut().insert(FORWARDED, tonic::metadata::MetadataValue::from_static("1"));
    if let Some(t) = timeout {
        out.set_timeout(t);
    }
    out
}

impl Frontend {
    /// Where `req` must run: `None` here, or the internal address of the replica to forward it
    /// to. A request for a shard nobody holds right now (a takeover in progress), or one
    /// already forwarded to us for a shard we do not hold, is UNAVAILABLE: the caller retries.
    pub async fn forward_target<T: Routed>(&self, req: &Request<T>) -> ApiResult<Option<String>> {
        let ownership = &self.ownership;
        let (shard, what) = match req.get_ref().route() {
            Route::Any => return Ok(None),
            Route::Queue { namespace, queue } => {
                if namespace.is_empty() || queue.is_empty() {
                    return Ok(None);
                }
                match self.namespaces.by_name(&namespace).await {
                    Ok(ns) => (ownership.queue_shard(&ns.id, &queue), format!("task queue {queue}")),
                    Err(_) => return Ok(None),
                }
            }
            Route::Workflow { namespace, workflow_id } => {
                if namespace.is_empty() || workflow_id.is_empty() {
                    return Ok(None); // the handler answers the validation error
                }
                match self.namespaces.by_name(&namespace).await {
                    Ok(ns) => (ownership.shard_of(&ns.id, &workflow_id), format!("workflow {workflow_id}")),
                    Err(_) => return Ok(None),
                }
            }
            Route::Token(bytes) => match TaskToken::decode(&bytes) {
                Ok(t) => (
                    ownership.shard_of(&t.namespace_id, &t.workflow_id),
                    format!("workflow {}", t.workflow_id),
                ),
                Err(_) => return Ok(None),
            },
        };
        if ownership.holds(shard) {
            return Ok(None);
        }
        let forwarded = req.metadata().contains_key(FORWARDED);
        match ownership.owner_address(shard) {
            Some(addr) if !forwarded => Ok(Some(addr)),
            _ => Err(ApiError::ShardNotOwned(format!(
                "{what}'s shard {shard} is moving between replicas; retry"
            ))),
        }
    }
}

/// Awaits a forwarded call, but not past this replica's shutdown: once shutdown begins an
/// ordinary call gets two more seconds to finish, a long poll (which could hold the shutdown for
/// a minute) none; then the caller is told to retry elsewhere.
pub async fn unless_shutting_down<T>(
    call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    long_poll: bool,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<tonic::Response<T>, tonic::Status> {
    tokio::pin!(call);
    tokio::select! {
        r = &mut call => return r,
        _ = shutdown.wait_for(|s| *s) => {}
    }
    let grace = if long_poll { std::time::Duration::ZERO } else { std::time::Duration::from_secs(2) };
    match tokio::time::timeout(grace, call).await {
        Ok(r) => r,
        Err(_) => Err(ApiError::Unavailable("this replica is shutting down; retry".into()).into()),
    }
}
