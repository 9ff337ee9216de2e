//! `redline slo generate` against Prometheus' own promtool.
//!
//! Every example spec (redline's rules/slo/*.yml, Sloth and OpenSLO inputs in tests/data/slo/)
//! is generated and the output is given to `promtool check rules`. The checkout example's
//! output is committed as tests/data/slo/generated/checkout.rules.yml (this test fails when it
//! is stale; `REDLINE_BLESS=1` rewrites it) and tests/slo/checkout.test.yml, a promtool unit
//! test, shows that the page alert fires on a 2 % error burst and stays quiet at 0.05 %. The
//! same unit test runs under redline's own `test rules`. Error cases must name file and field.

use redline::slo::{check_files, generate, load_files, SloError};
use std::path::{Path, PathBuf};
use std::process::Command;

fn paths(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no specs in {dir}");
    v
}

fn promtool() -> &'static str {
    let ok = Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "promtool not found on PATH: install Prometheus' promtool (Debian: apt-get install prometheus) to run this test"
    );
    "promtool"
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("redline-slo-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn promtool_check(rules: &Path) {
    let out = Command::new(promtool())
        .args(["check", "rules"])
        .arg(rules)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check rules {rules:?} failed:\n{text}\n--- file:\n{}",
        std::fs::read_to_string(rules).unwrap_or_default()
    );
    assert!(text.contains("SUCCESS"), "{text}");
}

