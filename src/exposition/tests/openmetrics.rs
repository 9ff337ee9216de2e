//! OpenMetrics 1.0 text: features, strictness and every error class.

use super::support::{assert_errs, labels, ok, parse_with, OwnedMeta};
use crate::exposition::{Format, MetricType, ParseOptions};

const OM: Format = Format::OpenMetrics;

const SPEC_EXAMPLE: &str = "# TYPE acme_http_router_request_seconds summary\n\
# UNIT acme_http_router_request_seconds seconds\n\
# HELP acme_http_router_request_seconds Latency though all of ACME's global HTTP routers.\n\
acme_http_router_request_seconds_sum{path=\"/api/v1\",method=\"GET\"} 9036.32\n\
acme_http_router_request_seconds_count{path=\"/api/v1\",method=\"GET\"} 807283.0\n\
acme_http_router_request_seconds_created{path=\"/api/v1\",method=\"GET\"} 1605281325.0\n\
# TYPE go_goroutines gauge\n\
go_goroutines 69 1605281325.123\n\
# TYPE foo histogram\n\
foo_bucket{le=\"0.01\"} 0 # {trace_id=\"KOO5S4vxi0o\"} 0.004 1605281325.5\n\
foo_bucket{le=\"+Inf\"} 17 # {} 9.5\n\
foo_count 17\n\
foo_sum 324789.3\n\
foo_created 1520430000.123\n\
# TYPE build info\n\
build_info{version=\"1.0\"} 1\n\
# TYPE state stateset\n\
state{state=\"a\"} 1\n\
# TYPE gh gaugehistogram\n\
gh_bucket{le=\"+Inf\"} 1\n\
gh_gcount 1\n\
gh_gsum 2\n\
# TYPE u unknown\n\
u 1\n\
# EOF\n";

#[test]
fn spec_example_parses_with_types_units_and_created() {
    let c = ok(SPEC_EXAMPLE, OM);
    assert_eq!(c.samples.len(), 15);
    assert_eq!(
        c.meta[0],
        OwnedMeta {
            family: "acme_http_router_request_seconds".into(),
            kind: MetricType::Summary,
            help: Some("Latency though all of ACME's global HTTP routers.".into()),
            unit: Some("seconds".into()),
        }
    );
    let created = &c.samples[2];
    assert_eq!(created.name, "acme_http_router_request_seconds_created");
    assert_eq!(created.value, 1_605_281_325.0);
    assert_eq!(created.metric_type, MetricType::Summary);
    assert_eq!(c.samples[3].timestamp_ms, Some(1_605_281_325_123));
    use MetricType::*;
    let types: Vec<_> = c.samples.iter().map(|s| s.metric_type).collect();
    assert_eq!(
        types,
        [
            Summary,
            Summary,
            Summary,
            Gauge,
            Histogram,
            Histogram,
            Histogram,
            Histogram,
            Histogram,
            Info,
            StateSet,
            GaugeHistogram,
            GaugeHistogram,
            GaugeHistogram,
            Unknown
        ]
    );
}

#[test]
fn exemplars_are_dropped_unless_asked_for() {
    let c = ok(SPEC_EXAMPLE, OM);
    assert!(c.samples.iter().all(|s| s.exemplar.is_none()));
    let c = parse_with(
        SPEC_EXAMPLE,
        OM,
        &ParseOptions {
            keep_exemplars: true,
            ..ParseOptions::default()
        },
    )
    .expect("parses");
    let bucket = &c.samples[4];
    assert_eq!(
        bucket.exemplar,
        Some((
            labels(&[("trace_id", "KOO5S4vxi0o")]),
            0.004,
            Some(1_605_281_325_500)
        ))
    );
    assert_eq!(bucket.value, 0.0);
    assert_eq!(c.samples[5].exemplar, Some((vec![], 9.5, None)));
}

#[test]
fn exemplar_after_timestamp() {
    let c = parse_with(
        "a_total 1 1700000000 # {id=\"x\\\"y\"} 2 1700000000.001\n# EOF",
        OM,
        &ParseOptions {
            keep_exemplars: true,
            ..ParseOptions::default()
        },
    )
    .expect("parses");
    let s = &c.samples[0];
    assert_eq!(s.timestamp_ms, Some(1_700_000_000_000));
    assert_eq!(
        s.exemplar,
        Some((labels(&[("id", "x\"y")]), 2.0, Some(1_700_000_000_001)))
    );
}

