//! Native histograms in the evaluator, as a caller sees them: selectors that pick the newest
//! float-or-histogram sample, range selectors that carry both, results that hold histograms.
//! The data lives in a [`MemQuerier`](super::testing::MemQuerier).

use super::testing::MemQuerier;
use super::*;
use crate::histogram::{CounterResetHint, FloatHistogram};
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

/// `m{k="h"}` a histogram (count 4, sum 8), `m{k="f"}` the float 7.
fn one_of_each() -> MemQuerier {
    let mut q = MemQuerier::new();
    q.append_histogram(
        &Labels::from_pairs([("__name__", "m"), ("k", "h")]),
        0,
        hist(4.0),
    );
    q.append(&Labels::from_pairs([("__name__", "m"), ("k", "f")]), 0, 7.0);
    q
}

fn floats(v: Vec<InstantSample>) -> Vec<(String, f64)> {
    v.into_iter()
        .map(|s| {
            assert!(s.h.is_none(), "{s:?}");
            (s.labels.to_string(), s.v)
        })
        .collect()
}

#[test]
fn histogram_count_sum_avg_read_histograms_and_ignore_floats() {
    let q = one_of_each();
    let at = |e: &str| floats(instant(&q, e, 0));
    assert_eq!(at("histogram_count(m)"), vec![("{k=\"h\"}".into(), 4.0)]);
    assert_eq!(at("histogram_sum(m)"), vec![("{k=\"h\"}".into(), 8.0)]);
    assert_eq!(at("histogram_avg(m)"), vec![("{k=\"h\"}".into(), 2.0)]);
}

#[test]
fn float_functions_drop_histogram_samples() {
    let q = one_of_each();
    for e in [
        "abs(m)",
        "clamp(m, 0, 100)",
        "round(m)",
        "sort(m)",
        "year(m)",
    ] {
        let got = instant(&q, e, 0);
        assert_eq!(got.len(), 1, "{e}: {got:?}");
        assert_eq!(got[0].labels.get("k"), Some("f"), "{e}");
    }
    let r = Engine::default().instant_query(&q, "scalar(m)", 0).unwrap();
    assert_eq!(r.value, Value::Scalar { t: 0, v: 7.0 });
    // timestamp() reads a histogram sample's time like a float's.
    assert_eq!(
        floats(instant(&q, "timestamp(m)", 10_000)).len(),
        2,
        "timestamp keeps both"
    );
}

fn bucketed(count: f64) -> FloatHistogram {
    FloatHistogram {
        count,
        sum: count,
        positive_spans: vec![crate::histogram::Span {
            offset: 0,
            length: 1,
        }],
        positive_buckets: vec![count],
        ..FloatHistogram::default()
    }
}

#[test]
fn sum_and_avg_add_histograms_and_drop_mixed_groups() {
    let mut q = MemQuerier::new();
    for (k, c) in [("a", 2.0), ("b", 4.0)] {
        q.append_histogram(
            &Labels::from_pairs([("__name__", "h"), ("k", k)]),
            0,
            bucketed(c),
        );
    }
    q.append(&Labels::from_pairs([("__name__", "h"), ("k", "f")]), 0, 1.0);
    let s = instant(&q, "sum(h{k!=\"f\"})", 0);
    assert_eq!(
        s[0].h
            .as_deref()
            .map(|h| (h.count, h.positive_buckets.clone())),
        Some((6.0, vec![6.0]))
    );
    let s = instant(&q, "avg(h{k!=\"f\"})", 0);
    assert_eq!(s[0].h.as_deref().map(|h| h.count), Some(3.0));
    let r = Engine::default().instant_query(&q, "sum(h)", 0).unwrap();
    assert_eq!(r.value, Value::Vector(Vec::new()));
    assert_eq!(
        r.warnings,
        vec!["PromQL warning: encountered a mix of histograms and floats for aggregation (1:5)"]
    );
    // count takes histograms like floats; max ignores them with an info.
    assert_eq!(instant(&q, "count(h)", 0)[0].v, 3.0);
    let r = Engine::default().instant_query(&q, "max(h)", 0).unwrap();
    assert_eq!(
        r.infos,
        vec!["PromQL info: ignored histogram in max aggregation (1:5)"]
    );
}

