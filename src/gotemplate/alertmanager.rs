//! The Alertmanager dialect of the Go-template executor: the values notification data is
//! made of (`template.Data`/`template.Alert` structs, `template.KV` label maps with
//! `SortedPairs`, `Names`, `Values` and `Remove`, `template.Alerts` with `Firing` and
//! `Resolved`, `time.Time` with `Format`), and the functions Alertmanager adds to Go's
//! builtins (`join`, `trimSpace`, `safeUrl`, `toJson`, `date`, …). `exec` runs the
//! templates and calls in here for these values and names.

use std::sync::Arc;

use super::exec::V;
use super::funcs as f;

type R<T> = Result<T, String>;

/// A Go struct value: its type name (for error messages) and its fields in order.
#[derive(Clone, Debug)]
pub(crate) struct GoStruct {
    pub type_name: &'static str,
    pub fields: Vec<(&'static str, V)>,
}

/// A `template.Pair` struct.
pub(crate) fn pair((n, v): &(String, String)) -> V {
    V::Struct(Arc::new(GoStruct {
        type_name: "template.Pair",
        fields: vec![("Name", V::Str(n.clone())), ("Value", V::Str(v.clone()))],
    }))
}

fn str_list<'s>(it: impl Iterator<Item = &'s String>) -> V {
    V::List(it.map(|s| V::Str(s.clone())).collect())
}

/// An alert's `Status` field, for `Alerts.Firing` / `Alerts.Resolved`.
fn alert_status(v: &V) -> &str {
    if let V::Struct(s) = v {
        for (n, f) in &s.fields {
            if let (&"Status", V::Str(st)) = (n, f) {
                return st;
            }
        }
    }
    ""
}

/// Field (or argument-less method) access on an Alertmanager value.
pub(crate) fn field(v: V, name: &str) -> R<V> {
    match v {
        V::Struct(s) => s
            .fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("can't evaluate field {name} in type {}", s.type_name)),
        V::Kv(m) => Ok(match name {
            "SortedPairs" => V::Pairs(Arc::new(
                m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            )),
            "Names" => str_list(m.keys()),
            "Values" => str_list(m.values()),
            _ => V::Str(m.get(name).cloned().unwrap_or_default()),
        }),
        V::Alerts(l) => match name {
            "Firing" | "Resolved" => {
                let want = if name == "Firing" {
                    "firing"
                } else {
                    "resolved"
                };
                Ok(V::Alerts(Arc::new(
                    l.iter()
                        .filter(|a| alert_status(a) == want)
                        .cloned()
                        .collect(),
                )))
            }
            _ => Err(format!(
                "can't evaluate field {name} in type template.Alerts"
            )),
        },
        V::Pairs(p) => match name {
            "Names" => Ok(str_list(p.iter().map(|(n, _)| n))),
            "Values" => Ok(str_list(p.iter().map(|(_, v)| v))),
            _ => Err(format!(
                "can't evaluate field {name} in type template.Pairs"
            )),
        },
        V::Time(ms) => match name {
            "Unix" => Ok(V::Int(ms.div_euclid(1000))),
            "UnixMilli" => Ok(V::Int(ms)),
            "IsZero" => Ok(V::Bool(ms == GO_ZERO_TIME_MS)),
            "UTC" | "Local" => Ok(V::Time(ms)),
            "String" => Ok(V::Str(V::Time(ms).print())),
            _ => Err(format!("can't evaluate field {name} in type time.Time")),
        },
        other => Err(format!(
            "can't evaluate field {name} in type {}",
            other.type_name()
        )),
    }
}

