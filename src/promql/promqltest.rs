//! Runs upstream promqltest script files against the engine (`redline test promql FILE...`).
//!
//! Each `eval` is one test. Failures are written as `file:line: expr: what differs`; the
//! output ends with one line `N passed, N failed` (`, N skipped (…)` when evals were skipped).
//! Series loaded with `{{…}}` values are stored as native histograms; since redline does not
//! yet evaluate them as upstream does in every case, an eval whose answer involves histogram
//! samples is skipped unless [`RunOptions::no_skip`] is set (`skip_reason`);
//! [`RunOptions::show_skipped`] lists those. `load_with_nhcb` also stores each classic
//! histogram of its block as a native histogram with custom buckets
//! (`promqltest_nhcb`). Values compare as upstream does: equal within a
//! relative epsilon of 1e-6, NaN equal to NaN.

use super::eval::matcher_groups;
use super::promqltest_nhcb::custom_bucket_twins;
use super::promqltest_parse::{parse_script, Command, EvalCmd, EvalKind, MsgMatch, SeqValue};
use super::series_notation::{test_expression, HistogramDesc};
use super::{Engine, EngineOptions, QueryResult, Value};
use crate::histogram::{FloatHistogram, Span};
use crate::store::{is_stale_nan, Labels, Matcher, Querier, Store, METRIC_NAME, STALE_NAN};
use promql_parser::parser::Expr;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// Counts of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    /// Evals not run because their answer involves native histograms, which redline does
    /// not store ...
    pub skipped: usize,
    /// ... of which this many expect float results computed from histogram samples.
    pub skipped_histogram_inputs: usize,
}

/// Why a run could not happen at all (individual test failures are counted, not errors).
#[derive(Debug, thiserror::Error)]
pub enum TestFileError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Syntax { path: String, msg: String },
    #[error("{path}:{line}: loading {series}: {msg}")]
    Load {
        path: String,
        line: usize,
        series: String,
        msg: String,
    },
    #[error("writing output")]
    Output(#[from] std::io::Error),
}

/// What a run writes besides failures and the summary.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    /// Write a line for each skipped eval, with the reason.
    pub show_skipped: bool,
    /// Run every eval, also those [`skip_reason`] would skip.
    pub no_skip: bool,
    /// Run on a durable store in a temporary directory: after each `load` every chunk is
    /// closed and moved to disk and the store is reopened from its files, so every query
    /// reads samples restored from disk.
    pub on_disk: bool,
}

/// The store a script runs on: in memory, or durable in a temporary directory.
struct ScriptStore {
    dir: Option<crate::testdir::TempDir>,
    store: Store,
}

impl ScriptStore {
    fn new(on_disk: bool) -> Result<ScriptStore, String> {
        if !on_disk {
            return Ok(ScriptStore {
                dir: None,
                store: Store::new(),
            });
        }
        let dir = crate::testdir::TempDir::new("promqltest");
        let store = Self::open(&dir)?;
        Ok(ScriptStore {
            dir: Some(dir),
            store,
        })
    }

    fn open(dir: &crate::testdir::TempDir) -> Result<Store, String> {
        let opts = crate::store::StoreOptions {
            retention: std::time::Duration::from_secs(100 * 365 * 86_400),
        };
        let durable = crate::store::DurableOptions::new(dir.path());
        Store::open(opts, durable)
            .map(|(s, _)| s)
            .map_err(|e| e.to_string())
    }

    /// After a load: every sample to disk, and the store reopened from its files.
    fn settle(&mut self) -> Result<(), String> {
        let Some(dir) = &self.dir else { return Ok(()) };
        self.store
            .flush_heads_to_disk()
            .map_err(|e| e.to_string())?;
        self.store.sync().map_err(|e| e.to_string())?;
        // The directory is locked while a store has it open: close this one first.
        drop(std::mem::take(&mut self.store));
        self.store = Self::open(dir)?;
        Ok(())
    }
}

/// Runs every file, writes failures and the closing summary line to `out`.
pub fn run_test_files(paths: &[PathBuf], out: &mut impl Write) -> Result<Summary, TestFileError> {
    run_test_files_with(paths, RunOptions::default(), out)
}

