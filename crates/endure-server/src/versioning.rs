//! Where versioned tasks are queued: the routing of task queues that belong to a Worker
//! Deployment, as the queue's owner knows it.
//!
//! A versioned worker polls its task queue as a version of a deployment; matching keeps one
//! queue per version (the task queue's name plus the version, [`physical`]) beside the plain one
//! unversioned workers poll. A task goes to its pinned version's queue when that version polls
//! the queue, else to the version the deployment's routing picks for its workflow id (current,
//! or ramping by hash), else to the plain queue. When the routing changes, the router places the
//! queue's waiting tasks again ([`VersionRouting::set_route`] says so).
//!
//! What this module deliberately does not know: how routing is decided or stored (the
//! deployment's system run, `endure_core::deployer`; the `deployments` service tells this table),
//! and what a task is beyond its pinned version and workflow id.

use crate::matching::QueueKind;
use endure_core::deployment::{Route, Version};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};

/// The name matching keeps a version's queue under: the task queue's name and the version,
/// joined by a character no client sends in a name.
pub fn physical(queue: &str, version: Option<&Version>) -> String {
    match version {
        Some(v) => format!("{queue}\u{1f}{}", v.key()),
        None => queue.to_owned(),
    }
}

#[derive(Default)]
struct QueueRouting {
    route: Route,
    /// Versions (build ids) polling this queue, by kind.
    versions: HashSet<(String, QueueKind)>,
}

/// The routing of every versioned task queue this replica knows.
#[derive(Default)]
pub struct VersionRouting {
    queues: Mutex<HashMap<(String, String), QueueRouting>>,
    /// Sticky queues of versioned workers: (namespace id, sticky queue) → (normal queue, version).
    sticky: Mutex<HashMap<(String, String), (String, Version)>>,
}

