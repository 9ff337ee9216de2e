//! `redline slo generate` against Prometheus' own promtool.
//!
//! Every example spec (redline's rules/slo/*.yml, Sloth, OpenSLO and Pyrra inputs in
//! tests/data/slo/) is generated and the output is given to `promtool check rules`. The output
//! of the specs
//! the unit tests use is committed in tests/data/slo/generated/ (this test fails when it is
//! stale; `REDLINE_BLESS=1` rewrites it), and tests/slo/*.test.yml, promtool unit tests with
//! hand-computed values, check what those rules compute: for the native format (checkout:
//! availability, latency from histogram buckets, page and ticket tiers), Sloth (myservice) and
//! OpenSLO (a bad/total and a good/total ratio). Each unit test runs under promtool and under
//! redline's own `test rules`, which must agree. Error cases must name file and field.

use redline::slo::{check_files, generate, load_files, SloError};
use redline::testdir::TempDir;
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

fn temp_dir(tag: &str) -> TempDir {
    TempDir::new(&format!("slo-{tag}"))
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
        let yaml = match generate(std::slice::from_ref(&p)) {
            Ok(yaml) => yaml,
            // Engine-only SLOs (calendar windows, time slices): nothing to check.
            Err(e)
                if e.iter()
                    .all(|e| e.message.contains("Prometheus rules cannot express")) =>
            {
                continue
            }
            Err(e) => panic!("{p:?}: {}", render(&e)),
        };
        let out = tmp.join(p.file_name().expect("file name"));
        std::fs::write(&out, yaml).expect("write rules");
        promtool_check(&out);
    }
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
    all.extend(paths("tests/data/slo/pyrra"));
    let yaml = generate(&all).unwrap_or_else(|e| panic!("{}", render(&e)));
    let tmp = temp_dir("all");
    let out = tmp.join("all.rules.yml");
    std::fs::write(&out, yaml).expect("write");
    promtool_check(&out);
}

#[test]
fn check_counts_slos_per_file() {
    let mut all = paths("rules/slo");
    all.extend(paths("tests/data/slo/sloth"));
    all.extend(paths("tests/data/slo/openslo"));
    all.extend(paths("tests/data/slo/pyrra"));
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
        ("journey.yml", 3),
        ("probe.yml", 1),
        ("examples.yml", 4),
        ("datasource.yml", 1),
        ("list.yml", 1),
        ("alert-policies.yml", 1),
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

/// The specs whose generated rules are committed (for the unit tests in tests/slo/), and where.
const GENERATED: [(&str, &str); 6] = [
    (
        "rules/slo/checkout.yml",
        "tests/data/slo/generated/checkout.rules.yml",
    ),
    (
        "tests/data/slo/sloth/myservice.yml",
        "tests/data/slo/generated/myservice.rules.yml",
    ),
    (
        "tests/data/slo/openslo/bad-events.yml",
        "tests/data/slo/generated/payments-errors.rules.yml",
    ),
    (
        "tests/data/slo/openslo/web.yml",
        "tests/data/slo/generated/web.rules.yml",
    ),
    (
        "tests/data/slo/openslo/alert-policies.yml",
        "tests/data/slo/generated/api-availability.rules.yml",
    ),
    (
        "tests/data/slo/native/guarded.yml",
        "tests/data/slo/generated/guarded.rules.yml",
    ),
];

#[test]
fn committed_generated_rules_are_up_to_date() {
    let bless = std::env::var_os("REDLINE_BLESS").is_some();
    for (spec, generated) in GENERATED {
        let yaml = generate(&[spec.into()]).unwrap_or_else(|e| panic!("{}", render(&e)));
        if bless {
            std::fs::write(generated, &yaml).expect("write generated rules");
        }
        let committed = std::fs::read_to_string(generated).unwrap_or_default();
        assert!(
            committed == yaml,
            "{generated} (from {spec}) is stale: regenerate it with `REDLINE_BLESS=1 cargo test --test slo_generate`"
        );
    }
}

/// The unit tests of the generated rules: tests/slo/*.test.yml.
fn unit_tests() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("tests/slo")
        .expect("tests/slo")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".test.yml"))
        .collect();
    v.sort();
    let names: Vec<String> = v
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "checkout.test.yml",
        "guard.test.yml",
        "openslo.test.yml",
        "openslo-policy.test.yml",
        "sloth-myservice.test.yml",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    v
}

#[test]
fn promtool_unit_tests_of_generated_rules_pass() {
    for file in unit_tests() {
        let out = Command::new(promtool())
            .args(["test", "rules"])
            .arg(&file)
            .output()
            .expect("run promtool");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "promtool test rules {file:?} failed:\n{text}"
        );
        assert!(text.contains("SUCCESS"), "{text}");
    }
}

#[test]
fn redline_runs_the_same_unit_tests() {
    // Test groups per file, counted in the files: checkout 7, guard 2, openslo 2,
    // openslo-policy 3, sloth 2.
    let expect = [
        ("checkout.test.yml", 7),
        ("guard.test.yml", 2),
        ("openslo.test.yml", 2),
        ("openslo-policy.test.yml", 3),
        ("sloth-myservice.test.yml", 2),
    ];
    for file in unit_tests() {
        let mut out = Vec::new();
        let s = redline::rules::promtool::run_test_files(std::slice::from_ref(&file), &mut out)
            .expect("report written");
        let text = String::from_utf8_lossy(&out);
        assert_eq!(s.failed, 0, "{file:?}:\n{text}");
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if let Some((_, n)) = expect.iter().find(|(f, _)| *f == name) {
            assert_eq!(s.passed, *n, "{file:?}:\n{text}");
        }
    }
}

