//! Aggregations over instant vectors that hold native histogram samples, as Prometheus 3
//! does them: `sum` and `avg` add histograms (a group that mixes histograms and floats is
//! dropped with a warning; histograms that cannot be added drop their group with a
//! warning), `count`, `group`, `limitk` and `limit_ratio` take histogram samples like
//! floats, and the others (`min`, `max`, `topk`, `bottomk`, `stddev`, `stdvar`, `quantile`,
//! `count_values`) ignore them with an info.

use super::aggregate::{grouping_key, kahan_sum_inc};
use super::eval::{EvalResult, Evaluator};
use super::memo::{ptr, FastMap};
use super::nh_range::{mixed_exponential_custom, note_outcome};
use super::value::{Sample, Val};
use crate::histogram::{FloatHistogram, HistogramError};
use crate::store::Labels;
use promql_parser::parser::{AggregateExpr, Expr};
use std::rc::Rc;
use std::sync::Arc;

/// What to do with an aggregation's input that holds histograms: the finished result, or
/// the input for the float code (with histograms removed where the operator ignores them).
pub(crate) enum Prepared {
    Done(Val),
    Floats(Vec<Sample>),
}

struct Group {
    labels: Rc<Labels>,
    count: f64,
    sum: f64,
    comp: f64,
    hist: Option<FloatHistogram>,
    floats: bool,
    broken: bool,
}

pub(crate) fn prepare(
    ev: &Evaluator,
    op: &str,
    a: &AggregateExpr,
    input: Vec<Sample>,
    ts: i64,
) -> EvalResult<Prepared> {
    match op {
        "count" | "group" | "limitk" | "limit_ratio" => Ok(Prepared::Floats(input)),
        "sum" | "avg" => Ok(Prepared::Done(sum_or_avg(ev, op, a, input, ts))),
        _ => {
            let n = input.len();
            let floats: Vec<Sample> = input.into_iter().filter(|s| s.h.is_none()).collect();
            if floats.len() < n {
                ev.annotate(
                    false,
                    &format!("ignored histogram in {op} aggregation"),
                    &a.expr,
                );
            }
            Ok(Prepared::Floats(floats))
        }
    }
}

fn sum_or_avg(ev: &Evaluator, op: &str, a: &AggregateExpr, input: Vec<Sample>, ts: i64) -> Val {
    let node: &Expr = &a.expr;
    let mut groups: Vec<Group> = Vec::new();
    let mut index: FastMap<usize, usize> = FastMap::default();
    let tag = a as *const AggregateExpr as usize;
    for s in input {
        let key = ev.memo.derive(tag, &s.labels, s.drop_name, |l, d| {
            grouping_key(l, d, &a.modifier)
        });
        let gi = *index.entry(ptr(&key)).or_insert_with(|| {
            groups.push(Group {
                labels: key.clone(),
                count: 0.0,
                sum: 0.0,
                comp: 0.0,
                hist: None,
                floats: false,
                broken: false,
            });
            groups.len() - 1
        });
        let g = &mut groups[gi];
        g.count += 1.0;
        match &s.h {
            None => {
                g.floats = true;
                (g.sum, g.comp) = kahan_sum_inc(s.v, g.sum, g.comp);
            }
            Some(h) => match &mut g.hist {
                None => g.hist = Some((**h).clone()),
                Some(acc) => match acc.add(h) {
                    Ok(o) => note_outcome(ev, o, "aggregation", node),
                    Err(HistogramError::IncompatibleSchema) => {
                        let name = s.labels.metric_name().unwrap_or("");
                        ev.annotate(true, &mixed_exponential_custom(name), node);
                        g.broken = true;
                    }
                    Err(_) => g.broken = true,
                },
            },
        }
    }
    let mut out = Vec::new();
    for g in groups {
        let (v, h) = match g.hist {
            Some(_) if g.floats => {
                ev.annotate(
                    true,
                    "encountered a mix of histograms and floats for aggregation",
                    node,
                );
                continue;
            }
            Some(_) if g.broken => continue,
            Some(mut h) => {
                if op == "avg" {
                    h.div(g.count);
                }
                h.compact(0);
                (0.0, Some(Arc::new(h)))
            }
            None => {
                let s = if g.sum.is_infinite() {
                    g.sum
                } else {
                    g.sum + g.comp
                };
                (if op == "avg" { s / g.count } else { s }, None)
            }
        };
        out.push(Sample {
            labels: g.labels,
            v,
            h,
            t: ts,
            drop_name: false,
        });
    }
    Val::Vector(out)
}
