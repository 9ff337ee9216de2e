//! Alertmanager's label matchers: the syntax of `matchers:` in routes and inhibit rules, of
//! silences and of amtool queries, and their semantics.
//!
//! [`parse_matchers`] accepts a list such as `{severity="page", team=~"db|storage"}` the way
//! Alertmanager 0.27 does in its default "fallback" mode: first with the new parser (UTF-8
//! and quoted label names, unquoted values, Go string escapes, optional braces, trailing
//! comma), then, when that fails, with the classic parser of Alertmanager ≤ 0.26
//! (`pkg/labels/parse.go`: split on commas outside quotes, one regex per matcher, lenient
//! escapes, values may contain spaces). [`parse_matcher`] is the classic single-matcher
//! parser, which amtool uses for `label=value` arguments.
//!
//! [`Matcher`] is Alertmanager's `labels.Matcher`, not the store's PromQL matcher: the two
//! differ in one way that matters, which is why this module has its own type. Both anchor
//! regexes at both ends, but Alertmanager compiles `^(?:re)$` so `.` does **not** match a
//! newline, whereas PromQL (and [`crate::store::Matcher`]) compiles `^(?s:re)$`. Use
//! [`Matcher::to_store_matcher`] when the store must be queried; it says when the conversion
//! would change the meaning. A missing label matches as the empty string, as in both.
//!
//! Matchers print as Alertmanager 0.25 prints them (`name="value"` with Go's `%q` quoting),
//! which is part of route keys and therefore of group keys (`Matchers`' `Display`).

use std::cmp::Ordering;
use std::fmt;

use regex::Regex;

use crate::store::Labels;
pub use crate::store::MatchOp;

/// Why a matcher string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MatcherError(pub String);

/// One Alertmanager label matcher: the store's [`crate::store::Matcher`] (name, operator,
/// value, compiled regex) with Alertmanager's regex anchoring, printing and order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matcher(crate::store::Matcher);

impl std::ops::Deref for Matcher {
    type Target = crate::store::Matcher;

    fn deref(&self) -> &crate::store::Matcher {
        &self.0
    }
}

impl Matcher {
    /// Builds a matcher; a regex pattern is compiled as `^(?:pattern)$`.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, MatcherError> {
        crate::store::Matcher::with_regex(op, name, value, |p| {
            am_regex(p).map_err(|e| MatcherError(format!("invalid regex {p:?}: {e}")))
        })
        .map(Matcher)
    }

    /// `name="value"`.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher(crate::store::Matcher::equal(name, value))
    }

    /// Whether the matcher accepts the label set (a missing label is the empty string).
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }

    /// The PromQL-store matcher with the same name, operator and value. For regex matchers
    /// the store's `.` also matches a newline, so the result can select more than this
    /// matcher does on values containing `\n`; `exact` tells whether that can happen
    /// (`false` when the pattern contains a `.`).
    pub fn to_store_matcher(&self) -> Result<(crate::store::Matcher, bool), MatcherError> {
        let m = crate::store::Matcher::new(self.op, self.name.clone(), self.value.clone())
            .map_err(|e| MatcherError(e.to_string()))?;
        let exact =
            !matches!(self.op, MatchOp::Regex | MatchOp::NotRegex) || !self.value.contains('.');
        Ok((m, exact))
    }

    /// Alertmanager's matcher order (`labels.Matchers.Less`): by name, then value, then
    /// operator (`=`, `!=`, `=~`, `!~`).
    pub fn am_cmp(&self, other: &Matcher) -> Ordering {
        self.name
            .cmp(&other.name)
            .then_with(|| self.value.cmp(&other.value))
            .then_with(|| op_rank(self.op).cmp(&op_rank(other.op)))
    }
}

fn op_rank(op: MatchOp) -> u8 {
    match op {
        MatchOp::Equal => 0,
        MatchOp::NotEqual => 1,
        MatchOp::Regex => 2,
        MatchOp::NotRegex => 3,
    }
}

/// Compiles a pattern as Alertmanager does: `^(?:pattern)$`, `.` not matching `\n`.
pub fn am_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

