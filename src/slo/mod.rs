//! Service level objectives: the spec half.
//!
//! An SLO file is read in one of four formats and validated into one typed [`SloSpec`]:
//! redline's own (`version: redline/v1`, [`spec`]), Sloth's `prometheus/v1` and
//! `sloth.slok.dev/v1` CRD ([`sloth`]), OpenSLO v1 `SLO`/`SLI` objects ([`openslo`]) and Pyrra's
//! `ServiceLevelObjective` CRD ([`pyrra`]). The typed spec is what everything else runs from: [`mod@generate`] writes an equivalent Prometheus rule file (multi-window multi-burn-rate
//! alerts, traffic-weighted windows) for teams that keep Prometheus, and the runtime (ledger,
//! budgets, burn-rate evaluation, probes) takes the same spec, asking [`Sli::event_queries`]
//! for the PromQL that counts bad and total events.
//!
//! Nothing a file says is silently dropped: a field redline does not support is a [`SloError`]
//! naming the file and the field path (`slos[0].sli.plugin: …`).
//!
//! ```
//! // A scratch directory, removed at the end (a test helper of the crate).
//! let dir = redline::testdir::TempDir::new("slo-doc");
//! let file = dir.join("checkout.yml");
//! std::fs::write(&file, r#"
//! version: redline/v1
//! service: checkout
//! owner: team-payments
//! slos:
//!   - name: requests-availability
//!     objective: 99.9
//!     window: {rolling: 30d}
//!     sli:
//!       ratio:
//!         errors: sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))
//!         total: sum(rate(http_requests_total{job="checkout"}[{{.window}}]))
//! "#).unwrap();
//! let checked = redline::slo::check_files(&[file.clone()]).unwrap();
//! assert_eq!(checked[0].1, 1);
//! let rules = redline::slo::generate(&[file]).unwrap();
//! assert!(rules.contains("slo:sli_error:ratio_rate5m"));
//! assert!(rules.contains("CheckoutRequestsAvailabilityBurnRatePage"));
//! ```

pub mod backfill;
pub mod calendar;
pub mod composite;
pub mod engine;
pub mod figures;
pub mod forecast;
pub mod generate;
pub mod ledger;
pub mod native;
pub mod openslo;
pub mod policy;
pub mod probe;
pub mod pyrra;
pub mod report;
pub mod runtime;
pub mod sli;
pub mod sloth;
pub mod spec;
pub mod testkit;

pub use generate::{generate_specs, RULES_HEADER};
pub use spec::{
    burn_rate_factor, AlertTier, Alerting, BucketBoundary, Budgeting, BurnRateWindow,
    CompositePart, EventQueries, LatencySli, Objective, ProbeSpec, RatioEvents, Sli, SloSpec,
    SloWindow, SpecFormat,
};

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One problem in an SLO file: which file, which field (a path such as
/// `slos[1].sli.events.total_query`, or `(file)` / `(yaml)` for the file as a whole), what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {}: {}", .file.display(), .field, .message)]
pub struct SloError {
    pub file: PathBuf,
    pub field: String,
    pub message: String,
}

/// Collects the errors of one file with their field paths.
pub(crate) struct Diag<'a> {
    pub(crate) file: &'a Path,
    pub(crate) prefix: String,
    pub(crate) errors: Vec<SloError>,
}

impl<'a> Diag<'a> {
    pub(crate) fn new(file: &'a Path) -> Self {
        Diag {
            file,
            prefix: String::new(),
            errors: Vec::new(),
        }
    }

    pub(crate) fn err(&mut self, field: impl AsRef<str>, message: impl Into<String>) {
        let field = field.as_ref();
        let field = match (self.prefix.is_empty(), field.is_empty()) {
            (true, _) => field.to_string(),
            (false, true) => self.prefix.trim_end_matches('.').to_string(),
            (false, false) => format!("{}{field}", self.prefix),
        };
        self.errors.push(SloError {
            file: self.file.to_path_buf(),
            field,
            message: message.into(),
        });
    }

    /// Deserializes `value` into `T`, reporting a failure with its field path under `base`.
    pub(crate) fn decode<T: for<'de> Deserialize<'de>>(
        &mut self,
        base: &str,
        value: serde_yaml_ng::Value,
    ) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let path = e.path().to_string();
                let field = match (base.is_empty(), path == ".") {
                    (_, true) => base.to_string(),
                    (true, false) => path,
                    (false, false) => format!("{base}.{path}"),
                };
                let field = if field.is_empty() {
                    "(document)".into()
                } else {
                    field
                };
                self.err(field, e.into_inner().to_string());
                None
            }
        }
    }
}

