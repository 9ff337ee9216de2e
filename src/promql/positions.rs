//! Source positions of AST nodes, for annotations.
//!
//! `promql-parser` keeps no positions, but upstream ends every warning and info with the
//! `line:column` of the expression it is about. [`compute`] recovers them by walking the AST in
//! source order and finding each node's leading token in the query text from a moving cursor,
//! skipping over string literals. Nodes are keyed by their address in the (unmoved) AST.

use promql_parser::parser::Expr;
use std::collections::HashMap;

/// Node address to (line, column, byte offset).
pub(crate) fn compute(text: &str, expr: &Expr) -> HashMap<usize, (usize, usize, usize)> {
    let mut w = Walker {
        text: text.as_bytes(),
        cursor: 0,
        found: HashMap::new(),
    };
    w.walk(expr);
    let mut out = HashMap::new();
    for (k, off) in w.found {
        let (l, c) = line_col(text, off);
        out.insert(k, (l, c, off));
    }
    out
}

fn line_col(text: &str, off: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..off.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = match before.iter().rposition(|&b| b == b'\n') {
        Some(nl) => off - nl,
        None => off + 1,
    };
    (line, col)
}

struct Walker<'a> {
    text: &'a [u8],
    cursor: usize,
    found: HashMap<usize, usize>,
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

impl Walker<'_> {
    /// Finds `needle` at or after the cursor outside string literals; `word` requires it not to
    /// be part of a longer identifier.
    fn find(&self, needle: &str, word: bool, ci: bool) -> Option<usize> {
        let n = needle.as_bytes();
        let t = self.text;
        let mut i = self.cursor;
        while i < t.len() {
            let b = t[i];
            if b == b'"' || b == b'\'' || b == b'`' {
                i = skip_string(t, i);
                continue;
            }
            if i + n.len() <= t.len() {
                let cand = &t[i..i + n.len()];
                let eq = if ci {
                    cand.eq_ignore_ascii_case(n)
                } else {
                    cand == n
                };
                let bounded = !word
                    || ((i == 0 || !is_ident(t[i - 1]))
                        && (i + n.len() == t.len() || !is_ident(t[i + n.len()])));
                if eq && bounded {
                    return Some(i);
                }
            }
            i += 1;
        }
        None
    }

    fn next_non_space(&self) -> usize {
        let mut i = self.cursor;
        while i < self.text.len() && self.text[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    }

    fn mark(&mut self, e: &Expr, pos: usize) {
        self.found.insert(e as *const Expr as usize, pos);
    }

    fn token(&mut self, needle: &str, word: bool, ci: bool) -> usize {
        match self.find(needle, word, ci) {
            Some(p) => {
                self.cursor = p + needle.len();
                p
            }
            None => self.next_non_space(),
        }
    }

    fn walk(&mut self, e: &Expr) -> usize {
        let pos = match e {
            Expr::Binary(b) => {
                let p = self.walk(&b.lhs);
                self.walk(&b.rhs);
                p
            }
            Expr::Aggregate(a) => {
                let p = self.token(&a.op.to_string(), true, true);
                self.skip_leading_grouping();
                // The aggregation's own parenthesis, so a parenthesised parameter finds its own.
                self.token("(", false, false);
                if let Some(param) = &a.param {
                    self.walk(param);
                }
                self.walk(&a.expr);
                p
            }
            Expr::Call(c) => {
                let p = self.token(c.func.name, true, false);
                self.token("(", false, false);
                for a in &c.args.args {
                    self.walk(a);
                }
                p
            }
            Expr::VectorSelector(vs) => self.selector(vs.name.as_deref()),
            Expr::MatrixSelector(ms) => self.selector(ms.vs.name.as_deref()),
            Expr::Subquery(sq) => self.walk(&sq.expr),
            Expr::Paren(p) => {
                let pos = self.token("(", false, false);
                self.walk(&p.expr);
                pos
            }
            Expr::Unary(u) => {
                let pos = self.token("-", false, false);
                self.walk(&u.expr);
                pos
            }
            Expr::StringLiteral(_) => {
                let p = self.text[self.cursor.min(self.text.len())..]
                    .iter()
                    .position(|&b| matches!(b, b'"' | b'\'' | b'`'))
                    .map_or(self.text.len(), |i| self.cursor + i);
                if p < self.text.len() {
                    self.cursor = skip_string(self.text, p);
                }
                p
            }
            Expr::NumberLiteral(_) => self.number(),
            Expr::Extension(_) | Expr::Duration(_) => self.next_non_space(),
        };
        self.mark(e, pos);
        pos
    }

    /// Moves the cursor past a `by (...)`/`without (...)` clause written before an
    /// aggregation's parenthesised arguments, so its label names are not taken for them.
    fn skip_leading_grouping(&mut self) {
        let t = self.text;
        let i = self.next_non_space();
        let rest = &t[i..];
        let starts = |kw: &[u8]| {
            rest.len() >= kw.len()
                && rest[..kw.len()].eq_ignore_ascii_case(kw)
                && rest.get(kw.len()).is_none_or(|&b| !is_ident(b))
        };
        if starts(b"by") || starts(b"without") {
            if let Some(close) = rest.iter().position(|&b| b == b')') {
                self.cursor = i + close + 1;
            }
        }
    }

    /// The start of the number literal at or after the cursor, which then moves past it.
    /// Upstream folds a unary sign into the literal (`-1.1` is one literal that starts at
    /// its `-`), so signs in operand position count; a sign after an operand is the binary
    /// operator.
    fn number(&mut self) -> usize {
        let t = self.text;
        let mut i = self.cursor;
        while i < t.len() && !(t[i].is_ascii_alphanumeric() || t[i] == b'.') {
            i += 1;
        }
        let mut start = i;
        loop {
            let mut k = start;
            while k > self.cursor && t[k - 1].is_ascii_whitespace() {
                k -= 1;
            }
            if k == self.cursor || !matches!(t[k - 1], b'-' | b'+') {
                break;
            }
            let mut m = k - 1;
            while m > 0 && t[m - 1].is_ascii_whitespace() {
                m -= 1;
            }
            let after_operand = m > 0
                && (is_ident(t[m - 1])
                    || matches!(t[m - 1], b')' | b'}' | b']' | b'"' | b'\'' | b'`'));
            if after_operand {
                break;
            }
            start = k - 1;
        }
        let mut end = i;
        while end < t.len()
            && (t[end].is_ascii_alphanumeric()
                || t[end] == b'.'
                || (matches!(t[end], b'+' | b'-') && matches!(t[end - 1], b'e' | b'E')))
        {
            end += 1;
        }
        self.cursor = end;
        start.min(t.len())
    }

    fn selector(&mut self, name: Option<&str>) -> usize {
        let p = match name {
            Some(n) => match self.find(n, true, false) {
                Some(p) => p,
                None => self
                    .find(&format!("\"{n}\""), false, false)
                    .unwrap_or(self.cursor),
            },
            None => self.find("{", false, false).unwrap_or(self.cursor),
        };
        // Move past the selector's braces, if any, so matcher text is not searched again.
        self.cursor = p + name.map_or(1, str::len);
        let mut i = self.cursor;
        while i < self.text.len() && self.text[i].is_ascii_whitespace() {
            i += 1;
        }
        if name.is_none() || (i < self.text.len() && self.text[i] == b'{') {
            let t = self.text;
            while i < t.len() && t[i] != b'}' {
                if t[i] == b'"' || t[i] == b'\'' || t[i] == b'`' {
                    i = skip_string(t, i);
                } else {
                    i += 1;
                }
            }
            self.cursor = (i + 1).min(t.len());
        }
        p
    }
}

