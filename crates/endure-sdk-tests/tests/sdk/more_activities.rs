//! Activities: heartbeat details carried across attempts and cancellation delivered through the
//! heartbeat response.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use temporalio_client::{WorkflowSignalOptions, WorkflowStartOptions};
use temporalio_common::{RetryPolicy, protos::temporal::api::enums::v1::EventType};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::{
    ActivityCancellationType, ActivityExecutionError, ActivityOptions, SyncWorkflowContext, WorkerOptions,
    WorkflowCancellationToken, WorkflowContext, WorkflowResult,
    activities::{ActivityContext, ActivityError},
};

use crate::harness::{
    TestServer, eventually, new_worker, task_queue, wait_for_event, with_worker, within, workflow_id,
};

/// Progress value the first attempt of `resume_from_heartbeat` records before failing.
const PROGRESS: u32 = 42;

/// What the activities of this module observed, shared with the test.
#[derive(Default)]
pub struct Observed {
    /// `(attempt, heartbeat details seen at the start of that attempt)` per invocation of
    /// `resume_from_heartbeat`.
    attempts: Mutex<Vec<(u32, Option<u32>)>>,
    /// Set once `heartbeat_until_cancelled` has recorded its first heartbeat.
    heartbeating: AtomicBool,
    /// Set when `heartbeat_until_cancelled` saw its cancellation.
    saw_cancellation: AtomicBool,
}

pub struct HeartbeatActivities {
    observed: Arc<Observed>,
}

#[activities]
impl HeartbeatActivities {
    /// Attempt 1 heartbeats [`PROGRESS`] and fails; later attempts return the heartbeat details
    /// they were started with.
    #[activity]
    pub async fn resume_from_heartbeat(
        self: Arc<Self>,
        ctx: ActivityContext,
        _input: (),
    ) -> Result<u32, ActivityError> {
        let attempt = ctx.info().attempt;
        let previous: Option<u32> = ctx.heartbeat_details().deserialize()?;
        self.observed.attempts.lock().expect("attempt log poisoned").push((attempt, previous));
        if attempt == 1 {
            ctx.record_heartbeat(PROGRESS).await?;
            return Err(anyhow::anyhow!("crashed after reaching progress {PROGRESS}").into());
        }
        previous.ok_or_else(|| anyhow::anyhow!("attempt {attempt} got no heartbeat details").into())
    }

    /// Attempt 1 heartbeats [`PROGRESS`] and then stalls until its heartbeat timeout ends it;
    /// later attempts return the heartbeat details they were started with.
    #[activity]
    pub async fn resume_after_stall(
        self: Arc<Self>,
        ctx: ActivityContext,
        _input: (),
    ) -> Result<u32, ActivityError> {
        let attempt = ctx.info().attempt;
        let previous: Option<u32> = ctx.heartbeat_details().deserialize()?;
        self.observed.attempts.lock().expect("attempt log poisoned").push((attempt, previous));
        if attempt == 1 {
            ctx.record_heartbeat(PROGRESS).await?;
            // Never report back: only the heartbeat timeout can end this attempt, and only the
            // heartbeat RPC can have carried the details. The worker cancels it at shutdown.
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                _ = ctx.cancelled() => {}
            }
            return Err(anyhow::anyhow!("attempt 1 should have timed out").into());
        }
        previous.ok_or_else(|| anyhow::anyhow!("attempt {attempt} got no heartbeat details").into())
    }

    /// Heartbeats every 100 ms until cancelled (then reports cancellation) or until 10 s have
    /// passed (then completes normally).
    #[activity]
    pub async fn heartbeat_until_cancelled(
        self: Arc<Self>,
        ctx: ActivityContext,
        _input: (),
    ) -> Result<String, ActivityError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut beat = 0u32;
        while tokio::time::Instant::now() < deadline {
            if ctx.is_cancelled() {
                self.observed.saw_cancellation.store(true, Ordering::SeqCst);
                return Err(ActivityError::cancelled());
            }
            beat += 1;
            ctx.record_heartbeat(beat).await?;
            self.observed.heartbeating.store(true, Ordering::SeqCst);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = ctx.cancelled() => {}
            }
        }
        Ok("ran to completion".to_owned())
    }
}

/// Runs `resume_from_heartbeat` with a quick retry policy and returns its result.
#[workflow]
#[derive(Default)]
pub struct HeartbeatResumeWorkflow;

#[workflow_methods]
impl HeartbeatResumeWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<u32> {
        let opts = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
            .heartbeat_timeout(Duration::from_secs(10))
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_millis(200))
                    .backoff_coefficient(1.0)
                    .maximum_attempts(3)
                    .build(),
            )
            .build();
        Ok(ctx.execute_activity(HeartbeatActivities::resume_from_heartbeat, (), opts).await?)
    }
}

/// Runs `resume_after_stall` with a 1 s heartbeat timeout and a quick retry policy.
#[workflow]
#[derive(Default)]
pub struct HeartbeatTimeoutResumeWorkflow;

#[workflow_methods]
impl HeartbeatTimeoutResumeWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<u32> {
        let opts = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
            .heartbeat_timeout(Duration::from_secs(1))
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_millis(200))
                    .backoff_coefficient(1.0)
                    .maximum_attempts(3)
                    .build(),
            )
            .build();
        Ok(ctx.execute_activity(HeartbeatActivities::resume_after_stall, (), opts).await?)
    }
}

