//! Rule files as Prometheus reads them (`rulefmt`): parsing, validation and glob loading.
//!
//! A file holds `groups:`; each [`RuleGroup`] has a `name`, optional `interval`, `limit`,
//! `query_offset` and `labels`, and its [`Rule`]s (`record` or `alert`, `expr`, `for`,
//! `keep_firing_for`, `labels`, `annotations`). Parsing is strict (unknown fields are errors,
//! as upstream's `UnmarshalStrict`), then every rule is validated as upstream does: exactly one
//! of `record`/`alert`, an expression that parses, valid names, templates that parse. Every
//! problem is a [`RuleFileError`] naming the file and line. [`load_rule_files`] expands
//! `rule_files` globs (in the file-name part, as `filepath.Glob`) and loads the groups;
//! [`check_rule_files`] is `redline check rules`.

use crate::config::{locate, FieldPath};
use crate::gotemplate::{Template, TemplateError};
use crate::promql::{Engine, Expr, QueryError};
use crate::store::{Labels, METRIC_NAME};
use crate::timefmt::parse_duration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A rule group as loaded: what the scheduler evaluates, in file order.
#[derive(Clone, Debug)]
pub struct RuleGroup {
    pub name: String,
    /// The file the group came from.
    pub file: PathBuf,
    /// The group's own `interval`; `None` means the global `evaluation_interval`.
    pub interval: Option<Duration>,
    /// Series (recording) or alerts (alerting) one rule may produce; 0 = no limit.
    pub limit: usize,
    /// How far back rules evaluate (`query_offset`); `None` means the global
    /// `rule_query_offset`.
    pub query_offset: Option<Duration>,
    /// The group's `labels` (already merged into each rule's `labels`, kept for the API).
    pub labels: Labels,
    pub rules: Vec<Rule>,
    /// 1-based line of the group in its file (0 if unknown).
    pub line: usize,
}

/// One rule of a group.
#[derive(Clone, Debug)]
pub struct Rule {
    pub kind: RuleKind,
    /// The expression as written.
    pub expr: String,
    /// The parsed expression.
    pub query: Expr,
    /// The rule's labels merged over the group's labels, as written (for alerting rules the
    /// values are templates, expanded per alert).
    pub labels: Labels,
    /// 1-based line of the rule in its file (0 if unknown).
    pub line: usize,
    /// Parsed label templates (alerting rules only), by label name.
    pub(crate) label_templates: Vec<(String, Template)>,
}

/// What a rule produces.
#[derive(Clone, Debug)]
pub enum RuleKind {
    /// Writes the expression's result as series named `record`.
    Recording { record: String },
    /// Turns the expression's result into alerts named `alert`.
    Alerting {
        alert: String,
        /// How long an alert stays pending before it fires (`for`).
        for_: Duration,
        /// How long a firing alert keeps firing after the expression stops returning it.
        keep_firing_for: Duration,
        /// Annotation templates by name, sorted by name; [`Template::source`] gives the text.
        annotations: Vec<(String, Template)>,
    },
}

impl Rule {
    /// The rule's name: `record` or `alert`.
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Recording { record } => record,
            RuleKind::Alerting { alert, .. } => alert,
        }
    }

    pub fn is_alerting(&self) -> bool {
        matches!(self.kind, RuleKind::Alerting { .. })
    }

    /// A recording rule built in code (tests, generated rules).
    pub fn recording(record: &str, expr: &str, labels: Labels) -> Result<Rule, RuleBuildError> {
        let query = Engine::parse(expr).map_err(RuleBuildError::Expr)?;
        Ok(Rule {
            kind: RuleKind::Recording {
                record: record.to_string(),
            },
            expr: expr.to_string(),
            query,
            labels,
            line: 0,
            label_templates: Vec::new(),
        })
    }

    /// An alerting rule built in code (tests, generated rules); label values and annotations
    /// are templates.
    pub fn alerting(
        alert: &str,
        expr: &str,
        for_: Duration,
        keep_firing_for: Duration,
        labels: Labels,
        annotations: Labels,
    ) -> Result<Rule, RuleBuildError> {
        let query = Engine::parse(expr).map_err(RuleBuildError::Expr)?;
        let tname = format!("__alert_{alert}");
        let mut label_templates = Vec::new();
        for l in labels.iter() {
            let t = Template::parse(&tname, &l.value).map_err(|source| RuleBuildError::Label {
                name: l.name.to_string(),
                source,
            })?;
            label_templates.push((l.name.to_string(), t));
        }
        let mut anns = Vec::new();
        for l in annotations.iter() {
            let t =
                Template::parse(&tname, &l.value).map_err(|source| RuleBuildError::Annotation {
                    name: l.name.to_string(),
                    source,
                })?;
            anns.push((l.name.to_string(), t));
        }
        Ok(Rule {
            kind: RuleKind::Alerting {
                alert: alert.to_string(),
                for_,
                keep_firing_for,
                annotations: anns,
            },
            expr: expr.to_string(),
            query,
            labels,
            line: 0,
            label_templates,
        })
    }
}

