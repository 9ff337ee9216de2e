//! Scrape behaviour an SRE relies on: staleness when a series or target disappears, limits
//! that fail a scrape as a whole, honor_labels, file_sd changes picked up, a hanging target
//! that does not delay others, and redline's own `/metrics`.

mod common;

use common::{get_json, wait_for, FixtureServer, ServiceInDir};
use redline::config::Config;
use redline::scrape::discovery::DiscoveryOptions;
use redline::service::ServiceOptions;
use redline::store::{is_stale_nan, Matcher, Querier, Store};
use redline::testdir::TempDir;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn now() -> i64 {
    redline::timefmt::unix_ms(SystemTime::now())
}

async fn start(yaml: &str, name: &str) -> ServiceInDir {
    let cfg = Config::from_yaml_str(yaml, "test.yml").expect("config parses");
    ServiceInDir::start(
        cfg,
        &format!("scrape-{name}"),
        |dir| ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir),
        DiscoveryOptions {
            file_poll_interval: Duration::from_millis(100),
            ..DiscoveryOptions::default()
        },
    )
    .await
}

fn job_yaml(job: &str, addr: SocketAddr, extra: &str) -> String {
    format!(
        "
global:
  scrape_interval: 200ms
  scrape_timeout: 200ms
scrape_configs:
  - job_name: {job}
{extra}
    static_configs:
      - targets: ['{addr}']
"
    )
}

