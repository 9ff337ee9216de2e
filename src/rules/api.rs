//! The JSON of Prometheus' `GET /api/v1/rules` and `GET /api/v1/alerts`, built from the
//! rules runtime's [`GroupSnapshot`]s.
//!
//! [`RulesQuery::from_pairs`] parses the query parameters Prometheus 3.x accepts (`type`,
//! `rule_name[]`, `rule_group[]`, `file[]`, `match[]`, `exclude_alerts`, and the paging
//! pair `group_limit`/`group_next_token`: at most `group_limit` groups per answer, and a
//! `groupNextToken`, upstream's hex SHA-1 of `file;group` of the first group left out,
//! naming where the next page starts); [`rules_json`] and
//! [`alerts_json`] return the `data` member of the response, shaped field for field as
//! upstream's `web/api/v1` (times RFC 3339, durations in seconds, alert values as Go's
//! `FormatFloat(v, 'e', -1, 64)` strings). The HTTP layer wraps them in
//! `{"status":"success","data":…}`. [`RuleGroupCollector`] puts the groups' [`GroupStats`]
//! on `/metrics` as `redline_rule_group_*`.

use super::alerting::{Alert, AlertState};
use super::file::{Rule, RuleKind};
use super::group::RuleHealth;
use super::manager::{GroupSnapshot, GroupStats, RuleManagerHandle};
use crate::store::{Labels, Matcher};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;
use serde_json::{json, Map, Value};
use std::time::{Duration, UNIX_EPOCH};

/// Which rules `type=` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleTypeFilter {
    Alert,
    Record,
}

/// The filters of `GET /api/v1/rules`.
#[derive(Clone, Debug, Default)]
pub struct RulesQuery {
    pub kind: Option<RuleTypeFilter>,
    pub rule_names: Vec<String>,
    pub rule_groups: Vec<String>,
    pub files: Vec<String>,
    /// Each `match[]` selector's matcher groups; a rule passes when any group matches its labels.
    pub matchers: Vec<Vec<Matcher>>,
    pub exclude_alerts: bool,
    /// `group_limit`: at most this many groups per answer.
    pub group_limit: Option<u32>,
    /// `group_next_token`: the `groupNextToken` of the previous page (empty: the first).
    pub group_next_token: String,
}

/// A bad query parameter: the API answers 400 `bad_data` with this message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid parameter {param:?}: {message}")]
pub struct RulesParamError {
    pub param: &'static str,
    pub message: String,
}

impl RulesQuery {
    /// Parses the query string's (or form's) name/value pairs.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: &[(K, V)],
    ) -> Result<RulesQuery, RulesParamError> {
        let mut q = RulesQuery::default();
        // As Go's `URL.Query().Get`: the first value of each.
        let first = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.as_ref() == name)
                .map(|(_, v)| v.as_ref())
                .unwrap_or("")
        };
        let (limit, token) = (first("group_limit"), first("group_next_token"));
        if !token.is_empty() && limit.is_empty() {
            return Err(RulesParamError {
                param: "group_next_token",
                message: "group_limit needs to be present in order to paginate over the groups"
                    .into(),
            });
        }
        if !limit.is_empty() {
            let n = parse_go_int32(limit).ok_or_else(|| RulesParamError {
                param: "group_limit",
                message: format!(
                    "group_limit needs to be a valid number: strconv.ParseInt: parsing {limit:?}: invalid syntax"
                ),
            })?;
            if n <= 0 {
                return Err(RulesParamError {
                    param: "group_limit",
                    message: "group_limit needs to be greater than 0".into(),
                });
            }
            q.group_limit = Some(n as u32);
            q.group_next_token = token.to_string();
        }
        for (k, v) in pairs {
            let v = v.as_ref();
            match k.as_ref() {
                "type" => {
                    q.kind = match v.to_ascii_lowercase().as_str() {
                        "" => None,
                        "alert" => Some(RuleTypeFilter::Alert),
                        "record" => Some(RuleTypeFilter::Record),
                        _ => {
                            return Err(RulesParamError {
                                param: "type",
                                message: format!("not supported value {v:?}"),
                            })
                        }
                    }
                }
                "rule_name[]" => q.rule_names.push(v.to_string()),
                "rule_group[]" => q.rule_groups.push(v.to_string()),
                "file[]" => q.files.push(v.to_string()),
                "match[]" => {
                    let groups = crate::promql::parse_selector(v).map_err(|e| RulesParamError {
                        param: "match[]",
                        message: e.to_string(),
                    })?;
                    q.matchers.extend(groups);
                }
                "exclude_alerts" => {
                    q.exclude_alerts = parse_go_bool(v).ok_or_else(|| RulesParamError {
                        param: "exclude_alerts",
                        message: format!("strconv.ParseBool: parsing {v:?}: invalid syntax"),
                    })?
                }
                _ => {}
            }
        }
        Ok(q)
    }
}

