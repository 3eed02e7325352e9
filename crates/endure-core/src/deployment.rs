//! Worker Deployments: what a deployment keeps ([`DeploymentState`]: its versions, their task
//! queues and metadata, its routing config, its manager), what a run keeps of versioning
//! ([`RunVersioning`]), and the real server's rules for both: the names of versions in their
//! three spellings, where a new task goes (current version, or the ramping one by the workflow
//! id's hash), a version's status. The deployment's transitions are in [`crate::deployer`].
//!
//! A deployment lives as a system run (`temporal-sys-worker-deployment:<name>`, the real
//! server's id) that writes no history, like a schedule. This module does not know where tasks
//! are queued or who polls them (the server routes by [`Route::target`]).

use crate::api::deployment::v1::{VersionMetadata, WorkerDeploymentVersion};
use crate::api::enums::v1::{VersionDrainageStatus, VersioningBehavior, WorkerDeploymentVersionStatus};
use crate::protobytes;
use crate::time::Nanos;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Prefix of a deployment's system-run workflow id (the real server's).
pub const WORKFLOW_ID_PREFIX: &str = "temporal-sys-worker-deployment:";
/// `TemporalNamespaceDivision` of a deployment's system run: workflow listings leave it out.
pub const NAMESPACE_DIVISION: &str = "TemporalWorkerDeployment";
/// The deprecated string form of "no version".
pub const UNVERSIONED: &str = "__unversioned__";

/// Search attribute: the deployment of the run's version.
pub const SA_DEPLOYMENT: &str = "TemporalWorkerDeployment";
/// Search attribute: the run's version, `dep:build`.
pub const SA_VERSION: &str = "TemporalWorkerDeploymentVersion";
/// Search attribute: the run's versioning behavior, `Pinned` or `AutoUpgrade`.
pub const SA_BEHAVIOR: &str = "TemporalWorkflowVersioningBehavior";
/// Search attribute: every version that completed a task of the run.
pub const SA_USED_VERSIONS: &str = "TemporalUsedWorkerDeploymentVersions";

/// The system-run workflow id of deployment `name`.
pub fn workflow_id_of(name: &str) -> String {
    format!("{WORKFLOW_ID_PREFIX}{name}")
}

/// The deployment name of a deployment's system-run workflow id.
pub fn name_of(workflow_id: &str) -> Option<&str> {
    workflow_id.strip_prefix(WORKFLOW_ID_PREFIX)
}

/// A version of a deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Version {
    /// Deployment name.
    pub deployment: String,
    /// Build id.
    pub build_id: String,
}

impl Version {
    /// A version.
    pub fn new(deployment: &str, build_id: &str) -> Version {
        Version { deployment: deployment.to_owned(), build_id: build_id.to_owned() }
    }

    /// `dep.build`: the deprecated string fields' form.
    pub fn dotted(&self) -> String {
        format!("{}.{}", self.deployment, self.build_id)
    }

    /// `dep:build`: search attributes' and error messages' form (and tasks' routing key).
    pub fn key(&self) -> String {
        format!("{}:{}", self.deployment, self.build_id)
    }

    /// Parses [`Version::key`].
    pub fn from_key(key: &str) -> Option<Version> {
        let (d, b) = key.split_once(':')?;
        Some(Version::new(d, b))
    }

    /// Parses the deprecated `dep.build` form (the deployment name has no `.`).
    pub fn from_dotted(s: &str) -> Option<Version> {
        let (d, b) = s.split_once('.')?;
        Some(Version::new(d, b))
    }

    /// The wire message.
    pub fn wire(&self) -> WorkerDeploymentVersion {
        WorkerDeploymentVersion { build_id: self.build_id.clone(), deployment_name: self.deployment.clone() }
    }

    /// From the wire message (`None` when it names no build).
    pub fn of_wire(v: &WorkerDeploymentVersion) -> Option<Version> {
        (!v.build_id.is_empty()).then(|| Version::new(&v.deployment_name, &v.build_id))
    }
}

