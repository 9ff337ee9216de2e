//! The command-line contract scripts depend on: exit codes, error messages that name the
//! file and field, `debug parse` output, graceful shutdown on SIGTERM.

mod common;

use common::{free_port, ProcessGuard};
use redline::testdir::TempDir;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn redline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_redline"))
}

/// `text` written to a file `name` in a fresh temp dir, which goes when the dir is dropped.
fn temp_file(name: &str, text: &str) -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new("cli");
    let p = dir.join(name);
    std::fs::File::create(&p)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("write temp file");
    (dir, p)
}

#[test]
fn check_config_accepts_a_valid_file() {
    let (_dir, p) = temp_file(
        "ok.yml",
        "scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:9100']\n",
    );
    let out = redline()
        .args(["check", "config"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS"));
}

#[test]
fn check_config_names_the_field_of_a_bad_regex() {
    let (_dir, p) = temp_file(
        "bad.yml",
        "scrape_configs:\n  - job_name: node\n    relabel_configs:\n      - source_labels: [a]\n        regex: '('\n        target_label: b\n    static_configs:\n      - targets: ['127.0.0.1:9100']\n",
    );
    let out = redline()
        .args(["check", "config"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("scrape_configs[0].relabel_configs[0].regex"),
        "{err}"
    );
    assert!(err.contains("bad.yml"), "the error names the file: {err}");
}

#[test]
fn check_config_rejects_unsupported_fields() {
    let (_dir, p) = temp_file(
        "unsupported.yml",
        "scrape_configs:\n  - job_name: node\n    consul_sd_configs:\n      - server: 'localhost:8500'\n",
    );
    let out = redline()
        .args(["check", "config"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("consul_sd_configs"), "{err}");
}

#[test]
fn debug_parse_prints_one_json_object_per_sample() {
    let out = redline()
        .args([
            "debug",
            "parse",
            "tests/fixtures/node_exporter.prom",
            "--format",
            "jsonl",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    // The fixture has 507 sample lines (`grep -vc '^#\|^$' tests/fixtures/node_exporter.prom`),
    // one sample each in the text format.
    assert_eq!(lines.len(), 507);
    let find = |name: &str, labels: serde_json::Value| {
        lines
            .iter()
            .find(|v| v["name"] == name && v["labels"] == labels)
            .unwrap_or_else(|| panic!("no {name} {labels} in the output"))
    };
    // Line 237: `node_load1 0.39`.
    let load1 = find("node_load1", serde_json::json!({}));
    assert_eq!(load1["value"], 0.39);
    assert!(load1["timestamp_ms"].is_null());
    // Line 105: `node_cpu_seconds_total{cpu="0",mode="idle"} 413.1`.
    let idle = find(
        "node_cpu_seconds_total",
        serde_json::json!({"cpu": "0", "mode": "idle"}),
    );
    assert_eq!(idle["value"], 413.1);
    // Line 210: an exponent.
    let avail = find(
        "node_filesystem_avail_bytes",
        serde_json::json!({"device": "/dev/vda", "fstype": "ext4", "mountpoint": "/"}),
    );
    assert_eq!(avail["value"], 83_923_623_936.0);
}

#[test]
fn debug_parse_reports_line_and_column_of_a_malformed_file() {
    let (_dir, p) = temp_file("bad.prom", "ok 1\nbad{a=\"1\" 2\n");
    let out = redline().args(["debug", "parse"]).arg(&p).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // The file, the position and the reason, each once.
    assert_eq!(
        err.trim_end(),
        format!(
            "error: {}: line 2, column 11: expected label name or '}}', found '2'",
            p.display()
        ),
        "{err}"
    );
}

#[test]
fn run_stops_cleanly_on_sigterm() {
    let port = free_port();
    let (_dir, cfg) = temp_file(
        "run.yml",
        "global:\n  scrape_interval: 1s\nscrape_configs: []\n",
    );
    let state = TempDir::new("cli-state");
    let child = redline()
        .args(["run", "--config"])
        .arg(&cfg)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--state-dir"])
        .arg(state.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redline run");
    let mut guard = ProcessGuard(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redline did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = guard.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = guard.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "redline did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

/// Each cause of an error is printed once, also when an error type writes its source's
/// message into its own.
#[test]
fn errors_print_each_cause_once() {
    let missing = std::env::temp_dir().join("redline-cli-no-such-config.yml");
    let out = redline()
        .args(["check", "config"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        format!(
            "error: {}: cannot read config file: No such file or directory (os error 2)",
            missing.display()
        )
    );
}
