//! Label sets: the identity of a series.
//!
//! [`Labels`] is a set of `name="value"` pairs kept sorted by name with unique names, which
//! makes equality, hashing and the series fingerprint independent of the order a scrape or a
//! query produced them in. Names and values are `Arc<str>` so the store can hand out its
//! interned strings and query results can clone label sets cheaply.

use crate::gostrconv;
use std::fmt;
use std::sync::Arc;

/// The reserved label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// The reserved label that holds the metric type (`counter`, `gauge`, …) when Prometheus'
/// `type-and-unit-labels` feature attaches it at scrape; never `unknown` (absent instead).
pub const METRIC_TYPE: &str = "__type__";

/// The reserved label that holds the metric unit (`seconds`, `bytes`, …) when the
/// `type-and-unit-labels` feature attaches it at scrape; absent for a unitless metric.
pub const METRIC_UNIT: &str = "__unit__";

/// The schema metadata labels (Prometheus' `schema.IsMetadataLabel`): the name, type and
/// unit, which describe what a series measures and go together wherever PromQL drops the
/// metric name.
pub const METADATA_LABELS: [&str; 3] = [METRIC_NAME, METRIC_TYPE, METRIC_UNIT];

/// One `name="value"` pair.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub name: Arc<str>,
    pub value: Arc<str>,
}

impl Label {
    pub fn new(name: impl Into<Arc<str>>, value: impl Into<Arc<str>>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A sorted set of labels with unique names. Labels with an empty value are dropped, as in
/// Prometheus, where an empty value and a missing label are the same thing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        Labels(Vec::new())
    }

    /// Builds a label set from pairs in any order. When a name repeats, the last value wins.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: Into<Arc<str>>,
        V: Into<Arc<str>>,
    {
        let mut v: Vec<Label> = pairs
            .into_iter()
            .map(|(n, val)| Label::new(n, val))
            .collect();
        Self::normalise(&mut v);
        Labels(v)
    }

    /// Builds a label set from labels that may be unsorted or repeat a name (last wins).
    pub fn from_vec(mut v: Vec<Label>) -> Self {
        Self::normalise(&mut v);
        Labels(v)
    }

    /// Wraps labels the caller guarantees are sorted by name, unique and without empty values.
    pub fn from_sorted_unchecked(v: Vec<Label>) -> Self {
        debug_assert!(v.windows(2).all(|w| w[0].name < w[1].name));
        Labels(v)
    }

    fn normalise(v: &mut Vec<Label>) {
        // Stable sort keeps input order among equal names so "last wins" is well defined.
        v.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<Label> = Vec::with_capacity(v.len());
        for l in v.drain(..) {
            match out.last_mut() {
                Some(prev) if prev.name == l.name => *prev = l,
                _ => out.push(l),
            }
        }
        out.retain(|l| !l.value.is_empty());
        *v = out;
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| (*l.name).cmp(name))
            .ok()
            .map(|i| &*self.0[i].value)
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    /// Returns a copy with `name` set to `value` (removed when `value` is empty).
    pub fn with(&self, name: &str, value: &str) -> Labels {
        let mut v = self.0.clone();
        match v.binary_search_by(|l| (*l.name).cmp(name)) {
            Ok(i) if value.is_empty() => {
                v.remove(i);
            }
            Ok(i) => v[i].value = Arc::from(value),
            Err(_) if value.is_empty() => {}
            Err(i) => v.insert(i, Label::new(name, value)),
        }
        Labels(v)
    }

    /// Returns a copy without the named labels.
    pub fn without(&self, names: &[&str]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| !names.contains(&&*l.name))
                .cloned()
                .collect(),
        )
    }

    /// Returns a copy keeping only the named labels.
    pub fn only(&self, names: &[&str]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| names.contains(&&*l.name))
                .cloned()
                .collect(),
        )
    }

    /// A copy without the schema metadata labels `__name__`, `__type__` and `__unit__`
    /// (Prometheus' `DropReserved(schema.IsMetadataLabel)`).
    pub fn without_metadata_labels(&self) -> Labels {
        self.without(&METADATA_LABELS)
    }

    /// The xxh3 fingerprint of the set: a hash over `name 0xff value 0xff` for each label in
    /// order. Equal sets have equal fingerprints; the store resolves the rare collision.
    pub fn fingerprint(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for l in &self.0 {
            h.update(l.name.as_bytes());
            h.update(&[0xff]);
            h.update(l.value.as_bytes());
            h.update(&[0xff]);
        }
        h.digest()
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`: a metric name that PromQL and the text format take unquoted.
pub fn is_legacy_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`: a label name that PromQL and the text format take unquoted.
pub fn is_legacy_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// PromQL's notation: `name{a="1", b="2"}`, values quoted as Go's `strconv.Quote` does. Names
/// outside the legacy character set are quoted as Prometheus 3 prints them: a metric name
/// `http.server.duration` moves into the braces (`{"http.server.duration", a="1"}`), a label
/// name `service.name` is written `"service.name"="api"`.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name();
        let mut open = false;
        match name {
            Some(n) if is_legacy_metric_name(n) => f.write_str(n)?,
            Some(n) => {
                f.write_str("{")?;
                f.write_str(&gostrconv::quote(n))?;
                open = true;
            }
            None => {}
        }
        for l in self.0.iter().filter(|l| &*l.name != METRIC_NAME) {
            if open {
                f.write_str(", ")?;
            } else {
                f.write_str("{")?;
                open = true;
            }
            if is_legacy_label_name(&l.name) {
                f.write_str(&l.name)?;
            } else {
                f.write_str(&gostrconv::quote(&l.name))?;
            }
            f.write_str("=")?;
            f.write_str(&gostrconv::quote(&l.value))?;
        }
        if open {
            f.write_str("}")?;
        } else if name.is_none() {
            f.write_str("{}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_unique_last_wins_and_empty_dropped() {
        let l = Labels::from_pairs([("b", "1"), ("a", "2"), ("b", "3"), ("c", "")]);
        let pairs: Vec<_> = l.iter().map(|l| (&*l.name, &*l.value)).collect();
        assert_eq!(pairs, vec![("a", "2"), ("b", "3")]);
    }

    #[test]
    fn fingerprint_ignores_input_order() {
        let a = Labels::from_pairs([("x", "1"), ("y", "2")]);
        let b = Labels::from_pairs([("y", "2"), ("x", "1")]);
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), a.with("x", "2").fingerprint());
    }

    #[test]
    fn display_escapes_values() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a\"b\\c\nd")]);
        assert_eq!(l.to_string(), r#"up{job="a\"b\\c\nd"}"#);
        assert_eq!(Labels::empty().to_string(), "{}");
    }

    #[test]
    fn display_quotes_names_outside_the_legacy_set() {
        let l = Labels::from_pairs([
            ("__name__", "http.server.duration"),
            ("service.name", "api"),
            ("job", "x"),
        ]);
        assert_eq!(
            l.to_string(),
            r#"{"http.server.duration", job="x", "service.name"="api"}"#
        );
        let no_name = Labels::from_pairs([("k8s.pod", "p\tq")]);
        assert_eq!(no_name.to_string(), r#"{"k8s.pod"="p\tq"}"#);
        let control = Labels::from_pairs([("a", "x\u{1}y")]);
        assert_eq!(control.to_string(), r#"{a="x\x01y"}"#);
    }
}
