//! The driver: applies steps to runs the way the server does and writes a transcript.
//!
//! A [`Spec`] holds every run a case created (the first run, successors, children) and a clock.
//! Each step opens a [`Txn`] on one run at the current time, calls the core, and keeps what the
//! server would commit: on success the events are appended to the run's history and the tasks to
//! its outbox (a successor run is added to the runs); on error the state is put back, as the
//! server drops a failed transition. Time and ids are explicit: the clock moves only with
//! [`Spec::at`] and [`Spec::run_timers_until`], run ids are `run-1`, `run-2`, … in order of
//! creation, poll request ids `poll-1`, `poll-2`, …, the worker is `worker` and the client
//! `client`.
//!
//! The transcript has one line per step (`@t+2s complete wft [StartTimer t1 5s]`), followed by
//! what it produced:
//! - `  -> …` what the call returned, when it says something (a started task, an outcome);
//! - `  ! …` the error, when the call failed (nothing is kept);
//! - `  + …` one line per history event appended (id, type, attributes that matter);
//! - `  > …` one line per task put in the outbox (`@t+…` for timer tasks);
//! - `  = …` the run's state facts, printed only when they changed.
//!
//! A step with none of these ends its line with `(no change)`. Every step also checks
//! invariants: event ids follow the history without gaps, `next_event_id` is one past the last
//! event, and the state survives the JSON round trip the store uses.
#![allow(deprecated)] // `namespace` and `control` are deprecated in the API but still carried.

use crate::render::{self, T0};
use endure_core::CoreError;
use endure_core::api::command::v1::Command;
use endure_core::api::common::v1::{WorkflowExecution, WorkflowType};
use endure_core::api::enums::v1::{
    CancelExternalWorkflowExecutionFailedCause, ParentClosePolicy,
    SignalExternalWorkflowExecutionFailedCause, StartChildWorkflowExecutionFailedCause, TimeoutType,
    WorkflowTaskFailedCause,
};
use endure_core::api::failure::v1::Failure;
use endure_core::api::history::v1::HistoryEvent;
use endure_core::api::protocol::v1::Message;
use endure_core::commands::{CompletionOutcome, WorkflowTaskCompletion};
use endure_core::state::{MutableState, ParentInfo};
use endure_core::task::Task;
use endure_core::time::{self, Nanos, SECOND};
use endure_core::transition::{Poller, StartRun, StartedWorkflowTask, Txn};
use endure_core::updates::{Admission, UpdateChanges};
use prost::Message as _;

/// One run of a case: its state, its written history and the tasks not yet consumed.
pub struct Run {
    /// Mutable state as last committed.
    pub ms: MutableState,
    /// Every event written to history, in order.
    pub history: Vec<HistoryEvent>,
    /// Tasks produced and not yet fired or consumed.
    pub outbox: Vec<Task>,
    /// The state line last printed for this run.
    shown: String,
}

impl Run {
    fn label(&self) -> String {
        format!("{}/{}", self.ms.workflow_id, self.ms.run_id)
    }
}

/// A case in progress: its runs, its clock and its transcript.
pub struct Spec {
    out: String,
    now: Nanos,
    runs: Vec<Run>,
    focus: usize,
    polls: usize,
}

/// What one transition produced, before it is recorded.
struct Produced {
    events: Vec<HistoryEvent>,
    tasks: Vec<Task>,
    new_run: Option<(MutableState, Vec<HistoryEvent>, Vec<Task>)>,
}

/// The default start request: workflow `wf` of type `Greet` on queue `q`, input `"hi"`.
pub fn start_request() -> StartRun {
    StartRun {
        namespace_id: "ns".into(),
        workflow_id: "wf".into(),
        run_id: "run-1".into(),
        workflow_type: WorkflowType { name: "Greet".into() },
        task_queue: "q".into(),
        input: crate::cmd::payload("hi"),
        identity: "client".into(),
        request_id: "start-1".into(),
        ..Default::default()
    }
}

impl Spec {
    /// An empty case; the clock stands at [`T0`].
    pub fn new() -> Self {
        Spec { out: String::new(), now: T0, runs: vec![], focus: 0, polls: 0 }
    }

    /// The transcript so far.
    pub fn transcript(&self) -> &str {
        &self.out
    }

