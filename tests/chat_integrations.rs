//! Alertmanager's chat and push integrations in redline.
//!
//! - telegram, discord and webex are in Debian's Alertmanager 0.25: differentially, through
//!   the harness of tests/common/am_differential.rs — the same `alertmanager.yml` (default
//!   fields, a custom `templates:` file with `define`s, `send_resolved: false`) and the same
//!   alerts to `/usr/bin/prometheus-alertmanager` and redline; every request redline sends
//!   carries every field of Alertmanager's, with the same value, and retries follow the same
//!   status codes.
//! - msteams, msteamsv2, rocketchat and pushover are newer than 0.25 (or, for pushover, call
//!   a URL 0.25 cannot redirect): redline's request is compared with the recorded bodies of
//!   tests/fixtures/alertmanager-notifiers (SOURCES.md says how they were made).

mod common;

use redline::testdir::TempDir;
use std::collections::BTreeMap;

use common::am_differential::{alerts_started_at, assert_same_requests, now_rfc3339, Pair};
use common::fake_http::{Answer, FakeReceiver, Recorded};
use common::recorded::{
    config, fixture, notification, team_integrations, team_integrations_with_templates,
    EXTERNAL_URL,
};
use redline::alerting::notify::pushover::PushoverNotifier;
use redline::alerting::notify::NotifyContext;
use redline::config::alertmanager::AlertmanagerConfig;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// Differential: telegram, discord, webex against Debian's Alertmanager 0.25.

/// The alerts of one group (`alertname` HighErrorRate), started at a fixed time; `resolved`
/// ends them in the past; `extra` adds a third instance.
fn alerts(resolved: bool, extra: bool) -> Value {
    let one = |instance: &str, summary: &str| {
        let mut a = json!({
            "labels": {"alertname": "HighErrorRate", "severity": "page", "job": "api", "instance": instance},
            "annotations": {"summary": summary, "runbook_url": "https://runbooks.example/api"},
            "startsAt": alerts_started_at(),
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up"
        });
        if resolved {
            a["endsAt"] = json!(now_rfc3339());
        }
        a
    };
    let mut list = vec![
        one("10.0.0.1:8080", "api errors at 5% <high>"),
        one("10.0.0.2:8080", "api errors at 7% & rising"),
    ];
    if extra {
        list = vec![one("10.0.0.3:8080", "api errors at 9%")];
    }
    Value::Array(list)
}

const ROUTE: &str = r#"
templates: ['custom.tmpl']
route:
  receiver: team
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
"#;

/// A user's template file: `define`s called from the integrations' fields.
const CUSTOM_TMPL: &str = r#"{{ define "team.title" }}[{{ .Status }}] {{ .CommonLabels.alertname }} for {{ .CommonLabels.job }}{{ end }}
{{ define "team.message" }}{{ range .Alerts }}{{ .Labels.instance }}: {{ .Annotations.summary }} ({{ .Status }})
{{ end }}{{ end }}
"#;

const TELEGRAM_OK: &str =
    r#"{"ok":true,"result":{"message_id":1,"date":0,"chat":{"id":-1001,"type":"group"}}}"#;

fn telegram_ok(pair: &Pair, path: &str) {
    for fake in [&pair.am_fake, &pair.rl_fake] {
        fake.answer(path, Answer::new(200, "application/json", TELEGRAM_OK));
    }
}

const CHAT_CONFIG: &str = r#"receivers:
  - name: team
    telegram_configs:
      - api_url: FAKE/tg-a
        bot_token: bot-a
        chat_id: -1001
      - api_url: FAKE/tg-b
        bot_token: bot-b
        chat_id: 42
        parse_mode: ''
        disable_notifications: true
        message: '{{ template "team.message" . }}'
        send_resolved: false
    discord_configs:
      - webhook_url: FAKE/discord-a/hook
      - webhook_url: FAKE/discord-b/hook
        title: '{{ template "team.title" . }}'
        message: '{{ template "team.message" . }}'
        send_resolved: false
    webex_configs:
      - api_url: FAKE/webex-a
        room_id: room-1
        http_config: {authorization: {credentials: webex-bot-token}}
      - api_url: FAKE/webex-b
        room_id: 'room-{{ .CommonLabels.job }}'
        message: '{{ template "team.message" . }}'
        send_resolved: false
        http_config: {authorization: {type: Bearer, credentials: other-token}}
