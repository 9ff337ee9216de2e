//! The alerting configuration: Alertmanager's `alertmanager.yml`, read unchanged, plus
//! redline's owner routing, and redline's `alertmanager:` section that points at it
//! (`section`). The runtime that acts on it is [`crate::alerting`].
//!
//! Loading is two-phase, as for the rest of the config: the YAML is decoded into
//! the raw structs of [`raw`] (unknown fields and unsupported receiver kinds such as
//! `slack_configs` are errors at their own path, never silently ignored), then validated
//! with Alertmanager's rules into an [`AlertmanagerConfig`]:
//!
//! - [`route::RouteTree`]: the `route:` tree, with each route's effective options and
//!   Alertmanager's matching, route keys and [`route::group_key`];
//! - [`matchers`]: Alertmanager's matcher syntax (new and classic) and semantics;
//! - [`time_intervals`]: `time_intervals` / `mute_time_intervals`;
//! - [`receivers`]: `global`, webhook and email receivers, inhibit rules;
//! - [`integrations`]: the other receiver kinds (Slack, PagerDuty, Opsgenie, VictorOps,
//!   and the chat and push receivers `telegram_configs`, `discord_configs`,
//!   `webex_configs`, `msteams_configs`, `msteamsv2_configs`, `pushover_configs`,
//!   `rocketchat_configs`, `mattermost_configs`);
//! - [`owners`]: redline's `owners:` section and templated receiver names — the rule for
//!   choosing a receiver is documented there;
//! - [`route_tester`]: amtool's `config routes test` ([`routes_test()`]).
//!
//! Errors are [`ConfigError`]s naming the file, the field path and the line:
//!
//! ```text
//! alertmanager.yml:7:17: route.routes[0].receiver: undefined receiver "pagr" used in route
//! ```
//!
//! ```
//! use redline::config::alertmanager::AlertmanagerConfig;
//! use redline::store::Labels;
//!
//! let cfg = AlertmanagerConfig::from_yaml_str(r#"
//! route:
//!   receiver: default
//!   group_by: [alertname]
//!   routes:
//!     - matchers: ['severity="page"']
//!       receiver: pager
//! receivers: [{name: default}, {name: pager}]
//! "#, "alertmanager.yml").unwrap();
//!
//! let alert = Labels::from_pairs([("alertname", "Down"), ("severity", "page")]);
//! let routes = cfg.route.matches(&alert);
//! assert_eq!(routes[0].opts.receiver, "pager");
//! assert_eq!(routes[0].id(), r#"{}/{severity="page"}/0"#);
//! let key = redline::config::alertmanager::group_key(routes[0], &routes[0].group_labels(&alert));
//! assert_eq!(key, r#"{}/{severity="page"}:{alertname="Down"}"#);
//! ```

mod build;
pub mod integrations;
pub mod matchers;
pub mod owners;
pub mod raw;
pub mod receivers;
pub mod redact;
pub mod route;
pub mod route_tester;
mod section;
pub mod time_intervals;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use super::ConfigError;
use crate::store::Labels;
pub use matchers::{
    parse_label_args, parse_matcher, parse_matchers, Matcher, MatcherError, Matchers,
};
pub use owners::{LabelTemplate, Owners, ReceiverChoice};
pub use receivers::{EmailConfig, GlobalConfig, InhibitRule, Receiver, WebhookConfig};
pub use route::{group_key, labelset_string, GroupBy, Route, RouteOpts, RouteTree};
pub use route_tester::routes_test;
pub use section::*;
pub use time_intervals::{NamedTimeInterval, TimeInterval};

