//! Batch operations: what a batch job keeps ([`BatchState`]) and the real server's rules for
//! it (which runs a query selects for each operation, how a job is named and shown).
//!
//! A batch job lives as a system run whose workflow id is the job id (as on the real server, job
//! ids share the namespace's workflow ids): stored, fenced and taken over with its shard like any
//! run. Its progress (the page of targets being worked, the next item, the counts) is a
//! checkpoint in that run's state, committed after every item, so a job resumes where it was
//! after a crash or a failover and redoes at most the one item in flight (whose operation is
//! idempotent: fixed request ids). The transitions are in [`crate::batcher`]; this module is data
//! and rules only, so the run state can hold it.

use crate::api::batch::v1::BatchOperationInfo;
use crate::api::enums::v1::{BatchOperationState, BatchOperationType};
use crate::api::workflowservice::v1::StartBatchOperationRequest;
use crate::api::workflowservice::v1::start_batch_operation_request::Operation;
use crate::protobytes;
use crate::time::{self, Nanos};
use serde::{Deserialize, Serialize};

/// The workflow type of a batch job's system run (the real server's).
pub const WORKFLOW_TYPE: &str = "temporal-sys-batch-workflow-protobuf";
/// `TemporalNamespaceDivision` of a batch job's system run: workflow listings leave it out.
pub const NAMESPACE_DIVISION: &str = "TemporalBatcher";
/// The system search attribute holding a batch job's identity.
pub const BATCHER_USER: &str = "BatcherUser";
/// Items a batch job lists at a time (its checkpointed page).
pub const PAGE_SIZE: usize = 100;
/// Operations per second of a namespace's batch jobs unless the dynamic config says otherwise
/// (`worker.batcherRPS`).
pub const DEFAULT_RPS: f64 = 50.0;

/// One run a batch job acts on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Target {
    /// Workflow id.
    pub workflow_id: String,
    /// Run id ("" = the current run).
    pub run_id: String,
}

/// What a batch job's system run holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchState {
    /// The request that started it (its operation, query or executions, reason, identity).
    #[serde(with = "protobytes::opt")]
    pub request: Option<StartBatchOperationRequest>,
    /// Items it expects to work (the query's count at the start, or the executions given).
    pub total: i64,
    /// Items done.
    pub succeeded: i64,
    /// Items that failed.
    pub failed: i64,
    /// The page of targets being worked.
    pub page: Vec<Target>,
    /// The next item of `page`.
    pub index: usize,
    /// Where the query's next page starts (empty with `listed_all`).
    #[serde(with = "protobytes::raw")]
    pub next_page_token: Vec<u8>,
    /// Every target has been listed (the page is the last).
    pub listed_all: bool,
    /// Operations per second.
    pub rps: f64,
    /// Why the job failed, when it did.
    pub failure: String,
}

impl BatchState {
    /// The job's operation.
    pub fn operation(&self) -> Option<&Operation> {
        self.request.as_ref()?.operation.as_ref()
    }

    /// Its `BatchOperationType`.
    pub fn operation_type(&self) -> BatchOperationType {
        self.operation().map_or(BatchOperationType::Unspecified, operation_type)
    }

    /// The identity the job was started with.
    pub fn identity(&self) -> &str {
        self.operation().map_or("", identity)
    }

    /// The next target to work, if the current page has one.
    pub fn next_target(&self) -> Option<&Target> {
        self.page.get(self.index)
    }

    /// Whether every target has been worked.
    pub fn finished(&self) -> bool {
        self.listed_all && self.index >= self.page.len()
    }
}

