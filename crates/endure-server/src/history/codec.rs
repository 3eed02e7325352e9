//! How a run is written down: the mutable state's encoding, the visibility row derived from
//! it, and the encoding of history events and outbox tasks.
//!
//! Pure functions: no store, no lock. Mutable state is JSON (protobuf fields as base64) for
//! evolvability (ARCHITECTURE.md says why not a binary encoding yet).

use crate::error::{ApiError, ApiResult};
use crate::matching::TaskRef;
use endure_api::temporal::api::common::v1::{Memo, Payload, SearchAttributes};
use endure_api::temporal::api::history::v1::HistoryEvent;
use endure_core::{MutableState, Task};
use endure_store::visibility::SaValue;
use endure_store::{EventRow, NewTask, RunKey, TaskRow, VisibilityRow};
use prost::Message;

/// Decodes a stored mutable state.
pub fn decode_state(bytes: &[u8]) -> ApiResult<MutableState> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::Internal(format!("corrupt mutable state: {e}")))
}

/// Encodes a mutable state for the store.
pub fn encode_state(ms: &MutableState) -> ApiResult<Vec<u8>> {
    serde_json::to_vec(ms).map_err(|e| ApiError::Internal(format!("encoding mutable state: {e}")))
}

/// The key of the run a state belongs to.
pub fn run_key(ms: &MutableState) -> RunKey {
    RunKey {
        namespace_id: ms.namespace_id.clone(),
        workflow_id: ms.workflow_id.clone(),
        run_id: ms.run_id.clone(),
    }
}

/// The visibility row of a run, derived from its state (`search_attributes`: the run's visible
/// search attributes, `MutableState::visible_search_attributes`; `custom`: their typed values).
pub fn visibility_of(
    ms: &MutableState,
    search_attributes: Option<&SearchAttributes>,
    custom: Vec<(String, SaValue)>,
) -> VisibilityRow {
    let root = ms.root();
    VisibilityRow {
        namespace_id: ms.namespace_id.clone(),
        workflow_id: ms.workflow_id.clone(),
        run_id: ms.run_id.clone(),
        workflow_type: ms.workflow_type.as_ref().map(|t| t.name.clone()).unwrap_or_default(),
        task_queue: ms.task_queue.clone(),
        status: ms.status,
        start_time: ms.start_time,
        execution_time: ms.execution_time,
        close_time: ms.close_time,
        history_length: ms.next_event_id - 1,
        history_size_bytes: ms.history_size_bytes,
        state_transition_count: ms.state_transition_count,
        memo: visible_memo(ms).map(|m| m.encode_to_vec()).unwrap_or_default(),
        search_attributes: search_attributes.map(|m| m.encode_to_vec()).unwrap_or_default(),
        parent_workflow_id: ms.parent.as_ref().map(|p| p.workflow_id.clone()).unwrap_or_default(),
        parent_run_id: ms.parent.as_ref().map(|p| p.run_id.clone()).unwrap_or_default(),
        root_workflow_id: root.0,
        root_run_id: root.1,
        custom,
    }
}

/// The memo key under which a schedule's system run keeps its `ScheduleListInfo` in its
/// visibility row, so ListSchedules reads a page of schedules without loading each one. It is
/// never shown: listings remove it.
pub const SCHEDULE_LIST_INFO_MEMO: &str = "__endure_schedule_list_info";

/// The memo of a run's visibility row: its own, plus a schedule's list info.
fn visible_memo(ms: &MutableState) -> Option<Memo> {
    let Some(s) = &ms.scheduler else { return ms.memo.clone() };
    let mut memo = ms.memo.clone().unwrap_or_default();
    let info = Payload {
        metadata: [("encoding".to_owned(), b"binary/protobuf".to_vec())].into_iter().collect(),
        data: s.list_info().encode_to_vec(),
        ..Default::default()
    };
    memo.fields.insert(SCHEDULE_LIST_INFO_MEMO.to_owned(), info);
    Some(memo)
}

/// Encodes history events for the store.
pub fn encode_events(events: &[HistoryEvent]) -> Vec<EventRow> {
    events.iter().map(|e| EventRow { event_id: e.event_id, data: e.encode_to_vec() }).collect()
}

/// Decodes stored history events.
pub fn decode_events(rows: &[EventRow]) -> ApiResult<Vec<HistoryEvent>> {
    rows.iter()
        .map(|r| {
            HistoryEvent::decode(r.data.as_slice())
                .map_err(|e| ApiError::Internal(format!("corrupt event {}: {e}", r.event_id)))
        })
        .collect()
}

/// Encodes outbox tasks for the store.
pub fn encode_tasks(tasks: &[Task]) -> ApiResult<Vec<NewTask>> {
    tasks
        .iter()
        .map(|t| {
            Ok(NewTask {
                fire_at: t.fire_at(),
                data: serde_json::to_vec(t).map_err(|e| ApiError::Internal(format!("encoding task: {e}")))?,
            })
        })
        .collect()
}

/// Decodes stored tasks; an undecodable one is logged and skipped (it can never run).
pub fn decode_tasks(rows: Vec<TaskRow>) -> Vec<TaskRef> {
    rows.into_iter()
        .filter_map(|row| match serde_json::from_slice::<Task>(&row.data) {
            Ok(task) => Some(TaskRef { task_id: row.task_id, run: row.run, task }),
            Err(e) => {
                tracing::error!(task_id = row.task_id, "skipping undecodable task: {e}");
                None
            }
        })
        .collect()
}
