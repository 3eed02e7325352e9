//! System, cluster and namespace RPCs, the OperatorService and grpc.health.v1.

use super::{Frontend, WorkflowFrontend};
use crate::error::{ApiError, ApiResult};
use crate::namespaces::{DEV_RETENTION, new_description};
use crate::search_attributes::schema::{self, max_per_type, type_name};
use endure_api::grpc::health::v1::{
    HealthCheckRequest, HealthCheckResponse, health_check_response::ServingStatus,
};
use endure_api::health::health_server::Health;
use endure_api::operatorservice::operator_service_server::OperatorService;
use endure_api::temporal::api::enums::v1::NamespaceState;
use endure_api::temporal::api::operatorservice::v1 as ops;
use endure_api::temporal::api::version::v1::VersionInfo;
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_core::time;
use endure_store::visibility::SaType;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The server version reported to clients.
pub const SERVER_VERSION: &str = concat!("1.28.0-endure.", env!("CARGO_PKG_VERSION"));

/// The system search attributes and their types (`IndexedValueType` numbers), as the real server
/// lists them.
pub fn system_search_attributes() -> HashMap<String, i32> {
    schema::SYSTEM.iter().map(|a| (a.name.to_string(), a.ty.code())).collect()
}

/// The size limit of a workflow task completion the real server reports (40 MB); Endure enforces
/// the payload and history limits within it.
const WORKFLOW_TASK_COMPLETION_SIZE_LIMIT: i64 = 40 * 1024 * 1024;

impl Frontend {
    pub(crate) async fn get_system_info(
        &self,
        _r: Request<ws::GetSystemInfoRequest>,
    ) -> ApiResult<ws::GetSystemInfoResponse> {
        Ok(ws::GetSystemInfoResponse {
            server_version: SERVER_VERSION.into(),
            capabilities: Some(ws::get_system_info_response::Capabilities {
                signal_and_query_header: true,
                internal_error_differentiation: true,
                activity_failure_include_heartbeat: true,
                supports_schedules: true,
                encoded_failure_attributes: true,
                build_id_based_versioning: false,
                upsert_memo: true,
                eager_workflow_start: true,
                sdk_metadata: true,
                count_group_by_execution_status: true,
                nexus: false,
                ..Default::default()
            }),
        })
    }

    pub(crate) async fn get_cluster_info(
        &self,
        _r: Request<ws::GetClusterInfoRequest>,
    ) -> ApiResult<ws::GetClusterInfoResponse> {
        Ok(ws::GetClusterInfoResponse {
            supported_clients: HashMap::new(),
            server_version: SERVER_VERSION.into(),
            cluster_id: "endure-dev".into(),
            version_info: Some(VersionInfo::default()),
            cluster_name: "active".into(),
            history_shard_count: 1,
            persistence_store: "sqlite".into(),
            visibility_store: "sqlite".into(),
            initial_failover_version: 1,
            failover_version_increment: 10,
        })
    }

    pub(crate) async fn register_namespace(
        &self,
        r: Request<ws::RegisterNamespaceRequest>,
    ) -> ApiResult<ws::RegisterNamespaceResponse> {
        let r = r.into_inner();
        if r.namespace.is_empty() {
            return Err(ApiError::InvalidArgument("Namespace is empty.".into()));
        }
        if r.namespace.len() > crate::validate::MAX_ID_LENGTH {
            return Err(ApiError::InvalidArgument("Namespace length exceeds limit.".into()));
        }
        let retention = match r.workflow_execution_retention_period.as_ref().map(time::from_duration) {
            Some(0) | None => DEV_RETENTION,
            Some(d) if d < 3600 * time::SECOND => {
                return Err(ApiError::InvalidArgument(
                    "WorkflowExecutionRetentionPeriod should be at least 1 hour.".into(),
                ));
            }
            Some(d) => d,
        };
        let id = self.engine.new_id();
        let desc = new_description(&id, &r.namespace, &r.description, &r.owner_email, retention, r.data);
        self.namespaces.register(desc).await?;
        Ok(ws::RegisterNamespaceResponse {})
    }

