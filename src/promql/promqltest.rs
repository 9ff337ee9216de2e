//! Runs upstream promqltest script files against the engine (`redline test promql FILE...`).
//!
//! Each `eval` is one test. Failures are written as `file:line: expr: what differs`; the
//! output ends with one line `N passed, N failed` (`, N skipped` when evals over native
//! histograms, which redline does not store, were skipped). Values compare as upstream does:
//! equal within a relative epsilon of 1e-6, NaN equal to NaN.

use super::eval::matcher_groups;
use super::promqltest_parse::{parse_script, Command, EvalCmd, EvalKind, MsgMatch, SeqValue};
use super::{Engine, EngineOptions, QueryResult, Value};
use crate::store::{Labels, Querier, Store, METRIC_NAME, STALE_NAN};
use promql_parser::parser::Expr;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// Counts of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
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
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

/// Runs every file, writes failures and the closing summary line to `out`.
pub fn run_test_files(paths: &[PathBuf], out: &mut impl Write) -> Result<Summary, TestFileError> {
    let mut total = Summary::default();
    for p in paths {
        let s = run_test_file(p, out)?;
        total.passed += s.passed;
        total.failed += s.failed;
        total.skipped += s.skipped;
    }
    write_summary(&total, out)?;
    Ok(total)
}

/// Writes the closing `N passed, N failed[, N skipped]` line.
pub fn write_summary(s: &Summary, out: &mut impl Write) -> std::io::Result<()> {
    if s.skipped > 0 {
        writeln!(
            out,
            "{} passed, {} failed, {} skipped",
            s.passed, s.failed, s.skipped
        )
    } else {
        writeln!(out, "{} passed, {} failed", s.passed, s.failed)
    }
}

/// Runs one file without writing the summary line.
pub fn run_test_file(path: &PathBuf, out: &mut impl Write) -> Result<Summary, TestFileError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| TestFileError::Read {
        path: name.clone(),
        source,
    })?;
    run_script(&name, &text, out)
}

