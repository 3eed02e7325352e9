//! Worker Deployments: DescribeWorkerDeployment, DescribeWorkerDeploymentVersion,
//! ListWorkerDeployments, SetWorkerDeploymentCurrentVersion, SetWorkerDeploymentRampingVersion,
//! DeleteWorkerDeploymentVersion, DeleteWorkerDeployment, UpdateWorkerDeploymentVersionMetadata,
//! SetWorkerDeploymentManager; and the older build-id APIs, which answer as the real server's
//! with those features off.
//!
//! A deployment is a system run (`endure_core::deployment`); these handlers change it through
//! the engine (on the owner of its shard: routed by its system run's workflow id), present it,
//! and hand a routing change to the `deployments` service, which applies it to the task queues.

use super::Frontend;
use crate::deployments::deployment_not_found;
use crate::error::{ApiError, ApiResult};
use crate::matching::QueueKind;
use endure_api::temporal::api::deployment::v1::{
    RoutingConfig, VersionDrainageInfo, WorkerDeploymentInfo, WorkerDeploymentVersionInfo,
    worker_deployment_info::WorkerDeploymentVersionSummary,
    worker_deployment_version_info::VersionTaskQueueInfo,
};
use endure_api::temporal::api::enums::v1::{
    RoutingConfigUpdateState, WorkerDeploymentVersionStatus as VStatus,
};
use endure_api::temporal::api::workflowservice::v1 as ws;
use endure_core::deployer::RoutingChanged;
use endure_core::deployment::{DeploymentState, UNVERSIONED, Version, VersionState};
use endure_core::time::to_timestamp;
use endure_store::RunKey;
use endure_store::visibility::{Attr, FilterExpr, SaType, Scalar};
use tonic::Request;

fn ts(t: i64) -> Option<prost_wkt_types::Timestamp> {
    (t > 0).then(|| to_timestamp(t))
}

/// A build id as the deprecated string fields spell it (`dep.build`, or `__unversioned__`).
fn dotted(name: &str, build: &str) -> String {
    if build.is_empty() { UNVERSIONED.to_owned() } else { Version::new(name, build).dotted() }
}

fn wire(
    name: &str,
    build: &str,
) -> Option<endure_api::temporal::api::deployment::v1::WorkerDeploymentVersion> {
    (!build.is_empty()).then(|| Version::new(name, build).wire())
}

fn drainage_info(v: &VersionState) -> Option<VersionDrainageInfo> {
    v.drainage.as_ref().map(|d| VersionDrainageInfo {
        status: d.status,
        last_changed_time: ts(d.last_changed),
        last_checked_time: ts(d.last_checked),
    })
}

#[allow(deprecated)]
fn routing_config(d: &DeploymentState) -> RoutingConfig {
    let r = &d.route;
    RoutingConfig {
        current_deployment_version: wire(&d.name, &r.current),
        current_version: dotted(&d.name, &r.current),
        ramping_deployment_version: wire(&d.name, &r.ramping).filter(|_| r.ramp_set),
        ramping_version: if r.ramp_set { dotted(&d.name, &r.ramping) } else { String::new() },
        ramping_version_percentage: if r.ramp_set { r.percentage } else { 0.0 },
        current_version_changed_time: ts(d.current_changed),
        ramping_version_changed_time: ts(d.ramping_changed),
        ramping_version_percentage_changed_time: ts(d.percentage_changed),
        revision_number: r.revision,
    }
}

#[allow(deprecated)]
fn summary(d: &DeploymentState, v: &VersionState) -> WorkerDeploymentVersionSummary {
    let status = d.status_of(v);
    let drainage = drainage_info(v);
    WorkerDeploymentVersionSummary {
        version: dotted(&d.name, &v.build_id),
        status: status as i32,
        deployment_version: wire(&d.name, &v.build_id),
        create_time: ts(v.create_time),
        drainage_status: drainage.as_ref().map_or(0, |x| x.status),
        drainage_info: drainage,
        current_since_time: ts(v.current_since),
        ramping_since_time: ts(v.ramping_since),
        routing_update_time: ts(v.routing_update_time),
        first_activation_time: ts(v.first_activation),
        last_current_time: ts(v.last_current),
        last_deactivation_time: ts(v.last_deactivation),
        ..Default::default()
    }
}

