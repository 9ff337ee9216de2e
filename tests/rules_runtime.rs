//! The rules runtime across restarts and reloads: persisted alert state, pending `for` clocks,
//! rejected rule files, overrun accounting and the API JSON. Time is tokio's paused clock; the
//! evaluation timestamps come from a `TokioClock` that moves with it, so every evaluation
//! happens at a known slot.

use redline::clock::{Clock, TokioClock};
use redline::promql::Engine;
use redline::rules::api::{alerts_json, rules_json, RuleGroupCollector, RulesQuery};
use redline::rules::manager::{
    eval_slot, group_offset, spawn, RuleContext, RuleManagerHandle, RuleManagerOptions,
};
use redline::rules::{Alert, AlertState, RuleAlerts};
use redline::state::{GroupKey, StateDb};
use redline::store::{Labels, Store, StoreOptions};
use redline::testdir::TempDir;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Wall time when the tests start: 2023-11-14T22:13:20Z.
const T0_SECS: u64 = 1_700_000_000;
const INTERVAL: Duration = Duration::from_secs(10);

const RULES: &str = r#"groups:
  - name: node
    interval: 10s
    rules:
      - alert: HighLoad
        expr: node_load1 > 1
        for: 1m
        labels:
          severity: page
        annotations:
          summary: "load is {{ $value }} on {{ $labels.instance }}"
"#;

/// A store holding `node_load1{instance="a"} 5` every 10 s around the test's time span, as
/// the scrapes of a restarted redline would write it again.
fn loaded_store() -> Arc<Store> {
    let store = Store::with_options(StoreOptions {
        retention: Duration::from_secs(365 * 24 * 3600),
    });
    let labels = Labels::from_pairs([("__name__", "node_load1"), ("instance", "a")]);
    let mut app = store.appender();
    let start = (T0_SECS - 600) * 1000;
    for i in 0..200 {
        app.append(&labels, (start + i * 10_000) as i64, 5.0)
            .expect("append sample");
    }
    app.commit();
    Arc::new(store)
}

struct Running {
    handle: RuleManagerHandle,
    notified: mpsc::Receiver<Vec<RuleAlerts>>,
}

async fn start(clock: Arc<dyn Clock>, db: Option<StateDb>, rule_file: &Path) -> Running {
    let (tx, rx) = mpsc::channel(64);
    let ctx = RuleContext {
        engine: Arc::new(Engine::default()),
        store: loaded_store(),
        external_labels: Labels::empty(),
        external_url: "http://redline.example".into(),
    };
    let handle = spawn(ctx, RuleManagerOptions::default(), db, tx, clock);
    let n = handle.reload(&[rule_file]).await.expect("rules load");
    assert_eq!(n, 1);
    Running {
        handle,
        notified: rx,
    }
}

/// The group's first evaluation slot after the clock's start.
fn first_slot(rule_file: &Path) -> SystemTime {
    let key = GroupKey {
        file: rule_file.display().to_string(),
        name: "node".into(),
    };
    let t0 = UNIX_EPOCH + Duration::from_secs(T0_SECS);
    eval_slot(t0, INTERVAL, group_offset(&key, INTERVAL)) + INTERVAL
}

fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .expect("after epoch")
        .as_millis() as i64
}

/// Sleeps (paused time) until the clock reads `t`.
async fn sleep_until(clock: &dyn Clock, t: SystemTime) {
    let d = t.duration_since(clock.now()).unwrap_or(Duration::ZERO);
    tokio::time::sleep(d).await;
}

/// The one alert the group holds, if any.
fn the_alert(h: &RuleManagerHandle) -> Option<Alert> {
    let groups = h.groups_snapshot();
    assert_eq!(groups.len(), 1);
    assert!(groups[0].alerts.len() <= 1, "{:?}", groups[0].alerts);
    groups[0].alerts.first().map(|(_, a)| a.clone())
}