/// `name="value"` with the value quoted like Go's `%q` (Alertmanager 0.25's `String()`). A
/// name with a character the UTF-8 matcher syntax reserves (a space, `{}!=~,\"'` or a
/// backquote) is quoted too, as Alertmanager 0.27 prints it: 0.25 could not hold such a name,
/// and unquoted it would not parse back.
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.chars().any(is_reserved) {
            f.write_str(&crate::gostrconv::quote(&self.name))?;
        } else {
            f.write_str(&self.name)?;
        }
        f.write_str(self.op.as_str())?;
        f.write_str(&crate::gostrconv::quote(&self.value))
    }
}

/// A list of matchers that all must match; prints as `{a="1",b=~"x"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    /// Whether every matcher accepts the label set (true for an empty list).
    pub fn matches(&self, labels: &Labels) -> bool {
        self.0.iter().all(|m| m.matches_labels(labels))
    }

    /// Sorts in Alertmanager's order ([`Matcher::am_cmp`]), as routes keep their matchers.
    pub fn sort(&mut self) {
        self.0.sort_by(Matcher::am_cmp);
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Matcher> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

/// Parses a matcher list (`{a="1", b=~"x|y"}`, `a=1,b!=2`, `{}`) as Alertmanager 0.27's
/// fallback mode does (`compat.FallbackMatchersParser`): with both parsers; the new parser's
/// matchers when only it succeeds or both agree, the classic parser's when only it succeeds
/// or the two disagree (`foo="\t"` is a tab to the new parser and a backslash and a `t` to
/// the classic one), and the classic parser's error when both fail.
pub fn parse_matchers(s: &str) -> Result<Vec<Matcher>, MatcherError> {
    match (parse_matchers_new(s), parse_matchers_classic(s)) {
        (Ok(new), Ok(classic)) if new != classic => Ok(classic),
        (Ok(new), _) => Ok(new),
        (Err(_), Ok(classic)) => Ok(classic),
        (Err(_), Err(e)) => Err(e),
    }
}

/// Whether `name` may be a label name where Alertmanager 0.27 (fallback mode) checks one with
/// `compat.IsValidLabelName`: any non-empty UTF-8 string (`group_by`, inhibit rules' `equal`,
/// the labels and annotations of posted alerts). The deprecated `match`/`match_re` maps keep
/// the classic rule.
pub fn is_valid_label_name(name: &str) -> bool {
    !name.is_empty()
}

// ---------------------------------------------------------------------------------------
// The new parser (Alertmanager 0.27 `matchers/parse`).

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Comma,
    Op(MatchOp),
    /// A quoted string, unquoted already.
    Quoted(String),
    Unquoted(String),
}

fn is_reserved(c: char) -> bool {
    c.is_whitespace() || "{}!=~,\\\"'`".contains(c)
}

fn lex(s: &str) -> Result<Vec<Token>, MatcherError> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '{' => {
                out.push(Token::Open);
                i += 1;
            }
            '}' => {
                out.push(Token::Close);
                i += 1;
            }
            ',' => {
                out.push(Token::Comma);
                i += 1;
            }
            '=' | '!' => {
                let next = chars.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    ('=', Some('~')) => (MatchOp::Regex, 2),
                    ('=', _) => (MatchOp::Equal, 1),
                    ('!', Some('=')) => (MatchOp::NotEqual, 2),
                    ('!', Some('~')) => (MatchOp::NotRegex, 2),
                    _ => {
                        return Err(MatcherError(format!(
                            "{i}:{}: expected one of '!=', '!~': {s}",
                            i + 1
                        )))
                    }
                };
                out.push(Token::Op(op));
                i += len;
            }
            '"' => {
                let start = i;
                i += 1;
                let mut escaped = false;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err(MatcherError(format!(
                            "{start}:{}: missing end \": {s}",
                            chars.len()
                        )));
                    };
                    i += 1;
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                let raw: String = chars[start..i].iter().collect();
                let v = crate::gostrconv::unquote(&raw).ok_or_else(|| {
                    MatcherError(format!("{start}:{i}: {raw}: invalid input: {s}"))
                })?;
                out.push(Token::Quoted(v));
            }
            c if !is_reserved(c) => {
                let start = i;
                while i < chars.len() && !is_reserved(chars[i]) {
                    i += 1;
                }
                out.push(Token::Unquoted(chars[start..i].iter().collect()));
            }
            c => {
                return Err(MatcherError(format!(
                    "{i}:{}: {c}: invalid input: {s}",
                    i + 1
                )))
            }
        }
    }
    Ok(out)
}

