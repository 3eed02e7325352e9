//! Client API: signal deduplication, signal-with-start, visibility (list and count) and history
//! pagination.

use std::{collections::BTreeSet, future::Future, time::Duration};

use futures::StreamExt;
use temporalio_client::{
    Client, WorkflowCountOptions, WorkflowExecution as ListedExecution, WorkflowExecutionStatus,
    WorkflowListOptions, WorkflowSignalOptions, WorkflowStartOptions, grpc::WorkflowService, tonic,
};
use temporalio_common::protos::temporal::api::{
    common::v1::WorkflowExecution,
    enums::v1::EventType,
    history::v1::HistoryEvent,
    workflowservice::v1::{GetWorkflowExecutionHistoryRequest, GetWorkflowExecutionHistoryReverseRequest},
};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{SyncWorkflowContext, WorkerOptions, WorkflowContext, WorkflowResult};

use crate::harness::{
    NAMESPACE, TestServer, new_worker, task_queue, wait_for_event, wait_for_first_workflow_task, with_worker,
    within, workflow_id,
};

/// Counts `bump` signals until `finish` arrives, then returns the count.
#[workflow]
#[derive(Default)]
pub struct BumpCounterWorkflow {
    bumps: u32,
    finished: bool,
}

#[workflow_methods]
impl BumpCounterWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<u32> {
        ctx.wait_condition(|s| s.finished).await?;
        Ok(ctx.state(|s| s.bumps))
    }

    #[signal]
    pub fn bump(&mut self, _ctx: &mut SyncWorkflowContext<Self>) {
        self.bumps += 1;
    }

    #[signal]
    pub fn finish(&mut self, _ctx: &mut SyncWorkflowContext<Self>) {
        self.finished = true;
    }
}

/// Collects `message` signals until it has `expected` of them and returns them in order.
#[workflow]
#[derive(Default)]
pub struct MailboxWorkflow {
    messages: Vec<String>,
}

#[workflow_methods]
impl MailboxWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, expected: usize) -> WorkflowResult<Vec<String>> {
        ctx.wait_condition(|s| s.messages.len() >= expected).await?;
        Ok(ctx.state(|s| s.messages.clone()))
    }

    #[signal]
    pub fn message(&mut self, _ctx: &mut SyncWorkflowContext<Self>, text: String) {
        self.messages.push(text);
    }
}

/// Completes at once (a "finished" workflow type for the visibility test).
#[workflow]
#[derive(Default)]
pub struct ListedDoneWorkflow;

#[workflow_methods]
impl ListedDoneWorkflow {
    #[run]
    pub async fn run(_ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        Ok(())
    }
}

/// Blocks until terminated (a "running" workflow type for the visibility test).
#[workflow]
#[derive(Default)]
pub struct ListedOpenWorkflow;

#[workflow_methods]
impl ListedOpenWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        ctx.wait_condition(|_| false).await?;
        Ok(())
    }
}

/// Fires three short timers in a row, so its history has a few dozen events.
#[workflow]
#[derive(Default)]
pub struct ThreeTimersWorkflow;

#[workflow_methods]
impl ThreeTimersWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<u32> {
        for _ in 0..3 {
            ctx.timer(Duration::from_millis(10)).await;
        }
        Ok(3)
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
        .register_workflow::<BumpCounterWorkflow>()
        .and_then(|o| o.register_workflow::<MailboxWorkflow>())
        .and_then(|o| o.register_workflow::<ListedDoneWorkflow>())
        .and_then(|o| o.register_workflow::<ListedOpenWorkflow>())
        .and_then(|o| o.register_workflow::<ThreeTimersWorkflow>())
        .expect("registering workflows")
        .build();
    let worker = new_worker(&client, options);
    with_worker(worker, body(client.clone(), tq)).await
}

