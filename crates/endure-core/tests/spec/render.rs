//! One-line renderings of what the core consumes and produces: history events, outbox tasks,
//! commands, start requests and the facts of a run's mutable state. Only the attributes that
//! matter to a reader are shown; times are relative to [`T0`] (`t+5s`).
#![allow(deprecated)] // `namespace` and `control` are deprecated in the API but still carried.

use endure_core::api::command::v1::{Command, command::Attributes as C};
use endure_core::api::common::v1::{Payloads, RetryPolicy, WorkflowExecution};
use endure_core::api::enums::v1::{
    CancelExternalWorkflowExecutionFailedCause, ContinueAsNewInitiator, ParentClosePolicy, RetryState,
    SignalExternalWorkflowExecutionFailedCause, StartChildWorkflowExecutionFailedCause, TaskQueueKind,
    TimeoutType, WorkflowExecutionStatus, WorkflowTaskFailedCause,
};
use endure_core::api::failure::v1::{Failure, failure::FailureInfo};
use endure_core::api::history::v1::{HistoryEvent, history_event::Attributes as A};
use endure_core::api::taskqueue::v1::TaskQueue;
use endure_core::api::update::v1::outcome::Value as Outcome;
use endure_core::state::{ActivityState, MutableState, UpdateState};
use endure_core::task::Task;
use endure_core::time::{self, Nanos, SECOND};
use endure_core::transition::StartRun;
use prost::Message;
use prost_wkt_types::Duration;

/// The time every case starts at: 2026-01-01T00:00:00Z (a real date, so cron schedules work).
pub const T0: Nanos = 1_767_225_600 * SECOND;

/// A point in time as an offset from [`T0`]: `t+5s`, `t+0.25s`.
pub fn at(n: Nanos) -> String {
    format!("t+{}", secs(n - T0))
}

/// A length of time in seconds: `5s`, `0.5s`.
pub fn secs(n: Nanos) -> String {
    if n % SECOND == 0 { format!("{}s", n / SECOND) } else { format!("{}s", n as f64 / SECOND as f64) }
}

fn dur(d: &Option<Duration>) -> String {
    match d {
        Some(d) => secs(time::from_duration(d)),
        None => "-".into(),
    }
}

/// The name of an enum value given as its number (`MaximumAttemptsReached`), as prost's Debug
/// prints it.
fn name<E: TryFrom<i32> + std::fmt::Debug>(n: i32) -> String {
    E::try_from(n).map(|e| format!("{e:?}")).unwrap_or_else(|_| format!("?{n}"))
}

