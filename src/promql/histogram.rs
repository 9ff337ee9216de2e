//! `histogram_quantile`, `histogram_quantiles` and `histogram_fraction` over classic histograms
//! (`_bucket` series with an `le` label), with upstream's bucket coalescing, monotonicity
//! fixes and annotations. Native histogram samples in the argument are answered by
//! [`super::nh_functions::native_quantiles`].

use super::eval::{exec_err, EvalResult, Evaluator};
use super::functions::eval_string;
use super::memo::{ptr, FastMap};
use super::value::{Sample, Val};
use crate::gostrconv::format_v;
use crate::store::{Labels, METRIC_NAME};
use promql_parser::parser::Expr;
use std::rc::Rc;

#[derive(Clone, Copy)]
struct Bucket {
    upper: f64,
    count: f64,
}

struct Group {
    /// The bucket series' labels without `le` (and without the name when it is to be
    /// dropped): what the buckets of one histogram share.
    key: Rc<Labels>,
    labels: Rc<Labels>,
    name: String,
    buckets: Vec<Bucket>,
}

const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

pub(crate) fn eval(ev: &Evaluator, name: &str, args: &[&Expr], ts: i64) -> EvalResult<Val> {
    let (vec_arg, qs, label) = match name {
        "histogram_quantile" => (args[1], vec![ev.eval_scalar(args[0], ts)?], None),
        "histogram_quantiles" => {
            let label = eval_string(ev, args[1], ts)?;
            let mut qs = Vec::new();
            for a in &args[2..] {
                qs.push(ev.eval_scalar(a, ts)?);
            }
            (args[0], qs, Some(label))
        }
        _ => (args[2], Vec::new(), None),
    };
    let q_node = if name == "histogram_quantile" {
        args[0]
    } else {
        vec_arg
    };
    for q in &qs {
        if !(0.0..=1.0).contains(q) {
            ev.annotate(
                true,
                &format!(
                    "quantile value should be between 0 and 1, got {}",
                    format_v(*q)
                ),
                q_node,
            );
        }
    }
    let (lower, upper) = if name == "histogram_fraction" {
        (ev.eval_scalar(args[0], ts)?, ev.eval_scalar(args[1], ts)?)
    } else {
        (0.0, 0.0)
    };
    let input = ev.eval_vector(vec_arg, ts)?;
    // Native histogram samples answer on their own; the rest are classic buckets.
    let (native, input): (Vec<Sample>, Vec<Sample>) =
        input.into_iter().partition(|s| s.h.is_some());
    let fraction = name == "histogram_fraction";
    let mut groups = group_buckets(ev, input, vec_arg);
    let native = drop_mixed_histograms(ev, native, &mut groups, vec_arg);
    let mut out = super::nh_functions::native_quantiles(
        ev,
        native,
        fraction,
        &qs,
        label.as_deref(),
        (lower, upper),
        vec_arg,
        ts,
    )?;
    for mut g in groups {
        if let Some(l) = &label {
            if g.labels.get(l).is_some() {
                return exec_err(format!(
                    "label {l:?} already exists on the input series of histogram_quantiles"
                ));
            }
        }
        if name == "histogram_fraction" {
            out.push(Sample {
                labels: g.labels.clone(),
                v: bucket_fraction(lower, upper, &mut g.buckets),
                h: None,
                t: ts,
                drop_name: true,
            });
            continue;
        }
        for &q in &qs {
            let mut b = g.buckets.clone();
            let (v, forced) = bucket_quantile(q, &mut b);
            if forced {
                ev.annotate(
                    false,
                    &format!(
                        "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {:?}",
                        g.name
                    ),
                    vec_arg,
                );
            }
            let labels = match &label {
                Some(l) => ev.memo.intern(g.labels.with(l, &quantile_label(q))),
                None => g.labels.clone(),
            };
            out.push(Sample {
                labels,
                v,
                h: None,
                t: ts,
                drop_name: true,
            });
        }
    }
    Ok(Val::Vector(out))
}

pub(crate) fn quantile_label(q: f64) -> String {
    if q.is_finite() && q.fract() == 0.0 {
        format!("{q:.1}")
    } else {
        format_v(q)
    }
}

