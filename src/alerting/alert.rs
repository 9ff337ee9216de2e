//! The alert as the routing pipeline sees it: Alertmanager's model (`types.Alert`), whoever
//! sent it (redline's rules engine, its SLO engine, or a Prometheus server posting to
//! `/api/v2/alerts`).
//!
//! An alert is identified by its label set; its [`fingerprint`] is Alertmanager's: FNV-1a 64
//! over the labels sorted by name, each contributing `name 0xff value 0xff`, printed as 16
//! lower-case hex digits. It is *resolved* at `now` when its `ends_at_ms` is not after `now`.

use crate::store::Labels;

/// FNV-1a 64 offset basis and prime (Go's `hash/fnv`, as Alertmanager's `model.Fingerprint`).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const SEPARATOR: u8 = 0xff;

/// Alertmanager's fingerprint of a label set (`model.LabelSet.Fingerprint`). The empty set
/// hashes to the FNV offset basis, as upstream.
pub fn fingerprint(labels: &Labels) -> u64 {
    let mut h = FNV_OFFSET;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(FNV_PRIME);
        }
    };
    // `Labels` is sorted by name, as upstream sorts before hashing.
    for l in labels.iter() {
        feed(l.name.as_bytes());
        feed(&[SEPARATOR]);
        feed(l.value.as_bytes());
        feed(&[SEPARATOR]);
    }
    h
}

/// A fingerprint as Alertmanager prints it: 16 lower-case hex digits.
pub fn fingerprint_hex(fp: u64) -> String {
    format!("{fp:016x}")
}

/// Parses [`fingerprint_hex`]'s output back.
pub fn parse_fingerprint(s: &str) -> Option<u64> {
    if s.len() != 16 {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// One alert in the pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    /// Unix milliseconds.
    pub starts_at_ms: i64,
    /// Unix milliseconds. For an alert whose sender gave no end, `now + resolve_timeout` at
    /// receipt, with [`Alert::timeout`] set (Alertmanager's behaviour).
    pub ends_at_ms: i64,
    pub generator_url: String,
    /// When the pipeline last received this alert, unix milliseconds.
    pub updated_at_ms: i64,
    /// The end time was not given by the sender but derived from `resolve_timeout`.
    pub timeout: bool,
}

impl Alert {
    /// [`fingerprint`] of the alert's labels.
    pub fn fingerprint(&self) -> u64 {
        fingerprint(&self.labels)
    }

    /// Whether the alert is resolved at `now_ms`: its end time is not after `now`.
    pub fn resolved_at(&self, now_ms: i64) -> bool {
        self.ends_at_ms <= now_ms
    }

    /// The alert's name (`alertname` label), or "".
    pub fn name(&self) -> &str {
        self.labels.get("alertname").unwrap_or("")
    }

    /// Merges another copy of the same alert into this one at `now_ms`, exactly as
    /// Alertmanager's `types.Alert.Merge`: the copy updated last is the base; the earliest
    /// start wins; if the base is resolved, the latest end of two resolved copies wins;
    /// otherwise a later end of the other copy wins when it is explicit (not a timeout).
    pub fn merge(&self, other: &Alert, now_ms: i64) -> Alert {
        if other.updated_at_ms < self.updated_at_ms {
            return other.merge(self, now_ms);
        }
        let mut res = other.clone();
        if self.starts_at_ms < other.starts_at_ms {
            res.starts_at_ms = self.starts_at_ms;
        }
        if other.resolved_at(now_ms) {
            if self.resolved_at(now_ms) && self.ends_at_ms > other.ends_at_ms {
                res.ends_at_ms = self.ends_at_ms;
            }
        } else if self.ends_at_ms > other.ends_at_ms && !self.timeout {
            res.ends_at_ms = self.ends_at_ms;
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_alertmanager_fixture() {
        // `tests/fixtures/alertmanager_0.25_webhook_firing.json`, printed by Alertmanager.
        let l = Labels::from_pairs([
            ("alertname", "HighErrorBudgetBurn"),
            ("instance", "10.0.0.1:8080"),
            ("job", "api"),
            ("severity", "page"),
        ]);
        assert_eq!(fingerprint_hex(fingerprint(&l)), "96a75c28b9cf7b7a");
        let l = l.with("instance", "10.0.0.2:8080");
        assert_eq!(fingerprint_hex(fingerprint(&l)), "5d47baa1121516eb");
    }

    #[test]
    fn fingerprint_round_trips_through_hex() {
        let fp = fingerprint(&Labels::from_pairs([("a", "b")]));
        assert_eq!(parse_fingerprint(&fingerprint_hex(fp)), Some(fp));
        assert_eq!(parse_fingerprint("xyz"), None);
        assert_eq!(fingerprint(&Labels::empty()), FNV_OFFSET);
    }

    fn alert(starts: i64, ends: i64, updated: i64, timeout: bool) -> Alert {
        Alert {
            labels: Labels::from_pairs([("alertname", "A")]),
            annotations: Labels::empty(),
            starts_at_ms: starts,
            ends_at_ms: ends,
            generator_url: String::new(),
            updated_at_ms: updated,
            timeout,
        }
    }

    #[test]
    fn merge_keeps_the_earliest_start_and_the_newest_end() {
        let old = alert(1_000, 10_000, 2_000, true);
        let new = alert(3_000, 20_000, 4_000, true);
        let m = old.merge(&new, 5_000);
        assert_eq!(m.starts_at_ms, 1_000);
        assert_eq!(m.ends_at_ms, 20_000);
        // Order of arguments does not matter.
        assert_eq!(new.merge(&old, 5_000), m);
    }

    #[test]
    fn merge_lets_an_explicit_resolution_win() {
        let firing = alert(1_000, 300_000, 2_000, true);
        let resolved = alert(1_000, 5_000, 5_000, false);
        let m = firing.merge(&resolved, 6_000);
        assert_eq!(m.ends_at_ms, 5_000);
        assert!(m.resolved_at(6_000));
        assert!(!m.timeout);
    }
}
