//! Relabel cases ported from Prometheus' `model/relabel/relabel_test.go` plus the validation
//! rules of `relabel.Config.Validate`.

use super::*;

fn rules(yaml: &str) -> Vec<RelabelConfig> {
    let raw: Vec<RawRelabelConfig> = serde_yaml_ng::from_str(yaml).expect("rules parse");
    raw.into_iter()
        .map(|r| RelabelConfig::new(r).expect("rule is valid"))
        .collect()
}

fn invalid(yaml: &str) -> RelabelConfigError {
    let raw: RawRelabelConfig = serde_yaml_ng::from_str(yaml).expect("rule parses");
    RelabelConfig::new(raw).expect_err("rule must be rejected")
}

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

const ABC: &[(&str, &str)] = &[("a", "foo"), ("b", "bar"), ("c", "baz")];

/// [`ABC`] with `d` set to `d`.
fn abc_and_d(d: &str) -> Labels {
    ls(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", d)])
}

#[test]
fn replace_with_capture_groups() {
    let r = rules(
        r#"
- source_labels: [a]
  regex: "f(.*)"
  target_label: d
  replacement: "ch${1}-ch${1}"
"#,
    );
    assert_eq!(process(&ls(ABC), &r), Some(abc_and_d("choo-choo")));
}

#[test]
fn replace_joins_source_labels_with_separator() {
    let r = rules(
        r#"
- source_labels: [a, b]
  regex: "f(.*);(.*)r"
  target_label: a
  replacement: "b${1}${2}m"
- source_labels: [c, a]
  regex: "(b).*b(.*)ba(.*)"
  target_label: d
  replacement: "$1$2$2$3"
"#,
    );
    // The second rule sees the first rule's output: "baz;boobam".
    assert_eq!(
        process(&ls(ABC), &r),
        Some(ls(&[
            ("a", "boobam"),
            ("b", "bar"),
            ("c", "baz"),
            ("d", "boooom")
        ]))
    );
}

#[test]
fn regex_is_fully_anchored() {
    let r = rules(
        r#"
- source_labels: [a]
  regex: "f"
  target_label: b
  replacement: bar
"#,
    );
    let input = ls(&[("a", "boo")]);
    assert_eq!(process(&input, &r), Some(input.clone()));
    let r = rules("- {source_labels: [a], regex: 'o+', action: drop}");
    assert_eq!(process(&ls(&[("a", "foo")]), &r), Some(ls(&[("a", "foo")])));
}

#[test]
fn dot_matches_newline() {
    let r = rules("- {source_labels: [a], regex: 'foo.*', action: keep}");
    assert!(process(&ls(&[("a", "foo\nbar")]), &r).is_some());
}

#[test]
fn drop_and_keep() {
    let drop = rules("- {source_labels: [a], regex: '.*o.*', action: drop}");
    assert_eq!(process(&ls(ABC), &drop), None);
    let keep_miss = rules("- {source_labels: [a], regex: 'no-match', action: keep}");
    assert_eq!(process(&ls(ABC), &keep_miss), None);
    let keep_hit = rules("- {source_labels: [a], regex: 'f.*', action: keep}");
    assert_eq!(process(&ls(ABC), &keep_hit), Some(ls(ABC)));
    // A missing source label is the empty string: keep `^$`-matching sets.
    let keep_empty = rules("- {source_labels: [missing], regex: '', action: keep}");
    assert_eq!(process(&ls(ABC), &keep_empty), Some(ls(ABC)));
}

#[test]
fn keep_and_drop_do_not_copy_labels() {
    let r = rules("- {source_labels: [__name__], regex: 'go_.*', action: drop}");
    let input = ls(&[("__name__", "up"), ("job", "x")]);
    assert!(matches!(process_cow(&input, &r), Some(Cow::Borrowed(_))));
}

#[test]
fn replace_missing_group_in_target_leaves_labels_unchanged() {
    let r = rules(
        r#"
- source_labels: [a]
  regex: "f(.*)"
  target_label: "${3}"
  replacement: "x"
"#,
    );
    assert_eq!(process(&ls(ABC), &r), Some(ls(ABC)));
}

#[test]
fn replace_target_label_from_capture() {
    let r = rules(
        r#"
- source_labels: [a]
  regex: "some-([^-]+)-([^,]+)"
  target_label: "${1}"
  replacement: "${2}"
"#,
    );
    assert_eq!(
        process(&ls(&[("a", "some-name-value")]), &r),
        Some(ls(&[("a", "some-name-value"), ("name", "value")]))
    );
}

#[test]
fn replace_with_empty_result_deletes_target() {
    let r = rules(
        r#"
- source_labels: [a]
  regex: "(f).*"
  target_label: b
  replacement: "$1x"
"#,
    );
    // `$1x` is the (absent) group named "1x": the replacement is empty and `b` goes away.
    assert_eq!(
        process(&ls(ABC), &r),
        Some(ls(&[("a", "foo"), ("c", "baz")]))
    );
}

#[test]
fn replace_literal_with_default_regex_sets_label() {
    let r = rules("- {target_label: env, replacement: prod}");
    assert_eq!(
        process(&ls(&[("a", "x")]), &r),
        Some(ls(&[("a", "x"), ("env", "prod")]))
    );
    // With defaults ($1 over an empty source) the target is deleted.
    let r = rules("- {target_label: a}");
    assert_eq!(
        process(&ls(&[("a", "x"), ("b", "y")]), &r),
        Some(ls(&[("b", "y")]))
    );
}

#[test]
fn hashmod_matches_prometheus() {
    // relabel_test.go: md5("baz") → last 8 bytes big-endian % 1000 = 976.
    let r = rules("- {source_labels: [c], target_label: d, action: hashmod, modulus: 1000}");
    assert_eq!(process(&ls(ABC), &r), Some(abc_and_d("976")));
    // Values checked with python3 hashlib: md5("foo") → 696, md5("") → 958 (mod 1000).
    let r = rules("- {source_labels: [a], target_label: shard, action: hashmod, modulus: 1000}");
    assert_eq!(
        process(&ls(&[("a", "foo")]), &r).unwrap().get("shard"),
        Some("696")
    );
    assert_eq!(
        process(&ls(&[("z", "1")]), &r).unwrap().get("shard"),
        Some("958")
    );
}

#[test]
fn hashmod_sharding_keeps_one_shard() {
    let r = rules(
        r#"
- {source_labels: [__address__], target_label: __tmp_hash, action: hashmod, modulus: 2}
- {source_labels: [__tmp_hash], regex: "1", action: keep}
"#,
    );
    // md5("baz") % 2 == 0 (976 is even), so "baz" is dropped by shard 1.
    assert_eq!(process(&ls(&[("__address__", "baz")]), &r), None);
}

#[test]
fn labelmap_copies_matching_names() {
    let r = rules(r#"- {action: labelmap, regex: "__meta_my_(.+)", replacement: "${1}"}"#);
    let input = ls(&[
        ("__meta_my_bar", "aaa"),
        ("__meta_my_baz", "bbb"),
        ("__meta_other", "ccc"),
    ]);
    assert_eq!(
        process(&input, &r),
        Some(ls(&[
            ("__meta_my_bar", "aaa"),
            ("__meta_my_baz", "bbb"),
            ("__meta_other", "ccc"),
            ("bar", "aaa"),
            ("baz", "bbb"),
        ]))
    );
}

#[test]
fn labelmap_default_replacement_and_overwrite() {
    let r = rules(r#"- {action: labelmap, regex: "(b.*)"}"#);
    // `b` maps to itself; nothing else matches.
    assert_eq!(process(&ls(ABC), &r), Some(ls(ABC)));
    let r = rules(r#"- {action: labelmap, regex: "(.)", replacement: "x_$1"}"#);
    assert_eq!(
        process(&ls(&[("a", "1"), ("bb", "2")]), &r),
        Some(ls(&[("a", "1"), ("bb", "2"), ("x_a", "1")]))
    );
}

#[test]
fn labeldrop_and_labelkeep() {
    let r = rules("- {action: labeldrop, regex: '(b|c)'}");
    assert_eq!(process(&ls(ABC), &r), Some(ls(&[("a", "foo")])));
    let r = rules("- {action: labelkeep, regex: '(b|c)'}");
    assert_eq!(
        process(&ls(ABC), &r),
        Some(ls(&[("b", "bar"), ("c", "baz")]))
    );
    // Anchored: `b` does not drop `bb`.
    let r = rules("- {action: labeldrop, regex: b}");
    assert_eq!(process(&ls(&[("bb", "1")]), &r), Some(ls(&[("bb", "1")])));
}

#[test]
fn lowercase_and_uppercase() {
    let r = rules(
        r#"
- {source_labels: [foo], target_label: foo_lower, action: lowercase}
- {source_labels: [foo], target_label: foo_upper, action: uppercase}
"#,
    );
    assert_eq!(
        process(&ls(&[("foo", "bAr123Foo")]), &r),
        Some(ls(&[
            ("foo", "bAr123Foo"),
            ("foo_lower", "bar123foo"),
            ("foo_upper", "BAR123FOO"),
        ]))
    );
}

#[test]
fn keepequal_and_dropequal() {
    let input = ls(&[
        ("__tmp_port", "1234"),
        ("__port1", "1234"),
        ("__port2", "5678"),
    ]);
    let keep1 = rules("- {source_labels: [__tmp_port], target_label: __port1, action: keepequal}");
    let keep2 = rules("- {source_labels: [__tmp_port], target_label: __port2, action: keepequal}");
    let drop1 = rules("- {source_labels: [__tmp_port], target_label: __port1, action: dropequal}");
    let drop2 = rules("- {source_labels: [__tmp_port], target_label: __port2, action: dropequal}");
    assert_eq!(process(&input, &keep1), Some(input.clone()));
    assert_eq!(process(&input, &keep2), None);
    assert_eq!(process(&input, &drop1), None);
    assert_eq!(process(&input, &drop2), Some(input.clone()));
}

#[test]
fn action_names_are_case_insensitive() {
    let r = rules("- {action: LabelDrop, regex: a}");
    assert_eq!(r[0].action, Action::LabelDrop);
}

#[test]
fn validation_follows_prometheus() {
    // (rule, the field the error names, its message where checked)
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "{action: hashmod, source_labels: [a], target_label: b}",
            "modulus",
            Some("relabel configuration for hashmod requires non-zero modulus"),
        ),
        (
            "{source_labels: [a]}",
            "target_label",
            Some("relabel configuration for replace action requires 'target_label' value"),
        ),
        (
            "{action: lowercase, source_labels: [a], target_label: b, replacement: x}",
            "replacement",
            None,
        ),
        (
            "{action: keepequal, source_labels: [a], target_label: b, regex: x}",
            "regex",
            Some("keepequal action requires only 'source_labels' and `target_label`, and no other fields"),
        ),
        (
            "{action: labeldrop, source_labels: [a], regex: x}",
            "source_labels",
            Some("labeldrop action requires only 'regex', and no other fields"),
        ),
        ("{action: labelkeep, regex: x, target_label: y}", "target_label", None),
        ("{action: labelmap, regex: x, replacement: ''}", "replacement", None),
    ];
    for &(rule, field, message) in cases {
        let e = invalid(rule);
        assert_eq!(e.field, field, "{rule}");
        if let Some(message) = message {
            assert_eq!(e.message, message, "{rule}");
        }
    }
    for action in ["lowercase", "uppercase", "keepequal", "dropequal"] {
        let e = invalid(&format!("{{action: {action}, source_labels: [a]}}"));
        assert_eq!(e.field, "target_label", "{action}");
    }
}

#[test]
fn legacy_name_validation_rejects_utf8_targets() {
    let raw: RawRelabelConfig =
        serde_yaml_ng::from_str("{source_labels: [a], target_label: 'foo-bar'}").unwrap();
    assert!(RelabelConfig::from_raw(raw.clone(), NameValidation::Utf8).is_ok());
    let e = RelabelConfig::from_raw(raw, NameValidation::Legacy).unwrap_err();
    assert_eq!(
        e.message,
        r#""foo-bar" is invalid 'target_label' for replace action"#
    );
    let raw: RawRelabelConfig =
        serde_yaml_ng::from_str("{source_labels: [a], target_label: 'x_${1}'}").unwrap();
    assert!(RelabelConfig::from_raw(raw, NameValidation::Legacy).is_ok());
}

#[test]
fn bad_regex_and_action_are_deserialization_errors() {
    let e = serde_yaml_ng::from_str::<RawRelabelConfig>("regex: '('").unwrap_err();
    assert!(e.to_string().contains(r#"invalid regex "(""#), "{e}");
    let e = serde_yaml_ng::from_str::<RawRelabelConfig>("action: explode").unwrap_err();
    assert!(
        e.to_string()
            .contains(r#"unknown relabel action "explode""#),
        "{e}"
    );
}
