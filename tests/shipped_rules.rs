//! The shipped rule files (`rules/*.yml`) against the real scrape fixtures.
//!
//! `promtool check rules` / `promtool test rules` prove the files are valid Prometheus and
//! behave on synthetic series (tests/rules/). This test proves the selectors match what real
//! exporters expose: it ingests the kubelet/cAdvisor, kube-state-metrics, kube-scheduler and
//! node_exporter fixtures as two scrapes 60 s apart (counters grown so `rate()` has data)
//! through the scrape loop's own ingest path ([`ingest_with`] with each job's target labels
//! from a static scrape config: `job` and `instance` added, a scraped `job`/`instance` kept as
//! `exported_*` since `honor_labels` is false), evaluates every rule group in file order
//! through the rule manager's evaluation ([`GroupState::eval`], which appends each recording
//! rule's result and `ALERTS` as Prometheus does), and asserts each recording rule yields
//! series — except the listed ones whose metric no fixture has. It also checks every alert's
//! labels, annotations and playbook.

use redline::config::Config;
use redline::exposition::{parse, Format, MetricType, ParseOptions, Sample, Sink, SinkError};
use redline::promql::{Engine, Value};
use redline::rules::file::load_rule_file;
use redline::rules::group::{EvalContext, GroupState};
use redline::scrape::scrape_loop::{ingest_with, SeriesCache};
use redline::scrape::target::{ScrapeLimits, TargetSpec};
use redline::scrape::target_labels::populate_target;
use redline::store::{Label, Labels, Store};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Fixture files, the job of deploy/base/redline.yaml that scrapes such a target (`None`: no
/// shipped job, Prometheus' defaults) and the `job` label its series get.
const FIXTURES: [(&str, Option<&str>, &str); 4] = [
    ("node_exporter.prom", Some("node-exporter"), "node-exporter"),
    ("kubelet-cadvisor.prom", Some("kubelet-cadvisor"), "kubelet"),
    (
        "kube-state-metrics.prom",
        Some("kube-state-metrics"),
        "kube-state-metrics",
    ),
    ("kube-scheduler.prom", None, "kube-scheduler"),
];

/// Recording rules allowed to be empty on the fixtures, and why. The test fails if one of
/// these starts yielding series, so the list cannot go stale.
const EXEMPT: &[(&str, &str)] = &[
    // node_exporter.prom is a VM whose virtio NIC reports speed -1 (node_network_speed_bytes
    // = -125000), so there is no link speed to divide by.
    (
        "instance_device:node_network_receive_bandwidth:ratio_rate5m",
        "virtio NIC has no link speed",
    ),
    (
        "instance_device:node_network_transmit_bandwidth:ratio_rate5m",
        "virtio NIC has no link speed",
    ),
    // kubelet_volume_stats_* come from the kubelet's own /metrics, which no fixture captures.
    (
        "namespace_persistentvolumeclaim:kubelet_volume_stats_available_bytes:ratio",
        "no kubelet /metrics fixture",
    ),
    (
        "namespace_persistentvolumeclaim:kubelet_volume_stats_available_bytes:predict_linear6h_4d",
        "no kubelet /metrics fixture",
    ),
    // No fixture is an application instrumented with http_requests_total.
    (
        "service:http_requests:rate5m",
        "no http_requests_total fixture",
    ),
    (
        "service:http_request_errors:rate5m",
        "no http_requests_total fixture",
    ),
    (
        "service:http_request_errors:ratio_rate5m",
        "no http_requests_total fixture",
    ),
    (
        "service:http_request_duration_seconds_bucket:rate5m",
        "no http_request_duration_seconds fixture",
    ),
    (
        "service:http_request_duration_seconds:p50_5m",
        "no http_request_duration_seconds fixture",
    ),
    (
        "service:http_request_duration_seconds:p90_5m",
        "no http_request_duration_seconds fixture",
    ),
    (
        "service:http_request_duration_seconds:p99_5m",
        "no http_request_duration_seconds fixture",
    ),
    // No Istio sidecar fixture.
    ("service:istio_requests:rate5m", "no Istio fixture"),
    ("service:istio_request_errors:rate5m", "no Istio fixture"),
    (
        "service:istio_request_errors:ratio_rate5m",
        "no Istio fixture",
    ),
    (
        "service:istio_request_duration_milliseconds_bucket:rate5m",
        "no Istio fixture",
    ),
    (
        "service:istio_request_duration_seconds:p50_5m",
        "no Istio fixture",
    ),
    (
        "service:istio_request_duration_seconds:p90_5m",
        "no Istio fixture",
    ),
    (
        "service:istio_request_duration_seconds:p99_5m",
        "no Istio fixture",
    ),
    // No ingress-nginx controller fixture.
    (
        "ingress:nginx_ingress_controller_requests:rate5m",
        "no ingress-nginx fixture",
    ),
    (
        "ingress:nginx_ingress_controller_request_errors:rate5m",
        "no ingress-nginx fixture",
    ),
    (
        "ingress:nginx_ingress_controller_request_errors:ratio_rate5m",
        "no ingress-nginx fixture",
    ),
    (
        "ingress:nginx_ingress_controller_request_duration_seconds_bucket:rate5m",
        "no ingress-nginx fixture",
    ),
    (
        "ingress:nginx_ingress_controller_request_duration_seconds:p50_5m",
        "no ingress-nginx fixture",
    ),
    (
        "ingress:nginx_ingress_controller_request_duration_seconds:p90_5m",
        "no ingress-nginx fixture",
    ),
    (
        "ingress:nginx_ingress_controller_request_duration_seconds:p99_5m",
        "no ingress-nginx fixture",
    ),
];

fn exempt() -> BTreeMap<&'static str, &'static str> {
    EXEMPT.iter().copied().collect()
}

const T0_MS: i64 = 1_750_000_000_000;
const T1_MS: i64 = T0_MS + 60_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleGroup {
    name: String,
    #[serde(default)]
    interval: Option<String>,
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    alert: Option<String>,
    expr: String,
    #[serde(default, rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The shipped rule files (not rules/slo/), in name order: the order the test evaluates in.
fn rule_files() -> Vec<(PathBuf, RuleFile)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir("rules")
        .expect("rules/ directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no rule files in rules/");
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            let f: RuleFile =
                serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            (p, f)
        })
        .collect()
}

