//! Worker Deployments as the server keeps them: a versioned worker's poll registers its version
//! and task queue with the deployment's system run (made by the first such poll), and the
//! deployment's routing reaches the routing table of its task queues ([`crate::versioning`]),
//! whose waiting tasks are then placed again.
//!
//! Registration is remembered for a few seconds per (version, queue), so a poll costs a map
//! lookup; each renewal re-reads the deployment (from the engine's cache) and re-applies its
//! routing, which is how a replica that did not make a routing change learns it in a cluster.
//! This module does not know the wire (the frontend presents deployments) nor who polls.

use crate::error::{ApiError, ApiResult};
use crate::history::{Engine, NewRun};
use crate::matching::QueueKind;
use endure_api::temporal::api::enums::v1::TaskQueueType;
use endure_core::MutableState;
use endure_core::deployment::{DeploymentState, Version, workflow_id_of};
use endure_store::{CurrentCondition, RunKey};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long a registration is trusted before the deployment is read again.
const RENEW: Duration = Duration::from_secs(5);

type Registration = (String, Version, String, QueueKind);

/// Registers versions and spreads deployments' routing.
pub struct Deployments {
    engine: Arc<Engine>,
    ownership: Arc<crate::cluster::Ownership>,
    peers: Arc<crate::peer::Peers>,
    known: Mutex<HashMap<Registration, Instant>>,
}

/// The `TaskQueueType` of a queue kind.
pub fn queue_type(kind: QueueKind) -> i32 {
    match kind {
        QueueKind::Workflow => TaskQueueType::Workflow as i32,
        QueueKind::Activity => TaskQueueType::Activity as i32,
    }
}

fn kind_of(t: i32) -> Option<QueueKind> {
    match TaskQueueType::try_from(t).ok()? {
        TaskQueueType::Workflow => Some(QueueKind::Workflow),
        TaskQueueType::Activity => Some(QueueKind::Activity),
        _ => None,
    }
}

impl Deployments {
    /// The service.
    pub fn new(
        engine: Arc<Engine>,
        ownership: Arc<crate::cluster::Ownership>,
        peers: Arc<crate::peer::Peers>,
    ) -> Arc<Self> {
        Arc::new(Deployments { engine, ownership, peers, known: Mutex::new(HashMap::new()) })
    }

    /// The system run of deployment `name`, if it exists (and is not deleted).
    pub async fn load(&self, namespace_id: &str, name: &str) -> ApiResult<Option<(RunKey, MutableState)>> {
        let workflow_id = workflow_id_of(name);
        let Some(cur) = self.engine.current_run(namespace_id, &workflow_id).await? else { return Ok(None) };
        let key = RunKey { namespace_id: namespace_id.to_owned(), workflow_id, run_id: cur.run_id };
        let ms = self.engine.load(&key).await?.ms;
        if !ms.is_open() || ms.deployment.is_none() {
            return Ok(None);
        }
        Ok(Some((key, ms)))
    }

