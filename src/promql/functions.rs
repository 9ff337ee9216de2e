//! Function calls over instant vectors and scalars: math, dates, labels, sorting, `absent`,
//! `scalar`/`vector`/`time`/`timestamp`. Functions over range vectors are dispatched to
//! [`super::range_functions`], histogram functions to [`super::histogram`].

use super::aggregate::valid_label_name;
use super::eval::{exec_err, EvalResult, Evaluator};
use super::nh_functions::floats_only;
use super::value::{finish_labels, Sample, Val};
use crate::store::{anchored_regex, Labels, METRIC_NAME};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{Call, Expr};

/// Strips parentheses.
pub(crate) fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

pub(crate) fn eval_call(ev: &Evaluator, c: &Call, node: &Expr, ts: i64) -> EvalResult<Val> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| &**a).collect();
    if super::range_functions::is_range_function(name) {
        return super::range_functions::eval(ev, name, &args, node, ts);
    }
    match name {
        "time" => Ok(Val::Scalar(ts as f64 / 1000.0)),
        "pi" => Ok(Val::Scalar(std::f64::consts::PI)),
        "start" => Ok(Val::Scalar(ev.start as f64 / 1000.0)),
        "end" => Ok(Val::Scalar(ev.end as f64 / 1000.0)),
        "step" => Ok(Val::Scalar(ev.step as f64 / 1000.0)),
        "range" => Ok(Val::Scalar((ev.end - ev.start) as f64 / 1000.0)),
        "vector" => Ok(Val::Vector(vec![Sample {
            labels: ev.memo.intern(Labels::empty()),
            v: ev.eval_scalar(args[0], ts)?,
            h: None,
            t: ts,
            drop_name: false,
        }])),
        "scalar" => {
            let mut v = ev.eval_vector(args[0], ts)?;
            floats_only(&mut v);
            Ok(Val::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }))
        }
        "max_of" | "min_of" => {
            let a = ev.eval_scalar(args[0], ts)?;
            let b = ev.eval_scalar(args[1], ts)?;
            Ok(Val::Scalar(if name == "max_of" {
                go_max(a, b)
            } else {
                go_min(a, b)
            }))
        }
        "timestamp" => {
            let inner = unwrap_parens(args[0]);
            let mut v = ev.eval_vector(args[0], ts)?;
            let real = matches!(inner, Expr::VectorSelector(_));
            for s in &mut v {
                s.v = if real { s.t } else { ts } as f64 / 1000.0;
                s.h = None;
                s.drop_name = true;
            }
            Ok(Val::Vector(v))
        }
        "absent" => {
            let v = ev.eval_vector(args[0], ts)?;
            if !v.is_empty() {
                return Ok(Val::Vector(Vec::new()));
            }
            Ok(Val::Vector(vec![Sample {
                labels: ev.memo.intern(absent_labels(args[0])),
                v: 1.0,
                h: None,
                t: ts,
                drop_name: false,
            }]))
        }
        "info" => super::info::eval(ev, &args, node, ts),
        "label_replace" => label_replace(ev, &args, ts),
        "label_join" => label_join(ev, &args, ts),
        "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
            if ev.step != 0 {
                ev.annotate(
                    true,
                    "sort is ineffective for range queries since results are always ordered by labels",
                    node,
                );
            }
            let mut v = ev.eval_vector(args[0], ts)?;
            if matches!(name, "sort" | "sort_desc") {
                floats_only(&mut v);
            }
            match name {
                "sort" => v.sort_by(|a, b| cmp_nan_last(a.v, b.v, false)),
                "sort_desc" => v.sort_by(|a, b| cmp_nan_last(a.v, b.v, true)),
                _ => {
                    let mut names = Vec::new();
                    for a in &args[1..] {
                        names.push(eval_string(ev, a, ts)?);
                    }
                    let desc = name == "sort_by_label_desc";
                    v.sort_by(|a, b| {
                        let o = cmp_by_labels(&a.labels, &b.labels, &names);
                        if desc {
                            o.reverse()
                        } else {
                            o
                        }
                    });
                }
            }
            Ok(Val::Vector(v))
        }
        "histogram_quantile" | "histogram_fraction" | "histogram_quantiles" => {
            super::histogram::eval(ev, name, &args, ts)
        }
        _ if super::nh_functions::is_native_histogram_function(name) => {
            super::nh_functions::eval(ev, name, &args, ts)
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let mut v = ev.eval_vector(args[0], ts)?;
            floats_only(&mut v);
            let a = ev.eval_scalar(args[1], ts)?;
            let (lo, hi) = match name {
                "clamp" => (a, ev.eval_scalar(args[2], ts)?),
                "clamp_min" => (a, f64::NAN),
                _ => (f64::NAN, a),
            };
            if name == "clamp" && hi < lo {
                return Ok(Val::Vector(Vec::new()));
            }
            for s in &mut v {
                if name != "clamp_max" {
                    s.v = go_max(lo, s.v);
                }
                if name != "clamp_min" {
                    s.v = go_min(hi, s.v);
                }
                s.drop_name = true;
            }
            Ok(Val::Vector(v))
        }
        "round" => {
            let mut v = ev.eval_vector(args[0], ts)?;
            floats_only(&mut v);
            let to = match args.get(1) {
                Some(a) => ev.eval_scalar(a, ts)?,
                None => 1.0,
            };
            let inv = 1.0 / to;
            for s in &mut v {
                s.v = (s.v * inv + 0.5).floor() / inv;
                s.drop_name = true;
            }
            Ok(Val::Vector(v))
        }
        "minute" | "hour" | "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month"
        | "month" | "year" => {
            let f = |secs: f64| date_part(name, secs);
            match args.first() {
                None => Ok(Val::Vector(vec![Sample {
                    labels: ev.memo.intern(Labels::empty()),
                    v: f((ts.div_euclid(1000)) as f64),
                    h: None,
                    t: ts,
                    drop_name: false,
                }])),
                Some(a) => {
                    let mut v = ev.eval_vector(a, ts)?;
                    floats_only(&mut v);
                    for s in &mut v {
                        s.v = f(s.v);
                        s.drop_name = true;
                    }
                    Ok(Val::Vector(v))
                }
            }
        }
        _ => match math_fn(name) {
            Some(f) => {
                let mut v = ev.eval_vector(args[0], ts)?;
                floats_only(&mut v);
                for s in &mut v {
                    s.v = f(s.v);
                    s.drop_name = true;
                }
                Ok(Val::Vector(v))
            }
            None => exec_err(format!("function {name} is not supported")),
        },
    }
}