/// Where a task queue's unpinned tasks go: its deployment's routing config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Route {
    /// The deployment.
    pub deployment: String,
    /// Current version's build id ("" = unversioned).
    pub current: String,
    /// Ramping version's build id ("" = none; with `current` "" and a ramp, unversioned ramps).
    pub ramping: String,
    /// Whether a ramp is set (the ramping version may be unversioned).
    pub ramp_set: bool,
    /// Percentage of new runs the ramping version takes.
    pub percentage: f32,
    /// The routing config's revision.
    pub revision: i64,
}

impl Route {
    /// The build id ("" = unversioned) a new task of `workflow_id` goes to, as the real server
    /// chooses it: the ramping version iff `100 * Fingerprint32(id) / 2^32 <= percentage`.
    pub fn target(&self, workflow_id: &str) -> &str {
        if self.ramp_set && self.percentage > 0.0 {
            let threshold =
                100.0 * f64::from(farmhash::fingerprint32(workflow_id.as_bytes())) / 4_294_967_296.0;
            if threshold <= f64::from(self.percentage) {
                return &self.ramping;
            }
        }
        &self.current
    }
}

/// How a version's drainage was last found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Drainage {
    /// `VersionDrainageStatus`.
    pub status: i32,
    /// When the status last changed.
    pub last_changed: Nanos,
    /// When it was last checked.
    pub last_checked: Nanos,
}

/// A version of a deployment as the deployment keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionState {
    /// Build id.
    pub build_id: String,
    /// When its first poll registered it.
    pub create_time: Nanos,
    /// When its routing last changed.
    pub routing_update_time: Nanos,
    /// Since when it is current (0 when not).
    pub current_since: Nanos,
    /// Since when it is ramping (0 when not).
    pub ramping_since: Nanos,
    /// The ramp percentage while ramping.
    pub ramp_percentage: f32,
    /// When it first became current or ramping.
    pub first_activation: Nanos,
    /// When it was last current.
    pub last_current: Nanos,
    /// When it last stopped being current or ramping.
    pub last_deactivation: Nanos,
    /// Its task queues: (name, `TaskQueueType`).
    pub task_queues: BTreeSet<(String, i32)>,
    /// Its metadata.
    #[serde(with = "protobytes::opt")]
    pub metadata: Option<VersionMetadata>,
    /// Its drainage, once it stopped being current or ramping.
    pub drainage: Option<Drainage>,
}

impl VersionState {
    /// Its status (current and ramping come from the deployment's routing).
    pub fn status(&self, current: bool, ramping: bool) -> WorkerDeploymentVersionStatus {
        if current {
            WorkerDeploymentVersionStatus::Current
        } else if ramping {
            WorkerDeploymentVersionStatus::Ramping
        } else {
            match self.drainage.as_ref().map(|d| VersionDrainageStatus::try_from(d.status)) {
                Some(Ok(VersionDrainageStatus::Draining)) => WorkerDeploymentVersionStatus::Draining,
                Some(Ok(VersionDrainageStatus::Drained)) => WorkerDeploymentVersionStatus::Drained,
                _ => WorkerDeploymentVersionStatus::Inactive,
            }
        }
    }
}

/// What a deployment's system run holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentState {
    /// Deployment name.
    pub name: String,
    /// When its first version registered.
    pub create_time: Nanos,
    /// Versions by build id.
    pub versions: BTreeMap<String, VersionState>,
    /// The routing config (its `deployment` is `name`).
    pub route: Route,
    /// When the current version last changed (0: never).
    pub current_changed: Nanos,
    /// When the ramping version last changed (0: never).
    pub ramping_changed: Nanos,
    /// When the ramp percentage last changed (0: never).
    pub percentage_changed: Nanos,
    /// Identity of the last routing or manager change.
    pub last_modifier: String,
    /// The manager identity ("" = none).
    pub manager: String,
    /// The time of the last routing or manager change (or the creation): the conflict token.
    pub token_time: Nanos,
}

