//! Go's `text/template`, as Prometheus rule templates and Alertmanager notification
//! templates use it. A leaf: it imports only `store`'s labels and `timefmt`.
//!
//! Alert labels and annotations are Go templates executed with Prometheus' data and function
//! map: `$labels`, `$value`, `$externalLabels`, `$externalURL` (and the same as `.Labels`,
//! `.Value`, …), actions `if`/`else if`/`else`/`with`/`range`/`end`, variables, pipelines,
//! `{{-`/`-}}` trimming, comments, Go's comparison and logic builtins and Prometheus' functions
//! (`humanize*`, `query`, `first`, `label`, `value`, `reReplaceAll`, …). A [`Template`] is
//! parsed once (parse errors are rule-file errors) and executed per alert with a
//! [`TemplateData`] and a query callback; [`Template::expand`] renders execution errors the way
//! Prometheus does, as `<error expanding template: …>`. Missing map keys print as empty
//! strings (Prometheus sets `missingkey=zero`). Execution lives in `exec`, Prometheus' and
//! Alertmanager's function maps in [`funcs`] and `alertmanager`. Alertmanager's notification
//! templates (`alerting::notify`) run on the same engine in its Alertmanager dialect.

mod alertmanager;
pub(crate) mod exec;
pub mod funcs;
#[cfg(test)]
mod tests;

use self::exec::Env;
use crate::store::Labels;

/// One sample of a template `query` result, or of a rule's query.
#[derive(Clone, Debug, PartialEq)]
pub struct QuerySample {
    pub labels: Labels,
    /// The float value; 0 for a native histogram sample.
    pub value: f64,
    /// The native histogram of a histogram sample (a recording rule records it as one).
    pub histogram: Option<std::sync::Arc<crate::histogram::FloatHistogram>>,
}

/// The data an alert template sees.
#[derive(Clone, Copy, Debug)]
pub struct TemplateData<'a> {
    /// The alert's sample labels (`$labels`, `.Labels`).
    pub labels: &'a Labels,
    pub external_labels: &'a Labels,
    pub external_url: &'a str,
    /// The sample value (`$value`, `.Value`).
    pub value: f64,
}

/// A template parse or execution error (the message as Go words it, approximately).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// A parsed template.
#[derive(Clone, Debug)]
pub struct Template {
    name: String,
    source: String,
    nodes: Vec<Node>,
}

/// The variables Prometheus defines before every alert template.
pub(crate) const PREDEFINED: [&str; 5] =
    ["$", "$labels", "$externalLabels", "$externalURL", "$value"];

/// Which function map and predefined variables a template is parsed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Prometheus rule templates: `$labels`, `$value`, … and Prometheus' function map;
    /// `define`/`template`/`block` are rejected.
    Prometheus,
    /// Alertmanager notification templates: only `$`, Alertmanager's function map, and
    /// `define`/`template`/`block`.
    Alertmanager,
}

/// Go's builtin template functions, which both dialects may call.
const GO_BUILTINS: &[&str] = &[
    "and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index", "print", "printf",
    "println", "html", "js", "urlquery", "slice",
];

/// Functions an Alertmanager notification template may call besides [`GO_BUILTINS`]:
/// Alertmanager's `template.DefaultFuncs`.
pub(crate) const AM_FUNCS: &[&str] = &[
    "toUpper",
    "toLower",
    "title",
    "trimSpace",
    "join",
    "match",
    "safeHtml",
    "safeUrl",
    "urlUnescape",
    "reReplaceAll",
    "stringSlice",
    "date",
    "tz",
    "since",
    "humanizeDuration",
    "toJson",
];

/// Functions a Prometheus rule template may call besides [`GO_BUILTINS`]: Prometheus'
/// function map.
pub(crate) const FUNCS: &[&str] = &[
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "args",
    "reReplaceAll",
    "safeHtml",
    "match",
    "title",
    "toUpper",
    "toLower",
    "graphLink",
    "tableLink",
    "sortByLabel",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toTime",
    "toDuration",
    "pathPrefix",
    "externalURL",
    "parseDuration",
    "stripPort",
    "stripDomain",
];

