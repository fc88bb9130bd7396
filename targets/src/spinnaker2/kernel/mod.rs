//! The PE kernel in C for the Cortex-M4F, shipped in every artifact, and a host test driver.
//!
//! The sources are embedded with `include_str!` so the artifact writer does not depend on the
//! source tree at run time and snapshots of emitted code see exactly what is shipped. The kernel
//! is the same for every model (all model data is in the PE images), so it is compiled and
//! checked once by `targets/tests/kernel_gcc.rs` rather than per model.

use std::fmt::Write as _;
use std::path::Path;

use crate::spinnaker2::artifact::{image_path, LoadedArtifact, PeRole};

/// `snnc_pe.h`: the kernel's API and image-layout constants.
pub const SNNC_PE_H: &str = include_str!("snnc_pe.h");
/// `snnc_pe.c`: synapse processing and the LIF/source updates.
pub const SNNC_PE_C: &str = include_str!("snnc_pe.c");
/// `host_driver.c`: runs images with the kernel on the host (not shipped in artifacts).
pub const HOST_DRIVER_C: &str = include_str!("host_driver.c");

/// The kernel files of an artifact as `(relative path, content)`, sorted by path: what
/// `Artifact::write` takes.
pub fn artifact_files() -> [(&'static str, &'static str); 2] {
    [
        ("kernel/snnc_pe.c", SNNC_PE_C),
        ("kernel/snnc_pe.h", SNNC_PE_H),
    ]
}

/// Why a host-driver description cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostScriptError {
    #[error("step {step} has {got} input values, the input population has {want}")]
    Width {
        step: usize,
        got: usize,
        want: usize,
    },
}

/// The host driver's description (format at the top of `host_driver.c`) for running `artifact`
/// (loaded from `dir`) on `inputs`: one vector per step holding the whole input population's
/// already quantized values in population order. PEs are listed in manifest order (by id).
pub fn host_driver_script(
    dir: &Path,
    artifact: &LoadedArtifact,
    inputs: &[Vec<i32>],
) -> Result<String, HostScriptError> {
    let m = &artifact.manifest;
    let want = m
        .populations
        .get(m.input.population)
        .map_or(0, |p| p.neurons);
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(s, "snnc-host 1");
    let _ = writeln!(s, "latency {}", m.latency);
    let _ = writeln!(s, "steps {}", inputs.len());
    let mut sources = Vec::new();
    for (pe, img) in &artifact.images {
        let _ = writeln!(s, "pe {}", dir.join(image_path(*pe)).display());
        if img.role == PeRole::Source {
            sources.push((img.first as usize, img.n as usize));
        }
    }
    let _ = writeln!(s, "values");
    for (step, x) in inputs.iter().enumerate() {
        if x.len() != want {
            return Err(HostScriptError::Width {
                step,
                got: x.len(),
                want,
            });
        }
        let mut line = Vec::new();
        for &(first, n) in &sources {
            let part = x.get(first..first + n).unwrap_or(&[]);
            line.extend(part.iter().map(i32::to_string));
        }
        let _ = writeln!(s, "{}", line.join(" "));
    }
    Ok(s)
}
