//! The demo, full on first load: right after `redline demo` is ready, every page shows data
//! from its back-filled history (no "no data", chart lines drawn), the SLO ledgers hold a
//! month with the past incident, and the charts read at 1280 px (axis text at least 11 px,
//! tick labels that differ, the time axis' zone, a hover title on the points). Screenshots
//! of the pages in [`SCREENSHOTS`] are saved at 1280×800.
#![allow(dead_code)]

use super::browser::Browser;
use serde_json::Value;
use std::path::Path;

/// The pages shown in the README, as `(file name, path)`: each is saved as
/// `docs/screenshots/<name>.png`. Add the alert timeline (`/alerts/<fingerprint>`) and the
/// explain page (`/explain`) here once they exist.
pub const SCREENSHOTS: [(&str, &str); 4] = [
    ("overview", "/"),
    ("slo", "/slos/checkout-availability"),
    ("use", "/use"),
    ("red", "/red"),
];

/// The demo's SLOs.
const SLOS: [&str; 4] = [
    "checkout-availability",
    "checkout-latency",
    "catalog-latency",
    "catalog-availability",
];

/// Pages that must show data at the first request, with the charts each must draw.
const PAGES: [(&str, usize); 6] = [
    ("/", 0),
    ("/use", 1),
    ("/red", 6),
    ("/alerts", 0),
    ("/reports", 0),
    ("/rules", 0),
];

/// Facts about the charts of the current page, measured by the browser: per chart, the
/// rendered size of its smallest axis text in CSS pixels, its y and x tick labels, the
/// number of drawn lines with a non-empty path, and the hover points with and without a
/// title.
const CHART_FACTS: &str = r#"
return Array.from(document.querySelectorAll('svg.chart')).map(svg => {
  const vb = svg.viewBox.baseVal;
  const scale = svg.getBoundingClientRect().width / vb.width;
  const sizes = Array.from(svg.querySelectorAll('.axis text'))
    .map(t => parseFloat(getComputedStyle(t).fontSize) * scale);
  const texts = sel => Array.from(svg.querySelectorAll(sel)).map(t => t.textContent);
  const points = Array.from(svg.querySelectorAll('circle.pt'));
  return {
    title: svg.getAttribute('aria-label'),
    min_font: sizes.length ? Math.min(...sizes) : 0,
    y: texts('.axis.y text'),
    x: texts('.axis.x text:not(.axis-unit)'),
    zone: texts('.axis-unit'),
    lines: Array.from(svg.querySelectorAll('path.line')).filter(p => (p.getAttribute('d') || '').length > 10).length,
    points: points.length,
    titled: points.filter(p => p.querySelector('title') && /\d\d:\d\d/.test(p.querySelector('title').textContent)).length,
    nodata: svg.querySelector('.nodata') !== null,
  };
});
"#;

fn distinct(v: &[Value]) -> bool {
    let mut seen = std::collections::HashSet::new();
    v.iter().all(|x| seen.insert(x.to_string()))
}

/// Checks the charts of the page open in `b` (named `page` in messages): at least
/// `with_data` of them draw a line, and every one that draws anything reads at 1280 px.
async fn check_charts(b: &Browser, page: &str, with_data: usize) {
    let facts = b.execute(CHART_FACTS).await;
    let charts = facts.as_array().cloned().unwrap_or_default();
    let drawn = charts
        .iter()
        .filter(|c| c["lines"].as_u64().unwrap_or(0) > 0)
        .count();
    assert!(
        drawn >= with_data,
        "{page}: {drawn} charts draw a line, expected {with_data}: {facts}"
    );
    for c in &charts {
        let title = &c["title"];
        assert_eq!(c["nodata"], false, "{page}: chart {title} says no data");
        let min_font = c["min_font"].as_f64().unwrap_or(0.0);
        assert!(
            min_font >= 11.0,
            "{page}: chart {title}'s axis text renders at {min_font:.1}px"
        );
        let (y, x) = (
            c["y"].as_array().cloned().unwrap_or_default(),
            c["x"].as_array().cloned().unwrap_or_default(),
        );
        assert!(
            y.len() >= 2 && distinct(&y),
            "{page}: chart {title}'s y ticks {y:?}"
        );
        assert!(
            x.len() >= 2 && distinct(&x),
            "{page}: chart {title}'s time ticks {x:?}"
        );
        assert_eq!(c["zone"][0], "UTC", "{page}: chart {title} names its zone");
        assert_eq!(
            c["points"], c["titled"],
            "{page}: chart {title}: every hover point has a title with its time"
        );
        if c["lines"].as_u64().unwrap_or(0) > 0 {
            assert!(
                c["points"].as_u64().unwrap_or(0) > 0,
                "{page}: chart {title} has hover points"
            );
        }
    }
}

/// Opens `path` at `base`, checks it has data and its charts read, and returns its HTML.
async fn open(b: &Browser, base: &str, path: &str, with_data: usize) -> String {
    b.goto(&format!("{base}{path}")).await;
    let html = b.source().await;
    assert!(
        !html.to_lowercase().contains("no data"),
        "{path} has no data at the first request:\n{html}"
    );
    check_charts(b, path, with_data).await;
    html
}