fn group_buckets(ev: &Evaluator, input: Vec<Sample>, node: &Expr) -> Vec<Group> {
    // Memo tags: the bucket's group key, and the group's output labels (both per query).
    let key_tag = node as *const Expr as usize + 1;
    let out_tag = key_tag + 1;
    let mut index: FastMap<usize, usize> = FastMap::default();
    let mut groups: Vec<Group> = Vec::new();
    for s in input {
        let le = s.labels.get("le").unwrap_or("");
        let Ok(upper) = crate::gostrconv::parse_float(le) else {
            let name = s.labels.metric_name().unwrap_or("");
            ev.annotate(
                true,
                &format!(
                    "bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {name:?}"
                ),
                node,
            );
            continue;
        };
        let key = ev.memo.derive(key_tag, &s.labels, s.drop_name, |l, drop| {
            if drop {
                l.without(&["le", METRIC_NAME])
            } else {
                l.without(&["le"])
            }
        });
        let i = *index.entry(ptr(&key)).or_insert_with(|| {
            groups.push(Group {
                key: key.clone(),
                labels: ev.memo.derive(out_tag, &s.labels, false, |l, _| {
                    l.without(&["le", METRIC_NAME])
                }),
                name: s.labels.metric_name().unwrap_or("").to_string(),
                buckets: Vec::new(),
            });
            groups.len() - 1
        });
        groups[i].buckets.push(Bucket { upper, count: s.v });
    }
    groups
}

/// Upstream's treatment of a native histogram sample whose labels are those of a classic
/// histogram's buckets without `le`: neither is evaluated, and a warning names the metric.
/// Returns the native samples that remain; the conflicting classic groups are removed.
fn drop_mixed_histograms(
    ev: &Evaluator,
    native: Vec<Sample>,
    groups: &mut Vec<Group>,
    node: &Expr,
) -> Vec<Sample> {
    if native.is_empty() || groups.is_empty() {
        return native;
    }
    let by_key: std::collections::HashMap<&Labels, usize> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (&*g.key, i))
        .collect();
    let mut conflicting = vec![false; groups.len()];
    let mut kept = Vec::with_capacity(native.len());
    for s in native {
        let stripped;
        let key: &Labels = if s.drop_name {
            stripped = s.labels.without(&[METRIC_NAME]);
            &stripped
        } else {
            &s.labels
        };
        match by_key.get(key) {
            Some(&i) if !groups[i].buckets.is_empty() && !conflicting[i] => {
                conflicting[i] = true;
                ev.annotate(
                    true,
                    &format!(
                        "vector contains a mix of classic and native histograms for metric name {:?}",
                        s.labels.metric_name().unwrap_or("")
                    ),
                    node,
                );
            }
            _ => kept.push(s),
        }
    }
    let mut i = 0;
    groups.retain(|_| {
        i += 1;
        !conflicting[i - 1]
    });
    kept
}