/// Version summaries, newest first.
fn summaries(d: &DeploymentState) -> Vec<WorkerDeploymentVersionSummary> {
    let mut vs: Vec<&VersionState> = d.versions.values().collect();
    vs.sort_by(|a, b| b.create_time.cmp(&a.create_time).then(b.build_id.cmp(&a.build_id)));
    vs.into_iter().map(|v| summary(d, v)).collect()
}

fn deployment_info(d: &DeploymentState) -> WorkerDeploymentInfo {
    WorkerDeploymentInfo {
        name: d.name.clone(),
        version_summaries: summaries(d),
        create_time: ts(d.create_time),
        routing_config: Some(routing_config(d)),
        last_modifier_identity: d.last_modifier.clone(),
        manager_identity: d.manager.clone(),
        routing_config_update_state: RoutingConfigUpdateState::Completed as i32,
    }
}

/// The version a request names: the structured one, or the deprecated `dep.build` string.
fn requested_version(
    wire: Option<&endure_api::temporal::api::deployment::v1::WorkerDeploymentVersion>,
    dotted: &str,
) -> ApiResult<Version> {
    wire.and_then(Version::of_wire)
        .or_else(|| Version::from_dotted(dotted))
        .ok_or_else(|| ApiError::InvalidArgument("deployment version cannot be empty".into()))
}

/// The build id a request names: the structured version, or the deprecated string.
fn requested_build(name: &str, build_id: &str, version: &str) -> (String, bool) {
    if !build_id.is_empty() {
        return (build_id.to_owned(), false);
    }
    if version == UNVERSIONED {
        return (String::new(), true);
    }
    match Version::from_dotted(version) {
        Some(v) if v.deployment == name => (v.build_id, false),
        _ => (String::new(), false),
    }
}

/// The older build-id APIs: the namespace is checked, then the feature is off.
macro_rules! legacy_apis {
    ($($name:ident($req:ident) -> $resp:ident: $err:ident;)*) => {
        $(pub(crate) async fn $name(&self, r: Request<ws::$req>) -> ApiResult<ws::$resp> {
            self.namespaces.by_name(&r.get_ref().namespace).await?;
            Err($err())
        })*
    };
}

impl Frontend {
    /// The deployment's system run, or the real server's NOT_FOUND.
    async fn deployment(&self, namespace_id: &str, name: &str) -> ApiResult<(RunKey, DeploymentState)> {
        if name.is_empty() {
            return Err(ApiError::InvalidArgument("WorkerDeploymentName cannot be empty".into()));
        }
        let (key, ms) =
            self.deployments.load(namespace_id, name).await?.ok_or_else(|| deployment_not_found(name))?;
        let d = ms.deployment.map(|d| *d).unwrap_or_default();
        Ok((key, d))
    }

    /// Checks the drainage of the deployment's draining versions: drained once no open run is
    /// pinned to them (visibility), as the real server's periodic check finds.
    async fn check_drainage(&self, key: &RunKey, mut d: DeploymentState) -> ApiResult<DeploymentState> {
        let grace = i64::try_from(self.dynamic.drainage_grace_period.as_nanos()).unwrap_or(i64::MAX);
        let now = self.engine.now();
        let draining: Vec<(String, bool)> = d
            .versions
            .values()
            .filter(|v| d.status_of(v) == VStatus::Draining)
            .map(|v| (v.build_id.clone(), now.saturating_sub(v.last_deactivation) < grace))
            .collect();
        for (build, in_grace) in draining {
            let version = Version::new(&d.name, &build).key();
            let kw = |name: &str, value: &str| {
                FilterExpr::eq(
                    Attr::Custom { name: name.into(), ty: SaType::Keyword },
                    Scalar::Str(value.into()),
                )
            };
            let filter = endure_store::VisibilityFilter {
                namespace_id: key.namespace_id.clone(),
                expr: FilterExpr::and_opt(
                    Some(kw(endure_core::deployment::SA_VERSION, &version)),
                    Some(kw(endure_core::deployment::SA_BEHAVIOR, "Pinned")),
                ),
                open: Some(true),
            };
            let open = in_grace || self.visibility.count_runs(&filter).await? > 0;
            d = self
                .engine
                .update(key, None, |x| {
                    x.drainage_checked(&build, open)?;
                    Ok(x.ms.deployment.as_deref().cloned().unwrap_or_default())
                })
                .await?;
        }
        Ok(d)
    }

