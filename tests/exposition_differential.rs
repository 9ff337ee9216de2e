//! Differential test: redline's exposition parser against Python's `prometheus_client`.
//!
//! Every `tests/fixtures/*.prom` (real scrapes) and every `tests/data/exposition/*.prom`
//! / `*.om` (and the UTF-8 names of `tests/data/exposition/utf8/`) is parsed by both; the samples must agree one by one: name, labels, value (NaN
//! equals NaN) and timestamp in milliseconds; so must each sample's family type, the
//! metadata blocks (HELP, TYPE, UNIT), the exemplars, and the series key the scrape cache
//! keys on (one key always stands for one label set). The Python side is
//! `tests/exposition_differential.py`.
//!
//! Invalid input too: 3000 mutations of the same files (the stream of
//! `src/exposition/tests/robustness.rs`) must be accepted or refused by both alike, with the
//! same sample count; where prometheus_client is knowingly laxer or stricter than
//! Prometheus' Go parser, which redline follows, [`known_difference`] lists the case and its
//! reason, and for the text format asks Go's own text parser (`promtool check metrics`).
//! OpenMetrics' `# EOF` rule is checked on its own.
//!
//! Without `prometheus_client` the test fails and says how to install it: it never passes
//! without having compared anything.

use redline::testdir::TempDir;
use std::path::{Path, PathBuf};
use std::process::Command;

use redline::exposition::{parse, Format, MetricType, ParseOptions, Sample, Sink, SinkError};

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
        Format::Protobuf => unreachable!("the text corpus has no protobuf bodies"),
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
    cases.extend(utf8_cases());

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

/// Everything one parse reports, flattened for comparison.
#[derive(Debug, Default)]
struct Full {
    /// (sample, family type, series key, exemplar as (labels, value, timestamp_ms)).
    samples: Vec<(Flat, String, String, Option<Exemplar>)>,
    /// (family, type, help, unit) of each metadata block.
    meta: Vec<Meta>,
}

type Meta = (String, String, String, String);

type Exemplar = (Vec<(String, String)>, String, Option<i64>);

/// A sample's name and labels.
type Named<'a> = (&'a str, &'a [(String, String)]);

fn value_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v:?}")
    }
}

impl Sink for Full {
    fn metadata(&mut self, family: &str, kind: MetricType, help: Option<&str>, unit: Option<&str>) {
        self.meta.push((
            family.to_string(),
            kind.as_str().to_string(),
            help.unwrap_or_default().to_string(),
            unit.unwrap_or_default().to_string(),
        ));
    }

    fn sample(&mut self, s: &Sample<'_>) -> Result<(), SinkError> {
        let labels = |it: &mut dyn Iterator<Item = (String, String)>| it.collect::<Vec<_>>();
        let flat = Flat {
            name: s.name.to_string(),
            labels: labels(
                &mut s
                    .labels
                    .iter()
                    .map(|l| (l.name.to_string(), l.value.to_string())),
            ),
            value: s.value,
            timestamp_ms: s.timestamp_ms,
        };
        let exemplar = s.exemplar.map(|e| {
            (
                e.labels
                    .iter()
                    .map(|l| (l.name.to_string(), l.value.to_string()))
                    .collect(),
                value_text(e.value),
                e.timestamp_ms,
            )
        });
        self.samples.push((
            flat,
            s.metric_type.as_str().to_string(),
            s.series.to_string(),
            exemplar,
        ));
        Ok(())
    }
}

fn redline_full(path: &Path, format: Format) -> Full {
    let input = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut full = Full::default();
    let opts = ParseOptions {
        keep_exemplars: true,
        ..ParseOptions::default()
    };
    parse(&input, format, &opts, &mut full)
        .unwrap_or_else(|e| panic!("redline failed on {}: {e}", path.display()));
    full
}

fn pairs(v: &serde_json::Value) -> Vec<(String, String)> {
    v.as_array()
        .expect("label pairs")
        .iter()
        .map(|p| {
            (
                p[0].as_str().expect("label name").to_string(),
                p[1].as_str().expect("label value").to_string(),
            )
        })
        .collect()
}

