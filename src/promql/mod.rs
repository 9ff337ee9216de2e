//! The PromQL evaluator.
//!
//! Expressions are parsed by the `promql-parser` crate; this module evaluates the AST over any
//! [`Querier`] with the semantics of Prometheus 3.x: a 5 minute lookback that is open on the
//! left, staleness markers that end a series, `offset` and `@`, subqueries aligned to absolute
//! multiples of their step, Kahan summation, upstream's rate extrapolation and its warnings and
//! infos (annotations).
//!
//! [`Engine`] is the entry point: [`Engine::instant_query`] and [`Engine::range_query`] take a
//! query string, the `*_expr` variants an already parsed [`Expr`]. Results are a [`Value`] plus
//! the annotations, or a typed [`QueryError`]. Evaluation steps through the query's timestamps
//! one by one (`eval`); binary operators live in `binary`, aggregations in `aggregate`,
//! functions in `functions`, `range_functions` and `histogram`. Before that, `durations`
//! resolves Prometheus 3 duration expressions (`x[5m + step()]`) for the query's step and
//! range, `extended_range` evaluates the `anchored`/`smoothed` modifiers, `info` the `info()`
//! function, and
//! [`check_features`] (`experimental`) refuses Prometheus' experimental PromQL unless the
//! engine's flags allow it.
//! [`promqltest`] runs upstream's promqltest script files against the engine.
//!
//! [`parse`] is redline's one way from PromQL text to an [`Expr`]: it first checks the text
//! against [`ParseLimits`] (`limits`) so that no accepted query is deep enough to overflow
//! the stack of a thread of [`EVAL_STACK_SIZE`] while it is parsed, evaluated, printed or
//! dropped. Nothing else in redline calls `promql_parser::parser::parse`.

mod aggregate;
mod binary;
mod delta_temporality;
mod durations;
mod eval;
mod experimental;
mod extended_range;
mod functions;
mod hist_stats;
mod histogram;
mod info;
mod limits;
mod memo;
mod nh_aggregate;
mod nh_binary;
mod nh_functions;
mod nh_range;
mod positions;
pub mod promqltest;
mod promqltest_nhcb;
mod promqltest_parse;
mod range_functions;
pub mod series_notation;
pub mod testing;
mod value;

pub use experimental::check_features;
pub use limits::{
    strip_comments, ParseLimits, DEFAULT_MAX_QUERY_LENGTH, EVAL_STACK_SIZE, MAX_QUERY_DEPTH,
};
pub use promql_parser::parser::Expr;
pub use value::{InstantSample, Point, RangeSeries, Value};

use crate::store::Querier;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (Prometheus' `--query.lookback-delta`).
    pub lookback_delta: Duration,
    /// The most samples a query may hold at once (Prometheus' `--query.max-samples`). Also
    /// the most samples the query's selectors may load together (redline keeps every
    /// selected sample for the whole query; Prometheus streams them).
    pub max_samples: usize,
    /// Wall-clock limit for one query; `None` for no limit.
    pub timeout: Option<Duration>,
    /// The step of a subquery written without one (`x[5m:]`): the global evaluation interval.
    pub default_subquery_step: Duration,
    /// How long and how deep the text of a query may be.
    pub parse_limits: ParseLimits,
    /// Set from another thread to stop the query (its client went away); polled where the
    /// deadline is.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Prometheus' `--enable-feature` switches the engine reads: the experimental functions,
    /// operator modifiers and selector modifiers [`check_features`] gates, delayed name
    /// removal, and `type-and-unit-labels` (`rate` and `increase` judge whether a series is a
    /// counter by its `__type__` label instead of its name's suffix; dropping `__type__` and
    /// `__unit__` with the name happens either way, as upstream). All off by default, as
    /// upstream.
    pub features: crate::features::Features,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Some(Duration::from_secs(120)),
            default_subquery_step: Duration::from_secs(60),
            parse_limits: ParseLimits::default(),
            cancel: None,
            features: crate::features::Features::default(),
        }
    }
}

/// A query's result and the annotations it raised, rendered as the API shows them
/// (`PromQL warning: … (line:col)`).
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

