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

#[cfg(test)]
mod tests {
    use std::fs;
    use std::process::Command;

    use super::*;
    use crate::spinnaker2::artifact::fixture::artifact;

    /// The fixture artifact written with the real kernel, run through the host driver built
    /// from the artifact's own `kernel/` files: the shipped sources compile standalone and
    /// produce the hand-computed spikes (see the arithmetic below).
    #[test]
    fn shipped_kernel_runs_fixture_artifact() {
        let root = std::env::temp_dir().join(format!("snnc-kernel-unit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let out = root.join("art");
        let written = artifact().write(&out, &artifact_files());
        assert!(written.is_ok(), "{written:?}");
        let loaded = LoadedArtifact::load(&out);
        assert!(loaded.is_ok(), "{loaded:?}");
        let Ok(loaded) = loaded else { return };
        let inputs = vec![vec![10, 4, 7, 0], vec![0, 0, 0, 5], vec![6, 0, 0, 0]];
        let script = host_driver_script(&out, &loaded, &inputs).unwrap_or_default();
        assert!(script.starts_with("snnc-host 1\nlatency 1\nsteps 3\npe "));
        assert!(script.ends_with("values\n10 4 7 0\n0 0 0 5\n6 0 0 0\n"));
        assert_eq!(
            host_driver_script(&out, &loaded, &[vec![1, 2]]),
            Err(HostScriptError::Width {
                step: 0,
                got: 2,
                want: 4
            })
        );
        let _ = fs::write(out.join("kernel/host_driver.c"), HOST_DRIVER_C);
        let _ = fs::write(root.join("desc.txt"), &script);
        let exe = root.join("snnc_host");
        let cc = Command::new("cc")
            .args(["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"])
            .arg(out.join("kernel/host_driver.c"))
            .arg(out.join("kernel/snnc_pe.c"))
            .arg("-o")
            .arg(&exe)
            .output();
        let cc = match cc {
            Ok(o) => o,
            Err(e) => panic!("cc could not be run ({e}); install it: apt-get install -y gcc"),
        };
        assert!(
            cc.status.success(),
            "{}",
            String::from_utf8_lossy(&cc.stderr)
        );
        let run = Command::new(&exe).arg(root.join("desc.txt")).output();
        let stdout = run.map(|o| o.stdout).unwrap_or_default();
        // Requant (x·3 + 1) >> 1, leak (v·12 + 8) >> 4, threshold 20, reset to 0:
        // step 0: acc (30, -20, 20) -> I (45, -30, 30): neurons 0 and 2 fire; v1 = -30.
        // step 1: acc 5 each -> I 8; v1: (-360 + 8) >> 4 = -22, u = -14; nobody fires.
        // step 2: acc (18, -12, 0) -> I (27, -18, 0); v0: (96 + 8) >> 4 = 6, u = 33 fires.
        assert_eq!(String::from_utf8_lossy(&stdout), "1 0 1\n0 0 0\n1 0 0\n");
        let _ = fs::remove_dir_all(&root);
    }
}
