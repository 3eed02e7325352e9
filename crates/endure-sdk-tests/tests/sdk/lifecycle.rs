//! Workflow lifecycle: cancellation with saga compensation, termination, and workflow-ID reuse.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use temporalio_client::{
    Client, WorkflowCancelOptions, WorkflowDescribeOptions, WorkflowExecutionStatus, WorkflowIdReusePolicy,
    WorkflowStartOptions, WorkflowTerminateOptions,
    errors::{WorkflowGetResultError, WorkflowStartError},
};
use temporalio_common::protos::temporal::api::enums::v1::EventType;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::{
    ActivityOptions, WorkerOptions, WorkflowCancellationToken, WorkflowContext, WorkflowResult,
    activities::{ActivityContext, ActivityError},
};

use crate::harness::{
    TestServer, eventually, new_worker, task_queue, wait_for_first_workflow_task, with_worker, within,
    workflow_id,
};

/// Appends entries to a log shared with the test, standing in for side effects of saga steps.
pub struct SagaActivities {
    log: Arc<Mutex<Vec<String>>>,
}

#[activities]
impl SagaActivities {
    /// Appends `entry` to the shared log.
    #[activity]
    pub async fn record(self: Arc<Self>, _ctx: ActivityContext, entry: String) -> Result<(), ActivityError> {
        self.log.lock().expect("saga log poisoned").push(entry);
        Ok(())
    }
}

/// Runs steps A and B, then waits until cancelled; on cancellation it undoes the completed
/// steps in reverse order and ends as cancelled.
#[workflow]
#[derive(Default)]
pub struct SagaWorkflow;

#[workflow_methods]
impl SagaWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        let mut compensations = Vec::new();
        for step in ["A", "B"] {
            ctx.execute_activity(
                SagaActivities::record,
                step.to_owned(),
                ActivityOptions::start_to_close_timeout(Duration::from_secs(10)),
            )
            .await?;
            compensations.push(format!("undo {step}"));
        }

        // Blocks until the workflow is cancelled.
        let cancelled = ctx.wait_condition(|_| false).await;

        for undo in compensations.into_iter().rev() {
            // A detached token: the compensations must run even though the workflow is
            // cancelled.
            let opts = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
                .cancellation_token(WorkflowCancellationToken::new())
                .build();
            ctx.execute_activity(SagaActivities::record, undo, opts).await?;
        }
        cancelled?;
        Ok(())
    }
}

/// Blocks until cancelled or terminated.
#[workflow]
#[derive(Default)]
pub struct BlockedWorkflow;

#[workflow_methods]
impl BlockedWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        ctx.wait_condition(|_| false).await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_saga_compensates_in_reverse_order() {
    let server = TestServer::start().await.expect("starting server");
    let client = server.client().await.expect("connecting client");
    let tq = task_queue("saga-cancel");
    let log = Arc::new(Mutex::new(Vec::new()));
    let options = WorkerOptions::new(tq.as_str())
        .register_workflow::<SagaWorkflow>()
        .expect("registering workflow")
        .register_activities(SagaActivities { log: log.clone() })
        .build();
    let worker = new_worker(&client, options);

    let result = with_worker(worker, async {
        let handle = client
            .start_workflow(
                SagaWorkflow::run,
                (),
                WorkflowStartOptions::new(tq.as_str(), workflow_id("saga-cancel")).build(),
            )
            .await
            .expect("starting workflow");
        // Cancel only once both steps completed and the workflow has moved on to waiting:
        // the last event is a completed workflow task that follows the second activity result.
        eventually("both saga steps to complete", || async {
            let events = handle.fetch_history(Default::default()).into_events().await.ok()?;
            let completed =
                events.iter().filter(|e| e.event_type() == EventType::ActivityTaskCompleted).count();
            let waiting = events.last().is_some_and(|e| e.event_type() == EventType::WorkflowTaskCompleted);
            (completed == 2 && waiting).then_some(())
        })
        .await;
        handle
            .cancel(WorkflowCancelOptions::builder().reason("test cancels the saga").build())
            .await
            .expect("requesting cancellation");
        within("workflow result", handle.get_result(Default::default())).await
    })
    .await;

