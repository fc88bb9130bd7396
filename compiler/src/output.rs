//! Writing outputs so that a failure never leaves a partial file behind and never touches the
//! previous output: everything goes to a temporary sibling first and is renamed over the
//! destination only when complete (a rename within one directory is atomic, so an interrupted
//! command leaves either the old file or the new one). Output paths are checked before any work
//! is done: their directory must exist, a file output may not be a directory, and no output may
//! be one of the command's inputs or another output.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::CliError;

/// Numbers the temporary files of this process, so two outputs never share one.
static TEMP_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh temporary sibling of `dest` in the same directory (so the final rename is atomic).
fn temp_sibling(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = format!(".{name}.snnc-tmp-{}-{n}", std::process::id());
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(tmp),
        _ => PathBuf::from(tmp),
    }
}

/// Files written to temporary siblings of their destinations, not yet renamed over them.
/// Dropping it without [`Staged::commit`] removes the temporary files.
#[must_use = "staged files are removed unless committed"]
pub struct Staged {
    /// (destination, temporary file)
    files: Vec<(PathBuf, PathBuf)>,
}

impl Staged {
    /// Rename every staged file over its destination.
    pub fn commit(mut self) -> Result<(), CliError> {
        let files = std::mem::take(&mut self.files);
        for (i, (dest, tmp)) in files.iter().enumerate() {
            if let Err(e) = fs::rename(tmp, dest) {
                for (_, t) in &files[i..] {
                    let _ = fs::remove_file(t);
                }
                return Err(CliError::io(dest, e));
            }
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        for (_, tmp) in &self.files {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Write each file to a temporary sibling of its destination (flushed to disk); the
/// destinations are untouched until [`Staged::commit`]. On failure nothing is left behind.
pub fn stage(files: &[(PathBuf, Vec<u8>)]) -> Result<Staged, CliError> {
    let mut staged = Staged { files: Vec::new() };
    for (dest, bytes) in files {
        let tmp = temp_sibling(dest);
        let written = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(CliError::io(dest, e));
        }
        staged.files.push((dest.clone(), tmp));
    }
    Ok(staged)
}

/// Write `bytes` to `dest` atomically: either the whole new file is there or the old state is.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<(), CliError> {
    write_all_atomic(&[(dest.to_path_buf(), bytes.to_vec())])
}

/// Write several files as one unit: all are staged as temporary siblings and renamed only when
/// every one of them was written; on failure the staged files are removed.
pub fn write_all_atomic(files: &[(PathBuf, Vec<u8>)]) -> Result<(), CliError> {
    stage(files)?.commit()
}

/// One input of a command, for the checks that outputs do not overwrite inputs.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// What it is (`the model`, `--calib`, `--input`), as messages say it.
    pub what: &'a str,
    pub path: &'a Path,
}

/// Check a file output (`flag`) before any work: its directory exists, it is not a directory,
/// and it is not the same file as any of `inputs`.
pub fn check_file_output(flag: &str, dest: &Path, inputs: &[Input<'_>]) -> Result<(), CliError> {
    check_parent(flag, dest)?;
    if dest.is_dir() {
        return Err(usage(
            dest,
            format!("{flag} names a directory; give a file name"),
        ));
    }
    for i in inputs {
        if same_file(dest, i.path) {
            return Err(usage(
                dest,
                format!(
                    "{flag} is {} `{}`, which would be overwritten",
                    i.what,
                    i.path.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Check a directory output (`flag`, an artifact directory that is replaced as a whole): its
/// parent exists, it is not an existing file, and no input is inside it (or is it).
pub fn check_dir_output(flag: &str, dest: &Path, inputs: &[Input<'_>]) -> Result<(), CliError> {
    check_parent(flag, dest)?;
    if dest.exists() && !dest.is_dir() {
        return Err(usage(
            dest,
            format!("{flag} names an existing file; an artifact is a directory"),
        ));
    }
    if let Some(dir) = absolute(dest) {
        for i in inputs {
            if absolute(i.path).is_some_and(|p| p.starts_with(&dir)) {
                return Err(usage(
                    dest,
                    format!(
                        "{} `{}` is inside the {flag} directory, which is replaced as a whole",
                        i.what,
                        i.path.display()
                    ),
                ));
            }
        }
    }
    // Only a previous artifact (or an empty directory) is replaced: anything else would be
    // deleted with it.
    if dest.is_dir() {
        let empty = fs::read_dir(dest)
            .map_err(|e| CliError::io(dest, e))?
            .next()
            .is_none();
        if !empty && !dest.join("manifest.json").is_file() {
            return Err(usage(
                dest,
                format!(
                    "{flag} is a directory that is not empty and holds no manifest.json (not a previous artifact); refusing to replace it"
                ),
            ));
        }
    }
    Ok(())
}

/// A file output (`flag`) may not be inside the directory `dir` (`what`, an input artifact whose
/// files it could overwrite).
pub fn check_not_inside(flag: &str, dest: &Path, what: &str, dir: &Path) -> Result<(), CliError> {
    if let (Some(d), Some(o)) = (absolute(dir), absolute(dest)) {
        if o.starts_with(&d) {
            return Err(usage(
                dest,
                format!(
                    "{flag} is inside {what} `{}`; write outputs elsewhere",
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}

/// No two outputs of one command may be the same file (`(flag, path)` pairs).
pub fn check_distinct(outputs: &[(&str, &Path)]) -> Result<(), CliError> {
    for (i, (fa, a)) in outputs.iter().enumerate() {
        for (fb, b) in &outputs[i + 1..] {
            if same_file(a, b) {
                return Err(usage(a, format!("{fa} and {fb} name the same file")));
            }
        }
    }
    Ok(())
}

fn usage(path: &Path, reason: String) -> CliError {
    CliError::Usage(format!("{}: {reason}", path.display()))
}

/// The directory `dest` is written into must exist.
fn check_parent(flag: &str, dest: &Path) -> Result<(), CliError> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if dest.file_name().is_none() {
        return Err(usage(
            dest,
            format!("{flag} must end in a file or directory name"),
        ));
    }
    if !parent.exists() {
        return Err(usage(
            dest,
            format!("{flag}: directory `{}` does not exist", parent.display()),
        ));
    }
    if !parent.is_dir() {
        return Err(usage(
            dest,
            format!("{flag}: `{}` is not a directory", parent.display()),
        ));
    }
    Ok(())
}

/// `p` as an absolute path with its directory resolved (symbolic links followed), whether or
/// not the file itself exists; `None` when the directory cannot be resolved.
fn absolute(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some(parent.canonicalize().ok()?.join(p.file_name()?))
}

/// Whether `a` and `b` are the same file: the same path once resolved, or (existing files) the
/// same inode, as hard links are.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (fs::metadata(a), fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    match (absolute(a), absolute(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("snnc-out-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_whole_file_and_leaves_no_temp() {
        let dir = scratch("replace");
        let dest = dir.join("y.npy");
        write_atomic(&dest, b"first").unwrap();
        write_atomic(&dest, b"second").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"second");
        assert_eq!(names(&dir), ["y.npy"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failure_leaves_nothing() {
        let dest = Path::new("/nonexistent-dir-snnc/y.npy");
        assert!(write_atomic(dest, b"x").is_err());
        assert!(!dest.exists());
    }

    #[test]
    fn a_failed_unit_keeps_the_previous_outputs() {
        let dir = scratch("unit");
        let a = dir.join("a.npy");
        fs::write(&a, b"old").unwrap();
        let files = vec![
            (a.clone(), b"new".to_vec()),
            (dir.join("missing/b.json"), b"{}".to_vec()),
        ];
        assert!(write_all_atomic(&files).is_err());
        assert_eq!(fs::read(&a).unwrap(), b"old");
        assert_eq!(names(&dir), ["a.npy"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn staged_files_vanish_unless_committed() {
        let dir = scratch("staged");
        let a = dir.join("r.json");
        let staged = stage(&[(a.clone(), b"{}".to_vec())]).unwrap();
        assert_eq!(names(&dir).len(), 1);
        assert!(!a.exists());
        drop(staged);
        assert!(names(&dir).is_empty());
        stage(&[(a.clone(), b"{}".to_vec())])
            .unwrap()
            .commit()
            .unwrap();
        assert_eq!(names(&dir), ["r.json"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn outputs_may_not_overwrite_inputs() {
        let dir = scratch("inputs");
        let model = dir.join("m.onnx");
        fs::write(&model, b"model").unwrap();
        let input = [Input {
            what: "the model",
            path: &model,
        }];
        // The same file under another spelling, and through a hard link.
        let other = dir.join(".").join("m.onnx");
        let e = check_file_output("-o", &other, &input)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "{}: -o is the model `{}`, which would be overwritten",
                other.display(),
                model.display()
            )
        );
        let link = dir.join("link.onnx");
        fs::hard_link(&model, &link).unwrap();
        assert!(check_file_output("-o", &link, &input).is_err());
        assert!(check_file_output("-o", &dir.join("out.ir"), &input).is_ok());
        let e = check_file_output("-o", &dir, &input)
            .unwrap_err()
            .to_string();
        assert!(e.contains("names a directory"), "{e}");
        let e = check_file_output("-o", &dir.join("no/out.ir"), &input)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
        // An artifact directory may not hold (or be) an input.
        let e = check_dir_output("-o", &dir, &input)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is inside the -o directory"), "{e}");
        let e = check_dir_output("-o", &model, &[]).unwrap_err().to_string();
        assert!(e.contains("names an existing file"), "{e}");
        assert!(check_dir_output("-o", &dir.join("art"), &input).is_ok());
        let e = check_dir_output("-o", &dir, &[]).unwrap_err().to_string();
        assert!(e.contains("holds no manifest.json"), "{e}");
        fs::write(dir.join("manifest.json"), b"{}").unwrap();
        assert!(check_dir_output("-o", &dir, &[]).is_ok());
        let e = check_not_inside("-o", &dir.join("y.npy"), "the artifact", &dir)
            .unwrap_err()
            .to_string();
        assert!(e.contains("-o is inside the artifact"), "{e}");
        let out = dir.join("y.npy");
        let e = check_distinct(&[("-o", &out), ("--report", &dir.join("./y.npy"))])
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("-o and --report name the same file"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
