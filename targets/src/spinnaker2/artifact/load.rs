//! Loading an artifact directory for `snnc run`: every file is read, digest-checked, decoded
//! and cross-checked against the manifest before the emulator sees it, so a corrupted artifact
//! is a clear error naming the file and the reason instead of a wrong simulation.

use std::fs;
use std::path::{Path, PathBuf};

use super::check::{check_images, check_manifest, check_routing};
use super::digest::{file_digest, files_digest};
use super::error::ArtifactError;
use super::image::PeImage;
use super::manifest::Manifest;
use super::routing_file::RoutingFile;
use super::{Artifact, MANIFEST_FILE, ROUTING_FILE};
use crate::spinnaker2::machine::PeId;

/// A validated artifact read from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedArtifact {
    /// The directory it was loaded from.
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// One image per `manifest.pes` entry, in that order (sorted by PE id).
    pub images: Vec<(PeId, PeImage)>,
    pub routing: RoutingFile,
}

/// Reads `rel` inside `dir`; errors name the path as the user would see it.
/// Only regular files are read: a FIFO would block forever and a device such as `/dev/zero`
/// would never end.
fn read(dir: &Path, rel: &str) -> Result<Vec<u8>, ArtifactError> {
    let path = dir.join(rel);
    let io = |source| ArtifactError::Io {
        path: path.display().to_string(),
        source,
    };
    if !fs::metadata(&path).map_err(io)?.is_file() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    fs::read(&path).map_err(io)
}

/// Checks `bytes` against the manifest's digest string for `rel`.
fn check_digest(rel: &str, expected: &str, actual: String) -> Result<(), ArtifactError> {
    if actual != expected {
        return Err(ArtifactError::Digest {
            path: rel.to_string(),
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(())
}

impl LoadedArtifact {
    /// Loads and validates the artifact in `dir`.
    pub fn load(dir: &Path) -> Result<LoadedArtifact, ArtifactError> {
        if !dir.is_dir() {
            return Err(ArtifactError::invalid(
                dir.display().to_string(),
                "is not a directory (expected an artifact written by `snnc compile --target spinnaker2`)",
            ));
        }
        let text = read(dir, MANIFEST_FILE)?;
        let manifest: Manifest =
            serde_json::from_slice(&text).map_err(|source| ArtifactError::Json {
                path: MANIFEST_FILE.to_string(),
                source,
            })?;
        check_manifest(&manifest)?;

        let routing_bytes = read(dir, ROUTING_FILE)?;
        check_digest(
            ROUTING_FILE,
            &manifest.routing.digest,
            file_digest(&routing_bytes),
        )?;
        let routing: RoutingFile =
            serde_json::from_slice(&routing_bytes).map_err(|source| ArtifactError::Json {
                path: ROUTING_FILE.to_string(),
                source,
            })?;
        check_routing(&manifest, &routing)?;

        let mut kernel = Vec::with_capacity(manifest.kernel.files.len());
        for rel in &manifest.kernel.files {
            kernel.push((rel.as_str(), read(dir, rel)?));
        }
        let actual = files_digest(kernel.iter().map(|(p, b)| (*p, b.as_slice())));
        check_digest("kernel/", &manifest.kernel.digest, actual)?;

        let mut images = Vec::with_capacity(manifest.pes.len());
        for info in &manifest.pes {
            let bytes = read(dir, &info.image)?;
            if bytes.len() as u64 != info.bytes {
                return Err(ArtifactError::invalid(
                    &info.image,
                    format!(
                        "{} bytes but manifest.json says {} (file truncated or replaced)",
                        bytes.len(),
                        info.bytes
                    ),
                ));
            }
            check_digest(&info.image, &info.digest, file_digest(&bytes))?;
            let img = PeImage::decode(&bytes).map_err(|source| ArtifactError::Image {
                path: info.image.clone(),
                source,
            })?;
            images.push((info.pe, img));
        }
        let refs: Vec<_> = images.iter().map(|(pe, img)| (*pe, img)).collect();
        check_images(&manifest, &refs)?;
        Ok(LoadedArtifact {
            dir: dir.to_path_buf(),
            manifest,
            images,
            routing,
        })
    }

    /// The image of PE `pe`, if it is used.
    pub fn image(&self, pe: PeId) -> Option<&PeImage> {
        let i = self.images.binary_search_by_key(&pe, |(p, _)| *p).ok()?;
        self.images.get(i).map(|(_, img)| img)
    }

    /// The in-memory artifact (for re-rendering or comparison).
    pub fn into_artifact(self) -> Artifact {
        Artifact {
            manifest: self.manifest,
            images: self.images,
            routing: self.routing,
        }
    }
}
