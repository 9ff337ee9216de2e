//! Label matchers (`=`, `!=`, `=~`, `!~`) as PromQL selectors use them.
//!
//! A missing label matches as the empty string, so `{a=""}` selects series without `a` and
//! `{a!=""}` those that have it. Regular expressions are fully anchored and `.` matches a
//! newline, as in Prometheus 3.x.

use regex::Regex;
use std::fmt;

/// The comparison a [`Matcher`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// One label matcher.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl Matcher {
    /// Builds a matcher; fails only when a regex matcher's pattern does not compile.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, regex::Error> {
        Self::with_regex(op, name, value, anchored_regex)
    }

    /// Builds a matcher whose `=~`/`!~` pattern is compiled by `compile`: PromQL anchors it as
    /// [`anchored_regex`] does, Alertmanager as
    /// [`am_regex`](crate::config::alertmanager::matchers::am_regex) does.
    pub fn with_regex<E>(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
        compile: impl FnOnce(&str) -> Result<Regex, E>,
    ) -> Result<Self, E> {
        let value = value.into();
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(compile(&value)?),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            re,
        })
    }

    /// `name="value"`.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            re: None,
        }
    }

    /// Whether a label value (empty when the label is missing) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::Regex => self.re.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::NotRegex => !self.re.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// Whether the matcher selects series that lack the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// The compiled, anchored regex of a `=~`/`!~` matcher.
    pub fn regex(&self) -> Option<&Regex> {
        self.re.as_ref()
    }
}

/// Compiles `pattern` the way Prometheus does: anchored at both ends, `.` matching `\n`.
pub fn anchored_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?s:{pattern})$"))
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_label_is_empty_string() {
        assert!(Matcher::equal("a", "").matches_empty());
        assert!(!Matcher::new(MatchOp::NotEqual, "a", "")
            .unwrap()
            .matches_empty());
        assert!(Matcher::new(MatchOp::Regex, "a", "x|")
            .unwrap()
            .matches_empty());
    }

    #[test]
    fn regex_is_anchored_and_dot_matches_newline() {
        let m = Matcher::new(MatchOp::Regex, "a", "fo.").unwrap();
        assert!(m.matches("foo"));
        assert!(!m.matches("xfoo"));
        assert!(!m.matches("food"));
        assert!(m.matches("fo\n"));
    }
}
