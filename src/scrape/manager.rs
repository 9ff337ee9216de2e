//! The scrape manager: one pool per job, turning discovered target groups into running
//! scrape loops, and applying new scrape configs on reload.
//!
//! Each pool runs its job's discovery, and on every update recomputes the job's targets
//! (relabeling with [`target_labels`](crate::scrape::target_labels)), starts loops for new
//! targets, stops the loops of targets that disappeared (which writes their staleness
//! markers) and publishes the result to the shared [`TargetSet`].
//!
//! [`ScrapePools::apply`] applies a reloaded config as Prometheus does: a job whose
//! effective config (after `global` defaults) is unchanged keeps running untouched; a
//! changed job restarts its discovery with the new config, and when the new targets are
//! known, each target still present hands its loop's series cache to a loop running the new
//! config (no staleness markers, no gap), while targets no longer present stop with
//! staleness markers; a removed job stops (staleness markers); a new job starts.

use crate::config::discovery::TargetGroup;
use crate::config::ScrapeConfig;
use crate::features::Features;
use crate::httpclient::ClientError;
use crate::scrape::client::JobClient;
use crate::scrape::discovery::{run_job_discovery, DiscoveryOptions};
use crate::scrape::scrape_loop::{LoopCarry, LoopControl, ScrapeLoop};
use crate::scrape::target::{
    Health, PoolTargets, ScrapeLimits, Target, TargetSet, TargetSpec, TargetStatus,
};
use crate::scrape::target_labels::{discovered_labels, populate_target, PopulatedTarget};
use crate::store::Store;
use crate::telemetry::Telemetry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What every pool shares.
#[derive(Clone)]
pub struct ScrapeContext {
    pub store: Arc<Store>,
    pub targets: Arc<TargetSet>,
    pub telemetry: Arc<Telemetry>,
    pub discovery: DiscoveryOptions,
    /// The `--enable-feature` switches (scraping reads `created-timestamp-zero-ingestion`
    /// and `type-and-unit-labels`).
    pub features: Features,
}

/// The running scrape pools, one per job, by job name.
pub struct ScrapePools {
    ctx: ScrapeContext,
    pools: BTreeMap<String, PoolHandle>,
}

struct PoolHandle {
    cfg: Arc<ScrapeConfig>,
    update: watch::Sender<Arc<ScrapeConfig>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// What [`ScrapePools::apply`] did, by job name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolChanges {
    /// Jobs whose effective config did not change: untouched.
    pub unchanged: Vec<String>,
    /// Jobs running with a new config.
    pub changed: Vec<String>,
    /// Jobs started.
    pub started: Vec<String>,
    /// Jobs stopped (their targets' series got staleness markers).
    pub stopped: Vec<String>,
}

impl ScrapePools {
    /// Starts one pool task per scrape config.
    pub fn start(configs: &[ScrapeConfig], ctx: ScrapeContext) -> ScrapePools {
        let mut pools = ScrapePools {
            ctx,
            pools: BTreeMap::new(),
        };
        for cfg in configs {
            pools.spawn(cfg);
        }
        pools
    }

