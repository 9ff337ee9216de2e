//! The SLO engine in a real `redline run`: it scrapes a test server whose request counters the
//! test advances (2 % errors), keeps the per-step ledger, answers `/api/v1/slos` with the
//! figures, writes `slo:` series that `/api/v1/query` reads, shows them on `/metrics`, fires
//! the slow-burn ticket alert, and keeps the ledger across a kill -9 and restart.
//!
//! Time is compressed with `slo.ledger_step: 1s` (one ledger "minute" per second), so the
//! 5m/1h/… windows are 5/60/… steps.
//!
//! The test holds the traffic still when it needs exact figures: redline's first scrape sees
//! the counters at 0 and the ledger counts counters exactly, so with the traffic held at tick
//! T the SLO has counted exactly 100·T requests and 2·T errors. That is how the restart is
//! checked: redline is killed with the traffic held, and the first figures after the restart
//! must already hold those 100·T requests, which a fresh ledger (it would count from the
//! counters' values at its first scrape) cannot have.

mod common;

use common::slo::{get_json_opt, wait_for_async};
use common::{free_port, get_json, FixtureServer, ProcessGuard};
use redline::testdir::TempDir;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn tempdir() -> TempDir {
    TempDir::new("slo-engine")
}

fn start(dir: &Path, port: u16) -> ProcessGuard {
    let child = common::redline_run(&dir.join("redline.yml"), port, &dir.join("state"))
        .spawn()
        .expect("start redline run");
    ProcessGuard(child)
}

/// The SLO `shop/requests` (99 %) over the test server's counters.
fn slo_spec() -> String {
    redline::slo::testkit::ratio_spec("shop", "team-shop", "requests", 99.0, "app")
}

fn body(ticks: u64) -> String {
    redline::slo::testkit::requests_exposition(ticks)
}

async fn slo(port: u16) -> Option<serde_json::Value> {
    let v = get_json_opt(&format!(
        "http://127.0.0.1:{port}/api/v1/slos/shop/requests"
    ))
    .await?;
    (v["status"] == "success").then(|| v["data"].clone())
}

/// The test server's request counters: while `running`, 100 more requests (2 of them
/// failed) every 100 ms. The lock makes "hold the traffic and read the tick" one step.
#[derive(Default)]
struct Traffic {
    running: bool,
    ticks: u64,
}

/// Holds the traffic still; returns the tick it stopped at.
fn hold(traffic: &Mutex<Traffic>) -> u64 {
    let mut t = traffic.lock().unwrap();
    t.running = false;
    t.ticks
}

fn resume(traffic: &Mutex<Traffic>) {
    traffic.lock().unwrap().running = true;
}

