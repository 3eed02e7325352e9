//! Activities: results, retries, non-retryable failures and timeouts.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use temporalio_client::{WorkflowStartOptions, errors::WorkflowGetResultError};
use temporalio_common::{
    RetryPolicy,
    error::{IncomingError, RetryState, TimeoutType},
};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::{
    ActivityOptions, ApplicationFailure, WorkerOptions, WorkflowContext, WorkflowResult,
    activities::{ActivityContext, ActivityError},
};

use crate::harness::{TestServer, failure_chain, new_worker, task_queue, with_worker, within, workflow_id};

/// Activities used by the tests in this module. `calls` records the attempt number of every
/// activity invocation, so tests can check how often the server dispatched an activity.
pub struct TestActivities {
    calls: Arc<Mutex<Vec<u32>>>,
}

impl TestActivities {
    fn new() -> (Self, Arc<Mutex<Vec<u32>>>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        (Self { calls: calls.clone() }, calls)
    }

    fn record(&self, ctx: &ActivityContext) -> u32 {
        let attempt = ctx.info().attempt;
        self.calls.lock().expect("activity call log poisoned").push(attempt);
        attempt
    }
}

/// Sleeps for `duration` unless the activity is cancelled first.
async fn sleep_unless_cancelled(ctx: &ActivityContext, duration: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(duration) => {}
        _ = ctx.cancelled() => {}
    }
}

#[activities]
impl TestActivities {
    /// Returns a greeting.
    #[activity]
    pub async fn greet(self: Arc<Self>, ctx: ActivityContext, name: String) -> Result<String, ActivityError> {
        self.record(&ctx);
        Ok(format!("Hello, {name}!"))
    }

    /// Fails (retryably) on attempts 1 and 2, succeeds on attempt 3 and returns the attempt.
    #[activity]
    pub async fn fail_twice(self: Arc<Self>, ctx: ActivityContext, _input: ()) -> Result<u32, ActivityError> {
        let attempt = self.record(&ctx);
        if attempt < 3 {
            return Err(anyhow::anyhow!("transient failure on attempt {attempt}").into());
        }
        Ok(attempt)
    }

    /// Always fails with a non-retryable application failure.
    #[activity]
    pub async fn fail_fatally(
        self: Arc<Self>,
        ctx: ActivityContext,
        _input: (),
    ) -> Result<(), ActivityError> {
        self.record(&ctx);
        Err(ActivityError::application(ApplicationFailure::non_retryable("card declined")))
    }

    /// Heartbeats once, then stops heartbeating while it keeps running.
    #[activity]
    pub async fn heartbeat_then_stall(
        self: Arc<Self>,
        ctx: ActivityContext,
        _input: (),
    ) -> Result<(), ActivityError> {
        self.record(&ctx);
        ctx.record_heartbeat(()).await?;
        sleep_unless_cancelled(&ctx, Duration::from_secs(5)).await;
        Ok(())
    }

    /// Runs for longer than its start-to-close timeout.
    #[activity]
    pub async fn oversleep(self: Arc<Self>, ctx: ActivityContext, _input: ()) -> Result<(), ActivityError> {
        self.record(&ctx);
        sleep_unless_cancelled(&ctx, Duration::from_secs(5)).await;
        Ok(())
    }
}

/// Runs `greet` once and returns its result.
#[workflow]
#[derive(Default)]
pub struct GreetingWorkflow;

#[workflow_methods]
impl GreetingWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> {
        let greeting = ctx
            .execute_activity(
                TestActivities::greet,
                name,
                ActivityOptions::start_to_close_timeout(Duration::from_secs(10)),
            )
            .await?;
        Ok(greeting)
    }
}

/// Runs `fail_twice` with a quick retry policy and returns the attempt that succeeded.
#[workflow]
#[derive(Default)]
pub struct RetryWorkflow;

#[workflow_methods]
impl RetryWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<u32> {
        let opts = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_millis(200))
                    .backoff_coefficient(1.0)
                    .maximum_attempts(5)
                    .build(),
            )
            .build();
        Ok(ctx.execute_activity(TestActivities::fail_twice, (), opts).await?)
    }
}

/// Runs `fail_fatally` with a retry policy that would allow several attempts.
#[workflow]
#[derive(Default)]
pub struct NonRetryableWorkflow;

#[workflow_methods]
impl NonRetryableWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        let opts = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_millis(100))
                    .backoff_coefficient(1.0)
                    .maximum_attempts(5)
                    .build(),
            )
            .build();
        ctx.execute_activity(TestActivities::fail_fatally, (), opts).await?;
        Ok(())
    }
}

/// Runs `heartbeat_then_stall` with a 1 s heartbeat timeout and a single attempt.
#[workflow]
#[derive(Default)]
pub struct HeartbeatTimeoutWorkflow;

#[workflow_methods]
impl HeartbeatTimeoutWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        let opts = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(15))
            .heartbeat_timeout(Duration::from_secs(1))
            .retry_policy(RetryPolicy::builder().maximum_attempts(1).build())
            .build();
        ctx.execute_activity(TestActivities::heartbeat_then_stall, (), opts).await?;
        Ok(())
    }
}

/// Runs `oversleep` with a 1 s start-to-close timeout and a single attempt.
#[workflow]
#[derive(Default)]
pub struct StartToCloseTimeoutWorkflow;

#[workflow_methods]
impl StartToCloseTimeoutWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        let opts = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(1))
            .retry_policy(RetryPolicy::builder().maximum_attempts(1).build())
            .build();
        ctx.execute_activity(TestActivities::oversleep, (), opts).await?;
        Ok(())
    }
}

