//! Reading an SLI's events for one ledger step from the store.
//!
//! Counters are read **exactly**, not through PromQL's `increase()`: `increase(x[1m])`
//! extrapolates to the window edges, so summing it minute by minute neither adds up to the
//! counter's real increase nor stays integral. Instead, for every series the reader keeps a
//! cursor (the last counter value seen and its time) and adds up the reset-aware deltas of the
//! raw samples up to each step boundary: `v − prev`, or `v` when the counter went down (a
//! restart of the exporter). A series seen for the first time counts from its first sample,
//! as Prometheus does. Cursors are persisted with each ledger step, so a restart of redline
//! continues them; see [`crate::slo::engine`] for how a gap is then back-filled or marked.
//!
//! Which queries are read that way: a ratio SLI whose queries are sums of `rate(sel[…])` or
//! `increase(sel[…])` over vector selectors (`sum(rate(x{…}[{{.window}}]))`, `sum by (…)`,
//! `a + b`), and every latency SLI (`_bucket{le=…}` against `_count`). Any other query is
//! evaluated with PromQL at the boundary over the step (`rate(…[1m])` × 60: extrapolated, as
//! documented in `rules/slo/README.md`). Availability SLIs count the raw samples of a 0/1
//! gauge as time slices (a sample > 0 is a good slice); Sloth's raw error-ratio query gives one
//! slice per step weighted by the ratio.

use super::figures::Counts;
use super::spec::{RatioEvents, Sli};
use crate::promql::{Engine, Value};
use crate::store::{is_stale_nan, MatchOp, Matcher, Querier};
use promql_parser::parser::Expr;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Series sets (one per `or` alternative or summed term), each a list of matchers.
type Terms = Vec<Vec<Matcher>>;

/// How an SLO's events are read.
#[derive(Clone, Debug)]
pub enum SliSource {
    /// Exact, from counter samples: bad = `bad` terms, or total − `good` terms.
    Counters {
        bad: Option<Terms>,
        good: Option<Terms>,
        total: Terms,
    },
    /// PromQL rates over one step, multiplied by the step (queries already filled in).
    Rates { errors: String, total: String },
    /// Sloth's raw error ratio over one step: one slice weighted by the ratio.
    ErrorRatio { query: String },
    /// Raw samples of a 0/1 gauge as time slices.
    Slices { terms: Terms },
    /// An instant query's samples at the boundary as time slices.
    SlicesQuery { query: String },
    /// Outcomes of redline's own prober, drained every step.
    Probe(Arc<Mutex<Counts>>),
    /// A composite SLO reads nothing itself: the engine derives its steps from its parts'
    /// ledgers ([`super::composite`]).
    Composite,
}

/// Why an SLI cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("SLO {slo}: {message}")]
pub struct SliError {
    pub slo: String,
    pub message: String,
}

fn convert_matcher(m: &promql_parser::label::Matcher) -> Result<Matcher, String> {
    use promql_parser::label::MatchOp as P;
    let op = match m.op {
        P::Equal => MatchOp::Equal,
        P::NotEqual => MatchOp::NotEqual,
        P::Re(_) => MatchOp::Regex,
        P::NotRe(_) => MatchOp::NotRegex,
    };
    Matcher::new(op, m.name.clone(), m.value.clone())
        .map_err(|e| format!("invalid regular expression {:?}: {e}", m.value))
}

fn selector_terms(vs: &promql_parser::parser::VectorSelector) -> Result<Terms, String> {
    let mut base = Vec::new();
    for m in &vs.matchers.matchers {
        base.push(convert_matcher(m)?);
    }
    let with_name = |mut g: Vec<Matcher>| {
        if let Some(n) = &vs.name {
            g.push(Matcher::equal(crate::store::METRIC_NAME, n.clone()));
        }
        g
    };
    if vs.matchers.or_matchers.is_empty() {
        return Ok(vec![with_name(base)]);
    }
    let mut out = Vec::new();
    for alt in &vs.matchers.or_matchers {
        let mut g = base.clone();
        for m in alt {
            g.push(convert_matcher(m)?);
        }
        out.push(with_name(g));
    }
    Ok(out)
}

