//! Alertmanager's integrations, differentially: Debian's `prometheus-alertmanager` (0.25) and
//! redline load the same `alertmanager.yml`, get the same alerts, and each integration's
//! requests from redline must carry every field Alertmanager's carry, with the same values
//! (see tests/common/am_differential.rs). Fields only redline sends are its documented
//! additions (docs/integrations.md).

mod common;

use common::am_differential::{alerts_started_at, assert_same_requests, now_rfc3339, Pair};
use serde_json::{json, Value};

/// Two alerts of one group, started when the test first posts (see `alerts_started_at`); `resolved` ends
/// them now.
fn alerts(resolved: bool) -> Value {
    let ends = if resolved {
        json!(now_rfc3339())
    } else {
        Value::Null
    };
    let one = |instance: &str, summary: &str| {
        let mut a = json!({
            "labels": {"alertname": "HighErrorRate", "severity": "page", "job": "api", "instance": instance},
            "annotations": {"summary": summary, "runbook_url": "https://runbooks.example/api"},
            "startsAt": alerts_started_at(),
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up"
        });
        if !ends.is_null() {
            a["endsAt"] = ends.clone();
        }
        a
    };
    json!([
        one("10.0.0.1:8080", "api errors at 5%"),
        one("10.0.0.2:8080", "api errors at 7%")
    ])
}

const ROUTE: &str = r#"
route:
  receiver: all
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
"#;

/// The harness itself, on the webhook both already speak: the payloads agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_requests_match_alertmanager() {
    let config =
        format!("{ROUTE}receivers:\n  - name: all\n    webhook_configs:\n      - url: FAKE/hook\n");
    let pair = Pair::start("diff-webhook", &config, &[]).await;
    pair.post_alerts(&alerts(false)).await;
    let (am, rl) = pair.requests("/hook", 1).await;
    assert_same_requests("webhook firing", &am[..1], &rl[..1], &pair);
    assert_eq!(rl[0].json()["status"], "firing");
    pair.post_alerts(&alerts(true)).await;
    let (am, rl) = pair.requests("/hook", 2).await;
    assert_same_requests("webhook resolved", &am[1..2], &rl[1..2], &pair);
    assert_eq!(rl[1].json()["status"], "resolved");
}

/// A user's template file: defines that call Alertmanager's defaults and the data.
const CUSTOM_TMPL: &str = r#"{{ define "custom.title" }}[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} on {{ .CommonLabels.job }}{{ end }}
{{ define "custom.text" }}{{ range .Alerts }}* {{ .Annotations.summary }} ({{ .Labels.instance }}, since {{ .StartsAt.Format "15:04:05" }})
{{ end }}{{ template "slack.default.fallback" . }}{{ end }}
"#;

/// Every field of the four integrations, defaults and templates, in one receiver.
const ALL_INTEGRATIONS: &str = r#"
global:
  slack_api_url: FAKE/slack0
  opsgenie_api_key: og-global-key
  opsgenie_api_url: FAKE/og0/
  victorops_api_key: vo-global-key
  victorops_api_url: FAKE/vo0/
  http_config:
    basic_auth: {username: relay, password: relay-pass}
