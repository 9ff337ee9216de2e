//! Cardinality figures: how many series, label pairs and chunks the store holds, and which
//! metric names, label names and label pairs hold the most series.
//!
//! [`Store::cardinality`] computes [`Cardinality`], the figures Prometheus' head reports at
//! `/api/v1/status/tsdb` (`MemPostings.Stats` and `Head.Stats`): per label name the number
//! of values and the bytes of its values summed over its series, per metric name and per
//! `name=value` pair the number of series, each kept to the `limit` highest. Prometheus
//! breaks ties in Go map order, which changes from call to call; redline breaks them by
//! name, byte-wise, so the same store always gives the same answer.
//!
//! Read locks only, none held for long: the postings index is read once, under its lock,
//! into a flat list of `(name, value, series)` ids; the strings behind them are resolved in
//! batches of [`RESOLVE_BATCH`] pairs, each under a short hold of the symbol table's lock;
//! the chunk count and the oldest and newest sample come from one pass over the shards, one
//! shard lock at a time.

use super::db::{SeriesRef, Store, SHARDS};
use super::series::Series;
use super::shard::MixBuild;
use super::symbols::Symbol;
use super::METRIC_NAME;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// Label pairs resolved per hold of the symbol table's read lock.
const RESOLVE_BATCH: usize = 16 * 1024;

/// One entry of a top-N list: a metric name, label name or `name=value` pair and its figure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardinalityStat {
    pub name: String,
    pub value: u64,
}

/// The store's cardinality figures (see the module docs); each list is sorted by value,
/// highest first, ties by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cardinality {
    /// Series in the index.
    pub num_series: u64,
    /// Distinct `name=value` pairs over all series.
    pub num_label_pairs: u64,
    /// Chunks held, closed and open.
    pub chunk_count: u64,
    /// The oldest sample's timestamp; `i64::MAX` without samples, as Prometheus' empty head.
    pub min_time: i64,
    /// The newest sample's timestamp; `i64::MIN` without samples, as Prometheus' empty head.
    pub max_time: i64,
    /// Series per metric name (`__name__` value).
    pub series_count_by_metric_name: Vec<CardinalityStat>,
    /// Distinct values per label name.
    pub label_value_count_by_label_name: Vec<CardinalityStat>,
    /// Per label name, the length in bytes of each of its values times that value's series.
    pub memory_in_bytes_by_label_name: Vec<CardinalityStat>,
    /// Series per `name=value` pair.
    pub series_count_by_label_value_pair: Vec<CardinalityStat>,
}

/// A ranked entry, ordered worst first: the greater of two has the lower value or, at equal
/// values, the greater name.
#[derive(PartialEq, Eq)]
struct Ranked {
    value: u64,
    name: String,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .value
            .cmp(&self.value)
            .then_with(|| self.name.cmp(&other.name))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The `limit` best entries offered so far; the worst of them on top of the heap.
struct Top {
    limit: usize,
    heap: BinaryHeap<Ranked>,
}

impl Top {
    fn new(limit: usize) -> Self {
        Top {
            limit,
            heap: BinaryHeap::new(),
        }
    }

    /// Offers the entry named by the concatenation of `parts`; the name is built only when
    /// the entry is kept.
    fn offer(&mut self, value: u64, parts: &[&str]) {
        if self.heap.len() >= self.limit {
            let Some(worst) = self.heap.peek() else {
                return;
            };
            let better = match value.cmp(&worst.value) {
                Ordering::Greater => true,
                Ordering::Less => false,
                Ordering::Equal => {
                    parts.iter().flat_map(|p| p.bytes()).cmp(worst.name.bytes()) == Ordering::Less
                }
            };
            if !better {
                return;
            }
            self.heap.pop();
        }
        self.heap.push(Ranked {
            value,
            name: parts.concat(),
        });
    }

    fn into_stats(self) -> Vec<CardinalityStat> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|r| CardinalityStat {
                name: r.name,
                value: r.value,
            })
            .collect()
    }
}

