//! Byte-level scanning shared by both exposition formats.
//!
//! Everything here works on one line of input (`bytes[start..end]`) and returns byte offsets,
//! never panicking on hostile input: out-of-range positions read as "end of line". The
//! character classes and number syntax follow Prometheus' Go parsers (`textparse`): metric
//! names `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*`, values as Go's
//! `strconv.ParseFloat` without hex floats or `_`, text-format timestamps as integers.

use std::borrow::Cow;

/// The bit pattern Prometheus stores for a NaN read from a scrape (`value.NormalNaN`), distinct
/// from the staleness marker.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

const fn class_table(colon: bool, digits: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphabetic()
            || b == b'_'
            || (colon && b == b':')
            || (digits && b.is_ascii_digit());
        c += 1;
    }
    t
}

static METRIC_START: [bool; 256] = class_table(true, false);
static METRIC_CHAR: [bool; 256] = class_table(true, true);
static LABEL_START: [bool; 256] = class_table(false, false);
static LABEL_CHAR: [bool; 256] = class_table(false, true);

/// Whether `b` may start an unquoted metric name.
#[inline]
pub fn is_metric_start(b: u8) -> bool {
    METRIC_START[usize::from(b)]
}

/// Whether `b` may start an unquoted label name.
#[inline]
pub fn is_label_start(b: u8) -> bool {
    LABEL_START[usize::from(b)]
}

/// The byte at `i` if it lies before `end`.
#[inline]
pub fn at(b: &[u8], i: usize, end: usize) -> Option<u8> {
    if i < end {
        b.get(i).copied()
    } else {
        None
    }
}

/// Skips spaces and tabs from `i`; returns the first other position (or `end`).
#[inline(always)]
pub fn skip_ws(b: &[u8], i: usize, end: usize) -> usize {
    // Most call sites find no whitespace: decide that from one byte.
    match at(b, i, end) {
        Some(b' ' | b'\t') => skip_ws_run(b, i, end),
        _ => i,
    }
}

#[inline(never)]
fn skip_ws_run(b: &[u8], i: usize, end: usize) -> usize {
    match b.get(i..end) {
        Some(rest) => {
            i + rest
                .iter()
                .take_while(|&&c| c == b' ' || c == b'\t')
                .count()
        }
        None => i,
    }
}

#[inline]
fn scan_class(b: &[u8], i: usize, end: usize, class: &[bool; 256]) -> usize {
    match b.get(i..end) {
        Some(rest) => i + rest.iter().take_while(|&&c| class[usize::from(c)]).count(),
        None => i,
    }
}

/// End of the unquoted metric name starting at `i` (which the caller checked is a start byte).
#[inline]
pub fn scan_metric_name(b: &[u8], i: usize, end: usize) -> usize {
    scan_class(b, i, end, &METRIC_CHAR)
}

/// End of the unquoted label name starting at `i`.
#[inline]
pub fn scan_label_name(b: &[u8], i: usize, end: usize) -> usize {
    scan_class(b, i, end, &LABEL_CHAR)
}