    /// The focused run.
    pub fn run(&self) -> &Run {
        &self.runs[self.focus]
    }

    /// The focused run's state.
    pub fn ms(&self) -> &MutableState {
        &self.runs[self.focus].ms
    }

    fn line(&mut self, s: impl AsRef<str>) {
        self.out.push_str(s.as_ref());
        self.out.push('\n');
    }

    fn next_run_id(&self) -> String {
        format!("run-{}", self.runs.len() + 1)
    }

    // ------------------------------------------------------------------ clock

    /// Moves the clock to `secs` seconds after [`T0`]. Timer tasks due before then fire first
    /// (see [`Spec::run_timers_until`]); those due exactly then do not, so a step at that time
    /// races them and wins.
    pub fn at(&mut self, secs: i64) -> &mut Self {
        self.at_ms(secs * 1000)
    }

    /// [`Spec::at`] with milliseconds.
    pub fn at_ms(&mut self, ms: i64) -> &mut Self {
        let t = T0 + ms * 1_000_000;
        assert!(t >= self.now, "the clock never goes back");
        self.fire_due(|fire_at| fire_at < t);
        self.now = t;
        self
    }

    /// Lets time pass up to `secs` after [`T0`]: every timer task of every run that is due by
    /// then fires, earliest first, each at its own fire time, as the server's timer queue does
    /// (stale ones included: the core ignores them). Cross-workflow tasks are not fired here:
    /// cases deliver their outcomes with the child and external steps.
    pub fn run_timers_until(&mut self, secs: i64) -> &mut Self {
        let until = T0 + secs * SECOND;
        assert!(until >= self.now, "the clock never goes back");
        self.fire_due(|fire_at| fire_at <= until);
        self.now = until;
        self
    }

    /// Fires, earliest first, every timer task whose fire time passes `due`.
    fn fire_due(&mut self, due: impl Fn(Nanos) -> bool) {
        loop {
            let next = self
                .runs
                .iter()
                .enumerate()
                .flat_map(|(r, run)| run.outbox.iter().enumerate().map(move |(i, t)| (r, i, t)))
                .filter(|(_, _, t)| is_own_timer(t) && t.fire_at().is_some_and(&due))
                .min_by_key(|(r, i, t)| (t.fire_at(), *r, *i))
                .map(|(r, i, _)| (r, i));
            let Some((r, i)) = next else { break };
            let task = self.runs[r].outbox.remove(i);
            self.now = self.now.max(task.fire_at().unwrap_or(self.now));
            let focus = std::mem::replace(&mut self.focus, r);
            self.fire(task);
            self.focus = focus;
        }
    }

    /// Applies one timer task to the focused run as the server's timer loop does.
    fn fire(&mut self, task: Task) {
        let label = format!("fire {}", render::task_kind(&task));
        let _ = self.step(
            label,
            |x| match task {
                Task::UserTimer { timer_id, started_event_id, .. } => {
                    x.timer_fired(&timer_id, started_event_id)
                }
                Task::ActivityTimeout { scheduled_event_id, attempt, timeout_type, .. } => {
                    let tt = TimeoutType::try_from(timeout_type).unwrap_or(TimeoutType::Unspecified);
                    x.activity_timeout_fired(scheduled_event_id, attempt, tt)
                }
                Task::ActivityRetry { scheduled_event_id, attempt, .. } => {
                    x.activity_retry_fired(scheduled_event_id, attempt)
                }
                Task::WorkflowTaskTimeout { stamp, timeout_type, .. } => {
                    let tt = TimeoutType::try_from(timeout_type).unwrap_or(TimeoutType::StartToClose);
                    x.workflow_task_timed_out(stamp, tt)
                }
                Task::WorkflowBackoff { .. } => x.workflow_backoff_fired(),
                Task::WorkflowRunTimeout { .. } => x.workflow_timed_out(false),
                Task::WorkflowExecutionTimeout { .. } => x.workflow_timed_out(true),
                other => panic!("not a timer of the run itself: {other:?}"),
            },
            |_| None,
        );
    }

    // --------------------------------------------------------------- stepping