    match result {
        Err(WorkflowGetResultError::Cancelled { .. }) => {}
        other => panic!("expected the workflow to end as cancelled, got {other:?}"),
    }
    let log = log.lock().expect("saga log poisoned").clone();
    assert_eq!(log, ["A", "B", "undo B", "undo A"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_workflow_result_is_terminated_error() {
    let server = TestServer::start().await.expect("starting server");
    let client = server.client().await.expect("connecting client");
    let tq = task_queue("terminate");
    let options = WorkerOptions::new(tq.as_str())
        .register_workflow::<BlockedWorkflow>()
        .expect("registering workflow")
        .build();
    let worker = new_worker(&client, options);

    let (result, status) = with_worker(worker, async {
        let handle = client
            .start_workflow(
                BlockedWorkflow::run,
                (),
                WorkflowStartOptions::new(tq.as_str(), workflow_id("terminate")).build(),
            )
            .await
            .expect("starting workflow");
        wait_for_first_workflow_task(&handle).await;
        handle
            .terminate(WorkflowTerminateOptions::builder().reason("test terminates the workflow").build())
            .await
            .expect("terminating workflow");
        let result = within("workflow result", handle.get_result(Default::default())).await;
        let status =
            handle.describe(WorkflowDescribeOptions::default()).await.expect("describing workflow").status();
        (result, status)
    })
    .await;

    match result {
        Err(WorkflowGetResultError::Terminated { .. }) => {}
        other => panic!("expected a terminated error, got {other:?}"),
    }
    assert_eq!(status, WorkflowExecutionStatus::Terminated);
}

/// Starts `BlockedWorkflow` with the given ID and reuse policy (no worker needed: the tests
/// only look at what the server does with the start request).
async fn start_blocked(
    client: &Client,
    id: &str,
    policy: WorkflowIdReusePolicy,
) -> Result<String, WorkflowStartError> {
    let handle = client
        .start_workflow(
            BlockedWorkflow::run,
            (),
            WorkflowStartOptions::new("id-reuse-no-worker", id).id_reuse_policy(policy).build(),
        )
        .await?;
    Ok(handle.run_id().expect("a started workflow has a run ID").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_a_running_workflow_id_again_is_rejected() {
    let server = TestServer::start().await.expect("starting server");
    let client = server.client().await.expect("connecting client");
    let id = workflow_id("duplicate-running");

    let first_run = start_blocked(&client, &id, WorkflowIdReusePolicy::AllowDuplicate)
        .await
        .expect("the first start succeeds");
    match start_blocked(&client, &id, WorkflowIdReusePolicy::AllowDuplicate).await {
        Err(WorkflowStartError::AlreadyStarted { run_id, source }) => {
            assert_eq!(
                run_id.as_deref(),
                Some(first_run.as_str()),
                "the error names the running execution (status: {source:?})"
            );
        }
        other => panic!("expected an already-started error, got {other:?}"),
    }
    // A different ID is unaffected.
    start_blocked(&client, &workflow_id("duplicate-other"), WorkflowIdReusePolicy::AllowDuplicate)
        .await
        .expect("a different workflow ID starts normally");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_duplicate_policy_blocks_reuse_of_closed_workflow_id() {
    let server = TestServer::start().await.expect("starting server");
    let client = server.client().await.expect("connecting client");
    let id = workflow_id("reject-duplicate");

    let first_run = start_blocked(&client, &id, WorkflowIdReusePolicy::AllowDuplicate)
        .await
        .expect("the first start succeeds");
    client
        .get_workflow_handle::<BlockedWorkflow>(id.as_str())
        .terminate(WorkflowTerminateOptions::builder().reason("close it").build())
        .await
        .expect("terminating the first run");

    match start_blocked(&client, &id, WorkflowIdReusePolicy::RejectDuplicate).await {
        Err(WorkflowStartError::AlreadyStarted { .. }) => {}
        other => panic!("expected an already-started error, got {other:?}"),
    }
    // The ID itself is free: a permissive policy may reuse it.
    let second_run = start_blocked(&client, &id, WorkflowIdReusePolicy::AllowDuplicate)
        .await
        .expect("AllowDuplicate reuses a closed workflow ID");
    assert_ne!(first_run, second_run, "a reused ID gets a new run");
}
