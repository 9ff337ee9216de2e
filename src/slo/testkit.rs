//! What the SLO tests share: the request-ratio SLO they evaluate, the counters it reads
//! written into a store, and the exposition a scraped test server serves.
//!
//! A leaf used by the unit tests in `src/slo/` and by the SLO integration tests in `tests/`
//! (like [`crate::testdir`]); the service never uses it.

use super::spec::SloSpec;
use crate::store::{Labels, Store};
use std::path::Path;

/// A redline spec of one SLO `service/name` of `owner` with `objective` (percent) over a
/// rolling 30 days: the ratio of `http_requests_total{job=…}` with a `5xx` code to all.
pub fn ratio_spec(service: &str, owner: &str, name: &str, objective: f64, job: &str) -> String {
    format!(
        r#"
version: redline/v1
service: {service}
owner: {owner}
slos:
  - name: {name}
    objective: {objective}
    window: {{rolling: 30d}}
    sli:
      ratio:
        errors: sum(rate(http_requests_total{{job="{job}",code=~"5.."}}[{{{{.window}}}}]))
        total: sum(rate(http_requests_total{{job="{job}"}}[{{{{.window}}}}]))
"#
    )
}

/// The specs of `text`, written to `file_name` in `dir` and loaded as redline loads them.
pub fn load_specs(dir: &Path, file_name: &str, text: &str) -> Vec<SloSpec> {
    let f = dir.join(file_name);
    std::fs::write(&f, text).expect("write the SLO spec");
    super::load_file(&f).expect("load the SLO spec")
}

/// Appends one sample of `http_requests_total{job, code}` at `t_ms` to `store`.
pub fn append_requests(store: &Store, job: &str, code: &str, t_ms: i64, v: f64) {
    let mut app = store.appender();
    let l = Labels::from_pairs([
        ("__name__", "http_requests_total"),
        ("job", job),
        ("code", code),
    ]);
    app.append(&l, t_ms, v).expect("append a sample");
    app.commit();
}

/// The exposition of a test server after `ticks` ticks of 98 good and 2 failed requests
/// each: exactly 2 % errors between any two scrapes.
pub fn requests_exposition(ticks: u64) -> String {
    format!(
        "# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {}\nhttp_requests_total{{code=\"500\"}} {}\n",
        98 * ticks,
        2 * ticks
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_spec_loads_with_its_queries() {
        let dir = crate::testdir::TempDir::new("slo-testkit");
        let specs = load_specs(
            &dir,
            "api.yml",
            &ratio_spec("api", "team-api", "availability", 99.9, "api"),
        );
        assert_eq!(specs.len(), 1);
        let s = &specs[0];
        assert_eq!(
            (s.service.as_str(), s.name.as_str(), s.owner.as_str()),
            ("api", "availability", "team-api")
        );
        assert_eq!(s.objective.0, 99.9);
        let q = s.sli.event_queries("5m").expect("ratio queries");
        assert_eq!(q.total, r#"sum(rate(http_requests_total{job="api"}[5m]))"#);
        // The errors query (0 where the total has samples but no errors do).
        assert!(q
            .errors
            .starts_with(r#"(sum(rate(http_requests_total{job="api",code=~"5.."}[5m])))"#));
    }
}
