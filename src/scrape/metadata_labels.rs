//! The labels a scraped series starts with, before target labels and relabeling, and
//! Prometheus' `type-and-unit-labels` feature (`--enable-feature=type-and-unit-labels`).
//!
//! Without the feature a series is its metric name plus the labels its line exposes. With it,
//! the family's metadata joins the series' identity as Prometheus' `schema.Metadata` puts it
//! there: `__type__` holds the declared type (none for an unknown or `untyped` family) and
//! `__unit__` the unit (OpenMetrics `# UNIT`, the protobuf family's `unit`; none when empty;
//! the Prometheus text format has no units). An exposed label named `__type__` or `__unit__`
//! gives way to the metadata's value when the metadata has one and is kept when it has none,
//! as upstream's parsers drop "user provided metadata labels, if found in the metadata".
//! `__type__` and `__unit__` survive relabeling as `__name__` does: only target labels lose
//! their `__` labels, never a scraped series.

use crate::exposition::{MetricType, SampleLabels};
use crate::store::{Label, Labels, METRIC_NAME, METRIC_TYPE, METRIC_UNIT};

/// A scraped series' family metadata, as the type-and-unit feature reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeriesMetadata<'a> {
    pub metric_type: MetricType,
    /// Empty for a unitless family.
    pub unit: &'a str,
}

impl SeriesMetadata<'_> {
    /// Whether the metadata gives the label `name` its value (upstream's
    /// `!Metadata.IsEmptyFor(name)`; the name is always given).
    fn fills(&self, name: &str) -> bool {
        match name {
            METRIC_NAME => true,
            METRIC_TYPE => self.metric_type != MetricType::Unknown,
            METRIC_UNIT => !self.unit.is_empty(),
            _ => false,
        }
    }
}

/// The labels of a series named `name` exposing `labels`: with `metadata` (the feature on),
/// `__type__` and `__unit__` from it, which take the place of exposed labels of those names.
/// `extra` is room for the target labels the caller merges in next.
pub fn scraped_labels(
    name: &str,
    labels: SampleLabels<'_>,
    metadata: Option<SeriesMetadata<'_>>,
    extra: usize,
) -> Labels {
    let mut v: Vec<Label> = Vec::with_capacity(labels.len() + extra + 3);
    v.push(Label::new(METRIC_NAME, name));
    match metadata {
        None => v.extend(labels.iter().map(|l| Label::new(l.name, &*l.value))),
        Some(m) => {
            if m.fills(METRIC_TYPE) {
                v.push(Label::new(METRIC_TYPE, m.metric_type.as_str()));
            }
            if m.fills(METRIC_UNIT) {
                v.push(Label::new(METRIC_UNIT, m.unit));
            }
            v.extend(
                labels
                    .iter()
                    .filter(|l| !m.fills(l.name))
                    .map(|l| Label::new(l.name, &*l.value)),
            );
        }
    }
    Labels::from_vec(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::LabelRef;
    use std::borrow::Cow;

    fn exposed<'a>(pairs: &'a [(&'a str, &'a str)]) -> Vec<LabelRef<'a>> {
        pairs
            .iter()
            .map(|&(name, value)| LabelRef {
                name,
                value: Cow::Borrowed(value),
            })
            .collect()
    }

    fn meta(metric_type: MetricType, unit: &str) -> Option<SeriesMetadata<'_>> {
        Some(SeriesMetadata { metric_type, unit })
    }

    /// Upstream's `TestMetadata_AddToLabels` and the parsers' expectations: a type and a
    /// unit become labels; an unknown type and an empty unit add nothing.
    #[test]
    fn type_and_unit_become_labels_unless_unknown_or_empty() {
        let l = exposed(&[("code", "200")]);
        let got = scraped_labels(
            "http_request_duration_seconds",
            SampleLabels::decoded(&l),
            meta(MetricType::Summary, "seconds"),
            0,
        );
        let want = Labels::from_pairs([
            ("__name__", "http_request_duration_seconds"),
            ("__type__", "summary"),
            ("__unit__", "seconds"),
            ("code", "200"),
        ]);
        assert_eq!(got, want);

        let got = scraped_labels(
            "up",
            SampleLabels::decoded(&l),
            meta(MetricType::Unknown, ""),
            0,
        );
        assert_eq!(
            got,
            Labels::from_pairs([("__name__", "up"), ("code", "200")])
        );
    }

    /// Every type name is the one Prometheus' `model.MetricType` spells.
    #[test]
    fn type_label_values_are_prometheus_type_names() {
        for (t, want) in [
            (MetricType::Counter, "counter"),
            (MetricType::Gauge, "gauge"),
            (MetricType::Histogram, "histogram"),
            (MetricType::GaugeHistogram, "gaugehistogram"),
            (MetricType::Summary, "summary"),
            (MetricType::Info, "info"),
            (MetricType::StateSet, "stateset"),
        ] {
            let got = scraped_labels("m", SampleLabels::none(), meta(t, ""), 0);
            assert_eq!(got.get("__type__"), Some(want), "{t:?}");
        }
    }

    /// Upstream's `IgnoreOverriddenMetadataLabelScratchBuilder`: an exposed `__type__` or
    /// `__unit__` loses to the metadata's value and stays when the metadata has none.
    #[test]
    fn exposed_metadata_labels_give_way_only_to_filled_metadata() {
        let l = exposed(&[("__type__", "gauge"), ("__unit__", "bytes"), ("a", "b")]);
        let got = scraped_labels(
            "m_total",
            SampleLabels::decoded(&l),
            meta(MetricType::Counter, ""),
            0,
        );
        let want = Labels::from_pairs([
            ("__name__", "m_total"),
            ("__type__", "counter"),
            ("__unit__", "bytes"),
            ("a", "b"),
        ]);
        assert_eq!(got, want);
    }

    /// Control: with the feature off the metadata is not looked at and exposed labels stay
    /// as they are.
    #[test]
    fn without_the_feature_labels_are_the_exposed_ones() {
        let l = exposed(&[("__unit__", "bytes"), ("a", "b")]);
        let got = scraped_labels("m", SampleLabels::decoded(&l), None, 0);
        let want = Labels::from_pairs([("__name__", "m"), ("__unit__", "bytes"), ("a", "b")]);
        assert_eq!(got, want);
    }
}