fn firing_sent(rx: &mut mpsc::Receiver<Vec<RuleAlerts>>) -> Vec<Alert> {
    let mut out = Vec::new();
    while let Ok(batch) = rx.try_recv() {
        out.extend(
            batch
                .into_iter()
                .flat_map(|r| r.alerts)
                .filter(|a| a.state == AlertState::Firing),
        );
    }
    out
}

/// A crash is the state directory's files as they are at that moment: copy them while the
/// database is open and written to (no checkpoint, no clean close), then drop everything.
fn crash_copy(from: &Path, to: &Path) {
    for f in ["redline.db", "redline.db-wal"] {
        let p = from.join(f);
        if p.exists() {
            std::fs::copy(&p, to.join(f)).expect("copy database file");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn kill_mid_for_then_restart_fires_on_time_once() {
    let dir = TempDir::new("rules-runtime-kill");
    let rule_file = dir.join("node.yml");
    std::fs::write(&rule_file, RULES).unwrap();
    let state1 = dir.join("state1");
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(
        UNIX_EPOCH + Duration::from_secs(T0_SECS),
    ));
    let s1 = first_slot(&rule_file);
    let fire_at = s1 + Duration::from_secs(60);

    // First life: the alert goes pending at the first slot.
    let db = StateDb::open_in_dir(&state1).unwrap();
    let mut run = start(clock.clone(), Some(db.clone()), &rule_file).await;
    sleep_until(clock.as_ref(), s1 + Duration::from_secs(25)).await;
    let a = the_alert(&run.handle).expect("pending alert");
    assert_eq!(a.state, AlertState::Pending);
    assert_eq!(a.active_at_ms, ms(s1));

    // kill -9 mid-`for` (25 s of 60 s): the files as they are now, nothing closed.
    let state2 = dir.join("state2");
    std::fs::create_dir_all(&state2).unwrap();
    crash_copy(&state1, &state2);
    assert!(firing_sent(&mut run.notified).is_empty());
    drop(run);
    drop(db);

    // Down for 10 s, then restart from the crashed files with the same rule file.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut run = start(
        clock.clone(),
        Some(StateDb::open_in_dir(&state2).unwrap()),
        &rule_file,
    )
    .await;
    let a = the_alert(&run.handle).expect("restored before the first evaluation");
    assert_eq!(a.state, AlertState::Pending);
    assert_eq!(a.active_at_ms, ms(s1), "the for clock must not restart");

    // One slot before active_at + for: still pending.
    sleep_until(clock.as_ref(), fire_at - Duration::from_secs(5)).await;
    assert_eq!(the_alert(&run.handle).unwrap().state, AlertState::Pending);
    assert!(firing_sent(&mut run.notified).is_empty());

    // At active_at + for exactly: firing, and sent.
    sleep_until(clock.as_ref(), fire_at + Duration::from_secs(1)).await;
    let a = the_alert(&run.handle).unwrap();
    assert_eq!(a.state, AlertState::Firing);
    assert_eq!(a.fired_at_ms, Some(ms(fire_at)), "fired late");
    let sent = firing_sent(&mut run.notified);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].fired_at_ms, Some(ms(fire_at)));
    assert_eq!(sent[0].labels.get("severity"), Some("page"));

    // Killed again after the page went out; the restarted redline must not page again
    // within the resend delay (1m).
    sleep_until(clock.as_ref(), fire_at + Duration::from_secs(15)).await;
    let state3 = dir.join("state3");
    std::fs::create_dir_all(&state3).unwrap();
    crash_copy(&state2, &state3);
    assert!(firing_sent(&mut run.notified).is_empty());
    drop(run);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut run = start(
        clock.clone(),
        Some(StateDb::open_in_dir(&state3).unwrap()),
        &rule_file,
    )
    .await;
    assert_eq!(the_alert(&run.handle).unwrap().state, AlertState::Firing);
    sleep_until(clock.as_ref(), fire_at + Duration::from_secs(59)).await;
    assert!(
        firing_sent(&mut run.notified).is_empty(),
        "re-paged within the resend delay after a restart"
    );
    // After the resend delay the alert is re-sent, as it would have been without restarts.
    sleep_until(clock.as_ref(), fire_at + Duration::from_secs(71)).await;
    let resent = firing_sent(&mut run.notified);
    assert_eq!(resent.len(), 1, "{resent:?}");
    assert_eq!(resent[0].active_at_ms, ms(s1));
    run.handle.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn without_persisted_state_a_restart_resets_the_for_clock() {
    // The control for the test above: the same restart from an empty state directory
    // starts the `for` clock again, so the persisted state is what made the difference.
    let dir = TempDir::new("rules-runtime-control");
    let rule_file = dir.join("node.yml");
    std::fs::write(&rule_file, RULES).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(
        UNIX_EPOCH + Duration::from_secs(T0_SECS),
    ));
    let s1 = first_slot(&rule_file);
    let run = start(clock.clone(), None, &rule_file).await;
    sleep_until(clock.as_ref(), s1 + Duration::from_secs(25)).await;
    drop(run);
    let run = start(clock.clone(), None, &rule_file).await;
    sleep_until(clock.as_ref(), s1 + Duration::from_secs(61)).await;
    let a = the_alert(&run.handle).expect("pending alert");
    assert_eq!(a.state, AlertState::Pending);
    assert!(a.active_at_ms > ms(s1));
}

