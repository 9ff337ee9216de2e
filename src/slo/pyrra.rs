//! Pyrra's `ServiceLevelObjective` resource (`apiVersion: pyrra.dev/v1alpha1`), read unchanged,
//! alone, as several YAML documents or inside a Kubernetes `List` /
//! `ServiceLevelObjectiveList`.
//!
//! Mapping (Pyrra field → redline): `metadata.name` is the SLO name; the service is
//! `metadata.namespace` (`default` when unset, as Kubernetes does); the owner is the `owner`
//! label, else the `team` label, else the service; `metadata.labels` go on every series and
//! alert (a `pyrra.dev/` prefix is removed, as Pyrra propagates those). `spec.target` ("99.9")
//! is the objective, `spec.window` (`4w`) a rolling window. Indicators:
//! - `ratio`: `sum(rate(errors[w])) / sum(rate(total[w]))`;
//! - `latency`: good events `sum(rate(success[w]))` (the `_bucket` selector with its `le`)
//!   against `sum(rate(total[w]))`;
//! - `latencyNative`: redline's native-histogram latency SLI at `latency` (a duration);
//! - `bool_gauge` (also spelt `boolGauge`): a 0/1 gauge, each sample one time slice.
//!
//! `alerting.disabled: true` or `alerting.burnrates: false` disable both burn-rate tiers;
//! `alerting.name` names both tiers (Pyrra names all its burn-rate alerts alike) and
//! `alerting.absentName` the absent alert. The burn-rate windows and factors are redline's
//! (the SRE workbook's, scaled to the window). Not expressible, so rejected with the field
//! path: `grouping` (one SLO per group), `alerting.absent: false`.
//! `partial_response_strategy` only concerns Thanos Ruler and is accepted and ignored.