impl DeploymentState {
    /// The conflict token: Go's `time.Time.MarshalBinary` of [`DeploymentState::token_time`],
    /// as the real server's (15 bytes: version 1, seconds since year 1, nanoseconds, UTC).
    pub fn conflict_token(&self) -> Vec<u8> {
        const GO_UNIX_OFFSET: i64 = 62_135_596_800;
        let secs = self.token_time.div_euclid(1_000_000_000) + GO_UNIX_OFFSET;
        let nanos = self.token_time.rem_euclid(1_000_000_000) as u32;
        let mut out = vec![1u8];
        out.extend_from_slice(&secs.to_be_bytes());
        out.extend_from_slice(&nanos.to_be_bytes());
        out.extend_from_slice(&[0xff, 0xff]);
        out
    }

    /// A version's status under the current routing.
    pub fn status_of(&self, v: &VersionState) -> WorkerDeploymentVersionStatus {
        let current = !self.route.current.is_empty() && self.route.current == v.build_id;
        let ramping =
            self.route.ramp_set && !self.route.ramping.is_empty() && self.route.ramping == v.build_id;
        v.status(current, ramping)
    }

    /// Every task queue of the deployment's versions (the queues its routing applies to).
    pub fn task_queues(&self) -> BTreeSet<String> {
        self.versions.values().flat_map(|v| v.task_queues.iter().map(|(q, _)| q.clone())).collect()
    }
}

/// What a workflow run keeps of worker versioning.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunVersioning {
    /// `VersioningBehavior` the last versioned completion reported.
    pub behavior: i32,
    /// The version that completed the last workflow task (`None`: unversioned).
    pub version: Option<Version>,
    /// The routing revision under which its version was last decided.
    pub revision: i64,
    /// Every version that completed one of its tasks, in order.
    pub used: Vec<Version>,
    /// An operator's override (UpdateWorkflowExecutionOptions, or the start's).
    #[serde(with = "protobytes::opt")]
    pub override_: Option<crate::api::workflow::v1::VersioningOverride>,
    /// A version the run starts on, inherited from its parent or predecessor (pinned until its
    /// first completion says otherwise).
    pub inherited: Option<Version>,
    /// The `ContinueAsNewVersioningBehavior` its predecessor's continue-as-new asked for.
    pub can_initial_behavior: i32,
}

impl RunVersioning {
    /// The version an override pins the run to, if any.
    pub fn override_pin(&self) -> Option<Version> {
        use crate::api::workflow::v1::versioning_override::Override;
        let o = self.override_.as_ref()?;
        #[allow(deprecated)]
        match o.r#override.as_ref() {
            Some(Override::Pinned(p)) => p.version.as_ref().and_then(Version::of_wire),
            Some(Override::AutoUpgrade(_)) => None,
            _ if o.behavior == VersioningBehavior::Pinned as i32 => Version::from_dotted(&o.pinned_version),
            _ => None,
        }
    }

    /// Whether an override says auto-upgrade.
    pub fn override_auto(&self) -> bool {
        use crate::api::workflow::v1::versioning_override::Override;
        let Some(o) = self.override_.as_ref() else { return false };
        #[allow(deprecated)]
        let legacy = o.behavior == VersioningBehavior::AutoUpgrade as i32;
        matches!(o.r#override, Some(Override::AutoUpgrade(true))) || legacy
    }

    /// The target of a one-time override: the run's next task goes there, once.
    pub fn one_time_target(&self) -> Option<Version> {
        use crate::api::workflow::v1::versioning_override::Override;
        match self.override_.as_ref()?.r#override.as_ref()? {
            Override::OneTime(o) => o.target_deployment_version.as_ref().and_then(Version::of_wire),
            _ => None,
        }
    }

    /// The version the run's next tasks must go to (`None`: its queue's routing decides).
    pub fn pinned(&self) -> Option<Version> {
        if let Some(v) = self.override_pin().or_else(|| self.one_time_target()) {
            return Some(v);
        }
        if self.override_auto() {
            return None;
        }
        if self.behavior == VersioningBehavior::Pinned as i32 {
            return self.version.clone();
        }
        if self.version.is_none() {
            return self.inherited.clone();
        }
        None
    }

    /// The behavior that counts: a pinned override makes the run Pinned, an auto-upgrade one
    /// AutoUpgrade.
    pub fn effective_behavior(&self) -> i32 {
        if self.override_pin().is_some() {
            VersioningBehavior::Pinned as i32
        } else if self.override_auto() {
            VersioningBehavior::AutoUpgrade as i32
        } else {
            self.behavior
        }
    }

    /// The version that counts: an override's pin, else the last completion's.
    pub fn effective_version(&self) -> Option<Version> {
        self.override_pin().or_else(|| self.version.clone())
    }
}