/// A validated Alertmanager configuration.
#[derive(Clone, Debug)]
pub struct AlertmanagerConfig {
    pub global: GlobalConfig,
    pub route: RouteTree,
    pub inhibit_rules: Vec<InhibitRule>,
    /// In file order; names are unique.
    pub receivers: Vec<Receiver>,
    /// Template file globs, resolved against the config file's directory; not expanded.
    pub templates: Vec<PathBuf>,
    /// `time_intervals` and legacy `mute_time_intervals`, by name.
    pub time_intervals: BTreeMap<String, NamedTimeInterval>,
    /// redline's `owners:` section, if present.
    pub owners: Option<Owners>,
    /// The configuration as shown by `GET /api/v2/status` (`config.original`): the document
    /// it was read from, re-serialized with every secret shown as `<secret>`
    /// ([`redact::redacted_yaml`]). Never holds a secret.
    pub original: String,
}

/// Where one matched route sends an alert.
#[derive(Clone, Debug)]
pub struct Destination<'a> {
    pub route: &'a Route,
    /// The receiver to notify (it exists in [`AlertmanagerConfig::receivers`]).
    pub receiver: String,
    pub chosen_by: ReceiverChoice,
}

impl AlertmanagerConfig {
    /// Reads and validates a config file; relative paths in it (templates, `*_file` fields)
    /// are resolved against the file's directory.
    pub fn load_file(path: &Path) -> Result<AlertmanagerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        Self::load(&text, &path.display().to_string(), dir)
    }

    /// Validates config text; `source_name` names it in errors.
    pub fn from_yaml_str(text: &str, source_name: &str) -> Result<AlertmanagerConfig, ConfigError> {
        Self::load(text, source_name, None)
    }

    /// Like [`AlertmanagerConfig::from_yaml_str`], resolving relative paths against `base_dir`.
    pub fn from_yaml_str_in(
        text: &str,
        source_name: &str,
        base_dir: &Path,
    ) -> Result<AlertmanagerConfig, ConfigError> {
        Self::load(text, source_name, Some(base_dir))
    }

    /// Validates an already decoded document, such as an `alerting:` section of redline's
    /// main config. Errors carry field paths relative to the value, but no line numbers.
    pub fn from_yaml_value(
        value: serde_yaml_ng::Value,
        source_name: &str,
        base_dir: Option<&Path>,
    ) -> Result<AlertmanagerConfig, ConfigError> {
        let ctx = build::Ctx {
            text: None,
            source: source_name,
            base_dir,
        };
        let original = redact::redacted_yaml(value.clone());
        let raw = build::parse_value(value, source_name, None)?;
        let mut cfg = build::build(&ctx, raw)?;
        cfg.original = original;
        Ok(cfg)
    }

    fn load(
        text: &str,
        source: &str,
        base_dir: Option<&Path>,
    ) -> Result<AlertmanagerConfig, ConfigError> {
        let raw = build::parse_text(text, source)?;
        let ctx = build::Ctx {
            text: Some(text),
            source,
            base_dir,
        };
        let mut cfg = build::build(&ctx, raw)?;
        cfg.original = redact::redacted_text(text);
        Ok(cfg)
    }

    /// The receiver named `name`.
    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    /// The routes an alert takes and the receiver each notifies, with redline's owner rule
    /// applied (see [`owners`]); without an `owners:` section and templated receivers this
    /// is exactly Alertmanager's choice. Never empty.
    pub fn destinations(&self, labels: &Labels) -> Vec<Destination<'_>> {
        let root = &self.route.root.opts.receiver;
        self.route
            .matches(labels)
            .into_iter()
            .map(|route| {
                let (receiver, chosen_by) = Owners::resolve(
                    self.owners.as_ref(),
                    &route.opts.receiver,
                    route.opts.receiver_template.as_ref(),
                    root,
                    |n| self.receiver(n).is_some(),
                    labels,
                );
                Destination {
                    route,
                    receiver,
                    chosen_by,
                }
            })
            .collect()
    }

    /// The playbook link for an alert: its `runbook_url` annotation, else the rendered
    /// `owners.playbook_url_template`, else `None`.
    pub fn playbook_url(&self, labels: &Labels, runbook_url: Option<&str>) -> Option<String> {
        match &self.owners {
            Some(o) => o.playbook_url(labels, runbook_url),
            None => runbook_url.filter(|u| !u.is_empty()).map(str::to_string),
        }
    }
}