/// Starts a server and a worker with all workflows and activities of this module, runs `body`
/// beside the worker, and returns the body's output with the activity call log.
async fn run_scenario<T, F, Fut>(test: &str, body: F) -> (T, Vec<u32>)
where
    F: FnOnce(temporalio_client::Client, String) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let server = TestServer::start().await.expect("starting server");
    let client = server.client().await.expect("connecting client");
    let tq = task_queue(test);
    let (activities, calls) = TestActivities::new();
    let options = WorkerOptions::new(tq.as_str())
        .register_workflow::<GreetingWorkflow>()
        .and_then(|o| o.register_workflow::<RetryWorkflow>())
        .and_then(|o| o.register_workflow::<NonRetryableWorkflow>())
        .and_then(|o| o.register_workflow::<HeartbeatTimeoutWorkflow>())
        .and_then(|o| o.register_workflow::<StartToCloseTimeoutWorkflow>())
        .expect("registering workflows")
        .register_activities(activities)
        .build();
    let worker = new_worker(&client, options);
    let output = with_worker(worker, body(client.clone(), tq)).await;
    let calls = calls.lock().expect("activity call log poisoned").clone();
    (output, calls)
}

/// Extracts the failure of a workflow that must have failed.
fn expect_failed<T: std::fmt::Debug>(result: Result<T, WorkflowGetResultError>) -> Box<IncomingError> {
    match result {
        Err(WorkflowGetResultError::Failed(err)) => err,
        other => panic!("expected the workflow to fail, got {other:?}"),
    }
}

/// Finds the activity failure in a workflow failure's cause chain.
fn activity_failure(err: &IncomingError) -> &temporalio_common::error::ActivityFailureError {
    failure_chain(err)
        .into_iter()
        .find_map(|e| match e {
            IncomingError::Activity(a) => Some(a),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no activity failure in the cause chain of {err:?}"))
}

/// Finds the timeout failure in a workflow failure's cause chain.
fn timeout_type(err: &IncomingError) -> TimeoutType {
    failure_chain(err)
        .into_iter()
        .find_map(|e| e.as_timeout().map(|t| t.timeout_type()))
        .unwrap_or_else(|| panic!("no timeout failure in the cause chain of {err:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_returns_activity_result() {
    let (result, calls) = run_scenario("activity-result", |client, tq| async move {
        let handle = client
            .start_workflow(
                GreetingWorkflow::run,
                "Endure".to_owned(),
                WorkflowStartOptions::new(tq, workflow_id("activity-result")).build(),
            )
            .await
            .expect("starting workflow");
        within("workflow result", handle.get_result(Default::default())).await
    })
    .await;
    assert_eq!(result.expect("workflow should succeed"), "Hello, Endure!");
    assert_eq!(calls, vec![1], "the activity should run exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_activity_is_retried_until_it_succeeds() {
    let (result, calls) = run_scenario("activity-retry", |client, tq| async move {
        let handle = client
            .start_workflow(
                RetryWorkflow::run,
                (),
                WorkflowStartOptions::new(tq, workflow_id("activity-retry")).build(),
            )
            .await
            .expect("starting workflow");
        within("workflow result", handle.get_result(Default::default())).await
    })
    .await;
    assert_eq!(
        result.expect("workflow should succeed after retries"),
        3,
        "the activity should observe attempt == 3 when it finally succeeds"
    );
    assert_eq!(calls, vec![1, 2, 3], "attempts seen by the activity");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_retryable_failure_fails_workflow_after_one_attempt() {
    let (result, calls) = run_scenario("activity-non-retryable", |client, tq| async move {
        let handle = client
            .start_workflow(
                NonRetryableWorkflow::run,
                (),
                WorkflowStartOptions::new(tq, workflow_id("activity-non-retryable")).build(),
            )
            .await
            .expect("starting workflow");
        within("workflow result", handle.get_result(Default::default())).await
    })
    .await;
    let err = expect_failed(result);
    let activity = activity_failure(&err);
    assert_eq!(activity.retry_state(), RetryState::NonRetryableFailure);
    let app = failure_chain(&err)
        .into_iter()
        .find_map(|e| match e {
            IncomingError::Application(app) => Some(app),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no application failure in the cause chain of {err:?}"));
    assert!(app.is_non_retryable(), "failure should be non-retryable");
    assert_eq!(app.failure().map(|f| f.message.as_str()), Some("card declined"));
    assert_eq!(calls, vec![1], "a non-retryable failure must not be retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_that_stops_heartbeating_times_out() {
    let (result, calls) = run_scenario("activity-heartbeat-timeout", |client, tq| async move {
        let handle = client
            .start_workflow(
                HeartbeatTimeoutWorkflow::run,
                (),
                WorkflowStartOptions::new(tq, workflow_id("activity-heartbeat-timeout")).build(),
            )
            .await
            .expect("starting workflow");
        within("workflow result", handle.get_result(Default::default())).await
    })
    .await;
    let err = expect_failed(result);
    assert_eq!(timeout_type(&err), TimeoutType::Heartbeat);
    assert_eq!(activity_failure(&err).retry_state(), RetryState::MaximumAttemptsReached);
    assert_eq!(calls, vec![1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_that_overruns_start_to_close_times_out() {
    let (result, calls) = run_scenario("activity-start-to-close", |client, tq| async move {
        let handle = client
            .start_workflow(
                StartToCloseTimeoutWorkflow::run,
                (),
                WorkflowStartOptions::new(tq, workflow_id("activity-start-to-close")).build(),
            )
            .await
            .expect("starting workflow");
        within("workflow result", handle.get_result(Default::default())).await
    })
    .await;
    let err = expect_failed(result);
    assert_eq!(timeout_type(&err), TimeoutType::StartToClose);
    assert_eq!(activity_failure(&err).retry_state(), RetryState::MaximumAttemptsReached);
    assert_eq!(calls, vec![1]);
}
