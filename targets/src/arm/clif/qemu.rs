//! The aarch64 harness (arm_abi.md): a C driver linked with `model.o` by
//! `aarch64-linux-gnu-gcc -static`, run under `qemu-aarch64` with `argv = N T`, reading
//! `in.bin` and writing `out.bin` in its working directory.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::arm::error::io;
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
    driver_src(inputs, outputs, stateful, false)
}

/// The driver; with `skippable` it also accepts `N T skip`, which does the same I/O without
/// calling the model (the baseline of an instruction count).
fn driver_src(inputs: usize, outputs: usize, stateful: bool, skippable: bool) -> String {
    let (argc, skip, guard) = if skippable {
        (
            "argc != 3 && argc != 4",
            "    int skip = argc == 4;\n",
            "if (!skip) ",
        )
    } else {
        ("argc != 3", "", "")
    };
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
    let _ = write!(
        s,
        "\nint main(int argc, char **argv) {{\n\
         \x20   if ({argc}) {{ fprintf(stderr, \"usage: %s N T\\n\", argv[0]); return 2; }}\n\
         \x20   long n = atol(argv[1]), t = atol(argv[2]);\n{skip}"
    );
    s.push_str(
        "\x20   FILE *fi = fopen(\"in.bin\", \"rb\");\n\
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
    let _ = write!(
        s,
        "    for (long k = 0; k < n; k++) {{\n        {guard}snnc_model_init();\n        for (long j = 0; j < t; j++) {{\n"
    );
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
    let _ = writeln!(s, "            {guard}{entry}(ins, outs);");
    for i in 0..outputs {
        let _ = writeln!(
            s,
            "            if (fwrite(out{i}, 1, SNNC_OUTPUT{i}_BYTES, fo) != SNNC_OUTPUT{i}_BYTES) {{ fprintf(stderr, \"write failed\\n\"); return 5; }}"
        );
    }
    s.push_str("        }\n    }\n    if (fgetc(fi) != EOF) { fprintf(stderr, \"in.bin too long\\n\"); return 6; }\n    fclose(fi);\n    return fclose(fo) == 0 ? 0 : 5;\n}\n");
    s
}

pub(super) fn run(cmd: &mut Command) -> Result<Output, ArmError> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| ArmError::Tool {
        command: shown.clone(),
        output: e.to_string(),
    })?;
    if out.status.success() {
        Ok(out)
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

/// A linked harness program `prog` in a scratch directory with `in.bin` written.
struct Staged {
    tmp: PathBuf,
    qemu: PathBuf,
    out_bytes: usize,
}

impl Staged {
    /// Runs `prog N T [skip]` under `qemu-aarch64` (with the counting plugin when given) and
    /// returns the instruction count it logged.
    fn run(
        &self,
        n: usize,
        t: usize,
        skip: bool,
        plugin: Option<&Path>,
    ) -> Result<Option<u64>, ArmError> {
        let mut cmd = Command::new(&self.qemu);
        cmd.current_dir(&self.tmp);
        if let Some(p) = plugin {
            cmd.arg("-plugin").arg(p).arg("-d").arg("plugin");
        }
        cmd.arg("./prog").arg(n.to_string()).arg(t.to_string());
        if skip {
            cmd.arg("skip");
        }
        let out = run(&mut cmd)?;
        if plugin.is_none() {
            return Ok(None);
        }
        let err = String::from_utf8_lossy(&out.stderr);
        err.lines()
            .find_map(|l| l.strip_prefix("snnc-insns: "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| ArmError::Tool {
                command: format!("{cmd:?}"),
                output: format!("no instruction count in its log: {err}"),
            })
    }

    /// `out.bin` of the last run, checked for its length.
    fn output(&self) -> Result<Vec<u8>, ArmError> {
        let out_path = self.tmp.join("out.bin");
        let out = std::fs::read(&out_path).map_err(io(&out_path))?;
        if out.len() != self.out_bytes {
            return Err(ArmError::Data(format!(
                "the harness wrote {} bytes, expected {}",
                out.len(),
                self.out_bytes
            )));
        }
        Ok(out)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

/// Checks `input` against `dir/model.h`, writes the driver and `in.bin` into a scratch
/// directory and links `prog` there.
fn stage(
    dir: &Path,
    input: &[u8],
    n: usize,
    t: usize,
    skippable: bool,
) -> Result<Staged, ArmError> {
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
    let staged = Staged {
        tmp,
        qemu,
        out_bytes: n * t * per_out,
    };
    let tmp = &staged.tmp;
    let driver = tmp.join("driver.c");
    let src = driver_src(ins.len(), outs.len(), stateful, skippable);
    std::fs::write(&driver, src).map_err(io(&driver))?;
    let in_path = tmp.join("in.bin");
    std::fs::write(&in_path, input).map_err(io(&in_path))?;
    run(Command::new(&gcc)
        .current_dir(tmp)
        .arg("-O2")
        .arg("-static")
        .arg("-I")
        .arg(&dir)
        .arg("driver.c")
        .arg(dir.join("model.o"))
        .arg("-o")
        .arg("prog"))?;
    Ok(staged)
}

/// Build the driver against the artifact in `dir` (`model.o`, `model.h`: see
/// [`Aarch64Artifact::write_to`](super::Aarch64Artifact::write_to)), run `n` samples of `t`
/// steps under `qemu-aarch64` and return the raw output bytes.
pub fn run_qemu_aarch64(dir: &Path, input: &[u8], n: usize, t: usize) -> Result<Vec<u8>, ArmError> {
    let staged = stage(dir, input, n, t, false)?;
    staged.run(n, t, false, None)?;
    staged.output()
}

/// As [`run_qemu_aarch64`], and counts the guest instructions the model executes: all `n`
/// samples' `snnc_model_init` and `t` steps, i.e. the instructions of the run minus those of a
/// run with the same I/O that skips the model (exact, from a QEMU TCG plugin that counts every
/// executed instruction). Returns the output bytes and that count. The count includes a
/// constant of a few dozen instructions from the driver's loops, which compile slightly
/// differently with and without the calls (the same holds for the Cortex-M harness); divide
/// by many samples for a per-inference figure.
pub fn run_qemu_aarch64_counted(
    dir: &Path,
    input: &[u8],
    n: usize,
    t: usize,
) -> Result<(Vec<u8>, u64), ArmError> {
    let staged = stage(dir, input, n, t, true)?;
    // The C harness's counting plugin, so both ARM targets are counted the same way.
    let plugin = crate::arm::c::build_plugin(&staged.tmp)?;
    let all = staged.run(n, t, false, Some(&plugin))?.unwrap_or(0);
    // Read before the baseline run overwrites out.bin.
    let out = staged.output()?;
    let base = staged.run(n, t, true, Some(&plugin))?.unwrap_or(0);
    Ok((out, all.saturating_sub(base)))
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
        assert!(!driver_c(1, 1, false).contains("skip"));
    }

    #[test]
    fn skippable_driver_guards_init_and_entry() {
        let d = driver_src(1, 1, true, true);
        assert!(d.contains("if (argc != 3 && argc != 4)"));
        assert!(d.contains("int skip = argc == 4;"));
        assert!(d.contains("if (!skip) snnc_model_init();"));
        assert!(d.contains("if (!skip) snnc_model_step(ins, outs);"));
        assert!(d.contains("fread(in0, 1, SNNC_INPUT0_BYTES, fi)"));
    }

    /// A 64→4 binary layer under qemu-aarch64: the counted run gives the executor's outputs,
    /// and twice the samples cost exactly twice the instructions (the count excludes the I/O).
    #[test]
    fn counted_run_counts_only_the_model() {
        use crate::arm::plan::{Kernel, Place, Plan, PlanMachine, Port, Value};
        use snnc_ir::DType;
        let value = |name: &str, dtype, shape, place| Value {
            name: name.into(),
            dtype,
            shape,
            place,
        };
        let plan = Plan {
            name: "count".into(),
            stateful: false,
            values: vec![
                value("x", DType::Bin, vec![1, 64], Place::Input(0)),
                value("y", DType::I32, vec![1, 4], Place::Output(0)),
            ],
            kernels: vec![Kernel::DenseBin {
                x: 0,
                y: 1,
                rows: 1,
                k: 64,
                n: 4,
                w: vec![0, u32::MAX, 0x5555_5555, 1, 7, 0, 0xffff_0000, 3],
                bias: Some(vec![1, -2, 3, 0]),
            }],
            inputs: vec![Port {
                name: "x".into(),
                value: 0,
            }],
            outputs: vec![Port {
                name: "y".into(),
                value: 1,
            }],
            arena_bytes: 0,
            state_bytes: 0,
        };
        let dir = std::env::temp_dir().join(format!("snnc-count-test-{}", std::process::id()));
        super::super::emit_object(&plan)
            .and_then(|a| a.write_to(&dir))
            .unwrap_or_else(|e| panic!("{e}"));
        let input: Vec<u8> = (0..3 * 8u8).map(|b| b.wrapping_mul(37)).collect();
        let mut m = PlanMachine::new(&plan);
        let want: Vec<u8> = input
            .chunks(8)
            .flat_map(|s| m.run(&[s]).unwrap_or_else(|e| panic!("{e}")).concat())
            .collect();
        let (out, three) =
            run_qemu_aarch64_counted(&dir, &input, 3, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, want);
        let more = |k: usize| {
            let x = input.repeat(k);
            run_qemu_aarch64_counted(&dir, &x, 3 * k, 1).unwrap_or_else(|e| panic!("{e}"))
        };
        let ((o6, six), (_, nine)) = (more(2), more(3));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(o6, want.repeat(2));
        // Every further sample costs the same (the model is not data dependent); the driver's
        // loop set-up differs by a few instructions between the two builds of the run.
        assert_eq!(nine - six, six - three);
        let per_sample = (six - three) / 3;
        assert!(per_sample > 20, "{per_sample} instructions per sample");
        assert!(
            three.abs_diff(3 * per_sample) < 64,
            "{three} vs 3 × {per_sample}"
        );
    }

    #[test]
    fn missing_program_names_its_package() {
        let e = find_tool("snnc-surely-missing-tool", "pkg-x", "tests").unwrap_err();
        assert!(matches!(e, ArmError::MissingTool { ref package, .. } if package == "pkg-x"));
    }
}
