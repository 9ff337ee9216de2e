//! `promtool test rules` files, run unchanged (`redline test rules FILE...`).
//!
//! A test file names `rule_files` (relative to the test file), an `evaluation_interval`
//! (default 1m), an optional `group_eval_order` and `tests`. Each test group loads its
//! `input_series` (expanding notation: `1+2x3`, `5-1x2`, `1x3`, `_`, `_x3`, `stale`, and
//! native histograms in promqltest's notation, `{{schema:0 sum:5 count:4 buckets:[1 2 1]}}`,
//! `{{…}}x3`, `{{…}}+{{…}}x3`, read by [`crate::promql::series_notation`]) at its
//! `interval`, evaluates every rule group at every evaluation interval from 0 up to the latest
//! `eval_time` (in `group_eval_order`, else file order), compares the firing alerts at each
//! `alert_rule_test`'s time (as sets of labels and annotations) and finally runs the
//! `promql_expr_test` queries, exactly as promtool 3.x (`cmd/promtool/unittest.go`) does.
//! Failures are printed in promtool's words; the output ends with `N passed, N failed` where
//! each test group is one test. An expected sample may be a native histogram (`histogram:
//! '{{…}}'`); as promtool does, it is compared by its series notation
//! ([`test_expression`], upstream's `TestExpression`), so the counter reset hint counts when
//! either side has one, and its `value` must equal the histogram sample's float value, 0.
//! promtool's flags are [`TestRunOptions`]: `--run` picks test groups by name,
//! `--ignore-unknown-fields` lets rule files carry extra fields, and [`junit`] writes the
//! `--junit` report. As in promtool, each test group loads the rule files (a file without test
//! groups never does) and test files may use YAML merge keys.

use super::file::{expand_rule_patterns, load_rule_file_with, RuleGroup};
use super::group::{EvalContext, GroupState};
use crate::gostrconv::{format_e, quote as go_quote};
use crate::promql::series_notation::test_expression;
use crate::promql::{Engine, EngineOptions, Value};
use crate::store::{Labels, Store, STALE_NAN};
use crate::timefmt::{format_duration, go_duration, parse_duration};
use serde::Deserialize;
use series::{expand_series_values, expected_histogram, parse_metric, Seq};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub mod junit;
mod series;

use junit::JUnitReport;

/// Counts of one run: each test group is one test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
}

