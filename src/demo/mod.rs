//! `redline demo`: redline watching an embedded synthetic cluster.
//!
//! [`cluster`] simulates three nodes (node_exporter), their kubelets' cAdvisor endpoints,
//! kube-state-metrics and two application services (`checkout`, team payments; `catalog`,
//! team catalog), each on its own loopback port. redline scrapes them with the shipped rules,
//! the demo's SLOs ([`SLOS`]) and a routing config with two owners and a platform fallback
//! ([`ALERTMANAGER_CONFIG`]) whose webhooks point at the in-process receiver of [`sink`],
//! which prints every notification. A scripted incident starts after a minute: an error
//! burst on checkout, a latency regression on catalog, a crash-looping pod and a node under
//! memory pressure; alerts fire, are grouped and routed to their owners, then resolve.

pub mod cluster;
pub mod history;
pub mod sink;

use crate::config::Config;
use crate::service::{self, ServiceOptions};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use cluster::{App, Cluster, Endpoint, Scenario};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The demo's SLO specs (redline's format).
pub const SLOS: &str = include_str!("slos.yml");
/// The demo's routing config (Alertmanager's format plus `owners:`); `SINK` stands for the
/// webhook receiver's address.
pub const ALERTMANAGER_CONFIG: &str = include_str!("alertmanager.yml");

/// The shipped rule files, embedded so the demo runs from any directory.
const SHIPPED_RULES: [(&str, &str); 4] = [
    ("node.yml", include_str!("../../rules/node.yml")),
    ("container.yml", include_str!("../../rules/container.yml")),
    ("kubernetes.yml", include_str!("../../rules/kubernetes.yml")),
    ("red.yml", include_str!("../../rules/red.yml")),
];

/// `redline demo`'s options.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Where redline (and its dashboard) listens.
    pub listen: SocketAddr,
    /// Scenario seconds per real second: everything the scenario scripts (when the incident
    /// starts, how long it lasts, the SLO ledger's step) happens this many times faster.
    pub speed: f64,
    /// Scenario time until the incident starts.
    pub incident_after: Duration,
    /// Scenario time the incident lasts.
    pub incident_for: Duration,
    /// The UTC second of the day the demo starts at: its history's day/night cycle follows
    /// the clock.
    pub day_start: f64,
}

impl DemoOptions {
    /// Defaults: incident after one minute, for fifteen, at normal speed.
    pub fn new(listen: SocketAddr) -> DemoOptions {
        DemoOptions {
            listen,
            speed: 1.0,
            incident_after: Duration::from_secs(60),
            incident_for: Duration::from_secs(15 * 60),
            day_start: (crate::timefmt::now_ms() / 1000).rem_euclid(86_400) as f64,
        }
    }

    fn scenario(&self) -> Scenario {
        Scenario {
            incident_at: self.incident_after,
            incident_for: self.incident_for,
            speed: self.speed,
            day_start: self.day_start,
        }
    }

    /// The real time until the incident starts and the real time it lasts.
    pub fn real_schedule(&self) -> (Duration, Duration) {
        (
            self.incident_after.div_f64(self.speed),
            self.incident_for.div_f64(self.speed),
        )
    }
}

