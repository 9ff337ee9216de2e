//! The evaluator: walks the AST once per evaluation step.
//!
//! [`run`] drives a query: it works out which time range every selector needs, evaluates the
//! expression at each step with [`Evaluator::eval`] and assembles the public [`Value`].
//! Selector data is fetched from the [`Querier`] once per selector and sliced per step; the
//! selections of one query together may hold at most `max_samples` samples, and the
//! [`Querier`] refuses the one that would pass that while it loads (see [`SelectLimits`]).

use super::hist_stats;
use super::memo::{ptr, FastMap, LabelMemo};
use super::positions;
use super::value::{finish_labels, Point, RangeArg, Sample, Series, Val};
use super::{EngineOptions, InstantSample, QueryError, QueryResult, RangeSeries, Value};
use crate::histogram::{CounterResetHint, FloatHistogram};
use crate::store::{
    is_stale_nan, HistogramSample, Labels, MatchOp, Matcher, Querier, SelectLimits,
};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr, VectorSelector};
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

pub(crate) type EvalResult<T> = Result<T, QueryError>;

/// Shorthand for an execution error.
pub(crate) fn exec_err<T>(msg: impl Into<String>) -> EvalResult<T> {
    Err(QueryError::Execution(msg.into()))
}

/// Annotations collected during a query, deduplicated, in the order raised.
#[derive(Default)]
pub(crate) struct Annotations {
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

/// A series' samples: a slice of one selector's shared buffer, in which every selected
/// series' samples lie back to back in the selector's output (label) order. Steps walk the
/// series in that order, so they read memory sequentially instead of hopping between one
/// allocation per series.
pub(crate) struct Points {
    arena: Rc<Vec<Point>>,
    start: usize,
    end: usize,
}

impl std::ops::Deref for Points {
    type Target = [Point];

    fn deref(&self) -> &[Point] {
        self.arena.get(self.start..self.end).unwrap_or(&[])
    }
}

/// One selected series as the evaluator keeps it for the whole query.
pub(crate) struct CachedSeries {
    pub labels: Rc<Labels>,
    pub samples: Points,
    /// Whether any sample is a staleness marker (most series have none, and then windows
    /// need no filtering).
    pub has_stale: bool,
    /// Native histogram samples, oldest first (empty for a float series).
    pub hists: Vec<HistogramSample>,
}

/// Tag of the memo entry that turns a step's output labels into the result's.
const RESULT_TAG: usize = 1;

pub(crate) struct Evaluator<'a> {
    pub opts: &'a EngineOptions,
    q: &'a dyn Querier,
    pub start: i64,
    pub end: i64,
    /// 0 for an instant query.
    pub step: i64,
    pub lookback: i64,
    ranges: HashMap<usize, (i64, i64)>,
    cache: RefCell<HashMap<usize, Rc<Vec<CachedSeries>>>>,
    /// Label sets derived per query rather than per step.
    pub memo: LabelMemo,
    annotations: RefCell<Annotations>,
    /// The query's AST and text, for [`Evaluator::positions`].
    root: &'a Expr,
    text: &'a str,
    /// Source positions of the AST's nodes, computed on the first annotation (most queries
    /// raise none, and finding every node's position costs a walk of the query text).
    positions: OnceCell<HashMap<usize, (usize, usize, usize)>>,
    deadline: Option<Instant>,
    step_samples: Cell<usize>,
    /// Samples held by the selections cached so far; with the next selection's they may not
    /// pass `max_samples`.
    loaded: Cell<usize>,
    /// Per selector node under `rate`/`increase`, which cached series have had their
    /// metric name checked for the "not a counter" annotation.
    counter_checks: RefCell<FastMap<usize, Vec<bool>>>,
    /// Selectors that read histograms as count and sum only ([`super::hist_stats`]).
    stats_selectors: HashSet<usize>,
    /// The steps the current node is evaluated at, as upstream's evaluator has them
    /// (`startTimestamp`, `endTimestamp`, `interval`): the query's, or inside a subquery the
    /// subquery's over all the steps of the query. `info()` works over all of them at once.
    frame: Cell<Frame>,
    /// `info()` results per call node and frame: every step's vector.
    pub info_results: RefCell<HashMap<(usize, Frame), Rc<StepVectors>>>,
}

/// First step, last step and step width of an evaluation (width 0 for a single step).
pub(crate) type Frame = (i64, i64, i64);

/// A node's instant vector at each step of a frame.
pub(crate) type StepVectors = FastMap<i64, Vec<Sample>>;

