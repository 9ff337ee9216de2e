//! Executing a parsed rule template: values, variables, pipelines and the function map.
//!
//! Values are dynamically typed as in Go's `reflect` world ([`V`]); printing follows `fmt`'s
//! `%v`. Comparisons follow `text/template`'s rules (an int and a float do not compare, as in
//! Go). See the module root for the parser and `funcs` for the number formatting.

use super::alertmanager as am;
use super::alertmanager::pair;
pub(crate) use super::alertmanager::{escape_html, GoStruct, GO_ZERO_TIME_MS};
use super::funcs as f;
use super::{Arg, Defines, Node, Pipeline, QuerySample, TemplateData, TemplateError};
use crate::store::Labels;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub(crate) enum V {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Map(Arc<BTreeMap<String, String>>),
    List(Vec<V>),
    Sample(Arc<QuerySample>),
    /// The root data (`.`): Labels, ExternalLabels, ExternalURL, Value.
    Root,
    /// A Go struct: named fields (Alertmanager's `template.Data`, `template.Alert`, …).
    Struct(Arc<GoStruct>),
    /// Alertmanager's `template.KV`: a label map with the methods `SortedPairs`, `Names`,
    /// `Values` and `Remove`.
    Kv(Arc<BTreeMap<String, String>>),
    /// Alertmanager's `template.Alerts`: a list of alerts with `Firing` and `Resolved`.
    Alerts(Arc<Vec<V>>),
    /// Alertmanager's `template.Pairs`: name/value pairs with `Names` and `Values`.
    Pairs(Arc<Vec<(String, String)>>),
    /// A Go `time.Time` in UTC, unix milliseconds.
    Time(i64),
    /// Text that `html/template` does not escape (`safeHtml`, `template.HTML`).
    Html(String),
}

/// Where `{{ template "name" }}` finds templates: the text's own `define`s, then the
/// loaded template files, then built-in templates rendered by the caller for a given dot
/// (`None` when the caller has no such template).
pub(crate) struct Lookup<'a> {
    pub local: &'a Defines,
    pub set: &'a Defines,
    #[allow(clippy::type_complexity)]
    pub builtin: &'a dyn Fn(&str, &V) -> Option<Result<String, TemplateError>>,
}

/// Go's limit on nested template calls (`maxExecDepth`), lower: recursion fails cleanly.
const MAX_TEMPLATE_DEPTH: usize = 100;

fn labels_map(l: &Labels) -> V {
    V::Map(Arc::new(
        l.iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect(),
    ))
}

