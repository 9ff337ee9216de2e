//! OpenSLO v1 (`apiVersion: openslo/v1`), read unchanged from multi-document YAML.
//!
//! `SLO` objects are read with their SLI inline (`indicator`) or referenced by name
//! (`indicatorRef`, resolved against the `SLI` objects of the same file). Supported:
//! `ratioMetric` (good/total or bad/total) and `thresholdMetric` over Prometheus
//! `metricSource.spec.query`, `objectives[].target` (0.999) or `targetPercent` (99.9), a
//! `timeWindow` that is rolling (`duration: 28d`) or calendar-aligned (`duration: 1M` or `1w`,
//! with `calendar.timeZone` and a `calendar.startTime` at midnight whose day starts each
//! month, or whose weekday starts each week), and the three budgeting methods
//! (`Occurrences`; `Timeslices` with `timeSliceTarget` and `timeSliceWindow`;
//! `RatioTimeslices` with `timeSliceWindow`).
//! Each objective becomes one SLO, named `<slo>` or, with several objectives,
//! `<slo>-<objective displayName or index>`.
//!
//! Ratio queries are either Sloth-style rates with `{{.window}}`, or (with `counter: true`)
//! plain counters, `metric{…}` or `sum [by (…)] (metric{…})`, which are turned into
//! `sum(rate(metric{…}[{{.window}}]))`. A threshold metric is a time-slice SLI: each evaluation
//! of `query <op> value` is a good or bad slice, as an availability SLI (a NaN, e.g. a quantile
//! without traffic, is no slice). `Service` objects are
//! accepted and carry nothing redline uses. `metricSource.metricSourceRef` may name a
//! `DataSource` of `type: Prometheus` in the same file (redline queries its own store; the
//! source's connection details are not used). `spec.alertPolicies` (inline, or
//! `alertPolicyRef` to an `AlertPolicy` of the file, whose condition and notification targets
//! are inline or referenced too) replace the default burn-rate tiers with the policies' alerts
//! ([`alerts`], [`super::policy`]).
//! The owner is the SLO's `owner` (or `team`) label, else the service.
//!
//! **Composite form.** An `SLO` without `indicator`/`indicatorRef` whose objectives each carry
//! their own (`objectives[].indicator` or `indicatorRef`, with an optional `compositeWeight`,
//! default 1) is a composite: each objective becomes an SLO of its own
//! (`<slo>-<displayName or index>`, with the objective's target), and the SLO `<slo>` is the
//! composite of them ([`super::composite`]), its objective the weighted mean of theirs.

use super::calendar::{CalendarUnit, CalendarWindow, Zone};
use super::spec::{
    build_alerting, check_duration, check_ident, check_promql, check_slice, check_slice_target,
    check_window_query, Alerting, AlertingInput, Budgeting, Objective, RatioEvents, Sli, SloSpec,
    SloWindow, SpecFormat,
};
use super::Diag;

