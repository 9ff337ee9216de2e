//! `redline routes test`: amtool's `config routes test`, as a library function.
//!
//! amtool prints the receivers of the routes an alert with the given labels takes, joined
//! by commas in match order (a receiver appears once per matching route), and with
//! `--verify.receivers=R1,R2` compares that exact string, printing a warning and failing on
//! a difference. redline prints the receivers it would really notify, which are the same as
//! amtool's unless the file uses redline's owner routing ([`super::owners`]).

use super::AlertmanagerConfig;
use crate::store::Labels;

/// amtool's warning when `--verify.receivers` differs from the result.
pub const VERIFY_MISMATCH: &str = "WARNING: Expected receivers did not match resolved receivers.";

/// Runs a routing test: returns what amtool prints on stdout (newline-terminated lines) and
/// whether the test passed (always true without `verify`). `verify` is the list given to
/// `--verify.receivers` (split on commas by the caller), compared in order.
pub fn routes_test(
    cfg: &AlertmanagerConfig,
    labels: &Labels,
    verify: Option<&[String]>,
) -> (String, bool) {
    let receivers: Vec<String> = cfg
        .destinations(labels)
        .into_iter()
        .map(|d| d.receiver)
        .collect();
    let got = receivers.join(",");
    let mut out = format!("{got}\n");
    let ok = match verify {
        Some(want) if !want.is_empty() && want.join(",") != got => {
            out.push_str(VERIFY_MISMATCH);
            out.push('\n');
            false
        }
        _ => true,
    };
    (out, ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "
route:
  receiver: default
  routes:
    - matchers: ['severity=\"page\"']
      receiver: pager
      continue: true
    - matchers: ['severity=\"page\"']
      receiver: pager
receivers: [{name: default}, {name: pager}]
";

    #[test]
    fn prints_receivers_in_order_with_repeats() {
        let cfg = AlertmanagerConfig::from_yaml_str(CFG, "am.yml").unwrap();
        let l = Labels::from_pairs([("severity", "page")]);
        assert_eq!(
            routes_test(&cfg, &l, None),
            ("pager,pager\n".to_string(), true)
        );
        assert_eq!(
            routes_test(&cfg, &Labels::empty(), None),
            ("default\n".to_string(), true)
        );
    }

    #[test]
    fn verify_receivers_compares_the_exact_list() {
        let cfg = AlertmanagerConfig::from_yaml_str(CFG, "am.yml").unwrap();
        let l = Labels::from_pairs([("severity", "page")]);
        let (out, ok) = routes_test(&cfg, &l, Some(&["pager".to_string()]));
        assert!(!ok);
        assert_eq!(out, format!("pager,pager\n{VERIFY_MISMATCH}\n"));
        let want = ["pager".to_string(), "pager".to_string()];
        assert!(routes_test(&cfg, &l, Some(&want)).1);
    }
}
