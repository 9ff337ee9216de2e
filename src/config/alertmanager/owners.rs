//! redline's owner routing: the `owners:` section and receiver-name templates.
//!
//! Alertmanager sends an alert to the receivers its route tree picks and nothing else; teams
//! that want "page whoever owns this" write one route per team, and an alert whose owner has
//! no route lands on the catch-all receiver (Alertmanager issues #608, #684, #3359, #3743).
//! redline adds, in the same file:
//!
//! ```yaml
//! owners:
//!   labels: [owner, team]          # default; the first of these an alert has names its owner
//!   receivers:                     # owner -> receiver
//!     payments: team-payments
//!     storage: team-storage
//!   fallback_receiver: sre-triage  # default: the root route's receiver
//!   playbook_url_template: 'https://playbooks.example/{{ .Labels.alertname }}'
//! ```
//!
//! and lets any route's `receiver` be a template over the alert's labels, such as
//! `receiver: 'team-{{ .Labels.owner }}'`.
//!
//! The rule, applied to each route the tree matched (see [`Owners::resolve`]):
//! 1. a templated receiver is rendered with the alert's labels; if a receiver of that name
//!    exists it is used, otherwise the fallback receiver;
//! 2. otherwise, when the route's receiver is the root route's receiver (nothing more
//!    specific claimed the alert) and an `owners:` section exists: the owner's receiver when
//!    the owner is in `owners.receivers`, else the fallback receiver;
//! 3. otherwise the route's receiver, exactly as Alertmanager would choose it.
//!
//! The fallback receiver is `owners.fallback_receiver`, or the root route's receiver when
//! that is unset, so no alert is ever routed nowhere. `playbook_url_template` gives the link
//! used when an alert has no `runbook_url` annotation ([`Owners::playbook_url`]).
//!
//! Templates are the small subset of Go templates these names need: literal text and
//! `{{ .Labels.name }}` or `{{ index .Labels "name" }}` actions; a missing label renders as
//! the empty string, as Go's templates do for Alertmanager's label maps.

use std::collections::BTreeMap;

use crate::store::Labels;

/// A template over an alert's labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelTemplate {
    source: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Label(String),
}

/// Why a label template (`receiver: 'team-{{ .Labels.team }}'`, `playbook_url_template`)
/// does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelTemplateError {
    #[error("unclosed action in template {0:?}")]
    Unclosed(String),
    #[error(
        "unsupported template action {{{{ {action} }}}} in {template:?}: expected {{{{ .Labels.name }}}} or {{{{ index .Labels \"name\" }}}}"
    )]
    UnsupportedAction { action: String, template: String },
}

impl LabelTemplate {
    /// Parses a template; fails on an unclosed `{{` or an action other than a label lookup.
    pub fn parse(source: &str) -> Result<LabelTemplate, LabelTemplateError> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| LabelTemplateError::Unclosed(source.to_string()))?;
            let action = after[..end]
                .trim_start_matches('-')
                .trim_end_matches('-')
                .trim();
            parts.push(Part::Label(parse_action(action).ok_or_else(|| {
                LabelTemplateError::UnsupportedAction {
                    action: action.to_string(),
                    template: source.to_string(),
                }
            })?));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(LabelTemplate {
            source: source.to_string(),
            parts,
        })
    }

    /// Whether `s` contains template actions at all.
    pub fn is_template(s: &str) -> bool {
        s.contains("{{")
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the template with an alert's labels.
    pub fn render(&self, labels: &Labels) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Label(name) => out.push_str(labels.get(name).unwrap_or("")),
            }
        }
        out
    }
}

fn parse_action(a: &str) -> Option<String> {
    let valid = |n: &str| {
        !n.is_empty()
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    if let Some(name) = a.strip_prefix(".Labels.") {
        return valid(name).then(|| name.to_string());
    }
    let rest = a.strip_prefix("index")?.trim_start();
    let rest = rest.strip_prefix(".Labels")?.trim();
    let name = rest.strip_prefix('"')?.strip_suffix('"')?;
    (!name.is_empty() && !name.contains('"')).then(|| name.to_string())
}

/// The validated `owners:` section.
#[derive(Clone, Debug)]
pub struct Owners {
    /// Labels naming an alert's owner, in order of preference. Default `[owner, team]`.
    pub labels: Vec<String>,
    /// Owner → receiver name.
    pub receivers: BTreeMap<String, String>,
    /// Where alerts go whose owner is unknown or whose templated receiver does not exist.
    /// `None` means the root route's receiver.
    pub fallback_receiver: Option<String>,
    /// The playbook link for alerts without a `runbook_url` annotation.
    pub playbook_url_template: Option<LabelTemplate>,
}

impl Default for Owners {
    fn default() -> Self {
        Owners {
            labels: vec!["owner".to_string(), "team".to_string()],
            receivers: BTreeMap::new(),
            fallback_receiver: None,
            playbook_url_template: None,
        }
    }
}

/// Why a destination's receiver was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiverChoice {
    /// The route tree's receiver, as Alertmanager would choose it.
    Route,
    /// The `owners.receivers` entry for this owner.
    Owner(String),
    /// A templated route receiver, rendered to an existing receiver.
    Template,
    /// The fallback receiver; `rendered` is the templated name that did not exist, if any.
    Fallback { rendered: Option<String> },
}

