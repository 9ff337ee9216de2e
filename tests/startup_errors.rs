//! What `redline run` prints when it cannot start: each error once.

use redline::testdir::TempDir;
use std::process::Command;

#[test]
fn rule_file_error_at_start_up_is_printed_once() {
    let dir = TempDir::new("start-err");
    std::fs::write(
        dir.join("bad.rules.yml"),
        "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: sum(\n",
    )
    .expect("write rule file");
    std::fs::write(dir.join("redline.yml"), "rule_files: ['bad.rules.yml']\n")
        .expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_redline"))
        .args(["run", "--config"])
        .arg(dir.join("redline.yml"))
        .args(["--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.join("state"))
        .output()
        .expect("run redline");
    assert!(!out.status.success(), "a bad rule file stops the start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("unclosed left parenthesis").count(),
        1,
        "the rule file's error once:\n{stderr}"
    );
    assert!(stderr.contains("bad.rules.yml:5"), "{stderr}");
}
