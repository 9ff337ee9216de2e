//! Functions over range vectors: `rate`/`increase`/`delta` with upstream's extrapolation,
//! `irate`/`idelta`, `deriv`/`predict_linear` (Kahan-summed least squares), `resets`,
//! `changes`, the `*_over_time` family, `absent_over_time` and
//! `double_exponential_smoothing`.

use super::aggregate::{kahan_sum_inc, quantile};
use super::eval::{exec_err, EvalResult, Evaluator};
use super::functions::{absent_labels, unwrap_parens};
use super::value::{Point, RangeArg, Sample, Val};
use crate::gostrconv::{format_v, quote};
use crate::store::{is_stale_nan, Labels, METRIC_TYPE};
use promql_parser::parser::Expr;
use std::rc::Rc;

pub(crate) fn is_range_function(name: &str) -> bool {
    super::delta_temporality::is_delta_function(name)
        || matches!(
            name,
            "rate"
                | "increase"
                | "delta"
                | "irate"
                | "idelta"
                | "deriv"
                | "predict_linear"
                | "resets"
                | "changes"
                | "avg_over_time"
                | "min_over_time"
                | "max_over_time"
                | "sum_over_time"
                | "count_over_time"
                | "quantile_over_time"
                | "stddev_over_time"
                | "stdvar_over_time"
                | "last_over_time"
                | "first_over_time"
                | "present_over_time"
                | "mad_over_time"
                | "absent_over_time"
                | "double_exponential_smoothing"
                | "ts_of_min_over_time"
                | "ts_of_max_over_time"
                | "ts_of_last_over_time"
                | "ts_of_first_over_time"
        )
}

pub(crate) fn eval(
    ev: &Evaluator,
    name: &str,
    args: &[&Expr],
    _node: &Expr,
    ts: i64,
) -> EvalResult<Val> {
    let mi = usize::from(name == "quantile_over_time");
    if let Expr::MatrixSelector(ms) = unwrap_parens(args[mi]) {
        if ms.vs.anchored || ms.vs.smoothed {
            return super::extended_range::eval_call(ev, name, args, ms, ts);
        }
    }
    let mut scalars = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i != mi {
            scalars.push(ev.eval_scalar(a, ts)?);
        }
    }
    if name != "absent_over_time" {
        if let Expr::MatrixSelector(ms) = unwrap_parens(args[mi]) {
            if !ev.series_for(&ms.vs)?.iter().any(|s| !s.hists.is_empty()) {
                return over_selector(ev, name, args, ms, &scalars, ts);
            }
        }
    }
    let m = match ev.eval(args[mi], ts)? {
        Val::Matrix(m) => m,
        other => {
            return exec_err(format!(
                "expected range vector as argument of {name}, got {}",
                other.type_name()
            ))
        }
    };
    if name == "absent_over_time" {
        if m.series
            .iter()
            .any(|s| !s.points.is_empty() || !s.hists.is_empty())
        {
            return Ok(Val::Vector(Vec::new()));
        }
        return Ok(Val::Vector(vec![Sample {
            labels: ev.memo.intern(absent_labels(args[0])),
            v: 1.0,
            h: None,
            t: ts,
            drop_name: false,
        }]));
    }
    check_params(ev, name, &scalars, args)?;
    if m.series.iter().any(|s| !s.hists.is_empty()) {
        if name == "rate" || name == "increase" {
            for s in m.series.iter().filter(|s| s.hists.is_empty()) {
                check_counter_name(ev, &s.labels, args[0]);
            }
        }
        let float = |p: &[Point]| apply(name, p, &m, &scalars, ts);
        return super::nh_range::eval_matrix(ev, name, &m, args[mi], ts, &float);
    }
    if name == "rate" || name == "increase" {
        for s in &m.series {
            check_counter_name(ev, &s.labels, args[0]);
        }
    }
    let keep_name = matches!(name, "last_over_time" | "first_over_time");
    let mut out = Vec::new();
    for s in &m.series {
        if let Some(v) = apply(name, &s.points, &m, &scalars, ts) {
            out.push(Sample {
                labels: s.labels.clone(),
                v,
                h: None,
                t: ts,
                drop_name: s.drop_name || !keep_name,
            });
        }
    }
    Ok(Val::Vector(out))
}

/// The scalar parameters' checks: a warning for a quantile outside [0, 1], errors for
/// smoothing and trend factors outside (0, 1).
fn check_params(ev: &Evaluator, name: &str, scalars: &[f64], args: &[&Expr]) -> EvalResult<()> {
    if name == "quantile_over_time" {
        let q = scalars[0];
        if !(0.0..=1.0).contains(&q) {
            ev.annotate(
                true,
                &format!(
                    "quantile value should be between 0 and 1, got {}",
                    format_v(q)
                ),
                args[0],
            );
        }
    }
    if name == "double_exponential_smoothing" {
        let (sf, tf) = (scalars[0], scalars[1]);
        if sf <= 0.0 || sf >= 1.0 {
            return exec_err(format!(
                "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
            ));
        }
        if tf <= 0.0 || tf >= 1.0 {
            return exec_err(format!(
                "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
            ));
        }
    }
    Ok(())
}