/// Go's `math.Max`: NaN wins.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn math_fn(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sqrt" => f64::sqrt,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "sgn" => |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

fn cmp_nan_last(a: f64, b: f64, desc: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ => {
            let o = a.partial_cmp(&b).unwrap_or(Equal);
            if desc {
                o.reverse()
            } else {
                o
            }
        }
    }
}

fn cmp_by_labels(a: &Labels, b: &Labels, names: &[String]) -> std::cmp::Ordering {
    for n in names {
        let x = a.get(n).unwrap_or("");
        let y = b.get(n).unwrap_or("");
        if x == y {
            continue;
        }
        return if natsort_less(x, y) {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Greater
        };
    }
    a.cmp(b)
}

fn chunkify(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut start = 0;
    for i in 1..=b.len() {
        if i == b.len() || b[i].is_ascii_digit() != b[start].is_ascii_digit() {
            if start < i {
                out.push(&s[start..i]);
            }
            start = i;
        }
    }
    out
}

/// `github.com/facette/natsort.Compare`, as `sort_by_label` uses it.
fn natsort_less(a: &str, b: &str) -> bool {
    let ca = chunkify(a);
    let cb = chunkify(b);
    for i in 0..ca.len() {
        if i >= cb.len() {
            return false;
        }
        let ai = ca[i].parse::<i64>();
        let bi = cb[i].parse::<i64>();
        if let (Ok(x), Ok(y)) = (&ai, &bi) {
            if x == y {
                if i == ca.len() - 1 {
                    return true;
                } else if i == cb.len() - 1 {
                    return false;
                }
                continue;
            }
            return x < y;
        }
        if ca[i] == cb[i] {
            if i == ca.len() - 1 {
                return true;
            } else if i == cb.len() - 1 {
                return false;
            }
            continue;
        }
        return ca[i] < cb[i];
    }
    false
}

pub(crate) fn eval_string(ev: &Evaluator, e: &Expr, ts: i64) -> EvalResult<String> {
    match ev.eval(e, ts)? {
        Val::Str(s) => Ok(s),
        other => exec_err(format!("expected string, got {}", other.type_name())),
    }
}

/// The labels `absent`/`absent_over_time` give their output: the selector's `=` matchers,
/// except names matched by `=` more than once.
pub(crate) fn absent_labels(arg: &Expr) -> Labels {
    let vs = match unwrap_parens(arg) {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::empty(),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut dup: Vec<String> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if !matches!(m.op, PMatchOp::Equal) || pairs.iter().any(|(n, _)| *n == m.name) {
            dup.push(m.name.clone());
            continue;
        }
        pairs.push((m.name.clone(), m.value.clone()));
    }
    pairs.retain(|(n, _)| !dup.contains(n));
    Labels::from_pairs(pairs)
}

