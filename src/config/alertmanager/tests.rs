//! Config loading and validation tests: Alertmanager's rules, error positions, defaults.

use std::time::Duration;

use super::*;
use crate::config::{Auth, SecretSource};

fn load(text: &str) -> AlertmanagerConfig {
    AlertmanagerConfig::from_yaml_str(text, "am.yml").unwrap_or_else(|e| panic!("{e}"))
}

fn error(text: &str) -> String {
    match AlertmanagerConfig::from_yaml_str(text, "am.yml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn shared_example_fixture_loads_with_defaults() {
    let cfg = AlertmanagerConfig::load_file(Path::new("tests/fixtures/alertmanager_example.yml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.global.resolve_timeout, Duration::from_secs(300));
    let root = &cfg.route.root;
    assert_eq!(
        root.opts.group_by,
        GroupBy::Labels(vec!["alertname".into(), "job".into()])
    );
    assert_eq!(
        root.routes[0].opts.group_wait,
        Duration::from_secs(1),
        "inherited"
    );
    assert_eq!(root.routes[1].key(), r#"{}/{team=~"db|storage"}"#);
    let pager = cfg.receiver("team-api-pager").unwrap();
    assert!(pager.webhook_configs[0].send_resolved);
    let mail = &cfg.receiver("db-mail").unwrap().email_configs[0];
    assert!(!mail.send_resolved && !mail.require_tls);
    assert_eq!(mail.hello, "localhost");
    assert_eq!(cfg.inhibit_rules[0].equal, vec!["job".to_string()]);
}

#[test]
fn group_key_matches_webhook_fixture() {
    let cfg = AlertmanagerConfig::load_file(Path::new("tests/fixtures/alertmanager_example.yml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let body =
        std::fs::read_to_string("tests/fixtures/alertmanager_0.25_webhook_firing.json").unwrap();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let alert = json["alerts"][0]["labels"].as_object().unwrap();
    let labels = Labels::from_pairs(
        alert
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or(""))),
    );
    let routes = cfg.route.matches(&labels);
    assert_eq!(routes[0].opts.receiver, json["receiver"].as_str().unwrap());
    let key = group_key(routes[0], &routes[0].group_labels(&labels));
    assert_eq!(key, json["groupKey"].as_str().unwrap());
}

#[test]
fn inheritance_and_group_by_all() {
    let cfg = load(
        "
route:
  receiver: a
  group_by: ['...']
  repeat_interval: 1h
  routes:
    - matchers: [x=1]
      group_by: []
      routes:
        - matchers: [y=2]
          receiver: b
          group_by: [y]
          group_interval: 1m
receivers: [{name: a}, {name: b}]
",
    );
    let child = &cfg.route.root.routes[0];
    assert_eq!(
        child.opts.group_by,
        GroupBy::All,
        "an empty group_by inherits"
    );
    assert_eq!(child.opts.group_wait, Duration::from_secs(30));
    let grandchild = &child.routes[0];
    assert_eq!(grandchild.opts.receiver, "b");
    assert_eq!(grandchild.opts.repeat_interval, Duration::from_secs(3600));
    assert_eq!(grandchild.opts.group_interval, Duration::from_secs(60));
    assert_eq!(grandchild.id(), r#"{}/{x="1"}/{y="2"}/0"#);
    let l = Labels::from_pairs([("x", "1"), ("y", "2"), ("z", "3")]);
    assert_eq!(child.group_labels(&l), l);
    assert_eq!(
        grandchild.group_labels(&l),
        Labels::from_pairs([("y", "2")])
    );
}

#[test]
fn legacy_match_and_matchers_are_sorted_together() {
    let cfg = load(
        "
route:
  receiver: a
  routes:
    - match: {b: '1'}
      match_re: {a: 'x|y'}
      matchers: ['{c!=\"3\",a=\"z\"}']
      receiver: a
receivers: [{name: a}]
",
    );
    assert_eq!(
        cfg.route.root.routes[0].key(),
        // As `amtool config routes` (Alertmanager 0.25) prints this route: a legacy regex
        // keeps its anchored form.
        r#"{}/{a=~"^(?:x|y)$",a="z",b="1",c!="3"}"#
    );
}

#[test]
fn alertmanager_validation_rules() {
    let cases = [
        (
            "route: {receiver: a}\nreceivers: [{name: b}]",
            r#"route.receiver: undefined receiver "a" used in route"#,
        ),
        (
            "route: {}\nreceivers: [{name: a}]",
            "root route must specify a default receiver",
        ),
        ("receivers: [{name: a}]", "no routes provided"),
        (
            "route: {receiver: a, matchers: [x=1]}\nreceivers: [{name: a}]",
            "root route must not have any matchers",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a}, {name: a}]",
            r#"notification config name "a" is not unique"#,
        ),
        (
            "route: {receiver: a, routes: [{mute_time_intervals: [nope]}]}\nreceivers: [{name: a}]",
            r#"undefined time interval "nope" used in route"#,
        ),
        (
            "route: {receiver: a, group_by: [x, x]}\nreceivers: [{name: a}]",
            r#"duplicated label "x" in group_by"#,
        ),
        (
            "route: {receiver: a, group_by: ['...', x]}\nreceivers: [{name: a}]",
            "cannot have wildcard group_by",
        ),
        (
            "route: {receiver: a, repeat_interval: 0s}\nreceivers: [{name: a}]",
            "repeat_interval cannot be zero",
        ),
        (
            "route: {receiver: a, routes: [{matchers: ['a=\"b']}]}\nreceivers: [{name: a}]",
            "route.routes[0].matchers[0]",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a, webhook_configs: [{}]}]",
            "one of url or url_file must be configured",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a, email_configs: [{to: x@y}]}]",
            "no global SMTP smarthost set",
        ),
        (
            "route: {receiver: a}\ntime_intervals: [{name: t}, {name: t}]\nreceivers: [{name: a}]",
            r#"time interval "t" is not unique"#,
        ),
    ];
    for (text, want) in cases {
        let got = error(text);
        assert!(got.contains(want), "{text}\n got: {got}\nwant: {want}");
    }
}

