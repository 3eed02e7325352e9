//! Temporal's default limits, in one place: payload and memo sizes, history size and length,
//! and the number of pending activities, children, signals and cancel requests.

use crate::api::common::v1::{Memo, Payloads};
use crate::api::enums::v1::SuggestContinueAsNewReason;
use crate::state::MutableState;
use prost::Message;

/// A payload set above this size is rejected (2 MB).
pub const BLOB_SIZE_ERROR: usize = 2 * 1024 * 1024;
/// A memo above this size is rejected (2 MB).
pub const MEMO_SIZE_ERROR: usize = 2 * 1024 * 1024;
/// A history above this size terminates the run (50 MB).
pub const HISTORY_SIZE_ERROR: i64 = 50 * 1024 * 1024;
/// A history above this size is warned about (10 MB).
pub const HISTORY_SIZE_WARN: i64 = 10 * 1024 * 1024;
/// A history longer than this terminates the run (51,200 events).
pub const HISTORY_COUNT_ERROR: i64 = 51_200;
/// A history longer than this is warned about (10,240 events).
pub const HISTORY_COUNT_WARN: i64 = 10_240;
/// Continue-as-new is suggested past this many events (4,096, Temporal's default).
pub const HISTORY_COUNT_SUGGEST_CAN: i64 = 4 * 1024;
/// Continue-as-new is suggested past this size (4 MB, Temporal's default).
pub const HISTORY_SIZE_SUGGEST_CAN: i64 = 4 * 1024 * 1024;
/// Pending activities, children, external signals and cancel requests (each).
pub const MAX_PENDING: usize = 2000;

/// Size of an optional payload set.
pub fn payloads_size(p: &Option<Payloads>) -> usize {
    p.as_ref().map(|p| p.encoded_len()).unwrap_or(0)
}

/// Size of an optional memo.
pub fn memo_size(m: &Option<Memo>) -> usize {
    m.as_ref().map(|m| m.encoded_len()).unwrap_or(0)
}

/// The reasons, if any, to suggest continue-as-new to the worker.
pub fn suggest_continue_as_new(ms: &MutableState) -> Vec<i32> {
    let mut reasons = vec![];
    if ms.next_event_id > HISTORY_COUNT_SUGGEST_CAN {
        reasons.push(SuggestContinueAsNewReason::TooManyHistoryEvents as i32);
    }
    if ms.history_size_bytes > HISTORY_SIZE_SUGGEST_CAN {
        reasons.push(SuggestContinueAsNewReason::HistorySizeTooLarge as i32);
    }
    reasons
}

/// Why a run's history is over the hard limit, if it is (the termination reason Temporal uses).
pub fn history_over_limit(ms: &MutableState) -> Option<&'static str> {
    if ms.history_size_bytes > HISTORY_SIZE_ERROR {
        Some("Workflow history size exceeds limit.")
    } else if ms.next_event_id - 1 > HISTORY_COUNT_ERROR {
        Some("Workflow history count exceeds limit.")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::api::command::v1::{Command, ScheduleActivityTaskCommandAttributes, command::Attributes as C};
    use crate::api::common::v1::{ActivityType, Payload, Payloads, WorkflowType};
    use crate::api::enums::v1::{WorkflowExecutionStatus, WorkflowTaskFailedCause};
    use crate::commands::{CompletionOutcome, WorkflowTaskCompletion};
    use crate::state::MutableState;
    use crate::transition::{StartRun, Txn};

    fn started_task() -> MutableState {
        let mut ms = MutableState::default();
        let req = StartRun {
            namespace_id: "ns".into(),
            workflow_id: "wf".into(),
            run_id: "run".into(),
            workflow_type: WorkflowType { name: "T".into() },
            task_queue: "q".into(),
            ..Default::default()
        };
        let _ = Txn::start(&mut ms, 1, req);
        Txn::new(&mut ms, 2).start_workflow_task(1, "r", &crate::transition::Poller::identity("me")).unwrap();
        ms
    }

    fn activity(id: usize, input: Option<Payloads>) -> Command {
        Command {
            attributes: Some(C::ScheduleActivityTaskCommandAttributes(
                ScheduleActivityTaskCommandAttributes {
                    activity_id: id.to_string(),
                    activity_type: Some(ActivityType { name: "A".into() }),
                    start_to_close_timeout: Some(crate::time::to_duration(crate::time::SECOND)),
                    input,
                    ..Default::default()
                },
            )),
            ..Default::default()
        }
    }

    #[test]
    fn too_many_pending_activities_fails_the_task() {
        let mut ms = started_task();
        let commands = (0..=super::MAX_PENDING).map(|i| activity(i, None)).collect();
        let mut t = Txn::new(&mut ms, 3);
        let out =
            t.complete_workflow_task(1, WorkflowTaskCompletion { commands, ..Default::default() }).unwrap();
        assert!(matches!(
            out,
            CompletionOutcome::Failed { cause: WorkflowTaskFailedCause::PendingActivitiesLimitExceeded, .. }
        ));
        assert!(ms.activities.is_empty(), "a failed task leaves no activity behind");
    }

    #[test]
    fn oversized_activity_input_fails_the_workflow() {
        let mut ms = started_task();
        let big = Payloads {
            payloads: vec![Payload { data: vec![0; super::BLOB_SIZE_ERROR + 1], ..Default::default() }],
        };
        let mut t = Txn::new(&mut ms, 3);
        t.complete_workflow_task(
            1,
            WorkflowTaskCompletion { commands: vec![activity(1, Some(big))], ..Default::default() },
        )
        .unwrap();
        assert_eq!(ms.status, WorkflowExecutionStatus::Terminated as i32);
    }

    #[test]
    fn long_history_is_terminated_and_suggests_continue_as_new_before() {
        let mut ms = started_task();
        ms.next_event_id = super::HISTORY_COUNT_SUGGEST_CAN + 10;
        assert!(!super::suggest_continue_as_new(&ms).is_empty());
        ms.next_event_id = super::HISTORY_COUNT_ERROR + 10;
        let mut t = Txn::new(&mut ms, 3);
        t.complete_workflow_task(1, WorkflowTaskCompletion::default()).unwrap();
        assert_eq!(ms.status, WorkflowExecutionStatus::Terminated as i32);
    }
}
