//! Prometheus' experimental PromQL and the feature flags that let a query use it.
//!
//! Prometheus 3 parses the functions its function table marks experimental
//! (`sort_by_label`, `double_exponential_smoothing`, `info`, `mad_over_time`,
//! `first_over_time`, the `ts_of_*_over_time` family, …) and the aggregations `limitk` and
//! `limit_ratio` only with `--enable-feature=promql-experimental-functions`, the binary
//! operator modifiers `fill`, `fill_left` and `fill_right` only with
//! `--enable-feature=promql-binop-fill-modifiers`, and the selector modifiers `anchored` and
//! `smoothed` only with `--enable-feature=promql-extended-range-selectors`. Without the flag a
//! query using them is a parse error with upstream's text, at the position upstream reports.
//! [`check_features`] is that gate: the evaluator calls it before running a query, with the
//! engine's [`EngineOptions`](super::EngineOptions) [`Features`]; the
//! promqltest runner turns all of them on, as upstream's does.

use super::QueryError;
use promql_parser::parser::{token, Expr};

use crate::features::{Features, EXPERIMENTAL_FUNCTIONS as EXPERIMENTAL_FUNCTIONS_FLAG};

fn all_parser_features(flags: Features) -> bool {
    flags.experimental_functions && flags.binop_fill_modifiers && flags.extended_range_selectors
}

/// Returns the parse error upstream gives for the first construct in `expr` whose feature is
/// off, or `Ok` when every one used is enabled. `text` is the query the AST was parsed from,
/// for the error's `line:column`.
pub fn check_features(expr: &Expr, text: &str, flags: Features) -> Result<(), QueryError> {
    if all_parser_features(flags) {
        return Ok(());
    }
    let mut found: Option<(&Expr, String)> = None;
    first_disabled(expr, flags, &mut found);
    let Some((node, msg)) = found else {
        return Ok(());
    };
    let pos = super::positions::compute(text, expr)
        .get(&(node as *const Expr as usize))
        .map_or((1, 1), |p| (p.0, p.1));
    Err(QueryError::Parse(format!(
        "{}:{}: parse error: {msg}",
        pos.0, pos.1
    )))
}

/// Upstream's parse error for a selector carrying `anchored` or `smoothed` with the feature
/// off, reported at the selector the modifier follows.
fn range_modifier_disabled(vs: &promql_parser::parser::VectorSelector) -> Option<String> {
    let m = if vs.anchored {
        "anchored"
    } else if vs.smoothed {
        "smoothed"
    } else {
        return None;
    };
    Some(format!("{m} modifier is experimental and not enabled"))
}

/// Walks `e` in source order and records the first node a disabled feature rejects.
fn first_disabled<'e>(e: &'e Expr, flags: Features, found: &mut Option<(&'e Expr, String)>) {
    if found.is_some() {
        return;
    }
    let functions = flags.experimental_functions;
    let fill = flags.binop_fill_modifiers;
    match e {
        Expr::Aggregate(a) => {
            let id = a.op.id();
            if !functions && (id == token::T_LIMITK || id == token::T_LIMIT_RATIO) {
                *found = Some((
                    e,
                    format!(
                        "{}() is experimental and must be enabled with --enable-feature={EXPERIMENTAL_FUNCTIONS_FLAG}",
                        a.op.to_string().to_lowercase()
                    ),
                ));
                return;
            }
            if let Some(p) = &a.param {
                first_disabled(p, flags, found);
            }
            first_disabled(&a.expr, flags, found);
        }
        Expr::Call(c) => {
            if !functions && is_experimental_function(c.func.name) {
                *found = Some((e, format!("function {:?} is not enabled", c.func.name)));
                return;
            }
            for a in &c.args.args {
                first_disabled(a, flags, found);
            }
        }
        Expr::Binary(b) => {
            first_disabled(&b.lhs, flags, found);
            if found.is_some() {
                return;
            }
            let fills = b
                .modifier
                .as_ref()
                .is_some_and(|m| m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some());
            if !fill && fills {
                *found = Some((
                    e,
                    "binop fill modifiers are experimental and not enabled".to_string(),
                ));
                return;
            }
            first_disabled(&b.rhs, flags, found);
        }
        Expr::Unary(u) => first_disabled(&u.expr, flags, found),
        Expr::Paren(p) => first_disabled(&p.expr, flags, found),
        Expr::Subquery(s) => first_disabled(&s.expr, flags, found),
        Expr::VectorSelector(vs) if !flags.extended_range_selectors => {
            *found = range_modifier_disabled(vs).map(|m| (e, m));
        }
        Expr::MatrixSelector(ms) if !flags.extended_range_selectors => {
            *found = range_modifier_disabled(&ms.vs).map(|m| (e, m));
        }
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::Duration(_)
        | Expr::Extension(_) => {}
    }
}

