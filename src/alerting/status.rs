//! An alert's status as the Alertmanager v2 API and the dashboard show it: whether it is
//! silenced or inhibited (and by what), and the receivers its routes choose.
//!
//! As Alertmanager's `GET /api/v2/alerts`, the status is computed when asked, from the current
//! silences and inhibitor: `suppressed` when some silence or inhibition mutes it, `active`
//! otherwise. `unprocessed` exists for API compatibility (an alert not yet seen by the
//! pipeline); [`alert_status`] never returns it.
//!
//! [`StatusCache`] keeps what [`alert_status`] computed, so that a list of many alerts (the
//! dashboard, `GET /api/v2/alerts`, `redline_alerts`) does not route and match every alert on
//! every request: receivers per alert for the life of a configuration, and silences and
//! inhibitions per alert while neither the silences nor the inhibitor's source alerts change
//! ([`Silences::version`], [`Inhibitor::version`]) and no silence or source starts or ends
//! (their `next_change_after`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::alert::{fingerprint_hex, Alert};
use super::inhibit::Inhibitor;
use super::silence::Silences;
use crate::config::alertmanager::AlertmanagerConfig;

/// Alertmanager's alert states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Unprocessed,
    Active,
    Suppressed,
}

impl AlertState {
    /// `"unprocessed"`, `"active"` or `"suppressed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Unprocessed => "unprocessed",
            AlertState::Active => "active",
            AlertState::Suppressed => "suppressed",
        }
    }
}

/// The status of one alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertStatus {
    pub state: AlertState,
    /// Ids of the active silences muting the alert, sorted.
    pub silenced_by: Vec<String>,
    /// Fingerprints (16 hex digits) of the alerts inhibiting it.
    pub inhibited_by: Vec<String>,
    /// The receiver of each matching route, in route order (repeats kept, as upstream).
    pub receivers: Vec<String>,
}

/// Computes an alert's status at `now_ms`.
pub fn alert_status(
    alert: &Alert,
    config: &AlertmanagerConfig,
    silences: &Silences,
    inhibitor: &Inhibitor,
    now_ms: i64,
) -> AlertStatus {
    let inhibited_by: Vec<String> = inhibitor
        .inhibited_by(&alert.labels, now_ms)
        .into_iter()
        .map(fingerprint_hex)
        .collect();
    let silenced_by = silences.silenced_by(&alert.labels, now_ms);
    let receivers = config
        .destinations(&alert.labels)
        .into_iter()
        .map(|d| d.receiver)
        .collect();
    let state = if silenced_by.is_empty() && inhibited_by.is_empty() {
        AlertState::Active
    } else {
        AlertState::Suppressed
    };
    AlertStatus {
        state,
        silenced_by,
        inhibited_by,
        receivers,
    }
}

/// Silences and inhibitions of one alert, as cached; `None` when neither mutes it.
type Muting = Option<Arc<(Vec<String>, Vec<String>)>>;

/// What the cached mutings were computed from: the versions of the silences and of the
/// inhibitor, and the time range over which neither answers differently.
#[derive(Clone, Copy, PartialEq, Eq)]
struct MutingKey {
    silences: u64,
    inhibitor: u64,
    from_ms: i64,
    until_ms: i64,
}

#[derive(Default)]
struct CacheState {
    /// Receivers by alert fingerprint; receivers lists shared between alerts.
    receivers: HashMap<u64, Arc<[String]>>,
    distinct_receivers: HashMap<Vec<String>, Arc<[String]>>,
    muting_key: Option<MutingKey>,
    muting: HashMap<u64, Muting>,
    /// Silences and inhibitions computed (not found in the cache) so far.
    computed: u64,
}

/// Statuses computed by [`alert_status`], kept for one configuration and its inhibitor (the
/// pipeline builds a new cache on reload). See the module documentation for when an entry is
/// used again.
#[derive(Default)]
pub struct StatusCache {
    state: Mutex<CacheState>,
}

impl std::fmt::Debug for StatusCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusCache").finish_non_exhaustive()
    }
}

impl StatusCache {
    /// An empty cache.
    pub fn new() -> StatusCache {
        StatusCache::default()
    }

