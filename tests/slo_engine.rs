//! The SLO engine in a real `redline run`: it scrapes a test server whose request counters the
//! test advances (2 % errors), keeps the per-step ledger, answers `/api/v1/slos` with the
//! figures, writes `slo:` series that `/api/v1/query` reads, shows them on `/metrics`, fires
//! the slow-burn ticket alert, and keeps the ledger across a kill -9 and restart.
//!
//! Time is compressed with `slo.ledger_step: 1s` (one ledger "minute" per second), so the
//! 5m/1h/… windows are 5/60/… steps.

mod common;

use common::{free_port, get_json, FixtureServer, ProcessGuard};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SLO: &str = r#"
version: redline/v1
service: shop
owner: team-shop
slos:
  - name: requests
    objective: 99
    window: {rolling: 30d}
    sli:
      ratio:
        errors: sum(rate(http_requests_total{job="app",code=~"5.."}[{{.window}}]))
        total: sum(rate(http_requests_total{job="app"}[{{.window}}]))
"#;

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("redline-slo-engine-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn start(dir: &Path, port: u16) -> ProcessGuard {
    let child = Command::new(env!("CARGO_BIN_EXE_redline"))
        .args(["run", "--config"])
        .arg(dir.join("redline.yml"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--state-dir"])
        .arg(dir.join("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redline run");
    ProcessGuard(child)
}

fn body(ticks: u64) -> String {
    // Per tick 98 good and 2 failed requests: exactly 2 % errors between any two scrapes.
    format!(
        "# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {}\nhttp_requests_total{{code=\"500\"}} {}\n",
        98 * ticks,
        2 * ticks
    )
}

async fn slo(port: u16) -> Option<serde_json::Value> {
    let v = get_json_opt(&format!(
        "http://127.0.0.1:{port}/api/v1/slos/shop/requests"
    ))
    .await?;
    (v["status"] == "success").then(|| v["data"].clone())
}

/// Polls the async `check` until it returns `Some`, failing after `deadline`.
async fn wait_for_async<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = std::time::Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < end,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn get_json_opt(url: &str) -> Option<serde_json::Value> {
    let r = reqwest::get(url).await.ok()?;
    serde_json::from_str(&r.text().await.ok()?).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_figures_series_alerts_and_restart() {
    redline::install_crypto_provider();
    let srv = FixtureServer::start(&body(0), "text/plain").await;
    let ticks = Arc::new(AtomicU64::new(0));
    {
        let (srv, ticks) = (srv.clone(), ticks.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let t = ticks.fetch_add(1, Ordering::SeqCst) + 1;
                srv.set_body(&body(t));
            }
        });
    }
    let dir = tempdir();
    std::fs::write(dir.join("slo.yml"), SLO).unwrap();
    std::fs::write(
        dir.join("redline.yml"),
        format!(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nslo_files: ['slo.yml']\nslo:\n  evaluation_interval: 1s\n  ledger_step: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{}']\n",
            srv.addr
        ),
    )
    .unwrap();
    let port = free_port();
    let guard = start(&dir, port);

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
    assert!(f["burn_down"].as_array().is_some_and(|b| !b.is_empty()));

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

    // kill -9 and restart: the ledger is kept, and the gap is back-filled from the counters
    // (they did not reset), so nothing is lost and no gap shows.
    drop(guard);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _guard = start(&dir, port);
    let after = wait_for_async(
        "figures after the restart",
        Duration::from_secs(60),
        || async {
            slo(port)
                .await
                .filter(|d| d["total_events"].as_f64().unwrap_or(0.0) > total + 500.0)
        },
    )
    .await;
    let t2 = after["total_events"].as_f64().unwrap();
    let b2 = after["bad_events"].as_f64().unwrap();
    assert!((b2 / t2 - 0.02).abs() < 1e-9, "{b2}/{t2}");
    assert_eq!(after["gaps"].as_array().map(Vec::len), Some(0), "{after}");
    let _ = std::fs::remove_dir_all(&dir);
}
