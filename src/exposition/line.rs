//! One line's position bookkeeping and its label blocks.
//!
//! [`Cursor`] knows where the current line starts, turns byte offsets into 1-based
//! line/column [`ParseError`]s, and parses `{name="value",...}` blocks (of samples and of
//! exemplars) into a reused `Vec<LabelRef>`: a tight fast path for the shape exporters write,
//! and a general path with the text format's whitespace, quoted UTF-8 names, escapes and
//! every error. Duplicate names are rejected in both.

use std::borrow::Cow;

use super::scan::{
    at, eq_at, eq_mask16, is_label_start, load8, scan_label_name, scan_plain_quoted, scan_quoted,
    skip_ws, unescape,
};
use super::{LabelRef, ParseError, ParseErrorKind};

/// The most labels a block may have for the fast path; longer blocks take the general one.
pub(super) const MAX_FAST_LABELS: usize = 64;

/// What the previous sample line's fast path leaves for the next line to reuse.
///
/// Consecutive series of a family mostly share a long prefix
/// (`container_fs_reads_total{container="",device="/dev/vda",id="/",...`). A label block is
/// validated left to right, and whether a label is valid depends only on its own bytes and
/// the labels before it, so every label that ends (with its `,` or `}`) inside the bytes the
/// two lines share is valid again: the next line keeps those labels, already checked, and
/// checks only the rest. The same holds for the metric name when the byte after it is
/// shared. Label names repeat from series to series, so the rest is first compared with the
/// previous line's names. Positions are relative to the line's first byte unless noted.
#[derive(Debug)]
pub(super) struct LineReuse {
    /// Whether the fields below describe the previous line, whose label block (if any) was
    /// validated by [`Cursor::label_block_fast`] and whose metric name starts the line. The
    /// fast path relies on the latter: a line sharing more than the name with it starts with
    /// the same name. The label fields may describe a line that is not valid in this sense
    /// (one with whitespace before its name): they then only serve as guesses.
    pub(super) valid: bool,
    /// Where the remembered line starts in the input.
    pub(super) start: usize,
    /// How many of its bytes are worth comparing (through `}`, or the byte after the name).
    pub(super) len: usize,
    /// End of its unquoted metric name.
    pub(super) name_end: usize,
    /// How many labels it has.
    pub(super) count: usize,
    /// Position of the `,` or `}` after each of its labels.
    pub(super) stops: [usize; MAX_FAST_LABELS],
    /// Where each of its label names is in the input (absolute; an earlier line's when the
    /// name was the same there), and its length. The `="` follows each one there.
    pub(super) name_at: [usize; MAX_FAST_LABELS],
    pub(super) name_len: [usize; MAX_FAST_LABELS],
    /// Each name with its `="`, as words to compare with.
    pub(super) name_words: [NameWords; MAX_FAST_LABELS],
    /// Index of the first label out of sorted order (`usize::MAX` when sorted).
    pub(super) unsorted_from: usize,
}

impl Default for LineReuse {
    fn default() -> Self {
        LineReuse {
            valid: false,
            start: 0,
            len: 0,
            name_end: 0,
            count: 0,
            stops: [0; MAX_FAST_LABELS],
            name_at: [0; MAX_FAST_LABELS],
            name_len: [0; MAX_FAST_LABELS],
            name_words: [NameWords::NONE; MAX_FAST_LABELS],
            unsorted_from: usize::MAX,
        }
    }
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
        let stops = self.stops.get(..self.count).unwrap_or_default();
        let kept = stops.iter().take_while(|&&s| s < shared).count();
        (Some(line_start + self.name_end), kept)
    }

    /// Where the label block of the remembered line continues after its first `kept`
    /// labels (relative to its start), if it kept any.
    #[inline]
    pub(super) fn resume(&self, kept: usize) -> Option<usize> {
        kept.checked_sub(1).and_then(|i| self.stops.get(i)).copied()
    }

    /// Forgets the remembered line: the next line starts afresh.
    #[inline]
    pub(super) fn invalidate(&mut self) {
        self.valid = false;
        self.no_labels();
    }

    /// Forgets the labels (a line without a label block).
    #[inline]
    pub(super) fn no_labels(&mut self) {
        self.count = 0;
        self.unsorted_from = usize::MAX;
    }
}