/// Runs a query over `[start, end]` (equal for an instant query, then `step` is 0), its
/// duration expressions resolved first (`durations`).
pub(crate) fn run(
    opts: &EngineOptions,
    q: &dyn Querier,
    expr: &Expr,
    text: &str,
    start: i64,
    end: i64,
    step: i64,
) -> Result<QueryResult, QueryError> {
    match super::durations::resolve(expr, start, end, step)? {
        Some(resolved) => run_resolved(opts, q, &resolved, text, start, end, step),
        None => run_resolved(opts, q, expr, text, start, end, step),
    }
}

fn run_resolved<'a>(
    opts: &'a EngineOptions,
    q: &'a dyn Querier,
    expr: &'a Expr,
    text: &'a str,
    start: i64,
    end: i64,
    step: i64,
) -> Result<QueryResult, QueryError> {
    super::experimental::check_features(expr, text, opts.features)?;
    let lookback = millis(opts.lookback_delta);
    let mut ev = Evaluator {
        opts,
        q,
        start,
        end,
        step,
        lookback,
        ranges: HashMap::new(),
        cache: RefCell::new(HashMap::new()),
        memo: if step == 0 && !has_subquery(expr) {
            LabelMemo::single_step()
        } else {
            LabelMemo::default()
        },
        annotations: RefCell::new(Annotations::default()),
        root: expr,
        text,
        positions: OnceCell::new(),
        deadline: opts.timeout.map(|d| Instant::now() + d),
        step_samples: Cell::new(0),
        loaded: Cell::new(0),
        counter_checks: RefCell::new(FastMap::default()),
        stats_selectors: super::hist_stats::stats_selectors(expr),
        frame: Cell::new((start, end, step)),
        info_results: RefCell::new(HashMap::new()),
    };
    let mut ranges = HashMap::new();
    ev.collect_ranges(expr, start, end, &mut ranges);
    ev.ranges = ranges;

    let value = if step == 0 {
        ev.step_samples.set(0);
        match ev.eval(expr, start)? {
            Val::Scalar(v) => Value::Scalar { t: start, v },
            Val::Str(s) => Value::String { t: start, s },
            Val::Vector(vec) => {
                let out: Vec<InstantSample> = vec
                    .into_iter()
                    .map(|s| InstantSample {
                        labels: finish_labels(&s.labels, s.drop_name),
                        t: start,
                        v: s.v,
                        h: s.h,
                    })
                    .collect();
                check_unique(out.iter().map(|s| &s.labels))?;
                Value::Vector(out)
            }
            Val::Matrix(m) => {
                let mut out: Vec<RangeSeries> = m
                    .series
                    .into_iter()
                    .map(|s| RangeSeries {
                        labels: finish_labels(&s.labels, s.drop_name),
                        samples: s.points,
                        histograms: s.hists,
                    })
                    .collect();
                check_unique(out.iter().map(|s| &s.labels))?;
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Matrix(out)
            }
        }
    } else {
        ev.run_range(expr)?
    };
    let ann = ev.annotations.into_inner();
    Ok(QueryResult {
        value,
        warnings: ann.warnings,
        infos: ann.infos,
    })
}

fn check_unique<'l>(labels: impl Iterator<Item = &'l Labels>) -> EvalResult<()> {
    let mut seen = std::collections::HashSet::new();
    for l in labels {
        if !seen.insert(l) {
            return exec_err("vector cannot contain metrics with the same labelset");
        }
    }
    Ok(())
}

