//! The dashboard stays bounded with many alerts: 50,000 alerts put through the pipeline,
//! `/alerts` renders one page (rows, totals and page links right, filters selecting the
//! right alerts), the overview shows counts and the top owners, not every alert; and the
//! silences and targets pages page and filter too.
//!
//! Expected figures are worked out by hand from how the alerts are generated (see
//! [`alerts`]), not taken from redline's output.

mod common;

use common::ServiceInDir;

use redline::alerting::{Alert, Silence};
use redline::config::alertmanager::{parse_matchers, Matchers};
use redline::config::Config;
use redline::scrape::discovery::DiscoveryOptions;
use redline::service::{Service, ServiceOptions};
use redline::store::Labels;
use redline::testdir::TempDir;
use std::time::Duration;

const N: usize = 50_000;

/// Alert `i`: `alertname` Load{i % 50}, `team` a for even i and b for odd, `severity`
/// critical when i % 10 == 0 else warning, a distinct `instance`.
///
/// The routes send team a to receiver team-a and the rest to team-b; a silence mutes
/// `alertname="Load7"` (i % 50 == 7: 1,000 alerts, all odd, so all team b). Hence:
/// firing 49,000; silenced 1,000; team a 25,000 (all firing); team b 25,000 (24,000
/// firing); team a and critical: i % 10 == 0, 5,000 alerts.
fn alerts() -> Vec<Alert> {
    (0..N)
        .map(|i| Alert {
            labels: Labels::from_pairs([
                ("alertname", format!("Load{}", i % 50)),
                ("team", if i % 2 == 0 { "a" } else { "b" }.to_string()),
                (
                    "severity",
                    if i % 10 == 0 { "critical" } else { "warning" }.to_string(),
                ),
                ("instance", format!("host-{i}:9100")),
            ]),
            annotations: Labels::from_pairs([("summary", format!("load on host {i}"))]),
            starts_at_ms: 0,
            ends_at_ms: 0,
            generator_url: String::new(),
            updated_at_ms: 0,
            timeout: false,
        })
        .collect()
}

const CONFIG: &str = "
alertmanager:
  config:
    route:
      receiver: team-b
      group_by: [alertname]
      group_wait: 1h
      routes:
        - matchers: ['team=\"a\"']
          receiver: team-a
    receivers: [{name: team-a}, {name: team-b}]
";

async fn start(name: &str) -> ServiceInDir {
    let cfg = Config::from_yaml_str(CONFIG, "test.yml").expect("config parses");
    ServiceInDir::start(
        cfg,
        &format!("dash-{name}"),
        |dir| ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir),
        DiscoveryOptions {
            file_poll_interval: Duration::from_millis(100),
            ..DiscoveryOptions::default()
        },
    )
    .await
}

async fn page(svc: &Service, path_and_query: &str) -> String {
    let r = reqwest::get(format!("http://{}{path_and_query}", svc.local_addr))
        .await
        .expect("dashboard answers");
    assert_eq!(r.status(), 200, "{path_and_query}");
    r.text().await.expect("page body")
}

/// The alert rows of an `/alerts` page.
fn rows(html: &str) -> Vec<&str> {
    html.split("<tr class=\"alert ").skip(1).collect()
}

/// `href="…"` of the link with `rel`, HTML entities of `&` and `=` undone.
fn link(html: &str, rel: &str) -> Option<String> {
    let at = html.find(&format!("rel=\"{rel}\" href=\""))?;
    let rest = &html[at + rel.len() + 13..];
    let end = rest.find('"')?;
    Some(rest[..end].replace("&amp;", "&").replace("&#x3D;", "="))
}

