//! One line's position bookkeeping and its label blocks.
//!
//! [`Cursor`] knows where the current line starts, turns byte offsets into 1-based
//! line/column [`ParseError`]s, and parses `{name="value",...}` blocks (of samples and of
//! exemplars) into a reused `Vec<LabelRef>`: a tight fast path for the shape exporters write,
//! and a general path with the text format's whitespace, quoted UTF-8 names, escapes and
//! every error. Duplicate names are rejected in both.

use std::borrow::Cow;

use super::scan::{
    at, eq_at, is_label_start, scan_label_name, scan_plain_quoted, scan_quoted, skip_ws, unescape,
};
use super::{LabelRef, ParseError, ParseErrorKind};

/// What the previous sample line's fast path leaves for the next line to reuse.
///
/// Consecutive series of a family mostly share a long prefix
/// (`container_fs_reads_total{container="",device="/dev/vda",id="/",...`). A label block is
/// parsed left to right, and what a label parses to depends only on its own bytes and the
/// labels before it, so every label that ends (with its `,` or `}`) inside the bytes the two
/// lines share parses to the same result: the next line keeps those labels, already checked,
/// and parses only the rest. The same holds for the metric name when the byte after it is
/// shared. Positions are relative to the line's first byte.
#[derive(Debug, Default)]
pub(super) struct LineReuse {
    /// Whether the fields below describe a line whose labels are the parser's label buffer.
    pub(super) valid: bool,
    /// Where the remembered line starts in the input.
    pub(super) start: usize,
    /// How many of its bytes are worth comparing (through `}`, or the byte after the name).
    pub(super) len: usize,
    /// End of its unquoted metric name.
    pub(super) name_end: usize,
    /// Position of the `,` or `}` after each of its labels.
    pub(super) stops: Vec<usize>,
    /// Index of the first label out of sorted order (`usize::MAX` when sorted).
    pub(super) unsorted_from: usize,
}

impl LineReuse {
    /// For the line `b[line_start..end]`: the end of its metric name if it is the remembered
    /// one, and how many remembered labels it shares.
    #[inline]
    pub(super) fn plan(&self, b: &[u8], line_start: usize, end: usize) -> (Option<usize>, usize) {
        if !self.valid {
            return (None, 0);
        }
        let n = self.len.min(end.saturating_sub(line_start));
        let shared = common_prefix(b, self.start, line_start, n);
        if shared <= self.name_end {
            return (None, 0);
        }
        let kept = self.stops.iter().take_while(|&&s| s < shared).count();
        (Some(line_start + self.name_end), kept)
    }
}

/// Length of the common prefix of `b[p..p + n]` and `b[q..q + n]`, eight bytes at a time.
#[inline]
fn common_prefix(b: &[u8], p: usize, q: usize, n: usize) -> usize {
    let (Some(x), Some(y)) = (b.get(p..p + n), b.get(q..q + n)) else {
        return 0;
    };
    let mut cx = x.chunks_exact(8);
    let mut cy = y.chunks_exact(8);
    let mut done = 0;
    for (wx, wy) in (&mut cx).zip(&mut cy) {
        let (Ok(wx), Ok(wy)) = (<[u8; 8]>::try_from(wx), <[u8; 8]>::try_from(wy)) else {
            break;
        };
        let d = u64::from_le_bytes(wx) ^ u64::from_le_bytes(wy);
        if d != 0 {
            return done + (d.trailing_zeros() / 8) as usize;
        }
        done += 8;
    }
    done + cx
        .remainder()
        .iter()
        .zip(cy.remainder())
        .take_while(|(x, y)| x == y)
        .count()
}

/// Position bookkeeping for error messages.
pub(super) struct Cursor<'i> {
    pub(super) input: &'i str,
    pub(super) line_no: usize,
    pub(super) line_start: usize,
    /// Prometheus text format (whitespace-tolerant) rather than OpenMetrics.
    pub(super) text: bool,
}

impl<'i> Cursor<'i> {
    #[cold]
    #[inline(never)]
    pub(super) fn err(&self, pos: usize, message: impl Into<String>) -> ParseError {
        let pos = pos.max(self.line_start);
        let prefix = self
            .input
            .get(self.line_start..pos)
            .map_or(pos - self.line_start, |s| s.chars().count());
        ParseError {
            line: self.line_no,
            column: prefix + 1,
            message: message.into(),
            kind: ParseErrorKind::Syntax,
        }
    }

