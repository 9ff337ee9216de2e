//! Range functions over series that hold native histogram samples, as Prometheus 3 computes
//! them: `rate`/`increase`/`delta` (histogram differences with counter-reset handling and
//! the same extrapolation as floats), `irate`/`idelta`, `sum_over_time`/`avg_over_time`,
//! `count_over_time`/`present_over_time`/`last_over_time`/`first_over_time`, `resets`,
//! `changes`, and the float-only functions, which ignore histograms (with an info when a
//! range mixes both). A series with float samples only goes to the float code
//! ([`super::range_functions`]).

use super::eval::{EvalResult, Evaluator};
use super::nh_aggregate::{note_hints, HistogramMean};
use super::value::{Point, RangeArg, Sample, Series, Val};
use crate::histogram::{ArithOutcome, CounterResetHint, FloatHistogram, HistogramError};
use crate::store::HistogramSample;
use promql_parser::parser::Expr;
use std::sync::Arc;

/// What one series yields: a float, a histogram, or nothing.
pub(crate) enum Out {
    None,
    F(f64),
    H(FloatHistogram),
}

/// Annotation texts of upstream's `util/annotations`.
pub(crate) fn mixed_floats_histograms(name: &str) -> String {
    format!("encountered a mix of histograms and floats for metric name {name:?}")
}

pub(crate) fn mixed_exponential_custom(name: &str) -> String {
    format!(
        "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {name:?}"
    )
}

