//! The text format's fast path (`fast_line`) against the general path.
//!
//! Two kinds of checks: which lines the fast path takes and what it reads from them (lines
//! crafted at the boundary between the two paths), and that whole bodies — crafted ones, the
//! real fixtures and thousands of mutations of them — give exactly the same samples,
//! metadata, statistics or error with the fast path as with the general path alone.

use super::mutate::{mutate, XorShift};
use super::support::{Collect, OwnedMeta};
use crate::exposition::fast_line::text_sample;
use crate::exposition::line::{Cursor, LineReuse};
use crate::exposition::{
    parse, parse_general, Format, ParseError, ParseOptions, ParseStats, SampleLabels,
};

const T: Format = Format::PrometheusText;

/// What the fast path read from the first line of `body`, as (name, series, labels, value
/// bits, timestamp, next line start), or `None` if it left the line to the general path.
type Read = (
    String,
    String,
    Vec<(String, String)>,
    u64,
    Option<i64>,
    usize,
);

fn fast_read(body: &str) -> Option<Read> {
    let cur = Cursor {
        input: body,
        line_no: 1,
        line_start: 0,
        text: true,
    };
    let mut reuse = LineReuse::default();
    let mut last_ts = None;
    let s = text_sample(&cur, &mut reuse, &mut last_ts)?;
    assert!(reuse.valid, "a line read by the fast path can be reused");
    Some((
        s.name.to_string(),
        s.series.to_string(),
        match s.has_labels {
            true => SampleLabels::plain(
                s.series,
                s.name.len() + 1,
                &reuse.name_len[..reuse.count],
                &reuse.stops[..reuse.count],
            ),
            false => SampleLabels::none(),
        }
        .iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect(),
        s.value.to_bits(),
        s.timestamp_ms,
        s.next,
    ))
}

/// One reported sample: name, series, labels, value bits, timestamp and type.
type SampleKey = (
    String,
    String,
    Vec<(String, String)>,
    u64,
    Option<i64>,
    String,
);

/// Everything a parse reports, comparable (values by their bits, so NaN equals NaN).
#[derive(Debug, PartialEq)]
struct Outcome {
    samples: Vec<SampleKey>,
    borrowed: Vec<Vec<bool>>,
    meta: Vec<OwnedMeta>,
    order: String,
    stats: ParseStats,
}

fn outcome(body: &[u8], general: bool) -> Result<Outcome, ParseError> {
    let mut c = Collect::over(body);
    let opts = ParseOptions::default();
    let stats = if general {
        parse_general(body, T, &opts, &mut c)?
    } else {
        parse(body, T, &opts, &mut c)?
    };
    Ok(Outcome {
        samples: c
            .samples
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    s.series.clone(),
                    s.labels.clone(),
                    s.value.to_bits(),
                    s.timestamp_ms,
                    format!("{:?}", s.metric_type),
                )
            })
            .collect(),
        borrowed: c.samples.iter().map(|s| s.borrowed.clone()).collect(),
        meta: c.meta,
        order: c.order,
        stats,
    })
}