/// Runs a script given as text; `name` labels the failures.
pub fn run_script(name: &str, text: &str, out: &mut impl Write) -> Result<Summary, TestFileError> {
    let cmds = parse_script(text).map_err(|msg| TestFileError::Syntax {
        path: name.to_string(),
        msg,
    })?;
    let engine = Engine::new(EngineOptions {
        timeout: None,
        ..EngineOptions::default()
    });
    let mut store = Store::new();
    let mut hist_series: Vec<Labels> = Vec::new();
    let mut summary = Summary::default();
    for (line, cmd) in cmds {
        match cmd {
            Command::Clear => {
                store = Store::new();
                hist_series.clear();
            }
            Command::Load {
                interval,
                series,
                nhcb,
            } => {
                let mut block: BTreeMap<Labels, BTreeMap<i64, f64>> = BTreeMap::new();
                for s in series {
                    let metric = s.labels.metric_name().unwrap_or("").to_string();
                    if s.histogram {
                        hist_series.push(s.labels.clone());
                        continue;
                    }
                    if nhcb {
                        for suf in ["_bucket", "_count", "_sum"] {
                            if let Some(base) = metric.strip_suffix(suf) {
                                hist_series.push(s.labels.without(&["le"]).with(METRIC_NAME, base));
                            }
                        }
                    }
                    let points = block.entry(s.labels.clone()).or_default();
                    for (i, v) in s.values.iter().enumerate() {
                        let t = interval * i as i64;
                        match v {
                            SeqValue::Value(f) => points.insert(t, *f),
                            SeqValue::Stale => points.insert(t, STALE_NAN),
                            SeqValue::Omitted => continue,
                        };
                    }
                }
                // A series listed twice in one block: the later value at a timestamp wins.
                let mut app = store.appender();
                for (labels, points) in block {
                    for (t, v) in points {
                        if let Err(e) = app.append(&labels, t, v) {
                            return Err(TestFileError::Load {
                                path: name.to_string(),
                                line,
                                series: labels.to_string(),
                                msg: e.to_string(),
                            });
                        }
                    }
                }
                app.commit();
            }
            Command::Eval(cmd) => {
                if uses_histograms(&cmd, &hist_series) {
                    summary.skipped += 1;
                    continue;
                }
                match check_eval(&engine, &store, &cmd) {
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

/// Whether an eval is about native histograms: its expected output uses `{{…}}`, or one of
/// its selectors matches a series that was loaded as a native histogram.
fn uses_histograms(cmd: &EvalCmd, hist: &[Labels]) -> bool {
    if cmd.series.iter().any(|s| s.histogram) {
        return true;
    }
    if hist.is_empty() {
        return false;
    }
    match crate::promql::Engine::parse(&cmd.expr) {
        Ok(e) => selects_any(&e, hist),
        Err(_) => false,
    }
}

fn selects_any(e: &Expr, hist: &[Labels]) -> bool {
    let vs_matches = |vs: &promql_parser::parser::VectorSelector| {
        matcher_groups(vs).is_ok_and(|groups| {
            groups.iter().any(|g| {
                hist.iter()
                    .any(|l| g.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
            })
        })
    };
    match e {
        Expr::VectorSelector(vs) => vs_matches(vs),
        Expr::MatrixSelector(ms) => vs_matches(&ms.vs),
        Expr::Aggregate(a) => {
            selects_any(&a.expr, hist) || a.param.as_ref().is_some_and(|p| selects_any(p, hist))
        }
        Expr::Unary(u) => selects_any(&u.expr, hist),
        Expr::Binary(b) => selects_any(&b.lhs, hist) || selects_any(&b.rhs, hist),
        Expr::Paren(p) => selects_any(&p.expr, hist),
        Expr::Subquery(s) => selects_any(&s.expr, hist),
        Expr::Call(c) => c.args.args.iter().any(|a| selects_any(a, hist)),
        _ => false,
    }
}

/// Upstream's `almost.Equal` with epsilon 1e-6.
fn almost_equal(a: f64, b: f64) -> bool {
    const MIN_NORMAL: f64 = 2.2250738585072014e-308;
    const EPS: f64 = 0.000001;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < EPS * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < EPS
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
            if vec.len() != cmd.series.len() {
                return Err(format!(
                    "expected {} samples, got {}: {}",
                    cmd.series.len(),
                    vec.len(),
                    vec.iter()
                        .map(|s| format!("{} {}", fmt_labels(&s.labels), s.v))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            for (i, s) in vec.iter().enumerate() {
                let Some(pos) = cmd.series.iter().position(|e| e.labels == s.labels) else {
                    return Err(format!(
                        "unexpected sample {} {}",
                        fmt_labels(&s.labels),
                        s.v
                    ));
                };
                if cmd.ordered && pos != i {
                    return Err(format!(
                        "expected {} at position {pos}, got it at {i}",
                        fmt_labels(&s.labels)
                    ));
                }
                let want = match cmd.series[pos].values.first() {
                    Some(SeqValue::Value(v)) => *v,
                    _ => return Err(format!("no expected value for {}", fmt_labels(&s.labels))),
                };
                if !almost_equal(want, s.v) {
                    return Err(format!(
                        "{}: expected {want}, got {}",
                        fmt_labels(&s.labels),
                        s.v
                    ));
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
                let want: Vec<(i64, f64)> = e
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| match v {
                        SeqValue::Value(f) => Some((start + step * i as i64, *f)),
                        _ => None,
                    })
                    .collect();
                let ok = want.len() == s.samples.len()
                    && want
                        .iter()
                        .zip(&s.samples)
                        .all(|(w, g)| w.0 == g.t && almost_equal(w.1, g.v));
                if !ok {
                    let got: Vec<(i64, f64)> = s.samples.iter().map(|p| (p.t, p.v)).collect();
                    return Err(format!(
                        "{}: expected {want:?}, got {got:?}",
                        fmt_labels(&s.labels)
                    ));
                }
            }
            Ok(())
        }
    }
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

    #[test]
    fn query_error_is_typed() {
        let e = Engine::default().instant_query(&Store::new(), "sum(", 0);
        assert!(matches!(e, Err(QueryError::Parse(_))));
    }
}
