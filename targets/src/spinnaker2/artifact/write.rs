//! Rendering an [`Artifact`] to bytes and writing it to a directory atomically.
//!
//! Rendering is pure (a map from relative path to bytes) so snapshots and tests see exactly what
//! would be written. Writing goes to a temporary sibling directory that is renamed over the
//! output only after every file is written, so a failed compile never leaves a half-written
//! artifact and never destroys the previous one. Rendering and writing share one producer of
//! file contents (`Artifact::emit`); writing streams each file to disk as soon as it is
//! encoded, so the images of large models (gigabytes) are never all held as bytes at once,
//! and the files are byte-identical to [`Artifact::render`]'s.

use std::collections::BTreeMap;

use rayon::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

use super::check::{check_images, check_manifest, check_routing, is_safe_relative};
use super::digest::{file_digest, files_digest};
use super::error::ArtifactError;
use super::manifest::Manifest;
use super::{image_path, Artifact, MANIFEST_FILE, ROUTING_FILE};

/// Images encoded in parallel before being handed on, bounding the encoded bytes held at once.
const ENCODE_CHUNK: usize = 64;

/// Every file of an artifact: relative path (with `/` separators) to content, plus the final
/// manifest (digests filled in).
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedArtifact {
    pub manifest: Manifest,
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Pretty JSON with a trailing newline: the artifact's JSON style (diff- and snapshot-friendly).
pub fn to_json_bytes<T: serde::Serialize>(value: &T, path: &str) -> Result<Vec<u8>, ArtifactError> {
    let mut s = serde_json::to_string_pretty(value).map_err(|source| ArtifactError::Json {
        path: path.to_string(),
        source,
    })?;
    s.push('\n');
    Ok(s.into_bytes())
}

impl Artifact {
    /// Renders all files. `kernel` lists the kernel sources as `(relative path, content)`,
    /// paths under `kernel/` (see `spinnaker2::kernel::artifact_files`). Fills in the
    /// manifest's image paths, byte counts, digests, routing statistics and kernel file list,
    /// sorts PEs by id and routers into file order, then checks the result with the loader's
    /// rules.
    pub fn render(&self, kernel: &[(&str, &str)]) -> Result<RenderedArtifact, ArtifactError> {
        let mut files = BTreeMap::new();
        let manifest = self.emit(kernel, &mut |path, bytes| {
            files.insert(path, bytes);
            Ok(())
        })?;
        Ok(RenderedArtifact { manifest, files })
    }

    /// Produces every file as [`Artifact::render`] describes, handing each `(relative path,
    /// bytes)` to `sink` as soon as it is made (images in PE order, then routing, kernel and
    /// manifest last), and returns the final manifest. A sink error stops it.
    fn emit(
        &self,
        kernel: &[(&str, &str)],
        sink: &mut dyn FnMut(String, Vec<u8>) -> Result<(), ArtifactError>,
    ) -> Result<Manifest, ArtifactError> {
        let mut m = self.manifest.clone();

        let mut images: Vec<_> = self.images.iter().collect();
        images.sort_by_key(|(pe, _)| *pe);
        m.pes.sort_by_key(|p| p.pe);
        if images.len() != m.pes.len() {
            return Err(ArtifactError::invalid(
                MANIFEST_FILE,
                format!("{} images for {} pes entries", images.len(), m.pes.len()),
            ));
        }
        for (info, (pe, _)) in m.pes.iter().zip(&images) {
            if info.pe != *pe {
                return Err(ArtifactError::invalid(
                    image_path(*pe),
                    format!("image of {pe} has no pes entry (next entry is {})", info.pe),
                ));
            }
        }
        // Images are encoded (validated, checksummed, digested) in parallel a chunk at a time
        // and handed to the sink in PE order: the output does not depend on the thread count
        // and at most one chunk of encoded images is held.
        for (infos, chunk) in m
            .pes
            .chunks_mut(ENCODE_CHUNK)
            .zip(images.chunks(ENCODE_CHUNK))
        {
            let encoded = chunk
                .par_iter()
                .map(|(pe, img)| {
                    let path = image_path(*pe);
                    img.encode()
                        .map(|bytes| {
                            let digest = file_digest(&bytes);
                            (path.clone(), bytes, digest)
                        })
                        .map_err(|source| ArtifactError::Image { path, source })
                })
                .collect::<Result<Vec<_>, _>>()?;
            for (info, (path, bytes, digest)) in infos.iter_mut().zip(encoded) {
                info.bytes = bytes.len() as u64;
                info.digest = digest;
                info.image = path.clone();
                sink(path, bytes)?;
            }
        }

        let mut routing = self.routing.clone();
        routing.normalize();
        let routing_bytes = to_json_bytes(&routing, ROUTING_FILE)?;
        m.routing.file = ROUTING_FILE.to_string();
        m.routing.digest = file_digest(&routing_bytes);
        m.routing.routers = routing.routers.len();
        m.routing.entries_before = routing
            .routers
            .iter()
            .map(|t| u64::from(t.entries_before))
            .sum();
        m.routing.entries_after = routing.total_entries();
        m.routing.max_entries = routing
            .routers
            .iter()
            .map(|t| t.entries.len() as u32)
            .max()
            .unwrap_or(0);
        sink(ROUTING_FILE.to_string(), routing_bytes)?;

        let mut kernel: Vec<(&str, &str)> = kernel.to_vec();
        kernel.sort();
        m.kernel.files = kernel.iter().map(|(p, _)| p.to_string()).collect();
        m.kernel.digest = files_digest(kernel.iter().map(|(p, c)| (*p, c.as_bytes())));
        for (p, c) in &kernel {
            if !is_safe_relative(p) || !p.starts_with("kernel/") {
                return Err(ArtifactError::invalid(*p, "kernel file outside kernel/"));
            }
            sink(p.to_string(), c.as_bytes().to_vec())?;
        }

        check_manifest(&m)?;
        let refs: Vec<_> = images.iter().map(|(pe, img)| (*pe, img)).collect();
        check_images(&m, &refs)?;
        check_routing(&m, &routing)?;
        sink(MANIFEST_FILE.to_string(), to_json_bytes(&m, MANIFEST_FILE)?)?;
        Ok(m)
    }

    /// Renders and writes the artifact to `dir`, replacing a previous artifact there only once
    /// the new one is complete. Refuses to replace a non-empty directory that holds no
    /// `manifest.json` (it is not a previous artifact, so deleting it would lose user data).
    /// Returns the final manifest.
    pub fn write(&self, dir: &Path, kernel: &[(&str, &str)]) -> Result<Manifest, ArtifactError> {
        let mut manifest = None;
        with_temp_dir(dir, |tmp| {
            fs::create_dir_all(tmp).map_err(io(tmp))?;
            manifest = Some(self.emit(kernel, &mut |rel, bytes| write_one(tmp, &rel, &bytes))?);
            Ok(())
        })?;
        manifest.ok_or_else(|| ArtifactError::invalid(MANIFEST_FILE, "no manifest was produced"))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ArtifactError + '_ {
    move |source| ArtifactError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `files` into a fresh temporary sibling of `dir`, then swaps it in.
pub fn write_files(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<(), ArtifactError> {
    with_temp_dir(dir, |tmp| fill(tmp, files))
}

/// Runs `fill_tmp` on a fresh temporary sibling of `dir` (not yet created), then swaps it in
/// for `dir`; on any error the temporary directory is removed and `dir` is left as it was.
fn with_temp_dir(
    dir: &Path,
    fill_tmp: impl FnOnce(&Path) -> Result<(), ArtifactError>,
) -> Result<(), ArtifactError> {
    let name = dir
        .file_name()
        .ok_or_else(|| {
            ArtifactError::invalid(
                dir.display().to_string(),
                "output path has no directory name",
            )
        })?
        .to_string_lossy()
        .to_string();
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if dir.exists() {
        check_replaceable(dir)?;
    }
    let pid = std::process::id();
    let tmp = parent.join(format!(".{name}.snnc-tmp-{pid}"));
    let old = parent.join(format!(".{name}.snnc-old-{pid}"));
    for stale in [&tmp, &old] {
        if stale.exists() {
            fs::remove_dir_all(stale).map_err(io(stale))?;
        }
    }
    let result = fill_tmp(&tmp).and_then(|()| swap_in(&tmp, dir, &old));
    if result.is_err() && tmp.exists() {
        // Best effort: the original error is what the user needs to see.
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

/// `dir` may be replaced: a directory that is empty or holds a previous artifact.
fn check_replaceable(dir: &Path) -> Result<(), ArtifactError> {
    let shown = dir.display().to_string();
    if !dir.is_dir() {
        return Err(ArtifactError::invalid(
            shown,
            "exists and is not a directory",
        ));
    }
    let empty = fs::read_dir(dir).map_err(io(dir))?.next().is_none();
    if !empty && !dir.join(MANIFEST_FILE).is_file() {
        return Err(ArtifactError::invalid(
            shown,
            "exists, is not empty and holds no manifest.json; refusing to replace it",
        ));
    }
    Ok(())
}

fn fill(tmp: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<(), ArtifactError> {
    fs::create_dir_all(tmp).map_err(io(tmp))?;
    for (rel, bytes) in files {
        write_one(tmp, rel, bytes)?;
    }
    Ok(())
}

/// Writes one file `rel` under `tmp`, creating its directory.
fn write_one(tmp: &Path, rel: &str, bytes: &[u8]) -> Result<(), ArtifactError> {
    if !is_safe_relative(rel) {
        return Err(ArtifactError::invalid(
            rel,
            "path leaves the artifact directory",
        ));
    }
    let path = tmp.join(rel);
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).map_err(io(p))?;
    }
    fs::write(&path, bytes).map_err(io(&path))
}

/// Moves a previous `dir` aside, renames `tmp` to `dir`, then deletes the previous one; puts the
/// previous one back if the rename fails.
fn swap_in(tmp: &Path, dir: &Path, old: &Path) -> Result<(), ArtifactError> {
    let had_old = dir.exists();
    if had_old {
        fs::rename(dir, old).map_err(io(dir))?;
    }
    if let Err(e) = fs::rename(tmp, dir) {
        if had_old {
            let _ = fs::rename(old, dir);
        }
        return Err(io(dir)(e));
    }
    if had_old {
        fs::remove_dir_all(old).map_err(io(old))?;
    }
    Ok(())
}
