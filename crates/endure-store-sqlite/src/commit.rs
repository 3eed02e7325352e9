//! Applying [`WriteBatch`]es. Each batch runs inside its own savepoint of the writer's group
//! transaction (see `writer.rs`), so a failed batch writes nothing and leaves the others of the
//! group alone. Per batch, in order: the fence check, the current-run pointer (its condition,
//! then an upsert), the run row (an insert, or an update conditional on `db_version`), the
//! events, the tasks (their ids are SQLite row ids, so they increase), the consumed tasks'
//! deletes and the visibility upsert. The writer thread runs one job at a time, so nothing can
//! change a row between a check and the write that depends on it.

use crate::error::{backend, store_error};
use crate::filter;
use endure_store::{CommitResult, CurrentCondition, Fence, RunKey, StoreError, StoreResult, WriteBatch};
use rusqlite::{Connection, OptionalExtension, params};

const CURRENT_RUN_UPSERT_SQL: &str = include_str!("../sql/current_run_upsert.sql");
const VISIBILITY_UPSERT_SQL: &str = include_str!("../sql/visibility_upsert.sql");

/// Fails unless the batch's lease is still the shard's current one. The writer thread runs one
/// job at a time, so nothing can take the shard between this check and the commit.
pub(crate) fn check_fence(conn: &Connection, fence: &Fence) -> StoreResult<()> {
    let stored: Option<i64> = conn
        .prepare_cached("SELECT range_id FROM shards WHERE shard_id = ?1")
        .and_then(|mut s| s.query_row(params![fence.shard_id], |r| r.get(0)).optional())
        .map_err(backend("checking the shard lease"))?;
    if stored != Some(fence.range_id) {
        return Err(StoreError::ownership_lost(format!(
            "shard {} is at range {stored:?}, this writer holds range {}",
            fence.shard_id, fence.range_id
        )));
    }
    Ok(())
}

/// `map_err` adapter naming the batch's run in the context.
fn failed<'a>(what: &'static str, k: &'a RunKey) -> impl FnOnce(rusqlite::Error) -> StoreError + 'a {
    move |e| store_error(format!("{what} (run {} of workflow {})", k.run_id, k.workflow_id), e)
}

/// Applies one batch (inside the caller's savepoint).
pub(crate) fn apply_batch(conn: &Connection, b: &WriteBatch) -> StoreResult<CommitResult> {
    let k = &b.run;
    if let Some(f) = &b.fence {
        check_fence(conn, f)?;
    }
    if let Some(cur) = &b.current {
        let existing: Option<String> = conn
            .prepare_cached("SELECT run_id FROM current_runs WHERE namespace_id = ?1 AND workflow_id = ?2")
            .and_then(|mut s| s.query_row(params![k.namespace_id, k.workflow_id], |r| r.get(0)).optional())
            .map_err(failed("reading the current run", k))?;
        match (&cur.condition, existing) {
            (CurrentCondition::Absent, None) => {}
            (CurrentCondition::RunIs(want), Some(have)) if *want == have => {}
            (_, have) => {
                return Err(StoreError::conflict(format!(
                    "current run of {} is {have:?}, expected {:?}",
                    k.workflow_id, cur.condition
                )));
            }
        }
        conn.prepare_cached(CURRENT_RUN_UPSERT_SQL)
            .and_then(|mut s| {
                s.execute(params![
                    k.namespace_id,
                    k.workflow_id,
                    cur.value.run_id,
                    cur.value.status,
                    cur.value.start_request_id
                ])
            })
            .map_err(failed("writing the current run", k))?;
    }
    let db_version = match b.expected_version {
        None => {
            conn.prepare_cached(
                "INSERT INTO runs (namespace_id, workflow_id, run_id, state, db_version) VALUES (?1, ?2, ?3, ?4, 1)",
            )
            .and_then(|mut s| s.execute(params![k.namespace_id, k.workflow_id, k.run_id, b.state]))
            .map_err(failed("creating the run", k))?;
            1
        }
        Some(v) => {
            let n = conn
                .prepare_cached(
                    "UPDATE runs SET state = ?1, db_version = ?2 WHERE namespace_id = ?3 AND workflow_id = ?4 \
                     AND run_id = ?5 AND db_version = ?6",
                )
                .and_then(|mut s| s.execute(params![b.state, v + 1, k.namespace_id, k.workflow_id, k.run_id, v]))
                .map_err(failed("updating the run", k))?;
            if n != 1 {
                return Err(StoreError::conflict(format!("run {} changed concurrently", k.run_id)));
            }
            v + 1
        }
    };
    {
        let mut s = conn
            .prepare_cached(
                "INSERT INTO events (namespace_id, workflow_id, run_id, event_id, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(failed("appending events", k))?;
        for e in &b.events {
            s.execute(params![k.namespace_id, k.workflow_id, k.run_id, e.event_id, e.data])
                .map_err(failed("appending events", k))?;
        }
    }
    let mut task_ids = Vec::with_capacity(b.new_tasks.len());
    {
        let mut s = conn
            .prepare_cached(
                "INSERT INTO tasks (namespace_id, workflow_id, run_id, fire_at, data, shard_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(failed("creating tasks", k))?;
        let shard = b.fence.map(|f| f.shard_id).unwrap_or(0);
        for t in &b.new_tasks {
            s.execute(params![k.namespace_id, k.workflow_id, k.run_id, t.fire_at, t.data, shard])
                .map_err(failed("creating tasks", k))?;
            task_ids.push(conn.last_insert_rowid());
        }
    }
    delete_tasks(conn, &b.delete_tasks)?;
    if let Some(v) = &b.visibility {
        conn.prepare_cached(VISIBILITY_UPSERT_SQL)
            .and_then(|mut s| {
                s.execute(params![
                    v.namespace_id,
                    v.run_id,
                    v.workflow_id,
                    v.workflow_type,
                    v.task_queue,
                    v.status,
                    v.start_time,
                    v.execution_time,
                    v.close_time,
                    v.history_length,
                    v.history_size_bytes,
                    v.state_transition_count,
                    v.memo,
                    v.search_attributes,
                    v.parent_workflow_id,
                    v.parent_run_id,
                    v.root_workflow_id,
                    v.root_run_id,
                    filter::custom_to_json(&v.custom)
                ])
            })
            .map_err(failed("writing the visibility record", k))?;
    }
    Ok(CommitResult { db_version, task_ids })
}

/// Deletes tasks by id (missing ones are ignored).
pub(crate) fn delete_tasks(conn: &Connection, ids: &[i64]) -> StoreResult<()> {
    let mut s =
        conn.prepare_cached("DELETE FROM tasks WHERE task_id = ?1").map_err(backend("deleting tasks"))?;
    for id in ids {
        s.execute(params![id]).map_err(backend("deleting tasks"))?;
    }
    Ok(())
}
