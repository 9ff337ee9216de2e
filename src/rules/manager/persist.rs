//! How the rules runtime keeps a group's alerts in the state database: the JSON of an
//! [`Alert`] (non-finite values as strings), the diff between what was last written and what
//! the group holds now ([`diff_alerts`]: only changed rows are written) and putting written
//! alerts back into a [`GroupState`].

use crate::rules::alerting::Alert;
use crate::rules::group::GroupState;
use crate::state::{AlertChanges, AlertRecord};
use std::collections::HashMap;

pub(super) fn restore_from(state: &mut GroupState, persisted: &HashMap<(String, u64), String>) {
    let mut by_rule: HashMap<&str, Vec<Alert>> = HashMap::new();
    for ((rule, _), json) in persisted {
        if let Ok(a) = decode_alert(json) {
            by_rule.entry(rule).or_default().push(a);
        }
    }
    for (rule, alerts) in by_rule {
        state.restore(rule, alerts);
    }
}

/// The rows to write so the database matches `now`, and the map after writing them.
pub(super) fn diff_alerts(
    persisted: &HashMap<(String, u64), String>,
    now: &[(String, Alert)],
) -> (AlertChanges, HashMap<(String, u64), String>) {
    let mut changes = AlertChanges::default();
    let mut next = HashMap::with_capacity(now.len());
    for (rule, a) in now {
        let k = (rule.clone(), a.labels.fingerprint());
        let json = encode_alert(a);
        if persisted.get(&k) != Some(&json) {
            changes.upserts.push(AlertRecord {
                rule: rule.clone(),
                fingerprint: k.1,
                state: a.state.as_str().to_string(),
                active_at_ms: Some(a.active_at_ms),
                alert_json: json.clone(),
            });
        }
        next.insert(k, json);
    }
    for k in persisted.keys() {
        if !next.contains_key(k) {
            changes.deletes.push(k.clone());
        }
    }
    changes.deletes.sort();
    (changes, next)
}

/// JSON of an alert; a non-finite value (which JSON numbers cannot hold) is written as the
/// string `"NaN"`, `"+Inf"` or `"-Inf"`.
pub fn encode_alert(a: &Alert) -> String {
    let mut v = match serde_json::to_value(a) {
        Ok(v) => v,
        Err(_) => return String::new(),
    };
    if !a.value.is_finite() {
        v["value"] = serde_json::Value::String(crate::rules::api::format_value(a.value));
    }
    v.to_string()
}

/// The inverse of [`encode_alert`].
pub fn decode_alert(json: &str) -> Result<Alert, serde_json::Error> {
    let mut v: serde_json::Value = serde_json::from_str(json)?;
    let special = match &v["value"] {
        serde_json::Value::String(s) => Some(match s.as_str() {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            _ => f64::NAN,
        }),
        _ => None,
    };
    if special.is_some() {
        v["value"] = serde_json::Value::from(0.0);
    }
    let mut a: Alert = serde_json::from_value(v)?;
    if let Some(x) = special {
        a.value = x;
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Labels;

    #[test]
    fn alert_with_infinite_value_round_trips() {
        let a = Alert {
            labels: Labels::from_pairs([("alertname", "X")]),
            annotations: Labels::empty(),
            state: crate::rules::AlertState::Firing,
            value: f64::INFINITY,
            active_at_ms: 5,
            fired_at_ms: Some(6),
            resolved_at_ms: None,
            last_sent_ms: Some(6),
            valid_until_ms: 100,
            keep_firing_since_ms: None,
        };
        assert_eq!(decode_alert(&encode_alert(&a)).unwrap(), a);
        let nan = Alert {
            value: f64::NAN,
            ..a.clone()
        };
        assert!(decode_alert(&encode_alert(&nan)).unwrap().value.is_nan());
    }

    #[test]
    fn diff_writes_only_what_changed() {
        let mk = |inst: &str, active| Alert {
            labels: Labels::from_pairs([("alertname", "X"), ("instance", inst)]),
            annotations: Labels::empty(),
            state: crate::rules::AlertState::Pending,
            value: 1.0,
            active_at_ms: active,
            fired_at_ms: None,
            resolved_at_ms: None,
            last_sent_ms: None,
            valid_until_ms: 0,
            keep_firing_since_ms: None,
        };
        let first = vec![("X".to_string(), mk("a", 1)), ("X".to_string(), mk("b", 1))];
        let (c, persisted) = diff_alerts(&HashMap::new(), &first);
        assert_eq!(c.upserts.len(), 2);
        assert!(c.deletes.is_empty());
        let (c, _) = diff_alerts(&persisted, &first);
        assert!(c.is_empty(), "{c:?}");
        let second = vec![("X".to_string(), mk("a", 1))];
        let (c, _) = diff_alerts(&persisted, &second);
        assert!(c.upserts.is_empty());
        assert_eq!(
            c.deletes,
            vec![("X".to_string(), mk("b", 1).labels.fingerprint())]
        );
    }
}
