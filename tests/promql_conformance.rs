//! Runs upstream's PromQL conformance scripts (`tests/conformance/promql/*.test`) through
//! the engine and requires every eval that is not about native histograms to pass.

use redline::promql::promqltest::{run_test_file, write_summary, Summary};
use std::path::PathBuf;

#[test]
fn upstream_promql_test_files_pass() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/promql");
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
        let s = run_test_file(f, &mut out).expect("test file runs");
        println!(
            "{}: {} passed, {} failed, {} skipped",
            f.file_name().unwrap_or_default().to_string_lossy(),
            s.passed,
            s.failed,
            s.skipped
        );
        total.passed += s.passed;
        total.failed += s.failed;
        total.skipped += s.skipped;
    }
    write_summary(&total, &mut out).expect("write summary");
    let text = String::from_utf8_lossy(&out);
    println!("{text}");
    assert!(total.passed > 0);
    assert_eq!(total.failed, 0, "conformance failures:\n{text}");
}
