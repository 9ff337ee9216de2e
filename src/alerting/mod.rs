//! The alerting runtime: what happens to alerts once rules, SLOs or API clients hand them
//! over, configured by [`crate::config::alertmanager`] (Alertmanager's `alertmanager.yml` and
//! redline's owner routing).
//!
//! [`Pipeline`] is the handle everyone shares: [`provider`] keeps the alerts, [`inhibit`] and
//! [`silence`] mute them, [`dispatch`] groups them per route into aggregation groups with
//! their timers, [`nflog`] decides per integration whether a notification is due,
//! [`delivery`] sends through [`notify`]'s integrations (webhook, email) with retries, and
//! [`status`] answers what state an alert is in, [`history`] records every notification and
//! what held alerts back; [`replica`] is what running as one of
//! several replicas adds (the send gate, idempotency keys). Everything that must survive a restart is
//! written through to [`crate::state`].

pub mod ack;
pub mod acknowledge;
pub mod alert;
pub mod delivery;
pub mod dispatch;
pub mod explain;
pub mod history;
pub mod inhibit;
pub mod nflog;
pub mod notify;
pub mod pipeline;
pub mod provider;
pub mod replica;
pub mod silence;
pub mod status;

pub use ack::{Ack, AckEnd, AckError, AckRequest, Acks};
pub use alert::{fingerprint, fingerprint_hex, Alert};
pub use inhibit::Inhibitor;
pub use notify::{Notification, NotificationReason, Notifier, NotifyError};
pub use pipeline::{
    standard_integrations, AlertStatuses, IntegrationFactory, Pipeline, PipelineError,
    PipelineOptions,
};
pub use silence::{Silence, SilenceError, SilenceState, Silences};
pub use status::{alert_status, AlertState, AlertStatus, StatusCache};