/// Makes the browser's viewport 1280×800.
async fn viewport_1280x800(b: &Browser) {
    let mut size = (1280, 800);
    for _ in 0..3 {
        b.cmd(
            reqwest::Method::POST,
            "/window/rect",
            Some(serde_json::json!({"width": size.0, "height": size.1})),
        )
        .await;
        let inner = b
            .execute("return [window.innerWidth, window.innerHeight];")
            .await;
        let (w, h) = (
            inner[0].as_i64().unwrap_or(0),
            inner[1].as_i64().unwrap_or(0),
        );
        if (w, h) == (1280, 800) {
            return;
        }
        size = (size.0 + 1280 - w, size.1 + 800 - h);
    }
    panic!("the browser's viewport does not become 1280x800");
}

/// Every page of the demo right after it is ready: data at the first request. Screenshots of
/// [`SCREENSHOTS`] go to `shots` (and to `docs/` when `docs` is given).
pub async fn every_page_has_data_at_first_load(
    b: &Browser,
    base: &str,
    ledger_step_ms: f64,
    shots: &Path,
    docs: Option<&Path>,
) {
    viewport_1280x800(b).await;
    // The SLO ledgers hold the SLO period back-filled from the store, with the past incident.
    let slos = super::common::get_json(&format!("{base}/api/v1/slos")).await;
    let slos = slos["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(slos.len(), SLOS.len(), "{slos:?}");
    for f in &slos {
        let name = f["name"].as_str().unwrap_or_default();
        assert_eq!(
            f["backfilled_from"]["complete"], true,
            "{name}: back-filled before serving: {f}"
        );
        assert_eq!(f["backfilled_from"]["source"], "store", "{name}: {f}");
        // 30 days (28 for catalog-availability) of ledger steps, all back-filled.
        let days = (f["backfilled_from"]["end_ms"].as_f64().unwrap_or(0.0)
            - f["backfilled_from"]["start_ms"].as_f64().unwrap_or(0.0))
            / ledger_step_ms
            / 1440.0;
        assert!(days >= 27.9, "{name}: {days} days back-filled: {f}");
        assert!(f["total_events"].as_f64().unwrap_or(0.0) > 0.0, "{name}");
    }
    // The past incident spent part of checkout's availability budget: the steady 0.03% of
    // errors alone spend 30% of a 0.1% budget, the incident (5% of 2.5 hours' requests in
    // 30 days, at that hour's traffic) at least a tenth more.
    let checkout = slos
        .iter()
        .find(|f| f["name"] == "checkout-availability")
        .expect("checkout-availability");
    let consumed = checkout["error_budget"]["consumed_ratio"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(
        (0.4..0.95).contains(&consumed),
        "checkout-availability consumed {consumed} of its budget"
    );
    // The report of the current period shows the past incident (when the period holds it:
    // it started 3 days 7 hours of scenario time before the demo).
    let reports =
        super::common::get_json(&format!("{base}/api/v1/reports?owner=team-payments")).await;
    let report = reports["data"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|r| r["slo"] == "checkout/checkout-availability")
        })
        .cloned()
        .unwrap_or_else(|| panic!("no report of checkout-availability: {reports}"));
    let incident_at = redline::timefmt::now_ms() as f64
        - (3.0 * 86_400.0 + 7.0 * 3_600.0) * ledger_step_ms / 60.0;
    if report["start_ms"].as_f64().unwrap_or(f64::MAX) < incident_at {
        let incidents = report["incidents"].as_array().cloned().unwrap_or_default();
        assert!(
            incidents.iter().any(
                |i| i["budget_consumed_ratio"].as_f64().unwrap_or(0.0) > 0.05
                    && i["minutes"].as_u64().unwrap_or(0) >= 60
            ),
            "the report shows the past incident: {report}"
        );
    }
    for (path, charts) in PAGES {
        open(b, base, path, charts).await;
    }
    for slo in SLOS {
        // The burn-down and the hourly SLI over the SLO window, and the latency quantiles.
        let html = open(b, base, &format!("/slos/{slo}"), 3).await;
        assert!(html.contains("Burn rates"), "{slo}: {html}");
    }
    // Once every node has been scraped live, the history's recording-rule series (which
    // carry the nodes' target labels) are still there: a first scrape marks stale only what
    // its target stopped exposing, not the rules' series.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let up = super::common::get_json(&format!(
            "{base}/api/v1/query?query=count(up%7Bjob%3D%22node-exporter%22%7D)"
        ))
        .await;
        if up["data"]["result"][0]["value"][1] == "3" {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "the nodes were never scraped: {up}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let html = open(b, base, "/use", 1).await;
    for node in ["demo-node-1", "demo-node-2", "demo-node-3"] {
        assert!(
            html.contains(&format!("<td class=\"key\">{node}</td>")),
            "the USE table lists {node} after the first scrapes:\n{html}"
        );
    }
    for (name, path) in SCREENSHOTS {
        b.goto(&format!("{base}{path}")).await;
        b.screenshot(shots, name).await;
        if let Some(d) = docs {
            b.screenshot(d, name).await;
        }
    }
}
