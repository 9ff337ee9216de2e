//! `rule_query_url`: redline evaluates its rule files against a real Prometheus (Debian's 2.42)
//! instead of its own store. Prometheus scrapes a loopback fixture; redline scrapes nothing.
//! The recording rule's result lands in redline's own store with the value Prometheus computes
//! for the same expression, the alerting rule fires in redline, a stopped Prometheus makes
//! the rules unhealthy (naming the URL) without resolving the firing alert, a restarted one
//! makes them healthy again, and a config reload moves the rules to another URL.

mod common;

use common::{free_port, FixtureServer, ProcessGuard};
use redline::testdir::TempDir;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

/// GETs a loopback URL as JSON; `None` while the server is not answering.
async fn try_json(client: &reqwest::Client, url: &str) -> Option<Value> {
    let resp = client.get(url).send().await.ok()?;
    let text = resp.text().await.ok()?;
    serde_json::from_str(&text).ok()
}

/// Polls `url` until `check` accepts its JSON, failing with `what` and the last body.
async fn wait_json<T>(
    client: &reqwest::Client,
    url: &str,
    what: &str,
    mut check: impl FnMut(&Value) -> Option<T>,
) -> T {
    let end = Instant::now() + DEADLINE;
    let mut last = Value::Null;
    loop {
        if let Some(v) = try_json(client, url).await {
            if let Some(t) = check(&v) {
                return t;
            }
            last = v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {DEADLINE:?} waiting for {what}; last answer of {url}: {last:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn start_prometheus(dir: &Path, port: u16) -> ProcessGuard {
    common::start_prometheus(dir, port, &[])
}

fn redline_config(query_url: &str) -> String {
    format!(
        "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nrule_query_url: {query_url}\nrule_query:\n  timeout: 5s\n"
    )
}

/// The one rule of `group` named `name` in a `/api/v1/rules` answer.
fn rule<'a>(rules: &'a Value, name: &str) -> Option<&'a Value> {
    rules["data"]["groups"]
        .as_array()?
        .iter()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .find(|r| r["name"] == name)
}

/// Both rules have health `want` and the alerting rule's `lastError` satisfies `error_ok`.
fn rules_health(rules: &Value, want: &str, error_ok: impl Fn(&str) -> bool) -> Option<String> {
    let rec = rule(rules, "fixture:demo_temperature:doubled")?;
    let alert = rule(rules, "FixtureTooHot")?;
    if rec["health"] != want || alert["health"] != want {
        return None;
    }
    let err = alert["lastError"].as_str().unwrap_or("").to_string();
    error_ok(&err).then_some(err)
}

/// The FixtureTooHot alert from `/api/v1/alerts`, if present.
fn too_hot(alerts: &Value) -> Option<Value> {
    alerts["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == "FixtureTooHot")
        .cloned()
}

/// The single sample of an instant query answer: (labels without `__name__`, value text).
fn single_sample(answer: &Value) -> Option<(serde_json::Map<String, Value>, String)> {
    let result = answer["data"]["result"].as_array()?;
    if result.len() != 1 {
        return None;
    }
    let mut labels = result[0]["metric"].as_object()?.clone();
    labels.remove("__name__");
    Some((labels, result[0]["value"][1].as_str()?.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_evaluate_against_a_real_prometheus() {
    redline::install_crypto_provider();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let dir = TempDir::new("rule-query-url");

    // Prometheus scrapes the fixture every second.
    let fixture = FixtureServer::start(
        "# TYPE demo_temperature_celsius gauge\ndemo_temperature_celsius{room=\"server\"} 42.5\n",
        "text/plain; version=0.0.4",
    )
    .await;
    let prom_port = free_port();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: fixture\n    static_configs:\n      - targets: ['{}']\n",
            fixture.addr
        ),
    )
    .expect("write prometheus config");
    let prometheus = start_prometheus(&dir, prom_port);
    let prom_url = format!("http://127.0.0.1:{prom_port}");

    // redline has no scrape configs: every sample it has comes from its rules.
    std::fs::write(
        dir.join("rules.yml"),
        r#"groups:
  - name: remote
    rules:
      - record: fixture:demo_temperature:doubled
        expr: demo_temperature_celsius * 2
      - alert: FixtureTooHot
        expr: demo_temperature_celsius > 40
        labels:
          severity: page
        annotations:
          summary: '{{ $labels.room }} is at {{ $value }}'
          rooms: '{{ with query "count(demo_temperature_celsius)" }}{{ . | first | value }}{{ end }}'
"#,
    )
    .expect("write rules");
    std::fs::write(dir.join("redline.yml"), redline_config(&prom_url))
        .expect("write redline config");
    let redline_port = free_port();
    let _redline = ProcessGuard(
        Command::new(env!("CARGO_BIN_EXE_redline"))
            .args(["run", "--config"])
            .arg(dir.join("redline.yml"))
            .args([
                "--listen",
                &format!("127.0.0.1:{redline_port}"),
                "--state-dir",
            ])
            .arg(dir.join("state"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redline run"),
    );
    let redline = format!("http://127.0.0.1:{redline_port}");
    let rules_url = format!("{redline}/api/v1/rules");
    let alerts_url = format!("{redline}/api/v1/alerts");

    // The recording rule's result is in redline's own store, as Prometheus computes it.
    let ours = wait_json(
        &client,
        &format!("{redline}/api/v1/query?query=fixture:demo_temperature:doubled"),
        "the recording rule's result in redline's store",
        single_sample,
    )
    .await;
    let theirs = wait_json(
        &client,
        &format!("{prom_url}/api/v1/query?query=demo_temperature_celsius%20*%202"),
        "Prometheus' answer for the same expression",
        single_sample,
    )
    .await;
    assert_eq!(
        ours, theirs,
        "redline's recorded series vs Prometheus' answer"
    );
    assert_eq!(ours.1, "85");
    assert_eq!(ours.0["job"], "fixture");
    assert_eq!(ours.0["room"], "server");

    // The alert fires in redline, with annotations expanded from the remote answers.
    let alert = wait_json(&client, &alerts_url, "FixtureTooHot firing", |v| {
        too_hot(v).filter(|a| a["state"] == "firing")
    })
    .await;
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["labels"]["room"], "server");
    assert_eq!(alert["annotations"]["summary"], "server is at 42.5");
    assert_eq!(alert["annotations"]["rooms"], "1");
    wait_json(&client, &rules_url, "both rules healthy", |v| {
        rules_health(v, "ok", str::is_empty)
    })
    .await;
    // ALERTS is written into redline's store too.
    let alerts_series = wait_json(
        &client,
        &format!("{redline}/api/v1/query?query=ALERTS%7Balertname%3D%22FixtureTooHot%22%7D"),
        "the ALERTS series in redline's store",
        single_sample,
    )
    .await;
    assert_eq!(alerts_series.0["alertstate"], "firing");

    // Prometheus goes away: the rules fail, naming the URL; the alert keeps firing.
    drop(prometheus);
    let error = wait_json(&client, &rules_url, "rules unhealthy", |v| {
        rules_health(v, "err", |e| !e.is_empty())
    })
    .await;
    assert!(
        error.contains(&format!("{prom_url}/api/v1/query")),
        "lastError names the query URL: {error}"
    );
    assert!(
        error.to_lowercase().contains("connect") || error.to_lowercase().contains("refused"),
        "lastError says why: {error}"
    );
    // Let a few more evaluations fail, then look again.
    let failures_before = failures(&client, &redline).await;
    assert!(
        failures_before >= 2.0,
        "failed evaluations count in redline_rule_group_rule_failures_total: {failures_before}"
    );
    wait_for_more_failures(&client, &redline, failures_before + 4.0).await;
    let alert = too_hot(&try_json(&client, &alerts_url).await.expect("alerts answer"))
        .expect("FixtureTooHot is still active");
    assert_eq!(
        alert["state"], "firing",
        "a failed query resolved the alert"
    );

    // Prometheus comes back on the same port: healthy again, still one firing alert.
    let _prometheus = start_prometheus(&dir, prom_port);
    wait_json(&client, &rules_url, "rules healthy again", |v| {
        rules_health(v, "ok", str::is_empty)
    })
    .await;
    let alert = too_hot(&try_json(&client, &alerts_url).await.expect("alerts answer"))
        .expect("FixtureTooHot is still active");
    assert_eq!(alert["state"], "firing");

    // A reload that changes rule_query_url takes effect.
    let dead_url = format!("http://127.0.0.1:{}", free_port());
    std::fs::write(dir.join("redline.yml"), redline_config(&dead_url))
        .expect("rewrite redline config");
    let reload = client
        .post(format!("{redline}/-/reload"))
        .send()
        .await
        .expect("POST /-/reload");
    assert!(reload.status().is_success(), "reload: {}", reload.status());
    let error = wait_json(&client, &rules_url, "rules failing on the new URL", |v| {
        rules_health(v, "err", |e| {
            e.contains(&format!("{dead_url}/api/v1/query"))
        })
    })
    .await;
    assert!(error.starts_with("remote query "), "{error}");
}

/// redline's `redline_rule_group_rule_failures_total`, summed over groups.
async fn failures(client: &reqwest::Client, redline: &str) -> f64 {
    let text = client
        .get(format!("{redline}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("/metrics body");
    text.lines()
        .filter(|l| l.starts_with("redline_rule_group_rule_failures_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn wait_for_more_failures(client: &reqwest::Client, redline: &str, at_least: f64) {
    let end = Instant::now() + DEADLINE;
    loop {
        let n = failures(client, redline).await;
        if n >= at_least {
            return;
        }
        assert!(
            Instant::now() < end,
            "redline_rule_group_rule_failures_total stayed at {n}, expected at least {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