#[derive(Clone, Debug)]
pub(crate) enum Node {
    Text(String),
    Action {
        pipe: Pipeline,
        src: String,
    },
    If {
        branches: Vec<(Pipeline, Vec<Node>)>,
        else_: Vec<Node>,
    },
    With {
        branches: Vec<(Pipeline, Vec<Node>)>,
        else_: Vec<Node>,
    },
    Range {
        pipe: Pipeline,
        body: Vec<Node>,
        else_: Vec<Node>,
    },
    Break,
    Continue,
    /// `{{ template "name" pipeline }}` (also what a `block` leaves in place).
    Template {
        name: String,
        pipe: Option<Pipeline>,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct Pipeline {
    /// Variables declared (`:=`) or assigned (`=`).
    pub decl: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Vec<Arg>>,
    pub src: String,
}

#[derive(Clone, Debug)]
pub(crate) enum Arg {
    /// `.` followed by fields (`.` alone has none).
    Field(Vec<String>),
    /// `$x.a.b`.
    Var(String, Vec<String>),
    Func(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Sub(Box<Pipeline>, Vec<String>),
}

impl Template {
    /// Parses `text`; `name` is used in error messages (`__alert_<AlertName>` for rules).
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        let nodes = if text.contains("{{") {
            parse_nodes(name, text, Dialect::Prometheus)?.0
        } else {
            vec![Node::Text(text.to_string())]
        };
        Ok(Template {
            name: name.to_string(),
            source: text.to_string(),
            nodes,
        })
    }

    /// The template text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Executes the template. `query` runs a PromQL expression for `{{ query "…" }}`.
    pub fn render(
        &self,
        data: &TemplateData,
        query: &dyn Fn(&str) -> Result<Vec<QuerySample>, String>,
    ) -> Result<String, TemplateError> {
        if let [Node::Text(t)] = self.nodes.as_slice() {
            return Ok(t.clone());
        }
        let mut env = Env::new(data, query);
        let mut out = String::new();
        exec::exec_list(&mut env, &self.nodes, &mut out).map_err(|e| {
            TemplateError(format!(
                "error executing template {n}: template: {n}: executing \"{n}\" {e}",
                n = self.name
            ))
        })?;
        Ok(out)
    }

    /// [`Template::render`], with an error shown as Prometheus shows it in the annotation:
    /// `<error expanding template: …>`.
    pub fn expand(
        &self,
        data: &TemplateData,
        query: &dyn Fn(&str) -> Result<Vec<QuerySample>, String>,
    ) -> String {
        self.render(data, query)
            .unwrap_or_else(|e| format!("<error expanding template: {e}>"))
    }
}

/// Named templates (`{{ define "name" }}…{{ end }}`) by name.
pub(crate) type Defines = std::collections::BTreeMap<String, std::sync::Arc<Vec<Node>>>;

/// Parses template text in a dialect: the top-level nodes and the templates it defines.
pub(crate) fn parse_nodes(
    name: &str,
    text: &str,
    dialect: Dialect,
) -> Result<(Vec<Node>, Defines), TemplateError> {
    let items = lex(name, text)?;
    let predefined: Vec<String> = match dialect {
        Dialect::Prometheus => PREDEFINED.iter().map(|s| s.to_string()).collect(),
        Dialect::Alertmanager => vec!["$".to_string()],
    };
    let mut p = Parser {
        name,
        items,
        pos: 0,
        scopes: vec![predefined],
        in_range: 0,
        dialect,
        level: 0,
        defines: Defines::new(),
    };
    let (nodes, end) = p.list()?;
    if let Some(t) = end {
        return Err(p.err(&format!("unexpected {{{{{t}}}}}")));
    }
    Ok((nodes, p.defines))
}

/// The names of the templates that `nodes` call with `{{ template }}`.
pub(crate) fn called_templates(nodes: &[Node], out: &mut Vec<String>) {
    for n in nodes {
        match n {
            Node::Template { name, .. } => out.push(name.clone()),
            Node::If { branches, else_ } | Node::With { branches, else_ } => {
                for (_, b) in branches {
                    called_templates(b, out);
                }
                called_templates(else_, out);
            }
            Node::Range { body, else_, .. } => {
                called_templates(body, out);
                called_templates(else_, out);
            }
            _ => {}
        }
    }
}

#[derive(Debug)]
enum Item {
    Text(String),
    Action { line: usize, body: String },
}

/// Splits the text into literal text and action bodies, applying trim markers and dropping
/// comments.
fn lex(name: &str, text: &str) -> Result<Vec<Item>, TemplateError> {
    let mut items = Vec::new();
    let mut rest = text;
    let mut line = 1;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut lit = &rest[..start];
        if trim_next {
            lit = lit.trim_start();
        }
        let after = &rest[start + 2..];
        let trim_left =
            after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        if trim_left {
            lit = lit.trim_end();
        }
        if !lit.is_empty() {
            items.push(Item::Text(lit.to_string()));
        }
        line += rest[..start].matches('\n').count();
        let body_start = if trim_left { 1 } else { 0 };
        let end = find_close(&after[body_start..]).ok_or_else(|| {
            let what = if after.contains("}}") {
                "unterminated quoted string"
            } else {
                "unclosed action"
            };
            TemplateError(format!("template: {name}:{line}: {what}"))
        })?;
        let mut body = &after[body_start..body_start + end];
        trim_next = false;
        if body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-") {
            body = &body[..body.len() - 1];
            trim_next = true;
        }
        let b = body.trim();
        if b.starts_with("/*") {
            if !b.ends_with("*/") {
                return Err(TemplateError(format!(
                    "template: {name}:{line}: unclosed comment"
                )));
            }
        } else {
            items.push(Item::Action {
                line,
                body: b.to_string(),
            });
        }
        line += body.matches('\n').count();
        rest = &after[body_start + end + 2..];
    }
    let mut lit = rest;
    if trim_next {
        lit = lit.trim_start();
    }
    if !lit.is_empty() {
        items.push(Item::Text(lit.to_string()));
    }
    Ok(items)
}

