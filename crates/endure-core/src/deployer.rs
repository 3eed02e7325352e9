//! A Worker Deployment's transitions: versions registered by their first polls, the routing
//! config (current and ramping versions), version metadata, the manager identity, drainage and
//! deletion, with the real server's rules and messages ([`crate::deployment`] holds the data).

use crate::CoreError;
use crate::api::common::v1::{Payload, WorkflowType};
use crate::api::deployment::v1::VersionMetadata;
use crate::api::enums::v1::{VersionDrainageStatus, WorkflowExecutionStatus as Status};
use crate::deployment::{DeploymentState, Drainage, Version, VersionState, workflow_id_of};
use crate::state::MutableState;
use crate::time::Nanos;
use crate::transition::Txn;
use std::collections::BTreeMap;

/// The workflow type of a deployment's system run (the real server's).
pub const WORKFLOW_TYPE: &str = "temporal-sys-worker-deployment-workflow";

/// The system run of a new deployment, made by its first version's first poll.
pub fn new_deployment(namespace_id: &str, name: &str, run_id: &str, now: Nanos) -> MutableState {
    MutableState {
        namespace_id: namespace_id.to_owned(),
        workflow_id: workflow_id_of(name),
        run_id: run_id.to_owned(),
        first_execution_run_id: run_id.to_owned(),
        workflow_type: Some(WorkflowType { name: WORKFLOW_TYPE.into() }),
        task_queue: crate::schedule::TASK_QUEUE.into(),
        status: Status::Running as i32,
        start_time: now,
        execution_time: now,
        next_event_id: 1,
        state_transition_count: 1,
        deployment: Some(Box::new(DeploymentState {
            name: name.to_owned(),
            create_time: now,
            route: crate::deployment::Route { deployment: name.to_owned(), ..Default::default() },
            token_time: now,
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// What a routing change answers: the previous version ("" = unversioned) and percentage.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingChanged {
    /// The previous current (or ramping) version's build id ("" = unversioned / none).
    pub previous: String,
    /// The previous ramp percentage (ramping changes).
    pub previous_percentage: f32,
    /// Whether anything changed (a repeat is a no-op).
    pub changed: bool,
}

impl Txn<'_> {
    fn deployment_mut(&mut self) -> Result<&mut DeploymentState, CoreError> {
        self.require_open()?;
        self.ms.deployment.as_deref_mut().ok_or_else(|| CoreError::NotFound("not a worker deployment".into()))
    }

    /// A versioned poll of `build` on task queue `queue` (`TaskQueueType` `kind`): the version
    /// and the queue are recorded if new. Returns whether anything was recorded.
    pub fn register_version(&mut self, build: &str, queue: &str, kind: i32) -> Result<bool, CoreError> {
        let now = self.now;
        let d = self.deployment_mut()?;
        let v = d.versions.entry(build.to_owned()).or_insert_with(|| VersionState {
            build_id: build.to_owned(),
            create_time: now,
            ..Default::default()
        });
        Ok(v.task_queues.insert((queue.to_owned(), kind)))
    }

    /// Records a version no worker polled yet (a routing change with `allow_no_pollers`).
    pub fn add_version(&mut self, build: &str) -> Result<(), CoreError> {
        let now = self.now;
        let d = self.deployment_mut()?;
        if !build.is_empty() {
            d.versions.entry(build.to_owned()).or_insert_with(|| VersionState {
                build_id: build.to_owned(),
                create_time: now,
                ..Default::default()
            });
        }
        Ok(())
    }

    /// Checks who may change the routing: the conflict token (when given) and the manager.
    fn may_change(&mut self, identity: &str, token: &[u8]) -> Result<(), CoreError> {
        let d = self.deployment_mut()?;
        if !d.manager.is_empty() && d.manager != identity {
            return Err(CoreError::FailedPrecondition(format!(
                "ManagerIdentity '{}' is set and does not match user identity '{identity}'; to proceed, set your own identity as the ManagerIdentity, remove the ManagerIdentity, or wait for the other client to do so",
                d.manager
            )));
        }
        if !token.is_empty() && token != d.conflict_token().as_slice() {
            return Err(CoreError::FailedPrecondition("conflict token mismatch".into()));
        }
        Ok(())
    }

    fn known_build(&mut self, build: &str) -> Result<(), CoreError> {
        let d = self.deployment_mut()?;
        if !build.is_empty() && !d.versions.contains_key(build) {
            return Err(CoreError::NotFound(format!(
                "build ID '{build}' not found in Worker Deployment '{}'",
                d.name
            )));
        }
        Ok(())
    }

    /// SetWorkerDeploymentCurrentVersion (`build` "" = unversioned). A ramping version made
    /// current stops ramping; the previous current one starts draining.
    pub fn set_current_version(
        &mut self,
        build: &str,
        identity: &str,
        token: &[u8],
    ) -> Result<RoutingChanged, CoreError> {
        self.may_change(identity, token)?;
        self.known_build(build)?;
        let now = self.now;
        let d = self.deployment_mut()?;
        let previous = d.route.current.clone();
        if previous == build {
            return Ok(RoutingChanged { previous, previous_percentage: 0.0, changed: false });
        }
        d.route.current = build.to_owned();
        d.route.revision += 1;
        d.current_changed = now;
        d.token_time = now;
        d.last_modifier = identity.to_owned();
        if d.route.ramp_set && d.route.ramping == build {
            d.route.ramp_set = false;
            d.route.ramping.clear();
            d.route.percentage = 0.0;
        }
        if let Some(v) = d.versions.get_mut(build) {
            v.current_since = now;
            v.ramping_since = 0;
            v.ramp_percentage = 0.0;
            v.routing_update_time = now;
            v.last_current = now;
            if v.first_activation == 0 {
                v.first_activation = now;
            }
            v.drainage = Some(Drainage { status: 0, last_changed: now, last_checked: now });
        }
        if let Some(v) = d.versions.get_mut(&previous) {
            v.current_since = 0;
            v.routing_update_time = now;
            v.last_deactivation = now;
            v.drainage = Some(Drainage {
                status: VersionDrainageStatus::Draining as i32,
                last_changed: now,
                last_checked: now,
            });
        }
        Ok(RoutingChanged { previous, previous_percentage: 0.0, changed: true })
    }

    /// SetWorkerDeploymentRampingVersion: `build` ("" with `unversioned` false: remove the
    /// ramp) takes `percentage` of new runs.
    pub fn set_ramping_version(
        &mut self,
        build: &str,
        unversioned: bool,
        percentage: f32,
        identity: &str,
        token: &[u8],
    ) -> Result<RoutingChanged, CoreError> {
        if !(0.0..=100.0).contains(&percentage) {
            return Err(CoreError::InvalidArgument(
                "Percentage must be between 0 and 100 (inclusive)".into(),
            ));
        }
        self.may_change(identity, token)?;
        self.known_build(build)?;
        let now = self.now;
        let d = self.deployment_mut()?;
        let remove = build.is_empty() && !unversioned;
        if !remove && d.route.current == build {
            let v = if build.is_empty() {
                crate::deployment::UNVERSIONED.to_owned()
            } else {
                Version::new(&d.name, build).dotted()
            };
            return Err(CoreError::FailedPrecondition(format!(
                "requested ramping version {v} is already current"
            )));
        }
        let previous = if d.route.ramp_set { d.route.ramping.clone() } else { String::new() };
        let previous_percentage = if d.route.ramp_set { d.route.percentage } else { 0.0 };
        let same = if remove {
            !d.route.ramp_set
        } else {
            d.route.ramp_set && d.route.ramping == build && d.route.percentage == percentage
        };
        if same {
            return Ok(RoutingChanged { previous, previous_percentage, changed: false });
        }
        let version_changed = !d.route.ramp_set || d.route.ramping != build || remove;
        d.route.revision += 1;
        d.token_time = now;
        d.last_modifier = identity.to_owned();
        d.percentage_changed = now;
        if version_changed {
            d.ramping_changed = now;
        }
        if remove {
            d.route.ramp_set = false;
            d.route.ramping.clear();
            d.route.percentage = 0.0;
        } else {
            d.route.ramp_set = true;
            d.route.ramping = build.to_owned();
            d.route.percentage = percentage;
        }
        if let Some(v) = d.versions.get_mut(build).filter(|_| !remove) {
            if v.ramping_since == 0 || version_changed {
                v.ramping_since = now;
            }
            v.ramp_percentage = percentage;
            v.routing_update_time = now;
            if v.first_activation == 0 {
                v.first_activation = now;
            }
            v.drainage = None;
        }
        if version_changed && let Some(v) = d.versions.get_mut(&previous).filter(|v| v.build_id != build) {
            v.ramping_since = 0;
            v.ramp_percentage = 0.0;
            v.routing_update_time = now;
            v.last_deactivation = now;
            v.drainage = Some(Drainage {
                status: VersionDrainageStatus::Draining as i32,
                last_changed: now,
                last_checked: now,
            });
        }
        Ok(RoutingChanged { previous, previous_percentage, changed: true })
    }

    /// DeleteWorkerDeploymentVersion. `has_pollers`: a worker polled it recently.
    pub fn delete_version(
        &mut self,
        build: &str,
        skip_drainage: bool,
        has_pollers: bool,
    ) -> Result<(), CoreError> {
        let d = self.deployment_mut()?;
        let Some(v) = d.versions.get(build) else { return Ok(()) };
        let key = Version::new(&d.name, build).key();
        let status = d.status_of(v);
        use crate::api::enums::v1::WorkerDeploymentVersionStatus as S;
        if matches!(status, S::Current | S::Ramping) {
            return Err(CoreError::FailedPrecondition(format!(
                "version '{key}' cannot be deleted since it is current or ramping"
            )));
        }
        if status == S::Draining && !skip_drainage {
            return Err(CoreError::FailedPrecondition(format!(
                "version '{key}' cannot be deleted since it is draining"
            )));
        }
        if has_pollers {
            return Err(CoreError::FailedPrecondition(format!(
                "version '{key}' cannot be deleted since it has active pollers"
            )));
        }
        d.versions.remove(build);
        Ok(())
    }

    /// DeleteWorkerDeployment: only without versions; closes the run.
    pub fn delete_deployment(&mut self) -> Result<(), CoreError> {
        let d = self.deployment_mut()?;
        if !d.versions.is_empty() {
            return Err(CoreError::FailedPrecondition("deployment has versions, can't be deleted".into()));
        }
        self.ms.status = Status::Terminated as i32;
        self.ms.close_time = self.now;
        Ok(())
    }

    /// UpdateWorkerDeploymentVersionMetadata: returns the version's metadata after it.
    pub fn update_version_metadata(
        &mut self,
        build: &str,
        upsert: BTreeMap<String, Payload>,
        remove: &[String],
    ) -> Result<VersionMetadata, CoreError> {
        let d = self.deployment_mut()?;
        let name = d.name.clone();
        let v = d.versions.get_mut(build).ok_or_else(|| {
            CoreError::NotFound(format!(
                "workflow not found for ID: temporal-sys-worker-deployment-version:{name}:{build}"
            ))
        })?;
        let m = v.metadata.get_or_insert_with(Default::default);
        for (k, p) in upsert {
            m.entries.insert(k, p);
        }
        for k in remove {
            m.entries.remove(k);
        }
        Ok(m.clone())
    }

    /// SetWorkerDeploymentManager: returns the previous manager.
    pub fn set_manager(
        &mut self,
        manager: &str,
        identity: &str,
        token: &[u8],
    ) -> Result<(String, bool), CoreError> {
        {
            let d = self.deployment_mut()?;
            if !token.is_empty() && token != d.conflict_token().as_slice() {
                return Err(CoreError::FailedPrecondition("conflict token mismatch".into()));
            }
        }
        let now = self.now;
        let d = self.deployment_mut()?;
        let previous = d.manager.clone();
        if previous == manager {
            return Ok((previous, false));
        }
        d.manager = manager.to_owned();
        d.token_time = now;
        d.last_modifier = identity.to_owned();
        Ok((previous, true))
    }

    /// A drainage check of a draining version: `open_pinned` says whether runs pinned to it
    /// are open. It is drained once none are.
    pub fn drainage_checked(&mut self, build: &str, open_pinned: bool) -> Result<(), CoreError> {
        let now = self.now;
        let d = self.deployment_mut()?;
        let Some(v) = d.versions.get_mut(build) else { return Ok(()) };
        let Some(dr) = v.drainage.as_mut().filter(|x| x.status == VersionDrainageStatus::Draining as i32)
        else {
            return Ok(());
        };
        dr.last_checked = now;
        if !open_pinned {
            dr.status = VersionDrainageStatus::Drained as i32;
            dr.last_changed = now;
        }
        Ok(())
    }
}
