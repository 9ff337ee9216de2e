//! Binary operators on native histogram samples, as Prometheus 3's `vectorElemBinop`:
//! histogram `+`/`-` histogram (the difference is a gauge histogram), histogram `*` float,
//! float `*` histogram, histogram `/` float, histogram `==`/`!=` histogram (the left
//! histogram is kept when the comparison holds). Any other combination drops the element
//! with the info "incompatible sample types encountered for binary operator".

use super::eval::Evaluator;
use super::nh_range::{mixed_exponential_custom, note_outcome};
use crate::histogram::{CounterResetHint, FloatHistogram, HistogramError};
use promql_parser::parser::Expr;
use std::sync::Arc;

type H = Option<Arc<FloatHistogram>>;

/// `l op r` where at least one side is a histogram: the float, the histogram and whether a
/// comparison holds, or `None` when the element is dropped (annotated).
pub(crate) fn binop(
    ev: &Evaluator,
    node: &Expr,
    op: &str,
    (fl, hl): (f64, &H),
    (fr, hr): (f64, &H),
) -> Option<(f64, H, bool)> {
    let kind = |h: &H| if h.is_some() { "histogram" } else { "float" };
    let incompatible = || {
        ev.annotate(
            false,
            &format!(
                "incompatible sample types encountered for binary operator {op:?}: {} {op} {}",
                kind(hl),
                kind(hr)
            ),
            node,
        );
        None
    };
    let done = |mut h: FloatHistogram| {
        h.compact(0);
        Some((0.0, Some(Arc::new(h)), true))
    };
    match (hl, hr) {
        (None, Some(h)) if op == "*" => done({
            let mut h = (**h).clone();
            h.mul(fl);
            h
        }),
        (Some(h), None) if op == "*" || op == "/" => done({
            let mut h = (**h).clone();
            if op == "*" {
                h.mul(fr);
            } else {
                h.div(fr);
            }
            h
        }),
        (Some(a), Some(b)) if op == "+" || op == "-" => {
            let mut h = (**a).clone();
            let (r, what) = if op == "+" {
                (h.add(b), "addition")
            } else {
                (h.sub(b), "subtraction")
            };
            match r {
                Ok(o) => note_outcome(ev, o, what, node),
                Err(HistogramError::IncompatibleSchema) => {
                    ev.annotate(true, &mixed_exponential_custom(""), node);
                    return None;
                }
                Err(_) => return None,
            }
            if op == "-" {
                h.counter_reset_hint = CounterResetHint::Gauge;
            }
            done(h)
        }
        (Some(a), Some(b)) if op == "==" || op == "!=" => {
            let eq = a.equals(b);
            Some((0.0, Some(a.clone()), if op == "==" { eq } else { !eq }))
        }
        _ => incompatible(),
    }
}