use super::spec::{
    build_alerting, check_duration, check_ident, check_native_threshold, check_window_query,
    is_metric_name, AlertingInput, LatencySli, Objective, RatioEvents, Sli, SloSpec, SloWindow,
    SpecFormat, TierInput,
};
use super::Diag;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Kubernetes object metadata: the fields redline uses; the others (uid, annotations,
/// creationTimestamp, …) describe the stored object, not the SLO.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Metadata {
    name: String,
    namespace: Option<String>,
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PyrraSlo {
    #[allow(dead_code)]
    #[serde(rename = "apiVersion")]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    metadata: Metadata,
    spec: PyrraSpec,
    #[allow(dead_code)]
    #[serde(default)]
    status: serde_yaml_ng::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PyrraSpec {
    #[serde(default)]
    description: String,
    target: String,
    window: String,
    indicator: Indicator,
    #[serde(default)]
    alerting: PyrraAlerting,
    #[allow(dead_code)]
    #[serde(default)]
    partial_response_strategy: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Indicator {
    ratio: Option<Ratio>,
    latency: Option<Latency>,
    #[serde(rename = "latencyNative")]
    latency_native: Option<LatencyNative>,
    #[serde(alias = "boolGauge")]
    bool_gauge: Option<BoolGauge>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Query {
    metric: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ratio {
    errors: Query,
    total: Query,
    #[serde(default)]
    grouping: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Latency {
    success: Query,
    total: Query,
    #[serde(default)]
    grouping: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyNative {
    total: Query,
    latency: String,
    #[serde(default)]
    grouping: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BoolGauge {
    metric: String,
    #[serde(default)]
    grouping: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PyrraAlerting {
    disabled: Option<bool>,
    burnrates: Option<bool>,
    absent: Option<bool>,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "absentName")]
    absent_name: String,
}

#[derive(Debug, Deserialize)]
struct KubeList {
    #[serde(default)]
    items: Vec<serde_yaml_ng::Value>,
}

/// Reads one `pyrra.dev/v1alpha1` document: a `ServiceLevelObjective` or a
/// `ServiceLevelObjectiveList`.
pub(crate) fn from_pyrra(d: &mut Diag, doc: serde_yaml_ng::Value) -> Vec<SloSpec> {
    let kind = doc.get("kind").and_then(|v| v.as_str()).unwrap_or_default();
    match kind {
        "ServiceLevelObjective" => one(d, doc).into_iter().collect(),
        "ServiceLevelObjectiveList" => from_list(d, doc),
        other => {
            d.err(
                "kind",
                format!("{other:?} is not supported; redline reads Pyrra's ServiceLevelObjective"),
            );
            Vec::new()
        }
    }
}

/// Reads a Kubernetes `List` (or `ServiceLevelObjectiveList`): each item by its own apiVersion.
pub(crate) fn from_list(d: &mut Diag, doc: serde_yaml_ng::Value) -> Vec<SloSpec> {
    let Some(list) = d.decode::<KubeList>("", doc) else {
        return Vec::new();
    };
    if list.items.is_empty() {
        d.err("items", "no SLOs listed");
    }
    let saved = d.prefix.clone();
    let mut out = Vec::new();
    for (i, item) in list.items.into_iter().enumerate() {
        d.prefix = format!("{saved}items[{i}].");
        let api = item.get("apiVersion").and_then(|v| v.as_str());
        match api {
            Some("pyrra.dev/v1alpha1") => out.extend(from_pyrra(d, item)),
            Some("sloth.slok.dev/v1") => out.extend(super::sloth::from_sloth_crd(d, item)),
            other => d.err(
                "apiVersion",
                format!("{other:?}: a List item must be a pyrra.dev/v1alpha1 ServiceLevelObjective or a sloth.slok.dev/v1 PrometheusServiceLevel"),
            ),
        }
    }
    d.prefix = saved;
    out
}

fn one(d: &mut Diag, doc: serde_yaml_ng::Value) -> Option<SloSpec> {
    let raw = d.decode::<PyrraSlo>("", doc)?;
    let before = d.errors.len();
    let name = raw.metadata.name;
    check_ident(d, "metadata.name", &name);
    let service = raw.metadata.namespace.unwrap_or_else(|| "default".into());
    check_ident(d, "metadata.namespace", &service);
    let mut labels = BTreeMap::new();
    for (k, v) in raw.metadata.labels {
        let key = k.strip_prefix("pyrra.dev/").unwrap_or(&k).to_string();
        if is_metric_name(&key) && !key.contains(':') {
            labels.insert(key, v);
        } else {
            d.err(
                format!("metadata.labels.{k}"),
                format!("{key:?} is not a Prometheus label name, and redline puts every label of the SLO on its series and alerts"),
            );
        }
    }
    let owner = labels
        .get("owner")
        .or_else(|| labels.get("team"))
        .cloned()
        .unwrap_or_else(|| service.clone());
    let spec = raw.spec;
    let objective = match spec.target.trim().parse::<f64>() {
        Ok(t) if t > 0.0 && t < 100.0 => Some(Objective(t)),
        _ => {
            d.err(
                "spec.target",
                format!(
                    "{:?} must be a percentage between 0 and 100 (exclusive), e.g. \"99.9\"",
                    spec.target
                ),
            );
            None
        }
    };
    let window = check_duration(d, "spec.window", &spec.window).map(SloWindow::Rolling);
    let sli = indicator(d, "spec.indicator", spec.indicator);
    let a = spec.alerting;
    if a.absent == Some(false) {
        d.err(
            "spec.alerting.absent",
            "redline always writes the SLI-data-absent alert; remove `absent: false` (route or silence the alert instead)",
        );
    }
    let off = a.disabled == Some(true) || a.burnrates == Some(false);
    let tier = || TierInput {
        disable: off,
        ..TierInput::default()
    };
    let input = AlertingInput {
        name: (!a.name.is_empty()).then_some(a.name),
        page: tier(),
        ticket: tier(),
        ..AlertingInput::default()
    };
    let (objective, window) = (objective?, window?);
    let mut alerting = build_alerting(
        d,
        "spec.alerting",
        &service,
        &name,
        &window,
        objective,
        input,
    );
    if !a.absent_name.is_empty() {
        if is_metric_name(&a.absent_name) {
            alerting.absent_alert = a.absent_name;
        } else {
            d.err(
                "spec.alerting.absentName",
                format!("{:?} is not a valid alert name", a.absent_name),
            );
        }
    }
    let sli = sli?;
    if d.errors.len() > before {
        return None;
    }
    Some(SloSpec {
        format: SpecFormat::Pyrra,
        file: d.file.to_path_buf(),
        field: d.prefix.trim_end_matches('.').to_string(),
        service,
        name,
        owner,
        description: spec.description,
        objective,
        window,
        budgeting: super::spec::Budgeting::Occurrences,
        sli,
        labels,
        alerting,
    })
}

/// Pyrra's metrics are vector selectors; the parsed selector's metric name, if it has one.
fn selector(d: &mut Diag, field: &str, q: &str) -> Option<Option<String>> {
    match crate::promql::Engine::parse(q) {
        Ok(promql_parser::parser::Expr::VectorSelector(vs)) => Some(vs.name),
        Ok(_) => {
            d.err(
                field,
                format!("{q:?} must be a vector selector such as http_requests_total{{job=\"x\"}}, as Pyrra requires"),
            );
            None
        }
        Err(e) => {
            d.err(field, format!("invalid PromQL {q:?}: {e}"));
            None
        }
    }
}

/// `sum(rate(<selector>[{{.window}}]))`, checked as every window query is.
fn rate_query(d: &mut Diag, field: &str, q: &Query) -> Option<String> {
    let metric = q.metric.trim();
    selector(d, field, metric)?;
    check_window_query(d, field, &format!("sum(rate({metric}[{{{{.window}}}}]))"))
}

/// Whether the selector has an `le="…"` equality matcher (parsed: a label such as `handle`
/// whose name ends in `le` is not one).
fn selects_one_bucket(q: &str) -> bool {
    match crate::promql::Engine::parse(q.trim()) {
        Ok(promql_parser::parser::Expr::VectorSelector(vs)) => vs
            .matchers
            .matchers
            .iter()
            .any(|m| m.name == "le" && matches!(m.op, promql_parser::label::MatchOp::Equal)),
        _ => false,
    }
}

fn no_grouping(d: &mut Diag, field: &str, grouping: &[String]) {
    if !grouping.is_empty() {
        d.err(
            field,
            format!("grouping by {grouping:?} makes one SLO per group; redline's SLO is one series: write one ServiceLevelObjective per group (with the group's label matcher) or remove grouping"),
        );
    }
}

fn indicator(d: &mut Diag, at: &str, i: Indicator) -> Option<Sli> {
    let given = [
        i.ratio.is_some(),
        i.latency.is_some(),
        i.latency_native.is_some(),
        i.bool_gauge.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        d.err(
            at,
            "give exactly one of ratio, latency, latencyNative or bool_gauge",
        );
        return None;
    }
    if let Some(r) = i.ratio {
        no_grouping(d, &format!("{at}.ratio.grouping"), &r.grouping);
        let bad = rate_query(d, &format!("{at}.ratio.errors.metric"), &r.errors);
        let total = rate_query(d, &format!("{at}.ratio.total.metric"), &r.total);
        return Some(Sli::Ratio {
            events: RatioEvents::Bad(bad?),
            total: total?,
        });
    }
    if let Some(l) = i.latency {
        no_grouping(d, &format!("{at}.latency.grouping"), &l.grouping);
        let field = format!("{at}.latency.success.metric");
        if !selects_one_bucket(&l.success.metric) {
            d.err(
                &field,
                "must select one bucket with an le=\"…\" matcher, as Pyrra requires",
            );
        }
        let good = rate_query(d, &field, &l.success);
        let total = rate_query(d, &format!("{at}.latency.total.metric"), &l.total);
        return Some(Sli::Ratio {
            events: RatioEvents::Good(good?),
            total: total?,
        });
    }
    if let Some(n) = i.latency_native {
        no_grouping(d, &format!("{at}.latencyNative.grouping"), &n.grouping);
        let field = format!("{at}.latencyNative.total.metric");
        let metric = n.total.metric.trim();
        let name = selector(d, &field, metric);
        let lat_field = format!("{at}.latencyNative.latency");
        let threshold = check_duration(d, &lat_field, &n.latency).and_then(|dur| {
            let written = format!("{}", dur.as_secs_f64());
            check_native_threshold(d, &lat_field, &written)
        });
        let name = match name? {
            Some(n) if metric.starts_with(n.as_str()) => n,
            _ => {
                d.err(
                    &field,
                    "must start with the native histogram's metric name, e.g. http_request_duration_seconds{job=\"x\"}",
                );
                return None;
            }
        };
        let matchers = metric[name.len()..]
            .trim()
            .trim_start_matches('{')
            .trim_end_matches('}')
            .trim()
            .to_string();
        return Some(Sli::Latency(LatencySli {
            metric: name,
            matchers,
            threshold: threshold?,
            native: true,
        }));
    }
    let g = i.bool_gauge?;
    no_grouping(d, &format!("{at}.bool_gauge.grouping"), &g.grouping);
    let field = format!("{at}.bool_gauge.metric");
    let query = g.metric.trim().to_string();
    selector(d, &field, &query)?;
    Some(Sli::Availability { query })
}

#[cfg(test)]
mod tests {
    #[test]
    fn latency_success_needs_an_le_matcher_not_a_label_ending_in_le() {
        assert!(super::selects_one_bucket(
            r#"http_request_duration_seconds_bucket{job="api",le="0.5"}"#
        ));
        assert!(super::selects_one_bucket(r#"x_bucket{ le = "1" }"#));
        assert!(!super::selects_one_bucket(r#"x_bucket{handle="a"}"#));
        assert!(!super::selects_one_bucket(r#"x_bucket{le=~"0.5|1"}"#));
    }

    use super::*;
    use crate::slo::parse_text;
    use std::path::Path;
    use std::time::Duration;

    const DAY: u64 = 86_400;

    fn load(path: &str) -> Vec<SloSpec> {
        let text = std::fs::read_to_string(path).expect("read example");
        parse_text(Path::new(path), &text).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn pyrra_examples_load_into_typed_specs() {
        let specs = load("tests/data/slo/pyrra/examples.yml");
        assert_eq!(specs.len(), 4);
        let errors = &specs[0];
        assert_eq!(errors.format, SpecFormat::Pyrra);
        assert_eq!(errors.field, "document[0]");
        assert_eq!(
            (errors.service.as_str(), errors.name.as_str()),
            ("monitoring", "prometheus-api-errors")
        );
        // No owner label: the team label.
        assert_eq!(errors.owner, "observability");
        assert_eq!(errors.objective, Objective(99.0));
        assert_eq!(
            errors.window,
            SloWindow::Rolling(Duration::from_secs(14 * DAY))
        );
        assert_eq!(
            errors.sli,
            Sli::Ratio {
                events: RatioEvents::Bad(
                    "sum(rate(prometheus_http_requests_total{job=\"prometheus\",code=~\"5..\"}[{{.window}}]))".into()
                ),
                total: "sum(rate(prometheus_http_requests_total{job=\"prometheus\"}[{{.window}}]))"
                    .into(),
            }
        );
        // 2w window: page factor 2 % × 336 h / 1 h = 6.72.
        assert_eq!(errors.alerting.page.windows[0].factor, 6.72);
        assert_eq!(
            errors.alerting.page.alert,
            "MonitoringPrometheusApiErrorsBurnRatePage"
        );

        let latency = &specs[1];
        assert_eq!(
            latency.window,
            SloWindow::Rolling(Duration::from_secs(28 * DAY))
        );
        match &latency.sli {
            Sli::Ratio {
                events: RatioEvents::Good(g),
                total,
            } => {
                assert!(g.contains("_bucket{") && g.contains("le=\"1\""), "{g}");
                assert!(
                    total.starts_with("sum(rate(prometheus_http_request_duration_seconds_count{")
                );
            }
            other => panic!("{other:?}"),
        }
        // One alert name for both tiers, as Pyrra names its burn-rate alerts.
        assert_eq!(
            latency.alerting.page.alert,
            "PrometheusQueryLatencyBudgetBurn"
        );
        assert_eq!(
            latency.alerting.ticket.alert,
            "PrometheusQueryLatencyBudgetBurn"
        );
        assert_eq!(
            latency.alerting.absent_alert,
            "PrometheusQueryLatencyAbsent"
        );
        // 4w window: page factor 2 % × 672 h / 1 h = 13.44; ticket 10 % × 672 h / 24 h = 2.8.
        assert_eq!(latency.alerting.page.windows[0].factor, 13.44);
        assert_eq!(latency.alerting.ticket.windows[0].factor, 2.8);

        assert_eq!(
            specs[2].sli,
            Sli::Latency(LatencySli {
                metric: "http_request_duration_seconds".into(),
                matchers: "job=\"checkout\"".into(),
                threshold: crate::slo::BucketBoundary {
                    written: "0.3".into(),
                    seconds: 0.3
                },
                native: true,
            })
        );
        assert_eq!(specs[2].objective, Objective(99.5));

        let up = &specs[3];
        assert_eq!(
            up.sli,
            Sli::Availability {
                query: "up{job=\"prometheus\"}".into()
            }
        );
        // burnrates: false disables both tiers; the absent alert stays.
        assert!(!up.alerting.page.enabled && !up.alerting.ticket.enabled);
        assert_eq!(
            up.alerting.absent_alert,
            "MonitoringPrometheusUpSLIDataAbsent"
        );
    }

    #[test]
    fn kubernetes_list_loads_its_items() {
        let specs = load("tests/data/slo/pyrra/list.yml");
        assert_eq!(specs.len(), 1);
        let s = &specs[0];
        assert_eq!(s.field, "items[0]");
        assert_eq!(
            (s.service.as_str(), s.name.as_str()),
            ("shop", "api-errors")
        );
        // `pyrra.dev/team` is propagated as `team`, which gives the owner.
        assert_eq!(s.labels.get("team").map(String::as_str), Some("payments"));
        assert_eq!(s.owner, "payments");
    }

    fn errors(text: &str) -> Vec<(String, String)> {
        parse_text(Path::new("t.yml"), text)
            .expect_err("must fail")
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect()
    }

    #[test]
    fn bad_fields_name_their_path() {
        let errs = errors(
            r#"
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: x, labels: {app.kubernetes.io/name: x}}
spec:
  target: "0.999x"
  window: 4 weeks
  indicator:
    latencyNative: {latency: fast, total: {metric: 'h{job="x"}'}}
"#,
        );
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        for want in [
            "metadata.labels.app.kubernetes.io/name",
            "spec.target",
            "spec.window",
            "spec.indicator.latencyNative.latency",
        ] {
            assert!(fields.contains(&want), "{want}: {errs:?}");
        }
        let errs = errors(
            r#"
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: x}
spec:
  target: "99"
  window: 4w
  indicator:
    ratio: {errors: {metric: a}, total: {metric: b}, extra: 1}
"#,
        );
        assert!(
            errs.iter()
                .any(|(f, m)| f == "spec.indicator.ratio.extra"
                    && m.contains("unknown field `extra`")),
            "{errs:?}"
        );
        let errs = errors(
            r#"
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: x}
spec:
  target: "99"
  window: 4w
  indicator:
    latency: {success: {metric: 'h_bucket{job="x"}'}, total: {metric: h_count}}
"#,
        );
        assert!(
            errs.iter()
                .any(|(f, m)| f == "spec.indicator.latency.success.metric" && m.contains("le=")),
            "{errs:?}"
        );
    }
}
