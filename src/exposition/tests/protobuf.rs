//! The protobuf format through [`parse`]: bodies are encoded here, field by field, from
//! `metrics.proto` (`prometheus/client_model`), and the expected samples are what
//! Prometheus' `protobufparse` makes of them (series order, `_count`/`_sum`/`_bucket`
//! names, `le`/`quantile` values, the added `+Inf` bucket).

use crate::exposition::protobuf::format_openmetrics_float;
use crate::exposition::{
    parse, BucketSpan, Format, HistogramCounts, HistogramSample, MetricType, ParseError,
    ParseErrorKind, ParseOptions, ResetHint, Sample, Sink, SinkError,
};

use crate::exposition::protobuf::encode::{delimited, Message as Msg};

// Field numbers of metrics.proto.
const MF_NAME: u64 = 1;
const MF_HELP: u64 = 2;
const MF_TYPE: u64 = 3;
const MF_METRIC: u64 = 4;
const MF_UNIT: u64 = 5;
const M_LABEL: u64 = 1;
const M_GAUGE: u64 = 2;
const M_COUNTER: u64 = 3;
const M_SUMMARY: u64 = 4;
const M_UNTYPED: u64 = 5;
const M_TIMESTAMP_MS: u64 = 6;
const M_HISTOGRAM: u64 = 7;
const COUNTER: u64 = 0;
const GAUGE: u64 = 1;
const SUMMARY: u64 = 2;
const UNTYPED: u64 = 3;
const HISTOGRAM: u64 = 4;
const GAUGE_HISTOGRAM: u64 = 5;

pub(super) fn label(name: &str, value: &str) -> Msg {
    Msg::new().str(1, name).str(2, value)
}

pub(super) fn family(name: &str, help: &str, kind: u64, metrics: Vec<Msg>) -> Msg {
    let mut f = Msg::new()
        .str(MF_NAME, name)
        .str(MF_HELP, help)
        .varint(MF_TYPE, kind);
    for m in metrics {
        f = f.message(MF_METRIC, m);
    }
    f
}

pub(super) fn body(families: &[Msg]) -> Vec<u8> {
    delimited(families)
}

fn timestamp(seconds: i64, nanos: i32) -> Msg {
    Msg::new()
        .varint(1, seconds as u64)
        .varint(2, nanos as i64 as u64)
}

fn exemplar(labels: &[(&str, &str)], value: f64, ts: Option<(i64, i32)>) -> Msg {
    let mut e = Msg::new();
    for (n, v) in labels {
        e = e.message(1, label(n, v));
    }
    e = e.double(2, value);
    if let Some((s, n)) = ts {
        e = e.message(3, timestamp(s, n));
    }
    e
}

fn bucket(cumulative: u64, upper: f64) -> Msg {
    Msg::new().varint(1, cumulative).double(2, upper)
}

fn span(offset: i64, length: u64) -> Msg {
    Msg::new().sint(1, offset).varint(2, length)
}

type Pairs = Vec<(String, String)>;

/// What a sink received, in order.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    Meta(String, MetricType, Option<String>, Option<String>),
    Float {
        series: String,
        name: String,
        labels: Vec<(String, String)>,
        value: f64,
        ts: Option<i64>,
        exemplar: Option<(Pairs, f64, Option<i64>)>,
    },
    Hist(OwnedHistogram),
}

#[derive(Debug, Clone, PartialEq)]
struct OwnedHistogram {
    series: String,
    labels: Vec<(String, String)>,
    ts: Option<i64>,
    kind: MetricType,
    schema: i32,
    zero_threshold: f64,
    sum: f64,
    positive_spans: Vec<BucketSpan>,
    negative_spans: Vec<BucketSpan>,
    /// (count, zero_count, positive, negative) with integer deltas as f64.
    counts: (f64, f64, Vec<f64>, Vec<f64>),
    float: bool,
    reset_hint: ResetHint,
}

#[derive(Default)]
struct Collect(Vec<Got>);

impl Sink for Collect {
    fn metadata(&mut self, f: &str, k: MetricType, h: Option<&str>, u: Option<&str>) {
        self.0
            .push(Got::Meta(f.into(), k, h.map(Into::into), u.map(Into::into)));
    }

    fn sample(&mut self, s: &Sample<'_>) -> Result<(), SinkError> {
        self.0.push(Got::Float {
            series: s.series.into(),
            name: s.name.into(),
            labels: s
                .labels
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect(),
            value: s.value,
            ts: s.timestamp_ms,
            exemplar: s.exemplar.map(|e| {
                (
                    e.labels
                        .iter()
                        .map(|l| (l.name.to_string(), l.value.to_string()))
                        .collect(),
                    e.value,
                    e.timestamp_ms,
                )
            }),
        });
        Ok(())
    }

