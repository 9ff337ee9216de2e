//! Prometheus text format 0.0.4: features, leniencies and every error class.

use super::support::{assert_err, assert_errs, err, labels, ok, OwnedMeta};
use crate::exposition::{
    detect_format, parse, Format, MetricType, ParseErrorKind, ParseOptions, Sample, SinkError,
    NORMAL_NAN_BITS,
};

const T: Format = Format::PrometheusText;

#[test]
fn help_type_and_samples() {
    let c = ok(
        "# HELP http_requests_total The total number of HTTP requests.\n\
         # TYPE http_requests_total counter\n\
         http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
         http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n",
        T,
    );
    assert_eq!(
        c.meta,
        [OwnedMeta {
            family: "http_requests_total".into(),
            kind: MetricType::Counter,
            help: Some("The total number of HTTP requests.".into()),
            unit: None,
        }]
    );
    assert_eq!(c.order, "mss");
    let s = &c.samples[0];
    assert_eq!(s.name, "http_requests_total");
    assert_eq!(
        s.series,
        "http_requests_total{method=\"post\",code=\"200\"}"
    );
    assert_eq!(s.labels, labels(&[("method", "post"), ("code", "200")]));
    assert_eq!(s.value, 1027.0);
    assert_eq!(s.timestamp_ms, Some(1_395_066_363_000));
    assert_eq!(s.metric_type, MetricType::Counter);
    assert_eq!(c.samples[1].value, 3.0);
    assert_eq!(
        s.borrowed,
        [true, true],
        "no escapes: values borrow from the input"
    );
}

#[test]
fn histogram_and_summary_suffixes_carry_the_family_type() {
    let c = ok(
        "# TYPE rpc histogram\nrpc_bucket{le=\"0.1\"} 1\nrpc_bucket{le=\"+Inf\"} 2\nrpc_sum 0.3\nrpc_count 2\n\
         # TYPE q summary\nq{quantile=\"0.5\"} 1\nq_sum 2\nq_count 3\n\
         other 1\n",
        T,
    );
    let types: Vec<_> = c.samples.iter().map(|s| s.metric_type).collect();
    use MetricType::*;
    assert_eq!(
        types,
        [Histogram, Histogram, Histogram, Histogram, Summary, Summary, Summary, Unknown]
    );
}

#[test]
fn untyped_and_missing_type_are_unknown() {
    let c = ok("# TYPE a untyped\na 1\nb 2\n# TYPE c GAUGE\nc 3\n", T);
    let types: Vec<_> = c.samples.iter().map(|s| s.metric_type).collect();
    assert_eq!(
        types,
        [MetricType::Unknown, MetricType::Unknown, MetricType::Gauge]
    );
    assert_eq!(c.meta[0].kind, MetricType::Unknown);
}

#[test]
fn escapes_in_label_values_and_help() {
    let c = ok(
        "# HELP a Help with \\\\ backslash, \\n newline and \\\"quotes\\\".\n\
         a{path=\"C:\\\\dir\",msg=\"say \\\"hi\\\"\",multi=\"l1\\nl2\",other=\"\\t\"} 1\n",
        T,
    );
    assert_eq!(
        c.meta[0].help.as_deref(),
        Some("Help with \\ backslash, \n newline and \\\"quotes\\\"."),
        "text-format HELP only unescapes \\\\ and \\n"
    );
    let s = &c.samples[0];
    assert_eq!(
        s.labels,
        labels(&[
            ("path", "C:\\dir"),
            ("msg", "say \"hi\""),
            ("multi", "l1\nl2"),
            ("other", "\\t"),
        ])
    );
    assert_eq!(s.borrowed, [false, false, false, false]);
}

#[test]
fn kube_state_metrics_label_with_comma() {
    let c = ok(
        "kube_pod_info{pod=\"a\",args=\"--foo=1,--bar=2\",node=\"n1\"} 1\n",
        T,
    );
    assert_eq!(
        c.samples[0].labels,
        labels(&[("pod", "a"), ("args", "--foo=1,--bar=2"), ("node", "n1")])
    );
}

#[test]
fn label_value_with_closing_brace_and_escaped_quote() {
    let c = ok(
        "x{selector=\"app in (a,b)}\",q=\"a\\\"}b\",r=\"{}\"} 2 17\n",
        T,
    );
    let s = &c.samples[0];
    assert_eq!(
        s.labels,
        labels(&[("selector", "app in (a,b)}"), ("q", "a\"}b"), ("r", "{}")])
    );
    assert_eq!((s.value, s.timestamp_ms), (2.0, Some(17)));
    assert_eq!(
        s.series,
        "x{selector=\"app in (a,b)}\",q=\"a\\\"}b\",r=\"{}\"}"
    );
}