impl V {
    fn truth(&self) -> bool {
        match self {
            V::Nil => false,
            V::Bool(b) => *b,
            V::Int(i) => *i != 0,
            V::Float(x) => *x != 0.0,
            V::Str(s) => !s.is_empty(),
            V::Map(m) => !m.is_empty(),
            V::List(l) => !l.is_empty(),
            V::Sample(_) | V::Root | V::Struct(_) | V::Time(_) => true,
            V::Kv(m) => !m.is_empty(),
            V::Alerts(l) => !l.is_empty(),
            V::Pairs(p) => !p.is_empty(),
            V::Html(s) => !s.is_empty(),
        }
    }

    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            V::Nil => "nil",
            V::Bool(_) => "bool",
            V::Int(_) => "int",
            V::Float(_) => "float64",
            V::Str(_) => "string",
            V::Map(_) => "map[string]string",
            V::List(_) => "[]interface {}",
            V::Sample(_) => "*template.sample",
            V::Root => "template.tmplData",
            V::Struct(s) => s.type_name,
            V::Kv(_) => "template.KV",
            V::Alerts(_) => "template.Alerts",
            V::Pairs(_) => "template.Pairs",
            V::Time(_) => "time.Time",
            V::Html(_) => "template.HTML",
        }
    }

    /// `fmt.Sprint` of the value.
    pub(crate) fn print(&self) -> String {
        match self {
            V::Nil => "<no value>".into(),
            V::Bool(b) => b.to_string(),
            V::Int(i) => i.to_string(),
            V::Float(x) => crate::gostrconv::format_v(*x),
            V::Str(s) => s.clone(),
            V::Map(m) => {
                let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("map[{}]", inner.join(" "))
            }
            V::List(l) => {
                let inner: Vec<String> = l.iter().map(V::print).collect();
                format!("[{}]", inner.join(" "))
            }
            V::Sample(s) => format!(
                "{{{} {}}}",
                labels_map(&s.labels).print(),
                crate::gostrconv::format_v(s.value)
            ),
            V::Root => "{...}".into(),
            V::Struct(s) => {
                let inner: Vec<String> = s.fields.iter().map(|(_, v)| v.print()).collect();
                format!("{{{}}}", inner.join(" "))
            }
            V::Kv(m) => {
                let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("map[{}]", inner.join(" "))
            }
            V::Alerts(l) => {
                let inner: Vec<String> = l.iter().map(V::print).collect();
                format!("[{}]", inner.join(" "))
            }
            V::Pairs(p) => {
                let inner: Vec<String> = p.iter().map(|(n, v)| format!("{{{n} {v}}}")).collect();
                format!("[{}]", inner.join(" "))
            }
            V::Time(ms) => f::go_time_string(ms.div_euclid(1000), ms.rem_euclid(1000) * 1_000_000),
            V::Html(s) => s.clone(),
        }
    }

    /// The elements `range` visits, as (key, element) pairs.
    fn range_items(self) -> R<Vec<(V, V)>> {
        let indexed = |l: Vec<V>| {
            l.into_iter()
                .enumerate()
                .map(|(i, x)| (V::Int(i as i64), x))
                .collect()
        };
        Ok(match self {
            V::List(l) => indexed(l),
            V::Alerts(l) => indexed(l.as_ref().clone()),
            V::Pairs(p) => indexed(p.iter().map(pair).collect()),
            V::Map(m) | V::Kv(m) => m
                .iter()
                .map(|(k, x)| (V::Str(k.clone()), V::Str(x.clone())))
                .collect(),
            V::Int(n) => (0..n).map(|i| (V::Int(i), V::Int(i))).collect(),
            V::Nil => Vec::new(),
            other => return Err(format!("range can't iterate over {}", other.print())),
        })
    }

    fn to_float(&self) -> Result<f64, String> {
        match self {
            V::Float(x) => Ok(*x),
            V::Int(i) => Ok(*i as f64),
            V::Str(s) => crate::gostrconv::parse_float(s).map_err(|e| e.to_string()),
            other => Err(format!("can't convert {} to float", other.type_name())),
        }
    }

    pub(crate) fn to_str(&self, func: &str) -> Result<String, String> {
        match self {
            V::Str(s) | V::Html(s) => Ok(s.clone()),
            other => Err(format!(
                "wrong type for value; expected string; got {} (in {func})",
                other.type_name()
            )),
        }
    }
}

/// Execution state: variables and the data.
pub(crate) struct Env<'a> {
    vars: Vec<(String, V)>,
    /// Prometheus rule data; `None` for notification templates.
    data: Option<&'a TemplateData<'a>>,
    query: &'a dyn Fn(&str) -> Result<Vec<QuerySample>, String>,
    dot: V,
    lookup: Option<Lookup<'a>>,
    /// Escape printed values for HTML (Alertmanager's `html/template` for email bodies).
    html: bool,
    depth: usize,
}

fn no_query(_: &str) -> Result<Vec<QuerySample>, String> {
    Err("query is not available in notification templates".into())
}

enum Flow {
    Normal,
    Break,
    Continue,
}

type R<T> = Result<T, String>;

impl<'a> Env<'a> {
    pub(crate) fn new(
        data: &'a TemplateData<'a>,
        query: &'a dyn Fn(&str) -> Result<Vec<QuerySample>, String>,
    ) -> Self {
        let vars = vec![
            ("$".to_string(), V::Root),
            ("$labels".to_string(), labels_map(data.labels)),
            (
                "$externalLabels".to_string(),
                labels_map(data.external_labels),
            ),
            (
                "$externalURL".to_string(),
                V::Str(data.external_url.to_string()),
            ),
            ("$value".to_string(), V::Float(data.value)),
        ];
        Env {
            vars,
            data: Some(data),
            query,
            dot: V::Root,
            lookup: None,
            html: false,
            depth: 0,
        }
    }

    /// An environment for a notification template executed with `root` as `.` and `$`.
    pub(crate) fn for_value(root: V, lookup: Lookup<'a>, html: bool) -> Self {
        Env {
            vars: vec![("$".to_string(), root.clone())],
            data: None,
            query: &no_query,
            dot: root,
            lookup: Some(lookup),
            html,
            depth: 0,
        }
    }

