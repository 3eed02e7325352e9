//! Workflow Update: admission, delivery with workflow tasks as protocol messages, and the
//! worker's acceptance, rejection and response.
//!
//! An update that finds no workflow task outstanding gets a *speculative* one: its events are
//! written only if the worker accepts something or issues commands. A rejection therefore
//! leaves no trace in history, as on the real server.

use crate::CoreError;
use crate::api::failure::v1::Failure;
use crate::api::history::v1::{self as h, history_event::Attributes};
use crate::api::protocol::v1::Message;
use crate::api::update::v1::{Acceptance, Rejection, Request, Response};
use crate::state::{UpdateInfo, UpdateState};
use crate::transition::Txn;
use prost::Message as _;

/// The result of admitting an update.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Newly admitted.
    Admitted,
    /// An update with this id is already admitted or accepted (deduplicated).
    InFlight,
    /// An update with this id already completed; its completed event id.
    Completed(i64),
}

/// What a workflow-task completion did to updates (for waking their callers).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdateChanges {
    /// Updates rejected by the workflow, with the failure.
    pub rejected: Vec<(String, Failure)>,
    /// True if the speculative task was discarded (no history written).
    pub discarded: bool,
    /// When discarded: the started event id of the last task that did complete.
    pub reset_history_event_id: i64,
    /// The next workflow task, already started for the same worker, when it asked for it
    /// (return_new_workflow_task): (stamp, started task).
    pub inline_task: Option<(i64, crate::transition::StartedWorkflowTask)>,
    /// Activities started for the same worker (eager execution).
    pub eager_activities: Vec<crate::transition::StartedActivity>,
}

/// The outcome of an update that was accepted but had not completed when its run closed, as
/// the real server gives it to whoever waits for it.
pub fn closed_before_completion() -> Failure {
    Failure {
        message: "Workflow Update failed because the Workflow completed before the Update completed.".into(),
        source: "Server".into(),
        failure_info: Some(crate::api::failure::v1::failure::FailureInfo::ApplicationFailureInfo(
            crate::api::failure::v1::ApplicationFailureInfo {
                r#type: "AcceptedUpdateCompletedWorkflow".into(),
                non_retryable: true,
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// The protocol message delivering an update request (`sequencing_event_id`: the last event the
/// worker must have applied before the update).
pub fn request_message(r: &Request, sequencing_event_id: i64) -> Message {
    let id = r.meta.as_ref().map(|m| m.update_id.clone()).unwrap_or_default();
    Message {
        id: format!("{id}/request"),
        protocol_instance_id: id,
        body: Some(prost_wkt_types::Any {
            type_url: "type.googleapis.com/temporal.api.update.v1.Request".into(),
            value: r.encode_to_vec(),
        }),
        sequencing_id: Some(crate::api::protocol::v1::message::SequencingId::EventId(sequencing_event_id)),
    }
}

enum Body {
    Acceptance(Acceptance),
    Rejection(Rejection),
    Response(Response),
    Other,
}

fn body(m: &Message) -> Body {
    let Some(any) = &m.body else { return Body::Other };
    let t = any.type_url.rsplit('/').next().unwrap_or_default();
    let v = any.value.as_slice();
    match t {
        "temporal.api.update.v1.Acceptance" => {
            Acceptance::decode(v).map(Body::Acceptance).unwrap_or(Body::Other)
        }
        "temporal.api.update.v1.Rejection" => {
            Rejection::decode(v).map(Body::Rejection).unwrap_or(Body::Other)
        }
        "temporal.api.update.v1.Response" => Response::decode(v).map(Body::Response).unwrap_or(Body::Other),
        _ => Body::Other,
    }
}

/// True if every message is a rejection (a speculative task may then be discarded).
pub(crate) fn only_rejections(messages: &[Message]) -> bool {
    messages.iter().all(|m| matches!(body(m), Body::Rejection(_)))
}

impl Txn<'_> {
    /// Admits an update; schedules a speculative workflow task if none is outstanding.
    pub fn admit_update(&mut self, request: Request) -> Result<Admission, CoreError> {
        let id = request.meta.as_ref().map(|m| m.update_id.clone()).unwrap_or_default();
        if let Some(ev) = self.ms.completed_updates.get(&id) {
            return Ok(Admission::Completed(*ev));
        }
        self.require_open()?;
        if self.ms.updates.contains_key(&id) {
            return Ok(Admission::InFlight);
        }
        let l = &self.limits;
        if self.ms.updates.len() >= l.max_in_flight_updates {
            return Err(CoreError::ConcurrentLimit(format!(
                "limit on number of concurrent in-flight updates has been reached ({})",
                l.max_in_flight_updates
            )));
        }
        if self.ms.updates.len() + self.ms.completed_updates.len() >= l.max_total_updates {
            return Err(CoreError::FailedPrecondition(format!(
                "The limit on the total number of distinct updates in this workflow has been reached ({}). \
                 Make sure any duplicate updates share an Update ID so the server can deduplicate them, and \
                 consider rejecting updates that you aren't going to process. You can also Continue-as-New to \
                 avoid this; we recommend you check Continue-as-New Suggested in your Workflow.",
                l.max_total_updates
            )));
        }
        self.ms.updates.insert(
            id,
            UpdateInfo { state: UpdateState::Admitted, request: Some(request), accepted_event_id: 0 },
        );
        if self.ms.workflow_task.is_none() {
            self.ms.next_wft_speculative = true;
            self.schedule_workflow_task();
            self.ms.next_wft_speculative = false;
        }
        Ok(()).map(|_| Admission::Admitted)
    }

    /// Applies one message from a workflow-task completion.
    pub(crate) fn apply_update_message(
        &mut self,
        m: &Message,
        changes: &mut UpdateChanges,
    ) -> Result<(), String> {
        let id = m.protocol_instance_id.clone();
        match body(m) {
            Body::Acceptance(a) => {
                let Some(u) = self.ms.updates.get(&id).cloned() else {
                    return Err(format!("acceptance for unknown update {id}"));
                };
                let ev = self.append(Attributes::WorkflowExecutionUpdateAcceptedEventAttributes(
                    h::WorkflowExecutionUpdateAcceptedEventAttributes {
                        protocol_instance_id: id.clone(),
                        accepted_request_message_id: a.accepted_request_message_id,
                        accepted_request_sequencing_event_id: a.accepted_request_sequencing_event_id,
                        accepted_request: a.accepted_request.or(u.request.clone()),
                    },
                ));
                if let Some(u) = self.ms.updates.get_mut(&id) {
                    u.state = UpdateState::Accepted;
                    u.accepted_event_id = ev;
                }
                Ok(())
            }
            Body::Rejection(r) => {
                if self.ms.updates.remove(&id).is_some() {
                    changes.rejected.push((id, r.failure.unwrap_or_default()));
                }
                Ok(())
            }
            Body::Response(r) => {
                let Some(u) = self.ms.updates.get(&id).cloned() else {
                    return Err(format!("response for unknown update {id}"));
                };
                if u.state != UpdateState::Accepted {
                    return Err(format!("response for update {id} that was not accepted"));
                }
                let ev = self.append(Attributes::WorkflowExecutionUpdateCompletedEventAttributes(
                    h::WorkflowExecutionUpdateCompletedEventAttributes {
                        meta: r.meta,
                        accepted_event_id: u.accepted_event_id,
                        outcome: r.outcome,
                    },
                ));
                self.ms.updates.remove(&id);
                self.ms.completed_updates.insert(id, ev);
                Ok(())
            }
            Body::Other => Err(format!("unsupported protocol message {}", m.id)),
        }
    }
}
