//! The running service behind `redline run`: its tasks, started and stopped together.
//!
//! [`Service::start`] builds the store, starts the scrape pools, the retention task and the
//! HTTP server, and returns a handle that exposes the store and the bound address (tests
//! and the demo start the same service in-process). [`Service::shutdown`] stops scraping
//! first, so every target's staleness markers are written, then drains the HTTP server.

use crate::clock::SystemClock;
use crate::config::{Config, LoadOptions};
use crate::http::{self, AppState, QueryLimits, QueryService, ReloadRequest};
use crate::promql::{Engine, EngineOptions};
use crate::rules::api::RuleGroupCollector;
use crate::rules::manager::{RuleContext, RuleManagerHandle, RuleManagerOptions};
use crate::rules::{Alert, RuleAlerts};
use crate::scrape::discovery::DiscoveryOptions;
use crate::scrape::manager::{ScrapeContext, ScrapePools};
use crate::scrape::target::TargetSet;
use crate::state::{StateDb, StateError};
use crate::store::{Store, StoreOptions};
use crate::telemetry::Telemetry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The SLO engine, shared by the service (to stop it) and the reload task (to reload it).
pub type SharedSlos = Arc<tokio::sync::Mutex<crate::slo::runtime::SloService>>;

pub mod check;
pub mod notifier;
pub mod reload;

/// Runtime knobs that are flags, not config.
#[derive(Clone, Debug)]
pub struct ServiceOptions {
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    pub config_path: Option<PathBuf>,
    pub query: QueryLimits,
    /// The URL users reach redline at (`$externalURL` in templates, playbook links);
    /// `http://<listen address>` when not given.
    pub external_url: Option<String>,
    /// Where `/playbooks/<AlertName>` reads `<AlertName>.md` from.
    pub playbooks_dir: Option<PathBuf>,
    /// The queues of the Alertmanagers of `alerting:` (Prometheus' `--alertmanager.*` flags).
    pub notifier: crate::notifier::NotifierOptions,
    /// `--rules.alert.resend-delay`: how often a firing alert is sent again.
    pub resend_delay: Duration,
    /// A store already holding samples (the demo's back-filled history) to run on instead of
    /// opening one from the config's `storage` section.
    pub store: Option<Arc<Store>>,
    /// Whether the SLOs' back-fill from the store is recorded in their ledgers before the
    /// HTTP server starts (the demo: every page full at the first request), instead of in
    /// the background over the first rounds.
    pub slo_backfill_first: bool,
}

impl ServiceOptions {
    /// Options for a service on `listen` keeping state in `state_dir`, everything else default.
    pub fn new(listen: SocketAddr, state_dir: PathBuf) -> Self {
        ServiceOptions {
            listen,
            state_dir,
            config_path: None,
            query: QueryLimits::default(),
            external_url: None,
            playbooks_dir: None,
            notifier: crate::notifier::NotifierOptions::default(),
            resend_delay: crate::rules::DEFAULT_RESEND_DELAY,
            store: None,
            slo_backfill_first: false,
        }
    }
}

/// A started service.
pub struct Service {
    pub store: Arc<Store>,
    pub targets: Arc<TargetSet>,
    pub telemetry: Arc<Telemetry>,
    /// The rules runtime: groups, alerts, reloads.
    pub rules: RuleManagerHandle,
    /// The alerting pipeline: routing, grouping, notifications.
    pipeline: crate::alerting::Pipeline,
    /// This replica's part in a cluster (`cluster:`), if any.
    cluster: Option<crate::cluster::Cluster>,
    /// The address the HTTP server listens on (the real port when `:0` was asked for).
    pub local_addr: SocketAddr,
    /// The query API's limits and concurrency permits.
    pub query: Arc<QueryService>,
    /// The SLO engine (running with no SLOs when the config names no SLO files).
    slos: SharedSlos,
    db: StateDb,
    /// The remote-write queues (`remote_write:`; restart to change them).
    remote: Arc<tokio::sync::Mutex<crate::remote::RemoteWrite>>,
    /// The Alertmanagers of `alerting:` and their queues.
    notifier: Arc<tokio::sync::Mutex<notifier::NotifierRuntime>>,
    stop_scrape: watch::Sender<bool>,
    stop_http: watch::Sender<bool>,
    /// The scrape pools, shared with the reload task.
    scrape: Arc<tokio::sync::Mutex<ScrapePools>>,
    background: Vec<JoinHandle<()>>,
    http: JoinHandle<std::io::Result<()>>,
}

