//! Created timestamps: OpenMetrics `_created` lines read as Prometheus'
//! `OpenMetricsParser.CreatedTimestamp` reads them, the protobuf `created_timestamp` fields,
//! and protobuf classic histograms handed over whole. Expected values are written out by hand.

use crate::exposition::protobuf::encode::{delimited, Message as M};
use crate::exposition::{parse, ClassicHistogram, Format, ParseOptions, Sample, Sink, SinkError};

/// A classic histogram handed over whole: series, count, sum, buckets, created timestamp.
type Whole = (String, f64, f64, Vec<(f64, f64)>, Option<i64>);

#[derive(Default)]
struct Got {
    /// `series value created`.
    samples: Vec<(String, f64, Option<i64>)>,
    /// `series count sum buckets created`.
    classic: Vec<Whole>,
}

impl Sink for Got {
    fn sample(&mut self, s: &Sample<'_>) -> Result<(), SinkError> {
        self.samples
            .push((s.series.to_string(), s.value, s.created_timestamp_ms));
        Ok(())
    }

    fn classic_histogram(&mut self, c: &ClassicHistogram<'_>) -> Result<(), SinkError> {
        self.classic.push((
            c.series.to_string(),
            c.count,
            c.sum,
            c.buckets.to_vec(),
            c.created_timestamp_ms,
        ));
        Ok(())
    }
}

fn run(body: &[u8], format: Format, options: &ParseOptions) -> Got {
    let mut got = Got::default();
    let stats = parse(body, format, options, &mut got).expect("parses");
    assert_eq!(stats.samples, got.samples.len());
    got
}

fn om(body: &str, created: bool) -> Vec<(String, f64, Option<i64>)> {
    let options = ParseOptions {
        created_timestamps: created,
        ..ParseOptions::default()
    };
    run(body.as_bytes(), Format::OpenMetrics, &options).samples
}

fn s(series: &str, v: f64, ct: Option<i64>) -> (String, f64, Option<i64>) {
    (series.to_string(), v, ct)
}

