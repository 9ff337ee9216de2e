//! Relabeling, with Prometheus 3.x semantics.
//!
//! A [`RelabelConfig`] is one rule of a `relabel_configs` or `metric_relabel_configs` list; it
//! is built from what the user wrote ([`RawRelabelConfig`]) by [`RelabelConfig::from_raw`],
//! which enforces the same per-action rules as Prometheus' `relabel.Config.Validate` and
//! compiles the regex (fully anchored, `.` matching newlines) and replacement templates once.
//! [`process`] runs a list of rules over a label set and returns the result, or `None` when a
//! rule dropped it. It runs per series on cache misses of the scrape loop, so a rule list that
//! only keeps or drops never copies the label set ([`process_cow`]).

mod md5;
mod template;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::store::{Label, Labels};
use template::Template;

/// The default regex: matches anything and captures it as group 1.
pub const DEFAULT_REGEX: &str = "(.*)";
/// The default replacement.
pub const DEFAULT_REPLACEMENT: &str = "$1";
/// The default separator between joined source label values.
pub const DEFAULT_SEPARATOR: &str = ";";

/// A relabel regex that does not compile, reported against the pattern as written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid regex {pattern:?}: {detail}")]
pub struct RegexError {
    pub pattern: String,
    /// The regex compiler's message, on one line.
    pub detail: String,
}

/// A regex as relabeling uses it: anchored at both ends, `.` matches `\n`.
#[derive(Clone)]
pub struct Regex {
    source: String,
    re: regex::Regex,
}

impl Regex {
    /// Compiles `source` as `^(?s:source)$`, as Prometheus' `relabel.NewRegexp` does.
    /// The error is one line: `invalid regex "(": unclosed group`.
    pub fn new(source: &str) -> Result<Regex, RegexError> {
        let re = regex::Regex::new(&format!("^(?s:{source})$")).map_err(|e| {
            // Report against the user's pattern, not the anchored one, on one line.
            let detail = match regex::Regex::new(source) {
                Err(regex::Error::Syntax(s)) => s
                    .lines()
                    .find_map(|l| l.strip_prefix("error: "))
                    .map(str::to_string)
                    .unwrap_or(s),
                Err(other) => other.to_string(),
                Ok(_) => e.to_string(),
            };
            RegexError {
                pattern: source.to_string(),
                detail,
            }
        })?;
        Ok(Regex {
            source: source.to_string(),
            re,
        })
    }

    /// The expression as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }

    /// The compiled, anchored regex.
    pub fn anchored(&self) -> &regex::Regex {
        &self.re
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

/// Reads a string and converts it inside the decoder's call, so errors carry the position of
/// the value itself.
struct ParseStr<T, E>(&'static str, fn(&str) -> Result<T, E>);

impl<T, Err: fmt::Display> de::Visitor<'_> for ParseStr<T, Err> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.1)(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Regex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ParseStr("a regular expression", Regex::new))
    }
}

/// What a rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl Action {
    /// The name as written in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    /// Case-insensitive, as in Prometheus (`labelmap`, `LabelMap`).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ParseStr("a relabel action", |s| {
            let lower = s.to_lowercase();
            Action::ALL
                .into_iter()
                .find(|a| a.as_str() == lower)
                .ok_or_else(|| format!("unknown relabel action {s:?}"))
        }))
    }
}

/// How label names are checked: Prometheus 3.x accepts any non-empty UTF-8 name by default;
/// `metric_name_validation_scheme: legacy` restores `[a-zA-Z_][a-zA-Z0-9_]*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NameValidation {
    #[default]
    Utf8,
    Legacy,
}

impl NameValidation {
    /// Whether `name` is a valid label name under this scheme.
    pub fn is_valid(self, name: &str) -> bool {
        match self {
            NameValidation::Utf8 => !name.is_empty(),
            NameValidation::Legacy => is_legacy_label_name(name),
        }
    }

    /// Whether `name` is a valid metric name under this scheme (legacy names may also
    /// contain `:`).
    pub fn is_valid_metric_name(self, name: &str) -> bool {
        match self {
            NameValidation::Utf8 => !name.is_empty(),
            NameValidation::Legacy => is_legacy_metric_name(name),
        }
    }