/// Position of the `}}` closing an action, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    // A comment runs to the first `*/`, which must close the action (`*/}}`, `*/ -}}`);
    // quotes in it are text, as in Go's lexer.
    let t = s.trim_start();
    if t.starts_with("/*") {
        let end = s.len() - t.len() + t.find("*/")? + 2;
        let after = &s[end..];
        return if after.starts_with("}}") {
            Some(end)
        } else if after.starts_with(" -}}") {
            Some(end + 2)
        } else {
            None
        };
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => i += crate::gostrconv::literal_end(&b[i..]),
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Num(String),
    Pipe,
    LParen,
    /// `)` with any `.field` chain after it.
    RParen(Vec<String>),
    Declare,
    Assign,
    Comma,
}

fn field_chain(s: &[char], i: &mut usize) -> Vec<String> {
    let mut out = Vec::new();
    while *i < s.len() && s[*i] == '.' {
        let start = *i + 1;
        let mut j = start;
        while j < s.len() && (s[j].is_alphanumeric() || s[j] == '_') {
            j += 1;
        }
        if j == start {
            break;
        }
        out.push(s[start..j].iter().collect());
        *i = j;
    }
    out
}

fn tokenize(body: &str) -> Result<Vec<Tok>, String> {
    let s: Vec<char> = body.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < s.len() {
        let c = s[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                out.push(Tok::Pipe);
                i += 1
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                i += 1;
                out.push(Tok::RParen(field_chain(&s, &mut i)));
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            ':' if s.get(i + 1) == Some(&'=') => {
                out.push(Tok::Declare);
                i += 2
            }
            '=' => {
                out.push(Tok::Assign);
                i += 1
            }
            '"' => {
                let mut v = String::new();
                i += 1;
                loop {
                    let Some(&ch) = s.get(i) else {
                        return Err("unterminated quoted string".into());
                    };
                    i += 1;
                    match ch {
                        '"' => break,
                        '\\' => {
                            let e = s.get(i).copied().ok_or("unterminated quoted string")?;
                            i += 1;
                            v.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '\\' => '\\',
                                '"' => '"',
                                '\'' => '\'',
                                other => {
                                    return Err(format!("invalid syntax: unknown escape \\{other}"))
                                }
                            });
                        }
                        ch => v.push(ch),
                    }
                }
                out.push(Tok::Str(v));
            }
            '`' => {
                let start = i + 1;
                let mut j = start;
                while j < s.len() && s[j] != '`' {
                    j += 1;
                }
                if j >= s.len() {
                    return Err("unterminated raw quoted string".into());
                }
                out.push(Tok::Str(s[start..j].iter().collect()));
                i = j + 1;
            }
            '.' if s.get(i + 1).is_none_or(|n| !n.is_ascii_digit()) => {
                let chain = field_chain(&s, &mut i);
                if chain.is_empty() {
                    i += 1;
                }
                out.push(Tok::Field(chain));
            }
            '$' => {
                let start = i;
                i += 1;
                while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                    i += 1;
                }
                let name: String = s[start..i].iter().collect();
                out.push(Tok::Var(name, field_chain(&s, &mut i)));
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let start = i;
                i += 1;
                while i < s.len()
                    && (s[i].is_ascii_alphanumeric()
                        || s[i] == '.'
                        || s[i] == '_'
                        || ((s[i] == '-' || s[i] == '+')
                            && matches!(s[i - 1], 'e' | 'E' | 'p' | 'P')))
                {
                    i += 1;
                }
                out.push(Tok::Num(s[start..i].iter().collect()));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Ident(s[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected {other:?} in command")),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    name: &'a str,
    items: Vec<Item>,
    pos: usize,
    scopes: Vec<Vec<String>>,
    in_range: usize,
    dialect: Dialect,
    /// Nesting depth of the list being parsed: `define` is allowed at 0 only.
    level: usize,
    defines: Defines,
}

impl Parser<'_> {
    fn line(&self) -> usize {
        let mut i = self.pos.min(self.items.len());
        while i > 0 {
            i -= 1;
            if let Item::Action { line, .. } = &self.items[i] {
                return *line;
            }
        }
        1
    }

    fn err(&self, msg: &str) -> TemplateError {
        TemplateError(format!("template: {}:{}: {msg}", self.name, self.line()))
    }

    /// Parses nodes up to an `end` or `else…` action, which is returned (body text of it).
    fn list(&mut self) -> Result<(Vec<Node>, Option<String>), TemplateError> {
        let mut nodes = Vec::new();
        while self.pos < self.items.len() {
            let item = std::mem::replace(&mut self.items[self.pos], Item::Text(String::new()));
            self.pos += 1;
            match item {
                Item::Text(t) => nodes.push(Node::Text(t)),
                Item::Action { body, .. } => {
                    let toks = tokenize(&body).map_err(|e| self.err(&e))?;
                    let kw = match toks.first() {
                        Some(Tok::Ident(k)) => k.as_str(),
                        _ => "",
                    };
                    match kw {
                        "end" | "else" => return Ok((nodes, Some(body))),
                        "if" | "with" => {
                            let n = self.conditional(kw == "if", &toks[1..], &body)?;
                            nodes.push(n);
                        }
                        "range" => {
                            self.scopes.push(Vec::new());
                            let pipe = self.pipeline(&toks[1..], &body, true)?;
                            self.in_range += 1;
                            self.level += 1;
                            let (body_nodes, end) = self.list()?;
                            self.level -= 1;
                            self.in_range -= 1;
                            let else_ = match end.as_deref() {
                                Some("end") => Vec::new(),
                                Some("else") => {
                                    self.level += 1;
                                    let (e, end2) = self.list()?;
                                    self.level -= 1;
                                    if end2.as_deref() != Some("end") {
                                        return Err(self.err("expected end; found EOF"));
                                    }
                                    e
                                }
                                _ => return Err(self.err("unexpected EOF")),
                            };
                            self.scopes.pop();
                            nodes.push(Node::Range {
                                pipe,
                                body: body_nodes,
                                else_,
                            });
                        }
                        "break" | "continue" if self.in_range > 0 => nodes.push(if kw == "break" {
                            Node::Break
                        } else {
                            Node::Continue
                        }),
                        "break" | "continue" => {
                            return Err(self.err(&format!("{{{{{kw}}}}} outside {{{{range}}}}")))
                        }
                        "define" | "template" | "block" if self.dialect == Dialect::Prometheus => {
                            return Err(self.err(&format!("{{{{{kw}}}}} is not supported")))
                        }
                        "define" => {
                            if self.level > 0 {
                                return Err(self.err("unexpected <define> in command"));
                            }
                            let tname = self.template_name(&toks, "define")?;
                            if toks.len() > 2 {
                                return Err(self.err("unexpected token in define clause"));
                            }
                            let body = self.named_body()?;
                            self.defines.insert(tname, std::sync::Arc::new(body));
                        }
                        "template" => {
                            let tname = self.template_name(&toks, "template")?;
                            let pipe = if toks.len() > 2 {
                                Some(self.pipeline(&toks[2..], &body, false)?)
                            } else {
                                None
                            };
                            nodes.push(Node::Template { name: tname, pipe });
                        }
                        "block" => {
                            let tname = self.template_name(&toks, "block")?;
                            if toks.len() < 3 {
                                return Err(self.err("missing pipeline in block clause"));
                            }
                            let pipe = self.pipeline(&toks[2..], &body, false)?;
                            let block = self.named_body()?;
                            self.defines
                                .entry(tname.clone())
                                .or_insert_with(|| std::sync::Arc::new(block));
                            nodes.push(Node::Template {
                                name: tname,
                                pipe: Some(pipe),
                            });
                        }
                        _ => {
                            let pipe = self.pipeline(&toks, &body, false)?;
                            nodes.push(Node::Action { pipe, src: body });
                        }
                    }
                }
            }
        }
        Ok((nodes, None))
    }

    /// The quoted name after `define`, `template` or `block`.
    fn template_name(&self, toks: &[Tok], kw: &str) -> Result<String, TemplateError> {
        match toks.get(1) {
            Some(Tok::Str(n)) => Ok(n.clone()),
            _ => Err(self.err(&format!(
                "unexpected token in {kw} clause: expected a quoted name"
            ))),
        }
    }

    /// The body of a `define` or `block`, up to its `end`, parsed in a scope of its own
    /// (only `$` is visible in it, as in Go).
    fn named_body(&mut self) -> Result<Vec<Node>, TemplateError> {
        let scopes = std::mem::replace(&mut self.scopes, vec![vec!["$".to_string()]]);
        let in_range = std::mem::replace(&mut self.in_range, 0);
        self.level += 1;
        let res = self.list();
        self.level -= 1;
        self.scopes = scopes;
        self.in_range = in_range;
        let (nodes, end) = res?;
        if end.as_deref() != Some("end") {
            return Err(self.err("unexpected EOF"));
        }
        Ok(nodes)
    }

    /// `if`/`with` with their `else if`/`else with` chains, up to the shared `end`.
    fn conditional(
        &mut self,
        is_if: bool,
        toks: &[Tok],
        body: &str,
    ) -> Result<Node, TemplateError> {
        let mut branches = Vec::new();
        let mut else_ = Vec::new();
        let mut toks = toks.to_vec();
        let mut body = body.to_string();
        let mut depth = 0;
        loop {
            self.scopes.push(Vec::new());
            depth += 1;
            let pipe = self.pipeline(&toks, &body, false)?;
            self.level += 1;
            let (nodes, end) = self.list()?;
            self.level -= 1;
            branches.push((pipe, nodes));
            let end = end.ok_or_else(|| self.err("unexpected EOF"))?;
            if end == "end" {
                break;
            }
            // `else`, `else if …`, `else with …`
            let etoks = tokenize(&end).map_err(|e| self.err(&e))?;
            let kw = if is_if { "if" } else { "with" };
            if etoks.len() > 1 && etoks[1] == Tok::Ident(kw.into()) {
                toks = etoks[2..].to_vec();
                body = end;
                continue;
            }
            if etoks.len() > 1 {
                return Err(self.err(&format!("unexpected {end:?} in {kw}")));
            }
            self.level += 1;
            let (e, end2) = self.list()?;
            self.level -= 1;
            if end2.as_deref() != Some("end") {
                return Err(self.err("expected end; found EOF"));
            }
            else_ = e;
            break;
        }
        for _ in 0..depth {
            self.scopes.pop();
        }
        Ok(if is_if {
            Node::If { branches, else_ }
        } else {
            Node::With { branches, else_ }
        })
    }

    fn declared(&self, v: &str) -> bool {
        self.scopes.iter().any(|s| s.iter().any(|x| x == v))
    }

    fn pipeline(
        &mut self,
        toks: &[Tok],
        src: &str,
        range: bool,
    ) -> Result<Pipeline, TemplateError> {
        let mut decl = Vec::new();
        let mut assign = false;
        let mut rest = toks;
        // `$x :=`, `$x =`, and in range `$i, $e :=`.
        if let Some(Tok::Var(v, f)) = toks.first() {
            if f.is_empty() {
                match toks.get(1) {
                    Some(Tok::Declare) => {
                        decl.push(v.clone());
                        rest = &toks[2..];
                    }
                    Some(Tok::Assign) => {
                        if !self.declared(v) {
                            return Err(self.err(&format!("undefined variable {v:?}")));
                        }
                        decl.push(v.clone());
                        assign = true;
                        rest = &toks[2..];
                    }
                    Some(Tok::Comma) if range => {
                        if let (Some(Tok::Var(v2, f2)), Some(Tok::Declare)) =
                            (toks.get(2), toks.get(3))
                        {
                            if f2.is_empty() {
                                decl.push(v.clone());
                                decl.push(v2.clone());
                                rest = &toks[4..];
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        let (cmds, used) = self.commands(rest)?;
        if used != rest.len() {
            return Err(self.err("unexpected \")\" in operand"));
        }
        if cmds.is_empty() {
            return Err(self.err("missing value for command"));
        }
        if !assign {
            if let Some(scope) = self.scopes.last_mut() {
                scope.extend(decl.iter().cloned());
            }
        }
        Ok(Pipeline {
            decl,
            assign,
            cmds,
            src: src.to_string(),
        })
    }

    /// Commands separated by `|`, up to an unmatched `)`; returns tokens consumed.
    fn commands(&mut self, toks: &[Tok]) -> Result<(Vec<Vec<Arg>>, usize), TemplateError> {
        let mut cmds = Vec::new();
        let mut cur: Vec<Arg> = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            match &toks[i] {
                Tok::Pipe => {
                    if cur.is_empty() {
                        return Err(self.err("missing command"));
                    }
                    cmds.push(std::mem::take(&mut cur));
                    i += 1;
                }
                Tok::RParen(_) => break,
                Tok::LParen => {
                    let (sub, used) = self.commands(&toks[i + 1..])?;
                    let Some(Tok::RParen(fields)) = toks.get(i + 1 + used) else {
                        return Err(self.err("unclosed left paren"));
                    };
                    if sub.is_empty() {
                        return Err(self.err("missing command"));
                    }
                    cur.push(Arg::Sub(
                        Box::new(Pipeline {
                            decl: Vec::new(),
                            assign: false,
                            cmds: sub,
                            src: String::new(),
                        }),
                        fields.clone(),
                    ));
                    i += used + 2;
                }
                t => {
                    cur.push(self.operand(t)?);
                    i += 1;
                }
            }
        }
        if !cur.is_empty() {
            cmds.push(cur);
        } else if !cmds.is_empty() {
            return Err(self.err("missing command"));
        }
        Ok((cmds, i))
    }

    /// Whether a template of this dialect may call `name`.
    fn has_func(&self, name: &str) -> bool {
        let dialect = match self.dialect {
            Dialect::Prometheus => FUNCS,
            Dialect::Alertmanager => AM_FUNCS,
        };
        GO_BUILTINS.contains(&name) || dialect.contains(&name)
    }

    fn operand(&self, t: &Tok) -> Result<Arg, TemplateError> {
        Ok(match t {
            Tok::Ident(n) => match n.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                f if self.has_func(f) => Arg::Func(f.to_string()),
                f => return Err(self.err(&format!("function {f:?} not defined"))),
            },
            Tok::Field(f) => Arg::Field(f.clone()),
            Tok::Var(v, f) => {
                if !self.declared(v) {
                    return Err(self.err(&format!("undefined variable {v:?}")));
                }
                Arg::Var(v.clone(), f.clone())
            }
            Tok::Str(s) => Arg::Str(s.clone()),
            Tok::Num(n) => {
                parse_number(n).ok_or_else(|| self.err(&format!("bad number syntax: {n:?}")))?
            }
            other => return Err(self.err(&format!("unexpected {other:?} in operand"))),
        })
    }
}

/// Go template number literals: integers (decimal, hex, octal, binary) and floats.
fn parse_number(n: &str) -> Option<Arg> {
    let clean = n.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.trim_start_matches('+').to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if !lower.contains(['.', 'e']) {
        lower.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Some(Arg::Int(if neg { -i } else { i }));
    }
    let f: f64 = lower.parse().ok()?;
    Some(Arg::Float(if neg { -f } else { f }))
}