/// End of a token: the first space or tab (or, with `tab_is_space` false, the first space).
#[inline]
pub fn scan_token(b: &[u8], i: usize, end: usize, tab_is_space: bool) -> usize {
    match b.get(i..end) {
        Some(rest) => {
            i + rest
                .iter()
                .take_while(|&&c| c != b' ' && !(tab_is_space && c == b'\t'))
                .count()
        }
        None => i,
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Index of the first `"` or `\` in `s`, eight bytes at a time (SWAR). Label values are
/// mostly 5 to 100 bytes: short enough that a SIMD search's setup costs more than it saves.
#[inline]
fn find_quote_or_backslash(s: &[u8]) -> Option<usize> {
    let mut chunks = s.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let x = u64::from_le_bytes(w);
        let q = x ^ (LO * u64::from(b'"'));
        let bs = x ^ (LO * u64::from(b'\\'));
        // A byte of q or bs is zero exactly where x has a quote or backslash; the classic
        // "has zero byte" test flags the lowest such byte exactly (higher flags may be
        // false positives, but only above a true one).
        let m = (q.wrapping_sub(LO) & !q & HI) | (bs.wrapping_sub(LO) & !bs & HI);
        if m != 0 {
            return Some(base + (m.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .map(|i| base + i)
}

/// Scans an unsigned decimal integer of up to 15 digits at `i` that ends at a space, tab or
/// the end of the line: the common shape of sample values and timestamps, converted in the
/// same pass that finds the token's end. `None` means "use the general path".
#[inline]
pub fn scan_simple_uint(b: &[u8], i: usize, end: usize) -> Option<(u64, usize)> {
    let rest = b.get(i..end)?;
    let mut v: u64 = 0;
    let mut n = 0;
    for &c in rest {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v * 10 + u64::from(d);
        n += 1;
        if n > 15 {
            return None;
        }
    }
    match rest.get(n) {
        _ if n == 0 => None,
        None | Some(b' ' | b'\t') => Some((v, i + n)),
        Some(_) => None,
    }
}

/// Scans a quoted string whose opening quote is just before `from`. Returns the index of the
/// closing quote and whether a backslash escape occurred, or `None` when the line ends first.
#[inline]
pub fn scan_quoted(b: &[u8], from: usize, end: usize) -> Option<(usize, bool)> {
    let mut p = from;
    let mut escaped = false;
    loop {
        let q = p + find_quote_or_backslash(b.get(p..end)?)?;
        if b.get(q) == Some(&b'"') {
            return Some((q, escaped));
        }
        escaped = true;
        p = q + 2;
        if p > end {
            return None;
        }
    }
}

/// Eight bytes of `b` from `at` as a little-endian word, if there are eight.
#[inline(always)]
pub fn load8(b: &[u8], at: usize) -> Option<u64> {
    let w: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(w))
}

/// The closing quote of a label value without escapes whose opening quote is just before
/// `from`, if it lies before `end`; `None` when there is a backslash, a newline or the end of
/// `b` first. The value is read sixteen bytes at a time (SSE2 on x86-64, two SWAR words
/// elsewhere): a bit mask of the quotes, backslashes and newlines of each block, with no
/// search call per value.
#[inline]
pub fn scan_plain_quoted(b: &[u8], from: usize, end: usize) -> Option<usize> {
    let mut p = from;
    loop {
        let Some(m) = quote_backslash_newline_mask(b, p) else {
            return scan_plain_quoted_tail(b, p, end);
        };
        if m != 0 {
            let q = p + m.trailing_zeros() as usize;
            return (q < end && b.get(q) == Some(&b'"')).then_some(q);
        }
        p += 16;
    }
}

/// A mask of the `"`, `\` and `\n` bytes of `b[p..p + 16]` (bit `i` for byte `p + i`), if
/// there are sixteen bytes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn quote_backslash_newline_mask(b: &[u8], p: usize) -> Option<u32> {
    use safe_arch::{
        cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i, set_splat_i8_m128i,
    };
    let block: &[u8; 16] = b.get(p..p + 16)?.try_into().ok()?;
    let x = load_unaligned_m128i(block);
    let eq = |c: u8| cmp_eq_mask_i8_m128i(x, set_splat_i8_m128i(c as i8));
    let hits = eq(b'"') | eq(b'\\') | eq(b'\n');
    Some(move_mask_i8_m128i(hits) as u32 & 0xffff)
}

/// A mask of the `"`, `\` and `\n` bytes of `b[p..p + 16]` (bit `i` for byte `p + i`), if
/// there are sixteen bytes: SWAR, two words.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn quote_backslash_newline_mask(b: &[u8], p: usize) -> Option<u32> {
    let (lo, hi) = (load8(b, p)?, load8(b, p + 8)?);
    Some(swar_specials(lo) | swar_specials(hi) << 8)
}

/// Bit `i` set for each byte `i` of `x` that is `"`, `\` or `\n` (exact: each byte is
/// tested on its own, without borrows between bytes).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
fn swar_specials(x: u64) -> u32 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let zero_at = |y: u64| !(((y & LOW7) + LOW7) | y | LOW7);
    let hits = zero_at(x ^ (LO * u64::from(b'"')))
        | zero_at(x ^ (LO * u64::from(b'\\')))
        | zero_at(x ^ (LO * u64::from(b'\n')));
    // Gather the high bit of each byte into the low eight bits.
    ((hits >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
}

/// Bit `i` set where `x[i] == y[i]`: SSE2 on x86-64.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn eq_mask16(x: &[u8; 16], y: &[u8; 16]) -> u32 {
    use safe_arch::{cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i};
    let eq = cmp_eq_mask_i8_m128i(load_unaligned_m128i(x), load_unaligned_m128i(y));
    move_mask_i8_m128i(eq) as u32 & 0xffff
}

/// Bit `i` set where `x[i] == y[i]`.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn eq_mask16(x: &[u8; 16], y: &[u8; 16]) -> u32 {
    x.iter()
        .zip(y)
        .enumerate()
        .fold(0, |m, (i, (a, b))| m | u32::from(a == b) << i)
}