/// The addresses of the cluster's endpoints.
#[derive(Clone, Debug)]
pub struct ClusterAddrs {
    /// `(node name, node_exporter address, kubelet address)`.
    pub nodes: Vec<(&'static str, SocketAddr, SocketAddr)>,
    pub kube_state_metrics: SocketAddr,
    pub checkout: SocketAddr,
    pub catalog: SocketAddr,
}

impl ClusterAddrs {
    /// The endpoint served at `addr` (`host:port`).
    pub fn endpoint_at(&self, addr: &str) -> Option<Endpoint> {
        let is = |a: &SocketAddr| a.to_string() == addr;
        for (node, exporter, kubelet) in &self.nodes {
            if is(exporter) {
                return Some(Endpoint::NodeExporter(node));
            }
            if is(kubelet) {
                return Some(Endpoint::Cadvisor(node));
            }
        }
        [
            (self.kube_state_metrics, Endpoint::KubeStateMetrics),
            (self.checkout, Endpoint::App(App::Checkout)),
            (self.catalog, Endpoint::App(App::Catalog)),
        ]
        .into_iter()
        .find(|(a, _)| is(a))
        .map(|(_, e)| e)
    }
}

/// Serves every endpoint of `cluster` on its own `127.0.0.1` port.
pub async fn serve_cluster(cluster: &Arc<Cluster>) -> std::io::Result<ClusterAddrs> {
    let mut nodes = Vec::new();
    for n in cluster::nodes() {
        let exporter = serve_endpoint(cluster, Endpoint::NodeExporter(n.name), "/metrics").await?;
        let kubelet =
            serve_endpoint(cluster, Endpoint::Cadvisor(n.name), "/metrics/cadvisor").await?;
        nodes.push((n.name, exporter, kubelet));
    }
    Ok(ClusterAddrs {
        nodes,
        kube_state_metrics: serve_endpoint(cluster, Endpoint::KubeStateMetrics, "/metrics").await?,
        checkout: serve_endpoint(cluster, Endpoint::App(App::Checkout), "/metrics").await?,
        catalog: serve_endpoint(cluster, Endpoint::App(App::Catalog), "/metrics").await?,
    })
}

async fn serve_endpoint(
    cluster: &Arc<Cluster>,
    endpoint: Endpoint,
    path: &str,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let cluster = cluster.clone();
    let endpoint = Arc::new(endpoint);
    let app = Router::new().route(
        path,
        get(move || {
            let cluster = cluster.clone();
            let endpoint = endpoint.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    cluster.exposition(&endpoint),
                )
                    .into_response()
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// The files of the demo's config besides the rule files.
#[derive(Clone, Debug)]
pub struct DemoFiles {
    pub rule_files: Vec<PathBuf>,
    pub slo_file: PathBuf,
    pub alertmanager_file: PathBuf,
    /// The real time one SLO ledger minute takes (one scenario minute).
    pub ledger_step: Duration,
}

impl DemoFiles {
    /// How long the store keeps samples: the history's SLO period and a day more, in
    /// ledger steps.
    pub fn retention(&self) -> Duration {
        self.ledger_step * (history::SLO_PERIOD_STEPS + 1440) as u32
    }
}

/// The main config the demo runs: every endpoint of the cluster, redline itself, the rule
/// files, the SLOs and the routing config.
pub fn demo_config(addrs: &ClusterAddrs, listen: SocketAddr, files: &DemoFiles) -> String {
    let mut y = String::from(
        "global:\n  scrape_interval: 5s\n  scrape_timeout: 4s\n  evaluation_interval: 5s\n",
    );
    // The demo runs on the store its history was written into, in memory.
    let _ = write!(
        y,
        "storage:\n  retention: {}ms\n  wal:\n    enabled: false\n",
        files.retention().as_millis()
    );
    let _ = write!(
        y,
        "slo_files: ['{}']\nslo:\n  evaluation_interval: 5s\n  ledger_step: {}ms\nalertmanager:\n  config_file: '{}'\n",
        files.slo_file.display(),
        files.ledger_step.as_millis().max(1),
        files.alertmanager_file.display()
    );
    let rule_files = &files.rule_files;
    y.push_str("rule_files:\n");
    for f in rule_files {
        let _ = writeln!(y, "  - '{}'", f.display());
    }
    y.push_str("scrape_configs:\n  - job_name: node-exporter\n    static_configs:\n");
    for (node, exporter, _) in &addrs.nodes {
        let _ = writeln!(
            y,
            "      - targets: ['{exporter}']\n        labels: {{node: {node}}}"
        );
    }
    y.push_str("  - job_name: kubelet\n    metrics_path: /metrics/cadvisor\n    static_configs:\n");
    for (node, _, kubelet) in &addrs.nodes {
        let _ = writeln!(
            y,
            "      - targets: ['{kubelet}']\n        labels: {{node: {node}}}"
        );
    }
    let _ = write!(
        y,
        "  - job_name: kube-state-metrics
    honor_labels: true
    static_configs:
      - targets: ['{ksm}']
  - job_name: checkout
    static_configs:
      - targets: ['{checkout}']
        labels: {{namespace: payments, service: checkout, team: team-payments}}
  - job_name: catalog
    static_configs:
      - targets: ['{catalog}']
        labels: {{namespace: catalog, service: catalog, team: team-catalog}}
  - job_name: redline
    static_configs:
      - targets: ['{listen}']
",
        ksm = addrs.kube_state_metrics,
        checkout = addrs.checkout,
        catalog = addrs.catalog,
    );
    y
}

/// Writes the demo's files into `dir`: the shipped rule files (embedded), the SLO specs and
/// the routing config pointing at the webhook receiver `sink`.
fn write_files(dir: &Path, sink: SocketAddr, speed: f64) -> std::io::Result<DemoFiles> {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules)?;
    let rule_files = SHIPPED_RULES
        .iter()
        .map(|(name, text)| {
            let p = rules.join(name);
            std::fs::write(&p, text)?;
            Ok(p)
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let slo_file = dir.join("slos.yml");
    std::fs::write(&slo_file, SLOS)?;
    let alertmanager_file = dir.join("alertmanager.yml");
    std::fs::write(
        &alertmanager_file,
        ALERTMANAGER_CONFIG.replace("SINK", &sink.to_string()),
    )?;
    Ok(DemoFiles {
        rule_files,
        slo_file,
        alertmanager_file,
        ledger_step: Duration::from_secs(60).div_f64(speed),
    })
}

/// Why the demo could not start, or the service it runs stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Serving a synthetic endpoint or the notification sink, or writing the demo's files.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Service(#[from] service::ServiceError),
    /// The shipped rule files, read to write the history's recording rules.
    #[error("demo rule files: {0}")]
    Rules(String),
}

/// Runs the demo until Ctrl-C, then removes its state directory.
pub async fn run(opts: DemoOptions) -> Result<(), DemoError> {
    crate::install_crypto_provider();
    let sink = sink::Sink::new(false);
    let sink_addr = sink.serve().await?;
    let state_dir = std::env::temp_dir().join(format!("redline-demo-{}", std::process::id()));
    let files = write_files(&state_dir.join("config"), sink_addr, opts.speed)?;
    let now_ms = crate::timefmt::now_ms();
    let step_ms = files.ledger_step.as_millis() as i64;
    let plan = history::HistoryPlan::new(now_ms, step_ms, opts.speed);
    let from = plan
        .samples
        .first()
        .map_or(0.0, |t| (t - now_ms) as f64 / 1000.0 * opts.speed - 60.0);
    let cluster = Cluster::with_history(opts.scenario(), from);
    let addrs = serve_cluster(&cluster).await?;
    let yaml = demo_config(&addrs, opts.listen, &files);
    let cfg = Config::from_yaml_str(&yaml, "demo config")?;
    let listen = opts.listen;
    println!("redline demo: a synthetic cluster of 3 nodes, kube-state-metrics and 2 services");
    println!("redline demo: writing its last 30 days (scenario time) into the store ...");
    let store = Arc::new(crate::store::Store::with_options(
        crate::store::StoreOptions {
            retention: cfg.storage.retention,
        },
    ));
    let stats = write_history(&cfg, &addrs, &cluster, &store, &plan, now_ms).await?;
    println!(
        "redline demo: history written: {} samples from {} scrapes, {} from {} rule group evaluations, in {:.1}s",
        stats.samples,
        stats.scrapes,
        stats.rule_samples,
        stats.rule_evaluations,
        stats.duration.as_secs_f64()
    );
    cluster.start_clock();
    let (starts_in, lasts) = opts.real_schedule();
    println!(
        "redline demo: the incident starts in {}s and lasts {}s (speed {}x)",
        starts_in.as_secs_f64(),
        lasts.as_secs_f64(),
        opts.speed
    );
    println!("redline demo: dashboard http://{listen}/");
    println!("redline demo: notifications the owners received: http://{sink_addr}/notifications");
    println!("redline demo: Ctrl-C stops");
    // The shipped playbooks are built in: the demo needs no directory of them. The SLO
    // ledgers are back-filled from the history before the dashboard serves.
    let service_opts = ServiceOptions {
        store: Some(store),
        slo_backfill_first: true,
        ..ServiceOptions::new(listen, state_dir.clone())
    };
    let result = service::run(cfg, service_opts).await;
    // The demo's state is throwaway: it leaves nothing behind in the temporary directory.
    let _ = std::fs::remove_dir_all(&state_dir);
    Ok(result?)
}

/// Writes the cluster's history of `plan` into `store` ([`history::backfill`]), each
/// endpoint with the labels its job's live scrapes give it, then the rule files' recording
/// rules over it.
async fn write_history(
    cfg: &Config,
    addrs: &ClusterAddrs,
    cluster: &Arc<Cluster>,
    store: &Arc<crate::store::Store>,
    plan: &history::HistoryPlan,
    now_ms: i64,
) -> Result<history::HistoryStats, DemoError> {
    let groups = crate::rules::file::load_rule_files(&cfg.rule_files)
        .map_err(|e| DemoError::Rules(e.to_string()))?;
    let mut targets = Vec::new();
    for sc in &cfg.scrape_configs {
        for spec in crate::scrape::manager::static_targets(sc, Default::default()) {
            if let Some(e) = spec
                .labels
                .get("instance")
                .and_then(|i| addrs.endpoint_at(i))
            {
                targets.push((e, spec));
            }
        }
    }
    let engine = crate::promql::Engine::new(crate::promql::EngineOptions {
        default_subquery_step: cfg.global.evaluation_interval,
        ..Default::default()
    });
    let evaluation_interval = cfg.global.evaluation_interval;
    let (store, cluster, plan) = (store.clone(), cluster.clone(), plan.clone());
    tokio::task::spawn_blocking(move || {
        let with = history::HistoryTargets {
            targets,
            groups: &groups,
            evaluation_interval,
        };
        history::backfill(&store, &engine, &cluster, &with, &plan, now_ms)
    })
    .await
    .map_err(|e| DemoError::Io(std::io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--speed 30` plays the whole incident thirty times faster: the default one starts
    /// after 2 real seconds and lasts 30, not 15 real minutes.
    #[test]
    fn speed_plays_the_incident_out_faster_in_real_time() {
        let opts = DemoOptions {
            speed: 30.0,
            ..DemoOptions::new("127.0.0.1:9090".parse().unwrap())
        };
        assert_eq!(
            opts.real_schedule(),
            (Duration::from_secs(2), Duration::from_secs(30))
        );
        let cluster = Cluster::new(opts.scenario());
        // The cluster's scenario clock runs `speed` times faster than real time.
        let at_real = |secs: f64| cluster.scenario().incident(secs * opts.speed);
        assert!(!at_real(1.9));
        assert!(at_real(2.1));
        assert!(at_real(31.9));
        assert!(!at_real(32.1), "the incident is over after 30 real seconds");
        let slow = DemoOptions::new("127.0.0.1:9090".parse().unwrap());
        assert_eq!(
            slow.real_schedule(),
            (Duration::from_secs(60), Duration::from_secs(900))
        );
    }

    #[tokio::test]
    async fn demo_config_is_valid_and_scrapes_every_endpoint() {
        let cluster = Cluster::new(Scenario::default());
        let addrs = serve_cluster(&cluster).await.unwrap();
        let dir = crate::testdir::TempDir::new("demo-test");
        let files = write_files(&dir, "127.0.0.1:1".parse().unwrap(), 60.0).unwrap();
        assert_eq!(files.ledger_step, Duration::from_secs(1));
        let cfg = Config::from_yaml_str(
            &demo_config(&addrs, "127.0.0.1:9090".parse().unwrap(), &files),
            "demo",
        )
        .unwrap_or_else(|e| panic!("demo config does not load: {e}"));
        assert_eq!(cfg.slo.ledger_step, Duration::from_secs(1));
        let am = cfg.alertmanager.as_ref().expect("routing config");
        assert_eq!(am.config.receivers.len(), 3);
        let rules = files.rule_files;
        let jobs: Vec<&str> = cfg
            .scrape_configs
            .iter()
            .map(|s| s.job_name.as_str())
            .collect();
        assert_eq!(
            jobs,
            [
                "node-exporter",
                "kubelet",
                "kube-state-metrics",
                "checkout",
                "catalog",
                "redline"
            ]
        );
        for r in &rules {
            let groups = crate::rules::file::load_rule_file(r)
                .unwrap_or_else(|e| panic!("{}: {e:?}", r.display()));
            assert!(!groups.is_empty(), "{} has no groups", r.display());
        }
        crate::install_crypto_provider();
        let body = reqwest::get(format!("http://{}/metrics/cadvisor", addrs.nodes[0].2))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.contains("container_cpu_usage_seconds_total{container=\"checkout\""));
    }

    #[test]
    fn the_demo_slos_and_routing_config_are_valid() {
        let dir = crate::testdir::TempDir::new("demo-slo");
        let slos = dir.join("slos.yml");
        std::fs::write(&slos, SLOS).unwrap();
        let checked = crate::slo::check_files(&[slos])
            .unwrap_or_else(|e| panic!("demo SLOs are not valid: {e:?}"));
        assert_eq!(checked[0].1, 4);
        let am = crate::config::alertmanager::AlertmanagerConfig::from_yaml_str(
            &ALERTMANAGER_CONFIG.replace("SINK", "127.0.0.1:1"),
            "demo alertmanager.yml",
        )
        .expect("demo routing config is valid");
        let labels =
            crate::store::Labels::from_pairs([("alertname", "X"), ("owner", "team-catalog")]);
        assert_eq!(am.destinations(&labels)[0].receiver, "catalog-oncall");
    }
}