fn signal_options(request_id: &str) -> WorkflowSignalOptions {
    WorkflowSignalOptions::builder().request_id(request_id.to_owned()).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_with_the_same_request_id_are_delivered_once() {
    let (result, history) = run_scenario("signal-dedup", |client, tq| async move {
        let handle = client
            .start_workflow(
                BumpCounterWorkflow::run,
                (),
                WorkflowStartOptions::new(tq, workflow_id("signal-dedup")).build(),
            )
            .await
            .expect("starting workflow");
        wait_for_first_workflow_task(&handle).await;
        // A retried signal RPC (same request ID) must not be delivered twice; a new request ID
        // is a new signal.
        for request_id in ["bump-request-1", "bump-request-1", "bump-request-2"] {
            handle
                .signal(BumpCounterWorkflow::bump, (), signal_options(request_id))
                .await
                .expect("signalling workflow");
        }
        handle
            .signal(BumpCounterWorkflow::finish, (), signal_options("finish-request"))
            .await
            .expect("signalling workflow");
        let result = within("workflow result", handle.get_result(Default::default())).await;
        let history = wait_for_event(&handle, EventType::WorkflowExecutionCompleted).await;
        (result, history)
    })
    .await;
    assert_eq!(result.expect("workflow should succeed"), 2, "bump signals seen by the workflow");
    let signalled = history.iter().filter(|e| e.event_type() == EventType::WorkflowExecutionSignaled).count();
    assert_eq!(signalled, 3, "WorkflowExecutionSignaled events (2 bumps + finish)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_with_start_starts_once_then_signals_the_running_workflow() {
    let (first_run, second_run, result, history) =
        run_scenario("signal-with-start", |client, tq| async move {
            let options = WorkflowStartOptions::new(tq, workflow_id("signal-with-start")).build();
            let first = client
                .signal_with_start_workflow(
                    MailboxWorkflow::run,
                    2,
                    MailboxWorkflow::message,
                    "first".to_owned(),
                    options.clone(),
                )
                .await
                .expect("signal-with-start of a new workflow");
            wait_for_first_workflow_task(&first).await;
            let second = client
                .signal_with_start_workflow(
                    MailboxWorkflow::run,
                    2,
                    MailboxWorkflow::message,
                    "second".to_owned(),
                    options,
                )
                .await
                .expect("signal-with-start of a running workflow");
            let result = within("workflow result", first.get_result(Default::default())).await;
            let history = wait_for_event(&first, EventType::WorkflowExecutionCompleted).await;
            (first.run_id().map(str::to_owned), second.run_id().map(str::to_owned), result, history)
        })
        .await;
    assert!(first_run.as_deref().is_some_and(|r| !r.is_empty()));
    assert_eq!(
        second_run, first_run,
        "the second signal-with-start must signal the running run, not start a new one"
    );
    assert_eq!(
        result.expect("workflow should succeed"),
        ["first", "second"],
        "messages received by the workflow"
    );
    let types: Vec<EventType> = history.iter().map(|e| e.event_type()).collect();
    assert_eq!(
        types.get(..2),
        Some(&[EventType::WorkflowExecutionStarted, EventType::WorkflowExecutionSignaled][..]),
        "the first signal is delivered with the start, before the first workflow task: \
         {types:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_with_start_on_a_closed_workflow_starts_a_new_run() {
    let (first_run, first_result, second_run, second_result) =
        run_scenario("signal-with-start-closed", |client, tq| async move {
            let options = WorkflowStartOptions::new(tq, workflow_id("signal-with-start-closed")).build();
            let first = client
                .signal_with_start_workflow(
                    MailboxWorkflow::run,
                    1,
                    MailboxWorkflow::message,
                    "to the first run".to_owned(),
                    options.clone(),
                )
                .await
                .expect("signal-with-start of a new workflow");
            let first_result = within("first run result", first.get_result(Default::default())).await;
            let second = client
                .signal_with_start_workflow(
                    MailboxWorkflow::run,
                    1,
                    MailboxWorkflow::message,
                    "to the second run".to_owned(),
                    options,
                )
                .await
                .expect("signal-with-start of a closed workflow");
            let second_result = within("second run result", second.get_result(Default::default())).await;
            (
                first.run_id().map(str::to_owned),
                first_result,
                second.run_id().map(str::to_owned),
                second_result,
            )
        })
        .await;
    assert_eq!(first_result.expect("first run should succeed"), ["to the first run"]);
    assert_ne!(second_run, first_run, "a closed workflow cannot be signalled: a new run must start");
    assert_eq!(
        second_result.expect("second run should succeed"),
        ["to the second run"],
        "the new run receives the signal it was started with"
    );
}

/// The IDs of all workflows matching `query`.
async fn list_ids(client: &Client, query: &str) -> BTreeSet<String> {
    list(client, query).await.iter().map(|e| e.id().to_owned()).collect()
}

/// All workflows matching `query`.
async fn list(client: &Client, query: &str) -> Vec<ListedExecution> {
    let mut stream = client.list_workflows(query, WorkflowListOptions::default());
    let mut executions = Vec::new();
    while let Some(item) = stream.next().await {
        executions.push(item.unwrap_or_else(|e| panic!("listing `{query}`: {e:?}")));
    }
    executions
}

/// Polls until listing `query` returns exactly `expected` (visibility may lag).
async fn expect_listed(client: &Client, query: &str, expected: &BTreeSet<String>) {
    let mut last = BTreeSet::new();
    let outcome = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            last = list_ids(client, query).await;
            if &last == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(outcome.is_ok(), "ListWorkflowExecutions(`{query}`) returned {last:?}, expected {expected:?}");
}

/// Polls until counting `query` returns `expected` (visibility may lag).
async fn expect_count(client: &Client, query: &str, expected: usize) {
    let mut last = None;
    let outcome = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let count = client
                .count_workflows(query, WorkflowCountOptions::default())
                .await
                .unwrap_or_else(|e| panic!("counting `{query}`: {e:?}"))
                .count();
            last = Some(count);
            if count == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(outcome.is_ok(), "CountWorkflowExecutions(`{query}`) returned {last:?}, expected {expected}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_count_filter_by_type_status_and_id() {
    run_scenario("visibility", |client, tq| async move {
        let mut done = BTreeSet::new();
        for i in 0..3 {
            let id = workflow_id(&format!("visibility-done-{i}"));
            let handle = client
                .start_workflow(
                    ListedDoneWorkflow::run,
                    (),
                    WorkflowStartOptions::new(tq.as_str(), id.as_str()).build(),
                )
                .await
                .expect("starting workflow");
            within("workflow result", handle.get_result(Default::default()))
                .await
                .expect("workflow should succeed");
            done.insert(id);
        }
        let mut open = BTreeSet::new();
        for i in 0..2 {
            let id = workflow_id(&format!("visibility-open-{i}"));
            client
                .start_workflow(
                    ListedOpenWorkflow::run,
                    (),
                    WorkflowStartOptions::new(tq.as_str(), id.as_str()).build(),
                )
                .await
                .expect("starting workflow");
            open.insert(id);
        }
        let all: BTreeSet<String> = done.union(&open).cloned().collect();
        let one_open = open.first().expect("two open workflows").clone();

        expect_listed(&client, "WorkflowType = 'ListedDoneWorkflow'", &done).await;
        expect_listed(&client, "WorkflowType = 'ListedOpenWorkflow'", &open).await;
        expect_listed(&client, "ExecutionStatus = 'Completed'", &done).await;
        expect_listed(&client, "ExecutionStatus = 'Running'", &open).await;
        expect_listed(
            &client,
            "WorkflowType = 'ListedOpenWorkflow' AND ExecutionStatus = 'Completed'",
            &BTreeSet::new(),
        )
        .await;
        expect_listed(&client, &format!("WorkflowId = '{one_open}'"), &BTreeSet::from([one_open.clone()]))
            .await;
        expect_listed(&client, "", &all).await;

        expect_count(&client, "", all.len()).await;
        expect_count(&client, "WorkflowType = 'ListedDoneWorkflow'", done.len()).await;
        expect_count(&client, "ExecutionStatus = 'Running'", open.len()).await;
        expect_count(&client, &format!("WorkflowId = '{one_open}'"), 1).await;

        // The listed executions describe the runs.
        for execution in list(&client, "").await {
            let (expected_type, expected_status, closed) = if done.contains(execution.id()) {
                ("ListedDoneWorkflow", WorkflowExecutionStatus::Completed, true)
            } else {
                ("ListedOpenWorkflow", WorkflowExecutionStatus::Running, false)
            };
            assert_eq!(execution.workflow_type(), expected_type, "type of {}", execution.id());
            assert_eq!(execution.status(), expected_status, "status of {}", execution.id());
            assert_eq!(execution.task_queue(), tq, "task queue of {}", execution.id());
            assert!(!execution.run_id().is_empty(), "run ID of {}", execution.id());
            assert!(execution.start_time().is_some(), "start time of {}", execution.id());
            assert_eq!(
                execution.close_time().is_some(),
                closed,
                "close time of {}: {:?}",
                execution.id(),
                execution.close_time()
            );
        }
    })
    .await;
}

/// Reads a run's history with GetWorkflowExecutionHistory `page_size` events at a time and
/// returns the pages.
async fn history_pages(
    client: &Client,
    execution: &WorkflowExecution,
    page_size: i32,
) -> Vec<Vec<HistoryEvent>> {
    let mut svc = client.clone();
    let mut pages = Vec::new();
    let mut token = Vec::new();
    loop {
        let response = WorkflowService::get_workflow_execution_history(
            &mut svc,
            tonic::Request::new(GetWorkflowExecutionHistoryRequest {
                namespace: NAMESPACE.to_owned(),
                execution: Some(execution.clone()),
                maximum_page_size: page_size,
                next_page_token: token,
                ..Default::default()
            }),
        )
        .await
        .expect("GetWorkflowExecutionHistory")
        .into_inner();
        pages.push(response.history.map(|h| h.events).unwrap_or_default());
        token = response.next_page_token;
        if token.is_empty() {
            return pages;
        }
        assert!(pages.len() < 1000, "history pagination does not end");
    }
}

/// Like [`history_pages`], with GetWorkflowExecutionHistoryReverse.
async fn reverse_history_pages(
    client: &Client,
    execution: &WorkflowExecution,
    page_size: i32,
) -> Vec<Vec<HistoryEvent>> {
    let mut svc = client.clone();
    let mut pages = Vec::new();
    let mut token = Vec::new();
    loop {
        let response = WorkflowService::get_workflow_execution_history_reverse(
            &mut svc,
            tonic::Request::new(GetWorkflowExecutionHistoryReverseRequest {
                namespace: NAMESPACE.to_owned(),
                execution: Some(execution.clone()),
                maximum_page_size: page_size,
                next_page_token: token,
            }),
        )
        .await
        .expect("GetWorkflowExecutionHistoryReverse")
        .into_inner();
        pages.push(response.history.map(|h| h.events).unwrap_or_default());
        token = response.next_page_token;
        if token.is_empty() {
            return pages;
        }
        assert!(pages.len() < 1000, "reverse history pagination does not end");
    }
}

fn event_ids(events: &[HistoryEvent]) -> Vec<i64> {
    events.iter().map(|e| e.event_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_paginated_forwards_and_backwards() {
    let (execution, full, pages, reverse_pages, reverse_all) =
        run_scenario("history-pages", |client, tq| async move {
            let id = workflow_id("history-pages");
            let handle = client
                .start_workflow(
                    ThreeTimersWorkflow::run,
                    (),
                    WorkflowStartOptions::new(tq, id.as_str()).build(),
                )
                .await
                .expect("starting workflow");
            within("workflow result", handle.get_result(Default::default()))
                .await
                .expect("workflow should succeed");
            let full = wait_for_event(&handle, EventType::WorkflowExecutionCompleted).await;
            let execution = WorkflowExecution {
                workflow_id: id,
                run_id: handle.run_id().expect("started run").to_owned(),
            };
            let pages = history_pages(&client, &execution, 2).await;
            let reverse_pages = reverse_history_pages(&client, &execution, 2).await;
            let reverse_all = reverse_history_pages(&client, &execution, 1000).await;
            (execution, full, pages, reverse_pages, reverse_all)
        })
        .await;

    let n = full.len() as i64;
    assert!(n >= 10, "expected a longer history for {execution:?}: {full:?}");
    assert_eq!(event_ids(&full), (1..=n).collect::<Vec<_>>(), "the full history is contiguous from event 1");

    // Forwards, with a page size of two. The real server does not split the batches events were
    // written in, so a page may hold more than two events; pages must still be contiguous and
    // together form the whole history.
    let page_sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    eprintln!("forward page sizes: {page_sizes:?}");
    assert!(
        page_sizes.iter().filter(|&&len| len > 0).count() >= 2,
        "a page size of 2 must split a {n}-event history over several pages: {page_sizes:?}"
    );
    assert!(
        page_sizes[..page_sizes.len() - 1].iter().all(|&len| len > 0),
        "only the last page may be empty: {page_sizes:?}"
    );
    let joined: Vec<HistoryEvent> = pages.into_iter().flatten().collect();
    assert_eq!(event_ids(&joined), event_ids(&full), "the pages together must be the full history, in order");
    assert_eq!(joined, full, "paged events differ from the full history");

    // Backwards: newest first, in one request and in pages of two.
    let mut reversed = full.clone();
    reversed.reverse();
    assert_eq!(reverse_all.len(), 1, "the whole history fits one reverse page");
    let reverse_all: Vec<HistoryEvent> = reverse_all.into_iter().flatten().collect();
    assert_eq!(
        event_ids(&reverse_all),
        event_ids(&reversed),
        "reverse history must list events newest first"
    );
    assert_eq!(reverse_all, reversed, "reverse events differ from the full history");
    let reverse_sizes: Vec<usize> = reverse_pages.iter().map(Vec::len).collect();
    eprintln!("reverse page sizes: {reverse_sizes:?}");
    assert!(
        reverse_sizes.iter().filter(|&&len| len > 0).count() >= 2,
        "a page size of 2 must split a {n}-event history over several reverse pages: \
         {reverse_sizes:?}"
    );
    assert!(
        reverse_sizes[..reverse_sizes.len() - 1].iter().all(|&len| len > 0),
        "only the last reverse page may be empty: {reverse_sizes:?}"
    );
    let reverse_joined: Vec<HistoryEvent> = reverse_pages.into_iter().flatten().collect();
    assert_eq!(
        event_ids(&reverse_joined),
        event_ids(&reversed),
        "the reverse pages together must be the full history, newest first"
    );
}
