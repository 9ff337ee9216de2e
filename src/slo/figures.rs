//! SLO figures as pure functions over ledger sums: attainment, error budget, burn rate,
//! time to exhaustion and the budget burn-down.
//!
//! Every figure is computed from [`Counts`] (bad and total events summed over a window of the
//! ledger), so windows are traffic-weighted and exact. Zero traffic never gives NaN: a window
//! without events has attainment 1, burns at 0 and consumes no budget.

/// Bad and total events (or time slices) summed over some steps of the ledger.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counts {
    pub bad: f64,
    pub total: f64,
}

impl Counts {
    pub fn new(bad: f64, total: f64) -> Counts {
        Counts { bad, total }
    }

    /// Good events: total − bad.
    pub fn good(self) -> f64 {
        self.total - self.bad
    }

    pub fn add(&mut self, o: Counts) {
        self.bad += o.bad;
        self.total += o.total;
    }
}

impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(self, o: Counts) -> Counts {
        Counts::new(self.bad + o.bad, self.total + o.total)
    }
}

/// Share of good events; 1 when there were no events.
pub fn attainment(c: Counts) -> f64 {
    if c.total > 0.0 {
        (c.good() / c.total).clamp(0.0, 1.0)
    } else {
        1.0
    }
}

/// Share of bad events; 0 when there were no events.
pub fn error_ratio(c: Counts) -> f64 {
    if c.total > 0.0 {
        (c.bad / c.total).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// How many times faster than allowed the budget burns: error ratio / error budget
/// (`error_budget` as a ratio, e.g. 0.001 for 99.9 %). 0 without events.
pub fn burn_rate(c: Counts, error_budget: f64) -> f64 {
    if error_budget > 0.0 {
        error_ratio(c) / error_budget
    } else {
        0.0
    }
}

/// The error budget of a window, in events, as a ratio and in time; serialized as the API
/// shows it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ErrorBudget {
    /// Error budget as a ratio of events (0.001 for 99.9 %).
    pub ratio: f64,
    /// Bad events the window may have: error budget × total events.
    pub total_events: f64,
    pub consumed_events: f64,
    /// Negative once overspent.
    pub remaining_events: f64,
    /// Consumed share of the budget (may exceed 1); 0 without events.
    pub consumed_ratio: f64,
    /// 1 − consumed (negative once overspent).
    pub remaining_ratio: f64,
    /// The budget as time: error budget × window length ("43m12s of full outage in 30d at
    /// 99.9 %"); consumed and remaining time are the budget ratios of it.
    pub total_seconds: f64,
    pub consumed_seconds: f64,
    pub remaining_seconds: f64,
}

/// The error budget over a window holding `c` events and lasting `window_seconds`.
pub fn error_budget(c: Counts, error_budget: f64, window_seconds: f64) -> ErrorBudget {
    let total_events = error_budget * c.total;
    let consumed_ratio = if total_events > 0.0 {
        c.bad / total_events
    } else {
        0.0
    };
    let total_seconds = error_budget * window_seconds;
    ErrorBudget {
        ratio: error_budget,
        total_events,
        consumed_events: c.bad,
        remaining_events: total_events - c.bad,
        consumed_ratio,
        remaining_ratio: 1.0 - consumed_ratio,
        total_seconds,
        consumed_seconds: consumed_ratio * total_seconds,
        remaining_seconds: (1.0 - consumed_ratio) * total_seconds,
    }
}

/// Seconds until the remaining budget is spent at burn rate `burn`: at burn rate b a whole
/// budget lasts `period / b`, so what remains lasts `remaining × period / b`. `None` when
/// nothing burns; 0 once the budget is spent.
pub fn time_to_exhaustion(remaining_ratio: f64, burn: f64, period_seconds: f64) -> Option<f64> {
    if remaining_ratio <= 0.0 {
        return Some(0.0);
    }
    if burn > 0.0 && burn.is_finite() {
        Some(remaining_ratio * period_seconds / burn)
    } else {
        None
    }
}

/// The budget burn-down over a window: after each point (its timestamp and the events of
/// the stretch it closes, oldest first), the share of the window's budget still left,
/// where the budget is that of the whole window (`window` events), so the line falls from 1
/// to today's remaining ratio.
pub fn burn_down(points: &[(i64, Counts)], error_budget: f64, window: Counts) -> Vec<(i64, f64)> {
    let budget = error_budget * window.total;
    let mut bad = 0.0;
    points
        .iter()
        .map(|(t, c)| {
            bad += c.bad;
            let left = if budget > 0.0 {
                1.0 - bad / budget
            } else {
                1.0
            };
            (*t, left)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_traffic_consumes_nothing_and_is_never_nan() {
        let c = Counts::default();
        assert_eq!(attainment(c), 1.0);
        assert_eq!(burn_rate(c, 0.001), 0.0);
        let b = error_budget(c, 0.001, 30.0 * 86_400.0);
        assert_eq!(b.consumed_ratio, 0.0);
        assert_eq!(b.remaining_ratio, 1.0);
        assert_eq!(b.total_seconds, 2592.0);
        assert_eq!(b.remaining_seconds, 2592.0);
        assert_eq!(time_to_exhaustion(1.0, 0.0, 2_592_000.0), None);
    }

    #[test]
    fn budget_by_hand() {
        // 30 days at 99.9 %: 1,000,000 requests, 400 failed → budget 1000, 40 % spent.
        let c = Counts::new(400.0, 1_000_000.0);
        assert!((attainment(c) - 0.9996).abs() < 1e-12);
        let b = error_budget(c, 0.001, 2_592_000.0);
        assert!((b.total_events - 1000.0).abs() < 1e-9);
        assert_eq!(b.consumed_events, 400.0);
        assert!((b.remaining_events - 600.0).abs() < 1e-9);
        assert!((b.consumed_ratio - 0.4).abs() < 1e-12);
        assert!((b.remaining_ratio - 0.6).abs() < 1e-12);
        // 0.001 × 30d = 2592 s; 40 % of it.
        assert!((b.consumed_seconds - 1036.8).abs() < 1e-9);
        assert!((b.remaining_seconds - 1555.2).abs() < 1e-9);
    }

    #[test]
    fn burn_rate_and_exhaustion_by_hand() {
        // 1h: 12,000 requests, 172.8 bad = 1.44 % errors = 14.4 × a 0.1 % budget.
        let c = Counts::new(172.8, 12_000.0);
        assert!((burn_rate(c, 0.001) - 14.4).abs() < 1e-9);
        // 60 % left of a 30d budget at 14.4x: 0.6 × 30d / 14.4 = 1.25 days.
        let t = time_to_exhaustion(0.6, 14.4, 2_592_000.0).unwrap();
        assert!((t - 108_000.0).abs() < 1e-6);
        assert_eq!(time_to_exhaustion(-0.1, 1.0, 2_592_000.0), Some(0.0));
    }

    #[test]
    fn overspent_budget_goes_negative() {
        let b = error_budget(Counts::new(30.0, 10_000.0), 0.001, 60.0);
        assert!((b.consumed_ratio - 3.0).abs() < 1e-12);
        assert!((b.remaining_ratio + 2.0).abs() < 1e-12);
        assert!((b.remaining_events + 20.0).abs() < 1e-9);
    }

    #[test]
    fn burn_down_falls_to_remaining() {
        let pts = [
            (1, Counts::new(0.0, 1000.0)),
            (2, Counts::new(1.0, 1000.0)),
            (3, Counts::new(0.0, 0.0)),
            (4, Counts::new(0.5, 2000.0)),
        ];
        let window = Counts::new(1.5, 4000.0);
        // budget = 0.001 × 4000 = 4 events.
        let d = burn_down(&pts, 0.001, window);
        assert_eq!(d, vec![(1, 1.0), (2, 0.75), (3, 0.75), (4, 0.625)]);
        let last = d.last().unwrap().1;
        assert!((last - error_budget(window, 0.001, 1.0).remaining_ratio).abs() < 1e-12);
    }
}