    fn var(&self, name: &str) -> R<V> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("undefined variable: {name}"))
    }

    fn field(&self, v: V, name: &str) -> R<V> {
        match v {
            V::Root => {
                let d = self.data.ok_or("no data")?;
                Ok(match name {
                    "Labels" => labels_map(d.labels),
                    "ExternalLabels" => labels_map(d.external_labels),
                    "ExternalURL" => V::Str(d.external_url.to_string()),
                    "Value" => V::Float(d.value),
                    _ => {
                        return Err(format!(
                            "can't evaluate field {name} in type template.tmplData"
                        ))
                    }
                })
            }
            V::Struct(_) | V::Kv(_) | V::Alerts(_) | V::Pairs(_) | V::Time(_) => am::field(v, name),
            V::Map(m) => Ok(V::Str(m.get(name).cloned().unwrap_or_default())),
            V::Sample(s) => match name {
                "Labels" => Ok(labels_map(&s.labels)),
                "Value" => Ok(V::Float(s.value)),
                _ => Err(format!(
                    "can't evaluate field {name} in type *template.sample"
                )),
            },
            V::Nil => Err(format!("nil pointer evaluating interface {{}}.{name}")),
            other => Err(format!(
                "can't evaluate field {name} in type {}",
                other.type_name()
            )),
        }
    }

    /// A method called with arguments: `.CommonLabels.Remove .GroupLabels.Names`,
    /// `.StartsAt.Format "2006-01-02"`.
    fn method(&self, recv: V, name: &str, args: Vec<V>) -> R<V> {
        if args.is_empty() {
            return self.field(recv, name);
        }
        am::method(recv, name, args)
    }

    fn fields(&self, mut v: V, names: &[String]) -> R<V> {
        for n in names {
            v = self.field(v, n)?;
        }
        Ok(v)
    }

    fn arg(&mut self, a: &Arg) -> R<V> {
        Ok(match a {
            Arg::Field(fs) => self.fields(self.dot.clone(), fs)?,
            Arg::Var(n, fs) => {
                let v = self.var(n)?;
                self.fields(v, fs)?
            }
            Arg::Str(s) => V::Str(s.clone()),
            Arg::Int(i) => V::Int(*i),
            Arg::Float(x) => V::Float(*x),
            Arg::Bool(b) => V::Bool(*b),
            Arg::Nil => V::Nil,
            Arg::Sub(p, fs) => {
                let v = self.pipeline_value(p)?;
                self.fields(v, fs)?
            }
            Arg::Func(name) => self.call(name, Vec::new())?,
        })
    }

    fn pipeline_value(&mut self, p: &Pipeline) -> R<V> {
        let mut prev: Option<V> = None;
        for cmd in &p.cmds {
            let v = match cmd.first() {
                Some(Arg::Func(name)) => {
                    let mut args = Vec::with_capacity(cmd.len());
                    if matches!(name.as_str(), "and" | "or") {
                        // Go evaluates and/or lazily; results are the same for pure arguments.
                    }
                    for a in &cmd[1..] {
                        args.push(self.arg(a)?);
                    }
                    if let Some(pv) = prev.take() {
                        args.push(pv);
                    }
                    self.call(name, args)
                        .map_err(|e| format!("at <{name}>: error calling {name}: {e}"))?
                }
                Some(Arg::Field(fs) | Arg::Var(_, fs))
                    if self.lookup.is_some()
                        && !fs.is_empty()
                        && (cmd.len() > 1 || prev.is_some()) =>
                {
                    let (last, head) = fs.split_last().ok_or("empty field chain")?;
                    let recv = match &cmd[0] {
                        Arg::Var(n, _) => {
                            let v = self.var(n)?;
                            self.fields(v, head)?
                        }
                        _ => self.fields(self.dot.clone(), head)?,
                    };
                    let mut args = Vec::with_capacity(cmd.len());
                    for a in &cmd[1..] {
                        args.push(self.arg(a)?);
                    }
                    if let Some(pv) = prev.take() {
                        args.push(pv);
                    }
                    self.method(recv, last, args)
                        .map_err(|e| format!("at <.{}>: {e}", fs.join(".")))?
                }
                Some(a) => {
                    if cmd.len() > 1 || prev.is_some() {
                        return Err(format!(
                            "at <{}>: can't give argument to non-function",
                            p.src.trim()
                        ));
                    }
                    self.arg(a)?
                }
                None => V::Nil,
            };
            prev = Some(v);
        }
        Ok(prev.unwrap_or(V::Nil))
    }

    /// Evaluates a pipeline, binding its declared variables; returns the value.
    fn pipeline(&mut self, p: &Pipeline) -> R<V> {
        let v = self.pipeline_value(p)?;
        if p.assign {
            if let Some(name) = p.decl.first() {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = v.clone();
                }
            }
        } else if let Some(name) = p.decl.first() {
            self.vars.push((name.clone(), v.clone()));
        }
        Ok(v)
    }

    fn call(&mut self, name: &str, args: Vec<V>) -> R<V> {
        call_func(self, name, args)
    }
}

