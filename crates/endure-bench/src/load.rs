//! One scenario run against one server: the starter, the minimal worker (workflow-task and
//! activity-task pollers), the progress line and the final report.
//!
//! The starter keeps at most `concurrency` top-level workflows in flight (started, not yet
//! closed). A workflow counts as closed when the worker's `RespondWorkflowTaskCompleted` carrying
//! its CompleteWorkflowExecution (or FailWorkflowExecution) command is acknowledged by the server:
//! that is the end of the end-to-end latency. Each run uses a fresh task queue, so leftovers of
//! earlier runs never reach this run's pollers.

use crate::client::{self, Client, json_payloads, task_queue};
use crate::scenario::{Decision, SIGNAL_NAME, Scenario, TaskContext, decide, timer_lateness};
use crate::stats::{Counters, ErrorLog, Latency, ScenarioReport, rate, secs};
use anyhow::Result;
use std::collections::HashMap;
use std::future::Future;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use temporalio_protos::temporal::api::common::v1::{WorkflowExecution, WorkflowType};
use temporalio_protos::temporal::api::enums::v1::{CommandType, EventType, WorkflowExecutionStatus};
use temporalio_protos::temporal::api::workflowservice::v1::{
    DescribeWorkflowExecutionRequest, GetWorkflowExecutionHistoryRequest, PollActivityTaskQueueRequest,
    PollActivityTaskQueueResponse, PollWorkflowTaskQueueRequest, PollWorkflowTaskQueueResponse,
    RespondActivityTaskCompletedRequest, RespondWorkflowTaskCompletedRequest, SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest, TerminateWorkflowExecutionRequest,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tonic::{Code, Status};

/// Client-side deadline of a long poll (servers answer empty after about a minute).
const POLL_TIMEOUT: Duration = Duration::from_secs(70);
/// Deadline of every other RPC.
const RPC_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed poll before polling again.
const POLL_RETRY_PAUSE: Duration = Duration::from_millis(100);
/// Attempts of an RPC failing with a retryable code (as an SDK would retry it).
const RPC_ATTEMPTS: u32 = 4;
/// Most concurrent unary RPCs the starter has on its connection. Thousands at once make the
/// client's HTTP/2 stack buffer thousands of small responses and close the connection
/// (ENHANCE_YOUR_CALM "too_many_data_frames"); an SDK client is bounded the same way.
const MAX_STARTER_RPCS: usize = 64;

/// Codes the Temporal SDKs retry.
fn retryable(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::ResourceExhausted
            | Code::Internal
            | Code::Unknown
            | Code::Aborted
            | Code::DataLoss
            | Code::OutOfRange
    )
}

/// What to run, where, and how hard.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Server address (`host:port` or `http://host:port`).
    pub address: String,
    /// Namespace (must exist).
    pub namespace: String,
    /// The scenario.
    pub scenario: Scenario,
    /// Stop starting after this many workflows (`None`: only `duration` limits the run).
    pub workflows: Option<u64>,
    /// Most top-level workflows in flight at once.
    pub concurrency: usize,
    /// Workflow-task pollers.
    pub pollers: usize,
    /// Activity-task pollers (used only by scenarios with activities).
    pub activity_pollers: usize,
    /// Stop starting after this long (`None`: only `workflows` limits the run).
    pub duration: Option<Duration>,
    /// After the last start, how long to wait for in-flight workflows to close.
    pub drain_timeout: Duration,
    /// After the run, check with DescribeWorkflowExecution that every completed workflow is
    /// COMPLETED on the server (untimed).
    pub verify: bool,
    /// Print a progress line to stderr every second.
    pub progress: bool,
    /// Length of the `timer` scenario's timer.
    pub timer: Duration,
    /// Leave every workflow open: it counts as done (latency, slot) once the worker's
    /// StartTimer is acknowledged, and its timer is left pending (`timer` scenario only).
    pub hold_open: bool,
}