#[test]
fn rate_of_a_histogram_counter_is_a_histogram() {
    // Count grows by 60 a minute from 0: every bucket's rate is 1/s, with no extrapolation
    // past the samples at both window ends.
    let l = Labels::from_pairs([("__name__", "h")]);
    let mut q = MemQuerier::new();
    for i in 0..=5 {
        q.append_histogram(&l, i * 60_000, bucketed(60.0 * i as f64));
    }
    let s = instant(&q, "rate(h[5m])", 300_000);
    let h = s[0].h.as_deref().expect("a histogram");
    assert!((h.count - 1.0).abs() < 1e-9, "{h:?}");
    assert!((h.positive_buckets[0] - 1.0).abs() < 1e-9, "{h:?}");
    let s = instant(&q, "increase(h[5m])", 300_000);
    assert!((s[0].h.as_deref().unwrap().count - 300.0).abs() < 1e-9);
    // A float sample in the window: no result, a warning.
    q.append(&l, 330_000, 1.0);
    let r = Engine::default()
        .instant_query(&q, "rate(h[5m])", 360_000)
        .unwrap();
    assert_eq!(r.value, Value::Vector(Vec::new()));
    assert_eq!(
        r.warnings,
        vec!["PromQL warning: encountered a mix of histograms and floats for metric name \"h\" (1:6)"]
    );
    assert_eq!(instant(&q, "count_over_time(h[5m])", 360_000)[0].v, 5.0);
}

#[test]
fn binary_operators_on_histograms() {
    let mut q = MemQuerier::new();
    q.append_histogram(&Labels::from_pairs([("__name__", "a")]), 0, bucketed(4.0));
    q.append_histogram(&Labels::from_pairs([("__name__", "b")]), 0, bucketed(1.0));
    let h = |e: &str| {
        let s = instant(&q, e, 0);
        assert_eq!(s.len(), 1, "{e}: {s:?}");
        s[0].h.as_deref().cloned().expect("a histogram")
    };
    assert_eq!(h("a * 2").count, 8.0);
    assert_eq!(h("2 * a").positive_buckets, vec![8.0]);
    assert_eq!(h("a / 4").count, 1.0);
    assert_eq!(h("a + ignoring(__name__) b").count, 5.0);
    let d = h("a - ignoring(__name__) b");
    assert_eq!(
        (d.count, d.counter_reset_hint),
        (3.0, crate::histogram::CounterResetHint::Gauge)
    );
    assert_eq!(h("-a").count, -4.0);
    let r = Engine::default().instant_query(&q, "a + 1", 0).unwrap();
    assert_eq!(r.value, Value::Vector(Vec::new()));
    assert_eq!(
        r.infos,
        vec!["PromQL info: incompatible sample types encountered for binary operator \"+\": histogram + float (1:1)"]
    );
    assert!(instant(&q, "a == ignoring(__name__) b", 0).is_empty());
    assert_eq!(instant(&q, "a != ignoring(__name__) b", 0).len(), 1);
}

