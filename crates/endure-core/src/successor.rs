//! Runs that follow a run: continue-as-new, workflow retries and cron. The closing run and its
//! successor are produced by one transition and committed together, so a chain never breaks.

use crate::api::command::v1::ContinueAsNewWorkflowExecutionCommandAttributes;
use crate::api::enums::v1::{ContinueAsNewInitiator, RetryState};
use crate::api::failure::v1::Failure;
use crate::retry;
use crate::state::MutableState;
use crate::time::{self, Nanos};
use crate::transition::{NewRunOut, StartRun, Txn};

/// Minimum time between the starts of two runs chained by continue-as-new.
pub const CONTINUE_AS_NEW_MIN_INTERVAL: Nanos = time::SECOND;

/// The delay from `now` until the next time `schedule` fires. Supports standard five-field
/// cron expressions, the `@hourly`-style descriptors and `@every <duration>`.
pub fn cron_delay(schedule: &str, now: Nanos) -> Result<Nanos, String> {
    let schedule = schedule.trim();
    if let Some(every) = schedule.strip_prefix("@every ") {
        return parse_go_duration(every.trim())
            .filter(|d| *d > 0)
            .ok_or_else(|| format!("invalid CronSchedule {schedule:?}: bad @every duration"));
    }
    let cron: croner::Cron =
        schedule.parse().map_err(|e| format!("invalid CronSchedule {schedule:?}: {e}"))?;
    let start = chrono::DateTime::from_timestamp_nanos(now);
    let next = cron
        .find_next_occurrence(&start, false)
        .map_err(|e| format!("invalid CronSchedule {schedule:?}: {e}"))?;
    Ok(next.timestamp_nanos_opt().unwrap_or(i64::MAX).saturating_sub(now).max(0))
}

