//! UpdateWorkflowExecution and PollWorkflowExecutionUpdate.
//!
//! An update is admitted into the run's state (and delivered with the next workflow task). The
//! caller then waits, on the run's change notifications, for the stage it asked for: admitted,
//! accepted (WorkflowExecutionUpdateAccepted in history) or completed (the outcome from
//! WorkflowExecutionUpdateCompleted, or the rejection failure, which is never in history).

use super::Frontend;
use super::deadline::poll_deadline;
use crate::error::{ApiError, ApiResult};
use crate::validate::{check_id, check_length};
use endure_api::temporal::api::common::v1::WorkflowExecution;
use endure_api::temporal::api::enums::v1::UpdateWorkflowExecutionLifecycleStage as Stage;
use endure_api::temporal::api::failure::v1::Failure;
use endure_api::temporal::api::history::v1::history_event::Attributes;
use endure_api::temporal::api::update::v1::{
    Outcome, Request as UpdateRequest, UpdateRef, WaitPolicy, outcome,
};
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_core::state::UpdateState;
use endure_core::updates::Admission;
use endure_store::RunKey;
use std::time::Duration;
use tokio::time::Instant;
use tonic::Request;

/// How long an update call waits for its stage before answering with the stage reached.
pub(crate) const UPDATE_LONG_POLL: Duration = Duration::from_secs(60);

/// The update id of a checked request.
pub(crate) fn update_id(request: &UpdateRequest) -> &str {
    request.meta.as_ref().map(|m| m.update_id.as_str()).unwrap_or_default()
}

/// Checks an UpdateWorkflowExecution request: the execution it names and the update request,
/// given an id if it has none (as the real server does).
pub(crate) fn checked_update(
    r: &ws::UpdateWorkflowExecutionRequest,
    new_id: impl FnOnce() -> String,
) -> ApiResult<(WorkflowExecution, UpdateRequest)> {
    let e = r.workflow_execution.clone().unwrap_or_default();
    check_id(&e.workflow_id, "WorkflowId")?;
    let mut request = r
        .request
        .clone()
        .ok_or_else(|| ApiError::InvalidArgument("Request is not set on request.".into()))?;
    let meta = request
        .meta
        .as_mut()
        .ok_or_else(|| ApiError::InvalidArgument("Update meta is not set on request.".into()))?;
    if meta.update_id.is_empty() {
        meta.update_id = new_id();
    }
    check_length(&meta.update_id, "UpdateId length exceeds limit.")?;
    let input = request
        .input
        .as_ref()
        .ok_or_else(|| ApiError::InvalidArgument("Update input is not set on request.".into()))?;
    if input.name.is_empty() {
        return Err(ApiError::InvalidArgument("Update name is not set on request.".into()));
    }
    if r.wait_policy.is_some_and(|w| w.lifecycle_stage == Stage::Admitted as i32) {
        return Err(ApiError::PermissionDenied(
            "UpdateWorkflowExecution issued asynchronously and waiting on update admitted is not supported."
                .into(),
        ));
    }
    Ok((e, request))
}

impl Frontend {
    /// Remembers rejections (they are not in history) for the callers waiting on them.
    pub(crate) fn record_rejections(&self, run: &RunKey, rejected: Vec<(String, Failure)>) {
        if rejected.is_empty() {
            return;
        }
        let mut map = self.update_rejections.lock();
        if map.len() > 10_000 {
            map.clear();
        }
        for (id, failure) in rejected {
            map.insert((run.clone(), id), failure);
        }
    }