/// [`run_test_files`] with options.
pub fn run_test_files_with(
    paths: &[PathBuf],
    opts: RunOptions,
    out: &mut impl Write,
) -> Result<Summary, TestFileError> {
    let mut total = Summary::default();
    for p in paths {
        let s = run_test_file_with(p, opts, out)?;
        total.passed += s.passed;
        total.failed += s.failed;
        total.skipped += s.skipped;
        total.skipped_histogram_inputs += s.skipped_histogram_inputs;
    }
    write_summary(&total, out)?;
    Ok(total)
}

/// Writes the closing `N passed, N failed[, N skipped (…)]` line.
pub fn write_summary(s: &Summary, out: &mut impl Write) -> std::io::Result<()> {
    if s.skipped > 0 {
        writeln!(
            out,
            "{} passed, {} failed, {} skipped ({} expect histogram results or annotations, {} \
             compute floats from histogram samples)",
            s.passed,
            s.failed,
            s.skipped,
            s.skipped - s.skipped_histogram_inputs,
            s.skipped_histogram_inputs
        )
    } else {
        writeln!(out, "{} passed, {} failed", s.passed, s.failed)
    }
}

/// Runs one file without writing the summary line.
pub fn run_test_file(path: &PathBuf, out: &mut impl Write) -> Result<Summary, TestFileError> {
    run_test_file_with(path, RunOptions::default(), out)
}

/// [`run_test_file`] with options.
pub fn run_test_file_with(
    path: &PathBuf,
    opts: RunOptions,
    out: &mut impl Write,
) -> Result<Summary, TestFileError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| TestFileError::Read {
        path: name.clone(),
        source,
    })?;
    run_script_with(&name, &text, opts, out)
}

/// Runs a script given as text; `name` labels the failures.
pub fn run_script(name: &str, text: &str, out: &mut impl Write) -> Result<Summary, TestFileError> {
    run_script_with(name, text, RunOptions::default(), out)
}

