//! Worker heartbeats and listing: RecordWorkerHeartbeat, ListWorkers, CountWorkers,
//! DescribeWorker (over [`crate::workers`]), and the Nexus poll SDK workers make on their
//! worker-commands queue once the namespace advertises heartbeats.
//!
//! In a cluster these RPCs run on the replica holding the namespace's registry
//! ([`super::forward::WORKER_REGISTRY_QUEUE`]); a heartbeat that arrives elsewhere (the one a
//! ShutdownWorker call carries) is sent on there by [`Frontend::record_worker_heartbeats`].

use super::deadline::poll_deadline;
use super::{Frontend, forward};
use crate::error::{ApiError, ApiResult};
use crate::matching::LONG_POLL;
use crate::namespaces::Namespace;
use crate::workers::{Selection, WorkerQuery};
use endure_api::temporal::api::worker::v1::{WorkerHeartbeat, WorkerInfo, WorkerListInfo};
use endure_api::temporal::api::workflowservice::v1 as ws;
use serde::{Deserialize, Serialize};
use tonic::Request;

/// The task queues of sdk-core's worker-commands Nexus poller:
/// `temporal-sys/worker-commands/<namespace>/<worker grouping key>`.
const WORKER_COMMANDS_QUEUE_PREFIX: &str = "temporal-sys/worker-commands/";

/// A ListWorkers page token, as the real server writes it: `{"l":"<last key>"}`.
#[derive(Serialize, Deserialize)]
struct PageToken {
    /// The last worker instance key of the page before.
    l: String,
}

fn decode_token(bytes: &[u8]) -> ApiResult<Option<String>> {
    if bytes.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice::<PageToken>(bytes)
        .map(|t| Some(t.l))
        .map_err(|_| ApiError::InvalidArgument("invalid next_page_token".into()))
}

fn encode_token(last_key: &str) -> Vec<u8> {
    serde_json::to_vec(&PageToken { l: last_key.to_owned() }).unwrap_or_default()
}

/// The summary ListWorkers gives of a heartbeat alongside it.
fn list_info(hb: &WorkerHeartbeat) -> WorkerListInfo {
    let host = hb.host_info.clone().unwrap_or_default();
    WorkerListInfo {
        worker_instance_key: hb.worker_instance_key.clone(),
        worker_identity: hb.worker_identity.clone(),
        task_queue: hb.task_queue.clone(),
        deployment_version: hb.deployment_version.clone(),
        sdk_name: hb.sdk_name.clone(),
        sdk_version: hb.sdk_version.clone(),
        status: hb.status,
        start_time: hb.start_time,
        host_name: host.host_name,
        worker_grouping_key: host.worker_grouping_key,
        process_id: host.process_id,
        plugins: hb.plugins.clone(),
        drivers: hb.drivers.clone(),
    }
}

impl Frontend {
    /// The namespace of a worker RPC: empty and unknown names answered as the real server does.
    async fn worker_namespace(&self, name: &str) -> ApiResult<Namespace> {
        if name.is_empty() {
            return Err(ApiError::InvalidArgument("Namespace is empty.".into()));
        }
        self.namespaces.by_name(name).await
    }

    /// Records heartbeats in the namespace's registry: here, or on the replica holding it.
    pub(crate) async fn record_worker_heartbeats(
        &self,
        ns: &Namespace,
        identity: &str,
        heartbeats: Vec<WorkerHeartbeat>,
    ) -> ApiResult<()> {
        let req = Request::new(ws::RecordWorkerHeartbeatRequest {
            namespace: ns.name.clone(),
            identity: identity.to_owned(),
            worker_heartbeat: heartbeats,
            resource_id: String::new(),
        });
        match self.forward_target(&req).await? {
            None => {
                self.workers.record(&ns.id, req.into_inner().worker_heartbeat);
                Ok(())
            }
            Some(addr) => {
                let mut peer = self.peers.workflow(&addr)?;
                peer.record_worker_heartbeat(forward::onward(req)).await.map_err(ApiError::from_peer)?;
                Ok(())
            }
        }
    }

    pub(crate) async fn record_worker_heartbeat(
        &self,
        r: Request<ws::RecordWorkerHeartbeatRequest>,
    ) -> ApiResult<ws::RecordWorkerHeartbeatResponse> {
        let r = r.into_inner();
        let ns = self.worker_namespace(&r.namespace).await?;
        self.workers.record(&ns.id, r.worker_heartbeat);
        Ok(ws::RecordWorkerHeartbeatResponse {})
    }