/// A top-level workflow between its start and its close.
struct InFlight {
    since: Instant,
    /// Frees an in-flight slot for the starter when dropped.
    _permit: OwnedSemaphorePermit,
}

/// State shared by the starter, the pollers and the progress printer.
struct Shared {
    scenario: Scenario,
    namespace: String,
    task_queue: String,
    identity: String,
    t0: Instant,
    counters: Counters,
    errors: ErrorLog,
    inflight: Mutex<HashMap<String, InFlight>>,
    latencies_us: Mutex<Vec<u64>>,
    /// (workflow id, run id) of every started top-level run.
    started_runs: Mutex<Vec<(String, String)>>,
    /// Workflow ids of top-level runs that completed.
    completed_ids: Mutex<Vec<String>>,
    last_close: Mutex<Option<Instant>>,
    /// Timer length and hold-open mode (see [`LoadOptions`]).
    timer: Duration,
    hold_open: bool,
    /// When the worker's StartTimer was acknowledged, by workflow id (`timer` scenario).
    timer_acked: Mutex<HashMap<String, Instant>>,
    /// Timer lateness by the server's event times, µs.
    timer_lateness_us: Mutex<Vec<u64>>,
    /// Timer lateness seen by the worker, µs: the fired-timer task's arrival − the StartTimer
    /// acknowledgement − the timer length.
    timer_seen_us: Mutex<Vec<u64>>,
}

impl Shared {
    /// Records a failed RPC.
    fn rpc_error(&self, operation: &str, status: &Status) {
        Counters::bump(&self.counters.errors);
        self.errors.record(format!("{operation}: {:?}", status.code()), status.message().to_owned());
    }

    /// A top-level run closed (the worker's completion was acknowledged): record its latency and
    /// free its slot. Children and unknown ids are ignored.
    fn close(&self, workflow_id: &str, completed: bool) {
        let Some(entry) = self.inflight.lock().unwrap().remove(workflow_id) else { return };
        let now = Instant::now();
        self.latencies_us.lock().unwrap().push((now - entry.since).as_micros() as u64);
        *self.last_close.lock().unwrap() = Some(now);
        if completed {
            Counters::bump(&self.counters.completed);
            self.completed_ids.lock().unwrap().push(workflow_id.to_owned());
        } else {
            Counters::bump(&self.counters.failed);
        }
    }

    /// Forgets a run that will never close normally (its start or signal failed).
    fn abandon(&self, workflow_id: &str) {
        self.inflight.lock().unwrap().remove(workflow_id);
    }

    /// Calls `rpc` with `message` until it succeeds, fails with a code that is not retryable or
    /// has failed [`RPC_ATTEMPTS`] times. Every failed attempt is recorded as an error.
    async fn call<T, R, F, Fut>(
        &self,
        operation: &str,
        client: &Client,
        message: T,
        rpc: F,
    ) -> Result<R, Status>
    where
        T: Clone,
        F: Fn(Client, tonic::Request<T>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, Status>>,
    {
        let mut pause = Duration::from_millis(50);
        let mut attempt = 1;
        loop {
            match rpc(client.clone(), self.request(message.clone(), RPC_TIMEOUT)).await {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) => {
                    self.rpc_error(operation, &status);
                    if attempt >= RPC_ATTEMPTS || !retryable(&status) {
                        return Err(status);
                    }
                }
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
            attempt += 1;
        }
    }

    fn inflight_len(&self) -> usize {
        self.inflight.lock().unwrap().len()
    }

    fn request<T>(&self, message: T, timeout: Duration) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(timeout);
        request
    }
}

/// Runs one scenario to the end (timed part, then the untimed checks) and reports.
pub async fn run(opts: &LoadOptions) -> Result<ScenarioReport> {
    Ok(run_timed(opts).await?.finish().await)
}

