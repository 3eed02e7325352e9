//! DescribeWorkflowExecution: pending activities, pending workflow tasks and the memo.

use std::{collections::HashMap, sync::Arc, time::Duration};

use temporalio_client::{
    Client, WorkflowDescribeOptions, WorkflowStartOptions, grpc::WorkflowService, tonic,
};
use temporalio_common::{
    RetryPolicy, WorkflowDefinition,
    protos::temporal::api::{
        common::v1::{Memo, Payload, WorkflowExecution, WorkflowType},
        enums::v1::{PendingActivityState, PendingWorkflowTaskState, TaskQueueKind},
        taskqueue::v1::TaskQueue,
        workflowservice::v1::{DescribeWorkflowExecutionRequest, StartWorkflowExecutionRequest},
    },
};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::{
    ActivityOptions, WorkerOptions, WorkflowContext, WorkflowResult,
    activities::{ActivityContext, ActivityError},
};

use crate::harness::{NAMESPACE, TestServer, eventually, new_worker, task_queue, with_worker, workflow_id};

/// Failure message of every attempt of `always_fail`.
const FAILURE_MESSAGE: &str = "disk full";

pub struct FlakyActivities;

#[activities]
impl FlakyActivities {
    /// Fails every attempt with [`FAILURE_MESSAGE`].
    #[activity]
    pub async fn always_fail(
        self: Arc<Self>,
        _ctx: ActivityContext,
        _input: (),
    ) -> Result<(), ActivityError> {
        Err(anyhow::anyhow!(FAILURE_MESSAGE).into())
    }
}

/// Runs `always_fail` with unlimited attempts, 1 s apart, so it stays pending.
#[workflow]
#[derive(Default)]
pub struct RetryingActivityWorkflow;

#[workflow_methods]
impl RetryingActivityWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        let opts = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_secs(1))
                    .backoff_coefficient(1.0)
                    .build(),
            )
            .build();
        ctx.execute_activity(FlakyActivities::always_fail, (), opts).await?;
        Ok(())
    }
}

/// Never scheduled on a worker by these tests; only its type name matters.
#[workflow]
#[derive(Default)]
pub struct UnpolledWorkflow;

#[workflow_methods]
impl UnpolledWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        ctx.wait_condition(|_| false).await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_shows_retrying_activity_with_attempt_and_last_failure() {
    let server = TestServer::start().await.expect("starting server");
    let client = server.client().await.expect("connecting client");
    let tq = task_queue("describe-activity");
    let options = WorkerOptions::new(tq.as_str())
        .register_workflow::<RetryingActivityWorkflow>()
        .expect("registering workflow")
        .register_activities(FlakyActivities)
        .build();
    let worker = new_worker(&client, options);

    let pending = with_worker(worker, async {
        let handle = client
            .start_workflow(
                RetryingActivityWorkflow::run,
                (),
                WorkflowStartOptions::new(tq.as_str(), workflow_id("describe-activity")).build(),
            )
            .await
            .expect("starting workflow");
        eventually("a pending activity with attempt > 1", || async {
            let description = handle.describe(WorkflowDescribeOptions::default()).await.ok()?;
            description.raw().pending_activities.first().filter(|a| a.attempt > 1).cloned()
        })
        .await
    })
    .await;

    assert_eq!(pending.activity_type.as_ref().map(|t| t.name.as_str()), Some("FlakyActivities::always_fail"));
    assert!(pending.attempt > 1, "attempt should count the retries: {pending:?}");
    assert_eq!(
        pending.last_failure.as_ref().map(|f| f.message.as_str()),
        Some(FAILURE_MESSAGE),
        "the pending activity should carry the last attempt's failure: {pending:?}"
    );
    assert!(
        matches!(pending.state(), PendingActivityState::Scheduled | PendingActivityState::Started),
        "unexpected state {:?}",
        pending.state()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_shows_pending_workflow_task_when_no_worker_polls() {
    let server = TestServer::start().await.expect("starting server");
    let client = server.client().await.expect("connecting client");
    let handle = client
        .start_workflow(
            UnpolledWorkflow::run,
            (),
            WorkflowStartOptions::new(task_queue("describe-no-worker"), workflow_id("describe-no-worker"))
                .build(),
        )
        .await
        .expect("starting workflow");
    let description = handle.describe(WorkflowDescribeOptions::default()).await.expect("describing workflow");
    let task = description
        .raw()
        .pending_workflow_task
        .unwrap_or_else(|| panic!("no pending workflow task in {:?}", description.raw()));
    assert_eq!(task.state(), PendingWorkflowTaskState::Scheduled);
    assert_eq!(task.attempt, 1);
    assert!(task.scheduled_time.is_some(), "no scheduled time: {task:?}");
    assert!(task.started_time.is_none(), "nobody started the task: {task:?}");
    assert!(description.raw().pending_activities.is_empty(), "no activities were scheduled");
}

/// A payload with the given encoding and data.
fn payload(encoding: &str, data: &[u8]) -> Payload {
    Payload {
        metadata: HashMap::from([("encoding".to_owned(), encoding.as_bytes().to_vec())]),
        data: data.to_vec(),
        ..Default::default()
    }
}

/// Sends a StartWorkflowExecution request for `UnpolledWorkflow` built by `customize`, and
/// returns the started run.
async fn start_raw(
    client: &Client,
    id: &str,
    customize: impl FnOnce(&mut StartWorkflowExecutionRequest),
) -> WorkflowExecution {
    let mut request = StartWorkflowExecutionRequest {
        namespace: NAMESPACE.to_owned(),
        workflow_id: id.to_owned(),
        workflow_type: Some(WorkflowType {
            name: WorkflowDefinition::name(&UnpolledWorkflow::run).to_owned(),
        }),
        task_queue: Some(TaskQueue {
            name: task_queue("describe-raw"),
            kind: TaskQueueKind::Normal as i32,
            ..Default::default()
        }),
        identity: "endure-sdk-tests".to_owned(),
        request_id: format!("request-{id}"),
        ..Default::default()
    };
    customize(&mut request);
    let mut svc = client.clone();
    let response = WorkflowService::start_workflow_execution(&mut svc, tonic::Request::new(request))
        .await
        .expect("starting workflow")
        .into_inner();
    WorkflowExecution { workflow_id: id.to_owned(), run_id: response.run_id }
}

// The real dev server rejects custom search attributes that were not registered first (even
// `CustomKeywordField`), so only the memo is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memo_round_trips_byte_for_byte_through_describe() {
    let server = TestServer::start().await.expect("starting server");
    let client = server.client().await.expect("connecting client");
    let id = workflow_id("describe-memo");
    let memo = Memo {
        fields: HashMap::from([
            ("note".to_owned(), payload("json/plain", b"\"hello memo\"")),
            ("blob".to_owned(), payload("binary/plain", &[0, 1, 2, 0xfe, 0xff])),
        ]),
    };
    let execution = start_raw(&client, &id, |request| {
        request.memo = Some(memo.clone());
    })
    .await;

    let mut svc = client.clone();
    let described = WorkflowService::describe_workflow_execution(
        &mut svc,
        tonic::Request::new(DescribeWorkflowExecutionRequest {
            namespace: NAMESPACE.to_owned(),
            execution: Some(execution),
        }),
    )
    .await
    .expect("describing workflow")
    .into_inner();
    let info = described.workflow_execution_info.expect("describe returns the execution info");
    assert_eq!(info.memo, Some(memo), "memo differs from what was started");
}
