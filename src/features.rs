//! Prometheus' `--enable-feature` flags, read once.
//!
//! `redline run`, `redline demo` and `redline test rules` take the flag names Prometheus 3
//! and promtool take (comma-separated or repeated). [`Features::parse`] turns them into one
//! [`Features`] value that every subsystem reads its switches from: the PromQL engine (and so
//! the query API, rule groups, the dashboard and the SLO engine), the scrape loops and the
//! configuration defaults. A flag for something redline always does, or a name neither
//! redline nor Prometheus knows, is not an error: it comes back as a [`FlagNote`], logged at
//! start-up with the words Prometheus logs.

use std::fmt;

/// `promql-experimental-functions`: `limitk`, `limit_ratio`, `info`, `sort_by_label`,
/// `double_exponential_smoothing`, `mad_over_time`, the `ts_of_*_over_time` family, ….
pub const EXPERIMENTAL_FUNCTIONS: &str = "promql-experimental-functions";
/// `promql-binop-fill-modifiers`: `fill`, `fill_left` and `fill_right` on binary operators.
pub const BINOP_FILL_MODIFIERS: &str = "promql-binop-fill-modifiers";
/// `promql-extended-range-selectors`: the `anchored` and `smoothed` selector modifiers.
pub const EXTENDED_RANGE_SELECTORS: &str = "promql-extended-range-selectors";
/// `promql-delayed-name-removal`: `__name__` is removed at the end of evaluation.
pub const DELAYED_NAME_REMOVAL: &str = "promql-delayed-name-removal";
/// `type-and-unit-labels`: scraped series carry `__type__` and `__unit__`.
pub const TYPE_AND_UNIT_LABELS: &str = "type-and-unit-labels";
/// `created-timestamp-zero-ingestion`: a zero sample at each series' created timestamp.
pub const CREATED_TIMESTAMP_ZERO_INGESTION: &str = "created-timestamp-zero-ingestion";

/// Flags Prometheus 3 takes whose effect redline has without them (or that concern parts
/// of Prometheus redline does not have), with what Prometheus logs for them where it logs a
/// warning, else why nothing changes.
const ACCEPTED: &[(&str, &str)] = &[
    (
        "native-histograms",
        "This option for --enable-feature is a no-op. To scrape native histograms, set the scrape_native_histograms scrape config setting to true.",
    ),
    (
        "ooo-native-histograms",
        "This option for --enable-feature is now permanently enabled and therefore a no-op.",
    ),
    (
        "promql-duration-expr",
        "duration expressions are always parsed by redline; the option changes nothing",
    ),
    (
        "exemplar-storage",
        "redline keeps no exemplars; the option changes nothing",
    ),
    (
        "memory-snapshot-on-shutdown",
        "redline's store writes a snapshot when it shuts down; the option changes nothing",
    ),
    (
        "extra-scrape-metrics",
        "redline writes no extra scrape metrics; the option changes nothing",
    ),
    (
        "metadata-wal-records",
        "redline's store keeps no metadata records; the option changes nothing",
    ),
    (
        "promql-per-step-stats",
        "redline reports no per-step statistics; the option changes nothing",
    ),
    (
        "auto-reload-config",
        "redline reloads on SIGHUP and /-/reload; the option changes nothing",
    ),
    (
        "concurrent-rule-eval",
        "redline evaluates each group's rules in order; the option changes nothing",
    ),
    (
        "delayed-compaction",
        "redline's store has no block compaction; the option changes nothing",
    ),
    ("old-ui", "redline serves its own dashboard; the option changes nothing"),
    (
        "otlp-deltatocumulative",
        "redline has no OTLP receiver; the option changes nothing",
    ),
    (
        "otlp-native-delta-ingestion",
        "redline has no OTLP receiver; the option changes nothing",
    ),
    (
        "use-uncached-io",
        "redline's store has no uncached I/O mode; the option changes nothing",
    ),
];

/// The switches `--enable-feature` sets. All off by default, as in Prometheus and promtool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// [`EXPERIMENTAL_FUNCTIONS`].
    pub experimental_functions: bool,
    /// [`BINOP_FILL_MODIFIERS`].
    pub binop_fill_modifiers: bool,
    /// [`EXTENDED_RANGE_SELECTORS`].
    pub extended_range_selectors: bool,
    /// [`DELAYED_NAME_REMOVAL`]: without it, a function or operator that drops the metric
    /// name drops it at once, and two series that end up with one label set are an error
    /// where that happens (as in Prometheus' default engine).
    pub delayed_name_removal: bool,
    /// [`TYPE_AND_UNIT_LABELS`]: scrape attaches `__type__` and `__unit__`; `rate` and
    /// `increase` judge counters by `__type__`.
    pub type_and_unit_labels: bool,
    /// [`CREATED_TIMESTAMP_ZERO_INGESTION`]: also makes protobuf the first scrape protocol
    /// of jobs that set none, as Prometheus does.
    pub created_timestamp_zero_ingestion: bool,
}