/// Why a run could not write its report. Problems with the test files themselves are test
/// failures, printed and counted, not errors.
#[derive(Debug, thiserror::Error)]
pub enum TestRunError {
    #[error("writing output")]
    Output(#[from] std::io::Error),
    /// A `--run` expression that is not a regular expression.
    #[error("--run: {0}")]
    Run(#[from] regex::Error),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    evaluation_interval: Option<String>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<RawTestGroup>,
    #[serde(default)]
    fuzzy_compare: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTestGroup {
    interval: Option<String>,
    #[serde(default)]
    input_series: Vec<RawSeries>,
    #[serde(default)]
    alert_rule_test: Vec<RawAlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<RawExprTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    #[serde(default)]
    name: String,
    /// The test's time zero (promtool 3): Unix seconds or RFC 3339; the epoch when absent.
    start_timestamp: Option<serde_yaml_ng::Value>,
}

impl RawTestGroup {
    /// `start_timestamp` in ms: samples are laid out and `eval_time`s counted from it.
    fn start_ms(&self) -> Result<i64, String> {
        let text = match &self.start_timestamp {
            None => return Ok(0),
            Some(serde_yaml_ng::Value::String(s)) => s.clone(),
            Some(serde_yaml_ng::Value::Number(n)) => n.to_string(),
            Some(other) => {
                return Err(format!(
                    "start_timestamp: expected Unix seconds or an RFC 3339 time, got {other:?}"
                ))
            }
        };
        crate::timefmt::parse_unix_or_rfc3339(&text)
            .ok_or_else(|| format!("cannot parse {text:?} to a valid timestamp"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeries {
    series: String,
    values: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlertTest {
    eval_time: Option<String>,
    #[serde(default)]
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<RawExpAlert>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExprTest {
    expr: String,
    eval_time: Option<String>,
    #[serde(default)]
    exp_samples: Vec<RawExpSample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpSample {
    #[serde(default)]
    labels: String,
    #[serde(default)]
    value: f64,
    histogram: Option<String>,
}

/// Prometheus feature flags a run of test files evaluates with (promtool's
/// `--enable-feature`); all off by default, as in promtool.
pub use crate::features::Features;

/// How a run of test files goes: promtool's `test rules` flags.
#[derive(Clone, Debug, Default)]
pub struct TestRunOptions {
    /// `--enable-feature`.
    pub features: Features,
    /// `--run`: only the test groups whose name matches one of these regular expressions (an
    /// unnamed group's name is empty); all groups when empty.
    pub run: Vec<String>,
    /// `--ignore-unknown-fields`: rule files may carry fields Prometheus does not know
    /// (the test files themselves stay strict, as in promtool).
    pub ignore_unknown_fields: bool,
}

/// Runs every file, writes each file's report and the closing `N passed, N failed` line.
pub fn run_test_files(paths: &[PathBuf], out: &mut impl Write) -> Result<Summary, TestRunError> {
    run_test_files_with(paths, Features::default(), out)
}

/// [`run_test_files`] with feature flags.
pub fn run_test_files_with(
    paths: &[PathBuf],
    features: Features,
    out: &mut impl Write,
) -> Result<Summary, TestRunError> {
    let opts = TestRunOptions {
        features,
        ..TestRunOptions::default()
    };
    run_test_files_opts(paths, &opts, out, None)
}

/// [`run_test_files`] with promtool's flags; with `junit`, also writes the `--junit` XML
/// report there.
pub fn run_test_files_opts(
    paths: &[PathBuf],
    opts: &TestRunOptions,
    out: &mut impl Write,
    junit: Option<&mut dyn Write>,
) -> Result<Summary, TestRunError> {
    let run = if opts.run.is_empty() {
        None
    } else {
        Some(regex::Regex::new(&opts.run.join("|"))?)
    };
    let mut report = JUnitReport::default();
    let mut total = Summary::default();
    for p in paths {
        let suite = report.suite(&p.display().to_string());
        let s = run_test_file_opts(p, opts, run.as_ref(), suite, out)?;
        total.passed += s.passed;
        total.failed += s.failed;
    }
    writeln!(out, "{} passed, {} failed", total.passed, total.failed)?;
    if let Some(w) = junit {
        report.write_xml(w)?;
    }
    Ok(total)
}

/// Runs one file and writes promtool's report for it (`Unit Testing:  FILE`, then `  SUCCESS`
/// or `  FAILED:` and the failures). A file that cannot be read or loaded counts as one
/// failed test.
pub fn run_test_file(path: &Path, out: &mut impl Write) -> Result<Summary, TestRunError> {
    run_test_file_with(path, Features::default(), out)
}

/// [`run_test_file`] with feature flags.
pub fn run_test_file_with(
    path: &Path,
    features: Features,
    out: &mut impl Write,
) -> Result<Summary, TestRunError> {
    let opts = TestRunOptions {
        features,
        ..TestRunOptions::default()
    };
    let mut report = JUnitReport::default();
    let suite = report.suite(&path.display().to_string());
    run_test_file_opts(path, &opts, None, suite, out)
}

fn run_test_file_opts(
    path: &Path,
    opts: &TestRunOptions,
    run: Option<&regex::Regex>,
    suite: &mut junit::TestSuite,
    out: &mut impl Write,
) -> Result<Summary, TestRunError> {
    writeln!(out, "Unit Testing:  {}", path.display())?;
    let mut summary = Summary::default();
    let errs = match prepare(path, opts) {
        Err(e) => {
            summary.failed = 1;
            suite.abort(&e);
            vec![e]
        }
        Ok(file) => {
            suite.set_time(crate::timefmt::now_ms().div_euclid(1000));
            for w in &file.warnings {
                writeln!(out, "{w}")?;
            }
            let mut errs = Vec::new();
            for (i, tg) in file.raw.tests.iter().enumerate() {
                if run.is_some_and(|re| !re.is_match(&tg.name)) {
                    continue;
                }
                if tg.name.is_empty() {
                    suite.case(&format!("unnamed#{i}"));
                } else {
                    suite.case(&tg.name);
                }
                let e = run_group(&file, tg);
                if e.is_empty() {
                    summary.passed += 1;
                } else {
                    summary.failed += 1;
                    for msg in &e {
                        suite.fail(msg);
                    }
                    errs.extend(e);
                }
            }
            errs
        }
    };
    if errs.is_empty() {
        writeln!(out, "  SUCCESS")?;
    } else {
        writeln!(out, "  FAILED:")?;
        for e in &errs {
            writeln!(out, "{e}")?;
            writeln!(out)?;
        }
    }
    writeln!(out)?;
    Ok(summary)
}

struct TestFile {
    features: Features,
    raw: RawTestFile,
    warnings: Vec<String>,
    eval_interval: Duration,
    /// The rule groups, or why they could not be loaded: as in promtool, each test group
    /// loads them, so a file whose rules do not load fails every test group it runs (and
    /// none when it has none).
    groups: Result<Vec<RuleGroup>, String>,
    order: BTreeMap<String, usize>,
}

/// Decodes a test file as promtool does (`yaml.UnmarshalStrict`: unknown fields are errors,
/// merge keys `<<` are applied, an empty document has no tests).
fn decode_test_file(text: &str) -> Result<RawTestFile, String> {
    let direct = match serde_yaml_ng::from_str::<Option<RawTestFile>>(text) {
        Ok(raw) => return Ok(raw.unwrap_or_default()),
        Err(e) => e.to_string(),
    };
    // A document with merge keys decodes once they are applied. It is written back to text
    // so that scalars keep decoding as they do from the file (`values: 1` is the string "1").
    let mut value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|_| direct.clone())?;
    let before = value.clone();
    value.apply_merge().map_err(|e| e.to_string())?;
    if value == before {
        return Err(direct);
    }
    let merged = serde_yaml_ng::to_string(&value).map_err(|e| e.to_string())?;
    serde_yaml_ng::from_str::<Option<RawTestFile>>(&merged)
        .map(Option::unwrap_or_default)
        .map_err(|e| e.to_string())
}

/// Go's `filepath.Join(dir, name)` for a relative `name`: the lexically cleaned path, as
/// promtool names rule files in its warnings.
fn join_clean(dir: &Path, name: &str) -> PathBuf {
    use std::path::Component;
    let joined = dir.join(name);
    let mut parts: Vec<Component> = Vec::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return PathBuf::from(".");
    }
    parts.iter().collect()
}

fn prepare(path: &Path, opts: &TestRunOptions) -> Result<TestFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let raw = decode_test_file(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let eval_interval = match &raw.evaluation_interval {
        None => Duration::from_secs(60),
        Some(s) => parse_duration(s).map_err(|e| format!("evaluation_interval: {e}"))?,
    };
    let eval_interval = if eval_interval.is_zero() {
        Duration::from_secs(60)
    } else {
        eval_interval
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    for f in raw.rule_files.iter().filter(|f| !f.is_empty()) {
        let pattern = join_clean(base, f);
        let found =
            expand_rule_patterns(std::slice::from_ref(&pattern)).map_err(|e| e.to_string())?;
        if found.is_empty() {
            warnings.push(format!(
                "  WARNING: no file match pattern {}",
                pattern.display()
            ));
        }
        files.extend(found);
    }
    let mut order = BTreeMap::new();
    for (i, g) in raw.group_eval_order.iter().enumerate() {
        if order.insert(g.clone(), i).is_some() {
            return Err(format!("group name repeated in evaluation order: {g}"));
        }
    }
    let groups = load_groups(&files, opts.ignore_unknown_fields);
    Ok(TestFile {
        features: opts.features,
        raw,
        warnings,
        eval_interval,
        groups,
        order,
    })
}

fn load_groups(files: &[PathBuf], ignore_unknown_fields: bool) -> Result<Vec<RuleGroup>, String> {
    let mut groups = Vec::new();
    for f in files {
        match load_rule_file_with(f, ignore_unknown_fields) {
            Ok(g) => groups.extend(g),
            Err(errs) => {
                let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
                return Err(msgs.join("\n"));
            }
        }
    }
    Ok(groups)
}

fn dur(s: &Option<String>) -> Result<i64, String> {
    match s {
        None => Ok(0),
        Some(s) => parse_duration(s)
            .map(|d| d.as_millis() as i64)
            .map_err(|e| e.to_string()),
    }
}

fn model_duration(ms: i64) -> String {
    format_duration(Duration::from_millis(ms.max(0) as u64))
}

/// Go's `labels.Labels.String()`: `{a="1", b="2"}` including `__name__`.
fn labels_string(l: &Labels) -> String {
    let parts: Vec<String> = l
        .iter()
        .map(|l| format!("{}={}", l.name, go_quote(&l.value)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// One sample of a `promql_expr_test`, expected or got: its labels, float value, and the
/// series notation of its histogram (empty for a float sample), as promtool compares them.
struct ExprSample {
    labels: Labels,
    value: f64,
    histogram: String,
}

impl ExprSample {
    /// promtool's `parsedSample.String()`.
    fn show(&self) -> String {
        if self.histogram.is_empty() {
            format!(
                "{} {}",
                labels_string(&self.labels),
                format_e(self.value, None, true)
            )
        } else {
            format!("{} {}", labels_string(&self.labels), self.histogram)
        }
    }
}

/// The instant query of a `promql_expr_test` (promtool's `query`): a vector, or a scalar as
/// one sample without labels.
fn expr_query(
    engine: &Engine,
    store: &Store,
    expr: &str,
    t_ms: i64,
) -> Result<Vec<ExprSample>, super::querier::RuleQueryError> {
    use super::querier::RuleQueryError;
    let ast = Engine::parse(expr).map_err(RuleQueryError::from)?;
    let res = engine
        .instant_query_expr(store, &ast, t_ms)
        .map_err(RuleQueryError::from)?;
    match res.value {
        Value::Vector(v) => Ok(v
            .into_iter()
            .map(|s| ExprSample {
                labels: s.labels,
                value: if s.h.is_some() { 0.0 } else { s.v },
                histogram: s.h.map(|h| test_expression(&h)).unwrap_or_default(),
            })
            .collect()),
        Value::Scalar { v, .. } => Ok(vec![ExprSample {
            labels: Labels::empty(),
            value: v,
            histogram: String::new(),
        }]),
        _ => Err(RuleQueryError::NotVectorOrScalar),
    }
}

struct ExpAlert {
    labels: Labels,
    annotations: Labels,
}

fn alerts_string(v: &[ExpAlert]) -> String {
    if v.is_empty() {
        return "[]".into();
    }
    let mut s = String::from("[");
    for (i, a) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "\n{i}:\n  Labels:{}\n  Annotations:{}",
            labels_string(&a.labels),
            labels_string(&a.annotations)
        ));
    }
    s.push_str("\n]");
    s
}

fn indent_lines(s: &str, indent: &str) -> String {
    s.split('\n')
        .collect::<Vec<_>>()
        .join(&format!("\n{indent}"))
}

fn sort_alerts(v: &mut [ExpAlert]) {
    v.sort_by(|a, b| {
        a.labels
            .cmp(&b.labels)
            .then_with(|| a.annotations.cmp(&b.annotations))
    });
}

/// Sample values compare as promtool 3 compares them: with `==` (so NaN never equals NaN, and
/// a test cannot expect NaN), and with `fuzzy_compare: true` also equal when one is the next
/// float above or below the other (Go's `math.Nextafter`: one unit in the last place).
fn floats_equal(a: f64, b: f64, fuzzy: bool) -> bool {
    a == b || (fuzzy && (a.next_down() == b || a.next_up() == b))
}

/// Runs one test group; returns its failures (empty = passed).
fn run_group(file: &TestFile, tg: &RawTestGroup) -> Vec<String> {
    match run_group_inner(file, tg) {
        Ok(errs) => errs,
        Err(e) => vec![e],
    }
}

fn run_group_inner(file: &TestFile, tg: &RawTestGroup) -> Result<Vec<String>, String> {
    // An absent or zero `interval` is the file's `evaluation_interval`.
    let interval = match &tg.interval {
        None => file.eval_interval,
        Some(s) => parse_duration(s).map_err(|e| format!("interval: {e}"))?,
    };
    let interval = if interval.is_zero() {
        file.eval_interval
    } else {
        interval
    };
    let interval_ms = (interval.as_millis() as i64).max(1);
    let eval_ms = file.eval_interval.as_millis() as i64;
    let start = tg.start_ms()?;
    let store = Store::new();
    let mut app = store.appender();
    for s in &tg.input_series {
        let values = s.values.clone().unwrap_or_default();
        let labels = parse_metric(&s.series).map_err(|e| format!("series {:?}: {e}", s.series))?;
        for (i, v) in expand_series_values(&values)
            .map_err(|e| format!("series {:?}: {e}", s.series))?
            .into_iter()
            .enumerate()
        {
            let t = start + i as i64 * interval_ms;
            let appended = match v {
                Seq::Value(v) => app.append(&labels, t, v),
                Seq::Stale => app.append(&labels, t, STALE_NAN),
                Seq::Histogram(h) => app.append_histogram(&labels, t, *h),
                Seq::Omitted => continue,
            };
            appended.map_err(|e| e.to_string())?;
        }
    }
    app.commit();

    let engine = Engine::new(EngineOptions {
        timeout: None,
        default_subquery_step: file.eval_interval,
        features: file.features,
        ..EngineOptions::default()
    });
    let ext = Labels::from_pairs(tg.external_labels.clone());
    let ctx = EvalContext {
        engine: &engine,
        store: &store,
        external_labels: &ext,
        external_url: &tg.external_url,
    };

    let groups = file.groups.as_ref().map_err(Clone::clone)?;
    // promtool's `orderedGroups`: a partial order, groups not named in `group_eval_order`
    // rank as its first entry.
    let mut ordered: Vec<&RuleGroup> = groups.iter().collect();
    ordered.sort_by_key(|g| file.order.get(&g.name).copied().unwrap_or(0));
    let mut states: Vec<GroupState> = ordered
        .into_iter()
        .map(|g| GroupState::new(Arc::new(g.clone())).with_default_interval(interval))
        .collect();

    // Alert tests by eval time.
    let mut alert_tests: BTreeMap<i64, Vec<&RawAlertTest>> = BTreeMap::new();
    let mut max_t = 0i64;
    for a in &tg.alert_rule_test {
        if a.alertname.is_empty() {
            let group = if tg.name.is_empty() {
                String::new()
            } else {
                format!(" (in TestGroup {})", tg.name)
            };
            return Err(format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{group}",
                model_duration(dur(&a.eval_time)?)
            ));
        }
        let t = dur(&a.eval_time)?;
        max_t = max_t.max(t);
        alert_tests.entry(t).or_default().push(a);
    }
    for e in &tg.promql_expr_test {
        max_t = max_t.max(dur(&e.eval_time)?);
    }
    let alert_times: Vec<i64> = alert_tests.keys().copied().collect();
    let mut curr = 0;
    let mut errs = Vec::new();
    let name_prefix = if tg.name.is_empty() {
        String::new()
    } else {
        format!("    name: {},\n", tg.name)
    };

    // `ts` runs in absolute time from `start`; `eval_time`s are relative to `start`.
    let mut ts = start;
    while ts <= start + max_t {
        let mut eval_errs = Vec::new();
        for g in states.iter_mut() {
            let r = g.eval(&ctx, ts);
            for (rule, e) in r.rule_errors {
                eval_errs.push(format!(
                    "    rule: {rule}, time: {}, err: {e}",
                    go_duration(ts)
                ));
            }
        }
        if !eval_errs.is_empty() {
            errs.extend(eval_errs);
            return Ok(errs);
        }
        while curr < alert_times.len()
            && ts - start <= alert_times[curr]
            && alert_times[curr] < ts - start + eval_ms
        {
            let t = alert_times[curr];
            for tc in &alert_tests[&t] {
                let mut got: Vec<ExpAlert> = states
                    .iter()
                    .flat_map(|g| g.alerts())
                    .filter(|(rule, a)| {
                        *rule == tc.alertname && a.state == super::alerting::AlertState::Firing
                    })
                    .map(|(_, a)| ExpAlert {
                        labels: a.labels,
                        annotations: a.annotations,
                    })
                    .collect();
                let mut exp: Vec<ExpAlert> = tc
                    .exp_alerts
                    .iter()
                    .map(|a| {
                        let mut l = a.exp_labels.clone();
                        l.insert("alertname".into(), tc.alertname.clone());
                        ExpAlert {
                            labels: Labels::from_pairs(l),
                            annotations: Labels::from_pairs(a.exp_annotations.clone()),
                        }
                    })
                    .collect();
                sort_alerts(&mut got);
                sort_alerts(&mut exp);
                let same = got.len() == exp.len()
                    && got
                        .iter()
                        .zip(&exp)
                        .all(|(g, e)| g.labels == e.labels && g.annotations == e.annotations);
                if !same {
                    let ind = "            ";
                    errs.push(format!(
                        "{name_prefix}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                        tc.alertname,
                        model_duration(t),
                        indent_lines(&alerts_string(&exp), ind),
                        indent_lines(&alerts_string(&got), ind)
                    ));
                }
            }
            curr += 1;
        }
        ts += eval_ms.max(1);
    }

    'outer: for tc in &tg.promql_expr_test {
        let t = dur(&tc.eval_time)?;
        let expr_q = go_quote(&tc.expr);
        let mut got = match expr_query(&engine, &store, &tc.expr, start + t) {
            Ok(g) => g,
            Err(e) => {
                errs.push(format!(
                    "    expr: {expr_q}, time: {}, err: {e}",
                    model_duration(t)
                ));
                continue;
            }
        };
        let mut exp = Vec::new();
        for s in &tc.exp_samples {
            let parsed = parse_metric(&s.labels).and_then(|labels| {
                let histogram = match s.histogram.as_deref() {
                    None | Some("") => String::new(),
                    Some(text) => test_expression(&expected_histogram(text)?),
                };
                Ok(ExprSample {
                    labels,
                    value: s.value,
                    histogram,
                })
            });
            match parsed {
                Ok(sample) => exp.push(sample),
                Err(e) => {
                    errs.push(format!(
                        "    expr: {expr_q}, time: {}, err: labels {}: {e}",
                        model_duration(t),
                        go_quote(&s.labels)
                    ));
                    continue 'outer;
                }
            }
        }
        exp.sort_by(|a, b| a.labels.cmp(&b.labels));
        got.sort_by(|a, b| a.labels.cmp(&b.labels));
        let same = exp.len() == got.len()
            && exp.iter().zip(&got).all(|(e, g)| {
                e.labels == g.labels
                    && floats_equal(e.value, g.value, file.raw.fuzzy_compare)
                    && e.histogram == g.histogram
            });
        if !same {
            let show = |v: &[ExprSample]| {
                if v.is_empty() {
                    "nil".to_string()
                } else {
                    v.iter()
                        .map(ExprSample::show)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            };
            errs.push(format!(
                "    expr: {expr_q}, time: {},\n        exp: {}\n        got: {}",
                model_duration(t),
                show(&exp),
                show(&got)
            ));
        }
    }
    Ok(errs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_values_compare_with_eq_or_one_ulp_when_fuzzy() {
        assert!(floats_equal(0.5, 0.5, false));
        assert!(!floats_equal(0.3, 0.1 + 0.2, false));
        assert!(floats_equal(0.3, 0.1 + 0.2, true));
        assert!(floats_equal(0.1 + 0.2, 0.3, true));
        assert!(!floats_equal(0.29999999999999993, 0.1 + 0.2, true));
        assert!(!floats_equal(f64::NAN, f64::NAN, true));
    }

    #[test]
    fn go_duration_strings() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(300_000), "5m0s");
        assert_eq!(go_duration(3_600_000), "1h0m0s");
        assert_eq!(go_duration(1500), "1.5s");
        assert_eq!(model_duration(600_000), "10m");
        assert_eq!(model_duration(0), "0s");
    }
}
