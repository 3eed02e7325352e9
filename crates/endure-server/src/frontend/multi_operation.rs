//! ExecuteMultiOperation: Update-with-Start, the one multi-operation Temporal defines (a start
//! and an update of the same workflow id, in that order).
//!
//! The start follows the id policies as StartWorkflowExecution does; the update goes to the run
//! the start made or found, admitted in the start's own transaction when the run is new (so the
//! first workflow task carries it). An error of one operation is answered as
//! MultiOperationExecutionFailure: that operation's status, and "aborted" for the other.

use super::Frontend;
use super::deadline::poll_deadline;
use super::updates::{UPDATE_LONG_POLL, checked_update, update_id};
use super::workflows::{start_fields_of, started_event_link};
use crate::error::{ApiError, ApiResult};
use endure_api::temporal::api::enums::v1::{WorkflowExecutionStatus as Status, WorkflowIdConflictPolicy};
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_store::RunKey;
use tonic::Request;
use ws::execute_multi_operation_request::operation::Operation;
use ws::execute_multi_operation_response::{Response as OpResponse, response::Response};

/// Refusal of a request that is not exactly a start followed by an update.
const NOT_START_AND_UPDATE: &str = "Operations have to be exactly [Start, Update].";
/// The message of a MultiOperationExecutionFailure.
const MULTI_OP_FAILED: &str = "MultiOperation could not be executed.";

/// A multi-operation error: `e` for operation `index` (0: start, 1: update), the other aborted.
fn failed_op(index: usize, e: ApiError) -> ApiError {
    let mut errors = vec![ApiError::OperationAborted, ApiError::OperationAborted];
    errors[index] = e;
    ApiError::MultiOperation { message: MULTI_OP_FAILED.into(), errors }
}

impl Frontend {
    pub(crate) async fn execute_multi_operation(
        &self,
        req: Request<ws::ExecuteMultiOperationRequest>,
    ) -> ApiResult<ws::ExecuteMultiOperationResponse> {
        let deadline = poll_deadline(&req, UPDATE_LONG_POLL);
        let r = req.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let mut ops = r.operations.into_iter().map(|o| o.operation);
        let (
            Some(Some(Operation::StartWorkflow(start))),
            Some(Some(Operation::UpdateWorkflow(update))),
            None,
        ) = (ops.next(), ops.next(), ops.next())
        else {
            return Err(ApiError::InvalidArgument(NOT_START_AND_UPDATE.into()));
        };
        // The start, checked as a start, plus what Update-with-Start does not allow.
        if start.namespace != ns.name && !start.namespace.is_empty() {
            return Err(failed_op(
                0,
                ApiError::InvalidArgument("Namespace is not consistent with previous operation(s).".into()),
            ));
        }
        if start.request_eager_execution {
            return Err(failed_op(
                0,
                ApiError::InvalidArgument("RequestEagerExecution is not supported.".into()),
            ));
        }
        if start.workflow_id_conflict_policy == WorkflowIdConflictPolicy::Unspecified as i32 {
            return Err(failed_op(
                0,
                ApiError::InvalidArgument("WorkflowIDConflictPolicy must be set.".into()),
            ));
        }
        if !start.cron_schedule.is_empty() {
            return Err(failed_op(0, ApiError::InvalidArgument("CronSchedule is not supported.".into())));
        }
        if start.workflow_start_delay.is_some_and(|d| d.seconds != 0 || d.nanos != 0) {
            return Err(failed_op(
                0,
                ApiError::InvalidArgument("WorkflowStartDelay is not supported.".into()),
            ));
        }
        let workflow_id = start.workflow_id.clone();
        let f = start_fields_of(start);
        self.starter.validate(&ns, &f).await.map_err(|e| failed_op(0, e))?;
        // The update, checked as an update, and against the start.
        let (e, request) = checked_update(&update, || self.engine.new_id()).map_err(|e| failed_op(1, e))?;
        if update.namespace != ns.name && !update.namespace.is_empty() {
            return Err(failed_op(
                1,
                ApiError::InvalidArgument("Namespace is not consistent with previous operation(s).".into()),
            ));
        }
        if e.workflow_id != workflow_id {
            return Err(failed_op(
                1,
                ApiError::InvalidArgument("WorkflowId is not consistent with previous operation(s).".into()),
            ));
        }
        if !e.run_id.is_empty() {
            return Err(failed_op(
                1,
                ApiError::InvalidArgument("RunId is not allowed for Update-with-Start.".into()),
            ));
        }
        if !update.first_execution_run_id.is_empty() {
            return Err(failed_op(
                1,
                ApiError::InvalidArgument("FirstExecutionRunId is not allowed for Update-with-Start.".into()),
            ));
        }
        let update_id = update_id(&request).to_string();
        let s = self.starter.start_with_update(&ns, f, request).await.map_err(|e| failed_op(0, e))?;
        let key = RunKey {
            namespace_id: ns.id.clone(),
            workflow_id: workflow_id.clone(),
            run_id: s.run_id.clone(),
        };
        let admission = s.admission.ok_or_else(|| ApiError::Internal("the start took no update".into()))?;
        let update_response = self
            .update_response(&key, update_id, admission, update.wait_policy, deadline)
            .await
            .map_err(|e| failed_op(1, e))?;
        let start_response = ws::StartWorkflowExecutionResponse {
            run_id: s.run_id.clone(),
            started: s.started,
            status: Status::Running as i32,
            link: Some(started_event_link(&ns.name, &workflow_id, &s.run_id)),
            ..Default::default()
        };
        Ok(ws::ExecuteMultiOperationResponse {
            responses: vec![
                OpResponse { response: Some(Response::StartWorkflow(start_response)) },
                OpResponse { response: Some(Response::UpdateWorkflow(update_response)) },
            ],
        })
    }
}
