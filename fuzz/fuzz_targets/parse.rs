//! Fuzz target: the exposition parser on arbitrary bytes, in the text formats and the
//! protobuf format, with exemplars kept or not. It must return Ok or Err, never panic; on Ok
//! the stats count every sample the sink saw, and in the text formats the JSONL writer
//! agrees. In the text format the parser's fast path and its general path give the same
//! samples and the same error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redline::exposition::{
    parse, parse_general, write_jsonl, Format, ParseOptions, Sample, SinkError,
};

type Seen = (String, String, Vec<(String, String)>, u64, Option<i64>);

fn samples(
    data: &[u8],
    general: bool,
) -> (Vec<Seen>, Result<(), redline::exposition::ParseError>) {
    let mut seen = Vec::new();
    let mut sink = |s: &Sample<'_>| -> Result<(), SinkError> {
        assert_eq!(s.labels.len(), s.labels.iter().count());
        seen.push((
            s.name.to_string(),
            s.series.to_string(),
            s.labels
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect(),
            s.value.to_bits(),
            s.timestamp_ms,
        ));
        Ok(())
    };
    let opts = ParseOptions::default();
    let r = if general {
        parse_general(data, Format::PrometheusText, &opts, &mut sink)
    } else {
        parse(data, Format::PrometheusText, &opts, &mut sink)
    };
    (seen, r.map(|_| ()))
}

fuzz_target!(|data: &[u8]| {
    let (fast, fast_result) = samples(data, false);
    let (general, general_result) = samples(data, true);
    assert_eq!(fast_result, general_result, "fast and general paths disagree on the outcome");
    assert_eq!(fast, general, "fast and general paths disagree on the samples");
    for format in [Format::PrometheusText, Format::OpenMetrics, Format::Protobuf] {
        for keep_exemplars in [false, true] {
            let mut pushed = 0usize;
            let mut sink = |s: &Sample<'_>| -> Result<(), SinkError> {
                assert!(!s.name.is_empty());
                assert_eq!(s.labels.len(), s.labels.iter().count());
                if format != Format::Protobuf {
                    assert!(s.series.len() <= data.len());
                }
                if let Some(e) = s.exemplar {
                    assert!(keep_exemplars);
                    let _ = e.labels.len();
                }
                pushed += 1;
                Ok(())
            };
            let opts = ParseOptions {
                keep_exemplars,
                ..ParseOptions::default()
            };
            match parse(data, format, &opts, &mut sink) {
                Ok(stats) => {
                    assert_eq!(stats.samples, pushed);
                    if format != Format::Protobuf {
                        let mut out = Vec::new();
                        let n = write_jsonl(data, format, &mut out).expect("second parse agrees");
                        assert_eq!(n, pushed);
                    }
                }
                Err(e) => {
                    // The protobuf format has no lines: its errors name the family instead.
                    if format != Format::Protobuf {
                        assert!(e.line >= 1 && e.column >= 1);
                    }
                    assert!(!e.message.is_empty());
                }
            }
        }
    }
});