fn nargs(args: &[V], n: usize) -> R<()> {
    if args.len() != n {
        return Err(format!("wrong number of args: got {} want {n}", args.len()));
    }
    Ok(())
}

#[derive(PartialEq, PartialOrd)]
enum Basic {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

fn basic(v: &V) -> R<Basic> {
    Ok(match v {
        V::Bool(b) => Basic::Bool(*b),
        V::Int(i) => Basic::Int(*i),
        V::Float(x) => Basic::Float(*x),
        V::Str(s) => Basic::Str(s.clone()),
        _ => return Err("invalid type for comparison".into()),
    })
}

fn same_kind(a: &Basic, b: &Basic) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn compare(a: &V, b: &V, op: &str) -> R<bool> {
    let (x, y) = (basic(a)?, basic(b)?);
    if !same_kind(&x, &y) {
        return Err("incompatible types for comparison".into());
    }
    if op != "eq" && op != "ne" && matches!(x, Basic::Bool(_)) {
        return Err("invalid type for comparison".into());
    }
    Ok(match op {
        "eq" => x == y,
        "ne" => x != y,
        "lt" => x < y,
        "le" => x <= y,
        "gt" => x > y,
        _ => x >= y,
    })
}

fn sample_arg(v: &V) -> R<Arc<QuerySample>> {
    match v {
        V::Sample(s) => Ok(s.clone()),
        other => Err(format!("expected a sample, got {}", other.type_name())),
    }
}

fn call_func(env: &mut Env, name: &str, args: Vec<V>) -> R<V> {
    let fl = |i: usize| -> R<f64> {
        args.get(i)
            .ok_or_else(|| "missing argument".to_string())?
            .to_float()
    };
    Ok(match name {
        "and" => {
            let mut last = V::Nil;
            for a in args {
                if !a.truth() {
                    return Ok(a);
                }
                last = a;
            }
            last
        }
        "or" => {
            let mut last = V::Nil;
            for a in args {
                if a.truth() {
                    return Ok(a);
                }
                last = a;
            }
            last
        }
        "not" => {
            nargs(&args, 1)?;
            V::Bool(!args[0].truth())
        }
        "eq" => {
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            let mut any = false;
            for b in &args[1..] {
                if compare(&args[0], b, "eq")? {
                    any = true;
                }
            }
            V::Bool(any)
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            nargs(&args, 2)?;
            V::Bool(compare(&args[0], &args[1], name)?)
        }
        "len" => {
            nargs(&args, 1)?;
            V::Int(match &args[0] {
                V::Str(s) => s.len(),
                V::List(l) => l.len(),
                V::Map(m) | V::Kv(m) => m.len(),
                V::Alerts(l) => l.len(),
                V::Pairs(p) => p.len(),
                V::Html(s) => s.len(),
                other => return Err(format!("len of type {}", other.type_name())),
            } as i64)
        }
        "index" => {
            let mut v = args.first().cloned().unwrap_or(V::Nil);
            for k in args.iter().skip(1) {
                v = match (&v, k) {
                    (V::Map(m) | V::Kv(m), V::Str(s)) => {
                        V::Str(m.get(s).cloned().unwrap_or_default())
                    }
                    (V::Alerts(l), V::Int(i)) => l
                        .get(*i as usize)
                        .cloned()
                        .ok_or_else(|| format!("index out of range: {i}"))?,
                    (V::List(l), V::Int(i)) => l
                        .get(*i as usize)
                        .cloned()
                        .ok_or_else(|| format!("index out of range: {i}"))?,
                    _ => return Err(format!("can't index item of type {}", v.type_name())),
                }
            }
            v
        }
        "print" => V::Str(go_sprint(&args)),
        "println" => {
            let parts: Vec<String> = args.iter().map(V::print).collect();
            V::Str(format!("{}\n", parts.join(" ")))
        }
        "printf" => {
            let Some(V::Str(fmt)) = args.first() else {
                return Err("printf: format must be a string".into());
            };
            V::Str(sprintf(fmt, &args[1..]))
        }
        "html" => V::Str(
            go_sprint(&args)
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&#34;")
                .replace('\'', "&#39;"),
        ),
        "urlquery" => V::Str(f::query_escape(&go_sprint(&args))),
        "js" => V::Str(f::js_escape(&go_sprint(&args))),
        "safeHtml" if env.lookup.is_some() => {
            nargs(&args, 1)?;
            V::Html(args[0].to_str(name)?)
        }
        "safeHtml" => {
            nargs(&args, 1)?;
            V::Str(args[0].to_str(name)?)
        }
        "query" => {
            nargs(&args, 1)?;
            let q = args[0].to_str(name)?;
            let res = (env.query)(&q)?;
            V::List(res.into_iter().map(|s| V::Sample(Arc::new(s))).collect())
        }
        "first" => {
            nargs(&args, 1)?;
            match &args[0] {
                V::List(l) => l
                    .first()
                    .cloned()
                    .ok_or("first() called on vector with no elements")?,
                other => return Err(format!("first() called on {}", other.type_name())),
            }
        }
        "label" => {
            nargs(&args, 2)?;
            let l = args[0].to_str(name)?;
            let s = sample_arg(&args[1])?;
            V::Str(s.labels.get(&l).unwrap_or("").to_string())
        }
        "value" => {
            nargs(&args, 1)?;
            V::Float(sample_arg(&args[0])?.value)
        }
        "strvalue" => {
            nargs(&args, 1)?;
            V::Str(
                sample_arg(&args[0])?
                    .labels
                    .get("__value__")
                    .unwrap_or("")
                    .to_string(),
            )
        }
        "sortByLabel" => {
            nargs(&args, 2)?;
            let l = args[0].to_str(name)?;
            let V::List(mut items) = args[1].clone() else {
                return Err("sortByLabel: expected a query result".into());
            };
            items.sort_by(|a, b| {
                let k = |v: &V| match v {
                    V::Sample(s) => s.labels.get(&l).unwrap_or("").to_string(),
                    _ => String::new(),
                };
                k(a).cmp(&k(b))
            });
            V::List(items)
        }
        "args" => {
            let m: BTreeMap<String, String> = args
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("arg{i}"), a.print()))
                .collect();
            V::Map(Arc::new(m))
        }
        "reReplaceAll" => {
            nargs(&args, 3)?;
            let re = regex::Regex::new(&args[0].to_str(name)?).map_err(|e| e.to_string())?;
            let repl = args[1].to_str(name)?;
            V::Str(
                re.replace_all(&args[2].to_str(name)?, repl.as_str())
                    .into_owned(),
            )
        }
        "match" => {
            nargs(&args, 2)?;
            let re = regex::Regex::new(&args[0].to_str(name)?).map_err(|e| e.to_string())?;
            V::Bool(re.is_match(&args[1].to_str(name)?))
        }
        "title" => V::Str(f::title(
            &args.first().ok_or("missing argument")?.to_str(name)?,
        )),
        "toUpper" => V::Str(
            args.first()
                .ok_or("missing argument")?
                .to_str(name)?
                .to_uppercase(),
        ),
        "toLower" => V::Str(
            args.first()
                .ok_or("missing argument")?
                .to_str(name)?
                .to_lowercase(),
        ),
        "graphLink" | "tableLink" => {
            let e = args.first().ok_or("missing argument")?.to_str(name)?;
            let q = f::query_escape(&e);
            V::Str(format!(
                "/graph?g0.expr={q}&g0.tab={}",
                if name == "graphLink" { 0 } else { 1 }
            ))
        }
        "humanize" => V::Str(f::humanize(fl(0)?)),
        "humanize1024" => V::Str(f::humanize1024(fl(0)?)),
        "humanizeDuration" => V::Str(f::humanize_duration(fl(0)?)),
        "humanizePercentage" => V::Str(f::humanize_percentage(fl(0)?)),
        "humanizeTimestamp" => V::Str(f::humanize_timestamp(fl(0)?)?),
        "toTime" => V::Str(f::humanize_timestamp(fl(0)?)?),
        "toDuration" => V::Str(crate::timefmt::format_duration(
            std::time::Duration::from_secs_f64(fl(0)?.max(0.0)),
        )),
        "parseDuration" => V::Float(f::parse_duration_seconds(
            &args.first().ok_or("missing argument")?.to_str(name)?,
        )?),
        "pathPrefix" => V::Str(url_path(env.data.map_or("", |d| d.external_url))),
        "externalURL" => V::Str(env.data.map_or("", |d| d.external_url).to_string()),
        "stripPort" => V::Str(f::strip_port(
            &args.first().ok_or("missing argument")?.to_str(name)?,
        )),
        "stripDomain" => V::Str(f::strip_domain(
            &args.first().ok_or("missing argument")?.to_str(name)?,
        )),
        "slice" => return Err("slice is not supported".into()),
        other => match am::call(other, &args) {
            Some(r) => r?,
            None => return Err(format!("function {other:?} not defined")),
        },
    })
}