    pub(crate) async fn list_workers(
        &self,
        r: Request<ws::ListWorkersRequest>,
    ) -> ApiResult<ws::ListWorkersResponse> {
        let r = r.into_inner();
        let ns = self.worker_namespace(&r.namespace).await?;
        let query = WorkerQuery::parse(&r.query)?;
        let after = decode_token(&r.next_page_token)?;
        // No page size: every selected worker at once, with no token.
        let limit = usize::try_from(r.page_size).ok().filter(|n| *n > 0);
        let selection = Selection { query: &query, include_system: r.include_system_workers };
        let page = self.workers.list(&ns.id, &selection, after.as_deref(), limit);
        let next_page_token = match page.heartbeats.last() {
            Some(last) if page.more => encode_token(&last.worker_instance_key),
            _ => vec![],
        };
        #[allow(deprecated)] // workers_info: the full heartbeats, still what the CLI prints
        Ok(ws::ListWorkersResponse {
            workers: page.heartbeats.iter().map(list_info).collect(),
            workers_info: page
                .heartbeats
                .into_iter()
                .map(|hb| WorkerInfo { worker_heartbeat: Some(hb) })
                .collect(),
            next_page_token,
        })
    }

    pub(crate) async fn count_workers(
        &self,
        r: Request<ws::CountWorkersRequest>,
    ) -> ApiResult<ws::CountWorkersResponse> {
        let r = r.into_inner();
        let ns = self.worker_namespace(&r.namespace).await?;
        let query = WorkerQuery::parse(&r.query)?;
        let selection = Selection { query: &query, include_system: r.include_system_workers };
        let count = self.workers.count(&ns.id, &selection);
        Ok(ws::CountWorkersResponse { count: i64::try_from(count).unwrap_or(i64::MAX) })
    }

    pub(crate) async fn describe_worker(
        &self,
        r: Request<ws::DescribeWorkerRequest>,
    ) -> ApiResult<ws::DescribeWorkerResponse> {
        let r = r.into_inner();
        let ns = self.worker_namespace(&r.namespace).await?;
        let hb = self
            .workers
            .describe(&ns.id, &r.worker_instance_key)
            .ok_or_else(|| ApiError::NotFound(format!("Worker {} not found", r.worker_instance_key)))?;
        Ok(ws::DescribeWorkerResponse { worker_info: Some(WorkerInfo { worker_heartbeat: Some(hb) }) })
    }

    /// Nexus polls. Endure runs no Nexus operations, so there is never a task: the poll sdk-core
    /// makes on its worker-commands queue (for commands the server could send its workers; it
    /// sends none) waits out its long-poll deadline and answers empty, as an idle poll does on
    /// the real server. A poll on any other queue (a Nexus service's worker) is refused, as
    /// before, so such a worker learns at once that Endure does not serve Nexus.
    pub(crate) async fn poll_nexus_task_queue(
        &self,
        req: Request<ws::PollNexusTaskQueueRequest>,
    ) -> ApiResult<ws::PollNexusTaskQueueResponse> {
        let deadline = poll_deadline(&req, LONG_POLL);
        let r = req.into_inner();
        self.namespaces.by_name(&r.namespace).await?;
        let queue = r.task_queue.as_ref().map_or("", |q| q.name.as_str());
        if !queue.starts_with(WORKER_COMMANDS_QUEUE_PREFIX) {
            return Err(ApiError::Unimplemented(
                "PollNexusTaskQueue on a Nexus service's task queue (Nexus)",
            ));
        }
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {}
            _ = shutdown.wait_for(|s| *s) => {}
        }
        Ok(ws::PollNexusTaskQueueResponse::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_are_the_real_servers() {
        assert_eq!(encode_token("p1"), br#"{"l":"p1"}"#.to_vec());
        assert_eq!(decode_token(br#"{"l":"p1"}"#).ok().flatten(), Some("p1".into()));
        assert_eq!(decode_token(b"").ok().flatten(), None);
        assert!(
            matches!(decode_token(b"not a token"), Err(ApiError::InvalidArgument(m)) if m == "invalid next_page_token")
        );
    }

    #[test]
    fn the_summary_mirrors_the_heartbeat() {
        use endure_api::temporal::api::worker::v1::{StorageDriverInfo, WorkerHostInfo};
        let hb = WorkerHeartbeat {
            worker_instance_key: "k".into(),
            host_info: Some(WorkerHostInfo {
                host_name: "h".into(),
                process_id: "42".into(),
                worker_grouping_key: "g".into(),
                ..Default::default()
            }),
            drivers: vec![StorageDriverInfo { r#type: "t".into() }],
            ..Default::default()
        };
        let info = list_info(&hb);
        assert_eq!(
            (info.host_name.as_str(), info.process_id.as_str(), info.worker_grouping_key.as_str()),
            ("h", "42", "g")
        );
        assert_eq!(info.drivers, hb.drivers);
        assert_eq!(list_info(&WorkerHeartbeat::default()), WorkerListInfo::default());
    }
}
