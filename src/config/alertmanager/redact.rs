//! The Alertmanager configuration as shown to users (`GET /api/v2/status`'s
//! `config.original`): the document re-serialized with every secret replaced by `<secret>`,
//! as Alertmanager marshals its `Secret` and `SecretURL` fields.
//!
//! Alertmanager renders the configuration it loaded, with its defaults filled in; redline
//! renders the document the user wrote (no invented defaults) after replacing the values of
//! secret fields. It re-serializes the parsed YAML rather than editing the text, so block
//! scalars, flow mappings, anchors and aliases cannot hide a secret from the redaction;
//! comments are lost, as in Alertmanager's output.
//!
//! Which fields are secret follows Alertmanager's current release: prometheus/common's
//! `Secret` fields (`basic_auth.password`, `authorization.credentials`, `bearer_token`,
//! `oauth2.client_secret`, `tls_config.key`), the SMTP `smtp_auth_password` /
//! `smtp_auth_secret` and the email `auth_password` / `auth_secret`, the API keys and tokens
//! of the other integrations, and the URLs that are `SecretURL`s (webhook `url`,
//! `slack_api_url`, `api_url`). Alertmanager 0.25 (Debian's) still showed the webhook `url`
//! in the clear; later releases hide it because it often carries a token, and so does redline.
//! Label matchers (`match`, `match_re`, `source_match`, …) are never redacted: they are
//! label values, not settings.

use serde_yaml_ng::Value;

/// What a secret value is shown as.
pub const SECRET: &str = "<secret>";

/// Keys whose values are secrets wherever they appear outside label matchers.
const SECRET_KEYS: &[&str] = &[
    "password",
    "credentials",
    "bearer_token",
    "client_secret",
    "key",
    "smtp_auth_password",
    "smtp_auth_secret",
    "auth_password",
    "auth_secret",
    "url",
    "api_url",
    "api_key",
    "slack_api_url",
    "victorops_api_key",
    "opsgenie_api_key",
    "wechat_api_secret",
    "rocketchat_token",
    "rocketchat_token_id",
    "routing_key",
    "service_key",
    "token",
    "bot_token",
    "user_key",
    "webhook_url",
    "token_id",
    "mattermost_webhook_url",
    "app_token",
];

/// Keys whose values are label names and values, never secrets.
const LABEL_KEYS: &[&str] = &[
    "match",
    "match_re",
    "source_match",
    "source_match_re",
    "target_match",
    "target_match_re",
];

/// Replaces, in place, the value of every secret field of `doc` with `<secret>`. Empty and
/// null values stay as they are (Alertmanager omits an empty secret).
pub fn redact_secrets(doc: &mut Value) {
    match doc {
        Value::Mapping(m) => {
            for (k, v) in m.iter_mut() {
                let key = k.as_str().unwrap_or("");
                if LABEL_KEYS.contains(&key) {
                    continue;
                }
                let empty = v.is_null() || v.as_str().is_some_and(str::is_empty);
                if SECRET_KEYS.contains(&key) && !empty && !v.is_mapping() && !v.is_sequence() {
                    *v = Value::String(SECRET.to_string());
                } else {
                    redact_secrets(v);
                }
            }
        }
        Value::Sequence(s) => s.iter_mut().for_each(redact_secrets),
        Value::Tagged(t) => redact_secrets(&mut t.value),
        _ => {}
    }
}

/// `doc` as YAML with its secrets redacted (see [`redact_secrets`]).
pub fn redacted_yaml(mut doc: Value) -> String {
    redact_secrets(&mut doc);
    serde_yaml_ng::to_string(&doc).unwrap_or_default()
}

/// Config text as YAML with its secrets redacted; text that does not parse as YAML is not
/// shown at all (it cannot have been loaded).
pub fn redacted_text(text: &str) -> String {
    match serde_yaml_ng::from_str::<Value>(text) {
        Ok(doc) => redacted_yaml(doc),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_shown_as_alertmanager_shows_them_and_matchers_stay() {
        let text = r#"
global:
  smtp_auth_username: u
  smtp_auth_password: pw1
  smtp_auth_secret: pw2
  http_config:
    basic_auth: {username: g, password: pw3}
    tls_config: {key: pw4, cert_file: /c.pem}
route:
  receiver: hook
  match: {password: not-a-secret}
  routes:
    - match_re: {url: also-not}
      receiver: hook
receivers:
  - name: hook
    webhook_configs:
      - url: http://h/x?token=pw5
        url_file: /etc/url
        http_config:
          authorization: {type: Bearer, credentials: pw6}
          bearer_token: pw7
    email_configs:
      - to: a@b
        auth_password: |
          pw8
        auth_secret: &s pw9
        auth_identity: *s
        auth_password_file: ''
"#;
        let shown = redacted_text(text);
        for pw in ["pw1", "pw2", "pw3", "pw4", "pw5", "pw6", "pw7", "pw8"] {
            assert!(!shown.contains(pw), "{pw} shown:\n{shown}");
        }
        // An alias of a secret's anchor elsewhere keeps the (non-secret) field's value, as
        // Alertmanager would show auth_identity; the secret field itself is hidden.
        assert!(shown.contains("auth_secret: <secret>"), "{shown}");
        for kept in [
            "smtp_auth_username: u",
            "smtp_auth_password: <secret>",
            "password: <secret>",
            "key: <secret>",
            "cert_file: /c.pem",
            "url: <secret>",
            "url_file: /etc/url",
            "credentials: <secret>",
            "bearer_token: <secret>",
            "type: Bearer",
            "password: not-a-secret",
            "url: also-not",
            "auth_password_file: ''",
        ] {
            assert!(shown.contains(kept), "{kept} missing:\n{shown}");
        }
    }
}
