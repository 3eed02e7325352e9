//! Reading rows back: the column lists and the functions turning a result row into a row type.

use crate::error::backend;
use crate::filter;
use endure_store::{NamespaceRow, RunKey, StoreResult, TaskRow, VisibilityRow};
use rusqlite::Connection;

/// A namespace from `SELECT id, name, data`.
pub(crate) fn ns_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NamespaceRow> {
    Ok(NamespaceRow { id: r.get(0)?, name: r.get(1)?, data: r.get(2)? })
}

/// A visibility row from `SELECT {VIS_COLUMNS}`.
pub(crate) fn vis_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VisibilityRow> {
    Ok(VisibilityRow {
        namespace_id: r.get(0)?,
        run_id: r.get(1)?,
        workflow_id: r.get(2)?,
        workflow_type: r.get(3)?,
        task_queue: r.get(4)?,
        status: r.get(5)?,
        start_time: r.get(6)?,
        execution_time: r.get(7)?,
        close_time: r.get(8)?,
        history_length: r.get(9)?,
        history_size_bytes: r.get(10)?,
        state_transition_count: r.get(11)?,
        memo: r.get(12)?,
        search_attributes: r.get(13)?,
        parent_workflow_id: r.get(14)?,
        parent_run_id: r.get(15)?,
        root_workflow_id: r.get(16)?,
        root_run_id: r.get(17)?,
        custom: filter::custom_from_json(&r.get::<_, String>(18)?),
    })
}

/// The columns [`vis_row`] reads, in order.
pub(crate) const VIS_COLUMNS: &str = "namespace_id, run_id, workflow_id, workflow_type, task_queue, status, start_time, \
     execution_time, close_time, history_length, history_size_bytes, state_transition_count, memo, search_attributes, \
     parent_workflow_id, parent_run_id, root_workflow_id, root_run_id, custom";

/// Task rows matching `tail` (a WHERE/ORDER BY clause) with its parameters.
pub(crate) fn task_rows<P: rusqlite::Params>(
    c: &Connection,
    tail: &str,
    params: P,
) -> StoreResult<Vec<TaskRow>> {
    let mut s = c
        .prepare_cached(&format!(
            "SELECT task_id, namespace_id, workflow_id, run_id, fire_at, data, shard_id FROM tasks {tail}"
        ))
        .map_err(backend("reading tasks"))?;
    let rows = s
        .query_map(params, |r| {
            Ok(TaskRow {
                task_id: r.get(0)?,
                shard_id: r.get(6)?,
                run: RunKey { namespace_id: r.get(1)?, workflow_id: r.get(2)?, run_id: r.get(3)? },
                fire_at: r.get(4)?,
                data: r.get(5)?,
            })
        })
        .map_err(backend("reading tasks"))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(backend("reading tasks"))
}