impl<'a> Evaluator<'a> {
    fn run_range(&self, expr: &Expr) -> EvalResult<Value> {
        // Output labels are interned, so one pointer is one result series.
        let mut index: FastMap<usize, usize> = FastMap::default();
        let mut labels_of: Vec<Rc<Labels>> = Vec::new();
        let mut points: Vec<Vec<Point>> = Vec::new();
        let mut hists: Vec<Vec<HistogramSample>> = Vec::new();
        let mut seen: FastMap<usize, i64> = FastMap::default();
        let mut total = 0usize;
        let mut ts = self.start;
        while ts <= self.end {
            self.step_samples.set(0);
            let val = self.eval(expr, ts)?;
            type StepSample = (Rc<Labels>, f64, Option<Arc<FloatHistogram>>);
            let samples: Vec<StepSample> = match val {
                Val::Scalar(v) => vec![(self.memo.intern(Labels::empty()), v, None)],
                Val::Vector(v) => v
                    .into_iter()
                    .map(|s| {
                        let l = self
                            .memo
                            .derive(RESULT_TAG, &s.labels, s.drop_name, finish_labels);
                        (l, s.v, s.h)
                    })
                    .collect(),
                other => {
                    return exec_err(format!(
                        "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                        other.type_name()
                    ))
                }
            };
            for (l, _, _) in &samples {
                if seen.insert(ptr(l), ts) == Some(ts) {
                    return exec_err("vector cannot contain metrics with the same labelset");
                }
            }
            total += samples.len();
            if total > self.opts.max_samples {
                return Err(QueryError::TooManySamples);
            }
            for (labels, v, h) in samples {
                let i = *index.entry(ptr(&labels)).or_insert_with(|| {
                    labels_of.push(labels);
                    points.push(Vec::new());
                    hists.push(Vec::new());
                    points.len() - 1
                });
                match h {
                    Some(h) => hists[i].push(HistogramSample { t: ts, h }),
                    None => points[i].push(Point { t: ts, v }),
                }
            }
            ts = match ts.checked_add(self.step) {
                Some(n) => n,
                None => break,
            };
        }
        let mut series: Vec<RangeSeries> = labels_of
            .into_iter()
            .zip(points)
            .zip(hists)
            .map(|((l, samples), histograms)| RangeSeries {
                labels: Rc::unwrap_or_clone(l),
                samples,
                histograms,
            })
            .collect();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Value::Matrix(series))
    }

    /// Records, per selector, the widest time range any step will read.
    fn collect_ranges(
        &self,
        expr: &Expr,
        start: i64,
        end: i64,
        out: &mut HashMap<usize, (i64, i64)>,
    ) {
        let mut put = |key: usize, mint: i64, maxt: i64| {
            let e = out.entry(key).or_insert((mint, maxt));
            e.0 = e.0.min(mint);
            e.1 = e.1.max(maxt);
        };
        match expr {
            Expr::VectorSelector(vs) => {
                let (s, e) = self.selector_span(vs, start, end);
                let s = s.saturating_sub(self.lookback);
                let (s, e) = match vs.smoothed {
                    true => (s, e.saturating_add(self.lookback)),
                    false => (s, e),
                };
                put(vs as *const _ as usize, s, e);
            }
            Expr::MatrixSelector(ms) => {
                let (s, e) = self.selector_span(&ms.vs, start, end);
                let (s, e) = super::extended_range::widen(
                    &ms.vs,
                    s.saturating_sub(millis(ms.range)),
                    e,
                    self.lookback,
                );
                put(&ms.vs as *const _ as usize, s, e);
            }
            Expr::Subquery(sq) => {
                let (s, e) = match &sq.at {
                    Some(at) => {
                        let t = self.at_ms(at);
                        (t, t)
                    }
                    None => (start, end),
                };
                let off = offset_ms(&sq.offset);
                let range = millis(sq.range);
                self.collect_ranges(
                    &sq.expr,
                    s.saturating_sub(off).saturating_sub(range),
                    e.saturating_sub(off),
                    out,
                );
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.collect_ranges(p, start, end, out);
                }
                self.collect_ranges(&a.expr, start, end, out);
            }
            Expr::Unary(u) => self.collect_ranges(&u.expr, start, end, out),
            Expr::Binary(b) => {
                self.collect_ranges(&b.lhs, start, end, out);
                self.collect_ranges(&b.rhs, start, end, out);
            }
            Expr::Paren(p) => self.collect_ranges(&p.expr, start, end, out),
            Expr::Call(c) => {
                for a in &c.args.args {
                    self.collect_ranges(a, start, end, out);
                }
            }
            _ => {}
        }
    }

    fn selector_span(&self, vs: &VectorSelector, start: i64, end: i64) -> (i64, i64) {
        let off = offset_ms(&vs.offset);
        match &vs.at {
            Some(at) => {
                let t = self.at_ms(at).saturating_sub(off);
                (t, t)
            }
            None => (start.saturating_sub(off), end.saturating_sub(off)),
        }
    }

    pub fn at_ms(&self, at: &AtModifier) -> i64 {
        match at {
            AtModifier::Start => self.start,
            AtModifier::End => self.end,
            AtModifier::At(t) => system_time_ms(*t),
        }
    }

    /// The timestamp a selector or subquery with these modifiers reads at, for step `ts`.
    pub fn modified_time(&self, at: &Option<AtModifier>, offset: &Option<Offset>, ts: i64) -> i64 {
        let base = match at {
            Some(a) => self.at_ms(a),
            None => ts,
        };
        base.saturating_sub(offset_ms(offset))
    }

    /// Node address to (line, column, byte offset) in the query text.
    fn positions(&self) -> &HashMap<usize, (usize, usize, usize)> {
        self.positions
            .get_or_init(|| positions::compute(self.text, self.root))
    }

    /// Adds an annotation about `node` (`warn` true for a warning, false for an info).
    pub fn annotate(&self, warn: bool, msg: &str, node: &Expr) {
        let pos = self
            .positions()
            .get(&(node as *const Expr as usize))
            .copied()
            .unwrap_or((1, 1, 0));
        let text = if warn {
            format!("PromQL warning: {msg} ({}:{})", pos.0, pos.1)
        } else {
            format!("PromQL info: {msg} ({}:{})", pos.0, pos.1)
        };
        let mut ann = self.annotations.borrow_mut();
        let list = if warn {
            &mut ann.warnings
        } else {
            &mut ann.infos
        };
        if !list.contains(&text) {
            list.push(text);
        }
    }

    /// Whether a string literal node is valid UTF-8 under Go's escape rules.
    pub fn literal_valid_utf8(&self, node: &Expr) -> bool {
        match self.positions().get(&(node as *const Expr as usize)) {
            Some(&(_, _, off)) => positions::literal_is_valid_utf8(self.text, off),
            None => true,
        }
    }

    /// The bytes of the string literal `node` as Go reads them (see
    /// [`positions::literal_go_bytes`]), when `node` is one.
    pub fn literal_go_bytes(&self, node: &Expr) -> Option<Vec<u8>> {
        let &(_, _, off) = self.positions().get(&(node as *const Expr as usize))?;
        positions::literal_go_bytes(self.text, off)
    }

    pub fn account(&self, n: usize) -> EvalResult<()> {
        let cur = self.step_samples.get() + n;
        self.step_samples.set(cur);
        if cur > self.opts.max_samples {
            return Err(QueryError::TooManySamples);
        }
        Ok(())
    }

    /// The samples counted for the current step so far, for a node that evaluates its
    /// argument at other steps and then restores the count ([`Evaluator::set_step_samples`]).
    pub fn step_samples(&self) -> usize {
        self.step_samples.get()
    }

    pub fn set_step_samples(&self, n: usize) {
        self.step_samples.set(n);
    }

    /// See [`Evaluator::frame`](Evaluator).
    pub fn frame(&self) -> Frame {
        self.frame.get()
    }

    /// The series matching `matchers` with their samples in `[mint, maxt]`, counted against
    /// the query's sample budget as a selector's are (`info()` selects its info series so).
    pub fn select_matching(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> EvalResult<Vec<crate::store::SeriesSamples>> {
        let limits = SelectLimits {
            max_samples: self.opts.max_samples.saturating_sub(self.loaded.get()),
            deadline: self.deadline,
            cancel: self.opts.cancel.as_deref(),
        };
        let sel = self.q.select_flat(matchers, mint, maxt, &limits)?;
        self.loaded
            .set(self.loaded.get().saturating_add(sel.samples().len()));
        Ok(sel.into_series())
    }

    fn check_deadline(&self) -> EvalResult<()> {
        if let Some(c) = &self.opts.cancel {
            if c.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(QueryError::Canceled);
            }
        }
        match self.deadline {
            Some(d) if Instant::now() > d => Err(QueryError::Timeout),
            _ => Ok(()),
        }
    }

    pub fn eval(&self, expr: &Expr, ts: i64) -> EvalResult<Val> {
        self.check_deadline()?;
        let v = self.eval_node(expr, ts)?;
        match v {
            Val::Vector(mut vec)
                if !self.opts.features.delayed_name_removal
                    && matches!(expr, Expr::Unary(_) | Expr::Binary(_) | Expr::Call(_)) =>
            {
                self.drop_names_now(&mut vec)?;
                Ok(Val::Vector(vec))
            }
            v => Ok(v),
        }
    }

    /// Without `promql-delayed-name-removal`, as Prometheus' default engine: the node that
    /// drops the metric name (with `__type__` and `__unit__`) drops it at once, and two
    /// series that end up with one label set are an error there.
    fn drop_names_now(&self, vec: &mut [Sample]) -> EvalResult<()> {
        let mut dropped = false;
        for s in vec.iter_mut().filter(|s| s.drop_name) {
            s.drop_name = false;
            if crate::store::METADATA_LABELS
                .iter()
                .any(|n| s.labels.get(n).is_some())
            {
                s.labels = self.memo.derive(RESULT_TAG, &s.labels, true, finish_labels);
                dropped = true;
            }
        }
        if dropped {
            check_unique(vec.iter().map(|s| &*s.labels))?;
        }
        Ok(())
    }

    fn eval_node(&self, expr: &Expr, ts: i64) -> EvalResult<Val> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Val::Str(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, ts),
            Expr::Unary(u) => match self.eval(&u.expr, ts)? {
                Val::Scalar(v) => Ok(Val::Scalar(-v)),
                Val::Vector(mut vec) => {
                    for s in &mut vec {
                        s.v = -s.v;
                        if let Some(h) = &mut s.h {
                            Arc::make_mut(h).negate();
                        }
                        s.drop_name = true;
                    }
                    Ok(Val::Vector(vec))
                }
                other => exec_err(format!(
                    "unary expression only allowed on expressions of type scalar or vector, got: {}",
                    other.type_name()
                )),
            },
            Expr::Binary(b) => super::binary::eval_binary(self, b, expr, ts),
            Expr::Aggregate(a) => super::aggregate::eval_aggregate(self, a, expr, ts),
            Expr::Call(c) => super::functions::eval_call(self, c, expr, ts),
            Expr::VectorSelector(vs) if vs.smoothed => Ok(Val::Vector(
                super::extended_range::smoothed_instant(self, vs, ts)?,
            )),
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.select_instant(vs, ts)?)),
            Expr::MatrixSelector(ms) if ms.vs.anchored || ms.vs.smoothed => Ok(Val::Matrix(
                super::extended_range::select_matrix(self, ms, ts)?,
            )),
            Expr::MatrixSelector(ms) => {
                let t = self.modified_time(&ms.vs.at, &ms.vs.offset, ts);
                let range = millis(ms.range);
                let series = self.select_range(&ms.vs, t.saturating_sub(range), t)?;
                Ok(Val::Matrix(RangeArg {
                    series,
                    start: t.saturating_sub(range),
                    end: t,
                }))
            }
            Expr::Subquery(sq) => Ok(Val::Matrix(self.eval_subquery(sq, ts)?)),
            Expr::Extension(_) => exec_err("extension expressions are not supported"),
            Expr::Duration(d) => {
                let secs = d.seconds(
                    std::time::Duration::from_millis(self.step.max(0) as u64),
                    std::time::Duration::from_millis((self.end - self.start).max(0) as u64),
                );
                secs.map(Val::Scalar).map_err(QueryError::Execution)
            }
        }
    }

    /// Evaluates `expr` and requires an instant vector.
    pub fn eval_vector(&self, expr: &Expr, ts: i64) -> EvalResult<Vec<Sample>> {
        match self.eval(expr, ts)? {
            Val::Vector(v) => Ok(v),
            other => exec_err(format!(
                "expected instant vector, got {}",
                other.type_name()
            )),
        }
    }

    /// Evaluates `expr` and requires a scalar.
    pub fn eval_scalar(&self, expr: &Expr, ts: i64) -> EvalResult<f64> {
        match self.eval(expr, ts)? {
            Val::Scalar(v) => Ok(v),
            other => exec_err(format!("expected scalar, got {}", other.type_name())),
        }
    }

    /// The "name checked" flags of `node`'s cached series (`len` of them), taken out for
    /// one step; give them back with [`Evaluator::put_counter_checks`].
    pub fn take_counter_checks(&self, node: &Expr, len: usize) -> Vec<bool> {
        let mut v = self
            .counter_checks
            .borrow_mut()
            .remove(&(node as *const Expr as usize))
            .unwrap_or_default();
        v.resize(len, false);
        v
    }

    /// Returns the flags taken by [`Evaluator::take_counter_checks`].
    pub fn put_counter_checks(&self, node: &Expr, checks: Vec<bool>) {
        self.counter_checks
            .borrow_mut()
            .insert(node as *const Expr as usize, checks);
    }

    pub fn series_for(&self, vs: &VectorSelector) -> EvalResult<Rc<Vec<CachedSeries>>> {
        let key = vs as *const _ as usize;
        if let Some(s) = self.cache.borrow().get(&key) {
            return Ok(s.clone());
        }
        let (mint, maxt) = self
            .ranges
            .get(&key)
            .copied()
            .unwrap_or((i64::MIN / 4, i64::MAX / 4));
        let groups = matcher_groups(vs)?;
        let limits = |loaded: usize| SelectLimits {
            max_samples: self.opts.max_samples.saturating_sub(loaded),
            deadline: self.deadline,
            cancel: self.opts.cancel.as_deref(),
        };
        let selection = match groups.as_slice() {
            [one] => self
                .q
                .select_flat(one, mint, maxt, &limits(self.loaded.get()))?,
            _ => {
                // `{a="1" or b="2"}`: the union of the groups' series, sorted. Every group's
                // samples count against the budget, duplicates too.
                let mut loaded = self.loaded.get();
                let mut all: Vec<crate::store::SeriesSamples> = Vec::new();
                for g in &groups {
                    let sel = self.q.select_flat(g, mint, maxt, &limits(loaded))?;
                    loaded = loaded.saturating_add(sel.samples().len());
                    for s in sel.into_series() {
                        if !all.iter().any(|x| x.labels == s.labels) {
                            all.push(s);
                        }
                    }
                }
                all.sort_by(|a, b| a.labels.cmp(&b.labels));
                let mut sel = crate::store::Selection::default();
                for s in all {
                    sel.push_with_histograms(s.labels, &s.samples, &s.histograms);
                }
                sel
            }
        };
        // The selection is kept for the whole query: its samples stay counted.
        self.loaded
            .set(self.loaded.get().saturating_add(selection.samples().len()));
        let mut hists: Vec<Vec<HistogramSample>> = if selection.has_histograms() {
            (0..selection.len())
                .map(|i| selection.histograms_of(i).to_vec())
                .collect()
        } else {
            Vec::new()
        };
        hists.reverse();
        let (labels, ends, samples) = selection.into_parts();
        let arena = Rc::new(samples);
        let mut start = 0;
        let cached: Vec<CachedSeries> = labels
            .into_iter()
            .zip(ends)
            .map(|(l, end)| {
                let s = CachedSeries {
                    has_stale: arena[start..end].iter().any(|p| is_stale_nan(p.v)),
                    samples: Points {
                        arena: arena.clone(),
                        start,
                        end,
                    },
                    labels: Rc::new(l),
                    hists: hists.pop().unwrap_or_default(),
                };
                start = end;
                s
            })
            .collect();
        let rc = Rc::new(cached);
        self.cache.borrow_mut().insert(key, rc.clone());
        Ok(rc)
    }

    /// The instant vector a selector yields at step `ts`.
    pub fn select_instant(&self, vs: &VectorSelector, ts: i64) -> EvalResult<Vec<Sample>> {
        let t = self.modified_time(&vs.at, &vs.offset, ts);
        let stats_from = self.stats_read_from(vs, self.lookback, t);
        let data = self.series_for(vs)?;
        let mut out = Vec::new();
        for s in data.iter() {
            let idx = s.samples.partition_point(|p| p.t <= t);
            let float = idx.checked_sub(1).map(|i| s.samples[i]);
            // The newest sample at or before `t`, float or histogram.
            let hist = match s.hists.partition_point(|p| p.t <= t) {
                0 => None,
                i => s.hists.get(i - 1),
            };
            let (pt, v, h) = match (float, hist) {
                (Some(p), Some(hp)) if hp.t > p.t => (hp.t, 0.0, Some(hp.h.clone())),
                (Some(p), _) => (p.t, p.v, None),
                (None, Some(hp)) => (hp.t, 0.0, Some(hp.h.clone())),
                (None, None) => continue,
            };
            let h = match (h, stats_from) {
                (Some(h), Some(from)) => {
                    // The histogram read before it, if the iteration read one.
                    let i = s.hists.partition_point(|p| p.t < pt);
                    let prev = i
                        .checked_sub(1)
                        .and_then(|j| s.hists.get(j))
                        .filter(|p| p.t > from);
                    Some(Arc::new(hist_stats::stats_only(&h, prev.map(|p| &*p.h))))
                }
                (h, _) => h,
            };
            if pt <= t.saturating_sub(self.lookback) || (h.is_none() && is_stale_nan(v)) {
                continue;
            }
            out.push(Sample {
                labels: s.labels.clone(),
                v,
                h,
                t: pt,
                drop_name: false,
            });
        }
        self.account(out.len())?;
        Ok(out)
    }

    /// For a selector that decodes histogram statistics only, the time after which its
    /// samples have been read by the time the window `(t - range, t]` is: the window's start
    /// for an instant query; for a range query whose steps are no longer than `range`, the
    /// first step's window start, since upstream reads such a series through in one pass.
    /// `None` for any other selector.
    fn stats_read_from(&self, vs: &VectorSelector, range: i64, t: i64) -> Option<i64> {
        if !self.stats_selectors.contains(&(vs as *const _ as usize)) {
            return None;
        }
        let from = if self.step > 0 && self.step <= range {
            self.modified_time(&vs.at, &vs.offset, self.start)
        } else {
            t
        };
        Some(from.saturating_sub(range))
    }

    /// The series of a selector with their samples in `(start, end]`, stale markers dropped.
    pub fn select_range(
        &self,
        vs: &VectorSelector,
        start: i64,
        end: i64,
    ) -> EvalResult<Vec<Series>> {
        let data = self.series_for(vs)?;
        let stats_from = self.stats_read_from(vs, end - start, end);
        let mut out = Vec::new();
        let mut n = 0;
        for s in data.iter() {
            let lo = s.samples.partition_point(|p| p.t <= start);
            let hi = s.samples.partition_point(|p| p.t <= end);
            let hlo = s.hists.partition_point(|p| p.t <= start);
            let hhi = s.hists.partition_point(|p| p.t <= end);
            if lo >= hi && hlo >= hhi {
                continue;
            }
            let hists = match stats_from {
                None => s.hists[hlo..hhi].to_vec(),
                Some(from) => (hlo..hhi)
                    .map(|i| {
                        let prev = i
                            .checked_sub(1)
                            .and_then(|j| s.hists.get(j))
                            .filter(|p| p.t > from);
                        HistogramSample {
                            t: s.hists[i].t,
                            h: Arc::new(hist_stats::stats_only(&s.hists[i].h, prev.map(|p| &*p.h))),
                        }
                    })
                    .collect(),
            };
            let points: Vec<Point> = if s.has_stale {
                s.samples[lo..hi]
                    .iter()
                    .filter(|p| !is_stale_nan(p.v))
                    .copied()
                    .collect()
            } else {
                s.samples[lo..hi].to_vec()
            };
            if points.is_empty() && hists.is_empty() {
                continue;
            }
            n += points.len() + hists.len();
            out.push(Series {
                labels: s.labels.clone(),
                points,
                hists,
                drop_name: false,
            });
        }
        self.account(n)?;
        Ok(out)
    }

    /// Evaluates a subquery's inner expression at every aligned step in its window.
    pub fn eval_subquery(&self, sq: &SubqueryExpr, ts: i64) -> EvalResult<RangeArg> {
        let end = self.modified_time(&sq.at, &sq.offset, ts);
        let range = millis(sq.range);
        let step = match sq.step {
            Some(s) if !s.is_zero() => millis(s).max(1),
            _ => millis(self.opts.default_subquery_step).max(1),
        };
        let start = end.saturating_sub(range);
        let mut t = start.div_euclid(step) * step;
        if t <= start {
            t += step;
        }
        // Count the samples the steps will at least produce before evaluating any of them:
        // `max_over_time(vector(1)[1d:1ms])` is refused at once instead of after building
        // 50 million points (upstream counts as it goes and gets there after the work).
        let steps = if t > end {
            0
        } else {
            ((end - t) / step).saturating_add(1) as u64
        };
        let at_least = steps.saturating_mul(min_samples_per_step(&sq.expr));
        if at_least > self.opts.max_samples as u64 {
            return Err(QueryError::TooManySamples);
        }
        // Upstream evaluates the inner expression once over the steps of all the outer ones:
        // from the first aligned step after the outer start's window to the outer end.
        let outer = self.frame.get();
        let (first, last) = match &sq.at {
            Some(_) => (start, end),
            None => {
                let off = offset_ms(&sq.offset);
                (
                    outer.0.saturating_sub(off).saturating_sub(range),
                    outer.1.saturating_sub(off),
                )
            }
        };
        let mut inner_start = first.div_euclid(step) * step;
        if inner_start <= first {
            inner_start += step;
        }
        self.frame.set((inner_start, last, step));
        let res = self.subquery_steps(sq, t, end, step, start);
        self.frame.set(outer);
        res
    }

    fn subquery_steps(
        &self,
        sq: &SubqueryExpr,
        mut t: i64,
        end: i64,
        step: i64,
        start: i64,
    ) -> EvalResult<RangeArg> {
        let tag = sq as *const SubqueryExpr as usize;
        let mut index: FastMap<usize, usize> = FastMap::default();
        let mut series: Vec<Series> = Vec::new();
        let mut n = 0;
        while t <= end {
            self.account(0)?;
            let samples = match self.eval(&sq.expr, t)? {
                Val::Scalar(v) => vec![Sample {
                    labels: self.memo.intern(Labels::empty()),
                    v,
                    h: None,
                    t,
                    drop_name: false,
                }],
                Val::Vector(v) => v,
                other => {
                    return exec_err(format!(
                        "subquery is only allowed on instant vector, got {}",
                        other.type_name()
                    ))
                }
            };
            n += samples.len();
            if n > self.opts.max_samples {
                return Err(QueryError::TooManySamples);
            }
            for s in samples {
                // Interned, so equal label sets from different steps share one series.
                let l = self.memo.derive(tag, &s.labels, false, |l, _| l.clone());
                let i = *index.entry(ptr(&l)).or_insert_with(|| {
                    series.push(Series {
                        labels: l.clone(),
                        points: Vec::new(),
                        hists: Vec::new(),
                        drop_name: s.drop_name,
                    });
                    series.len() - 1
                });
                match s.h {
                    Some(h) => series[i].hists.push(HistogramSample {
                        t,
                        h: without_reset_hint(h),
                    }),
                    None => series[i].points.push(Point { t, v: s.v }),
                }
            }
            t = match t.checked_add(step) {
                Some(n) => n,
                None => break,
            };
        }
        self.account(n)?;
        Ok(RangeArg { series, start, end })
    }
}