    fn histogram(&mut self, h: &HistogramSample<'_>) -> Result<(), SinkError> {
        let w = h.histogram;
        let (counts, float) = match w.counts {
            HistogramCounts::Integer {
                count,
                zero_count,
                positive_deltas,
                negative_deltas,
            } => (
                (
                    count as f64,
                    zero_count as f64,
                    positive_deltas.iter().map(|&d| d as f64).collect(),
                    negative_deltas.iter().map(|&d| d as f64).collect(),
                ),
                false,
            ),
            HistogramCounts::Float {
                count,
                zero_count,
                positive_counts,
                negative_counts,
            } => (
                (
                    count,
                    zero_count,
                    positive_counts.to_vec(),
                    negative_counts.to_vec(),
                ),
                true,
            ),
        };
        self.0.push(Got::Hist(OwnedHistogram {
            series: h.series.into(),
            labels: h
                .labels
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect(),
            ts: h.timestamp_ms,
            kind: h.metric_type,
            schema: w.schema,
            zero_threshold: w.zero_threshold,
            sum: w.sum,
            positive_spans: w.positive_spans.to_vec(),
            negative_spans: w.negative_spans.to_vec(),
            counts,
            float,
            reset_hint: w.reset_hint,
        }));
        Ok(())
    }
}

fn run(input: &[u8], options: &ParseOptions) -> Result<Vec<Got>, ParseError> {
    let mut sink = Collect::default();
    parse(input, Format::Protobuf, options, &mut sink)?;
    Ok(sink.0)
}

fn floats(got: &[Got]) -> Vec<(String, f64, Option<i64>)> {
    got.iter()
        .filter_map(|g| match g {
            Got::Float {
                series, value, ts, ..
            } => Some((series.clone(), *value, *ts)),
            _ => None,
        })
        .collect()
}

fn s(series: &str, v: f64, ts: Option<i64>) -> (String, f64, Option<i64>) {
    (series.to_string(), v, ts)
}

fn native_opts() -> ParseOptions {
    ParseOptions {
        native_histograms: true,
        ..ParseOptions::default()
    }
}

#[test]
fn counter_gauge_untyped_with_labels_timestamps_and_metadata() {
    let input = body(&[
        family(
            "http_requests_total",
            "Requests.",
            COUNTER,
            vec![
                Msg::new()
                    .message(M_LABEL, label("code", "200"))
                    .message(M_LABEL, label("path", "/a \"b\"\n"))
                    .message(M_COUNTER, Msg::new().double(1, 7.0)),
                Msg::new()
                    .message(M_LABEL, label("code", "500"))
                    .message(M_COUNTER, Msg::new().double(1, 1.5))
                    .varint(M_TIMESTAMP_MS, 1_700_000_000_123),
            ],
        ),
        family(
            "temp_celsius",
            "",
            GAUGE,
            vec![Msg::new().message(M_GAUGE, Msg::new().double(1, -3.25))],
        )
        .str(MF_UNIT, "celsius"),
        family(
            "something_untyped",
            "Untyped.",
            UNTYPED,
            vec![Msg::new().message(M_UNTYPED, Msg::new().double(1, 42.0))],
        ),
    ]);
    let got = run(&input, &ParseOptions::default()).expect("parses");
    assert_eq!(
        got[0],
        Got::Meta(
            "http_requests_total".into(),
            MetricType::Counter,
            Some("Requests.".into()),
            None
        )
    );
    assert_eq!(
        got[1],
        Got::Float {
            series: r#"http_requests_total{code="200",path="/a \"b\"\n"}"#.into(),
            name: "http_requests_total".into(),
            labels: vec![
                ("code".into(), "200".into()),
                ("path".into(), "/a \"b\"\n".into())
            ],
            value: 7.0,
            ts: None,
            exemplar: None,
        }
    );
    assert_eq!(
        floats(&got),
        vec![
            s(
                r#"http_requests_total{code="200",path="/a \"b\"\n"}"#,
                7.0,
                None
            ),
            s(
                r#"http_requests_total{code="500"}"#,
                1.5,
                Some(1_700_000_000_123)
            ),
            s("temp_celsius", -3.25, None),
            s("something_untyped", 42.0, None),
        ]
    );
    assert_eq!(
        got[3],
        Got::Meta(
            "temp_celsius".into(),
            MetricType::Gauge,
            Some(String::new()),
            Some("celsius".into())
        )
    );
    assert_eq!(
        got[5],
        Got::Meta(
            "something_untyped".into(),
            MetricType::Unknown,
            Some("Untyped.".into()),
            None
        )
    );
}

#[test]
fn counter_exemplar_only_when_kept() {
    let input = body(&[family(
        "c_total",
        "",
        COUNTER,
        vec![Msg::new().message(
            M_COUNTER,
            Msg::new().double(1, 3.0).message(
                2,
                exemplar(
                    &[("trace_id", "abc")],
                    0.5,
                    Some((1_625_851_151, 233_181_499)),
                ),
            ),
        )],
    )]);
    let plain = run(&input, &ParseOptions::default()).expect("parses");
    assert!(matches!(&plain[1], Got::Float { exemplar: None, .. }));
    let kept = run(
        &input,
        &ParseOptions {
            keep_exemplars: true,
            ..ParseOptions::default()
        },
    )
    .expect("parses");
    // 1625851151 s + 233181499 ns = 1625851151233 ms (nanoseconds truncated to ms).
    let Got::Float { exemplar, .. } = &kept[1] else {
        panic!("a float sample: {kept:?}");
    };
    assert_eq!(
        exemplar,
        &Some((
            vec![("trace_id".into(), "abc".into())],
            0.5,
            Some(1_625_851_151_233)
        ))
    );
}

