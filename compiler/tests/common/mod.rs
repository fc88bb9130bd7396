//! Helpers shared by the process-level tests of the `snnc` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A file under `tests/models/` (copies of the shared models).
pub fn models(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/models")
        .join(rel)
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("snnc-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run the `snnc` binary.
pub fn snnc(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_snnc"))
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .expect("run snnc")
}

/// The command failed cleanly: exit 1, one `error:` line that mentions every `needle`, no panic,
/// and `dir` holds nothing but the files named in `allowed` (what the test put there).
pub fn assert_clean_failure(out: &Output, needles: &[&str], dir: &Path, allowed: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for n in needles {
        assert!(lines[0].contains(n), "`{n}` missing from: {stderr}");
    }
    let left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !allowed.contains(&n.as_str()))
        .collect();
    assert!(left.is_empty(), "output left behind: {left:?}");
}
