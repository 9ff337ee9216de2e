//! The synthetic cluster behind `redline demo`: three nodes, their kubelets' cAdvisor
//! endpoints, kube-state-metrics and two application services, each served on its own
//! loopback port in the exposition format (and with the metric names and labels) of the
//! real exporter it imitates.
//!
//! Time in the cluster is *scenario time*: real time multiplied by the speed factor. Counters
//! are integrals of rates that depend on scenario time, advanced every time an endpoint is
//! scraped, so they never decrease and `rate()` over them gives back the simulated rates.
//! A scripted incident ([`Scenario`]) runs from `incident_at` for `incident_for`:
//! - `checkout` (team payments) answers 8% of requests with 5xx instead of 0.2%;
//! - `catalog` (team catalog) gets slow: most requests take 0.3–2.5s instead of < 100ms;
//! - the `catalog-indexer` pod crash-loops (restarts, `CrashLoopBackOff`);
//! - node `demo-node-3` runs out of memory (`MemoryPressure`, 97% used).
//!
//! Afterwards everything recovers, so the alerts resolve.
//!
//! Before scenario time 0 lies the cluster's history ([`Cluster::with_history`]), which
//! `redline demo` back-fills into the store at start ([`super::history`]): traffic and load
//! follow a day/night cycle ([`daily`]) with noise, and one past incident
//! ([`PAST_INCIDENT_AGO`]) answered 5% of checkout's requests with 5xx for
//! [`PAST_INCIDENT_FOR`], spending part of its SLO's error budget.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// When the incident happens, in scenario time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scenario {
    /// Scenario time at which the incident starts.
    pub incident_at: Duration,
    /// How long it lasts, in scenario time.
    pub incident_for: Duration,
    /// Scenario seconds per real second.
    pub speed: f64,
    /// The UTC second of the day at scenario time 0: the day/night cycle follows it.
    pub day_start: f64,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            incident_at: Duration::from_secs(60),
            incident_for: Duration::from_secs(15 * 60),
            speed: 1.0,
            day_start: 0.0,
        }
    }
}

/// How long before scenario time 0 the past incident started: three days and seven hours.
pub const PAST_INCIDENT_AGO: f64 = (3 * 86_400 + 7 * 3_600) as f64;
/// How long the past incident lasted: two and a half hours.
pub const PAST_INCIDENT_FOR: f64 = 2.5 * 3_600.0;

impl Scenario {
    /// Whether the incident is under way at scenario second `t`.
    pub fn incident(&self, t: f64) -> bool {
        let start = self.incident_at.as_secs_f64();
        t >= start && t < start + self.incident_for.as_secs_f64()
    }

    /// Whether the past incident (checkout's 5xx, days ago) is under way at scenario second
    /// `t`.
    pub fn past_incident(&self, t: f64) -> bool {
        (-PAST_INCIDENT_AGO..-PAST_INCIDENT_AGO + PAST_INCIDENT_FOR).contains(&t)
    }

    /// The traffic at scenario second `t` relative to the day's mean: the day/night cycle
    /// ([`daily`]) times a few percent of noise.
    pub fn load(&self, t: f64) -> f64 {
        daily(self.day_start + t) * (1.0 + 0.06 * noise(t, 300.0))
    }
}

/// The day/night cycle at UTC second-of-day `s` (any second; taken modulo a day), relative to
/// the day's mean: busiest at 15:00 (1.6), quietest at 03:00 (0.4).
pub fn daily(s: f64) -> f64 {
    let hour = s.rem_euclid(86_400.0) / 3_600.0;
    1.0 + 0.6 * ((hour - 15.0) / 24.0 * std::f64::consts::TAU).cos()
}