/// [`run_script`] with options.
pub fn run_script_with(
    name: &str,
    text: &str,
    opts: RunOptions,
    out: &mut impl Write,
) -> Result<Summary, TestFileError> {
    let cmds = parse_script(text).map_err(|msg| TestFileError::Syntax {
        path: name.to_string(),
        msg,
    })?;
    // As upstream's promqltest: every experimental PromQL feature on.
    let engine = Engine::new(EngineOptions {
        timeout: None,
        experimental_functions: true,
        binop_fill_modifiers: true,
        extended_range_selectors: true,
        ..EngineOptions::default()
    });
    let store_err = |line: usize, msg: String| TestFileError::Load {
        path: name.to_string(),
        line,
        series: "the store".to_string(),
        msg,
    };
    let mut script_store = ScriptStore::new(opts.on_disk).map_err(|m| store_err(0, m))?;
    let mut hist_series: Vec<HistSeries> = Vec::new();
    let mut summary = Summary::default();
    for (line, cmd) in cmds {
        let store = &script_store.store;
        match cmd {
            Command::Clear => {
                script_store = ScriptStore::new(opts.on_disk).map_err(|m| store_err(line, m))?;
                hist_series.clear();
            }
            Command::Load {
                interval,
                series,
                nhcb,
            } => {
                let mut block: BTreeMap<Labels, BTreeMap<i64, LoadValue>> = BTreeMap::new();
                for s in series {
                    let metric = s.labels.metric_name().unwrap_or("").to_string();
                    if s.histogram {
                        hist_series.push(HistSeries {
                            labels: s.labels.clone(),
                            floats_too: s.floats_too,
                        });
                    }
                    if nhcb {
                        // `load_with_nhcb` adds a native histogram with custom buckets beside
                        // the classic series.
                        for suf in ["_bucket", "_count", "_sum"] {
                            if let Some(base) = metric.strip_suffix(suf) {
                                hist_series.push(HistSeries {
                                    labels: s.labels.without(&["le"]).with(METRIC_NAME, base),
                                    floats_too: false,
                                });
                            }
                        }
                    }
                    let points = block.entry(s.labels.clone()).or_default();
                    for (i, v) in s.values.iter().enumerate() {
                        let t = interval * i as i64;
                        match v {
                            SeqValue::Value(f) => points.insert(t, LoadValue::F(*f)),
                            SeqValue::Stale => points.insert(t, LoadValue::F(STALE_NAN)),
                            SeqValue::Histogram(h) => points.insert(t, LoadValue::H(h.h.clone())),
                            SeqValue::Omitted => continue,
                        };
                    }
                }
                // A series listed twice in one block: the later value at a timestamp wins.
                let mut app = store.appender();
                for (labels, points) in &block {
                    for (t, v) in points {
                        let r = match v {
                            LoadValue::F(v) => app.append(labels, *t, *v).map(|_| ()),
                            LoadValue::H(h) => {
                                app.append_histogram(labels, *t, h.clone()).map(|_| ())
                            }
                        };
                        if let Err(e) = r {
                            return Err(TestFileError::Load {
                                path: name.to_string(),
                                line,
                                series: labels.to_string(),
                                msg: e.to_string(),
                            });
                        }
                    }
                }
                if nhcb {
                    let floats = block.iter().map(|(labels, points)| {
                        let fs = points
                            .iter()
                            .filter_map(|(t, v)| match v {
                                LoadValue::F(f) => Some((*t, *f)),
                                LoadValue::H(_) => None,
                            })
                            .collect();
                        (labels, fs)
                    });
                    let twins = custom_bucket_twins(floats).map_err(|e| TestFileError::Load {
                        path: name.to_string(),
                        line,
                        series: "a classic histogram".to_string(),
                        msg: e.to_string(),
                    })?;
                    for (labels, samples) in twins {
                        for (t, h) in samples {
                            if let Err(e) = app.append_histogram(&labels, t, h) {
                                return Err(TestFileError::Load {
                                    path: name.to_string(),
                                    line,
                                    series: labels.to_string(),
                                    msg: e.to_string(),
                                });
                            }
                        }
                    }
                }
                app.commit();
                script_store.settle().map_err(|m| store_err(line, m))?;
                let store = &script_store.store;
                // A series loaded with floats in one block and histograms in another mixes
                // the two as much as one described with both.
                for h in hist_series.iter_mut().filter(|h| !h.floats_too) {
                    let exact: Vec<Matcher> = h
                        .labels
                        .iter()
                        .map(|l| Matcher::equal(&*l.name, &*l.value))
                        .collect();
                    h.floats_too = store.select(&exact, i64::MIN, i64::MAX).iter().any(|x| {
                        x.labels == h.labels && x.samples.iter().any(|p| !is_stale_nan(p.v))
                    });
                }
            }
            Command::Eval(cmd) => {
                if let Some(why) = skip_reason(&cmd, &hist_series).filter(|_| !opts.no_skip) {
                    summary.skipped += 1;
                    let what = match why {
                        Skip::ExpectsHistograms => "expects histogram results or annotations",
                        Skip::HistogramInputs => {
                            summary.skipped_histogram_inputs += 1;
                            "computes floats from histogram samples"
                        }
                    };
                    if opts.show_skipped {
                        writeln!(out, "{name}:{}: {}: skipped: {what}", cmd.line, cmd.expr)?;
                    }
                    continue;
                }
                match check_eval(&engine, store, &cmd) {
                    Ok(()) => summary.passed += 1,
                    Err(msg) => {
                        summary.failed += 1;
                        writeln!(out, "{name}:{}: {}: {msg}", cmd.line, cmd.expr)?;
                    }
                }
            }
        }
    }
    Ok(summary)
}

/// Why an eval is not run by default: its answer depends on native histogram samples, which
/// redline does not yet evaluate as upstream does in every case (`--no-skip` runs it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Skip {
    /// The expected output has histogram values (`{{…}}`), or an expected annotation or
    /// error is about histograms.
    ExpectsHistograms,
    /// The expected output is floats, but they are computed from histogram samples (for
    /// example `histogram_count(h)`, `count(h)`, `rate(h[5m])`, or a series that mixes
    /// floats and histograms over time, whose float lookback a histogram sample ends).
    HistogramInputs,
}

/// One value a `load` appends.
enum LoadValue {
    F(f64),
    H(crate::histogram::FloatHistogram),
}

/// A series loaded as a native histogram: its labels, and whether it holds float samples
/// too (at other timestamps).
struct HistSeries {
    labels: Labels,
    floats_too: bool,
}