#[test]
fn openmetrics_created_lines_become_created_timestamps() {
    let body = "\
# TYPE req counter
req_total{code=\"200\"} 7
req_created{code=\"200\"} 1700000000.5
req_total{code=\"500\"} 1
req_created{code=\"500\"} 1700000001
# TYPE rpc_seconds histogram
rpc_seconds_bucket{le=\"1\"} 1
rpc_seconds_bucket{le=\"+Inf\"} 2
rpc_seconds_count 2
rpc_seconds_sum 1.5
rpc_seconds_created 1600000000.25
# TYPE temp gauge
temp 20
# EOF
";
    // Seconds × 1000: 1700000000.5 s is 1700000000500 ms. The histogram's `_created` line
    // has no `le`: every series of it (`le` aside) gets its timestamp. A gauge has none, and
    // the `_created` series are not pushed.
    assert_eq!(
        om(body, true),
        [
            s("req_total{code=\"200\"}", 7.0, Some(1_700_000_000_500)),
            s("req_total{code=\"500\"}", 1.0, Some(1_700_000_001_000)),
            s("rpc_seconds_bucket{le=\"1\"}", 1.0, Some(1_600_000_000_250)),
            s(
                "rpc_seconds_bucket{le=\"+Inf\"}",
                2.0,
                Some(1_600_000_000_250)
            ),
            s("rpc_seconds_count", 2.0, Some(1_600_000_000_250)),
            s("rpc_seconds_sum", 1.5, Some(1_600_000_000_250)),
            s("temp", 20.0, None),
        ]
    );
    // Control: without the option the `_created` lines are series and nothing has a created
    // timestamp.
    let plain = om(body, false);
    assert_eq!(plain.len(), 10);
    assert!(plain.iter().all(|(_, _, ct)| ct.is_none()));
    assert!(plain.contains(&s("req_created{code=\"200\"}", 1_700_000_000.5, None)));
}

#[test]
fn only_the_next_created_line_counts() {
    // Prometheus looks at the first `_created` line after a sample only: here it belongs to
    // another series (code 500), so code 200 has none; the next family's `# TYPE` line ends
    // the search for `other`.
    let body = "\
# TYPE req counter
req_total{code=\"200\"} 7
req_total{code=\"500\"} 1
req_created{code=\"500\"} 10
# TYPE other counter
other_total 3
# TYPE last counter
last_total 4
last_created 20
# EOF
";
    assert_eq!(
        om(body, true),
        [
            s("req_total{code=\"200\"}", 7.0, None),
            s("req_total{code=\"500\"}", 1.0, Some(10_000)),
            s("other_total", 3.0, None),
            s("last_total", 4.0, Some(20_000)),
        ]
    );
}

#[test]
fn summary_quantiles_share_the_created_timestamp() {
    let body = "\
# TYPE lat summary
lat{quantile=\"0.5\"} 0.1
lat{quantile=\"0.9\"} 0.3
lat_count 4
lat_sum 0.8
lat_created 3
# EOF
";
    let got = om(body, true);
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|(_, _, ct)| *ct == Some(3000)), "{got:?}");
}

/// `Timestamp{seconds, nanos}`.
fn ts(seconds: u64, nanos: u64) -> M {
    M::new().varint(1, seconds).varint(2, nanos)
}

#[test]
fn protobuf_created_timestamps_reach_every_series() {
    // metrics.proto: MetricFamily{name=1, type=3, metric=4}; Metric{counter=3, summary=4,
    // histogram=7}; Counter{value=1, created_timestamp=3}; Summary{sample_count=1,
    // sample_sum=2, created_timestamp=4}; Histogram{sample_count=1, sample_sum=2, bucket=3,
    // created_timestamp=15}; Bucket{cumulative_count=1, upper_bound=2}.
    let counter = M::new().str(1, "c_total").varint(3, 0).message(
        4,
        M::new().message(3, M::new().double(1, 5.0).message(3, ts(100, 250_000_000))),
    );
    let summary = M::new().str(1, "s").varint(3, 2).message(
        4,
        M::new().message(
            4,
            M::new().varint(1, 2).double(2, 1.0).message(4, ts(200, 0)),
        ),
    );
    let gauge = M::new()
        .str(1, "g")
        .varint(3, 1)
        .message(4, M::new().message(2, M::new().double(1, 1.0)));
    let hist = M::new().str(1, "h").varint(3, 4).message(
        4,
        M::new().message(
            7,
            M::new()
                .varint(1, 3)
                .double(2, 4.5)
                .message(3, M::new().varint(1, 1).double(2, 1.0))
                .message(3, M::new().varint(1, 3).double(2, 2.0))
                .message(15, ts(300, 0)),
        ),
    );
    let body = delimited(&[counter, summary, gauge, hist]);
    // 100 s + 250 ms = 100250 ms; 200 s; 300 s. The gauge has none.
    let got = run(&body, Format::Protobuf, &ParseOptions::default());
    assert_eq!(
        got.samples,
        [
            s("c_total", 5.0, Some(100_250)),
            s("s_count", 2.0, Some(200_000)),
            s("s_sum", 1.0, Some(200_000)),
            s("g", 1.0, None),
            s("h_count", 3.0, Some(300_000)),
            s("h_sum", 4.5, Some(300_000)),
            s("h_bucket{le=\"1.0\"}", 1.0, Some(300_000)),
            s("h_bucket{le=\"2.0\"}", 3.0, Some(300_000)),
            s("h_bucket{le=\"+Inf\"}", 3.0, Some(300_000)),
        ]
    );
    assert!(got.classic.is_empty());

    // With `classic_histograms` the histogram goes over whole, instead of its series or,
    // with `keep_classic_histograms`, after them.
    let whole = ParseOptions {
        classic_histograms: true,
        ..ParseOptions::default()
    };
    let got = run(&body, Format::Protobuf, &whole);
    assert_eq!(got.samples.len(), 4);
    assert_eq!(
        got.classic,
        [(
            "h".to_string(),
            3.0,
            4.5,
            vec![(1.0, 1.0), (2.0, 3.0)],
            Some(300_000)
        )]
    );
    let both = ParseOptions {
        classic_histograms: true,
        keep_classic_histograms: true,
        ..ParseOptions::default()
    };
    let got = run(&body, Format::Protobuf, &both);
    assert_eq!((got.samples.len(), got.classic.len()), (9, 1));
}
