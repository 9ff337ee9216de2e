//! The symbol table: every label name and value the store has seen, interned once.
//!
//! Series keep their labels as pairs of [`Symbol`] ids (4 bytes each) instead of strings, and
//! the postings index is keyed by them, so a pod name shared by 60 series is stored once.
//! Symbols are never removed: a series that is garbage-collected leaves its strings behind,
//! which costs little (label values repeat across pod restarts) and keeps ids stable for
//! concurrent readers.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// An interned string's id.
pub(crate) type Symbol = u32;

#[derive(Default)]
struct Table {
    ids: HashMap<Arc<str>, Symbol>,
    strs: Vec<Arc<str>>,
    /// Bytes of the interned strings themselves.
    string_bytes: usize,
}

/// A thread-safe interner. Reads (resolving ids) take a shared lock; interning a new string
/// takes the exclusive lock briefly.
#[derive(Default)]
pub(crate) struct SymbolTable {
    inner: RwLock<Table>,
}

impl SymbolTable {
    /// The id of `s`, if it is interned.
    pub(crate) fn lookup(&self, s: &str) -> Option<Symbol> {
        let t = self.inner.read().unwrap_or_else(|e| e.into_inner());
        t.ids.get(s).copied()
    }

    /// Interns every name and value of `labels` and returns the flat `[name, value, ...]` ids.
    pub(crate) fn intern_labels(&self, labels: &super::Labels) -> Box<[Symbol]> {
        let mut out: Vec<Symbol> = Vec::with_capacity(labels.len() * 2);
        {
            let t = self.inner.read().unwrap_or_else(|e| e.into_inner());
            for l in labels {
                match (t.ids.get(&*l.name), t.ids.get(&*l.value)) {
                    (Some(&n), Some(&v)) => {
                        out.push(n);
                        out.push(v);
                    }
                    _ => break,
                }
            }
        }
        if out.len() == labels.len() * 2 {
            return out.into_boxed_slice();
        }
        out.clear();
        let mut t = self.inner.write().unwrap_or_else(|e| e.into_inner());
        for l in labels {
            out.push(t.intern(&l.name));
            out.push(t.intern(&l.value));
        }
        out.into_boxed_slice()
    }

    /// Calls `f` with a resolver from ids to strings, holding the shared lock for its duration.
    pub(crate) fn with_resolver<R>(&self, f: impl FnOnce(&Resolver<'_>) -> R) -> R {
        let t = self.inner.read().unwrap_or_else(|e| e.into_inner());
        f(&Resolver(&t))
    }

    /// The shared strings of `ids` (cheap: `Arc` clones).
    #[cfg(test)]
    pub(crate) fn resolve_many(&self, ids: &[Symbol]) -> Vec<Arc<str>> {
        let t = self.inner.read().unwrap_or_else(|e| e.into_inner());
        ids.iter()
            .map(|&id| {
                t.strs
                    .get(id as usize)
                    .cloned()
                    .unwrap_or_else(|| Arc::from(""))
            })
            .collect()
    }

    /// Number of interned strings and the approximate heap bytes they occupy: string bytes,
    /// the `Arc` header (16), the vector slot (16) and the hash-map slot (20, at ~7/8 load).
    pub(crate) fn usage(&self) -> (usize, usize) {
        let t = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let n = t.strs.len();
        (n, t.string_bytes + n * (16 + 16) + t.ids.capacity() * 21)
    }
}

/// Id → string lookups under one held read lock.
pub(crate) struct Resolver<'a>(&'a Table);

impl Resolver<'_> {
    /// Number of interned strings (ids are `0..len`).
    pub(crate) fn len(&self) -> usize {
        self.0.strs.len()
    }

    /// The string of `id` (empty for an unknown id, which the store never produces).
    pub(crate) fn get(&self, id: Symbol) -> &str {
        self.0.strs.get(id as usize).map_or("", |s| &**s)
    }

    /// The shared string of `id` (an `Arc` clone; empty for an unknown id).
    pub(crate) fn get_shared(&self, id: Symbol) -> Arc<str> {
        self.0
            .strs
            .get(id as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from(""))
    }
}

impl Table {
    fn intern(&mut self, s: &Arc<str>) -> Symbol {
        if let Some(&id) = self.ids.get(&**s) {
            return id;
        }
        let id = self.strs.len() as Symbol;
        self.strs.push(s.clone());
        self.ids.insert(s.clone(), id);
        self.string_bytes += s.len();
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Labels;

    #[test]
    fn interning_is_idempotent_and_shares_strings() {
        let st = SymbolTable::default();
        let a = st.intern_labels(&Labels::from_pairs([("job", "api"), ("pod", "api-1")]));
        let b = st.intern_labels(&Labels::from_pairs([("job", "api"), ("pod", "api-2")]));
        assert_eq!(a[0], b[0]);
        assert_eq!(a[1], b[1]);
        assert_ne!(a[3], b[3]);
        assert_eq!(st.usage().0, 5);
        let names = st.resolve_many(&b);
        let names: Vec<&str> = names.iter().map(|s| &**s).collect();
        assert_eq!(names, ["job", "api", "pod", "api-2"]);
        assert_eq!(st.lookup("api-1"), Some(a[3]));
        assert_eq!(st.lookup("nope"), None);
    }
}