    pub(crate) async fn describe_namespace(
        &self,
        r: Request<ws::DescribeNamespaceRequest>,
    ) -> ApiResult<ws::DescribeNamespaceResponse> {
        let r = r.into_inner();
        let ns = if !r.id.is_empty() {
            self.namespaces.by_id(&r.id).await?
        } else {
            self.namespaces.by_name(&r.namespace).await?
        };
        Ok(self.as_served(ns.desc))
    }

    /// A namespace's stored description with what this server adds when it answers: the limits
    /// its dynamic config sets (SDK workers check payloads against them before sending), and
    /// the capabilities of this server (sdk-core sends periodic heartbeats only to a namespace
    /// that has worker heartbeats; namespaces stored before Endure had one are served with it
    /// too), schedules among them; an empty `badBinaries`, as the real server writes it.
    fn as_served(&self, mut desc: ws::DescribeNamespaceResponse) -> ws::DescribeNamespaceResponse {
        if let Some(config) = desc.config.as_mut() {
            config.bad_binaries.get_or_insert_with(Default::default);
        }
        if let Some(info) = desc.namespace_info.as_mut() {
            info.supports_schedules = true;
            let capabilities = info.capabilities.get_or_insert_with(Default::default);
            capabilities.worker_heartbeats = true;
            capabilities.standalone_activities = true;
            let l = self.engine.limits();
            info.limits = Some(endure_api::temporal::api::namespace::v1::namespace_info::Limits {
                blob_size_limit_error: l.blob_size_error as i64,
                memo_size_limit_error: l.memo_size_error as i64,
                workflow_task_completion_size_limit_error: WORKFLOW_TASK_COMPLETION_SIZE_LIMIT,
            });
        }
        desc
    }

    pub(crate) async fn list_namespaces(
        &self,
        r: Request<ws::ListNamespacesRequest>,
    ) -> ApiResult<ws::ListNamespacesResponse> {
        let r = r.into_inner();
        let all = self.namespaces.list().await?;
        // The token is the offset of the page's first namespace, in decimal.
        let offset = if r.next_page_token.is_empty() {
            0
        } else {
            std::str::from_utf8(&r.next_page_token)
                .ok()
                .and_then(|t| t.parse::<usize>().ok())
                .ok_or_else(|| ApiError::InvalidArgument("Invalid NextPageToken.".into()))?
        };
        let size = if r.page_size > 0 { r.page_size as usize } else { all.len().max(1) };
        let end = offset.saturating_add(size).min(all.len());
        let next_page_token = if end < all.len() { end.to_string().into_bytes() } else { vec![] };
        Ok(ws::ListNamespacesResponse {
            namespaces: all.into_iter().skip(offset).take(size).map(|n| self.as_served(n.desc)).collect(),
            next_page_token,
        })
    }

    pub(crate) async fn update_namespace(
        &self,
        r: Request<ws::UpdateNamespaceRequest>,
    ) -> ApiResult<ws::UpdateNamespaceResponse> {
        let r = r.into_inner();
        let mut ns = self.namespaces.by_name(&r.namespace).await?;
        let info = ns.desc.namespace_info.get_or_insert_with(Default::default);
        if let Some(u) = r.update_info {
            if !u.description.is_empty() {
                info.description = u.description;
            }
            if !u.owner_email.is_empty() {
                info.owner_email = u.owner_email;
            }
            info.data.extend(u.data);
            if u.state != 0 {
                if u.state == NamespaceState::Deleted as i32 {
                    return Err(ApiError::InvalidArgument(
                        "Cannot set namespace state to Deleted through UpdateNamespace.".into(),
                    ));
                }
                info.state = u.state;
            }
        }
        let cfg = ns.desc.config.get_or_insert_with(Default::default);
        if let Some(c) = r.config {
            if let Some(ret) = c.workflow_execution_retention_ttl {
                if time::from_duration(&ret) < 3600 * time::SECOND {
                    return Err(ApiError::InvalidArgument(
                        "WorkflowExecutionRetentionPeriod should be at least 1 hour.".into(),
                    ));
                }
                cfg.workflow_execution_retention_ttl = Some(ret);
            }
            if c.history_archival_state != 0 {
                cfg.history_archival_state = c.history_archival_state;
            }
            if c.visibility_archival_state != 0 {
                cfg.visibility_archival_state = c.visibility_archival_state;
            }
            for (k, v) in c.custom_search_attribute_aliases {
                cfg.custom_search_attribute_aliases.insert(k, v);
            }
        }
        let ns = self.namespaces.update(ns).await?;
        Ok(ws::UpdateNamespaceResponse {
            namespace_info: ns.desc.namespace_info,
            config: ns.desc.config,
            replication_config: ns.desc.replication_config,
            failover_version: 0,
            is_global_namespace: false,
        })
    }