#[tokio::test(start_paused = true)]
async fn reload_keeps_pending_timers() {
    let dir = TempDir::new("rules-runtime-reload");
    let rule_file = dir.join("node.yml");
    std::fs::write(&rule_file, RULES).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(
        UNIX_EPOCH + Duration::from_secs(T0_SECS),
    ));
    let s1 = first_slot(&rule_file);
    let db = StateDb::open_in_dir(&dir.join("state")).unwrap();
    let mut run = start(clock.clone(), Some(db), &rule_file).await;
    sleep_until(clock.as_ref(), s1 + Duration::from_secs(25)).await;
    assert_eq!(the_alert(&run.handle).unwrap().active_at_ms, ms(s1));

    // The file changes (another rule, a new annotation); the alert's rule keeps its name and
    // labels, so its pending clock carries over.
    let changed = RULES.replace(
        "          summary: \"load is {{ $value }} on {{ $labels.instance }}\"\n",
        "          summary: \"load is {{ $value }} on {{ $labels.instance }}\"\n          runbook: \"https://runbooks/high-load\"\n      - record: instance:node_load1:max\n        expr: max by (instance) (node_load1)\n",
    );
    assert_ne!(changed, RULES);
    std::fs::write(&rule_file, changed).unwrap();
    run.handle.reload(&[&rule_file]).await.expect("reload");
    let groups = run.handle.groups_snapshot();
    assert_eq!(groups[0].group.rules.len(), 2);
    assert_eq!(the_alert(&run.handle).unwrap().active_at_ms, ms(s1));

    let fire_at = s1 + Duration::from_secs(60);
    sleep_until(clock.as_ref(), fire_at + Duration::from_secs(1)).await;
    let a = the_alert(&run.handle).unwrap();
    assert_eq!(a.state, AlertState::Firing);
    assert_eq!(a.fired_at_ms, Some(ms(fire_at)));
    assert_eq!(
        a.annotations.get("runbook"),
        Some("https://runbooks/high-load")
    );
    assert_eq!(firing_sent(&mut run.notified).len(), 1);
    // The evaluation counter carried over the reload: one evaluation per slot since s1.
    assert_eq!(run.handle.groups_snapshot()[0].stats.evaluations_total, 7);
}