impl Owners {
    /// The alert's owner: the value of the first owner label it has.
    pub fn owner_of<'a>(&self, labels: &'a Labels) -> Option<&'a str> {
        self.labels.iter().find_map(|l| labels.get(l))
    }

    /// The playbook link: the `runbook_url` annotation when present, else the rendered
    /// `playbook_url_template`, else `None`.
    pub fn playbook_url(&self, labels: &Labels, runbook_url: Option<&str>) -> Option<String> {
        match runbook_url.filter(|u| !u.is_empty()) {
            Some(u) => Some(u.to_string()),
            None => self
                .playbook_url_template
                .as_ref()
                .map(|t| t.render(labels)),
        }
    }

    /// Applies the module's rule to one matched route. `owners` is `None` when the file has
    /// no `owners:` section (then only templated receivers differ from Alertmanager).
    pub fn resolve(
        owners: Option<&Owners>,
        route_receiver: &str,
        template: Option<&LabelTemplate>,
        root_receiver: &str,
        receiver_exists: impl Fn(&str) -> bool,
        labels: &Labels,
    ) -> (String, ReceiverChoice) {
        let fallback = owners
            .and_then(|o| o.fallback_receiver.clone())
            .unwrap_or_else(|| root_receiver.to_string());
        if let Some(t) = template {
            let name = t.render(labels);
            if receiver_exists(&name) {
                return (name, ReceiverChoice::Template);
            }
            return (
                fallback,
                ReceiverChoice::Fallback {
                    rendered: Some(name),
                },
            );
        }
        if let Some(o) = owners {
            if route_receiver == root_receiver {
                if let Some(owner) = o.owner_of(labels) {
                    if let Some(r) = o.receivers.get(owner) {
                        return (r.clone(), ReceiverChoice::Owner(owner.to_string()));
                    }
                }
                return (fallback, ReceiverChoice::Fallback { rendered: None });
            }
        }
        (route_receiver.to_string(), ReceiverChoice::Route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_renders_labels_and_missing_as_empty() {
        let t = LabelTemplate::parse("team-{{ .Labels.owner }}").unwrap();
        assert_eq!(t.render(&Labels::from_pairs([("owner", "db")])), "team-db");
        assert_eq!(t.render(&Labels::empty()), "team-");
        let t = LabelTemplate::parse(r#"x/{{index .Labels "alertname"}}/y"#).unwrap();
        assert_eq!(
            t.render(&Labels::from_pairs([("alertname", "Up")])),
            "x/Up/y"
        );
        assert!(LabelTemplate::parse("{{ .Labels.owner").is_err());
        assert_eq!(
            LabelTemplate::parse("{{ .Annotations.x }}")
                .unwrap_err()
                .to_string(),
            r#"unsupported template action {{ .Annotations.x }} in "{{ .Annotations.x }}": expected {{ .Labels.name }} or {{ index .Labels "name" }}"#
        );
        assert_eq!(
            LabelTemplate::parse("{{ .Labels.owner")
                .unwrap_err()
                .to_string(),
            r#"unclosed action in template "{{ .Labels.owner""#
        );
    }

    #[test]
    fn owner_map_applies_only_to_the_default_receiver() {
        let o = Owners {
            receivers: BTreeMap::from([("payments".to_string(), "team-pay".to_string())]),
            fallback_receiver: Some("triage".to_string()),
            ..Owners::default()
        };
        let exists = |_: &str| true;
        let pay = Labels::from_pairs([("team", "payments")]);
        let (r, c) = Owners::resolve(Some(&o), "default", None, "default", exists, &pay);
        assert_eq!(
            (r.as_str(), c),
            ("team-pay", ReceiverChoice::Owner("payments".into()))
        );
        let (r, _) = Owners::resolve(Some(&o), "pager", None, "default", exists, &pay);
        assert_eq!(r, "pager");
        let nobody = Labels::from_pairs([("team", "unknown")]);
        let (r, _) = Owners::resolve(Some(&o), "default", None, "default", exists, &nobody);
        assert_eq!(r, "triage");
    }

    #[test]
    fn missing_templated_receiver_falls_back() {
        let t = LabelTemplate::parse("team-{{ .Labels.owner }}").unwrap();
        let exists = |n: &str| n == "team-db";
        let db = Labels::from_pairs([("owner", "db")]);
        let (r, c) = Owners::resolve(None, "", Some(&t), "root", exists, &db);
        assert_eq!((r.as_str(), c), ("team-db", ReceiverChoice::Template));
        let other = Labels::from_pairs([("owner", "web")]);
        let (r, c) = Owners::resolve(None, "", Some(&t), "root", exists, &other);
        assert_eq!(r, "root");
        assert_eq!(
            c,
            ReceiverChoice::Fallback {
                rendered: Some("team-web".into())
            }
        );
    }

    #[test]
    fn playbook_prefers_runbook_annotation() {
        let o = Owners {
            playbook_url_template: Some(
                LabelTemplate::parse("https://p.example/{{ .Labels.alertname }}").unwrap(),
            ),
            ..Owners::default()
        };
        let l = Labels::from_pairs([("alertname", "Down")]);
        assert_eq!(
            o.playbook_url(&l, Some("https://r")).as_deref(),
            Some("https://r")
        );
        assert_eq!(
            o.playbook_url(&l, None).as_deref(),
            Some("https://p.example/Down")
        );
    }
}