/// The info annotation `rate` and `increase` raise for a named series that may not be a
/// counter: with the `type-and-unit-labels` feature, one whose `__type__` is neither
/// `counter` nor `histogram` (or missing); without it, one whose name does not end in a
/// counter's suffix.
pub(crate) fn check_counter_name(ev: &Evaluator, labels: &Labels, node: &Expr) {
    if let Some(n) = labels.metric_name().filter(|n| !n.is_empty()) {
        if ev.opts.features.type_and_unit_labels {
            let t = labels.get(METRIC_TYPE).unwrap_or("");
            if t != "counter" && t != "histogram" {
                ev.annotate(
                    false,
                    &format!(
                        "metric might not be a counter, __type__ label is not set to \"counter\" or \"histogram\", got {}: {}",
                        quote(t),
                        quote(n)
                    ),
                    node,
                );
            }
        } else if !["_total", "_sum", "_count", "_bucket"]
            .iter()
            .any(|suf| n.ends_with(suf))
        {
            ev.annotate(
                false,
                &format!(
                    "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {n:?}"
                ),
                node,
            );
        }
    }
}

/// A range function applied straight to a matrix selector: the same result as evaluating
/// the selector and then the function, but each series' window is a slice of the samples
/// cached for the query instead of a copy made at every step.
fn over_selector(
    ev: &Evaluator,
    name: &str,
    args: &[&Expr],
    ms: &promql_parser::parser::MatrixSelector,
    scalars: &[f64],
    ts: i64,
) -> EvalResult<Val> {
    let end = ev.modified_time(&ms.vs.at, &ms.vs.offset, ts);
    let start = end.saturating_sub(super::eval::millis(ms.range));
    let data = ev.series_for(&ms.vs)?;
    let window = RangeArg {
        series: Vec::new(),
        start,
        end,
    };
    let counter_fn = name == "rate" || name == "increase";
    let keep_name = matches!(name, "last_over_time" | "first_over_time");
    let mut filtered: Vec<Point> = Vec::new();
    let mut kept: Vec<(usize, &Rc<Labels>, Option<f64>)> = Vec::new();
    let mut n = 0;
    for (i, s) in data.iter().enumerate() {
        let lo = s.samples.partition_point(|p| p.t <= start);
        let hi = s.samples.partition_point(|p| p.t <= end);
        if lo >= hi {
            continue;
        }
        let points: &[Point] = if s.has_stale {
            filtered.clear();
            filtered.extend(s.samples[lo..hi].iter().filter(|p| !is_stale_nan(p.v)));
            &filtered
        } else {
            &s.samples[lo..hi]
        };
        if points.is_empty() {
            continue;
        }
        n += points.len();
        kept.push((i, &s.labels, apply(name, points, &window, scalars, ts)));
    }
    ev.account(n)?;
    check_params(ev, name, scalars, args)?;
    let mut out = Vec::with_capacity(kept.len());
    // The cached series are the same at every step: check each name once per query, keeping
    // a flag per cached series (by index) rather than a lookup per series per step.
    let mut checked = if counter_fn {
        ev.take_counter_checks(args[0], data.len())
    } else {
        Vec::new()
    };
    for (i, labels, v) in kept {
        if let Some(flag) = checked.get_mut(i) {
            if !*flag {
                *flag = true;
                check_counter_name(ev, labels, args[0]);
            }
        }
        if let Some(v) = v {
            out.push(Sample {
                labels: labels.clone(),
                v,
                h: None,
                t: ts,
                drop_name: !keep_name,
            });
        }
    }
    if counter_fn {
        ev.put_counter_checks(args[0], checked);
    }
    Ok(Val::Vector(out))
}