/// Whether an eval must be skipped, and why. An eval runs when its expected output and
/// annotations are free of histograms and every histogram sample its selectors could reach
/// is dropped, as Prometheus drops it, before it can change a float result: then the
/// histogram series being absent from redline's store gives the same answer.
fn skip_reason(cmd: &EvalCmd, hist: &[HistSeries]) -> Option<Skip> {
    if cmd.series.iter().any(|s| s.histogram) {
        return Some(Skip::ExpectsHistograms);
    }
    let about_histograms = |m: &MsgMatch| match m {
        MsgMatch::Any => false,
        MsgMatch::Exact(s) | MsgMatch::Regex(s) => s.to_ascii_lowercase().contains("histogram"),
    };
    if cmd
        .warn
        .iter()
        .chain(&cmd.info)
        .chain(&cmd.fail)
        .any(about_histograms)
    {
        return Some(Skip::ExpectsHistograms);
    }
    if hist.is_empty() {
        return None;
    }
    let Ok(e) = crate::promql::Engine::parse(&cmd.expr) else {
        return None;
    };
    match reach(&e, hist) {
        Reach::None => None,
        // An expected annotation on an eval that histogram samples reach is the annotation
        // upstream writes for them ("ignored histograms", "mixed floats and histograms").
        _ if !cmd.warn.is_empty() || !cmd.info.is_empty() => Some(Skip::ExpectsHistograms),
        Reach::WholeSeries => None,
        Reach::Tainted => Some(Skip::HistogramInputs),
    }
}

/// How histogram samples can reach an expression's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reach {
    /// No histogram sample is selected.
    None,
    /// Histogram samples may be in the result, each as its own element from a series that
    /// has no float samples; a float-only consumer drops them, leaving what redline computes.
    WholeSeries,
    /// Histogram samples may change float results.
    Tainted,
}

/// Functions that drop histogram elements of their vector argument (the first) and compute
/// every float element on its own: upstream's `simpleFloatFunc` users, `round`, the `clamp`
/// family, `sort`/`sort_desc` (`filterFloats`), `scalar` (which looks at floats only) and the
/// date functions (functions.test: `day_of_month(histogram_sample)` is empty).
const DROPS_HISTOGRAMS: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "exp",
    "sqrt",
    "ln",
    "log2",
    "log10",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "tanh",
    "asinh",
    "acosh",
    "atanh",
    "rad",
    "deg",
    "sgn",
    "round",
    "clamp",
    "clamp_min",
    "clamp_max",
    "sort",
    "sort_desc",
    "scalar",
    "minute",
    "hour",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "month",
    "year",
];

/// Range functions that return nothing (and annotate nothing) for a series without float
/// samples in the range, and use only the float samples otherwise.
const FLOATS_OVER_TIME: &[&str] = &[
    "min_over_time",
    "max_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
    "mad_over_time",
    "deriv",
    "predict_linear",
    "double_exponential_smoothing",
    "ts_of_min_over_time",
    "ts_of_max_over_time",
];

fn reach(e: &Expr, hist: &[HistSeries]) -> Reach {
    let selector = |vs: &promql_parser::parser::VectorSelector| {
        let Ok(groups) = matcher_groups(vs) else {
            return Reach::None;
        };
        let mut r = Reach::None;
        for h in hist {
            if groups.iter().any(|g| {
                g.iter()
                    .all(|m| m.matches(h.labels.get(&m.name).unwrap_or("")))
            }) {
                r = r.max(if h.floats_too {
                    Reach::Tainted
                } else {
                    Reach::WholeSeries
                });
            }
        }
        r
    };
    // Anything histograms reach, other than a dropping consumer, is conservatively tainted.
    let taint = |r: Reach| {
        if r == Reach::None {
            Reach::None
        } else {
            Reach::Tainted
        }
    };
    match e {
        Expr::VectorSelector(vs) => selector(vs),
        Expr::MatrixSelector(ms) => selector(&ms.vs),
        Expr::Paren(p) => reach(&p.expr, hist),
        Expr::Subquery(s) => reach(&s.expr, hist),
        Expr::Call(c) => {
            let name = c.func.name;
            let args: Vec<Reach> = c.args.args.iter().map(|a| reach(a, hist)).collect();
            let rest = args
                .iter()
                .skip(1)
                .copied()
                .map(taint)
                .max()
                .unwrap_or(Reach::None);
            let first = args.first().copied().unwrap_or(Reach::None);
            let dropped = DROPS_HISTOGRAMS.contains(&name) || FLOATS_OVER_TIME.contains(&name);
            let first = if dropped && first == Reach::WholeSeries {
                Reach::None
            } else {
                taint(first)
            };
            // The range functions with a scalar first (quantile_over_time) or later vector
            // argument take the series from the matrix argument.
            if name == "quantile_over_time" {
                let m = args.get(1).copied().unwrap_or(Reach::None);
                let m = if m == Reach::WholeSeries {
                    Reach::None
                } else {
                    taint(m)
                };
                return taint(args[0]).max(m);
            }
            first.max(rest)
        }
        Expr::Aggregate(a) => taint(reach(&a.expr, hist)).max(
            a.param
                .as_ref()
                .map_or(Reach::None, |p| taint(reach(p, hist))),
        ),
        Expr::Unary(u) => taint(reach(&u.expr, hist)),
        Expr::Binary(b) => taint(reach(&b.lhs, hist)).max(taint(reach(&b.rhs, hist))),
        _ => Reach::None,
    }
}

