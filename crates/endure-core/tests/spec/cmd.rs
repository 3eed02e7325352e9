//! Builders for what workers and clients send: commands, update protocol messages, failures,
//! retry policies and payloads. Each has sensible defaults so a case states only what matters.

use endure_core::api::command::v1::{
    CancelTimerCommandAttributes, Command, CompleteWorkflowExecutionCommandAttributes,
    ContinueAsNewWorkflowExecutionCommandAttributes, FailWorkflowExecutionCommandAttributes,
    ProtocolMessageCommandAttributes, RequestCancelActivityTaskCommandAttributes,
    RequestCancelExternalWorkflowExecutionCommandAttributes, ScheduleActivityTaskCommandAttributes,
    SignalExternalWorkflowExecutionCommandAttributes, StartChildWorkflowExecutionCommandAttributes,
    StartTimerCommandAttributes, command::Attributes as C,
};
use endure_core::api::common::v1::{
    ActivityType, Payload, Payloads, RetryPolicy, WorkflowExecution, WorkflowType,
};
use endure_core::api::failure::v1::{ApplicationFailureInfo, Failure, failure::FailureInfo};
use endure_core::api::protocol::v1::Message;
use endure_core::api::update::v1::{Acceptance, Input, Meta, Outcome, Rejection, Request, Response, outcome};
use endure_core::commands::WorkflowTaskCompletion;
use endure_core::time::{self, SECOND};
use prost::Message as _;
use prost_wkt_types::Duration;

fn command(a: C) -> Command {
    Command { attributes: Some(a), ..Default::default() }
}

/// A payload set with one payload holding `s`.
pub fn payload(s: &str) -> Option<Payloads> {
    Some(Payloads { payloads: vec![Payload { data: s.as_bytes().to_vec(), ..Default::default() }] })
}

/// `n` seconds as a protobuf duration.
pub fn secs(n: i64) -> Option<Duration> {
    Some(time::to_duration(n * SECOND))
}

