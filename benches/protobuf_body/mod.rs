//! Protobuf scrape bodies for the parse bench, built at set-up with redline's message writer
//! (`exposition::protobuf::encode`), field numbers from `prometheus/client_model`'s
//! `metrics.proto`.
//!
//! - [`from_text`]: a text-format fixture re-encoded as delimited `MetricFamily` messages,
//!   one family per `# TYPE` block with its `# HELP`, one `Metric` per sample line, so the
//!   protobuf decoder hands the sink the same samples the text parser does and the two
//!   ns/sample figures are per the same samples. The fixtures the bench uses hold counters,
//!   gauges and untyped samples only; another type panics at set-up.
//! - [`native_histograms`]: a family of native histograms (`latency` data: schema 3, 32
//!   buckets in two spans, integer counts sent as deltas, as client_golang sends them).
#![allow(dead_code)]

use redline::exposition::protobuf::encode::{delimited, Message};
use redline::exposition::{parse, Format, MetricType, ParseOptions, Sample, Sink, SinkError};
use redline::histogram::FloatHistogram;

// MetricFamily
const MF_NAME: u64 = 1;
const MF_HELP: u64 = 2;
const MF_TYPE: u64 = 3;
const MF_METRIC: u64 = 4;
// MetricType
const COUNTER: u64 = 0;
const GAUGE: u64 = 1;
const UNTYPED: u64 = 3;
const HISTOGRAM: u64 = 4;
// Metric
const M_LABEL: u64 = 1;
const M_GAUGE: u64 = 2;
const M_COUNTER: u64 = 3;
const M_UNTYPED: u64 = 5;
const M_HISTOGRAM: u64 = 7;
// Histogram
const H_SAMPLE_COUNT: u64 = 1;
const H_SAMPLE_SUM: u64 = 2;
const H_SCHEMA: u64 = 5;
const H_ZERO_THRESHOLD: u64 = 6;
const H_ZERO_COUNT: u64 = 7;
const H_POSITIVE_SPAN: u64 = 12;
const H_POSITIVE_DELTA: u64 = 13;

struct Family {
    name: String,
    help: Option<String>,
    kind: MetricType,
    metrics: Vec<Message>,
}

#[derive(Default)]
struct Families(Vec<Family>);

impl Sink for Families {
    fn metadata(&mut self, family: &str, kind: MetricType, help: Option<&str>, _: Option<&str>) {
        self.0.push(Family {
            name: family.to_string(),
            help: help.map(str::to_string),
            kind,
            metrics: Vec::new(),
        });
    }

    fn sample(&mut self, s: &Sample<'_>) -> Result<(), SinkError> {
        if self.0.last().is_none_or(|f| f.name != s.name) {
            // A sample without a TYPE block of its own: an untyped family.
            self.metadata(s.name, MetricType::Unknown, None, None);
        }
        let family = self.0.last_mut().expect("a family was just pushed");
        let mut m = Message::new();
        for l in s.labels.iter() {
            m = m.message(M_LABEL, Message::new().str(1, l.name).str(2, &l.value));
        }
        let value = Message::new().double(1, s.value);
        m = match s.metric_type {
            MetricType::Counter => m.message(M_COUNTER, value),
            MetricType::Gauge => m.message(M_GAUGE, value),
            MetricType::Unknown => m.message(M_UNTYPED, value),
            other => panic!("{}: family type {other:?} is not re-encoded", s.series),
        };
        family.metrics.push(m);
        Ok(())
    }
}

/// The text-format body `text` as a delimited protobuf body, and its sample count.
pub fn from_text(text: &[u8]) -> (Vec<u8>, usize) {
    let mut families = Families::default();
    let stats = parse(
        text,
        Format::PrometheusText,
        &ParseOptions::default(),
        &mut families,
    )
    .expect("fixture parses");
    let messages: Vec<Message> = families
        .0
        .into_iter()
        .filter(|f| !f.metrics.is_empty())
        .map(|f| {
            let kind = match f.kind {
                MetricType::Counter => COUNTER,
                MetricType::Gauge => GAUGE,
                _ => UNTYPED,
            };
            let mut m = Message::new().str(MF_NAME, &f.name);
            if let Some(help) = &f.help {
                m = m.str(MF_HELP, help);
            }
            m = m.varint(MF_TYPE, kind);
            for metric in f.metrics {
                m = m.message(MF_METRIC, metric);
            }
            m
        })
        .collect();
    (delimited(&messages), stats.samples)
}

/// One native histogram as client_golang writes it: integer counts, bucket counts as deltas.
fn histogram_message(h: &FloatHistogram) -> Message {
    let mut m = Message::new()
        .varint(H_SAMPLE_COUNT, h.count as u64)
        .double(H_SAMPLE_SUM, h.sum)
        .sint(H_SCHEMA, i64::from(h.schema))
        .double(H_ZERO_THRESHOLD, h.zero_threshold)
        .varint(H_ZERO_COUNT, h.zero_count as u64);
    for s in &h.positive_spans {
        m = m.message(
            H_POSITIVE_SPAN,
            Message::new()
                .sint(1, i64::from(s.offset))
                .varint(2, u64::from(s.length)),
        );
    }
    let mut prev = 0i64;
    let deltas: Vec<i64> = h
        .positive_buckets
        .iter()
        .map(|&c| {
            let d = c as i64 - prev;
            prev = c as i64;
            d
        })
        .collect();
    m.packed_sint(H_POSITIVE_DELTA, &deltas)
}

/// A delimited body with one family `http_request_duration_seconds` holding one native
/// histogram per entry of `histograms` (labels `code`, `handler`, `method`).
pub fn native_histograms(histograms: &[FloatHistogram]) -> Vec<u8> {
    let mut family = Message::new()
        .str(MF_NAME, "http_request_duration_seconds")
        .str(MF_HELP, "Duration of HTTP requests.")
        .varint(MF_TYPE, HISTOGRAM);
    for (i, h) in histograms.iter().enumerate() {
        let handler = format!("/api/v1/resource{}", i / 6);
        let method = ["GET", "POST", "PUT"][i % 3];
        let code = ["200", "500"][(i / 3) % 2];
        let metric = Message::new()
            .message(M_LABEL, Message::new().str(1, "code").str(2, code))
            .message(M_LABEL, Message::new().str(1, "handler").str(2, &handler))
            .message(M_LABEL, Message::new().str(1, "method").str(2, method))
            .message(M_HISTOGRAM, histogram_message(h));
        family = family.message(MF_METRIC, metric);
    }
    delimited(&[family])
}
