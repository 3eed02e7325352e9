//! ExecuteMultiOperation: Update-with-Start, the one multi-operation Temporal defines (a start
//! and an update of the same workflow id, in that order).
//!
//! The start follows the id policies as StartWorkflowExecution does; the update goes to the run
//! the start made or found, admitted in the start's own transaction when the run is new (so the
//! first workflow task carries it). What attaches to an existing run instead is the starter's
//! rule ([`crate::starter::Starter::start_with_update`]). An error of an operation is answered
//! as MultiOperationExecutionFailure: each operation's own status, "aborted" for one that did
//! not fail itself; the whole takes the code of the first that failed.

use super::Frontend;
use super::deadline::poll_deadline;
use super::updates::{UPDATE_LONG_POLL, checked_update, update_id};
use super::workflows::{start_fields_of, started_event_link};
use crate::error::{ApiError, ApiResult};
use crate::validate::check_run_id;
use endure_api::temporal::api::common::v1::Link;
use endure_api::temporal::api::common::v1::link::{Variant, Workflow, WorkflowEvent, workflow_event};
use endure_api::temporal::api::enums::v1::EventType;
use endure_api::temporal::api::update::v1::outcome;
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_core::updates::Admission;
use endure_store::RunKey;
use tonic::Request;
use ws::execute_multi_operation_request::operation::Operation;
use ws::execute_multi_operation_response::{Response as OpResponse, response::Response};

/// Refusal of a request that is not exactly a start followed by an update.
const NOT_START_AND_UPDATE: &str = "Operations have to be exactly [Start, Update].";
/// The message of a MultiOperationExecutionFailure.
const MULTI_OP_FAILED: &str = "Update-with-Start could not be executed.";
/// An operation naming another namespace than the request.
const OTHER_NAMESPACE: &str = "Operation namespace did not match request's namespace.";

/// The multi-operation error of the operations' own errors (`None`: aborted).
fn failed(start: Option<ApiError>, update: Option<ApiError>) -> ApiError {
    let errors = [start, update].into_iter().map(|e| e.unwrap_or(ApiError::OperationAborted)).collect();
    ApiError::MultiOperation { message: MULTI_OP_FAILED.into(), errors }
}

fn invalid(message: &str) -> ApiError {
    ApiError::InvalidArgument(message.into())
}

