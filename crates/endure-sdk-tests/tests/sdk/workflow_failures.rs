//! Workflow failures: a workflow that returns an error fails; a workflow task that panics is
//! retried.

use std::{
    future::Future,
    sync::atomic::{AtomicU32, Ordering},
};

use temporalio_client::{
    Client, WorkflowDescribeOptions, WorkflowExecutionStatus, WorkflowStartOptions,
    errors::WorkflowGetResultError,
};
use temporalio_common::{error::IncomingError, protos::temporal::api::enums::v1::EventType};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ApplicationFailure, WorkerOptions, WorkflowContext, WorkflowResult, WorkflowTermination,
};

use crate::harness::{
    TestServer, failure_chain, new_worker, task_queue, wait_for_event, with_worker, within, workflow_id,
};

/// Failure message of `FailingWorkflow`.
const FAILURE_MESSAGE: &str = "order rejected: out of stock";

/// Fails with an application error.
#[workflow]
#[derive(Default)]
pub struct FailingWorkflow;

#[workflow_methods]
impl FailingWorkflow {
    #[run]
    pub async fn run(_ctx: &mut WorkflowContext<Self>) -> WorkflowResult<String> {
        Err(WorkflowTermination::failed_application(ApplicationFailure::new(FAILURE_MESSAGE)))
    }
}

/// How often `PanicOnceWorkflow` code has run (across workflow task attempts).
static PANIC_ONCE_RUNS: AtomicU32 = AtomicU32::new(0);

/// Panics the first time its code runs (failing that workflow task), succeeds afterwards.
#[workflow]
#[derive(Default)]
pub struct PanicOnceWorkflow;

#[workflow_methods]
impl PanicOnceWorkflow {
    #[run]
    pub async fn run(_ctx: &mut WorkflowContext<Self>) -> WorkflowResult<String> {
        if PANIC_ONCE_RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("injected bug on the first workflow task");
        }
        Ok("recovered".to_owned())
    }
}

/// Starts a server and a worker for this module's workflows and runs `body` beside it.
async fn run_scenario<T, F, Fut>(test: &str, body: F) -> T
where
    F: FnOnce(Client, String) -> Fut,
    Fut: Future<Output = T>,
{
    let server = TestServer::start().await.expect("starting server");
    let client = server.client().await.expect("connecting client");
    let tq = task_queue(test);
    let options = WorkerOptions::new(tq.as_str())
        .register_workflow::<FailingWorkflow>()
        .and_then(|o| o.register_workflow::<PanicOnceWorkflow>())
        .expect("registering workflows")
        .build();
    let worker = new_worker(&client, options);
    with_worker(worker, body(client.clone(), tq)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_error_fails_the_workflow() {
    let (result, status) = run_scenario("workflow-fails", |client, tq| async move {
        let handle = client
            .start_workflow(
                FailingWorkflow::run,
                (),
                WorkflowStartOptions::new(tq, workflow_id("workflow-fails")).build(),
            )
            .await
            .expect("starting workflow");
        let result = within("workflow result", handle.get_result(Default::default())).await;
        let status =
            handle.describe(WorkflowDescribeOptions::default()).await.expect("describing workflow").status();
        (result, status)
    })
    .await;
    let err = match result {
        Err(WorkflowGetResultError::Failed(err)) => err,
        other => panic!("expected the workflow to fail, got {other:?}"),
    };
    let app = failure_chain(&err)
        .into_iter()
        .find_map(|e| match e {
            IncomingError::Application(app) => Some(app),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no application failure in the cause chain of {err:?}"));
    assert_eq!(app.failure().map(|f| f.message.as_str()), Some(FAILURE_MESSAGE));
    assert_eq!(status, WorkflowExecutionStatus::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_workflow_task_is_retried() {
    let (result, history) = run_scenario("workflow-task-retry", |client, tq| async move {
        let handle = client
            .start_workflow(
                PanicOnceWorkflow::run,
                (),
                WorkflowStartOptions::new(tq, workflow_id("workflow-task-retry")).build(),
            )
            .await
            .expect("starting workflow");
        let result = within("workflow result", handle.get_result(Default::default())).await;
        let history = wait_for_event(&handle, EventType::WorkflowExecutionCompleted).await;
        (result, history)
    })
    .await;
    assert_eq!(result.expect("workflow should succeed"), "recovered");
    assert_eq!(
        PANIC_ONCE_RUNS.load(Ordering::SeqCst),
        2,
        "the workflow code should run twice: the failed task and its retry"
    );
    let types: Vec<EventType> = history.iter().map(|e| e.event_type()).collect();
    let failed = types.iter().filter(|&&t| t == EventType::WorkflowTaskFailed).count();
    assert_eq!(failed, 1, "one failed workflow task in {types:?}");
}