/// Go's `strconv.ParseInt(s, 10, 32)` for the values it accepts (an optional sign and
/// decimal digits within `i32`); out-of-range values are refused as well.
fn parse_go_int32(s: &str) -> Option<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Upstream's `getRuleGroupNextToken`: the hex SHA-1 of `file;group`.
fn group_token(file: &str, group: &str) -> String {
    sha1_hex(format!("{file};{group}").as_bytes())
}

/// SHA-1 (FIPS 180-4) of `data` as 40 hex digits; only used for the opaque page tokens
/// Prometheus hands out, so no cryptographic strength is relied on.
fn sha1_hex(data: &[u8]) -> String {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

/// Go's `strconv.ParseBool`; the empty string is false (upstream treats a missing value so).
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        _ => None,
    }
}

/// The `data` of `GET /api/v1/rules`: `{"groups": [...]}`. Groups left without rules by the
/// filters are omitted, as upstream does. With `group_limit`, as upstream: the groups from
/// the one `group_next_token` names (an error when no group has that token: the groups
/// changed), at most `group_limit` of them, and `groupNextToken` naming the next group that
/// would have been listed, when there is one.
pub fn rules_json(groups: &[GroupSnapshot], q: &RulesQuery) -> Result<Value, RulesParamError> {
    let mut out = Vec::new();
    let mut next_token = None;
    let mut found_token = false;
    for g in groups {
        let file = g.group.file.display().to_string();
        if q.group_limit.is_some() && !q.group_next_token.is_empty() && !found_token {
            if group_token(&file, &g.group.name) != q.group_next_token {
                continue;
            }
            found_token = true;
        }
        if !q.rule_groups.is_empty() && !q.rule_groups.contains(&g.group.name) {
            continue;
        }
        if !q.files.is_empty() && !q.files.contains(&file) {
            continue;
        }
        let mut rules = Vec::new();
        for h in &g.rules {
            let Some(rule) = g.group.rules.get(h.index) else {
                continue;
            };
            if !q.rule_names.is_empty() && !q.rule_names.iter().any(|n| n == rule.name()) {
                continue;
            }
            if !q.matchers.is_empty() && !matches_any(&q.matchers, &rule.labels) {
                continue;
            }
            match (q.kind, rule.is_alerting()) {
                (Some(RuleTypeFilter::Alert), false) | (Some(RuleTypeFilter::Record), true) => {
                    continue
                }
                _ => {}
            }
            rules.push(rule_json(rule, h, g, q.exclude_alerts));
        }
        if rules.is_empty() {
            continue;
        }
        if q.group_limit.is_some_and(|n| out.len() == n as usize) {
            next_token = Some(group_token(&file, &g.group.name));
            break;
        }
        out.push(json!({
            "name": g.group.name,
            "file": file,
            "rules": rules,
            "interval": g.interval.as_secs_f64(),
            "limit": g.group.limit,
            "evaluationTime": g.stats.last_duration.as_secs_f64(),
            "lastEvaluation": time_ms(g.stats.last_evaluation_ms),
        }));
    }
    if q.group_limit.is_some() && !q.group_next_token.is_empty() && !found_token {
        return Err(RulesParamError {
            param: "group_next_token",
            message: format!(
                "invalid group_next_token '{}'. were rule groups changed?",
                q.group_next_token
            ),
        });
    }
    let mut data = json!({ "groups": out });
    if let (Some(t), Some(m)) = (next_token, data.as_object_mut()) {
        m.insert("groupNextToken".into(), Value::String(t));
    }
    Ok(data)
}

/// The `data` of `GET /api/v1/alerts`: every pending and firing alert of every group.
pub fn alerts_json(groups: &[GroupSnapshot]) -> Value {
    let alerts: Vec<Value> = groups
        .iter()
        .flat_map(|g| g.alerts.iter().map(|(_, a)| alert_json(a)))
        .collect();
    json!({ "alerts": alerts })
}

fn matches_any(sets: &[Vec<Matcher>], labels: &Labels) -> bool {
    sets.iter().any(|set| {
        set.iter()
            .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
    })
}

