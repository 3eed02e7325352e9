//! Workflow start options: run and execution timeouts, start delay, and ID conflict policies.

use std::{
    future::Future,
    time::{Duration, Instant, SystemTime},
};

use temporalio_client::{
    Client, WorkflowDescribeOptions, WorkflowExecutionStatus, WorkflowIdConflictPolicy,
    WorkflowSignalOptions, WorkflowStartOptions, errors::WorkflowGetResultError, grpc::WorkflowService,
    tonic,
};
use temporalio_common::{
    WorkflowDefinition,
    protos::temporal::api::{
        common::v1::WorkflowType, enums::v1::EventType, enums::v1::TaskQueueKind, history::v1::HistoryEvent,
        taskqueue::v1::TaskQueue, workflowservice::v1::StartWorkflowExecutionRequest,
    },
};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{SyncWorkflowContext, WorkerOptions, WorkflowContext, WorkflowResult};

use crate::harness::{
    NAMESPACE, TestServer, new_worker, task_queue, wait_for_event, with_worker, within, workflow_id,
};

/// Sleeps on a 30 s timer; only a workflow timeout ends it within a test.
#[workflow]
#[derive(Default)]
pub struct LongSleepWorkflow;

#[workflow_methods]
impl LongSleepWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<String> {
        ctx.timer(Duration::from_secs(30)).await;
        Ok("woke up".to_owned())
    }
}

/// Completes at once.
#[workflow]
#[derive(Default)]
pub struct ImmediateWorkflow;

#[workflow_methods]
impl ImmediateWorkflow {
    #[run]
    pub async fn run(_ctx: &mut WorkflowContext<Self>) -> WorkflowResult<String> {
        Ok("ran".to_owned())
    }
}

/// Waits for a `deliver` signal and returns its payload.
#[workflow]
#[derive(Default)]
pub struct MailWorkflow {
    mail: Option<String>,
}

#[workflow_methods]
impl MailWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<String> {
        ctx.wait_condition(|s| s.mail.is_some()).await?;
        Ok(ctx.state(|s| s.mail.clone().unwrap_or_default()))
    }

    #[signal]
    pub fn deliver(&mut self, _ctx: &mut SyncWorkflowContext<Self>, mail: String) {
        self.mail = Some(mail);
    }
}

/// Blocks until cancelled or terminated.
#[workflow]
#[derive(Default)]
pub struct ParkedWorkflow;

#[workflow_methods]
impl ParkedWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        ctx.wait_condition(|_| false).await?;
        Ok(())
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
        .register_workflow::<LongSleepWorkflow>()
        .and_then(|o| o.register_workflow::<ImmediateWorkflow>())
        .and_then(|o| o.register_workflow::<MailWorkflow>())
        .expect("registering workflows")
        .build();
    let worker = new_worker(&client, options);
    with_worker(worker, body(client.clone(), tq)).await
}

