//! Deleting runs: DeleteWorkflowExecution, and retention (a closed run is deleted once its
//! namespace's retention period has passed since it closed; the task is written when it closes).

use super::engine::Engine;
use crate::error::{ApiError, ApiResult};
use endure_store::RunKey;

impl Engine {
    /// Deletes a run (terminating it first if it is still open), as DeleteWorkflowExecution.
    pub async fn delete_run(&self, key: &RunKey, identity: &str) -> ApiResult<()> {
        let _lock = self.lock(&key.namespace_id, &key.workflow_id).await;
        let ms = self.load_locked(key).await?.ms;
        if ms.is_open() {
            let reason = if ms.standalone.is_some() {
                "Delete activity execution"
            } else {
                "Delete workflow execution"
            };
            self.update_locked(key, None, |x| x.terminate(reason, None, identity)).await?;
        }
        self.remove_run(key).await
    }

    /// Retention: deletes a closed run whose retention period ran out (`task_id`: the
    /// DeleteClosedRun task, removed with the run). A run found open again (reset cannot reopen
    /// one, but be safe) or already gone only drops the task.
    pub async fn delete_closed_run(&self, key: &RunKey, task_id: i64) -> ApiResult<()> {
        let _lock = self.lock(&key.namespace_id, &key.workflow_id).await;
        let open = match self.load_locked(key).await {
            Ok(l) => l.ms.is_open(),
            Err(ApiError::NotFound(_)) => return self.drop_task(key, task_id).await,
            Err(e) => return Err(e),
        };
        if open {
            return self.drop_task(key, task_id).await;
        }
        self.remove_run(key).await
    }
}
