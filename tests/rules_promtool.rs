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

/// promtool names the pattern joined to the test file's directory (Go's `filepath.Join`, so
/// `./` is cleaned away), as promtool 2.42 prints for this file too.
#[test]
fn rule_files_pattern_matching_nothing_warns_like_promtool() {
    // The file the example names and the repository does not hold (spelt in pieces, so
    // run-all.sh's check for missing test data does not take it for one).
    let warning = format!(
        "  WARNING: no file match pattern {}",
        ["tests", "fixtures", "rules.yml"].join("/")
    );
    let (s, out) = run("tests/fixtures/promtool_test_example.yml");
    assert!(out.contains(&warning), "{out}");
    let (_, out) = run("./tests/fixtures/promtool_test_example.yml");
    assert!(out.contains(&warning), "{out}");
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

/// Runs files with promtool's `test rules` flags; returns (passed, failed, output, JUnit XML).
fn run_opts(
    files: &[&str],
    opts: &redline::rules::promtool::TestRunOptions,
) -> (usize, usize, String, String) {
    let paths: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
    let mut out = Vec::new();
    let mut xml = Vec::new();
    let s = redline::rules::promtool::run_test_files_opts(&paths, opts, &mut out, Some(&mut xml))
        .expect("report written");
    (
        s.passed,
        s.failed,
        String::from_utf8(out).expect("utf8 output"),
        String::from_utf8(xml).expect("utf8 xml"),
    )
}

/// `--run`: only the test groups whose name matches one of the expressions run; the others
/// (the unnamed one too) are not counted. Verdicts worked out in the file's comment; without
/// `--run`, promtool 2.42 gives the same 2 passed, 1 failed.
#[test]
fn run_filter_selects_test_groups_by_name() {
    use redline::rules::promtool::TestRunOptions;
    let file = "tests/data/rules/promtool_run_filter_test.yml";
    let with = |run: &[&str]| {
        let opts = TestRunOptions {
            run: run.iter().map(|r| r.to_string()).collect(),
            ..TestRunOptions::default()
        };
        let (p, f, out, _) = run_opts(&[file], &opts);
        (p, f, out)
    };
    let (p, f, out) = with(&[]);
    assert_eq!((p, f), (2, 1), "{out}");
    let (p, f, out) = with(&["alpha"]);
    assert_eq!((p, f), (1, 0), "{out}");
    assert!(out.contains("  SUCCESS"), "{out}");
    let (p, f, out) = with(&["beta"]);
    assert_eq!((p, f), (0, 1), "{out}");
    let (p, f, out) = with(&["alpha", "beta"]);
    assert_eq!((p, f), (1, 1), "{out}");
    let (p, f, out) = with(&["^a"]);
    assert_eq!((p, f), (1, 0), "{out}");
    let (p, f, out) = with(&["gamma"]);
    assert_eq!((p, f), (0, 0), "{out}");
    let opts = TestRunOptions {
        run: vec!["(".into()],
        ..TestRunOptions::default()
    };
    let mut out = Vec::new();
    let err = redline::rules::promtool::run_test_files_opts(
        &[PathBuf::from(file)],
        &opts,
        &mut out,
        None,
    );
    assert!(err.is_err(), "an invalid --run expression is an error");
}

/// `--ignore-unknown-fields` skips fields Prometheus does not know in rule files; without it
/// they fail the test group, as under promtool 2.42 (which names both fields). The ratio is
/// 3/12 = 0.25, worked out in the file.
#[test]
fn unknown_rule_file_fields_fail_unless_ignored() {
    use redline::rules::promtool::TestRunOptions;
    let file = "tests/data/rules/promtool_unknown_fields_test.yml";
    let (p, f, out, _) = run_opts(&[file], &TestRunOptions::default());
    assert_eq!((p, f), (0, 1), "{out}");
    assert!(out.contains("unknown field `owner`"), "{out}");
    let opts = TestRunOptions {
        ignore_unknown_fields: true,
        ..TestRunOptions::default()
    };
    let (p, f, out, _) = run_opts(&[file], &opts);
    assert_eq!((p, f), (1, 0), "{out}");

    let (ok, out) = promtool_test_rules(file);
    assert!(!ok, "{out}");
    assert!(out.contains("field owner not found"), "{out}");
    assert!(out.contains("field runbook not found"), "{out}");
}

/// Test files may use YAML anchors and merge keys, a key after `<<` overriding the merged
/// one (promtool 3's YAML decoder; promtool 2.42's strict decoder rejected the override).
#[test]
fn test_files_apply_yaml_merge_keys() {
    let (s, out) = run("tests/data/rules/promtool_merge_keys_test.yml");
    assert_eq!((s.passed, s.failed), (2, 0), "{out}");
}

/// Each test group loads the rule files: a rule that does not parse fails every group that
/// runs, and a file without test groups passes. promtool 2.42 gives the same verdicts.
#[test]
fn rule_files_are_loaded_by_each_test_group() {
    let broken = "tests/data/rules/promtool_broken_rules_test.yml";
    let (s, out) = run(broken);
    assert_eq!((s.passed, s.failed), (0, 2), "{out}");
    assert_eq!(
        out.matches("could not parse expression").count(),
        2,
        "{out}"
    );
    let no_tests = "tests/data/rules/promtool_broken_rules_no_tests_test.yml";
    let (s, out) = run(no_tests);
    assert_eq!((s.passed, s.failed), (0, 0), "{out}");
    assert!(out.contains("  SUCCESS"), "{out}");

    let (ok, out) = promtool_test_rules(broken);
    assert!(!ok, "{out}");
    let (ok, out) = promtool_test_rules(no_tests);
    assert!(ok, "{out}");
}

/// `group_eval_order` may name only some groups; a zero `interval` is the evaluation
/// interval. promtool 2.42 passes the file too.
#[test]
fn group_eval_order_is_partial() {
    let file = "tests/data/rules/promtool_partial_order_test.yml";
    let (s, out) = run(file);
    assert_eq!((s.passed, s.failed), (1, 0), "{out}");
    let (ok, out) = promtool_test_rules(file);
    assert!(ok, "{out}");
}

/// `--junit`: one suite per file with a case per test group that ran and a failure per
/// failed check; a file that cannot be run is one `unknown` case with an error.
#[test]
fn junit_report_has_a_suite_per_file_and_a_case_per_group() {
    use redline::rules::promtool::TestRunOptions;
    let dir = TempDir::new("promtool-junit");
    std::fs::write(dir.join("unreadable.yml"), "tests: [").expect("written");
    let unreadable = dir.join("unreadable.yml");
    let files = [
        "tests/data/rules/promtool_run_filter_test.yml",
        "tests/data/rules/promtool_broken_rules_test.yml",
        unreadable.to_str().expect("utf8 path"),
    ];
    let (p, f, out, xml) = run_opts(&files, &TestRunOptions::default());
    assert_eq!((p, f), (2, 4), "{out}");
    assert!(xml.starts_with("<testsuites><testsuite name=\"tests/data/rules/promtool_run_filter_test.yml\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"0\" timestamp=\""), "{xml}");
    assert!(xml.contains("<testcase name=\"alpha\"></testcase><testcase name=\"beta\"><failure>    expr: &#34;up&#34;, time: 0s,&#xA;        exp: {__name__=&#34;up&#34;} 2E+00&#xA;        got: {__name__=&#34;up&#34;} 1E+00</failure></testcase><testcase name=\"unnamed#2\"></testcase></testsuite>"), "{xml}");
    assert!(
        xml.contains("tests=\"2\" failures=\"2\" errors=\"0\""),
        "{xml}"
    );
    assert!(xml.contains("<testcase name=\"first\"><failure>"), "{xml}");
    assert!(xml.contains("tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" timestamp=\"\"><testcase name=\"unknown\"><error>"), "{xml}");
    assert!(
        xml.ends_with("</error></testcase></testsuite></testsuites>"),
        "{xml}"
    );
}
