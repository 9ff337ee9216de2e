//! The HTTP server: Prometheus-compatible API, health endpoints and redline's own metrics.
//!
//! [`router`] assembles the axum routes over a shared [`AppState`]; [`serve`] runs them
//! until the shutdown signal fires. Handlers are thin: they parse parameters, call into
//! the library and shape JSON exactly as the Prometheus API does, so Grafana and other
//! clients work unchanged.

pub mod acks;
pub mod acks_client;
pub mod alertmanager;
mod alertmanagers;
mod api;
pub mod cluster;
pub mod dashboard;
pub mod explain;
pub mod notifications;
mod params;
pub(crate) mod query;
pub mod slo_api;
pub mod slo_reports;
mod tsdb_status;

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
    /// The rules runtime, when rules run in this process.
    pub rules: Option<crate::rules::manager::RuleManagerHandle>,
    /// Where `POST /-/reload` sends its request, when reloading is possible.
    pub reload: Option<tokio::sync::mpsc::Sender<ReloadRequest>>,
    /// Directory of `<AlertName>.md` playbooks served at `/playbooks/<AlertName>`.
    pub playbooks_dir: Option<std::path::PathBuf>,
    /// Who may use the dashboard and the APIs (the config's `web:` section).
    pub web: Arc<dashboard::WebAccess>,
    /// The alerting pipeline, when alerts are routed in this process.
    pub alerting: Option<crate::alerting::Pipeline>,
    /// The SLO engine's figures, when SLOs are evaluated in this process.
    pub slos: Option<crate::slo::engine::SloView>,
    /// The notifier of `alerting:`, for `/api/v1/alertmanagers`.
    pub notifier: Option<crate::notifier::Notifier>,
    /// This replica's part in a cluster (`cluster:`), for `/api/v2/status`.
    pub cluster: Option<crate::cluster::Cluster>,
}

/// A reload request: the reload's outcome is sent back on the channel.
pub type ReloadRequest = tokio::sync::oneshot::Sender<Result<(), ReloadFailed>>;

/// Why a reload was rejected (the service's reload error, its sources kept); `POST /-/reload`
/// answers with its text.
pub type ReloadFailed = Box<dyn std::error::Error + Send + Sync>;

/// All routes.
pub fn router(state: AppState) -> Router {
    let web = state.web.clone();
    let cluster = state.cluster.clone();
    Router::new()
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/-/reload", axum::routing::post(reload).put(reload))
        .merge(api::routes())
        .merge(acks::routes())
        .merge(alertmanager::routes(
            state.alerting.clone(),
            state.cluster.clone(),
            state
                .alerting
                .as_ref()
                .map_or(alertmanager::DEFAULT_MAX_BODY_BYTES, |p| {
                    p.max_request_bytes()
                }),
        ))
        .merge(query::routes())
        .merge(notifications::routes())
        .merge(slo_api::routes())
        .merge(slo_reports::routes())
        .merge(alertmanagers::routes())
        .merge(tsdb_status::routes())
        .merge(dashboard::routes())
        .merge(explain::routes())
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(web, dashboard::guard))
        // HA: peers authenticate with the peer secret, not web: credentials.
        .merge(cluster::routes(cluster))
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

/// `POST /-/reload`: reloads the config and rule files; 500 with the reason when rejected.
async fn reload(State(s): State<AppState>) -> Response {
    let Some(tx) = s.reload.clone() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "reloading is not available\n",
        )
            .into_response();
    };
    let (reply, outcome) = tokio::sync::oneshot::channel();
    if tx.send(reply).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match outcome.await {
        Ok(Ok(())) => (StatusCode::OK, "").into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
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
    // `into_make_service_with_connect_info` shares the built router with every connection
    // (serving the `Router` directly would rebuild every route per connection) and hands
    // handlers the client's address (authentication failures are counted per client).
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Binds a listener, with an error that names the address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}