/// An application failure with `message` and error `type`.
pub fn app_failure(message: &str, ty: &str) -> Failure {
    Failure {
        message: message.into(),
        failure_info: Some(FailureInfo::ApplicationFailureInfo(ApplicationFailureInfo {
            r#type: ty.into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// An application failure the worker marked non-retryable.
pub fn non_retryable(message: &str, ty: &str) -> Failure {
    let mut f = app_failure(message, ty);
    if let Some(FailureInfo::ApplicationFailureInfo(a)) = &mut f.failure_info {
        a.non_retryable = true;
    }
    f
}

/// A retry policy: initial interval (s), coefficient, maximum interval (s, 0 = default) and
/// maximum attempts (0 = unlimited).
pub fn retry(initial: i64, coefficient: f64, maximum: i64, attempts: i32) -> RetryPolicy {
    RetryPolicy {
        initial_interval: secs(initial),
        backoff_coefficient: coefficient,
        maximum_interval: if maximum > 0 { secs(maximum) } else { None },
        maximum_attempts: attempts,
        non_retryable_error_types: vec![],
    }
}

/// StartTimer `id` firing after `after` seconds.
pub fn timer(id: &str, after: i64) -> Command {
    command(C::StartTimerCommandAttributes(StartTimerCommandAttributes {
        timer_id: id.into(),
        start_to_fire_timeout: secs(after),
    }))
}

/// CancelTimer `id`.
pub fn cancel_timer(id: &str) -> Command {
    command(C::CancelTimerCommandAttributes(CancelTimerCommandAttributes { timer_id: id.into() }))
}

/// ScheduleActivityTask `id` of type `Work` with a 10 s start-to-close timeout, adjusted by `f`.
pub fn activity_with(id: &str, f: impl FnOnce(&mut ScheduleActivityTaskCommandAttributes)) -> Command {
    let mut a = ScheduleActivityTaskCommandAttributes {
        activity_id: id.into(),
        activity_type: Some(ActivityType { name: "Work".into() }),
        task_queue: Some(endure_core::api::taskqueue::v1::TaskQueue {
            name: "q".into(),
            ..Default::default()
        }),
        start_to_close_timeout: secs(10),
        ..Default::default()
    };
    f(&mut a);
    command(C::ScheduleActivityTaskCommandAttributes(a))
}

/// ScheduleActivityTask `id` with the defaults of [`activity_with`].
pub fn activity(id: &str) -> Command {
    activity_with(id, |_| {})
}

/// RequestCancelActivityTask for the activity scheduled by event `scheduled_event_id`.
pub fn cancel_activity(scheduled_event_id: i64) -> Command {
    command(C::RequestCancelActivityTaskCommandAttributes(RequestCancelActivityTaskCommandAttributes {
        scheduled_event_id,
    }))
}

/// CompleteWorkflowExecution with `result`.
pub fn complete(result: &str) -> Command {
    command(C::CompleteWorkflowExecutionCommandAttributes(CompleteWorkflowExecutionCommandAttributes {
        result: payload(result),
    }))
}

/// FailWorkflowExecution with `failure`.
pub fn fail(failure: Failure) -> Command {
    command(C::FailWorkflowExecutionCommandAttributes(FailWorkflowExecutionCommandAttributes {
        failure: Some(failure),
    }))
}

/// CancelWorkflowExecution (the workflow accepts a cancel request).
pub fn cancel_workflow() -> Command {
    command(C::CancelWorkflowExecutionCommandAttributes(Default::default()))
}

/// ContinueAsNewWorkflowExecution with `input`, adjusted by `f`.
pub fn continue_as_new(
    input: &str,
    f: impl FnOnce(&mut ContinueAsNewWorkflowExecutionCommandAttributes),
) -> Command {
    let mut a =
        ContinueAsNewWorkflowExecutionCommandAttributes { input: payload(input), ..Default::default() };
    f(&mut a);
    command(C::ContinueAsNewWorkflowExecutionCommandAttributes(a))
}

/// StartChildWorkflowExecution of workflow `workflow_id` (type `Child`), adjusted by `f`.
pub fn child(
    workflow_id: &str,
    f: impl FnOnce(&mut StartChildWorkflowExecutionCommandAttributes),
) -> Command {
    let mut a = StartChildWorkflowExecutionCommandAttributes {
        workflow_id: workflow_id.into(),
        workflow_type: Some(WorkflowType { name: "Child".into() }),
        ..Default::default()
    };
    f(&mut a);
    command(C::StartChildWorkflowExecutionCommandAttributes(a))
}

/// SignalExternalWorkflowExecution: signal `name` to the current run of `workflow_id`.
pub fn signal_external(workflow_id: &str, name: &str) -> Command {
    command(C::SignalExternalWorkflowExecutionCommandAttributes(
        SignalExternalWorkflowExecutionCommandAttributes {
            execution: Some(WorkflowExecution { workflow_id: workflow_id.into(), run_id: String::new() }),
            signal_name: name.into(),
            input: payload("ping"),
            ..Default::default()
        },
    ))
}

/// RequestCancelExternalWorkflowExecution of the current run of `workflow_id`.
pub fn cancel_external(workflow_id: &str) -> Command {
    command(C::RequestCancelExternalWorkflowExecutionCommandAttributes(
        RequestCancelExternalWorkflowExecutionCommandAttributes {
            workflow_id: workflow_id.into(),
            reason: "not needed".into(),
            ..Default::default()
        },
    ))
}

/// ProtocolMessage command placing message `message_id` among the commands.
pub fn protocol(message_id: &str) -> Command {
    command(C::ProtocolMessageCommandAttributes(ProtocolMessageCommandAttributes {
        message_id: message_id.into(),
    }))
}

/// A completion with `commands` asking for stickiness: later tasks go to queue `sticky-q`,
/// falling back to the normal queue if nobody polls them within 5 s.
pub fn sticky(commands: Vec<Command>) -> WorkflowTaskCompletion {
    WorkflowTaskCompletion { commands, sticky: Some(("sticky-q".into(), 5 * SECOND)), ..Default::default() }
}

/// An update request `id` calling handler `name`.
pub fn update_request(id: &str, name: &str) -> Request {
    Request {
        meta: Some(Meta { update_id: id.into(), identity: "client".into() }),
        input: Some(Input { name: name.into(), args: payload("arg"), ..Default::default() }),
        ..Default::default()
    }
}

fn message(update_id: &str, kind: &str, type_url: &str, value: Vec<u8>) -> Message {
    Message {
        id: format!("{update_id}/{kind}"),
        protocol_instance_id: update_id.into(),
        body: Some(prost_wkt_types::Any { type_url: format!("type.googleapis.com/{type_url}"), value }),
        sequencing_id: None,
    }
}

/// The worker's acceptance of update `id` (message id `<id>/accept`).
pub fn accept(id: &str, sequencing_event_id: i64) -> Message {
    let a = Acceptance {
        accepted_request_message_id: format!("{id}/request"),
        accepted_request_sequencing_event_id: sequencing_event_id,
        accepted_request: None,
    };
    message(id, "accept", "temporal.api.update.v1.Acceptance", a.encode_to_vec())
}

/// The worker's rejection of update `id` with `reason` (message id `<id>/reject`).
pub fn reject(id: &str, reason: &str) -> Message {
    let r = Rejection {
        rejected_request_message_id: format!("{id}/request"),
        failure: Some(app_failure(reason, "Rejected")),
        ..Default::default()
    };
    message(id, "reject", "temporal.api.update.v1.Rejection", r.encode_to_vec())
}

/// The worker's response to update `id` with a successful `result` (message id `<id>/respond`).
pub fn respond(id: &str, result: &str) -> Message {
    let r = Response {
        meta: Some(Meta { update_id: id.into(), identity: "worker".into() }),
        outcome: Some(Outcome { value: payload(result).map(outcome::Value::Success) }),
    };
    message(id, "respond", "temporal.api.update.v1.Response", r.encode_to_vec())
}
