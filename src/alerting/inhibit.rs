//! Inhibition: Alertmanager's `inhibit.Inhibitor`.
//!
//! A target alert is inhibited by a rule when some *firing* source alert matches the rule's
//! `source_matchers`, the target matches its `target_matchers`, and every label named in
//! `equal` has the same value on both (a missing label is the empty string, so two alerts
//! both lacking it are equal). When the target matches the source side too, source alerts
//! that also match the target side are not considered (upstream's `hasEqual` with
//! `excludeTwoSidedMatch`), so an alert never inhibits itself. As upstream, the first rule
//! that inhibits decides, and one source is reported.
//!
//! [`Inhibitor::observe`] is called with every alert the pipeline receives; the inhibitor
//! keeps, per rule, the alerts matching the source side, indexed by their `equal` label
//! values, so [`Inhibitor::inhibited_by`] costs one hash lookup per rule whose target side
//! matches, whatever the number of alerts.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use super::alert::{fingerprint, Alert};
use crate::config::alertmanager::receivers::InhibitRule;
use crate::store::Labels;

/// A source alert held for one rule.
#[derive(Clone, Debug)]
struct Source {
    ends_at_ms: i64,
    /// The `equal` label values, to confirm a hash-bucket hit.
    equal_values: Vec<String>,
    /// The source also matches the rule's target side.
    matches_target: bool,
}

#[derive(Debug, Default)]
struct RuleIndex {
    /// Hash of the `equal` values → sources by fingerprint (ordered, so the reported source
    /// is deterministic).
    buckets: HashMap<u64, BTreeMap<u64, Source>>,
    /// Fingerprint → bucket, to remove a source.
    bucket_of: HashMap<u64, u64>,
}

/// Alertmanager's inhibitor over a fixed list of rules (build a new one on reload).
#[derive(Debug)]
pub struct Inhibitor {
    rules: Vec<InhibitRule>,
    index: RwLock<Vec<RuleIndex>>,
    /// Per rule, the number of the first rule with the same target matchers, and with the
    /// same `equal` list: rules often share them, and a check evaluates each once.
    same_target: Vec<usize>,
    same_equal: Vec<usize>,
    /// Bumped after every change of the sources that may change an answer of
    /// [`Inhibitor::inhibited_by`] ([`Inhibitor::version`]).
    version: AtomicU64,
}

fn equal_values(rule: &InhibitRule, labels: &Labels) -> Vec<String> {
    rule.equal
        .iter()
        .map(|n| labels.get(n).unwrap_or("").to_string())
        .collect()
}

fn equal_hash(rule: &InhibitRule, labels: &Labels) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for n in &rule.equal {
        let v = labels.get(n).unwrap_or("");
        h.update(&(v.len() as u64).to_le_bytes());
        h.update(v.as_bytes());
    }
    h.digest()
}

fn values_equal(rule: &InhibitRule, labels: &Labels, values: &[String]) -> bool {
    rule.equal
        .iter()
        .zip(values)
        .all(|(n, v)| labels.get(n).unwrap_or("") == v)
}

impl Inhibitor {
    /// An inhibitor for `rules`, holding no alerts yet.
    pub fn new(rules: &[InhibitRule]) -> Inhibitor {
        let first_same = |same: &dyn Fn(&InhibitRule, &InhibitRule) -> bool| -> Vec<usize> {
            rules
                .iter()
                .enumerate()
                .map(|(i, r)| rules[..i].iter().position(|o| same(o, r)).unwrap_or(i))
                .collect()
        };
        Inhibitor {
            rules: rules.to_vec(),
            index: RwLock::new(rules.iter().map(|_| RuleIndex::default()).collect()),
            same_target: first_same(&|a, b| a.target_matchers == b.target_matchers),
            same_equal: first_same(&|a, b| a.equal == b.equal),
            version: AtomicU64::new(0),
        }
    }

    /// The rules, in config order.
    pub fn rules(&self) -> &[InhibitRule] {
        &self.rules
    }

    /// Records an alert (new, updated or resolved). A resolved alert stops inhibiting.
    pub fn observe(&self, alert: &Alert, now_ms: i64) {
        let fp = fingerprint(&alert.labels);
        let resolved = alert.resolved_at(now_ms);
        let mut index = self
            .index
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut changed = false;
        for (rule, idx) in self.rules.iter().zip(index.iter_mut()) {
            if !rule.source_matchers.matches(&alert.labels) {
                continue;
            }
            if resolved {
                changed |= idx.remove(fp);
                continue;
            }
            let bucket = equal_hash(rule, &alert.labels);
            // A source firing before and after, whose end moves no earlier, inhibits the same
            // alerts from `now_ms` on (an end extended by a sender's re-post): no change.
            let old_end = idx
                .bucket_of
                .get(&fp)
                .and_then(|b| idx.buckets.get(b))
                .and_then(|b| b.get(&fp))
                .map(|s| s.ends_at_ms);
            changed |= !matches!(old_end, Some(e) if e > now_ms && alert.ends_at_ms >= e);
            idx.bucket_of.insert(fp, bucket);
            idx.buckets.entry(bucket).or_default().insert(
                fp,
                Source {
                    ends_at_ms: alert.ends_at_ms,
                    equal_values: equal_values(rule, &alert.labels),
                    matches_target: rule.target_matchers.matches(&alert.labels),
                },
            );
        }
        if changed {
            self.version.fetch_add(1, Ordering::Release);
        }
    }