/// [`scan_plain_quoted`] for the last few bytes of the input, byte by byte.
#[cold]
fn scan_plain_quoted_tail(b: &[u8], from: usize, end: usize) -> Option<usize> {
    let rest = b.get(from..)?;
    let i = rest
        .iter()
        .position(|&c| matches!(c, b'"' | b'\\' | b'\n'))?;
    let q = from + i;
    (q < end && b.get(q) == Some(&b'"')).then_some(q)
}

const POW10_U64: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// The value of eight ASCII digits, first digit in the lowest byte (fast_float's SWAR
/// conversion: pairs, then quads, then the two halves).
#[inline(always)]
fn eight_digits(x: u64) -> u64 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 100 + (1_000_000 << 32);
    const MUL2: u64 = 1 + (10_000 << 32);
    let v = x.wrapping_sub(LO * u64::from(b'0'));
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    (v & MASK)
        .wrapping_mul(MUL1)
        .wrapping_add(((v >> 16) & MASK).wrapping_mul(MUL2))
        >> 32
}

/// The value of the first `n` (0 to 8) bytes of `x` as ASCII digits: they are moved to the
/// top of the word and the bytes below are filled with `'0'`.
#[inline(always)]
fn leading_digits(x: u64, n: usize) -> u64 {
    let shift = 8 * n as u32;
    let top = x.checked_shl(64 - shift).unwrap_or(0);
    eight_digits(top | (LO * u64::from(b'0')).checked_shr(shift).unwrap_or(0))
}

/// How many of the bytes of `x`, from the lowest, are ASCII digits (0 to 8).
#[inline(always)]
fn digit_run(x: u64) -> usize {
    // High bit set in every byte that is not a digit; the lowest one exactly (carries and
    // borrows only run upwards from a flagged byte).
    let non_digit = (x.wrapping_add(LO * 0x46) | x.wrapping_sub(LO * 0x30)) & HI;
    (non_digit.trailing_zeros() / 8) as usize
}

/// The unsigned decimal digits at `i`, eight at a time: their value and how many there are
/// (0 when `b[i]` is not a digit). `None` for 16 or more digits, which the callers leave to
/// their general path (values of 16 digits need not be exact integers in an `f64`).
#[inline]
pub fn scan_digits(b: &[u8], i: usize) -> Option<(u64, usize)> {
    let (Some(x1), Some(x2)) = (load8(b, i), load8(b, i + 8)) else {
        return scan_digits_tail(b, i);
    };
    let n1 = digit_run(x1);
    if n1 < 8 {
        return Some((leading_digits(x1, n1), n1));
    }
    let n2 = digit_run(x2);
    if n2 == 8 {
        return None;
    }
    let v = eight_digits(x1) * POW10_U64.get(n2).copied().unwrap_or(0) + leading_digits(x2, n2);
    Some((v, 8 + n2))
}

/// A plain decimal sample value at `i`, `digits[.digits][(e|E)[+-]digits]`, ending at a
/// space, a newline or the end of the input: its value and end, read with [`scan_digits`]
/// (eight digits at a time) rather than byte by byte. Taken only when Clinger's fast path
/// makes it exact (at most 15 significant digits, so the mantissa is below 2^53, and a
/// decimal exponent of at most 22 either way): the one multiplication or division is then
/// correctly rounded and the value equals `str::parse::<f64>` bit for bit. `None` otherwise,
/// and the caller reads the token the general way. `int` and `n1` are what [`scan_digits`]
/// read at `i`: the caller has them already.
#[inline]
pub fn scan_plain_decimal(b: &[u8], i: usize, int: u64, n1: usize) -> Option<(f64, usize)> {
    if n1 == 0 {
        return None;
    }
    let mut p = i + n1;
    let mut mantissa = int;
    let mut exp: i64 = 0;
    if b.get(p) == Some(&b'.') {
        let (frac, n2) = scan_digits(b, p + 1)?;
        if n1 + n2 > 15 {
            return None;
        }
        mantissa = mantissa * POW10_U64_15.get(n2)? + frac;
        exp = -(n2 as i64);
        p += 1 + n2;
    }
    if let Some(b'e' | b'E') = b.get(p) {
        let (neg, d) = match b.get(p + 1) {
            Some(b'-') => (true, p + 2),
            Some(b'+') => (false, p + 2),
            _ => (false, p + 1),
        };
        let (e, n) = scan_digits(b, d)?;
        if n == 0 || n > 3 {
            return None;
        }
        exp += if neg { -(e as i64) } else { e as i64 };
        p = d + n;
    }
    if !matches!(b.get(p), None | Some(b' ' | b'\n')) {
        return None;
    }
    let scale = *POW10_F64.get(usize::try_from(exp.unsigned_abs()).ok()?)?;
    let v = mantissa as f64;
    Some((if exp < 0 { v / scale } else { v * scale }, p))
}

