//! Template behaviour as Prometheus renders rule annotations.

use super::{QuerySample, Template, TemplateData};
use crate::store::Labels;

fn no_query(_: &str) -> Result<Vec<QuerySample>, String> {
    Err("no queries in this test".into())
}

fn render_with(
    text: &str,
    value: f64,
    query: &dyn Fn(&str) -> Result<Vec<QuerySample>, String>,
) -> String {
    let labels = Labels::from_pairs([
        ("__name__", "up"),
        ("instance", "node-1.example.com:9100"),
        ("job", "node"),
    ]);
    let ext = Labels::from_pairs([("cluster", "eu-1")]);
    let data = TemplateData {
        labels: &labels,
        external_labels: &ext,
        external_url: "http://prom.example:9090/prefix",
        value,
    };
    Template::parse("__alert_Test", text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .expand(&data, query)
}

fn render(text: &str, value: f64) -> String {
    render_with(text, value, &no_query)
}

/// Renders each `(template, $value, expected)` case; a failure names the template.
fn renders(cases: &[(&str, f64, &str)]) {
    for &(text, value, want) in cases {
        assert_eq!(
            render(text, value),
            want,
            "template {text:?}, $value {value}"
        );
    }
}

#[test]
fn variables_and_fields() {
    renders(&[
        (
            "{{ $labels.instance }} down",
            0.0,
            "node-1.example.com:9100 down",
        ),
        ("{{ .Labels.job }}/{{ .Value }}", 2.5, "node/2.5"),
        ("{{ $value }}", 1234567.0, "1.234567e+06"),
        ("{{ $externalLabels.cluster }}", 0.0, "eu-1"),
        ("{{ $externalURL }}", 0.0, "http://prom.example:9090/prefix"),
        // Prometheus sets missingkey=zero: a missing label prints as nothing.
        ("[{{ $labels.nope }}]", 0.0, "[]"),
        ("no actions at all", 0.0, "no actions at all"),
    ]);
}

#[test]
fn humanize_functions_in_pipelines() {
    renders(&[
        ("{{ $value | humanize }}", 1234567.0, "1.235M"),
        ("{{ humanize1024 $value }}", 1073741824.0, "1Gi"),
        ("{{ $value | humanizePercentage }}", 0.1234, "12.34%"),
        ("{{ $value | humanizeDuration }}", 90.0, "1m 30s"),
        (
            "{{ $value | humanizeTimestamp }}",
            1.0,
            "1970-01-01 00:00:01 +0000 UTC",
        ),
        ("{{ \"1500\" | humanize }}", 0.0, "1.5k"),
    ]);
}

#[test]
fn printf_and_string_functions() {
    renders(&[
        ("{{ printf \"%.2f\" $value }}", 1.23456, "1.23"),
        ("{{ printf \"%s=%d\" \"n\" 3 }}", 0.0, "n=3"),
        (
            "{{ printf \"%5.1f|%-4s|\" $value \"ab\" }}",
            2.25,
            "  2.2|ab  |",
        ),
        ("{{ printf \"%v %q\" $value \"x\" }}", 0.5, "0.5 \"x\""),
        ("{{ printf \"%d\" $value }}", 1.5, "%!d(float64=1.5)"),
        ("{{ title \"hello world\" }}", 0.0, "Hello World"),
        ("{{ toUpper .Labels.job }}", 0.0, "NODE"),
        ("{{ toLower \"ABC\" }}", 0.0, "abc"),
        (
            "{{ reReplaceAll \"(.*):.*\" \"$1\" $labels.instance }}",
            0.0,
            "node-1.example.com",
        ),
        (
            "{{ $labels.instance | stripPort | stripDomain }}",
            0.0,
            "node-1",
        ),
        (
            "{{ if match \"^node\" $labels.job }}yes{{ end }}",
            0.0,
            "yes",
        ),
    ]);
}

#[test]
fn conditionals_and_comparisons() {
    let t = "{{ if gt $value 0.9 }}high{{ else if gt $value 0.5 }}mid{{ else }}low{{ end }}";
    renders(&[
        (t, 0.95, "high"),
        (t, 0.6, "mid"),
        (t, 0.1, "low"),
        (
            "{{ if eq $labels.job \"node\" \"x\" }}match{{ end }}",
            0.0,
            "match",
        ),
        (
            "{{ if and (ne $labels.job \"x\") (not false) }}ok{{ end }}",
            0.0,
            "ok",
        ),
        (
            "{{ if or \"\" \"b\" }}{{ or \"\" \"b\" }}{{ end }}",
            0.0,
            "b",
        ),
        (
            "{{ with $labels.job }}job={{ . }}{{ end }}",
            0.0,
            "job=node",
        ),
        (
            "{{ with $labels.nope }}x{{ else }}none{{ end }}",
            0.0,
            "none",
        ),
        (
            "{{ if le 1 2 }}{{ if ge 2.0 2.0 }}y{{ end }}{{ end }}",
            0.0,
            "y",
        ),
    ]);
}

#[test]
fn comparing_an_int_with_a_float_is_an_error_as_in_go() {
    let out = render("{{ if gt $value 1 }}x{{ end }}", 2.0);
    assert!(
        out.starts_with("<error expanding template: error executing template __alert_Test"),
        "{out}"
    );
    assert!(out.contains("incompatible types for comparison"), "{out}");
}

#[test]
fn trim_markers_comments_and_variables() {
    renders(&[
        ("a  {{- \"b\" -}}  c", 0.0, "abc"),
        ("a {{/* note */}}b", 0.0, "a b"),
        // Quotes in a comment are text (a comment with an apostrophe failed to parse).
        ("a {{/* it's \"one\" note\n on two lines */}}b", 0.0, "a b"),
        ("a {{- /* it's */ -}} b", 0.0, "ab"),
        (
            "{{ $x := \"v\" }}{{ $x }}{{ $x = \"w\" }}{{ $x }}",
            0.0,
            "vw",
        ),
        (
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
            0.0,
            "__name__=up;instance=node-1.example.com:9100;job=node;",
        ),
    ]);
}

#[test]
fn query_first_value_and_label() {
    let q = |e: &str| -> Result<Vec<QuerySample>, String> {
        assert_eq!(e, "up{job=\"node\"}");
        Ok(vec![
            QuerySample {
                labels: Labels::from_pairs([("instance", "b")]),
                value: 0.25,
                histogram: None,
            },
            QuerySample {
                labels: Labels::from_pairs([("instance", "a")]),
                value: 1.0,
                histogram: None,
            },
        ])
    };
    assert_eq!(
        render_with(
            "{{ query \"up{job=\\\"node\\\"}\" | first | value | humanizePercentage }}",
            0.0,
            &q
        ),
        "25%"
    );
    assert_eq!(
        render_with("{{ with query \"up{job=\\\"node\\\"}\" }}{{ . | first | label \"instance\" }}{{ end }}", 0.0, &q),
        "b"
    );
    assert_eq!(
        render_with("{{ range query \"up{job=\\\"node\\\"}\" | sortByLabel \"instance\" }}{{ .Labels.instance }}:{{ .Value }} {{ end }}", 0.0, &q),
        "a:1 b:0.25 "
    );
}

#[test]
fn query_errors_and_empty_results_render_as_upstream() {
    let empty = |_: &str| -> Result<Vec<QuerySample>, String> { Ok(Vec::new()) };
    let out = render_with("{{ query \"x\" | first | value }}", 0.0, &empty);
    assert!(
        out.contains("first() called on vector with no elements"),
        "{out}"
    );
    assert!(out.starts_with("<error expanding template: "), "{out}");
}

#[test]
fn parse_errors_name_the_problem() {
    for (text, want) in [
        (
            "{{ nosuchfunc $value }}",
            "function \"nosuchfunc\" not defined",
        ),
        ("{{ $undefined }}", "undefined variable \"$undefined\""),
        ("{{ if true }}x", "unexpected EOF"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ $labels.x ", "unclosed action"),
        ("{{ \"abc }}", "unterminated quoted string"),
    ] {
        let e = Template::parse("__alert_X", text)
            .expect_err(text)
            .to_string();
        assert!(e.contains(want), "{text}: {e}");
        assert!(e.starts_with("template: __alert_X:"), "{text}: {e}");
    }
}

/// `urlquery`, `graphLink`/`tableLink` escape as Go's `url.QueryEscape` (`*` escaped, `~`
/// kept, space as `+`) and `js` as Go's `JSEscapeString` (`\`, quotes, `<>&=` and control
/// characters escaped), as their Go sources define them.
#[test]
fn url_and_js_escaping_follow_go() {
    let cases = [
        (
            r#"{{ "rate(x{a=~\"b.*\"}[5m]) * 2" | urlquery }}"#,
            "rate%28x%7Ba%3D~%22b.%2A%22%7D%5B5m%5D%29+%2A+2",
        ),
        (
            r#"{{ graphLink "a * b" }}"#,
            "/graph?g0.expr=a+%2A+b&g0.tab=0",
        ),
        (
            r#"{{ tableLink "x=~\"~\"" }}"#,
            "/graph?g0.expr=x%3D~%22~%22&g0.tab=1",
        ),
        (
            r#"{{ js "<a href='x'>&\"\\" }}"#,
            r#"\u003Ca href\u003D\'x\'\u003E\u0026\"\\"#,
        ),
        (r#"{{ js "tab\there" }}"#, r#"tab\u0009here"#),
    ];
    for (text, want) in cases {
        assert_eq!(render_with(text, 0.0, &no_query), want, "{text}");
    }
}
