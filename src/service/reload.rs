//! Configuration reload: on SIGHUP, on `POST /-/reload`, and when a file the configuration
//! is made of changes on disk.
//!
//! A reload reads the whole config file again (expanding environment variables with
//! `--config.expand-env`) and applies it as Prometheus does, or not at all: the config must
//! validate, the rule files must load and the Alertmanager configuration must build before
//! anything changes; then the alerting pipeline, the rule groups, the scrape pools
//! ([`ScrapePools::apply`]: unchanged jobs untouched, changed jobs switched over without a
//! gap, removed jobs stopped with staleness markers, new jobs started) and the notifier of
//! `alerting:` (its Alertmanager sets and their discovery) take the new config.
//! A rejected reload is logged and leaves the running configuration in place;
//! `redline_config_last_reload_successful` (0 or 1) and
//! `redline_config_last_reload_success_timestamp_seconds` show the outcome on `/metrics`, as
//! Prometheus' `prometheus_config_last_reload_*` do.
//!
//! Changes on disk are found by polling [`FileStamp`]s of the config file, the rule files,
//! the SLO files and the Alertmanager file every 5 seconds, which sees a ConfigMap's `..data`
//! link swap as well as an edit in place.

use crate::alerting::PipelineError;
use crate::config::file_stamp::{stamp_all, FileStamp};
use crate::config::{ConfigError, LoadOptions};
use crate::http::ReloadRequest;
use crate::rules::file::RuleFileError;
use crate::rules::manager::{RuleManagerHandle, RuleReloadError};
use crate::scrape::manager::ScrapePools;
use crate::slo::runtime::SloRuntimeError;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{watch, Mutex};

/// How often files are checked for changes.
const POLL: Duration = Duration::from_secs(5);

/// The reload outcome metrics.
#[derive(Clone, Default)]
pub struct ReloadMetrics {
    successful: Gauge,
    success_timestamp: Gauge<f64, AtomicU64>,
}

impl ReloadMetrics {
    /// Registers the metrics (with the registry's `redline` prefix) and marks the
    /// configuration loaded at start-up as a success.
    pub fn register(registry: &mut Registry) -> ReloadMetrics {
        let m = ReloadMetrics::default();
        registry.register(
            "config_last_reload_successful",
            "Whether the last configuration reload attempt was successful (1) or rejected (0)",
            m.successful.clone(),
        );
        registry.register(
            "config_last_reload_success_timestamp_seconds",
            "Time of the last successful configuration reload (or of start-up)",
            m.success_timestamp.clone(),
        );
        m.record_success();
        m
    }

    fn record_success(&self) {
        self.successful.set(1);
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        self.success_timestamp.set(now);
    }
}

