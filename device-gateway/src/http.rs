//! The local health and metrics endpoint: `GET /health` (JSON, 200 when healthy, 503 when
//! degraded, so a watchdog can probe it) and `GET /metrics` (Prometheus text). Bind it to
//! loopback; it carries no patient data but no authentication either.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::GatewayMetrics;

/// The endpoint's routes.
pub fn router(metrics: Arc<GatewayMetrics>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .with_state(metrics)
}

/// Serves on an already bound listener until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<GatewayMetrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(metrics)).with_graceful_shutdown(shutdown).await
}

async fn health(State(m): State<Arc<GatewayMetrics>>) -> impl IntoResponse {
    let h = m.health();
    let code = if h.status == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(h))
}

async fn metrics_text(State(m): State<Arc<GatewayMetrics>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], m.render())
}