fn apply(name: &str, p: &[Point], m: &RangeArg, sc: &[f64], ts: i64) -> Option<f64> {
    if p.is_empty() {
        return None;
    }
    let last = p[p.len() - 1];
    Some(match name {
        "rate" => extrapolated_rate(p, m, true, true)?,
        "increase" => extrapolated_rate(p, m, true, false)?,
        "delta" => extrapolated_rate(p, m, false, false)?,
        "irate" | "idelta" => {
            if p.len() < 2 {
                return None;
            }
            let prev = p[p.len() - 2];
            let mut r = if name == "irate" && last.v < prev.v {
                last.v
            } else {
                last.v - prev.v
            };
            let dt = last.t - prev.t;
            if dt == 0 {
                return None;
            }
            if name == "irate" {
                r /= dt as f64 / 1000.0;
            }
            r
        }
        "deriv" => {
            if p.len() < 2 {
                return None;
            }
            linear_regression(p, p[0].t).0
        }
        "predict_linear" => {
            if p.len() < 2 {
                return None;
            }
            let (slope, intercept) = linear_regression(p, ts);
            slope * sc[0] + intercept
        }
        "resets" => p.windows(2).filter(|w| w[1].v < w[0].v).count() as f64,
        "changes" => p
            .windows(2)
            .filter(|w| w[1].v != w[0].v && !(w[1].v.is_nan() && w[0].v.is_nan()))
            .count() as f64,
        "avg_over_time" => avg(p),
        "sum_over_time" => {
            let (mut s, mut c) = (0.0, 0.0);
            for x in p {
                (s, c) = kahan_sum_inc(x.v, s, c);
            }
            if s.is_infinite() {
                s
            } else {
                s + c
            }
        }
        "count_over_time" => p.len() as f64,
        "min_over_time" | "max_over_time" => {
            let mut v = p[0].v;
            for x in &p[1..] {
                let better = if name == "max_over_time" {
                    x.v > v
                } else {
                    x.v < v
                };
                if better || v.is_nan() {
                    v = x.v;
                }
            }
            v
        }
        "ts_of_min_over_time" | "ts_of_max_over_time" => {
            let mut v = p[0].v;
            let mut t = p[0].t;
            for x in &p[1..] {
                let better = if name == "ts_of_max_over_time" {
                    x.v >= v
                } else {
                    x.v <= v
                };
                if better || v.is_nan() {
                    v = x.v;
                    t = x.t;
                }
            }
            t as f64 / 1000.0
        }
        "ts_of_last_over_time" => last.t as f64 / 1000.0,
        "ts_of_first_over_time" => p[0].t as f64 / 1000.0,
        "quantile_over_time" => {
            let mut vals: Vec<f64> = p.iter().map(|x| x.v).collect();
            quantile(sc[0], &mut vals)
        }
        "stddev_over_time" | "stdvar_over_time" => {
            let (mut count, mut mean, mut cmean, mut aux, mut caux) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for x in p {
                count += 1.0;
                let delta = x.v - (mean + cmean);
                (mean, cmean) = kahan_sum_inc(delta / count, mean, cmean);
                (aux, caux) = kahan_sum_inc(delta * (x.v - (mean + cmean)), aux, caux);
            }
            let var = (aux + caux) / count;
            if name == "stddev_over_time" {
                var.sqrt()
            } else {
                var
            }
        }
        "mad_over_time" => {
            if p.iter().any(|x| x.v.is_nan()) {
                return Some(f64::NAN);
            }
            let mut vals: Vec<f64> = p.iter().map(|x| x.v).collect();
            let median = quantile(0.5, &mut vals);
            let mut dev: Vec<f64> = vals.iter().map(|v| (v - median).abs()).collect();
            quantile(0.5, &mut dev)
        }
        "last_over_time" => last.v,
        "first_over_time" => p[0].v,
        "present_over_time" => 1.0,
        "double_exponential_smoothing" => {
            if p.len() < 2 {
                return None;
            }
            let (sf, tf) = (sc[0], sc[1]);
            let (mut s0, mut s1) = (0.0, p[0].v);
            let mut b = p[1].v - p[0].v;
            for (i, x) in p.iter().enumerate().skip(1) {
                let xv = sf * x.v;
                if i > 1 {
                    b = tf * (s1 - s0) + (1.0 - tf) * b;
                }
                let y = (1.0 - sf) * (s1 + b);
                s0 = s1;
                s1 = xv + y;
            }
            s1
        }
        n if super::delta_temporality::is_delta_function(n) => {
            let sum = apply("sum_over_time", p, m, sc, ts)?;
            super::delta_temporality::apply_floats(n, p, m, sum)?
        }
        _ => return None,
    })
}

fn avg(p: &[Point]) -> f64 {
    let (mut sum, mut count) = (p[0].v, 1.0);
    let (mut mean, mut c) = (0.0, 0.0);
    let mut incremental = false;
    for (i, x) in p[1..].iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (ns, nc) = kahan_sum_inc(x.v, sum, c);
            if !ns.is_infinite() {
                sum = ns;
                c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_sum_inc(x.v / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

/// Least squares over the points with x in seconds relative to `intercept_t`.
fn linear_regression(p: &[Point], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    let init = p[0].v;
    let mut const_y = true;
    for (i, s) in p.iter().enumerate() {
        if const_y && i > 0 && s.v != init {
            const_y = false;
        }
        n += 1.0;
        let x = (s.t - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan_sum_inc(x, sx, cx);
        (sy, cy) = kahan_sum_inc(s.v, sy, cy);
        (sxy, cxy) = kahan_sum_inc(x * s.v, sxy, cxy);
        (sx2, cx2) = kahan_sum_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

fn extrapolated_rate(p: &[Point], m: &RangeArg, counter: bool, is_rate: bool) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let first = p[0];
    let last = p[p.len() - 1];
    let mut result = last.v - first.v;
    if counter {
        let mut prev = 0.0;
        for x in p {
            if x.v < prev {
                result += prev;
            }
            prev = x.v;
        }
    }
    let mut to_start = (first.t - m.start) as f64 / 1000.0;
    let mut to_end = (m.end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg_between = sampled / (p.len() - 1) as f64;
    let threshold = avg_between * 1.1;
    if to_start >= threshold {
        to_start = avg_between / 2.0;
    }
    if counter && result > 0.0 && first.v >= 0.0 {
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_between / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= m.range_ms() as f64 / 1000.0;
    }
    Some(result * factor)
}
