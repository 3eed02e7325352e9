//! Applying [`WriteBatch`]es, all or nothing, and the other writes of runs and tasks.
//!
//! A group (one batch for `commit`, several for `commit_all`) runs as one transaction over the
//! tables (`tables::Txn`): first every batch's fence (as PostgreSQL does, before any write),
//! then per batch, in order, the checks and writes of both SQL backends — the current-run
//! pointer (its condition, then the new value), the run row (a create, or an update at the
//! expected `db_version`), the events (an event id is taken once per run), the new tasks (ids
//! from one increasing counter), the consumed tasks' deletes, the visibility row (replaced by
//! `(namespace id, run id)`). A later batch sees the earlier ones' writes. The first failure
//! takes every change of the group back, so a failed group writes nothing and draws no task id.

use crate::cluster::check_fence;
use crate::tables::{Tables, Txn, canonical_custom};
use endure_store::{
    CommitResult, CurrentCondition, Fence, RunKey, RunRow, StoreError, StoreResult, TaskRow, WriteBatch,
};

/// Applies `batches` atomically: every batch, or none.
pub(crate) fn commit_batches(t: &mut Tables, batches: &[WriteBatch]) -> StoreResult<Vec<CommitResult>> {
    for fence in batches.iter().filter_map(|b| b.fence.as_ref()) {
        check_fence(t, fence)?;
    }
    let mut txn = Txn::begin(t);
    let mut results = Vec::with_capacity(batches.len());
    for b in batches {
        match apply_batch(&mut txn, b) {
            Ok(r) => results.push(r),
            Err(e) => {
                txn.rollback();
                return Err(e);
            }
        }
    }
    txn.commit();
    Ok(results)
}

/// `"run <run> of workflow <workflow>"`.
fn describe(k: &RunKey) -> String {
    format!("run {} of workflow {}", k.run_id, k.workflow_id)
}

/// Applies one batch inside the group's transaction (the fences are already checked).
fn apply_batch(txn: &mut Txn<'_>, b: &WriteBatch) -> StoreResult<CommitResult> {
    let k = &b.run;
    if let Some(cur) = &b.current {
        let wf = (k.namespace_id.clone(), k.workflow_id.clone());
        let existing = txn.tables().current.get(&wf).map(|c| c.run_id.as_str());
        let holds = match (&cur.condition, existing) {
            (CurrentCondition::Absent, None) => true,
            (CurrentCondition::RunIs(want), Some(have)) => want == have,
            _ => false,
        };
        if !holds {
            return Err(StoreError::conflict(format!(
                "current run of workflow {} is {existing:?}, expected {:?}",
                k.workflow_id, cur.condition
            )));
        }
        txn.put_current(wf, cur.value.clone());
    }
    let db_version = match b.expected_version {
        None => {
            if txn.tables().runs.contains_key(k) {
                return Err(StoreError::already_exists(describe(k)));
            }
            1
        }
        Some(v) => match txn.tables().runs.get(k) {
            Some(row) if row.db_version == v => v
                .checked_add(1)
                .ok_or_else(|| StoreError::backend(format!("{} is at the last version", describe(k))))?,
            _ => {
                return Err(StoreError::conflict(format!(
                    "{} is not at version {v} (changed concurrently or missing)",
                    describe(k)
                )));
            }
        },
    };
    txn.put_run(k.clone(), RunRow { state: b.state.clone(), db_version });
    for e in &b.events {
        if !txn.insert_event(k, e.event_id, e.data.clone()) {
            return Err(StoreError::already_exists(format!("event {} of {}", e.event_id, describe(k))));
        }
    }
    let shard_id = b.fence.map_or(0, |f| f.shard_id);
    let task_ids = b
        .new_tasks
        .iter()
        .map(|task| {
            txn.insert_task(TaskRow {
                task_id: 0,
                shard_id,
                run: k.clone(),
                fire_at: task.fire_at,
                data: task.data.clone(),
            })
        })
        .collect();
    for id in &b.delete_tasks {
        txn.delete_task(*id);
    }
    if let Some(v) = &b.visibility {
        let row = endure_store::VisibilityRow { custom: canonical_custom(&v.custom), ..v.clone() };
        txn.put_visibility((v.namespace_id.clone(), v.run_id.clone()), row);
    }
    Ok(CommitResult { db_version, task_ids })
}

/// Deletes tasks by id (missing ones are ignored); with a fence, only while it is the shard's
/// lease. No ids is a no-op without a fence check, as on PostgreSQL.
pub(crate) fn delete_tasks(t: &mut Tables, fence: Option<&Fence>, task_ids: &[i64]) -> StoreResult<()> {
    if task_ids.is_empty() {
        return Ok(());
    }
    if let Some(f) = fence {
        check_fence(t, f)?;
    }
    for id in task_ids {
        t.tasks.remove(id);
    }
    Ok(())
}

/// Deletes a run's history, state, tasks and visibility row, and its current-run pointer if it
/// points at this run.
pub(crate) fn delete_run(t: &mut Tables, k: &RunKey) {
    t.events.remove(k);
    t.runs.remove(k);
    t.tasks.retain(|_, task| task.run != *k);
    let vis = (k.namespace_id.clone(), k.run_id.clone());
    if t.visibility.get(&vis).is_some_and(|v| v.workflow_id == k.workflow_id) {
        t.visibility.remove(&vis);
    }
    let wf = (k.namespace_id.clone(), k.workflow_id.clone());
    if t.current.get(&wf).is_some_and(|c| c.run_id == k.run_id) {
        t.current.remove(&wf);
    }
}
