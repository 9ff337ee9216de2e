//! The `info()` function (Prometheus 3, `--enable-feature=promql-experimental-functions`):
//! adds the data labels of info metrics to the series of an instant vector, as upstream's
//! `promql/info.go` does.
//!
//! `info(v, {selector})` joins each series of `v` to the info series that share its
//! identifying labels ([`IDENTIFYING_LABELS`]: `instance` and `job`) and copies their other
//! labels (the data labels) onto it. The info metric is `target_info` unless the selector
//! names others with `__name__` matchers; the selector's other matchers choose which data
//! labels are copied and which info series qualify. A series that matches no info series is
//! returned unchanged, unless a data-label matcher requires a value, then it is dropped.
//! Series of the info metric itself pass through unchanged.
//!
//! Upstream evaluates `info()` over all the steps of its evaluation at once: the identifying
//! label values of every step's series choose the info series, read from the query's range
//! widened by the lookback delta. [`eval`] does the same for the evaluator's
//! [`frame`](super::eval::Evaluator::frame) and keeps every step's result for the steps that
//! follow.

use super::eval::{exec_err, matcher_groups, offset_ms, EvalResult, Evaluator, Frame, StepVectors};
use super::functions::unwrap_parens;
use super::value::{Sample, Val};
use crate::gostrconv::quote;
use crate::store::{is_stale_nan, Labels, MatchOp, Matcher, SeriesSamples, METRIC_NAME};
use promql_parser::parser::Expr;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

/// The labels that identify the target an info series describes.
pub(crate) const IDENTIFYING_LABELS: [&str; 2] = ["instance", "job"];
/// The info metric used when the selector names none.
pub(crate) const TARGET_INFO: &str = "target_info";

/// `info(args[0], args[1])` at step `ts`.
pub(crate) fn eval(ev: &Evaluator, args: &[&Expr], node: &Expr, ts: i64) -> EvalResult<Val> {
    let mut frame = ev.frame();
    if !frame_steps(frame).contains(&ts) {
        frame = (ts, ts, 0);
    }
    let key = (node as *const Expr as usize, frame);
    let cached = ev.info_results.borrow().get(&key).cloned();
    let steps = match cached {
        Some(s) => s,
        None => {
            let s = Rc::new(eval_frame(ev, args, frame)?);
            ev.info_results.borrow_mut().insert(key, s.clone());
            s
        }
    };
    let out = steps.get(&ts).cloned().unwrap_or_default();
    ev.account(out.len())?;
    Ok(Val::Vector(out))
}

/// The steps of a frame: `start`, `start + step`, … up to `end`.
fn frame_steps((start, end, step): Frame) -> Vec<i64> {
    if step <= 0 {
        return vec![start];
    }
    let mut out = Vec::new();
    let mut t = start;
    while t <= end {
        out.push(t);
        t = match t.checked_add(step) {
            Some(n) => n,
            None => break,
        };
    }
    out
}

/// The data-label selector: its matchers, and what upstream derives from them.
struct Selector {
    /// Every matcher of the selector, `__name__` ones included (they select info series).
    all: Vec<Matcher>,
    /// The `__name__` matchers that tell which input series are info series themselves.
    info_names: Vec<Matcher>,
    /// The names of the data labels to copy; empty for all of them.
    data_labels: BTreeSet<String>,
    /// Whether every data-label matcher accepts a missing label.
    all_match_empty: bool,
}

