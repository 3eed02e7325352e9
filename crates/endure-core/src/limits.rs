//! Temporal's default limits, in one place: payload and memo sizes, history size and length,
//! and the number of pending activities, children, signals and cancel requests.

use crate::api::common::v1::{Memo, Payloads};
use crate::api::enums::v1::SuggestContinueAsNewReason;
use crate::state::MutableState;
use prost::Message;

/// A payload set above this size is rejected (2 MB).
pub const BLOB_SIZE_ERROR: usize = 2 * 1024 * 1024;
/// A payload set above this size is warned about (512 KB); the error limit applies only above it.
pub const BLOB_SIZE_WARN: usize = 512 * 1024;
/// A memo above this size is warned about (2 KB); the error limit applies only above it.
pub const MEMO_SIZE_WARN: usize = 2 * 1024;
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
/// Updates in flight at once in a run (Temporal's default).
pub const MAX_IN_FLIGHT_UPDATES: usize = 10;
/// Updates a run may take in all (Temporal's default).
pub const MAX_TOTAL_UPDATES: usize = 2000;
/// The share of [`MAX_TOTAL_UPDATES`] past which continue-as-new is suggested (Temporal's).
pub const TOTAL_UPDATES_SUGGEST_CAN: f64 = 0.9;
/// Pending activities, children, external signals and cancel requests (each).
pub const MAX_PENDING: usize = 2000;

/// The limits a run is held to: Temporal's defaults unless the server's dynamic config says
/// otherwise (the keys are in the server's `dynamic_config`; this crate does not know them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// A payload set above this size is refused (`limit.blobSize.error`), if it is above the
    /// warning size too.
    pub blob_size_error: usize,
    /// A payload set above this size is warned about (`limit.blobSize.warn`).
    pub blob_size_warn: usize,
    /// A memo above this size is refused (`limit.memoSize.error`), if it is above the warning
    /// size too.
    pub memo_size_error: usize,
    /// A memo above this size is warned about (`limit.memoSize.warn`).
    pub memo_size_warn: usize,
    /// A history above this size terminates the run (`limit.historySize.error`).
    pub history_size_error: i64,
    /// A history above this size is warned about (`limit.historySize.warn`).
    pub history_size_warn: i64,
    /// A history longer than this terminates the run (`limit.historyCount.error`).
    pub history_count_error: i64,
    /// A history longer than this is warned about (`limit.historyCount.warn`).
    pub history_count_warn: i64,
    /// Continue-as-new is suggested past this many events (`limit.historyCount.suggestContinueAsNew`).
    pub history_count_suggest_can: i64,
    /// Continue-as-new is suggested past this size (`limit.historySize.suggestContinueAsNew`).
    pub history_size_suggest_can: i64,
    /// Pending activities (`limit.numPendingActivities.error`).
    pub pending_activities: usize,
    /// Pending children (`limit.numPendingChildExecutions.error`).
    pub pending_children: usize,
    /// Pending external signals (`limit.numPendingSignals.error`).
    pub pending_signals: usize,
    /// Pending external cancel requests (`limit.numPendingCancelRequests.error`).
    pub pending_cancels: usize,
    /// Updates admitted or accepted and not completed, at once (`history.maxInFlightUpdates`).
    pub max_in_flight_updates: usize,
    /// Updates a run may take in all (`history.maxTotalUpdates`).
    pub max_total_updates: usize,
    /// Continue-as-new is suggested once this share of `max_total_updates` is used
    /// (`history.maxTotalUpdates.suggestContinueAsNewThreshold`).
    pub total_updates_suggest_can: f64,
    /// Most search attributes one request may set (`frontend.searchAttributesNumberOfKeysLimit`).
    pub search_attribute_keys: usize,
    /// Largest encoded value of one search attribute (`frontend.searchAttributesSizeOfValueLimit`).
    pub search_attribute_value_bytes: usize,
    /// Largest total of a request's search attributes, names and values
    /// (`frontend.searchAttributesTotalSizeLimit`).
    pub search_attribute_total_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            blob_size_error: BLOB_SIZE_ERROR,
            blob_size_warn: BLOB_SIZE_WARN,
            memo_size_error: MEMO_SIZE_ERROR,
            memo_size_warn: MEMO_SIZE_WARN,
            history_size_error: HISTORY_SIZE_ERROR,
            history_size_warn: HISTORY_SIZE_WARN,
            history_count_error: HISTORY_COUNT_ERROR,
            history_count_warn: HISTORY_COUNT_WARN,
            history_count_suggest_can: HISTORY_COUNT_SUGGEST_CAN,
            history_size_suggest_can: HISTORY_SIZE_SUGGEST_CAN,
            pending_activities: MAX_PENDING,
            pending_children: MAX_PENDING,
            pending_signals: MAX_PENDING,
            pending_cancels: MAX_PENDING,
            max_in_flight_updates: MAX_IN_FLIGHT_UPDATES,
            max_total_updates: MAX_TOTAL_UPDATES,
            total_updates_suggest_can: TOTAL_UPDATES_SUGGEST_CAN,
            search_attribute_keys: 100,
            search_attribute_value_bytes: 2048,
            search_attribute_total_bytes: 40 * 1024,
        }
    }
}