/// Upstream's `almost.Equal` with epsilon 1e-6.
fn almost_equal(a: f64, b: f64) -> bool {
    super::histogram::almost_equal(a, b, 0.000001)
}

fn msg_matches(m: &MsgMatch, got: &str) -> bool {
    match m {
        MsgMatch::Any => true,
        MsgMatch::Exact(s) => s == got,
        MsgMatch::Regex(r) => regex::Regex::new(r).is_ok_and(|re| re.is_match(got)),
    }
}

fn check_annotations(
    kind: &str,
    expects: &[MsgMatch],
    none: bool,
    got: &[String],
) -> Result<(), String> {
    if none && !got.is_empty() {
        return Err(format!("expected no {kind} annotations, got {got:?}"));
    }
    if expects.is_empty() {
        return Ok(());
    }
    for e in expects {
        if !got.iter().any(|g| msg_matches(e, g)) {
            return Err(format!("expected {kind} annotation {e:?}, got {got:?}"));
        }
    }
    for g in got {
        if !expects.iter().any(|e| msg_matches(e, g)) {
            return Err(format!("unexpected {kind} annotation {g:?}"));
        }
    }
    Ok(())
}

fn check_eval(engine: &Engine, store: &dyn Querier, cmd: &EvalCmd) -> Result<(), String> {
    let res = match cmd.kind {
        EvalKind::Instant(t) => engine.instant_query(store, &cmd.expr, t),
        EvalKind::Range { start, end, step } => {
            engine.range_query(store, &cmd.expr, start, end, step)
        }
    };
    let res = match (res, &cmd.fail) {
        (Err(e), Some(m)) => {
            let text = e.to_string();
            return if msg_matches(m, &text) {
                Ok(())
            } else {
                Err(format!("expected error {m:?}, got {text:?}"))
            };
        }
        (Err(e), None) => return Err(format!("unexpected error: {e}")),
        (Ok(_), Some(m)) => return Err(format!("expected error {m:?} but the query succeeded")),
        (Ok(r), None) => r,
    };
    check_annotations("warn", &cmd.warn, cmd.no_warn, &res.warnings)?;
    check_annotations("info", &cmd.info, cmd.no_info, &res.infos)?;
    check_value(cmd, &res)
}

fn fmt_labels(l: &Labels) -> String {
    l.to_string()
}