#[test]
fn metric_names_with_colons() {
    let c = ok("job:http_requests:rate5m{job=\"a\"} 0.5\n:leading 1\n", T);
    assert_eq!(c.samples[0].name, "job:http_requests:rate5m");
    assert_eq!(c.samples[1].name, ":leading");
}

#[test]
fn special_values_in_every_go_spelling() {
    let c = ok(
        "a NaN\nb +Inf\nc -Inf\nd Inf\ne +inf\nf -infinity\ng nan\nh 1e3\ni -0.5\nj .5\n",
        T,
    );
    let v: Vec<f64> = c.samples.iter().map(|s| s.value).collect();
    assert_eq!(v[0].to_bits(), NORMAL_NAN_BITS);
    assert_eq!(v[6].to_bits(), NORMAL_NAN_BITS);
    assert_eq!(
        &v[1..6],
        [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY
        ]
    );
    assert_eq!(&v[7..], [1000.0, -0.5, 0.5]);
}

#[test]
fn missing_final_newline_blank_lines_and_comments() {
    let c = ok(
        "\n# just a comment\n#comment without space\n   \n\t\na 1\n\n# HELPER is a comment too\nb{x=\"y\"} 2 123",
        T,
    );
    assert_eq!(c.samples.len(), 2);
    assert_eq!(c.samples[1].timestamp_ms, Some(123));
    let stats = parse(
        b"a 1\nb 2",
        T,
        &ParseOptions::default(),
        &mut |_: &Sample<'_>| Ok(()),
    )
    .expect("ok");
    assert_eq!((stats.samples, stats.lines), (2, 2));
}

#[test]
fn whitespace_is_lenient_like_the_go_lexer() {
    let c = ok(
        "  a{ x = \"1\" , y=\"2\" , } \t 3 \t 4 \t\n\
         b {z=\"1\"} 5\n\
         c{x=\"1\" y=\"2\"} 6\n\
         d{}7\n",
        T,
    );
    let s = &c.samples;
    assert_eq!(s[0].labels, labels(&[("x", "1"), ("y", "2")]));
    assert_eq!((s[0].value, s[0].timestamp_ms), (3.0, Some(4)));
    assert_eq!(s[0].series, "a{ x = \"1\" , y=\"2\" , }");
    assert_eq!(s[1].series, "b {z=\"1\"}");
    assert_eq!(
        s[2].labels,
        labels(&[("x", "1"), ("y", "2")]),
        "Prometheus accepts labels without comma"
    );
    assert_eq!(s[3].value, 7.0);
}

#[test]
fn empty_label_set_and_trailing_comma() {
    let c = ok("a{} 1\nb{x=\"\",} 2\n", T);
    assert!(c.samples[0].labels.is_empty());
    assert_eq!(c.samples[1].labels, labels(&[("x", "")]));
}

#[test]
fn negative_and_large_timestamps() {
    let c = ok("a 1 -1000\nb 1 9223372036854775807\n", T);
    assert_eq!(c.samples[0].timestamp_ms, Some(-1000));
    assert_eq!(c.samples[1].timestamp_ms, Some(i64::MAX));
}

#[test]
fn quoted_utf8_metric_and_label_names() {
    let c = ok(
        "# HELP \"my.metric\" dotted\n# TYPE \"my.metric\" gauge\n{\"my.metric\", \"a.b\"=\"x\", c=\"y\"} 1\n\
         {\"ünï\\\"cödé\"} 2\nplain{\"quoted.label\"=\"v\"} 3\n",
        T,
    );
    assert_eq!(c.meta[0].family, "my.metric");
    let s = &c.samples;
    assert_eq!(s[0].name, "my.metric");
    assert_eq!(s[0].labels, labels(&[("a.b", "x"), ("c", "y")]));
    assert_eq!(s[0].metric_type, MetricType::Gauge);
    assert_eq!(s[0].series, "{\"my.metric\", \"a.b\"=\"x\", c=\"y\"}");
    assert_eq!(s[1].name, "ünï\"cödé");
    assert_eq!(s[2].labels, labels(&[("quoted.label", "v")]));
}

