//! Rule files read as Prometheus reads them, and errors that name the file and line.

use super::{parse_rule_file, RuleFileError, RuleKind};
use std::path::Path;
use std::time::Duration;

fn errors(yaml: &str) -> Vec<String> {
    parse_rule_file(Path::new("r.yml"), yaml)
        .expect_err("the file should be rejected")
        .iter()
        .map(RuleFileError::to_string)
        .collect()
}

#[test]
fn full_group_and_rules_load() {
    let yaml = r#"
groups:
  - name: g
    interval: 30s
    query_offset: 1m
    limit: 10
    labels:
      team: sre
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels:
          team: infra
      - alert: Down
        expr: up == 0
        for: 5m
        keep_firing_for: 10m
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} down"
"#;
    let groups = parse_rule_file(Path::new("r.yml"), yaml).expect("valid file");
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert_eq!(g.name, "g");
    assert_eq!(g.line, 3);
    assert_eq!(g.interval, Some(Duration::from_secs(30)));
    assert_eq!(g.query_offset, Some(Duration::from_secs(60)));
    assert_eq!(g.limit, 10);
    assert_eq!(g.labels.get("team"), Some("sre"));
    assert_eq!(g.rules.len(), 2);
    assert_eq!(g.rules[0].line, 10);
    assert_eq!(g.rules[1].line, 14);
    // Rule labels override group labels.
    assert_eq!(g.rules[0].labels.get("team"), Some("infra"));
    assert_eq!(g.rules[1].labels.get("team"), Some("sre"));
    match &g.rules[1].kind {
        RuleKind::Alerting {
            alert,
            for_,
            keep_firing_for,
            annotations,
        } => {
            assert_eq!(alert, "Down");
            assert_eq!(*for_, Duration::from_secs(300));
            assert_eq!(*keep_firing_for, Duration::from_secs(600));
            assert_eq!(annotations[0].0, "summary");
            assert_eq!(annotations[0].1.source(), "{{ $labels.instance }} down");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_field_is_an_error_with_its_line() {
    let e = errors(
        "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: up\n        exprs: x\n",
    );
    assert!(e[0].starts_with("r.yml: "), "{e:?}");
    assert!(e[0].contains("unknown field `exprs`"), "{e:?}");
    assert!(e[0].contains("line 6"), "{e:?}");
}

#[test]
fn repeated_group_name_is_an_error_naming_the_second_group() {
    assert_eq!(
        errors("groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n"),
        ["r.yml:4: groupname: \"g\" is repeated in the same file"]
    );
}

#[test]
fn rule_with_both_or_neither_record_and_alert() {
    assert_eq!(
        errors("groups:\n- name: g\n  rules:\n  - record: a\n    alert: b\n    expr: up\n"),
        ["r.yml:4: group \"g\", rule 1, \"a\": only one of 'record' and 'alert' must be set"]
    );
    assert_eq!(
        errors("groups:\n- name: g\n  rules:\n  - expr: up\n"),
        ["r.yml:4: group \"g\", rule 1, \"\": one of 'record' or 'alert' must be set"]
    );
}

#[test]
fn bad_promql_names_the_expr_line() {
    let e = errors("groups:\n- name: g\n  rules:\n  - record: ok\n    expr: up\n  - record: bad\n    labels: {a: b}\n    expr: sum(\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("r.yml:8: group \"g\", rule 2, \"bad\": could not parse expression: "),
        "{e:?}"
    );
}

/// Flow-style files have lines too: the error names the line of the field at fault, not 0.
#[test]
fn flow_style_errors_name_their_line() {
    let e = errors(
        "groups:\n- {name: g, rules: [{record: ok, expr: up}]}\n- name: h\n  rules: [{record: y,\n    expr: 'rate(x[5m]'}]\n- {name: '', rules: []}\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("r.yml:5: group \"h\", rule 1, \"y\": could not parse expression"),
        "{e:?}"
    );
    assert!(e[1].starts_with("r.yml:6: "), "{e:?}");
}