/// The `BatchOperationType` of an operation.
pub fn operation_type(op: &Operation) -> BatchOperationType {
    use BatchOperationType as T;
    match op {
        Operation::TerminationOperation(_) => T::TerminateWorkflow,
        Operation::SignalOperation(_) => T::SignalWorkflow,
        Operation::CancellationOperation(_) => T::CancelWorkflow,
        Operation::DeletionOperation(_) => T::DeleteWorkflow,
        Operation::ResetOperation(_) => T::ResetWorkflow,
        Operation::UpdateWorkflowOptionsOperation(_) => T::UpdateWorkflowExecutionOptions,
        Operation::UnpauseActivitiesOperation(_) => T::UnpauseActivity,
        Operation::ResetActivitiesOperation(_) => T::ResetActivity,
        Operation::UpdateActivityOptionsOperation(_) => T::UpdateActivityOptions,
        _ => T::Unspecified,
    }
}

/// The identity an operation carries.
pub fn identity(op: &Operation) -> &str {
    match op {
        Operation::TerminationOperation(o) => &o.identity,
        Operation::SignalOperation(o) => &o.identity,
        Operation::CancellationOperation(o) => &o.identity,
        Operation::DeletionOperation(o) => &o.identity,
        Operation::ResetOperation(o) => &o.identity,
        Operation::UpdateWorkflowOptionsOperation(o) => &o.identity,
        Operation::UnpauseActivitiesOperation(o) => &o.identity,
        Operation::ResetActivitiesOperation(o) => &o.identity,
        Operation::UpdateActivityOptionsOperation(o) => &o.identity,
        _ => "",
    }
}

/// The operation type a job's memo names (`batch_operation_type`), for listings.
pub fn type_of_memo_name(name: &str) -> BatchOperationType {
    use BatchOperationType as T;
    match name {
        "terminate" => T::TerminateWorkflow,
        "signal" => T::SignalWorkflow,
        "cancel" => T::CancelWorkflow,
        "delete" => T::DeleteWorkflow,
        "reset" => T::ResetWorkflow,
        "update_options" => T::UpdateWorkflowExecutionOptions,
        _ => T::Unspecified,
    }
}

/// The memo's name for an operation, as the real server writes `batch_operation_type`.
pub fn memo_name(op: &Operation) -> &'static str {
    match op {
        Operation::TerminationOperation(_) => "terminate",
        Operation::SignalOperation(_) => "signal",
        Operation::CancellationOperation(_) => "cancel",
        Operation::DeletionOperation(_) => "delete",
        Operation::ResetOperation(_) => "reset",
        Operation::UpdateWorkflowOptionsOperation(_) => "update_options",
        _ => "",
    }
}

/// Whether an operation acts only on running workflows: a query then selects only them (delete
/// and reset take closed runs too), as on the real server.
pub fn running_only(op: &Operation) -> bool {
    !matches!(op, Operation::DeletionOperation(_) | Operation::ResetOperation(_))
}

/// The query a job lists its targets with: the request's, narrowed to running workflows when
/// the operation acts on those only.
pub fn target_query(query: &str, op: &Operation) -> String {
    match (running_only(op), query.trim().is_empty()) {
        (false, _) => query.to_owned(),
        (true, true) => "ExecutionStatus = 'Running'".to_owned(),
        (true, false) => format!("({query}) AND (ExecutionStatus = 'Running')"),
    }
}

/// A job's state from its run's status (`WorkflowExecutionStatus` number): running, completed,
/// or failed (a failed or stopped job).
pub fn job_state(status: i32) -> BatchOperationState {
    use crate::api::enums::v1::WorkflowExecutionStatus as S;
    match S::try_from(status).unwrap_or(S::Unspecified) {
        S::Running => BatchOperationState::Running,
        S::Completed => BatchOperationState::Completed,
        _ => BatchOperationState::Failed,
    }
}

/// A job's entry in ListBatchOperations.
pub fn list_info(
    job_id: &str,
    status: i32,
    op: BatchOperationType,
    start: Nanos,
    close: Nanos,
) -> BatchOperationInfo {
    BatchOperationInfo {
        job_id: job_id.to_owned(),
        state: job_state(status) as i32,
        start_time: Some(time::to_timestamp(start)),
        close_time: (close > 0).then(|| time::to_timestamp(close)),
        operation_type: op as i32,
    }
}
