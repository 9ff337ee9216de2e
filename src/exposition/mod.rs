//! Placeholder: filled in by the exposition work.
