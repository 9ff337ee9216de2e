//! Duration expressions (Prometheus 3): resolved once per query, before evaluation.
//!
//! The parser keeps a range, subquery range or step, or offset written as an expression
//! (`rate(x[5m + step()])`, `x[1h:step() * 2]`, `x offset -(1h)`) beside the plain field, and
//! `step()`/`range()` standing alone as [`Expr::Duration`]. As Prometheus' engine does before
//! it evaluates (its `durationVisitor`), [`resolve`] computes each with the query's step
//! (`step()`: the step of a range query, 0 for an instant one) and range (`range()`: end minus
//! start, 0 for an instant query) and writes the result into the plain fields, so the
//! evaluator sees ordinary durations. A range or step that comes out at or below zero, or a
//! division by zero, is an execution error with Prometheus' message.

use super::QueryError;
use promql_parser::parser::{DurationExpr, Expr, NumberLiteral, Offset};
use std::time::Duration;

/// The query's `step()` and `range()`.
#[derive(Clone, Copy)]
struct QueryParams {
    step: Duration,
    range: Duration,
}

/// `expr` with every duration expression resolved for a query over `[start, end]` at `step`
/// (milliseconds; `step` is 0 for an instant query), or `None` when it has none (the common
/// case: nothing is copied).
pub(crate) fn resolve(
    expr: &Expr,
    start: i64,
    end: i64,
    step: i64,
) -> Result<Option<Expr>, QueryError> {
    if !has_duration_expr(expr) {
        return Ok(None);
    }
    let p = QueryParams {
        step: Duration::from_millis(step.max(0) as u64),
        range: Duration::from_millis(end.saturating_sub(start).max(0) as u64),
    };
    let mut out = expr.clone();
    resolve_in(&mut out, p)?;
    Ok(Some(out))
}

fn has_duration_expr(expr: &Expr) -> bool {
    match expr {
        Expr::Duration(_) => true,
        Expr::VectorSelector(vs) => vs.offset_expr.is_some(),
        Expr::MatrixSelector(ms) => ms.range_expr.is_some() || ms.vs.offset_expr.is_some(),
        Expr::Subquery(sq) => {
            sq.range_expr.is_some()
                || sq.step_expr.is_some()
                || sq.offset_expr.is_some()
                || has_duration_expr(&sq.expr)
        }
        Expr::Aggregate(a) => {
            a.param.as_deref().is_some_and(has_duration_expr) || has_duration_expr(&a.expr)
        }
        Expr::Unary(u) => has_duration_expr(&u.expr),
        Expr::Binary(b) => has_duration_expr(&b.lhs) || has_duration_expr(&b.rhs),
        Expr::Paren(p) => has_duration_expr(&p.expr),
        Expr::Call(c) => c.args.args.iter().any(|a| has_duration_expr(a)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => false,
    }
}

fn resolve_in(expr: &mut Expr, p: QueryParams) -> Result<(), QueryError> {
    match expr {
        Expr::Duration(d) => {
            let val = d.seconds(p.step, p.range).map_err(QueryError::Execution)?;
            *expr = Expr::NumberLiteral(NumberLiteral::new(val));
        }
        Expr::VectorSelector(vs) => {
            if let Some(e) = vs.offset_expr.take() {
                vs.offset = Some(offset(&e, p)?);
            }
        }
        Expr::MatrixSelector(ms) => {
            if let Some(e) = ms.range_expr.take() {
                ms.range = positive(&e, p)?;
            }
            if let Some(e) = ms.vs.offset_expr.take() {
                ms.vs.offset = Some(offset(&e, p)?);
            }
        }
        Expr::Subquery(sq) => {
            if let Some(e) = sq.range_expr.take() {
                sq.range = positive(&e, p)?;
            }
            if let Some(e) = sq.step_expr.take() {
                sq.step = Some(positive(&e, p)?);
            }
            if let Some(e) = sq.offset_expr.take() {
                sq.offset = Some(offset(&e, p)?);
            }
            resolve_in(&mut sq.expr, p)?;
        }
        Expr::Aggregate(a) => {
            if let Some(param) = a.param.as_deref_mut() {
                resolve_in(param, p)?;
            }
            resolve_in(&mut a.expr, p)?;
        }
        Expr::Unary(u) => resolve_in(&mut u.expr, p)?,
        Expr::Binary(b) => {
            resolve_in(&mut b.lhs, p)?;
            resolve_in(&mut b.rhs, p)?;
        }
        Expr::Paren(e) => resolve_in(&mut e.expr, p)?,
        Expr::Call(c) => {
            for a in c.args.args.iter_mut() {
                resolve_in(a, p)?;
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
    Ok(())
}

/// A range or subquery step: above zero.
fn positive(e: &DurationExpr, p: QueryParams) -> Result<Duration, QueryError> {
    let ms = e
        .millis(p.step, p.range, false)
        .map_err(QueryError::Execution)?;
    Ok(Duration::from_millis(ms as u64))
}

/// An offset: any sign.
fn offset(e: &DurationExpr, p: QueryParams) -> Result<Offset, QueryError> {
    let ms = e
        .millis(p.step, p.range, true)
        .map_err(QueryError::Execution)?;
    let d = Duration::from_millis(ms.unsigned_abs());
    Ok(if ms < 0 {
        Offset::Neg(d)
    } else {
        Offset::Pos(d)
    })
}