/// A subquery step's histogram without a counter-reset hint: `CounterReset` and
/// `NotCounterReset` speak of the sample before it in storage, not of the previous step, so
/// they become `Unknown` and the range functions compare the steps themselves (as
/// Prometheus' subquery evaluation does); `Gauge` stays.
fn without_reset_hint(mut h: Arc<FloatHistogram>) -> Arc<FloatHistogram> {
    if matches!(
        h.counter_reset_hint,
        CounterResetHint::CounterReset | CounterResetHint::NotCounterReset
    ) {
        Arc::make_mut(&mut h).counter_reset_hint = CounterResetHint::Unknown;
    }
    h
}

/// The fewest samples `expr` yields at any evaluation step, known without evaluating it: 1
/// for a scalar, `vector(…)` and what keeps a non-empty vector non-empty (parentheses, unary
/// minus, arithmetic with a scalar, most aggregations); 0 when it depends on the data.
fn min_samples_per_step(expr: &Expr) -> u64 {
    use promql_parser::parser::token;
    use promql_parser::parser::value::ValueType;
    if expr.value_type() == ValueType::Scalar {
        return 1;
    }
    match expr {
        Expr::Paren(p) => min_samples_per_step(&p.expr),
        Expr::Unary(u) => min_samples_per_step(&u.expr),
        Expr::Call(c) if c.func.name == "vector" => 1,
        Expr::Binary(b) => {
            let arithmetic = matches!(
                b.op.id(),
                token::T_ADD
                    | token::T_SUB
                    | token::T_MUL
                    | token::T_DIV
                    | token::T_MOD
                    | token::T_POW
            );
            let (l, r) = (b.lhs.value_type(), b.rhs.value_type());
            if !arithmetic {
                0
            } else if l == ValueType::Scalar {
                min_samples_per_step(&b.rhs)
            } else if r == ValueType::Scalar {
                min_samples_per_step(&b.lhs)
            } else {
                0
            }
        }
        Expr::Aggregate(a) => {
            let keeps = matches!(
                a.op.id(),
                token::T_SUM
                    | token::T_AVG
                    | token::T_MIN
                    | token::T_MAX
                    | token::T_COUNT
                    | token::T_GROUP
            );
            if keeps {
                min_samples_per_step(&a.expr).min(1)
            } else {
                0
            }
        }
        _ => 0,
    }
}