    pub(crate) async fn describe_worker_deployment(
        &self,
        r: Request<ws::DescribeWorkerDeploymentRequest>,
    ) -> ApiResult<ws::DescribeWorkerDeploymentResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let (key, d) = self.deployment(&ns.id, &r.deployment_name).await?;
        let d = self.check_drainage(&key, d).await?;
        Ok(ws::DescribeWorkerDeploymentResponse {
            conflict_token: d.conflict_token(),
            worker_deployment_info: Some(deployment_info(&d)),
        })
    }

    #[allow(deprecated)]
    pub(crate) async fn describe_worker_deployment_version(
        &self,
        r: Request<ws::DescribeWorkerDeploymentVersionRequest>,
    ) -> ApiResult<ws::DescribeWorkerDeploymentVersionResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let version = requested_version(r.deployment_version.as_ref(), &r.version)?;
        let not_found = || ApiError::NotFound("Worker Deployment Version not found".into());
        let (key, d) = match self.deployment(&ns.id, &version.deployment).await {
            Ok(x) => x,
            Err(ApiError::NotFound(_)) => return Err(not_found()),
            Err(e) => return Err(e),
        };
        let d = self.check_drainage(&key, d).await?;
        let v = d.versions.get(&version.build_id).ok_or_else(not_found)?;
        let status = d.status_of(v);
        let info = WorkerDeploymentVersionInfo {
            version: version.dotted(),
            status: status as i32,
            deployment_version: Some(version.wire()),
            create_time: ts(v.create_time),
            routing_changed_time: ts(v.routing_update_time),
            current_since_time: ts(v.current_since),
            ramping_since_time: ts(v.ramping_since),
            ramp_percentage: if status == VStatus::Ramping { v.ramp_percentage } else { 0.0 },
            task_queue_infos: v
                .task_queues
                .iter()
                .map(|(name, ty)| VersionTaskQueueInfo { name: name.clone(), r#type: *ty })
                .collect(),
            drainage_info: drainage_info(v).filter(|x| x.status != 0),
            metadata: v.metadata.clone(),
            ..Default::default()
        };
        let version_task_queues = v
            .task_queues
            .iter()
            .map(|(name, ty)| ws::describe_worker_deployment_version_response::VersionTaskQueue {
                name: name.clone(),
                r#type: *ty,
                ..Default::default()
            })
            .collect();
        Ok(ws::DescribeWorkerDeploymentVersionResponse {
            worker_deployment_version_info: Some(info),
            version_task_queues,
        })
    }

    pub(crate) async fn list_worker_deployments(
        &self,
        r: Request<ws::ListWorkerDeploymentsRequest>,
    ) -> ApiResult<ws::ListWorkerDeploymentsResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let filter = endure_store::VisibilityFilter {
            namespace_id: ns.id.clone(),
            expr: Some(FilterExpr::eq(
                Attr::Custom {
                    name: endure_core::schedule::NAMESPACE_DIVISION_ATTR.into(),
                    ty: SaType::Keyword,
                },
                Scalar::Str(endure_core::deployment::NAMESPACE_DIVISION.into()),
            )),
            open: Some(true),
        };
        let (rows, next_page_token) = self.list_rows(filter, r.page_size, &r.next_page_token).await?;
        let mut worker_deployments = Vec::new();
        for row in rows {
            let Some(name) = endure_core::deployment::name_of(&row.workflow_id) else { continue };
            let Ok((_, d)) = self.deployment(&ns.id, name).await else { continue };
            let all = summaries(&d);
            let pick =
                |build: &str| d.versions.get(build).filter(|_| !build.is_empty()).map(|v| summary(&d, v));
            worker_deployments.push(ws::list_worker_deployments_response::WorkerDeploymentSummary {
                name: d.name.clone(),
                create_time: ts(d.create_time),
                routing_config: Some(routing_config(&d)),
                latest_version_summary: all.into_iter().next(),
                current_version_summary: pick(&d.route.current),
                ramping_version_summary: if d.route.ramp_set { pick(&d.route.ramping) } else { None },
            });
        }
        worker_deployments.sort_by(|a, b| {
            let t = |x: &ws::list_worker_deployments_response::WorkerDeploymentSummary| {
                x.create_time.as_ref().map(|t| (t.seconds, t.nanos))
            };
            t(b).cmp(&t(a))
        });
        Ok(ws::ListWorkerDeploymentsResponse { next_page_token, worker_deployments })
    }

    /// A routing change of deployment `name` to the version a request names (`build_id`, or the
    /// deprecated `version` string; `allow_no_pollers` records it if unknown): made by `change`,
    /// then applied to the deployment's task queues. The change, the deployment after it and
    /// the build id named.
    async fn change_routing(
        &self,
        namespace_id: &str,
        name: &str,
        (build_id, version): (&str, &str),
        allow_no_pollers: bool,
        change: impl FnOnce(
            &mut endure_core::Txn<'_>,
            &str,
            bool,
        ) -> Result<RoutingChanged, endure_core::CoreError>,
    ) -> ApiResult<(RoutingChanged, DeploymentState, String)> {
        let (key, d) = self.deployment(namespace_id, name).await?;
        let (build, unversioned) = requested_build(&d.name, build_id, version);
        let (changed, d) = self
            .engine
            .update(&key, None, |x| {
                if allow_no_pollers {
                    x.add_version(&build)?;
                }
                let c = change(x, &build, unversioned)?;
                Ok((c, x.ms.deployment.as_deref().cloned().unwrap_or_default()))
            })
            .await?;
        if changed.changed {
            self.deployments.forget(namespace_id, &d.name);
            self.deployments.apply(namespace_id, &d);
        }
        Ok((changed, d, build))
    }

    #[allow(deprecated)]
    pub(crate) async fn set_worker_deployment_current_version(
        &self,
        r: Request<ws::SetWorkerDeploymentCurrentVersionRequest>,
    ) -> ApiResult<ws::SetWorkerDeploymentCurrentVersionResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let (changed, d, build) = self
            .change_routing(
                &ns.id,
                &r.deployment_name,
                (&r.build_id, &r.version),
                r.allow_no_pollers,
                |x, build, _| x.set_current_version(build, &r.identity, &r.conflict_token),
            )
            .await?;
        let previous = if changed.changed { changed.previous } else { build };
        Ok(ws::SetWorkerDeploymentCurrentVersionResponse {
            conflict_token: d.conflict_token(),
            previous_version: dotted(&d.name, &previous),
            previous_deployment_version: wire(&d.name, &previous),
        })
    }

    #[allow(deprecated)]
    pub(crate) async fn set_worker_deployment_ramping_version(
        &self,
        r: Request<ws::SetWorkerDeploymentRampingVersionRequest>,
    ) -> ApiResult<ws::SetWorkerDeploymentRampingVersionResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let (changed, d, _) = self
            .change_routing(
                &ns.id,
                &r.deployment_name,
                (&r.build_id, &r.version),
                r.allow_no_pollers,
                |x, build, unversioned| {
                    x.set_ramping_version(build, unversioned, r.percentage, &r.identity, &r.conflict_token)
                },
            )
            .await?;
        let had_ramp = !changed.previous.is_empty() || changed.previous_percentage > 0.0;
        Ok(ws::SetWorkerDeploymentRampingVersionResponse {
            conflict_token: d.conflict_token(),
            previous_version: if had_ramp { dotted(&d.name, &changed.previous) } else { String::new() },
            previous_deployment_version: wire(&d.name, &changed.previous),
            previous_percentage: changed.previous_percentage,
        })
    }

    #[allow(deprecated)]
    pub(crate) async fn delete_worker_deployment_version(
        &self,
        r: Request<ws::DeleteWorkerDeploymentVersionRequest>,
    ) -> ApiResult<ws::DeleteWorkerDeploymentVersionResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let version = requested_version(r.deployment_version.as_ref(), &r.version)?;
        let Some((key, ms)) = self.deployments.load(&ns.id, &version.deployment).await? else {
            return Err(ApiError::NotFound(format!(
                "workflow not found for ID: {}",
                endure_core::deployment::workflow_id_of(&version.deployment)
            )));
        };
        let d = ms.deployment.map(|d| *d).unwrap_or_default();
        let d = self.check_drainage(&key, d).await?;
        let polled = d.versions.get(&version.build_id).is_some_and(|v| {
            v.task_queues.iter().any(|(q, ty)| {
                let kind = if *ty == crate::deployments::queue_type(QueueKind::Activity) {
                    QueueKind::Activity
                } else {
                    QueueKind::Workflow
                };
                let physical = crate::versioning::physical(q, Some(&version));
                self.matching.polled_within(&ns.id, &physical, kind, self.dynamic.poller_history_ttl)
            })
        });
        self.engine
            .update(&key, None, |x| x.delete_version(&version.build_id, r.skip_drainage, polled))
            .await?;
        Ok(ws::DeleteWorkerDeploymentVersionResponse {})
    }

    pub(crate) async fn delete_worker_deployment(
        &self,
        r: Request<ws::DeleteWorkerDeploymentRequest>,
    ) -> ApiResult<ws::DeleteWorkerDeploymentResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        if let Some((key, _)) = self.deployments.load(&ns.id, &r.deployment_name).await? {
            self.engine.update(&key, None, |x| x.delete_deployment()).await?;
            self.deployments.forget(&ns.id, &r.deployment_name);
        }
        Ok(ws::DeleteWorkerDeploymentResponse {})
    }

    #[allow(deprecated)]
    pub(crate) async fn update_worker_deployment_version_metadata(
        &self,
        r: Request<ws::UpdateWorkerDeploymentVersionMetadataRequest>,
    ) -> ApiResult<ws::UpdateWorkerDeploymentVersionMetadataResponse> {
        let r = r.into_inner();
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let version = requested_version(r.deployment_version.as_ref(), &r.version)?;
        let not_found = || {
            ApiError::NotFound(format!(
                "workflow not found for ID: temporal-sys-worker-deployment-version:{}",
                version.key()
            ))
        };
        let (key, _) = self.deployments.load(&ns.id, &version.deployment).await?.ok_or_else(not_found)?;
        let upsert = r.upsert_entries.into_iter().collect();
        let metadata = self
            .engine
            .update(&key, None, |x| x.update_version_metadata(&version.build_id, upsert, &r.remove_entries))
            .await?;
        Ok(ws::UpdateWorkerDeploymentVersionMetadataResponse { metadata: Some(metadata) })
    }

    #[allow(deprecated)]
    pub(crate) async fn set_worker_deployment_manager(
        &self,
        r: Request<ws::SetWorkerDeploymentManagerRequest>,
    ) -> ApiResult<ws::SetWorkerDeploymentManagerResponse> {
        use ws::set_worker_deployment_manager_request::NewManagerIdentity;
        let r = r.into_inner();
        if r.identity.is_empty() {
            return Err(ApiError::InvalidArgument("Identity is required".into()));
        }
        let ns = self.namespaces.by_name(&r.namespace).await?;
        let (key, _) = self.deployment(&ns.id, &r.deployment_name).await?;
        let manager = match &r.new_manager_identity {
            Some(NewManagerIdentity::ManagerIdentity(m)) => m.clone(),
            Some(NewManagerIdentity::Self_(true)) => r.identity.clone(),
            _ => String::new(),
        };
        let ((previous, _), d) = self
            .engine
            .update(&key, None, |x| {
                let p = x.set_manager(&manager, &r.identity, &r.conflict_token)?;
                Ok((p, x.ms.deployment.as_deref().cloned().unwrap_or_default()))
            })
            .await?;
        Ok(ws::SetWorkerDeploymentManagerResponse {
            conflict_token: d.conflict_token(),
            previous_manager_identity: previous,
        })
    }

    legacy_apis! {
        get_worker_build_id_compatibility(GetWorkerBuildIdCompatibilityRequest) -> GetWorkerBuildIdCompatibilityResponse: legacy_v01;
        update_worker_build_id_compatibility(UpdateWorkerBuildIdCompatibilityRequest) -> UpdateWorkerBuildIdCompatibilityResponse: legacy_v01;
        get_worker_versioning_rules(GetWorkerVersioningRulesRequest) -> GetWorkerVersioningRulesResponse: legacy_v02;
        update_worker_versioning_rules(UpdateWorkerVersioningRulesRequest) -> UpdateWorkerVersioningRulesResponse: legacy_v02;
        get_worker_task_reachability(GetWorkerTaskReachabilityRequest) -> GetWorkerTaskReachabilityResponse: legacy_v02;
    }
}

/// The version-set APIs (v0.1), off as on the real server by default.
fn legacy_v01() -> ApiError {
    ApiError::PermissionDenied(String::from(
        "Worker versioning v0.1 (Version Set-based, deprecated) is disabled on this namespace.",
    ))
}

/// The versioning-rules APIs (v0.2), off as on the real server by default.
fn legacy_v02() -> ApiError {
    ApiError::PermissionDenied(String::from(
        "Worker versioning v0.2 (Rules-based, deprecated) is disabled on this namespace.",
    ))
}
