//! The replica-to-replica API (`endure.internal.v1.Cluster`) and its clients.
//!
//! A task queue belongs to one replica (the owner of the queue's shard, see
//! [`crate::cluster::queue_shard`]); its pollers are forwarded there. The replica
//! that commits a task (the owner of the task's workflow) hands it to the queue's owner with
//! `AddTask`; when a poller takes it, the queue's owner asks the workflow's owner to record the
//! start (`StartWorkflowTask` / `StartActivityTask`), which answers with the poller's response.
//! Cross-workflow tasks run their target-side step on the target's owner (`CrossStep`).
//!
//! This module knows the wire and the connections, not who calls them or what a peer does with
//! a request (the server side is `frontend::internal`).
//!
//! Bodies are JSON of the types below (tasks are already serde types, stored as JSON too).

use crate::error::ApiError;
use crate::matching::{Dispatch, QueryTask, QueueKind, TaskRef};
use crate::network::Network;
use endure_api::internal::Json;
use endure_api::workflowservice::workflow_service_client::WorkflowServiceClient;
use endure_core::Task;
use endure_store::RunKey;
use parking_lot::Mutex;
use prost::Message;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// A task on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireTask {
    /// Task row id.
    pub task_id: i64,
    /// Namespace id of its run.
    pub namespace_id: String,
    /// Workflow id of its run.
    pub workflow_id: String,
    /// Run id.
    pub run_id: String,
    /// The task.
    pub task: Task,
}

impl From<&TaskRef> for WireTask {
    fn from(t: &TaskRef) -> Self {
        WireTask {
            task_id: t.task_id,
            namespace_id: t.run.namespace_id.clone(),
            workflow_id: t.run.workflow_id.clone(),
            run_id: t.run.run_id.clone(),
            task: t.task.clone(),
        }
    }
}

impl From<WireTask> for TaskRef {
    fn from(w: WireTask) -> Self {
        TaskRef {
            task_id: w.task_id,
            run: RunKey { namespace_id: w.namespace_id, workflow_id: w.workflow_id, run_id: w.run_id },
            task: w.task,
        }
    }
}

/// What is handed to a task queue's owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WireDispatch {
    /// A durable task.
    Task(WireTask),
    /// A query (its waiter stays on the workflow's owner).
    Query {
        /// Query id the answer is routed by.
        query_id: String,
        /// The queried run.
        run: (String, String, String),
        /// Protobuf of the `WorkflowQuery`.
        query: Vec<u8>,
    },
}

impl WireDispatch {
    /// The wire form of a dispatch.
    pub fn of(d: &Dispatch) -> WireDispatch {
        match d {
            Dispatch::Task(t) => WireDispatch::Task(t.into()),
            Dispatch::Query(q) => WireDispatch::Query {
                query_id: q.query_id.clone(),
                run: (q.run.namespace_id.clone(), q.run.workflow_id.clone(), q.run.run_id.clone()),
                query: q.query.encode_to_vec(),
            },
        }
    }

    /// Back to a dispatch (a query is marked as waited for elsewhere).
    pub fn into_dispatch(self) -> Result<Dispatch, ApiError> {
        Ok(match self {
            WireDispatch::Task(t) => Dispatch::Task(t.into()),
            WireDispatch::Query { query_id, run, query } => Dispatch::Query(QueryTask {
                query_id,
                run: RunKey { namespace_id: run.0, workflow_id: run.1, run_id: run.2 },
                query: endure_api::temporal::api::query::v1::WorkflowQuery::decode(query.as_slice())
                    .map_err(|e| ApiError::InvalidArgument(format!("bad query from peer: {e}")))?,
                remote: true,
                // Only a replica holding the sticky queue sends a query there (so never here).
                sticky: false,
            }),
        })
    }
}

/// `AddTask`: offer a task to the queue's owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddTask {
    /// Namespace id.
    pub namespace_id: String,
    /// Queue name.
    pub queue: String,
    /// True for an activity queue.
    pub activity: bool,
    /// A sticky workflow task: refuse it if no worker polls that queue.
    pub sticky: bool,
    /// The task or query.
    pub item: WireDispatch,
}

impl AddTask {
    /// The queue kind.
    pub fn kind(&self) -> QueueKind {
        if self.activity { QueueKind::Activity } else { QueueKind::Workflow }
    }
}