/// A scenario whose timed part is over; [`TimedRun::finish`] verifies, cleans up and reports.
pub struct TimedRun {
    opts: LoadOptions,
    shared: Arc<Shared>,
    client: Client,
    unfinished: u64,
    wall: Duration,
}

/// Runs the timed part of one scenario: start everything, wait for it to close, stop the worker.
pub async fn run_timed(opts: &LoadOptions) -> Result<TimedRun> {
    anyhow::ensure!(opts.concurrency > 0, "concurrency must be at least 1");
    anyhow::ensure!(opts.pollers > 0, "pollers must be at least 1");
    anyhow::ensure!(
        opts.workflows.is_some() || opts.duration.is_some(),
        "give a workflow count, a duration or both"
    );
    // Separate connections for the starter and the two kinds of pollers, as an SDK starter
    // process and worker process would have.
    let starter_client = client::connect(&opts.address).await?;
    let wf_client = client::connect(&opts.address).await?;
    let act_client = client::connect(&opts.address).await?;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let shared = Arc::new(Shared {
        scenario: opts.scenario,
        namespace: opts.namespace.clone(),
        task_queue: format!("bench-{}-{}", opts.scenario.name(), &suffix[..12]),
        identity: client::identity(),
        t0: Instant::now(),
        counters: Counters::default(),
        errors: ErrorLog::default(),
        inflight: Mutex::new(HashMap::new()),
        latencies_us: Mutex::new(Vec::new()),
        started_runs: Mutex::new(Vec::new()),
        completed_ids: Mutex::new(Vec::new()),
        last_close: Mutex::new(None),
        timer: opts.timer,
        hold_open: opts.hold_open && opts.scenario == Scenario::Timer,
        timer_acked: Mutex::new(HashMap::new()),
        timer_lateness_us: Mutex::new(Vec::new()),
        timer_seen_us: Mutex::new(Vec::new()),
    });
    let mut workers = JoinSet::new();
    if opts.scenario.needs_worker() {
        for _ in 0..opts.pollers {
            workers.spawn(workflow_poller(shared.clone(), wf_client.clone()));
        }
        if opts.scenario.uses_activities() {
            for _ in 0..opts.activity_pollers.max(1) {
                workers.spawn(activity_poller(shared.clone(), act_client.clone()));
            }
        }
    }
    let progress = opts.progress.then(|| tokio::spawn(progress_printer(shared.clone())));

    starter(shared.clone(), starter_client.clone(), opts.clone()).await;
    let drain_deadline = Instant::now() + opts.drain_timeout;
    while shared.inflight_len() > 0 && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let end = Instant::now();
    workers.abort_all();
    if let Some(progress) = progress {
        progress.abort();
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
    }
    let unfinished = {
        let mut inflight = shared.inflight.lock().unwrap();
        let n = inflight.len() as u64;
        inflight.clear();
        n
    };
    if unfinished > 0 {
        shared.errors.record(
            "workflow not closed".to_owned(),
            format!("{unfinished} run(s) still open after the {:?} drain timeout", opts.drain_timeout),
        );
    }
    let wall = (shared.last_close.lock().unwrap().unwrap_or(end) - shared.t0).max(Duration::from_micros(1));
    Ok(TimedRun { opts: opts.clone(), shared, client: starter_client, unfinished, wall })
}

impl TimedRun {
    /// Verifies (with `--verify`), terminates what `start-only` left open, and reports.
    pub async fn finish(self) -> ScenarioReport {
        let TimedRun { opts, shared, client: starter_client, unfinished, wall } = self;
        finish(&opts, shared, starter_client, unfinished, wall).await
    }
}