/// 10^0 to 10^15.
const POW10_U64_15: [u64; 16] = {
    let mut t = [1u64; 16];
    let mut i = 1;
    while i < 16 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// [`scan_digits`] for the last bytes of the input, byte by byte.
#[cold]
fn scan_digits_tail(b: &[u8], i: usize) -> Option<(u64, usize)> {
    let (mut v, mut n) = (0u64, 0usize);
    for &c in b.get(i..).unwrap_or_default() {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if n == 15 {
            return None;
        }
        v = v * 10 + u64::from(d);
        n += 1;
    }
    Some((v, n))
}

/// `b[p..p + n] == b[q..q + n]`, with word loads: the previous line's label name (and the
/// `="` after it) against the current line's bytes.
#[inline(always)]
pub fn eq_at(b: &[u8], p: usize, q: usize, n: usize) -> bool {
    if n == 0 {
        return p <= b.len() && q <= b.len();
    }
    if n <= 8 {
        if let (Some(x), Some(y)) = (load8(b, p), load8(b, q)) {
            return ((x ^ y) << (64 - 8 * n as u32)) == 0;
        }
    } else if n <= 16 {
        let tail = n - 8;
        if let (Some(x1), Some(y1), Some(x2), Some(y2)) = (
            load8(b, p),
            load8(b, q),
            load8(b, p + tail),
            load8(b, q + tail),
        ) {
            return x1 == y1 && x2 == y2;
        }
    }
    matches!((b.get(p..p + n), b.get(q..q + n)), (Some(x), Some(y)) if x == y)
}

/// `a == b` for short equal-length slices (label names), with overlapping word loads
/// instead of a `memcmp` call.
#[inline]
pub fn eq_short(a: &[u8], b: &[u8]) -> bool {
    fn word<const N: usize>(s: &[u8], at: usize) -> [u8; N] {
        let mut w = [0u8; N];
        if let Some(src) = s.get(at..at + N) {
            w.copy_from_slice(src);
        }
        w
    }
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=8 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        9..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        _ => a == b,
    }
}

/// Resolves the escapes of a label value or quoted name: `\\`, `\"`, `\n`. Other escapes are
/// kept as written, as Prometheus does.
pub fn unescape(raw: &str, quote_escape: bool) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('\\') {
        out.push_str(rest.get(..i).unwrap_or_default());
        let after = rest.get(i + 1..).unwrap_or_default();
        let mut chars = after.chars();
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quote_escape => out.push('"'),
            Some(c) => {
                out.push('\\');
                out.push(c);
            }
            None => out.push('\\'),
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Why a number did not parse; the parser turns it into a positioned error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    Syntax,
    Unsupported,
    Range,
}

impl NumberError {
    pub fn describe(self) -> &'static str {
        match self {
            NumberError::Syntax => "invalid number syntax",
            NumberError::Unsupported => "unsupported character in float ('p', 'P' or '_')",
            NumberError::Range => "number out of range",
        }
    }
}

/// Parses a sample value as Prometheus does (`strconv.ParseFloat` minus hex floats and `_`):
/// decimal with optional exponent, `NaN` (any case, no sign), `Inf`/`Infinity` (any case,
/// optional sign). A finite literal that overflows is an error, as in Go. NaN comes back as
/// Prometheus' canonical NaN bit pattern.
#[inline]
pub fn parse_float(s: &str) -> Result<f64, NumberError> {
    let b = s.as_bytes();
    // Fast path: short unsigned integers convert exactly.
    if !b.is_empty() && b.len() <= 15 && b.iter().all(u8::is_ascii_digit) {
        let mut v: u64 = 0;
        for &c in b {
            v = v * 10 + u64::from(c - b'0');
        }
        return Ok(v as f64);
    }
    if let Some(v) = exact_decimal(b) {
        return Ok(v);
    }
    if b.iter().any(|&c| matches!(c, b'p' | b'P' | b'_')) {
        return Err(NumberError::Unsupported);
    }
    if let Some(v) = special_float(b) {
        return Ok(v);
    }
    if !b
        .iter()
        .all(|&c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return Err(NumberError::Syntax);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_infinite() => Err(NumberError::Range),
        Ok(v) => Ok(v),
        Err(_) => Err(NumberError::Syntax),
    }
}