/// Why a rule built in code ([`Rule::recording`], [`Rule::alerting`]) is not valid.
#[derive(Debug, thiserror::Error)]
pub enum RuleBuildError {
    #[error("could not parse expression: {0}")]
    Expr(#[source] QueryError),
    #[error("label {name:?}: {source}")]
    Label {
        name: String,
        #[source]
        source: TemplateError,
    },
    #[error("annotation {name:?}: {source}")]
    Annotation {
        name: String,
        #[source]
        source: TemplateError,
    },
}

/// A problem with a rule file, naming the file and (when known) the line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleFileError {
    #[error("{path}: {msg}")]
    Read { path: PathBuf, msg: String },
    /// YAML that does not parse or does not fit the schema (unknown field, wrong type).
    #[error("{path}: {msg}")]
    Yaml { path: PathBuf, msg: String },
    /// A group-level problem (empty or repeated name, bad interval).
    #[error("{path}:{line}: {msg}")]
    Group {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    /// A rule-level problem: `FILE:LINE: group "g", rule N, "name": what`.
    #[error("{path}:{line}: group {group:?}, rule {index}, {rule:?}: {msg}")]
    Rule {
        path: PathBuf,
        line: usize,
        group: String,
        /// 1-based position of the rule in its group.
        index: usize,
        rule: String,
        msg: String,
    },
    /// A `rule_files` pattern that is not a valid glob.
    #[error("{pattern}: {msg}")]
    Pattern { pattern: String, msg: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<RawGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    name: String,
    interval: Option<String>,
    query_offset: Option<String>,
    #[serde(default)]
    limit: usize,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: String,
    #[serde(default)]
    alert: String,
    #[serde(default)]
    expr: String,
    #[serde(rename = "for")]
    for_: Option<String>,
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Parses one rule file's text. `path` is used in errors and stored in the groups. All
/// problems are returned, as `promtool check rules` lists them.
pub fn parse_rule_file(path: &Path, text: &str) -> Result<Vec<RuleGroup>, Vec<RuleFileError>> {
    parse_rule_file_with(path, text, false)
}

/// [`parse_rule_file`]; with `ignore_unknown_fields`, fields Prometheus does not know are
/// skipped instead of being errors (promtool's `--ignore-unknown-fields`, upstream's
/// `rulefmt.Parse(content, ignoreUnknownFields)`).
pub fn parse_rule_file_with(
    path: &Path,
    text: &str,
    ignore_unknown_fields: bool,
) -> Result<Vec<RuleGroup>, Vec<RuleFileError>> {
    let yaml_err = |msg: String| {
        vec![RuleFileError::Yaml {
            path: path.to_path_buf(),
            msg,
        }]
    };
    let raw: RawFile = if text.trim().is_empty() {
        RawFile { groups: Vec::new() }
    } else if ignore_unknown_fields {
        decode_ignoring_unknown_fields(text).map_err(yaml_err)?
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| yaml_err(e.to_string()))?
    };
    let lines = LineIndex::new(text);
    let mut errs = Vec::new();
    let mut groups = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (gi, g) in raw.groups.into_iter().enumerate() {
        // Block-style files are indexed line by line; for others (flow style) the YAML
        // decoder finds the position, only when there is an error to place.
        let gpath = FieldPath::root().key("groups").index(gi);
        let gline = lines.group_line(gi);
        let gline_err = || {
            if gline > 0 {
                gline
            } else {
                locate(text, &gpath).map_or(0, |(l, _)| l)
            }
        };
        let gerr = |msg: String| RuleFileError::Group {
            path: path.to_path_buf(),
            line: gline_err(),
            msg,
        };
        if g.name.is_empty() {
            errs.push(gerr("Groupname must not be empty".into()));
        } else if seen.insert(g.name.clone(), gline).is_some() {
            errs.push(gerr(format!(
                "groupname: {:?} is repeated in the same file",
                g.name
            )));
        }
        let interval = match g.interval.as_deref().map(parse_duration).transpose() {
            Ok(d) => d.filter(|d| !d.is_zero()),
            Err(e) => {
                errs.push(gerr(format!("interval: {e}")));
                None
            }
        };
        let query_offset = match g.query_offset.as_deref().map(parse_duration).transpose() {
            Ok(d) => d,
            Err(e) => {
                errs.push(gerr(format!("query_offset: {e}")));
                None
            }
        };
        for k in g.labels.keys() {
            if k.is_empty() || k == METRIC_NAME {
                errs.push(gerr(format!("invalid label name: {k}")));
            }
        }
        let group_labels = Labels::from_pairs(g.labels.clone());
        let mut rules = Vec::new();
        for (ri, r) in g.rules.into_iter().enumerate() {
            let (start, end) = lines.rule_span(gi, ri);
            let name = if r.record.is_empty() {
                r.alert.clone()
            } else {
                r.record.clone()
            };
            let rerr = |field: &str, msg: String| RuleFileError::Rule {
                path: path.to_path_buf(),
                line: lines.field_line(start, end, field).unwrap_or_else(|| {
                    if start > 0 {
                        start
                    } else {
                        let rpath = gpath.key("rules").index(ri);
                        locate(text, &rpath.key(field)).map_or(0, |(l, _)| l)
                    }
                }),
                group: g.name.clone(),
                index: ri + 1,
                rule: name.clone(),
                msg,
            };
            match validate_rule(r, &group_labels, start) {
                Ok(rule) => rules.push(rule),
                Err(problems) => errs.extend(problems.into_iter().map(|(f, m)| rerr(f, m))),
            }
        }
        groups.push(RuleGroup {
            name: g.name,
            file: path.to_path_buf(),
            interval,
            limit: g.limit,
            query_offset,
            labels: group_labels,
            rules,
            line: gline,
        });
    }
    if errs.is_empty() {
        Ok(groups)
    } else {
        Err(errs)
    }
}

fn parse_dur(field: &'static str, v: &Option<String>) -> Result<Duration, (&'static str, String)> {
    match v {
        None => Ok(Duration::ZERO),
        Some(s) => parse_duration(s).map_err(|e| (field, e.to_string())),
    }
}

/// Upstream `RuleNode.Validate` plus template parsing; errors carry the YAML field they are
/// about so the caller can point at its line.
/// A label name a rule may set, as Prometheus 3 checks it (UTF-8 names: any non-empty name
/// but `__name__`; Prometheus 2's legacy `[a-zA-Z_][a-zA-Z0-9_]*` no longer applies).
pub(crate) fn is_rule_label_name(k: &str) -> bool {
    !k.is_empty() && k != METRIC_NAME
}

fn validate_rule(
    r: RawRule,
    group_labels: &Labels,
    line: usize,
) -> Result<Rule, Vec<(&'static str, String)>> {
    let mut errs: Vec<(&'static str, String)> = Vec::new();
    let for_ = parse_dur("for", &r.for_).unwrap_or_else(|e| {
        errs.push(e);
        Duration::ZERO
    });
    let keep = parse_dur("keep_firing_for", &r.keep_firing_for).unwrap_or_else(|e| {
        errs.push(e);
        Duration::ZERO
    });
    match (r.record.is_empty(), r.alert.is_empty()) {
        (false, false) => errs.push((
            "record",
            "only one of 'record' and 'alert' must be set".into(),
        )),
        (true, true) => errs.push(("expr", "one of 'record' or 'alert' must be set".into())),
        _ => {}
    }
    let query = if r.expr.is_empty() {
        errs.push(("expr", "field 'expr' must be set in rule".into()));
        None
    } else {
        match Engine::parse(&r.expr) {
            Ok(q) => Some(q),
            Err(e) => {
                errs.push(("expr", format!("could not parse expression: {e}")));
                None
            }
        }
    };
    if !r.record.is_empty() {
        if !r.annotations.is_empty() {
            errs.push((
                "annotations",
                "invalid field 'annotations' in recording rule".into(),
            ));
        }
        if !for_.is_zero() {
            errs.push(("for", "invalid field 'for' in recording rule".into()));
        }
        if !keep.is_zero() {
            errs.push((
                "keep_firing_for",
                "invalid field 'keep_firing_for' in recording rule".into(),
            ));
        }
        if r.record.contains('{') || r.record.contains('}') {
            errs.push((
                "record",
                format!("invalid recording rule name: {}", r.record),
            ));
        }
    }
    for k in r.labels.keys() {
        if !is_rule_label_name(k) {
            errs.push(("labels", format!("invalid label name: {k}")));
        }
    }
    for k in r.annotations.keys() {
        if k.is_empty() {
            errs.push(("annotations", format!("invalid annotation name: {k}")));
        }
    }
    let mut merged: Vec<(String, String)> = group_labels
        .iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect();
    merged.extend(r.labels.clone());
    let labels = Labels::from_pairs(merged);
    let mut label_templates = Vec::new();
    let mut annotations = Vec::new();
    if !r.alert.is_empty() {
        let tname = format!("__alert_{}", r.alert);
        for l in labels.iter() {
            match Template::parse(&tname, &l.value) {
                Ok(t) => label_templates.push((l.name.to_string(), t)),
                Err(e) => errs.push(("labels", format!("label {:?}: {e}", &*l.name))),
            }
        }
        for (k, v) in &r.annotations {
            match Template::parse(&tname, v) {
                Ok(t) => annotations.push((k.clone(), t)),
                Err(e) => errs.push(("annotations", format!("annotation {k:?}: {e}"))),
            }
        }
    }
    let Some(query) = query else {
        return Err(errs);
    };
    if !errs.is_empty() {
        return Err(errs);
    }
    let kind = if r.record.is_empty() {
        RuleKind::Alerting {
            alert: r.alert,
            for_,
            keep_firing_for: keep,
            annotations,
        }
    } else {
        RuleKind::Recording { record: r.record }
    };
    Ok(Rule {
        kind,
        expr: r.expr,
        query,
        labels,
        line,
        label_templates,
    })
}

/// Reads and parses one rule file.
pub fn load_rule_file(path: &Path) -> Result<Vec<RuleGroup>, Vec<RuleFileError>> {
    load_rule_file_with(path, false)
}

/// [`load_rule_file`], skipping unknown fields when asked ([`parse_rule_file_with`]).
pub fn load_rule_file_with(
    path: &Path,
    ignore_unknown_fields: bool,
) -> Result<Vec<RuleGroup>, Vec<RuleFileError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![RuleFileError::Read {
            path: path.to_path_buf(),
            msg: e.to_string(),
        }]
    })?;
    parse_rule_file_with(path, &text, ignore_unknown_fields)
}