/// `AddTask`'s answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddTaskReply {
    /// False: a sticky task whose queue nobody polls (the sender falls back to the normal queue).
    pub accepted: bool,
}

/// `StartWorkflowTask` / `StartActivityTask`: record a task taken by a poller as started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartTask {
    /// The task.
    pub task: WireTask,
    /// The poller's identity.
    pub identity: String,
    /// The poller's build id ("" when it sent none; absent from older replicas' messages).
    #[serde(default)]
    pub build_id: String,
    /// The poller's worker deployment version (versioned workers).
    #[serde(default)]
    pub deployment: Option<endure_core::deployment::Version>,
    /// The run's pinned version is no longer its queue's target.
    #[serde(default)]
    pub target_changed: bool,
    /// The poller's SDK name and version.
    #[serde(default)]
    pub sdk: Option<(String, String)>,
}

/// `RegisterVersion`: a versioned worker polls a task queue; the deployment's owner records it
/// and answers the deployment's state (its routing for the queue's owner to apply).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterVersion {
    /// Namespace id.
    pub namespace_id: String,
    /// The version.
    pub version: endure_core::deployment::Version,
    /// The task queue.
    pub queue: String,
    /// An activity queue (else a workflow queue).
    pub activity: bool,
}

/// `ApplyRoute`: a deployment's owner tells a task queue's owner the queue's new routing (and
/// the versions polling it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyRoute {
    /// Namespace id.
    pub namespace_id: String,
    /// The task queue.
    pub queue: String,
    /// Its routing.
    pub route: endure_core::deployment::Route,
    /// The versions polling it: (build id, an activity queue).
    pub versions: Vec<(String, bool)>,
}

/// Encodes a JSON body.
pub fn json<T: Serialize>(v: &T) -> Result<Json, ApiError> {
    serde_json::to_vec(v).map(|body| Json { body }).map_err(|e| ApiError::Internal(format!("encoding: {e}")))
}

/// Decodes a JSON body.
pub fn parse<T: for<'de> Deserialize<'de>>(j: &Json) -> Result<T, ApiError> {
    serde_json::from_slice(&j.body)
        .map_err(|e| ApiError::InvalidArgument(format!("bad internal request: {e}")))
}

/// The Cluster API client type.
pub type ClusterClient = endure_api::internal::cluster::cluster_client::ClusterClient<Channel>;

/// Connections to the other replicas' internal endpoints, opened on first use and shared by
/// both clients (forwarded WorkflowService calls and the Cluster API); over TCP, or over the
/// given [`Network`].
#[derive(Default)]
pub struct Peers {
    channels: Mutex<HashMap<String, Channel>>,
    network: Option<Arc<dyn Network>>,
}

impl Peers {
    /// Peers reached over `network` (`None`: TCP).
    pub fn new(network: Option<Arc<dyn Network>>) -> Self {
        Peers { channels: Mutex::new(HashMap::new()), network }
    }

    fn channel(&self, address: &str) -> Result<Channel, ApiError> {
        if let Some(c) = self.channels.lock().get(address) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| ApiError::Internal(format!("bad replica address {address}: {e}")))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        let channel = match &self.network {
            None => endpoint.connect_lazy(),
            Some(network) => {
                let (network, address) = (network.clone(), address.to_owned());
                endpoint.connect_with_connector_lazy(tower::service_fn(move |_: tonic::transport::Uri| {
                    let (network, address) = (network.clone(), address.clone());
                    async move { network.dial(&address).await.map(hyper_util::rt::TokioIo::new) }
                }))
            }
        };
        self.channels.lock().insert(address.to_owned(), channel.clone());
        Ok(channel)
    }

    /// The WorkflowService client of the replica at `address` (for forwarding).
    pub fn workflow(&self, address: &str) -> Result<WorkflowServiceClient<Channel>, ApiError> {
        Ok(WorkflowServiceClient::new(self.channel(address)?)
            .max_decoding_message_size(128 * 1024 * 1024)
            .max_encoding_message_size(128 * 1024 * 1024))
    }

    /// The Cluster API client of the replica at `address`.
    pub fn cluster(&self, address: &str) -> Result<ClusterClient, ApiError> {
        Ok(ClusterClient::new(self.channel(address)?)
            .max_decoding_message_size(128 * 1024 * 1024)
            .max_encoding_message_size(128 * 1024 * 1024))
    }
}