impl Store {
    /// The store's cardinality figures, each list cut to its `limit` highest entries.
    pub fn cardinality(&self, limit: usize) -> Cardinality {
        let (ids, pairs) = {
            let postings = self.postings_read();
            let mut pairs: Vec<(Symbol, Symbol, usize)> = Vec::with_capacity(postings.pair_count());
            pairs.extend(postings.pairs());
            (postings.all().to_vec(), pairs)
        };
        let metric_name = self.symbols.lookup(METRIC_NAME);
        let mut by_metric = Top::new(limit);
        let mut by_pair = Top::new(limit);
        // Per label name: distinct values, and value bytes times series.
        let mut per_name: HashMap<Symbol, (u64, u64), MixBuild> = HashMap::default();
        for batch in pairs.chunks(RESOLVE_BATCH) {
            self.symbols.with_resolver(|r| {
                for &(n, v, series) in batch {
                    let series = series as u64;
                    let value = r.get(v);
                    let e = per_name.entry(n).or_default();
                    e.0 += 1;
                    e.1 += value.len() as u64 * series;
                    if Some(n) == metric_name {
                        by_metric.offer(series, &[value]);
                    }
                    by_pair.offer(series, &[r.get(n), "=", value]);
                }
            });
        }
        let mut values_by_name = Top::new(limit);
        let mut bytes_by_name = Top::new(limit);
        self.symbols.with_resolver(|r| {
            for (&n, &(values, bytes)) in &per_name {
                values_by_name.offer(values, &[r.get(n)]);
                bytes_by_name.offer(bytes, &[r.get(n)]);
            }
        });
        let (chunk_count, min_time, max_time) = self.sample_range(&ids);
        Cardinality {
            num_series: ids.len() as u64,
            num_label_pairs: pairs.len() as u64,
            chunk_count,
            min_time,
            max_time,
            series_count_by_metric_name: by_metric.into_stats(),
            label_value_count_by_label_name: values_by_name.into_stats(),
            memory_in_bytes_by_label_name: bytes_by_name.into_stats(),
            series_count_by_label_value_pair: by_pair.into_stats(),
        }
    }