/// Applies `name` to one series that has histogram samples in the window. `float` computes
/// the float result of the float samples alone.
pub(crate) fn apply(
    ev: &Evaluator,
    name: &str,
    s: &Series,
    m: &RangeArg,
    node: &Expr,
    float: &dyn Fn(&[Point]) -> Option<f64>,
) -> Out {
    let metric = s.labels.metric_name().unwrap_or("").to_string();
    let (f, h) = (&s.points, &s.hists);
    let mixed = !f.is_empty() && !h.is_empty();
    match name {
        "rate" | "increase" | "delta" => {
            if mixed {
                ev.annotate(true, &mixed_floats_histograms(&metric), node);
                return Out::None;
            }
            if h.len() < 2 {
                return Out::None;
            }
            let counter = name != "delta";
            match histogram_rate(ev, h, counter, &metric, node) {
                Some(mut r) => {
                    let factor = extrapolation_factor(h, m, counter, &r, name == "rate");
                    r.mul(factor);
                    Out::H(r)
                }
                None => Out::None,
            }
        }
        "extrapolated_delta_increase" | "extrapolated_delta_rate" => {
            if mixed {
                ev.annotate(true, &mixed_floats_histograms(&metric), node);
                return Out::None;
            }
            match super::delta_temporality::extrapolated_histograms(name, h, m) {
                Ok(Some(r)) => Out::H(r),
                Ok(None) => Out::None,
                Err(e) => {
                    note_error(ev, &e, &metric, node);
                    Out::None
                }
            }
        }
        "direct_delta_increase" | "direct_delta_rate" => {
            // sum_over_time of the window, whose annotations these functions do not pass on.
            if mixed {
                return Out::None;
            }
            let mut acc = HistogramMean::new(&h[0].h);
            for p in &h[1..] {
                if acc.add_to_sum(&p.h).is_err() {
                    return Out::None;
                }
            }
            let mut r = acc.sum();
            r.compact(0);
            Out::H(super::delta_temporality::direct_histogram(name, r, m))
        }
        "irate" | "idelta" => instant_value(ev, name == "irate", f, h, &metric, node, float),
        "sum_over_time" | "avg_over_time" => {
            if mixed {
                ev.annotate(true, &mixed_floats_histograms(&metric), node);
                return Out::None;
            }
            let mut acc = HistogramMean::new(&h[0].h);
            for p in &h[1..] {
                let added = if name == "avg_over_time" {
                    acc.add_to_mean(&p.h)
                } else {
                    acc.add_to_sum(&p.h)
                };
                if let Err(e) = added {
                    note_error(ev, &e, &metric, node);
                    return Out::None;
                }
            }
            note_hints(ev, &acc, node);
            let mut r = if name == "avg_over_time" {
                acc.mean()
            } else {
                acc.sum()
            };
            r.compact(0);
            Out::H(r)
        }
        "count_over_time" => Out::F((f.len() + h.len()) as f64),
        "present_over_time" => Out::F(1.0),
        "last_over_time" | "first_over_time" => {
            let last = name == "last_over_time";
            let fp = if last { f.last() } else { f.first() };
            let hp = if last { h.last() } else { h.first() };
            match (fp, hp) {
                (Some(a), Some(b)) if (b.t > a.t) == last => Out::H((*b.h).clone()),
                (Some(a), _) => Out::F(a.v),
                (None, Some(b)) => Out::H((*b.h).clone()),
                (None, None) => Out::None,
            }
        }
        "ts_of_last_over_time" | "ts_of_first_over_time" => {
            let last = name == "ts_of_last_over_time";
            let ts = [f.first().map(|p| p.t), h.first().map(|p| p.t)]
                .into_iter()
                .chain([f.last().map(|p| p.t), h.last().map(|p| p.t)])
                .flatten();
            let t = if last { ts.max() } else { ts.min() };
            t.map_or(Out::None, |t| Out::F(t as f64 / 1000.0))
        }
        "resets" | "changes" => {
            let merged = merge(f, h);
            let mut n = 0usize;
            for w in merged.windows(2) {
                let hit = match (&w[0], &w[1]) {
                    (Either::F(a), Either::F(b)) => {
                        if name == "resets" {
                            b.v < a.v
                        } else {
                            b.v != a.v && !(b.v.is_nan() && a.v.is_nan())
                        }
                    }
                    (Either::H(a), Either::H(b)) => {
                        if name == "resets" {
                            b.h.detect_reset(&a.h)
                        } else {
                            !b.h.equals(&a.h)
                        }
                    }
                    // A change of sample type is a change, and for `resets` a reset.
                    _ => true,
                };
                n += usize::from(hit);
            }
            Out::F(n as f64)
        }
        _ => {
            // The float-only functions: histograms are ignored, with an info when the range
            // also has floats.
            if f.is_empty() {
                return Out::None;
            }
            ev.annotate(
                false,
                &format!(
                    "ignored histograms in a range containing both floats and histograms for metric name {metric:?}"
                ),
                node,
            );
            float(f).map_or(Out::None, Out::F)
        }
    }
}

enum Either<'a> {
    F(&'a Point),
    H(&'a HistogramSample),
}

fn t_of(e: &Either) -> i64 {
    match e {
        Either::F(p) => p.t,
        Either::H(p) => p.t,
    }
}

/// Floats and histograms in time order.
fn merge<'a>(f: &'a [Point], h: &'a [HistogramSample]) -> Vec<Either<'a>> {
    let mut out: Vec<Either> = f
        .iter()
        .map(Either::F)
        .chain(h.iter().map(Either::H))
        .collect();
    out.sort_by_key(t_of);
    out
}

fn newest_two<'a>(f: &'a [Point], h: &'a [HistogramSample]) -> Option<(Either<'a>, Either<'a>)> {
    let mut m = merge(f, h);
    if m.len() < 2 {
        return None;
    }
    let b = m.pop()?;
    let a = m.pop()?;
    Some((a, b))
}