#[test]
fn exemplar_syntax_is_an_error_in_the_text_format() {
    assert_err("a 1 # {t=\"x\"} 2\n", T, 1, 5, "timestamp");
}

#[test]
fn metadata_is_reported_once_per_family_before_its_samples() {
    let c = ok(
        "# TYPE a gauge\n# HELP a first\na 1\n# HELP b second\nb 2\n# TYPE c counter\n",
        T,
    );
    assert_eq!(c.order, "msmsm");
    assert_eq!(c.meta[0].help.as_deref(), Some("first"));
    assert_eq!(c.meta[0].kind, MetricType::Gauge);
    assert_eq!(c.meta[1].kind, MetricType::Unknown);
    assert_eq!(c.meta[2].family, "c");
    let c = ok("# HELP a\na 1\n", T);
    assert_eq!(
        c.meta[0].help.as_deref(),
        Some(""),
        "HELP without text is empty help"
    );
}

#[test]
fn text_format_tolerates_late_or_repeated_type() {
    // Prometheus' promparse does not track families; neither do we in the text format.
    let c = ok("a 1\n# TYPE a gauge\na 2\n# TYPE a gauge\n", T);
    assert_eq!(c.samples[1].metric_type, MetricType::Gauge);
}

#[test]
fn sink_error_stops_the_parse() {
    let mut n = 0;
    let mut sink = |_: &Sample<'_>| {
        n += 1;
        if n == 2 {
            Err(SinkError("sample limit exceeded".into()))
        } else {
            Ok(())
        }
    };
    let e = parse(b"a 1\nb 2\nc 3\n", T, &ParseOptions::default(), &mut sink).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::Sink);
    assert_eq!(e.line, 2);
    assert_eq!(e.to_string(), "line 2, column 1: sample limit exceeded");
    assert_eq!(n, 2);
}

#[test]
fn format_selection() {
    assert_eq!(
        Format::from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        Format::OpenMetrics
    );
    assert_eq!(Format::from_content_type("text/plain; version=0.0.4"), T);
    assert_eq!(Format::from_content_type(""), T);
    assert_eq!(detect_format(b"a 1\n# EOF\n"), Format::OpenMetrics);
    assert_eq!(detect_format(b"# EOF"), Format::OpenMetrics);
    assert_eq!(detect_format(b"a 1\n# EOF\n\n  \n"), Format::OpenMetrics);
    assert_eq!(detect_format(b"a 1\n"), T);
    assert_eq!(detect_format(b"a 1\n#  EOF\n"), T);
    assert_eq!(detect_format(b""), T);
}

// ---- errors: one test per class, position asserted ----

#[test]
fn error_display_names_line_and_column() {
    let e = err("a 1\nb{x=\"1\"} 2\nc{x=1} 3\n", T);
    assert_eq!(
        e.to_string(),
        "line 3, column 5: expected quoted label value, found '1'"
    );
    assert_eq!(e.kind, ParseErrorKind::Syntax);
}

#[test]
fn invalid_metric_names() {
    assert_errs(
        T,
        &[
            ("0abc 1\n", 1, 1, "expected metric name"),
            ("a-b 1\n", 1, 2, "whitespace after metric name"),
            ("a.b 1\n", 1, 2, "whitespace after metric name"),
            ("{\"\"} 1\n", 1, 2, "empty metric name"),
        ],
    );
}

#[test]
fn invalid_label_names() {
    assert_errs(
        T,
        &[
            ("a{1x=\"v\"} 1\n", 1, 3, "expected label name"),
            ("a{x:y=\"v\"} 1\n", 1, 4, "expected '='"),
            ("a{=\"v\"} 1\n", 1, 3, "expected label name"),
            ("a{\"\"=\"v\"} 1\n", 1, 3, "empty label name"),
            ("a{__name__=\"b\"} 1\n", 1, 3, "__name__"),
        ],
    );
}

#[test]
fn duplicate_label_names() {
    assert_errs(
        T,
        &[
            ("a{x=\"1\",x=\"2\"} 1\n", 1, 9, "duplicate label name \"x\""),
            (
                "a{y=\"1\",x=\"2\",y=\"3\"} 1\n",
                1,
                15,
                "duplicate label name \"y\"",
            ),
            (
                "a{x=\"1\",\"x\"=\"2\"} 1\n",
                1,
                9,
                "duplicate label name \"x\"",
            ),
        ],
    );
}