/// The bytes an event adds to a history's size: its size inside a `History` message (the
/// event, its field tag and length), as the real server counts `history_size_bytes`.
pub fn event_size(ev: &crate::api::history::v1::HistoryEvent) -> i64 {
    prost::encoding::message::encoded_len(1, ev) as i64
}

/// Size of an optional payload set.
pub fn payloads_size(p: &Option<Payloads>) -> usize {
    p.as_ref().map(|p| p.encoded_len()).unwrap_or(0)
}

/// Size of an optional memo.
pub fn memo_size(m: &Option<Memo>) -> usize {
    m.as_ref().map(|m| m.encoded_len()).unwrap_or(0)
}

impl Limits {
    /// Whether a payload set of `size` bytes is refused. As the real server, the error limit is
    /// checked only for sizes above the warning limit: lowering the error limit alone below the
    /// warning limit has no effect there, nor here.
    pub fn blob_too_large(&self, size: usize) -> bool {
        size > self.blob_size_warn && size > self.blob_size_error
    }

    /// Whether a memo of `size` bytes is refused (the same rule as [`Limits::blob_too_large`]).
    pub fn memo_too_large(&self, size: usize) -> bool {
        size > self.memo_size_warn && size > self.memo_size_error
    }

    /// The reasons, if any, to suggest continue-as-new to the worker whose workflow task starts
    /// now (its started event takes the next event id): as the real server, when that id or the
    /// size already written reaches its threshold; size first.
    pub fn suggest_continue_as_new(&self, ms: &MutableState) -> Vec<i32> {
        let mut reasons = vec![];
        if ms.history_size_bytes >= self.history_size_suggest_can {
            reasons.push(SuggestContinueAsNewReason::HistorySizeTooLarge as i32);
        }
        if ms.next_event_id >= self.history_count_suggest_can {
            reasons.push(SuggestContinueAsNewReason::TooManyHistoryEvents as i32);
        }
        let updates = (ms.updates.len() + ms.completed_updates.len()) as f64;
        if updates > 0.0 && updates >= (self.max_total_updates as f64 * self.total_updates_suggest_can).ceil()
        {
            reasons.push(SuggestContinueAsNewReason::TooManyUpdates as i32);
        }
        reasons
    }

    /// Why a change of a run must not be written, if it must not: the run (still open after the
    /// change, `ms`) has a history over the error limits, in size as written before the change
    /// (`size_before`) or in length with the change's own events. The real server checks every
    /// change of a run this way, drops the change and terminates the run with this reason.
    pub fn history_over_limit(&self, size_before: i64, ms: &MutableState) -> Option<&'static str> {
        if !ms.is_open() {
            None
        } else if size_before > self.history_size_error {
            Some("Workflow history size exceeds limit.")
        } else if ms.next_event_id - 1 > self.history_count_error {
            Some("Workflow history count exceeds limit.")
        } else {
            None
        }
    }

    /// Whether a history of `size` bytes whose next event id is `next_event_id` is past a
    /// warning threshold.
    pub fn history_over_warning(&self, size: i64, next_event_id: i64) -> bool {
        size > self.history_size_warn || next_event_id - 1 > self.history_count_warn
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
                    task_queue: Some(crate::api::taskqueue::v1::TaskQueue {
                        name: "q".into(),
                        ..Default::default()
                    }),
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
    fn long_history_is_over_the_limit_and_suggests_continue_as_new_before() {
        let limits = super::Limits::default();
        let mut ms = started_task();
        ms.next_event_id = super::HISTORY_COUNT_SUGGEST_CAN - 1;
        assert!(limits.suggest_continue_as_new(&ms).is_empty());
        // The started event would take id 4096: suggested (>=, as the real server).
        ms.next_event_id = super::HISTORY_COUNT_SUGGEST_CAN;
        assert_eq!(limits.suggest_continue_as_new(&ms), vec![2]);
        ms.history_size_bytes = super::HISTORY_SIZE_SUGGEST_CAN;
        assert_eq!(limits.suggest_continue_as_new(&ms), vec![1, 2], "size first");
        // Exactly the limit is allowed; one event more is not.
        ms.history_size_bytes = 0;
        ms.next_event_id = super::HISTORY_COUNT_ERROR + 1;
        assert_eq!(limits.history_over_limit(0, &ms), None);
        ms.next_event_id += 1;
        assert_eq!(limits.history_over_limit(0, &ms), Some("Workflow history count exceeds limit."));
        // Size counts what was written before the change.
        ms.next_event_id = 10;
        assert_eq!(limits.history_over_limit(super::HISTORY_SIZE_ERROR, &ms), None);
        assert_eq!(
            limits.history_over_limit(super::HISTORY_SIZE_ERROR + 1, &ms),
            Some("Workflow history size exceeds limit.")
        );
        // A change that closes the run is written.
        ms.close_time = 1;
        assert_eq!(limits.history_over_limit(super::HISTORY_SIZE_ERROR + 1, &ms), None);
    }
}