    /// A versioned worker polls `queue`: its version and the queue are recorded with the
    /// deployment (made if new), and the deployment's routing applied to its queues.
    pub async fn register(
        &self,
        namespace_id: &str,
        version: &Version,
        queue: &str,
        kind: QueueKind,
    ) -> ApiResult<()> {
        let reg = (namespace_id.to_owned(), version.clone(), queue.to_owned(), kind);
        let now = crate::clock::monotonic();
        if self.known.lock().get(&reg).is_some_and(|t| now.saturating_duration_since(*t) < RENEW) {
            return Ok(());
        }
        let versions = self.engine.router().versions().clone();
        versions.add_version(namespace_id, queue, kind, version);
        let workflow_id = workflow_id_of(&version.deployment);
        let key = RunKey {
            namespace_id: namespace_id.to_owned(),
            workflow_id: workflow_id.clone(),
            run_id: String::new(),
        };
        let state = if self.engine.owns_run(&key) {
            Some(self.record(namespace_id, version, queue, kind).await?)
        } else {
            // Held by another replica: it records the registration and answers the state.
            match self.register_remotely(namespace_id, version, queue, kind).await {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::debug!(deployment = %version.deployment, "registering a version: {e}");
                    let d = self.load(namespace_id, &version.deployment).await?;
                    if let Some(d) = d.and_then(|(_, ms)| ms.deployment.map(|d| *d)) {
                        self.apply(namespace_id, &d);
                    }
                    // Not remembered: the next poll tries again.
                    return Ok(());
                }
            }
        };
        if let Some(d) = state {
            self.apply(namespace_id, &d);
        }
        self.known.lock().insert(reg, now);
        Ok(())
    }

    /// What [`Deployments::register`] asks of the deployment's owner (the internal API's
    /// RegisterVersion): the registration recorded here, the deployment's state answered.
    pub async fn register_here(
        &self,
        namespace_id: &str,
        version: &Version,
        queue: &str,
        kind: QueueKind,
    ) -> ApiResult<DeploymentState> {
        let key = RunKey {
            namespace_id: namespace_id.to_owned(),
            workflow_id: workflow_id_of(&version.deployment),
            run_id: String::new(),
        };
        if !self.engine.owns_run(&key) {
            return Err(ApiError::ShardNotOwned(format!(
                "deployment {} is not held here",
                version.deployment
            )));
        }
        self.record(namespace_id, version, queue, kind).await
    }

    async fn register_remotely(
        &self,
        namespace_id: &str,
        version: &Version,
        queue: &str,
        kind: QueueKind,
    ) -> ApiResult<DeploymentState> {
        let addr = self.engine.owner_of(namespace_id, &workflow_id_of(&version.deployment))?;
        let body = crate::peer::json(&crate::peer::RegisterVersion {
            namespace_id: namespace_id.to_owned(),
            version: version.clone(),
            queue: queue.to_owned(),
            activity: kind == QueueKind::Activity,
        })?;
        let mut client = self.peers.cluster(&addr)?;
        let reply = client.register_version(body).await.map_err(ApiError::from_peer)?;
        crate::peer::parse(reply.get_ref())
    }

    async fn record(
        &self,
        namespace_id: &str,
        version: &Version,
        queue: &str,
        kind: QueueKind,
    ) -> ApiResult<DeploymentState> {
        let workflow_id = workflow_id_of(&version.deployment);
        let ty = queue_type(kind);
        let _lock = self.engine.lock(namespace_id, &workflow_id).await;
        let existing = match self.engine.current_run(namespace_id, &workflow_id).await? {
            Some(cur) => {
                let key = RunKey {
                    namespace_id: namespace_id.to_owned(),
                    workflow_id: workflow_id.clone(),
                    run_id: cur.run_id.clone(),
                };
                let ms = self.engine.load(&key).await?.ms;
                Some((key, ms, cur))
            }
            None => None,
        };
        match existing {
            Some((key, ms, _)) if ms.is_open() && ms.deployment.is_some() => {
                let known = ms.deployment.as_deref().is_some_and(|d| {
                    d.versions
                        .get(&version.build_id)
                        .is_some_and(|v| v.task_queues.contains(&(queue.to_owned(), ty)))
                });
                if known {
                    return Ok(ms.deployment.map(|d| *d).unwrap_or_default());
                }
                self.engine
                    .update_locked(&key, None, |x| {
                        x.register_version(&version.build_id, queue, ty)?;
                        Ok(x.ms.deployment.as_deref().cloned().unwrap_or_default())
                    })
                    .await
            }
            other => {
                let condition = match other {
                    Some((_, _, cur)) => CurrentCondition::RunIs(cur.run_id),
                    None => CurrentCondition::Absent,
                };
                let now = self.engine.now();
                let mut ms = endure_core::deployer::new_deployment(
                    namespace_id,
                    &version.deployment,
                    &self.engine.new_run_id(),
                    now,
                );
                let mut txn = self.engine.txn(&mut ms, now);
                txn.register_version(&version.build_id, queue, ty)?;
                drop(txn);
                self.engine.create_run(NewRun { ms: &ms, events: vec![], tasks: vec![], condition }).await?;
                Ok(ms.deployment.map(|d| *d).unwrap_or_default())
            }
        }
    }

    /// Applies a deployment's routing to the task queues of its versions: here, and for the
    /// queues another replica owns, there too (told in the background; a queue owner that misses
    /// it learns the routing at its pollers' next registration). Queues whose routing changed
    /// have their waiting tasks placed again.
    pub fn apply(&self, namespace_id: &str, d: &DeploymentState) {
        for queue in d.task_queues() {
            let versions: Vec<(String, bool)> = d
                .versions
                .values()
                .flat_map(|v| {
                    v.task_queues
                        .iter()
                        .filter(|(q, _)| *q == queue)
                        .filter_map(|(_, ty)| kind_of(*ty))
                        .map(|k| (v.build_id.clone(), k == QueueKind::Activity))
                })
                .collect();
            let msg = crate::peer::ApplyRoute {
                namespace_id: namespace_id.to_owned(),
                queue: queue.clone(),
                route: d.route.clone(),
                versions,
            };
            let shard = self.ownership.queue_shard(namespace_id, &queue);
            self.apply_route_here(&msg);
            if self.ownership.holds(shard) {
                continue;
            }
            let Some(addr) = self.ownership.owner_address(shard) else { continue };
            let peers = self.peers.clone();
            tokio::spawn(async move {
                let sent = async {
                    let body = crate::peer::json(&msg)?;
                    peers.cluster(&addr)?.apply_route(body).await.map_err(ApiError::from_peer)?;
                    Ok::<_, ApiError>(())
                };
                if let Err(e) = sent.await {
                    tracing::debug!(queue = %msg.queue, "telling a queue's owner its routing: {e}");
                }
            });
        }
    }

    /// A task queue's routing, as its deployment's owner tells it: recorded in the routing
    /// table, and the queue's waiting tasks placed again when it changed.
    pub fn apply_route_here(&self, r: &crate::peer::ApplyRoute) {
        let router = self.engine.router();
        let versions = router.versions();
        for (build, activity) in &r.versions {
            let kind = if *activity { QueueKind::Activity } else { QueueKind::Workflow };
            versions.add_version(&r.namespace_id, &r.queue, kind, &Version::new(&r.route.deployment, build));
        }
        if versions.set_route(&r.namespace_id, &r.queue, &r.route) {
            router.reroute(&r.namespace_id, &r.queue);
        }
    }

    /// Forgets what was registered for a deployment (it changed here: the next polls re-read
    /// it).
    pub fn forget(&self, namespace_id: &str, name: &str) {
        self.known.lock().retain(|(ns, v, _, _), _| !(ns == namespace_id && v.deployment == name));
    }
}

/// NOT_FOUND for an unknown deployment, as the real server words it.
pub fn deployment_not_found(name: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no Worker Deployment found with name '{name}'; does your Worker Deployment have pollers?"
    ))
}
