//! A standalone activity's transitions: its start, and the client's cancel and terminate. Its
//! attempts (dispatch, start, heartbeats, completion, failure, retries, timeouts) are the
//! transitions of any activity ([`Txn`]), which close the run instead of writing events when
//! the run is a standalone activity ([`crate::standalone`]).

use crate::CoreError;
use crate::api::common::v1::{
    ActivityType, Header, Memo, Payloads, Priority, RetryPolicy, SearchAttributes, WorkflowType,
};
use crate::api::enums::v1::{TimeoutType, WorkflowExecutionStatus as Status};
use crate::api::sdk::v1::UserMetadata;
use crate::retry;
use crate::standalone::{ACTIVITY, StandaloneActivity};
use crate::state::{ActivityInfo, ActivityState, MutableState};
use crate::task::{DispatchOrder, Task};
use crate::time::Nanos;
use crate::transition::Txn;

/// What StartActivityExecution asks for, checked by the frontend (ids, sizes, search
/// attributes); timeouts and the retry policy are checked here.
#[derive(Debug, Clone, Default)]
pub struct NewStandalone {
    /// Namespace id.
    pub namespace_id: String,
    /// Run id of the new run.
    pub run_id: String,
    /// The start's request id.
    pub request_id: String,
    /// Identity of the starting client.
    pub identity: String,
    /// Activity id.
    pub activity_id: String,
    /// Activity type.
    pub activity_type: ActivityType,
    /// Task queue.
    pub task_queue: String,
    /// Timeouts as asked (0 = not set).
    pub schedule_to_close: Nanos,
    /// See `schedule_to_close`.
    pub schedule_to_start: Nanos,
    /// See `schedule_to_close`.
    pub start_to_close: Nanos,
    /// See `schedule_to_close`.
    pub heartbeat: Nanos,
    /// Retry policy as asked.
    pub retry_policy: Option<RetryPolicy>,
    /// Input.
    pub input: Option<Payloads>,
    /// Header.
    pub header: Option<Header>,
    /// Memo.
    pub memo: Option<Memo>,
    /// Search attributes.
    pub search_attributes: Option<SearchAttributes>,
    /// Summary and details.
    pub user_metadata: Option<UserMetadata>,
    /// Priority.
    pub priority: Option<Priority>,
    /// Delay before the first attempt, when the request gave one (zero too).
    pub start_delay: Option<Nanos>,
}

/// The run of a new standalone activity and its first tasks: the first attempt's dispatch (or
/// its delay), and its schedule-to-start and schedule-to-close timers.
pub fn new_standalone(n: NewStandalone, now: Nanos) -> Result<(MutableState, Vec<Task>), CoreError> {
    if let Some(p) = &n.retry_policy {
        retry::validate(p).map_err(CoreError::InvalidArgument)?;
    }
    let (s2c, s2s, stc, hb) = crate::commands::activity_timeouts(
        n.schedule_to_close,
        n.schedule_to_start,
        n.start_to_close,
        n.heartbeat,
        0,
    )
    .map_err(|_| {
        CoreError::InvalidArgument(
            "A valid StartToClose or ScheduleToCloseTimeout is not set on request.".into(),
        )
    })?;
    let delay = n.start_delay.unwrap_or(0).max(0);
    let execution_time = now + delay;
    let activity = ActivityInfo {
        scheduled_event_id: ACTIVITY,
        activity_id: n.activity_id.clone(),
        activity_type: Some(n.activity_type.clone()),
        task_queue: n.task_queue.clone(),
        header: n.header,
        input: n.input,
        retry_policy: Some(retry::with_defaults(n.retry_policy)),
        schedule_to_close_timeout: s2c,
        schedule_to_start_timeout: s2s,
        start_to_close_timeout: stc,
        heartbeat_timeout: hb,
        first_scheduled_time: now,
        scheduled_time: execution_time,
        attempt: 1,
        state: ActivityState::Scheduled,
        in_backoff: delay > 0,
        priority: n.priority.clone(),
        ..Default::default()
    };
    let mut ms = MutableState {
        namespace_id: n.namespace_id,
        workflow_id: crate::standalone::workflow_id_of(&n.activity_id),
        run_id: n.run_id.clone(),
        first_execution_run_id: n.run_id,
        workflow_type: Some(WorkflowType { name: n.activity_type.name }),
        task_queue: n.task_queue.clone(),
        status: Status::Running as i32,
        start_time: now,
        execution_time,
        start_request_id: n.request_id,
        next_event_id: 1,
        memo: n.memo,
        search_attributes: n.search_attributes,
        user_metadata: n.user_metadata,
        priority: n.priority,
        activities: [(ACTIVITY, activity)].into_iter().collect(),
        standalone: Some(Box::new(StandaloneActivity {
            activity_id: n.activity_id,
            identity: n.identity,
            start_delay: n.start_delay,
            ..Default::default()
        })),
        ..Default::default()
    };
    let mut tasks = Vec::new();
    if delay > 0 {
        tasks.push(Task::ActivityRetry { fire_at: execution_time, scheduled_event_id: ACTIVITY, attempt: 1 });
    } else {
        let order = DispatchOrder::of(ms.priority.as_ref(), None);
        tasks.push(Task::ActivityTask {
            task_queue: n.task_queue,
            scheduled_event_id: ACTIVITY,
            attempt: 1,
            stamp: 0,
            order,
            version: String::new(),
        });
        if s2s > 0 && (s2c == 0 || s2s < s2c) {
            tasks.push(Task::ActivityTimeout {
                fire_at: now + s2s,
                scheduled_event_id: ACTIVITY,
                attempt: 1,
                timeout_type: TimeoutType::ScheduleToStart as i32,
            });
        }
    }
    if s2c > 0 {
        tasks.push(Task::ActivityTimeout {
            fire_at: execution_time + s2c,
            scheduled_event_id: ACTIVITY,
            attempt: 1,
            timeout_type: TimeoutType::ScheduleToClose as i32,
        });
    }
    ms.state_transition_count = 1;
    Ok((ms, tasks))
}

