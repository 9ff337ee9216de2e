//! `pushover_configs`: Alertmanager's Pushover integration (a form POSTed to the messages
//! API).
//!
//! Defaults as Alertmanager's: `send_resolved: true`; `title`, `message` and `url` the
//! `pushover.default.*` templates; `priority` `{{ if eq .Status "firing" }}2{{ else }}0{{ end }}`
//! (emergency while firing); `retry: 1m`, `expire: 1h`; `ttl` unset; `html` and `monospace`
//! false (at most one of them). `user_key` / `user_key_file` and `token` / `token_file`
//! (one of each) are required. `retry`, `expire` and `ttl` are Go durations (`90s`, `1.5h`),
//! as Alertmanager parses them with `time.ParseDuration`.

use std::time::Duration;

use serde::Deserialize;

use super::{http_or_global, non_empty, secret_or_file, template_or, text_or};
use crate::config::alertmanager::build::Ctx;
use crate::config::alertmanager::raw::{RawHttpConfig, Text};
use crate::config::alertmanager::receivers::GlobalConfig;
use crate::config::{ConfigError, FieldPath, HttpClientSettings, SecretSource};

/// Alertmanager's default `priority`: emergency (2) while firing, normal (0) once resolved.
pub const DEFAULT_PRIORITY: &str = r#"{{ if eq .Status "firing" }}2{{ else }}0{{ end }}"#;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPushoverConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<RawHttpConfig>,
    pub user_key: Option<String>,
    pub user_key_file: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub title: Option<String>,
    pub message: Option<String>,
    pub url: Option<String>,
    pub url_title: Option<String>,
    pub device: Option<String>,
    pub sound: Option<String>,
    pub priority: Option<String>,
    pub retry: Option<Text>,
    pub expire: Option<Text>,
    pub ttl: Option<Text>,
    pub html: Option<bool>,
    pub monospace: Option<bool>,
}

/// One `pushover_configs` entry.
#[derive(Clone, Debug)]
pub struct PushoverConfig {
    /// Default true.
    pub send_resolved: bool,
    pub http: HttpClientSettings,
    pub user_key: SecretSource,
    pub token: SecretSource,
    /// Template texts.
    pub title: String,
    pub message: String,
    pub url: String,
    pub url_title: String,
    pub device: String,
    pub sound: String,
    pub priority: String,
    /// Default 1m.
    pub retry: Duration,
    /// Default 1h.
    pub expire: Duration,
    /// Zero: not sent.
    pub ttl: Duration,
    pub html: bool,
    pub monospace: bool,
}

pub(crate) fn build(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    c: RawPushoverConfig,
    global: &GlobalConfig,
) -> Result<PushoverConfig, ConfigError> {
    let user_key = secret_or_file(ctx, path, "user_key", c.user_key, c.user_key_file)?
        .ok_or_else(|| ctx.err(path, "one of user_key or user_key_file must be configured"))?;
    let token = secret_or_file(ctx, path, "token", c.token, c.token_file)?
        .ok_or_else(|| ctx.err(path, "one of token or token_file must be configured"))?;
    let html = c.html.unwrap_or(false);
    let monospace = c.monospace.unwrap_or(false);
    if html && monospace {
        return Err(ctx.err(path, "at most one of monospace & html must be configured"));
    }
    let duration = |field: &str, v: Option<Text>, default: Duration| match v {
        None => Ok(default),
        Some(Text(s)) => {
            parse_go_duration(&s).map_err(|m| ctx.err(&path.key(field), m.to_string()))
        }
    };
    Ok(PushoverConfig {
        send_resolved: c.send_resolved.unwrap_or(true),
        http: http_or_global(ctx, path, c.http_config, &global.http)?,
        user_key,
        token,
        title: template_or(c.title, "pushover.default.title"),
        message: template_or(c.message, "pushover.default.message"),
        url: template_or(c.url, "pushover.default.url"),
        url_title: non_empty(c.url_title).unwrap_or_default(),
        device: non_empty(c.device).unwrap_or_default(),
        sound: non_empty(c.sound).unwrap_or_default(),
        priority: text_or(c.priority, DEFAULT_PRIORITY),
        retry: duration("retry", c.retry, Duration::from_secs(60))?,
        expire: duration("expire", c.expire, Duration::from_secs(3600))?,
        ttl: duration("ttl", c.ttl, Duration::ZERO)?,
        html,
        monospace,
    })
}

/// Why a Go duration does not parse; the messages are Go's `time.ParseDuration`'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoDurationError {
    #[error("time: invalid duration {0:?}")]
    Invalid(String),
    #[error("time: missing unit in duration {0:?}")]
    MissingUnit(String),
    #[error("time: unknown unit {unit:?} in duration {input:?}")]
    UnknownUnit { unit: String, input: String },
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers (with optional fraction) each
/// with a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`); `0` alone needs none. Negative
/// durations are refused (no Pushover setting can use one).
pub fn parse_go_duration(s: &str) -> Result<Duration, GoDurationError> {
    let invalid = || GoDurationError::Invalid(s.to_string());
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() || rest.starts_with('-') {
        return Err(invalid());
    }
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let number = &rest[..n];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        rest = &rest[n..];
        let u = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let unit = &rest[..u];
        rest = &rest[u..];
        let scale = match unit {
            "" => return Err(GoDurationError::MissingUnit(s.to_string())),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => {
                return Err(GoDurationError::UnknownUnit {
                    unit: unit.to_string(),
                    input: s.to_string(),
                })
            }
        };
        nanos += value * scale;
    }
    if nanos > i64::MAX as f64 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_as_time_parse_duration() {
        assert_eq!(parse_go_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_go_duration("1.5h").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_go_duration("1h30m").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_go_duration("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(
            parse_go_duration("30").unwrap_err().to_string(),
            r#"time: missing unit in duration "30""#
        );
        // Prometheus' `d` is not Go's.
        assert_eq!(
            parse_go_duration("1d").unwrap_err().to_string(),
            r#"time: unknown unit "d" in duration "1d""#
        );
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("h").is_err());
    }
}