/// The target of one fixture, as the scrape manager builds it: the shipped job's scrape
/// settings (`honor_labels`, `honor_timestamps` — cAdvisor's exposed timestamps are ignored —
/// and `metric_relabel_configs`), or Prometheus' defaults for a static job
/// (`honor_labels: false`: a scraped `job`/`instance` is kept as `exported_*`). The target
/// labels are `job` and `instance`, as relabeling leaves them (the Kubernetes discovery's
/// namespace/pod/service labels are left out: tests/kubernetes_sd.rs covers those).
fn target(shipped_job: Option<&str>, job: &str) -> TargetSpec {
    let address = format!("{job}:9100");
    let yaml = format!(
        "scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: ['{address}']\n"
    );
    let static_cfg = Config::from_yaml_str(&yaml, "shipped_rules.rs")
        .expect("static scrape config")
        .scrape_configs
        .remove(0);
    assert!(!static_cfg.honor_labels && static_cfg.honor_timestamps);
    let cfg = match shipped_job {
        Some(name) => Config::load_file(Path::new("deploy/base/redline.yaml"))
            .expect("deploy/base/redline.yaml loads")
            .scrape_configs
            .into_iter()
            .find(|c| c.job_name == name)
            .unwrap_or_else(|| panic!("no job {name} in deploy/base/redline.yaml")),
        None => static_cfg.clone(),
    };
    // No relabeling: the target labels of a static target, which are the `job` and
    // `instance` every shipped job's relabeling leaves too.
    let t = populate_target(
        &static_cfg,
        &Labels::empty(),
        &Labels::from_vec(vec![Label::new("__address__", address.as_str())]),
    )
    .expect("valid target")
    .expect("not dropped");
    assert_eq!(t.labels.get("job"), Some(job));
    assert_eq!(t.labels.get("instance"), Some(address.as_str()));
    TargetSpec {
        job: cfg.job_name.clone(),
        url: t.url,
        labels: t.labels,
        discovered_labels: t.discovered_labels,
        interval: cfg.scrape_interval,
        timeout: cfg.scrape_timeout,
        honor_labels: cfg.honor_labels,
        honor_timestamps: cfg.honor_timestamps,
        track_timestamps_staleness: cfg.track_timestamps_staleness,
        metric_relabel_configs: Arc::new(cfg.metric_relabel_configs.clone()),
        limits: ScrapeLimits::default(),
        name_validation: cfg.name_validation,
        histograms: Default::default(),
        type_and_unit_labels: false,
        created_timestamp_zero_ingestion: false,
    }
}

