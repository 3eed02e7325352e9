//! The HTTP listeners' plumbing, and the probes for orchestrators: `GET /healthz` answers 200 while the process serves requests
//! (liveness), `GET /readyz` answers 200 only while the replica is ready for traffic — joined the
//! cluster, holding its shards, its store reachable — and 503 otherwise (readiness). The same
//! readiness is reported by grpc.health.v1 on the gRPC port.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use std::sync::Arc;
use tokio::sync::watch;

async fn healthz() -> (StatusCode, &'static str) {
    (StatusCode::OK, "ok\n")
}

/// Whether the replica is ready for traffic.
pub type Readiness = Arc<dyn Fn() -> bool + Send + Sync>;

async fn readyz(State(ready): State<Readiness>) -> (StatusCode, &'static str) {
    if ready() { (StatusCode::OK, "ready\n") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready\n") }
}

/// The probes' routes.
pub fn router(ready: Readiness) -> Router {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(ready)
}

/// Serves `app` on `listener` until `stop` turns true; `what` names it in the log.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    what: &'static str,
    mut stop: watch::Receiver<bool>,
) {
    let r = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
    if let Err(e) = r {
        tracing::warn!("{what} server ended with an error: {e}");
    }
}