/// `prometheus_client`'s families and samples, in the shape of [`Full`]; its family types
/// are named as Prometheus names them (`untyped` is `unknown`).
fn python_full(path: &Path, format: Format) -> Full {
    let script = manifest_dir().join("tests/exposition_differential.py");
    let fmt = match format {
        Format::PrometheusText => "text",
        Format::OpenMetrics => "openmetrics",
        Format::Protobuf => unreachable!("the text corpus has no protobuf bodies"),
    };
    let output = Command::new("python3")
        .arg(&script)
        .arg("--families")
        .arg(path)
        .arg(fmt)
        .output()
        .expect("python3 runs (see redline_and_python_prometheus_client_agree_on_every_sample)");
    assert!(
        output.status.success(),
        "python parser failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let kind = |v: &serde_json::Value| match v.as_str().expect("type") {
        "untyped" => "unknown".to_string(),
        t => t.to_string(),
    };
    let mut full = Full::default();
    for line in String::from_utf8(output.stdout).expect("UTF-8").lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("python output is JSON");
        if let Some(family) = v["family"].as_str() {
            if v["declared"] != true {
                // prometheus_client makes a family of every sample without metadata;
                // Prometheus reports metadata only for families that declared some.
                continue;
            }
            full.meta.push((
                family.to_string(),
                kind(&v["type"]),
                v["help"].as_str().unwrap_or_default().to_string(),
                v["unit"].as_str().unwrap_or_default().to_string(),
            ));
            continue;
        }
        let flat = Flat {
            name: v["name"].as_str().expect("name").to_string(),
            labels: pairs(&v["labels"]),
            value: python_value(&v["value"]),
            timestamp_ms: v["timestamp_ms"].as_i64(),
        };
        let exemplar = (!v["exemplar"].is_null()).then(|| {
            let e = &v["exemplar"];
            (
                pairs(&e["labels"]),
                value_text(python_value(&e["value"])),
                e["timestamp_ms"].as_i64(),
            )
        });
        full.samples
            .push((flat, kind(&v["type"]), String::new(), exemplar));
    }
    full
}

/// Every case file of the sample differential.
fn all_cases() -> Vec<(PathBuf, Format)> {
    let own = manifest_dir().join("tests/data/exposition");
    let mut cases: Vec<(PathBuf, Format)> =
        files_in(&manifest_dir().join("tests/fixtures"), "prom")
            .into_iter()
            .chain(files_in(&own, "prom"))
            .map(|p| (p, Format::PrometheusText))
            .collect();
    cases.extend(
        files_in(&own, "om")
            .into_iter()
            .map(|p| (p, Format::OpenMetrics)),
    );
    cases.extend(utf8_cases());
    cases
}

/// The UTF-8 names of Prometheus 3.0 (`{"http.server.duration", "service.name"="api"}`),
/// which prometheus_client reads since 0.21. They are compared sample by sample and on
/// types, metadata and keys, but are not seeds of the mutation stream, whose verdicts are
/// tied to the files above.
fn utf8_cases() -> Vec<(PathBuf, Format)> {
    let dir = manifest_dir().join("tests/data/exposition/utf8");
    let mut cases: Vec<(PathBuf, Format)> = files_in(&dir, "prom")
        .into_iter()
        .map(|p| (p, Format::PrometheusText))
        .collect();
    cases.extend(
        files_in(&dir, "om")
            .into_iter()
            .map(|p| (p, Format::OpenMetrics)),
    );
    assert_eq!(cases.len(), 2, "the UTF-8 files in {}", dir.display());
    cases
}