/// The new parser alone.
pub fn parse_matchers_new(s: &str) -> Result<Vec<Matcher>, MatcherError> {
    let toks = lex(s)?;
    let mut t = &toks[..];
    let braced = t.first() == Some(&Token::Open);
    if braced {
        t = &t[1..];
    }
    let mut out = Vec::new();
    loop {
        match t.first() {
            None if braced => return Err(MatcherError(format!("missing closing '}}': {s}"))),
            None => break,
            Some(Token::Close) if braced && t.len() == 1 => break,
            Some(Token::Close) if !braced => {
                return Err(MatcherError(format!("missing opening '{{': {s}")))
            }
            _ => {}
        }
        let name = match t.first() {
            Some(Token::Quoted(v)) | Some(Token::Unquoted(v)) => v.clone(),
            _ => return Err(MatcherError(format!("expected label name: {s}"))),
        };
        let op = match t.get(1) {
            Some(Token::Op(op)) => *op,
            _ => {
                return Err(MatcherError(format!(
                    "expected an operator after {name:?}: {s}"
                )))
            }
        };
        let value = match t.get(2) {
            Some(Token::Quoted(v)) | Some(Token::Unquoted(v)) => v.clone(),
            _ => return Err(MatcherError(format!("expected a value for {name:?}: {s}"))),
        };
        out.push(Matcher::new(op, name, value)?);
        t = &t[3..];
        match t.first() {
            Some(Token::Comma) => t = &t[1..],
            None | Some(Token::Close) => {}
            Some(_) => return Err(MatcherError(format!("expected a comma or '}}': {s}"))),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The classic parser (Alertmanager ≤ 0.26 `pkg/labels/parse.go`).

fn classic_re() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s).*?)\s*$")
            .unwrap_or_else(|e| panic!("static regex: {e}"))
    })
}