    pub(crate) async fn get_search_attributes(
        &self,
        _r: Request<ws::GetSearchAttributesRequest>,
    ) -> ApiResult<ws::GetSearchAttributesResponse> {
        Ok(ws::GetSearchAttributesResponse { keys: system_search_attributes() })
    }
}

/// The OperatorService implementation: custom search attributes, and an empty list of Nexus
/// endpoints (Endure has no Nexus: Temporal's UI lists them on a page of its own); the rest
/// answers UNIMPLEMENTED naming the RPC.
#[derive(Clone)]
pub struct OperatorFrontend(pub Arc<Frontend>);

#[tonic::async_trait]
impl OperatorService for OperatorFrontend {
    async fn list_nexus_endpoints(
        &self,
        _r: Request<ops::ListNexusEndpointsRequest>,
    ) -> Result<Response<ops::ListNexusEndpointsResponse>, Status> {
        Ok(Response::new(ops::ListNexusEndpointsResponse::default()))
    }

    async fn list_search_attributes(
        &self,
        r: Request<ops::ListSearchAttributesRequest>,
    ) -> Result<Response<ops::ListSearchAttributesResponse>, Status> {
        let r = r.into_inner();
        let custom = if r.namespace.is_empty() {
            HashMap::new()
        } else {
            let ns = self.0.namespaces.by_name(&r.namespace).await.map_err(Status::from)?;
            let types = self.0.search_attributes.of(&ns.id).await.map_err(Status::from)?;
            types.iter().map(|(name, ty)| (name.clone(), ty.code())).collect()
        };
        Ok(Response::new(ops::ListSearchAttributesResponse {
            custom_attributes: custom,
            system_attributes: system_search_attributes(),
            storage_schema: HashMap::new(),
        }))
    }

    async fn add_search_attributes(
        &self,
        r: Request<ops::AddSearchAttributesRequest>,
    ) -> Result<Response<ops::AddSearchAttributesResponse>, Status> {
        let r = r.into_inner();
        let ns = self.0.namespaces.by_name(&r.namespace).await.map_err(Status::from)?;
        if r.search_attributes.is_empty() {
            return Err(ApiError::InvalidArgument("SearchAttributes are not set on request.".into()).into());
        }
        let mut attrs = Vec::new();
        for (name, code) in r.search_attributes {
            schema::check_custom_name(&name).map_err(|e| ApiError::InvalidArgument(e.to_string()))?;
            if code == 0 {
                return Err(ApiError::InvalidArgument(format!(
                    "Search attribute type for {name} is unspecified."
                ))
                .into());
            }
            let ty = SaType::from_code(code).ok_or_else(|| {
                ApiError::InvalidArgument(format!("Unknown search attribute type {code} for {name}."))
            })?;
            attrs.push((name, ty));
        }
        attrs.sort_by(|a, b| a.0.cmp(&b.0));
        let existing = self.0.search_attributes.of(&ns.id).await.map_err(Status::from)?;
        // Adding an attribute that exists changes nothing, whatever type is asked for (as the
        // real server; the CLI itself refuses a different type).
        let new: Vec<(String, SaType)> =
            attrs.into_iter().filter(|(n, _)| !existing.contains_key(n)).collect();
        for ty in SaType::ALL {
            let max = max_per_type(ty);
            let total = existing.values().filter(|t| **t == ty).count()
                + new.iter().filter(|(_, t)| *t == ty).count();
            if total > max {
                return Err(ApiError::InvalidArgument(format!(
                    "Unable to create search attributes: cannot have more than {max} search attribute of type {}.",
                    type_name(ty)
                ))
                .into());
            }
        }
        if !new.is_empty() {
            self.0.search_attributes.add(&ns.id, new).await.map_err(Status::from)?;
        }
        Ok(Response::new(ops::AddSearchAttributesResponse {}))
    }