#[test]
fn help_unescapes_quotes_in_openmetrics() {
    let c = ok("# HELP a say \\\"hi\\\" \\\\ \\n\na 1\n# EOF\n", OM);
    assert_eq!(c.meta[0].help.as_deref(), Some("say \"hi\" \\ \n"));
}

#[test]
fn eof_without_final_newline_and_empty_body() {
    assert_eq!(ok("a 1\n# EOF", OM).samples.len(), 1);
    assert_eq!(ok("# EOF\n", OM).samples.len(), 0);
}

#[test]
fn quoted_names_in_openmetrics() {
    let c = ok(
        "# TYPE \"a.b\" gauge\n{\"a.b\",\"c.d\"=\"1\"} 2\n# EOF\n",
        OM,
    );
    assert_eq!(c.samples[0].name, "a.b");
    assert_eq!(c.samples[0].labels, labels(&[("c.d", "1")]));
    assert_eq!(c.samples[0].metric_type, MetricType::Gauge);
}

#[test]
fn missing_eof() {
    assert_errs(
        OM,
        &[
            ("a 1\n", 2, 1, "data does not end with # EOF"),
            ("a 1", 1, 4, "data does not end with # EOF"),
            ("", 1, 1, "data does not end with # EOF"),
            ("# TYPE a gauge\n", 2, 1, "data does not end with # EOF"),
        ],
    );
}

#[test]
fn data_after_eof() {
    assert_errs(
        OM,
        &[
            ("a 1\n# EOF\nb 2\n", 3, 1, "unexpected data after # EOF"),
            ("# EOF\n\n", 2, 1, "unexpected data after # EOF"),
            ("# EOF \n", 1, 1, "expected '# HELP '"),
        ],
    );
}

#[test]
fn metadata_after_samples_of_the_family() {
    assert_errs(
        OM,
        &[
            (
                "# TYPE a gauge\na 1\n# TYPE a gauge\n# EOF\n",
                3,
                3,
                "TYPE for \"a\" after its samples",
            ),
            (
                "a 1\n# HELP a late\n# EOF\n",
                2,
                3,
                "HELP for \"a\" after its samples",
            ),
        ],
    );
}

#[test]
fn repeated_and_interleaved_metadata() {
    assert_errs(
        OM,
        &[
            (
                "# TYPE a gauge\n# TYPE a counter\n# EOF\n",
                2,
                3,
                "second TYPE for \"a\"",
            ),
            (
                "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# HELP a again\n# EOF\n",
                5,
                3,
                "must be together",
            ),
        ],
    );
}

#[test]
fn strict_whitespace_and_no_free_comments() {
    assert_errs(
        OM,
        &[
            ("a  1\n# EOF\n", 1, 3, "expected value"),
            ("a 1 \n# EOF\n", 1, 5, "expected timestamp"),
            ("a\t1\n# EOF\n", 1, 2, "expected ' ' and value"),
            (
                "a{x=\"1\", y=\"2\"} 1\n# EOF\n",
                1,
                9,
                "expected label name",
            ),
            ("a{x=\"1\" y=\"2\"} 1\n# EOF\n", 1, 8, "expected ',' or '}'"),
            ("# free comment\n# EOF\n", 1, 1, "no free comments"),
            ("\n# EOF\n", 1, 1, "blank line"),
            (" a 1\n# EOF\n", 1, 1, "expected metric name"),
            (
                "# HELP a\n# EOF\n",
                1,
                9,
                "expected ' ' after metric name in HELP",
            ),
        ],
    );
}

#[test]
fn openmetrics_types_are_exact() {
    assert_errs(
        OM,
        &[
            (
                "# TYPE a Gauge\n# EOF\n",
                1,
                10,
                "invalid metric type \"Gauge\"",
            ),
            ("# TYPE a untyped\n# EOF\n", 1, 10, "invalid metric type"),
        ],
    );
}

