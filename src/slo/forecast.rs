//! The budget-exhaustion forecast: at the burn rate of a recent lookback window, when does
//! the remaining error budget run out? The alert [`EXHAUSTION_ALERT`] fires when that is
//! within a configured horizon, before the budget is spent (once it is, `SLOBudgetExhausted`
//! takes over).
//!
//! Configured per SLO as `alerting.forecast: {within: 3d, lookback: 6h}`; without it no
//! forecast is made. `lookback` defaults to 6h (the slow page window: long enough that a
//! short spike does not predict exhaustion, short enough to follow a change of trend).
//!
//! The forecast is linear, as [`figures::time_to_exhaustion`]: at burn rate b a whole budget
//! lasts `period / b`, so the remaining share r lasts `r × period / b`.

use super::engine::SloFigures;
use super::figures::{self, Counts, ErrorBudget};
use super::ledger::Ledger;
use super::spec::{check_duration, window_name};
use super::Diag;
use crate::timefmt::format_duration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The name of the budget-exhaustion forecast alert.
pub const EXHAUSTION_ALERT: &str = "SLOErrorBudgetExhaustion";

/// The lookback when the spec names none.
pub const DEFAULT_LOOKBACK: Duration = Duration::from_secs(6 * 3600);

/// A typed forecast setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// Fire when the budget runs out within this horizon.
    pub within: Duration,
    /// The window whose burn rate is extrapolated.
    pub lookback: Duration,
}

/// `alerting.forecast` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForecastInput {
    pub within: String,
    #[serde(default)]
    pub lookback: Option<String>,
}

/// Builds the typed forecast; `field` is the path of the forecast section, `period` the
/// SLO's period (a lookback longer than it is an error: the ledger keeps one period).
pub(crate) fn build_forecast(
    d: &mut Diag,
    field: &str,
    period: Duration,
    input: ForecastInput,
) -> Option<Forecast> {
    let within = check_duration(d, &format!("{field}.within"), &input.within);
    let lookback = match &input.lookback {
        Some(s) => check_duration(d, &format!("{field}.lookback"), s)?,
        None => DEFAULT_LOOKBACK,
    };
    if lookback > period {
        d.err(
            format!("{field}.lookback"),
            format!(
                "lookback {} is longer than the SLO period {}",
                window_name(lookback),
                window_name(period)
            ),
        );
        return None;
    }
    Some(Forecast {
        within: within?,
        lookback,
    })
}

/// The forecast of one round, as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExhaustionForecast {
    pub lookback: String,
    pub within_seconds: f64,
    /// Burn rate over the lookback.
    pub burn_rate: f64,
    /// Seconds until the remaining budget is spent at that rate; `null` when nothing burns.
    pub seconds: Option<f64>,
    /// When the budget runs out (ms since the epoch); `null` when nothing burns.
    pub at_ms: Option<i64>,
    /// The forecast alert fires.
    pub firing: bool,
}

/// The forecast for a ledger whose first incomplete step is `to` (at `to_ms`), with steps of
/// one minute of nominal time. `window` holds the period's events and `budget` its budget.
pub fn forecast(
    f: &Forecast,
    ledger: &Ledger,
    to: i64,
    to_ms: i64,
    window: Counts,
    budget: &ErrorBudget,
    period_secs: f64,
) -> ExhaustionForecast {
    let steps = (f.lookback.as_secs() as i64 / 60).max(1);
    let remaining_ratio = budget.remaining_ratio;
    let burn = figures::burn_rate(ledger.sum(to - steps, to), budget.ratio);
    let seconds = figures::time_to_exhaustion(remaining_ratio, burn, period_secs);
    let within = f.within.as_secs_f64();
    ExhaustionForecast {
        lookback: window_name(f.lookback),
        within_seconds: within,
        burn_rate: burn,
        seconds,
        at_ms: seconds.map(|s| to_ms.saturating_add((s * 1000.0).round() as i64)),
        firing: window.total > 0.0 && remaining_ratio > 0.0 && seconds.is_some_and(|s| s <= within),
    }
}

/// `2026-12-10T19:00:00Z` for ms since the epoch.
pub fn rfc3339_ms(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    crate::timefmt::rfc3339_nanos(t)
}

