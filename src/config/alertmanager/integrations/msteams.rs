//! `msteams_configs` (an Office 365 connector card to an incoming webhook) and
//! `msteamsv2_configs` (an Adaptive Card to a Power Automate workflow webhook).
//!
//! Defaults as Alertmanager's: `send_resolved: true`; `title`, `summary` and `text` the
//! `msteams.default.*` templates, `msteamsv2.default.title` / `.text` for v2. One of
//! `webhook_url` / `webhook_url_file` is required.

use serde::Deserialize;

use super::{http_or_global, template_or, webhook_url};
use crate::config::alertmanager::build::Ctx;
use crate::config::alertmanager::raw::RawHttpConfig;
use crate::config::alertmanager::receivers::GlobalConfig;
use crate::config::{ConfigError, FieldPath, HttpClientSettings, SecretSource};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMsTeamsConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<RawHttpConfig>,
    pub webhook_url: Option<String>,
    pub webhook_url_file: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMsTeamsV2Config {
    pub send_resolved: Option<bool>,
    pub http_config: Option<RawHttpConfig>,
    pub webhook_url: Option<String>,
    pub webhook_url_file: Option<String>,
    pub title: Option<String>,
    pub text: Option<String>,
}

/// One `msteams_configs` entry.
#[derive(Clone, Debug)]
pub struct MsTeamsConfig {
    /// Default true.
    pub send_resolved: bool,
    pub http: HttpClientSettings,
    pub webhook_url: SecretSource,
    /// Template texts.
    pub title: String,
    pub summary: String,
    pub text: String,
}

/// One `msteamsv2_configs` entry.
#[derive(Clone, Debug)]
pub struct MsTeamsV2Config {
    /// Default true.
    pub send_resolved: bool,
    pub http: HttpClientSettings,
    pub webhook_url: SecretSource,
    /// Template texts.
    pub title: String,
    pub text: String,
}

const MISSING_URL: &str = "one of webhook_url or webhook_url_file must be configured";

pub(crate) fn build(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    c: RawMsTeamsConfig,
    global: &GlobalConfig,
) -> Result<MsTeamsConfig, ConfigError> {
    let url = webhook_url(ctx, path, c.webhook_url, c.webhook_url_file)?
        .ok_or_else(|| ctx.err(path, MISSING_URL))?;
    Ok(MsTeamsConfig {
        send_resolved: c.send_resolved.unwrap_or(true),
        http: http_or_global(ctx, path, c.http_config, &global.http)?,
        webhook_url: url,
        title: template_or(c.title, "msteams.default.title"),
        summary: template_or(c.summary, "msteams.default.summary"),
        text: template_or(c.text, "msteams.default.text"),
    })
}

pub(crate) fn build_v2(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    c: RawMsTeamsV2Config,
    global: &GlobalConfig,
) -> Result<MsTeamsV2Config, ConfigError> {
    let url = webhook_url(ctx, path, c.webhook_url, c.webhook_url_file)?
        .ok_or_else(|| ctx.err(path, MISSING_URL))?;
    Ok(MsTeamsV2Config {
        send_resolved: c.send_resolved.unwrap_or(true),
        http: http_or_global(ctx, path, c.http_config, &global.http)?,
        webhook_url: url,
        title: template_or(c.title, "msteamsv2.default.title"),
        text: template_or(c.text, "msteamsv2.default.text"),
    })
}
