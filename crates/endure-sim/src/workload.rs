//! The workload: workflows that schedule one activity, then wait on a one-second timer, then
//! complete with their own id; a starter and workers that speak raw gRPC to random replicas
//! through the simulated network, as SDK workers would, retrying whatever fails.
//!
//! The worker never uses sticky queues: every workflow task carries the whole history and the
//! decision is a function of it, so a task delivered again gets the same answer.

use endure_api::temporal::api::command::v1::{
    Command, CompleteWorkflowExecutionCommandAttributes, ScheduleActivityTaskCommandAttributes,
    StartTimerCommandAttributes, command,
};
use endure_api::temporal::api::common::v1::{ActivityType, Payload, Payloads, WorkflowType};
use endure_api::temporal::api::enums::v1::{CommandType, EventType, TaskQueueKind};
use endure_api::temporal::api::history::v1::HistoryEvent;
use endure_api::temporal::api::taskqueue::v1::TaskQueue;
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_api::workflowservice::workflow_service_client::WorkflowServiceClient;
use std::time::Duration;
use tonic::transport::Channel;

/// The namespace the workload runs in.
pub const NAMESPACE: &str = "default";
/// The task queue of every workflow and activity.
pub const TASK_QUEUE: &str = "sim";
/// How long a client waits for any one call (a paused replica never answers).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A WorkflowService client.
pub type Client = WorkflowServiceClient<Channel>;

fn task_queue() -> TaskQueue {
    TaskQueue { name: TASK_QUEUE.into(), kind: TaskQueueKind::Normal as i32, ..Default::default() }
}

fn duration(d: Duration) -> endure_api::wkt::Duration {
    endure_api::wkt::Duration { seconds: d.as_secs() as i64, nanos: d.subsec_nanos() as i32 }
}

/// A request that gives up after [`CALL_TIMEOUT`].
pub fn request<T>(message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.set_timeout(CALL_TIMEOUT);
    r
}

/// The start request of workflow `id` (its request id makes retries idempotent).
pub fn start_request(id: &str) -> ws::StartWorkflowExecutionRequest {
    ws::StartWorkflowExecutionRequest {
        namespace: NAMESPACE.into(),
        workflow_id: id.into(),
        workflow_type: Some(WorkflowType { name: "sim".into() }),
        task_queue: Some(task_queue()),
        request_id: format!("start-{id}"),
        identity: "starter".into(),
        ..Default::default()
    }
}

fn has(events: &[HistoryEvent], t: EventType) -> bool {
    events.iter().any(|e| e.event_type == t as i32)
}

fn payloads(text: &str) -> Payloads {
    Payloads { payloads: vec![Payload { data: text.as_bytes().to_vec(), ..Default::default() }] }
}

/// What the workflow does next, given its history.
pub fn decide(workflow_id: &str, events: &[HistoryEvent]) -> Vec<Command> {
    let one = |t: CommandType, a: command::Attributes| {
        vec![Command { command_type: t as i32, attributes: Some(a), ..Default::default() }]
    };
    if has(events, EventType::TimerFired) {
        let a = CompleteWorkflowExecutionCommandAttributes { result: Some(payloads(workflow_id)) };
        return one(CommandType::CompleteWorkflowExecution, a.into());
    }
    if has(events, EventType::ActivityTaskCompleted) {
        if has(events, EventType::TimerStarted) {
            return vec![];
        }
        let a = StartTimerCommandAttributes {
            timer_id: "t".into(),
            start_to_fire_timeout: Some(duration(Duration::from_secs(1))),
        };
        return one(CommandType::StartTimer, a.into());
    }
    if has(events, EventType::ActivityTaskScheduled) {
        return vec![];
    }
    let a = ScheduleActivityTaskCommandAttributes {
        activity_id: "a".into(),
        activity_type: Some(ActivityType { name: "act".into() }),
        task_queue: Some(task_queue()),
        start_to_close_timeout: Some(duration(Duration::from_secs(10))),
        ..Default::default()
    };
    one(CommandType::ScheduleActivityTask, a.into())
}

/// One workflow-task poll and its answer; false if the poll itself failed.
pub async fn work_workflow_task(client: &mut Client, identity: &str) -> bool {
    let poll = ws::PollWorkflowTaskQueueRequest {
        namespace: NAMESPACE.into(),
        task_queue: Some(task_queue()),
        identity: identity.into(),
        ..Default::default()
    };
    let Ok(task) = client.poll_workflow_task_queue(request(poll)).await.map(tonic::Response::into_inner)
    else {
        return false;
    };
    if task.task_token.is_empty() {
        return true;
    }
    let workflow_id = task.workflow_execution.as_ref().map(|e| e.workflow_id.clone()).unwrap_or_default();
    let events = task.history.map(|h| h.events).unwrap_or_default();
    let done = ws::RespondWorkflowTaskCompletedRequest {
        task_token: task.task_token,
        commands: decide(&workflow_id, &events),
        identity: identity.into(),
        namespace: NAMESPACE.into(),
        ..Default::default()
    };
    let _ = client.respond_workflow_task_completed(request(done)).await;
    true
}

/// One activity-task poll and its completion; false if the poll itself failed.
pub async fn work_activity_task(client: &mut Client, identity: &str) -> bool {
    let poll = ws::PollActivityTaskQueueRequest {
        namespace: NAMESPACE.into(),
        task_queue: Some(task_queue()),
        identity: identity.into(),
        ..Default::default()
    };
    let Ok(task) = client.poll_activity_task_queue(request(poll)).await.map(tonic::Response::into_inner)
    else {
        return false;
    };
    if task.task_token.is_empty() {
        return true;
    }
    let done = ws::RespondActivityTaskCompletedRequest {
        task_token: task.task_token,
        result: Some(payloads("done")),
        identity: identity.into(),
        namespace: NAMESPACE.into(),
        ..Default::default()
    };
    let _ = client.respond_activity_task_completed(request(done)).await;
    true
}
