//! Fuzz target: a Prometheus rule file on arbitrary text. Parsing must return the groups or
//! errors naming the file, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redline::rules::parse_rule_file;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.rules.yml");
    match parse_rule_file(path, text) {
        Ok(groups) => {
            for g in &groups {
                for r in &g.rules {
                    assert!(!r.name().is_empty());
                }
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in errors {
                assert!(e.to_string().starts_with("fuzz.rules.yml"), "{e}");
            }
        }
    }
});
