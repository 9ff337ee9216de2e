//! The explanation's parts, each against a hand-worked expectation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::alertmanager::{parse_matchers, Matchers};

/// 2027-01-15T12:00:00Z, a Friday.
const NOW: i64 = 1_800_014_400_000;
const MIN: i64 = 60_000;

const CFG: &str = r#"
route:
  receiver: triage
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
  routes:
    - matchers: ['severity="page"']
      receiver: pager
    - matchers: ['maintenance="yes"']
      receiver: pager
      mute_time_intervals: [always]
inhibit_rules:
  - source_matchers: ['alertname="ClusterDown"']
    target_matchers: ['alertname!="ClusterDown"']
    equal: [cluster]
owners:
  receivers: {payments: team-pay}
time_intervals:
  - name: always
    time_intervals: [{times: [{start_time: '00:00', end_time: '24:00'}]}]
receivers: [{name: triage}, {name: pager}, {name: team-pay}]
"#;

struct World {
    config: AlertmanagerConfig,
    silences: Vec<Silence>,
    inhibitor: Inhibitor,
    alerts: Vec<Arc<Alert>>,
    groups: Vec<GroupSnapshot>,
    nflog: NotificationLog,
    integrations: BTreeMap<String, Vec<IntegrationInfo>>,
}

impl World {
    fn new() -> World {
        let config = AlertmanagerConfig::from_yaml_str(CFG, "am.yml").unwrap();
        let inhibitor = Inhibitor::new(&config.inhibit_rules);
        let webhook = vec![IntegrationInfo {
            integration: "webhook[0]".into(),
            send_resolved: true,
        }];
        World {
            inhibitor,
            silences: Vec::new(),
            alerts: Vec::new(),
            groups: Vec::new(),
            nflog: NotificationLog::new(Duration::from_secs(120 * 3600)),
            integrations: ["triage", "pager", "team-pay"]
                .iter()
                .map(|r| (r.to_string(), webhook.clone()))
                .collect(),
            config,
        }
    }

    fn explain(&self, labels: &Labels) -> Explanation {
        let state = PipelineState {
            config: &self.config,
            silences: &self.silences,
            inhibitor: &self.inhibitor,
            alerts: &self.alerts,
            groups: &self.groups,
            nflog: &self.nflog,
            integrations: &self.integrations,
        };
        let held = self
            .alerts
            .iter()
            .find(|a| a.labels == *labels)
            .map(|a| a.as_ref());
        explain(&state, labels, held, NOW)
    }
}

fn alert(pairs: &[(&str, &str)], starts_at_ms: i64) -> Alert {
    Alert {
        labels: Labels::from_pairs(pairs.iter().copied()),
        annotations: Labels::empty(),
        starts_at_ms,
        ends_at_ms: NOW + 5 * MIN,
        generator_url: String::new(),
        updated_at_ms: NOW,
        timeout: true,
    }
}