    /// A number that changes whenever a source alert starts, stops or ends earlier.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The earliest time after which [`Inhibitor::inhibited_by`] may answer differently than
    /// at `now_ms` for the same sources (a source's end passes): answers at `t` with
    /// `now_ms <= t < next_change_after(now_ms)` equal the one at `now_ms`. `i64::MAX` when
    /// no source ends after `now_ms`.
    pub fn next_change_after(&self, now_ms: i64) -> i64 {
        let index = self
            .index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        index
            .iter()
            .flat_map(|i| i.buckets.values())
            .flat_map(|b| b.values())
            // A source inhibits while `now < ends_at_ms`.
            .map(|s| s.ends_at_ms)
            .filter(|t| *t > now_ms)
            .min()
            .unwrap_or(i64::MAX)
    }

    /// Forgets an alert (the pipeline dropped it).
    pub fn forget(&self, fp: u64) {
        let mut index = self
            .index
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut changed = false;
        for idx in index.iter_mut() {
            changed |= idx.remove(fp);
        }
        if changed {
            self.version.fetch_add(1, Ordering::Release);
        }
    }

    /// Drops sources resolved at `now_ms`; returns how many entries went.
    pub fn gc(&self, now_ms: i64) -> usize {
        let mut index = self
            .index
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut removed = 0;
        for idx in index.iter_mut() {
            let gone: Vec<u64> = idx
                .buckets
                .values()
                .flat_map(|b| b.iter())
                .filter(|(_, s)| s.ends_at_ms <= now_ms)
                .map(|(fp, _)| *fp)
                .collect();
            removed += gone.len();
            for fp in gone {
                idx.remove(fp);
            }
        }
        if removed > 0 {
            self.version.fetch_add(1, Ordering::Release);
        }
        removed
    }

    /// The fingerprint of the alert inhibiting `labels` at `now_ms` (empty when none):
    /// Alertmanager's `Mutes`, which reports the first source found by the first rule that
    /// inhibits.
    pub fn inhibited_by(&self, labels: &Labels, now_ms: i64) -> Vec<u64> {
        self.inhibition(labels, now_ms)
            .map(|(_, source)| vec![source])
            .unwrap_or_default()
    }

    /// The rule (its index in [`Inhibitor::rules`]) and the source alert's fingerprint that
    /// inhibit `labels` at `now_ms`, as [`Inhibitor::inhibited_by`] finds them.
    pub fn inhibition(&self, labels: &Labels, now_ms: i64) -> Option<(usize, u64)> {
        let index = self
            .index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Per rule: 0 not computed, 1 target matches, 2 it does not.
        let mut target = vec![0u8; self.rules.len()];
        let mut hash: Vec<Option<u64>> = vec![None; self.rules.len()];
        for (i, (rule, idx)) in self.rules.iter().zip(index.iter()).enumerate() {
            let t = self.same_target[i];
            if target[t] == 0 {
                target[t] = if rule.target_matchers.matches(labels) {
                    1
                } else {
                    2
                };
            }
            if target[t] != 1 || idx.buckets.is_empty() {
                continue;
            }
            let e = self.same_equal[i];
            let h = *hash[e].get_or_insert_with(|| equal_hash(rule, labels));
            let Some(bucket) = idx.buckets.get(&h) else {
                continue;
            };
            let exclude_two_sided = rule.source_matchers.matches(labels);
            let found = bucket.iter().find(|(_, s)| {
                s.ends_at_ms > now_ms
                    && !(exclude_two_sided && s.matches_target)
                    && values_equal(rule, labels, &s.equal_values)
            });
            if let Some((fp, _)) = found {
                return Some((i, *fp));
            }
        }
        None
    }

    /// How many source entries are held over all rules (for tests and memory figures).
    pub fn source_count(&self) -> usize {
        let index = self
            .index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        index.iter().map(|i| i.bucket_of.len()).sum()
    }
}

