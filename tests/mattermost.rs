//! Alertmanager's `mattermost_configs` in redline. The integration is newer than Debian's
//! Alertmanager 0.25, so there is no differential run:
//!
//! - the request bodies of Alertmanager's own notifier test (`TestMattermost_Notify`,
//!   recorded in tests/fixtures/alertmanager-notifiers/mattermost.notify-cases.json with
//!   their source) are what redline sends for the same configs;
//! - the defaults render redline's `mattermost.default.*` (its own, documented as such), whose
//!   title and link texts are checked against what Alertmanager 0.25 renders for `__subject`
//!   and `__alertmanagerURL` (the rocketchat fixtures), and a `templates:` file overrides them;
//! - truncation, priority, templated attachments, retries, `webhook_url_file` read on every
//!   send, errors without the URL;
//! - a running redline lists the integration in `/api/v2/receivers` and on the dashboard, and
//!   hides its URLs in `/api/v2/status`.

mod common;

use common::am_differential::DEADLINE;
use common::fake_http::{Answer, FakeReceiver};
use common::free_port;
use common::recorded::{
    config, fixture, notification, team_integrations, team_integrations_with_templates,
    EXTERNAL_URL,
};
use common::TempDir;
use redline::alerting::notify::{integrations, Notifier, NotifyContext};
use redline::config::alertmanager::AlertmanagerConfig;
use serde_json::json;
use std::sync::Arc;

/// The receiver `team`'s only integration, built from `lists`.
fn mattermost(lists: &str, fake: &FakeReceiver) -> Arc<dyn Notifier> {
    let cfg = config(lists, fake);
    let mut ns = team_integrations(&cfg);
    assert_eq!(ns.len(), 1);
    ns.remove(0)
}

/// `TestMattermost_Notify`'s cases: the name, and the fields its Go config sets besides the
/// webhook URL file, as YAML. The Go test builds `MattermostConfig` without Alertmanager's
/// defaults, so the defaulted fields are given empty here.
const UPSTREAM_CASES: &[(&str, &str)] = &[
    ("with text only", "text: Test Text"),
    (
        "with text and props",
        "text: Test Text\n        props: {card: Test Card}",
    ),
    (
        "with text and priority standard",
        "text: Test Text\n        priority: {priority: standard, requested_ack: true, persistent_notifications: true}",
    ),
    (
        "with text, props and priority",
        "text: Test Text\n        props: {card: Test Card}\n        priority: {priority: urgent}",
    ),
    ("with empty text - should omit text field", "text: ''"),
    (
        "with empty text and attachments - should omit text field",
        "text: ''\n        attachments: [{title: Test Attachment, text: Attachment Text}]",
    ),
    (
        "with text and attachments",
        "text: Test Text\n        attachments: [{title: Test Attachment, text: Attachment Text}]",
    ),
];

#[tokio::test]
async fn mattermost_sends_the_bodies_of_alertmanagers_notifier_test() {
    redline::install_crypto_provider();
    let fake = FakeReceiver::start().await;
    let dir = TempDir::new("mattermost-upstream");
    let url_file = dir.join("webhook_url");
    std::fs::write(&url_file, format!("{}/hooks/upstream", fake.url())).unwrap();
    let want = fixture("mattermost.notify-cases.json");
    assert_eq!(
        want.as_object().map(|o| o.len()),
        Some(UPSTREAM_CASES.len())
    );
    for (i, (name, fields)) in UPSTREAM_CASES.iter().enumerate() {
        let lists = format!(
            "    mattermost_configs:\n      - webhook_url_file: {}\n        username: ''\n        color: ''\n        title: ''\n        title_link: ''\n        fallback: ''\n        {fields}\n",
            url_file.display()
        );
        let n = mattermost(&lists, &fake);
        n.notify(&notification(false))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let req = &fake.requests()[i];
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/hooks/upstream");
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(req.json(), want[name], "{name}: {}", req.body);
    }
}