/// Why a query failed. The HTTP API maps `Parse` to `bad_data` (400), `Execution` and
/// `TooManySamples` to `execution` (422), `Timeout` to `timeout` and `Canceled` to
/// `canceled` (503).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Parse(String),
    #[error("{0}")]
    Execution(String),
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    #[error("query timed out in query execution")]
    Timeout,
    #[error("query was canceled in query execution")]
    Canceled,
}

impl From<crate::store::SelectError> for QueryError {
    fn from(e: crate::store::SelectError) -> Self {
        use crate::store::SelectError;
        match e {
            SelectError::TooManySamples => QueryError::TooManySamples,
            SelectError::Timeout => QueryError::Timeout,
            SelectError::Canceled => QueryError::Canceled,
        }
    }
}

/// Evaluates PromQL over a [`Querier`].
#[derive(Clone, Debug, Default)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts }
    }

    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Parses `expr` into the AST the `*_expr` methods take, under the default
    /// [`ParseLimits`] (rule files, SLO specs, dashboards).
    pub fn parse(expr: &str) -> Result<Expr, QueryError> {
        parse(expr, &ParseLimits::default())
    }

    /// Evaluates `expr` at `t_ms` (milliseconds since the epoch).
    pub fn instant_query(
        &self,
        q: &dyn Querier,
        expr: &str,
        t_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let ast = parse(expr, &self.opts.parse_limits)?;
        eval::run(&self.opts, q, &ast, expr, t_ms, t_ms, 0)
    }

    /// Evaluates `expr` at every `step_ms` from `start_ms` to `end_ms` inclusive; the result
    /// is always a [`Value::Matrix`].
    pub fn range_query(
        &self,
        q: &dyn Querier,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let ast = parse(expr, &self.opts.parse_limits)?;
        check_range(&ast, start_ms, end_ms, step_ms)?;
        eval::run(&self.opts, q, &ast, expr, start_ms, end_ms, step_ms)
    }

    /// [`Engine::instant_query`] for an already parsed expression.
    pub fn instant_query_expr(
        &self,
        q: &dyn Querier,
        ast: &Expr,
        t_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let text = ast.to_string();
        eval::run(&self.opts, q, ast, &text, t_ms, t_ms, 0)
    }

    /// [`Engine::range_query`] for an already parsed expression.
    pub fn range_query_expr(
        &self,
        q: &dyn Querier,
        ast: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        check_range(ast, start_ms, end_ms, step_ms)?;
        let text = ast.to_string();
        eval::run(&self.opts, q, ast, &text, start_ms, end_ms, step_ms)
    }
}

/// Parses PromQL text into an [`Expr`] once it passes [`ParseLimits`]: the one entry to the
/// `promql-parser` crate.
pub fn parse(text: &str, limits: &ParseLimits) -> Result<Expr, QueryError> {
    limits::check(text, limits)?;
    promql_parser::parser::parse(text).map_err(QueryError::Parse)
}

fn check_range(ast: &Expr, start: i64, end: i64, step: i64) -> Result<(), QueryError> {
    use promql_parser::parser::value::ValueType;
    if step <= 0 {
        return Err(QueryError::Parse(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
                .into(),
        ));
    }
    if end < start {
        return Err(QueryError::Parse(
            "end timestamp must not be before start time".into(),
        ));
    }
    // Upstream's limit on points per series of a range query.
    if (end - start) / step > 11_000 {
        return Err(QueryError::Parse(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
        ));
    }
    match ast.value_type() {
        ValueType::Scalar | ValueType::Vector => Ok(()),
        other => Err(QueryError::Parse(format!(
            "invalid expression type \"{other}\" for range query, must be Scalar or instant Vector"
        ))),
    }
}

/// Parses a series selector such as `up{job="node"}` (as `match[]` parameters are given)
/// into matcher groups: one group, or several for `{a="1" or b="2"}`.
pub fn parse_selector(s: &str) -> Result<Vec<Vec<crate::store::Matcher>>, QueryError> {
    match Engine::parse(s)? {
        Expr::VectorSelector(vs) => eval::matcher_groups(&vs),
        _ => Err(QueryError::Parse(format!(
            "invalid series selector {s:?}: expected a vector selector"
        ))),
    }
}

#[cfg(test)]
mod nh_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod type_unit_tests;
