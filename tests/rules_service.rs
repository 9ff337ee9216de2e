//! Rules running inside the service: recording results land in the store, alerts show on
//! `/api/v1/alerts` with rendered templates, `/api/v1/rules` lists groups, a bad rule file on
//! `POST /-/reload` is rejected while the running rules stay, and playbooks are served.

mod common;

use common::{get_json, wait_for, FixtureServer};
use redline::config::Config;
use redline::service::{Service, ServiceOptions};
use redline::store::{Matcher, Querier};
use redline::testdir::TempDir;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

const GOOD_RULES: &str = r#"
groups:
  - name: demo
    interval: 200ms
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: TargetUp
        expr: up == 1
        labels:
          severity: info
        annotations:
          summary: '{{ $labels.job }} is up ({{ $value }})'
          runbook_url: '{{ $externalURL }}/playbooks/TargetUp'
"#;

fn tempdir(name: &str) -> TempDir {
    TempDir::new(&format!("rules-svc-{name}"))
}

async fn post(url: &str) -> (u16, String) {
    redline::install_crypto_provider();
    let r = reqwest::Client::new().post(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of `redline_rules_last_reload_successful` on `/metrics`.
async fn rules_reload_metric(base: &str) -> Option<String> {
    redline::install_crypto_provider();
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("redline_rules_last_reload_successful "))
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_run_reload_and_serve_playbooks() {
    let srv = FixtureServer::start("x 1\n", "text/plain").await;
    let dir = tempdir("main");
    let rules = dir.join("demo.rules.yml");
    std::fs::write(&rules, GOOD_RULES).unwrap();
    let config = dir.join("redline.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\n  evaluation_interval: 200ms\nrule_files: ['demo.rules.yml']\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{}']\n",
            srv.addr
        ),
    )
    .unwrap();
    let cfg = Config::load_file(&config).unwrap();
    let mut opts = ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir.join("state"));
    opts.config_path = Some(config.clone());
    opts.external_url = Some("https://redline.example".into());
    opts.playbooks_dir = Some(PathBuf::from("rules/playbooks"));
    let svc = Service::start(cfg, opts).await.expect("service starts");
    let base = format!("http://{}", svc.local_addr);
    let store = svc.store.clone();

    wait_for(
        "the recording rule's series",
        Duration::from_secs(15),
        || {
            let now = redline::timefmt::unix_ms(SystemTime::now());
            let s = store.select(&[Matcher::equal("__name__", "job:up:sum")], 0, now);
            s.first()
                .and_then(|s| s.samples.last())
                .filter(|p| p.v == 1.0)
                .map(|_| ())
        },
    )
    .await;

    let alerts = loop {
        let a = get_json(&format!("{base}/api/v1/alerts")).await;
        if a["data"]["alerts"]
            .as_array()
            .is_some_and(|v| !v.is_empty())
        {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let alert = &alerts["data"]["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "TargetUp");
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["annotations"]["summary"], "app is up (1)");
    assert_eq!(
        alert["annotations"]["runbook_url"],
        "https://redline.example/playbooks/TargetUp"
    );

    let rules_json = get_json(&format!("{base}/api/v1/rules")).await;
    let group = &rules_json["data"]["groups"][0];
    assert_eq!(group["name"], "demo");
    assert_eq!(group["rules"].as_array().unwrap().len(), 2);

    // A broken rule file is rejected; the running rules stay.
    std::fs::write(
        &rules,
        "groups:\n  - name: demo\n    rules:\n      - record: broken\n        expr: sum(\n",
    )
    .unwrap();
    let (status, body) = post(&format!("{base}/-/reload")).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("demo.rules.yml"),
        "the error names the file: {body}"
    );
    // As Prometheus' prometheus_config_last_reload_successful: 0 after a rejected file.
    assert_eq!(
        rules_reload_metric(&base).await.as_deref(),
        Some("0"),
        "redline_rules_last_reload_successful after a rejected rule file"
    );
    let still = get_json(&format!("{base}/api/v1/rules")).await;
    // The rejected file shows on /api/v1/rules too, as a Prometheus API warning.
    let warning = still["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("demo.rules.yml") && warning.contains("unclosed left parenthesis"),
        "the rejected rule file is a warning of /api/v1/rules: {still}"
    );
    assert_eq!(
        still["data"]["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A good file is picked up.
    std::fs::write(&rules, GOOD_RULES.replace("job:up:sum", "job:up:total")).unwrap();
    let (status, body) = post(&format!("{base}/-/reload")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(rules_reload_metric(&base).await.as_deref(), Some("1"));
    let reloaded = get_json(&format!("{base}/api/v1/rules?type=record")).await;
    assert!(
        reloaded.get("warnings").is_none(),
        "a good reload clears the warning"
    );
    assert_eq!(
        reloaded["data"]["groups"][0]["rules"][0]["name"],
        "job:up:total"
    );

    redline::install_crypto_provider();
    let pb = reqwest::get(format!("{base}/playbooks/KubePodCrashLooping"))
        .await
        .unwrap();
    assert_eq!(pb.status(), 200);
    assert_eq!(
        pb.headers()[reqwest::header::CONTENT_TYPE],
        "text/markdown; charset=utf-8"
    );
    // The playbook's own Markdown, which opens with its title.
    let md = pb.text().await.unwrap();
    assert!(md.starts_with("# KubePodCrashLooping\n"), "{md}");
    assert_eq!(
        md,
        std::fs::read_to_string("rules/playbooks/KubePodCrashLooping.md").unwrap()
    );
    // A browser gets it rendered: the article opens with the title as its heading.
    let page = reqwest::Client::new()
        .get(format!("{base}/playbooks/KubePodCrashLooping"))
        .header(reqwest::header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<article class=\"playbook\">\n<h1>KubePodCrashLooping</h1>"),
        "{html}"
    );
    let missing = reqwest::get(format!("{base}/playbooks/..%2Fsecret"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("redline_rule_group_iterations_total"),
        "{metrics}"
    );
    svc.shutdown().await;
}

/// Regression: the forwarder from the rules engine to the alerting pipeline looked each
/// alert's expression up by alert name, first rule winning, so of the usual warning and
/// critical pair of rules sharing one `alert:` name, both alerts linked to the warning
/// rule's expression.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_of_rules_sharing_a_name_link_to_their_own_expression() {
    let dir = tempdir("one-name");
    std::fs::write(
        dir.join("disk.rules.yml"),
        r#"
groups:
  - name: disk
    interval: 200ms
    rules:
      - alert: DiskFilling
        expr: vector(0.95) > 0.8
        labels: {severity: warning}
      - alert: DiskFilling
        expr: vector(0.95) > 0.9
        labels: {severity: critical}
"#,
    )
    .unwrap();
    let config = dir.join("redline.yml");
    std::fs::write(
        &config,
        "rule_files: ['disk.rules.yml']\nscrape_configs: []\n",
    )
    .unwrap();
    let cfg = Config::load_file(&config).unwrap();
    let mut opts = ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir.join("state"));
    opts.config_path = Some(config);
    opts.external_url = Some("https://redline.example".into());
    let svc = Service::start(cfg, opts).await.expect("service starts");
    let base = format!("http://{}", svc.local_addr);

    // The alerts as the alerting pipeline holds them (Alertmanager's API).
    let deadline = Instant::now() + Duration::from_secs(15);
    let alerts = loop {
        let got = get_json(&format!("{base}/api/v2/alerts")).await;
        if got.as_array().is_some_and(|a| a.len() == 2) {
            break got;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for both alerts: {got:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let generator_of = |severity: &str| {
        alerts
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["labels"]["severity"] == severity)
            .and_then(|a| a["generatorURL"].as_str())
            .unwrap_or_else(|| panic!("no {severity} alert with a generatorURL: {alerts:#}"))
            .to_string()
    };
    // Prometheus' link (`strutil.TableLinkForExpression`: Go's `url.QueryEscape`, space as
    // `+`, `(` `)` `>` as %28 %29 %3E), written out by hand.
    assert_eq!(
        generator_of("warning"),
        "https://redline.example/graph?g0.expr=vector%280.95%29+%3E+0.8&g0.tab=1"
    );
    assert_eq!(
        generator_of("critical"),
        "https://redline.example/graph?g0.expr=vector%280.95%29+%3E+0.9&g0.tab=1"
    );
    svc.shutdown().await;
}
