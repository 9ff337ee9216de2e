//! redline's `alertmanager:` section: where the Alertmanager configuration comes from, and
//! the alerting pipeline's limits.
//!
//! ```yaml
//! alertmanager:
//!   config_file: alertmanager.yml   # Alertmanager's file, unchanged; relative to this file
//!   # config: { route: …, receivers: … }   # or the same content inline (not both)
//!   max_alerts: 100000              # active alerts held at most; default 100000, 0: no limit
//!   max_alerts_per_group: 1000      # alerts in one notification at most; default 1000
//!   max_request_size: 16MiB         # largest body POST /api/v2/alerts and /silences accept
//!   notification_history:           # GET /api/v1/notifications, the alert timelines
//!     retention: 7d                 # entries older than this are pruned; default 7d
//!     max_entries: 100000           # the oldest beyond this many are pruned; default 100000
//! ```
//!
//! Without the section redline runs the pipeline with one receiver that notifies nobody:
//! alerts are still grouped and visible in the Alertmanager API and on the dashboard.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::AlertmanagerConfig;
use crate::config::validate::Ctx;
use crate::config::{locate, ConfigError, FieldPath, InvalidConfig};

/// The default `max_alerts`: at most 100,000 active (unresolved) alerts are held; a new
/// firing alert beyond it is refused, alerts already held are still updated and resolved.
/// This is redline's own default: Alertmanager holds any number of alerts (its only limit,
/// `--alerts.per-alertname-limit` from 0.27, is per alert name and off by default). It is
/// far above what one team's alerting normally holds, and bounds the pipeline's memory
/// when a noisy sender posts alerts with ever new label values. `max_alerts: 0` lifts it.
/// It applies also without an `alertmanager:` section.
pub const DEFAULT_MAX_ALERTS: usize = 100_000;

/// The default `notification_history.retention`: 7 days. redline's own default
/// (Alertmanager keeps no history; its notification log keeps 120h of last sends): a week
/// covers an on-call rotation's hand-over.
pub const DEFAULT_HISTORY_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The default `notification_history.max_entries`: 100,000 entries (a few hundred bytes
/// each in the state database), whatever their age.
pub const DEFAULT_HISTORY_MAX_ENTRIES: usize = 100_000;

/// The default `max_request_size`: 16 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 16 << 20;

/// The section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertmanagerSection {
    pub config_file: Option<String>,
    pub config: Option<serde_yaml_ng::Value>,
    pub max_alerts: Option<u64>,
    pub max_alerts_per_group: Option<u64>,
    pub max_request_size: Option<crate::config::units::ByteSize>,
    pub notification_history: Option<RawNotificationHistory>,
}

/// `notification_history` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotificationHistory {
    pub retention: Option<crate::config::units::PromDuration>,
    pub max_entries: Option<u64>,
}

/// How much notification history the state database keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotificationHistorySettings {
    /// Default [`DEFAULT_HISTORY_RETENTION`].
    pub retention: Duration,
    /// Default [`DEFAULT_HISTORY_MAX_ENTRIES`].
    pub max_entries: usize,
}

impl Default for NotificationHistorySettings {
    fn default() -> Self {
        NotificationHistorySettings {
            retention: DEFAULT_HISTORY_RETENTION,
            max_entries: DEFAULT_HISTORY_MAX_ENTRIES,
        }
    }
}

/// The validated section.
#[derive(Clone, Debug)]
pub struct AlertmanagerSection {
    /// The Alertmanager configuration, loaded and validated.
    pub config: Arc<AlertmanagerConfig>,
    /// The file it came from, when `config_file` was used (a reload reads it again).
    pub config_file: Option<PathBuf>,
    /// `None`: no limit (`max_alerts: 0`). Default [`DEFAULT_MAX_ALERTS`].
    pub max_alerts: Option<usize>,
    /// Default 1000.
    pub max_alerts_per_group: usize,
    /// The largest request body the Alertmanager API accepts. Default 16 MiB.
    pub max_request_bytes: usize,
    /// How much notification history is kept.
    pub notification_history: NotificationHistorySettings,
}

/// The Alertmanager configuration used when the section is absent: one receiver, no
/// integrations.
pub fn default_alertmanager_config() -> AlertmanagerConfig {
    // The text is constant and valid; an error here is a bug caught by the tests.
    AlertmanagerConfig::from_yaml_str(
        "route:\n  receiver: default\nreceivers:\n  - name: default\n",
        "(default alertmanager config)",
    )
    .unwrap_or_else(|e| unreachable!("built-in alertmanager config: {e}"))
}

