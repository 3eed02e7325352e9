//! The Prometheus endpoint (`--metrics-port`, `metrics.listen`): installs the process's metrics
//! recorder and serves `/metrics` in the text exposition format. What is recorded, under which
//! names and with which buckets, is `endure_server::metrics`'s business; this module only
//! exports it.

use anyhow::{Context, Result};
use endure_server::metrics::{ALL, Kind};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::time::Duration;

/// Serves `/metrics` on `addr` (in the background, on the current tokio runtime) and describes
/// every metric so each series exists from the start. Fails if `addr` cannot be bound. Call
/// at most once per process: the recorder is global.
pub async fn serve(addr: SocketAddr) -> Result<()> {
    let mut builder = PrometheusBuilder::new();
    for m in ALL {
        if let Kind::Histogram(buckets) = m.kind {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(m.name.to_owned()), buckets.bounds())
                .with_context(|| format!("buckets of {}", m.name))?;
        }
    }
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("serving metrics on {addr}"))?;
    let handle = builder.install_recorder().context("installing the metrics recorder")?;
    endure_server::metrics::describe();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    let app = axum::Router::new().route("/metrics", axum::routing::get(move || render(handle.clone())));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the metrics endpoint stopped: {e}");
        }
    });
    Ok(())
}

async fn render(handle: PrometheusHandle) -> ([(&'static str, &'static str); 1], String) {
    ([("content-type", "text/plain; version=0.0.4")], exposition(&handle.render()))
}

/// The exporter's text with every histogram's count line named `<name>_count`: the exporter
/// leaves the suffix off a name that already ends in `count` (`state_transition_count`), where
/// Prometheus and the real server's `state_transition_count_count` have it.
fn exposition(text: &str) -> String {
    let bare: Vec<&str> = ALL
        .iter()
        .filter(|m| matches!(m.kind, Kind::Histogram(_)) && m.name.ends_with("count"))
        .map(|m| m.name)
        .collect();
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        match bare.iter().find(|n| line.strip_prefix(**n).is_some_and(|rest| rest.starts_with(['{', ' ']))) {
            Some(name) => {
                out.push_str(name);
                out.push_str("_count");
                out.push_str(&line[name.len()..]);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::exposition;

    #[test]
    fn a_histogram_named_count_gets_its_count_line() {
        let text = "# TYPE state_transition_count histogram\n\
                    state_transition_count_bucket{le=\"1\"} 2\n\
                    state_transition_count_sum{namespace=\"default\"} 3\n\
                    state_transition_count{namespace=\"default\"} 2\n\
                    state_transition_count 5\n\
                    acquire_shards_count{operation=\"ShardController\"} 1\n";
        let out = exposition(text);
        assert!(out.contains("state_transition_count_count{namespace=\"default\"} 2\n"), "{out}");
        assert!(out.contains("state_transition_count_count 5\n"), "{out}");
        assert!(out.contains("state_transition_count_bucket{le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("# TYPE state_transition_count histogram\n"), "{out}");
        assert!(out.contains("acquire_shards_count{operation=\"ShardController\"} 1\n"), "{out}");
    }
}
