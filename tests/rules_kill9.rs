//! The real binary, killed with SIGKILL while an alert is pending, restarted on the same state
//! directory: the alert keeps its original `for` clock (activeAt) and fires at activeAt + for,
//! not a full `for` after the restart.

mod common;

use common::{free_port, ProcessGuard};
use redline::testdir::TempDir;
use std::process::Command;
use std::time::{Duration, Instant};

const RULES: &str = r#"
groups:
  - name: kill9
    interval: 500ms
    rules:
      - alert: AlwaysOn
        expr: vector(1)
        for: 8s
        labels:
          severity: warning
"#;

fn start(config: &std::path::Path, state: &std::path::Path, port: u16) -> ProcessGuard {
    let child = common::redline_run(config, port, state)
        .spawn()
        .expect("start redline run");
    ProcessGuard(child)
}

/// The AlwaysOn alert's (state, activeAt) from `/api/v1/alerts`, once the server answers.
fn alert(port: u16) -> Option<(String, String)> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json,sys,urllib.request\n\
             d=json.load(urllib.request.urlopen(sys.argv[1], timeout=2))\n\
             a=[x for x in d['data']['alerts'] if x['labels']['alertname']=='AlwaysOn']\n\
             print(a[0]['state'], a[0]['activeAt']) if a else print('none')",
            &format!("http://127.0.0.1:{port}/api/v1/alerts"),
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(state), Some(at)) => Some((state.to_string(), at.to_string())),
        _ => None,
    }
}

fn wait_alert(
    port: u16,
    what: &str,
    deadline: Duration,
    ok: impl Fn(&str, &str) -> bool,
) -> (String, String, Instant) {
    let end = Instant::now() + deadline;
    loop {
        if let Some((state, at)) = alert(port) {
            if ok(&state, &at) {
                return (state, at, Instant::now());
            }
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn kill_9_mid_for_keeps_the_for_clock() {
    let dir = TempDir::new("kill9");
    std::fs::write(dir.join("kill9.rules.yml"), RULES).unwrap();
    let config = dir.join("redline.yml");
    std::fs::write(
        &config,
        "rule_files: ['kill9.rules.yml']\nscrape_configs: []\n",
    )
    .unwrap();
    let state = dir.join("state");
    let port = free_port();

    let mut first = start(&config, &state, port);
    let (_, active_at, seen) = wait_alert(
        port,
        "the alert to be pending",
        Duration::from_secs(30),
        |s, _| s == "pending",
    );
    // Kill mid-`for`: a few seconds into the 8 s wait.
    std::thread::sleep(Duration::from_secs(3).saturating_sub(seen.elapsed()));
    first.0.kill().expect("SIGKILL");
    let _ = first.0.wait();
    let killed_at = Instant::now();

    let port2 = free_port();
    let _second = start(&config, &state, port2);
    let (state_after, active_after, _) = wait_alert(
        port2,
        "the restarted alert",
        Duration::from_secs(30),
        |_, _| true,
    );
    assert_eq!(
        active_after, active_at,
        "the for clock survived the restart"
    );
    assert_eq!(state_after, "pending");
    let (_, _, fired) = wait_alert(
        port2,
        "the alert to fire",
        Duration::from_secs(30),
        |s, _| s == "firing",
    );
    // It fires when the original 8 s are up (about 5 s after the kill), well before a full
    // `for` measured from the restart would end.
    let after_kill = fired.duration_since(killed_at);
    assert!(
        after_kill < Duration::from_secs(8),
        "fired {after_kill:?} after the kill: the for clock was reset"
    );
}