/// Reads a displayed field path (`receivers[0].webhook_configs[1].url`) back into its
/// segments. A key that itself contains `.` or `[` is split wrongly; the position found is
/// then that of the nearest ancestor, which is still in the right place of the file.
fn parse_field_path(text: &str) -> FieldPath {
    let mut path = FieldPath::root();
    for part in text.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            path = path.key(key);
        }
        while let Some((n, after)) = rest.split_once(']') {
            if let Ok(i) = n.parse() {
                path = path.index(i);
            }
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    path
}

/// Prefixes the field path of an error from the inline config with `prefix` and positions
/// it in the outer file's text (the inline document was decoded as a tree, which has no
/// positions of its own).
fn under(ctx: &Ctx<'_>, prefix: &FieldPath, e: ConfigError) -> ConfigError {
    match e {
        ConfigError::Invalid(inv) => {
            let mut full = prefix.clone();
            full.0.extend(parse_field_path(&inv.field).0);
            ConfigError::Invalid(Box::new(InvalidConfig {
                source_name: ctx.source.to_string(),
                field: full.to_string(),
                position: ctx.text.and_then(|t| locate(t, &full)),
                message: inv.message,
            }))
        }
        other => other,
    }
}

/// Validates the section.
pub(crate) fn alertmanager(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    raw: RawAlertmanagerSection,
) -> Result<AlertmanagerSection, ConfigError> {
    let config_path = path.key("config");
    let (config, config_file) = match (raw.config_file, raw.config) {
        (Some(_), Some(_)) => {
            return Err(ctx.err(
                &path.key("config_file"),
                "at most one of config_file and config must be given",
            ))
        }
        (Some(f), None) => {
            if f.trim().is_empty() {
                return Err(ctx.err(&path.key("config_file"), "empty file name"));
            }
            let file = ctx.resolve(&f);
            (AlertmanagerConfig::load_file(&file)?, Some(file))
        }
        (None, Some(v)) => {
            let cfg = AlertmanagerConfig::from_yaml_value(v, ctx.source, ctx.base_dir)
                .map_err(|e| under(ctx, &config_path, e))?;
            (cfg, None)
        }
        (None, None) => (default_alertmanager_config(), None),
    };
    let max_alerts_per_group = match raw.max_alerts_per_group {
        None => 1000,
        Some(0) => return Err(ctx.err(&path.key("max_alerts_per_group"), "must be at least 1")),
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let max_request_bytes = match raw.max_request_size {
        None => DEFAULT_MAX_REQUEST_BYTES,
        Some(crate::config::units::ByteSize(0)) => {
            return Err(ctx.err(&path.key("max_request_size"), "must be more than 0 bytes"))
        }
        Some(crate::config::units::ByteSize(n)) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let hpath = path.key("notification_history");
    let raw_history = raw.notification_history.unwrap_or_default();
    let notification_history = NotificationHistorySettings {
        retention: match raw_history.retention {
            None => DEFAULT_HISTORY_RETENTION,
            Some(d) if d.0.is_zero() => {
                return Err(ctx.err(&hpath.key("retention"), "must be more than 0s"))
            }
            Some(d) => d.0,
        },
        max_entries: match raw_history.max_entries {
            None => DEFAULT_HISTORY_MAX_ENTRIES,
            Some(0) => return Err(ctx.err(&hpath.key("max_entries"), "must be at least 1")),
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        },
    };
    Ok(AlertmanagerSection {
        notification_history,
        config: Arc::new(config),
        max_request_bytes,
        config_file,
        max_alerts: match raw.max_alerts {
            None => Some(DEFAULT_MAX_ALERTS),
            Some(0) => None,
            Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        },
        max_alerts_per_group,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn inline_config_and_limits() {
        let cfg = Config::from_yaml_str(
            "alertmanager:\n  max_alerts: 10\n  config:\n    route: {receiver: team}\n    receivers: [{name: team}]\n",
            "redline.yml",
        )
        .unwrap();
        let am = cfg.alertmanager.expect("section");
        assert_eq!(am.config.route.root.opts.receiver, "team");
        assert_eq!(am.max_alerts, Some(10));
        assert_eq!(am.max_alerts_per_group, 1000);
    }

    #[test]
    fn max_alerts_defaults_to_100k_and_0_lifts_it() {
        let am = |yaml: &str| {
            Config::from_yaml_str(yaml, "redline.yml")
                .unwrap()
                .alertmanager
                .expect("section")
                .max_alerts
        };
        assert_eq!(
            am("alertmanager:\n  max_request_size: 1MiB\n"),
            Some(100_000)
        );
        assert_eq!(am("alertmanager:\n  max_alerts: 0\n"), None);
        assert_eq!(am("alertmanager:\n  max_alerts: 250000\n"), Some(250_000));
    }

    #[test]
    fn notification_history_bounds_and_their_errors() {
        let am = Config::from_yaml_str(
            "alertmanager:\n  notification_history: {retention: 36h, max_entries: 500}\n",
            "redline.yml",
        )
        .unwrap()
        .alertmanager
        .expect("section");
        assert_eq!(
            am.notification_history,
            super::NotificationHistorySettings {
                retention: std::time::Duration::from_secs(36 * 3600),
                max_entries: 500,
            }
        );
        for (yaml, field) in [
            ("{max_entries: 0}", "notification_history.max_entries"),
            ("{retention: 0s}", "notification_history.retention"),
        ] {
            let e = Config::from_yaml_str(
                &format!("alertmanager:\n  notification_history: {yaml}\n"),
                "redline.yml",
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(field), "{e}");
        }
    }

    #[test]
    fn inline_errors_name_the_field_under_the_section() {
        let e = Config::from_yaml_str(
            "alertmanager:\n  config:\n    route: {receiver: nobody}\n    receivers: [{name: team}]\n",
            "redline.yml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("redline.yml"), "{e}");
        assert!(e.contains("alertmanager.config.route"), "{e}");
        assert!(e.contains("nobody"), "{e}");
    }

    #[test]
    fn inline_errors_carry_the_line_and_column_in_the_outer_file() {
        let text = "global:\n  scrape_interval: 15s\nalertmanager:\n  config:\n    route: {receiver: team}\n    receivers:\n      - name: team\n        webhook_configs:\n          - url: ftp://hook.example/x\n";
        let e = Config::from_yaml_str(text, "redline.yml").unwrap_err();
        let s = e.to_string();
        // Line 9 (1-based), the url's value at column 18.
        assert!(
            s.starts_with(
                "redline.yml:9:18: alertmanager.config.receivers[0].webhook_configs[0].url:"
            ),
            "{s}"
        );
        let e = Config::from_yaml_str(
            "alertmanager:\n  config:\n    route: {receiver: nobody}\n    receivers: [{name: team}]\n",
            "redline.yml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("redline.yml:3:"), "{e}");
    }

    #[test]
    fn file_and_inline_are_exclusive_and_the_file_is_relative() {
        let e = Config::from_yaml_str(
            "alertmanager:\n  config_file: am.yml\n  config: {}\n",
            "redline.yml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("alertmanager.config_file"), "{e}");
        let dir = crate::testdir::TempDir::new("amcfg");
        std::fs::write(
            dir.join("am.yml"),
            "route: {receiver: pager}\nreceivers: [{name: pager}]\n",
        )
        .unwrap();
        let cfg = Config::from_yaml_str_in(
            "alertmanager:\n  config_file: am.yml\n  max_alerts_per_group: 5\n",
            "redline.yml",
            &dir,
        )
        .unwrap();
        let am = cfg.alertmanager.unwrap();
        assert_eq!(am.config.route.root.opts.receiver, "pager");
        assert_eq!(
            am.config_file.as_deref(),
            Some(dir.join("am.yml").as_path())
        );
        assert_eq!(am.max_alerts_per_group, 5);
        assert_eq!(
            am.notification_history,
            super::NotificationHistorySettings::default()
        );
        let e = Config::from_yaml_str("alertmanager:\n  max_alerts_per_group: 0\n", "r.yml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_alerts_per_group"), "{e}");
        assert_eq!(am.max_request_bytes, super::DEFAULT_MAX_REQUEST_BYTES);
        let small = Config::from_yaml_str("alertmanager:\n  max_request_size: 1KiB\n", "r.yml")
            .unwrap()
            .alertmanager
            .unwrap();
        assert_eq!(small.max_request_bytes, 1024);
        let e = Config::from_yaml_str("alertmanager:\n  max_request_size: 0B\n", "r.yml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("alertmanager.max_request_size"), "{e}");
    }

    #[test]
    fn default_config_has_one_silent_receiver() {
        let c = super::default_alertmanager_config();
        assert_eq!(c.receivers.len(), 1);
        assert!(c.receivers[0].webhook_configs.is_empty());
    }
}
