//! Timers, signals and queries.

use std::time::{Duration, Instant};

use temporalio_client::{WorkflowQueryOptions, WorkflowSignalOptions, WorkflowStartOptions};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    SyncWorkflowContext, WorkerOptions, WorkflowContext, WorkflowContextView, WorkflowResult,
};

use crate::harness::{
    TestServer, eventually, new_worker, task_queue, wait_for_first_workflow_task, with_worker, within,
    workflow_id,
};

/// Sleeps on a durable timer for the given number of milliseconds and reports how the timer
/// resolved.
#[workflow]
#[derive(Default)]
pub struct TimerWorkflow;

#[workflow_methods]
impl TimerWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, millis: u64) -> WorkflowResult<String> {
        let fired = ctx.timer(Duration::from_millis(millis)).await;
        Ok(format!("{fired:?}"))
    }
}

/// Waits for a `deliver` signal and returns its payload.
#[workflow]
#[derive(Default)]
pub struct SignalWorkflow {
    message: Option<String>,
}

#[workflow_methods]
impl SignalWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<String> {
        ctx.wait_condition(|s| s.message.is_some()).await?;
        Ok(ctx.state(|s| s.message.clone().unwrap_or_default()))
    }

    #[signal]
    pub fn deliver(&mut self, _ctx: &mut SyncWorkflowContext<Self>, message: String) {
        self.message = Some(message);
    }
}

/// Sums `add` signals until the total reaches the target; `total` queries the running sum.
#[workflow]
#[derive(Default)]
pub struct CounterWorkflow {
    total: i64,
}

#[workflow_methods]
impl CounterWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, target: i64) -> WorkflowResult<i64> {
        ctx.wait_condition(|s| s.total >= target).await?;
        Ok(ctx.state(|s| s.total))
    }

    #[signal]
    pub fn add(&mut self, _ctx: &mut SyncWorkflowContext<Self>, amount: i64) {
        self.total += amount;
    }

    #[query]
    pub fn total(&self, _ctx: &WorkflowContextView) -> i64 {
        self.total
    }
}

/// Starts a server and a worker for this module's workflows and runs `body` beside it.
async fn run_scenario<T, F, Fut>(test: &str, body: F) -> T
where
    F: FnOnce(temporalio_client::Client, String) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let server = TestServer::start().await.expect("starting server");
    let client = server.client().await.expect("connecting client");
    let tq = task_queue(test);
    let options = WorkerOptions::new(tq.as_str())
        .register_workflow::<TimerWorkflow>()
        .and_then(|o| o.register_workflow::<SignalWorkflow>())
        .and_then(|o| o.register_workflow::<CounterWorkflow>())
        .expect("registering workflows")
        .build();
    let worker = new_worker(&client, options);
    with_worker(worker, body(client.clone(), tq)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_delays_workflow_completion() {
    const TIMER: Duration = Duration::from_millis(1500);
    let (result, elapsed) = run_scenario("timer", |client, tq| async move {
        let started = Instant::now();
        let handle = client
            .start_workflow(
                TimerWorkflow::run,
                TIMER.as_millis() as u64,
                WorkflowStartOptions::new(tq, workflow_id("timer")).build(),
            )
            .await
            .expect("starting workflow");
        let result = within("workflow result", handle.get_result(Default::default())).await;
        (result, started.elapsed())
    })
    .await;
    assert_eq!(result.expect("workflow should succeed"), "Fired");
    assert!(elapsed >= TIMER, "workflow completed after {elapsed:?}, before its {TIMER:?} timer could fire");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_payload_reaches_waiting_workflow() {
    let result = run_scenario("signal", |client, tq| async move {
        let handle = client
            .start_workflow(
                SignalWorkflow::run,
                (),
                WorkflowStartOptions::new(tq, workflow_id("signal")).build(),
            )
            .await
            .expect("starting workflow");
        // Signal a workflow that is already blocked, not one still being started.
        wait_for_first_workflow_task(&handle).await;
        handle
            .signal(
                SignalWorkflow::deliver,
                "payload from the client".to_owned(),
                WorkflowSignalOptions::default(),
            )
            .await
            .expect("signalling workflow");
        within("workflow result", handle.get_result(Default::default())).await
    })
    .await;
    assert_eq!(result.expect("workflow should succeed"), "payload from the client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_reads_running_workflow_state() {
    let result = run_scenario("query", |client, tq| async move {
        let handle = client
            .start_workflow(
                CounterWorkflow::run,
                100,
                WorkflowStartOptions::new(tq, workflow_id("query")).build(),
            )
            .await
            .expect("starting workflow");
        wait_for_first_workflow_task(&handle).await;

        let query =
            || async { handle.query(CounterWorkflow::total, (), WorkflowQueryOptions::default()).await };
        let initial = query().await.expect("querying the running workflow");
        assert_eq!(initial, 0, "nothing was added yet");

        for amount in [5, 7] {
            handle
                .signal(CounterWorkflow::add, amount, WorkflowSignalOptions::default())
                .await
                .expect("signalling workflow");
        }
        // Signals are applied by the next workflow task, so the query may briefly see 0 or 5.
        eventually("query to report 12", || async {
            match query().await {
                Ok(12) => Some(()),
                _ => None,
            }
        })
        .await;

        handle
            .signal(CounterWorkflow::add, 88, WorkflowSignalOptions::default())
            .await
            .expect("signalling workflow");
        within("workflow result", handle.get_result(Default::default())).await
    })
    .await;
    assert_eq!(result.expect("workflow should succeed"), 100);
}
