//! Runs an emitted C model: natively with the host `cc`, or built with `arm-none-eabi-gcc` for
//! the Cortex-M4 and run under `qemu-system-arm -M mps2-an386` with semihosting (the driver
//! reads `in.bin` and writes `out.bin` through the host's file system). N and T reach the driver
//! as its command line (`prog N T`; under QEMU through `-semihosting-config ...,arg=`).
//! Instruction counts come from a QEMU TCG plugin that adds one per executed instruction; the
//! model's own count is the run minus a run with the same I/O that skips the model.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::footprint::CodeSize;
use super::Cpu;
use crate::arm::error::io;
use crate::arm::header::parse_sizes;
use crate::arm::ArmError;

/// The harness driver (see its header comment for the protocol).
pub const DRIVER_C: &str = include_str!("qemu_m/driver.c");
/// Vector table and reset handler for mps2-an386.
pub const STARTUP_C: &str = include_str!("qemu_m/startup.c");
/// Linker script for mps2-an386 (flash at 0, RAM at 0x20000000).
pub const LINK_LD: &str = include_str!("qemu_m/link.ld");
/// The instruction-counting QEMU plugin.
const COUNT_PLUGIN_C: &str = include_str!("qemu_m/count_plugin.c");

/// Warnings are errors for every file we emit or ship.
pub(crate) const WARN: [&str; 5] = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"];
/// Longest a QEMU run may take.
const QEMU_TIMEOUT: Duration = Duration::from_secs(900);

/// Result of [`run_qemu`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuRun {
    /// Bytes of `out.bin`.
    pub output: Vec<u8>,
    /// Instructions of the whole program (startup, I/O, model), when counted.
    pub insns_total: Option<u64>,
    /// Instructions executed by the model alone (init + steps of all samples), when counted.
    pub insns_model: Option<u64>,
}

/// A fresh scratch directory.
fn scratch(kind: &str) -> Result<PathBuf, ArmError> {
    crate::arm::error::scratch("snnc-armc", kind)
}

/// Debian package of each external program.
fn package(program: &str) -> &'static str {
    match program {
        "arm-none-eabi-gcc" | "arm-none-eabi-size" | "arm-none-eabi-nm" => {
            "gcc-arm-none-eabi (and libnewlib-arm-none-eabi)"
        }
        "arm-none-eabi-ld" | "arm-none-eabi-objcopy" => "binutils-arm-none-eabi",
        "aarch64-linux-gnu-gcc" => "gcc-aarch64-linux-gnu",
        "aarch64-linux-gnu-objcopy" => "binutils-aarch64-linux-gnu",
        "qemu-system-arm" => "qemu-system-arm",
        "qemu-aarch64" => "qemu-user",
        "ld" | "objcopy" => "binutils",
        _ => "gcc",
    }
}

/// Runs `program` to completion in `dir`, failing with its output when it exits non-zero.
pub(crate) fn tool(
    program: &str,
    args: &[String],
    dir: &Path,
    purpose: &str,
) -> Result<Output, ArmError> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| missing(program, purpose, e))?;
    if !out.status.success() {
        return Err(failed(program, args, &out));
    }
    Ok(out)
}

fn missing(program: &str, purpose: &str, e: std::io::Error) -> ArmError {
    if e.kind() == std::io::ErrorKind::NotFound {
        ArmError::MissingTool {
            program: program.into(),
            package: package(program).into(),
            purpose: purpose.into(),
        }
    } else {
        ArmError::Tool {
            command: program.into(),
            output: e.to_string(),
        }
    }
}