    pub(crate) async fn update_workflow_execution(
        &self,
        req: Request<ws::UpdateWorkflowExecutionRequest>,
    ) -> ApiResult<ws::UpdateWorkflowExecutionResponse> {
        let deadline = poll_deadline(&req, UPDATE_LONG_POLL);
        let r = req.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let (e, request) = checked_update(&r, || self.engine.new_id())?;
        let key = self.engine.resolve_run(&ns.id, &e.workflow_id, &e.run_id).await?;
        if !r.first_execution_run_id.is_empty() {
            // The caller names the chain it means: another chain under the same id is not it.
            let first = self.engine.load(&key).await?.ms.first_execution_run_id;
            if first != r.first_execution_run_id {
                return Err(ApiError::NotFound("workflow execution not found".into()));
            }
        }
        let update_id = update_id(&request).to_string();
        // A rejected update leaves no trace: its id may be used again.
        self.update_rejections.lock().remove(&(key.clone(), update_id.clone()));
        let admission = self.engine.update(&key, None, |x| x.admit_update(request)).await?;
        let mut response = self.update_response(&key, update_id, admission, r.wait_policy, deadline).await?;
        response.link = self.update_link(&ns.name, &key, &response).await?;
        Ok(response)
    }

    /// The link an UpdateWorkflowExecution answer carries on the real server (Update-with-Start's
    /// has none): an accepted update's event by request id, or for a rejected one its run.
    async fn update_link(
        &self,
        namespace: &str,
        key: &RunKey,
        response: &ws::UpdateWorkflowExecutionResponse,
    ) -> ApiResult<Option<endure_api::temporal::api::common::v1::Link>> {
        use endure_api::temporal::api::common::v1::{Link, link};
        let update_id = response.update_ref.as_ref().map(|u| u.update_id.as_str()).unwrap_or_default();
        // Rejected: failed without being accepted (a rejection is not in history; an accepted
        // update that failed completed there).
        let failed =
            response.outcome.as_ref().is_some_and(|o| matches!(o.value, Some(outcome::Value::Failure(_))));
        if failed && !self.engine.load(key).await?.ms.completed_updates.contains_key(update_id) {
            return Ok(Some(Link {
                variant: Some(link::Variant::Workflow(link::Workflow {
                    namespace: namespace.to_owned(),
                    workflow_id: key.workflow_id.clone(),
                    run_id: key.run_id.clone(),
                    reason: "Update rejected".into(),
                })),
            }));
        }
        Ok((response.stage >= Stage::Accepted as i32).then(|| {
            super::workflows::request_event_link(
                namespace,
                &key.workflow_id,
                &key.run_id,
                "",
                endure_api::temporal::api::enums::v1::EventType::WorkflowExecutionUpdateAccepted,
            )
        }))
    }

    /// The answer to an update admitted into `key`'s run: what happened to it by the stage the
    /// caller waits for, or by the deadline.
    pub(crate) async fn update_response(
        &self,
        key: &RunKey,
        update_id: String,
        admission: Admission,
        wait_policy: Option<WaitPolicy>,
        deadline: Instant,
    ) -> ApiResult<ws::UpdateWorkflowExecutionResponse> {
        let wait_for = wait_policy.map(|w| w.lifecycle_stage).unwrap_or(Stage::Accepted as i32);
        let (stage, outcome) = match admission {
            Admission::Completed(ev) => (Stage::Completed, Some(self.completed_outcome(key, ev).await?)),
            Admission::Admitted | Admission::InFlight => {
                self.wait_update(key, &update_id, wait_for, deadline, true).await?
            }
        };
        Ok(ws::UpdateWorkflowExecutionResponse {
            update_ref: Some(UpdateRef {
                workflow_execution: Some(WorkflowExecution {
                    workflow_id: key.workflow_id.clone(),
                    run_id: key.run_id.clone(),
                }),
                update_id,
            }),
            outcome,
            stage: stage as i32,
            ..Default::default()
        })
    }

