//! A calendar-month SLO across its period start, as a user checks it: the SLO engine runs its
//! rounds minute by minute across midnight of 1 March in Berlin (28 February 23:00 UTC), and
//! `/api/v1/slos` and the dashboard's SLO page, served in-process, show February's spent
//! budget before the boundary and a full budget in the new period after it, with the period's
//! start and end in the SLO's zone.
//!
//! The engine's rounds take the time as an argument, so the test runs at that boundary
//! without waiting for it; the SLI is a probe whose counts the test sets before each round.

use redline::http::dashboard::WebAccess;
use redline::http::{AppState, QueryLimits, QueryService};
use redline::promql::Engine;
use redline::scrape::target::TargetSet;
use redline::slo::engine::{SloEngine, SloEngineOptions};
use redline::slo::figures::Counts;
use redline::state::StateDb;
use redline::store::Store;
use redline::telemetry::Telemetry;
use redline::testdir::TempDir;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

const SPEC: &str = "version: redline/v1
service: shop
owner: team-shop
slos:
  - name: monthly
    objective: 99
    window: {calendar: month, time_zone: Europe/Berlin}
    sli:
      probe: {url: 'http://127.0.0.1:9/'}
";

const MINUTE_MS: i64 = 60_000;

/// 2025-02-28T23:00:00Z (1 March 00:00 in Berlin), in minutes since the epoch:
/// 20147 days × 1440 + 23 × 60.
const MARCH: i64 = 20_147 * 1440 + 23 * 60;

async fn get(port: u16, path: &str) -> String {
    redline::install_crypto_provider();
    reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .expect("GET")
        .text()
        .await
        .expect("body")
}

async fn api(port: u16) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&get(port, "/api/v1/slos/shop/monthly").await).expect("json");
    assert_eq!(v["status"], "success", "{v}");
    v["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_month_budget_resets_at_midnight_berlin() {
    assert_eq!(
        MARCH * 60,
        redline::timefmt::days_from_civil(2025, 2, 28) * 86_400 + 23 * 3600
    );
    let dir = TempDir::new("slo-calendar");
    let file = dir.join("slo.yml");
    std::fs::write(&file, SPEC).expect("write spec");
    let specs = redline::slo::load_files(&[file]).expect("spec loads");
    let probe = Arc::new(Mutex::new(Counts::default()));
    let probes = HashMap::from([("shop/monthly".to_string(), probe.clone())]);
    let store = Arc::new(Store::new());
    let db = StateDb::open_in_dir(&dir.join("state")).expect("state db");
    let (tx, _alerts) = tokio::sync::mpsc::channel(64);
    let mut engine = SloEngine::load(
        specs,
        store.clone(),
        db,
        Arc::new(Engine::default()),
        tx,
        SloEngineOptions::default(),
        probes,
    )
    .await
    .expect("engine loads");
    let state = AppState {
        telemetry: Arc::new(Telemetry::new(store.clone())),
        store,
        targets: Arc::new(TargetSet::new()),
        query: Arc::new(QueryService::new(QueryLimits::default())),
        ready: Arc::new(AtomicBool::new(true)),
        rules: None,
        reload: None,
        playbooks_dir: None,
        web: Arc::new(WebAccess::default()),
        cluster: None,
        alerting: None,
        slos: Some(engine.view()),
        notifier: None,
    };
    let listener = redline::http::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(redline::http::serve(listener, state, async move {
        let _ = stopped.await;
    }));

    // The last ten minutes of February: 100 probes a minute, 2 failed. Each round reads the
    // minute that just ended (a round at the start of minute m + 1 reads minute m).
    engine.round((MARCH - 10) * MINUTE_MS + 1_000).await;
    for m in MARCH - 10..MARCH {
        *probe.lock().unwrap() = Counts::new(2.0, 100.0);
        engine.round((m + 1) * MINUTE_MS + 1_000).await;
    }
    let feb = api(port).await;
    // 1000 probes, 20 failed: 1 % of 1000 = 10 allowed, 200 % spent.
    assert_eq!(feb["total_events"], 1000.0, "{feb}");
    assert_eq!(feb["bad_events"], 20.0, "{feb}");
    assert_eq!(feb["error_budget"]["remaining_ratio"], -1.0, "{feb}");
    assert_eq!(feb["budget_exhausted"], true, "{feb}");
    // February in Berlin: 1 February 00:00 CET to 1 March 00:00 CET.
    assert_eq!(feb["period"]["kind"], "calendar");
    assert_eq!(feb["period"]["start"], "2025-01-31T23:00:00Z");
    assert_eq!(feb["period"]["end"], "2025-02-28T23:00:00Z");

    // The first minute of March in Berlin: all 100 probes good. The budget is full again.
    *probe.lock().unwrap() = Counts::new(0.0, 100.0);
    engine.round((MARCH + 1) * MINUTE_MS + 1_000).await;
    let mar = api(port).await;
    assert_eq!(mar["total_events"], 100.0, "{mar}");
    assert_eq!(mar["bad_events"], 0.0, "{mar}");
    assert_eq!(mar["error_budget"]["remaining_ratio"], 1.0, "{mar}");
    assert_eq!(mar["budget_exhausted"], false, "{mar}");
    assert_eq!(mar["period"]["start"], "2025-02-28T23:00:00Z");
    // 1 April 00:00 CEST (DST began on 30 March).
    assert_eq!(mar["period"]["end"], "2025-03-31T22:00:00Z");
    assert_eq!(mar["period"]["time_zone"], "Europe/Berlin");
    // The burn-rate windows stay rolling: the last hour still holds February's 20 failures
    // of 1100 probes, (20 / 1100) / 0.01 = 1.818… times the allowed rate.
    let burn = mar["current_burn_rate"].as_f64().expect("burn rate");
    assert!((burn - 20.0 / 1100.0 / 0.01).abs() < 1e-9, "{mar}");

    // The dashboard's SLO page shows the period in Berlin time and the time left.
    let page = get(port, "/slos/monthly").await;
    assert!(
        page.contains("2025-03-01 00:00 – 2025-04-01 00:00</strong>"),
        "{page}"
    );
    assert!(page.contains("Europe"), "{page}");
    assert!(page.contains("class=\"time-left\""), "{page}");

    let _ = stop.send(());
    server.await.expect("server task").expect("server");
}
