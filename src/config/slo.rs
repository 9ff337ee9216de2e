//! redline's SLO settings: `slo_files` (globs of SLO specs, like `rule_files`, relative to the
//! config file) and the optional `slo` section.
//!
//! ```yaml
//! slo_files: ['slo/*.yml']
//! slo:
//!   evaluation_interval: 1m   # how often figures and burn-rate alerts are recomputed
//!   ledger_retention: 33d     # default: each SLO's period (at least a month, for reports) plus a day
//!   ledger_step: 1m           # tests and demos only: the real time one ledger minute takes
//!   min_events: 10            # default low-traffic guard of every SLO's burn-rate alerts
//!   min_rate: 0.05            # (events in the short window; events per second over it)
//! ```

use super::error::{ConfigError, FieldPath};
use super::units::PromDuration;
use super::validate::Ctx;
use serde::Deserialize;
use std::time::Duration;

/// The `slo` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlo {
    pub evaluation_interval: Option<PromDuration>,
    pub ledger_retention: Option<PromDuration>,
    pub ledger_step: Option<PromDuration>,
    pub min_events: Option<f64>,
    pub min_rate: Option<f64>,
}

/// The least traffic a burn-rate alert needs in its short window to fire: three failed
/// requests of three at night are a 100 % error ratio, and no reason to page.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MinTraffic {
    /// Events (requests, probe results, gauge samples) in the short window.
    pub events: Option<f64>,
    /// Events per second over the short window.
    pub rate: Option<f64>,
}

impl MinTraffic {
    /// Each unset bound taken from `fallback`.
    pub fn or(self, fallback: MinTraffic) -> MinTraffic {
        MinTraffic {
            events: self.events.or(fallback.events),
            rate: self.rate.or(fallback.rate),
        }
    }

    /// Whether `events` counted over `seconds` meet every bound that is set.
    pub fn met(self, events: f64, seconds: f64) -> bool {
        self.events.is_none_or(|n| events >= n)
            && self
                .rate
                .is_none_or(|r| seconds > 0.0 && events / seconds >= r)
    }

    /// Checks that each bound is a number ≥ 0; the message names the bound.
    pub fn check(self) -> Result<(), (&'static str, String)> {
        for (field, v) in [("min_events", self.events), ("min_rate", self.rate)] {
            if let Some(v) = v {
                if !v.is_finite() || v < 0.0 {
                    return Err((field, format!("must be a number ≥ 0, got {v}")));
                }
            }
        }
        Ok(())
    }
}

/// The validated `slo` section.
#[derive(Clone, Debug, PartialEq)]
pub struct SloConfig {
    /// Default 1m.
    pub evaluation_interval: Duration,
    /// `None`: each SLO's period (at least 31 days and an hour, the longest month a report
    /// closes) plus one day.
    pub ledger_retention: Option<Duration>,
    /// The real time of one ledger minute. 1m; shorter only for tests and demos, where it
    /// compresses time (a step of 1s makes a 30d window last 12 hours).
    pub ledger_step: Duration,
    /// The low-traffic guard of SLOs that set none (`min_events`, `min_rate`).
    pub min_traffic: MinTraffic,
}

impl Default for SloConfig {
    fn default() -> Self {
        SloConfig {
            evaluation_interval: Duration::from_secs(60),
            ledger_retention: None,
            ledger_step: Duration::from_secs(60),
            min_traffic: MinTraffic::default(),
        }
    }
}

/// Validates `slo_files` and the `slo` section.
pub(crate) fn slo(
    ctx: &Ctx<'_>,
    root: &FieldPath,
    files: Option<Vec<String>>,
    raw: RawSlo,
) -> Result<(Vec<String>, SloConfig), ConfigError> {
    let mut slo_files = Vec::new();
    for (i, f) in files.unwrap_or_default().into_iter().enumerate() {
        if f.trim().is_empty() {
            return Err(ctx.err(
                &root.key("slo_files").index(i),
                "empty SLO file path: expected a file or glob such as slo/*.yml",
            ));
        }
        slo_files.push(ctx.resolve(&f).to_string_lossy().into_owned());
    }
    let path = root.key("slo");
    let positive = |d: Option<PromDuration>, field: &str, default: Duration| match d {
        None => Ok(default),
        Some(d) if d.0.is_zero() => Err(ctx.err(
            &path.key(field),
            "must be greater than 0 (a duration such as 1m)",
        )),
        Some(d) => Ok(d.0),
    };
    let evaluation_interval = positive(
        raw.evaluation_interval,
        "evaluation_interval",
        Duration::from_secs(60),
    )?;
    let ledger_step = positive(raw.ledger_step, "ledger_step", Duration::from_secs(60))?;
    if ledger_step > Duration::from_secs(60) || ledger_step < Duration::from_millis(100) {
        return Err(ctx.err(
            &path.key("ledger_step"),
            "must be between 100ms and 1m: the ledger counts minutes; a shorter step only speeds time up for tests and demos",
        ));
    }
    let ledger_retention = match raw.ledger_retention {
        None => None,
        Some(d) if d.0 < Duration::from_secs(3600) => {
            return Err(ctx.err(
                &path.key("ledger_retention"),
                "must be at least 1h (and should cover the longest SLO window)",
            ))
        }
        Some(d) => Some(d.0),
    };
    let min_traffic = MinTraffic {
        events: raw.min_events,
        rate: raw.min_rate,
    };
    if let Err((field, msg)) = min_traffic.check() {
        return Err(ctx.err(&path.key(field), msg));
    }
    Ok((
        slo_files,
        SloConfig {
            evaluation_interval,
            ledger_retention,
            ledger_step,
            min_traffic,
        },
    ))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn slo_files_resolve_against_the_config_and_defaults_apply() {
        let cfg = Config::from_yaml_str_in(
            "slo_files: ['slo/*.yml']\n",
            "redline.yml",
            std::path::Path::new("/etc/redline"),
        )
        .unwrap();
        assert_eq!(cfg.slo_files, vec!["/etc/redline/slo/*.yml".to_string()]);
        assert_eq!(cfg.slo.evaluation_interval.as_secs(), 60);
        assert_eq!(cfg.slo.ledger_step.as_secs(), 60);
        assert_eq!(cfg.slo.ledger_retention, None);
    }

    #[test]
    fn slo_section_errors_name_the_field() {
        let e = Config::from_yaml_str("slo:\n  ledger_step: 5m\n", "r.yml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("slo.ledger_step"), "{e}");
        let e = Config::from_yaml_str("slo:\n  evaluation_interval: 0s\n", "r.yml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("slo.evaluation_interval"), "{e}");
        let e = Config::from_yaml_str("slo:\n  evaluation_intervl: 1m\n", "r.yml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("evaluation_intervl"), "{e}");
        let cfg = Config::from_yaml_str(
            "slo:\n  evaluation_interval: 1s\n  ledger_step: 1s\n  ledger_retention: 40d\n",
            "r.yml",
        )
        .unwrap();
        assert_eq!(cfg.slo.ledger_step.as_secs(), 1);
        assert_eq!(cfg.slo.ledger_retention.unwrap().as_secs(), 40 * 86_400);
        let e = Config::from_yaml_str("slo:\n  min_events: -1\n", "r.yml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("slo.min_events"), "{e}");
        let cfg = Config::from_yaml_str("slo:\n  min_events: 10\n", "r.yml").unwrap();
        assert_eq!(cfg.slo.min_traffic.events, Some(10.0));
    }
}
