//! The PagerDuty integration (`pagerduty_configs`): one event per notification, Events API
//! v2 (`routing_key`) or v1 (`service_key`), as Alertmanager sends it.
//!
//! The event is `trigger` while any alert of the group fires and `resolve` once all have
//! resolved; its deduplication key (`dedup_key`, v1 `incident_key`) is the SHA-256 of the
//! group key, so PagerDuty folds a group's notifications into one incident. v2 sends
//! `payload.summary` (the description, cut at 1024 characters), `source`, `severity`
//! (default `error`), `class`, `component`, `group` and `custom_details` (the details), and
//! `client`, `client_url`, `images` and `links` (those whose `src` / `href` renders empty are
//! dropped). v1 sends `description`, `details`, and `client` / `client_url` on triggers.
//!
//! redline adds, only where Alertmanager would send nothing or leave a key unset: a link to
//! each distinct playbook of the alerts when the config has no `links` (v2), and the group's
//! owner as the `owner` detail unless the config sets one.
//!
//! An acknowledgement of the group (redline's, [`crate::alerting::ack`]) is sent as an event
//! of its own with the same key: v2 `event_action: acknowledge`, v1 `event_type: acknowledge`
//! with "Acknowledged by <who>: <comment>" as its description.
//!
//! Answers: 2xx succeeds; 5xx is retried, and 429 for v2 (PagerDuty's rate limit) or 403 for
//! v1; a 400's error details (`message: errors`) are reported.

use std::collections::BTreeMap;

use serde::Serialize;

use super::build::{IntegrationError, NotifyContext};
use super::http::{
    group_key_hash, impl_notifier, read_secret, truncate, Fields, HttpNotifier, HttpResponse,
    Retrier,
};
use super::{Notification, NotifyError};
use crate::alerting::ack::Ack;
use crate::config::alertmanager::integrations::pagerduty::{PagerdutyConfig, PagerdutyKey};

/// PagerDuty's limit on a summary / description, in characters.
const MAX_SUMMARY_CHARS: usize = 1024;

const RETRIER_V2: Retrier = Retrier {
    retry_codes: &[429],
    with_body: false,
};
const RETRIER_V1: Retrier = Retrier {
    retry_codes: &[403],
    with_body: false,
};

#[derive(Serialize)]
struct Message {
    #[serde(skip_serializing_if = "String::is_empty")]
    routing_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    service_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    dedup_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    incident_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    event_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    event_action: String,
    payload: Option<Payload>,
    #[serde(skip_serializing_if = "String::is_empty")]
    client: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    client_url: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    details: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    images: Vec<Image>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    links: Vec<Link>,
}

#[derive(Serialize)]
struct Payload {
    summary: String,
    source: String,
    severity: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    class: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    component: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    group: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    custom_details: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Image {
    src: String,
    alt: String,
    href: String,
}

#[derive(Serialize)]
struct Link {
    href: String,
    text: String,
}

/// One `pagerduty_configs` entry of a receiver.
pub type PagerdutyNotifier = HttpNotifier<PagerdutyConfig>;

impl PagerdutyNotifier {
    /// The integration `pagerduty[index]`; `path` names the entry in errors.
    pub fn new(
        index: usize,
        path: &str,
        config: &PagerdutyConfig,
        ctx: &NotifyContext,
    ) -> Result<PagerdutyNotifier, IntegrationError> {
        let c = config;
        let mut fields = Fields::new(ctx);
        fields.add_all(
            path,
            "",
            &[
                ("client", &c.client),
                ("client_url", &c.client_url),
                ("description", &c.description),
                ("source", &c.source),
                ("severity", &c.severity),
                ("class", &c.class),
                ("component", &c.component),
                ("group", &c.group),
            ],
        )?;
        fields.add_map(path, "details", &c.details)?;
        for (i, im) in c.images.iter().enumerate() {
            let texts = [("src", &im.src), ("alt", &im.alt), ("href", &im.href)];
            fields.add_all(path, &format!("images[{i}]."), &texts)?;
        }
        for (i, l) in c.links.iter().enumerate() {
            let texts = [("href", &l.href), ("text", &l.text)];
            fields.add_all(path, &format!("links[{i}]."), &texts)?;
        }
        HttpNotifier::with_fields("pagerduty", index, path, c, &c.http, fields)
    }