fn check_no_duplicates(v: &[Sample]) -> EvalResult<()> {
    let mut seen = std::collections::HashSet::new();
    for s in v {
        if !seen.insert(finish_labels(&s.labels, s.drop_name)) {
            return exec_err("vector cannot contain metrics with the same labelset");
        }
    }
    Ok(())
}

fn label_replace(ev: &Evaluator, args: &[&Expr], ts: i64) -> EvalResult<Val> {
    let dst = eval_string(ev, args[1], ts)?;
    let repl = eval_string(ev, args[2], ts)?;
    let src = eval_string(ev, args[3], ts)?;
    let re_s = eval_string(ev, args[4], ts)?;
    let re = anchored_regex(&re_s).map_err(|e| {
        super::QueryError::Execution(format!(
            "invalid regular expression in label_replace(): {re_s}: {e}"
        ))
    })?;
    if !valid_label_name(&dst) || !ev.literal_valid_utf8(unwrap_parens(args[1])) {
        return exec_err(format!(
            "invalid destination label name in label_replace(): {dst}"
        ));
    }
    let mut v = ev.eval_vector(args[0], ts)?;
    for s in &mut v {
        let val = s.labels.get(&src).unwrap_or("").to_string();
        if let Some(caps) = re.captures(&val) {
            let mut out = String::new();
            caps.expand(&repl, &mut out);
            s.labels = ev.memo.intern(s.labels.with(&dst, &out));
            if dst == METRIC_NAME {
                s.drop_name = false;
            }
        }
    }
    check_no_duplicates(&v)?;
    Ok(Val::Vector(v))
}

fn label_join(ev: &Evaluator, args: &[&Expr], ts: i64) -> EvalResult<Val> {
    let dst = eval_string(ev, args[1], ts)?;
    let sep = eval_string(ev, args[2], ts)?;
    let mut srcs = Vec::new();
    for a in &args[3..] {
        srcs.push(eval_string(ev, a, ts)?);
    }
    if !valid_label_name(&dst) || !ev.literal_valid_utf8(unwrap_parens(args[1])) {
        return exec_err(format!(
            "invalid destination label name in label_join(): {dst}"
        ));
    }
    let mut v = ev.eval_vector(args[0], ts)?;
    for s in &mut v {
        let joined: Vec<&str> = srcs.iter().map(|n| s.labels.get(n).unwrap_or("")).collect();
        let val = joined.join(&sep);
        s.labels = ev.memo.intern(s.labels.with(&dst, &val));
        if dst == METRIC_NAME {
            s.drop_name = false;
        }
    }
    check_no_duplicates(&v)?;
    Ok(Val::Vector(v))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn date_part(name: &str, secs: f64) -> f64 {
    if !secs.is_finite() {
        return f64::NAN;
    }
    let s = secs as i64;
    let days = s.div_euclid(86400);
    let sod = s.rem_euclid(86400);
    let (y, m, d) = crate::timefmt::civil_from_days(days);
    let (m, d) = (i64::from(m), i64::from(d));
    let month_days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    match name {
        "minute" => ((sod / 60) % 60) as f64,
        "hour" => (sod / 3600) as f64,
        "day_of_month" => d as f64,
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "day_of_year" => {
            let mut n = d;
            for (i, md) in month_days.iter().enumerate().take((m - 1) as usize) {
                n += md + i64::from(i == 1 && is_leap(y));
            }
            n as f64
        }
        "days_in_month" => (month_days[(m - 1) as usize] + i64::from(m == 2 && is_leap(y))) as f64,
        "month" => m as f64,
        "year" => y as f64,
        _ => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_the_calendar() {
        // 2024-02-29T13:45:00Z
        let t = 1_709_214_300.0;
        assert_eq!(date_part("year", t), 2024.0);
        assert_eq!(date_part("month", t), 2.0);
        assert_eq!(date_part("day_of_month", t), 29.0);
        assert_eq!(date_part("days_in_month", t), 29.0);
        assert_eq!(date_part("day_of_year", t), 60.0);
        assert_eq!(date_part("day_of_week", t), 4.0);
        assert_eq!(date_part("hour", t), 13.0);
        assert_eq!(date_part("minute", t), 45.0);
    }

    #[test]
    fn natural_sort_compares_numbers_numerically() {
        assert!(natsort_less("a2", "a10"));
        assert!(!natsort_less("a10", "a2"));
    }
}