/// Runs `heartbeat_until_cancelled`; when the `cancel_activity` signal arrives it cancels the
/// activity and waits for the activity to acknowledge. Returns how the activity ended.
#[workflow]
#[derive(Default)]
pub struct CancelActivityWorkflow {
    cancel: bool,
}

#[workflow_methods]
impl CancelActivityWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<String> {
        let token = WorkflowCancellationToken::new();
        let opts = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
            .heartbeat_timeout(Duration::from_secs(2))
            .cancellation_type(ActivityCancellationType::WaitCancellationCompleted)
            .cancellation_token(token.clone())
            .retry_policy(RetryPolicy::builder().maximum_attempts(1).build())
            .build();
        let activity = ctx.execute_activity(HeartbeatActivities::heartbeat_until_cancelled, (), opts);
        futures::pin_mut!(activity);
        let early = {
            let signalled = ctx.wait_condition(|s| s.cancel);
            futures::pin_mut!(signalled);
            futures::select! {
                result = activity => Some(result),
                _ = signalled => None,
            }
        };
        let result = match early {
            Some(result) => result,
            None => {
                token.cancel();
                activity.await
            }
        };
        match result {
            Ok(value) => Ok(format!("completed: {value}")),
            Err(ActivityExecutionError::Cancelled(_)) => Ok("cancelled".to_owned()),
            Err(e) => Err(e.into()),
        }
    }

    #[signal]
    pub fn cancel_activity(&mut self, _ctx: &mut SyncWorkflowContext<Self>) {
        self.cancel = true;
    }
}

/// Starts a server and a worker with this module's workflows and activities, and runs `body`
/// beside the worker.
async fn run_scenario<T, F, Fut>(test: &str, body: F) -> (T, Arc<Observed>)
where
    F: FnOnce(temporalio_client::Client, String, Arc<Observed>) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let server = TestServer::start().await.expect("starting server");
    let client = server.client().await.expect("connecting client");
    let tq = task_queue(test);
    let observed = Arc::new(Observed::default());
    let options = WorkerOptions::new(tq.as_str())
        .register_workflow::<HeartbeatResumeWorkflow>()
        .and_then(|o| o.register_workflow::<HeartbeatTimeoutResumeWorkflow>())
        .and_then(|o| o.register_workflow::<CancelActivityWorkflow>())
        .expect("registering workflows")
        .register_activities(HeartbeatActivities { observed: observed.clone() })
        .build();
    let worker = new_worker(&client, options);
    let output = with_worker(worker, body(client.clone(), tq, observed.clone())).await;
    (output, observed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_details_reach_the_next_attempt() {
    let (result, observed) = run_scenario("heartbeat-details", |client, tq, _| async move {
        let handle = client
            .start_workflow(
                HeartbeatResumeWorkflow::run,
                (),
                WorkflowStartOptions::new(tq, workflow_id("heartbeat-details")).build(),
            )
            .await
            .expect("starting workflow");
        within("workflow result", handle.get_result(Default::default())).await
    })
    .await;
    let attempts = observed.attempts.lock().expect("attempt log poisoned").clone();
    assert_eq!(
        attempts,
        vec![(1, None), (2, Some(PROGRESS))],
        "(attempt, heartbeat details seen) per activity invocation"
    );
    assert_eq!(result.expect("workflow should succeed on the second attempt"), PROGRESS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_details_survive_a_heartbeat_timeout() {
    let (result, observed) = run_scenario("heartbeat-timeout-details", |client, tq, _| async move {
        let handle = client
            .start_workflow(
                HeartbeatTimeoutResumeWorkflow::run,
                (),
                WorkflowStartOptions::new(tq, workflow_id("heartbeat-timeout-details")).build(),
            )
            .await
            .expect("starting workflow");
        within("workflow result", handle.get_result(Default::default())).await
    })
    .await;
    let attempts = observed.attempts.lock().expect("attempt log poisoned").clone();
    assert_eq!(
        attempts,
        vec![(1, None), (2, Some(PROGRESS))],
        "(attempt, heartbeat details seen) per activity invocation"
    );
    assert_eq!(result.expect("workflow should succeed on the second attempt"), PROGRESS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_cancellation_is_delivered_through_heartbeats() {
    let ((result, history), observed) = run_scenario("activity-cancel", |client, tq, observed| async move {
        let handle = client
            .start_workflow(
                CancelActivityWorkflow::run,
                (),
                WorkflowStartOptions::new(tq, workflow_id("activity-cancel")).build(),
            )
            .await
            .expect("starting workflow");
        // Cancel only an activity that is running and heartbeating.
        eventually("the activity to heartbeat", || async {
            observed.heartbeating.load(Ordering::SeqCst).then_some(())
        })
        .await;
        handle
            .signal(CancelActivityWorkflow::cancel_activity, (), WorkflowSignalOptions::default())
            .await
            .expect("signalling workflow");
        let result = within("workflow result", handle.get_result(Default::default())).await;
        let history = wait_for_event(&handle, EventType::WorkflowExecutionCompleted).await;
        (result, history)
    })
    .await;
    assert!(
        observed.saw_cancellation.load(Ordering::SeqCst),
        "the running activity never observed its cancellation"
    );
    assert_eq!(
        result.expect("workflow should succeed"),
        "cancelled",
        "the workflow should see the activity end as cancelled"
    );
    let types: Vec<EventType> = history.iter().map(|e| e.event_type()).collect();
    for expected in [EventType::ActivityTaskCancelRequested, EventType::ActivityTaskCanceled] {
        assert!(types.contains(&expected), "history lacks {expected:?}: {types:?}");
    }
}
