// Copyright 2026 the redline authors
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//     http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

//! Duration expressions (Prometheus 3, feature `promql-duration-expr`): arithmetic where a
//! range, a subquery range or step, or an offset is written (`rate(x[5m + step()])`,
//! `x[1h:step() * 2]`, `x offset -(1h)`), and `step()`/`range()` on their own.
//!
//! The parser keeps a literal duration in the old fields (`MatrixSelector::range`,
//! `Offset`, ...) and anything else as a [`DurationExpr`] beside them; the engine resolves it
//! once per query with [`DurationExpr::seconds`], knowing the query's step and range.

use std::fmt;
use std::time::Duration;

use crate::util::display_duration;

/// An arithmetic operator in a duration expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl DurationOp {
    fn as_str(self) -> &'static str {
        match self {
            DurationOp::Add => "+",
            DurationOp::Sub => "-",
            DurationOp::Mul => "*",
            DurationOp::Div => "/",
            DurationOp::Mod => "%",
            DurationOp::Pow => "^",
        }
    }
}

/// A duration written as an expression, in seconds once resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum DurationExpr {
    /// A number (seconds) or duration literal (`5m`), as seconds. `is_duration` keeps how it
    /// was written, for printing.
    Literal { secs: f64, is_duration: bool },
    /// `step()`: the step of a range query, 0 for an instant query.
    Step,
    /// `range()`: the end minus the start of a range query, 0 for an instant query.
    Range,
    /// Unary minus.
    Neg(Box<DurationExpr>),
    /// `lhs op rhs`.
    Binary {
        op: DurationOp,
        lhs: Box<DurationExpr>,
        rhs: Box<DurationExpr>,
    },
    /// `min(a, b)`.
    Min(Box<DurationExpr>, Box<DurationExpr>),
    /// `max(a, b)`.
    Max(Box<DurationExpr>, Box<DurationExpr>),
    /// `( … )`.
    Paren(Box<DurationExpr>),
}

/// The largest magnitude, in seconds, a duration may have (Go's `time.Duration` range).
const MAX_SECS: f64 = (1u64 << 63) as f64 / 1e9;

impl DurationExpr {
    /// The value of a literal, `None` for anything else.
    pub fn literal(&self) -> Option<f64> {
        match self {
            DurationExpr::Literal { secs, .. } => Some(*secs),
            _ => None,
        }
    }

    /// Whether the expression refers to the query's `step()` or `range()`.
    pub fn uses_query_parameters(&self) -> bool {
        match self {
            DurationExpr::Literal { .. } => false,
            DurationExpr::Step | DurationExpr::Range => true,
            DurationExpr::Neg(e) | DurationExpr::Paren(e) => e.uses_query_parameters(),
            DurationExpr::Binary { lhs, rhs, .. }
            | DurationExpr::Min(lhs, rhs)
            | DurationExpr::Max(lhs, rhs) => {
                lhs.uses_query_parameters() || rhs.uses_query_parameters()
            }
        }
    }

    /// The value in seconds for a query of step `step` and range `range` (both 0 for an
    /// instant query). Division or modulo by zero is an error, as in Prometheus.
    pub fn seconds(&self, step: Duration, range: Duration) -> Result<f64, String> {
        Ok(match self {
            DurationExpr::Literal { secs, .. } => *secs,
            DurationExpr::Step => step.as_secs_f64(),
            DurationExpr::Range => range.as_secs_f64(),
            DurationExpr::Neg(e) => -e.seconds(step, range)?,
            DurationExpr::Paren(e) => e.seconds(step, range)?,
            DurationExpr::Min(a, b) => a.seconds(step, range)?.min(b.seconds(step, range)?),
            DurationExpr::Max(a, b) => a.seconds(step, range)?.max(b.seconds(step, range)?),
            DurationExpr::Binary { op, lhs, rhs } => {
                let l = lhs.seconds(step, range)?;
                let r = rhs.seconds(step, range)?;
                match op {
                    DurationOp::Add => l + r,
                    DurationOp::Sub => l - r,
                    DurationOp::Mul => l * r,
                    DurationOp::Div if r == 0.0 => return Err("division by zero".into()),
                    DurationOp::Div => l / r,
                    DurationOp::Mod if r == 0.0 => return Err("modulo by zero".into()),
                    // Go's math.Mod: the sign of the dividend, like Rust's `%` on floats.
                    DurationOp::Mod => l % r,
                    DurationOp::Pow => l.powf(r),
                }
            }
        })
    }