/// Decodes a rule file, dropping every mapping key the schema does not know: each unknown
/// field the strict decoder reports is removed from the document and decoding runs again, so
/// the schema stays written once (in the `Raw*` types). The document is decoded from text
/// each time, so scalars decode as they do from the file (`expr: 1` is the string "1").
fn decode_ignoring_unknown_fields(text: &str) -> Result<RawFile, String> {
    let mut value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    let mut doc = text.to_string();
    loop {
        let de = serde_yaml_ng::Deserializer::from_str(&doc);
        let err = match serde_path_to_error::deserialize::<_, RawFile>(de) {
            Ok(raw) => return Ok(raw),
            Err(e) => e,
        };
        let removed = unknown_field_name(&err.inner().to_string())
            .is_some_and(|field| remove_field(&mut value, err.path(), field));
        if !removed {
            return Err(err.to_string());
        }
        doc = serde_yaml_ng::to_string(&value).map_err(|e| e.to_string())?;
    }
}

/// The field a serde `unknown field `x`, expected …` error names (the YAML decoder puts the
/// path of the mapping before it).
fn unknown_field_name(msg: &str) -> Option<&str> {
    let (_, rest) = msg.split_once("unknown field `")?;
    rest.split_once('`').map(|(name, _)| name)
}

/// Removes `field` from the mapping at `path` (or the mapping holding it, when the path
/// already ends at the field); false when there is no such key.
fn remove_field(
    value: &mut serde_yaml_ng::Value,
    path: &serde_path_to_error::Path,
    field: &str,
) -> bool {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let segments = match segments.split_last() {
        Some((Segment::Map { key }, parent)) if key == field => parent,
        _ => &segments[..],
    };
    let mut at = value;
    for seg in segments {
        let next = match (seg, at) {
            (Segment::Seq { index }, serde_yaml_ng::Value::Sequence(items)) => {
                items.get_mut(*index)
            }
            (Segment::Map { key }, serde_yaml_ng::Value::Mapping(m)) => m.get_mut(key.as_str()),
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None => return false,
        }
    }
    match at {
        serde_yaml_ng::Value::Mapping(m) => m.remove(field).is_some(),
        _ => false,
    }
}