#[test]
fn a_new_label_set_is_sent_group_wait_from_now_to_its_routes_receiver() {
    let w = World::new();
    let l = Labels::from_pairs([("alertname", "Down"), ("severity", "page")]);
    let ex = w.explain(&l);
    assert_eq!(ex.receivers, ["pager"]);
    let d = &ex.destinations[0];
    assert_eq!(d.route, "route.routes[0]");
    assert_eq!(d.group_key, r#"{}/{severity="page"}:{alertname="Down"}"#);
    assert_eq!(d.group_by, ["alertname"]);
    // No owner label: the owner is the receiver.
    assert_eq!(
        (d.owner.as_str(), d.owner_from.as_str()),
        ("pager", "receiver")
    );
    assert!(d.group.is_none());
    let i = &d.integrations[0];
    assert_eq!(i.last_sent, None);
    // group_wait (30s) after now, the first notification of a new alert.
    assert_eq!(i.next_send, Some(Time(NOW + 30_000)));
    assert_eq!(i.next_send_reason.as_deref(), Some("new_alerts"));
    assert!(ex.silences.is_empty() && ex.inhibition.is_none());
    assert!(ex.alert.is_none());
}

#[test]
fn the_owner_map_picks_the_receiver_of_an_alert_on_the_root_route() {
    let w = World::new();
    let l = Labels::from_pairs([("alertname", "Slow"), ("team", "payments")]);
    let d = &w.explain(&l).destinations[0];
    assert_eq!(d.route, "route");
    assert_eq!(d.route_receiver, "triage");
    assert_eq!(
        (d.receiver.as_str(), d.chosen_by.as_str()),
        ("team-pay", "owner")
    );
    assert_eq!(
        (d.owner.as_str(), d.owner_from.as_str()),
        ("payments", "label team")
    );
    // An unknown owner falls back to the root's receiver (no fallback_receiver is set).
    let l = Labels::from_pairs([("alertname", "Slow"), ("team", "search")]);
    let d = &w.explain(&l).destinations[0];
    assert_eq!(
        (d.receiver.as_str(), d.chosen_by.as_str()),
        ("triage", "fallback")
    );
}

#[test]
fn an_unchanged_notified_group_is_repeated_at_the_first_flush_after_repeat_interval() {
    let mut w = World::new();
    let a = alert(
        &[("alertname", "Down"), ("severity", "page")],
        NOW - 20 * MIN,
    );
    let key = r#"{}/{severity="page"}:{alertname="Down"}"#;
    w.nflog.record(
        &NflogKey {
            group_key: key.into(),
            receiver: "pager".into(),
            integration: "webhook[0]".into(),
        },
        BTreeSet::from([a.fingerprint()]),
        BTreeSet::new(),
        NOW - 10 * MIN,
    );
    w.groups.push(GroupSnapshot {
        route_id: r#"{}/{severity="page"}/0"#.into(),
        receiver: "pager".into(),
        group_key: key.into(),
        group_labels: Labels::from_pairs([("alertname", "Down")]),
        alerts: vec![a.clone()],
        next_flush_ms: NOW + MIN,
        has_flushed: true,
    });
    w.alerts.push(Arc::new(a.clone()));
    let ex = w.explain(&a.labels);
    assert_eq!(ex.alert.as_ref().map(|a| a.state.as_str()), Some("firing"));
    let d = &ex.destinations[0];
    let g = d.group.as_ref().unwrap();
    assert!(g.holds_alert);
    assert_eq!(g.next_flush, Time(NOW + MIN));
    let i = &d.integrations[0];
    assert_eq!(i.last_sent, Some(Time(NOW - 10 * MIN)));
    assert_eq!(i.alert_last_notified.as_deref(), Some("firing"));
    assert_eq!(i.repeat_due, Some(Time(NOW + 50 * MIN)));
    // Flushes at +1m, +6m, …, +46m, +51m: the first strictly after +50m is +51m.
    assert_eq!(i.next_send, Some(Time(NOW + 51 * MIN)));
    assert_eq!(i.next_send_reason.as_deref(), Some("repeat_interval"));
}

#[test]
fn silences_and_inhibitions_that_apply_now_are_named() {
    let mut w = World::new();
    let silence = |id: &str, m: &str, starts: i64| Silence {
        id: id.into(),
        matchers: Matchers(parse_matchers(m).unwrap()),
        starts_at_ms: starts,
        ends_at_ms: NOW + 60 * MIN,
        updated_at_ms: NOW - MIN,
        created_by: "ana".into(),
        comment: "db upgrade".into(),
    };
    w.silences
        .push(silence("s-active", r#"{cluster="eu"}"#, NOW - MIN));
    // Control: a pending silence that would match, and an active one that does not.
    w.silences
        .push(silence("s-pending", r#"{cluster="eu"}"#, NOW + MIN));
    w.silences
        .push(silence("s-other", r#"{cluster="us"}"#, NOW - MIN));
    let source = alert(
        &[("alertname", "ClusterDown"), ("cluster", "eu")],
        NOW - MIN,
    );
    w.inhibitor.observe(&source, NOW);
    w.alerts.push(Arc::new(source.clone()));
    let l = Labels::from_pairs([("alertname", "Down"), ("cluster", "eu")]);
    let ex = w.explain(&l);
    let ids: Vec<&str> = ex.silences.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s-active"]);
    assert_eq!(ex.silences[0].created_by, "ana");
    assert_eq!(ex.silences[0].comment, "db upgrade");
    assert_eq!(ex.silences[0].ends_at, Time(NOW + 60 * MIN));
    let i = ex.inhibition.as_ref().expect("inhibited");
    assert_eq!(i.rule, 0);
    assert_eq!(i.source_fingerprint, fingerprint_hex(source.fingerprint()));
    assert_eq!(
        i.source_labels.get("alertname").map(String::as_str),
        Some("ClusterDown")
    );
    assert_eq!(i.equal, ["cluster"]);
    let integ = &ex.destinations[0].integrations[0];
    assert_eq!(integ.next_send, None, "a muted alert alone sends nothing");
    // Control: another cluster is neither silenced nor inhibited.
    let l = Labels::from_pairs([("alertname", "Down"), ("cluster", "ap")]);
    let ex = w.explain(&l);
    assert!(ex.silences.is_empty() && ex.inhibition.is_none());
    assert!(ex.destinations[0].integrations[0].next_send.is_some());
}

#[test]
fn a_route_muted_by_a_time_interval_says_so() {
    let w = World::new();
    let l = Labels::from_pairs([("alertname", "Disk"), ("maintenance", "yes")]);
    let ex = w.explain(&l);
    let d = &ex.destinations[0];
    assert_eq!(d.route, "route.routes[1]");
    assert!(d.muted_by_time);
    assert_eq!(d.integrations[0].next_send, None);
    let visit = &ex.route.routes[1];
    assert_eq!(
        visit.time_intervals,
        [IntervalVerdict {
            name: "always".into(),
            kind: "mute".into(),
            contains_now: true
        }]
    );
    // Control: the page route has no intervals and is not muted.
    assert!(!ex.route.routes[0].muted_now);
}

#[test]
fn the_explanation_reads_back_from_its_json_and_renders_as_text() {
    let w = World::new();
    let l = Labels::from_pairs([("alertname", "Down"), ("severity", "page")]);
    let ex = w.explain(&l);
    let json = serde_json::to_string(&ex).unwrap();
    let back: Explanation = serde_json::from_str(&json).unwrap();
    assert_eq!(back, ex);
    let text = text::render(&ex);
    assert!(text.contains("Receivers: pager\n"), "{text}");
    assert!(
        text.contains(r#"{severity="page"}  receiver: pager  [MATCHED, destination]"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ok   severity="page": severity is "page""#),
        "{text}"
    );
}
