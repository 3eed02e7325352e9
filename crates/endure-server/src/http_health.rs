//! HTTP probes for orchestrators: `GET /healthz` answers 200 while the process serves requests
//! (liveness), `GET /readyz` answers 200 only while the replica is ready for traffic — joined the
//! cluster, holding its shards, its store reachable — and 503 otherwise (readiness). The same
//! readiness is reported by grpc.health.v1 on the gRPC port.

use crate::frontend::Frontend;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use std::sync::Arc;
use tokio::sync::watch;

async fn healthz() -> (StatusCode, &'static str) {
    (StatusCode::OK, "ok\n")
}

async fn readyz(State(fe): State<Arc<Frontend>>) -> (StatusCode, &'static str) {
    if fe.is_ready() { (StatusCode::OK, "ready\n") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready\n") }
}

/// Serves the probes on `listener` until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    frontend: Arc<Frontend>,
    mut stop: watch::Receiver<bool>,
) {
    let app =
        Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(frontend);
    let r = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
    if let Err(e) = r {
        tracing::warn!("HTTP probe server ended with an error: {e}");
    }
}