    pub(crate) async fn poll_workflow_execution_update(
        &self,
        req: Request<ws::PollWorkflowExecutionUpdateRequest>,
    ) -> ApiResult<ws::PollWorkflowExecutionUpdateResponse> {
        let deadline = poll_deadline(&req, UPDATE_LONG_POLL);
        let r = req.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let uref = r
            .update_ref
            .ok_or_else(|| ApiError::InvalidArgument("UpdateRef is not set on request.".into()))?;
        let e = uref.workflow_execution.clone().unwrap_or_default();
        check_id(&e.workflow_id, "WorkflowId")?;
        let key = self.engine.resolve_run(&ns.id, &e.workflow_id, &e.run_id).await?;
        let wait_for = r.wait_policy.map(|w| w.lifecycle_stage).unwrap_or(Stage::Completed as i32);
        let (stage, outcome) = self.wait_update(&key, &uref.update_id, wait_for, deadline, false).await?;
        Ok(ws::PollWorkflowExecutionUpdateResponse {
            outcome,
            stage: stage as i32,
            update_ref: Some(UpdateRef {
                workflow_execution: Some(WorkflowExecution {
                    workflow_id: key.workflow_id.clone(),
                    run_id: key.run_id.clone(),
                }),
                update_id: uref.update_id,
            }),
        })
    }

    async fn completed_outcome(&self, key: &RunKey, event_id: i64) -> ApiResult<Outcome> {
        let ev = self.engine.read_events(key, event_id, event_id + 1, 1).await?;
        match ev.into_iter().next().and_then(|e| e.attributes) {
            Some(Attributes::WorkflowExecutionUpdateCompletedEventAttributes(a)) => {
                Ok(a.outcome.unwrap_or_default())
            }
            _ => Err(ApiError::Internal(format!("event {event_id} is not an update completion"))),
        }
    }

    /// Waits until the update reaches `wait_for` (or completes, or is rejected) or the deadline.
    /// `admitted_here`: the caller admitted the update, so a rejection is its answer (a later
    /// poll for a rejected id finds nothing, as on the real server).
    async fn wait_update(
        &self,
        key: &RunKey,
        id: &str,
        wait_for: i32,
        deadline: Instant,
        admitted_here: bool,
    ) -> ApiResult<(Stage, Option<Outcome>)> {
        let mut ms = self.engine.load(key).await?.ms;
        let mut rx = self.engine.watch(key, (ms.next_event_id, !ms.is_open()));
        let mut shutdown = self.shutdown.clone();
        loop {
            ms = self.engine.load(key).await?.ms;
            if let Some(ev) = ms.completed_updates.get(id) {
                return Ok((Stage::Completed, Some(self.completed_outcome(key, *ev).await?)));
            }
            let rejection = if admitted_here {
                self.update_rejections.lock().remove(&(key.clone(), id.to_string()))
            } else {
                None
            };
            if let Some(f) = rejection {
                return Ok((Stage::Completed, Some(Outcome { value: Some(outcome::Value::Failure(f)) })));
            }
            let stage = match ms.updates.get(id).map(|u| u.state) {
                Some(UpdateState::Accepted) => Stage::Accepted,
                Some(UpdateState::Admitted) => Stage::Admitted,
                None if !ms.is_open() => {
                    return Err(ApiError::NotFound("workflow execution already completed".into()));
                }
                None => return Err(ApiError::NotFound(format!("update \"{id}\" not found"))),
            };
            if !ms.is_open() && stage == Stage::Admitted {
                // Its run closed (or continued as new) before a worker took the update: the
                // caller may send it again (SDKs retry this code), as on the real server.
                return Err(ApiError::BusyWorkflow(
                    "workflow operation can not be applied because workflow is closing".into(),
                ));
            }
            if !ms.is_open() && stage == Stage::Accepted {
                // Its run closed first: the update failed, and that is its outcome.
                let failure = endure_core::updates::closed_before_completion();
                return Ok((
                    Stage::Completed,
                    Some(Outcome { value: Some(outcome::Value::Failure(failure)) }),
                ));
            }
            if stage as i32 >= wait_for && wait_for != Stage::Completed as i32 {
                return Ok((stage, None));
            }
            if !ms.is_open() {
                return Err(ApiError::NotFound("workflow execution already completed".into()));
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return Ok((stage, None)) },
                _ = tokio::time::sleep_until(deadline) => return Ok((stage, None)),
                _ = shutdown.wait_for(|s| *s) => return Ok((stage, None)),
            }
        }
    }
}