impl Selector {
    fn new(arg: Option<&Expr>) -> EvalResult<Selector> {
        let Some(arg) = arg else {
            return Ok(Selector {
                all: Vec::new(),
                info_names: vec![Matcher::equal(METRIC_NAME, TARGET_INFO)],
                data_labels: BTreeSet::new(),
                all_match_empty: true,
            });
        };
        let Expr::VectorSelector(vs) = unwrap_parens(arg) else {
            return exec_err(
                "expected label selectors as the second argument to the info function",
            );
        };
        if vs.name.is_some() {
            return exec_err("expected label selectors only, got vector selector instead");
        }
        let mut groups = matcher_groups(vs)?;
        if groups.len() != 1 {
            return exec_err("info() does not take \"or\" label matchers");
        }
        let all = groups.pop().unwrap_or_default();
        let info_names: Vec<Matcher> = all
            .iter()
            .filter(|m| m.name == METRIC_NAME)
            .cloned()
            .collect();
        let data: Vec<&Matcher> = all.iter().filter(|m| m.name != METRIC_NAME).collect();
        Ok(Selector {
            data_labels: data.iter().map(|m| m.name.clone()).collect(),
            all_match_empty: data.iter().all(|m| m.matches_empty()),
            info_names,
            all,
        })
    }

    /// Whether a series named `name` ("" without a name) is an info series, passed through.
    fn is_info_series(&self, name: &str) -> bool {
        !self.info_names.is_empty() && self.info_names.iter().all(|m| m.matches(name))
    }
}

/// The key an input series and an info series are joined on: the info metric's name and
/// the identifying labels present.
type Signature = (String, [Option<String>; 2]);

fn signature(name: &str, labels: &Labels) -> Signature {
    (
        name.to_string(),
        IDENTIFYING_LABELS.map(|l| labels.get(l).filter(|v| !v.is_empty()).map(str::to_string)),
    )
}