/// Whether a sample is counter-like: a value that must grow between the two scrapes.
fn is_counter(s: &Sample<'_>) -> bool {
    match s.metric_type {
        MetricType::Counter | MetricType::Histogram => true,
        MetricType::Summary => !s.labels.iter().any(|l| l.name == "quantile"),
        MetricType::Unknown => ["_total", "_count", "_sum", "_bucket"]
            .iter()
            .any(|suf| s.name.ends_with(suf)),
        _ => false,
    }
}

/// Hands every sample to the scrape's sink, counters grown by 1 % (at least 1) when `grow`,
/// which keeps histogram buckets cumulative.
struct Grown<'s, S: Sink> {
    inner: &'s mut S,
    grow: bool,
}

impl<S: Sink> Sink for Grown<'_, S> {
    fn sample(&mut self, s: &Sample<'_>) -> Result<(), SinkError> {
        if self.grow && is_counter(s) && s.value.is_finite() {
            let mut grown = s.clone();
            grown.value = s.value + (s.value.abs() * 0.01).max(1.0);
            self.inner.sample(&grown)
        } else {
            self.inner.sample(s)
        }
    }
}

/// The fixtures as two scrapes of their targets, at `T0_MS` and `T1_MS`, each through the
/// scrape loop's sink (target labels merged, the series cache, staleness) and committed.
fn fixture_store() -> Store {
    let store = Store::new();
    for (file, shipped_job, job) in FIXTURES {
        let path = format!("tests/fixtures/{file}");
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let spec = target(shipped_job, job);
        let mut cache = SeriesCache::default();
        for (t, grow) in [(T0_MS, false), (T1_MS, true)] {
            let (app, counts) = ingest_with(&store, &mut cache, &spec, t, |sink| {
                parse(
                    &body,
                    Format::PrometheusText,
                    &ParseOptions::default(),
                    &mut Grown { inner: sink, grow },
                )
            })
            .unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(counts.post_relabel > 0, "{path}: nothing ingested");
            app.commit();
        }
    }
    store
}

/// Every rule group of the shipped files, in file order, as the rule manager loads them.
fn rule_groups(files: &[(PathBuf, RuleFile)]) -> Vec<GroupState> {
    files
        .iter()
        .flat_map(|(path, _)| load_rule_file(path).unwrap_or_else(|e| panic!("{path:?}: {e:?}")))
        .map(|g| GroupState::new(Arc::new(g)))
        .collect()
}

/// Evaluates every rule group in file order at `T1_MS` through [`GroupState::eval`] (which
/// appends each recording rule's result for the later rules), and returns the number of
/// series each recording rule produced, with the groups (their alerts).
fn evaluate_rule_groups(
    store: &Store,
    files: &[(PathBuf, RuleFile)],
) -> (Vec<(String, usize)>, Vec<GroupState>) {
    let engine = Engine::default();
    let ctx = EvalContext {
        engine: &engine,
        store,
        external_labels: &Labels::empty(),
        external_url: "https://redline.example",
    };
    let mut groups = rule_groups(files);
    let mut out = Vec::new();
    for g in &mut groups {
        let eval = g.eval(&ctx, T1_MS);
        assert!(
            eval.rule_errors.is_empty(),
            "{}: {:?}",
            g.group().name,
            eval.rule_errors
        );
        for rule in &g.group().rules {
            if rule.is_alerting() {
                continue;
            }
            let record = rule.name().to_string();
            let n = scalar_of(store, &format!("count({{__name__=\"{record}\"}})"))
                .first()
                .map_or(0, |(_, v)| *v as usize);
            out.push((record, n));
        }
    }
    (out, groups)
}