/// Reads and validates SLO files; returns each file with the number of SLOs it defines, or
/// every error found (all files are read, so one run reports everything). Composite SLOs'
/// parts are resolved against all the files given together.
pub fn check_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, usize)>, Vec<SloError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut all = Vec::new();
    for p in paths {
        match load_file(p) {
            Ok(specs) => {
                out.push((p.clone(), specs.len()));
                all.extend(specs);
            }
            Err(e) => errors.extend(e),
        }
    }
    errors.extend(duplicates(&all));
    errors.extend(composite::resolve(&mut all));
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Reads and validates SLO files into typed specs (for the runtime and for [`fn@generate`]).
pub fn load_files(paths: &[PathBuf]) -> Result<Vec<SloSpec>, Vec<SloError>> {
    let mut all = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match load_file(p) {
            Ok(specs) => all.extend(specs),
            Err(e) => errors.extend(e),
        }
    }
    errors.extend(duplicates(&all));
    errors.extend(composite::resolve(&mut all));
    if errors.is_empty() {
        Ok(all)
    } else {
        Err(errors)
    }
}

/// Reads SLO files and returns one Prometheus rule file (YAML) for all their SLOs.
pub fn generate(paths: &[PathBuf]) -> Result<String, Vec<SloError>> {
    generate_specs(&load_files(paths)?)
}

/// Two SLOs with the same service and name would give duplicate rule groups and series.
fn duplicates(specs: &[SloSpec]) -> Vec<SloError> {
    let mut seen: BTreeMap<(&str, &str), &SloSpec> = BTreeMap::new();
    let mut errors = Vec::new();
    for s in specs {
        if let Some(first) = seen.insert((&s.service, &s.name), s) {
            errors.push(SloError {
                file: s.file.clone(),
                field: format!("{}.name", s.field),
                message: format!(
                    "SLO {:?} of service {:?} is already defined in {} ({}); service and name must be unique",
                    s.name,
                    s.service,
                    first.file.display(),
                    first.field
                ),
            });
        }
    }
    errors
}

/// Reads one file (any of the formats, one or more YAML documents). Composite SLOs' parts
/// are not resolved yet: they may name SLOs of other files ([`load_files`] resolves them).
pub fn load_file(path: &Path) -> Result<Vec<SloSpec>, Vec<SloError>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_text(path, &text),
        Err(e) => {
            let mut d = Diag::new(path);
            d.err("(file)", format!("cannot read: {e}"));
            Err(d.errors)
        }
    }
}

/// Validates the text of one SLO file; `path` names it in errors. Two SLOs of one service
/// with the same name in the file are an error here (across files, [`load_files`] checks).
pub fn parse_text(path: &Path, text: &str) -> Result<Vec<SloSpec>, Vec<SloError>> {
    let mut d = Diag::new(path);
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        match serde_yaml_ng::Value::deserialize(doc) {
            Ok(serde_yaml_ng::Value::Null) => {}
            Ok(v) => docs.push(v),
            Err(e) => {
                d.err("(yaml)", e.to_string());
                return Err(d.errors);
            }
        }
    }
    if docs.is_empty() {
        d.err("(file)", "no SLO spec in the file");
        return Err(d.errors);
    }
    let multi = docs.len() > 1;
    let mut specs = Vec::new();
    let mut openslo_docs = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        d.prefix = if multi {
            format!("document[{i}].")
        } else {
            String::new()
        };
        let get = |k: &str| doc.get(k).and_then(|v| v.as_str()).map(str::to_string);
        match (get("version"), get("apiVersion")) {
            (Some(v), _) if v == "redline/v1" => specs.extend(native::from_native(&mut d, doc)),
            (Some(v), _) if v == "prometheus/v1" => specs.extend(sloth::from_sloth(&mut d, doc)),
            (_, Some(a)) if a == "sloth.slok.dev/v1" => {
                specs.extend(sloth::from_sloth_crd(&mut d, doc))
            }
            (_, Some(a)) if a == "pyrra.dev/v1alpha1" => specs.extend(pyrra::from_pyrra(&mut d, doc)),
            (_, Some(_)) if get("kind").as_deref() == Some("List") => {
                specs.extend(pyrra::from_list(&mut d, doc))
            }
            (_, Some(a)) if a == "openslo/v1" => openslo_docs.push((d.prefix.clone(), doc)),
            (_, Some(a)) if a.starts_with("openslo/") => d.err(
                "apiVersion",
                format!("OpenSLO {a:?} is not supported; redline reads openslo/v1"),
            ),
            (Some(v), _) => d.err(
                "version",
                format!("unknown SLO spec version {v:?}: expected redline/v1 or prometheus/v1 (Sloth)"),
            ),
            _ => d.err(
                "(document)",
                "not an SLO spec: expected `version: redline/v1`, `version: prometheus/v1` (Sloth), `apiVersion: openslo/v1`, `apiVersion: sloth.slok.dev/v1` or `apiVersion: pyrra.dev/v1alpha1`",
            ),
        }
    }
    d.prefix.clear();
    if !openslo_docs.is_empty() {
        specs.extend(openslo::from_openslo(&mut d, openslo_docs));
    }
    d.errors.extend(duplicates(&specs));
    if d.errors.is_empty() {
        Ok(specs)
    } else {
        Err(d.errors)
    }
}