/// Beyond the samples: each sample's family type, the metadata blocks (HELP, TYPE, UNIT),
/// the exemplars, and the series key the scrape cache keys on (`Sample::series`: one key
/// must always mean one label set, or the cache would hand a line another series).
#[test]
fn redline_and_python_prometheus_client_agree_on_types_metadata_exemplars_and_keys() {
    let mut failures = Vec::new();
    let (mut exemplars, mut typed, mut metas) = (0, 0, 0);
    for (path, format) in all_cases() {
        let ours = redline_full(&path, format);
        let theirs = python_full(&path, format);
        let name = path.display().to_string();
        assert_eq!(
            ours.samples.len(),
            theirs.samples.len(),
            "{name}: sample counts"
        );
        let mut keys: std::collections::HashMap<&str, Named> = std::collections::HashMap::new();
        for (i, (a, b)) in ours.samples.iter().zip(&theirs.samples).enumerate() {
            if a.1 != b.1 {
                failures.push(format!(
                    "{name}: sample #{i} {}: type {} vs python {}",
                    a.0.name, a.1, b.1
                ));
            }
            if a.3 != b.3 {
                failures.push(format!(
                    "{name}: sample #{i} {}: exemplar {:?} vs python {:?}",
                    a.0.name, a.3, b.3
                ));
            }
            // The key determines python's name and labels.
            let (key, named) = (a.2.as_str(), (b.0.name.as_str(), b.0.labels.as_slice()));
            if let Some(before) = keys.insert(key, named) {
                let mut x = before.1.to_vec();
                let mut y = named.1.to_vec();
                x.sort();
                y.sort();
                if before.0 != named.0 || x != y {
                    failures.push(format!(
                        "{name}: series key {key:?} stands for {before:?} and {named:?}"
                    ));
                }
            }
            // A UTF-8 name stands quoted inside the braces (`{"a.b",c="d"}`), escaped.
            let quoted = format!(
                "\"{}\"",
                a.0.name
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n")
            );
            let in_braces = key.starts_with('{') && key.contains(&quoted);
            if !(key.starts_with(&a.0.name) || in_braces) {
                failures.push(format!(
                    "{name}: series key {key:?} does not start with {} nor quote it in braces",
                    a.0.name
                ));
            }
            typed += usize::from(a.1 != "unknown");
            exemplars += usize::from(a.3.is_some());
        }
        // prometheus_client strips every line, so a HELP text loses its trailing whitespace;
        // Prometheus' promparse keeps the text up to the newline (checked below).
        let trimmed: Vec<Meta> = ours
            .meta
            .iter()
            .map(|(f, t, h, u)| (f.clone(), t.clone(), h.trim_end().to_string(), u.clone()))
            .collect();
        if name.ends_with("kube-scheduler.prom") {
            let help = ours
                .meta
                .iter()
                .find(|m| m.0 == "authentication_token_cache_active_fetch_count")
                .map(|m| m.2.as_str());
            // The fixture's line: `# HELP authentication_token_cache_active_fetch_count [ALPHA] `.
            assert_eq!(help, Some("[ALPHA] "), "HELP keeps its trailing space");
        }
        if trimmed != theirs.meta {
            let only = |a: &[Meta], b: &[Meta]| {
                a.iter()
                    .filter(|m| !b.contains(m))
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
            };
            failures.push(format!(
                "{name}: metadata differs:\n    redline only: {:?}\n    python only:  {:?}",
                only(&trimmed, &theirs.meta),
                only(&theirs.meta, &trimmed)
            ));
        }
        metas += ours.meta.len();
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(typed > 10_000, "{typed} typed samples");
    assert!(metas > 500, "{metas} metadata blocks");
    // tests/data/exposition/openmetrics.om has 2, openmetrics_families.om 4.
    assert!(exemplars >= 6, "{exemplars} exemplars");
}

/// The mutation stream of `src/exposition/tests/robustness.rs`: the same file.
#[path = "../src/exposition/tests/mutate.rs"]
#[allow(dead_code)]
mod mutate;
use mutate::{mutate, XorShift};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `prometheus_client`'s verdict on each input: `(accepted, samples, error)`.
fn python_verdicts(cases: &[(Vec<u8>, Format)]) -> Vec<(bool, usize, String)> {
    let dir = TempDir::new("exposition-verdicts");
    let batch = dir.join("batch.jsonl");
    let mut text = String::new();
    for (input, format) in cases {
        let fmt = match format {
            Format::PrometheusText => "text",
            Format::OpenMetrics => "openmetrics",
            Format::Protobuf => unreachable!("the text corpus has no protobuf bodies"),
        };
        text.push_str(&serde_json::json!({"format": fmt, "hex": hex(input)}).to_string());
        text.push('\n');
    }
    std::fs::write(&batch, text).expect("write the batch");
    let output = Command::new("python3")
        .arg(manifest_dir().join("tests/exposition_differential.py"))
        .arg("--verdicts")
        .arg(&batch)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            (
                v["ok"].as_bool().expect("ok"),
                v["samples"].as_u64().expect("samples") as usize,
                v["error"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn redline_verdict(input: &[u8], format: Format) -> Result<usize, String> {
    let mut n = 0;
    let mut sink = |_: &Sample<'_>| -> Result<(), SinkError> {
        n += 1;
        Ok(())
    };
    parse(input, format, &ParseOptions::default(), &mut sink)
        .map(|_| n)
        .map_err(|e| e.to_string())
}

#[test]
fn redline_and_prometheus_client_accept_and_reject_the_same_mutated_inputs() {
    let mut seeds: Vec<(Vec<u8>, Format)> = Vec::new();
    for path in files_in(&manifest_dir().join("tests/fixtures"), "prom") {
        let data = std::fs::read(&path).expect("fixture");
        let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
        for start in [0, lines.len() / 3, lines.len() * 2 / 3] {
            let end = (start + 40).min(lines.len());
            seeds.push((lines[start..end].concat(), Format::PrometheusText));
        }
    }
    let own = manifest_dir().join("tests/data/exposition");
    for p in files_in(&own, "prom") {
        seeds.push((std::fs::read(p).expect("own data"), Format::PrometheusText));
    }
    for p in files_in(&own, "om") {
        seeds.push((std::fs::read(p).expect("own data"), Format::OpenMetrics));
    }
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut cases = Vec::new();
    for round in 0..3000 {
        let (seed, format) = &seeds[round % seeds.len()];
        let mut input = seed.clone();
        mutate(&mut rng, &mut input);
        cases.push((input, *format));
    }
    let theirs = python_verdicts(&cases);
    assert_eq!(theirs.len(), cases.len());
    let mut unexplained = Vec::new();
    let mut explained: std::collections::BTreeMap<&str, usize> = Default::default();
    let (mut both_ok, mut both_err) = (0, 0);
    for ((input, format), (py_ok, py_n, py_err)) in cases.iter().zip(&theirs) {
        let ours = redline_verdict(input, *format);
        match (&ours, py_ok) {
            (Ok(n), true) if n == py_n => both_ok += 1,
            (Err(_), false) => both_err += 1,
            _ => match known_difference(input, *format, &ours, *py_ok, py_err) {
                Some(reason) => *explained.entry(reason).or_default() += 1,
                None => unexplained.push(format!(
                    "{format:?} {:?}\n    redline: {ours:?}\n    python:  ok={py_ok} samples={py_n} {py_err}",
                    String::from_utf8_lossy(input)
                )),
            },
        }
    }
    eprintln!("agreed: {both_ok} accepted, {both_err} rejected; known differences: {explained:#?}");
    assert!(
        unexplained.is_empty(),
        "{} inputs judged differently:\n{}",
        unexplained.len(),
        unexplained
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        both_ok > 500 && both_err > 500,
        "{both_ok} accepted, {both_err} rejected"
    );
}

/// Where `prometheus_client` is knowingly laxer or stricter than Prometheus' Go parser
/// (`model/textparse`), which redline follows: the reason, or `None` for a difference none
/// of these explains.
///
/// 1. promparse takes the comma between two labels as optional (`parseLVals`: "Free
///    trailing commas are allowed": after a label value a comma is skipped if present), so
///    `{a="1"b="2"}` is a series; prometheus_client (and client_golang's expfmt) refuse it.
/// 2. Otherwise, for the text format, Go's own text parser is asked: `promtool check
///    metrics` (client_golang's expfmt, the text format's reference parser). When it judges
///    the input as redline does, the difference is prometheus_client's: its text parser
///    takes everything before `{` or a blank as the metric name without checking it
///    against `[a-zA-Z_:][a-zA-Z0-9_:]*`, checks label names loosely, and reads values
///    with Python's `float()` (which takes `1_0`, `inf`, `nan`, `infinity`).
/// 3. `# HELP` or `# TYPE` not followed by a blank is a comment to promparse (promlex.l:
///    "gobble up comments that started with a HELP or TYPE prefix"), also at the end of
///    the input; prometheus_client and expfmt refuse it.
/// 4. For OpenMetrics, prometheus_client checks each family's structure (a stateset's
///    own label, an info's `_info` suffix, histogram buckets, samples of one series kept
///    together, names clashing across families); Prometheus' omparse checks the syntax of
///    each line, not those.
/// 5. prometheus_client parses every histogram `le` and summary `quantile` as a float;
///    Prometheus (`normalizeFloatsInLabelValues`) keeps a value that is not a float as
///    written.
fn known_difference(
    input: &[u8],
    format: Format,
    ours: &Result<usize, String>,
    py_ok: bool,
    py_err: &str,
) -> Option<&'static str> {
    let text = std::str::from_utf8(input).ok()?;
    // promparse's lexer also skips blanks between tokens, so `{a="1" b="2"}` is a series.
    let value_then_name = regex::Regex::new(r#"="(?:[^"\\]|\\.)*"[ \t]*[A-Za-z_]"#).expect("regex");
    if ours.is_ok() && !py_ok && value_then_name.is_match(text) {
        return Some("promparse: the comma between labels is optional");
    }
    let bare_meta = regex::Regex::new(r"(?m)^#[ \t]+(HELP|TYPE)([^ \t]|$)").expect("regex");
    if ours.is_ok() && !py_ok && bare_meta.is_match(text) {
        return Some("promparse: `# HELP`/`# TYPE` without a blank after it is a comment");
    }
    if let Some(v) = py_err
        .strip_prefix("ValueError: could not convert string to float: '")
        .and_then(|r| r.strip_suffix('\''))
    {
        if ours.is_ok()
            && (text.contains(&format!("le=\"{v}\""))
                || text.contains(&format!("quantile=\"{v}\"")))
        {
            return Some("Prometheus keeps an `le`/`quantile` that is not a float as written");
        }
    }
    match format {
        Format::PrometheusText => {
            let go_rejects = promtool_rejects(input);
            match (ours.is_err() == go_rejects, py_ok) {
                (true, true) => {
                    Some("prometheus_client's text parser is laxer than Go's (promtool)")
                }
                (true, false) => {
                    Some("prometheus_client's text parser is stricter than Go's (promtool)")
                }
                _ => None,
            }
        }
        Format::OpenMetrics => {
            const STRUCTURE: [&str; 10] = [
                "Stateset missing label",
                "+Inf bucket missing",
                "Bucket values out of order",
                "_sum/_gsum must be present",
                "Invalid metric grouping",
                "Clashing name",
                "Invalid le",
                "Info",
                "Counter",
                "Histogram",
            ];
            (ours.is_ok() && !py_ok && STRUCTURE.iter().any(|s| py_err.contains(s))).then_some(
                "prometheus_client checks OpenMetrics family structure; omparse does not",
            )
        }
        Format::Protobuf => None,
    }
}

/// Whether client_golang's text parser (`promtool check metrics`) refuses `input` (exit 1
/// with "text format parsing error"; lint findings exit 3 and are not refusals).
fn promtool_rejects(input: &[u8]) -> bool {
    use std::io::Write;
    let mut child = Command::new("/usr/bin/promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian package prometheus; tests/run-all.sh installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.code() == Some(1) && said.contains("parsing error")
}

/// OpenMetrics' end: `exposition = metricset HASH SP eof [ LF ]` (the OpenMetrics 1.0
/// ABNF). redline and prometheus_client both follow it.
#[test]
fn openmetrics_eof_is_required_once_and_last() {
    let body = "# TYPE a gauge\na 1\n";
    let cases: [(String, bool); 6] = [
        (format!("{body}# EOF\n"), true),
        (format!("{body}# EOF"), true),
        (body.to_string(), false),
        (format!("{body}# EOF\na 2\n"), false),
        (format!("{body}# EOF\n\n"), false),
        (format!("{body}# EOF\n# EOF\n"), false),
    ];
    let inputs: Vec<(Vec<u8>, Format)> = cases
        .iter()
        .map(|(text, _)| (text.as_bytes().to_vec(), Format::OpenMetrics))
        .collect();
    let theirs = python_verdicts(&inputs);
    for ((text, accepted), (py_ok, _, py_err)) in cases.iter().zip(&theirs) {
        let ours = redline_verdict(text.as_bytes(), Format::OpenMetrics);
        assert_eq!(ours.is_ok(), *accepted, "redline on {text:?}: {ours:?}");
        assert_eq!(*py_ok, *accepted, "prometheus_client on {text:?}: {py_err}");
    }
}