/// Waits until the figures hold exactly the requests of `ticks` ticks (the traffic is held).
async fn wait_for_exact_total(port: u16, ticks: u64) -> serde_json::Value {
    let want = 100.0 * ticks as f64;
    wait_for_async(
        &format!("the figures to count the {want} requests sent"),
        Duration::from_secs(30),
        || async move { slo(port).await.filter(|d| d["total_events"] == want) },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_figures_series_alerts_and_restart() {
    redline::install_crypto_provider();
    let srv = FixtureServer::start(&body(0), "text/plain").await;
    // Held at 0 until redline has scraped the counters once, so that the ledger counts from 0.
    let traffic = Arc::new(Mutex::new(Traffic::default()));
    {
        let (srv, traffic) = (srv.clone(), traffic.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let mut t = traffic.lock().unwrap();
                if t.running {
                    t.ticks += 1;
                    srv.set_body(&body(t.ticks));
                }
            }
        });
    }
    let dir = tempdir();
    std::fs::write(dir.join("slo.yml"), slo_spec()).unwrap();
    std::fs::write(
        dir.join("redline.yml"),
        format!(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nslo_files: ['slo.yml']\nslo:\n  evaluation_interval: 1s\n  ledger_step: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{}']\n",
            srv.addr
        ),
    )
    .unwrap();
    let port = free_port();
    let started_ms = redline::timefmt::now_ms();
    let guard = start(&dir, port);
    wait_for_async(
        "the first scrape of the counters",
        Duration::from_secs(60),
        || async {
            let q = get_json_opt(&format!(
                "http://127.0.0.1:{port}/api/v1/query?query=count(http_requests_total)"
            ))
            .await?;
            (q["data"]["result"][0]["value"][1] == "2").then_some(())
        },
    )
    .await;
    resume(&traffic);

    let f = wait_for_async(
        "SLO figures with traffic",
        Duration::from_secs(60),
        || async {
            slo(port)
                .await
                .filter(|d| d["total_events"].as_f64().unwrap_or(0.0) >= 2_000.0)
        },
    )
    .await;
    let total = f["total_events"].as_f64().unwrap();
    let bad = f["bad_events"].as_f64().unwrap();
    // Exactly 2 % of the counted requests failed: attainment 0.98, burn rate 2 against a 1 %
    // budget, twice the budget spent.
    assert!((bad / total - 0.02).abs() < 1e-9, "{bad}/{total}");
    assert!((f["attainment"].as_f64().unwrap() - 0.98).abs() < 1e-9);
    assert!((f["error_budget"]["consumed_ratio"].as_f64().unwrap() - 2.0).abs() < 1e-6);
    assert_eq!(f["budget_exhausted"], true);
    assert_eq!(f["owner"], "team-shop");
    let rows = f["burn_rates"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let firing: Vec<&str> = rows
        .iter()
        .filter(|r| r["firing"] == true)
        .map(|r| r["long_window"].as_str().unwrap())
        .collect();
    // 2x burns slower than 14.4x, 6x and 3x: only the 1x ticket (3d/6h) fires.
    assert_eq!(firing, vec!["3d"], "{rows:?}");

    // The list.
    let list = get_json(&format!("http://127.0.0.1:{port}/api/v1/slos")).await;
    assert_eq!(list["status"], "success");
    assert_eq!(list["data"][0]["id"], "shop/requests");

    // The `slo:` series through PromQL.
    let q = get_json(&format!(
        "http://127.0.0.1:{port}/api/v1/query?query=slo:attainment:ratio"
    ))
    .await;
    let v: f64 = q["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((v - 0.98).abs() < 1e-9, "{q}");
    assert_eq!(q["data"]["result"][0]["metric"]["slo"], "requests");
    let q = get_json(&format!(
        "http://127.0.0.1:{port}/api/v1/query?query=slo:burn_rate:ratio{{window=\"1h\"}}"
    ))
    .await;
    let v: f64 = q["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((v - 2.0).abs() < 1e-6, "{q}");
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("redline_slo_attainment_ratio{"),
        "{metrics}"
    );

    // The alert reached the pipeline (Alertmanager API).
    let alerts = wait_for_async("the SLO ticket alert", Duration::from_secs(20), || async {
        let a = get_json_opt(&format!("http://127.0.0.1:{port}/api/v2/alerts")).await?;
        let list = a.as_array()?.clone();
        list.iter()
            .any(|x| x["labels"]["alertname"] == "SLOBurnRate")
            .then_some(list)
    })
    .await;
    let burn = alerts
        .iter()
        .find(|x| x["labels"]["alertname"] == "SLOBurnRate")
        .unwrap();
    assert_eq!(burn["labels"]["severity"], "ticket");
    assert_eq!(burn["labels"]["tier"], "3d/6h");
    assert_eq!(burn["labels"]["owner"], "team-shop");

    // Hold the traffic: the figures settle at exactly 100 requests and 2 errors a tick.
    let held = hold(&traffic);
    let f = wait_for_exact_total(port, held).await;
    assert_eq!(f["bad_events"], 2.0 * held as f64, "{f}");
    // The burn-down: after each stretch of the 30-day window the share of its budget (1 % of
    // all 100·T requests) still left. It starts at 1 (the window opens 30 days before redline
    // saw any request), only falls, and ends at 1 − 2·T / (0.01 · 100·T) = −1, today's
    // remaining ratio.
    let points: Vec<(f64, f64)> = f["burn_down"]
        .as_array()
        .expect("burn_down")
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
        .collect();
    assert!(points.len() >= 2, "{points:?}");
    for w in points.windows(2) {
        assert!(w[0].0 < w[1].0, "time goes forward: {w:?}");
        assert!(w[1].1 <= w[0].1 + 1e-12, "the budget only falls: {w:?}");
    }
    assert_eq!(points[0].1, 1.0, "{:?}", &points[..3.min(points.len())]);
    let (last_t, last) = *points.last().unwrap();
    assert!((last + 1.0).abs() < 1e-9, "ends at {last}");
    let remaining = f["error_budget"]["remaining_ratio"].as_f64().unwrap();
    assert!((remaining + 1.0).abs() < 1e-9, "{f}");
    assert!(
        last_t * 1000.0 <= f["window_end_ms"].as_f64().unwrap(),
        "{f}"
    );

    // kill -9 with the traffic held, then let it run while redline is down and hold it again.
    drop(guard);
    let down_from = held;
    resume(&traffic);
    wait_for_async(
        "traffic while redline is down",
        Duration::from_secs(10),
        || {
            let t = traffic.lock().unwrap().ticks;
            std::future::ready((t >= down_from + 20).then_some(()))
        },
    )
    .await;
    let held_again = hold(&traffic);
    let _guard = start(&dir, port);
    // The first figures after the restart already hold every request counted before the kill
    // (100·T): a fresh ledger would count from the counters' values at its first scrape and
    // show 0 here. They may also hold the downtime's requests if the gap was back-filled in
    // the same round: then 100·T'.
    let first = wait_for_async(
        "the first figures after the restart",
        Duration::from_secs(60),
        || async { slo(port).await },
    )
    .await;
    let (before, with_gap) = (100.0 * held as f64, 100.0 * held_again as f64);
    let t1 = first["total_events"].as_f64().unwrap();
    assert!(
        t1 == before || t1 == with_gap,
        "want {before} or {with_gap}: {first}"
    );
    assert_eq!(first["bad_events"].as_f64().unwrap(), t1 / 50.0, "{first}");
    // The gap is back-filled from the counters (they did not reset): exactly the requests sent
    // while redline was down are added, nothing is lost and no gap shows.
    let after = wait_for_exact_total(port, held_again).await;
    assert_eq!(after["bad_events"], 2.0 * held_again as f64, "{after}");
    // (The one gap is the back-fill's: the period before the store's first sample, which
    // starts before this run; none opened while redline was down.)
    let gaps = after["gaps"].as_array().unwrap();
    assert!(
        gaps.iter()
            .all(|g| g["start_ms"].as_i64().unwrap() < started_ms),
        "{after}"
    );
    // And counting goes on after the restart.
    resume(&traffic);
    wait_for_async("traffic after the restart", Duration::from_secs(10), || {
        let t = traffic.lock().unwrap().ticks;
        std::future::ready((t >= held_again + 20).then_some(()))
    })
    .await;
    let last = hold(&traffic);
    let end = wait_for_exact_total(port, last).await;
    assert_eq!(end["bad_events"], 2.0 * last as f64, "{end}");
}