#[test]
fn unsupported_receiver_kind_is_named() {
    let e = error(
        "route: {receiver: a}\nreceivers:\n  - name: a\n    wechat_configs:\n      - message: x\n",
    );
    assert!(e.contains("receivers[0].wechat_configs"), "{e}");
    assert!(e.contains("wechat_configs is not supported"), "{e}");
    // Empty lists ask for nothing and load.
    load("route: {receiver: a}\nreceivers: [{name: a, wechat_configs: []}]");
}

#[test]
fn errors_carry_file_path_and_line() {
    let text = "route:\n  receiver: a\n  routes:\n    - receiver: pagr\nreceivers:\n  - name: a\n";
    let e = AlertmanagerConfig::from_yaml_str(text, "am.yml").unwrap_err();
    assert_eq!(e.field_path(), Some("route.routes[0].receiver"));
    assert_eq!(e.position(), Some((4, 17)));
    assert!(
        e.to_string()
            .starts_with("am.yml:4:17: route.routes[0].receiver: undefined receiver"),
        "{e}"
    );
    let e = AlertmanagerConfig::from_yaml_str("route: {receiver: a, group_wiat: 1s}\n", "am.yml")
        .unwrap_err();
    assert!(e.to_string().contains("unknown field `group_wiat`"), "{e}");
    assert!(e.position().is_some());
}

#[test]
fn webhook_and_email_defaults_from_global() {
    let cfg = load(
        "
global:
  smtp_from: am@example.org
  smtp_smarthost: smtp.example.org:587
  smtp_auth_username: am
  smtp_auth_password_file: secret.txt
  http_config:
    authorization: {credentials: tok}
route: {receiver: a}
receivers:
  - name: a
    webhook_configs:
      - url: http://127.0.0.1:9/hook
        max_alerts: 10
        timeout: 10s
      - url_file: url.txt
        send_resolved: false
        http_config:
          basic_auth: {username: u, password: p}
    email_configs:
      - to: team@example.org
        headers: {subject: hi, x-team: db}
",
    );
    let r = cfg.receiver("a").unwrap();
    let w = &r.webhook_configs[0];
    assert!(w.send_resolved);
    assert_eq!(
        (w.max_alerts, w.timeout),
        (10, Some(Duration::from_secs(10)))
    );
    assert!(matches!(&w.http.auth, Some(Auth::Authorization(a)) if a.kind == "Bearer"));
    assert_eq!(format!("{:?}", w.url), "Inline(<secret>)");
    let w2 = &r.webhook_configs[1];
    assert!(!w2.send_resolved && matches!(w2.http.auth, Some(Auth::Basic(_))));
    assert!(matches!(w2.url, SecretSource::File(_)));
    let e = &r.email_configs[0];
    assert_eq!(
        (e.from.as_str(), e.smarthost.as_str()),
        ("am@example.org", "smtp.example.org:587")
    );
    assert!(e.require_tls && !e.send_resolved);
    assert_eq!(e.auth_username.as_deref(), Some("am"));
    assert!(matches!(e.auth_password, Some(SecretSource::File(_))));
    assert_eq!(e.headers.keys().collect::<Vec<_>>(), ["Subject", "X-Team"]);
}

