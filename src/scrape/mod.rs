//! Placeholder: filled in by the scrape work.
