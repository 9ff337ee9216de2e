//! SLO reports in a real `redline run`: a scraped counter pair with 2 % errors against a 99 %
//! objective (every minute burns budget: one incident), then, with the traffic held still,
//! the per-SLO and per-owner report API in JSON and CSV, and the printable owner page, all
//! with the same figures. Time is compressed with `slo.ledger_step: 1s`.

mod common;

use redline::testdir::TempDir;
use serde_json::Value;
use std::time::{Duration, Instant};

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

fn body(ticks: u64) -> String {
    format!(
        "# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {}\nhttp_requests_total{{code=\"500\"}} {}\n",
        98 * ticks,
        2 * ticks
    )
}

async fn get(url: &str) -> Option<(String, String)> {
    let r = reqwest::get(url).await.ok()?;
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Some((ct, r.text().await.ok()?))
}

async fn json(url: &str) -> Option<Value> {
    serde_json::from_str(&get(url).await?.1).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_api_csv_and_page_agree() {
    redline::install_crypto_provider();
    let (srv, running) = common::slo::ticking_server(body, true).await;
    let dir = TempDir::new("slo-reports");
    let (port, _guard) = common::slo::run_slo_engine(&dir, SLO, srv.addr);
    let base = format!("http://127.0.0.1:{port}");
    let slo_reports = format!("{base}/api/v1/slos/shop/requests/reports");
    // Wait for a report with traffic and an incident, then hold the traffic and wait until
    // two answers a few rounds apart agree (the figures stand still).
    let end = Instant::now() + Duration::from_secs(90);
    let mut held = false;
    let mut last: Option<Value> = None;
    let report = loop {
        assert!(Instant::now() < end, "no settled report; last: {last:?}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let Some(v) = json(&slo_reports).await else {
            continue;
        };
        let r = v["data"][0].clone();
        if !held {
            if r["total_events"].as_f64().unwrap_or(0.0) >= 1000.0 {
                running.lock().unwrap().0 = false;
                held = true;
            }
            continue;
        }
        if last.as_ref() == Some(&r) {
            break r;
        }
        last = Some(r);
    };
    // 2 % errors: attainment 0.98, below 99 %; budget 1 % of the events, spent twice over.
    assert_eq!(report["slo"], "shop/requests");
    assert_eq!(report["owner"], "team-shop");
    let total = report["total_events"].as_f64().unwrap();
    let bad = report["bad_events"].as_f64().unwrap();
    assert!((bad / total - 0.02).abs() < 1e-9, "{report}");
    assert!((report["attainment"].as_f64().unwrap() - 0.98).abs() < 1e-9);
    assert_eq!(report["objective_met"], false);
    assert!((report["budget_spent_ratio"].as_f64().unwrap() - 2.0).abs() < 1e-6);
    assert!(report["downtime_minutes"].as_u64().unwrap() >= 1);
    assert!(!report["incidents"].as_array().unwrap().is_empty());
    let period = report["period"].as_str().unwrap().to_string();

    // The owner's reports of the period: JSON, then CSV, with the same figures.
    let owner_url = format!("{base}/api/v1/reports?owner=team-shop&period={period}");
    let owner = json(&owner_url).await.unwrap();
    assert_eq!(owner["data"].as_array().unwrap().len(), 1);
    assert_eq!(owner["data"][0]["total_events"], report["total_events"]);
    let (ct, csv) = get(&format!("{owner_url}&format=csv")).await.unwrap();
    assert!(ct.starts_with("text/csv"), "{ct}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    let head: Vec<&str> = lines[0].split(',').collect();
    let row: Vec<&str> = lines[1].split(',').collect();
    let col = |name: &str| row[head.iter().position(|h| *h == name).unwrap()];
    assert_eq!(col("period"), period);
    assert_eq!(col("owner"), "team-shop");
    for (c, k) in [
        ("total_events", "total_events"),
        ("bad_events", "bad_events"),
        ("attainment", "attainment"),
        ("budget_spent_ratio", "budget_spent_ratio"),
    ] {
        assert_eq!(
            col(c).parse::<f64>().unwrap(),
            report[k].as_f64().unwrap(),
            "CSV {c}"
        );
    }
    assert_eq!(
        col("downtime_minutes"),
        report["downtime_minutes"].to_string()
    );
    // `Accept: text/csv` gives the CSV too.
    let r = reqwest::Client::new()
        .get(&owner_url)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), csv);
    // A period that is not a month is refused.
    let bad_period = json(&format!("{base}/api/v1/reports?period=2026-13"))
        .await
        .unwrap();
    assert_eq!(bad_period["errorType"], "bad_data");

    // The index and the printable owner page.
    let (_, index) = get(&format!("{base}/reports")).await.unwrap();
    assert!(
        index.contains(&format!("href=\"/reports/team-shop/{period}\"")),
        "{index}"
    );
    let (_, page) = get(&format!("{base}/reports/team-shop/{period}"))
        .await
        .unwrap();
    assert!(page.contains("data-slo=\"shop/requests\""), "{page}");
    assert!(page.contains(&format!("data-value=\"{}\"", report["attainment"])));
    assert!(page.contains("@media print"));
    assert!(page.contains("break-before:page"));
}
