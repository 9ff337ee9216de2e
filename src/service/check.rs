//! `redline check config`: everything `redline run` would load from a config, checked without
//! starting anything. The config itself (with its Alertmanager section and the files that
//! section names) is read by [`crate::config`]; this adds the files the config points to,
//! read by the same functions the service start uses: every rule file `rule_files` matches
//! and every SLO spec `slo_files` matches. A config that passes here is one `run` accepts.
//!
//! The report follows `promtool check config`: the config's summary, then one `Checking FILE`
//! section per rule file (as `redline check rules` prints it) and per SLO file.

use crate::config::Config;
use std::io::Write;
use std::path::Path;

/// Checks the files `cfg` (read from `path`) names and prints the report to `out`. Returns
/// whether `redline run` would start with this config.
pub fn write_config_report(
    path: &Path,
    cfg: &Config,
    out: &mut impl Write,
) -> std::io::Result<bool> {
    let mut ok = true;
    writeln!(out, "Checking {}", path.display())?;
    let rule_files = match crate::rules::file::expand_rule_patterns(&cfg.rule_files) {
        Ok(files) => files,
        Err(e) => {
            ok = false;
            writeln!(out, "  FAILED: rule_files: {e}")?;
            Vec::new()
        }
    };
    let slo_files = match crate::slo::runtime::expand_slo_files(&cfg.slo_files) {
        Ok(files) => files,
        Err(e) => {
            ok = false;
            writeln!(out, "  FAILED: {e}")?;
            Vec::new()
        }
    };
    for setting in &cfg.ignored {
        writeln!(out, "  NOTE: {setting}")?;
    }
    writeln!(
        out,
        "  SUCCESS: {} scrape configs, {} rule files, {} SLO files found",
        cfg.scrape_configs.len(),
        rule_files.len(),
        slo_files.len()
    )?;
    writeln!(out)?;
    ok &= crate::rules::file::write_check_report(&rule_files, out)?;
    let mut slo_ok = true;
    for f in &slo_files {
        writeln!(out, "Checking {}", f.display())?;
        // A composite's parts may be in another file: they are resolved below, together.
        match crate::slo::load_file(f) {
            Ok(found) => {
                let n = found.len();
                writeln!(out, "  SUCCESS: {n} SLOs found")?;
            }
            Err(errors) => {
                slo_ok = false;
                writeln!(out, "  FAILED:")?;
                for e in errors {
                    writeln!(out, "{e}")?;
                }
            }
        }
        writeln!(out)?;
    }
    ok &= slo_ok;
    // Two files may each be valid and still define the same SLO, and a composite SLO names
    // SLOs of any file: the service loads them together, so check them together too.
    if slo_ok && !slo_files.is_empty() {
        if let Err(errors) = crate::slo::check_files(&slo_files) {
            ok = false;
            writeln!(out, "Checking the SLO files together")?;
            writeln!(out, "  FAILED:")?;
            for e in errors {
                writeln!(out, "{e}")?;
            }
            writeln!(out)?;
        }
    }
    Ok(ok)
}
