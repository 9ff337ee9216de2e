//! [`MemQuerier`]: a small in-memory [`Querier`] over plain vectors, for tests of code that
//! queries (the engine's own tests, rule tests) without the real store. It holds float and
//! native histogram samples.

use crate::histogram::FloatHistogram;
use crate::store::{HistogramSample, Labels, Matcher, Querier, Sample, SeriesSamples};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One series' samples: floats and histograms, each sorted by time, never both at one
/// timestamp.
#[derive(Clone, Debug, Default)]
struct MemSeries {
    floats: Vec<Sample>,
    hists: Vec<HistogramSample>,
}

/// Series kept in a sorted map; samples are kept sorted by time, a later append at the same
/// timestamp replaces the earlier value (also one of the other type).
#[derive(Clone, Debug, Default)]
pub struct MemQuerier {
    series: BTreeMap<Labels, MemSeries>,
}

impl MemQuerier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample.
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) {
        let s = self.series.entry(labels.clone()).or_default();
        if let Ok(i) = s.hists.binary_search_by(|p| p.t.cmp(&t)) {
            s.hists.remove(i);
        }
        match s.floats.binary_search_by(|p| p.t.cmp(&t)) {
            Ok(i) => s.floats[i].v = v,
            Err(i) => s.floats.insert(i, Sample { t, v }),
        }
    }

    /// Adds one native histogram sample.
    pub fn append_histogram(&mut self, labels: &Labels, t: i64, h: FloatHistogram) {
        let s = self.series.entry(labels.clone()).or_default();
        if let Ok(i) = s.floats.binary_search_by(|p| p.t.cmp(&t)) {
            s.floats.remove(i);
        }
        let h = Arc::new(h);
        match s.hists.binary_search_by(|p| p.t.cmp(&t)) {
            Ok(i) => s.hists[i].h = h,
            Err(i) => s.hists.insert(i, HistogramSample { t, h }),
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
    ) -> impl Iterator<Item = (&'a Labels, &'a [Sample], &'a [HistogramSample])> + 'a {
        self.series.iter().filter_map(move |(l, s)| {
            if !matchers
                .iter()
                .all(|m| m.matches(l.get(&m.name).unwrap_or("")))
            {
                return None;
            }
            let lo = s.floats.partition_point(|p| p.t < mint);
            let hi = s.floats.partition_point(|p| p.t <= maxt);
            let hlo = s.hists.partition_point(|p| p.t < mint);
            let hhi = s.hists.partition_point(|p| p.t <= maxt);
            (lo < hi || hlo < hhi).then(|| (l, &s.floats[lo..hi], &s.hists[hlo..hhi]))
        })
    }
}

impl Querier for MemQuerier {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesSamples> {
        self.matching(matchers, mint, maxt)
            .map(|(l, s, h)| SeriesSamples {
                labels: l.clone(),
                samples: s.to_vec(),
                histograms: h.to_vec(),
            })
            .collect()
    }

    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        self.matching(matchers, mint, maxt)
            .map(|(l, _, _)| l.clone())
            .collect()
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
        let mut names: Vec<String> = self
            .matching(matchers, mint, maxt)
            .flat_map(|(l, _, _)| l.iter().map(|x| x.name.to_string()).collect::<Vec<_>>())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn label_values(&self, name: &str, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
        let mut vals: Vec<String> = self
            .matching(matchers, mint, maxt)
            .filter_map(|(l, _, _)| l.get(name).map(str::to_string))
            .collect();
        vals.sort();
        vals.dedup();
        vals
    }
}
