//! The server side of the replica-to-replica API (see [`crate::peer`]).

use super::Frontend;
use crate::error::ApiError;
use crate::matching::TaskRef;
use crate::peer::{AddTask, AddTaskReply, StartTask, WireTask, json, parse};
use endure_api::internal::Json;
use endure_api::internal::cluster::cluster_server::Cluster;
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_core::transition::Poller;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// `endure.internal.v1.Cluster`, served on the internal endpoint only.
#[derive(Clone)]
pub struct ClusterService(pub Arc<Frontend>);

impl ClusterService {
    /// The task of a start request, refused unless this replica holds its workflow.
    fn owned_task(&self, req: &Request<Json>) -> Result<(TaskRef, Poller), Status> {
        let StartTask { task, identity, build_id, deployment, target_changed, sdk } = parse(req.get_ref())?;
        let t: TaskRef = task.into();
        if !self.0.engine.owns_run(&t.run) {
            let m = format!("workflow {} is not held by this replica", t.run.workflow_id);
            return Err(ApiError::ShardNotOwned(m).into());
        }
        Ok((t, Poller { identity, build_id, deployment, target_changed, sdk }))
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn add_task(&self, req: Request<Json>) -> Result<Response<Json>, Status> {
        let r: AddTask = parse(req.get_ref())?;
        let ownership = &self.0.ownership;
        if !ownership.holds(ownership.queue_shard(&r.namespace_id, &r.queue)) {
            let m = format!("task queue {} is not held by this replica", r.queue);
            return Err(ApiError::ShardNotOwned(m).into());
        }
        let kind = r.kind();
        let item = r.item.into_dispatch().map_err(Status::from)?;
        let accepted = self.0.engine.router().accept_offer(&r.namespace_id, &r.queue, kind, r.sticky, item);
        Ok(Response::new(json(&AddTaskReply { accepted })?))
    }

    async fn start_workflow_task(
        &self,
        req: Request<Json>,
    ) -> Result<Response<ws::PollWorkflowTaskQueueResponse>, Status> {
        let (t, poller) = self.owned_task(&req)?;
        let ns = self.0.namespaces.by_id(&t.run.namespace_id).await?;
        Ok(Response::new(self.0.start_workflow_task(&ns, &t, &poller).await?))
    }

    async fn start_activity_task(
        &self,
        req: Request<Json>,
    ) -> Result<Response<ws::PollActivityTaskQueueResponse>, Status> {
        let (t, poller) = self.owned_task(&req)?;
        let ns = self.0.namespaces.by_id(&t.run.namespace_id).await?;
        Ok(Response::new(self.0.start_activity(&ns, &t, &poller).await?))
    }

    async fn register_version(&self, req: Request<Json>) -> Result<Response<Json>, Status> {
        let r: crate::peer::RegisterVersion = parse(req.get_ref())?;
        let kind = if r.activity {
            crate::matching::QueueKind::Activity
        } else {
            crate::matching::QueueKind::Workflow
        };
        let d = self.0.deployments.register_here(&r.namespace_id, &r.version, &r.queue, kind).await?;
        Ok(Response::new(json(&d)?))
    }

    async fn apply_route(&self, req: Request<Json>) -> Result<Response<Json>, Status> {
        let r: crate::peer::ApplyRoute = parse(req.get_ref())?;
        self.0.deployments.apply_route_here(&r);
        Ok(Response::new(json(&())?))
    }

    async fn cross_step(&self, req: Request<Json>) -> Result<Response<Json>, Status> {
        let t: TaskRef = parse::<WireTask>(req.get_ref())?.into();
        let outcome = self.0.cross.target_step(&t).await?;
        Ok(Response::new(json(&outcome)?))
    }
}
