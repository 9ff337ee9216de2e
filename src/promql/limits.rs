//! Limits on a query's text, checked before the parser sees it, so that the syntax tree of
//! every accepted query is shallow enough for the stack of the thread that handles it.
//!
//! The `promql-parser` crate, its `Display` and `Drop` of the boxed syntax tree, and the
//! evaluator all recurse once per level of the tree. Without a bound, `abs(` nested 2,000 deep
//! or a chain `1+1+…` of 5,000 terms overflows a thread's stack, which aborts the process.
//! [`check`] scans the text once, without recursion, and refuses a query that is longer than
//! [`ParseLimits::max_length`] bytes or whose depth estimate exceeds
//! [`ParseLimits::max_depth`].
//!
//! The depth estimate is an upper bound of the number of inner nodes on any path from the
//! root of the syntax tree to a leaf. Every inner node of the tree comes from a token:
//! parentheses, calls and aggregations from a `(`, matrix selectors and subqueries from a `[`,
//! binary and unary operators from an operator (`+`, `or`, `atan2`, …). A node's operator lies
//! in the innermost bracket group that encloses the node's whole text, so the nodes on a path to
//! a leaf come from the groups around that leaf: the estimate of a bracket group is 1 plus the
//! operators and `[` written directly in it plus the largest estimate of the groups inside it;
//! the query's is the same without the 1. Operators inside `{…}` (label matchers) and inside
//! string literals and comments are not counted.
//!
//! [`EVAL_STACK_SIZE`] is the stack every thread that parses, evaluates, prints or drops an
//! accepted expression is given (the runtime's workers and blocking threads); a test builds the
//! deepest expression of each kind the default limits accept and runs it on such a thread.

use super::positions::skip_string;
use super::QueryError;

/// Default of [`ParseLimits::max_depth`], and the most it may be set to: the stacks of
/// [`EVAL_STACK_SIZE`] are proven (by test) for this depth. The deepest expressions in real
/// rule files (kube-prometheus mixins, Sloth's generated rules) have depth estimates below 50.
pub const MAX_QUERY_DEPTH: usize = 256;

/// Default of [`ParseLimits::max_length`] in bytes. Prometheus has no such limit; real rule
/// expressions and dashboard queries are a few KiB at most.
pub const DEFAULT_MAX_QUERY_LENGTH: usize = 128 * 1024;

/// The stack size of every thread that handles expressions accepted under [`MAX_QUERY_DEPTH`]:
/// 8 MiB, the size of a Linux main thread's stack. In an unoptimised build the costliest kind
/// of nesting (subqueries) takes about 13 KiB of stack per level, and the test over the deepest
/// accepted query of every kind passes with 3 MiB: the margin is more than 2.5 times.
pub const EVAL_STACK_SIZE: usize = 8 << 20;

/// How long and how deep a query's text may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseLimits {
    /// Most bytes of query text (`--query.max-length`).
    pub max_length: usize,
    /// Largest depth estimate (`--query.max-depth`), at most [`MAX_QUERY_DEPTH`].
    pub max_depth: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_length: DEFAULT_MAX_QUERY_LENGTH,
            max_depth: MAX_QUERY_DEPTH,
        }
    }
}

impl ParseLimits {
    /// Refuses `text` if it is longer or deeper than these limits allow (`check`).
    pub fn check(&self, text: &str) -> Result<(), QueryError> {
        check(text, self)
    }
}

/// One open bracket group while scanning.
#[derive(Clone, Copy, Default)]
struct Group {
    /// Operators and `[` written directly in this group.
    ops: usize,
    /// The largest estimate of a group closed inside this one.
    inner: usize,
    /// Whether this is a `{…}` group (label matchers: nothing in it is an operator).
    braces: bool,
    /// Whether this is a `[…]` group (a range or a subquery's range and step).
    brackets: bool,
}

impl Group {
    /// The group's estimate. Label matchers (`{…}`) make no node of the syntax tree.
    fn depth(&self) -> usize {
        if self.braces {
            self.inner
        } else {
            1 + self.ops + self.inner
        }
    }
}

