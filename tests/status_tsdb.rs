//! `/api/v1/status/tsdb` as an SRE asks it "what blew up my cardinality?".
//!
//! - A target with a known body: the answer's shape (Prometheus' field order), every figure
//!   worked out by hand from the body, `limit` honoured, and a bad `limit` rejected with
//!   Prometheus' error.
//! - Differentially: the kube-state-metrics and node_exporter fixtures served on loopback and
//!   scraped by Debian's Prometheus (2.42) and by redline with the same config. Prometheus
//!   2.42 has no `limit` (always the top 10) and leaves ties in Go map order, so its top 10
//!   is compared value by value, and by name wherever the value is not tied at the cut. The
//!   complete lists are compared with what Prometheus' own query API says about the same
//!   series (`count by (<label>)` for every label name), sorted highest first with ties by
//!   name, as redline documents. 2.42's `memoryInBytesByLabelName` sums each distinct value
//!   once (Prometheus 3, like redline, weighs it by its series): its top 10 is checked
//!   against that formula over the same query results.
//! - An empty store: the answer is Debian's Prometheus' byte for byte (field order, the empty
//!   head's `minTime`/`maxTime`, `[]` lists).

mod common;

use common::{free_port, wait_for, FixtureServer, ServiceInDir, TempDir};
use redline::config::Config;
use redline::service::ServiceOptions;
use redline::store::{MatchOp, Matcher, Querier};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

