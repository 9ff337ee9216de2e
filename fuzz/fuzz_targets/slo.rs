//! Fuzz target: an SLO file (redline, Sloth or OpenSLO) on arbitrary text. Parsing must return
//! specs or errors, never panic; the Prometheus rules generated from any accepted spec must
//! themselves load as a valid rule file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redline::rules::parse_rule_file;
use redline::slo::{generate_specs, parse_text};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.slo.yml");
    match parse_text(path, text) {
        Ok(specs) => {
            if let Ok(rules) = generate_specs(&specs) {
                if let Err(e) = parse_rule_file(Path::new("generated.rules.yml"), &rules) {
                    panic!("rules generated from an accepted SLO spec do not load: {e:?}\n{rules}");
                }
            }
        }
        Err(errors) => assert!(!errors.is_empty()),
    }
});