fn check_value(cmd: &EvalCmd, res: &QueryResult) -> Result<(), String> {
    match &res.value {
        Value::String { s, .. } => match &cmd.string {
            Some(e) if e == s => Ok(()),
            Some(e) => Err(format!("expected string {e:?}, got {s:?}")),
            None => Err(format!("unexpected string result {s:?}")),
        },
        Value::Scalar { v, .. } => match cmd.scalar {
            Some(e) if almost_equal(e, *v) => Ok(()),
            Some(e) => Err(format!("expected scalar {e}, got {v}")),
            None => Err(format!("unexpected scalar result {v}")),
        },
        Value::Vector(vec) => {
            if cmd.string.is_some() || cmd.scalar.is_some() {
                return Err("expected a string or scalar, got a vector".into());
            }
            let show = |s: &crate::promql::InstantSample| match &s.h {
                Some(h) => format!("{} {}", fmt_labels(&s.labels), test_expression(h)),
                None => format!("{} {}", fmt_labels(&s.labels), s.v),
            };
            if vec.len() != cmd.series.len() {
                return Err(format!(
                    "expected {} samples, got {}: {}",
                    cmd.series.len(),
                    vec.len(),
                    vec.iter().map(show).collect::<Vec<_>>().join(", ")
                ));
            }
            for (i, s) in vec.iter().enumerate() {
                let Some(pos) = cmd.series.iter().position(|e| e.labels == s.labels) else {
                    return Err(format!("unexpected sample {}", show(s)));
                };
                if cmd.ordered && pos != i {
                    return Err(format!(
                        "expected {} at position {pos}, got it at {i}",
                        fmt_labels(&s.labels)
                    ));
                }
                match (cmd.series[pos].values.first(), &s.h) {
                    (Some(SeqValue::Value(want)), None) if almost_equal(*want, s.v) => {}
                    (Some(SeqValue::Histogram(want)), Some(got)) if histograms_match(want, got) => {
                    }
                    (Some(SeqValue::Value(_) | SeqValue::Histogram(_)), _) => {
                        return Err(format!(
                            "{}: expected {}, got {}",
                            fmt_labels(&s.labels),
                            show_seq(&cmd.series[pos].values[0]),
                            show(s)
                        ))
                    }
                    _ => return Err(format!("no expected value for {}", fmt_labels(&s.labels))),
                }
            }
            Ok(())
        }
        Value::Matrix(m) => {
            let (start, step) = match (cmd.range_vector, &cmd.kind) {
                (Some((s, _, st)), _) => (s, st),
                (None, EvalKind::Range { start, step, .. }) => (*start, *step),
                (None, EvalKind::Instant(_)) => {
                    return Err("got a range vector, expected no range vector".into())
                }
            };
            if m.len() != cmd.series.len() {
                return Err(format!(
                    "expected {} series, got {}: {}",
                    cmd.series.len(),
                    m.len(),
                    m.iter()
                        .map(|s| fmt_labels(&s.labels))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            for s in m {
                let Some(e) = cmd.series.iter().find(|e| e.labels == s.labels) else {
                    return Err(format!("unexpected series {}", fmt_labels(&s.labels)));
                };
                let at = |i: usize| start + step * i as i64;
                let want: Vec<(i64, f64)> = e
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| match v {
                        SeqValue::Value(f) => Some((at(i), *f)),
                        _ => None,
                    })
                    .collect();
                let want_h: Vec<(i64, &HistogramDesc)> = e
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| match v {
                        SeqValue::Histogram(h) => Some((at(i), &**h)),
                        _ => None,
                    })
                    .collect();
                let ok = want.len() == s.samples.len()
                    && want
                        .iter()
                        .zip(&s.samples)
                        .all(|(w, g)| w.0 == g.t && almost_equal(w.1, g.v))
                    && want_h.len() == s.histograms.len()
                    && want_h
                        .iter()
                        .zip(&s.histograms)
                        .all(|(w, g)| w.0 == g.t && histograms_match(w.1, &g.h));
                if !ok {
                    let got: Vec<(i64, f64)> = s.samples.iter().map(|p| (p.t, p.v)).collect();
                    let got_h: Vec<String> = s
                        .histograms
                        .iter()
                        .map(|p| format!("{} @[{}]", test_expression(&p.h), p.t))
                        .collect();
                    let want_h: Vec<String> = want_h
                        .iter()
                        .map(|(t, h)| format!("{} @[{t}]", test_expression(&h.h)))
                        .collect();
                    return Err(format!(
                        "{}: expected floats {want:?} and histograms {want_h:?}, got {got:?} and {got_h:?}",
                        fmt_labels(&s.labels)
                    ));
                }
            }
            Ok(())
        }
    }
}

fn show_seq(v: &SeqValue) -> String {
    match v {
        SeqValue::Value(f) => f.to_string(),
        SeqValue::Histogram(h) => test_expression(&h.h),
        SeqValue::Omitted => "_".into(),
        SeqValue::Stale => "stale".into(),
    }
}

/// Upstream's `compareNativeHistogram` on both sides compacted: schema, custom bounds, zero
/// threshold, spans exactly; count, sum, zero count and bucket counts within the epsilon;
/// the counter-reset hint only when the expectation names one.
fn histograms_match(want: &HistogramDesc, got: &FloatHistogram) -> bool {
    let mut e = want.h.clone();
    e.compact(0);
    let mut g = got.clone();
    g.compact(0);
    let floats_match = |a: &[f64], b: &[f64]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| almost_equal(*x, *y))
    };
    e.schema == g.schema
        && almost_equal(e.count, g.count)
        && almost_equal(e.sum, g.sum)
        && (!e.uses_custom_buckets() || e.custom_values == g.custom_values)
        && e.zero_threshold == g.zero_threshold
        && almost_equal(e.zero_count, g.zero_count)
        && spans_match(&e.negative_spans, &g.negative_spans)
        && floats_match(&e.negative_buckets, &g.negative_buckets)
        && spans_match(&e.positive_spans, &g.positive_spans)
        && floats_match(&e.positive_buckets, &g.positive_buckets)
        && (!want.hint_set || e.counter_reset_hint == g.counter_reset_hint)
}