/// A label name with the `="` after it as words to compare a line's bytes with: its first
/// eight bytes (masked to its length when shorter) and, for 9 to 16 bytes, its last eight.
/// Comparing one or two words replaces [`eq_at`]'s loads of both sides; longer names fall back
/// to it.
#[derive(Debug, Clone, Copy)]
pub(super) struct NameWords {
    first: u64,
    mask: u64,
    last: u64,
}

impl NameWords {
    /// Matches nothing.
    const NONE: NameWords = NameWords {
        first: 1,
        mask: 0,
        last: 0,
    };

    /// The words of `b[at..at + len]`.
    #[inline]
    fn of(b: &[u8], at: usize, len: usize) -> NameWords {
        let mask = match len {
            0..=7 => u64::MAX >> (64 - 8 * len as u32).min(63),
            _ => u64::MAX,
        };
        let last = if (9..=16).contains(&len) {
            load8(b, at + len - 8)
        } else {
            Some(0)
        };
        match (load8(b, at), last) {
            (Some(first), Some(last)) if len > 0 => NameWords {
                first: first & mask,
                mask,
                last,
            },
            _ => NameWords::NONE,
        }
    }

    /// Whether `b[p..p + len]` is the text these words were taken from, which is at `at`.
    #[inline(always)]
    fn matches(&self, b: &[u8], p: usize, at: usize, len: usize) -> bool {
        let Some(x) = load8(b, p) else {
            return eq_at(b, p, at, len);
        };
        if x & self.mask != self.first {
            return false;
        }
        match len {
            0..=8 => true,
            9..=16 => load8(b, p + len - 8) == Some(self.last),
            _ => eq_at(b, p, at, len),
        }
    }
}

