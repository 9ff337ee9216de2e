//! Engine behaviour as a caller sees it: value shapes, staleness, modifiers, limits, errors.
//!
//! The data lives in the real [`Store`], the one production queries, so every test here also
//! reads through the store's own `select_flat` (chunk decoding, time bounds, matchers).

use super::*;
use crate::store::{Labels, Store, STALE_NAN};

/// A store holding `points` (per series in time order), appended and committed as a scrape
/// would.
fn load(points: &[(&Labels, i64, f64)]) -> Store {
    let store = Store::new();
    let mut app = store.appender();
    for (l, t, v) in points {
        app.append(l, *t, *v).expect("append");
    }
    app.commit();
    store
}

/// `req_total{job="a"}` rising 60 a minute and `req_total{job="b"}` 120 a minute, from 0 to
/// 10 minutes.
fn store() -> Store {
    let a = Labels::from_pairs([("__name__", "req_total"), ("job", "a")]);
    let b = Labels::from_pairs([("__name__", "req_total"), ("job", "b")]);
    let mut points = Vec::new();
    for i in 0..=10 {
        points.push((&a, i * 60_000, (i * 60) as f64));
        points.push((&b, i * 60_000, (i * 120) as f64));
    }
    load(&points)
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
    let l = Labels::from_pairs([("__name__", "up")]);
    let q = load(&[(&l, 0, 1.0), (&l, 15_000, STALE_NAN)]);
    let e = Engine::default();
    assert_eq!(vector(e.instant_query(&q, "up", 10_000).unwrap()).len(), 1);
    assert!(vector(e.instant_query(&q, "up", 20_000).unwrap()).is_empty());
}

#[test]
fn lookback_is_open_on_the_left() {
    let q = load(&[(&Labels::from_pairs([("__name__", "up")]), 0, 1.0)]);
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
    let l = Labels::from_pairs([("__name__", "c_total")]);
    let q = load(&[
        (&l, 0, 1.0),
        (&l, 30_000, 2.0),
        (&l, 60_000, STALE_NAN),
        (&l, 90_000, 4.0),
    ]);
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
        "max_over_time(req_total[5m:1ms] @ 9223372036854775)",
    ] {
        for t in [0, 600_000] {
            match e.instant_query(&store(), q, t) {
                Ok(r) => assert_eq!(r.value, Value::Vector(Vec::new()), "{q}"),
                Err(err) => panic!("{q}: {err}"),
            }
        }
    }
    // A duration beyond Go's time.Duration (about 292 years) is a parse error, as in
    // Prometheus (promtool 2.42 check rules: "parse error: duration out of range").
    for q in [
        "req_total offset 100000000y",
        "req_total offset -100000000y",
        "rate(req_total[100000000y] @ -9223372036854775)",
        "max_over_time(req_total[5m:1ms] offset -100000000y)",
    ] {
        assert_eq!(
            e.instant_query(&store(), q, 0),
            Err(QueryError::Parse("duration out of range".into())),
            "{q}"
        );
    }
}

/// A range spanning several of the store's chunks (120 samples each) and starting and ending
/// inside one: the engine sees exactly the samples in `(t - range, t]`, decoded from closed
/// chunks and the open head chunk alike.
#[test]
fn range_over_many_chunks_sees_every_sample_in_the_window() {
    let l = Labels::from_pairs([("__name__", "ticks_total")]);
    // One sample a second, value = its second: 0, 1, …, 999 (8 full chunks and a head).
    let points: Vec<(&Labels, i64, f64)> = (0..1000).map(|i| (&l, i * 1000, i as f64)).collect();
    let q = load(&points);
    let e = Engine::default();
    // At 900 s over 10m: seconds 301..=900, 600 samples whose values sum to
    // (301 + 900) * 600 / 2 = 360_300.
    let n = vector(
        e.instant_query(&q, "count_over_time(ticks_total[10m])", 900_000)
            .unwrap(),
    );
    assert_eq!(n, vec![("{}".to_string(), 600.0)]);
    let s = vector(
        e.instant_query(&q, "sum_over_time(ticks_total[10m])", 900_000)
            .unwrap(),
    );
    assert_eq!(s, vec![("{}".to_string(), 360_300.0)]);
    // The window's first sample lies inside the chunk of seconds 240..=359, its last inside
    // the one of 840..=959; the newest sample is in the open head chunk.
    let first = vector(
        e.instant_query(&q, "min_over_time(ticks_total[10m])", 900_000)
            .unwrap(),
    );
    assert_eq!(first[0].1, 301.0);
    let last = vector(e.instant_query(&q, "ticks_total", 999_500).unwrap());
    assert_eq!(last[0].1, 999.0);
}

