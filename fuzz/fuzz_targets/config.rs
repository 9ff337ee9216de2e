//! Fuzz target: redline's config file (`prometheus.yml` with redline's sections) on arbitrary
//! text. Loading must return the validated config or an error that names where and what,
//! never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redline::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_yaml_str(text, "fuzz.yml") {
        Ok(cfg) => {
            for sc in &cfg.scrape_configs {
                assert!(!sc.job_name.is_empty());
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
