//! Batch jobs, the Worker service's other job: one operation (terminate, cancel, signal,
//! delete, reset, update options) applied to every workflow a query selects or a list names.
//!
//! A job is a system run (`endure_core::batch`) driven by its step task: each step, on the owner
//! of the job's shard, lists a page of targets when it needs one, applies the operation to the
//! next items at the job's rate, and commits the job's checkpoint after every item; after a
//! second of work it hands over to a new step task (committed with the checkpoint), so a job
//! survives a crash or a shard move and resumes at the item it was on.
//!
//! This module does not know how an operation is carried out or where a target lives: the
//! frontend implements [`BatchTargets`] with the same handlers (and routing) as the RPCs.

use crate::clock;
use crate::error::{ApiError, ApiResult};
use crate::history::Engine;
use crate::matching::TaskRef;
use crate::namespaces::Namespaces;
use endure_api::temporal::api::workflowservice::v1::start_batch_operation_request::Operation;
use endure_core::batch::{PAGE_SIZE, Target, target_query};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long one step works before handing over to the next.
const STEP: Duration = Duration::from_secs(1);

/// Finding and acting on a batch job's targets (the frontend implements it).
#[tonic::async_trait]
pub trait BatchTargets: Send + Sync {
    /// A page of the runs `query` selects in `namespace` (a name), after `token`; the next
    /// page's token, empty after the last page.
    async fn list(
        &self,
        namespace: &str,
        query: &str,
        token: &[u8],
        page_size: usize,
    ) -> ApiResult<(Vec<Target>, Vec<u8>)>;

    /// Applies the job's operation to one target. NotFound means there is nothing to act on
    /// (the workflow is gone or closed), which counts as done.
    async fn apply(
        &self,
        namespace: &str,
        job_id: &str,
        reason: &str,
        op: &Operation,
        target: &Target,
    ) -> ApiResult<()>;
}

/// Runs batch jobs' steps.
pub struct Batcher {
    engine: Arc<Engine>,
    namespaces: Arc<Namespaces>,
    targets: OnceLock<Arc<dyn BatchTargets>>,
}

impl Batcher {
    /// A batcher; it works once it is given its targets ([`Batcher::set_targets`]).
    pub fn new(engine: Arc<Engine>, namespaces: Arc<Namespaces>) -> Arc<Self> {
        Arc::new(Batcher { engine, namespaces, targets: OnceLock::new() })
    }

    /// Gives the batcher what finds and acts on targets (once, when the frontend exists).
    pub fn set_targets(&self, targets: Arc<dyn BatchTargets>) {
        let _ = self.targets.set(targets);
    }

    /// Runs one step of the job whose step task `t` fired.
    pub async fn step(&self, t: &TaskRef) -> ApiResult<()> {
        let targets = self
            .targets
            .get()
            .cloned()
            .ok_or_else(|| ApiError::Unavailable("the batcher is starting".into()))?;
        let ms = match self.engine.load(&t.run).await {
            Ok(l) => l.ms,
            Err(ApiError::NotFound(_)) => return self.engine.drop_task(&t.run, t.task_id).await,
            Err(e) => return Err(e),
        };
        let Some(mut b) = ms.batch.clone().filter(|_| ms.is_open()).map(|b| *b) else {
            return self.engine.drop_task(&t.run, t.task_id).await;
        };
        let Some(request) = b.request.clone() else {
            return self
                .engine
                .update(&t.run, Some(t.task_id), |x| x.batch_fail("the job has no request"))
                .await;
        };
        let Some(op) = request.operation.clone() else {
            return self
                .engine
                .update(&t.run, Some(t.task_id), |x| x.batch_fail("the job has no operation"))
                .await;
        };
        let ns = self.namespaces.by_id(&ms.namespace_id).await?;
        let interval = Duration::from_secs_f64(1.0 / b.rps.max(0.01));
        let deadline = clock::monotonic() + STEP;
        while !b.finished() && clock::monotonic() < deadline {
            if b.next_target().is_none() {
                let query = target_query(&request.visibility_query, &op);
                let (page, token) = match targets.list(&ns.name, &query, &b.next_page_token, PAGE_SIZE).await
                {
                    Ok(p) => p,
                    Err(ApiError::InvalidArgument(m)) => {
                        return self.engine.update(&t.run, Some(t.task_id), |x| x.batch_fail(&m)).await;
                    }
                    Err(e) => return Err(e),
                };
                let (p, k) = (page.clone(), token.clone());
                self.engine.update(&t.run, None, |x| x.batch_page(p, k)).await?;
                b.listed_all = token.is_empty();
                b.next_page_token = token;
                b.page = page;
                b.index = 0;
                continue;
            }
            let (index, target) = (b.index, b.page[b.index].clone());
            let ok = match targets.apply(&ns.name, &t.run.workflow_id, &request.reason, &op, &target).await {
                Ok(()) | Err(ApiError::NotFound(_)) => true,
                // The target's shard is moving or the store did not answer: try the item again
                // in a later step.
                Err(e @ (ApiError::Unavailable(_) | ApiError::ShardNotOwned(_))) => return Err(e),
                Err(e) => {
                    tracing::debug!(job_id = %t.run.workflow_id, workflow_id = %target.workflow_id, "batch item failed: {e}");
                    false
                }
            };
            match self.engine.update(&t.run, None, |x| x.batch_item_done(index, ok)).await {
                Ok(()) => b.index += 1,
                // Stopped meanwhile (or another step recorded it): nothing more to do here.
                Err(ApiError::NotFound(_)) => return Ok(()),
                Err(e) => return Err(e),
            }
            // The pause after each item keeps the job's rate across steps too.
            if !b.finished() {
                tokio::time::sleep(interval).await;
            }
        }
        match self.engine.update(&t.run, Some(t.task_id), |x| x.batch_continue()).await {
            Ok(()) | Err(ApiError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