impl RuleIndex {
    /// Removes a source; whether it was held.
    fn remove(&mut self, fp: u64) -> bool {
        let Some(bucket) = self.bucket_of.remove(&fp) else {
            return false;
        };
        if let Some(b) = self.buckets.get_mut(&bucket) {
            b.remove(&fp);
            if b.is_empty() {
                self.buckets.remove(&bucket);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::alertmanager::matchers::{parse_matchers, Matchers};

    const NOW: i64 = 1_800_000_000_000;

    fn rule(source: &str, target: &str, equal: &[&str]) -> InhibitRule {
        InhibitRule {
            source_matchers: Matchers(parse_matchers(source).unwrap()),
            target_matchers: Matchers(parse_matchers(target).unwrap()),
            equal: equal.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn alert(pairs: &[(&str, &str)], ends: i64) -> Alert {
        Alert {
            labels: Labels::from_pairs(pairs.iter().copied()),
            annotations: Labels::empty(),
            starts_at_ms: NOW - 60_000,
            ends_at_ms: ends,
            generator_url: String::new(),
            updated_at_ms: NOW,
            timeout: false,
        }
    }

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn firing_source_inhibits_target_with_equal_labels() {
        let ih = Inhibitor::new(&[rule(
            r#"severity="page""#,
            r#"severity="ticket""#,
            &["job", "instance"],
        )]);
        let src = alert(
            &[
                ("alertname", "Burn"),
                ("severity", "page"),
                ("job", "api"),
                ("instance", "a"),
            ],
            NOW + 300_000,
        );
        ih.observe(&src, NOW);
        let target = l(&[
            ("alertname", "Slow"),
            ("severity", "ticket"),
            ("job", "api"),
            ("instance", "a"),
        ]);
        assert_eq!(ih.inhibited_by(&target, NOW), vec![src.fingerprint()]);
        // A different value of an `equal` label: not inhibited.
        assert!(ih
            .inhibited_by(&target.with("instance", "b"), NOW)
            .is_empty());
        // Target side does not match.
        assert!(ih
            .inhibited_by(&target.with("severity", "info"), NOW)
            .is_empty());
    }

    #[test]
    fn missing_equal_labels_count_as_equal_empty_values() {
        let ih = Inhibitor::new(&[rule("a=src", "a=dst", &["zone"])]);
        ih.observe(&alert(&[("a", "src")], NOW + 1000), NOW);
        assert_eq!(ih.inhibited_by(&l(&[("a", "dst")]), NOW).len(), 1);
        assert!(ih
            .inhibited_by(&l(&[("a", "dst"), ("zone", "eu")]), NOW)
            .is_empty());
    }

    #[test]
    fn resolved_sources_do_not_inhibit() {
        let ih = Inhibitor::new(&[rule("a=src", "a=dst", &[])]);
        let src = alert(&[("a", "src")], NOW + 1000);
        ih.observe(&src, NOW);
        let target = l(&[("a", "dst")]);
        assert_eq!(ih.inhibited_by(&target, NOW).len(), 1);
        // Its end time passes.
        assert!(ih.inhibited_by(&target, NOW + 1000).is_empty());
        // Explicitly resolved.
        ih.observe(&alert(&[("a", "src")], NOW - 1), NOW);
        assert!(ih.inhibited_by(&target, NOW).is_empty());
        assert_eq!(ih.source_count(), 0);
    }

    #[test]
    fn an_alert_matching_both_sides_does_not_inhibit_itself() {
        // Upstream's example: a rule whose sides overlap.
        let ih = Inhibitor::new(&[rule(
            r#"severity=~"page|ticket""#,
            r#"severity=~"ticket|page""#,
            &["job"],
        )]);
        let a = alert(&[("severity", "page"), ("job", "api")], NOW + 1000);
        ih.observe(&a, NOW);
        assert!(ih.inhibited_by(&a.labels, NOW).is_empty());
        // Nor by another alert that also matches both sides.
        let b = alert(&[("severity", "ticket"), ("job", "api")], NOW + 1000);
        ih.observe(&b, NOW);
        assert!(ih.inhibited_by(&a.labels, NOW).is_empty());
        assert!(ih.inhibited_by(&b.labels, NOW).is_empty());
        // A target matching only the target side is inhibited by either.
        let only_target = Inhibitor::new(&[rule(
            "severity=page",
            r#"severity=~"page|ticket""#,
            &["job"],
        )]);
        only_target.observe(&a, NOW);
        let t = l(&[("severity", "ticket"), ("job", "api")]);
        assert_eq!(only_target.inhibited_by(&t, NOW), vec![a.fingerprint()]);
        assert!(only_target.inhibited_by(&a.labels, NOW).is_empty());
    }

    #[test]
    fn first_inhibiting_rule_decides_and_forget_removes_sources() {
        let ih = Inhibitor::new(&[rule("a=src1", "t=x", &[]), rule("a=src2", "t=x", &[])]);
        let s2 = alert(&[("a", "src2")], NOW + 1000);
        ih.observe(&s2, NOW);
        let target = l(&[("t", "x")]);
        assert_eq!(ih.inhibited_by(&target, NOW), vec![s2.fingerprint()]);
        let s1 = alert(&[("a", "src1")], NOW + 1000);
        ih.observe(&s1, NOW);
        assert_eq!(ih.inhibited_by(&target, NOW), vec![s1.fingerprint()]);
        ih.forget(s1.fingerprint());
        ih.forget(s2.fingerprint());
        assert!(ih.inhibited_by(&target, NOW).is_empty());
    }

    #[test]
    fn gc_drops_resolved_sources() {
        let ih = Inhibitor::new(&[rule("a=src", "a=dst", &[])]);
        ih.observe(&alert(&[("a", "src"), ("i", "1")], NOW + 1000), NOW);
        ih.observe(&alert(&[("a", "src"), ("i", "2")], NOW + 5000), NOW);
        assert_eq!(ih.gc(NOW + 2000), 1);
        assert_eq!(ih.source_count(), 1);
    }
}