/// A method called with arguments: `.CommonLabels.Remove .GroupLabels.Names`,
/// `.StartsAt.Format "2006-01-02"`.
pub(crate) fn method(recv: V, name: &str, args: Vec<V>) -> R<V> {
    match (&recv, name) {
        (V::Kv(m), "Remove") => {
            let [V::List(names)] = args.as_slice() else {
                return Err("wrong number of args for Remove: want 1".into());
            };
            let mut m = m.as_ref().clone();
            for n in names {
                m.remove(&n.print());
            }
            Ok(V::Kv(Arc::new(m)))
        }
        (V::Time(ms), "Format") => {
            let [layout] = args.as_slice() else {
                return Err("wrong number of args for Format: want 1".into());
            };
            Ok(V::Str(f::go_time_format(*ms, &layout.to_str("Format")?)))
        }
        _ => Err(format!(
            "can't give argument to non-function {name} of type {}",
            recv.type_name()
        )),
    }
}

fn nargs(args: &[V], n: usize) -> R<()> {
    if args.len() != n {
        return Err(format!("wrong number of args: got {} want {n}", args.len()));
    }
    Ok(())
}

/// Alertmanager's functions (`template.DefaultFuncs`) not shared with Prometheus.
const FUNCS: &[&str] = &[
    "safeUrl",
    "trimSpace",
    "join",
    "stringSlice",
    "urlUnescape",
    "toJson",
    "date",
    "tz",
    "since",
];

/// Calls one of Alertmanager's own functions; `None` for any other name.
pub(crate) fn call(name: &str, args: &[V]) -> Option<R<V>> {
    FUNCS.contains(&name).then(|| call_am(name, args))
}

fn call_am(name: &str, args: &[V]) -> R<V> {
    Ok(match name {
        "safeUrl" => {
            nargs(args, 1)?;
            V::Html(args[0].to_str(name)?)
        }
        "trimSpace" => {
            nargs(args, 1)?;
            V::Str(args[0].to_str(name)?.trim().to_string())
        }
        "join" => {
            nargs(args, 2)?;
            let sep = args[0].to_str(name)?;
            let V::List(items) = &args[1] else {
                return Err(format!(
                    "wrong type for value; expected []string; got {}",
                    args[1].type_name()
                ));
            };
            let parts: Vec<String> = items.iter().map(V::print).collect();
            V::Str(parts.join(&sep))
        }
        "stringSlice" => V::List(
            args.iter()
                .map(|a| a.to_str(name).map(V::Str))
                .collect::<R<Vec<V>>>()?,
        ),
        "urlUnescape" => {
            nargs(args, 1)?;
            let s = args[0].to_str(name)?;
            V::Str(
                form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default(),
            )
        }
        "toJson" => {
            nargs(args, 1)?;
            V::Str(to_json(&args[0]).to_string())
        }
        "date" => {
            nargs(args, 2)?;
            let V::Time(ms) = args[1] else {
                return Err(format!(
                    "date: expected a time, got {}",
                    args[1].type_name()
                ));
            };
            V::Str(f::go_time_format(ms, &args[0].to_str(name)?))
        }
        "tz" => {
            nargs(args, 2)?;
            let zone = args[0].to_str(name)?;
            if zone != "UTC" {
                return Err(format!(
                    "tz: time zone {zone:?} is not supported (only UTC)"
                ));
            }
            args[1].clone()
        }
        "since" => {
            nargs(args, 1)?;
            let V::Time(ms) = args[0] else {
                return Err(format!(
                    "since: expected a time, got {}",
                    args[0].type_name()
                ));
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            V::Float((now - ms) as f64 / 1000.0)
        }
        other => return Err(format!("function {other:?} not defined")),
    })
}

/// Go's zero `time.Time` (0001-01-01T00:00:00Z) in unix milliseconds.
pub(crate) const GO_ZERO_TIME_MS: i64 = -62_135_596_800_000;

/// `json.Marshal` of a value, as Alertmanager's `toJson`.
fn to_json(v: &V) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        V::Nil => J::Null,
        V::Bool(b) => J::Bool(*b),
        V::Int(i) => J::from(*i),
        V::Float(x) => serde_json::Number::from_f64(*x).map_or(J::Null, J::Number),
        V::Str(s) | V::Html(s) => J::String(s.clone()),
        V::Map(m) | V::Kv(m) => J::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), J::String(v.clone())))
                .collect(),
        ),
        V::List(l) => J::Array(l.iter().map(to_json).collect()),
        V::Alerts(l) => J::Array(l.iter().map(to_json).collect()),
        V::Pairs(p) => J::Array(p.iter().map(|x| to_json(&pair(x))).collect()),
        V::Struct(s) => J::Object(
            s.fields
                .iter()
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        ),
        V::Time(ms) => J::String(f::go_time_format(*ms, f::RFC3339_NANO)),
        V::Sample(_) | V::Root => J::String(v.print()),
    }
}

