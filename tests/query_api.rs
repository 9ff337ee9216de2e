//! The Prometheus query API as Grafana's Prometheus data source uses it: shapes, parameters
//! in the URL and in POSTed forms, and errors with Prometheus' error types and status codes.

mod common;

use common::{wait_for, FixtureServer, ServiceInDir};
use redline::config::Config;
use redline::http::QueryLimits;
use redline::service::{Service, ServiceOptions};
use redline::store::{Matcher, Querier};
use serde_json::Value;
use std::time::{Duration, SystemTime};

const BODY: &str = "\
# TYPE http_requests_total counter
http_requests_total{code=\"200\",handler=\"/api\"} 10
http_requests_total{code=\"500\",handler=\"/api\"} 2
# TYPE temperature gauge
temperature{room=\"a\"} 21.5
";

async fn start(limits: QueryLimits) -> (ServiceInDir, FixtureServer) {
    let srv = FixtureServer::start(BODY, "text/plain; version=0.0.4").await;
    let yaml = format!(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{}']\n",
        srv.addr
    );
    let cfg = Config::from_yaml_str(&yaml, "test.yml").unwrap();
    let at = |dir| ServiceOptions {
        query: limits,
        ..ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir)
    };
    let svc = ServiceInDir::start(cfg, "query", at, Default::default()).await;
    let store = svc.store.clone();
    wait_for("two scrapes", Duration::from_secs(10), || {
        let now = redline::timefmt::unix_ms(SystemTime::now());
        let s = store.select(&[Matcher::equal("__name__", "temperature")], 0, now);
        s.first().filter(|s| s.samples.len() >= 2).map(|_| ())
    })
    .await;
    (svc, srv)
}

async fn get(svc: &Service, path_and_query: &str) -> (u16, Value) {
    redline::install_crypto_provider();
    let resp = reqwest::get(format!("http://{}{}", svc.local_addr, path_and_query))
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")),
    )
}

async fn post_form(svc: &Service, path: &str, form: &str) -> (u16, Value) {
    redline::install_crypto_provider();
    let resp = reqwest::Client::new()
        .post(format!("http://{}{}", svc.local_addr, path))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    (status, serde_json::from_str(&body).unwrap())
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_and_range_queries_have_prometheus_shapes() {
    let (svc, _srv) = start(QueryLimits::default()).await;

    let (status, v) = get(
        &svc,
        "/api/v1/query?query=sum%20by%20(code)%20(http_requests_total)",
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "vector");
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2);
    let errors = result
        .iter()
        .find(|r| r["metric"]["code"] == "500")
        .unwrap();
    assert_eq!(errors["value"][1], "2");
    assert!(
        errors["value"][0].as_f64().unwrap() > 1.0e9,
        "timestamps are Unix seconds"
    );
    assert!(
        errors["metric"].get("__name__").is_none(),
        "sum drops the name"
    );

    let (_, v) = get(&svc, "/api/v1/query?query=1%2B1").await;
    assert_eq!(v["data"]["resultType"], "scalar");
    assert_eq!(v["data"]["result"][1], "2");

    // From the first scrape on, so every step has a sample within the lookback, over at
    // least 1.5 s of scrapes.
    let first = svc.store.select(
        &[Matcher::equal("__name__", "temperature")],
        0,
        i64::MAX / 2,
    )[0]
    .samples[0]
        .t as f64
        / 1000.0;
    let end = wait_for("1.5 s of scrapes", Duration::from_secs(10), || {
        let now = now_s();
        (now - first >= 1.5).then_some(now)
    })
    .await;
    let start = first;
    let (status, v) = post_form(
        &svc,
        "/api/v1/query_range",
        &format!("query=temperature&start={start}&end={end}&step=0.5"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["resultType"], "matrix");
    let series = &v["data"]["result"][0];
    assert_eq!(series["metric"]["__name__"], "temperature");
    assert_eq!(series["metric"]["job"], "app");
    let values = series["values"].as_array().unwrap();
    assert!(values.len() >= 3, "{values:?}");
    assert!(values.iter().all(|p| p[1] == "21.5"));
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_labels_and_label_values() {
    let (svc, srv) = start(QueryLimits::default()).await;
    let (status, v) = get(
        &svc,
        "/api/v1/series?match[]=http_requests_total&match[]=temperature",
    )
    .await;
    assert_eq!(status, 200, "{v}");
    // Every label set the two selectors match, as the scrape stored it (the target's
    // `instance` and `job` added), in Prometheus' order: the union of both selectors' series,
    // sorted by label set.
    let instance = srv.addr.to_string();
    let series = |name: &str, extra: &[(&str, &str)]| {
        let mut m = serde_json::Map::new();
        m.insert("__name__".into(), name.into());
        for (k, v) in extra {
            m.insert((*k).into(), (*v).into());
        }
        m.insert("instance".into(), instance.as_str().into());
        m.insert("job".into(), "app".into());
        Value::Object(m)
    };
    assert_eq!(
        v["data"],
        Value::Array(vec![
            series(
                "http_requests_total",
                &[("code", "200"), ("handler", "/api")]
            ),
            series(
                "http_requests_total",
                &[("code", "500"), ("handler", "/api")]
            ),
            series("temperature", &[("room", "a")]),
        ]),
        "{v}"
    );
    // One selector alone returns only its own series.
    let (_, v) = get(&svc, "/api/v1/series?match[]={code=%22500%22}").await;
    assert_eq!(
        v["data"],
        Value::Array(vec![series(
            "http_requests_total",
            &[("code", "500"), ("handler", "/api")]
        )]),
        "{v}"
    );

    let (_, v) = get(&svc, "/api/v1/labels").await;
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    for n in ["__name__", "code", "handler", "instance", "job", "room"] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }

    let (_, v) = get(&svc, "/api/v1/label/code/values").await;
    assert_eq!(v["data"], serde_json::json!(["200", "500"]));
    let (_, v) = get(
        &svc,
        "/api/v1/label/__name__/values?match[]={job=%22app%22}",
    )
    .await;
    let metric_names = v["data"].as_array().unwrap();
    assert!(metric_names.contains(&Value::from("temperature")));
    assert!(metric_names.contains(&Value::from("up")));

    let (status, v) = get(&svc, "/api/v1/series").await;
    assert_eq!(status, 400);
    assert_eq!(v["errorType"], "bad_data");

    let (status, v) = get(&svc, "/api/v1/status/buildinfo").await;
    assert_eq!(status, 200);
    assert!(v["data"]["version"].is_string());
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_prometheus_error_types() {
    let (svc, _srv) = start(QueryLimits {
        max_samples: 2,
        ..QueryLimits::default()
    })
    .await;
    let (status, v) = get(&svc, "/api/v1/query?query=sum(").await;
    assert_eq!(status, 400);
    assert_eq!(v["status"], "error");
    assert_eq!(v["errorType"], "bad_data");

    let (status, v) = get(&svc, "/api/v1/query").await;
    assert_eq!(status, 400, "{v}");

    let (status, v) = get(&svc, "/api/v1/query?query=up&time=yesterday").await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("time"), "{v}");

    let end = now_s();
    let (status, v) = get(
        &svc,
        &format!(
            "/api/v1/query_range?query=up&start={}&end={end}&step=0",
            end - 10.0
        ),
    )
    .await;
    assert_eq!(status, 400, "{v}");

    // More samples than --query.max-samples allows: an execution error, not memory growth.
    let (status, v) = get(
        &svc,
        "/api/v1/query?query=count_over_time(http_requests_total[1h])",
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["errorType"], "execution");
    assert!(
        v["error"].as_str().unwrap().contains("too many samples"),
        "{v}"
    );
    svc.shutdown().await;
}