#[test]
fn quantile_and_fraction_of_native_histograms() {
    // Schema 0, 4 observations: bucket (0.5,1]:1, (1,2]:2, (2,4]:1. The median lies in
    // (1,2], at its exponential midpoint sqrt(2); half the observations are in (1,2].
    let mut q = MemQuerier::new();
    q.append_histogram(
        &Labels::from_pairs([("__name__", "h")]),
        0,
        FloatHistogram {
            count: 4.0,
            sum: 5.0,
            positive_spans: vec![crate::histogram::Span {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![1.0, 2.0, 1.0],
            ..FloatHistogram::default()
        },
    );
    let v = |e: &str| floats(instant(&q, e, 0))[0].1;
    assert!((v("histogram_quantile(0.5, h)") - 2f64.sqrt()).abs() < 1e-12);
    assert!((v("histogram_fraction(1, 2, h)") - 0.5).abs() < 1e-12);
    assert!(v("histogram_stddev(h)") > 0.0);
}

/// A custom-bucket histogram with the given upper bounds and bucket counts.
fn nhcb(bounds: &[f64], buckets: &[f64], hint: CounterResetHint) -> FloatHistogram {
    let count = buckets.iter().sum();
    FloatHistogram {
        counter_reset_hint: hint,
        schema: crate::histogram::CUSTOM_BUCKETS_SCHEMA,
        count,
        sum: count,
        custom_values: bounds.to_vec(),
        positive_spans: vec![crate::histogram::Span {
            offset: 0,
            length: buckets.len() as u32,
        }],
        positive_buckets: buckets.to_vec(),
        ..FloatHistogram::default()
    }
}

#[test]
fn irate_and_idelta_of_histograms_are_gauges_and_report_reconciled_bounds() {
    use CounterResetHint::*;
    let l = Labels::from_pairs([("__name__", "h")]);
    let mut q = MemQuerier::new();
    // Bounds [1 2 4] then [2 4]: on the shared bounds [2 4] the buckets are 1+2=3, 3, 4
    // before and 5, 6, 7 after; no bucket fell, so no reset.
    q.append_histogram(
        &l,
        0,
        nhcb(&[1.0, 2.0, 4.0], &[1.0, 2.0, 3.0, 4.0], Unknown),
    );
    q.append_histogram(&l, 60_000, nhcb(&[2.0, 4.0], &[5.0, 6.0, 7.0], Unknown));
    let r = Engine::default()
        .instant_query(&q, "irate(h[2m])", 60_000)
        .unwrap();
    let Value::Vector(v) = &r.value else {
        panic!("expected a vector")
    };
    let h = v[0].h.as_deref().expect("a histogram");
    // (5-3, 6-3, 7-4) per 60 s; count (18-10)/60.
    assert_eq!(h.custom_values, vec![2.0, 4.0]);
    assert_eq!(h.positive_buckets, vec![2.0 / 60.0, 3.0 / 60.0, 3.0 / 60.0]);
    assert_eq!(h.count, 8.0 / 60.0);
    assert_eq!(h.counter_reset_hint, Gauge);
    assert_eq!(
        r.infos,
        vec!["PromQL info: mismatched custom buckets were reconciled during subtraction (1:7)"]
    );
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // idelta of counter histograms: the same difference, unscaled, and a warning.
    let r = Engine::default()
        .instant_query(&q, "idelta(h[2m])", 60_000)
        .unwrap();
    let Value::Vector(v) = &r.value else {
        panic!("expected a vector")
    };
    assert_eq!(v[0].h.as_deref().map(|h| h.count), Some(8.0));
    assert_eq!(
        r.warnings,
        vec!["PromQL warning: this native histogram metric is not a gauge: \"h\" (1:8)"]
    );
}

#[test]
fn irate_after_a_bucket_reset_takes_the_newest_histogram() {
    use CounterResetHint::*;
    let l = Labels::from_pairs([("__name__", "h")]);
    let mut q = MemQuerier::new();
    // Bucket (2,4] falls from 2 to 1 under the shared bounds [2 4]: a reset, so the result
    // is the newest histogram over 60 s, without a subtraction (and no info).
    q.append_histogram(&l, 0, nhcb(&[2.0, 4.0], &[1.0, 2.0, 0.0], Unknown));
    q.append_histogram(
        &l,
        60_000,
        nhcb(&[2.0, 3.0, 4.0], &[1.0, 0.0, 1.0, 7.0], Unknown),
    );
    let r = Engine::default()
        .instant_query(&q, "irate(h[2m])", 60_000)
        .unwrap();
    let Value::Vector(v) = &r.value else {
        panic!("expected a vector")
    };
    let h = v[0].h.as_deref().expect("a histogram");
    assert_eq!(h.custom_values, vec![2.0, 3.0, 4.0]);
    // Compacted: the empty (2,3] bucket is left out.
    assert_eq!(h.positive_buckets, vec![1.0 / 60.0, 1.0 / 60.0, 7.0 / 60.0]);
    assert_eq!(h.count, 9.0 / 60.0);
    assert_eq!(h.counter_reset_hint, Gauge);
    assert!(r.infos.is_empty() && r.warnings.is_empty(), "{r:?}");
}

#[test]
fn a_subquery_detects_resets_its_steps_show_whatever_the_stored_hints_say() {
    use CounterResetHint::*;
    // Count 1 in bucket 0 until 20m, then count 1 in bucket 1: a reset only the buckets
    // show. The stored hints say NotCounterReset throughout (as inside one chunk).
    let l = Labels::from_pairs([("__name__", "h")]);
    let mut q = MemQuerier::new();
    for m in 0..=41 {
        let buckets: &[f64] = if m <= 20 { &[1.0] } else { &[0.0, 1.0] };
        let mut h = bucketed(1.0);
        h.positive_spans = vec![crate::histogram::Span {
            offset: 0,
            length: buckets.len() as u32,
        }];
        h.positive_buckets = buckets.to_vec();
        h.counter_reset_hint = NotCounterReset;
        q.append_histogram(&l, m * 60_000, h);
    }
    // Steps at 9, 18, 27 and 36 minutes; the reset between 18 and 27 adds the 18m
    // histogram back: increase = 1 in bucket 1. Extrapolated from the 27 minutes sampled by
    // 8 minutes to the window start (1m) and 5 to its end: factor 40/27.
    let s = instant(&q, "increase(h[40m:9m])", 41 * 60_000);
    let h = s[0].h.as_deref().expect("a histogram");
    let factor = 40.0 / 27.0;
    assert!((h.count - factor).abs() < 1e-12, "{h:?}");
    assert_eq!(h.positive_spans[0].offset, 1);
    assert!((h.positive_buckets[0] - factor).abs() < 1e-12, "{h:?}");
    assert_eq!(h.counter_reset_hint, Gauge);
}

#[test]
fn histogram_count_settles_unknown_hints_against_the_previous_sample() {
    use CounterResetHint::*;
    // Two counters at 60s: `a` grew (NotCounterReset), `b`'s newest sample starts a new
    // chunk after a reset and is stored as Unknown. Read for histogram_count, `b`'s sample
    // is compared with its predecessor, found to be a reset, and the sum of a reset and a
    // not-reset hint is a conflict.
    let (a, b) = (
        Labels::from_pairs([("__name__", "m"), ("x", "a")]),
        Labels::from_pairs([("__name__", "m"), ("x", "b")]),
    );
    let mut q = MemQuerier::new();
    let with = |count: f64, hint| FloatHistogram {
        counter_reset_hint: hint,
        ..hist(count)
    };
    q.append_histogram(&a, 0, with(1.0, Unknown));
    q.append_histogram(&a, 60_000, with(2.0, NotCounterReset));
    q.append_histogram(&b, 0, with(5.0, Unknown));
    q.append_histogram(&b, 60_000, with(3.0, Unknown));
    let r = Engine::default()
        .instant_query(&q, "histogram_count(sum(m))", 60_000)
        .unwrap();
    assert_eq!(
        r.warnings,
        vec!["PromQL warning: conflicting counter resets during histogram aggregation (1:21)"]
    );
    let Value::Vector(v) = &r.value else {
        panic!("expected a vector")
    };
    assert_eq!(v[0].v, 5.0);
    // Without histogram_count the buckets are read and the hints are taken as stored:
    // NotCounterReset + Unknown is Unknown, no conflict.
    let r = Engine::default()
        .instant_query(&q, "sum(m)", 60_000)
        .unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // The predecessor must have been read: past the lookback it is not, and b stays
    // Unknown.
    let mut q = MemQuerier::new();
    q.append_histogram(&a, 0, with(2.0, NotCounterReset));
    q.append_histogram(&b, 0, with(5.0, Unknown));
    q.append_histogram(&b, 301_000, with(3.0, Unknown));
    q.append_histogram(&a, 301_000, with(2.0, NotCounterReset));
    let r = Engine::default()
        .instant_query(&q, "histogram_count(sum(m))", 301_000)
        .unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}
