//! Applying [`WriteBatch`]es: one READ COMMITTED transaction, its statements pipelined.
//!
//! Per transaction: `BEGIN`, then every statement of every batch sent back to back (one round
//! trip), then `COMMIT` (or `ROLLBACK`). The statements, in order:
//!
//! 1. the fence check, if any batch is fenced: a shared advisory lock per fenced shard (so an
//!    acquisition waiting for the shard queues fairly ahead of later commits), then
//!    `SELECT … FROM shards … FOR SHARE` — first, so both locks are held before anything is
//!    written and the lease read is the latest committed one;
//! 2. per batch: the current-run pointer (an insert that does nothing if a row exists, or an
//!    update conditional on the expected run id), the run row (an insert, or an update
//!    conditional on `db_version`), the events (one multi-row insert), the tasks (one multi-row
//!    insert returning the ids), the consumed tasks' delete and the visibility upsert.
//!
//! Conditions are checked from the statements' results, in order; the first failure rolls the
//! whole transaction back, so a failed batch (or group) writes nothing. Conditional updates
//! under READ COMMITTED wait for a concurrent writer of the same row and then re-check their
//! condition against its committed version, so no SERIALIZABLE retry loop is needed.

use crate::error::{backend, describe, is_unique_violation, store_error, unreadable};
use crate::fence::{self, FENCE_LOCK_SQL, FENCE_SQL, SHARD_LOCK_CLASS};
use crate::filter;
use crate::pipeline::{Outcome, PgFuture, run_in_order};
use endure_store::{CommitResult, CurrentCondition, StoreError, StoreResult, WriteBatch};
use std::collections::HashMap;
use tokio_postgres::Statement;
use tokio_postgres::types::ToSql;

const CURRENT_INSERT_SQL: &str = "INSERT INTO current_runs \
     (namespace_id, workflow_id, run_id, status, start_request_id) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (namespace_id, workflow_id) DO NOTHING";
const CURRENT_UPDATE_SQL: &str = "UPDATE current_runs SET run_id = $3, status = $4, start_request_id = $5 \
     WHERE namespace_id = $1 AND workflow_id = $2 AND run_id = $6";
const RUN_INSERT_SQL: &str =
    "INSERT INTO runs (namespace_id, workflow_id, run_id, state, db_version) VALUES ($1, $2, $3, $4, 1)";
const RUN_UPDATE_SQL: &str = "UPDATE runs SET state = $4, db_version = $5 + 1 \
     WHERE namespace_id = $1 AND workflow_id = $2 AND run_id = $3 AND db_version = $5";
const EVENTS_SQL: &str = "INSERT INTO events (namespace_id, workflow_id, run_id, event_id, data) \
     SELECT $1, $2, $3, e.event_id, e.data FROM unnest($4::bigint[], $5::bytea[]) AS e(event_id, data)";
/// Rows are inserted (and ids drawn) in input order; the ids come back sorted anyway.
const TASKS_SQL: &str = "INSERT INTO tasks (shard_id, namespace_id, workflow_id, run_id, fire_at, data) \
     SELECT $1, $2, $3, $4, t.fire_at, t.data \
     FROM unnest($5::bigint[], $6::bytea[]) WITH ORDINALITY AS t(fire_at, data, ord) ORDER BY t.ord \
     RETURNING task_id";
pub(crate) const DELETE_TASKS_SQL: &str = "DELETE FROM tasks WHERE task_id = ANY($1::bigint[])";
/// A run's visibility row, inserted or replaced in place.
const VISIBILITY_SQL: &str = include_str!("../sql/visibility_upsert.sql");

/// One statement of the transaction and the batch it belongs to.
#[derive(Debug, Clone, Copy)]
enum Step {
    FenceLock,
    Fence,
    Current(usize),
    RunInsert(usize),
    RunUpdate(usize),
    Events(usize),
    Tasks(usize),
    DeleteTasks(usize),
    Visibility(usize),
}

/// Values a batch's statements bind that are not fields of the batch itself.
struct Derived<'a> {
    shard_id: i32,
    version: i64,
    event_ids: Vec<i64>,
    event_data: Vec<&'a [u8]>,
    fire_at: Vec<Option<i64>>,
    task_data: Vec<&'a [u8]>,
    custom: String,
    custom_words: String,
}