const POW10_F64: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `[+-]?digits[.digits][(e|E)[+-]?digits]` whose value one float operation gives exactly
/// (Clinger's fast path): a mantissa of at most 2^53 times or over a power of ten up to
/// 10^22, both exact in an `f64`, so the single rounding is the correct one and the result
/// equals `str::parse::<f64>` bit for bit. `None` for every other input, which the general
/// path then reads (`2.687844352e+09` and `0.25` are here; `1e-30` and 20-digit mantissas
/// are not).
#[inline]
fn exact_decimal(b: &[u8]) -> Option<f64> {
    let (neg, rest) = match b.first()? {
        b'-' => (true, b.get(1..)?),
        b'+' => (false, b.get(1..)?),
        _ => (false, b),
    };
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    let mut exp: i64 = 0;
    let mut i = 0;
    let mut seen_point = false;
    while let Some(&c) = rest.get(i) {
        match c {
            b'0'..=b'9' => {
                if digits == 19 {
                    return None;
                }
                mantissa = mantissa * 10 + u64::from(c - b'0');
                digits += 1;
                if seen_point {
                    exp -= 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if let Some(b'e' | b'E') = rest.get(i) {
        i += 1;
        let exp_neg = match rest.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let exp_digits = rest.get(i..)?;
        if exp_digits.is_empty() || exp_digits.len() > 4 {
            return None;
        }
        let mut e: i64 = 0;
        for &c in exp_digits {
            if !c.is_ascii_digit() {
                return None;
            }
            e = e * 10 + i64::from(c - b'0');
        }
        exp += if exp_neg { -e } else { e };
        i = rest.len();
    }
    if i != rest.len() || mantissa > 1 << 53 {
        return None;
    }
    let scale = *POW10_F64.get(usize::try_from(exp.unsigned_abs()).ok()?)?;
    let v = mantissa as f64;
    let v = if exp < 0 { v / scale } else { v * scale };
    Some(if neg { -v } else { v })
}

/// Go's `special()`: `[+-]?(inf|infinity)` and unsigned `nan`, case-insensitive, whole string.
fn special_float(b: &[u8]) -> Option<f64> {
    let (sign, rest) = match b.first()? {
        b'+' => (1.0, b.get(1..)?),
        b'-' => (-1.0, b.get(1..)?),
        _ => (1.0, b),
    };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some(sign * f64::INFINITY);
    }
    if rest.len() == b.len() && rest.eq_ignore_ascii_case(b"nan") {
        return Some(f64::from_bits(NORMAL_NAN_BITS));
    }
    None
}

/// Canonicalises NaN to Prometheus' bit pattern so a scraped NaN never looks like a
/// staleness marker.
#[inline]
pub fn canonical_nan(v: f64) -> f64 {
    if v.is_nan() {
        f64::from_bits(NORMAL_NAN_BITS)
    } else {
        v
    }
}

/// Parses a text-format timestamp: integer milliseconds, optionally negative.
#[inline]
pub fn parse_int_timestamp(s: &str) -> Result<i64, NumberError> {
    let b = s.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, b.get(1..).unwrap_or_default()),
        _ => (false, b),
    };
    if digits.is_empty() {
        return Err(NumberError::Syntax);
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(NumberError::Syntax);
        }
        let d = i64::from(c - b'0');
        v = v
            .checked_mul(10)
            .and_then(|v| {
                if neg {
                    v.checked_sub(d)
                } else {
                    v.checked_add(d)
                }
            })
            .ok_or(NumberError::Range)?;
    }
    Ok(v)
}

/// Parses an OpenMetrics timestamp (float seconds) into milliseconds, truncating toward zero
/// like Prometheus' `int64(ts * 1000)`. Plain decimals (`1605281325.123`) are converted
/// digit by digit, so no float rounding can cost a millisecond; NaN and infinities are
/// rejected.
pub fn parse_float_timestamp(s: &str) -> Result<i64, NumberError> {
    if let Some(ms) = decimal_seconds_to_ms(s.as_bytes()) {
        return ms;
    }
    let v = parse_float(s)?;
    if !v.is_finite() {
        return Err(NumberError::Range);
    }
    let ms = v * 1000.0;
    if ms >= i64::MAX as f64 || ms <= i64::MIN as f64 {
        return Err(NumberError::Range);
    }
    Ok(ms as i64)
}

