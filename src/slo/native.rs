//! redline's own SLO file format, `version: redline/v1`: one service, its owner, its SLOs.
//!
//! The raw structs mirror the YAML (`deny_unknown_fields`, so a misspelt field is an error
//! naming it); `from_native` validates them into [`SloSpec`]s. The format is documented with
//! examples in `rules/slo/README.md`.

use super::calendar::{weekday_named, CalendarUnit, CalendarWindow, Zone};
use super::spec::{
    build_alerting, check_bucket_boundary, check_duration, check_ident, check_native_threshold,
    check_promql, check_slice, check_slice_target, check_window_query, each_slo, is_metric_name,
    AlertingInput, Budgeting, CompositePart, LatencySli, Objective, ProbeSpec, RatioEvents, Sli,
    SloSpec, SloWindow, SpecFormat,
};
use super::Diag;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A `redline/v1` file: one service, its owner, and its SLOs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[allow(dead_code)]
    version: String,
    service: String,
    owner: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    slos: Vec<serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlo {
    name: String,
    #[serde(default)]
    description: String,
    /// Overrides the file's owner for this SLO.
    owner: Option<String>,
    objective: f64,
    window: RawWindow,
    budgeting: Option<RawBudgeting>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    sli: RawSli,
    #[serde(default)]
    alerting: AlertingInput,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    rolling: Option<String>,
    calendar: Option<String>,
    /// IANA name; default UTC.
    time_zone: Option<String>,
    /// Month: 1–28 (default 1); week: a weekday name (default monday).
    start_day: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudgeting {
    /// `occurrences`, `timeslices` or `ratio_timeslices`.
    method: String,
    slice: Option<String>,
    /// Timeslices: the good ratio a slice needs, in (0, 1].
    slice_target: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSli {
    ratio: Option<RawRatio>,
    latency: Option<RawLatency>,
    availability: Option<RawAvailability>,
    probe: Option<RawProbe>,
    composite: Option<Vec<RawPart>>,
}

/// One part of a composite SLI: another SLO by name (`slo`), or an SLI of its own (`name`
/// and `sli`, which becomes the SLO `<composite>-<name>`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPart {
    slo: Option<String>,
    weight: Option<f64>,
    name: Option<String>,
    #[serde(default)]
    description: String,
    /// An inline part's objective; default the composite's.
    objective: Option<f64>,
    sli: Option<RawSli>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRatio {
    errors: Option<String>,
    good: Option<String>,
    total: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLatency {
    metric: String,
    #[serde(default)]
    selector: String,
    threshold: serde_yaml_ng::Value,
    /// `metric` is a native histogram.
    #[serde(default)]
    native: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAvailability {
    query: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    #[serde(default = "default_method")]
    method: String,
    url: String,
    #[serde(default = "default_status")]
    expected_status: u16,
    #[serde(default = "default_timeout")]
    timeout: String,
    #[serde(default = "default_interval")]
    interval: String,
}

fn default_method() -> String {
    "GET".into()
}
fn default_status() -> u16 {
    200
}
fn default_timeout() -> String {
    "10s".into()
}
fn default_interval() -> String {
    "1m".into()
}

/// Validates one `redline/v1` document.
pub(crate) fn from_native(d: &mut Diag, doc: serde_yaml_ng::Value) -> Vec<SloSpec> {
    let Some(file) = d.decode::<RawFile>("", doc) else {
        return Vec::new();
    };
    check_ident(d, "service", &file.service);
    check_ident(d, "owner", &file.owner);
    let mut parts = Vec::new();
    let mut specs = each_slo(d, file.slos, |d, at, raw: RawSlo| {
        native_slo(
            d,
            at,
            &file.service,
            &file.owner,
            &file.labels,
            raw,
            &mut parts,
        )
    });
    specs.extend(parts);
    specs
}

/// Validates one SLO; the SLOs of a composite's inline parts go to `parts`.
fn native_slo(
    d: &mut Diag,
    at: &str,
    service: &str,
    owner: &str,
    file_labels: &BTreeMap<String, String>,
    mut raw: RawSlo,
    parts: &mut Vec<SloSpec>,
) -> Option<SloSpec> {
    let before = d.errors.len();
    check_ident(d, &format!("{at}.name"), &raw.name);
    let owner = raw.owner.take().unwrap_or_else(|| owner.to_string());
    check_ident(d, &format!("{at}.owner"), &owner);
    let objective = native_objective(d, &format!("{at}.objective"), raw.objective);
    let window = native_window(d, &format!("{at}.window"), &raw.window);
    let mut labels = file_labels.clone();
    labels.extend(raw.labels.clone());
    let sli = match raw.sli.composite.take() {
        Some(list) if objective.is_some() && window.is_some() => {
            let whole = InlineContext {
                service,
                owner: &owner,
                labels: &labels,
                composite: &raw,
            };
            native_composite(d, &format!("{at}.sli"), &raw.sli, list, &whole, parts)
        }
        // The composite's own errors first; its inline parts would repeat them.
        Some(_) => None,
        None => native_sli(d, &format!("{at}.sli"), raw.sli),
    };
    let (objective, window, sli) = (objective?, window?, sli?);
    let alerting = build_alerting(
        d,
        &format!("{at}.alerting"),
        service,
        &raw.name,
        &window,
        objective,
        raw.alerting,
    );
    let budgeting = native_budgeting(d, &format!("{at}.budgeting"), raw.budgeting, &alerting);
    if d.errors.len() > before {
        return None;
    }
    Some(SloSpec {
        format: SpecFormat::Native,
        file: d.file.to_path_buf(),
        field: format!("{}{at}", d.prefix),
        service: service.to_string(),
        name: raw.name,
        owner,
        description: raw.description,
        objective,
        window,
        budgeting: budgeting?,
        sli,
        labels,
        alerting,
    })
}

/// `window: {rolling: 28d}` or `window: {calendar: month|week, time_zone, start_day}`.
fn native_window(d: &mut Diag, at: &str, w: &RawWindow) -> Option<SloWindow> {
    match (&w.rolling, &w.calendar) {
        (Some(r), None) => {
            for (set, f) in [
                (w.time_zone.is_some(), "time_zone"),
                (w.start_day.is_some(), "start_day"),
            ] {
                if set {
                    d.err(format!("{at}.{f}"), "a rolling window has no calendar; remove it or use `calendar: month` or `calendar: week`");
                }
            }
            check_duration(d, &format!("{at}.rolling"), r).map(SloWindow::Rolling)
        }
        (None, Some(c)) => {
            let zone = match &w.time_zone {
                None => Some(Zone::utc()),
                Some(name) => Zone::named(name)
                    .map_err(|e| d.err(format!("{at}.time_zone"), e))
                    .ok(),
            };
            let field = format!("{at}.start_day");
            let unit = match (c.as_str(), &w.start_day) {
                ("month", None) => Some(CalendarUnit::Month { start_day: 1 }),
                ("month", Some(v)) => match v.as_u64() {
                    Some(n @ 1..=28) => Some(CalendarUnit::Month { start_day: n as u8 }),
                    _ => {
                        d.err(field, format!("a month's start day is a day of the month from 1 to 28 (every month has it); got {}", yaml_text(v)));
                        None
                    }
                },
                ("week", None) => Some(CalendarUnit::Week {
                    start_day: jiff::civil::Weekday::Monday,
                }),
                ("week", Some(v)) => {
                    match v.as_str().and_then(weekday_named) {
                        Some(day) => Some(CalendarUnit::Week { start_day: day }),
                        None => {
                            d.err(field, format!("a week's start day is a weekday name (monday … sunday); got {}", yaml_text(v)));
                            None
                        }
                    }
                }
                (other, _) => {
                    d.err(
                        format!("{at}.calendar"),
                        format!("{other:?} is not supported; use `calendar: month`, `calendar: week` or a rolling window"),
                    );
                    None
                }
            };
            Some(SloWindow::Calendar(CalendarWindow {
                unit: unit?,
                zone: zone?,
            }))
        }
        _ => {
            d.err(
                at,
                "give exactly one of `rolling: <duration>` (e.g. 28d) or `calendar: month` / `calendar: week`",
            );
            None
        }
    }
}

fn yaml_text(v: &serde_yaml_ng::Value) -> String {
    serde_yaml_ng::to_string(v)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `budgeting: {method: timeslices, slice: 1m, slice_target: 0.95}`; default occurrences.
fn native_budgeting(
    d: &mut Diag,
    at: &str,
    raw: Option<RawBudgeting>,
    alerting: &super::spec::Alerting,
) -> Option<Budgeting> {
    let Some(raw) = raw else {
        return Some(Budgeting::Occurrences);
    };
    let slice = |d: &mut Diag| {
        let field = format!("{at}.slice");
        let Some(s) = &raw.slice else {
            d.err(
                &field,
                "a time-slice method needs the slice length, e.g. `slice: 1m`",
            );
            return None;
        };
        let slice = check_duration(d, &field, s)?;
        let n = d.errors.len();
        check_slice(d, &field, slice, alerting);
        (d.errors.len() == n).then_some(slice)
    };
    match raw.method.as_str() {
        "occurrences" => {
            for (set, f) in [
                (raw.slice.is_some(), "slice"),
                (raw.slice_target.is_some(), "slice_target"),
            ] {
                if set {
                    d.err(format!("{at}.{f}"), "occurrences count events, not time slices; remove it or use `method: timeslices`");
                }
            }
            Some(Budgeting::Occurrences)
        }
        "timeslices" => {
            let slice = slice(d);
            let target = check_slice_target(d, &format!("{at}.slice_target"), raw.slice_target);
            Some(Budgeting::Timeslices {
                slice: slice?,
                target: target?,
            })
        }
        "ratio_timeslices" => {
            if raw.slice_target.is_some() {
                d.err(format!("{at}.slice_target"), "ratio_timeslices average the slices' ratios and have no slice target; remove it or use `method: timeslices`");
            }
            Some(Budgeting::RatioTimeslices { slice: slice(d)? })
        }
        other => {
            d.err(
                format!("{at}.method"),
                format!("{other:?} is not a budgeting method: occurrences, timeslices or ratio_timeslices"),
            );
            None
        }
    }
}

/// What an inline part of a composite takes from the composite.
struct InlineContext<'a> {
    service: &'a str,
    owner: &'a str,
    labels: &'a BTreeMap<String, String>,
    composite: &'a RawSlo,
}

/// `sli: {composite: [{slo: name, weight: 3}, {name: search, sli: {...}}]}`; `other` is the
/// rest of the `sli` section, which must be empty.
fn native_composite(
    d: &mut Diag,
    at: &str,
    other: &RawSli,
    list: Vec<RawPart>,
    whole: &InlineContext,
    specs: &mut Vec<SloSpec>,
) -> Option<Sli> {
    if other.ratio.is_some()
        || other.latency.is_some()
        || other.availability.is_some()
        || other.probe.is_some()
    {
        d.err(
            at,
            "give exactly one SLI kind: ratio, latency, availability, probe or composite",
        );
        return None;
    }
    let at = format!("{at}.composite");
    if list.is_empty() {
        d.err(&at, "a composite lists its parts: other SLOs (`slo: name`) or SLIs of their own (`name` and `sli`)");
        return None;
    }
    let before = d.errors.len();
    let mut parts = Vec::new();
    for (j, p) in list.into_iter().enumerate() {
        let pat = format!("{at}[{j}]");
        let weight = p.weight.unwrap_or(1.0);
        if !(weight.is_finite() && weight > 0.0) {
            d.err(
                format!("{pat}.weight"),
                format!("a part's weight is a number > 0 (default 1); got {weight}"),
            );
        }
        let field = format!("{}{pat}", d.prefix);
        match (p.slo, p.sli) {
            (Some(slo), None) => {
                for (set, f) in [
                    (p.name.is_some(), "name"),
                    (p.objective.is_some(), "objective"),
                ] {
                    if set {
                        d.err(format!("{pat}.{f}"), "a part that names another SLO (`slo`) takes its name and objective from that SLO; remove it");
                    }
                }
                check_ident(d, &format!("{pat}.slo"), &slo);
                parts.push(CompositePart {
                    slo,
                    key: String::new(),
                    weight,
                    field,
                });
            }
            (None, Some(sli)) => {
                if sli.composite.is_some() {
                    d.err(
                        format!("{pat}.sli.composite"),
                        "a part cannot be composite itself (composites do not nest)",
                    );
                    continue;
                }
                let Some(name) = p.name else {
                    d.err(format!("{pat}.name"), "an inline part needs a name; it becomes the SLO <composite>-<name>");
                    continue;
                };
                let c = whole.composite;
                let raw = RawSlo {
                    name: format!("{}-{name}", c.name),
                    description: p.description,
                    owner: Some(whole.owner.to_string()),
                    objective: p.objective.unwrap_or(c.objective),
                    window: c.window.clone(),
                    budgeting: c.budgeting.clone(),
                    labels: BTreeMap::new(),
                    sli,
                    alerting: AlertingInput::default(),
                };
                let key = format!("{}/{}", whole.service, raw.name);
                let mut nested = Vec::new();
                if let Some(spec) =
                    native_slo(d, &pat, whole.service, whole.owner, whole.labels, raw, &mut nested)
                {
                    specs.push(spec);
                }
                parts.push(CompositePart {
                    slo: key.clone(),
                    key,
                    weight,
                    field,
                });
            }
            _ => d.err(
                &pat,
                "give exactly one of `slo` (another SLO's name) or `name` and `sli` (an SLI of its own)",
            ),
        }
    }
    (d.errors.len() == before).then_some(Sli::Composite(parts))
}

fn native_objective(d: &mut Diag, field: &str, v: f64) -> Option<Objective> {
    if !(v > 0.0 && v < 100.0) {
        d.err(
            field,
            format!("objective is a percentage between 0 and 100 (exclusive), e.g. 99.9; got {v}"),
        );
        None
    } else if v <= 1.0 {
        d.err(
            field,
            format!(
                "objective is a percentage: {v} means {v} %, not {} %; write e.g. 99.9",
                v * 100.0
            ),
        );
        None
    } else {
        Some(Objective(v))
    }
}

fn native_sli(d: &mut Diag, at: &str, raw: RawSli) -> Option<Sli> {
    let kinds = [
        raw.ratio.is_some(),
        raw.latency.is_some(),
        raw.availability.is_some(),
        raw.probe.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        d.err(
            at,
            "give exactly one SLI kind: ratio, latency, availability, probe or composite",
        );
        return None;
    }
    if let Some(r) = raw.ratio {
        let total = check_window_query(d, &format!("{at}.ratio.total"), &r.total);
        let events = match (r.errors, r.good) {
            (Some(e), None) => {
                check_window_query(d, &format!("{at}.ratio.errors"), &e).map(RatioEvents::Bad)
            }
            (None, Some(g)) => {
                check_window_query(d, &format!("{at}.ratio.good"), &g).map(RatioEvents::Good)
            }
            _ => {
                d.err(
                    format!("{at}.ratio"),
                    "give exactly one of `errors` (bad events) or `good`, plus `total`",
                );
                None
            }
        };
        return Some(Sli::Ratio {
            events: events?,
            total: total?,
        });
    }
    if let Some(l) = raw.latency {
        let metric_ok = is_metric_name(&l.metric) && (l.native || !l.metric.ends_with("_bucket"));
        if !metric_ok && l.native {
            d.err(
                format!("{at}.latency.metric"),
                format!("{:?} must be a native histogram's metric name", l.metric),
            );
        } else if !metric_ok {
            d.err(format!("{at}.latency.metric"), format!("{:?} must be a histogram's base metric name, without _bucket (e.g. http_request_duration_seconds)", l.metric));
        }
        let matchers = crate::promql::strip_comments(&l.selector)
            .trim()
            .trim_start_matches('{')
            .trim_end_matches('}')
            .trim()
            .to_string();
        let suffix = if l.native { "" } else { "_count" };
        let selector_ok = check_promql(
            d,
            &format!("{at}.latency.selector"),
            &format!("{}{suffix}{{{matchers}}}", l.metric),
        )
        .is_some();
        if matchers.contains("le=") || matchers.contains("le!") || matchers.contains("le =") {
            d.err(
                format!("{at}.latency.selector"),
                "must not match on `le`: the bucket comes from `threshold`",
            );
        }
        let field = format!("{at}.latency.threshold");
        let written = match &l.threshold {
            serde_yaml_ng::Value::String(s) => Some(s.trim().to_string()),
            serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
            other => {
                d.err(
                    &field,
                    format!("expected a number such as \"0.25\", got {other:?}"),
                );
                None
            }
        };
        let threshold = written.and_then(|w| {
            if l.native {
                check_native_threshold(d, &field, &w)
            } else {
                check_bucket_boundary(d, &field, &w)
            }
        });
        if !metric_ok || !selector_ok {
            return None;
        }
        return Some(Sli::Latency(LatencySli {
            metric: l.metric,
            matchers,
            threshold: threshold?,
            native: l.native,
        }));
    }
    if let Some(a) = raw.availability {
        let field = format!("{at}.availability.query");
        if a.query.contains("{{") {
            d.err(&field, "an availability query is a 0/1 gauge such as up{job=\"x\"} or probe_success{...}; it takes no {{.window}}");
            return None;
        }
        let query = check_promql(d, &field, &a.query)?;
        return Some(Sli::Availability { query });
    }
    let p = raw.probe?;
    let pat = format!("{at}.probe");
    let url_ok = p.url.starts_with("http://") || p.url.starts_with("https://");
    if !url_ok {
        d.err(
            format!("{pat}.url"),
            format!("{:?} must be an http:// or https:// URL", p.url),
        );
    }
    let method = p.method.to_ascii_uppercase();
    if !["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"].contains(&method.as_str()) {
        d.err(
            format!("{pat}.method"),
            format!("unknown HTTP method {:?}", p.method),
        );
    }
    if !(100..=599).contains(&p.expected_status) {
        d.err(
            format!("{pat}.expected_status"),
            format!("{} is not an HTTP status", p.expected_status),
        );
    }
    let timeout = check_duration(d, &format!("{pat}.timeout"), &p.timeout);
    let interval = check_duration(d, &format!("{pat}.interval"), &p.interval);
    if let (Some(t), Some(i)) = (timeout, interval) {
        if t > i {
            d.err(
                format!("{pat}.timeout"),
                format!(
                    "timeout {} is longer than the interval {}",
                    p.timeout, p.interval
                ),
            );
        }
    }
    Some(Sli::Probe(ProbeSpec {
        method,
        url: p.url,
        expected_status: p.expected_status,
        timeout: timeout?,
        interval: interval?,
    }))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn errors(window: &str, budgeting: &str) -> Vec<(String, String)> {
        let text = format!(
            "version: redline/v1\nservice: s\nowner: o\nslos:\n  - name: n\n    objective: 99\n    window: {window}\n{budgeting}    sli:\n      availability: {{query: up}}\n"
        );
        match crate::slo::parse_text(Path::new("f.yml"), &text) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| (e.field, e.message)).collect(),
        }
    }

    #[test]
    fn calendar_and_budgeting_errors_name_the_field() {
        assert!(errors(
            "{calendar: week, start_day: sunday, time_zone: Asia/Tokyo}",
            ""
        )
        .is_empty());
        assert!(errors(
            "{calendar: month, start_day: 28}",
            "    budgeting: {method: ratio_timeslices, slice: 5m}\n"
        )
        .is_empty());
        let cases = [
            (
                "{calendar: month, time_zone: Europe/Berlim}",
                "",
                "slos[0].window.time_zone",
            ),
            (
                "{calendar: month, start_day: 29}",
                "",
                "slos[0].window.start_day",
            ),
            (
                "{calendar: week, start_day: 1}",
                "",
                "slos[0].window.start_day",
            ),
            ("{calendar: quarter}", "", "slos[0].window.calendar"),
            (
                "{rolling: 30d, time_zone: UTC}",
                "",
                "slos[0].window.time_zone",
            ),
            (
                "{rolling: 30d}",
                "    budgeting: {method: timeslices, slice: 7m, slice_target: 0.9}\n",
                "slos[0].budgeting.slice",
            ),
            (
                "{rolling: 30d}",
                "    budgeting: {method: timeslices, slice: 10m, slice_target: 0.9}\n",
                "slos[0].budgeting.slice",
            ),
            (
                "{rolling: 30d}",
                "    budgeting: {method: timeslices, slice: 1m}\n",
                "slos[0].budgeting.slice_target",
            ),
            (
                "{rolling: 30d}",
                "    budgeting: {method: minutes}\n",
                "slos[0].budgeting.method",
            ),
        ];
        for (window, budgeting, field) in cases {
            let e = errors(window, budgeting);
            assert_eq!(e.len(), 1, "{window} {budgeting}: {e:?}");
            assert_eq!(e[0].0, field, "{e:?}");
        }
    }
}