    /// Prometheus' `labels.Labels.IsValid`: the metric name (if any) and every label name
    /// valid under this scheme. Label values are Rust strings, so always valid UTF-8.
    pub fn labels_valid(self, labels: &Labels) -> bool {
        labels.iter().all(|l| {
            self.is_valid(&l.name)
                && (&*l.name != crate::store::METRIC_NAME || self.is_valid_metric_name(&l.value))
        })
    }
}

pub use crate::store::{is_legacy_label_name, is_legacy_metric_name};

/// One relabel rule as written in YAML. Absent fields take Prometheus' defaults.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelabelConfig {
    #[serde(default)]
    pub source_labels: Option<Vec<String>>,
    pub separator: Option<String>,
    pub target_label: Option<String>,
    pub regex: Option<Regex>,
    pub modulus: Option<u64>,
    pub replacement: Option<String>,
    pub action: Option<Action>,
}

/// A relabel rule that violates Prometheus' rules, with the field to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RelabelConfigError {
    /// The YAML field the error is about (`target_label`, `regex`, ...).
    pub field: &'static str,
    pub message: String,
}

/// A validated, compiled relabel rule.
#[derive(Clone, Debug)]
pub struct RelabelConfig {
    pub source_labels: Vec<String>,
    pub separator: String,
    pub target_label: String,
    pub regex: Regex,
    pub modulus: u64,
    pub replacement: String,
    pub action: Action,
    names: NameValidation,
    regex_is_default: bool,
    target: Template,
    replace: Template,
}

/// Two rules are equal when they were written the same (their compiled forms follow).
impl PartialEq for RelabelConfig {
    fn eq(&self, other: &Self) -> bool {
        self.source_labels == other.source_labels
            && self.separator == other.separator
            && self.target_label == other.target_label
            && self.regex == other.regex
            && self.modulus == other.modulus
            && self.replacement == other.replacement
            && self.action == other.action
    }
}