    async fn remove_search_attributes(
        &self,
        r: Request<ops::RemoveSearchAttributesRequest>,
    ) -> Result<Response<ops::RemoveSearchAttributesResponse>, Status> {
        let r = r.into_inner();
        let ns = self.0.namespaces.by_name(&r.namespace).await.map_err(Status::from)?;
        if r.search_attributes.is_empty() {
            return Err(ApiError::InvalidArgument("SearchAttributes are not set on request.".into()).into());
        }
        for name in &r.search_attributes {
            if schema::system(name).is_some() {
                return Err(ApiError::InvalidArgument(format!(
                    "Unable to remove non-custom search attributes: {name}."
                ))
                .into());
            }
        }
        // Removing a name that is not registered is a no-op, as on the real server.
        let existing = self.0.search_attributes.of(&ns.id).await.map_err(Status::from)?;
        let known: Vec<String> =
            r.search_attributes.into_iter().filter(|n| existing.contains_key(n)).collect();
        if !known.is_empty() {
            self.0.search_attributes.remove(&ns.id, known).await.map_err(Status::from)?;
        }
        Ok(Response::new(ops::RemoveSearchAttributesResponse {}))
    }
}

impl WorkflowFrontend {
    /// Access to the OperatorService shell sharing this frontend.
    pub fn operator(&self) -> OperatorFrontend {
        OperatorFrontend(self.0.clone())
    }
}

/// grpc.health.v1: SERVING while the server is ready (joined the cluster, its shards taken,
/// the store reachable), NOT_SERVING before that, when the store stops answering, and once
/// shutdown began.
#[derive(Clone)]
pub struct HealthService(pub Arc<Frontend>);

impl HealthService {
    fn status(&self) -> ServingStatus {
        if self.0.is_ready() { ServingStatus::Serving } else { ServingStatus::NotServing }
    }
}

type WatchStream = Pin<Box<dyn futures::Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(&self, r: Request<HealthCheckRequest>) -> Result<Response<HealthCheckResponse>, Status> {
        let service = r.into_inner().service;
        let known = [
            "",
            "temporal.api.workflowservice.v1.WorkflowService",
            "temporal.api.operatorservice.v1.OperatorService",
        ];
        if !known.contains(&service.as_str()) {
            return Err(ApiError::UnknownService(service).into());
        }
        Ok(Response::new(HealthCheckResponse { status: self.status() as i32 }))
    }

    async fn watch(&self, _r: Request<HealthCheckRequest>) -> Result<Response<WatchStream>, Status> {
        let mut rx = self.0.shutdown.clone();
        let me = self.clone();
        let stream = async_stream_like(move |tx| async move {
            let mut last = None;
            loop {
                let down = *rx.borrow();
                let status = me.status();
                if last != Some(status) {
                    if tx.send(Ok(HealthCheckResponse { status: status as i32 })).await.is_err() {
                        return;
                    }
                    last = Some(status);
                }
                if down {
                    return;
                }
                // Readiness also follows the cluster (heartbeats), so look again every second.
                tokio::select! {
                    r = rx.changed() => if r.is_err() { return },
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                }
            }
        });
        Ok(Response::new(stream))
    }
}

/// A stream fed by a spawned producer.
fn async_stream_like<F, Fut>(f: F) -> WatchStream
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<HealthCheckResponse, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(f(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
