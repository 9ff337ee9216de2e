//! The receiver integrations beyond webhook and email, one file each: their raw
//! `*_configs` entries as written, their typed configs with Alertmanager's defaults
//! (`config/notifiers.go`) and the rules between fields, and the `global` settings they
//! inherit (`slack_api_url`, `pagerduty_url`, `opsgenie_api_url`, …).
//!
//! What every integration shares lives here: a secret given inline or as `*_file` (at most one
//! of them; files are resolved against the config file's directory and read on use), URL
//! validation as Alertmanager's `URL`/`SecretURL` types do it, and the entry's `http_config`
//! falling back to the global one. Templated fields stay text here; they are compiled when
//! the notifiers are built (`alerting::notify`), which names the field of a template that
//! does not compile.

pub mod opsgenie;
pub mod pagerduty;
pub mod slack;
pub mod victorops;

use super::build::Ctx;
use super::raw::RawHttpConfig;
use super::receivers::http_config;
use crate::config::{ConfigError, FieldPath, HttpClientSettings, Secret, SecretSource};

/// Alertmanager's default `global.pagerduty_url`.
pub const DEFAULT_PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// Alertmanager's default `global.opsgenie_api_url`.
pub const DEFAULT_OPSGENIE_API_URL: &str = "https://api.opsgenie.com/";
/// Alertmanager's default `global.victorops_api_url`.
pub const DEFAULT_VICTOROPS_API_URL: &str =
    "https://alert.victorops.com/integrations/generic/20131114/alert/";

/// The `global` settings the integrations inherit.
#[derive(Clone, Debug, Default)]
pub struct IntegrationGlobals {
    pub slack_api_url: Option<SecretSource>,
    /// Default [`DEFAULT_PAGERDUTY_URL`].
    pub pagerduty_url: String,
    /// Default [`DEFAULT_OPSGENIE_API_URL`].
    pub opsgenie_api_url: String,
    pub opsgenie_api_key: Option<SecretSource>,
    /// Default [`DEFAULT_VICTOROPS_API_URL`].
    pub victorops_api_url: String,
    pub victorops_api_key: Option<SecretSource>,
}

/// The raw `global` fields of [`IntegrationGlobals`].
#[derive(Debug, Default)]
pub struct RawIntegrationGlobals {
    pub slack_api_url: Option<String>,
    pub slack_api_url_file: Option<String>,
    pub pagerduty_url: Option<String>,
    pub opsgenie_api_url: Option<String>,
    pub opsgenie_api_key: Option<String>,
    pub opsgenie_api_key_file: Option<String>,
    pub victorops_api_url: Option<String>,
    pub victorops_api_key: Option<String>,
    pub victorops_api_key_file: Option<String>,
}

pub(crate) fn globals(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    g: RawIntegrationGlobals,
) -> Result<IntegrationGlobals, ConfigError> {
    let url_or = |key: &str, v: Option<String>, default: &str| -> Result<String, ConfigError> {
        match non_empty(v) {
            Some(u) => {
                check_url(ctx, &path.key(key), &u)?;
                Ok(u)
            }
            None => Ok(default.to_string()),
        }
    };
    let slack_api_url = secret_or_file(
        ctx,
        path,
        "slack_api_url",
        g.slack_api_url,
        g.slack_api_url_file,
    )?;
    if let Some(SecretSource::Inline(u)) = &slack_api_url {
        check_url(ctx, &path.key("slack_api_url"), u.expose())?;
    }
    Ok(IntegrationGlobals {
        slack_api_url,
        pagerduty_url: url_or("pagerduty_url", g.pagerduty_url, DEFAULT_PAGERDUTY_URL)?,
        opsgenie_api_url: url_or(
            "opsgenie_api_url",
            g.opsgenie_api_url,
            DEFAULT_OPSGENIE_API_URL,
        )?,
        opsgenie_api_key: secret_or_file(
            ctx,
            path,
            "opsgenie_api_key",
            g.opsgenie_api_key,
            g.opsgenie_api_key_file,
        )?,
        victorops_api_url: url_or(
            "victorops_api_url",
            g.victorops_api_url,
            DEFAULT_VICTOROPS_API_URL,
        )?,
        victorops_api_key: secret_or_file(
            ctx,
            path,
            "victorops_api_key",
            g.victorops_api_key,
            g.victorops_api_key_file,
        )?,
    })
}

pub(crate) fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// `NAME` inline or `NAME_file` (a path resolved against the config's directory), at most
/// one of them, as Alertmanager requires.
pub(crate) fn secret_or_file(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    name: &str,
    inline: Option<String>,
    file: Option<String>,
) -> Result<Option<SecretSource>, ConfigError> {
    match (non_empty(inline), non_empty(file)) {
        (Some(_), Some(_)) => Err(ctx.err(
            &path.key(&format!("{name}_file")),
            format!("at most one of {name} & {name}_file must be configured"),
        )),
        (Some(s), None) => Ok(Some(SecretSource::Inline(Secret::new(s)))),
        (None, Some(f)) => Ok(Some(SecretSource::File(ctx.resolve(&f)))),
        (None, None) => Ok(None),
    }
}

/// Alertmanager's URL rules: an `http` or `https` scheme and a host.
pub(crate) fn check_url(ctx: &Ctx<'_>, path: &FieldPath, u: &str) -> Result<(), ConfigError> {
    let rest = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"))
        .ok_or_else(|| {
            let scheme = u.split_once("://").map_or("", |(s, _)| s);
            ctx.err(path, format!("unsupported scheme {scheme:?} for URL"))
        })?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(ctx.err(path, "URL has no host"));
    }
    Ok(())
}

/// The entry's `http_config`, or the global one.
pub(crate) fn http_or_global(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    h: Option<RawHttpConfig>,
    global: &HttpClientSettings,
) -> Result<HttpClientSettings, ConfigError> {
    match h {
        Some(h) => http_config(ctx, &path.key("http_config"), h),
        None => Ok(global.clone()),
    }
}

/// A template text, or the default when absent (an empty text stays empty, as in Go).
pub(crate) fn text_or(v: Option<String>, default: &str) -> String {
    v.unwrap_or_else(|| default.to_string())
}

#[cfg(test)]
mod tests;
