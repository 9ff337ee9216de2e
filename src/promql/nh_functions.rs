//! Functions over native histogram samples: `histogram_count`, `histogram_sum`,
//! `histogram_avg`, `histogram_stddev`, `histogram_stdvar`, and the native half of
//! `histogram_quantile(s)`/`histogram_fraction` ([`native_quantiles`]). Each takes the histogram samples
//! of its instant-vector argument and ignores the float samples, as upstream does; the
//! result is a float per histogram, with the metric name dropped.

use super::eval::{EvalResult, Evaluator};
use super::value::{Sample, Val};
use crate::histogram::FloatHistogram;
use promql_parser::parser::Expr;

/// Whether `name` is one of this module's functions.
pub(crate) fn is_native_histogram_function(name: &str) -> bool {
    matches!(
        name,
        "histogram_count"
            | "histogram_sum"
            | "histogram_avg"
            | "histogram_stddev"
            | "histogram_stdvar"
    )
}

pub(crate) fn eval(ev: &Evaluator, name: &str, args: &[&Expr], ts: i64) -> EvalResult<Val> {
    let f: fn(&FloatHistogram) -> f64 = match name {
        "histogram_count" => |h| h.count,
        "histogram_sum" => |h| h.sum,
        "histogram_avg" => |h| h.sum / h.count,
        "histogram_stddev" => FloatHistogram::stddev,
        _ => FloatHistogram::stdvar,
    };
    let v = ev.eval_vector(args[0], ts)?;
    let out: Vec<Sample> = v
        .into_iter()
        .filter_map(|s| {
            let h = s.h?;
            Some(Sample {
                v: f(&h),
                h: None,
                drop_name: true,
                ..s
            })
        })
        .collect();
    Ok(Val::Vector(out))
}

/// Keeps the float samples of an instant vector: what upstream's float-only functions
/// (`abs`, `clamp`, `round`, the date functions, `sort`, …) do with histogram samples.
pub(crate) fn floats_only(v: &mut Vec<Sample>) {
    v.retain(|s| s.h.is_none());
}

/// `histogram_quantile`, `histogram_quantiles` and `histogram_fraction` over the native
/// histogram samples of the argument (`native`), with upstream's NaN-observation infos at
/// `node`. `label` is `histogram_quantiles`' label for the quantile; `qs` is empty for a
/// fraction of `(lower, upper]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn native_quantiles(
    ev: &Evaluator,
    native: Vec<Sample>,
    fraction: bool,
    qs: &[f64],
    label: Option<&str>,
    (lower, upper): (f64, f64),
    node: &Expr,
    ts: i64,
) -> EvalResult<Vec<Sample>> {
    use crate::histogram::QuantileNanEffect;
    let mut out = Vec::new();
    for s in native {
        let Some(h) = &s.h else { continue };
        let name = s.labels.metric_name().unwrap_or("").to_string();
        if fraction {
            let f = h.fraction(lower, upper);
            if f.nan_observations_excluded {
                ev.annotate(
                    false,
                    &format!("input to histogram_fraction has NaN observations, which are excluded from all fractions for metric name {name:?}"),
                    node,
                );
            }
            out.push(Sample {
                v: f.value,
                h: None,
                t: ts,
                drop_name: true,
                labels: s.labels.clone(),
            });
            continue;
        }
        if let Some(l) = label {
            if s.labels.get(l).is_some() {
                return super::eval::exec_err(format!(
                    "label {l:?} already exists on the input series of histogram_quantiles"
                ));
            }
        }
        for &q in qs {
            let r = h.quantile(q);
            let what = match r.nan_effect {
                Some(QuantileNanEffect::ResultIsNan) => Some("result is NaN"),
                Some(QuantileNanEffect::ResultSkewedHigher) => Some("result is skewed higher"),
                None => None,
            };
            if let Some(what) = what {
                ev.annotate(
                    false,
                    &format!("input to histogram_quantile has NaN observations, {what} for metric name {name:?}"),
                    node,
                );
            }
            let labels = match label {
                Some(l) => ev
                    .memo
                    .intern(s.labels.with(l, &super::histogram::quantile_label(q))),
                None => s.labels.clone(),
            };
            out.push(Sample {
                labels,
                v: r.value,
                h: None,
                t: ts,
                drop_name: true,
            });
        }
    }
    Ok(out)
}