fn url_path(u: &str) -> String {
    let rest = u.split_once("://").map(|(_, r)| r).unwrap_or(u);
    rest.find('/')
        .map(|i| rest[i..].to_string())
        .unwrap_or_default()
}

/// `fmt.Sprint`: spaces between operands when neither side is a string.
fn go_sprint(args: &[V]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, V::Str(_)) && !matches!(args[i - 1], V::Str(_)) {
            out.push(' ');
        }
        out.push_str(&a.print());
    }
    out
}

/// Go's `fmt.Sprintf` for the verbs templates use.
pub(crate) fn sprintf(fmt: &str, args: &[V]) -> String {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut ai = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&p) = chars.peek() {
            if "+-# 0".contains(p) {
                flags.push(p);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&p) = chars.peek().filter(|p| p.is_ascii_digit()) {
            width.push(p);
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|p| p.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(ai) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        ai += 1;
        let bad = || format!("%!{verb}({}={})", arg.type_name(), arg.print());
        let mut s = match (verb, arg) {
            ('v', _) => match (arg, prec) {
                (V::Float(x), Some(p)) => crate::gostrconv::format_g(*x, Some(p), false),
                _ => arg.print(),
            },
            ('s', V::Str(s)) => match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            },
            ('q', V::Str(s)) => crate::gostrconv::quote(s),
            ('d', V::Int(i)) => i.to_string(),
            ('x', V::Int(i)) => format!("{i:x}"),
            ('X', V::Int(i)) => format!("{i:X}"),
            ('x', V::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('t', V::Bool(b)) => b.to_string(),
            ('f' | 'F', V::Float(x)) => crate::gostrconv::format_f(*x, prec.unwrap_or(6)),
            ('e' | 'E', V::Float(x)) => {
                crate::gostrconv::format_e(*x, Some(prec.unwrap_or(6)), verb == 'E')
            }
            ('g' | 'G', V::Float(x)) => crate::gostrconv::format_g(*x, prec, verb == 'G'),
            ('f' | 'F' | 'e' | 'E' | 'g' | 'G', V::Int(_)) => bad(),
            _ => bad(),
        };
        if flags.contains('+') && matches!(arg, V::Int(_) | V::Float(_)) && !s.starts_with('-') {
            s.insert(0, '+');
        }
        if let Ok(w) = width.parse::<usize>() {
            let len = s.chars().count();
            if len < w {
                let pad = w - len;
                if flags.contains('-') {
                    s.push_str(&" ".repeat(pad));
                } else if flags.contains('0') && matches!(arg, V::Int(_) | V::Float(_)) {
                    let sign = if s.starts_with(['-', '+']) {
                        s.remove(0).to_string()
                    } else {
                        String::new()
                    };
                    s = format!("{sign}{}{s}", "0".repeat(pad));
                } else {
                    s = format!("{}{s}", " ".repeat(pad));
                }
            }
        }
        out.push_str(&s);
    }
    if ai < args.len() {
        let extra: Vec<String> = args[ai..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), a.print()))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

