//! Dashboard definitions as data: `dashboards/*.yaml`, embedded in the binary.
//!
//! A [`Dashboard`] is a list of [`Panel`]s, each with its PromQL [`Target`]s, a [`Unit`], a
//! kind (line chart, single stat, table) and optional warning/critical thresholds. The USE,
//! RED and SLO pages render these definitions, and [`grafana_json`] turns the same
//! definitions into Grafana dashboards (`redline dashboards export --grafana DIR`), so the
//! built-in pages and Grafana show the same queries.
//!
//! ```yaml
//! uid: redline-use-node
//! title: "USE: nodes"
//! key: [node]                 # table rows are keyed by these labels
//! panels:
//!   - title: CPU utilisation
//!     kind: table             # line | stat | table
//!     signal: utilisation     # utilisation | saturation | errors (USE tables group by it)
//!     unit: percent           # percent (a 0..1 ratio) | seconds | reqps | bytes | short
//!     thresholds: {warning: 0.8, critical: 0.9}
//!     expr: instance:node_cpu_utilisation:rate5m
//!     legend: "{{node}}"
//! ```

use super::chart::Unit;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The shipped definitions, embedded at build time: `(file name, YAML)`.
pub const EMBEDDED: [(&str, &str); 5] = [
    (
        "use-cluster.yaml",
        include_str!("../../../dashboards/use-cluster.yaml"),
    ),
    (
        "use-node.yaml",
        include_str!("../../../dashboards/use-node.yaml"),
    ),
    (
        "use-container.yaml",
        include_str!("../../../dashboards/use-container.yaml"),
    ),
    (
        "red-service.yaml",
        include_str!("../../../dashboards/red-service.yaml"),
    ),
    (
        "slo-overview.yaml",
        include_str!("../../../dashboards/slo-overview.yaml"),
    ),
];

/// One dashboard.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// Stable id (Grafana's `uid`, at most 40 characters).
    pub uid: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Labels that identify a table row (e.g. `[node]`, `[namespace, pod, container]`).
    #[serde(default)]
    pub key: Vec<String>,
    pub panels: Vec<Panel>,
}

/// How a panel shows its data.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PanelKind {
    /// Values over time.
    #[default]
    Line,
    /// One current value.
    Stat,
    /// Current values, one row per key.
    Table,
}

/// Warning and critical levels; above them (or below them, with `lower_is_worse`) a value is
/// coloured.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    /// Low values are bad (e.g. an SLI or remaining budget).
    #[serde(default)]
    pub lower_is_worse: bool,
}

/// How bad a value is against [`Thresholds`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Ok,
    Warning,
    Critical,
}

impl Severity {
    /// The CSS class the pages colour with.
    pub fn class(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl Thresholds {
    /// The severity of `v`.
    pub fn severity(&self, v: f64) -> Severity {
        let over = |t: Option<f64>| match t {
            Some(t) if self.lower_is_worse => v <= t,
            Some(t) => v >= t,
            None => false,
        };
        if over(self.critical) {
            Severity::Critical
        } else if over(self.warning) {
            Severity::Warning
        } else {
            Severity::Ok
        }
    }

    fn levels(&self) -> Vec<f64> {
        self.warning.into_iter().chain(self.critical).collect()
    }
}

/// One panel.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    pub title: String,
    #[serde(default)]
    pub kind: PanelKind,
    #[serde(default)]
    pub unit: Unit,
    /// `utilisation`, `saturation` or `errors` on USE dashboards; `rate`, `errors` or
    /// `duration` on RED ones.
    #[serde(default)]
    pub signal: Option<String>,
    #[serde(default)]
    pub thresholds: Option<Thresholds>,
    #[serde(default)]
    pub description: String,
    /// Shorthand for a single target.
    #[serde(default)]
    pub expr: Option<String>,
    #[serde(default)]
    pub legend: Option<String>,
    #[serde(default)]
    pub targets: Vec<Target>,
}

/// One query of a panel.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub expr: String,
    /// Series name template: `{{label}}` is replaced by the label's value.
    #[serde(default)]
    pub legend: Option<String>,
}

