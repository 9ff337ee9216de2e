//! Expected values are worked out by hand from Prometheus' conversion rules
//! (`util/convertnhcb`, `model/textparse/nhcbparse.go`), written out beside each case.

use super::*;
use crate::exposition::{self, Format, ParseOptions, SampleLabels};
use crate::histogram::{Span, CUSTOM_BUCKETS_SCHEMA};
use crate::scrape::client::JobClient;
use crate::scrape::scrape_loop::{ingest, ScrapeLoop, SeriesCache};
use crate::scrape::target::{Target, TargetSpec};
use crate::store::{is_stale_nan, Matcher, Querier, Store, METRIC_NAME};
use crate::telemetry::Telemetry;
use std::sync::{Arc, Mutex};

#[test]
fn conversion_follows_convertnhcb() {
    // le=0.1:1, le=0.5:3, le=+Inf:6, count 6, sum 4.2 → buckets 1, 2, 3 (cumulative
    // differences) with bounds 0.1 and 0.5.
    let h = convert(
        &[(0.1, 1.0), (0.5, 3.0), (f64::INFINITY, 6.0)],
        Some(6.0),
        4.2,
    )
    .expect("converts");
    assert_eq!(h.schema, CUSTOM_BUCKETS_SCHEMA);
    assert_eq!(h.custom_values, vec![0.1, 0.5]);
    assert_eq!(h.positive_buckets, vec![1.0, 2.0, 3.0]);
    assert_eq!((h.count, h.sum), (6.0, 4.2));
    // No count and no bucket: Prometheus' errMissingCount.
    assert_eq!(convert(&[], None, 1.0), Err(ConvertError::MissingCount));
    // No count: the highest bucket's (2), and a +Inf bucket holding it is added; it is
    // empty, and compaction removes empty buckets at the end of a span.
    let h = convert(&[(1.0, 2.0)], None, 0.0).expect("converts");
    assert_eq!((h.count, h.custom_values.clone()), (2.0, vec![1.0]));
    assert_eq!(h.positive_buckets, vec![2.0]);
    // A count other than the +Inf bucket's fails.
    assert!(convert(&[(1.0, 1.0), (f64::INFINITY, 2.0)], Some(3.0), 0.0).is_err());
}

#[test]
fn custom_buckets_over_the_bucket_limit_fail() {
    // Three buckets (0.1, 0.5, +Inf): a limit of 3 holds, 2 does not (custom buckets cannot
    // be merged).
    let h = convert(
        &[(0.1, 1.0), (0.5, 3.0), (f64::INFINITY, 6.0)],
        Some(6.0),
        0.0,
    )
    .unwrap();
    assert_eq!(check_bucket_limit(&h, Some(3)), Ok(()));
    assert_eq!(check_bucket_limit(&h, None), Ok(()));
    assert_eq!(
        check_bucket_limit(&h, Some(2)),
        Err(HistogramScrapeError::BucketLimit)
    );
}

#[test]
fn start_zero_keeps_the_layout_and_marks_a_reset() {
    let h = convert(&[(0.1, 1.0), (f64::INFINITY, 2.0)], Some(2.0), 0.3).unwrap();
    let z = start_zero(&h);
    assert_eq!(z.counter_reset_hint, CounterResetHint::CounterReset);
    assert_eq!(
        (z.schema, z.custom_values.clone()),
        (CUSTOM_BUCKETS_SCHEMA, vec![0.1])
    );
    assert_eq!((z.count, z.sum, z.positive_buckets.len()), (0.0, 0.0, 0));
}