impl VersionRouting {
    /// An empty table.
    pub fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self::default())
    }

    /// A version polls `queue` (of `kind`).
    pub fn add_version(&self, namespace_id: &str, queue: &str, kind: QueueKind, version: &Version) {
        let mut qs = self.queues.lock();
        let q = qs.entry((namespace_id.to_owned(), queue.to_owned())).or_default();
        if q.route.deployment.is_empty() {
            q.route.deployment = version.deployment.clone();
        }
        q.versions.insert((version.build_id.clone(), kind));
    }

    /// A versioned worker polls its sticky queue.
    pub fn add_sticky(&self, namespace_id: &str, sticky: &str, normal: &str, version: &Version) {
        self.sticky
            .lock()
            .insert((namespace_id.to_owned(), sticky.to_owned()), (normal.to_owned(), version.clone()));
    }

    /// Sets a queue's routing; true when it changed (its waiting tasks must be placed again).
    pub fn set_route(&self, namespace_id: &str, queue: &str, route: &Route) -> bool {
        let mut qs = self.queues.lock();
        let q = qs.entry((namespace_id.to_owned(), queue.to_owned())).or_default();
        if q.route == *route {
            return false;
        }
        q.route = route.clone();
        true
    }

    /// A queue's routing (its deployment's), if it belongs to one.
    pub fn route(&self, namespace_id: &str, queue: &str) -> Option<Route> {
        let qs = self.queues.lock();
        qs.get(&(namespace_id.to_owned(), queue.to_owned()))
            .map(|q| q.route.clone())
            .filter(|r| !r.deployment.is_empty())
    }

    /// The build ids of the versions polling `queue` (of `kind`).
    pub fn builds(&self, namespace_id: &str, queue: &str, kind: QueueKind) -> Vec<String> {
        let qs = self.queues.lock();
        let mut out: Vec<String> = qs
            .get(&(namespace_id.to_owned(), queue.to_owned()))
            .map(|q| q.versions.iter().filter(|(_, k)| *k == kind).map(|(b, _)| b.clone()).collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Every physical queue of `queue` (the plain one and each version's) of `kind`.
    pub fn physical_queues(&self, namespace_id: &str, queue: &str, kind: QueueKind) -> Vec<String> {
        let qs = self.queues.lock();
        let mut out = vec![queue.to_owned()];
        if let Some(q) = qs.get(&(namespace_id.to_owned(), queue.to_owned())) {
            for (build, k) in &q.versions {
                if *k == kind {
                    out.push(physical(queue, Some(&Version::new(&q.route.deployment, build))));
                }
            }
        }
        out
    }

    /// The version a task of `workflow_id` goes to on `queue` (`None`: the plain queue):
    /// `pinned` (`dep:build`) when that version polls the queue, else the routing's pick.
    pub fn target(
        &self,
        namespace_id: &str,
        queue: &str,
        kind: QueueKind,
        workflow_id: &str,
        pinned: &str,
    ) -> Option<Version> {
        let qs = self.queues.lock();
        if qs.is_empty() {
            // No versioned worker polls here: every task goes to its plain queue, unallocated.
            return None;
        }
        let q = qs.get(&(namespace_id.to_owned(), queue.to_owned()))?;
        if let Some(v) = Version::from_key(pinned)
            && v.deployment == q.route.deployment
            && q.versions.contains(&(v.build_id.clone(), kind))
        {
            return Some(v);
        }
        if q.route.deployment.is_empty() {
            return None;
        }
        let build = q.route.target(workflow_id);
        (!build.is_empty()).then(|| Version::new(&q.route.deployment, build))
    }

    /// Where a task of `workflow_id` on a sticky queue may go: `Ok(())` when the sticky
    /// worker's version is the one the task goes to (or the worker is unversioned), `Err` when
    /// the task must go back to its normal queue.
    pub fn sticky_allows(&self, namespace_id: &str, sticky: &str, workflow_id: &str, pinned: &str) -> bool {
        let entry = {
            let st = self.sticky.lock();
            if st.is_empty() {
                return true;
            }
            st.get(&(namespace_id.to_owned(), sticky.to_owned())).cloned()
        };
        let Some((normal, version)) = entry else { return true };
        let target = self.target(namespace_id, &normal, QueueKind::Workflow, workflow_id, pinned);
        target.as_ref() == Some(&version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_tasks_go_to_their_version_others_follow_the_routing() {
        let r = VersionRouting::default();
        let (v1, v2) = (Version::new("d", "v1"), Version::new("d", "v2"));
        assert_eq!(r.target("ns", "q", QueueKind::Workflow, "w", ""), None, "no deployment: the plain queue");
        r.add_version("ns", "q", QueueKind::Workflow, &v1);
        r.add_version("ns", "q", QueueKind::Workflow, &v2);
        assert_eq!(r.target("ns", "q", QueueKind::Workflow, "w", ""), None, "current unversioned");
        let route = Route { deployment: "d".into(), current: "v2".into(), revision: 1, ..Default::default() };
        assert!(r.set_route("ns", "q", &route));
        assert!(!r.set_route("ns", "q", &route));
        assert_eq!(r.target("ns", "q", QueueKind::Workflow, "w", ""), Some(v2.clone()));
        assert_eq!(r.target("ns", "q", QueueKind::Workflow, "w", "d:v1"), Some(v1.clone()));
        assert_eq!(
            r.target("ns", "q", QueueKind::Activity, "w", "d:v1"),
            Some(v2.clone()),
            "v1 polls no activities"
        );
        assert_eq!(physical("q", Some(&v1)), "q\u{1f}d:v1");
        assert_eq!(r.physical_queues("ns", "q", QueueKind::Workflow).len(), 3);
        r.add_sticky("ns", "s", "q", &v1);
        assert!(!r.sticky_allows("ns", "s", "w", ""), "an unpinned run goes to the current version");
        assert!(r.sticky_allows("ns", "s", "w", "d:v1"));
        assert!(r.sticky_allows("ns", "other", "w", ""));
    }
}
