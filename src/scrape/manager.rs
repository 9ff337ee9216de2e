//! The scrape manager: one pool per job, turning discovered target groups into running
//! scrape loops.
//!
//! Each pool runs its job's discovery, and on every update recomputes the job's targets
//! (relabeling with [`target_labels`](crate::scrape::target_labels)), starts loops for new
//! targets, stops the loops of targets that disappeared (which writes their staleness
//! markers) and publishes the result to the shared [`TargetSet`].

use crate::config::ScrapeConfig;
use crate::scrape::client::JobClient;
use crate::scrape::discovery::{run_job_discovery, DiscoveryOptions, TargetGroup};
use crate::scrape::scrape_loop::ScrapeLoop;
use crate::scrape::target::{
    Health, PoolTargets, ScrapeLimits, Target, TargetSet, TargetSpec, TargetStatus,
};
use crate::scrape::target_labels::{discovered_labels, populate_target, PopulatedTarget};
use crate::store::Store;
use crate::telemetry::Telemetry;
use std::collections::HashMap;
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
}

/// Starts one pool task per scrape config. Each runs until `stop` turns true, then stops
/// its loops (writing staleness markers) before it returns.
pub fn spawn_pools(
    configs: &[ScrapeConfig],
    ctx: &ScrapeContext,
    stop: &watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    configs
        .iter()
        .map(|cfg| tokio::spawn(run_pool(cfg.clone(), ctx.clone(), stop.clone())))
        .collect()
}

struct RunningLoop {
    target: Arc<Target>,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

async fn run_pool(cfg: ScrapeConfig, ctx: ScrapeContext, mut stop: watch::Receiver<bool>) {
    let job = cfg.job_name.clone();
    // A client that cannot be built (unreadable CA file, bad key) leaves the job's targets
    // visible on the targets page, down, with the reason.
    let accept = crate::config::ScrapeProtocol::accept_header(&cfg.scrape_protocols);
    let client = JobClient::new(&cfg.http, accept).map_err(|e| {
        tracing::error!(job = %job, error = %e, "cannot build the scrape client; the job's targets are not scraped");
        e.to_string()
    });
    let (tx, mut rx) = watch::channel(Vec::new());
    let discovery_cfg = cfg.clone();
    let opts = ctx.discovery.clone();
    let discovery = tokio::spawn(async move { run_job_discovery(&discovery_cfg, &opts, tx).await });
    let mut running: HashMap<u64, RunningLoop> = HashMap::new();
    ctx.targets.set_pool(&job, PoolTargets::default());
    loop {
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    // Discovery ended; keep the current targets until stopped.
                    let _ = stop.changed().await;
                    break;
                }
                let groups = rx.borrow_and_update().clone();
                reconcile(&cfg, &ctx, &client, &groups, &mut running);
            }
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
    }
    drop(rx);
    discovery.abort();
    for (_, l) in running.drain() {
        let _ = l.stop.send(true);
        let _ = l.handle.await;
    }
    ctx.targets.remove_pool(&job);
    ctx.telemetry
        .active_targets
        .get_or_create(&vec![("job", job)])
        .set(0);
}

fn target_spec(cfg: &ScrapeConfig, t: PopulatedTarget) -> TargetSpec {
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
        metric_relabel_configs: Arc::new(cfg.metric_relabel_configs.clone()),
        limits: ScrapeLimits {
            body_size_bytes: l.body_size_limit.unwrap_or(0),
            sample_limit: l.sample_limit.unwrap_or(0),
            label_limit: l.label_limit.unwrap_or(0),
            label_name_length_limit: l.label_name_length_limit.unwrap_or(0),
            label_value_length_limit: l.label_value_length_limit.unwrap_or(0),
        },
    }
}

fn target_key(spec: &TargetSpec) -> u64 {
    spec.labels.fingerprint() ^ xxhash_rust::xxh3::xxh3_64(spec.url.as_bytes()).rotate_left(1)
}

fn reconcile(
    cfg: &ScrapeConfig,
    ctx: &ScrapeContext,
    client: &Result<JobClient, String>,
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
                    let spec = target_spec(cfg, p);
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
        Err(e) => Some(e.clone()),
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
                let _ = l.stop.send(true);
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
            let _ = l.stop.send(true);
        }
        keep
    });
    for (key, spec) in wanted {
        if let Some(existing) = running.get(&key) {
            existing
                .target
                .set_discovered_labels(spec.discovered_labels);
            continue;
        }
        let target = Arc::new(Target::new(spec));
        let (stop_tx, stop_rx) = watch::channel(false);
        let lp = ScrapeLoop::new(
            target.clone(),
            client.clone(),
            ctx.store.clone(),
            ctx.telemetry.clone(),
        );
        let handle = tokio::spawn(lp.run(stop_rx));
        running.insert(
            key,
            RunningLoop {
                target,
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
