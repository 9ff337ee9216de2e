//! The fast path reuses what the previous sample line parsed (shared prefix, label names,
//! timestamp text; see `line::LineReuse`). These tests check that a line parsed after its
//! neighbours reads exactly as the same line parsed alone, and fails the same way.

use super::support::{err, ok, OwnedSample};
use crate::exposition::Format;

const T: Format = Format::PrometheusText;
const OM: Format = Format::OpenMetrics;

/// What must not depend on the line before: everything but the family's type.
fn key(s: &OwnedSample) -> impl PartialEq + std::fmt::Debug {
    (
        s.name.clone(),
        s.series.clone(),
        s.labels.clone(),
        s.value.to_bits(),
        s.timestamp_ms,
        s.borrowed.clone(),
    )
}

/// Parses `body` whole and each of its sample lines alone, and compares sample by sample.
fn assert_same_as_lines_alone(body: &str, format: Format) {
    let whole = ok(body, format);
    let lines: Vec<&str> = body
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(whole.samples.len(), lines.len(), "one sample per line");
    for (line, got) in lines.iter().zip(&whole.samples) {
        let alone_body = match format {
            Format::PrometheusText | Format::Protobuf => format!("{line}\n"),
            Format::OpenMetrics => format!("{line}\n# EOF\n"),
        };
        let alone = ok(&alone_body, format);
        assert_eq!(
            key(got),
            key(&alone.samples[0]),
            "line {line:?} parsed after its neighbours"
        );
    }
}

#[test]
fn lines_sharing_prefixes_parse_like_lines_alone() {
    let body = "a{x=\"1\",y=\"2\"} 1 100\n\
                a{x=\"1\",y=\"2\"} 2 100\n\
                a{x=\"1\",y=\"22\"} 3 1000\n\
                a{x=\"1\",y=\"2\",z=\"3\"} 4 100\n\
                a{x=\"1\",y=\"2\\\\\"} 5\n\
                a{x=\"1\",y=\"2\"} 6 100 \n\
                a{x=\"1\"} 7\n\
                a{x=\"1\",y=\"2\"} 8\n\
                a 9\n\
                a{x=\"1\"} 10\n\
                ab{x=\"1\"} 11\n\
                a{name=\"n\",namespace=\"ns\"} 12\n\
                a{namespace=\"ns\",name=\"n\"} 13\n\
                a{namespace=\"ns\",name=\"n\",nam=\"x\"} 14\n\
                a{ab=\"1\"} 15\n\
                a{abc=\"1\"} 16\n\
                a{ab=\"1\"} 17\n\
                a{b=\"1\",a=\"2\"} 18\n\
                a{b=\"1\",a=\"2\"} 19\n\
                a{b=\"1\",a=\"3\"} 20\n\
                a{b=\"2\",a=\"3\",c=\"\"} 21\n\
                a {x=\"1\"} 22\n\
                a{ x=\"1\"} 23\n\
                a{x=\"1\"} 24 -5\n\
                a{x=\"1\"} 25 -5\n\
                {\"a\",x=\"1\"} 26\n\
                a{x=\"1\"} 27\n\
                a{\"x\"=\"1\"} 28\n\
                a{x=\"1\"} 29\n";
    assert_same_as_lines_alone(body, T);
}

#[test]
fn openmetrics_lines_sharing_prefixes_parse_like_lines_alone() {
    let body = "a_total{x=\"1\",y=\"2\"} 1 1.5\n\
                a_total{x=\"1\",y=\"2\"} 2 1.5\n\
                a_total{x=\"1\",y=\"3\"} 3 # {t=\"1\"} 1\n\
                a_total{x=\"1\",y=\"3\",z=\"\"} 4\n\
                # EOF\n";
    assert_same_as_lines_alone(body, OM);
}

#[test]
fn duplicate_label_after_a_shared_prefix_is_an_error() {
    let e = err("a{x=\"1\",y=\"2\"} 1\na{x=\"1\",x=\"2\"} 1\n", T);
    assert_eq!((e.line, e.column), (2, 9), "{e}");
    assert!(e.message.contains("duplicate label name"), "{e}");
    // Unsorted names: the previous line's check does not cover an extra label.
    let e = err("a{b=\"1\",a=\"2\"} 1\na{b=\"1\",a=\"2\",a=\"3\"} 1\n", T);
    assert_eq!((e.line, e.column), (2, 15), "{e}");
    assert!(e.message.contains("duplicate label name"), "{e}");
}

#[test]
fn value_without_closing_quote_after_a_shared_prefix_is_an_error() {
    let e = err("a{x=\"1\",y=\"2\"} 1\na{x=\"1\",y=\"2} 1\nb{z=\"\"} 1\n", T);
    assert_eq!(e.line, 2, "{e}");
    assert!(e.message.contains("unterminated label value"), "{e}");
}

#[test]
fn timestamp_after_a_repeated_one_is_parsed_again_when_it_differs() {
    let c = ok(
        "a 1 1700000000000\nb 2 1700000000000\nc 3 1700000000001\n",
        T,
    );
    let ts: Vec<_> = c.samples.iter().map(|s| s.timestamp_ms).collect();
    assert_eq!(
        ts,
        [
            Some(1_700_000_000_000),
            Some(1_700_000_000_000),
            Some(1_700_000_000_001)
        ]
    );
    let e = err("a 1 100\nb 2 10x\n", T);
    assert_eq!((e.line, e.column), (2, 5), "{e}");
}

#[test]
fn real_fixtures_parse_like_their_lines_alone() {
    for name in [
        "kubelet-cadvisor.prom",
        "kube-state-metrics.prom",
        "node-exporter-e2e.prom",
    ] {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let body = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_same_as_lines_alone(&body, T);
    }
}