fn scalar_of(store: &Store, expr: &str) -> Vec<(Labels, f64)> {
    match Engine::default().instant_query(store, expr, T1_MS) {
        Ok(r) => match r.value {
            Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
            other => panic!("{expr}: {other:?}"),
        },
        Err(e) => panic!("{expr}: {e}"),
    }
}

#[test]
fn use_and_red_recording_rules_yield_series_on_real_fixtures() {
    let files = rule_files();
    let store = fixture_store();
    let (results, _) = evaluate_rule_groups(&store, &files);
    let exempt = exempt();

    let names: BTreeSet<&str> = results.iter().map(|(r, _)| r.as_str()).collect();
    for r in exempt.keys() {
        assert!(
            names.contains(r),
            "exempted rule {r} is not in any rule file"
        );
    }
    let empty: Vec<&str> = results
        .iter()
        .filter(|(r, n)| *n == 0 && !exempt.contains_key(r.as_str()))
        .map(|(r, _)| r.as_str())
        .collect();
    assert!(
        empty.is_empty(),
        "recording rules with no series on the fixtures: {empty:?}"
    );
    let stale: Vec<&str> = results
        .iter()
        .filter(|(r, n)| *n > 0 && exempt.contains_key(r.as_str()))
        .map(|(r, _)| r.as_str())
        .collect();
    assert!(
        stale.is_empty(),
        "exempted rules that do yield series now (drop them from EXEMPT): {stale:?}"
    );
    // Enough rules are really exercised, not exempted away.
    assert!(results.len() - exempt.len() >= 40, "{results:?}");
}

#[test]
fn recording_rules_compute_the_fixtures_known_values() {
    let files = rule_files();
    let store = fixture_store();
    evaluate_rule_groups(&store, &files);

    // node_exporter.prom is a 2-core host with load1 0.39.
    let cpus = scalar_of(&store, "instance:node_num_cpu:sum");
    assert_eq!(cpus.len(), 1, "{cpus:?}");
    assert_eq!(cpus[0].1, 2.0);
    let load = scalar_of(&store, "instance:node_load1_per_cpu:ratio");
    assert!((load[0].1 - 0.195).abs() < 1e-9, "{load:?}");
    // Utilisations are fractions.
    for rule in [
        "instance:node_cpu_utilisation:rate5m",
        "instance:node_memory_utilisation:ratio",
        "instance_device:node_disk_io_time_seconds:rate5m",
        "instance_mountpoint:node_filesystem_avail_bytes:ratio",
        "namespace_pod_container:container_cpu_cfs_throttled_periods:ratio_rate5m",
    ] {
        for (l, v) in scalar_of(&store, rule) {
            assert!((0.0..=1.0).contains(&v), "{rule} {l:?} = {v}");
        }
    }
    // The filesystem root: 83923623936 of 270553174016 bytes available.
    let fs = scalar_of(
        &store,
        "instance_mountpoint:node_filesystem_avail_bytes:ratio",
    );
    assert_eq!(fs.len(), 1, "{fs:?}");
    assert_eq!(fs[0].0.get("mountpoint"), Some("/"));
    assert!((fs[0].1 - 83_923_623_936.0 / 270_553_174_016.0).abs() < 1e-12);
    // The disk regex keeps vda and drops zram0.
    let disks = scalar_of(&store, "instance_device:node_disk_io_time_seconds:rate5m");
    let devices: Vec<_> = disks.iter().filter_map(|(l, _)| l.get("device")).collect();
    assert_eq!(devices, ["vda"]);

    // kube-state-metrics: one node with 14 allocatable cores and 8216887296 bytes.
    let cpu = scalar_of(&store, "cluster:kube_node_status_allocatable_cpu_cores:sum");
    assert_eq!(cpu[0].1, 14.0);
    let mem = scalar_of(
        &store,
        "cluster:kube_node_status_allocatable_memory_bytes:max",
    );
    assert_eq!(mem[0].1, 8_216_887_296.0);
    // Container-level series only: no pod cgroup (container="") and no pause container.
    let usage = scalar_of(
        &store,
        "namespace_pod_container:container_cpu_usage_seconds_total:sum_rate5m",
    );
    assert!(!usage.is_empty());
    for (l, _) in &usage {
        let c = l.get("container").unwrap_or("");
        assert!(!c.is_empty() && c != "POD", "{l:?}");
    }
    // e2e-statefulset-0/compute-pi-digits requests and limits come from kube-state-metrics.
    let lim = scalar_of(
        &store,
        r#"namespace_pod_container:kube_pod_container_resource_limits_cpu_cores:sum{pod="e2e-statefulset-0"}"#,
    );
    assert_eq!(lim.len(), 1, "{lim:?}");
    assert!((lim[0].1 - 0.08).abs() < 1e-12);

    // kube-scheduler: rest_client RED; the fixture has 200/201/403 only, so errors are 0.
    let ratio = scalar_of(&store, "job:rest_client_request_errors:ratio_rate5m");
    assert_eq!(ratio.len(), 1, "{ratio:?}");
    assert_eq!(ratio[0].0.get("job"), Some("kube-scheduler"));
    assert_eq!(ratio[0].1, 0.0);
    let p99 = scalar_of(&store, "job:rest_client_request_duration_seconds:p99_5m");
    assert!(p99[0].1 > 0.0 && p99[0].1 <= 60.0, "{p99:?}");
}

