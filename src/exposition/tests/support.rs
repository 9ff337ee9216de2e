//! Helpers for the parser's unit tests: a sink that copies everything it is given.

use crate::exposition::{
    parse, Format, MetricType, ParseError, ParseOptions, Sample, Sink, SinkError,
};

pub type Pairs = Vec<(String, String)>;

/// An owned copy of a [`Sample`].
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedSample {
    pub name: String,
    pub series: String,
    pub labels: Pairs,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
    pub metric_type: MetricType,
    /// The family's unit, empty when it has none.
    pub unit: String,
    pub exemplar: Option<(Pairs, f64, Option<i64>)>,
    /// Whether each label value was borrowed from the input (no escapes).
    pub borrowed: Vec<bool>,
}

/// An owned copy of one [`Sink::metadata`] call.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedMeta {
    pub family: String,
    pub kind: MetricType,
    pub help: Option<String>,
    pub unit: Option<String>,
}

#[derive(Debug, Default)]
pub struct Collect {
    pub samples: Vec<OwnedSample>,
    pub meta: Vec<OwnedMeta>,
    /// Order of calls: 'm' for metadata, 's' for samples.
    pub order: String,
    /// The address range of the input, to tell values borrowed from it.
    input: std::ops::Range<usize>,
}

impl Collect {
    /// A sink for a parse of `input`.
    pub fn over(input: &[u8]) -> Self {
        let at = input.as_ptr() as usize;
        Collect {
            input: at..at + input.len(),
            ..Collect::default()
        }
    }
}

fn pairs<'a>(labels: impl IntoIterator<Item = crate::exposition::LabelRef<'a>>) -> Pairs {
    labels
        .into_iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

impl Sink for Collect {
    fn metadata(&mut self, family: &str, kind: MetricType, help: Option<&str>, unit: Option<&str>) {
        self.order.push('m');
        self.meta.push(OwnedMeta {
            family: family.to_string(),
            kind,
            help: help.map(str::to_string),
            unit: unit.map(str::to_string),
        });
    }

    fn sample(&mut self, s: &Sample<'_>) -> Result<(), SinkError> {
        self.order.push('s');
        assert_eq!(s.labels.len(), s.labels.iter().count(), "{:?}", s.series);
        self.samples.push(OwnedSample {
            name: s.name.to_string(),
            series: s.series.to_string(),
            labels: pairs(s.labels),
            value: s.value,
            timestamp_ms: s.timestamp_ms,
            metric_type: s.metric_type,
            unit: s.unit.to_string(),
            exemplar: s
                .exemplar
                .map(|e| (pairs(e.labels.iter().cloned()), e.value, e.timestamp_ms)),
            borrowed: s
                .labels
                .iter()
                .map(|l| self.input.contains(&(l.value.as_ptr() as usize)) || l.value.is_empty())
                .collect(),
        });
        Ok(())
    }
}

pub fn parse_with(
    input: &str,
    format: Format,
    options: &ParseOptions,
) -> Result<Collect, ParseError> {
    let mut c = Collect::over(input.as_bytes());
    let stats = parse(input.as_bytes(), format, options, &mut c)?;
    assert_eq!(
        stats.samples,
        c.samples.len(),
        "stats.samples counts sink calls"
    );
    Ok(c)
}

/// Parses and panics with the error if it fails.
pub fn ok(input: &str, format: Format) -> Collect {
    parse_with(input, format, &ParseOptions::default())
        .unwrap_or_else(|e| panic!("expected {input:?} to parse, got: {e}"))
}

/// Parses and panics if it succeeds.
pub fn err(input: &str, format: Format) -> ParseError {
    match parse_with(input, format, &ParseOptions::default()) {
        Ok(c) => panic!(
            "expected {input:?} to fail, got {} samples",
            c.samples.len()
        ),
        Err(e) => e,
    }
}

/// Asserts the error position and that the message mentions `needle`.
#[track_caller]
pub fn assert_err(input: &str, format: Format, line: usize, column: usize, needle: &str) {
    let e = err(input, format);
    assert_eq!(
        (e.line, e.column),
        (line, column),
        "position of error for {input:?}: {e}"
    );
    assert!(
        e.message.contains(needle),
        "error for {input:?} should mention {needle:?}: {e}"
    );
}

/// [`assert_err`] for each `(input, line, column, needle)` of `cases`.
#[track_caller]
pub fn assert_errs(format: Format, cases: &[(&str, usize, usize, &str)]) {
    for &(input, line, column, needle) in cases {
        assert_err(input, format, line, column, needle);
    }
}

pub fn labels(pairs: &[(&str, &str)]) -> Pairs {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}
