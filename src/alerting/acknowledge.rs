//! What acknowledging does in the running pipeline ([`super::Pipeline::acknowledge`]): find
//! the firing aggregation groups a request names ([`AckTarget`], [`firing_groups`]), and tell
//! their receivers through the integrations that have a message for it ([`send_notices`]).
//!
//! A notice goes only from the replica that may send (the send gate; a replica that learns of
//! an acknowledgement from a peer sends it if it holds the gate), only to integrations the
//! notification log shows told of the group's firing alerts (there is nothing to acknowledge
//! at PagerDuty before its trigger), and is retried with the delivery's backoff a few times;
//! a notice that still fails is logged (the acknowledgement itself holds either way).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::ack::Ack;
use super::delivery::Delivery;
use super::dispatch::Dispatcher;
use super::nflog::NflogKey;
use crate::backoff::Backoff;
use crate::config::alertmanager::Matcher;

/// Attempts per acknowledgement notice.
const NOTICE_ATTEMPTS: u32 = 4;

/// Which groups an acknowledgement request names.
#[derive(Clone, Debug)]
pub enum AckTarget {
    /// The group with this key (every receiver it notifies).
    GroupKey(String),
    /// The groups the alert with this fingerprint fires in.
    Fingerprint(u64),
    /// The groups in which an alert matching every matcher fires.
    Matchers(Vec<Matcher>),
}

/// One firing group a request names: its key, receiver and firing alerts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FiringGroup {
    pub group_key: String,
    pub receiver: String,
    pub firing: BTreeSet<u64>,
}

/// The groups `target` names that have a firing alert at `now_ms`, by group key and receiver.
pub fn firing_groups(dispatcher: &Dispatcher, target: &AckTarget, now_ms: i64) -> Vec<FiringGroup> {
    let mut out = Vec::new();
    for g in dispatcher.groups() {
        let firing: Vec<&super::Alert> =
            g.alerts.iter().filter(|a| !a.resolved_at(now_ms)).collect();
        let named = match target {
            AckTarget::GroupKey(k) => *k == g.group_key,
            AckTarget::Fingerprint(fp) => firing.iter().any(|a| a.fingerprint() == *fp),
            AckTarget::Matchers(ms) => firing
                .iter()
                .any(|a| ms.iter().all(|m| m.matches_labels(&a.labels))),
        };
        if named && !firing.is_empty() {
            out.push(FiringGroup {
                group_key: g.group_key,
                receiver: g.receiver,
                firing: firing.iter().map(|a| a.fingerprint()).collect(),
            });
        }
    }
    out.sort_by(|a, b| (&a.group_key, &a.receiver).cmp(&(&b.group_key, &b.receiver)));
    out.dedup();
    out
}

/// Sends `ack`'s notice through every integration of its receiver that has one and was told
/// of the group's firing alerts, each in its own task; returns how many were started.
/// `now_ms` is the pipeline's clock; `backoff` times the retries.
pub fn send_notices(
    dispatcher: &Dispatcher,
    delivery: &Arc<Delivery>,
    ack: &Ack,
    now_ms: i64,
    backoff: Backoff,
) -> usize {
    if !delivery.may_send() {
        return 0;
    }
    let now = now_ms;
    let mut started = 0;
    for q in dispatcher.queues(&ack.receiver) {
        let key = NflogKey {
            group_key: ack.group_key.clone(),
            receiver: ack.receiver.clone(),
            integration: q.integration().to_string(),
        };
        let told = delivery
            .nflog()
            .get(&key, now)
            .is_some_and(|e| !e.firing.is_empty());
        if !told || q.notifier.acknowledge(ack).is_none() {
            continue;
        }
        let notifier = q.notifier.clone();
        let delivery = delivery.clone();
        let ack = ack.clone();
        tokio::spawn(async move {
            for attempt in 0..NOTICE_ATTEMPTS {
                if !delivery.may_send() {
                    return;
                }
                let Some(sending) = notifier.acknowledge(&ack) else {
                    return;
                };
                match sending.await {
                    Ok(()) => {
                        tracing::info!(id = %ack.id, receiver = %ack.receiver, integration = notifier.integration(), "acknowledgement sent");
                        return;
                    }
                    Err(e) if e.retryable && attempt + 1 < NOTICE_ATTEMPTS => {
                        tokio::time::sleep(backoff.jittered(attempt)).await;
                    }
                    Err(e) => {
                        tracing::warn!(id = %ack.id, receiver = %ack.receiver, integration = notifier.integration(), error = %e, "sending an acknowledgement failed");
                        return;
                    }
                }
            }
        });
        started += 1;
    }
    started
}