/// Parses durations such as `90s`, `1h30m`, `500ms`.
fn parse_go_duration(s: &str) -> Option<Nanos> {
    let mut total: Nanos = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => time::SECOND,
            "m" => 60 * time::SECOND,
            "h" => 3600 * time::SECOND,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

impl Txn<'_> {
    /// A successor of the current run carrying over what Temporal carries over.
    pub(crate) fn successor(&self, initiator: ContinueAsNewInitiator) -> StartRun {
        let ms: &MutableState = self.ms;
        StartRun {
            namespace_id: ms.namespace_id.clone(),
            workflow_id: ms.workflow_id.clone(),
            run_id: self.next_run_id.clone(),
            priority: ms.priority.clone(),
            user_metadata: None,
            workflow_type: ms.workflow_type.clone().unwrap_or_default(),
            task_queue: ms.task_queue.clone(),
            input: ms.input.clone(),
            execution_timeout: ms.execution_timeout,
            run_timeout: ms.run_timeout,
            task_timeout: ms.task_timeout,
            identity: String::new(),
            request_id: String::new(),
            retry_policy: ms.retry_policy.clone(),
            cron_schedule: ms.cron_schedule.clone(),
            memo: ms.memo.clone(),
            header: ms.header.clone(),
            search_attributes: ms.search_attributes.clone(),
            start_delay: 0,
            initial_signal: None,
            continued_execution_run_id: ms.run_id.clone(),
            first_execution_run_id: ms.first_execution_run_id.clone(),
            initiator: initiator as i32,
            continued_failure: None,
            last_completion_result: None,
            attempt: 1,
            execution_expiration: ms.execution_expiration,
            parent: ms.parent.clone(),
            ..Default::default()
        }
    }

    /// Creates the successor run; the caller commits it with this transition.
    pub(crate) fn start_successor(&mut self, spec: StartRun) {
        let mut ms = MutableState::default();
        let txn = Txn::start(&mut ms, self.now, spec);
        let (events, tasks) = (txn.events, txn.tasks);
        self.new_run = Some(Box::new(NewRunOut { ms, events, tasks }));
    }

    /// What follows a failed (or run-timed-out) run: a retry per the retry policy, else the
    /// next cron run, else nothing. Returns the retry state to record and the successor.
    pub(crate) fn plan_after_failure(&self, failure: &Failure) -> (RetryState, Option<StartRun>) {
        let decision = match &self.ms.retry_policy {
            Some(p) => retry::next_backoff(
                &retry::with_defaults(Some(p.clone())),
                self.ms.attempt,
                failure,
                self.now,
                self.ms.execution_expiration,
            ),
            None => Err(RetryState::RetryPolicyNotSet),
        };
        match decision {
            Ok(delay) => {
                let mut s = self.successor(ContinueAsNewInitiator::Retry);
                s.attempt = self.ms.attempt + 1;
                s.start_delay = delay;
                s.continued_failure = Some(failure.clone());
                (RetryState::InProgress, Some(s))
            }
            Err(state) => match self.cron_successor() {
                Some(mut s) => {
                    s.continued_failure = Some(failure.clone());
                    (state, Some(s))
                }
                None => (state, None),
            },
        }
    }

    /// The next cron run, if the run has a schedule.
    pub(crate) fn cron_successor(&self) -> Option<StartRun> {
        if self.ms.cron_schedule.is_empty() {
            return None;
        }
        let delay = cron_delay(&self.ms.cron_schedule, self.now).ok()?;
        let mut s = self.successor(ContinueAsNewInitiator::CronSchedule);
        s.start_delay = delay;
        Some(s)
    }

    /// The successor requested by a ContinueAsNewWorkflowExecution command.
    pub(crate) fn continue_as_new_spec(
        &self,
        a: &ContinueAsNewWorkflowExecutionCommandAttributes,
    ) -> StartRun {
        let mut s = self.successor(ContinueAsNewInitiator::Workflow);
        if let Some(t) = a.workflow_type.clone().filter(|t| !t.name.is_empty()) {
            s.workflow_type = t;
        }
        if let Some(q) = a.task_queue.as_ref().filter(|q| !q.name.is_empty()) {
            s.task_queue = q.name.clone();
        }
        s.input = a.input.clone();
        if let Some(d) = &a.workflow_run_timeout {
            s.run_timeout = time::from_duration(d);
        }
        if let Some(d) = &a.workflow_task_timeout {
            s.task_timeout = time::from_duration(d);
        }
        s.start_delay = time::opt_duration(&a.backoff_start_interval);
        // Like the real server, throttle tight continue-as-new loops: a run that continues as
        // new within a second of starting delays its successor's first task to that second.
        let elapsed = self.now - self.ms.start_time;
        if s.start_delay == 0 && elapsed < CONTINUE_AS_NEW_MIN_INTERVAL {
            s.start_delay = CONTINUE_AS_NEW_MIN_INTERVAL - elapsed.max(0);
        }
        if a.retry_policy.is_some() {
            s.retry_policy = a.retry_policy.clone();
        }
        if !a.cron_schedule.is_empty() {
            s.cron_schedule = a.cron_schedule.clone();
        }
        if a.header.is_some() {
            s.header = a.header.clone();
        }
        if a.memo.is_some() {
            s.memo = a.memo.clone();
        }
        if a.search_attributes.is_some() {
            s.search_attributes = a.search_attributes.clone();
        }
        s.last_completion_result = a.last_completion_result.clone();
        s.continued_failure = a.failure.clone();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_and_every() {
        // 2026-01-01T00:00:30Z
        let now = 1_767_225_630 * time::SECOND;
        assert_eq!(cron_delay("* * * * *", now), Ok(30 * time::SECOND));
        assert_eq!(cron_delay("@every 90s", now), Ok(90 * time::SECOND));
        assert_eq!(cron_delay("@hourly", now), Ok(3570 * time::SECOND));
        assert!(cron_delay("not a cron", now).is_err());
        assert_eq!(parse_go_duration("1h30m"), Some(5400 * time::SECOND));
    }
}