/// What the collector hands on, in order: `S name value` for series passed through,
/// `H series t count sum` for converted histograms.
fn collect(body: &str, keep_classic: bool) -> Vec<String> {
    struct Rec {
        c: TextCollector,
        out: Vec<String>,
    }
    impl Rec {
        fn converted(&mut self, c: Option<Converted>) {
            if let Some(c) = c {
                self.out.push(format!(
                    "H {} {:?} {} {} {:?}",
                    c.series,
                    c.timestamp_ms,
                    c.histogram.count,
                    c.histogram.sum,
                    c.histogram.positive_buckets
                ));
            }
        }
    }
    impl exposition::Sink for Rec {
        fn metadata(&mut self, _: &str, _: MetricType, _: Option<&str>, _: Option<&str>) {
            let c = self.c.end();
            self.converted(c);
        }
        fn sample(&mut self, s: &Sample<'_>) -> Result<(), exposition::SinkError> {
            let c = self.c.before(s);
            self.converted(c);
            if self.c.take(s) {
                self.out.push(format!("S {} {}", s.series, s.value));
            }
            Ok(())
        }
    }
    let mut rec = Rec {
        c: TextCollector::new(keep_classic),
        out: Vec::new(),
    };
    exposition::parse(
        body.as_bytes(),
        exposition::detect_format(body.as_bytes()),
        &ParseOptions::default(),
        &mut rec,
    )
    .expect("parses");
    let c = rec.c.end();
    rec.converted(c);
    rec.out
}

