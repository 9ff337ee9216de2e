//! The integrations' configs: Alertmanager's defaults, global inheritance and errors (the
//! messages are Alertmanager's own, from `config/notifiers.go` and `config/config.go`).

use super::pagerduty::{PagerdutyKey, PAGERDUTY_V1_URL};
use super::slack::SlackTarget;
use super::*;
use crate::config::alertmanager::AlertmanagerConfig;

fn load(text: &str) -> AlertmanagerConfig {
    AlertmanagerConfig::from_yaml_str_in(text, "am.yml", std::path::Path::new("/etc/am"))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn error(text: &str) -> String {
    match AlertmanagerConfig::from_yaml_str(text, "am.yml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn receiver(body: &str) -> String {
    format!("route: {{receiver: r}}\nreceivers:\n  - name: r\n{body}")
}

#[test]
fn defaults_are_alertmanagers() {
    let cfg = load(&receiver(
        "    slack_configs: [{api_url: 'http://127.0.0.1:1/s'}]\n    pagerduty_configs: [{routing_key: k, client: 'cl {{ .Receiver }}'}]\n    opsgenie_configs: [{api_key: k}]\n    victorops_configs: [{api_key: k, routing_key: rk}]\n",
    ));
    let r = &cfg.receivers[0];
    let s = &r.slack_configs[0];
    assert!(!s.send_resolved);
    assert_eq!(s.title, r#"{{ template "slack.default.title" . }}"#);
    assert_eq!(
        s.callback_id,
        r#"{{ template "slack.default.callbackid" . }}"#
    );
    assert_eq!(
        s.color,
        r#"{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}"#
    );
    let p = &r.pagerduty_configs[0];
    assert!(p.send_resolved);
    assert!(matches!(p.key, PagerdutyKey::Routing(_)));
    assert_eq!(p.url, DEFAULT_PAGERDUTY_URL);
    assert_eq!(p.source, "cl {{ .Receiver }}", "source defaults to client");
    assert_eq!(
        p.details.keys().collect::<Vec<_>>(),
        ["firing", "num_firing", "num_resolved", "resolved"]
    );
    let o = &r.opsgenie_configs[0];
    assert!(o.send_resolved);
    assert_eq!(o.api_url, DEFAULT_OPSGENIE_API_URL);
    let v = &r.victorops_configs[0];
    assert!(v.send_resolved);
    assert_eq!(v.message_type, "CRITICAL");
    assert_eq!(v.api_url, DEFAULT_VICTOROPS_API_URL);
}

#[test]
fn globals_and_global_http_config_are_inherited() {
    let cfg = load(
        "global:\n  slack_api_url_file: slack.url\n  pagerduty_url: http://127.0.0.1:1/pd\n  opsgenie_api_key_file: og.key\n  opsgenie_api_url: http://127.0.0.1:1/og/\n  victorops_api_key: vk\n  victorops_api_url: http://127.0.0.1:1/vo/\n  http_config: {bearer_token: t}\nroute: {receiver: r}\nreceivers:\n  - name: r\n    slack_configs: [{}]\n    pagerduty_configs: [{routing_key: k}, {service_key: s}]\n    opsgenie_configs: [{}]\n    victorops_configs: [{routing_key: rk, http_config: {}}]\n",
    );
    let r = &cfg.receivers[0];
    match &r.slack_configs[0].target {
        SlackTarget::Webhook(crate::config::SecretSource::File(p)) => {
            assert_eq!(p, std::path::Path::new("/etc/am/slack.url"))
        }
        other => panic!("{other:?}"),
    }
    assert!(r.slack_configs[0].http.auth.is_some(), "global http_config");
    assert!(
        r.victorops_configs[0].http.auth.is_none(),
        "own http_config"
    );
    assert_eq!(r.pagerduty_configs[0].url, "http://127.0.0.1:1/pd");
    assert_eq!(r.pagerduty_configs[1].url, PAGERDUTY_V1_URL);
    assert!(matches!(
        r.opsgenie_configs[0].api_key,
        crate::config::SecretSource::File(_)
    ));
    assert_eq!(r.opsgenie_configs[0].api_url, "http://127.0.0.1:1/og/");
    assert_eq!(r.victorops_configs[0].api_url, "http://127.0.0.1:1/vo/");
}

#[test]
fn errors_name_the_field_with_alertmanagers_message() {
    let cases = [
        (
            receiver("    slack_configs: [{channel: x}]\n"),
            "receivers[0].slack_configs[0]: no global Slack API URL set either inline or in a file",
        ),
        (
            receiver("    slack_configs: [{api_url: 'http://a/', api_url_file: f}]\n"),
            "receivers[0].slack_configs[0].api_url_file: at most one of api_url & api_url_file must be configured",
        ),
        (
            receiver("    slack_configs: [{api_url: 'ftp://a/'}]\n"),
            "receivers[0].slack_configs[0].api_url: unsupported scheme \"ftp\" for URL",
        ),
        (
            receiver("    slack_configs: [{api_url: 'http://a/', fields: [{value: v}]}]\n"),
            "receivers[0].slack_configs[0].fields[0]: missing title in Slack field configuration",
        ),
        (
            receiver("    slack_configs: [{api_url: 'http://a/', actions: [{type: button, text: t}]}]\n"),
            "receivers[0].slack_configs[0].actions[0]: missing name or url in Slack action configuration",
        ),
        (
            receiver("    pagerduty_configs: [{client: x}]\n"),
            "receivers[0].pagerduty_configs[0]: missing service or routing key in PagerDuty config",
        ),
        (
            receiver("    pagerduty_configs: [{routing_key: a, routing_key_file: b}]\n"),
            "receivers[0].pagerduty_configs[0].routing_key_file: at most one of routing_key & routing_key_file must be configured",
        ),
        (
            receiver("    opsgenie_configs: [{}]\n"),
            "receivers[0].opsgenie_configs[0]: no global OpsGenie API Key set either inline or in a file",
        ),
        (
            receiver("    opsgenie_configs: [{api_key: k, responders: [{type: team}]}]\n"),
            "receivers[0].opsgenie_configs[0].responders[0]: opsGenieConfig responder has to have at least one of id, username or name specified",
        ),
        (
            receiver("    opsgenie_configs: [{api_key: k, responders: [{name: n, type: squad}]}]\n"),
            "receivers[0].opsgenie_configs[0].responders[0].type: opsGenieConfig responder type \"squad\" does not match",
        ),
        (
            receiver("    victorops_configs: [{api_key: k}]\n"),
            "receivers[0].victorops_configs[0]: missing Routing key in VictorOps config",
        ),
        (
            receiver("    victorops_configs: [{routing_key: r}]\n"),
            "receivers[0].victorops_configs[0]: no global VictorOps API Key set either inline or in a file",
        ),
        (
            receiver("    victorops_configs: [{api_key: k, routing_key: r, custom_fields: {entity_id: x}}]\n"),
            "receivers[0].victorops_configs[0].custom_fields.entity_id: victorOps config contains custom field entity_id",
        ),
        (
            receiver("    victorops_configs: [{api_key: k, routing_key: r, bogus: 1}]\n"),
            "unknown field `bogus`",
        ),
    ];
    for (text, want) in cases {
        let got = error(&text);
        assert!(got.contains(want), "{text}\n got: {got}\nwant: {want}");
    }
}

#[test]
fn slack_app_token_posts_to_chat_post_message() {
    let cfg = load(&receiver("    slack_configs: [{app_token_file: tok}]\n"));
    match &cfg.receivers[0].slack_configs[0].target {
        SlackTarget::App { url, token } => {
            assert_eq!(url, super::slack::DEFAULT_SLACK_APP_URL);
            assert!(matches!(token, crate::config::SecretSource::File(_)));
        }
        other => panic!("{other:?}"),
    }
    let e = error(&receiver(
        "    slack_configs: [{app_token: t, api_url: 'http://a/'}]\n",
    ));
    assert!(
        e.contains("at most one of api_url/api_url_file & app_token"),
        "{e}"
    );
}
