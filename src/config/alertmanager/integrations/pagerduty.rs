//! `pagerduty_configs`: PagerDuty's Events API v2 (`routing_key`, `routing_key_file`) or v1
//! (`service_key`, `service_key_file`), with Alertmanager's defaults: `send_resolved` true,
//! the `pagerduty.default.*` templates for description, client and client_url, the
//! `firing`, `resolved`, `num_firing` and `num_resolved` details added to the user's, the
//! `source` defaulting to the `client`, and the v2 `url` to the global `pagerduty_url`.
//!
//! Alertmanager 0.25 posts v1 events to PagerDuty's fixed v1 endpoint whatever `url` says;
//! redline posts them to the entry's own `url` when it sets one (so a v1 receiver can be
//! pointed at a relay or a test server) and to that endpoint otherwise.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{checked_url, http_or_global, non_empty, secret_or_file, template_or, text_or};
use crate::config::alertmanager::build::Ctx;
use crate::config::alertmanager::raw::RawHttpConfig;
use crate::config::alertmanager::receivers::GlobalConfig;
use crate::config::{ConfigError, FieldPath, HttpClientSettings, SecretSource};

/// PagerDuty's Events API v1 endpoint, where Alertmanager sends `service_key` events.
pub const PAGERDUTY_V1_URL: &str =
    "https://events.pagerduty.com/generic/2010-04-15/create_event.json";

/// Alertmanager's default details, added unless the user sets the same key.
pub const DEFAULT_DETAILS: [(&str, &str); 4] = [
    (
        "firing",
        r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#,
    ),
    (
        "resolved",
        r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#,
    ),
    ("num_firing", "{{ .Alerts.Firing | len }}"),
    ("num_resolved", "{{ .Alerts.Resolved | len }}"),
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPagerdutyConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<RawHttpConfig>,
    pub service_key: Option<String>,
    pub service_key_file: Option<String>,
    pub routing_key: Option<String>,
    pub routing_key_file: Option<String>,
    pub url: Option<String>,
    pub client: Option<String>,
    pub client_url: Option<String>,
    pub description: Option<String>,
    pub details: Option<BTreeMap<String, String>>,
    pub images: Option<Vec<RawPagerdutyImage>>,
    pub links: Option<Vec<RawPagerdutyLink>>,
    pub source: Option<String>,
    pub severity: Option<String>,
    pub class: Option<String>,
    pub component: Option<String>,
    pub group: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPagerdutyImage {
    pub src: Option<String>,
    pub alt: Option<String>,
    pub href: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPagerdutyLink {
    pub href: Option<String>,
    pub text: Option<String>,
}

/// Which Events API an entry uses.
#[derive(Clone, Debug)]
pub enum PagerdutyKey {
    /// Events API v2 `routing_key`.
    Routing(SecretSource),
    /// Events API v1 `service_key`.
    Service(SecretSource),
}

/// One `pagerduty_configs` entry. Text fields are template text.
#[derive(Clone, Debug)]
pub struct PagerdutyConfig {
    /// Default true.
    pub send_resolved: bool,
    pub http: HttpClientSettings,
    pub key: PagerdutyKey,
    /// v2: the entry's `url` or the global `pagerduty_url`; v1: the entry's `url` or
    /// [`PAGERDUTY_V1_URL`].
    pub url: String,
    pub client: String,
    pub client_url: String,
    pub description: String,
    /// The user's details plus [`DEFAULT_DETAILS`].
    pub details: BTreeMap<String, String>,
    pub images: Vec<PagerdutyImage>,
    pub links: Vec<PagerdutyLink>,
    /// Default: the `client` text.
    pub source: String,
    /// Empty means `error`.
    pub severity: String,
    pub class: String,
    pub component: String,
    pub group: String,
}

#[derive(Clone, Debug)]
pub struct PagerdutyImage {
    pub src: String,
    pub alt: String,
    pub href: String,
}

#[derive(Clone, Debug)]
pub struct PagerdutyLink {
    pub href: String,
    pub text: String,
}

pub(crate) fn pagerduty(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    p: RawPagerdutyConfig,
    global: &GlobalConfig,
) -> Result<PagerdutyConfig, ConfigError> {
    let g = &global.integrations;
    let routing = secret_or_file(ctx, path, "routing_key", p.routing_key, p.routing_key_file)?;
    let service = secret_or_file(ctx, path, "service_key", p.service_key, p.service_key_file)?;
    let own_url = checked_url(ctx, path, "url", p.url)?;
    // Alertmanager picks v1 when a service key is set.
    let (key, url) = match (service, routing) {
        (Some(s), _) => (
            PagerdutyKey::Service(s),
            own_url.unwrap_or_else(|| PAGERDUTY_V1_URL.to_string()),
        ),
        (None, Some(r)) => (
            PagerdutyKey::Routing(r),
            own_url.unwrap_or_else(|| g.pagerduty_url.clone()),
        ),
        (None, None) => {
            return Err(ctx.err(path, "missing service or routing key in PagerDuty config"))
        }
    };
    let mut details = p.details.unwrap_or_default();
    for (k, v) in DEFAULT_DETAILS {
        details
            .entry(k.to_string())
            .or_insert_with(|| v.to_string());
    }
    let client = template_or(p.client, "pagerduty.default.client");
    let source = non_empty(p.source).unwrap_or_else(|| client.clone());
    Ok(PagerdutyConfig {
        send_resolved: p.send_resolved.unwrap_or(true),
        http: http_or_global(ctx, path, p.http_config, &global.http)?,
        key,
        url,
        client,
        client_url: template_or(p.client_url, "pagerduty.default.clientURL"),
        description: text_or(
            p.description,
            r#"{{ template "pagerduty.default.description" .}}"#,
        ),
        details,
        images: p
            .images
            .unwrap_or_default()
            .into_iter()
            .map(|i| PagerdutyImage {
                src: i.src.unwrap_or_default(),
                alt: i.alt.unwrap_or_default(),
                href: i.href.unwrap_or_default(),
            })
            .collect(),
        links: p
            .links
            .unwrap_or_default()
            .into_iter()
            .map(|l| PagerdutyLink {
                href: l.href.unwrap_or_default(),
                text: l.text.unwrap_or_default(),
            })
            .collect(),
        source,
        severity: p.severity.unwrap_or_default(),
        class: p.class.unwrap_or_default(),
        component: p.component.unwrap_or_default(),
        group: p.group.unwrap_or_default(),
    })
}