/// Expands `rule_files` patterns as Prometheus does (`filepath.Glob`: wildcards in the last
/// path component; a pattern without wildcards names a file that must exist... or matches
/// nothing, as upstream, when absent), sorted and deduplicated per pattern.
pub fn expand_rule_patterns<P: AsRef<Path>>(patterns: &[P]) -> Result<Vec<PathBuf>, RuleFileError> {
    let mut out: Vec<PathBuf> = Vec::new();
    for p in patterns {
        let p = p.as_ref();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let has_meta = name.contains(['*', '?', '[']);
        let dir_part = p
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        if dir_part.contains(['*', '?', '[']) {
            return Err(RuleFileError::Pattern {
                pattern: p.display().to_string(),
                msg: "wildcards are only allowed in the file name".into(),
            });
        }
        if !has_meta {
            if p.exists() {
                out.push(p.to_path_buf());
            }
            continue;
        }
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut found = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let fname = e.file_name().to_string_lossy().into_owned();
                if crate::config::discovery::glob_match(&name, &fname) {
                    found.push(p.with_file_name(&fname));
                }
            }
        }
        found.sort();
        out.extend(found);
    }
    out.dedup();
    Ok(out)
}

/// Loads every group of every file matched by `patterns` (the config's `rule_files`, already
/// resolved against the config file's directory), in pattern then file order. Group names
/// must be unique within a file (not across files, as upstream). The first failing file's
/// first error is returned; use [`check_rule_files`] to list them all.
pub fn load_rule_files<P: AsRef<Path>>(patterns: &[P]) -> Result<Vec<RuleGroup>, RuleFileError> {
    let files = expand_rule_patterns(patterns)?;
    let mut groups = Vec::new();
    for f in files {
        match load_rule_file(&f) {
            Ok(g) => groups.extend(g),
            Err(mut errs) => return Err(errs.remove(0)),
        }
    }
    Ok(groups)
}