/// The counter selectors of a sum of `rate`/`increase` calls, or `None` for other shapes.
fn counter_terms(e: &Expr) -> Option<Terms> {
    match e {
        Expr::Paren(p) => counter_terms(&p.expr),
        Expr::Aggregate(a) if a.op.to_string() == "sum" && a.param.is_none() => {
            counter_terms(&a.expr)
        }
        Expr::Binary(b) if b.op.to_string() == "+" && b.modifier.is_none() => {
            let mut l = counter_terms(&b.lhs)?;
            l.extend(counter_terms(&b.rhs)?);
            Some(l)
        }
        Expr::Call(c) if matches!(c.func.name, "rate" | "increase") && c.args.args.len() == 1 => {
            match c.args.args[0].as_ref() {
                Expr::MatrixSelector(ms) if ms.vs.offset.is_none() && ms.vs.at.is_none() => {
                    selector_terms(&ms.vs).ok()
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn parse_terms(query: &str) -> Option<Terms> {
    let q = super::spec::with_window(query, "1m");
    counter_terms(&crate::promql::Engine::parse(&q).ok()?)
}

impl SliSource {
    /// How `sli` is read, with `step` the ledger step as a PromQL duration (`1m`).
    pub fn for_sli(
        slo: &str,
        sli: &Sli,
        step: &str,
        probe: Option<Arc<Mutex<Counts>>>,
    ) -> Result<SliSource, SliError> {
        let err = |message: String| SliError {
            slo: slo.to_string(),
            message,
        };
        Ok(match sli {
            Sli::Ratio { events, total } => {
                let (bad_q, good_q) = match events {
                    RatioEvents::Bad(b) => (Some(b), None),
                    RatioEvents::Good(g) => (None, Some(g)),
                };
                let t = parse_terms(total);
                let b = bad_q.map(|q| parse_terms(q));
                let g = good_q.map(|q| parse_terms(q));
                match (t, b, g) {
                    (Some(total), Some(Some(bad)), None) => SliSource::Counters {
                        bad: Some(bad),
                        good: None,
                        total,
                    },
                    (Some(total), None, Some(Some(good))) => SliSource::Counters {
                        bad: None,
                        good: Some(good),
                        total,
                    },
                    _ => {
                        let q = sli
                            .event_queries(step)
                            .ok_or_else(|| err("the ratio SLI has no event queries".to_string()))?;
                        SliSource::Rates {
                            errors: q.errors,
                            total: q.total,
                        }
                    }
                }
            }
            Sli::Latency(l) if l.native => {
                let q = sli
                    .event_queries(step)
                    .ok_or_else(|| err("the latency SLI has no event queries".to_string()))?;
                SliSource::Rates {
                    errors: q.errors,
                    total: q.total,
                }
            }
            Sli::Latency(l) => {
                let sel = |suffix: &str| -> Result<Vec<Matcher>, SliError> {
                    let q = format!("{}{suffix}{{{}}}", l.metric, l.matchers);
                    match crate::promql::Engine::parse(&q) {
                        Ok(Expr::VectorSelector(vs)) => {
                            selector_terms(&vs).map(|mut t| t.remove(0)).map_err(err)
                        }
                        Ok(_) | Err(_) => Err(err(format!("latency selector {q:?} is not valid"))),
                    }
                };
                let les: Vec<String> = l
                    .threshold
                    .le_values()
                    .iter()
                    .map(|v| regex::escape(v))
                    .collect();
                let mut good = sel("_bucket")?;
                good.push(
                    Matcher::new(MatchOp::Regex, "le", les.join("|"))
                        .map_err(|e| err(format!("le matcher: {e}")))?,
                );
                SliSource::Counters {
                    bad: None,
                    good: Some(vec![good]),
                    total: vec![sel("_count")?],
                }
            }
            Sli::Availability { query } => match crate::promql::Engine::parse(query) {
                Ok(Expr::VectorSelector(vs)) => SliSource::Slices {
                    terms: selector_terms(&vs).map_err(err)?,
                },
                _ => SliSource::SlicesQuery {
                    query: query.clone(),
                },
            },
            Sli::ErrorRatio { query } => SliSource::ErrorRatio {
                query: super::spec::with_window(query, step),
            },
            Sli::Probe(_) => SliSource::Probe(probe.unwrap_or_default()),
            Sli::Composite(_) => SliSource::Composite,
        })
    }

    /// Whether the source reads counters with cursors (so a gap can be back-filled).
    pub fn uses_cursors(&self) -> bool {
        matches!(self, SliSource::Counters { .. })
    }
}

/// The last counter value seen of one series.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    pub v: f64,
    pub t: i64,
}

/// Cursors of one SLO, keyed by role (0 bad/good, 1 total) and series fingerprint.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cursors(pub HashMap<(u8, u64), Cursor>);

impl Cursors {
    /// `[[role, fingerprint, value, t], …]`; fingerprints as strings (JSON numbers lose bits).
    pub fn to_json(&self) -> String {
        let mut rows: Vec<_> = self
            .0
            .iter()
            .map(|((r, fp), c)| (*r, fp.to_string(), c.v, c.t))
            .collect();
        rows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into())
    }

    /// Parses [`Cursors::to_json`]; `None` when the text is not valid.
    pub fn from_json(s: &str) -> Option<Cursors> {
        let rows: Vec<(u8, String, f64, i64)> = serde_json::from_str(s).ok()?;
        let mut m = HashMap::new();
        for (r, fp, v, t) in rows {
            m.insert((r, fp.parse().ok()?), Cursor { v, t });
        }
        Some(Cursors(m))
    }
}

/// What one step's reading found.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reading {
    pub counts: Counts,
    /// Some series of the SLI had a sample in the step (or, for PromQL, a result).
    pub has_data: bool,
    /// A counter was lower than its cursor at its first sample after a gap: the increase
    /// across the gap is unknown.
    pub reset_across_gap: bool,
}

impl Reading {
    /// Slices or probe results counted in `c`: data when there was at least one.
    fn of_counts(c: Counts) -> Reading {
        Reading {
            counts: c,
            has_data: c.total > 0.0,
            reset_across_gap: false,
        }
    }

    /// One time slice per value: bad when the value is 0 or less.
    fn of_slices(values: impl Iterator<Item = f64>) -> Reading {
        let mut c = Counts::default();
        for v in values {
            c.total += 1.0;
            if v <= 0.0 {
                c.bad += 1.0;
            }
        }
        Reading::of_counts(c)
    }
}

/// Cursors not moved for this long are dropped (the series is gone).
const CURSOR_TTL_MS: i64 = 15 * 60 * 1000;
/// How far back a reading looks for samples newer than a cursor.
const MAX_LOOKBACK_MS: i64 = 6 * 3600 * 1000;

struct CounterSum {
    sum: f64,
    series: usize,
    reset_across_gap: bool,
}

/// Reset-aware increase of every series matched by `terms`, from each cursor to `end_ms`.
fn counter_increase(
    q: &dyn Querier,
    terms: &Terms,
    role: u8,
    cursors: &mut Cursors,
    start_ms: i64,
    end_ms: i64,
    after_gap: bool,
) -> CounterSum {
    let oldest = cursors
        .0
        .iter()
        .filter(|((r, _), _)| *r == role)
        .map(|(_, c)| c.t)
        .min()
        .unwrap_or(start_ms)
        .min(start_ms);
    let lo = oldest.max(end_ms - MAX_LOOKBACK_MS) + 1;
    let mut out = CounterSum {
        sum: 0.0,
        series: 0,
        reset_across_gap: false,
    };
    for term in terms {
        for s in q.select(term, lo, end_ms) {
            let key = (role, s.labels.fingerprint());
            let cur = cursors.0.get(&key).copied();
            let mut prev = cur.map(|c| c.v);
            let mut last_t = cur.map(|c| c.t);
            let mut first = true;
            for p in &s.samples {
                if p.t > end_ms || is_stale_nan(p.v) || p.v.is_nan() {
                    continue;
                }
                if cur.is_some_and(|c| p.t <= c.t) {
                    continue;
                }
                match prev {
                    None => {}
                    Some(pv) if p.v < pv => {
                        if first && after_gap {
                            out.reset_across_gap = true;
                        }
                        out.sum += p.v;
                    }
                    Some(pv) => out.sum += p.v - pv,
                }
                first = false;
                prev = Some(p.v);
                last_t = Some(p.t);
            }
            if s.samples.iter().any(|p| p.t > start_ms && p.t <= end_ms) {
                out.series += 1;
            }
            if let (Some(v), Some(t)) = (prev, last_t) {
                cursors.0.insert(key, Cursor { v, t });
            }
        }
    }
    cursors
        .0
        .retain(|(r, _), c| *r != role || c.t > end_ms - CURSOR_TTL_MS);
    out
}

/// The cursors a reading of every step up to `at_ms` would hold at `at_ms`: each series'
/// last sample at or before it, for those sampled within the cursors' time to live. A reading
/// that starts at `at_ms` with them counts its first step as a reading that went on from
/// earlier steps would (a back-fill resumed after a restart).
pub fn cursors_at(src: &SliSource, engine: &Engine, q: &dyn Querier, at_ms: i64) -> Cursors {
    let mut cursors = Cursors::default();
    if src.uses_cursors() {
        let _ = read_step(
            src,
            engine,
            q,
            &mut cursors,
            at_ms - CURSOR_TTL_MS,
            at_ms,
            false,
        );
    }
    cursors
}

fn query_sum(engine: &Engine, q: &dyn Querier, expr: &str, t_ms: i64) -> Option<(f64, usize)> {
    match engine.instant_query(q, expr, t_ms) {
        Ok(r) => match r.value {
            Value::Vector(v) => Some((
                v.iter().map(|s| s.v).filter(|v| v.is_finite()).sum(),
                v.len(),
            )),
            Value::Scalar { v, .. } if v.is_finite() => Some((v, 1)),
            _ => Some((0.0, 0)),
        },
        Err(e) => {
            tracing::warn!(query = expr, error = %e, "SLI query failed");
            None
        }
    }
}

/// Reads the events of the step `(start_ms, end_ms]`. `after_gap`: the cursors are older
/// than `start_ms` because redline was not running (see the engine).
pub fn read_step(
    src: &SliSource,
    engine: &Engine,
    q: &dyn Querier,
    cursors: &mut Cursors,
    start_ms: i64,
    end_ms: i64,
    after_gap: bool,
) -> Reading {
    let step_secs = (end_ms - start_ms) as f64 / 1000.0;
    match src {
        SliSource::Counters { bad, good, total } => {
            let t = counter_increase(q, total, 1, cursors, start_ms, end_ms, after_gap);
            let (bad_n, reset) = match (bad, good) {
                (Some(b), _) => {
                    let b = counter_increase(q, b, 0, cursors, start_ms, end_ms, after_gap);
                    (b.sum, b.reset_across_gap)
                }
                (None, Some(g)) => {
                    let g = counter_increase(q, g, 0, cursors, start_ms, end_ms, after_gap);
                    ((t.sum - g.sum).max(0.0), g.reset_across_gap)
                }
                (None, None) => (0.0, false),
            };
            Reading {
                counts: Counts::new(bad_n.min(t.sum).max(0.0), t.sum),
                has_data: t.series > 0,
                reset_across_gap: t.reset_across_gap || reset,
            }
        }
        SliSource::Rates { errors, total } => {
            let t = query_sum(engine, q, total, end_ms);
            let e = query_sum(engine, q, errors, end_ms);
            match (t, e) {
                (Some((t, n)), Some((e, _))) => Reading {
                    counts: Counts::new(
                        (e * step_secs).clamp(0.0, t * step_secs),
                        (t * step_secs).max(0.0),
                    ),
                    has_data: n > 0,
                    reset_across_gap: false,
                },
                _ => Reading::default(),
            }
        }
        SliSource::ErrorRatio { query } => match query_sum(engine, q, query, end_ms) {
            Some((r, n)) if n > 0 => Reading {
                counts: Counts::new(r.clamp(0.0, 1.0), 1.0),
                has_data: true,
                reset_across_gap: false,
            },
            _ => Reading::default(),
        },
        SliSource::Slices { terms } => Reading::of_slices(
            terms
                .iter()
                .flat_map(|term| q.select(term, start_ms + 1, end_ms))
                .flat_map(|s| s.samples)
                .map(|p| p.v)
                .filter(|v| !is_stale_nan(*v) && !v.is_nan()),
        ),
        SliSource::SlicesQuery { query } => match engine.instant_query(q, query, end_ms) {
            Ok(r) => match r.value {
                Value::Vector(v) => Reading::of_slices(v.into_iter().map(|s| s.v)),
                _ => Reading::of_slices(std::iter::empty()),
            },
            Err(e) => {
                tracing::warn!(query = %query, error = %e, "SLI query failed");
                Reading::default()
            }
        },
        SliSource::Probe(acc) => {
            let c = match acc.lock() {
                Ok(mut g) => std::mem::take(&mut *g),
                Err(p) => std::mem::take(&mut *p.into_inner()),
            };
            Reading::of_counts(c)
        }
        SliSource::Composite => Reading::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Labels, Store};

    fn store_with(series: &[(&str, &[(i64, f64)])]) -> Store {
        let store = Store::new();
        let mut app = store.appender();
        for (code, samples) in series {
            let l = Labels::from_pairs([
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("code", code),
            ]);
            for (t, v) in *samples {
                app.append(&l, *t, *v).unwrap();
            }
        }
        app.commit();
        store
    }

    fn ratio_source() -> SliSource {
        let sli = Sli::Ratio {
            events: RatioEvents::Bad(
                "sum(rate(http_requests_total{job=\"api\",code=~\"5..\"}[{{.window}}]))".into(),
            ),
            total: "sum(rate(http_requests_total{job=\"api\"}[{{.window}}]))".into(),
        };
        SliSource::for_sli("api/avail", &sli, "1m", None).unwrap()
    }

    #[test]
    fn ratio_of_sums_of_rates_reads_counters_exactly() {
        assert!(ratio_source().uses_cursors());
        let sli = Sli::Ratio {
            events: RatioEvents::Bad("sum(rate(x[{{.window}}])) / 2".into()),
            total: "sum(rate(y[{{.window}}]))".into(),
        };
        let s = SliSource::for_sli("a/b", &sli, "1m", None).unwrap();
        assert!(matches!(s, SliSource::Rates { .. }), "{s:?}");
    }

    #[test]
    fn counter_reset_inside_a_step_counts_the_new_value() {
        // 200s: 100 → 130 → (restart) 5 → 20 within the second minute, 5xx flat at 3 → 4.
        let store = store_with(&[
            (
                "200",
                &[
                    (60_000, 100.0),
                    (90_000, 130.0),
                    (100_000, 5.0),
                    (120_000, 20.0),
                ],
            ),
            ("500", &[(60_000, 3.0), (120_000, 4.0)]),
        ]);
        let src = ratio_source();
        let engine = Engine::default();
        let mut cur = Cursors::default();
        let r0 = read_step(&src, &engine, &store, &mut cur, 0, 60_000, false);
        // First sight of each series: no increase yet.
        assert_eq!(r0.counts, Counts::new(0.0, 0.0));
        assert!(r0.has_data);
        let r1 = read_step(&src, &engine, &store, &mut cur, 60_000, 120_000, false);
        // total: 30 + 5 + 15 (200s) + 1 (500s) = 51; bad 1.
        assert_eq!(r1.counts, Counts::new(1.0, 51.0));
        // Cursors survive a JSON round trip.
        assert_eq!(Cursors::from_json(&cur.to_json()), Some(cur.clone()));
        let r2 = read_step(&src, &engine, &store, &mut cur, 120_000, 180_000, false);
        assert_eq!(r2.counts, Counts::default());
        assert!(!r2.has_data);
    }

    #[test]
    fn lower_value_after_a_gap_is_a_reset_across_it() {
        let store = store_with(&[("200", &[(600_000, 7.0), (610_000, 9.0)])]);
        let src = ratio_source();
        let engine = Engine::default();
        let l = Labels::from_pairs([
            ("__name__", "http_requests_total"),
            ("code", "200"),
            ("job", "api"),
        ]);
        let mut cur = Cursors::default();
        cur.0.insert(
            (1, l.fingerprint()),
            Cursor {
                v: 500.0,
                t: 60_000,
            },
        );
        let r = read_step(&src, &engine, &store, &mut cur, 540_000, 660_000, true);
        assert!(r.reset_across_gap);
        let mut cur2 = Cursors::default();
        cur2.0
            .insert((1, l.fingerprint()), Cursor { v: 2.0, t: 60_000 });
        let r = read_step(&src, &engine, &store, &mut cur2, 540_000, 660_000, true);
        assert!(!r.reset_across_gap);
        assert_eq!(r.counts.total, 7.0);
    }
}
