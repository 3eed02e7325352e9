//! Durability: a server crash (SIGKILL) while a workflow has a pending timer loses nothing.

use std::time::{Duration, Instant};

use temporalio_client::WorkflowStartOptions;
use temporalio_common::protos::temporal::api::enums::v1::EventType;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkerOptions, WorkflowContext, WorkflowResult};

use crate::harness::{TestServer, new_worker, task_queue, wait_for_event, with_worker, within, workflow_id};

/// How long the workflow's timer runs; the server is killed and restarted inside this window.
const TIMER: Duration = Duration::from_secs(3);

/// Sleeps on a durable timer, then echoes its input.
#[workflow]
#[derive(Default)]
pub struct CrashTimerWorkflow;

#[workflow_methods]
impl CrashTimerWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, label: String) -> WorkflowResult<String> {
        ctx.timer(TIMER).await;
        Ok(format!("{label} survived"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_timer_survives_server_crash() {
    let mut server = TestServer::start().await.expect("starting server");
    let client = server.client().await.expect("connecting client");
    let tq = task_queue("crash");
    let options = WorkerOptions::new(tq.as_str())
        .register_workflow::<CrashTimerWorkflow>()
        .expect("registering workflow")
        .build();
    // The worker and the client are created before the crash and used after it: the SDK must
    // reconnect to the restarted server on its own.
    let worker = new_worker(&client, options);

    let (result, elapsed) = with_worker(worker, async {
        let started = Instant::now();
        let handle = client
            .start_workflow(
                CrashTimerWorkflow::run,
                "timer".to_owned(),
                WorkflowStartOptions::new(tq.as_str(), workflow_id("crash")).build(),
            )
            .await
            .expect("starting workflow");
        wait_for_event(&handle, EventType::TimerStarted).await;

        server.restart().await.expect("restarting the server after SIGKILL");

        let result = within("workflow result after the restart", handle.get_result(Default::default())).await;
        (result, started.elapsed())
    })
    .await;

    assert_eq!(result.expect("workflow should complete after the crash"), "timer survived");
    assert!(elapsed >= TIMER, "workflow completed after {elapsed:?}, before its {TIMER:?} timer could fire");
}
