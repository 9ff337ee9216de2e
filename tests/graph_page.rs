//! The link in every notification works: an alert's `generatorURL`
//! (`<external-url>/graph?g0.expr=...`) opens a page with the expression, its current result
//! and a chart; a query that fails shows its error there instead.

mod common;

use common::{get_json, FixtureServer};
use redline::config::Config;
use redline::service::{Service, ServiceOptions};
use redline::testdir::TempDir;
use std::time::Duration;

const RULES: &str = r#"
groups:
  - name: load
    interval: 200ms
    rules:
      - alert: HighLoad
        expr: node_load1{job="app"} > 1.5
        labels:
          severity: page
"#;

/// The page's status and its HTML with the entities the templates write turned back into
/// text, so assertions read like the page does.
async fn get_text(url: &str) -> (u16, String) {
    redline::install_crypto_provider();
    let r = reqwest::get(url).await.expect("GET");
    let status = r.status().as_u16();
    let html = r.text().await.expect("body");
    let text = html
        .replace("&quot;", "\"")
        .replace("&#x3D;", "=")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alerts_generator_url_opens_the_graph_of_its_expression() {
    let app = FixtureServer::start(
        "# TYPE node_load1 gauge\nnode_load1 2.75\n",
        "text/plain; version=0.0.4",
    )
    .await;
    let dir = TempDir::new("graph");
    std::fs::write(dir.join("load.rules.yml"), RULES).expect("write rules");
    std::fs::write(
        dir.join("redline.yml"),
        format!(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nrule_files: ['load.rules.yml']\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{}']\nalertmanager:\n  config:\n    route: {{receiver: team}}\n    receivers: [{{name: team}}]\n",
            app.addr
        ),
    )
    .expect("write config");
    let cfg = Config::load_file(&dir.join("redline.yml")).expect("config loads");
    let opts = ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir.join("state"));
    let svc = Service::start(cfg, opts).await.expect("service starts");
    let base = format!("http://{}", svc.local_addr);

    // The alert as the pipeline holds it, with the link every notification carries.
    let mut generator = None;
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while generator.is_none() {
        let alerts = get_json(&format!("{base}/api/v2/alerts")).await;
        generator = alerts
            .as_array()
            .and_then(|a| a.first())
            .and_then(|a| a["generatorURL"].as_str())
            .map(str::to_string);
        assert!(
            std::time::Instant::now() < end,
            "no alert reached the pipeline"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let generator = generator.unwrap_or_default();
    assert!(
        generator.starts_with(&format!("{base}/graph?g0.expr=")),
        "{generator}"
    );

    let (status, html) = get_text(&generator).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(r#"node_load1{job="app"} > 1.5</textarea>"#),
        "the page shows the alert's expression: {html}"
    );
    // The current result: the scraped series with the target's labels and its value.
    let row = html
        .split("<tbody>")
        .nth(1)
        .and_then(|t| t.split("</tbody>").next())
        .unwrap_or_default();
    assert!(row.contains("node_load1"), "{row}");
    assert!(
        row.contains(&format!(
            r#"node_load1{{instance="{}", job="app"}}"#,
            app.addr
        )),
        "{row}"
    );
    assert!(row.contains("<td class=\"num\">2.75</td>"), "{row}");
    // The chart (over the last minute, a point a second) draws the series' line once the
    // range holds two scrapes of it.
    let end = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, html) = get_text(&format!("{generator}&g0.range_input=1m")).await;
        if html.contains("<svg class=\"chart\"") && html.contains("class=\"line\"") {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "no line on the chart: {html}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Control: a query that does not parse shows its error, not an empty result.
    let (status, bad) = get_text(&format!("{base}/graph?g0.expr=sum%28")).await;
    assert_eq!(status, 200);
    assert!(bad.contains("unclosed left parenthesis"), "{bad}");
    assert!(!bad.contains("<table class=\"result\""), "{bad}");
    // And an expression that matches nothing says so.
    let (_, none) = get_text(&format!("{base}/graph?g0.expr=no_such_metric")).await;
    assert!(none.contains("Empty result"), "{none}");

    svc.shutdown().await;
}
