//! The gauges that describe what is, rather than what happened: each task queue's backlog
//! (`approximate_backlog_count`) and the shards held (`numshards_gauge`), sampled every
//! [`PERIOD`] until shutdown, as the real server emits its backlog gauge periodically.
//!
//! It reads matching, the namespace registry and shard ownership; it changes nothing. A queue
//! that empties or goes away is reported at zero once, then left out.

use crate::cluster::Ownership;
use crate::matching::{Matching, QueueKind};
use crate::metrics;
use crate::namespaces::Namespaces;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the gauges are sampled.
pub const PERIOD: Duration = Duration::from_secs(2);

type Series = (String, metrics::QueueKind, String);

/// Samples the gauges every [`PERIOD`] until `stop` turns true.
pub async fn run(
    matching: Arc<Matching>,
    namespaces: Arc<Namespaces>,
    ownership: Arc<Ownership>,
    mut stop: watch::Receiver<bool>,
) {
    let mut reported: HashMap<Series, usize> = HashMap::new();
    loop {
        metrics::shards_held(ownership.owned_shards().len());
        let mut now: HashMap<Series, usize> = HashMap::new();
        for q in matching.lengths() {
            let Some(namespace) = namespaces.name_of(&q.namespace_id) else { continue };
            // A versioned worker's queue is its task queue's series.
            let logical = q.queue.split('\u{1f}').next().unwrap_or_default();
            let kind = match q.kind {
                QueueKind::Workflow => metrics::QueueKind::Workflow,
                QueueKind::Activity => metrics::QueueKind::Activity,
            };
            let label = metrics::queue_label(logical, q.sticky).to_owned();
            *now.entry((namespace, kind, label)).or_default() += q.waiting;
        }
        for (series, _) in reported.iter().filter(|(s, _)| !now.contains_key(*s)) {
            metrics::backlog(&series.0, series.1, &series.2, 0);
        }
        now.retain(|series, waiting| {
            metrics::backlog(&series.0, series.1, &series.2, *waiting);
            *waiting > 0
        });
        reported = now;
        tokio::select! {
            _ = tokio::time::sleep(PERIOD) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
