//! `redline check config` checks everything `redline run` loads: a config whose rule or SLO
//! files do not load fails the check, and `run` refuses the same config (the control that
//! the check and the start agree).

use redline::testdir::TempDir;
use std::path::Path;
use std::process::{Command, Output};

fn redline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_redline"))
}

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

/// A fresh directory for one test's files.
fn dir(name: &str) -> TempDir {
    TempDir::new(&format!("check-{name}"))
}

fn check(config: &Path) -> (Output, String) {
    let out = redline()
        .args(["check", "config"])
        .arg(config)
        .output()
        .expect("run redline check config");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// `redline run` with `config`: it must exit by itself (a config it refuses).
fn run_refuses(config: &Path, state: &Path) -> String {
    let out = redline()
        .args(["run", "--config"])
        .arg(config)
        .args(["--listen", "127.0.0.1:0", "--state-dir"])
        .arg(state)
        .output()
        .expect("run redline");
    assert!(!out.status.success(), "redline run refuses the config");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn check_config_loads_the_rule_and_slo_files_it_names() {
    let d = dir("good");
    let config = d.join("redline.yml");
    std::fs::write(
        &config,
        format!(
            "rule_files: ['{}', '{}']\nslo_files: ['{}']\n",
            repo("rules/node.yml"),
            repo("rules/red.yml"),
            repo("rules/slo/*.yml"),
        ),
    )
    .expect("write config");
    let (out, text) = check(&config);
    assert!(out.status.success(), "{text}");
    let rules = |file: &str| {
        let checked = redline()
            .args(["check", "rules", &repo(file)])
            .output()
            .expect("check rules");
        let s = String::from_utf8_lossy(&checked.stdout).into_owned();
        s.lines()
            .find(|l| l.contains("SUCCESS"))
            .unwrap_or_else(|| panic!("{s}"))
            .to_string()
    };
    assert!(
        text.contains("SUCCESS: 0 scrape configs, 2 rule files, 3 SLO files found"),
        "{text}"
    );
    // Each rule file's section is what `check rules` prints for it.
    for f in ["rules/node.yml", "rules/red.yml"] {
        let section = format!("Checking {}\n{}\n", repo(f), rules(f));
        assert!(text.contains(&section), "{section} in:\n{text}");
    }
    for f in ["checkout.yml", "platform.yml", "search.yml"] {
        assert!(
            text.contains(&format!(
                "Checking {}\n  SUCCESS: ",
                repo(&format!("rules/slo/{f}"))
            )),
            "{f}: {text}"
        );
    }
}

#[test]
fn check_config_fails_on_a_rule_file_run_refuses() {
    let d = dir("bad-rules");
    std::fs::write(
        d.join("bad.rules.yml"),
        "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: sum(\n",
    )
    .expect("write rule file");
    let config = d.join("redline.yml");
    std::fs::write(&config, "rule_files: ['bad.rules.yml']\n").expect("write config");
    let (out, text) = check(&config);
    assert!(!out.status.success(), "the check fails:\n{text}");
    assert!(
        text.contains("bad.rules.yml:5"),
        "names file and line: {text}"
    );
    assert!(text.contains("unclosed left parenthesis"), "{text}");
    let stderr = run_refuses(&config, &d.join("state"));
    assert!(stderr.contains("unclosed left parenthesis"), "{stderr}");
}

#[test]
fn check_config_fails_on_an_slo_file_run_refuses() {
    let d = dir("bad-slo");
    let bad = repo("tests/data/slo/invalid/native-objective-ratio.yml");
    let config = d.join("redline.yml");
    std::fs::write(&config, format!("slo_files: ['{bad}']\n")).expect("write config");
    let (out, text) = check(&config);
    assert!(!out.status.success(), "the check fails:\n{text}");
    assert!(
        text.contains(&format!("Checking {bad}\n  FAILED:")),
        "{text}"
    );
    assert!(text.contains("objective"), "names the field: {text}");
    let stderr = run_refuses(&config, &d.join("state"));
    assert!(stderr.contains("objective"), "{stderr}");
}

#[test]
fn check_config_fails_on_the_same_slo_in_two_files() {
    let d = dir("dup-slo");
    let good = repo("rules/slo/checkout.yml");
    std::fs::copy(&good, d.join("a.yml")).expect("copy");
    std::fs::copy(&good, d.join("b.yml")).expect("copy");
    let config = d.join("redline.yml");
    std::fs::write(&config, "slo_files: ['a.yml', 'b.yml']\n").expect("write config");
    let (out, text) = check(&config);
    assert!(!out.status.success(), "the check fails:\n{text}");
    assert!(
        text.contains("Checking the SLO files together\n  FAILED:"),
        "{text}"
    );
    run_refuses(&config, &d.join("state"));
}

/// amtool's answer for `labels` under the Alertmanager config `am`: the reference.
fn amtool_routes(am: &Path, labels: &[&str]) -> String {
    let out = Command::new("/usr/bin/amtool")
        .args(["config", "routes", "test"])
        .arg(format!("--config.file={}", am.display()))
        .args(labels)
        .output()
        .expect("amtool is installed (tests/run-all.sh installs prometheus-alertmanager)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn redline_routes(config: &Path, labels: &[&str]) -> String {
    let out = redline()
        .args(["routes", "test", "--config"])
        .arg(config)
        .args(labels)
        .output()
        .expect("run redline routes test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `routes test --config` takes redline's own config too, with the Alertmanager config inline
/// or in `config_file`, and routes as amtool does with that Alertmanager config.
#[test]
fn routes_test_reads_the_alertmanager_section_of_a_redline_config() {
    let d = dir("routes");
    let am_text = std::fs::read_to_string(repo("tests/fixtures/alertmanager_example.yml"))
        .expect("read fixture");
    let am = d.join("alertmanager.yml");
    std::fs::write(&am, &am_text).expect("write am config");
    let inline = d.join("inline.yml");
    let indented: String = am_text.lines().map(|l| format!("    {l}\n")).collect();
    std::fs::write(&inline, format!("alertmanager:\n  config:\n{indented}")).expect("write");
    let by_file = d.join("by-file.yml");
    std::fs::write(&by_file, "alertmanager:\n  config_file: alertmanager.yml\n").expect("write");
    let cases: [&[&str]; 3] = [
        &["severity=page", "team=db"],
        &["team=storage"],
        &["alertname=X"],
    ];
    for labels in cases {
        let want = amtool_routes(&am, labels);
        assert_eq!(redline_routes(&inline, labels), want, "inline, {labels:?}");
        assert_eq!(
            redline_routes(&by_file, labels),
            want,
            "config_file, {labels:?}"
        );
    }
    // The cases route differently, so the comparison is not of one constant answer.
    assert_ne!(amtool_routes(&am, cases[0]), amtool_routes(&am, cases[2]));
}