impl<'a> Derived<'a> {
    fn new(b: &'a WriteBatch) -> Derived<'a> {
        let (custom, custom_words) = match &b.visibility {
            Some(v) => (filter::custom_to_json(&v.custom), filter::custom_words_json(&v.custom)),
            None => (String::new(), String::new()),
        };
        Derived {
            shard_id: b.fence.map_or(0, |f| f.shard_id),
            version: b.expected_version.unwrap_or(0),
            event_ids: b.events.iter().map(|e| e.event_id).collect(),
            event_data: b.events.iter().map(|e| e.data.as_slice()).collect(),
            fire_at: b.new_tasks.iter().map(|t| t.fire_at).collect(),
            task_data: b.new_tasks.iter().map(|t| t.data.as_slice()).collect(),
            custom,
            custom_words,
        }
    }
}

type Params<'a> = Vec<&'a (dyn ToSql + Sync)>;

/// The statements of `b` (index `i`), in order.
fn batch_steps<'a>(
    i: usize,
    b: &'a WriteBatch,
    d: &'a Derived<'a>,
    out: &mut Vec<(Step, &'static str, Params<'a>)>,
) {
    let k = &b.run;
    if let Some(cur) = &b.current {
        let v = &cur.value;
        match &cur.condition {
            CurrentCondition::Absent => out.push((
                Step::Current(i),
                CURRENT_INSERT_SQL,
                vec![&k.namespace_id, &k.workflow_id, &v.run_id, &v.status, &v.start_request_id],
            )),
            CurrentCondition::RunIs(expected) => out.push((
                Step::Current(i),
                CURRENT_UPDATE_SQL,
                vec![&k.namespace_id, &k.workflow_id, &v.run_id, &v.status, &v.start_request_id, expected],
            )),
        }
    }
    match b.expected_version {
        None => out.push((
            Step::RunInsert(i),
            RUN_INSERT_SQL,
            vec![&k.namespace_id, &k.workflow_id, &k.run_id, &b.state],
        )),
        Some(_) => out.push((
            Step::RunUpdate(i),
            RUN_UPDATE_SQL,
            vec![&k.namespace_id, &k.workflow_id, &k.run_id, &b.state, &d.version],
        )),
    }
    if !b.events.is_empty() {
        out.push((
            Step::Events(i),
            EVENTS_SQL,
            vec![&k.namespace_id, &k.workflow_id, &k.run_id, &d.event_ids, &d.event_data],
        ));
    }
    if !b.new_tasks.is_empty() {
        out.push((
            Step::Tasks(i),
            TASKS_SQL,
            vec![&d.shard_id, &k.namespace_id, &k.workflow_id, &k.run_id, &d.fire_at, &d.task_data],
        ));
    }
    if !b.delete_tasks.is_empty() {
        out.push((Step::DeleteTasks(i), DELETE_TASKS_SQL, vec![&b.delete_tasks]));
    }
    if let Some(v) = &b.visibility {
        out.push((
            Step::Visibility(i),
            VISIBILITY_SQL,
            vec![
                &v.namespace_id,
                &v.run_id,
                &v.workflow_id,
                &v.workflow_type,
                &v.task_queue,
                &v.status,
                &v.start_time,
                &v.execution_time,
                &v.close_time,
                &v.history_length,
                &v.history_size_bytes,
                &v.state_transition_count,
                &v.memo,
                &v.search_attributes,
                &v.parent_workflow_id,
                &v.parent_run_id,
                &v.root_workflow_id,
                &v.root_run_id,
                &d.custom,
                &d.custom_words,
            ],
        ));
    }
}

/// Applies `batches` atomically: every batch or none.
pub(crate) async fn commit_batches(
    client: &mut deadpool_postgres::Client,
    batches: &[WriteBatch],
) -> StoreResult<Vec<CommitResult>> {
    if batches.is_empty() {
        return Ok(Vec::new());
    }
    let derived: Vec<Derived<'_>> = batches.iter().map(Derived::new).collect();
    let mut fence_shards: Vec<i32> = batches.iter().filter_map(|b| b.fence.map(|f| f.shard_id)).collect();
    fence_shards.sort_unstable();
    fence_shards.dedup();

    let mut plan: Vec<(Step, &'static str, Params<'_>)> = Vec::new();
    if !fence_shards.is_empty() {
        plan.push((Step::FenceLock, FENCE_LOCK_SQL, vec![&SHARD_LOCK_CLASS, &fence_shards]));
        plan.push((Step::Fence, FENCE_SQL, vec![&fence_shards]));
    }
    for (i, (b, d)) in batches.iter().zip(&derived).enumerate() {
        batch_steps(i, b, d, &mut plan);
    }

    let tx = client.transaction().await.map_err(backend("beginning a transaction"))?;
    let mut statements: HashMap<&'static str, Statement> = HashMap::new();
    for (_, sql, _) in &plan {
        if !statements.contains_key(sql) {
            let st = tx.prepare_cached(sql).await.map_err(backend("preparing a commit statement"))?;
            statements.insert(sql, st);
        }
    }
    let outcomes = {
        let mut futures: Vec<PgFuture<'_>> = Vec::with_capacity(plan.len());
        for (step, sql, params) in &plan {
            let (tx, params) = (&tx, params.as_slice());
            let st = statements
                .get(sql)
                .ok_or_else(|| StoreError::backend("a commit statement was not prepared"))?;
            futures.push(match step {
                Step::Fence | Step::Tasks(_) => {
                    Box::pin(async move { tx.query(st, params).await.map(Outcome::Rows) })
                }
                _ => Box::pin(async move { tx.execute(st, params).await.map(Outcome::Count) }),
            });
        }
        run_in_order(futures).await
    };

    match check(batches, &derived, &plan, outcomes) {
        Ok(results) => {
            tx.commit().await.map_err(backend("committing (the outcome is unknown)"))?;
            Ok(results)
        }
        Err(e) => {
            if let Err(re) = tx.rollback().await {
                tracing::debug!("rolling back a failed commit: {}", describe(&re));
            }
            Err(e)
        }
    }
}

