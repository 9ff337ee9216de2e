//! The one clock: where the wall time that samples, rule evaluations and alerts are stamped
//! with comes from. A leaf beside [`crate::timefmt`].
//!
//! Runtime code holds a [`SharedClock`] and reads [`Clock::now`] or [`Clock::now_ms`];
//! production passes [`system`] (the system's wall clock, read on every call, as Prometheus
//! and Alertmanager read `time.Now()`), tests pass a [`TokioClock`], which starts at a chosen
//! time and moves with tokio's clock, so that with paused time
//! (`#[tokio::test(start_paused = true)]`) evaluations and flushes happen at exact, known
//! timestamps.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall time.
pub trait Clock: Send + Sync + 'static {
    /// The time now.
    fn now(&self) -> SystemTime;

    /// Unix milliseconds now.
    fn now_ms(&self) -> i64 {
        crate::timefmt::unix_ms(self.now())
    }
}

/// A clock shared by the tasks of one subsystem.
pub type SharedClock = Arc<dyn Clock>;

/// The system's wall clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Wall time that advances with tokio's clock from a chosen start.
#[derive(Clone, Debug)]
pub struct TokioClock {
    wall: SystemTime,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock that reads `wall` now.
    pub fn starting_at(wall: SystemTime) -> Self {
        TokioClock {
            wall,
            start: tokio::time::Instant::now(),
        }
    }

    /// A clock that reads `ms` Unix milliseconds now (`ms` ≥ 0).
    pub fn starting_at_ms(ms: i64) -> Self {
        Self::starting_at(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
    }

    /// The same clock, shared.
    pub fn shared(self) -> SharedClock {
        Arc::new(self)
    }
}

impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        self.wall + self.start.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_moves_with_paused_time() {
        let c = TokioClock::starting_at_ms(1_000);
        assert_eq!(c.now_ms(), 1_000);
        tokio::time::advance(Duration::from_millis(1_500)).await;
        assert_eq!(c.now_ms(), 2_500);
    }

    #[test]
    fn system_clock_reads_the_wall_clock() {
        let before = crate::timefmt::now_ms();
        let got = system().now_ms();
        let after = crate::timefmt::now_ms();
        assert!(
            before <= got && got <= after,
            "{before} <= {got} <= {after}"
        );
    }
}
