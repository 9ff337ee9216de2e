//! The postings index: label name → label value → sorted series ids, and selection by matchers.
//!
//! Selection follows Prometheus' `PostingsForMatchers`: matchers that cannot match a missing
//! label (`a="x"`, `a!=""`, `a=~".+"`) each contribute the union of the postings of the values
//! they match, and those lists are intersected; matchers that do match a missing label
//! (`a=""`, `a!="x"`, `a=~"x|"`, `a!~"x"`) instead subtract the series whose value for that name
//! does *not* match. When no matcher of the first kind is present the start set is every
//! series, so `{a=""}` or `{__name__=~".*"}` still work. Regex matchers iterate the values of
//! their label name, with fast paths for `.*`, `.+` and literal alternations (`a|b|c`).

use super::matcher::{MatchOp, Matcher};
use super::shard::MixBuild;
use super::symbols::{Symbol, SymbolTable};
use std::borrow::Cow;
use std::collections::HashMap;

/// Series ids sorted ascending.
type List = Vec<u64>;

/// The outcome of [`Postings::select_deferring`]: candidate ids, sorted, and the matchers
/// still to be checked against each candidate's labels.
pub(crate) struct Selection<'m> {
    pub(crate) ids: Vec<u64>,
    pub(crate) residual: Vec<&'m Matcher>,
}

#[derive(Default)]
pub(crate) struct Postings {
    all: List,
    by_name: HashMap<Symbol, HashMap<Symbol, List, MixBuild>, MixBuild>,
    /// Total ids over all per-value lists, for the memory estimate.
    entries: usize,
    /// Number of per-value lists.
    lists: usize,
}

fn insert_sorted(list: &mut List, id: u64) {
    match list.last() {
        None => list.push(id),
        Some(&last) if last < id => list.push(id),
        _ => {
            if let Err(pos) = list.binary_search(&id) {
                list.insert(pos, id);
            }
        }
    }
}

/// What a matcher needs from one label name's values.
enum ValueSet<'m> {
    All,
    None,
    Literals(Vec<&'m str>),
    AllExcept(Vec<&'m str>),
    /// Values where the matcher's verdict equals the flag.
    Where(&'m Matcher, bool),
}

/// The literal alternatives of a regex made only of plain characters and `|`.
fn literal_alternatives(pattern: &str) -> Option<Vec<&str>> {
    const META: &[char] = &[
        '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '^', '$', '\\',
    ];
    if pattern.contains(META) {
        return None;
    }
    Some(pattern.split('|').collect())
}

/// The values to take for matcher `m`: those it matches when `want` is true, those it
/// rejects otherwise.
fn value_set(m: &Matcher, want: bool) -> ValueSet<'_> {
    let lit = || vec![m.value.as_str()];
    match (m.op, want) {
        (MatchOp::Equal, true) | (MatchOp::NotEqual, false) => ValueSet::Literals(lit()),
        (MatchOp::Equal, false) | (MatchOp::NotEqual, true) => ValueSet::AllExcept(lit()),
        (MatchOp::Regex | MatchOp::NotRegex, _) => {
            // `positive`: we want the values the regex itself matches.
            let positive = (m.op == MatchOp::Regex) == want;
            match m.value.as_str() {
                ".*" => {
                    if positive {
                        ValueSet::All
                    } else {
                        ValueSet::None
                    }
                }
                // Stored values are never empty, so `.+` matches every one of them.
                ".+" => {
                    if positive {
                        ValueSet::All
                    } else {
                        ValueSet::None
                    }
                }
                p => match literal_alternatives(p) {
                    Some(alts) if positive => ValueSet::Literals(alts),
                    Some(alts) => ValueSet::AllExcept(alts),
                    None => ValueSet::Where(m, want),
                },
            }
        }
    }
}

fn union(mut lists: Vec<&List>) -> Cow<'_, [u64]> {
    match lists.len() {
        0 => Cow::Owned(Vec::new()),
        1 => Cow::Borrowed(lists.pop().map_or(&[][..], |l| &l[..])),
        _ => {
            let mut v: Vec<u64> = Vec::with_capacity(lists.iter().map(|l| l.len()).sum());
            for l in lists {
                v.extend_from_slice(l);
            }
            // Lists of one name's different values are disjoint: no dedup needed, but it is
            // cheap insurance.
            v.sort_unstable();
            v.dedup();
            Cow::Owned(v)
        }
    }
}

