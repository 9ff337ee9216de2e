//! Aggregation operators (`sum`, `avg`, `topk`, `count_values`, …) with `by`/`without`.
//!
//! Numerics follow upstream: Kahan–Neumaier summation for `sum` and `avg` (switching `avg` to
//! an incremental mean when the sum would overflow), Welford for `stddev`/`stdvar`, and Go's
//! heap algorithm for `topk`/`bottomk` so ties resolve as upstream resolves them.

use super::eval::{exec_err, EvalResult, Evaluator};
use super::memo::{ptr, FastMap};
use super::value::{Sample, Val};
use crate::store::{Label, Labels, METRIC_NAME};
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};
use std::collections::HashMap;
use std::rc::Rc;

/// Prometheus' `kahansum.Inc`, shared with the histogram sums.
pub(crate) use crate::histogram::kahan_inc as kahan_sum_inc;

/// Upstream's quantile over a set of values (linear interpolation between closest ranks).
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

struct Group {
    labels: Rc<Labels>,
    count: f64,
    value: f64,
    kahan: f64,
    mean: f64,
    incremental: bool,
    members: Vec<Sample>,
    values: Vec<f64>,
    /// Whether any aggregated sample's name is to be dropped: then so is the group's (its
    /// `__name__`, kept by `by (__name__)`, goes at the end of the query), as upstream's
    /// `groupedAggregation.dropName`.
    drop_name: bool,
}

/// The labels of `labels` that the grouping `modifier` keeps, copied straight out of the
/// input: no intermediate copy of the whole set. As in Prometheus' `generateGroupingLabels`,
/// the grouping sees a series' labels before delayed name removal: `by (__name__)` keeps the
/// name even of a series whose name is to be dropped (the group then drops it at the end, see
/// [`Group::drop_name`]), and `without` always removes `__name__` but keeps `__type__` and
/// `__unit__`.
pub(crate) fn grouping_key(labels: &Labels, modifier: &Option<LabelModifier>) -> Labels {
    let keep: Vec<Label> = match modifier {
        None => return Labels::empty(),
        Some(LabelModifier::Include(by)) => labels
            .iter()
            .filter(|l| by.labels.iter().any(|b| *b == *l.name))
            .cloned()
            .collect(),
        Some(LabelModifier::Exclude(wo)) => labels
            .iter()
            .filter(|l| &*l.name != METRIC_NAME && !wo.labels.iter().any(|b| *b == *l.name))
            .cloned()
            .collect(),
    };
    Labels::from_sorted_unchecked(keep)
}