/// Refuses `text` if it is longer or deeper than `limits` allow; see the module docs.
pub fn check(text: &str, limits: &ParseLimits) -> Result<(), QueryError> {
    if text.len() > limits.max_length {
        return Err(QueryError::Parse(format!(
            "parse error: query is {} bytes long, more than the limit of {} (query.max-length)",
            text.len(),
            limits.max_length
        )));
    }
    let max_depth = limits.max_depth.min(MAX_QUERY_DEPTH);
    let too_deep = |at: usize| {
        let (line, col) = line_col(text, at);
        Err(QueryError::Parse(format!(
            "{line}:{col}: parse error: query nests deeper than the limit of {max_depth} \
             (brackets and chained operators, query.max-depth)"
        )))
    };
    let b = text.as_bytes();
    let mut stack: Vec<Group> = vec![Group::default()];
    let mut i = 0;
    // Whether a number here is read as a duration in seconds (after `offset`, `[` or a
    // subquery's `:`): the parser converts it with `Duration::from_secs_f64`, which panics
    // on a value out of range, so such a value is refused here first.
    let mut duration_place = false;
    while i < b.len() {
        let c = b[i];
        let braces = stack.last().is_some_and(|g| g.braces);
        let mut op = false;
        let mut next = i + 1;
        let was_duration_place = std::mem::take(&mut duration_place);
        match c {
            c if c.is_ascii_whitespace() => duration_place = was_duration_place,
            b'"' | b'\'' | b'`' => next = skip_string(b, i),
            b'#' => {
                next = b[i..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .map_or(b.len(), |p| i + p + 1);
                duration_place = was_duration_place;
            }
            b'(' | b'[' | b'{' => {
                if c == b'[' {
                    if let Some(g) = stack.last_mut() {
                        g.ops += 1;
                    }
                }
                stack.push(Group {
                    braces: c == b'{',
                    brackets: c == b'[',
                    ..Group::default()
                });
                duration_place = c == b'[';
                // The root group does not count; every other open group but `{` adds 1.
                if c != b'{' && stack.len() - 1 > max_depth {
                    return too_deep(i);
                }
            }
            b')' | b']' | b'}' if stack.len() > 1 => {
                let g = stack.pop().unwrap_or_default();
                let depth = g.depth();
                if depth > max_depth {
                    return too_deep(i);
                }
                if let Some(parent) = stack.last_mut() {
                    parent.inner = parent.inner.max(depth);
                }
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' => {
                op = true;
                // A sign does not end a duration's place: `offset -5m`, `offset + 60`.
                duration_place = was_duration_place && matches!(c, b'+' | b'-');
            }
            b'=' | b'!' | b'<' | b'>' => {
                // `==`, `!=`, `<`, `<=`, `>`, `>=` and the trim operators `</`, `>/`; a lone
                // `=` or `=~` / `!~` only appears between a label name and value.
                let second = b.get(i + 1).copied();
                op = match c {
                    b'=' => second == Some(b'='),
                    b'!' => second == Some(b'='),
                    _ => true,
                };
                let trim = matches!(c, b'<' | b'>') && second == Some(b'/');
                if matches!(second, Some(b'=' | b'~')) || trim {
                    next = i + 2;
                }
            }
            b':' if stack.last().is_some_and(|g| g.brackets) => duration_place = true,
            c if c.is_ascii_digit() || c == b'.' => {
                next = skip_number(b, i);
                if was_duration_place && !duration_in_range(&text[i..next]) {
                    let (line, col) = line_col(text, i);
                    // Prometheus' words for a duration it cannot hold (promtool 2.42 on
                    // `offset 2222…s`).
                    return Err(QueryError::Parse(format!(
                        "{line}:{col}: parse error: duration out of range"
                    )));
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                next = i + b[i..]
                    .iter()
                    .position(|&x| !(x.is_ascii_alphanumeric() || x == b'_' || x == b':'))
                    .unwrap_or(b.len() - i);
                let word = &text[i..next];
                op = ["and", "or", "unless", "atan2", "bitand", "bitor", "bitxor"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k));
                duration_place = word.eq_ignore_ascii_case("offset");
            }
            _ => {}
        }
        if op && !braces {
            if let Some(g) = stack.last_mut() {
                g.ops += 1;
                // This group alone already exceeds the limit (a long operator chain).
                if g.ops > max_depth {
                    return too_deep(i);
                }
            }
        }
        i = next;
    }
    // Groups left open make the parser fail; close them for the estimate all the same.
    while stack.len() > 1 {
        let g = stack.pop().unwrap_or_default();
        let depth = g.depth();
        if let Some(parent) = stack.last_mut() {
            parent.inner = parent.inner.max(depth);
        }
    }
    let root = stack.pop().unwrap_or_default();
    if root.ops + root.inner > max_depth {
        return too_deep(b.len().saturating_sub(1));
    }
    Ok(())
}

/// `text` without its comments (`#` to the end of the line, outside string literals), so it
/// can be embedded in a larger expression (SLO rule generation) without a comment swallowing
/// what follows it. Line breaks stay.
pub fn strip_comments(text: &str) -> std::borrow::Cow<'_, str> {
    let b = text.as_bytes();
    if !b.contains(&b'#') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let (mut i, mut kept) = (0, 0);
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => i = skip_string(b, i),
            b'#' => {
                out.push_str(&text[kept..i]);
                i = b[i..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .map_or(b.len(), |p| i + p);
                kept = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[kept..]);
    std::borrow::Cow::Owned(out)
}

/// The index after the number or duration that starts at `start` (`1`, `0x1f`, `1.5e-3`,
/// `5m30s`): letters, digits, `.` and `_`, and a sign right after an exponent's `e`.
fn skip_number(b: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < b.len() {
        let x = b[i];
        let exponent_sign = (x == b'+' || x == b'-')
            && matches!(b[i - 1], b'e' | b'E')
            && !b[start..i].iter().any(|c| matches!(c, b'x' | b'X'));
        if x.is_ascii_alphanumeric() || x == b'.' || x == b'_' || exponent_sign {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// Whether a number read as seconds fits a `Duration` (finite, not negative, below 2^64 s).
/// Numbers with a unit (`5m`) are the parser's own duration literals, always in range.
fn duration_in_range(number: &str) -> bool {
    let lower = number.to_ascii_lowercase();
    let value = match lower.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).map_or(f64::INFINITY, |v| v as f64),
        None => match lower.parse::<f64>() {
            Ok(v) => v,
            Err(_) => return true,
        },
    };
    value.is_finite() && value >= 0.0 && value < u64::MAX as f64
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(q: &str, max_depth: usize) -> bool {
        check(
            q,
            &ParseLimits {
                max_depth,
                ..ParseLimits::default()
            },
        )
        .is_ok()
    }

    /// The smallest limit that accepts `q`: its depth estimate.
    fn estimate(q: &str) -> usize {
        (0..=MAX_QUERY_DEPTH)
            .find(|&d| depth_ok(q, d))
            .expect("within the ceiling")
    }

    #[test]
    fn depth_estimates_of_hand_counted_queries() {
        // Inner nodes on the deepest path, counted by hand from the syntax tree.
        assert_eq!(estimate("up"), 0);
        assert_eq!(estimate("-up"), 1);
        assert_eq!(estimate("abs(up)"), 1); // Call
        assert_eq!(estimate("(a + b) + c"), 3); // Binary, Paren, Binary
        assert_eq!(estimate("a or b or c"), 2); // Binary, Binary
        assert_eq!(estimate("sum by (job) (up)"), 1); // Aggregate
                                                      // Call, MatrixSelector: the `[` counts in the call's group and as a group of its own.
        assert_eq!(estimate("rate(x[5m])"), 3);
        // Nothing inside label matchers, strings or comments counts.
        assert_eq!(estimate("up{a!=\"x\", b=~\"(((+\"} # ((((-"), 0);
        assert_eq!(estimate("'a+b(' + `c\\`"), 1);
        // An exponent's sign is part of the number, a hex digit `e` followed by `-` is not.
        assert_eq!(estimate("1.5e-3"), 0);
        assert_eq!(estimate("0x1e-1"), 1);
        assert_eq!(estimate("a AND b Or c"), 2);
        // A trim operator is one operator, not `<` and `/`.
        assert_eq!(estimate("h </ 1 >/ 0"), 2); // Binary, Binary
    }

    #[test]
    fn attack_queries_from_issue_16_are_refused() {
        let l = ParseLimits::default();
        let nested = format!("{}1{}", "abs(".repeat(2000), ")".repeat(2000));
        let plus = vec!["1"; 5000].join("+");
        let or = vec!["up"; 5000].join(" or ");
        let parens = format!("{}1{}", "(".repeat(40_000), ")".repeat(40_000));
        for q in [nested, plus, or, parens] {
            let e = check(&q, &l).expect_err("too deep");
            assert!(
                e.to_string()
                    .contains("parse error: query nests deeper than the limit of 256"),
                "{e}"
            );
        }
    }

    #[test]
    fn too_deep_error_names_line_and_column() {
        let q = format!("up +\n {}1{}", "(".repeat(300), ")".repeat(300));
        let e = check(&q, &ParseLimits::default()).unwrap_err().to_string();
        // The 257th `(` opens the group that goes over: line 2, column 1 + 1 + 256.
        assert!(e.starts_with("2:258: parse error:"), "{e}");
    }

    /// A number read as a duration that `Duration` cannot hold made the parser panic (found
    /// by the `promql` fuzz target): it is a parse error naming its place.
    #[test]
    fn durations_out_of_range_are_refused_before_the_parser() {
        use crate::promql::parse;
        let huge = "2".repeat(60);
        for q in [
            format!("temperature offset {huge} + tv"),
            "x[1e400]".to_string(),
            "x[5m:1e30]".to_string(),
            "x offset # comment\n 0xffffffffffffffffffff".to_string(),
            format!("rate(x[{huge}])"),
            // A sign between `offset` and the number (found by the fuzz target).
            format!("sorbl offset+ {huge}++++++:+++++++rbl offset+ 1+e"),
            format!("x offset -{huge}"),
            format!("x offset - {huge}"),
        ] {
            let err = parse(&q, &ParseLimits::default())
                .expect_err(&q)
                .to_string();
            assert!(err.contains("out of range"), "{q}: {err}");
        }
        // Control: the same numbers elsewhere, and durations in range, parse.
        for q in [
            format!("x > {huge}"),
            "x[300]".to_string(),
            "x offset 60".to_string(),
            "x offset -60".to_string(),
            "x offset + 60".to_string(),
            "x[5m:30]".to_string(),
            "{__name__=~\"a:1e400\"}".to_string(),
        ] {
            if let Err(e) = parse(&q, &ParseLimits::default()) {
                panic!("{q}: {e}");
            }
        }
    }

    #[test]
    fn strip_comments_keeps_strings_and_line_breaks() {
        assert_eq!(strip_comments("up # all targets"), "up ");
        assert_eq!(
            strip_comments("sum(rate(x[5m])) # errors\n/ 2 # half"),
            "sum(rate(x[5m])) \n/ 2 "
        );
        assert_eq!(
            strip_comments(r##"up{a="#x", b='#y'}"##),
            r##"up{a="#x", b='#y'}"##
        );
        assert_eq!(strip_comments(r##"up{a="\"#"} # c"##), r##"up{a="\"#"} "##);
        assert_eq!(strip_comments("no comment"), "no comment");
    }

    #[test]
    fn length_limit() {
        let l = ParseLimits {
            max_length: 10,
            ..ParseLimits::default()
        };
        assert!(check("1234567890", &l).is_ok());
        let e = check("12345678901", &l).unwrap_err().to_string();
        assert_eq!(
            e,
            "parse error: query is 11 bytes long, more than the limit of 10 (query.max-length)"
        );
    }

    #[test]
    fn depth_limit_cannot_exceed_the_ceiling() {
        let q = format!("{}1{}", "(".repeat(300), ")".repeat(300));
        assert!(!depth_ok(&q, 10_000));
    }
}
