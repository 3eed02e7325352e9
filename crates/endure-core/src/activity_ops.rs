//! Operator actions on a run's pending activities: pause, unpause, reset and new options
//! (Temporal's PauseActivity, UnpauseActivity, ResetActivity and UpdateActivityOptions).
//!
//! None writes a history event; they change the activity's state and what is dispatched, as the
//! real server does: a paused activity is not dispatched and its timeouts wait (a running attempt
//! goes on, and its heartbeats are told); an attempt that fails while paused counts, and the next
//! waits for the unpause, even past the retry policy's last attempt; unpausing dispatches a
//! waiting attempt at once (or after the jitter the caller drew); a reset starts over at attempt
//! one; new options apply at once (a waiting task moves queue, a running attempt gets its new
//! timeouts, a waiting retry its new interval).
//!
//! This module does not choose which activities an operation names, nor draw jitter, nor read
//! the options an activity was scheduled with from history: the server does, and passes them in.

use crate::api::common::v1::{Priority, RetryPolicy};
use crate::api::enums::v1::TimeoutType;
use crate::api::failure::v1::Failure;
use crate::error::CoreError;
use crate::state::{ActivityInfo, ActivityState};
use crate::task::Task;
use crate::time::Nanos;
use crate::transition::Txn;

/// The options of an activity an operator may change; `None` leaves one as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptionsChange {
    /// Task queue name.
    pub task_queue: Option<String>,
    /// Schedule-to-close timeout (0: none).
    pub schedule_to_close_timeout: Option<Nanos>,
    /// Schedule-to-start timeout (0: none).
    pub schedule_to_start_timeout: Option<Nanos>,
    /// Start-to-close timeout.
    pub start_to_close_timeout: Option<Nanos>,
    /// Heartbeat timeout (0: none).
    pub heartbeat_timeout: Option<Nanos>,
    /// Retry policy, whole.
    pub retry_policy: Option<RetryPolicy>,
    /// Priority, whole.
    pub priority: Option<Priority>,
}

/// How a pending activity is reset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResetActivity {
    /// Leave a paused activity paused.
    pub keep_paused: bool,
    /// Forget its heartbeat details.
    pub reset_heartbeat: bool,
    /// Dispatch a waiting attempt this long from now (the server draws it from the jitter).
    pub delay: Nanos,
    /// The options it was scheduled with, to restore.
    pub restore: Option<OptionsChange>,
}