#[tokio::test(start_paused = true)]
async fn bad_rule_file_on_reload_keeps_the_running_rules() {
    let dir = TempDir::new("rules-runtime-bad");
    let rule_file = dir.join("node.yml");
    std::fs::write(&rule_file, RULES).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(
        UNIX_EPOCH + Duration::from_secs(T0_SECS),
    ));
    let s1 = first_slot(&rule_file);
    let mut run = start(clock.clone(), None, &rule_file).await;
    sleep_until(clock.as_ref(), s1 + Duration::from_secs(25)).await;

    std::fs::write(
        &rule_file,
        "groups:\n  - name: node\n    rules:\n      - alert: Broken\n        expr: rate(x[5m]\n",
    )
    .unwrap();
    let err = run
        .handle
        .reload(&[&rule_file])
        .await
        .expect_err("a bad file is rejected");
    assert!(err.to_string().contains("node.yml"), "{err}");
    let status = run.handle.reload_status();
    let failure = status.last_failure.expect("the failure is kept");
    assert_eq!(
        failure.file.as_deref(),
        Some(rule_file.display().to_string().as_str())
    );
    assert!(status.last_success.is_some());

    // The old rules keep running: the alert fires on its original schedule.
    let fire_at = s1 + Duration::from_secs(60);
    sleep_until(clock.as_ref(), fire_at + Duration::from_secs(1)).await;
    let groups = run.handle.groups_snapshot();
    assert_eq!(groups[0].group.rules[0].name(), "HighLoad");
    let a = the_alert(&run.handle).unwrap();
    assert_eq!(a.state, AlertState::Firing);
    assert_eq!(a.fired_at_ms, Some(ms(fire_at)));
    assert_eq!(firing_sent(&mut run.notified).len(), 1);

    // A good file again clears the failure.
    std::fs::write(&rule_file, RULES).unwrap();
    run.handle.reload(&[&rule_file]).await.expect("reload");
    assert!(run.handle.reload_status().last_failure.is_none());
}

/// A clock that can be pushed forward, as if an evaluation had taken that long.
struct SkewClock {
    inner: TokioClock,
    skew_ms: AtomicU64,
}

impl Clock for SkewClock {
    fn now(&self) -> SystemTime {
        self.inner.now() + Duration::from_millis(self.skew_ms.load(Ordering::SeqCst))
    }
}

#[tokio::test(start_paused = true)]
async fn overrun_skips_and_counts_missed_slots() {
    let dir = TempDir::new("rules-runtime-overrun");
    let rule_file = dir.join("node.yml");
    std::fs::write(&rule_file, RULES).unwrap();
    let clock = Arc::new(SkewClock {
        inner: TokioClock::starting_at(UNIX_EPOCH + Duration::from_secs(T0_SECS)),
        skew_ms: AtomicU64::new(0),
    });
    let s1 = first_slot(&rule_file);
    let run = start(clock.clone(), None, &rule_file).await;
    sleep_until(clock.as_ref(), s1 + Duration::from_secs(5)).await;
    let stats = run.handle.groups_snapshot()[0].stats.clone();
    assert_eq!(stats.evaluations_total, 1);
    assert_eq!(stats.iterations_missed_total, 0);
    assert_eq!(stats.last_evaluation_ms, Some(ms(s1)));
    assert_eq!(stats.interval, INTERVAL);

    // The wall clock jumps 25 s during the next sleep, as if the evaluation at s1+10 had
    // taken that long: it ends at s1+35, so the slot s1+20 is missed (counted), s1+30 runs
    // late at once (upstream does the same) and s1+40 is on time again.
    clock.skew_ms.store(25_000, Ordering::SeqCst);
    sleep_until(clock.as_ref(), s1 + Duration::from_secs(41)).await;
    let stats = run.handle.groups_snapshot()[0].stats.clone();
    assert_eq!(stats.iterations_missed_total, 1, "{stats:?}");
    assert_eq!(stats.evaluations_total, 4, "{stats:?}");
    assert_eq!(
        stats.last_evaluation_ms,
        Some(ms(s1 + Duration::from_secs(40)))
    );
}