const BODY: &str = "\
# TYPE http_requests_total counter
http_requests_total{code=\"200\",handler=\"/api\"} 10
http_requests_total{code=\"500\",handler=\"/api\"} 2
http_requests_total{code=\"200\",handler=\"/metrics\"} 7
# TYPE temperature gauge
temperature{room=\"a\"} 21.5
";

/// The series every scrape adds beside the target's own, as Prometheus does.
const REPORT_SERIES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

async fn get(url: &str) -> (u16, String) {
    redline::install_crypto_provider();
    let resp = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

async fn get_json(url: &str) -> (u16, Value) {
    let (status, text) = get(url).await;
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: {e}: {text}"));
    (status, v)
}

/// `[(name, value)]` of one of the answer's lists.
fn pairs(list: &Value) -> Vec<(String, u64)> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|e| {
            (
                e["name"].as_str().expect("name").to_string(),
                e["value"].as_u64().expect("value"),
            )
        })
        .collect()
}

fn owned(v: &[(&str, u64)]) -> Vec<(String, u64)> {
    v.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

/// The oldest and newest sample redline holds, read from its store.
fn store_range(store: &redline::store::Store) -> (i64, i64) {
    let all = Matcher::new(MatchOp::Regex, "__name__", ".+").expect("matcher");
    store
        .select(&[all], i64::MIN / 2, i64::MAX / 2)
        .iter()
        .flat_map(|s| s.samples.first().zip(s.samples.last()))
        .fold((i64::MAX, i64::MIN), |(lo, hi), (a, b)| {
            (lo.min(a.t), hi.max(b.t))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_of_a_known_target_with_limit_and_errors() {
    let srv = FixtureServer::start(BODY, "text/plain; version=0.0.4").await;
    let yaml = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{}']\n",
        srv.addr
    );
    let cfg = Config::from_yaml_str(&yaml, "test.yml").expect("config");
    let at = |dir| ServiceOptions::new("127.0.0.1:0".parse().expect("addr"), dir);
    let svc = ServiceInDir::start(cfg, "status-tsdb", at, Default::default()).await;
    let base = format!("http://{}/api/v1/status/tsdb", svc.local_addr);

    // Nine series once the first scrape and its report are in: the body's four and the five
    // report series.
    let end = Instant::now() + DEADLINE;
    let (before, v) = loop {
        let before = store_range(&svc.store);
        let (status, v) = get_json(&base).await;
        assert_eq!(status, 200, "{v}");
        if v["data"]["headStats"]["numSeries"] == 9 {
            break (before, v);
        }
        assert!(Instant::now() < end, "redline never held 9 series: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let after = store_range(&svc.store);
    let d = &v["data"];
    let instance = srv.addr.to_string();
    let head = &d["headStats"];
    // __name__: http_requests_total, temperature and the 5 report names; job, instance,
    // room one value each; code 200/500, handler /api and /metrics.
    assert_eq!(head["numLabelPairs"], 7 + 1 + 1 + 1 + 2 + 2);
    // One chunk per series: far fewer than 120 scrapes so far.
    assert_eq!(head["chunkCount"], 9);
    // The oldest sample is the first scrape's, which no later scrape changes; the newest
    // lies between the store's newest before the request (or the oldest, when the first
    // scrape came in meanwhile) and after it.
    assert_eq!(head["minTime"].as_i64(), Some(after.0));
    let max = head["maxTime"].as_i64().expect("maxTime");
    assert!(
        (before.1.max(after.0)..=after.1).contains(&max),
        "{max} {before:?} {after:?}"
    );

    let mut by_metric = vec![("http_requests_total", 3)];
    let mut ones: Vec<&str> = REPORT_SERIES.to_vec();
    ones.push("temperature");
    ones.sort();
    by_metric.extend(ones.iter().map(|n| (*n, 1)));
    assert_eq!(pairs(&d["seriesCountByMetricName"]), owned(&by_metric));
    assert_eq!(
        pairs(&d["labelValueCountByLabelName"]),
        owned(&[
            ("__name__", 7),
            ("code", 2),
            ("handler", 2),
            ("instance", 1),
            ("job", 1),
            ("room", 1),
        ])
    );
    // Bytes of each value times the series carrying it.
    let name_bytes =
        "http_requests_total".len() as u64 * 3 + ones.iter().map(|n| n.len() as u64).sum::<u64>();
    let instance_bytes = instance.len() as u64 * 9;
    let job_bytes = "app".len() as u64 * 9;
    let handler_bytes = "/api".len() as u64 * 2 + "/metrics".len() as u64;
    let code_bytes = "200".len() as u64 * 2 + "500".len() as u64;
    let room_bytes = "a".len() as u64;
    let mut memory = vec![
        ("__name__".to_string(), name_bytes),
        ("instance".to_string(), instance_bytes),
        ("job".to_string(), job_bytes),
        ("handler".to_string(), handler_bytes),
        ("code".to_string(), code_bytes),
        ("room".to_string(), room_bytes),
    ];
    memory.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    assert_eq!(pairs(&d["memoryInBytesByLabelName"]), memory);
    // instance and job on all nine; then http_requests_total, code=200, handler=/api; then
    // the first five of the single-series pairs in byte order ("__name__=…" first).
    let mut by_pair = vec![
        (format!("instance={instance}"), 9),
        ("job=app".to_string(), 9),
        ("__name__=http_requests_total".to_string(), 3),
        ("code=200".to_string(), 2),
        ("handler=/api".to_string(), 2),
    ];
    by_pair.extend(ones.iter().take(5).map(|n| (format!("__name__={n}"), 1)));
    assert_eq!(pairs(&d["seriesCountByLabelValuePair"]), by_pair);

    // Prometheus' field order; `data` holds exactly the head stats and the four lists.
    let (_, text) = get(&base).await;
    let at = |k: &str| {
        text.find(&format!("\"{k}\""))
            .unwrap_or_else(|| panic!("{k} missing: {text}"))
    };
    assert!(text.starts_with(r#"{"status":"success","data":{"headStats":{"numSeries":9,"numLabelPairs":14,"chunkCount":9,"minTime":"#), "{text}");
    let order = [
        "headStats",
        "maxTime",
        "seriesCountByMetricName",
        "labelValueCountByLabelName",
        "memoryInBytesByLabelName",
        "seriesCountByLabelValuePair",
    ];
    assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{text}");
    assert_eq!(d.as_object().map(|o| o.len()), Some(5), "{d}");

    // `limit` cuts every list, keeping the highest.
    let (status, v) = get_json(&format!("{base}?limit=2")).await;
    assert_eq!(status, 200, "{v}");
    let d = &v["data"];
    assert_eq!(
        pairs(&d["seriesCountByMetricName"]),
        owned(&[("http_requests_total", 3), ("scrape_duration_seconds", 1)])
    );
    assert_eq!(
        pairs(&d["labelValueCountByLabelName"]),
        owned(&[("__name__", 7), ("code", 2)])
    );
    assert_eq!(pairs(&d["memoryInBytesByLabelName"]), memory[..2].to_vec());
    assert_eq!(
        pairs(&d["seriesCountByLabelValuePair"]),
        by_pair[..2].to_vec()
    );
    assert_eq!(d["headStats"]["numSeries"], 9, "counts are not cut");
    // A limit above every list's length returns them whole.
    let (_, v) = get_json(&format!("{base}?limit=1000")).await;
    assert_eq!(pairs(&v["data"]["seriesCountByLabelValuePair"]).len(), 14);

    for bad in ["0", "-3", "ten", "2.5"] {
        let (status, v) = get_json(&format!("{base}?limit={bad}")).await;
        assert_eq!(status, 400, "limit={bad}: {v}");
        assert_eq!(
            v,
            serde_json::json!({
                "status": "error",
                "errorType": "bad_data",
                "error": "limit must be a positive number",
            }),
            "limit={bad}"
        );
    }
    svc.shutdown().await;
}

/// One scraper under test: where its API is.
struct Server {
    base: String,
}

impl Server {
    async fn query(&self, q: &str) -> Vec<Value> {
        let url = format!(
            "{}/api/v1/query?query={}",
            self.base,
            form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        );
        let (status, v) = get_json(&url).await;
        assert_eq!(status, 200, "{url}: {v}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until both targets' first scrape and its report series are stored.
    async fn wait_scraped(&self, what: &str) {
        let end = Instant::now() + DEADLINE;
        loop {
            let added = self.query("count(scrape_series_added)").await;
            if added.first().map(|s| s["value"][1].clone()) == Some(Value::from("2")) {
                return;
            }
            assert!(Instant::now() < end, "{what} never scraped both targets");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn status(&self, query: &str) -> Value {
        let (status, v) = get_json(&format!("{}/api/v1/status/tsdb{query}", self.base)).await;
        assert_eq!(status, 200, "{v}");
        v["data"].clone()
    }

    async fn label_names(&self) -> Vec<String> {
        let (_, v) = get_json(&format!("{}/api/v1/labels", self.base)).await;
        v["data"]
            .as_array()
            .expect("label names")
            .iter()
            .map(|n| n.as_str().expect("name").to_string())
            .collect()
    }
}

/// Sorted highest first, ties by name: the order redline documents.
fn ranked(mut v: Vec<(String, u64)>) -> Vec<(String, u64)> {
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// What Prometheus' query API says of the scraped series.
struct Expected {
    /// The four lists of `/api/v1/status/tsdb`, complete, by field name.
    lists: [(&'static str, Vec<(String, u64)>); 4],
    /// Per label name, the bytes of its distinct values: what Prometheus 2.42 reports as
    /// `memoryInBytesByLabelName` (later versions multiply each value by its series).
    distinct_bytes: Vec<(String, u64)>,
}

/// The four lists, complete, from Prometheus' query API: `count by (<name>)` over the series
/// carrying each label name.
async fn expected_from_queries(prom: &Server) -> Expected {
    let (mut by_metric, mut values, mut bytes, mut by_pair) = (vec![], vec![], vec![], vec![]);
    let mut distinct_bytes = vec![];
    for name in prom.label_names().await {
        let rows = prom
            .query(&format!("count by ({name}) ({{{name}!=\"\"}})"))
            .await;
        let (mut total, mut distinct) = (0, 0);
        for r in &rows {
            let value = r["metric"][&name]
                .as_str()
                .expect("label value")
                .to_string();
            let series: u64 = r["value"][1]
                .as_str()
                .and_then(|c| c.parse().ok())
                .expect("count");
            total += value.len() as u64 * series;
            distinct += value.len() as u64;
            if name == "__name__" {
                by_metric.push((value.clone(), series));
            }
            by_pair.push((format!("{name}={value}"), series));
        }
        values.push((name.clone(), rows.len() as u64));
        distinct_bytes.push((name.clone(), distinct));
        bytes.push((name, total));
    }
    Expected {
        lists: [
            ("seriesCountByMetricName", ranked(by_metric)),
            ("labelValueCountByLabelName", ranked(values)),
            ("memoryInBytesByLabelName", ranked(bytes)),
            ("seriesCountByLabelValuePair", ranked(by_pair)),
        ],
        distinct_bytes: ranked(distinct_bytes),
    }
}

/// redline's complete list against the expected one, naming the first difference.
fn same_list(what: &str, ours: &[(String, u64)], want: &[(String, u64)]) {
    if let Some(i) = (0..ours.len().max(want.len())).find(|&i| ours.get(i) != want.get(i)) {
        panic!(
            "{what}: {} entries, expected {}; first difference at {i}: {:?}, expected {:?}",
            ours.len(),
            want.len(),
            ours.get(i),
            want.get(i)
        );
    }
}

/// Prometheus' top 10 of one list against redline's: the same values in the same order, and
/// the same names except among the entries tied at the cut, which must still be names with
/// that value in redline's complete list.
fn same_top(what: &str, prom: &[(String, u64)], ours: &[(String, u64)], full: &[(String, u64)]) {
    let values = |l: &[(String, u64)]| l.iter().map(|e| e.1).collect::<Vec<_>>();
    assert_eq!(values(prom), values(ours), "{what}: values");
    let cut = prom.last().map_or(0, |e| e.1);
    let above = |l: &[(String, u64)]| {
        l.iter()
            .filter(|e| e.1 > cut)
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(above(prom), above(ours), "{what}: names above the cut");
    let tied: BTreeSet<&str> = full
        .iter()
        .filter(|e| e.1 == cut)
        .map(|e| e.0.as_str())
        .collect();
    for (name, _) in prom.iter().filter(|e| e.1 == cut) {
        assert!(tied.contains(name.as_str()), "{what}: {name} tied at {cut}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_figures_as_debian_prometheus_on_the_same_scrapes() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let body =
        |f: &str| std::fs::read_to_string(fixtures.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    let ksm = FixtureServer::start(
        &body("kube-state-metrics.prom"),
        "text/plain; version=0.0.4",
    )
    .await;
    let node = FixtureServer::start(&body("node_exporter.prom"), "text/plain; version=0.0.4").await;
    let yaml = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: fixtures\n    static_configs:\n      - targets: ['{}', '{}']\n",
        ksm.addr, node.addr
    );

    let dir = TempDir::new("status-tsdb-prometheus");
    std::fs::write(dir.join("prometheus.yml"), &yaml).expect("write prometheus.yml");
    let port = free_port();
    let _prometheus = common::start_prometheus(&dir, port, &[]);
    let prom = Server {
        base: format!("http://127.0.0.1:{port}"),
    };

    let cfg = Config::from_yaml_str(&yaml, "redline.yml").expect("config");
    let at = |dir| ServiceOptions::new("127.0.0.1:0".parse().expect("addr"), dir);
    let svc = ServiceInDir::start(cfg, "status-tsdb-redline", at, Default::default()).await;
    let ours = Server {
        base: format!("http://{}", svc.local_addr),
    };

    wait_for("prometheus to listen", DEADLINE, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .await;
    prom.wait_scraped("Debian's prometheus").await;
    ours.wait_scraped("redline").await;

    // Prometheus computes its lists at the first call (and caches them for 30 s): every
    // series is in by now, as the report series are written after the samples.
    let p = prom.status("").await;
    let r = ours.status("").await;
    for field in ["numSeries", "numLabelPairs"] {
        assert_eq!(p["headStats"][field], r["headStats"][field], "{field}");
    }
    // Both hold the fixtures' series and the five report series per target: the count from
    // Prometheus' own query API.
    let count = prom.query("count({__name__!=\"\"})").await;
    assert_eq!(
        Some(p["headStats"]["numSeries"].to_string()),
        count
            .first()
            .and_then(|s| s["value"][1].as_str().map(str::to_string)),
    );

    let full = ours.status("?limit=100000").await;
    let expected = expected_from_queries(&prom).await;
    let mut sizes = BTreeMap::new();
    for (field, want) in &expected.lists {
        let complete = pairs(&full[*field]);
        same_list(field, &complete, want);
        sizes.insert(*field, complete.len());
        // redline's default answer is the head of its complete list.
        let top = pairs(&r[*field]);
        assert_eq!(top, complete[..complete.len().min(10)], "{field}: top 10");
        if *field == "memoryInBytesByLabelName" {
            // Prometheus 2.42 sums each distinct value once; Prometheus 3 (and redline)
            // weighs each value by its series. 2.42's answer is checked against the same
            // series as its query API reports them.
            let d = &expected.distinct_bytes;
            same_top(field, &pairs(&p[*field]), &d[..d.len().min(10)], d);
            continue;
        }
        same_top(field, &pairs(&p[*field]), &pairs(&r[*field]), &complete);
    }
    // The fixtures are big enough that every list is cut at 10.
    assert!(sizes.values().all(|n| *n > 10), "{sizes:?}");
    svc.shutdown().await;
}

/// With nothing stored, redline's answer is Debian's Prometheus' byte for byte: the empty
/// head's `minTime` is the largest int64 and its `maxTime` the smallest, the lists `[]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_store_answers_as_prometheus_byte_for_byte() {
    let yaml = "scrape_configs: []\n";
    let dir = TempDir::new("status-tsdb-empty");
    std::fs::write(dir.join("prometheus.yml"), yaml).expect("write prometheus.yml");
    let port = free_port();
    let _prometheus = common::start_prometheus(&dir, port, &[]);
    let cfg = Config::from_yaml_str(yaml, "redline.yml").expect("config");
    let at = |dir| ServiceOptions::new("127.0.0.1:0".parse().expect("addr"), dir);
    let svc = ServiceInDir::start(cfg, "status-tsdb-empty", at, Default::default()).await;

    let end = Instant::now() + DEADLINE;
    let prom = loop {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/status/tsdb")).await {
            if r.status().is_success() {
                break r.text().await.expect("prometheus body");
            }
        }
        assert!(Instant::now() < end, "Debian's prometheus never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (status, ours) = get(&format!("http://{}/api/v1/status/tsdb", svc.local_addr)).await;
    assert_eq!(status, 200, "{ours}");
    assert_eq!(ours, prom);
    assert!(
        prom.contains(r#""minTime":9223372036854775807,"maxTime":-9223372036854775808"#),
        "{prom}"
    );
    svc.shutdown().await;
}