    /// Runs one transition on the focused run and records it. `show` renders the returned
    /// value when it is worth a line.
    fn step<R>(
        &mut self,
        label: impl Into<String>,
        f: impl FnOnce(&mut Txn<'_>) -> Result<R, CoreError>,
        show: impl FnOnce(&R) -> Option<String>,
    ) -> Option<R> {
        let label = label.into();
        let prefix = if self.runs.len() > 1 { format!("[{}] ", self.run().label()) } else { String::new() };
        let header = format!("@{} {prefix}{label}", render::at(self.now));
        let next_run_id = self.next_run_id();
        let run = &mut self.runs[self.focus];
        let before = run.ms.clone();
        let mut txn = Txn::new(&mut run.ms, self.now);
        txn.next_run_id = next_run_id;
        let result = f(&mut txn);
        let produced = Produced {
            events: std::mem::take(&mut txn.events),
            tasks: std::mem::take(&mut txn.tasks),
            new_run: txn.new_run.take().map(|n| (n.ms, n.events, n.tasks)),
        };
        drop(txn);
        let mut lines = vec![];
        let value = match result {
            Err(e) => {
                run.ms = before;
                lines.push(format!("  ! {e:?}"));
                None
            }
            Ok(v) => {
                if let Some(s) = show(&v) {
                    lines.push(format!("  -> {s}"));
                }
                lines.extend(self.record(self.focus, produced.events, produced.tasks, "  "));
                if let Some((ms, events, tasks)) = produced.new_run {
                    lines.extend(self.add_run(ms, events, tasks));
                }
                Some(v)
            }
        };
        if lines.is_empty() {
            self.line(format!("{header} (no change)"));
        } else {
            self.line(header);
            for l in lines {
                self.line(l);
            }
        }
        value
    }

    /// Keeps what a transition of run `r` produced and renders it; checks the invariants.
    fn record(&mut self, r: usize, events: Vec<HistoryEvent>, tasks: Vec<Task>, indent: &str) -> Vec<String> {
        let run = &mut self.runs[r];
        let mut lines = vec![];
        for e in events {
            assert_eq!(
                e.event_id,
                run.history.len() as i64 + 1,
                "event ids follow the history without gaps: {}",
                render::event(&e)
            );
            lines.push(format!("{indent}+ {}", render::event(&e)));
            run.history.push(e);
        }
        assert_eq!(
            run.ms.next_event_id,
            run.history.len() as i64 + 1,
            "next_event_id is one past the history"
        );
        for t in tasks {
            lines.push(format!("{indent}> {}", render::task(&t)));
            run.outbox.push(t);
        }
        // The outbox invariant the server's outbox check relies on: whatever the state says is
        // waiting for a worker was put in the outbox by some transition (the driver's outbox
        // keeps dispatch tasks after they were taken, so it holds every one ever written).
        for t in endure_core::task::pending_dispatch(&run.ms) {
            assert!(
                run.outbox.contains(&t),
                "the state waits for {} but no transition put it in the outbox",
                render::task(&t)
            );
        }
        let json = serde_json::to_vec(&run.ms).expect("state serializes");
        let back: MutableState = serde_json::from_slice(&json).expect("state deserializes");
        assert_eq!(serde_json::to_vec(&back).unwrap(), json, "state survives the JSON round trip");
        let shown = render::state(&run.ms);
        if shown != run.shown {
            lines.push(format!("{indent}= {shown}"));
            run.shown = shown;
        }
        lines
    }

    /// Adds a run created by a transition (a successor, a child, a reset) and renders it.
    fn add_run(&mut self, ms: MutableState, events: Vec<HistoryEvent>, tasks: Vec<Task>) -> Vec<String> {
        let run = Run { ms, history: vec![], outbox: vec![], shown: String::new() };
        let mut lines = vec![format!("  new run {}:", run.label())];
        self.runs.push(run);
        lines.extend(self.record(self.runs.len() - 1, events, tasks, "    "));
        lines
    }

    /// Focuses later steps on the run with id `run_id`.
    pub fn focus(&mut self, run_id: &str) -> &mut Self {
        self.focus = self.index_of(run_id);
        self
    }

    fn index_of(&self, run_id: &str) -> usize {
        self.runs.iter().position(|r| r.ms.run_id == run_id).unwrap_or_else(|| panic!("no run {run_id}"))
    }

    // ------------------------------------------------------------------ start

    /// Starts the first run with the default request adjusted by `f` (`Txn::start`).
    pub fn start(&mut self, f: impl FnOnce(&mut StartRun)) -> &mut Self {
        let mut req = start_request();
        req.run_id = self.next_run_id();
        f(&mut req);
        self.start_run(req)
    }

    fn start_run(&mut self, req: StartRun) -> &mut Self {
        let header = format!(
            "@{} start {}/{} {}",
            render::at(self.now),
            req.workflow_id,
            req.run_id,
            render::start_request(&req)
        );
        let mut ms = MutableState::default();
        let txn = Txn::start(&mut ms, self.now, req);
        let (events, tasks) = (txn.events, txn.tasks);
        self.line(header);
        self.runs.push(Run { ms, history: vec![], outbox: vec![], shown: String::new() });
        self.focus = self.runs.len() - 1;
        for l in self.record(self.focus, events, tasks, "  ") {
            self.line(l);
        }
        self
    }

    // --------------------------------------------------------- workflow tasks

    fn wft_stamp(&self) -> i64 {
        self.ms().workflow_task.as_ref().map(|w| w.stamp).unwrap_or(0)
    }

    /// A worker polls the outstanding workflow task (`start_workflow_task`).
    pub fn poll_wft(&mut self) -> Option<StartedWorkflowTask> {
        let stamp = self.wft_stamp();
        self.poll_wft_stamp(stamp)
    }

    /// A worker polls a workflow task dispatched with `stamp` (stale stamps are refused).
    pub fn poll_wft_stamp(&mut self, stamp: i64) -> Option<StartedWorkflowTask> {
        self.polls += 1;
        let req = format!("poll-{}", self.polls);
        self.step(
            format!("poll wft stamp={stamp}"),
            |x| x.start_workflow_task(stamp, &req, &Poller::identity("worker")),
            |s| Some(started_wft(s)),
        )
    }

    /// The worker completes the started workflow task with `commands`.
    pub fn complete_wft(&mut self, commands: Vec<Command>) -> Option<CompletionOutcome> {
        self.complete_wft_with(WorkflowTaskCompletion { commands, ..Default::default() })
    }

    /// The worker completes the started workflow task with update protocol `messages` (and
    /// `commands`).
    pub fn complete_wft_messages(
        &mut self,
        commands: Vec<Command>,
        messages: Vec<Message>,
    ) -> Option<CompletionOutcome> {
        self.complete_wft_with(WorkflowTaskCompletion { commands, messages, ..Default::default() })
    }

    /// The worker completes the started workflow task with a full completion (identity
    /// `worker` unless set).
    pub fn complete_wft_with(&mut self, mut c: WorkflowTaskCompletion) -> Option<CompletionOutcome> {
        if c.identity.is_empty() {
            c.identity = "worker".into();
        }
        if c.return_new_workflow_task && c.new_task_request_id.is_empty() {
            self.polls += 1;
            c.new_task_request_id = format!("poll-{}", self.polls);
        }
        let stamp = self.wft_stamp();
        let mut label = format!(
            "complete wft [{}]",
            c.commands.iter().map(render::command).collect::<Vec<_>>().join(", ")
        );
        if !c.messages.is_empty() {
            label += &format!(
                " messages [{}]",
                c.messages.iter().map(|m| m.id.clone()).collect::<Vec<_>>().join(", ")
            );
        }
        for (flag, on) in [
            ("force-new-task", c.force_create_new_workflow_task),
            ("return-new-task", c.return_new_workflow_task),
        ] {
            if on {
                label += &format!(" {flag}");
            }
        }
        if let Some((q, t)) = &c.sticky {
            label += &format!(" sticky={q} ({})", render::secs(*t));
        }
        self.step(label, |x| x.complete_workflow_task(stamp, c), completion)
    }

    /// The worker fails the started workflow task with `cause`.
    pub fn fail_wft(&mut self, cause: WorkflowTaskFailedCause) -> &mut Self {
        let stamp = self.wft_stamp();
        let failure = crate::cmd::app_failure("workflow code panicked", "Panic");
        self.step(
            format!("fail wft {cause:?}"),
            |x| x.fail_workflow_task(stamp, cause, Some(failure), "worker", false),
            |_| None,
        );
        self
    }

    /// ResetStickyTaskQueue.
    pub fn reset_sticky(&mut self) -> &mut Self {
        self.step("reset sticky queue", |x| x.reset_sticky(), |_| None);
        self
    }

    // ------------------------------------------------------------- activities

    fn attempt_of(&self, sched: i64) -> i32 {
        self.ms().activities.get(&sched).map(|a| a.attempt).unwrap_or(1)
    }

    /// A worker polls the current attempt of the activity scheduled by event `sched`.
    pub fn poll_activity(&mut self, sched: i64) -> &mut Self {
        self.polls += 1;
        let (req, attempt) = (format!("poll-{}", self.polls), self.attempt_of(sched));
        self.step(
            format!("poll activity sched={sched} attempt={attempt}"),
            |x| x.start_activity(sched, attempt, None, &req, &Poller::identity("worker")),
            |s| {
                let i = &s.info;
                let mut line = format!("activity {} attempt={}", i.activity_id, i.attempt);
                if i.heartbeat_details.is_some() {
                    line += &format!(" heartbeat-details={}", render::payloads(&i.heartbeat_details));
                }
                if i.last_failure.is_some() {
                    line += &format!(" last-failure={}", render::failure(&i.last_failure));
                }
                Some(line)
            },
        );
        self
    }

    /// The worker heartbeats the activity (with `details`); shows whether cancel was requested.
    pub fn heartbeat(&mut self, sched: i64, details: &str) -> &mut Self {
        self.step(
            format!("heartbeat sched={sched} details={details:?}"),
            |x| x.heartbeat_activity(sched, None, crate::cmd::payload(details)),
            |a| {
                Some(format!(
                    "cancel-requested={}{}{}",
                    a.cancel_requested,
                    if a.paused { " paused" } else { "" },
                    if a.reset { " reset" } else { "" }
                ))
            },
        );
        self
    }

    /// An operator pauses the activity.
    pub fn pause_activity(&mut self, sched: i64) -> &mut Self {
        self.step(
            format!("pause activity sched={sched}"),
            |x| x.pause_activity(sched, "operator", "why"),
            |changed| (!changed).then(|| "already paused".to_string()),
        );
        self
    }

    /// An operator unpauses the activity (dispatch after `delay_secs`).
    pub fn unpause_activity(&mut self, sched: i64, reset_attempts: bool, delay_secs: i64) -> &mut Self {
        self.step(
            format!("unpause activity sched={sched} reset-attempts={reset_attempts} delay={delay_secs}s"),
            |x| x.unpause_activity(sched, reset_attempts, false, delay_secs * endure_core::time::SECOND),
            |_| None,
        );
        self
    }

    /// An operator resets the activity.
    pub fn reset_activity(
        &mut self,
        sched: i64,
        reset: endure_core::activity_ops::ResetActivity,
    ) -> &mut Self {
        self.step(
            format!("reset activity sched={sched} {reset:?}"),
            |x| x.reset_activity(sched, reset),
            |_| None,
        );
        self
    }

    /// An operator changes the activity's options.
    pub fn update_activity(
        &mut self,
        sched: i64,
        change: endure_core::activity_ops::OptionsChange,
    ) -> &mut Self {
        self.step(
            format!("update activity sched={sched} {change:?}"),
            |x| x.update_activity_options(sched, change),
            |a| {
                Some(format!(
                    "queue={} stc={}s hb={}s",
                    a.task_queue,
                    a.start_to_close_timeout / endure_core::time::SECOND,
                    a.heartbeat_timeout / endure_core::time::SECOND
                ))
            },
        );
        self
    }

    /// The worker completes the activity with `result`.
    pub fn complete_activity(&mut self, sched: i64, result: &str) -> &mut Self {
        self.step(
            format!("complete activity sched={sched} result={result:?}"),
            |x| x.complete_activity(sched, None, crate::cmd::payload(result), "worker"),
            |_| None,
        );
        self
    }

    /// The worker fails the current attempt with `failure`.
    pub fn fail_activity(&mut self, sched: i64, failure: Failure) -> &mut Self {
        let label = format!("fail activity sched={sched} {}", render::failure(&Some(failure.clone())));
        self.step(label, |x| x.fail_activity(sched, None, failure, None, "worker"), |_| None);
        self
    }

    /// The worker reports the activity canceled.
    pub fn activity_canceled(&mut self, sched: i64) -> &mut Self {
        self.step(
            format!("activity canceled sched={sched}"),
            |x| x.cancel_activity(sched, None, crate::cmd::payload("cleaned up"), "worker"),
            |_| None,
        );
        self
    }

    // -------------------------------------------------------- external inputs

    /// A client signals the run (`request_id` deduplicates; "" never does).
    pub fn signal(&mut self, name: &str, request_id: &str) -> &mut Self {
        self.step(
            format!("signal {name:?} req={request_id:?}"),
            |x| x.signal(name, crate::cmd::payload("data"), "client", None, request_id),
            |applied| (!applied).then(|| "deduplicated".into()),
        );
        self
    }

    /// A client requests cancellation of the run.
    pub fn request_cancel(&mut self) -> &mut Self {
        self.step("request cancel", |x| x.request_cancel("", "client"), |_| None);
        self
    }

    /// A client terminates the run.
    pub fn terminate(&mut self, reason: &str) -> &mut Self {
        self.step(format!("terminate {reason:?}"), |x| x.terminate(reason, None, "client"), |_| None);
        self
    }

    /// A client sends update `id` (handler `greet`).
    pub fn admit_update(&mut self, id: &str) -> &mut Self {
        let req = crate::cmd::update_request(id, "greet");
        self.step(format!("admit update {id}"), |x| x.admit_update(req), |a| Some(admission(a)));
        self
    }

    // --------------------------------------------------- cross-workflow work

    /// Runs the StartChild task of the focused run's child `initiated` as the server does:
    /// starts the child run (with the command's fields and this run as parent), then records
    /// the start on the parent. Focus stays on the parent.
    pub fn start_child(&mut self, initiated: i64) -> &mut Self {
        let parent_idx = self.focus;
        let parent = self.ms().clone();
        let child = parent.children.get(&initiated).cloned().expect("a pending child");
        let cmd = child.command.clone().unwrap_or_default();
        let (root_workflow_id, root_run_id) = parent.root();
        let req = StartRun {
            namespace_id: parent.namespace_id.clone(),
            workflow_id: cmd.workflow_id.clone(),
            run_id: self.next_run_id(),
            workflow_type: cmd.workflow_type.clone().unwrap_or_default(),
            task_queue: cmd.task_queue.as_ref().map(|q| q.name.clone()).unwrap_or_default(),
            input: cmd.input.clone(),
            execution_timeout: time::opt_duration(&cmd.workflow_execution_timeout),
            run_timeout: time::opt_duration(&cmd.workflow_run_timeout),
            task_timeout: time::opt_duration(&cmd.workflow_task_timeout),
            request_id: endure_core::children::request_id(&parent.run_id, initiated),
            retry_policy: cmd.retry_policy.clone(),
            cron_schedule: cmd.cron_schedule.clone(),
            parent: Some(ParentInfo {
                namespace_id: parent.namespace_id.clone(),
                namespace: "default".into(),
                workflow_id: parent.workflow_id.clone(),
                run_id: parent.run_id.clone(),
                initiated_event_id: initiated,
                root_workflow_id,
                root_run_id,
            }),
            ..Default::default()
        };
        let child_run = req.run_id.clone();
        self.start_run(req);
        self.focus = parent_idx;
        self.step(
            format!("record child started initiated={initiated} run={child_run}"),
            |x| x.record_child_started(initiated, &child_run),
            |_| None,
        );
        self
    }

    /// The StartChild task of child `initiated` found it could not start the child.
    pub fn child_start_failed(
        &mut self,
        initiated: i64,
        cause: StartChildWorkflowExecutionFailedCause,
    ) -> &mut Self {
        self.step(
            format!("record child start failed initiated={initiated} {cause:?}"),
            |x| x.record_child_start_failed(initiated, cause),
            |_| None,
        );
        self
    }

    /// Runs the focused (child) run's RecordChildClosed task: records its close event on the
    /// parent. Focus stays on the child.
    pub fn deliver_child_close(&mut self) -> &mut Self {
        let pos = self.run().outbox.iter().position(|t| matches!(t, Task::RecordChildClosed { .. }));
        let Some(Task::RecordChildClosed { parent, close_event, .. }) =
            pos.map(|i| self.runs[self.focus].outbox.remove(i))
        else {
            panic!("the run owes its parent no close report");
        };
        let ev = HistoryEvent::decode(close_event.as_slice()).expect("close event decodes");
        self.record_child_closed(&parent.run_id, parent.initiated_event_id, ev)
    }

    /// Records on run `parent_run` that its child `initiated` closed with `close_event`.
    pub fn record_child_closed(
        &mut self,
        parent_run: &str,
        initiated: i64,
        close_event: HistoryEvent,
    ) -> &mut Self {
        let parent = self.index_of(parent_run);
        let back = std::mem::replace(&mut self.focus, parent);
        self.step(
            format!("record child closed initiated={initiated} ({})", render::event(&close_event)),
            |x| x.record_child_closed(initiated, &close_event),
            |done| (!done).then(|| "not recorded: retry later".into()),
        );
        self.focus = back;
        self
    }

    /// Runs the focused (closed parent) run's ParentClosePolicy tasks against the child runs
    /// of this case, as the server does (terminate, or request cancel on the parent's behalf).
    pub fn apply_parent_close_policies(&mut self) -> &mut Self {
        let parent = self.ms().clone();
        let (tasks, rest): (Vec<Task>, Vec<Task>) = std::mem::take(&mut self.runs[self.focus].outbox)
            .into_iter()
            .partition(|t| matches!(t, Task::ParentClosePolicy { .. }));
        self.runs[self.focus].outbox = rest;
        let back = self.focus;
        for t in tasks {
            let Task::ParentClosePolicy { workflow_id, policy, .. } = t else { unreachable!() };
            let Some(i) = self.runs.iter().rposition(|r| r.ms.workflow_id == workflow_id) else { continue };
            self.focus = i;
            let from =
                WorkflowExecution { workflow_id: parent.workflow_id.clone(), run_id: parent.run_id.clone() };
            if policy == ParentClosePolicy::RequestCancel as i32 {
                self.step(
                    "parent close policy: request cancel",
                    |x| x.request_cancel_from("", "", Some((from, 0))),
                    |_| None,
                );
            } else {
                self.step(
                    "parent close policy: terminate",
                    |x| x.terminate("by parent close policy", None, ""),
                    |_| None,
                );
            }
        }
        self.focus = back;
        self
    }

    /// The SignalExternal task of `initiated` delivered the signal (`Ok`) or could not.
    pub fn external_signal_result(
        &mut self,
        initiated: i64,
        outcome: Result<(), SignalExternalWorkflowExecutionFailedCause>,
    ) -> &mut Self {
        self.step(
            format!("record external signal initiated={initiated} {outcome:?}"),
            |x| x.record_external_signal(initiated, outcome),
            |_| None,
        );
        self
    }

    /// The CancelExternal task of `initiated` delivered the request (`Ok`) or could not.
    pub fn external_cancel_result(
        &mut self,
        initiated: i64,
        outcome: Result<(), CancelExternalWorkflowExecutionFailedCause>,
    ) -> &mut Self {
        self.step(
            format!("record external cancel initiated={initiated} {outcome:?}"),
            |x| x.record_external_cancel(initiated, outcome),
            |_| None,
        );
        self
    }

    // -------------------------------------------------------- rebuild, reset

    /// Rebuilds the focused run's state from its history (`rebuild::rebuild`) and compares it
    /// with the live one ([`render::rebuild_facts`]): `= same state`, or both when they differ.
    pub fn check_rebuild(&mut self) -> &mut Self {
        let run = self.run();
        let rebuilt = endure_core::rebuild::rebuild(&run.ms.namespace_id, &run.ms.run_id, &run.history);
        let (live, again) = (render::rebuild_facts(&run.ms), render::rebuild_facts(&rebuilt));
        let mut lines = vec![format!(
            "@{} rebuild {} from its {} events",
            render::at(self.now),
            run.label(),
            run.history.len()
        )];
        if live == again {
            lines.push("  = same state".into());
        } else {
            lines.push(format!("  live:    {live}"));
            lines.push(format!("  rebuilt: {again}"));
        }
        for l in lines {
            self.line(l);
        }
        self
    }

    /// ResetWorkflowExecution of the focused run to the workflow task finished by event
    /// `finish_event_id`, as the server does: rebuild a new run from the events before it,
    /// `finish_reset` with the signals after it (if `reapply_signals`), and terminate the base
    /// run if it is still open. Focus moves to the new run.
    pub fn reset(&mut self, finish_event_id: i64, reapply_signals: bool) -> &mut Self {
        let base = self.focus;
        let base_run_id = self.ms().run_id.clone();
        let history = self.run().history.clone();
        let (prefix, signals) =
            endure_core::rebuild::split_for_reset(&history, finish_event_id, reapply_signals);
        let new_run_id = self.next_run_id();
        let mut ms = endure_core::rebuild::rebuild(&self.ms().namespace_id, &new_run_id, &prefix);
        self.line(format!(
            "@{} reset to event {finish_event_id} (reapply signals: {reapply_signals}): rebuild {new_run_id} from events 1..{}",
            render::at(self.now),
            finish_event_id - 1
        ));
        let mut txn = Txn::new(&mut ms, self.now);
        let r = txn.finish_reset(&base_run_id, "reset", signals);
        let (tail, tasks) = (std::mem::take(&mut txn.events), std::mem::take(&mut txn.tasks));
        drop(txn);
        if let Err(e) = r {
            self.line(format!("  ! {e:?}"));
            return self;
        }
        let run = Run { ms, history: prefix, outbox: vec![], shown: String::new() };
        self.line(format!("  new run {}:", run.label()));
        self.runs.push(run);
        let i = self.runs.len() - 1;
        for l in self.record(i, tail, tasks, "    ") {
            self.line(l);
        }
        if self.runs[base].ms.is_open() {
            self.focus = base;
            self.step("terminate the base run", |x| x.terminate("reset", None, "history-resetter"), |_| None);
        }
        self.focus = i;
        self
    }
}

fn is_own_timer(t: &Task) -> bool {
    matches!(
        t,
        Task::UserTimer { .. }
            | Task::ActivityTimeout { .. }
            | Task::ActivityRetry { .. }
            | Task::WorkflowTaskTimeout { .. }
            | Task::WorkflowBackoff { .. }
            | Task::WorkflowRunTimeout { .. }
            | Task::WorkflowExecutionTimeout { .. }
    )
}

fn started_wft(s: &StartedWorkflowTask) -> String {
    let mut line = format!(
        "task sched={} started={} attempt={} previous-started={} history-from={}",
        s.scheduled_event_id, s.started_event_id, s.attempt, s.previous_started_event_id, s.first_event_id
    );
    if !s.transient_events.is_empty() {
        let t: Vec<String> = s.transient_events.iter().map(render::event).collect();
        line += &format!(" transient=[{}]", t.join("; "));
    }
    if !s.update_requests.is_empty() {
        let ids: Vec<String> = s
            .update_requests
            .iter()
            .map(|r| r.meta.as_ref().map(|m| m.update_id.clone()).unwrap_or_default())
            .collect();
        line += &format!(" updates={ids:?}");
    }
    line
}

fn completion(o: &CompletionOutcome) -> Option<String> {
    match o {
        CompletionOutcome::Failed { cause, message } => Some(format!("failed {cause:?}: {message}")),
        CompletionOutcome::Completed(c) => changes(c),
    }
}

fn changes(c: &UpdateChanges) -> Option<String> {
    let mut parts = vec![];
    for (id, f) in &c.rejected {
        parts.push(format!("rejected {id}: {}", render::failure(&Some(f.clone()))));
    }
    if c.discarded {
        parts.push(format!("task discarded, reset history to {}", c.reset_history_event_id));
    }
    if let Some((stamp, s)) = &c.inline_task {
        parts.push(format!("next task stamp={stamp} started inline: {}", started_wft(s)));
    }
    for a in &c.eager_activities {
        parts.push(format!(
            "eager activity {} sched={} started",
            a.info.activity_id, a.info.scheduled_event_id
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn admission(a: &Admission) -> String {
    match a {
        Admission::Admitted => "admitted".into(),
        Admission::InFlight => "already in flight".into(),
        Admission::Completed(ev) => format!("already completed by event {ev}"),
    }
}