/// `irate`/`idelta` of a series with histograms (upstream's `instantValue`): the difference
/// of the newest two samples, per second for `irate`. For histograms the result is a gauge
/// histogram; `irate` takes the newest one as it is after a counter reset and warns when
/// either is a gauge, `idelta` warns when either is not.
fn instant_value(
    ev: &Evaluator,
    rate: bool,
    f: &[Point],
    h: &[HistogramSample],
    metric: &str,
    node: &Expr,
    float: &dyn Fn(&[Point]) -> Option<f64>,
) -> Out {
    let Some(last) = newest_two(f, h) else {
        return Out::None;
    };
    let dt = (t_of(&last.1) - t_of(&last.0)) as f64 / 1000.0;
    if dt == 0.0 {
        return Out::None;
    }
    match last {
        (Either::H(prev), Either::H(cur)) => {
            let gauge = |p: &HistogramSample| p.h.counter_reset_hint == CounterResetHint::Gauge;
            if rate && (gauge(cur) || gauge(prev)) {
                ev.annotate(true, &not_a_counter(metric), node);
            }
            if !rate && (!gauge(cur) || !gauge(prev)) {
                ev.annotate(
                    true,
                    &format!("this native histogram metric is not a gauge: {metric:?}"),
                    node,
                );
            }
            let mut r = (*cur.h).clone();
            if !rate || !cur.h.detect_reset(&prev.h) {
                match r.sub(&prev.h) {
                    // A counter-reset conflict is deliberate here: resets are handled above.
                    Ok(o) => note_outcome(
                        ev,
                        ArithOutcome {
                            counter_reset_collision: false,
                            ..o
                        },
                        "subtraction",
                        node,
                    ),
                    Err(e) => {
                        note_error(ev, &e, metric, node);
                        return Out::None;
                    }
                }
            }
            r.counter_reset_hint = CounterResetHint::Gauge;
            r.compact(0);
            if rate {
                r.div(dt);
            }
            Out::H(r)
        }
        (Either::F(_), Either::F(_)) => float(f).map_or(Out::None, Out::F),
        _ => {
            ev.annotate(true, &mixed_floats_histograms(metric), node);
            Out::None
        }
    }
}

fn not_a_counter(metric: &str) -> String {
    format!("this native histogram metric is not a counter: {metric:?}")
}

/// Raises the annotation for an incompatible-histograms error.
fn note_error(ev: &Evaluator, e: &HistogramError, metric: &str, node: &Expr) {
    if matches!(e, HistogramError::IncompatibleSchema) {
        ev.annotate(true, &mixed_exponential_custom(metric), node);
    }
}

/// Raises the annotations an addition or subtraction asks for; `what` is upstream's
/// operation word ("addition", "subtraction", "aggregation").
pub(crate) fn note_outcome(ev: &Evaluator, o: ArithOutcome, what: &str, node: &Expr) {
    if o.counter_reset_collision {
        ev.annotate(
            true,
            &format!("conflicting counter resets during histogram {what}"),
            node,
        );
    }
    if o.nhcb_bounds_reconciled {
        ev.annotate(
            false,
            &format!("mismatched custom buckets were reconciled during {what}"),
            node,
        );
    }
}