/// Equality, inequality, regex and negative regex matchers select through the store's index
/// and its residual matchers alike.
#[test]
fn matchers_select_the_right_series_from_the_store() {
    let e = Engine::default();
    let jobs = |q: &str| -> Vec<String> {
        vector(e.instant_query(&store(), q, 600_000).unwrap())
            .into_iter()
            .map(|(l, _)| l)
            .collect()
    };
    let a = r#"req_total{job="a"}"#.to_string();
    let b = r#"req_total{job="b"}"#.to_string();
    assert_eq!(jobs(r#"req_total{job="a"}"#), vec![a.clone()]);
    assert_eq!(jobs(r#"req_total{job!="a"}"#), vec![b.clone()]);
    assert_eq!(jobs(r#"req_total{job=~"a|b"}"#), vec![a.clone(), b.clone()]);
    assert_eq!(jobs(r#"req_total{job!~"b"}"#), vec![a.clone()]);
    assert_eq!(jobs(r#"{__name__=~"req_.*", job=~".+"}"#), vec![a, b]);
    assert!(jobs(r#"req_total{job="c"}"#).is_empty());
    assert!(jobs(r#"req_total{instance="x"}"#).is_empty());
}

/// `x{v="…"}` holding each of the awkward floats once, at 0.
fn awkward_values() -> Store {
    let series: Vec<(Labels, f64)> = [
        ("-inf", f64::NEG_INFINITY),
        ("-50", -50.0),
        ("-0", -0.0),
        ("0", 0.0),
        ("100", 100.0),
        ("+inf", f64::INFINITY),
        ("nan", f64::NAN),
    ]
    .into_iter()
    .map(|(name, v)| (Labels::from_pairs([("__name__", "x"), ("v", name)]), v))
    .collect();
    let points: Vec<(&Labels, i64, f64)> = series.iter().map(|(l, v)| (l, 0, *v)).collect();
    load(&points)
}

/// The result of `q` at 0 by the `v` label, values compared bit for bit (so `-0` is not `0`
/// and NaN equals NaN); `want` lists (v, value).
fn assert_by_v(q: &str, want: &[(&str, f64)]) {
    let r = Engine::default()
        .instant_query(&awkward_values(), q, 0)
        .unwrap();
    let Value::Vector(got) = r.value else {
        panic!("{q}: expected a vector")
    };
    let mut got: Vec<(String, f64)> = got
        .into_iter()
        .map(|s| {
            assert_eq!(s.labels.metric_name(), None, "{q} keeps the name");
            (s.labels.get("v").unwrap_or("").to_string(), s.v)
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want: Vec<(String, f64)> = want.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    let bits = |v: &[(String, f64)]| -> Vec<(String, u64)> {
        v.iter()
            .map(|(n, f)| {
                (
                    n.clone(),
                    if f.is_nan() {
                        f64::NAN.to_bits()
                    } else {
                        f.to_bits()
                    },
                )
            })
            .collect()
    };
    assert_eq!(bits(&got), bits(&want), "{q}: got {got:?}");
}

const INF: f64 = f64::INFINITY;
const NAN: f64 = f64::NAN;

// Expected values by upstream's definitions: clamp(v, lo, hi) is Go's
// math.Max(lo, math.Min(hi, v)) (NaN wins; Max(+0, -0) = +0, Min(-0, +0) = -0), clamp_min
// is clamp(v, lo, +Inf), clamp_max is clamp(v, -Inf, hi), and clamp with hi < lo is empty.

#[test]
fn clamp_max_limits_from_above() {
    assert_by_v(
        "clamp_max(x, 75)",
        &[
            ("-inf", -INF),
            ("-50", -50.0),
            ("-0", -0.0),
            ("0", 0.0),
            ("100", 75.0),
            ("+inf", 75.0),
            ("nan", NAN),
        ],
    );
    assert_by_v(
        "clamp_max(x, -0)",
        &[
            ("-inf", -INF),
            ("-50", -50.0),
            ("-0", -0.0),
            ("0", -0.0),
            ("100", -0.0),
            ("+inf", -0.0),
            ("nan", NAN),
        ],
    );
}

#[test]
fn clamp_min_limits_from_below() {
    assert_by_v(
        "clamp_min(x, -25)",
        &[
            ("-inf", -25.0),
            ("-50", -25.0),
            ("-0", -0.0),
            ("0", 0.0),
            ("100", 100.0),
            ("+inf", INF),
            ("nan", NAN),
        ],
    );
    assert_by_v(
        "clamp_min(x, 0)",
        &[
            ("-inf", 0.0),
            ("-50", 0.0),
            ("-0", 0.0),
            ("0", 0.0),
            ("100", 100.0),
            ("+inf", INF),
            ("nan", NAN),
        ],
    );
}

#[test]
fn clamp_limits_both_ways() {
    assert_by_v(
        "clamp(x, -25, 75)",
        &[
            ("-inf", -25.0),
            ("-50", -25.0),
            ("-0", -0.0),
            ("0", 0.0),
            ("100", 75.0),
            ("+inf", 75.0),
            ("nan", NAN),
        ],
    );
    // Max(+0, Min(+0, -0)) = Max(+0, -0) = +0.
    assert_by_v(
        "clamp(x, 0, 0)",
        &[
            ("-inf", 0.0),
            ("-50", 0.0),
            ("-0", 0.0),
            ("0", 0.0),
            ("100", 0.0),
            ("+inf", 0.0),
            ("nan", NAN),
        ],
    );
    let all_nan: Vec<(&str, f64)> = ["-inf", "-50", "-0", "0", "100", "+inf", "nan"]
        .iter()
        .map(|n| (*n, NAN))
        .collect();
    assert_by_v("clamp(x, 0, NaN)", &all_nan);
    assert_by_v("clamp(x, NaN, 0)", &all_nan);
}

#[test]
fn clamp_with_min_above_max_is_empty() {
    assert_by_v("clamp(x, 5, -5)", &[]);
    assert_by_v("clamp(x, Inf, -Inf)", &[]);
}

#[test]
fn sgn_keeps_zero_sign_and_nan() {
    assert_by_v(
        "sgn(x)",
        &[
            ("-inf", -1.0),
            ("-50", -1.0),
            ("-0", -0.0),
            ("0", 0.0),
            ("100", 1.0),
            ("+inf", 1.0),
            ("nan", NAN),
        ],
    );
}

/// Prometheus' default engine drops the name where a function or operator drops it, so two
/// series that differ only by name collide there; with `promql-delayed-name-removal` the
/// name stays until the end of evaluation, so an aggregation above still tells them apart
/// and `label_replace` can still read it.
#[test]
fn the_name_goes_at_once_unless_delayed_name_removal_is_on() {
    let a = Labels::from_pairs([("__name__", "a"), ("x", "1")]);
    let b = Labels::from_pairs([("__name__", "b"), ("x", "1")]);
    let q = load(&[(&a, 0, 1.0), (&b, 0, 2.0)]);
    let immediate = Engine::default();
    let delayed = Engine::new(EngineOptions {
        features: crate::features::Features {
            delayed_name_removal: true,
            ..Default::default()
        },
        ..EngineOptions::default()
    });
    let collide = r#"sum(-{__name__=~"a|b"})"#;
    assert_eq!(
        immediate.instant_query(&q, collide, 0),
        Err(QueryError::Execution(
            "vector cannot contain metrics with the same labelset".into()
        ))
    );
    // -1 + -2.
    assert_eq!(
        vector(delayed.instant_query(&q, collide, 0).unwrap()),
        vec![("{}".to_string(), -3.0)]
    );
    let read_name = r#"label_replace(-a, "n", "$1", "__name__", "(.*)")"#;
    // The name is gone before label_replace reads it: `n` would be empty, so it is not set.
    assert_eq!(
        vector(immediate.instant_query(&q, read_name, 0).unwrap()),
        vec![("{x=\"1\"}".to_string(), -1.0)]
    );
    assert_eq!(
        vector(delayed.instant_query(&q, read_name, 0).unwrap()),
        vec![("{n=\"a\", x=\"1\"}".to_string(), -1.0)]
    );
}
