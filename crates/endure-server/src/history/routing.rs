//! Task routing: where a committed task goes. Workflow and activity tasks go to their task
//! queue — in this process if it owns the queue's shard, else to the replica that does (in the
//! background, with the core's backoff, until delivered or no longer ours); every other task
//! goes to the timer queue.
//!
//! The router knows no run state. A sticky workflow task whose queue nobody polls is not
//! queued: the router sends it to the `fallback` channel, whose receiver (the engine) moves the
//! run back to its normal queue.

use crate::cluster::Ownership;
use crate::matching::{Dispatch, Matching, QueueKind, TaskRef};
use crate::peer::{AddTask, AddTaskReply, Peers, WireDispatch, json, parse};
use crate::timer_queue::TimerQueue;
use crate::versioning::{self, VersionRouting};
use endure_api::temporal::api::common::v1::RetryPolicy;
use endure_core::Task;
use endure_core::time::{SECOND, to_duration};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Routes committed tasks and queries to task queues and the timer queue.
pub struct TaskRouter {
    ownership: Arc<Ownership>,
    matching: Arc<Matching>,
    timers: Arc<TimerQueue>,
    peers: Arc<Peers>,
    versions: Arc<VersionRouting>,
    fallback: mpsc::UnboundedSender<TaskRef>,
}

/// The worker deployment version a dispatch task is pinned to (`dep:build`, or "").
fn pinned_version(t: &Task) -> &str {
    match t {
        Task::WorkflowTask { version, .. } | Task::ActivityTask { version, .. } => version,
        _ => "",
    }
}

/// How an offer to another replica is retried: from 50 ms, doubling, at most every 2 s.
fn redelivery_policy() -> RetryPolicy {
    RetryPolicy {
        initial_interval: Some(to_duration(SECOND / 20)),
        backoff_coefficient: 2.0,
        maximum_interval: Some(to_duration(2 * SECOND)),
        ..Default::default()
    }
}

impl TaskRouter {
    /// A router; sticky tasks refused for want of a poller are sent to `fallback`.
    pub fn new(
        ownership: Arc<Ownership>,
        matching: Arc<Matching>,
        timers: Arc<TimerQueue>,
        peers: Arc<Peers>,
        versions: Arc<VersionRouting>,
        fallback: mpsc::UnboundedSender<TaskRef>,
    ) -> Arc<Self> {
        Arc::new(TaskRouter { ownership, matching, timers, peers, versions, fallback })
    }

    /// The routing table of versioned task queues.
    pub fn versions(&self) -> &Arc<VersionRouting> {
        &self.versions
    }

    /// Hands a committed task to its task queue (transfer) or the timer queue (timer).
    pub fn dispatch(self: &Arc<Self>, t: TaskRef) {
        match &t.task {
            Task::WorkflowTask { task_queue, sticky, .. } => {
                let (ns, q, sticky) = (t.run.namespace_id.clone(), task_queue.clone(), *sticky);
                self.offer(&ns, &q, QueueKind::Workflow, sticky, Dispatch::Task(t));
            }
            Task::ActivityTask { task_queue, .. } => {
                let (ns, q) = (t.run.namespace_id.clone(), task_queue.clone());
                self.offer(&ns, &q, QueueKind::Activity, false, Dispatch::Task(t));
            }
            _ => self.timers.add(t),
        }
    }

    /// Offers a task or query to its queue: here if this replica owns the queue, else to the
    /// replica that does (in the background, retried until delivered or no longer ours).
    pub fn offer(
        self: &Arc<Self>,
        namespace_id: &str,
        queue: &str,
        kind: QueueKind,
        sticky: bool,
        item: Dispatch,
    ) {
        if self.ownership.holds(self.ownership.queue_shard(namespace_id, queue)) {
            self.offer_here(namespace_id, queue, kind, sticky, item);
            return;
        }
        let router = self.clone();
        let (ns, q) = (namespace_id.to_owned(), queue.to_owned());
        tokio::spawn(async move { router.offer_remote(ns, q, kind, sticky, item).await });
    }

    /// [`TaskRouter::offer`] to a queue this replica owns. A sticky task whose queue nobody
    /// polls (the worker is gone, or we just restarted) falls back now rather than after its
    /// timeout.
    fn offer_here(&self, namespace_id: &str, queue: &str, kind: QueueKind, sticky: bool, item: Dispatch) {
        if !self.accept_offer(namespace_id, queue, kind, sticky, item.clone())
            && let Dispatch::Task(t) = item
        {
            self.fall_back(t);
        }
    }

