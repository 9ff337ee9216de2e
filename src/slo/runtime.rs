//! The SLO engine inside `redline run`: reads `slo_files`, starts the probers and the engine,
//! forwards the engine's alerts to the alerting pipeline and exposes the figures on
//! `/metrics` ([`SloCollector`]).

use super::engine::{self, EngineStopped, SloEngine, SloEngineHandle, SloEngineOptions, SloView};
use super::figures::Counts;
use super::probe::{self, Prober};
use super::spec::{Sli, SloSpec};
use crate::alerting::Alert;
use crate::config::Config;
use crate::promql::Engine;
use crate::rules::file::RuleFileError;
use crate::state::{StateDb, StateError};
use crate::store::{Labels, Store};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Why the SLO engine could not start or take reloaded SLOs.
#[derive(Debug, thiserror::Error)]
pub enum SloRuntimeError {
    /// A `slo_files` pattern could not be expanded.
    #[error("slo_files: {0}")]
    Files(#[source] RuleFileError),
    /// Every problem of every SLO file that does not load, one a line.
    #[error("{}", join_lines(.0))]
    Specs(Vec<super::SloError>),
    /// The SLOs' ledgers could not be read from the state database.
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Stopped(#[from] EngineStopped),
}

fn join_lines(errors: &[super::SloError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The running SLO engine, its probers and its alert forwarder.
pub struct SloService {
    pub handle: SloEngineHandle,
    probers: Vec<Prober>,
    stop_probes: watch::Sender<bool>,
    forward: JoinHandle<()>,
    /// What a reload builds the next engine from.
    store: Arc<Store>,
    db: StateDb,
    alerts: mpsc::Sender<Vec<Alert>>,
    opts: SloEngineOptions,
    /// The PromQL engine SLI queries run on (the rule engine's limits and feature switches).
    engine: Arc<Engine>,
}

impl SloService {
    /// The figures the HTTP API reads.
    pub fn view(&self) -> SloView {
        self.handle.view.clone()
    }

    /// Replaces the running SLOs with `specs` (a config reload): the probers restart, the
    /// new SLOs' ledgers are loaded from the state database as after a restart, and the
    /// engine continues with them from its next round. SLOs that stay keep their ledgers,
    /// since every completed step is in the database.
    pub async fn reload(&mut self, specs: Vec<SloSpec>) -> Result<(), SloRuntimeError> {
        let _ = self.stop_probes.send(true);
        for p in std::mem::take(&mut self.probers) {
            let _ = p.task.await;
        }
        let (probers, stop_probes, probes) = spawn_probers(&specs, &self.store);
        self.probers = probers;
        self.stop_probes = stop_probes;
        let next = SloEngine::load(
            specs,
            self.store.clone(),
            self.db.clone(),
            self.engine.clone(),
            self.alerts.clone(),
            self.opts.clone(),
            probes,
        )
        .await?;
        Ok(self.handle.replace(next).await?)
    }

    /// Stops the probers and the engine.
    pub async fn shutdown(&mut self) {
        let _ = self.stop_probes.send(true);
        for p in std::mem::take(&mut self.probers) {
            let _ = p.task.await;
        }
        self.handle.shutdown().await;
        self.forward.abort();
    }
}

/// Expands the `slo_files` globs (a pattern without matches is not an error, as for rules).
pub fn expand_slo_files(patterns: &[String]) -> Result<Vec<PathBuf>, SloRuntimeError> {
    crate::rules::file::expand_rule_patterns(patterns).map_err(SloRuntimeError::Files)
}

/// Starts the SLO engine with the SLOs the config's `slo_files` name. It runs with none too,
/// so a reload that adds `slo_files` applies them. Alerts go to `deliver` (the pipeline's
/// `put_alerts`); SLI queries run on `engine`. With `backfill_first`, the new SLOs'
/// back-fill is recorded by a first round before this returns.
#[allow(clippy::too_many_arguments)]
pub async fn start<F, Fut>(
    cfg: &Config,
    store: Arc<Store>,
    db: StateDb,
    engine: Arc<Engine>,
    external_url: &str,
    telemetry: &mut crate::telemetry::Telemetry,
    backfill_first: bool,
    deliver: F,
) -> Result<SloService, SloRuntimeError>
where
    F: Fn(Vec<Alert>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let specs = load_specs(cfg)?;
    let specs_len = specs.len();
    let (probers, stop_probes, probes) = spawn_probers(&specs, &store);
    let (tx, mut rx) = mpsc::channel::<Vec<Alert>>(256);
    let forward = tokio::spawn(async move {
        while let Some(batch) = rx.recv().await {
            deliver(batch).await;
        }
    });
    let opts = SloEngineOptions {
        evaluation_interval: cfg.slo.evaluation_interval,
        ledger_step: cfg.slo.ledger_step,
        ledger_retention: cfg.slo.ledger_retention,
        external_url: external_url.to_string(),
        backfill_query: cfg.rule_query.clone(),
        backfill: true,
    };
    let mut slo_engine = SloEngine::load(
        specs,
        store.clone(),
        db.clone(),
        engine.clone(),
        tx.clone(),
        opts.clone(),
        probes,
    )
    .await?;
    if backfill_first {
        let started = std::time::Instant::now();
        slo_engine.wait_backfill().await;
        slo_engine.round(crate::timefmt::now_ms()).await;
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            "SLO back-fill recorded before serving"
        );
    }
    let handle = engine::spawn(slo_engine);
    telemetry.register_collector(Box::new(SloCollector(handle.view.clone())));
    tracing::info!(slos = specs_len, "SLO engine started");
    Ok(SloService {
        handle,
        probers,
        stop_probes,
        forward,
        store,
        db,
        alerts: tx,
        opts,
        engine,
    })
}

/// Reads and checks every SLO spec the config's `slo_files` names (none when it names no
/// file), the errors of all files in one message; the `slo` section's low-traffic guard
/// fills the bounds an SLO leaves unset.
pub fn load_specs(cfg: &Config) -> Result<Vec<SloSpec>, SloRuntimeError> {
    let files = expand_slo_files(&cfg.slo_files)?;
    let mut specs = super::load_files(&files).map_err(SloRuntimeError::Specs)?;
    for s in &mut specs {
        s.alerting.min_traffic = s.alerting.min_traffic.or(cfg.slo.min_traffic);
    }
    Ok(specs)
}

/// Accumulators by SLO key for the probe SLIs among `specs`.
type ProbeCounts = HashMap<String, Arc<Mutex<Counts>>>;

/// Starts a prober for every probe SLI in `specs`; the sender stops them all.
fn spawn_probers(
    specs: &[SloSpec],
    store: &Arc<Store>,
) -> (Vec<Prober>, watch::Sender<bool>, ProbeCounts) {
    let (stop_probes, stop_rx) = watch::channel(false);
    let mut probes = HashMap::new();
    let mut probers = Vec::new();
    for s in specs {
        if let Sli::Probe(p) = &s.sli {
            let acc: Arc<Mutex<Counts>> = Arc::default();
            let labels =
                Labels::from_pairs([("slo", s.name.as_str()), ("service", s.service.as_str())]);
            probers.push(probe::spawn(
                p.clone(),
                labels,
                acc.clone(),
                store.clone(),
                stop_rx.clone(),
            ));
            probes.insert(engine::slo_key(s), acc);
        }
    }
    (probers, stop_probes, probes)
}

/// Every SLO figure on `/metrics`, as `redline_slo_*` gauges labelled `slo`, `service`
/// (and `window` for burn rates); the store holds the same figures as `slo:` series.
#[derive(Debug)]
pub struct SloCollector(pub SloView);

impl std::fmt::Debug for SloView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SloView")
    }
}

type SloLabels = Vec<(&'static str, String)>;

impl Collector for SloCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let figures = self.0.list();
        if figures.is_empty() {
            return Ok(());
        }
        let mut families: Vec<(String, Vec<(SloLabels, f64)>)> = Vec::new();
        for f in &figures {
            for (labels, v) in engine::series_of(f) {
                let Some(name) = labels.metric_name() else {
                    continue;
                };
                let name = name.replace(':', "_");
                let ls: SloLabels = labels
                    .iter()
                    .filter(|l| &*l.name != "__name__")
                    .map(|l| (label_name(&l.name), l.value.to_string()))
                    .collect();
                match families.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, rows)) => rows.push((ls, v)),
                    None => families.push((name, vec![(ls, v)])),
                }
            }
        }
        for (name, rows) in families {
            let g = ConstGauge::new(0.0f64);
            let mut fam = e.encode_descriptor(
                &name,
                "SLO figure (see rules/slo/README.md)",
                None,
                g.metric_type(),
            )?;
            for (labels, v) in rows {
                ConstGauge::new(v).encode(fam.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

fn label_name(n: &str) -> &'static str {
    match n {
        "slo" => "slo",
        "service" => "service",
        "owner" => "owner",
        "window" => "window",
        _ => "label",
    }
}
