//! The fuzzed entry points, shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`) and the
//! stable replay test (`compiler/tests/fuzz_replay.rs`, which includes this file by path), so
//! that `cargo test` on stable Rust exercises exactly what the fuzzer does.
//!
//! Each function takes arbitrary bytes and must return normally: any panic, hang or unbounded
//! allocation inside snnc is a bug. Errors are fine, but they must render to a non-empty
//! message (a silent failure is a bug too).

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use snnc_compiler::frontend::{nir, onnx};
use snnc_ir::text::{self, PrintOptions};
use snnc_ir::verify;
use snnc_targets::spinnaker2::artifact::check::is_safe_relative;
use snnc_targets::spinnaker2::artifact::{
    file_digest, files_digest, image_path, LoadedArtifact, Manifest, MANIFEST_FILE, ROUTING_FILE,
};

/// Separates the files of one `artifact_load` input: manifest, routing, then one PE image per
/// `pes` entry of the manifest (in order).
pub const SECTION: &[u8] = b"\n--8<--\n";

/// First byte of an `artifact_load` input that selects the ARM manifest reader; anything else
/// selects the spinnaker2 artifact loader.
pub const ARM_MODE: u8 = b'A';

/// Most PE images and kernel files an `artifact_load` input writes (keeps one run fast).
const MAX_FILES: usize = 64;

/// An error must say something.
fn check_message(e: &impl Display) {
    assert!(!e.to_string().trim().is_empty(), "an error with no message");
}

/// `snnc`'s ONNX reader on a file's bytes, then the verifier on what it imported.
pub fn onnx_import(data: &[u8]) {
    let path = Path::new("/nonexistent-snnc-fuzz/model.onnx");
    match onnx::import_bytes(bytes::Bytes::copy_from_slice(data), path) {
        Ok(g) => {
            if let Err(e) = verify(&g) {
                check_message(&e);
            }
        }
        Err(e) => check_message(&e),
    }
}

/// `snnc`'s NIR (HDF5) reader on a file's bytes, then the verifier.
pub fn nir_import(data: &[u8]) {
    let path = Path::new("/nonexistent-snnc-fuzz/model.nir");
    match nir::import_bytes(data.to_vec(), path, &nir::ImportOptions::default()) {
        Ok(g) => {
            if let Err(e) = verify(&g) {
                check_message(&e);
            }
        }
        Err(e) => check_message(&e),
    }
}

/// The IR text parser (as `snnc` reads a `.ir` model or an ARM artifact's `model.ir`), the
/// verifier, and the printer's promise: a parsed graph prints to text that parses back to a graph
/// printing the same bytes.
pub fn ir_text_parse(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    match text::parse(src) {
        Ok(g) => {
            if let Err(e) = verify(&g) {
                check_message(&e);
            }
            let opts = PrintOptions::default();
            let printed = text::print(&g, &opts);
            let again = match text::parse(&printed) {
                Ok(g2) => g2,
                Err(e) => panic!("printed graph does not parse back: {e}\n{printed}"),
            };
            assert_eq!(
                printed,
                text::print(&again, &opts),
                "print/parse round trip changed the graph"
            );
        }
        Err(e) => check_message(&e),
    }
}

/// The artifact readers of `snnc run`. With [`ARM_MODE`] first, the rest is an ARM artifact's
/// `manifest.json`. Otherwise the input is split on [`SECTION`] into a spinnaker2 artifact's
/// manifest, routing file and PE images, written into a scratch directory and loaded with
/// [`LoadedArtifact::load`], then handed to the emulator's constructor as `snnc run` does.
///
/// When the manifest parses, its digests and byte counts are recomputed for the files actually
/// written, so that the fuzzer gets past the digest checks into the decoders and cross-checks
/// (the digest checks themselves are plain string comparisons).
pub fn artifact_load(data: &[u8]) {
    if let Some(manifest) = data.strip_prefix(&[ARM_MODE]) {
        if let Some(Err(e)) = arm_manifest(manifest) {
            check_message(&e);
        }
        return;
    }
    if let Err(e) = spinnaker2_artifact(data) {
        assert!(!e.trim().is_empty(), "an error with no message");
    }
}