#[test]
fn alert_expressions_evaluate_on_real_fixtures() {
    let files = rule_files();
    let store = fixture_store();
    let (_, groups) = evaluate_rule_groups(&store, &files);
    // Alerts whose condition holds: pending (those with `for`) or firing.
    let firing: BTreeSet<String> = groups
        .iter()
        .flat_map(|g| g.alerts())
        .map(|(rule, _)| rule)
        .collect();
    // The kube-state-metrics fixture has a pod stuck Pending (e2e-container-pending), so the
    // pod health alert's condition holds on it; the healthy node and filesystem alerts do not.
    assert!(firing.contains("KubePodNotReady"), "{firing:?}");
    for quiet in [
        "KubeNodeNotReady",
        "NodeFilesystemAlmostOutOfSpace",
        "KubeCPUOvercommit",
    ] {
        assert!(!firing.contains(quiet), "{quiet} fires on healthy fixtures");
    }
}

#[test]
fn every_rule_is_well_formed_and_every_alert_routes_to_an_owner_with_a_playbook() {
    let files = rule_files();
    let playbooks = Path::new("rules/playbooks");
    let mut alerts = BTreeSet::new();
    let mut records = BTreeSet::new();
    for (path, file) in &files {
        for group in &file.groups {
            assert!(!group.name.is_empty(), "{path:?}: unnamed group");
            if let Some(i) = &group.interval {
                assert!(
                    ["1m", "30s"].contains(&i.as_str()),
                    "{path:?} {}: {i}",
                    group.name
                );
            }
            for rule in &group.rules {
                assert!(
                    !rule.expr.trim().is_empty(),
                    "{path:?}: empty expr: {rule:?}"
                );
                match (&rule.record, &rule.alert) {
                    (Some(r), None) => {
                        let parts: Vec<&str> = r.split(':').collect();
                        assert!(
                            parts.len() == 3 && parts.iter().all(|p| !p.is_empty()),
                            "{path:?}: {r} is not level:metric:operations"
                        );
                        assert!(records.insert(r.clone()), "{path:?}: {r} recorded twice");
                        assert!(rule.for_.is_none() && rule.annotations.is_empty(), "{r}");
                    }
                    (None, Some(a)) => {
                        alerts.insert(a.clone());
                        check_alert(path, a, rule, playbooks);
                    }
                    _ => panic!("{path:?}: a rule needs exactly one of record/alert: {rule:?}"),
                }
            }
        }
    }
    assert!(alerts.len() >= 30, "{alerts:?}");
    // No playbook without an alert: a renamed alert must take its playbook along. The SLO
    // alerts that `redline slo generate` writes link to the first two; the SLO engine also
    // raises `SLOBudgetExhausted` and `SLOErrorBudgetExhaustion`.
    let slo_playbooks = ["SLOBurnRate", "SLODataAbsent"];
    alerts.insert(redline::slo::engine::BUDGET_EXHAUSTED_ALERT.to_string());
    alerts.insert(redline::slo::forecast::EXHAUSTION_ALERT.to_string());
    let generated = redline::slo::generate(&[
        "rules/slo/checkout.yml".into(),
        "rules/slo/search.yml".into(),
    ])
    .expect("the shipped SLO examples generate");
    for name in slo_playbooks {
        assert!(
            generated.contains(&format!("/playbooks/{name}")),
            "generated SLO rules no longer link to {name}"
        );
    }
    for entry in std::fs::read_dir(playbooks).expect("rules/playbooks") {
        let p = entry.expect("dir entry").path();
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        assert!(
            alerts.contains(stem) || slo_playbooks.contains(&stem),
            "playbook {p:?} has no alert"
        );
    }
}

