//! Per-query memo of label sets derived from other label sets.
//!
//! A range query evaluates the same nodes over the same series at every step. Selectors hand
//! out their series' labels as shared [`Rc<Labels>`], and every label set a node derives from
//! its input (a grouping key, a matching signature, a join's result labels) is computed once
//! per query and then looked up by the input's pointer. Derived sets are interned, so equal
//! keys are the same allocation and per-step grouping can hash pointers instead of strings.
//!
//! The memo keeps every input `Rc` it has seen alive, so a pointer cannot be reused by another
//! label set while the query runs.
//!
//! A query evaluated at a single step (an instant query without subqueries) evaluates every
//! node once, so nothing derived per input is ever looked up again: made with
//! [`LabelMemo::single_step`], the memo then only interns the per-input derivations of
//! aggregations ([`Positional`]) instead of recording them, which spares the map inserts and,
//! at the end of the query, dropping the map.

use crate::store::Labels;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

/// A fast, non-cryptographic hasher for small integer keys (pointers, node ids): the
/// multiply-rotate hash of rustc's `FxHasher`.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut a = [0u8; 8];
            a[..c.len()].copy_from_slice(c);
            self.add(u64::from_le_bytes(a));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` keyed by pointers or small integers.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The address of a shared label set, as a map key.
pub(crate) fn ptr(l: &Rc<Labels>) -> usize {
    Rc::as_ptr(l) as usize
}

struct One {
    _src: Rc<Labels>,
    out: Rc<Labels>,
}

struct Two {
    _a: Rc<Labels>,
    _b: Rc<Labels>,
    out: Rc<Labels>,
}

/// See the module documentation. `tag` tells the derivations apart: the address of the AST
/// node doing the deriving plus a small discriminator.
#[derive(Default)]
pub(crate) struct LabelMemo {
    /// Whether the query has one step only (see [`LabelMemo::single_step`]).
    single_step: bool,
    one: RefCell<FastMap<(usize, usize, bool), One>>,
    two: RefCell<FastMap<(usize, usize, usize), Two>>,
    /// Interned label sets. Hashed with [`FxHasher`] over the strings: several times
    /// cheaper than SipHash for label sets, and the map lives for one query only.
    interned: RefCell<HashSet<Rc<Labels>, BuildHasherDefault<FxHasher>>>,
    /// Per tag, the derivations of the previous step by input position (see
    /// [`LabelMemo::positional`]).
    by_position: RefCell<FastMap<usize, Positional>>,
}

/// The derivations a node made at its previous step, by input position: (input pointer,
/// flag, output). A node's input usually lists the same series in the same order at every
/// step, so a pointer comparison at the same position replaces a lookup in the (large,
/// cache-unfriendly) derivation map.
#[derive(Default)]
pub(crate) struct Positional(Vec<(usize, bool, Rc<Labels>)>);

impl Positional {
    /// `memo.derive(tag, src, flag, f)` for the input at position `pos` of this step.
    pub fn derive(
        &mut self,
        memo: &LabelMemo,
        tag: usize,
        pos: usize,
        src: &Rc<Labels>,
        flag: bool,
        f: impl FnOnce(&Labels, bool) -> Labels,
    ) -> Rc<Labels> {
        if memo.single_step {
            // Every input is derived once: nothing to remember for a next step.
            return memo.intern(f(src, flag));
        }
        let p = ptr(src);
        if let Some((q, fl, out)) = self.0.get(pos) {
            // `derive` keeps `src` alive for the whole query, so an equal pointer is the
            // same label set.
            if *q == p && *fl == flag {
                return out.clone();
            }
        }
        let out = memo.derive(tag, src, flag, f);
        if pos < self.0.len() {
            self.0[pos] = (p, flag, out.clone());
        } else if pos == self.0.len() {
            self.0.push((p, flag, out.clone()));
        }
        out
    }
}

impl LabelMemo {
    /// A memo for a query evaluated at one step only, where [`Positional::derive`] interns
    /// without recording (see the module documentation).
    pub fn single_step() -> Self {
        LabelMemo {
            single_step: true,
            ..LabelMemo::default()
        }
    }

    /// The interned copy of `l`.
    pub fn intern(&self, l: Labels) -> Rc<Labels> {
        let mut m = self.interned.borrow_mut();
        if let Some(r) = m.get(&l) {
            return r.clone();
        }
        let r = Rc::new(l);
        m.insert(r.clone());
        r
    }

    /// `f(src, flag)`, computed once per query for each (`tag`, `src`, `flag`) and interned.
    pub fn derive(
        &self,
        tag: usize,
        src: &Rc<Labels>,
        flag: bool,
        f: impl FnOnce(&Labels, bool) -> Labels,
    ) -> Rc<Labels> {
        let key = (tag, ptr(src), flag);
        if let Some(d) = self.one.borrow().get(&key) {
            return d.out.clone();
        }
        let out = self.intern(f(src, flag));
        self.one.borrow_mut().insert(
            key,
            One {
                _src: src.clone(),
                out: out.clone(),
            },
        );
        out
    }

    /// The positional cache of `tag`, taken out for one step; give it back with
    /// [`LabelMemo::put_positional`].
    pub fn positional(&self, tag: usize) -> Positional {
        self.by_position
            .borrow_mut()
            .remove(&tag)
            .unwrap_or_default()
    }

    /// Returns the positional cache of `tag` after a step.
    pub fn put_positional(&self, tag: usize, p: Positional) {
        self.by_position.borrow_mut().insert(tag, p);
    }

    /// `f(a, b)`, computed once per query for each (`tag`, `a`, `b`) and interned.
    pub fn derive2(
        &self,
        tag: usize,
        a: &Rc<Labels>,
        b: &Rc<Labels>,
        f: impl FnOnce(&Labels, &Labels) -> Labels,
    ) -> Rc<Labels> {
        let key = (tag, ptr(a), ptr(b));
        if let Some(d) = self.two.borrow().get(&key) {
            return d.out.clone();
        }
        let out = self.intern(f(a, b));
        self.two.borrow_mut().insert(
            key,
            Two {
                _a: a.clone(),
                _b: b.clone(),
                out: out.clone(),
            },
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_sets_are_computed_once_and_interned() {
        let m = LabelMemo::default();
        let a = Rc::new(Labels::from_pairs([("job", "x"), ("pod", "a")]));
        let b = Rc::new(Labels::from_pairs([("job", "x"), ("pod", "b")]));
        let mut calls = 0;
        let mut only_job = |l: &Labels, _| {
            calls += 1;
            l.only(&["job"])
        };
        let ka = m.derive(1, &a, false, &mut only_job);
        let ka2 = m.derive(1, &a, false, &mut only_job);
        let kb = m.derive(1, &b, false, &mut only_job);
        assert_eq!(calls, 2, "the second lookup of `a` is memoised");
        assert!(Rc::ptr_eq(&ka, &ka2));
        assert!(Rc::ptr_eq(&ka, &kb), "equal keys share one allocation");
        assert_eq!(ka.get("job"), Some("x"));
        assert_eq!(ka.get("pod"), None);
    }

    #[test]
    fn positional_derivations_match_the_memo_when_inputs_move() {
        let m = LabelMemo::default();
        let a = Rc::new(Labels::from_pairs([("job", "x"), ("pod", "a")]));
        let b = Rc::new(Labels::from_pairs([("job", "y"), ("pod", "b")]));
        let only_job = |l: &Labels, _| l.only(&["job"]);
        let mut p = m.positional(9);
        assert_eq!(
            p.derive(&m, 9, 0, &a, false, only_job).get("job"),
            Some("x")
        );
        assert_eq!(
            p.derive(&m, 9, 1, &b, false, only_job).get("job"),
            Some("y")
        );
        m.put_positional(9, p);
        // Next step: the series swapped places and one carries a different flag.
        let mut p = m.positional(9);
        assert_eq!(
            p.derive(&m, 9, 0, &b, false, only_job).get("job"),
            Some("y")
        );
        assert_eq!(
            p.derive(&m, 9, 1, &a, false, only_job).get("job"),
            Some("x")
        );
        let d = p.derive(&m, 9, 1, &a, true, |l: &Labels, d| {
            if d {
                Labels::empty()
            } else {
                l.clone()
            }
        });
        assert!(d.is_empty());
        m.put_positional(9, p);
    }

    #[test]
    fn single_step_positional_derivations_are_interned_not_recorded() {
        let m = LabelMemo::single_step();
        let a = Rc::new(Labels::from_pairs([("job", "x"), ("pod", "a")]));
        let b = Rc::new(Labels::from_pairs([("job", "x"), ("pod", "b")]));
        let only_job = |l: &Labels, _| l.only(&["job"]);
        let mut p = m.positional(3);
        let ka = p.derive(&m, 3, 0, &a, false, only_job);
        let kb = p.derive(&m, 3, 1, &b, false, only_job);
        assert_eq!(ka.get("job"), Some("x"));
        assert_eq!(ka.get("pod"), None);
        assert!(
            Rc::ptr_eq(&ka, &kb),
            "equal keys still share one allocation"
        );
        assert!(p.0.is_empty(), "nothing kept for a next step");
        assert!(m.one.borrow().is_empty(), "nothing recorded in the memo");
        m.put_positional(3, p);
    }

    #[test]
    fn two_input_derivations_depend_on_both_inputs() {
        let m = LabelMemo::default();
        let a = Rc::new(Labels::from_pairs([("a", "1")]));
        let b = Rc::new(Labels::from_pairs([("b", "2")]));
        let c = Rc::new(Labels::from_pairs([("b", "3")]));
        let join = |x: &Labels, y: &Labels| {
            let mut v = x.as_slice().to_vec();
            v.extend_from_slice(y.as_slice());
            Labels::from_vec(v)
        };
        let ab = m.derive2(7, &a, &b, join);
        let ac = m.derive2(7, &a, &c, join);
        assert_eq!(ab.get("b"), Some("2"));
        assert_eq!(ac.get("b"), Some("3"));
    }
}