/// Runs `LongSleepWorkflow` with the given start options and returns its result, the final
/// status and how long the result took.
async fn run_long_sleep(
    test: &str,
    configure: impl FnOnce(String, String) -> WorkflowStartOptions + Send + 'static,
) -> (Result<String, WorkflowGetResultError>, WorkflowExecutionStatus, Duration) {
    let id = workflow_id(test);
    run_scenario(test, |client, tq| async move {
        let started = Instant::now();
        let handle = client
            .start_workflow(LongSleepWorkflow::run, (), configure(tq, id))
            .await
            .expect("starting workflow");
        let result = within("workflow result", handle.get_result(Default::default())).await;
        let elapsed = started.elapsed();
        let status =
            handle.describe(WorkflowDescribeOptions::default()).await.expect("describing workflow").status();
        (result, status, elapsed)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_timeout_times_out_the_workflow() {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let (result, status, elapsed) = run_long_sleep("run-timeout", |tq, id| {
        WorkflowStartOptions::new(tq, id).run_timeout(TIMEOUT).build()
    })
    .await;
    match result {
        Err(WorkflowGetResultError::TimedOut) => {}
        other => panic!("expected a timed-out error, got {other:?}"),
    }
    assert_eq!(status, WorkflowExecutionStatus::TimedOut);
    assert!(elapsed >= TIMEOUT, "timed out after {elapsed:?}, before its {TIMEOUT:?} run timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_timeout_times_out_the_workflow() {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let (result, status, elapsed) = run_long_sleep("execution-timeout", |tq, id| {
        WorkflowStartOptions::new(tq, id).execution_timeout(TIMEOUT).build()
    })
    .await;
    match result {
        Err(WorkflowGetResultError::TimedOut) => {}
        other => panic!("expected a timed-out error, got {other:?}"),
    }
    assert_eq!(status, WorkflowExecutionStatus::TimedOut);
    assert!(elapsed >= TIMEOUT, "timed out after {elapsed:?}, before its {TIMEOUT:?} execution timeout");
}

/// The event time of the first event of type `event_type`.
fn event_time(events: &[HistoryEvent], event_type: EventType) -> SystemTime {
    let event = events
        .iter()
        .find(|e| e.event_type() == event_type)
        .unwrap_or_else(|| panic!("no {event_type:?} event in the history"));
    let time = event.event_time.unwrap_or_else(|| panic!("{event_type:?} event has no time"));
    SystemTime::try_from(time).expect("event time in range")
}

/// Starts a workflow of type `workflow_type` with a start delay. The SDK's start options have
/// no start delay, so the request is sent directly.
async fn start_delayed(client: &Client, tq: String, id: &str, workflow_type: &str, delay: Duration) {
    let request = StartWorkflowExecutionRequest {
        namespace: NAMESPACE.to_owned(),
        workflow_id: id.to_owned(),
        workflow_type: Some(WorkflowType { name: workflow_type.to_owned() }),
        task_queue: Some(TaskQueue { name: tq, kind: TaskQueueKind::Normal as i32, ..Default::default() }),
        identity: "endure-sdk-tests".to_owned(),
        request_id: format!("request-{id}"),
        workflow_start_delay: Some(delay.try_into().expect("delay fits a proto duration")),
        ..Default::default()
    };
    let mut svc = client.clone();
    WorkflowService::start_workflow_execution(&mut svc, tonic::Request::new(request))
        .await
        .expect("starting workflow with a start delay");
}

/// Asserts that the first workflow task of `history` was scheduled at least `delay` after the
/// workflow started.
fn assert_first_task_delayed(history: &[HistoryEvent], delay: Duration) {
    let started = event_time(history, EventType::WorkflowExecutionStarted);
    let scheduled = event_time(history, EventType::WorkflowTaskScheduled);
    let gap = scheduled.duration_since(started).unwrap_or(Duration::ZERO);
    assert!(
        gap >= delay,
        "the first workflow task was scheduled {gap:?} after the start, within the {delay:?} start delay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_delay_postpones_the_first_workflow_task() {
    const DELAY: Duration = Duration::from_secs(2);
    let id = workflow_id("start-delay");
    let (result, elapsed, history) = run_scenario("start-delay", |client, tq| async move {
        let started = Instant::now();
        start_delayed(&client, tq, &id, WorkflowDefinition::name(&ImmediateWorkflow::run), DELAY).await;
        let handle = client.get_workflow_handle::<ImmediateWorkflow>(id.as_str());
        let result = within("workflow result", handle.get_result(Default::default())).await;
        let elapsed = started.elapsed();
        let history = wait_for_event(&handle, EventType::WorkflowExecutionCompleted).await;
        (result, elapsed, history)
    })
    .await;

    assert_eq!(result.expect("workflow should succeed"), "ran");
    assert!(
        elapsed >= DELAY,
        "the workflow completed {elapsed:?} after its start, within its {DELAY:?} start delay"
    );
    assert_first_task_delayed(&history, DELAY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_does_not_cut_a_start_delay_short() {
    const DELAY: Duration = Duration::from_secs(2);
    let id = workflow_id("start-delay-signal");
    let (result, elapsed, history) = run_scenario("start-delay-signal", |client, tq| async move {
        let started = Instant::now();
        start_delayed(&client, tq, &id, WorkflowDefinition::name(&MailWorkflow::run), DELAY).await;
        let handle = client.get_workflow_handle::<MailWorkflow>(id.as_str());
        // A signal during the delay is recorded but must not start the workflow early.
        handle
            .signal(MailWorkflow::deliver, "early mail".to_owned(), WorkflowSignalOptions::default())
            .await
            .expect("signalling the delayed workflow");
        let result = within("workflow result", handle.get_result(Default::default())).await;
        let elapsed = started.elapsed();
        let history = wait_for_event(&handle, EventType::WorkflowExecutionCompleted).await;
        (result, elapsed, history)
    })
    .await;

    assert_eq!(result.expect("workflow should succeed"), "early mail");
    assert!(
        elapsed >= DELAY,
        "the signalled workflow completed {elapsed:?} after its start, within its {DELAY:?} start delay"
    );
    assert_first_task_delayed(&history, DELAY);
}

/// Starts `ParkedWorkflow` with the given conflict policy (no worker: only the server's handling
/// of the start request matters) and returns the run ID the server answered with.
async fn start_parked(client: &Client, id: &str, policy: WorkflowIdConflictPolicy) -> String {
    let handle = client
        .start_workflow(
            ParkedWorkflow::run,
            (),
            WorkflowStartOptions::new("conflict-policy-no-worker", id).id_conflict_policy(policy).build(),
        )
        .await
        .unwrap_or_else(|e| panic!("starting {id} with {policy:?}: {e:?}"));
    handle.run_id().expect("a started workflow has a run ID").to_owned()
}

/// The status of one specific run.
async fn run_status(client: &Client, id: &str, run_id: &str) -> WorkflowExecutionStatus {
    let handle = temporalio_client::WorkflowHandle::<Client, ParkedWorkflow>::new(
        client.clone(),
        temporalio_client::WorkflowExecutionInfo::builder()
            .namespace(NAMESPACE.to_owned())
            .workflow_id(id.to_owned())
            .run_id(run_id.to_owned())
            .build(),
    );
    let description = handle
        .describe(WorkflowDescribeOptions::default())
        .await
        .unwrap_or_else(|e| panic!("describing run {run_id}: {e:?}"));
    assert_eq!(description.run_id(), run_id, "described the wrong run");
    description.status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_existing_conflict_policy_returns_the_running_run() {
    let server = TestServer::start().await.expect("starting server");
    let client = server.client().await.expect("connecting client");
    let id = workflow_id("use-existing");

    let first = start_parked(&client, &id, WorkflowIdConflictPolicy::Fail).await;
    let second = start_parked(&client, &id, WorkflowIdConflictPolicy::UseExisting).await;
    assert_eq!(second, first, "UseExisting should answer with the running run");
    assert_eq!(run_status(&client, &id, &first).await, WorkflowExecutionStatus::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_existing_conflict_policy_replaces_the_running_run() {
    let server = TestServer::start().await.expect("starting server");
    let client = server.client().await.expect("connecting client");
    let id = workflow_id("terminate-existing");

    let first = start_parked(&client, &id, WorkflowIdConflictPolicy::Fail).await;
    let second = start_parked(&client, &id, WorkflowIdConflictPolicy::TerminateExisting).await;
    assert_ne!(second, first, "TerminateExisting should start a new run");
    assert_eq!(
        run_status(&client, &id, &first).await,
        WorkflowExecutionStatus::Terminated,
        "the old run should be terminated"
    );
    assert_eq!(
        run_status(&client, &id, &second).await,
        WorkflowExecutionStatus::Running,
        "the new run should be running"
    );
}