fn rule_json(rule: &Rule, h: &RuleHealth, g: &GroupSnapshot, exclude_alerts: bool) -> Value {
    let mut o = Map::new();
    match &rule.kind {
        RuleKind::Alerting {
            alert,
            for_,
            keep_firing_for,
            annotations,
        } => {
            let mine: Vec<&Alert> = g
                .alerts
                .iter()
                .filter(|(name, _)| name == alert)
                .map(|(_, a)| a)
                .collect();
            let state = mine
                .iter()
                .map(|a| a.state)
                .max()
                .unwrap_or(AlertState::Inactive);
            o.insert("state".into(), json!(state.as_str()));
            o.insert("name".into(), json!(alert));
            o.insert("query".into(), json!(rule.expr));
            o.insert("duration".into(), json!(secs(*for_)));
            o.insert("keepFiringFor".into(), json!(secs(*keep_firing_for)));
            o.insert("labels".into(), labels_json(&rule.labels));
            let anns: Map<String, Value> = annotations
                .iter()
                .map(|(k, t)| (k.clone(), json!(t.source())))
                .collect();
            o.insert("annotations".into(), Value::Object(anns));
            let alerts: Vec<Value> = if exclude_alerts {
                Vec::new()
            } else {
                mine.into_iter().map(alert_json).collect()
            };
            o.insert("alerts".into(), Value::Array(alerts));
        }
        RuleKind::Recording { record } => {
            o.insert("name".into(), json!(record));
            o.insert("query".into(), json!(rule.expr));
            if !rule.labels.is_empty() {
                o.insert("labels".into(), labels_json(&rule.labels));
            }
        }
    }
    o.insert("health".into(), json!(h.health.as_str()));
    if let Some(e) = &h.last_error {
        o.insert("lastError".into(), json!(e));
    }
    o.insert(
        "evaluationTime".into(),
        json!(h.evaluation_time.as_secs_f64()),
    );
    o.insert(
        "lastEvaluation".into(),
        json!(time_ms(h.last_evaluation_ms)),
    );
    o.insert("type".into(), json!(h.kind));
    Value::Object(o)
}

/// One alert as upstream's API `Alert` type.
pub fn alert_json(a: &Alert) -> Value {
    let mut o = Map::new();
    o.insert("labels".into(), labels_json(&a.labels));
    o.insert("annotations".into(), labels_json(&a.annotations));
    o.insert("state".into(), json!(a.state.as_str()));
    o.insert("activeAt".into(), json!(time_ms(Some(a.active_at_ms))));
    if let Some(k) = a.keep_firing_since_ms {
        o.insert("keepFiringSince".into(), json!(time_ms(Some(k))));
    }
    o.insert("value".into(), json!(format_value(a.value)));
    Value::Object(o)
}

