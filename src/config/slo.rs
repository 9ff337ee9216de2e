//! redline's SLO settings: `slo_files` (globs of SLO specs, like `rule_files`, relative to the
//! config file) and the optional `slo` section.
//!
//! ```yaml
//! slo_files: ['slo/*.yml']
//! slo:
//!   evaluation_interval: 1m   # how often figures and burn-rate alerts are recomputed
//!   ledger_retention: 31d     # default: each SLO's period plus one day
//!   ledger_step: 1m           # tests and demos only: the real time one ledger minute takes
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
}

/// The validated `slo` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SloConfig {
    /// Default 1m.
    pub evaluation_interval: Duration,
    /// `None`: each SLO's period plus one day.
    pub ledger_retention: Option<Duration>,
    /// The real time of one ledger minute. 1m; shorter only for tests and demos, where it
    /// compresses time (a step of 1s makes a 30d window last 12 hours).
    pub ledger_step: Duration,
}

impl Default for SloConfig {
    fn default() -> Self {
        SloConfig {
            evaluation_interval: Duration::from_secs(60),
            ledger_retention: None,
            ledger_step: Duration::from_secs(60),
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
    Ok((
        slo_files,
        SloConfig {
            evaluation_interval,
            ledger_retention,
            ledger_step,
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
    }
}
