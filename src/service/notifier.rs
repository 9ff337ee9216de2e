//! The notifier's place in `redline run`: one [`Notifier`] for the service's life, fed the
//! rules engine's alerts by `forward_alerts`, and per `alerting.alertmanagers` entry one
//! discovery run (static, file, Kubernetes, HTTP and DNS: the providers scrape jobs use) whose
//! target groups reach [`Notifier::sync`], as Prometheus' notifier discovery manager
//! feeds its notifier. A reload hands the notifier the new `alerting:` section and
//! external labels and restarts the discovery runs.

use tokio::task::JoinHandle;

use crate::config::alerting::AlertingConfig;
use crate::config::Config;
use crate::notifier::{Notifier, NotifierOptions};
use crate::scrape::discovery::{discoverers, run_providers, DiscoveryEntries, DiscoveryOptions};
use crate::telemetry::Telemetry;

/// The notifier and the discovery tasks of its Alertmanager sets.
pub struct NotifierRuntime {
    notifier: Notifier,
    discovery_opts: DiscoveryOptions,
    discovery: Vec<JoinHandle<()>>,
}

impl NotifierRuntime {
    /// Starts the notifier for `cfg`'s `alerting:` section. Call within the tokio runtime.
    pub fn start(
        cfg: &Config,
        opts: NotifierOptions,
        discovery_opts: DiscoveryOptions,
        telemetry: &mut Telemetry,
    ) -> NotifierRuntime {
        let notifier = Notifier::new(opts, telemetry.registry_mut());
        let mut rt = NotifierRuntime {
            notifier,
            discovery_opts,
            discovery: Vec::new(),
        };
        rt.apply(cfg);
        rt
    }

    /// The notifier alerts are handed to.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// Takes a (re)loaded config's `alerting:` section and external labels.
    pub fn apply(&mut self, cfg: &Config) {
        self.stop_discovery();
        self.notifier
            .apply_config(&cfg.alerting, &cfg.global.external_labels);
        self.discovery = start_discovery(&self.notifier, &cfg.alerting, &self.discovery_opts);
    }

    fn stop_discovery(&mut self) {
        for t in self.discovery.drain(..) {
            t.abort();
        }
    }

    /// Stops discovery, then the queues (each sends what it holds first).
    pub async fn shutdown(&mut self) {
        self.stop_discovery();
        self.notifier.shutdown().await;
    }
}

fn start_discovery(
    notifier: &Notifier,
    cfg: &AlertingConfig,
    opts: &DiscoveryOptions,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    for (i, am) in cfg.alertmanagers.iter().enumerate() {
        let providers = discoverers(
            DiscoveryEntries {
                static_configs: &am.static_configs,
                file_sd_configs: &am.file_sd_configs,
                kubernetes_sd_configs: &am.kubernetes_sd_configs,
                http_sd_configs: &am.http_sd_configs,
                dns_sd_configs: &am.dns_sd_configs,
            },
            opts,
        );
        let (tx, mut rx) = tokio::sync::watch::channel(Vec::new());
        tasks.push(tokio::spawn(run_providers(providers, tx)));
        let n = notifier.clone();
        tasks.push(tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let groups = rx.borrow_and_update().clone();
                n.sync(i, &groups);
            }
        }));
    }
    tasks
}
