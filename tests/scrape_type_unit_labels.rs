//! Prometheus' `type-and-unit-labels` feature end to end: a loopback target exposes
//! OpenMetrics with `# TYPE` and `# UNIT`; with `--enable-feature=type-and-unit-labels` the
//! scraped series carry `__type__` and `__unit__` (`/api/v1/series` shows them), `rate`
//! drops them with the name, and `rate` over a gauge raises the `__type__` info. Without the
//! feature (the control) the same scrape stores no such labels.

mod common;

use common::{get_json, wait_for, FixtureServer, ServiceInDir};
use redline::config::Config;
use redline::scrape::discovery::DiscoveryOptions;
use redline::service::ServiceOptions;
use redline::store::{Matcher, Querier};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

const BODY: &str = "# TYPE job_seconds counter\n\
# UNIT job_seconds seconds\n\
job_seconds_total 5\n\
# TYPE room_celsius gauge\n\
# UNIT room_celsius celsius\n\
room_celsius 20\n\
# TYPE build info\n\
build_info{version=\"1\"} 1\n\
# EOF\n";

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn start(feature: bool, name: &str) -> (FixtureServer, ServiceInDir) {
    let srv = FixtureServer::start(BODY, OPENMETRICS).await;
    let yaml = format!(
        "
global:
  scrape_interval: 200ms
  scrape_timeout: 200ms
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ['{}']
",
        srv.addr
    );
    let cfg = Config::from_yaml_str(&yaml, "test.yml").expect("config parses");
    let svc = ServiceInDir::start(
        cfg,
        &format!("type-unit-{name}"),
        |dir| {
            let mut opts = ServiceOptions::new("127.0.0.1:0".parse().unwrap(), dir);
            opts.query.features.type_and_unit_labels = feature;
            opts
        },
        DiscoveryOptions::default(),
    )
    .await;
    // Two scrapes of the counter: enough for `rate` over a minute.
    let store = svc.store.clone();
    wait_for("two scrapes", Duration::from_secs(10), || {
        let now = redline::timefmt::unix_ms(SystemTime::now());
        let found = store.select(&[Matcher::equal("__name__", "job_seconds_total")], 0, now);
        (found.first()?.samples.len() >= 2).then_some(())
    })
    .await;
    (srv, svc)
}

/// The one series `/api/v1/series` finds for `selector`.
async fn series(svc: &ServiceInDir, selector: &str) -> Value {
    let v = get_json(&format!(
        "http://{}/api/v1/series?match[]={selector}",
        svc.local_addr
    ))
    .await;
    let data = v["data"].as_array().expect("series data").clone();
    assert_eq!(data.len(), 1, "{selector}: {v}");
    data[0].clone()
}

async fn query(svc: &ServiceInDir, q: &str) -> Value {
    let url = reqwest::Url::parse_with_params(
        &format!("http://{}/api/v1/query", svc.local_addr),
        &[("query", q)],
    )
    .expect("query URL");
    get_json(url.as_str()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraped_series_carry_type_and_unit_and_rate_drops_them() {
    let (srv, svc) = start(true, "on").await;
    let instance = srv.addr.to_string();
    assert_eq!(
        series(&svc, "job_seconds_total").await,
        json!({"__name__": "job_seconds_total", "__type__": "counter", "__unit__": "seconds",
               "instance": instance, "job": "app"})
    );
    assert_eq!(
        series(&svc, "room_celsius").await,
        json!({"__name__": "room_celsius", "__type__": "gauge", "__unit__": "celsius",
               "instance": instance, "job": "app"})
    );
    // A family without `# UNIT` gets no `__unit__`.
    assert_eq!(
        series(&svc, "build_info").await,
        json!({"__name__": "build_info", "__type__": "info", "instance": instance,
               "job": "app", "version": "1"})
    );
    // The synthetic series of the scrape have no metadata, so no labels of it.
    assert_eq!(
        series(&svc, "up").await,
        json!({"__name__": "up", "instance": instance, "job": "app"})
    );

    // The counter stays at 5: its rate is 0, under the target's labels only.
    let r = query(&svc, "rate(job_seconds_total[1m])").await;
    assert_eq!(
        r["data"]["result"],
        json!([{"metric": {"instance": instance, "job": "app"}, "value": r["data"]["result"][0]["value"]}]),
        "{r}"
    );
    assert_eq!(r["data"]["result"][0]["value"][1], "0", "{r}");
    assert!(r.get("infos").is_none(), "a counter raises no info: {r}");
    // Control: the selector alone keeps them.
    let r = query(&svc, "job_seconds_total").await;
    assert_eq!(
        r["data"]["result"][0]["metric"]["__type__"], "counter",
        "{r}"
    );

    // `rate` over a gauge: upstream's info names the type it found.
    let r = query(&svc, "rate(room_celsius[1m])").await;
    assert_eq!(
        r["infos"],
        json!([
            r#"PromQL info: metric might not be a counter, __type__ label is not set to "counter" or "histogram", got "gauge": "room_celsius" (1:6)"#
        ]),
        "{r}"
    );
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_feature_no_type_or_unit_labels() {
    let (srv, svc) = start(false, "off").await;
    let instance = srv.addr.to_string();
    assert_eq!(
        series(&svc, "job_seconds_total").await,
        json!({"__name__": "job_seconds_total", "instance": instance, "job": "app"})
    );
    // And `rate` judges by the name: `room_celsius` has no counter suffix.
    let r = query(&svc, "rate(room_celsius[1m])").await;
    assert_eq!(
        r["infos"],
        json!([
            r#"PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "room_celsius" (1:6)"#
        ]),
        "{r}"
    );
    svc.shutdown().await;
}
