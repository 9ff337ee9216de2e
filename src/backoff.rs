//! The one retry timing: exponential backoff from an initial wait, doubling per failed
//! attempt, capped. A leaf.
//!
//! Remote write retries as Prometheus' queue manager does ([`Backoff::delay`]: `min_backoff`
//! doubling to `max_backoff`, no jitter); notification delivery retries as Alertmanager's
//! notifier does ([`Backoff::jittered`]: the same curve scaled by a random factor, so retries
//! of many aggregation groups do not align).

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Retry timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Wait after the first failed attempt. Default 1s.
    pub initial: Duration,
    /// The longest wait between attempts. Default 5m.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The wait after the `attempt`-th failure (1-based): `initial` doubled per earlier
    /// failure, at most `max`.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max)
    }

    /// [`Backoff::delay`] scaled by a random factor in [0.5, 1.0).
    pub fn jittered(&self, attempt: u32) -> Duration {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(attempt);
        let frac = (h.finish() % 1000) as f64 / 2000.0 + 0.5;
        self.delay(attempt).mul_f64(frac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_and_is_capped() {
        let b = Backoff {
            initial: Duration::from_millis(30),
            max: Duration::from_secs(5),
        };
        let got: Vec<u128> = (1..=10).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(got, [30, 60, 120, 240, 480, 960, 1920, 3840, 5000, 5000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn jittered_stays_within_half_and_whole_of_the_delay() {
        let b = Backoff::default();
        for (attempt, lo, hi) in [(1, 500, 1_000), (4, 4_000, 8_000), (30, 150_000, 300_000)] {
            let w = b.jittered(attempt);
            assert!(
                w >= Duration::from_millis(lo) && w < Duration::from_millis(hi),
                "attempt {attempt}: {w:?}"
            );
        }
    }
}