/// `redline check rules FILE...`: checks every file, returning the rule count per file, or
/// every error found. Use [`write_check_report`] to print the result as promtool does.
pub fn check_rule_files<P: AsRef<Path>>(
    paths: &[P],
) -> Result<Vec<(PathBuf, usize)>, Vec<RuleFileError>> {
    let mut ok = Vec::new();
    let mut errs = Vec::new();
    for p in paths {
        match load_rule_file(p.as_ref()) {
            Ok(groups) => ok.push((
                p.as_ref().to_path_buf(),
                groups.iter().map(|g| g.rules.len()).sum(),
            )),
            Err(e) => errs.extend(e),
        }
    }
    if errs.is_empty() {
        Ok(ok)
    } else {
        Err(errs)
    }
}

/// Checks each file and prints promtool's report (`Checking FILE` then `  SUCCESS: N rules
/// found` or `  FAILED:` and the errors). Returns whether every file passed.
pub fn write_check_report<P: AsRef<Path>>(
    paths: &[P],
    out: &mut impl std::io::Write,
) -> std::io::Result<bool> {
    let mut all_ok = true;
    for p in paths {
        writeln!(out, "Checking {}", p.as_ref().display())?;
        match load_rule_file(p.as_ref()) {
            Ok(groups) => {
                let n: usize = groups.iter().map(|g| g.rules.len()).sum();
                writeln!(out, "  SUCCESS: {n} rules found")?;
            }
            Err(errs) => {
                all_ok = false;
                writeln!(out, "  FAILED:")?;
                for e in errs {
                    writeln!(out, "{e}")?;
                }
            }
        }
        writeln!(out)?;
    }
    Ok(all_ok)
}