/// Generates each spec file on its own and has promtool check the result.
fn check_dir_with_promtool(dir: &str, tag: &str) {
    let tmp = temp_dir(tag);
    for p in paths(dir) {
        let yaml =
            generate(std::slice::from_ref(&p)).unwrap_or_else(|e| panic!("{p:?}: {}", render(&e)));
        let out = tmp.join(p.file_name().expect("file name"));
        std::fs::write(&out, yaml).expect("write rules");
        promtool_check(&out);
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

fn render(errors: &[SloError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn promtool_accepts_rules_generated_from_native_examples() {
    check_dir_with_promtool("rules/slo", "native");
}

#[test]
fn promtool_accepts_rules_generated_from_sloth_specs() {
    check_dir_with_promtool("tests/data/slo/sloth", "sloth");
}

#[test]
fn promtool_accepts_rules_generated_from_openslo_specs() {
    check_dir_with_promtool("tests/data/slo/openslo", "openslo");
}

#[test]
fn all_examples_generate_into_one_file_promtool_accepts() {
    let mut all = paths("rules/slo");
    all.extend(paths("tests/data/slo/sloth"));
    all.extend(paths("tests/data/slo/openslo"));
    let yaml = generate(&all).unwrap_or_else(|e| panic!("{}", render(&e)));
    let tmp = temp_dir("all");
    let out = tmp.join("all.rules.yml");
    std::fs::write(&out, yaml).expect("write");
    promtool_check(&out);
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn check_counts_slos_per_file() {
    let mut all = paths("rules/slo");
    all.extend(paths("tests/data/slo/sloth"));
    all.extend(paths("tests/data/slo/openslo"));
    all.push("tests/data/slo/native/probe.yml".into());
    let counts = check_files(&all).unwrap_or_else(|e| panic!("{}", render(&e)));
    let by_name: Vec<(String, usize)> = counts
        .iter()
        .map(|(p, n)| (p.file_name().unwrap().to_string_lossy().into_owned(), *n))
        .collect();
    let expect = [
        ("checkout.yml", 2),
        ("platform.yml", 2),
        ("search.yml", 1),
        ("myservice.yml", 1),
        ("raw-and-crd.yml", 2),
        ("bad-events.yml", 1),
        ("web.yml", 2),
        ("probe.yml", 1),
    ];
    for (f, n) in expect {
        assert!(by_name.contains(&(f.to_string(), n)), "{f}: {by_name:?}");
    }
}

#[test]
fn probe_slo_checks_but_does_not_generate() {
    let p = PathBuf::from("tests/data/slo/native/probe.yml");
    let specs = load_files(std::slice::from_ref(&p)).expect("valid probe spec");
    assert!(
        matches!(specs[0].sli, redline::slo::Sli::Probe(ref pr) if pr.url == "https://shop.example/" && pr.timeout.as_secs() == 5)
    );
    let e = generate(&[p]).expect_err("no Prometheus data for a probe");
    assert_eq!(e[0].field, "slos[0].sli.probe", "{}", render(&e));
}

const GENERATED: &str = "tests/data/slo/generated/checkout.rules.yml";

#[test]
fn committed_generated_checkout_rules_are_up_to_date() {
    let yaml =
        generate(&["rules/slo/checkout.yml".into()]).unwrap_or_else(|e| panic!("{}", render(&e)));
    if std::env::var_os("REDLINE_BLESS").is_some() {
        std::fs::write(GENERATED, &yaml).expect("write generated rules");
    }
    let committed = std::fs::read_to_string(GENERATED).unwrap_or_default();
    assert!(
        committed == yaml,
        "{GENERATED} is stale: regenerate it with `REDLINE_BLESS=1 cargo test --test slo_generate`"
    );
}

#[test]
fn promtool_unit_test_page_alert_fires_on_2_percent_burst_only() {
    let out = Command::new(promtool())
        .args(["test", "rules", "tests/slo/checkout.test.yml"])
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool test rules failed:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn redline_runs_the_same_unit_test() {
    let mut out = Vec::new();
    let s = redline::rules::promtool::run_test_files(
        &[PathBuf::from("tests/slo/checkout.test.yml")],
        &mut out,
    )
    .expect("report written");
    let text = String::from_utf8_lossy(&out);
    assert_eq!((s.failed, s.skipped), (0, 0), "{text}");
    assert!(s.passed >= 2, "{text}");
}

fn errors_of(path: &str) -> Vec<SloError> {
    check_files(&[PathBuf::from(path)]).expect_err(path)
}

fn assert_error(path: &str, field: &str, needle: &str) {
    let errs = errors_of(path);
    assert!(
        errs.iter().any(|e| e.file == Path::new(path)
            && e.field == field
            && e.message.contains(needle)
            && e.to_string().starts_with(&format!("{path}: {field}: "))),
        "want {path}: {field}: …{needle}…\ngot:\n{}",
        render(&errs)
    );
}

#[test]
fn sloth_plugin_is_an_error_naming_the_field() {
    assert_error(
        "tests/data/slo/invalid/sloth-plugin.yml",
        "slos[0].sli.plugin",
        "plugins are not supported",
    );
}

#[test]
fn sloth_unknown_field_is_not_dropped() {
    assert_error(
        "tests/data/slo/invalid/sloth-unknown-field.yml",
        "slos[0].sli.events.good_query",
        "unknown field `good_query`",
    );
}

#[test]
fn latency_threshold_must_be_a_bucket_boundary() {
    assert_error(
        "tests/data/slo/invalid/native-latency-threshold.yml",
        "slos[0].sli.latency.threshold",
        "must be a bucket boundary",
    );
}

#[test]
fn ratio_query_without_window_placeholder() {
    assert_error(
        "tests/data/slo/invalid/native-no-window-placeholder.yml",
        "slos[0].sli.ratio.errors",
        "{{.window}}",
    );
}

#[test]
fn native_objective_written_as_ratio() {
    assert_error(
        "tests/data/slo/invalid/native-objective-ratio.yml",
        "slos[0].objective",
        "percentage",
    );
}

#[test]
fn openslo_unsupported_source_and_alert_policies() {
    let p = "tests/data/slo/invalid/openslo-unsupported.yml";
    assert_error(p, "spec.alertPolicies", "not supported");
    assert_error(
        p,
        "spec.indicator.spec.ratioMetric.good.metricSource.type",
        "\"Datadog\" is not supported",
    );
}

#[test]
fn duplicate_slo_across_files() {
    let p = PathBuf::from("rules/slo/checkout.yml");
    let e = check_files(&[p.clone(), p]).expect_err("duplicate");
    assert!(
        e.iter()
            .any(|e| e.field == "slos[0].name" && e.message.contains("already defined")),
        "{}",
        render(&e)
    );
}