/// Smooth noise in [-1, 1]: a pseudo-random value every `period` seconds, linearly
/// interpolated in between, the same for the same `t`.
fn noise(t: f64, period: f64) -> f64 {
    let at = |k: i64| {
        let h = xxhash_rust::xxh3::xxh3_64(&k.to_le_bytes());
        (h >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let x = t / period;
    let k = x.floor();
    let f = x - k;
    at(k as i64) * (1.0 - f) + at(k as i64 + 1) * f
}

/// One node of the cluster.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: &'static str,
    pub cpus: u32,
    pub memory_bytes: f64,
}

/// One pod (with one container) of the cluster.
#[derive(Clone, Debug)]
pub struct Pod {
    pub namespace: &'static str,
    pub name: &'static str,
    pub container: &'static str,
    pub node: &'static str,
    pub image: &'static str,
    pub cpu_request: f64,
    pub cpu_limit: f64,
    pub memory_limit: f64,
    /// Baseline CPU use in cores.
    pub cpu_use: f64,
    /// Baseline working set in bytes.
    pub memory_use: f64,
}

/// The cluster's fixed inventory.
pub fn nodes() -> Vec<Node> {
    vec![
        Node {
            name: "demo-node-1",
            cpus: 4,
            memory_bytes: 16.0e9,
        },
        Node {
            name: "demo-node-2",
            cpus: 4,
            memory_bytes: 16.0e9,
        },
        Node {
            name: "demo-node-3",
            cpus: 2,
            memory_bytes: 8.0e9,
        },
    ]
}

/// The cluster's pods.
pub fn pods() -> Vec<Pod> {
    let pod = |namespace, name, container, node, image, cpu_use: f64, memory_use: f64| Pod {
        namespace,
        name,
        container,
        node,
        image,
        cpu_request: 0.25,
        cpu_limit: 1.0,
        memory_limit: 1.0e9,
        cpu_use,
        memory_use,
    };
    vec![
        pod(
            "payments",
            "checkout-7d9f8b6c5-x2k4p",
            "checkout",
            "demo-node-1",
            "registry.example/checkout:1.42.0",
            0.18,
            310.0e6,
        ),
        pod(
            "payments",
            "checkout-7d9f8b6c5-q8v7n",
            "checkout",
            "demo-node-2",
            "registry.example/checkout:1.42.0",
            0.16,
            295.0e6,
        ),
        pod(
            "catalog",
            "catalog-5c6b7d8f9-m3j2h",
            "catalog",
            "demo-node-2",
            "registry.example/catalog:3.7.1",
            0.22,
            420.0e6,
        ),
        pod(
            "catalog",
            "catalog-indexer-6f5d4c3b2-t9r8s",
            "indexer",
            "demo-node-3",
            "registry.example/catalog-indexer:3.7.1",
            0.05,
            180.0e6,
        ),
        pod(
            "kube-system",
            "coredns-76f75df574-abcde",
            "coredns",
            "demo-node-1",
            "registry.k8s.io/coredns/coredns:v1.11.1",
            0.02,
            40.0e6,
        ),
    ]
}

/// An application service of the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum App {
    Checkout,
    Catalog,
}

impl App {
    pub fn job(self) -> &'static str {
        match self {
            App::Checkout => "checkout",
            App::Catalog => "catalog",
        }
    }

    pub fn namespace(self) -> &'static str {
        match self {
            App::Checkout => "payments",
            App::Catalog => "catalog",
        }
    }

    /// Share of requests answered with a 5xx outside incidents: a fraction of each SLO's
    /// error budget, so that a month of it leaves budget for incidents.
    fn error_share(self) -> f64 {
        match self {
            App::Checkout => 0.0003,
            App::Catalog => 0.001,
        }
    }

    /// Baseline requests per second (the day's mean).
    fn rps(self) -> f64 {
        match self {
            App::Checkout => 40.0,
            App::Catalog => 120.0,
        }
    }

    fn handlers(self) -> &'static [(&'static str, &'static str, f64)] {
        match self {
            App::Checkout => &[
                ("/api/cart", "GET", 0.55),
                ("/api/checkout", "POST", 0.30),
                ("/api/orders", "GET", 0.15),
            ],
            App::Catalog => &[("/api/products", "GET", 0.7), ("/api/search", "GET", 0.3)],
        }
    }
}

/// Histogram bucket bounds of the applications' `http_request_duration_seconds`.
pub const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 1.0, 2.5, 5.0];

/// Share of requests at or below each bound of [`BUCKETS`] (cumulative), healthy or slow.
fn latency_cdf(slow: bool) -> [f64; 11] {
    if slow {
        [
            0.0, 0.01, 0.02, 0.04, 0.08, 0.15, 0.2, 0.45, 0.8, 0.97, 0.995,
        ]
    } else {
        [
            0.05, 0.2, 0.5, 0.8, 0.95, 0.993, 0.996, 0.9985, 0.9996, 0.99995, 1.0,
        ]
    }
}

/// The simulated cluster: its scenario and the running totals of its counters.
pub struct Cluster {
    scenario: Scenario,
    /// When scenario time 0 was, in real time.
    started: Mutex<Instant>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Scenario time the counters have been advanced to.
    t: f64,
    counters: BTreeMap<String, f64>,
}

/// Scenario seconds per integration step when advancing counters.
const STEP: f64 = 1.0;
/// Scenario seconds per integration step when advancing through history (before scenario
/// time 0): coarser, so that a month of history is quick to compute.
const HISTORY_STEP: f64 = 60.0;

impl Cluster {
    /// A cluster whose scenario clock starts now.
    pub fn new(scenario: Scenario) -> Arc<Cluster> {
        Cluster::with_history(scenario, 0.0)
    }

    /// A cluster whose scenario clock starts now, with history from scenario second
    /// `from` (negative): its counters start there, so the values of
    /// [`Cluster::exposition_at`] at past times, then those of live scrapes, form one
    /// history with no counter reset.
    pub fn with_history(scenario: Scenario, from: f64) -> Arc<Cluster> {
        Arc::new(Cluster {
            scenario,
            started: Mutex::new(Instant::now()),
            state: Mutex::new(State {
                t: from.min(0.0),
                counters: BTreeMap::new(),
            }),
        })
    }