/// Finds the lines of groups and rules in block-style YAML (serde_yaml_ng keeps no positions
/// for values) in one pass. For flow-style files it knows none (0), and errors there are
/// placed by [`locate`], which decodes the file again per error.
struct LineIndex<'a> {
    lines: Vec<&'a str>,
    /// Per group: its line, and its rules' start lines (1-based).
    groups: Vec<(usize, Vec<usize>)>,
}

fn indent_of(l: &str) -> usize {
    l.len() - l.trim_start_matches(' ').len()
}

fn is_content(l: &str) -> bool {
    let t = l.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// The indentation of a list item start `- ` (after optional indentation), if `l` is one.
fn item_indent(l: &str) -> Option<usize> {
    let t = l.trim_start_matches(' ');
    (t == "-" || t.starts_with("- ")).then(|| indent_of(l))
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let lines: Vec<&str> = text.lines().collect();
        let mut groups = Vec::new();
        let Some(gkey) = lines.iter().position(|l| l.starts_with("groups:")) else {
            return LineIndex { lines, groups };
        };
        let items = Self::items(&lines, gkey, 0);
        for (k, &(start, ind)) in items.iter().enumerate() {
            let end = items.get(k + 1).map(|x| x.0).unwrap_or(lines.len());
            let mut rules = Vec::new();
            // The `rules:` key of this group, at the group's key indentation.
            for i in start..end {
                let t = lines[i].trim_start_matches([' ', '-']);
                if t.starts_with("rules:") && indent_of(lines[i]) <= ind + 2 {
                    let sub = Self::items(&lines[..end], i, indent_of(lines[i]));
                    rules = sub.into_iter().map(|(l, _)| l + 1).collect();
                    break;
                }
            }
            groups.push((start + 1, rules));
        }
        LineIndex { lines, groups }
    }

    /// List items (0-based line, indentation) of the block sequence under the key at `key`
    /// whose indentation is `key_indent`.
    fn items(lines: &[&str], key: usize, key_indent: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut item_ind: Option<usize> = None;
        for (i, l) in lines.iter().enumerate().skip(key + 1) {
            if !is_content(l) {
                continue;
            }
            let ind = indent_of(l);
            match item_ind {
                None => match item_indent(l) {
                    Some(ii) if ii >= key_indent => {
                        item_ind = Some(ii);
                        out.push((i, ii));
                    }
                    _ => break,
                },
                Some(ii) => {
                    if ind < ii || (ind == ii && item_indent(l).is_none()) {
                        break;
                    }
                    if ind == ii {
                        out.push((i, ii));
                    }
                }
            }
        }
        out
    }

    fn group_line(&self, gi: usize) -> usize {
        self.groups.get(gi).map(|g| g.0).unwrap_or(0)
    }

    /// First and past-the-end line (1-based) of rule `ri` in group `gi`.
    fn rule_span(&self, gi: usize, ri: usize) -> (usize, usize) {
        let Some((_, rules)) = self.groups.get(gi) else {
            return (0, 0);
        };
        let Some(&start) = rules.get(ri) else {
            return (0, 0);
        };
        let end = rules
            .get(ri + 1)
            .copied()
            .or_else(|| self.groups.get(gi + 1).map(|g| g.0))
            .unwrap_or(self.lines.len() + 1);
        (start, end)
    }

    /// The line of `field:` within lines `[start, end)` (1-based).
    fn field_line(&self, start: usize, end: usize, field: &str) -> Option<usize> {
        if start == 0 {
            return None;
        }
        (start..end).find(|&n| {
            self.lines
                .get(n - 1)
                .map(|l| {
                    let t = l.trim_start_matches([' ', '-']);
                    t.strip_prefix(field).is_some_and(|r| r.starts_with(':'))
                })
                .unwrap_or(false)
        })
    }
}

#[cfg(test)]
mod tests;
