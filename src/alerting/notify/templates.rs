//! Notification templates: redline's default email (handlebars, embedded), Alertmanager
//! 0.25's `default.tmpl` (embedded), users' `templates:` files, and the template text of the
//! integrations' templated fields (an email's `html`, `text` and `headers`, a Slack `title`,
//! a PagerDuty `description`, …).
//!
//! Alertmanager's `default.tmpl` is parsed first and the user's files after it, as Alertmanager
//! does: `{{ template "slack.default.title" . }}` works in any field, a user's file can call
//! the defaults and override any of their `define`s (an overridden `__subject` changes every
//! default that calls it).
//!
//! [`NotificationTemplates`] holds the defaults and the user's files: `*.hbs` files are
//! registered as handlebars partials named after the file (`team.hbs` → `{{> team}}`; a file
//! named `email.html.hbs`, `email.text.hbs` or `email.subject.hbs` replaces that default);
//! any other file is read as Go templates, as Alertmanager reads its `*.tmpl` files, and the
//! templates it `define`s can be called from fields.
//!
//! A field value is compiled once, at config load, into a [`FieldTemplate`]:
//! - Alertmanager's defaults map to redline's: `{{ template "email.default.html" . }}` renders
//!   the default HTML body, `email.default.subject` and `__subject` the default subject;
//! - text using handlebars-only syntax (`{{> partial}}`, `{{#each …}}`) is a handlebars
//!   template over the handlebars view of [`TemplateData`];
//! - anything else is a Go template (redline's engine, with Alertmanager's functions, field
//!   names and `define`/`template`).
//!
//! Compiling also renders the template once over a sample notification, so a field name that
//! does not exist or a call to an undefined template is a config error naming the field,
//! never a failed notification at 3 a.m.

use std::path::{Path, PathBuf};

use handlebars::Handlebars;

use super::data::TemplateData;
use crate::gotemplate::exec::{exec_with, Lookup, V};
use crate::gotemplate::{called_templates, parse_nodes, Defines, Dialect, Node, TemplateError};

/// A notification template that failed to render (the message says where, as the template
/// engine words it).
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{0}")]
    Handlebars(#[from] handlebars::RenderError),
    #[error("{0}")]
    Go(#[from] TemplateError),
}

/// redline's default HTML email body.
pub const DEFAULT_HTML: &str = include_str!("templates/email.html.hbs");
/// One alert of the default HTML body (partial `email.alert.html`).
pub const DEFAULT_ALERT_HTML: &str = include_str!("templates/email.alert.html.hbs");
/// redline's default plain-text email body.
pub const DEFAULT_TEXT: &str = include_str!("templates/email.text.hbs");
/// One alert of the default text body (partial `email.alert.text`).
pub const DEFAULT_ALERT_TEXT: &str = include_str!("templates/email.alert.text.hbs");
/// Alertmanager 0.25's `default.tmpl`: the `define`s its integrations' default fields call
/// (`slack.default.title`, `pagerduty.default.description`, `__subject`, …).
pub const ALERTMANAGER_DEFAULT_TMPL: &str = include_str!("templates/alertmanager-default.tmpl");

/// The `define`s later Alertmanager releases added to `default.tmpl` for integrations newer
/// than 0.25 (`msteams.default.*`, `msteamsv2.default.*`, `rocketchat.default.*`,
/// `__text_alert_list_markdown`), and redline's own `mattermost.default.*` (Alertmanager's
/// could not be found); sources in `templates/SOURCES.md`.
pub const ALERTMANAGER_NEWER_TMPL: &str = include_str!("templates/alertmanager-newer.tmpl");

/// The `define`s of [`ALERTMANAGER_DEFAULT_TMPL`] and [`ALERTMANAGER_NEWER_TMPL`], parsed once.
fn alertmanager_defaults() -> &'static Defines {
    static DEFAULTS: std::sync::OnceLock<Defines> = std::sync::OnceLock::new();
    DEFAULTS.get_or_init(|| {
        // Fixed text: a unit test proves it parses and renders.
        let mut defines = parse_nodes(
            "default.tmpl",
            ALERTMANAGER_DEFAULT_TMPL,
            Dialect::Alertmanager,
        )
        .map(|(_, d)| d)
        .unwrap_or_default();
        if let Ok((_, newer)) = parse_nodes(
            "default.tmpl",
            ALERTMANAGER_NEWER_TMPL,
            Dialect::Alertmanager,
        ) {
            defines.extend(newer);
        }
        defines
    })
}

