//! Placeholder: filled in by the promql work.