/// The histogram difference from the first to the last sample, with counter resets added
/// back for a counter (upstream's `histogramRate`); `None` when the histograms cannot be
/// combined (annotated).
fn histogram_rate(
    ev: &Evaluator,
    points: &[HistogramSample],
    counter: bool,
    metric: &str,
    node: &Expr,
) -> Option<FloatHistogram> {
    let first = &points[0].h;
    let last = &points[points.len() - 1].h;
    if counter
        && (first.counter_reset_hint == CounterResetHint::Gauge
            || last.counter_reset_hint == CounterResetHint::Gauge)
    {
        ev.annotate(true, &not_a_counter(metric), node);
    }
    let mut prev: FloatHistogram = (**first).clone();
    if counter && points.len() > 1 && points[1].h.detect_reset(first) {
        // A reset between the first two samples: the first one does not matter.
        prev = FloatHistogram {
            schema: points[1].h.schema,
            custom_values: points[1].h.custom_values.clone(),
            ..FloatHistogram::default()
        };
    }
    if last.uses_custom_buckets() != prev.uses_custom_buckets() {
        ev.annotate(true, &mixed_exponential_custom(metric), node);
        return None;
    }
    let mut min_schema = last.schema.min(prev.schema);
    for p in &points[1..points.len() - 1] {
        if !counter {
            continue;
        }
        if p.h.counter_reset_hint == CounterResetHint::Gauge {
            ev.annotate(true, &not_a_counter(metric), node);
        }
        min_schema = min_schema.min(p.h.schema);
        if p.h.uses_custom_buckets() != prev.uses_custom_buckets() {
            ev.annotate(true, &mixed_exponential_custom(metric), node);
            return None;
        }
    }
    let mut h = if last.uses_custom_buckets() {
        (**last).clone()
    } else {
        last.to_schema(min_schema).ok()?
    };
    match h.sub(&prev) {
        Ok(o) if o.nhcb_bounds_reconciled => ev.annotate(
            false,
            "mismatched custom buckets were reconciled during subtraction",
            node,
        ),
        Ok(_) => {}
        Err(_) => {
            ev.annotate(true, &mixed_exponential_custom(metric), node);
            return None;
        }
    }
    if counter {
        let mut prev: &FloatHistogram = &prev;
        for p in &points[1..] {
            if p.h.detect_reset(prev) {
                match h.add(prev) {
                    Ok(o) if o.nhcb_bounds_reconciled => ev.annotate(
                        false,
                        "mismatched custom buckets were reconciled during addition",
                        node,
                    ),
                    Ok(_) => {}
                    Err(_) => {
                        ev.annotate(true, &mixed_exponential_custom(metric), node);
                        return None;
                    }
                }
            }
            prev = &p.h;
        }
    } else if first.counter_reset_hint != CounterResetHint::Gauge
        || last.counter_reset_hint != CounterResetHint::Gauge
        || points[1..points.len() - 1]
            .iter()
            .any(|p| p.h.counter_reset_hint != CounterResetHint::Gauge)
    {
        ev.annotate(
            true,
            &format!("this native histogram metric is not a gauge: {metric:?}"),
            node,
        );
    }
    h.counter_reset_hint = CounterResetHint::Gauge;
    h.compact(0);
    Some(h)
}

/// Upstream's extrapolation of a rate over the window, for histograms: the same rules as
/// for floats, with the zero point estimated from the histograms' counts.
fn extrapolation_factor(
    h: &[HistogramSample],
    m: &RangeArg,
    counter: bool,
    result: &FloatHistogram,
    per_second: bool,
) -> f64 {
    let first_t = h[0].t;
    let last_t = h[h.len() - 1].t;
    let mut to_start = (first_t - m.start) as f64 / 1000.0;
    let mut to_end = (m.end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg_between = sampled / (h.len() - 1) as f64;
    let threshold = avg_between * 1.1;
    if to_start >= threshold {
        to_start = avg_between / 2.0;
    }
    if counter && result.count > 0.0 && h[0].h.count >= 0.0 {
        let to_zero = sampled * (h[0].h.count / result.count);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_between / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if per_second {
        factor /= m.range_ms() as f64 / 1000.0;
    }
    factor
}

/// Runs a range function over a matrix whose series may hold histograms.
pub(crate) fn eval_matrix(
    ev: &Evaluator,
    name: &str,
    m: &RangeArg,
    node: &Expr,
    ts: i64,
    float: &dyn Fn(&[Point]) -> Option<f64>,
) -> EvalResult<Val> {
    let keep_name = matches!(name, "last_over_time" | "first_over_time");
    let mut out = Vec::new();
    for s in &m.series {
        let r = if s.hists.is_empty() {
            if s.points.is_empty() {
                Out::None
            } else {
                float(&s.points).map_or(Out::None, Out::F)
            }
        } else {
            apply(ev, name, s, m, node, float)
        };
        let (v, h) = match r {
            Out::None => continue,
            Out::F(v) => (v, None),
            Out::H(h) => (0.0, Some(Arc::new(h))),
        };
        out.push(Sample {
            labels: s.labels.clone(),
            v,
            h,
            t: ts,
            drop_name: s.drop_name || !keep_name,
        });
    }
    Ok(Val::Vector(out))
}
