//! `created-timestamp-zero-ingestion` end to end: a loopback OpenMetrics target whose counter
//! and histogram have `_created` lines, scraped twice with the feature on and once without.
//! What is expected follows Prometheus' scrape loop and head appender (`AppendSTZeroSample`,
//! `AppendHistogramSTZeroSample`): a zero sample at the created timestamp before the first
//! sample, none again once the series has later samples, and no `_created` series.

use crate::histogram::{CounterResetHint, CUSTOM_BUCKETS_SCHEMA};
use crate::scrape::client::JobClient;
use crate::scrape::scrape_loop::ScrapeLoop;
use crate::scrape::target::{Target, TargetSpec};
use crate::store::{Matcher, Querier, SeriesSamples, Store, METRIC_NAME};
use crate::telemetry::Telemetry;
use std::sync::{Arc, Mutex};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A loopback target answering `GET /metrics` with what `body` holds at the time, as
/// OpenMetrics.
async fn om_target(body: Arc<Mutex<String>>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the target");
    let addr = listener.local_addr().expect("target address");
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let text = body.lock().map(|b| b.clone()).unwrap_or_default();
            async move { ([(axum::http::header::CONTENT_TYPE, OPENMETRICS)], text) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// A counter and a histogram created at `created_s` (seconds, OpenMetrics' unit).
fn body(created_s: f64, requests: u64) -> String {
    format!(
        "# TYPE req counter\nreq_total {requests}\nreq_created {created_s}\n\
         # TYPE lat_seconds histogram\nlat_seconds_bucket{{le=\"1\"}} {requests}\n\
         lat_seconds_bucket{{le=\"+Inf\"}} {requests}\nlat_seconds_count {requests}\n\
         lat_seconds_sum {requests}\nlat_seconds_created {created_s}\n# EOF\n"
    )
}

fn series(store: &Store, name: &str) -> Vec<SeriesSamples> {
    store.select(&[Matcher::equal(METRIC_NAME, name)], i64::MIN, i64::MAX)
}

async fn scrape_loop(store: &Arc<Store>, addr: std::net::SocketAddr, on: bool) -> ScrapeLoop {
    let mut spec = TargetSpec::unlabelled(&format!("http://{addr}/metrics"));
    spec.created_timestamp_zero_ingestion = on;
    spec.histograms.convert_classic_histograms_to_nhcb = true;
    let client = JobClient::new(
        &crate::config::HttpClientSettings::default(),
        crate::config::ScrapeProtocol::accept_header(&crate::config::ScrapeProtocol::DEFAULT),
    )
    .expect("client builds");
    let telemetry = Arc::new(Telemetry::new(store.clone()));
    ScrapeLoop::new(
        Arc::new(Target::new(spec)),
        client,
        store.clone(),
        telemetry,
    )
}

#[tokio::test]
async fn created_timestamps_become_zero_samples() {
    crate::install_crypto_provider();
    // Created about a minute ago, half a second past a whole second.
    let now = crate::timefmt::unix_ms(std::time::SystemTime::now());
    let created_ms = (now - 60_000) / 1000 * 1000 + 500;
    let created_s = created_ms as f64 / 1000.0;
    let text = Arc::new(Mutex::new(body(created_s, 5)));
    let addr = om_target(text.clone()).await;
    let store = Arc::new(Store::new());
    let mut lp = scrape_loop(&store, addr, true).await;
    lp.scrape_once().await.expect("first scrape");

    // The counter: 0 at its created timestamp, then 5.
    let req = series(&store, "req_total");
    assert_eq!(req.len(), 1);
    let got: Vec<(i64, f64)> = req[0].samples.iter().map(|s| (s.t, s.v)).collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], (created_ms, 0.0));
    assert_eq!(got[1].1, 5.0);
    assert!(got[1].0 > created_ms);
    // The `_created` series are not stored.
    assert!(series(&store, "req_created").is_empty());
    assert!(series(&store, "lat_seconds_created").is_empty());
    // The histogram (converted to custom buckets): an empty one at the created timestamp,
    // appended as a counter reset, with the bounds of the one that follows. It opens a chunk,
    // and a chunk's first histogram reads back `Unknown`, as from Prometheus 3's chunks.
    let lat = series(&store, "lat_seconds");
    assert_eq!(lat.len(), 1);
    let hs = &lat[0].histograms;
    assert_eq!(hs.len(), 2);
    assert_eq!(hs[0].t, created_ms);
    assert_eq!(hs[0].h.counter_reset_hint, CounterResetHint::Unknown);
    assert_eq!(
        (hs[0].h.schema, hs[0].h.custom_values.clone(), hs[0].h.count),
        (CUSTOM_BUCKETS_SCHEMA, vec![1.0], 0.0)
    );
    assert_eq!(hs[1].h.count, 5.0);

    // The next scrape: the zero samples would be out of order and are dropped without being
    // counted as out-of-order samples.
    let before = store.stats();
    *text.lock().expect("body") = body(created_s, 6);
    lp.scrape_once().await.expect("second scrape");
    let req = series(&store, "req_total");
    let values: Vec<f64> = req[0].samples.iter().map(|s| s.v).collect();
    assert_eq!(values, [0.0, 5.0, 6.0]);
    assert_eq!(series(&store, "lat_seconds")[0].histograms.len(), 3);
    let after = store.stats();
    assert_eq!(after.out_of_order_total, before.out_of_order_total);
    assert_eq!(after.duplicates_total, before.duplicates_total);

    // Control: without the feature the `_created` line is a series of its own (its value in
    // seconds) and no zero sample is written.
    let plain = Arc::new(Store::new());
    let mut lp = scrape_loop(&plain, addr, false).await;
    lp.scrape_once().await.expect("scrape without the feature");
    let req = series(&plain, "req_total");
    assert_eq!(req[0].samples.len(), 1);
    assert_eq!(req[0].samples[0].v, 6.0);
    let created = series(&plain, "req_created");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].samples[0].v, created_s);
    assert_eq!(series(&plain, "lat_seconds")[0].histograms.len(), 1);
}
