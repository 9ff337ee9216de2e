//! Fuzz target: the exposition parser on arbitrary bytes, in both formats and with exemplars
//! kept or not. It must return Ok or Err, never panic; on Ok the stats count every sample the
//! sink saw, and the JSONL writer agrees.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redline::exposition::{parse, write_jsonl, Format, ParseOptions, Sample, SinkError};

fuzz_target!(|data: &[u8]| {
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        for keep_exemplars in [false, true] {
            let mut pushed = 0usize;
            let mut sink = |s: &Sample<'_>| -> Result<(), SinkError> {
                assert!(!s.name.is_empty());
                assert!(s.series.len() <= data.len());
                if let Some(e) = s.exemplar {
                    assert!(keep_exemplars);
                    let _ = e.labels.len();
                }
                pushed += 1;
                Ok(())
            };
            let opts = ParseOptions { keep_exemplars };
            match parse(data, format, &opts, &mut sink) {
                Ok(stats) => {
                    assert_eq!(stats.samples, pushed);
                    let mut out = Vec::new();
                    let n = write_jsonl(data, format, &mut out).expect("second parse agrees");
                    assert_eq!(n, pushed);
                }
                Err(e) => {
                    assert!(e.line >= 1 && e.column >= 1);
                    assert!(!e.message.is_empty());
                }
            }
        }
    }
});