/// Whether the string literal starting at byte `off` of `text` decodes, with Go's escape rules
/// (`\xNN` and octal escapes are raw bytes), to valid UTF-8. `promql-parser` turns `"\xff"` into
/// `ÿ`, where upstream gets the invalid byte 0xff and rejects it as a label name.
pub(crate) fn literal_is_valid_utf8(text: &str, off: usize) -> bool {
    literal_go_bytes(text, off).is_none_or(|b| std::str::from_utf8(&b).is_ok())
}

/// The bytes Go reads from the `"`- or `'`-quoted string literal starting at byte `off` of
/// `text` (`\xNN` and octal escapes are raw bytes), or `None` when no such literal starts
/// there.
pub(crate) fn literal_go_bytes(text: &str, off: usize) -> Option<Vec<u8>> {
    let t = text.as_bytes();
    if off >= t.len() || !matches!(t[off], b'"' | b'\'') {
        return None;
    }
    let end = skip_string(t, off);
    let body = &t[off + 1..end.saturating_sub(1).max(off + 1)];
    let mut bytes = Vec::new();
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'\\' || i + 1 >= body.len() {
            bytes.push(body[i]);
            i += 1;
            continue;
        }
        let c = body[i + 1];
        let hex = |s: &[u8]| {
            std::str::from_utf8(s)
                .ok()
                .and_then(|s| u32::from_str_radix(s, 16).ok())
        };
        match c {
            b'x' if i + 4 <= body.len() => {
                bytes.push(hex(&body[i + 2..i + 4]).unwrap_or(0) as u8);
                i += 4;
            }
            b'0'..=b'7' if i + 4 <= body.len() => {
                let s = std::str::from_utf8(&body[i + 1..i + 4]).unwrap_or("0");
                bytes.push(u32::from_str_radix(s, 8).unwrap_or(0) as u8);
                i += 4;
            }
            b'u' | b'U' => {
                let n = if c == b'u' { 4 } else { 8 };
                let end = (i + 2 + n).min(body.len());
                let ch = hex(&body[i + 2..end])
                    .and_then(char::from_u32)
                    .unwrap_or('?');
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                i = end;
            }
            _ => {
                bytes.push(match c {
                    b'a' => 0x07,
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'v' => 0x0b,
                    other => other,
                });
                i += 2;
            }
        }
    }
    Some(bytes)
}