/// The description annotation of a firing forecast alert.
pub fn description(f: &SloFigures, fc: &ExhaustionForecast) -> String {
    format!(
        "At the burn rate of the last {} ({:.2}), the {:.1} % of the budget left (objective {} % over {}) runs out in {}, within the {} horizon.",
        fc.lookback,
        fc.burn_rate,
        f.error_budget.remaining_ratio * 100.0,
        f.objective,
        f.window,
        fc.seconds
            .map_or_else(String::new, |s| format_duration(Duration::from_secs_f64(s.max(0.0)))),
        format_duration(Duration::from_secs_f64(fc.within_seconds)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const DAY: i64 = 1440;
    /// 30 days in seconds.
    const P: f64 = 2_592_000.0;

    /// A ledger of a 30-day SLO holding `per_min` events each minute of `[from, to)`.
    fn ledger(ranges: &[(i64, i64, Counts)]) -> Ledger {
        let mut l = Ledger::new(3 * DAY, 30 * DAY);
        for &(from, to, c) in ranges {
            for s in from..to {
                l.record(s, c);
            }
        }
        l
    }

    fn fc(within_h: u64, lookback_h: u64) -> Forecast {
        Forecast {
            within: Duration::from_secs(within_h * 3600),
            lookback: Duration::from_secs(lookback_h * 3600),
        }
    }

    #[test]
    fn forecast_by_hand() {
        // 99.9 % over 30 days. 29 days at 1000 events/min, no errors; then 1 day at
        // 1000/min with 5 bad/min.
        // Window: 30 × 1440 × 1000 = 43,200,000 events → budget 43,200 bad events; spent
        // 1440 × 5 = 7,200 → remaining ratio 1 − 7200/43200 = 5/6.
        // Lookback 6h: error ratio 5/1000 = 0.005 = burn 5.
        // Time to exhaustion: 5/6 × 2,592,000 s / 5 = 432,000 s = 5 days.
        let to = 30 * DAY;
        let l = ledger(&[
            (0, 29 * DAY, Counts::new(0.0, 1000.0)),
            (29 * DAY, to, Counts::new(5.0, 1000.0)),
        ]);
        let window = l.sum(0, to);
        assert_eq!(window, Counts::new(7200.0, 43_200_000.0));
        let b = figures::error_budget(window, 0.001, 2_592_000.0);
        assert!((b.remaining_ratio - 5.0 / 6.0).abs() < 1e-12);
        let b = &b;
        let to_ms = to * 60_000;
        // Within 3 days: 5 days is too far, no alert.
        let f = forecast(&fc(72, 6), &l, to, to_ms, window, b, P);
        assert!((f.burn_rate - 5.0).abs() < 1e-9);
        let s = f.seconds.unwrap();
        assert!((s - 432_000.0).abs() < 1e-6);
        assert_eq!(f.at_ms, Some(to_ms + 432_000_000));
        assert!(!f.firing);
        // Within 7 days: fires.
        let f = forecast(&fc(168, 6), &l, to, to_ms, window, b, P);
        assert!(f.firing);
    }

    #[test]
    fn lookback_decides_the_rate() {
        // 30 days at 1000/min clean, except the last hour at 20 bad/min (burn 20).
        // Spent: 60 × 20 = 1200 of 43,200 → remaining 1 − 1/36 = 35/36.
        // Lookback 1h: burn 20 → 35/36 × 2,592,000 / 20 = 126,000 s = 35h → fires within 2d.
        // Lookback 6h: error ratio 1200 / 360,000 = 1/300 → burn 10/3 →
        // 35/36 × 2,592,000 × 3/10 = 756,000 s = 8.75 days → holds.
        let to = 30 * DAY;
        let l = ledger(&[
            (0, to - 60, Counts::new(0.0, 1000.0)),
            (to - 60, to, Counts::new(20.0, 1000.0)),
        ]);
        let window = l.sum(0, to);
        let b = &figures::error_budget(window, 0.001, 2_592_000.0);
        assert!((b.remaining_ratio - 35.0 / 36.0).abs() < 1e-12);
        let short = forecast(&fc(48, 1), &l, to, 0, window, b, P);
        assert!((short.seconds.unwrap() - 126_000.0).abs() < 1e-6);
        assert!(short.firing);
        let long = forecast(&fc(48, 6), &l, to, 0, window, b, P);
        assert!((long.burn_rate - 10.0 / 3.0).abs() < 1e-9);
        assert!((long.seconds.unwrap() - 756_000.0).abs() < 1e-6);
        assert!(!long.firing);
    }

    #[test]
    fn no_burn_no_traffic_and_spent_budget_hold_it() {
        let to = 2 * DAY;
        let clean = ledger(&[(0, to, Counts::new(0.0, 100.0))]);
        let w = clean.sum(0, to);
        let f = forecast(
            &fc(72, 6),
            &clean,
            to,
            0,
            w,
            &figures::error_budget(w, 0.001, P),
            P,
        );
        assert_eq!((f.seconds, f.at_ms, f.firing), (None, None, false));
        let empty = ledger(&[]);
        let w = Counts::default();
        let f = forecast(
            &fc(72, 6),
            &empty,
            to,
            0,
            w,
            &figures::error_budget(w, 0.001, P),
            P,
        );
        assert!(!f.firing);
        // 1 % errors against a 0.1 % budget: spent 10 times over (remaining −9); the
        // exhausted alert fires instead.
        let bad = ledger(&[(0, to, Counts::new(1.0, 100.0))]);
        let w = bad.sum(0, to);
        let b = figures::error_budget(w, 0.001, P);
        assert!((b.remaining_ratio + 9.0).abs() < 1e-9);
        let f = forecast(&fc(72, 6), &bad, to, 0, w, &b, P);
        assert_eq!(f.seconds, Some(0.0));
        assert!(!f.firing);
    }

    #[test]
    fn build_checks_fields() {
        let mut d = Diag::new(Path::new("x.yaml"));
        let period = Duration::from_secs(30 * 86_400);
        let f = build_forecast(
            &mut d,
            "alerting.forecast",
            period,
            ForecastInput {
                within: "3d".into(),
                lookback: None,
            },
        );
        assert_eq!(
            f,
            Some(Forecast {
                within: Duration::from_secs(3 * 86_400),
                lookback: DEFAULT_LOOKBACK
            })
        );
        let f = build_forecast(
            &mut d,
            "alerting.forecast",
            period,
            ForecastInput {
                within: "0s".into(),
                lookback: Some("31d".into()),
            },
        );
        assert_eq!(f, None);
        let fields: Vec<_> = d.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["alerting.forecast.within", "alerting.forecast.lookback"]
        );
    }
}
