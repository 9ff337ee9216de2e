//! promtool's `--junit` report: one `<testsuite>` per test file, one `<testcase>` per test
//! group that ran, a `<failure>` per failed check and an `<error>` when the file itself could
//! not be run, written as Prometheus' `util/junitxml` writes it (Go's `encoding/xml`: no
//! declaration, no indentation, every attribute present).

use std::io::Write;

/// The whole report (`<testsuites>`).
#[derive(Debug, Default)]
pub struct JUnitReport {
    suites: Vec<TestSuite>,
}

/// One test file.
#[derive(Debug, Default)]
pub struct TestSuite {
    name: String,
    failure_count: usize,
    error_count: usize,
    timestamp: String,
    cases: Vec<TestCase>,
}

/// One test group of a file.
#[derive(Debug, Default)]
struct TestCase {
    name: String,
    failures: Vec<String>,
    error: String,
}

impl JUnitReport {
    /// Opens the suite of a test file; later calls go to it.
    pub fn suite(&mut self, name: &str) -> &mut TestSuite {
        self.suites.push(TestSuite {
            name: name.to_string(),
            ..TestSuite::default()
        });
        let last = self.suites.len() - 1;
        &mut self.suites[last]
    }

    /// The XML document.
    pub fn write_xml(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let mut s = String::from("<testsuites>");
        for suite in &self.suites {
            s.push_str(&format!(
                "<testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" timestamp=\"{}\">",
                escape(&suite.name),
                suite.cases.len(),
                suite.failure_count,
                suite.error_count,
                escape(&suite.timestamp)
            ));
            for case in &suite.cases {
                s.push_str(&format!("<testcase name=\"{}\">", escape(&case.name)));
                for f in &case.failures {
                    s.push_str(&format!("<failure>{}</failure>", escape(f)));
                }
                if !case.error.is_empty() {
                    s.push_str(&format!("<error>{}</error>", escape(&case.error)));
                }
                s.push_str("</testcase>");
            }
            s.push_str("</testsuite>");
        }
        s.push_str("</testsuites>");
        w.write_all(s.as_bytes())
    }
}

impl TestSuite {
    /// Starts the case of a test group; failures go to the latest case.
    pub fn case(&mut self, name: &str) {
        self.cases.push(TestCase {
            name: name.to_string(),
            ..TestCase::default()
        });
    }

    /// Records a failed check in the latest case (an `unknown` case when there is none).
    pub fn fail(&mut self, msg: &str) {
        self.failure_count += 1;
        self.last_case().failures.push(msg.to_string());
    }

    /// Records that the file could not be run.
    pub fn abort(&mut self, msg: &str) {
        self.error_count += 1;
        self.last_case().error = msg.to_string();
    }

    /// The time the file's tests started, as promtool writes it (`2006-01-02T15:04:05`).
    pub fn set_time(&mut self, unix_secs: i64) {
        let t = crate::timefmt::civil_from_unix(unix_secs);
        self.timestamp = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        );
    }

    fn last_case(&mut self) -> &mut TestCase {
        if self.cases.is_empty() {
            self.case("unknown");
        }
        let last = self.cases.len() - 1;
        &mut self.cases[last]
    }
}

/// Go's `xml.EscapeText`: markup characters, quotes and the three whitespace controls become
/// character references; characters XML cannot hold become U+FFFD.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// XML 1.0's `Char` production, as Go's `isInCharacterRange`.
fn is_xml_char(c: char) -> bool {
    matches!(c as u32,
        0x09 | 0x0A | 0x0D | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document Go's encoder writes for a passing file, a failing one and one that could
    /// not be run (written out by hand from `util/junitxml`'s struct tags).
    #[test]
    fn report_is_written_as_gos_xml_encoder_writes_it() {
        let mut r = JUnitReport::default();
        let s = r.suite("ok.yml");
        s.set_time(0);
        s.case("unnamed#0");
        let s = r.suite("bad.yml");
        s.set_time(86_400 + 3_661);
        s.case("g1");
        s.fail("    expr: \"up\", time: 0s,\n        exp: <a & 'b'>");
        s.fail("second");
        let s = r.suite("broken.yml");
        s.abort("no such file");
        let mut out = Vec::new();
        r.write_xml(&mut out).expect("written");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "<testsuites>\
             <testsuite name=\"ok.yml\" tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"0\" timestamp=\"1970-01-01T00:00:00\"><testcase name=\"unnamed#0\"></testcase></testsuite>\
             <testsuite name=\"bad.yml\" tests=\"1\" failures=\"2\" errors=\"0\" skipped=\"0\" timestamp=\"1970-01-02T01:01:01\"><testcase name=\"g1\">\
             <failure>    expr: &#34;up&#34;, time: 0s,&#xA;        exp: &lt;a &amp; &#39;b&#39;&gt;</failure><failure>second</failure></testcase></testsuite>\
             <testsuite name=\"broken.yml\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" timestamp=\"\"><testcase name=\"unknown\"><error>no such file</error></testcase></testsuite>\
             </testsuites>"
        );
    }
}