pub(crate) fn exec_list(env: &mut Env, nodes: &[Node], out: &mut String) -> R<()> {
    match exec_nodes(env, nodes, out)? {
        Flow::Normal | Flow::Break | Flow::Continue => Ok(()),
    }
}

fn exec_nodes(env: &mut Env, nodes: &[Node], out: &mut String) -> R<Flow> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action { pipe, src } => {
                let v = env.pipeline(pipe).map_err(|e| {
                    if e.starts_with("at <") {
                        e
                    } else {
                        format!("at <{}>: {e}", src.trim())
                    }
                })?;
                if pipe.decl.is_empty() {
                    match v {
                        V::Html(s) => out.push_str(&s),
                        v if env.html => out.push_str(&escape_html(&v.print())),
                        v => out.push_str(&v.print()),
                    }
                }
            }
            Node::If { branches, else_ } | Node::With { branches, else_ } => {
                let is_with = matches!(n, Node::With { .. });
                let mark = env.vars.len();
                let mut done = false;
                let mut flow = Flow::Normal;
                for (pipe, body) in branches {
                    let v = env.pipeline(pipe)?;
                    if v.truth() {
                        let saved = env.dot.clone();
                        if is_with {
                            env.dot = v;
                        }
                        flow = exec_nodes(env, body, out)?;
                        env.dot = saved;
                        done = true;
                        break;
                    }
                }
                if !done {
                    flow = exec_nodes(env, else_, out)?;
                }
                env.vars.truncate(mark);
                if !matches!(flow, Flow::Normal) {
                    return Ok(flow);
                }
            }
            Node::Range { pipe, body, else_ } => {
                let mark = env.vars.len();
                let mut p = pipe.clone();
                let decl = std::mem::take(&mut p.decl);
                let v = env.pipeline(&p)?;
                let items = v.range_items()?;
                if items.is_empty() {
                    exec_nodes(env, else_, out)?;
                }
                let saved = env.dot.clone();
                for (k, x) in items {
                    let inner = env.vars.len();
                    match decl.as_slice() {
                        [e] => env.vars.push((e.clone(), x.clone())),
                        [i, e] => {
                            env.vars.push((i.clone(), k));
                            env.vars.push((e.clone(), x.clone()));
                        }
                        _ => {}
                    }
                    env.dot = x;
                    let flow = exec_nodes(env, body, out)?;
                    env.vars.truncate(inner);
                    if matches!(flow, Flow::Break) {
                        break;
                    }
                }
                env.dot = saved;
                env.vars.truncate(mark);
            }
            Node::Template { name, pipe } => {
                let dot = match pipe {
                    Some(p) => env.pipeline(p)?,
                    None => V::Nil,
                };
                exec_template(env, name, dot, out)?;
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
    }
    Ok(Flow::Normal)
}

