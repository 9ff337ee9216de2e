//! The example configs most setups start from, copied from Prometheus and Alertmanager
//! (`tests/data/config/upstream/`, see its SOURCES.md), go through `redline check config`.
//!
//! Each file loads unchanged (the `alerting:` section, the Kubernetes `ingress` role and
//! `pagerduty_configs` included); where Debian's promtool or amtool can read the same file,
//! it must accept it too.

use redline::testdir::TempDir;
use std::path::{Path, PathBuf};
use std::process::Command;

fn upstream(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/config/upstream")
        .join(name)
}

fn dir(name: &str) -> TempDir {
    TempDir::new(&format!("upstream-{name}"))
}

/// Runs `redline check config FILE`: (success, stdout + stderr).
fn check(config: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_redline"))
        .args(["check", "config"])
        .arg(config)
        .output()
        .expect("run redline check config");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// `text` without the YAML block whose first line is `header` (exactly): that line and every
/// following line that belongs to it (blank, indented deeper, or, under a `key:` header, a
/// `- ` item at the same indentation).
fn without_block(text: &str, header: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == header)
        .unwrap_or_else(|| panic!("no line {header:?}"));
    let h = indent(header);
    let is_key = !header.trim_start().starts_with("- ");
    let mut end = start + 1;
    while end < lines.len() {
        let l = lines[end];
        let belongs = l.trim().is_empty()
            || indent(l) > h
            || (is_key && indent(l) == h && l.trim_start().starts_with("- "));
        if !belongs {
            break;
        }
        end += 1;
    }
    let mut out: Vec<&str> = lines[..start].to_vec();
    out.extend_from_slice(&lines[end..]);
    out.join("\n") + "\n"
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// Debian's promtool (Prometheus 2.42) on a file, when installed: whether it accepts it.
fn promtool_accepts(path: &Path) -> Option<bool> {
    let out = Command::new("promtool")
        .args(["check", "config"])
        .arg(path)
        .output()
        .ok()?;
    Some(out.status.success())
}

#[test]
fn prometheus_example_yml() {
    let file = upstream("prometheus.yml");
    let (ok, text) = check(&file);
    assert!(ok, "{text}");
    assert!(text.contains("SUCCESS: 1 scrape configs"), "{text}");
    // Prometheus accepts it (tests/run-all.sh installs Debian's promtool).
    assert_eq!(
        promtool_accepts(&file),
        Some(true),
        "promtool rejects the upstream example, or is not installed"
    );
}

#[test]
fn prometheus_kubernetes_example_yml() {
    let file = upstream("prometheus-kubernetes.yml");
    let (ok, text) = check(&file);
    // Debian's promtool 2.42 has no Kubernetes discovery: no differential check here.
    assert!(ok, "{text}");
    assert!(text.contains("SUCCESS: 7 scrape configs"), "{text}");
}

/// Alertmanager's `simple.yml` without its HipChat settings, which Alertmanager itself
/// removed (see SOURCES.md).
fn simple_yml() -> String {
    let text = std::fs::read_to_string(upstream("simple.yml")).unwrap();
    let text = without_block(&text, "- name: 'team-X-hipchat'");
    text.lines()
        .filter(|l| !l.contains("hipchat_") && !l.contains("for Hipchat"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn alertmanager_simple_example_yml() {
    let d = dir("am");
    let simple = write(&d, "simple.yml", &simple_yml());
    // The file as Alertmanager 0.25 reads it: accepted.
    let out = Command::new("amtool")
        .args(["check-config"])
        .arg(&simple)
        .output()
        .expect("Debian's amtool (tests/run-all.sh installs it)");
    assert!(
        out.status.success(),
        "amtool rejects it: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let redline_yml = write(
        &d,
        "redline.yml",
        "alertmanager:\n  config_file: simple.yml\n",
    );
    let (ok, text) = check(&redline_yml);
    assert!(ok, "{text}");
}