#[track_caller]
fn assert_same_as_general(body: &[u8]) {
    let fast = outcome(body, false);
    let general = outcome(body, true);
    assert_eq!(
        fast,
        general,
        "fast and general paths differ on {:?}",
        String::from_utf8_lossy(body)
    );
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn fast_path_reads_the_common_shapes() {
    let r = fast_read("a{x=\"1\",y=\"\"} 2 1782468875486\nb 1\n").expect("fast");
    assert_eq!(r.0, "a");
    assert_eq!(r.1, "a{x=\"1\",y=\"\"}");
    assert_eq!(r.2, labels(&[("x", "1"), ("y", "")]));
    assert_eq!(
        (f64::from_bits(r.3), r.4, r.5),
        (2.0, Some(1_782_468_875_486), 30)
    );

    // Without a trailing newline the line ends with the input.
    let r = fast_read("metric:with_colon 7").expect("fast");
    assert_eq!(
        (r.0.as_str(), f64::from_bits(r.3), r.4, r.5),
        ("metric:with_colon", 7.0, None, 19)
    );
    let r = fast_read("a 1 123").expect("fast");
    assert_eq!((r.4, r.5), (Some(123), 7));

    // Values: negative, decimals, exponents, specials (through `parse_float`).
    for (text, want) in [
        ("-1", -1.0),
        ("-0", -0.0),
        ("0.25", 0.25),
        ("2.687844352e+09", 2.687844352e9),
        ("1.782468732e+09", 1.782468732e9),
        ("1e-30", 1e-30),
        ("123456789012345", 123_456_789_012_345.0),
        ("1234567890123456789012", 1.234_567_890_123_456_8e21),
        ("+Inf", f64::INFINITY),
        ("-Inf", f64::NEG_INFINITY),
    ] {
        let r = fast_read(&format!("a{{le=\"1\"}} {text}\n")).expect(text);
        assert_eq!(r.3, want.to_bits(), "{text}");
    }
    let nan = fast_read("a NaN\n").expect("NaN");
    assert!(f64::from_bits(nan.3).is_nan());

    // Timestamps: negative, 13 and 15 digits.
    for (text, want) in [
        ("-5", -5),
        ("-0", 0),
        ("0", 0),
        ("1782468875486", 1_782_468_875_486),
        ("123456789012345", 123_456_789_012_345),
        ("-123456789012345", -123_456_789_012_345),
    ] {
        let r = fast_read(&format!("a 1 {text}\n")).expect(text);
        assert_eq!(r.4, Some(want), "{text}");
    }

    // Label values with spaces, braces, commas, control bytes and non-ASCII text.
    let r = fast_read("a{x=\"a b, c}\",y=\"ünï\tcödé\"} 1\n").expect("fast");
    assert_eq!(r.2, labels(&[("x", "a b, c}"), ("y", "ünï\tcödé")]));
    // Long values cross many eight-byte words.
    let long = "v".repeat(300);
    let r = fast_read(&format!("a{{x=\"{long}\",y=\"{long}!\"}} 1\n")).expect("fast");
    assert_eq!(r.2[1].1.len(), 301);
}

#[test]
fn fast_path_leaves_other_lines_to_the_general_path() {
    for line in [
        // Not sample lines.
        "# HELP a x\n",
        "# TYPE a counter\n",
        "#comment\n",
        "\n",
        "",
        // Whitespace the text format allows, but not in the common shape.
        " a 1\n",
        "a  1\n",
        "a\t1\n",
        "a 1\t2\n",
        "a 1 \n",
        "a 1 2 \n",
        "a {x=\"1\"} 1\n",
        "a{ x=\"1\"} 1\n",
        "a{x=\"1\" } 1\n",
        "a{x=\"1\"}  1\n",
        "a 1\r\n",
        // Escapes and quoted names.
        "a{x=\"a\\\"b\"} 1\n",
        "a{x=\"a\\\\b\"} 1\n",
        "a{x=\"a\\nb\"} 1\n",
        "{\"a\"} 1\n",
        "a{\"x\"=\"1\"} 1\n",
        // Numbers the fast path does not convert, or that are wrong.
        "a 1 1234567890123456\n",
        "a 1 1234567890123456789\n",
        "a 1 +5\n",
        "a 1 1.5\n",
        "a 1 -\n",
        "a 1_000\n",
        "a 1e400\n",
        "a +nan\n",
        // Malformed lines: the general path reports them.
        "a\n",
        "a",
        "a{x=\"1\"}\n",
        "a{x=\"1\"} \n",
        "a{x=\"1} 1\n",
        "a{x=\"1\n\"} 1\n",
        "a{x=\"1\"",
        "a{x=1} 1\n",
        "a{x=\"1\",x=\"2\"} 1\n",
        "a{__name__=\"b\"} 1\n",
        "a{1x=\"1\"} 1\n",
        "a{x=\"1\"}x 1\n",
        "a-b 1\n",
        "0a 1\n",
        "a 1 2 3\n",
    ] {
        assert_eq!(fast_read(line), None, "{line:?}");
        assert_same_as_general(line.as_bytes());
    }
}

#[test]
fn crafted_bodies_read_the_same_with_and_without_the_fast_path() {
    let bodies: &[&str] = &[
        // Label names that differ from the previous line's at the same position, in length
        // or in one byte, and label sets that grow and shrink.
        "a{ab=\"1\"} 1\na{ac=\"1\"} 2\na{a=\"1\"} 3\na{abc=\"1\"} 4\na{abc=\"1\",d=\"2\"} 5\na{abc=\"1\"} 6\n",
        "a{namespace=\"x\",pod=\"y\"} 1\na{namespace=\"x\",pods=\"y\"} 2\na{namespacE=\"x\",pod=\"y\"} 3\n",
        // Unsorted names, duplicates after a shared prefix.
        "a{b=\"1\",a=\"2\"} 1\na{b=\"1\",a=\"3\"} 2\na{b=\"1\",a=\"3\",a=\"4\"} 3\n",
        "a{x=\"1\",y=\"2\"} 1\na{x=\"1\",x=\"2\"} 1\n",
        // A shared prefix that ends inside a value, at a quote, at a comma.
        "a{x=\"12\",y=\"1\"} 1\na{x=\"123\",y=\"1\"} 1\na{x=\"12\",y=\"1\"} 1\na{x=\"12\"} 1\n",
        // Repeated timestamps, then one that only starts the same.
        "a 1 100\nb 2 100\nc 3 1000\nd 4 10\ne 5 100\nf 6 100 \n",
        "a 1 -5\nb 2 -5\nc 3 -50\n",
        // Fast, general, fast again: the reuse state must restart cleanly.
        "a{x=\"1\",y=\"2\"} 1\na{x=\"1\",y=\"2\\\\\"} 2\na{x=\"1\",y=\"2\"} 3\na { x=\"1\" } 4\na{x=\"1\"} 5\n",
        "a{x=\"1\"} 1\n# HELP a help\n# TYPE a gauge\na{x=\"1\"} 2\n\na{x=\"1\"} 3\n",
        // Metadata around fast lines gives the types.
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\nh_total 1\n",
        // Non-ASCII in values.
        "a{x=\"ü\"} 1\na{x=\"ü€\"} 2\na{x=\"€\",y=\"😀\"} 3\n",
        // Missing final newline, with and without timestamp.
        "a 1\nb{x=\"1\"} 2",
        "a 1\nb{x=\"1\"} 2 1782468875486",
        // Errors in lines that start like the previous fast line.
        "a{x=\"1\",y=\"2\"} 1\na{x=\"1\",y=\"2\"} x\n",
        "a{x=\"1\",y=\"2\"} 1 100\na{x=\"1\",y=\"2\"} 1 100x\n",
        "a{x=\"1\",y=\"2\"} 1\na{x=\"1\",y=\"2\"}\n",
        "a{x=\"1\",y=\"2\"} 1\na{x=\"1\",y=\"2\"",
        "a 1\na\n",
        "a 1 1234567890123456789\nb 1 12345678901234567890\n",
        "a 1 -9223372036854775808\nb 1 9223372036854775807\n",
        // Values holding `="`-like text, commas and braces; a trailing comma.
        "a{x=\"=,}\",y=\"a=b\",} 1\na{x=\"=,}\",y=\"a=c\",} 2\na{x=\"\",} 3\n",
        // Leading whitespace: the general line path with undecoded labels.
        "  a{x=\"1\",y=\"2\"} 1\n\ta{x=\"1\",y=\"3\"} 2\na{x=\"1\",y=\"3\"}  3\n",
    ];
    for body in bodies {
        assert_same_as_general(body.as_bytes());
    }
}

/// Found by the fuzz target: a line with whitespace before its name, read by the general
/// path, left its name's end (counted from the line's first byte, the whitespace included)
/// for the next line to reuse, and the fast path took the same line again with the
/// whitespace as part of the name.
#[test]
fn line_after_one_with_leading_whitespace_keeps_its_name() {
    for body in [
        " z 0 5\n z 0 5\n 7070",
        " z 1\n z 2\nz 3\n",
        "\tz{a=\"1\"} 1\n\tz{a=\"1\"} 2\n",
    ] {
        assert_same_as_general(body.as_bytes());
    }
    let c = super::support::ok(" z 1\n z 2\n", T);
    assert_eq!(c.samples[1].name, "z");
    assert_eq!(c.samples[1].series, "z");
}

/// Label names are compared with the previous line's as one or two words (name and `="`
/// up to 8 bytes, 9 to 16, longer byte by byte): names at each boundary, and the same
/// length with one byte changed at its start, its end, or in the `="`.
#[test]
fn label_names_at_the_word_boundaries_read_the_same() {
    for len in 1..=20 {
        let name: String = (0..len)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let mut first = name.clone().into_bytes();
        first[0] = b'z';
        let mut last = name.clone().into_bytes();
        last[len - 1] = b'Z';
        let (first, last) = (
            String::from_utf8(first).unwrap(),
            String::from_utf8(last).unwrap(),
        );
        let body = format!(
            "m{{{name}=\"1\",q=\"2\"}} 1\nm{{{name}=\"1\",q=\"3\"}} 2\nm{{{first}=\"1\"}} 3\n\
             m{{{name}=\"1\"}} 4\nm{{{last}=\"1\"}} 5\nm{{{name}=\"1\"}} 6\nm{{{name}x=\"1\"}} 7\n\
             m{{{name}=\"1\"}} 8\nm{{{name}==\"1\"}} 9\n"
        );
        assert_same_as_general(body.as_bytes());
    }
}

/// Blocks with more labels than the fast path takes (`MAX_FAST_LABELS`) are decoded by the
/// general path; both read the same, and the sink sees every label either way.
#[test]
fn many_labels_read_the_same_on_either_side_of_the_fast_path_limit() {
    for n in [63, 64, 65, 100] {
        let block: Vec<String> = (0..n).map(|i| format!("l{i:03}=\"v{i}\"")).collect();
        let body = format!("m{{{}}} 1\nm{{{}}} 2\n", block.join(","), block.join(","));
        assert_same_as_general(body.as_bytes());
        let c = super::support::ok(&body, T);
        assert_eq!(c.samples[1].labels.len(), n);
        assert_eq!(
            c.samples[1].labels[n - 1],
            (format!("l{:03}", n - 1), format!("v{}", n - 1))
        );
    }
}

/// What a sink sees through `SampleLabels`: the same labels, `len` and `get` whether the
/// parser validated the block and left it undecoded or decoded it (escapes, whitespace).
#[test]
fn sample_labels_read_the_same_undecoded_and_decoded() {
    let body = "m{a=\"1\",b=\"x,y}\"} 1\nm{a=\"1\", b=\"x,y}\"} 2\nm{a=\"1\",b=\"x,y}\",} 3\nm 4\n";
    let mut seen = Vec::new();
    let mut sink = |s: &crate::exposition::Sample<'_>| -> Result<(), crate::exposition::SinkError> {
        let pairs: Vec<(String, String)> = s
            .labels
            .iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect();
        seen.push((
            pairs,
            s.labels.len(),
            s.labels.is_empty(),
            s.labels.get("b").map(|v| v.to_string()),
            s.labels.get("c").map(|v| v.to_string()),
        ));
        Ok(())
    };
    parse(body.as_bytes(), T, &ParseOptions::default(), &mut sink).unwrap();
    let both = labels(&[("a", "1"), ("b", "x,y}")]);
    let one = (both, 2, false, Some("x,y}".to_string()), None);
    assert_eq!(seen[..3], [one.clone(), one.clone(), one]);
    assert_eq!(seen[3], (vec![], 0, true, None, None));
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

const FIXTURES: [&str; 6] = [
    "cadvisor-standalone.prom",
    "kube-scheduler.prom",
    "kube-state-metrics.prom",
    "kubelet-cadvisor.prom",
    "node-exporter-e2e.prom",
    "node_exporter.prom",
];

#[test]
fn real_fixtures_read_the_same_with_and_without_the_fast_path() {
    for name in FIXTURES {
        let data = fixture(name);
        assert!(outcome(&data, false).is_ok(), "{name}");
        assert_same_as_general(&data);
    }
}

#[test]
fn mutated_fixtures_read_the_same_with_and_without_the_fast_path() {
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for name in FIXTURES {
        let data = fixture(name);
        let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
        for start in [0, lines.len() / 4, lines.len() / 2, lines.len() * 3 / 4] {
            let end = (start + 30).min(lines.len());
            seeds.push(lines[start..end].concat());
        }
    }
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let (mut oks, mut errs) = (0, 0);
    for round in 0..3000 {
        let mut input = seeds[round % seeds.len()].clone();
        mutate(&mut rng, &mut input);
        let fast = outcome(&input, false);
        match &fast {
            Ok(_) => oks += 1,
            Err(_) => errs += 1,
        }
        assert_eq!(
            fast,
            outcome(&input, true),
            "fast and general paths differ on {:?}",
            String::from_utf8_lossy(&input)
        );
    }
    assert!(oks > 300 && errs > 300, "{oks} parsed, {errs} failed");
}