#[tokio::test]
async fn mattermost_defaults_render_redlines_templates_which_a_file_overrides() {
    redline::install_crypto_provider();
    let fake = FakeReceiver::start().await;
    let n = mattermost(
        "    mattermost_configs:\n      - webhook_url: FAKE/hooks/defaults\n",
        &fake,
    );
    assert!(n.send_resolved(), "mattermost sends resolved by default");
    assert_eq!(n.integration(), "mattermost[0]");
    for (i, (state, color)) in [("firing", "danger"), ("resolved", "good")]
        .into_iter()
        .enumerate()
    {
        n.notify(&notification(state == "resolved")).await.unwrap();
        // Alertmanager 0.25's rendering of __subject and __alertmanagerURL for the same
        // notification (rocketchat.default.title / .titlelink call exactly those).
        let am = &fixture(&format!("rocketchat.{state}.json"))["attachments"][0];
        let (title, link) = (
            am["title"].as_str().unwrap(),
            am["title_link"].as_str().unwrap(),
        );
        assert_eq!(
            fake.requests()[i].json(),
            json!({
                "username": "Alertmanager",
                "attachments": [{
                    "fallback": format!("{title} | {link}"),
                    "color": color,
                    "title": title,
                    "title_link": link,
                }]
            }),
            "{state}"
        );
    }

    // A templates: file's define replaces redline's, and fallback follows the new title.
    let dir = TempDir::new("mattermost-tmpl");
    std::fs::write(
        dir.join("team.tmpl"),
        r#"{{ define "mattermost.default.title" }}{{ .CommonLabels.alertname }} is {{ .Status }}{{ end }}"#,
    )
    .unwrap();
    let text = format!(
        "templates: ['*.tmpl']\nroute: {{receiver: team}}\nreceivers:\n  - name: team\n    mattermost_configs:\n      - webhook_url: {}/hooks/custom\n",
        fake.url()
    );
    let ns = team_integrations_with_templates(&text, &dir);
    ns[0].notify(&notification(false)).await.unwrap();
    let att = &fake.requests_to("/hooks/custom")[0].json()["attachments"][0];
    assert_eq!(att["title"], "HighErrorRate is firing");
    assert_eq!(
        att["fallback"],
        "HighErrorRate is firing | http://am.example:9093/#/alerts?receiver=team"
    );
}

#[tokio::test]
async fn mattermost_cuts_the_text_and_applies_the_priority_rules() {
    redline::install_crypto_provider();
    let fake = FakeReceiver::start().await;
    // 16383 characters is Mattermost's limit: kept whole. One more (two bytes each) is cut
    // to 16382 characters and "…".
    let exact = "é".repeat(16383);
    let over = "é".repeat(16384);
    let cut = format!("{}…", "é".repeat(16382));
    let n = mattermost(
        &format!(
            r#"    mattermost_configs:
      - webhook_url: FAKE/hooks/p
        text: '{over}'
        channel: 'ops-{{{{ .CommonLabels.job }}}}'
        username: 'redline-{{{{ .Receiver }}}}'
        icon_emoji: ':{{{{ .CommonLabels.severity }}}}:'
        icon_url: http://icons.example/a.png
        type: custom_alert
        title: not sent beside attachments
        props: {{card: '**{{{{ len .Alerts }}}}** alerts'}}
        priority:
          priority: '{{{{ if eq .Status "firing" }}}}Important{{{{ else }}}}low{{{{ end }}}}'
          requested_ack: true
          persistent_notifications: true
        attachments:
          - title: '{{{{ .CommonLabels.alertname }}}}'
            color: '#FF0000'
            footer: redline
            fields:
              - {{title: job, value: '{{{{ .CommonLabels.job }}}}', short: true}}
              - {{title: summary, value: '{{{{ (index .Alerts 0).Annotations.summary }}}}'}}
"#
        ),
        &fake,
    );
    n.notify(&notification(false)).await.unwrap();
    let attachments = json!([{
        "color": "#FF0000",
        "title": "HighErrorRate",
        "fields": [
            {"title": "job", "value": "api", "short": true},
            {"title": "summary", "value": "api errors at 5%"},
        ],
        "footer": "redline",
    }]);
    let mut body = fake.requests()[0].json();
    let text = body["text"].take();
    assert!(
        text == cut.as_str(),
        "text not cut to 16382 characters and …: {} characters",
        text.as_str().map_or(0, |t| t.chars().count())
    );
    assert_eq!(
        body,
        json!({
            "text": null, // checked above
            "channel": "ops-api",
            "username": "redline-team",
            "icon_url": "http://icons.example/a.png",
            "icon_emoji": ":page:",
            "attachments": attachments,
            "type": "custom_alert",
            "props": {"card": "**2** alerts"},
            // Lowercased; important keeps requested_ack, drops persistent_notifications.
            "priority": {"priority": "important", "requested_ack": true},
        })
    );
    n.notify(&notification(true)).await.unwrap();
    let body = fake.requests()[1].json();
    // "low" is no level: standard, without either flag.
    assert_eq!(body["priority"], json!({"priority": "standard"}));

    // Without attachments the text goes into the one attachment, cut there too; a text of
    // exactly the limit is kept.
    for (text, want) in [(&over, &cut), (&exact, &exact)] {
        let n = mattermost(
            &format!("    mattermost_configs:\n      - {{webhook_url: FAKE/hooks/t, text: '{text}', priority: {{priority: URGENT, persistent_notifications: true}}}}\n"),
            &fake,
        );
        n.notify(&notification(false)).await.unwrap();
        let body = fake.requests_to("/hooks/t").pop().unwrap().json();
        assert!(body.get("text").is_none(), "{body}");
        let sent = body["attachments"][0]["text"].as_str().unwrap();
        assert!(
            sent == want.as_str(),
            "{} characters sent, {} wanted",
            sent.chars().count(),
            want.chars().count()
        );
        assert_eq!(
            body["priority"],
            json!({"priority": "urgent", "persistent_notifications": true})
        );
    }
}