    fn spawn(&mut self, cfg: &ScrapeConfig) {
        let cfg = Arc::new(cfg.clone());
        let (update, update_rx) = watch::channel(cfg.clone());
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run_pool(update_rx, self.ctx.clone(), stop_rx));
        self.pools.insert(
            cfg.job_name.clone(),
            PoolHandle {
                cfg,
                update,
                stop,
                task,
            },
        );
    }

    /// The jobs running, by name.
    pub fn jobs(&self) -> Vec<String> {
        self.pools.keys().cloned().collect()
    }

    /// Applies a new set of scrape configs (validated: job names are unique). Returns once
    /// removed jobs have stopped and written their staleness markers; changed jobs switch
    /// over in their own tasks.
    pub async fn apply(&mut self, configs: &[ScrapeConfig]) -> PoolChanges {
        let mut changes = PoolChanges::default();
        let wanted: BTreeMap<&str, &ScrapeConfig> =
            configs.iter().map(|c| (c.job_name.as_str(), c)).collect();
        let removed: Vec<String> = self
            .pools
            .keys()
            .filter(|j| !wanted.contains_key(j.as_str()))
            .cloned()
            .collect();
        let mut stopping = Vec::new();
        for job in removed {
            if let Some(p) = self.pools.remove(&job) {
                let _ = p.stop.send(true);
                stopping.push(p.task);
                changes.stopped.push(job);
            }
        }
        for cfg in configs {
            match self.pools.get_mut(&cfg.job_name) {
                Some(p) if same_job(&p.cfg, cfg) => changes.unchanged.push(cfg.job_name.clone()),
                Some(p) => {
                    p.cfg = Arc::new(cfg.clone());
                    let _ = p.update.send(p.cfg.clone());
                    changes.changed.push(cfg.job_name.clone());
                }
                None => {
                    self.spawn(cfg);
                    changes.started.push(cfg.job_name.clone());
                }
            }
        }
        for t in stopping {
            let _ = t.await;
        }
        changes
    }

    /// Stops every pool (writing staleness markers) and waits for them.
    pub async fn stop(&mut self) {
        let pools = std::mem::take(&mut self.pools);
        for p in pools.values() {
            let _ = p.stop.send(true);
        }
        for (_, p) in pools {
            let _ = p.task.await;
        }
    }
}

/// Whether two validated scrape configs would scrape the same way: every field equal
/// (`ScrapeConfig`'s `PartialEq`; relabel rules compare as written).
pub fn same_job(a: &ScrapeConfig, b: &ScrapeConfig) -> bool {
    a == b
}

/// Whether a loop's series cache stays valid under a new config: it maps exposed series
/// text to stored series, so everything that decides a scraped series' labels must match.
fn cache_reusable(old: &ScrapeConfig, new: &ScrapeConfig) -> bool {
    old.honor_labels == new.honor_labels
        && old.honor_timestamps == new.honor_timestamps
        && old.track_timestamps_staleness == new.track_timestamps_staleness
        && old.limits.label_limit == new.limits.label_limit
        && old.limits.label_name_length_limit == new.limits.label_name_length_limit
        && old.limits.label_value_length_limit == new.limits.label_value_length_limit
        && old.name_validation == new.name_validation
        && old.metric_relabel_configs == new.metric_relabel_configs
}

struct RunningLoop {
    target: Arc<Target>,
    /// The config the loop was started with.
    cfg: Arc<ScrapeConfig>,
    stop: watch::Sender<LoopControl>,
    handle: JoinHandle<Option<LoopCarry>>,
}

/// The job's client; one that cannot be built (unreadable CA file, bad key) leaves the
/// job's targets visible on the targets page, down, with the reason.
fn job_client(cfg: &ScrapeConfig, features: Features) -> Result<JobClient, ClientError> {
    let accept = crate::config::ScrapeProtocol::accept_header_escaping(
        &cfg.protocols(features.created_timestamp_zero_ingestion),
        cfg.metric_name_escaping_scheme,
    );
    JobClient::new(&cfg.http, accept)
        .map(|c| c.negotiating(cfg.enable_compression, cfg.fallback_scrape_protocol))
        .map_err(|e| {
        tracing::error!(job = %cfg.job_name, error = %e, "cannot build the scrape client; the job's targets are not scraped");
        e
    })
}

fn start_discovery(
    cfg: &Arc<ScrapeConfig>,
    opts: &DiscoveryOptions,
) -> (watch::Receiver<Vec<TargetGroup>>, JoinHandle<()>) {
    let (tx, rx) = watch::channel(Vec::new());
    let discovery_cfg = cfg.clone();
    let opts = opts.clone();
    let task = tokio::spawn(async move { run_job_discovery(&discovery_cfg, &opts, tx).await });
    (rx, task)
}