fn failed(program: &str, args: &[String], out: &Output) -> ArmError {
    ArmError::Tool {
        command: format!("{program} {}", args.join(" ")),
        output: format!(
            "{}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Copies the model files of `dir` and the harness sources into a scratch directory.
fn stage(dir: &Path, kind: &str, extra: &[(&str, &str)]) -> Result<PathBuf, ArmError> {
    let b = scratch(kind)?;
    for f in ["model.h", "model.c", "weights.c"] {
        let from = dir.join(f);
        std::fs::copy(&from, b.join(f)).map_err(io(&from))?;
    }
    for (name, text) in extra {
        let p = b.join(name);
        std::fs::write(&p, text).map_err(io(&p))?;
    }
    Ok(b)
}

/// Storage bytes of each input and output, from `model.h` (see [`parse_sizes`]).
pub fn port_bytes(dir: &Path) -> Result<(Vec<usize>, Vec<usize>), ArmError> {
    let p = dir.join("model.h");
    let text = std::fs::read_to_string(&p).map_err(io(&p))?;
    let (ins, outs, _) =
        parse_sizes(&text).map_err(|e| ArmError::Data(format!("{}: {e}", p.display())))?;
    Ok((ins, outs))
}

/// Checks `input` against the ports of `dir` and returns the expected output length.
fn sizes(dir: &Path, input: &[u8], n: usize, t: usize) -> Result<usize, ArmError> {
    let (ins, outs) = port_bytes(dir)?;
    let per: usize = ins.iter().sum();
    if t == 0 || input.len() != n * t * per {
        return Err(ArmError::Data(format!(
            "the input has {} bytes, but {n} samples × {t} steps × {per} bytes are {}",
            input.len(),
            n * t * per
        )));
    }
    Ok(n * t * outs.iter().sum::<usize>())
}

fn read_output(b: &Path, expect: usize) -> Result<Vec<u8>, ArmError> {
    let p = b.join("out.bin");
    let out = std::fs::read(&p).map_err(io(&p))?;
    if out.len() != expect {
        return Err(ArmError::Data(format!(
            "the model wrote {} output bytes, {expect} expected",
            out.len()
        )));
    }
    Ok(out)
}

pub(crate) fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|a| a.to_string()).collect()
}

/// Builds the model in `dir` with the host `cc` and runs it on `input` (`n` samples of `t`
/// steps); returns the output bytes.
pub fn run_host(dir: &Path, input: &[u8], n: usize, t: usize) -> Result<Vec<u8>, ArmError> {
    let expect = sizes(dir, input, n, t)?;
    let b = stage(dir, "host", &[("driver.c", DRIVER_C)])?;
    let mut args = s(&WARN);
    args.extend(s(&[
        "-O2",
        "-ffp-contract=off",
        "driver.c",
        "model.c",
        "weights.c",
        "-o",
        "prog",
        // fmaf of the float dense layer where the host has no FMA instruction.
        "-lm",
    ]));
    tool("cc", &args, &b, "builds the C model for the host")?;
    let p = b.join("in.bin");
    std::fs::write(&p, input).map_err(io(&p))?;
    let args = vec![n.to_string(), t.to_string()];
    tool(
        &b.join("prog").display().to_string(),
        &args,
        &b,
        "runs the C model on the host",
    )?;
    let out = read_output(&b, expect)?;
    let _ = std::fs::remove_dir_all(&b);
    Ok(out)
}

/// Builds `prog.elf` (driver, startup, model) for `cpu` into a scratch directory and returns it.
pub fn build_qemu(dir: &Path, cpu: Cpu) -> Result<PathBuf, ArmError> {
    let b = stage(
        dir,
        "qemu",
        &[
            ("driver.c", DRIVER_C),
            ("startup.c", STARTUP_C),
            ("link.ld", LINK_LD),
        ],
    )?;
    let mut args = s(cpu.gcc_flags());
    args.extend(s(&WARN));
    args.extend(s(&[
        "-O2",
        "-ffp-contract=off",
        "--specs=rdimon.specs",
        "-T",
        "link.ld",
        "startup.c",
        "driver.c",
        "model.c",
        "weights.c",
        "-o",
        "prog.elf",
    ]));
    tool(
        "arm-none-eabi-gcc",
        &args,
        &b,
        "builds the C model for the Cortex-M",
    )?;
    Ok(b)
}

/// Runs a command with a time limit, returning its output.
fn run_limited(mut cmd: Command, program: &str, purpose: &str) -> Result<Output, ArmError> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| missing(program, purpose, e))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > QEMU_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ArmError::Tool {
                    command: program.into(),
                    output: format!("no exit after {} s", QEMU_TIMEOUT.as_secs()),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(missing(program, purpose, e)),
        }
    }
    child
        .wait_with_output()
        .map_err(|e| missing(program, purpose, e))
}

/// One QEMU run of `prog.elf` in `b`; returns the instruction count when `plugin` is given.
fn qemu(
    b: &Path,
    n: usize,
    t: usize,
    skip: bool,
    plugin: Option<&Path>,
) -> Result<Option<u64>, ArmError> {
    let mut argv = vec!["prog".to_string(), n.to_string(), t.to_string()];
    if skip {
        argv.push("skip".into());
    }
    qemu_argv(b, &argv, plugin)
}