pub(crate) fn eval_aggregate(
    ev: &Evaluator,
    a: &AggregateExpr,
    node: &Expr,
    ts: i64,
) -> EvalResult<Val> {
    let op = a.op.to_string().to_lowercase();
    let mut param_f = f64::NAN;
    let mut param_s = String::new();
    if let Some(p) = &a.param {
        match ev.eval(p, ts)? {
            Val::Scalar(v) => param_f = v,
            Val::Str(s) => param_s = s,
            other => {
                return exec_err(format!(
                    "expected scalar or string parameter for {op}, got {}",
                    other.type_name()
                ))
            }
        }
    }
    let mut input = ev.eval_vector(&a.expr, ts)?;
    // count_values counts a histogram sample by its printed form, as upstream does.
    if op != "count_values" && input.iter().any(|s| s.h.is_some()) {
        use super::nh_aggregate::{prepare, Prepared};
        match prepare(ev, &op, a, input, ts)? {
            Prepared::Done(v) => return Ok(v),
            Prepared::Floats(v) => input = v,
        }
    }
    let mut k = 0usize;
    match op.as_str() {
        "topk" | "bottomk" | "limitk" => {
            if param_f.is_nan() {
                return exec_err("Parameter value is NaN");
            }
            if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&param_f) {
                return exec_err(format!("Scalar value {param_f} overflows int64"));
            }
            let kk = param_f.trunc();
            if kk < 1.0 {
                return Ok(Val::Vector(Vec::new()));
            }
            k = (kk as usize).min(input.len().max(1));
        }
        "limit_ratio" => {
            if param_f.is_nan() {
                return exec_err("Ratio value is NaN");
            }
            if param_f == 0.0 {
                return Ok(Val::Vector(Vec::new()));
            }
            if !(-1.0..=1.0).contains(&param_f) {
                let p = a.param.as_deref().unwrap_or(node);
                ev.annotate(
                    true,
                    &format!(
                        "ratio value should be between -1 and 1, got {param_f}, capping to {}",
                        if param_f < 0.0 { -1 } else { 1 }
                    ),
                    p,
                );
                param_f = param_f.clamp(-1.0, 1.0);
            }
        }
        "quantile" if !(0.0..=1.0).contains(&param_f) => {
            let p = a.param.as_deref().unwrap_or(node);
            ev.annotate(
                true,
                &format!(
                    "quantile value should be between 0 and 1, got {}",
                    crate::gostrconv::format_v(param_f)
                ),
                p,
            );
        }
        "count_values" => {
            // The parameter as upstream reads it: `\xNN` escapes are bytes, which may not be
            // UTF-8 (`"a\xc5z"`), and then it is no label name.
            let p = a.param.as_deref().map(super::functions::unwrap_parens);
            let go_bytes = p.and_then(|p| ev.literal_go_bytes(p));
            let go_utf8 = go_bytes
                .as_deref()
                .is_none_or(|b| std::str::from_utf8(b).is_ok());
            if !valid_label_name(&param_s) || !go_utf8 {
                let shown = match &go_bytes {
                    Some(b) => quote_go_bytes(b),
                    None => crate::gostrconv::quote(&param_s),
                };
                return exec_err(format!("invalid label name {shown}"));
            }
        }
        _ => {}
    }

    // Groups in order of first appearance; keys are interned per query, so a key's pointer
    // identifies its group.
    let tag = node as *const Expr as usize;
    let mut groups: Vec<Group> = Vec::new();
    let mut index: FastMap<usize, usize> = FastMap::default();
    let mut cv_groups: Vec<(Labels, f64)> = Vec::new();
    let mut cv_index: HashMap<Labels, usize> = HashMap::new();
    let mut positional = ev.memo.positional(tag);
    for (pos, s) in input.into_iter().enumerate() {
        let key = positional.derive(&ev.memo, tag, pos, &s.labels, false, |l, _| {
            grouping_key(l, &a.modifier)
        });
        if op == "count_values" {
            let value = match &s.h {
                Some(h) => h.to_string(),
                None => crate::gostrconv::format_f_shortest(s.v),
            };
            let l = key.with(&param_s, &value);
            let i = *cv_index.entry(l.clone()).or_insert_with(|| {
                cv_groups.push((l, 0.0));
                cv_groups.len() - 1
            });
            cv_groups[i].1 += 1.0;
            continue;
        }
        if s.h.is_some()
            && matches!(
                op.as_str(),
                "min" | "max" | "stddev" | "stdvar" | "quantile"
            )
        {
            // A histogram an aggregation of floats ignores (`min`, `quantile`, …): it opens
            // no group, but one it falls into drops its name if the histogram's would be
            // dropped, as upstream's loop marks the group before it skips the sample.
            if let Some(&i) = index.get(&ptr(&key)) {
                groups[i].drop_name |= s.drop_name;
            }
            continue;
        }
        let gi = match index.get(&ptr(&key)) {
            Some(&i) => i,
            None => {
                let init = match op.as_str() {
                    "stddev" | "stdvar" if !s.v.is_finite() => f64::NAN,
                    "stddev" | "stdvar" | "sum" | "avg" | "count" => 0.0,
                    _ => s.v,
                };
                index.insert(ptr(&key), groups.len());
                groups.push(Group {
                    labels: key,
                    count: 0.0,
                    value: init,
                    kahan: 0.0,
                    mean: if op == "stddev" || op == "stdvar" {
                        0.0
                    } else {
                        s.v
                    },
                    incremental: false,
                    members: Vec::new(),
                    values: Vec::new(),
                    drop_name: false,
                });
                groups.len() - 1
            }
        };
        groups[gi].drop_name |= s.drop_name;
        accumulate(&op, &mut groups[gi], s, k, param_f);
    }
    ev.memo.put_positional(tag, positional);
    if op == "count_values" {
        return Ok(Val::Vector(
            cv_groups
                .into_iter()
                .map(|(labels, v)| Sample {
                    labels: ev.memo.intern(labels),
                    v,
                    h: None,
                    t: ts,
                    drop_name: false,
                })
                .collect(),
        ));
    }
    let mut out = Vec::new();
    for mut g in groups {
        let v = match op.as_str() {
            "sum" => g.value + g.kahan,
            "avg" => {
                if g.incremental {
                    g.mean + g.kahan
                } else {
                    (g.value + g.kahan) / g.count
                }
            }
            "count" => g.count,
            "group" => 1.0,
            "min" | "max" => g.value,
            "stdvar" => g.value / g.count,
            "stddev" => (g.value / g.count).sqrt(),
            "quantile" => quantile(param_f, &mut g.values),
            "topk" | "bottomk" => {
                let top = op == "topk";
                sort_heap(&mut g.members, top);
                out.append(&mut g.members);
                continue;
            }
            "limitk" | "limit_ratio" => {
                out.append(&mut g.members);
                continue;
            }
            _ => return exec_err(format!("unknown aggregation {op}")),
        };
        out.push(Sample {
            labels: g.labels,
            v,
            h: None,
            t: ts,
            drop_name: g.drop_name,
        });
    }
    Ok(Val::Vector(out))
}