impl Txn<'_> {
    fn pending_activity(&mut self, scheduled_event_id: i64) -> Result<&mut ActivityInfo, CoreError> {
        self.require_open()?;
        self.ms.activities.get_mut(&scheduled_event_id).ok_or_else(|| {
            CoreError::NotFound(
                "Can't find pending activity with such ID. Invalid activityID or activity already completed"
                    .into(),
            )
        })
    }

    /// Pauses an activity (`Ok(false)`: it already was, nothing changes).
    pub fn pause_activity(
        &mut self,
        scheduled_event_id: i64,
        identity: &str,
        reason: &str,
    ) -> Result<bool, CoreError> {
        let now = self.now;
        let a = self.pending_activity(scheduled_event_id)?;
        if a.paused {
            return Ok(false);
        }
        a.paused = true;
        a.pause_time = now;
        a.pause_identity = identity.to_owned();
        a.pause_reason = reason.to_owned();
        if a.state == ActivityState::Scheduled {
            // Its queued task (or retry timer) is stale now; the unpause dispatches again.
            a.stamp += 1;
            a.in_backoff = false;
        }
        Ok(true)
    }

    /// Unpauses an activity (nothing if it is not paused): a waiting attempt is dispatched
    /// after `delay` (0: now), a running one gets its timeouts back (overdue ones fire at once).
    pub fn unpause_activity(
        &mut self,
        scheduled_event_id: i64,
        reset_attempts: bool,
        reset_heartbeat: bool,
        delay: Nanos,
    ) -> Result<(), CoreError> {
        let a = self.pending_activity(scheduled_event_id)?;
        if !a.paused {
            return Ok(());
        }
        a.paused = false;
        a.pause_time = 0;
        a.pause_identity.clear();
        a.pause_reason.clear();
        a.last_failure = None;
        if reset_attempts && a.state == ActivityState::Scheduled {
            a.attempt = 1;
        }
        if reset_heartbeat {
            a.heartbeat_details = None;
        }
        self.resume_activity(scheduled_event_id, delay);
        Ok(())
    }

    /// Dispatches a waiting attempt after `delay`, or arms a running attempt's timeouts again.
    fn resume_activity(&mut self, scheduled_event_id: i64, delay: Nanos) {
        let now = self.now;
        let Some(a) = self.ms.activities.get_mut(&scheduled_event_id) else { return };
        if a.state == ActivityState::Started {
            let a = a.clone();
            self.arm_running_timeouts(&a);
        } else {
            a.stamp += 1;
            a.scheduled_time = now + delay;
            let (attempt, queue, s2s) = (a.attempt, a.task_queue.clone(), a.schedule_to_start_timeout);
            if delay > 0 {
                a.in_backoff = true;
                self.tasks.push(Task::ActivityRetry { fire_at: now + delay, scheduled_event_id, attempt });
            } else {
                a.in_backoff = false;
                self.dispatch_activity(scheduled_event_id, attempt, queue, s2s, now);
            }
        }
        if let Some(a) = self.ms.activities.get(&scheduled_event_id)
            && a.schedule_to_close_timeout > 0
        {
            let fire_at = a.first_scheduled_time + a.schedule_to_close_timeout;
            let attempt = a.attempt;
            self.tasks.push(Task::ActivityTimeout {
                fire_at,
                scheduled_event_id,
                attempt,
                timeout_type: TimeoutType::ScheduleToClose as i32,
            });
        }
    }

    /// Timers for a running attempt's start-to-close and heartbeat timeouts, from its start and
    /// last heartbeat (in the past when overdue: they fire at once).
    fn arm_running_timeouts(&mut self, a: &ActivityInfo) {
        let (scheduled_event_id, attempt) = (a.scheduled_event_id, a.attempt);
        self.tasks.push(Task::ActivityTimeout {
            fire_at: a.started_time + a.start_to_close_timeout,
            scheduled_event_id,
            attempt,
            timeout_type: TimeoutType::StartToClose as i32,
        });
        if a.heartbeat_timeout > 0 {
            self.tasks.push(Task::ActivityTimeout {
                fire_at: a.last_heartbeat_time.max(a.started_time) + a.heartbeat_timeout,
                scheduled_event_id,
                attempt,
                timeout_type: TimeoutType::Heartbeat as i32,
            });
        }
    }

    /// A paused activity's attempt failed (or timed out): it counts, and the next attempt
    /// waits for the unpause.
    pub(crate) fn park_paused_attempt(&mut self, scheduled_event_id: i64, failure: Failure, identity: &str) {
        let now = self.now;
        let Some(a) = self.ms.activities.get_mut(&scheduled_event_id) else { return };
        a.end_attempt(now, failure, identity);
        a.scheduled_time = now;
        a.in_backoff = false;
        a.stamp += 1;
    }

    /// Resets an activity to attempt one: a waiting one is dispatched again (unless it stays
    /// paused), a running one goes on and its heartbeats are told.
    pub fn reset_activity(&mut self, scheduled_event_id: i64, reset: ResetActivity) -> Result<(), CoreError> {
        let a = self.pending_activity(scheduled_event_id)?;
        a.attempt = 1;
        let running = a.state == ActivityState::Started;
        if reset.reset_heartbeat {
            a.heartbeat_details = None;
            // The running attempt may heartbeat again; its successor starts without them.
            a.reset_heartbeat_pending = running;
        }
        if running {
            a.reset_requested = true;
        } else {
            a.last_failure = None;
        }
        if a.paused && !reset.keep_paused {
            a.paused = false;
            a.pause_time = 0;
            a.pause_identity.clear();
            a.pause_reason.clear();
        }
        let paused = a.paused;
        if let Some(options) = reset.restore {
            self.apply_options(scheduled_event_id, options, false)?;
        }
        if !running && !paused {
            self.resume_activity(scheduled_event_id, reset.delay);
        }
        Ok(())
    }

    /// Changes an activity's options; returns them as they are after the change. Waiting work
    /// follows at once: a queued task moves queue, a waiting retry takes its new interval, a
    /// running attempt its new timeouts.
    pub fn update_activity_options(
        &mut self,
        scheduled_event_id: i64,
        change: OptionsChange,
    ) -> Result<ActivityInfo, CoreError> {
        self.apply_options(scheduled_event_id, change, true)?;
        self.pending_activity(scheduled_event_id).map(|a| a.clone())
    }

    fn apply_options(
        &mut self,
        scheduled_event_id: i64,
        c: OptionsChange,
        follow: bool,
    ) -> Result<(), CoreError> {
        let a = self.pending_activity(scheduled_event_id)?;
        let before = a.clone();
        if a.scheduled_timeouts.is_none() {
            a.scheduled_timeouts =
                Some([a.schedule_to_close_timeout, a.start_to_close_timeout, a.heartbeat_timeout]);
        }
        if let Some(q) = c.task_queue {
            a.task_queue = q;
        }
        if let Some(t) = c.schedule_to_close_timeout {
            a.schedule_to_close_timeout = t;
            // As the real server normalises them.
            if a.schedule_to_start_timeout == 0 {
                a.schedule_to_start_timeout = t;
            }
        }
        if let Some(t) = c.schedule_to_start_timeout {
            a.schedule_to_start_timeout = t;
        }
        if let Some(t) = c.start_to_close_timeout {
            a.start_to_close_timeout = t;
        }
        if let Some(t) = c.heartbeat_timeout {
            a.heartbeat_timeout = t;
        }
        if a.start_to_close_timeout > 0 && a.heartbeat_timeout > a.start_to_close_timeout {
            a.heartbeat_timeout = a.start_to_close_timeout;
        }
        let policy_changed = c.retry_policy.is_some();
        if let Some(p) = c.retry_policy {
            a.retry_policy = Some(p);
        }
        if let Some(p) = c.priority {
            a.priority = Some(p);
        }
        let after = a.clone();
        if !follow || after.paused {
            return Ok(());
        }
        match after.state {
            ActivityState::Started => {
                if after.start_to_close_timeout != before.start_to_close_timeout
                    || after.heartbeat_timeout != before.heartbeat_timeout
                {
                    self.arm_running_timeouts(&after);
                }
            }
            ActivityState::Scheduled if after.in_backoff => {
                if policy_changed && after.attempt > 1 {
                    let policy = after.retry_policy.clone().unwrap_or_default();
                    let interval = crate::retry::backoff_interval(&policy, after.attempt - 1);
                    let from = if after.last_attempt_complete_time > 0 {
                        after.last_attempt_complete_time
                    } else {
                        self.now
                    };
                    let fire_at = (from + interval).max(self.now);
                    if let Some(a) = self.ms.activities.get_mut(&scheduled_event_id) {
                        a.scheduled_time = fire_at;
                        a.last_failure = None;
                    }
                    self.tasks.push(Task::ActivityRetry {
                        fire_at,
                        scheduled_event_id,
                        attempt: after.attempt,
                    });
                }
            }
            ActivityState::Scheduled => {
                if after.task_queue != before.task_queue || after.priority != before.priority {
                    if let Some(a) = self.ms.activities.get_mut(&scheduled_event_id) {
                        a.stamp += 1;
                    }
                    let (attempt, queue, s2s) =
                        (after.attempt, after.task_queue.clone(), after.schedule_to_start_timeout);
                    self.dispatch_activity(scheduled_event_id, attempt, queue, s2s, self.now);
                }
            }
        }
        Ok(())
    }
}