templates: ['*.tmpl']
receivers:
  - name: all
    slack_configs:
      - send_resolved: true
        channel: '#ops'
      - api_url: FAKE/slack1
        send_resolved: false
        channel: '#{{ .CommonLabels.job }}-alerts'
        username: 'redline for {{ .Receiver }}'
        color: '{{ if eq .Status "firing" }}#ff0000{{ else }}#00ff00{{ end }}'
        title: '{{ template "custom.title" . }}'
        title_link: 'https://dash.example/{{ .GroupLabels.alertname }}'
        pretext: 'pre {{ len .Alerts }}'
        text: '{{ template "custom.text" . }}'
        fields:
          - title: Instances
            value: '{{ range .Alerts }}{{ .Labels.instance }} {{ end }}'
          - title: Severity
            value: '{{ .CommonLabels.severity }}'
            short: false
        short_fields: true
        footer: 'footer {{ .Status }}'
        fallback: 'fb {{ template "slack.default.title" . }}'
        callback_id: 'cb-{{ .GroupLabels.alertname }}'
        icon_emoji: ':fire:'
        image_url: 'https://img.example/{{ .CommonLabels.job }}.png'
        thumb_url: 'https://img.example/thumb.png'
        link_names: true
        mrkdwn_in: [text, title]
        actions:
          - type: button
            text: 'Runbook {{ .CommonLabels.alertname }}'
            url: '{{ .CommonAnnotations.runbook_url }}'
            style: primary
          - type: button
            text: Ack
            name: ack
            value: '{{ .GroupLabels.alertname }}'
            confirm:
              text: 'Really?'
              title: Confirm
              ok_text: 'Yes'
              dismiss_text: 'No'
    pagerduty_configs:
      - routing_key: rk-default
        url: FAKE/pd0
      - routing_key: rk-custom
        url: FAKE/pd1
        http_config:
          authorization: {credentials: pd-relay-token}
        client: 'redline {{ .Receiver }}'
        client_url: 'https://dash.example/{{ .Receiver }}'
        description: '{{ template "custom.title" . }}'
        details:
          job: '{{ .CommonLabels.job }}'
          firing: 'overridden {{ .Alerts.Firing | len }}'
        images:
          - src: 'https://img.example/{{ .CommonLabels.job }}.png'
            alt: graph
            href: 'https://dash.example'
          - src: ''
            alt: dropped
        links:
          - href: '{{ .CommonAnnotations.runbook_url }}'
            text: Runbook
          - href: ''
            text: dropped
        source: 'src-{{ .CommonLabels.job }}'
        severity: '{{ if eq .CommonLabels.severity "page" }}critical{{ else }}warning{{ end }}'
        class: 'cls'
        component: '{{ .CommonLabels.job }}'
        group: 'grp'
    opsgenie_configs:
      - {}
      - api_key: og-own-key
        api_url: FAKE/og1/
        message: '{{ template "custom.title" . }}'
        description: 'desc {{ len .Alerts }}'
        source: 'src {{ .Receiver }}'
        details:
          team: '{{ .CommonLabels.job }}'
          severity: overridden
        entity: '{{ .CommonLabels.job }}'
        responders:
          - name: 'ops,{{ .CommonLabels.job }}'
            type: teams
          - username: 'oncall@example.org'
            type: User
          - id: '{{ .CommonLabels.nosuchlabel }}'
            type: '{{ .CommonLabels.nosuchlabel }}'
        actions: 'restart, page ,'
        tags: '{{ .CommonLabels.job }},{{ .CommonLabels.severity }}, extra'
        note: 'note {{ .Status }}'
        priority: P1
        update_alerts: true
    victorops_configs:
      - routing_key: team-a
      - routing_key: 'team-{{ .CommonLabels.job }}'
        api_key: vo-own-key
        api_url: FAKE/vo1/
        message_type: '{{ if eq .CommonLabels.severity "page" }}WARNING{{ else }}BOGUS{{ end }}'
        state_message: '{{ template "custom.title" . }}'
        entity_display_name: 'edn {{ .GroupLabels.alertname }}'
        monitoring_tool: 'redline'
        custom_fields:
          team: '{{ .CommonLabels.job }}'
          static: value
"#;