/// Reads the statements' results in order: the first failed condition or error is the
/// transaction's error; otherwise each batch's result.
fn check(
    batches: &[WriteBatch],
    derived: &[Derived<'_>],
    plan: &[(Step, &'static str, Params<'_>)],
    outcomes: Vec<Result<Outcome, tokio_postgres::Error>>,
) -> StoreResult<Vec<CommitResult>> {
    if outcomes.len() != plan.len() {
        return Err(StoreError::backend("a pipelined commit statement got no answer"));
    }
    let mut results: Vec<CommitResult> = derived
        .iter()
        .zip(batches)
        .map(|(d, b)| CommitResult {
            db_version: if b.expected_version.is_some() { d.version + 1 } else { 1 },
            task_ids: Vec::new(),
        })
        .collect();
    for ((step, _, _), outcome) in plan.iter().zip(outcomes) {
        let step = *step;
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                return Err(match step {
                    Step::RunInsert(i) if is_unique_violation(&e) => {
                        let k = &batches[i].run;
                        StoreError::already_exists(format!("run {} of workflow {}", k.run_id, k.workflow_id))
                            .with_source(e)
                    }
                    _ => store_error(describe_step(step, batches), e),
                });
            }
        };
        match (step, outcome) {
            (Step::Fence, Outcome::Rows(rows)) => check_fences(batches, &rows)?,
            (Step::Current(i), Outcome::Count(n)) if n != 1 => {
                let b = &batches[i];
                let cond = b.current.as_ref().map(|c| &c.condition);
                return Err(StoreError::conflict(format!(
                    "current run of workflow {} does not match {cond:?}",
                    b.run.workflow_id
                )));
            }
            (Step::RunUpdate(i), Outcome::Count(n)) if n != 1 => {
                let b = &batches[i];
                return Err(StoreError::conflict(format!(
                    "run {} of workflow {} is not at version {} (changed concurrently or missing)",
                    b.run.run_id, b.run.workflow_id, derived[i].version
                )));
            }
            (Step::Tasks(i), Outcome::Rows(rows)) => {
                let mut ids: Vec<i64> = rows
                    .iter()
                    .map(|r| r.try_get::<_, i64>(0))
                    .collect::<Result<_, _>>()
                    .map_err(|e| unreadable("new task ids", e))?;
                if ids.len() != batches[i].new_tasks.len() {
                    return Err(StoreError::backend(format!(
                        "inserted {} tasks, expected {}",
                        ids.len(),
                        batches[i].new_tasks.len()
                    )));
                }
                ids.sort_unstable();
                results[i].task_ids = ids;
            }
            _ => {}
        }
    }
    Ok(results)
}

/// Checks every fenced batch's lease against the locked `shards` rows.
fn check_fences(batches: &[WriteBatch], rows: &[tokio_postgres::Row]) -> StoreResult<()> {
    fence::check(batches.iter().filter_map(|b| b.fence), rows)
}

fn describe_step(step: Step, batches: &[WriteBatch]) -> String {
    let run = |i: usize| format!("run {} of workflow {}", batches[i].run.run_id, batches[i].run.workflow_id);
    match step {
        Step::FenceLock => "locking shard leases".into(),
        Step::Fence => "checking shard leases".into(),
        Step::Current(i) => format!("writing the current-run pointer of {}", run(i)),
        Step::RunInsert(i) => format!("creating {}", run(i)),
        Step::RunUpdate(i) => format!("updating {}", run(i)),
        Step::Events(i) => format!("appending events to {}", run(i)),
        Step::Tasks(i) => format!("creating tasks of {}", run(i)),
        Step::DeleteTasks(i) => format!("deleting tasks consumed by {}", run(i)),
        Step::Visibility(i) => format!("writing the visibility record of {}", run(i)),
    }
}