mod alerts;
use promql_parser::parser::{token, Expr};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Object {
    #[allow(dead_code)]
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: serde_yaml_ng::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Metadata {
    name: String,
    #[allow(dead_code)]
    display_name: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, serde_yaml_ng::Value>,
    #[allow(dead_code)]
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SloSpecRaw {
    #[serde(default)]
    description: String,
    service: String,
    indicator: Option<InlineSli>,
    indicator_ref: Option<String>,
    time_window: Vec<TimeWindow>,
    budgeting_method: String,
    objectives: Vec<ObjectiveRaw>,
    alert_policies: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InlineSli {
    #[allow(dead_code)]
    metadata: Metadata,
    spec: serde_yaml_ng::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SliSpecRaw {
    #[allow(dead_code)]
    #[serde(default)]
    description: String,
    threshold_metric: Option<MetricSourceHolder>,
    ratio_metric: Option<RatioMetric>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RatioMetric {
    #[serde(default)]
    counter: bool,
    good: Option<MetricSourceHolder>,
    bad: Option<MetricSourceHolder>,
    total: Option<MetricSourceHolder>,
    raw: Option<serde_yaml_ng::Value>,
    raw_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MetricSourceHolder {
    metric_source: MetricSource,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MetricSource {
    metric_source_ref: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    spec: BTreeMap<String, serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TimeWindow {
    duration: String,
    #[serde(default)]
    is_rolling: bool,
    calendar: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ObjectiveRaw {
    display_name: Option<String>,
    op: Option<String>,
    value: Option<f64>,
    target: Option<f64>,
    target_percent: Option<f64>,
    time_slice_target: Option<f64>,
    time_slice_window: Option<serde_yaml_ng::Value>,
    indicator: Option<serde_yaml_ng::Value>,
    indicator_ref: Option<String>,
    composite_weight: Option<f64>,
}

/// Reads the OpenSLO documents of one file (`(prefix, document)` pairs, prefix being the
/// document's field-path prefix).
pub(crate) fn from_openslo(
    d: &mut Diag,
    docs: Vec<(String, serde_yaml_ng::Value)>,
) -> Vec<SloSpec> {
    let mut slis: BTreeMap<String, (String, serde_yaml_ng::Value)> = BTreeMap::new();
    let mut slos = Vec::new();
    let mut alerts = alerts::AlertObjects::default();
    let sources = prometheus_sources(&docs);
    for (prefix, mut doc) in docs {
        resolve_source_refs(&mut doc, &sources);
        d.prefix = prefix.clone();
        let Some(obj) = d.decode::<Object>("", doc) else {
            continue;
        };
        match obj.kind.as_str() {
            "SLO" => slos.push((prefix, obj)),
            "SLI" => {
                if slis.contains_key(&obj.metadata.name) {
                    d.err("metadata.name", format!("SLI {:?} is defined twice", obj.metadata.name));
                }
                slis.insert(obj.metadata.name.clone(), (format!("{prefix}spec"), obj.spec));
            }
            "Service" | "DataSource" => {}
            "AlertPolicy" | "AlertCondition" | "AlertNotificationTarget" => alerts.add(prefix, obj),
            k => d.err("kind", format!("OpenSLO kind {k:?} is not supported; redline reads SLO, SLI, Service, DataSource, AlertPolicy, AlertCondition and AlertNotificationTarget")),
        }
    }
    alerts.check(d);
    let mut out = Vec::new();
    for (prefix, obj) in slos {
        d.prefix = prefix;
        out.extend(slo(d, obj, &slis, &alerts));
    }
    d.prefix.clear();
    out
}

fn slo(
    d: &mut Diag,
    obj: Object,
    slis: &BTreeMap<String, (String, serde_yaml_ng::Value)>,
    alerts: &alerts::AlertObjects,
) -> Vec<SloSpec> {
    let Some(spec) = d.decode::<SloSpecRaw>("spec", obj.spec) else {
        return Vec::new();
    };
    let before = d.errors.len();
    let name = obj.metadata.name;
    check_ident(d, "metadata.name", &name);
    check_ident(d, "spec.service", &spec.service);
    let policies = alerts.for_slo(d, spec.alert_policies);
    let labels: BTreeMap<String, String> = obj
        .metadata
        .labels
        .iter()
        .filter_map(|(k, v)| match v {
            serde_yaml_ng::Value::String(s) => Some((k.clone(), s.clone())),
            serde_yaml_ng::Value::Sequence(seq) if seq.len() == 1 => {
                seq[0].as_str().map(|s| (k.clone(), s.to_string()))
            }
            _ => {
                d.err(
                    format!("metadata.labels.{k}"),
                    "a label must be a string (or a list of one string)",
                );
                None
            }
        })
        .collect();
    let owner = labels
        .get("owner")
        .or_else(|| labels.get("team"))
        .cloned()
        .unwrap_or_else(|| spec.service.clone());
    let window = time_window(d, &spec.time_window);
    // The composite form: no indicator on the spec, one on each objective.
    let composite = spec.indicator.is_none()
        && spec.indicator_ref.is_none()
        && spec
            .objectives
            .iter()
            .any(|o| o.indicator.is_some() || o.indicator_ref.is_some());
    let sli = if composite {
        None
    } else {
        let inline = spec.indicator.map(|i| ("spec.indicator".to_string(), i));
        indicator_of(d, slis, "spec", inline, spec.indicator_ref.as_deref())
    };
    if spec.objectives.is_empty() {
        d.err("spec.objectives", "no objectives listed");
    }
    let many = spec.objectives.len() > 1;
    let mut out = Vec::new();
    let mut weights = Vec::new();
    for (i, o) in spec.objectives.into_iter().enumerate() {
        let at = format!("spec.objectives[{i}]");
        let own = o.indicator.is_some() || o.indicator_ref.is_some();
        let part_sli = if composite && own {
            let inline = o
                .indicator
                .clone()
                .and_then(|v| d.decode::<InlineSli>(&format!("{at}.indicator"), v))
                .map(|i| (format!("{at}.indicator"), i));
            indicator_of(d, slis, &at, inline, o.indicator_ref.as_deref())
        } else if composite {
            d.err(&at, "in a composite SLO (objectives with their own indicator) every objective names its indicator or indicatorRef");
            continue;
        } else {
            if own {
                d.err(format!("{at}.indicator"), "the indicator is given on the spec (a standard SLO) and on this objective (a composite SLO); give it in one place");
            }
            if o.composite_weight.is_some() {
                d.err(format!("{at}.compositeWeight"), "compositeWeight weighs the objectives of a composite SLO (objectives with their own indicator); this SLO has one indicator");
            }
            None
        };
        let weight = o.composite_weight.unwrap_or(1.0);
        if !(weight.is_finite() && weight > 0.0) {
            d.err(
                format!("{at}.compositeWeight"),
                format!("a composite weight is a number > 0 (default 1); got {weight}"),
            );
        }
        let sli_ref = if composite { &part_sli } else { &sli };
        let objective = match (o.target, o.target_percent) {
            (Some(t), None) if t > 0.0 && t < 1.0 => Some(Objective(t * 100.0)),
            (None, Some(p)) if p > 0.0 && p < 100.0 => Some(Objective(p)),
            (Some(t), None) => {
                d.err(
                    format!("{at}.target"),
                    format!("target is a ratio between 0 and 1 (exclusive), e.g. 0.999; got {t}"),
                );
                None
            }
            (None, Some(p)) => {
                d.err(
                    format!("{at}.targetPercent"),
                    format!("targetPercent is between 0 and 100 (exclusive); got {p}"),
                );
                None
            }
            _ => {
                d.err(
                    &at,
                    "give exactly one of target (0.999) or targetPercent (99.9)",
                );
                None
            }
        };
        let slo_name = if many || composite {
            let suffix = o
                .display_name
                .as_deref()
                .map(|n| {
                    n.to_lowercase()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join("-")
                })
                .unwrap_or_else(|| i.to_string());
            format!("{name}-{suffix}")
        } else {
            name.clone()
        };
        let threshold = (o.op.clone(), o.value);
        let s = sli_ref
            .as_ref()
            .and_then(|(field, s)| indicator(d, field, s, &at, threshold));
        let (Some(objective), Some(window), Some(s)) = (objective, window.clone(), s) else {
            continue;
        };
        let alerting = build_alerting(
            d,
            "spec",
            &spec.service,
            &slo_name,
            &window,
            objective,
            AlertingInput::default(),
        )
        .with_policies(alerts::for_objective(
            d,
            &policies,
            objective,
            window.period(),
        ));
        let threshold_metric = sli_ref
            .as_ref()
            .is_some_and(|(_, s)| s.threshold_metric.is_some());
        let Some(budgeting) = budgeting(
            d,
            &at,
            &spec.budgeting_method,
            &o,
            threshold_metric,
            &alerting,
        ) else {
            continue;
        };
        out.push(SloSpec {
            format: SpecFormat::OpenSlo,
            file: d.file.to_path_buf(),
            field: format!("{}{at}", d.prefix),
            service: spec.service.clone(),
            name: slo_name,
            owner: owner.clone(),
            description: spec.description.clone(),
            objective,
            window,
            budgeting,
            sli: s,
            labels: labels.clone(),
            alerting,
        });
        weights.push(weight);
    }
    if d.errors.len() > before {
        return Vec::new();
    }
    if composite {
        if let Some(c) = super::composite::of_objectives(d, &name, &out, &weights) {
            out.push(c);
        }
    }
    out
}

/// The SLI of an SLO (`at` = `spec`) or of a composite's objective: inline (`indicator`,
/// already decoded, with its field path) or `indicatorRef` to an `SLI` of the file, whose
/// errors are reported at its own document.
fn indicator_of(
    d: &mut Diag,
    slis: &BTreeMap<String, (String, serde_yaml_ng::Value)>,
    at: &str,
    inline: Option<(String, InlineSli)>,
    indicator_ref: Option<&str>,
) -> Option<(String, SliSpecRaw)> {
    let (field, v, own_doc) = match (inline, indicator_ref) {
        (Some((field, i)), None) => (format!("{field}.spec"), i.spec, true),
        (None, Some(r)) => match slis.get(r) {
            Some((field, v)) => (field.clone(), v.clone(), false),
            None => {
                d.err(
                    format!("{at}.indicatorRef"),
                    format!("no SLI named {r:?} in this file"),
                );
                return None;
            }
        },
        _ => {
            d.err(at, "give exactly one of indicator or indicatorRef");
            return None;
        }
    };
    let saved = std::mem::take(&mut d.prefix);
    if own_doc {
        d.prefix = saved.clone();
    }
    let r = d.decode::<SliSpecRaw>(&field, v).map(|s| (field, s));
    d.prefix = saved;
    r
}

fn time_window(d: &mut Diag, tw: &[TimeWindow]) -> Option<SloWindow> {
    let [w] = tw else {
        d.err(
            "spec.timeWindow",
            format!("give exactly one time window, got {}", tw.len()),
        );
        return None;
    };
    let field = "spec.timeWindow[0].duration";
    if w.is_rolling {
        if w.calendar.is_some() {
            d.err(
                "spec.timeWindow[0].calendar",
                "a rolling window has no calendar",
            );
            return None;
        }
        return check_duration(d, field, &w.duration).map(SloWindow::Rolling);
    }
    let zone = match w.calendar.as_ref().and_then(|c| c.get("timeZone")) {
        None => Some(Zone::utc()),
        Some(v) => match v.as_str().map(Zone::named) {
            Some(Ok(z)) => Some(z),
            Some(Err(e)) => {
                d.err("spec.timeWindow[0].calendar.timeZone", e);
                None
            }
            None => {
                d.err(
                    "spec.timeWindow[0].calendar.timeZone",
                    "an IANA time zone name, e.g. Europe/Berlin",
                );
                None
            }
        },
    };
    if let Some(c) = w.calendar.as_ref().and_then(|c| c.as_mapping()) {
        for k in c.keys().filter_map(|k| k.as_str()) {
            if k != "startTime" && k != "timeZone" {
                d.err(
                    format!("spec.timeWindow[0].calendar.{k}"),
                    "unknown field; a calendar has startTime and timeZone",
                );
            }
        }
    }
    let start = match w.calendar.as_ref().and_then(|c| c.get("startTime")) {
        None => None,
        Some(v) => {
            let field = "spec.timeWindow[0].calendar.startTime";
            let text = v.as_str().unwrap_or_default();
            match text.replace(' ', "T").parse::<jiff::civil::DateTime>() {
                Ok(dt) if dt.time() == jiff::civil::Time::midnight() => Some(dt.date()),
                Ok(_) => {
                    d.err(field, format!("{text:?}: redline's calendar periods start at local midnight; give a start time of 00:00:00"));
                    return None;
                }
                Err(e) => {
                    d.err(
                        field,
                        format!(
                            "{text:?} is not a date and time such as \"2024-01-01 00:00:00\": {e}"
                        ),
                    );
                    return None;
                }
            }
        }
    };
    let unit = match w.duration.as_str() {
        "1M" => match start.map(|s| s.day()) {
            None => CalendarUnit::Month { start_day: 1 },
            Some(day @ 1..=28) => CalendarUnit::Month {
                start_day: day as u8,
            },
            Some(day) => {
                d.err("spec.timeWindow[0].calendar.startTime", format!("a month starting on day {day} does not exist in every month; start on a day from 1 to 28"));
                return None;
            }
        },
        "1w" => CalendarUnit::Week {
            start_day: start.map_or(jiff::civil::Weekday::Monday, |s| s.weekday()),
        },
        other => {
            d.err(field, format!("calendar window {other:?} is not supported; redline supports the calendar month (1M), the calendar week (1w) and rolling windows"));
            return None;
        }
    };
    Some(SloWindow::Calendar(CalendarWindow { unit, zone: zone? }))
}

/// The objective's budgeting method. A `thresholdMetric` with `Timeslices` and no slice
/// fields keeps redline's reading of it before time slices: each evaluation of the
/// threshold is one slice.
fn budgeting(
    d: &mut Diag,
    at: &str,
    method: &str,
    o: &ObjectiveRaw,
    threshold_metric: bool,
    alerting: &Alerting,
) -> Option<Budgeting> {
    let slice = |d: &mut Diag| -> Option<std::time::Duration> {
        let field = format!("{at}.timeSliceWindow");
        let text = match &o.time_slice_window {
            None => {
                d.err(
                    &field,
                    format!("{method} needs the slice length, e.g. timeSliceWindow: 1m"),
                );
                return None;
            }
            // A bare number is minutes.
            Some(serde_yaml_ng::Value::Number(n)) => format!("{n}m"),
            Some(serde_yaml_ng::Value::String(s)) => s.clone(),
            Some(_) => {
                d.err(&field, "a duration such as 1m, or a number of minutes");
                return None;
            }
        };
        let slice = check_duration(d, &field, &text)?;
        let n = d.errors.len();
        check_slice(d, &field, slice, alerting);
        (d.errors.len() == n).then_some(slice)
    };
    let no_target = |d: &mut Diag| {
        if o.time_slice_target.is_some() {
            d.err(
                format!("{at}.timeSliceTarget"),
                format!("timeSliceTarget applies to Timeslices, not {method}"),
            );
        }
    };
    match method {
        "Occurrences" => {
            no_target(d);
            if o.time_slice_window.is_some() {
                d.err(
                    format!("{at}.timeSliceWindow"),
                    "timeSliceWindow applies to Timeslices and RatioTimeslices, not Occurrences",
                );
            }
            Some(Budgeting::Occurrences)
        }
        "Timeslices"
            if threshold_metric
                && o.time_slice_window.is_none()
                && o.time_slice_target.is_none() =>
        {
            Some(Budgeting::Occurrences)
        }
        "Timeslices" => {
            let slice = slice(d);
            let target =
                check_slice_target(d, &format!("{at}.timeSliceTarget"), o.time_slice_target);
            Some(Budgeting::Timeslices {
                slice: slice?,
                target: target?,
            })
        }
        "RatioTimeslices" => {
            no_target(d);
            Some(Budgeting::RatioTimeslices { slice: slice(d)? })
        }
        other => {
            d.err("spec.budgetingMethod", format!("{other:?} is not a budgeting method: Occurrences, Timeslices or RatioTimeslices"));
            None
        }
    }
}

fn indicator(
    d: &mut Diag,
    field: &str,
    s: &SliSpecRaw,
    objective_at: &str,
    (op, value): (Option<String>, Option<f64>),
) -> Option<Sli> {
    match (&s.ratio_metric, &s.threshold_metric) {
        (Some(r), None) => {
            if op.is_some() || value.is_some() {
                d.err(
                    format!("{objective_at}.op"),
                    "op/value apply to a thresholdMetric, not a ratioMetric",
                );
                return None;
            }
            ratio(d, &format!("{field}.ratioMetric"), r)
        }
        (None, Some(t)) => {
            let q = query(d, &format!("{field}.thresholdMetric"), t)?;
            let cmp = match op.as_deref() {
                Some("lt") => "<",
                Some("lte") => "<=",
                Some("gt") => ">",
                Some("gte") => ">=",
                other => {
                    d.err(format!("{objective_at}.op"), format!("a thresholdMetric objective needs op lt, lte, gt or gte; got {other:?}"));
                    return None;
                }
            };
            let Some(v) = value else {
                d.err(
                    format!("{objective_at}.value"),
                    "a thresholdMetric objective needs a value",
                );
                return None;
            };
            // `Q == Q` drops NaN (e.g. a quantile with no traffic): no data is no slice, not a bad one.
            let query = format!("(({q}) {cmp} bool {v}) and (({q}) == ({q}))");
            check_promql(
                d,
                &format!("{field}.thresholdMetric.metricSource.spec.query"),
                &query,
            )?;
            Some(Sli::Availability { query })
        }
        _ => {
            d.err(field, "give exactly one of ratioMetric or thresholdMetric");
            None
        }
    }
}

fn ratio(d: &mut Diag, at: &str, r: &RatioMetric) -> Option<Sli> {
    if r.raw.is_some() || r.raw_type.is_some() {
        d.err(
            format!("{at}.raw"),
            "raw ratio metrics are not supported; give good or bad with total",
        );
        return None;
    }
    let window_query = |d: &mut Diag, f: &str, m: &MetricSourceHolder| -> Option<String> {
        let q = query(d, f, m)?;
        let qf = format!("{f}.metricSource.spec.query");
        if q.contains("{{") {
            return check_window_query(d, &qf, &q);
        }
        if !r.counter {
            d.err(&qf, "a query without {{.window}} must be a counter (set counter: true), or write it as a rate over [{{.window}}]");
            return None;
        }
        counter_to_rate(d, &qf, &q)
    };
    let total = match &r.total {
        Some(t) => window_query(d, &format!("{at}.total"), t),
        None => {
            d.err(format!("{at}.total"), "a ratioMetric needs total");
            None
        }
    };
    let events = match (&r.good, &r.bad) {
        (Some(g), None) => window_query(d, &format!("{at}.good"), g).map(RatioEvents::Good),
        (None, Some(b)) => window_query(d, &format!("{at}.bad"), b).map(RatioEvents::Bad),
        _ => {
            d.err(at, "give exactly one of good or bad, with total");
            None
        }
    };
    Some(Sli::Ratio {
        events: events?,
        total: total?,
    })
}

fn query(d: &mut Diag, at: &str, m: &MetricSourceHolder) -> Option<String> {
    let ms = &m.metric_source;
    if ms.metric_source_ref.is_some() {
        d.err(
            format!("{at}.metricSource.metricSourceRef"),
            "must name a DataSource of type Prometheus in the same file, or give type: Prometheus and spec.query inline",
        );
        return None;
    }
    if ms.kind.as_deref() != Some("Prometheus") {
        d.err(
            format!("{at}.metricSource.type"),
            format!(
                "{:?} is not supported; redline reads Prometheus metric sources",
                ms.kind.as_deref().unwrap_or("")
            ),
        );
        return None;
    }
    for k in ms.spec.keys().filter(|k| *k != "query") {
        d.err(
            format!("{at}.metricSource.spec.{k}"),
            "not supported; a Prometheus metric source has only query",
        );
    }
    match ms.spec.get("query").and_then(|v| v.as_str()) {
        Some(q) if !crate::promql::strip_comments(q).trim().is_empty() => {
            Some(crate::promql::strip_comments(q).trim().to_string())
        }
        _ => {
            d.err(
                format!("{at}.metricSource.spec.query"),
                "a PromQL query (string) is required",
            );
            None
        }
    }
}

/// The names of the file's `DataSource` objects of `type: Prometheus`.
fn prometheus_sources(docs: &[(String, serde_yaml_ng::Value)]) -> Vec<String> {
    docs.iter()
        .filter(|(_, doc)| doc.get("kind").and_then(|k| k.as_str()) == Some("DataSource"))
        .filter(|(_, doc)| {
            doc.get("spec")
                .and_then(|s| s.get("type"))
                .and_then(|t| t.as_str())
                == Some("Prometheus")
        })
        .filter_map(|(_, doc)| {
            let name = doc.get("metadata")?.get("name")?.as_str()?;
            Some(name.to_string())
        })
        .collect()
}

/// Replaces each `metricSourceRef` naming a Prometheus `DataSource` of the file with
/// `type: Prometheus`: redline evaluates the query on its own store, so the data source's
/// connection details are not used. A reference to anything else stays, and is an error.
fn resolve_source_refs(v: &mut serde_yaml_ng::Value, sources: &[String]) {
    match v {
        serde_yaml_ng::Value::Mapping(m) => {
            let named = m
                .get("metricSourceRef")
                .and_then(|r| r.as_str())
                .is_some_and(|r| sources.iter().any(|s| s == r));
            let typed = m
                .get("type")
                .is_none_or(|t| t.as_str() == Some("Prometheus"));
            if named && typed {
                m.remove("metricSourceRef");
                m.insert("type".into(), "Prometheus".into());
            }
            for (_, child) in m.iter_mut() {
                resolve_source_refs(child, sources);
            }
        }
        serde_yaml_ng::Value::Sequence(items) => {
            for child in items {
                resolve_source_refs(child, sources);
            }
        }
        _ => {}
    }
}

/// `metric{…}` or `sum [by (…)] (metric{…})` → the same aggregation of `rate(…[{{.window}}])`.
fn counter_to_rate(d: &mut Diag, at: &str, q: &str) -> Option<String> {
    let expr = match crate::promql::Engine::parse(q) {
        Ok(e) => e,
        Err(e) => {
            d.err(at, format!("invalid PromQL {q:?}: {e}"));
            return None;
        }
    };
    let out = match &expr {
        Expr::VectorSelector(vs) => Some(format!("sum(rate({vs}[{{{{.window}}}}]))")),
        Expr::Aggregate(a) if a.op.id() == token::T_SUM && a.param.is_none() => match &*a.expr {
            Expr::VectorSelector(vs) => {
                Some(format!("{}(rate({vs}[{{{{.window}}}}]))", grouping(a)))
            }
            _ => None,
        },
        _ => None,
    };
    if out.is_none() {
        d.err(at, format!("counter query {q:?} must be a selector or sum(selector) so redline can take its rate; otherwise write the rate yourself with [{{{{.window}}}}]"));
    }
    out
}

fn grouping(a: &promql_parser::parser::AggregateExpr) -> String {
    use promql_parser::parser::LabelModifier;
    match &a.modifier {
        Some(LabelModifier::Include(ls)) if !ls.is_empty() => format!("sum by ({ls}) "),
        Some(LabelModifier::Exclude(ls)) => format!("sum without ({ls}) "),
        _ => "sum".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::slo::calendar::CalendarUnit;
    use crate::slo::{Budgeting, SloWindow};

    fn slo(window: &str, budgeting: &str, objective: &str) -> Result<crate::slo::SloSpec, String> {
        let text = format!(
            "apiVersion: openslo/v1\nkind: SLO\nmetadata: {{name: api}}\nspec:\n  service: api\n  indicator:\n    metadata: {{name: api-errors}}\n    spec:\n      ratioMetric:\n        counter: true\n        good: {{metricSource: {{type: Prometheus, spec: {{query: 'ok_total'}}}}}}\n        total: {{metricSource: {{type: Prometheus, spec: {{query: 'all_total'}}}}}}\n  timeWindow:\n{window}  budgetingMethod: {budgeting}\n  objectives:\n    - {{target: 0.99{objective}}}\n"
        );
        crate::slo::parse_text(std::path::Path::new("o.yml"), &text)
            .map(|mut v| v.remove(0))
            .map_err(|e| {
                e.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
    }

    #[test]
    fn calendar_week_from_start_time_with_time_slices() {
        // 2024-01-03 is a Wednesday: weeks start on Wednesdays in Berlin.
        let s = slo(
            "    - duration: 1w\n      calendar: {startTime: '2024-01-03 00:00:00', timeZone: Europe/Berlin}\n",
            "Timeslices",
            ", timeSliceTarget: 0.95, timeSliceWindow: 1m",
        )
        .unwrap();
        let SloWindow::Calendar(c) = &s.window else {
            panic!("{:?}", s.window)
        };
        assert_eq!(
            c.unit,
            CalendarUnit::Week {
                start_day: jiff::civil::Weekday::Wednesday
            }
        );
        assert_eq!(c.zone.name(), "Europe/Berlin");
        assert_eq!(
            s.budgeting,
            Budgeting::Timeslices {
                slice: std::time::Duration::from_secs(60),
                target: 0.95
            }
        );
        // A bare number of minutes, and a month from the 15th.
        let s = slo(
            "    - duration: 1M\n      calendar: {startTime: '2024-01-15 00:00:00', timeZone: UTC}\n",
            "RatioTimeslices",
            ", timeSliceWindow: 5",
        )
        .unwrap();
        assert!(
            matches!(&s.window, SloWindow::Calendar(c) if c.unit == CalendarUnit::Month { start_day: 15 })
        );
        assert_eq!(
            s.budgeting,
            Budgeting::RatioTimeslices {
                slice: std::time::Duration::from_secs(300)
            }
        );
    }

    #[test]
    fn what_redline_cannot_measure_is_refused_with_the_field_path() {
        let cases = [
            ("    - duration: 1Q\n      calendar: {timeZone: UTC}\n", "Occurrences", "", "spec.timeWindow[0].duration"),
            ("    - duration: 1M\n      calendar: {startTime: '2024-01-31 00:00:00', timeZone: UTC}\n", "Occurrences", "", "spec.timeWindow[0].calendar.startTime"),
            ("    - duration: 1M\n      calendar: {startTime: '2024-01-01 12:30:00', timeZone: UTC}\n", "Occurrences", "", "spec.timeWindow[0].calendar.startTime"),
            ("    - duration: 1M\n      calendar: {timeZone: Mars/Base}\n", "Occurrences", "", "spec.timeWindow[0].calendar.timeZone"),
            ("    - {duration: 30d, isRolling: true}\n", "Timeslices", ", timeSliceWindow: 1m", "spec.objectives[0].timeSliceTarget"),
            ("    - {duration: 30d, isRolling: true}\n", "RatioTimeslices", "", "spec.objectives[0].timeSliceWindow"),
            ("    - {duration: 30d, isRolling: true}\n", "Occurrences", ", timeSliceTarget: 0.9", "spec.objectives[0].timeSliceTarget"),
        ];
        for (window, budgeting, objective, field) in cases {
            let e = slo(window, budgeting, objective).unwrap_err();
            assert!(e.contains(&format!("o.yml: {field}: ")), "{field}: {e}");
        }
    }
}