/// `[+-]?digits[.digits]` to milliseconds; `None` when `b` has another shape.
fn decimal_seconds_to_ms(b: &[u8]) -> Option<Result<i64, NumberError>> {
    let (neg, rest) = match b.first()? {
        b'-' => (true, b.get(1..)?),
        b'+' => (false, b.get(1..)?),
        _ => (false, b),
    };
    let (int, frac) = match rest.iter().position(|&c| c == b'.') {
        Some(i) => (rest.get(..i)?, rest.get(i + 1..)?),
        None => (rest, &[][..]),
    };
    if int.is_empty() || !int.iter().chain(frac).all(u8::is_ascii_digit) {
        return None;
    }
    let mut ms: i64 = 0;
    for &c in int.iter().chain(frac.iter().chain(b"000".iter()).take(3)) {
        match ms
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(c - b'0')))
        {
            Some(v) => ms = v,
            None => return Some(Err(NumberError::Range)),
        }
    }
    Some(Ok(if neg { -ms } else { ms }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_follow_go_parse_float() {
        let ok = [
            ("0", 0.0),
            ("1", 1.0),
            ("-1", -1.0),
            ("+1", 1.0),
            ("1.5", 1.5),
            ("1.", 1.0),
            (".5", 0.5),
            ("2.687844352e+09", 2.687844352e9),
            ("1E-3", 1e-3),
            ("1e-400", 0.0),
            ("123456789012345678901234567890", 1.2345678901234568e29),
        ];
        for (s, want) in ok {
            assert_eq!(parse_float(s), Ok(want), "{s}");
        }
        for s in ["Inf", "+Inf", "inf", "+inf", "INF", "Infinity", "+infinity"] {
            assert_eq!(parse_float(s), Ok(f64::INFINITY), "{s}");
        }
        for s in ["-Inf", "-inf", "-Infinity"] {
            assert_eq!(parse_float(s), Ok(f64::NEG_INFINITY), "{s}");
        }
        for s in ["NaN", "nan", "NAN"] {
            let v = parse_float(s).expect(s);
            assert_eq!(v.to_bits(), NORMAL_NAN_BITS, "{s}");
        }
        for s in [
            "", ".", "e5", "1e", "abc", "+nan", "-NaN", "infin", "1.0.0", "--1", "0x10",
        ] {
            assert_eq!(parse_float(s), Err(NumberError::Syntax), "{s}");
        }
        for s in ["1_000", "0x1p-3", "0x1P-3"] {
            assert_eq!(parse_float(s), Err(NumberError::Unsupported), "{s}");
        }
        assert_eq!(parse_float("1e400"), Err(NumberError::Range));
    }

    #[test]
    fn int_timestamps() {
        assert_eq!(parse_int_timestamp("1782468875486"), Ok(1_782_468_875_486));
        assert_eq!(parse_int_timestamp("-5"), Ok(-5));
        assert_eq!(parse_int_timestamp("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_int_timestamp("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(
            parse_int_timestamp("9223372036854775808"),
            Err(NumberError::Range)
        );
        for s in ["", "-", "1.5", "12a", "+1"] {
            assert_eq!(parse_int_timestamp(s), Err(NumberError::Syntax), "{s}");
        }
    }

    #[test]
    fn float_timestamps_truncate_to_ms() {
        assert_eq!(
            parse_float_timestamp("1520879607.789"),
            Ok(1_520_879_607_789)
        );
        assert_eq!(parse_float_timestamp("1"), Ok(1000));
        assert_eq!(parse_float_timestamp("1.5"), Ok(1500));
        assert_eq!(parse_float_timestamp("-1.0005"), Ok(-1000));
        assert_eq!(parse_float_timestamp("1.23456"), Ok(1234));
        assert_eq!(parse_float_timestamp("1e3"), Ok(1_000_000));
        assert_eq!(
            parse_float_timestamp("99999999999999999999"),
            Err(NumberError::Range)
        );
        assert_eq!(parse_float_timestamp("1.x"), Err(NumberError::Syntax));
        assert_eq!(parse_float_timestamp("NaN"), Err(NumberError::Range));
        assert_eq!(parse_float_timestamp("+Inf"), Err(NumberError::Range));
        assert_eq!(parse_float_timestamp("1e300"), Err(NumberError::Range));
    }

    #[test]
    fn unescape_known_and_unknown_escapes() {
        assert_eq!(unescape(r"plain", true), "plain");
        assert!(matches!(unescape("plain", true), Cow::Borrowed(_)));
        assert_eq!(unescape(r#"a\"b\\c\nd"#, true), "a\"b\\c\nd");
        assert_eq!(unescape(r"C:\\dir\tx", true), "C:\\dir\\tx");
        assert_eq!(unescape(r#"say \"hi\""#, false), r#"say \"hi\""#);
        assert_eq!(unescape("ünï\\\\cödé", true), "ünï\\cödé");
    }

    #[test]
    fn swar_search_matches_a_byte_loop() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| match (x >> (i % 60)) % 23 {
                    0 => b'"',
                    1 => b'\\',
                    2 => 0x80 | (i as u8),
                    _ => b'a' + (i as u8 % 26),
                })
                .collect();
            let want = bytes.iter().position(|&c| c == b'"' || c == b'\\');
            assert_eq!(find_quote_or_backslash(&bytes), want, "{bytes:?}");
        }
    }

    #[test]
    fn quoted_strings_end_at_unescaped_quote() {
        let line = br#""a\"b" rest"#;
        assert_eq!(scan_quoted(line, 1, line.len()), Some((5, true)));
        let long = br#""0123456789abcdefghijklmnopqrstuvwxyz,}" x"#;
        assert_eq!(scan_quoted(long, 1, long.len()), Some((39, false)));
        let open = br#""abc\"#;
        assert_eq!(scan_quoted(open, 1, open.len()), None);
        assert_eq!(scan_quoted(b"\"abc", 1, 4), None);
    }

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn pick(&mut self, from: &[u8]) -> u8 {
            from[(self.next() % from.len() as u64) as usize]
        }

        /// 1 to 24 characters of number syntax, digits weighted: decimal-looking strings,
        /// valid and not.
        fn numeric_text(&mut self) -> String {
            let len = 1 + (self.next() % 24) as usize;
            (0..len)
                .map(|_| char::from(self.pick(b"00123456789123456789.eE+-")))
                .collect()
        }
    }

    #[test]
    fn swar_digits_match_a_byte_loop() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let len = (rng.next() % 30) as usize;
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| rng.pick(b"0123456789012345678901234567890123456789 \n.e-/:"))
                .collect();
            // Digits up to the end of the input too (the byte-wise tail).
            if rng.next().is_multiple_of(4) {
                bytes.retain(u8::is_ascii_digit);
            }
            let n = bytes.iter().take_while(|c| c.is_ascii_digit()).count();
            let want = (n <= 15).then(|| {
                let v = bytes[..n]
                    .iter()
                    .fold(0u64, |v, &c| v * 10 + u64::from(c - b'0'));
                (v, n)
            });
            assert_eq!(
                scan_digits(&bytes, 0),
                want,
                "{:?}",
                String::from_utf8_lossy(&bytes)
            );
            // And from an offset.
            let mut shifted = b"x".to_vec();
            shifted.extend_from_slice(&bytes);
            assert_eq!(scan_digits(&shifted, 1), want);
        }
        assert_eq!(scan_digits(b"9999999999999999990", 0), None);
        assert_eq!(scan_digits(b"9999999999999999 ", 0), None);
        assert_eq!(
            scan_digits(b"999999999999999 ", 0),
            Some((999_999_999_999_999, 15))
        );
        assert_eq!(scan_digits(b"12345678 ", 0), Some((12_345_678, 8)));
        assert_eq!(scan_digits(b"12345678       x", 0), Some((12_345_678, 8)));
        assert_eq!(scan_digits(b"", 0), Some((0, 0)));
        assert_eq!(scan_digits(b"12", 5), Some((0, 0)));
    }

    /// The plain decimal at the start of `b`, as the fast path reads it.
    fn plain_decimal(b: &[u8]) -> Option<(f64, usize)> {
        let (int, n) = scan_digits(b, 0)?;
        scan_plain_decimal(b, 0, int, n)
    }

    #[test]
    fn plain_decimals_equal_std_parse_bit_for_bit() {
        let mut rng = Rng(0x5eed_1234_abcd_0042);
        let mut taken = 0;
        for _ in 0..100_000 {
            let s = rng.numeric_text();
            let line = format!("{s} 1");
            if let Some((v, end)) = plain_decimal(line.as_bytes()) {
                taken += 1;
                assert_eq!(end, s.len(), "{s:?}");
                let want: f64 = s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"));
                assert_eq!(v.to_bits(), want.to_bits(), "{s:?}");
            }
        }
        assert!(taken > 3_000, "only {taken} strings took the fast path");
        for s in [
            "2.687844352e+09",
            "0.000123",
            "1.5E-3",
            "123456789012345",
            "1234567.12345678",
            "9007199254740991",
            "1e22",
            "1e-22",
            "5.",
        ] {
            let want: f64 = s.parse().expect(s);
            let got = plain_decimal(s.as_bytes());
            assert!(
                got.is_none_or(|(v, _)| v.to_bits() == want.to_bits()),
                "{s}"
            );
        }
        for s in [
            "", ".5", "1e", "1e+", "1.5.", "1e23", "1e-23", "1x", "1_0", "-1", "1e1234",
        ] {
            assert_eq!(plain_decimal(s.as_bytes()), None, "{s}");
        }
        assert_eq!(plain_decimal(b"2.5\n"), Some((2.5, 3)));
    }

    #[test]
    fn exact_decimals_equal_std_parse_bit_for_bit() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut taken = 0;
        for _ in 0..100_000 {
            let s = rng.numeric_text();
            if let Some(v) = exact_decimal(s.as_bytes()) {
                taken += 1;
                let want: f64 = s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"));
                assert_eq!(v.to_bits(), want.to_bits(), "{s:?}");
                assert_eq!(parse_float(&s).map(f64::to_bits), Ok(want.to_bits()));
            }
        }
        assert!(taken > 5_000, "only {taken} strings took the fast path");
        for s in [
            "2.687844352e+09",
            "1.782468732e+09",
            "0.1",
            "-0.0",
            "+.5",
            "5.",
            "9007199254740992",
            "9007199254740993e1",
            "1e22",
            "1e-22",
            "123.456e-20",
        ] {
            let want: f64 = s.parse().expect(s);
            let got = exact_decimal(s.as_bytes());
            assert!(got.is_none_or(|v| v.to_bits() == want.to_bits()), "{s}");
        }
        for s in [
            "", ".", "e5", "1e", "1e+", "1.5.", "1e23", "1e-23", "nan", "1_0", "0x1",
        ] {
            assert_eq!(exact_decimal(s.as_bytes()), None, "{s}");
        }
    }

    #[test]
    fn word_comparisons_match_slice_comparisons() {
        let mut rng = Rng(0x0bad_cafe_dead_beef);
        for _ in 0..20_000 {
            let len = (rng.next() % 48) as usize;
            let b: Vec<u8> = (0..len).map(|_| rng.pick(b"aab=\"")).collect();
            let (p, q, n) = (
                (rng.next() % 48) as usize,
                (rng.next() % 48) as usize,
                (rng.next() % 20) as usize,
            );
            let want = matches!((b.get(p..p + n), b.get(q..q + n)), (Some(x), Some(y)) if x == y);
            assert_eq!(eq_at(&b, p, q, n), want, "{b:?} {p} {q} {n}");
        }
    }

    #[test]
    fn swar_mask_matches_a_byte_loop() {
        let mut rng = Rng(0x5151_7777_abab_0101);
        for _ in 0..20_000 {
            let bytes: [u8; 8] =
                std::array::from_fn(|_| rng.pick(b"a\"\\\n\x80\xff\x22\x5d\x0b\x00"));
            let want = bytes
                .iter()
                .enumerate()
                .filter(|(_, &c)| matches!(c, b'"' | b'\\' | b'\n'))
                .fold(0u32, |m, (i, _)| m | 1 << i);
            assert_eq!(swar_specials(u64::from_le_bytes(bytes)), want, "{bytes:?}");
        }
    }

    #[test]
    fn plain_quoted_values_end_at_their_quote() {
        let line = b"abc\", x=\"d\"";
        assert_eq!(scan_plain_quoted(line, 0, line.len()), Some(3));
        let spaced = b"a b c d e f g h i\"";
        assert_eq!(scan_plain_quoted(spaced, 0, spaced.len()), Some(17));
        assert_eq!(scan_plain_quoted(b"abcdefghij\\\"\"", 0, 14), None);
        assert_eq!(scan_plain_quoted(b"abcdefghij\nk\"", 0, 13), None);
        assert_eq!(
            scan_plain_quoted(b"abc\"", 0, 3),
            None,
            "quote at the end bound"
        );
        assert_eq!(scan_plain_quoted(b"abcdefgh", 0, 8), None);
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for _ in 0..20_000 {
            let len = (rng.next() % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| rng.pick(b"abcdefgh \t!/\"\\\n\x80\xff"))
                .collect();
            let want = bytes
                .iter()
                .position(|&c| matches!(c, b'"' | b'\\' | b'\n'))
                .filter(|&i| bytes[i] == b'"');
            assert_eq!(scan_plain_quoted(&bytes, 0, bytes.len()), want, "{bytes:?}");
        }
    }
}
