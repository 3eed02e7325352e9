//! Reading rows back: the column lists and the functions turning a result row into a row type.

use crate::error::unreadable;
use crate::filter;
use endure_store::{EventRow, NamespaceRow, RunKey, StoreResult, TaskRow, VisibilityRow};
use tokio_postgres::Row;

/// Reads column `i` of `row`.
pub(crate) fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    i: usize,
    what: &str,
) -> StoreResult<T> {
    row.try_get(i).map_err(|e| unreadable(what, e))
}

/// A namespace from `SELECT id, name, data`.
pub(crate) fn ns_row(r: &Row) -> StoreResult<NamespaceRow> {
    Ok(NamespaceRow {
        id: get(r, 0, "a namespace")?,
        name: get(r, 1, "a namespace")?,
        data: get(r, 2, "a namespace")?,
    })
}

/// An event from `SELECT event_id, data`.
pub(crate) fn event_row(r: &Row) -> StoreResult<EventRow> {
    Ok(EventRow { event_id: get(r, 0, "an event")?, data: get(r, 1, "an event")? })
}

/// The columns [`task_row`] reads, in order.
pub(crate) const TASK_COLUMNS: &str = "task_id, shard_id, namespace_id, workflow_id, run_id, fire_at, data";

/// A task from `SELECT {TASK_COLUMNS}`.
pub(crate) fn task_row(r: &Row) -> StoreResult<TaskRow> {
    let w = "a task";
    Ok(TaskRow {
        task_id: get(r, 0, w)?,
        shard_id: get(r, 1, w)?,
        run: RunKey { namespace_id: get(r, 2, w)?, workflow_id: get(r, 3, w)?, run_id: get(r, 4, w)? },
        fire_at: get(r, 5, w)?,
        data: get(r, 6, w)?,
    })
}

/// The columns [`vis_row`] reads, in order.
pub(crate) const VIS_COLUMNS: &str = "namespace_id, run_id, workflow_id, workflow_type, task_queue, status, start_time, \
     execution_time, close_time, history_length, history_size_bytes, state_transition_count, memo, \
     search_attributes, parent_workflow_id, parent_run_id, root_workflow_id, root_run_id, custom::text";

/// A visibility row from `SELECT {VIS_COLUMNS}`.
pub(crate) fn vis_row(r: &Row) -> StoreResult<VisibilityRow> {
    let w = "a visibility record";
    Ok(VisibilityRow {
        namespace_id: get(r, 0, w)?,
        run_id: get(r, 1, w)?,
        workflow_id: get(r, 2, w)?,
        workflow_type: get(r, 3, w)?,
        task_queue: get(r, 4, w)?,
        status: get(r, 5, w)?,
        start_time: get(r, 6, w)?,
        execution_time: get(r, 7, w)?,
        close_time: get(r, 8, w)?,
        history_length: get(r, 9, w)?,
        history_size_bytes: get(r, 10, w)?,
        state_transition_count: get(r, 11, w)?,
        memo: get(r, 12, w)?,
        search_attributes: get(r, 13, w)?,
        parent_workflow_id: get(r, 14, w)?,
        parent_run_id: get(r, 15, w)?,
        root_workflow_id: get(r, 16, w)?,
        root_run_id: get(r, 17, w)?,
        custom: filter::custom_from_json(get::<&str>(r, 18, w)?),
    })
}