/// `snnc run`'s ARM manifest reader on `manifest.json` bytes: `None` when the file is not an ARM
/// manifest (then `snnc run` tries the spinnaker2 loader).
pub fn arm_manifest(
    manifest: &[u8],
) -> Option<Result<snnc_targets::arm::manifest::ArmManifest, snnc_compiler::CliError>> {
    let dir = ScratchDir::new();
    write(&dir.0, MANIFEST_FILE, manifest);
    snnc_compiler::cli::arm::read_manifest(&dir.0)
}

/// The spinnaker2 half of [`artifact_load`]: the error message when the artifact is refused by
/// the loader or by the emulator's constructor.
pub fn spinnaker2_artifact(data: &[u8]) -> Result<(), String> {
    let dir = ScratchDir::new();
    let mut sections = split(data);
    let manifest_bytes = sections.next().unwrap_or_default();
    let routing = sections.next().unwrap_or_default();
    let images: Vec<&[u8]> = sections.take(MAX_FILES).collect();
    write(&dir.0, ROUTING_FILE, routing);
    match serde_json::from_slice::<Manifest>(manifest_bytes) {
        Ok(mut m) => {
            m.routing.digest = file_digest(routing);
            for (i, info) in m.pes.iter_mut().take(MAX_FILES).enumerate() {
                let img = images.get(i).copied().unwrap_or_default();
                info.bytes = img.len() as u64;
                info.digest = file_digest(img);
                write(&dir.0, &image_path(info.pe), img);
            }
            let kernel: Vec<&str> = m
                .kernel
                .files
                .iter()
                .take(MAX_FILES)
                .map(String::as_str)
                .filter(|k| is_safe_relative(k) && k.starts_with("kernel/"))
                .collect();
            // Fuzzed names can ask for a file where another one needs a directory
            // (`kernel/a` and `kernel/a/b`, or `kernel/a/`): no directory on disk holds both, so
            // such an input is no artifact a user could have.
            let is_dir_of = |a: &str, b: &str| {
                b.len() > a.len() && b.starts_with(a) && b.as_bytes().get(a.len()) == Some(&b'/')
            };
            if kernel
                .iter()
                .any(|a| a.ends_with('/') || kernel.iter().any(|b| is_dir_of(a, b)))
            {
                return Ok(());
            }
            for k in &kernel {
                write(&dir.0, k, b"");
            }
            m.kernel.digest = files_digest(kernel.iter().map(|k| (*k, &[][..])));
            let text = serde_json::to_vec_pretty(&m).unwrap_or_default();
            write(&dir.0, MANIFEST_FILE, &text);
        }
        Err(_) => write(&dir.0, MANIFEST_FILE, manifest_bytes),
    }
    let loaded = LoadedArtifact::load(&dir.0).map_err(|e| e.to_string())?;
    let opts = snnc_runtime::emu::EmuOptions {
        threads: Some(1),
        ..Default::default()
    };
    snnc_runtime::emu::Emulator::new(loaded, opts).map_err(|e| e.to_string())?;
    Ok(())
}

/// Joins files into one `artifact_load` input (the inverse of its split), for building seeds.
pub fn join_sections(files: &[&[u8]]) -> Vec<u8> {
    files.join(SECTION)
}

fn split(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let cur = rest?;
        match find(cur, SECTION) {
            Some(i) => {
                rest = cur.get(i + SECTION.len()..);
                cur.get(..i)
            }
            None => {
                rest = None;
                Some(cur)
            }
        }
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Writes one file of the scratch artifact. The harness's own I/O failing is not a finding, but
/// it must not go unnoticed either.
fn write(dir: &Path, rel: &str, bytes: &[u8]) {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        if let Err(e) = std::fs::create_dir_all(parent) {
            panic!("fuzz harness: cannot create {}: {e}", parent.display());
        }
    }
    if let Err(e) = std::fs::write(&path, bytes) {
        panic!("fuzz harness: cannot write {}: {e}", path.display());
    }
}

/// A fresh, empty directory per input, removed afterwards (in RAM when `/dev/shm` exists).
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> ScratchDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("snnc-fuzz-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("fuzz harness: cannot create {}: {e}", dir.display());
        }
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
