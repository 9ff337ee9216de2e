//! Binary operators: arithmetic, comparisons (filtering or `bool`), the set operators
//! `and`/`or`/`unless`, the histogram trim operators `</`/`>/` (in [`super::nh_binary`]),
//! and vector matching with `on`/`ignoring` and `group_left`/`group_right`.
//!
//! The error messages for ambiguous matches are upstream's, word for word.

use super::eval::{exec_err, EvalResult, Evaluator};
use super::memo::{ptr, FastMap};
use super::value::{Sample, Val};
use crate::store::{Labels, METRIC_NAME};
use promql_parser::parser::{BinModifier, BinaryExpr, Expr, LabelModifier, VectorMatchCardinality};
use std::collections::HashSet;
use std::rc::Rc;

pub(crate) fn eval_binary(ev: &Evaluator, b: &BinaryExpr, node: &Expr, ts: i64) -> EvalResult<Val> {
    let nh = (ev, node);
    let op = b.op.to_string();
    let return_bool = b.return_bool();
    let lhs = ev.eval(&b.lhs, ts)?;
    let rhs = ev.eval(&b.rhs, ts)?;
    match (lhs, rhs) {
        (Val::Scalar(_), Val::Scalar(_)) if is_trim(&op) => {
            exec_err(format!("operator {op:?} not allowed for Scalar operations"))
        }
        (Val::Scalar(l), Val::Scalar(r)) => {
            let (v, keep) = elem_binop(&op, l, r);
            if is_comparison(&op) {
                Ok(Val::Scalar(if keep { 1.0 } else { 0.0 }))
            } else {
                Ok(Val::Scalar(v))
            }
        }
        (Val::Vector(l), Val::Scalar(r)) => Ok(Val::Vector(vector_scalar(
            nh,
            &op,
            l,
            r,
            false,
            return_bool,
        ))),
        (Val::Scalar(l), Val::Vector(r)) => {
            Ok(Val::Vector(vector_scalar(nh, &op, r, l, true, return_bool)))
        }
        (Val::Vector(l), Val::Vector(r)) => {
            let m = Matching::from(b.modifier.as_ref());
            let sig = Sig {
                ev,
                m: &m,
                tag: b as *const BinaryExpr as usize,
                changes_schema: changes_metric_schema(&op),
            };
            match op.as_str() {
                "and" => Ok(Val::Vector(vector_and(l, r, &sig))),
                "or" => Ok(Val::Vector(vector_or(l, r, &sig))),
                "unless" => Ok(Val::Vector(vector_unless(l, r, &sig))),
                _ => vector_vector(
                    nh,
                    &op,
                    l,
                    r,
                    &sig,
                    return_bool,
                    Fill::of(b.modifier.as_ref()),
                )
                .map(Val::Vector),
            }
        }
        (l, r) => exec_err(format!(
            "binary expression must contain only scalar and instant vector types, got {} and {}",
            l.type_name(),
            r.type_name()
        )),
    }
}

pub(crate) fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// The native histogram trim operators: defined for a histogram on the left and a float on
/// the right only.
pub(crate) fn is_trim(op: &str) -> bool {
    matches!(op, "</" | ">/")
}

/// Whether `op` changes what the result measures (Prometheus' `changesMetricSchema`): the
/// arithmetic operators do (a vector-vector result loses `__name__`, `__type__` and
/// `__unit__` at once), comparisons and the trim operators keep the name.
fn changes_metric_schema(op: &str) -> bool {
    matches!(
        op,
        "+" | "-" | "*" | "/" | "%" | "^" | "atan2" | "bitand" | "bitor" | "bitxor"
    )
}

/// Applies `op`; the flag says whether a comparison holds (always true for arithmetic).
pub(crate) fn elem_binop(op: &str, l: f64, r: f64) -> (f64, bool) {
    match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        "%" => (l % r, true),
        "^" => (l.powf(r), true),
        "atan2" => (l.atan2(r), true),
        "bitand" => (bitwise(l, r, |a, b| a & b), true),
        "bitor" => (bitwise(l, r, |a, b| a | b), true),
        "bitxor" => (bitwise(l, r, |a, b| a ^ b), true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        _ => (f64::NAN, false),
    }
}

/// The largest integer a float holds exactly together with all smaller ones: 2^53 - 1.
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A bitwise operator on two floats: defined when both are integers in `0..=2^53-1`
/// (`-0` is `0`), so every bit of the operands and of the result is exact; NaN otherwise.
fn bitwise(l: f64, r: f64, f: impl Fn(u64, u64) -> u64) -> f64 {
    let exact = |v: f64| (0.0..=MAX_EXACT_INTEGER).contains(&v) && v.fract() == 0.0;
    if exact(l) && exact(r) {
        // Both are integers below 2^53, so the casts are exact.
        f(l as u64, r as u64) as f64
    } else {
        f64::NAN
    }
}

