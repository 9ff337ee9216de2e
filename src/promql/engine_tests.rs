//! Engine behaviour as a caller sees it: value shapes, staleness, modifiers, limits, errors.

use super::testing::MemQuerier;
use super::*;
use crate::store::{Labels, STALE_NAN};

fn store() -> MemQuerier {
    let mut q = MemQuerier::new();
    let a = Labels::from_pairs([("__name__", "req_total"), ("job", "a")]);
    let b = Labels::from_pairs([("__name__", "req_total"), ("job", "b")]);
    for i in 0..=10 {
        q.append(&a, i * 60_000, (i * 60) as f64);
        q.append(&b, i * 60_000, (i * 120) as f64);
    }
    q
}

fn vector(r: QueryResult) -> Vec<(String, f64)> {
    match r.value {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect(),
        other => panic!("expected a vector, got {other:?}"),
    }
}

#[test]
fn rate_drops_the_metric_name_and_extrapolates() {
    let r = Engine::default()
        .instant_query(&store(), "rate(req_total[5m])", 600_000)
        .unwrap();
    assert_eq!(
        vector(r),
        vec![
            ("{job=\"a\"}".to_string(), 1.0),
            ("{job=\"b\"}".to_string(), 2.0)
        ]
    );
}

#[test]
fn stale_marker_ends_the_series_at_once() {
    let mut q = MemQuerier::new();
    let l = Labels::from_pairs([("__name__", "up")]);
    q.append(&l, 0, 1.0);
    q.append(&l, 15_000, STALE_NAN);
    let e = Engine::default();
    assert_eq!(vector(e.instant_query(&q, "up", 10_000).unwrap()).len(), 1);
    assert!(vector(e.instant_query(&q, "up", 20_000).unwrap()).is_empty());
}

#[test]
fn lookback_is_open_on_the_left() {
    let mut q = MemQuerier::new();
    q.append(&Labels::from_pairs([("__name__", "up")]), 0, 1.0);
    let e = Engine::default();
    assert_eq!(vector(e.instant_query(&q, "up", 299_999).unwrap()).len(), 1);
    assert!(vector(e.instant_query(&q, "up", 300_000).unwrap()).is_empty());
}

#[test]
fn range_query_returns_one_series_per_label_set() {
    let r = Engine::default()
        .range_query(&store(), "sum(req_total)", 0, 120_000, 60_000)
        .unwrap();
    let Value::Matrix(m) = r.value else {
        panic!("expected a matrix")
    };
    assert_eq!(m.len(), 1);
    let pts: Vec<(i64, f64)> = m[0].samples.iter().map(|p| (p.t, p.v)).collect();
    assert_eq!(pts, vec![(0, 0.0), (60_000, 180.0), (120_000, 360.0)]);
}

#[test]
fn at_modifier_and_offset() {
    let e = Engine::default();
    let r = e
        .instant_query(&store(), "req_total{job=\"a\"} @ 300 offset 1m", 600_000)
        .unwrap();
    assert_eq!(vector(r)[0].1, 240.0);
}

#[test]
fn max_samples_aborts_with_an_error() {
    let e = Engine::new(EngineOptions {
        max_samples: 5,
        ..EngineOptions::default()
    });
    let r = e.instant_query(&store(), "sum_over_time(req_total[10m])", 600_000);
    assert_eq!(r, Err(QueryError::TooManySamples));
}

#[test]
fn parse_and_execution_errors_are_typed() {
    let e = Engine::default();
    assert!(matches!(
        e.instant_query(&store(), "sum(", 0),
        Err(QueryError::Parse(_))
    ));
    let r = e.instant_query(&store(), "req_total + on() req_total", 600_000);
    assert!(matches!(r, Err(QueryError::Execution(_))), "{r:?}");
    assert!(matches!(
        e.range_query(&store(), "req_total[5m]", 0, 60_000, 1_000),
        Err(QueryError::Parse(_))
    ));
}

#[test]
fn sort_in_a_range_query_warns_with_position() {
    let r = Engine::default()
        .range_query(&store(), "sum(sort(req_total))", 0, 60_000, 60_000)
        .unwrap();
    assert_eq!(
        r.warnings,
        vec!["PromQL warning: sort is ineffective for range queries since results are always ordered by labels (1:5)"]
    );
}

#[test]
fn pre_parsed_expression_evaluates_like_text() {
    let e = Engine::default();
    let ast = Engine::parse("count(req_total)").unwrap();
    let a = e.instant_query_expr(&store(), &ast, 600_000).unwrap();
    let b = e
        .instant_query(&store(), "count(req_total)", 600_000)
        .unwrap();
    assert_eq!(a.value, b.value);
}

