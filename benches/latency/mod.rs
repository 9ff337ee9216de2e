//! Bench data: realistic request-latency native histograms, shared by the parse, store and
//! PromQL benches.
//!
//! Each series is what a client library with `NativeHistogramBucketFactor = 1.1` (schema 3,
//! bucket bounds `2^(i/8)` seconds) exposes for an HTTP handler: observations between about
//! 4 ms and 120 ms, so 32 populated buckets in two spans (indexes -64..=-47 and -44..=-31,
//! two empty buckets between them), a small zero bucket, no negative buckets. Every scrape
//! adds 0..=3 observations to each bucket (a counter histogram that never resets), as the
//! unit test `a_realistic_latency_histogram_costs_a_few_bits_per_bucket` does. Series differ
//! in their starting counts so no two are identical.
#![allow(dead_code)]

use redline::histogram::{CounterResetHint, FloatHistogram, Span};

/// Schema 3: bucket `i` covers `(2^((i-1)/8), 2^(i/8)]`.
pub const SCHEMA: i32 = 3;
/// The zero bucket's half-width (client_golang's default, 2^-128).
pub const ZERO_THRESHOLD: f64 = 2.938735877055719e-39;
/// The two spans: (offset, length), the first offset an absolute bucket index.
pub const SPANS: [(i32, u32); 2] = [(-64, 18), (2, 14)];
/// Populated buckets per histogram.
pub const BUCKETS: usize = 32;

/// A small deterministic generator (xorshift64*), so every run builds the same data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The absolute bucket indexes of [`SPANS`], in order.
pub fn bucket_indexes() -> Vec<i32> {
    let mut out = Vec::with_capacity(BUCKETS);
    let mut i = 0;
    for (k, (offset, length)) in SPANS.iter().enumerate() {
        i = if k == 0 { *offset } else { i + offset };
        for _ in 0..*length {
            out.push(i);
            i += 1;
        }
    }
    out
}

/// The upper bound of bucket `i` at [`SCHEMA`].
pub fn upper_bound(i: i32) -> f64 {
    2f64.powf(f64::from(i) / 8.0)
}

/// The latency histogram of one series before its first scrape: a bell of counts around
/// 25 ms, shifted by the series number.
pub fn initial(series: usize) -> FloatHistogram {
    let mut buckets = Vec::with_capacity(BUCKETS);
    for b in 0..BUCKETS {
        let d = b as f64 - 14.0 - (series % 5) as f64;
        buckets.push((400.0 * (-d * d / 40.0).exp()).round() + (series % 3) as f64);
    }
    let mut h = FloatHistogram {
        counter_reset_hint: CounterResetHint::NotCounterReset,
        schema: SCHEMA,
        zero_threshold: ZERO_THRESHOLD,
        zero_count: (series % 2) as f64,
        positive_spans: SPANS
            .iter()
            .map(|&(offset, length)| Span { offset, length })
            .collect(),
        positive_buckets: buckets,
        ..FloatHistogram::default()
    };
    h.count = h.zero_count + h.positive_buckets.iter().sum::<f64>();
    h.sum = h.count * 0.025;
    h
}

/// One scrape interval later: 0..=3 more observations in every bucket, the sum grown by
/// each new observation at its bucket's upper bound.
pub fn advance(h: &mut FloatHistogram, rng: &mut Rng) {
    let bounds = bucket_indexes();
    let mut added = 0.0;
    for (b, count) in h.positive_buckets.iter_mut().enumerate() {
        let n = (rng.next() % 4) as f64;
        *count += n;
        added += n;
        h.sum += n * upper_bound(bounds[b]);
    }
    h.count += added;
}