async fn finish(
    opts: &LoadOptions,
    shared: Arc<Shared>,
    starter_client: Client,
    unfinished: u64,
    wall: Duration,
) -> ScenarioReport {
    let mut verify_failures = 0;
    if opts.verify && opts.scenario.needs_worker() {
        let ids = shared.completed_ids.lock().unwrap().clone();
        verify_failures = verify(&shared, &starter_client, ids, opts.concurrency.min(MAX_STARTER_RPCS)).await;
    }
    if opts.scenario == Scenario::StartOnly {
        let runs = shared.started_runs.lock().unwrap().clone();
        terminate_all(&shared, &starter_client, runs, opts.concurrency.min(MAX_STARTER_RPCS)).await;
    }

    let c = &shared.counters;
    let completed = Counters::get(&c.completed);
    let failed = Counters::get(&c.failed);
    let events = Counters::get(&c.events);
    let workflow_tasks = Counters::get(&c.workflow_tasks);
    let wall_s = secs(wall);
    let latencies = std::mem::take(&mut *shared.latencies_us.lock().unwrap());
    let timers = opts.scenario == Scenario::Timer && !shared.hold_open;
    let timer_lateness =
        timers.then(|| Latency::from_micros(std::mem::take(&mut *shared.timer_lateness_us.lock().unwrap())));
    let timer_lateness_seen =
        timers.then(|| Latency::from_micros(std::mem::take(&mut *shared.timer_seen_us.lock().unwrap())));
    ScenarioReport {
        scenario: opts.scenario.name().to_owned(),
        address: opts.address.clone(),
        task_queue: shared.task_queue.clone(),
        workflows_requested: opts.workflows,
        concurrency: opts.concurrency,
        pollers: opts.pollers,
        started: Counters::get(&c.started),
        completed,
        failed,
        unfinished,
        verify_failures,
        errors: Counters::get(&c.errors) + failed + unfinished + verify_failures,
        error_kinds: shared.errors.snapshot(),
        wall_seconds: wall_s,
        workflows_per_sec: rate(completed, wall_s),
        events,
        events_per_sec: rate(events, wall_s),
        workflow_tasks,
        workflow_tasks_per_sec: rate(workflow_tasks, wall_s),
        activity_tasks: Counters::get(&c.activity_tasks),
        workflow_task_timeouts: Counters::get(&c.workflow_task_timeouts),
        latency_measures: if opts.scenario == Scenario::StartOnly {
            "StartWorkflowExecution round trip".to_owned()
        } else if shared.hold_open {
            "start request sent → the worker's StartTimer acknowledged (the run stays open)".to_owned()
        } else {
            "start request sent → the worker's closing RespondWorkflowTaskCompleted acknowledged".to_owned()
        },
        latency: Latency::from_micros(latencies),
        timer_lateness,
        timer_lateness_seen,
    }
}