    /// Queues an offered task or query here; false for a sticky task nobody polls for (not
    /// queued). Used for local offers and for offers from other replicas.
    pub fn accept_offer(
        &self,
        namespace_id: &str,
        queue: &str,
        kind: QueueKind,
        sticky: bool,
        item: Dispatch,
    ) -> bool {
        if sticky {
            // A versioned worker's sticky queue takes only tasks of its own version.
            if let Dispatch::Task(t) = &item
                && !self.versions.sticky_allows(
                    namespace_id,
                    queue,
                    &t.run.workflow_id,
                    pinned_version(&t.task),
                )
            {
                return false;
            }
            if !self.matching.is_live(namespace_id, queue, kind) {
                return false;
            }
            self.matching.add(namespace_id, queue, kind, item);
            return true;
        }
        let (workflow_id, pinned) = match &item {
            Dispatch::Task(t) => (t.run.workflow_id.as_str(), pinned_version(&t.task)),
            Dispatch::Query(q) => (q.run.workflow_id.as_str(), ""),
        };
        let target = self.versions.target(namespace_id, queue, kind, workflow_id, pinned);
        self.matching.add(namespace_id, &versioning::physical(queue, target.as_ref()), kind, item);
        true
    }

    /// Places the waiting tasks of a task queue this replica owns again, after its routing
    /// changed.
    pub fn reroute(&self, namespace_id: &str, queue: &str) {
        for kind in [QueueKind::Workflow, QueueKind::Activity] {
            for p in self.versions.physical_queues(namespace_id, queue, kind) {
                for item in self.matching.drain(namespace_id, &p, kind) {
                    self.accept_offer(namespace_id, queue, kind, false, item);
                }
            }
        }
    }

    fn fall_back(&self, t: TaskRef) {
        // The receiver is gone only when the engine is: nothing to fall back to.
        let _ = self.fallback.send(t);
    }

    /// Delivers an offer to the queue's owning replica, retrying with backoff while the queue's
    /// owner is unknown or unreachable. Gives up when the task's run is no longer ours (its new
    /// owner offers it again), when a query's caller must have given up, or at shutdown.
    async fn offer_remote(
        self: Arc<Self>,
        ns: String,
        queue: String,
        kind: QueueKind,
        sticky: bool,
        item: Dispatch,
    ) {
        let started = crate::clock::monotonic();
        let policy = redelivery_policy();
        let mut attempt = 1;
        loop {
            let shard = self.ownership.queue_shard(&ns, &queue);
            if self.ownership.holds(shard) {
                self.offer_here(&ns, &queue, kind, sticky, item);
                return;
            }
            match &item {
                Dispatch::Task(t)
                    if !self.ownership.holds_workflow(&t.run.namespace_id, &t.run.workflow_id) =>
                {
                    return;
                }
                Dispatch::Query(_)
                    if crate::clock::monotonic().saturating_duration_since(started)
                        > crate::matching::LONG_POLL =>
                {
                    return;
                }
                _ => {}
            }
            if self.ownership.is_stopping() {
                return;
            }
            if let Some(addr) = self.ownership.owner_address(shard) {
                let req = AddTask {
                    namespace_id: ns.clone(),
                    queue: queue.clone(),
                    activity: kind == QueueKind::Activity,
                    sticky,
                    item: WireDispatch::of(&item),
                };
                let sent = match (self.peers.cluster(&addr), json(&req)) {
                    (Ok(mut client), Ok(body)) => client.add_task(body).await.map_err(|s| s.to_string()),
                    (Err(e), _) => Err(e.to_string()),
                    (_, Err(e)) => Err(e.to_string()),
                };
                match sent.and_then(|r| parse::<AddTaskReply>(r.get_ref()).map_err(|s| s.to_string())) {
                    Ok(reply) => {
                        if !reply.accepted
                            && let Dispatch::Task(t) = item
                        {
                            self.fall_back(t);
                        }
                        return;
                    }
                    Err(e) => tracing::debug!(queue = %queue, to = %addr, "offering a task: {e}"),
                }
            }
            let delay = endure_core::retry::backoff_interval(&policy, attempt);
            tokio::time::sleep(Duration::from_nanos(delay.max(0) as u64)).await;
            attempt = attempt.saturating_add(1);
        }
    }
}

impl TaskRouter {
    /// Forgets the task queues of `shard` (it moved to another replica): their waiting pollers
    /// are answered with nothing (they poll again and reach the new owner) and their queued
    /// tasks dropped (their workflows' owners offer them to the new owner).
    pub fn release_queues(&self, shard: i32) {
        let ownership = self.ownership.clone();
        self.matching.release_queues(|ns, q| ownership.queue_shard(ns, q) == shard);
    }
}