fn sort_coalesce(buckets: &mut Vec<Bucket>) {
    buckets.sort_by(|a, b| {
        a.upper
            .partial_cmp(&b.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.drain(..) {
        match out.last_mut() {
            Some(l) if l.upper == b.upper => l.count += b.count,
            _ => out.push(b),
        }
    }
    *buckets = out;
}

/// Upstream's `almost.Equal`: `a` and `b` equal within the relative tolerance `eps`, NaN equal
/// to NaN.
pub(super) fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    const MIN_NORMAL: f64 = 2.2250738585072014e-308;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < eps * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

fn ensure_monotonic(buckets: &mut [Bucket]) -> bool {
    let mut forced = false;
    let mut prev = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) {
            b.count = prev;
            continue;
        }
        if curr < prev {
            b.count = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    forced
}

/// Upstream's `BucketQuantile`: the value and whether monotonicity had to be forced.
fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    sort_coalesce(buckets);
    if buckets.is_empty() || buckets[buckets.len() - 1].upper != f64::INFINITY {
        return (f64::NAN, false);
    }
    let forced = ensure_monotonic(buckets);
    if buckets.len() < 2 {
        return (f64::NAN, forced);
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * observations;
    let n = buckets.len() - 1;
    let b = buckets[..n].partition_point(|x| x.count < rank);
    if b == n {
        return (buckets[n - 1].upper, forced);
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return (buckets[0].upper, forced);
    }
    let mut start = 0.0;
    let end = buckets[b].upper;
    let mut count = buckets[b].count;
    if b > 0 {
        start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    (start + (end - start) * (rank / count), forced)
}

/// Upstream's `BucketFraction`: the estimated share of observations in `[lower, upper]`.
fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<Bucket>) -> f64 {
    sort_coalesce(buckets);
    if buckets.is_empty() || buckets[buckets.len() - 1].upper != f64::INFINITY {
        return f64::NAN;
    }
    ensure_monotonic(buckets);
    let count = buckets[buckets.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    for (i, b) in buckets.iter().enumerate() {
        let lb = if i == 0 {
            if b.upper > 0.0 {
                0.0
            } else {
                f64::NEG_INFINITY
            }
        } else {
            buckets[i - 1].upper
        };
        let ub = b.upper;
        let interp = |v: f64| {
            if lb.is_infinite() {
                // No interpolation in a bucket of infinite width: it contributes nothing.
                b.count
            } else if ub.is_infinite() {
                rank
            } else {
                rank + (b.count - rank) * (v - lb) / (ub - lb)
            }
        };
        if !lower_set && lb >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lb >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lb < lower && ub > lower {
            lower_rank = interp(lower);
            lower_set = true;
        }
        if !upper_set && lb < upper && ub > upper {
            upper_rank = interp(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buckets from `(upper bound, cumulative count)` pairs.
    fn buckets(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper, count)| Bucket { upper, count })
            .collect()
    }

    /// `series{host="a"}` is both a classic histogram (buckets le=1: 2, le=+Inf: 4) and a
    /// native one: neither is evaluated, and a warning names the metric. Host b has only the
    /// classic buckets: q=0.5 is rank 2 of 4, the top of bucket (0, 1], so 1. Host c has only
    /// the native histogram (count 4, one custom bucket up to 10 holding all 4; upstream reads
    /// the first custom bucket with a positive bound as starting at 0): rank 2 of 4 is halfway
    /// through (0, 10], so 5.
    #[test]
    fn classic_and_native_histogram_with_one_labelset_are_not_evaluated() {
        use crate::histogram::{Span, CUSTOM_BUCKETS_SCHEMA};
        use crate::promql::testing::MemQuerier;
        use crate::promql::{Engine, Value};
        let native = crate::histogram::FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: 4.0,
            sum: 8.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 1,
            }],
            positive_buckets: vec![4.0],
            custom_values: vec![10.0],
            ..Default::default()
        };
        let mut q = MemQuerier::new();
        for host in ["a", "b"] {
            for (le, c) in [("1", 2.0), ("+Inf", 4.0)] {
                let l = Labels::from_pairs([("__name__", "series"), ("host", host), ("le", le)]);
                q.append(&l, 0, c);
            }
        }
        for host in ["a", "c"] {
            let l = Labels::from_pairs([("__name__", "series"), ("host", host)]);
            q.append_histogram(&l, 0, native.clone());
        }
        let r = Engine::default()
            .instant_query(&q, "histogram_quantile(0.5, series)", 0)
            .unwrap();
        assert_eq!(
            r.warnings,
            vec!["PromQL warning: vector contains a mix of classic and native histograms for metric name \"series\" (1:25)".to_string()]
        );
        let Value::Vector(mut v) = r.value else {
            panic!("expected a vector, got {:?}", r.value);
        };
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        let got: Vec<(String, f64)> = v.iter().map(|s| (s.labels.to_string(), s.v)).collect();
        assert_eq!(
            got,
            vec![
                ("{host=\"b\"}".to_string(), 1.0),
                ("{host=\"c\"}".to_string(), 5.0)
            ]
        );
    }

    #[test]
    fn quantile_interpolates_within_bucket() {
        let mut b = buckets(&[(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)]);
        assert_eq!(bucket_quantile(0.75, &mut b), (1.5, false));
    }

    #[test]
    fn non_monotonic_buckets_are_fixed_and_reported() {
        let mut b = buckets(&[(1.0, 10.0), (2.0, 5.0), (f64::INFINITY, 10.0)]);
        let (v, forced) = bucket_quantile(0.5, &mut b);
        assert!(forced);
        assert_eq!(v, 0.5);
    }
}