#[test]
fn text_histograms_are_collected_per_label_set() {
    let body = "\
# TYPE rpc_seconds histogram
rpc_seconds_bucket{code=\"200\",le=\"0.1\"} 1
rpc_seconds_bucket{code=\"200\",le=\"+Inf\"} 3
rpc_seconds_count{code=\"200\"} 3
rpc_seconds_sum{code=\"200\"} 0.7
rpc_seconds_bucket{code=\"500\",le=\"0.1\"} 0
rpc_seconds_bucket{code=\"500\",le=\"+Inf\"} 2
rpc_seconds_count{code=\"500\"} 2
rpc_seconds_sum{code=\"500\"} 4
# TYPE up gauge
up 1
";
    // Each label set is one histogram: buckets 1 and 3-1=2 for code 200, 0 and 2 for code
    // 500 (compaction removes the empty first bucket: the span starts at offset 1), emitted
    // when the next label set or the next family's metadata comes; the classic series are
    // not passed on, the gauge is.
    assert_eq!(
        collect(body, false),
        [
            "H rpc_seconds{code=\"200\"} None 3 0.7 [1.0, 2.0]",
            "H rpc_seconds{code=\"500\"} None 2 4 [2.0]",
            "S up 1",
        ]
    );
    // With always_scrape_classic_histograms each histogram follows its classic series.
    let kept = collect(body, true);
    assert_eq!(kept.len(), 8 + 2 + 1);
    assert_eq!(kept[4], "H rpc_seconds{code=\"200\"} None 3 0.7 [1.0, 2.0]");
    assert_eq!(kept[3], "S rpc_seconds_sum{code=\"200\"} 0.7");
}

#[test]
fn a_histogram_takes_the_timestamp_of_the_series_that_ends_it() {
    // NHCBParser returns the converted histogram with the timestamp the wrapped parser read
    // last: that of `other`, whose arrival ended the histogram.
    let body = "\
# TYPE h histogram
h_bucket{le=\"1\"} 1 1000
h_bucket{le=\"+Inf\"} 1 1000
h_count 1 1000
h_sum 0.5 1000
other 7 2000
";
    assert_eq!(
        collect(body, false),
        ["H h Some(2000) 1 0.5 [1.0]", "S other 7"]
    );
    // At the body's end: the last series' timestamp.
    let body = "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1 1000\nh_count 1 1500\n";
    assert_eq!(collect(body, false), ["H h Some(1500) 1 0 [1.0]"]);
}

#[test]
fn only_histogram_typed_series_convert() {
    // Untyped `_bucket` series and a summary stay series; a `_bucket` line whose `le` is not
    // a number (here NaN) is no part of the histogram and is passed on.
    let body = "\
x_bucket{le=\"1\"} 1
# TYPE s summary
s_count 2
s_sum 3
# TYPE h histogram
h_bucket{le=\"NaN\"} 4
h_bucket{le=\"+Inf\"} 1
h_count 1
";
    assert_eq!(
        collect(body, false),
        [
            "S x_bucket{le=\"1\"} 1",
            "S s_count 2",
            "S s_sum 3",
            "S h_bucket{le=\"NaN\"} 4",
            "H h None 1 0 [1.0]",
        ]
    );
}

#[test]
fn a_histogram_that_does_not_convert_is_dropped() {
    // 5 at le=1 and 3 at +Inf is not cumulative: nothing converted, and without
    // always_scrape_classic_histograms the classic series are gone too, as in Prometheus.
    let body =
        "# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 3\nh_count 3\nup 1\n";
    assert_eq!(collect(body, false), ["S up 1"]);
}

/// A loopback target answering `GET /metrics` with what `body` holds at the time, in the
/// Prometheus text format.
async fn text_target(body: Arc<Mutex<String>>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the target");
    let addr = listener.local_addr().expect("target address");
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let text = body.lock().map(|b| b.clone()).unwrap_or_default();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    text,
                )
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn latency_body(b01: u64, b05: u64, b1: u64, count: u64, sum: f64) -> String {
    format!(
        "# HELP latency_seconds Request latency.\n# TYPE latency_seconds histogram\n\
         latency_seconds_bucket{{le=\"0.1\"}} {b01}\nlatency_seconds_bucket{{le=\"0.5\"}} {b05}\n\
         latency_seconds_bucket{{le=\"1\"}} {b1}\nlatency_seconds_bucket{{le=\"+Inf\"}} {count}\n\
         latency_seconds_sum {sum}\nlatency_seconds_count {count}\n"
    )
}

fn quantile(store: &Store, expr: &str) -> f64 {
    let now = crate::timefmt::unix_ms(std::time::SystemTime::now());
    let r = crate::promql::Engine::default()
        .instant_query(store, expr, now)
        .expect("query runs");
    match r.value {
        crate::promql::Value::Vector(v) => {
            assert_eq!(v.len(), 1, "{expr}: {v:?}");
            v[0].v
        }
        other => panic!("{expr}: {other:?}"),
    }
}

/// Scrapes a loopback target twice with `convert_classic_histograms_to_nhcb` (and
/// `always_scrape_classic_histograms` as given) into a fresh store.
async fn scrape_twice(keep_classic: bool) -> Arc<Store> {
    crate::install_crypto_provider();
    let body = Arc::new(Mutex::new(latency_body(0, 0, 0, 0, 0.0)));
    let addr = text_target(body.clone()).await;
    let store = Arc::new(Store::new());
    let mut spec = TargetSpec::unlabelled(&format!("http://{addr}/metrics"));
    spec.histograms.convert_classic_histograms_to_nhcb = true;
    spec.histograms.always_scrape_classic_histograms = keep_classic;
    let client = JobClient::new(
        &crate::config::HttpClientSettings::default(),
        crate::config::ScrapeProtocol::accept_header(&crate::config::ScrapeProtocol::DEFAULT),
    )
    .expect("client builds");
    let telemetry = Arc::new(Telemetry::new(store.clone()));
    let mut lp = ScrapeLoop::new(
        Arc::new(Target::new(spec)),
        client,
        store.clone(),
        telemetry,
    );
    lp.scrape_once().await.expect("first scrape");
    // 100 requests between the scrapes: 10 up to 0.1 s, 40 in (0.1, 0.5], 50 in (0.5, 1].
    *body.lock().expect("body") = latency_body(10, 50, 100, 100, 40.0);
    lp.scrape_once().await.expect("second scrape");
    store
}

fn stored(store: &Store, name: &str) -> bool {
    !store
        .select(&[Matcher::equal(METRIC_NAME, name)], i64::MIN, i64::MAX)
        .is_empty()
}

/// The classic histogram a loopback target serves, scraped with
/// `convert_classic_histograms_to_nhcb`, is one histogram series under the family name whose
/// 0.9 quantile is the classic histogram's. By hand: 100 requests, rank 0.9 × 100 = 90 falls
/// in (0.5, 1], which holds requests 51 to 100: 0.5 + (90 - 50) / 50 × (1 - 0.5) = 0.9. The
/// rate's extrapolation scales every bucket alike, so the quantile of the rate is that of
/// the increase.
#[tokio::test]
async fn scraped_classic_histogram_becomes_custom_buckets_with_its_quantile() {
    let store = scrape_twice(true).await;
    let nhcb = quantile(&store, "histogram_quantile(0.9, rate(latency_seconds[1m]))");
    let classic = quantile(
        &store,
        "histogram_quantile(0.9, sum by (le) (rate(latency_seconds_bucket[1m])))",
    );
    // promqltest's default epsilon (1e-6, relative) for values computed two ways.
    assert!((nhcb - 0.9).abs() <= 0.9 * 1e-6, "{nhcb}");
    assert!((classic - 0.9).abs() <= 0.9 * 1e-6, "{classic}");
    let got = store.select(
        &[Matcher::equal(METRIC_NAME, "latency_seconds")],
        i64::MIN,
        i64::MAX,
    );
    assert_eq!(got.len(), 1);
    let last = &got[0].histograms.last().expect("histogram samples").h;
    assert_eq!(last.schema, CUSTOM_BUCKETS_SCHEMA);
    assert_eq!(last.custom_values, vec![0.1, 0.5, 1.0]);
    // The +Inf bucket is empty and compacted away.
    assert_eq!(last.positive_buckets, vec![10.0, 40.0, 50.0]);
    assert_eq!((last.count, last.sum), (100.0, 40.0));
    assert_eq!(
        last.positive_spans,
        vec![Span {
            offset: 0,
            length: 3
        }]
    );

    // Without always_scrape_classic_histograms only the converted histogram is stored.
    let store = scrape_twice(false).await;
    assert!(stored(&store, "latency_seconds"));
    for classic in ["_bucket", "_count", "_sum"] {
        assert!(
            !stored(&store, &format!("latency_seconds{classic}")),
            "{classic}"
        );
    }
    let nhcb = quantile(&store, "histogram_quantile(0.9, rate(latency_seconds[1m]))");
    assert!((nhcb - 0.9).abs() <= 0.9 * 1e-6, "{nhcb}");
}

/// The converted histogram is one sample for the scrape's counts and goes stale when the
/// target stops exposing it.
#[test]
fn converted_histogram_counts_once_and_goes_stale() {
    let store = Store::new();
    let mut spec = TargetSpec::unlabelled("http://t/metrics");
    spec.histograms.convert_classic_histograms_to_nhcb = true;
    let mut cache = SeriesCache::default();
    let body = latency_body(1, 2, 3, 4, 5.0);
    let (app, counts) = ingest(
        &store,
        &mut cache,
        &spec,
        body.as_bytes(),
        Format::PrometheusText,
        1000,
    )
    .expect("ingests");
    app.commit();
    // Six classic series went in, one histogram came out.
    assert_eq!((counts.scraped, counts.post_relabel), (1, 1));
    let (app, _) = ingest(
        &store,
        &mut cache,
        &spec,
        b"up 1\n",
        Format::PrometheusText,
        2000,
    )
    .expect("ingests");
    app.commit();
    let got = store.select(
        &[Matcher::equal(METRIC_NAME, "latency_seconds")],
        i64::MIN,
        i64::MAX,
    );
    assert_eq!(got[0].histograms.len(), 1);
    assert_eq!(got[0].samples.len(), 1);
    assert!(is_stale_nan(got[0].samples[0].v));
    assert_eq!(got[0].samples[0].t, 2000);
}

/// A protobuf classic histogram (here a gauge histogram) converts as a whole; one that does
/// not convert fails the scrape, as Prometheus' protobuf parser fails it.
#[test]
fn protobuf_classic_histograms_convert_and_fail_loudly() {
    let labels: [crate::exposition::LabelRef<'_>; 0] = [];
    let c = ClassicHistogram {
        name: "g",
        series: "g",
        labels: SampleLabels::decoded(&labels),
        timestamp_ms: None,
        created_timestamp_ms: None,
        metric_type: MetricType::GaugeHistogram,
        unit: "",
        count: 4.0,
        sum: 2.0,
        // Buckets as sent: 1 at le=1, 4 at le=2; +Inf is added with the count, 4, and its
        // empty bucket is compacted away.
        buckets: &[(1.0, 1.0), (2.0, 4.0)],
    };
    let h = from_protobuf(&c).expect("converts");
    assert_eq!(h.counter_reset_hint, CounterResetHint::Gauge);
    assert_eq!(h.custom_values, vec![1.0, 2.0]);
    assert_eq!(h.positive_buckets, vec![1.0, 3.0]);
    let bad = ClassicHistogram {
        buckets: &[(1.0, 5.0), (2.0, 4.0)],
        ..c
    };
    assert!(matches!(
        from_protobuf(&bad),
        Err(HistogramScrapeError::Invalid { .. })
    ));
}

/// A protobuf classic histogram scraped with `convert_classic_histograms_to_nhcb` is stored
/// as one histogram under the family name, its classic series only with
/// `always_scrape_classic_histograms`.
#[test]
fn protobuf_scrape_stores_the_converted_histogram() {
    use crate::exposition::protobuf::encode::{delimited, Message as M};
    // metrics.proto: MetricFamily{name=1, type=3 (4: HISTOGRAM), metric=4}; Metric{histogram=7};
    // Histogram{sample_count=1, sample_sum=2, bucket=3}; Bucket{cumulative_count=1,
    // upper_bound=2}. Buckets 2 at le=0.5, 5 at le=1; count 5: buckets 2 and 3, +Inf empty.
    let h = M::new()
        .varint(1, 5)
        .double(2, 3.5)
        .message(3, M::new().varint(1, 2).double(2, 0.5))
        .message(3, M::new().varint(1, 5).double(2, 1.0));
    let body = delimited(&[M::new()
        .str(1, "rpc_seconds")
        .varint(3, 4)
        .message(4, M::new().message(7, h))]);
    for keep in [false, true] {
        let store = Store::new();
        let mut spec = TargetSpec::unlabelled("http://t/metrics");
        spec.histograms.convert_classic_histograms_to_nhcb = true;
        spec.histograms.always_scrape_classic_histograms = keep;
        let (app, counts) = ingest(
            &store,
            &mut SeriesCache::default(),
            &spec,
            &body,
            Format::Protobuf,
            1000,
        )
        .expect("ingests");
        app.commit();
        // The histogram, plus _count, _sum and three buckets when kept.
        assert_eq!(counts.scraped, if keep { 6 } else { 1 });
        let got = store.select(
            &[Matcher::equal(METRIC_NAME, "rpc_seconds")],
            i64::MIN,
            i64::MAX,
        );
        let h = &got[0].histograms[0].h;
        assert_eq!(h.custom_values, vec![0.5, 1.0]);
        assert_eq!(h.positive_buckets, vec![2.0, 3.0]);
        assert_eq!((h.count, h.sum), (5.0, 3.5));
        assert_eq!(stored(&store, "rpc_seconds_count"), keep);
    }
}

#[test]
fn series_of_one_histogram_may_list_their_labels_in_any_order() {
    // The same label set in another order is the same histogram; a label more or less, or
    // another value, is another one (each emitted as soon as the next begins). The `_sum`
    // alone, without a count or buckets, does not convert; a `_count` alone is one `+Inf`
    // bucket holding the count.
    let body = "\
# TYPE rpc_seconds histogram
rpc_seconds_bucket{b=\"1\",a=\"2\",le=\"0.1\"} 1
rpc_seconds_bucket{le=\"+Inf\",a=\"2\",b=\"1\"} 3
rpc_seconds_count{a=\"2\",b=\"1\"} 3
rpc_seconds_sum{a=\"2\"} 0.7
rpc_seconds_count{a=\"2\",b=\"1\",c=\"3\"} 4
rpc_seconds_count{a=\"2\",b=\"9\"} 5
";
    assert_eq!(
        collect(body, false),
        [
            "H rpc_seconds{a=\"2\",b=\"1\"} None 3 0 [1.0, 2.0]",
            "H rpc_seconds{a=\"2\",b=\"1\",c=\"3\"} None 4 0 [4.0]",
            "H rpc_seconds{a=\"2\",b=\"9\"} None 5 0 [5.0]",
        ]
    );
}