impl Txn<'_> {
    /// The run's status as the real server's errors name it.
    fn status_name(&self) -> &'static str {
        crate::standalone::status_name(StandaloneActivity::status(self.ms.status))
    }

    fn standalone(&self) -> Result<&StandaloneActivity, CoreError> {
        self.ms.standalone.as_deref().ok_or_else(|| CoreError::NotFound("activity not found".into()))
    }

    /// RequestCancelActivityExecution: an activity not running now (queued, or waiting for a
    /// retry) is canceled at once; a running one is told through its heartbeats, and closes when
    /// its worker reports it canceled (or completes or fails). A repeat with the same request id
    /// changes nothing.
    pub fn standalone_cancel(
        &mut self,
        reason: &str,
        identity: &str,
        request_id: &str,
    ) -> Result<(), CoreError> {
        let s = self.standalone()?;
        let same_request = !request_id.is_empty() && s.cancel_request_id == request_id;
        if !self.ms.is_open() {
            if same_request && self.ms.status == Status::Canceled as i32 {
                return Ok(());
            }
            return Err(CoreError::FailedPrecondition(format!(
                "activity is in terminal state {}",
                self.status_name()
            )));
        }
        if s.cancel_requested {
            if same_request {
                return Ok(());
            }
            return Err(CoreError::FailedPrecondition(format!(
                "cancellation already requested with request ID {}",
                s.cancel_request_id
            )));
        }
        if let Some(s) = self.ms.standalone.as_mut() {
            s.cancel_requested = true;
            s.canceled_reason = reason.to_owned();
            s.cancel_request_id = request_id.to_owned();
            s.cancel_identity = identity.to_owned();
        }
        let Some(a) = self.ms.activities.get_mut(&ACTIVITY) else { return Ok(()) };
        a.cancel_requested = true;
        if a.state == ActivityState::Scheduled {
            // Canceled at once; the details are the reason, as the real server records them.
            let reason = crate::api::common::v1::Payload {
                metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into_iter().collect(),
                data: serde_json::to_vec(reason).unwrap_or_default(),
                ..Default::default()
            };
            let details = crate::api::common::v1::Payloads { payloads: vec![reason] };
            self.finish_standalone(Status::Canceled, crate::standalone::canceled(Some(details), identity));
        }
        Ok(())
    }

    /// TerminateActivityExecution: closes the activity at once; a running attempt is not told
    /// (its later reports find the activity gone). A repeat with the same request id changes
    /// nothing.
    pub fn standalone_terminate(
        &mut self,
        reason: &str,
        identity: &str,
        request_id: &str,
    ) -> Result<(), CoreError> {
        let s = self.standalone()?;
        if !self.ms.is_open() {
            if self.ms.status == Status::Terminated as i32 && !s.terminate_request_id.is_empty() {
                if s.terminate_request_id == request_id {
                    return Ok(());
                }
                return Err(CoreError::FailedPrecondition(format!(
                    "already terminated with request ID {}",
                    s.terminate_request_id
                )));
            }
            return Err(CoreError::FailedPrecondition(format!(
                "invalid transition from {}",
                self.status_name()
            )));
        }
        if let Some(s) = self.ms.standalone.as_mut() {
            s.terminate_request_id = request_id.to_owned();
        }
        self.terminate(reason, None, identity)
    }
}