/// Runs `promtool test rules` on `file`; its verdict and output.
fn promtool_test(file: &Path) -> (bool, String) {
    let out = Command::new(promtool())
        .args(["test", "rules"])
        .arg(file)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The control of tests/slo/guard.test.yml, where the low-traffic guard holds a page back on
/// 10 requests a minute with half of them failing: under the rules of the same SLO without
/// the guard, promtool finds that the same series page (the error ratio 0.5 is far above
/// 14.4 %), so it is the guard that holds the page back there.
#[test]
fn without_the_guard_promtool_pages_on_the_same_low_traffic() {
    let dir = temp_dir("unguarded");
    let spec = std::fs::read_to_string("tests/data/slo/native/guarded.yml").expect("read spec");
    let unguarded = spec.replace("    alerting: {min_events: 500}\n", "");
    assert_ne!(unguarded, spec, "the guard line is in the spec");
    let spec_file = dir.join("unguarded.yml");
    std::fs::write(&spec_file, unguarded).expect("write spec");
    let rules = generate(&[spec_file]).unwrap_or_else(|e| panic!("{}", render(&e)));
    assert!(!rules.contains("avg_over_time"), "no guard: {rules}");
    std::fs::write(dir.join("unguarded.rules.yml"), rules).expect("write rules");
    let test = dir.join("unguarded.test.yml");
    std::fs::write(
        &test,
        r#"rule_files: [unguarded.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'http_requests_total{job="orders",code="200"}'
        values: '0+5x120'
      - series: 'http_requests_total{job="orders",code="500"}'
        values: '0+5x120'
    alert_rule_test:
      - eval_time: 90m
        alertname: ShopOrdersBurnRatePage
        exp_alerts:
          - exp_labels: {severity: critical, owner: team-shop, slo: orders, tier: page, slo_service: shop, slo_name: orders, slo_owner: team-shop}
            exp_annotations:
              summary: "shop orders: error budget burning too fast (page)"
              description: "SLO shop/orders (objective 99% over 30d) is burning its error budget too fast: more than 14.4× over 1h and 5m, or 6× over 6h and 30m, the rate that would spend exactly the budget."
              runbook_url: "/playbooks/SLOBurnRate"
"#,
    )
    .expect("write test");
    let (ok, text) = promtool_test(&test);
    assert!(ok && text.contains("SUCCESS"), "{text}");
    // And the guarded rules hold the page back on the same series (guard.test.yml).
    let (ok, text) = promtool_test(Path::new("tests/slo/guard.test.yml"));
    assert!(ok && text.contains("SUCCESS"), "{text}");
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
fn openslo_unsupported_source_and_alert_policy_by_bare_name() {
    let p = "tests/data/slo/invalid/openslo-unsupported.yml";
    // An alert policy is an inline AlertPolicy or {alertPolicyRef: name}, not a bare name.
    assert_error(p, "spec.alertPolicies[0]", "an inline AlertPolicy");
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

/// Calendar windows and time slices have no faithful PromQL form: `slo generate` names them
/// with their field path and writes no rules for them (a file of nothing else is an error).
#[test]
fn calendar_windows_and_time_slices_are_refused_with_the_field_path() {
    let e = generate(&["rules/slo/platform.yml".into()]).expect_err("calendar only");
    let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["slos[0].window", "slos[1].window"],
        "{}",
        render(&e)
    );
    assert!(
        e[0].message.contains("cannot express a calendar month"),
        "{}",
        e[0]
    );
    // A file mixing both: the rolling SLO's rules, and a note naming the other.
    let dir = temp_dir("refused");
    let f = dir.join("mixed.yml");
    std::fs::write(
        &f,
        "version: redline/v1\nservice: s\nowner: o\nslos:\n  - name: rolling\n    objective: 99\n    window: {rolling: 30d}\n    sli: {availability: {query: up}}\n  - name: sliced\n    objective: 99\n    window: {rolling: 30d}\n    budgeting: {method: timeslices, slice: 1m, slice_target: 0.9}\n    sli: {availability: {query: up}}\n",
    )
    .expect("write spec");
    let yaml = generate(std::slice::from_ref(&f)).unwrap_or_else(|e| panic!("{}", render(&e)));
    assert!(yaml.contains("slo_name: rolling"), "{yaml}");
    assert!(!yaml.contains("slo_name: sliced"), "{yaml}");
    assert!(
        yaml.contains("# not generated: ")
            && yaml.contains("slos[1].budgeting: Prometheus rules cannot express Timeslices"),
        "{yaml}"
    );
}

#[test]
fn promtool_accepts_rules_generated_from_pyrra_specs() {
    check_dir_with_promtool("tests/data/slo/pyrra", "pyrra");
}

#[test]
fn pyrra_what_redline_cannot_express_names_the_field() {
    let path = "tests/data/slo/invalid/pyrra-grouping.yml";
    assert_error(
        path,
        "document[1].spec.indicator.ratio.grouping",
        "one SLO per group",
    );
    assert_error(
        path,
        "document[1].spec.indicator.ratio.total.metric",
        "must be a vector selector",
    );
    assert_error(path, "document[1].spec.alerting.absent", "absent");
    // The first document is valid: every error is in the second.
    assert!(errors_of(path)
        .iter()
        .all(|e| e.field.starts_with("document[1].")));
}

#[test]
fn openslo_metric_source_ref_to_a_prometheus_data_source() {
    let specs = load_files(&["tests/data/slo/openslo/datasource.yml".into()])
        .unwrap_or_else(|e| panic!("{}", render(&e)));
    assert_eq!(specs.len(), 1);
    // `counter: true` turns the referenced source's counter sum into a rate.
    let q = specs[0].sli.event_queries("5m").expect("ratio queries");
    assert!(
        q.total == "sum(rate(http_requests_total{job=\"orders\"}[5m]))",
        "{}",
        q.total
    );
}