fn labels_json(l: &Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|l| (l.name.to_string(), json!(&*l.value)))
            .collect(),
    )
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// RFC 3339 for a time in ms since the epoch; Go's zero time when there is none.
fn time_ms(ms: Option<i64>) -> String {
    match ms {
        Some(ms) if ms >= 0 => {
            crate::timefmt::rfc3339_nanos(UNIX_EPOCH + Duration::from_millis(ms as u64))
        }
        _ => "0001-01-01T00:00:00Z".to_string(),
    }
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: `1e+00`, `1.2345e+02`, `5e-07`, `NaN`, `+Inf`.
pub fn format_value(v: f64) -> String {
    crate::gostrconv::format_e(v, None, false)
}

/// The rules runtime's figures for `/metrics`, read from the groups' latest snapshots at every
/// scrape. Register it on a registry prefixed `redline`; each series carries
/// `rule_group="FILE;NAME"` as upstream's `prometheus_rule_group_*` do.
#[derive(Debug)]
pub struct RuleGroupCollector(pub RuleManagerHandle);

type GroupLabel = [(&'static str, String); 1];

fn group_label(g: &GroupSnapshot) -> GroupLabel {
    [(
        "rule_group",
        format!("{};{}", g.group.file.display(), g.group.name),
    )]
}

fn per_group<M: EncodeMetric>(
    e: &mut DescriptorEncoder,
    groups: &[(GroupLabel, &GroupStats)],
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    metric: impl Fn(&GroupStats) -> M,
) -> std::fmt::Result {
    if groups.is_empty() {
        return Ok(());
    }
    let first = metric(groups[0].1);
    let mut family = e.encode_descriptor(name, help, unit, first.metric_type())?;
    for (labels, stats) in groups {
        metric(stats).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

impl Collector for RuleGroupCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let snaps = self.0.groups_snapshot();
        let groups: Vec<(GroupLabel, &GroupStats)> =
            snaps.iter().map(|g| (group_label(g), &g.stats)).collect();
        let secs = Some(&Unit::Seconds);
        let e = &mut e;
        per_group(
            e,
            &groups,
            "rule_group_interval",
            "The group's evaluation interval",
            secs,
            |s| ConstGauge::new(s.interval.as_secs_f64()),
        )?;
        per_group(
            e,
            &groups,
            "rule_group_rules",
            "Rules in the group",
            None,
            |s| ConstGauge::new(s.rules as i64),
        )?;
        per_group(
            e,
            &groups,
            "rule_group_iterations",
            "Evaluations of the group",
            None,
            |s| ConstCounter::new(s.evaluations_total),
        )?;
        per_group(
            e,
            &groups,
            "rule_group_iterations_missed",
            "Scheduled evaluations skipped because an evaluation overran the interval",
            None,
            |s| ConstCounter::new(s.iterations_missed_total),
        )?;
        per_group(
            e,
            &groups,
            "rule_group_evaluation_duration",
            "Time spent evaluating the group, summed over evaluations",
            secs,
            |s| ConstCounter::new(s.duration_seconds_sum),
        )?;
        per_group(
            e,
            &groups,
            "rule_group_last_duration",
            "Duration of the group's last evaluation",
            secs,
            |s| ConstGauge::new(s.last_duration.as_secs_f64()),
        )?;
        per_group(
            e,
            &groups,
            "rule_group_last_evaluation_timestamp",
            "Timestamp of the group's last evaluation (0 before the first)",
            secs,
            |s| ConstGauge::new(s.last_evaluation_ms.unwrap_or(0) as f64 / 1000.0),
        )?;
        per_group(
            e,
            &groups,
            "rule_group_rule_failures",
            "Rule evaluations of the group that failed",
            None,
            |s| ConstCounter::new(s.rule_failures_total),
        )?;
        per_group(
            e,
            &groups,
            "rule_group_persist_failures",
            "Writes of the group's alert state to the state database that failed",
            None,
            |s| ConstCounter::new(s.persist_failures_total),
        )?;
        per_group(
            e,
            &groups,
            "rule_group_notifications_dropped",
            "Alert batches dropped because the notifier's queue was full",
            None,
            |s| ConstCounter::new(s.notifications_dropped_total),
        )?;
        let status = self.0.reload_status();
        let ok = ConstGauge::new(i64::from(status.last_failure.is_none()));
        let m = e.encode_descriptor(
            "rules_last_reload_successful",
            "Whether the last load of the rule files succeeded",
            None,
            ok.metric_type(),
        )?;
        ok.encode(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_format_as_go_e_format() {
        assert_eq!(format_value(1.0), "1e+00");
        assert_eq!(format_value(0.0), "0e+00");
        assert_eq!(format_value(123.45), "1.2345e+02");
        assert_eq!(format_value(-0.5), "-5e-01");
        assert_eq!(format_value(1.5e-7), "1.5e-07");
        assert_eq!(format_value(2e100), "2e+100");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn query_parameters_parse_and_bad_type_is_rejected() {
        let q = RulesQuery::from_pairs(&[
            ("type", "ALERT"),
            ("rule_name[]", "HighLoad"),
            ("exclude_alerts", "true"),
            ("match[]", r#"{severity="page"}"#),
        ])
        .unwrap();
        assert_eq!(q.kind, Some(RuleTypeFilter::Alert));
        assert_eq!(q.rule_names, vec!["HighLoad"]);
        assert!(q.exclude_alerts);
        assert_eq!(q.matchers.len(), 1);
        let err = RulesQuery::from_pairs(&[("type", "both")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid parameter "type": not supported value "both""#
        );
        assert!(RulesQuery::from_pairs(&[("exclude_alerts", "yes")]).is_err());
    }

    // Expected digests from coreutils' `sha1sum` (FIPS 180-4 vectors "abc" and the empty
    // input, and a two-block input).
    #[test]
    fn sha1_matches_sha1sum() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            sha1_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            group_token("rules/a.yml", "api"),
            "6e1d27e702f425acf4c9fef805d1248893b023bb"
        );
    }

    #[test]
    fn zero_time_is_gos() {
        assert_eq!(time_ms(None), "0001-01-01T00:00:00Z");
        assert_eq!(time_ms(Some(1_500)), "1970-01-01T00:00:01.5Z");
    }
}