    /// The status of `alert` at `now_ms`, equal to [`alert_status`]'s with the same
    /// arguments; `config` and `inhibitor` must be the ones this cache belongs to.
    pub fn status(
        &self,
        alert: &Alert,
        config: &AlertmanagerConfig,
        silences: &Silences,
        inhibitor: &Inhibitor,
        now_ms: i64,
    ) -> AlertStatus {
        // The versions are read before anything is computed from the silences or sources:
        // a change made meanwhile bumps them after it, so what is stored under these versions
        // is discarded by the next reader.
        let (sv, iv) = (silences.version(), inhibitor.version());
        let fp = alert.fingerprint();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let valid = st.muting_key.is_some_and(|k| {
            k.silences == sv && k.inhibitor == iv && k.from_ms <= now_ms && now_ms < k.until_ms
        });
        if !valid {
            st.muting.clear();
            st.muting_key = Some(MutingKey {
                silences: sv,
                inhibitor: iv,
                from_ms: now_ms,
                until_ms: silences
                    .next_change_after(now_ms)
                    .min(inhibitor.next_change_after(now_ms)),
            });
        }
        let receivers = match st.receivers.get(&fp) {
            Some(r) => r.clone(),
            None => {
                let list: Vec<String> = config
                    .destinations(&alert.labels)
                    .into_iter()
                    .map(|d| d.receiver)
                    .collect();
                let shared = st
                    .distinct_receivers
                    .entry(list)
                    .or_insert_with_key(|l| Arc::from(l.clone()))
                    .clone();
                st.receivers.insert(fp, shared.clone());
                shared
            }
        };
        let muting = match st.muting.get(&fp) {
            Some(m) => m.clone(),
            None => {
                let silenced_by = silences.silenced_by(&alert.labels, now_ms);
                let inhibited_by: Vec<String> = inhibitor
                    .inhibited_by(&alert.labels, now_ms)
                    .into_iter()
                    .map(fingerprint_hex)
                    .collect();
                let m = (!silenced_by.is_empty() || !inhibited_by.is_empty())
                    .then(|| Arc::new((silenced_by, inhibited_by)));
                st.muting.insert(fp, m.clone());
                st.computed += 1;
                m
            }
        };
        drop(st);
        let (silenced_by, inhibited_by) = muting
            .map(|m| (m.0.clone(), m.1.clone()))
            .unwrap_or_default();
        AlertStatus {
            state: if silenced_by.is_empty() && inhibited_by.is_empty() {
                AlertState::Active
            } else {
                AlertState::Suppressed
            },
            silenced_by,
            inhibited_by,
            receivers: receivers.to_vec(),
        }
    }

    /// Drops what is kept for an alert the pipeline no longer holds.
    pub fn forget(&self, fp: u64) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.receivers.remove(&fp);
        st.muting.remove(&fp);
    }

    /// How many times the silences and inhibitions of an alert were computed rather than
    /// found in the cache (for tests and figures).
    pub fn computed(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .computed
    }

    /// How many alerts have cached receivers (for tests).
    pub fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .receivers
            .len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::silence::tests::sil as silence;
    use crate::store::Labels;

    const NOW: i64 = 1_800_000_000_000;

    fn alert(pairs: &[(&str, &str)]) -> Alert {
        Alert {
            labels: Labels::from_pairs(pairs.iter().copied()),
            annotations: Labels::empty(),
            starts_at_ms: NOW - 1000,
            ends_at_ms: NOW + 300_000,
            generator_url: String::new(),
            updated_at_ms: NOW,
            timeout: true,
        }
    }

    #[tokio::test]
    async fn status_shows_silences_inhibitions_and_receivers() {
        let cfg = AlertmanagerConfig::from_yaml_str(
            r#"
route:
  receiver: default
  routes:
    - matchers: ['severity="page"']
      receiver: pager
inhibit_rules:
  - source_matchers: ['severity="page"']
    target_matchers: ['severity="ticket"']
    equal: [job]
receivers: [{name: default}, {name: pager}]
"#,
            "alertmanager.yml",
        )
        .unwrap();
        let ih = Inhibitor::new(&cfg.inhibit_rules);
        let silences = Silences::in_memory();
        let page = alert(&[("alertname", "Burn"), ("severity", "page"), ("job", "api")]);
        let ticket = alert(&[
            ("alertname", "Slow"),
            ("severity", "ticket"),
            ("job", "api"),
        ]);
        ih.observe(&page, NOW);
        ih.observe(&ticket, NOW);

        let st = alert_status(&page, &cfg, &silences, &ih, NOW);
        assert_eq!(st.state, AlertState::Active);
        assert_eq!(st.receivers, vec!["pager"]);
        assert!(st.silenced_by.is_empty() && st.inhibited_by.is_empty());

        let st = alert_status(&ticket, &cfg, &silences, &ih, NOW);
        assert_eq!(st.state, AlertState::Suppressed);
        assert_eq!(st.inhibited_by, vec![fingerprint_hex(page.fingerprint())]);
        assert_eq!(st.receivers, vec!["default"]);

        let id = silences
            .upsert(silence("alertname=Burn", NOW, NOW + 60_000), NOW)
            .await
            .unwrap();
        let st = alert_status(&page, &cfg, &silences, &ih, NOW);
        assert_eq!(st.state, AlertState::Suppressed);
        assert_eq!(st.silenced_by, vec![id]);
        assert_eq!(AlertState::Suppressed.as_str(), "suppressed");
    }

    const CFG: &str = r#"
route:
  receiver: default
  routes:
    - matchers: ['severity="page"']
      receiver: pager
      continue: true
    - matchers: ['job="api"']
      receiver: api
inhibit_rules:
  - source_matchers: ['severity="page"']
    target_matchers: ['severity="ticket"']
    equal: [job]