    /// `input[a..b]`, or an error if that is not a valid slice (never expected).
    #[inline]
    pub(super) fn slice(&self, a: usize, b: usize) -> Result<&'i str, ParseError> {
        self.input
            .get(a..b)
            .ok_or_else(|| self.err(a, "internal error: token not on a character boundary"))
    }

    /// Describes what stands at `pos` for "expected X, found Y" messages.
    #[cold]
    pub(super) fn found(&self, pos: usize, end: usize) -> String {
        match self.input.get(pos..end).and_then(|s| s.chars().next()) {
            Some(c) => format!("found {c:?}"),
            None => "found end of line".to_string(),
        }
    }

    /// The common shape of a label block, `{a="x",b="y"}`: unquoted names, no whitespace, no
    /// escapes, no `__name__`, in one tight loop. `out[..kept]` are labels [`LineReuse`] kept
    /// from the previous line and parsing starts at `from`, the first byte after `{` or after
    /// the last kept label's `,`. `out[kept..]` still holds the previous line's other labels:
    /// label names repeat from series to series, so each name (with the `="` after it) is
    /// first compared with the previous line's name at the same index, with word loads, and
    /// only scanned byte by byte when it differs; a name that matches is kept as it is (its
    /// text may borrow from an earlier line). Values are scanned sixteen bytes at a time.
    /// Records in `reuse` where each label ends. Returns the position after `}`, or `None` on
    /// anything else, and the caller re-parses the block with [`Cursor::label_block`], which
    /// handles (and reports) every other case.
    #[inline]
    pub(super) fn label_block_fast(
        &self,
        from: usize,
        end: usize,
        out: &mut Vec<LabelRef<'i>>,
        kept: usize,
        reuse: &mut LineReuse,
    ) -> Option<usize> {
        let input = self.input;
        let bytes = input.as_bytes();
        let b = bytes.get(..end)?;
        let line_start = self.line_start;
        let prev_len = out.len();
        let prev_unsorted = reuse.unsorted_from;
        // Index of the first label out of order (the previous line's, while the names are
        // the same as its names).
        let mut unsorted_from = if prev_unsorted < kept {
            prev_unsorted
        } else {
            usize::MAX
        };
        // Whether every name so far equals the previous line's name at the same index.
        let mut same_names = true;
        let mut n = kept;
        reuse.stops.truncate(kept);
        let mut p = from;
        loop {
            let c = *b.get(p)?;
            if c == b'}' {
                out.truncate(n);
                // The same names as a line that passed the check cannot hold duplicates.
                if unsorted_from != usize::MAX && !(same_names && n == prev_len) {
                    self.check_duplicates(out).ok()?;
                }
                reuse.unsorted_from = unsorted_from;
                return Some(p + 1);
            }
            let ns = p;
            // The previous line's name at this index borrows from the input, where the `="`
            // its block required follows it: compare both with this line's bytes at once.
            let guess = match out.get(n) {
                Some(l) if same_names => l.name.len(),
                _ => 0,
            };
            let known = guess != 0
                && out.get(n).is_some_and(|l| {
                    let at = (l.name.as_ptr() as usize).wrapping_sub(input.as_ptr() as usize);
                    eq_at(b, p, at, guess + 2)
                });
            let close = if known {
                // A name the previous line's block accepted: sorted the same way too. The
                // label keeps the previous line's name (the same text, borrowed from an
                // earlier line of the input, still followed by `="` there) and takes the new
                // value.
                p += guess;
                if prev_unsorted == n {
                    unsorted_from = n;
                }
                let vs = p + 2;
                let close = scan_plain_quoted(bytes, vs, end)?;
                let value = input.get(vs..close)?;
                out.get_mut(n)?.value = Cow::Borrowed(value);
                close
            } else {
                same_names = false;
                if !is_label_start(c) {
                    return None;
                }
                p = scan_label_name(b, p + 1, end);
                if b.get(p..p + 2)? != b"=\"" {
                    return None;
                }
                let name = input.get(ns..p)?;
                if name == "__name__" {
                    return None;
                }
                if let Some(last) = n.checked_sub(1).and_then(|i| out.get(i)) {
                    let (x, y) = (name.as_bytes().first(), last.name.as_bytes().first());
                    if unsorted_from == usize::MAX && (x < y || (x == y && name <= last.name)) {
                        unsorted_from = n;
                    }
                }
                let vs = p + 2;
                let close = scan_plain_quoted(bytes, vs, end)?;
                let label = LabelRef {
                    name,
                    value: Cow::Borrowed(input.get(vs..close)?),
                };
                match out.get_mut(n) {
                    Some(slot) => *slot = label,
                    None => out.push(label),
                }
                close
            };
            n += 1;
            p = close + 1;
            reuse.stops.push(p - line_start);
            match b.get(p) {
                Some(b',') => p += 1,
                Some(b'}') => {}
                _ => return None,
            }
        }
    }

    /// Parses a label block whose `{` is at `open`; returns the position after `}` and whether
    /// any quoted name had escapes. A quoted name without `=` sets the metric name through
    /// `metric` (not allowed in exemplars, where `metric` is `None`).
    pub(super) fn label_block(
        &self,
        open: usize,
        end: usize,
        out: &mut Vec<LabelRef<'i>>,
        mut metric: Option<&mut Option<&'i str>>,
    ) -> Result<(usize, bool), ParseError> {
        let b = self.input.as_bytes();
        let mut p = open + 1;
        let mut sorted = true;
        let mut escaped_names = false;
        loop {
            if self.text {
                p = skip_ws(b, p, end);
            }
            let c = at(b, p, end)
                .ok_or_else(|| self.err(p, "expected label name or '}', found end of line"))?;
            if c == b'}' {
                p += 1;
                break;
            }
            let name_start = p;
            let (name, name_escaped) = if c == b'"' {
                let (close, esc) = scan_quoted(b, p + 1, end)
                    .ok_or_else(|| self.err(p, "unterminated quoted name"))?;
                p = close + 1;
                (self.slice(name_start + 1, close)?, esc)
            } else if is_label_start(c) {
                p = scan_label_name(b, p, end);
                (self.slice(name_start, p)?, false)
            } else {
                return Err(self.err(
                    p,
                    format!("expected label name or '}}', {}", self.found(p, end)),
                ));
            };
            if self.text {
                p = skip_ws(b, p, end);
            }
            let next = at(b, p, end);
            if c == b'"' && matches!(next, Some(b',' | b'}')) {
                let Some(slot) = metric.as_deref_mut() else {
                    return Err(self.err(p, "expected '=' after exemplar label name"));
                };
                if slot.is_some() {
                    return Err(self.err(name_start, "metric name already set"));
                }
                if name.is_empty() {
                    return Err(self.err(name_start, "empty metric name"));
                }
                *slot = Some(name);
                escaped_names |= name_escaped;
                if next == Some(b',') {
                    p += 1;
                }
                continue;
            }
            if next != Some(b'=') {
                return Err(self.err(
                    p,
                    format!("expected '=' after label name, {}", self.found(p, end)),
                ));
            }
            if name.is_empty() {
                return Err(self.err(name_start, "empty label name"));
            }
            if name == "__name__" {
                return Err(self.err(
                    name_start,
                    "label \"__name__\" in a label block: give the metric name before '{'",
                ));
            }
            p += 1;
            if self.text {
                p = skip_ws(b, p, end);
            }
            if at(b, p, end) != Some(b'"') {
                return Err(self.err(
                    p,
                    format!("expected quoted label value, {}", self.found(p, end)),
                ));
            }
            let (close, esc) = scan_quoted(b, p + 1, end)
                .ok_or_else(|| self.err(p, "unterminated label value"))?;
            let raw = self.slice(p + 1, close)?;
            let value = if esc {
                unescape(raw, true)
            } else {
                Cow::Borrowed(raw)
            };
            if let Some(last) = out.last() {
                if name == last.name {
                    return Err(self.err(name_start, format!("duplicate label name {name:?}")));
                }
                // Exporters mostly sort labels; a first-byte comparison settles most pairs
                // without a string compare. Out-of-order blocks get a full check below.
                if sorted {
                    let (x, y) = (name.as_bytes().first(), last.name.as_bytes().first());
                    if x < y || (x == y && name < last.name) {
                        sorted = false;
                    }
                }
            }
            escaped_names |= name_escaped;
            out.push(LabelRef { name, value });
            p = close + 1;
            if self.text {
                p = skip_ws(b, p, end);
            }
            match at(b, p, end) {
                Some(b',') => p += 1,
                Some(b'}') => {}
                // Prometheus' text lexer accepts labels separated by whitespace only.
                _ if self.text => {}
                _ => {
                    return Err(self.err(
                        p,
                        format!(
                            "expected ',' or '}}' after label value, {}",
                            self.found(p, end)
                        ),
                    ))
                }
            }
        }
        if !sorted {
            self.check_duplicates(out)?;
        }
        Ok((p, escaped_names))
    }

    /// Full duplicate check for label blocks not in sorted order (sorted ones are checked
    /// pairwise while parsing). Pairs are compared by (length, first byte, last byte) before
    /// any string compare, with no allocation up to 32 labels.
    pub(super) fn check_duplicates(&self, labels: &[LabelRef<'i>]) -> Result<(), ParseError> {
        let key = |s: &str| {
            let b = s.as_bytes();
            (b.len() as u32) << 16
                | u32::from(b.first().copied().unwrap_or(0)) << 8
                | u32::from(b.last().copied().unwrap_or(0))
        };
        let dup = if labels.len() <= 32 {
            let mut keys = [0u32; 32];
            let mut dup = None;
            'outer: for (i, l) in labels.iter().enumerate() {
                let k = key(l.name);
                for (j, &kj) in keys.iter().enumerate().take(i) {
                    if kj == k && labels.get(j).is_some_and(|o| o.name == l.name) {
                        dup = Some(l.name);
                        break 'outer;
                    }
                }
                if let Some(slot) = keys.get_mut(i) {
                    *slot = k;
                }
            }
            dup
        } else {
            let mut names: Vec<&str> = labels.iter().map(|l| l.name).collect();
            names.sort_unstable();
            names.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
        };
        let Some(dup) = dup else {
            return Ok(());
        };
        // Point at the second occurrence: labels borrow from the input, so offsets are exact.
        let second = labels
            .iter()
            .filter(|l| l.name == dup)
            .nth(1)
            .map_or(self.line_start, |l| {
                (l.name.as_ptr() as usize).saturating_sub(self.input.as_ptr() as usize)
            });
        Err(self.err(second, format!("duplicate label name {dup:?}")))
    }
}