#[test]
fn mattermost_template_errors_name_the_field() {
    let ctx = NotifyContext::new(EXTERNAL_URL, "");
    for (entry, field) in [
        ("{webhook_url: 'http://127.0.0.1:9/h', text: '{{ '}", "text"),
        (
            "{webhook_url: 'http://127.0.0.1:9/h', priority: {priority: '{{ .Nope }}'}}",
            "priority.priority",
        ),
        (
            "{webhook_url: 'http://127.0.0.1:9/h', attachments: [{}, {fields: [{title: t, value: '{{ template \"nope\" . }}'}]}]}",
            "attachments[1].fields[0].value",
        ),
    ] {
        let text = format!(
            "route: {{receiver: team}}\nreceivers:\n  - name: team\n    mattermost_configs: [{entry}]\n"
        );
        let cfg = AlertmanagerConfig::from_yaml_str(&text, "am.yml").unwrap();
        let e = match integrations(cfg.receiver("team").unwrap(), &ctx) {
            Ok(_) => panic!("{entry}: expected an error"),
            Err(e) => e.to_string(),
        };
        assert!(
            e.starts_with(&format!("receiver \"team\".mattermost_configs[0].{field}: ")),
            "{entry}: {e}"
        );
    }
}

#[tokio::test]
async fn mattermost_retries_5xx_only_reads_the_url_file_on_each_send_and_hides_it() {
    redline::install_crypto_provider();
    let fake = FakeReceiver::start().await;
    let dir = TempDir::new("mattermost-retry");
    let url_file = dir.join("webhook_url");
    let write_url = |path: &str| {
        std::fs::write(&url_file, format!("{}{path}\n", fake.url())).unwrap();
    };
    write_url("/hooks/secret-a");
    let n = mattermost(
        &format!(
            "    mattermost_configs:\n      - {{webhook_url_file: {}, channel: '#ops'}}\n",
            url_file.display()
        ),
        &fake,
    );
    n.notify(&notification(false)).await.unwrap();
    // The file is read again on the next send: a rotated URL is used without a reload.
    write_url("/hooks/secret-b");
    n.notify(&notification(false)).await.unwrap();
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/hooks/secret-a", "/hooks/secret-b"]);

    // Alertmanager's default retrier: 5xx retried, 4xx (429 included) not; the error names
    // the channel and carries the answer's body.
    for (status, retry) in [
        (500, true),
        (503, true),
        (400, false),
        (404, false),
        (429, false),
    ] {
        fake.answer_once("/hooks/secret-b", Answer::new(status, "text/plain", "nope"));
        let e = n.notify(&notification(false)).await.unwrap_err();
        assert_eq!(e.retryable, retry, "{status}");
        assert_eq!(
            e.message,
            format!("channel \"#ops\": unexpected status code {status}: nope")
        );
    }
    // No answer at all: retryable, and the error does not show the URL's token.
    std::fs::write(
        &url_file,
        format!("http://127.0.0.1:{}/hooks/secret-dead", free_port()),
    )
    .unwrap();
    let e = n.notify(&notification(false)).await.unwrap_err();
    assert!(e.retryable, "{e:?}");
    assert!(!e.message.contains("secret"), "{}", e.message);
    // An empty file is Alertmanager's "webhook url missing"; a missing one an error naming
    // the field. Neither is retried.
    std::fs::write(&url_file, "\n").unwrap();
    let e = n.notify(&notification(false)).await.unwrap_err();
    assert_eq!(
        (e.retryable, e.message.as_str()),
        (false, "webhook url missing")
    );
    std::fs::remove_file(&url_file).unwrap();
    let e = n.notify(&notification(false)).await.unwrap_err();
    assert!(
        !e.retryable && e.message.starts_with("reading webhook_url_file"),
        "{e:?}"
    );
}