/// Checks that every id in `ids` is COMPLETED on the server; returns how many are not.
async fn verify(shared: &Arc<Shared>, client: &Client, ids: Vec<String>, limit: usize) -> u64 {
    let bad = Arc::new(AtomicU64::new(0));
    for_each_limited(ids, limit, |workflow_id| {
        let (shared, client, bad) = (shared.clone(), client.clone(), bad.clone());
        async move {
            // Every field is set today; the update keeps this compiling when the protos grow.
            #[allow(clippy::needless_update)]
            let request = DescribeWorkflowExecutionRequest {
                namespace: shared.namespace.clone(),
                execution: Some(WorkflowExecution {
                    workflow_id: workflow_id.clone(),
                    run_id: String::new(),
                }),
                ..Default::default()
            };
            let described = shared
                .call("verify_describe", &client, request, |mut c, r| async move {
                    c.describe_workflow_execution(r).await
                })
                .await;
            let status = match described {
                Ok(r) => r.workflow_execution_info.map(|i| i.status).unwrap_or_default(),
                Err(_) => {
                    bad.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            if status != WorkflowExecutionStatus::Completed as i32 {
                let name = WorkflowExecutionStatus::try_from(status)
                    .map(|s| s.as_str_name().to_owned())
                    .unwrap_or_else(|_| status.to_string());
                shared.errors.record("verify: not COMPLETED".to_owned(), format!("{workflow_id} is {name}"));
                bad.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
    .await;
    bad.load(Ordering::Relaxed)
}

/// Terminates the runs `start-only` left open (after the timed part).
async fn terminate_all(shared: &Arc<Shared>, client: &Client, runs: Vec<(String, String)>, limit: usize) {
    for_each_limited(runs, limit, |(workflow_id, run_id)| {
        let (shared, client) = (shared.clone(), client.clone());
        async move {
            let request = TerminateWorkflowExecutionRequest {
                namespace: shared.namespace.clone(),
                workflow_execution: Some(WorkflowExecution { workflow_id, run_id }),
                reason: "endure-bench start-only cleanup".to_owned(),
                identity: shared.identity.clone(),
                ..Default::default()
            };
            let _ = shared
                .call("cleanup_terminate", &client, request, |mut c, r| async move {
                    c.terminate_workflow_execution(r).await
                })
                .await;
        }
    })
    .await;
}

/// Keeps starting workflows until the count or the duration is reached, at most `concurrency`
/// in flight.
async fn starter(shared: Arc<Shared>, client: Client, opts: LoadOptions) {
    let slots = Arc::new(Semaphore::new(opts.concurrency));
    let rpcs = Arc::new(Semaphore::new(MAX_STARTER_RPCS));
    let deadline = opts.duration.map(|d| shared.t0 + d);
    let mut starts = JoinSet::new();
    let mut i: u64 = 0;
    loop {
        if opts.workflows.is_some_and(|n| i >= n) {
            break;
        }
        let permit = match deadline {
            Some(deadline) => tokio::select! {
                permit = slots.clone().acquire_owned() => permit,
                _ = tokio::time::sleep_until(deadline) => break,
            },
            None => slots.clone().acquire_owned().await,
        };
        let permit = permit.expect("the semaphore is never closed");
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let workflow_id = format!("{}-{i}", shared.task_queue);
        i += 1;
        starts.spawn(start_one(shared.clone(), client.clone(), workflow_id, permit, rpcs.clone()));
        while starts.try_join_next().is_some() {}
    }
    while starts.join_next().await.is_some() {}
}

/// Starts one workflow (and for `signal`, signals it).
async fn start_one(
    shared: Arc<Shared>,
    client: Client,
    workflow_id: String,
    permit: OwnedSemaphorePermit,
    rpcs: Arc<Semaphore>,
) {
    let _rpc = rpcs.acquire_owned().await.expect("the semaphore is never closed");
    let since = Instant::now();
    shared.inflight.lock().unwrap().insert(workflow_id.clone(), InFlight { since, _permit: permit });
    let request = StartWorkflowExecutionRequest {
        namespace: shared.namespace.clone(),
        workflow_id: workflow_id.clone(),
        workflow_type: Some(WorkflowType { name: shared.scenario.workflow_type().to_owned() }),
        task_queue: Some(task_queue(&shared.task_queue)),
        input: Some(json_payloads(&workflow_id)),
        identity: shared.identity.clone(),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    let started = shared
        .call("start", &client, request, |mut c, r| async move { c.start_workflow_execution(r).await })
        .await;
    let run_id = match started {
        Ok(response) => response.run_id,
        Err(_) => {
            shared.abandon(&workflow_id);
            return;
        }
    };
    Counters::bump(&shared.counters.started);
    shared.started_runs.lock().unwrap().push((workflow_id.clone(), run_id.clone()));
    match shared.scenario {
        Scenario::StartOnly => {
            // WorkflowExecutionStarted + WorkflowTaskScheduled.
            shared.counters.events.fetch_add(2, Ordering::Relaxed);
            shared.close(&workflow_id, true);
        }
        Scenario::Signal => {
            let request = SignalWorkflowExecutionRequest {
                namespace: shared.namespace.clone(),
                workflow_execution: Some(WorkflowExecution { workflow_id: workflow_id.clone(), run_id }),
                signal_name: SIGNAL_NAME.to_owned(),
                input: Some(json_payloads("go")),
                identity: shared.identity.clone(),
                request_id: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            };
            let signalled =
                shared
                    .call("signal", &client, request, |mut c, r| async move {
                        c.signal_workflow_execution(r).await
                    })
                    .await;
            if signalled.is_err() {
                shared.abandon(&workflow_id);
            }
        }
        _ => {}
    }
}

/// Whether a poll error is just the long poll ending.
fn is_poll_timeout(status: &Status) -> bool {
    matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled)
}

/// Polls workflow tasks forever (aborted when the run ends).
async fn workflow_poller(shared: Arc<Shared>, mut client: Client) {
    loop {
        let request = PollWorkflowTaskQueueRequest {
            namespace: shared.namespace.clone(),
            task_queue: Some(task_queue(&shared.task_queue)),
            identity: shared.identity.clone(),
            ..Default::default()
        };
        match client.poll_workflow_task_queue(shared.request(request, POLL_TIMEOUT)).await {
            Ok(response) => {
                let task = response.into_inner();
                if !task.task_token.is_empty() {
                    handle_workflow_task(&shared, &mut client, task).await;
                }
            }
            Err(status) if is_poll_timeout(&status) => {}
            Err(status) => {
                shared.rpc_error("poll_workflow_task", &status);
                tokio::time::sleep(POLL_RETRY_PAUSE).await;
            }
        }
    }
}

/// Decides and completes one workflow task.
async fn handle_workflow_task(shared: &Shared, client: &mut Client, task: PollWorkflowTaskQueueResponse) {
    let received = Instant::now();
    let execution = task.workflow_execution.clone().unwrap_or_default();
    let mut history = task.history.map(|h| h.events).unwrap_or_default();
    let mut page = task.next_page_token;
    while !page.is_empty() {
        let request = GetWorkflowExecutionHistoryRequest {
            namespace: shared.namespace.clone(),
            execution: Some(execution.clone()),
            next_page_token: page,
            ..Default::default()
        };
        let page_response = shared
            .call("get_history_page", client, request, |mut c, r| async move {
                c.get_workflow_execution_history(r).await
            })
            .await;
        match page_response {
            Ok(response) => {
                history.extend(response.history.map(|h| h.events).unwrap_or_default());
                page = response.next_page_token;
            }
            // The task times out and comes back; nothing else to do.
            Err(_) => return,
        }
    }
    let workflow_type = task.workflow_type.map(|t| t.name).unwrap_or_default();
    let Decision { commands, closes, failure } = decide(&TaskContext {
        workflow_type: &workflow_type,
        workflow_id: &execution.workflow_id,
        task_queue: &shared.task_queue,
        events: &history,
        timer: shared.timer,
    });
    let starts_timer = commands.iter().any(|c| c.command_type == CommandType::StartTimer as i32);
    let last_event_id = history.last().map(|e| e.event_id).unwrap_or(task.started_event_id);
    let request = RespondWorkflowTaskCompletedRequest {
        namespace: shared.namespace.clone(),
        task_token: task.task_token,
        commands,
        identity: shared.identity.clone(),
        ..Default::default()
    };
    let responded = shared
        .call("respond_workflow_task", client, request, |mut c, r| async move {
            c.respond_workflow_task_completed(r).await
        })
        .await;
    // A failure is recorded by `call`; the task then times out and comes back.
    if responded.is_ok() {
        Counters::bump(&shared.counters.workflow_tasks);
        if starts_timer && shared.hold_open {
            // WorkflowTaskCompleted and TimerStarted follow the task's history.
            let events = u64::try_from(last_event_id).unwrap_or(0) + 2;
            shared.counters.events.fetch_add(events, Ordering::Relaxed);
            shared.close(&execution.workflow_id, true);
        } else if starts_timer {
            shared.timer_acked.lock().unwrap().insert(execution.workflow_id.clone(), Instant::now());
        }
        if closes && shared.scenario == Scenario::Timer {
            if let Some(late) = timer_lateness(&history) {
                shared.timer_lateness_us.lock().unwrap().push(late.as_micros() as u64);
            }
            if let Some(acked) = shared.timer_acked.lock().unwrap().remove(&execution.workflow_id) {
                let seen = received.saturating_duration_since(acked).saturating_sub(shared.timer);
                shared.timer_seen_us.lock().unwrap().push(seen.as_micros() as u64);
            }
        }
        if closes {
            let timeouts = history.iter().filter(|e| e.event_type == EventType::WorkflowTaskTimedOut as i32);
            shared.counters.workflow_task_timeouts.fetch_add(timeouts.count() as u64, Ordering::Relaxed);
            // The closing task adds WorkflowTaskCompleted and the close event.
            let events = u64::try_from(last_event_id).unwrap_or(0) + 2;
            shared.counters.events.fetch_add(events, Ordering::Relaxed);
            if let Some(reason) = &failure {
                shared.errors.record("workflow failed by the worker".to_owned(), reason.clone());
            }
            shared.close(&execution.workflow_id, failure.is_none());
        }
    }
}

/// Polls activity tasks forever and completes each at once, echoing its input.
async fn activity_poller(shared: Arc<Shared>, mut client: Client) {
    loop {
        let request = PollActivityTaskQueueRequest {
            namespace: shared.namespace.clone(),
            task_queue: Some(task_queue(&shared.task_queue)),
            identity: shared.identity.clone(),
            ..Default::default()
        };
        let task: PollActivityTaskQueueResponse =
            match client.poll_activity_task_queue(shared.request(request, POLL_TIMEOUT)).await {
                Ok(response) => response.into_inner(),
                Err(status) if is_poll_timeout(&status) => continue,
                Err(status) => {
                    shared.rpc_error("poll_activity_task", &status);
                    tokio::time::sleep(POLL_RETRY_PAUSE).await;
                    continue;
                }
            };
        if task.task_token.is_empty() {
            continue;
        }
        let request = RespondActivityTaskCompletedRequest {
            namespace: shared.namespace.clone(),
            task_token: task.task_token,
            result: task.input,
            identity: shared.identity.clone(),
            ..Default::default()
        };
        let responded = shared
            .call("respond_activity_task", &client, request, |mut c, r| async move {
                c.respond_activity_task_completed(r).await
            })
            .await;
        if responded.is_ok() {
            Counters::bump(&shared.counters.activity_tasks);
        }
    }
}

/// Prints one progress line a second to stderr (in place on a terminal).
async fn progress_printer(shared: Arc<Shared>) {
    let tty = std::io::stderr().is_terminal();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut last_completed = 0;
    loop {
        ticker.tick().await;
        let c = &shared.counters;
        let completed = Counters::get(&c.completed);
        let line = format!(
            "[{}] {:>4.0}s  started {}  closed {}  in flight {}  errors {}  {} wf/s",
            shared.scenario,
            secs(shared.t0.elapsed()),
            Counters::get(&c.started),
            completed + Counters::get(&c.failed),
            shared.inflight_len(),
            Counters::get(&c.errors) + Counters::get(&c.failed),
            completed - last_completed,
        );
        last_completed = completed;
        if tty {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
    }
}

/// Runs `f` over `items`, at most `limit` at a time.
async fn for_each_limited<T, F, Fut>(items: Vec<T>, limit: usize, f: F)
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut set = JoinSet::new();
    for item in items {
        if set.len() >= limit.max(1) {
            set.join_next().await;
        }
        set.spawn(f(item));
    }
    while set.join_next().await.is_some() {}
}
