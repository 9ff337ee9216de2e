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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::dispatch::tests::{
        alert, names, put, put_down, resolved, start_default, SEC,
    };
    use crate::alerting::{AckEnd, NotificationReason, Pipeline};
    use crate::config::alertmanager::matchers::parse_matcher;
    use std::time::Duration;

    const MIN: Duration = Duration::from_secs(60);

    fn down() -> AckTarget {
        AckTarget::Matchers(vec![parse_matcher(r#"alertname="Down""#).unwrap()])
    }

    /// Keeps the `Down` alerts of `instances` and a `Control` alert firing (re-sent every 4
    /// minutes, within resolve_timeout) for `minutes`.
    async fn keep_firing(p: &Pipeline, instances: &[&str], minutes: u32) {
        for _ in 0..minutes / 4 {
            put_down(p, instances).await;
            put(p, &[&[("alertname", "Control")]]).await;
            tokio::time::sleep(4 * MIN).await;
        }
    }

    /// ROUTE: group_wait 30s, group_interval 5m, repeat_interval 1h. The `Down` group is
    /// acknowledged for 90 minutes: its repeat due at 65m30s is held until the flush after the
    /// acknowledgement ends (95m30s), while the unacknowledged `Control` group is repeated at
    /// 65m30s. Then a new alert in an acknowledged group is notified at once and ends the
    /// acknowledgement, and a resolution is notified while acknowledged.
    #[tokio::test(start_paused = true)]
    async fn an_ack_holds_repeats_until_it_ends_and_lets_new_alerts_and_resolutions_through() {
        let (rec, p) = start_default().await;
        put_down(&p, &["a", "b"]).await;
        put(&p, &[&[("alertname", "Control")]]).await;
        tokio::time::sleep(31 * SEC).await;
        assert_eq!(rec.sent().len(), 2, "both groups notified at 30s");
        let t_ack = p.now_ms();
        let made = p
            .acknowledge(down(), "alice".into(), "on it".into(), t_ack + 90 * 60_000)
            .await
            .unwrap();
        assert_eq!(made.len(), 1);
        assert_eq!(made[0].group_key, r#"{}:{alertname="Down"}"#);
        assert_eq!(made[0].fingerprints.len(), 2);
        let of = |group: &str| -> Vec<(i64, NotificationReason)> {
            rec.sent()
                .iter()
                .filter(|n| n.group_key.contains(group))
                .map(|n| ((n.now_ms - t_ack) / 1000, n.reason))
                .collect()
        };
        keep_firing(&p, &["a", "b"], 100).await;
        // Flushes at 30s + k·5m; t_ack is 31s. Control: repeat at 65m30s (3899s after t_ack).
        assert_eq!(
            of("Control"),
            [
                (-1, NotificationReason::NewAlerts),
                (3899, NotificationReason::RepeatInterval)
            ]
        );
        // Down: held from 65m30s to 90m30s, repeated at 95m30s (the ack ended at 90m31s).
        assert_eq!(
            of("Down"),
            [
                (-1, NotificationReason::NewAlerts),
                (5699, NotificationReason::RepeatInterval)
            ]
        );

        // Acknowledged again; c joins the group: notified at the next flush (105m30s), and
        // the acknowledgement, which does not cover c, ends.
        let again = p
            .acknowledge(down(), "bob".into(), String::new(), p.now_ms() + 7_200_000)
            .await
            .unwrap();
        put_down(&p, &["a", "b", "c"]).await;
        tokio::time::sleep(5 * MIN).await;
        let sent = rec.sent();
        let last = sent.last().unwrap();
        assert_eq!(last.reason, NotificationReason::NewAlerts);
        assert_eq!(names(last), ["a", "b", "c"]);
        let ended = p.acks().get(&again[0].id).unwrap();
        assert_eq!(ended.ended_by, Some(AckEnd::NewAlerts));

        // Acknowledged with c; a resolves: the resolution is sent (110m30s).
        put_down(&p, &["a", "b", "c"]).await;
        p.acknowledge(down(), "bob".into(), String::new(), p.now_ms() + 7_200_000)
            .await
            .unwrap();
        let a = alert(&p, &[("alertname", "Down"), ("instance", "a")]);
        p.put_alerts(vec![resolved(a, p.now_ms())]).await.unwrap();
        put_down(&p, &["b", "c"]).await;
        tokio::time::sleep(5 * MIN).await;
        let down: Vec<NotificationReason> = of("Down").into_iter().map(|x| x.1).collect();
        assert_eq!(
            down,
            [
                NotificationReason::NewAlerts,
                NotificationReason::RepeatInterval,
                NotificationReason::NewAlerts,
                NotificationReason::Resolved
            ]
        );
        assert_eq!(
            p.acks()
                .list()
                .iter()
                .filter(|a| a.is_active(p.now_ms()))
                .count(),
            1
        );
    }

    #[tokio::test(start_paused = true)]
    async fn acknowledging_names_only_firing_groups() {
        let (_rec, p) = start_default().await;
        put_down(&p, &["a"]).await;
        let miss = AckTarget::Matchers(vec![parse_matcher(r#"alertname="Up""#).unwrap()]);
        let e = p
            .acknowledge(miss, "alice".into(), String::new(), p.now_ms() + 60_000)
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "matchers: no firing alert matches");
        let fp = alert(&p, &[("alertname", "Down"), ("instance", "a")]).fingerprint();
        let made = p
            .acknowledge(
                AckTarget::Fingerprint(fp),
                "alice".into(),
                String::new(),
                p.now_ms() + 60_000,
            )
            .await
            .unwrap();
        assert_eq!(made[0].fingerprints, [fp].into_iter().collect());
        let by_key = AckTarget::GroupKey(made[0].group_key.clone());
        let again = p
            .acknowledge(by_key, "bob".into(), String::new(), p.now_ms() + 60_000)
            .await
            .unwrap();
        assert_eq!(again[0].group_key, made[0].group_key);
        assert_eq!(p.acks().of_alert(fp).len(), 2);
    }
}