"#;

/// Compares the first `n` requests to `prefix` of both sides, from `from` on.
async fn same(pair: &Pair, what: &str, prefix: &str, from: usize, n: usize) -> Vec<Recorded> {
    let (am, rl) = pair.requests(prefix, from + n).await;
    assert_same_requests(what, &am[from..from + n], &rl[from..from + n], pair);
    rl
}

/// Firing, then resolved, then a new firing alert: every integration sends what
/// Alertmanager sends, with default and custom-template fields; the `send_resolved: false`
/// ones skip the resolved notification (their second request is the new firing one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_discord_webex_requests_match_alertmanager() {
    let config = format!("{ROUTE}{CHAT_CONFIG}");
    let pair = Pair::start("chat-diff", &config, &[("custom.tmpl", CUSTOM_TMPL)]).await;
    telegram_ok(&pair, "/tg-a/botbot-a/sendMessage");
    telegram_ok(&pair, "/tg-b/botbot-b/sendMessage");

    pair.post_alerts(&alerts(false, false)).await;
    let all = [
        "/tg-a",
        "/tg-b",
        "/discord-a",
        "/discord-b",
        "/webex-a",
        "/webex-b",
    ];
    for prefix in all {
        same(&pair, &format!("{prefix} firing"), prefix, 0, 1).await;
    }
    // What a user would check, beyond "same as Alertmanager".
    let rl = pair.rl_fake.requests_to("/tg-a");
    assert_eq!(rl[0].path, "/tg-a/botbot-a/sendMessage");
    assert!(rl[0].json()["text"]
        .as_str()
        .unwrap()
        .contains("&lt;high&gt;"));
    let rl = pair.rl_fake.requests_to("/tg-b");
    assert_eq!(
        rl[0].json()["text"],
        "10.0.0.1:8080: api errors at 5% <high> (firing)\n10.0.0.2:8080: api errors at 7% & rising (firing)\n"
    );
    let rl = pair.rl_fake.requests_to("/discord-b");
    assert_eq!(
        rl[0].json()["embeds"][0]["title"],
        "[firing] HighErrorRate for api"
    );
    let rl = pair.rl_fake.requests_to("/webex-b");
    assert_eq!(rl[0].header("authorization"), Some("Bearer other-token"));
    // Alertmanager 0.25 sends room_id as written, and so does redline.
    assert_eq!(rl[0].json()["roomId"], "room-{{ .CommonLabels.job }}");

    pair.post_alerts(&alerts(true, false)).await;
    for prefix in ["/tg-a", "/discord-a", "/webex-a"] {
        let rl = same(&pair, &format!("{prefix} resolved"), prefix, 1, 1).await;
        let body = rl[1].json();
        assert!(body.to_string().contains("Resolved"), "{prefix}: {body}");
    }

    pair.post_alerts(&alerts(false, true)).await;
    for prefix in ["/tg-b", "/discord-b", "/webex-b"] {
        let rl = same(&pair, &format!("{prefix} after resolved"), prefix, 1, 1).await;
        // The second request is the new alert's: the resolved notification was not sent.
        let body = rl[1].body.clone();
        assert!(
            body.contains("10.0.0.3:8080") && !body.contains("resolved"),
            "{prefix}: {body}"
        );
    }
}