impl RelabelConfig {
    /// Validates a rule as Prometheus does and compiles it.
    pub fn from_raw(
        raw: RawRelabelConfig,
        names: NameValidation,
    ) -> Result<RelabelConfig, RelabelConfigError> {
        let err = |field: &'static str, message: String| RelabelConfigError { field, message };
        let action = raw.action.unwrap_or_default();
        let source_set = raw.source_labels.is_some();
        let source_labels = raw.source_labels.unwrap_or_default();
        let separator = raw.separator.unwrap_or_else(|| DEFAULT_SEPARATOR.into());
        let target_label = raw.target_label.unwrap_or_default();
        let regex = match raw.regex {
            Some(r) => r,
            None => Regex::new(DEFAULT_REGEX).map_err(|e| err("regex", e.to_string()))?,
        };
        let modulus = raw.modulus.unwrap_or(0);
        let replacement = raw
            .replacement
            .unwrap_or_else(|| DEFAULT_REPLACEMENT.into());

        for name in &source_labels {
            if !names.is_valid(name) {
                return Err(err(
                    "source_labels",
                    format!("{name:?} is not a valid label name"),
                ));
            }
        }
        if modulus == 0 && action == Action::HashMod {
            return Err(err(
                "modulus",
                "relabel configuration for hashmod requires non-zero modulus".into(),
            ));
        }
        let needs_target = matches!(
            action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && target_label.is_empty() {
            return Err(err(
                "target_label",
                format!("relabel configuration for {action} action requires 'target_label' value"),
            ));
        }
        let target_checked = match action {
            // A target with `$` references is checked after expansion, at run time.
            Action::Replace => !target_label.contains('$'),
            Action::HashMod
            | Action::Lowercase
            | Action::Uppercase
            | Action::KeepEqual
            | Action::DropEqual => true,
            _ => false,
        };
        if target_checked && !names.is_valid(&target_label) {
            return Err(err(
                "target_label",
                format!("{target_label:?} is invalid 'target_label' for {action} action"),
            ));
        }
        if matches!(action, Action::Lowercase | Action::Uppercase)
            && replacement != DEFAULT_REPLACEMENT
        {
            return Err(err(
                "replacement",
                format!("'replacement' can not be set for {action} action"),
            ));
        }
        let valid_with_vars =
            |s: &str| names.is_valid(s) || (names == NameValidation::Legacy && s.contains('$'));
        if action == Action::Replace
            && target_label.contains('$')
            && !valid_with_vars(&target_label)
        {
            return Err(err(
                "target_label",
                format!("{target_label:?} is invalid 'target_label' for {action} action"),
            ));
        }
        if action == Action::LabelMap && !valid_with_vars(&replacement) {
            return Err(err(
                "replacement",
                format!("{replacement:?} is invalid 'replacement' for {action} action"),
            ));
        }
        // The fields these actions do not take, in the order Prometheus checks them: the
        // first one set is the error.
        let others_set = [
            (modulus != 0, "modulus"),
            (separator != DEFAULT_SEPARATOR, "separator"),
            (replacement != DEFAULT_REPLACEMENT, "replacement"),
        ];
        let first_set = |fields: &[(bool, &'static str)]| {
            fields
                .iter()
                .chain(&others_set)
                .find(|(set, _)| *set)
                .map(|&(_, field)| field)
        };
        if matches!(action, Action::KeepEqual | Action::DropEqual) {
            if let Some(field) = first_set(&[(regex.as_str() != DEFAULT_REGEX, "regex")]) {
                return Err(err(
                    field,
                    format!("{action} action requires only 'source_labels' and `target_label`, and no other fields"),
                ));
            }
        }
        if matches!(action, Action::LabelDrop | Action::LabelKeep) {
            if let Some(field) = first_set(&[
                (source_set, "source_labels"),
                (!target_label.is_empty(), "target_label"),
            ]) {
                return Err(err(
                    field,
                    format!("{action} action requires only 'regex', and no other fields"),
                ));
            }
        }

        let group_names: Vec<Option<&str>> = regex.re.capture_names().collect();
        let target = Template::compile(&target_label, &group_names);
        let replace = Template::compile(&replacement, &group_names);
        Ok(RelabelConfig {
            regex_is_default: regex.as_str() == DEFAULT_REGEX,
            source_labels,
            separator,
            target_label,
            regex,
            modulus,
            replacement,
            action,
            names,
            target,
            replace,
        })
    }

    /// A rule with every field at its default except the ones `raw` sets (for tests and
    /// programmatic rules). Panics never; returns the validation error.
    pub fn new(raw: RawRelabelConfig) -> Result<RelabelConfig, RelabelConfigError> {
        Self::from_raw(raw, NameValidation::Utf8)
    }
}

/// A label set under modification. Borrows the input until the first change.
struct Builder<'a> {
    base: &'a Labels,
    owned: Option<Vec<Label>>,
}

impl<'a> Builder<'a> {
    fn slice(&self) -> &[Label] {
        match &self.owned {
            Some(v) => v,
            None => self.base.as_slice(),
        }
    }

    fn get(&self, name: &str) -> &str {
        let s = self.slice();
        match s.binary_search_by(|l| (*l.name).cmp(name)) {
            Ok(i) => &s[i].value,
            Err(_) => "",
        }
    }

    fn owned(&mut self) -> &mut Vec<Label> {
        let base = self.base;
        self.owned.get_or_insert_with(|| base.as_slice().to_vec())
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    fn set(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            self.del(name);
            return;
        }
        let pos = self.slice().binary_search_by(|l| (*l.name).cmp(name));
        match pos {
            Ok(i) if &*self.slice()[i].value == value => {}
            Ok(i) => self.owned()[i].value = Arc::from(value),
            Err(i) => self.owned().insert(i, Label::new(name, value)),
        }
    }

    fn del(&mut self, name: &str) {
        if let Ok(i) = self.slice().binary_search_by(|l| (*l.name).cmp(name)) {
            self.owned().remove(i);
        }
    }

    fn retain(&mut self, keep: impl Fn(&Label) -> bool) {
        if self.slice().iter().all(&keep) {
            return;
        }
        self.owned().retain(keep);
    }

    fn finish(self) -> Cow<'a, Labels> {
        match self.owned {
            Some(v) => Cow::Owned(Labels::from_sorted_unchecked(v)),
            None => Cow::Borrowed(self.base),
        }
    }
}