/// The functions upstream's function table (`promql/parser/functions.go`) marks
/// `Experimental`, except `start()`, `end()`, `step()` and `range()`, which belong to the
/// duration expressions (`promql-duration-expr`) that the parser gates, plus the
/// delta-temporality functions ([`super::delta_temporality`]), which no Prometheus release
/// has yet. Kept here rather than read from `promql-parser`'s table, which does not mark
/// `first_over_time`.
fn is_experimental_function(name: &str) -> bool {
    matches!(
        name,
        "direct_delta_increase"
            | "direct_delta_rate"
            | "double_exponential_smoothing"
            | "extrapolated_delta_increase"
            | "extrapolated_delta_rate"
            | "first_over_time"
            | "histogram_quantiles"
            | "info"
            | "integral"
            | "mad_over_time"
            | "sort_by_label"
            | "sort_by_label_desc"
            | "ts_of_first_over_time"
            | "ts_of_last_over_time"
            | "ts_of_max_over_time"
            | "ts_of_min_over_time"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(q: &str, functions: bool, fill: bool) -> Result<(), QueryError> {
        check_with(
            q,
            Features {
                experimental_functions: functions,
                binop_fill_modifiers: fill,
                extended_range_selectors: true,
                ..Features::default()
            },
        )
    }

    fn check_with(q: &str, flags: Features) -> Result<(), QueryError> {
        let e = promql_parser::parser::parse(q).expect("parses");
        check_features(&e, q, flags)
    }

    #[test]
    fn delta_temporality_functions_are_experimental() {
        let q = "direct_delta_rate(m[5m])";
        assert!(parse_err(check(q, false, true)).contains("direct_delta_rate"));
        assert!(check(q, true, true).is_ok());
        let q = "extrapolated_delta_increase(m[5m])";
        assert!(parse_err(check(q, false, true)).contains("extrapolated_delta_increase"));
        assert!(check(q, true, true).is_ok());
    }

    fn parse_err(r: Result<(), QueryError>) -> String {
        match r {
            Err(QueryError::Parse(m)) => m,
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn experimental_functions_need_their_flag() {
        assert_eq!(
            parse_err(check("1 + sort_by_label(up, \"job\")", false, true)),
            "1:5: parse error: function \"sort_by_label\" is not enabled"
        );
        for q in [
            "mad_over_time(up[5m])",
            "first_over_time(up[5m])",
            "ts_of_max_over_time(up[5m])",
            "double_exponential_smoothing(up[5m], 0.5, 0.5)",
            "info(up)",
        ] {
            let m = parse_err(check(q, false, true));
            assert!(m.ends_with("is not enabled"), "{q}: {m}");
            check(q, true, false).expect(q);
        }
        check("rate(up[5m]) + sort(up)", false, false).expect("stable functions");
    }

    #[test]
    fn limitk_and_limit_ratio_need_the_experimental_functions_flag() {
        assert_eq!(
            parse_err(check("sum(limitk(1, up))", false, true)),
            "1:5: parse error: limitk() is experimental and must be enabled with --enable-feature=promql-experimental-functions"
        );
        assert_eq!(
            parse_err(check("limit_ratio(0.5, up)", false, true)),
            "1:1: parse error: limit_ratio() is experimental and must be enabled with --enable-feature=promql-experimental-functions"
        );
        check("topk(1, up)", false, false).expect("topk is stable");
    }

    #[test]
    fn fill_modifiers_need_their_flag() {
        assert_eq!(
            parse_err(check("a + on(x) fill_left(1) b", true, false)),
            "1:1: parse error: binop fill modifiers are experimental and not enabled"
        );
        check("a + on(x) fill(1) b", false, true).expect("fill enabled");
        check("a + on(x) b", false, false).expect("matching without fill is stable");
    }

    /// Upstream's `setAnchored`/`setSmoothed` report at the expression the modifier follows:
    /// `foo[5m]` starts at byte 5 of `rate(foo[5m] smoothed)`, column 6.
    #[test]
    fn anchored_and_smoothed_need_their_flag() {
        let off = Features {
            experimental_functions: true,
            binop_fill_modifiers: true,
            ..Features::default()
        };
        assert_eq!(
            parse_err(check_with("foo anchored", off)),
            "1:1: parse error: anchored modifier is experimental and not enabled"
        );
        assert_eq!(
            parse_err(check_with("rate(foo[5m] smoothed)", off)),
            "1:6: parse error: smoothed modifier is experimental and not enabled"
        );
        check_with("rate(foo[5m])", off).expect("a plain range selector is stable");
        check("rate(foo[5m] anchored)", false, false).expect("enabled");
    }

    #[test]
    fn the_engine_refuses_a_disabled_feature_and_runs_an_enabled_one() {
        use crate::promql::{Engine, EngineOptions, Value};
        use crate::store::Labels;
        let mut q = crate::promql::testing::MemQuerier::new();
        q.append(
            &Labels::from_pairs([("__name__", "up"), ("job", "b")]),
            0,
            1.0,
        );
        q.append(
            &Labels::from_pairs([("__name__", "up"), ("job", "a")]),
            0,
            2.0,
        );
        let query = "sort_by_label(up, \"job\")";
        let off = Engine::new(EngineOptions::default());
        assert_eq!(
            off.instant_query(&q, query, 0),
            Err(QueryError::Parse(
                "1:1: parse error: function \"sort_by_label\" is not enabled".into()
            ))
        );
        let on = Engine::new(EngineOptions {
            features: Features {
                experimental_functions: true,
                ..Features::default()
            },
            ..EngineOptions::default()
        });
        let Value::Vector(v) = on.instant_query(&q, query, 0).expect("enabled").value else {
            panic!("expected a vector");
        };
        let jobs: Vec<_> = v
            .iter()
            .map(|s| s.labels.get("job").unwrap_or(""))
            .collect();
        assert_eq!(jobs, ["a", "b"]);
    }
}