async fn run_pool(
    mut updates: watch::Receiver<Arc<ScrapeConfig>>,
    ctx: ScrapeContext,
    mut stop: watch::Receiver<bool>,
) {
    let mut cfg = updates.borrow_and_update().clone();
    let job = cfg.job_name.clone();
    let mut client = job_client(&cfg, ctx.features);
    let (mut rx, mut discovery) = start_discovery(&cfg, &ctx.discovery);
    let mut discovering = true;
    let mut running: HashMap<u64, RunningLoop> = HashMap::new();
    ctx.targets.set_pool(&job, PoolTargets::default());
    loop {
        let discovered = async {
            if discovering {
                rx.changed().await.is_ok()
            } else {
                // Discovery ended; keep the current targets until stopped or reloaded.
                std::future::pending().await
            }
        };
        tokio::select! {
            alive = discovered => {
                if !alive {
                    discovering = false;
                    continue;
                }
                let groups = rx.borrow_and_update().clone();
                reconcile(&cfg, &ctx, &client, &groups, &mut running);
            }
            changed = updates.changed() => {
                if changed.is_err() {
                    break;
                }
                // The loops keep running with the old config until the new discovery
                // reports, then switch over target by target in `reconcile`.
                cfg = updates.borrow_and_update().clone();
                client = job_client(&cfg, ctx.features);
                discovery.abort();
                (rx, discovery) = start_discovery(&cfg, &ctx.discovery);
                discovering = true;
                tracing::info!(job = %job, "scrape config changed; switching over when its targets are known");
            }
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
    }
    drop(rx);
    discovery.abort();
    for l in running.values() {
        let _ = l.stop.send(LoopControl::Stop);
    }
    for (_, l) in running.drain() {
        let _ = l.handle.await;
    }
    ctx.targets.remove_pool(&job);
    ctx.telemetry
        .active_targets
        .get_or_create(&vec![("job", job)])
        .set(0);
}

/// The targets of a job's `static_configs`, as its scrape loops would scrape them (after
/// relabeling; dropped and invalid targets left out). For writing samples a job would have
/// scraped (the demo's history) with the labels its live scrapes give them.
pub fn static_targets(cfg: &ScrapeConfig, features: Features) -> Vec<TargetSpec> {
    cfg.static_configs
        .iter()
        .flat_map(|g| g.targets.iter().map(move |t| (g, t)))
        .filter_map(|(g, t)| populate_target(cfg, &g.labels, t).ok().flatten())
        .map(|p| target_spec(cfg, p, features))
        .collect()
}

fn target_spec(cfg: &ScrapeConfig, t: PopulatedTarget, features: Features) -> TargetSpec {
    let l = &cfg.limits;
    TargetSpec {
        job: cfg.job_name.clone(),
        url: t.url,
        labels: t.labels,
        discovered_labels: t.discovered_labels,
        interval: t.interval,
        timeout: t.timeout,
        honor_labels: cfg.honor_labels,
        honor_timestamps: cfg.honor_timestamps,
        track_timestamps_staleness: cfg.track_timestamps_staleness,
        metric_relabel_configs: Arc::new(cfg.metric_relabel_configs.clone()),
        limits: ScrapeLimits {
            body_size_bytes: l.body_size_limit.unwrap_or(0),
            sample_limit: l.sample_limit.unwrap_or(0),
            label_limit: l.label_limit.unwrap_or(0),
            label_name_length_limit: l.label_name_length_limit.unwrap_or(0),
            label_value_length_limit: l.label_value_length_limit.unwrap_or(0),
        },
        name_validation: cfg.name_validation,
        histograms: cfg.histograms,
        type_and_unit_labels: features.type_and_unit_labels,
        created_timestamp_zero_ingestion: features.created_timestamp_zero_ingestion,
    }
}

fn target_key(spec: &TargetSpec) -> u64 {
    spec.labels.fingerprint() ^ xxhash_rust::xxh3::xxh3_64(spec.url.as_bytes()).rotate_left(1)
}

fn reconcile(
    cfg: &Arc<ScrapeConfig>,
    ctx: &ScrapeContext,
    client: &Result<JobClient, ClientError>,
    groups: &[TargetGroup],
    running: &mut HashMap<u64, RunningLoop>,
) {
    let job = &cfg.job_name;
    let mut wanted: HashMap<u64, TargetSpec> = HashMap::new();
    let mut dropped = Vec::new();
    for group in groups {
        for t in &group.targets {
            match populate_target(cfg, &group.labels, t) {
                Ok(Some(p)) => {
                    let spec = target_spec(cfg, p, ctx.features);
                    wanted.entry(target_key(&spec)).or_insert(spec);
                }
                Ok(None) => dropped.push(discovered_labels(cfg, &group.labels, t)),
                Err(invalid) => {
                    tracing::warn!(job = %job, reason = %invalid.reason, "target dropped: invalid after relabeling");
                    dropped.push(invalid.discovered_labels);
                }
            }
        }
    }
    if let Some(keep) = cfg.limits.keep_dropped_targets.filter(|k| *k > 0) {
        dropped.truncate(keep as usize);
    }
    let limit = cfg.limits.target_limit.unwrap_or(0);
    let failure = match client {
        Err(e) => Some(e.to_string()),
        // As Prometheus: every target of the pool fails instead of a partial set.
        Ok(_) if limit > 0 && wanted.len() as u64 > limit => Some(format!(
            "target_limit exceeded (number of targets: {}, limit: {limit})",
            wanted.len()
        )),
        Ok(_) => None,
    };
    let client = match (client, failure) {
        (Ok(c), None) => c,
        (_, failure) => {
            let message = failure.unwrap_or_default();
            tracing::warn!(job = %job, "{message}");
            for (_, l) in running.drain() {
                let _ = l.stop.send(LoopControl::Stop);
            }
            let active = wanted
                .into_values()
                .map(|spec| {
                    let t = Arc::new(Target::new(spec));
                    t.set_status(TargetStatus {
                        health: Health::Down,
                        last_error: message.clone(),
                        ..TargetStatus::default()
                    });
                    t
                })
                .collect();
            ctx.targets.set_pool(job, PoolTargets { active, dropped });
            return;
        }
    };
    running.retain(|key, l| {
        let keep = wanted.contains_key(key);
        if !keep {
            let _ = l.stop.send(LoopControl::Stop);
        }
        keep
    });
    for (key, spec) in wanted {
        let predecessor = match running.remove(&key) {
            Some(existing) if Arc::ptr_eq(&existing.cfg, cfg) => {
                existing
                    .target
                    .set_discovered_labels(spec.discovered_labels);
                running.insert(key, existing);
                continue;
            }
            // Started under an older config: hand over to a loop with the new one.
            Some(existing) => {
                let _ = existing.stop.send(LoopControl::HandOver);
                Some((
                    existing.handle,
                    cache_reusable(&existing.cfg, cfg),
                    existing.target.status(),
                ))
            }
            None => None,
        };
        let target = Arc::new(Target::new(spec));
        let predecessor = predecessor.map(|(handle, reuse_cache, status)| {
            // The targets view keeps showing the last scrape until the new loop's first.
            target.set_status(status);
            (handle, reuse_cache)
        });
        let (stop_tx, stop_rx) = watch::channel(LoopControl::Run);
        let mut lp = ScrapeLoop::new(
            target.clone(),
            client.clone(),
            ctx.store.clone(),
            ctx.telemetry.clone(),
        );
        let handle = tokio::spawn(async move {
            if let Some((old, reuse_cache)) = predecessor {
                if let Ok(Some(carry)) = old.await {
                    lp.adopt(carry, reuse_cache);
                }
            }
            lp.run(stop_rx).await
        });
        running.insert(
            key,
            RunningLoop {
                target,
                cfg: cfg.clone(),
                stop: stop_tx,
                handle,
            },
        );
    }
    let mut active: Vec<Arc<Target>> = running.values().map(|l| l.target.clone()).collect();
    active.sort_by(|a, b| a.spec.labels.cmp(&b.spec.labels));
    ctx.telemetry
        .active_targets
        .get_or_create(&vec![("job", job.clone())])
        .set(active.len() as i64);
    ctx.targets.set_pool(job, PoolTargets { active, dropped });
}