/// Last sample of the one series selected by `name` and `job`.
fn last(store: &Store, name: &str, job: &str) -> Option<f64> {
    let found = store.select(
        &[Matcher::equal("__name__", name), Matcher::equal("job", job)],
        0,
        now(),
    );
    found.first().and_then(|s| s.samples.last()).map(|s| s.v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_series_get_staleness_markers() {
    let srv = FixtureServer::start("a 1\nb 2\n", "text/plain; version=0.0.4").await;
    let svc = start(&job_yaml("stale", srv.addr, ""), "stale").await;
    let store = svc.store.clone();
    wait_for("b scraped", Duration::from_secs(10), || {
        last(&store, "b", "stale")
    })
    .await;
    srv.set_body("a 1\n");
    wait_for("b marked stale", Duration::from_secs(10), || {
        last(&store, "b", "stale").filter(|v| is_stale_nan(*v))
    })
    .await;
    assert_eq!(last(&store, "a", "stale"), Some(1.0), "a is still exposed");
    svc.shutdown().await;
    // Shutting down stops the target: everything it exposed, `up` too, is stale.
    assert!(last(&store, "a", "stale").is_some_and(is_stale_nan));
    assert!(last(&store, "up", "stale").is_some_and(is_stale_nan));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_limit_fails_the_scrape_as_a_whole() {
    let body: String = (0..20).map(|i| format!("m{{i=\"{i}\"}} {i}\n")).collect();
    let srv = FixtureServer::start(&body, "text/plain").await;
    let svc = start(
        &job_yaml("limited", srv.addr, "    sample_limit: 10"),
        "limit",
    )
    .await;
    let store = svc.store.clone();
    let up = wait_for("up written", Duration::from_secs(10), || {
        last(&store, "up", "limited")
    })
    .await;
    assert_eq!(up, 0.0);
    assert!(
        store
            .select(&[Matcher::equal("__name__", "m")], 0, now())
            .is_empty(),
        "no sample of a scrape over its sample_limit is kept"
    );
    let targets = get_json(&format!("http://{}/api/v1/targets", svc.local_addr)).await;
    let err = targets["data"]["activeTargets"][0]["lastError"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(err.contains("sample limit exceeded"), "lastError: {err}");
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_size_limit_fails_the_scrape() {
    let body: String = (0..200).map(|i| format!("m{{i=\"{i}\"}} {i}\n")).collect();
    let srv = FixtureServer::start(&body, "text/plain").await;
    let svc = start(
        &job_yaml("big", srv.addr, "    body_size_limit: 1KB"),
        "body",
    )
    .await;
    let store = svc.store.clone();
    let up = wait_for("up written", Duration::from_secs(10), || {
        last(&store, "up", "big")
    })
    .await;
    assert_eq!(up, 0.0);
    let targets = get_json(&format!("http://{}/api/v1/targets", svc.local_addr)).await;
    let err = targets["data"]["activeTargets"][0]["lastError"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(err.contains("body size limit exceeded"), "lastError: {err}");
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honor_labels_and_exported_labels() {
    let srv = FixtureServer::start("m{job=\"exported-job\",x=\"1\"} 1\n", "text/plain").await;
    let yaml = format!(
        "
global:
  scrape_interval: 200ms
  scrape_timeout: 200ms
scrape_configs:
  - job_name: plain
    static_configs:
      - targets: ['{a}']
  - job_name: honored
    honor_labels: true
    static_configs:
      - targets: ['{a}']
",
        a = srv.addr
    );
    let svc = start(&yaml, "honor").await;
    let store = svc.store.clone();
    let plain = wait_for("plain job scraped", Duration::from_secs(10), || {
        let s = store.select(
            &[
                Matcher::equal("__name__", "m"),
                Matcher::equal("job", "plain"),
            ],
            0,
            now(),
        );
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(plain[0].labels.get("exported_job"), Some("exported-job"));
    let honored = wait_for("honored job scraped", Duration::from_secs(10), || {
        let s = store.select(
            &[
                Matcher::equal("__name__", "m"),
                Matcher::equal("job", "exported-job"),
            ],
            0,
            now(),
        );
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(
        honored[0].labels.get("instance"),
        Some(srv.addr.to_string().as_str())
    );
    assert_eq!(honored[0].labels.get("exported_job"), None);
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sd_changes_start_and_stop_targets() {
    let a = FixtureServer::start("from_a 1\n", "text/plain").await;
    let b = FixtureServer::start("from_b 1\n", "text/plain").await;
    let dir = TempDir::new("scrape-filesd");
    let file = dir.join("targets.json");
    std::fs::write(
        &file,
        format!(
            r#"[{{"targets": ["{}"], "labels": {{"team": "red"}}}}]"#,
            a.addr
        ),
    )
    .unwrap();
    let yaml = format!(
        "
global:
  scrape_interval: 200ms
  scrape_timeout: 200ms
scrape_configs:
  - job_name: files
    file_sd_configs:
      - files: ['{}/*.json']
",
        dir.display()
    );
    let svc = start(&yaml, "filesd-svc").await;
    let store = svc.store.clone();
    let got = wait_for("target a scraped", Duration::from_secs(10), || {
        let s = store.select(&[Matcher::equal("__name__", "from_a")], 0, now());
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(got[0].labels.get("team"), Some("red"));
    std::fs::write(&file, format!(r#"[{{"targets": ["{}"]}}]"#, b.addr)).unwrap();
    wait_for(
        "target b scraped after the file changed",
        Duration::from_secs(10),
        || {
            let s = store.select(&[Matcher::equal("__name__", "from_b")], 0, now());
            (!s.is_empty()).then_some(())
        },
    )
    .await;
    wait_for(
        "target a's series marked stale once it is gone",
        Duration::from_secs(10),
        || {
            let s = store.select(&[Matcher::equal("__name__", "from_a")], 0, now());
            s.first()
                .and_then(|s| s.samples.last())
                .filter(|x| is_stale_nan(x.v))
                .map(|_| ())
        },
    )
    .await;
    let targets = get_json(&format!("http://{}/api/v1/targets", svc.local_addr)).await;
    let active = targets["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(active.len(), 1, "{targets}");
    assert_eq!(active[0]["labels"]["instance"], b.addr.to_string());
    assert!(active[0]["discoveredLabels"]["__meta_filepath"]
        .as_str()
        .is_some_and(|p| p.ends_with("targets.json")));
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_target_times_out_without_delaying_others() {
    // A target that accepts connections and never answers.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_addr = hang.local_addr().unwrap();
    let held = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let h = held.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = hang.accept().await {
            h.lock().await.push(sock);
        }
    });
    let ok = FixtureServer::start("alive 1\n", "text/plain").await;
    let yaml = format!(
        "
global:
  scrape_interval: 500ms
  scrape_timeout: 300ms
scrape_configs:
  - job_name: hang
    static_configs:
      - targets: ['{hang_addr}']
  - job_name: ok
    static_configs:
      - targets: ['{}']
",
        ok.addr
    );
    let svc = start(&yaml, "hang").await;
    let store = svc.store.clone();
    // Within a few intervals the healthy target has several scrapes while the other times out.
    wait_for(
        "several scrapes of the healthy target",
        Duration::from_secs(10),
        || {
            let s = store.select(
                &[
                    Matcher::equal("__name__", "up"),
                    Matcher::equal("job", "ok"),
                ],
                0,
                now(),
            );
            s.first()
                .filter(|s| s.samples.len() >= 4 && s.samples.iter().all(|x| x.v == 1.0))
                .map(|_| ())
        },
    )
    .await;
    let up = wait_for("hanging target reported", Duration::from_secs(10), || {
        last(&store, "up", "hang")
    })
    .await;
    assert_eq!(up, 0.0);
    let targets = get_json(&format!(
        "http://{}/api/v1/targets?scrapePool=hang",
        svc.local_addr
    ))
    .await;
    let t = &targets["data"]["activeTargets"][0];
    assert_eq!(t["health"], "down");
    assert!(
        t["lastError"]
            .as_str()
            .unwrap_or_default()
            .contains("deadline"),
        "{t}"
    );
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_metrics_health_and_readiness() {
    let srv = FixtureServer::start("x 1\n", "text/plain").await;
    let svc = start(&job_yaml("self", srv.addr, ""), "self").await;
    let store = svc.store.clone();
    wait_for("a scrape", Duration::from_secs(10), || {
        last(&store, "x", "self")
    })
    .await;
    redline::install_crypto_provider();
    let base = format!("http://{}", svc.local_addr);
    let healthy = reqwest::get(format!("{base}/-/healthy")).await.unwrap();
    assert_eq!(healthy.status(), 200);
    let ready = reqwest::get(format!("{base}/-/ready")).await.unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "redline_scrapes_total{job=\"self\"}",
        "redline_head_series ",
        "redline_samples_appended_total ",
        "redline_process_resident_memory_bytes ",
        "redline_active_targets{job=\"self\"} 1",
    ] {
        assert!(
            metrics.contains(needle),
            "/metrics lacks {needle}:\n{metrics}"
        );
    }
    // redline's own exposition parses with redline's parser (OpenMetrics, `# EOF`).
    let mut count = 0usize;
    struct Count<'a>(&'a mut usize);
    impl redline::exposition::Sink for Count<'_> {
        fn sample(
            &mut self,
            _: &redline::exposition::Sample<'_>,
        ) -> Result<(), redline::exposition::SinkError> {
            *self.0 += 1;
            Ok(())
        }
    }
    redline::exposition::parse(
        metrics.as_bytes(),
        redline::exposition::Format::OpenMetrics,
        &Default::default(),
        &mut Count(&mut count),
    )
    .expect("redline's /metrics is valid OpenMetrics");
    assert!(count > 10);
    svc.shutdown().await;
}