#[test]
fn invalid_names_are_errors() {
    let e = errors("groups:\n- name: g\n  rules:\n  - record: 'up{job=\"x\"}'\n    expr: up\n");
    assert!(
        e[0].contains("invalid recording rule name: up{job=\"x\"}"),
        "{e:?}"
    );
    assert_eq!(errors("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels:\n      __name__: x\n"), ["r.yml:6: group \"g\", rule 1, \"A\": invalid label name: __name__"]);
    let e = errors("groups:\n- name: ''\n  rules: []\n");
    assert_eq!(e, ["r.yml:2: Groupname must not be empty"]);
}

#[test]
fn recording_rule_fields_that_only_alerts_have() {
    let e = errors("groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n    for: 5m\n    annotations:\n      a: b\n");
    assert!(
        e.iter()
            .any(|m| m
                == "r.yml:6: group \"g\", rule 1, \"r\": invalid field 'for' in recording rule"),
        "{e:?}"
    );
    assert!(e.iter().any(|m| m == "r.yml:7: group \"g\", rule 1, \"r\": invalid field 'annotations' in recording rule"), "{e:?}");
}

#[test]
fn bad_template_is_a_load_error_with_file_and_line() {
    let e = errors("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations:\n      summary: '{{ $labels.x | nosuch }}'\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("r.yml:6: group \"g\", rule 1, \"A\": annotation \"summary\": template: __alert_A:1: function \"nosuch\" not defined"), "{e:?}");
}

#[test]
fn upstream_conformance_rules_file_loads() {
    let groups = super::load_rule_file(Path::new("tests/conformance/promtool/rules.yml"))
        .expect("upstream rules.yml");
    let counts: Vec<(String, usize)> = groups
        .iter()
        .map(|g| (g.name.clone(), g.rules.len()))
        .collect();
    assert_eq!(
        counts,
        [("alerts".to_string(), 2), ("rules".to_string(), 3)]
    );
}

#[test]
fn check_report_prints_like_promtool() {
    let mut out = Vec::new();
    let ok = super::write_check_report(&["tests/fixtures/promtool_rules_example.yml"], &mut out)
        .expect("written");
    assert!(ok);
    assert_eq!(
        String::from_utf8(out).expect("utf8"),
        "Checking tests/fixtures/promtool_rules_example.yml\n  SUCCESS: 3 rules found\n\n"
    );
}

#[test]
fn globs_in_the_file_name_expand_sorted() {
    let dir = crate::testdir::TempDir::new("rules-glob");
    for (n, g) in [
        ("b.rules.yml", "gb"),
        ("a.rules.yml", "ga"),
        ("skip.txt", "x"),
    ] {
        std::fs::write(dir.join(n), format!("groups:\n- name: {g}\n  rules: []\n")).expect("write");
    }
    let groups = super::load_rule_files(&[dir.join("*.rules.yml")]).expect("loaded");
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["ga", "gb"]);
}

/// A rule built in code with a bad expression or a bad annotation template fails with the
/// field named, and keeps the parser's error as its cause (it was flattened to text).
#[test]
fn rules_built_in_code_keep_the_parse_error_as_source() {
    use super::Rule;
    use crate::store::Labels;
    let e = Rule::recording("r", "sum(", Labels::empty()).expect_err("bad expression");
    assert!(
        e.to_string().starts_with("could not parse expression: "),
        "{e}"
    );
    let source = std::error::Error::source(&e).expect("the parse error is kept");
    assert!(
        source.downcast_ref::<crate::promql::QueryError>().is_some(),
        "{source:?}"
    );
    let e = Rule::alerting(
        "A",
        "up == 0",
        Duration::ZERO,
        Duration::ZERO,
        Labels::empty(),
        Labels::from_pairs([("summary", "{{ $labels.x ")]),
    )
    .expect_err("bad annotation template");
    assert!(e.to_string().starts_with("annotation \"summary\": "), "{e}");
    let source = std::error::Error::source(&e).expect("the template error is kept");
    assert!(
        source
            .downcast_ref::<crate::gotemplate::TemplateError>()
            .is_some(),
        "{source:?}"
    );
}