/// Retries follow Alertmanager 0.25's rules: Discord and Webex retry a 5xx but not a 4xx
/// (429 included); Telegram retries every failure. `group_interval` is long, so a second
/// request within the test can only be a retry; the integrations that must not retry are
/// checked once the retried ones (same notification, same backoff) have retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_follow_alertmanager_per_status_code() {
    let route = ROUTE.replace("group_interval: 1s", "group_interval: 10m");
    let config = format!(
        "{route}receivers:\n  - name: team\n    telegram_configs:\n      - {{api_url: FAKE/tg, bot_token: b, chat_id: 1}}\n    discord_configs:\n      - webhook_url: FAKE/discord-5xx\n      - webhook_url: FAKE/discord-4xx\n    webex_configs:\n      - {{api_url: FAKE/webex-5xx, room_id: r, http_config: {{authorization: {{credentials: t}}}}}}\n      - {{api_url: FAKE/webex-4xx, room_id: r, http_config: {{authorization: {{credentials: t}}}}}}\n"
    );
    let pair = Pair::start("chat-retry", &config, &[("custom.tmpl", CUSTOM_TMPL)]).await;
    telegram_ok(&pair, "/tg/botb/sendMessage");
    for fake in [&pair.am_fake, &pair.rl_fake] {
        fake.answer_once(
            "/tg/botb/sendMessage",
            Answer::new(
                400,
                "application/json",
                r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
            ),
        );
        for p in ["/discord-5xx", "/webex-5xx"] {
            fake.answer_once(p, Answer::new(503, "text/plain", "busy"));
        }
        for p in ["/discord-4xx", "/webex-4xx"] {
            fake.answer_once(p, Answer::new(429, "text/plain", "slow down"));
        }
    }
    pair.post_alerts(&alerts(false, false)).await;
    // Retried: the same firing notification twice.
    for prefix in ["/tg", "/discord-5xx", "/webex-5xx"] {
        let rl = same(&pair, &format!("{prefix} retried"), prefix, 0, 2).await;
        assert_eq!(
            rl[0].body, rl[1].body,
            "{prefix}: the retry repeats the request"
        );
    }
    // Not retried: still one request each, on both sides.
    for prefix in ["/discord-4xx", "/webex-4xx"] {
        let am = pair.am_fake.requests_to(prefix);
        let rl = pair.rl_fake.requests_to(prefix);
        assert_eq!(
            (am.len(), rl.len()),
            (1, 1),
            "{prefix}: a 429 is not retried"
        );
        assert_same_requests(prefix, &am, &rl, &pair);
    }
}

// ---------------------------------------------------------------------------------------
// Recorded bodies: msteams, msteamsv2, rocketchat, pushover.

/// Sends the firing and the resolved notification through the receiver's only integration
/// (the fake answering `answer` at `path`) and checks each JSON body equals the recorded one.
async fn check_json_fixture(kind: &str, lists: &str, path: &str, answer: Answer) {
    redline::install_crypto_provider();
    let fake = FakeReceiver::start().await;
    fake.answer(path, answer);
    let cfg = config(lists, &fake);
    let ns = team_integrations(&cfg);
    assert_eq!(ns.len(), 1);
    for (i, state) in ["firing", "resolved"].into_iter().enumerate() {
        ns[0]
            .notify(&notification(state == "resolved"))
            .await
            .unwrap_or_else(|e| panic!("{kind} {state}: {e}"));
        let req = fake.requests();
        assert_eq!(req.len(), i + 1);
        assert_eq!(req[i].method, "POST");
        assert_eq!(req[i].path, path);
        assert_eq!(req[i].header("content-type"), Some("application/json"));
        assert_eq!(
            req[i].json(),
            fixture(&format!("{kind}.{state}.json")),
            "{kind} {state}: {}",
            req[i].body
        );
    }
}

#[tokio::test]
async fn msteams_sends_alertmanagers_message_card() {
    check_json_fixture(
        "msteams",
        "    msteams_configs:\n      - webhook_url: FAKE/webhookb2/x\n",
        "/webhookb2/x",
        Answer::new(200, "text/plain", "1"),
    )
    .await;
}

#[tokio::test]
async fn msteamsv2_sends_alertmanagers_adaptive_card() {
    check_json_fixture(
        "msteamsv2",
        "    msteamsv2_configs:\n      - webhook_url: FAKE/workflows/x\n",
        "/workflows/x",
        Answer::new(202, "text/plain", ""),
    )
    .await;
}