#[tokio::test(start_paused = true)]
async fn api_json_lists_rules_and_alerts() {
    let dir = TempDir::new("rules-runtime-api");
    let rule_file = dir.join("node.yml");
    std::fs::write(&rule_file, RULES).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(
        UNIX_EPOCH + Duration::from_secs(T0_SECS),
    ));
    let s1 = first_slot(&rule_file);
    let run = start(clock.clone(), None, &rule_file).await;
    sleep_until(clock.as_ref(), s1 + Duration::from_secs(1)).await;
    let groups = run.handle.groups_snapshot();

    let rules = rules_json(&groups, &RulesQuery::default()).unwrap();
    let g = &rules["groups"][0];
    assert_eq!(g["name"], "node");
    assert_eq!(g["file"], rule_file.display().to_string());
    assert_eq!(g["interval"], 10.0);
    assert_eq!(g["limit"], 0);
    let r = &g["rules"][0];
    assert_eq!(r["type"], "alerting");
    assert_eq!(r["name"], "HighLoad");
    assert_eq!(r["query"], "node_load1 > 1");
    assert_eq!(r["duration"], 60.0);
    assert_eq!(r["keepFiringFor"], 0.0);
    assert_eq!(r["state"], "pending");
    assert_eq!(r["health"], "ok");
    assert_eq!(r["labels"]["severity"], "page");
    assert_eq!(
        r["annotations"]["summary"],
        "load is {{ $value }} on {{ $labels.instance }}"
    );
    let active_at = redline::timefmt::rfc3339_nanos(s1);
    assert_eq!(r["lastEvaluation"], active_at);
    assert_eq!(r["alerts"][0]["activeAt"], active_at);
    assert_eq!(r["alerts"][0]["value"], "5e+00");
    assert_eq!(r["alerts"][0]["annotations"]["summary"], "load is 5 on a");

    let only_records = RulesQuery::from_pairs(&[("type", "record")]).unwrap();
    assert_eq!(
        rules_json(&groups, &only_records).unwrap()["groups"],
        serde_json::json!([])
    );

    let alerts = alerts_json(&groups);
    assert_eq!(alerts["alerts"].as_array().map(Vec::len), Some(1));
    let a = &alerts["alerts"][0];
    assert_eq!(a["state"], "pending");
    assert_eq!(a["labels"]["alertname"], "HighLoad");
    assert_eq!(a["labels"]["instance"], "a");
    assert!(a.get("keepFiringSince").is_none());

    let mut registry = prometheus_client::registry::Registry::with_prefix("redline");
    registry.register_collector(Box::new(RuleGroupCollector(run.handle.clone())));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let group = format!("rule_group=\"{};node\"", rule_file.display());
    for line in [
        format!("redline_rule_group_interval_seconds{{{group}}} 10.0"),
        format!("redline_rule_group_iterations_total{{{group}}} 1"),
        format!("redline_rule_group_iterations_missed_total{{{group}}} 0"),
        format!(
            "redline_rule_group_last_evaluation_timestamp_seconds{{{group}}} {}",
            ms(s1) as f64 / 1000.0
        ),
        "redline_rules_last_reload_successful 1".to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn config_reload_changes_the_global_evaluation_interval() {
    let dir = TempDir::new("rules-runtime-options");
    let rule_file = dir.join("node.yml");
    std::fs::write(&rule_file, RULES.replace("    interval: 10s\n", "")).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(
        UNIX_EPOCH + Duration::from_secs(T0_SECS),
    ));
    let run = start(clock, None, &rule_file).await;
    assert_eq!(
        run.handle.groups_snapshot()[0].interval,
        Duration::from_secs(60)
    );
    let opts = RuleManagerOptions {
        evaluation_interval: Duration::from_secs(30),
        ..RuleManagerOptions::default()
    };
    run.handle
        .reload_with_options(&[&rule_file], opts.clone())
        .await
        .expect("reload");
    assert_eq!(
        run.handle.groups_snapshot()[0].interval,
        Duration::from_secs(30)
    );
    // Options that come with a bad rule file are not taken.
    std::fs::write(&rule_file, "groups: [").unwrap();
    let slower = RuleManagerOptions {
        evaluation_interval: Duration::from_secs(120),
        ..opts
    };
    assert!(run
        .handle
        .reload_with_options(&[&rule_file], slower)
        .await
        .is_err());
    assert_eq!(
        run.handle.groups_snapshot()[0].interval,
        Duration::from_secs(30)
    );
}