/// One QEMU run of `prog.elf` in `b` with the program arguments `argv` (semihosting; `argv[0]`
/// is the program name); returns the instruction count when `plugin` is given.
pub(crate) fn qemu_argv(
    b: &Path,
    argv: &[String],
    plugin: Option<&Path>,
) -> Result<Option<u64>, ArmError> {
    let mut sh = "enable=on,target=native".to_string();
    for a in argv {
        sh.push_str(",arg=");
        sh.push_str(a);
    }
    let mut args = s(&[
        "-M",
        "mps2-an386",
        "-nographic",
        "-monitor",
        "none",
        "-semihosting-config",
    ]);
    args.push(sh);
    if let Some(p) = plugin {
        args.extend([
            "-plugin".to_string(),
            p.display().to_string(),
            "-d".into(),
            "plugin".into(),
        ]);
    }
    args.extend(s(&["-kernel", "prog.elf"]));
    let mut cmd = Command::new("qemu-system-arm");
    cmd.args(&args).current_dir(b);
    let out = run_limited(cmd, "qemu-system-arm", "runs the Cortex-M4 model")?;
    if !out.status.success() {
        return Err(failed("qemu-system-arm", &args, &out));
    }
    if plugin.is_none() {
        return Ok(None);
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let count = err
        .lines()
        .find_map(|l| l.strip_prefix("snnc-insns: "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| ArmError::Tool {
            command: "qemu-system-arm -plugin libcount.so".into(),
            output: format!("no instruction count in its log: {err}"),
        })?;
    Ok(Some(count))
}

/// Builds the instruction-counting QEMU plugin (plugin API v1; system and user mode) into `b`;
/// both ARM harnesses count with it.
pub(crate) fn build_plugin(b: &Path) -> Result<PathBuf, ArmError> {
    let p = b.join("count_plugin.c");
    std::fs::write(&p, COUNT_PLUGIN_C).map_err(io(&p))?;
    let args = s(&[
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-shared",
        "-fPIC",
        "count_plugin.c",
        "-o",
        "libcount.so",
    ]);
    tool(
        "cc",
        &args,
        b,
        "builds the QEMU instruction-counting plugin",
    )?;
    Ok(b.join("libcount.so"))
}

/// Builds the model in `dir` for the Cortex-M4 and runs it under QEMU on `input`; with
/// `count_insns`, also counts executed instructions (two runs: with and without the model).
pub fn run_qemu(
    dir: &Path,
    input: &[u8],
    n: usize,
    t: usize,
    count_insns: bool,
) -> Result<QemuRun, ArmError> {
    let expect = sizes(dir, input, n, t)?;
    let b = build_qemu(dir, Cpu::CortexM4)?;
    let p = b.join("in.bin");
    std::fs::write(&p, input).map_err(io(&p))?;
    let plugin = if count_insns {
        Some(build_plugin(&b)?)
    } else {
        None
    };
    let total = qemu(&b, n, t, false, plugin.as_deref())?;
    let output = read_output(&b, expect)?;
    let insns_model = match (&plugin, total) {
        (Some(p), Some(all)) => {
            let base = qemu(&b, n, t, true, Some(p))?.unwrap_or(0);
            Some(all.saturating_sub(base))
        }
        _ => None,
    };
    let _ = std::fs::remove_dir_all(&b);
    Ok(QemuRun {
        output,
        insns_total: total,
        insns_model,
    })
}

/// Compiles `model.c` and `weights.c` of `dir` for `cpu` and measures flash, code per
/// function and stack (`arm-none-eabi-gcc -O2 -fstack-usage`, `arm-none-eabi-size`, `-nm`).
pub fn measure_code(dir: &Path, cpu: Cpu) -> Result<CodeSize, ArmError> {
    let b = stage(dir, "size", &[])?;
    let mut args = s(cpu.gcc_flags());
    args.extend(s(&WARN));
    args.extend(s(&[
        "-O2",
        "-ffp-contract=off",
        "-fstack-usage",
        "-c",
        "model.c",
        "weights.c",
    ]));
    tool(
        "arm-none-eabi-gcc",
        &args,
        &b,
        "measures the model's code size",
    )?;
    let out = tool(
        "arm-none-eabi-size",
        &s(&["-t", "model.o", "weights.o"]),
        &b,
        "measures the model's code size",
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    let total = text
        .lines()
        .find(|l| l.contains("(TOTALS)"))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|v| v.parse::<usize>().ok())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let (Some(&flash), Some(&data), Some(&bss)) = (total.first(), total.get(1), total.get(2))
    else {
        return Err(ArmError::Tool {
            command: "arm-none-eabi-size".into(),
            output: text.into_owned(),
        });
    };
    let nm = tool(
        "arm-none-eabi-nm",
        &s(&["-S", "--size-sort", "model.o"]),
        &b,
        "measures the model's code size",
    )?;
    let mut functions = Vec::new();
    let mut rodata = 0;
    for l in String::from_utf8_lossy(&nm.stdout).lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if let [_, size, kind, name] = w.as_slice() {
            let size = usize::from_str_radix(size, 16).unwrap_or(0);
            match *kind {
                "t" | "T" => functions.push((name.to_string(), size)),
                "r" | "R" => rodata += size,
                _ => {}
            }
        }
    }
    functions.sort();
    let su_path = b.join("model.su");
    let su = std::fs::read_to_string(&su_path).map_err(io(&su_path))?;
    let mut entry = 0;
    let mut deepest_kernel = 0;
    for l in su.lines() {
        let w: Vec<&str> = l.split('\t').collect();
        let (Some(loc), Some(bytes)) = (w.first(), w.get(1).and_then(|v| v.parse::<usize>().ok()))
        else {
            continue;
        };
        let func = loc.rsplit(':').next().unwrap_or("");
        if func.starts_with("snnc_model_") {
            entry = entry.max(bytes);
        } else if func.starts_with("snnc_k") {
            deepest_kernel = deepest_kernel.max(bytes);
        }
    }
    let code: usize = functions.iter().map(|(_, b)| b).sum();
    let _ = std::fs::remove_dir_all(&b);
    let _ = rodata;
    Ok(CodeSize {
        flash_bytes: flash + data,
        code_bytes: code,
        static_ram_bytes: data + bss,
        stack_bytes: entry + deepest_kernel + 32,
        functions,
    })
}
