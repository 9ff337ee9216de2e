//! Loading the chat integrations: Alertmanager's defaults (from its `config/notifiers.go`,
//! `config/config.go` and `docs/configuration.md`), `*_file` secrets, and rejections naming
//! the field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::alertmanager::AlertmanagerConfig;
use crate::config::{Auth, SecretSource};

fn load(text: &str) -> AlertmanagerConfig {
    AlertmanagerConfig::from_yaml_str_in(text, "am.yml", Path::new("/etc/am"))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn error(text: &str) -> String {
    match AlertmanagerConfig::from_yaml_str(text, "am.yml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn inline(s: &SecretSource) -> &str {
    match s {
        SecretSource::Inline(s) => s.expose(),
        SecretSource::File(p) => panic!("expected an inline secret, got file {}", p.display()),
    }
}

/// One receiver `r` with the given integration list (YAML flow text).
fn receiver(list: &str) -> String {
    format!("route: {{receiver: r}}\nreceivers:\n  - name: r\n    {list}\n")
}

const ALL: &str = r#"
route: {receiver: r}
receivers:
  - name: r
    telegram_configs:
      - bot_token: tg-token
        chat_id: -1001234
    discord_configs:
      - webhook_url: http://127.0.0.1:9/discord
    webex_configs:
      - room_id: room-1
        http_config: {authorization: {credentials: webex-bot}}
    msteams_configs:
      - webhook_url: http://127.0.0.1:9/teams
    msteamsv2_configs:
      - webhook_url_file: secrets/teams-v2-url
    pushover_configs:
      - user_key: uk
        token_file: secrets/pushover-token
    rocketchat_configs:
      - token: rc-token
        token_id: rc-id
"#;

#[test]
fn every_chat_integration_loads_with_alertmanagers_defaults() {
    let cfg = load(ALL);
    let chat = &cfg.receiver("r").unwrap().chat;

    // config/notifiers.go DefaultTelegramConfig; docs: api_url = global.telegram_api_url,
    // whose default is https://api.telegram.org.
    let tg = &chat.telegram_configs[0];
    assert!(tg.send_resolved);
    assert_eq!(tg.api_url, "https://api.telegram.org");
    assert_eq!(inline(&tg.bot_token), "tg-token");
    assert_eq!(tg.chat_id, -1001234);
    assert_eq!(tg.message, r#"{{ template "telegram.default.message" . }}"#);
    assert_eq!(tg.parse_mode, "HTML");
    assert!(!tg.disable_notifications);

    let d = &chat.discord_configs[0];
    assert!(d.send_resolved);
    assert_eq!(d.title, r#"{{ template "discord.default.title" . }}"#);
    assert_eq!(d.message, r#"{{ template "discord.default.message" . }}"#);
    assert_eq!((d.content.as_str(), d.username.as_str()), ("", ""));

    // DefaultWebexConfig; global webex_api_url defaults to https://webexapis.com/v1/messages.
    let w = &chat.webex_configs[0];
    assert!(w.send_resolved);
    assert_eq!(w.api_url, "https://webexapis.com/v1/messages");
    assert_eq!(w.room_id, "room-1");
    assert_eq!(w.message, r#"{{ template "webex.default.message" . }}"#);
    assert!(matches!(&w.http.auth, Some(Auth::Authorization(a)) if a.kind == "Bearer"));

    let t = &chat.msteams_configs[0];
    assert!(t.send_resolved);
    assert_eq!(t.title, r#"{{ template "msteams.default.title" . }}"#);
    assert_eq!(t.summary, r#"{{ template "msteams.default.summary" . }}"#);
    assert_eq!(t.text, r#"{{ template "msteams.default.text" . }}"#);

    let t2 = &chat.msteamsv2_configs[0];
    assert!(t2.send_resolved);
    assert_eq!(
        t2.webhook_url,
        SecretSource::File(PathBuf::from("/etc/am/secrets/teams-v2-url"))
    );
    assert_eq!(t2.title, r#"{{ template "msteamsv2.default.title" . }}"#);
    assert_eq!(t2.text, r#"{{ template "msteamsv2.default.text" . }}"#);

    // DefaultPushoverConfig: emergency priority while firing, retry 1m, expire 1h.
    let p = &chat.pushover_configs[0];
    assert!(p.send_resolved);
    assert_eq!(inline(&p.user_key), "uk");
    assert_eq!(
        p.token,
        SecretSource::File(PathBuf::from("/etc/am/secrets/pushover-token"))
    );
    assert_eq!(p.title, r#"{{ template "pushover.default.title" . }}"#);
    assert_eq!(p.message, r#"{{ template "pushover.default.message" . }}"#);
    assert_eq!(p.url, r#"{{ template "pushover.default.url" . }}"#);
    assert_eq!(
        p.priority,
        r#"{{ if eq .Status "firing" }}2{{ else }}0{{ end }}"#
    );
    assert_eq!(p.retry, Duration::from_secs(60));
    assert_eq!(p.expire, Duration::from_secs(3600));
    assert_eq!(p.ttl, Duration::ZERO);
    assert!(!p.html && !p.monospace);

    // DefaultRocketchatConfig: send_resolved false (the code's default; the docs say true);
    // global rocketchat_api_url defaults to https://open.rocket.chat/.
    let rc = &chat.rocketchat_configs[0];
    assert!(!rc.send_resolved);
    assert_eq!(rc.api_url, "https://open.rocket.chat/");
    assert_eq!(
        rc.color,
        r#"{{ if eq .Status "firing" }}red{{ else }}green{{ end }}"#
    );
    assert_eq!(rc.emoji, r#"{{ template "rocketchat.default.emoji" . }}"#);
    assert_eq!(
        rc.icon_url,
        r#"{{ template "rocketchat.default.iconurl" . }}"#
    );
    assert_eq!(
        rc.title_link,
        r#"{{ template "rocketchat.default.titlelink" . }}"#
    );
    assert_eq!(
        (inline(&rc.token), inline(&rc.token_id)),
        ("rc-token", "rc-id")
    );
}

#[test]
fn globals_and_the_global_http_config_are_inherited() {
    let cfg = load(
        r#"
global:
  telegram_api_url: http://127.0.0.1:9/tg
  webex_api_url: http://127.0.0.1:9/webex
  rocketchat_api_url: http://127.0.0.1:9/rc
  rocketchat_token_file: rc-token
  rocketchat_token_id: rc-id
  http_config: {basic_auth: {username: u, password: p}}
route: {receiver: r}
receivers:
  - name: r
    telegram_configs: [{bot_token_file: tg, chat_id: 1}]
    webex_configs: [{room_id: x, http_config: {authorization: {credentials: c}}}]
    rocketchat_configs: [{channel: '#ops'}]
    discord_configs: [{webhook_url: 'http://127.0.0.1:9/d'}]
"#,
    );
    let chat = &cfg.receiver("r").unwrap().chat;
    assert_eq!(chat.telegram_configs[0].api_url, "http://127.0.0.1:9/tg");
    assert_eq!(
        chat.telegram_configs[0].bot_token,
        SecretSource::File(PathBuf::from("/etc/am/tg"))
    );
    assert!(matches!(
        chat.telegram_configs[0].http.auth,
        Some(Auth::Basic(_))
    ));
    assert!(matches!(
        chat.discord_configs[0].http.auth,
        Some(Auth::Basic(_))
    ));
    assert_eq!(chat.webex_configs[0].api_url, "http://127.0.0.1:9/webex");
    let rc = &chat.rocketchat_configs[0];
    assert_eq!(rc.api_url, "http://127.0.0.1:9/rc");
    assert_eq!(
        rc.token,
        SecretSource::File(PathBuf::from("/etc/am/rc-token"))
    );
    assert_eq!(inline(&rc.token_id), "rc-id");
}

#[test]
fn missing_and_conflicting_fields_are_rejected_with_their_path() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "telegram_configs: [{chat_id: 1}]",
            "receivers[0].telegram_configs[0]",
            "missing bot_token or bot_token_file on telegram_config",
        ),
        (
            "telegram_configs: [{bot_token: t, bot_token_file: f, chat_id: 1}]",
            "receivers[0].telegram_configs[0].bot_token_file",
            "at most one of bot_token & bot_token_file must be configured",
        ),
        (
            "telegram_configs: [{bot_token: t}]",
            "receivers[0].telegram_configs[0]",
            "missing chat_id on telegram_config",
        ),
        (
            "telegram_configs: [{bot_token: t, chat_id: 1, parse_mode: html}]",
            "receivers[0].telegram_configs[0].parse_mode",
            "unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string",
        ),
        (
            "telegram_configs: [{bot_token: t, chat_id: 1, api_url: 'ftp://x'}]",
            "receivers[0].telegram_configs[0].api_url",
            "unsupported scheme \"ftp\" for URL",
        ),
        (
            "discord_configs: [{}]",
            "receivers[0].discord_configs[0]",
            "one of webhook_url or webhook_url_file must be configured",
        ),
        (
            "discord_configs: [{webhook_url: 'http://127.0.0.1:9/x', webhook_url_file: f}]",
            "receivers[0].discord_configs[0].webhook_url_file",
            "at most one of webhook_url & webhook_url_file must be configured",
        ),
        (
            "webex_configs: [{http_config: {authorization: {credentials: c}}}]",
            "receivers[0].webex_configs[0]",
            "missing room_id on webex_config",
        ),
        (
            "webex_configs: [{room_id: x}]",
            "receivers[0].webex_configs[0].http_config",
            "missing webex_configs.http_config.authorization",
        ),
        (
            "webex_configs: [{room_id: x, http_config: {basic_auth: {username: u}}}]",
            "receivers[0].webex_configs[0].http_config",
            "missing webex_configs.http_config.authorization",
        ),
        (
            "msteams_configs: [{title: x}]",
            "receivers[0].msteams_configs[0]",
            "one of webhook_url or webhook_url_file must be configured",
        ),
        (
            "msteamsv2_configs: [{webhook_url: 'teams.example/hook'}]",
            "receivers[0].msteamsv2_configs[0].webhook_url",
            "unsupported scheme \"\" for URL",
        ),
        (
            "pushover_configs: [{token: t}]",
            "receivers[0].pushover_configs[0]",
            "one of user_key or user_key_file must be configured",
        ),
        (
            "pushover_configs: [{user_key: u}]",
            "receivers[0].pushover_configs[0]",
            "one of token or token_file must be configured",
        ),
        (
            "pushover_configs: [{user_key: u, token: t, token_file: f}]",
            "receivers[0].pushover_configs[0].token_file",
            "at most one of token & token_file must be configured",
        ),
        (
            "pushover_configs: [{user_key: u, token: t, html: true, monospace: true}]",
            "receivers[0].pushover_configs[0]",
            "at most one of monospace & html must be configured",
        ),
        (
            "pushover_configs: [{user_key: u, token: t, retry: 1d}]",
            "receivers[0].pushover_configs[0].retry",
            "time: unknown unit \"d\" in duration \"1d\"",
        ),
        (
            "rocketchat_configs: [{token_id: i}]",
            "receivers[0].rocketchat_configs[0]",
            "no global Rocketchat Token set either inline or in a file",
        ),
        (
            "rocketchat_configs: [{token: t}]",
            "receivers[0].rocketchat_configs[0]",
            "no global Rocketchat TokenID set either inline or in a file",
        ),
        (
            "rocketchat_configs: [{token: t, token_id: i, token_id_file: f}]",
            "receivers[0].rocketchat_configs[0].token_id_file",
            "at most one of token_id & token_id_file must be configured",
        ),
    ];
    for (list, field, message) in cases {
        let e = error(&receiver(list));
        assert!(
            e.contains(&format!("{field}: {message}")),
            "{list}\nwant {field}: {message}\ngot  {e}"
        );
    }
}

#[test]
fn unknown_fields_and_bad_globals_are_rejected_with_their_path() {
    let e = error(&receiver(
        "telegram_configs: [{bot_token: t, chat_id: 1, chatid: 2}]",
    ));
    assert!(
        e.contains("receivers[0].telegram_configs[0]") && e.contains("unknown field `chatid`"),
        "{e}"
    );
    let e = error("global: {rocketchat_token: t, rocketchat_token_file: f}\nroute: {receiver: r}\nreceivers: [{name: r}]");
    assert!(
        e.contains("global.rocketchat_token_file: at most one of rocketchat_token & rocketchat_token_file must be configured"),
        "{e}"
    );
    let e = error("global: {telegram_api_url: 'api.telegram.org'}\nroute: {receiver: r}\nreceivers: [{name: r}]");
    assert!(
        e.contains("global.telegram_api_url: unsupported scheme"),
        "{e}"
    );
}

#[test]
fn left_out_receiver_types_are_rejected_naming_the_field_and_the_reason() {
    for (kind, reason) in [
        ("sns_configs", "AWS SDK"),
        ("wechat_configs", "access-token"),
        ("jira_configs", "Jira's REST API"),
        ("incidentio_configs", "incident.io"),
    ] {
        let e = error(&receiver(&format!("{kind}: [{{message: x}}]")));
        assert!(
            e.contains(&format!(
                "receivers[0].{kind}: receiver type {kind} is not supported by redline"
            )) && e.contains(reason)
                && e.contains("telegram_configs"),
            "{e}"
        );
        // An empty list stays accepted, as before.
        load(&receiver(&format!("{kind}: []")));
    }
}

#[test]
fn secrets_of_chat_integrations_never_show_in_the_original() {
    let cfg = load(ALL);
    for secret in [
        "tg-token",
        "webex-bot",
        "rc-token",
        "rc-id",
        "127.0.0.1:9/discord",
        "uk",
    ] {
        assert!(
            !cfg.original.contains(secret),
            "{secret} in\n{}",
            cfg.original
        );
    }
}

// ---------------------------------------------------------------------------------------
// mattermost_configs (notify/mattermost/config.go, config/config.go).

#[test]
fn mattermost_loads_with_alertmanagers_defaults() {
    use crate::config::alertmanager::integrations::mattermost::{
        MattermostAttachment, MattermostField, MattermostPriority,
    };
    let cfg = load(&receiver(
        "mattermost_configs: [{webhook_url: 'http://127.0.0.1:9/hooks/abc'}]",
    ));
    let m = &cfg.receiver("r").unwrap().chat.mattermost_configs[0];
    // DefaultMattermostConfig: send_resolved true, six fields from mattermost.default.*.
    assert!(m.send_resolved);
    assert_eq!(inline(&m.webhook_url), "http://127.0.0.1:9/hooks/abc");
    assert_eq!(
        m.username,
        r#"{{ template "mattermost.default.username" . }}"#
    );
    let a = &m.message;
    assert_eq!(a.color, r#"{{ template "mattermost.default.color" . }}"#);
    assert_eq!(a.text, r#"{{ template "mattermost.default.text" . }}"#);
    assert_eq!(a.title, r#"{{ template "mattermost.default.title" . }}"#);
    assert_eq!(
        a.title_link,
        r#"{{ template "mattermost.default.titlelink" . }}"#
    );
    assert_eq!(
        a.fallback,
        r#"{{ template "mattermost.default.fallback" . }}"#
    );
    // Everything else empty: not sent.
    assert_eq!((a.pretext.as_str(), a.footer.as_str()), ("", ""));
    assert_eq!((m.channel.as_str(), m.kind.as_str()), ("", ""));
    assert!(m.attachments.is_empty() && m.props.is_none() && m.priority.is_none());

    // Every field read; an explicitly empty default stays empty, as in Go.
    let cfg = load(&receiver(
        r#"mattermost_configs:
      - webhook_url_file: mm-url
        send_resolved: false
        channel: ops
        username: ''
        text: hi
        icon_emoji: ':fire:'
        type: custom_alert
        fields: [{title: a, value: b, short: true}]
        attachments: [{title: t, fields: [{title: c, value: d}]}]
        props: {card: '**card**'}
        priority: {priority: Urgent, requested_ack: true, persistent_notifications: true}"#,
    ));
    let m = &cfg.receiver("r").unwrap().chat.mattermost_configs[0];
    assert!(!m.send_resolved);
    assert_eq!(
        m.webhook_url,
        SecretSource::File(PathBuf::from("/etc/am/mm-url"))
    );
    assert_eq!(m.username, "");
    assert_eq!(m.message.text, "hi");
    assert_eq!(
        m.message.fields,
        [MattermostField {
            title: "a".into(),
            value: "b".into(),
            short: Some(true)
        }]
    );
    assert_eq!(
        m.attachments,
        [MattermostAttachment {
            title: "t".into(),
            fields: vec![MattermostField {
                title: "c".into(),
                value: "d".into(),
                short: None
            }],
            ..Default::default()
        }]
    );
    assert_eq!(m.props.as_ref().map(|p| p.card.as_str()), Some("**card**"));
    assert_eq!(
        m.priority,
        Some(MattermostPriority {
            priority: "Urgent".into(),
            requested_ack: true,
            persistent_notifications: true
        })
    );
    // An empty card or priority is not sent (Alertmanager checks for "").
    let cfg = load(&receiver(
        "mattermost_configs: [{webhook_url: 'http://h/x', props: {card: ''}, priority: {requested_ack: true}}]",
    ));
    let m = &cfg.receiver("r").unwrap().chat.mattermost_configs[0];
    assert!(m.props.is_none() && m.priority.is_none());
}

#[test]
fn mattermost_takes_the_global_webhook_url_when_it_has_none() {
    let with_global = |global: &str, list: &str| {
        let cfg = load(&format!(
            "global: {global}\n{}",
            receiver(&format!("mattermost_configs: {list}"))
        ));
        cfg.receiver("r").unwrap().chat.mattermost_configs.clone()
    };
    let ms = with_global(
        "{mattermost_webhook_url: 'http://127.0.0.1:9/hooks/global'}",
        "[{channel: a}, {webhook_url: 'http://127.0.0.1:9/hooks/own'}, {webhook_url_file: own}]",
    );
    assert_eq!(
        inline(&ms[0].webhook_url),
        "http://127.0.0.1:9/hooks/global"
    );
    assert_eq!(inline(&ms[1].webhook_url), "http://127.0.0.1:9/hooks/own");
    assert_eq!(
        ms[2].webhook_url,
        SecretSource::File(PathBuf::from("/etc/am/own"))
    );
    let ms = with_global("{mattermost_webhook_url_file: mm}", "[{channel: a}]");
    assert_eq!(
        ms[0].webhook_url,
        SecretSource::File(PathBuf::from("/etc/am/mm"))
    );
    // The URL is a secret in the config shown to users, global and per entry.
    let cfg = load(&format!(
        "global: {{mattermost_webhook_url: 'http://127.0.0.1:9/hooks/g-token'}}\n{}",
        receiver("mattermost_configs: [{webhook_url: 'http://127.0.0.1:9/hooks/e-token'}]")
    ));
    for secret in ["g-token", "e-token"] {
        assert!(!cfg.original.contains(secret), "{}", cfg.original);
    }
}

#[test]
fn mattermost_errors_name_the_field() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "mattermost_configs: [{channel: a}]",
            "receivers[0].mattermost_configs[0]",
            "missing webhook_url or webhook_url_file on mattermost_config",
        ),
        (
            "mattermost_configs: [{webhook_url: 'http://h/x', webhook_url_file: f}]",
            "receivers[0].mattermost_configs[0].webhook_url_file",
            "at most one of webhook_url & webhook_url_file must be configured",
        ),
        (
            "mattermost_configs: [{webhook_url: 'mattermost.example/hooks/x'}]",
            "receivers[0].mattermost_configs[0].webhook_url",
            "unsupported scheme",
        ),
        (
            "mattermost_configs: [{webhook_url: 'http://h/x', fields: [{title: a, value: b}, {title: c}]}]",
            "receivers[0].mattermost_configs[0].fields[1].value",
            "missing value in Mattermost field configuration",
        ),
        (
            "mattermost_configs: [{webhook_url: 'http://h/x', attachments: [{}, {fields: [{value: v}]}]}]",
            "receivers[0].mattermost_configs[0].attachments[1].fields[0].title",
            "missing title in Mattermost field configuration",
        ),
    ];
    for (list, field, message) in cases {
        let e = error(&receiver(list));
        assert!(
            e.contains(&format!("{field}: {message}")),
            "{list}\nwant {field}: {message}\ngot  {e}"
        );
    }
    for (list, unknown) in [
        (
            "mattermost_configs: [{webhook_url: 'http://h/x', icon: x}]",
            "icon",
        ),
        (
            "mattermost_configs: [{webhook_url: 'http://h/x', attachments: [{titel: x}]}]",
            "titel",
        ),
        (
            "mattermost_configs: [{webhook_url: 'http://h/x', priority: {level: urgent}}]",
            "level",
        ),
    ] {
        let e = error(&receiver(list));
        assert!(
            e.contains("receivers[0].mattermost_configs[0]")
                && e.contains(&format!("unknown field `{unknown}`")),
            "{list}\n{e}"
        );
    }
    let global = |g: &str| error(&format!("global: {g}\n{}", receiver("")));
    let e = global("{mattermost_webhook_url: 'http://h/x', mattermost_webhook_url_file: f}");
    assert!(
        e.contains("global.mattermost_webhook_url_file: at most one of mattermost_webhook_url & mattermost_webhook_url_file must be configured"),
        "{e}"
    );
    let e = global("{mattermost_webhook_url: 'ftp://h/x'}");
    assert!(
        e.contains("global.mattermost_webhook_url: unsupported scheme"),
        "{e}"
    );
}