/// Whether `expr` contains a subquery (which evaluates its inner expression at many steps).
fn has_subquery(expr: &Expr) -> bool {
    match expr {
        Expr::Subquery(_) => true,
        Expr::Aggregate(a) => a.param.as_deref().is_some_and(has_subquery) || has_subquery(&a.expr),
        Expr::Unary(u) => has_subquery(&u.expr),
        Expr::Binary(b) => has_subquery(&b.lhs) || has_subquery(&b.rhs),
        Expr::Paren(p) => has_subquery(&p.expr),
        Expr::Call(c) => c.args.args.iter().any(|a| has_subquery(a)),
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::Extension(_)
        | Expr::Duration(_) => false,
    }
}

/// `d` in milliseconds, at most `i64::MAX` (a `u128` cast with `as` wraps around: a huge
/// `offset` or range would turn negative).
pub(crate) fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        Some(Offset::Pos(d)) => millis(*d),
        Some(Offset::Neg(d)) => -millis(*d),
        None => 0,
    }
}

fn system_time_ms(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => millis(d),
        Err(e) => -millis(e.duration()),
    }
}

fn convert_matcher(m: &promql_parser::label::Matcher) -> EvalResult<Matcher> {
    let op = match m.op {
        PMatchOp::Equal => MatchOp::Equal,
        PMatchOp::NotEqual => MatchOp::NotEqual,
        PMatchOp::Re(_) => MatchOp::Regex,
        PMatchOp::NotRe(_) => MatchOp::NotRegex,
    };
    Matcher::new(op, m.name.clone(), m.value.clone())
        .map_err(|e| QueryError::Parse(format!("invalid regular expression {:?}: {e}", m.value)))
}

/// The selector's matchers as our type: one group, or several for `{a="1" or b="2"}`.
pub(crate) fn matcher_groups(vs: &VectorSelector) -> EvalResult<Vec<Vec<Matcher>>> {
    let mut base = Vec::new();
    for m in &vs.matchers.matchers {
        base.push(convert_matcher(m)?);
    }
    let with_name = |mut g: Vec<Matcher>| {
        if let Some(n) = &vs.name {
            if !g
                .iter()
                .any(|m| m.name == crate::store::METRIC_NAME && m.op == MatchOp::Equal)
            {
                g.push(Matcher::equal(crate::store::METRIC_NAME, n.clone()));
            }
        }
        g
    };
    if vs.matchers.or_matchers.is_empty() {
        return Ok(vec![with_name(base)]);
    }
    let mut groups = Vec::new();
    for alt in &vs.matchers.or_matchers {
        let mut g = base.clone();
        for m in alt {
            g.push(convert_matcher(m)?);
        }
        groups.push(with_name(g));
    }
    Ok(groups)
}