/// The index after the string literal that starts at `i` (quoted with `"`, `'` or a
/// backtick), or the end of the text.
pub(super) fn skip_string(t: &[u8], i: usize) -> usize {
    (i + crate::gostrconv::literal_end(&t[i..]) + 1).min(t.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_nested_calls() {
        let q = "sum(sort(series))";
        let e = crate::promql::Engine::parse(q).unwrap();
        let pos = compute(q, &e);
        let Expr::Aggregate(a) = &e else {
            panic!("not an aggregate")
        };
        assert_eq!(pos[&(&e as *const Expr as usize)], (1, 1, 0));
        assert_eq!(pos[&(&*a.expr as *const Expr as usize)], (1, 5, 4));
    }

    /// The (line, column, byte offset) of the node `pick` chooses in the parsed `q`.
    fn position_of(q: &str, pick: impl Fn(&Expr) -> Option<&Expr>) -> (usize, usize, usize) {
        let e = crate::promql::Engine::parse(q).unwrap();
        let pos = compute(q, &e);
        let node = pick(&e).unwrap_or_else(|| panic!("no such node in {q}"));
        pos[&(node as *const Expr as usize)]
    }

    fn inner(e: &Expr) -> Option<&Expr> {
        match e {
            Expr::Aggregate(a) => Some(&a.expr),
            _ => None,
        }
    }

    fn param(e: &Expr) -> Option<&Expr> {
        match e {
            Expr::Aggregate(a) => a.param.as_deref(),
            _ => None,
        }
    }

    fn rhs(e: &Expr) -> Option<&Expr> {
        match e {
            Expr::Binary(b) => Some(&b.rhs),
            _ => None,
        }
    }

    fn arg(e: &Expr, i: usize) -> Option<&Expr> {
        match e {
            Expr::Call(c) => c.args.args.get(i).map(|a| &**a),
            _ => None,
        }
    }

    /// The column of an aggregation's parameter: `limit_ratio(` ends at byte 17, so the
    /// literal starts at byte 18, column 19 — not at the `(` before it.
    #[test]
    fn aggregation_parameter_literal_starts_at_its_first_character() {
        for q in [
            "count(limit_ratio(1.1, x))",
            "count(limit_ratio(-1.1, x))",
            "count(limit_ratio( -1.1 , x))",
        ] {
            let want = q.find(|c: char| c == '-' || c.is_ascii_digit()).unwrap();
            let got = position_of(q, |e| inner(e).and_then(param));
            assert_eq!(got, (1, want + 1, want), "{q}");
        }
    }

    /// A grouping clause before the arguments is skipped: in `topk by (l1) (3, x)` the
    /// parameter is the `3` at byte 14, not the `l1` label name.
    #[test]
    fn parameter_after_leading_grouping_clause() {
        assert_eq!(position_of("topk by (l1) (3, x)", param), (1, 15, 14));
    }

    /// A parenthesised parameter points at its own `(`, not at the aggregation's or the
    /// call's: in `sum(quantile by (a) ((2), m))` that is byte 21; in `round((x), 1)` the
    /// argument's `(` is byte 6.
    #[test]
    fn parenthesised_argument_points_at_its_own_parenthesis() {
        let q = "sum(quantile by (a) ((2), m))";
        assert_eq!(position_of(q, |e| inner(e).and_then(param)).2, 21);
        assert_eq!(position_of("round((x), 1)", |e| arg(e, 0)).2, 6);
        assert_eq!(position_of("round((x), 1)", |e| arg(e, 1)).2, 11);
    }

    /// A sign after an operand is the binary operator, not part of the literal: in
    /// `x - 1` the literal is at byte 4; in `x - -1` the folded `-1` starts at byte 4 too.
    #[test]
    fn binary_minus_is_not_part_of_the_literal() {
        for (q, want) in [("x - 1", 4), ("x - -1", 4), ("x -1", 3)] {
            assert_eq!(position_of(q, rhs).2, want, "{q}");
        }
    }

    /// The position of argument `i` of the call `q`.
    fn arg_position(q: &str, i: usize) -> (usize, usize, usize) {
        let e = crate::promql::Engine::parse(q).unwrap();
        let Expr::Call(c) = &e else {
            panic!("not a call")
        };
        compute(q, &e)[&(&*c.args.args[i] as *const Expr as usize)]
    }

    #[test]
    fn positions_of_number_arguments() {
        // Upstream reports a literal argument at its own first character: "2" is byte 19
        // (column 20); in the second query "1e-3" is byte 20 and "0.5" byte 26.
        assert_eq!(arg_position("histogram_quantile(2, m)", 0), (1, 20, 19));
        let q = "histogram_fraction( 1e-3, 0.5, m)";
        assert_eq!(arg_position(q, 0), (1, 21, 20));
        assert_eq!(arg_position(q, 1), (1, 27, 26));
    }
}
