//! A composite SLO in a real `redline run`: two parts scraped from a test server (checkout
//! failing 10 % of its requests, search 20 %), a composite weighing checkout 3 and search 1.
//! The composite's figures through `/api/v1/slos` are checked against the parts' own: each
//! minute the composite averages the parts' error ratios by weight, so with both parts at
//! steady ratios its error ratio is (3 × 0.1 + 1 × 0.2) / 4 = 0.125, not the traffic-weighted
//! (10 + 10) / (100 + 50) = 0.133 of pooling the requests. The dashboard lists the composite
//! and shows its parts.
//!
//! Time is compressed with `slo.ledger_step: 1s`, as in `slo_engine.rs`.

mod common;

use common::get_json;
use common::slo::{get_json_opt, run_slo_engine, ticking_server, wait_for_async as wait_for};
use redline::testdir::TempDir;
use std::time::Duration;

const SLO: &str = r#"
version: redline/v1
service: shop
owner: team-shop
slos:
  - name: checkout
    objective: 99
    window: {rolling: 30d}
    sli:
      ratio:
        errors: sum(rate(checkout_requests_total{code="500"}[{{.window}}]))
        total: sum(rate(checkout_requests_total[{{.window}}]))
  - name: search
    objective: 99
    window: {rolling: 30d}
    sli:
      ratio:
        errors: sum(rate(search_requests_total{code="500"}[{{.window}}]))
        total: sum(rate(search_requests_total[{{.window}}]))
  - name: journey
    objective: 95
    window: {rolling: 30d}
    sli:
      composite:
        - {slo: checkout, weight: 3}
        - {slo: search}
"#;

/// Per tick: checkout 90 good and 10 failed requests, search 40 good and 10 failed.
fn body(ticks: u64) -> String {
    format!(
        "# TYPE checkout_requests_total counter\ncheckout_requests_total{{code=\"200\"}} {}\ncheckout_requests_total{{code=\"500\"}} {}\n# TYPE search_requests_total counter\nsearch_requests_total{{code=\"200\"}} {}\nsearch_requests_total{{code=\"500\"}} {}\n",
        90 * ticks,
        10 * ticks,
        40 * ticks,
        10 * ticks
    )
}