    pub fn scenario(&self) -> Scenario {
        self.scenario
    }

    /// Scenario seconds since start.
    pub fn now(&self) -> f64 {
        let started = *self.started.lock().unwrap_or_else(|e| e.into_inner());
        started.elapsed().as_secs_f64() * self.scenario.speed
    }

    /// Makes now scenario time 0: the live scenario starts when the demo starts serving,
    /// after its history was written.
    pub fn start_clock(&self) {
        *self.started.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Advances every counter to scenario time `t` (no-op for an earlier `t`).
    fn advance(&self, t: f64) -> std::sync::MutexGuard<'_, State> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while st.t < t {
            let step = if st.t < 0.0 { HISTORY_STEP } else { STEP };
            let dt = (t - st.t).min(step);
            let mid = st.t + dt / 2.0;
            for (key, rate) in self.rates(mid) {
                // Rates are per real second: a faster scenario changes when things happen,
                // not how much traffic or CPU time there is. Restarts are scenario events.
                let scale = if key.contains("restarts_total") {
                    1.0
                } else {
                    1.0 / self.scenario.speed
                };
                *st.counters.entry(key).or_insert(0.0) += rate * dt * scale;
            }
            st.t += dt;
        }
        st
    }

    /// Every counter's rate per scenario second at scenario time `t`, keyed by its series.
    fn rates(&self, t: f64) -> Vec<(String, f64)> {
        let incident = self.scenario.incident(t);
        let load = self.scenario.load(t);
        let mut out = Vec::new();
        for app in [App::Checkout, App::Catalog] {
            let rps = app.rps() * load * (1.0 + 0.05 * wave(t, 900.0, 0.0));
            let error_share = if incident && app == App::Checkout {
                0.08
            } else if app == App::Checkout && self.scenario.past_incident(t) {
                0.05
            } else {
                app.error_share()
            };
            let cdf = latency_cdf(incident && app == App::Catalog);
            for &(handler, method, share) in app.handlers() {
                let r = rps * share;
                for (code, part) in [
                    ("200", 1.0 - error_share - 0.01),
                    ("404", 0.01),
                    ("500", error_share * 0.7),
                    ("503", error_share * 0.3),
                ] {
                    out.push((
                        format!(
                            "{}|http_requests_total{{handler=\"{handler}\",method=\"{method}\",code=\"{code}\"}}",
                            app.job()
                        ),
                        r * part,
                    ));
                }
                let labels = format!("handler=\"{handler}\",method=\"{method}\"");
                for (bound, share) in BUCKETS.iter().zip(cdf) {
                    out.push((
                        format!(
                            "{}|http_request_duration_seconds_bucket{{{labels},le=\"{}\"}}",
                            app.job(),
                            fmt_bound(*bound)
                        ),
                        r * share,
                    ));
                }
                out.push((
                    format!(
                        "{}|http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}}",
                        app.job()
                    ),
                    r,
                ));
                out.push((
                    format!(
                        "{}|http_request_duration_seconds_count{{{labels}}}",
                        app.job()
                    ),
                    r,
                ));
                let mean = if incident && app == App::Catalog {
                    0.62
                } else {
                    0.031
                };
                out.push((
                    format!(
                        "{}|http_request_duration_seconds_sum{{{labels}}}",
                        app.job()
                    ),
                    r * mean,
                ));
            }
        }
        for (i, node) in nodes().iter().enumerate() {
            let busy = node_busy(node, i, t, incident, load);
            for cpu in 0..node.cpus {
                for (mode, share) in [
                    ("idle", 1.0 - busy),
                    ("user", busy * 0.7),
                    ("system", busy * 0.25),
                    ("iowait", busy * 0.05),
                ] {
                    out.push((
                        format!(
                            "node|{}|node_cpu_seconds_total{{cpu=\"{cpu}\",mode=\"{mode}\"}}",
                            node.name
                        ),
                        share,
                    ));
                }
            }
            let disk = 0.05 + 0.03 * wave(t, 400.0, i as f64 * 0.2);
            out.push((
                format!(
                    "node|{}|node_disk_io_time_seconds_total{{device=\"nvme0n1\"}}",
                    node.name
                ),
                disk,
            ));
            out.push((
                format!(
                    "node|{}|node_disk_io_time_weighted_seconds_total{{device=\"nvme0n1\"}}",
                    node.name
                ),
                disk * 1.4,
            ));
            let net = 2.0e6 * (1.0 + 0.5 * wave(t, 500.0, i as f64 * 0.4));
            for dir in ["receive", "transmit"] {
                out.push((
                    format!(
                        "node|{}|node_network_{dir}_bytes_total{{device=\"eth0\"}}",
                        node.name
                    ),
                    net,
                ));
                out.push((
                    format!(
                        "node|{}|node_network_{dir}_packets_total{{device=\"eth0\"}}",
                        node.name
                    ),
                    net / 900.0,
                ));
                for what in ["errs", "drop"] {
                    out.push((
                        format!(
                            "node|{}|node_network_{dir}_{what}_total{{device=\"eth0\"}}",
                            node.name
                        ),
                        0.0,
                    ));
                }
            }
            let faults = if incident && node.name == "demo-node-3" {
                900.0
            } else {
                2.0
            };
            out.push((format!("node|{}|node_vmstat_pgmajfault", node.name), faults));
        }
        for p in pods() {
            let crash = incident && p.container == "indexer";
            let cpu = if crash {
                0.01
            } else {
                p.cpu_use * load * (1.0 + 0.1 * wave(t, 240.0, 0.1))
            };
            let key = pod_key(&p);
            out.push((
                format!("cadvisor|{}|container_cpu_usage_seconds_total{key}", p.node),
                cpu,
            ));
            out.push((
                format!("cadvisor|{}|container_cpu_cfs_periods_total{key}", p.node),
                10.0,
            ));
            let throttled = if cpu > p.cpu_limit * 0.8 { 4.0 } else { 0.05 };
            out.push((
                format!(
                    "cadvisor|{}|container_cpu_cfs_throttled_periods_total{key}",
                    p.node
                ),
                throttled,
            ));
            // The indexer restarts about every 2.5 minutes while it crash-loops.
            let restarts = if crash { 1.0 / 150.0 } else { 0.0 };
            out.push((
                format!(
                    "ksm|kube_pod_container_status_restarts_total{{namespace=\"{}\",pod=\"{}\",container=\"{}\",uid=\"{}\"}}",
                    p.namespace,
                    p.name,
                    p.container,
                    uid(p.name)
                ),
                restarts,
            ));
            out.push((
                format!("cadvisor|{}|container_oom_events_total{key}", p.node),
                0.0,
            ));
        }
        out
    }

    /// The exposition of one endpoint of the cluster at scenario time [`Cluster::now`].
    pub fn exposition(&self, endpoint: &Endpoint) -> String {
        self.exposition_at(endpoint, self.now())
    }

    /// The exposition of one endpoint at scenario second `t` (its counters as of the latest
    /// time any endpoint was read at: read the endpoints in time order).
    pub fn exposition_at(&self, endpoint: &Endpoint, t: f64) -> String {
        let st = self.advance(t);
        let incident = self.scenario.incident(t);
        let mut s = String::with_capacity(16 * 1024);
        match endpoint {
            Endpoint::App(app) => write_app(&mut s, &st, *app),
            Endpoint::NodeExporter(node) => {
                write_node(&mut s, &st, node, t, incident, self.scenario.load(t))
            }
            Endpoint::Cadvisor(node) => write_cadvisor(&mut s, &st, node, t, incident),
            Endpoint::KubeStateMetrics => write_ksm(&mut s, &st, incident),
        }
        s
    }
}

