//! The Prometheus endpoint (`--metrics-port`, `metrics.listen`): installs the process's metrics
//! recorder and serves `/metrics` in the text exposition format. What is recorded, and under
//! which names, is `endure_server::metrics`'s business; this module only exports it.

use anyhow::{Context, Result};
use metrics_exporter_prometheus::PrometheusBuilder;
use std::net::SocketAddr;

/// Serves `/metrics` on `addr` (in the background, on the current tokio runtime) and describes
/// every metric so each series exists from the start. Fails if `addr` cannot be bound. Call
/// at most once per process: the recorder is global.
pub fn serve(addr: SocketAddr) -> Result<()> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .with_context(|| format!("serving metrics on {addr}"))?;
    endure_server::metrics::describe();
    Ok(())
}