/// `{{ template "name" dot }}`: runs the named template with its own variables.
fn exec_template(env: &mut Env, name: &str, dot: V, out: &mut String) -> R<()> {
    let Some(lookup) = &env.lookup else {
        return Err(format!("no such template {name:?}"));
    };
    let nodes = lookup
        .local
        .get(name)
        .or_else(|| lookup.set.get(name))
        .cloned();
    let Some(nodes) = nodes else {
        return match (lookup.builtin)(name, &dot) {
            Some(r) => {
                out.push_str(&r.map_err(|e| format!("template {name:?}: {e}"))?);
                Ok(())
            }
            None => Err(format!("no such template {name:?}")),
        };
    };
    if env.depth >= MAX_TEMPLATE_DEPTH {
        return Err(format!(
            "exceeded maximum template depth ({MAX_TEMPLATE_DEPTH}) in {name:?}"
        ));
    }
    let vars = std::mem::replace(&mut env.vars, vec![("$".to_string(), dot.clone())]);
    let saved = std::mem::replace(&mut env.dot, dot);
    env.depth += 1;
    let res = exec_nodes(env, &nodes, out);
    env.depth -= 1;
    env.dot = saved;
    env.vars = vars;
    res.map(|_| ())
}

/// Executes `nodes` with `root` as `.` (a notification template).
pub(crate) fn exec_with(
    root: V,
    nodes: &[Node],
    lookup: Lookup<'_>,
    html: bool,
) -> Result<String, TemplateError> {
    let mut env = Env::for_value(root, lookup, html);
    let mut out = String::new();
    exec_list(&mut env, nodes, &mut out).map_err(TemplateError)?;
    Ok(out)
}
