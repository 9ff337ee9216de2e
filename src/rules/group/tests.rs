//! Group evaluation over a real store: recording output, ALERTS series, staleness, errors.

use super::{EvalContext, GroupState, Health};
use crate::promql::Engine;
use crate::rules::alerting::{Alert, AlertState};
use crate::rules::file::parse_rule_file;
use crate::store::{is_stale_nan, Labels, Matcher, Querier, Store};
use std::path::Path;
use std::sync::Arc;

const MIN: i64 = 60_000;

fn group(yaml: &str) -> GroupState {
    let groups = parse_rule_file(Path::new("t.yml"), yaml).expect("valid rules");
    GroupState::new(Arc::new(groups[0].clone()))
}

fn add(store: &Store, series: &[(&str, &str)], t: i64, v: f64) {
    let mut app = store.appender();
    app.append(&Labels::from_pairs(series.iter().copied()), t, v)
        .expect("append");
    app.commit();
}

fn samples(store: &Store, name: &str) -> Vec<(Labels, i64, f64)> {
    let mut out = Vec::new();
    for s in store.select(&[Matcher::equal("__name__", name)], i64::MIN, i64::MAX) {
        for p in s.samples {
            out.push((s.labels.clone(), p.t, p.v));
        }
    }
    out
}

struct Env {
    engine: Engine,
    store: Store,
    ext: Labels,
}

impl Env {
    fn new() -> Self {
        Env {
            engine: Engine::default(),
            store: Store::new(),
            ext: Labels::from_pairs([("cluster", "eu-1")]),
        }
    }
    fn ctx(&self) -> EvalContext<'_> {
        EvalContext {
            engine: &self.engine,
            store: &self.store,
            external_labels: &self.ext,
            external_url: "http://x",
        }
    }
}

#[test]
fn later_rules_see_earlier_recording_rules_of_the_same_evaluation() {
    let env = Env::new();
    add(&env.store, &[("__name__", "up"), ("job", "a")], 0, 1.0);
    let mut g = group(
        "groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n    labels: {src: rule}\n  - record: job:up:double\n    expr: job:up:sum * 2\n",
    );
    let out = g.eval(&env.ctx(), MIN);
    assert!(out.rule_errors.is_empty(), "{:?}", out.rule_errors);
    let got = samples(&env.store, "job:up:double");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.get("src"), Some("rule"));
    assert_eq!((got[0].1, got[0].2), (MIN, 2.0));
    assert_eq!(out.samples_appended, 2);
    assert!(g.rules_health().iter().all(|h| h.health == Health::Ok));
}

#[test]
fn series_a_rule_stops_producing_get_a_staleness_marker() {
    let env = Env::new();
    add(&env.store, &[("__name__", "x"), ("i", "1")], 0, 1.0);
    add(&env.store, &[("__name__", "x"), ("i", "2")], 0, 1.0);
    let mut g = group("groups:\n- name: g\n  rules:\n  - record: y\n    expr: x > 0\n");
    g.eval(&env.ctx(), MIN);
    add(&env.store, &[("__name__", "x"), ("i", "1")], 90_000, 1.0);
    add(&env.store, &[("__name__", "x"), ("i", "2")], 90_000, -1.0);
    g.eval(&env.ctx(), 2 * MIN);
    let got = samples(&env.store, "y");
    let two: Vec<_> = got.iter().filter(|s| s.0.get("i") == Some("2")).collect();
    assert_eq!(two.len(), 2);
    assert_eq!(two[1].1, 2 * MIN);
    assert!(is_stale_nan(two[1].2));
}

#[test]
fn alerts_write_alerts_and_for_state_series_without_external_labels() {
    let env = Env::new();
    add(&env.store, &[("__name__", "up"), ("instance", "a")], 0, 0.0);
    let mut g = group(
        "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 2m\n    labels: {severity: page}\n    annotations: {summary: '{{ $labels.instance }} in {{ $externalLabels.cluster }}'}\n",
    );
    let out = g.eval(&env.ctx(), MIN);
    assert!(out.to_notify.is_empty(), "pending alerts are not sent");
    let alerts = samples(&env.store, "ALERTS");
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].0,
        Labels::from_pairs([
            ("__name__", "ALERTS"),
            ("alertname", "Down"),
            ("alertstate", "pending"),
            ("instance", "a"),
            ("severity", "page"),
        ])
    );
    let fs = samples(&env.store, "ALERTS_FOR_STATE");
    assert_eq!((fs[0].1, fs[0].2), (MIN, 60.0));
    assert_eq!(fs[0].0.get("alertstate"), None);

    g.eval(&env.ctx(), 3 * MIN);
    let out = g.eval(&env.ctx(), 3 * MIN + 1);
    assert!(out.to_notify.is_empty(), "within the resend delay");
    let (rule, a) = &g.alerts()[0];
    assert_eq!(rule, "Down");
    assert_eq!(a.state, AlertState::Firing);
    assert_eq!(a.annotations.get("summary"), Some("a in eu-1"));
    assert_eq!(a.labels.get("cluster"), None);
    // The firing series replaced the pending one, which went stale.
    let pending: Vec<_> = samples(&env.store, "ALERTS")
        .into_iter()
        .filter(|s| s.0.get("alertstate") == Some("pending"))
        .collect();
    assert!(is_stale_nan(pending.last().expect("pending series").2));
}

