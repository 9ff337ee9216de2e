//! promtool-compatible rule unit tests: upstream's conformance files and the fixture must
//! behave as under `promtool test rules`.

use redline::rules::promtool::{run_test_files, Summary};
use redline::testdir::TempDir;
use std::path::PathBuf;

fn run(path: &str) -> (Summary, String) {
    let mut out = Vec::new();
    let s = run_test_files(&[PathBuf::from(path)], &mut out).expect("report written");
    (s, String::from_utf8(out).expect("utf8 output"))
}

#[test]
fn upstream_unittest_file_passes() {
    let (s, out) = run("tests/conformance/promtool/unittest.yml");
    assert_eq!(s.failed, 0, "{out}");
    assert_eq!(s.passed, 5, "{out}");
    // The native-histogram checks are skipped (the store keeps floats only).
    assert!(out.contains("  SUCCESS"), "{out}");
    assert!(
        out.ends_with(&format!("5 passed, 0 failed, {} skipped\n", s.skipped)),
        "{out}"
    );
}

#[test]
fn upstream_failing_file_fails_with_promtool_messages() {
    let (s, out) = run("tests/conformance/promtool/failing.yml");
    assert_eq!((s.passed, s.failed), (0, 2), "{out}");
    assert!(out.contains("  FAILED:"), "{out}");
    let expected = [
        "    name: Failing test,\n    alertname: Test, time: 0s, \n        exp:[\n            0:\n              Labels:{alertname=\"Test\"}\n              Annotations:{}\n            ], \n        got:[]",
        "    expr: \"test\", time: 0s,\n        exp: {__name__=\"test\"} 1E+00\n        got: {__name__=\"test\"} 0E+00",
        "    name: Failing alert test,\n    alertname: InstanceDown, time: 5m, \n        exp:[], \n        got:[\n            0:\n              Labels:{alertname=\"InstanceDown\", job=\"test\", severity=\"page\"}\n              Annotations:{description=\" of job test has been down for more than 5 minutes.\", summary=\"Instance  down\"}\n            ]",
        "    name: Failing alert test,\n    alertname: AlwaysFiring, time: 5m, \n        exp:[], \n        got:[\n            0:\n              Labels:{alertname=\"AlwaysFiring\"}\n              Annotations:{}\n            ]",
    ];
    for e in expected {
        assert!(out.contains(e), "missing:\n{e}\n--- in:\n{out}");
    }
    assert!(out.ends_with("0 passed, 2 failed\n"), "{out}");
}

/// The fixture test names its rules `rules.yml` (as it was run with promtool 2.42); the rules
/// are the fixture `promtool_rules_example.yml`. Both are put side by side in a fresh temporary
/// directory, as a user would have them.
#[test]
fn fixture_slo_burn_rate_test_passes() {
    let dir = TempDir::new("promtool-fixture");
    std::fs::copy(
        "tests/fixtures/promtool_rules_example.yml",
        dir.join("rules.yml"),
    )
    .expect("rules fixture");
    std::fs::copy(
        "tests/fixtures/promtool_test_example.yml",
        dir.join("test.yml"),
    )
    .expect("test fixture");
    let (s, out) = run(dir.join("test.yml").to_str().expect("utf8 path"));
    assert_eq!((s.passed, s.failed, s.skipped), (1, 0, 0), "{out}");
    assert!(out.ends_with("1 passed, 0 failed\n"), "{out}");
}

#[test]
fn rule_files_pattern_matching_nothing_warns_like_promtool() {
    let (s, out) = run("tests/fixtures/promtool_test_example.yml");
    assert!(
        out.contains("  WARNING: no file match pattern rules.yml"),
        "{out}"
    );
    assert_eq!(s.failed, 1, "{out}");
}

/// Every template function real rule files use: the golden values in templates_test.yml
/// hold under redline's runner ...
#[test]
fn template_functions_render_as_promtool_does() {
    let (s, out) = run("tests/data/rules/templates_test.yml");
    assert_eq!((s.passed, s.failed), (1, 0), "{out}");
}

/// ... and under Prometheus' own `promtool test rules`, so a golden value edited to match a
/// redline bug fails here.
#[test]
fn template_golden_values_pass_promtool() {
    let out = std::process::Command::new("promtool")
        .args(["test", "rules", "tests/data/rules/templates_test.yml"])
        .output()
        .expect("promtool on PATH (Debian: apt-get install prometheus)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool test rules failed:\n{text}");
    assert!(text.contains("  SUCCESS"), "{text}");
}