#[test]
fn unit_must_be_a_suffix() {
    assert_errs(
        OM,
        &[
            ("# UNIT a_bytes seconds\n# EOF\n", 1, 16, "not a suffix"),
            ("# UNIT abytes bytes\n# EOF\n", 1, 15, "not a suffix"),
        ],
    );
    let c = ok("# UNIT a_bytes bytes\n# UNIT b \n# EOF\n", OM);
    assert_eq!(c.meta[0].unit.as_deref(), Some("bytes"));
    assert_eq!(c.meta[1].unit.as_deref(), Some(""));
}

#[test]
fn float_timestamps_and_bad_timestamps() {
    let c = ok("a 1 1.5\nb 1 -1\n# EOF\n", OM);
    assert_eq!(c.samples[0].timestamp_ms, Some(1500));
    assert_eq!(c.samples[1].timestamp_ms, Some(-1000));
    assert_errs(
        OM,
        &[
            ("a 1 NaN\n# EOF\n", 1, 5, "timestamp"),
            ("a 1 +Inf\n# EOF\n", 1, 5, "timestamp"),
            ("a 1 x\n# EOF\n", 1, 5, "timestamp"),
            ("a 1 2 3\n# EOF\n", 1, 6, "exemplar"),
        ],
    );
}

#[test]
fn bad_exemplars() {
    assert_errs(
        OM,
        &[
            ("a 1 # {x=\"1\"}\n# EOF\n", 1, 14, "exemplar value"),
            ("a 1 # {x=\"1\"} y\n# EOF\n", 1, 15, "exemplar value"),
            (
                "a 1 # {\"q\"} 1\n# EOF\n",
                1,
                11,
                "expected '=' after exemplar label name",
            ),
            (
                "a 1 # {x=\"1\",x=\"2\"} 1\n# EOF\n",
                1,
                14,
                "duplicate label name",
            ),
            (
                "a 1 # {x=\"1\"} 1 2 3\n# EOF\n",
                1,
                18,
                "after exemplar timestamp",
            ),
            (
                "a 1 # {x=\"1\"} 1 NaN\n# EOF\n",
                1,
                17,
                "exemplar timestamp",
            ),
            ("a 1 # x\n# EOF\n", 1, 5, "timestamp"),
        ],
    );
}

#[test]
fn counter_family_owns_total_and_created() {
    let c = ok(
        "# TYPE requests counter\nrequests_total 5\nrequests_created 1700000000\nrequests_other 1\n# EOF\n",
        OM,
    );
    let types: Vec<_> = c.samples.iter().map(|s| s.metric_type).collect();
    assert_eq!(
        types,
        [
            MetricType::Counter,
            MetricType::Counter,
            MetricType::Unknown
        ]
    );
}

/// Every sample carries the unit of the family it belongs to (what the type-and-unit
/// feature labels it with): the spec example's summary is in seconds, every other family of
/// it has no `# UNIT`. A sample of no declared family, right after a family with a unit,
/// has none.
#[test]
fn samples_carry_their_familys_unit() {
    let c = ok(SPEC_EXAMPLE, OM);
    let units: Vec<&str> = c.samples.iter().map(|s| s.unit.as_str()).collect();
    let mut want = vec!["seconds"; 3];
    want.extend([""; 12]);
    assert_eq!(units, want);

    let c = ok(
        "# TYPE rpc_bytes histogram\n\
         # UNIT rpc_bytes bytes\n\
         rpc_bytes_bucket{le=\"+Inf\"} 2\n\
         rpc_bytes_count 2\n\
         rpc_bytes_sum 10\n\
         other 1\n\
         # TYPE up_seconds gauge\n\
         # UNIT up_seconds seconds\n\
         up_seconds 3\n\
         # EOF\n",
        OM,
    );
    let got: Vec<(&str, MetricType, &str)> = c
        .samples
        .iter()
        .map(|s| (s.name.as_str(), s.metric_type, s.unit.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("rpc_bytes_bucket", MetricType::Histogram, "bytes"),
            ("rpc_bytes_count", MetricType::Histogram, "bytes"),
            ("rpc_bytes_sum", MetricType::Histogram, "bytes"),
            ("other", MetricType::Unknown, ""),
            ("up_seconds", MetricType::Gauge, "seconds"),
        ]
    );
}
