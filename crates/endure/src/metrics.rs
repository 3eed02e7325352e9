//! The Prometheus endpoint (`--metrics-port`, `metrics.listen`): installs the process's metrics
//! recorder and serves `/metrics` in the text exposition format. What is recorded, under which
//! names and with which buckets, is `endure_server::metrics`'s business; this module only
//! exports it.

use anyhow::{Context, Result};
use endure_server::metrics::{ALL, Kind};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use std::net::SocketAddr;

/// Serves `/metrics` on `addr` (in the background, on the current tokio runtime) and describes
/// every metric so each series exists from the start. Fails if `addr` cannot be bound. Call
/// at most once per process: the recorder is global.
pub fn serve(addr: SocketAddr) -> Result<()> {
    let mut builder = PrometheusBuilder::new().with_http_listener(addr);
    for m in ALL {
        if let Kind::Histogram(buckets) = m.kind {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(m.name.to_owned()), buckets.bounds())
                .with_context(|| format!("buckets of {}", m.name))?;
        }
    }
    builder.install().with_context(|| format!("serving metrics on {addr}"))?;
    endure_server::metrics::describe();
    Ok(())
}