/// A running redline: the global URL and an entry's own URL file are used, the file is read
/// on each send, `/api/v2/receivers` and the dashboard list both integrations, and
/// `/api/v2/status` shows neither URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mattermost_in_a_running_redline_shows_in_receivers_and_hides_its_urls() {
    redline::install_crypto_provider();
    let fake = FakeReceiver::start().await;
    let dir = TempDir::new("mattermost-api");
    let url_file = dir.join("mm_url");
    std::fs::write(&url_file, format!("{}/hooks/first-token\n", fake.url())).unwrap();
    let config = format!(
        r#"
global:
  mattermost_webhook_url: {fake}/hooks/global-token
route:
  receiver: team
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: team
    mattermost_configs:
      - webhook_url_file: mm_url
        channel: own
      - channel: global
"#,
        fake = fake.url()
    );
    let (_redline, port) = common::run_with_alertmanager(&dir, &config, &[]).await;
    let post = |name: &'static str| async move {
        let alerts = json!([{"labels": {"alertname": "Down", "instance": name}, "startsAt": "2026-01-01T00:00:00Z"}]);
        let r = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/api/v2/alerts"))
            .header("content-type", "application/json")
            .body(alerts.to_string())
            .send()
            .await
            .expect("post alerts");
        assert!(r.status().is_success());
    };
    post("a").await;
    let own = fake.wait_for("/hooks/first-token", 1, DEADLINE).await;
    assert_eq!(own[0].json()["channel"], "own");
    let global = fake.wait_for("/hooks/global-token", 1, DEADLINE).await;
    assert_eq!(global[0].json()["channel"], "global");
    // A new alert in the group after the URL file changed: the new URL.
    std::fs::write(&url_file, format!("{}/hooks/second-token\n", fake.url())).unwrap();
    post("b").await;
    let second = fake.wait_for("/hooks/second-token", 1, DEADLINE).await;
    assert!(
        second[0].body.contains("[FIRING:2] Down"),
        "{}",
        second[0].body
    );
    fake.wait_for("/hooks/global-token", 2, DEADLINE).await;

    let base = format!("http://127.0.0.1:{port}");
    let receivers = common::wait_for("both deliveries in /api/v2/receivers", DEADLINE, || {
        let r = std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Runtime::new()
                    .expect("runtime")
                    .block_on(common::get_json(&format!("{base}/api/v2/receivers")))
            })
            .join()
            .expect("receivers fetch")
        });
        let delivered = r[0]["integrations"]
            .as_array()
            .is_some_and(|l| l.iter().all(|i| i["redline_delivered"] == 2));
        delivered.then_some(r)
    })
    .await;
    let team = &receivers[0];
    assert_eq!(team["name"], "team");
    let list = team["integrations"].as_array().unwrap();
    let ids: Vec<&str> = list
        .iter()
        .filter_map(|i| i["redline_integration"].as_str())
        .collect();
    assert_eq!(ids, ["mattermost[0]", "mattermost[1]"], "{receivers}");
    for i in list {
        assert_eq!(i["name"], "mattermost", "{i}");
        assert_eq!(i["sendResolved"], true, "{i}");
        assert!(i.get("lastNotifyAttemptError").is_none(), "{i}");
    }
    let page = reqwest::get(format!("{base}/alerts"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for id in ["mattermost[0]", "mattermost[1]"] {
        assert!(page.contains(&format!("<td>{id}</td><td>2</td>")), "{page}");
    }
    let status = common::get_json(&format!("{base}/api/v2/status")).await;
    let original = status["config"]["original"].as_str().unwrap_or_default();
    assert!(
        original.contains("mattermost_webhook_url: <secret>"),
        "{original}"
    );
    assert!(!original.contains("global-token"), "{original}");
}