#[test]
fn time_intervals_load_and_numeric_scalars_are_accepted() {
    let cfg = load(
        "
route:
  receiver: a
  routes:
    - receiver: a
      mute_time_intervals: [weekends]
      active_time_intervals: [business]
time_intervals:
  - name: business
    time_intervals:
      - times: [{start_time: '09:00', end_time: '17:00'}]
        weekdays: ['monday:friday']
        location: Europe/Berlin
mute_time_intervals:
  - name: weekends
    time_intervals:
      - weekdays: [saturday, sunday]
        days_of_month: [1, '-3:-1']
        years: [2024]
receivers: [{name: a}]
",
    );
    let child = &cfg.route.root.routes[0];
    assert_eq!(child.opts.mute_time_intervals, vec!["weekends".to_string()]);
    assert_eq!(cfg.time_intervals.len(), 2);
    let e = error("route: {receiver: a}\ntime_intervals: [{name: t, time_intervals: [{location: Mars/Base}]}]\nreceivers: [{name: a}]");
    assert!(
        e.contains("time_intervals[0].time_intervals[0].location: unknown time zone Mars/Base"),
        "{e}"
    );
}

#[test]
fn owners_route_default_alerts_and_templates() {
    let cfg = load(
        "
route:
  receiver: default
  routes:
    - matchers: [severity=page]
      receiver: pager
    - matchers: ['service=~\".+\"']
      receiver: 'svc-{{ .Labels.service }}'
owners:
  receivers: {payments: team-payments}
  fallback_receiver: triage
  playbook_url_template: 'https://playbooks.example/{{ .Labels.alertname }}'
receivers: [{name: default}, {name: pager}, {name: team-payments}, {name: triage}, {name: svc-api}]
",
    );
    let recv = |pairs: &[(&str, &str)]| -> Vec<String> {
        cfg.destinations(&Labels::from_pairs(pairs.iter().copied()))
            .into_iter()
            .map(|d| d.receiver)
            .collect()
    };
    assert_eq!(recv(&[("team", "payments")]), ["team-payments"]);
    assert_eq!(
        recv(&[("owner", "payments"), ("team", "x")]),
        ["team-payments"]
    );
    assert_eq!(recv(&[("team", "unknown")]), ["triage"]);
    assert_eq!(recv(&[]), ["triage"]);
    assert_eq!(
        recv(&[("team", "payments"), ("severity", "page")]),
        ["pager"]
    );
    assert_eq!(recv(&[("service", "api")]), ["svc-api"]);
    assert_eq!(recv(&[("service", "web")]), ["triage"]);
    let l = Labels::from_pairs([("alertname", "Down")]);
    assert_eq!(
        cfg.playbook_url(&l, None).as_deref(),
        Some("https://playbooks.example/Down")
    );

    let e = error("route: {receiver: a}\nowners: {receivers: {x: nope}}\nreceivers: [{name: a}]");
    assert!(
        e.contains("owners.receivers.x: undefined receiver \"nope\""),
        "{e}"
    );
}

#[test]
fn embedded_value_loads_without_positions() {
    let v: serde_yaml_ng::Value =
        serde_yaml_ng::from_str("route: {receiver: a}\nreceivers: [{name: b}]").unwrap();
    let e = AlertmanagerConfig::from_yaml_value(v, "redline.yml", None).unwrap_err();
    assert_eq!(e.field_path(), Some("route.receiver"));
    let v: serde_yaml_ng::Value =
        serde_yaml_ng::from_str("route: {receiver: a}\nreceivers: [{name: a}]").unwrap();
    assert!(AlertmanagerConfig::from_yaml_value(v, "redline.yml", None).is_ok());
}