/// The evaluator and the binary expression's node, for histogram operands' annotations.
type NhCtx<'e, 'a> = (&'e Evaluator<'a>, &'e Expr);

fn vector_scalar(
    nh: NhCtx,
    op: &str,
    vec: Vec<Sample>,
    s: f64,
    swap: bool,
    rb: bool,
) -> Vec<Sample> {
    let cmp = is_comparison(op);
    let mut out = Vec::with_capacity(vec.len());
    for mut x in vec {
        if x.h.is_some() || is_trim(op) {
            let none = None;
            let (l, r) = if swap {
                ((s, &none), (x.v, &x.h))
            } else {
                ((x.v, &x.h), (s, &none))
            };
            if let Some((v, h, true)) = super::nh_binary::binop(nh.0, nh.1, op, l, r) {
                x.v = v;
                x.h = h;
                x.drop_name |= changes_metric_schema(op);
                out.push(x);
            }
            continue;
        }
        let (l, r) = if swap { (s, x.v) } else { (x.v, s) };
        let (mut v, mut keep) = elem_binop(op, l, r);
        if cmp && swap {
            v = r;
        }
        if rb {
            v = if keep { 1.0 } else { 0.0 };
            keep = true;
        }
        if keep {
            x.v = v;
            if rb || !cmp {
                x.drop_name = true;
            }
            out.push(x);
        }
    }
    out
}

/// How two vectors' elements are paired.
pub(crate) struct Matching {
    on: bool,
    names: Vec<String>,
    card: VectorMatchCardinality,
}

impl Matching {
    fn from(m: Option<&BinModifier>) -> Matching {
        match m {
            None => Matching {
                on: false,
                names: Vec::new(),
                card: VectorMatchCardinality::OneToOne,
            },
            Some(m) => {
                let (on, names) = match &m.matching {
                    Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
                    Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
                    None => (false, Vec::new()),
                };
                Matching {
                    on,
                    names,
                    card: m.card.clone(),
                }
            }
        }
    }

    fn signature(&self, l: &Labels) -> Labels {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        if self.on {
            l.only(&names)
        } else {
            let mut n = names;
            n.push(METRIC_NAME);
            l.without(&n)
        }
    }
}

/// Matching signatures of one binary node, memoised per query: a signature's pointer
/// identifies it.
struct Sig<'e, 'a> {
    ev: &'e Evaluator<'a>,
    m: &'e Matching,
    tag: usize,
    /// The operator changes the metric's schema ([`changes_metric_schema`]).
    changes_schema: bool,
}

impl Sig<'_, '_> {
    fn of(&self, l: &Rc<Labels>) -> Rc<Labels> {
        self.ev
            .memo
            .derive(self.tag, l, false, |l, _| self.m.signature(l))
    }

    fn id(&self, l: &Rc<Labels>) -> usize {
        ptr(&self.of(l))
    }

    /// The labels of a matched pair's result, memoised per pair.
    fn result(
        &self,
        l: &Rc<Labels>,
        r: &Rc<Labels>,
        one_to_one: bool,
        include: &[String],
    ) -> Rc<Labels> {
        self.ev.memo.derive2(self.tag, l, r, |l, r| {
            result_metric(l, r, self.m, one_to_one, include, self.changes_schema)
        })
    }
}

type IdSet = HashSet<usize, std::hash::BuildHasherDefault<super::memo::FxHasher>>;

fn vector_and(l: Vec<Sample>, r: Vec<Sample>, sig: &Sig) -> Vec<Sample> {
    let right: IdSet = r.iter().map(|s| sig.id(&s.labels)).collect();
    l.into_iter()
        .filter(|s| right.contains(&sig.id(&s.labels)))
        .collect()
}

fn vector_or(l: Vec<Sample>, r: Vec<Sample>, sig: &Sig) -> Vec<Sample> {
    let left: IdSet = l.iter().map(|s| sig.id(&s.labels)).collect();
    let mut out = l;
    out.extend(r.into_iter().filter(|s| !left.contains(&sig.id(&s.labels))));
    out
}

fn vector_unless(l: Vec<Sample>, r: Vec<Sample>, sig: &Sig) -> Vec<Sample> {
    let right: IdSet = r.iter().map(|s| sig.id(&s.labels)).collect();
    l.into_iter()
        .filter(|s| !right.contains(&sig.id(&s.labels)))
        .collect()
}

/// The values `fill`, `fill_left` and `fill_right` stand in with for a missing left- or
/// right-hand sample (none when the modifier is absent).
#[derive(Clone, Copy, Default)]
struct Fill {
    lhs: Option<f64>,
    rhs: Option<f64>,
}

impl Fill {
    fn of(m: Option<&BinModifier>) -> Fill {
        m.map_or(Fill::default(), |m| Fill {
            lhs: m.fill_values.lhs,
            rhs: m.fill_values.rhs,
        })
    }

    fn any(self) -> bool {
        self.lhs.is_some() || self.rhs.is_some()
    }
}

/// Arithmetic and comparison between two vectors, as upstream's `VectorBinop`: every sample
/// of the "many" side (the left, or the right with `group_right`) meets the sample of the
/// "one" side with its matching signature. With a fill modifier a missing partner is a
/// sample of the fill value whose labels are the signature: `fill.rhs` stands in on the "one"
/// side for an unmatched "many" sample, then `fill.lhs` on the "many" side for each "one"
/// sample nothing matched (upstream applies the two values to the sides as swapped for
/// `group_right`, and so does this).
fn vector_vector(
    nh: NhCtx,
    op: &str,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    sig: &Sig,
    rb: bool,
    fill: Fill,
) -> EvalResult<Vec<Sample>> {
    if (lhs.is_empty() && rhs.is_empty()) || ((lhs.is_empty() || rhs.is_empty()) && !fill.any()) {
        return Ok(Vec::new());
    }
    let m = sig.m;
    let one_to_many = matches!(m.card, VectorMatchCardinality::OneToMany(_));
    let one_to_one = matches!(m.card, VectorMatchCardinality::OneToOne);
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };

    let mut right_sigs: FastMap<usize, usize> = FastMap::default();
    for (i, s) in one.iter().enumerate() {
        let sig = sig.of(&s.labels);
        if let Some(&j) = right_sigs.get(&ptr(&sig)) {
            let side = if one_to_many { "left" } else { "right" };
            let (a, b) = (&one[j].labels, &s.labels);
            return exec_err(format!(
                "found duplicate series for the match group {sig} on the {side} hand-side of the operation: [{a}, {b}];many-to-many matching not allowed: matching labels must be unique on one side"
            ));
        }
        right_sigs.insert(ptr(&sig), i);
    }

    let include: Vec<String> = match &m.card {
        VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) => {
            l.labels.clone()
        }
        _ => Vec::new(),
    };
    // Signatures some "many" sample met (kept or not), and the result label sets made.
    let mut matched = IdSet::default();
    let mut inserted = IdSet::default();
    let mut out = Vec::new();
    let mut pair = |matched: &mut IdSet,
                    ls: &Sample,
                    rs: &Sample,
                    sig_id: usize|
     -> EvalResult<()> {
        let (vl, vr) = if one_to_many {
            (rs.v, ls.v)
        } else {
            (ls.v, rs.v)
        };
        let mut h = None;
        let (mut v, keep) = if ls.h.is_some() || rs.h.is_some() || is_trim(op) {
            let (l, r) = if one_to_many {
                ((rs.v, &rs.h), (ls.v, &ls.h))
            } else {
                ((ls.v, &ls.h), (rs.v, &rs.h))
            };
            // No result for this pair (an annotation says why); the signature still met.
            let Some((v, hv, keep)) = super::nh_binary::binop(nh.0, nh.1, op, l, r) else {
                matched.insert(sig_id);
                return Ok(());
            };
            h = hv;
            (v, keep)
        } else {
            elem_binop(op, vl, vr)
        };
        if rb {
            v = if keep { 1.0 } else { 0.0 };
        }
        let metric = sig.result(&ls.labels, &rs.labels, one_to_one, &include);
        let first = matched.insert(sig_id);
        if one_to_one {
            if !first {
                return exec_err(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                );
            }
        } else if !inserted.insert(ptr(&metric)) {
            return exec_err(
                "multiple matches for labels: grouping labels must ensure unique matches",
            );
        }
        if keep || rb {
            out.push(Sample {
                labels: metric,
                v,
                h: if rb { None } else { h },
                t: ls.t,
                drop_name: ls.drop_name || rb || changes_metric_schema(op),
            });
        }
        Ok(())
    };
    for ls in &many {
        let sig_id = sig.id(&ls.labels);
        match right_sigs.get(&sig_id) {
            Some(&ri) => pair(&mut matched, ls, &one[ri], sig_id)?,
            None => {
                if let Some(f) = fill.rhs {
                    pair(
                        &mut matched,
                        ls,
                        &filled(sig.of(&ls.labels), f, ls.t),
                        sig_id,
                    )?;
                }
            }
        }
    }
    if let Some(f) = fill.lhs {
        for rs in &one {
            let sig_id = sig.id(&rs.labels);
            if !matched.contains(&sig_id) {
                pair(
                    &mut matched,
                    &filled(sig.of(&rs.labels), f, rs.t),
                    rs,
                    sig_id,
                )?;
            }
        }
    }
    Ok(out)
}

/// The stand-in for a missing sample: the fill value under the match signature's labels.
fn filled(labels: Rc<Labels>, v: f64, t: i64) -> Sample {
    Sample {
        labels,
        v,
        h: None,
        t,
        drop_name: false,
    }
}

fn result_metric(
    l: &Labels,
    r: &Labels,
    m: &Matching,
    one_to_one: bool,
    include: &[String],
    changes_schema: bool,
) -> Labels {
    let mut out = if changes_schema {
        l.without_metadata_labels()
    } else {
        l.clone()
    };
    if one_to_one {
        let names: Vec<&str> = m.names.iter().map(String::as_str).collect();
        out = if m.on {
            out.only(&names)
        } else {
            out.without(&names)
        };
    }
    for n in include {
        out = out.with(n, r.get(n).unwrap_or(""));
    }
    out
}
