//! Writing outputs so that a failure never leaves a partial file behind: everything goes to a
//! temporary sibling first and is renamed over the destination only when complete.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::CliError;

/// A temporary sibling of `dest` in the same directory (so the final rename is atomic).
fn temp_sibling(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = format!(".{name}.snnc-tmp-{}", std::process::id());
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(tmp),
        _ => PathBuf::from(tmp),
    }
}

/// Write `bytes` to `dest` atomically: either the whole new file is there or the old state is.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let tmp = temp_sibling(dest);
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, dest)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(CliError::io(dest, e));
    }
    Ok(())
}

/// Write several files as one unit: all are staged as temporary siblings and renamed only when
/// every one of them was written; on failure the staged files are removed.
pub fn write_all_atomic(files: &[(PathBuf, Vec<u8>)]) -> Result<(), CliError> {
    let mut staged = Vec::new();
    let cleanup = |staged: &[PathBuf]| {
        for t in staged {
            let _ = fs::remove_file(t);
        }
    };
    for (dest, bytes) in files {
        let tmp = temp_sibling(dest);
        if let Err(e) = fs::write(&tmp, bytes) {
            cleanup(&staged);
            let _ = fs::remove_file(&tmp);
            return Err(CliError::io(dest, e));
        }
        staged.push(tmp);
    }
    for ((dest, _), tmp) in files.iter().zip(&staged) {
        if let Err(e) = fs::rename(tmp, dest) {
            cleanup(&staged);
            return Err(CliError::io(dest, e));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("snnc-out-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("y.npy");
        write_atomic(&dest, b"first").unwrap();
        write_atomic(&dest, b"second").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failure_leaves_nothing() {
        let dest = Path::new("/nonexistent-dir-snnc/y.npy");
        assert!(write_atomic(dest, b"x").is_err());
        assert!(!dest.exists());
    }
}
