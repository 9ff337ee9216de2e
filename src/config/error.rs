//! Config errors that name the file, the field path and, where known, the line and column.
//!
//! Syntax and per-value errors come from the YAML decoder with their position; the field path
//! comes from `serde_path_to_error`. Errors found later, between fields (a timeout longer than
//! its interval, two jobs with one name), are positioned by [`locate`], which walks the YAML
//! document once more to the value at the path.

use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Why a config file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read config file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Invalid(Box<InvalidConfig>),
}

impl ConfigError {
    /// The field path (`scrape_configs[2].scrape_timeout`), when the error is about a field.
    pub fn field_path(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid(e) if !e.field.is_empty() => Some(&e.field),
            _ => None,
        }
    }

    /// The 1-based line and column, when known.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ConfigError::Invalid(e) => e.position,
            ConfigError::Read { .. } => None,
        }
    }

    /// What is wrong, without the file and path prefix.
    pub fn message(&self) -> String {
        match self {
            ConfigError::Invalid(e) => e.message.clone(),
            ConfigError::Read { source, .. } => source.to_string(),
        }
    }
}

/// A config file that was read but is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidConfig {
    /// The file name as given (or the `source_name` of [`super::Config::from_yaml_str`]).
    pub source_name: String,
    /// The field path; empty for errors about the document as a whole.
    pub field: String,
    /// 1-based line and column.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source_name)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        f.write_str(": ")?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path to a value in the document, displayed as `scrape_configs[2].relabel_configs[0].regex`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    pub fn root() -> FieldPath {
        FieldPath(Vec::new())
    }

    /// This path extended by a map key.
    pub fn key(&self, k: &str) -> FieldPath {
        let mut v = self.0.clone();
        v.push(Segment::Key(k.to_string()));
        FieldPath(v)
    }

    /// This path extended by a list index.
    pub fn index(&self, i: usize) -> FieldPath {
        let mut v = self.0.clone();
        v.push(Segment::Index(i));
        FieldPath(v)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Index(n) => write!(f, "[{n}]")?,
                Segment::Key(k) if i == 0 => f.write_str(k)?,
                Segment::Key(k) => write!(f, ".{k}")?,
            }
        }
        Ok(())
    }
}

const FOUND: &str = "\u{0}redline-locate-found";

/// The 1-based (line, column) of the value at `path` in `text`, or of its nearest ancestor
/// that exists (a missing field is reported where its parent is).
pub fn locate(text: &str, path: &FieldPath) -> Option<(usize, usize)> {
    for len in (0..=path.0.len()).rev() {
        let seed = Locate(&path.0[..len]);
        if let Err(e) = seed.deserialize(serde_yaml_ng::Deserializer::from_str(text)) {
            if e.to_string().contains(FOUND) {
                return e.location().map(|l| (l.line(), l.column()));
            }
        }
    }
    None
}

/// Walks to the value at the path and fails there, so the YAML decoder records its position.
struct Locate<'p>(&'p [Segment]);

impl<'de> DeserializeSeed<'de> for Locate<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Locate<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let want = match self.0.first() {
            None => return Err(de::Error::custom(FOUND)),
            Some(Segment::Index(i)) => *i,
            Some(Segment::Key(_)) => usize::MAX,
        };
        let mut i = 0;
        loop {
            if i == want {
                return match seq.next_element_seed(Locate(&self.0[1..]))? {
                    Some(()) | None => Ok(()),
                };
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let want = match self.0.first() {
            None => return Err(de::Error::custom(FOUND)),
            Some(Segment::Key(k)) => Some(k.as_str()),
            Some(Segment::Index(_)) => None,
        };
        while let Some(key) = map.next_key::<serde_yaml_ng::Value>()? {
            let matches = match (&key, want) {
                (serde_yaml_ng::Value::String(s), Some(w)) => s == w,
                (serde_yaml_ng::Value::Number(n), Some(w)) => n.to_string() == w,
                (serde_yaml_ng::Value::Bool(b), Some(w)) => b.to_string() == w,
                _ => false,
            };
            if matches {
                return map.next_value_seed(Locate(&self.0[1..]));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

impl Locate<'_> {
    fn scalar<E: de::Error>(&self) -> Result<(), E> {
        if self.0.is_empty() {
            Err(E::custom(FOUND))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_display() {
        let p = FieldPath::root()
            .key("scrape_configs")
            .index(2)
            .key("relabel_configs")
            .index(0)
            .key("regex");
        assert_eq!(p.to_string(), "scrape_configs[2].relabel_configs[0].regex");
    }

    #[test]
    fn locate_finds_values_and_falls_back_to_parent() {
        let text = "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_timeout: 1m\n";
        let p = FieldPath::root().key("scrape_configs").index(1);
        assert_eq!(locate(text, &p.key("scrape_timeout")), Some((6, 21)));
        assert_eq!(locate(text, &p.key("job_name")), Some((5, 15)));
        // Missing field: its parent mapping.
        assert_eq!(locate(text, &p.key("metrics_path")), Some((5, 5)));
        let g = FieldPath::root().key("global").key("scrape_interval");
        assert_eq!(locate(text, &g), Some((2, 20)));
    }
}