/// Slack, PagerDuty, Opsgenie and VictorOps: every request redline sends carries what
/// Alertmanager 0.25's carries (defaults from default.tmpl, custom templates, every field),
/// firing then resolved, with send_resolved false sending nothing on resolve; the global
/// `http_config` (basic auth) applies where an entry has none, an entry's own replaces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_pagerduty_opsgenie_victorops_match_alertmanager() {
    let config = format!("{ROUTE}{}", ALL_INTEGRATIONS.trim_start());
    let pair = Pair::start("diff-all", &config, &[("custom.tmpl", CUSTOM_TMPL)]).await;
    pair.post_alerts(&alerts(false)).await;
    // Firing: one request per entry, three for Opsgenie with update_alerts.
    let firing: [(&str, usize); 8] = [
        ("/slack0", 1),
        ("/slack1", 1),
        ("/pd0", 1),
        ("/pd1", 1),
        ("/og0/", 1),
        ("/og1/", 3),
        ("/vo0/", 1),
        ("/vo1/", 1),
    ];
    for (path, count) in firing {
        let (am, rl) = pair.requests(path, count).await;
        assert_same_requests(&format!("{path} firing"), &am, &rl, &pair);
        for (a, r) in am.iter().zip(&rl) {
            for h in ["authorization", "content-type"] {
                assert_eq!(a.header(h), r.header(h), "{path} header {h}");
            }
        }
    }
    // What redline adds: the playbook button and link.
    let (_, rl) = pair.requests("/slack0", 1).await;
    let actions = &rl[0].json()["attachments"][0]["actions"];
    assert_eq!(
        actions[0]["url"], "https://runbooks.example/api",
        "{actions}"
    );
    let (_, rl) = pair.requests("/pd0", 1).await;
    assert_eq!(
        rl[0].json()["links"][0]["href"],
        "https://runbooks.example/api"
    );

    pair.post_alerts(&alerts(true)).await;
    let resolved: [(&str, usize); 7] = [
        ("/slack0", 2),
        ("/pd0", 2),
        ("/pd1", 2),
        ("/og0/", 2),
        ("/og1/", 4),
        ("/vo0/", 2),
        ("/vo1/", 2),
    ];
    for (path, count) in resolved {
        let (am, rl) = pair.requests(path, count).await;
        assert_same_requests(&format!("{path} resolved"), &am, &rl, &pair);
    }
    // send_resolved: false — neither sends the resolved Slack message (both already sent
    // every other resolved request, so it would have arrived by now).
    assert_eq!(pair.am_fake.requests_to("/slack1").len(), 1);
    assert_eq!(pair.rl_fake.requests_to("/slack1").len(), 1);
}

/// Every `define` of Alertmanager's default.tmpl, rendered by both: each is a Slack field's
/// value, so the Slack request carries Alertmanager's rendering and redline's side by side
/// (telegram, discord, webex, pushover, sns, wechat included, whose integrations 0.25 cannot
/// be pointed at a loopback server or redline does not have).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_default_template_renders_as_alertmanager_renders_it() {
    let defines: Vec<&str> = DEFAULT_TMPL
        .split("{{ define \"")
        .skip(1)
        .filter_map(|s| s.split_once('"').map(|(name, _)| name))
        .collect();
    assert_eq!(defines.len(), 39, "{defines:?}");
    let mut fields = String::new();
    for name in &defines {
        let dot = if name.ends_with("alert_list") || name.ends_with(".instances") {
            ".Alerts"
        } else {
            "."
        };
        fields.push_str(&format!(
            "          - title: '{name}'\n            value: '{{{{ template \"{name}\" {dot} }}}}'\n"
        ));
    }
    let config = format!(
        "{ROUTE}receivers:\n  - name: all\n    slack_configs:\n      - api_url: FAKE/defaults\n        send_resolved: true\n        fields:\n{fields}"
    );
    let pair = Pair::start("diff-defaults", &config, &[]).await;
    pair.post_alerts(&alerts(false)).await;
    let (am, rl) = pair.requests("/defaults", 1).await;
    assert_same_requests("default templates, firing", &am, &rl, &pair);
    // Not vacuous: the multi-line defines rendered to text in both.
    let sent = am[0].json();
    let fields = sent["attachments"][0]["fields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        fields
            .iter()
            .any(|f| f["title"] == "telegram.default.message"
                && f["value"].as_str().unwrap_or("").contains("Alerts Firing:")),
        "{sent}"
    );
    pair.post_alerts(&alerts(true)).await;
    let (am, rl) = pair.requests("/defaults", 2).await;
    assert_same_requests("default templates, resolved", &am[1..], &rl[1..], &pair);
}

const DEFAULT_TMPL: &str =
    include_str!("../src/alerting/notify/templates/alertmanager-default.tmpl");