    fn message(&self, n: &Notification) -> Result<Message, NotifyError> {
        let data = self.fields.data(n);
        let r = |name: &str| self.fields.render(name, &data);
        let c = &self.config;
        let trigger = n.is_firing();
        let mut details = self.fields.render_map("details", &c.details, &data)?;
        if let Some(owner) = &data.owner {
            details
                .entry("owner".to_string())
                .or_insert_with(|| owner.clone());
        }
        let description = truncate(&r("description")?, MAX_SUMMARY_CHARS).0;
        let key = group_key_hash(&n.group_key);
        Ok(match &c.key {
            PagerdutyKey::Service(k) => Message {
                routing_key: String::new(),
                service_key: read_secret(k, "service_key")?.expose().to_string(),
                dedup_key: String::new(),
                incident_key: key,
                event_type: if trigger { "trigger" } else { "resolve" }.into(),
                description,
                event_action: String::new(),
                payload: None,
                client: if trigger { r("client")? } else { String::new() },
                client_url: if trigger {
                    r("client_url")?
                } else {
                    String::new()
                },
                details,
                images: Vec::new(),
                links: Vec::new(),
            },
            PagerdutyKey::Routing(k) => {
                let mut images = Vec::new();
                for i in 0..c.images.len() {
                    let f = |name: &str| r(&format!("images[{i}].{name}"));
                    let image = Image {
                        src: f("src")?,
                        alt: f("alt")?,
                        href: f("href")?,
                    };
                    if !image.src.is_empty() {
                        images.push(image);
                    }
                }
                let mut links = Vec::new();
                for i in 0..c.links.len() {
                    let f = |name: &str| r(&format!("links[{i}].{name}"));
                    let link = Link {
                        href: f("href")?,
                        text: f("text")?,
                    };
                    if !link.href.is_empty() {
                        links.push(link);
                    }
                }
                if c.links.is_empty() {
                    links.extend(data.playbook_urls().into_iter().map(|u| Link {
                        href: u.to_string(),
                        text: "Playbook".into(),
                    }));
                }
                let severity = r("severity")?;
                Message {
                    routing_key: read_secret(k, "routing_key")?.expose().to_string(),
                    service_key: String::new(),
                    dedup_key: key,
                    incident_key: String::new(),
                    event_type: String::new(),
                    description: String::new(),
                    event_action: if trigger { "trigger" } else { "resolve" }.into(),
                    payload: Some(Payload {
                        summary: description,
                        source: r("source")?,
                        severity: if c.severity.is_empty() {
                            "error".into()
                        } else {
                            severity
                        },
                        class: r("class")?,
                        component: r("component")?,
                        group: r("group")?,
                        custom_details: details,
                    }),
                    client: r("client")?,
                    client_url: r("client_url")?,
                    details: BTreeMap::new(),
                    images,
                    links,
                }
            }
        })
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let msg = self.message(n)?;
        let (retrier, what) = match self.config.key {
            PagerdutyKey::Service(_) => (RETRIER_V1, "PagerDuty v1"),
            PagerdutyKey::Routing(_) => (RETRIER_V2, "PagerDuty"),
        };
        let resp = self
            .http
            .post_json(&self.config.url, &msg, &[])
            .await
            .map_err(|e| NotifyError {
                message: format!("failed to post message to {what}: {}", e.message),
                ..e
            })?;
        retrier.check_with(&resp, error_details)
    }
}

/// PagerDuty's error details, reported for a 400: `message: error, error`.
fn error_details(resp: &HttpResponse) -> String {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(default)]
        message: String,
        #[serde(default)]
        errors: Vec<String>,
    }
    if resp.status != 400 {
        return String::new();
    }
    match serde_json::from_str::<Answer>(&resp.body) {
        Ok(a) => format!("{}: {}", a.message, a.errors.join(",")),
        Err(_) => String::new(),
    }
}

/// An acknowledgement as PagerDuty takes it: Events API v2 `event_action: acknowledge` (no
/// payload: PagerDuty reads one only for triggers), v1 `event_type: acknowledge` with a
/// description, both with the trigger's deduplication key.
#[derive(Serialize)]
struct AckMessage {
    #[serde(skip_serializing_if = "String::is_empty")]
    routing_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    dedup_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    event_action: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    service_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    incident_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    event_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
}

impl PagerdutyNotifier {
    fn ack_message(&self, ack: &Ack) -> Result<AckMessage, NotifyError> {
        let key = group_key_hash(&ack.group_key);
        let mut m = AckMessage {
            routing_key: String::new(),
            dedup_key: String::new(),
            event_action: String::new(),
            service_key: String::new(),
            incident_key: String::new(),
            event_type: String::new(),
            description: String::new(),
        };
        match &self.config.key {
            PagerdutyKey::Routing(k) => {
                m.routing_key = read_secret(k, "routing_key")?.expose().to_string();
                m.dedup_key = key;
                m.event_action = "acknowledge".into();
            }
            PagerdutyKey::Service(k) => {
                m.service_key = read_secret(k, "service_key")?.expose().to_string();
                m.incident_key = key;
                m.event_type = "acknowledge".into();
                let what = if ack.comment.is_empty() {
                    format!("Acknowledged by {}", ack.created_by)
                } else {
                    format!("Acknowledged by {}: {}", ack.created_by, ack.comment)
                };
                m.description = truncate(&what, MAX_SUMMARY_CHARS).0;
            }
        }
        Ok(m)
    }

    async fn send_ack(&self, ack: &Ack) -> Result<(), NotifyError> {
        let msg = self.ack_message(ack)?;
        let retrier = match self.config.key {
            PagerdutyKey::Service(_) => RETRIER_V1,
            PagerdutyKey::Routing(_) => RETRIER_V2,
        };
        let resp = self
            .http
            .post_json(&self.config.url, &msg, &[])
            .await
            .map_err(|e| NotifyError {
                message: format!(
                    "failed to post an acknowledgement to PagerDuty: {}",
                    e.message
                ),
                ..e
            })?;
        retrier.check_with(&resp, error_details)
    }
}

impl_notifier!(PagerdutyNotifier, {
    fn acknowledge<'a>(
        &'a self,
        ack: &'a Ack,
    ) -> Option<futures_util::future::BoxFuture<'a, Result<(), NotifyError>>> {
        Some(Box::pin(self.send_ack(ack)))
    }
});
