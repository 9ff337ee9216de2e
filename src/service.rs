//! The running service behind `redline run`: its tasks, started and stopped together.
//!
//! [`Service::start`] builds the store, starts the scrape pools, the retention task and the
//! HTTP server, and returns a handle that exposes the store and the bound address (tests
//! and the demo start the same service in-process). [`Service::shutdown`] stops scraping
//! first, so every target's staleness markers are written, then drains the HTTP server.

use crate::config::Config;
use crate::http::{self, AppState, QueryLimits, QueryService};
use crate::scrape::discovery::DiscoveryOptions;
use crate::scrape::manager::{spawn_pools, ScrapeContext};
use crate::scrape::target::TargetSet;
use crate::store::{Store, StoreOptions};
use crate::telemetry::Telemetry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Runtime knobs that are flags, not config.
#[derive(Clone, Debug)]
pub struct ServiceOptions {
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    pub config_path: Option<PathBuf>,
    pub query: QueryLimits,
}

/// A started service.
pub struct Service {
    pub store: Arc<Store>,
    pub targets: Arc<TargetSet>,
    pub telemetry: Arc<Telemetry>,
    /// The address the HTTP server listens on (the real port when `:0` was asked for).
    pub local_addr: SocketAddr,
    stop_scrape: watch::Sender<bool>,
    stop_http: watch::Sender<bool>,
    pools: Vec<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    http: JoinHandle<std::io::Result<()>>,
}

/// Errors starting the service.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Listen(std::io::Error),
    #[error("creating state directory {path}: {source}")]
    StateDir {
        path: String,
        source: std::io::Error,
    },
}

impl Service {
    /// Starts every task of the service; scraping begins at once.
    pub async fn start(cfg: Config, opts: ServiceOptions) -> Result<Service, ServiceError> {
        Self::start_with(cfg, opts, DiscoveryOptions::default()).await
    }

    /// As [`Service::start`], with discovery tuning (tests poll file_sd faster).
    pub async fn start_with(
        cfg: Config,
        opts: ServiceOptions,
        discovery: DiscoveryOptions,
    ) -> Result<Service, ServiceError> {
        std::fs::create_dir_all(&opts.state_dir).map_err(|source| ServiceError::StateDir {
            path: opts.state_dir.display().to_string(),
            source,
        })?;
        let listener = http::bind(opts.listen)
            .await
            .map_err(ServiceError::Listen)?;
        let local_addr = listener.local_addr().map_err(ServiceError::Listen)?;
        crate::install_crypto_provider();
        let store = Arc::new(Store::with_options(StoreOptions {
            retention: cfg.storage.retention,
            ..StoreOptions::default()
        }));
        let targets = Arc::new(TargetSet::new());
        let telemetry = Arc::new(Telemetry::new(store.clone()));
        let ready = Arc::new(AtomicBool::new(false));

        let (stop_scrape, stop_scrape_rx) = watch::channel(false);
        let ctx = ScrapeContext {
            store: store.clone(),
            targets: targets.clone(),
            telemetry: telemetry.clone(),
            discovery,
        };
        let pools = spawn_pools(&cfg.scrape_configs, &ctx, &stop_scrape_rx);
        let background = vec![tokio::spawn(retention_task(
            store.clone(),
            stop_scrape_rx.clone(),
        ))];

        let (stop_http, mut stop_http_rx) = watch::channel(false);
        let state = AppState {
            store: store.clone(),
            targets: targets.clone(),
            telemetry: telemetry.clone(),
            query: Arc::new(QueryService::new(opts.query.clone())),
            ready: ready.clone(),
        };
        let http = tokio::spawn(http::serve(listener, state, async move {
            let _ = stop_http_rx.wait_for(|stop| *stop).await;
        }));
        ready.store(true, Ordering::Release);
        tracing::info!(listen = %local_addr, jobs = cfg.scrape_configs.len(), "redline started");
        Ok(Service {
            store,
            targets,
            telemetry,
            local_addr,
            stop_scrape,
            stop_http,
            pools,
            background,
            http,
        })
    }

    /// Stops scraping (writing staleness markers), then the HTTP server.
    pub async fn shutdown(self) {
        let _ = self.stop_scrape.send(true);
        for p in self.pools {
            let _ = p.await;
        }
        for b in self.background {
            b.abort();
        }
        let _ = self.stop_http.send(true);
        match self.http.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "HTTP server ended with an error"),
            Err(e) => tracing::warn!(error = %e, "HTTP server task failed"),
            Ok(Ok(())) => {}
        }
        tracing::info!("redline stopped");
    }
}

/// Drops samples older than the store's retention period, once a minute.
async fn retention_task(store: Arc<Store>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let now = crate::scrape::scrape_loop::unix_ms(SystemTime::now());
        store.gc(now);
    }
}

/// Runs the service until SIGTERM or SIGINT, then shuts it down gracefully.
pub async fn run(cfg: Config, opts: ServiceOptions) -> anyhow::Result<()> {
    let service = Service::start(cfg, opts).await?;
    wait_for_signal().await;
    tracing::info!("shutting down");
    service.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
