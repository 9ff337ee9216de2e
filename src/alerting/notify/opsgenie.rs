//! The Opsgenie integration (`opsgenie_configs`): Opsgenie's Alert API v2, as Alertmanager
//! uses it, authenticated with `Authorization: GenieKey <api_key>`.
//!
//! While any alert of the group fires, one alert is created (`POST {api_url}v2/alerts`) with
//! the SHA-256 of the group key as its `alias`, the message (cut at 130 characters),
//! description, source, details (the common labels, overridden by the config's `details`),
//! responders (empty ones dropped, a `teams` responder split into one `team` per name), tags
//! and actions (comma-separated, empty items dropped), note, priority and entity. With
//! `update_alerts`, the message and description of an existing alert are also updated
//! (`PUT …/message` and `…/description`, `identifierType=alias`). Once all alerts have
//! resolved, the alert is closed (`POST …/close?identifierType=alias` with the `source`).
//!
//! redline adds the group's owner as the `owner` detail unless the labels or the config set
//! one.
//!
//! Answers: 2xx succeeds; 5xx and 429 are retried; the body follows the status in errors.

use std::collections::BTreeMap;

use serde::Serialize;

use super::build::{IntegrationError, NotifyContext};
use super::http::{
    group_key_hash, impl_notifier, read_secret, truncate, Fields, HttpNotifier, Retrier,
};
use super::{Notification, NotifyError};
use crate::config::alertmanager::integrations::opsgenie::OpsGenieConfig;

/// Opsgenie's limit on a message, in characters.
const MAX_MESSAGE_CHARS: usize = 130;

const RETRIER: Retrier = Retrier {
    retry_codes: &[429],
    with_body: true,
};

#[derive(Serialize)]
struct Create {
    alias: String,
    message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    details: BTreeMap<String, String>,
    source: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    responders: Vec<Responder>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    note: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    priority: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    entity: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    actions: Vec<String>,
}

#[derive(Serialize, PartialEq)]
struct Responder {
    #[serde(skip_serializing_if = "String::is_empty")]
    id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    username: String,
    #[serde(rename = "type")]
    kind: String,
}

/// Alertmanager's `safeSplit`: the trimmed text split at `,`, empty items dropped.
fn safe_split(s: &str) -> Vec<String> {
    s.trim()
        .split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// One `opsgenie_configs` entry of a receiver.
pub type OpsGenieNotifier = HttpNotifier<OpsGenieConfig>;

/// One request of a notification.
struct Request {
    method: reqwest::Method,
    url: String,
    body: serde_json::Value,
}

impl OpsGenieNotifier {
    /// The integration `opsgenie[index]`; `path` names the entry in errors.
    pub fn new(
        index: usize,
        path: &str,
        config: &OpsGenieConfig,
        ctx: &NotifyContext,
    ) -> Result<OpsGenieNotifier, IntegrationError> {
        let c = config;
        let mut fields = Fields::new(ctx);
        fields.add_all(
            path,
            "",
            &[
                ("message", &c.message),
                ("description", &c.description),
                ("source", &c.source),
                ("entity", &c.entity),
                ("actions", &c.actions),
                ("tags", &c.tags),
                ("note", &c.note),
                ("priority", &c.priority),
            ],
        )?;
        fields.add_map(path, "details", &c.details)?;
        for (i, r) in c.responders.iter().enumerate() {
            fields.add_all(
                path,
                &format!("responders[{i}]."),
                &[
                    ("id", &r.id),
                    ("name", &r.name),
                    ("username", &r.username),
                    ("type", &r.kind),
                ],
            )?;
        }
        HttpNotifier::with_fields("opsgenie", index, path, c, &c.http, fields)
    }

    fn requests(&self, n: &Notification) -> Result<Vec<Request>, NotifyError> {
        let data = self.fields.data(n);
        let r = |name: &str| self.fields.render(name, &data);
        let c = &self.config;
        let alias = group_key_hash(&n.group_key);
        let base = c.api_url.as_str();
        if !n.is_firing() {
            return Ok(vec![Request {
                method: reqwest::Method::POST,
                url: format!("{base}v2/alerts/{alias}/close?identifierType=alias"),
                body: serde_json::json!({ "source": r("source")? }),
            }]);
        }
        let mut details: BTreeMap<String, String> = data.common_labels.clone();
        details.extend(self.fields.render_map("details", &c.details, &data)?);
        if let Some(owner) = &data.owner {
            details
                .entry("owner".to_string())
                .or_insert_with(|| owner.clone());
        }
        let mut responders = Vec::new();
        for i in 0..c.responders.len() {
            let f = |name: &str| r(&format!("responders[{i}].{name}"));
            let responder = Responder {
                id: f("id")?,
                name: f("name")?,
                username: f("username")?,
                kind: f("type")?,
            };
            if responder.id.is_empty()
                && responder.name.is_empty()
                && responder.username.is_empty()
                && responder.kind.is_empty()
            {
                continue;
            }
            if responder.kind == "teams" {
                responders.extend(
                    safe_split(&responder.name)
                        .into_iter()
                        .map(|team| Responder {
                            id: String::new(),
                            name: team,
                            username: String::new(),
                            kind: "team".into(),
                        }),
                );
                continue;
            }
            responders.push(responder);
        }
        let create = Create {
            alias: alias.clone(),
            message: truncate(&r("message")?, MAX_MESSAGE_CHARS).0,
            description: r("description")?,
            details,
            source: r("source")?,
            responders,
            tags: safe_split(&r("tags")?),
            note: r("note")?,
            priority: r("priority")?,
            entity: r("entity")?,
            actions: safe_split(&r("actions")?),
        };
        let mut out = Vec::new();
        if c.update_alerts {
            let mut update = |what: &str, body: serde_json::Value| {
                out.push(Request {
                    method: reqwest::Method::PUT,
                    url: format!("{base}v2/alerts/{alias}/{what}?identifierType=alias"),
                    body,
                })
            };
            let message = if create.message.is_empty() {
                serde_json::json!({})
            } else {
                serde_json::json!({ "message": create.message })
            };
            let description = if create.description.is_empty() {
                serde_json::json!({})
            } else {
                serde_json::json!({ "description": create.description })
            };
            update("message", message);
            update("description", description);
        }
        out.insert(
            0,
            Request {
                method: reqwest::Method::POST,
                url: format!("{base}v2/alerts"),
                body: serde_json::to_value(&create)
                    .map_err(|e| super::http::fatal(format!("encoding the payload: {e}")))?,
            },
        );
        Ok(out)
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let requests = self.requests(n)?;
        let key = read_secret(&self.config.api_key, "api_key")?;
        let auth = format!("GenieKey {}", key.expose());
        for req in requests {
            let resp = self
                .http
                .send_json(
                    req.method,
                    &req.url,
                    &req.body,
                    &[("authorization", auth.clone())],
                )
                .await?;
            RETRIER.check(&resp)?;
        }
        Ok(())
    }
}

impl_notifier!(OpsGenieNotifier);
