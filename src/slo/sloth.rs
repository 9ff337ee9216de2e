//! Sloth specs, read unchanged: `version: "prometheus/v1"` files and the Kubernetes
//! `PrometheusServiceLevel` resource (`apiVersion: sloth.slok.dev/v1`, same fields under `spec`).
//!
//! Sloth has no owner field: the owner is the service's `owner` label, else its `team` label,
//! else the service name. Sloth's period is 30 days (its default); SLI plugins are not
//! supported and say so. Unknown fields are errors, as in Sloth's strict loader.

use super::spec::{
    build_alerting, check_ident, check_window_query, each_slo, AlertingInput, Objective,
    RatioEvents, Sli, SloSpec, SloWindow, SpecFormat, TierInput,
};
use super::Diag;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothFile {
    #[allow(dead_code)]
    version: String,
    service: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    slos: Vec<serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothSlo {
    name: String,
    objective: f64,
    #[serde(default)]
    description: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    sli: SlothSli,
    #[serde(default)]
    alerting: SlothAlerting,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothSli {
    events: Option<SlothEvents>,
    raw: Option<SlothRaw>,
    plugin: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothEvents {
    error_query: String,
    total_query: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothRaw {
    error_ratio_query: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothAlerting {
    name: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    page_alert: SlothAlert,
    #[serde(default)]
    ticket_alert: SlothAlert,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothAlert {
    #[serde(default)]
    disable: bool,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothCrd {
    #[allow(dead_code)]
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    #[allow(dead_code)]
    metadata: serde_yaml_ng::Value,
    spec: serde_yaml_ng::Value,
}

/// Sloth's default SLO period.
const SLOTH_PERIOD: Duration = Duration::from_secs(30 * 86_400);

/// Reads a `sloth.slok.dev/v1` `PrometheusServiceLevel`: its `spec` is a prometheus/v1 spec
/// without `version`.
pub(crate) fn from_sloth_crd(d: &mut Diag, doc: serde_yaml_ng::Value) -> Vec<SloSpec> {
    let Some(crd) = d.decode::<SlothCrd>("", doc) else {
        return Vec::new();
    };
    if crd.kind != "PrometheusServiceLevel" {
        d.err(
            "kind",
            format!(
                "{:?} is not supported; redline reads Sloth's PrometheusServiceLevel",
                crd.kind
            ),
        );
        return Vec::new();
    }
    let mut spec = crd.spec;
    if let serde_yaml_ng::Value::Mapping(m) = &mut spec {
        m.insert("version".into(), "prometheus/v1".into());
    }
    let saved = d.prefix.clone();
    d.prefix = format!("{saved}spec.");
    let out = from_sloth(d, spec);
    d.prefix = saved;
    out
}

/// Validates one Sloth `prometheus/v1` document.
pub(crate) fn from_sloth(d: &mut Diag, doc: serde_yaml_ng::Value) -> Vec<SloSpec> {
    let Some(file) = d.decode::<SlothFile>("", doc) else {
        return Vec::new();
    };
    check_ident(d, "service", &file.service);
    let owner = file
        .labels
        .get("owner")
        .or_else(|| file.labels.get("team"))
        .cloned()
        .unwrap_or_else(|| file.service.clone());
    each_slo(d, file.slos, |d, at, raw: SlothSlo| {
        sloth_slo(d, at, &file.service, &owner, &file.labels, raw)
    })
}

fn sloth_slo(
    d: &mut Diag,
    at: &str,
    service: &str,
    owner: &str,
    file_labels: &BTreeMap<String, String>,
    raw: SlothSlo,
) -> Option<SloSpec> {
    let before = d.errors.len();
    check_ident(d, &format!("{at}.name"), &raw.name);
    let objective = if raw.objective > 0.0 && raw.objective < 100.0 {
        Some(Objective(raw.objective))
    } else {
        d.err(
            format!("{at}.objective"),
            format!(
                "must be a percentage between 0 and 100 (exclusive), got {}",
                raw.objective
            ),
        );
        None
    };
    let sli = sloth_sli(d, &format!("{at}.sli"), raw.sli);
    let window = SloWindow::Rolling(SLOTH_PERIOD);
    let mut labels = file_labels.clone();
    labels.extend(raw.labels);
    let a = raw.alerting;
    let tier = |t: SlothAlert| TierInput {
        disable: t.disable,
        labels: t.labels,
        annotations: t.annotations,
        factors: BTreeMap::new(),
    };
    let input = AlertingInput {
        name: a.name,
        labels: a.labels,
        annotations: a.annotations,
        page: tier(a.page_alert),
        ticket: tier(a.ticket_alert),
        forecast: None,
    };
    let objective = objective?;
    let alerting = build_alerting(
        d,
        &format!("{at}.alerting"),
        service,
        &raw.name,
        window,
        objective,
        input,
    );
    let sli = sli?;
    if d.errors.len() > before {
        return None;
    }
    Some(SloSpec {
        format: SpecFormat::Sloth,
        file: d.file.to_path_buf(),
        field: format!("{}{at}", d.prefix),
        service: service.to_string(),
        name: raw.name,
        owner: owner.to_string(),
        description: raw.description,
        objective,
        window,
        sli,
        labels,
        alerting,
    })
}

fn sloth_sli(d: &mut Diag, at: &str, sli: SlothSli) -> Option<Sli> {
    match (sli.events, sli.raw, sli.plugin) {
        (_, _, Some(_)) => {
            d.err(
                format!("{at}.plugin"),
                "Sloth SLI plugins are not supported by redline; write the plugin's queries as sli.events (error_query/total_query) or sli.raw",
            );
            None
        }
        (Some(e), None, None) => {
            let bad = check_window_query(d, &format!("{at}.events.error_query"), &e.error_query);
            let total = check_window_query(d, &format!("{at}.events.total_query"), &e.total_query);
            Some(Sli::Ratio {
                events: RatioEvents::Bad(bad?),
                total: total?,
            })
        }
        (None, Some(r), None) => {
            let field = format!("{at}.raw.error_ratio_query");
            let query = check_window_query(d, &field, &r.error_ratio_query)?;
            Some(Sli::ErrorRatio { query })
        }
        _ => {
            d.err(at, "give exactly one of events, raw or plugin");
            None
        }
    }
}
