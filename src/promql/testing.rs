//! [`MemQuerier`]: a small in-memory [`Querier`] over plain vectors, for tests of code that
//! queries (the engine's own tests, rule tests) without the real store.

use crate::store::{Labels, Matcher, Querier, Sample, SeriesSamples};
use std::collections::BTreeMap;

/// Series kept in a sorted map; samples are kept sorted by time, a later append at the same
/// timestamp replaces the earlier value.
#[derive(Clone, Debug, Default)]
pub struct MemQuerier {
    series: BTreeMap<Labels, Vec<Sample>>,
}

impl MemQuerier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample.
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) {
        let s = self.series.entry(labels.clone()).or_default();
        match s.binary_search_by(|p| p.t.cmp(&t)) {
            Ok(i) => s[i].v = v,
            Err(i) => s.insert(i, Sample { t, v }),
        }
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.series.clear();
    }

    fn matching<'a>(
        &'a self,
        matchers: &'a [Matcher],
        mint: i64,
        maxt: i64,
    ) -> impl Iterator<Item = (&'a Labels, &'a [Sample])> + 'a {
        self.series.iter().filter_map(move |(l, s)| {
            if !matchers
                .iter()
                .all(|m| m.matches(l.get(&m.name).unwrap_or("")))
            {
                return None;
            }
            let lo = s.partition_point(|p| p.t < mint);
            let hi = s.partition_point(|p| p.t <= maxt);
            (lo < hi).then(|| (l, &s[lo..hi]))
        })
    }
}

impl Querier for MemQuerier {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesSamples> {
        self.matching(matchers, mint, maxt)
            .map(|(l, s)| SeriesSamples {
                labels: l.clone(),
                samples: s.to_vec(),
                histograms: Vec::new(),
            })
            .collect()
    }

    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        self.matching(matchers, mint, maxt)
            .map(|(l, _)| l.clone())
            .collect()
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
        let mut names: Vec<String> = self
            .matching(matchers, mint, maxt)
            .flat_map(|(l, _)| l.iter().map(|x| x.name.to_string()).collect::<Vec<_>>())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn label_values(&self, name: &str, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
        let mut vals: Vec<String> = self
            .matching(matchers, mint, maxt)
            .filter_map(|(l, _)| l.get(name).map(str::to_string))
            .collect();
        vals.sort();
        vals.dedup();
        vals
    }
}
