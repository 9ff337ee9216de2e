//! Notifications: what the dispatcher hands to a receiver's integrations, and the
//! [`Notifier`] each integration (webhook, email, Slack, PagerDuty, Opsgenie, VictorOps, and
//! the chat and push integrations of [`chat`]) implements; [`http`] holds what the HTTP
//! integrations share.
//!
//! The dispatcher flushes an aggregation group into one [`Notification`] per receiver; each
//! of the receiver's integrations gets it, filters out resolved alerts when it does not
//! `send_resolved`, and delivers it. A [`NotifyError`] says whether trying again could help;
//! the dispatcher owns retries, backoff and the notification log.

pub mod build;
pub mod chat;
pub mod data;
pub mod discord;
pub mod email;
pub mod http;
pub mod mattermost;
pub mod msteams;
pub mod msteamsv2;
pub mod opsgenie;
pub mod pagerduty;
pub mod pushover;
pub mod rocketchat;
pub mod slack;
pub mod telegram;
pub mod templates;
pub mod victorops;
pub mod webex;
pub mod webhook;

pub use build::{all_integrations, integrations, IntegrationError, NotifyContext};

use futures_util::future::BoxFuture;

use super::alert::Alert;
use crate::store::Labels;

/// Why a group is notified now (the payload's `notification_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationReason {
    /// Firing alerts the receiver has not been told about.
    NewAlerts,
    /// Alerts the receiver was told were firing have resolved.
    Resolved,
    /// Nothing changed, but `repeat_interval` has elapsed since the last notification.
    RepeatInterval,
}

impl NotificationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationReason::NewAlerts => "new_alerts",
            NotificationReason::Resolved => "resolved",
            NotificationReason::RepeatInterval => "repeat_interval",
        }
    }
}

/// One alert of a notification, with what redline adds to Alertmanager's model.
#[derive(Clone, Debug, PartialEq)]
pub struct NotifiedAlert {
    pub alert: Alert,
    /// The alert's owner (see [`crate::config::alertmanager::owners`]), when known.
    pub owner: Option<String>,
    /// The alert's `runbook_url`, or the playbook link made from the owners' template.
    pub playbook_url: Option<String>,
}

/// What one receiver is told about one aggregation group.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// The receiver's name (the payload's `receiver`).
    pub receiver: String,
    /// Alertmanager's group key (`{}/{severity="page"}:{alertname="X"}`).
    pub group_key: String,
    /// The labels the group is grouped by.
    pub group_labels: Labels,
    /// Firing and resolved alerts of the group, in Alertmanager's order.
    pub alerts: Vec<NotifiedAlert>,
    /// The time the group was flushed, unix ms: alert status (firing/resolved) is judged at it.
    pub now_ms: i64,
    pub reason: NotificationReason,
}

impl Notification {
    /// Whether any alert is firing at [`Notification::now_ms`].
    pub fn is_firing(&self) -> bool {
        self.alerts
            .iter()
            .any(|a| !a.alert.resolved_at(self.now_ms))
    }

    /// The notification with only the firing alerts, for an integration that does not send
    /// resolved ones; `None` when nothing is left.
    pub fn without_resolved(&self) -> Option<Notification> {
        let alerts: Vec<NotifiedAlert> = self
            .alerts
            .iter()
            .filter(|a| !a.alert.resolved_at(self.now_ms))
            .cloned()
            .collect();
        (!alerts.is_empty()).then(|| Notification {
            alerts,
            ..self.clone()
        })
    }
}

/// A failed delivery.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NotifyError {
    /// Trying again may succeed (connection refused, timeout, 5xx, 429); a 4xx is not retried.
    pub retryable: bool,
    pub message: String,
}

/// One integration of a receiver (`webhook_configs[0]`, `email_configs[1]`, …).
pub trait Notifier: Send + Sync {
    /// The integration's name and index as Alertmanager logs and records it in its
    /// notification log, e.g. `webhook[0]`.
    fn integration(&self) -> &str;

    /// Whether resolved alerts are sent (`send_resolved`).
    fn send_resolved(&self) -> bool;

    /// Delivers one notification: one attempt, no retries.
    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>>;

    /// Tells the receiver that a group it was notified about is acknowledged, as a message
    /// of its own where the integration has one (PagerDuty's `acknowledge` event): one
    /// attempt. `None` (the default) where it has none.
    fn acknowledge<'a>(
        &'a self,
        _ack: &'a super::ack::Ack,
    ) -> Option<BoxFuture<'a, Result<(), NotifyError>>> {
        None
    }
}