fn accumulate(op: &str, g: &mut Group, s: Sample, k: usize, ratio: f64) {
    let first = g.count == 0.0;
    g.count += 1.0;
    match op {
        "sum" => {
            let (v, c) = kahan_sum_inc(s.v, g.value, g.kahan);
            g.value = v;
            g.kahan = c;
        }
        "avg" => {
            if first {
                g.value = s.v;
                g.kahan = 0.0;
                return;
            }
            if !g.incremental {
                let (v, c) = kahan_sum_inc(s.v, g.value, g.kahan);
                if !v.is_infinite() {
                    g.value = v;
                    g.kahan = c;
                    return;
                }
                g.incremental = true;
                g.mean = g.value / (g.count - 1.0);
                g.kahan /= g.count - 1.0;
            }
            if g.mean.is_infinite() {
                if s.v.is_infinite() && (g.mean > 0.0) == (s.v > 0.0) {
                    return;
                }
                if !s.v.is_infinite() && !s.v.is_nan() {
                    return;
                }
            }
            let current = g.mean + g.kahan;
            let (m, c) = kahan_sum_inc(s.v / g.count - current / g.count, g.mean, g.kahan);
            g.mean = m;
            g.kahan = c;
        }
        "max" if g.value < s.v || g.value.is_nan() => g.value = s.v,
        "min" if g.value > s.v || g.value.is_nan() => g.value = s.v,
        "stddev" | "stdvar" => {
            if first {
                g.mean = s.v;
                return;
            }
            let delta = s.v - g.mean;
            g.mean += delta / g.count;
            g.value += delta * (s.v - g.mean);
        }
        "quantile" => g.values.push(s.v),
        "topk" | "bottomk" => {
            let top = op == "topk";
            if g.members.len() < k {
                g.members.push(s);
                let n = g.members.len();
                heap_up(&mut g.members, n - 1, top);
            } else {
                let h0 = g.members[0].v;
                let replace = if top {
                    h0 < s.v || (h0.is_nan() && !s.v.is_nan())
                } else {
                    h0 > s.v || (h0.is_nan() && !s.v.is_nan())
                };
                if replace {
                    g.members[0] = s;
                    if k > 1 {
                        let n = g.members.len();
                        if !heap_down(&mut g.members, 0, n, top) {
                            heap_up(&mut g.members, 0, top);
                        }
                    }
                }
            }
        }
        "limitk" if g.members.len() < k => g.members.push(s),
        "limit_ratio" => {
            let offset = labels_hash(&s.labels) as f64 / u64::MAX as f64;
            if (ratio >= 0.0 && offset < ratio) || (ratio < 0.0 && offset >= 1.0 + ratio) {
                g.members.push(s);
            }
        }
        _ => {}
    }
}

