//! The `anchored` and `smoothed` range-selector modifiers (Prometheus 3,
//! `promql-extended-range-selectors`): parsed, and refused by the engine.
//!
//! redline's evaluator does not implement them yet (upstream evaluates them with extra
//! samples around the range: the last one within the lookback before its start, the first one
//! after its end, and its own `rate`/`increase`/`delta`/`resets`/`changes`). Evaluating such a
//! query as if the modifier were absent would return plausible, wrong numbers, so [`refuse`]
//! turns it into an execution error naming the modifier before anything is selected.

use super::QueryError;
use promql_parser::parser::{Expr, VectorSelector};

/// An execution error for the first selector carrying `anchored` or `smoothed`.
pub(crate) fn refuse(expr: &Expr) -> Result<(), QueryError> {
    match first_modified(expr) {
        None => Ok(()),
        Some(vs) => {
            let m = if vs.anchored { "anchored" } else { "smoothed" };
            Err(QueryError::Execution(format!(
                "the {m} modifier (promql-extended-range-selectors) is not supported by redline"
            )))
        }
    }
}

fn first_modified(expr: &Expr) -> Option<&VectorSelector> {
    let own = |vs: &'_ VectorSelector| (vs.anchored || vs.smoothed).then_some(());
    match expr {
        Expr::VectorSelector(vs) => own(vs).map(|_| vs),
        Expr::MatrixSelector(ms) => own(&ms.vs).map(|_| &ms.vs),
        Expr::Subquery(sq) => first_modified(&sq.expr),
        Expr::Aggregate(a) => a
            .param
            .as_deref()
            .and_then(first_modified)
            .or_else(|| first_modified(&a.expr)),
        Expr::Unary(u) => first_modified(&u.expr),
        Expr::Binary(b) => first_modified(&b.lhs).or_else(|| first_modified(&b.rhs)),
        Expr::Paren(p) => first_modified(&p.expr),
        Expr::Call(c) => c.args.args.iter().find_map(|a| first_modified(a)),
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::Extension(_)
        | Expr::Duration(_) => None,
    }
}