receivers: [{name: default}, {name: pager}, {name: api}]
"#;

    /// Every alert's cached status against the one computed afresh, at `now`.
    fn assert_cache_agrees(
        step: &str,
        cache: &StatusCache,
        alerts: &[Alert],
        cfg: &AlertmanagerConfig,
        silences: &Silences,
        ih: &Inhibitor,
        now: i64,
    ) {
        for a in alerts {
            assert_eq!(
                cache.status(a, cfg, silences, ih, now),
                alert_status(a, cfg, silences, ih, now),
                "{step}: status of {:?}",
                a.labels
            );
        }
    }

    // A cached status must follow every change that changes the computed one: silences
    // created, starting, ending and expired; an inhibiting alert resolved by its sender, by
    // its end passing, or forgotten; a new source. A stale cache shows a silenced alert as
    // firing (or the reverse) on the dashboard and in `GET /api/v2/alerts`.
    #[tokio::test]
    async fn cached_status_follows_silences_inhibitions_and_time() {
        let cfg = AlertmanagerConfig::from_yaml_str(CFG, "alertmanager.yml").unwrap();
        let ih = Inhibitor::new(&cfg.inhibit_rules);
        let silences = Silences::in_memory();
        let cache = StatusCache::new();
        let mut page = alert(&[("alertname", "Burn"), ("severity", "page"), ("job", "api")]);
        page.ends_at_ms = NOW + 10_000;
        let ticket = alert(&[
            ("alertname", "Slow"),
            ("severity", "ticket"),
            ("job", "api"),
        ]);
        let other = alert(&[("alertname", "Disk"), ("job", "node")]);
        let alerts = vec![page.clone(), ticket.clone(), other.clone()];
        let check = |step: &str, now: i64| {
            assert_cache_agrees(step, &cache, &alerts, &cfg, &silences, &ih, now)
        };

        check("no source, no silence", NOW);
        ih.observe(&page, NOW);
        check("source arrives", NOW);
        assert_eq!(
            cache.status(&ticket, &cfg, &silences, &ih, NOW).state,
            AlertState::Suppressed
        );
        // Re-posted with a later end: still inhibiting.
        let mut later = page.clone();
        later.ends_at_ms = NOW + 20_000;
        ih.observe(&later, NOW + 1);
        check("source re-posted", NOW + 1);
        // Its end passes: the ticket fires again without any call into the inhibitor.
        check("source end passes", NOW + 20_000);
        check("after the end", NOW + 20_001);
        ih.observe(&page, NOW + 2);
        check("source firing again", NOW + 2);
        let mut resolved = page.clone();
        resolved.ends_at_ms = NOW + 3;
        ih.observe(&resolved, NOW + 3);
        check("source resolved by its sender", NOW + 3);
        ih.observe(&page, NOW + 4);
        check("source back", NOW + 4);
        ih.forget(page.fingerprint());
        check("source forgotten", NOW + 4);

        // A silence that starts later, then ends.
        let id = silences
            .upsert(silence("alertname=Disk", NOW + 100, NOW + 200), NOW + 5)
            .await
            .unwrap();
        check("pending silence", NOW + 5);
        check("silence starts", NOW + 100);
        assert_eq!(
            cache
                .status(&other, &cfg, &silences, &ih, NOW + 100)
                .silenced_by,
            vec![id.clone()]
        );
        check("silence's last millisecond", NOW + 200);
        check("silence ended", NOW + 201);
        let id = silences
            .upsert(silence("job=~api|node", NOW + 300, NOW + 900), NOW + 300)
            .await
            .unwrap();
        check("silence of two alerts", NOW + 300);
        silences.expire(&id, NOW + 400).await.unwrap();
        check("silence expired", NOW + 400);
    }

    // A list of alerts asked for again with nothing changed computes nothing again; a
    // change computes each alert once more.
    #[tokio::test]
    async fn statuses_are_computed_once_while_nothing_changes() {
        let cfg = AlertmanagerConfig::from_yaml_str(CFG, "alertmanager.yml").unwrap();
        let ih = Inhibitor::new(&cfg.inhibit_rules);
        let silences = Silences::in_memory();
        let cache = StatusCache::new();
        let alerts: Vec<Alert> = (0..1000)
            .map(|i| alert(&[("alertname", "A"), ("i", &i.to_string())]))
            .collect();
        for now in [NOW, NOW + 1_000, NOW + 60_000] {
            assert_cache_agrees("list", &cache, &alerts, &cfg, &silences, &ih, now);
        }
        assert_eq!(cache.computed(), 1000);
        assert_eq!(cache.len(), 1000);
        silences
            .upsert(silence("i=7", NOW, NOW + 60_000), NOW)
            .await
            .unwrap();
        assert_cache_agrees("silenced", &cache, &alerts, &cfg, &silences, &ih, NOW + 2);
        assert_eq!(cache.computed(), 2000);
        cache.forget(alerts[0].fingerprint());
        assert_eq!(cache.len(), 999);
    }
}
