//! kill -9 between "group due" and "webhook acknowledged": the webhook holds redline's first
//! request unanswered, redline is killed with SIGKILL, restarted on the same state directory,
//! and the webhook now acknowledges. The notification is acknowledged exactly once after the
//! restart, and not repeated before `repeat_interval`: a control alert on a route with a
//! short `repeat_interval`, in the same run, is repeated several times meanwhile.

mod common;
mod webhook_sink;

use common::{free_port, wait_for, ProcessGuard};
use redline::testdir::TempDir;
use std::path::Path;
use std::time::Duration;
use webhook_sink::{Answer, WebhookSink};

const RULES: &str = r#"
groups:
  - name: kill9
    interval: 500ms
    rules:
      - alert: AlwaysOn
        expr: vector(1)
        labels:
          owner: payments
      - alert: Control
        expr: vector(1)
"#;

fn config(sink: &str, control: &str) -> String {
    format!(
        r#"
rule_files: ['kill9.rules.yml']
scrape_configs: []
alertmanager:
  config:
    route:
      receiver: team
      group_by: [alertname]
      group_wait: 1s
      group_interval: 2s
      repeat_interval: 1h
      routes:
        - receiver: control
          matchers: ['alertname="Control"']
          repeat_interval: 2s
    receivers:
      - name: team
        webhook_configs: [{{url: '{sink}', timeout: 60s}}]
      - name: control
        webhook_configs: [{{url: '{control}'}}]
"#
    )
}

fn start(dir: &Path, port: u16, log: &str) -> ProcessGuard {
    let log = std::fs::File::create(dir.join(log)).expect("log file");
    ProcessGuard(
        common::redline_run(&dir.join("redline.yml"), port, &dir.join("state"))
            .stderr(log)
            .spawn()
            .expect("start redline run"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_before_the_webhook_acknowledges_delivers_once_after_restart() {
    let sink = WebhookSink::start(Answer::Hold).await;
    let control = WebhookSink::start(Answer::Ack).await;
    let dir = TempDir::new("alerting-kill9");
    std::fs::write(dir.join("kill9.rules.yml"), RULES).unwrap();
    std::fs::write(dir.join("redline.yml"), config(&sink.url(), &control.url())).unwrap();

    let mut first = start(&dir, free_port(), "first.log");
    wait_for(
        "the first (held) webhook request",
        Duration::from_secs(60),
        || (!sink.received().is_empty()).then_some(()),
    )
    .await;
    first.0.kill().expect("SIGKILL");
    let _ = first.0.wait();
    assert!(
        sink.acknowledged().is_empty(),
        "nothing acknowledged before the kill"
    );
    let held = sink.received()[0].body.clone();
    assert_eq!(held["status"], "firing");

    sink.set_answer(Answer::Ack);
    let before_restart = sink.received().len();
    let _second = start(&dir, free_port(), "second.log");
    let delivered = wait_for(
        "the notification after the restart",
        Duration::from_secs(60),
        || sink.acknowledged().into_iter().next(),
    )
    .await;
    assert_eq!(delivered["receiver"], "team");
    assert_eq!(delivered["groupKey"], held["groupKey"]);
    assert_eq!(
        delivered["alerts"][0]["fingerprint"],
        held["alerts"][0]["fingerprint"]
    );
    assert_eq!(
        delivered["alerts"][0]["startsAt"],
        held["alerts"][0]["startsAt"]
    );

    // Several group intervals later: still exactly one delivery, no repeat (repeat_interval is
    // 1h). The control alert, flushed on the same group_interval with a 2s repeat_interval,
    // is repeated three times after that delivery: the flushes that would have repeated
    // AlwaysOn happened.
    let delivered_at = sink
        .received()
        .iter()
        .rev()
        .find(|r| r.answered == Answer::Ack)
        .map(|r| r.at)
        .expect("the acknowledged request");
    wait_for(
        "three control notifications after the delivery",
        Duration::from_secs(60),
        || {
            let repeats = control
                .received()
                .iter()
                .filter(|r| r.at > delivered_at && r.body["status"] == "firing")
                .count();
            (repeats >= 3).then_some(())
        },
    )
    .await;
    let after: Vec<_> = sink.received()[before_restart..].to_vec();
    assert_eq!(
        after.len(),
        1,
        "exactly one request after the restart, got {}: {:#?}",
        after.len(),
        after
            .iter()
            .map(|r| &r.body["notification_reason"])
            .collect::<Vec<_>>()
    );
    assert_eq!(sink.acknowledged().len(), 1);
}