/// One scrape endpoint of the cluster.
#[derive(Clone, Debug)]
pub enum Endpoint {
    App(App),
    NodeExporter(&'static str),
    Cadvisor(&'static str),
    KubeStateMetrics,
}

fn wave(t: f64, period: f64, phase: f64) -> f64 {
    (((t / period) + phase) * std::f64::consts::TAU).sin()
}

fn node_busy(node: &Node, i: usize, t: f64, incident: bool, load: f64) -> f64 {
    let base = 0.3 * load + 0.08 * wave(t, 600.0, i as f64 * 0.3);
    if incident && node.name == "demo-node-3" {
        (base + 0.35).min(0.97)
    } else {
        base
    }
}

fn fmt_bound(b: f64) -> String {
    format!("{b}")
}

fn uid(name: &str) -> String {
    let h = xxhash_rust::xxh3::xxh3_64(name.as_bytes());
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xffff,
        (h >> 48) & 0xffff,
        h & 0xffff_ffff_ffff
    )
}

fn pod_key(p: &Pod) -> String {
    format!(
        "{{container=\"{}\",id=\"/kubepods/burstable/pod{}/{}\",image=\"{}\",name=\"k8s_{}_{}_{}\",namespace=\"{}\",pod=\"{}\"}}",
        p.container,
        uid(p.name),
        p.container,
        p.image,
        p.container,
        p.name,
        p.namespace,
        p.namespace,
        p.name
    )
}

/// Writes the counters whose keys start with `prefix` (the prefix stripped), grouped into
/// the families of `help` (`(family, help, type)`), each with `# HELP`/`# TYPE` lines.
/// Series of no listed family are written as counters of their own name.
fn write_counters(s: &mut String, st: &State, prefix: &str, help: &[(&str, &str, &str)]) {
    let mut families: BTreeMap<&str, Vec<(&str, f64)>> = BTreeMap::new();
    for (key, v) in st.counters.range(prefix.to_string()..) {
        let Some(series) = key.strip_prefix(prefix) else {
            break;
        };
        let name = series.split('{').next().unwrap_or(series);
        let family = help
            .iter()
            .map(|(f, _, _)| *f)
            .find(|f| name == *f || (name.starts_with(f) && name[f.len()..].starts_with('_')))
            .unwrap_or(name);
        families.entry(family).or_default().push((series, *v));
    }
    for (family, series) in families {
        match help.iter().find(|(f, _, _)| *f == family) {
            Some((_, h, kind)) => {
                let _ = writeln!(s, "# HELP {family} {h}\n# TYPE {family} {kind}");
            }
            None => {
                let _ = writeln!(s, "# TYPE {family} counter");
            }
        }
        let seconds = family.ends_with("_seconds_total");
        for (series, v) in series {
            if seconds {
                let _ = writeln!(s, "{series} {v:.3}");
            } else {
                let _ = writeln!(s, "{series} {}", v.floor());
            }
        }
    }
}

fn write_app(s: &mut String, st: &State, app: App) {
    write_counters(
        s,
        st,
        &format!("{}|", app.job()),
        &[
            (
                "http_request_duration_seconds",
                "Time spent serving HTTP requests.",
                "histogram",
            ),
            (
                "http_requests_total",
                "HTTP requests served, by handler, method and status code.",
                "counter",
            ),
        ],
    );
    let _ = writeln!(s, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 1.7637e+09");
}

fn write_node(s: &mut String, st: &State, node: &str, t: f64, incident: bool, load: f64) {
    let Some((i, n)) = nodes()
        .into_iter()
        .enumerate()
        .find(|(_, n)| n.name == node)
    else {
        return;
    };
    write_counters(
        s,
        st,
        &format!("node|{node}|"),
        &[
            (
                "node_cpu_seconds_total",
                "Seconds the CPUs spent in each mode.",
                "counter",
            ),
            (
                "node_disk_io_time_seconds_total",
                "Total seconds spent doing I/Os.",
                "counter",
            ),
            (
                "node_disk_io_time_weighted_seconds_total",
                "The weighted # of seconds spent doing I/Os.",
                "counter",
            ),
            (
                "node_vmstat_pgmajfault",
                "/proc/vmstat information field pgmajfault.",
                "untyped",
            ),
        ],
    );
    let busy = node_busy(&n, i, t, incident, load);
    let _ = writeln!(
        s,
        "# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1 {:.2}",
        busy * f64::from(n.cpus) * 1.1
    );
    let _ = writeln!(
        s,
        "# HELP node_load5 5m load average.\n# TYPE node_load5 gauge\nnode_load5 {:.2}",
        busy * f64::from(n.cpus)
    );
    let _ = writeln!(
        s,
        "# HELP node_load15 15m load average.\n# TYPE node_load15 gauge\nnode_load15 {:.2}",
        busy * f64::from(n.cpus) * 0.9
    );
    let used = if incident && node == "demo-node-3" {
        0.97
    } else {
        0.35 + 0.1 * load + 0.05 * wave(t, 900.0, i as f64 * 0.25)
    };
    let _ = writeln!(s, "# HELP node_memory_MemTotal_bytes Memory information field MemTotal_bytes.\n# TYPE node_memory_MemTotal_bytes gauge\nnode_memory_MemTotal_bytes {:e}", n.memory_bytes);
    let _ = writeln!(s, "# HELP node_memory_MemAvailable_bytes Memory information field MemAvailable_bytes.\n# TYPE node_memory_MemAvailable_bytes gauge\nnode_memory_MemAvailable_bytes {:.0}", n.memory_bytes * (1.0 - used));
    let size = 100.0e9;
    let avail = size * (0.62 - 0.02 * i as f64);
    let fs = "device=\"/dev/nvme0n1p1\",fstype=\"ext4\",mountpoint=\"/\"";
    let _ = writeln!(s, "# HELP node_filesystem_size_bytes Filesystem size in bytes.\n# TYPE node_filesystem_size_bytes gauge\nnode_filesystem_size_bytes{{{fs}}} {size:e}");
    let _ = writeln!(s, "# HELP node_filesystem_avail_bytes Filesystem space available to non-root users in bytes.\n# TYPE node_filesystem_avail_bytes gauge\nnode_filesystem_avail_bytes{{{fs}}} {avail:e}");
    let _ = writeln!(s, "# HELP node_filesystem_files Filesystem total file nodes.\n# TYPE node_filesystem_files gauge\nnode_filesystem_files{{{fs}}} 6.5536e+06");
    let _ = writeln!(s, "# HELP node_filesystem_files_free Filesystem total free file nodes.\n# TYPE node_filesystem_files_free gauge\nnode_filesystem_files_free{{{fs}}} 6.1e+06");
    let _ = writeln!(s, "# HELP node_filesystem_readonly Filesystem read-only status.\n# TYPE node_filesystem_readonly gauge\nnode_filesystem_readonly{{{fs}}} 0");
    let _ = writeln!(s, "# HELP node_network_speed_bytes Network device property: speed_bytes\n# TYPE node_network_speed_bytes gauge\nnode_network_speed_bytes{{device=\"eth0\"}} 1.25e+09");
    let _ = writeln!(s, "# HELP node_network_up Value is 1 if operstate is 'up', 0 otherwise.\n# TYPE node_network_up gauge\nnode_network_up{{device=\"eth0\"}} 1");
    let families = [
        ("receive_bytes", "Network device statistic receive_bytes."),
        (
            "receive_packets",
            "Network device statistic receive_packets.",
        ),
        ("receive_errs", "Network device statistic receive_errs."),
        ("receive_drop", "Network device statistic receive_drop."),
        ("transmit_bytes", "Network device statistic transmit_bytes."),
        (
            "transmit_packets",
            "Network device statistic transmit_packets.",
        ),
        ("transmit_errs", "Network device statistic transmit_errs."),
        ("transmit_drop", "Network device statistic transmit_drop."),
    ];
    for (what, help) in families {
        let key = format!("node|{node}|node_network_{what}_total{{device=\"eth0\"}}");
        let v = st.counters.get(&key).copied().unwrap_or(0.0);
        let _ = writeln!(s, "# HELP node_network_{what}_total {help}\n# TYPE node_network_{what}_total counter\nnode_network_{what}_total{{device=\"eth0\"}} {}", v.floor());
    }
}

fn write_cadvisor(s: &mut String, st: &State, node: &str, t: f64, incident: bool) {
    let mut families: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for p in pods().into_iter().filter(|p| p.node == node) {
        let key = pod_key(&p);
        for name in [
            "container_cpu_usage_seconds_total",
            "container_cpu_cfs_periods_total",
            "container_cpu_cfs_throttled_periods_total",
            "container_oom_events_total",
        ] {
            let v = st
                .counters
                .get(&format!("cadvisor|{node}|{name}{key}"))
                .copied()
                .unwrap_or(0.0);
            let v = if name == "container_cpu_usage_seconds_total" {
                format!("{v:.3}")
            } else {
                format!("{}", v.floor())
            };
            families
                .entry(name)
                .or_default()
                .push(format!("{name}{key} {v}"));
        }
        let crash = incident && p.container == "indexer";
        let ws = if crash {
            p.memory_use * 0.3
        } else {
            p.memory_use * (1.0 + 0.08 * wave(t, 700.0, 0.3))
        };
        families
            .entry("container_memory_working_set_bytes")
            .or_default()
            .push(format!("container_memory_working_set_bytes{key} {ws:.0}"));
        families
            .entry("container_spec_memory_limit_bytes")
            .or_default()
            .push(format!(
                "container_spec_memory_limit_bytes{key} {:e}",
                p.memory_limit
            ));
    }
    for (name, lines) in families {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        let _ = writeln!(
            s,
            "# HELP {name} cAdvisor metric {name}.\n# TYPE {name} {kind}"
        );
        for l in lines {
            s.push_str(&l);
            s.push('\n');
        }
    }
}

fn write_ksm(s: &mut String, st: &State, incident: bool) {
    let pods = pods();
    s.push_str(
        "# HELP kube_node_info Information about a cluster node.\n# TYPE kube_node_info gauge\n",
    );
    for n in nodes() {
        let _ = writeln!(s, "kube_node_info{{node=\"{}\",kernel_version=\"6.1.0-27-amd64\",kubelet_version=\"v1.31.2\",os_image=\"Debian GNU/Linux 12 (bookworm)\"}} 1", n.name);
    }
    s.push_str("# HELP kube_node_status_allocatable The allocatable for different resources of a node that are available for scheduling.\n# TYPE kube_node_status_allocatable gauge\n");
    for n in nodes() {
        let _ = writeln!(
            s,
            "kube_node_status_allocatable{{node=\"{}\",resource=\"cpu\",unit=\"core\"}} {}",
            n.name, n.cpus
        );
        let _ = writeln!(
            s,
            "kube_node_status_allocatable{{node=\"{}\",resource=\"memory\",unit=\"byte\"}} {:e}",
            n.name,
            n.memory_bytes * 0.93
        );
    }
    s.push_str("# HELP kube_node_status_condition The condition of a cluster node.\n# TYPE kube_node_status_condition gauge\n");
    for n in nodes() {
        let pressure = incident && n.name == "demo-node-3";
        for (condition, on) in [
            ("Ready", true),
            ("MemoryPressure", pressure),
            ("DiskPressure", false),
            ("PIDPressure", false),
        ] {
            for status in ["true", "false", "unknown"] {
                let v = match status {
                    "true" => on,
                    "false" => !on,
                    _ => false,
                };
                let _ = writeln!(s, "kube_node_status_condition{{node=\"{}\",condition=\"{condition}\",status=\"{status}\"}} {}", n.name, u8::from(v));
            }
        }
    }
    s.push_str("# HELP kube_pod_info Information about pod.\n# TYPE kube_pod_info gauge\n");
    for p in &pods {
        let _ = writeln!(s, "kube_pod_info{{namespace=\"{}\",pod=\"{}\",uid=\"{}\",node=\"{}\",created_by_kind=\"ReplicaSet\"}} 1", p.namespace, p.name, uid(p.name), p.node);
    }
    s.push_str("# HELP kube_pod_status_phase The pods current phase.\n# TYPE kube_pod_status_phase gauge\n");
    for p in &pods {
        for phase in ["Pending", "Running", "Succeeded", "Failed", "Unknown"] {
            let _ = writeln!(s, "kube_pod_status_phase{{namespace=\"{}\",pod=\"{}\",uid=\"{}\",phase=\"{phase}\"}} {}", p.namespace, p.name, uid(p.name), u8::from(phase == "Running"));
        }
    }
    s.push_str("# HELP kube_pod_status_ready Describes whether the pod is ready to serve requests.\n# TYPE kube_pod_status_ready gauge\n");
    for p in &pods {
        let ready = !(incident && p.container == "indexer");
        for (condition, v) in [("true", ready), ("false", !ready), ("unknown", false)] {
            let _ = writeln!(s, "kube_pod_status_ready{{namespace=\"{}\",pod=\"{}\",uid=\"{}\",condition=\"{condition}\"}} {}", p.namespace, p.name, uid(p.name), u8::from(v));
        }
    }
    s.push_str("# HELP kube_pod_container_resource_requests The number of requested request resource by a container.\n# TYPE kube_pod_container_resource_requests gauge\n");
    for p in &pods {
        let _ = writeln!(s, "kube_pod_container_resource_requests{{namespace=\"{}\",pod=\"{}\",uid=\"{}\",container=\"{}\",node=\"{}\",resource=\"cpu\",unit=\"core\"}} {}", p.namespace, p.name, uid(p.name), p.container, p.node, p.cpu_request);
        let _ = writeln!(s, "kube_pod_container_resource_requests{{namespace=\"{}\",pod=\"{}\",uid=\"{}\",container=\"{}\",node=\"{}\",resource=\"memory\",unit=\"byte\"}} {:e}", p.namespace, p.name, uid(p.name), p.container, p.node, p.memory_limit / 2.0);
    }
    s.push_str("# HELP kube_pod_container_resource_limits The number of requested limit resource by a container.\n# TYPE kube_pod_container_resource_limits gauge\n");
    for p in &pods {
        let _ = writeln!(s, "kube_pod_container_resource_limits{{namespace=\"{}\",pod=\"{}\",uid=\"{}\",container=\"{}\",node=\"{}\",resource=\"cpu\",unit=\"core\"}} {}", p.namespace, p.name, uid(p.name), p.container, p.node, p.cpu_limit);
        let _ = writeln!(s, "kube_pod_container_resource_limits{{namespace=\"{}\",pod=\"{}\",uid=\"{}\",container=\"{}\",node=\"{}\",resource=\"memory\",unit=\"byte\"}} {:e}", p.namespace, p.name, uid(p.name), p.container, p.node, p.memory_limit);
    }
    s.push_str("# HELP kube_pod_container_status_restarts_total The number of container restarts per container.\n# TYPE kube_pod_container_status_restarts_total counter\n");
    for p in &pods {
        let key = format!(
            "kube_pod_container_status_restarts_total{{namespace=\"{}\",pod=\"{}\",container=\"{}\",uid=\"{}\"}}",
            p.namespace,
            p.name,
            p.container,
            uid(p.name)
        );
        let v = st
            .counters
            .get(&format!("ksm|{key}"))
            .copied()
            .unwrap_or(0.0);
        let _ = writeln!(s, "{key} {}", v.floor());
    }
    s.push_str("# HELP kube_pod_container_status_waiting_reason Describes the reason the container is currently in waiting state.\n# TYPE kube_pod_container_status_waiting_reason gauge\n");
    for p in pods.iter().filter(|p| incident && p.container == "indexer") {
        let _ = writeln!(s, "kube_pod_container_status_waiting_reason{{namespace=\"{}\",pod=\"{}\",uid=\"{}\",container=\"{}\",reason=\"CrashLoopBackOff\"}} 1", p.namespace, p.name, uid(p.name), p.container);
    }
    s.push_str("# HELP kube_deployment_spec_replicas Number of desired pods for a deployment.\n# TYPE kube_deployment_spec_replicas gauge\n");
    for (ns, d, n) in [
        ("payments", "checkout", 2),
        ("catalog", "catalog", 1),
        ("catalog", "catalog-indexer", 1),
        ("kube-system", "coredns", 1),
    ] {
        let _ = writeln!(
            s,
            "kube_deployment_spec_replicas{{namespace=\"{ns}\",deployment=\"{d}\"}} {n}"
        );
    }
    s.push_str("# HELP kube_deployment_status_replicas_available The number of available replicas per deployment.\n# TYPE kube_deployment_status_replicas_available gauge\n");
    for (ns, d, n) in [
        ("payments", "checkout", 2),
        ("catalog", "catalog", 1),
        ("catalog", "catalog-indexer", 1),
        ("kube-system", "coredns", 1),
    ] {
        let available = if incident && d == "catalog-indexer" {
            0
        } else {
            n
        };
        let _ = writeln!(s, "kube_deployment_status_replicas_available{{namespace=\"{ns}\",deployment=\"{d}\"}} {available}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{parse, Format, ParseOptions, Sample, SinkError};

    fn samples(text: &str) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        let mut sink = |s: &Sample<'_>| -> Result<(), SinkError> {
            out.push((s.series.to_string(), s.value));
            Ok(())
        };
        parse(
            text.as_bytes(),
            Format::PrometheusText,
            &ParseOptions::default(),
            &mut sink,
        )
        .unwrap_or_else(|e| panic!("exposition does not parse: {e}\n{text}"));
        out
    }

    fn endpoints() -> Vec<Endpoint> {
        let mut e = vec![
            Endpoint::App(App::Checkout),
            Endpoint::App(App::Catalog),
            Endpoint::KubeStateMetrics,
        ];
        for n in nodes() {
            e.push(Endpoint::NodeExporter(n.name));
            e.push(Endpoint::Cadvisor(n.name));
        }
        e
    }

    #[test]
    fn every_endpoint_serves_valid_exposition() {
        let c = Cluster::new(Scenario::default());
        for e in endpoints() {
            let text = c.exposition(&e);
            assert!(
                samples(&text).len() > 5,
                "{e:?} serves too few samples:\n{text}"
            );
        }
    }

    #[test]
    fn counters_never_decrease_and_follow_their_rates() {
        // At 09:00 the day/night cycle is at the day's mean.
        let c = Cluster::new(Scenario {
            day_start: 9.0 * 3600.0,
            ..Scenario::default()
        });
        let mut st = c.advance(100.0);
        let before = st.counters.clone();
        drop(st);
        st = c.advance(400.0);
        for (k, v) in &before {
            assert!(st.counters[k] >= *v, "{k} decreased");
        }
        let key = "checkout|http_requests_total{handler=\"/api/cart\",method=\"GET\",code=\"200\"}";
        let per_sec = (st.counters[key] - before[key]) / 300.0;
        // 40 rps * 0.55 * ~0.99 with a ±5% slow wave, ±6% noise and the day's cycle (the
        // mean at 09:00, a few percent more 5 minutes later).
        assert!((18.0..27.0).contains(&per_sec), "rate {per_sec}");
    }

    #[test]
    fn the_incident_raises_errors_latency_restarts_and_memory_pressure() {
        let scenario = Scenario {
            incident_at: Duration::from_secs(100),
            incident_for: Duration::from_secs(600),
            speed: 1.0,
            day_start: 0.0,
        };
        let c = Cluster::new(scenario);
        let error_ratio = |st: &State| {
            let sum = |code: &str| -> f64 {
                st.counters
                    .iter()
                    .filter(|(k, _)| {
                        k.starts_with("checkout|http_requests_total") && k.contains(code)
                    })
                    .map(|(_, v)| v)
                    .sum()
            };
            let all: f64 = st
                .counters
                .iter()
                .filter(|(k, _)| k.starts_with("checkout|http_requests_total"))
                .map(|(_, v)| v)
                .sum();
            (sum("code=\"500\"") + sum("code=\"503\""), all)
        };
        let (e0, t0) = error_ratio(&c.advance(100.0));
        let (e1, t1) = error_ratio(&c.advance(600.0));
        let ratio = (e1 - e0) / (t1 - t0);
        assert!(
            (0.07..0.09).contains(&ratio),
            "incident error ratio {ratio}"
        );
        assert!(scenario.incident(300.0) && !scenario.incident(800.0));
        let restarts = c
            .advance(600.0)
            .counters
            .iter()
            .filter(|(k, _)| k.contains("restarts_total") && k.contains("indexer"))
            .map(|(_, v)| *v)
            .sum::<f64>();
        assert!(restarts >= 3.0, "indexer restarted {restarts} times");
    }

    #[test]
    fn memory_pressure_shows_on_node_3_only_during_the_incident() {
        let at = |incident_at: u64| {
            let c = Cluster::new(Scenario {
                incident_at: Duration::from_secs(incident_at),
                incident_for: Duration::from_secs(3600),
                speed: 1.0,
                day_start: 0.0,
            });
            samples(&c.exposition(&Endpoint::KubeStateMetrics))
        };
        let pressure = |s: &[(String, f64)]| {
            s.iter()
                .find(|(k, _)| {
                    k.contains("MemoryPressure")
                        && k.contains("demo-node-3")
                        && k.contains("status=\"true\"")
                })
                .map(|(_, v)| *v)
        };
        assert_eq!(pressure(&at(0)), Some(1.0));
        assert_eq!(pressure(&at(3600)), Some(0.0));
    }
}
