//! Hot reload of the whole config from a ConfigMap-style mount, against the real binary.
//!
//! The config directory is laid out as the kubelet lays out a ConfigMap volume
//! (`..<timestamp>/redline.yaml`, `..data -> ..<timestamp>`, `redline.yaml ->
//! ..data/redline.yaml`) and updated as the kubelet updates it: a new timestamped directory,
//! then a new `..data` link renamed over the old one. redline notices the swap on its own
//! (no SIGHUP, no `/-/reload`).

mod common;

use common::{free_port, FixtureServer, ProcessGuard};
use redline::testdir::TempDir;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A directory laid out and updated as the kubelet does a ConfigMap volume.
struct ConfigMapDir {
    dir: TempDir,
    generation: u32,
}

impl ConfigMapDir {
    fn new(name: &str) -> ConfigMapDir {
        let dir = TempDir::new(name);
        ConfigMapDir { dir, generation: 0 }
    }

    /// Publishes a new generation holding `redline.yaml` with `config`.
    fn publish(&mut self, config: &str) {
        self.generation += 1;
        let version = format!("..2026_11_22_13_00_{:02}.{}", self.generation, 100);
        let gen_dir = self.dir.join(&version);
        std::fs::create_dir_all(&gen_dir).expect("generation dir");
        std::fs::write(gen_dir.join("redline.yaml"), config).expect("write config");
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&version, &tmp).expect("..data_tmp link");
        std::fs::rename(&tmp, self.dir.join("..data")).expect("swap ..data");
        let key = self.dir.join("redline.yaml");
        if std::fs::symlink_metadata(&key).is_err() {
            std::os::unix::fs::symlink("..data/redline.yaml", &key).expect("key link");
        }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("redline.yaml")
    }
}

fn job(name: &str, addr: std::net::SocketAddr) -> String {
    format!("  - job_name: {name}\n    static_configs:\n      - targets: ['{addr}']\n")
}

fn config(jobs: &[String]) -> String {
    format!(
        "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\nscrape_configs:\n{}",
        jobs.concat()
    )
}

fn start(config: &Path, state: &Path, port: u16) -> ProcessGuard {
    let child = common::redline_run(config, port, state)
        .spawn()
        .expect("start redline run");
    ProcessGuard(child)
}

struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn text(&self, path: &str) -> Option<String> {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        resp.text().await.ok()
    }

    async fn json(&self, path: &str) -> Option<Value> {
        serde_json::from_str(&self.text(path).await?).ok()
    }

    /// The result array of an instant query.
    async fn query(&self, q: &str) -> Option<Vec<Value>> {
        let q: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
        let v = self.json(&format!("/api/v1/query?query={q}")).await?;
        v["data"]["result"].as_array().cloned()
    }

    /// `job -> [(scrapeUrl, health)]` of the active targets.
    async fn targets(&self) -> Option<Vec<(String, String, String)>> {
        let v = self.json("/api/v1/targets").await?;
        let active = v["data"]["activeTargets"].as_array()?;
        Some(
            active
                .iter()
                .map(|t| {
                    (
                        t["labels"]["job"].as_str().unwrap_or("").to_string(),
                        t["scrapeUrl"].as_str().unwrap_or("").to_string(),
                        t["health"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect(),
        )
    }
}

/// Polls `check` until it returns `Some`, failing with `what` after `deadline`.
async fn wait_until<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn up_jobs(targets: &[(String, String, String)]) -> Vec<String> {
    let mut jobs: Vec<String> = targets
        .iter()
        .filter(|(_, _, h)| h == "up")
        .map(|(j, _, _)| j.clone())
        .collect();
    jobs.sort();
    jobs
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_swap_adds_and_removes_jobs_and_keeps_unchanged_ones_running() {
    redline::install_crypto_provider();
    let kept = FixtureServer::start("kept_metric 1\n", "text/plain; version=0.0.4").await;
    let removed = FixtureServer::start("removed_metric 2\n", "text/plain; version=0.0.4").await;
    let added = FixtureServer::start("added_metric 3\n", "text/plain; version=0.0.4").await;
    let mut dir = ConfigMapDir::new("config-reload");
    dir.publish(&config(&[
        job("kept", kept.addr),
        job("removed", removed.addr),
    ]));
    let state = dir.dir.join("state");
    let port = free_port();
    let _redline = start(&dir.config_path(), &state, port);
    let api = Api {
        client: reqwest::Client::new(),
        base: format!("http://127.0.0.1:{port}"),
    };

    wait_until("both initial jobs up", Duration::from_secs(30), || async {
        let t = api.targets().await?;
        (up_jobs(&t) == ["kept", "removed"]).then_some(())
    })
    .await;
    wait_until(
        "removed_metric scraped",
        Duration::from_secs(10),
        || async {
            let r = api.query("removed_metric").await?;
            (r.len() == 1).then_some(())
        },
    )
    .await;
    wait_until(
        "a few scrapes of the kept job",
        Duration::from_secs(10),
        || async {
            let r = api
                .query("count_over_time(up{job=\"kept\"}[1m]) >= 4")
                .await?;
            (r.len() == 1).then_some(())
        },
    )
    .await;
    let swapped_at = unix_now();

    // Generation 2: `removed` goes, `added` comes, `kept` is unchanged.
    dir.publish(&config(&[job("kept", kept.addr), job("added", added.addr)]));
    let targets = wait_until(
        "the added job up and the removed job gone from /api/v1/targets",
        Duration::from_secs(30),
        || async {
            let t = api.targets().await?;
            (up_jobs(&t) == ["added", "kept"] && t.len() == 2).then_some(t)
        },
    )
    .await;
    assert!(
        targets
            .iter()
            .any(|(j, url, _)| j == "added" && url == &format!("http://{}/metrics", added.addr)),
        "{targets:?}"
    );
    wait_until("added_metric scraped", Duration::from_secs(10), || async {
        let r = api.query("added_metric").await?;
        (r.len() == 1 && r[0]["value"][1] == "3").then_some(())
    })
    .await;
    // The removed job's series were marked stale: an instant query finds nothing, although
    // the last sample is well within the 5m lookback.
    for q in ["removed_metric", "up{job=\"removed\"}"] {
        let r = api.query(q).await.expect("query answers");
        assert!(r.is_empty(), "{q} after the job was removed: {r:?}");
    }

    // The unchanged job was never interrupted: every 100 ms step since before the swap has a
    // value (a staleness marker would leave steps empty), and raw samples are never further
    // apart than two intervals.
    let end = unix_now();
    let v = api
        .json(&format!(
            "/api/v1/query_range?query=up%7Bjob%3D%22kept%22%7D&start={:.3}&end={end:.3}&step=0.1",
            swapped_at - 0.5
        ))
        .await
        .expect("range query answers");
    let series = v["data"]["result"].as_array().expect("matrix");
    assert_eq!(series.len(), 1, "{v}");
    let points = series[0]["values"].as_array().expect("values");
    let steps = ((end - (swapped_at - 0.5)) / 0.1).floor() as usize + 1;
    assert!(
        points.len() + 1 >= steps && points.iter().all(|p| p[1] == "1"),
        "up{{job=\"kept\"}} has {} of {steps} steps: {points:?}",
        points.len()
    );
    let window = (end - swapped_at).ceil() as u64 + 1;
    let raw = api
        .query(&format!("up{{job=\"kept\"}}[{window}s]"))
        .await
        .expect("range selector answers");
    let times: Vec<f64> = raw[0]["values"]
        .as_array()
        .expect("raw samples")
        .iter()
        .map(|p| p[0].as_f64().expect("timestamp"))
        .collect();
    assert!(times.len() >= 4, "{times:?}");
    for w in times.windows(2) {
        assert!(w[1] - w[0] <= 1.0, "gap in up{{job=\"kept\"}}: {times:?}");
    }

    // Generation 3 is invalid: rejected whole, the running jobs keep scraping, and the
    // failure shows on /metrics.
    dir.publish("global:\n  scrape_interval: banana\nscrape_configs: []\n");
    wait_until(
        "redline_config_last_reload_successful 0 on /metrics",
        Duration::from_secs(30),
        || async {
            let m = api.text("/metrics").await?;
            m.lines()
                .any(|l| l == "redline_config_last_reload_successful 0")
                .then_some(())
        },
    )
    .await;
    let before = api
        .query("timestamp(up{job=\"added\"})")
        .await
        .expect("query");
    let t0 = before[0]["value"][1]
        .as_str()
        .and_then(|s| s.parse::<f64>().ok())
        .expect("timestamp of up");
    wait_until(
        "both jobs still scraping",
        Duration::from_secs(10),
        || async {
            let t = api.targets().await?;
            let r = api.query("timestamp(up{job=\"added\"})").await?;
            let t1 = r.first()?["value"][1].as_str()?.parse::<f64>().ok()?;
            (up_jobs(&t) == ["added", "kept"] && t1 > t0).then_some(())
        },
    )
    .await;
    let kept_up = api.query("up{job=\"kept\"}").await.expect("query");
    assert_eq!(kept_up.len(), 1, "{kept_up:?}");
}

/// Writes `text` to `path` as an editor would (a new file renamed over the old one).
fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write config");
    std::fs::rename(&tmp, path).expect("replace config");
}

async fn post_reload(api: &Api) -> (u16, String) {
    let resp = api
        .client
        .post(format!("{}/-/reload", api.base))
        .send()
        .await
        .expect("POST /-/reload");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// Waits until `metric` has a sample newer than `t` (Unix seconds).
async fn scraped_since(api: &Api, metric: &str, t: f64) {
    wait_until(
        &format!("{metric} scraped after {t}"),
        Duration::from_secs(10),
        || async {
            let r = api.query(&format!("timestamp({metric})")).await?;
            let ts = r.first()?["value"][1].as_str()?.parse::<f64>().ok()?;
            (ts > t).then_some(())
        },
    )
    .await;
}

/// Every 100 ms step of `query` over `[start, end]` has a value: no staleness marker
/// interrupted the series.
async fn assert_no_gap(api: &Api, query: &str, start: f64) {
    let end = unix_now();
    let q: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
    let v = api
        .json(&format!(
            "/api/v1/query_range?query={q}&start={start:.3}&end={end:.3}&step=0.1"
        ))
        .await
        .expect("range query answers");
    let series = v["data"]["result"].as_array().expect("matrix");
    assert_eq!(series.len(), 1, "{query}: {v}");
    let points = series[0]["values"].as_array().expect("values").len();
    let steps = ((end - start) / 0.1).floor() as usize + 1;
    assert!(
        points + 1 >= steps,
        "{query} has {points} of {steps} steps since the reload began: {v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_job_keeps_common_targets_and_marks_dropped_ones_stale() {
    use redline::service::{Service, ServiceOptions};
    redline::install_crypto_provider();
    let body = "a_metric 1\na_extra 2\n";
    let a = FixtureServer::start(body, "text/plain; version=0.0.4").await;
    let b = FixtureServer::start("b_metric 1\n", "text/plain; version=0.0.4").await;
    let c = FixtureServer::start("c_metric 1\n", "text/plain; version=0.0.4").await;
    let dir = ConfigMapDir::new("config-reload-changed");
    let path = dir.dir.join("prometheus.yml");
    let app_job = |interval: &str, targets: &[std::net::SocketAddr], extra: &str| {
        let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        format!(
            "global:\n  scrape_interval: {interval}\n  scrape_timeout: 300ms\nscrape_configs:\n  - job_name: app\n{extra}    static_configs:\n      - targets: [{}]\n",
            list.join(", ")
        )
    };
    replace_file(&path, &app_job("500ms", &[a.addr, b.addr], ""));
    let cfg = redline::config::Config::load_file(&path).expect("config loads");
    let mut opts = ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir.dir.join("state"));
    opts.config_path = Some(path.clone());
    let service = Service::start(cfg, opts).await.expect("service starts");
    let api = Api {
        client: reqwest::Client::new(),
        base: format!("http://{}", service.local_addr),
    };
    wait_until(
        "a and b scraped a few times",
        Duration::from_secs(15),
        || async {
            let r = api
                .query("count_over_time(up{job=\"app\"}[1m]) >= 3")
                .await?;
            (r.len() == 2).then_some(())
        },
    )
    .await;

    // A global change the job inherits (its interval), and b replaced by c.
    let reload_began = unix_now() - 0.3;
    replace_file(&path, &app_job("400ms", &[a.addr, c.addr], ""));
    let (status, text) = post_reload(&api).await;
    assert_eq!(status, 200, "{text}");
    let targets = wait_until("a and c up at 400ms", Duration::from_secs(15), || async {
        let v = api.json("/api/v1/targets").await?;
        let active = v["data"]["activeTargets"].as_array()?.clone();
        let ok = active.len() == 2
            && active
                .iter()
                .all(|t| t["health"] == "up" && t["scrapeInterval"] == "400ms");
        ok.then_some(active)
    })
    .await;
    let urls: Vec<&str> = targets
        .iter()
        .filter_map(|t| t["scrapeUrl"].as_str())
        .collect();
    assert!(
        urls.contains(&format!("http://{}/metrics", c.addr).as_str()),
        "{urls:?}"
    );
    wait_until(
        "a few scrapes at the new interval",
        Duration::from_secs(10),
        || async {
            let r = api.query("c_metric").await?;
            (r.len() == 1).then_some(())
        },
    )
    .await;
    scraped_since(&api, "a_metric", reload_began + 1.3).await;
    for q in ["b_metric", &format!("up{{instance=\"{}\"}}", b.addr)] {
        let r = api.query(q).await.expect("query answers");
        assert!(r.is_empty(), "{q} after its target left the job: {r:?}");
    }
    assert_no_gap(&api, "a_metric", reload_began).await;
    assert_no_gap(
        &api,
        &format!("up{{instance=\"{}\"}}", a.addr),
        reload_began,
    )
    .await;

    // Metric relabeling changes: the series cache starts afresh, a_extra (now dropped) goes
    // stale and a_metric continues.
    let reload_began = unix_now() - 0.3;
    let drop_extra = "    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: a_extra\n        action: drop\n";
    replace_file(&path, &app_job("400ms", &[a.addr, c.addr], drop_extra));
    let (status, text) = post_reload(&api).await;
    assert_eq!(status, 200, "{text}");
    wait_until(
        "a_extra stale after the relabel change",
        Duration::from_secs(10),
        || async {
            let r = api.query("a_extra").await?;
            r.is_empty().then_some(())
        },
    )
    .await;
    scraped_since(&api, "a_metric", reload_began + 1.3).await;
    assert_no_gap(&api, "a_metric", reload_began).await;
    service.shutdown().await;
}

/// An SLO spec file with one ratio SLO per name.
fn slo_file(names: &[&str]) -> String {
    let mut out = String::from("version: redline/v1\nservice: shop\nowner: team-shop\nslos:\n");
    for n in names {
        out.push_str(&format!(
            "  - name: {n}\n    objective: 99\n    window: {{rolling: 30d}}\n    sli:\n      ratio:\n        errors: sum(rate(app_errors_total[{{{{.window}}}}]))\n        total: sum(rate(app_requests_total[{{{{.window}}}}]))\n"
        ));
    }
    out
}

/// The ids on `/api/v1/slos`, sorted.
async fn slo_ids(api: &Api) -> Option<Vec<String>> {
    let v = api.json("/api/v1/slos").await?;
    let mut ids: Vec<String> = v["data"]
        .as_array()?
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    Some(ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_adds_and_removes_slos_and_rejects_a_bad_spec() {
    use redline::service::{Service, ServiceOptions};
    redline::install_crypto_provider();
    let app = FixtureServer::start(
        "app_requests_total 100\napp_errors_total 1\n",
        "text/plain; version=0.0.4",
    )
    .await;
    let dir = ConfigMapDir::new("config-reload-slos");
    let path = dir.dir.join("redline.yml");
    let slos = dir.dir.join("slos.yml");
    replace_file(&slos, &slo_file(&["checkout"]));
    let config = |slo_files: &str| {
        format!(
            "global:\n  scrape_interval: 500ms\n  scrape_timeout: 300ms\n{slo_files}slo:\n  evaluation_interval: 1s\n  ledger_step: 1s\nscrape_configs:\n{}",
            job("app", app.addr)
        )
    };
    // The service starts without any SLO file.
    replace_file(&path, &config(""));
    let cfg = redline::config::Config::load_file(&path).expect("config loads");
    let mut opts = ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir.dir.join("state"));
    opts.config_path = Some(path.clone());
    let service = Service::start(cfg, opts).await.expect("service starts");
    let api = Api {
        client: reqwest::Client::new(),
        base: format!("http://{}", service.local_addr),
    };
    let want = |ids: &[&str]| ids.iter().map(|s| format!("shop/{s}")).collect::<Vec<_>>();
    let listed = |ids: Vec<String>| {
        let api = &api;
        async move { slo_ids(api).await.filter(|got| *got == ids) }
    };
    assert_eq!(slo_ids(&api).await.expect("SLO list"), Vec::<String>::new());

    // A reload that adds `slo_files` starts running their SLOs.
    replace_file(
        &path,
        &config(&format!("slo_files: ['{}']\n", slos.display())),
    );
    let (status, body) = post_reload(&api).await;
    assert_eq!(status, 200, "{body}");
    wait_until("the first SLO listed", Duration::from_secs(20), || {
        listed(want(&["checkout"]))
    })
    .await;

    // A second SLO appears and the first stays.
    replace_file(&slos, &slo_file(&["checkout", "search"]));
    let (status, body) = post_reload(&api).await;
    assert_eq!(status, 200, "{body}");
    wait_until("both SLOs listed", Duration::from_secs(20), || {
        listed(want(&["checkout", "search"]))
    })
    .await;

    // A spec that does not load rejects the reload whole: both SLOs stay.
    replace_file(
        &slos,
        "version: redline/v1\nservice: shop\nslos:\n  - name: broken\n",
    );
    let (status, body) = post_reload(&api).await;
    assert_ne!(status, 200, "a bad SLO file is rejected: {body}");
    assert!(body.contains("SLO"), "the error says what failed: {body}");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        slo_ids(&api).await.expect("SLO list"),
        want(&["checkout", "search"])
    );

    // Removing one takes it off the list.
    replace_file(&slos, &slo_file(&["search"]));
    let (status, body) = post_reload(&api).await;
    assert_eq!(status, 200, "{body}");
    wait_until(
        "only the remaining SLO listed",
        Duration::from_secs(20),
        || listed(want(&["search"])),
    )
    .await;
    service.shutdown().await;
}
