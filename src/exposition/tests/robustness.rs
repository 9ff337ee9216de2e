//! The parser against real scrapes and thousands of mutations of them.
//!
//! The mutation test is the CI stand-in for `cargo fuzz` (which needs nightly): a fixed
//! xorshift stream flips, inserts and deletes bytes and truncates windows of the real
//! fixtures, and every result must be a clean `Ok` or a positioned `Err`, never a panic.
//! Which of the two it must be is checked by tests/exposition_differential.rs, which feeds
//! the same stream to Python's prometheus_client (and, where they differ, Go's text parser).

use super::mutate::{mutate, XorShift};
use super::support::ok;
use crate::exposition::{
    parse, write_jsonl, Format, ParseErrorKind, ParseOptions, Sample, SinkError,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn own_data(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/data/exposition/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// (fixture, samples, samples with a timestamp), counted independently with Python's
/// prometheus_client and recorded in tests/fixtures/SOURCES.md.
const FIXTURES: [(&str, usize, usize); 6] = [
    ("cadvisor-standalone.prom", 287, 276),
    ("kube-scheduler.prom", 2334, 0),
    ("kube-state-metrics.prom", 1698, 0),
    ("kubelet-cadvisor.prom", 4621, 4246),
    ("node-exporter-e2e.prom", 3027, 0),
    ("node_exporter.prom", 507, 0),
];

#[test]
fn real_fixtures_parse_completely() {
    for (name, samples, with_ts) in FIXTURES {
        let input = String::from_utf8(fixture(name)).expect("fixture is UTF-8");
        let c = ok(&input, Format::PrometheusText);
        assert_eq!(c.samples.len(), samples, "{name}: sample count");
        let ts = c
            .samples
            .iter()
            .filter(|s| s.timestamp_ms.is_some())
            .count();
        assert_eq!(ts, with_ts, "{name}: samples with timestamps");
        assert!(!c.meta.is_empty(), "{name}: metadata reported");
        for s in &c.samples {
            assert!(
                s.series.starts_with(&s.name),
                "{name}: series {:?}",
                s.series
            );
        }
    }
}

#[test]
fn kube_state_metrics_families_are_typed() {
    let input = String::from_utf8(fixture("kube-state-metrics.prom")).expect("UTF-8");
    let c = ok(&input, Format::PrometheusText);
    let untyped: Vec<_> = c
        .samples
        .iter()
        .filter(|s| s.metric_type == crate::exposition::MetricType::Unknown)
        .map(|s| s.name.as_str())
        .collect();
    assert!(
        untyped.is_empty(),
        "every ksm family has a TYPE: {untyped:?}"
    );
}

#[test]
fn own_openmetrics_data_parses() {
    let input = String::from_utf8(own_data("openmetrics.om")).expect("UTF-8");
    assert_eq!(ok(&input, Format::OpenMetrics).samples.len(), 16);
}

/// Parses and checks the invariants that hold for any input.
fn check(input: &[u8], format: Format, keep_exemplars: bool) {
    let mut pushed = 0usize;
    let mut sink = |s: &Sample<'_>| -> Result<(), SinkError> {
        pushed += 1;
        assert!(!s.name.is_empty(), "a sample always has a name");
        assert!(s.series.len() <= input.len());
        Ok(())
    };
    let opts = ParseOptions {
        keep_exemplars,
        ..ParseOptions::default()
    };
    let lines = input.iter().filter(|&&b| b == b'\n').count() + 1;
    match parse(input, format, &opts, &mut sink) {
        Ok(stats) => {
            assert_eq!(stats.samples, pushed, "stats count every pushed sample");
            assert!(stats.lines <= lines);
            // Same answer twice, and the JSONL writer agrees on the count.
            let mut out = Vec::new();
            let n = write_jsonl(input, format, &mut out).expect("second parse succeeds too");
            assert_eq!(n, pushed);
            assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), n);
        }
        Err(e) => {
            assert_eq!(e.kind, ParseErrorKind::Syntax);
            assert!(
                e.line >= 1 && e.line <= lines + 1,
                "line {} of {lines}: {e}",
                e.line
            );
            assert!(e.column >= 1, "{e}");
            assert!(!e.message.is_empty());
            assert!(e
                .to_string()
                .starts_with(&format!("line {}, column {}: ", e.line, e.column)));
            let mut out = Vec::new();
            assert!(
                write_jsonl(input, format, &mut out).is_err(),
                "a failing input never claims success on a second parse"
            );
        }
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for (name, _, _) in FIXTURES {
        let data = fixture(name);
        // Windows of ~40 lines from a few places in each file keep the test fast.
        let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
        for start in [0, lines.len() / 3, lines.len() * 2 / 3] {
            let end = (start + 40).min(lines.len());
            seeds.push(lines[start..end].concat());
        }
    }
    seeds.push(own_data("openmetrics.om"));
    seeds.push(own_data("escapes.prom"));

    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut oks = 0;
    for round in 0..4000 {
        let seed = &seeds[round % seeds.len()];
        let mut input = seed.clone();
        mutate(&mut rng, &mut input);
        let keep = rng.below(2) == 0;
        check(&input, Format::PrometheusText, keep);
        check(&input, Format::OpenMetrics, keep);
        if parse(
            &input,
            Format::PrometheusText,
            &ParseOptions::default(),
            &mut |_: &Sample<'_>| Ok(()),
        )
        .is_ok()
        {
            oks += 1;
        }
    }
    // The mutations must leave some inputs valid, or the Ok branch is never exercised.
    assert!(oks > 100, "only {oks} mutated inputs parsed");
}

#[test]
fn truncating_openmetrics_anywhere_is_an_error_or_a_valid_prefix() {
    let data = own_data("openmetrics.om");
    // Cutting only the final newline leaves a valid body; any earlier cut loses `# EOF`.
    assert!(data.ends_with(b"\n# EOF\n"));
    for cut in 0..data.len() - 1 {
        check(&data[..cut], Format::OpenMetrics, true);
        let r = parse(
            &data[..cut],
            Format::OpenMetrics,
            &ParseOptions::default(),
            &mut |_: &Sample<'_>| Ok(()),
        );
        assert!(r.is_err(), "an OpenMetrics body cut at {cut} lacks # EOF");
    }
}