/// Span lists equal once zero-length spans are folded into the next one.
fn spans_match(a: &[Span], b: &[Span]) -> bool {
    fn folded(s: &[Span]) -> Vec<Span> {
        let mut out: Vec<Span> = Vec::new();
        let mut carry = 0;
        for sp in s {
            if sp.length == 0 {
                carry += sp.offset;
                continue;
            }
            out.push(Span {
                offset: sp.offset + carry,
                length: sp.length,
            });
            carry = 0;
        }
        out
    }
    folded(a) == folded(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::QueryError;

    #[test]
    fn script_counts_passes_and_failures() {
        let script = "load 1m\n  m{a=\"1\"} 1+1x5\n\neval instant at 2m m\n  m{a=\"1\"} 3\n\neval instant at 2m m\n  m{a=\"1\"} 4\n";
        let mut out = Vec::new();
        let s = run_script("t", script, &mut out).unwrap();
        assert_eq!((s.passed, s.failed), (1, 1));
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("t:7: m:"), "{text}");
    }

    #[test]
    fn expect_fail_passes_on_error() {
        let script = "load 5m\n  a{x=\"1\"} 0\n  b{x=\"1\"} 1\n\neval instant at 0m ceil({__name__=~'a|b'})\n  expect fail\n";
        let s = run_script("t", script, &mut Vec::new()).unwrap();
        assert_eq!((s.passed, s.failed), (1, 0));
    }

    /// A float eval beside a histogram series runs (and must pass): only evals whose answer
    /// involves histogram samples are skipped, each counted once with its reason.
    #[test]
    fn only_evals_involving_histograms_are_skipped() {
        let script = "load 5m
  m{src=\"a\"} -50
  m{src=\"b\"} 100
  m{src=\"h\"} {{schema:0 sum:1 count:1}}
  mixed {{schema:0 sum:1 count:1}} 1 2

eval instant at 0m clamp_max(m, 75)
  {src=\"a\"} -50
  {src=\"b\"} 75

eval instant at 0m sort_desc(sgn(m))
  expect ordered
  {src=\"b\"} 1
  {src=\"a\"} -1

eval instant at 0m m{src=\"h\"}
  {src=\"h\"} {{schema:0 sum:1 count:1}}

eval instant at 0m max(m)
  expect info
  {} 100

eval instant at 0m count(m)
  {} 3

eval instant at 5m clamp(mixed, 0, 1)
  {} 1
";
        let mut out = Vec::new();
        let opts = RunOptions {
            show_skipped: true,
            ..RunOptions::default()
        };
        let s = run_script_with("t", script, opts, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            (s.passed, s.failed, s.skipped, s.skipped_histogram_inputs),
            (2, 0, 4, 2),
            "{text}"
        );
        assert!(
            text.contains("t:16: m{src=\"h\"}: skipped: expects histogram"),
            "{text}"
        );
        assert!(
            text.contains("t:19: max(m): skipped: expects histogram"),
            "{text}"
        );
        assert!(
            text.contains("t:23: count(m): skipped: computes floats"),
            "{text}"
        );
        assert!(
            text.contains("t:26: clamp(mixed, 0, 1): skipped: computes floats"),
            "{text}"
        );
    }

    #[test]
    fn query_error_is_typed() {
        let e = Engine::default().instant_query(&Store::new(), "sum(", 0);
        assert!(matches!(e, Err(QueryError::Parse(_))));
    }
}