#[test]
fn firing_alert_is_sent_with_valid_until_from_group_interval() {
    let env = Env::new();
    let mut g =
        group("groups:\n- name: g\n  interval: 5m\n  rules:\n  - alert: A\n    expr: vector(1)\n");
    let out = g.eval(&env.ctx(), 0);
    let sent: Vec<&Alert> = out.alerts_to_notify().collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(out.to_notify[0].expr, "vector(1)");
    assert_eq!(sent[0].valid_until_ms, 20 * MIN);
    assert_eq!(sent[0].labels, Labels::from_pairs([("alertname", "A")]));
}

#[test]
fn duplicate_labelset_after_alert_labels_is_a_rule_error() {
    let env = Env::new();
    add(&env.store, &[("__name__", "a"), ("x", "1")], 0, 1.0);
    add(&env.store, &[("__name__", "b"), ("x", "1")], 0, 1.0);
    let mut g = group("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: '{x=\"1\"}'\n");
    let out = g.eval(&env.ctx(), MIN);
    assert_eq!(
        out.rule_errors,
        [(
            "A".to_string(),
            "vector contains metrics with the same labelset after applying alert labels"
                .to_string()
        )]
    );
    let h = &g.rules_health()[0];
    assert_eq!(h.health, Health::Err);
    assert!(h
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("same labelset")));
}

#[test]
fn recording_rule_duplicate_labelset_and_non_vector_results_are_errors() {
    let env = Env::new();
    add(&env.store, &[("__name__", "a"), ("x", "1")], 0, 1.0);
    add(&env.store, &[("__name__", "b"), ("x", "1")], 0, 1.0);
    let mut g = group("groups:\n- name: g\n  rules:\n  - record: r\n    expr: '{x=\"1\"}'\n  - record: s\n    expr: '\"str\"'\n");
    let out = g.eval(&env.ctx(), MIN);
    assert_eq!(
        out.rule_errors[0].1,
        "vector contains metrics with the same labelset after applying rule labels"
    );
    assert_eq!(
        out.rule_errors[1].1,
        "rule result is not a vector or scalar"
    );
}

#[test]
fn exceeding_the_group_limit_fails_the_rule_and_drops_its_alerts() {
    let env = Env::new();
    for i in ["1", "2", "3"] {
        add(&env.store, &[("__name__", "up"), ("i", i)], 0, 0.0);
    }
    let mut g = group("groups:\n- name: g\n  limit: 2\n  rules:\n  - alert: A\n    expr: up == 0\n  - record: r\n    expr: up\n");
    let out = g.eval(&env.ctx(), MIN);
    assert_eq!(
        out.rule_errors[0],
        (
            "A".to_string(),
            "exceeded limit of 2 with 3 alerts".to_string()
        )
    );
    assert_eq!(
        out.rule_errors[1],
        (
            "r".to_string(),
            "exceeded limit of 2 with 3 series".to_string()
        )
    );
    assert!(g.all_alerts().is_empty());
    assert!(samples(&env.store, "r").is_empty());
}

#[test]
fn query_offset_shifts_query_and_sample_time_but_not_alert_times() {
    let env = Env::new();
    add(&env.store, &[("__name__", "x")], 30_000, 5.0);
    let mut g = group("groups:\n- name: g\n  query_offset: 1m\n  rules:\n  - record: y\n    expr: x\n  - alert: A\n    expr: x > 0\n");
    g.eval(&env.ctx(), 6 * MIN);
    // At 6m - 1m = 5m the sample at 30s is still within the 5m lookback.
    assert_eq!(
        samples(&env.store, "y"),
        [(Labels::from_pairs([("__name__", "y")]), 5 * MIN, 5.0)]
    );
    assert_eq!(g.alerts()[0].1.active_at_ms, 6 * MIN);
}

#[test]
fn restore_puts_persisted_alerts_back_and_keeps_the_for_clock() {
    let env = Env::new();
    add(&env.store, &[("__name__", "up")], 9 * MIN, 0.0);
    let mut g =
        group("groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 10m\n");
    let labels = Labels::from_pairs([("alertname", "Down")]);
    let persisted = Alert {
        labels: labels.clone(),
        annotations: Labels::empty(),
        state: AlertState::Pending,
        value: 0.0,
        active_at_ms: 0,
        fired_at_ms: None,
        resolved_at_ms: None,
        last_sent_ms: None,
        valid_until_ms: 0,
        keep_firing_since_ms: None,
    };
    g.restore("Down", vec![persisted]);
    let out = g.eval(&env.ctx(), 10 * MIN);
    let sent: Vec<&Alert> = out.alerts_to_notify().collect();
    assert_eq!(sent.len(), 1, "fires 10m after the restored active_at");
    assert_eq!(sent[0].active_at_ms, 0);
}

#[test]
fn copy_state_keeps_alerts_of_matching_rules_and_marks_removed_rules_stale() {
    let env = Env::new();
    add(&env.store, &[("__name__", "x")], 0, 1.0);
    let mut old = group("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 0\n    for: 5m\n  - record: gone\n    expr: x\n");
    old.eval(&env.ctx(), MIN);
    let mut new =
        group("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 0\n    for: 5m\n");
    new.copy_state_from(&old);
    assert_eq!(new.alerts()[0].1.active_at_ms, MIN);
    new.eval(&env.ctx(), 2 * MIN);
    let gone = samples(&env.store, "gone");
    assert!(is_stale_nan(gone.last().expect("gone series").2));
}

#[test]
fn group_state_is_send_and_sync_for_the_scheduler() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<GroupState>();
    assert_send_sync::<Alert>();
}
