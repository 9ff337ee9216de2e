//! UTF-8 metric and label names (Prometheus 3.0) from scrape to query: a target exposing
//! quoted names (`{"http.server.duration", "service.name"="api"}`), the series found by
//! their quoted names in PromQL, grouped by a quoted label, and listed by the series,
//! labels and label-values APIs (with Prometheus 3's `U__` escaping of the label name in
//! the path); and a job with `metric_name_validation_scheme: legacy` whose scrape of the
//! same body fails with Prometheus 3's message.
//!
//! Debian's Prometheus (2.42) predates UTF-8 names, so no peer runs here: the expected
//! values are written out from the body below and Prometheus 3's documented rules
//! (docs `guides/utf8.md`; `web/api/v1` `labelValues`; `scrape.go`'s label set check).

mod common;

use common::{target_health as health, wait_for, FixtureServer, ServiceInDir};
use redline::config::Config;
use redline::service::{Service, ServiceOptions};
use redline::store::{Matcher, Querier};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

/// What a Prometheus 3 client library serves to a scraper that asked for
/// `escaping=allow-utf-8`.
const BODY: &str = "\
# HELP \"http.server.duration\" Request time.
# TYPE \"http.server.duration\" gauge
{\"http.server.duration\",\"service.name\"=\"api\",code=\"200\"} 0.25
{\"http.server.duration\",\"service.name\"=\"web\",code=\"200\"} 0.5
legacy_metric{\"service.name\"=\"api\"} 1
";

async fn start() -> (ServiceInDir, FixtureServer) {
    let srv = FixtureServer::start(
        BODY,
        "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
    )
    .await;
    let yaml = format!(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: utf8\n    static_configs: [{{targets: ['{a}']}}]\n  - job_name: legacy\n    metric_name_validation_scheme: legacy\n    static_configs: [{{targets: ['{a}']}}]\n",
        a = srv.addr
    );
    let cfg = Config::from_yaml_str(&yaml, "test.yml").unwrap_or_else(|e| panic!("{e}"));
    let at = |dir| ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir);
    let svc = ServiceInDir::start(cfg, "utf8-names", at, Default::default()).await;
    let store = svc.store.clone();
    wait_for(
        "a scrape of the UTF-8 names",
        Duration::from_secs(10),
        || {
            let now = redline::timefmt::unix_ms(SystemTime::now());
            let s = store.select(&[Matcher::equal("__name__", "legacy_metric")], 0, now);
            s.first().filter(|s| !s.samples.is_empty()).map(|_| ())
        },
    )
    .await;
    (svc, srv)
}

async fn get(svc: &Service, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    redline::install_crypto_provider();
    let url = reqwest::Url::parse_with_params(&format!("http://{}{}", svc.local_addr, path), query)
        .unwrap();
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")),
    )
}

/// An instant query's result as (metric, value) pairs, sorted by metric.
async fn instant(svc: &Service, q: &str) -> Vec<(Value, String)> {
    let (status, v) = get(svc, "/api/v1/query", &[("query", q)]).await;
    assert_eq!(status, 200, "{q}: {v}");
    assert_eq!(v["data"]["resultType"], "vector", "{q}: {v}");
    let mut out: Vec<(Value, String)> = v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{q}: {v}"))
        .iter()
        .map(|r| {
            (
                r["metric"].clone(),
                r["value"][1].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    out.sort_by_key(|(m, _)| m.to_string());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dotted_names_are_scraped_and_queried_by_their_quoted_names() {
    let (svc, srv) = start().await;
    let instance = srv.addr.to_string();
    let series = |name: &str, service: &str| {
        json!({
            "__name__": name,
            "code": "200",
            "instance": instance,
            "job": "utf8",
            "service.name": service,
        })
    };

    // The selector of the UTF-8 guide: the name quoted inside the braces.
    assert_eq!(
        instant(
            &svc,
            r#"{"http.server.duration", "service.name"="api", job="utf8"}"#
        )
        .await,
        [(series("http.server.duration", "api"), "0.25".into())]
    );
    // A quoted label name in a grouping clause: one group per service (0.25 and 0.5).
    assert_eq!(
        instant(
            &svc,
            r#"sum by ("service.name") ({"http.server.duration", job="utf8"})"#
        )
        .await,
        [
            (json!({"service.name": "api"}), "0.25".into()),
            (json!({"service.name": "web"}), "0.5".into()),
        ]
    );

    // /api/v1/series with a quoted label name in match[]: the two `api` series.
    let (status, v) = get(
        &svc,
        "/api/v1/series",
        &[("match[]", r#"{"service.name"="api", job="utf8"}"#)],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let mut legacy = series("legacy_metric", "api");
    legacy.as_object_mut().map(|m| m.remove("code"));
    assert_eq!(
        v["data"],
        json!([series("http.server.duration", "api"), legacy]),
        "{v}"
    );

    let (_, v) = get(&svc, "/api/v1/labels", &[]).await;
    assert!(
        v["data"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("service.name"))),
        "{v}"
    );
    // The label name in the path: as it is, and `U__`-escaped (`.` is U+2E).
    for name in ["service.name", "U__service_2e_name"] {
        let (status, v) = get(&svc, &format!("/api/v1/label/{name}/values"), &[]).await;
        assert_eq!(status, 200, "{name}: {v}");
        assert_eq!(v["data"], json!(["api", "web"]), "{name}");
    }
    // A name that does not decode is taken literally: no such label, no values.
    let (status, v) = get(&svc, "/api/v1/label/U__service_zz_name/values", &[]).await;
    assert_eq!((status, &v["data"]), (200, &json!([])), "{v}");
    let (_, v) = get(&svc, "/api/v1/label/__name__/values", &[]).await;
    let names = v["data"].as_array().cloned().unwrap_or_default();
    assert!(names.contains(&json!("http.server.duration")), "{v}");
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_validation_fails_the_scrape_of_utf8_names() {
    let (svc, srv) = start().await;
    // The UTF-8 job scraped the body (start() waited for it); the legacy job's scrape of
    // the same body fails on its first series, printed as Prometheus 3's
    // `labels.Labels.String` prints it: sorted, non-legacy names quoted.
    assert_eq!(health(&svc, "utf8").await, ("up".into(), "".into()));
    let (state, error) = health(&svc, "legacy").await;
    assert_eq!(state, "down");
    let want = format!(
        r#"invalid metric name or label names: {{__name__="http.server.duration", code="200", instance="{}", job="legacy", "service.name"="api"}}"#,
        srv.addr
    );
    assert!(error.ends_with(&want), "lastError: {error}");
    // Nothing of the failed scrape is stored: the legacy job has only its `up` and other
    // report series.
    let now = redline::timefmt::unix_ms(SystemTime::now());
    let stored = svc
        .store
        .select(&[Matcher::equal("job", "legacy")], 0, now)
        .iter()
        .filter_map(|s| s.labels.get("__name__").map(str::to_string))
        .filter(|n| !n.starts_with("scrape_") && n != "up")
        .collect::<Vec<_>>();
    assert!(stored.is_empty(), "{stored:?}");
    svc.shutdown().await;
}