/// Alertmanager template names that map to redline's defaults.
const BUILTIN_NAMES: &[&str] = &[
    "email.default.html",
    "email.default.subject",
    "__subject",
    "email.default.text",
];

/// A template file or field that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateLoadError {
    #[error("templates: reading {path}: {message}")]
    Read { path: String, message: String },
    #[error("templates: {path}: {message}")]
    Parse { path: String, message: String },
    #[error("{0}")]
    Field(String),
}

/// The default templates and the user's template files.
pub struct NotificationTemplates {
    /// HTML-escaping registry (email bodies).
    html: Handlebars<'static>,
    /// Non-escaping registry (text bodies, subjects, headers).
    text: Handlebars<'static>,
    /// Go `define`s from the user's non-handlebars files.
    go: Defines,
}

impl std::fmt::Debug for NotificationTemplates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationTemplates")
            .field("go_templates", &self.go.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for NotificationTemplates {
    fn default() -> Self {
        Self::new()
    }
}

fn registry(escape: bool) -> Handlebars<'static> {
    let mut h = Handlebars::new();
    if !escape {
        h.register_escape_fn(handlebars::no_escape);
    }
    // The defaults are fixed text: they parse (a unit test proves it).
    for (name, text) in [
        ("email.html", DEFAULT_HTML),
        ("email.text", DEFAULT_TEXT),
        ("email.subject", "{{Subject}}"),
    ] {
        let _ = h.register_template_string(name, text);
    }
    for (name, text) in [
        ("email.alert.html", DEFAULT_ALERT_HTML),
        ("email.alert.text", DEFAULT_ALERT_TEXT),
    ] {
        let _ = h.register_partial(name, text);
    }
    h
}

/// Whether the file name matches a glob pattern with `*`, `?` and `[...]`-free text.
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard(&pattern[1..], name) || (!name.is_empty() && wildcard(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => wildcard(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// Expands a `templates:` entry: wildcards (`*`, `?`) in the file name; files in name order.
/// A pattern that matches nothing yields nothing, as Go's `filepath.Glob`.
pub fn expand_glob(pattern: &Path) -> Result<Vec<PathBuf>, TemplateLoadError> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let dir = pattern.parent().unwrap_or(Path::new("."));
    if dir.to_string_lossy().contains(['*', '?', '[']) {
        return Err(TemplateLoadError::Read {
            path: pattern.display().to_string(),
            message: "wildcards are supported in the file name only".into(),
        });
    }
    if name.contains('[') {
        return Err(TemplateLoadError::Read {
            path: pattern.display().to_string(),
            message: "character classes ([...]) are not supported in template globs".into(),
        });
    }
    if !name.contains(['*', '?']) {
        return Ok(if pattern.exists() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        });
    }
    let dir_for_read = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let entries = match std::fs::read_dir(dir_for_read) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(TemplateLoadError::Read {
                path: dir.display().to_string(),
                message: e.to_string(),
            })
        }
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| wildcard(name.as_bytes(), e.file_name().to_string_lossy().as_bytes()))
        .map(|e| dir.join(e.file_name()))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    Ok(out)
}

impl NotificationTemplates {
    /// The defaults only: redline's email and Alertmanager's `default.tmpl`, whose
    /// `define`s a user's file may override (Alertmanager parses its defaults first).
    pub fn new() -> NotificationTemplates {
        NotificationTemplates {
            html: registry(true),
            text: registry(false),
            go: alertmanager_defaults().clone(),
        }
    }