#[tokio::test]
async fn rocketchat_sends_alertmanagers_post_message_with_token_headers() {
    let lists = r#"    rocketchat_configs:
      - api_url: FAKE/chat
        token: rc-token
        token_id: rc-user
        channel: '#ops'
        short_fields: true
        fields: [{title: job, value: '{{ .CommonLabels.job }}'}]
        actions: [{type: link, text: Runbook, url: '{{ .CommonAnnotations.runbook_url }}'}]
"#;
    let ok = Answer::new(200, "application/json", r#"{"success":true}"#);
    check_json_fixture("rocketchat", lists, "/chat/api/v1/chat.postMessage", ok).await;
}

#[tokio::test]
async fn rocketchat_auth_headers_and_answers() {
    redline::install_crypto_provider();
    let fake = FakeReceiver::start().await;
    let cfg = config(
        "    rocketchat_configs:\n      - {api_url: FAKE, token: rc-token, token_id: rc-user, channel: '#ops'}\n",
        &fake,
    );
    let ns = team_integrations(&cfg);
    assert!(
        !ns[0].send_resolved(),
        "rocketchat does not send resolved by default"
    );
    let path = "/api/v1/chat.postMessage";
    fake.answer(
        path,
        Answer::new(200, "application/json", r#"{"success":true}"#),
    );
    ns[0].notify(&notification(false)).await.unwrap();
    let req = &fake.requests()[0];
    assert_eq!(req.header("x-auth-token"), Some("rc-token"));
    assert_eq!(req.header("x-user-id"), Some("rc-user"));
    // Rocket.Chat reports errors in a 200 answer: not retried; a 5xx is.
    fake.answer_once(
        path,
        Answer::new(
            200,
            "application/json",
            r#"{"success":false,"error":"room not found"}"#,
        ),
    );
    let e = ns[0].notify(&notification(false)).await.unwrap_err();
    assert!(!e.retryable);
    assert_eq!(
        e.message,
        "channel \"#ops\": error response from Rocketchat: room not found"
    );
    fake.answer_once(path, Answer::new(502, "text/plain", "bad gateway"));
    assert!(
        ns[0]
            .notify(&notification(false))
            .await
            .unwrap_err()
            .retryable
    );
    fake.answer_once(path, Answer::new(429, "text/plain", "slow"));
    assert!(
        !ns[0]
            .notify(&notification(false))
            .await
            .unwrap_err()
            .retryable
    );
}

/// Alertmanager's default retrier for the Teams integrations: 5xx retried, 4xx (429 too)
/// not, the answer's body in the error; the webhook URL never in it.
#[tokio::test]
async fn msteams_retries_5xx_only_and_never_shows_the_url() {
    redline::install_crypto_provider();
    let fake = FakeReceiver::start().await;
    let cfg = config(
        "    msteams_configs:\n      - webhook_url: FAKE/webhookb2/secret-token\n    msteamsv2_configs:\n      - webhook_url: FAKE/workflows/secret-sig\n",
        &fake,
    );
    let ns = team_integrations(&cfg);
    let names: Vec<&str> = ns.iter().map(|n| n.integration()).collect();
    assert_eq!(names, ["msteams[0]", "msteamsv2[0]"]);
    for (n, path) in ns
        .iter()
        .zip(["/webhookb2/secret-token", "/workflows/secret-sig"])
    {
        fake.answer_once(path, Answer::new(503, "text/plain", "busy"));
        let e = n.notify(&notification(false)).await.unwrap_err();
        assert!(e.retryable, "{}: 503", n.integration());
        assert_eq!(e.message, "unexpected status code 503: busy");
        fake.answer_once(path, Answer::new(429, "text/plain", "throttled"));
        let e = n.notify(&notification(false)).await.unwrap_err();
        assert!(!e.retryable, "{}: 429", n.integration());
        n.notify(&notification(false)).await.unwrap();
    }
    // No answer at all (nothing listens on port 1): retryable, and the error does not show
    // the token.
    let cfg = AlertmanagerConfig::from_yaml_str(
        "route: {receiver: team}\nreceivers:\n  - name: team\n    msteams_configs:\n      - webhook_url: http://127.0.0.1:1/webhookb2/secret-token\n",
        "am.yml",
    )
    .unwrap();
    let ns = team_integrations(&cfg);
    let e = ns[0].notify(&notification(false)).await.unwrap_err();
    assert!(e.retryable);
    assert!(!e.message.contains("secret-token"), "{}", e.message);
}

/// A `templates:` file's `define` works in the newer integrations' fields too.
#[tokio::test]
async fn custom_templates_work_in_msteams_fields() {
    redline::install_crypto_provider();
    let fake = FakeReceiver::start().await;
    let dir = TempDir::new("chat-tmpl");
    std::fs::write(dir.join("custom.tmpl"), CUSTOM_TMPL).unwrap();
    let text = format!(
        "templates: ['*.tmpl']\nroute: {{receiver: team}}\nreceivers:\n  - name: team\n    msteams_configs:\n      - webhook_url: {}/t\n        title: '{{{{ template \"team.title\" . }}}}'\n        text: '{{{{ template \"team.message\" . }}}}'\n",
        fake.url()
    );
    let ns = team_integrations_with_templates(&text, &dir);
    ns[0].notify(&notification(true)).await.unwrap();
    let body = fake.requests()[0].json();
    assert_eq!(body["title"], "[resolved] HighErrorRate for api");
    assert_eq!(
        body["text"],
        "10.0.0.1:8080: api errors at 5% (resolved)\n10.0.0.2:8080: api errors at 7% (resolved)\n"
    );
    // The summary keeps its default.
    assert_eq!(body["summary"], "[RESOLVED] HighErrorRate (api page)");
}

fn query(r: &Recorded) -> BTreeMap<String, String> {
    let q = r.path.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

/// Pushover: the parameters in the query string, as Alertmanager sends them, firing and
/// resolved; retries as the default retrier.
#[tokio::test]
async fn pushover_sends_alertmanagers_parameters() {
    redline::install_crypto_provider();
    let fake = FakeReceiver::start().await;
    let cfg = config(
        "    pushover_configs:\n      - {user_key: user-key, token: app-token}\n",
        &fake,
    );
    let ctx = NotifyContext::new(EXTERNAL_URL, "");
    let p = &cfg.receiver("team").unwrap().chat.pushover_configs[0];
    let n = PushoverNotifier::new(0, "receivers[0].pushover_configs[0]", p, &ctx)
        .unwrap()
        .with_api_url(&format!("{}/1/messages.json", fake.url()));
    use redline::alerting::notify::Notifier;
    for (i, state) in ["firing", "resolved"].into_iter().enumerate() {
        n.notify(&notification(state == "resolved")).await.unwrap();
        let req = &fake.requests()[i];
        assert_eq!(req.method, "POST");
        assert!(req.path.starts_with("/1/messages.json?"), "{}", req.path);
        assert_eq!(req.body, "");
        let want: BTreeMap<String, String> =
            serde_json::from_value(fixture(&format!("pushover.{state}.json"))).unwrap();
        assert_eq!(query(req), want, "pushover {state}");
    }
    fake.answer_once("/1/messages.json", Answer::new(500, "text/plain", "down"));
    let e = n.notify(&notification(false)).await.unwrap_err();
    assert!(e.retryable);
    assert!(!e.message.contains("app-token") && !e.message.contains("user-key"));
    fake.answer_once(
        "/1/messages.json",
        Answer::new(400, "application/json", "{}"),
    );
    assert!(!n.notify(&notification(false)).await.unwrap_err().retryable);
}

#[tokio::test]
async fn pushover_html_ttl_and_files() {
    redline::install_crypto_provider();
    let fake = FakeReceiver::start().await;
    let dir = TempDir::new("pushover");
    std::fs::write(dir.join("token"), "file-token\n").unwrap();
    let text = "route: {receiver: team}\nreceivers:\n  - name: team\n    pushover_configs:\n      - {user_key: u, token_file: token, html: true, ttl: 90s, retry: 1m30s, expire: 2h, message: '{{ .CommonAnnotations.summary }} <b>', sound: siren}\n";
    let cfg = AlertmanagerConfig::from_yaml_str_in(text, "am.yml", &dir).unwrap();
    let ctx = NotifyContext::new(EXTERNAL_URL, "");
    let p = &cfg.receiver("team").unwrap().chat.pushover_configs[0];
    let n = PushoverNotifier::new(0, "p", p, &ctx)
        .unwrap()
        .with_api_url(&format!("{}/1/messages.json", fake.url()));
    use redline::alerting::notify::Notifier;
    let mut one = notification(false);
    one.alerts.truncate(1);
    n.notify(&one).await.unwrap();
    let q = query(&fake.requests()[0]);
    assert_eq!(q["token"], "file-token");
    assert_eq!(q["html"], "1");
    // HTML-escaped: the annotation's "%" stays, the literal <b> of the template stays raw.
    assert_eq!(q["message"], "api errors at 5% <b>");
    assert_eq!(
        (q["ttl"].as_str(), q["retry"].as_str(), q["expire"].as_str()),
        ("90", "90", "7200")
    );
    assert_eq!(q["sound"], "siren");
    assert!(!q.contains_key("monospace"));
}

/// Two fields (one overriding `short_fields`) and two actions (one with `msg`): every
/// templated field and action renders, the rest of the body is the recorded one.
#[tokio::test]
async fn rocketchat_renders_several_fields_and_actions() {
    redline::install_crypto_provider();
    let fake = FakeReceiver::start().await;
    let path = "/chat/api/v1/chat.postMessage";
    fake.answer(
        path,
        Answer::new(200, "application/json", r#"{"success":true}"#),
    );
    let cfg = config(
        r#"    rocketchat_configs:
      - api_url: FAKE/chat
        token: rc-token
        token_id: rc-user
        channel: '#ops'
        short_fields: true
        fields:
          - {title: job, value: '{{ .CommonLabels.job }}'}
          - {title: '{{ len .Alerts }} alerts', value: '{{ .GroupLabels.alertname }}', short: false}
        actions:
          - {type: link, text: Runbook, url: '{{ .CommonAnnotations.runbook_url }}'}
          - {text: 'Ack {{ .Status }}', url: 'http://ack.example/{{ .CommonLabels.severity }}', msg: 'ack {{ .CommonLabels.job }}'}
"#,
        &fake,
    );
    let ns = team_integrations(&cfg);
    ns[0]
        .notify(&notification(false))
        .await
        .unwrap_or_else(|e| panic!("rocketchat with fields and actions: {e}"));
    let body = fake.requests()[0].json();
    let att = &body["attachments"][0];
    assert_eq!(
        att["fields"],
        json!([
            {"short": true, "title": "job", "value": "api"},
            {"short": false, "title": "2 alerts", "value": "HighErrorRate"},
        ])
    );
    assert_eq!(
        att["actions"],
        json!([
            {"type": "button", "text": "Runbook", "url": "https://runbooks.example/api",
             "is_webview": false, "msg_in_chat_window": false},
            {"type": "button", "text": "Ack firing", "url": "http://ack.example/page",
             "msg": "ack api", "is_webview": false, "msg_in_chat_window": false},
        ])
    );
    // Everything else as in the recorded body (which has one field and one action).
    let want = fixture("rocketchat.firing.json");
    assert_eq!(att["fields"][0], want["attachments"][0]["fields"][0]);
    assert_eq!(att["actions"][0], want["attachments"][0]["actions"][0]);
    for key in ["title", "title_link", "color"] {
        assert_eq!(att[key], want["attachments"][0][key], "{key}");
    }
    assert_eq!(body["channel"], want["channel"]);
}
