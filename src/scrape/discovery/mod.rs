//! Service discovery: where a scrape job's targets come from.
//!
//! A provider ([`Discoverer`]) publishes the complete current list of [`TargetGroup`]s it
//! knows through a `tokio::sync::watch` channel, replacing the previous list on every change.
//! [`run_job_discovery`] runs every provider of one scrape job and publishes their union on
//! the job's channel, which the scrape manager turns into targets with
//! [`crate::scrape::target_labels`]. Providers: `static_configs` ([`StaticDiscoverer`]),
//! `file_sd_configs` ([`file::FileDiscoverer`]), `kubernetes_sd_configs`
//! ([`kubernetes::KubernetesDiscoverer`]), `http_sd_configs` ([`http::HttpDiscoverer`]) and
//! `dns_sd_configs` ([`dns::DnsDiscoverer`]).

pub mod dns;
pub mod file;
pub mod http;
pub mod kubernetes;
pub mod metrics;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::config::discovery::{DnsSdConfig, FileSdConfig, HttpSdConfig, TargetGroup};
use crate::config::kubernetes_sd::KubernetesSdConfig;
use crate::config::ScrapeConfig;

/// Tuning that is not in the config file.
#[derive(Clone, Debug)]
pub struct DiscoveryOptions {
    /// How often file_sd checks its files' modification times (Prometheus uses inotify).
    pub file_poll_interval: Duration,
    /// The file `kubernetes_sd_configs` with `namespaces.own_namespace` read the pod's
    /// namespace from (the service account volume's `namespace`).
    pub kubernetes_namespace_file: PathBuf,
    /// The resolver configuration `dns_sd_configs` use (default `/etc/resolv.conf`, port 53).
    pub dns_resolver: dns::ResolverConfig,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        DiscoveryOptions {
            file_poll_interval: Duration::from_secs(5),
            kubernetes_namespace_file: PathBuf::from(kubernetes::DEFAULT_NAMESPACE_FILE),
            dns_resolver: dns::ResolverConfig::default(),
        }
    }
}

/// A boxed future, as providers return from [`Discoverer::run`].
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A source of target groups for one scrape job.
pub trait Discoverer: Send {
    /// A short name for logs (`static`, `file`, `kubernetes`).
    fn name(&self) -> &'static str;

    /// Runs until every receiver of `updates` is gone, sending this provider's complete
    /// current list of groups whenever it changes (the first list as soon as it is known).
    fn run(self: Box<Self>, updates: watch::Sender<Vec<TargetGroup>>) -> BoxFuture;
}

/// `static_configs`: the groups never change.
pub struct StaticDiscoverer {
    pub groups: Vec<TargetGroup>,
}

impl Discoverer for StaticDiscoverer {
    fn name(&self) -> &'static str {
        "static"
    }

    fn run(self: Box<Self>, updates: watch::Sender<Vec<TargetGroup>>) -> BoxFuture {
        Box::pin(async move {
            updates.send_replace(self.groups);
            updates.closed().await;
        })
    }
}

/// The discovery entries of a scrape job or of an `alerting.alertmanagers` entry.
#[derive(Clone, Copy)]
pub struct DiscoveryEntries<'a> {
    pub static_configs: &'a [TargetGroup],
    pub file_sd_configs: &'a [FileSdConfig],
    pub kubernetes_sd_configs: &'a [KubernetesSdConfig],
    pub http_sd_configs: &'a [HttpSdConfig],
    pub dns_sd_configs: &'a [DnsSdConfig],
}

