//! ResetWorkflowExecution: a new run built from a base run's history, committed together with
//! the termination of the workflow's current run.

use super::engine::{Engine, Pending, workflow_not_found};
use crate::error::ApiResult;
use endure_store::{CurrentCondition, CurrentRun, CurrentWrite, RunKey};

impl Engine {
    /// ResetWorkflowExecution: a new run with the base run's history up to the workflow task
    /// that finished at `finish_event_id`, that task failed with cause ResetWorkflow, the
    /// signals received after it re-applied (unless `reapply_signals` is false); the workflow's
    /// current run (the base or a newer one) is terminated if still open and committed together
    /// with the new run. A non-empty `request_id` makes the reset idempotent: the same id again
    /// answers with the run it made. Returns the new run id.
    pub async fn reset(
        &self,
        base: &RunKey,
        finish_event_id: i64,
        reason: &str,
        reapply_signals: bool,
        request_id: &str,
    ) -> ApiResult<String> {
        let _lock = self.lock(&base.namespace_id, &base.workflow_id).await;
        let loaded = self.load_locked(base).await?;
        let current = self
            .current_run(&base.namespace_id, &base.workflow_id)
            .await?
            .ok_or_else(|| workflow_not_found(&base.workflow_id))?;
        // The same reset again (a retried request): its run is the answer.
        if !request_id.is_empty() && current.start_request_id == request_id {
            return Ok(current.run_id);
        }
        let events = self.read_events(base, 1, loaded.ms.next_event_id, usize::MAX).await?;
        endure_core::rebuild::check_reset_point(&events, finish_event_id)?;
        let (prefix, signals) =
            endure_core::rebuild::split_for_reset(&events, finish_event_id, reapply_signals);
        // Random (v4), as the real server's resetter makes it.
        let new_run_id = self.new_id();
        let mut new_ms = endure_core::rebuild::rebuild(&base.namespace_id, &new_run_id, &prefix);
        new_ms.start_request_id = if request_id.is_empty() { self.new_id() } else { request_id.to_owned() };
        let now = self.now();
        let mut t = self.txn(&mut new_ms, now);
        t.finish_reset(&base.run_id, reason, signals)?;
        let (tail, new_tasks) = (std::mem::take(&mut t.events), std::mem::take(&mut t.tasks));
        drop(t);
        new_ms.state_transition_count = 1;
        let mut new_events = prefix;
        new_events.extend(tail);

        // The current run (the base, or a newer run of the workflow) is terminated if still open;
        // its batch commits with the new run.
        let current_key = RunKey { run_id: current.run_id.clone(), ..base.clone() };
        let current_loaded =
            if current.run_id == base.run_id { loaded } else { self.load_locked(&current_key).await? };
        let mut base_ms = current_loaded.ms;
        let base_status = base_ms.status;
        let mut t = self.txn(&mut base_ms, now);
        if t.ms.is_open() {
            t.terminate(reason, None, "history-resetter")?;
        }
        let (base_events, mut base_tasks) = (std::mem::take(&mut t.events), std::mem::take(&mut t.tasks));
        let terminated = t.ms.status != base_status;
        drop(t);
        base_ms.state_transition_count += 1;
        if terminated {
            base_tasks.push(self.retention_task(&base_ms).await?);
        }
        let old =
            self.batch(&base_ms, Some(current_loaded.db_version), None, &base_events, &base_tasks, None)?;
        let pointer = CurrentWrite {
            condition: CurrentCondition::RunIs(current.run_id.clone()),
            value: CurrentRun {
                run_id: new_run_id.clone(),
                status: new_ms.status,
                start_request_id: new_ms.start_request_id.clone(),
            },
        };
        let new = self.batch(&new_ms, None, Some(pointer), &new_events, &new_tasks, None)?;
        self.commit_and_publish(vec![
            Pending { batch: old, ms: base_ms, tasks: base_tasks, closed: terminated },
            Pending { batch: new, ms: new_ms, tasks: new_tasks, closed: false },
        ])
        .await?;
        Ok(new_run_id)
    }
}
