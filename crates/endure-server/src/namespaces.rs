//! Namespaces: registration, lookup (cached), update. A namespace is stored as the encoded
//! `DescribeNamespaceResponse` the API returns for it.
//!
//! Knows only the `NamespaceStore`; nothing about the runs in a namespace.

use crate::clock;
use crate::error::{ApiError, ApiResult};
use crate::ids::Ids;
use endure_api::temporal::api::enums::v1::{ArchivalState, NamespaceState};
use endure_api::temporal::api::namespace::v1::{
    NamespaceConfig, NamespaceInfo, namespace_info::Capabilities,
};
use endure_api::temporal::api::replication::v1::{ClusterReplicationConfig, NamespaceReplicationConfig};
use endure_api::temporal::api::workflowservice::v1::DescribeNamespaceResponse;
use endure_core::time;
use endure_store::{NamespaceRow, NamespaceStore, StoreError};
use parking_lot::RwLock;
use prost::Message;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Default retention of a namespace created implicitly by `start-dev` (24 h, like the dev server).
pub const DEV_RETENTION: i64 = 24 * 3600 * time::SECOND;

/// A resolved namespace.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Full description as returned by DescribeNamespace.
    pub desc: DescribeNamespaceResponse,
}

/// Namespace registry with an in-memory cache in front of the store.
pub struct Namespaces {
    store: Arc<dyn NamespaceStore>,
    ids: Ids,
    by_name: RwLock<HashMap<String, (Namespace, Instant)>>,
    /// How long a cached namespace is trusted (`None`: forever — the only process on its
    /// store). In a cluster another replica may have updated it.
    max_age: RwLock<Option<Duration>>,
}

fn decode(row: &NamespaceRow) -> ApiResult<Namespace> {
    let desc = DescribeNamespaceResponse::decode(row.data.as_slice())
        .map_err(|e| ApiError::Internal(format!("corrupt namespace {}: {e}", row.name)))?;
    Ok(Namespace { id: row.id.clone(), name: row.name.clone(), desc })
}

/// Builds the description of a new namespace.
pub fn new_description(
    id: &str,
    name: &str,
    description: &str,
    owner_email: &str,
    retention: i64,
    data: HashMap<String, String>,
) -> DescribeNamespaceResponse {
    DescribeNamespaceResponse {
        namespace_info: Some(NamespaceInfo {
            name: name.to_string(),
            state: NamespaceState::Registered as i32,
            description: description.to_string(),
            owner_email: owner_email.to_string(),
            data,
            id: id.to_string(),
            capabilities: Some(Capabilities {
                eager_workflow_start: true,
                sync_update: true,
                async_update: true,
                ..Default::default()
            }),
            supports_schedules: true,
            ..Default::default()
        }),
        config: Some(NamespaceConfig {
            workflow_execution_retention_ttl: Some(time::to_duration(retention)),
            history_archival_state: ArchivalState::Disabled as i32,
            visibility_archival_state: ArchivalState::Disabled as i32,
            ..Default::default()
        }),
        replication_config: Some(NamespaceReplicationConfig {
            active_cluster_name: "active".into(),
            clusters: vec![ClusterReplicationConfig { cluster_name: "active".into(), ..Default::default() }],
            ..Default::default()
        }),
        failover_version: 0,
        is_global_namespace: false,
        ..Default::default()
    }
}

impl Namespaces {
    /// Creates the registry.
    pub fn new(store: Arc<dyn NamespaceStore>, ids: Ids) -> Self {
        Namespaces { store, ids, by_name: RwLock::new(HashMap::new()), max_age: RwLock::new(None) }
    }

    /// Re-reads a cached namespace once it is older than `age` (replicas sharing a store).
    pub fn set_max_age(&self, age: Duration) {
        *self.max_age.write() = Some(age);
    }

    fn fresh(&self, at: Instant) -> bool {
        self.max_age.read().is_none_or(|age| clock::monotonic().saturating_duration_since(at) < age)
    }

    fn remember(&self, ns: &Namespace) {
        self.by_name.write().insert(ns.name.clone(), (ns.clone(), clock::monotonic()));
    }

    /// Registers a namespace; `NamespaceAlreadyExists` if the name is taken.
    pub async fn register(&self, desc: DescribeNamespaceResponse) -> ApiResult<Namespace> {
        let info = desc.namespace_info.clone().unwrap_or_default();
        let row = NamespaceRow { id: info.id.clone(), name: info.name.clone(), data: desc.encode_to_vec() };
        match self.store.create_namespace(row.clone()).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists { .. }) => return Err(ApiError::NamespaceAlreadyExists),
            Err(e) => return Err(e.into()),
        }
        let ns = decode(&row)?;
        self.remember(&ns);
        Ok(ns)
    }

    /// Makes sure a namespace exists (used for `start-dev --namespace`).
    pub async fn ensure(&self, name: &str, retention: i64) -> ApiResult<Namespace> {
        if let Some(ns) = self.store.namespace_by_name(name).await? {
            return decode(&ns);
        }
        let id = self.ids.next_time_ordered(); // v7, as the real server makes namespace ids
        match self.register(new_description(&id, name, "", "", retention, HashMap::new())).await {
            Err(ApiError::NamespaceAlreadyExists) => self.by_name(name).await,
            r => r,
        }
    }

    /// Looks a namespace up by name; `NamespaceNotFound` if missing.
    pub async fn by_name(&self, name: &str) -> ApiResult<Namespace> {
        if name.is_empty() {
            return Err(ApiError::InvalidArgument("Namespace not set on request.".into()));
        }
        if let Some((ns, at)) = self.by_name.read().get(name)
            && self.fresh(*at)
        {
            return Ok(ns.clone());
        }
        let row = self
            .store
            .namespace_by_name(name)
            .await?
            .ok_or_else(|| ApiError::NamespaceNotFound(name.into()))?;
        let ns = decode(&row)?;
        self.remember(&ns);
        Ok(ns)
    }

    /// Looks a namespace up by id.
    pub async fn by_id(&self, id: &str) -> ApiResult<Namespace> {
        if let Some((ns, _)) = self.by_name.read().values().find(|(n, at)| n.id == id && self.fresh(*at)) {
            return Ok(ns.clone());
        }
        let row =
            self.store.namespace_by_id(id).await?.ok_or_else(|| ApiError::NamespaceNotFound(id.into()))?;
        decode(&row)
    }

    /// The name of a namespace this registry has seen, without asking the store (for metrics'
    /// labels; a namespace's name never changes).
    pub fn name_of(&self, id: &str) -> Option<String> {
        self.by_name.read().values().find(|(n, _)| n.id == id).map(|(n, _)| n.name.clone())
    }

    /// All namespaces.
    pub async fn list(&self) -> ApiResult<Vec<Namespace>> {
        self.store.list_namespaces().await?.iter().map(decode).collect()
    }

    /// Replaces a namespace's description.
    pub async fn update(&self, ns: Namespace) -> ApiResult<Namespace> {
        let row = NamespaceRow { id: ns.id.clone(), name: ns.name.clone(), data: ns.desc.encode_to_vec() };
        self.store.update_namespace(row).await?;
        self.remember(&ns);
        Ok(ns)
    }
}
