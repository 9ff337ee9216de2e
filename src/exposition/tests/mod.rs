//! Unit tests of the parser as a whole, one file per topic: each drives [`super::parse`] (or
//! the line parsers under it) and checks what a sink receives.

mod created;
mod fast_line;
mod mutate;
mod openmetrics;
mod protobuf;
mod reuse;
mod robustness;
mod support;
mod text;
