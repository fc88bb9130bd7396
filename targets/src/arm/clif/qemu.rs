//! The aarch64 harness (arm_abi.md): a C driver linked with `model.o` by
//! `aarch64-linux-gnu-gcc -static`, run under `qemu-aarch64` with `argv = N T`, reading
//! `in.bin` and writing `out.bin` in its working directory.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::arm::header::parse_sizes;
use crate::arm::ArmError;

/// The cross compiler the harness links with, and its Debian package.
pub const GCC: (&str, &str) = ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu");
/// The user-mode emulator the harness runs under, and its Debian package.
pub const QEMU: (&str, &str) = ("qemu-aarch64", "qemu-user");

/// `program` found on `PATH`, or the error naming it and its Debian package.
pub fn find_tool(program: &str, package: &str, purpose: &str) -> Result<PathBuf, ArmError> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| ArmError::MissingTool {
            program: program.into(),
            package: package.into(),
            purpose: purpose.into(),
        })
}

/// The driver for a model with these port sizes (the `SNNC_*` macros of its `model.h`).
pub fn driver_c(inputs: usize, outputs: usize, stateful: bool) -> String {
    let mut s = String::from(
        "/* snnc aarch64 harness driver: argv N T; in.bin -> out.bin (arm_abi.md). */\n\
         #include <stdio.h>\n#include <stdlib.h>\n#include <stdint.h>\n#include \"model.h\"\n\n",
    );
    for i in 0..inputs {
        let _ = writeln!(
            s,
            "static uint8_t in{i}[SNNC_INPUT{i}_BYTES + 1] __attribute__((aligned(16)));"
        );
    }
    for i in 0..outputs {
        let _ = writeln!(
            s,
            "static uint8_t out{i}[SNNC_OUTPUT{i}_BYTES + 1] __attribute__((aligned(16)));"
        );
    }
    s.push_str(
        "\nint main(int argc, char **argv) {\n\
         \x20   if (argc != 3) { fprintf(stderr, \"usage: %s N T\\n\", argv[0]); return 2; }\n\
         \x20   long n = atol(argv[1]), t = atol(argv[2]);\n\
         \x20   FILE *fi = fopen(\"in.bin\", \"rb\");\n\
         \x20   FILE *fo = fopen(\"out.bin\", \"wb\");\n\
         \x20   if (!fi || !fo) { fprintf(stderr, \"cannot open in.bin / out.bin\\n\"); return 3; }\n",
    );
    let _ = writeln!(
        s,
        "    const void *ins[{}] = {{ {} }};",
        inputs.max(1),
        if inputs == 0 {
            "0".to_string()
        } else {
            (0..inputs)
                .map(|i| format!("in{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let _ = writeln!(
        s,
        "    void *outs[{}] = {{ {} }};",
        outputs.max(1),
        if outputs == 0 {
            "0".to_string()
        } else {
            (0..outputs)
                .map(|i| format!("out{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    s.push_str("    for (long k = 0; k < n; k++) {\n        snnc_model_init();\n        for (long j = 0; j < t; j++) {\n");
    for i in 0..inputs {
        let _ = writeln!(
            s,
            "            if (fread(in{i}, 1, SNNC_INPUT{i}_BYTES, fi) != SNNC_INPUT{i}_BYTES) {{ fprintf(stderr, \"in.bin too short\\n\"); return 4; }}"
        );
    }
    let entry = if stateful {
        "snnc_model_step"
    } else {
        "snnc_model_run"
    };
    let _ = writeln!(s, "            {entry}(ins, outs);");
    for i in 0..outputs {
        let _ = writeln!(
            s,
            "            if (fwrite(out{i}, 1, SNNC_OUTPUT{i}_BYTES, fo) != SNNC_OUTPUT{i}_BYTES) {{ fprintf(stderr, \"write failed\\n\"); return 5; }}"
        );
    }
    s.push_str("        }\n    }\n    if (fgetc(fi) != EOF) { fprintf(stderr, \"in.bin too long\\n\"); return 6; }\n    fclose(fi);\n    return fclose(fo) == 0 ? 0 : 5;\n}\n");
    s
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ArmError + '_ {
    move |source| ArmError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn run(cmd: &mut Command) -> Result<(), ArmError> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| ArmError::Tool {
        command: shown.clone(),
        output: e.to_string(),
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ArmError::Tool {
            command: shown,
            output: format!(
                "{}{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }
}

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// Build the driver against the artifact in `dir` (`model.o`, `model.h`: see
/// [`Aarch64Artifact::write_to`](super::Aarch64Artifact::write_to)), run `n` samples of `t`
/// steps under `qemu-aarch64` and return the raw output bytes.
pub fn run_qemu_aarch64(dir: &Path, input: &[u8], n: usize, t: usize) -> Result<Vec<u8>, ArmError> {
    let gcc = find_tool(GCC.0, GCC.1, "links the aarch64 harness")?;
    let qemu = find_tool(QEMU.0, QEMU.1, "runs the aarch64 harness")?;
    let dir = std::path::absolute(dir).map_err(io(dir))?;
    let h_path = dir.join("model.h");
    let h = std::fs::read_to_string(&h_path).map_err(io(&h_path))?;
    let (ins, outs, stateful) = parse_sizes(&h).map_err(ArmError::Data)?;
    let per_in: usize = ins.iter().sum();
    let per_out: usize = outs.iter().sum();
    if input.len() != n * t * per_in {
        return Err(ArmError::Data(format!(
            "input of {} bytes for {n} samples × {t} steps × {per_in} bytes",
            input.len()
        )));
    }
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = std::env::temp_dir().join(format!(
        "snnc-aarch64-{}-{}-{nonce}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let driver = tmp.join("driver.c");
    std::fs::write(&driver, driver_c(ins.len(), outs.len(), stateful)).map_err(io(&driver))?;
    let in_path = tmp.join("in.bin");
    std::fs::write(&in_path, input).map_err(io(&in_path))?;
    run(Command::new(&gcc)
        .current_dir(&tmp)
        .arg("-O2")
        .arg("-static")
        .arg("-I")
        .arg(&dir)
        .arg("driver.c")
        .arg(dir.join("model.o"))
        .arg("-o")
        .arg("prog"))?;
    run(Command::new(&qemu)
        .current_dir(&tmp)
        .arg("./prog")
        .arg(n.to_string())
        .arg(t.to_string()))?;
    let out_path = tmp.join("out.bin");
    let out = std::fs::read(&out_path).map_err(io(&out_path))?;
    let _ = std::fs::remove_dir_all(&tmp);
    if out.len() != n * t * per_out {
        return Err(ArmError::Data(format!(
            "the harness wrote {} bytes, expected {}",
            out.len(),
            n * t * per_out
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_reads_every_port_and_calls_the_entry_point() {
        let d = driver_c(2, 1, true);
        assert!(d.contains("fread(in1, 1, SNNC_INPUT1_BYTES, fi)"));
        assert!(d.contains("fwrite(out0, 1, SNNC_OUTPUT0_BYTES, fo)"));
        assert!(d.contains("snnc_model_step(ins, outs);"));
        assert!(d.contains("const void *ins[2] = { in0, in1 };"));
        assert!(driver_c(1, 1, false).contains("snnc_model_run(ins, outs);"));
    }

    #[test]
    fn missing_program_names_its_package() {
        let e = find_tool("snnc-surely-missing-tool", "pkg-x", "tests").unwrap_err();
        assert!(matches!(e, ArmError::MissingTool { ref package, .. } if package == "pkg-x"));
    }
}