async fn slo(port: u16, id: &str) -> Option<serde_json::Value> {
    let v = get_json_opt(&format!("http://127.0.0.1:{port}/api/v1/slos/{id}")).await?;
    (v["status"] == "success").then(|| v["data"].clone())
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * b.abs().max(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composite_figures_follow_the_parts() {
    redline::install_crypto_provider();
    let (srv, ticks) = ticking_server(body, false).await;
    let dir = TempDir::new("slo-composite");
    let (port, _guard) = run_slo_engine(&dir, SLO, srv.addr);
    wait_for("the first scrape", Duration::from_secs(60), || async {
        let q = get_json_opt(&format!(
            "http://127.0.0.1:{port}/api/v1/query?query=count(checkout_requests_total)"
        ))
        .await?;
        (q["data"]["result"][0]["value"][1] == "2").then_some(())
    })
    .await;
    ticks.lock().unwrap().0 = true;
    // Enough traffic in both parts, then hold it so the figures settle.
    wait_for(
        "traffic in the composite",
        Duration::from_secs(60),
        || async {
            slo(port, "shop/journey")
                .await
                .filter(|d| f(&d["total_events"]) >= 40.0)
        },
    )
    .await;
    let held = {
        let mut t = ticks.lock().unwrap();
        t.0 = false;
        t.1
    };
    let (checkout, search, journey) = wait_for(
        "the parts to count every request sent",
        Duration::from_secs(30),
        || async {
            let c = slo(port, "shop/checkout").await?;
            let s = slo(port, "shop/search").await?;
            let j = slo(port, "shop/journey").await?;
            let done = f(&c["total_events"]) == 100.0 * held as f64
                && f(&s["total_events"]) == 50.0 * held as f64;
            // The composite's figures of the same round: its parts' entries carry the
            // parts' attainment as the parts' own figures show it.
            let same = j["parts"][0]["attainment"] == c["attainment"]
                && j["parts"][1]["attainment"] == s["attainment"];
            (done && same).then_some((c, s, j))
        },
    )
    .await;
    let ratio = |v: &serde_json::Value| f(&v["bad_events"]) / f(&v["total_events"]);
    // The parts: exactly 10 % and 20 % of their requests failed.
    assert!(close(ratio(&checkout), 0.1), "{checkout}");
    assert!(close(ratio(&search), 0.2), "{search}");
    // The composite: weight 4 a minute with traffic in both parts, bad 3 × 0.1 + 0.2 = 0.5;
    // its error ratio is the parts' weighted average.
    let weighted = (3.0 * ratio(&checkout) + ratio(&search)) / 4.0;
    assert!(close(weighted, 0.125));
    assert!(close(ratio(&journey), weighted), "{journey}");
    let minutes = f(&journey["total_events"]) / 4.0;
    assert!(
        minutes >= 10.0 && (minutes - minutes.round()).abs() < 1e-9,
        "{journey}"
    );
    // Budget 5 %: 0.125 burns it 2.5 times over, in every window holding traffic.
    assert!(
        close(f(&journey["window_burn_rates"]["1h"]), 2.5),
        "{journey}"
    );
    assert!(close(f(&journey["attainment"]), 0.875));
    // The parts as the API lists them.
    let parts = journey["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["slo"], "shop/checkout");
    assert_eq!(parts[0]["weight"], 3.0);
    assert_eq!(parts[1]["slo"], "shop/search");
    assert_eq!(parts[1]["weight"], 1.0);
    // Over the composite's 1h burn window (all the traffic): checkout brought 0.3 of each
    // minute's 0.5 bad, search 0.2.
    assert!(close(f(&parts[0]["burn_share"]), 0.6), "{journey}");
    assert!(close(f(&parts[1]["burn_share"]), 0.4), "{journey}");
    assert!(close(f(&parts[0]["error_ratio"]), 0.1));
    assert!(close(f(&parts[1]["error_ratio"]), 0.2));
    assert_eq!(
        parts[0]["budget_remaining_ratio"],
        checkout["error_budget"]["remaining_ratio"]
    );
    // Plain SLOs have no parts; the list holds the composite with its parts.
    assert!(checkout.get("parts").is_none(), "{checkout}");
    let list = get_json(&format!("http://127.0.0.1:{port}/api/v1/slos")).await;
    let listed = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "shop/journey")
        .cloned()
        .expect("journey listed");
    assert_eq!(listed["parts"].as_array().map(Vec::len), Some(2));

    // The dashboard: the overview marks the composite, its page lists the parts with links.
    let overview = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let row = overview
        .split("<tr class=\"slo ")
        .find(|r| r.contains(">journey</a>"))
        .expect("journey row");
    assert!(row.contains("class=\"composite\""), "{row}");
    let other = overview
        .split("<tr class=\"slo ")
        .find(|r| r.contains(">checkout</a>"))
        .expect("checkout row");
    assert!(!other.contains("class=\"composite\""), "{other}");
    let page = reqwest::get(format!("http://127.0.0.1:{port}/slos/journey"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<h2>Parts</h2>"), "{page}");
    assert!(page.contains("href=\"/slos/shop%2Fcheckout\""), "{page}");
    assert!(page.contains("href=\"/slos/shop%2Fsearch\""), "{page}");
    // The part link leads to the part's page.
    let part = reqwest::get(format!("http://127.0.0.1:{port}/slos/shop%2Fsearch"))
        .await
        .unwrap();
    assert_eq!(part.status(), 200);
    assert!(part.text().await.unwrap().contains("<h1>SLO search</h1>"));
}