    /// The defaults plus the files the config's `templates:` globs name (already resolved
    /// against the config file's directory).
    pub fn load(globs: &[PathBuf]) -> Result<NotificationTemplates, TemplateLoadError> {
        let mut t = NotificationTemplates::new();
        for g in globs {
            for path in expand_glob(g)? {
                let text = std::fs::read_to_string(&path).map_err(|e| TemplateLoadError::Read {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                t.add(&path, &text)?;
            }
        }
        Ok(t)
    }

    /// Adds one template file's text (`path` names it and decides its kind).
    pub fn add(&mut self, path: &Path, text: &str) -> Result<(), TemplateLoadError> {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let perr = |message: String| TemplateLoadError::Parse {
            path: path.display().to_string(),
            message,
        };
        if let Some(name) = file.strip_suffix(".hbs") {
            for reg in [&mut self.html, &mut self.text] {
                reg.register_partial(name, text)
                    .map_err(|e| perr(e.to_string()))?;
                if matches!(name, "email.html" | "email.text" | "email.subject") {
                    reg.register_template_string(name, text)
                        .map_err(|e| perr(e.to_string()))?;
                }
            }
        } else {
            let (_, defines) =
                parse_nodes(&file, text, Dialect::Alertmanager).map_err(|e| perr(e.0))?;
            self.go.extend(defines);
        }
        Ok(())
    }

    fn registry(&self, html: bool) -> &Handlebars<'static> {
        if html {
            &self.html
        } else {
            &self.text
        }
    }

    /// Renders one of the handlebars templates (`email.html`, `email.text`,
    /// `email.subject`, or a user template/partial name) over the data.
    pub fn render_named(
        &self,
        name: &str,
        data: &TemplateData,
        html: bool,
    ) -> Result<String, RenderError> {
        Ok(self.registry(html).render(name, &data.to_handlebars())?)
    }

    /// redline's HTML body.
    pub fn default_html(&self, data: &TemplateData) -> Result<String, RenderError> {
        self.render_named("email.html", data, true)
    }

    /// redline's text body.
    pub fn default_text(&self, data: &TemplateData) -> Result<String, RenderError> {
        self.render_named("email.text", data, false)
    }

    /// The default subject (Alertmanager's `__subject`, or a user's `email.subject.hbs`).
    pub fn default_subject(&self, data: &TemplateData) -> Result<String, RenderError> {
        self.render_named("email.subject", data, false)
    }

    /// The built-in templates Go text can call, rendered for `data`.
    fn builtin(&self, name: &str, data: &TemplateData) -> Option<Result<String, TemplateError>> {
        let rendered = match name {
            "email.default.html" => self.default_html(data),
            "email.default.text" => self.default_text(data),
            "email.default.subject" | "__subject" => self.default_subject(data),
            _ => return None,
        };
        Some(rendered.map_err(|e| match e {
            RenderError::Go(e) => e,
            e => TemplateError(e.to_string()),
        }))
    }

    /// Compiles a field's template text; `field` names it in errors
    /// (`receivers[2].email_configs[0].html`); `html` selects HTML escaping.
    pub fn compile(
        &self,
        field: &str,
        text: &str,
        html: bool,
    ) -> Result<FieldTemplate, TemplateLoadError> {
        let ferr = |m: String| TemplateLoadError::Field(format!("{field}: {m}"));
        let trimmed = text.trim();
        for (name, builtin) in [
            ("email.default.html", Builtin::Html),
            ("email.default.text", Builtin::Text),
            ("email.default.subject", Builtin::Subject),
            ("__subject", Builtin::Subject),
        ] {
            for form in [
                format!("{{{{ template \"{name}\" . }}}}"),
                format!("{{{{template \"{name}\" .}}}}"),
            ] {
                if trimmed == form {
                    return Ok(FieldTemplate {
                        kind: Kind::Builtin(builtin),
                        html,
                    });
                }
            }
        }
        // `{{/…}}` closes a handlebars block, but `{{/* … */}}` is a Go comment: look at the
        // openers only.
        let kind = if ["{{>", "{{#", "{{~#", "{{~>"]
            .iter()
            .any(|m| text.contains(m))
        {
            let mut reg = self.registry(html).clone();
            reg.register_template_string("field", text)
                .map_err(|e| ferr(format!("handlebars: {e}")))?;
            Kind::Handlebars(Box::new(reg))
        } else {
            let (nodes, defines) =
                parse_nodes(field, text, Dialect::Alertmanager).map_err(|e| ferr(e.0.clone()))?;
            let mut called = Vec::new();
            called_templates(&nodes, &mut called);
            for d in defines.values().chain(self.go.values()) {
                called_templates(d, &mut called);
            }
            for c in called {
                if !defines.contains_key(&c)
                    && !self.go.contains_key(&c)
                    && !BUILTIN_NAMES.contains(&c.as_str())
                {
                    return Err(ferr(format!(
                        "template {c:?} is not defined (define it in a templates: file, or use email.default.html / email.default.subject)"
                    )));
                }
            }
            Kind::Go { nodes, defines }
        };
        let t = FieldTemplate { kind, html };
        // Catch unknown fields and the like now, not when an alert fires.
        for resolved in [false, true] {
            let sample = TemplateData::with_urls(
                &super::data::sample_notification(resolved),
                "http://redline.example",
                "",
            );
            t.render(self, &sample).map_err(|e| ferr(e.to_string()))?;
        }
        Ok(t)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Builtin {
    Html,
    Text,
    Subject,
}

enum Kind {
    Builtin(Builtin),
    Handlebars(Box<Handlebars<'static>>),
    Go { nodes: Vec<Node>, defines: Defines },
}

/// A compiled field template (`html`, `text`, a header value).
pub struct FieldTemplate {
    kind: Kind,
    html: bool,
}

impl std::fmt::Debug for FieldTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Builtin(b) => format!("{b:?}"),
            Kind::Handlebars(_) => "handlebars".into(),
            Kind::Go { .. } => "go".into(),
        };
        f.debug_struct("FieldTemplate")
            .field("kind", &kind)
            .field("html", &self.html)
            .finish()
    }
}

impl FieldTemplate {
    /// Renders the field for one notification's data.
    pub fn render(
        &self,
        templates: &NotificationTemplates,
        data: &TemplateData,
    ) -> Result<String, RenderError> {
        Ok(match &self.kind {
            Kind::Builtin(Builtin::Html) => templates.default_html(data)?,
            Kind::Builtin(Builtin::Text) => templates.default_text(data)?,
            Kind::Builtin(Builtin::Subject) => templates.default_subject(data)?,
            Kind::Handlebars(reg) => reg.render("field", &data.to_handlebars())?,
            Kind::Go { nodes, defines } => {
                let builtin = |name: &str, _dot: &V| templates.builtin(name, data);
                let lookup = Lookup {
                    local: defines,
                    set: &templates.go,
                    builtin: &builtin,
                };
                exec_with(data.to_go(), nodes, lookup, self.html)?
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::notify::data::tests::{ctx, fixture_notification};

    fn data(resolved_second: bool) -> TemplateData {
        TemplateData::new(&fixture_notification(resolved_second), &ctx())
    }

    #[test]
    fn default_html_shows_owner_playbook_labels_and_dashboard_link() {
        let t = NotificationTemplates::new();
        let html = t.default_html(&data(true)).unwrap();
        for want in [
            "team-api",
            "https://runbooks.example/api",
            "instance=10.0.0.1:8080",
            "api burning error budget (9.091%)",
            "2026-11-22T06:20:55Z",
            "href=\"http://127.0.0.1:19093/alerts\"",
            "Resolved",
        ] {
            assert!(html.contains(want), "missing {want:?} in\n{html}");
        }
        assert!(!html.contains("<script"));
    }

    #[test]
    fn default_text_lists_firing_then_resolved() {
        let t = NotificationTemplates::new();
        let text = t.default_text(&data(true)).unwrap();
        assert!(
            text.starts_with("[FIRING:1] HighErrorBudgetBurn api (page)"),
            "{text}"
        );
        let firing = text.find("Firing (1)").unwrap();
        let resolved = text.find("Resolved (1)").unwrap();
        assert!(firing < resolved);
        assert!(text.contains("Playbook: https://runbooks.example/api"));
        assert!(text.contains("    instance = 10.0.0.2:8080"));
        assert!(text.contains("Alerts: http://127.0.0.1:19093/alerts"));
    }

    #[test]
    fn alertmanager_default_references_map_to_redline_defaults() {
        let t = NotificationTemplates::new();
        let d = data(false);
        let subject = t
            .compile("f", r#"{{ template "email.default.subject" . }}"#, false)
            .unwrap();
        assert_eq!(
            subject.render(&t, &d).unwrap(),
            "[FIRING:2] HighErrorBudgetBurn api (page)"
        );
        let html = t
            .compile(
                "f",
                crate::config::alertmanager::receivers::DEFAULT_EMAIL_HTML,
                true,
            )
            .unwrap();
        assert_eq!(html.render(&t, &d).unwrap(), t.default_html(&d).unwrap());
        // Inside larger Go text too.
        let mixed = t
            .compile("f", r#"Re: {{ template "__subject" . }}"#, false)
            .unwrap();
        assert_eq!(
            mixed.render(&t, &d).unwrap(),
            "Re: [FIRING:2] HighErrorBudgetBurn api (page)"
        );
    }

    #[test]
    fn go_user_text_renders_over_alertmanager_data() {
        let t = NotificationTemplates::new();
        let d = data(true);
        let f = t
            .compile(
                "f",
                "{{ .CommonLabels.alertname }} {{ range .Alerts }}{{ .Labels.instance }} {{ end }}",
                false,
            )
            .unwrap();
        assert_eq!(
            f.render(&t, &d).unwrap(),
            "HighErrorBudgetBurn 10.0.0.1:8080 10.0.0.2:8080 "
        );
        let f = t
            .compile(
                "f",
                r#"{{ .Status | toUpper }} {{ len .Alerts.Firing }}/{{ len .Alerts.Resolved }} {{ .GroupLabels.SortedPairs.Values | join "," }} {{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join " " }}{{ end }} {{ range .Alerts.Firing }}{{ .StartsAt.Format "2006-01-02 15:04" }} {{ .Owner }} {{ .PlaybookURL }}{{ end }}"#,
                false,
            )
            .unwrap();
        assert_eq!(
            f.render(&t, &d).unwrap(),
            "FIRING 1/1 HighErrorBudgetBurn,api page 2026-11-22 06:20 team-api https://runbooks.example/api"
        );
    }

    #[test]
    fn go_comments_are_not_mistaken_for_handlebars() {
        let t = NotificationTemplates::new();
        let f = t
            .compile("f", "{{/* status */}}{{ .Status }}", false)
            .unwrap();
        assert_eq!(f.render(&t, &data(false)).unwrap(), "firing");
    }

    #[test]
    fn go_templates_defined_in_files_can_be_called_and_html_is_escaped() {
        let mut t = NotificationTemplates::new();
        t.add(
            Path::new("custom.tmpl"),
            r#"{{ define "team.title" }}<b>{{ .CommonLabels.job }}</b> {{ .CommonAnnotations.runbook_url | safeHtml }}{{ end }}"#,
        )
        .unwrap();
        let d = data(false);
        let f = t
            .compile("f", r#"{{ template "team.title" . }} {{ "a<b" }}"#, true)
            .unwrap();
        assert_eq!(
            f.render(&t, &d).unwrap(),
            "<b>api</b> https://runbooks.example/api a&lt;b"
        );
    }

    #[test]
    fn handlebars_partials_from_files_are_usable_in_fields() {
        let mut t = NotificationTemplates::new();
        t.add(
            Path::new("team.hbs"),
            "Team {{Owner}}: {{#each Firing}}{{Labels.instance}};{{/each}}",
        )
        .unwrap();
        let f = t.compile("f", "{{> team}}", false).unwrap();
        assert_eq!(
            f.render(&t, &data(true)).unwrap(),
            "Team team-api: 10.0.0.1:8080;"
        );
    }

    #[test]
    fn unrenderable_field_is_an_error_naming_the_field() {
        let t = NotificationTemplates::new();
        let field = "receivers[2].email_configs[0].html";
        let e = t
            .compile(field, r#"{{ template "nope" . }}"#, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(field) && e.contains("\"nope\" is not defined"),
            "{e}"
        );
        let e = t
            .compile(field, "{{ .CommonLabels.x }}{{ .NoSuchField }}", true)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(field) && e.contains("NoSuchField"), "{e}");
        let e = t
            .compile(field, "{{ query \"up\" }}", true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"query\" not defined"), "{e}");
        let e = t.compile(field, "{{ if }", true).unwrap_err().to_string();
        assert!(e.starts_with(field), "{e}");
    }

    /// Every `define` of Alertmanager's `default.tmpl` renders over Alertmanager's data,
    /// firing and resolved; the texts integrations send by default are Alertmanager 0.25's
    /// (the differential test in tests/integrations_differential.rs compares them with
    /// Debian's binary).
    #[test]
    fn alertmanager_default_templates_render_as_alertmanager_renders_them() {
        let t = NotificationTemplates::new();
        let (_, defines) = parse_nodes(
            "default.tmpl",
            ALERTMANAGER_DEFAULT_TMPL,
            Dialect::Alertmanager,
        )
        .unwrap();
        assert_eq!(defines.len(), 39);
        for resolved in [false, true] {
            let d = data(resolved);
            for name in defines.keys() {
                // The alert lists take a list of alerts as dot, the others the data.
                let dot = if name.ends_with("alert_list") || name.ends_with(".instances") {
                    ".Alerts"
                } else {
                    "."
                };
                let f = t
                    .compile("f", &format!("{{{{ template {name:?} {dot} }}}}"), false)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                f.render(&t, &d).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
        let render = |text: &str, d: &TemplateData| {
            t.compile("f", text, false).unwrap().render(&t, d).unwrap()
        };
        let d = data(true);
        assert_eq!(
            render(r#"{{ template "slack.default.fallback" . }}"#, &d),
            "[FIRING:1] HighErrorBudgetBurn api (page) | http://127.0.0.1:19093/#/alerts?receiver=team-api-pager"
        );
        assert_eq!(
            render(r#"{{ template "slack.default.username" . }}"#, &d),
            "Alertmanager"
        );
        let alert = |instance: &str, summary: &str| {
            format!(
                "Labels:\n - alertname = HighErrorBudgetBurn\n - instance = {instance}\n - job = api\n - severity = page\nAnnotations:\n - runbook_url = https://runbooks.example/api\n - summary = {summary}\nSource: http://prometheus.example:9090/graph?g0.expr=x\n"
            )
        };
        assert_eq!(
            render(r#"{{ template "opsgenie.default.description" . }}"#, &d),
            format!(
                "https://runbooks.example/api\nAlerts Firing:\n{}\nAlerts Resolved:\n{}",
                alert("10.0.0.1:8080", "api burning error budget (9.091%)"),
                alert("10.0.0.2:8080", "api burning error budget (8.000%)")
            )
        );
        assert_eq!(
            render(
                r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#,
                &d
            ),
            alert("10.0.0.1:8080", "api burning error budget (9.091%)")
        );
        // The receiver name is query-escaped in the link.
        let mut n = super::super::data::sample_notification(false);
        n.receiver = "team a/b".into();
        let d = TemplateData::new(&n, &ctx());
        assert_eq!(
            render(r#"{{ template "slack.default.titlelink" . }}"#, &d),
            "http://127.0.0.1:19093/#/alerts?receiver=team+a%2Fb"
        );
    }

    /// A user's file overrides a default `define`, and the defaults that call it use the
    /// override, as in Alertmanager (its defaults are parsed first, the user's files after).
    #[test]
    fn user_files_override_alertmanager_defaults() {
        let mut t = NotificationTemplates::new();
        t.add(
            Path::new("custom.tmpl"),
            r#"{{ define "__subject" }}custom {{ .Status }}{{ end }}"#,
        )
        .unwrap();
        let f = t
            .compile("f", r#"{{ template "slack.default.fallback" . }}"#, false)
            .unwrap();
        assert_eq!(
            f.render(&t, &data(false)).unwrap(),
            "custom firing | http://127.0.0.1:19093/#/alerts?receiver=team-api-pager"
        );
    }

    #[test]
    fn template_globs_expand_in_the_file_name() {
        let dir = std::env::temp_dir().join(format!("redline-tmpl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.tmpl"), r#"{{ define "a" }}A{{ end }}"#).unwrap();
        std::fs::write(dir.join("b.tmpl"), r#"{{ define "b" }}B{{ end }}"#).unwrap();
        std::fs::write(dir.join("c.txt"), "x").unwrap();
        let found = expand_glob(&dir.join("*.tmpl")).unwrap();
        assert_eq!(found, vec![dir.join("a.tmpl"), dir.join("b.tmpl")]);
        let t = NotificationTemplates::load(&[dir.join("*.tmpl")]).unwrap();
        let f = t
            .compile("f", r#"{{ template "a" . }}{{ template "b" . }}"#, false)
            .unwrap();
        assert_eq!(f.render(&t, &data(false)).unwrap(), "AB");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