    /// The chunks held and the oldest and newest sample of the series `ids`, one shard lock
    /// at a time.
    fn sample_range(&self, ids: &[u64]) -> (u64, i64, i64) {
        let mut by_shard: Vec<Vec<u64>> = vec![Vec::new(); SHARDS];
        for &id in ids {
            by_shard[SeriesRef(id).shard()].push(id);
        }
        let (mut chunks, mut min, mut max) = (0u64, i64::MAX, i64::MIN);
        for (si, ids) in by_shard.iter().enumerate() {
            let shard = self.shard_read(si);
            chunks += shard.acct.chunks as u64;
            for &id in ids {
                if let Some((lo, hi)) = shard.get(id).and_then(Series::bounds) {
                    min = min.min(lo);
                    max = max.max(hi);
                }
            }
        }
        (chunks, min, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Labels;

    fn stats(list: &[CardinalityStat]) -> Vec<(&str, u64)> {
        list.iter().map(|s| (s.name.as_str(), s.value)).collect()
    }

    #[test]
    fn figures_of_a_known_store() {
        let store = Store::new();
        let mut app = store.appender();
        let up1 = Labels::from_pairs([("__name__", "up"), ("job", "a"), ("instance", "1")]);
        let series = [
            up1.clone(),
            Labels::from_pairs([("__name__", "up"), ("job", "a"), ("instance", "2")]),
            Labels::from_pairs([("__name__", "up"), ("job", "b"), ("instance", "1")]),
            Labels::from_pairs([
                ("__name__", "http_requests_total"),
                ("job", "a"),
                ("code", "200"),
            ]),
            Labels::from_pairs([
                ("__name__", "http_requests_total"),
                ("job", "a"),
                ("code", "500"),
            ]),
            Labels::from_pairs([("__name__", "temp"), ("room", "kök")]),
        ];
        // `temp` holds the oldest sample (1000); `up{instance="1",job="a"}` 121 samples
        // 1000 ms apart from 2000 on: a closed chunk of 120 and an open one, the newest at
        // 2000 + 120 * 1000 = 122_000.
        app.append(&series[5], 1_000, 21.5).unwrap();
        for s in &series[1..5] {
            app.append(s, 5_000, 1.0).unwrap();
        }
        for i in 0..121 {
            app.append(&up1, 2_000 + i * 1_000, 1.0).unwrap();
        }
        app.commit();

        let c = store.cardinality(10);
        assert_eq!(c.num_series, 6);
        // __name__: up, http_requests_total, temp; job: a, b; instance: 1, 2; code: 200,
        // 500; room: kök.
        assert_eq!(c.num_label_pairs, 3 + 2 + 2 + 2 + 1);
        // One chunk per series, plus the closed one of `up{instance="1",job="a"}`.
        assert_eq!(c.chunk_count, 7);
        assert_eq!((c.min_time, c.max_time), (1_000, 122_000));
        assert_eq!(
            stats(&c.series_count_by_metric_name),
            [("up", 3), ("http_requests_total", 2), ("temp", 1)]
        );
        // code, instance and job tie at 2 values: name order.
        assert_eq!(
            stats(&c.label_value_count_by_label_name),
            [
                ("__name__", 3),
                ("code", 2),
                ("instance", 2),
                ("job", 2),
                ("room", 1)
            ]
        );
        // __name__: len("up") 2 x 3 series + len("http_requests_total") 19 x 2 + len("temp")
        // 4 x 1 = 48; code: 3 x 1 + 3 x 1 = 6; job: 1 x 4 + 1 x 1 = 5; room: "kök" is 4
        // bytes x 1 = 4; instance: 1 x 2 + 1 x 1 = 3.
        assert_eq!(
            stats(&c.memory_in_bytes_by_label_name),
            [
                ("__name__", 48),
                ("code", 6),
                ("job", 5),
                ("room", 4),
                ("instance", 3)
            ]
        );
        // Ties by the `name=value` text, byte-wise ('_' 0x5f sorts before 'i' 0x69).
        assert_eq!(
            stats(&c.series_count_by_label_value_pair),
            [
                ("job=a", 4),
                ("__name__=up", 3),
                ("__name__=http_requests_total", 2),
                ("instance=1", 2),
                ("__name__=temp", 1),
                ("code=200", 1),
                ("code=500", 1),
                ("instance=2", 1),
                ("job=b", 1),
                ("room=kök", 1),
            ]
        );

        // The limit keeps the highest; at a tie on the cut, the lower name.
        let top2 = store.cardinality(2);
        assert_eq!(
            stats(&top2.series_count_by_label_value_pair),
            [("job=a", 4), ("__name__=up", 3)]
        );
        let top3 = store.cardinality(3);
        assert_eq!(
            stats(&top3.series_count_by_label_value_pair)[2],
            ("__name__=http_requests_total", 2)
        );
        assert_eq!(
            stats(&top3.label_value_count_by_label_name),
            [("__name__", 3), ("code", 2), ("instance", 2)]
        );
        // Counts are not cut by the limit.
        assert_eq!((top2.num_series, top2.num_label_pairs), (6, 10));

        // Retention removes `temp` (its only sample is older than 1500) and every chunk of the
        // other series that ends before it: the figures follow.
        store.truncate(1_500);
        let after = store.cardinality(10);
        assert_eq!(after.num_series, 5);
        assert_eq!(after.num_label_pairs, 8);
        assert_eq!(after.min_time, 2_000);
        assert_eq!(
            stats(&after.series_count_by_metric_name),
            [("up", 3), ("http_requests_total", 2)]
        );
    }

    #[test]
    fn an_empty_store_reports_prometheus_empty_head() {
        let c = Store::new().cardinality(10);
        assert_eq!(
            c,
            Cardinality {
                num_series: 0,
                num_label_pairs: 0,
                chunk_count: 0,
                min_time: i64::MAX,
                max_time: i64::MIN,
                series_count_by_metric_name: vec![],
                label_value_count_by_label_name: vec![],
                memory_in_bytes_by_label_name: vec![],
                series_count_by_label_value_pair: vec![],
            }
        );
    }

    #[test]
    fn ties_do_not_depend_on_insertion_order() {
        let mut a = Top::new(3);
        let mut b = Top::new(3);
        let names = ["d", "a", "c", "b", "e"];
        for n in names {
            a.offer(1, &[n]);
        }
        for n in names.iter().rev() {
            b.offer(1, &[n]);
        }
        let a = a.into_stats();
        assert_eq!(stats(&a), [("a", 1), ("b", 1), ("c", 1)]);
        assert_eq!(a, b.into_stats());
    }
}