impl Panel {
    /// The panel's queries (`expr` shorthand first, then `targets`).
    pub fn queries(&self) -> Vec<Target> {
        self.expr
            .iter()
            .map(|e| Target {
                expr: e.clone(),
                legend: self.legend.clone(),
            })
            .chain(self.targets.iter().cloned())
            .collect()
    }

    /// The threshold levels to draw.
    pub fn threshold_levels(&self) -> Vec<f64> {
        self.thresholds.map(|t| t.levels()).unwrap_or_default()
    }
}

impl Dashboard {
    /// The panel titled `title`.
    pub fn panel(&self, title: &str) -> Option<&Panel> {
        self.panels.iter().find(|p| p.title == title)
    }

    /// Panels with `signal`.
    pub fn by_signal<'a>(&'a self, signal: &'a str) -> impl Iterator<Item = &'a Panel> + 'a {
        self.panels
            .iter()
            .filter(move |p| p.signal.as_deref() == Some(signal))
    }
}

/// `{{label}}` in `template` replaced by the label values `get` returns (missing → empty).
pub fn expand_legend<'a>(template: &str, get: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            out.push_str(&rest[i..]);
            return out;
        };
        out.push_str(get(after[..j].trim()).unwrap_or(""));
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    out
}

/// A definition that failed to load: the file, where in it and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum DefsError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Parses and checks one definition file: every query must parse as PromQL.
pub fn parse(text: &str, file: &str) -> Result<Dashboard, DefsError> {
    let invalid = |message: String| DefsError::Invalid {
        file: file.to_string(),
        message,
    };
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let d: Dashboard = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        invalid(format!("{path}: {}", e.into_inner()))
    })?;
    if d.uid.is_empty() || d.uid.len() > 40 {
        return Err(invalid(format!(
            "uid: expected 1 to 40 characters, got {:?}",
            d.uid
        )));
    }
    for (i, p) in d.panels.iter().enumerate() {
        let queries = p.queries();
        if queries.is_empty() {
            return Err(invalid(format!(
                "panels[{i}] ({}): expected `expr` or `targets`",
                p.title
            )));
        }
        for (j, q) in queries.iter().enumerate() {
            if let Err(e) = crate::promql::Engine::parse(&q.expr) {
                return Err(invalid(format!(
                    "panels[{i}] ({}) query {j}: invalid PromQL {:?}: {e}",
                    p.title, q.expr
                )));
            }
        }
    }
    Ok(d)
}

/// The embedded definitions, parsed once.
pub fn builtin() -> &'static [Dashboard] {
    static DEFS: OnceLock<Vec<Dashboard>> = OnceLock::new();
    DEFS.get_or_init(|| {
        EMBEDDED
            .iter()
            .filter_map(|(name, text)| match parse(text, name) {
                Ok(d) => Some(d),
                Err(e) => {
                    // Unit tests keep the embedded files valid; a bad one is skipped, not fatal.
                    tracing::error!(error = %e, "embedded dashboard definition is invalid");
                    None
                }
            })
            .collect()
    })
}

/// The built-in dashboard with `uid`.
pub fn builtin_dashboard(uid: &str) -> Option<&'static Dashboard> {
    builtin().iter().find(|d| d.uid == uid)
}

/// Loads every `*.yaml`/`*.yml` in `dir`, in file-name order.
pub fn load_dir(dir: &Path) -> Result<Vec<Dashboard>, DefsError> {
    let io = |source| DefsError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml") | Some("yml")
            )
        })
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|source| DefsError::Io {
                path: p.display().to_string(),
                source,
            })?;
            parse(&text, &p.display().to_string())
        })
        .collect()
}