/// Errors starting the service.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Listen(#[source] std::io::Error),
    #[error("creating state directory {path}: {source}")]
    StateDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    State(#[from] StateError),
    /// An SLO file named by `slo_files` could not be loaded.
    #[error(transparent)]
    Slo(#[from] crate::slo::runtime::SloRuntimeError),
    #[error(transparent)]
    Rules(#[from] crate::rules::manager::RuleReloadError),
    #[error("alerting pipeline: {0}")]
    Pipeline(#[from] crate::alerting::PipelineError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("opening the store: {0}")]
    Store(#[from] crate::store::DurableError),
}

/// The store: durable under `<state-dir>/tsdb` (restored from what is there) unless
/// `storage.wal.enabled` is false.
async fn open_store(cfg: &Config, state_dir: &std::path::Path) -> Result<Store, ServiceError> {
    let opts = StoreOptions {
        retention: cfg.storage.retention,
    };
    let Some(wal) = &cfg.storage.wal else {
        return Ok(Store::with_options(opts));
    };
    let durable = crate::store::DurableOptions {
        fsync: wal.fsync,
        ..crate::store::DurableOptions::new(state_dir.join("tsdb"))
    };
    let (store, report) = tokio::task::spawn_blocking(move || Store::open(opts, durable))
        .await
        .map_err(|e| ServiceError::StateDir {
            path: state_dir.display().to_string(),
            source: std::io::Error::other(e),
        })??;
    tracing::info!(
        series = store.stats().series,
        snapshot = report.snapshot.as_deref().unwrap_or("none"),
        wal_segments = report.wal_segments,
        samples_replayed = report.samples_replayed,
        chunks_on_disk = report.chunk_files_chunks,
        repairs = report.repairs(),
        seconds = report.duration.as_secs_f64(),
        "store restored"
    );
    Ok(store)
}

/// How often closed chunks are moved to disk.
const PERSIST_EVERY: Duration = Duration::from_secs(10);

/// Keeps a durable store's files current: syncs the log (`storage.wal.fsync`), moves closed
/// chunks to disk, and checkpoints (`storage.wal.checkpoint_interval`).
async fn durability_task(
    store: Arc<Store>,
    wal: crate::config::WalConfig,
    mut stop: watch::Receiver<bool>,
) {
    let step = match wal.fsync {
        crate::store::FsyncPolicy::Interval(d) => d.min(PERSIST_EVERY),
        _ => PERSIST_EVERY,
    };
    let mut tick = tokio::time::interval(step);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = tokio::time::Instant::now();
    let (mut last_persist, mut last_checkpoint) = (start, start);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let now = tokio::time::Instant::now();
        let checkpoint = now - last_checkpoint >= wal.checkpoint_interval;
        let persist = now - last_persist >= PERSIST_EVERY;
        let s = store.clone();
        let done = tokio::task::spawn_blocking(move || {
            if checkpoint {
                s.checkpoint().map(|_| ())
            } else if persist {
                s.persist_chunks().map(|_| ())
            } else {
                s.sync()
            }
        })
        .await;
        match done {
            Ok(Err(e)) => tracing::error!(error = %e, "keeping the store's files current"),
            Err(e) => tracing::error!(error = %e, "store maintenance task failed"),
            Ok(Ok(())) => {}
        }
        if checkpoint {
            last_checkpoint = now;
        }
        if checkpoint || persist {
            last_persist = now;
        }
    }
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
        Self::start_loading(cfg, opts, discovery, LoadOptions::default()).await
    }

    /// As [`Service::start_with`]; reloads read `opts.config_path` with `load`
    /// (`--config.expand-env`).
    pub async fn start_loading(
        cfg: Config,
        opts: ServiceOptions,
        discovery: DiscoveryOptions,
        load: LoadOptions,
    ) -> Result<Service, ServiceError> {
        crate::config::ignored::log_ignored(&cfg.ignored);
        std::fs::create_dir_all(&opts.state_dir).map_err(|source| ServiceError::StateDir {
            path: opts.state_dir.display().to_string(),
            source,
        })?;
        let listener = http::bind(opts.listen)
            .await
            .map_err(ServiceError::Listen)?;
        let local_addr = listener.local_addr().map_err(ServiceError::Listen)?;
        crate::install_crypto_provider();
        let store = match &opts.store {
            Some(s) => s.clone(),
            None => Arc::new(open_store(&cfg, &opts.state_dir).await?),
        };
        let targets = Arc::new(TargetSet::new());
        let ready = Arc::new(AtomicBool::new(false));
        let external_url = opts
            .external_url
            .clone()
            .unwrap_or_else(|| format!("http://{local_addr}"));

        let state_dir = opts.state_dir.clone();
        let db = tokio::task::spawn_blocking(move || StateDb::open_in_dir(&state_dir))
            .await
            .map_err(|e| ServiceError::StateDir {
                path: opts.state_dir.display().to_string(),
                source: std::io::Error::other(e),
            })??;
        // HA (cluster:): the Lease decides which replica sends; started once all runs.
        let cluster = match &cfg.cluster {
            Some(c) => Some(crate::cluster::Cluster::new(c).await?),
            None => None,
        };
        let gate = cluster.as_ref().map(crate::cluster::Cluster::gate);
        let pipeline = start_pipeline(&cfg, &external_url, db.clone(), gate).await?;
        let (alerts_tx, alerts_rx) = tokio::sync::mpsc::channel::<Vec<RuleAlerts>>(1024);
        let engine = Arc::new(Engine::new(EngineOptions {
            default_subquery_step: cfg.global.evaluation_interval,
            lookback_delta: opts.query.lookback_delta,
            max_samples: opts.query.max_samples,
            timeout: Some(opts.query.timeout),
            parse_limits: opts.query.parse,
            cancel: None,
            features: opts.query.features,
        }));
        let rules = crate::rules::manager::spawn(
            RuleContext {
                engine: engine.clone(),
                store: store.clone(),
                external_labels: cfg.global.external_labels.clone(),
                external_url: external_url.clone(),
            },
            rule_options(&cfg, opts.resend_delay),
            Some(db.clone()),
            alerts_tx,
            Arc::new(SystemClock),
        );
        // Rule files are checked first, so a bad file stops the start with one error (printed
        // by the caller) instead of also logging it as a rejected reload.
        let groups = crate::rules::file::load_rule_files(&cfg.rule_files)
            .map_err(crate::rules::manager::RuleReloadError::Load)?;
        rules.reload_groups(groups).await?;
        let mut telemetry = Telemetry::new(store.clone());
        telemetry.register_collector(Box::new(RuleGroupCollector(rules.clone())));
        telemetry.register_collector(Box::new(crate::scrape::discovery::metrics::SdCollector));
        pipeline.register_metrics(&mut telemetry);
        if let Some(c) = &cluster {
            c.register_metrics(&mut telemetry);
        }
        let slo_pipeline = pipeline.clone();
        let slos = crate::slo::runtime::start(
            &cfg,
            store.clone(),
            db.clone(),
            engine,
            &external_url,
            &mut telemetry,
            opts.slo_backfill_first,
            move |batch| {
                let p = slo_pipeline.clone();
                async move {
                    if let Err(e) = p.put_alerts(batch).await {
                        tracing::error!(error = %e, "handing SLO alerts to the alerting pipeline");
                    }
                }
            },
        )
        .await
        .map_err(ServiceError::Slo)?;
        let slo_view = Some(slos.view());
        let slos: SharedSlos = Arc::new(tokio::sync::Mutex::new(slos));
        let reload_metrics = reload::ReloadMetrics::register(telemetry.registry_mut());
        let web = Arc::new(http::dashboard::WebAccess::new(cfg.web.clone()));
        web.register_metrics(telemetry.registry_mut());
        let remote = crate::remote::spawn(
            &cfg.remote_write,
            &cfg.global.external_labels,
            store.clone(),
            &mut telemetry,
        );
        let remote = Arc::new(tokio::sync::Mutex::new(remote));
        let notifier = notifier::NotifierRuntime::start(
            &cfg,
            opts.notifier.clone(),
            discovery.clone(),
            &mut telemetry,
        );
        let alert_notifier = notifier.notifier().clone();
        let http_notifier = alert_notifier.clone();
        let notifier = Arc::new(tokio::sync::Mutex::new(notifier));
        let telemetry = Arc::new(telemetry);

        let (stop_scrape, stop_scrape_rx) = watch::channel(false);
        let ctx = ScrapeContext {
            store: store.clone(),
            targets: targets.clone(),
            telemetry: telemetry.clone(),
            discovery,
            features: opts.query.features,
        };
        let scrape = Arc::new(tokio::sync::Mutex::new(ScrapePools::start(
            &cfg.scrape_configs,
            ctx,
        )));
        let (reload_tx, reload_rx) = tokio::sync::mpsc::channel::<ReloadRequest>(4);
        let mut background = vec![
            tokio::spawn(retention_task(store.clone(), stop_scrape_rx.clone())),
            tokio::spawn(forward_alerts(
                alerts_rx,
                pipeline.clone(),
                alert_notifier,
                cfg.global.external_labels.clone(),
                external_url.clone(),
            )),
            tokio::spawn(reload::reload_task(
                reload::Reloader {
                    config_path: opts.config_path.clone(),
                    load,
                    rule_files: cfg.rule_files.clone(),
                    slo_files: cfg.slo_files.clone(),
                    scrape_config_files: cfg.scrape_config_files.clone(),
                    alertmanager_file: cfg
                        .alertmanager
                        .as_ref()
                        .and_then(|a| a.config_file.clone()),
                    rules: rules.clone(),
                    pipeline: pipeline.clone(),
                    scrape: scrape.clone(),
                    slos: slos.clone(),
                    remote: remote.clone(),
                    notifier: notifier.clone(),
                    resend_delay: opts.resend_delay,
                    metrics: reload_metrics,
                },
                reload_rx,
                stop_scrape_rx.clone(),
            )),
        ];

        if let Some(wal) = cfg.storage.wal.clone() {
            background.push(tokio::spawn(durability_task(
                store.clone(),
                wal,
                stop_scrape_rx.clone(),
            )));
        }
        let query = Arc::new(QueryService::new(opts.query.clone()));
        let (stop_http, mut stop_http_rx) = watch::channel(false);
        let state = AppState {
            store: store.clone(),
            targets: targets.clone(),
            telemetry: telemetry.clone(),
            query: query.clone(),
            ready: ready.clone(),
            rules: Some(rules.clone()),
            reload: Some(reload_tx),
            playbooks_dir: opts.playbooks_dir.clone(),
            web,
            alerting: Some(pipeline.clone()),
            slos: slo_view,
            notifier: Some(http_notifier),
            cluster: cluster.clone(),
        };
        let http = tokio::spawn(http::serve(listener, state, async move {
            let _ = stop_http_rx.wait_for(|stop| *stop).await;
        }));
        if let Some(c) = &cluster {
            c.start(pipeline.clone());
        }
        ready.store(true, Ordering::Release);
        tracing::info!(listen = %local_addr, jobs = cfg.scrape_configs.len(), "redline started");
        Ok(Service {
            cluster,
            store,
            targets,
            telemetry,
            rules,
            pipeline,
            slos,
            db,
            remote,
            notifier,
            local_addr,
            query,
            stop_scrape,
            stop_http,
            scrape,
            background,
            http,
        })
    }

    /// The alerting pipeline.
    pub fn pipeline(&self) -> &crate::alerting::Pipeline {
        &self.pipeline
    }

    /// Stops scraping (writing staleness markers) and rule evaluation, closes the state
    /// database, then stops the HTTP server.
    pub async fn shutdown(self) {
        let _ = self.stop_scrape.send(true);
        for b in self.background {
            b.abort();
        }
        self.scrape.lock().await.stop().await;
        self.rules.shutdown().await;
        self.slos.lock().await.shutdown().await;
        self.remote
            .lock()
            .await
            .shutdown(Duration::from_secs(5))
            .await;
        self.notifier.lock().await.shutdown().await;
        // Everything that writes samples has stopped: checkpoint, so the next start replays
        // almost no log.
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.close(true)).await {
            Ok(Err(e)) => tracing::error!(error = %e, "writing the shutdown checkpoint"),
            Err(e) => tracing::error!(error = %e, "shutdown checkpoint task failed"),
            Ok(Ok(())) => {}
        }
        // HA: stop sending and hand the Lease to another replica first.
        if let Some(c) = &self.cluster {
            c.stop().await;
        }
        self.pipeline.shutdown().await;
        self.db.close().await;
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
        let now = crate::timefmt::unix_ms(SystemTime::now());
        store.gc(now);
    }
}

/// The rules runtime's settings from the config's `global` section and the resend delay.
fn rule_options(cfg: &Config, resend_delay: Duration) -> RuleManagerOptions {
    RuleManagerOptions {
        evaluation_interval: cfg.global.evaluation_interval,
        query_offset: cfg.global.rule_query_offset,
        resend_delay,
        remote_query: cfg
            .rule_query
            .as_ref()
            .map(|q| Arc::new(crate::rules::querier::RemoteQuerier::new(q))),
    }
}

/// The Alertmanager configuration and pipeline options of a config (a pipeline with one
/// silent receiver without an `alertmanager:` section).
fn pipeline_settings(
    cfg: &Config,
) -> (
    Arc<crate::config::alertmanager::AlertmanagerConfig>,
    crate::alerting::PipelineOptions,
) {
    let mut opts = crate::alerting::PipelineOptions::default();
    let am = match &cfg.alertmanager {
        Some(a) => {
            opts.max_alerts = a.max_alerts;
            opts.max_alerts_per_group = a.max_alerts_per_group;
            opts.max_request_bytes = a.max_request_bytes;
            opts.history = a.notification_history;
            a.config.clone()
        }
        None => {
            opts.max_alerts = Some(crate::config::alertmanager::DEFAULT_MAX_ALERTS);
            Arc::new(crate::config::alertmanager::default_alertmanager_config())
        }
    };
    (am, opts)
}

async fn start_pipeline(
    cfg: &Config,
    external_url: &str,
    db: StateDb,
    gate: Option<crate::alerting::replica::SendGate>,
) -> Result<crate::alerting::Pipeline, ServiceError> {
    let (am, mut opts) = pipeline_settings(cfg);
    if let Some(gate) = gate {
        opts.send_gate = gate;
    }
    opts.playbooks_url = Some(format!("{}/playbooks", external_url.trim_end_matches('/')));
    let factory = crate::alerting::standard_integrations(external_url.to_string(), String::new());
    Ok(crate::alerting::Pipeline::start(am, opts, Some(db), factory).await?)
}

/// A rules-engine alert as Prometheus' notifier sends it to Alertmanager: external labels
/// added where the alert lacks them, `startsAt` the time it fired, `endsAt` the resolution
/// time or the end of validity, and a `generatorURL` linking to the expression.
pub fn alert_for_pipeline(
    a: &Alert,
    external_labels: &crate::store::Labels,
    external_url: &str,
    expr: Option<&str>,
) -> crate::alerting::Alert {
    let mut labels = a.labels.clone();
    for l in external_labels.iter() {
        if labels.get(&l.name).is_none_or(str::is_empty) {
            labels = labels.with(&l.name, &l.value);
        }
    }
    let generator_url = match expr {
        Some(e) => format!(
            "{}/graph?g0.expr={}&g0.tab=1",
            external_url.trim_end_matches('/'),
            crate::gotemplate::funcs::query_escape(e)
        ),
        None => String::new(),
    };
    crate::alerting::Alert {
        labels,
        annotations: a.annotations.clone(),
        starts_at_ms: a.fired_at_ms.unwrap_or(a.active_at_ms),
        ends_at_ms: a.ends_at_ms(),
        generator_url,
        updated_at_ms: 0,
        timeout: false,
    }
}

/// A rules-engine alert as Prometheus' `sendAlerts` hands it to its notifier: without the
/// external labels (the notifier adds them), linked to the rule's expression.
pub fn alert_for_notifier(a: &Alert, external_url: &str, expr: &str) -> crate::notifier::Alert {
    let p = alert_for_pipeline(a, &crate::store::Labels::empty(), external_url, Some(expr));
    crate::notifier::Alert {
        labels: p.labels,
        annotations: p.annotations,
        starts_at_ms: p.starts_at_ms,
        ends_at_ms: p.ends_at_ms,
        generator_url: p.generator_url,
    }
}

/// Alerts to notify leave the rules engine here for the alerting pipeline and for the
/// Alertmanagers of `alerting:`, each linked to the expression of the rule that produced
/// it (the rules engine sends them per rule).
async fn forward_alerts(
    mut rx: tokio::sync::mpsc::Receiver<Vec<RuleAlerts>>,
    pipeline: crate::alerting::Pipeline,
    notifier: crate::notifier::Notifier,
    external_labels: crate::store::Labels,
    external_url: String,
) {
    while let Some(batch) = rx.recv().await {
        notifier.send(
            batch
                .iter()
                .flat_map(|r| {
                    r.alerts
                        .iter()
                        .map(|a| alert_for_notifier(a, &external_url, &r.expr))
                })
                .collect(),
        );
        let history = pipeline.history();
        let now = pipeline.now_ms();
        let alerts = batch
            .iter()
            .flat_map(|r| {
                r.alerts.iter().map(|a| {
                    let p = alert_for_pipeline(a, &external_labels, &external_url, Some(&r.expr));
                    history.rule_alert(
                        p.fingerprint(),
                        p.labels.get("alertname").unwrap_or(""),
                        &r.expr,
                        a.active_at_ms,
                        a.fired_at_ms,
                        a.value,
                        a.resolved_at_ms,
                        now,
                    );
                    p
                })
            })
            .collect();
        if let Err(e) = pipeline.put_alerts(alerts).await {
            tracing::error!(error = %e, "handing rule alerts to the alerting pipeline");
        }
    }
}

/// Runs the service until SIGTERM or SIGINT, then shuts it down gracefully.
pub async fn run(cfg: Config, opts: ServiceOptions) -> Result<(), ServiceError> {
    run_loading(cfg, opts, LoadOptions::default()).await
}

/// As [`run`]; reloads read the config file with `load` (`--config.expand-env`).
pub async fn run_loading(
    cfg: Config,
    opts: ServiceOptions,
    load: LoadOptions,
) -> Result<(), ServiceError> {
    run_discovering(cfg, opts, DiscoveryOptions::default(), load).await
}

/// As [`run_loading`], with discovery settings from the command line (the DNS resolver).
pub async fn run_discovering(
    cfg: Config,
    opts: ServiceOptions,
    discovery: DiscoveryOptions,
    load: LoadOptions,
) -> Result<(), ServiceError> {
    let stop = shutdown_signal();
    let service = Service::start_loading(cfg, opts, discovery, load).await?;
    stop.await;
    tracing::info!("shutting down");
    service.shutdown().await;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not when
/// the future is first polled, so a signal that arrives during start-up is not lost (and does
/// not kill the process with the default action).
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, Signal, SignalKind};
        async fn recv(s: Option<Signal>) {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            tokio::select! {
                _ = recv(term) => {}
                _ = recv(int) => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Errors loading an exposition file into a store.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
}

/// Loads an exposition file (OpenMetrics or text, with or without timestamps) into a new
/// store, keeping every sample whatever its age. Returns the store and the sample count.
pub fn load_exposition_file(path: &std::path::Path) -> Result<(Store, u64), LoadError> {
    use crate::exposition::detect_format;
    use crate::scrape::scrape_loop::{ingest, ScrapeError, SeriesCache};
    use crate::scrape::target::TargetSpec;
    use crate::timefmt::unix_ms;
    let body = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let store = Store::with_options(StoreOptions {
        retention: Duration::from_secs(100 * 365 * 24 * 3600),
    });
    let spec = TargetSpec::unlabelled(&path.display().to_string());
    let mut cache = SeriesCache::default();
    let (app, counts) = ingest(
        &store,
        &mut cache,
        &spec,
        &body,
        detect_format(&body),
        unix_ms(SystemTime::now()),
    )
    .map_err(|e| LoadError::Parse {
        path: path.display().to_string(),
        message: match e {
            ScrapeError::Parse(message) => message,
            e => e.to_string(),
        },
    })?;
    app.commit();
    Ok((store, counts.post_relabel))
}

/// The multi-threaded runtime redline runs on. API queries, rule groups, dashboards and SLO
/// rounds evaluate PromQL on its worker and blocking threads, so both get stacks of
/// [`crate::promql::EVAL_STACK_SIZE`], the size the query depth limit is proven for.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(crate::promql::EVAL_STACK_SIZE)
        .build()
}

/// Serves the Prometheus query API over an existing store until SIGTERM or SIGINT: the
/// engine of `redline debug load`, for inspecting a dump and comparing answers with another
/// Prometheus-compatible server.
pub async fn serve_store(
    store: Store,
    listen: SocketAddr,
    query: QueryLimits,
) -> std::io::Result<()> {
    let store = Arc::new(store);
    let listener = http::bind(listen).await?;
    tracing::info!(listen = %listener.local_addr()?, series = store.stats().series, "serving the loaded store");
    let state = AppState {
        telemetry: Arc::new(Telemetry::new(store.clone())),
        store,
        targets: Arc::new(TargetSet::new()),
        query: Arc::new(QueryService::new(query)),
        ready: Arc::new(AtomicBool::new(true)),
        rules: None,
        reload: None,
        playbooks_dir: None,
        web: Arc::new(http::dashboard::WebAccess::default()),
        cluster: None,
        alerting: None,
        slos: None,
        notifier: None,
    };
    http::serve(listener, state, shutdown_signal()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_alerts_default_applies_without_an_alertmanager_section() {
        let cfg = Config::from_yaml_str("global: {scrape_interval: 15s}\n", "redline.yml")
            .expect("config parses");
        assert!(cfg.alertmanager.is_none());
        let (_, opts) = pipeline_settings(&cfg);
        assert_eq!(
            opts.max_alerts,
            Some(crate::config::alertmanager::DEFAULT_MAX_ALERTS)
        );
    }

    /// A resolved alert goes to Alertmanager with `endsAt` its resolution time, a firing
    /// one with its validity (Prometheus' `sendAlerts`); neither carries external labels
    /// yet (the notifier adds them).
    #[test]
    fn notifier_alerts_end_at_resolution_or_validity() {
        let mut alert = Alert {
            labels: crate::store::Labels::from_pairs([("alertname", "Down")]),
            annotations: crate::store::Labels::empty(),
            state: crate::rules::AlertState::Firing,
            value: 1.0,
            active_at_ms: 1_000,
            fired_at_ms: Some(61_000),
            resolved_at_ms: None,
            last_sent_ms: Some(121_000),
            valid_until_ms: 361_000,
            keep_firing_since_ms: None,
        };
        let firing = alert_for_notifier(&alert, "http://r", "up == 0");
        assert_eq!(firing.starts_at_ms, 61_000);
        assert_eq!(firing.ends_at_ms, 361_000);
        assert_eq!(firing.labels, alert.labels);
        assert_eq!(
            firing.generator_url,
            "http://r/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
        );
        alert.state = crate::rules::AlertState::Inactive;
        alert.resolved_at_ms = Some(181_000);
        let resolved = alert_for_notifier(&alert, "http://r", "up == 0");
        assert_eq!(resolved.starts_at_ms, 61_000);
        assert_eq!(resolved.ends_at_ms, 181_000);
    }

    /// Regression: the expression was escaped as an HTML form does (`*` kept, `~` escaped),
    /// not as Prometheus does with Go's `url.QueryEscape`, so a rule using `=~` or `*` got a
    /// `generatorURL` other than Prometheus' for the same rule.
    #[test]
    fn generator_url_escapes_the_expression_as_prometheus_does() {
        let alert = Alert {
            labels: crate::store::Labels::from_pairs([("alertname", "HighErrorRate")]),
            annotations: crate::store::Labels::empty(),
            state: crate::rules::AlertState::Firing,
            value: 1.0,
            active_at_ms: 0,
            fired_at_ms: Some(0),
            resolved_at_ms: None,
            last_sent_ms: Some(0),
            valid_until_ms: 60_000,
            keep_firing_since_ms: None,
        };
        let expr = r#"rate(x{job=~"a.*"}[5m]) * 100"#;
        let sent = alert_for_pipeline(
            &alert,
            &crate::store::Labels::empty(),
            "https://redline.example/",
            Some(expr),
        );
        // Go's url.QueryEscape, by hand: letters, digits and `-_.~` stay, a space is `+`,
        // ( %28, { %7B, = %3D, " %22, * %2A, } %7D, [ %5B, ] %5D, ) %29. Python's
        // `urllib.parse.quote_plus` gives the same.
        assert_eq!(
            sent.generator_url,
            "https://redline.example/graph?g0.expr=\
             rate%28x%7Bjob%3D~%22a.%2A%22%7D%5B5m%5D%29+%2A+100&g0.tab=1"
        );
    }
}
