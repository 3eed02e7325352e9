//! Small constructors for failures used in events.

use crate::api::common::v1::Payloads;
use crate::api::enums::v1::TimeoutType;
use crate::api::failure::v1::{Failure, TimeoutFailureInfo, failure::FailureInfo};

/// The failure Temporal records when an activity or workflow times out.
pub fn timeout_failure(
    what: &str,
    timeout_type: TimeoutType,
    last_heartbeat_details: Option<Payloads>,
    cause: Option<Failure>,
) -> Failure {
    let name = match timeout_type {
        TimeoutType::StartToClose => "StartToClose",
        TimeoutType::ScheduleToStart => "ScheduleToStart",
        TimeoutType::ScheduleToClose => "ScheduleToClose",
        TimeoutType::Heartbeat => "Heartbeat",
        TimeoutType::Unspecified => "Unspecified",
    };
    Failure {
        message: format!("{what} {name} timeout"),
        cause: cause.map(Box::new),
        failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
            timeout_type: timeout_type as i32,
            last_heartbeat_details,
        })),
        ..Default::default()
    }
}
