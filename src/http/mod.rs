//! The HTTP server: Prometheus-compatible API, health endpoints and redline's own metrics.
//!
//! [`router`] assembles the axum routes over a shared [`AppState`]; [`serve`] runs them
//! until the shutdown signal fires. Handlers are thin: they parse parameters, call into
//! the library and shape JSON exactly as the Prometheus API does, so Grafana and other
//! clients work unchanged.

mod api;
mod params;
mod query;

use crate::scrape::target::TargetSet;
use crate::store::Store;
use crate::telemetry::Telemetry;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use api::{ApiError, ApiErrorKind};
pub use query::{format_value, value_json, QueryLimits, QueryService, SharedQueryService};

/// Everything handlers read: the store, the targets, the telemetry registry.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub targets: Arc<TargetSet>,
    pub telemetry: Arc<Telemetry>,
    /// Query limits and concurrency permits.
    pub query: SharedQueryService,
    /// Turns true once start-up finished; `/-/ready` answers 503 until then.
    pub ready: Arc<AtomicBool>,
}

/// All routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/metrics", get(metrics))
        .merge(api::routes())
        .merge(query::routes())
        .with_state(state)
}

async fn healthy() -> &'static str {
    "redline is Healthy.\n"
}

async fn ready(State(s): State<AppState>) -> Response {
    if s.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "redline is Ready.\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n").into_response()
    }
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.telemetry.encode(),
    )
        .into_response()
}

/// Binds `addr` and serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds a listener, with an error that names the address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}
