//! Functions over native histogram samples: `histogram_count`, `histogram_sum`,
//! `histogram_avg`. Each takes the histogram samples
//! of its instant-vector argument and ignores the float samples, as upstream does; the
//! result is a float per histogram, with the metric name dropped.

use super::eval::{EvalResult, Evaluator};
use super::value::{Sample, Val};
use crate::histogram::FloatHistogram;
use promql_parser::parser::Expr;

/// Whether `name` is one of this module's functions.
pub(crate) fn is_native_histogram_function(name: &str) -> bool {
    matches!(name, "histogram_count" | "histogram_sum" | "histogram_avg")
}

pub(crate) fn eval(ev: &Evaluator, name: &str, args: &[&Expr], ts: i64) -> EvalResult<Val> {
    let f: fn(&FloatHistogram) -> f64 = match name {
        "histogram_count" => |h| h.count,
        "histogram_sum" => |h| h.sum,
        _ => |h| h.sum / h.count,
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
