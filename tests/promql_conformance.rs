//! Runs upstream's PromQL conformance scripts through the engine: the shared files
//! (`tests/conformance/promql/*.test`) and upstream's native histogram file
//! (`tests/conformance/promql-next/native_histograms.test`). Every eval runs, native
//! histograms included, and every one must pass.
//!
//! The counts are exact: an eval that stops running (a file dropped or cut short by a parse
//! change) fails this test as surely as one that fails.

use redline::promql::promqltest::{run_test_file_with, write_summary, RunOptions, Summary};
use std::path::PathBuf;

/// Evals in `tests/conformance/promql` and in `tests/conformance/promql-next`.
const UPSTREAM_EVALS: (usize, usize) = (888, 522);

#[test]
fn upstream_promql_test_files_pass() {
    run_all(RunOptions::default());
}

/// The same files on the durable store: after every `load` all chunks go to disk and the
/// store is reopened from its files, so every eval reads samples restored from disk.
#[test]
fn upstream_promql_test_files_pass_on_the_durable_store() {
    run_all(RunOptions { on_disk: true });
}

/// redline's own script files for the PromQL of Prometheus 3.x (`tests/conformance/promql-3`,
/// expected values worked out by hand from upstream's documentation and source): every eval
/// passes.
#[test]
fn redline_promql3_test_files_pass() {
    let (total, text) = run_dir("promql-3", RunOptions::default());
    assert_eq!(total.failed, 0, "promql-3 failures:\n{text}");
    assert!(total.passed > 0, "no evals ran:\n{text}");
}

fn run_all(opts: RunOptions) {
    let (shared, text) = run_dir("promql", opts);
    assert_eq!(
        (shared.passed, shared.failed),
        (UPSTREAM_EVALS.0, 0),
        "tests/conformance/promql (passed, failed):\n{text}"
    );
    let (next, text) = run_dir("promql-next", opts);
    assert_eq!(
        (next.passed, next.failed),
        (UPSTREAM_EVALS.1, 0),
        "tests/conformance/promql-next (passed, failed):\n{text}"
    );
}

/// Runs every `.test` file of `tests/conformance/<name>`; the summed counts and the report.
fn run_dir(name: &str, opts: RunOptions) -> (Summary, String) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("conformance directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    let mut total = Summary::default();
    let mut out = Vec::new();
    for f in &files {
        let s = run_test_file_with(f, opts, &mut out).expect("test file runs");
        println!(
            "{}: {} passed, {} failed",
            f.file_name().unwrap_or_default().to_string_lossy(),
            s.passed,
            s.failed,
        );
        total.passed += s.passed;
        total.failed += s.failed;
    }
    write_summary(&total, &mut out).expect("write summary");
    let text = String::from_utf8_lossy(&out).into_owned();
    println!("{text}");
    (total, text)
}

/// redline's own file for Prometheus 3 duration expressions (expected values worked out by
/// hand in the file's comments), on the in-memory store.
#[test]
fn duration_expressions_test_file_passes() {
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance/promql-3/duration_expressions.test");
    let mut out = Vec::new();
    let s = run_test_file_with(&f, RunOptions::default(), &mut out).expect("test file runs");
    let text = String::from_utf8_lossy(&out);
    assert_eq!((s.passed, s.failed), (27, 0), "(passed, failed):\n{text}");
}