impl<'a> DiscoveryEntries<'a> {
    /// A scrape job's entries.
    pub fn of_job(cfg: &'a ScrapeConfig) -> DiscoveryEntries<'a> {
        DiscoveryEntries {
            static_configs: &cfg.static_configs,
            file_sd_configs: &cfg.file_sd_configs,
            kubernetes_sd_configs: &cfg.kubernetes_sd_configs,
            http_sd_configs: &cfg.http_sd_configs,
            dns_sd_configs: &cfg.dns_sd_configs,
        }
    }
}

/// The providers a scrape job configures, in config order.
pub fn discoverers_for(cfg: &ScrapeConfig, opts: &DiscoveryOptions) -> Vec<Box<dyn Discoverer>> {
    discoverers(DiscoveryEntries::of_job(cfg), opts)
}

/// The providers of a set of discovery entries, in config order.
pub fn discoverers(e: DiscoveryEntries<'_>, opts: &DiscoveryOptions) -> Vec<Box<dyn Discoverer>> {
    let mut out: Vec<Box<dyn Discoverer>> = Vec::new();
    if !e.static_configs.is_empty() {
        out.push(Box::new(StaticDiscoverer {
            groups: e.static_configs.to_vec(),
        }));
    }
    for fsd in e.file_sd_configs {
        out.push(Box::new(file::FileDiscoverer::new(
            fsd.clone(),
            opts.file_poll_interval,
        )));
    }
    for ksd in e.kubernetes_sd_configs {
        out.push(Box::new(kubernetes::KubernetesDiscoverer::new(
            ksd.clone(),
            opts.kubernetes_namespace_file.clone(),
        )));
    }
    for hsd in e.http_sd_configs {
        out.push(Box::new(http::HttpDiscoverer::new(hsd.clone())));
    }
    for dsd in e.dns_sd_configs {
        out.push(Box::new(dns::DnsDiscoverer::new(
            dsd.clone(),
            opts.dns_resolver.clone(),
        )));
    }
    out
}

/// Runs `providers` and publishes the union of their groups on `tx` whenever one changes.
/// Returns when every receiver of `tx` is dropped; the providers stop with it.
pub async fn run_providers(
    providers: Vec<Box<dyn Discoverer>>,
    tx: watch::Sender<Vec<TargetGroup>>,
) {
    let (merge_tx, mut merge_rx) = mpsc::channel::<(usize, Vec<TargetGroup>)>(16);
    let mut tasks = Vec::new();
    for (i, provider) in providers.into_iter().enumerate() {
        let (ptx, mut prx) = watch::channel(Vec::new());
        tasks.push(tokio::spawn(provider.run(ptx)));
        let merge_tx = merge_tx.clone();
        tasks.push(tokio::spawn(async move {
            while prx.changed().await.is_ok() {
                let groups = prx.borrow_and_update().clone();
                if merge_tx.send((i, groups)).await.is_err() {
                    break;
                }
            }
        }));
    }
    drop(merge_tx);
    let mut current: Vec<Vec<TargetGroup>> = vec![Vec::new(); tasks.len() / 2];
    loop {
        tokio::select! {
            _ = tx.closed() => break,
            msg = merge_rx.recv() => match msg {
                Some((i, groups)) => {
                    current[i] = groups;
                    tx.send_replace(current.iter().flatten().cloned().collect());
                }
                // Every provider ended: the union is final.
                None => {
                    tx.closed().await;
                    break;
                }
            },
        }
    }
    for t in tasks {
        t.abort();
    }
}

/// Runs the discovery of one scrape job, publishing its target groups on `tx`.
pub async fn run_job_discovery(
    cfg: &ScrapeConfig,
    opts: &DiscoveryOptions,
    tx: watch::Sender<Vec<TargetGroup>>,
) {
    run_providers(discoverers_for(cfg, opts), tx).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::discovery::ADDRESS_LABEL;
    use crate::store::Labels;

    fn group(source: &str, addr: &str) -> TargetGroup {
        TargetGroup {
            source: source.to_string(),
            targets: vec![Labels::from_pairs([(ADDRESS_LABEL, addr)])],
            labels: Labels::empty(),
        }
    }

    #[tokio::test]
    async fn providers_are_merged_in_order() {
        let providers: Vec<Box<dyn Discoverer>> = vec![
            Box::new(StaticDiscoverer {
                groups: vec![group("0", "a:1")],
            }),
            Box::new(StaticDiscoverer {
                groups: vec![group("0", "b:2")],
            }),
        ];
        let (tx, mut rx) = watch::channel(Vec::new());
        let runner = tokio::spawn(run_providers(providers, tx));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let merged = loop {
            let now = rx.borrow_and_update().clone();
            if now.len() == 2 {
                break now;
            }
            tokio::time::timeout_at(deadline, rx.changed())
                .await
                .expect("both providers published in time")
                .expect("runner alive");
        };
        assert_eq!(merged, vec![group("0", "a:1"), group("0", "b:2")]);
        drop(rx);
        tokio::time::timeout(Duration::from_secs(5), runner)
            .await
            .expect("runner stops when the receiver is gone")
            .expect("runner did not panic");
    }
}