/// Length of the common prefix of `b[p..p + n]` and `b[q..q + n]`, sixteen bytes at a time.
#[inline]
fn common_prefix(b: &[u8], p: usize, q: usize, n: usize) -> usize {
    let (Some(x), Some(y)) = (b.get(p..p + n), b.get(q..q + n)) else {
        return 0;
    };
    let mut cx = x.chunks_exact(16);
    let mut cy = y.chunks_exact(16);
    let mut done = 0;
    for (wx, wy) in (&mut cx).zip(&mut cy) {
        let (Ok(wx), Ok(wy)) = (<&[u8; 16]>::try_from(wx), <&[u8; 16]>::try_from(wy)) else {
            break;
        };
        let eq = eq_mask16(wx, wy);
        if eq != 0xffff {
            return done + (!eq).trailing_zeros() as usize;
        }
        done += 16;
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

    /// Validates the common shape of a label block, `{a="x",b="y"}`: unquoted names, no
    /// whitespace, no escapes, no `__name__`, no duplicates, at most [`MAX_FAST_LABELS`]
    /// labels, in one tight loop that decodes nothing (see [`super::SampleLabels`]). The first
    /// `kept` labels are the previous line's ([`LineReuse`]) and checking starts at `from`,
    /// the first byte after `{` or after the last kept label's `,`. Each further name (with
    /// the `="` after it) is first compared with the previous line's name at the same index,
    /// with word loads, and only scanned byte by byte when it differs. Values are scanned
    /// sixteen bytes at a time. Records the labels in `reuse`. Returns the position after
    /// `}`, or `None` on anything else, and the caller re-parses the block with
    /// [`Cursor::label_block`], which handles (and reports) every other case.
    #[inline(always)]
    pub(super) fn label_block_fast(
        &self,
        from: usize,
        end: usize,
        kept: usize,
        reuse: &mut LineReuse,
    ) -> Option<usize> {
        let bytes = self.input.as_bytes();
        let b = bytes.get(..end)?;
        let line_start = self.line_start;
        let prev_count = reuse.count;
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
        let mut p = from;
        loop {
            let c = *b.get(p)?;
            if c == b'}' {
                reuse.count = n;
                // The same names as a line that passed the check cannot hold duplicates.
                if unsorted_from != usize::MAX
                    && !(same_names && n == prev_count)
                    && has_duplicate_names(bytes, reuse)
                {
                    reuse.count = 0;
                    return None;
                }
                reuse.unsorted_from = unsorted_from;
                return Some(p + 1);
            }
            if n >= MAX_FAST_LABELS {
                return None;
            }
            let known = same_names
                && n < prev_count
                && reuse.name_words[n].matches(b, p, reuse.name_at[n], reuse.name_len[n] + 2);
            let name_len = if known {
                // A name the previous line's block accepted, sorted the same way too.
                if prev_unsorted == n {
                    unsorted_from = n;
                }
                reuse.name_len[n]
            } else {
                same_names = false;
                if !is_label_start(c) {
                    return None;
                }
                let name_end = scan_label_name(b, p + 1, end);
                if b.get(name_end..name_end + 2)? != b"=\"" {
                    return None;
                }
                let name = b.get(p..name_end)?;
                if name == b"__name__" {
                    return None;
                }
                if unsorted_from == usize::MAX && n > 0 {
                    let (at, len) = (reuse.name_at[n - 1], reuse.name_len[n - 1]);
                    let last = bytes.get(at..at + len)?;
                    let (x, y) = (name.first(), last.first());
                    if x < y || (x == y && name <= last) {
                        unsorted_from = n;
                    }
                }
                reuse.name_at[n] = p;
                reuse.name_len[n] = name.len();
                reuse.name_words[n] = NameWords::of(b, p, name.len() + 2);
                name.len()
            };
            let close = scan_plain_quoted(bytes, p + name_len + 2, end)?;
            p = close + 1;
            reuse.stops[n] = p - line_start;
            n += 1;
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
    /// pairwise while parsing); the error points at the second occurrence.
    pub(super) fn check_duplicates(&self, labels: &[LabelRef<'i>]) -> Result<(), ParseError> {
        let name = |i: usize| labels.get(i).map_or(&b""[..], |l| l.name.as_bytes());
        let Some(second) = second_duplicate(labels.len(), name).and_then(|i| labels.get(i)) else {
            return Ok(());
        };
        // Labels borrow from the input, so the offset is exact.
        let at = (second.name.as_ptr() as usize).saturating_sub(self.input.as_ptr() as usize);
        Err(self.err(at, format!("duplicate label name {:?}", second.name)))
    }
}

/// The index of the first name among `name(0..n)` that an earlier one equals. Pairs are
/// compared by (length, first byte, last byte) before their bytes, with no allocation up to
/// 32 names; more are sorted.
fn second_duplicate<'s>(n: usize, name: impl Fn(usize) -> &'s [u8]) -> Option<usize> {
    let key = |b: &[u8]| {
        (b.len() as u32) << 16
            | u32::from(b.first().copied().unwrap_or(0)) << 8
            | u32::from(b.last().copied().unwrap_or(0))
    };
    if n <= 32 {
        let mut keys = [0u32; 32];
        for i in 0..n {
            let (x, k) = (name(i), key(name(i)));
            if (0..i).any(|j| keys.get(j) == Some(&k) && name(j) == x) {
                return Some(i);
            }
            *keys.get_mut(i)? = k;
        }
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| name(i).cmp(name(j)).then(i.cmp(&j)));
    order
        .windows(2)
        .filter(|w| name(w[0]) == name(w[1]))
        .map(|w| w[1])
        .min()
}

/// Whether two of the labels `reuse` records have the same name.
fn has_duplicate_names(b: &[u8], reuse: &LineReuse) -> bool {
    let name = |i: usize| {
        let at = reuse.name_at.get(i).copied().unwrap_or(0);
        let len = reuse.name_len.get(i).copied().unwrap_or(0);
        b.get(at..at + len).unwrap_or_default()
    };
    second_duplicate(reuse.count.min(MAX_FAST_LABELS), name).is_some()
}
