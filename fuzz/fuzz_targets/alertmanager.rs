//! Fuzz target: an Alertmanager configuration (`alertmanager.yml`) on arbitrary text. Loading
//! must return a config or an error, never panic; a loaded config routes any label set to at
//! least one receiver it defines and renders playbook links without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redline::config::alertmanager::AlertmanagerConfig;
use redline::store::Labels;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match AlertmanagerConfig::from_yaml_str(text, "fuzz.yml") {
        Ok(cfg) => {
            let label_sets = [
                Labels::from_pairs([("alertname", "HighErrorRate"), ("severity", "critical")]),
                Labels::from_pairs([
                    ("alertname", "KubePodCrashLooping"),
                    ("namespace", "payments"),
                    ("team", "payments"),
                    ("severity", "warning"),
                ]),
                Labels::from_pairs::<&str, &str>([]),
            ];
            for labels in &label_sets {
                let dest = cfg.destinations(labels);
                assert!(!dest.is_empty(), "every alert has a receiver");
                for d in &dest {
                    assert!(cfg.receiver(&d.receiver).is_some(), "receiver {} exists", d.receiver);
                }
                let _ = cfg.playbook_url(labels, None);
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