#[test]
fn metric_name_set_twice_or_not_at_all() {
    assert_errs(
        T,
        &[
            ("a{\"b\"} 1\n", 1, 3, "metric name already set"),
            ("{\"a\",\"b\"} 1\n", 1, 6, "metric name already set"),
            ("{x=\"ok\"} 1\n", 1, 1, "metric name not set"),
        ],
    );
}

#[test]
fn unterminated_label_block_and_values() {
    assert_errs(
        T,
        &[
            ("a{x=\"1\" 2\n", 1, 9, "expected label name"),
            ("a{x=\"1\"\n", 1, 8, "found end of line"),
            ("a{x=\"abc} 1\n", 1, 5, "unterminated label value"),
            ("a{x=\"abc\\\"} 1\n", 1, 5, "unterminated label value"),
            ("a{x=} 1\n", 1, 5, "expected quoted label value"),
            ("a{x='v'} 1\n", 1, 5, "expected quoted label value"),
        ],
    );
}

#[test]
fn missing_or_bad_value() {
    assert_errs(
        T,
        &[
            ("a\n", 1, 2, "expected value"),
            ("a{x=\"1\"}\n", 1, 9, "expected value"),
            ("a{x=\"1\"}   \n", 1, 12, "expected value"),
            ("a true\n", 1, 3, "invalid number syntax in value \"true\""),
            ("a 1_000\n", 1, 3, "unsupported character"),
            ("a 0x1p-3\n", 1, 3, "unsupported character"),
            ("a 1e400\n", 1, 3, "out of range"),
            ("a +nan\n", 1, 3, "invalid number"),
            ("a 1\r\n", 1, 3, "invalid number"),
        ],
    );
}

#[test]
fn garbage_after_timestamp() {
    assert_errs(
        T,
        &[
            ("a 1 2 3\n", 1, 7, "expected end of line after timestamp"),
            ("a 1 123abc\n", 1, 5, "timestamp"),
            ("a 1 1.5\n", 1, 5, "integer milliseconds"),
            ("a 1 99999999999999999999\n", 1, 5, "out of range"),
        ],
    );
}

#[test]
fn bad_metadata_lines() {
    assert_errs(
        T,
        &[
            (
                "# TYPE a gauge\n# TYPE b fancy\n",
                2,
                10,
                "invalid metric type \"fancy\"",
            ),
            ("# TYPE a  gauge\n", 1, 10, "invalid metric type \" gauge\""),
            ("# TYPE a info\n", 1, 10, "invalid metric type"),
            ("# TYPE a\n", 1, 9, "expected metric type"),
            ("# HELP 0a x\n", 1, 8, "expected metric name after HELP"),
            ("# TYPE a-b gauge\n", 1, 9, "expected ' ' after metric name"),
        ],
    );
}

#[test]
fn invalid_utf8_is_an_error_with_position() {
    let mut sink = |_: &Sample<'_>| Ok(());
    let e = parse(
        b"a 1\nb{x=\"\xff\"} 1\n",
        T,
        &ParseOptions::default(),
        &mut sink,
    )
    .unwrap_err();
    assert_eq!((e.line, e.column), (2, 6), "{e}");
    assert!(e.message.contains("UTF-8"));
    let e = parse(
        "a{x=\"ü\"} 1\n\u{00fc}\u{00fc}"
            .as_bytes()
            .iter()
            .copied()
            .chain([0xc3])
            .collect::<Vec<_>>()
            .as_slice(),
        T,
        &ParseOptions::default(),
        &mut sink,
    )
    .unwrap_err();
    assert_eq!((e.line, e.column), (2, 3), "columns count characters: {e}");
}

#[test]
fn line_start_garbage() {
    assert_errs(
        T,
        &[
            ("a 1\n} 2\n", 2, 1, "expected metric name, '{' or '#'"),
            ("a 1\n  = 2\n", 2, 3, "expected metric name"),
        ],
    );
}

/// The Prometheus text format has no units: `# UNIT` is a comment there, and no sample
/// carries a unit (Prometheus' `PromParser.Unit` returns nothing).
#[test]
fn text_format_has_no_units() {
    let c = ok(
        "# TYPE req_seconds_total counter\n\
         # UNIT req_seconds_total seconds\n\
         req_seconds_total 3\n",
        T,
    );
    assert_eq!(c.meta.len(), 1);
    assert_eq!(c.meta[0].unit, None);
    assert_eq!(c.samples.len(), 1);
    assert_eq!(c.samples[0].metric_type, MetricType::Counter);
    assert_eq!(c.samples[0].unit, "");
}