/// `Pinned` / `AutoUpgrade`: the behavior's name in search attributes.
pub fn behavior_name(behavior: i32) -> Option<&'static str> {
    match VersioningBehavior::try_from(behavior).ok()? {
        VersioningBehavior::Pinned => Some("Pinned"),
        VersioningBehavior::AutoUpgrade => Some("AutoUpgrade"),
        VersioningBehavior::Unspecified => None,
    }
}

/// An override in the new style only, as the real server records it: the deprecated
/// `behavior` + `pinned_version` become `pinned { version }` or `auto_upgrade`, and a pin
/// without a behavior pins.
#[allow(deprecated)]
pub fn normalize_override(
    o: crate::api::workflow::v1::VersioningOverride,
) -> crate::api::workflow::v1::VersioningOverride {
    use crate::api::enums::v1::VersioningBehavior;
    use crate::api::workflow::v1::VersioningOverride;
    use crate::api::workflow::v1::versioning_override::{Override, PinnedOverride, PinnedOverrideBehavior};
    let r#override = match o.r#override {
        Some(Override::Pinned(mut p)) => {
            if p.behavior == PinnedOverrideBehavior::Unspecified as i32 {
                p.behavior = PinnedOverrideBehavior::Pinned as i32;
            }
            Some(Override::Pinned(p))
        }
        Some(other) => Some(other),
        None if o.behavior == VersioningBehavior::Pinned as i32 => Some(Override::Pinned(PinnedOverride {
            behavior: PinnedOverrideBehavior::Pinned as i32,
            version: crate::deployment::Version::from_dotted(&o.pinned_version).map(|v| v.wire()),
        })),
        None if o.behavior == VersioningBehavior::AutoUpgrade as i32 => Some(Override::AutoUpgrade(true)),
        None => None,
    };
    VersioningOverride { r#override, ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conflict_token_is_gos_binary_time() {
        let d = DeploymentState { token_time: 1_700_000_000_123_456_789, ..Default::default() };
        let t = d.conflict_token();
        assert_eq!(t.len(), 15);
        assert_eq!(t[0], 1);
        assert_eq!(i64::from_be_bytes(t[1..9].try_into().unwrap()), 1_700_000_000 + 62_135_596_800);
        assert_eq!(u32::from_be_bytes(t[9..13].try_into().unwrap()), 123_456_789);
        assert_eq!(&t[13..], &[0xff, 0xff]);
    }

    #[test]
    fn ramp_routing_by_hash() {
        let r = Route {
            deployment: "d".into(),
            current: "v1".into(),
            ramping: "v2".into(),
            ramp_set: true,
            percentage: 100.0,
            revision: 1,
        };
        assert_eq!(r.target("anything"), "v2");
        let r0 = Route { percentage: 0.0, ..r.clone() };
        assert_eq!(r0.target("anything"), "v1");
    }

    #[test]
    fn version_spellings() {
        let v = Version::new("dep", "v1");
        assert_eq!(v.dotted(), "dep.v1");
        assert_eq!(v.key(), "dep:v1");
        assert_eq!(Version::from_key("dep:v1"), Some(v.clone()));
        assert_eq!(Version::from_dotted("dep.v1"), Some(v));
    }
}
