//! The metric type and unit labels (`__type__`, `__unit__`) in PromQL, as Prometheus 3.5+
//! treats them: they go with `__name__` wherever the name is dropped (at the end of the
//! query, `cleanupMetricLabels`; at once for vector arithmetic, `resultMetric`), `without`
//! grouping keeps them, and with the `type-and-unit-labels` feature `rate`/`increase` judge a
//! counter by `__type__`. Expected values are worked out by hand in each test.

use super::*;
use crate::store::{Labels, Store};

/// Every minute from 0 to 10 minutes: `req_total` (a counter in requests) rising 60 a
/// minute, `temp` (a gauge in celsius) at 20, and `plain` (no type or unit) rising 30 a
/// minute.
fn store() -> Store {
    let req = Labels::from_pairs([
        ("__name__", "req_total"),
        ("__type__", "counter"),
        ("__unit__", "requests"),
        ("job", "a"),
    ]);
    let temp = Labels::from_pairs([
        ("__name__", "temp"),
        ("__type__", "gauge"),
        ("__unit__", "celsius"),
        ("job", "a"),
    ]);
    let plain = Labels::from_pairs([("__name__", "plain"), ("job", "a")]);
    let store = Store::new();
    let mut app = store.appender();
    for i in 0..=10i64 {
        let t = i * 60_000;
        app.append(&req, t, (i * 60) as f64).expect("append");
        app.append(&temp, t, 20.0).expect("append");
        app.append(&plain, t, (i * 30) as f64).expect("append");
    }
    app.commit();
    store
}

fn engine(type_and_unit_labels: bool) -> Engine {
    Engine::new(EngineOptions {
        features: crate::features::Features {
            type_and_unit_labels,
            ..Default::default()
        },
        ..EngineOptions::default()
    })
}

/// A result element: its labels (the name included) as pairs, and its value.
type Element = (Vec<(String, String)>, f64);

/// The result at 10 minutes, and the infos the query raised.
fn at_10m(e: &Engine, q: &str) -> (Vec<Element>, Vec<String>) {
    let r = e.instant_query(&store(), q, 600_000).expect(q);
    let Value::Vector(v) = r.value else {
        panic!("{q}: expected a vector")
    };
    let v = v
        .into_iter()
        .map(|s| {
            let l = s
                .labels
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect();
            (l, s.v)
        })
        .collect();
    (v, r.infos)
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|&(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// `rate` drops the name and with it the type and unit: the rate of a counter is not that
/// counter. 60 requests a minute is 1 per second.
#[test]
fn rate_drops_type_and_unit_with_the_name() {
    for feature in [false, true] {
        let (v, _) = at_10m(&engine(feature), "rate(req_total[5m])");
        assert_eq!(v, [(labels(&[("job", "a")]), 1.0)], "feature {feature}");
    }
}

/// Control: a function that keeps the name keeps the type and unit too.
#[test]
fn last_over_time_keeps_name_type_and_unit() {
    let (v, _) = at_10m(&engine(true), "last_over_time(req_total[5m])");
    assert_eq!(
        v,
        [(
            labels(&[
                ("__name__", "req_total"),
                ("__type__", "counter"),
                ("__unit__", "requests"),
                ("job", "a")
            ]),
            600.0
        )]
    );
}

/// Vector arithmetic changes the metric's schema: Prometheus' `resultMetric` deletes name,
/// type and unit at once, so `label_replace` after it finds no `__type__` (its regex `.+`
/// does not match the empty value, so nothing is set). Control: a comparison keeps the
/// series' labels, and there `label_replace` copies the type. 600 + 600 = 1200.
#[test]
fn vector_arithmetic_drops_type_and_unit_at_once() {
    let e = engine(true);
    let (v, _) = at_10m(
        &e,
        r#"label_replace(req_total + req_total, "t", "$1", "__type__", "(.+)")"#,
    );
    assert_eq!(v, [(labels(&[("job", "a")]), 1200.0)]);
    let (v, _) = at_10m(
        &e,
        r#"label_replace(req_total > 0, "t", "$1", "__type__", "(.+)")"#,
    );
    assert_eq!(
        v,
        [(
            labels(&[
                ("__name__", "req_total"),
                ("__type__", "counter"),
                ("__unit__", "requests"),
                ("job", "a"),
                ("t", "counter")
            ]),
            600.0
        )]
    );
    // Vector-scalar arithmetic drops them at the end of the query: 600 * 2.
    let (v, _) = at_10m(&e, "req_total * 2");
    assert_eq!(v, [(labels(&[("job", "a")]), 1200.0)]);
}

/// `without` removes the name but keeps type and unit (Prometheus' `generateGroupingLabels`);
/// over `rate` they are gone with the dropped name. `by (__type__)` groups by the type.
#[test]
fn grouping_keeps_type_and_unit_unless_the_name_is_dropped() {
    let e = engine(true);
    let (v, _) = at_10m(&e, "sum without (job) (req_total)");
    assert_eq!(
        v,
        [(
            labels(&[("__type__", "counter"), ("__unit__", "requests")]),
            600.0
        )]
    );
    let (v, _) = at_10m(&e, "sum without (job) (rate(req_total[5m]))");
    assert_eq!(v, [(labels(&[]), 1.0)]);
    let (v, _) = at_10m(&e, "sum by (__type__) (req_total)");
    assert_eq!(v, [(labels(&[("__type__", "counter")]), 600.0)]);
    let (v, _) = at_10m(&e, "sum by (__type__) (rate(req_total[5m]))");
    assert_eq!(v, [(labels(&[]), 1.0)]);
}

/// With the feature, `rate` over a series whose `__type__` is not `counter` or `histogram`
/// (or is missing) raises upstream's info, naming the type it got; a counter raises none.
/// The position is the range selector's (column 6 after `rate(`).
#[test]
fn rate_judges_counters_by_type_with_the_feature() {
    let e = engine(true);
    let (_, infos) = at_10m(&e, "rate(temp[5m])");
    assert_eq!(
        infos,
        [
            r#"PromQL info: metric might not be a counter, __type__ label is not set to "counter" or "histogram", got "gauge": "temp" (1:6)"#
        ]
    );
    let (_, infos) = at_10m(&e, "increase(plain[5m])");
    assert_eq!(
        infos,
        [
            r#"PromQL info: metric might not be a counter, __type__ label is not set to "counter" or "histogram", got "": "plain" (1:10)"#
        ]
    );
    let (v, infos) = at_10m(&e, "rate(req_total[5m])");
    assert!(infos.is_empty(), "{infos:?}");
    assert_eq!(v.len(), 1);
}

/// Control: without the feature the name's suffix decides, whatever `__type__` says.
#[test]
fn rate_judges_counters_by_name_without_the_feature() {
    let e = engine(false);
    let (_, infos) = at_10m(&e, "rate(temp[5m])");
    assert_eq!(
        infos,
        [
            r#"PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "temp" (1:6)"#
        ]
    );
    let (_, infos) = at_10m(&e, "rate(req_total[5m])");
    assert!(infos.is_empty(), "{infos:?}");
}