#[test]
fn hostile_inputs_do_not_panic() {
    let e = Engine::default();
    for q in [
        "req_total @ 9999999999999",
        "req_total offset -1000000w",
        "rate(req_total[10m:1s] @ 0)",
        "day_of_year(vector(1e300))",
        "round(req_total, 0)",
        "histogram_quantile(0.5, req_total)",
        "topk(1e300, req_total)",
        "count_values(\"v\", req_total)",
        "label_replace(req_total, \"x\", \"$9\", \"job\", \"(.*)\")",
    ] {
        let _ = e.instant_query(&store(), q, 600_000);
    }
}

#[test]
fn timeout_stops_a_runaway_subquery() {
    let e = Engine::new(EngineOptions {
        timeout: Some(std::time::Duration::from_millis(50)),
        ..EngineOptions::default()
    });
    let r = e.instant_query(&store(), "max_over_time(req_total[1y:1ms])", 600_000);
    assert_eq!(r, Err(QueryError::Timeout));
}

fn matrix(r: QueryResult) -> Vec<(String, Vec<(i64, f64)>)> {
    match r.value {
        Value::Matrix(m) => m
            .into_iter()
            .map(|s| {
                let pts = s.samples.iter().map(|p| (p.t, p.v)).collect();
                (s.labels.to_string(), pts)
            })
            .collect(),
        other => panic!("expected a matrix, got {other:?}"),
    }
}

/// Label sets are memoised per query by pointer; `label_replace` makes new ones at every
/// step, and those must still merge into one result series per label set.
#[test]
fn range_query_merges_fresh_label_sets_from_label_replace() {
    let r = Engine::default()
        .range_query(
            &store(),
            r#"label_replace(req_total, "env", "prod", "", "")"#,
            0,
            120_000,
            60_000,
        )
        .unwrap();
    let m = matrix(r);
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].0, r#"req_total{env="prod", job="a"}"#);
    assert_eq!(m[0].1, vec![(0, 0.0), (60_000, 60.0), (120_000, 120.0)]);
}

/// `rate` straight over a selector slices the cached samples instead of copying them; a
/// staleness marker inside the window must still be left out.
#[test]
fn rate_over_a_selector_skips_staleness_markers() {
    let mut q = MemQuerier::new();
    let l = Labels::from_pairs([("__name__", "c_total")]);
    for (t, v) in [(0, 1.0), (30_000, 2.0), (60_000, STALE_NAN), (90_000, 4.0)] {
        q.append(&l, t, v);
    }
    let e = Engine::default();
    let r = vector(e.instant_query(&q, "rate(c_total[2m])", 100_000).unwrap());
    // Window (-20 s, 100 s]: 1 @0, 2 @30, 4 @90, a rise of 3 over 90 s, extrapolated by
    // 20 s at the start and 10 s at the end, over the 120 s range: 3 / 90 per second.
    assert_eq!(r.len(), 1);
    assert!((r[0].1 - 3.0 / 90.0).abs() < 1e-12, "{}", r[0].1);
    let n = vector(
        e.instant_query(&q, "count_over_time(c_total[2m])", 100_000)
            .unwrap(),
    );
    assert_eq!(n[0].1, 3.0);
}

/// Grouping keys are interned per query: `sum by` over a range query must keep groups
/// apart and merge the members of each one at every step.
#[test]
fn sum_by_in_a_range_query_groups_every_step() {
    let r = Engine::default()
        .range_query(
            &store(),
            "sum by (job) (req_total) + on (job) group_left sum by (job) (req_total)",
            0,
            120_000,
            60_000,
        )
        .unwrap();
    let m = matrix(r);
    assert_eq!(
        m,
        vec![
            (
                "{job=\"a\"}".to_string(),
                vec![(0, 0.0), (60_000, 120.0), (120_000, 240.0)]
            ),
            (
                "{job=\"b\"}".to_string(),
                vec![(0, 0.0), (60_000, 240.0), (120_000, 480.0)]
            ),
        ]
    );
}

#[test]
fn extreme_offsets_ranges_and_at_modifiers_do_not_overflow() {
    // Durations and `@` times beyond i64 milliseconds were cast with `as` (wrapping around)
    // and negated (overflowing); an unoptimised build panicked. Far outside the data, every
    // one of these selects nothing.
    let e = Engine::default();
    for q in [
        "req_total @ -9223372036854775",
        "req_total @ 9223372036854775",
        "req_total offset 100000000y",
        "req_total offset -100000000y",
        "rate(req_total[100000000y] @ -9223372036854775)",
        "max_over_time(req_total[5m:1ms] offset -100000000y)",
        "max_over_time(req_total[5m:1ms] @ 9223372036854775)",
    ] {
        for t in [0, 600_000] {
            match e.instant_query(&store(), q, t) {
                Ok(r) => assert_eq!(r.value, Value::Vector(Vec::new()), "{q}"),
                Err(err) => panic!("{q}: {err}"),
            }
        }
    }
}