    /// [`DurationExpr::seconds`] as a signed number of milliseconds, checked as Prometheus
    /// checks a resolved duration: not above zero is an error unless `allow_negative`
    /// (offsets), beyond Go's `time.Duration` is out of range. Truncated to the millisecond,
    /// as Prometheus does.
    pub fn millis(
        &self,
        step: Duration,
        range: Duration,
        allow_negative: bool,
    ) -> Result<i64, String> {
        let secs = self.seconds(step, range)?;
        if secs.is_nan() || (secs <= 0.0 && !allow_negative) {
            return Err("duration must be greater than 0".into());
        }
        if secs.abs() >= MAX_SECS {
            return Err("duration is out of range".into());
        }
        Ok((secs * 1000.0) as i64)
    }
}

/// Converts a literal number of seconds to a [`Duration`] for the fields that hold one,
/// with upstream's messages for what does not fit.
pub(crate) fn literal_duration(secs: f64) -> Result<Duration, String> {
    if secs.is_nan() || secs.abs() >= MAX_SECS {
        return Err("duration out of range".into());
    }
    Duration::try_from_secs_f64(secs.abs()).map_err(|_| "duration out of range".to_string())
}

impl fmt::Display for DurationExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationExpr::Literal { secs, is_duration } => {
                if *is_duration && *secs > 0.0 {
                    match literal_duration(*secs) {
                        Ok(d) => write!(f, "{}", display_duration(&d)),
                        Err(_) => write!(f, "{secs}"),
                    }
                } else {
                    write!(f, "{secs}")
                }
            }
            DurationExpr::Step => write!(f, "step()"),
            DurationExpr::Range => write!(f, "range()"),
            DurationExpr::Neg(e) => write!(f, "-{e}"),
            DurationExpr::Paren(e) => write!(f, "({e})"),
            DurationExpr::Min(a, b) => write!(f, "min({a}, {b})"),
            DurationExpr::Max(a, b) => write!(f, "max({a}, {b})"),
            DurationExpr::Binary { op, lhs, rhs } => write!(f, "{lhs} {} {rhs}", op.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(secs: f64) -> Box<DurationExpr> {
        Box::new(DurationExpr::Literal {
            secs,
            is_duration: true,
        })
    }

    #[test]
    fn resolves_step_and_range_per_query() {
        // min(2 * step() + 5s, 5m) with a 60 s step: min(125, 300) = 125 s.
        let e = DurationExpr::Min(
            Box::new(DurationExpr::Binary {
                op: DurationOp::Add,
                lhs: Box::new(DurationExpr::Binary {
                    op: DurationOp::Mul,
                    lhs: Box::new(DurationExpr::Literal {
                        secs: 2.0,
                        is_duration: false,
                    }),
                    rhs: Box::new(DurationExpr::Step),
                }),
                rhs: lit(5.0),
            }),
            lit(300.0),
        );
        let step = Duration::from_secs(60);
        assert_eq!(e.seconds(step, Duration::ZERO), Ok(125.0));
        assert_eq!(e.millis(step, Duration::ZERO, false), Ok(125_000));
        // An instant query: step() is 0, so min(5, 300) = 5 s.
        assert_eq!(e.seconds(Duration::ZERO, Duration::ZERO), Ok(5.0));
        let r = DurationExpr::Binary {
            op: DurationOp::Div,
            lhs: Box::new(DurationExpr::Range),
            rhs: lit(2.0),
        };
        assert_eq!(r.seconds(step, Duration::from_secs(3600)), Ok(1800.0));
    }

    #[test]
    fn zero_negative_and_division_by_zero_are_errors() {
        let zero = DurationExpr::Binary {
            op: DurationOp::Sub,
            lhs: lit(60.0),
            rhs: lit(60.0),
        };
        assert_eq!(
            zero.millis(Duration::ZERO, Duration::ZERO, false),
            Err("duration must be greater than 0".to_string())
        );
        let neg = DurationExpr::Neg(lit(3600.0));
        assert_eq!(
            neg.millis(Duration::ZERO, Duration::ZERO, true),
            Ok(-3_600_000)
        );
        let div = DurationExpr::Binary {
            op: DurationOp::Div,
            lhs: lit(60.0),
            rhs: Box::new(DurationExpr::Step),
        };
        assert_eq!(
            div.seconds(Duration::ZERO, Duration::ZERO),
            Err("division by zero".to_string())
        );
        // 4h % 3h = 1h.
        let m = DurationExpr::Binary {
            op: DurationOp::Mod,
            lhs: lit(4.0 * 3600.0),
            rhs: lit(3.0 * 3600.0),
        };
        assert_eq!(m.seconds(Duration::ZERO, Duration::ZERO), Ok(3600.0));
    }

    use crate::parser::{parse, Expr, Offset};

    fn matrix(q: &str) -> crate::parser::MatrixSelector {
        match parse(q) {
            Ok(Expr::MatrixSelector(ms)) => ms,
            other => panic!("{q}: {other:?}"),
        }
    }

    fn err(q: &str) -> String {
        match parse(q) {
            Err(e) => e,
            Ok(e) => panic!("{q} parsed as {e:?}"),
        }
    }

    const NO: Duration = Duration::ZERO;

    #[test]
    fn range_with_step_is_kept_for_the_engine() {
        let ms = match parse("rate(x[5m+step()])") {
            Ok(Expr::Call(c)) => match c.args.args[0].as_ref() {
                Expr::MatrixSelector(ms) => ms.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        let e = ms.range_expr.expect("range kept as an expression");
        // 5m + a 30 s step = 330 s.
        assert_eq!(e.seconds(Duration::from_secs(30), NO), Ok(330.0));
        assert_eq!(e.to_string(), "5m + step()");
    }

    #[test]
    fn arithmetic_follows_operator_precedence() {
        // The examples of Prometheus' feature-flag documentation.
        for (q, secs) in [
            ("x[5m * 2]", 600.0),
            ("x[10m - 1m]", 540.0),
            ("x[(5+2) * 1m]", 420.0),
            ("x[1h / 2]", 1800.0),
            ("x[4h % 3h]", 3600.0),
            ("x[(2 ^ 3) * 1m]", 480.0),
            ("x[1m + 2 * 30s]", 120.0),
            ("x[2 ^ 3 ^ 2]", 512.0),
            ("x[-1m + 2m]", 60.0),
            ("x[max(step(), 5s)]", 5.0),
            ("x[min(2 * step() + 5s, 5m)]", 5.0),
        ] {
            let e = matrix(q).range_expr.expect(q);
            assert_eq!(e.seconds(NO, NO), Ok(secs), "{q}");
        }
        // A literal range stays a plain range.
        let ms = matrix("x[5m]");
        assert_eq!((ms.range, ms.range_expr), (Duration::from_secs(300), None));
    }

    #[test]
    fn subquery_range_and_step_expressions() {
        match parse("x[1h:step()*2]") {
            Ok(Expr::Subquery(sq)) => {
                assert_eq!(sq.range, Duration::from_secs(3600));
                assert_eq!(sq.range_expr, None);
                assert_eq!(sq.step, None);
                let step = sq.step_expr.expect("step kept as an expression");
                assert_eq!(step.seconds(Duration::from_secs(15), NO), Ok(30.0));
            }
            other => panic!("{other:?}"),
        }
        match parse("x[range():] offset (2m*2)") {
            Ok(Expr::Subquery(sq)) => {
                let r = sq.range_expr.expect("range expression");
                assert_eq!(r.seconds(NO, Duration::from_secs(7200)), Ok(7200.0));
                let o = sq.offset_expr.expect("offset expression");
                assert_eq!(o.millis(NO, NO, true), Ok(240_000));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn offsets() {
        match parse("x offset -(1h)") {
            Ok(Expr::VectorSelector(vs)) => {
                let o = vs.offset_expr.expect("offset expression");
                assert_eq!(o.millis(NO, NO, true), Ok(-3_600_000));
            }
            other => panic!("{other:?}"),
        }
        // A signed literal is a plain offset, as before.
        match parse("x offset -5m") {
            Ok(Expr::VectorSelector(vs)) => {
                assert_eq!(vs.offset, Some(Offset::Neg(Duration::from_secs(300))));
                assert_eq!(vs.offset_expr, None);
            }
            other => panic!("{other:?}"),
        }
        // Without parentheses only the first value is the offset, as upstream documents:
        // `x offset 1m + 1m` is `(x offset 1m) + 1m`, `x offset -2 ^ 2` is `(x offset -2) ^ 2`.
        for q in ["x offset 1m + 1m", "x offset -2 ^ 2"] {
            match parse(q) {
                Ok(Expr::Binary(b)) => assert!(
                    matches!(b.lhs.as_ref(), Expr::VectorSelector(vs) if vs.offset.is_some()),
                    "{q}: {b:?}"
                ),
                other => panic!("{q}: {other:?}"),
            }
        }
        match parse("x[5m] offset -step()") {
            Ok(Expr::MatrixSelector(ms)) => {
                let o = ms.vs.offset_expr.expect("offset expression");
                assert_eq!(o.millis(Duration::from_secs(60), NO, true), Ok(-60_000));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            err("x offset step() offset 1m"),
            "offset may not be set multiple times"
        );
    }

    #[test]
    fn step_and_range_stand_alone_and_stay_names_elsewhere() {
        assert_eq!(parse("step()"), Ok(Expr::Duration(DurationExpr::Step)));
        assert_eq!(parse("range()"), Ok(Expr::Duration(DurationExpr::Range)));
        // Not followed by `(`, they are metric and label names as before.
        assert!(
            matches!(parse("step"), Ok(Expr::VectorSelector(vs)) if vs.name.as_deref() == Some("step"))
        );
        assert_eq!(
            parse("sum by (step, range) (range)").map(|e| e.to_string()),
            Ok("sum by (step, range) (range)".to_string())
        );
    }

    #[test]
    fn anchored_and_smoothed() {
        let ms = matrix("x[5m] anchored");
        assert!(ms.vs.anchored && !ms.vs.smoothed);
        let ms = matrix("x[5m] offset 1m smoothed");
        assert!(ms.vs.smoothed && ms.vs.offset.is_some());
        assert!(matches!(parse("x smoothed"), Ok(Expr::VectorSelector(vs)) if vs.smoothed));
        assert_eq!(
            parse("rate(x[5m] anchored)").map(|e| e.to_string()),
            Ok("rate(x[5m] anchored)".to_string())
        );
    }

    #[test]
    fn misuse_gets_upstreams_messages() {
        for (q, msg) in [
            ("x[5m/0]", "division by zero"),
            ("x[5m%0]", "modulo by zero"),
            ("x[-5m]", "duration must be greater than 0"),
            ("x[1h:0s]", "duration must be greater than 0"),
            (
                "x[5m:1m] anchored",
                "anchored modifier is not supported for subqueries",
            ),
            (
                "x[5m:1m] smoothed",
                "smoothed modifier is not supported for subqueries",
            ),
            (
                "x anchored smoothed",
                "anchored and smoothed modifiers cannot be used together",
            ),
            ("sum(x) anchored", "anchored modifier not implemented"),
            ("x[foo]", "unexpected identifier inside brackets: 'foo'"),
        ] {
            assert_eq!(err(q), msg, "{q}");
        }
    }

    #[test]
    fn zero_duration_literal_inside_an_expression() {
        // Only the value of a duration expression must be positive: 30m + 0s is 30m.
        let ms = matrix("x[30m + 0s]");
        let range = ms
            .range_expr
            .as_ref()
            .map(|e| e.seconds(Duration::ZERO, Duration::ZERO));
        assert_eq!(range, Some(Ok(1800.0)));
        // A zero literal is a number like any other outside selectors.
        assert_eq!(
            parse("1 + 0s").map(|e| e.to_string()),
            Ok("1 + 0".to_string())
        );
        // A range or subquery step that is a lone zero literal is still refused.
        assert_eq!(err("x[0s]"), "duration must be greater than 0");
        assert_eq!(err("x[5m:0m]"), "duration must be greater than 0");
    }

    #[test]
    fn printing_reads_back_the_same() {
        for q in [
            "rate(x[5m + step()])",
            "x[1h:step() * 2] offset (1m * 2)",
            "x offset -(1h)",
            "x[min(step() + 1, 1h)] anchored",
            "x[max(range() / 10, 1m):]",
        ] {
            let printed = parse(q).map(|e| e.to_string());
            assert_eq!(printed.as_deref(), Ok(q), "{q}");
        }
    }
}