fn urlenc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_page_and_overview_render_one_page_of_50k_alerts() {
    let svc = start("dash-bounds").await;
    let p = svc.pipeline();
    let now = p.now_ms();
    p.silences()
        .upsert(
            Silence {
                id: String::new(),
                matchers: Matchers(parse_matchers("{alertname=\"Load7\"}").unwrap()),
                starts_at_ms: now,
                ends_at_ms: now + 3_600_000,
                updated_at_ms: now,
                created_by: "test".into(),
                comment: "silence Load7".into(),
            },
            now,
        )
        .await
        .expect("silence created");
    let all = alerts();
    for chunk in all.chunks(5_000) {
        p.put_alerts(chunk.to_vec()).await.expect("alerts taken");
    }

    // Default page: 100 rows of 50,000, a next link and no previous one.
    let html = page(&svc, "/alerts").await;
    assert_eq!(rows(&html).len(), 100);
    assert!(html.contains("showing 1–100 of 50,000"), "totals");
    assert_eq!(
        link(&html, "next").as_deref(),
        Some("/alerts?limit=100&page=2")
    );
    assert_eq!(link(&html, "prev"), None);
    // Counts per state over all 50,000.
    assert!(html.contains("firing (<span class=\"count\">49000</span>)"));
    assert!(html.contains("silenced (<span class=\"count\">1000</span>)"));
    assert!(
        html.len() < 1 << 20,
        "one page of HTML, not every alert: {} bytes",
        html.len()
    );

    // The last page holds the last 100; firing alerts come first, so it is all silenced.
    let html = page(&svc, "/alerts?page=500").await;
    let last = rows(&html);
    assert_eq!(last.len(), 100);
    assert!(html.contains("showing 49,901–50,000 of 50,000"));
    assert_eq!(link(&html, "next"), None);
    assert_eq!(
        link(&html, "prev").as_deref(),
        Some("/alerts?limit=100&page=499")
    );
    assert!(last.iter().all(|r| r.contains("state silenced")));

    // A matcher filter: team a and critical, 5,000 alerts, at most 1,000 a page.
    let filter = urlenc("{team=\"a\", severity=\"critical\"}");
    let html = page(&svc, &format!("/alerts?filter={filter}&limit=1000")).await;
    let r = rows(&html);
    assert_eq!(r.len(), 1000);
    assert!(html.contains("showing 1–1,000 of 5,000"));
    assert!(r
        .iter()
        .all(|row| row.contains(">team=\"a\"<") && row.contains(">severity=\"critical\"<")));
    let next = link(&html, "next").expect("a next page");
    assert!(
        next.contains("page=2") && next.contains("filter="),
        "{next}"
    );

    // A limit over the maximum is lowered to it.
    let html = page(&svc, "/alerts?limit=100000").await;
    assert_eq!(rows(&html).len(), 1000);

    // State and receiver filters.
    let html = page(&svc, "/alerts?state=silenced&limit=1000").await;
    assert!(html.contains("showing 1–1,000 of 1,000"));
    assert!(rows(&html)
        .iter()
        .all(|row| row.contains(">alertname=\"Load7\"<") || row.contains(">Load7</a></strong>")));
    let html = page(&svc, "/alerts?receiver=team-b").await;
    assert!(html.contains("showing 1–100 of 25,000"));
    assert!(rows(&html).iter().all(|row| row.contains(">team=\"b\"<")));

    // A bad filter is a 400 naming the parameter.
    let bad = urlenc("{team=~\"(\"}");
    let r = reqwest::get(format!("http://{}/alerts?filter={bad}", svc.local_addr))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("filter:"));

    // The overview: counts, the owners with the most firing alerts and five alerts each.
    let html = page(&svc, "/").await;
    assert!(html.contains("Firing alerts by owner (49000)"));
    let items = html.matches("<li class=\"alert ").count();
    assert_eq!(items, 10, "two owners, five alerts each");
    assert!(html.contains("and 24995 more"), "team a: 25,000 firing");
    assert!(html.contains("and 23995 more"), "team b: 24,000 firing");
    assert!(html.len() < 1 << 20, "{} bytes", html.len());
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silences_page_pages_and_filters() {
    let svc = start("dash-silences").await;
    let p = svc.pipeline();
    let now = p.now_ms();
    // 250 silences: team a for even i, b for odd; the first 10 expire at once.
    for i in 0..250 {
        let team = if i % 2 == 0 { "a" } else { "b" };
        let id = p
            .silences()
            .upsert(
                Silence {
                    id: String::new(),
                    matchers: Matchers(
                        parse_matchers(&format!("{{team=\"{team}\", instance=\"h{i}\"}}")).unwrap(),
                    ),
                    starts_at_ms: now,
                    ends_at_ms: now + 3_600_000,
                    updated_at_ms: now,
                    created_by: "test".into(),
                    comment: format!("silence {i}"),
                },
                now,
            )
            .await
            .expect("silence created");
        if i < 10 {
            p.silences().expire(&id, now).await.expect("expired");
        }
    }
    let html = page(&svc, "/silences").await;
    assert_eq!(html.matches("<tr class=\"silence ").count(), 100);
    assert!(html.contains("showing 1–100 of 250"));
    let html = page(&svc, "/silences?state=expired").await;
    assert!(html.contains("showing 1–10 of 10"));
    assert_eq!(html.matches("<tr class=\"silence expired").count(), 10);
    let f = urlenc("{team=\"a\"}");
    let html = page(
        &svc,
        &format!("/silences?filter={f}&state=active&limit=1000"),
    )
    .await;
    // Even i from 10 to 248: 120 active silences of team a.
    assert!(html.contains("showing 1–120 of 120"), "team a, active");
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_page_pages_and_filters_by_job() {
    // 150 targets in job a and 30 in job b, on loopback addresses nothing listens on; the
    // interval is long, so the page is read before most are scraped.
    let list = |n: usize, third: u8| {
        (0..n)
            .map(|i| format!("'127.0.{third}.{}:9'", i + 1))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let yaml = format!(
        "
global: {{scrape_interval: 1h, scrape_timeout: 1s}}
scrape_configs:
  - job_name: a
    static_configs: [{{targets: [{}]}}]
  - job_name: b
    static_configs: [{{targets: [{}]}}]
",
        list(150, 1),
        list(30, 2)
    );
    let dir = TempDir::new("dash-targets");
    let cfg = Config::from_yaml_str(&yaml, "test.yml").expect("config parses");
    let svc = Service::start_with(
        cfg,
        ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir.to_path_buf()),
        DiscoveryOptions {
            file_poll_interval: Duration::from_millis(100),
            ..DiscoveryOptions::default()
        },
    )
    .await
    .expect("service starts");
    let targets = svc.targets.clone();
    common::wait_for("180 targets discovered", Duration::from_secs(20), || {
        let n: usize = targets.snapshot().values().map(|p| p.active.len()).sum();
        (n == 180).then_some(())
    })
    .await;
    let html = page(&svc, "/targets").await;
    assert_eq!(html.matches("<tr class=\"health-").count(), 100);
    assert!(html.contains("showing 1–100 of 180"));
    let html = page(&svc, "/targets?page=2").await;
    assert_eq!(html.matches("<tr class=\"health-").count(), 80);
    let html = page(&svc, "/targets?job=b").await;
    assert!(html.contains("showing 1–30 of 30"));
    assert_eq!(html.matches("<td>http://127.0.2.").count(), 30);
    assert_eq!(html.matches("<td>http://127.0.1.").count(), 0);
    svc.shutdown().await;
}