/// Applies `configs` in order. Returns `None` when a rule dropped the label set.
pub fn process(labels: &Labels, configs: &[RelabelConfig]) -> Option<Labels> {
    process_cow(labels, configs).map(Cow::into_owned)
}

/// Like [`process`], but returns the input itself when no rule changed it.
pub fn process_cow<'a>(labels: &'a Labels, configs: &[RelabelConfig]) -> Option<Cow<'a, Labels>> {
    let mut b = Builder {
        base: labels,
        owned: None,
    };
    let mut joined = String::new();
    for cfg in configs {
        if !apply(&mut b, cfg, &mut joined) {
            return None;
        }
    }
    Some(b.finish())
}

/// Applies one rule; false means drop.
fn apply(b: &mut Builder<'_>, cfg: &RelabelConfig, joined: &mut String) -> bool {
    // The joined source value. With one source label it is borrowed, not copied.
    let val: &str = match cfg.source_labels.as_slice() {
        [] => "",
        [one] => b.get(one),
        many => {
            joined.clear();
            for (i, name) in many.iter().enumerate() {
                if i > 0 {
                    joined.push_str(&cfg.separator);
                }
                joined.push_str(b.get(name));
            }
            joined.as_str()
        }
    };
    match cfg.action {
        Action::Drop => !cfg.regex.is_match(val),
        Action::Keep => cfg.regex.is_match(val),
        Action::DropEqual => b.get(&cfg.target_label) != val,
        Action::KeepEqual => b.get(&cfg.target_label) == val,
        Action::Replace => {
            if let Some((target, value)) = replace(cfg, val) {
                b.set(&target, &value);
            }
            true
        }
        Action::Lowercase => {
            let v = val.to_lowercase();
            b.set(&cfg.target_label, &v);
            true
        }
        Action::Uppercase => {
            let v = val.to_uppercase();
            b.set(&cfg.target_label, &v);
            true
        }
        Action::HashMod => {
            let hash = md5::digest(val.as_bytes());
            let mut tail = [0u8; 8];
            tail.copy_from_slice(&hash[8..]);
            let m = u64::from_be_bytes(tail) % cfg.modulus;
            b.set(&cfg.target_label, &m.to_string());
            true
        }
        Action::LabelMap => {
            let snapshot: Vec<Label> = b.slice().to_vec();
            for l in &snapshot {
                if let Some(name) = expand_match(cfg, &cfg.replace, &l.name) {
                    b.set(&name, &l.value);
                }
            }
            true
        }
        Action::LabelDrop => {
            b.retain(|l| !cfg.regex.is_match(&l.name));
            true
        }
        Action::LabelKeep => {
            b.retain(|l| cfg.regex.is_match(&l.name));
            true
        }
    }
}

/// The `replace` action: the (target, value) to set, where an empty value deletes; `None`
/// when the regex does not match or the expanded target is not a valid label name.
fn replace(cfg: &RelabelConfig, val: &str) -> Option<(String, String)> {
    if cfg.regex_is_default {
        // `(.*)` always matches; groups 0 and 1 are the whole value.
        let group = |i: usize| (i <= 1).then_some(val);
        let target = match cfg.target.as_literal() {
            Some(t) => t.to_string(),
            None => cfg.target.expand(group),
        };
        let value = cfg.replace.expand(group);
        return cfg.names.is_valid(&target).then_some((target, value));
    }
    let mut locs = cfg.regex.re.capture_locations();
    cfg.regex.re.captures_read(&mut locs, val)?;
    let group = |i: usize| locs.get(i).map(|(s, e)| &val[s..e]);
    let target = cfg.target.expand(group);
    if !cfg.names.is_valid(&target) {
        return None;
    }
    Some((target, cfg.replace.expand(group)))
}

/// Expands `template` against `hay` when the rule's regex matches all of it.
fn expand_match(cfg: &RelabelConfig, template: &Template, hay: &str) -> Option<String> {
    if let Some(lit) = template.as_literal() {
        return cfg.regex.is_match(hay).then(|| lit.to_string());
    }
    let mut locs = cfg.regex.re.capture_locations();
    cfg.regex.re.captures_read(&mut locs, hay)?;
    Some(template.expand(|i| locs.get(i).map(|(s, e)| &hay[s..e])))
}

#[cfg(test)]
mod tests;