/// `html/template`'s escaping of printed text.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '+' => out.push_str("&#43;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gotemplate::exec::{exec_with, Lookup};
    use crate::gotemplate::{parse_nodes, Defines, Dialect, Template, TemplateError};
    use std::collections::BTreeMap;

    fn render(text: &str, root: V) -> Result<String, TemplateError> {
        let (nodes, local) = parse_nodes("t", text, Dialect::Alertmanager)?;
        let set = Defines::new();
        let builtin = |_: &str, _: &V| None;
        exec_with(
            root,
            &nodes,
            Lookup {
                local: &local,
                set: &set,
                builtin: &builtin,
            },
            false,
        )
    }

    fn kv(pairs: &[(&str, &str)]) -> V {
        V::Kv(Arc::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        ))
    }

    #[test]
    fn go_time_format_follows_the_reference_layout() {
        // 2026-11-22T06:20:55.250Z, a Sunday.
        let ms = 1_795_328_455_250;
        for (layout, want) in [
            ("2006-01-02 15:04:05", "2026-11-22 06:20:55"),
            (f::RFC3339_NANO, "2026-11-22T06:20:55.25Z"),
            ("Mon Jan _2 3:04PM MST", "Sun Nov 22 6:20AM UTC"),
            ("02/01/06 15:04:05.000 -0700", "22/11/26 06:20:55.250 +0000"),
            ("Monday, January 2", "Sunday, November 22"),
        ] {
            assert_eq!(f::go_time_format(ms, layout), want, "{layout}");
        }
    }

    #[test]
    fn define_template_and_block_in_the_alertmanager_dialect() {
        let root = V::Struct(Arc::new(GoStruct {
            type_name: "template.Data",
            fields: vec![("CommonLabels", kv(&[("job", "api"), ("sev", "page")]))],
        }));
        let out = render(
            r#"{{ define "x" }}[{{ .job }}]{{ end }}{{ template "x" .CommonLabels }}{{ block "y" . }}<{{ len .CommonLabels }}>{{ end }}"#,
            root.clone(),
        )
        .unwrap();
        assert_eq!(out, "[api]<2>");
        let e = render(r#"{{ template "missing" . }}"#, root.clone()).unwrap_err();
        assert!(e.0.contains("no such template \"missing\""), "{e}");
        let e = render(
            r#"{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}"#,
            root,
        )
        .unwrap_err();
        assert!(e.0.contains("maximum template depth"), "{e}");
        // Rule templates keep Prometheus' behaviour.
        let e = Template::parse("rule", r#"{{ define "x" }}{{ end }}"#).unwrap_err();
        assert!(e.0.contains("is not supported"), "{e}");
    }

    #[test]
    fn alertmanager_functions_and_kv_methods() {
        let root = kv(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let out = render(
            r#"{{ .SortedPairs.Names | join "," }} {{ (.Remove (stringSlice "b")).Values | join "+" }} {{ range .SortedPairs }}{{ .Name }}={{ .Value }};{{ end }} {{ "  x  " | trimSpace }} {{ toJson .a }} {{ urlUnescape "a%20b" }}"#,
            root,
        )
        .unwrap();
        assert_eq!(out, r#"a,b,c 1+3 a=1;b=2;c=3; x "1" a b"#);
    }
}