/// Go's `labels.Labels.String()`: `{__name__="x", a="b"}`.
fn go_labels(l: &Labels) -> String {
    let parts: Vec<String> = l
        .iter()
        .map(|l| format!("{}={}", l.name, quote(&l.value)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// One info series at one step: its index and the timestamp of the sample seen.
type InfoSample = (usize, i64);

/// Evaluates `info()` at every step of `frame`.
fn eval_frame(ev: &Evaluator, args: &[&Expr], frame: Frame) -> EvalResult<StepVectors> {
    let sel = Selector::new(args.get(1).copied())?;
    let steps = frame_steps(frame);
    let saved = ev.step_samples();
    let mut base: Vec<(i64, Vec<Sample>)> = Vec::with_capacity(steps.len());
    for &t in &steps {
        ev.set_step_samples(0);
        base.push((t, ev.eval_vector(args[0], t)?));
    }
    ev.set_step_samples(saved);

    let name_of = |s: &Sample| -> String {
        match s.drop_name {
            true => String::new(),
            false => s.labels.metric_name().unwrap_or("").to_string(),
        }
    };
    // The identifying label values of every input series that is not an info series.
    let mut id_values: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (_, v) in &base {
        for s in v.iter().filter(|s| !sel.is_info_series(&name_of(s))) {
            for l in IDENTIFYING_LABELS {
                if let Some(val) = s.labels.get(l).filter(|v| !v.is_empty()) {
                    id_values.entry(l).or_default().insert(val.to_string());
                }
            }
        }
    }
    let info = if id_values.is_empty() {
        Vec::new()
    } else {
        select_info_series(ev, args[0], &sel, &id_values, frame)?
    };
    let info_names: BTreeSet<&str> = info
        .iter()
        .map(|s| s.labels.metric_name().unwrap_or(""))
        .collect();
    let info_sigs: Vec<Signature> = info
        .iter()
        .map(|s| signature(s.labels.metric_name().unwrap_or(""), &s.labels))
        .collect();
    // Each info series at each step, as an instant selector sees it (upstream's `evalSeries`
    // over the selected samples), remembering the sample's own timestamp.
    let lookback = ev.lookback;
    let mut per_step: Vec<Vec<InfoSample>> = vec![Vec::new(); steps.len()];
    for (i, s) in info.iter().enumerate() {
        for (k, &t) in steps.iter().enumerate() {
            let f = s
                .samples
                .partition_point(|p| p.t <= t)
                .checked_sub(1)
                .map(|j| s.samples[j]);
            let h = s
                .histograms
                .partition_point(|p| p.t <= t)
                .checked_sub(1)
                .map(|j| s.histograms[j].t);
            match (f, h) {
                (_, Some(ht)) if f.is_none_or(|p| ht > p.t) && ht > t - lookback => {
                    return exec_err(format!(
                        "this should be an info metric, with float samples: {}",
                        go_labels(&s.labels)
                    ));
                }
                (Some(p), _)
                    if p.t > t - lookback && !is_stale_nan(p.v) && h.is_none_or(|ht| p.t > ht) =>
                {
                    per_step[k].push((i, p.t));
                }
                _ => {}
            }
        }
    }

    let mut out = StepVectors::default();
    for ((t, vector), infos) in base.into_iter().zip(per_step) {
        if vector.is_empty() {
            continue;
        }
        let joined = combine(ev, &sel, vector, &info, &info_sigs, &info_names, &infos)?;
        out.insert(t, joined);
    }
    Ok(out)
}

/// Selects the info series the input's identifying label values can join: upstream reads
/// them from the query's range (or the `@` time of the first selector in the input), less
/// that selector's offset, widened by the lookback delta.
fn select_info_series(
    ev: &Evaluator,
    input: &Expr,
    sel: &Selector,
    id_values: &BTreeMap<&str, BTreeSet<String>>,
    frame: Frame,
) -> EvalResult<Vec<SeriesSamples>> {
    let (mut start, mut end) = (frame.0, frame.1);
    let mut offset = 0;
    if let Some(vs) = first_selector(input) {
        if let Some(at) = &vs.at {
            start = ev.at_ms(at);
            end = start;
        }
        offset = offset_ms(&vs.offset);
    }
    let mint = start - (ev.lookback - 1) - offset;
    let maxt = end - offset;
    let mut matchers = Vec::new();
    if !sel.all.iter().any(|m| m.name == METRIC_NAME) {
        matchers.push(Matcher::equal(METRIC_NAME, TARGET_INFO));
    }
    for l in id_values.keys() {
        matchers.push(not_empty(l)?);
    }
    matchers.extend(sel.all.iter().cloned());
    let mut series: Vec<SeriesSamples> = ev
        .select_matching(&matchers, mint, maxt)?
        .into_iter()
        .filter(|s| {
            id_values
                .iter()
                .all(|(l, vals)| s.labels.get(l).is_some_and(|v| vals.contains(v)))
        })
        .map(|mut s| {
            s.samples.retain(|p| p.t >= mint && p.t <= maxt);
            s.histograms.retain(|p| p.t >= mint && p.t <= maxt);
            s
        })
        .collect();
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(series)
}

fn not_empty(label: &str) -> EvalResult<Matcher> {
    Matcher::new(MatchOp::NotEqual, label, "")
        .map_err(|e| super::QueryError::Execution(e.to_string()))
}

/// The first vector selector of `e` in upstream's walk order.
fn first_selector(e: &Expr) -> Option<&promql_parser::parser::VectorSelector> {
    match e {
        Expr::VectorSelector(vs) => Some(vs),
        Expr::MatrixSelector(ms) => Some(&ms.vs),
        Expr::Subquery(sq) => first_selector(&sq.expr),
        Expr::Aggregate(a) => {
            first_selector(&a.expr).or_else(|| a.param.as_deref().and_then(first_selector))
        }
        Expr::Unary(u) => first_selector(&u.expr),
        Expr::Binary(b) => first_selector(&b.lhs).or_else(|| first_selector(&b.rhs)),
        Expr::Paren(p) => first_selector(&p.expr),
        Expr::Call(c) => c.args.args.iter().find_map(|a| first_selector(a)),
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::Extension(_)
        | Expr::Duration(_) => None,
    }
}

/// Upstream's `combineWithInfoVector` at one step.
fn combine(
    ev: &Evaluator,
    sel: &Selector,
    vector: Vec<Sample>,
    info: &[SeriesSamples],
    info_sigs: &[Signature],
    info_names: &BTreeSet<&str>,
    infos: &[InfoSample],
) -> EvalResult<Vec<Sample>> {
    // The newest info sample per signature; two at one timestamp are a conflict.
    let mut by_sig: HashMap<&Signature, InfoSample> = HashMap::new();
    for &(i, t) in infos {
        let sig = &info_sigs[i];
        match by_sig.get(sig) {
            Some(&(j, et)) if et == t => {
                return exec_err(format!(
                    "found duplicate series for info metric: existing {} @ {et}, new {} @ {t}",
                    go_labels(&info[j].labels),
                    go_labels(&info[i].labels)
                ));
            }
            Some(&(_, et)) if et > t => {}
            _ => {
                by_sig.insert(sig, (i, t));
            }
        }
    }
    let mut out = Vec::with_capacity(vector.len());
    for s in vector {
        let name = match s.drop_name {
            true => "",
            false => s.labels.metric_name().unwrap_or(""),
        };
        if sel.is_info_series(name) {
            out.push(s);
            continue;
        }
        let mut added: BTreeMap<&str, &str> = BTreeMap::new();
        let mut seen = 0;
        for info_name in info_names {
            let Some(&(i, _)) = by_sig.get(&signature(info_name, &s.labels)) else {
                continue;
            };
            for l in info[i].labels.iter() {
                if &*l.name == METRIC_NAME
                    || (!sel.data_labels.is_empty() && !sel.data_labels.contains(&*l.name))
                {
                    continue;
                }
                if added.get(&*l.name).is_some_and(|v| *v != &*l.value) {
                    return exec_err(format!("conflicting label: {}", l.name));
                }
                if s.labels.get(&l.name).is_some() {
                    continue;
                }
                added.insert(&l.name, &l.value);
            }
            seen += 1;
        }
        if seen == 0 && !sel.all_match_empty {
            continue;
        }
        let labels = if added.is_empty() {
            s.labels.clone()
        } else {
            let mut l = (*s.labels).clone();
            for (k, v) in added {
                l = l.with(k, v);
            }
            ev.memo.intern(l)
        };
        out.push(Sample { labels, ..s });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::histogram::FloatHistogram;
    use crate::promql::testing::MemQuerier;
    use crate::promql::{Engine, EngineOptions, QueryError, Value};
    use crate::store::Labels;

    fn engine() -> Engine {
        Engine::new(EngineOptions {
            features: crate::features::Features {
                experimental_functions: true,
                ..Default::default()
            },
            ..EngineOptions::default()
        })
    }

    /// An info series whose sample is a native histogram is an error (upstream's
    /// `evalSeries` with `recordOrigT`); the same series with a float sample is joined.
    #[test]
    fn a_histogram_info_sample_is_an_error() {
        let base = Labels::from_pairs([("__name__", "up"), ("instance", "a"), ("job", "j")]);
        let info = Labels::from_pairs([
            ("__name__", "target_info"),
            ("instance", "a"),
            ("job", "j"),
            ("region", "eu"),
        ]);
        let mut q = MemQuerier::new();
        q.append(&base, 0, 1.0);
        q.append(&info, 0, 1.0);
        let r = engine().instant_query(&q, "info(up)", 0).expect("joins");
        let Value::Vector(v) = r.value else {
            panic!("expected a vector");
        };
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].labels.get("region"), Some("eu"));

        q.append_histogram(
            &info,
            30_000,
            FloatHistogram {
                count: 1.0,
                ..FloatHistogram::default()
            },
        );
        assert_eq!(
            engine().instant_query(&q, "info(up)", 30_000),
            Err(QueryError::Execution(
                "this should be an info metric, with float samples: {__name__=\"target_info\", instance=\"a\", job=\"j\", region=\"eu\"}"
                    .into()
            ))
        );
    }
}