/// The heap order: topk keeps the smallest on top (NaN smallest), bottomk the largest.
fn heap_less(a: f64, b: f64, top: bool) -> bool {
    if a.is_nan() {
        return true;
    }
    if top {
        a < b
    } else {
        a > b
    }
}

fn heap_up(h: &mut [Sample], mut j: usize, top: bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !heap_less(h[j].v, h[i].v, top) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

fn heap_down(h: &mut [Sample], i0: usize, n: usize, top: bool) -> bool {
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && heap_less(h[j2].v, h[j1].v, top) {
            j = j2;
        }
        if !heap_less(h[j].v, h[i].v, top) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    i > i0
}

/// `sort.Sort(sort.Reverse(heap))` as Go does it for small inputs: an insertion sort.
fn sort_heap(h: &mut [Sample], top: bool) {
    if h.len() > 12 {
        // Go switches to pdqsort here; any order with NaN last and ties kept is as good.
        h.sort_by(|a, b| {
            use std::cmp::Ordering::*;
            match (a.v.is_nan(), b.v.is_nan()) {
                (true, true) => Equal,
                (true, false) => Greater,
                (false, true) => Less,
                _ => {
                    let o = a.v.partial_cmp(&b.v).unwrap_or(Equal);
                    if top {
                        o.reverse()
                    } else {
                        o
                    }
                }
            }
        });
        return;
    }
    for i in 1..h.len() {
        let mut j = i;
        while j > 0 && heap_less(h[j - 1].v, h[j].v, top) {
            h.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// Prometheus' `labels.Hash`: XXH64 over `name 0xff value 0xff` for every label.
pub(crate) fn labels_hash(l: &Labels) -> u64 {
    let mut b = Vec::new();
    for x in l {
        b.extend_from_slice(x.name.as_bytes());
        b.push(0xff);
        b.extend_from_slice(x.value.as_bytes());
        b.push(0xff);
    }
    xxh64(&b, 0)
}

fn xxh64(input: &[u8], seed: u64) -> u64 {
    const P1: u64 = 11400714785074694791;
    const P2: u64 = 14029467366897019727;
    const P3: u64 = 1609587929392839161;
    const P4: u64 = 9650029242287828579;
    const P5: u64 = 2870177450012600261;
    fn round(acc: u64, lane: u64) -> u64 {
        acc.wrapping_add(lane.wrapping_mul(P2))
            .rotate_left(31)
            .wrapping_mul(P1)
    }
    fn merge(acc: u64, v: u64) -> u64 {
        (acc ^ round(0, v)).wrapping_mul(P1).wrapping_add(P4)
    }
    let rd64 = |b: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        u64::from_le_bytes(a)
    };
    let mut p = 0;
    let len = input.len();
    let mut h = if len >= 32 {
        let mut v1 = seed.wrapping_add(P1).wrapping_add(P2);
        let mut v2 = seed.wrapping_add(P2);
        let mut v3 = seed;
        let mut v4 = seed.wrapping_sub(P1);
        while p + 32 <= len {
            v1 = round(v1, rd64(&input[p..]));
            v2 = round(v2, rd64(&input[p + 8..]));
            v3 = round(v3, rd64(&input[p + 16..]));
            v4 = round(v4, rd64(&input[p + 24..]));
            p += 32;
        }
        let mut h = v1
            .rotate_left(1)
            .wrapping_add(v2.rotate_left(7))
            .wrapping_add(v3.rotate_left(12))
            .wrapping_add(v4.rotate_left(18));
        h = merge(h, v1);
        h = merge(h, v2);
        h = merge(h, v3);
        merge(h, v4)
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(len as u64);
    while p + 8 <= len {
        h ^= round(0, rd64(&input[p..]));
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        p += 8;
    }
    if p + 4 <= len {
        let mut a = [0u8; 4];
        a.copy_from_slice(&input[p..p + 4]);
        h ^= (u32::from_le_bytes(a) as u64).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        p += 4;
    }
    while p < len {
        h ^= (input[p] as u64).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
        p += 1;
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

pub(crate) fn valid_label_name(s: &str) -> bool {
    !s.is_empty() && std::str::from_utf8(s.as_bytes()).is_ok()
}

/// Go's `%q` of `bytes`: valid UTF-8 runs as [`crate::gostrconv::quote`] writes them, each
/// other byte as `\xNN`.
fn quote_go_bytes(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        let q = crate::gostrconv::quote(chunk.valid());
        out.push_str(&q[1..q.len() - 1]);
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's `%q` keeps printable UTF-8 and writes a byte that is no UTF-8 as `\xNN`.
    #[test]
    fn go_quoting_of_bytes_that_are_not_utf8() {
        assert_eq!(quote_go_bytes(b"a\xc5z"), r#""a\xc5z""#);
        assert_eq!(quote_go_bytes("é\"".as_bytes()), "\"é\\\"\"");
    }

    /// count_values counts a histogram by its printed form (upstream's `FloatHistogram.String`:
    /// schema 0 buckets 0 and 1 are (0.5,1] and (1,2]), beside floats by theirs; a name
    /// literal whose escapes spell no UTF-8 is an error that shows the bytes as Go does.
    #[test]
    fn count_values_counts_histograms_by_their_string() {
        use crate::histogram::{FloatHistogram, Span};
        use crate::promql::testing::MemQuerier;
        use crate::promql::{Engine, QueryError, Value};
        let h = FloatHistogram {
            count: 20.0,
            sum: 10.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 2,
            }],
            positive_buckets: vec![1.0, 2.0],
            ..FloatHistogram::default()
        };
        let mut q = MemQuerier::new();
        for (i, v) in ["a", "b", "c"].iter().enumerate() {
            let l = Labels::from_pairs([("__name__", "version"), ("i", *v)]);
            if i == 0 {
                q.append(&l, 0, 6.0);
            } else {
                q.append_histogram(&l, 0, h.clone());
            }
        }
        let r = Engine::default()
            .instant_query(&q, "count_values(\"v\", version)", 0)
            .unwrap();
        assert!(r.infos.is_empty() && r.warnings.is_empty(), "{r:?}");
        let Value::Vector(v) = r.value else {
            panic!("expected a vector");
        };
        let mut got: Vec<(String, f64)> = v.iter().map(|s| (s.labels.to_string(), s.v)).collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            vec![
                ("{v=\"6\"}".to_string(), 1.0),
                (
                    "{v=\"{count:20, sum:10, (0.5,1]:1, (1,2]:2}\"}".to_string(),
                    2.0
                ),
            ]
        );
        let e = Engine::default().instant_query(&q, r#"count_values("a\xc5z", version)"#, 0);
        match e {
            Err(QueryError::Execution(m)) => assert_eq!(m, r#"invalid label name "a\xc5z""#),
            other => panic!("expected an execution error, got {other:?}"),
        }
    }

    #[test]
    fn xxh64_known_vectors() {
        assert_eq!(xxh64(b"", 0), 0xef46db3751d8e999);
        assert_eq!(xxh64(b"a", 0), 0xd24ec4f1a98c6e5b);
        assert_eq!(
            xxh64(b"Nobody inspects the spammish repetition", 0),
            0xfbcea83c8a378bf1
        );
    }

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile(0.5, &mut [1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(quantile(-1.0, &mut [1.0]), f64::NEG_INFINITY);
    }
}
