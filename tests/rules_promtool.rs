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
    // Its native histogram series and expected histograms (`{{…}}`) run too.
    assert!(out.contains("  SUCCESS"), "{out}");
    assert!(out.ends_with("5 passed, 0 failed\n"), "{out}");
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
/// directory, as a user would have them. Its expected ratio is promtool 2.42's
/// (0.09090909090909091); Prometheus 3 evaluates the rule to the float one ULP below
/// (0.0909090909090909), so promtool 3, which compares with `==`, fails the file, and passes it
/// with `fuzzy_compare: true`. redline gives promtool 3's verdicts.
#[test]
fn fixture_slo_burn_rate_test_passes_with_fuzzy_compare_as_under_promtool_3() {
    let dir = TempDir::new("promtool-fixture");
    std::fs::copy(
        "tests/fixtures/promtool_rules_example.yml",
        dir.join("rules.yml"),
    )
    .expect("rules fixture");
    let test =
        std::fs::read_to_string("tests/fixtures/promtool_test_example.yml").expect("test fixture");
    std::fs::write(dir.join("test.yml"), &test).expect("test written");
    let (s, out) = run(dir.join("test.yml").to_str().expect("utf8 path"));
    assert_eq!((s.passed, s.failed), (0, 1), "{out}");
    assert!(
        out.contains(
            "exp: {__name__=\"job:http_errors:ratio_rate5m\", job=\"api\"} 9.090909090909091E-02\n        \
             got: {__name__=\"job:http_errors:ratio_rate5m\", job=\"api\"} 9.09090909090909E-02"
        ),
        "{out}"
    );

    std::fs::write(dir.join("test.yml"), format!("fuzzy_compare: true\n{test}"))
        .expect("test written");
    let (s, out) = run(dir.join("test.yml").to_str().expect("utf8 path"));
    assert_eq!((s.passed, s.failed), (1, 0), "{out}");
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

/// Writes a rule file and a test file into a fresh directory and runs the test file.
fn run_written(rules: &str, test: &str) -> (Summary, String) {
    let dir = TempDir::new("promtool-written");
    std::fs::write(dir.join("rules.yml"), rules).expect("rules written");
    std::fs::write(dir.join("test.yml"), test).expect("test written");
    run(dir.join("test.yml").to_str().expect("utf8 path"))
}

const NO_RULES: &str = "groups: []\n";

/// promtool 3's `start_timestamp`: the test group's time zero. Samples are laid out from it,
/// `eval_time` counts from it, and `time()` and `timestamp()` see absolute times. Expected
/// values are worked out by hand: 2024-01-01T00:00:00Z is 1704067200 s.
#[test]
fn start_timestamp_moves_the_test_group_in_time() {
    let test = r#"
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - name: rfc3339
    interval: 1m
    start_timestamp: "2024-01-01T00:00:00Z"
    input_series:
      - series: 'reqs{job="api"}'
        values: "10+10x15"
    promql_expr_test:
      - expr: time()
        eval_time: 5m
        exp_samples:
          - value: 1704067500
      - expr: reqs @ 1704067320
        eval_time: 5m
        exp_samples:
          - labels: 'reqs{job="api"}'
            value: 30
      - expr: timestamp(reqs)
        eval_time: 5m
        exp_samples:
          - labels: '{job="api"}'
            value: 1704067500
  - name: unix seconds
    interval: 1m
    start_timestamp: 1609459200
    promql_expr_test:
      - expr: time()
        eval_time: 10m
        exp_samples:
          - value: 1609459800
  - name: epoch by default
    interval: 1m
    promql_expr_test:
      - expr: time()
        eval_time: 5m
        exp_samples:
          - value: 300
"#;
    let (s, out) = run_written(NO_RULES, test);
    assert_eq!((s.passed, s.failed), (3, 0), "{out}");
}

#[test]
fn start_timestamp_that_is_not_a_time_fails_with_promtools_message() {
    let test = r#"
rule_files: [rules.yml]
tests:
  - interval: 1m
    start_timestamp: "next tuesday"
    promql_expr_test:
      - expr: time()
        eval_time: 0m
        exp_samples:
          - value: 0
"#;
    let (s, out) = run_written(NO_RULES, test);
    assert_eq!(s.failed, 1, "{out}");
    assert!(
        out.contains("cannot parse \"next tuesday\" to a valid timestamp"),
        "{out}"
    );
}

/// promtool 3 compares sample values with `==`; `fuzzy_compare: true` also accepts the next
/// float above or below (one ULP), nothing wider. 0.1 + 0.2 is 0.30000000000000004, one ULP
/// above 0.3 and two above 0.29999999999999993 (hand-checked with the bit patterns).
#[test]
fn float_comparison_is_exact_or_within_one_ulp_with_fuzzy_compare() {
    let case = |fuzzy: bool, expr: &str, expected: &str| {
        format!(
            r#"
rule_files: [rules.yml]
fuzzy_compare: {fuzzy}
tests:
  - interval: 1m
    promql_expr_test:
      - expr: {expr}
        eval_time: 0m
        exp_samples:
          - value: {expected}
"#
        )
    };
    let verdict = |fuzzy, expected| {
        let (s, out) = run_written(NO_RULES, &case(fuzzy, "0.1 + 0.2", expected));
        (s.passed, s.failed, out)
    };
    let (p, f, out) = verdict(false, "0.30000000000000004");
    assert_eq!((p, f), (1, 0), "exact value: {out}");
    let (p, f, out) = verdict(false, "0.3");
    assert_eq!((p, f), (0, 1), "one ULP off without fuzzy_compare: {out}");
    let (p, f, out) = verdict(true, "0.3");
    assert_eq!((p, f), (1, 0), "one ULP off with fuzzy_compare: {out}");
    let (p, f, out) = verdict(true, "0.29999999999999993");
    assert_eq!((p, f), (0, 1), "two ULPs off with fuzzy_compare: {out}");
    // A test cannot expect NaN: promtool compares with ==.
    let (s, out) = run_written(NO_RULES, &case(true, "0 / 0", ".nan"));
    assert_eq!((s.passed, s.failed), (0, 1), "NaN: {out}");
}

/// promtool's `--enable-feature`: an experimental function in a rule test fails with
/// upstream's error unless `promql-experimental-functions` is on.
#[test]
fn experimental_functions_in_rule_tests_need_their_feature_flag() {
    use redline::rules::promtool::{run_test_files_with, Features};
    let dir = TempDir::new("promtool-features");
    std::fs::write(dir.join("rules.yml"), NO_RULES).expect("rules written");
    std::fs::write(
        dir.join("test.yml"),
        r#"
rule_files: [rules.yml]
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="b"}'
        values: "1"
      - series: 'up{job="a"}'
        values: "1"
    promql_expr_test:
      - expr: sort_by_label(up, "job")
        eval_time: 0m
        exp_samples:
          - labels: 'up{job="a"}'
            value: 1
          - labels: 'up{job="b"}'
            value: 1
"#,
    )
    .expect("test written");
    let path = dir.join("test.yml");
    let run = |features| {
        let mut out = Vec::new();
        let s = run_test_files_with(std::slice::from_ref(&path), features, &mut out)
            .expect("report written");
        (s.passed, s.failed, String::from_utf8(out).expect("utf8"))
    };
    let (p, f, out) = run(Features::default());
    assert_eq!((p, f), (0, 1), "{out}");
    assert!(
        out.contains(r#"function \"sort_by_label\" is not enabled"#)
            || out.contains(r#"function "sort_by_label" is not enabled"#),
        "{out}"
    );
    let (p, f, out) = run(Features {
        experimental_functions: true,
        ..Features::default()
    });
    assert_eq!((p, f), (1, 0), "{out}");
}

/// Runs Prometheus' promtool (`promtool test rules FILE`), returning whether it passed and
/// its stdout and stderr.
fn promtool_test_rules(file: &str) -> (bool, String) {
    let out = std::process::Command::new("promtool")
        .args(["test", "rules", file])
        .output()
        .expect(
            "promtool not found on PATH: install Prometheus' promtool (Debian: apt-get install \
             prometheus) to run this test",
        );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Native histogram input series feed a recording rule (`histogram_count(rate(h[5m]))`) and
/// an alert on `histogram_quantile`, and expected histogram samples match; the expected
/// values are worked out by hand in the file. Promtool 2.42 (Debian's) cannot read the file
/// (it knows neither `{{…}}` series nor `histogram:` expectations), so the verdicts are
/// checked against it on `classic_histograms_test.yml`, the same observations as classic
/// buckets with the same expectations, which both redline and promtool 2.42 pass. A newer
/// promtool that reads the native file must pass it too.
#[test]
fn native_histogram_series_feed_recording_and_alerting_rules() {
    let native = "tests/data/rules/native_histograms_test.yml";
    let classic = "tests/data/rules/classic_histograms_test.yml";
    let (s, out) = run(native);
    assert_eq!((s.passed, s.failed), (1, 0), "{out}");
    let (s, out) = run(classic);
    assert_eq!((s.passed, s.failed), (1, 0), "{out}");

    let (ok, out) = promtool_test_rules(classic);
    assert!(ok, "promtool fails the classic twin:\n{out}");
    let (ok, out) = promtool_test_rules(native);
    assert!(
        ok || out.contains("field histogram not found")
            || out.contains("unexpected character in series sequence"),
        "promtool read the native file and failed it:\n{out}"
    );
}

/// promtool compares an expected histogram by its series notation, so a histogram with the
/// right counts but without the `not_reset` hint the stored sample is read back with fails;
/// an expected `histogram` that is a float or two histograms is an error; a float expected
/// where the result is a histogram fails. Messages as promtool 3 prints them.
#[test]
fn expected_histograms_compare_by_series_notation() {
    let (s, out) = run("tests/data/rules/native_histograms_failing_test.yml");
    assert_eq!((s.passed, s.failed), (0, 1), "{out}");
    let got = r#"{__name__="http_request_duration_seconds", job="api"} {{count:12 sum:12 counter_reset_hint:not_reset buckets:[10 2]}}"#;
    let expected = [
        format!(
            "    expr: \"http_request_duration_seconds\", time: 2m,\n        exp: \
             {{__name__=\"http_request_duration_seconds\", job=\"api\"}} \
             {{{{count:12 sum:12 buckets:[10 2]}}}}\n        got: {got}"
        ),
        r#"    expr: "http_request_duration_seconds", time: 2m, err: labels "http_request_duration_seconds{job=\"api\"}": expected histogram, got 12.000000"#.to_string(),
        r#"    expr: "http_request_duration_seconds", time: 2m, err: labels "http_request_duration_seconds{job=\"api\"}": expected 1 value, got 2"#.to_string(),
        format!(
            "    expr: \"http_request_duration_seconds\", time: 2m,\n        exp: \
             {{__name__=\"http_request_duration_seconds\", job=\"api\"}} 1.2E+01\n        \
             got: {got}"
        ),
    ];
    for e in expected {
        assert!(out.contains(&e), "missing:\n{e}\n--- in:\n{out}");
    }
}