fn check_alert(path: &Path, name: &str, rule: &Rule, playbooks: &Path) {
    let sev = rule.labels.get("severity").map(String::as_str);
    assert!(
        matches!(sev, Some("critical" | "warning" | "info")),
        "{path:?} {name}: severity {sev:?}"
    );
    let owner = rule
        .labels
        .get("owner")
        .unwrap_or_else(|| panic!("{path:?} {name}: no owner label"));
    const TEAM_NS: &str = "{{ if $labels.team }}{{ $labels.team }}{{ else if $labels.namespace }}{{ $labels.namespace }}{{ else }}platform{{ end }}";
    const TEAM_ONLY: &str = "{{ if $labels.team }}{{ $labels.team }}{{ else }}platform{{ end }}";
    assert!(
        owner == TEAM_NS || owner == TEAM_ONLY,
        "{path:?} {name}: owner {owner:?} is not one of the documented templates"
    );
    // Cluster-wide alerts have no object to name; every other summary and description does.
    const CLUSTER_ALERTS: [&str; 2] = ["KubeCPUOvercommit", "KubeMemoryOvercommit"];
    for key in ["summary", "description"] {
        let text = rule
            .annotations
            .get(key)
            .unwrap_or_else(|| panic!("{path:?} {name}: no {key}"));
        assert!(!text.trim().is_empty(), "{path:?} {name}: empty {key}");
        assert!(
            text.contains("{{ $labels.") || CLUSTER_ALERTS.contains(&name),
            "{path:?} {name}: {key} names no object"
        );
    }
    // A condition alert's value is always 1; every other description shows the value.
    const CONDITION_ALERTS: [&str; 2] = ["KubeNodeNotReady", "KubeNodePressure"];
    let desc = &rule.annotations["description"];
    assert!(
        desc.contains("{{ $value") || CONDITION_ALERTS.contains(&name),
        "{path:?} {name}: description has no value"
    );
    assert_eq!(
        rule.annotations.get("runbook_url").map(String::as_str),
        Some(format!("{{{{ $externalURL }}}}/playbooks/{name}").as_str()),
        "{path:?} {name}: runbook_url"
    );
    let book = playbooks.join(format!("{name}.md"));
    let text = std::fs::read_to_string(&book)
        .unwrap_or_else(|e| panic!("{path:?} {name}: playbook {book:?}: {e}"));
    assert!(text.starts_with(&format!("# {name}")), "{book:?}: title");
    for section in ["## Meaning", "## Impact", "## Diagnosis", "## Mitigation"] {
        assert!(text.contains(section), "{book:?}: no {section}");
    }
    assert!(text.contains("```promql"), "{book:?}: no PromQL to run");
    assert!(
        text.contains("kubectl") || text.contains("ssh"),
        "{book:?}: no command to run"
    );
}