/// Payloads as their UTF-8 data: `"hello"` (several payloads are joined with commas).
pub fn payloads(p: &Option<Payloads>) -> String {
    match p {
        None => "-".into(),
        Some(p) => p
            .payloads
            .iter()
            .map(|p| format!("{:?}", String::from_utf8_lossy(&p.data)))
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// A failure: its message, type, non-retryable flag and cause.
pub fn failure(f: &Option<Failure>) -> String {
    let Some(f) = f else { return "-".into() };
    let mut s = format!("{:?}", f.message);
    match &f.failure_info {
        Some(FailureInfo::ApplicationFailureInfo(a)) => {
            if !a.r#type.is_empty() {
                s += &format!(" type={}", a.r#type);
            }
            if a.non_retryable {
                s += " non-retryable";
            }
            if let Some(d) = &a.next_retry_delay {
                s += &format!(" next-retry-delay={}", secs(time::from_duration(d)));
            }
        }
        Some(FailureInfo::TimeoutFailureInfo(t)) => {
            s += &format!(" timeout={}", name::<TimeoutType>(t.timeout_type));
            if t.last_heartbeat_details.is_some() {
                s += &format!(" heartbeat-details={}", payloads(&t.last_heartbeat_details));
            }
        }
        Some(FailureInfo::ServerFailureInfo(_)) => s += " (server)",
        Some(FailureInfo::ResetWorkflowFailureInfo(_)) => s += " (reset)",
        _ => {}
    }
    if let Some(c) = &f.cause {
        s += &format!(" cause=({})", failure(&Some((**c).clone())));
    }
    s
}

fn queue(q: &Option<TaskQueue>) -> String {
    match q {
        Some(q) if q.kind == TaskQueueKind::Sticky as i32 => {
            format!("{} (sticky of {})", q.name, q.normal_name)
        }
        Some(q) => q.name.clone(),
        None => "-".into(),
    }
}

fn exec(e: &Option<WorkflowExecution>) -> String {
    match e {
        Some(e) if e.run_id.is_empty() => e.workflow_id.clone(),
        Some(e) => format!("{}/{}", e.workflow_id, e.run_id),
        None => "-".into(),
    }
}

/// A retry policy: `1s x2 max 100s, attempts 3, non-retryable [Fatal]` (0 attempts = unlimited).
pub fn retry(p: &Option<RetryPolicy>) -> String {
    let Some(p) = p else { return "-".into() };
    let mut s = format!(
        "{} x{} max {}, attempts {}",
        dur(&p.initial_interval),
        p.backoff_coefficient,
        dur(&p.maximum_interval),
        if p.maximum_attempts == 0 { "unlimited".to_string() } else { p.maximum_attempts.to_string() }
    );
    if !p.non_retryable_error_types.is_empty() {
        s += &format!(", non-retryable {:?}", p.non_retryable_error_types);
    }
    s
}

fn new_run(id: &str) -> String {
    if id.is_empty() { String::new() } else { format!(" new-run={id}") }
}

/// One history event: `5 TimerStarted t1 after 5s wtc=4`.
pub fn event(e: &HistoryEvent) -> String {
    let ty = e.event_type().as_str_name().trim_start_matches("EVENT_TYPE_").to_string();
    let ty: String = ty.split('_').map(|w| w[..1].to_string() + &w[1..].to_ascii_lowercase()).collect();
    let attrs = e.attributes.as_ref().map(event_attrs).unwrap_or_default();
    format!("{} {ty}{}{attrs}", e.event_id, if attrs.is_empty() { "" } else { " " })
}

fn event_attrs(a: &A) -> String {
    match a {
        A::WorkflowExecutionStartedEventAttributes(a) => {
            let mut s = format!(
                "type={} queue={} input={} attempt={}",
                a.workflow_type.as_ref().map(|t| t.name.as_str()).unwrap_or("-"),
                queue(&a.task_queue),
                payloads(&a.input),
                a.attempt
            );
            for (k, v) in [
                ("run-timeout", &a.workflow_run_timeout),
                ("execution-timeout", &a.workflow_execution_timeout),
                ("first-task-backoff", &a.first_workflow_task_backoff),
            ] {
                if v.is_some() {
                    s += &format!(" {k}={}", dur(v));
                }
            }
            s += &format!(" task-timeout={}", dur(&a.workflow_task_timeout));
            if let Some(x) = &a.workflow_execution_expiration_time {
                s += &format!(" expires={}", at(time::from_timestamp(x)));
            }
            if a.retry_policy.is_some() {
                s += &format!(" retry=({})", retry(&a.retry_policy));
            }
            if !a.cron_schedule.is_empty() {
                s += &format!(" cron={:?}", a.cron_schedule);
            }
            if !a.continued_execution_run_id.is_empty() {
                s += &format!(" continued-from={}", a.continued_execution_run_id);
            }
            if a.initiator != 0 {
                s += &format!(" initiator={}", name::<ContinueAsNewInitiator>(a.initiator));
            }
            if a.first_execution_run_id != a.original_execution_run_id {
                s += &format!(" first-run={}", a.first_execution_run_id);
            }
            if a.continued_failure.is_some() {
                s += &format!(" continued-failure={}", failure(&a.continued_failure));
            }
            if a.last_completion_result.is_some() {
                s += &format!(" last-result={}", payloads(&a.last_completion_result));
            }
            if a.parent_workflow_execution.is_some() {
                s += &format!(
                    " parent={} initiated={} root={}",
                    exec(&a.parent_workflow_execution),
                    a.parent_initiated_event_id,
                    exec(&a.root_workflow_execution)
                );
            }
            s
        }
        A::WorkflowTaskScheduledEventAttributes(a) => format!(
            "queue={} timeout={} attempt={}",
            queue(&a.task_queue),
            dur(&a.start_to_close_timeout),
            a.attempt
        ),
        A::WorkflowTaskStartedEventAttributes(a) => {
            let mut s = format!("sched={} by={} req={}", a.scheduled_event_id, a.identity, a.request_id);
            if a.suggest_continue_as_new {
                s += " suggest-continue-as-new";
            }
            s
        }
        A::WorkflowTaskCompletedEventAttributes(a) => {
            format!("sched={} started={} by={}", a.scheduled_event_id, a.started_event_id, a.identity)
        }
        A::WorkflowTaskFailedEventAttributes(a) => {
            let mut s = format!(
                "sched={} started={} cause={} failure={}",
                a.scheduled_event_id,
                a.started_event_id,
                name::<WorkflowTaskFailedCause>(a.cause),
                failure(&a.failure)
            );
            if !a.new_run_id.is_empty() {
                s += &format!(" base-run={} new-run={}", a.base_run_id, a.new_run_id);
            }
            s
        }
        A::WorkflowTaskTimedOutEventAttributes(a) => format!(
            "sched={} started={} timeout={}",
            a.scheduled_event_id,
            a.started_event_id,
            name::<TimeoutType>(a.timeout_type)
        ),
        A::ActivityTaskScheduledEventAttributes(a) => format!(
            "{} type={} queue={} s2c={} s2s={} stc={} hb={} retry=({}) wtc={}",
            a.activity_id,
            a.activity_type.as_ref().map(|t| t.name.as_str()).unwrap_or("-"),
            queue(&a.task_queue),
            dur(&a.schedule_to_close_timeout),
            dur(&a.schedule_to_start_timeout),
            dur(&a.start_to_close_timeout),
            dur(&a.heartbeat_timeout),
            retry(&a.retry_policy),
            a.workflow_task_completed_event_id
        ),
        A::ActivityTaskStartedEventAttributes(a) => {
            let mut s = format!("sched={} attempt={} by={}", a.scheduled_event_id, a.attempt, a.identity);
            if a.last_failure.is_some() {
                s += &format!(" last-failure={}", failure(&a.last_failure));
            }
            s
        }
        A::ActivityTaskCompletedEventAttributes(a) => format!(
            "sched={} started={} result={}",
            a.scheduled_event_id,
            a.started_event_id,
            payloads(&a.result)
        ),
        A::ActivityTaskFailedEventAttributes(a) => format!(
            "sched={} started={} retry-state={} failure={}",
            a.scheduled_event_id,
            a.started_event_id,
            name::<RetryState>(a.retry_state),
            failure(&a.failure)
        ),
        A::ActivityTaskTimedOutEventAttributes(a) => format!(
            "sched={} started={} retry-state={} failure={}",
            a.scheduled_event_id,
            a.started_event_id,
            name::<RetryState>(a.retry_state),
            failure(&a.failure)
        ),
        A::ActivityTaskCancelRequestedEventAttributes(a) => {
            format!("sched={} wtc={}", a.scheduled_event_id, a.workflow_task_completed_event_id)
        }
        A::ActivityTaskCanceledEventAttributes(a) => format!(
            "sched={} started={} cancel-requested={} details={}",
            a.scheduled_event_id,
            a.started_event_id,
            a.latest_cancel_requested_event_id,
            payloads(&a.details)
        ),
        A::TimerStartedEventAttributes(a) => format!(
            "{} after {} wtc={}",
            a.timer_id,
            dur(&a.start_to_fire_timeout),
            a.workflow_task_completed_event_id
        ),
        A::TimerFiredEventAttributes(a) => format!("{} started={}", a.timer_id, a.started_event_id),
        A::TimerCanceledEventAttributes(a) => format!(
            "{} started={} wtc={}",
            a.timer_id, a.started_event_id, a.workflow_task_completed_event_id
        ),
        A::WorkflowExecutionSignaledEventAttributes(a) => {
            let mut s = format!("{:?} input={} by={}", a.signal_name, payloads(&a.input), a.identity);
            if !a.request_id.is_empty() {
                s += &format!(" req={}", a.request_id);
            }
            if a.external_workflow_execution.is_some() {
                s += &format!(" from={}", exec(&a.external_workflow_execution));
            }
            s
        }
        A::WorkflowExecutionCancelRequestedEventAttributes(a) => {
            let mut s = format!("cause={:?} by={}", a.cause, a.identity);
            if a.external_workflow_execution.is_some() {
                s += &format!(
                    " from={} initiated={}",
                    exec(&a.external_workflow_execution),
                    a.external_initiated_event_id
                );
            }
            s
        }
        A::WorkflowExecutionTerminatedEventAttributes(a) => {
            format!("reason={:?} by={}", a.reason, a.identity)
        }
        A::WorkflowExecutionCompletedEventAttributes(a) => format!(
            "result={} wtc={}{}",
            payloads(&a.result),
            a.workflow_task_completed_event_id,
            new_run(&a.new_execution_run_id)
        ),
        A::WorkflowExecutionFailedEventAttributes(a) => format!(
            "failure={} retry-state={} wtc={}{}",
            failure(&a.failure),
            name::<RetryState>(a.retry_state),
            a.workflow_task_completed_event_id,
            new_run(&a.new_execution_run_id)
        ),
        A::WorkflowExecutionTimedOutEventAttributes(a) => {
            format!("retry-state={}{}", name::<RetryState>(a.retry_state), new_run(&a.new_execution_run_id))
        }
        A::WorkflowExecutionCanceledEventAttributes(a) => {
            format!("details={} wtc={}", payloads(&a.details), a.workflow_task_completed_event_id)
        }
        A::WorkflowExecutionContinuedAsNewEventAttributes(a) => {
            let mut s = format!(
                "new-run={} type={} queue={} input={} run-timeout={} task-timeout={} backoff={} wtc={}",
                a.new_execution_run_id,
                a.workflow_type.as_ref().map(|t| t.name.as_str()).unwrap_or("-"),
                queue(&a.task_queue),
                payloads(&a.input),
                dur(&a.workflow_run_timeout),
                dur(&a.workflow_task_timeout),
                dur(&a.backoff_start_interval),
                a.workflow_task_completed_event_id
            );
            if a.last_completion_result.is_some() {
                s += &format!(" last-result={}", payloads(&a.last_completion_result));
            }
            s
        }
        A::MarkerRecordedEventAttributes(a) => {
            format!("{:?} wtc={}", a.marker_name, a.workflow_task_completed_event_id)
        }
        A::UpsertWorkflowSearchAttributesEventAttributes(a) => {
            let mut keys: Vec<_> =
                a.search_attributes.iter().flat_map(|s| s.indexed_fields.keys().cloned()).collect();
            keys.sort();
            format!("{keys:?} wtc={}", a.workflow_task_completed_event_id)
        }
        A::WorkflowPropertiesModifiedEventAttributes(a) => {
            let mut keys: Vec<_> = a.upserted_memo.iter().flat_map(|m| m.fields.keys().cloned()).collect();
            keys.sort();
            format!("memo {keys:?} wtc={}", a.workflow_task_completed_event_id)
        }
        A::StartChildWorkflowExecutionInitiatedEventAttributes(a) => format!(
            "{} type={} queue={} task-timeout={} policy={} wtc={}",
            a.workflow_id,
            a.workflow_type.as_ref().map(|t| t.name.as_str()).unwrap_or("-"),
            queue(&a.task_queue),
            dur(&a.workflow_task_timeout),
            name::<ParentClosePolicy>(a.parent_close_policy),
            a.workflow_task_completed_event_id
        ),
        A::StartChildWorkflowExecutionFailedEventAttributes(a) => format!(
            "{} initiated={} cause={}",
            a.workflow_id,
            a.initiated_event_id,
            name::<StartChildWorkflowExecutionFailedCause>(a.cause)
        ),
        A::ChildWorkflowExecutionStartedEventAttributes(a) => {
            format!("{} initiated={}", exec(&a.workflow_execution), a.initiated_event_id)
        }
        A::ChildWorkflowExecutionCompletedEventAttributes(a) => format!(
            "{} initiated={} started={} result={}",
            exec(&a.workflow_execution),
            a.initiated_event_id,
            a.started_event_id,
            payloads(&a.result)
        ),
        A::ChildWorkflowExecutionFailedEventAttributes(a) => format!(
            "{} initiated={} started={} retry-state={} failure={}",
            exec(&a.workflow_execution),
            a.initiated_event_id,
            a.started_event_id,
            name::<RetryState>(a.retry_state),
            failure(&a.failure)
        ),
        A::ChildWorkflowExecutionCanceledEventAttributes(a) => format!(
            "{} initiated={} started={}",
            exec(&a.workflow_execution),
            a.initiated_event_id,
            a.started_event_id
        ),
        A::ChildWorkflowExecutionTimedOutEventAttributes(a) => format!(
            "{} initiated={} started={} retry-state={}",
            exec(&a.workflow_execution),
            a.initiated_event_id,
            a.started_event_id,
            name::<RetryState>(a.retry_state)
        ),
        A::ChildWorkflowExecutionTerminatedEventAttributes(a) => format!(
            "{} initiated={} started={}",
            exec(&a.workflow_execution),
            a.initiated_event_id,
            a.started_event_id
        ),
        A::SignalExternalWorkflowExecutionInitiatedEventAttributes(a) => format!(
            "{} {:?} input={} child-only={} wtc={}",
            exec(&a.workflow_execution),
            a.signal_name,
            payloads(&a.input),
            a.child_workflow_only,
            a.workflow_task_completed_event_id
        ),
        A::SignalExternalWorkflowExecutionFailedEventAttributes(a) => format!(
            "{} initiated={} cause={}",
            exec(&a.workflow_execution),
            a.initiated_event_id,
            name::<SignalExternalWorkflowExecutionFailedCause>(a.cause)
        ),
        A::ExternalWorkflowExecutionSignaledEventAttributes(a) => {
            format!("{} initiated={}", exec(&a.workflow_execution), a.initiated_event_id)
        }
        A::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(a) => format!(
            "{} reason={:?} child-only={} wtc={}",
            exec(&a.workflow_execution),
            a.reason,
            a.child_workflow_only,
            a.workflow_task_completed_event_id
        ),
        A::RequestCancelExternalWorkflowExecutionFailedEventAttributes(a) => format!(
            "{} initiated={} cause={}",
            exec(&a.workflow_execution),
            a.initiated_event_id,
            name::<CancelExternalWorkflowExecutionFailedCause>(a.cause)
        ),
        A::ExternalWorkflowExecutionCancelRequestedEventAttributes(a) => {
            format!("{} initiated={}", exec(&a.workflow_execution), a.initiated_event_id)
        }
        A::WorkflowExecutionUpdateAcceptedEventAttributes(a) => format!(
            "{} request-message={} sequencing-event={}",
            a.protocol_instance_id, a.accepted_request_message_id, a.accepted_request_sequencing_event_id
        ),
        A::WorkflowExecutionUpdateCompletedEventAttributes(a) => format!(
            "{} accepted={} outcome={}",
            a.meta.as_ref().map(|m| m.update_id.as_str()).unwrap_or("-"),
            a.accepted_event_id,
            match a.outcome.as_ref().and_then(|o| o.value.as_ref()) {
                Some(Outcome::Success(p)) => format!("success {}", payloads(&Some(p.clone()))),
                Some(Outcome::Failure(f)) => format!("failure {}", failure(&Some(f.clone()))),
                None => "-".into(),
            }
        ),
        _ => String::new(),
    }
}

/// One outbox task: `UserTimer t1 started=5 @t+7s`.
pub fn task(t: &Task) -> String {
    let when = t.fire_at().map(|f| format!(" @{}", at(f))).unwrap_or_default();
    task_kind(t) + &when
}

/// A dispatch order, when it is not the default: ` priority=1 fairness=tenant-a*2`.
fn render_order(o: &endure_core::task::DispatchOrder) -> String {
    let mut out = String::new();
    if o.priority_key != 0 {
        out += &format!(" priority={}", o.priority_key);
    }
    if !o.fairness_key.is_empty() || o.fairness_weight != 0.0 {
        out += &format!(" fairness={}*{}", o.fairness_key, o.fairness_weight);
    }
    out
}

/// A dispatch task's pinned worker deployment version, when it has one.
fn render_version(version: &str) -> String {
    if version.is_empty() { String::new() } else { format!(" version={version}") }
}

/// What an outbox task is, without its fire time: `UserTimer t1 started=5`.
pub fn task_kind(t: &Task) -> String {
    match t {
        Task::WorkflowTask { task_queue, stamp, sticky, order, version } => format!(
            "WorkflowTask queue={task_queue} stamp={stamp}{}{}{}",
            if *sticky { " sticky" } else { "" },
            render_order(order),
            render_version(version)
        ),
        Task::ActivityTask { task_queue, scheduled_event_id, attempt, stamp, order, version } => format!(
            "ActivityTask queue={task_queue} sched={scheduled_event_id} attempt={attempt}{}{}{}",
            if *stamp != 0 { format!(" stamp={stamp}") } else { String::new() },
            render_order(order),
            render_version(version)
        ),
        Task::UserTimer { timer_id, started_event_id, .. } => {
            format!("UserTimer {timer_id} started={started_event_id}")
        }
        Task::ActivityTimeout { scheduled_event_id, attempt, timeout_type, .. } => format!(
            "ActivityTimeout {} sched={scheduled_event_id} attempt={attempt}",
            name::<TimeoutType>(*timeout_type)
        ),
        Task::ActivityRetry { scheduled_event_id, attempt, .. } => {
            format!("ActivityRetry sched={scheduled_event_id} attempt={attempt}")
        }
        Task::WorkflowTaskTimeout { stamp, timeout_type, .. } => {
            format!("WorkflowTaskTimeout {} stamp={stamp}", name::<TimeoutType>(*timeout_type))
        }
        Task::WorkflowBackoff { .. } => "WorkflowBackoff".into(),
        Task::WorkflowRunTimeout { .. } => "WorkflowRunTimeout".into(),
        Task::WorkflowExecutionTimeout { .. } => "WorkflowExecutionTimeout".into(),
        Task::StartChild { initiated_event_id, .. } => format!("StartChild initiated={initiated_event_id}"),
        Task::SignalExternal { initiated_event_id, .. } => {
            format!("SignalExternal initiated={initiated_event_id}")
        }
        Task::CancelExternal { initiated_event_id, .. } => {
            format!("CancelExternal initiated={initiated_event_id}")
        }
        Task::RecordChildClosed { parent, child_workflow_id, close_event, .. } => {
            let ev = HistoryEvent::decode(close_event.as_slice()).expect("close event decodes");
            format!(
                "RecordChildClosed parent={}/{} initiated={} child={child_workflow_id} close=({})",
                parent.workflow_id,
                parent.run_id,
                parent.initiated_event_id,
                event(&ev)
            )
        }
        Task::ParentClosePolicy { workflow_id, run_id, policy, .. } => {
            format!("ParentClosePolicy {} child={workflow_id}/{run_id}", name::<ParentClosePolicy>(*policy))
        }
        Task::DeleteClosedRun { .. } => "DeleteClosedRun".into(),
        Task::ScheduleWake { .. } => "ScheduleWake".into(),
        Task::BatchStep { .. } => "BatchStep".into(),
        Task::ScheduleStart { seq, .. } => format!("ScheduleStart seq={seq}"),
        Task::ScheduleStopRun { workflow_id, run_id, terminate, .. } => format!(
            "ScheduleStopRun {} {workflow_id}/{run_id}",
            if *terminate { "terminate" } else { "cancel" }
        ),
        Task::ScheduleWorkflowClosed { schedule_id, close_event, .. } => {
            let ev = HistoryEvent::decode(close_event.as_slice()).expect("close event decodes");
            format!("ScheduleWorkflowClosed schedule={schedule_id} close=({})", event(&ev))
        }
    }
}

/// A command of a workflow-task completion: `StartTimer t1 5s`.
pub fn command(c: &Command) -> String {
    match &c.attributes {
        None => "<no attributes>".into(),
        Some(C::ScheduleActivityTaskCommandAttributes(a)) => {
            let mut s = format!(
                "ScheduleActivity {} type={}",
                a.activity_id,
                a.activity_type.as_ref().map(|t| t.name.as_str()).unwrap_or("-")
            );
            for (k, v) in [
                ("s2c", &a.schedule_to_close_timeout),
                ("s2s", &a.schedule_to_start_timeout),
                ("stc", &a.start_to_close_timeout),
                ("hb", &a.heartbeat_timeout),
            ] {
                if v.is_some() {
                    s += &format!(" {k}={}", dur(v));
                }
            }
            if a.retry_policy.is_some() {
                s += &format!(" retry=({})", retry(&a.retry_policy));
            }
            if a.request_eager_execution {
                s += " eager";
            }
            s
        }
        Some(C::RequestCancelActivityTaskCommandAttributes(a)) => {
            format!("RequestCancelActivity sched={}", a.scheduled_event_id)
        }
        Some(C::StartTimerCommandAttributes(a)) => {
            format!("StartTimer {} {}", a.timer_id, dur(&a.start_to_fire_timeout))
        }
        Some(C::CancelTimerCommandAttributes(a)) => format!("CancelTimer {}", a.timer_id),
        Some(C::CompleteWorkflowExecutionCommandAttributes(a)) => {
            format!("CompleteWorkflow {}", payloads(&a.result))
        }
        Some(C::FailWorkflowExecutionCommandAttributes(a)) => format!("FailWorkflow {}", failure(&a.failure)),
        Some(C::CancelWorkflowExecutionCommandAttributes(_)) => "CancelWorkflow".into(),
        Some(C::ContinueAsNewWorkflowExecutionCommandAttributes(a)) => {
            let mut s = format!("ContinueAsNew input={}", payloads(&a.input));
            if a.backoff_start_interval.is_some() {
                s += &format!(" backoff={}", dur(&a.backoff_start_interval));
            }
            if let Some(t) = &a.workflow_type {
                s += &format!(" type={}", t.name);
            }
            s
        }
        Some(C::StartChildWorkflowExecutionCommandAttributes(a)) => format!(
            "StartChild {} type={} policy={}",
            a.workflow_id,
            a.workflow_type.as_ref().map(|t| t.name.as_str()).unwrap_or("-"),
            name::<ParentClosePolicy>(a.parent_close_policy)
        ),
        Some(C::SignalExternalWorkflowExecutionCommandAttributes(a)) => {
            format!("SignalExternal {} {:?}", exec(&a.execution), a.signal_name)
        }
        Some(C::RequestCancelExternalWorkflowExecutionCommandAttributes(a)) => {
            format!("RequestCancelExternal {}", a.workflow_id)
        }
        Some(C::RecordMarkerCommandAttributes(a)) => format!("RecordMarker {:?}", a.marker_name),
        Some(C::ProtocolMessageCommandAttributes(a)) => format!("ProtocolMessage {}", a.message_id),
        Some(other) => {
            let name = format!("{other:?}");
            name.split('(').next().unwrap_or_default().trim_end_matches("CommandAttributes").to_string()
        }
    }
}

/// The fields of a start request that differ from the driver's defaults.
pub fn start_request(r: &StartRun) -> String {
    let mut s = format!("{} on {}", r.workflow_type.name, r.task_queue);
    for (k, v) in [
        ("run-timeout", r.run_timeout),
        ("execution-timeout", r.execution_timeout),
        ("task-timeout", r.task_timeout),
        ("delay", r.start_delay),
    ] {
        if v > 0 {
            s += &format!(" {k}={}", secs(v));
        }
    }
    if r.retry_policy.is_some() {
        s += &format!(" retry=({})", retry(&r.retry_policy));
    }
    if !r.cron_schedule.is_empty() {
        s += &format!(" cron={:?}", r.cron_schedule);
    }
    if let Some(sig) = &r.initial_signal {
        s += &format!(" with-signal={:?}", sig.name);
    }
    if let Some(p) = &r.parent {
        s += &format!(" parent={}/{} initiated={}", p.workflow_id, p.run_id, p.initiated_event_id);
    }
    s
}

/// The facts of a run's state that a reader needs: status, the next event id, the outstanding
/// workflow task, pending activities, timers, children, requests to other workflows, updates,
/// buffered events and flags.
pub fn state(ms: &MutableState) -> String {
    let mut parts =
        vec![format!("{} next-event={}", name::<WorkflowExecutionStatus>(ms.status), ms.next_event_id)];
    if !ms.is_open() {
        parts[0] += &format!(" closed-by={}", ms.completion_event_id);
    }
    if let Some(w) = &ms.workflow_task {
        let mut s = format!("wft(stamp={} attempt={}", w.stamp, w.attempt);
        if w.scheduled_event_id > 0 {
            s += &format!(" sched={}", w.scheduled_event_id);
        }
        if w.is_started() {
            s += &format!(" started={}", w.started_event_id);
        }
        for (flag, on) in [("transient", w.attempt > 1), ("speculative", w.speculative), ("sticky", w.sticky)]
        {
            if on {
                s += &format!(" {flag}");
            }
        }
        parts.push(s + ")");
    }
    if !ms.activities.is_empty() {
        let list: Vec<String> = ms
            .activities
            .values()
            .map(|a| {
                let mut s = format!(
                    "{}:{} attempt={} {}",
                    a.scheduled_event_id,
                    a.activity_id,
                    a.attempt,
                    match a.state {
                        ActivityState::Scheduled => "scheduled",
                        ActivityState::Started => "started",
                    }
                );
                if a.in_backoff {
                    s += &format!(" backoff-until={}", at(a.scheduled_time));
                }
                if a.cancel_requested {
                    s += " cancel-requested";
                }
                if a.paused {
                    s += &format!(" paused(by={} reason={})", a.pause_identity, a.pause_reason);
                }
                if a.reset_requested {
                    s += " reset-requested";
                }
                if a.last_failure.is_some() {
                    s += " last-failure";
                }
                if a.heartbeat_details.is_some() {
                    s += &format!(" details={}", payloads(&a.heartbeat_details));
                }
                s
            })
            .collect();
        parts.push(format!("activities[{}]", list.join(", ")));
    }
    if !ms.timers.is_empty() {
        let list: Vec<String> =
            ms.timers.values().map(|t| format!("{}@{}", t.timer_id, at(t.expiry_time))).collect();
        parts.push(format!("timers[{}]", list.join(", ")));
    }
    if !ms.children.is_empty() {
        let list: Vec<String> = ms
            .children
            .values()
            .map(|c| {
                if c.started_event_id == 0 {
                    format!("{}:{} starting", c.initiated_event_id, c.workflow_id)
                } else {
                    format!(
                        "{}:{}/{} started={}",
                        c.initiated_event_id, c.workflow_id, c.run_id, c.started_event_id
                    )
                }
            })
            .collect();
        parts.push(format!("children[{}]", list.join(", ")));
    }
    for (label, map) in [("signals-out", &ms.external_signals), ("cancels-out", &ms.external_cancels)] {
        if !map.is_empty() {
            let list: Vec<String> =
                map.values().map(|r| format!("{}:{}", r.initiated_event_id, r.workflow_id)).collect();
            parts.push(format!("{label}[{}]", list.join(", ")));
        }
    }
    if !ms.updates.is_empty() {
        let list: Vec<String> = ms
            .updates
            .iter()
            .map(|(id, u)| match u.state {
                UpdateState::Admitted => format!("{id} admitted"),
                UpdateState::Accepted => format!("{id} accepted={}", u.accepted_event_id),
            })
            .collect();
        parts.push(format!("updates[{}]", list.join(", ")));
    }
    if !ms.completed_updates.is_empty() {
        let list: Vec<String> = ms.completed_updates.iter().map(|(id, ev)| format!("{id}={ev}")).collect();
        parts.push(format!("completed-updates[{}]", list.join(", ")));
    }
    if !ms.buffered_events.is_empty() {
        let list: Vec<String> =
            ms.buffered_events.iter().map(|e| event(e).trim_start_matches("0 ").to_string()).collect();
        parts.push(format!("buffered[{}]", list.join("; ")));
    }
    if ms.cancel_requested {
        parts.push("cancel-requested".into());
    }
    if !ms.sticky_queue.is_empty() {
        parts.push(format!("sticky={}", ms.sticky_queue));
    }
    parts.join(" ")
}

/// The facts a rebuild from history must restore: [`state`] plus the applied signal request
/// ids, the last completed task, and the search attribute and memo keys.
pub fn rebuild_facts(ms: &MutableState) -> String {
    let keys = |m: Option<Vec<&String>>| {
        let mut k: Vec<&String> = m.unwrap_or_default();
        k.sort();
        format!("{k:?}")
    };
    format!(
        "{} | signal-requests={:?} last-completed-started={} search-attributes={} memo={}",
        state(ms),
        ms.signal_request_ids,
        ms.last_completed_wft_started_id,
        keys(ms.search_attributes.as_ref().map(|a| a.indexed_fields.keys().collect())),
        keys(ms.memo.as_ref().map(|m| m.fields.keys().collect())),
    )
}