/// The Grafana datasource reference every panel uses: the `${datasource}` variable.
fn datasource() -> Json {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

/// `d` as a Grafana dashboard (schema version 39) with a Prometheus data source variable.
pub fn grafana_json(d: &Dashboard) -> Json {
    let mut panels = Vec::new();
    let (mut x, mut y) = (0u32, 0u32);
    for (i, p) in d.panels.iter().enumerate() {
        let (w, h) = match p.kind {
            PanelKind::Stat => (6, 4),
            PanelKind::Line => (12, 8),
            PanelKind::Table => (24, 8),
        };
        if x + w > 24 {
            x = 0;
            y += 8;
        }
        let targets: Vec<Json> = p
            .queries()
            .iter()
            .enumerate()
            .map(|(j, q)| {
                let mut t = json!({
                    "refId": ref_id(j),
                    "datasource": datasource(),
                    "expr": q.expr,
                    "legendFormat": q.legend.clone().unwrap_or_else(|| "__auto".into()),
                    "range": p.kind == PanelKind::Line,
                    "instant": p.kind != PanelKind::Line,
                });
                if p.kind == PanelKind::Table {
                    t["format"] = json!("table");
                }
                t
            })
            .collect();
        let mut steps = vec![json!({"color": "green", "value": null})];
        if let Some(t) = p.thresholds {
            if t.lower_is_worse {
                steps = vec![json!({"color": "red", "value": null})];
                if let Some(c) = t.critical {
                    steps.push(json!({"color": "orange", "value": c}));
                }
                if let Some(w) = t.warning {
                    steps.push(json!({"color": "green", "value": w}));
                }
            } else {
                if let Some(w) = t.warning {
                    steps.push(json!({"color": "orange", "value": w}));
                }
                if let Some(c) = t.critical {
                    steps.push(json!({"color": "red", "value": c}));
                }
            }
        }
        let (kind, options) = match p.kind {
            PanelKind::Line => (
                "timeseries",
                json!({"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
                       "tooltip": {"mode": "multi", "sort": "desc"}}),
            ),
            PanelKind::Stat => (
                "stat",
                json!({"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
                       "colorMode": "background", "graphMode": "area", "textMode": "auto"}),
            ),
            PanelKind::Table => ("table", json!({"showHeader": true, "cellHeight": "sm"})),
        };
        let mut defaults = json!({
            "unit": p.unit.grafana(),
            "thresholds": {"mode": "absolute", "steps": steps},
            "color": {"mode": if p.kind == PanelKind::Line { "palette-classic" } else { "thresholds" }},
        });
        if p.unit == super::chart::Unit::Percent {
            defaults["min"] = json!(0);
        }
        if p.kind == PanelKind::Line && p.thresholds.is_some() {
            defaults["custom"] = json!({"thresholdsStyle": {"mode": "dashed"}});
        }
        let mut panel = json!({
            "id": i + 1,
            "type": kind,
            "title": p.title,
            "description": p.description,
            "datasource": datasource(),
            "gridPos": {"h": h, "w": w, "x": x, "y": y},
            "targets": targets,
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": options,
        });
        if p.kind == PanelKind::Table {
            panel["transformations"] = json!([{"id": "merge", "options": {}}]);
        }
        panels.push(panel);
        x += w;
    }
    json!({
        "uid": d.uid,
        "title": d.title,
        "description": d.description,
        "tags": d.tags,
        "editable": true,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [{
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "refresh": 1,
            "regex": "",
            "options": [],
            "includeAll": false,
            "multi": false,
        }]},
        "panels": panels,
    })
}