#[test]
fn summary_is_count_sum_and_quantiles() {
    let input = body(&[family(
        "rpc_seconds",
        "RPC latency.",
        SUMMARY,
        vec![Msg::new().message(M_LABEL, label("service", "a")).message(
            M_SUMMARY,
            Msg::new()
                .varint(1, 262)
                .double(2, 0.25)
                .message(3, Msg::new().double(1, 0.5).double(2, 0.01))
                .message(3, Msg::new().double(1, 0.99).double(2, 0.2))
                .message(3, Msg::new().double(1, 1.0).double(2, 0.3))
                .message(4, timestamp(100, 0)),
        )],
    )]);
    let got = run(&input, &ParseOptions::default()).expect("parses");
    // No `_created` series: the created timestamp is not a sample in Prometheus' protobuf
    // parser.
    assert_eq!(
        floats(&got),
        vec![
            s(r#"rpc_seconds_count{service="a"}"#, 262.0, None),
            s(r#"rpc_seconds_sum{service="a"}"#, 0.25, None),
            s(r#"rpc_seconds{service="a",quantile="0.5"}"#, 0.01, None),
            s(r#"rpc_seconds{service="a",quantile="0.99"}"#, 0.2, None),
            s(r#"rpc_seconds{service="a",quantile="1.0"}"#, 0.3, None),
        ]
    );
    let Got::Float { name, labels, .. } = &got[3] else {
        panic!("{got:?}")
    };
    assert_eq!(name, "rpc_seconds");
    assert_eq!(
        labels,
        &vec![
            ("service".into(), "a".into()),
            ("quantile".into(), "0.5".into())
        ]
    );
}

#[test]
fn classic_histogram_gets_an_inf_bucket_when_it_has_none() {
    let input = body(&[family(
        "req_seconds",
        "",
        HISTOGRAM,
        vec![Msg::new().varint(M_TIMESTAMP_MS, 1234568).message(
            M_HISTOGRAM,
            Msg::new()
                .varint(1, 175)
                .double(2, 0.000828)
                .message(3, bucket(2, -0.00048))
                .message(3, bucket(4, -0.00038))
                .message(3, bucket(16, 1.0)),
        )],
    )]);
    let got = run(&input, &native_opts()).expect("parses");
    let t = Some(1234568);
    assert_eq!(
        floats(&got),
        vec![
            s("req_seconds_count", 175.0, t),
            s("req_seconds_sum", 0.000828, t),
            s(r#"req_seconds_bucket{le="-0.00048"}"#, 2.0, t),
            s(r#"req_seconds_bucket{le="-0.00038"}"#, 4.0, t),
            s(r#"req_seconds_bucket{le="1.0"}"#, 16.0, t),
            s(r#"req_seconds_bucket{le="+Inf"}"#, 175.0, t),
        ]
    );
}

#[test]
fn classic_histogram_stops_at_its_inf_bucket_and_prefers_float_counts() {
    let input = body(&[family(
        "h",
        "",
        GAUGE_HISTOGRAM,
        vec![Msg::new().message(
            M_HISTOGRAM,
            Msg::new()
                .varint(1, 9)
                .double(4, 6.5) // sample_count_float overrides sample_count
                .double(2, 10.0)
                .message(3, bucket(1, 0.5).double(4, 1.5))
                .message(3, bucket(6, f64::INFINITY))
                .message(3, bucket(7, 100.0)), // after +Inf: not read
        )],
    )]);
    let got = run(&input, &ParseOptions::default()).expect("parses");
    assert_eq!(
        floats(&got),
        vec![
            s("h_count", 6.5, None),
            s("h_sum", 10.0, None),
            s(r#"h_bucket{le="0.5"}"#, 1.5, None),
            s(r#"h_bucket{le="+Inf"}"#, 6.0, None),
        ]
    );
}

/// The integer native histogram of Prometheus' `protobufparse` tests, reduced: schema 3,
/// zero threshold 2.938735877055719e-39, deltas per span.
fn native_integer_family(with_classic_buckets: bool) -> Msg {
    let mut h = Msg::new()
        .varint(1, 175)
        .double(2, 0.0008280461746287094)
        .sint(5, 3)
        .double(6, 2.938735877055719e-39)
        .varint(7, 2)
        .message(9, span(-162, 1))
        .message(9, span(23, 4))
        .packed_sint(10, &[1, 3, -2, -1, 1])
        .message(12, span(-161, 1))
        .message(12, span(8, 3))
        // Unpacked deltas read the same as packed ones.
        .sint(13, 1)
        .sint(13, 2)
        .sint(13, -1)
        .sint(13, -1);
    if with_classic_buckets {
        h = h.message(3, bucket(2, -0.0004899999999999998));
    }
    family(
        "test_histogram",
        "Test histogram.",
        HISTOGRAM,
        vec![Msg::new()
            .message(M_LABEL, label("svc", "x"))
            .varint(M_TIMESTAMP_MS, 1234568)
            .message(M_HISTOGRAM, h)],
    )
}

fn expected_native_integer() -> OwnedHistogram {
    OwnedHistogram {
        series: r#"test_histogram{svc="x"}"#.into(),
        labels: vec![("svc".into(), "x".into())],
        ts: Some(1234568),
        kind: MetricType::Histogram,
        schema: 3,
        zero_threshold: 2.938735877055719e-39,
        sum: 0.0008280461746287094,
        positive_spans: vec![
            BucketSpan {
                offset: -161,
                length: 1,
            },
            BucketSpan {
                offset: 8,
                length: 3,
            },
        ],
        negative_spans: vec![
            BucketSpan {
                offset: -162,
                length: 1,
            },
            BucketSpan {
                offset: 23,
                length: 4,
            },
        ],
        counts: (
            175.0,
            2.0,
            vec![1.0, 2.0, -1.0, -1.0],
            vec![1.0, 3.0, -2.0, -1.0, 1.0],
        ),
        float: false,
        reset_hint: ResetHint::Unknown,
    }
}

#[test]
fn native_histogram_goes_to_the_histogram_sink() {
    let input = body(&[native_integer_family(true)]);
    let got = run(&input, &native_opts()).expect("parses");
    assert_eq!(got.len(), 2, "metadata and one histogram: {got:?}");
    assert_eq!(got[1], Got::Hist(expected_native_integer()));
}

#[test]
fn native_histogram_keeps_its_classic_series_when_asked() {
    let input = body(&[native_integer_family(true)]);
    let opts = ParseOptions {
        native_histograms: true,
        keep_classic_histograms: true,
        ..ParseOptions::default()
    };
    let got = run(&input, &opts).expect("parses");
    assert_eq!(got[1], Got::Hist(expected_native_integer()));
    let t = Some(1234568);
    assert_eq!(
        floats(&got),
        vec![
            s(r#"test_histogram_count{svc="x"}"#, 175.0, t),
            s(r#"test_histogram_sum{svc="x"}"#, 0.0008280461746287094, t),
            s(
                r#"test_histogram_bucket{svc="x",le="-0.0004899999999999998"}"#,
                2.0,
                t
            ),
            s(r#"test_histogram_bucket{svc="x",le="+Inf"}"#, 175.0, t),
        ]
    );
    // Without classic buckets there is no classic histogram to keep.
    let got = run(&body(&[native_integer_family(false)]), &opts).expect("parses");
    assert_eq!(got.len(), 2, "{got:?}");
}

#[test]
fn native_histograms_off_reads_every_histogram_as_classic() {
    let got = run(
        &body(&[native_integer_family(false)]),
        &ParseOptions::default(),
    )
    .expect("parses");
    let t = Some(1234568);
    assert_eq!(
        floats(&got),
        vec![
            s(r#"test_histogram_count{svc="x"}"#, 175.0, t),
            s(r#"test_histogram_sum{svc="x"}"#, 0.0008280461746287094, t),
            s(r#"test_histogram_bucket{svc="x",le="+Inf"}"#, 175.0, t),
        ]
    );
}

#[test]
fn float_gauge_histogram_and_the_no_op_span() {
    let input = body(&[
        family(
            "fh",
            "",
            GAUGE_HISTOGRAM,
            vec![Msg::new().message(
                M_HISTOGRAM,
                Msg::new()
                    .varint(1, 99) // ignored: sample_count_float > 0 makes it a float histogram
                    .double(4, 5.5)
                    .double(2, 12.1)
                    .sint(5, 0)
                    .double(8, 0.5)
                    .message(12, span(1, 2))
                    .packed_double(14, &[2.0, 3.0]),
            )],
        ),
        // An empty native histogram: only the no-op span (offset 0, length 0) says so.
        family(
            "empty",
            "",
            HISTOGRAM,
            vec![Msg::new().message(M_HISTOGRAM, Msg::new().message(12, span(0, 0)))],
        ),
    ]);
    let got = run(&input, &native_opts()).expect("parses");
    let Got::Hist(fh) = &got[1] else {
        panic!("{got:?}")
    };
    assert!(fh.float);
    assert_eq!(fh.reset_hint, ResetHint::Gauge);
    assert_eq!(fh.kind, MetricType::GaugeHistogram);
    assert_eq!(fh.counts, (5.5, 0.5, vec![2.0, 3.0], vec![]));
    let Got::Hist(empty) = &got[3] else {
        panic!("{got:?}")
    };
    assert!(!empty.float);
    assert_eq!(empty.counts, (0.0, 0.0, vec![], vec![]));
    assert_eq!(
        empty.positive_spans,
        vec![BucketSpan {
            offset: 0,
            length: 0
        }]
    );
}

#[test]
fn the_first_metric_decides_whether_a_family_is_native() {
    // Metric 0 is classic (no spans, threshold or zero count): the family is classic, so the
    // native histogram after it is read as a classic one too, as Prometheus does.
    let input = body(&[family(
        "mixed",
        "",
        HISTOGRAM,
        vec![
            Msg::new()
                .message(M_LABEL, label("i", "0"))
                .message(M_HISTOGRAM, Msg::new().varint(1, 1).double(2, 1.0)),
            Msg::new().message(M_LABEL, label("i", "1")).message(
                M_HISTOGRAM,
                Msg::new()
                    .varint(1, 2)
                    .double(2, 2.0)
                    .message(12, span(0, 1))
                    .sint(13, 2),
            ),
        ],
    )]);
    let got = run(&input, &native_opts()).expect("parses");
    assert!(!got.iter().any(|g| matches!(g, Got::Hist(_))), "{got:?}");
    assert_eq!(floats(&got).len(), 6);
}

#[test]
fn empty_families_are_skipped_without_metadata_and_unknown_fields_ignored() {
    let input = body(&[
        family("nothing", "No metrics.", COUNTER, vec![]),
        family(
            "g",
            "",
            GAUGE,
            vec![Msg::new()
                .varint(99, 7) // unknown varint field
                .message(M_GAUGE, Msg::new().double(1, 1.0).str(42, "unknown"))],
        )
        .double(77, 1.0),
    ]);
    let got = run(&input, &ParseOptions::default()).expect("parses");
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(floats(&got), vec![s("g", 1.0, None)]);
}

#[test]
fn utf8_names_are_quoted_in_the_series_text() {
    let input = body(&[family(
        "http.server.duration",
        "",
        GAUGE,
        vec![Msg::new()
            .message(M_LABEL, label("service.name", "api"))
            .message(M_LABEL, label("code", "200"))
            .message(M_GAUGE, Msg::new().double(1, 1.0))],
    )]);
    let got = run(&input, &ParseOptions::default()).expect("parses");
    assert_eq!(
        floats(&got),
        vec![s(
            r#"{"http.server.duration","service.name"="api",code="200"}"#,
            1.0,
            None
        )]
    );
}

#[test]
fn nan_values_become_the_canonical_nan() {
    // The staleness marker's bit pattern, sent by a target, is not kept.
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let input = body(&[family(
        "g",
        "",
        GAUGE,
        vec![Msg::new().message(M_GAUGE, Msg::new().double(1, stale))],
    )]);
    let got = run(&input, &ParseOptions::default()).expect("parses");
    let Got::Float { value, .. } = &got[1] else {
        panic!("{got:?}")
    };
    assert_eq!(value.to_bits(), crate::exposition::NORMAL_NAN_BITS);
}

fn error_of(input: &[u8], options: &ParseOptions) -> String {
    let e = run(input, options).expect_err("fails");
    assert_eq!(e.kind, ParseErrorKind::Syntax);
    e.to_string()
}

#[test]
fn errors_name_the_family_and_the_field() {
    let gauge = |m: Msg| body(&[family("g", "", GAUGE, vec![m])]);
    // A double sent as a varint.
    assert_eq!(
        error_of(
            &gauge(Msg::new().message(M_GAUGE, Msg::new().varint(1, 5))),
            &ParseOptions::default()
        ),
        "metric family 1 \"g\": metric[0].gauge: wrong wire type 0 for field value (want 1)"
    );
    // A label value that is not UTF-8, in the second label of the second metric.
    let bad_label = Msg::new().bytes(1, b"a").bytes(2, b"\xff");
    let input = body(&[family(
        "g",
        "",
        GAUGE,
        vec![
            Msg::new().message(M_GAUGE, Msg::new().double(1, 1.0)),
            Msg::new()
                .message(M_LABEL, label("ok", "1"))
                .message(M_LABEL, bad_label),
        ],
    )]);
    assert_eq!(
        error_of(&input, &ParseOptions::default()),
        "metric family 1 \"g\": metric[1].label[1]: invalid label value: \u{fffd}"
    );
    // Spans that need more buckets than were sent.
    let input = body(&[family(
        "h",
        "",
        HISTOGRAM,
        vec![Msg::new().message(
            M_HISTOGRAM,
            Msg::new().message(12, span(0, 3)).packed_sint(13, &[1, 1]),
        )],
    )]);
    assert_eq!(
        error_of(&input, &native_opts()),
        "metric family 1 \"h\": metric[0].histogram: positive spans cover 3 buckets but positive_delta has 2"
    );
    // Duplicate label names.
    assert_eq!(
        error_of(
            &gauge(
                Msg::new()
                    .message(M_LABEL, label("a", "1"))
                    .message(M_LABEL, label("a", "2"))
            ),
            &ParseOptions::default()
        ),
        "metric family 1 \"g\": metric[0].label[1]: label name \"a\" is not unique"
    );
    // The second family, cut short inside a span: a tag without its value.
    let good = family("g", "", GAUGE, vec![Msg::new()]);
    let cut = family(
        "h",
        "",
        HISTOGRAM,
        vec![Msg::new().message(
            M_HISTOGRAM,
            Msg::new().message(12, Msg::from_bytes(vec![0x08])),
        )],
    );
    assert_eq!(
        error_of(&body(&[good, cut]), &native_opts()),
        "metric family 2 \"h\": metric[0].histogram.positive_span[0]: unexpected end of message in a varint"
    );
}

#[test]
fn family_level_errors_are_upstreams() {
    let one = |f: Msg| error_of(&body(&[f]), &ParseOptions::default());
    let metric = || vec![Msg::new()];
    assert_eq!(
        one(family("", "", GAUGE, metric())),
        "metric family 1: invalid metric name: "
    );
    assert_eq!(
        one(family("x", "", 9, metric())),
        "metric family 1: unknown metric type for metric \"x\": 9"
    );
    assert_eq!(
        one(family("x_total", "", COUNTER, metric()).str(MF_UNIT, "seconds")),
        "metric family 1: unit \"seconds\" not a suffix of counter \"x_total\""
    );
    assert_eq!(
        one(family("x_bytes", "", GAUGE, metric()).str(MF_UNIT, "seconds")),
        "metric family 1: unit \"seconds\" not a suffix of metric \"x_bytes\""
    );
    // A unit that is the suffix: fine (before `_total` for a counter).
    assert!(run(
        &body(&[family("x_seconds_total", "", COUNTER, metric()).str(MF_UNIT, "seconds")]),
        &ParseOptions::default()
    )
    .is_ok());
    // The length prefix says more than the body has.
    let mut input = body(&[family("g", "", GAUGE, metric())]);
    input.truncate(input.len() - 1);
    assert_eq!(
        error_of(&input, &ParseOptions::default()),
        format!(
            "metric family 1: insufficient length of buffer, expected at least {} bytes, got {} bytes",
            input.len() + 1,
            input.len()
        )
    );
}

#[test]
fn hostile_lengths_fail_without_allocating_them() {
    // A family claiming 2^31 bytes, and a metric inside a family claiming 2^62 bytes.
    assert!(run(&[0x80, 0x80, 0x80, 0x80, 0x08], &ParseOptions::default()).is_err());
    let mut m = vec![0x22]; // field 4 (metric), wire type 2
    m.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f]);
    let mut input = vec![m.len() as u8];
    input.extend_from_slice(&m);
    let e = error_of(&input, &ParseOptions::default());
    assert!(
        e.starts_with("metric family 1: length 4611686018427387903 exceeds"),
        "{e}"
    );
}

/// Every prefix and every one-byte change of a body with every message type parses or fails
/// with an error; none panics.
#[test]
fn truncations_and_mutations_never_panic() {
    let input = body(&[
        native_integer_family(true),
        family(
            "c_total",
            "h",
            COUNTER,
            vec![Msg::new().message(
                M_COUNTER,
                Msg::new()
                    .double(1, 1.0)
                    .message(2, exemplar(&[("a", "b")], 1.0, Some((1, 2)))),
            )],
        ),
        family(
            "s",
            "",
            SUMMARY,
            vec![Msg::new().message(
                M_SUMMARY,
                Msg::new()
                    .varint(1, 1)
                    .message(3, Msg::new().double(1, 0.5)),
            )],
        ),
    ]);
    let opts = ParseOptions {
        keep_exemplars: true,
        native_histograms: true,
        keep_classic_histograms: true,
        classic_histograms: true,
        created_timestamps: true,
    };
    for n in 0..input.len() {
        let _ = run(&input[..n], &opts);
    }
    for i in 0..input.len() {
        for b in [0x00, 0x01, 0x7f, 0x80, 0xff, input[i] ^ 0x08] {
            let mut m = input.clone();
            m[i] = b;
            let _ = run(&m, &opts);
        }
    }
}

#[test]
fn a_sink_without_histograms_refuses_them() {
    let input = body(&[native_integer_family(false)]);
    let mut seen = 0;
    let mut sink = |_: &Sample<'_>| -> Result<(), SinkError> {
        seen += 1;
        Ok(())
    };
    let e = parse(&input, Format::Protobuf, &native_opts(), &mut sink).expect_err("refused");
    assert_eq!(e.kind, ParseErrorKind::Sink);
    assert!(e.to_string().contains(r#"test_histogram{svc="x"}"#), "{e}");
    assert_eq!(seen, 0);
}

#[test]
fn le_and_quantile_values_print_as_go_prints_them() {
    // Go's strconv.FormatFloat(f, 'g', -1, 64), then ".0" when there is no '.' or 'e'.
    let cases = [
        (1.0, "1.0"),
        (0.0, "0.0"),
        (-1.0, "-1.0"),
        (0.25, "0.25"),
        (0.99, "0.99"),
        (100000.0, "100000.0"),
        (123456.0, "123456.0"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-0.00048, "-0.00048"),
        (2.5e-7, "2.5e-07"),
        (1e21, "1e+21"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (f64::NAN, "NaN"),
    ];
    for (f, want) in cases {
        assert_eq!(format_openmetrics_float(f), want, "{f:e}");
    }
}

#[test]
fn content_type_picks_protobuf() {
    assert_eq!(
        Format::from_content_type(
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
        ),
        Format::Protobuf
    );
}

/// Each sample and native histogram carries its family's type and unit (what the
/// type-and-unit feature labels series with): the `unit` field, empty when the family has
/// none; a classic histogram's `_bucket`/`_sum`/`_count` series all carry the family's.
#[test]
fn samples_carry_their_familys_type_and_unit() {
    #[derive(Default)]
    struct Meta(Vec<(String, MetricType, String)>);
    impl Sink for Meta {
        fn sample(&mut self, s: &Sample<'_>) -> Result<(), SinkError> {
            self.0.push((s.series.into(), s.metric_type, s.unit.into()));
            Ok(())
        }
        fn histogram(&mut self, h: &HistogramSample<'_>) -> Result<(), SinkError> {
            self.0.push((h.series.into(), h.metric_type, h.unit.into()));
            Ok(())
        }
    }
    let input = body(&[
        family(
            "temp_celsius",
            "",
            GAUGE,
            vec![Msg::new().message(M_GAUGE, Msg::new().double(1, -3.25))],
        )
        .str(MF_UNIT, "celsius"),
        family(
            "jobs_total",
            "",
            COUNTER,
            vec![Msg::new().message(M_COUNTER, Msg::new().double(1, 2.0))],
        ),
        family(
            "size_bytes",
            "",
            HISTOGRAM,
            vec![Msg::new().message(
                M_HISTOGRAM,
                Msg::new()
                    .varint(1, 1)
                    .double(2, 3.0)
                    .message(3, bucket(1, 4.0)),
            )],
        )
        .str(MF_UNIT, "bytes"),
        native_integer_family(false).str(MF_UNIT, "histogram"),
    ]);
    let mut got = Meta::default();
    parse(&input, Format::Protobuf, &native_opts(), &mut got).expect("parses");
    let t =
        |series: &str, kind: MetricType, unit: &str| (series.to_string(), kind, unit.to_string());
    assert_eq!(
        got.0,
        [
            t("temp_celsius", MetricType::Gauge, "celsius"),
            t("jobs_total", MetricType::Counter, ""),
            t("size_bytes_count", MetricType::Histogram, "bytes"),
            t("size_bytes_sum", MetricType::Histogram, "bytes"),
            t(
                "size_bytes_bucket{le=\"4.0\"}",
                MetricType::Histogram,
                "bytes"
            ),
            t(
                "size_bytes_bucket{le=\"+Inf\"}",
                MetricType::Histogram,
                "bytes"
            ),
            t(
                "test_histogram{svc=\"x\"}",
                MetricType::Histogram,
                "histogram"
            ),
        ]
    );
}

/// Series texts and labels of the float samples, in order.
fn series_and_labels(got: &[Got]) -> Vec<(String, Pairs)> {
    got.iter()
        .filter_map(|g| match g {
            Got::Float { series, labels, .. } => Some((series.clone(), labels.clone())),
            _ => None,
        })
        .collect()
}

fn pairs(labels: &[(&str, &str)]) -> Pairs {
    labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn bucket_bounds_and_labels_of_each_metric_are_its_own() {
    // Two metrics of one family with different bucket bounds: the second's `le` values
    // are its own, and no sample keeps the `le` label of the one before.
    let input = body(&[family(
        "req_seconds",
        "",
        HISTOGRAM,
        vec![
            Msg::new()
                .message(M_LABEL, label("path", "/a\\b \"q\"\nz"))
                .message(
                    M_HISTOGRAM,
                    Msg::new()
                        .varint(1, 3)
                        .double(2, 1.5)
                        .message(3, bucket(1, 0.5))
                        .message(3, bucket(2, 1.0)),
                ),
            Msg::new().message(M_LABEL, label("path", "/b")).message(
                M_HISTOGRAM,
                Msg::new()
                    .varint(1, 4)
                    .double(2, 2.5)
                    .message(3, bucket(1, 0.5))
                    .message(3, bucket(3, 2.5e6))
                    .message(3, bucket(4, f64::INFINITY)),
            ),
        ],
    )]);
    let got = run(&input, &ParseOptions::default()).expect("parses");
    let a = r#"path="/a\\b \"q\"\nz""#;
    let a_value = "/a\\b \"q\"\nz";
    assert_eq!(
        series_and_labels(&got),
        vec![
            (
                format!("req_seconds_count{{{a}}}"),
                pairs(&[("path", a_value)])
            ),
            (
                format!("req_seconds_sum{{{a}}}"),
                pairs(&[("path", a_value)])
            ),
            (
                format!(r#"req_seconds_bucket{{{a},le="0.5"}}"#),
                pairs(&[("path", a_value), ("le", "0.5")])
            ),
            (
                format!(r#"req_seconds_bucket{{{a},le="1.0"}}"#),
                pairs(&[("path", a_value), ("le", "1.0")])
            ),
            // No `+Inf` bucket sent: one holding the count is added.
            (
                format!(r#"req_seconds_bucket{{{a},le="+Inf"}}"#),
                pairs(&[("path", a_value), ("le", "+Inf")])
            ),
            (
                r#"req_seconds_count{path="/b"}"#.into(),
                pairs(&[("path", "/b")])
            ),
            (
                r#"req_seconds_sum{path="/b"}"#.into(),
                pairs(&[("path", "/b")])
            ),
            (
                r#"req_seconds_bucket{path="/b",le="0.5"}"#.into(),
                pairs(&[("path", "/b"), ("le", "0.5")])
            ),
            // Go's %g of 2.5e6: 2.5e+06.
            (
                r#"req_seconds_bucket{path="/b",le="2.5e+06"}"#.into(),
                pairs(&[("path", "/b"), ("le", "2.5e+06")])
            ),
            (
                r#"req_seconds_bucket{path="/b",le="+Inf"}"#.into(),
                pairs(&[("path", "/b"), ("le", "+Inf")])
            ),
        ]
    );
}

#[test]
fn utf8_summary_name_without_labels_is_quoted_alone() {
    let input = body(&[family(
        "rpc.seconds",
        "",
        SUMMARY,
        vec![Msg::new().message(
            M_SUMMARY,
            Msg::new()
                .varint(1, 2)
                .double(2, 0.5)
                .message(3, Msg::new().double(1, 0.5).double(2, 0.2)),
        )],
    )]);
    let got = run(&input, &ParseOptions::default()).expect("parses");
    assert_eq!(
        series_and_labels(&got),
        vec![
            (r#"{"rpc.seconds_count"}"#.into(), pairs(&[])),
            (r#"{"rpc.seconds_sum"}"#.into(), pairs(&[])),
            (
                r#"{"rpc.seconds",quantile="0.5"}"#.into(),
                pairs(&[("quantile", "0.5")])
            ),
        ]
    );
}

#[test]
fn a_label_that_is_not_utf8_is_the_error_before_a_later_field_s() {
    // The label comes first in the metric, the gauge sent with the wrong wire type after
    // it: the label is what a reader meets first.
    let input = body(&[family(
        "g",
        "",
        GAUGE,
        vec![Msg::new()
            .message(M_LABEL, Msg::new().bytes(1, b"a").bytes(2, b"\xff"))
            .message(M_GAUGE, Msg::new().varint(1, 5))],
    )]);
    assert_eq!(
        error_of(&input, &ParseOptions::default()),
        "metric family 1 \"g\": metric[0].label[0]: invalid label value: \u{fffd}"
    );
    // An empty label name, in the same place.
    let input = body(&[family(
        "g",
        "",
        GAUGE,
        vec![Msg::new()
            .message(M_LABEL, label("", "x"))
            .message(M_GAUGE, Msg::new().double(1, 1.0))],
    )]);
    assert_eq!(
        error_of(&input, &ParseOptions::default()),
        "metric family 1 \"g\": metric[0].label[0]: invalid label name: empty"
    );
}

#[test]
fn duplicate_label_names_are_found_in_any_order() {
    let gauge = |labels: &[(&str, &str)]| {
        let mut m = Msg::new();
        for (n, v) in labels {
            m = m.message(M_LABEL, label(n, v));
        }
        body(&[family(
            "g",
            "",
            GAUGE,
            vec![m.message(M_GAUGE, Msg::new().double(1, 1.0))],
        )])
    };
    assert_eq!(
        error_of(
            &gauge(&[("b", "1"), ("a", "2"), ("b", "3")]),
            &ParseOptions::default()
        ),
        "metric family 1 \"g\": metric[0].label[2]: label name \"b\" is not unique"
    );
    assert_eq!(
        error_of(
            &gauge(&[("__name__", "x"), ("a", "2")]),
            &ParseOptions::default()
        ),
        "metric family 1 \"g\": metric[0].label[0]: label name \"__name__\" is not unique"
    );
    // Unsorted but unique labels are read in input order.
    let got = run(&gauge(&[("b", "1"), ("a", "2")]), &ParseOptions::default()).expect("parses");
    assert_eq!(
        series_and_labels(&got),
        vec![(r#"g{b="1",a="2"}"#.into(), pairs(&[("b", "1"), ("a", "2")]))]
    );
}

#[test]
fn label_values_of_128_bytes_and_more_and_a_short_length_prefix() {
    // A value of 200 bytes has a two-byte length.
    let long = "v".repeat(200);
    let input = body(&[family(
        "g",
        "",
        GAUGE,
        vec![Msg::new()
            .message(M_LABEL, label("a", &long))
            .message(M_GAUGE, Msg::new().double(1, 1.0))],
    )]);
    let got = run(&input, &ParseOptions::default()).expect("parses");
    assert_eq!(
        series_and_labels(&got),
        vec![(format!(r#"g{{a="{long}"}}"#), pairs(&[("a", &long)]))]
    );
    // A value whose length is the varint 0x85 0x01 (133) with 0x01 and 132 bytes after the
    // first length byte: 133 bytes follow `0x85`, but the value is one byte short.
    let mut pair = vec![0x0a, 1, b'a', 0x12, 0x85, 0x01];
    pair.extend(std::iter::repeat_n(b'v', 132));
    let input = body(&[family(
        "g",
        "",
        GAUGE,
        vec![Msg::new().message(M_LABEL, Msg::from_bytes(pair))],
    )]);
    assert_eq!(
        error_of(&input, &ParseOptions::default()),
        "metric family 1 \"g\": metric[0].label[0]: length 133 exceeds the 132 bytes left in the message"
    );
}
