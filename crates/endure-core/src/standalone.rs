//! Standalone activities: an activity a client starts on its own (StartActivityExecution), with
//! no workflow around it. What such a run keeps ([`StandaloneActivity`]) and the rules that name
//! and show it; the transitions are in [`crate::standalone_runner`].
//!
//! A standalone activity lives as a system run whose workflow id is
//! [`workflow_id_of`]`(activity id)`, so activity ids are a space of their own beside workflow
//! ids, as on the real server. The run holds the activity as its one pending activity
//! ([`ACTIVITY`]), so dispatch, start, heartbeats, retries, timeouts and cancellation are the
//! very transitions a workflow's activities go through; only the close differs: it records the
//! outcome and closes the run instead of writing history events for a workflow task. The run
//! writes no history. It is stored, cached, fenced and taken over with its shard like any run.
//!
//! The real server keeps these in a store of their own (its CHASM framework); this module
//! deliberately does not know that, nor the wire's `ActivityExecutionInfo` (the frontend
//! presents the run).

use crate::api::activity::v1::{ActivityExecutionOutcome, activity_execution_outcome::Value};
use crate::api::common::v1::Payloads;
use crate::api::enums::v1::{ActivityExecutionStatus, WorkflowExecutionStatus as Status};
use crate::api::failure::v1::{CanceledFailureInfo, Failure, TerminatedFailureInfo, failure::FailureInfo};
use crate::protobytes;
use crate::time::Nanos;
use serde::{Deserialize, Serialize};

/// Prefix of a standalone activity's system-run workflow id. A workflow started under such an
/// id would share the activity's run: Endure's one deliberate crack in the two id spaces.
pub const WORKFLOW_ID_PREFIX: &str = "temporal-sys-activity:";
/// `TemporalNamespaceDivision` of a standalone activity's run: workflow listings leave it out.
/// The real server's value (its standalone activities' archetype id), which its listings show.
pub const NAMESPACE_DIVISION: &str = "3332429922";
/// The scheduled event id of the run's one activity (no event has that id: the run writes no
/// history; the id only names the activity in tasks and tokens).
pub const ACTIVITY: i64 = 1;

/// The system-run workflow id of activity `activity_id`.
pub fn workflow_id_of(activity_id: &str) -> String {
    format!("{WORKFLOW_ID_PREFIX}{activity_id}")
}

/// The activity id of a standalone activity's system-run workflow id.
pub fn activity_id_of(workflow_id: &str) -> Option<&str> {
    workflow_id.strip_prefix(WORKFLOW_ID_PREFIX)
}

/// What a standalone activity's run holds beyond its pending activity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StandaloneActivity {
    /// The activity id.
    pub activity_id: String,
    /// Identity of the client that started it.
    pub identity: String,
    /// The SDK name and version of the worker that last took it (its `client-name` and
    /// `client-version` headers).
    pub sdk_name: String,
    /// See `sdk_name`.
    pub sdk_version: String,
    /// Delay before the first attempt is dispatched, when the start gave one.
    pub start_delay: Option<Nanos>,
    /// The outcome, once closed (result, or failure with its retry state).
    #[serde(with = "protobytes::opt")]
    pub outcome: Option<ActivityExecutionOutcome>,
    /// Why cancellation was requested ("" when it was not).
    pub canceled_reason: String,
    /// Request id of the cancel request (a repeat with the same id is accepted).
    pub cancel_request_id: String,
    /// Whether cancellation was requested.
    pub cancel_requested: bool,
    /// Identity of the client that requested cancellation (the canceled failure names it).
    pub cancel_identity: String,
    /// Request id of the termination.
    pub terminate_request_id: String,
    /// Heartbeats recorded over all attempts.
    pub heartbeat_count: i64,
    /// When the last heartbeat was recorded (0: none), over all attempts.
    pub last_heartbeat_time: Nanos,
    /// When the last attempt started (0: none has).
    pub last_started_time: Nanos,
}

impl StandaloneActivity {
    /// The wire status of a run with workflow status `status`.
    pub fn status(status: i32) -> ActivityExecutionStatus {
        match Status::try_from(status).unwrap_or(Status::Unspecified) {
            Status::Running => ActivityExecutionStatus::Running,
            Status::Completed => ActivityExecutionStatus::Completed,
            Status::Failed => ActivityExecutionStatus::Failed,
            Status::Canceled => ActivityExecutionStatus::Canceled,
            Status::Terminated => ActivityExecutionStatus::Terminated,
            Status::TimedOut => ActivityExecutionStatus::TimedOut,
            _ => ActivityExecutionStatus::Unspecified,
        }
    }
}

/// The outcome of a terminated activity: a terminated failure carrying the reason.
pub fn terminated(reason: &str, identity: &str) -> ActivityExecutionOutcome {
    ActivityExecutionOutcome {
        value: Some(Value::Failure(Failure {
            message: reason.to_owned(),
            failure_info: Some(FailureInfo::TerminatedFailureInfo(TerminatedFailureInfo {
                identity: identity.to_owned(),
            })),
            ..Default::default()
        })),
        retry_state: 0,
    }
}

/// The outcome of a canceled activity: a canceled failure with the details the worker gave.
pub fn canceled(details: Option<Payloads>, identity: &str) -> ActivityExecutionOutcome {
    ActivityExecutionOutcome {
        value: Some(Value::Failure(Failure {
            message: "Activity canceled".into(),
            failure_info: Some(FailureInfo::CanceledFailureInfo(CanceledFailureInfo {
                details,
                identity: identity.to_owned(),
            })),
            ..Default::default()
        })),
        retry_state: 0,
    }
}

/// How the run's status is named in the activity query language (`ExecutionStatus`): the same
/// names as workflow statuses, so the visibility store's status column serves both.
pub fn status_name(s: ActivityExecutionStatus) -> &'static str {
    match s {
        ActivityExecutionStatus::Running => "Running",
        ActivityExecutionStatus::Completed => "Completed",
        ActivityExecutionStatus::Failed => "Failed",
        ActivityExecutionStatus::Canceled => "Canceled",
        ActivityExecutionStatus::Terminated => "Terminated",
        ActivityExecutionStatus::TimedOut => "TimedOut",
        ActivityExecutionStatus::Paused => "Paused",
        ActivityExecutionStatus::Unspecified => "Unspecified",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        assert_eq!(activity_id_of(&workflow_id_of("a:b")), Some("a:b"));
        assert_eq!(activity_id_of("plain"), None);
    }

    #[test]
    fn statuses_map_one_to_one() {
        for (w, a) in [
            (Status::Running, ActivityExecutionStatus::Running),
            (Status::Completed, ActivityExecutionStatus::Completed),
            (Status::Failed, ActivityExecutionStatus::Failed),
            (Status::Canceled, ActivityExecutionStatus::Canceled),
            (Status::Terminated, ActivityExecutionStatus::Terminated),
            (Status::TimedOut, ActivityExecutionStatus::TimedOut),
        ] {
            assert_eq!(StandaloneActivity::status(w as i32), a);
        }
    }
}