/// Something said about one `--enable-feature` value that is not a switch of [`Features`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlagNote {
    /// A flag Prometheus knows whose effect redline has without it, or that concerns a part
    /// of Prometheus redline does not have.
    NoOp { flag: String, why: &'static str },
    /// A name neither redline nor Prometheus knows.
    Unknown(String),
}

impl fmt::Display for FlagNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagNote::NoOp { flag, why } => write!(f, "{why} (option {flag:?})"),
            FlagNote::Unknown(flag) => {
                write!(f, "Unknown option for --enable-feature (option {flag:?})")
            }
        }
    }
}

impl Features {
    /// Every switch on: what upstream's promqltest runner evaluates with.
    pub fn all() -> Features {
        Features {
            experimental_functions: true,
            binop_fill_modifiers: true,
            extended_range_selectors: true,
            delayed_name_removal: true,
            type_and_unit_labels: true,
            created_timestamp_zero_ingestion: true,
        }
    }

    /// Reads `--enable-feature` values (each may hold several names separated by commas;
    /// empty names are skipped, as Prometheus skips them).
    pub fn parse<S: AsRef<str>>(values: &[S]) -> (Features, Vec<FlagNote>) {
        let mut f = Features::default();
        let mut notes = Vec::new();
        for name in values
            .iter()
            .flat_map(|v| v.as_ref().split(','))
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            let switch = match name {
                EXPERIMENTAL_FUNCTIONS => &mut f.experimental_functions,
                BINOP_FILL_MODIFIERS => &mut f.binop_fill_modifiers,
                EXTENDED_RANGE_SELECTORS => &mut f.extended_range_selectors,
                DELAYED_NAME_REMOVAL => &mut f.delayed_name_removal,
                TYPE_AND_UNIT_LABELS => &mut f.type_and_unit_labels,
                CREATED_TIMESTAMP_ZERO_INGESTION => &mut f.created_timestamp_zero_ingestion,
                other => {
                    notes.push(match ACCEPTED.iter().find(|(n, _)| *n == other) {
                        Some((_, why)) => FlagNote::NoOp {
                            flag: other.to_string(),
                            why,
                        },
                        None => FlagNote::Unknown(other.to_string()),
                    });
                    continue;
                }
            };
            *switch = true;
        }
        (f, notes)
    }

    /// The names of the switches that are on, for the start-up log.
    pub fn enabled(&self) -> Vec<&'static str> {
        [
            (self.experimental_functions, EXPERIMENTAL_FUNCTIONS),
            (self.binop_fill_modifiers, BINOP_FILL_MODIFIERS),
            (self.extended_range_selectors, EXTENDED_RANGE_SELECTORS),
            (self.delayed_name_removal, DELAYED_NAME_REMOVAL),
            (self.type_and_unit_labels, TYPE_AND_UNIT_LABELS),
            (
                self.created_timestamp_zero_ingestion,
                CREATED_TIMESTAMP_ZERO_INGESTION,
            ),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_from_comma_lists_and_repeats() {
        let (f, notes) = Features::parse(&[
            "promql-experimental-functions,type-and-unit-labels",
            " promql-delayed-name-removal ",
            "",
        ]);
        assert_eq!(
            f,
            Features {
                experimental_functions: true,
                type_and_unit_labels: true,
                delayed_name_removal: true,
                ..Features::default()
            }
        );
        assert!(notes.is_empty());
        assert_eq!(
            f.enabled(),
            vec![
                EXPERIMENTAL_FUNCTIONS,
                DELAYED_NAME_REMOVAL,
                TYPE_AND_UNIT_LABELS
            ]
        );
    }

    #[test]
    fn known_no_ops_and_unknown_names_are_notes_not_errors() {
        let (f, notes) = Features::parse(&["native-histograms,agent"]);
        assert_eq!(f, Features::default());
        assert_eq!(notes.len(), 2);
        assert!(matches!(&notes[0], FlagNote::NoOp { flag, .. } if flag == "native-histograms"));
        assert_eq!(
            notes[1].to_string(),
            r#"Unknown option for --enable-feature (option "agent")"#
        );
    }
}