impl Frontend {
    pub(crate) async fn execute_multi_operation(
        &self,
        req: Request<ws::ExecuteMultiOperationRequest>,
    ) -> ApiResult<ws::ExecuteMultiOperationResponse> {
        let deadline = poll_deadline(&req, UPDATE_LONG_POLL);
        let r = req.into_inner();
        let mut ops = r.operations.into_iter().map(|o| o.operation);
        let (
            Some(Some(Operation::StartWorkflow(start))),
            Some(Some(Operation::UpdateWorkflow(update))),
            None,
        ) = (ops.next(), ops.next(), ops.next())
        else {
            return Err(ApiError::InvalidArgument(NOT_START_AND_UPDATE.into()));
        };
        if r.namespace.is_empty() {
            return Err(invalid("Namespace is empty."));
        }
        let ns = self.namespaces.by_name(&r.namespace).await?;
        // Each operation is checked on its own; both may fail.
        let workflow_id = start.workflow_id.clone();
        let start_error = if start.namespace != r.namespace {
            Some(invalid(OTHER_NAMESPACE))
        } else if !start.cron_schedule.is_empty() {
            Some(invalid("CronSchedule is not allowed."))
        } else if start.workflow_start_delay.is_some_and(|d| d.seconds != 0 || d.nanos != 0) {
            Some(invalid("WorkflowStartDelay is not supported."))
        } else if start.request_eager_execution {
            Some(invalid("RequestEagerExecution is not supported."))
        } else {
            None
        };
        let f = start_fields_of(start);
        let start_error = match start_error {
            Some(e) => Some(e),
            None => self.starter.validate(&ns, &f).await.err(),
        };
        let checked = if !update.namespace.is_empty() && update.namespace != r.namespace {
            Err(invalid(OTHER_NAMESPACE))
        } else {
            self.check_update_of_start(&update)
        };
        let request = match (start_error, checked) {
            (None, Ok((e, request))) if e.workflow_id == workflow_id => request,
            (None, Ok(_)) => {
                return Err(failed(
                    None,
                    Some(invalid("WorkflowId is not consistent with previous operation(s).")),
                ));
            }
            (start_error, checked) => return Err(failed(start_error, checked.err())),
        };
        let update_id = update_id(&request).to_string();
        // As the real server: once more if the run the update went to closed before taking it
        // (the start then makes a new run).
        let mut retried = false;
        let (s, update_response, attached_outcome) = loop {
            let s = self
                .starter
                .start_with_update(&ns, f.clone(), request.clone())
                .await
                .map_err(|e| failed(Some(e), None))?;
            let key = RunKey {
                namespace_id: ns.id.clone(),
                workflow_id: workflow_id.clone(),
                run_id: s.run_id.clone(),
            };
            let admission =
                s.admission.clone().ok_or_else(|| ApiError::Internal("the start took no update".into()))?;
            let attached_outcome = matches!(admission, Admission::Completed(_)) && !s.fresh;
            match self.update_response(&key, update_id.clone(), admission, update.wait_policy, deadline).await
            {
                Ok(mut u) => {
                    if !attached_outcome {
                        let failed = matches!(
                            u.outcome.as_ref().and_then(|o| o.value.as_ref()),
                            Some(outcome::Value::Failure(_))
                        );
                        // A failure with no completion event is the workflow's rejection.
                        let rejected = failed
                            && !self.engine.load(&key).await?.ms.completed_updates.contains_key(&update_id);
                        u.link = Some(update_link(&ns.name, &key, rejected));
                    }
                    break (s, u, attached_outcome);
                }
                Err(ApiError::BusyWorkflow(_)) if !s.fresh && !retried => retried = true,
                Err(e) => return Err(failed(None, Some(e))),
            }
        };
        let start_response = ws::StartWorkflowExecutionResponse {
            first_execution_run_id: if s.fresh { s.run_id.clone() } else { String::new() },
            run_id: s.run_id.clone(),
            started: s.started,
            status: s.status,
            link: (!attached_outcome).then(|| started_event_link(&ns.name, &workflow_id, &s.run_id)),
            ..Default::default()
        };
        Ok(ws::ExecuteMultiOperationResponse {
            responses: vec![
                OpResponse { response: Some(Response::StartWorkflow(start_response)) },
                OpResponse { response: Some(Response::UpdateWorkflow(update_response)) },
            ],
        })
    }

    /// Checks the update of an Update-with-Start: as an update, naming no run.
    fn check_update_of_start(
        &self,
        update: &ws::UpdateWorkflowExecutionRequest,
    ) -> ApiResult<(
        endure_api::temporal::api::common::v1::WorkflowExecution,
        endure_api::temporal::api::update::v1::Request,
    )> {
        let run_id = update.workflow_execution.as_ref().map(|e| e.run_id.as_str()).unwrap_or_default();
        if !run_id.is_empty() {
            check_run_id(run_id)?;
            return Err(invalid("RunId is not allowed."));
        }
        if !update.first_execution_run_id.is_empty() {
            return Err(invalid("FirstExecutionRunId is not allowed."));
        }
        checked_update(update, || self.engine.new_id())
    }
}

/// The link an Update-with-Start's update response carries: to the run's acceptance of the
/// update, or, for an update the workflow rejected (it has no event), to the run, saying so.
fn update_link(namespace: &str, key: &RunKey, rejected: bool) -> Link {
    let variant = if rejected {
        Variant::Workflow(Workflow {
            namespace: namespace.to_owned(),
            workflow_id: key.workflow_id.clone(),
            run_id: key.run_id.clone(),
            reason: "Update rejected".into(),
        })
    } else {
        Variant::WorkflowEvent(WorkflowEvent {
            namespace: namespace.to_owned(),
            workflow_id: key.workflow_id.clone(),
            run_id: key.run_id.clone(),
            reference: Some(workflow_event::Reference::RequestIdRef(workflow_event::RequestIdReference {
                request_id: String::new(),
                event_type: EventType::WorkflowExecutionUpdateAccepted as i32,
            })),
        })
    };
    Link { variant: Some(variant) }
}
