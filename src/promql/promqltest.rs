//! Runs upstream promqltest script files against the engine (`redline test promql FILE...`).
//!
//! Each `eval` is one test, and every one runs. Failures are written as
//! `file:line: expr: what differs`; the output ends with one line `N passed, N failed`.
//! Series loaded with `{{…}}` values are stored as native histograms; `load_with_nhcb` also
//! stores each classic
//! histogram of its block as a native histogram with custom buckets
//! (`promqltest_nhcb`). Values compare as upstream does: equal within a
//! relative epsilon of 1e-6, NaN equal to NaN.

use super::promqltest_nhcb::custom_bucket_twins;
use super::promqltest_parse::{parse_script, Command, EvalCmd, EvalKind, MsgMatch, SeqValue};
use super::series_notation::{test_expression, HistogramDesc};
use super::{Engine, EngineOptions, QueryResult, Value};
use crate::histogram::{FloatHistogram, Span};
use crate::store::{Labels, Querier, Store, STALE_NAN};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// Counts of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
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
    }
    write_summary(&total, out)?;
    Ok(total)
}

/// Writes the closing `N passed, N failed` line.
pub fn write_summary(s: &Summary, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{} passed, {} failed", s.passed, s.failed)
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
    // As upstream's promqltest: every experimental PromQL feature and delayed name removal
    // on; `type-and-unit-labels` off.
    let engine = Engine::new(EngineOptions {
        timeout: None,
        features: crate::features::Features {
            type_and_unit_labels: false,
            ..crate::features::Features::all()
        },
        ..EngineOptions::default()
    });
    let store_err = |line: usize, msg: String| TestFileError::Load {
        path: name.to_string(),
        line,
        series: "the store".to_string(),
        msg,
    };
    let mut script_store = ScriptStore::new(opts.on_disk).map_err(|m| store_err(0, m))?;
    let mut summary = Summary::default();
    for (line, cmd) in cmds {
        let store = &script_store.store;
        match cmd {
            Command::Clear => {
                script_store = ScriptStore::new(opts.on_disk).map_err(|m| store_err(line, m))?;
            }
            Command::Load {
                interval,
                series,
                nhcb,
            } => {
                let mut block: BTreeMap<Labels, BTreeMap<i64, LoadValue>> = BTreeMap::new();
                for s in series {
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
            }
            Command::Eval(cmd) => match check_eval(&engine, store, &cmd) {
                Ok(()) => summary.passed += 1,
                Err(msg) => {
                    summary.failed += 1;
                    writeln!(out, "{name}:{}: {}: {msg}", cmd.line, cmd.expr)?;
                }
            },
        }
    }
    Ok(summary)
}

/// One value a `load` appends.
enum LoadValue {
    F(f64),
    H(crate::histogram::FloatHistogram),
}

/// Upstream's `almost.Equal` with epsilon 1e-6.
fn almost_equal(a: f64, b: f64) -> bool {
    super::histogram::almost_equal(a, b, 0.000001)
}

fn msg_matches(m: &MsgMatch, got: &str) -> bool {
    match m {
        MsgMatch::Any => true,
        MsgMatch::Exact(s) => s == got || s == without_position(got),
        MsgMatch::Regex(r) => regex::Regex::new(r)
            .is_ok_and(|re| re.is_match(got) || re.is_match(without_position(got))),
    }
}

/// An annotation without its trailing ` (line:column)`. The engine's annotations carry the
/// position of the node they are about (the API shows it); upstream's script runner, since
/// annotations gained that position only when rendered for a query, compares the bare
/// message, while older script files spell the position out. Both spellings match.
fn without_position(msg: &str) -> &str {
    let Some(open) = msg.strip_suffix(')').and_then(|m| m.rfind(" (")) else {
        return msg;
    };
    let pos = &msg[open + 2..msg.len() - 1];
    let is_pos = pos.split_once(':').is_some_and(|(l, c)| {
        !l.is_empty()
            && !c.is_empty()
            && l.bytes().all(|b| b.is_ascii_digit())
            && c.bytes().all(|b| b.is_ascii_digit())
    });
    if is_pos {
        &msg[..open]
    } else {
        msg
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
    fn bare_quoted_line_expects_a_string_result() {
        let script = "eval instant at 1m \"abc\"\n  \"abc\"\n\neval instant at 1m \"abc\"\n  `abd`\n\neval instant at 1m (\"\")\n  \"\"\n";
        let mut out = Vec::new();
        let s = run_script("t", script, &mut out).unwrap();
        assert_eq!((s.passed, s.failed), (2, 1));
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("t:4:"), "{text}");
    }

    #[test]
    fn annotation_message_matches_with_or_without_its_position() {
        let got = "PromQL warning: quantile value should be between 0 and 1, got NaN (1:21)";
        let bare = "PromQL warning: quantile value should be between 0 and 1, got NaN";
        assert!(msg_matches(&MsgMatch::Exact(got.into()), got));
        assert!(msg_matches(&MsgMatch::Exact(bare.into()), got));
        // Only a trailing `(line:column)` is a position; other parentheses stay.
        assert!(!msg_matches(
            &MsgMatch::Exact(bare.into()),
            &format!("{bare} (1:x)")
        ));
        assert!(!msg_matches(
            &MsgMatch::Exact(bare.into()),
            &format!("{bare} (2)")
        ));
        assert!(!msg_matches(
            &MsgMatch::Exact("PromQL warning: quantile".into()),
            got
        ));
        assert_eq!(without_position("no position"), "no position");
    }

    #[test]
    fn expect_fail_passes_on_error() {
        let script = "load 5m\n  a{x=\"1\"} 0\n  b{x=\"1\"} 1\n\neval instant at 0m ceil({__name__=~'a|b'})\n  expect fail\n";
        let s = run_script("t", script, &mut Vec::new()).unwrap();
        assert_eq!((s.passed, s.failed), (1, 0));
    }

    #[test]
    fn annotation_matches_with_or_without_its_position() {
        assert_eq!(
            without_position("PromQL info: reconciled during addition (1:19)"),
            "PromQL info: reconciled during addition"
        );
        // Parentheses that are not a line:col position stay.
        assert_eq!(
            without_position("PromQL info: see (docs)"),
            "PromQL info: see (docs)"
        );
        assert_eq!(without_position("x (1:)"), "x (1:)");
        let script = "load 1m\n  m{le=\"+Inf\"} 1\n\neval instant at 0 histogram_quantile(2, m)\n  expect warn msg: PromQL warning: quantile value should be between 0 and 1, got 2\n  {} +Inf\n";
        let s = run_script("t", script, &mut Vec::new()).unwrap();
        assert_eq!((s.passed, s.failed), (1, 0));
        let with_pos = script.replace("got 2\n", "got 2 (1:20)\n");
        let s = run_script("t", &with_pos, &mut Vec::new()).unwrap();
        assert_eq!((s.passed, s.failed), (1, 0));
        // Control: a different message does not match in either form.
        let other = script.replace("got 2\n", "got 3\n");
        let s = run_script("t", &other, &mut Vec::new()).unwrap();
        assert_eq!((s.passed, s.failed), (0, 1));
    }

    #[test]
    fn query_error_is_typed() {
        let e = Engine::default().instant_query(&Store::new(), "sum(", 0);
        assert!(matches!(e, Err(QueryError::Parse(_))));
    }
}
