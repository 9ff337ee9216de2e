//! Bench data: the real fixtures in `tests/fixtures/` scaled to many "nodes".
//!
//! Each replica is one copy of a kubelet/cAdvisor, kube-state-metrics, kube-scheduler and
//! node_exporter scrape with its own `instance`, and pod and node names suffixed with the
//! replica number, so joins on `(namespace, pod)` stay one-to-one. Every series gets
//! `samples` points `interval_ms` apart ending at `end_ms`: counters (by family type, or by
//! the `_total`/`_count`/`_sum`/`_bucket` suffix when untyped) grow by a per-replica rate,
//! which keeps histogram buckets monotonic; gauges wobble around their scraped value.
#![allow(dead_code)]

use redline::exposition::{parse, Format, MetricType, ParseOptions, Sample, Sink, SinkError};
use redline::store::{Label, Labels, Store, StoreOptions, METRIC_NAME};
use std::io::Write;
use std::time::Duration;

/// Fixture files and the kube-prometheus job name each is scraped as.
pub const FIXTURES: [(&str, &str); 4] = [
    ("kubelet-cadvisor.prom", "kubelet"),
    ("kube-state-metrics.prom", "kube-state-metrics"),
    ("kube-scheduler.prom", "kube-scheduler"),
    ("node_exporter.prom", "node-exporter"),
];

/// One fixture series: labels without the replica changes, its value, whether it counts up.
pub struct BaseSeries {
    pub job: &'static str,
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub counter: bool,
}

struct Collect(Vec<BaseSeries>, &'static str);

impl Sink for Collect {
    fn sample(&mut self, s: &Sample<'_>) -> Result<(), SinkError> {
        let counter = match s.metric_type {
            MetricType::Counter | MetricType::Histogram | MetricType::Summary => {
                !s.labels.iter().any(|l| l.name == "quantile")
            }
            MetricType::Unknown => ["_total", "_count", "_sum", "_bucket"]
                .iter()
                .any(|suf| s.name.ends_with(suf)),
            _ => false,
        };
        self.0.push(BaseSeries {
            job: self.1,
            name: s.name.to_string(),
            labels: s
                .labels
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect(),
            value: if s.value.is_finite() { s.value } else { 0.0 },
            counter,
        });
        Ok(())
    }
}

/// Every sample of the four fixtures.
pub fn base_series() -> Vec<BaseSeries> {
    let mut c = Collect(Vec::new(), "");
    for (f, job) in FIXTURES {
        c.1 = job;
        let path = format!("tests/fixtures/{f}");
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        parse(
            &body,
            Format::PrometheusText,
            &ParseOptions::default(),
            &mut c,
        )
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    c.0
}

/// The label set of `b` in replica `r`.
pub fn replica_labels(b: &BaseSeries, r: usize) -> Labels {
    let mut v: Vec<Label> = Vec::with_capacity(b.labels.len() + 2);
    v.push(Label::new(METRIC_NAME, b.name.as_str()));
    for (n, val) in &b.labels {
        if val.is_empty() {
            continue;
        }
        let val = match n.as_str() {
            "pod" | "node" | "created_by_name" => format!("{val}-{r}"),
            _ => val.clone(),
        };
        v.push(Label::new(n.as_str(), val));
    }
    v.push(Label::new("instance", format!("replica-{r}")));
    v.push(Label::new("job", b.job));
    Labels::from_vec(v)
}

/// The value of `b` in replica `r` at point `k`.
pub fn value_at(b: &BaseSeries, r: usize, k: usize) -> f64 {
    let rate = 0.001 * (1 + r % 7) as f64;
    if b.counter {
        (b.value.abs() + 1.0) * (1.0 + rate * k as f64)
    } else {
        b.value * (1.0 + 0.01 * (((k + r) % 5) as f64 - 2.0))
    }
}

/// A store holding `replicas` copies of the fixtures with `samples` points each.
pub fn scaled_store(
    base: &[BaseSeries],
    replicas: usize,
    samples: usize,
    interval_ms: i64,
    end_ms: i64,
) -> Store {
    let store = Store::with_options(StoreOptions {
        retention: Duration::from_secs(365 * 24 * 3600),
    });
    let start = end_ms - (samples as i64 - 1) * interval_ms;
    let mut refs = Vec::with_capacity(base.len() * replicas);
    let mut app = store.appender();
    for r in 0..replicas {
        for b in base {
            let l = replica_labels(b, r);
            refs.push(app.append(&l, start, value_at(b, r, 0)).expect("append"));
        }
    }
    app.commit();
    for k in 1..samples {
        let t = start + k as i64 * interval_ms;
        let mut app = store.appender();
        let mut i = 0;
        for r in 0..replicas {
            for b in base {
                app.append_ref(refs[i], t, value_at(b, r, k))
                    .expect("append_ref");
                i += 1;
            }
        }
        app.commit();
    }
    store
}

/// The same data as [`scaled_store`] as an OpenMetrics file with timestamps, for loading
/// into another server (`promtool tsdb create-blocks-from openmetrics`) and into redline
/// (`redline debug load`).
pub fn write_openmetrics(
    base: &[BaseSeries],
    replicas: usize,
    samples: usize,
    interval_ms: i64,
    end_ms: i64,
    out: &mut impl Write,
) -> std::io::Result<u64> {
    let start = end_ms - (samples as i64 - 1) * interval_ms;
    // Group by metric name: OpenMetrics wants a family's lines together.
    let mut order: Vec<usize> = (0..base.len()).collect();
    order.sort_by(|a, b| base[*a].name.cmp(&base[*b].name));
    let mut n = 0;
    let mut last_name = "";
    for i in order {
        let b = &base[i];
        if b.name != last_name {
            writeln!(out, "# TYPE {} unknown", b.name)?;
            last_name = &b.name;
        }
        for r in 0..replicas {
            let labels = replica_labels(b, r);
            let mut text = String::new();
            for l in labels.iter().filter(|l| &*l.name != METRIC_NAME) {
                if !text.is_empty() {
                    text.push(',');
                }
                let v = l
                    .value
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                text.push_str(&format!("{}=\"{}\"", l.name, v));
            }
            for k in 0..samples {
                let t = start + k as i64 * interval_ms;
                writeln!(
                    out,
                    "{}{{{}}} {} {}.{:03}",
                    b.name,
                    text,
                    value_at(b, r, k),
                    t.div_euclid(1000),
                    t.rem_euclid(1000)
                )?;
                n += 1;
            }
        }
    }
    writeln!(out, "# EOF")?;
    Ok(n)
}
