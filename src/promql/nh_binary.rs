//! Binary operators on native histogram samples, as Prometheus 3's `vectorElemBinop`:
//! histogram `+`/`-` histogram (the difference is a gauge histogram), histogram `*` float,
//! float `*` histogram, histogram `/` float, histogram `==`/`!=` histogram (the left
//! histogram is kept when the comparison holds), and the trim operators histogram `</` float
//! and histogram `>/` float ([`FloatHistogram::trim`]). Any other combination drops the
//! element with the info "incompatible sample types encountered for binary operator"; for
//! the trim operators that includes two floats.

use super::eval::Evaluator;
use super::nh_range::{mixed_exponential_custom, note_outcome};
use crate::histogram::{CounterResetHint, FloatHistogram, HistogramError, TrimSide};
use promql_parser::parser::Expr;
use std::sync::Arc;

type H = Option<Arc<FloatHistogram>>;

/// `l op r` where at least one side is a histogram, or `op` is a trim operator: the float,
/// the histogram and whether a comparison holds, or `None` when the element is dropped
/// (annotated).
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
        (Some(h), None) if op == "</" || op == ">/" => {
            let side = if op == "</" {
                TrimSide::KeepBelow
            } else {
                TrimSide::KeepAbove
            };
            Some((0.0, Some(Arc::new(h.trim(fr, side))), true))
        }
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

#[cfg(test)]
mod tests {
    use super::super::testing::MemQuerier;
    use super::super::{Engine, QueryError, QueryResult, Value};
    use crate::histogram::{FloatHistogram, Span, CUSTOM_BUCKETS_SCHEMA};
    use crate::store::Labels;

    /// Custom bound 5: (-Inf,5]:1, (5,+Inf]:100; count 101, sum 33.
    fn two_buckets(scale: f64) -> FloatHistogram {
        FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: 101.0 * scale,
            sum: 33.0 * scale,
            custom_values: vec![5.0],
            positive_spans: vec![Span {
                offset: 0,
                length: 2,
            }],
            positive_buckets: vec![scale, 100.0 * scale],
            ..FloatHistogram::default()
        }
    }

    fn querier() -> MemQuerier {
        let mut q = MemQuerier::new();
        for (v, scale) in [("a", 1.0), ("b", 2.0), ("c", 3.0)] {
            let l = Labels::from_pairs([("__name__", "h"), ("l", v)]);
            q.append_histogram(&l, 0, two_buckets(scale));
        }
        q.append(&Labels::from_pairs([("__name__", "f"), ("l", "a")]), 0, 1.0);
        q.append(&Labels::from_pairs([("__name__", "f"), ("l", "b")]), 0, 4.0);
        q
    }

    fn query(q: &MemQuerier, e: &str) -> QueryResult {
        Engine::default().instant_query(q, e, 0).unwrap()
    }

    fn vector(r: &QueryResult) -> Vec<(String, Option<(f64, f64)>)> {
        let Value::Vector(v) = &r.value else {
            panic!("expected a vector, got {:?}", r.value)
        };
        v.iter()
            .map(|s| {
                let h = s.h.as_deref().map(|h| (h.count, h.sum));
                (s.labels.to_string(), h)
            })
            .collect()
    }

    #[test]
    fn trim_by_a_scalar_keeps_the_metric_name() {
        let q = querier();
        let r = query(&q, r#"h{l="a"} >/ 2"#);
        // (-Inf,5] read as [0,5]: 1·(1 - 2/5) = 0.6 kept, at (2+5)/2 = 3.5; (5,+Inf] whole at
        // 5: count 100.6, sum 0.6·3.5 + 100·5 = 502.1.
        let got = vector(&r);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, r#"h{l="a"}"#);
        let (count, sum) = got[0].1.expect("a histogram");
        assert!(
            (count - 100.6).abs() < 1e-9 && (sum - 502.1).abs() < 1e-9,
            "{got:?}"
        );
        assert!(r.infos.is_empty() && r.warnings.is_empty());
        // Control: an arithmetic operator on the same histogram drops the name.
        assert_eq!(vector(&query(&q, r#"h{l="a"} * 1"#))[0].0, r#"{l="a"}"#);
    }

    #[test]
    fn trim_between_vectors_takes_each_threshold_from_its_match() {
        let q = querier();
        let r = query(&q, "h >/ on (l) f");
        // a: cut 1, 1·(1 - 1/5) = 0.8 kept at 3, sum 2.4 + 500 = 502.4.
        // b: cut 4, 2·(1 - 4/5) = 0.4 kept at 4.5, sum 1.8 + 200·5 = 1001.8.
        // c: no threshold, no result.
        let got = vector(&r);
        assert_eq!(got.len(), 2, "{got:?}");
        let want = [(r#"{l="a"}"#, 100.8, 502.4), (r#"{l="b"}"#, 200.4, 1001.8)];
        for ((labels, h), (wl, wc, ws)) in got.iter().zip(want) {
            let (c, s) = h.expect("a histogram");
            assert_eq!(labels, wl);
            assert!((c - wc).abs() < 1e-9 && (s - ws).abs() < 1e-9, "{got:?}");
        }
    }

    #[test]
    fn trim_needs_a_histogram_left_and_a_float_right() {
        let q = querier();
        let info = |types: &str, op: &str| {
            format!(
                "PromQL info: incompatible sample types encountered for binary operator \"{op}\": {types} (1:1)"
            )
        };
        for (e, types, op) in [
            (r#"f{l="a"} </ 1"#, "float </ float", "</"),
            (r#"1 >/ h{l="a"}"#, "float >/ histogram", ">/"),
            (
                r#"h{l="a"} </ ignoring(__name__) h{l="a"}"#,
                "histogram </ histogram",
                "</",
            ),
            (r#"f{l="a"} >/ on(l) f{l="a"}"#, "float >/ float", ">/"),
        ] {
            let r = query(&q, e);
            assert!(vector(&r).is_empty(), "{e}: {:?}", r.value);
            assert_eq!(r.infos, vec![info(types, op)], "{e}");
        }
        // Between two scalars the evaluation fails, as upstream's scalarBinop does.
        let err = Engine::default()
            .instant_query(&q, "1 </ 2", 0)
            .unwrap_err();
        assert_eq!(
            err,
            QueryError::Execution("operator \"</\" not allowed for Scalar operations".into())
        );
    }
}
