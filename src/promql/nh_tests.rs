//! Native histograms in the evaluator, as a caller sees them: selectors that pick the newest
//! float-or-histogram sample, range selectors that carry both, results that hold histograms.
//! The data lives in a [`MemQuerier`](super::testing::MemQuerier).

use super::testing::MemQuerier;
use super::*;
use crate::histogram::FloatHistogram;
use crate::store::{Labels, STALE_NAN};

fn hist(count: f64) -> FloatHistogram {
    FloatHistogram {
        count,
        sum: count * 2.0,
        ..FloatHistogram::default()
    }
}

/// `mixed`: float 1 at 0s, a histogram of count 5 at 60s, float 3 at 120s, a staleness
/// marker at 180s.
fn mixed() -> (MemQuerier, Labels) {
    let l = Labels::from_pairs([("__name__", "mixed")]);
    let mut q = MemQuerier::new();
    q.append(&l, 0, 1.0);
    q.append_histogram(&l, 60_000, hist(5.0));
    q.append(&l, 120_000, 3.0);
    q.append(&l, 180_000, STALE_NAN);
    (q, l)
}

fn instant(q: &MemQuerier, expr: &str, t: i64) -> Vec<InstantSample> {
    match Engine::default().instant_query(q, expr, t).unwrap().value {
        Value::Vector(v) => v,
        other => panic!("expected a vector, got {other:?}"),
    }
}

#[test]
fn instant_selector_takes_the_newest_sample_of_either_type() {
    let (q, _) = mixed();
    let at = |t| instant(&q, "mixed", t);
    let s = at(30_000);
    assert_eq!((s.len(), s[0].v, s[0].h.is_none()), (1, 1.0, true));
    let s = at(90_000);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].h.as_deref(), Some(&hist(5.0)));
    let s = at(150_000);
    assert_eq!((s[0].v, s[0].h.is_none()), (3.0, true));
    // The staleness marker ends the series for histograms and floats alike.
    assert!(at(200_000).is_empty());
    // Past the lookback of a lone histogram sample there is nothing.
    let l = Labels::from_pairs([("__name__", "h")]);
    let mut q = MemQuerier::new();
    q.append_histogram(&l, 0, hist(1.0));
    assert_eq!(instant(&q, "h", 299_000).len(), 1);
    assert!(instant(&q, "h", 300_000).is_empty());
}

#[test]
fn range_selector_carries_floats_and_histograms() {
    let (q, l) = mixed();
    let r = Engine::default()
        .instant_query(&q, "mixed[3m]", 180_000)
        .unwrap();
    let Value::Matrix(m) = r.value else {
        panic!("expected a matrix")
    };
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].labels, l);
    let floats: Vec<(i64, f64)> = m[0].samples.iter().map(|p| (p.t, p.v)).collect();
    assert_eq!(floats, vec![(120_000, 3.0)]);
    let hs: Vec<(i64, f64)> = m[0].histograms.iter().map(|p| (p.t, p.h.count)).collect();
    assert_eq!(hs, vec![(60_000, 5.0)]);
}

#[test]
fn range_query_results_hold_histogram_points() {
    let (q, _) = mixed();
    let r = Engine::default()
        .range_query(&q, "mixed", 0, 120_000, 60_000)
        .unwrap();
    let Value::Matrix(m) = r.value else {
        panic!("expected a matrix")
    };
    let floats: Vec<(i64, f64)> = m[0].samples.iter().map(|p| (p.t, p.v)).collect();
    assert_eq!(floats, vec![(0, 1.0), (120_000, 3.0)]);
    let hs: Vec<i64> = m[0].histograms.iter().map(|p| p.t).collect();
    assert_eq!(hs, vec![60_000]);
}