fn ref_id(i: usize) -> String {
    let mut s = String::new();
    let mut n = i;
    loop {
        s.insert(0, (b'A' + (n % 26) as u8) as char);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    s
}

/// Writes `<uid>.json` for each dashboard into `dir` (created if missing); returns the paths.
pub fn export_grafana(dashboards: &[Dashboard], dir: &Path) -> Result<Vec<PathBuf>, DefsError> {
    std::fs::create_dir_all(dir).map_err(|source| DefsError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut written = Vec::new();
    for d in dashboards {
        let path = dir.join(format!("{}.json", d.uid));
        let mut text =
            serde_json::to_string_pretty(&grafana_json(d)).map_err(|e| DefsError::Invalid {
                file: path.display().to_string(),
                message: e.to_string(),
            })?;
        text.push('\n');
        std::fs::write(&path, text).map_err(|source| DefsError::Io {
            path: path.display().to_string(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_definition_parses_with_valid_promql() {
        for (name, text) in EMBEDDED {
            let d = parse(text, name).unwrap_or_else(|e| panic!("{e}"));
            assert!(!d.panels.is_empty(), "{name} has no panels");
        }
        assert_eq!(builtin().len(), EMBEDDED.len());
    }

    #[test]
    fn embedded_definitions_match_the_files_in_dashboards_dir() {
        let mut from_disk = load_dir(Path::new("dashboards")).unwrap();
        let mut embedded = builtin().to_vec();
        from_disk.sort_by(|a, b| a.uid.cmp(&b.uid));
        embedded.sort_by(|a, b| a.uid.cmp(&b.uid));
        assert_eq!(from_disk, embedded);
    }

    #[test]
    fn invalid_promql_names_the_file_and_panel() {
        let e = parse(
            "uid: x\ntitle: X\npanels:\n  - title: Broken\n    expr: 'rate(x[5m]'\n",
            "dashboards/x.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("dashboards/x.yaml: panels[0] (Broken)"),
            "{e}"
        );
        let e = parse("uid: x\ntitle: X\npanels:\n  - titel: a\n", "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("panels[0]") && e.contains("titel"), "{e}");
    }

    #[test]
    fn thresholds_colour_values() {
        let t = Thresholds {
            warning: Some(0.8),
            critical: Some(0.9),
            lower_is_worse: false,
        };
        assert_eq!(t.severity(0.5), Severity::Ok);
        assert_eq!(t.severity(0.85), Severity::Warning);
        assert_eq!(t.severity(0.95), Severity::Critical);
        let low = Thresholds {
            warning: Some(0.5),
            critical: Some(0.1),
            lower_is_worse: true,
        };
        assert_eq!(low.severity(0.05), Severity::Critical);
        assert_eq!(low.severity(0.9), Severity::Ok);
    }

    #[test]
    fn legend_templates_expand_labels() {
        let get = |n: &str| match n {
            "node" => Some("node-a"),
            _ => None,
        };
        assert_eq!(expand_legend("{{node}} p99", get), "node-a p99");
        assert_eq!(expand_legend("{{ missing }}x", get), "x");
        assert_eq!(expand_legend("{{broken", get), "{{broken");
    }

    #[test]
    fn grafana_export_parses_and_every_panel_query_is_valid_promql() {
        let dir = crate::testdir::TempDir::new("grafana");
        let written = export_grafana(builtin(), &dir).unwrap();
        assert_eq!(written.len(), builtin().len());
        for path in &written {
            let text = std::fs::read_to_string(path).unwrap();
            let v: Json = serde_json::from_str(&text).unwrap();
            assert_eq!(v["schemaVersion"], 39);
            assert_eq!(v["templating"]["list"][0]["type"], "datasource");
            assert_eq!(v["templating"]["list"][0]["query"], "prometheus");
            let panels = v["panels"].as_array().unwrap();
            assert!(!panels.is_empty());
            for p in panels {
                assert_eq!(p["datasource"]["uid"], "${datasource}");
                assert!(["timeseries", "stat", "table"].contains(&p["type"].as_str().unwrap()));
                assert!(p["fieldConfig"]["defaults"]["unit"].is_string());
                for t in p["targets"].as_array().unwrap() {
                    let expr = t["expr"].as_str().unwrap();
                    crate::promql::Engine::parse(expr)
                        .unwrap_or_else(|e| panic!("{}: {expr}: {e}", path.display()));
                }
            }
        }
    }

    #[test]
    fn shipped_grafana_dashboards_are_up_to_date() {
        let dir = Path::new("dashboards/grafana");
        for d in builtin() {
            let path = dir.join(format!("{}.json", d.uid));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; run `redline dashboards export --grafana dashboards/grafana`",
                    path.display()
                )
            });
            let shipped: Json = serde_json::from_str(&text).unwrap();
            assert_eq!(
                shipped,
                grafana_json(d),
                "{} is stale; run `redline dashboards export --grafana dashboards/grafana`",
                path.display()
            );
        }
    }

    #[test]
    fn ref_ids_are_letters() {
        assert_eq!(ref_id(0), "A");
        assert_eq!(ref_id(25), "Z");
        assert_eq!(ref_id(26), "AA");
    }
}