/// `a ∩ b`, both sorted. When one list is much longer, each id of the short one is found by
/// galloping (exponential then binary search) forward through the long one, so the cost is
/// `O(short × log(long / short))` rather than `O(short + long)`.
fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    if large.len() > 8 * small.len() {
        let mut rest = large;
        for &x in small {
            let mut hi = 1;
            while hi < rest.len() && rest[hi] < x {
                hi *= 2;
            }
            let lo = hi / 2;
            let end = (hi + 1).min(rest.len());
            let Some(window) = rest.get(lo..end) else {
                break;
            };
            match window.binary_search(&x) {
                Ok(i) => {
                    out.push(x);
                    rest = &rest[lo + i + 1..];
                }
                Err(i) => rest = &rest[lo + i..],
            }
            if rest.is_empty() {
                break;
            }
        }
        return out;
    }
    let (mut i, mut j) = (0, 0);
    while i < small.len() && j < large.len() {
        match small[i].cmp(&large[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(small[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Removes from `base` every id in `sub`, both sorted.
fn subtract(base: &mut Vec<u64>, sub: &[u64]) {
    if sub.is_empty() {
        return;
    }
    let mut j = 0;
    base.retain(|x| {
        while j < sub.len() && sub[j] < *x {
            j += 1;
        }
        !(j < sub.len() && sub[j] == *x)
    });
}

impl Postings {
    /// Indexes series `id` under each of its `[name, value, ...]` symbol pairs.
    pub(crate) fn add(&mut self, id: u64, labels: &[Symbol]) {
        insert_sorted(&mut self.all, id);
        for pair in labels.chunks_exact(2) {
            let values = self.by_name.entry(pair[0]).or_default();
            let list = values.entry(pair[1]).or_insert_with(|| {
                self.lists += 1;
                Vec::new()
            });
            insert_sorted(list, id);
            self.entries += 1;
        }
    }

    /// Indexes series `id` without keeping the lists sorted: for a bulk load (a restore adds
    /// series in no particular ref order, where [`Postings::add`]'s sorted insert would move
    /// half a list per series). Call [`Postings::sort_all`] before the index is read or
    /// anything is removed.
    pub(crate) fn push_unsorted(&mut self, id: u64, labels: &[Symbol]) {
        self.all.push(id);
        for pair in labels.chunks_exact(2) {
            let values = self.by_name.entry(pair[0]).or_default();
            let list = values.entry(pair[1]).or_insert_with(|| {
                self.lists += 1;
                Vec::new()
            });
            list.push(id);
            self.entries += 1;
        }
    }

    /// Sorts every list after [`Postings::push_unsorted`] (ids are unique, so no dedup).
    pub(crate) fn sort_all(&mut self) {
        self.all.sort_unstable();
        for values in self.by_name.values_mut() {
            for list in values.values_mut() {
                list.sort_unstable();
            }
        }
    }

    /// Removes a batch of series (id and labels) from the index, one pass per touched list.
    pub(crate) fn remove(&mut self, removed: &[(u64, Box<[Symbol]>)]) {
        if removed.is_empty() {
            return;
        }
        let mut ids: Vec<u64> = removed.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        subtract(&mut self.all, &ids);
        let mut per_list: HashMap<(Symbol, Symbol), Vec<u64>> = HashMap::new();
        for (id, labels) in removed {
            for pair in labels.chunks_exact(2) {
                per_list.entry((pair[0], pair[1])).or_default().push(*id);
            }
        }
        for ((name, value), mut ids) in per_list {
            ids.sort_unstable();
            let Some(values) = self.by_name.get_mut(&name) else {
                continue;
            };
            if let Some(list) = values.get_mut(&value) {
                let before = list.len();
                subtract(list, &ids);
                self.entries -= before - list.len();
                if list.is_empty() {
                    values.remove(&value);
                    self.lists -= 1;
                } else if list.capacity() > 2 * list.len() + 4 {
                    list.shrink_to_fit();
                }
            }
            if values.is_empty() {
                self.by_name.remove(&name);
            }
        }
    }

    /// The sorted ids of the series matching all `matchers` (every series when empty).
    ///
    /// With `defer`, a matcher whose postings are large next to
    /// the candidates already found (`container!=""`, `pod=~".+"`, `job!~"x.*"` beside a
    /// metric name) is not merged from its every value's list: it is returned in
    /// [`Selection::residual`] for the caller to check against each candidate's labels.
    pub(crate) fn select_deferring<'m>(
        &self,
        matchers: &'m [Matcher],
        symbols: &SymbolTable,
        defer: bool,
    ) -> Selection<'m> {
        struct Part<'p, 'm> {
            m: &'m Matcher,
            positive: bool,
            lists: Vec<&'p List>,
            total: usize,
        }
        let empty = || Selection {
            ids: Vec::new(),
            residual: Vec::new(),
        };
        let mut parts: Vec<Part<'_, 'm>> = Vec::with_capacity(matchers.len());
        for m in matchers {
            let values = symbols.lookup(&m.name).and_then(|n| self.by_name.get(&n));
            let positive = !m.matches_empty();
            let Some(values) = values else {
                if positive {
                    return empty();
                }
                // Nobody has the label, and a missing label matches: no constraint.
                continue;
            };
            let lists = self.lists_for(values, value_set(m, positive), symbols);
            if positive && lists.is_empty() {
                return empty();
            }
            if !positive && lists.is_empty() {
                continue;
            }
            let total = lists.iter().map(|l| l.len()).sum();
            parts.push(Part {
                m,
                positive,
                lists,
                total,
            });
        }
        // Cheapest constraints first: positives by size, then negatives by size.
        parts.sort_by_key(|p| (!p.positive, p.total));
        let mut residual = Vec::new();
        let mut result: Option<Vec<u64>> = None;
        for p in parts {
            let current = result.as_ref().map_or(self.all.len(), Vec::len);
            // Merging many lists costs about their total length (plus a sort); checking a
            // candidate's labels costs a few comparisons. Defer only when that is clearly
            // the cheaper side and there are candidates to check.
            if defer && result.is_some() && p.lists.len() > 1 && p.total > 4 * current {
                residual.push(p.m);
                continue;
            }
            let list = union(p.lists);
            result = Some(match (result, p.positive) {
                (None, true) => list.into_owned(),
                (None, false) => {
                    let mut all = self.all.clone();
                    subtract(&mut all, &list);
                    all
                }
                (Some(acc), true) => {
                    if acc.is_empty() {
                        acc
                    } else {
                        intersect(&acc, &list)
                    }
                }
                (Some(mut acc), false) => {
                    subtract(&mut acc, &list);
                    acc
                }
            });
            if result.as_ref().is_some_and(Vec::is_empty) {
                return empty();
            }
        }
        Selection {
            ids: result.unwrap_or_else(|| self.all.clone()),
            residual,
        }
    }

    fn lists_for<'p>(
        &self,
        values: &'p HashMap<Symbol, List, MixBuild>,
        set: ValueSet<'_>,
        symbols: &SymbolTable,
    ) -> Vec<&'p List> {
        match set {
            ValueSet::None => Vec::new(),
            ValueSet::All => values.values().collect(),
            ValueSet::Literals(lits) => lits
                .iter()
                .filter_map(|s| symbols.lookup(s))
                .filter_map(|v| values.get(&v))
                .collect(),
            ValueSet::AllExcept(lits) => {
                let skip: Vec<Symbol> = lits.iter().filter_map(|s| symbols.lookup(s)).collect();
                values
                    .iter()
                    .filter(|(v, _)| !skip.contains(v))
                    .map(|(_, l)| l)
                    .collect()
            }
            ValueSet::Where(m, want) => symbols.with_resolver(|resolve| {
                values
                    .iter()
                    .filter(|(v, _)| m.matches(resolve.get(**v)) == want)
                    .map(|(_, l)| l)
                    .collect()
            }),
        }
    }

    /// The ids of every indexed series, sorted.
    pub(crate) fn all(&self) -> &[u64] {
        &self.all
    }

    /// Number of label pairs (name and value) with at least one series.
    pub(crate) fn pair_count(&self) -> usize {
        self.lists
    }

    /// Every label pair with the number of series carrying it: `(name, value, series)`, the
    /// pairs of one name next to each other.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (Symbol, Symbol, usize)> + '_ {
        self.by_name
            .iter()
            .flat_map(|(&n, values)| values.iter().map(move |(&v, l)| (n, v, l.len())))
    }

    /// Approximate heap bytes: 8 bytes per id (plus ~25% vector slack), and per list its
    /// vector header and hash-map slot (~48 bytes).
    pub(crate) fn heap_bytes(&self) -> usize {
        (self.entries + self.all.capacity()) * 10 + self.lists * 48 + self.by_name.len() * 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        assert_eq!(intersect(&[1, 3, 5, 7], &[3, 4, 5]), vec![3, 5]);
        let big: Vec<u64> = (0..1000).collect();
        assert_eq!(intersect(&[5, 999, 2000], &big), vec![5, 999]);
        let mut b = vec![1, 2, 3, 4, 5];
        subtract(&mut b, &[2, 4, 6]);
        assert_eq!(b, vec![1, 3, 5]);
        let mut l = vec![1, 5];
        insert_sorted(&mut l, 3);
        insert_sorted(&mut l, 9);
        insert_sorted(&mut l, 3);
        assert_eq!(l, vec![1, 3, 5, 9]);
    }

    #[test]
    fn literal_alternation_detection() {
        assert_eq!(
            literal_alternatives("a|b-c|d_e"),
            Some(vec!["a", "b-c", "d_e"])
        );
        assert_eq!(literal_alternatives("a|b.*"), None);
        assert_eq!(literal_alternatives("x|"), Some(vec!["x", ""]));
    }
}