/// The classic list parser: strips one `{` and one `}`, splits on commas outside double
/// quotes and parses each part with [`parse_matcher`].
pub fn parse_matchers_classic(s: &str) -> Result<Vec<Matcher>, MatcherError> {
    let s = s.strip_prefix('{').unwrap_or(s);
    let s = s.strip_suffix('}').unwrap_or(s);
    let mut tokens = Vec::new();
    let mut token = String::new();
    let (mut inside_quotes, mut escaped) = (false, false);
    for c in s.chars() {
        match c {
            ',' if !inside_quotes => {
                tokens.push(std::mem::take(&mut token));
                continue;
            }
            ',' => {}
            '"' => {
                if !escaped {
                    inside_quotes = !inside_quotes;
                } else {
                    escaped = false;
                }
            }
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
        token.push(c);
    }
    let last = token.trim();
    if !last.is_empty() {
        tokens.push(last.to_string());
    }
    tokens.iter().map(|t| parse_matcher(t)).collect()
}

/// Parses one matcher with the classic grammar (`name op value`, the value optionally in
/// double quotes; `\n`, `\"` and `\\` are escapes, any other backslash is literal).
pub fn parse_matcher(s: &str) -> Result<Matcher, MatcherError> {
    let caps = classic_re()
        .captures(s)
        .ok_or_else(|| MatcherError(format!("bad matcher format: {s}")))?;
    let (name, op, raw) = (&caps[1], &caps[2], &caps[3]);
    let op = match op {
        "=" => MatchOp::Equal,
        "!=" => MatchOp::NotEqual,
        "=~" => MatchOp::Regex,
        _ => MatchOp::NotRegex,
    };
    let (mut raw_value, mut expect_trailing_quote) = (raw, false);
    if let Some(rest) = raw_value.strip_prefix('"') {
        raw_value = rest;
        expect_trailing_quote = true;
    }
    let unescaped_quote = || {
        MatcherError(format!(
            "matcher value contains unescaped double quote: {raw}"
        ))
    };
    let mut value = String::with_capacity(raw_value.len());
    let mut escaped = false;
    for (i, c) in raw_value.char_indices() {
        if escaped {
            escaped = false;
            match c {
                'n' => value.push('\n'),
                '"' | '\\' => value.push(c),
                _ => {
                    value.push('\\');
                    value.push(c);
                }
            }
            continue;
        }
        match c {
            '\\' if i < raw_value.len() - 1 => escaped = true,
            '\\' => value.push('\\'),
            '"' => {
                if !expect_trailing_quote || i < raw_value.len() - 1 {
                    return Err(unescaped_quote());
                }
                expect_trailing_quote = false;
            }
            c => value.push(c),
        }
    }
    if expect_trailing_quote {
        return Err(unescaped_quote());
    }
    Matcher::new(op, name, value)
}

/// Parses one matcher as Alertmanager 0.27's fallback mode does (`compat.Matcher`, behind
/// amtool's label arguments and the API's `filter`): no braces, exactly one matcher, and
/// the two parsers combined as in [`parse_matchers`].
pub fn parse_one_matcher(s: &str) -> Result<Matcher, MatcherError> {
    if s.starts_with('{') || s.ends_with('}') {
        return Err(MatcherError(format!("unexpected open or close brace: {s}")));
    }
    let new = parse_matchers_new(s).and_then(|mut v| match v.len() {
        1 => Ok(v.remove(0)),
        0 => Err(MatcherError("no matchers".to_string())),
        n => Err(MatcherError(format!("expected 1 matcher, found {n}"))),
    });
    match (new, parse_matcher(s)) {
        (Ok(new), Ok(classic)) if new != classic => Ok(classic),
        (Ok(new), _) => Ok(new),
        (Err(_), Ok(classic)) => Ok(classic),
        (Err(_), Err(e)) => Err(e),
    }
}

/// Parses amtool-style label arguments (`severity=page`, `team="db"`,
/// `"service.name"=api`) into a label set: each argument is one matcher
/// ([`parse_one_matcher`]) that must use `=`.
pub fn parse_label_args<S: AsRef<str>>(args: &[S]) -> Result<Labels, MatcherError> {
    let mut pairs = Vec::with_capacity(args.len());
    for a in args {
        let m = parse_one_matcher(a.as_ref())?;
        if m.op != MatchOp::Equal {
            return Err(MatcherError(
                "labels must be specified as key=value pairs".to_string(),
            ));
        }
        let m = m.0;
        pairs.push((m.name, m.value));
    }
    Ok(Labels::from_pairs(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Matcher {
        let v = parse_matchers(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(v.len(), 1, "{s}");
        v.into_iter()
            .next()
            .unwrap_or_else(|| Matcher::equal("", ""))
    }

    #[test]
    fn new_syntax_forms() {
        assert_eq!(one(r#"foo="bar""#), Matcher::equal("foo", "bar"));
        assert_eq!(one("foo=bar"), Matcher::equal("foo", "bar"));
        let m = one(r#"foo=~"a|b""#);
        assert_eq!((m.op, m.value.as_str()), (MatchOp::Regex, "a|b"));
        let v = parse_matchers(r#"{foo!="x",bar=baz}"#).unwrap();
        assert_eq!(v[0].op, MatchOp::NotEqual);
        assert_eq!(v[1], Matcher::equal("bar", "baz"));
        assert_eq!(parse_matchers("{}").unwrap(), vec![]);
        assert_eq!(
            parse_matchers("{a=b,}").unwrap(),
            vec![Matcher::equal("a", "b")]
        );
        // Quoted UTF-8 label names and values.
        assert_eq!(one(r#""föö bar"="bäz""#), Matcher::equal("föö bar", "bäz"));
        assert_eq!(
            one(r#"{"service.name"="api"}"#),
            Matcher::equal("service.name", "api")
        );
        assert_eq!(
            one("service.name=api"),
            Matcher::equal("service.name", "api")
        );
        assert_eq!(one("foo🙂=bar"), Matcher::equal("foo🙂", "bar"));
        // A quoted name only the new parser reads, so its Go escapes count (`\u00e9` is é).
        assert_eq!(one(r#""a b"="caf\u00e9""#).value, "café");
    }

    // The cases of Alertmanager's compat tests (`TestFallbackMatchersParser`), restated.
    #[test]
    fn fallback_mode_prefers_the_classic_parser_on_disagreement() {
        // Both parse, differently: the classic parser's reading wins. `\t` and `\x..` are
        // escapes only to the new parser; the classic one keeps the backslash.
        assert_eq!(one(r#"a="tab\there""#).value, r"tab\there");
        assert_eq!(
            one(r#"{foo="\xf0\x9f\x99\x82"}"#).value,
            r"\xf0\x9f\x99\x82"
        );
        // Only the classic parser reads it.
        let v = parse_matchers(r"{foo=!bar,bar=$baz\n}").unwrap();
        assert_eq!(
            v,
            vec![
                Matcher::equal("foo", "!bar"),
                Matcher::equal("bar", "$baz\n")
            ]
        );
        // Neither: the classic parser's error.
        assert_eq!(
            parse_matchers("{foo!bar}").unwrap_err().to_string(),
            "bad matcher format: foo!bar"
        );
    }

    #[test]
    fn reserved_characters_in_names_print_quoted() {
        let ms = Matchers(parse_matchers(r#"{"service name"="a b", service.name="x"}"#).unwrap());
        assert_eq!(ms.to_string(), r#"{"service name"="a b",service.name="x"}"#);
        // What prints parses back to the same matchers.
        assert_eq!(parse_matchers(&ms.to_string()).unwrap(), ms.0);
    }

    #[test]
    fn classic_fallback_forms() {
        // Values with spaces and lenient escapes only parse classically.
        assert_eq!(one("foo=bar baz").value, "bar baz");
        assert_eq!(one(r#"foo=~"\d+""#).value, r"\d+");
        assert_eq!(one("foo=").value, "");
        assert_eq!(one(r#"a="x\"y""#).value, "x\"y");
        assert!(parse_matchers(r#"a="x"y""#).is_err());
        assert!(parse_matchers("=x").is_err());
        assert!(parse_matcher(r#"{team="axb",x=y}"#).is_err());
    }

    #[test]
    fn regex_is_anchored_and_dot_does_not_match_newline() {
        let m = one("team=~a.b");
        assert!(m.matches("axb"));
        assert!(!m.matches("xaxb"));
        assert!(!m.matches("a\nb"));
        let (s, exact) = m.to_store_matcher().unwrap();
        assert!(s.matches("a\nb"));
        assert!(!exact);
    }

    #[test]
    fn missing_label_is_empty() {
        let l = Labels::from_pairs([("a", "1")]);
        assert!(one(r#"b="""#).matches_labels(&l));
        assert!(one(r#"b!="x""#).matches_labels(&l));
        assert!(!one(r#"b=~".+""#).matches_labels(&l));
    }

    #[test]
    fn display_uses_go_quoting_and_am_order() {
        let mut ms = Matchers(parse_matchers(r#"{z="1",a=~"x\\d",a="é\n"}"#).unwrap());
        ms.sort();
        assert_eq!(ms.to_string(), r#"{a=~"x\\d",a="é\n",z="1"}"#);
    }

    #[test]
    fn label_args_like_amtool() {
        let l = parse_label_args(&["severity=page", r#"team="db""#]).unwrap();
        assert_eq!(l.get("team"), Some("db"));
        let l = parse_label_args(&[r#""service.name"=api"#, "host=a b"]).unwrap();
        assert_eq!(l.get("service.name"), Some("api"));
        // Only the classic parser reads a value with a space; it needs a classic name.
        assert_eq!(l.get("host"), Some("a b"));
        assert!(parse_label_args(&["host.name=a b"]).is_err());
        assert_eq!(
            parse_label_args(&["{a=b}"]).unwrap_err().to_string(),
            "unexpected open or close brace: {a=b}"
        );
        assert!(parse_label_args(&["team=~a"]).is_err());
        assert!(parse_label_args(&["foo"]).is_err());
    }
}
