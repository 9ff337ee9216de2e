//! Differential test: redline's exposition parser against Python's `prometheus_client`.
//!
//! Every `tests/fixtures/*.prom` (real scrapes) and every `tests/data/exposition/*.prom`
//! / `*.om` is parsed by both; the samples must agree one by one: name, labels, value (NaN
//! equals NaN) and timestamp in milliseconds. The Python side is
//! `tests/exposition_differential.py`. Without `prometheus_client` the test fails and says
//! how to install it: it never passes without having compared anything.

use std::path::{Path, PathBuf};
use std::process::Command;

use redline::exposition::{parse, Format, ParseOptions, Sample, SinkError};

#[derive(Debug, Clone, PartialEq)]
struct Flat {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
    timestamp_ms: Option<i64>,
}

impl Flat {
    fn same_as(&self, other: &Flat) -> bool {
        let value_eq = (self.value.is_nan() && other.value.is_nan()) || self.value == other.value;
        self.name == other.name
            && self.labels == other.labels
            && value_eq
            && self.timestamp_ms == other.timestamp_ms
    }
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    files.sort();
    files
}

fn redline_samples(path: &Path, format: Format) -> Vec<Flat> {
    let input = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut out = Vec::new();
    let mut sink = |s: &Sample<'_>| -> Result<(), SinkError> {
        out.push(Flat {
            name: s.name.to_string(),
            labels: s
                .labels
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect(),
            value: s.value,
            timestamp_ms: s.timestamp_ms,
        });
        Ok(())
    };
    parse(&input, format, &ParseOptions::default(), &mut sink)
        .unwrap_or_else(|e| panic!("redline failed on {}: {e}", path.display()));
    out
}

fn python_value(v: &serde_json::Value) -> f64 {
    match v.as_str() {
        Some("NaN") => f64::NAN,
        Some("+Inf") => f64::INFINITY,
        Some("-Inf") => f64::NEG_INFINITY,
        Some(s) => s
            .parse()
            .unwrap_or_else(|e| panic!("python value {s:?}: {e}")),
        None => panic!("python value is not a string: {v}"),
    }
}

fn python_samples(path: &Path, format: Format) -> Vec<Flat> {
    let script = manifest_dir().join("tests/exposition_differential.py");
    let fmt = match format {
        Format::PrometheusText => "text",
        Format::OpenMetrics => "openmetrics",
    };
    let output = Command::new("python3")
        .arg(&script)
        .arg(path)
        .arg(fmt)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}); install Python 3 and `python3 -m pip install prometheus-client`")
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(3) {
        panic!("the Python prometheus_client module is missing: run `python3 -m pip install prometheus-client` ({stderr})");
    }
    assert!(
        output.status.success(),
        "python parser failed on {}: {stderr}",
        path.display()
    );
    String::from_utf8(output.stdout)
        .expect("python output is UTF-8")
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("python output is JSON");
            Flat {
                name: v["name"].as_str().expect("name").to_string(),
                labels: v["labels"]
                    .as_array()
                    .expect("labels")
                    .iter()
                    .map(|pair| {
                        (
                            pair[0].as_str().expect("label name").to_string(),
                            pair[1].as_str().expect("label value").to_string(),
                        )
                    })
                    .collect(),
                value: python_value(&v["value"]),
                timestamp_ms: v["timestamp_ms"].as_i64(),
            }
        })
        .collect()
}

/// Compares sample by sample; returns a report of the first differences, or `None`.
fn diff(path: &Path, ours: &[Flat], theirs: &[Flat]) -> Option<String> {
    let mut report = String::new();
    let mut shown = 0;
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        if !a.same_as(b) {
            report.push_str(&format!(
                "  sample #{i}:\n    redline: {a:?}\n    python:  {b:?}\n"
            ));
            shown += 1;
            if shown == 5 {
                report.push_str("  (further differences not shown)\n");
                break;
            }
        }
    }
    if ours.len() != theirs.len() {
        let n = ours.len().min(theirs.len());
        report.push_str(&format!(
            "  sample counts differ: redline {}, python {}; first extra: {:?}\n",
            ours.len(),
            theirs.len(),
            ours.get(n).or(theirs.get(n))
        ));
    }
    if report.is_empty() {
        None
    } else {
        Some(format!("{}:\n{report}", path.display()))
    }
}

#[test]
fn redline_and_python_prometheus_client_agree_on_every_sample() {
    let fixtures = files_in(&manifest_dir().join("tests/fixtures"), "prom");
    assert!(
        fixtures.len() >= 6,
        "expected the real fixtures in tests/fixtures, found {fixtures:?}"
    );
    let own = manifest_dir().join("tests/data/exposition");
    let mut cases: Vec<(PathBuf, Format)> = fixtures
        .into_iter()
        .chain(files_in(&own, "prom"))
        .map(|p| (p, Format::PrometheusText))
        .collect();
    cases.extend(
        files_in(&own, "om")
            .into_iter()
            .map(|p| (p, Format::OpenMetrics)),
    );

    let mut failures = Vec::new();
    let mut compared = 0;
    for (path, format) in &cases {
        let ours = redline_samples(path, *format);
        let theirs = python_samples(path, *format);
        assert!(
            !theirs.is_empty(),
            "python found no samples in {}",
            path.display()
        );
        compared += ours.len().min(theirs.len());
        if let Some(d) = diff(path, &ours, &theirs) {
            failures.push(d);
        }
    }
    assert!(
        failures.is_empty(),
        "redline and prometheus_client disagree:\n{}",
        failures.join("\n")
    );
    assert!(compared > 12_000, "compared only {compared} samples");
}