/// Why a reload was rejected; the running configuration stays. The text names the file
/// and field, and is what `POST /-/reload` answers.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("loading config: {0}")]
    Config(#[source] ConfigError),
    #[error("loading rule files: {0}")]
    RuleFiles(#[source] RuleFileError),
    #[error("loading SLO files: {0}")]
    SloFiles(#[source] SloRuntimeError),
    #[error("alerting configuration: {0}")]
    Alerting(#[source] PipelineError),
    #[error(transparent)]
    Rules(#[from] RuleReloadError),
    #[error("reloading SLOs: {0}")]
    Slos(#[source] SloRuntimeError),
}

/// A reload that was rejected; the running configuration stays.
#[derive(Debug)]
pub struct ConfigReloadFailed<'a> {
    /// What was wrong, naming the file and field.
    pub error: &'a ReloadError,
}

impl ConfigReloadFailed<'_> {
    /// Logs the failure and sets `redline_config_last_reload_successful` to 0.
    fn emit(&self, metrics: &ReloadMetrics) {
        tracing::error!(error = %self.error, "reload rejected; the running configuration stays");
        metrics.successful.set(0);
    }
}

/// How long a reload lets replaced remote-write queues send what they hold.
const REMOTE_WRITE_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

/// Everything a reload touches.
pub struct Reloader {
    /// The config file; `None` when the service was started from a config in memory (only
    /// the rule files are reloaded then).
    pub config_path: Option<PathBuf>,
    pub load: LoadOptions,
    pub rule_files: Vec<String>,
    pub slo_files: Vec<String>,
    /// The files `scrape_config_files` matched at the last load.
    pub scrape_config_files: Vec<PathBuf>,
    pub alertmanager_file: Option<PathBuf>,
    pub rules: RuleManagerHandle,
    pub pipeline: crate::alerting::Pipeline,
    pub scrape: Arc<Mutex<ScrapePools>>,
    /// The SLO engine.
    pub slos: super::SharedSlos,
    /// The remote-write queues.
    pub remote: Arc<Mutex<crate::remote::RemoteWrite>>,
    /// The Alertmanagers of `alerting:`.
    pub notifier: Arc<Mutex<super::notifier::NotifierRuntime>>,
    /// `--rules.alert.resend-delay`.
    pub resend_delay: Duration,
    pub metrics: ReloadMetrics,
}

impl Reloader {
    /// The files whose change triggers a reload.
    fn watched(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self.config_path.iter().cloned().collect();
        paths.extend(self.alertmanager_file.iter().cloned());
        paths.extend(self.scrape_config_files.iter().cloned());
        if let Ok(found) = crate::rules::file::expand_rule_patterns(&self.rule_files) {
            paths.extend(found);
        }
        if let Ok(found) = crate::slo::runtime::expand_slo_files(&self.slo_files) {
            paths.extend(found);
        }
        paths
    }

    fn stamps(&self) -> Vec<(PathBuf, Option<FileStamp>)> {
        stamp_all(self.watched())
    }

    /// Reloads once: everything or nothing. Returns the number of rule groups running.
    pub async fn reload_once(&mut self) -> Result<usize, ReloadError> {
        let outcome = self.apply().await;
        match &outcome {
            Ok(groups) => {
                self.metrics.record_success();
                tracing::info!(groups, "configuration reloaded");
            }
            Err(error) => ConfigReloadFailed { error }.emit(&self.metrics),
        }
        outcome
    }

    async fn apply(&mut self) -> Result<usize, ReloadError> {
        let Some(path) = self.config_path.clone() else {
            return Ok(self.rules.reload(&self.rule_files).await?);
        };
        let cfg = self.load.load(&path).map_err(ReloadError::Config)?;
        crate::config::ignored::log_ignored(&cfg.ignored);
        // Rule files are checked before anything is applied, so a bad rule file rejects
        // the whole reload.
        crate::rules::file::load_rule_files(&cfg.rule_files).map_err(|e| {
            self.rules.record_load_failure(&e);
            ReloadError::RuleFiles(e)
        })?;
        // So are the SLO specs.
        let slo_specs = crate::slo::runtime::load_specs(&cfg).map_err(ReloadError::SloFiles)?;
        let (am, _) = super::pipeline_settings(&cfg);
        self.pipeline.reload(am).map_err(ReloadError::Alerting)?;
        let groups = self
            .rules
            .reload_with_options(
                &cfg.rule_files,
                super::rule_options(&cfg, self.resend_delay),
            )
            .await?;
        let changes = self.scrape.lock().await.apply(&cfg.scrape_configs).await;
        tracing::info!(
            unchanged = changes.unchanged.len(),
            changed = ?changes.changed,
            started = ?changes.started,
            stopped = ?changes.stopped,
            "scrape configs applied"
        );
        self.slos
            .lock()
            .await
            .reload(slo_specs)
            .await
            .map_err(ReloadError::Slos)?;
        self.notifier.lock().await.apply(&cfg);
        self.slo_files = cfg.slo_files;
        self.remote
            .lock()
            .await
            .reload(
                &cfg.remote_write,
                &cfg.global.external_labels,
                REMOTE_WRITE_FLUSH,
            )
            .await;
        self.alertmanager_file = cfg
            .alertmanager
            .as_ref()
            .and_then(|a| a.config_file.clone());
        self.rule_files = cfg.rule_files;
        self.scrape_config_files = cfg.scrape_config_files;
        Ok(groups)
    }
}

/// Reloads on SIGHUP, on `POST /-/reload` (answering the request) and when a watched file
/// changes, until `stop` turns true.
pub async fn reload_task(
    mut reloader: Reloader,
    mut requests: tokio::sync::mpsc::Receiver<ReloadRequest>,
    mut stop: watch::Receiver<bool>,
) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut stamps = reloader.stamps();
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<Option<()>>();
        let reply = tokio::select! {
            _ = stop.changed() => return,
            _ = hangup => None,
            req = requests.recv() => match req {
                Some(reply) => Some(reply),
                None => return,
            },
            _ = poll.tick() => {
                let now = reloader.stamps();
                if now == stamps {
                    continue;
                }
                tracing::info!("configuration files changed on disk; reloading");
                None
            }
        };
        let outcome = reloader.reload_once().await;
        // A rejected file is not retried until it changes again.
        stamps = reloader.stamps();
        if let Some(reply) = reply {
            let _ = reply.send(outcome.map(|_| ()).map_err(|e| Box::new(e) as _));
        }
    }
}
